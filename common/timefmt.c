/*
 * timefmt.c -- RFC 3339 parsing and formatting in nanoseconds since the epoch.
 *
 * Entry points: pd_time_parse(), pd_time_format(), pd_time_format_seconds(),
 * pd_time_year(), pd_time_now(), pd_monotonic_ns().
 *
 * Parsing reproduces what Go's time.Parse accepts for the archive's layouts,
 * tried in order (first match wins):
 *   RFC3339Nano and RFC3339   date 'T' time, optional fraction, zone Z or +hh:mm / -hh:mm
 *   "2006-01-02T15:04:05.000000"   exactly six fraction digits, no zone, UTC
 *   "2006-01-02 15:04:05"     optional fraction of any length, no zone, UTC
 * The other layouts the archive lists (".000Z", "Z", ".000-07:00", "-07:00")
 * accept a subset of RFC3339, so they need no code of their own. As in Go, the
 * fraction separator may be '.' or ',', digits past the ninth are ignored,
 * the hour may have one digit, and fields are range-checked (day against the
 * month's length, second 0-59).
 *
 * Calendar arithmetic is done here, in 64-bit days and seconds, so results do
 * not depend on TZ or on timegm().
 *
 * Threading: pure functions (pd_time_now and pd_monotonic_ns read the clocks).
 */
