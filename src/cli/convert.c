/*
 * ptsim convert: a trace from v1 (one JSON document) to v2 (JSON Lines) or
 * back, optionally with repeats multiplied out, compressed by the output's
 * name (.gz, .zst).  The work is ptsim_trace_convert() (src/trace/convert.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptsim/ptsim.h"

const char cmd_convert_usage[] =
	"usage: ptsim convert IN OUT [--to v1|v2] [--expand-repeats] [--max-events N]\n"
	"Write the trace IN (v1 or v2, plain, gzip or zstd; - for standard input) to OUT (- for standard\n"
	"output) in the other format. OUT ending in .gz or .zst is compressed. The input is checked as\n"
	"ptsim run checks it; a v2 input is converted line by line, never held whole. A v1 mmap that\n"
	"gives addr gets \"fixed\": \"noreplace\" in v2 (what addr means in v1).\n"
	"  --to v1|v2             the output format (default: the other one)\n"
	"  --expand-repeats       write every iteration of each repeat as its own event\n"
	"  --max-events N         refuse an expansion beyond N events (default 1000000000)\n"
	"  -h, --help             this text\n"
	"On an error OUT is removed (standard output may hold part of the trace) and the status is 2\n"
	"(1: out of memory or OUT could not be written).\n";

int cmd_convert(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "expand-repeats", no_argument, NULL, 'x' },
		{ "max-events", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ptsim_trace_convert_options o;
	struct ptsim_trace_options limits;
	char err[1024];
	int c, st = 0;

	ptsim_trace_convert_options_init(&o);
	ptsim_trace_options_init(&limits);
	o.limits = &limits;
	while ((c = cli_getopt(argc, argv, "h", longopts, &st)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "v1") && strcmp(optarg, "v2") && strcmp(optarg, "1") && strcmp(optarg, "2")) {
				fprintf(stderr, "ptsim: --to %s: expected v1 or v2\n", optarg);
				return CLI_EXIT_USAGE;
			}
			o.to = optarg[strlen(optarg) - 1] - '0';
			break;
		case 'x':
			o.expand_repeats = 1;
			break;
		case 'm':
			if (!cli_parse_count(optarg, &limits.max_events)) {
				fprintf(stderr, "ptsim: --max-events %s: expected a positive integer\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			cli_usage(stdout, "convert");
			return CLI_EXIT_CLEAN;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "ptsim convert: give IN and OUT\n");
		cli_usage(stderr, "convert");
		return CLI_EXIT_USAGE;
	}
	if (argc - optind > 2)
		return cli_unexpected_operand(argv[0], argv[optind + 2]);
	const char *in = argv[optind], *out = argv[optind + 1];
	int rc = ptsim_trace_convert(in, out, &o, err, sizeof(err));
	if (rc) {
		cli_error_file(in, err);
		return rc == PTSIM_ENOMEM_HOST || rc == -EIO ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
	}
	return CLI_EXIT_CLEAN;
}
