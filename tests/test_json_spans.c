/*
 * test_json_spans.c -- raw spans through simdjson's structural index agree
 * with the text scan.
 *
 * pd_json_raw_path and pd_json_raw_value find a value's source text through
 * the structural index of the parse. pd_json_raw_path_scan finds it by
 * scanning the line. Every
 * value of every line below, and of every line of the real transcripts under
 * $PD_SHARED_DIR/corpus/real, is looked up both ways and the spans compared.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "tests/support/engine_fixture.h"

/* Lines with more values than this are checked at a sample of them, to bound the scan's cost. */
#define MAX_CHECKS_PER_LINE 4000

typedef struct walk {
    pd_json_parser *parser;
    size_t parsed;  /* lines that parsed */
    size_t indexed; /* of those, lines served by the structural index */
    pd_json root;   /* of the last line */
    size_t values;  /* values seen on this line */
    size_t stride;  /* check every stride-th value */
    size_t checked; /* over the whole test */
} walk;

static size_t count_values(pd_json v)
{
    pd_json_iter it = pd_json_iter_begin(v);
    pd_json child;
    size_t n = 1;

    while (pd_json_iter_next(&it, NULL, &child))
        n += count_values(child);
    return n;
}

static void compare_spans(walk *w, pd_json v, const char *path)
{
    const char *indexed, *scanned, *direct;
    size_t indexed_len, scanned_len, direct_len;
    bool found = pd_json_raw_path(w->parser, path, &indexed, &indexed_len);
    bool found_by_scan = pd_json_raw_path_scan(w->parser, path, &scanned, &scanned_len);

    if (found != found_by_scan)
        fail_msg("path \"%s\": index %s it, scan %s it", path, found ? "found" : "missed",
                 found_by_scan ? "found" : "missed");
    if (!found)
        return;
    if (indexed != scanned || indexed_len != scanned_len)
        fail_msg("path \"%s\": index gives [%.*s], scan gives [%.*s]", path,
                 (int)(indexed_len < 200 ? indexed_len : 200), indexed,
                 (int)(scanned_len < 200 ? scanned_len : 200), scanned);
    /*
     * The value's own handle gives the same span when the line has an index,
     * unless the path names an earlier duplicate of its key.
     */
    pd_json named = pd_json_path(w->root, path);
    if (memcmp(&named, &v, sizeof v) != 0)
        return;
    if (pd_json_raw_value(w->parser, v, &direct, &direct_len)) {
        if (direct != scanned || direct_len != scanned_len)
            fail_msg("path \"%s\": the handle gives [%.*s]", path,
                     (int)(direct_len < 200 ? direct_len : 200), direct);
    } else if (pd_json_raw_path_indexed(w->parser)) {
        fail_msg("path \"%s\": no span from the handle of an indexed line", path);
    }
    w->checked++;
}

/* Appends a path component to path[len], escaping '.' and '\' as pd_json_path reads them. */
static size_t append_component(char **path, size_t *cap, size_t len, const char *s, size_t n)
{
    size_t need = len + 1 + 2 * n + 1;

    if (need > *cap) {
        *cap = need * 2;
        *path = realloc(*path, *cap);
        assert_non_null(*path);
    }
    if (len > 0)
        (*path)[len++] = '.';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' || s[i] == '\\')
            (*path)[len++] = '\\';
        (*path)[len++] = s[i];
    }
    (*path)[len] = '\0';
    return len;
}

static void walk_value(walk *w, pd_json v, char **path, size_t *cap, size_t len)
{
    pd_json_iter it = pd_json_iter_begin(v);
    pd_json key, child;
    size_t index = 0;
    bool is_object = pd_json_type_of(v) == PD_JSON_OBJECT;

    if (len > 0 && w->values++ % w->stride == 0)
        compare_spans(w, v, *path);
    while (pd_json_iter_next(&it, &key, &child)) {
        const char *s;
        size_t n, child_len;
        char digits[32];

        if (is_object) {
            assert_true(pd_json_str(key, &s, &n));
            /* A key with a NUL byte cannot travel in a C path string. */
            if (memchr(s, '\0', n) != NULL)
                continue;
        } else {
            n = (size_t)snprintf(digits, sizeof digits, "%zu", index);
            s = digits;
        }
        index++;
        child_len = append_component(path, cap, len, s, n);
        walk_value(w, child, path, cap, child_len);
        (*path)[len] = '\0';
    }
}

