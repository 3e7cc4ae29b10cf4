/*
 * test_compare_archive.c -- the comparator against sessions that went
 * through a real SQLite archive.
 *
 * Each test normalises a hand-built session, writes it with the full write
 * path into an archive under a fresh mkdtemp directory, loads it back and
 * compares. An unchanged session must yield no diff; a re-parse that changes
 * one message column must yield exactly the one diff for that column.
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

#include "archive/archive.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/model.h"
#include "common/normalize.h"
#include "engine/compare.h"
#include "engine/diffreport.h"
#include "test_compare_fixture.h"

typedef struct archive_state {
    pd_arena *arena;
    char dir[64];
    char path[96];
} archive_state;

static int archive_setup(void **state)
{
    archive_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->arena = pd_arena_new();
    snprintf(st->dir, sizeof st->dir, "/tmp/pd-compare-XXXXXX");
    if (st->arena == NULL || mkdtemp(st->dir) == NULL) {
        pd_arena_free(st->arena);
        free(st);
        return -1;
    }
    snprintf(st->path, sizeof st->path, "%s/archive.db", st->dir);
    *state = st;
    return 0;
}

static int archive_teardown(void **state)
{
    archive_state *st = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s%s", st->path, suffixes[i]);
        unlink(file);
    }
    rmdir(st->dir);
    pd_arena_free(st->arena);
    free(st);
    return 0;
}

/*
 * Returns the normalised fixture session with two more rows: a user row that
 * carries the result of toolu_1, which normalisation pairs and then drops
 * (leaving an ordinal gap), and an assistant row with multi-byte text, CR LF
 * and a thinking block.
 */
static pd_session *parsed_session(pd_arena *a, const char *agent)
{
    pd_session *s = fixture_session(a, agent);
    pd_message *messages = fx_calloc(a, 5, sizeof *messages);
    memcpy(messages, s->messages, 3 * sizeof *messages);
    s->messages = messages;
    s->n_messages = 5;

    pd_message *carrier = &messages[3];
    fixture_message(a, carrier, 3, "user", "");
    carrier->timestamp = fx_str(a, "2024-01-01T10:03:00Z");
    carrier->n_tool_results = 1;
    carrier->tool_results = fx_calloc(a, 1, sizeof *carrier->tool_results);
    carrier->tool_results[0].tool_use_id = fx_str(a, "toolu_1");
    carrier->tool_results[0].content = fx_str(a, "int main(void) { return 0; }");
    carrier->tool_results[0].content_length = 28;

    pd_message *reply = &messages[4];
    fixture_message(a, reply, 4, "assistant",
                    "na\xc3\xafve \xe2\x9c\x93 \xf0\x9f\x9a\x80\r\nline two");
    reply->timestamp = fx_str(a, "2024-01-01T10:04:00.5Z");
    reply->thinking_text = fx_str(a, "weigh\tthe \xc3\xa9l\xc3\xa9ments");
    reply->has_thinking = true;
    reply->is_sidechain = true;
    reply->model = fx_str(a, "model-b");
    reply->token_usage = fx_str(a, "{\"input_tokens\":0,\"output_tokens\":0}");
    reply->has_context_tokens = true;
    reply->has_output_tokens = true;
    reply->source_type = fx_str(a, "assistant");
    reply->source_uuid = fx_str(a, "u-4");
    reply->source_parent_uuid = fx_str(a, "u-2");

    s->termination_status = fx_str(a, "clean");
    assert_int_equal(pd_session_normalize(s, NULL, a), PD_OK);
    return s;
}

/* Writes s with the full write path, then loads it back from a new read-only connection. */
static pd_session *write_and_load(archive_state *st, const pd_session *s)
{
    pd_err err = {0};
    pd_archive *writer = NULL;
    int rc = pd_archive_open(st->path, PD_ARCHIVE_CREATE, &writer, &err);
    if (rc != PD_OK)
        print_error("open for writing: %s\n", err.msg);
    assert_int_equal(rc, PD_OK);
    assert_int_equal(pd_archive_begin(writer, &err), PD_OK);
    rc = pd_archive_write_full(writer, s, &err);
    if (rc != PD_OK)
        print_error("write: %s\n", err.msg);
    assert_int_equal(rc, PD_OK);
    assert_int_equal(pd_archive_commit(writer, &err), PD_OK);
    pd_archive_close(writer);

    pd_archive *reader = NULL;
    assert_int_equal(pd_archive_open(st->path, PD_ARCHIVE_READONLY, &reader, &err), PD_OK);
    pd_session *stored = fx_calloc(st->arena, 1, sizeof *stored);
    bool found = false;
    rc = pd_archive_load_session(reader, s->id, 0, st->arena, stored, &found, &err);
    pd_archive_close(reader);
    if (rc != PD_OK)
        print_error("load: %s\n", err.msg);
    assert_int_equal(rc, PD_OK);
    assert_true(found);
    return stored;
}

static void print_diffs(const pd_field_diffs *d)
{
    for (size_t i = 0; i < d->n; i++)
        print_error("diff %s: stored=%s parsed=%s detail=%s\n", d->items[i].field,
                    d->items[i].stored, d->items[i].parsed,
                    d->items[i].detail != NULL ? d->items[i].detail : "");
}

