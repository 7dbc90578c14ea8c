/*
 * Studies with the ptsim command: `ptsim compare` (combinations, counter
 * selection, per-operation figures, errors), --list / --shard and `ptsim
 * merge` (byte-identical to the unsharded table, also through GNU parallel),
 * and the replay hooks behind them (per-op event counts, progress).
 */
#include "support/helpers.h"
#include "support/cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PTSIM_CLI
#error "PTSIM_CLI (path of the ptsim binary) must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

#define CLI(...) t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, NULL, (const char *const[]){ __VA_ARGS__, NULL })

/* 2 CPUs: a thread spins on CPU 1 while CPU 0 maps, touches and unmaps 160 times (193 events). */
#define W3 PTSIM_TRACES_DIR "/oracle/w3_munmap_spin.json"

#define EXPECT(r, st, out_needle, err_needle)                                                                  \
	do {                                                                                                   \
		if ((r).status != (st) || !strstr((r).out, out_needle) || !strstr((r).err, err_needle))         \
			fail_msg("exit %d (expected %d)\nstdout: %.3000s\nstderr: %s\nexpected \"%s\" / \"%s\"", \
				 (r).status, st, (r).out, (r).err, out_needle, err_needle);                      \
	} while (0)

struct adjust {
	const char *preset;
	unsigned int cpus;
};

static void adjust_cfg(struct ptsim_config *cfg, const void *ctx)
{
	const struct adjust *a = ctx;
	cfg->preset = a->preset;
	cfg->cpus = a->cpus;
}

/* The JSON member values.NAME of column @c. */
static uint64_t col_value(cJSON *col, const char *name)
{
	cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(col, "values"), name);
	if (!cJSON_IsNumber(v))
		fail_msg("column without %s", name);
	return (uint64_t)v->valuedouble;
}

/* Each column holds exactly what the same configuration gives in-process, in --list order. */
static void test_studies__compare_runs_every_combination(void **s)
{
	(void)s;
	static const struct adjust combos[] = { { "6.12", 2 }, { "6.12", 3 }, { "6.18.44", 2 }, { "6.18.44", 3 } };
	static const char *const labels[] = { "6.12 cpus=2", "6.12 cpus=3", "6.18.44 cpus=2", "6.18.44 cpus=3" };
	struct t_cli r = CLI("compare", W3, "--preset=6.12,6.18.44", "--cpus", "2,3", "--list");

	EXPECT(r, 0, "", "");
	assert_string_equal(r.out, "1/4\t6.12 cpus=2\n2/4\t6.12 cpus=3\n3/4\t6.18.44 cpus=2\n4/4\t6.18.44 cpus=3\n");
	t_cli_free(&r);

	r = CLI("compare", W3, "--preset=6.12,6.18.44", "--cpus", "2,3", "--json", "-e",
		"ipi.received.tlb_flush,tlb.remote.partial", "-e", "faults.total,pgtables_freed.pte", "-j", "3");
	EXPECT(r, 0, "{\"ptsim_compare\":1,", "");
	cJSON *j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "combinations")->valueint, 4);
	cJSON *rows = cJSON_GetObjectItem(j, "counters"), *cols = cJSON_GetObjectItem(j, "columns");
	assert_int_equal(cJSON_GetArraySize(rows), 4);
	assert_string_equal(cJSON_GetArrayItem(rows, 2)->valuestring, "faults.total");
	assert_int_equal(cJSON_GetArraySize(cols), 4);
	for (int i = 0; i < 4; i++) {
		cJSON *col = cJSON_GetArrayItem(cols, i);
		assert_int_equal(cJSON_GetObjectItem(col, "index")->valueint, i);
		assert_string_equal(cJSON_GetObjectItem(col, "label")->valuestring, labels[i]);
		struct ptsim_machine *m = t_run_trace_adjusted("oracle/w3_munmap_spin.json", NULL, adjust_cfg, &combos[i]);
		for (int k = 0; k < 4; k++) {
			const char *name = cJSON_GetArrayItem(rows, k)->valuestring;
			assert_int_equal(col_value(col, name), t_stat(m, name));
		}
		t_destroy(m);
	}
	/* The figures the trace is known for: 164 shootdown IPIs, 160 PTE tables freed. */
	assert_int_equal(col_value(cJSON_GetArrayItem(cols, 0), "ipi.received.tlb_flush"), 164);
	assert_int_equal(col_value(cJSON_GetArrayItem(cols, 0), "pgtables_freed.pte"), 160);
	cJSON_Delete(j);
	t_cli_free(&r);
}

