/*
 * test_timefmt.c -- tests of RFC 3339 parsing (every accepted layout,
 * offsets, range checks) and of the archive's UTC formatting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/timefmt.h"

#define NS 1000000000LL
/* 2024-01-01T00:00:00Z and 2026-05-02T12:33:24Z in seconds since the epoch. */
#define JAN_2024 1704067200LL
#define MAY_2026 1777725204LL

/* Parses s and fails the test unless it yields expected. */
static void expect_parse(const char *s, pd_time_ns expected)
{
    pd_time_ns got = -1;

    if (!pd_time_parse(s, strlen(s), &got))
        fail_msg("pd_time_parse rejected \"%s\"", s);
    assert_int_equal(got, expected);
}

static void expect_reject(const char *s)
{
    pd_time_ns got = 777;

    if (pd_time_parse(s, strlen(s), &got))
        fail_msg("pd_time_parse accepted \"%s\"", s);
    assert_int_equal(got, 777);
}

static void parse_rfc3339_nano(void **state)
{
    (void)state;
    expect_parse("2026-05-02T12:33:24.669123456Z", MAY_2026 * NS + 669123456);
    expect_parse("2026-05-02T12:33:24.5Z", MAY_2026 * NS + 500000000);
}

static void parse_rfc3339_seconds(void **state)
{
    (void)state;
    expect_parse("2024-01-01T00:00:00Z", JAN_2024 * NS);
    expect_parse("1970-01-01T00:00:00Z", 0);
}

static void parse_micro_without_zone(void **state)
{
    (void)state;
    /* "2006-01-02T15:04:05.000000": exactly six digits, taken as UTC. */
    expect_parse("2024-01-01T00:00:00.123456", JAN_2024 * NS + 123456000);
    expect_reject("2024-01-01T00:00:00.123");
    expect_reject("2024-01-01T00:00:00.1234567");
    expect_reject("2024-01-01T00:00:00");
}

static void parse_millis_zulu(void **state)
{
    (void)state;
    expect_parse("2026-05-02T12:33:24.669Z", MAY_2026 * NS + 669000000);
}

static void parse_millis_offset(void **state)
{
    (void)state;
    expect_parse("2024-01-01T02:00:00.250+02:00", JAN_2024 * NS + 250000000);
    expect_parse("2023-12-31T17:00:00.000-07:00", JAN_2024 * NS);
}

static void parse_offset_without_fraction(void **state)
{
    (void)state;
    expect_parse("2024-01-01T05:30:00+05:30", JAN_2024 * NS);
    expect_parse("2023-12-31T23:00:00-01:00", JAN_2024 * NS);
    expect_parse("2024-01-01T00:00:00+00:00", JAN_2024 * NS);
    expect_parse("2024-01-01T00:00:00-00:00", JAN_2024 * NS);
}

static void parse_offset_crosses_date(void **state)
{
    (void)state;
    /* Midnight in UTC+14 is 10:00 the day before in UTC. */
    expect_parse("2024-01-02T00:00:00+14:00", JAN_2024 * NS + 10 * 3600 * NS);
    /* A negative offset pushes the instant into the next year. */
    expect_parse("2023-12-31T23:59:59-00:01", JAN_2024 * NS + 59 * NS);
}

static void parse_space_layout(void **state)
{
    (void)state;
    expect_parse("2024-01-01 00:00:00", JAN_2024 * NS);
    expect_parse("2024-01-01 00:00:00.75", JAN_2024 * NS + 750000000);
    expect_reject("2024-01-01 00:00:00Z");
}

static void parse_fraction_details(void **state)
{
    (void)state;
    /* Go accepts a comma separator and ignores digits past the ninth. */
    expect_parse("2024-01-01T00:00:00,5Z", JAN_2024 * NS + 500000000);
    expect_parse("2024-01-01T00:00:00.1234567891234Z", JAN_2024 * NS + 123456789);
    expect_reject("2024-01-01T00:00:00.Z");
}

