/*
 * test_archive_schema.c -- pd_archive_open(): creating, reopening, the
 * column check, damaged files, foreign (agentsview) schemas, unusual paths
 * and the read-only write guard.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive/archive.h"
#include "common/normalize.h"
#include "tests/support/child.h"
#include "tests/support/archive_fixture.h"

typedef struct fixture {
    char *dir;
    char *db;
    pd_arena *arena;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    fx->dir = afx_tmpdir();
    fx->db = afx_path(fx->dir, "archive.db");
    fx->arena = pd_arena_new();
    *state = fx;
    return fx->arena == NULL ? -1 : 0;
}

/*
 * Sets or clears the immutable attribute of a directory, under which even
 * root cannot create files in it: a stand-in for a read-only mount.
 * Returns false where the file system or the privileges do not allow it.
 */
static bool set_dir_immutable(const char *dir, bool on)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return false;
    int attrs = 0;
    bool ok = ioctl(fd, FS_IOC_GETFLAGS, &attrs) == 0;
    if (ok) {
        attrs = on ? attrs | FS_IMMUTABLE_FL : attrs & ~FS_IMMUTABLE_FL;
        ok = ioctl(fd, FS_IOC_SETFLAGS, &attrs) == 0;
    }
    close(fd);
    return ok;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char *copy_dir = afx_path(fx->dir, "copy");
    set_dir_immutable(copy_dir, false);
    set_dir_immutable(fx->dir, false);
    free(copy_dir);
    afx_rmtree(fx->dir);
    pd_arena_free(fx->arena);
    free(fx->db);
    free(fx->dir);
    free(fx);
    return 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes one normalised fixture session through a CREATE connection. */
static void write_fixture_session(fixture *fx, const char *path, const char *id)
{
    pd_archive *a = afx_create_archive(path);
    pd_session *s = afx_session(fx->arena, id, "claude", 2);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    pd_err err = {0};
    assert_int_equal(pd_archive_write_full(a, s, &err), PD_OK);
    pd_archive_close(a);
}

static void test_create_then_reopen(void **state)
{
    fixture *fx = *state;
    pd_archive *a = afx_create_archive(fx->db);
    assert_string_equal(pd_archive_path(a), fx->db);
    assert_int_equal(pd_archive_user_version(a), PD_DATA_VERSION);
    pd_archive_close(a);

    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    assert_non_null(ro);
    assert_int_equal(pd_archive_user_version(ro), PD_DATA_VERSION);
    pd_archive_close(ro);

    /* A second CREATE open uses the existing schema. */
    pd_archive *again = NULL;
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &again, &err), PD_OK);
    pd_archive_close(again);

    char *mode = afx_sql_text(fx->db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(afx_sql_int(fx->db, "PRAGMA user_version"), 90);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                         " AND name = 'idx_sessions_file_path'"),
                     1);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                         " AND name IN ('sessions', 'messages', 'tool_calls',"
                                         " 'tool_result_events', 'usage_events')"),
                     5);
}

static void test_created_defaults(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, "INSERT INTO sessions (id, project) VALUES ('bare', 'p')");

    char *machine = afx_sql_text(fx->db, "SELECT machine FROM sessions WHERE id = 'bare'");
    char *agent = afx_sql_text(fx->db, "SELECT agent FROM sessions WHERE id = 'bare'");
    char *revision = afx_sql_text(fx->db, "SELECT transcript_revision FROM sessions");
    char *outcome = afx_sql_text(fx->db, "SELECT outcome FROM sessions");
    assert_string_equal(machine, "local");
    assert_string_equal(agent, "claude");
    assert_string_equal(revision, "0");
    assert_string_equal(outcome, "unknown");
    assert_false(afx_sql_is_null(fx->db, "SELECT created_at FROM sessions"));
    assert_true(afx_sql_is_null(fx->db, "SELECT file_hash FROM sessions"));
    free(machine);
    free(agent);
    free(revision);
    free(outcome);
}

static void test_readonly_missing_file(void **state)
{
    fixture *fx = *state;
    pd_archive *a = NULL;
    pd_err err = {0};

    int rc = pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err);

    assert_int_equal(rc, PD_ENOENT);
    assert_null(a);
    assert_non_null(strstr(err.msg, fx->db));
    assert_non_null(strstr(err.msg, "not found"));
    assert_false(file_exists(fx->db));
}

static void test_invalid_flags_rejected(void **state)
{
    fixture *fx = *state;
    pd_archive *a = NULL;
    pd_err err = {0};

    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY | PD_ARCHIVE_CREATE, &a, &err),
                     PD_EINVAL);
    assert_null(a);
    assert_false(file_exists(fx->db));
}

