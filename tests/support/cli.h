/*
 * Running the ptsim command from a test: argv without a shell, standard output
 * and standard error captured apart, the exit status.
 */
#ifndef PTSIM_TEST_CLI_H
#define PTSIM_TEST_CLI_H

#include <stddef.h>

struct t_cli {
	int status;    /* exit status; -1 if it did not exit (a signal) */
	char *out;     /* standard output, NUL-terminated (also when it holds NUL bytes: see out_len) */
	size_t out_len;
	char *err;     /* standard error */
};

/*
 * t_cli_run - run @bin with the NULL-terminated @args (argv[1..]) in directory
 * @cwd (NULL: the current one), standard input from the file @in (NULL:
 * /dev/null); @tmpdir holds the capture files.
 */
struct t_cli t_cli_run(const char *bin, const char *tmpdir, const char *cwd, const char *in, const char *const *args);
void t_cli_free(struct t_cli *r);

/* Read a whole file (NUL-terminated; *len gets its length if @len); NULL if it cannot be read. */
char *t_read_file(const char *path, size_t *len);
/* Write @text to @path (the test fails if it cannot). */
void t_write_file(const char *path, const char *text);

#endif
