/*
 * ptsim presets: the presets (kernel versions), a summary of each and the
 * variants each one sets; --json for programs.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptsim/ptsim.h"

const char cmd_presets_usage[] =
	"usage: ptsim presets [--json]\n"
	"List the presets (kernel versions): '(default)' marks the one used when neither the trace\n"
	"nor --preset names one; pairs prefixed 'arm64:' or 'x86_64:' apply to that architecture only.\n"
	"  --json                 one JSON array of {name, default, summary, set: [KEY=VALUE...]}\n"
	"  -h, --help             this text\n";

static void print_text(FILE *f)
{
	for (size_t i = 0; i < ptsim_preset_count(); i++) {
		const char *name = ptsim_preset_name(i);
		const char *const *pairs = ptsim_preset_pairs(name);
		fprintf(f, "%s%s\n  %s\n ", name, strcmp(name, PTSIM_DEFAULT_PRESET) ? "" : " (default)",
			ptsim_preset_summary(name));
		for (size_t k = 0; pairs && pairs[k]; k++)
			fprintf(f, " %s", pairs[k]);
		fprintf(f, "\n");
	}
}

static void print_json(FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < ptsim_preset_count(); i++) {
		const char *name = ptsim_preset_name(i);
		const char *const *pairs = ptsim_preset_pairs(name);
		fprintf(f, "%s{\"name\":", i ? "," : "");
		cli_json_string(f, name);
		fprintf(f, ",\"default\":%s,\"summary\":", strcmp(name, PTSIM_DEFAULT_PRESET) ? "false" : "true");
		cli_json_string(f, ptsim_preset_summary(name));
		fputs(",\"set\":[", f);
		for (size_t k = 0; pairs && pairs[k]; k++) {
			if (k)
				fputc(',', f);
			cli_json_string(f, pairs[k]);
		}
		fputs("]}", f);
	}
	fputs("]\n", f);
}

int cmd_presets(int argc, char **argv)
{
	return cli_list_command(argc, argv, print_text, print_json);
}
