/*
 * test_parser_codex.c -- the Codex provider against rollout files on disk.
 *
 * Every test builds its own directory tree under a mkdtemp directory
 * (sessions/YYYY/MM/DD/rollout-*.jsonl, archived_sessions/, and the
 * session_index.jsonl beside them), opens the provider's shared state on
 * it and parses through pd_provider_codex, as the engine does. Fixtures
 * come from tests/fixtures/codex; inline transcripts are written with
 * single quotes that jl() turns into double quotes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "parsers/codex.h"
#include "parsers/codex_internal.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

/* ---- files ------------------------------------------------------------------------------ */

static pd_arena *scratch; /* paths and texts of the running test */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    assert_true(n >= 0);

    char *out = pd_arena_alloc(scratch, (size_t)n + 1);
    assert_non_null(out);
    va_start(ap, f);
    vsnprintf(out, (size_t)n + 1, f, ap);
    va_end(ap);
    return out;
}

/* Turns single quotes into double quotes so JSON lines read without escapes. */
static char *jl(const char *text)
{
    char *out = pd_arena_strdup(scratch, text);
    assert_non_null(out);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return out;
}

static void make_parents(const char *path)
{
    char *copy = pd_arena_strdup(scratch, path);
    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0)
            assert_int_equal(errno, EEXIST);
        *p = '/';
    }
}

static void write_bytes(const char *path, const char *data, size_t n, const char *mode)
{
    make_parents(path);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text), "wb");
}

static void append_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text), "ab");
}

static char *read_fixture(const char *name)
{
    const char *src = getenv("PD_SOURCE_DIR");
    assert_non_null(src);

    pd_source_buf buf = {0};
    pd_err err = {0};
    assert_int_equal(pd_source_read(fmt("%s/tests/fixtures/codex/%s", src, name), -1, &buf, &err),
                     PD_OK);
    char *text = pd_arena_strndup(scratch, buf.data, buf.len);
    pd_source_buf_free(&buf);
    return text;
}

