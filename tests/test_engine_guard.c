/*
 * test_engine_guard.c -- the raced verdict from stored and live mtimes, and
 * the bounds of a diff worker's held read transaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/model.h"
#include "engine/diff_internal.h"
#include "engine/engine_internal.h"
#include "tests/support/archive_fixture.h"

static void raced_when_live_is_newer(void **state)
{
    (void)state;
    assert_true(pd_source_raced(1000, 2000, true));
}

static void not_raced_when_equal(void **state)
{
    (void)state;
    assert_false(pd_source_raced(2000, 2000, true));
}

static void not_raced_when_live_is_older(void **state)
{
    (void)state;
    assert_false(pd_source_raced(2000, 1000, true));
}

static void raced_by_one_nanosecond(void **state)
{
    (void)state;
    assert_true(pd_source_raced(1000, 1001, true));
}

static void raced_when_live_stat_failed(void **state)
{
    (void)state;
    assert_true(pd_source_raced(2000, 1000, false));
}

static void raced_when_stored_mtime_is_null(void **state)
{
    (void)state;
    assert_true(pd_source_raced(PD_INT_NULL, 1000, true));
}

/* The session_name the worker's reader sees for session "s1" now. */
static char *held_name(pd_worker *w)
{
    pd_err err = {0};
    assert_int_equal(pd_worker_hold_read(w, &err), PD_OK);
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    pd_session s;
    bool found = false;
    assert_int_equal(pd_archive_load_session(w->reader, "s1", 0, a, &s, &found, &err), PD_OK);
    assert_true(found);
    char *name = strdup(s.session_name != NULL ? s.session_name : "(null)");
    pd_arena_free(a);
    return name;
}

/* Asserts that the worker's reader now reads expected as the name of "s1". */
static void expect_held_name(pd_worker *w, const char *expected)
{
    char *name = held_name(w);
    assert_string_equal(name, expected);
    free(name);
}

/* An archive with one session "s1" named "before", and a worker reading it. */
typedef struct held_fixture {
    char *dir;
    char *db;
    pd_worker *w;
} held_fixture;

static void held_fixture_open(held_fixture *f, int64_t hold_max_ns)
{
    f->dir = afx_tmpdir();
    f->db = afx_path(f->dir, "archive.db");
    pd_archive_close(afx_create_archive(f->db));
    afx_sql(f->db, "INSERT INTO sessions (id, project, session_name) VALUES ('s1', 'p', 'before')");
    f->w = NULL;
    assert_int_equal(pd_worker_open(f->db, NULL, &f->w), PD_OK);
    f->w->hold_max_ns = hold_max_ns;
}

static void held_fixture_close(held_fixture *f)
{
    pd_worker_close(f->w);
    afx_rmtree(f->dir);
    free(f->db);
    free(f->dir);
}

/* A held read keeps its view of the archive for at most 64 loads. The 65th
 * load runs in a new transaction and reads what a writer committed. */
static void held_read_is_renewed_after_its_load_bound(void **state)
{
    (void)state;
    held_fixture f;
    held_fixture_open(&f, INT64_MAX); /* only the load bound applies */
    pd_worker *w = f.w;
    expect_held_name(w, "before");

    afx_sql(f.db, "UPDATE sessions SET session_name = 'after' WHERE id = 's1'");
    for (int i = 2; i <= 64; i++)
        expect_held_name(w, "before");
    expect_held_name(w, "after");

    /* Released, the next load opens a fresh transaction at once. */
    afx_sql(f.db, "UPDATE sessions SET session_name = 'again' WHERE id = 's1'");
    pd_worker_release_read(w);
    expect_held_name(w, "again");

    held_fixture_close(&f);
}

/* A held read older than its time bound is renewed at the next load. */
static void held_read_is_renewed_after_its_time_bound(void **state)
{
    (void)state;
    held_fixture f;
    held_fixture_open(&f, 1000000); /* 1 ms */
    pd_worker *w = f.w;
    expect_held_name(w, "before");

    afx_sql(f.db, "UPDATE sessions SET session_name = 'after' WHERE id = 's1'");
    usleep(5000);
    expect_held_name(w, "after");

    held_fixture_close(&f);
}

