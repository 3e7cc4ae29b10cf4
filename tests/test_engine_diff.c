/*
 * test_engine_diff.c -- diff over real archives built by sync: clean runs,
 * stored drift per field family, classes, --limit, agent scope, the raced
 * guard, incremental skew and the Codex consumed-boundary rules.
 *
 * Every test builds transcripts in a temporary directory, syncs them into a
 * real SQLite archive with the writer engine, edits stored rows or files the
 * way the scenario needs, and runs the report-only engine.
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

#include "common/model.h"
#include "tests/support/engine_fixture.h"

#define HOUR_NS (3600LL * 1000000000LL)

static const char *const CLAUDE_A = "11111111-aaaa-4aaa-8aaa-000000000001";
static const char *const CLAUDE_B = "11111111-aaaa-4aaa-8aaa-000000000002";
static const char *const CODEX_A = "0199aaaa-bbbb-7ccc-8ddd-000000000001";

static int setup(void **state)
{
    fx_env *env = calloc(1, sizeof *env);
    fx_env_init(env);
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    fx_env *env = *state;
    fx_env_cleanup(env);
    free(env);
    return 0;
}

/* Writes the rich Claude session A, a plain Claude session B and a Codex session. */
static void write_three(fx_env *env)
{
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    char *c = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    fx_write(p, c);
    free(p);
    free(c);
    p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_B);
    c = fx_claude_plain(CLAUDE_B, "Rename the module.");
    fx_write(p, c);
    free(p);
    free(c);
    p = fx_codex_path(env, "2026/02/01", CODEX_A);
    c = fx_codex_basic(CODEX_A, "Run the tests please.");
    fx_write(p, c);
    free(p);
    free(c);
}

static void sync_env(fx_env *env)
{
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    pd_sync_stats_free(&st);
}

/*
 * A stored session whose transcript now contains only a "/usage" probe is one
 * the parser drops, so it is reported excluded_by_parser with its own id and
 * path, and not as missing from disk.
 */
static void diff_reports_parser_exclusion(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_B);
    char *c = fx_claude_plain(CLAUDE_B, "/usage");
    fx_write(p, c);
    free(c);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.excluded_by_parser, 1);
    assert_int_equal(r->totals.identical, 2);
    assert_int_equal(r->n_sessions, 1);
    assert_int_equal(r->sessions[0].cls, PD_CLASS_EXCLUDED_BY_PARSER);
    assert_string_equal(r->sessions[0].session_id, CLAUDE_B);
    assert_string_equal(r->sessions[0].file_path, p);
    assert_string_equal(r->sessions[0].reason, "parser exclusion (sync keeps the stored rows)");
    pd_diff_report_free(r);
    free(p);
}

static void diff_clean_archive_is_identical(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->files_examined, 3);
    assert_false(r->files_limited);
    assert_int_equal(r->totals.examined, 3);
    assert_int_equal(r->totals.identical, 3);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->n_field_counts, 0);
    assert_int_equal(r->n_sessions, 0);
    assert_int_equal(r->data_version, PD_DATA_VERSION);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_writes_nothing(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drifted' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    /* Fold the WAL into the main file so the byte comparison covers everything. */
    fx_sql(env->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    char before[65], after[65];
    fx_file_sha256(env->db, before);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 1);
    pd_diff_report_free(r);

    fx_file_sha256(env->db, after);
    assert_string_equal(before, after);
    char *fm = fx_sql_text(env->db, "SELECT first_message FROM sessions WHERE id = "
                                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    assert_non_null(fm);
    assert_string_equal(fm, "drifted");
    free(fm);
}

static void diff_detects_stored_drift(void **state)
{
    fx_env *env = *state;
    /* Ten rich sessions; nine get one kind of drift each. */
    char ids[10][40];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "22222222-aaaa-4aaa-8aaa-%012d", i);
        char *p = fx_claude_path(env, "-home-tess-src-orbit", ids[i]);
        char *c = fx_claude_rich(ids[i], "Explain the drift test.");
        fx_write(p, c);
        free(p);
        free(c);
    }
    sync_env(env);

    char sql[512];
#define DRIFT(i, fmt)                                                                              \
    do {                                                                                           \
        snprintf(sql, sizeof sql, fmt, ids[i]);                                                    \
        fx_sql(env->db, sql);                                                                      \
    } while (0)
    DRIFT(0, "UPDATE sessions SET message_count = message_count + 5 WHERE id = '%s'");
    DRIFT(1, "UPDATE sessions SET first_message = 'something else' WHERE id = '%s'");
    DRIFT(2, "UPDATE messages SET model = 'other-model' WHERE session_id = '%s'");
    DRIFT(3, "UPDATE messages SET role = 'assistant' WHERE session_id = '%s' AND ordinal = 0");
    DRIFT(4, "UPDATE messages SET timestamp = '2020-01-01T00:00:00Z' WHERE session_id = '%s' AND "
             "ordinal = 1");
    DRIFT(5, "UPDATE messages SET content = upper(content) WHERE session_id = '%s' AND ordinal = 0");
    DRIFT(6, "UPDATE messages SET content = content || 'x', content_length = content_length + 1 "
             "WHERE session_id = '%s' AND ordinal = 3");
    DRIFT(7, "UPDATE sessions SET termination_status = 'truncated' WHERE id = '%s'");
    DRIFT(8, "INSERT INTO usage_events (session_id, source, model, input_tokens) VALUES ('%s', "
             "'synthetic', 'm', 7)");
#undef DRIFT

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, 10);
    assert_int_equal(r->totals.identical, 1);
    assert_int_equal(r->totals.changed, 9);
    assert_true(pd_diff_report_has_failures(r));
    assert_true(fx_has_field(fx_entry(r, ids[0]), "message_count"));
    assert_true(fx_has_field(fx_entry(r, ids[1]), "first_message"));
    assert_true(fx_has_field(fx_entry(r, ids[2]), "models"));
    assert_true(fx_has_field(fx_entry(r, ids[3]), "message_metadata"));
    assert_true(fx_has_field(fx_entry(r, ids[4]), "message_metadata"));
    assert_true(fx_has_field(fx_entry(r, ids[5]), "message_content"));
    assert_true(fx_has_field(fx_entry(r, ids[6]), "message_content"));
    assert_true(fx_has_field(fx_entry(r, ids[7]), "termination_status"));
    assert_true(fx_has_field(fx_entry(r, ids[8]), "usage_event_count"));
    assert_int_equal(fx_field_count(r, "message_metadata"), 2);
    assert_int_equal(fx_field_count(r, "message_content"), 2);
    assert_int_equal(fx_field_count(r, "first_message"), 1);
    assert_int_equal(fx_field_count(r, "models"), 1);
    assert_int_equal(fx_field_count(r, "termination_status"), 1);
    assert_int_equal(fx_field_count(r, "usage_event_count"), 1);
    assert_null(fx_entry(r, ids[9]));
    pd_diff_report_free(r);
}

static void diff_tolerates_null_stored_timestamp(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE messages SET timestamp = NULL WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000002' AND ordinal = 0");

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, 3);
    assert_int_equal(r->totals.changed, 1);
    const pd_diff_entry *e = fx_entry(r, CLAUDE_B);
    assert_non_null(e);
    assert_int_equal(e->n_fields, 1);
    assert_string_equal(e->fields[0].field, "message_metadata");
    assert_non_null(e->fields[0].detail);
    assert_non_null(strstr(e->fields[0].detail, "timestamp"));
    pd_diff_report_free(r);
}