static void set_mtime(const char *path, time_t seconds)
{
    struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *tmp_dir;

static int setup(void **state)
{
    (void)state;
    scratch = pd_arena_new();
    const char *base = getenv("TMPDIR");
    char *templ = fmt("%s/pd_codex_XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp");
    tmp_dir = mkdtemp(templ);
    return tmp_dir != NULL && scratch != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    pd_arena_free(scratch);
    return 0;
}

/* ---- parsing --------------------------------------------------------------------------- */

typedef struct run {
    pd_arena *arena;
    pd_json_parser *json;
    void *shared;
    pd_source_buf src;
    pd_parse_result res;
    pd_err err;
    int rc;
    pd_session *s; /* the one session on success */
} run;

static void run_open(run *r, const char *root)
{
    pd_err err = {0};

    memset(r, 0, sizeof *r);
    r->arena = pd_arena_new();
    r->json = pd_json_parser_new();
    assert_non_null(r->arena);
    assert_non_null(r->json);
    assert_int_equal(pd_provider_codex.open_shared(&root, 1, &r->shared, &err), PD_OK);
}

static void run_source(run *r, const char *root, const char *path, const pd_incr_state *incr)
{
    pd_err err = {0};

    pd_source_buf_free(&r->src);
    assert_int_equal(pd_source_read(path, -1, &r->src, &err), PD_OK);
    pd_parse_request req = {
        .path = path,
        .root = root,
        .machine = "box1",
        .src = &r->src,
        .incr = incr,
        .shared = r->shared,
        .json = r->json,
        .arena = r->arena,
    };
    pd_err_clear(&r->err);
    r->rc = pd_provider_codex.parse(&req, &r->res, &r->err);
    r->s = r->rc == PD_OK && r->res.n_sessions == 1 ? &r->res.sessions[0] : NULL;
}

static void run_parse(run *r, const char *root, const char *path, const pd_incr_state *incr)
{
    run_open(r, root);
    run_source(r, root, path, incr);
}

static void run_free(run *r)
{
    pd_source_buf_free(&r->src);
    pd_provider_codex.close_shared(r->shared);
    pd_json_parser_free(r->json);
    pd_arena_free(r->arena);
}

/* Parses text written at <tmp>/sessions/2026/01/15/<name> with the sessions dir as root. */
static char *dated_path(const char *uuid)
{
    return fmt("%s/sessions/2026/01/15/rollout-2026-01-15T09-00-00-%s.jsonl", tmp_dir, uuid);
}

static char *sessions_root(void)
{
    return fmt("%s/sessions", tmp_dir);
}

static void parse_text(run *r, const char *text)
{
    char *path = dated_path("0a0b0c0d-1111-4222-8333-944455556666");
    write_text(path, text);
    run_parse(r, sessions_root(), path, NULL);
    assert_int_equal(r->rc, PD_OK);
    assert_non_null(r->s);
}

static const pd_message *msg(const run *r, size_t i)
{
    assert_true(i < r->s->n_messages);
    return &r->s->messages[i];
}

static const pd_tool_call *call0(const run *r, size_t i)
{
    const pd_message *m = msg(r, i);
    assert_int_equal(m->n_tool_calls, 1);
    return &m->tool_calls[0];
}

/* ---- discovery ----------------------------------------------------------------------- */

typedef struct found {
    pd_source items[16];
    size_t n;
    pd_arena *arena; /* copies of the sources' strings, which are valid only during the call */
} found;

static const char *copy_or_null(pd_arena *a, const char *s)
{
    return s != NULL ? pd_arena_strdup(a, s) : NULL;
}

static int collect_source(void *ctx, const pd_source *src)
{
    found *f = ctx;
    assert_true(f->n < 16);
    pd_source *copy = &f->items[f->n++];
    *copy = *src;
    copy->path = copy_or_null(f->arena, src->path);
    copy->project_hint = copy_or_null(f->arena, src->project_hint);
    copy->dedupe_key = copy_or_null(f->arena, src->dedupe_key);
    return PD_OK;
}

static void test_discover_dated_and_flat(void **state)
{
    (void)state;
    const char *uuid_a = "11111111-2222-4333-8444-555555555555";
    const char *uuid_b = "66666666-7777-4888-9999-aaaaaaaaaaaa";
    char *root = sessions_root();

    write_text(fmt("%s/2025/03/04/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_a), "{}\n");
    write_text(fmt("%s/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_a), "{}\n");
    write_text(fmt("%s/rollout-2025-02-01T08-00-00-%s.jsonl.zst", root, uuid_b), "x");
    write_text(fmt("%s/rollout-notes.jsonl", root), "{}\n");
    write_text(fmt("%s/2025/03/04/notes.txt", root), "x");
    write_text(fmt("%s/2025/03/04/history.jsonl", root), "{}\n");
    write_text(fmt("%s/2025/march/04/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_b), "{}\n");
    write_text(fmt("%s/2025/03/04/05/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_b), "{}\n");
    write_text(fmt("%s/2025/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_b), "{}\n");

    pd_arena *a = pd_arena_new();
    found f = {.arena = a};
    pd_err err = {0};
    assert_int_equal(pd_provider_codex.discover(root, a, collect_source, &f, &err), PD_OK);

    assert_int_equal(f.n, 4);
    assert_string_equal(f.items[0].path,
                        fmt("%s/2025/03/04/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_a));
    assert_true(f.items[0].is_dated);
    assert_string_equal(f.items[0].dedupe_key, fmt("codex:%s", uuid_a));
    assert_string_equal(f.items[0].agent, "codex");
    assert_string_equal(f.items[0].root, root);

    assert_string_equal(f.items[1].path,
                        fmt("%s/rollout-2025-02-01T08-00-00-%s.jsonl.zst", root, uuid_b));
    assert_false(f.items[1].is_dated);
    assert_string_equal(f.items[1].dedupe_key, fmt("codex:%s", uuid_b));

    assert_string_equal(f.items[2].path,
                        fmt("%s/rollout-2025-03-04T10-00-00-%s.jsonl", root, uuid_a));
    assert_false(f.items[2].is_dated);
    assert_string_equal(f.items[2].dedupe_key, f.items[0].dedupe_key);

    assert_string_equal(f.items[3].path, fmt("%s/rollout-notes.jsonl", root));
    assert_null(f.items[3].dedupe_key);
    assert_false(f.items[3].is_dated);
    pd_arena_free(a);
}

static void test_discover_missing_root_empty(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    found f = {.arena = a};
    pd_err err = {0};

    assert_int_equal(pd_provider_codex.discover(fmt("%s/absent", tmp_dir), a, collect_source, &f, &err),
                     PD_OK);
    assert_int_equal(f.n, 0);
    assert_int_equal(err.code, PD_OK);
    pd_arena_free(a);
}

static void test_provider_table_fields(void **state)
{
    (void)state;
    assert_string_equal(pd_provider_codex.name, "codex");
    assert_true(pd_provider_codex.file_based);
    assert_true(pd_provider_codex.incremental);
    assert_int_equal(pd_provider_codex.live_mtime_rule, PD_LIVE_MTIME_TRANSCRIPT);
    assert_non_null(pd_provider_codex.open_shared);
    assert_non_null(pd_provider_codex.close_shared);
    assert_non_null(pd_provider_codex.effective_mtime);
}

static void test_uuid_from_path_cases(void **state)
{
    (void)state;
    char out[37];

    assert_true(pd_codex_uuid_from_path(
        "/x/rollout-2025-01-02T03-04-05-0196b8e2-4c1d-7a10-9d2e-5f3a1b2c3d4e.jsonl", out));
    assert_string_equal(out, "0196b8e2-4c1d-7a10-9d2e-5f3a1b2c3d4e");
    assert_true(pd_codex_uuid_from_path("rollout-x-0196B8E2-4C1D-7A10-9D2E-5F3A1B2C3D4E.jsonl.zst", out));
    assert_string_equal(out, "0196B8E2-4C1D-7A10-9D2E-5F3A1B2C3D4E");

    /* The dash before the UUID must not be the one of "rollout-". */
    assert_false(pd_codex_uuid_from_path("/x/rollout-0196b8e2-4c1d-7a10-9d2e-5f3a1b2c3d4e.jsonl", out));
    assert_false(pd_codex_uuid_from_path("/x/rollout-test.jsonl", out));
    assert_false(pd_codex_uuid_from_path("/x/session-a-0196b8e2-4c1d-7a10-9d2e-5f3a1b2c3d4e.jsonl", out));
    assert_false(pd_codex_uuid_from_path("/x/rollout-a-0196b8e2-4c1d-7a10-9d2e-5f3a1b2c3d4g.jsonl", out));
    assert_false(pd_codex_uuid_from_path("/x/rollout-a-0196b8e2x4c1d-7a10-9d2e-5f3a1b2c3d4e.jsonl", out));
}

/* ---- oracles ------------------------------------------------------------------------------ */

static void test_minimal_example_fields(void **state)
{
    (void)state;
    const char *uuid = "0197a3c1-5e2f-7b44-8a10-6c2d9e8f1a2b";
    char *path = fmt("%s/sessions/2025/11/03/rollout-2025-11-03T08-15-42-%s.jsonl", tmp_dir, uuid);
    write_text(path, read_fixture("minimal_example.jsonl"));
    write_text(fmt("%s/session_index.jsonl", tmp_dir),
               jl("{'id':'0197a3c1-5e2f-7b44-8a10-6c2d9e8f1a2b','thread_name':'Fix cargo build on CI'}\n"));

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.res.n_sessions, 1);
    const pd_session *s = r.s;

    assert_string_equal(s->id, "codex:0197a3c1-5e2f-7b44-8a10-6c2d9e8f1a2b");
    assert_string_equal(s->agent, "codex");
    assert_string_equal(s->machine, "box1");
    assert_string_equal(s->project, "ledger_sync");
    assert_string_equal(s->cwd, "/home/ines/src/ledger-sync");
    assert_string_equal(s->git_branch, "");
    assert_string_equal(s->source_version, "");
    assert_string_equal(s->session_name, "Fix cargo build on CI");
    assert_true(s->session_name_present);
    assert_string_equal(s->first_message, "Why does cargo build fail on the CI runner?");
    assert_string_equal(s->started_at, "2025-11-03T08:15:42.12Z");
    assert_string_equal(s->ended_at, "2025-11-03T08:15:58.4Z");
    assert_int_equal(s->message_count, 3);
    assert_int_equal(s->user_message_count, 1);
    assert_string_equal(s->termination_status, "awaiting_user");
    assert_int_equal(s->total_output_tokens, 415);
    assert_true(s->has_total_output_tokens);
    assert_int_equal(s->peak_context_tokens, 7300);
    assert_true(s->has_peak_context_tokens);
    assert_false(s->is_truncated);
    assert_int_equal(s->parser_malformed_lines, 0);
    assert_int_equal(s->claude_linear_parse, PD_INT_NULL);
    assert_null(s->parent_session_id);
    assert_string_equal(s->relationship_type, "");
    assert_false(s->needs_retry);
    assert_null(s->file_hash);
    assert_string_equal(s->file_path, path);
    assert_int_equal(s->file_size, (int64_t)r.src.len);

    assert_string_equal(msg(&r, 0)->role, "user");
    assert_string_equal(msg(&r, 0)->content, "Why does cargo build fail on the CI runner?");
    assert_string_equal(msg(&r, 0)->model, "gpt-5-codex");
    assert_string_equal(msg(&r, 0)->timestamp, "2025-11-03T08:15:43Z");
    assert_int_equal(msg(&r, 0)->ordinal, 0);

    assert_string_equal(msg(&r, 1)->role, "assistant");
    assert_string_equal(msg(&r, 1)->content, "[Bash]\n$ cargo build --locked");
    assert_int_equal(msg(&r, 1)->content_length, strlen("[Bash]\n$ cargo build --locked"));
    assert_true(msg(&r, 1)->has_tool_use);
    assert_string_equal(msg(&r, 1)->model, "gpt-5-codex");
    assert_string_equal(msg(&r, 1)->token_usage, "");
    const pd_tool_call *c = call0(&r, 1);
    assert_string_equal(c->tool_use_id, "call_b7");
    assert_string_equal(c->tool_name, "exec_command");
    assert_string_equal(c->category, "Bash");
    assert_string_equal(c->input_json, "{\"cmd\":\"cargo build --locked\"}");
    assert_int_equal(c->n_events, 1);
    assert_string_equal(c->events[0].source, "function_call_output");
    assert_string_equal(c->events[0].status, "");
    assert_string_equal(c->events[0].content, "error: lock file needs update\nhint: run cargo update");
    assert_string_equal(c->events[0].tool_use_id, "call_b7");
    assert_null(c->events[0].agent_id);
    assert_string_equal(c->events[0].timestamp, "2025-11-03T08:15:51.25Z");
    assert_int_equal(c->events[0].event_index, 0);

    assert_string_equal(msg(&r, 2)->content, "Cargo.lock was stale; regenerated it.");
    assert_string_equal(msg(&r, 2)->token_usage,
                        "{\"cache_read_input_tokens\":6144,\"input_tokens\":1156,\"output_tokens\":415}");
    assert_int_equal(msg(&r, 2)->context_tokens, 7300);
    assert_int_equal(msg(&r, 2)->output_tokens, 415);
    assert_true(msg(&r, 2)->has_context_tokens);
    assert_true(msg(&r, 2)->has_output_tokens);
    assert_string_equal(msg(&r, 2)->model, "gpt-5-codex");
    assert_false(msg(&r, 2)->has_thinking);
    assert_false(msg(&r, 2)->is_system);
    run_free(&r);
}

static void test_standard_session_basic(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("standard_session.jsonl"));

    assert_string_equal(r.s->id, "codex:std-001");
    assert_string_equal(r.s->cwd, "/home/kim/work/rate-limiter");
    assert_string_equal(r.s->project, "rate_limiter");
    assert_string_equal(r.s->agent, "codex");
    assert_int_equal(r.s->message_count, 2);
    assert_int_equal(r.s->user_message_count, 1);
    assert_string_equal(r.s->first_message, "Throttle the upload endpoint");
    assert_string_equal(r.s->started_at, "2025-06-11T10:00:00Z");
    assert_string_equal(r.s->ended_at, "2025-06-11T10:00:05Z");
    assert_null(r.s->termination_status);
    assert_string_equal(msg(&r, 0)->model, "");
    assert_string_equal(msg(&r, 1)->model, "");
    assert_null(r.s->session_name);
    assert_false(r.s->session_name_present);
    assert_int_equal(r.res.malformed_lines, 0);
    run_free(&r);
}

static void test_standard_session_malformed_middle(void **state)
{
    (void)state;
    char *text = read_fixture("standard_session.jsonl");
    char *nl = strchr(text, '\n');
    char *broken = fmt("%.*s{\"type\":\"event_msg\"\n%s", (int)(nl - text + 1), text, nl + 1);

    run r;
    parse_text(&r, broken);
    assert_int_equal(r.s->parser_malformed_lines, 1);
    assert_int_equal(r.res.malformed_lines, 1);
    assert_int_equal(r.s->message_count, 2);
    assert_int_equal(r.res.consumed, (int64_t)strlen(broken));
    run_free(&r);
}

static void test_index_title_sessions_layout(void **state)
{
    (void)state;
    write_text(fmt("%s/session_index.jsonl", tmp_dir),
               jl("{'id':'std-001','thread_name':'  Renamed from the app \\n','updated_at':'2026-06-11T10:00:00.1234567Z'}\n"));

    run r;
    parse_text(&r, read_fixture("standard_session.jsonl"));
    assert_string_equal(r.s->session_name, "Renamed from the app");
    assert_true(r.s->session_name_present);
    assert_string_equal(r.s->first_message, "Throttle the upload endpoint");
    assert_int_equal(r.s->message_count, 2);
    run_free(&r);
}

static void test_index_row_without_thread_name(void **state)
{
    (void)state;
    write_text(fmt("%s/session_index.jsonl", tmp_dir),
               jl("{'id':'std-001','updated_at':'2026-06-11T10:00:00Z'}\n"
                  "{'id':'std-001','thread_name':null}\n"
                  "{'id':'std-001','thread_name':42}\n"));

    run r;
    parse_text(&r, read_fixture("standard_session.jsonl"));
    assert_null(r.s->session_name);
    assert_false(r.s->session_name_present);
    assert_string_equal(r.s->first_message, "Throttle the upload endpoint");
    run_free(&r);
}

static void test_index_title_archived_layout(void **state)
{
    (void)state;
    char *root = fmt("%s/archived_sessions", tmp_dir);
    char *path = fmt("%s/rollout-2025-06-11T10-00-00-0a0b0c0d-1111-4222-8333-944455556666.jsonl", root);
    write_text(path, read_fixture("standard_session.jsonl"));
    write_text(fmt("%s/session_index.jsonl", tmp_dir),
               jl("{'id':'std-001','thread_name':'Archived title'}\n"));

    run r;
    run_parse(&r, root, path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->session_name, "Archived title");
    assert_true(r.s->session_name_present);
    run_free(&r);
}

static void test_index_latest_row_and_blank(void **state)
{
    (void)state;
    write_text(fmt("%s/session_index.jsonl", tmp_dir),
               jl("{'id':'std-001','thread_name':'First title'}\n"
                  "not json at all\n"
                  "['id','std-001']\n"
                  "{'thread_name':'no id'}\n"
                  "{'id':'std-001','thread_name':'Second title'}\n"
                  "{'id':'other','thread_name':'Elsewhere'}\n"
                  "{'id':'blank-1','thread_name':'Before'}\n"
                  "{'id':'blank-1','thread_name':'   '}\n"));

    run r;
    parse_text(&r, read_fixture("standard_session.jsonl"));
    assert_string_equal(r.s->session_name, "Second title");

    const char *title = NULL;
    bool present = false;
    assert_int_equal(pd_codex_index_title(r.shared, "blank-1", &title, &present), PD_OK);
    assert_true(present);
    assert_string_equal(title, "");
    assert_int_equal(pd_codex_index_title(r.shared, "other", &title, &present), PD_OK);
    assert_true(present);
    assert_string_equal(title, "Elsewhere");
    assert_int_equal(pd_codex_index_title(r.shared, "missing", &title, &present), PD_OK);
    assert_false(present);
    assert_null(title);
    run_free(&r);

    /* A blank title is a present entry that clears the name. */
    char *text = read_fixture("standard_session.jsonl");
    char *renamed = pd_arena_strdup(scratch, text);
    char *id = strstr(renamed, "std-001");
    memcpy(id, "blank-1", 7);
    parse_text(&r, renamed);
    assert_string_equal(r.s->id, "codex:blank-1");
    assert_null(r.s->session_name);
    assert_true(r.s->session_name_present);
    run_free(&r);
}

static void test_index_mtime_folds_into_file_mtime(void **state)
{
    (void)state;
    char *path = dated_path("0a0b0c0d-1111-4222-8333-944455556666");
    char *index = fmt("%s/session_index.jsonl", tmp_dir);
    write_text(path, read_fixture("standard_session.jsonl"));
    write_text(index, jl("{'id':'std-001','thread_name':'Old'}\n"));
    set_mtime(path, 1700000000);
    set_mtime(index, 1600000000);

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->file_mtime, (int64_t)1700000000 * 1000000000);
    assert_int_equal(pd_codex_index_mtime(r.shared), (int64_t)1600000000 * 1000000000);
    assert_string_equal(r.s->session_name, "Old");
    int64_t before = r.s->file_mtime;
    run_free(&r);

    /* Renaming rewrites the index with a later mtime: the title and the mtime follow. */
    write_text(index, jl("{'id':'std-001','thread_name':'Old'}\n{'id':'std-001','thread_name':'Renamed'}\n"));
    set_mtime(index, 1800000000);
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->file_mtime, (int64_t)1800000000 * 1000000000);
    assert_true(r.s->file_mtime > before);
    assert_string_equal(r.s->session_name, "Renamed");
    assert_int_equal(pd_provider_codex.effective_mtime(r.shared, path, 5), (int64_t)1800000000 * 1000000000);
    assert_int_equal(pd_provider_codex.effective_mtime(r.shared, path, (int64_t)1900000000 * 1000000000),
                     (int64_t)1900000000 * 1000000000);
    /* A transcript outside any sessions tree has no index to fold in. */
    assert_int_equal(pd_provider_codex.effective_mtime(r.shared, "/elsewhere/rollout-a.jsonl", 7), 7);
    run_free(&r);
}

static void test_index_missing_no_signal(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("standard_session.jsonl"));
    assert_int_equal(pd_codex_index_mtime(r.shared), 0);
    assert_int_equal(r.s->file_mtime, r.src.mtime_ns);

    const char *title = "unset";
    bool present = true;
    assert_int_equal(pd_codex_index_title(r.shared, "std-001", &title, &present), PD_OK);
    assert_false(present);
    assert_null(title);
    run_free(&r);
}

static void test_blockquotes_preserved(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("blockquotes_session.jsonl"));
    assert_string_equal(r.s->id, "codex:quote-777");
    assert_int_equal(r.s->message_count, 2);
    assert_string_equal(msg(&r, 0)->role, "user");
    assert_string_equal(msg(&r, 0)->content, "summarise?");
    assert_string_equal(msg(&r, 1)->role, "assistant");
    assert_string_equal(msg(&r, 1)->content, "alpha\n\n> beta\n\ngamma\n\n> delta\n\nepsilon");
    run_free(&r);
}

static void test_function_calls_labels(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("function_calls.jsonl"));
    assert_string_equal(r.s->id, "codex:fn-42");
    assert_int_equal(r.s->message_count, 3);

    assert_string_equal(msg(&r, 0)->role, "user");
    assert_false(msg(&r, 0)->has_tool_use);
    assert_int_equal(msg(&r, 0)->n_tool_calls, 0);

    assert_string_equal(msg(&r, 1)->role, "assistant");
    assert_string_equal(msg(&r, 1)->content, "[Bash: Running the suite]");
    assert_string_equal(call0(&r, 1)->tool_name, "shell_command");
    assert_string_equal(call0(&r, 1)->category, "Bash");
    assert_null(call0(&r, 1)->input_json);
    assert_string_equal(call0(&r, 1)->tool_use_id, "call_same");

    assert_string_equal(msg(&r, 2)->content, "[Edit: Fixing a typo]");
    assert_string_equal(call0(&r, 2)->tool_name, "apply_patch");
    assert_string_equal(call0(&r, 2)->category, "Edit");
    assert_string_equal(call0(&r, 2)->tool_use_id, "call_same");

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(msg(&r, i)->ordinal, (int64_t)i);
    run_free(&r);
}

static void test_exec_command_args_detail(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("fc_exec_args.jsonl"));
    assert_string_equal(msg(&r, 1)->content, "[Bash]\n$ ls -la src");
    assert_string_equal(call0(&r, 1)->input_json,
                        "{\"cmd\":\"ls -la src\\nwc -l src/*\",\"workdir\":\"/srv/app\"}");
    run_free(&r);
}

static void test_apply_patch_files_summary(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("fc_patch_args.jsonl"));
    assert_string_equal(msg(&r, 1)->content,
                        "[Edit: lib/util.py (+1 more)]\nlib/util.py\ntests/test_util.py");
    assert_non_null(call0(&r, 1)->input_json);
    assert_non_null(strstr(call0(&r, 1)->input_json, "Begin Patch"));
    run_free(&r);
}

static void test_write_stdin_quoting(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("fc_stdin.jsonl"));
    assert_string_equal(msg(&r, 1)->content, "[Bash: stdin -> tty-9]\ny\\n\\t\\\"ok\\\" \\u00e9");
    assert_string_equal(call0(&r, 1)->tool_name, "write_stdin");
    assert_string_equal(call0(&r, 1)->category, "Bash");
    run_free(&r);
}

/* ---- labels ---------------------------------------------------------------------------- */

#define META_LINE "{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'lbl-1','cwd':'/srv/app'}}\n"
#define USER_LINE(ts, text)                                                                        \
    "{'timestamp':'" ts "','type':'response_item','payload':{'type':'message','role':'user','content':[{'type':'input_text','text':'" text "'}]}}\n"
#define ASSISTANT_LINE(ts, text)                                                                   \
    "{'timestamp':'" ts "','type':'response_item','payload':{'type':'message','role':'assistant','content':[{'type':'output_text','text':'" text "'}]}}\n"

static void test_render_spawn_and_other_tools(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "go")
        "{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':'function_call','name':'spawn_agent','arguments':'{\\'agent_type\\':\\'explorer\\',\\'message\\':\\'Map the repo\\\\nthen report\\'}','call_id':'c1'}}\n"
        "{'timestamp':'2025-09-01T10:00:03Z','type':'response_item','payload':{'type':'function_call','name':'mystery_tool','summary':'  Doing  the\\tthing] ','arguments':{'k':'v'},'call_id':'c2'}}\n"
        "{'timestamp':'2025-09-01T10:00:04Z','type':'response_item','payload':{'type':'function_call','name':'odd_tool','arguments':'not json   at\\nall','call_id':'c3'}}\n"
        "{'timestamp':'2025-09-01T10:00:05Z','type':'response_item','payload':{'type':'function_call','name':'read_file','arguments':'{\\'path\\':\\'docs/a b.md\\'}','call_id':'c4'}}\n"
        "{'timestamp':'2025-09-01T10:00:06Z','type':'response_item','payload':{'type':'function_call','name':'glob','arguments':'{\\'pattern\\':\\'*.go\\',\\'path\\':\\'cmd\\'}','call_id':'c5'}}\n"
        "{'timestamp':'2025-09-01T10:00:07Z','type':'response_item','payload':{'type':'function_call','name':'spawn_agent','arguments':{},'call_id':'c6'}}\n"
        "{'timestamp':'2025-09-01T10:00:08Z','type':'response_item','payload':{'type':'function_call','name':'shell','arguments':'ls -l | head','call_id':'c7'}}\n"
        "{'timestamp':'2025-09-01T10:00:09Z','type':'response_item','payload':{'type':'function_call','name':'exec_command','arguments':{'cmd':'make'},'call_id':'c8'}}\n"
        "{'timestamp':'2025-09-01T10:00:10Z','type':'response_item','payload':{'type':'function_call','arguments':'{}','call_id':'c9'}}\n"));

    assert_int_equal(r.s->message_count, 9);
    assert_string_equal(msg(&r, 1)->content, "[Task: explorer]\nMap the repo");
    assert_string_equal(call0(&r, 1)->category, "Task");
    assert_string_equal(msg(&r, 2)->content, "[Tool: mystery_tool]\nDoing the thing)");
    assert_string_equal(call0(&r, 2)->category, "Other");
    assert_string_equal(call0(&r, 2)->input_json, "{\"k\":\"v\"}");
    assert_string_equal(msg(&r, 3)->content, "[Tool: odd_tool]\nnot json at all");
    assert_string_equal(call0(&r, 3)->input_json, "not json   at\nall");
    assert_string_equal(msg(&r, 4)->content, "[Read: docs/a b.md]\n{\"path\":\"docs/a b.md\"}");
    assert_string_equal(msg(&r, 5)->content, "[Glob: *.go in cmd]\n{\"pattern\":\"*.go\",\"path\":\"cmd\"}");
    /* The archive names the file of any call whose input has a path. */
    assert_string_equal(call0(&r, 4)->file_path, "docs/a b.md");
    assert_string_equal(call0(&r, 5)->file_path, "cmd");
    assert_null(call0(&r, 2)->file_path);
    assert_null(call0(&r, 8)->file_path);
    assert_string_equal(msg(&r, 6)->content, "[Task: spawn_agent]");
    assert_null(call0(&r, 6)->input_json);
    assert_string_equal(msg(&r, 7)->content, "[Bash]\n$ ls -l | head");
    assert_string_equal(call0(&r, 7)->input_json, "ls -l | head");
    assert_string_equal(msg(&r, 8)->content, "[Bash]\n$ make");
    assert_string_equal(call0(&r, 8)->input_json, "{\"cmd\":\"make\"}");
    /* A call without a name is not a tool call. */
    run_free(&r);
}

