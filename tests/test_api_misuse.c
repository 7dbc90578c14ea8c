/*
 * C API misuse: every public function checks its handles and pointers.  A
 * NULL machine or trace, a NULL out-pointer or argument, a freed trace, a
 * destroyed machine (where the memory can still be read: not under ASan, which
 * reports that use after free itself) get -EINVAL (or the function's
 * "nothing" value: 0, NULL) and, where a live machine can hold one, a message
 * naming the argument.  None of them may crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifndef T_ASAN
#define T_ASAN 0
#endif

#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)
#define BASE 0x100000000ull
#define TRACE "{\"ptsim_trace\":1,\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":0}]}"

/* Every int-returning function of the machine API, called with machine @m. */
static unsigned int check_all_int_calls(struct ptsim_machine *m, int want)
{
	struct ptsim_mmap_args a = { .addr = BASE, .len = 4096, .prot = RW };
	struct ptsim_mm_info mi;
	struct ptsim_violation v;
	struct ptsim_mark_info mk;
	struct ptsim_exit_info ex;
	struct ptsim_event_result er;
	size_t idx;
	uint64_t x;
	const int rcs[] = {
		ptsim_spawn(m, 1, 0),
		ptsim_fork(m, 1, 2, 0),
		ptsim_thread(m, 1, 3, 0),
		ptsim_clone_vm(m, 1, 3, 0),
		ptsim_exit(m, 1),
		ptsim_run(m, 1, 0),
		ptsim_sleep(m, 1),
		ptsim_advance(m, 1),
		ptsim_mmap(m, 1, &a),
		ptsim_munmap(m, 1, BASE, 4096),
		ptsim_mprotect(m, 1, BASE, 4096, PTSIM_PROT_READ),
		ptsim_madvise(m, 1, BASE, 4096, PTSIM_MADV_DONTNEED),
		ptsim_mlock(m, 1, BASE, 4096),
		ptsim_munlock(m, 1, BASE, 4096),
		ptsim_swapout(m, 1, BASE, 4096),
		ptsim_touch(m, 1, BASE, 4096, 0, true),
		ptsim_touch_random(m, 1, BASE, 4096, 0, 1, true),
		ptsim_mremap(m, 1, BASE, 4096, BASE + 4096),
		ptsim_mmap_addr(m, &x, 1, &a),
		ptsim_file_cache(m, "f", PTSIM_MAP_FILE, 0, 4096),
		ptsim_exec(m, 1, NULL),
		ptsim_brk(m, &x, 1, BASE),
		ptsim_sbrk(m, &x, 1, 4096),
		ptsim_run_other(m, 0),
		ptsim_mremap_flags(m, &x, 1, BASE, 4096, 8192, PTSIM_MREMAP_MAYMOVE, 0),
		ptsim_move_pages(m, 1, BASE),
		ptsim_gup_fast_begin(m, 0, 1, BASE),
		ptsim_gup_fast_end(m, 0),
		ptsim_rcu_read_begin(m, 0, 1, BASE),
		ptsim_rcu_read_end(m, 0),
		ptsim_pmd_lock(m, 0, 1, BASE),
		ptsim_pmd_unlock(m, 0),
		ptsim_schedule_begin(m, 0),
		ptsim_schedule_end(m, 0),
		ptsim_lru_add_drain_cpu(m, 0),
		ptsim_mark(m, "x"),
		ptsim_mm_info_get(m, 1, &mi),
		ptsim_stat(m, "faults.total", &x),
		ptsim_mark_stat(m, "x", "faults.total", &x),
		ptsim_mark_mm_info(m, "x", 1, &mi),
		ptsim_mark_iteration(m, "x", &x, 1),
		ptsim_mark_get(m, 0, &mk),
		ptsim_mark_find(m, "x", NULL, 0, &idx),
		ptsim_mark_stat_at(m, 0, "faults.total", &x),
		ptsim_mark_mm_at(m, 0, 0, &mi),
		ptsim_machine_set_limit(m, PTSIM_LIMIT_MARKS, 1),
		ptsim_exit_get(m, 0, &ex),
		ptsim_event_results_enable(m, true),
		ptsim_event_result_get(m, 0, &er),
		ptsim_violation_get(m, 0, &v),
		ptsim_machine_check(m),
		ptsim_debug_rss_add(m, 1, PTSIM_RSS_ANON, 1),
		ptsim_mshare_create(m, PTSIM_NO_TASK, "r", 512ull << 30, 512ull << 30),
		ptsim_mshare_map(m, PTSIM_NO_TASK, "r", &a),
		ptsim_mshare_munmap(m, 1, "r", BASE, 4096),
		ptsim_mshare_madvise(m, 1, "r", BASE, 4096, PTSIM_MADV_DONTNEED),
		ptsim_mshare_mprotect(m, 1, "r", BASE, 4096, PTSIM_PROT_READ),
		ptsim_mshare_unlink(m, 1, "r"),
		ptsim_mshare_info(m, "r", &mi),
	};
	for (size_t i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++)
		if (rcs[i] != want)
			fail_msg("call %zu returned %d (%s), expected %d", i, rcs[i], ptsim_errname(rcs[i]), want);
	return (unsigned int)(sizeof(rcs) / sizeof(rcs[0]));
}

