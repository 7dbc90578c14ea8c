/*
 * libFuzzer target: trace load + replay (docs/reliability.md).
 *
 * Each input is a trace text.  It is loaded (parse errors are fine: they must
 * only be clean errors), and a trace that loads and whose estimated work is
 * under the caps below is replayed on a machine built from its own machine
 * section.  A finding is: a crash or sanitizer report, a leak (LeakSanitizer),
 * an internal simulator error (a NEVER() or a [internal] violation), a
 * check_mm() report (a trace cannot corrupt RSS counters), a consistency
 * checker failure after the run, or an error code the API does not document.
 *
 * Caps keep each input fast and small, so that the fuzzer explores instead
 * of simulating terabytes: inputs over FUZZ_MAX_INPUT bytes are skipped, and
 * so are traces whose estimated work (accesses, pages populated or locked,
 * page-table ranges walked, copies at fork) exceeds FUZZ_MAX_WORK.  The
 * library's own limits (docs/reliability.md) are what a user relies on; these
 * are only the harness's time budget.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptsim/ptsim.h"
#include "trace/trace_internal.h"

#define FUZZ_MAX_INPUT (64u * 1024u)
#define FUZZ_MAX_WORK 200000u
#define FUZZ_MAX_CPUS 64u
#define SMALLEST_PAGE 4096u

struct budget {
	uint64_t work;      /* estimated work so far */
	uint64_t resident;  /* pages that may be populated (what fork and exit walk) */
};

/* a + b, saturating at FUZZ_MAX_WORK + 1 (over the cap is all we need to know). */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t s = a + b;
	return s < a || s > FUZZ_MAX_WORK ? FUZZ_MAX_WORK + 1 : s;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	if (a && b > (FUZZ_MAX_WORK + 1) / a)
		return FUZZ_MAX_WORK + 1;
	return add_sat(0, a * b);
}

/* Pages of @len, and page-table spans of it (a PMD's range is at least 2 MiB with 4K pages). */
static uint64_t pages(uint64_t len) { return len / SMALLEST_PAGE + 1; }
static uint64_t spans(uint64_t len) { return (len >> 21) + 1; }

/*
 * Estimated work of @n events run once.  Repeat steps move addresses, never
 * lengths or counts, so one pass over the body times its count is the bound.
 */
static void estimate(struct budget *b, const struct tevent *ev, size_t n)
{
	for (size_t i = 0; i < n && b->work <= FUZZ_MAX_WORK; i++) {
		const struct tevent *e = &ev[i];
		uint64_t len = e->num[F_LEN];
		uint64_t w = 1;

		switch (e->op) {
		case OP_REPEAT: {
			struct budget body = { 0, 0 };
			estimate(&body, e->body, e->nr_body);
			b->work = add_sat(b->work, mul_sat(body.work, e->num[F_COUNT]));
			b->resident = add_sat(b->resident, mul_sat(body.resident, e->num[F_COUNT]));
			continue;
		}
		case OP_TOUCH: {
			uint64_t stride = e->num[F_STRIDE] ? e->num[F_STRIDE] : SMALLEST_PAGE;
			w = len / stride + 1;
			b->resident = add_sat(b->resident, w);
			break;
		}
		case OP_TOUCH_RANDOM:
			w = e->num[F_COUNT];
			b->resident = add_sat(b->resident, w);
			break;
		case OP_MMAP:
			w = e->populate ? pages(len) : spans(len);
			if (e->populate)
				b->resident = add_sat(b->resident, w);
			break;
		case OP_MLOCK:
			w = pages(len);
			b->resident = add_sat(b->resident, w);
			break;
		case OP_MADVISE:
			w = e->advice == PTSIM_MADV_GUARD_INSTALL || e->advice == PTSIM_MADV_GUARD_REMOVE ? pages(len)
													      : spans(len);
			break;
		case OP_MUNMAP:
		case OP_MPROTECT:
		case OP_MUNLOCK:
		case OP_SWAPOUT:
		case OP_MREMAP:
			w = spans(len) + b->resident;
			break;
		case OP_FORK:
		case OP_EXIT:
			w = b->resident + 1;
			break;
		default:
			break;
		}
		b->work = add_sat(b->work, w);
	}
}

/* Codes the API documents (errors.h: ptsim_errname() knows them all); anything else is a finding. */
static int known_code(int rc)
{
	return strcmp(ptsim_errname(rc), "EUNKNOWN") != 0;
}

static void finding(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_trace: %s: %s\n", what, detail);
	abort();
}

/*
 * The deliberately buggy v1 posting of PT reclaim loses mappings, which
 * check_mm() reports (traces/seeds/pt_reclaim_v1_lost_mappings.json): for it
 * that report is the expected result, not a finding.
 */
static bool loses_mappings(const struct ptsim_trace *t)
{
	for (size_t i = 0; i < t->nr_set; i++)
		if (strstr(t->set[i], "pt_reclaim") && strstr(t->set[i], "v1"))
			return true;
	return false;
}

static void run(struct ptsim_trace *t)
{
	struct budget b = { 0, 0 };
	struct ptsim_config cfg;
	struct ptsim_machine *m;
	char err[512];

	estimate(&b, t->events, t->nr_events);
	ptsim_trace_config(t, &cfg);
	if (b.work > FUZZ_MAX_WORK || cfg.cpus > FUZZ_MAX_CPUS)
		return;
	int rc = ptsim_machine_create(&m, &cfg, err, sizeof(err));
	if (rc) {
		if (!known_code(rc) || !err[0])
			finding("machine_create: undocumented code or no message", err);
		return;
	}
	rc = ptsim_trace_run(t, m);
	if (!known_code(rc))
		finding("trace_run: undocumented error code", ptsim_machine_errmsg(m));
	if (rc && !ptsim_machine_errmsg(m)[0])
		finding("trace_run: an error without a message", ptsim_errname(rc));
	if (rc == PTSIM_ENOMEM_HOST)
		finding("trace_run: out of host memory in a capped run", ptsim_machine_errmsg(m));
	for (size_t i = 0; i < ptsim_violation_count(m); i++) {
		struct ptsim_violation v;
		if (ptsim_violation_get(m, i, &v))
			finding("violation_get failed", ptsim_machine_errmsg(m));
		if (v.kind == PTSIM_VIOL_INTERNAL || (v.kind == PTSIM_VIOL_CHECK_MM && !loses_mappings(t)))
			finding(ptsim_violation_kind_name(v.kind), v.message);
	}
	ptsim_machine_quiesce(m);
	if (ptsim_machine_check(m))
		finding("consistency check", ptsim_machine_errmsg(m));
	/* The reports must be producible for every run that ended. */
	char *json = ptsim_report_json(m), *text = ptsim_report_text(m), *csv = ptsim_report_timeline_csv(m);
	if (!json || !text || !csv)
		finding("report", "a report could not be made");
	ptsim_free(json);
	ptsim_free(text);
	ptsim_free(csv);
	ptsim_machine_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptsim_trace *t = NULL;
	char err[512] = "";

	if (size > FUZZ_MAX_INPUT)
		return -1;   /* not added to the corpus */
	int rc = ptsim_trace_load(&t, (const char *)data, size, err, sizeof(err));
	if (rc) {
		if (!known_code(rc) || !err[0])
			finding("trace_load: undocumented code or no message", err);
		/* A small input cannot exhaust memory: malformed JSON taken for cJSON running out of it. */
		if (rc == PTSIM_ENOMEM_HOST)
			finding("trace_load: out of memory on a small input", err);
		return 0;
	}
	run(t);
	ptsim_trace_free(t);
	return 0;
}
