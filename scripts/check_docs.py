#!/usr/bin/env python3
"""Check that the command examples in docs/ show what ptsim really prints.

    scripts/check_docs.py PTSIM_BINARY [--update]

In each fenced block of the checked documents, a line starting with "$ " is a
shell command; the lines after it, up to the next command or the end of the
block, are its expected output (standard output and standard error together).
The commands run with sh in a scratch directory where `ptsim` is the binary
under test and traces/ the bundled traces.  Files the documents show with "$ cat FILE" are written there
first, as is two_threads.json (the example trace of docs/trace-format.md), so
the examples run as printed.

A command whose line ends in "# abridged" is run and must succeed, but its
output (shortened by hand in the document) is not compared.  A violation's
backtrace is compared by its last frame only (the public entry point): the
frames in between depend on what the compiler inlined.

Every document (README.md, docs/) is also checked for references to files
outside the repository, internal names ("issue 4": docs/glossary.md says what
the others mean) and links to docs/*.md files that do not exist.

Exit status: 0 if every example matches, 1 if one differs (a unified diff is
printed), 2 on usage errors.  --update rewrites the documents' outputs instead.
"""
import difflib
import os
import re
import subprocess
import sys
import tempfile

DOCS = ["docs/cli.md", "docs/trace-format.md", "docs/studies.md"]
# Every document a reader may open: checked for references outside the repository
# and for internal names the glossary replaces.
LINTED = ["README.md", "docs/*.md", "docs/ptsim.1", "python/README.md"]
OUTSIDE = re.compile(r"\.\./shared|\bshared/(reference|oracle|seeds|DESIGN|STYLE)|kernel-model|\boracle\.md|"
                     r"\bissues? \d+\b")
DOC_LINK = re.compile(r"\bdocs/[A-Za-z0-9_-]+\.(md|1)\b")
FENCE = re.compile(r"^```")


def blocks(lines):
    """Yield (start, end) line indices of the inside of each fenced block."""
    start = None
    for i, line in enumerate(lines):
        if FENCE.match(line):
            if start is None:
                start = i + 1
            else:
                yield start, i
                start = None


def examples(lines):
    """Yield (cmd_index, out_start, out_end) for each "$ " command."""
    for start, end in blocks(lines):
        cmds = [i for i in range(start, end) if lines[i].startswith("$ ")]
        for k, i in enumerate(cmds):
            yield i, i + 1, cmds[k + 1] if k + 1 < len(cmds) else end


def first_json_block(lines):
    for i, line in enumerate(lines):
        if line.startswith("```json"):
            j = i + 1
            while not FENCE.match(lines[j]):
                j += 1
            return "".join(lines[i + 1:j])
    raise SystemExit("docs/trace-format.md has no ```json block")


BACKTRACE = re.compile(r'^(\s+at |\s*"backtrace": ")(.*?)("?,?\s*)$')


def normalized(lines):
    out = []
    for line in lines:
        m = BACKTRACE.match(line)
        if m:
            line = m.group(1) + "... <- " + m.group(2).split(" <- ")[-1] + m.group(3)
        out.append(line)
    return out


def lint(root):
    """Documents refer only to what the repository holds; return the number of problems."""
    import glob
    bad = 0
    for pattern in LINTED:
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            rel = os.path.relpath(path, root)
            for n, line in enumerate(open(path), 1):
                m = OUTSIDE.search(line)
                if m:
                    print(f"{rel}:{n}: refers to something outside the repository or an internal name "
                          f"({m.group(0)!r}): say it here or in docs/glossary.md")
                    bad += 1
                for link in DOC_LINK.finditer(line):
                    if not os.path.exists(os.path.join(root, link.group(0))):
                        print(f"{rel}:{n}: {link.group(0)} does not exist")
                        bad += 1
    return bad


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv[1:]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ptsim = os.path.abspath(args[0])
    if not os.access(ptsim, os.X_OK):
        print(f"check_docs: {ptsim} is not an executable", file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    docs = {d: open(os.path.join(root, d)).readlines() for d in DOCS}

    failed = lint(root)
    checked = 0
    with tempfile.TemporaryDirectory() as work:
        # The bundled traces, as the examples name them (traces/...).
        os.symlink(os.path.join(root, "traces"), os.path.join(work, "traces"))
        bindir = os.path.join(work, "bin")
        os.mkdir(bindir)
        os.symlink(ptsim, os.path.join(bindir, "ptsim"))
        with open(os.path.join(work, "two_threads.json"), "w") as f:
            f.write(first_json_block(docs["docs/trace-format.md"]))
        for d, lines in docs.items():
            for ci, s, e in examples(lines):
                m = re.match(r"^\$ cat (\S+)\s*$", lines[ci])
                if m:
                    with open(os.path.join(work, m.group(1)), "w") as f:
                        f.writelines(lines[s:e])
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), LC_ALL="C")
        for d, lines in docs.items():
            new = list(lines)
            # Run in document order (an example may use the files an earlier one wrote), then
            # compare from the end, so that replacing an output keeps earlier indices valid.
            runs = []
            for ci, s, e in examples(lines):
                cmd = lines[ci][2:].rstrip("\n")
                if cmd.startswith("cat "):
                    continue
                runs.append((ci, s, e, cmd, subprocess.run(["sh", "-c", cmd], cwd=work, env=env,
                                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                           text=True)))
            for ci, s, e, cmd, r in reversed(runs):
                checked += 1
                if cmd.rstrip().endswith("# abridged"):
                    if r.returncode != 0:
                        print(f"{d}:{ci + 1}: `{cmd}` exited {r.returncode}:\n{r.stdout}")
                        failed += 1
                    continue
                got = r.stdout.splitlines(keepends=True)
                want = lines[s:e]
                if normalized(got) != normalized(want):
                    if update:
                        new[s:e] = got
                    else:
                        failed += 1
                        print(f"{d}:{ci + 1}: `{cmd}` printed something else:")
                        sys.stdout.writelines(difflib.unified_diff(want, got, "documented", "actual"))
            if update and new != lines:
                with open(os.path.join(root, d), "w") as f:
                    f.writelines(new)
                print(f"check_docs: updated {d}")
    if not checked:
        print("check_docs: no examples found", file=sys.stderr)
        return 1
    print(f"check_docs: {checked} examples, {failed} differ")
    return 1 if failed and not update else 0


if __name__ == "__main__":
    sys.exit(main())
