/*
 * test_archive_write.c -- full writes, incremental appends, title updates
 * and pd_archive_load_session() round trips, on real archive files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/archive_internal.h"
#include "common/normalize.h"
#include "engine/compare.h"
#include "tests/support/archive_fixture.h"

typedef struct fixture {
    char *dir;
    char *db;
    pd_arena *arena;
    pd_archive *writer;
    pd_archive *reader;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    fx->dir = afx_tmpdir();
    fx->db = afx_path(fx->dir, "archive.db");
    fx->arena = pd_arena_new();
    fx->writer = afx_create_archive(fx->db);
    pd_err err = {0};
    if (pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &fx->reader, &err) != PD_OK)
        return -1;
    *state = fx;
    return fx->arena == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    pd_archive_close(fx->reader);
    pd_archive_close(fx->writer);
    afx_rmtree(fx->dir);
    pd_arena_free(fx->arena);
    free(fx->db);
    free(fx->dir);
    free(fx);
    return 0;
}

static pd_session *normalized_session(fixture *fx, const char *id, const char *agent,
                                      size_t n_exchanges)
{
    pd_session *s = afx_session(fx->arena, id, agent, n_exchanges);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    return s;
}

static void write_full(fixture *fx, const pd_session *s)
{
    pd_err err = {0};
    int rc = pd_archive_write_full(fx->writer, s, &err);
    if (rc != PD_OK)
        fail_msg("write_full %s: %s", s->id, err.msg);
}

static pd_session load(fixture *fx, const char *id)
{
    pd_session out;
    bool found = false;
    pd_err err = {0};
    int rc = pd_archive_load_session(fx->reader, id, 0, fx->arena, &out, &found, &err);
    if (rc != PD_OK)
        fail_msg("load %s: %s", id, err.msg);
    if (!found)
        fail_msg("load %s: not found", id);
    return out;
}

/* Asserts two nullable strings are equal, naming the field on failure. */
static void check_str(const char *field, const char *expected, const char *actual)
{
    if (expected == NULL && actual == NULL)
        return;
    if (expected == NULL || actual == NULL || strcmp(expected, actual) != 0)
        fail_msg("%s: expected %s%s%s, got %s%s%s", field, expected ? "\"" : "",
                 expected ? expected : "NULL", expected ? "\"" : "", actual ? "\"" : "",
                 actual ? actual : "NULL", actual ? "\"" : "");
}

static void check_int(const char *field, int64_t expected, int64_t actual)
{
    if (expected != actual)
        fail_msg("%s: expected %lld, got %lld", field, (long long)expected, (long long)actual);
}

#define CHECK_STR(field) check_str(#field, want->field, got->field)
#define CHECK_INT(field) check_int(#field, (int64_t)want->field, (int64_t)got->field)

static void check_session_columns(const pd_session *want, const pd_session *got)
{
    CHECK_STR(id);
    CHECK_STR(project);
    CHECK_STR(machine);
    CHECK_STR(agent);
    CHECK_STR(agent_label);
    CHECK_STR(entrypoint);
    CHECK_STR(session_kind);
    CHECK_STR(first_message);
    CHECK_STR(session_name);
    CHECK_STR(started_at);
    CHECK_STR(ended_at);
    CHECK_INT(message_count);
    CHECK_INT(user_message_count);
    CHECK_STR(file_path);
    CHECK_INT(file_size);
    CHECK_INT(file_mtime);
    CHECK_INT(file_inode);
    CHECK_INT(file_device);
    CHECK_STR(file_hash);
    CHECK_INT(next_ordinal);
    CHECK_STR(last_entry_uuid);
    CHECK_INT(claude_linear_parse);
    CHECK_STR(parent_session_id);
    CHECK_STR(relationship_type);
    CHECK_INT(total_output_tokens);
    CHECK_INT(peak_context_tokens);
    CHECK_INT(has_total_output_tokens);
    CHECK_INT(has_peak_context_tokens);
    CHECK_STR(cwd);
    CHECK_STR(git_branch);
    CHECK_STR(source_session_id);
    CHECK_STR(source_version);
    CHECK_STR(transcript_fidelity);
    CHECK_INT(parser_malformed_lines);
    CHECK_INT(is_truncated);
    CHECK_STR(termination_status);
}

static void check_message(const pd_message *want, const pd_message *got)
{
    CHECK_INT(ordinal);
    CHECK_STR(role);
    CHECK_STR(content);
    CHECK_INT(content_length);
    CHECK_STR(thinking_text);
    CHECK_STR(timestamp);
    CHECK_INT(has_thinking);
    CHECK_INT(has_tool_use);
    CHECK_INT(is_system);
    CHECK_STR(model);
    CHECK_STR(token_usage);
    CHECK_INT(context_tokens);
    CHECK_INT(output_tokens);
    CHECK_INT(has_context_tokens);
    CHECK_INT(has_output_tokens);
    CHECK_STR(claude_message_id);
    CHECK_STR(claude_request_id);
    CHECK_STR(source_type);
    CHECK_STR(source_subtype);
    CHECK_STR(prompt_source);
    CHECK_STR(source_uuid);
    CHECK_STR(source_parent_uuid);
    CHECK_INT(is_sidechain);
    CHECK_INT(is_compact_boundary);
    CHECK_INT(n_tool_calls);
}

static void check_call(const pd_tool_call *want, const pd_tool_call *got)
{
    CHECK_STR(tool_use_id);
    CHECK_STR(tool_name);
    CHECK_STR(category);
    CHECK_STR(input_json);
    CHECK_STR(skill_name);
    CHECK_STR(subagent_session_id);
    CHECK_STR(file_path);
    CHECK_STR(result_content);
    CHECK_INT(result_content_length);
    CHECK_INT(call_index);
    CHECK_INT(n_events);
}