static void diff_detects_extended_field_drift(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE tool_calls SET tool_name = 'Bash' WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    fx_sql(env->db, "UPDATE sessions SET cwd = '/elsewhere' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000002'");
    /* Codex never sets has_thinking, so a stored 1 is drift. */
    fx_sql(env->db, "UPDATE messages SET has_thinking = 1 WHERE session_id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001' AND ordinal = 0");

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, 3);
    assert_int_equal(r->totals.changed, 2);
    assert_int_equal(r->totals.identical, 1);
    assert_int_equal(r->totals.informational_only, 1);
    assert_true(fx_has_field(fx_entry(r, CLAUDE_A), "tool_calls"));
    assert_true(fx_has_field(fx_entry(r, "codex:0199aaaa-bbbb-7ccc-8ddd-000000000001"),
                             "message_metadata"));
    const pd_field_diff *cwd = fx_field(fx_entry(r, CLAUDE_B), "cwd");
    assert_non_null(cwd);
    assert_true(cwd->informational);
    assert_int_equal(fx_field_count(r, "cwd"), 0);
    pd_diff_report_free(r);
}

static void diff_bypasses_skip_layers(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_parsed, 0);
    assert_int_equal(st.files_unchanged, 3);
    pd_sync_stats_free(&st);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.identical, 3);
    pd_diff_report_free(r);

    /* An in-place rewrite of the same size that keeps the mtime: nothing but
     * the bytes say the file changed, and diff reads the bytes. */
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_B);
    int64_t mtime = fx_mtime_ns(p);
    char *same_size = fx_claude_plain(CLAUDE_B, "Rename the modules");
    char *old = fx_read(p, NULL);
    assert_int_equal(strlen(same_size), strlen(old));
    fx_write(p, same_size);
    fx_set_mtime_ns(p, mtime);
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 1);
    assert_int_equal(r->totals.raced, 0);
    assert_true(fx_has_field(fx_entry(r, CLAUDE_B), "first_message"));
    assert_int_equal(fx_field_count(r, "first_message"), 1);
    pd_diff_report_free(r);

    /* Growth under an unchanged mtime is a write the clock did not show
     * (timestamps advance in ticks): the size proves it, so it is raced. */
    fx_write(p, old);
    char *more = fx_claude_append_exchange(CLAUDE_B, "p2", 3);
    fx_append(p, more);
    fx_set_mtime_ns(p, mtime);
    r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, CLAUDE_B);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_RACED);
    assert_true(fx_has_field(e, "message_count"));
    assert_int_equal(r->totals.changed, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(more);
    free(old);
    free(same_size);
    free(p);
}

static void diff_buckets(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);

    /* new on disk */
    const char *new_id = "11111111-aaaa-4aaa-8aaa-00000000000f";
    char *p = fx_claude_path(env, "-home-tess-src-orbit", new_id);
    char *c = fx_claude_plain(new_id, "A brand new session.");
    fx_write(p, c);
    free(c);
    free(p);
    /* source missing */
    p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_B);
    unlink(p);
    free(p);
    /* pending resync with drift */
    fx_sql(env->db, "UPDATE sessions SET data_version = 89, first_message = 'old' WHERE id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    /* parse error: a corrupt compressed transcript */
    p = fx_fmt("%s/-home-tess-src-orbit/11111111-aaaa-4aaa-8aaa-0000000000ee.jsonl.zst",
               env->claude_root);
    fx_write(p, "this is not a zstd frame");
    free(p);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->files_examined, 4);
    assert_int_equal(r->totals.new_on_disk, 1);
    assert_int_equal(r->totals.skipped, 1);
    assert_int_equal(r->totals.pending_resync, 1);
    assert_int_equal(r->totals.parse_errors, 1);
    assert_int_equal(r->totals.identical, 1);
    assert_int_equal(r->totals.examined, 2);

    const pd_diff_entry *skipped = fx_entry(r, CLAUDE_B);
    assert_non_null(skipped);
    assert_int_equal(skipped->cls, PD_CLASS_SKIPPED);
    assert_string_equal(skipped->reason, "source missing");

    const pd_diff_entry *pending = fx_entry(r, "codex:0199aaaa-bbbb-7ccc-8ddd-000000000001");
    assert_non_null(pending);
    assert_int_equal(pending->cls, PD_CLASS_PENDING_RESYNC);
    assert_int_equal(pending->stored_data_version, 89);
    assert_true(fx_has_field(pending, "first_message"));
    assert_int_equal(fx_field_count(r, "first_message"), 0);

    bool saw_error = false;
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].cls == PD_CLASS_PARSE_ERROR) {
            saw_error = true;
            assert_null(r->sessions[i].session_id);
            assert_non_null(r->sessions[i].reason);
            assert_non_null(strstr(r->sessions[i].file_path, ".jsonl.zst"));
        }
    }
    assert_true(saw_error);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_limit_takes_newest_first(void **state)
{
    fx_env *env = *state;
    const char *ids[3] = {"33333333-aaaa-4aaa-8aaa-000000000001", "33333333-aaaa-4aaa-8aaa-000000000002",
                          "33333333-aaaa-4aaa-8aaa-000000000003"};
    int64_t now = fx_now_ns();
    for (int i = 0; i < 3; i++) {
        char *p = fx_claude_path(env, "-home-tess-src-orbit", ids[i]);
        char *c = fx_claude_plain(ids[i], "Limit test.");
        fx_write(p, c);
        fx_set_mtime_ns(p, now - (2 - i) * HOUR_NS);
        free(p);
        free(c);
    }
    sync_env(env);

    pd_diff_report *r = fx_diff(env, NULL, 0, 1);
    assert_int_equal(r->files_examined, 1);
    assert_true(r->files_limited);
    assert_int_equal(r->totals.examined, 1);
    assert_int_equal(r->totals.identical, 1);
    assert_int_equal(r->totals.skipped, 2);
    for (int i = 0; i < 2; i++) {
        const pd_diff_entry *e = fx_entry(r, ids[i]);
        assert_non_null(e);
        assert_int_equal(e->cls, PD_CLASS_SKIPPED);
        assert_string_equal(e->reason, "not sampled (--limit)");
    }
    assert_null(fx_entry(r, ids[2]));
    pd_diff_report_free(r);
}

static void diff_agent_scope(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    const char *agents[] = {"codex"};
    pd_diff_report *r = fx_diff(env, agents, 1, 0);
    assert_int_equal(r->files_examined, 1);
    assert_int_equal(r->totals.examined, 1);
    assert_int_equal(r->totals.identical, 1);
    assert_int_equal(r->n_sessions, 0);
    assert_int_equal(r->n_agents, 1);
    assert_string_equal(r->agents[0], "codex");
    assert_true(r->agents_restricted);
    pd_diff_report_free(r);
}

/* A live write after the sync: a line the parse ignores, so only the bytes
 * and the mtime move (a touch alone no longer counts, see
 * diff_touched_source_is_changed). */
static void write_live(const char *path)
{
    fx_append(path, "{\"type\":\"summary\",\"summary\":\"live\"}\n");
    fx_set_mtime_ns(path, fx_mtime_ns(path) + 48 * HOUR_NS);
}

static void diff_raced_source_skew(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id IN "
                    "('11111111-aaaa-4aaa-8aaa-000000000001', '11111111-aaaa-4aaa-8aaa-000000000002')");
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    write_live(p);
    free(p);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, 3);
    assert_int_equal(r->totals.changed, 1);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(fx_field_count(r, "first_message"), 1);
    const pd_diff_entry *raced = fx_entry(r, CLAUDE_A);
    assert_int_equal(raced->cls, PD_CLASS_RACED);
    assert_string_equal(raced->reason, "source file changed after snapshot (live-write skew)");
    assert_true(fx_has_field(raced, "first_message"));
    assert_int_equal(fx_entry(r, CLAUDE_B)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

/* A transcript copied or checked out anew has a later mtime and the same
 * bytes: a stored difference is then a real change, not a live write. */
static void diff_touched_source_is_changed(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    fx_set_mtime_ns(p, fx_mtime_ns(p) + 48 * HOUR_NS);
    free(p);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CLAUDE_A)->cls, PD_CLASS_CHANGED);
    assert_int_equal(r->totals.raced, 0);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

