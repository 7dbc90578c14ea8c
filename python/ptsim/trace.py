"""Build ptsim traces from Python (docs/trace-format.md, docs/studies.md).

A Trace collects events in order; each op of the trace format is a method with
the op's required fields as arguments and every other field as a keyword (in
the order given, which is the order they are written in).  `repeat()` is a
context manager whose body is what is added inside the `with`.  Regions name
address ranges, so that offsets are computed, not written by hand.  The
random choices a generator makes come from `Trace.random`, seeded: the same
seed writes the same trace.  `write()` produces a version 1 document (the
layouts ptsim's bundled traces use) or a version 2 JSON Lines trace.

    from ptsim.trace import Trace

    def munmap_loop(cpus=4, rounds=100):
        t = Trace(arch="x86_64", cpus=cpus, comment="munmap while the others spin")
        t.spawn(1, cpu=0)
        for c in range(1, cpus):
            t.thread(1, 1 + c, cpu=c)
        heap = t.mmap(1, 0x100000000000, "64M", "rw", name="heap")
        t.touch(1, heap.addr, heap.len, write=True)
        t.mark("populated")
        with t.repeat(rounds):
            t.munmap(1, heap.at(0), "4K")
            t.mmap(1, heap.at(0), "4K", "rw")
            t.touch(1, heap.at(0), "4K", write=True)
        t.mark("done")
        return t

    munmap_loop(cpus=64).write("munmap_loop_64.json")

Standard library only.
"""

import contextlib
import json
import random as _random

