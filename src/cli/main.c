/*
 * ptsim: the command-line front end (docs/cli.md, man ptsim).
 *
 *   ptsim COMMAND [OPTION]... [ARG]...
 *
 * One file per command (src/cli/NAME.c, cmd_NAME()), listed once in
 * PTSIM_COMMANDS (cli.h); this file dispatches through that table and prints
 * the overall usage.
 *
 * Exit status: 0 ran clean, 3 ran but recorded violations, 2 bad input or
 * usage, 1 internal failure (out of memory, or an output could not be written).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ptsim/ptsim.h"

struct command {
	const char *name;
	const char *synopsis;
	const char *summary;
	const char *usage;
	int (*fn)(int argc, char **argv);
};

/* A command's name is its C identifier with '_' written '-' (compare_real: "compare-real"). */
static bool name_is(const char *ident, const char *name)
{
	for (; *ident && *name; ident++, name++)
		if (*ident != *name && !(*ident == '_' && *name == '-'))
			return false;
	return !*ident && !*name;
}

static const struct command commands[] = {
#define CLI_ENTRY(name, synopsis, summary) { #name, synopsis, summary, cmd_##name##_usage, cmd_##name },
	PTSIM_COMMANDS(CLI_ENTRY)
#undef CLI_ENTRY
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (name_is(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	for (size_t i = 0; i < NR_COMMANDS; i++) {
		char line[256];
		snprintf(line, sizeof(line), "ptsim %s %s", commands[i].name, commands[i].synopsis);
		for (char *p = line + 6; *p && *p != ' '; p++)
			if (*p == '_')
				*p = '-';
		fprintf(f, "%s %-40s %s\n", i ? "      " : "usage:", line, commands[i].summary);
	}
	fprintf(f, "       %-40s %s\n", "ptsim help [COMMAND]", "this text, or the options of COMMAND");
	fprintf(f,
		"TRACE is a trace file (docs/trace-format.md), or - for standard input; - as an output file\n"
		"is standard output.  'ptsim COMMAND --help' lists the options of COMMAND; man ptsim.\n"
		"Exit status: 0 clean, 3 violations recorded, 2 bad input or usage, 1 internal failure (out of\n"
		"memory, or an output could not be written).\n");
}

void cli_usage(FILE *f, const char *command)
{
	const struct command *c = find_command(command);

	if (c)
		fputs(c->usage, f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--version"))
		name = "version";
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		if (argc > 2 && !strcmp(name, "help")) {
			const struct command *c = find_command(argv[2]);
			if (!c) {
				fprintf(stderr, "ptsim: unknown command '%s'\n", argv[2]);
				usage(stderr);
				return CLI_EXIT_USAGE;
			}
			fputs(c->usage, stdout);
		} else {
			usage(stdout);
		}
		return fflush(stdout) || ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_CLEAN;
	}
	const struct command *c = find_command(name);
	if (!c) {
		fprintf(stderr, "ptsim: unknown command '%s'\n", name);
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
