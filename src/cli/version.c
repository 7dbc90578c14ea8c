/* ptsim version (also ptsim --version): the library's version. */
#include "cli.h"
#include "ptsim/ptsim.h"

const char cmd_version_usage[] =
	"usage: ptsim version\n"
	"Print the version of ptsim (the library the command runs on).\n"
	"  -h, --help             this text\n";

static void print_version(FILE *f)
{
	fprintf(f, "ptsim %s\n", PTSIM_VERSION_STRING);
}

int cmd_version(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, st = 0;

	while ((c = cli_getopt(argc, argv, "h", longopts, &st)) != -1) {
		if (c != 'h')
			return CLI_EXIT_USAGE;
		cli_usage(stdout, "version");
		return CLI_EXIT_CLEAN;
	}
	if (optind < argc)
		return cli_unexpected_operand(argv[0], argv[optind]);
	return cli_print(print_version);
}
