/*
 * text.h -- UTF-8 and string helpers shared by parsers, archive and report.
 *
 * Thread-safety: all functions are pure or write only to their arguments.
 */
#ifndef PD_TEXT_H
#define PD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

/*
 * Archive sanitising rule: removes NUL bytes, invalid UTF-8 sequences (one
 * byte at a time) and control characters other than \n, \t and \r (C0, DEL
 * and C1). Returns a NUL-terminated arena copy and sets *out_len (may be
 * NULL); returns NULL when memory runs out. Idempotent.
 */
char *pd_utf8_sanitize(pd_arena *a, const char *s, size_t n, size_t *out_len);
/* True when s[0..n) is already sanitised (lets callers skip the copy). */
bool pd_utf8_is_clean(const char *s, size_t n);

/* Number of runes in valid UTF-8 s[0..n) (invalid bytes count one each). */
size_t pd_utf8_rune_count(const char *s, size_t n);
/* Byte length of the first max_runes runes of s[0..n). */
size_t pd_utf8_prefix_bytes(const char *s, size_t n, size_t max_runes);

/*
 * The reference trunc300 rule: newlines become spaces, Unicode whitespace is
 * trimmed at both ends, and text longer than max_runes runes keeps its first
 * max_runes runes plus "...". Returns an arena string or NULL.
 */
char *pd_text_truncate_runes(pd_arena *a, const char *s, size_t n, size_t max_runes);

/* Trims Unicode whitespace at both ends; sets *start and *len to the trimmed span. */
void pd_text_trim_span(const char *s, size_t n, size_t *start, size_t *len);
/* Returns an arena copy of s trimmed of Unicode whitespace at both ends. */
char *pd_text_trim(pd_arena *a, const char *s, size_t n);
/* True when s[0..n) holds only Unicode whitespace (or is empty). */
bool pd_text_is_blank(const char *s, size_t n);
/* True when s[0..n) starts with the NUL-terminated prefix. */
bool pd_text_has_prefix(const char *s, size_t n, const char *prefix);
/*
 * Replaces, in place, every C0 control character other than \t, and DEL,
 * with '?', so that a file name in a one-line message can neither drive the
 * terminal nor start a line that looks like another message.
 */
void pd_text_scrub_controls(char *s);
/* Finds needle in s[0..n); returns a pointer into s or NULL. */
const char *pd_text_find(const char *s, size_t n, const char *needle);

/*
 * Lexically cleans a slash-separated path the way Go's path/filepath.Clean
 * does: repeated slashes collapse, "." elements go, ".." removes the element
 * before it (and is dropped at the root). Returns an arena string ("." for
 * an empty path) or NULL when memory runs out.
 */
char *pd_path_clean(pd_arena *a, const char *s, size_t n);

#endif
