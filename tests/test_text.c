/*
 * test_text.c -- tests of UTF-8 sanitising, rune counting, trimming and the
 * trunc300 truncation rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/arena.h"
#include "common/text.h"

static int setup_arena(void **state)
{
    *state = pd_arena_new();
    return *state == NULL ? -1 : 0;
}

static int teardown_arena(void **state)
{
    pd_arena_free(*state);
    return 0;
}

/* Sanitises s[0..n) and checks the result against expected[0..expected_len). */
static void check_sanitize(pd_arena *a, const char *s, size_t n, const char *expected,
                           size_t expected_len)
{
    size_t out_len = 12345;
    char *out = pd_utf8_sanitize(a, s, n, &out_len);

    assert_non_null(out);
    assert_int_equal(out_len, expected_len);
    assert_memory_equal(out, expected, expected_len);
    assert_int_equal(out[out_len], '\0');
}

/*
 * One odd byte at every position of a 140-byte ASCII text. It lands in each
 * lane of the 32-byte (AVX2), 16- and 8-byte scans and in the byte-wise
 * tail, and enough text follows it for the wide scans to run again.
 */
static void sanitize_odd_byte_at_every_position(void **state)
{
    static const struct {
        char byte;
        bool preserved; /* sanitising leaves the byte in place */
    } cases[] = {{'\n', true}, {'\t', true}, {'\r', true}, {'\x01', false},
                 {'\x1f', false}, {'\x7f', false}, {'\x80', false}, {'\xff', false}};
    enum { LEN = 140 };

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t pos = 0; pos < LEN; pos++) {
            char text[LEN], expected[LEN];
            size_t expected_len = 0;
            for (size_t i = 0; i < LEN; i++) {
                text[i] = i == pos ? cases[c].byte : (char)('a' + i % 26);
                if (i != pos || cases[c].preserved)
                    expected[expected_len++] = text[i];
            }
            check_sanitize(*state, text, LEN, expected, expected_len);
            assert_int_equal(pd_utf8_is_clean(text, LEN), cases[c].preserved);
        }
    }
}

static void sanitize_removes_nul(void **state)
{
    check_sanitize(*state, "a\0b\0\0c", 6, "abc", 3);
}

static void sanitize_keeps_tab_newline_cr(void **state)
{
    check_sanitize(*state, "a\tb\nc\rd", 7, "a\tb\nc\rd", 7);
}

static void sanitize_removes_c0_and_del(void **state)
{
    check_sanitize(*state, "\x01x\x1by\x1f\x7fz\x0b\x0c", 9, "xyz", 3);
}

static void sanitize_removes_c1(void **state)
{
    /* U+0080, U+0085 (NEL) and U+009F are C1 controls; U+00A0 is not. */
    check_sanitize(*state,
                   "a\xC2\x80"
                   "b\xC2\x85"
                   "c\xC2\x9F"
                   "d\xC2\xA0",
                   12, "abcd\xC2\xA0", 6);
}

static void sanitize_drops_invalid_bytes(void **state)
{
    pd_arena *a = *state;

    /* Lone continuation byte, truncated sequence, overlong form, surrogate, above U+10FFFF. */
    check_sanitize(a, "x\x80y", 3, "xy", 2);
    check_sanitize(a, "x\xE2\x82y", 4, "xy", 2);
    check_sanitize(a, "x\xC0\xAFy", 4, "xy", 2);
    check_sanitize(a, "x\xED\xA0\x80y", 5, "xy", 2);
    check_sanitize(a, "x\xF4\x90\x80\x80y", 6, "xy", 2);
    check_sanitize(a, "x\xFFy", 3, "xy", 2);

    /* One byte at a time: the 0xE2 is dropped and the valid euro sign after it kept. */
    check_sanitize(a, "\xE2\xE2\x82\xAC", 4, "\xE2\x82\xAC", 3);
}

