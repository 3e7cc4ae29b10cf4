/*
 * test_report_terminal.c -- the terminal filter and the progress bar.
 *
 * Progress tests draw into a file inside a fresh mkdtemp directory and drive
 * time with a fake clock, so rates, ETAs and the redraw limit are exact and
 * no test depends on how fast the machine runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "report/report.h"

#define MS 1000000LL

/* ---- terminal filter ------------------------------------------------------ */

typedef struct sanitize_case {
    const char *name;
    const char *input;
    const char *expected;
} sanitize_case;

static const sanitize_case sanitize_cases[] = {
    {"plain ASCII", "hello world", "hello world"},
    {"empty", "", ""},
    {"newline and tab become spaces", "a\nb\tc", "a b c"},
    {"bidi override and isolate dropped",
     "a\xe2\x80\xae"
     "b\xe2\x81\xa6"
     "c",
     "abc"},
    {"line and paragraph separators dropped",
     "a\xe2\x80\xa8"
     "b\xe2\x80\xa9"
     "c",
     "abc"},
    {"zero-width joiner kept",
     "a\xe2\x80\x8d"
     "b",
     "a\xe2\x80\x8d"
     "b"},
    {"carriage return dropped", "over\rwrite", "overwrite"},
    {"CSI colour leaves printable residue", "\x1b[31mred\x1b[0m", "[31mred[0m"},
    {"OSC title with BEL", "\x1b]0;title\a!", "]0;title!"},
    {"other C0 controls",
     "\x01\x02\x08\x0b\x0c\x1f"
     "x",
     "x"},
    {"DEL dropped",
     "a\x7f"
     "b",
     "ab"},
    {"C1 CSI dropped",
     "a\xc2\x9b"
     "31mb",
     "a31mb"},
    {"C1 range edges dropped",
     "\xc2\x80\xc2\x9f"
     "x",
     "x"},
    {"no-break space kept",
     "a\xc2\xa0"
     "b",
     "a\xc2\xa0"
     "b"},
    {"accented letter kept", "caf\xc3\xa9", "caf\xc3\xa9"},
    {"CJK kept", "\xe6\xbc\xa2\xe5\xad\x97", "\xe6\xbc\xa2\xe5\xad\x97"},
    {"emoji kept", "ok \xf0\x9f\x99\x82", "ok \xf0\x9f\x99\x82"},
    {"lone continuation byte",
     "a\x80"
     "b",
     "ab"},
    {"invalid lead byte",
     "a\xff"
     "b",
     "ab"},
    {"truncated sequence dropped byte by byte",
     "a\xe2\x82"
     "b",
     "ab"},
    {"truncated sequence at end", "a\xf0\x9f\x99", "a"},
    {"overlong slash",
     "\xc0\xaf"
     "x",
     "x"},
    {"overlong three-byte NUL",
     "\xe0\x80\x80"
     "x",
     "x"},
    {"UTF-16 surrogate",
     "\xed\xa0\x80"
     "x",
     "x"},
    {"above U+10FFFF",
     "\xf4\x90\x80\x80"
     "x",
     "x"},
    {"largest code point kept", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
    {"invalid byte before valid character", "\xe2\xc3\xa9", "\xc3\xa9"},
};

static void sanitize_table_of_cases(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    for (size_t i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]); i++) {
        const sanitize_case *c = &sanitize_cases[i];
        char *got = pd_report_sanitize_terminal(a, c->input);
        if (!got)
            fail_msg("case \"%s\": returned NULL", c->name);
        if (strcmp(got, c->expected) != 0)
            fail_msg("case \"%s\": expected \"%s\", got \"%s\"", c->name, c->expected, got);
    }
    pd_arena_free(a);
}

static void sanitize_null_returns_null(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    assert_null(pd_report_sanitize_terminal(a, NULL));
    pd_arena_free(a);
}

static void sanitize_returns_copy(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    const char *input = "unchanged";
    char *got = pd_report_sanitize_terminal(a, input);
    assert_non_null(got);
    assert_string_equal(got, input);
    assert_ptr_not_equal(got, input);
    pd_arena_free(a);
}