/* A stored session that a touched transcript with the stored bytes no longer gives is
 * changed. After a real write to the transcript it is raced. */
static void diff_presence_loss_touched_is_changed(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "CREATE TEMP TABLE ghost AS SELECT * FROM sessions WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001';"
                    "UPDATE ghost SET id = 'ghost-of-a';"
                    "INSERT INTO sessions SELECT * FROM ghost;");
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    fx_set_mtime_ns(p, fx_mtime_ns(p) + 48 * HOUR_NS);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, "ghost-of-a");
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    write_live(p);
    r = fx_diff(env, NULL, 0, 0);
    e = fx_entry(r, "ghost-of-a");
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_RACED);
    pd_diff_report_free(r);
    free(p);
}

/*
 * A project directory whose name has an invalid UTF-8 byte and a control
 * character: the archive stores the path sanitised, which names no file.
 * The row must still be found under the name on disk, so that a later sync
 * skips the file, a stored difference is changed (not raced because the
 * stored path is missing), and a live write is raced.
 */
static void diff_unclean_path_is_compared(void **state)
{
    fx_env *env = *state;
    char *p = fx_claude_path(env, "-home-kim-caf\xe9\x1b", CLAUDE_A);
    char *c = fx_claude_plain(CLAUDE_A, "Why does the solver diverge?");
    fx_write(p, c);
    free(c);
    sync_env(env);
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_unchanged, 1);
    assert_int_equal(st.files_parsed, 0);
    pd_sync_stats_free(&st);

    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, CLAUDE_A);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_CHANGED);
    assert_int_equal(r->totals.raced, 0);
    assert_int_equal(r->totals.skipped, 0);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* A stored session that the unchanged transcript no longer gives is changed too. */
    fx_sql(env->db, "UPDATE sessions SET first_message = 'Why does the solver diverge?';"
                    "CREATE TEMP TABLE ghost AS SELECT * FROM sessions;"
                    "UPDATE ghost SET id = 'ghost-of-a', file_hash = NULL;"
                    "INSERT INTO sessions SELECT * FROM ghost;");
    r = fx_diff(env, NULL, 0, 0);
    e = fx_entry(r, "ghost-of-a");
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_CHANGED);
    pd_diff_report_free(r);
    fx_sql(env->db, "DELETE FROM sessions WHERE id = 'ghost-of-a';"
                    "UPDATE sessions SET first_message = 'drift'");

    write_live(p);
    r = fx_diff(env, NULL, 0, 0);
    e = fx_entry(r, CLAUDE_A);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_RACED);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(p);
}

static void diff_raced_alone_does_not_fail(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    write_live(p);
    free(p);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->n_field_counts, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_raced_does_not_mask_clean_run(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    fx_set_mtime_ns(p, fx_mtime_ns(p) + 72 * HOUR_NS);
    free(p);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.identical, 3);
    assert_int_equal(r->totals.raced, 0);
    pd_diff_report_free(r);
}

/* Appends to Claude A and syncs, so its row is written incrementally. */
static void make_incremental_claude(fx_env *env)
{
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    char *more = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    fx_append(p, more);
    free(more);
    free(p);
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.sessions_incremental, 1);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT last_write_incremental FROM sessions WHERE id = "
                                         "'11111111-aaaa-4aaa-8aaa-000000000001'"),
                     1);
}

static void diff_incremental_skew_not_counted(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    make_incremental_claude(env);
    fx_sql(env->db, "UPDATE messages SET timestamp = '2021-01-01T00:00:00Z' WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001' AND ordinal = 0");
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000002'");

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *skew = fx_entry(r, CLAUDE_A);
    assert_non_null(skew);
    assert_int_equal(skew->cls, PD_CLASS_INCREMENTAL_SKEW);
    assert_string_equal(skew->reason, "stored row last written incrementally (incremental-append skew)");
    assert_true(fx_has_field(skew, "message_metadata"));
    assert_int_equal(fx_entry(r, CLAUDE_B)->cls, PD_CLASS_CHANGED);
    assert_int_equal(r->totals.incremental_skew, 1);
    assert_int_equal(r->totals.changed, 1);
    assert_int_equal(fx_field_count(r, "first_message"), 1);
    assert_int_equal(fx_field_count(r, "message_metadata"), 0);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_incremental_marker_does_not_mask_real_drift(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    make_incremental_claude(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001'");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CLAUDE_A)->cls, PD_CLASS_CHANGED);
    assert_int_equal(r->totals.incremental_skew, 0);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

/* A stored message lost with the count kept moves no ordinal an append could
 * move, so it fails the gate on a row written by appending as well. */
static void diff_incremental_marker_does_not_mask_lost_message(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    make_incremental_claude(env);
    fx_sql(env->db, "DELETE FROM messages WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001' AND ordinal = 1");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, CLAUDE_A);
    assert_int_equal(e->cls, PD_CLASS_CHANGED);
    assert_true(fx_has_field(e, "message_metadata"));
    bool named = false;
    for (size_t i = 0; i < e->n_fields; i++)
        named = named || (e->fields[i].detail != NULL &&
                          strstr(e->fields[i].detail, "1 parsed message has no stored one, at "
                                                      "ordinal 1") != NULL);
    assert_true(named);
    assert_int_equal(r->totals.incremental_skew, 0);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_full_resync_clears_skew(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    make_incremental_claude(env);
    pd_sync_stats st;
    fx_sync_full(env, &st);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT last_write_incremental FROM sessions WHERE id = "
                                         "'11111111-aaaa-4aaa-8aaa-000000000001'"),
                     0);
    fx_sql(env->db, "UPDATE messages SET timestamp = '2021-01-01T00:00:00Z' WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001' AND ordinal = 0");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CLAUDE_A)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static void diff_raced_wins_over_skew(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    make_incremental_claude(env);
    fx_sql(env->db, "UPDATE messages SET timestamp = '2021-01-01T00:00:00Z' WHERE session_id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000001' AND ordinal = 0");
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    write_live(p);
    free(p);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CLAUDE_A)->cls, PD_CLASS_RACED);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(r->totals.incremental_skew, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
}

static const char *const CODEX_ID = "codex:0199aaaa-bbbb-7ccc-8ddd-000000000001";

static void diff_codex_index_skew_does_not_mask_drift(void **state)
{
    fx_env *env = *state;
    write_three(env);
    fx_codex_set_title(env, CODEX_A, "Tests");
    char *p = fx_codex_path(env, "2026/02/01", CODEX_A);
    char *idx = fx_codex_index_path(env);
    int64_t past = fx_now_ns() - 10 * HOUR_NS;
    fx_set_mtime_ns(p, past);
    fx_set_mtime_ns(idx, past);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    fx_set_mtime_ns(idx, fx_now_ns());
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CODEX_ID)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(p);
    free(idx);
}

static void diff_codex_transcript_rewrite_below_index_mtime_is_raced(void **state)
{
    fx_env *env = *state;
    write_three(env);
    fx_codex_set_title(env, CODEX_A, "Tests");
    char *p = fx_codex_path(env, "2026/02/01", CODEX_A);
    char *idx = fx_codex_index_path(env);
    int64_t now = fx_now_ns();
    fx_set_mtime_ns(p, now - 4 * HOUR_NS);
    fx_set_mtime_ns(idx, now - 2 * HOUR_NS);
    sync_env(env);
    assert_int_equal(fx_sql_int(env->db, "SELECT file_mtime FROM sessions WHERE id = "
                                         "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'"),
                     now - 2 * HOUR_NS);

    /* A different transcript (other size) whose mtime stays below the stored,
     * index-folded mtime. */
    char *c = fx_codex_basic(CODEX_A, "Run only the slow tests please.");
    fx_write(p, c);
    free(c);
    fx_set_mtime_ns(p, now - 3 * HOUR_NS);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, CODEX_ID);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_RACED);
    assert_int_equal(r->n_field_counts, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(p);
    free(idx);
}