/* The order of the threads does not show: -j 1 and -j 4 print the same bytes. */
static void test_studies__compare_is_deterministic_across_jobs(void **s)
{
	(void)s;
	struct t_cli a = CLI("compare", W3, "--set", "pt_reclaim=on,off", "--cpus=2,4", "-j1");
	struct t_cli b = CLI("compare", W3, "--set", "pt_reclaim=on,off", "--cpus=2,4", "-j", "4");

	EXPECT(a, 0, "pt_reclaim=off cpus=4", "");
	assert_string_equal(a.out, b.out);
	t_cli_free(&a);
	t_cli_free(&b);
}

/* --per munmap: counts divided by the 160 munmap events; levels and violations are not. */
static void test_studies__compare_per_operation(void **s)
{
	(void)s;
	struct t_cli r = CLI("compare", W3, "--per", "munmap", "-e",
			     "ipi.received.tlb_flush,vmpte_kb@munmap_1_before,violations,faults.total", "--json");
	EXPECT(r, 0, "\"per\":\"munmap\"", "");
	cJSON *j = cJSON_Parse(r.out);
	assert_non_null(j);
	cJSON *col = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "columns"), 0);
	assert_int_equal(cJSON_GetObjectItem(col, "per_events")->valueint, 160);
	assert_int_equal(col_value(col, "ipi.received.tlb_flush"), 164);
	cJSON *per = cJSON_GetObjectItem(col, "per_op");
	assert_true(cJSON_GetObjectItem(per, "ipi.received.tlb_flush")->valuedouble == 1.025);
	assert_true(cJSON_GetObjectItem(per, "faults.total")->valuedouble == 512.0);
	assert_null(cJSON_GetObjectItem(per, "vmpte_kb@munmap_1_before"));
	assert_null(cJSON_GetObjectItem(per, "violations"));
	cJSON_Delete(j);
	t_cli_free(&r);

	r = CLI("compare", W3, "--per=munmap", "-e", "ipi.received.tlb_flush,vmpte_kb@munmap_1_before,violations");
	EXPECT(r, 0, "", "");
	assert_string_equal(r.out,
			    "# ptsim compare: " W3 ": 1 combination; counts per munmap event\n"
			    "counter                   w3_munmap_spin\n"
			    "munmap events                        160\n"
			    "ipi.received.tlb_flush              1.02\n"
			    "vmpte_kb@munmap_1_before             136\n"
			    "violations                             0\n");
	t_cli_free(&r);
}

/* -e picks the rows in its order (shown even when 0); without -e, zero default rows are left out of the text. */
static void test_studies__compare_counter_selection(void **s)
{
	(void)s;
	struct t_cli r = CLI("compare", W3, "-e", "tlb.invlpgb,tlb.flush_requests@munmap_1_before..munmap_1_after", "--csv");
	EXPECT(r, 0, "", "");
	assert_string_equal(r.out, "counter,w3_munmap_spin\ntlb.invlpgb,0\n"
				   "tlb.flush_requests@munmap_1_before..munmap_1_after,31\n");
	t_cli_free(&r);

	r = CLI("compare", W3, "--set", "x86_flush=ipi,invlpgb,arch=arm64");
	EXPECT(r, 0, "x86_flush=ipi  x86_flush=invlpgb  arch=arm64\n", "");
	assert_non_null(strstr(r.out, "\nipi.received.tlb_flush "));
	assert_non_null(strstr(r.out, "\ntlbi.vale1is "));      /* arm64 column: its TLBIs */
	assert_null(strstr(r.out, "tlb.invlpgb"));              /* 0 everywhere: left out */
	assert_non_null(strstr(r.out, "\nviolations "));        /* always shown */
	t_cli_free(&r);
	r = CLI("compare", W3, "--set", "x86_flush=ipi,invlpgb,arch=arm64", "--json");
	assert_non_null(strstr(r.out, "\"tlb.invlpgb\""));     /* JSON keeps every row */
	assert_non_null(strstr(r.out, "\"arch\":\"arm64\""));
	t_cli_free(&r);
	/* An x86-only study has no arm64 rows. */
	r = CLI("compare", W3, "--json");
	assert_null(strstr(r.out, "tlbi."));
	t_cli_free(&r);
}

