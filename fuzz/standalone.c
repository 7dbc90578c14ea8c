/*
 * fuzz_replay: runs fuzz_trace's checks on files, without libFuzzer, so that
 * every build (gcc too) replays the seed corpus and every input a fuzzer ever
 * found (fuzz/regressions/) as a test:  fuzz_replay FILE|DIR...
 * A finding aborts, as under the fuzzer; otherwise it prints how many inputs
 * ran and exits 0.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, r;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *n = realloc(buf, cap);
			if (!n) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = n;
		}
		r = fread(buf + len, 1, cap - len, f);
		len += r;
	} while (r);
	fclose(f);
	fprintf(stderr, "fuzz_replay: %s\n", path);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of @dir in name order (deterministic), skipping dot files. */
static int run_dir(const char *dir, unsigned int *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t nr = 0;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || (l > 3 && !strcmp(e->d_name + l - 3, ".md")))
			continue;
		char **nn = realloc(names, (nr + 1) * sizeof(*names));
		if (!nn || !(nn[nr] = malloc(strlen(dir) + strlen(e->d_name) + 2))) {
			names = nn ? nn : names;
			rc = -1;
			break;
		}
		names = nn;
		sprintf(names[nr++], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (nr)
		qsort(names, nr, sizeof(*names), compare);
	for (size_t i = 0; i < nr; i++) {
		if (!rc && !(rc = run_file(names[i])))
			++*n;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned int n = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &n) : run_file(argv[i]))
			return 1;
		n += !S_ISDIR(st.st_mode);
	}
	printf("fuzz_replay: %u inputs, no finding\n", n);
	return 0;
}