static void diff_codex_incremental_append_does_not_look_raced(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_codex_path(env, "2026/02/01", CODEX_A);
    char *more = fx_codex_append_exchange(1);
    fx_append(p, more);
    free(more);
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.sessions_incremental, 1);
    pd_sync_stats_free(&st);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CODEX_ID)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* A stale hash from an older write proves nothing and stays changed. */
    char *old_hash = fx_sql_text(env->db, "SELECT file_hash FROM sessions WHERE id = "
                                          "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    assert_non_null(old_hash);
    fx_sql(env->db, "UPDATE sessions SET file_hash = "
                    "'0000000000000000000000000000000000000000000000000000000000000000' WHERE id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CODEX_ID)->cls, PD_CLASS_CHANGED);
    pd_diff_report_free(r);
    free(old_hash);
    free(p);
}

static void diff_codex_partial_tail_does_not_look_raced(void **state)
{
    fx_env *env = *state;
    write_three(env);
    char *p = fx_codex_path(env, "2026/02/01", CODEX_A);
    fx_append(p, "{\"timestamp\":\"2026-02-01T09:00:07.000Z\",\"type\":\"response_it");
    sync_env(env);
    size_t len = 0;
    free(fx_read(p, &len));
    assert_int_equal(fx_sql_int(env->db, "SELECT file_size FROM sessions WHERE id = "
                                         "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'"),
                     (int64_t)len);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'codex:0199aaaa-bbbb-7ccc-8ddd-000000000001'");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, CODEX_ID)->cls, PD_CLASS_CHANGED);
    pd_diff_report_free(r);
    free(p);
}

static void diff_claude_presence_sweep(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    char *sql = fx_fmt("INSERT INTO sessions (id, project, agent, file_path, data_version, "
                       "relationship_type) VALUES ('%s-fork1', 'orbit', 'claude', '%s', 90, 'fork'), "
                       "('%s-stale', 'orbit', 'claude', '%s', 0, '')",
                       CLAUDE_A, p, CLAUDE_A, p);
    fx_sql(env->db, sql);
    free(sql);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    char *fork = fx_fmt("%s-fork1", CLAUDE_A);
    char *stale = fx_fmt("%s-stale", CLAUDE_A);
    const pd_diff_entry *e = fx_entry(r, fork);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_CHANGED);
    assert_true(fx_has_field(e, "presence"));
    e = fx_entry(r, stale);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_PENDING_RESYNC);
    assert_string_equal(e->reason, "stale row; parser no longer emits this ID");
    assert_int_equal(fx_field_count(r, "presence"), 1);
    pd_diff_report_free(r);
    free(fork);
    free(stale);
    free(p);
}

/*
 * A stored fork that its transcript no longer contains is raced while the
 * transcript is newer than every row stored from it, because a line the
 * agent wrote after the sync can turn a forked transcript linear. Once the
 * newest row matches the transcript, the loss is a change, and a sync
 * marks the fork deleted.
 */
static void diff_presence_loss_after_write_is_raced(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
    char *sql = fx_fmt("CREATE TEMP TABLE fork AS SELECT * FROM sessions WHERE id = '%s';"
                       "UPDATE fork SET id = id || '-fork1', relationship_type = 'fork';"
                       "INSERT INTO sessions SELECT * FROM fork;",
                       CLAUDE_A);
    fx_sql(env->db, sql);
    free(sql);
    char *fork = fx_fmt("%s-fork1", CLAUDE_A);
    int64_t synced_mtime = fx_mtime_ns(p);

    /* Nothing was written since the sync, so the parse itself lost the fork. */
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, fork)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* A turn appended within the clock tick of the sync's read: the size shows the write. */
    char *turn = fx_claude_append_exchange(CLAUDE_A, "p5", 6);
    fx_append(p, turn);
    free(turn);
    fx_set_mtime_ns(p, synced_mtime);
    r = fx_diff(env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, fork);
    assert_int_equal(e->cls, PD_CLASS_RACED);
    assert_string_equal(e->reason, "source file changed after snapshot (live-write skew)");
    assert_true(fx_has_field(e, "presence"));
    assert_int_equal(r->totals.changed, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* The same write with a later mtime. */
    fx_set_mtime_ns(p, synced_mtime + 2000000000LL);
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, fork)->cls, PD_CLASS_RACED);
    assert_int_equal(r->totals.changed, 0);
    pd_diff_report_free(r);

    /* Once the newest row describes the transcript as it is, the loss is a change. */
    size_t len = 0;
    free(fx_read(p, &len));
    sql = fx_fmt("UPDATE sessions SET file_size = %zu, file_mtime = %lld WHERE id = '%s'", len,
                 (long long)fx_mtime_ns(p), CLAUDE_A);
    fx_sql(env->db, sql);
    free(sql);
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, fork)->cls, PD_CLASS_CHANGED);
    assert_true(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* A sync writes the transcript and marks the fork it no longer contains deleted. */
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.forks_tombstoned, 1);
    pd_sync_stats_free(&st);
    sql = fx_fmt("SELECT deletion_cause = 'source_missing' AND deleted_at IS NOT NULL FROM "
                 "sessions WHERE id = '%s'",
                 fork);
    assert_int_equal(fx_sql_int(env->db, sql), 1);
    free(sql);
    r = fx_diff(env, NULL, 0, 0);
    e = fx_entry(r, fork);
    assert_int_equal(e->cls, PD_CLASS_SKIPPED);
    assert_string_equal(e->reason, "trashed");
    assert_int_equal(r->totals.changed, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(fork);
    free(p);
}

typedef struct concurrent_write {
    const fx_env *env;
} concurrent_write;

/* Plays a sync committing to a row between the snapshot and the parse. */
static void commit_after_snapshot(void *ctx)
{
    concurrent_write *cw = ctx;
    fx_sql(cw->env->db, "UPDATE sessions SET first_message = 'rewritten', file_mtime = file_mtime "
                        "- 1000 WHERE id = '11111111-aaaa-4aaa-8aaa-000000000001'");
}

static void diff_archive_change_during_run_is_raced(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'drift' WHERE id = "
                    "'11111111-aaaa-4aaa-8aaa-000000000002'");

    concurrent_write cw = {.env = env};
    pd_engine_config cfg = {.db_path = env->db, .roots = env->roots, .n_roots = 2, .n_threads = 2};
    pd_engine *e = NULL;
    pd_err err = {0};
    assert_int_equal(pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err), PD_OK);
    pd_diff_options opts = {.after_snapshot = commit_after_snapshot, .after_snapshot_ctx = &cw};
    pd_diff_report *r = NULL;
    assert_int_equal(pd_engine_diff(e, &opts, &r, &err), PD_OK);
    pd_engine_free(e);

    const pd_diff_entry *moved = fx_entry(r, CLAUDE_A);
    assert_non_null(moved);
    assert_int_equal(moved->cls, PD_CLASS_RACED);
    assert_string_equal(moved->reason, "archive changed during run");
    /* Drift on a row nobody wrote during the run is still a change. */
    assert_int_equal(fx_entry(r, CLAUDE_B)->cls, PD_CLASS_CHANGED);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(r->totals.changed, 1);
    pd_diff_report_free(r);
}

