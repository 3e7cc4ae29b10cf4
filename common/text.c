/*
 * text.c -- UTF-8 decoding, archive sanitising, trimming and truncation.
 *
 * Entry points: pd_utf8_sanitize(), pd_utf8_is_clean(), pd_utf8_rune_count(),
 * pd_utf8_prefix_bytes(), pd_text_truncate_runes(), pd_text_trim_span(),
 * pd_text_trim(), pd_text_is_blank(), pd_text_has_prefix(), pd_text_find(),
 * pd_path_clean().
 *
 * Decoding follows Go's unicode/utf8: overlong forms, surrogates
 * (U+D800..U+DFFF) and values above U+10FFFF are invalid, and an invalid
 * sequence is consumed one byte at a time. "Unicode whitespace" is the set of
 * Go's unicode.IsSpace.
 *
 * Threading: pure functions; results go to arguments or the caller's arena.
 */
#include "common/text.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#define RUNE_INVALID (-1)

/*
 * Decodes the rune at s[0..n) (n >= 1). Returns its byte length and sets
 * *rune, or returns 1 and sets *rune = RUNE_INVALID for an invalid byte.
 */
static size_t decode_rune(const unsigned char *s, size_t n, int32_t *rune)
{
    unsigned char c = s[0];
    int32_t r;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        *rune = c;
        return 1;
    }

    /* The first continuation byte has a narrower range for E0, ED, F0 and F4. */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        r = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        r = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        r = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *rune = RUNE_INVALID;
        return 1;
    }

    if (n < len || s[1] < lo || s[1] > hi) {
        *rune = RUNE_INVALID;
        return 1;
    }
    r = (r << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *rune = RUNE_INVALID;
            return 1;
        }
        r = (r << 6) | (s[i] & 0x3F);
    }
    *rune = r;
    return len;
}

/* Decodes the last rune of s[0..n) (n >= 1) the way Go's DecodeLastRune does. */
static size_t decode_last_rune(const unsigned char *s, size_t n, int32_t *rune)
{
    size_t start = n - 1;
    size_t limit = n >= 4 ? n - 4 : 0;
    int32_t r;
    size_t len;

    if (s[start] < 0x80) {
        *rune = s[start];
        return 1;
    }
    /* Back up over continuation bytes to a possible start byte. */
    while (start > limit && (s[start] & 0xC0) == 0x80)
        start--;
    len = decode_rune(s + start, n - start, &r);
    if (start + len != n) {
        *rune = RUNE_INVALID;
        return 1;
    }
    *rune = r;
    return len;
}

