/*
 * test_engine_sync.c -- sync against real archive files: skips, the
 * incremental append path, partial lines, in-place and atomic rewrites, the
 * Codex title refresh, crash consistency, the report-only write guard, and
 * a bad file among good ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/hash.h"
#include "common/model.h"
#include "tests/support/child.h"
#include "tests/support/engine_fixture.h"

extern char **environ;

#define HOUR_NS (3600LL * 1000000000LL)

static const char *const CLAUDE_A = "55555555-aaaa-4aaa-8aaa-000000000001";
static const char *const CODEX_A = "0199cccc-bbbb-7ccc-8ddd-000000000001";
static const char *const CODEX_ID = "codex:0199cccc-bbbb-7ccc-8ddd-000000000001";

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

static char *claude_a(const fx_env *env)
{
    return fx_claude_path(env, "-home-tess-src-orbit", CLAUDE_A);
}

static char *codex_a(const fx_env *env)
{
    return fx_codex_path(env, "2026/02/01", CODEX_A);
}

static void write_pair(fx_env *env)
{
    char *p = claude_a(env);
    char *c = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    fx_write(p, c);
    free(p);
    free(c);
    p = codex_a(env);
    c = fx_codex_basic(CODEX_A, "Run the tests please.");
    fx_write(p, c);
    free(p);
    free(c);
}

static pd_sync_stats sync_ok(fx_env *env)
{
    pd_sync_stats st;
    fx_sync(env, &st);
    for (size_t i = 0; i < st.n_errors; i++)
        print_error("sync error: %s\n", st.errors[i].message);
    assert_int_equal(st.files_failed, 0);
    return st;
}

static int64_t row_int(const fx_env *env, const char *id, const char *column)
{
    char *sql = fx_fmt("SELECT %s FROM sessions WHERE id = '%s'", column, id);
    int64_t v = fx_sql_int(env->db, sql);
    free(sql);
    return v;
}

static char *row_text(const fx_env *env, const char *id, const char *column)
{
    char *sql = fx_fmt("SELECT %s FROM sessions WHERE id = '%s'", column, id);
    char *v = fx_sql_text(env->db, sql);
    free(sql);
    return v;
}

static void sha_prefix(const char *path, int64_t n, char out[65])
{
    assert_int_equal(pd_sha256_file(path, n, out), PD_OK);
}

static void sync_second_run_is_idempotent(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    assert_int_equal(st.files_discovered, 2);
    assert_int_equal(st.files_parsed, 2);
    assert_int_equal(st.sessions_full, 2);
    pd_sync_stats_free(&st);
    int64_t rev = row_int(env, CLAUDE_A, "CAST(transcript_revision AS INTEGER)");
    int64_t messages = fx_sql_int(env->db, "SELECT COUNT(*) FROM messages");

    st = sync_ok(env);
    assert_int_equal(st.files_parsed, 0);
    assert_int_equal(st.files_unchanged, 2);
    assert_int_equal(st.sessions_full, 0);
    assert_int_equal(st.sessions_incremental, 0);
    pd_sync_stats_free(&st);
    assert_int_equal(row_int(env, CLAUDE_A, "CAST(transcript_revision AS INTEGER)"), rev);
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM messages"), messages);
}

/*
 * Sources outside the page cache (read ahead by the collector) sync in full
 * and then count as unchanged, as cached ones do. A diff finds them identical.
 */
static void sync_from_uncached_sources(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    fx_write_rich_sessions(env, "66666666", "-home-tess-src-cold", 30, "Sync me from the disk.");
    env->threads = 2;
    assert_int_equal(fx_drop_page_cache(env), 32);
    pd_sync_stats st = sync_ok(env);
    assert_int_equal(st.files_parsed, 32);
    assert_int_equal(st.sessions_full, 32);
    pd_sync_stats_free(&st);

    assert_int_equal(fx_drop_page_cache(env), 32);
    st = sync_ok(env);
    assert_int_equal(st.files_parsed, 0);
    assert_int_equal(st.files_unchanged, 32);
    pd_sync_stats_free(&st);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.examined, 32);
    assert_int_equal(r->totals.identical, 32);
    pd_diff_report_free(r);
}