static void test_nul_escapes_and_empty_argument_strings(void **state)
{
    (void)state;
    run r;
    parse_text(
        &r,
        jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "before\\u0000after") ASSISTANT_LINE(
            "2025-09-01T10:00:02Z",
            "one\\u0000two") "{'timestamp':'2025-09-01T10:00:03Z','type':'response_item','payload':"
                             "{'type':'function_call','name':'list_mcp_resources','arguments':'{}',"
                             "'call_id':'c1'}}\n"
                             "{'timestamp':'2025-09-01T10:00:04Z','type':'response_item','payload':"
                             "{'type':'function_call','name':'exec_command','arguments':'[]','"
                             "input':'{\\'cmd\\':\\'pwd\\'}','call_id':'c2'}}\n"
                             "{'timestamp':'2025-09-01T10:00:05Z','type':'response_item','payload':"
                             "{'type':'function_call','name':'edit','arguments':'{\\'file\\':\\'a."
                             "c\\',\\'filePath\\':\\'\\',\\'path\\':\\'b.c\\'}','call_id':'c3'}}"
                             "\n"));

    /* A NUL in a text is dropped, as the archive drops it; the rest stays. */
    assert_string_equal(msg(&r, 0)->content, "beforeafter");
    assert_int_equal(msg(&r, 0)->content_length, 11);
    assert_string_equal(r.s->first_message, "beforeafter");
    assert_string_equal(msg(&r, 1)->content, "onetwo");
    /* A string holding an empty object or array is skipped like one. */
    assert_string_equal(msg(&r, 2)->content, "[Tool: list_mcp_resources]");
    assert_null(call0(&r, 2)->input_json);
    assert_string_equal(msg(&r, 3)->content, "[Bash]\n$ pwd");
    assert_string_equal(call0(&r, 3)->input_json, "{\"cmd\":\"pwd\"}");
    /* path comes before filePath and file; an empty value is passed over. */
    assert_string_equal(call0(&r, 4)->file_path, "b.c");
    run_free(&r);

    /* A NUL inside call arguments and a summary is dropped the same way. */
    static const char calls[] =
        "{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':"
        "'function_call','name':'exec_command','arguments':{'cmd':'echo a\\u0000b; ls'},"
        "'call_id':'n1'}}\n"
        "{'timestamp':'2025-09-01T10:00:03Z','type':'response_item','payload':{'type':"
        "'function_call','name':'read_file','arguments':{'path':'a\\u0000b.c'},'call_id':'n2'}}\n"
        "{'timestamp':'2025-09-01T10:00:04Z','type':'response_item','payload':{'type':"
        "'function_call','name':'mystery_tool','summary':'x\\u0000y','arguments':{'k':1},"
        "'call_id':'n3'}}\n"
        "{'timestamp':'2025-09-01T10:00:05Z','type':'response_item','payload':{'type':"
        "'function_call','name':'odd_tool','arguments':'raw\\u0000text','call_id':'n4'}}\n"
        "{'timestamp':'2025-09-01T10:00:06Z','type':'response_item','payload':{'type':"
        "'function_call','name':'write_stdin','arguments':{'chars':'y\\u0000\\n'},"
        "'call_id':'n5'}}\n";
    parse_text(&r, jl(fmt(META_LINE USER_LINE("2025-09-01T10:00:01Z", "go") "%s", calls)));
    assert_string_equal(msg(&r, 1)->content, "[Bash]\n$ echo ab; ls");
    assert_string_equal(msg(&r, 2)->content, "[Read: ab.c]\n{\"path\":\"a\\u0000b.c\"}");
    assert_string_equal(call0(&r, 2)->file_path, "ab.c");
    assert_string_equal(msg(&r, 3)->content, "[Tool: mystery_tool]\nxy");
    assert_string_equal(msg(&r, 4)->content, "[Tool: odd_tool]\nrawtext");
    /* write_stdin quotes the typed characters, so its NUL shows as \x00. */
    assert_string_equal(msg(&r, 5)->content, "[Bash: stdin]\ny\\x00\\n");
    run_free(&r);
}

static void test_render_patch_variants(void **state)
{
    (void)state;
    char *many = fmt("%s", "*** Begin Patch\\\\n");
    for (int i = 1; i <= 8; i++)
        many = fmt("%s*** Add File: f%d.txt\\\\n+x\\\\n", many, i);
    many = fmt("%s*** Delete File: f1.txt\\\\n*** End Patch", many);

    run r;
    parse_text(&r, jl(fmt(META_LINE USER_LINE("2025-09-01T10:00:01Z", "patch it")
        "{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':'custom_tool_call','name':'apply_patch','input':'*** Begin Patch\\n*** Add File: notes/a.txt\\n+hello\\n*** End Patch\\n','call_id':'c1','status':'completed'}}\n"
        "{'timestamp':'2025-09-01T10:00:03Z','type':'response_item','payload':{'type':'custom_tool_call_output','call_id':'c1','output':'Success. Updated: notes/a.txt'}}\n"
        "{'timestamp':'2025-09-01T10:00:04Z','type':'response_item','payload':{'type':'function_call','name':'apply_patch','arguments':'{\\'patch\\':\\'%s\\'}','call_id':'c2'}}\n"
        "{'timestamp':'2025-09-01T10:00:05Z','type':'response_item','payload':{'type':'custom_tool_call_output','call_id':'c2','status':'failed','output':'  conflict  '}}\n"
        "{'timestamp':'2025-09-01T10:00:06Z','type':'response_item','payload':{'type':'function_call','name':'apply_patch','arguments':'{\\'patch\\':\\'no markers here\\'}','call_id':'c3'}}\n",
        many)));

    assert_string_equal(msg(&r, 1)->content, "[Edit: notes/a.txt]");
    assert_string_equal(call0(&r, 1)->input_json, "*** Begin Patch\n*** Add File: notes/a.txt\n+hello\n*** End Patch\n");
    assert_int_equal(call0(&r, 1)->n_events, 1);
    assert_string_equal(call0(&r, 1)->events[0].source, "custom_tool_call_output");
    assert_string_equal(call0(&r, 1)->events[0].status, "completed");
    assert_string_equal(call0(&r, 1)->events[0].content, "Success. Updated: notes/a.txt");

    assert_string_equal(msg(&r, 2)->content,
                        "[Edit: f1.txt (+7 more)]\nf1.txt\nf2.txt\nf3.txt\nf4.txt\nf5.txt\nf6.txt\n+2 more files");
    assert_int_equal(call0(&r, 2)->n_events, 1);
    assert_string_equal(call0(&r, 2)->events[0].status, "failed");
    assert_string_equal(call0(&r, 2)->events[0].content, "conflict");

    assert_string_equal(msg(&r, 3)->content, "[Edit]\n{\"patch\":\"no markers here\"}");
    run_free(&r);
}