static void parse_single_digit_hour(void **state)
{
    (void)state;
    expect_parse("2024-01-01T9:00:00Z", JAN_2024 * NS + 9 * 3600 * NS);
    expect_parse("2024-01-01T09:00:00Z", JAN_2024 * NS + 9 * 3600 * NS);
    expect_parse("2024-01-01 9:00:00", JAN_2024 * NS + 9 * 3600 * NS);
}

static void parse_range_checks(void **state)
{
    (void)state;
    expect_parse("2000-02-29T00:00:00Z", 951782400LL * NS);
    expect_reject("1900-02-29T00:00:00Z");
    expect_reject("2023-02-29T00:00:00Z");
    expect_reject("2024-04-31T00:00:00Z");
    expect_reject("2024-13-01T00:00:00Z");
    expect_reject("2024-00-01T00:00:00Z");
    expect_reject("2024-01-00T00:00:00Z");
    expect_reject("2024-01-01T24:00:00Z");
    expect_reject("2024-01-01T00:60:00Z");
    expect_reject("2024-01-01T00:00:60Z");
    expect_reject("2024-01-01T00:00:00+24:00");
    expect_reject("2024-01-01T00:00:00+01:60");
}

static void parse_rejects_garbage(void **state)
{
    (void)state;
    expect_reject("");
    expect_reject("not a time");
    expect_reject("2024-01-01");
    expect_reject("2024-01-01T00:00:00Zjunk");
    expect_reject("2024-01-01T00:00:00+0100");
    expect_reject("2024-1-01T00:00:00Z");
    expect_reject(" 2024-01-01T00:00:00Z");
    expect_reject("2024-01-01t00:00:00Z");
    expect_reject("2024-0a-01T00:00:00Z");
    expect_reject("2024-01-01T0a:00:00Z");
    expect_reject("2024-01-01T00:00:/0Z");
    expect_reject("2024-01-01T00:00:00z");
}

static void parse_length_bounds_text(void **state)
{
    (void)state;
    const char *s = "2024-01-01T00:00:00Zxyz";
    pd_time_ns got = 0;

    /* Only s[0..n) is read, so the trailing bytes after n do not count. */
    assert_true(pd_time_parse(s, 20, &got));
    assert_int_equal(got, JAN_2024 * NS);
    assert_false(pd_time_parse(s, 19, &got));
}

static void parse_before_epoch(void **state)
{
    (void)state;
    expect_parse("1969-12-31T23:59:59.5Z", -500000000LL);
    expect_parse("1900-01-01T00:00:00Z", -2208988800LL * NS);
}

static void parse_int64_limits(void **state)
{
    (void)state;
    expect_parse("2262-04-11T23:47:16.854775807Z", INT64_MAX);
    expect_parse("1677-09-21T00:12:43.145224192Z", INT64_MIN);
    expect_reject("2262-04-11T23:47:16.854775808Z");
    expect_reject("1677-09-21T00:12:43.145224191Z");
    /* Valid for Go but outside nanoseconds in int64, so absent here. */
    expect_reject("0001-01-01T00:00:00Z");
    expect_reject("9999-12-31T23:59:59Z");
}

static void format_millis(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    assert_string_equal(pd_time_format(MAY_2026 * NS + 669000000, buf), "2026-05-02T12:33:24.669Z");
}

static void format_zero_fraction(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    assert_string_equal(pd_time_format(JAN_2024 * NS, buf), "2024-01-01T00:00:00Z");
    assert_string_equal(pd_time_format(0, buf), "1970-01-01T00:00:00Z");
}

static void format_trailing_zeros(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    assert_string_equal(pd_time_format(JAN_2024 * NS + 100000000, buf), "2024-01-01T00:00:00.1Z");
    assert_string_equal(pd_time_format(JAN_2024 * NS + 1, buf), "2024-01-01T00:00:00.000000001Z");
    assert_string_equal(pd_time_format(JAN_2024 * NS + 123456000, buf),
                        "2024-01-01T00:00:00.123456Z");
}