static void sync_append_takes_incremental_path(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    int64_t count_before = row_int(env, CLAUDE_A, "message_count");
    char *hash_before = row_text(env, CLAUDE_A, "file_hash");

    char *p = claude_a(env);
    char *more = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    fx_append(p, more);
    st = sync_ok(env);
    assert_int_equal(st.sessions_incremental, 1);
    assert_int_equal(st.sessions_full, 0);
    pd_sync_stats_free(&st);

    size_t len = 0;
    free(fx_read(p, &len));
    char whole[65];
    sha_prefix(p, -1, whole);
    assert_int_equal(row_int(env, CLAUDE_A, "last_write_incremental"), 1);
    assert_int_equal(row_int(env, CLAUDE_A, "file_size"), (int64_t)len);
    assert_int_equal(row_int(env, CLAUDE_A, "file_mtime"), fx_mtime_ns(p));
    char *hash_after = row_text(env, CLAUDE_A, "file_hash");
    assert_non_null(hash_after);
    assert_string_equal(hash_after, whole);
    assert_string_not_equal(hash_after, hash_before);
    assert_int_equal(row_int(env, CLAUDE_A, "message_count"), count_before + 2);
    assert_int_equal(row_int(env, CLAUDE_A, "next_ordinal"), 6);
    char *last_uuid = row_text(env, CLAUDE_A, "last_entry_uuid");
    assert_string_equal(last_uuid, "p7");
    /* The two appended rows carry the next ordinals. */
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM messages WHERE session_id = "
                                         "'55555555-aaaa-4aaa-8aaa-000000000001' AND ordinal >= 4"),
                     2);
    free(last_uuid);
    free(hash_after);
    free(hash_before);
    free(more);
    free(p);
}

static void sync_partial_line_waits_until_complete(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);

    char *p = codex_a(env);
    size_t before = 0;
    free(fx_read(p, &before));
    char *more = fx_codex_append_exchange(2);
    /* Append a complete exchange and the first half of one more line. */
    fx_append(p, more);
    size_t boundary = 0;
    free(fx_read(p, &boundary));
    const char *partial_a = "{\"timestamp\":\"2026-02-01T10:30:00.000Z\",\"type\":\"response_item\",";
    const char *partial_b = "\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
                            "\"input_text\",\"text\":\"Late question\"}]}}\n";
    fx_append(p, partial_a);
    st = sync_ok(env);
    assert_int_equal(st.sessions_incremental, 1);
    pd_sync_stats_free(&st);
    assert_int_equal(row_int(env, CODEX_ID, "file_size"), (int64_t)boundary);
    char prefix[65];
    sha_prefix(p, (int64_t)boundary, prefix);
    char *stored = row_text(env, CODEX_ID, "file_hash");
    assert_string_equal(stored, prefix);
    free(stored);
    int64_t count_mid = row_int(env, CODEX_ID, "message_count");

    /* Completing the line makes it consumable. */
    fx_append(p, partial_b);
    st = sync_ok(env);
    assert_int_equal(st.sessions_incremental + st.sessions_full, 1);
    pd_sync_stats_free(&st);
    size_t total = 0;
    free(fx_read(p, &total));
    assert_int_equal(row_int(env, CODEX_ID, "file_size"), (int64_t)total);
    assert_int_equal(row_int(env, CODEX_ID, "message_count"), count_mid + 1);
    assert_true(before < boundary);
    free(more);
    free(p);
}

static void sync_same_size_rewrite_is_caught_by_hash(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);

    char *p = claude_a(env);
    int64_t mtime = fx_mtime_ns(p);
    /* Same length prompt, different text, same mtime and inode. */
    char *c = fx_claude_rich(CLAUDE_A, "Why does the solver deviate?");
    char *old = fx_read(p, NULL);
    assert_int_equal(strlen(c), strlen(old));
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fwrite(c, 1, strlen(c), f);
    fclose(f);
    fx_set_mtime_ns(p, mtime);

    st = sync_ok(env);
    assert_int_equal(st.sessions_full, 1);
    assert_int_equal(st.sessions_incremental, 0);
    pd_sync_stats_free(&st);
    char *fm = row_text(env, CLAUDE_A, "first_message");
    assert_string_equal(fm, "Why does the solver deviate?");
    assert_int_equal(row_int(env, CLAUDE_A, "last_write_incremental"), 0);
    free(fm);
    free(old);
    free(c);
    free(p);
}

static void sync_atomic_replace_forces_full_write(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    char *p = claude_a(env);
    int64_t inode_before = row_int(env, CLAUDE_A, "file_inode");

    /* Grow the content but move a new file over the old one. */
    char *c = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    char *more = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    char *tmp = fx_fmt("%s.tmp", p);
    char *both = fx_fmt("%s%s", c, more);
    fx_write(tmp, both);
    assert_int_equal(rename(tmp, p), 0);

    st = sync_ok(env);
    assert_int_equal(st.sessions_full, 1);
    assert_int_equal(st.sessions_incremental, 0);
    pd_sync_stats_free(&st);
    assert_int_not_equal(row_int(env, CLAUDE_A, "file_inode"), inode_before);
    assert_int_equal(row_int(env, CLAUDE_A, "last_write_incremental"), 0);
    /* Three kept rows of the first exchange plus the appended two. */
    assert_int_equal(row_int(env, CLAUDE_A, "message_count"), 5);
    free(both);
    free(tmp);
    free(more);
    free(c);
    free(p);
}