static void test_render_preview_truncated(void **state)
{
    (void)state;
    char *word = fmt("%s", "");
    for (int i = 0; i < 300; i++)
        word = fmt("%s%c", word, 'a' + i % 26);

    run r;
    parse_text(&r, jl(fmt(META_LINE USER_LINE("2025-09-01T10:00:01Z", "go")
        "{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':'function_call','name':'odd_tool','arguments':'%s','call_id':'c1'}}\n",
        word)));
    const char *content = msg(&r, 1)->content;
    assert_true(strncmp(content, "[Tool: odd_tool]\n", 17) == 0);
    assert_int_equal(strlen(content), 17 + 220 + 3);
    assert_string_equal(content + 17 + 220, "...");
    assert_true(strncmp(content + 17, word, 220) == 0);
    run_free(&r);
}

/* ---- usage, model, prompts ----------------------------------------------------------------- */

#define TOKEN_LINE(ts, in, cached, out)                                                             \
    "{'timestamp':'" ts "','type':'event_msg','payload':{'type':'token_count','info':{'last_token_usage':{'input_tokens':" in ",'cached_input_tokens':" cached ",'output_tokens':" out "}}}}\n"

static void test_token_usage_attach_and_dedup(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "first question")
        ASSISTANT_LINE("2025-09-01T10:00:02Z", "answer one")
        TOKEN_LINE("2025-09-01T10:00:03Z", "100", "40", "7")
        "{'timestamp':'2025-09-01T10:00:03.5Z','type':'event_msg','payload':{'type':'token_count','info':{'last_token_usage':{'output_tokens':7,'cached_input_tokens':40.0,'input_tokens':100}}}}\n"
        "{'timestamp':'2025-09-01T10:00:04Z','type':'event_msg','payload':{'type':'token_count','info':null}}\n"
        USER_LINE("2025-09-01T10:00:05Z", "second question")
        TOKEN_LINE("2025-09-01T10:00:06Z", "200", "0", "0")
        "{'timestamp':'2025-09-01T10:00:07Z','type':'response_item','payload':{'type':'function_call','name':'exec_command','arguments':'{\\'cmd\\':\\'ls\\'}','call_id':'c1'}}\n"
        ASSISTANT_LINE("2025-09-01T10:00:08Z", "answer two")
        TOKEN_LINE("2025-09-01T10:00:09Z", "30", "50", "9")
        TOKEN_LINE("2025-09-01T10:00:10Z", "300", "100", "11")
        TOKEN_LINE("2025-09-01T10:00:11Z", "1", "0", "1")));

    assert_int_equal(r.s->message_count, 5);
    /* The second count is the first one again (same canonical JSON) and is skipped. */
    assert_string_equal(msg(&r, 1)->token_usage,
                        "{\"cache_read_input_tokens\":40,\"input_tokens\":60,\"output_tokens\":7}");
    assert_int_equal(msg(&r, 1)->context_tokens, 100);
    assert_int_equal(msg(&r, 1)->output_tokens, 7);
    /* A count right after a user message has no assistant message in its turn. */
    assert_string_equal(msg(&r, 2)->token_usage, "");
    /* Later counts go to the latest assistant message without usage, function calls included. */
    assert_string_equal(msg(&r, 4)->token_usage,
                        "{\"cache_read_input_tokens\":50,\"input_tokens\":0,\"output_tokens\":9}");
    assert_int_equal(msg(&r, 4)->context_tokens, 50);
    assert_true(msg(&r, 4)->has_context_tokens);
    assert_string_equal(msg(&r, 3)->token_usage,
                        "{\"cache_read_input_tokens\":100,\"input_tokens\":200,\"output_tokens\":11}");
    assert_int_equal(msg(&r, 3)->context_tokens, 300);
    assert_true(msg(&r, 3)->has_output_tokens);
    assert_int_equal(r.s->total_output_tokens, 27);
    assert_int_equal(r.s->peak_context_tokens, 300);
    run_free(&r);
}

/* A count with the same text as the last one is a repeat, even across turns, and any change counts.
 */
static void test_token_usage_same_text_repeats(void **state)
{
    (void)state;
    run r;
    parse_text(
        &r,
        jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "q1") ASSISTANT_LINE(
            "2025-09-01T10:00:02Z", "a1") TOKEN_LINE("2025-09-01T10:00:03Z", "100", "40", "7")
               USER_LINE("2025-09-01T10:00:04Z", "q2") ASSISTANT_LINE("2025-09-01T10:00:05Z", "a2")
                   TOKEN_LINE("2025-09-01T10:00:06Z", "100", "40", "7")
                       ASSISTANT_LINE("2025-09-01T10:00:07Z", "a3")
                           TOKEN_LINE("2025-09-01T10:00:08Z", "100", "40", "8")
                               ASSISTANT_LINE("2025-09-01T10:00:09Z", "a4")
                                   TOKEN_LINE("2025-09-01T10:00:10Z", "100", "40", "7")));

    assert_int_equal(r.s->message_count, 6);
    assert_string_equal(msg(&r, 1)->token_usage,
                        "{\"cache_read_input_tokens\":40,\"input_tokens\":60,\"output_tokens\":7}");
    /* The second count repeats the first byte for byte, so a2 gets none. */
    assert_string_equal(msg(&r, 3)->token_usage, "");
    assert_string_equal(msg(&r, 4)->token_usage,
                        "{\"cache_read_input_tokens\":40,\"input_tokens\":60,\"output_tokens\":8}");
    /* The last count equals the first but not the one before it, so it counts. */
    assert_string_equal(msg(&r, 5)->token_usage,
                        "{\"cache_read_input_tokens\":40,\"input_tokens\":60,\"output_tokens\":7}");
    run_free(&r);
}

static void test_token_usage_zero_flags(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "q")
        ASSISTANT_LINE("2025-09-01T10:00:02Z", "a")
        TOKEN_LINE("2025-09-01T10:00:03Z", "0", "0", "0")));
    assert_string_equal(msg(&r, 1)->token_usage,
                        "{\"cache_read_input_tokens\":0,\"input_tokens\":0,\"output_tokens\":0}");
    /* The usage names every count, so the archive stores each as present, zeros included. */
    assert_true(msg(&r, 1)->has_output_tokens);
    assert_true(msg(&r, 1)->has_context_tokens);
    assert_true(r.s->has_total_output_tokens);
    assert_int_equal(r.s->total_output_tokens, 0);
    assert_true(r.s->has_peak_context_tokens);
    assert_int_equal(r.s->peak_context_tokens, 0);
    assert_false(msg(&r, 0)->has_output_tokens); /* the user message has no usage */
    run_free(&r);
}

static void test_turn_context_model(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "before any model")
        "{'timestamp':'2025-09-01T10:00:02Z','type':'turn_context','payload':{'model':'gpt-5','turn_id':'t1'}}\n"
        USER_LINE("2025-09-01T10:00:03Z", "with model")
        ASSISTANT_LINE("2025-09-01T10:00:04Z", "reply")
        "{'timestamp':'2025-09-01T10:00:05Z','type':'turn_context','payload':{'model':'gpt-5-mini'}}\n"
        ASSISTANT_LINE("2025-09-01T10:00:06Z", "switched")
        "{'timestamp':'2025-09-01T10:00:07Z','type':'turn_context','payload':{'cwd':'/srv/app'}}\n"
        ASSISTANT_LINE("2025-09-01T10:00:08Z", "cleared")));
    assert_string_equal(msg(&r, 0)->model, "");
    assert_string_equal(msg(&r, 1)->model, "gpt-5");
    assert_string_equal(msg(&r, 2)->model, "gpt-5");
    assert_string_equal(msg(&r, 3)->model, "gpt-5-mini");
    assert_string_equal(msg(&r, 4)->model, "");
    run_free(&r);
}

static void test_system_content_dropped(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "# AGENTS.md instructions for /srv/app\\n\\n<INSTRUCTIONS>be nice</INSTRUCTIONS>")
        USER_LINE("2025-09-01T10:00:02Z", "<environment_context>\\n  <cwd>/srv/app</cwd>\\n</environment_context>")
        USER_LINE("2025-09-01T10:00:03Z", "<INSTRUCTIONS>x</INSTRUCTIONS>")
        USER_LINE("2025-09-01T10:00:04Z", "  <turn_aborted>\\nstopped\\n</turn_aborted>")
        USER_LINE("2025-09-01T10:00:05Z", "\\n<skill>\\n<name>pdf</name>\\n</skill>")
        USER_LINE("2025-09-01T10:00:06Z", "<subagent_notification>not json</subagent_notification>")
        USER_LINE("2025-09-01T10:00:07Z", "<goal_context>ship it</goal_context>")
        USER_LINE("2025-09-01T10:00:08Z", "<codex_internal_context kind=\\'x\\' source=\\'goal\\'>g</codex_internal_context>")
        USER_LINE("2025-09-01T10:00:09Z", "   ")
        "{'timestamp':'2025-09-01T10:00:09.5Z','type':'response_item','payload':{'type':'message','role':'developer','content':[{'type':'input_text','text':'developer note'}]}}\n"
        "{'timestamp':'2025-09-01T10:00:09.7Z','type':'response_item','payload':{'type':'reasoning','summary':[],'content':[{'type':'reasoning_text','text':'hmm'}]}}\n"
        USER_LINE("2025-09-01T10:00:10Z", "<codex_internal_context source=\\'memory\\'>kept</codex_internal_context>")
        USER_LINE("2025-09-01T10:00:11Z", " # AGENTS.md is what I want to discuss")
        USER_LINE("2025-09-01T10:00:12Z", "<user_instructions>only legacy files hide this</user_instructions>")));

    assert_int_equal(r.s->message_count, 3);
    assert_string_equal(msg(&r, 0)->content, "<codex_internal_context source=\"memory\">kept</codex_internal_context>");
    assert_string_equal(r.s->first_message, "<codex_internal_context source=\"memory\">kept</codex_internal_context>");
    assert_string_equal(msg(&r, 1)->content, " # AGENTS.md is what I want to discuss");
    assert_string_equal(msg(&r, 2)->content, "<user_instructions>only legacy files hide this</user_instructions>");
    assert_int_equal(r.s->user_message_count, 3);
    run_free(&r);
}

static void test_recommended_plugins_stripped(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE
        "{'timestamp':'2025-09-01T10:00:01Z','type':'response_item','payload':{'type':'message','role':'user','content':["
        "{'type':'input_text','text':'<recommended_plugins>\\n- lint\\n</recommended_plugins>\\n# AGENTS.md instructions\\n<INSTRUCTIONS>rules</INSTRUCTIONS>\\n<environment_context><cwd>/a</cwd></environment_context>\\nDeploy the staging branch'},"
        "{'type':'input_text','text':'<environment_context><cwd>/b</cwd></environment_context>'},"
        "{'type':'input_text','text':'and tag it'}]}}\n"
        USER_LINE("2025-09-01T10:00:02Z", "<recommended_plugins>later prompts keep it</recommended_plugins> ok")));

    assert_int_equal(r.s->message_count, 2);
    assert_string_equal(msg(&r, 0)->content, "Deploy the staging branch\nand tag it");
    assert_string_equal(r.s->first_message, "Deploy the staging branch and tag it");
    assert_string_equal(msg(&r, 1)->content, "<recommended_plugins>later prompts keep it</recommended_plugins> ok");
    run_free(&r);
}