static void format_before_epoch(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    assert_string_equal(pd_time_format(-500000000LL, buf), "1969-12-31T23:59:59.5Z");
    assert_string_equal(pd_time_format(INT64_MIN, buf), "1677-09-21T00:12:43.145224192Z");
    assert_string_equal(pd_time_format(INT64_MAX, buf), "2262-04-11T23:47:16.854775807Z");
}

static void format_seconds_only(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    assert_string_equal(pd_time_format_seconds(MAY_2026 * NS + 999999999, buf),
                        "2026-05-02T12:33:24Z");
    assert_string_equal(pd_time_format_seconds(-1, buf), "1969-12-31T23:59:59Z");
}

static void offset_normalised_to_utc(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];
    pd_time_ns t;
    const char *s = "2026-05-02T14:33:24.669000+02:00";

    assert_true(pd_time_parse(s, strlen(s), &t));
    assert_string_equal(pd_time_format(t, buf), "2026-05-02T12:33:24.669Z");
}

static void round_trip_table(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "2024-01-01T10:00:00Z", "2026-05-02T12:33:24.669Z", "2000-02-29T23:59:59.999999999Z",
        "1999-12-31T23:59:59Z", "2100-12-31T23:59:59.1Z",   "1970-01-01T00:00:00.000001Z",
        "2024-02-29T12:00:00Z", "1969-07-20T20:17:40Z",
    };
    char buf[PD_TIME_FMT_MAX];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_time_ns t;
        assert_true(pd_time_parse(cases[i], strlen(cases[i]), &t));
        assert_string_equal(pd_time_format(t, buf), cases[i]);
    }
}

static void round_trip_every_day(void **state)
{
    (void)state;
    char buf[PD_TIME_FMT_MAX];

    /* Each day from 1990 to 2110 at an odd time of day: format then parse gives it back. */
    for (int64_t day = 7305; day < 51135; day++) {
        pd_time_ns t = (day * 86400 + 45296) * NS + 7000;
        pd_time_ns back;
        pd_time_format(t, buf);
        assert_true(pd_time_parse(buf, strlen(buf), &back));
        assert_int_equal(back, t);
    }
}

static void year_of_time(void **state)
{
    (void)state;
    assert_int_equal(pd_time_year(JAN_2024 * NS), 2024);
    assert_int_equal(pd_time_year(JAN_2024 * NS - 1), 2023);
    assert_int_equal(pd_time_year(0), 1970);
    assert_int_equal(pd_time_year(-1), 1969);
    assert_int_equal(pd_time_year(4133980799LL * NS), 2100);
}

static void now_after_2024(void **state)
{
    (void)state;
    pd_time_ns now = pd_time_now();

    assert_true(now > JAN_2024 * NS);
    assert_true(pd_time_year(now) >= 2024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_rfc3339_nano),
        cmocka_unit_test(parse_rfc3339_seconds),
        cmocka_unit_test(parse_micro_without_zone),
        cmocka_unit_test(parse_millis_zulu),
        cmocka_unit_test(parse_millis_offset),
        cmocka_unit_test(parse_offset_without_fraction),
        cmocka_unit_test(parse_offset_crosses_date),
        cmocka_unit_test(parse_space_layout),
        cmocka_unit_test(parse_fraction_details),
        cmocka_unit_test(parse_single_digit_hour),
        cmocka_unit_test(parse_range_checks),
        cmocka_unit_test(parse_rejects_garbage),
        cmocka_unit_test(parse_length_bounds_text),
        cmocka_unit_test(parse_before_epoch),
        cmocka_unit_test(parse_int64_limits),
        cmocka_unit_test(format_millis),
        cmocka_unit_test(format_zero_fraction),
        cmocka_unit_test(format_trailing_zeros),
        cmocka_unit_test(format_before_epoch),
        cmocka_unit_test(format_seconds_only),
        cmocka_unit_test(offset_normalised_to_utc),
        cmocka_unit_test(round_trip_table),
        cmocka_unit_test(round_trip_every_day),
        cmocka_unit_test(year_of_time),
        cmocka_unit_test(now_after_2024),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