static void test_missing_columns_named(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, "ALTER TABLE sessions DROP COLUMN file_hash;"
                    "ALTER TABLE messages DROP COLUMN source_uuid;");
    pd_archive *a = NULL;
    pd_err err = {0};

    int rc = pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err);

    assert_int_equal(rc, PD_ESCHEMA);
    assert_null(a);
    assert_non_null(strstr(err.msg, fx->db));
    assert_non_null(strstr(err.msg, "missing columns: sessions.file_hash, messages.source_uuid"));
}

static void test_missing_table_named(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, "DROP TABLE usage_events");
    pd_archive *a = NULL;
    pd_err err = {0};

    int rc = pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &a, &err);

    assert_int_equal(rc, PD_ESCHEMA);
    assert_null(a);
    assert_non_null(strstr(err.msg, "missing tables: usage_events"));
}

static void test_write_columns_only_for_create(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, "ALTER TABLE sessions DROP COLUMN quality_signal_version");
    pd_archive *a = NULL;
    pd_err err = {0};

    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err), PD_OK);
    pd_archive_close(a);
    a = NULL;

    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &a, &err), PD_ESCHEMA);
    assert_null(a);
    assert_non_null(strstr(err.msg, "sessions.quality_signal_version"));
}

static void test_not_sqlite_file(void **state)
{
    fixture *fx = *state;
    const char text[] = "{\"type\":\"user\"}\nthis is a transcript, not an archive\n";
    write_file(fx->db, text, sizeof text - 1);

    for (int flags = PD_ARCHIVE_READONLY; flags <= PD_ARCHIVE_CREATE; flags++) {
        pd_archive *a = NULL;
        pd_err err = {0};
        int rc = pd_archive_open(fx->db, flags, &a, &err);
        assert_int_equal(rc, PD_ESQLITE);
        assert_null(a);
        assert_non_null(strstr(err.msg, fx->db));
        assert_non_null(strstr(err.msg, "not an SQLite database"));
    }
    /* The file is left as it was. */
    struct stat st;
    assert_int_equal(stat(fx->db, &st), 0);
    assert_int_equal(st.st_size, (off_t)(sizeof text - 1));
}

/* Reads the whole file into a malloc'd buffer. */
static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

/*
 * Opens fx's archive for writing, expects PD_ESCHEMA with want in the
 * message and the file byte for byte as it was, and copies the error to err.
 */
static void expect_create_rejected(const fixture *fx, const char *want, pd_err *err)
{
    size_t n_before = 0, n_after = 0;
    char *before = read_file(fx->db, &n_before);
    pd_archive *a = NULL;

    int rc = pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &a, err);

    assert_int_equal(rc, PD_ESCHEMA);
    assert_null(a);
    assert_non_null(strstr(err->msg, want));
    char *after = read_file(fx->db, &n_after);
    assert_int_equal(n_before, n_after);
    assert_memory_equal(before, after, n_before);
    free(before);
    free(after);
}

/* A database of another program is refused before anything in it changes. */
static void test_foreign_database_left_alone(void **state)
{
    fixture *fx = *state;
    afx_sql(fx->db, "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('keep me')");
    pd_err err = {0};
    expect_create_rejected(fx, "\"notes\"", &err);
    assert_non_null(strstr(err.msg, fx->db));
    char *tables = afx_sql_text(fx->db, "SELECT group_concat(name) FROM sqlite_master");
    assert_string_equal(tables, "notes");
    free(tables);
}

/* A foreign database that happens to have a sessions table is left alone too. */
static void test_foreign_sessions_table_left_alone(void **state)
{
    fixture *fx = *state;
    afx_sql(fx->db, "CREATE TABLE sessions(id TEXT, user TEXT, expires INTEGER);"
                    "INSERT INTO sessions VALUES ('s1', 'kim', 0)");
    pd_err err = {0};
    expect_create_rejected(fx, "missing tables: messages", &err);
    char *mode = afx_sql_text(fx->db, "PRAGMA journal_mode");
    assert_string_equal(mode, "delete");
    free(mode);
}

/*
 * An archive from before sessions.last_write_incremental: diff names the
 * column and the sync that adds it, and sync adds it with 0 in every row.
 */
static void test_incremental_marker_added_by_sync(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "older");
    afx_sql(fx->db, "ALTER TABLE sessions DROP COLUMN last_write_incremental");
    pd_archive *a = NULL;
    pd_err err = {0};

    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err), PD_ESCHEMA);
    assert_non_null(strstr(err.msg, "sessions.last_write_incremental"));
    assert_non_null(strstr(err.msg, "one parsediff sync adds it"));

    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &a, &err), PD_OK);
    pd_archive_close(a);
    char *rows = afx_sql_text(fx->db, "SELECT group_concat(id || '=' || last_write_incremental)"
                                      " FROM sessions");
    assert_string_equal(rows, "older=0");
    free(rows);

    a = NULL;
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err), PD_OK);
    pd_archive_close(a);
}

