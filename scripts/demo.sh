#!/bin/sh
# The main demo: install what is missing, build ptsim, and replay bundled traces:
#  1. W3 of the oracle: TLB-shootdown IPIs of munmap in a two-thread process;
#  2. the hugetlb fork+exit regression, before and after the Dec 2025 fix;
#  3. W1 case a: empty PTE-table reclaim on MADV_DONTNEED (VmPTE with and without).
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DPTSIM_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" >/dev/null
P=build-demo/ptsim
echo "== W3: munmap of 1..512 pages while the other thread spins on CPU1 (traces/oracle/w3_munmap_spin.json)"
$P run traces/oracle/w3_munmap_spin.json | sed -n '/^marks/,/^$/p'
T=traces/seeds/000_9d4a9cd44a7ae822_forkexit.json
for v in ipi_per_table mmu_gather; do
	echo "== hugetlb fork+exit on 196 CPUs (1000 children, 100 random huge pages each), hugetlb_unshare=$v ($T)"
	$P run $T --set hugetlb_unshare=$v | grep -E "^  (ipi\.|hugetlb\.unshare_broadcasts)|^violations"
done
for r in off on; do
	echo "== W1 case a (50 GiB, MADV_DONTNEED per 2 MiB), pt_reclaim=$r (traces/oracle/w1_a.json)"
	$P run traces/oracle/w1_a.json --set pt_reclaim=$r | sed -n '/^marks/,/^$/p'
done