static void check_event(const pd_tool_result_event *want, const pd_tool_result_event *got)
{
    CHECK_STR(tool_use_id);
    CHECK_STR(agent_id);
    CHECK_STR(subagent_session_id);
    CHECK_STR(source);
    CHECK_STR(status);
    CHECK_STR(content);
    CHECK_INT(content_length);
    CHECK_STR(timestamp);
    CHECK_INT(event_index);
}

static void check_usage(const pd_usage_event *want, const pd_usage_event *got)
{
    CHECK_INT(message_ordinal);
    CHECK_STR(source);
    CHECK_STR(model);
    CHECK_INT(input_tokens);
    CHECK_INT(output_tokens);
    CHECK_INT(cache_creation_input_tokens);
    CHECK_INT(cache_read_input_tokens);
    CHECK_INT(reasoning_tokens);
    CHECK_STR(occurred_at);
    CHECK_STR(dedup_key);
}

static void add_usage_event(pd_arena *arena, pd_session *s, int64_t ordinal, const char *key)
{
    s->usage_events = pd_arena_grow(arena, s->usage_events, s->n_usage_events,
                                    s->n_usage_events + 1, sizeof *s->usage_events);
    assert_non_null(s->usage_events);
    pd_usage_event *ue = &s->usage_events[s->n_usage_events++];
    memset(ue, 0, sizeof *ue);
    ue->message_ordinal = ordinal;
    ue->source = "codex_token_count";
    ue->model = "gpt-5";
    ue->input_tokens = 11;
    ue->output_tokens = 22;
    ue->cache_creation_input_tokens = 33;
    ue->cache_read_input_tokens = 44;
    ue->reasoning_tokens = 55;
    ue->occurred_at = ordinal == PD_INT_NULL ? NULL : "2024-01-01T10:00:03Z";
    ue->dedup_key = (char *)key;
}

/* A session that uses every kind of row: events, usage, a system row, a sidechain. */
static pd_session *rich_session(fixture *fx, const char *id)
{
    pd_session *s = afx_session(fx->arena, id, "codex", 2);
    pd_message *extra = afx_add_message(fx->arena, s, 6, "assistant", "waiting on agents");
    extra->is_sidechain = true;
    extra->is_compact_boundary = true;
    extra->source_subtype = "compact_boundary";
    pd_tool_call *wait = afx_add_call(fx->arena, extra, "wait-1", "wait", "Task");
    wait->subagent_session_id = "child-session";
    wait->skill_name = "reviewer";
    pd_tool_result_event *ev = afx_add_event(fx->arena, wait, "agent-a", "partial");
    ev->timestamp = "2024-01-01T10:00:05Z";
    ev->subagent_session_id = "child-session";
    afx_add_event(fx->arena, &extra->tool_calls[0], NULL, "final");
    pd_message *sys = afx_add_message(fx->arena, s, 7, "user", "<task-notification>");
    sys->is_system = true;
    sys->source_type = "system";
    sys->source_subtype = "task_notification";
    add_usage_event(fx->arena, s, 1, "dedup-1");
    add_usage_event(fx->arena, s, PD_INT_NULL, "");
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    return s;
}

static void test_full_write_round_trip(void **state)
{
    fixture *fx = *state;
    pd_session *want = rich_session(fx, "round-trip");

    write_full(fx, want);
    pd_session got = load(fx, "round-trip");

    check_session_columns(want, &got);
    check_int("data_version", PD_DATA_VERSION, got.data_version);
    assert_false(got.last_write_incremental);
    assert_null(got.deleted_at);
    assert_int_equal(got.n_messages, want->n_messages);
    for (size_t i = 0; i < want->n_messages; i++) {
        check_message(&want->messages[i], &got.messages[i]);
        for (size_t j = 0; j < want->messages[i].n_tool_calls; j++) {
            const pd_tool_call *wc = &want->messages[i].tool_calls[j];
            const pd_tool_call *gc = &got.messages[i].tool_calls[j];
            check_call(wc, gc);
            for (size_t k = 0; k < wc->n_events; k++)
                check_event(&wc->events[k], &gc->events[k]);
        }
    }
    assert_int_equal(got.n_usage_events, 2);
    for (size_t i = 0; i < want->n_usage_events; i++)
        check_usage(&want->usage_events[i], &got.usage_events[i]);
}

/* The diff's load leaves out result bodies and result events and nothing else. */
static void test_load_compared_leaves_out_result_bodies(void **state)
{
    fixture *fx = *state;
    pd_session *want = rich_session(fx, "compared");
    write_full(fx, want);

    pd_session got;
    bool found = false;
    pd_err err = {0};
    assert_int_equal(
        pd_archive_load_compared(fx->reader, "compared", 0, fx->arena, &got, &found, &err), PD_OK);
    assert_true(found);
    pd_session full = load(fx, "compared");

    check_session_columns(want, &got);
    assert_int_equal(got.n_messages, want->n_messages);
    size_t bodies = 0, events = 0;
    for (size_t i = 0; i < want->n_messages; i++) {
        check_message(&want->messages[i], &got.messages[i]);
        for (size_t j = 0; j < want->messages[i].n_tool_calls; j++) {
            pd_tool_call wc = want->messages[i].tool_calls[j];
            const pd_tool_call *gc = &got.messages[i].tool_calls[j];
            bodies += wc.result_content != NULL;
            events += wc.n_events;
            assert_null(gc->result_content);
            assert_int_equal(gc->n_events, 0);
            wc.result_content = NULL;
            wc.n_events = 0;
            check_call(&wc, gc);
        }
    }
    /* The fixture has both, so the checks above saw them left out. */
    assert_true(bodies > 0);
    assert_true(events > 0);
    assert_int_equal(got.n_usage_events, want->n_usage_events);

    /* The comparator reads neither, so the two loads compare equal. */
    pd_field_diffs diffs = {0};
    assert_int_equal(pd_compare_sessions(&full, &got, fx->arena, &diffs), PD_OK);
    assert_int_equal(diffs.n, 0);
}

