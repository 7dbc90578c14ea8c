/*
 * Counters.  One X-macro list per scope gives the enum, the dotted name used
 * in JSON and by ptsim_stat(), and nothing else can drift from it.
 * docs/counters.md says what each one means in kernel terms.
 */
#ifndef PTSIM_MM_STATS_H
#define PTSIM_MM_STATS_H

#define SIM_STATS(X)                                                                 \
	X(FAULTS_TOTAL, "faults.total")                                              \
	X(FAULTS_ANON, "faults.anon")                                                \
	X(FAULTS_ZERO, "faults.zero_page")                                           \
	X(FAULTS_FILE, "faults.file")                                                \
	X(FAULTS_SHMEM, "faults.shmem")                                              \
	X(FAULTS_HUGETLB, "faults.hugetlb")                                          \
	X(FAULTS_COW, "faults.cow")                                                  \
	X(FAULTS_WP_REUSE, "faults.wp_reuse")                                        \
	X(FAULTS_SWAPIN, "faults.swapin")                                            \
	X(FAULTS_SIGSEGV, "faults.sigsegv")                                          \
	X(FAULTS_OOM, "faults.oom")                                                  \
	X(ACCESSES, "accesses")                                                      \
	X(PGT_ALLOC_PTE, "pgtables_allocated.pte")                                   \
	X(PGT_ALLOC_PMD, "pgtables_allocated.pmd")                                   \
	X(PGT_ALLOC_PUD, "pgtables_allocated.pud")                                   \
	X(PGT_ALLOC_P4D, "pgtables_allocated.p4d")                                   \
	X(PGT_FREE_PTE, "pgtables_freed.pte")                                        \
	X(PGT_FREE_PMD, "pgtables_freed.pmd")                                        \
	X(PGT_FREE_PUD, "pgtables_freed.pud")                                        \
	X(PGT_FREE_P4D, "pgtables_freed.p4d")                                        \
	X(PAGES_ALLOC, "pages.allocated")                                            \
	X(PAGES_FREED, "pages.freed")                                                \
	X(IPI_CALLS_TLB_FLUSH, "ipi.calls.tlb_flush")                                \
	X(IPI_CALLS_TABLE_SYNC, "ipi.calls.table_sync")                              \
	X(IPI_CALLS_FLUSH_ALL, "ipi.calls.flush_all")                                \
	X(IPI_RECV_TLB_FLUSH, "ipi.received.tlb_flush")                              \
	X(IPI_RECV_TABLE_SYNC, "ipi.received.table_sync")                            \
	X(IPI_RECV_FLUSH_ALL, "ipi.received.flush_all")                              \
	X(IPI_DELAYED, "ipi.delayed_by_irqs_off")                                    \
	X(TABLE_SYNC_SKIPPED, "ipi.table_sync_skipped")                              \
	X(NR_TLB_REMOTE_FLUSH, "tlb.nr_tlb_remote_flush")                            \
	X(NR_TLB_REMOTE_FLUSH_RECEIVED, "tlb.nr_tlb_remote_flush_received")          \
	X(NR_TLB_LOCAL_FLUSH_ALL, "tlb.nr_tlb_local_flush_all")                      \
	X(NR_TLB_LOCAL_FLUSH_ONE, "tlb.nr_tlb_local_flush_one")                      \
	X(TLB_FLUSH_REQUESTS, "tlb.flush_requests")                                  \
	X(TLB_LOCAL_FULL, "tlb.local.full")                                          \
	X(TLB_LOCAL_PARTIAL, "tlb.local.partial")                                    \
	X(TLB_REMOTE_FULL, "tlb.remote.full")                                        \
	X(TLB_REMOTE_PARTIAL, "tlb.remote.partial")                                  \
	X(TLB_REMOTE_WRONG_CPU, "tlb.remote.wrong_cpu")                              \
	X(TLB_REMOTE_LAZY, "tlb.remote.lazy_to_init_mm")                             \
	X(TLB_REMOTE_NOOP, "tlb.remote.noop")                                        \
	X(TLB_SWITCH_FLUSH, "tlb.switch_flush")                                      \
	X(TLB_SWITCH_FLUSH_TASK, "tlb.switch_flush_task")                            \
	X(TLB_INVLPGB, "tlb.invlpgb")                                                \
	X(TLB_INVLPGB_FULL, "tlb.invlpgb_full")                                      \
	X(TLB_INVLPGB_ALL, "tlb.invlpgb_all")                                        \
	X(TLB_TLBSYNC, "tlb.tlbsync")                                                \
	X(TLB_HITS, "tlb.hits")                                                      \
	X(TLB_MISSES, "tlb.misses")                                                  \
	X(TLB_WALKS, "tlb.walks")                                                    \
	X(TLB_PWC_HITS, "tlb.pwc_hits")                                              \
	X(TLBI_VALE1IS, "tlbi.vale1is")                                              \
	X(TLBI_VAE1IS, "tlbi.vae1is")                                                \
	X(TLBI_RVALE1IS, "tlbi.rvale1is")                                            \
	X(TLBI_RVAE1IS, "tlbi.rvae1is")                                              \
	X(TLBI_ASIDE1IS, "tlbi.aside1is")                                            \
	X(TLBI_VMALLE1IS, "tlbi.vmalle1is")                                          \
	X(TLBI_VMALLE1, "tlbi.vmalle1")                                              \
	X(TLBI_DSB, "tlbi.dsb_ish")                                                  \
	X(ASID_ROLLOVERS, "asid.rollovers")                                          \
	X(GATHER_FLUSHES, "mmu_gather.tlb_flush")                                    \
	X(GATHER_FORCED, "mmu_gather.forced_flush")                                  \
	X(GATHER_BATCH_FULL, "mmu_gather.table_batch_full")                          \
	X(GATHER_TABLE_FALLBACK, "mmu_gather.single_table_fallback")                 \
	X(GATHER_NESTED, "mmu_gather.nested_flush")                                  \
	X(RCU_GP, "rcu.grace_periods")                                               \
	X(RCU_CALLBACKS, "rcu.callbacks")                                            \
	X(TABLES_RCU_FREED, "rcu.tables_freed")                                      \
	X(HUGETLB_SHARE, "hugetlb.pmd_share")                                        \
	X(HUGETLB_UNSHARE, "hugetlb.pmd_unshare")                                    \
	X(HUGETLB_FULL_UNSHARE, "hugetlb.pmd_unshare_last")                          \
	X(HUGETLB_UNSHARE_BROADCASTS, "hugetlb.unshare_broadcasts")                  \
	X(PGMIGRATE_SUCCESS, "migrate.pgmigrate_success")                            \
	X(PTRECLAIM_FAST, "pt_reclaim.fast_path")                                    \
	X(PTRECLAIM_SLOW, "pt_reclaim.slow_path")                                    \
	X(PTRECLAIM_SLOW_FAIL, "pt_reclaim.slow_path_failed")                        \
	X(PTRECLAIM_FREED, "pt_reclaim.tables_freed")                                \
	X(MSHARE_LINKS, "mshare.links")                                              \
	X(MSHARE_UNLINKS, "mshare.unlinks")                                          \
	X(MSHARE_HOST_FAULTS, "mshare.host_faults")                                  \
	X(RECLAIM_SWAPOUT, "reclaim.swapped_out")                                    \
	X(RECLAIM_LAZYFREE, "reclaim.lazyfree_discarded")                            \
	X(GUP_FAST, "gup_fast.walks")                                                \
	X(CHECK_MM_ERRORS, "check_mm.errors")                                        \
	X(VIOLATIONS, "violations")

