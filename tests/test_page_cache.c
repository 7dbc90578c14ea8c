/*
 * The page cache a trace can declare (ptsim_file_cache(), trace op "cache"):
 * a read fault maps the cached neighbours of its page by fault-around, as
 * the kernel does for pages already in the page cache, and only those.
 */
#include <errno.h>
#include <string.h>

#include "support/helpers.h"

#define BASE 0x100000000000ull

static struct ptsim_mmap_args file_map(const char *name)
{
	struct ptsim_mmap_args a = { .addr = BASE, .len = 1 << 20, .prot = PTSIM_PROT_READ, .kind = PTSIM_MAP_FILE,
				     .file = name };
	return a;
}

/* A cached file: one read fault maps the whole aligned 64 KiB window (16 pages). */
static void test_page_cache__fault_around_maps_cached_pages(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = file_map("lib");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_file_cache(m, "lib", PTSIM_MAP_FILE, 0, 1 << 20));
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);   /* cached is not mapped */
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, BASE + 5 * 4096, 1, 0, false));
	assert_int_equal(t_stat(m, "faults.file"), 1);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 64);
	/* Pages 0..15 are mapped now: touching them faults no more. */
	T_OK(m, ptsim_touch(m, 1, BASE, 64 << 10, 0, false));
	assert_int_equal(t_stat(m, "faults.file"), 1);
	t_destroy(m);
}

/* Only the cached part: pages 0..3 cached, a fault on page 8 maps 8 and 0..3. */
static void test_page_cache__only_cached_pages(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = file_map("lib");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_file_cache(m, "lib", PTSIM_MAP_FILE, 0, 4 * 4096));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, BASE + 8 * 4096, 1, 0, false));
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 5 * 4);
	/* Without a cache, the same fault maps one page. */
	struct ptsim_mmap_args b = file_map("cold");
	b.addr = BASE + (1 << 30);
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_touch(m, 1, b.addr + 8 * 4096, 1, 0, false));
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 5 * 4 + 4);
	t_destroy(m);
}

static void test_page_cache__errors(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_ANON, 0, 4096), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "field 'kind'"));
	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_HUGETLB, 0, 1 << 21), -EINVAL);
	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_FILE, 100, 4096), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "field 'offset'"));
	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_FILE, 0, 0), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "field 'len'"));
	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_FILE, 4096, UINT64_MAX - 4095), -ERANGE);
	T_OK(m, ptsim_file_cache(m, "f", PTSIM_MAP_SHMEM, 0, 4096));
	assert_int_equal(ptsim_file_cache(m, "f", PTSIM_MAP_FILE, 0, 4096), -EEXIST);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "exists with another kind"));
	assert_int_equal(ptsim_file_cache(m, NULL, PTSIM_MAP_FILE, 0, 4096), -EINVAL);
	t_destroy(m);
}

static void test_page_cache__trace_op(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	static const char ok[] =
		"{\"ptsim_trace\":1,\"events\":["
		"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
		"{\"op\":\"cache\",\"file\":\"lib\",\"len\":\"1M\"},"
		"{\"op\":\"cache\",\"file\":\"shm\",\"kind\":\"shmem\",\"offset\":\"4K\",\"len\":\"4K\"},"
		"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":\"1M\",\"prot\":\"r\",\"kind\":\"file\",\"file\":\"lib\"},"
		"{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":1}]}";
	T_OK(m, t_run_json(ok, &m, err, sizeof(err)));
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 64);
	t_destroy(m);
	m = NULL;
	static const char bad[] = "{\"ptsim_trace\":1,\"events\":[{\"op\":\"cache\",\"file\":\"lib\"}]}";
	assert_int_equal(t_run_json(bad, &m, err, sizeof(err)), PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "(cache)"));
	assert_non_null(strstr(err, "missing field 'len'"));
	ptsim_machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_cache__fault_around_maps_cached_pages),
		cmocka_unit_test(test_page_cache__only_cached_pages),
		cmocka_unit_test(test_page_cache__errors),
		cmocka_unit_test(test_page_cache__trace_op),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