static bool is_unicode_space(int32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

/* True for runes the archive sanitiser removes: C0 other than \t \n \r, DEL and C1. */
static bool is_removed_control(int32_t r)
{
    if (r == '\n' || r == '\t' || r == '\r')
        return false;
    return r < 0x20 || (r >= 0x7F && r <= 0x9F);
}

#ifdef __SSE2__
/* Returns a 16-bit mask of the bytes in s[0..16) that sanitising may change or must decode. */
static unsigned not_plain_mask16(const unsigned char *s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    /* Signed compare: bytes at 0x80 and above are negative, so they count as below 0x20. */
    __m128i below_space = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    __m128i kept_controls = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
    __m128i bad = _mm_or_si128(_mm_andnot_si128(kept_controls, below_space), del);
    return (unsigned)_mm_movemask_epi8(bad);
}
#endif

/*
 * Length of the leading run of bytes that sanitising keeps as they are and
 * that need no decoding: printable ASCII, \t, \n and \r. Transcripts are
 * mostly such ASCII, and one decode per byte was the largest cost of a diff
 * run. So the run is measured 16 bytes at a time with SSE2, or 8 bytes at a
 * time where the compiler does not target SSE2.
 */
static size_t plain_ascii_run_portable(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    while (n - i >= 16) {
        unsigned bad = not_plain_mask16(s + i);
        if (bad != 0)
            return i + (size_t)__builtin_ctz(bad);
        i += 16;
    }
#endif
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (;;) {
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* A byte below 0x20, or at 0x7F and above, sets its high bit here. */
            uint64_t below_space = (w - 0x20 * ones) & ~w & highs;
            uint64_t del_or_high = (w | (w + ones)) & highs;
            if ((below_space | del_or_high) != 0)
                break;
            i += 8;
        }
        if (i >= n)
            return i;
        /* One byte at a time up to the next word, so that a newline does not end the fast path. */
        unsigned char c = s[i];
        if (!((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t' || c == '\r'))
            return i;
        i++;
    }
}

#ifdef HAVE_AVX2_PATH
/* Measures the same run 32 bytes at a time on CPUs with AVX2, which is checked at run time. */
__attribute__((target("avx2"))) static size_t plain_ascii_run_avx2(const unsigned char *s, size_t n)
{
    const __m256i space = _mm256_set1_epi8(0x20);
    size_t i = 0;

    while (n - i >= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        /* Signed compare: bytes at 0x80 and above are negative, so they count as below 0x20. */
        __m256i below_space = _mm256_cmpgt_epi8(space, v);
        __m256i kept_controls =
            _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\t')),
                                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n'))),
                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r')));
        __m256i del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F));
        __m256i bad = _mm256_or_si256(_mm256_andnot_si256(kept_controls, below_space), del);
        unsigned mask = (unsigned)_mm256_movemask_epi8(bad);
        if (mask != 0)
            return i + (size_t)__builtin_ctz(mask);
        i += 32;
    }
    return i + plain_ascii_run_portable(s + i, n - i);
}
#endif

static size_t plain_ascii_run(const unsigned char *s, size_t n)
{
#ifdef HAVE_AVX2_PATH
    if (n >= 64 && __builtin_cpu_supports("avx2"))
        return plain_ascii_run_avx2(s, n);
#endif
    return plain_ascii_run_portable(s, n);
}

bool pd_utf8_is_clean(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        i += plain_ascii_run(u + i, n - i);
        if (i >= n)
            break;
        int32_t r;
        size_t len = decode_rune(u + i, n - i, &r);
        if (r == RUNE_INVALID || is_removed_control(r))
            return false;
        i += len;
    }
    return true;
}

char *pd_utf8_sanitize(pd_arena *a, const char *s, size_t n, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out;
    size_t i = 0, o = 0;

    /* Sanitising only removes bytes, so n + 1 always suffices. */
    if (n == SIZE_MAX)
        return NULL;
    out = pd_arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;

    while (i < n) {
        size_t run = plain_ascii_run(u + i, n - i);
        memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (i >= n)
            break;
        int32_t r;
        size_t len = decode_rune(u + i, n - i, &r);
        if (r != RUNE_INVALID && !is_removed_control(r)) {
            memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}

size_t pd_utf8_rune_count(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, count = 0;

    while (i < n) {
        int32_t r;
        i += decode_rune(u + i, n - i, &r);
        count++;
    }
    return count;
}

size_t pd_utf8_prefix_bytes(const char *s, size_t n, size_t max_runes)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, count = 0;

    while (i < n && count < max_runes) {
        int32_t r;
        i += decode_rune(u + i, n - i, &r);
        count++;
    }
    return i;
}

void pd_text_trim_span(const char *s, size_t n, size_t *start, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t begin = 0, end = n;

    while (begin < end) {
        int32_t r;
        size_t rune_len = decode_rune(u + begin, end - begin, &r);
        if (!is_unicode_space(r))
            break;
        begin += rune_len;
    }
    while (end > begin) {
        int32_t r;
        size_t rune_len = decode_last_rune(u + begin, end - begin, &r);
        if (!is_unicode_space(r))
            break;
        end -= rune_len;
    }
    *start = begin;
    *len = end - begin;
}

char *pd_text_trim(pd_arena *a, const char *s, size_t n)
{
    size_t start, len;

    pd_text_trim_span(s, n, &start, &len);
    return pd_arena_strndup(a, s + start, len);
}

bool pd_text_is_blank(const char *s, size_t n)
{
    size_t start, len;

    pd_text_trim_span(s, n, &start, &len);
    return len == 0;
}

bool pd_text_has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);

    return plen <= n && memcmp(s, prefix, plen) == 0;
}

void pd_text_scrub_controls(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            *p = '?';
    }
}