static void test_first_message_truncated(void **state)
{
    (void)state;
    char *long_text = fmt("%s", "");
    for (int i = 0; i < 400; i++)
        long_text = fmt("%s%c", long_text, 'a' + i % 26);

    run r;
    parse_text(&r, jl(fmt(META_LINE "{'timestamp':'2025-09-01T10:00:01Z','type':'response_item','payload':{'type':'message','role':'user','content':[{'type':'input_text','text':'line one\\nline two'}]}}\n"
        USER_LINE("2025-09-01T10:00:02Z", "%s"), long_text)));
    assert_string_equal(r.s->first_message, "line one line two");
    assert_string_equal(msg(&r, 0)->content, "line one\nline two");
    run_free(&r);

    parse_text(&r, jl(fmt(META_LINE USER_LINE("2025-09-01T10:00:02Z", "%s"), long_text)));
    assert_int_equal(strlen(r.s->first_message), 303);
    assert_true(strncmp(r.s->first_message, long_text, 300) == 0);
    assert_string_equal(r.s->first_message + 300, "...");
    run_free(&r);
}

static void test_filename_fallback_id(void **state)
{
    (void)state;
    char *path = fmt("%s/sessions/rollout-test.jsonl", tmp_dir);
    write_text(path, jl(USER_LINE("2025-09-01T10:00:01Z", "no meta here")));

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->id, "codex:rollout-test");
    assert_string_equal(r.s->project, "unknown");
    assert_string_equal(r.s->cwd, "");
    run_free(&r);

    /* A later meta with an empty id clears the id back to the file stem. */
    write_text(path, jl(META_LINE
        "{'timestamp':'2025-09-01T10:00:02Z','type':'session_meta','payload':{'id':'','cwd':'/'}}\n"));
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->id, "codex:rollout-test");
    assert_string_equal(r.s->project, "unknown");
    assert_string_equal(r.s->cwd, "/");
    run_free(&r);

    char *zst_name = fmt("%s/sessions/rollout-plain.jsonl.zst", tmp_dir);
    char text[] = "{\"type\":\"response_item\"}\n";
    size_t bound = ZSTD_compressBound(sizeof text - 1);
    char *packed = pd_arena_alloc(scratch, bound);
    size_t packed_n = ZSTD_compress(packed, bound, text, sizeof text - 1, 3);
    assert_false(ZSTD_isError(packed_n));
    write_bytes(zst_name, packed, packed_n, "wb");
    run_parse(&r, sessions_root(), zst_name, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->id, "codex:rollout-plain");
    run_free(&r);
}

static void test_second_meta_root_cwd_unknown(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE
        "{'timestamp':'2025-09-01T10:00:02Z','type':'session_meta','payload':{'id':'lbl-2','cwd':'/'}}\n"
        USER_LINE("2025-09-01T10:00:03Z", "hi")));
    assert_string_equal(r.s->id, "codex:lbl-2");
    assert_string_equal(r.s->project, "unknown");
    assert_string_equal(r.s->cwd, "/");
    run_free(&r);
}

static void test_reemitted_prompt_after_abort(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "Refactor the parser")
        "{'timestamp':'2025-09-01T10:00:02Z','type':'event_msg','payload':{'type':'turn_aborted','reason':'interrupted'}}\n"
        USER_LINE("2025-09-01T10:00:03Z", "Refactor the parser")
        ASSISTANT_LINE("2025-09-01T10:00:04Z", "on it")
        USER_LINE("2025-09-01T10:00:05Z", "Refactor the parser")));
    /* Only the replay right after the abort is dropped; a later repeat is a real turn. */
    assert_int_equal(r.s->message_count, 3);
    assert_string_equal(msg(&r, 0)->content, "Refactor the parser");
    assert_string_equal(msg(&r, 1)->content, "on it");
    assert_string_equal(msg(&r, 2)->content, "Refactor the parser");
    assert_int_equal(r.s->user_message_count, 2);
    run_free(&r);

    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "Same words")
        USER_LINE("2025-09-01T10:00:02Z", "Same words")));
    assert_int_equal(r.s->message_count, 2);
    run_free(&r);

    /* A <turn_aborted> user item arms the replay guard too. */
    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "Same words")
        USER_LINE("2025-09-01T10:00:02Z", "<turn_aborted>\\nuser stopped\\n</turn_aborted>")
        USER_LINE("2025-09-01T10:00:03Z", "Same words")));
    assert_int_equal(r.s->message_count, 1);
    run_free(&r);

    /* Another prompt between the abort and the repeat makes the repeat genuine. */
    parse_text(&r, jl(META_LINE
        USER_LINE("2025-09-01T10:00:01Z", "Same words")
        USER_LINE("2025-09-01T10:00:02Z", "Other words")
        "{'timestamp':'2025-09-01T10:00:03Z','type':'event_msg','payload':{'type':'turn_aborted'}}\n"
        USER_LINE("2025-09-01T10:00:04Z", "Same words")));
    assert_int_equal(r.s->message_count, 3);
    run_free(&r);
}

static void test_termination_from_lifecycle(void **state)
{
    (void)state;
    static const struct {
        const char *events;
        const char *expected;
    } cases[] = {
        {"task_started,task_complete", "awaiting_user"},
        {"task_complete,task_started", "tool_call_pending"},
        {"task_started,turn_aborted", "tool_call_pending"},
        {"task_complete,agent_message", "awaiting_user"},
        {"", NULL},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = fmt("%s", jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "q")));
        char *events = pd_arena_strdup(scratch, cases[i].events);
        for (char *tok = strtok(events, ","); tok != NULL; tok = strtok(NULL, ","))
            text = fmt("%s{\"timestamp\":\"2025-09-01T10:00:02Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"%s\"}}\n",
                       text, tok);
        run r;
        parse_text(&r, text);
        if (cases[i].expected == NULL)
            assert_null(r.s->termination_status);
        else
            assert_string_equal(r.s->termination_status, cases[i].expected);
        assert_false(r.s->is_truncated);
        run_free(&r);
    }
}

/* ---- subagents and the replay gate -------------------------------------------------------------- */

#define NOTE_LINE(ts, agent, status, text)                                                          \
    "{'timestamp':'" ts "','type':'response_item','payload':{'type':'message','role':'user','content':[{'type':'input_text','text':'<subagent_notification>{\\'agent_id\\':\\'" agent "\\',\\'status\\':{\\'" status "\\':\\'" text "\\'}}</subagent_notification>'}]}}\n"
#define CALL_LINE(ts, name, args, id)                                                               \
    "{'timestamp':'" ts "','type':'response_item','payload':{'type':'function_call','name':'" name "','arguments':'" args "','call_id':'" id "'}}\n"
#define OUTPUT_LINE(ts, id, output)                                                                 \
    "{'timestamp':'" ts "','type':'response_item','payload':{'type':'function_call_output','call_id':'" id "','output':'" output "'}}\n"

static void test_subagent_links_and_events(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(
        "{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'sub-1','cwd':'/srv/app','source':{'subagent':{'thread_spawn':{'parent_thread_id':'0f0f0f0f-0000-4000-8000-000000000001','agent_path':'/root/worker/','depth':1}}}}}\n"
        CALL_LINE("2025-09-01T10:00:01Z", "spawn_agent", "{\\'message\\':\\'look\\'}", "c_sp")
        OUTPUT_LINE("2025-09-01T10:00:02Z", "c_sp", "{\\'agent_id\\':\\'agent-a\\'}")
        CALL_LINE("2025-09-01T10:00:03Z", "spawn_agent", "{}", "c_sp2")
        "{'timestamp':'2025-09-01T10:00:04Z','type':'event_msg','payload':{'type':'collab_agent_spawn_end','call_id':'c_sp2','new_thread_id':' agent-b '}}\n"
        CALL_LINE("2025-09-01T10:00:05Z", "spawn_agent", "{}", "c_sp3")
        "{'timestamp':'2025-09-01T10:00:06Z','type':'event_msg','payload':{'type':'sub_agent_activity','kind':'started','event_id':'c_sp3','agent_thread_id':'agent-c'}}\n"
        NOTE_LINE("2025-09-01T10:00:07Z", "agent-d", "completed", "done D")
        CALL_LINE("2025-09-01T10:00:08Z", "wait", "{\\'ids\\':[\\'agent-a\\',\\'agent-d\\']}", "c_w")
        OUTPUT_LINE("2025-09-01T10:00:09Z", "c_w", "{\\'status\\':{\\'agent-a\\':{\\'completed\\':\\'done A\\'},\\'agent-x\\':{\\'pending\\':\\'?\\'}}}")
        NOTE_LINE("2025-09-01T10:00:10Z", "agent-a", "completed", "done A")
        NOTE_LINE("2025-09-01T10:00:11Z", "agent-b", "errored", "boom")
        NOTE_LINE("2025-09-01T10:00:12Z", "agent-z", "completed", "orphan text")
        NOTE_LINE("2025-09-01T10:00:13Z", "agent-z", "completed", "orphan text")
        ASSISTANT_LINE("2025-09-01T10:00:14Z", "all done")));

    const pd_session *s = r.s;
    assert_string_equal(s->parent_session_id, "codex:0f0f0f0f-0000-4000-8000-000000000001");
    assert_string_equal(s->relationship_type, "subagent");
    assert_null(s->first_message);
    assert_string_equal(s->session_name, "worker");
    assert_false(s->session_name_present);
    assert_false(s->needs_retry);
    assert_int_equal(s->message_count, 6);

    assert_string_equal(call0(&r, 0)->subagent_session_id, "codex:agent-a");
    assert_string_equal(call0(&r, 1)->subagent_session_id, "codex:agent-b");
    assert_string_equal(call0(&r, 2)->subagent_session_id, "codex:agent-c");

    const pd_tool_call *wait = call0(&r, 3);
    assert_string_equal(wait->tool_name, "wait");
    assert_int_equal(wait->n_events, 2);
    assert_string_equal(wait->events[0].source, "subagent_notification");
    assert_string_equal(wait->events[0].agent_id, "agent-d");
    assert_string_equal(wait->events[0].subagent_session_id, "codex:agent-d");
    assert_string_equal(wait->events[0].status, "completed");
    assert_string_equal(wait->events[0].content, "done D");
    assert_string_equal(wait->events[0].tool_use_id, "c_w");
    assert_string_equal(wait->events[1].source, "wait_output");
    assert_string_equal(wait->events[1].agent_id, "agent-a");
    assert_string_equal(wait->events[1].content, "done A");
    assert_int_equal(wait->events[1].event_index, 1);

    const pd_tool_call *spawn_b = call0(&r, 1);
    assert_int_equal(spawn_b->n_events, 1);
    assert_string_equal(spawn_b->events[0].status, "errored");
    assert_string_equal(spawn_b->events[0].content, "boom");

    /* A notification no call claims stays a user message at its own position. */
    assert_string_equal(msg(&r, 4)->role, "user");
    assert_string_equal(msg(&r, 4)->content, "orphan text");
    assert_string_equal(msg(&r, 4)->timestamp, "2025-09-01T10:00:12Z");
    assert_string_equal(msg(&r, 5)->content, "all done");
    assert_int_equal(s->user_message_count, 1);
    for (size_t i = 0; i < s->n_messages; i++)
        assert_int_equal(msg(&r, i)->ordinal, (int64_t)i);
    run_free(&r);
}

static void test_subagent_thread_source_parent(void **state)
{
    (void)state;
    run r;
    parse_text(&r, jl(
        "{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'sub-2','thread_source':'subagent','parent_thread_id':'p-77','agent_path':'/root/a/b'}}\n"
        USER_LINE("2025-09-01T10:00:01Z", "a real prompt")));
    assert_string_equal(r.s->parent_session_id, "codex:p-77");
    assert_string_equal(r.s->relationship_type, "subagent");
    /* With a first message the agent-path leaf is not used as a title. */
    assert_null(r.s->session_name);
    run_free(&r);

    parse_text(&r, jl(
        "{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'sub-3','thread_source':'user','parent_thread_id':'p-77'}}\n"));
    assert_null(r.s->parent_session_id);
    assert_string_equal(r.s->relationship_type, "");
    run_free(&r);
}