__all__ = ["Trace", "Region", "size"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size(value):
    """Bytes of a size as traces write it: 4096, "0x1000", "4K", "2M", "1G", "1T"."""
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s.lower().startswith("0x"):
        return int(s, 16)
    unit = s[-1:].upper() if s[-1:].isalpha() else ""
    if unit not in _UNITS:
        raise ValueError("not a size: %r" % (value,))
    return int(s[:-1] if unit else s) * _UNITS[unit]


def _v1_addr(ev):
    """`ev` with version 1's meaning of an mmap's address said in version 2 (a copy when it changes)."""
    if ev.get("op") == "mmap" and "addr" in ev and "fixed" not in ev:
        return dict(ev, fixed="noreplace")
    if ev.get("op") == "repeat" and "events" in ev:
        return dict(ev, events=[_v1_addr(e) for e in ev["events"]])
    return ev


class Region:
    """A named address range: `at(offset)` is an address field's value.

    With a known `addr` it is a number written in hex; a region mapped without
    an address (the kernel chooses, version 2 `"as"` names) is written as
    "NAME+0x..." for ptsim to resolve.
    """

    def __init__(self, name, addr, length):
        self.name = name
        self.addr = None if addr is None else hex(size(addr))
        self.len = length
        self.start = None if addr is None else size(addr)

    def at(self, offset=0):
        off = size(offset)
        if self.start is not None:
            return hex(self.start + off)
        if not self.name:
            raise ValueError("a region without an address needs a name")
        return self.name if not off else "%s+%s" % (self.name, hex(off))

    def end(self):
        """The address just past the region."""
        return self.at(size(self.len))

    def __repr__(self):
        return "Region(%r, %s, %r)" % (self.name, self.addr, self.len)


class Trace:
    """A trace being built: `machine` settings, a comment, the events.

    Machine settings are keywords: arch, cpus, paging_levels, granule,
    va_bits, preset, seed (the machine's own generator, for touch_random) and
    set (a dict of variant overrides).  `random_seed` seeds `self.random`, the
    generator for the choices the Python code makes.
    """

    _MACHINE_KEYS = ("arch", "cpus", "paging_levels", "granule", "va_bits", "preset", "seed", "set")

    def __init__(self, comment=None, random_seed=0, **machine):
        unknown = set(machine) - set(self._MACHINE_KEYS)
        if unknown:
            raise TypeError("unknown machine keys: %s" % ", ".join(sorted(unknown)))
        self.comment = comment
        self.machine = {k: machine[k] for k in self._MACHINE_KEYS if machine.get(k) is not None}
        self.events = []
        self._stack = [self.events]
        self.regions = {}
        self.random = _random.Random(random_seed)

    # ---- generic ----

    def event(self, op, **fields):
        """Add the event `op` with `fields` in the order given (`as_` is written "as")."""
        ev = {"op": op}
        for k, v in fields.items():
            if v is None:
                continue
            ev["as" if k == "as_" else k] = v
        self._stack[-1].append(ev)
        return ev

    @contextlib.contextmanager
    def repeat(self, count, step=None, **fields):
        """`with t.repeat(n, step={"addr": "2M"}):` — the events added inside are the body."""
        body = []
        ev = {"op": "repeat", "count": count}
        if step is not None:
            ev["step"] = step
        for k, v in fields.items():
            if v is not None:
                ev[k] = v
        ev["events"] = body
        self._stack[-1].append(ev)
        self._stack.append(body)
        try:
            yield ev
        finally:
            self._stack.pop()

    def region(self, name, addr, length):
        """Name a range without mapping it (a file's place, a part of a mapping)."""
        r = Region(name, addr, length)
        if name:
            self.regions[name] = r
        return r

    # ---- processes and CPUs ----

    def spawn(self, task, cpu, **kw):
        return self.event("spawn", task=task, cpu=cpu, **kw)

    def fork(self, task, child, cpu=None, **kw):
        return self.event("fork", task=task, child=child, cpu=cpu, **kw)

    def thread(self, task, thread, cpu=None, **kw):
        return self.event("thread", task=task, thread=thread, cpu=cpu, **kw)

    def exit(self, task, **kw):
        return self.event("exit", task=task, **kw)

    def run(self, task=None, cpu=None, **kw):
        return self.event("run", task=task, cpu=cpu, **kw)

    def sleep(self, task, **kw):
        return self.event("sleep", task=task, **kw)

    def advance(self, **kw):
        """Exactly one of ns=, us=, ms=, s=."""
        return self.event("advance", **kw)

    def mark(self, name, **kw):
        return self.event("mark", name=name, **kw)

    # ---- address space ----

    def mmap(self, task, addr, len, prot, name=None, **kw):
        """Map [addr, addr+len); returns its Region (named `name`, or by `as_`)."""
        self.event("mmap", task=task, addr=addr, len=len, prot=prot, **kw)
        return self.region(name or kw.get("as_"), None if addr is None else addr, len)

    def munmap(self, task, addr, len, **kw):
        return self.event("munmap", task=task, addr=addr, len=len, **kw)

    def mprotect(self, task, addr, len, prot, **kw):
        return self.event("mprotect", task=task, addr=addr, len=len, prot=prot, **kw)

    def madvise(self, task, addr, len, advice, **kw):
        return self.event("madvise", task=task, addr=addr, len=len, advice=advice, **kw)

    def mlock(self, task, addr, len, **kw):
        return self.event("mlock", task=task, addr=addr, len=len, **kw)

    def munlock(self, task, addr, len, **kw):
        return self.event("munlock", task=task, addr=addr, len=len, **kw)

    def mremap(self, task, addr, len, **kw):
        return self.event("mremap", task=task, addr=addr, len=len, **kw)

    def swapout(self, task, addr, len, **kw):
        return self.event("swapout", task=task, addr=addr, len=len, **kw)

    def touch(self, task, addr, len, **kw):
        return self.event("touch", task=task, addr=addr, len=len, **kw)

    def touch_random(self, task, addr, len, **kw):
        return self.event("touch_random", task=task, addr=addr, len=len, **kw)

    def move_pages(self, task, addr, **kw):
        return self.event("move_pages", task=task, addr=addr, **kw)

    # ---- concurrency points ----

    def gup_fast_begin(self, cpu, task, addr, **kw):
        return self.event("gup_fast_begin", cpu=cpu, task=task, addr=addr, **kw)

    def gup_fast_end(self, cpu, **kw):
        return self.event("gup_fast_end", cpu=cpu, **kw)

    def rcu_read_begin(self, cpu, task, addr, **kw):
        return self.event("rcu_read_begin", cpu=cpu, task=task, addr=addr, **kw)

    def rcu_read_end(self, cpu, **kw):
        return self.event("rcu_read_end", cpu=cpu, **kw)

    def pmd_lock(self, cpu, task, addr, **kw):
        return self.event("pmd_lock", cpu=cpu, task=task, addr=addr, **kw)

    def pmd_unlock(self, cpu, **kw):
        return self.event("pmd_unlock", cpu=cpu, **kw)

    def schedule_begin(self, cpu, **kw):
        return self.event("schedule_begin", cpu=cpu, **kw)

    def schedule_end(self, cpu, **kw):
        return self.event("schedule_end", cpu=cpu, **kw)

    def lru_add_drain_cpu(self, cpu, **kw):
        return self.event("lru_add_drain_cpu", cpu=cpu, **kw)

    # ---- writing ----

    def document(self):
        """The version 1 trace as a dict."""
        if len(self._stack) != 1:
            raise RuntimeError("a repeat is still open")
        t = {"ptsim_trace": 1}
        if self.comment is not None:
            t["comment"] = self.comment
        if self.machine:
            t["machine"] = self.machine
        t["events"] = self.events
        return t

    def dumps(self, version=1, layout="indent"):
        """The trace as text.

        version 1, layout "indent": json.dump with indent=1 (most bundled traces);
        version 1, layout "lines": the header keys on their own lines, then one
        event per line (large traces that stay readable with grep);
        version 2: JSON Lines, a header line then one event per line; an mmap
        with an address and no "fixed" gets "fixed": "noreplace" (what the
        address means in version 1: in version 2 it alone would be a hint).
        """
        doc = self.document()
        if version == 2:
            hdr = {"ptsim_trace": 2}
            if self.machine:
                hdr["machine"] = self.machine
            if self.comment is not None:
                hdr["comment"] = self.comment
            return "".join(json.dumps(o) + "\n" for o in [hdr] + [_v1_addr(e) for e in self.events])
        if version != 1:
            raise ValueError("version 1 or 2")
        if layout == "indent":
            return json.dumps(doc, indent=1) + "\n"
        if layout == "lines":
            head = '{"ptsim_trace": 1,\n'
            if self.comment is not None:
                head += ' "comment": %s,\n' % json.dumps(self.comment)
            if self.machine:
                head += ' "machine": %s,\n' % json.dumps(self.machine)
            return head + ' "events": [\n' + ",\n".join("  " + json.dumps(e) for e in self.events) + "\n ]}\n"
        raise ValueError("layout 'indent' or 'lines'")

    def write(self, path, version=1, layout="indent"):
        """Write the trace to `path` (see dumps())."""
        with open(path, "w") as f:
            f.write(self.dumps(version, layout))
