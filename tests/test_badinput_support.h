/*
 * test_badinput_support.h -- the workspace and checks shared by the
 * bad-input tests: two good sessions (one Claude, one Codex) beside the
 * file under test, line templates for the bad sessions, and checks of the
 * stored rows and of diff reports.
 *
 * Every helper is static inline so that a test file using only some of
 * them compiles without unused-function warnings. Helpers fail the running
 * cmocka test instead of returning an error.
 */
#ifndef PD_TEST_BADINPUT_SUPPORT_H
#define PD_TEST_BADINPUT_SUPPORT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/support/engine_fixture.h"

/*
 * Session ids. Discovery visits Claude sources in path order, then Codex
 * ones, so the bad Claude file (b...) is always read second, after the good
 * Claude file (a...).
 */
#define PROJECT "-home-tess-src-orbit"
#define GOOD_CLAUDE "a0000000-1111-4222-8333-444444444401"
#define BAD_CLAUDE "b0000000-1111-4222-8333-444444444402"
#define GOOD_CODEX "0199c0de-0000-7000-8000-000000000001"
#define BAD_CODEX "0199c0de-0000-7000-8000-000000000002"

/* Message rows that sync stores for fx_claude_rich and fx_codex_basic. */
#define GOOD_CLAUDE_MESSAGES 3
#define GOOD_CODEX_MESSAGES 3

typedef struct batch {
    fx_env env;
    char *good_claude; /* path of the good Claude transcript */
    char *good_codex;  /* path of the good Codex rollout */
    char *bad_claude;  /* where a bad Claude file goes */
    char *bad_codex;   /* where a bad Codex file goes */
} batch;

static inline int batch_setup(void **state)
{
    batch *b = calloc(1, sizeof *b);
    assert_non_null(b);
    fx_env_init(&b->env);

    b->good_claude = fx_claude_path(&b->env, PROJECT, GOOD_CLAUDE);
    b->bad_claude = fx_claude_path(&b->env, PROJECT, BAD_CLAUDE);
    b->good_codex = fx_codex_path(&b->env, "2026/02/01", GOOD_CODEX);
    b->bad_codex = fx_codex_path(&b->env, "2026/02/01", BAD_CODEX);

    char *text = fx_claude_rich(GOOD_CLAUDE, "Why does the solver diverge?");
    fx_write(b->good_claude, text);
    free(text);
    text = fx_codex_basic(GOOD_CODEX, "Run the tests please.");
    fx_write(b->good_codex, text);
    free(text);

    *state = b;
    return 0;
}

static inline int batch_teardown(void **state)
{
    batch *b = *state;
    fx_env_cleanup(&b->env);
    free(b->good_claude);
    free(b->good_codex);
    free(b->bad_claude);
    free(b->bad_codex);
    free(b);
    return 0;
}

/* ---- files ----------------------------------------------------------------------- */

/* Writes n bytes (NUL bytes allowed) to path, creating parent directories. */
static inline void write_bytes(const char *path, const void *data, size_t n)
{
    fx_write(path, "");
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("fopen %s: %s", path, strerror(errno));
    if (n > 0 && fwrite(data, 1, n, f) != n)
        fail_msg("writing %s failed", path);
    if (fclose(f) != 0)
        fail_msg("closing %s failed: %s", path, strerror(errno));
}

/* Turns single quotes into double quotes, so that JSON lines read without escapes. */
static inline char *jl(const char *text)
{
    char *out = strdup(text);
    assert_non_null(out);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return out;
}

/* A growable byte string for building transcripts with binary content. */
typedef struct bytes {
    char *data;
    size_t len;
} bytes;