/*
 * In a child process, as an unprivileged user when running as root: opens
 * path read-only and counts its sessions. Returns the child's exit status:
 * 0 when the archive opened and contains one session, 77 when no unprivileged
 * user can reach it.
 */
static int open_unprivileged(const char *path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!fx_child_drop_privileges(path, R_OK))
            _exit(77);
        pd_archive *a = NULL;
        pd_snapshot *snap = NULL;
        pd_err err = {0};
        if (pd_archive_open(path, PD_ARCHIVE_READONLY, &a, &err) != PD_OK) {
            fprintf(stderr, "open failed: %s\n", err.msg);
            _exit(2);
        }
        int status = pd_archive_snapshot(a, &snap, &err) != PD_OK ? 3
                     : pd_snapshot_count(snap) != 1               ? 4
                                                                  : 0;
        pd_snapshot_free(snap);
        pd_archive_close(a);
        _exit(status);
    }
    return fx_child_wait(pid);
}

/*
 * A directory without write permission (another user's, or one made
 * read-only by its owner): SQLite reports that as READONLY_DIRECTORY, not
 * CANTOPEN, and the archive without a -wal file still opens as immutable.
 */
static void test_directory_without_write_permission(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "kept");
    char *wal = afx_path(fx->dir, "archive.db-wal");
    assert_false(file_exists(wal));
    /* Root-owned and 0755 for the unprivileged user, 0555 for a plain owner. */
    assert_int_equal(chmod(fx->dir, geteuid() == 0 ? 0755 : 0555), 0);
    assert_int_equal(chmod(fx->db, 0644), 0);

    int status = open_unprivileged(fx->db);
    assert_int_equal(chmod(fx->dir, 0700), 0);
    assert_false(file_exists(wal));
    free(wal);
    if (status == 77)
        skip();
    assert_int_equal(status, 0);
}

/*
 * In a child process, as an unprivileged user when running as root: opens
 * path for writing and checks that the error contains expected. Returns the
 * child's exit status: 0 when it does, 77 when no unprivileged user can
 * reach path's directory.
 */
static int create_unprivileged_fails(const char *dir, const char *path, const char *expected)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!fx_child_drop_privileges(dir, R_OK | X_OK))
            _exit(77);
        /* A relative path is opened from dir. */
        if (path[0] != '/' && chdir(dir) != 0)
            _exit(4);
        pd_archive *a = NULL;
        pd_err err = {0};
        if (pd_archive_open(path, PD_ARCHIVE_CREATE, &a, &err) == PD_OK) {
            pd_archive_close(a);
            _exit(2);
        }
        if (strstr(err.msg, expected) == NULL) {
            fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err.msg, expected);
            _exit(3);
        }
        _exit(0);
    }
    return fx_child_wait(pid);
}

/* sync in a place it cannot write: the error names the file or directory and the fix. */
static void test_writer_names_unwritable_path(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "kept");
    /* Root-owned 0755 and 0644 for the unprivileged user; 0555 and 0444 for a plain owner. */
    assert_int_equal(chmod(fx->dir, geteuid() == 0 ? 0755 : 0555), 0);
    assert_int_equal(chmod(fx->db, geteuid() == 0 ? 0644 : 0444), 0);

    char *fresh = afx_path(fx->dir, "fresh.db");
    char no_dir[PATH_MAX + 64];
    snprintf(no_dir, sizeof no_dir, "the directory %s is not writable", fx->dir);
    int new_status = create_unprivileged_fails(fx->dir, fresh, no_dir);
    int old_status = -1, relative_status = -1;
    if (new_status != 77) {
        old_status = create_unprivileged_fails(fx->dir, fx->db, "the archive is not writable");
        /* dirname() of a bare file name is ".", not the name itself. */
        relative_status = create_unprivileged_fails(fx->dir, "fresh.db", "the directory . is not");
    }
    assert_int_equal(chmod(fx->dir, 0700), 0);
    assert_int_equal(chmod(fx->db, 0644), 0);
    assert_false(file_exists(fresh));
    free(fresh);
    if (new_status == 77)
        skip();
    assert_int_equal(new_status, 0);
    assert_int_equal(old_status, 0);
    assert_int_equal(relative_status, 0);
}

/*
 * An archive in a directory no user may write (a read-only mount in CI): with
 * no -wal file it is read as immutable, and nothing is created beside it.
 * With a -wal file but no -shm, the error names the cause and the fix.
 */