static void test_round_trip_keeps_ordinal_gaps(void **state)
{
    fixture *fx = *state;
    pd_session *s = normalized_session(fx, "gaps", "claude", 2);

    write_full(fx, s);
    pd_session got = load(fx, "gaps");

    assert_int_equal(got.n_messages, 4);
    assert_int_equal(got.messages[0].ordinal, 0);
    assert_int_equal(got.messages[1].ordinal, 1);
    assert_int_equal(got.messages[2].ordinal, 3);
    assert_int_equal(got.messages[3].ordinal, 4);
    assert_int_equal(got.next_ordinal, 6);
    assert_int_equal(got.message_count, 4);
    assert_int_equal(got.user_message_count, 2);
}

/* Tool calls find their message by row id, also when the row ids of the
 * messages do not ascend with the ordinals. */
static void test_calls_follow_reordered_message_rows(void **state)
{
    fixture *fx = *state;
    /* afx_session gives each reply (odd index) one call of its own. */
    pd_session *s = normalized_session(fx, "reordered", "claude", 3);
    write_full(fx, s);

    /* Renumber the rows so that the first message gets the largest id. */
    afx_sql(fx->db, "UPDATE tool_calls SET message_id = 1000 - (SELECT ordinal FROM messages m"
                    " WHERE m.id = tool_calls.message_id) WHERE session_id = 'reordered';"
                    "UPDATE messages SET id = 1000 - ordinal WHERE session_id = 'reordered';");
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages WHERE session_id ="
                                         " 'reordered' AND id = 1000"),
                     1);

    pd_session got = load(fx, "reordered");
    assert_int_equal(got.n_messages, 6);
    for (size_t i = 0; i < 6; i++) {
        const pd_message *m = &got.messages[i];
        assert_int_equal(m->n_tool_calls, i % 2);
        if (m->n_tool_calls == 1) {
            char want[32];
            snprintf(want, sizeof want, "toolu_reordered_%zu", i / 2);
            check_str("tool_use_id", want, m->tool_calls[0].tool_use_id);
        }
    }
}

static void test_null_and_empty_rules(void **state)
{
    fixture *fx = *state;
    pd_session *s = normalized_session(fx, "nulls", "claude", 1);
    s->first_message = "";
    s->session_name = "";
    s->started_at = NULL;
    s->parent_session_id = "";
    s->termination_status = "";
    s->file_inode = 0;
    s->file_device = 0;
    s->file_hash = "";
    s->last_entry_uuid = NULL;
    s->claude_linear_parse = PD_INT_NULL;
    s->messages[0].timestamp = NULL;
    pd_tool_call *tc = &s->messages[1].tool_calls[0];
    tc->tool_use_id = "";
    tc->input_json = "";
    tc->result_content = NULL;
    tc->result_content_length = 0;
    pd_tool_result_event *ev = afx_add_event(fx->arena, tc, "", "x");
    ev->timestamp = NULL;
    ev->tool_use_id = "";

    write_full(fx, s);

    const char *db = fx->db;
    assert_true(afx_sql_is_null(db, "SELECT first_message FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT session_name FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT started_at FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT parent_session_id FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT parser_parent_session_id FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT termination_status FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT file_inode FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT file_device FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT file_hash FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT last_entry_uuid FROM sessions"));
    assert_true(afx_sql_is_null(db, "SELECT claude_linear_parse FROM sessions"));
    assert_int_equal(afx_sql_int(db, "SELECT timestamp = '' FROM messages WHERE ordinal = 0"), 1);
    assert_true(afx_sql_is_null(db, "SELECT tool_use_id FROM tool_calls"));
    assert_true(afx_sql_is_null(db, "SELECT input_json FROM tool_calls"));
    assert_true(afx_sql_is_null(db, "SELECT result_content FROM tool_calls"));
    assert_true(afx_sql_is_null(db, "SELECT result_content_length FROM tool_calls"));
    assert_true(afx_sql_is_null(db, "SELECT skill_name FROM tool_calls"));
    assert_true(afx_sql_is_null(db, "SELECT agent_id FROM tool_result_events"));
    assert_true(afx_sql_is_null(db, "SELECT timestamp FROM tool_result_events"));
    assert_int_equal(afx_sql_int(db, "SELECT content_length FROM tool_result_events"), 1);
    /* Empty NOT NULL text columns stay ''. */
    assert_int_equal(afx_sql_int(db, "SELECT transcript_fidelity = '' FROM sessions"), 1);
    assert_int_equal(afx_sql_int(db, "SELECT source_subtype = '' FROM messages"
                                     " WHERE ordinal = 0"),
                     1);

    pd_session got = load(fx, "nulls");
    assert_null(got.first_message);
    assert_null(got.messages[0].timestamp);
    assert_int_equal(got.claude_linear_parse, PD_INT_NULL);
    assert_int_equal(got.file_inode, PD_INT_NULL);
    assert_null(got.messages[1].tool_calls[0].result_content);
    assert_int_equal(got.messages[1].tool_calls[0].result_content_length, 0);
}