static void sync_codex_title_refresh_on_skip_path(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    fx_codex_set_title(env, CODEX_A, "First title");
    char *idx = fx_codex_index_path(env);
    char *p = codex_a(env);
    int64_t high = fx_now_ns() - 1 * HOUR_NS;
    fx_set_mtime_ns(p, fx_now_ns() - 5 * HOUR_NS);
    fx_set_mtime_ns(idx, high);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    char *name = row_text(env, CODEX_ID, "session_name");
    assert_string_equal(name, "First title");
    free(name);
    assert_int_equal(row_int(env, CODEX_ID, "file_mtime"), high);

    /* Rename with an index mtime below the stored, index-folded mtime. */
    fx_codex_set_title(env, CODEX_A, "Second title");
    fx_set_mtime_ns(idx, high - 2 * HOUR_NS);
    st = sync_ok(env);
    assert_int_equal(st.titles_refreshed, 1);
    pd_sync_stats_free(&st);
    name = row_text(env, CODEX_ID, "session_name");
    assert_string_equal(name, "Second title");
    free(name);
    free(p);
    free(idx);
}

static void sync_codex_title_refresh_on_incremental_path(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    fx_codex_set_title(env, CODEX_A, "First title");
    char *idx = fx_codex_index_path(env);
    char *p = codex_a(env);
    int64_t high = fx_now_ns() - 1 * HOUR_NS;
    fx_set_mtime_ns(p, fx_now_ns() - 5 * HOUR_NS);
    fx_set_mtime_ns(idx, high);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    int64_t count = row_int(env, CODEX_ID, "message_count");

    char *more = fx_codex_append_exchange(3);
    fx_append(p, more);
    fx_set_mtime_ns(p, fx_now_ns() - 4 * HOUR_NS);
    fx_codex_set_title(env, CODEX_A, "Renamed while growing");
    fx_set_mtime_ns(idx, high - 2 * HOUR_NS);
    st = sync_ok(env);
    assert_int_equal(st.sessions_full, 1);
    assert_int_equal(st.sessions_incremental, 0);
    pd_sync_stats_free(&st);
    char *name = row_text(env, CODEX_ID, "session_name");
    assert_string_equal(name, "Renamed while growing");
    free(name);
    assert_int_equal(row_int(env, CODEX_ID, "last_write_incremental"), 0);
    assert_int_equal(row_int(env, CODEX_ID, "message_count"), count + 2);
    free(more);
    free(p);
    free(idx);
}

static void sync_report_only_engine_refuses_writes(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_engine_config cfg = {.db_path = env->db, .roots = env->roots, .n_roots = 2, .n_threads = 1};
    pd_engine *e = NULL;
    pd_err err = {0};
    assert_int_equal(pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err), PD_OK);

    pd_sync_stats st;
    pd_sync_options opts = {0};
    assert_int_equal(pd_engine_sync(e, &opts, &st, &err), PD_EREADONLY);
    assert_int_equal(st.files_discovered, 0);
    pd_err_clear(&err);
    assert_int_equal(pd_engine_resync(e, &st, &err), PD_EREADONLY);
    pd_err_clear(&err);

    pd_arena *arena = pd_arena_new();
    pd_session s;
    pd_session_init(&s);
    s.id = "refused";
    assert_int_equal(pd_engine_write_session(e, &s, arena, &err), PD_EREADONLY);
    assert_non_null(strstr(err.msg, "report-only"));
    pd_err_clear(&err);
    pd_arena_free(arena);

    struct stat sb;
    assert_int_not_equal(stat(env->db, &sb), 0);
    pd_engine_free(e);
}

static int run_marker;

static int exclusive_work(void *ctx, const char *db_path)
{
    (void)ctx;
    (void)db_path;
    run_marker = 1;
    return PD_OK;
}

static void sync_report_only_engine_skips_caller_work(void **state)
{
    fx_env *env = *state;
    pd_engine_config cfg = {.db_path = env->db, .roots = env->roots, .n_roots = 2, .n_threads = 1};
    pd_engine *e = NULL;
    pd_err err = {0};
    assert_int_equal(pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err), PD_OK);
    run_marker = 0;
    assert_int_equal(pd_engine_run_exclusive(e, exclusive_work, NULL, &err), PD_EREADONLY);
    assert_int_equal(run_marker, 0);
    pd_engine_free(e);

    /* A writer engine runs the same work. */
    assert_int_equal(pd_engine_new(&cfg, PD_ENGINE_WRITER, &e, &err), PD_OK);
    assert_int_equal(pd_engine_run_exclusive(e, exclusive_work, NULL, &err), PD_OK);
    assert_int_equal(run_marker, 1);
    pd_engine_free(e);
}