static int open_and_snapshot(const char *path, pd_err *err);

static void test_readonly_directory(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "kept");
    char *wal = afx_path(fx->dir, "archive.db-wal");
    char *shm = afx_path(fx->dir, "archive.db-shm");
    assert_false(file_exists(wal));
    if (!set_dir_immutable(fx->dir, true)) {
        free(wal);
        free(shm);
        skip(); /* no immutable attribute here (not root, or another file system) */
    }

    pd_archive *a = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &a, &err), PD_OK);
    pd_snapshot *snap = NULL;
    assert_int_equal(pd_archive_snapshot(a, &snap, &err), PD_OK);
    assert_int_equal(pd_snapshot_count(snap), 1);
    assert_non_null(pd_snapshot_find_id(snap, "kept"));
    pd_snapshot_free(snap);
    pd_archive_close(a);
    assert_false(file_exists(wal));
    assert_false(file_exists(shm));

    /* The same through a link in a writable directory: the archive's own directory counts. */
    char link_dir[] = "/tmp/pd-link.XXXXXX";
    assert_non_null(mkdtemp(link_dir));
    char *link = afx_path(link_dir, "archive.db");
    assert_int_equal(symlink(fx->db, link), 0);
    a = NULL;
    assert_int_equal(pd_archive_open(link, PD_ARCHIVE_READONLY, &a, &err), PD_OK);
    pd_archive_close(a);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(rmdir(link_dir), 0);
    free(link);
    assert_true(set_dir_immutable(fx->dir, false));

    /* A copy with its -wal file, but no -shm, in a directory that cannot get one. */
    pd_archive *writer = afx_create_archive(fx->db);
    pd_session *s = afx_session(fx->arena, "later", "claude", 2);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    assert_int_equal(pd_archive_write_full(writer, s, &err), PD_OK);
    assert_true(file_exists(wal));
    char *copy_dir = afx_path(fx->dir, "copy");
    assert_int_equal(mkdir(copy_dir, 0755), 0);
    char *copy_db = afx_path(copy_dir, "archive.db");
    char *copy_wal = afx_path(copy_dir, "archive.db-wal");
    size_t n = 0;
    char *bytes = read_file(fx->db, &n);
    write_file(copy_db, bytes, n);
    free(bytes);
    bytes = read_file(wal, &n);
    write_file(copy_wal, bytes, n);
    free(bytes);
    pd_archive_close(writer);
    assert_true(set_dir_immutable(copy_dir, true));

    a = NULL;
    assert_int_equal(pd_archive_open(copy_db, PD_ARCHIVE_READONLY, &a, &err), PD_ESQLITE);
    assert_null(a);
    assert_non_null(strstr(err.msg, copy_db));
    if (strstr(err.msg, "directory is not writable") == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_true(set_dir_immutable(copy_dir, false));

    /* An empty -wal file, as a read-only open leaves, contains no write, so it reads as unchanging.
     */
    afx_sql(copy_db, "PRAGMA wal_checkpoint(TRUNCATE)");
    write_file(copy_wal, "", 0);
    char *copy_shm = afx_path(copy_dir, "archive.db-shm");
    assert_true(unlink(copy_shm) == 0 || errno == ENOENT);
    free(copy_shm);
    assert_true(set_dir_immutable(copy_dir, true));
    pd_err empty_err = {0};
    assert_int_equal(open_and_snapshot(copy_db, &empty_err), PD_OK);
    assert_true(set_dir_immutable(copy_dir, false));

    free(copy_db);
    free(copy_wal);
    free(copy_dir);
    free(wal);
    free(shm);
}

/* An archive with enough rows to span many pages, checkpointed into the main file. */
static void make_multi_page_archive(fixture *fx)
{
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                    " INSERT INTO sessions (id, project, file_path)"
                    " SELECT 'session-' || i, 'p', '/t/' || hex(randomblob(40)) FROM n;"
                    "PRAGMA wal_checkpoint(TRUNCATE);");
}

/* Opens and snapshots; returns the first failure code and fills err. */
static int open_and_snapshot(const char *path, pd_err *err)
{
    pd_archive *a = NULL;
    int rc = pd_archive_open(path, PD_ARCHIVE_READONLY, &a, err);
    if (rc != PD_OK)
        return rc;
    pd_snapshot *snap = NULL;
    rc = pd_archive_snapshot(a, &snap, err);
    pd_snapshot_free(snap);
    pd_archive_close(a);
    return rc;
}