static void test_rewrite_replaces_rows(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "rw", "claude", 3));
    afx_sql(fx->db, "UPDATE sessions SET last_write_incremental = 1");
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM tool_calls"), 3);

    write_full(fx, normalized_session(fx, "rw", "claude", 1));

    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM tool_calls"), 1);
    assert_int_equal(afx_sql_int(fx->db, "SELECT max(ordinal) FROM messages"), 1);
    assert_int_equal(afx_sql_int(fx->db, "SELECT last_write_incremental FROM sessions"), 0);
    assert_int_equal(afx_sql_int(fx->db, "SELECT message_count FROM sessions"), 2);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sessions"), 1);
    /* Tool calls point at the new message rows. */
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM tool_calls c"
                                         " JOIN messages m ON m.id = c.message_id"),
                     1);
}

static void test_transcript_revision_counts_changes(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "rev", "claude", 2));
    char *first = afx_sql_text(fx->db, "SELECT transcript_revision FROM sessions");
    afx_sql(fx->db, "UPDATE sessions SET secrets_rules_version = 'v7'");

    write_full(fx, normalized_session(fx, "rev", "claude", 2)); /* same rows */
    char *same = afx_sql_text(fx->db, "SELECT transcript_revision FROM sessions");
    char *rules_kept = afx_sql_text(fx->db, "SELECT secrets_rules_version FROM sessions");

    pd_session *edited = normalized_session(fx, "rev", "claude", 2);
    edited->messages[0].content = "edited prompt";
    write_full(fx, edited);
    char *bumped = afx_sql_text(fx->db, "SELECT transcript_revision FROM sessions");
    char *rules_cleared = afx_sql_text(fx->db, "SELECT secrets_rules_version FROM sessions");

    assert_string_equal(first, "1");
    assert_string_equal(same, "1");
    assert_string_equal(rules_kept, "v7");
    assert_string_equal(bumped, "2");
    assert_string_equal(rules_cleared, "");
    assert_false(afx_sql_is_null(fx->db, "SELECT local_modified_at FROM sessions"));
    free(first);
    free(same);
    free(rules_kept);
    free(bumped);
    free(rules_cleared);
}

static void test_data_version_stamp(void **state)
{
    fixture *fx = *state;
    pd_session *retry = normalized_session(fx, "retry", "claude", 1);
    retry->needs_retry = true;
    write_full(fx, retry);
    afx_sql(fx->db, "UPDATE sessions SET data_version = 12 WHERE id = 'retry'");
    assert_int_equal(afx_sql_int(fx->db, "SELECT data_version FROM sessions"), 12);

    write_full(fx, retry);
    int64_t after_retry = afx_sql_int(fx->db, "SELECT data_version FROM sessions");
    retry->needs_retry = false;
    write_full(fx, retry);
    int64_t after_clean = afx_sql_int(fx->db, "SELECT data_version FROM sessions");

    assert_int_equal(after_retry, PD_DATA_VERSION_RETRY);
    assert_int_equal(after_clean, PD_DATA_VERSION);
}

static void test_upsert_keep_rules(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "keep", "claude", 1));
    afx_sql(fx->db, "UPDATE sessions SET display_name = 'my title'");

    pd_session *unknown_linear = normalized_session(fx, "keep", "claude", 1);
    unknown_linear->claude_linear_parse = PD_INT_NULL;
    unknown_linear->session_name = NULL;
    write_full(fx, unknown_linear);
    int64_t linear_kept = afx_sql_int(fx->db, "SELECT claude_linear_parse FROM sessions");
    bool claude_name_cleared = afx_sql_is_null(fx->db, "SELECT session_name FROM sessions");

    pd_session *dag = normalized_session(fx, "keep", "claude", 1);
    dag->claude_linear_parse = 0;
    write_full(fx, dag);
    int64_t linear_replaced = afx_sql_int(fx->db, "SELECT claude_linear_parse FROM sessions");
    char *display = afx_sql_text(fx->db, "SELECT display_name FROM sessions");

    assert_int_equal(linear_kept, 1);
    assert_true(claude_name_cleared);
    assert_int_equal(linear_replaced, 0);
    assert_string_equal(display, "my title");
    free(display);
}

static void test_codex_title_kept_without_index_entry(void **state)
{
    fixture *fx = *state;
    pd_session *titled = normalized_session(fx, "codex:abc", "codex", 1);
    titled->session_name = "Renamed from Codex";
    write_full(fx, titled);

    pd_session *no_entry = normalized_session(fx, "codex:abc", "codex", 1);
    no_entry->session_name = "leaf fallback";
    no_entry->session_name_present = false;
    write_full(fx, no_entry);
    char *kept = afx_sql_text(fx->db, "SELECT session_name FROM sessions");

    pd_session *blank_entry = normalized_session(fx, "codex:abc", "codex", 1);
    blank_entry->session_name = "";
    blank_entry->session_name_present = true;
    write_full(fx, blank_entry);
    bool cleared = afx_sql_is_null(fx->db, "SELECT session_name FROM sessions");

    assert_string_equal(kept, "Renamed from Codex");
    assert_true(cleared);
    free(kept);
}

static void test_codex_insert_uses_parsed_name(void **state)
{
    fixture *fx = *state;
    pd_session *s = normalized_session(fx, "codex:new", "codex", 1);
    s->session_name = "leaf fallback";
    s->session_name_present = false;

    write_full(fx, s);
    char *name = afx_sql_text(fx->db, "SELECT session_name FROM sessions");

    assert_string_equal(name, "leaf fallback");
    free(name);
}

static void test_trashed_row_not_written(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "trash", "claude", 1));
    afx_sql(fx->db, "UPDATE sessions SET deleted_at = '2024-02-02T00:00:00Z'");
    pd_session *s = normalized_session(fx, "trash", "claude", 3);
    pd_write_outcome outcome = PD_WRITE_DONE;
    pd_err err = {0};

    assert_int_equal(pd_archive_write_session(fx->writer, s, &outcome, &err), PD_OK);

    assert_int_equal(outcome, PD_WRITE_SKIPPED_TRASHED);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(afx_sql_int(fx->db, "SELECT message_count FROM sessions"), 2);
}

