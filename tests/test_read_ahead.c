/*
 * test_read_ahead.c -- when the collector reads sources ahead of the workers:
 * only after workers found two uncached sources close together, and no
 * longer after a run of cached ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "tests/support/archive_fixture.h"
#include "tests/support/engine_fixture.h"

#define N_FILES (PD_READ_AHEAD_CACHED_RUN + 8)

typedef struct fixture {
    char *dir;
    char *paths[N_FILES];
} fixture;

static const char line[] = "{\"type\":\"user\",\"message\":{\"content\":\"read ahead\"}}\n";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = afx_tmpdir();
    for (int i = 0; i < N_FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%03d.jsonl", i);
        f->paths[i] = afx_path(f->dir, name);
        FILE *fp = fopen(f->paths[i], "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(line, 1, sizeof line - 1, fp), sizeof line - 1);
        assert_int_equal(fclose(fp), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    afx_rmtree(f->dir);
    for (int i = 0; i < N_FILES; i++)
        free(f->paths[i]);
    free(f->dir);
    free(f);
    return 0;
}

/* Reads path as a worker does. */
static void read_source(pd_read_ahead *ra, const char *path)
{
    pd_source_buf buf;
    pd_err err;

    assert_int_equal(pd_read_ahead_source(ra, path, &buf, &err), PD_OK);
    pd_source_buf_free(&buf);
}

/* Drops path from the page cache, or returns false where the file system keeps it (tmpfs). */
static bool drop(const char *path)
{
    fx_drop_cached(path, 0, 0);
    return fx_resident_pages(path, sizeof line - 1) == 0;
}

/* Two uncached reads PD_READ_AHEAD_WINDOW reads apart make the run cold, and one does not. */
static void uncached_pair_sets_cold(void **state)
{
    fixture *f = *state;
    pd_read_ahead ra = {0};

    read_source(&ra, f->paths[0]);
    assert_false(ra.cold);
    if (!drop(f->paths[1]) || !drop(f->paths[PD_READ_AHEAD_WINDOW + 1]))
        skip();
    read_source(&ra, f->paths[1]);
    assert_false(ra.cold);
    for (int i = 2; i <= PD_READ_AHEAD_WINDOW; i++)
        read_source(&ra, f->paths[i]);
    assert_false(ra.cold);
    read_source(&ra, f->paths[PD_READ_AHEAD_WINDOW + 1]);
    assert_true(ra.cold);
}

/* Uncached reads further apart than the window leave the run warm. */
static void scattered_uncached_stay_warm(void **state)
{
    fixture *f = *state;
    pd_read_ahead ra = {0};
    const int far = PD_READ_AHEAD_WINDOW + 2;

    if (!drop(f->paths[0]) || !drop(f->paths[far]))
        skip();
    for (int i = 0; i <= far; i++)
        read_source(&ra, f->paths[i]);
    assert_false(ra.cold);
    assert_int_equal(ra.reads, far + 1);
    assert_int_equal(ra.last_uncached, far + 1);
}

/* Before any uncached read the collector opens nothing and counts nothing. */
static void warm_queue_opens_nothing(void **state)
{
    fixture *f = *state;
    pd_read_ahead ra = {0};

    for (int i = 0; i < N_FILES; i++)
        pd_read_ahead_queue(&ra, f->paths[i]);
    assert_false(ra.cold);
    assert_int_equal(ra.cached_run, 0);
}

/* A run of cached sources ends reading ahead, and one short of it does not. */
static void cached_run_clears_cold(void **state)
{
    fixture *f = *state;
    pd_read_ahead ra = {.cold = true};

    for (int i = 0; i < PD_READ_AHEAD_CACHED_RUN - 1; i++)
        pd_read_ahead_queue(&ra, f->paths[i]);
    assert_true(ra.cold);
    assert_int_equal(ra.cached_run, PD_READ_AHEAD_CACHED_RUN - 1);

    pd_read_ahead_queue(&ra, f->paths[PD_READ_AHEAD_CACHED_RUN - 1]);
    assert_false(ra.cold);
    assert_int_equal(ra.cached_run, 0);
}

/* A source that needs the disk starts the count of cached sources again. */
static void uncached_source_resets_count(void **state)
{
    fixture *f = *state;
    pd_read_ahead ra = {.cold = true};

    for (int i = 0; i < 10; i++)
        pd_read_ahead_queue(&ra, f->paths[i]);
    assert_int_equal(ra.cached_run, 10);

    if (!drop(f->paths[10]))
        skip();
    pd_read_ahead_queue(&ra, f->paths[10]);
    assert_true(ra.cold);
    assert_int_equal(ra.cached_run, 0);

    /* A missing path neither counts as cached nor restarts the count. */
    pd_read_ahead_queue(&ra, f->paths[11]);
    assert_int_equal(ra.cached_run, 1);
    pd_read_ahead_queue(&ra, "/nonexistent/pd-read-ahead.jsonl");
    assert_int_equal(ra.cached_run, 1);
    assert_true(ra.cold);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(uncached_pair_sets_cold, setup, teardown),
        cmocka_unit_test_setup_teardown(scattered_uncached_stay_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(warm_queue_opens_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_run_clears_cold, setup, teardown),
        cmocka_unit_test_setup_teardown(uncached_source_resets_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