static void round_trip_claude_no_diff(void **state)
{
    archive_state *st = *state;
    pd_session *parsed = parsed_session(st->arena, "claude");
    pd_session *stored = write_and_load(st, parsed);

    pd_field_diffs diffs = fixture_compare(st->arena, stored, parsed);

    print_diffs(&diffs);
    assert_int_equal(diffs.n, 0);
}

static void round_trip_gemini_no_diff(void **state)
{
    archive_state *st = *state;
    pd_session *parsed = parsed_session(st->arena, "gemini");
    parsed->parent_session_id = fx_str(st->arena, "parent-1");
    parsed->relationship_type = fx_str(st->arena, "continuation");
    parsed->is_truncated = true;
    parsed->parser_malformed_lines = 2;
    pd_session *stored = write_and_load(st, parsed);

    pd_field_diffs diffs = fixture_compare(st->arena, stored, parsed);

    print_diffs(&diffs);
    assert_int_equal(diffs.n, 0);
}

static void round_trip_keeps_ordinal_gap(void **state)
{
    archive_state *st = *state;
    pd_session *parsed = parsed_session(st->arena, "claude");
    pd_session *stored = write_and_load(st, parsed);

    /* The blank carrier row at ordinal 3 was dropped on both sides. */
    assert_int_equal(stored->n_messages, 4);
    assert_int_equal(stored->messages[3].ordinal, 4);
    assert_int_equal(parsed->n_messages, 4);
}

/* A change to one column of the re-parse. */
typedef void (*drift_fn)(pd_arena *a, pd_session *parsed);

static pd_field_diffs compare_drift(archive_state *st, drift_fn drift)
{
    pd_session *parsed = parsed_session(st->arena, "claude");
    pd_session *stored = write_and_load(st, parsed);
    pd_session *reparsed = fixture_copy(st->arena, parsed);
    drift(st->arena, reparsed);
    return fixture_compare(st->arena, stored, reparsed);
}

static void model_drifts(pd_arena *a, pd_session *parsed)
{
    parsed->messages[1].model = fx_str(a, "model-c");
}

static void content_grows(pd_arena *a, pd_session *parsed)
{
    parsed->messages[2].content = fx_str(a, "Fixed and tested.");
    parsed->messages[2].content_length = 17;
}

static void sidechain_clears(pd_arena *a, pd_session *parsed)
{
    (void)a;
    parsed->messages[3].is_sidechain = false;
}

static void tool_renamed(pd_arena *a, pd_session *parsed)
{
    parsed->messages[1].tool_calls[0].tool_name = fx_str(a, "Grep");
}

static void thinking_flag_clears(pd_arena *a, pd_session *parsed)
{
    (void)a;
    parsed->messages[1].has_thinking = false;
}

static void archive_detects_model_drift(void **state)
{
    pd_field_diffs diffs = compare_drift(*state, model_drifts);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "models");
    assert_string_equal(diffs.items[0].stored, "(none), model-a, model-b");
    assert_string_equal(diffs.items[0].parsed, "(none), model-a, model-b, model-c");
    assert_non_null(strstr(diffs.items[0].detail, "first at ordinal 1"));
}

static void archive_detects_content_drift(void **state)
{
    pd_field_diffs diffs = compare_drift(*state, content_grows);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_content");
    assert_string_equal(diffs.items[0].detail,
                        "1/4 messages differ; first at ordinal 2: 6 -> 17 bytes");
}

static void archive_detects_sidechain_drift(void **state)
{
    pd_field_diffs diffs = compare_drift(*state, sidechain_clears);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_non_null(strstr(diffs.items[0].detail, "is_sidechain"));
}

static void archive_detects_tool_drift(void **state)
{
    pd_field_diffs diffs = compare_drift(*state, tool_renamed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "tool_calls");
    assert_non_null(strstr(diffs.items[0].detail, "tool_name \"Read\" -> \"Grep\""));
}

static void archive_detects_flag_drift(void **state)
{
    pd_field_diffs diffs = compare_drift(*state, thinking_flag_clears);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_non_null(strstr(diffs.items[0].detail, "has_thinking true -> false"));
}

static void archive_fingerprints_match_reparse(void **state)
{
    archive_state *st = *state;
    pd_session *parsed = parsed_session(st->arena, "claude");
    pd_session *stored = write_and_load(st, parsed);

    pd_message_fingerprints stored_fp, parsed_fp;
    assert_int_equal(pd_compare_fingerprints(stored, &stored_fp), PD_OK);
    assert_int_equal(pd_compare_fingerprints(parsed, &parsed_fp), PD_OK);
    for (int k = 0; k < PD_FP_COUNT; k++)
        assert_string_equal(stored_fp.hex[k], parsed_fp.hex[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_claude_no_diff, archive_setup, archive_teardown),
        cmocka_unit_test_setup_teardown(round_trip_gemini_no_diff, archive_setup, archive_teardown),
        cmocka_unit_test_setup_teardown(round_trip_keeps_ordinal_gap, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_detects_model_drift, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_detects_content_drift, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_detects_sidechain_drift, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_detects_tool_drift, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_detects_flag_drift, archive_setup,
                                        archive_teardown),
        cmocka_unit_test_setup_teardown(archive_fingerprints_match_reparse, archive_setup,
                                        archive_teardown),
    };
    return cmocka_run_group_tests_name("compare_archive", tests, NULL, NULL);
}