static void sanitize_keeps_valid_multibyte(void **state)
{
    const char *text = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x80\xA8 \xE3\x80\x80";
    check_sanitize(*state, text, strlen(text), text, strlen(text));
}

static void sanitize_idempotent(void **state)
{
    pd_arena *a = *state;
    uint32_t seed = 12345;
    char input[512];

    /* Deterministic pseudo-random bytes biased toward the interesting ranges. */
    for (int round = 0; round < 500; round++) {
        size_t n = (size_t)(round % 97) * 5;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t r = seed >> 16;
            static const unsigned char picks[] = {0x00, 0x0A, 0x1B, 0x7F, 0x80, 0x9F, 0xC2,
                                                  0xE2, 0xED, 0xF0, 0xF4, 0xFF, 'a',  ' '};
            input[i] = (char)(r % 3 == 0 ? picks[r % sizeof picks] : (unsigned char)r);
        }
        size_t once_len, twice_len;
        char *once = pd_utf8_sanitize(a, input, n, &once_len);
        assert_non_null(once);
        char *twice = pd_utf8_sanitize(a, once, once_len, &twice_len);
        assert_non_null(twice);
        assert_int_equal(once_len, twice_len);
        assert_memory_equal(once, twice, once_len);
        assert_true(pd_utf8_is_clean(once, once_len));
        assert_true(once_len <= n);
    }
}

static void sanitize_null_out_len(void **state)
{
    char *out = pd_utf8_sanitize(*state, "ok\x01", 3, NULL);
    assert_non_null(out);
    assert_string_equal(out, "ok");
}

static void is_clean_detects(void **state)
{
    (void)state;
    assert_true(pd_utf8_is_clean("", 0));
    assert_true(pd_utf8_is_clean("plain\ttext\r\n", 12));
    assert_true(pd_utf8_is_clean("\xC3\xA9", 2));
    assert_false(pd_utf8_is_clean("a\0b", 3));
    assert_false(pd_utf8_is_clean("\x7f", 1));
    assert_false(pd_utf8_is_clean("\xC2\x85", 2));
    assert_false(pd_utf8_is_clean("\xC3", 1));
    assert_false(pd_utf8_is_clean("\x1b[31m", 5));
}

static void rune_count_multibyte(void **state)
{
    (void)state;
    assert_int_equal(pd_utf8_rune_count("", 0), 0);
    assert_int_equal(pd_utf8_rune_count("abc", 3), 3);
    assert_int_equal(pd_utf8_rune_count("\xC3\xA9t\xC3\xA9", 5), 3);
    assert_int_equal(pd_utf8_rune_count("\xF0\x9F\x98\x80", 4), 1);
    /* Invalid bytes count one rune each. */
    assert_int_equal(pd_utf8_rune_count("\xFF\xFE", 2), 2);
    assert_int_equal(pd_utf8_rune_count("\xE2\x82", 2), 2);
}

static void prefix_bytes_multibyte(void **state)
{
    (void)state;
    const char *s = "a\xC3\xA9\xF0\x9F\x98\x80z";

    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 0), 0);
    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 1), 1);
    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 2), 3);
    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 3), 7);
    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 4), 8);
    assert_int_equal(pd_utf8_prefix_bytes(s, 8, 100), 8);
}

static void truncate_400_ascii(void **state)
{
    char text[400];
    memset(text, 'q', sizeof text);

    char *out = pd_text_truncate_runes(*state, text, sizeof text, 300);
    assert_non_null(out);
    assert_int_equal(strlen(out), 303);
    assert_memory_equal(out, text, 300);
    assert_string_equal(out + 300, "...");
}

static void truncate_exact_limit_kept(void **state)
{
    char text[300];
    memset(text, 'q', sizeof text);

    char *out = pd_text_truncate_runes(*state, text, sizeof text, 300);
    assert_int_equal(strlen(out), 300);
    assert_memory_equal(out, text, 300);
}