static void diff_reports_phase_timings(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    pd_engine_config cfg = {.db_path = env->db, .roots = env->roots, .n_roots = 2, .n_threads = 2};
    pd_engine *e = NULL;
    pd_err err = {0};
    assert_int_equal(pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err), PD_OK);
    pd_diff_options opts = {.timings = true};
    pd_diff_report *r = NULL;
    assert_int_equal(pd_engine_diff(e, &opts, &r, &err), PD_OK);
    pd_engine_free(e);

    assert_true(r->timings.enabled);
    assert_true(r->timings.total_ms > 0);
    assert_true(r->timings.parse_ms > 0);
    assert_true(r->timings.total_ms >= r->timings.snapshot_ms);
    char *json = fx_report_json(r);
    assert_non_null(strstr(json, "\"timings\": {"));
    assert_non_null(strstr(json, "\"stored_reads\": "));
    free(json);
    pd_diff_report_free(r);

    /* Without the option the JSON keeps its usual keys. */
    r = fx_diff(env, NULL, 0, 0);
    json = fx_report_json(r);
    assert_null(strstr(json, "\"timings\""));
    free(json);
    pd_diff_report_free(r);
}

static void diff_report_identical_across_thread_counts(void **state)
{
    fx_env *env = *state;
    write_three(env);
    fx_write_rich_sessions(env, "44444444", "-home-tess-src-orbit", 12, "Thread count test.");
    sync_env(env);
    fx_sql(env->db, "UPDATE sessions SET first_message = 'x' WHERE id LIKE '44444444%0'");
    fx_sql(env->db, "UPDATE messages SET model = 'y' WHERE session_id LIKE '44444444%1'");

    char *reference = NULL;
    const unsigned counts[] = {0, 1, 4};
    for (size_t i = 0; i < 3; i++) {
        env->threads = counts[i];
        pd_diff_report *r = fx_diff(env, NULL, 0, 0);
        char *json = fx_report_json(r);
        if (reference == NULL)
            reference = json;
        else {
            assert_string_equal(reference, json);
            free(json);
        }
        pd_diff_report_free(r);
    }
    free(reference);
}

/* A diff of sources outside the page cache (read ahead by the collector) matches a cached diff. */
static void diff_report_identical_from_uncached_sources(void **state)
{
    fx_env *env = *state;
    write_three(env);
    fx_write_rich_sessions(env, "55555555", "-home-tess-src-cold", 40, "Read me from the disk.");
    sync_env(env);
    fx_sql(env->db, "UPDATE messages SET model = 'y' WHERE session_id LIKE '55555555%7'");

    env->threads = 2;
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    char *cached = fx_report_json(r);
    assert_int_equal(r->totals.changed, 4);
    pd_diff_report_free(r);

    assert_int_equal(fx_drop_page_cache(env), 43);
    r = fx_diff(env, NULL, 0, 0);
    char *uncached = fx_report_json(r);
    assert_string_equal(cached, uncached);
    pd_diff_report_free(r);
    free(cached);
    free(uncached);
}

static void diff_opens_archive_with_extra_columns(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    fx_sql(env->db, "ALTER TABLE sessions ADD COLUMN some_future_column TEXT DEFAULT 'x';"
                    "ALTER TABLE messages ADD COLUMN another_one INTEGER;"
                    "CREATE TABLE IF NOT EXISTS pinned_messages (id INTEGER PRIMARY KEY, note TEXT);");
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.identical, 3);
    pd_diff_report_free(r);
}

static void diff_real_corpus_is_identical_after_sync(void **state)
{
    fx_env *env = *state;
    const char *shared = getenv("PD_SHARED_DIR");
    assert_non_null(shared);
    char *claude = fx_fmt("%s/corpus/real/claude/projects", shared);
    char *codex = fx_fmt("%s/corpus/real/codex/sessions", shared);
    if (access(claude, R_OK) != 0)
        fail_msg("the real corpus is missing at %s", claude);
    env->roots[0].root = claude;
    env->roots[1].root = codex;

    pd_sync_stats st;
    fx_sync(env, &st);
    for (size_t i = 0; i < st.n_errors; i++)
        print_error("sync failed: %s\n", st.errors[i].message);
    assert_int_equal(st.files_failed, 0);
    assert_true(st.sessions_full > 0);
    pd_sync_stats_free(&st);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    /* One Codex rollout of the corpus replays a parent that the corpus lacks. */
    assert_int_equal(r->totals.transient_needs_retry, 1);
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].cls != PD_CLASS_NEEDS_RETRY)
            continue;
        assert_non_null(r->sessions[i].reason);
        assert_non_null(strstr(r->sessions[i].reason, "parent rollout"));
    }
    for (size_t i = 0; i < r->n_sessions; i++)
        print_error("not identical: %s %s %s\n", pd_diff_class_name(r->sessions[i].cls),
                    r->sessions[i].session_id != NULL ? r->sessions[i].session_id : "-",
                    r->sessions[i].n_fields > 0 ? r->sessions[i].fields[0].field : "");
    assert_true(r->totals.examined > 0);
    assert_int_equal(r->totals.identical, r->totals.examined);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.new_on_disk, 0);
    pd_diff_report_free(r);
    env->roots[0].root = env->claude_root;
    env->roots[1].root = env->codex_root;
    free(claude);
    free(codex);
}

/* One line of a forked Claude transcript: uuid "f<n>", parent "f<parent>" (or none below 0). */
static char *fork_line(int n, int parent, const char *text)
{
    char parent_json[16];
    if (parent < 0)
        snprintf(parent_json, sizeof parent_json, "null");
    else
        snprintf(parent_json, sizeof parent_json, "\"f%d\"", parent);
    const char *common = "\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\"/home/me/app\","
                         "\"sessionId\":\"5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f\","
                         "\"version\":\"2.1.88\",\"gitBranch\":\"main\"";
    if (n % 2 == 0)
        return fx_fmt("{\"parentUuid\":%s,%s,\"type\":\"user\",\"message\":{\"role\":\"user\","
                      "\"content\":\"%s\"},\"uuid\":\"f%d\",\"timestamp\":"
                      "\"2026-11-01T10:%02d:00.000Z\"}\n",
                      parent_json, common, text, n, n);
    return fx_fmt("{\"parentUuid\":%s,%s,\"type\":\"assistant\",\"requestId\":\"req_f%d\","
                  "\"message\":{\"id\":\"msg_f%d\",\"type\":\"message\",\"role\":\"assistant\","
                  "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\","
                  "\"text\":\"%s\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":10,"
                  "\"output_tokens\":20}},\"uuid\":\"f%d\",\"timestamp\":"
                  "\"2026-11-01T10:%02d:00.000Z\"}\n",
                  parent_json, common, n, n, text, n, n);
}

/* Appends the lines (uuid number, parent number, text) to path. */
static void append_fork_lines(const char *path, const int (*tree)[2], const char *const *texts,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *line = fork_line(tree[i][0], tree[i][1], texts[i]);
        fx_append(path, line);
        free(line);
    }
}

/* The lines of the forked transcript used below: f0 f1, the main line f2..f11, a branch f20..f23.
 */
static const int fork_tree[][2] = {{0, -1}, {1, 0},   {2, 1},   {3, 2},  {4, 3},  {5, 4},
                                   {6, 5},  {7, 6},   {8, 7},   {9, 8},  {10, 9}, {11, 10},
                                   {20, 1}, {21, 20}, {22, 21}, {23, 22}};
static const char *const fork_texts[] = {
    "Set up the project", "Done.",         "Main step 1", "Main reply 1",
    "Main step 2",        "Main reply 2",  "Main step 3", "Main reply 3",
    "Main step 4",        "Main reply 4",  "Main step 5", "Main reply 5",
    "Other way 1",        "Other reply 1", "Other way 2", "Other reply 2"};

/*
 * A forked transcript (the user rewound to an early turn and went on, so
 * one file contains two sessions) that the agent writes to after the sync:
 * a live write, so raced, never changed.
 */