/* nftw callback: lets every user read a file, and enter and list a directory. */
static int open_to_all(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_SL)
        return 0;
    mode_t mode = st->st_mode & 07777;
    return chmod(path, type == FTW_D || type == FTW_DP ? mode | 0555 : mode | 0444);
}

/* Writes one Claude and one Codex transcript into directories to be locked. */
static void write_locked_pair(fx_env *env, const char *locked_claude)
{
    char *p = fx_fmt("%s/%s.jsonl", locked_claude, "55555555-aaaa-4aaa-8aaa-000000000009");
    char *c = fx_claude_rich("55555555-aaaa-4aaa-8aaa-000000000009", "Hidden prompt.");
    fx_write(p, c);
    free(p);
    free(c);
    p = fx_codex_path(env, "2026/03/04", "0199cccc-bbbb-7ccc-8ddd-000000000009");
    c = fx_codex_basic("0199cccc-bbbb-7ccc-8ddd-000000000009", "Hidden prompt.");
    fx_write(p, c);
    free(p);
    free(c);
    /* The unprivileged user walks the workspace and writes the archive beside it. */
    assert_int_equal(chmod(env->dir, 0777), 0);
    assert_int_equal(nftw(env->dir, open_to_all, 16, FTW_PHYS), 0);
}

/*
 * Syncs env as an unprivileged user in a child process, because root may
 * list any directory. Returns the child's exit status: 0 when sync failed
 * exactly the two unlistable directories, named with the reason, and wrote
 * the two readable transcripts; 77 when no unprivileged user is available.
 */
static int sync_unprivileged(const fx_env *env, const char *locked_claude, const char *locked_codex)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!fx_child_drop_privileges(env->dir, X_OK | W_OK))
            _exit(77);
        pd_engine_config cfg = fx_engine_config(env);
        pd_engine *e = NULL;
        pd_err err = {0};
        if (pd_engine_new(&cfg, PD_ENGINE_WRITER, &e, &err) != PD_OK)
            _exit(2);
        pd_sync_options opts = {0};
        pd_sync_stats st;
        int rc = pd_engine_sync(e, &opts, &st, &err);
        int status = rc != PD_OK                ? 3
                     : st.files_discovered != 2 ? 4
                     : st.sessions_full != 2    ? 5
                     : st.n_errors != 2         ? 6
                                                : 0;
        for (size_t i = 0; status == 0 && i < 2; i++) {
            const char *want = i == 0 ? locked_claude : locked_codex;
            if (strcmp(st.errors[i].path, want) != 0 ||
                strstr(st.errors[i].message, "cannot list the directory (Permission denied)") ==
                    NULL)
                status = 7;
        }
        pd_sync_stats_free(&st);
        pd_engine_free(e);
        _exit(status);
    }
    return fx_child_wait(pid);
}

/* A directory sync cannot list is a failure naming it, and the batch goes on. */
static void sync_unlistable_directory_fails(void **state)
{
    fx_env *env = *state;
    env->threads = 1; /* errors in discovery order: Claude first, then Codex */
    write_pair(env);
    char *locked_claude = fx_fmt("%s/-locked-project", env->claude_root);
    char *locked_codex = fx_fmt("%s/2026/03", env->codex_root);
    write_locked_pair(env, locked_claude);
    assert_int_equal(chmod(locked_claude, 0), 0);
    assert_int_equal(chmod(locked_codex, 0), 0);

    int status = sync_unprivileged(env, locked_claude, locked_codex);
    assert_int_equal(chmod(locked_claude, 0755), 0);
    assert_int_equal(chmod(locked_codex, 0755), 0);
    free(locked_claude);
    free(locked_codex);
    if (status == 77)
        skip();
    assert_int_equal(status, 0);
}

/*
 * In a child process as an unprivileged user: diffs env and returns 0 when
 * the report names the two unlistable directories and skips the two
 * sessions stored from them; 77 when no unprivileged user is available.
 */