/* Unknown counters, values, ops, marks and shards are refused before or after the run, with nothing on stdout. */
static void test_studies__compare_errors(void **s)
{
	(void)s;
	static const char *const cases[][6] = {
		{ "-e", "ipi.received.tlb_flsh", "unknown counter 'ipi.received.tlb_flsh'", NULL },
		{ "-e", "vmpte_kb@a..b", "vmpte_kb is a level, not a count", NULL },
		{ "-e", "faults.total@", "expected NAME@MARK", NULL },
		{ "-e", "faults.total@no_such_mark", "the trace has no mark 'no_such_mark'", NULL },
		{ "-e", "tlb.flush_requests@munmap_1_after..munmap_1_before", "went down from mark", NULL },
		{ "--set", "x86_flush=ipi,pigeon", "(x86_flush=pigeon): machine: variant x86_flush: unknown value 'pigeon'", NULL },
		{ "--set", "no_such_key=1", "unknown variant key 'no_such_key'", NULL },
		{ "--set", "ipi", "expected KEY=VALUE first", NULL },
		{ "--preset", "6.12,2.6.32", "unknown preset '2.6.32'", NULL },
		{ "--cpus", "2,0", "cpus=0: expected a positive integer", NULL },
		{ "--cpus", "1", "--cpus 1 removed a CPU this trace names by number", NULL },
		{ "--arch", "sparc", "arch=sparc: expected x86_64 or arm64", NULL },
		{ "--per", "munmapp", "--per munmapp: not an op of the trace format", NULL },
		{ "--shard", "0/3", "--shard 0/3: expected K/N", NULL },
		{ "--shard", "4/3", "--shard 4/3: expected K/N", NULL },
		{ "-j", "0", "-j 0: expected a number of jobs", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_cli r = CLI("compare", W3, cases[i][0], cases[i][1]);
		EXPECT(r, 2, "", cases[i][2]);
		assert_int_equal(r.out_len, 0);
		t_cli_free(&r);
	}
	struct t_cli r = CLI("compare", "--preset", "6.12");
	EXPECT(r, 2, "", "no trace given");
	t_cli_free(&r);
	r = CLI("compare", PTSIM_TEST_TMPDIR "/no_such.json");
	EXPECT(r, 2, "", "no_such.json: No such file or directory");
	assert_null(strstr(r.err, "no_such.json: " PTSIM_TEST_TMPDIR));
	t_cli_free(&r);
}

/* A version 2 trace (JSON Lines, read while it runs) is loaded again for each combination. */
static void test_studies__compare_v2_traces(void **s)
{
	(void)s;
	char path[1024];
	snprintf(path, sizeof(path), "%s/studies_v2.jsonl", PTSIM_TEST_TMPDIR);
	t_write_file(path, "{\"ptsim_trace\":2,\"machine\":{\"cpus\":2}}\n"
			   "{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n"
			   "{\"op\":\"thread\",\"task\":1,\"thread\":2,\"cpu\":1}\n"
			   "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\"}\n"
			   "{\"op\":\"repeat\",\"count\":3,\"events\":[{\"op\":\"touch\",\"task\":1,"
			   "\"addr\":\"0x100000\",\"len\":\"64K\",\"write\":true},{\"op\":\"madvise\",\"task\":1,"
			   "\"addr\":\"0x100000\",\"len\":\"64K\",\"advice\":\"dontneed\"}]}\n");
	struct t_cli r = CLI("compare", path, "--set", "pt_reclaim=on,off", "--cpus", "2,4", "--per", "madvise", "-e",
			     "tlb.flush_requests,faults.total", "--csv");
	EXPECT(r, 0, "", "");
	assert_string_equal(r.out, "counter,pt_reclaim=on cpus=2,pt_reclaim=on cpus=4,pt_reclaim=off cpus=2,"
				   "pt_reclaim=off cpus=4\nmadvise events,3,3,3,3\n"
				   "tlb.flush_requests,1.0000,1.0000,1.0000,1.0000\n"
				   "faults.total,16.0000,16.0000,16.0000,16.0000\n");
	t_cli_free(&r);
	r = t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, path,
		      (const char *const[]){ "compare", "-", "--cpus", "2,4", NULL });
	EXPECT(r, 2, "", "a version 2 trace on standard input runs once");
	t_cli_free(&r);
}

