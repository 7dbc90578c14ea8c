/*
 * What the commands share: option parsing with getopt_long(), messages,
 * outputs written only once everything else has succeeded.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The long name (for a message) of the option whose value is @val. */
static const char *option_name(const struct option *longopts, int val, char *buf, size_t len)
{
	for (const struct option *o = longopts; o && o->name; o++)
		if (o->val == val && !o->flag) {
			snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	snprintf(buf, len, "-%c", val);
	return buf;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, int *state)
{
	char sopts[128], name[64];

	if (!*state) {
		optind = 0; /* glibc: a full reset, for the next command in the same process */
		*state = 1;
	}
	opterr = 0;
	/* ':' first: a missing value is ':' (not '?'), so that it gets its own message. */
	snprintf(sopts, sizeof(sopts), ":%s", shortopts);
	int c = getopt_long(argc, argv, sopts, longopts, NULL);
	if (c == ':') {
		const char *opt = argv[optind - 1];
		if (strncmp(opt, "--", 2))
			opt = option_name(longopts, optopt, name, sizeof(name));
		fprintf(stderr, "ptsim: %s needs a value\n", opt);
		return '?';
	}
	if (c == '?') {
		const char *opt = argv[optind - 1];
		if (optopt && !strncmp(opt, "--", 2)) {
			const char *eq = strchr(opt, '=');
			fprintf(stderr, "ptsim: %.*s takes no value\n", eq ? (int)(eq - opt) : (int)strlen(opt), opt);
		} else if (optopt) {
			fprintf(stderr, "ptsim: unknown option -%c\n", optopt);
		} else {
			const char *eq = strchr(opt, '=');
			fprintf(stderr, "ptsim: unknown option %.*s\n", eq ? (int)(eq - opt) : (int)strlen(opt), opt);
		}
		fprintf(stderr, "Try 'ptsim %s --help' for the options.\n", argv[0]);
		return '?';
	}
	return c;
}

int cli_unexpected_operand(const char *command, const char *arg)
{
	fprintf(stderr, "ptsim: %s: unexpected argument '%s'\n", command, arg);
	cli_usage(stderr, command);
	return CLI_EXIT_USAGE;
}

char *cli_sprint(void (*print)(FILE *f, const void *ctx), const void *ctx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	if (!mem)
		return NULL;
	print(mem, ctx);
	if (fclose(mem)) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct plain_printer {
	void (*print)(FILE *f);
};

static void print_plain(FILE *f, const void *ctx)
{
	((const struct plain_printer *)ctx)->print(f);
}

int cli_print(void (*print)(FILE *f))
{
	struct cli_output out = { .path = "-", .what = "output", .f = stdout };
	struct plain_printer pp = { print };
	char *text = cli_sprint(print_plain, &pp);
	int status = cli_outputs_write(&out, (const char *const *)&text, 1);

	free(text);
	return status;
}

int cli_list_command(int argc, char **argv, void (*text)(FILE *f), void (*json)(FILE *f))
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool as_json = false;
	int c, st = 0;

	while ((c = cli_getopt(argc, argv, "h", longopts, &st)) != -1) {
		if (c == 'h') {
			cli_usage(stdout, argv[0]);
			return CLI_EXIT_CLEAN;
		}
		if (c != 'j')
			return CLI_EXIT_USAGE;
		as_json = true;
	}
	if (optind < argc)
		return cli_unexpected_operand(argv[0], argv[optind]);
	return cli_print(as_json ? json : text);
}

bool cli_parse_uint(const char *s, unsigned int min, unsigned int max, unsigned int *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

bool cli_parse_count(const char *s, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno || !v)
		return false;
	*out = v;
	return true;
}

void cli_error_file(const char *path, const char *msg)
{
	size_t n = strlen(path);

	if (!strncmp(msg, path, n) && msg[n] == ':' && msg[n + 1] == ' ')
		msg += n + 2;
	fprintf(stderr, "ptsim: %s: %s\n", path, msg);
}

bool cli_cpus_hint(unsigned int cpus, int rc, const char *msg, char *buf, size_t len)
{
	if (!cpus || rc != -ERANGE || !strstr(msg, "does not exist (the machine has"))
		return false;
	snprintf(buf, len,
		 "--cpus %u removed a CPU this trace names by number: a trace scales to any CPU count\n"
		 "       only where it places its tasks with {ncpus} expressions (docs/trace-format.md)",
		 cpus);
	return true;
}

char *cli_read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *n = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!n) {
				snprintf(err, errlen, "out of memory");
				break;
			}
			buf = n;
		}
		size_t r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
		if (!r)
			break;
	}
	bool ok = buf && len + 1 <= cap && !ferror(f);
	if (ferror(f))
		snprintf(err, errlen, "%s", errno == EISDIR ? "is a directory" : "read error");
	if (f != stdin)
		fclose(f);
	if (!ok) {
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	if (lenp)
		*lenp = len;
	return buf;
}

const char *cli_plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int cli_outputs_open(struct cli_output *outs, size_t n)
{
	const char *to_stdout = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!outs[i].path || !cli_output_is_stdout(&outs[i]))
			continue;
		if (to_stdout) {
			fprintf(stderr, "ptsim: the %s and the %s cannot both go to standard output (-)\n", to_stdout,
				outs[i].what);
			return CLI_EXIT_USAGE;
		}
		to_stdout = outs[i].what;
	}
	for (size_t i = 0; i < n; i++) {
		outs[i].f = NULL;
		if (!outs[i].path)
			continue;
		if (cli_output_is_stdout(&outs[i])) {
			outs[i].f = stdout;
			continue;
		}
		outs[i].f = fopen(outs[i].path, "w");
		if (!outs[i].f) {
			fprintf(stderr, "ptsim: cannot create %s: %s\n", outs[i].path, strerror(errno));
			cli_outputs_close(outs, i);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

void cli_outputs_close(struct cli_output *outs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (outs[i].f && outs[i].f != stdout)
			fclose(outs[i].f);
		outs[i].f = NULL;
	}
}

/* Write @text to @o and close it; false, having said why, if it did not all get there. */
static bool write_one(struct cli_output *o, const char *text)
{
	errno = 0;
	fwrite(text, 1, o->len ? o->len : strlen(text), o->f);
	if (o->newline)
		fputc('\n', o->f);
	bool ok = fflush(o->f) == 0 && !ferror(o->f);
	int err = errno;
	if (o->f != stdout && fclose(o->f) != 0 && ok) {
		ok = false;
		err = errno;
	}
	o->f = NULL;
	if (!ok)
		fprintf(stderr, "ptsim: cannot write the %s to %s: %s\n", o->what,
			cli_output_is_stdout(o) ? "standard output" : o->path, err ? strerror(err) : "write error");
	return ok;
}

int cli_outputs_write(struct cli_output *outs, const char *const *texts, size_t n)
{
	int status = CLI_EXIT_CLEAN;

	for (size_t i = 0; i < n; i++)
		if (outs[i].f && !texts[i]) {
			fprintf(stderr, "ptsim: cannot make the %s: out of memory\n", outs[i].what);
			status = CLI_EXIT_INTERNAL;
		}
	for (size_t i = 0; i < n && status == CLI_EXIT_CLEAN; i++)
		if (outs[i].f && outs[i].f != stdout && !write_one(&outs[i], texts[i]))
			status = CLI_EXIT_INTERNAL;
	for (size_t i = 0; i < n && status == CLI_EXIT_CLEAN; i++)
		if (outs[i].f == stdout && !write_one(&outs[i], texts[i]))
			status = CLI_EXIT_INTERNAL;
	cli_outputs_close(outs, n);
	return status;
}
