/*
 * gen_text.c -- the generator's random stream, output buffer, timestamps and
 * filler text.
 *
 * Entry points: gen_text_init() before any filler text; every other
 * function from any thread on its own gen_rng and gen_buf.
 *
 * Filler text is cut from one fixed pool of pseudo-words, so producing
 * megabytes of it costs a memcpy. The pool does not depend on the seed,
 * but the offsets of the cuts do.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen_internal.h"

/* ---- random stream ------------------------------------------------------- */

uint64_t gen_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gen_rng_seed(gen_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t state = seed ^ (stream * 0xd1342543de82ef95ull) ^ 0x2545f4914f6cdd1dull;
    for (int i = 0; i < 4; i++)
        rng->s[i] = gen_splitmix64(&state);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(gen_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double gen_rng_unit(gen_rng *rng)
{
    return (double)(gen_rng_next(rng) >> 11) * 0x1.0p-53;
}

int64_t gen_rng_range(gen_rng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    if (span == 0)
        return (int64_t)gen_rng_next(rng);
    return lo + (int64_t)(gen_rng_next(rng) % span);
}

double gen_rng_normal(gen_rng *rng)
{
    double u1 = gen_rng_unit(rng);
    double u2 = gen_rng_unit(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- output buffer ------------------------------------------------------- */

void gen_buf_free(gen_buf *b)
{
    free(b->data);
    *b = (gen_buf){0};
}

static bool reserve(gen_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra <= b->cap)
        return true;
    size_t cap = b->cap != 0 ? b->cap : 64 * 1024;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void gen_put(gen_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void gen_puts(gen_buf *b, const char *s)
{
    gen_put(b, s, strlen(s));
}

void gen_put_again(gen_buf *b, size_t offset, size_t n)
{
    /* Reserve first: growing the buffer moves the bytes being copied. */
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, b->data + offset, n);
    b->len += n;
}

void gen_put_fill(gen_buf *b, char c, size_t n)
{
    if (!reserve(b, n))
        return;
    memset(b->data + b->len, c, n);
    b->len += n;
}

void gen_put_int(gen_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[sizeof tmp - 1 - n++] = '-';
    gen_put(b, tmp + sizeof tmp - n, n);
}

void gen_put_hex(gen_buf *b, gen_rng *rng, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (!reserve(b, n))
        return;
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0)
            bits = gen_rng_next(rng);
        b->data[b->len++] = digits[bits & 15];
        bits >>= 4;
    }
}

void gen_make_uuid(gen_rng *rng, char out[37])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t hi = gen_rng_next(rng);
    uint64_t lo = gen_rng_next(rng);
    size_t pos = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[pos++] = '-';
        unsigned nibble;
        if (i == 12)
            nibble = 4; /* version 4 */
        else if (i == 16)
            nibble = 8 | (unsigned)(lo & 3); /* RFC 4122 variant */
        else
            nibble = (unsigned)((i < 16 ? hi >> (4 * i) : lo >> (4 * (i - 16) + 2)) & 15);
        out[pos++] = digits[nibble];
    }
    out[pos] = '\0';
}

