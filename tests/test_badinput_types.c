/*
 * test_badinput_types.c -- every field the parsers read, given a value of
 * the wrong type.
 *
 * The good Claude and Codex transcripts of the engine fixture are parsed
 * line by line. Each value of each line, nested ones included, is replaced
 * in turn by a string, a number, an object, an array, null and a boolean,
 * skipping the value's own type. Every mutated transcript must parse
 * without error and without malformed lines, both fully and
 * incrementally. Then one mutant per value goes to disk beside two good
 * sessions: sync must store them all and diff must find every stored
 * session identical.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"
#include "tests/support/engine_fixture.h"
#include "tests/test_badinput_support.h"

typedef struct typed_value {
    const char *text;
    pd_json_type type;
} typed_value;

static const typed_value replacements[] = {
    {"\"text\"", PD_JSON_STRING}, {"42", PD_JSON_NUMBER}, {"{\"k\":\"v\"}", PD_JSON_OBJECT},
    {"[\"v\",1]", PD_JSON_ARRAY}, {"null", PD_JSON_NULL}, {"true", PD_JSON_BOOL},
};
#define N_REPLACEMENTS (sizeof replacements / sizeof replacements[0])

/* Returns the one replacement used on disk: an object for a scalar, a string for the rest. */
static const char *most_different(pd_json_type type)
{
    switch (type) {
    case PD_JSON_STRING:
        return "{\"k\":\"v\"}";
    case PD_JSON_OBJECT:
    case PD_JSON_ARRAY:
    case PD_JSON_NUMBER:
        return "\"text\"";
    case PD_JSON_BOOL:
        return "[\"v\",1]";
    default:
        return "{\"k\":\"v\"}";
    }
}

/* ---- rewriting one line with one value replaced -------------------------------------------- */

typedef struct rewrite {
    size_t target;           /* pre-order index of the value to replace; 0 is the whole line */
    const char *replacement; /* NULL writes the target as it is */
    size_t next;             /* pre-order index of the next value visited */
    pd_json_type target_type;
    bytes *out;
} rewrite;

static void write_value(rewrite *w, pd_json v)
{
    size_t index = w->next++;
    pd_json_type type = pd_json_type_of(v);

    if (index == w->target) {
        w->target_type = type;
        if (w->replacement != NULL) {
            bytes_add_str(w->out, w->replacement);
            return;
        }
    }

    if (type == PD_JSON_OBJECT || type == PD_JSON_ARRAY) {
        bool is_object = type == PD_JSON_OBJECT;
        pd_json_iter it = pd_json_iter_begin(v);
        pd_json key, member;
        bool first = true;

        bytes_add_str(w->out, is_object ? "{" : "[");
        while (pd_json_iter_next(&it, &key, &member)) {
            if (!first)
                bytes_add_str(w->out, ",");
            first = false;
            if (is_object) {
                const char *name;
                size_t name_len;
                char *quoted = NULL;
                size_t quoted_len = 0;
                assert_true(pd_json_str(key, &name, &name_len));
                assert_int_equal(pd_json_quote(name, name_len, &quoted, &quoted_len), PD_OK);
                bytes_add(w->out, quoted, quoted_len);
                bytes_add_str(w->out, ":");
                free(quoted);
            }
            write_value(w, member);
        }
        bytes_add_str(w->out, is_object ? "}" : "]");
        return;
    }

    char *text = NULL;
    assert_int_equal(pd_json_canonical(v, &text), PD_OK);
    bytes_add_str(w->out, text);
    free(text);
}

/* One transcript split into lines, each parsed once so that values can be walked. */
typedef struct transcript {
    char **lines;
    size_t n_lines;
    size_t *n_values; /* values per line, the line itself included */
} transcript;