static void test_load_missing_session(void **state)
{
    fixture *fx = *state;
    pd_session out;
    bool found = true;
    pd_err err = {0};

    assert_int_equal(pd_archive_load_session(fx->reader, "nope", 0, fx->arena, &out, &found, &err),
                     PD_OK);
    assert_false(found);
}

/* Returns how often the reader has run a cached statement (0 before it is prepared). */
static int statement_runs(fixture *fx, archive_stmt_id id)
{
    sqlite3_stmt *st = fx->reader->stmts[id];
    return st == NULL ? 0 : sqlite3_stmt_status(st, SQLITE_STMTSTATUS_RUN, 0);
}

/*
 * Loads id through a rowid hint and checks that the session id came back,
 * and how many lookups each statement made: by rowid, then by id.
 */
static void expect_loaded_at(fixture *fx, const char *id, int64_t rowid, bool want_found,
                             int want_at_runs, int want_id_runs)
{
    int at_runs = statement_runs(fx, STMT_LOAD_SESSION_AT);
    int id_runs = statement_runs(fx, STMT_LOAD_SESSION);
    pd_session out;
    bool found = !want_found;
    pd_err err = {0};
    assert_int_equal(pd_archive_load_compared(fx->reader, id, rowid, fx->arena, &out, &found, &err),
                     PD_OK);
    assert_int_equal(found, want_found);
    assert_int_equal(statement_runs(fx, STMT_LOAD_SESSION_AT) - at_runs, want_at_runs);
    assert_int_equal(statement_runs(fx, STMT_LOAD_SESSION) - id_runs, want_id_runs);
    if (want_found) {
        assert_string_equal(out.id, id);
        check_session_columns(normalized_session(fx, id, "claude", 2), &out);
        assert_int_equal(out.n_messages, 4);
    }
}

/* A rowid hint finds its row, and a stale or wrong hint falls back to the id. */
static void test_load_by_rowid_hint(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "first", "claude", 2));
    write_full(fx, normalized_session(fx, "second", "claude", 2));
    int64_t first = afx_sql_int(fx->db, "SELECT rowid FROM sessions WHERE id = 'first'");
    int64_t second = afx_sql_int(fx->db, "SELECT rowid FROM sessions WHERE id = 'second'");

    pd_stored_row row;
    bool found = false;
    pd_err err = {0};
    assert_int_equal(pd_archive_load_row(fx->reader, "second", &row, fx->arena, &found, &err),
                     PD_OK);
    assert_true(found);
    assert_int_equal(row.rowid, second);

    expect_loaded_at(fx, "first", first, true, 1, 0);
    expect_loaded_at(fx, "first", second, true, 1, 1);
    expect_loaded_at(fx, "first", second + 1000, true, 1, 1);
    expect_loaded_at(fx, "nope", first, false, 1, 1);
    expect_loaded_at(fx, "second", 0, true, 0, 1);
}

/* Rebuilds the sessions table of path as a WITHOUT ROWID table, rows kept. */
static void rebuild_sessions_without_rowid(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = 'sessions'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *create = sqlite3_mprintf("%s WITHOUT ROWID", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_non_null(create);

    char *script = sqlite3_mprintf("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON;"
                                   " BEGIN; ALTER TABLE sessions RENAME TO sessions_old; %s;"
                                   " INSERT INTO sessions SELECT * FROM sessions_old;"
                                   " DROP TABLE sessions_old; COMMIT;",
                                   create);
    char *msg = NULL;
    if (sqlite3_exec(db, script, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("rebuild sessions: %s", msg);
    sqlite3_free(script);
    sqlite3_free(create);
    sqlite3_close(db);
}

/* A sessions table without a rowid snapshots and loads by id alone. */
static void test_sessions_without_rowid(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "first", "claude", 2));
    pd_archive_close(fx->reader);
    fx->reader = NULL;
    rebuild_sessions_without_rowid(fx->db);
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &fx->reader, &err), PD_OK);

    pd_snapshot *snap = NULL;
    assert_int_equal(pd_archive_snapshot(fx->reader, &snap, &err), PD_OK);
    const pd_stored_row *row = pd_snapshot_find_id(snap, "first");
    assert_non_null(row);
    assert_int_equal(row->rowid, 0);
    expect_loaded_at(fx, "first", row->rowid, true, 0, 1);
    /* A rowid from elsewhere is not tried on such a table. */
    expect_loaded_at(fx, "first", 1, true, 0, 1);
    pd_snapshot_free(snap);

    pd_stored_row loaded;
    bool found = false;
    assert_int_equal(pd_archive_load_row(fx->reader, "first", &loaded, fx->arena, &found, &err),
                     PD_OK);
    assert_true(found);
    assert_int_equal(loaded.rowid, 0);
}

static void test_rollback_discards_writes(void **state)
{
    fixture *fx = *state;
    pd_err err = {0};
    assert_int_equal(pd_archive_begin(fx->writer, &err), PD_OK);
    write_full(fx, normalized_session(fx, "undone", "claude", 1));

    pd_archive_rollback(fx->writer);

    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 0);
}

static void test_failed_write_keeps_transaction(void **state)
{
    fixture *fx = *state;
    pd_err err = {0};
    assert_int_equal(pd_archive_begin(fx->writer, &err), PD_OK);
    write_full(fx, normalized_session(fx, "first", "claude", 1));
    pd_incr_update u = {.session_id = "missing", .file_size = 10, .file_mtime = 10};
    pd_session *delta = normalized_session(fx, "missing", "claude", 1);

    int rc = pd_archive_write_incremental(fx->writer, &u, delta, &err);
    assert_int_equal(rc, PD_ENOENT);
    assert_non_null(strstr(err.msg, "missing"));
    pd_err commit_err = {0};
    assert_int_equal(pd_archive_commit(fx->writer, &commit_err), PD_OK);

    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sessions"), 1);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 2);
}