/* Parses text, compares the spans of all its values and returns whether the index served them. */
static bool check_line(walk *w, const char *text, size_t n)
{
    pd_json root;
    size_t cap = 256;
    char *path = malloc(cap);

    assert_non_null(path);
    path[0] = '\0';
    if (pd_json_parse(w->parser, text, n, &root) != PD_OK) {
        free(path);
        return false;
    }
    w->parsed++;
    if (pd_json_raw_path_indexed(w->parser))
        w->indexed++;
    w->root = root;
    size_t total = count_values(root);
    w->values = 0;
    w->stride = total > MAX_CHECKS_PER_LINE ? total / MAX_CHECKS_PER_LINE + 1 : 1;
    walk_value(w, root, &path, &cap, 0);
    free(path);
    return pd_json_raw_path_indexed(w->parser);
}

static void check_text(walk *w, const char *text, bool indexed)
{
    size_t before = w->checked;

    if (check_line(w, text, strlen(text)) != indexed)
        fail_msg("line %s the structural index but should %s: %s", indexed ? "missed" : "used",
                 indexed ? "use it" : "not", text);
    if (strchr(text, '{') != NULL || strchr(text, '[') != NULL)
        assert_true(w->checked > before);
}

static int setup(void **state)
{
    walk *w = calloc(1, sizeof *w);

    if (w == NULL)
        return -1;
    w->parser = pd_json_parser_new();
    *state = w;
    return w->parser == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    walk *w = *state;

    pd_json_parser_free(w->parser);
    free(w);
    return 0;
}

static void spans_of_shaped_lines(void **state)
{
    walk *w = *state;
    static const char *const lines[] = {
        "{\"a\":1,\"b\":[1,2.5,-3e2,true,false,null,\"s\"],\"c\":{}}",
        "  { \"a\" : 12 , \"b\" :\t[ 1 , [ ] , { } ] ,\"c\":\"x\" }  ",
        "[1,\"two\",{\"three\":[3,[3,[3]]]},null]",
        "{\"q\":\"quote \\\" and \\\\\\\\\",\"e\":\"\\u00e9\\n\",\"after\":0}",
        "{\"dup\":1,\"dup\":2,\"x\":{\"dup\":[3]}}",
        "{\"dot.key\":{\"back\\\\slash\":[true]},\"\":\"empty key\"}",
        "{\"esc\\u0061ped\":\"key with an escape\",\"n\":18446744073709551615}",
        "{\"big\":-9223372036854775808,\"f\":1.7976931348623157e308,\"tiny\":5e-324}",
        "{\"deep\":[[[[[[[[[[{\"z\":\"end\"}]]]]]]]]]]}",
        "{\"message\":{\"content\":[{\"type\":\"tool_use\",\"input\":{\"cmd\":\"ls\"}},"
        "{\"type\":\"text\",\"text\":\"ok\"}],\"usage\":{\"input_tokens\":5}}}",
    };

    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        check_text(w, lines[i], true);
}

/* Checks that path in the last-parsed line has exactly the source text expected. */
static void expect_raw(walk *w, const char *path, const char *expected)
{
    const char *s;
    size_t n;

    if (!pd_json_raw_path(w->parser, path, &s, &n))
        fail_msg("raw path \"%s\" did not resolve", path);
    assert_int_equal(n, strlen(expected));
    assert_memory_equal(s, expected, n);
}

static void scalar_roots_and_odd_whitespace(void **state)
{
    walk *w = *state;

    /* A scalar document has no path below it, but the index still builds. */
    assert_true(check_line(w, " 42 ", 4));
    assert_true(check_line(w, "\"alone\"", 7));
    check_text(w, "{\"a\":\r\n[ 1 ,\r\n 2 ]\r\n,\"b\" : \"x\"\t}", true);
    expect_raw(w, "a.1", "2");
    expect_raw(w, "b", "\"x\"");
}

