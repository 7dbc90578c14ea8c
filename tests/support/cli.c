/* Running the ptsim command from a test (cli.h). */
#include "support/cli.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

char *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (!r)
			break;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

void t_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("cannot create %s", path);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int capture_file(const char *tmpdir, const char *what, char *path, size_t len)
{
	snprintf(path, len, "%s/cli_%s_XXXXXX", tmpdir, what);
	int fd = mkstemp(path);
	if (fd < 0)
		fail_msg("mkstemp %s", path);
	return fd;
}

struct t_cli t_cli_run(const char *bin, const char *tmpdir, const char *cwd, const char *in, const char *const *args)
{
	char out_path[1024], err_path[1024];
	int out_fd = capture_file(tmpdir, "out", out_path, sizeof(out_path));
	int err_fd = capture_file(tmpdir, "err", err_path, sizeof(err_path));
	size_t n = 0;
	struct t_cli r = { .status = -1 };

	while (args[n])
		n++;
	char **argv = calloc(n + 2, sizeof(char *));
	assert_non_null(argv);
	argv[0] = (char *)bin;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)args[i];

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in_fd = open(in ? in : "/dev/null", O_RDONLY);
		if (in_fd < 0 || (cwd && chdir(cwd)) || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(127);
		execv(bin, argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st))
		r.status = WEXITSTATUS(st);
	close(out_fd);
	close(err_fd);
	r.out = t_read_file(out_path, &r.out_len);
	r.err = t_read_file(err_path, NULL);
	assert_non_null(r.out);
	assert_non_null(r.err);
	unlink(out_path);
	unlink(err_path);
	free(argv);
	return r;
}

void t_cli_free(struct t_cli *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
