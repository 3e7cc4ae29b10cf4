/*
 * floor_test.c -- tests of the floor measurement (floor.h) on real files
 * and a real SQLite archive under a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/magic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench/floor.h"
#include "tests/support/engine_fixture.h"

static char tmp_root[256];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_root, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/pd-floor-test-XXXXXX");
    return mkdtemp(tmp_root) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void floor_walk_lists_jsonl_files_sorted(void **state)
{
    (void)state;
    char dir[300], sub[320], path[400];
    path_in(dir, sizeof dir, "walk");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/b.jsonl", dir);
    write_text(path, "{}\n");
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_text(path, "not a transcript\n");
    snprintf(path, sizeof path, "%s/a.jsonl", sub);
    write_text(path, "{\"a\":1}\n{\"b\":2}\n");
    char link[400];
    snprintf(link, sizeof link, "%s/link.jsonl", dir);
    assert_int_equal(symlink(path, link), 0);
    char missing[300];
    path_in(missing, sizeof missing, "no-such-root");

    const char *roots[] = {dir, missing};
    pd_floor_files files;
    pd_err err = {0};
    assert_int_equal(pd_floor_walk(roots, 2, &files, &err), PD_OK);
    assert_int_equal(files.n, 2);
    assert_true(strstr(files.paths[0], "/b.jsonl") != NULL);
    assert_true(strstr(files.paths[1], "/sub/a.jsonl") != NULL);
    assert_int_equal(files.sizes[0], 3);
    assert_int_equal(files.sizes[1], 16);
    assert_int_equal(files.total_bytes, 19);
    pd_floor_files_free(&files);
}

static void floor_parse_counts_lines_at_every_thread_count(void **state)
{
    (void)state;
    char dir[300], path[400];
    path_in(dir, sizeof dir, "parse");
    assert_int_equal(mkdir(dir, 0755), 0);
    /* Five non-empty lines, one invalid, a blank line, a CRLF line and no final newline. */
    snprintf(path, sizeof path, "%s/one.jsonl", dir);
    write_text(path, "{\"a\":1}\n\n[1,2]\r\n{\"broken\":\n\"text\"\n{\"last\":true}");
    snprintf(path, sizeof path, "%s/two.jsonl", dir);
    write_text(path, "");

    const char *roots[] = {dir};
    pd_floor_files files;
    pd_err err = {0};
    assert_int_equal(pd_floor_walk(roots, 1, &files, &err), PD_OK);
    for (unsigned threads = 0; threads <= 3; threads++) {
        pd_floor_parse_stats st;
        assert_int_equal(pd_floor_parse(&files, threads, &st, &err), PD_OK);
        assert_int_equal(st.files, 2);
        assert_int_equal(st.bytes, files.total_bytes);
        assert_int_equal(st.lines, 5);
        assert_int_equal(st.invalid_lines, 1);
    }
    pd_floor_files_free(&files);
}

static void floor_parse_fails_on_removed_file(void **state)
{
    (void)state;
    char dir[300], path[400];
    path_in(dir, sizeof dir, "removed");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/gone.jsonl", dir);
    write_text(path, "{}\n");
    const char *roots[] = {dir};
    pd_floor_files files;
    pd_err err = {0};
    assert_int_equal(pd_floor_walk(roots, 1, &files, &err), PD_OK);
    assert_int_equal(unlink(path), 0);

    pd_floor_parse_stats st;
    assert_int_equal(pd_floor_parse(&files, 1, &st, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "gone.jsonl"));
    pd_floor_files_free(&files);
}

static void make_archive(const char *path, int n_sessions, int n_messages, int n_calls)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE sessions (id TEXT PRIMARY KEY, first_message TEXT);"
                                  "CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id TEXT,"
                                  " content TEXT, score REAL, raw BLOB);"
                                  "CREATE TABLE tool_calls (id INTEGER PRIMARY KEY, name TEXT);"
                                  "BEGIN;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char sql[256];
    for (int i = 0; i < n_sessions; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO sessions VALUES ('s%d', 'hello')", i);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    /* Messages with rowid gaps, so ranges must not assume dense ids. */
    for (int i = 0; i < n_messages; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO messages VALUES (%d, 's0', 'abcd', 0.5, x'0102')", i * 7 + 3);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    for (int i = 0; i < n_calls; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO tool_calls VALUES (%d, 'Bash')", i + 1);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void floor_scan_reads_every_row_once(void **state)
{
    (void)state;
    char db[300];
    path_in(db, sizeof db, "scan.db");
    make_archive(db, 5, 101, 0);
    for (unsigned threads = 0; threads <= 4; threads++) {
        pd_floor_scan_stats st;
        pd_err err = {0};
        assert_int_equal(pd_floor_scan(db, threads, &st, &err), PD_OK);
        assert_int_equal(st.session_rows, 5);
        assert_int_equal(st.message_rows, 101);
        assert_int_equal(st.tool_call_rows, 0);
        /* Text and blob bytes: 5 x ("sN" + "hello") and 101 x ("s0" + "abcd" + 2 blob bytes). */
        assert_true(st.bytes >= 5 * 7 + 101 * 8);
    }
}

static void floor_scan_fails_on_missing_archive(void **state)
{
    (void)state;
    char db[300];
    path_in(db, sizeof db, "absent.db");
    pd_floor_scan_stats st;
    pd_err err = {0};
    assert_int_equal(pd_floor_scan(db, 1, &st, &err), PD_ESQLITE);
    assert_non_null(strstr(err.msg, "absent.db"));
}

/*
 * Evicting drops every transcript and the archive from the page cache (a
 * missing "-wal" file is skipped). Where the file system keeps its pages
 * in memory (tmpfs), only the count is checked.
 */
static void floor_evict_drops_cached_pages(void **state)
{
    (void)state;
    char dir[300], path[400], db[300];
    path_in(dir, sizeof dir, "evict");
    assert_int_equal(mkdir(dir, 0755), 0);
    char *text = malloc(65536 + 1);
    assert_non_null(text);
    for (size_t i = 0; i < 65536; i++)
        text[i] = i % 64 == 63 ? '\n' : 'x';
    text[65536] = '\0';
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/s%d.jsonl", dir, i);
        write_text(path, text);
    }
    free(text);
    path_in(db, sizeof db, "evict.db");
    make_archive(db, 2, 10, 1);
    sync();

    const char *roots[] = {dir};
    pd_floor_files files;
    pd_err err = {0};
    assert_int_equal(pd_floor_walk(roots, 1, &files, &err), PD_OK);
    assert_int_equal(files.n, 2);
    assert_int_equal(pd_floor_evict(&files, db), 3);

    struct statfs fs;
    assert_int_equal(statfs(dir, &fs), 0);
    if (fs.f_type != TMPFS_MAGIC) {
        assert_int_equal(fx_resident_pages(files.paths[0], 65536), 0);
        assert_int_equal(fx_resident_pages(files.paths[1], 65536), 0);
    }
    pd_floor_files_free(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_walk_lists_jsonl_files_sorted),
        cmocka_unit_test(floor_parse_counts_lines_at_every_thread_count),
        cmocka_unit_test(floor_parse_fails_on_removed_file),
        cmocka_unit_test(floor_scan_reads_every_row_once),
        cmocka_unit_test(floor_scan_fails_on_missing_archive),
        cmocka_unit_test(floor_evict_drops_cached_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