void gen_put_uuid(gen_buf *b, gen_rng *rng)
{
    char id[37];
    gen_make_uuid(rng, id);
    gen_put(b, id, 36);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void gen_civil_time(int64_t unix_ms, int *year, int *month, int *day, int *hour, int *minute,
                    int *second)
{
    int64_t secs = unix_ms / 1000;
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    civil_from_days(days, year, month, day);
    *hour = (int)(rem / 3600);
    *minute = (int)(rem / 60 % 60);
    *second = (int)(rem % 60);
}

static void put_digits(char *out, int value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

void gen_put_time(gen_buf *b, int64_t unix_ms)
{
    int y, mo, d, h, mi, s;
    gen_civil_time(unix_ms, &y, &mo, &d, &h, &mi, &s);
    char out[24] = "0000-00-00T00:00:00.000Z";
    put_digits(out, y, 4);
    put_digits(out + 5, mo, 2);
    put_digits(out + 8, d, 2);
    put_digits(out + 11, h, 2);
    put_digits(out + 14, mi, 2);
    put_digits(out + 17, s, 2);
    put_digits(out + 20, (int)(unix_ms % 1000), 3);
    gen_put(b, out, sizeof out);
}

/* ---- filler text --------------------------------------------------------- */

enum { POOL_BYTES = 1 << 20 };

/* Written once by gen_text_init(), then read-only. */
static char text_pool[POOL_BYTES];
static char plain_pool[POOL_BYTES];

static void build_pools(void)
{
    static const char *const syllables[] = {
        "lo", "rem", "ip", "sum", "do", "lor", "sit", "am", "et", "con", "sec", "te", "tur",
        "ad", "pis", "cing", "el", "it", "sed", "eius", "mod", "tem", "por", "in", "ci",
        "di", "dunt", "ut", "la", "bo", "re", "ma", "gna", "ali", "qua", "en", "im", "ve",
        "ni", "quis", "nos", "tru", "ex", "er", "ta", "tion", "ul", "co", "ris", "nisi",
    };
    const size_t n_syllables = sizeof syllables / sizeof syllables[0];
    gen_rng rng;
    gen_rng_seed(&rng, 0x70617273656466ull, 0);

    size_t pos = 0;
    size_t words_in_sentence = 0;
    while (pos + 32 < POOL_BYTES) {
        int n_syl = (int)gen_rng_range(&rng, 1, 4);
        for (int i = 0; i < n_syl; i++) {
            const char *syl = syllables[gen_rng_next(&rng) % n_syllables];
            size_t n = strlen(syl);
            memcpy(text_pool + pos, syl, n);
            pos += n;
        }
        words_in_sentence++;
        uint64_t r = gen_rng_next(&rng) % 100;
        if (words_in_sentence > 6 && r < 12) {
            text_pool[pos++] = '.';
            words_in_sentence = 0;
            if (r < 3) {
                /* A paragraph break, written as the JSON escape for a newline. */
                text_pool[pos++] = '\\';
                text_pool[pos++] = 'n';
                continue;
            }
        } else if (r < 18) {
            text_pool[pos++] = ',';
        }
        text_pool[pos++] = ' ';
    }
    while (pos < POOL_BYTES)
        text_pool[pos++] = ' ';

    /* The plain pool is the same text with each escape turned into two spaces. */
    for (size_t i = 0; i < POOL_BYTES; i++) {
        char c = text_pool[i];
        if (c == '\\') {
            plain_pool[i] = ' ';
            plain_pool[i + 1] = ' ';
            i++;
        } else {
            plain_pool[i] = c;
        }
    }
}

void gen_text_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_pools);
}

static void put_from_pool(gen_buf *b, gen_rng *rng, size_t n, const char *pool)
{
    while (n > 0) {
        size_t take = n < POOL_BYTES / 2 ? n : POOL_BYTES / 2;
        size_t start = (size_t)(gen_rng_next(rng) % (POOL_BYTES - take));
        /* Never start on the 'n' of an escape or end on its backslash. */
        if (start > 0 && pool[start - 1] == '\\')
            start++;
        size_t len = take;
        if (start + len > POOL_BYTES)
            len = POOL_BYTES - start;
        if (len > 0 && pool[start + len - 1] == '\\')
            len--;
        if (len == 0) {
            gen_put(b, " ", 1);
            len = 1;
        } else {
            gen_put(b, pool + start, len);
        }
        n -= len < n ? len : n;
    }
}

void gen_put_text(gen_buf *b, gen_rng *rng, size_t n)
{
    put_from_pool(b, rng, n, text_pool);
}

void gen_put_plain(gen_buf *b, gen_rng *rng, size_t n)
{
    put_from_pool(b, rng, n, plain_pool);
}
