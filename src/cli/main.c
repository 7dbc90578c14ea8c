/*
 * ptsim: the command-line front end (docs/cli.md).
 *
 *   ptsim run TRACE [--json] [--preset P] [--set KEY=VALUE]... [--cpus N] [--output FILE] [--timeline CSV]
 *             [--arch x86_64|arm64] [--granule BYTES] [--va-bits N] [--paging-levels N]
 *   ptsim presets
 *   ptsim variants
 *   ptsim version
 *
 * Exit status: 0 ran clean, 3 ran but recorded violations, 2 bad input or
 * usage, 1 internal failure (out of memory, or the report could not be written).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptsim/ptsim.h"

#define EXIT_CLEAN 0
#define EXIT_INTERNAL 1
#define EXIT_USAGE 2
#define EXIT_VIOLATIONS 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ptsim run TRACE [--json] [--preset NAME] [--set KEY=VALUE]... [--cpus N] [--output FILE]\n"
		"                 [--timeline CSV]  (the marks as a CSV table of every counter, for plots)\n"
		"                 [--arch x86_64|arm64] [--granule BYTES] [--va-bits N] [--paging-levels N]\n"
		"       (--arch and the geometry options replace the trace's machine section; giving --arch alone\n"
		"        drops the trace's granule, va_bits and paging_levels)\n"
		"       ptsim presets        list presets (kernel versions) and what each sets\n"
		"       ptsim variants       list the variant keys --set accepts\n"
		"       ptsim version\n"
		"TRACE is a JSON trace file (docs/trace-format.md), or - for standard input.\n"
		"Exit status: 0 clean, 3 violations recorded, 2 bad input or usage, 1 internal failure (out of\n"
		"memory, or the report could not be written).\n");
}

static int cmd_presets(void)
{
	for (size_t i = 0; i < ptsim_preset_count(); i++) {
		const char *name = ptsim_preset_name(i);
		const char *const *pairs = ptsim_preset_pairs(name);
		printf("%s%s\n  %s\n ", name, strcmp(name, PTSIM_DEFAULT_PRESET) ? "" : " (default)",
		       ptsim_preset_summary(name));
		for (size_t k = 0; pairs && pairs[k]; k++)
			printf(" %s", pairs[k]);
		printf("\n");
	}
	return EXIT_CLEAN;
}

static int cmd_variants(void)
{
	for (size_t i = 0; i < ptsim_variant_count(); i++)
		printf("%-30s %s\n", ptsim_variant_key(i), ptsim_variant_help(i));
	return EXIT_CLEAN;
}

static int parse_uint(const char *s, unsigned int *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 1000000)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Write @text (NULL: nothing was produced, @why says why) to @f and close it
 * unless it is stdout.  Returns false, having said so, if it did not all
 * reach @name (a full disk, a closed standard output).
 */