static void sanitize_is_idempotent(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    const char *input = "\x1b[1mx\r\xc2\x9b\xff\xe2\x82y\tz\n\xe2\x80\xae";
    char *once = pd_report_sanitize_terminal(a, input);
    assert_non_null(once);
    char *twice = pd_report_sanitize_terminal(a, once);
    assert_non_null(twice);
    assert_string_equal(once, twice);
    assert_string_equal(once, "[1mxy z ");
    pd_arena_free(a);
}

/* ---- progress bar --------------------------------------------------------- */

typedef struct progress_fixture {
    char dir[64];
    char path[128];
    FILE *out;
    int64_t now_ns; /* the fake clock */
    char *text;     /* last read of the file, malloc'd */
} progress_fixture;

static int64_t fake_clock(void *ctx)
{
    return ((progress_fixture *)ctx)->now_ns;
}

static int progress_setup(void **state)
{
    progress_fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/pd_progress_XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/progress.out", f->dir);
    f->out = fopen(f->path, "w+b");
    if (!f->out) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int progress_teardown(void **state)
{
    progress_fixture *f = *state;
    fclose(f->out);
    unlink(f->path);
    rmdir(f->dir);
    free(f->text);
    free(f);
    return 0;
}

/* Returns everything written to the progress file so far. */
static const char *written(progress_fixture *f)
{
    assert_int_equal(fflush(f->out), 0);
    long size = ftell(f->out);
    assert_true(size >= 0);

    free(f->text);
    f->text = malloc((size_t)size + 1);
    assert_non_null(f->text);

    FILE *in = fopen(f->path, "rb");
    assert_non_null(in);
    assert_int_equal(fread(f->text, 1, (size_t)size, in), (size_t)size);
    fclose(in);
    f->text[size] = '\0';
    return f->text;
}

static pd_progress *new_bar(progress_fixture *f, int64_t total)
{
    pd_progress *p = pd_progress_new_with_clock(f->out, total, fake_clock, f);
    assert_non_null(p);
    return p;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == c)
            n++;
    }
    return n;
}

static void progress_first_tick_draws(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 10);

    pd_progress_tick(p, 0);
    assert_string_equal(written(f), "\rRe-parsing files: 0/10  0.0 files/s  ETA -:--");
    pd_progress_free(p);
}

static void progress_rate_and_eta(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 20);

    pd_progress_tick(p, 0);
    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 5);
    const char *out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 5/20  5.0 files/s  ETA 0:03"));

    f->now_ns = 2000 * MS;
    pd_progress_tick(p, 10);
    out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 10/20  5.0 files/s  ETA 0:02"));
    pd_progress_free(p);
}

static void progress_eta_minutes(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 1000);

    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 1);
    /* 999 files left at 1 file/s: 16 minutes 39 seconds. */
    assert_string_equal(written(f), "\rRe-parsing files: 1/1000  1.0 files/s  ETA 16:39");
    pd_progress_free(p);
}

static void progress_redraws_rate_limited(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 100);

    pd_progress_tick(p, 0);
    f->now_ns = 50 * MS;
    pd_progress_tick(p, 1);
    f->now_ns = 99 * MS;
    pd_progress_tick(p, 2);
    const char *out = written(f);
    assert_int_equal(count_char(out, '\r'), 1);
    assert_null(strstr(out, "1/100"));
    assert_null(strstr(out, "2/100"));

    f->now_ns = 100 * MS;
    pd_progress_tick(p, 3);
    out = written(f);
    assert_int_equal(count_char(out, '\r'), 2);
    /* No ETA in the first second. */
    assert_non_null(strstr(out, "\rRe-parsing files: 3/100  30.0 files/s  ETA -:--"));
    pd_progress_free(p);
}

static void progress_final_tick_always_draws(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 4);

    pd_progress_tick(p, 0);
    f->now_ns = 10 * MS;
    pd_progress_tick(p, 4);
    const char *out = written(f);
    assert_int_equal(count_char(out, '\r'), 2);
    assert_non_null(strstr(out, "\rRe-parsing files: 4/4  400.0 files/s  ETA 0:00\n"));
    assert_int_equal(count_char(out, '\n'), 1);
    pd_progress_free(p);
}