static void test_reader_sees_committed_state(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "live", "claude", 1));
    pd_err err = {0};
    assert_int_equal(pd_archive_begin(fx->writer, &err), PD_OK);
    write_full(fx, normalized_session(fx, "live", "claude", 3));

    /* The writer keeps its transaction open, so the reader sees the last commit. */
    pd_session during = load(fx, "live");
    assert_int_equal(during.n_messages, 2);
    assert_int_equal(during.message_count, 2);

    assert_int_equal(pd_archive_commit(fx->writer, &err), PD_OK);
    pd_session after = load(fx, "live");
    assert_int_equal(after.n_messages, 6);
    assert_int_equal(after.message_count, 6);
}

/* ---- incremental ---------------------------------------------------------- */

/* Every column of the sessions row, as text ("\x01NULL" for SQL NULL). */
typedef struct row_values {
    int n;
    char *names[128];
    char *values[128];
} row_values;

static void read_row_values(const char *path, const char *id, row_values *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM sessions WHERE id = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    out->n = sqlite3_column_count(st);
    assert_true(out->n <= 128);
    for (int i = 0; i < out->n; i++) {
        out->names[i] = strdup(sqlite3_column_name(st, i));
        const char *v = (const char *)sqlite3_column_text(st, i);
        out->values[i] = strdup(sqlite3_column_type(st, i) == SQLITE_NULL ? "\x01NULL" : v);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void free_row_values(row_values *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
}

static const char *value_of(const row_values *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->names[i], name) == 0)
            return r->values[i];
    fail_msg("no column %s", name);
    return NULL;
}

/* Sets the base of u to the stored row's file_size and next_ordinal, as sync does. */
static void set_incr_base(const char *db, pd_incr_update *u)
{
    char query[256];
    snprintf(query, sizeof query, "SELECT file_size FROM sessions WHERE id = '%s'", u->session_id);
    u->base_file_size = afx_sql_int(db, query);
    snprintf(query, sizeof query, "SELECT next_ordinal FROM sessions WHERE id = '%s'",
             u->session_id);
    u->base_next_ordinal = afx_sql_int(db, query);
}

/* The stored session the incremental tests append to: ordinals 0 and 1, two open calls. */
static void write_incremental_base(fixture *fx)
{
    pd_session *s = afx_session(fx->arena, "inc", "claude", 0);
    pd_message *prompt = afx_add_message(fx->arena, s, 0, "user", "start");
    prompt->source_uuid = "u0";
    pd_message *reply = afx_add_message(fx->arena, s, 1, "assistant", "working");
    reply->output_tokens = 50;
    reply->context_tokens = 100;
    reply->has_output_tokens = true;
    reply->has_context_tokens = true;
    reply->source_uuid = "u1";
    afx_add_call(fx->arena, reply, "pending-bash", "Bash", "Bash");
    afx_add_call(fx->arena, reply, "pending-read", "Read", "Read");
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    write_full(fx, s);
    afx_sql(fx->db, "UPDATE sessions SET quality_signal_version = 3,"
                    " local_modified_at = 'before', secrets_rules_version = 'v1'");
}

/* Appended rows: a carrier for both stored calls (dropped), a reply, a prompt. */
static pd_session *incremental_delta(fixture *fx)
{
    pd_session *d = pd_arena_calloc(fx->arena, 1, sizeof *d);
    assert_non_null(d);
    pd_session_init(d);
    d->id = "inc";
    d->agent = "claude";
    pd_message *carrier = afx_add_message(fx->arena, d, 2, "user", "");
    afx_add_result(fx->arena, carrier, "pending-bash", "bash out");
    afx_add_result(fx->arena, carrier, "pending-read", "file body");
    pd_message *reply = afx_add_message(fx->arena, d, 3, "assistant", "continuing");
    reply->output_tokens = 20;
    reply->context_tokens = 700;
    reply->has_output_tokens = true;
    reply->has_context_tokens = true;
    reply->source_uuid = "u3";
    pd_message *prompt = afx_add_message(fx->arena, d, 4, "user", "next prompt");
    prompt->source_uuid = "u4";
    assert_int_equal(pd_session_normalize(d, NULL, fx->arena), PD_OK);
    return d;
}

static void test_incremental_updates_listed_columns(void **state)
{
    fixture *fx = *state;
    write_incremental_base(fx);
    row_values before, after;
    read_row_values(fx->db, "inc", &before);
    pd_session *delta = incremental_delta(fx);
    pd_incr_update u = {
        .session_id = "inc",
        .file_size = 9000,
        .file_mtime = 1704106800000000000,
        .file_hash = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        .ended_at = "2024-01-01T11:00:00Z",
        .termination_status = NULL,
    };
    pd_err err = {0};

    set_incr_base(fx->db, &u);
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, delta, &err), PD_OK);
    read_row_values(fx->db, "inc", &after);

    static const struct {
        const char *column;
        const char *expected;
    } changed[] = {
        {"ended_at", "2024-01-01T11:00:00Z"},
        {"message_count", "4"},
        {"user_message_count", "2"},
        {"file_size", "9000"},
        {"file_mtime", "1704106800000000000"},
        {"file_hash", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
        {"next_ordinal", "5"},
        {"last_entry_uuid", "u4"},
        {"total_output_tokens", "70"},
        {"peak_context_tokens", "700"},
        {"has_total_output_tokens", "1"},
        {"has_peak_context_tokens", "1"},
        {"termination_status", "\x01NULL"},
        {"last_write_incremental", "1"},
        {"quality_signal_version", "0"},
        {"transcript_revision", "2"},
        {"secrets_rules_version", ""},
    };
    size_t n_changed = sizeof changed / sizeof changed[0];
    for (size_t i = 0; i < n_changed; i++)
        check_str(changed[i].column, changed[i].expected, value_of(&after, changed[i].column));
    assert_string_not_equal(value_of(&after, "local_modified_at"), "before");

    /* Every other column keeps its stored value. */
    assert_int_equal(before.n, after.n);
    for (int i = 0; i < after.n; i++) {
        bool listed = strcmp(after.names[i], "local_modified_at") == 0;
        for (size_t k = 0; k < n_changed && !listed; k++)
            listed = strcmp(after.names[i], changed[k].column) == 0;
        if (!listed)
            check_str(after.names[i], before.values[i], after.values[i]);
    }
    free_row_values(&before);
    free_row_values(&after);
}