static int diff_unprivileged(const fx_env *env, const char *locked_claude, const char *locked_codex)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!fx_child_drop_privileges(env->dir, X_OK | W_OK))
            _exit(77);
        pd_engine_config cfg = fx_engine_config(env);
        pd_engine *e = NULL;
        pd_err err = {0};
        pd_diff_report *r = NULL;
        if (pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err) != PD_OK ||
            pd_engine_diff(e, &(pd_diff_options){0}, &r, &err) != PD_OK)
            _exit(2);
        int status = r->n_unlisted_dirs != 2                              ? 3
                     : strcmp(r->unlisted_dirs[0], locked_claude) != 0    ? 4
                     : strcmp(r->unlisted_dirs[1], locked_codex) != 0     ? 5
                     : r->totals.identical != 2 || r->totals.skipped != 2 ? 6
                                                                          : 0;
        static const char *const hidden[] = {"55555555-aaaa-4aaa-8aaa-000000000009",
                                             "codex:0199cccc-bbbb-7ccc-8ddd-000000000009"};
        for (size_t i = 0; status == 0 && i < 2; i++) {
            const pd_diff_entry *entry = fx_entry(r, hidden[i]);
            if (entry == NULL || entry->cls != PD_CLASS_SKIPPED)
                status = 7;
        }
        pd_diff_report_free(r);
        pd_engine_free(e);
        _exit(status);
    }
    return fx_child_wait(pid);
}

/* A directory diff cannot list is named in the report, and its sessions are skipped. */
static void diff_unlistable_directory_is_named(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    char *locked_claude = fx_fmt("%s/-locked-project", env->claude_root);
    char *locked_codex = fx_fmt("%s/2026/03", env->codex_root);
    write_locked_pair(env, locked_claude);
    pd_sync_stats st = sync_ok(env);
    assert_int_equal(st.sessions_full, 4);
    pd_sync_stats_free(&st);
    assert_int_equal(chmod(locked_claude, 0), 0);
    assert_int_equal(chmod(locked_codex, 0), 0);

    int status = diff_unprivileged(env, locked_claude, locked_codex);
    assert_int_equal(chmod(locked_claude, 0755), 0);
    assert_int_equal(chmod(locked_codex, 0755), 0);
    free(locked_claude);
    free(locked_codex);
    if (status == 77)
        skip();
    assert_int_equal(status, 0);
}

/* Forks a child that syncs env; returns its pid. The child exits 0 when sync returned PD_OK. */
static pid_t fork_sync(const fx_env *env)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    pd_engine_config cfg = fx_engine_config(env);
    cfg.n_threads = 1;
    pd_engine *e = NULL;
    pd_err err = {0};
    if (pd_engine_new(&cfg, PD_ENGINE_WRITER, &e, &err) != PD_OK)
        _exit(2);
    pd_sync_options opts = {0};
    pd_sync_stats st;
    int rc = pd_engine_sync(e, &opts, &st, &err);
    if (rc != PD_OK || st.files_failed != 0)
        fprintf(stderr, "sync: %s\n", rc != PD_OK ? err.msg : st.errors[0].message);
    int status = rc == PD_OK && st.files_failed == 0 ? 0 : 3;
    pd_sync_stats_free(&st);
    pd_engine_free(e);
    _exit(status);
}

/*
 * Two syncs at once over transcripts that grew: both may parse the same
 * appended lines, but only one may store them. Five rounds, each followed
 * by a diff that must find every session identical.
 */
static void sync_concurrent_appends_stored_once(void **state)
{
    fx_env *env = *state;
    enum { N = 40, ROUNDS = 5 };
    char *paths[N];
    char ids[N][40];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "55555555-aaaa-4aaa-8aaa-%012d", 500 + i);
        paths[i] = fx_claude_path(env, "-home-tess-src-orbit", ids[i]);
        char *body = fx_claude_rich(ids[i], "Why does the solver diverge?");
        fx_write(paths[i], body);
        free(body);
    }
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);

    for (int round = 0; round < ROUNDS; round++) {
        int n = 6 + 2 * round;
        char parent[16];
        snprintf(parent, sizeof parent, "p%d", round == 0 ? 4 : n - 1);
        for (int i = 0; i < N; i++) {
            char *more = fx_claude_append_exchange(ids[i], parent, n);
            fx_append(paths[i], more);
            free(more);
        }
        pid_t a = fork_sync(env), b = fork_sync(env);
        assert_true(a > 0 && b > 0);
        int status_a = 0, status_b = 0;
        assert_int_equal(waitpid(a, &status_a, 0), a);
        assert_int_equal(waitpid(b, &status_b, 0), b);
        assert_true(WIFEXITED(status_a) && WEXITSTATUS(status_a) == 0);
        assert_true(WIFEXITED(status_b) && WEXITSTATUS(status_b) == 0);

        pd_diff_report *r = fx_diff(env, NULL, 0, 0);
        assert_int_equal(r->totals.changed, 0);
        assert_int_equal(r->totals.identical, N);
        pd_diff_report_free(r);
        assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM (SELECT 1 FROM messages"
                                             " GROUP BY session_id, content, role, timestamp"
                                             " HAVING count(*) > 1)"),
                         0);
    }
    for (int i = 0; i < N; i++)
        free(paths[i]);
}

