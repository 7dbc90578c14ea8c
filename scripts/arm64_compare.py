#!/usr/bin/env python3
"""Run five of the real-kernel workloads (docs/real-kernel.md) on x86-64 and
arm64 and print the side-by-side table of docs/arm64.md (markdown).

Each trace is run twice with `ptsim run TRACE --json`, once as written (x86-64,
preset 6.18.44, 2 CPUs) and once with `--arch arm64` (4 KiB pages, 48-bit VA,
same preset); nothing else changes.  Counts are the difference of the counters
between the two marks that bracket the measured operations.
"""
import argparse
import json
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The builds README's two commands make: scripts/demo.sh, then scripts/test.sh.
DEFAULT_BUILDS = ["build-demo", "build-test"]
PTSIM = None

WORKLOADS = [
    ("W1a: 25600 x (write 2 MiB, MADV_DONTNEED it), 1 thread", "w1_a.json", "mapped", "after"),
    ("W2: 10 x (fork, child reads 1 byte/GiB of 2 GiB shared hugetlb, exit)", "w2_aligned_g2_k0.json",
     "loop_start", "loop_end"),
    ("W3: 31 x munmap 1 page, peer thread spinning", "w3_munmap_spin.json", "munmap_1_before", "munmap_1_after"),
    ("W3: 31 x munmap 512 pages (frees a PTE table), peer asleep", "w3_munmap_sleep.json",
     "munmap_512_before", "munmap_512_after"),
    ("W3: 31 x mprotect 34 pages, peer thread spinning", "w3_mprotect_spin.json",
     "mprotect_34_before", "mprotect_34_after"),
]


def run(trace, arch):
    cmd = [PTSIM, "run", os.path.join(ROOT, "traces", "oracle", trace), "--json"]
    if arch == "arm64":
        cmd += ["--arch", "arm64"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 3):
        sys.exit("%s: %s" % (" ".join(cmd), out.stderr))
    return json.loads(out.stdout)


def delta(d, before, after, path):
    marks = {m["name"]: m["counters"] for m in d["marks"]}

    def get(c):
        for p in path.split("."):
            c = c[p]
        return c
    return get(marks[after]) - get(marks[before])


def main():
    print("| workload | arch | flush IPIs | table-sync IPIs | flushes | TLBI instructions | violations |")
    print("|---|---|---:|---:|---|---|---:|")
    for name, trace, before, after in WORKLOADS:
        for arch in ("x86_64", "arm64"):
            d = run(trace, arch)
            D = lambda p: delta(d, before, after, p)
            ipis = D("ipi.received.tlb_flush")
            sync = D("ipi.received.table_sync")
            if arch == "x86_64":
                flushes = "%d requests: local %d full / %d ranged, remote %d full / %d ranged" % (
                    D("tlb.flush_requests"), D("tlb.local.full"), D("tlb.local.partial"),
                    D("tlb.remote.full") + D("tlb.remote.lazy_to_init_mm"), D("tlb.remote.partial"))
                tlbi = "-"
            else:
                flushes = "%d TLBI sequences (DSB ISH)" % D("tlbi.dsb_ish")
                kinds = [("vale1is", "VALE1IS"), ("vae1is", "VAE1IS"), ("rvale1is", "RVALE1IS"),
                         ("rvae1is", "RVAE1IS"), ("aside1is", "ASIDE1IS"), ("vmalle1is", "VMALLE1IS"),
                         ("vmalle1", "VMALLE1")]
                tlbi = ", ".join("%d %s" % (D("tlbi." + k), n) for k, n in kinds if D("tlbi." + k)) or "0"
            print("| %s | %s | %d | %d | %s | %s | %d |" % (name if arch == "x86_64" else "", arch, ipis, sync,
                                                          flushes, tlbi, len(d["violations"])))


def default_ptsim():
    for b in DEFAULT_BUILDS:
        p = os.path.join(ROOT, b, "ptsim")
        if os.access(p, os.X_OK):
            return p
    return None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] + " " + __doc__.splitlines()[1],
                                 epilog="Exit status: 0, or 1 if a run failed.")
    ap.add_argument("ptsim", nargs="?", default=None,
                    help="the ptsim binary (default: build-demo/ptsim as ./scripts/demo.sh builds it, "
                         "else build-test/ptsim)")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    PTSIM = args.ptsim or default_ptsim()
    if not PTSIM or not os.access(PTSIM, os.X_OK):
        sys.exit("arm64_compare: no ptsim binary (%s): run ./scripts/demo.sh first, or give its path"
                 % (PTSIM or " or ".join(os.path.join(b, "ptsim") for b in DEFAULT_BUILDS)))
    main()
