#!/usr/bin/env python3
"""Per-op comparison of a recording made with PTSIM_RECORD_DEBUG=1 (docs/record.md).

    PTSIM_RECORD_DEBUG=1 ptsim record -o dbg.jsonl -- CMD...
    scripts/record_debug.py PTSIM_BINARY dbg.jsonl [--all]

Such a recording has a mark "op K" after every op (K counts them) and, after
an op of a task, a mark "real K local=L send=S queued=Q [calls=p1,w0]" with
the kernel's flushes on behalf of op K: local flushes, remote flushes
started, flush calls queued, and what each call did on its target CPU (f
full, p ranged, w wrong CPU, l lazy CPU to init_mm, n nothing to do; then
the CPU).  This replays it and prints each op whose ptsim flushes (the
counters between its mark and the mark before) differ from the kernel's.
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

    kinds = (("full", "f"), ("partial", "p"), ("wrong_cpu", "w"), ("lazy_to_init_mm", "l"))

    def ctr(mark):
        c = mark["counters"]
        tlb = c["tlb"]
        calls = {}
        for cpu in mark.get("cpus", []):
            for k, letter in kinds:
                calls[f"{letter}{cpu['cpu']}"] = cpu["remote"][k]
        calls["n"] = tlb["remote"]["noop"]
        return (tlb["local"]["full"] + tlb["local"]["partial"], tlb["nr_tlb_remote_flush"],
                c["ipi"]["received"]["tlb_flush"], calls)

    def calls_diff(now, prev):
        out = []
        for k in sorted(now):
            out += [k] * (now[k] - prev.get(k, 0))
        return ",".join(out)

    def kernel_calls(s):
        # the CPU of a no-op is not in ptsim's per-CPU counters
        return ",".join(sorted("n" if x.startswith("n") else x for x in s.split(",") if x))

    sim, real = {}, {}
    prev = (0, 0, 0, {})
    for mk in report["marks"]:
        name = mk["name"]
        now = ctr(mk)
        if name.startswith("op "):
            k = int(name.split()[1])
            sim[k] = tuple(a - b for a, b in zip(now[:3], prev[:3])) + (calls_diff(now[3], prev[3]),)
        elif name.startswith("real "):
            parts = name.split()
            kv = dict(p.split("=") for p in parts[2:])
            real[int(parts[1])] = (int(kv["local"]), int(kv["send"]), int(kv["queued"]),
                                   kernel_calls(kv.get("calls", "")))
        prev = now
    diff = 0
    zero = (0, 0, 0, "")
    tot_s, tot_r = [0, 0, 0], [0, 0, 0]
    for k in sorted(set(sim) | set(real)):
        s, r = sim.get(k, zero), real.get(k, zero)
        for i in range(3):
            tot_s[i] += s[i]
            tot_r[i] += r[i]
        if s != r or show_all:
            diff += s != r
            print(f"op {k}: real local/send/queued/calls {r}  ptsim {s}  {text.get(k, '?')[:150]}")
    print(f"{diff} ops differ; totals real {tot_r} ptsim {tot_s}")


main()