const char *pd_text_find(const char *s, size_t n, const char *needle)
{
    size_t nlen = strlen(needle);

    if (nlen == 0)
        return s;
    if (nlen > n)
        return NULL;
#ifdef __SSE2__
    /*
     * 16 candidate positions at a time: a match needs the needle's first byte
     * at the position and its last byte nlen - 1 further on, and only
     * positions passing both tests are compared in full. Both loads stay
     * inside s[0..n).
     */
    if (nlen >= 2) {
        const __m128i first = _mm_set1_epi8(needle[0]);
        const __m128i last = _mm_set1_epi8(needle[nlen - 1]);
        size_t i = 0;
        for (; i + nlen - 1 + 16 <= n; i += 16) {
            __m128i at_first = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i at_last = _mm_loadu_si128((const __m128i *)(s + i + nlen - 1));
            unsigned mask = (unsigned)_mm_movemask_epi8(
                _mm_and_si128(_mm_cmpeq_epi8(at_first, first), _mm_cmpeq_epi8(at_last, last)));
            while (mask != 0) {
                size_t at = i + (size_t)__builtin_ctz(mask);
                if (memcmp(s + at + 1, needle + 1, nlen - 2) == 0)
                    return s + at;
                mask &= mask - 1;
            }
        }
        return memmem(s + i, n - i, needle, nlen);
    }
#endif
    return memmem(s, n, needle, nlen);
}

char *pd_text_truncate_runes(pd_arena *a, const char *s, size_t n, size_t max_runes)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    const unsigned char *u;
    char *spaced, *out;
    size_t start, len, i, o, count;

    /* Newlines become spaces first, so a leading or trailing newline is trimmed too. */
    spaced = pd_arena_strndup(a, s, n);
    if (spaced == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (spaced[i] == '\n')
            spaced[i] = ' ';
    }
    pd_text_trim_span(spaced, n, &start, &len);
    spaced += start;
    spaced[len] = '\0';

    if (len <= max_runes || pd_utf8_rune_count(spaced, len) <= max_runes)
        return spaced;

    /*
     * The cut mirrors Go's string([]rune(s)[:max]), which turns each invalid
     * byte of the kept prefix into U+FFFD.
     */
    u = (const unsigned char *)spaced;
    out = pd_arena_alloc(a, max_runes * 4 + 4);
    if (out == NULL)
        return NULL;
    for (i = 0, o = 0, count = 0; i < len && count < max_runes; count++) {
        int32_t r;
        size_t rune_len = decode_rune(u + i, len - i, &r);
        if (r == RUNE_INVALID) {
            memcpy(out + o, replacement, 3);
            o += 3;
        } else {
            memcpy(out + o, spaced + i, rune_len);
            o += rune_len;
        }
        i += rune_len;
    }
    memcpy(out + o, "...", 4);
    return out;
}

/*
 * Lexically cleans a slash-separated path the way Go's path/filepath.Clean
 * does: repeated slashes collapse, "." elements go, ".." removes the element
 * before it (and is dropped at the root). Returns "." for an empty path.
 */
char *pd_path_clean(pd_arena *a, const char *s, size_t n)
{
    char *out = pd_arena_alloc(a, n + 2);
    bool rooted = n > 0 && s[0] == '/';
    size_t o = 0, i = 0, floor = 0;

    if (out == NULL)
        return NULL;
    if (rooted) {
        out[o++] = '/';
        i = 1;
        floor = 1;
    }
    while (i < n) {
        size_t start, len;

        while (i < n && s[i] == '/')
            i++;
        start = i;
        while (i < n && s[i] != '/')
            i++;
        len = i - start;
        if (len == 0 || (len == 1 && s[start] == '.'))
            continue;
        if (len == 2 && s[start] == '.' && s[start + 1] == '.') {
            if (o > floor) {
                /* Remove the previous element, which is never "..", because those stay only below
                 * floor. */
                while (o > floor && out[o - 1] != '/')
                    o--;
                if (o > floor)
                    o--;
                continue;
            }
            if (rooted)
                continue;
            /* A relative path keeps leading "..", and later ".." cannot remove them. */
            if (o > 0)
                out[o++] = '/';
            out[o++] = '.';
            out[o++] = '.';
            floor = o;
            continue;
        }
        if (o > 0 && out[o - 1] != '/')
            out[o++] = '/';
        memcpy(out + o, s + start, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return out;
}