/* Two traces are an axis too: the label names the trace. */
static void test_studies__compare_several_traces(void **s)
{
	(void)s;
	struct t_cli r = CLI("compare", W3, PTSIM_TRACES_DIR "/oracle/w3_munmap_none.json", "--preset", "6.12,6.18.44",
			     "--list");
	EXPECT(r, 0, "", "");
	assert_string_equal(r.out, "1/4\tw3_munmap_spin 6.12\n2/4\tw3_munmap_spin 6.18.44\n"
				   "3/4\tw3_munmap_none 6.12\n4/4\tw3_munmap_none 6.18.44\n");
	t_cli_free(&r);
}

static char *shard_path(const char *name, unsigned int k)
{
	char *p = malloc(1024);
	assert_non_null(p);
	snprintf(p, 1024, "%s/studies_%s_%u.json", PTSIM_TEST_TMPDIR, name, k);
	return p;
}

/* The shards' JSON, merged, prints the unsharded table byte for byte, in every format. */
static void test_studies__shards_merge_to_the_unsharded_table(void **s)
{
	(void)s;
	char *paths[4];
	for (unsigned int k = 1; k <= 3; k++) {
		char shard[16];
		snprintf(shard, sizeof(shard), "%u/3", k);
		paths[k] = shard_path("merge", k);
		struct t_cli r = CLI("compare", W3, "--preset", "6.12,6.18.44", "--cpus", "2,3,4", "--per", "munmap",
				     "--shard", shard, "--json", "-o", paths[k]);
		EXPECT(r, 0, "", "");
		t_cli_free(&r);
	}
	static const char *const formats[] = { "--json", "--csv", "--per" };
	for (size_t f = 0; f < 3; f++) {
		/* "--per" stands for the text table here (merge has no --per: the shards say it). */
		struct t_cli whole = f < 2 ? CLI("compare", W3, "--preset", "6.12,6.18.44", "--cpus", "2,3,4", "--per",
						 "munmap", formats[f])
					   : CLI("compare", W3, "--preset", "6.12,6.18.44", "--cpus", "2,3,4", "--per",
						 "munmap");
		/* The shards in any order. */
		struct t_cli merged = f < 2 ? CLI("merge", paths[3], paths[1], paths[2], formats[f])
					    : CLI("merge", paths[2], paths[3], paths[1]);
		EXPECT(whole, 0, "", "");
		EXPECT(merged, 0, "", "");
		assert_int_equal(whole.out_len, merged.out_len);
		assert_memory_equal(whole.out, merged.out, whole.out_len);
		t_cli_free(&whole);
		t_cli_free(&merged);
	}
	/* A missing shard, a shard twice, a shard of another study: refused. */
	struct t_cli r = CLI("merge", paths[1], paths[3]);
	EXPECT(r, 2, "", "missing combinations (a shard not given, or not run): 2/6 5/6 (2 of 6)");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI("merge", paths[1], paths[2], paths[3], paths[2]);
	EXPECT(r, 2, "", "is in two shards");
	t_cli_free(&r);
	char *other = shard_path("other", 1);
	r = CLI("compare", W3, "--preset", "6.12,6.18.44", "--cpus", "2,3,4", "--shard", "2/3", "--json", "-o", other);
	t_cli_free(&r);
	r = CLI("merge", paths[1], other, paths[3]);
	EXPECT(r, 2, "", "this shard divides by another op (--per) than the first");
	t_cli_free(&r);
	r = CLI("merge", W3);
	EXPECT(r, 2, "", "not a 'ptsim compare --json' output");
	t_cli_free(&r);
	free(other);
	for (unsigned int k = 1; k <= 3; k++)
		free(paths[k]);
}