/*
 * A Claude transcript the agent has only begun to write: its first line is
 * not finished. Neither sync nor diff may count that as a failure.
 */
static void first_line_in_progress_is_no_failure(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    char *p = fx_claude_path(env, "-home-tess-src-orbit", "55555555-aaaa-4aaa-8aaa-000000000077");
    char *whole = fx_claude_rich("55555555-aaaa-4aaa-8aaa-000000000077", "Just started.");
    whole[60] = '\0'; /* cut inside the first line */
    fx_write(p, whole);

    pd_sync_stats st = sync_ok(env);
    assert_int_equal(st.sessions_full, 2);
    pd_sync_stats_free(&st);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.identical, 2);
    pd_diff_report_free(r);

    /* A complete line that is not JSON is still a failure. */
    fx_write(p, "not json at all\n");
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 1);
    pd_sync_stats_free(&st);
    free(whole);
    free(p);
}

static void sync_bad_file_does_not_stop_the_batch(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    char *bad = fx_fmt("%s/-home-tess-src-orbit/55555555-aaaa-4aaa-8aaa-0000000000ee.jsonl.zst",
                       env->claude_root);
    fx_write(bad, "definitely not zstd");

    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 1);
    assert_int_equal(st.n_errors, 1);
    assert_non_null(strstr(st.errors[0].path, ".jsonl.zst"));
    assert_non_null(strstr(st.errors[0].message, "55555555-aaaa-4aaa-8aaa-0000000000ee"));
    assert_int_equal(st.sessions_full, 2);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM sessions"), 2);
    free(bad);
}

/* Sessions committed so far, or -1 while the archive is not readable yet. */
static int64_t committed_sessions(const char *db)
{
    sqlite3 *h = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM sessions", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return n;
}

/* Kills a CLI sync mid-run and checks every stored session is whole. */
static void sync_killed_midway_leaves_consistent_archive(void **state)
{
    fx_env *env = *state;
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    fx_write_rich_sessions(env, "66666666", "-home-tess-src-orbit", 400, "Crash consistency.");
    char *src = fx_fmt("claude=%s", env->claude_root);
    char *const argv[] = {(char *)bin, "sync", "--db", env->db, "--source", src,
                          "--threads", "1", "--progress", "never", NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, NULL, NULL, argv, environ), 0);

    /* Wait until some sessions are committed, then kill without warning. */
    bool killed = false;
    for (int tries = 0; tries < 2000 && !killed; tries++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (committed_sessions(env->db) > 5) {
            kill(pid, SIGKILL);
            killed = true;
        }
        int status;
        if (!killed && waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    int status = 0;
    waitpid(pid, &status, 0);

    char *ok = fx_sql_text(env->db, "PRAGMA integrity_check");
    assert_string_equal(ok, "ok");
    free(ok);
    /* No session is half-written: each stored count matches its rows. */
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM sessions s WHERE message_count != "
                                         "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)"),
                     0);
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM sessions WHERE data_version != 90"), 0);

    /* The next sync finishes the job and the archive diffs clean. */
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT COUNT(*) FROM sessions"), 400);
    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.identical, 400);
    pd_diff_report_free(r);
    free(src);
}

/* agentsview's table of pinned messages, as its archives have it. */
static const char pinned_messages_ddl[] =
    "CREATE TABLE pinned_messages (id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " ordinal INTEGER NOT NULL, note TEXT, created_at TEXT NOT NULL DEFAULT '2026-01-01',"
    " UNIQUE(session_id, message_id))";

/*
 * A full write replaces a session's message rows, which deletes the pins on
 * them. sync puts each pin back on the new row of its message, matched by
 * source UUID (Claude) or text (Codex, whose messages have none), with its
 * note kept. A pin whose message left the transcript is dropped.
 */