static void test_agent_message_to_this_agent(void **state)
{
    (void)state;
    char *fernet = fmt("gAAAAA%.*s==", 92,
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    run r;
    parse_text(&r, jl(fmt(
        "{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'sub-4','agent_path':'/root/w1'}}\n"
        "{'timestamp':'2025-09-01T10:00:01Z','type':'response_item','payload':{'type':'agent_message','recipient':'/root/other','content':[{'encrypted_content':'not for us'}]}}\n"
        "{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':'agent_message','recipient':'/root/w1','content':[{'encrypted_content':'%s'},{'encrypted_content':'Summarise the logs'},{'encrypted_content':'gAAAAAshort'}]}}\n",
        fernet)));
    assert_int_equal(r.s->message_count, 1);
    assert_string_equal(msg(&r, 0)->role, "user");
    assert_string_equal(msg(&r, 0)->content, "Summarise the logs\ngAAAAAshort");
    assert_string_equal(r.s->first_message, "Summarise the logs gAAAAAshort");
    run_free(&r);
}

#define PARENT_UUID "aaaaaaaa-0000-4000-8000-000000000001"
#define CHILD_UUID "cccccccc-0000-4000-8000-000000000002"

static char *write_parent_rollout(void)
{
    char *path = fmt("%s/sessions/2026/01/10/rollout-2026-01-10T08-00-00-" PARENT_UUID ".jsonl", tmp_dir);
    write_text(path, jl(
        "{'timestamp':'2026-01-10T08:00:00Z','type':'session_meta','payload':{'id':'" PARENT_UUID "','cwd':'/srv/app'}}\n"
        "{'timestamp':'2026-01-10T08:00:01Z','type':'turn_context','payload':{'turn_id':'tp-1','model':'m1'}}\n"
        USER_LINE("2026-01-10T08:00:02Z", "parent question")
        ASSISTANT_LINE("2026-01-10T08:00:03Z", "parent answer")
        TOKEN_LINE("2026-01-10T08:00:04Z", "10", "0", "5")
        "{'timestamp':'2026-01-10T08:00:05Z','type':'turn_context','payload':{'turn_id':'tp-2','model':'m1'}}\n"
        USER_LINE("2026-01-10T08:00:06Z", "parent follow-up")));
    return path;
}

static char *write_fork_child(void)
{
    char *path = fmt("%s/sessions/2026/01/11/rollout-2026-01-11T09-00-00-" CHILD_UUID ".jsonl", tmp_dir);
    write_text(path, jl(
        "{'timestamp':'2026-01-11T09:00:00Z','type':'session_meta','payload':{'id':'" CHILD_UUID "','forked_from_id':'" PARENT_UUID "','cwd':'/srv/app'}}\n"
        "{'timestamp':'2026-01-11T09:00:00.1Z','type':'session_meta','payload':{'id':'" PARENT_UUID "','cwd':'/srv/other'}}\n"
        "{'timestamp':'2026-01-11T09:00:00.2Z','type':'turn_context','payload':{'turn_id':'tp-1','model':'m1'}}\n"
        USER_LINE("2026-01-11T09:00:00.3Z", "parent question")
        ASSISTANT_LINE("2026-01-11T09:00:00.4Z", "parent answer")
        TOKEN_LINE("2026-01-11T09:00:00.5Z", "10", "0", "5")
        "{'timestamp':'2026-01-11T09:00:00.6Z','type':'turn_context','payload':{'turn_id':'tp-2','model':'m1'}}\n"
        USER_LINE("2026-01-11T09:00:00.7Z", "parent follow-up")
        "{'timestamp':'2026-01-11T09:00:05Z','type':'turn_context','payload':{'turn_id':'tc-1','model':'m2'}}\n"
        USER_LINE("2026-01-11T09:00:06Z", "child question")
        ASSISTANT_LINE("2026-01-11T09:00:07Z", "child answer")
        TOKEN_LINE("2026-01-11T09:00:08Z", "20", "5", "9")
        "{'timestamp':'2026-01-11T09:00:09Z','type':'turn_context','payload':{'turn_id':'tp-1','model':'m1'}}\n"
        ASSISTANT_LINE("2026-01-11T09:00:10Z", "late reply")));
    return path;
}

/* One lookup thread's input and results. */
typedef struct lookup_job {
    const pd_codex_shared *shared;
    const char *parent_path; /* the expected path of PARENT_UUID */
    bool parent_ok;
    bool missing_ok;
} lookup_job;

static void *lookup_in_thread(void *arg)
{
    lookup_job *job = arg;
    const char *path = pd_codex_rollout_path(job->shared, PARENT_UUID, strlen(PARENT_UUID));
    job->parent_ok = path != NULL && strcmp(path, job->parent_path) == 0;
    job->missing_ok = pd_codex_rollout_path(job->shared, CHILD_UUID, strlen(CHILD_UUID)) == NULL;
    return NULL;
}

/* Threads that look up a parent at once build the rollout map once and all see it whole. */
static void test_rollout_map_concurrent_lookups(void **state)
{
    (void)state;
    enum { N_THREADS = 4 };
    char *parent = write_parent_rollout();
    for (int i = 0; i < 20; i++)
        write_text(fmt("%s/sessions/2026/01/%02d/rollout-2026-01-%02dT08-00-00-"
                       "bbbbbbbb-0000-4000-8000-%012d.jsonl",
                       tmp_dir, 12 + i % 5, 12 + i % 5, i),
                   "{}\n");

    const char *roots[] = {sessions_root()};
    void *shared = NULL;
    pd_err err = {0};
    assert_int_equal(pd_provider_codex.open_shared(roots, 1, &shared, &err), PD_OK);

    pthread_t threads[N_THREADS];
    lookup_job jobs[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (lookup_job){.shared = shared, .parent_path = parent};
        assert_int_equal(pthread_create(&threads[i], NULL, lookup_in_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_true(jobs[i].parent_ok);
        assert_true(jobs[i].missing_ok);
    }
    pd_provider_codex.close_shared(shared);
}

static void test_fork_gate_parent_present(void **state)
{
    (void)state;
    write_parent_rollout();
    char *path = write_fork_child();

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    const pd_session *s = r.s;
    assert_string_equal(s->id, "codex:" CHILD_UUID);
    assert_false(s->needs_retry);
    assert_int_equal(s->message_count, 3);
    assert_string_equal(msg(&r, 0)->content, "child question");
    assert_string_equal(msg(&r, 0)->model, "m2");
    assert_string_equal(msg(&r, 1)->content, "child answer");
    assert_string_equal(msg(&r, 1)->token_usage,
                        "{\"cache_read_input_tokens\":5,\"input_tokens\":15,\"output_tokens\":9}");
    /* Once a new turn was seen the gate stays open, even for an old turn id. */
    assert_string_equal(msg(&r, 2)->content, "late reply");
    assert_string_equal(msg(&r, 2)->model, "m1");
    assert_string_equal(s->first_message, "child question");
    assert_string_equal(s->cwd, "/srv/app");
    assert_null(s->parent_session_id);
    assert_string_equal(s->relationship_type, "");
    assert_int_equal(s->total_output_tokens, 9);
    /* Suppressed lines still bound the session in time. */
    assert_string_equal(s->started_at, "2026-01-11T09:00:00Z");
    assert_string_equal(s->ended_at, "2026-01-11T09:00:10Z");
    run_free(&r);
}

static void test_fork_gate_parent_absent(void **state)
{
    (void)state;
    char *path = write_fork_child();

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    const pd_session *s = r.s;
    assert_true(s->needs_retry);
    /* The parent's copied session_meta never replaces the fork's own id. */
    assert_string_equal(s->id, "codex:" CHILD_UUID);
    assert_string_equal(s->cwd, "/srv/app");
    assert_int_equal(s->message_count, 6);
    assert_string_equal(msg(&r, 0)->content, "parent question");
    assert_string_equal(msg(&r, 3)->content, "child question");
    assert_string_equal(s->first_message, "parent question");
    assert_int_equal(s->total_output_tokens, 14);
    run_free(&r);
}

static char *write_subagent_child(bool with_meta_copy)
{
    char *path = fmt("%s/sessions/2026/01/11/rollout-2026-01-11T09-30-00-" CHILD_UUID ".jsonl", tmp_dir);
    write_text(path, jl(fmt(
        "{'timestamp':'2026-01-11T09:30:00Z','type':'session_meta','payload':{'id':'" CHILD_UUID "','source':{'subagent':{'thread_spawn':{'parent_thread_id':'" PARENT_UUID "','depth':1}}}}}\n"
        "%s"
        "{'timestamp':'2026-01-11T09:30:00.2Z','type':'turn_context','payload':{'turn_id':'tp-1','model':'m1'}}\n"
        USER_LINE("2026-01-11T09:30:00.3Z", "parent question")
        "{'timestamp':'2026-01-11T09:30:01Z','type':'turn_context','payload':{'turn_id':'ts-1','model':'m3'}}\n"
        USER_LINE("2026-01-11T09:30:02Z", "subagent task"),
        with_meta_copy ? "{'timestamp':'2026-01-11T09:30:00.1Z','type':'session_meta','payload':{'id':'" PARENT_UUID "'}}\n" : "")));
    return path;
}

static void test_subagent_gate_parent_present(void **state)
{
    (void)state;
    write_parent_rollout();
    char *path = write_subagent_child(true);

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_false(r.s->needs_retry);
    assert_string_equal(r.s->id, "codex:" CHILD_UUID);
    assert_int_equal(r.s->message_count, 1);
    assert_string_equal(msg(&r, 0)->content, "subagent task");
    assert_string_equal(r.s->parent_session_id, "codex:" PARENT_UUID);
    assert_string_equal(r.s->relationship_type, "subagent");
    run_free(&r);
}

static void test_subagent_gate_parent_absent(void **state)
{
    (void)state;
    char *path = write_subagent_child(true);

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_true(r.s->needs_retry);
    assert_string_equal(r.s->id, "codex:" CHILD_UUID);
    assert_int_equal(r.s->message_count, 2);
    assert_string_equal(msg(&r, 0)->content, "parent question");
    run_free(&r);

    /* Without a replayed parent meta there is nothing to suppress and nothing to retry. */
    path = write_subagent_child(false);
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_false(r.s->needs_retry);
    assert_int_equal(r.s->message_count, 2);
    run_free(&r);
}

/* ---- legacy format ------------------------------------------------------------------------------ */

static void test_legacy_bare_lines(void **state)
{
    (void)state;
    run r;
    parse_text(&r, read_fixture("legacy_session.jsonl"));
    const pd_session *s = r.s;

    assert_string_equal(s->id, "codex:5b0c7e21-3f4a-4d6e-9a8b-1c2d3e4f5a6b");
    assert_string_equal(s->cwd, "/home/kim/projects/reports");
    assert_string_equal(s->project, "reports");
    assert_string_equal(s->started_at, "2025-08-02T17:20:05.511Z");
    assert_string_equal(s->ended_at, "2025-08-02T17:20:05.511Z");
    assert_int_equal(s->message_count, 3);
    assert_int_equal(s->user_message_count, 1);
    assert_string_equal(s->first_message, "Add a CSV export to the monthly report");
    assert_null(s->termination_status);

    assert_string_equal(msg(&r, 0)->role, "user");
    assert_null(msg(&r, 0)->timestamp);
    assert_string_equal(msg(&r, 1)->content, "[Bash]\n$ [\"bash\",\"-lc\",\"ls reports\"]");
    assert_string_equal(call0(&r, 1)->tool_name, "shell");
    assert_string_equal(call0(&r, 1)->input_json, "{\"command\":[\"bash\",\"-lc\",\"ls reports\"]}");
    assert_int_equal(call0(&r, 1)->n_events, 1);
    assert_string_equal(call0(&r, 1)->events[0].content,
                        "{\"output\":\"monthly.py\\n\",\"metadata\":{\"exit_code\":0,\"duration_seconds\":0.1}}");
    assert_null(call0(&r, 1)->events[0].timestamp);
    assert_string_equal(msg(&r, 2)->content, "Added export_csv() to monthly.py.");
    run_free(&r);
}

/* ---- line reading ---------------------------------------------------------------------------------- */

static void test_consumed_excludes_partial_tail(void **state)
{
    (void)state;
    const char *complete = jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "q")
                              "{'broken':\n"
                              "   \n"
                              ASSISTANT_LINE("2025-09-01T10:00:02Z", "a"));
    char *text = fmt("%s\n\n{\"timestamp\":\"2025-09-01T10:00:0", complete);

    run r;
    parse_text(&r, text);
    assert_int_equal(r.res.consumed, (int64_t)strlen(complete));
    assert_int_equal(r.s->file_size, (int64_t)strlen(text));
    /* The invalid line and the blank line count; the partial tail does not. */
    assert_int_equal(r.s->parser_malformed_lines, 2);
    assert_int_equal(r.s->message_count, 2);
    assert_string_equal(r.s->ended_at, "2025-09-01T10:00:02Z");

    int64_t on_disk = -1;
    pd_err err = {0};
    assert_int_equal(pd_codex_consumed_size(dated_path("0a0b0c0d-1111-4222-8333-944455556666"), r.json,
                                            &on_disk, &err),
                     PD_OK);
    assert_int_equal(on_disk, r.res.consumed);
    run_free(&r);
}

static void test_valid_tail_read_not_consumed(void **state)
{
    (void)state;
    const char *complete = jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "q"));
    char *text = fmt("%s%s", complete, jl("{'timestamp':'2025-09-01T10:00:02Z','type':'response_item','payload':{'type':'message','role':'assistant','content':[{'type':'output_text','text':'tail'}]}}"));

    run r;
    parse_text(&r, text);
    assert_int_equal(r.s->message_count, 2);
    assert_string_equal(msg(&r, 1)->content, "tail");
    assert_int_equal(r.res.consumed, (int64_t)strlen(complete));
    assert_int_equal(r.s->parser_malformed_lines, 0);
    run_free(&r);
}

