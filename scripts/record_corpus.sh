#!/bin/sh
# Record the corpus of traces/recorded/ (docs/recorded.md), as root:
#   record_corpus.sh PTSIM OUTDIR [NAME...]      (no NAME: all of them)
# Each program works in a fresh directory under /tmp; its inputs are generated here.
set -eu
PTSIM=$(readlink -f "$1"); OUT=$(readlink -f "$2"); shift 2
SEL="$*"
W=$(mktemp -d /tmp/ptsim-corpus.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
want() { [ -z "$SEL" ] && return 0; for n in $SEL; do [ "$n" = "$1" ] && return 0; done; return 1; }
rec() { name=$1; shift; want "$name" || return 0; echo "== $name: $*" >&2
	"$PTSIM" record --quiet -o "$OUT/$name.jsonl.zst" -- "$@"; }

# Inputs.
cat > prog.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; long key; char name[24]; };
static struct node *insert(struct node *h, long k)
{
	struct node *n = malloc(sizeof(*n));
	if (!n) exit(1);
	n->key = k; snprintf(n->name, sizeof(n->name), "n%ld", k);
	if (!h || k < h->key) { n->next = h; return n; }
	struct node *p = h;
	while (p->next && p->next->key < k) p = p->next;
	n->next = p->next; p->next = n;
	return h;
}
int main(int argc, char **argv)
{
	struct node *h = NULL;
	long n = argc > 1 ? strtol(argv[1], NULL, 0) : 1000, sum = 0;
	for (long i = 0; i < n; i++) h = insert(h, (i * 7919) % 10007);
	for (struct node *p = h; p; p = p->next) sum += p->key + (long)strlen(p->name);
	printf("%ld\n", sum);
	return 0;
}
C
head -c 2000000 /usr/bin/gcc-12 > data.bin 2>/dev/null || head -c 2000000 "$PTSIM" > data.bin
cat > work.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO t SELECT i, (i * 7919) % 10007, hex(randomblob(16)) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(k) FROM t WHERE k BETWEEN 100 AND 5000;
SELECT k, count(*) FROM t GROUP BY k ORDER BY 2 DESC LIMIT 3;
DELETE FROM t WHERE id % 3 = 0;
VACUUM;
SELECT count(*) FROM t;
SQL
cat > work.py <<'PY'
import json, collections
d = {i: str(i) * 3 for i in range(60000)}
words = collections.Counter(v[:2] for v in d.values())
s = json.dumps(sorted(words.items())[:50])
del d
print(len(s), sum(len(str(x)) for x in range(30000)))
PY
mkdir -p proj
for i in 1 2 3 4; do printf 'int f%d(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * %d; return s; }\n' $i $i > proj/f$i.c; done
printf 'int f1(int),f2(int),f3(int),f4(int);\nint main(void) { return (f1(3)+f2(3)+f3(3)+f4(3)) & 1; }\n' > proj/main.c
printf 'OBJS = main.o f1.o f2.o f3.o f4.o\nprog: $(OBJS)\n\tcc -o $@ $(OBJS)\n%%.o: %%.c\n\tcc -O1 -c $<\n' > proj/Makefile
mkdir -p repo && (cd repo && git init -q && for i in 1 2 3; do cp ../prog.c f$i.c; done)
cat > git.sh <<'SH'
cd repo
git add -A && git -c user.name=a -c user.email=a@b commit -q -m one
sed -i s/1000/2000/ f2.c && git -c user.name=a -c user.email=a@b commit -q -am two
git log --oneline >/dev/null && git diff HEAD~1 --stat >/dev/null && git gc -q
SH

rec stress-ng-vm stress-ng --vm 2 --vm-bytes 4M --vm-ops 8 --vm-method all -t 3s --quiet
rec stress-ng-mmap stress-ng --mmap 2 --mmap-bytes 2M --mmap-ops 4 -t 3s --quiet
rec stress-ng-madvise stress-ng --madvise 2 --madvise-ops 4 -t 3s --quiet
rec stress-ng-fork stress-ng --fork 2 --fork-ops 40 -t 3s --quiet
rec sqlite3 sh -c 'sqlite3 db.sqlite < work.sql'
rec gcc gcc -O2 -c prog.c -o prog.o
rec git sh git.sh
rec xz xz -T2 -k -f data.bin
rec python3 /usr/bin/python3 work.py
rec make make -j2 -C proj -s
