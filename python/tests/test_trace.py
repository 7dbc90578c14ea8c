"""Unit tests of ptsim.trace (python3 -m unittest discover -s python/tests -t python).

With PTSIM_CLI set to the ptsim binary (CTest sets it), generated traces are
also run: version 1 and version 2 of the same trace must give the same report.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

from ptsim.trace import Region, Trace, size  # noqa: E402

GENERATORS = [
    "traces/oracle/gen_w1.py", "traces/oracle/gen_w1_edges.py", "traces/oracle/gen_w2.py",
    "traces/oracle/gen_w3.py", "traces/seeds/gen_000_9d4a9cd44a7ae822.py", "traces/seeds/gen_pt_reclaim.py",
]


def small_trace(cpus=4, rounds=3):
    t = Trace(comment="munmap while the others spin", arch="x86_64", cpus=cpus)
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


class TraceTest(unittest.TestCase):
    def test_trace__sizes(self):
        self.assertEqual(size(4096), 4096)
        self.assertEqual(size("0x1000"), 4096)
        self.assertEqual(size("4K"), 4096)
        self.assertEqual(size("2M"), 2 << 20)
        self.assertEqual(size("1g"), 1 << 30)
        self.assertEqual(size("3T"), 3 << 40)
        self.assertEqual(size("12"), 12)
        with self.assertRaises(ValueError):
            size("4Q")

    def test_trace__events_keep_the_order_of_their_fields(self):
        t = Trace()
        ev = t.mmap(1, "0x200000", "2M", "rw", kind="hugetlb", shared=True, populate=True, expect=None)
        self.assertEqual(list(t.events[0]), ["op", "task", "addr", "len", "prot", "kind", "shared", "populate"])
        self.assertIsInstance(ev, Region)
        t.mmap(1, None, "1M", "rw", as_="heap1", fixed=None)
        self.assertEqual(t.events[1], {"op": "mmap", "task": 1, "len": "1M", "prot": "rw", "as": "heap1"})
        t.event("exec", task=1, brk="0x600000")
        self.assertEqual(t.events[2], {"op": "exec", "task": 1, "brk": "0x600000"})
        t.advance(s=2, comment="older than a second")
        self.assertEqual(list(t.events[3]), ["op", "s", "comment"])

    def test_trace__repeat_bodies_nest(self):
        t = Trace()
        with t.repeat(3, step={"addr": "2M"}):
            t.touch(1, "0x0", "4K")
            with t.repeat(2, var="i"):
                t.mark("m")
        t.mark("after")
        self.assertEqual(t.events, [
            {"op": "repeat", "count": 3, "step": {"addr": "2M"}, "events": [
                {"op": "touch", "task": 1, "addr": "0x0", "len": "4K"},
                {"op": "repeat", "count": 2, "var": "i", "events": [{"op": "mark", "name": "m"}]}]},
            {"op": "mark", "name": "after"}])
        with self.assertRaises(RuntimeError):
            with t.repeat(2):
                t.document()

    def test_trace__regions(self):
        t = Trace()
        r = t.mmap(1, 0x100000, "64K", "rw", name="buf")
        self.assertIs(t.regions["buf"], r)
        self.assertEqual(r.addr, "0x100000")
        self.assertEqual(r.at("4K"), "0x101000")
        self.assertEqual(r.end(), "0x110000")
        k = t.mmap(1, None, "1M", "rw", as_="heap1")
        self.assertEqual(k.at(0), "heap1")
        self.assertEqual(k.at(0x2000), "heap1+0x2000")
        with self.assertRaises(ValueError):
            Region(None, None, "4K").at(0)

    def test_trace__random_choices_are_seeded(self):
        a = Trace(random_seed=7)
        b = Trace(random_seed=7)
        c = Trace(random_seed=8)
        pick = [a.random.randrange(1 << 30) for _ in range(5)]
        self.assertEqual(pick, [b.random.randrange(1 << 30) for _ in range(5)])
        self.assertNotEqual(pick, [c.random.randrange(1 << 30) for _ in range(5)])

    def test_trace__machine_section(self):
        t = Trace(comment="c", set={"pt_reclaim": "off"}, preset="6.12", cpus=8, arch="arm64", seed=3)
        self.assertEqual(list(t.machine), ["arch", "cpus", "preset", "seed", "set"])
        doc = t.document()
        self.assertEqual(list(doc), ["ptsim_trace", "comment", "machine", "events"])
        self.assertEqual(list(Trace().document()), ["ptsim_trace", "events"])
        with self.assertRaises(TypeError):
            Trace(cores=4)

    def test_trace__writes_version_1_and_2(self):
        t = small_trace()
        v1 = json.loads(t.dumps())
        self.assertEqual(v1["ptsim_trace"], 1)
        self.assertEqual(json.loads(t.dumps(layout="lines")), v1)
        self.assertTrue(t.dumps(layout="lines").startswith('{"ptsim_trace": 1,\n "comment": '))
        lines = t.dumps(version=2).splitlines()
        hdr = json.loads(lines[0])
        self.assertEqual(hdr, {"ptsim_trace": 2, "machine": v1["machine"], "comment": v1["comment"]})
        events = [json.loads(line) for line in lines[1:]]
        # In version 2 an address alone is a hint: the mmaps say what version 1 means.
        self.assertEqual(events[4], dict(v1["events"][4], fixed="noreplace"))
        self.assertEqual(events[7]["events"][1], dict(v1["events"][7]["events"][1], fixed="noreplace"))
        self.assertEqual(events[7]["events"][0], v1["events"][7]["events"][0])
        for e in events:
            e.pop("fixed", None)
            for b in e.get("events", []):
                b.pop("fixed", None)
        self.assertEqual(events, v1["events"])
        with self.assertRaises(ValueError):
            t.dumps(version=3)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.jsonl")
            t.write(p, version=2)
            with open(p) as f:
                self.assertEqual(f.read(), t.dumps(version=2))

    def test_trace__bundled_generators_reproduce_their_traces(self):
        for gen in GENERATORS:
            with tempfile.TemporaryDirectory() as d:
                subprocess.run([sys.executable, os.path.join(ROOT, gen)], cwd=d, check=True)
                made = sorted(os.listdir(d))
                self.assertTrue(made, gen)
                for name in made:
                    with open(os.path.join(d, name), "rb") as a, \
                            open(os.path.join(ROOT, os.path.dirname(gen), name), "rb") as b:
                        self.assertEqual(a.read(), b.read(), "%s: %s differs from the bundled trace" % (gen, name))

    @unittest.skipUnless(os.environ.get("PTSIM_CLI"), "PTSIM_CLI (the ptsim binary) not given")
    def test_trace__ptsim_runs_both_versions_alike(self):
        t = small_trace(cpus=4, rounds=5)
        with tempfile.TemporaryDirectory() as d:
            out = []
            for version, name in ((1, "t.json"), (2, "t.jsonl")):
                t.write(os.path.join(d, name), version=version)
                r = subprocess.run([os.environ["PTSIM_CLI"], "run", name, "--json"], cwd=d, capture_output=True,
                                   text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                out.append(json.loads(r.stdout))
            self.assertEqual(out[0], out[1])
            counters = out[0]["final"]["counters"]
            self.assertEqual(counters["pgtables_allocated"]["pte"] > 0, True)
            # 5 munmaps of one page each, 3 other threads running the mm: 15 shootdown IPIs.
            self.assertEqual(counters["ipi"]["received"]["tlb_flush"], 15)


if __name__ == "__main__":
    unittest.main()