static void test_truncated_file(void **state)
{
    fixture *fx = *state;
    make_multi_page_archive(fx);
    size_t n = 0;
    char *bytes = read_file(fx->db, &n);
    assert_true(n > 16384);
    write_file(fx->db, bytes, n / 3);
    free(bytes);
    pd_err err = {0};

    int rc = open_and_snapshot(fx->db, &err);

    assert_int_equal(rc, PD_ESQLITE);
    assert_non_null(strstr(err.msg, fx->db));
    assert_non_null(strstr(err.msg, "corrupt"));
}

static void test_corrupt_header(void **state)
{
    fixture *fx = *state;
    make_multi_page_archive(fx);
    size_t n = 0;
    char *bytes = read_file(fx->db, &n);
    /* Keep the magic string, scramble the rest of the header and page 1. */
    for (size_t i = 16; i < 4096 && i < n; i++)
        bytes[i] = (char)(i * 37 + 11);
    write_file(fx->db, bytes, n);
    free(bytes);
    pd_err err = {0};

    int rc = open_and_snapshot(fx->db, &err);

    assert_int_equal(rc, PD_ESQLITE);
    assert_non_null(strstr(err.msg, fx->db));
}

static void test_empty_path_rejected(void **state)
{
    (void)state;
    pd_archive *a = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open("", PD_ARCHIVE_READONLY, &a, &err), PD_EINVAL);
    assert_null(a);
}

/*
 * The parts of an agentsview archive that parsediff does not own: extra
 * columns, the stats counters and their triggers, the FTS5 index over
 * message content with its triggers, and excluded_sessions.
 */
static const char agentsview_extras_sql[] =
    "ALTER TABLE sessions ADD COLUMN project_identity TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE messages ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE stats (key TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO stats VALUES ('session_count', 0), ('message_count', 0);"
    "CREATE TRIGGER sessions_count_ai AFTER INSERT ON sessions BEGIN"
    "  UPDATE stats SET value = value + 1 WHERE key = 'session_count'; END;"
    "CREATE TRIGGER messages_count_ai AFTER INSERT ON messages BEGIN"
    "  UPDATE stats SET value = value + 1 WHERE key = 'message_count'; END;"
    "CREATE TRIGGER messages_count_ad AFTER DELETE ON messages BEGIN"
    "  UPDATE stats SET value = value - 1 WHERE key = 'message_count'; END;"
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    "  content_rowid='id', tokenize='porter unicode61');"
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
    "  INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END;"
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
    "  INSERT INTO messages_fts(messages_fts, rowid, content)"
    "  VALUES ('delete', old.id, old.content); END;"
    "CREATE TABLE excluded_sessions (id TEXT PRIMARY KEY,"
    "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));"
    "CREATE TABLE skipped_files (path TEXT PRIMARY KEY, mtime REAL NOT NULL);";

static void test_agentsview_extras_open(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, agentsview_extras_sql);

    write_fixture_session(fx, fx->db, "first");
    write_fixture_session(fx, fx->db, "first"); /* a rewrite fires the delete triggers */

    assert_int_equal(afx_sql_int(fx->db, "SELECT value FROM stats WHERE key = 'session_count'"), 1);
    assert_int_equal(afx_sql_int(fx->db, "SELECT value FROM stats WHERE key = 'message_count'"), 4);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages_fts"
                                         " WHERE messages_fts MATCH 'reply'"),
                     2);

    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    pd_snapshot *snap = NULL;
    assert_int_equal(pd_archive_snapshot(ro, &snap, &err), PD_OK);
    assert_int_equal(pd_snapshot_count(snap), 1);
    pd_snapshot_free(snap);
    pd_archive_close(ro);
}

static void test_excluded_session_not_written(void **state)
{
    fixture *fx = *state;
    pd_archive_close(afx_create_archive(fx->db));
    afx_sql(fx->db, agentsview_extras_sql);
    afx_sql(fx->db, "INSERT INTO excluded_sessions (id) VALUES ('gone')");
    pd_archive *a = afx_create_archive(fx->db);
    pd_session *s = afx_session(fx->arena, "gone", "claude", 1);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    pd_write_outcome outcome = PD_WRITE_DONE;
    pd_err err = {0};

    assert_int_equal(pd_archive_write_session(a, s, &outcome, &err), PD_OK);
    pd_archive_close(a);

    assert_int_equal(outcome, PD_WRITE_SKIPPED_EXCLUDED);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(afx_sql_int(fx->db, "SELECT count(*) FROM messages"), 0);
}