/* The job list through GNU parallel, merged: the same bytes as the one-machine run. */
static void test_studies__gnu_parallel_sweep_merges_byte_identical(void **s)
{
	(void)s;
	char cmd[4096], dir[1024];

	if (system("parallel --version >/dev/null 2>&1")) {
		fail_msg("GNU parallel is not installed (scripts/deps.sh installs it)");
	}
	snprintf(dir, sizeof(dir), "%s/studies_parallel", PTSIM_TEST_TMPDIR);
	snprintf(cmd, sizeof(cmd),
		 "set -e; rm -rf '%s'; mkdir -p '%s'; cd '%s'; "
		 "STUDY='" W3 " --set pt_reclaim=on,off --cpus 2,4 --per munmap'; "
		 "'%s' compare $STUDY --list | cut -f1 | "
		 "parallel --will-cite -j 2 \"'%s' compare $STUDY --shard {} --json -o shard.{#}.json\"; "
		 "test $(ls shard.*.json | wc -l) = 4; "
		 "'%s' merge shard.*.json > merged.txt; '%s' compare $STUDY > whole.txt; cmp merged.txt whole.txt",
		 dir, dir, dir, PTSIM_CLI, PTSIM_CLI, PTSIM_CLI, PTSIM_CLI);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/whole.txt", dir);
	char *whole = t_read_file(cmd, NULL);
	assert_non_null(whole);
	assert_non_null(strstr(whole, "pt_reclaim=off cpus=4"));
	free(whole);
}

/* ---- plots ---- */

static char *tmp_file(const char *name)
{
	char *p = malloc(1024);
	assert_non_null(p);
	snprintf(p, 1024, "%s/studies_%s", PTSIM_TEST_TMPDIR, name);
	unlink(p);
	return p;
}

/* A valid SVG with @series plotted series (gnuplot numbers them gnuplot_plot_N). */
static void check_svg(const char *data, size_t len, size_t series)
{
	size_t n = 0;

	if (len < 1000 || strncmp(data, "<?xml", 5) || !strstr(data, "<svg") || !strstr(data, "</svg>"))
		fail_msg("not an SVG picture (%zu bytes): %.200s", len, data);
	for (const char *p = data; (p = strstr(p, "<g id=\"gnuplot_plot_")); p++)
		n++;
	if (n != series)
		fail_msg("%zu series in the SVG, expected %zu", n, series);
}

static void check_svg_file(const char *path, size_t series)
{
	size_t len;
	char *data = t_read_file(path, &len);
	if (!data)
		fail_msg("%s was not written", path);
	check_svg(data, len, series);
	free(data);
}

static void check_png_file(const char *path)
{
	size_t len;
	char *data = t_read_file(path, &len);
	if (!data)
		fail_msg("%s was not written", path);
	if (len < 2000 || memcmp(data, "\x89PNG\r\n\x1a\n", 8) || memcmp(data + len - 8, "IEND", 4))
		fail_msg("%s is not a PNG picture (%zu bytes)", path, len);
	free(data);
}

/* Timelines of two runs as lines: one series per file and column; PNG and SVG on standard output. */
static void test_studies__plot_timelines(void **s)
{
	(void)s;
	char *on = tmp_file("w3_on.csv"), *off = tmp_file("w3_off.csv"), *svg = tmp_file("lines.svg");
	char *png = tmp_file("lines.png");
	struct t_cli r = CLI("run", W3, "--timeline", on, "--set", "pt_reclaim=on");
	EXPECT(r, 0, "", "");
	t_cli_free(&r);
	r = CLI("run", W3, "--timeline", off, "--set", "pt_reclaim=off");
	t_cli_free(&r);

	r = CLI("plot", on, off, "-o", svg);
	EXPECT(r, 0, "", "");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	check_svg_file(svg, 2);
	char *data = t_read_file(svg, NULL);
	assert_non_null(strstr(data, "munmap_1_before"));   /* the marks are named */
	free(data);
	r = CLI("plot", on, off, "-y", "vmpte_kb,tlb.flush_requests", "-o", png);
	EXPECT(r, 0, "", "");
	t_cli_free(&r);
	check_png_file(png);
	r = CLI("plot", on, "-y", "vmpte_kb,tlb.flush_requests,faults.total", "-o", "-", "--title", "three");
	EXPECT(r, 0, "<svg", "");
	check_svg(r.out, r.out_len, 3);
	assert_non_null(strstr(r.out, "three"));
	t_cli_free(&r);
	free(on);
	free(off);
	free(svg);
	free(png);
}

