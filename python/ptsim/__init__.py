"""ptsim's Python helpers: `ptsim.trace` builds traces (docs/trace-format.md)."""
from .trace import Region, Trace, size

__all__ = ["Region", "Trace", "size"]