static void test_bom_and_crlf_lines(void **state)
{
    (void)state;
    char *text = fmt("\xEF\xBB\xBF%s\r\n%s\r\n",
                     jl("{'timestamp':'2025-09-01T10:00:00Z','type':'session_meta','payload':{'id':'crlf-1'}}"),
                     jl("{'timestamp':'2025-09-01T10:00:01Z','type':'response_item','payload':{'type':'message','role':'user','content':[{'type':'input_text','text':'windows line'}]}}"));
    run r;
    parse_text(&r, text);
    assert_string_equal(r.s->id, "codex:crlf-1");
    assert_int_equal(r.s->message_count, 1);
    assert_string_equal(msg(&r, 0)->content, "windows line");
    assert_int_equal(r.res.consumed, (int64_t)strlen(text));
    run_free(&r);
}

static void test_ten_megabyte_line(void **state)
{
    (void)state;
    size_t big = (size_t)10 << 20;
    const char *head = "{\"timestamp\":\"2025-09-01T10:00:02Z\",\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"";
    const char *tail = "\"}]}}\n";
    char *prefix = jl(META_LINE USER_LINE("2025-09-01T10:00:01Z", "make it big"));
    size_t n = strlen(prefix) + strlen(head) + big + strlen(tail);
    char *text = malloc(n + 1);
    assert_non_null(text);
    char *p = text;
    p = stpcpy(p, prefix);
    p = stpcpy(p, head);
    memset(p, 'x', big);
    p += big;
    strcpy(p, tail);

    char *path = dated_path("0a0b0c0d-1111-4222-8333-944455556666");
    write_bytes(path, text, n, "wb");
    free(text);

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->message_count, 2);
    assert_int_equal(msg(&r, 1)->content_length, (int64_t)big);
    assert_int_equal(r.res.consumed, (int64_t)n);
    run_free(&r);
}

static void test_malformed_input_no_crash(void **state)
{
    (void)state;
    char *deep = pd_arena_alloc(scratch, 200002);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\n';
    deep[200001] = '\0';

    static const char garbage[] = "\x01\x02\xff\xfe\x00zzz\n";
    char *text = fmt("%s", jl(
        "[]\n123\n'just a string'\nnull\n"
        "{'type':'response_item','payload':'str'}\n"
        "{'type':'session_meta','payload':[1,2]}\n"
        "{'type':'turn_context','payload':{'model':7}}\n"
        "{'type':'event_msg','payload':null}\n"
        "{'type':'event_msg','payload':{'type':'token_count','info':{'last_token_usage':'str'}}}\n"
        "{'timestamp':12,'type':'response_item','payload':{'type':'message','role':'user','content':'plain string'}}\n"
        "{'timestamp':'garbage','type':'response_item','payload':{'type':'message','role':'user','content':[1,'x',null,{'type':'input_text','text':5}]}}\n"
        "{'type':'response_item','payload':{'type':'function_call','name':5,'arguments':12,'call_id':7}}\n"
        "{'type':'response_item','payload':{'type':'function_call','name':'exec_command','arguments':12,'call_id':'n1'}}\n"
        "{'type':'response_item','payload':{'type':'function_call_output','call_id':'n1','output':{}}}\n"
        "{'type':'response_item','payload':{'type':'function_call_output','call_id':'n1','output':[1,2]}}\n"
        "{'type':'response_item','payload':{'type':'function_call','name':'wait','arguments':'{\\'ids\\':[1,null,\\'  \\']}','call_id':'w1'}}\n"
        "{'type':'response_item','payload':{'type':'function_call_output','call_id':'w1','output':'{\\'status\\':[]}'}}\n"
        "{'type':'response_item','payload':{'type':'function_call','name':'apply_patch','arguments':'{\\'patch\\':17}','call_id':'p1'}}\n"
        "{'type':'event_msg','payload':{'type':'collab_agent_spawn_end','call_id':'missing','new_thread_id':'t'}}\n"
        "{'type':'response_item','payload':{'type':'message','role':'user','content':[{'type':'input_text','text':'<subagent_notification>{\\'agent_id\\':5}</subagent_notification>'}]}}\n"));
    const char *last = "{\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"bad \xff\xfe bytes \x7f\xc2\x85 end\"}]}}\n";
    char *path = dated_path("0a0b0c0d-1111-4222-8333-944455556666");
    write_text(path, text);
    write_bytes(path, garbage, sizeof garbage - 1, "ab");
    append_text(path, deep);
    append_text(path, last);

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->message_count, 4);
    assert_string_equal(msg(&r, 0)->content, "[Bash]\n12");
    assert_string_equal(call0(&r, 0)->input_json, "12");
    assert_int_equal(call0(&r, 0)->n_events, 2);
    assert_string_equal(call0(&r, 0)->events[0].content, "{}");
    assert_string_equal(call0(&r, 0)->events[1].content, "[1,2]");
    assert_string_equal(msg(&r, 1)->content, "[Tool: wait]\n{\"ids\":[1,null,\" \"]}");
    assert_int_equal(call0(&r, 1)->n_events, 0);
    assert_string_equal(msg(&r, 2)->content, "[Edit]\n{\"patch\":17}");
    assert_true(pd_utf8_is_clean(msg(&r, 3)->content, strlen(msg(&r, 3)->content)));
    assert_string_equal(msg(&r, 3)->content, "bad  bytes  end");
    assert_true(r.s->parser_malformed_lines >= 1);
    run_free(&r);
}

/* ---- incremental parse ------------------------------------------------------------------------------ */

#define INC_PREFIX                                                                                  \
    "{'timestamp':'2026-02-01T10:00:00Z','type':'session_meta','payload':{'id':'inc-1','cwd':'/srv/app'}}\n" \
    "{'timestamp':'2026-02-01T10:00:01Z','type':'turn_context','payload':{'turn_id':'t1','model':'m1'}}\n" \
    USER_LINE("2026-02-01T10:00:02Z", "start here")                                                 \
    "{'timestamp':'2026-02-01T10:00:03Z','type':'event_msg','payload':{'type':'task_started'}}\n"  \
    CALL_LINE("2026-02-01T10:00:04Z", "exec_command", "{\\'cmd\\':\\'make\\'}", "c1")               \
    OUTPUT_LINE("2026-02-01T10:00:05Z", "c1", "built")                                              \
    ASSISTANT_LINE("2026-02-01T10:00:06Z", "step one")                                              \
    TOKEN_LINE("2026-02-01T10:00:07Z", "10", "2", "3")                                              \
    "{'timestamp':'2026-02-01T10:00:08Z','type':'event_msg','payload':{'type':'task_complete'}}\n"

typedef struct incr_fixture {
    char *path;
    pd_incr_state state;
} incr_fixture;

/* Writes prefix, parses it in full for the stored state, then appends tail. */
static void incr_prepare(incr_fixture *f, const char *prefix, const char *tail)
{
    run full;

    f->path = dated_path("0a0b0c0d-1111-4222-8333-944455556666");
    write_text(f->path, prefix);
    run_parse(&full, sessions_root(), f->path, NULL);
    assert_int_equal(full.rc, PD_OK);

    memset(&f->state, 0, sizeof f->state);
    f->state.offset = full.s->file_size;
    f->state.next_ordinal = (int64_t)full.s->n_messages;
    f->state.message_count = (int64_t)full.s->n_messages;
    f->state.session_id = pd_arena_strdup(scratch, full.s->id);
    f->state.first_message = full.s->first_message != NULL ? pd_arena_strdup(scratch, full.s->first_message) : NULL;
    f->state.session_name = full.s->session_name != NULL ? pd_arena_strdup(scratch, full.s->session_name) : NULL;
    f->state.claude_linear_parse = PD_INT_NULL;
    run_free(&full);

    append_text(f->path, tail);
}

static void incr_run(run *r, incr_fixture *f)
{
    run_parse(r, sessions_root(), f->path, &f->state);
}

static void test_incremental_appends_messages(void **state)
{
    (void)state;
    incr_fixture f;
    const char *tail = jl(
        "{'timestamp':'2026-02-01T10:01:00Z','type':'event_msg','payload':{'type':'task_started'}}\n"
        USER_LINE("2026-02-01T10:01:01Z", "next request")
        ASSISTANT_LINE("2026-02-01T10:01:02Z", "step two")
        CALL_LINE("2026-02-01T10:01:03Z", "exec_command", "{\\'cmd\\':\\'make test\\'}", "c2")
        OUTPUT_LINE("2026-02-01T10:01:04Z", "c2", " ok ")
        TOKEN_LINE("2026-02-01T10:01:05Z", "20", "4", "6"));
    incr_prepare(&f, jl(INC_PREFIX), tail);

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.res.n_sessions, 1);
    const pd_session *s = r.s;
    assert_string_equal(s->id, "codex:inc-1");
    assert_int_equal(s->n_messages, 3);
    assert_int_equal(msg(&r, 0)->ordinal, 3);
    assert_int_equal(msg(&r, 1)->ordinal, 4);
    assert_int_equal(msg(&r, 2)->ordinal, 5);
    assert_string_equal(msg(&r, 0)->content, "next request");
    assert_string_equal(msg(&r, 0)->model, "m1");
    assert_string_equal(msg(&r, 1)->content, "step two");
    assert_string_equal(msg(&r, 2)->content, "[Bash]\n$ make test");
    assert_string_equal(msg(&r, 2)->token_usage,
                        "{\"cache_read_input_tokens\":4,\"input_tokens\":16,\"output_tokens\":6}");
    assert_int_equal(call0(&r, 2)->n_events, 1);
    assert_string_equal(call0(&r, 2)->events[0].content, "ok");
    assert_int_equal(s->user_message_count, 1);
    assert_string_equal(s->ended_at, "2026-02-01T10:01:05Z");
    assert_string_equal(s->termination_status, "tool_call_pending");
    assert_string_equal(s->first_message, "start here");
    assert_int_equal(s->total_output_tokens, 6);
    assert_int_equal(r.res.consumed, f.state.offset + (int64_t)strlen(tail));
    assert_int_equal(s->file_size, f.state.offset + (int64_t)strlen(tail));
    run_free(&r);
}