static void diff_forked_transcript_written_after_sync_is_raced(void **state)
{
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f");
    fx_write(path, "");
    append_fork_lines(path, fork_tree, fork_texts, 16);
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.sessions_full, 2);
    pd_sync_stats_free(&st);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.identical, 2);
    pd_diff_report_free(r);

    static const int more[][2] = {{24, 23}, {25, 24}};
    static const char *const more_texts[] = {"Other way again", "Other reply again"};
    append_fork_lines(path, more, more_texts, 2);
    fx_set_mtime_ns(path, fx_mtime_ns(path) + 2000000000LL);

    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_true(r->totals.raced >= 1);
    assert_int_equal(r->totals.raced + r->totals.identical, 2);
    pd_diff_report_free(r);
    free(path);
}

/* Writes the first n lines of the forked transcript to path. */
static void write_fork_lines(const char *path, size_t n)
{
    fx_write(path, "");
    append_fork_lines(path, fork_tree, fork_texts, n);
}

/* Syncs and returns how many stored forks the sync marked deleted. */
static int64_t sync_tombstoned(fx_env *env);

/* The same under a project directory whose name the archive stores sanitised. */
static void sync_marks_lost_fork_deleted_unclean_dir(void **state)
{
    fx_env *env = *state;
    char *path =
        fx_claude_path(env, "-home-me-caf\xe9\x1b", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f");
    write_fork_lines(path, 16);
    assert_int_equal(sync_tombstoned(env), 0);
    write_fork_lines(path, 12);
    assert_int_equal(sync_tombstoned(env), 1);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.raced, 0);
    assert_int_equal(r->totals.identical, 1);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(path);
}

/* Syncs and returns how many stored forks the sync marked deleted. */
static int64_t sync_tombstoned(fx_env *env)
{
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    int64_t n = st.forks_tombstoned;
    pd_sync_stats_free(&st);
    return n;
}

/*
 * A transcript cut back to before its branch no longer contains the fork: sync
 * marks the fork's row deleted, and revives it when the branch is back. A
 * lost fork of an older data version is excluded in diff, as bound for
 * that mark, not changed.
 */
static void sync_marks_lost_fork_deleted(void **state)
{
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f");
    write_fork_lines(path, 16);
    assert_int_equal(sync_tombstoned(env), 0);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM sessions WHERE "
                                         "relationship_type = 'fork' AND deleted_at IS NULL"),
                     1);

    write_fork_lines(path, 12);
    assert_int_equal(sync_tombstoned(env), 1);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM sessions WHERE relationship_type "
                                         "= 'fork' AND deletion_cause = 'source_missing'"),
                     1);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.identical, 1);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);

    /* A second sync finds nothing more to mark, and the branch brings the fork back. */
    assert_int_equal(sync_tombstoned(env), 0);
    write_fork_lines(path, 16);
    assert_int_equal(sync_tombstoned(env), 0);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM sessions WHERE deleted_at IS NOT "
                                         "NULL OR deletion_cause IS NOT NULL"),
                     0);
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.identical, 2);
    assert_int_equal(r->totals.skipped, 0);
    pd_diff_report_free(r);

    /* Written by an older parser, the lost fork is bound for the mark. */
    write_fork_lines(path, 12);
    fx_sql(env->db, "UPDATE sessions SET data_version = 89 WHERE relationship_type = 'fork'");
    r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.excluded_by_parser, 1);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.raced, 1);
    assert_false(pd_diff_report_has_failures(r));
    bool found = false;
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls == PD_CLASS_EXCLUDED_BY_PARSER) {
            assert_string_equal(e->reason, "member source missing (would tombstone)");
            assert_string_equal(e->file_path, path);
            found = true;
        }
    }
    assert_true(found);
    pd_diff_report_free(r);
    assert_int_equal(sync_tombstoned(env), 1);
    free(path);
}

/*
 * Only a fork stored from the cut transcript, as a local session, is marked:
 * not one that a copy of the transcript elsewhere still contains, not a remote
 * session, and not one the parser excludes on purpose.
 */
static void sync_marks_only_forks_of_the_file(void **state)
{
    fx_env *env = *state;
    const char *uuid = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f";
    char *path = fx_claude_path(env, "-home-me-app", uuid);
    write_fork_lines(path, 16);
    sync_tombstoned(env);
    char *fork = fx_sql_text(env->db, "SELECT id FROM sessions WHERE relationship_type = 'fork'");

    /*
     * The fork's row names a copy that is cut back, while the original, read
     * first (inline, in path order) and written again because its mtime
     * moved, still contains the fork and takes the row back. The copy's write
     * then finds the row naming another file.
     */
    char *copy = fx_claude_path(env, "-home-me-app0", uuid);
    write_fork_lines(copy, 12);
    char *sql = fx_fmt("UPDATE sessions SET file_path = '%s' WHERE id = '%s'", copy, fork);
    fx_sql(env->db, sql);
    free(sql);
    fx_set_mtime_ns(path, fx_mtime_ns(path) + 2000000000LL);
    int threads = env->threads;
    env->threads = 0;
    sync_tombstoned(env);
    env->threads = threads;
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s' AND deleted_at IS NULL", fork);
    assert_int_equal(fx_sql_int(env->db, sql), 1);
    free(sql);
    unlink(copy);

    /* A remote session with the same path, and a fork the parser excludes. */
    write_fork_lines(path, 16);
    sync_tombstoned(env);
    sql = fx_fmt("CREATE TEMP TABLE remote AS SELECT * FROM sessions WHERE id = '%s';"
                 "UPDATE remote SET id = 'laptop~' || id;"
                 "INSERT INTO sessions SELECT * FROM remote;",
                 fork);
    fx_sql(env->db, sql);
    free(sql);
    write_fork_lines(path, 12);
    /* Even stored by an older parser, diff does not call it bound for the mark. */
    fx_sql(env->db, "UPDATE sessions SET data_version = 89 WHERE id LIKE 'laptop~%'");
    pd_diff_report *remote = fx_diff(env, NULL, 0, 0);
    assert_int_equal(remote->totals.excluded_by_parser, 0);
    pd_diff_report_free(remote);
    assert_int_equal(sync_tombstoned(env), 1);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM sessions WHERE id LIKE 'laptop~%' "
                                         "AND deleted_at IS NULL"),
                     1);

    /* The branch is back as a "/usage" probe alone, which the parser excludes. */
    const char *probe_texts[16];
    memcpy(probe_texts, fork_texts, sizeof probe_texts);
    probe_texts[12] = "/usage";
    fx_write(path, "");
    append_fork_lines(path, fork_tree, probe_texts, 14);
    sql = fx_fmt("UPDATE sessions SET deleted_at = NULL, deletion_cause = NULL WHERE id = '%s'",
                 fork);
    fx_sql(env->db, sql);
    free(sql);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(fx_entry(r, fork)->cls, PD_CLASS_EXCLUDED_BY_PARSER);
    pd_diff_report_free(r);
    assert_int_equal(sync_tombstoned(env), 0);
    free(fork);
    free(copy);
    free(path);
}

/* A stored fork whose agent is NULL (an archive of a looser schema) is no provider's. */
static void diff_lost_fork_without_agent(void **state)
{
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f");
    write_fork_lines(path, 16);
    sync_tombstoned(env);
    fx_sql(env->db,
           "PRAGMA writable_schema = ON;"
           "UPDATE sqlite_schema SET sql = replace(sql, 'agent TEXT NOT NULL', 'agent TEXT')"
           " WHERE name = 'sessions';");
    fx_sql(env->db, "UPDATE sessions SET agent = NULL WHERE relationship_type = 'fork'");
    write_fork_lines(path, 12);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 1);
    assert_int_equal(fx_field_count(r, "presence"), 1);
    pd_diff_report_free(r);
    free(path);
}