static inline void bytes_add(bytes *b, const void *data, size_t n)
{
    char *p = realloc(b->data, b->len + n + 1);
    assert_non_null(p);
    memcpy(p + b->len, data, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void bytes_add_str(bytes *b, const char *s)
{
    bytes_add(b, s, strlen(s));
}

/* Appends a JSON line written with single quotes, and its LF. */
static inline void bytes_add_line(bytes *b, const char *single_quoted)
{
    char *line = jl(single_quoted);
    bytes_add_str(b, line);
    bytes_add_str(b, "\n");
    free(line);
}

static inline void bytes_add_nul_block(bytes *b, size_t n)
{
    char *zeros = calloc(n, 1);
    assert_non_null(zeros);
    bytes_add(b, zeros, n);
    free(zeros);
}

/* Lines of the bad Claude session: a prompt and its answer. */
#define CLAUDE_USER_LINE                                                                           \
    "{'type':'user','uuid':'u1','parentUuid':null,'sessionId':'" BAD_CLAUDE "','cwd':'/home/tess/" \
    "src/orbit','timestamp':'2026-01-07T09:00:00.000Z','message':{'role':'user','content':'Plot "  \
    "the orbit'}}"
#define CLAUDE_ASSISTANT_LINE                                                                      \
    "{'type':'assistant','uuid':'u2','parentUuid':'u1','sessionId':'" BAD_CLAUDE "','requestId':"  \
    "'req_b1','timestamp':'2026-01-07T09:00:03.000Z','message':{'id':'msg_b1','type':'message',"   \
    "'role':'assistant','model':'claude-sonnet-4-5','content':[{'type':'text','text':'Plotted.'}]" \
    ","                                                                                            \
    "'stop_reason':'end_turn','usage':{'input_tokens':12,'output_tokens':3}}}"
/* A follow-up prompt cut before its content text, which each test appends. */
#define CLAUDE_FOLLOWUP_PREFIX                                                                     \
    "{'type':'user','uuid':'u3','parentUuid':'u2','sessionId':'" BAD_CLAUDE "','timestamp':'2026-" \
    "01-07T09:01:00.000Z','message':{'role':'user','content':'"

/* Lines of the bad Codex rollout: session_meta, a prompt and its answer. */
#define CODEX_META_LINE                                                                            \
    "{'timestamp':'2026-02-01T11:00:00.000Z','type':'session_meta','payload':{'id':'" BAD_CODEX    \
    "','timestamp':'2026-02-01T11:00:00.000Z','cwd':'/home/tess/src/orbit','originator':'codex_"   \
    "cli_rs','cli_version':'0.60.0'}}"
#define CODEX_USER_LINE                                                                            \
    "{'timestamp':'2026-02-01T11:00:01.000Z','type':'response_item','payload':{'type':'message',"  \
    "'role':'user','content':[{'type':'input_text','text':'List the files'}]}}"
#define CODEX_ASSISTANT_LINE                                                                       \
    "{'timestamp':'2026-02-01T11:00:02.000Z','type':'response_item','payload':{'type':'message',"  \
    "'role':'assistant','content':[{'type':'output_text','text':'Two files.'}]}}"

static inline void write_claude_pair(const char *path)
{
    bytes t = {0};
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    write_bytes(path, t.data, t.len);
    free(t.data);
}

/* ---- archive and report checks ------------------------------------------------------ */

static inline int64_t row_int(const batch *b, const char *column, const char *id)
{
    char *sql = fx_fmt("SELECT %s FROM sessions WHERE id = '%s'", column, id);
    int64_t v = fx_sql_int(b->env.db, sql);
    free(sql);
    return v;
}

static inline int64_t count_messages(const batch *b, const char *id)
{
    char *sql = fx_fmt("SELECT count(*) FROM messages WHERE session_id = '%s'", id);
    int64_t v = fx_sql_int(b->env.db, sql);
    free(sql);
    return v;
}

static inline char *message_text(const batch *b, const char *id, int64_t ordinal)
{
    char *sql = fx_fmt("SELECT content FROM messages WHERE session_id = '%s' AND ordinal = %lld",
                       id, (long long)ordinal);
    char *v = fx_sql_text(b->env.db, sql);
    free(sql);
    return v;
}

/* Checks that both good sessions are stored with every message. */
static inline void assert_good_written(const batch *b)
{
    assert_int_equal(row_int(b, "message_count", GOOD_CLAUDE), GOOD_CLAUDE_MESSAGES);
    assert_int_equal(count_messages(b, GOOD_CLAUDE), GOOD_CLAUDE_MESSAGES);
    assert_int_equal(row_int(b, "parser_malformed_lines", GOOD_CLAUDE), 0);
    assert_int_equal(row_int(b, "message_count", "codex:" GOOD_CODEX), GOOD_CODEX_MESSAGES);
    assert_int_equal(count_messages(b, "codex:" GOOD_CODEX), GOOD_CODEX_MESSAGES);
    assert_int_equal(row_int(b, "parser_malformed_lines", "codex:" GOOD_CODEX), 0);
}

/* Checks that neither good session is listed as anything but identical. */
static inline void assert_good_identical(const pd_diff_report *r)
{
    const pd_diff_entry *e = fx_entry(r, GOOD_CLAUDE);
    if (e != NULL)
        assert_string_equal(pd_diff_class_name(e->cls), "identical");
    e = fx_entry(r, "codex:" GOOD_CODEX);
    if (e != NULL)
        assert_string_equal(pd_diff_class_name(e->cls), "identical");
}

/* Syncs the workspace and checks the run: every file discovered parsed without failure. */
static inline void sync_clean(const batch *b, int64_t discovered)
{
    pd_sync_stats st;
    fx_sync(&b->env, &st);
    for (size_t i = 0; i < st.n_errors; i++)
        print_error("unexpected sync error: %s\n", st.errors[i].message);
    assert_int_equal(st.files_discovered, discovered);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.n_errors, 0);
    pd_sync_stats_free(&st);
    assert_good_written(b);
}

/* Runs a diff and checks that it found every stored session identical. */
static inline void diff_all_identical(const batch *b, int64_t sessions)
{
    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, sessions);
    assert_int_equal(r->totals.identical, sessions);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.new_on_disk, 0);
    assert_good_identical(r);
    pd_diff_report_free(r);
}