static void test_path_with_spaces_and_unicode(void **state)
{
    fixture *fx = *state;
    char *sub = afx_path(fx->dir, "my archives \xc3\xbc \xe6\xa1\xa3");
    assert_int_equal(mkdir(sub, 0700), 0);
    char *path = afx_path(sub, "sessions \xe2\x80\x94 copy.db");

    write_fixture_session(fx, path, "unicode-path");
    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(path, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    assert_string_equal(pd_archive_path(ro), path);
    pd_session loaded;
    bool found = false;
    assert_int_equal(
        pd_archive_load_session(ro, "unicode-path", 0, fx->arena, &loaded, &found, &err), PD_OK);
    assert_true(found);
    assert_int_equal(loaded.n_messages, 4);
    pd_archive_close(ro);
    assert_true(file_exists(path));

    free(path);
    free(sub);
}

static void test_readonly_rejects_writes(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "kept");
    char *before = afx_sql_text(fx->db, "SELECT group_concat(session_name || '|' || message_count"
                                        " || '|' || data_version) FROM sessions");
    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    pd_session *s = afx_session(fx->arena, "kept", "claude", 3);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    pd_incr_update u = {.session_id = "kept", .file_size = 1, .file_mtime = 1};

    pd_err e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0}, e5 = {0}, e6 = {0};
    assert_int_equal(pd_archive_begin(ro, &e1), PD_EREADONLY);
    assert_int_equal(pd_archive_write_full(ro, s, &e2), PD_EREADONLY);
    assert_int_equal(pd_archive_write_incremental(ro, &u, s, &e3), PD_EREADONLY);
    assert_int_equal(pd_archive_set_session_name(ro, "kept", "renamed", &e4), PD_EREADONLY);
    assert_int_equal(pd_archive_commit(ro, &e5), PD_EREADONLY);
    pd_write_outcome outcome;
    assert_int_equal(pd_archive_write_session(ro, s, &outcome, &e6), PD_EREADONLY);
    pd_archive_rollback(ro);
    pd_archive_close(ro);

    assert_non_null(strstr(e2.msg, fx->db));
    assert_non_null(strstr(e2.msg, "read-only"));
    char *after = afx_sql_text(fx->db, "SELECT group_concat(session_name || '|' || message_count"
                                       " || '|' || data_version) FROM sessions");
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_readonly_open_leaves_file_unchanged(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "still");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    size_t n_before = 0, n_after = 0;
    char *before = read_file(fx->db, &n_before);

    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    pd_snapshot *snap = NULL;
    assert_int_equal(pd_archive_snapshot(ro, &snap, &err), PD_OK);
    pd_snapshot_free(snap);
    pd_archive_close(ro);

    char *after = read_file(fx->db, &n_after);
    assert_int_equal(n_before, n_after);
    assert_memory_equal(before, after, n_before);
    free(before);
    free(after);
}

/* Mode bits of path + suffix, or -1 when it does not exist. */
static int companion_mode(const char *path, const char *suffix)
{
    char name[PATH_MAX];
    struct stat st;
    snprintf(name, sizeof name, "%s%s", path, suffix);
    return stat(name, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void remove_companion(const char *path, const char *suffix)
{
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s%s", path, suffix);
    assert_true(unlink(name) == 0 || errno == ENOENT);
}

/* Opens path read-only, takes a snapshot of one row and closes it. */
static void read_one_session(const char *path)
{
    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(path, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    pd_snapshot *snap = NULL;
    assert_int_equal(pd_archive_snapshot(ro, &snap, &err), PD_OK);
    assert_int_equal(pd_snapshot_count(snap), 1);
    pd_snapshot_free(snap);
    pd_archive_close(ro);
}

/* The reader files a diff creates beside a read-only archive do not block the next sync. */
static void test_readonly_open_leaves_writable_companions(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "guarded");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    remove_companion(fx->db, "-wal");
    remove_companion(fx->db, "-shm");
    assert_int_equal(chmod(fx->db, 0444), 0);

    /* Twice: the second open finds the files and resets the empty -wal to 0444. */
    for (int run = 0; run < 2; run++) {
        read_one_session(fx->db);
        assert_int_equal(companion_mode(fx->db, "-shm"), 0644);
        int wal = companion_mode(fx->db, "-wal");
        assert_true(wal == -1 || wal == 0644);
    }
    /* The archive itself keeps the mode its owner gave it. */
    assert_int_equal(companion_mode(fx->db, ""), 0444);

    /* Through a link to the archive, the files beside the real one are restored too. */
    char *link_dir = afx_path(fx->dir, "via");
    assert_int_equal(mkdir(link_dir, 0755), 0);
    char *link = afx_path(link_dir, "archive.db");
    assert_int_equal(symlink(fx->db, link), 0);
    assert_int_equal(chmod(fx->db, 0444), 0);
    remove_companion(fx->db, "-wal");
    remove_companion(fx->db, "-shm");
    read_one_session(link);
    assert_int_equal(companion_mode(fx->db, "-shm"), 0644);

    assert_int_equal(chmod(fx->db, 0644), 0);
    pd_archive *rw = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_CREATE, &rw, &err), PD_OK);
    assert_int_equal(pd_archive_begin(rw, &err), PD_OK);
    assert_int_equal(pd_archive_commit(rw, &err), PD_OK);
    pd_archive_close(rw);
    free(link);
    free(link_dir);
}

