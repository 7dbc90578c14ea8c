/* Walking compare-real's JSON figures (figures.h). */
#include <stdio.h>
#include <string.h>

#include "support/figures.h"

void t_each_figure(const cJSON *o, char *path, size_t len, void (*fn)(const char *, const cJSON *, void *),
		   void *ctx)
{
	size_t n = strlen(path);
	if (cJSON_IsObject(o) && cJSON_GetObjectItem(o, "diff")) {
		fn(path, o, ctx);
		return;
	}
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, o) {
		if (cJSON_IsArray(o))
			snprintf(path + n, len - n, "[%d]", i++);
		else
			snprintf(path + n, len - n, "%s%s", n ? "." : "", c->string);
		t_each_figure(c, path, len, fn, ctx);
		path[n] = 0;
	}
}