static void progress_repeated_final_tick_once(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 2);

    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 2);
    f->now_ns = 2000 * MS;
    pd_progress_tick(p, 2);
    const char *out = written(f);
    assert_int_equal(count_char(out, '\r'), 1);
    assert_int_equal(count_char(out, '\n'), 1);
    pd_progress_free(p);
}

/* A run that finds no file leaves one 0/0 line, ended when the bar is freed. */
static void progress_zero_files_finishes(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 0);

    pd_progress_tick(p, 0);
    assert_string_equal(written(f), "\rRe-parsing files: 0/0  0.0 files/s  ETA 0:00");
    pd_progress_free(p);
    assert_string_equal(written(f), "\rRe-parsing files: 0/0  0.0 files/s  ETA 0:00\n");
}

/* The 0/0 line drawn before discovery finds files is redrawn in place, not left above the bar. */
static void progress_zero_total_stays_open(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 0);

    pd_progress_tick(p, 0);
    pd_progress_set_total(p, 3);
    f->now_ns = 200 * MS;
    pd_progress_tick(p, 3);
    const char *out = written(f);
    assert_int_equal(count_char(out, '\r'), 2);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(strstr(out, "\rRe-parsing files: 3/3"));
    assert_int_equal(out[strlen(out) - 1], '\n');
    pd_progress_free(p);
}

static void progress_total_grows(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 2);

    pd_progress_tick(p, 0);
    pd_progress_set_total(p, 50);
    f->now_ns = 500 * MS;
    pd_progress_tick(p, 5);
    const char *out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 5/50  10.0 files/s  ETA -:--"));
    assert_int_equal(count_char(out, '\n'), 0);
    pd_progress_free(p);
}

/* While discovery counts files, the line has no ETA, and catching up with the count does not end
 * it. */
static void progress_counting_has_no_eta(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 0);

    pd_progress_set_counting(p, true, 0);
    pd_progress_set_total(p, 4);
    f->now_ns = 500 * MS;
    pd_progress_tick(p, 4);
    const char *out = written(f);
    assert_string_equal(out, "\rRe-parsing files: 4 done, 4 found so far  8.0 files/s");
    assert_null(strstr(out, "ETA"));

    pd_progress_set_counting(p, false, 0);
    pd_progress_set_total(p, 10);
    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 5);
    out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 5/10  5.0 files/s  ETA 0:01"));
    assert_int_equal(count_char(out, '\n'), 0);
    pd_progress_tick(p, 10);
    out = written(f);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
    pd_progress_free(p);
}

/* A guess at the total, such as the archive's stored files, gives an estimated ETA while counting.
 */
static void progress_counting_estimates_from_expected(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 0);

    pd_progress_set_counting(p, true, 100);
    pd_progress_tick(p, 0);
    assert_string_equal(written(f), "\rRe-parsing files: 0/~100  0.0 files/s  ETA -:--");
    pd_progress_set_total(p, 10);
    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 5);
    const char *out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 5/~100  5.0 files/s  ETA ~0:19"));
    /* Found past the guess: back to the plain count. */
    pd_progress_set_total(p, 120);
    f->now_ns = 2000 * MS;
    pd_progress_tick(p, 10);
    out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 10 done, 120 found so far  5.0 files/s"));
    assert_int_equal(count_char(out, '\n'), 0);
    pd_progress_free(p);
}

/* A first file that also paid for the start gives no ETA of hours. */
static void progress_eta_waits_a_second(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 0);

    pd_progress_set_counting(p, true, 40408);
    f->now_ns = 330 * MS;
    pd_progress_tick(p, 1);
    assert_string_equal(written(f), "\rRe-parsing files: 1/~40408  3.0 files/s  ETA -:--");
    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 2001);
    assert_non_null(
        strstr(written(f), "\rRe-parsing files: 2001/~40408  2001.0 files/s  ETA ~0:20"));
    pd_progress_free(p);
}

