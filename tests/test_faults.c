/*
 * test_faults.c -- archive and output faults: files that are not SQLite,
 * corrupt pages, a writer holding the lock, missing tables, locations that
 * cannot be written, unusual path characters, a stdout closed early and a
 * full disk under the report.
 *
 * Archive faults run sync and diff through the engine on real archives
 * that sync built in a temporary workspace. Each must either work or give
 * a clear error that names the archive. A diff must also leave the archive
 * file byte for byte as it was, which SHA-256 sums before and after check. Output
 * faults run the parsediff binary (PD_BINARY) with its stdout on a pipe
 * whose reader has gone, or on /dev/full.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive.h"
#include "common/error.h"
#include "engine/engine.h"
#include "tests/support/engine_fixture.h"

#define PROJECT "-home-tess-src-orbit"
#define CODEX_ID "0199fa17-0000-7000-8000-000000000001"
/* Enough sessions that the archive spans many pages, so a page in the middle contains rows. */
#define N_CLAUDE_SESSIONS 40
/* About 600 bytes, so that the messages table fills many pages. */
#define LONG_PROMPT                                                                                \
    "Why does the solver diverge near e = 1? The step size looks fine for small eccentricities, "  \
    "but past 0.97 the Newton iteration overshoots and the anomaly flips sign. Compare the "       \
    "damped "                                                                                      \
    "update with the bisection fallback, check the derivative for the hyperbolic branch, and "     \
    "tell "                                                                                        \
    "me which of the three tests in test_kepler.py should be extended to cover the case where "    \
    "the "                                                                                         \
    "mean anomaly is exactly pi. Also explain why the tolerance of 1e-12 is never reached when "   \
    "the eccentricity is 0.999, and whether a Halley step would converge in fewer iterations."

static int setup(void **state)
{
    fx_env *env = calloc(1, sizeof *env);
    assert_non_null(env);
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

static char *claude_id(int i)
{
    return fx_fmt("fa000000-0000-4000-8000-%012d", i);
}

/* Writes N_CLAUDE_SESSIONS Claude sessions and one Codex session. */
static void write_sessions(const fx_env *env)
{
    for (int i = 0; i < N_CLAUDE_SESSIONS; i++) {
        char *id = claude_id(i);
        char *path = fx_claude_path(env, PROJECT, id);
        char *text =
            i % 2 == 0 ? fx_claude_rich(id, LONG_PROMPT) : fx_claude_plain(id, LONG_PROMPT);
        fx_write(path, text);
        free(text);
        free(path);
        free(id);
    }
    char *path = fx_codex_path(env, "2026/02/01", CODEX_ID);
    char *text = fx_codex_basic(CODEX_ID, "Run the tests please.");
    fx_write(path, text);
    free(text);
    free(path);
}

#define N_SESSIONS (N_CLAUDE_SESSIONS + 1)

/* Runs sync on env with its archive at db. Returns the run's code, and err receives the message. */
static int try_sync(const fx_env *env, const char *db, pd_sync_stats *stats, pd_err *err)
{
    pd_engine_config cfg = fx_engine_config(env);
    cfg.db_path = db;
    pd_engine *e = NULL;
    int rc = pd_engine_new(&cfg, PD_ENGINE_WRITER, &e, err);
    if (rc == PD_OK)
        rc = pd_engine_sync(e, NULL, stats, err);
    else
        memset(stats, 0, sizeof *stats);
    pd_engine_free(e);
    return rc;
}

/* Runs a diff on env with its archive at db. Returns the run's code and sets *out on PD_OK. */
static int try_diff(const fx_env *env, const char *db, pd_diff_report **out, pd_err *err)
{
    pd_engine_config cfg = fx_engine_config(env);
    cfg.db_path = db;
    pd_engine *e = NULL;
    *out = NULL;
    int rc = pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, err);
    if (rc == PD_OK)
        rc = pd_engine_diff(e, NULL, out, err);
    pd_engine_free(e);
    return rc;
}