/* run --plot, compare --plot (bars, a series per combination) and --plot-timeline (a line per combination). */
static void test_studies__plot_from_run_and_compare(void **s)
{
	(void)s;
	char *svg = tmp_file("run.svg"), *bars = tmp_file("bars.svg"), *lines = tmp_file("tl.svg");
	char *json = tmp_file("cmp.json"), *png = tmp_file("cmp.png");

	struct t_cli r = CLI("run", W3, "--plot", svg, "--plot-y", "vmpte_kb,ipi.received.tlb_flush");
	EXPECT(r, 0, "violations: 0", "");
	t_cli_free(&r);
	check_svg_file(svg, 2);
	r = CLI("compare", W3, "--set", "x86_flush=ipi,invlpgb,arch=arm64", "--per", "munmap", "--plot", bars,
		"--json", "-o", json);
	EXPECT(r, 0, "", "");
	t_cli_free(&r);
	check_svg_file(bars, 3);
	r = CLI("plot", json, "-o", png);
	EXPECT(r, 0, "", "");
	t_cli_free(&r);
	check_png_file(png);
	r = CLI("compare", W3, "--cpus", "2,3", "--set", "pt_reclaim=on,off", "--plot", lines, "--plot-timeline",
		"vmpte_kb");
	EXPECT(r, 0, "pt_reclaim=off", "");
	t_cli_free(&r);
	check_svg_file(lines, 4);
	free(svg);
	free(bars);
	free(lines);
	free(json);
	free(png);
}

static void test_studies__plot_errors(void **s)
{
	(void)s;
	char *csv = tmp_file("err.csv"), cmd[4096];
	struct t_cli r = CLI("run", W3, "--timeline", csv);
	t_cli_free(&r);

	r = CLI("plot", csv, "-o", "x.pdf");
	EXPECT(r, 2, "", "a plot is FILE.svg or FILE.png");
	t_cli_free(&r);
	r = CLI("plot", csv);
	EXPECT(r, 2, "", "where to?");
	t_cli_free(&r);
	r = CLI("plot", csv, "-y", "no_such", "-o", "-");
	EXPECT(r, 2, "", "the timeline has no column 'no_such'");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI("plot", W3, "-o", "-");
	EXPECT(r, 2, "", "neither a timeline");
	t_cli_free(&r);
	r = CLI("run", W3, "--plot", "-", "--plot-y", "nope");
	EXPECT(r, 2, "", "--plot-y nope: the timeline has no column 'nope'");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI("run", W3, "--plot", "-", "--timeline", "-");
	EXPECT(r, 2, "", "cannot both go to standard output");
	t_cli_free(&r);
	r = CLI("run", W3, "--plot", "-");
	EXPECT(r, 0, "<svg", "");
	check_svg(r.out, r.out_len, 1);
	t_cli_free(&r);
	r = CLI("compare", W3, "--plot-timeline", "vmpte_kb");
	EXPECT(r, 2, "", "--plot-timeline vmpte_kb: goes with --plot FILE");
	t_cli_free(&r);
	/* Without gnuplot: status 1, said, and nothing on standard output (not even the report). */
	snprintf(cmd, sizeof(cmd), "PATH=/nonexistent '%s' run '%s' --plot - -o /dev/null >%s.out 2>%s.err; "
		 "test $? = 1 && test ! -s %s.out && grep -q 'cannot run gnuplot' %s.err", PTSIM_CLI, W3, csv, csv,
		 csv, csv);
	assert_int_equal(system(cmd), 0);
	free(csv);
}

/* ---- progress ---- */

