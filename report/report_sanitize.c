/*
 * report_sanitize.c -- the terminal filter for text output, and the UTF-8
 * sequence check that the JSON writer shares.
 *
 * Entry points: pd_report_sanitize_terminal() (report.h) and
 * pd_report_utf8_seq_len() (report_utf8.h). Both may be called from any
 * thread; they touch only their arguments.
 *
 * Strings from transcripts and archive rows can carry escape sequences that
 * would move the cursor, retitle the window or hide text when printed. The
 * filter removes the control characters that start them, and the printable
 * remainder stays visible so a reader can tell that something was removed.
 * It also removes bidirectional overrides and line separators, and turns
 * line breaks and tabs into spaces, because the text report puts each
 * string on one line.
 */
#include <string.h>

#include "report/report.h"
#include "report/report_utf8.h"

static int is_continuation(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

size_t pd_report_utf8_seq_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b0 = s[0];
    size_t len;
    uint32_t value;
    /* The smallest allowed second byte of a lead byte rules out overlong
     * forms. The largest rules out surrogates and values above U+10FFFF. */
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;

    if (b0 < 0x80) {
        if (cp)
            *cp = b0;
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        value = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        value = b0 & 0x0F;
        if (b0 == 0xE0)
            second_min = 0xA0;
        else if (b0 == 0xED)
            second_max = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        value = b0 & 0x07;
        if (b0 == 0xF0)
            second_min = 0x90;
        else if (b0 == 0xF4)
            second_max = 0x8F;
    } else {
        return 0;
    }

    if (n < len)
        return 0;
    if (s[1] < second_min || s[1] > second_max)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (!is_continuation(s[i]))
            return 0;
        value = (value << 6) | (s[i] & 0x3F);
    }
    if (cp)
        *cp = value;
    return len;
}

/* True for code points the terminal filter removes: C0 and C1 controls and
 * DEL, which start escape sequences, and the bidirectional overrides,
 * isolates and line separators, which reorder or break what follows. */
static int is_terminal_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
           cp == 0x2029;
}

char *pd_report_sanitize_terminal(pd_arena *a, const char *s)
{
    if (!s)
        return NULL;

    size_t n = strlen(s);
    /* The result is never longer than the input. */
    char *out = pd_arena_alloc(a, n + 1);
    if (!out)
        return NULL;

    const unsigned char *in = (const unsigned char *)s;
    size_t out_len = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = pd_report_utf8_seq_len(in + i, n - i, &cp);
        if (len == 0) {
            /* Drop one byte and resynchronise on the next. */
            i++;
            continue;
        }
        if (cp == '\n' || cp == '\t') {
            /* Every string goes on one line of the report, and a line break
             * inside one could pass for a row of its own. */
            out[out_len++] = ' ';
        } else if (!is_terminal_control(cp)) {
            memcpy(out + out_len, in + i, len);
            out_len += len;
        }
        i += len;
    }
    out[out_len] = '\0';
    return out;
}