enum sim_stat {
#define SIM__STAT_ENUM(id, name) ST_##id,
	SIM_STATS(SIM__STAT_ENUM)
#undef SIM__STAT_ENUM
	NR_STATS
};

/*
 * Per-CPU counters (JSON: "cpus": [{"cpu": N, ...}], ptsim_stat(): "cpu.N.<name>"),
 * listed in the order of the report (a contract), each with its slot in
 * struct sim_cpu's stats[].  ptsim layout: a flush IPI adds to its target's
 * interrupt count, nr_tlb_remote_flush_received and one outcome; the first
 * two and the common outcomes (partial, full) are the last four slots
 * (SIM_CPU_IPI_SLOT0 on), which share one cache line of the target with the
 * start of its arch state (struct sim_cpu); the rare ones (wrong_cpu, lazy)
 * come just before, and a lazy target's switch to init_mm may also add to
 * switch_flush (never to switch_flush_task: no task of the trace runs on a
 * lazy CPU).  The slots
 * are 0 .. NR_CPU_STATS - 1, each once: a slot used twice is an override in
 * sim_cpu_stat_names[]'s initializer (-Woverride-init, an error with
 * PTSIM_WERROR), a slot out of range exceeds its bounds.
 */
#define SIM_CPU_STATS(X)                                                             \
	X(IPI_RECV_TLB_FLUSH, 17, "ipi_received.tlb_flush")                          \
	X(IPI_RECV_TABLE_SYNC, 0, "ipi_received.table_sync")                         \
	X(IPI_RECV_FLUSH_ALL, 1, "ipi_received.flush_all")                           \
	X(IPI_SENT_TLB_FLUSH, 2, "ipi_sent.tlb_flush")                               \
	X(IPI_SENT_TABLE_SYNC, 3, "ipi_sent.table_sync")                             \
	X(IPI_SENT_FLUSH_ALL, 4, "ipi_sent.flush_all")                               \
	X(TLB_FLUSH_RECEIVED, 18, "nr_tlb_remote_flush_received")                    \
	X(LOCAL_FLUSH_ALL, 5, "nr_tlb_local_flush_all")                              \
	X(LOCAL_FLUSH_ONE, 6, "nr_tlb_local_flush_one")                              \
	X(REMOTE_FULL, 20, "remote.full")                                            \
	X(REMOTE_PARTIAL, 19, "remote.partial")                                      \
	X(REMOTE_WRONG_CPU, 15, "remote.wrong_cpu")                                  \
	X(REMOTE_LAZY, 16, "remote.lazy_to_init_mm")                                 \
	X(SWITCH_FLUSH, 7, "switch_flush")                                           \
	X(SWITCH_FLUSH_TASK, 14, "switch_flush_task")                                \
	X(CONTEXT_SWITCHES, 8, "context_switches")                                   \
	X(TLB_HITS, 10, "tlb.hits")                                                  \
	X(TLB_MISSES, 11, "tlb.misses")                                              \
	X(TLB_WALKS, 12, "tlb.walks")                                                \
	X(TLB_PWC_HITS, 13, "tlb.pwc_hits")                                          \
	X(FAULTS, 9, "faults")

/* The first of the four slots a flush IPI adds to on most targets (the last four). */
#define SIM_CPU_IPI_SLOT0 17

enum sim_cpu_stat {
#define SIM__CSTAT_ENUM(id, slot, name) CST_##id = (slot),
	SIM_CPU_STATS(SIM__CSTAT_ENUM)
#undef SIM__CSTAT_ENUM
};
#define SIM__CSTAT_ONE(id, slot, name) +1
enum { NR_CPU_STATS = 0 SIM_CPU_STATS(SIM__CSTAT_ONE) };
#undef SIM__CSTAT_ONE

extern const char *const sim_stat_names[NR_STATS];
extern const char *const sim_cpu_stat_names[NR_CPU_STATS];   /* by slot */
/* The slots in the order of the report. */
extern const uint8_t sim_cpu_stat_report_order[NR_CPU_STATS];

#define STAT_INC(m, id) ((m)->stats[ST_##id]++)
#define STAT_ADD(m, id, n) ((m)->stats[ST_##id] += (n))
#define CPU_STAT_INC(cpu, id) ((cpu)->stats[CST_##id]++)
#define CPU_STAT_ADD(cpu, id, n) ((cpu)->stats[CST_##id] += (n))

#endif