/* Syncs env into its own archive and folds the WAL into the main file. */
static void sync_and_checkpoint(const fx_env *env)
{
    pd_sync_stats st;
    fx_sync(env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.files_discovered, N_SESSIONS);
    pd_sync_stats_free(&st);
    fx_sql(env->db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* Runs a diff that is expected to fail and checks that it did not touch the archive. */
static void diff_fails_unchanged(const fx_env *env, const char *db, int expected_rc,
                                 const char *reason)
{
    char before[65], after[65];
    fx_file_sha256(db, before);

    pd_diff_report *r = NULL;
    pd_err err = {0};
    int rc = try_diff(env, db, &r, &err);
    pd_diff_report_free(r);

    assert_int_equal(rc, expected_rc);
    assert_null(r);
    assert_non_null(strstr(err.msg, db));
    assert_non_null(strstr(err.msg, reason));
    fx_file_sha256(db, after);
    assert_string_equal(before, after);
}

/* Runs a sync that is expected to fail and checks that it did not touch the archive. */
static void sync_fails_unchanged(const fx_env *env, int expected_rc, const char *reason)
{
    char before[65], after[65];
    fx_file_sha256(env->db, before);

    pd_sync_stats st;
    pd_err err = {0};
    int rc = try_sync(env, env->db, &st, &err);
    pd_sync_stats_free(&st);

    assert_int_equal(rc, expected_rc);
    assert_non_null(strstr(err.msg, env->db));
    assert_non_null(strstr(err.msg, reason));
    fx_file_sha256(env->db, after);
    assert_string_equal(before, after);
}

/* ---- archives that are not archives ---------------------------------------------------- */

static void not_sqlite_rejected(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    char text[4096];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    text[sizeof text - 1] = '\0';
    fx_write(env->db, text);

    diff_fails_unchanged(env, env->db, PD_ESQLITE, "not an SQLite database");

    /* Sync must not replace a file it does not recognise, either. */
    sync_fails_unchanged(env, PD_ESQLITE, "not an SQLite database");
}

static void empty_file_rejected_by_diff(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    fx_write(env->db, "");

    /*
     * SQLite treats a zero-length file as an empty database, so a diff
     * opens it, finds no tables and reports that a sync may still be
     * creating the archive.
     */
    diff_fails_unchanged(env, env->db, PD_ESCHEMA, "has no archive tables yet; if a sync is");
}

/* A database of another program is named as such, not as an archive still being created. */
static void foreign_database_named_by_diff(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    fx_write(env->db, "");
    fx_sql(env->db, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('kept')");

    diff_fails_unchanged(env, env->db, PD_ESCHEMA,
                         "is an SQLite database of something else (it has a table \"notes\"");
}

/*
 * Overwrites the middle leaf page of table with a fixed byte pattern and
 * returns its page number. dbstat (compiled into Debian's SQLite) maps
 * tables to pages.
 */
static int64_t corrupt_page_of(const fx_env *env, const char *table)
{
    char *sql = fx_fmt("SELECT pageno FROM dbstat WHERE name = '%s' AND pagetype = 'leaf' "
                       "ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE "
                       "name = '%s' AND pagetype = 'leaf')",
                       table, table);
    int64_t page = fx_sql_int(env->db, sql);
    free(sql);
    assert_true(page > 1);
    int64_t page_size = fx_sql_int(env->db, "PRAGMA page_size");

    char *garbage = malloc((size_t)page_size);
    assert_non_null(garbage);
    memset(garbage, 0xA5, (size_t)page_size);
    int fd = open(env->db, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, garbage, (size_t)page_size, (page - 1) * page_size), page_size);
    assert_int_equal(close(fd), 0);
    free(garbage);
    return page;
}

static void corrupt_sessions_page_reported(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    corrupt_page_of(env, "sessions");

    /* The snapshot reads every sessions row first, so the run stops before any parse. */
    diff_fails_unchanged(env, env->db, PD_ESQLITE, "corrupt");
}

static void corrupt_messages_page_reported(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    int64_t n_pages = fx_sql_int(env->db, "SELECT count(*) FROM dbstat WHERE name = 'messages' "
                                          "AND pagetype = 'leaf'");
    assert_true(n_pages >= 3);
    corrupt_page_of(env, "messages");

    char before[65], after[65];
    fx_file_sha256(env->db, before);
    pd_diff_report *r = NULL;
    pd_err err = {0};
    int rc = try_diff(env, env->db, &r, &err);
    fx_file_sha256(env->db, after);
    assert_string_equal(before, after);

    /*
     * Sessions whose messages sat on the page fail alone with the SQLite
     * reason. Every other session is still compared.
     */
    if (rc != PD_OK)
        fail_msg("diff of the damaged archive failed as a whole: %s", err.msg);
    assert_true(r->totals.parse_errors >= 1);
    assert_int_equal(r->totals.identical + r->totals.parse_errors, N_SESSIONS);
    assert_int_equal(r->totals.changed, 0);
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls != PD_CLASS_PARSE_ERROR)
            continue;
        assert_non_null(e->session_id);
        assert_non_null(e->reason);
        assert_non_null(strstr(e->reason, env->db));
        assert_non_null(strstr(e->reason, "corrupt"));
    }
    pd_diff_report_free(r);
}