static void transcript_split(transcript *t, const char *text)
{
    memset(t, 0, sizeof *t);
    for (const char *p = text; *p != '\0';) {
        const char *lf = strchr(p, '\n');
        size_t n = lf != NULL ? (size_t)(lf - p) : strlen(p);
        t->lines = realloc(t->lines, (t->n_lines + 1) * sizeof *t->lines);
        assert_non_null(t->lines);
        t->lines[t->n_lines++] = strndup(p, n);
        p += n + (lf != NULL ? 1 : 0);
    }
    t->n_values = calloc(t->n_lines, sizeof *t->n_values);
    assert_non_null(t->n_values);
}

static void transcript_free(transcript *t)
{
    for (size_t i = 0; i < t->n_lines; i++)
        free(t->lines[i]);
    free(t->lines);
    free(t->n_values);
}

/*
 * Writes the transcript with value `target` of line `line` replaced (NULL
 * replacement keeps it) into out, and returns the replaced value's type.
 */
static pd_json_type write_mutant(const transcript *t, pd_json_parser *parser, size_t line,
                                 size_t target, const char *replacement, bytes *out)
{
    pd_json_type type = PD_JSON_ABSENT;

    for (size_t i = 0; i < t->n_lines; i++) {
        if (i != line) {
            bytes_add_str(out, t->lines[i]);
            bytes_add_str(out, "\n");
            continue;
        }
        pd_json root;
        assert_int_equal(pd_json_parse(parser, t->lines[i], strlen(t->lines[i]), &root), PD_OK);
        rewrite w = {.target = target, .replacement = replacement, .out = out};
        write_value(&w, root);
        bytes_add_str(out, "\n");
        type = w.target_type;
    }
    return type;
}

static void transcript_count_values(transcript *t, pd_json_parser *parser)
{
    for (size_t i = 0; i < t->n_lines; i++) {
        pd_json root;
        bytes sink = {0};
        assert_int_equal(pd_json_parse(parser, t->lines[i], strlen(t->lines[i]), &root), PD_OK);
        rewrite w = {.target = SIZE_MAX, .out = &sink};
        write_value(&w, root);
        t->n_values[i] = w.next;
        free(sink.data);
    }
}

/* ---- parsing in memory ------------------------------------------------------------------------
 */

typedef struct parse_env {
    const pd_provider *provider;
    void *shared;
    const char *path;
    const char *root;
    pd_json_parser *json;
} parse_env;

/* Parses text as the engine would after reading it from path. Returns the parse's code. */
static int parse_text(const parse_env *pe, const bytes *text, const pd_incr_state *incr,
                      pd_parse_result *res, pd_arena *arena, pd_err *err)
{
    pd_source_buf src = {0};
    src.data = malloc(text->len > 0 ? text->len : 1);
    assert_non_null(src.data);
    memcpy(src.data, text->data, text->len);
    src.len = text->len;
    src.file_size = (int64_t)text->len;
    src.mtime_ns = fx_now_ns();
    src.inode = 1;
    src.device = 1;

    pd_parse_request req = {.path = pe->path,
                            .root = pe->root,
                            .machine = "testbox",
                            .src = &src,
                            .incr = incr,
                            .shared = pe->shared,
                            .json = pe->json,
                            .arena = arena};
    int rc = pe->provider->parse(&req, res, err);
    pd_source_buf_free(&src);
    return rc;
}

/* Offset just after the second line of text. */
static int64_t second_line_end(const bytes *text)
{
    const char *lf = memchr(text->data, '\n', text->len);
    assert_non_null(lf);
    lf = memchr(lf + 1, '\n', text->len - (size_t)(lf + 1 - text->data));
    assert_non_null(lf);
    return (int64_t)(lf + 1 - text->data);
}

/*
 * Parses every mutant of t fully and incrementally. Returns the number of
 * mutants; a failing one fails the test with its line, value and replacement.
 */