static void test_incremental_lifecycle_only_tail(void **state)
{
    (void)state;
    incr_fixture f;
    const char *tail = jl("{'timestamp':'2026-02-01T10:02:00Z','type':'event_msg','payload':{'type':'task_started'}}\n");
    incr_prepare(&f, jl(INC_PREFIX), tail);

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->n_messages, 0);
    assert_string_equal(r.s->termination_status, "tool_call_pending");
    assert_string_equal(r.s->ended_at, "2026-02-01T10:02:00Z");
    int64_t consumed = r.res.consumed;
    assert_int_equal(consumed, f.state.offset + (int64_t)strlen(tail));
    run_free(&r);

    /* The next tail completes the task. */
    f.state.offset = consumed;
    append_text(f.path, jl("{'timestamp':'2026-02-01T10:03:00Z','type':'event_msg','payload':{'type':'task_complete'}}\n"));
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->termination_status, "awaiting_user");
    run_free(&r);
}

static void test_incremental_partial_and_empty_tail(void **state)
{
    (void)state;
    incr_fixture f;
    const char *line = jl(ASSISTANT_LINE("2026-02-01T10:04:00Z", "more"));
    incr_prepare(&f, jl(INC_PREFIX), fmt("%s{\"timestamp\":\"2026-02", line));

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->n_messages, 1);
    assert_int_equal(r.res.consumed, f.state.offset + (int64_t)strlen(line));
    assert_int_equal(r.res.malformed_lines, 0);
    run_free(&r);

    /* Nothing complete after the stored offset: nothing is consumed. */
    f.state.offset += (int64_t)strlen(line);
    f.state.next_ordinal += 1;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->n_messages, 0);
    assert_int_equal(r.res.consumed, f.state.offset);
    assert_null(r.s->ended_at);
    run_free(&r);
}

static void test_incremental_duplicate_usage_ignored(void **state)
{
    (void)state;
    incr_fixture f;
    incr_prepare(&f, jl(INC_PREFIX), jl(TOKEN_LINE("2026-02-01T10:05:00Z", "10", "2", "3")));

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->n_messages, 0);
    run_free(&r);
}

static void test_incremental_fallbacks(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *tail;
    } cases[] = {
        {"session_meta", "{'timestamp':'2026-02-01T10:09:00Z','type':'session_meta','payload':{'id':'inc-1'}}\n"},
        {"wait call", CALL_LINE("2026-02-01T10:09:00Z", "wait_agent", "{\\'ids\\':[\\'a1\\']}", "w9")},
        {"notification", NOTE_LINE("2026-02-01T10:09:00Z", "a1", "completed", "done")},
        {"spawn end", "{'timestamp':'2026-02-01T10:09:00Z','type':'event_msg','payload':{'type':'collab_agent_spawn_end','call_id':'c1','new_thread_id':'a1'}}\n"},
        {"activity started", "{'timestamp':'2026-02-01T10:09:00Z','type':'event_msg','payload':{'type':'sub_agent_activity','kind':'started','event_id':'c1','agent_thread_id':'a1'}}\n"},
        {"output of a stored call", OUTPUT_LINE("2026-02-01T10:09:00Z", "c1", "late output")},
        {"output of an unknown call", OUTPUT_LINE("2026-02-01T10:09:00Z", "zz", "who")},
        {"spawn output", CALL_LINE("2026-02-01T10:09:00Z", "spawn_agent", "{}", "s9")
                         OUTPUT_LINE("2026-02-01T10:09:01Z", "s9", "{\\'agent_id\\':\\'a1\\'}")},
        {"unattached usage", USER_LINE("2026-02-01T10:09:00Z", "new turn") TOKEN_LINE("2026-02-01T10:09:01Z", "5", "0", "1")},
        {"valid unterminated line", "{'timestamp':'2026-02-01T10:09:00Z','type':'event_msg','payload':{'type':'task_started'}}"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        incr_fixture f;
        run r;

        incr_prepare(&f, jl(INC_PREFIX), jl(cases[i].tail));
        incr_run(&r, &f);
        if (r.rc != PD_EFALLBACK)
            print_error("case %s returned %d\n", cases[i].name, r.rc);
        assert_int_equal(r.rc, PD_EFALLBACK);
        assert_int_equal(r.res.n_sessions, 0);
        assert_int_equal(r.err.code, PD_EFALLBACK);
        run_free(&r);
    }
}

static void test_incremental_no_fallback_cases(void **state)
{
    (void)state;
    static const char *const tails[] = {
        "{'timestamp':'2026-02-01T10:09:00Z','type':'event_msg','payload':{'type':'sub_agent_activity','kind':'finished','event_id':'c1'}}\n",
        "{'timestamp':'2026-02-01T10:09:00Z','type':'event_msg','payload':{'type':'agent_message','message':'hi'}}\n",
        "{'broken\n",
    };

    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        incr_fixture f;
        run r;

        incr_prepare(&f, jl(INC_PREFIX), jl(tails[i]));
        incr_run(&r, &f);
        assert_int_equal(r.rc, PD_OK);
        assert_int_equal(r.s->n_messages, 0);
        run_free(&r);
    }
}

static void test_incremental_first_prompt_fallback(void **state)
{
    (void)state;
    incr_fixture f;
    incr_prepare(&f,
                 jl("{'timestamp':'2026-02-01T10:00:00Z','type':'session_meta','payload':{'id':'inc-2'}}\n"
                    ASSISTANT_LINE("2026-02-01T10:00:01Z", "hello from the agent")),
                 jl(USER_LINE("2026-02-01T10:00:02Z", "first real prompt")));

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);
}

static void test_incremental_offset_checks(void **state)
{
    (void)state;
    incr_fixture f;
    incr_prepare(&f, jl(INC_PREFIX), jl(ASSISTANT_LINE("2026-02-01T10:04:00Z", "more")));

    run r;
    f.state.offset -= 1; /* inside the last stored line */
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);

    f.state.offset = 1 << 30; /* beyond the end of the file */
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);

    f.state.offset = 0;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);
}

static void test_incremental_title_change_fallback(void **state)
{
    (void)state;
    char *index = fmt("%s/session_index.jsonl", tmp_dir);
    incr_fixture f;
    write_text(index, jl("{'id':'inc-1','thread_name':'Stored title'}\n"));
    incr_prepare(&f, jl(INC_PREFIX), jl(ASSISTANT_LINE("2026-02-01T10:04:00Z", "more")));
    assert_string_equal(f.state.session_name, "Stored title");

    run r;
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    assert_string_equal(r.s->session_name, "Stored title");
    run_free(&r);

    append_text(index, jl("{'id':'inc-1','thread_name':'Renamed title'}\n"));
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);

    /* A row disappearing from the index is not a rename. */
    write_text(index, jl("{'id':'someone-else','thread_name':'x'}\n"));
    incr_run(&r, &f);
    assert_int_equal(r.rc, PD_OK);
    run_free(&r);
}

static void test_incremental_compressed_fallback(void **state)
{
    (void)state;
    const char *text = jl(INC_PREFIX);
    size_t n = strlen(text);
    size_t bound = ZSTD_compressBound(n);
    char *packed = pd_arena_alloc(scratch, bound);
    size_t packed_n = ZSTD_compress(packed, bound, text, n, 3);
    assert_false(ZSTD_isError(packed_n));
    char *path = fmt("%s/sessions/rollout-2026-02-01T10-00-00-0a0b0c0d-1111-4222-8333-944455556666.jsonl.zst", tmp_dir);
    write_bytes(path, packed, packed_n, "wb");

    run r;
    run_parse(&r, sessions_root(), path, NULL);
    assert_int_equal(r.rc, PD_OK);
    assert_int_equal(r.s->n_messages, 3);
    assert_int_equal(r.s->file_size, (int64_t)packed_n);
    run_free(&r);

    pd_incr_state incr = {.offset = 10, .next_ordinal = 3, .message_count = 3};
    run_parse(&r, sessions_root(), path, &incr);
    assert_int_equal(r.rc, PD_EFALLBACK);
    run_free(&r);
}

/* ---- the real corpus -------------------------------------------------------------------------------- */

static bool time_not_after(const char *x, const char *y)
{
    pd_time_ns tx, ty;
    assert_true(pd_time_parse(x, strlen(x), &tx));
    assert_true(pd_time_parse(y, strlen(y), &ty));
    return tx <= ty;
}

static void test_real_corpus_rollouts(void **state)
{
    (void)state;
    const char *shared_dir = getenv("PD_SHARED_DIR");
    if (shared_dir == NULL)
        skip();
    char *root = fmt("%s/corpus/real/codex/sessions", shared_dir);
    struct stat st;
    if (stat(root, &st) != 0)
        skip();

    pd_arena *a = pd_arena_new();
    found f = {.arena = a};
    pd_err err = {0};
    assert_int_equal(pd_provider_codex.discover(root, a, collect_source, &f, &err), PD_OK);
    assert_int_equal(f.n, 6);

    run r;
    run_open(&r, root);
    size_t with_title = 0, subagents = 0, retries = 0;
    for (size_t i = 0; i < f.n; i++) {
        const char *path = f.items[i].path;
        char uuid[37];

        assert_true(f.items[i].is_dated);
        assert_true(pd_codex_uuid_from_path(path, uuid));
        run_source(&r, root, path, NULL);
        if (r.rc != PD_OK)
            print_error("%s: %s\n", path, r.err.msg);
        assert_int_equal(r.rc, PD_OK);
        assert_int_equal(r.res.n_sessions, 1);

        const pd_session *s = r.s;
        assert_string_equal(s->id, fmt("codex:%s", uuid));
        assert_string_equal(s->agent, "codex");
        assert_true(s->message_count > 0);
        assert_true(s->user_message_count >= 1);
        assert_non_null(s->first_message);
        assert_non_null(s->started_at);
        assert_non_null(s->ended_at);
        assert_true(time_not_after(s->started_at, s->ended_at));
        assert_true(s->cwd[0] != '\0');
        assert_true(s->project[0] != '\0');
        assert_int_equal(s->parser_malformed_lines, 0);
        assert_int_equal(r.res.consumed, (int64_t)r.src.len);
        assert_int_equal(s->file_size, (int64_t)r.src.len);
        for (size_t m = 0; m < s->n_messages; m++) {
            const pd_message *msg_m = &s->messages[m];
            assert_int_equal(msg_m->ordinal, (int64_t)m);
            assert_true(strcmp(msg_m->role, "user") == 0 || strcmp(msg_m->role, "assistant") == 0);
            assert_int_equal(msg_m->content_length, (int64_t)strlen(msg_m->content));
            assert_true(pd_utf8_is_clean(msg_m->content, strlen(msg_m->content)));
            assert_int_equal(msg_m->n_tool_calls, msg_m->has_tool_use ? 1 : 0);
        }
        if (s->session_name_present)
            with_title++;
        if (s->parent_session_id != NULL)
            subagents++;
        if (s->needs_retry)
            retries++;
    }
    /* The index titles two rollouts; both are subagents whose parents are absent. */
    assert_int_equal(with_title, 2);
    assert_int_equal(subagents, 2);
    /* Only the fork replays its parent, and that parent is missing. */
    assert_int_equal(retries, 1);
    run_free(&r);
    pd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover_dated_and_flat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_missing_root_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_map_concurrent_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_table_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uuid_from_path_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_minimal_example_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_standard_session_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_standard_session_malformed_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_title_sessions_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_row_without_thread_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_title_archived_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_latest_row_and_blank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_mtime_folds_into_file_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_missing_no_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blockquotes_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_calls_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_args_detail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_patch_files_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_stdin_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_spawn_and_other_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_escapes_and_empty_argument_strings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_render_patch_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_preview_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_usage_attach_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_usage_same_text_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_usage_zero_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turn_context_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_content_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recommended_plugins_stripped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_message_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filename_fallback_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_meta_root_cwd_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reemitted_prompt_after_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_termination_from_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_links_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_thread_source_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_message_to_this_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_gate_parent_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_gate_parent_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_gate_parent_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_gate_parent_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_bare_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumed_excludes_partial_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_tail_read_not_consumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom_and_crlf_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_megabyte_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_input_no_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_appends_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_lifecycle_only_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_partial_and_empty_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_duplicate_usage_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_no_fallback_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_first_prompt_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_offset_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_title_change_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_compressed_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_corpus_rollouts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
