/*
 * test_json.c -- tests of the simdjson wrapper: the validity rule, gjson
 * coercions, duplicate keys, paths, iteration, raw spans and the canonical
 * form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"

static int setup_parser(void **state)
{
    *state = pd_json_parser_new();
    return *state == NULL ? -1 : 0;
}

static int teardown_parser(void **state)
{
    pd_json_parser_free(*state);
    return 0;
}

/* Parses the NUL-terminated text and fails the test unless it is valid. */
static pd_json parse_ok(pd_json_parser *p, const char *text)
{
    pd_json root;
    int rc = pd_json_parse(p, text, strlen(text), &root);

    if (rc != PD_OK)
        fail_msg("expected valid JSON, got %s for: %s", pd_strerror_name(rc), text);
    return root;
}

static void expect_invalid(pd_json_parser *p, const char *text, size_t n)
{
    pd_json root;
    int rc = pd_json_parse(p, text, n, &root);

    if (rc != PD_EJSON)
        fail_msg("expected PD_EJSON, got %s for: %.*s", pd_strerror_name(rc), (int)n, text);
    assert_false(pd_json_exists(root));
}

/* Returns the string at path of root as a NUL-terminated copy owned by a static buffer. */
static const char *str_at(pd_json root, const char *path)
{
    static char text[256];
    size_t n;
    const char *s = pd_json_str_or_empty(pd_json_path(root, path), &n);

    assert_true(n < sizeof text);
    memcpy(text, s, n);
    text[n] = '\0';
    return text;
}

static void expect_raw(pd_json_parser *p, const char *path, const char *expected)
{
    const char *s;
    size_t n;

    if (!pd_json_raw_path(p, path, &s, &n))
        fail_msg("raw path \"%s\" did not resolve", path);
    assert_int_equal(n, strlen(expected));
    assert_memory_equal(s, expected, n);
}

static void expect_canonical(pd_json_parser *p, const char *text, const char *expected)
{
    char *out = NULL;
    pd_json root = parse_ok(p, text);

    assert_int_equal(pd_json_canonical(root, &out), PD_OK);
    assert_non_null(out);
    assert_string_equal(out, expected);
    free(out);
}

static void types_of_values(void **state)
{
    pd_json root = parse_ok(*state, "{\"o\":{},\"a\":[],\"s\":\"x\",\"n\":1.5,\"i\":-3,"
                                    "\"t\":true,\"f\":false,\"z\":null}");

    assert_int_equal(pd_json_type_of(root), PD_JSON_OBJECT);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "o")), PD_JSON_OBJECT);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "a")), PD_JSON_ARRAY);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "s")), PD_JSON_STRING);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "n")), PD_JSON_NUMBER);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "i")), PD_JSON_NUMBER);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "t")), PD_JSON_BOOL);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "f")), PD_JSON_BOOL);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "z")), PD_JSON_NULL);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "missing")), PD_JSON_ABSENT);
    assert_true(pd_json_exists(pd_json_get(root, "z")));
    assert_false(pd_json_exists(pd_json_get(root, "missing")));
}

static void zero_handle_is_absent(void **state)
{
    (void)state;
    pd_json none;
    const char *s;
    size_t n = 9;
    memset(&none, 0, sizeof none);

    assert_false(pd_json_exists(none));
    assert_int_equal(pd_json_type_of(none), PD_JSON_ABSENT);
    assert_false(pd_json_exists(pd_json_get(none, "a")));
    assert_false(pd_json_exists(pd_json_path(none, "a.b")));
    assert_false(pd_json_exists(pd_json_at(none, 0)));
    assert_false(pd_json_str(none, &s, &n));
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    assert_int_equal(pd_json_int(none), 0);
    assert_false(pd_json_bool(none));
    assert_int_equal(pd_json_len(none), 0);
}

static void str_empty_for_non_strings(void **state)
{
    pd_json root =
        parse_ok(*state, "{\"n\":5,\"t\":true,\"z\":null,\"o\":{\"a\":1},\"a\":[\"x\"]}");
    static const char *const keys[] = {"n", "t", "z", "o", "a", "missing"};

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = 99;
        const char *s = pd_json_str_or_empty(pd_json_get(root, keys[i]), &n);
        assert_int_equal(n, 0);
        assert_string_equal(s, "");
    }
}