/* The end of a job ends a held read only once it has reached its bound. */
static void held_read_ends_with_job_past_bound(void **state)
{
    (void)state;
    held_fixture f;
    held_fixture_open(&f, INT64_MAX);
    pd_worker *w = f.w;
    pd_worker_end_job(w);
    assert_int_equal(w->held_since_ns, 0);

    expect_held_name(w, "before");
    afx_sql(f.db, "UPDATE sessions SET session_name = 'after' WHERE id = 's1'");
    pd_worker_end_job(w);
    assert_true(w->held_since_ns != 0);
    expect_held_name(w, "before");

    w->hold_max_ns = 1000000; /* 1 ms */
    usleep(5000);
    pd_worker_end_job(w);
    assert_int_equal(w->held_since_ns, 0);
    assert_int_equal(w->held_loads, 0);
    w->hold_max_ns = INT64_MAX;
    expect_held_name(w, "after");
    held_fixture_close(&f);
}

/* A source of 1 MiB or more ends a held read before it is parsed. */
static void held_read_ends_before_large_source(void **state)
{
    (void)state;
    held_fixture f;
    held_fixture_open(&f, INT64_MAX);
    pd_worker *w = f.w;
    expect_held_name(w, "before");
    pd_worker_start_parse(w, ((size_t)1 << 20) - 1);
    assert_true(w->held_since_ns != 0);
    pd_worker_start_parse(w, (size_t)1 << 20);
    assert_int_equal(w->held_since_ns, 0);
    held_fixture_close(&f);
}

/* ---- a .zst still being written ------------------------------------------------------------- */

#define NS_PER_S 1000000000LL

/* A file of n bytes whose mtime is seconds_ago in the past (negative: ahead); returns its path. */
static char *file_aged(size_t n, time_t seconds_ago)
{
    char *path = strdup("/tmp/pd-zst-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char bytes[64] = {0};
    assert_true(n <= sizeof bytes);
    assert_int_equal(write(fd, bytes, n), (ssize_t)n);
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = time(NULL) - seconds_ago}};
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
    return path;
}

static int64_t mtime_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (int64_t)st.st_mtim.tv_sec * NS_PER_S + st.st_mtim.tv_nsec;
}

static void zst_old_and_unchanged_is_damaged(void **state)
{
    (void)state;
    char *path = file_aged(10, 600);
    int64_t now = (int64_t)time(NULL) * NS_PER_S;
    assert_false(pd_zst_being_written(path, 10, mtime_of(path), now));
    unlink(path);
    free(path);
}

static void zst_modified_recently_is_written(void **state)
{
    (void)state;
    char *path = file_aged(10, 30);
    int64_t now = (int64_t)time(NULL) * NS_PER_S;
    assert_true(pd_zst_being_written(path, 10, mtime_of(path), now));
    unlink(path);
    free(path);
}

/* An mtime two hours ahead comes from a skewed clock or another host, not from a writer. */
static void zst_future_mtime_is_damaged(void **state)
{
    (void)state;
    char *path = file_aged(10, -7200);
    int64_t now = (int64_t)time(NULL) * NS_PER_S;
    assert_false(pd_zst_being_written(path, 10, mtime_of(path), now));
    unlink(path);
    free(path);
}

/* A compressor that finished after the read sets the mtime back to its input's. */
static void zst_finished_since_read_is_written(void **state)
{
    (void)state;
    char *path = file_aged(20, 3600);
    int64_t now = (int64_t)time(NULL) * NS_PER_S;
    int64_t old = mtime_of(path);
    /* Read when it had 10 bytes and an old mtime, as after an earlier write. */
    assert_true(pd_zst_being_written(path, 10, old, now));
    /* Same size, another old mtime. */
    assert_true(pd_zst_being_written(path, 20, old - NS_PER_S, now));
    unlink(path);
    /* Gone since the read. */
    assert_true(pd_zst_being_written(path, 20, old, now));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raced_when_live_is_newer),
        cmocka_unit_test(zst_old_and_unchanged_is_damaged),
        cmocka_unit_test(zst_modified_recently_is_written),
        cmocka_unit_test(zst_future_mtime_is_damaged),
        cmocka_unit_test(zst_finished_since_read_is_written),
        cmocka_unit_test(not_raced_when_equal),
        cmocka_unit_test(not_raced_when_live_is_older),
        cmocka_unit_test(raced_by_one_nanosecond),
        cmocka_unit_test(raced_when_live_stat_failed),
        cmocka_unit_test(raced_when_stored_mtime_is_null),
        cmocka_unit_test(held_read_is_renewed_after_its_load_bound),
        cmocka_unit_test(held_read_is_renewed_after_its_time_bound),
        cmocka_unit_test(held_read_ends_with_job_past_bound),
        cmocka_unit_test(held_read_ends_before_large_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