/* The rate counts the last ten seconds or so, not a fast start (files sync skips). */
static void progress_rate_follows_recent_files(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 30000);

    int64_t done = 0;
    for (int second = 1; second <= 20; second++) {
        done += second <= 2 ? 10000 : 100;
        f->now_ns = second * 1000 * MS;
        pd_progress_tick(p, done);
    }
    /* 21,800 done in 20 s is 1,090 files/s on average; the last ten seconds gave 100. */
    const char *out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 21800/30000  100.0 files/s  ETA 1:22"));
    pd_progress_free(p);
}

static void progress_shorter_line_padded(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 100);

    /* 10 files in 1 ms give a long rate text, and 11 files in 1 s a short one. */
    f->now_ns = 1 * MS;
    pd_progress_tick(p, 10);
    f->now_ns = 1000 * MS;
    pd_progress_tick(p, 11);
    const char *out = written(f);

    const char *first = "\rRe-parsing files: 10/100  10000.0 files/s  ETA -:--";
    const char *second = "\rRe-parsing files: 11/100  11.0 files/s  ETA 0:09";
    assert_non_null(strstr(out, first));
    const char *tail = strstr(out, second);
    assert_non_null(tail);
    size_t pad = strlen(first) - strlen(second);
    assert_int_equal(strlen(tail), strlen(second) + pad);
    for (size_t i = strlen(second); i < strlen(tail); i++)
        assert_int_equal(tail[i], ' ');
    pd_progress_free(p);
}

static void progress_free_ends_open_line(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = new_bar(f, 10);

    pd_progress_tick(p, 3);
    pd_progress_free(p);
    const char *out = written(f);
    assert_true(strlen(out) > 0);
    assert_int_equal(out[strlen(out) - 1], '\n');
    assert_int_equal(count_char(out, '\n'), 1);
}

static void progress_null_is_noop(void **state)
{
    progress_fixture *f = *state;
    pd_progress_set_total(NULL, 5);
    pd_progress_tick(NULL, 1);
    pd_progress_free(NULL);
    assert_string_equal(written(f), "");
}

static void progress_real_clock_draws(void **state)
{
    progress_fixture *f = *state;
    pd_progress *p = pd_progress_new(f->out, 1);
    assert_non_null(p);

    pd_progress_tick(p, 0);
    pd_progress_tick(p, 1);
    pd_progress_free(p);
    const char *out = written(f);
    assert_non_null(strstr(out, "\rRe-parsing files: 0/1  "));
    assert_non_null(strstr(out, "\rRe-parsing files: 1/1  "));
    assert_non_null(strstr(out, "ETA 0:00\n"));
}

#define PROGRESS_TEST(fn) cmocka_unit_test_setup_teardown(fn, progress_setup, progress_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sanitize_table_of_cases),
        cmocka_unit_test(sanitize_null_returns_null),
        cmocka_unit_test(sanitize_returns_copy),
        cmocka_unit_test(sanitize_is_idempotent),
        PROGRESS_TEST(progress_first_tick_draws),
        PROGRESS_TEST(progress_rate_and_eta),
        PROGRESS_TEST(progress_eta_minutes),
        PROGRESS_TEST(progress_redraws_rate_limited),
        PROGRESS_TEST(progress_final_tick_always_draws),
        PROGRESS_TEST(progress_repeated_final_tick_once),
        PROGRESS_TEST(progress_zero_files_finishes),
        PROGRESS_TEST(progress_zero_total_stays_open),
        PROGRESS_TEST(progress_total_grows),
        PROGRESS_TEST(progress_counting_has_no_eta),
        PROGRESS_TEST(progress_counting_estimates_from_expected),
        PROGRESS_TEST(progress_eta_waits_a_second),
        PROGRESS_TEST(progress_rate_follows_recent_files),
        PROGRESS_TEST(progress_shorter_line_padded),
        PROGRESS_TEST(progress_free_ends_open_line),
        PROGRESS_TEST(progress_null_is_noop),
        PROGRESS_TEST(progress_real_clock_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
