#!/usr/bin/env python3
"""Per-op comparison of a recording made with PTSIM_RECORD_DEBUG=1 (docs/record.md).

    PTSIM_RECORD_DEBUG=1 ptsim record -o dbg.jsonl -- CMD...
    scripts/record_debug.py PTSIM_BINARY dbg.jsonl [--all]

Such a recording has a mark "op K" after every op (K counts them) and, after
an op of a task, a mark "real K local=L send=S queued=Q" with the kernel's
flushes on behalf of op K.  This replays it and prints each op whose ptsim
flushes (the counters between its mark and the mark before) differ from the
kernel's: local flushes, remote flushes started, flush calls queued.
"""
import json
import subprocess
import sys


def main():
    if len(sys.argv) < 3 or sys.argv[2].endswith((".zst", ".gz")):
        sys.exit(__doc__)
    ptsim, path = sys.argv[1], sys.argv[2]
    show_all = "--all" in sys.argv
    out = subprocess.run([ptsim, "run", path, "--json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    text = {}
    prev_line = ""
    for line in open(path):
        if line.startswith('{"op":"mark","name":"op '):
            text[int(json.loads(line)["name"].split()[1])] = prev_line.strip()
        elif not line.startswith('{"op":"mark"'):
            prev_line = line

    def ctr(mark):
        c = mark["counters"]
        tlb = c["tlb"]
        return (tlb["local"]["full"] + tlb["local"]["partial"], tlb["nr_tlb_remote_flush"],
                c["ipi"]["received"]["tlb_flush"])

    sim, real = {}, {}
    prev = (0, 0, 0)
    for mk in report["marks"]:
        name = mk["name"]
        now = ctr(mk)
        if name.startswith("op "):
            sim[int(name.split()[1])] = tuple(a - b for a, b in zip(now, prev))
        elif name.startswith("real "):
            parts = name.split()
            kv = dict(p.split("=") for p in parts[2:])
            real[int(parts[1])] = (int(kv["local"]), int(kv["send"]), int(kv["queued"]))
        prev = now
    diff = 0
    tot_s, tot_r = [0, 0, 0], [0, 0, 0]
    for k in sorted(set(sim) | set(real)):
        s, r = sim.get(k, (0, 0, 0)), real.get(k, (0, 0, 0))
        for i in range(3):
            tot_s[i] += s[i]
            tot_r[i] += r[i]
        if s != r or show_all:
            diff += s != r
            print(f"op {k}: real local/send/queued {r}  ptsim {s}  {text.get(k, '?')[:150]}")
    print(f"{diff} ops differ; totals real {tot_r} ptsim {tot_s}")


main()