static size_t parse_every_mutant(const parse_env *pe, transcript *t, pd_incr_state *incr)
{
    size_t n_mutants = 0;
    pd_json_parser *walker = pd_json_parser_new();
    assert_non_null(walker);
    transcript_count_values(t, walker);

    for (size_t line = 0; line < t->n_lines; line++) {
        for (size_t value = 1; value < t->n_values[line]; value++) {
            bytes original = {0};
            pd_json_type type = write_mutant(t, walker, line, value, NULL, &original);
            free(original.data);

            for (size_t r = 0; r < N_REPLACEMENTS; r++) {
                if (replacements[r].type == type)
                    continue;
                bytes text = {0};
                write_mutant(t, walker, line, value, replacements[r].text, &text);
                n_mutants++;

                pd_arena *arena = pd_arena_new();
                assert_non_null(arena);
                pd_parse_result res;
                pd_err err = {0};
                int rc = parse_text(pe, &text, NULL, &res, arena, &err);
                if (rc != PD_OK)
                    fail_msg("%s line %zu value %zu as %s: full parse failed: %s",
                             pe->provider->name, line + 1, value, replacements[r].text, err.msg);
                if (res.malformed_lines != 0)
                    fail_msg("%s line %zu value %zu as %s: %lld malformed lines",
                             pe->provider->name, line + 1, value, replacements[r].text,
                             (long long)res.malformed_lines);
                if (res.n_sessions == 0)
                    fail_msg("%s line %zu value %zu as %s: no session", pe->provider->name,
                             line + 1, value, replacements[r].text);

                /* The lines after the second one, read as an append to a stored prefix. */
                pd_arena_reset(arena);
                pd_err incr_err = {0};
                incr->offset = second_line_end(&text);
                rc = parse_text(pe, &text, incr, &res, arena, &incr_err);
                if (rc != PD_OK && rc != PD_EFALLBACK)
                    fail_msg("%s line %zu value %zu as %s: incremental parse failed: %s",
                             pe->provider->name, line + 1, value, replacements[r].text,
                             incr_err.msg);
                if (rc == PD_OK && res.n_sessions != 1)
                    fail_msg("%s line %zu value %zu as %s: incremental parse returned %zu "
                             "sessions",
                             pe->provider->name, line + 1, value, replacements[r].text,
                             res.n_sessions);

                pd_arena_free(arena);
                free(text.data);
            }
        }
    }
    pd_json_parser_free(walker);
    return n_mutants;
}

static void claude_wrong_types_parse(void **state)
{
    batch *b = *state;
    char *text = fx_claude_rich(BAD_CLAUDE, "Why does the solver diverge?");
    transcript t;
    transcript_split(&t, text);
    free(text);

    parse_env pe = {.provider = &pd_provider_claude,
                    .path = b->bad_claude,
                    .root = b->env.claude_root,
                    .json = pd_json_parser_new()};
    assert_non_null(pe.json);
    pd_incr_state incr = {.next_ordinal = 2,
                          .message_count = 2,
                          .session_id = BAD_CLAUDE,
                          .last_entry_uuid = "p2",
                          .last_claude_message_id = "msg_1",
                          .claude_linear_parse = 1,
                          .first_message = "Why does the solver diverge?"};

    size_t n = parse_every_mutant(&pe, &t, &incr);
    print_message("%zu Claude mutants parsed\n", n);
    /* Five wrong types for each value of the five lines: far more than a few dozen. */
    assert_true(n > 300);

    pd_json_parser_free(pe.json);
    transcript_free(&t);
}

static void codex_wrong_types_parse(void **state)
{
    batch *b = *state;
    char *text = fx_codex_basic(BAD_CODEX, "Run the tests please.");
    transcript t;
    transcript_split(&t, text);
    free(text);

    const char *roots[1] = {b->env.codex_root};
    void *shared = NULL;
    pd_err err = {0};
    assert_int_equal(pd_provider_codex.open_shared(roots, 1, &shared, &err), PD_OK);
    parse_env pe = {.provider = &pd_provider_codex,
                    .shared = shared,
                    .path = b->bad_codex,
                    .root = b->env.codex_root,
                    .json = pd_json_parser_new()};
    assert_non_null(pe.json);
    pd_incr_state incr = {.next_ordinal = 0,
                          .message_count = 0,
                          .session_id = "codex:" BAD_CODEX,
                          .claude_linear_parse = PD_INT_NULL};

    size_t n = parse_every_mutant(&pe, &t, &incr);
    print_message("%zu Codex mutants parsed\n", n);
    assert_true(n > 200);

    pd_json_parser_free(pe.json);
    pd_provider_codex.close_shared(shared);
    transcript_free(&t);
}

