/*
 * `ptsim compare-real RECORDING`: replay a recording of `ptsim record` and
 * print the real kernel's figures next to ptsim's (src/record/compare.c,
 * docs/record.md "Reading --compare").
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "record/compare.h"

const char cmd_compare_real_usage[] =
	"usage: ptsim compare-real RECORDING [OPTION]...\n"
	"Replay a recording of `ptsim record` and print, per process, per CPU and for the machine, the real\n"
	"kernel's figures (the recording's last line) next to ptsim's, with the difference (ptsim - real).\n"
	"Figures ptsim has no counterpart for are listed with a note.\n"
	"      --json             one JSON object: every compared figure is {\"real\", \"ptsim\", \"diff\"}\n"
	"      --preset NAME      replay with this preset instead of the recording's\n"
	"      --set KEY=VALUE    override a variant (repeatable)\n"
	"  -h, --help             this text\n"
	"Exit status: 0 compared (differences are results, not errors), 2 not a recording or it does not\n"
	"replay, 1 internal failure.\n";

int cmd_compare_real(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "preset", required_argument, NULL, 'p' },
		{ "set", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rec_compare_opts o = { 0 };
	const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
	size_t nr_sets = 0;
	int c, st = 0, status = CLI_EXIT_USAGE;
	char err[1024] = "";

	if (!sets) {
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	while ((c = cli_getopt(argc, argv, "h", longopts, &st)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'p':
			o.preset = optarg;
			break;
		case 's':
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "ptsim: --set %s: expected KEY=VALUE\n", optarg);
				goto out;
			}
			sets[nr_sets++] = optarg;
			break;
		case 'h':
			cli_usage(stdout, argv[0]);
			status = CLI_EXIT_CLEAN;
			goto out;
		default:
			goto out;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ptsim: %s: no recording given\n", argv[0]);
		cli_usage(stderr, argv[0]);
		goto out;
	}
	if (optind + 1 < argc) {
		status = cli_unexpected_operand(argv[0], argv[optind + 1]);
		goto out;
	}
	o.path = argv[optind];
	o.set = sets;
	unsigned int differ;
	status = rec_compare(&o, stdout, &differ, err, sizeof(err));
	if (status)
		cli_error_file(o.path, err);
out:
	free(sets);
	return status;
}
