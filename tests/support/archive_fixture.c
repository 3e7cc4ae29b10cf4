/*
 * archive_fixture.c -- temporary archives and small sessions for tests.
 *
 * Entry points: see archive_fixture.h. Test-thread only.
 */
#include "tests/support/archive_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *afx_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    size_t n = strlen(base) + sizeof "/pd-archive-test-XXXXXX";
    char *dir = malloc(n);
    if (dir == NULL)
        fail_msg("afx_tmpdir: out of memory");
    snprintf(dir, n, "%s/pd-archive-test-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        fail_msg("afx_tmpdir: mkdtemp %s failed", dir);
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void afx_rmtree(const char *dir)
{
    if (dir != NULL)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *afx_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path == NULL)
        fail_msg("afx_path: out of memory");
    snprintf(path, n, "%s/%s", dir, name);
    return path;
}

pd_archive *afx_create_archive(const char *path)
{
    pd_archive *a = NULL;
    pd_err err = {0};
    int rc = pd_archive_open(path, PD_ARCHIVE_CREATE, &a, &err);
    if (rc != PD_OK)
        fail_msg("create archive %s: %s (%s)", path, err.msg, pd_strerror_name(rc));
    return a;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", path, db != NULL ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

void afx_sql(const char *path, const char *sql)
{
    sqlite3 *db = open_db(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", msg != NULL ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        fail_msg("SQL failed on %s: %s\n  %s", path, copy, sql);
    }
    sqlite3_close(db);
}

/* Steps a one-value query; returns the open statement positioned on the row. */
static sqlite3_stmt *query_one(sqlite3 *db, const char *path, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare failed on %s: %s\n  %s", path, sqlite3_errmsg(db), sql);
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("query returned no row on %s: %s\n  %s", path, sqlite3_errmsg(db), sql);
    return st;
}

int64_t afx_sql_int(const char *path, const char *sql)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = query_one(db, path, sql);
    if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        fail_msg("query returned NULL on %s: %s", path, sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

char *afx_sql_text(const char *path, const char *sql)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = query_one(db, path, sql);
    char *out = NULL;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        out = strdup(text != NULL ? text : "");
        if (out == NULL)
            fail_msg("afx_sql_text: out of memory");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

bool afx_sql_is_null(const char *path, const char *sql)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = query_one(db, path, sql);
    bool is_null = sqlite3_column_type(st, 0) == SQLITE_NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return is_null;
}

/* ---- sessions ----------------------------------------------------------- */

static char *checked(char *s)
{
    if (s == NULL)
        fail_msg("afx: out of memory");
    return s;
}

/* Formats one of the fixture's per-session strings from the id and a position. */
#define fmt(arena, format, id, k) checked(pd_arena_sprintf((arena), format, (id), (size_t)(k)))

static void *grow(pd_arena *arena, void *items, size_t n, size_t elem_size)
{
    void *grown = pd_arena_grow(arena, items, n, n + 1, elem_size);
    if (grown == NULL)
        fail_msg("afx: out of memory");
    return grown;
}

pd_message *afx_add_message(pd_arena *arena, pd_session *s, int64_t ordinal, const char *role,
                            const char *content)
{
    s->messages = grow(arena, s->messages, s->n_messages, sizeof *s->messages);
    pd_message *m = &s->messages[s->n_messages++];
    memset(m, 0, sizeof *m);
    m->ordinal = ordinal;
    m->role = pd_arena_strdup(arena, role);
    m->content = pd_arena_strdup(arena, content);
    m->content_length = (int64_t)strlen(content);
    m->thinking_text = "";
    m->model = "";
    m->token_usage = "";
    m->claude_message_id = "";
    m->claude_request_id = "";
    m->source_type = pd_arena_strdup(arena, role);
    m->source_subtype = "";
    m->prompt_source = "";
    m->source_uuid = "";
    m->source_parent_uuid = "";
    m->stop_reason = "";
    return m;
}

pd_tool_call *afx_add_call(pd_arena *arena, pd_message *m, const char *tool_use_id,
                           const char *tool_name, const char *category)
{
    m->tool_calls = grow(arena, m->tool_calls, m->n_tool_calls, sizeof *m->tool_calls);
    pd_tool_call *tc = &m->tool_calls[m->n_tool_calls];
    memset(tc, 0, sizeof *tc);
    tc->tool_use_id = pd_arena_strdup(arena, tool_use_id);
    tc->tool_name = pd_arena_strdup(arena, tool_name);
    tc->category = pd_arena_strdup(arena, category);
    tc->call_index = (int64_t)m->n_tool_calls;
    m->n_tool_calls++;
    m->has_tool_use = true;
    return tc;
}

pd_tool_result *afx_add_result(pd_arena *arena, pd_message *m, const char *tool_use_id,
                               const char *content)
{
    m->tool_results = grow(arena, m->tool_results, m->n_tool_results, sizeof *m->tool_results);
    pd_tool_result *r = &m->tool_results[m->n_tool_results++];
    r->tool_use_id = pd_arena_strdup(arena, tool_use_id);
    r->content = pd_arena_strdup(arena, content);
    r->content_length = (int64_t)strlen(content);
    return r;
}

pd_tool_result_event *afx_add_event(pd_arena *arena, pd_tool_call *tc, const char *agent_id,
                                    const char *content)
{
    tc->events = grow(arena, tc->events, tc->n_events, sizeof *tc->events);
    pd_tool_result_event *ev = &tc->events[tc->n_events];
    memset(ev, 0, sizeof *ev);
    ev->tool_use_id = tc->tool_use_id;
    ev->agent_id = agent_id != NULL ? pd_arena_strdup(arena, agent_id) : NULL;
    ev->source = "function_call_output";
    ev->status = "completed";
    ev->content = pd_arena_strdup(arena, content);
    ev->content_length = (int64_t)strlen(content);
    ev->event_index = (int64_t)tc->n_events;
    tc->n_events++;
    return ev;
}

pd_session *afx_session(pd_arena *arena, const char *id, const char *agent, size_t n_exchanges)
{
    pd_session *s = pd_arena_calloc(arena, 1, sizeof *s);
    if (s == NULL)
        fail_msg("afx: out of memory");
    pd_session_init(s);

    s->id = pd_arena_strdup(arena, id);
    s->agent = pd_arena_strdup(arena, agent);
    s->project = fmt(arena, "project-%s-%zu", id, 0);
    s->machine = "test-machine";
    s->agent_label = "label-a";
    s->entrypoint = "cli";
    s->session_kind = "interactive";
    s->first_message = fmt(arena, "prompt %s %zu", id, 0);
    s->session_name = fmt(arena, "name of %s %zu", id, 0);
    s->session_name_present = true;
    s->started_at = "2024-01-01T10:00:00Z";
    s->ended_at = "2024-01-01T10:05:05.5Z";
    s->file_path = fmt(arena, "/transcripts/%s-%zu.jsonl", id, 0);
    s->file_size = 4096;
    s->file_mtime = 1704103505000000000;
    s->file_inode = 77;
    s->file_device = 2049;
    s->file_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    s->claude_linear_parse = 1;
    s->parent_session_id = fmt(arena, "parent-of-%s-%zu", id, 0);
    s->relationship_type = "continuation";
    s->cwd = "/home/user/project";
    s->git_branch = "main";
    s->source_session_id = fmt(arena, "source-%s-%zu", id, 0);
    s->source_version = "2.1.0";
    s->transcript_fidelity = "";
    s->parser_malformed_lines = 2;
    s->is_truncated = true;
    s->termination_status = "awaiting_user";

    for (size_t k = 0; k < n_exchanges; k++) {
        int64_t base = (int64_t)(3 * k);
        pd_message *user =
            afx_add_message(arena, s, base, "user", fmt(arena, "prompt %s %zu", id, k));
        user->timestamp = "2024-01-01T10:00:00Z";
        user->source_uuid = fmt(arena, "uuid-%s-u%zu", id, k);
        user->prompt_source = "typed";

        pd_message *reply =
            afx_add_message(arena, s, base + 1, "assistant", fmt(arena, "reply %s %zu", id, k));
        reply->timestamp = "2024-01-01T10:00:01.25Z";
        reply->thinking_text = fmt(arena, "thinking %s %zu", id, k);
        reply->has_thinking = true;
        reply->model = "claude-sonnet-4";
        reply->token_usage = "{\"input_tokens\":100,\"output_tokens\":50}";
        reply->context_tokens = 100 + (int64_t)k;
        reply->output_tokens = 50;
        reply->has_context_tokens = true;
        reply->has_output_tokens = true;
        reply->claude_message_id = fmt(arena, "msg_%s_%zu", id, k);
        reply->claude_request_id = fmt(arena, "req_%s_%zu", id, k);
        reply->source_uuid = fmt(arena, "uuid-%s-a%zu", id, k);
        reply->source_parent_uuid = fmt(arena, "uuid-%s-u%zu", id, k);
        reply->stop_reason = "tool_use";
        const char *tool_use_id = fmt(arena, "toolu_%s_%zu", id, k);
        pd_tool_call *tc = afx_add_call(arena, reply, tool_use_id, k % 2 == 0 ? "Bash" : "Read",
                                        k % 2 == 0 ? "Bash" : "Read");
        tc->input_json = fmt(arena, "{\"command\":\"ls %s %zu\"}", id, k);
        tc->file_path = k % 2 == 0 ? NULL : fmt(arena, "/src/%s-%zu.c", id, k);

        pd_message *carrier = afx_add_message(arena, s, base + 2, "user", "");
        carrier->timestamp = "2024-01-01T10:00:02Z";
        carrier->source_uuid = fmt(arena, "uuid-%s-r%zu", id, k);
        afx_add_result(arena, carrier, tool_use_id, fmt(arena, "output of %s %zu", id, k));
    }
    return s;
}