static void test_incremental_links_stored_calls(void **state)
{
    fixture *fx = *state;
    write_incremental_base(fx);
    pd_session *delta = incremental_delta(fx);
    pd_incr_update u = {.session_id = "inc", .file_size = 9000, .file_mtime = 1};
    pd_err err = {0};

    set_incr_base(fx->db, &u);
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, delta, &err), PD_OK);

    char *bash = afx_sql_text(fx->db, "SELECT result_content FROM tool_calls"
                                      " WHERE tool_use_id = 'pending-bash'");
    assert_string_equal(bash, "bash out");
    assert_int_equal(afx_sql_int(fx->db, "SELECT result_content_length FROM tool_calls"
                                         " WHERE tool_use_id = 'pending-bash'"),
                     8);
    /* Read is a blocked category: the length is stored, the content is not. */
    assert_true(afx_sql_is_null(fx->db, "SELECT result_content FROM tool_calls"
                                        " WHERE tool_use_id = 'pending-read'"));
    assert_int_equal(afx_sql_int(fx->db, "SELECT result_content_length FROM tool_calls"
                                         " WHERE tool_use_id = 'pending-read'"),
                     9);
    pd_session got = load(fx, "inc");
    assert_int_equal(got.n_messages, 4);
    assert_int_equal(got.messages[2].ordinal, 3);
    assert_int_equal(got.messages[3].ordinal, 4);
    assert_true(got.last_write_incremental);
    free(bash);
}

static void test_incremental_links_last_call_with_id(void **state)
{
    fixture *fx = *state;
    pd_session *s = afx_session(fx->arena, "dup", "claude", 0);
    pd_message *m0 = afx_add_message(fx->arena, s, 0, "assistant", "first");
    afx_add_call(fx->arena, m0, "same-id", "Bash", "Bash");
    pd_message *m1 = afx_add_message(fx->arena, s, 1, "assistant", "second");
    afx_add_call(fx->arena, m1, "same-id", "Bash", "Bash");
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    write_full(fx, s);
    pd_session *d = afx_session(fx->arena, "dup", "claude", 0);
    pd_message *carrier = afx_add_message(fx->arena, d, 2, "user", "");
    afx_add_result(fx->arena, carrier, "same-id", "late result");
    assert_int_equal(pd_session_normalize(d, NULL, fx->arena), PD_OK);
    pd_incr_update u = {.session_id = "dup", .file_size = 1, .file_mtime = 1};
    pd_err err = {0};

    set_incr_base(fx->db, &u);
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, d, &err), PD_OK);

    assert_true(afx_sql_is_null(fx->db, "SELECT result_content FROM tool_calls c"
                                        " JOIN messages m ON m.id = c.message_id"
                                        " WHERE m.ordinal = 0"));
    char *linked = afx_sql_text(fx->db, "SELECT result_content FROM tool_calls c"
                                        " JOIN messages m ON m.id = c.message_id"
                                        " WHERE m.ordinal = 1");
    assert_string_equal(linked, "late result");
    /* A link alone is a transcript change; next_ordinal counts the dropped carrier. */
    assert_int_equal(afx_sql_int(fx->db, "SELECT CAST(transcript_revision AS INTEGER)"
                                         " FROM sessions"),
                     2);
    assert_int_equal(afx_sql_int(fx->db, "SELECT next_ordinal FROM sessions"), 3);
    assert_int_equal(afx_sql_int(fx->db, "SELECT message_count FROM sessions"), 2);
    free(linked);
}

static void test_incremental_empty_tail(void **state)
{
    fixture *fx = *state;
    write_incremental_base(fx);
    pd_session *empty = afx_session(fx->arena, "inc", "claude", 0);
    assert_int_equal(pd_session_normalize(empty, NULL, fx->arena), PD_OK);
    pd_incr_update u = {
        .session_id = "inc",
        .file_size = 5000,
        .file_mtime = 42,
        .file_hash = NULL,
        .ended_at = NULL,
        .termination_status = "awaiting_user",
    };
    row_values before, after;
    read_row_values(fx->db, "inc", &before);
    pd_err err = {0};

    set_incr_base(fx->db, &u);
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, empty, &err), PD_OK);
    read_row_values(fx->db, "inc", &after);

    check_str("ended_at", value_of(&before, "ended_at"), value_of(&after, "ended_at"));
    check_str("file_hash", value_of(&before, "file_hash"), value_of(&after, "file_hash"));
    check_str("next_ordinal", "2", value_of(&after, "next_ordinal"));
    check_str("message_count", "2", value_of(&after, "message_count"));
    check_str("last_entry_uuid", "u1", value_of(&after, "last_entry_uuid"));
    check_str("transcript_revision", value_of(&before, "transcript_revision"),
              value_of(&after, "transcript_revision"));
    check_str("local_modified_at", "before", value_of(&after, "local_modified_at"));
    check_str("file_size", "5000", value_of(&after, "file_size"));
    check_str("file_mtime", "42", value_of(&after, "file_mtime"));
    check_str("termination_status", "awaiting_user", value_of(&after, "termination_status"));
    check_str("last_write_incremental", "1", value_of(&after, "last_write_incremental"));
    check_str("total_output_tokens", "50", value_of(&after, "total_output_tokens"));
    check_str("peak_context_tokens", "100", value_of(&after, "peak_context_tokens"));
    free_row_values(&before);
    free_row_values(&after);
}