static void sync_full_write_keeps_pins(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    fx_sql(env->db, pinned_messages_ddl);
    char *pin = fx_fmt("INSERT INTO pinned_messages (session_id, message_id, ordinal, note)"
                       " SELECT session_id, id, ordinal, 'claude pin' FROM messages"
                       " WHERE session_id = '%s' AND ordinal = 1;"
                       "INSERT INTO pinned_messages (session_id, message_id, ordinal, note)"
                       " SELECT session_id, id, ordinal, 'codex pin' FROM messages"
                       " WHERE session_id = 'codex:%s' AND ordinal = 0",
                       CLAUDE_A, CODEX_A);
    fx_sql(env->db, pin);
    free(pin);
    const char *pinned =
        "SELECT group_concat(p.note || ':' || m.ordinal || ':' || (m.id = p.message_id), ',')"
        " FROM pinned_messages p JOIN messages m ON m.id = p.message_id"
        " AND m.session_id = p.session_id ORDER BY p.note";
    char *before = fx_sql_text(env->db, pinned);
    int64_t old_ids = fx_sql_int(env->db, "SELECT sum(message_id) FROM pinned_messages");

    fx_sync_full(env, &st);
    for (size_t i = 0; i < st.n_errors; i++)
        print_error("sync error: %s\n", st.errors[i].message);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.sessions_full, 2);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM pinned_messages"), 2);
    /* The message rows are new, and each pin names the new row of its message. */
    assert_true(fx_sql_int(env->db, "SELECT sum(message_id) FROM pinned_messages") != old_ids);
    char *after = fx_sql_text(env->db, pinned);
    assert_string_equal(after, before);
    char *uuid_match = fx_fmt("SELECT count(*) FROM pinned_messages p JOIN messages m"
                              " ON m.id = p.message_id WHERE p.session_id = '%s'"
                              " AND m.source_uuid <> ''",
                              CLAUDE_A);
    assert_int_equal(fx_sql_int(env->db, uuid_match), 1);

    /* A transcript cut back to its first line loses the pinned second message. */
    char *path = claude_a(env);
    char *body = fx_read(path, NULL);
    char *first_end = strchr(body, '\n');
    assert_non_null(first_end);
    first_end[1] = '\0';
    fx_write(path, body);
    fx_sync(env, &st);
    pd_sync_stats_free(&st);
    char *claude_pins =
        fx_fmt("SELECT count(*) FROM pinned_messages WHERE session_id = '%s'", CLAUDE_A);
    assert_int_equal(fx_sql_int(env->db, claude_pins), 0);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM pinned_messages"), 1);
    free(claude_pins);
    free(body);
    free(path);
    free(uuid_match);
    free(after);
    free(before);
}

/*
 * Sessions the archive keeps out: one the user deleted for good (listed in
 * agentsview's excluded_sessions) and one trashed. sync counts them as not
 * written, not as written, and diff lists the excluded one as skipped, not
 * as new on disk.
 */
static void sync_counts_sessions_kept_out(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    char *exclude = fx_fmt("CREATE TABLE excluded_sessions (id TEXT PRIMARY KEY, created_at TEXT);"
                           "INSERT INTO excluded_sessions (id) VALUES ('codex:%s');"
                           "DELETE FROM sessions WHERE id = 'codex:%s';"
                           "UPDATE sessions SET deleted_at = '2026-01-01T00:00:00Z'"
                           " WHERE id = '%s'",
                           CODEX_A, CODEX_A, CLAUDE_A);
    fx_sql(env->db, exclude);
    free(exclude);

    fx_sync_full(env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.files_parsed, 2);
    assert_int_equal(st.sessions_full, 0);
    assert_int_equal(st.sessions_kept_out, 2);
    pd_sync_stats_free(&st);
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM sessions"), 1);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    assert_int_equal(r->totals.new_on_disk, 0);
    assert_int_equal(r->totals.skipped, 2);
    char *codex_id = fx_fmt("codex:%s", CODEX_A);
    const pd_diff_entry *e = fx_entry(r, codex_id);
    assert_non_null(e);
    assert_int_equal(e->cls, PD_CLASS_SKIPPED);
    assert_non_null(strstr(e->reason, "excluded in archive"));
    free(codex_id);
    pd_diff_report_free(r);
}

/* One Codex user prompt line with text, at second s of the session. */
static char *codex_prompt_line(int s, const char *text)
{
    return fx_fmt("{\"timestamp\":\"2026-02-01T09:00:%02d.000Z\",\"type\":\"response_item\","
                  "\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
                  "\"input_text\",\"text\":\"%s\"}]}}\n",
                  s, text);
}

/* A Codex rollout whose prompts are texts[0..n), after its session_meta line. */
static char *codex_prompts(const char *const *texts, size_t n)
{
    char *out = fx_fmt("{\"timestamp\":\"2026-02-01T09:00:00.000Z\",\"type\":\"session_meta\","
                       "\"payload\":{\"id\":\"%s\",\"timestamp\":\"2026-02-01T09:00:00.000Z\","
                       "\"cwd\":\"/home/tess/src/orbit\",\"originator\":\"codex_cli_rs\","
                       "\"cli_version\":\"0.60.0\"}}\n",
                       CODEX_A);
    for (size_t i = 0; i < n; i++) {
        char *line = codex_prompt_line((int)i + 1, texts[i]);
        char *joined = fx_fmt("%s%s", out, line);
        free(line);
        free(out);
        out = joined;
    }
    return out;
}