static bool write_out(FILE *f, const char *name, const char *what, const char *text, bool newline, const char *why)
{
	errno = 0;
	if (text) {
		fputs(text, f);
		if (newline)
			fputc('\n', f);
	}
	bool ok = text && fflush(f) == 0 && !ferror(f);
	int err = errno;
	if (f != stdout && fclose(f) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (!ok)
		fprintf(stderr, "ptsim: cannot write the %s to %s: %s\n", what, name,
			!text ? why : err ? strerror(err) : "write error");
	return ok;
}

static int cmd_run(int argc, char **argv)
{
	const char *trace_path = NULL, *preset = NULL, *output = NULL, *timeline = NULL;
	bool json = false;
	unsigned int cpus = 0;
	const char *arch = NULL;
	unsigned int granule = 0, va_bits = 0, levels = 0;
	const char **sets = calloc((size_t)argc + 1, sizeof(char *));
	size_t nr_sets = 0;
	char err[512];
	int status = EXIT_USAGE;

	if (!sets)
		return EXIT_INTERNAL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--preset") || !strcmp(a, "--set") || !strcmp(a, "--cpus") ||
			   !strcmp(a, "--output") || !strcmp(a, "-o") || !strcmp(a, "--timeline") || !strcmp(a, "--arch") ||
			   !strcmp(a, "--granule") ||
			   !strcmp(a, "--va-bits") || !strcmp(a, "--paging-levels")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ptsim: %s needs a value\n", a);
				goto out;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--preset")) {
				preset = v;
			} else if (!strcmp(a, "--set")) {
				if (!strchr(v, '=')) {
					fprintf(stderr, "ptsim: --set %s: expected KEY=VALUE\n", v);
					goto out;
				}
				sets[nr_sets++] = v;
			} else if (!strcmp(a, "--arch")) {
				if (strcmp(v, "x86_64") && strcmp(v, "arm64")) {
					fprintf(stderr, "ptsim: --arch %s: expected x86_64 or arm64\n", v);
					goto out;
				}
				arch = v;
			} else if (!strcmp(a, "--granule") || !strcmp(a, "--va-bits") || !strcmp(a, "--paging-levels")) {
				unsigned int *dst = !strcmp(a, "--granule") ? &granule : !strcmp(a, "--va-bits") ? &va_bits : &levels;
				if (parse_uint(v, dst) || !*dst) {
					fprintf(stderr, "ptsim: %s %s: expected a positive integer\n", a, v);
					goto out;
				}
			} else if (!strcmp(a, "--timeline")) {
				timeline = v;
			} else if (!strcmp(a, "--cpus")) {
				if (parse_uint(v, &cpus) || !cpus) {
					fprintf(stderr, "ptsim: --cpus %s: expected a positive integer\n", v);
					goto out;
				}
			} else {
				output = v;
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			status = EXIT_CLEAN;
			goto out;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ptsim: unknown option %s\n", a);
			usage(stderr);
			goto out;
		} else if (!trace_path) {
			trace_path = a;
		} else {
			fprintf(stderr, "ptsim: more than one trace given (%s, %s)\n", trace_path, a);
			goto out;
		}
	}
	if (!trace_path) {
		fprintf(stderr, "ptsim run: no trace given\n");
		usage(stderr);
		goto out;
	}

	struct ptsim_trace *t = NULL;
	int rc = ptsim_trace_load_file(&t, trace_path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ptsim: %s: %s\n", trace_path, err);
		goto out;
	}
	for (size_t i = 0; i < nr_sets; i++)
		if (ptsim_trace_config_add(t, sets[i])) {
			fprintf(stderr, "ptsim: out of memory\n");
			status = EXIT_INTERNAL;
			ptsim_trace_free(t);
			goto out;
		}
	struct ptsim_config cfg;
	ptsim_trace_config(t, &cfg);
	if (preset)
		cfg.preset = preset;
	if (cpus)
		cfg.cpus = cpus;
	if (arch) {
		/* Another architecture: the trace's geometry was meant for its own. */
		cfg.arch = !strcmp(arch, "arm64") ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64;
		cfg.granule = 0;
		cfg.va_bits = 0;
		cfg.paging_levels = 0;
	}
	if (granule)
		cfg.granule = granule;
	if (va_bits)
		cfg.va_bits = va_bits;
	if (levels)
		cfg.paging_levels = levels;

	struct ptsim_machine *m = NULL;
	rc = ptsim_machine_create(&m, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ptsim: %s: machine: %s\n", trace_path, err);
		status = rc == -ENOMEM ? EXIT_INTERNAL : EXIT_USAGE;
		ptsim_trace_free(t);
		goto out;
	}
	/* Open the output before the run, so that a bad path does not cost a whole run. */
	FILE *f = output ? fopen(output, "w") : stdout;
	if (!f) {
		fprintf(stderr, "ptsim: cannot create %s: %s\n", output, strerror(errno));
		status = EXIT_USAGE;
		ptsim_machine_destroy(m);
		ptsim_trace_free(t);
		goto out;
	}
	FILE *tl = timeline ? fopen(timeline, "w") : NULL;
	if (timeline && !tl) {
		fprintf(stderr, "ptsim: cannot create %s: %s\n", timeline, strerror(errno));
		status = EXIT_USAGE;
		if (f != stdout)
			fclose(f);
		ptsim_machine_destroy(m);
		ptsim_trace_free(t);
		goto out;
	}
	rc = ptsim_trace_run(t, m);
	if (rc) {
		fprintf(stderr, "ptsim: %s: %s\n", trace_path, ptsim_machine_errmsg(m));
		status = rc == -ENOMEM ? EXIT_INTERNAL : EXIT_USAGE;
		if (f != stdout)
			fclose(f);
		if (tl)
			fclose(tl);
	} else {
		status = ptsim_violation_count(m) ? EXIT_VIOLATIONS : EXIT_CLEAN;
		char *report = json ? ptsim_report_json(m) : ptsim_report_text(m);
		if (!write_out(f, output ? output : "standard output", "report", report, json, "out of memory"))
			status = EXIT_INTERNAL;
		ptsim_free(report);
		if (tl) {
			char *csv = ptsim_report_timeline_csv(m);
			if (!write_out(tl, timeline, "timeline", csv, false, "out of memory"))
				status = EXIT_INTERNAL;
			ptsim_free(csv);
		}
	}
	ptsim_machine_destroy(m);
	ptsim_trace_free(t);
out:
	free(sets);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "presets"))
		return cmd_presets();
	if (!strcmp(argv[1], "variants"))
		return cmd_variants();
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ptsim %s\n", PTSIM_VERSION_STRING);
		return EXIT_CLEAN;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_CLEAN;
	}
	fprintf(stderr, "ptsim: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