static void test_incremental_keeps_ended_at_for_bad_year(void **state)
{
    fixture *fx = *state;
    write_incremental_base(fx);
    pd_incr_update u = {
        .session_id = "inc", .file_size = 1, .file_mtime = 1, .ended_at = "1999-01-01T00:00:00Z"};
    pd_err err = {0};

    set_incr_base(fx->db, &u);
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, NULL, &err), PD_OK);

    char *ended = afx_sql_text(fx->db, "SELECT ended_at FROM sessions");
    assert_string_equal(ended, "2024-01-01T10:05:05.5Z");
    free(ended);
}

/*
 * Two syncs that read the same stored row both parse the same appended
 * lines: the first write lands, the second finds the row moved on and
 * writes nothing.
 */
static void test_incremental_stale_base_rejected(void **state)
{
    fixture *fx = *state;
    write_incremental_base(fx);
    pd_incr_update u = {.session_id = "inc", .file_size = 9000, .file_mtime = 1};
    set_incr_base(fx->db, &u);
    pd_err err = {0};
    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, incremental_delta(fx), &err),
                     PD_OK);
    int64_t messages = afx_sql_int(fx->db, "SELECT count(*) FROM messages");
    int64_t calls = afx_sql_int(fx->db, "SELECT count(*) FROM tool_calls");

    pd_err stale = {0};
    int rc = pd_archive_write_incremental(fx->writer, &u, incremental_delta(fx), &stale);

    assert_int_equal(rc, PD_ESTALE);
    assert_non_null(strstr(stale.msg, "the stored row changed since it was read"));
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), messages);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM tool_calls"), calls);
    assert_int_equal(afx_sql_int(fx->db, "SELECT file_size FROM sessions"), 9000);

    /* Each part of the base alone makes the write rejected. */
    pd_incr_update fresh = u;
    set_incr_base(fx->db, &fresh);
    fresh.file_size = 9100;
    char *hash = afx_sql_text(fx->db, "SELECT file_hash FROM sessions");
    char *path = afx_sql_text(fx->db, "SELECT file_path FROM sessions");
    fresh.base_file_hash = hash;
    fresh.base_file_path = path;
    pd_incr_update off[4] = {fresh, fresh, fresh, fresh};
    off[0].base_file_size++;
    off[1].base_next_ordinal++;
    off[2].base_file_path = "/elsewhere/copy.jsonl";
    off[3].base_file_hash = "0000000000000000000000000000000000000000000000000000000000000000";
    for (size_t i = 0; i < 4; i++) {
        pd_err e = {0};
        assert_int_equal(
            pd_archive_write_incremental(fx->writer, &off[i], incremental_delta(fx), &e),
            PD_ESTALE);
    }
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), messages);
    /* The exact base, the hash in capitals, still writes. */
    for (char *c = hash; *c != '\0'; c++)
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    pd_err ok = {0};
    assert_int_equal(pd_archive_write_incremental(fx->writer, &fresh, NULL, &ok), PD_OK);
    assert_int_equal(afx_sql_int(fx->db, "SELECT file_size FROM sessions"), 9100);
    free(hash);
    free(path);
}

static void test_incremental_missing_row(void **state)
{
    fixture *fx = *state;
    pd_session *delta = incremental_delta(fx);
    pd_incr_update u = {.session_id = "inc", .file_size = 1, .file_mtime = 1};
    pd_err err = {0};

    assert_int_equal(pd_archive_write_incremental(fx->writer, &u, delta, &err), PD_ENOENT);

    assert_non_null(strstr(err.msg, fx->db));
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 0);
}

static void test_set_session_name(void **state)
{
    fixture *fx = *state;
    write_full(fx, normalized_session(fx, "codex:t", "codex", 1));
    pd_err err = {0};

    assert_int_equal(pd_archive_set_session_name(fx->writer, "codex:t", "New title", &err), PD_OK);
    char *name = afx_sql_text(fx->db, "SELECT session_name FROM sessions");
    assert_string_equal(name, "New title");
    free(name);

    assert_int_equal(pd_archive_set_session_name(fx->writer, "codex:t", "", &err), PD_OK);
    assert_true(afx_sql_is_null(fx->db, "SELECT session_name FROM sessions"));

    pd_err missing = {0};
    assert_int_equal(pd_archive_set_session_name(fx->writer, "codex:none", "x", &missing),
                     PD_ENOENT);
    assert_non_null(strstr(missing.msg, "codex:none"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_write_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_compared_leaves_out_result_bodies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_keeps_ordinal_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_follow_reordered_message_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_and_empty_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_replaces_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transcript_revision_counts_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_version_stamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_keep_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codex_title_kept_without_index_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codex_insert_uses_parsed_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trashed_row_not_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_by_rowid_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_without_rowid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_discards_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_committed_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_updates_listed_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_links_stored_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_links_last_call_with_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_empty_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_keeps_ended_at_for_bad_year, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incremental_missing_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_stale_base_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_session_name, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