/* Checks the stored bookkeeping of the bad session. */
static inline void assert_bad_row(const batch *b, const char *id, int64_t messages,
                                  int64_t malformed, int64_t truncated)
{
    assert_int_equal(row_int(b, "message_count", id), messages);
    assert_int_equal(count_messages(b, id), messages);
    assert_int_equal(row_int(b, "parser_malformed_lines", id), malformed);
    assert_int_equal(row_int(b, "is_truncated", id), truncated);
}

/* Number of stored sessions, trashed ones included. */
static inline int64_t count_sessions(const batch *b)
{
    return fx_sql_int(b->env.db, "SELECT count(*) FROM sessions");
}

/* Returns the sync error recorded for path, or NULL. */
static inline const pd_sync_error *find_sync_error(const pd_sync_stats *st, const char *path)
{
    for (size_t i = 0; i < st->n_errors; i++) {
        if (strcmp(st->errors[i].path, path) == 0)
            return &st->errors[i];
    }
    return NULL;
}

/*
 * Syncs the workspace and checks that exactly the n files in paths failed,
 * each with a message that names it and contains reason, while the good
 * sessions were written in full.
 */
static inline void sync_expect_failures(const batch *b, int64_t discovered,
                                        const char *const *paths, size_t n, const char *reason)
{
    pd_sync_stats st;
    fx_sync(&b->env, &st);
    assert_int_equal(st.files_discovered, discovered);
    assert_int_equal(st.files_failed, (int64_t)n);
    assert_int_equal(st.n_errors, n);
    for (size_t i = 0; i < n; i++) {
        const pd_sync_error *e = find_sync_error(&st, paths[i]);
        if (e == NULL)
            fail_msg("no sync error for %s", paths[i]);
        assert_non_null(strstr(e->message, paths[i]));
        assert_non_null(strstr(e->message, reason));
    }
    pd_sync_stats_free(&st);
    assert_good_written(b);
}

/* Returns the report entry for path in class cls, or NULL. */
static inline const pd_diff_entry *find_entry_by_path(const pd_diff_report *r, const char *path,
                                                      pd_diff_class cls)
{
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls == cls && e->file_path != NULL && strcmp(e->file_path, path) == 0)
            return e;
    }
    return NULL;
}

/*
 * Runs a diff over an archive that stores only the good sessions and checks
 * that the n files in paths are parse errors without a session id, whose
 * reasons contain reason, and that both good sessions are identical.
 */
static inline void diff_expect_unstored_errors(const batch *b, const char *const *paths, size_t n,
                                               const char *reason)
{
    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    assert_int_equal(r->totals.parse_errors, (int64_t)n);
    assert_int_equal(r->totals.identical, 2);
    assert_int_equal(r->totals.changed, 0);
    for (size_t i = 0; i < n; i++) {
        const pd_diff_entry *e = find_entry_by_path(r, paths[i], PD_CLASS_PARSE_ERROR);
        if (e == NULL)
            fail_msg("no parse error listed for %s", paths[i]);
        assert_null(e->session_id);
        assert_non_null(e->reason);
        assert_non_null(strstr(e->reason, reason));
    }
    assert_good_identical(r);
    pd_diff_report_free(r);
}

#endif
