/*
 * report_utf8.h -- UTF-8 sequence checks shared by the JSON writer and the
 * terminal filter. Private to report/.
 *
 * Thread-safety: pure functions.
 */
#ifndef PD_REPORT_UTF8_H
#define PD_REPORT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns the byte length (1..4) of the valid UTF-8 sequence at the start of
 * s[0..n), or 0 when s[0] does not start one. Overlong forms, UTF-16
 * surrogates (U+D800..U+DFFF), code points above U+10FFFF and truncated
 * sequences are invalid. If cp is not NULL, the decoded code point is stored
 * there on success. n must be at least 1.
 */
size_t pd_report_utf8_seq_len(const unsigned char *s, size_t n, uint32_t *cp);

#endif
