/*
 * Writes the libFuzzer dictionary for fuzz_trace (one "token" per line) from
 * the library's own tables, so that it always holds every op, field, variant
 * key and preset that exists: the parser's op and field tables, the variant
 * and preset lists, and the value names and JSON syntax the parser accepts.
 */
#include <stdio.h>

#include "ptsim/ptsim.h"
#include "trace/trace_internal.h"

static void token(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	puts("\"");
}

static void quoted(const char *s)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "\"%s\"", s);
	token(buf);
}

int main(void)
{
	/* Value names of the enum fields and the top level (parse.c). */
	static const char *const words[] = {
		"ptsim_trace", "machine", "events", "comment", "arch", "cpus", "paging_levels", "granule",
		"va_bits", "preset", "set", "seed", "x86_64", "arm64", "none", "r", "rw", "rwx", "rx", "x", "w",
		"wx", "anon", "file", "shmem", "hugetlb", "dontneed", "free", "dontneed_locked", "guard_install",
		"guard_remove", "EINVAL", "ENOMEM", "EACCES", "EEXIST", "EBUSY", "ENOENT", "EFAULT", "on", "off",
	};
	static const char *const syntax[] = {
		"{", "}", "[", "]", ":", ",", "true", "false", "null", "\"op\":", "0x", "4K", "2M", "1G", "1T", "-",
		"0x7ffffffff000", "0x100000", "18446744073709551615", "9007199254740992", "1e308", "\\u0000",
		"{\"ptsim_trace\":1,\"events\":[", "]}", "{\"op\":\"spawn\",\"task\":1,\"cpu\":0}",
	};

	for (size_t i = 0; i < NR_OPS; i++)
		quoted(ptsim__trace_ops[i].name);
	for (size_t i = 0; i < NR_FIELDS; i++)
		quoted(ptsim__trace_field_names[i]);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		quoted(words[i]);
	for (size_t i = 0; i < ptsim_variant_count(); i++)
		quoted(ptsim_variant_key(i));
	for (size_t i = 0; i < ptsim_preset_count(); i++)
		quoted(ptsim_preset_name(i));
	for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++)
		token(syntax[i]);
	return 0;
}