/* Read by root, the files SQLite gives to the archive's owner get the owner's write bit too. */
static void test_readonly_open_as_root_restores_owner_files(void **state)
{
    fixture *fx = *state;
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() != 0 || nobody == NULL)
        skip();
    write_fixture_session(fx, fx->db, "guarded");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    remove_companion(fx->db, "-wal");
    remove_companion(fx->db, "-shm");
    assert_int_equal(chown(fx->db, nobody->pw_uid, nobody->pw_gid), 0);
    assert_int_equal(chmod(fx->db, 0444), 0);

    read_one_session(fx->db);

    char shm[PATH_MAX];
    snprintf(shm, sizeof shm, "%s-shm", fx->db);
    struct stat st;
    assert_int_equal(stat(shm, &st), 0);
    assert_int_equal(st.st_uid, nobody->pw_uid);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(chmod(fx->db, 0644), 0);
}

/* In a child as nobody: a sync's write into the read-only archive at path, which fails. */
static int failed_write_as_nobody(const char *dir, const char *path, pd_session *s)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!fx_child_drop_privileges(dir, R_OK | W_OK | X_OK))
            _exit(77);
        pd_archive *a = NULL;
        pd_err err = {0};
        if (pd_archive_open(path, PD_ARCHIVE_CREATE, &a, &err) != PD_OK)
            _exit(0); /* refused at the open: nothing created */
        int rc = pd_archive_begin(a, &err);
        if (rc == PD_OK)
            rc = pd_archive_write_full(a, s, &err);
        pd_archive_rollback(a);
        pd_archive_close(a);
        _exit(rc == PD_OK ? 2 : 0);
    }
    return fx_child_wait(pid);
}

/* A sync that fails on a read-only archive leaves -wal and -shm files a later sync can use. */
static void test_failed_write_leaves_writable_companions(void **state)
{
    fixture *fx = *state;
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() != 0 || nobody == NULL)
        skip();
    write_fixture_session(fx, fx->db, "guarded");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    remove_companion(fx->db, "-wal");
    remove_companion(fx->db, "-shm");
    assert_int_equal(chown(fx->dir, nobody->pw_uid, nobody->pw_gid), 0);
    assert_int_equal(chown(fx->db, nobody->pw_uid, nobody->pw_gid), 0);
    assert_int_equal(chmod(fx->db, 0444), 0);
    pd_session *s = afx_session(fx->arena, "later", "claude", 2);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);

    int status = failed_write_as_nobody(fx->dir, fx->db, s);
    if (status == 77)
        skip();
    assert_int_equal(status, 0);
    int shm = companion_mode(fx->db, "-shm"), wal = companion_mode(fx->db, "-wal");
    assert_true(shm == -1 || (shm & S_IWUSR) != 0);
    assert_true(wal == -1 || (wal & S_IWUSR) != 0);
    assert_true(shm != -1 || wal != -1); /* the failed write left files to check */
    assert_int_equal(chmod(fx->db, 0644), 0);
}

/* Files the owner locked, and the files links name, keep their modes. */
static void test_readonly_open_keeps_locked_companions(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "guarded");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    read_one_session(fx->db); /* leaves an empty -wal and a -shm */
    char shm[PATH_MAX], wal[PATH_MAX];
    snprintf(shm, sizeof shm, "%s-shm", fx->db);
    snprintf(wal, sizeof wal, "%s-wal", fx->db);
    assert_int_equal(chmod(shm, 0444), 0);

    char *target = afx_path(fx->dir, "precious.txt");
    write_file(target, "keep", 4);
    assert_int_equal(chmod(target, 0444), 0);
    remove_companion(fx->db, "-wal");
    assert_int_equal(symlink(target, wal), 0);

    pd_archive *ro = NULL;
    pd_err err = {0};
    (void)pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err);
    pd_archive_close(ro);

    assert_int_equal(companion_mode(fx->db, "-shm"), 0444);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0444);
    remove_companion(fx->db, "-wal");
    assert_int_equal(chmod(shm, 0644), 0);
    free(target);
}