static void invalid_utf8_line_keeps_the_index(void **state)
{
    walk *w = *state;
    /* Pass 2 drops the bad byte from the copy it parses, so the index still matches the text. */
    const char text[] = "{\"a\":\"bad \xff byte\",\"b\":[1,{\"c\":2}]}";

    assert_true(check_line(w, text, sizeof text - 1));
    assert_true(w->checked > 0);
}

static void patched_line_falls_back_to_the_scan(void **state)
{
    walk *w = *state;
    const char *s;
    size_t n;

    /* A lone surrogate and an out-of-range number need the patched pass. */
    check_text(w, "{\"a\":\"\\ud800 lone\",\"b\":[1,2],\"c\":{\"d\":\"e\"}}", false);
    check_text(w, "{\"n\":1e999,\"m\":{\"k\":[true]}}", false);
    expect_raw(w, "n", "1e999");
    /* Without an index a handle gives no span, so callers look the value up by path. */
    assert_false(pd_json_raw_value(w->parser, pd_json_path(w->root, "m"), &s, &n));
}

static void spans_follow_each_parse(void **state)
{
    walk *w = *state;
    const char *s;
    size_t n;

    /* The index belongs to one line, so a later, shorter line must not see the earlier map. */
    check_text(w, "{\"long\":[1,2,3,4,5,6,7,8,9,10],\"x\":{\"y\":\"z\"}}", true);
    check_text(w, "{\"x\":[0]}", true);
    expect_raw(w, "x.0", "0");
    assert_false(pd_json_raw_path(w->parser, "long", &s, &n));
}

static void stale_handle_gives_no_wild_span(void **state)
{
    walk *w = *state;
    pd_json root;
    const char *s;
    size_t n;

    /* The inner 7 is tape entry 3. In the next line entry 3 is a number's payload word. */
    assert_int_equal(pd_json_parse(w->parser, "[[7],2]", 7, &root), PD_OK);
    pd_json inner_seven = pd_json_at(pd_json_at(root, 0), 0);
    assert_true(pd_json_raw_value(w->parser, inner_seven, &s, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(s, "7", 1);
    assert_int_equal(pd_json_parse(w->parser, "[0,1.25]", 8, &root), PD_OK);
    assert_false(pd_json_raw_value(w->parser, inner_seven, &s, &n));
    assert_int_equal(n, 0);
}

/* Compares the spans of every line of the file at path. */
static void check_file(const char *path, void *ctx)
{
    walk *w = ctx;
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        check_line(w, line, (size_t)n);
    }
    free(line);
    fclose(f);
}

static void spans_of_the_real_transcripts(void **state)
{
    walk *w = *state;
    const char *shared = getenv("PD_SHARED_DIR");
    char root[4096];

    if (shared == NULL)
        fail_msg("PD_SHARED_DIR is not set; run the test through ctest");
    snprintf(root, sizeof root, "%s/corpus/real", shared);
    w->checked = 0;
    w->parsed = 0;
    w->indexed = 0;
    /* The transcripts, and the subagent .meta.json files beside them. */
    size_t files = fx_each_file(root, ".jsonl", check_file, w);
    files += fx_each_file(root, ".json", check_file, w);
    assert_true(files >= 10);
    /* The real transcripts contain over 10,000 values, so a lower count means skipped lines. */
    assert_true(w->checked > 10000);
    /* No real line needs the patched pass, so the index must serve every one. */
    assert_true(w->parsed > 900);
    assert_int_equal(w->indexed, w->parsed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spans_of_shaped_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(scalar_roots_and_odd_whitespace, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8_line_keeps_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(patched_line_falls_back_to_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(spans_follow_each_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_handle_gives_no_wild_span, setup, teardown),
        cmocka_unit_test_setup_teardown(spans_of_the_real_transcripts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