static void str_keeps_escaped_nul(void **state)
{
    pd_json root = parse_ok(*state, "{\"s\":\"a\\u0000b\\n\\u00e9\"}");
    const char *s;
    size_t n;

    assert_true(pd_json_str(pd_json_get(root, "s"), &s, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(s, "a\0b\n\xC3\xA9", 6);
}

static void int_coercions(void **state)
{
    pd_json root = parse_ok(*state, "{\"i\":42,\"neg\":-7,\"f\":3.9,\"nf\":-3.9,\"e\":1e3,"
                                    "\"s\":\"42\",\"sn\":\"-7\",\"sf\":\"3.9\",\"sx\":\"abc\","
                                    "\"se\":\"\",\"t\":true,\"fa\":false,\"z\":null,"
                                    "\"big\":9007199254740993,\"o\":{}}");

    assert_int_equal(pd_json_int(pd_json_get(root, "i")), 42);
    assert_int_equal(pd_json_int(pd_json_get(root, "neg")), -7);
    assert_int_equal(pd_json_int(pd_json_get(root, "f")), 3);
    assert_int_equal(pd_json_int(pd_json_get(root, "nf")), -3);
    assert_int_equal(pd_json_int(pd_json_get(root, "e")), 1000);
    assert_int_equal(pd_json_int(pd_json_get(root, "s")), 42);
    assert_int_equal(pd_json_int(pd_json_get(root, "sn")), -7);
    /* gjson parses strings as decimal integers only, so a fraction gives 0. */
    assert_int_equal(pd_json_int(pd_json_get(root, "sf")), 0);
    assert_int_equal(pd_json_int(pd_json_get(root, "sx")), 0);
    assert_int_equal(pd_json_int(pd_json_get(root, "se")), 0);
    assert_int_equal(pd_json_int(pd_json_get(root, "t")), 1);
    assert_int_equal(pd_json_int(pd_json_get(root, "fa")), 0);
    assert_int_equal(pd_json_int(pd_json_get(root, "z")), 0);
    assert_int_equal(pd_json_int(pd_json_get(root, "big")), 9007199254740993LL);
    assert_int_equal(pd_json_int(pd_json_get(root, "o")), 0);
}

static void float_coercions(void **state)
{
    pd_json root = parse_ok(*state, "{\"f\":2.5,\"i\":-4,\"s\":\"1.25\",\"sx\":\"1.5x\","
                                    "\"sp\":\" 1\",\"t\":true,\"z\":null}");

    assert_true(pd_json_float(pd_json_get(root, "f")) == 2.5);
    assert_true(pd_json_float(pd_json_get(root, "i")) == -4.0);
    assert_true(pd_json_float(pd_json_get(root, "s")) == 1.25);
    assert_true(pd_json_float(pd_json_get(root, "sx")) == 0.0);
    assert_true(pd_json_float(pd_json_get(root, "sp")) == 0.0);
    assert_true(pd_json_float(pd_json_get(root, "t")) == 1.0);
    assert_true(pd_json_float(pd_json_get(root, "z")) == 0.0);
}

static void bool_coercions(void **state)
{
    static const char *const true_strings[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const false_strings[] = {"0", "f", "false", "yes", "", "on", "2"};
    pd_json_parser *p = *state;
    char text[64];

    for (size_t i = 0; i < sizeof true_strings / sizeof true_strings[0]; i++) {
        snprintf(text, sizeof text, "{\"b\":\"%s\"}", true_strings[i]);
        if (!pd_json_bool(pd_json_get(parse_ok(p, text), "b")))
            fail_msg("string \"%s\" should be true", true_strings[i]);
    }
    for (size_t i = 0; i < sizeof false_strings / sizeof false_strings[0]; i++) {
        snprintf(text, sizeof text, "{\"b\":\"%s\"}", false_strings[i]);
        if (pd_json_bool(pd_json_get(parse_ok(p, text), "b")))
            fail_msg("string \"%s\" should be false", false_strings[i]);
    }

    pd_json root = parse_ok(p, "{\"t\":true,\"f\":false,\"one\":1,\"zero\":0,\"half\":0.5,"
                               "\"neg\":-2,\"z\":null,\"o\":{}}");
    assert_true(pd_json_bool(pd_json_get(root, "t")));
    assert_false(pd_json_bool(pd_json_get(root, "f")));
    assert_true(pd_json_bool(pd_json_get(root, "one")));
    assert_false(pd_json_bool(pd_json_get(root, "zero")));
    assert_true(pd_json_bool(pd_json_get(root, "half")));
    assert_true(pd_json_bool(pd_json_get(root, "neg")));
    assert_false(pd_json_bool(pd_json_get(root, "z")));
    assert_false(pd_json_bool(pd_json_get(root, "o")));
}

static void is_integer_cases(void **state)
{
    pd_json root = parse_ok(*state, "{\"i\":3,\"u\":18446744073709551615,\"f\":3.0,\"e\":1e2,"
                                    "\"s\":\"3\"}");

    assert_true(pd_json_is_integer(pd_json_get(root, "i")));
    assert_true(pd_json_is_integer(pd_json_get(root, "u")));
    assert_false(pd_json_is_integer(pd_json_get(root, "f")));
    assert_false(pd_json_is_integer(pd_json_get(root, "e")));
    assert_false(pd_json_is_integer(pd_json_get(root, "s")));
}

static void duplicate_key_first_wins(void **state)
{
    pd_json_parser *p = *state;
    pd_json root =
        parse_ok(p, "{\"a\":1,\"b\":{\"c\":\"first\"},\"a\":2,\"b\":{\"c\":\"second\"}}");

    assert_int_equal(pd_json_int(pd_json_get(root, "a")), 1);
    assert_string_equal(str_at(root, "b.c"), "first");
    assert_int_equal(pd_json_int(pd_json_getn(root, "ab", 1)), 1);
    expect_raw(p, "a", "1");
    expect_raw(p, "b", "{\"c\":\"first\"}");
    assert_int_equal(pd_json_len(root), 4);
}

static void escaped_key_lookup(void **state)
{
    pd_json_parser *p = *state;
    pd_json root = parse_ok(p, "{\"k\\u0065y\":{\"x\":[7]},\"q\\\"t\":1,\"a.b\":2}");

    assert_int_equal(pd_json_type_of(pd_json_get(root, "key")), PD_JSON_OBJECT);
    assert_int_equal(pd_json_int(pd_json_path(root, "key.x.0")), 7);
    assert_int_equal(pd_json_int(pd_json_get(root, "q\"t")), 1);
    expect_raw(p, "key", "{\"x\":[7]}");
    expect_raw(p, "key.x.0", "7");
    expect_raw(p, "q\"t", "1");
    /* A backslash in a path makes the dot part of the key. */
    assert_int_equal(pd_json_int(pd_json_path(root, "a\\.b")), 2);
    expect_raw(p, "a\\.b", "2");
}

static void path_components(void **state)
{
    pd_json root =
        parse_ok(*state, "{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                         "{\"type\":\"tool_use\"}],\"usage\":{\"input_tokens\":12}},"
                         "\"0\":{\"1\":\"key named by digits\"}}");

    assert_string_equal(str_at(root, "message.content.0.text"), "hi");
    assert_string_equal(str_at(root, "message.content.1.type"), "tool_use");
    assert_int_equal(pd_json_int(pd_json_path(root, "message.usage.input_tokens")), 12);
    assert_string_equal(str_at(root, "0.1"), "key named by digits");
    assert_false(pd_json_exists(pd_json_path(root, "message.content.2")));
    assert_false(pd_json_exists(pd_json_path(root, "message.content.x")));
    assert_false(pd_json_exists(pd_json_path(root, "message.content.-1")));
    assert_false(pd_json_exists(pd_json_path(root, "message.usage.input_tokens.deeper")));
    assert_false(pd_json_exists(pd_json_path(root, "")));
}

static void array_access(void **state)
{
    pd_json root = parse_ok(*state, "[10,\"x\",[1,2],{\"k\":true}]");

    assert_int_equal(pd_json_len(root), 4);
    assert_int_equal(pd_json_int(pd_json_at(root, 0)), 10);
    assert_int_equal(pd_json_len(pd_json_at(root, 2)), 2);
    assert_true(pd_json_bool(pd_json_path(root, "3.k")));
    assert_false(pd_json_exists(pd_json_at(root, 4)));
    assert_false(pd_json_exists(pd_json_get(root, "0")));
}

static void iterate_object_in_order(void **state)
{
    pd_json root = parse_ok(*state, "{\"z\":1,\"a\":\"two\",\"m\":[3],\"z\":4}");
    static const char *const keys[] = {"z", "a", "m", "z"};
    pd_json_iter it = pd_json_iter_begin(root);
    pd_json key, val;
    size_t count = 0;

    while (pd_json_iter_next(&it, &key, &val)) {
        size_t n;
        const char *s = pd_json_str_or_empty(key, &n);
        assert_true(count < 4);
        assert_int_equal(pd_json_type_of(key), PD_JSON_STRING);
        assert_int_equal(n, strlen(keys[count]));
        assert_memory_equal(s, keys[count], n);
        assert_true(pd_json_exists(val));
        count++;
    }
    assert_int_equal(count, 4);
    /* Next after the end stays false. */
    assert_false(pd_json_iter_next(&it, &key, &val));
}

static void iterate_array_values(void **state)
{
    pd_json root = parse_ok(*state, "[5,6,7]");
    pd_json_iter it = pd_json_iter_begin(root);
    pd_json key, val;
    int64_t sum = 0;
    int count = 0;

    while (pd_json_iter_next(&it, &key, &val)) {
        assert_false(pd_json_exists(key));
        sum += pd_json_int(val);
        count++;
    }
    assert_int_equal(count, 3);
    assert_int_equal(sum, 18);
}

static void iterate_scalar_and_empty(void **state)
{
    pd_json_parser *p = *state;
    pd_json key, val;

    pd_json_iter it = pd_json_iter_begin(parse_ok(p, "42"));
    assert_false(pd_json_iter_next(&it, &key, &val));
    it = pd_json_iter_begin(parse_ok(p, "{}"));
    assert_false(pd_json_iter_next(&it, &key, &val));
    it = pd_json_iter_begin(parse_ok(p, "[]"));
    assert_false(pd_json_iter_next(&it, NULL, NULL));
}

static void raw_spans_with_whitespace(void **state)
{
    pd_json_parser *p = *state;
    parse_ok(p, "  {\"u\": { \"a\" : 1 ,\"b\":[ 1, 2 ] } , \"s\":\"x\\\"y\\\\\", "
                "\"n\": -1.5e3 , \"t\" :true,\"z\":null }\t");

    expect_raw(p, "u", "{ \"a\" : 1 ,\"b\":[ 1, 2 ] }");
    expect_raw(p, "u.a", "1");
    expect_raw(p, "u.b", "[ 1, 2 ]");
    expect_raw(p, "u.b.1", "2");
    expect_raw(p, "s", "\"x\\\"y\\\\\"");
    expect_raw(p, "n", "-1.5e3");
    expect_raw(p, "t", "true");
    expect_raw(p, "z", "null");
}

static void raw_spans_nested_strings(void **state)
{
    pd_json_parser *p = *state;
    /* Brackets and quotes inside strings must not confuse the span scanner. */
    parse_ok(p, "{\"a\":[\"]\",\"}\\\"{\",{\"b\":\"[\"}],\"c\":{\"d\":\"\\\\\"}}");

    expect_raw(p, "a", "[\"]\",\"}\\\"{\",{\"b\":\"[\"}]");
    expect_raw(p, "a.2.b", "\"[\"");
    expect_raw(p, "c", "{\"d\":\"\\\\\"}");
    expect_raw(p, "c.d", "\"\\\\\"");

    /* Three backslashes before a quote escape it; four do not. */
    parse_ok(p, "{\"e\":\"a\\\\\\\"b\",\"f\":\"\\\\\\\\\",\"g\":0}");
    expect_raw(p, "e", "\"a\\\\\\\"b\"");
    expect_raw(p, "f", "\"\\\\\\\\\"");
    expect_raw(p, "g", "0");
}

static void raw_span_misses(void **state)
{
    pd_json_parser *p = *state;
    const char *s = "unchanged";
    size_t n = 5;

    parse_ok(p, "{\"a\":[1],\"b\":{}}");
    assert_false(pd_json_raw_path(p, "x", &s, &n));
    assert_int_equal(n, 0);
    assert_false(pd_json_raw_path(p, "a.1", &s, &n));
    assert_false(pd_json_raw_path(p, "a.x", &s, &n));
    assert_false(pd_json_raw_path(p, "b.c", &s, &n));
    assert_false(pd_json_raw_path(p, "a.0.z", &s, &n));
    assert_false(pd_json_raw_path(p, "", &s, &n));

    /* After a failed parse nothing resolves. */
    expect_invalid(p, "{", 1);
    assert_false(pd_json_raw_path(p, "a", &s, &n));
}

static void raw_root_trims_whitespace(void **state)
{
    pd_json_parser *p = *state;
    const char *s;
    size_t n;

    parse_ok(p, " \t{\"a\" : [1]}\r\n ");
    pd_json_raw_root(p, &s, &n);
    assert_int_equal(n, strlen("{\"a\" : [1]}"));
    assert_memory_equal(s, "{\"a\" : [1]}", n);

    parse_ok(p, "\"bare\"");
    pd_json_raw_root(p, &s, &n);
    assert_int_equal(n, 6);
}

static void parse_copies_input(void **state)
{
    pd_json_parser *p = *state;
    char text[32];
    const char *s;
    size_t n;

    strcpy(text, "{\"k\":\"value\"}");
    pd_json root = parse_ok(p, text);
    memset(text, 'X', sizeof text);

    assert_string_equal(str_at(root, "k"), "value");
    assert_true(pd_json_raw_path(p, "k", &s, &n));
    assert_memory_equal(s, "\"value\"", 7);
}

static void bare_scalars_valid(void **state)
{
    pd_json_parser *p = *state;

    assert_int_equal(pd_json_int(parse_ok(p, "123")), 123);
    assert_string_equal(str_at(parse_ok(p, "{\"x\":\"y\"}"), "x"), "y");
    assert_int_equal(pd_json_type_of(parse_ok(p, "\"x\"")), PD_JSON_STRING);
    assert_int_equal(pd_json_type_of(parse_ok(p, "true")), PD_JSON_BOOL);
    assert_int_equal(pd_json_type_of(parse_ok(p, "null")), PD_JSON_NULL);
    assert_int_equal(pd_json_type_of(parse_ok(p, " \t1\r\n")), PD_JSON_NUMBER);
    assert_int_equal(pd_json_type_of(parse_ok(p, "-0")), PD_JSON_NUMBER);
}

static void whitespace_only_invalid(void **state)
{
    pd_json_parser *p = *state;

    expect_invalid(p, "", 0);
    expect_invalid(p, " ", 1);
    expect_invalid(p, "   \t  ", 6);
    expect_invalid(p, "\r", 1);
}

static void malformed_documents_invalid(void **state)
{
    static const char *const cases[] = {
        "{",       "}",         "{\"a\":}",   "[1,]",  "[1 2]", "{\"a\" 1}", "{a:1}",
        "01",      "1.",        "-",          ".5",    "+1",    "NaN",       "Infinity",
        "tru",     "nul",       "'x'",        "\"abc", "{} {}", "[1] x",     "1 2",
        "\"\\x\"", "\"\\u12\"", "{\"a\":1,}", "\v1",   "[1]\f",
    };
    pd_json_parser *p = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_invalid(p, cases[i], strlen(cases[i]));
}

static void raw_control_char_invalid(void **state)
{
    pd_json_parser *p = *state;

    expect_invalid(p,
                   "\"a\x01"
                   "b\"",
                   5);
    expect_invalid(p, "{\"a\":\"tab\there\"}", 16);
    expect_invalid(p, "{\"a\":\"nl\nhere\"}", 15);
    expect_invalid(p, "[\"\x1f\"]", 5);
    /* DEL is not a control byte under this rule. */
    parse_ok(p, "\"a\x7f"
                "b\"");
}

static void raw_nul_invalid(void **state)
{
    pd_json_parser *p = *state;

    expect_invalid(p, "\"a\0b\"", 5);
    expect_invalid(p, "{}\0", 3);
    expect_invalid(p, "\0\0\0\0", 4);
}

static void invalid_utf8_dropped(void **state)
{
    pd_json_parser *p = *state;
    const char *s;
    size_t n;
    pd_json root = parse_ok(p, "{\"a\":\"x\xFFy\xC3\",\"b\":\"caf\xC3\xA9\",\"c\":\"\xE2\x82\"}");

    assert_string_equal(str_at(root, "a"), "xy");
    assert_string_equal(str_at(root, "b"), "caf\xC3\xA9");
    assert_string_equal(str_at(root, "c"), "");
    /* Raw spans come from the cleaned copy. */
    assert_true(pd_json_raw_path(p, "a", &s, &n));
    assert_int_equal(n, 4);
    assert_memory_equal(s, "\"xy\"", 4);
}

/* Keys are compared byte for byte, so a key with an invalid byte matches no
 * clean key; the byte becomes '?' and the line stays valid. */
static void invalid_utf8_in_key(void **state)
{
    pd_json root = parse_ok(*state, "{\"k\xFF"
                                    "ey\":1,\"v\":\"a\xFF"
                                    "b\"}");

    assert_false(pd_json_exists(pd_json_get(root, "key")));
    assert_int_equal(pd_json_int(pd_json_get(root, "k?ey")), 1);
    assert_string_equal(str_at(root, "v"), "ab");
}

static void invalid_utf8_outside_string(void **state)
{
    pd_json_parser *p = *state;

    expect_invalid(p, "\xFF{}", 3);
    expect_invalid(p, "{\"a\":1}\xFF", 8);
    expect_invalid(p, "[1,\xC3\xA9]", 6);
}

static void invalid_utf8_with_control(void **state)
{
    /* Dropping invalid bytes does not excuse a raw control byte. */
    expect_invalid(*state, "\"\xFF\x01\"", 4);
}

static void u2028_inside_string(void **state)
{
    pd_json root = parse_ok(*state, "{\"s\":\"a\xE2\x80\xA8"
                                    "b\xE2\x80\xA9"
                                    "c\"}");
    const char *s;
    size_t n;

    assert_true(pd_json_str(pd_json_get(root, "s"), &s, &n));
    assert_int_equal(n, 9);
    assert_memory_equal(s,
                        "a\xE2\x80\xA8"
                        "b\xE2\x80\xA9"
                        "c",
                        9);
}

static void lone_surrogate_tolerated(void **state)
{
    pd_json_parser *p = *state;
    pd_json root = parse_ok(p, "{\"h\":\"x\\ud83dy\",\"l\":\"\\udc00\",\"pair\":\"\\ud83d\\ude00\","
                               "\"bad\":\"\\ud83d\\u0041!\"}");

    assert_string_equal(str_at(root, "h"), "x\xEF\xBF\xBDy");
    assert_string_equal(str_at(root, "l"), "\xEF\xBF\xBD");
    assert_string_equal(str_at(root, "pair"), "\xF0\x9F\x98\x80");
    /* gjson decodes a surrogate and the next escape as one pair, giving one U+FFFD. */
    assert_string_equal(str_at(root, "bad"), "\xEF\xBF\xBD!");
    /* The raw text keeps the original escapes. */
    expect_raw(p, "h", "\"x\\ud83dy\"");
}

static void big_numbers_valid(void **state)
{
    pd_json_parser *p = *state;
    pd_json root =
        parse_ok(p, "{\"big\":123456789012345678901234567890,\"huge\":1e999,"
                    "\"tiny\":1e-999,\"neg\":-99999999999999999999,\"u\":18446744073709551615}");

    assert_true(fabs(pd_json_float(pd_json_get(root, "big")) - 1.2345678901234568e29) < 1e15);
    assert_true(pd_json_float(pd_json_get(root, "huge")) > 1e308);
    assert_true(pd_json_float(pd_json_get(root, "tiny")) == 0.0);
    assert_true(pd_json_float(pd_json_get(root, "neg")) < -9.9e19);
    assert_int_equal(pd_json_int(pd_json_get(root, "u")), -1);
    expect_raw(p, "big", "123456789012345678901234567890");
    expect_raw(p, "huge", "1e999");
}

static void deep_nesting_no_crash(void **state)
{
    pd_json_parser *p = *state;
    const size_t depth = 10000;
    char *text = malloc(2 * depth);
    pd_json root;
    assert_non_null(text);

    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    int rc = pd_json_parse(p, text, 2 * depth, &root);
    assert_true(rc == PD_EJSON || rc == PD_OK);

    memset(text, '{', depth);
    rc = pd_json_parse(p, text, depth, &root);
    assert_int_equal(rc, PD_EJSON);
    free(text);

    /* The parser is still usable afterwards. */
    assert_int_equal(pd_json_int(pd_json_get(parse_ok(p, "{\"a\":5}"), "a")), 5);
}

static void moderate_nesting_valid(void **state)
{
    pd_json_parser *p = *state;
    char text[2 * 500 + 1];

    memset(text, '[', 500);
    memset(text + 500, ']', 500);
    text[1000] = '\0';
    pd_json root = parse_ok(p, text);
    assert_int_equal(pd_json_len(root), 1);

    /* Three indices down, the value is the remaining 497 levels. */
    const char *s;
    size_t n;
    assert_true(pd_json_raw_path(p, "0.0.0", &s, &n));
    assert_int_equal(n, 2 * 497);
    assert_int_equal(s[0], '[');
    assert_int_equal(s[n - 1], ']');
    assert_int_equal(s[496], '[');
    assert_int_equal(s[497], ']');
}

static void large_document(void **state)
{
    pd_json_parser *p = *state;
    const size_t n = (size_t)8 << 20;
    char *text = malloc(n + 16);
    pd_json root;
    assert_non_null(text);

    /* An 8 MB string value forces the parser to grow past its first capacity. */
    memcpy(text, "{\"s\":\"", 6);
    memset(text + 6, 'a', n);
    memcpy(text + 6 + n, "\"}", 2);
    assert_int_equal(pd_json_parse(p, text, n + 8, &root), PD_OK);
    size_t len;
    pd_json_str_or_empty(pd_json_get(root, "s"), &len);
    assert_int_equal(len, n);
    free(text);

    assert_int_equal(pd_json_int(parse_ok(p, "7")), 7);
}

static void canonical_sorts_keys(void **state)
{
    expect_canonical(*state, "{\"b\":1,\"a\":[true,null,\"x\\n\"],\"c\":{\"z\":1.50,\"y\":-0}}",
                     "{\"a\":[true,null,\"x\\n\"],\"b\":1,\"c\":{\"y\":0,\"z\":1.5}}");
    expect_canonical(*state, "{\"B\":1,\"a\":2,\"\":3,\"aa\":4}",
                     "{\"\":3,\"B\":1,\"a\":2,\"aa\":4}");
}

static void canonical_no_whitespace(void **state)
{
    expect_canonical(*state, " { \"a\" : [ 1 , 2 ] , \"b\" : { } , \"c\" : [ ] } ",
                     "{\"a\":[1,2],\"b\":{},\"c\":[]}");
}

static void canonical_numbers(void **state)
{
    pd_json_parser *p = *state;

    expect_canonical(p, "[9007199254740993,18446744073709551615,-9223372036854775808]",
                     "[9007199254740993,18446744073709551615,-9223372036854775808]");
    expect_canonical(p, "{\"input_tokens\":0,\"output_tokens\":-1,\"cached\":10}",
                     "{\"cached\":10,\"input_tokens\":0,\"output_tokens\":-1}");
    expect_canonical(p, "[1.0,0.1,1e20,1.5e-7,-2.50,100e-2]", "[1,0.1,1e+20,1.5e-07,-2.5,1]");
    expect_canonical(p, "[0.30000000000000004,3.141592653589793]",
                     "[0.30000000000000004,3.141592653589793]");
}

static void canonical_strings_escaped(void **state)
{
    expect_canonical(*state, "[\"q\\\"b\\\\s\\/\\u0001\\t\\u00e9\\u2028\"]",
                     "[\"q\\\"b\\\\s/\\u0001\\t\xC3\xA9\xE2\x80\xA8\"]");
}

static void canonical_duplicate_keys(void **state)
{
    expect_canonical(*state, "{\"b\":2,\"a\":1,\"b\":3}", "{\"a\":1,\"b\":2}");
}

static void canonical_scalars_and_keys(void **state)
{
    pd_json_parser *p = *state;
    char *out = NULL;
    pd_json none;
    memset(&none, 0, sizeof none);

    expect_canonical(p, "\"s\"", "\"s\"");
    expect_canonical(p, "false", "false");

    /* A key handle from iteration has the canonical form of its string. */
    pd_json_iter it = pd_json_iter_begin(parse_ok(p, "{\"k\\n\":1}"));
    pd_json key, val;
    assert_true(pd_json_iter_next(&it, &key, &val));
    assert_int_equal(pd_json_canonical(key, &out), PD_OK);
    assert_string_equal(out, "\"k\\n\"");
    free(out);

    assert_int_equal(pd_json_canonical(none, &out), PD_OK);
    assert_string_equal(out, "");
    free(out);
}

static void quote_escapes_and_appends(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(pd_json_quote("a\"b\\c\n\x01\xC3\xA9", 9, &out, &len), PD_OK);
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\u0001\xC3\xA9\"");
    assert_int_equal(len, strlen(out));

    assert_int_equal(pd_json_quote("", 0, &out, &len), PD_OK);
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\u0001\xC3\xA9\"\"\"");
    assert_int_equal(len, strlen(out));
    free(out);

    out = NULL;
    assert_int_equal(pd_json_quote("x\0y", 3, &out, &len), PD_OK);
    assert_string_equal(out, "\"x\\u0000y\"");
    free(out);
}

static void kernel_name_present(void **state)
{
    (void)state;
    const char *name = pd_json_kernel_name();

    assert_non_null(name);
    assert_true(strlen(name) > 0);
}

static void handles_from_two_parsers(void **state)
{
    pd_json_parser *other = pd_json_parser_new();
    assert_non_null(other);

    pd_json a = parse_ok(*state, "{\"v\":\"one\"}");
    pd_json b = parse_ok(other, "{\"v\":\"two\"}");
    assert_string_equal(str_at(a, "v"), "one");
    assert_string_equal(str_at(b, "v"), "two");
    pd_json_parser_free(other);
    pd_json_parser_free(NULL);
}

/*
 * A line over 16 MiB grows the parser's buffers, and the next shorter line
 * releases them. Both lines, and a second long one, parse with their raw
 * spans intact.
 */
static void long_line_buffers_released(void **state)
{
    pd_json_parser *p = *state;
    const size_t body = (size_t)20 << 20;
    char *big = malloc(body + 64);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, 64, "{\"k\":\"");
    memset(big + n, 'x', body);
    n += body;
    n += (size_t)snprintf(big + n, 64, "\",\"tail\":[1,2]}");

    for (int round = 0; round < 2; round++) {
        pd_json root;
        assert_int_equal(pd_json_parse(p, big, n, &root), PD_OK);
        const char *text = NULL;
        size_t len = 0;
        assert_true(pd_json_str(pd_json_get(root, "k"), &text, &len));
        assert_int_equal(len, body);
        assert_int_equal(text[body - 1], 'x');
        expect_raw(p, "tail", "[1,2]");
        assert_true(pd_json_parser_held_bytes(p) > body);

        pd_json small = parse_ok(p, "{\"v\":\"short\",\"w\":{\"x\":3}}");
        assert_string_equal(str_at(small, "v"), "short");
        expect_raw(p, "w", "{\"x\":3}");
        assert_true(pd_json_parser_held_bytes(p) < ((size_t)1 << 20));
    }
    free(big);
}

#define PARSER_TEST(name) cmocka_unit_test_setup_teardown(name, setup_parser, teardown_parser)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PARSER_TEST(types_of_values),
        cmocka_unit_test(zero_handle_is_absent),
        PARSER_TEST(str_empty_for_non_strings),
        PARSER_TEST(str_keeps_escaped_nul),
        PARSER_TEST(int_coercions),
        PARSER_TEST(float_coercions),
        PARSER_TEST(bool_coercions),
        PARSER_TEST(is_integer_cases),
        PARSER_TEST(duplicate_key_first_wins),
        PARSER_TEST(escaped_key_lookup),
        PARSER_TEST(path_components),
        PARSER_TEST(array_access),
        PARSER_TEST(iterate_object_in_order),
        PARSER_TEST(iterate_array_values),
        PARSER_TEST(iterate_scalar_and_empty),
        PARSER_TEST(raw_spans_with_whitespace),
        PARSER_TEST(raw_spans_nested_strings),
        PARSER_TEST(raw_span_misses),
        PARSER_TEST(raw_root_trims_whitespace),
        PARSER_TEST(parse_copies_input),
        PARSER_TEST(bare_scalars_valid),
        PARSER_TEST(whitespace_only_invalid),
        PARSER_TEST(malformed_documents_invalid),
        PARSER_TEST(raw_control_char_invalid),
        PARSER_TEST(raw_nul_invalid),
        PARSER_TEST(invalid_utf8_dropped),
        PARSER_TEST(invalid_utf8_in_key),
        PARSER_TEST(invalid_utf8_outside_string),
        PARSER_TEST(invalid_utf8_with_control),
        PARSER_TEST(u2028_inside_string),
        PARSER_TEST(lone_surrogate_tolerated),
        PARSER_TEST(big_numbers_valid),
        PARSER_TEST(deep_nesting_no_crash),
        PARSER_TEST(moderate_nesting_valid),
        PARSER_TEST(large_document),
        PARSER_TEST(canonical_sorts_keys),
        PARSER_TEST(canonical_no_whitespace),
        PARSER_TEST(canonical_numbers),
        PARSER_TEST(canonical_strings_escaped),
        PARSER_TEST(canonical_duplicate_keys),
        PARSER_TEST(canonical_scalars_and_keys),
        cmocka_unit_test(quote_escapes_and_appends),
        cmocka_unit_test(kernel_name_present),
        PARSER_TEST(long_line_buffers_released),
        PARSER_TEST(handles_from_two_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