/* A trace of @rounds x (fault in 8 MiB, MADV_DONTNEED it): 2048 faults a round. */
static char *long_trace(unsigned int rounds)
{
	char *path = tmp_file("long.json"), json[1024];
	snprintf(json, sizeof(json),
		 "{\"ptsim_trace\":1,\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
		 "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x40000000\",\"len\":\"8M\",\"prot\":\"rw\"},"
		 "{\"op\":\"repeat\",\"count\":%u,\"events\":["
		 "{\"op\":\"touch\",\"task\":1,\"addr\":\"0x40000000\",\"len\":\"8M\",\"write\":true},"
		 "{\"op\":\"madvise\",\"task\":1,\"addr\":\"0x40000000\",\"len\":\"8M\","
		 "\"advice\":\"dontneed\"}]}]}", rounds);
	t_write_file(path, json);
	return path;
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The rounds of a trace that runs for about 1.5 s in this build on this
 * machine (progress shows after 0.5 s): 200 rounds are timed, then scaled.
 * A sanitizer or checker build gets fewer rounds, not a longer test.
 */
static unsigned int timed_rounds(void)
{
	char *path = long_trace(200);
	double t0 = seconds_now();
	struct t_cli r = CLI("run", path, "-o", "/dev/null");
	double took = seconds_now() - t0;
	assert_int_equal(r.status, 0);
	t_cli_free(&r);
	free(path);
	double rounds = 200 * 1.5 / (took > 0.001 ? took : 0.001);
	return rounds < 200 ? 200 : rounds > 200000 ? 200000 : (unsigned int)rounds;
}

/* Run @args under script(1): standard output and error are a pseudo-terminal; their bytes in @out, the wall time in *@took. */
static char *on_pty(const char *args, double *took)
{
	char cmd[4096], *out = tmp_file("pty.out");
	snprintf(cmd, sizeof(cmd), "script -qfec \"'%s' %s\" /dev/null > '%s' 2>&1", PTSIM_CLI, args, out);
	double t0 = seconds_now();
	if (system(cmd) != 0)
		fail_msg("script(1) failed: %s", cmd);
	if (took)
		*took = seconds_now() - t0;
	char *text = t_read_file(out, NULL);
	assert_non_null(text);
	free(out);
	return text;
}

/*
 * On a terminal, `ptsim @fmt` (%s: a long trace) must show the progress line
 * @a, @b and @c.  The trace was timed to run about 1.5 s, but a loaded machine
 * may have timed it slow: a run that ended within 1 s (the first line is due
 * after 0.5 s) is tried again with a trace three times longer, up to 3 times.
 * A run of a second or more with no line fails.  The trace's path in *@trace,
 * longer after a retry.
 */
static void progress_shown(char **trace, unsigned int *rounds, const char *fmt, const char *a, const char *b,
			   const char *c)
{
	for (int tries = 0;; tries++) {
		char args[2048];
		double took;
		snprintf(args, sizeof(args), fmt, *trace);
		char *tty = on_pty(args, &took);
		bool shown = strstr(tty, a) && strstr(tty, b) && strstr(tty, c);
		if (!shown && (took >= 1.0 || tries == 3))
			fail_msg("no progress line on the terminal in %.2f s:\n%.2000s", took, tty);
		if (shown && strstr(args, "run ") == args)
			assert_non_null(strstr(tty, "violations: 0"));
		free(tty);
		if (shown)
			return;
		free(*trace);
		*rounds = *rounds * 3 > 200000 ? 200000 : *rounds * 3;
		*trace = long_trace(*rounds);
	}
}

static void test_studies__progress_on_a_terminal_only(void **s)
{
	(void)s;
	unsigned int rounds = timed_rounds();
	char *trace = long_trace(rounds), args[2048];

	/* A terminal: a line rewritten in place ('\r'), the last one kept, then the report. */
	progress_shown(&trace, &rounds, "run '%s'", "\rptsim: ", " events/s, ", " events (100%)");
	snprintf(args, sizeof(args), "run '%s' --no-progress", trace);
	char *tty = on_pty(args, NULL);
	assert_null(strstr(tty, "events/s"));
	assert_non_null(strstr(tty, "violations: 0"));
	free(tty);
	progress_shown(&trace, &rounds, "compare '%s' --set pt_reclaim=on,off -j 1", "\rptsim compare: ",
		       "2 of 2 combinations done", "");

	/* A pipe: nothing, unless asked; then whole lines, no '\r'. */
	struct t_cli r = CLI("run", trace, "-o", "/dev/null");
	EXPECT(r, 0, "", "");
	assert_string_equal(r.err, "");
	t_cli_free(&r);
	r = CLI("run", W3, "--progress", "--json");
	EXPECT(r, 0, "\"violations\":[]", "ptsim: " W3 ": 193 of 193 events (100%), ");
	assert_null(strchr(r.err, '\r'));
	assert_int_equal(r.err[strlen(r.err) - 1], '\n');
	assert_null(strstr(r.out, "events/s"));
	t_cli_free(&r);
	r = CLI("compare", W3, "--set", "pt_reclaim=on,off", "-e", "faults.total", "--progress");
	EXPECT(r, 0, "faults.total", "ptsim compare: 2 of 2 combinations done, 0 running, 386 events, ");
	t_cli_free(&r);
	free(trace);
}

/* The replay hooks: events by op, and progress reports with the total known in advance. */
struct progress_log {
	uint64_t calls, last_done, total;
	bool monotonic;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_log *p = ctx;
	if (done < p->last_done)
		p->monotonic = false;
	p->calls++;
	p->last_done = done;
	p->total = total;
}

/* Load a trace (@json, or the file @path), build its machine, run it with @h; the machine for more checks. */
static struct ptsim_machine *run_hooked(const char *json, const char *path, const struct ptsim_trace_hooks *h)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512];

	if (json)
		assert_int_equal(ptsim_trace_load(&t, json, strlen(json), err, sizeof(err)), 0);
	else
		assert_int_equal(ptsim_trace_load_file(&t, path, err, sizeof(err)), 0);
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	assert_int_equal(ptsim_trace_run_with(t, m, h), 0);
	ptsim_trace_free(t);
	return m;
}