/* ---- the batch on disk --------------------------------------------------------------------- */

/*
 * Writes one mutant per value of the good Claude (or Codex) transcript to
 * its own file, each with its own session id numbered from first_number.
 * Returns the count.
 */
static size_t write_mutants(const batch *b, bool claude, size_t first_number)
{
    pd_json_parser *walker = pd_json_parser_new();
    assert_non_null(walker);
    size_t number = first_number;

    /* The value layout does not depend on the id, so count it on one instance. */
    char *sample = claude ? fx_claude_rich("c0000000-0000-4000-8000-000000000000", "Prompt")
                          : fx_codex_basic("0199dddd-0000-7000-8000-000000000000", "Prompt");
    transcript shape;
    transcript_split(&shape, sample);
    free(sample);
    transcript_count_values(&shape, walker);

    for (size_t line = 0; line < shape.n_lines; line++) {
        for (size_t value = 1; value < shape.n_values[line]; value++) {
            char *id = claude ? fx_fmt("c0000000-0000-4000-8000-%012zu", number)
                              : fx_fmt("0199dddd-0000-7000-8000-%012zu", number);
            char *text = claude ? fx_claude_rich(id, "Prompt") : fx_codex_basic(id, "Prompt");
            transcript t;
            transcript_split(&t, text);
            free(text);

            bytes original = {0};
            pd_json_type type = write_mutant(&t, walker, line, value, NULL, &original);
            free(original.data);
            bytes mutant = {0};
            write_mutant(&t, walker, line, value, most_different(type), &mutant);

            /* One project per Claude mutant, so that no two files look like copies of each other.
             */
            char *path = claude ? fx_fmt("%s/mutant-%04zu/%s.jsonl", b->env.claude_root, number, id)
                                : fx_codex_path(&b->env, "2026/02/03", id);
            write_bytes(path, mutant.data, mutant.len);

            free(path);
            free(mutant.data);
            transcript_free(&t);
            free(id);
            number++;
        }
    }
    transcript_free(&shape);
    pd_json_parser_free(walker);
    return number - first_number;
}

static void wrong_types_sync_and_diff(void **state)
{
    batch *b = *state;
    size_t n_claude = write_mutants(b, true, 0);
    size_t n_codex = write_mutants(b, false, n_claude);
    print_message("%zu Claude and %zu Codex mutants on disk\n", n_claude, n_codex);

    pd_sync_stats st;
    fx_sync(&b->env, &st);
    for (size_t i = 0; i < st.n_errors; i++)
        print_error("unexpected sync error: %s\n", st.errors[i].message);
    assert_int_equal(st.files_discovered, (int64_t)(n_claude + n_codex + 2));
    assert_int_equal(st.files_failed, 0);
    pd_sync_stats_free(&st);
    assert_good_written(b);
    assert_int_equal(fx_sql_int(b->env.db, "SELECT sum(parser_malformed_lines) FROM sessions"), 0);

    /* Every stored session, whatever a wrong type did to it, reads back identical. */
    int64_t stored = fx_sql_int(b->env.db, "SELECT count(*) FROM sessions");
    assert_true(stored >= (int64_t)(n_claude + n_codex + 2));
    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls != PD_CLASS_IDENTICAL)
            print_error("%s %s: %s\n", pd_diff_class_name(e->cls),
                        e->file_path != NULL ? e->file_path : "(no file)",
                        e->reason != NULL ? e->reason : "");
    }
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.new_on_disk, 0);
    assert_int_equal(r->totals.examined, stored);
    assert_int_equal(r->totals.identical, stored);
    assert_good_identical(r);
    pd_diff_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(claude_wrong_types_parse, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(codex_wrong_types_parse, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(wrong_types_sync_and_diff, batch_setup, batch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