/*
 * Pins on two messages of the same text keep their own messages when a new
 * prompt moves both, even with a pinned_messages table that has a
 * generated column and no ON DELETE CASCADE.
 */
static void sync_pins_on_equal_texts_stay_apart(void **state)
{
    fx_env *env = *state;
    char *path = codex_a(env);
    const char *before[] = {"start", "ok", "middle", "ok"};
    char *text = codex_prompts(before, 4);
    fx_write(path, text);
    free(text);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    fx_sql(env->db, "CREATE TABLE pinned_messages (id INTEGER PRIMARY KEY,"
                    " session_id TEXT NOT NULL, message_id INTEGER NOT NULL,"
                    " ordinal INTEGER NOT NULL, note TEXT,"
                    " note_length INTEGER GENERATED ALWAYS AS (length(note)) VIRTUAL,"
                    " UNIQUE(session_id, message_id))");
    fx_sql(env->db, "INSERT INTO pinned_messages (session_id, message_id, ordinal, note)"
                    " SELECT session_id, id, ordinal, 'pin at ' || ordinal FROM messages"
                    " WHERE content = 'ok'");
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM pinned_messages"), 2);

    /* A prompt before both moves them one ordinal on: ok at 2 and 4 now. */
    const char *after[] = {"new first", "start", "ok", "middle", "ok"};
    text = codex_prompts(after, 5);
    fx_write(path, text);
    free(text);
    st = sync_ok(env);
    pd_sync_stats_free(&st);

    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM pinned_messages"), 2);
    /* Each pin names an existing row of its text, at its ordinal, and no row twice. */
    assert_int_equal(fx_sql_int(env->db, "SELECT count(*) FROM pinned_messages p JOIN messages m"
                                         " ON m.id = p.message_id AND m.ordinal = p.ordinal"
                                         " AND m.content = 'ok'"),
                     2);
    char *pins = fx_sql_text(env->db, "SELECT group_concat(note || '->' || ordinal, ', ')"
                                      " FROM (SELECT note, ordinal FROM pinned_messages"
                                      " ORDER BY ordinal)");
    assert_string_equal(pins, "pin at 1->2, pin at 3->4");
    free(pins);
    free(path);
}

/*
 * An append whose complete lines include one that is no record is written
 * by a full parse, which counts that line, even when the append ends in a
 * valid line still waiting for its newline. A cut last line alone keeps
 * the append path.
 */
static void sync_append_with_damaged_line_parses_in_full(void **state)
{
    fx_env *env = *state;
    write_pair(env);
    pd_sync_stats st = sync_ok(env);
    pd_sync_stats_free(&st);
    char *p = claude_a(env);

    /* A write in progress: the append path, nothing counted. */
    fx_append(p, "{\"type\":\"user\",\"mess");
    st = sync_ok(env);
    assert_int_equal(st.sessions_full, 0);
    pd_sync_stats_free(&st);
    assert_int_equal(row_int(env, CLAUDE_A, "parser_malformed_lines"), 0);

    /* The cut line completed as garbage, then a valid line without its newline. */
    char *exchange = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    char *last = strrchr(exchange, '\n');
    assert_non_null(last);
    *last = '\0';
    char *more = fx_fmt("age\n%s", exchange);
    fx_append(p, more);
    st = sync_ok(env);
    assert_int_equal(st.sessions_incremental, 0);
    assert_int_equal(st.sessions_full, 1);
    pd_sync_stats_free(&st);
    assert_int_equal(row_int(env, CLAUDE_A, "parser_malformed_lines"), 1);
    free(more);
    free(exchange);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sync_second_run_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_full_write_keeps_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_counts_sessions_kept_out, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_pins_on_equal_texts_stay_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_from_uncached_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_append_takes_incremental_path, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_partial_line_waits_until_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_append_with_damaged_line_parses_in_full, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sync_same_size_rewrite_is_caught_by_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_atomic_replace_forces_full_write, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_codex_title_refresh_on_skip_path, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_codex_title_refresh_on_incremental_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sync_report_only_engine_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_report_only_engine_skips_caller_work, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_bad_file_does_not_stop_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_unlistable_directory_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_unlistable_directory_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_concurrent_appends_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(first_line_in_progress_is_no_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_killed_midway_leaves_consistent_archive, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