static void truncate_multibyte_by_runes(void **state)
{
    pd_arena *a = *state;
    char text[602];

    /* 300 two-byte runes: 600 bytes but only 300 runes, so kept whole. */
    for (int i = 0; i < 300; i++)
        memcpy(text + 2 * i, "\xC3\xA9", 2);
    char *kept = pd_text_truncate_runes(a, text, 600, 300);
    assert_int_equal(strlen(kept), 600);

    /* 301 runes: cut to 300 runes (600 bytes) plus "...". */
    memcpy(text + 600, "\xC3\xA9", 2);
    char *cut = pd_text_truncate_runes(a, text, 602, 300);
    assert_int_equal(strlen(cut), 603);
    assert_memory_equal(cut, text, 600);
    assert_string_equal(cut + 600, "...");
}

static void truncate_four_byte_runes(void **state)
{
    char text[4 * 5];
    for (int i = 0; i < 5; i++)
        memcpy(text + 4 * i, "\xF0\x9F\x98\x80", 4);

    char *out = pd_text_truncate_runes(*state, text, sizeof text, 3);
    assert_int_equal(strlen(out), 12 + 3);
    assert_memory_equal(out, text, 12);
    assert_string_equal(out + 12, "...");
}

static void truncate_newlines_become_spaces(void **state)
{
    pd_arena *a = *state;

    assert_string_equal(pd_text_truncate_runes(a, "a\nb\n\nc", 6, 300), "a b  c");
    assert_string_equal(pd_text_truncate_runes(a, "\n  hello \n", 10, 300), "hello");
    assert_string_equal(pd_text_truncate_runes(a, "\xE3\x80\x80x\xC2\xA0", 6, 300), "x");
    assert_string_equal(pd_text_truncate_runes(a, "", 0, 300), "");
}

static void truncate_trims_before_counting(void **state)
{
    char text[310];
    memset(text, ' ', sizeof text);
    memset(text + 5, 'k', 300);

    /* 310 bytes with 300 after trimming: kept without "...". */
    char *out = pd_text_truncate_runes(*state, text, sizeof text, 300);
    assert_int_equal(strlen(out), 300);
    assert_int_equal(out[0], 'k');
}

static void truncate_invalid_byte_becomes_fffd(void **state)
{
    char text[10];
    memcpy(text,
           "ab\xFF"
           "defghij",
           10);

    /* Cutting converts to runes, so the invalid byte inside the kept prefix becomes U+FFFD. */
    char *out = pd_text_truncate_runes(*state, text, sizeof text, 4);
    assert_string_equal(out, "ab\xEF\xBF\xBD"
                             "d...");
}

static void trim_unicode_spaces(void **state)
{
    pd_arena *a = *state;

    assert_string_equal(pd_text_trim(a, "\xE3\x80\x80hi\xE3\x80\x80", 8), "hi");
    assert_string_equal(pd_text_trim(a, "\xC2\x85\xC2\xA0x\xE2\x80\xA8\xE2\x80\xA9", 11), "x");
    assert_string_equal(pd_text_trim(a, "\xE1\x9A\x80x\xE2\x80\x8A\xE2\x80\xAF\xE2\x81\x9F", 13),
                        "x");
    assert_string_equal(pd_text_trim(a, "\t\v\f\r\n x y \t", 11), "x y");
    /* U+200B ZERO WIDTH SPACE is not a Unicode space, so it stays. */
    assert_string_equal(pd_text_trim(a, "\xE2\x80\x8Bx", 4), "\xE2\x80\x8Bx");
    /* Inner spaces stay. */
    assert_string_equal(pd_text_trim(a,
                                     "a\xE3\x80\x80"
                                     "b",
                                     5),
                        "a\xE3\x80\x80"
                        "b");
}

static void trim_span_offsets(void **state)
{
    (void)state;
    size_t start = 99, len = 99;

    pd_text_trim_span("  ab ", 5, &start, &len);
    assert_int_equal(start, 2);
    assert_int_equal(len, 2);

    pd_text_trim_span("   ", 3, &start, &len);
    assert_int_equal(len, 0);

    /* A trailing invalid byte is not a space and is kept. */
    pd_text_trim_span(" a\x80", 3, &start, &len);
    assert_int_equal(start, 1);
    assert_int_equal(len, 2);
}