/* The functions that return a value instead of a code. */
static void check_all_value_calls(struct ptsim_machine *m)
{
	assert_int_equal(ptsim_violation_count(m), 0);
	assert_int_equal(ptsim_mark_count(m), 0);
	assert_int_equal(ptsim_exit_count(m), 0);
	assert_int_equal(ptsim_event_result_count(m), 0);
	assert_int_equal(ptsim_machine_limit(m, PTSIM_LIMIT_MARKS), 0);
	assert_int_equal(ptsim_frames_in_use(m), 0);
	assert_int_equal(ptsim_machine_quiesce(m), 0);
	assert_null(ptsim_report_json(m));
	assert_null(ptsim_report_text(m));
	assert_null(ptsim_report_timeline_csv(m));
	assert_int_equal(ptsim_debug_allocated_bytes(m), 0);
	assert_int_equal(ptsim_mshare_align(m), 0);
	ptsim_debug_fail_alloc(m, 1);
	ptsim_debug_batching(m, false);
	assert_non_null(ptsim_machine_errmsg(m));
	ptsim_machine_destroy(m);
}

static void test_api_misuse__null_machine(void **s)
{
	(void)s;
	assert_true(check_all_int_calls(NULL, -EINVAL) >= 32);
	check_all_value_calls(NULL);
	assert_string_equal(ptsim_machine_errmsg(NULL), "no machine (NULL handle)");
}