/* Returns a copy of s with the first from replaced by to (which must occur). */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    return fx_fmt("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/*
 * A retry (a rewind after two turns) leaves the file a tree whose old turns
 * the parse discards. A response appended over two lines (one message.id)
 * then makes a full parse read the file as one chain, old turns included,
 * so sync must not take the append path: diff stays clean.
 */
static void sync_full_write_when_chunks_end_a_tree(void **state)
{
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f");
    write_fork_lines(path, 6);
    sync_tombstoned(env);
    static const int retry[][2] = {{30, 1}, {31, 30}, {32, 31}};
    static const char *const retry_texts[] = {"Try again", "Retried", "Go on"};
    append_fork_lines(path, retry, retry_texts, 3);
    sync_tombstoned(env);

    /* Two lines of one response, uuid r1 and then f33, both of message msg_f33. */
    char *head = fork_line(33, 32, "Part one");
    char *tail = fork_line(33, 32, "Part two");
    char *first = replace_once(head, "\"uuid\":\"f33\"", "\"uuid\":\"r1\"");
    char *second = replace_once(tail, "\"parentUuid\":\"f32\"", "\"parentUuid\":\"r1\"");
    fx_append(path, first);
    fx_append(path, second);

    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.sessions_incremental, 0);
    assert_int_equal(st.sessions_full, 1);
    pd_sync_stats_free(&st);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.identical, 1);
    pd_diff_report_free(r);
    free(head);
    free(tail);
    free(first);
    free(second);
    free(path);
}

/* An append that a full write would store otherwise: sync writes the file in full. */
typedef struct append_case {
    const char *name;
    const char *initial;
    const char *appended;
} append_case;

#define USER_GO                                                                                    \
    "{\"type\":\"user\",\"uuid\":\"u1\",\"parentUuid\":null,\"timestamp\":"                        \
    "\"2025-01-01T10:00:00Z\",\"message\":{\"role\":\"user\",\"content\":\"go\"}}\n"
#define BASH_CALL(uuid, parent, ts, id, msg, cmd)                                                  \
    "{\"type\":\"assistant\",\"uuid\":\"" uuid "\",\"parentUuid\":\"" parent                       \
    "\",\"timestamp\":\"" ts "\",\"message\":{\"id\":\"" msg                                       \
    "\",\"role\":\"assistant\",\"model\":\"m\",\"content\":"                                       \
    "[{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"Bash\",\"input\":{\"command\":\"" cmd    \
    "\"}}]}}\n"
#define BASH_RESULT(uuid, parent, ts, id, text)                                                    \
    "{\"type\":\"user\",\"uuid\":\"" uuid "\",\"parentUuid\":\"" parent "\",\"timestamp\":\"" ts   \
    "\",\"message\":{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"    \
    "\"" id "\",\"content\":\"" text "\"}]}}\n"

#define USER_SAY(uuid, parent, ts, text)                                                           \
    "{\"type\":\"user\",\"uuid\":\"" uuid "\",\"parentUuid\":\"" parent "\",\"timestamp\":\"" ts   \
    "\",\"message\":{\"role\":\"user\",\"content\":\"" text "\"}}\n"
#define ASSISTANT_SAY(uuid, parent, ts, msg, text)                                                 \
    "{\"type\":\"assistant\",\"uuid\":\"" uuid "\",\"parentUuid\":\"" parent                       \
    "\",\"timestamp\":\"" ts "\",\"message\":{\"id\":\"" msg                                       \
    "\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"" text   \
    "\"}],\"usage\":{\"input_tokens\":3,\"output_tokens\":5}}}\n"
#define QUEUED(ts_json)                                                                            \
    "{\"type\":\"attachment\",\"timestamp\":" ts_json ",\"attachment\":{\"type\":"                 \
    "\"queued_command\",\"prompt\":\"and the changelog\"}}\n"
#define TURN_AFTER(parent)                                                                         \
    USER_SAY("u2", parent, "2025-01-01T10:00:05Z", "again")                                        \
    ASSISTANT_SAY("a2", "u2", "2025-01-01T10:00:06Z", "m2", "done")

static void sync_full_write_when_append_diverges(void **state)
{
    static const append_case cases[] = {
        {"a line timed after 2100", USER_GO,
         "{\"type\":\"system\",\"timestamp\":\"2101-01-01T00:00:00Z\",\"content\":\"x\"}\n"},
        {"a line timed before 2000", USER_GO,
         "{\"type\":\"system\",\"timestamp\":\"1999-12-31T00:00:00Z\",\"content\":\"x\"}\n"},
        {"a stored row whose end time was blanked",
         USER_GO "{\"type\":\"system\",\"timestamp\":\"2101-01-01T00:00:00Z\",\"content\":\"x\"}\n",
         "{\"type\":\"user\",\"uuid\":\"u2\",\"parentUuid\":\"u1\",\"timestamp\":"
         "\"2025-01-01T10:00:05Z\",\"message\":{\"role\":\"user\",\"content\":\"more\"}}\n"},
        {"a stored row whose start time was blanked",
         "{\"type\":\"system\",\"timestamp\":\"1999-12-31T00:00:00Z\",\"content\":\"x\"}\n" USER_GO,
         "{\"type\":\"user\",\"uuid\":\"u2\",\"parentUuid\":\"u1\",\"timestamp\":"
         "\"2025-01-01T10:00:05Z\",\"message\":{\"role\":\"user\",\"content\":\"more\"}}\n"},
        {"a call id used again",
         USER_GO BASH_CALL("a1", "u1", "2025-01-01T10:00:01Z", "t1", "m1", "ls")
             BASH_RESULT("u2", "a1", "2025-01-01T10:00:02Z", "t1", "first"),
         BASH_CALL("a2", "u2", "2025-01-01T10:00:03Z", "t1", "m2", "pwd")
             BASH_RESULT("u3", "a2", "2025-01-01T10:00:04Z", "t1", "second!")},
        {"a turn appended twice",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi"),
         TURN_AFTER("a1") TURN_AFTER("a2")},
        {"the uuid of a stored meta line used again",
         USER_GO "{\"type\":\"user\",\"uuid\":\"m1\",\"parentUuid\":\"u1\",\"isMeta\":true,"
                 "\"timestamp\":\"2025-01-01T10:00:00.5Z\",\"message\":{\"role\":\"user\","
                 "\"content\":\"meta text\"}}\n" ASSISTANT_SAY("a1", "m1", "2025-01-01T10:00:01Z",
                                                               "m1", "hi"),
         USER_SAY("m1", "a1", "2025-01-01T10:00:02Z", "second prompt")
             ASSISTANT_SAY("a2", "m1", "2025-01-01T10:00:03Z", "m2", "ok")},
        {"a queued prompt appended alone, timed before a stored message",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi")
             USER_SAY("u2", "a1", "2025-01-01T10:01:00Z", "more"),
         "{\"type\":\"attachment\",\"uuid\":\"q1\",\"parentUuid\":\"u2\",\"timestamp\":"
         "\"2025-01-01T10:00:59Z\",\"attachment\":{\"type\":\"queued_command\",\"prompt\":"
         "\"and the changelog\"}}\n"},
        {"a queued prompt appended alone, timed before a row the writer drops",
         USER_GO BASH_CALL("a1", "u1", "2025-01-01T10:00:10Z", "t1", "m1", "ls")
             BASH_RESULT("u2", "a1", "2025-01-01T10:00:20Z", "t1", "done"),
         QUEUED("\"2025-01-01T10:00:15Z\"")},
        {"a message appended after a stored queued prompt without a time",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi") QUEUED("null"),
         TURN_AFTER("a1")},
        {"a message appended after a stored queued prompt timed later",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi")
             QUEUED("\"2025-01-01T10:00:30Z\""),
         TURN_AFTER("a1")},
        {"a message appended after a stored queued prompt, in a file without uuids",
         "{\"type\":\"user\",\"timestamp\":\"2025-01-01T10:00:00Z\",\"message\":{\"role\":"
         "\"user\",\"content\":\"go\"}}\n" QUEUED("null"),
         "{\"type\":\"user\",\"timestamp\":\"2025-01-01T10:00:05Z\",\"message\":{\"role\":"
         "\"user\",\"content\":\"again\"}}\n"},
        {"a stored uuid written with an escape used again",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi")
             USER_SAY("u\\u0032", "a1", "2025-01-01T10:00:05Z", "again")
                 ASSISTANT_SAY("a2", "u2", "2025-01-01T10:00:06Z", "m2", "done"),
         USER_SAY("u2", "a2", "2025-01-01T10:00:07Z", "once more")
             ASSISTANT_SAY("a3", "u2", "2025-01-01T10:00:08Z", "m3", "ok")},
        {"a stored uuid used again",
         USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi") TURN_AFTER("a1"),
         USER_SAY("u2", "a2", "2025-01-01T10:00:07Z", "once more")
             ASSISTANT_SAY("a3", "u2", "2025-01-01T10:00:08Z", "m3", "ok")},
    };
    fx_env *env = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char uuid[40];
        snprintf(uuid, sizeof uuid, "19191919-0000-4000-8000-%012zu", i);
        char *path = fx_claude_path(env, "-home-me-app", uuid);
        fx_write(path, cases[i].initial);
        pd_sync_stats st;
        fx_sync(env, &st);
        pd_sync_stats_free(&st);

        fx_append(path, cases[i].appended);
        fx_sync(env, &st);
        if (st.sessions_incremental != 0 || st.sessions_full != 1)
            fail_msg("%s: %lld incremental, %lld full writes", cases[i].name,
                     (long long)st.sessions_incremental, (long long)st.sessions_full);
        pd_sync_stats_free(&st);
        pd_diff_report *r = fx_diff(env, NULL, 0, 0);
        if (r->totals.changed != 0 || pd_diff_report_has_failures(r))
            fail_msg("%s: diff after the sync fails the gate", cases[i].name);
        pd_diff_report_free(r);
        free(path);
    }
}

