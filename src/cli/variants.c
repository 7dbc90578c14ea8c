/*
 * ptsim variants: the variant keys --set and a trace's machine.set accept,
 * with the values of each; --json for programs.
 */
#include "cli.h"
#include "ptsim/ptsim.h"

const char cmd_variants_usage[] =
	"usage: ptsim variants [--json]\n"
	"List the variant keys --set KEY=VALUE accepts, with their values.\n"
	"  --json                 one JSON array of {key, help}\n"
	"  -h, --help             this text\n";

static void print_text(FILE *f)
{
	for (size_t i = 0; i < ptsim_variant_count(); i++)
		fprintf(f, "%-30s %s\n", ptsim_variant_key(i), ptsim_variant_help(i));
}

static void print_json(FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < ptsim_variant_count(); i++) {
		fprintf(f, "%s{\"key\":", i ? "," : "");
		cli_json_string(f, ptsim_variant_key(i));
		fputs(",\"help\":", f);
		cli_json_string(f, ptsim_variant_help(i));
		fputc('}', f);
	}
	fputs("]\n", f);
}

int cmd_variants(int argc, char **argv)
{
	return cli_list_command(argc, argv, print_text, print_json);
}
