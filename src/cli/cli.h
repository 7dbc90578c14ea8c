/*
 * ptsim command-line front end: the command table and what the commands share.
 *
 * Adding a command NAME (docs/cli.md "Adding a command"):
 *   1. a file src/cli/NAME.c that includes "cli.h" and defines
 *        const char cmd_NAME_usage[] = "usage: ptsim NAME ...\n" (options, one a line);
 *        int cmd_NAME(int argc, char **argv)
 *      where argv[0] is "NAME" and the rest are the command's arguments; it
 *      parses them with cli_getopt() (which gives --opt=value, --opt value,
 *      "--" and the option error messages) and answers --help (-h) with
 *      cli_usage(stdout, "NAME") and status 0;
 *   2. one line X(NAME, "SYNOPSIS", "SUMMARY") in PTSIM_COMMANDS below.
 * CMake compiles every .c file of src/cli; main.c dispatches through the table and
 * lists it in `ptsim help`.
 *
 * Conventions every command keeps:
 *  - exit status CLI_EXIT_* (0 clean, 3 violations, 2 bad input or usage, 1
 *    internal failure);
 *  - errors on standard error, once, as "ptsim: [FILE: ]MESSAGE";
 *  - nothing on standard output when the status is 1 or 2: results are built
 *    in memory and written with cli_outputs_write(), standard output last;
 *  - "-" names standard output wherever a file is written, standard input
 *    wherever one is read.
 */
#ifndef PTSIM_CLI_H
#define PTSIM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_EXIT_CLEAN 0
#define CLI_EXIT_INTERNAL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_VIOLATIONS 3

/* X(name, synopsis after "ptsim NAME", one-line summary) */
#define PTSIM_COMMANDS(X)                                                                                    \
	X(run, "TRACE [OPTION]...", "replay a trace and report what it cost")                             \
	X(compare, "TRACE... [OPTION]...", "run combinations of presets, variants, CPU counts side by side")    \
	X(merge, "SHARD... [OPTION]...", "join the --json outputs of compare --shard into one table")         \
	X(plot, "INPUT... -o FILE [OPTION]...", "draw a timeline or a comparison through gnuplot")            \
	X(record, "[OPTION]... [--] CMD [ARG]...", "run a program and record its trace (root, tracefs)")     \
	X(compare_real, "RECORDING [OPTION]...", "replay a recording: the real kernel's figures next to ptsim's")  \
	X(convert, "IN OUT [OPTION]...", "convert a trace between v1 (JSON) and v2 (JSON Lines), compressed or not") \
	X(presets, "[--json]", "list the presets (kernel versions) and what each sets")                  \
	X(variants, "[--json]", "list the variant keys --set accepts")                                   \
	X(version, "", "print the version")

#define CLI_DECLARE(name, synopsis, summary)                                                                  \
	int cmd_##name(int argc, char **argv);                                                                \
	extern const char cmd_##name##_usage[];
PTSIM_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/*
 * cli_getopt - getopt_long() for a command: @argv[0] is the command name.
 * Options and operands may be mixed, "--" ends the options, long options take
 * "--opt=value" or "--opt value".  Unknown options and missing values are
 * reported here ("ptsim: unknown option --x", "ptsim: --cpus needs a value")
 * and return '?'.  Call with *@state == 0 first (it resets getopt).
 */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, int *state);

/* The usage of @command (cmd_NAME_usage) on @f: --help (stdout, status 0), usage errors (stderr). */
void cli_usage(FILE *f, const char *command);

/* "ptsim: NAME: unexpected argument 'ARG'" and the usage; returns CLI_EXIT_USAGE. */
int cli_unexpected_operand(const char *command, const char *arg);

/*
 * cli_sprint - what @print(f, @ctx) writes, as a string (free() it); NULL if
 * out of memory.
 */
char *cli_sprint(void (*print)(FILE *f, const void *ctx), const void *ctx);

/*
 * cli_print - run @print on a memory buffer, then write the text to standard
 * output in one piece.  Return: CLI_EXIT_CLEAN or CLI_EXIT_INTERNAL (said why).
 */
int cli_print(void (*print)(FILE *f));

/* Parse a positive decimal integer up to 2^64 - 1 (--max-events); false (nothing said) if it is not one. */
bool cli_parse_count(const char *s, unsigned long long *out);

/*
 * cli_list_command - the whole of a command that prints a list (presets,
 * variants): options --json and --help, no operands.
 */
int cli_list_command(int argc, char **argv, void (*text)(FILE *f), void (*json)(FILE *f));

/* Parse a decimal integer in [@min, @max]; false (nothing said) if it is not one. */
bool cli_parse_uint(const char *s, unsigned int min, unsigned int max, unsigned int *out);

/*
 * cli_error_file - "ptsim: PATH: MESSAGE" on stderr, without repeating @path
 * when the library's message already starts with it.
 */
void cli_error_file(const char *path, const char *msg);

/*
 * cli_cpus_hint - after a run error @rc with message @msg: if --cpus @cpus
 * (0: not given) left out a CPU the trace names, say why and how to avoid it
 * in @buf and return true.
 */
bool cli_cpus_hint(unsigned int cpus, int rc, const char *msg, char *buf, size_t len);

/*
 * cli_read_file - a whole file (- standard input), NUL-terminated, its length in
 * *@len if @len; NULL with @err saying why.
 */
char *cli_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* "1 CPU", "2 CPUs". */
const char *cli_plural(unsigned long long n, const char *one, const char *many);

/* Write @s as a JSON string (quoted, escaped) to @f. */
void cli_json_string(FILE *f, const char *s);

/*
 * An output of a command: a file created before the work starts (so a bad path
 * costs nothing), or standard output ("-"), written only once everything else
 * has succeeded.
 */
struct cli_output {
	const char *path; /* as given; "-" standard output; NULL: not asked for */
	const char *what; /* "report", "timeline", ... for messages */
	bool newline;     /* end the text with a newline */
	size_t len;       /* not 0: the text is this many bytes (binary, e.g. a PNG) */
	FILE *f;
};

static inline bool cli_output_is_stdout(const struct cli_output *o)
{
	return o->path && o->path[0] == '-' && !o->path[1];
}

/*
 * cli_outputs_open - create every file output of @outs (not standard output).
 * At most one may be standard output.  Return: 0, or CLI_EXIT_USAGE having said
 * why (and closed what it had opened).
 */
int cli_outputs_open(struct cli_output *outs, size_t n);
/* cli_outputs_close - close what cli_outputs_open() opened, writing nothing. */
void cli_outputs_close(struct cli_output *outs, size_t n);
/*
 * cli_outputs_write - write @texts[i] (NULL: out of memory) to @outs[i]:
 * the files first, standard output only if all of them succeeded, then close
 * them.  Return: CLI_EXIT_CLEAN, or CLI_EXIT_INTERNAL having said what failed.
 */
int cli_outputs_write(struct cli_output *outs, const char *const *texts, size_t n);

#endif