static void test_studies__run_hooks_count_ops_and_progress(void **s)
{
	(void)s;
	uint64_t *ops = calloc(ptsim_trace_op_count(), sizeof(uint64_t));
	struct progress_log log = { .monotonic = true };
	struct ptsim_trace_hooks h = { .progress = on_progress, .ctx = &log, .progress_every = 50, .op_events = ops };

	assert_non_null(ops);
	struct ptsim_machine *m = run_hooked(NULL, W3, &h);
	uint64_t total = 0;
	for (size_t i = 0; i < ptsim_trace_op_count(); i++) {
		total += ops[i];
		if (!strcmp(ptsim_trace_op_name(i), "munmap"))
			assert_int_equal(ops[i], 160);
		if (!strcmp(ptsim_trace_op_name(i), "repeat"))
			assert_int_equal(ops[i], 0);
	}
	assert_null(ptsim_trace_op_name(ptsim_trace_op_count()));
	/* 193 events: reports after 50, 100, 150 and at the end. */
	assert_int_equal(total, 193);
	assert_int_equal(log.total, 193);
	assert_int_equal(log.last_done, 193);
	assert_int_equal(log.calls, 4);
	assert_true(log.monotonic);
	char *json = ptsim_report_json(m);
	assert_non_null(strstr(json, "\"events\":193,"));
	ptsim_free(json);
	t_destroy(m);
	free(ops);
}

/* Nested repeats multiply out: the total is known before the run. */
static void test_studies__progress_total_of_nested_repeats(void **s)
{
	(void)s;
	static const char json[] =
		"{\"ptsim_trace\":1,\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
		"{\"op\":\"repeat\",\"count\":3,\"events\":[{\"op\":\"mark\",\"name\":\"a\"},"
		"{\"op\":\"repeat\",\"count\":2,\"events\":[{\"op\":\"mark\",\"name\":\"m\"}]}]}]}";
	struct progress_log log = { .monotonic = true };
	struct ptsim_trace_hooks h = { .progress = on_progress, .ctx = &log, .progress_every = 1 };

	struct ptsim_machine *m = run_hooked(json, NULL, &h);
	/* 1 spawn + 3 x (1 + 2) marks; a report after each, and one at the end. */
	assert_int_equal(log.last_done, 10);
	assert_int_equal(log.total, 10);
	assert_int_equal(log.calls, 11);
	assert_true(log.monotonic);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_studies__compare_runs_every_combination),
		cmocka_unit_test(test_studies__compare_is_deterministic_across_jobs),
		cmocka_unit_test(test_studies__compare_per_operation),
		cmocka_unit_test(test_studies__compare_counter_selection),
		cmocka_unit_test(test_studies__compare_errors),
		cmocka_unit_test(test_studies__compare_v2_traces),
		cmocka_unit_test(test_studies__compare_several_traces),
		cmocka_unit_test(test_studies__shards_merge_to_the_unsharded_table),
		cmocka_unit_test(test_studies__gnu_parallel_sweep_merges_byte_identical),
		cmocka_unit_test(test_studies__plot_timelines),
		cmocka_unit_test(test_studies__plot_from_run_and_compare),
		cmocka_unit_test(test_studies__plot_errors),
		cmocka_unit_test(test_studies__progress_on_a_terminal_only),
		cmocka_unit_test(test_studies__run_hooks_count_ops_and_progress),
		cmocka_unit_test(test_studies__progress_total_of_nested_repeats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