static void is_blank_cases(void **state)
{
    (void)state;
    assert_true(pd_text_is_blank("", 0));
    assert_true(pd_text_is_blank(" \t\n", 3));
    assert_true(pd_text_is_blank("\xE3\x80\x80", 3));
    assert_false(pd_text_is_blank(" x ", 3));
    assert_false(pd_text_is_blank("\xE2\x80\x8B", 3));
}

static void prefix_and_find(void **state)
{
    (void)state;
    const char *s = "hello world";

    assert_true(pd_text_has_prefix(s, 11, "hello"));
    assert_true(pd_text_has_prefix(s, 11, ""));
    assert_false(pd_text_has_prefix(s, 3, "hello"));
    assert_false(pd_text_has_prefix(s, 11, "world"));

    assert_ptr_equal(pd_text_find(s, 11, "world"), s + 6);
    assert_ptr_equal(pd_text_find(s, 11, ""), s);
    assert_null(pd_text_find(s, 10, "world"));
    assert_null(pd_text_find(s, 11, "xyz"));
}

/*
 * pd_text_find agrees with memmem for needles planted at every position of
 * haystacks of every length up to 80, over near-miss text ("persisten..."),
 * so that the 16-byte scan, its candidate checks and the tail all run.
 */
static void text_find_matches_memmem(void **state)
{
    (void)state;
    static const char *const needles[] = {"p", "pe", "persisted", "persisted-output", "aab", "zz"};
    enum { MAX_LEN = 80 };

    for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++) {
        const char *needle = needles[k];
        size_t nlen = strlen(needle);
        for (size_t pos = 0; pos + nlen <= MAX_LEN; pos++) {
            char hay[MAX_LEN];
            for (size_t i = 0; i < MAX_LEN; i++)
                hay[i] = "persistenaab-outpu"[i % 18];
            memcpy(hay + pos, needle, nlen);
            for (size_t n = 0; n <= MAX_LEN; n++) {
                const char *want = memmem(hay, n, needle, nlen);
                assert_ptr_equal(pd_text_find(hay, n, needle), want);
            }
        }
    }
}

static void scrub_controls_cases(void **state)
{
    (void)state;
    char s[] = "a\x1b[31mb\tc\nd\re\x7f\x01"
               "f\xc3\xa9";
    pd_text_scrub_controls(s);
    /* Tab stays. ESC, LF, CR, DEL and SOH become '?', and UTF-8 is kept. */
    assert_string_equal(s, "a?[31mb\tc?d?e??f\xc3\xa9");

    char empty[] = "";
    pd_text_scrub_controls(empty);
    assert_string_equal(empty, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_find_matches_memmem),
        cmocka_unit_test_setup_teardown(sanitize_removes_nul, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_odd_byte_at_every_position, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_keeps_tab_newline_cr, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_removes_c0_and_del, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_removes_c1, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_drops_invalid_bytes, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_keeps_valid_multibyte, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_idempotent, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(sanitize_null_out_len, setup_arena, teardown_arena),
        cmocka_unit_test(is_clean_detects),
        cmocka_unit_test(rune_count_multibyte),
        cmocka_unit_test(prefix_bytes_multibyte),
        cmocka_unit_test_setup_teardown(truncate_400_ascii, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_exact_limit_kept, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_multibyte_by_runes, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_four_byte_runes, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_newlines_become_spaces, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_trims_before_counting, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(truncate_invalid_byte_becomes_fffd, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(trim_unicode_spaces, setup_arena, teardown_arena),
        cmocka_unit_test(trim_span_offsets),
        cmocka_unit_test(is_blank_cases),
        cmocka_unit_test(prefix_and_find),
        cmocka_unit_test(scrub_controls_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