/* Counts the POSIX locks this process holds on the file of path. */
static int own_locks_on(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    FILE *f = fopen("/proc/locks", "r");
    assert_non_null(f);
    char line[256], needle[64];
    snprintf(needle, sizeof needle, " %d %02x:%02x:%llu ", (int)getpid(), major(st.st_dev),
             minor(st.st_dev), (unsigned long long)st.st_ino);
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL && strstr(line, "POSIX") != NULL;
    fclose(f);
    return n;
}

/* Closing a read-only handle keeps the locks the process's other connections hold. */
static void test_readonly_close_keeps_writer_locks(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "held");
    pd_archive *writer = afx_create_archive(fx->db);
    pd_err err = {0};
    assert_int_equal(pd_archive_begin(writer, &err), PD_OK);
    pd_session *s = afx_session(fx->arena, "pending", "claude", 2);
    assert_int_equal(pd_session_normalize(s, NULL, fx->arena), PD_OK);
    assert_int_equal(pd_archive_write_full(writer, s, &err), PD_OK);
    char shm[PATH_MAX];
    snprintf(shm, sizeof shm, "%s-shm", fx->db);
    int before = own_locks_on(shm);
    assert_true(before > 0);

    read_one_session(fx->db);

    assert_int_equal(own_locks_on(shm), before);
    assert_int_equal(pd_archive_commit(writer, &err), PD_OK);
    pd_archive_close(writer);
}

/* A file linked in at a companion's name while a reader is open keeps its mode. */
static void test_readonly_close_skips_swapped_companion(void **state)
{
    fixture *fx = *state;
    write_fixture_session(fx, fx->db, "guarded");
    afx_sql(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    remove_companion(fx->db, "-wal");
    remove_companion(fx->db, "-shm");
    char *target = afx_path(fx->dir, "other.txt");
    write_file(target, "keep", 4);
    assert_int_equal(chmod(target, 0444), 0);

    pd_archive *ro = NULL;
    pd_err err = {0};
    assert_int_equal(pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &ro, &err), PD_OK);
    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", fx->db);
    assert_true(unlink(wal) == 0 || errno == ENOENT);
    assert_int_equal(link(target, wal), 0);
    pd_archive_close(ro);

    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0444);
    remove_companion(fx->db, "-wal");
    free(target);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* In a child process: waits until start_ns, opens path for writing, exits 0 on success. */
static void open_new_at(const char *path, int64_t start_ns)
{
    pd_archive *a = NULL;
    pd_err err = {0};

    while (now_ns() < start_ns)
        ;
    int rc = pd_archive_open(path, PD_ARCHIVE_CREATE, &a, &err);
    if (rc != PD_OK)
        fprintf(stderr, "%s\n", err.msg);
    pd_archive_close(a);
    _exit(rc == PD_OK ? 0 : 1);
}

/*
 * Two syncs starting on one new archive: two processes open it for writing
 * at the same moment. Both get it, however their WAL switches and schema
 * creations interleave, and the schema is created once.
 */
static void test_two_creators_race(void **state)
{
    fixture *fx = *state;
    for (int round = 0; round < 20; round++) {
        char name[32];
        snprintf(name, sizeof name, "race%02d.db", round);
        char *path = afx_path(fx->dir, name);
        int64_t start_ns = now_ns() + 20 * 1000 * 1000;
        pid_t pids[2];

        for (int i = 0; i < 2; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0)
                open_new_at(path, start_ns);
        }
        for (int i = 0; i < 2; i++) {
            int status = 0;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("round %d: opener %d failed (status %d)", round, i, status);
        }
        assert_int_equal(afx_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
                                           "'sessions'"),
                         1);
        char *mode = afx_sql_text(path, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        free(mode);
        free(path);
    }
}

/*
 * main() calls pd_archive_global_init() before any SQLite call, so SQLite
 * counts no memory: its statistics, and their process-wide mutex, are off.
 */
static void test_sqlite_memory_statistics_off(void **state)
{
    fixture *fx = *state;
    pd_archive *a = afx_create_archive(fx->db);

    assert_int_equal(sqlite3_memory_used(), 0);
    assert_int_equal(sqlite3_memory_highwater(0), 0);
    pd_archive_close(a);
}

int main(void)
{
    pd_archive_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_then_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_memory_statistics_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_creators_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_created_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_flags_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_columns_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_table_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_columns_only_for_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_sqlite_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_sessions_table_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_marker_added_by_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_path_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agentsview_extras_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_excluded_session_not_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_with_spaces_and_unicode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_rejects_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_leaves_writable_companions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_keeps_locked_companions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_as_root_restores_owner_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_writable_companions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly_close_keeps_writer_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_close_skips_swapped_companion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_leaves_file_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_without_write_permission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_names_unwritable_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