#include "common/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL
#define SEC_PER_DAY 86400LL

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    /* Counting years from March puts the leap day at the end of a 400-year era. */
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t shifted_month = month > 2 ? month - 3 : month + 9;
    int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;

    return era * 146097 + day_of_era - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t shifted_month = (5 * day_of_year + 2) / 153;

    *day = (int)(day_of_year - (153 * shifted_month + 2) / 5 + 1);
    *month = (int)(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static bool is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* A cursor over the text being parsed. */
typedef struct scan {
    const char *s;
    size_t n;
    size_t pos;
} scan;

static bool at_digit(const scan *sc)
{
    return sc->pos < sc->n && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9';
}

/* Reads exactly `width` digits into *out. */
static bool read_fixed(scan *sc, int width, int *out)
{
    int v = 0;

    for (int i = 0; i < width; i++) {
        if (!at_digit(sc))
            return false;
        v = v * 10 + (sc->s[sc->pos++] - '0');
    }
    *out = v;
    return true;
}

static bool read_char(scan *sc, char c)
{
    if (sc->pos >= sc->n || sc->s[sc->pos] != c)
        return false;
    sc->pos++;
    return true;
}

/*
 * Reads a fraction separator and its digits into *nsec. Go keeps the first
 * nine digits and ignores the rest. When exact_digits > 0 the fraction must
 * have exactly that many digits.
 */
static bool read_fraction(scan *sc, int exact_digits, int64_t *nsec)
{
    int64_t v = 0;
    int digits = 0;

    if (sc->pos + 1 >= sc->n || (sc->s[sc->pos] != '.' && sc->s[sc->pos] != ','))
        return false;
    sc->pos++;
    if (!at_digit(sc))
        return false;
    while (at_digit(sc)) {
        if (digits < 9)
            v = v * 10 + (sc->s[sc->pos] - '0');
        digits++;
        sc->pos++;
    }
    if (exact_digits > 0 && digits != exact_digits)
        return false;
    for (int i = digits; i < 9; i++)
        v *= 10;
    *nsec = v;
    return true;
}

/* The calendar fields read from the text. */
typedef struct civil_time {
    int year, month, day, hour, minute, second;
    int64_t nsec;
    int64_t offset_sec; /* east of UTC */
} civil_time;

/* The value of the two digits at p, or -1 when either is not a digit. */
static int two_digits(const char *p)
{
    unsigned tens = (unsigned char)p[0] - '0', ones = (unsigned char)p[1] - '0';
    return tens <= 9 && ones <= 9 ? (int)(tens * 10 + ones) : -1;
}

/*
 * Reads "YYYY-MM-DDsHH:MM:SS" (s = sep) with two-digit hours, the shape of
 * nearly every timestamp, in one pass over fixed offsets. Returns false
 * without moving the cursor for any other text.
 */
static bool read_date_time_fixed(scan *sc, char sep, civil_time *t)
{
    if (sc->n - sc->pos < 19)
        return false;
    const char *p = sc->s + sc->pos;
    int century = two_digits(p), year = two_digits(p + 2), month = two_digits(p + 5),
        day = two_digits(p + 8), hour = two_digits(p + 11), minute = two_digits(p + 14),
        second = two_digits(p + 17);
    if (p[4] != '-' || p[7] != '-' || p[10] != sep || p[13] != ':' || p[16] != ':' ||
        (century | year | month | day | hour | minute | second) < 0)
        return false;
    t->year = century * 100 + year;
    t->month = month;
    t->day = day;
    t->hour = hour;
    t->minute = minute;
    t->second = second;
    sc->pos += 19;
    return true;
}

/* Reads "YYYY-MM-DD", the separator sep, and "H[H]:MM:SS". */
static bool read_date_time(scan *sc, char sep, civil_time *t)
{
    if (!read_date_time_fixed(sc, sep, t)) {
        if (!read_fixed(sc, 4, &t->year) || !read_char(sc, '-') || !read_fixed(sc, 2, &t->month) ||
            !read_char(sc, '-') || !read_fixed(sc, 2, &t->day) || !read_char(sc, sep))
            return false;

        /* Go's "15" hour field takes one or two digits. */
        if (!read_fixed(sc, 1, &t->hour))
            return false;
        if (at_digit(sc))
            t->hour = t->hour * 10 + (sc->s[sc->pos++] - '0');

        if (!read_char(sc, ':') || !read_fixed(sc, 2, &t->minute) || !read_char(sc, ':') ||
            !read_fixed(sc, 2, &t->second))
            return false;
    }

    return t->month >= 1 && t->month <= 12 && t->day >= 1 &&
           t->day <= days_in_month(t->year, t->month) && t->hour <= 23 && t->minute <= 59 &&
           t->second <= 59;
}

/* Reads the zone "Z" or "+hh:mm" / "-hh:mm", which must end the text. */
static bool read_zone(scan *sc, civil_time *t)
{
    int hours, minutes;
    char sign;

    if (read_char(sc, 'Z')) {
        t->offset_sec = 0;
        return sc->pos == sc->n;
    }
    if (sc->pos >= sc->n || (sc->s[sc->pos] != '+' && sc->s[sc->pos] != '-'))
        return false;
    sign = sc->s[sc->pos++];
    if (!read_fixed(sc, 2, &hours) || !read_char(sc, ':') || !read_fixed(sc, 2, &minutes))
        return false;
    if (hours > 23 || minutes > 59 || sc->pos != sc->n)
        return false;
    t->offset_sec = (int64_t)(hours * 60 + minutes) * 60;
    if (sign == '-')
        t->offset_sec = -t->offset_sec;
    return true;
}

static bool parse_rfc3339(const char *s, size_t n, civil_time *t)
{
    scan sc = {s, n, 0};

    if (!read_date_time(&sc, 'T', t))
        return false;
    t->nsec = 0;
    if (sc.pos < n && (s[sc.pos] == '.' || s[sc.pos] == ',') && !read_fraction(&sc, 0, &t->nsec))
        return false;
    return read_zone(&sc, t);
}

static bool parse_micro_no_zone(const char *s, size_t n, civil_time *t)
{
    scan sc = {s, n, 0};

    if (!read_date_time(&sc, 'T', t) || !read_fraction(&sc, 6, &t->nsec))
        return false;
    t->offset_sec = 0;
    return sc.pos == n;
}

static bool parse_space_separated(const char *s, size_t n, civil_time *t)
{
    scan sc = {s, n, 0};

    if (!read_date_time(&sc, ' ', t))
        return false;
    t->nsec = 0;
    if (sc.pos < n && !read_fraction(&sc, 0, &t->nsec))
        return false;
    t->offset_sec = 0;
    return sc.pos == n;
}

bool pd_time_parse(const char *s, size_t n, pd_time_ns *out)
{
    civil_time t;
    int64_t seconds, total;

    memset(&t, 0, sizeof t);
    if (s == NULL || !(parse_rfc3339(s, n, &t) || parse_micro_no_zone(s, n, &t) ||
                       parse_space_separated(s, n, &t)))
        return false;

    /* Seconds for years 0000..9999 stay far inside int64; nanoseconds may not. */
    seconds = days_from_civil(t.year, t.month, t.day) * SEC_PER_DAY + t.hour * 3600LL +
              t.minute * 60LL + t.second - t.offset_sec;

    /*
     * NOTE: pd_time_ns spans about 1677..2262, so an earlier or later valid
     * timestamp (Go's zero time 0001-01-01 among them) is reported as absent.
     */
    if (seconds < 0 && t.nsec > 0) {
        /* Borrowing a second keeps the product in range at the lower bound. */
        seconds += 1;
        t.nsec -= NS_PER_SEC;
    }
    if (__builtin_mul_overflow(seconds, NS_PER_SEC, &seconds) ||
        __builtin_add_overflow(seconds, t.nsec, &total))
        return false;
    *out = total;
    return true;
}

/* Splits t into whole seconds (floored) and the nanoseconds within that second. */
static void split_ns(pd_time_ns t, int64_t *seconds, int64_t *nsec)
{
    *seconds = t / NS_PER_SEC;
    *nsec = t % NS_PER_SEC;
    if (*nsec < 0) {
        *nsec += NS_PER_SEC;
        *seconds -= 1;
    }
}

/* Writes "YYYY-MM-DDTHH:MM:SS" for seconds since the epoch; returns the length. */
static int format_civil(int64_t seconds, char buf[PD_TIME_FMT_MAX])
{
    int64_t days = seconds / SEC_PER_DAY;
    int64_t of_day = seconds % SEC_PER_DAY;
    int64_t year;
    int month, day;

    if (of_day < 0) {
        of_day += SEC_PER_DAY;
        days -= 1;
    }
    civil_from_days(days, &year, &month, &day);
    /* pd_time_ns spans the years 1677..2262, so the year always has four
     * digits. Digits are written by hand: snprintf here was a measurable
     * share of a diff run, which formats every message timestamp. */
    int y = (int)year;
    int fields[5] = {month, day, (int)(of_day / 3600), (int)(of_day / 60 % 60), (int)(of_day % 60)};
    static const char seps[5] = {'-', '-', 'T', ':', ':'};
    buf[0] = (char)('0' + y / 1000 % 10);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    int len = 4;
    for (int i = 0; i < 5; i++) {
        buf[len++] = seps[i];
        buf[len++] = (char)('0' + fields[i] / 10);
        buf[len++] = (char)('0' + fields[i] % 10);
    }
    buf[len] = '\0';
    return len;
}

char *pd_time_format(pd_time_ns t, char buf[PD_TIME_FMT_MAX])
{
    int64_t seconds, nsec;
    int len;

    split_ns(t, &seconds, &nsec);
    len = format_civil(seconds, buf);

    /* Go's RFC3339Nano drops the fraction's trailing zeros, and the dot when nothing is left. */
    if (nsec != 0) {
        char digits[9];
        int64_t rest = nsec;
        for (int i = 8; i >= 0; i--) {
            digits[i] = (char)('0' + rest % 10);
            rest /= 10;
        }
        int ndigits = 9;
        while (digits[ndigits - 1] == '0')
            ndigits--;
        buf[len++] = '.';
        memcpy(buf + len, digits, (size_t)ndigits);
        len += ndigits;
    }
    buf[len++] = 'Z';
    buf[len] = '\0';
    return buf;
}

char *pd_time_format_seconds(pd_time_ns t, char buf[PD_TIME_FMT_MAX])
{
    int64_t seconds, nsec;
    int len;

    split_ns(t, &seconds, &nsec);
    len = format_civil(seconds, buf);
    snprintf(buf + len, PD_TIME_FMT_MAX - (size_t)len, "Z");
    return buf;
}

int pd_time_year(pd_time_ns t)
{
    int64_t seconds, nsec, days, year;
    int month, day;

    split_ns(t, &seconds, &nsec);
    days = seconds / SEC_PER_DAY;
    if (seconds % SEC_PER_DAY < 0)
        days -= 1;
    civil_from_days(days, &year, &month, &day);
    return (int)year;
}

pd_time_ns pd_time_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (pd_time_ns)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t pd_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