/* Appends each of appends to path in turn and expects an incremental write and a clean diff. */
static void expect_appends_incremental(fx_env *env, const char *path, const char *const *appends,
                                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fx_append(path, appends[i]);
        pd_sync_stats st;
        fx_sync(env, &st);
        if (st.sessions_incremental != 1 || st.sessions_full != 0)
            fail_msg("append %zu: %lld incremental, %lld full writes", i,
                     (long long)st.sessions_incremental, (long long)st.sessions_full);
        pd_sync_stats_free(&st);
        pd_diff_report *r = fx_diff(env, NULL, 0, 0);
        assert_int_equal(r->totals.changed, 0);
        assert_int_equal(r->totals.identical, 1);
        pd_diff_report_free(r);
    }
}

/*
 * A prompt with two IDE elements gives messages that share one uuid. That is
 * no repeat of an entry, so its transcript keeps the append path, stored or
 * appended.
 */
static void sync_appends_prompt_with_two_ide_elements(void **state)
{
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "29292929-0000-4000-8000-000000000001");
#define IDE_PROMPT(uuid, parent, ts)                                                               \
    "{\"type\":\"user\",\"uuid\":\"" uuid "\",\"parentUuid\":\"" parent "\",\"timestamp\":\"" ts   \
    "\",\"message\":{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"                  \
    "\"<ide_opened_file>The user opened a.go</ide_opened_file>\"},{\"type\":\"text\",\"text\":"    \
    "\"<ide_selection>The user selected lines 1 to 2</ide_selection>\"},{\"type\":\"text\","       \
    "\"text\":\"rename it\"}]}}\n"
    fx_write(path, USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi"));
    pd_sync_stats st;
    fx_sync(env, &st);
    pd_sync_stats_free(&st);

    static const char *const appends[] = {
        IDE_PROMPT("u2", "a1", "2025-01-01T10:00:02Z")
            ASSISTANT_SAY("a2", "u2", "2025-01-01T10:00:03Z", "m2", "done"),
        USER_SAY("u3", "a2", "2025-01-01T10:00:04Z", "next")
            ASSISTANT_SAY("a3", "u3", "2025-01-01T10:00:05Z", "m3", "ok"),
    };
#undef IDE_PROMPT
    expect_appends_incremental(env, path, appends, sizeof appends / sizeof appends[0]);
    free(path);
}

/*
 * Claude Code writes a file-history-snapshot that names the next prompt's
 * uuid as its messageId just before that prompt. Only a "uuid" key of the
 * stored bytes counts as a repeat, so the prompt still takes the append path.
 */
static void sync_appends_after_snapshot_naming_next_uuid(void **state)
{
    static const char snapshot[] =
        "{\"type\":\"file-history-snapshot\",\"messageId\":\"u2\",\"snapshot\":{\"messageId\":"
        "\"u2\",\"trackedFileBackups\":{},\"timestamp\":\"2025-01-01T10:00:02Z\"},"
        "\"isSnapshotUpdate\":false}\n";
    fx_env *env = *state;
    char *path = fx_claude_path(env, "-home-me-app", "29292929-0000-4000-8000-000000000002");
    fx_write(path, USER_GO ASSISTANT_SAY("a1", "u1", "2025-01-01T10:00:01Z", "m1", "hi"));
    fx_append(path, snapshot);
    pd_sync_stats st;
    fx_sync(env, &st);
    pd_sync_stats_free(&st);

    static const char *const appends[] = {
        USER_SAY("u2", "a1", "2025-01-01T10:00:02Z", "next")
            ASSISTANT_SAY("a2", "u2", "2025-01-01T10:00:03Z", "m2", "ok")};
    expect_appends_incremental(env, path, appends, 1);
    free(path);
}

/* A Codex line appended with a time after 2100: the append would keep the end time a full
 * write blanks, so sync writes the rollout in full. */
static void sync_full_write_when_codex_append_ends_late(void **state)
{
    fx_env *env = *state;
    write_three(env);
    sync_env(env);
    char *p = fx_codex_path(env, "2026/02/01", CODEX_A);
    fx_append(p, "{\"timestamp\":\"2101-04-10T16:02:00Z\",\"type\":\"response_item\",\"payload\":"
                 "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                 "\"text\":\"one more\"}]}}\n");
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.sessions_incremental, 0);
    assert_int_equal(st.sessions_full, 1);
    pd_sync_stats_free(&st);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_false(pd_diff_report_has_failures(r));
    pd_diff_report_free(r);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(diff_clean_archive_is_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_detects_stored_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_tolerates_null_stored_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_detects_extended_field_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_bypasses_skip_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_limit_takes_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_agent_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_raced_source_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_touched_source_is_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_presence_loss_touched_is_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_raced_alone_does_not_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_raced_does_not_mask_clean_run, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_unclean_path_is_compared, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_incremental_skew_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_full_write_when_append_diverges, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_appends_prompt_with_two_ide_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_appends_after_snapshot_naming_next_uuid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sync_full_write_when_codex_append_ends_late, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_incremental_marker_does_not_mask_lost_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_incremental_marker_does_not_mask_real_drift, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_full_resync_clears_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_raced_wins_over_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_codex_index_skew_does_not_mask_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_codex_transcript_rewrite_below_index_mtime_is_raced,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(diff_codex_incremental_append_does_not_look_raced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_codex_partial_tail_does_not_look_raced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_claude_presence_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_presence_loss_after_write_is_raced, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_archive_change_during_run_is_raced, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_reports_phase_timings, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_report_identical_from_uncached_sources, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_report_identical_across_thread_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_opens_archive_with_extra_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_reports_parser_exclusion, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_forked_transcript_written_after_sync_is_raced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sync_marks_lost_fork_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_marks_lost_fork_deleted_unclean_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_marks_only_forks_of_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_lost_fork_without_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_full_write_when_chunks_end_a_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_real_corpus_is_identical_after_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
