/*
 * `ptsim record`: run a command and write its trace (docs/record.md).
 *
 *   ptsim record [-o FILE] [--duration S] [--buffer-kb N] [--instance NAME]
 *                [--tracefs DIR] [--recorder-cpu N] [--quiet] [--] CMD [ARGS...]
 *
 * Exit status: 0 the trace was written (whatever the command's own status:
 * it is printed), 2 the command or the environment cannot be recorded (not
 * root, no tracefs, the command does not exist; no file is written), 1
 * internal failure (out of memory, the file cannot be written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "record/compare.h"
#include "record/record.h"

const char cmd_record_usage[] =
	"usage: ptsim record [OPTION]... [--] CMD [ARG]...\n"
	"Run CMD (as root, Linux x86-64 with tracefs) and write its address-space behaviour as a v2 trace\n"
	"(docs/record.md): plain JSON Lines, or gzip/zstd when FILE ends in .gz/.zst.  The last line\n"
	"holds the real kernel's counts of the same run.  Options end at CMD.\n"
	"  -o, --output FILE      the trace (default ptsim-record.jsonl.zst)\n"
	"      --duration S       stop after S seconds (the program is frozen, then killed; the trace is valid)\n"
	"      --buffer-kb N      ring buffer per CPU for the program's events (default 32768)\n"
	"      --instance NAME    tracefs instance name prefix (default ptsim_record_PID)\n"
	"      --tracefs DIR      where tracefs is mounted (default: found, or mounted at /sys/kernel/tracing)\n"
	"      --recorder-cpu N   run the recorder itself on CPU N only (the program keeps its affinity)\n"
	"      --quiet            no summary on standard error\n"
	"      --compare          then replay the trace and print the real figures next to ptsim's\n"
	"                         (as ptsim compare-real FILE)\n"
	"      --json             with --compare: the comparison as JSON\n"
	"  -h, --help             this text\n"
	"Exit status: 0 the trace was written (the program's own status is printed), 2 the program or\n"
	"the machine cannot be recorded (no file written), 1 internal failure (no file written).\n";

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v > 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

/*
 * Options stop at the first operand (the command, whose own options follow
 * it), so getopt's permutation is not wanted: they are read here, in the
 * messages of cli_getopt().
 */
int cmd_record(int argc, char **argv)
{
	struct rec_options o;
	struct rec_summary sum;
	char err[1024] = "";
	bool compare = false, json = false;
	int i;

	memset(&o, 0, sizeof(o));
	o.output = "ptsim-record.jsonl.zst";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1])
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli_usage(stdout, "record");
			return CLI_EXIT_CLEAN;
		}
		if (!strcmp(a, "--quiet")) {
			o.quiet = true;
			continue;
		}
		if (!strcmp(a, "--compare") || !strcmp(a, "--json")) {
			*(!strcmp(a, "--json") ? &json : &compare) = true;
			continue;
		}
		const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
		char name[32];
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		if (!strcmp(name, "-o") || !strcmp(name, "--output") || !strcmp(name, "--duration") ||
		    !strcmp(name, "--buffer-kb") || !strcmp(name, "--instance") || !strcmp(name, "--tracefs") ||
		    !strcmp(name, "--recorder-cpu")) {
			if (!eq && i + 1 >= argc) {
				fprintf(stderr, "ptsim: %s needs a value\n", name);
				return CLI_EXIT_USAGE;
			}
			const char *v = eq ? eq + 1 : argv[++i];
			if (!strcmp(name, "--duration")) {
				if (parse_seconds(v, &o.duration_s)) {
					fprintf(stderr, "ptsim: --duration %s: expected a positive number of seconds\n", v);
					return CLI_EXIT_USAGE;
				}
			} else if (!strcmp(name, "--buffer-kb")) {
				if (!cli_parse_uint(v, 64, 64u << 20, &o.task_buffer_kb)) {
					fprintf(stderr, "ptsim: --buffer-kb %s: expected 64 .. 67108864\n", v);
					return CLI_EXIT_USAGE;
				}
			} else if (!strcmp(name, "--recorder-cpu")) {
				if (!cli_parse_uint(v, 0, 8191, &o.recorder_cpu)) {
					fprintf(stderr, "ptsim: --recorder-cpu %s: expected a CPU number, 0 .. 8191\n", v);
					return CLI_EXIT_USAGE;
				}
				o.pin_recorder = true;
			} else if (!strcmp(name, "--instance")) {
				o.instance = v;
			} else if (!strcmp(name, "--tracefs")) {
				o.tracefs_dir = v;
			} else {
				o.output = v;
			}
			continue;
		}
		fprintf(stderr, "ptsim: unknown option %s\nTry 'ptsim record --help' for the options.\n", name);
		return CLI_EXIT_USAGE;
	}
	if (json && !compare) {
		fprintf(stderr, "ptsim: record: --json goes with --compare\n");
		return CLI_EXIT_USAGE;
	}
	if (i >= argc) {
		fprintf(stderr, "ptsim: record: no command given\n");
		cli_usage(stderr, "record");
		return CLI_EXIT_USAGE;
	}
	o.argv = argv + i;
	int status = rec_record(&o, &sum, err, sizeof(err));
	if (status != REC_EXIT_OK) {
		fprintf(stderr, "ptsim: record: %s\n", err);
		return status;
	}
	if (!o.quiet) {
		char how[96];
		if (sum.stopped)
			snprintf(how, sizeof(how), "was stopped (%s) and killed",
				 o.duration_s > 0 ? "--duration" : "signal");
		else if (WIFEXITED(sum.status))
			snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(sum.status));
		else if (WIFSIGNALED(sum.status))
			snprintf(how, sizeof(how), "was killed by signal %d (%s)", WTERMSIG(sum.status),
				 strsignal(WTERMSIG(sum.status)));
		else
			snprintf(how, sizeof(how), "ended");
		fprintf(stderr,
			"ptsim record: %s %s\n"
			"ptsim record: wrote %s: %llu events (%llu page faults, %llu memory system calls), %u processes, "
			"%u tasks, preset %s, %u warnings%s\n",
			o.argv[0], how, o.output, (unsigned long long)sum.events, (unsigned long long)sum.faults,
			(unsigned long long)sum.syscalls, sum.processes, sum.tasks, sum.preset, sum.warnings,
			sum.lost_events ? " (INCOMPLETE: the kernel dropped events)" : "");
	}
	if (!compare)
		return CLI_EXIT_CLEAN;
	struct rec_compare_opts co = { .path = o.output, .json = json };
	unsigned int differ;
	status = rec_compare(&co, stdout, &differ, err, sizeof(err));
	if (status)
		cli_error_file(o.output, err);
	return status;
}
