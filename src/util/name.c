/* Name checks shared by the C API and the trace loader (name.h). */
#include "util/name.h"

#include <stdint.h>
#include <stdio.h>

#include "ptsim/machine.h"

/* Length of the UTF-8 sequence at @p (at most @left bytes) and its code point; 0 if invalid. */
static size_t utf8_decode(const unsigned char *p, size_t left, uint32_t *cp)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n;
	uint32_t c = p[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

const char *name_problem(const char *s, size_t len, char *buf, size_t buflen)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s || !len) {
		snprintf(buf, buflen, "empty");
		return buf;
	}
	if (len > PTSIM_NAME_MAX) {
		snprintf(buf, buflen, "%zu bytes long (at most %d)", len, PTSIM_NAME_MAX);
		return buf;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (!n) {
			snprintf(buf, buflen, "invalid UTF-8 at byte %zu (0x%02x)", i, p[i]);
			return buf;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			snprintf(buf, buflen, "control character U+%04X at byte %zu", (unsigned int)cp, i);
			return buf;
		}
		i += n;
	}
	return NULL;
}