/* A live machine: NULL pointer arguments get -EINVAL and a message naming the argument. */
static void test_api_misuse__null_pointers(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mm_info mi;
	uint64_t x;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mark(m, "a"));
	assert_int_equal(ptsim_mmap(m, 1, NULL), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "no mmap arguments"));
	assert_int_equal(ptsim_mm_info_get(m, 1, NULL), -EINVAL);
	assert_string_equal(ptsim_machine_errmsg(m), "mm_info: field 'out': must not be NULL");
	assert_int_equal(ptsim_mshare_create(m, PTSIM_NO_TASK, NULL, 512ull << 30, 512ull << 30), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'name'"));
	assert_int_equal(ptsim_mshare_info(m, NULL, &mi), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'name'"));
	T_OK(m, ptsim_mshare_create(m, PTSIM_NO_TASK, "r", 512ull << 30, 512ull << 30));
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "r", NULL), -EINVAL);
	assert_int_equal(ptsim_mshare_info(m, "r", NULL), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'out'"));
	assert_int_equal(ptsim_stat(m, NULL, &x), -EINVAL);
	assert_string_equal(ptsim_machine_errmsg(m), "stat: field 'name': must not be NULL");
	assert_int_equal(ptsim_stat(m, "faults.total", NULL), -EINVAL);
	assert_string_equal(ptsim_machine_errmsg(m), "stat: field 'out': must not be NULL");
	assert_int_equal(ptsim_mark_stat(m, NULL, "faults.total", &x), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'mark'"));
	assert_int_equal(ptsim_mark_stat(m, "a", NULL, &x), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'name'"));
	assert_int_equal(ptsim_mark_stat(m, "a", "faults.total", NULL), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'out'"));
	assert_int_equal(ptsim_mark_mm_info(m, NULL, 1, &mi), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'mark'"));
	assert_int_equal(ptsim_mark_mm_info(m, "a", 1, NULL), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'out'"));
	assert_int_equal(ptsim_violation_get(m, 0, NULL), -EINVAL);
	assert_int_equal(ptsim_mark(m, NULL), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'name'"));
	/* A file mapping without a file name. */
	struct ptsim_mmap_args f = { .addr = BASE, .len = 4096, .prot = RW, .kind = PTSIM_MAP_FILE };
	assert_int_equal(ptsim_mmap(m, 1, &f), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'file'"));
	/* The machine is unharmed. */
	T_OK(m, ptsim_machine_check(m));
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

static void test_api_misuse__machine_create(void **s)
{
	(void)s;
	struct ptsim_config cfg;
	struct ptsim_machine *m = (struct ptsim_machine *)&cfg;   /* must be reset to NULL on failure */
	char err[256];

	ptsim_config_init(NULL);   /* no crash */
	ptsim_config_init(&cfg);
	assert_int_equal(ptsim_machine_create(NULL, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "must not be NULL"));
	assert_int_equal(ptsim_machine_create(&m, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ptsim_machine_create(&m, NULL, NULL, 0), -EINVAL);   /* no buffer: no crash */
	cfg.version = 0;
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_null(m);
	ptsim_config_init(&cfg);
	cfg.cpus = 0;
	assert_int_equal(ptsim_machine_create(&m, &cfg, NULL, 0), PTSIM_EBADCONFIG);
	ptsim_config_init(&cfg);
	cfg.arch = (enum ptsim_arch)7;
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	ptsim_config_init(&cfg);
	cfg.preset = "no-such-kernel";
	assert_int_not_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	assert_null(m);
}

/* Lookups by index or name outside their tables: NULL or a fixed string, never a crash. */
static void test_api_misuse__static_lookups(void **s)
{
	(void)s;
	assert_null(ptsim_preset_name(ptsim_preset_count()));
	assert_null(ptsim_preset_name((size_t)-1));
	assert_null(ptsim_preset_summary(NULL));
	assert_null(ptsim_preset_summary("no-such-kernel"));
	assert_null(ptsim_preset_pairs(NULL));
	assert_null(ptsim_variant_key(ptsim_variant_count()));
	assert_null(ptsim_variant_help((size_t)-1));
	assert_null(ptsim_stat_name(ptsim_stat_count()));
	assert_string_equal(ptsim_violation_kind_name((enum ptsim_violation_kind)99), "unknown");
	assert_string_equal(ptsim_violation_kind_name((enum ptsim_violation_kind)-1), "unknown");
	assert_string_equal(ptsim_errname(12345), "EUNKNOWN");
	assert_string_equal(ptsim_strerror(-12345), "unknown error");
	ptsim_free(NULL);
}

static void test_api_misuse__traces(void **s)
{
	(void)s;
	struct ptsim_trace *t = (struct ptsim_trace *)&t;   /* must be reset to NULL on failure */
	struct ptsim_config cfg;
	char err[256];

	assert_int_equal(ptsim_trace_load(NULL, TRACE, strlen(TRACE), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out must not be NULL"));
	assert_int_equal(ptsim_trace_load(&t, NULL, 10, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "data must not be NULL"));
	assert_null(t);
	assert_int_equal(ptsim_trace_load(&t, NULL, 10, NULL, 0), -EINVAL);
	assert_int_equal(ptsim_trace_load_file(NULL, "x", err, sizeof(err)), -EINVAL);
	assert_int_equal(ptsim_trace_load_file(&t, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "path must not be NULL"));
	assert_null(t);
	assert_int_equal(ptsim_trace_load_file(&t, NULL, NULL, 0), -EINVAL);
	assert_int_not_equal(ptsim_trace_load_file(&t, "/nonexistent/trace.json", err, sizeof(err)), 0);
	assert_true(strlen(err) > 0);

	assert_int_equal(ptsim_trace_load_opts(NULL, TRACE, strlen(TRACE), NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ptsim_trace_load_file_opts(&t, NULL, NULL, err, sizeof(err)), -EINVAL);
	ptsim_trace_options_init(NULL);
	assert_int_equal(ptsim_trace_format(NULL), -EINVAL);
	assert_null(ptsim_trace_recorded(NULL));
	assert_null(ptsim_trace_op_name(ptsim_trace_op_count()));
	assert_int_equal(ptsim_trace_config(NULL, &cfg), -EINVAL);
	assert_int_equal(ptsim_trace_config_add(NULL, "pcid=on"), -EINVAL);
	ptsim_trace_free(NULL);

	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	assert_int_equal(ptsim_trace_run(NULL, m), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "not a live trace"));
	assert_int_equal(ptsim_trace_run_with(NULL, m, NULL), -EINVAL);

	T_OK(m, ptsim_trace_load(&t, TRACE, strlen(TRACE), err, sizeof(err)));
	assert_int_equal(ptsim_trace_config(t, NULL), -EINVAL);
	assert_int_equal(ptsim_trace_config_add(t, NULL), -EINVAL);
	assert_int_equal(ptsim_trace_config_add(t, "no-equals-sign"), -EINVAL);
	assert_int_equal(ptsim_trace_run(t, NULL), -EINVAL);
	assert_int_equal(ptsim_trace_run_with(t, NULL, NULL), -EINVAL);
	assert_int_equal(ptsim_trace_format(t), 1);
	T_OK(m, ptsim_trace_run(t, m));
	ptsim_trace_free(t);
	t_destroy(m);
}

/*
 * Use after free and double free of handles.  The handle's magic is cleared
 * before the memory goes back; a guard allocation keeps the freed memory from
 * being returned to the system, so that reading it is only the misuse under
 * test.  Under ASan the read itself is the (reported) error: skipped there.
 */
static void test_api_misuse__destroyed_handles(void **s)
{
	(void)s;
	if (T_ASAN) {
		print_message("skipped under ASan (it reports the use after free itself)\n");
		return;
	}
	char err[256];
	struct ptsim_trace *t;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	void *guard = malloc(64);

	T_OK(m, ptsim_spawn(m, 1, 0));
	ptsim_machine_destroy(m);
	assert_int_equal(ptsim_spawn(m, 2, 0), -EINVAL);
	assert_int_equal(ptsim_touch(m, 1, BASE, 4096, 0, true), -EINVAL);
	assert_null(ptsim_report_json(m));
	assert_string_equal(ptsim_machine_errmsg(m), "not a live machine (destroyed, or not a machine handle)");
	ptsim_machine_destroy(m);   /* double destroy: refused */

	assert_int_equal(ptsim_trace_load(&t, TRACE, strlen(TRACE), err, sizeof(err)), 0);
	ptsim_trace_free(t);
	struct ptsim_config cfg;
	assert_int_equal(ptsim_trace_config(t, &cfg), -EINVAL);
	assert_int_equal(ptsim_trace_format(t), -EINVAL);
	ptsim_trace_free(t);        /* double free: refused */
	free(guard);
}

/* A pointer that is not a handle at all (a caller's mix-up) is refused, not used. */
static void test_api_misuse__foreign_pointer(void **s)
{
	(void)s;
	uint64_t junk[512];
	struct ptsim_machine *m = (struct ptsim_machine *)(void *)junk;

	memset(junk, 0x5a, sizeof(junk));
	assert_true(check_all_int_calls(m, -EINVAL) >= 32);
	assert_int_equal(ptsim_trace_run((struct ptsim_trace *)(void *)junk, NULL), -EINVAL);
	check_all_value_calls(m);   /* ends with ptsim_machine_destroy(): refused too */
}

/*
 * A CPU holding a PMD lock holds its mm's mmap_lock for read: munmap, exit
 * (the last user), fork of a parent, mmap, mprotect, mremap, mlock and munlock
 * of that mm wait for it, so the locked table is never freed under the lock
 * (it used to be, and the lock silently went with it: a later pmd_unlock said
 * "cpu 1 holds no PMD lock").  Other mms, and madvise (mmap_lock for read),
 * go on.
 */
/*
 * Every call that takes @task's mmap_lock for write (its mapping [@addr,
 * +@len) exists; fork's child would run on @fork_cpu), but the last exit:
 * refused with PTSIM_ECPUBUSY.
 */
static void mmap_write_ops_refused(struct ptsim_machine *m, int task, unsigned int fork_cpu, uint64_t addr,
				   uint64_t len)
{
	struct ptsim_mmap_args b = { .addr = 0x80000000, .len = 1ull << 21, .prot = RW };
	struct ptsim_mmap_args replace = { .addr = addr, .len = 4096, .prot = RW, .fixed = PTSIM_MAP_REPLACE };
	struct ptsim_mmap_args chosen = { .len = 4096, .prot = RW };
	uint64_t out = 0;
	const int rcs[] = {
		ptsim_munmap(m, task, addr, len),
		ptsim_fork(m, task, 3, fork_cpu),
		ptsim_fork(m, task, 3, PTSIM_CPU_NONE),
		ptsim_mmap(m, task, &b),
		ptsim_mmap(m, task, &replace),
		ptsim_mmap_addr(m, &out, task, &chosen),
		ptsim_mprotect(m, task, addr, 4096, PTSIM_PROT_READ),
		ptsim_mremap(m, task, addr, 4096, 0x90000000),
		ptsim_mremap_flags(m, &out, task, addr, 4096, 8192, PTSIM_MREMAP_MAYMOVE, 0),
		ptsim_mlock(m, task, addr, 4096),
		ptsim_munlock(m, task, addr, 4096),
		ptsim_exec(m, task, NULL),
		ptsim_brk(m, &out, task, 0),
		ptsim_sbrk(m, &out, task, 4096),
	};
	for (size_t i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++)
		if (rcs[i] != PTSIM_ECPUBUSY)
			fail_msg("operation %zu: %s, expected PTSIM_ECPUBUSY", i, ptsim_errname(rcs[i]));
}

static void test_api_misuse__pmd_lock_blocks_table_free(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(3, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x40000000, .len = 1ull << 30, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_spawn(m, 2, 2));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 2, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, 8192, 0, true));
	T_OK(m, ptsim_touch(m, 2, a.addr, 8192, 0, true));
	T_OK(m, ptsim_pmd_lock(m, 1, 1, a.addr));
	assert_int_equal(ptsim_exit(m, 1), PTSIM_ECPUBUSY);
	mmap_write_ops_refused(m, 1, 0, a.addr, a.len);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "cpu 1 holds a PMD lock in this mm"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "pmd_unlock first"));
	/* mmap_lock for read, or another mm: not blocked. */
	T_OK(m, ptsim_madvise(m, 1, a.addr, 4096, PTSIM_MADV_DONTNEED));
	T_OK(m, ptsim_touch(m, 1, a.addr + 4096, 4096, 0, true));
	T_OK(m, ptsim_munmap(m, 2, a.addr, a.len));
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_pmd_unlock(m, 1));
	T_OK(m, ptsim_munmap(m, 1, a.addr, a.len));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(t_violations(m, PTSIM_VIOL_INTERNAL), 0);
	t_destroy(m);
}

/*
 * An RCU reader (rcu_read_begin: a pte_offset_map() user) is, like the PMD
 * lock holder, a kernel path holding its mm's mmap_lock for read: what takes
 * it for write in that mm waits, so it never frees the table under the reader.
 * Under table_free=after_flush (6.12: tables freed right after the flush IPI,
 * which does not wait for an IRQs-on reader) a munmap beside the reader used
 * to run and report [rcu_reader]; the kernel's mmap_lock makes that
 * interleaving impossible, so it is refused (PTSIM_ECPUBUSY) like the pmd_lock
 * one.  madvise (mmap_lock for read) and other mms go on; after rcu_read_end
 * the munmap runs, clean.
 */
static void test_api_misuse__rcu_reader_blocks_mmap_write(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(3, "6.12", NULL);
	struct ptsim_mmap_args a = { .addr = 0x40000000, .len = 1ull << 30, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 4, 1));
	T_OK(m, ptsim_spawn(m, 2, 2));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 2, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, 8192, 0, true));
	T_OK(m, ptsim_touch(m, 2, a.addr, 8192, 0, true));
	T_OK(m, ptsim_rcu_read_begin(m, 1, 4, a.addr));
	mmap_write_ops_refused(m, 1, 2, a.addr, a.len);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "cpu 1 is inside an RCU read section on a page table of this mm"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "rcu_read_end first"));
	/* The last user's exit (exit_mmap() takes mmap_lock for write) waits too. */
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_exit(m, 4), PTSIM_ECPUBUSY);
	T_OK(m, ptsim_run(m, 4, 0));
	/* mmap_lock for read, or another mm: not blocked. */
	T_OK(m, ptsim_madvise(m, 4, a.addr, 4096, PTSIM_MADV_DONTNEED));
	T_OK(m, ptsim_touch(m, 4, a.addr + 4096, 4096, 0, true));
	T_OK(m, ptsim_munmap(m, 2, a.addr, a.len));
	T_OK(m, ptsim_exit(m, 2));
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_rcu_read_end(m, 1));
	T_OK(m, ptsim_munmap(m, 4, a.addr, a.len));
	T_OK(m, ptsim_exit(m, 4));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_misuse__null_machine),
		cmocka_unit_test(test_api_misuse__null_pointers),
		cmocka_unit_test(test_api_misuse__machine_create),
		cmocka_unit_test(test_api_misuse__static_lookups),
		cmocka_unit_test(test_api_misuse__traces),
		cmocka_unit_test(test_api_misuse__destroyed_handles),
		cmocka_unit_test(test_api_misuse__foreign_pointer),
		cmocka_unit_test(test_api_misuse__pmd_lock_blocks_table_free),
		cmocka_unit_test(test_api_misuse__rcu_reader_blocks_mmap_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