static void missing_table_named(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    fx_sql(env->db, "DROP TABLE tool_calls");
    fx_sql(env->db, "PRAGMA wal_checkpoint(TRUNCATE)");

    diff_fails_unchanged(env, env->db, PD_ESCHEMA, "tool_calls");
    sync_fails_unchanged(env, PD_ESCHEMA, "missing tables: tool_calls");
}

static void missing_column_named(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    fx_sql(env->db, "ALTER TABLE sessions DROP COLUMN file_hash");
    fx_sql(env->db, "PRAGMA wal_checkpoint(TRUNCATE)");

    diff_fails_unchanged(env, env->db, PD_ESCHEMA, "sessions.file_hash");
    sync_fails_unchanged(env, PD_ESCHEMA, "missing columns: sessions.file_hash");
}

/* ---- a writer holding the lock ---------------------------------------------------------- */

static void diff_reads_past_open_writer(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);

    /* Another connection takes the write lock and changes rows it never commits. */
    sqlite3 *writer = NULL;
    assert_int_equal(sqlite3_open_v2(env->db, &writer, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(writer, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(writer,
                                  "UPDATE sessions SET message_count = message_count + 7; "
                                  "UPDATE messages SET content = 'rewritten'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    /* WAL readers see the last commit and are never blocked by the writer. */
    char before[65], after[65];
    fx_file_sha256(env->db, before);
    pd_diff_report *r = NULL;
    pd_err err = {0};
    int rc = try_diff(env, env->db, &r, &err);
    fx_file_sha256(env->db, after);

    assert_int_equal(sqlite3_exec(writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(writer), SQLITE_OK);

    if (rc != PD_OK)
        fail_msg("diff failed while a writer held the lock: %s", err.msg);
    assert_int_equal(r->totals.examined, N_SESSIONS);
    assert_int_equal(r->totals.identical, N_SESSIONS);
    assert_int_equal(r->totals.changed, 0);
    assert_string_equal(before, after);
    pd_diff_report_free(r);
}

/* ---- archive locations ------------------------------------------------------------------- */

static void parent_is_file_rejected(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    char *parent = fx_fmt("%s/not-a-directory", env->dir);
    fx_write(parent, "a regular file\n");
    char *db = fx_fmt("%s/archive.db", parent);

    pd_sync_stats st;
    pd_err err = {0};
    int rc = try_sync(env, db, &st, &err);
    pd_sync_stats_free(&st);
    assert_int_not_equal(rc, PD_OK);
    assert_non_null(strstr(err.msg, db));

    pd_diff_report *r = NULL;
    pd_err diff_err = {0};
    rc = try_diff(env, db, &r, &diff_err);
    assert_int_not_equal(rc, PD_OK);
    assert_null(r);
    assert_non_null(strstr(diff_err.msg, db));
    assert_non_null(strstr(diff_err.msg, strerror(ENOTDIR)));

    /* The file is left as it was. */
    char *text = fx_read(parent, NULL);
    assert_string_equal(text, "a regular file\n");
    free(text);
    free(db);
    free(parent);
}

static void directory_as_archive_rejected(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    assert_int_equal(mkdir(env->db, 0755), 0);

    pd_sync_stats st;
    pd_err err = {0};
    int rc = try_sync(env, env->db, &st, &err);
    pd_sync_stats_free(&st);
    assert_int_not_equal(rc, PD_OK);
    assert_non_null(strstr(err.msg, env->db));

    pd_diff_report *r = NULL;
    pd_err diff_err = {0};
    rc = try_diff(env, env->db, &r, &diff_err);
    assert_int_not_equal(rc, PD_OK);
    assert_null(r);
    assert_non_null(strstr(diff_err.msg, env->db));
}

static void spaces_and_unicode_in_path(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    char *dir = fx_fmt("%s/my archives \xC3\xBC \xE6\x97\xA5\xE6\x9C\xAC", env->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *db = fx_fmt("%s/\xD0\xB0\xD1\x80\xD1\x85\xD0\xB8\xD0\xB2 2026.db", dir);

    pd_sync_stats st;
    pd_err err = {0};
    int rc = try_sync(env, db, &st, &err);
    if (rc != PD_OK)
        fail_msg("sync into %s failed: %s", db, err.msg);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.sessions_full, N_SESSIONS);
    pd_sync_stats_free(&st);

    char before[65], after[65];
    fx_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    fx_file_sha256(db, before);
    pd_diff_report *r = NULL;
    rc = try_diff(env, db, &r, &err);
    if (rc != PD_OK)
        fail_msg("diff of %s failed: %s", db, err.msg);
    assert_int_equal(r->totals.identical, N_SESSIONS);
    assert_string_equal(r->db_path, db);
    pd_diff_report_free(r);
    fx_file_sha256(db, after);
    assert_string_equal(before, after);
    free(db);
    free(dir);
}

/* ---- output faults --------------------------------------------------------------------- */

typedef enum stdout_kind {
    STDOUT_CLOSED_PIPE, /* a pipe whose read end is closed before the program starts */
    STDOUT_HEAD_PIPE,   /* a pipe the test reads one line from, then closes */
    STDOUT_DEV_FULL,    /* /dev/full: every write fails with ENOSPC */
} stdout_kind;

typedef struct run_result {
    int status; /* from waitpid */
    char *stderr_text;
} run_result;

/*
 * Runs PD_BINARY with argv (argv[0] becomes the program name) and stdout set up as kind.
 * stderr goes to a file in env, read back into the result.
 */
static run_result run_binary(const fx_env *env, stdout_kind kind, char *const argv[])
{
    const char *binary = getenv("PD_BINARY");
    if (binary == NULL)
        fail_msg("PD_BINARY is not set; run the test through ctest");
    char *err_path = fx_fmt("%s/stderr.txt", env->dir);
    int pipe_fds[2] = {-1, -1};
    if (kind != STDOUT_DEV_FULL)
        assert_int_equal(pipe(pipe_fds), 0);

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int out_fd;
        if (kind == STDOUT_DEV_FULL) {
            out_fd = open("/dev/full", O_WRONLY);
        } else {
            close(pipe_fds[0]);
            out_fd = pipe_fds[1];
        }
        int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out_fd < 0 || err_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
            _exit(120);
        execv(binary, argv);
        _exit(121);
    }

    if (kind != STDOUT_DEV_FULL) {
        close(pipe_fds[1]);
        if (kind == STDOUT_HEAD_PIPE) {
            /* Read up to the first newline, one byte at a time, as `head -1` stops there. */
            char c = 0;
            while (read(pipe_fds[0], &c, 1) == 1 && c != '\n')
                ;
        }
        close(pipe_fds[0]);
    }

    run_result res = {0};
    while (waitpid(child, &res.status, 0) < 0)
        assert_int_equal(errno, EINTR);
    res.stderr_text = fx_read(err_path, NULL);
    free(err_path);
    return res;
}

/* Checks an exit through exit() (no signal, no sanitizer report) with code 3. */
static void assert_clean_failure(const run_result *res)
{
    if (!WIFEXITED(res->status))
        fail_msg("parsediff ended by signal %d; stderr: %s", WTERMSIG(res->status),
                 res->stderr_text);
    assert_int_equal(WEXITSTATUS(res->status), 3);
    assert_null(strstr(res->stderr_text, "Sanitizer"));
    assert_null(strstr(res->stderr_text, "runtime error"));
}

static void diff_stdout_closed(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    char *source_claude = fx_fmt("claude=%s", env->claude_root);
    char *source_codex = fx_fmt("codex=%s", env->codex_root);
    char *argv[] = {"parsediff",   "diff",     "--db",       env->db, "--source",
                    source_claude, "--source", source_codex, "-v",    NULL};
    char before[65], after[65];
    fx_file_sha256(env->db, before);

    run_result res = run_binary(env, STDOUT_CLOSED_PIPE, argv);
    assert_clean_failure(&res);
    /* A reader that went away chose to, so no message is printed. */
    assert_string_equal(res.stderr_text, "");
    fx_file_sha256(env->db, after);
    assert_string_equal(before, after);
    free(res.stderr_text);
    free(source_codex);
    free(source_claude);
}

static void diff_stdout_full_disk(void **state)
{
    fx_env *env = *state;
    write_sessions(env);
    sync_and_checkpoint(env);
    char *source_claude = fx_fmt("claude=%s", env->claude_root);
    char *source_codex = fx_fmt("codex=%s", env->codex_root);
    char *argv[] = {"parsediff",   "diff",     "--db",       env->db,  "--source",
                    source_claude, "--source", source_codex, "--json", NULL};

    run_result res = run_binary(env, STDOUT_DEV_FULL, argv);
    assert_clean_failure(&res);
    assert_non_null(strstr(res.stderr_text, "cannot write the report"));
    assert_non_null(strstr(res.stderr_text, strerror(ENOSPC)));
    free(res.stderr_text);
    free(source_codex);
    free(source_claude);
}

/* Writes a Claude transcript whose parse output is far larger than a pipe's buffer. */
static char *write_large_transcript(const fx_env *env)
{
    size_t n = (size_t)1 << 20;
    char *prompt = malloc(n + 1);
    assert_non_null(prompt);
    memset(prompt, 'x', n);
    prompt[n] = '\0';
    char *id = claude_id(999);
    char *path = fx_claude_path(env, PROJECT, id);
    char *text = fx_claude_plain(id, prompt);
    fx_write(path, text);
    free(text);
    free(id);
    free(prompt);
    return path;
}

static void parse_stdout_head_closed(void **state)
{
    fx_env *env = *state;
    char *path = write_large_transcript(env);
    char *argv[] = {"parsediff", "parse", path, NULL};

    /* The output is 1 MiB long, so the program is still writing when the reader leaves. */
    run_result res = run_binary(env, STDOUT_HEAD_PIPE, argv);
    assert_clean_failure(&res);
    assert_string_equal(res.stderr_text, "");
    free(res.stderr_text);
    free(path);
}

static void parse_stdout_full_disk(void **state)
{
    fx_env *env = *state;
    char *path = write_large_transcript(env);
    char *argv[] = {"parsediff", "parse", path, NULL};

    run_result res = run_binary(env, STDOUT_DEV_FULL, argv);
    assert_clean_failure(&res);
    assert_non_null(strstr(res.stderr_text, "cannot write"));
    assert_non_null(strstr(res.stderr_text, strerror(ENOSPC)));
    free(res.stderr_text);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(not_sqlite_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_file_rejected_by_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_database_named_by_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_sessions_page_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_messages_page_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_table_named, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_column_named, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_reads_past_open_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(parent_is_file_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_as_archive_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(spaces_and_unicode_in_path, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_stdout_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_stdout_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_stdout_head_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_stdout_full_disk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
