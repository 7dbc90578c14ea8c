/*
 * Names that end up in reports (marks, file names, trace `as` names): the
 * JSON report and the CSV timeline must stay valid whatever a caller passes,
 * so a name must be valid UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF), hold no control character (U+0000-U+001F, U+007F,
 * U+0080-U+009F) and be 1..PTSIM_NAME_MAX bytes long.  The C API and the
 * trace loader both check with name_problem(), so their messages agree.
 */
#ifndef PTSIM_UTIL_NAME_H
#define PTSIM_UTIL_NAME_H

#include <stddef.h>

/*
 * name_problem - what is wrong with the @len bytes at @s as a name, or NULL
 * if nothing.  The message is written to @buf (e.g. "invalid UTF-8 at byte
 * 3 (0xff)", "control character U+000A at byte 5", "300 bytes long (at most
 * 255)", "empty") and returned.
 */
const char *name_problem(const char *s, size_t len, char *buf, size_t buflen);

#endif
