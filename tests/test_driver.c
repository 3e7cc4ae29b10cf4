/*
 * test_driver.c -- the submit/collect loop's before_wait callback: sync
 * commits its open transaction there, so the callback must run whenever the
 * driver waits for a worker with nothing to fold, and never while finished
 * jobs are waiting to be folded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "engine/driver.h"

/* How long a job waits for the collector before the test gives up (a hang guard, not a timing). */
#define GUARD_MS 30000

typedef struct world {
    atomic_bool waited;    /* before_wait has run */
    atomic_int finished;   /* jobs whose run returned */
    atomic_int idle_after; /* jobs finished when the worker last found no job */
    atomic_bool saw_wait;  /* the blocking job saw before_wait while it ran */
    int folded;            /* collector only */
    int waits;             /* collector only */
} world;

typedef struct job {
    int id;
    bool blocks; /* waits until the collector announces that it waits */
} job;

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void run_job(void *user, void *ctx, void *job_)
{
    (void)ctx;
    world *w = user;
    job *j = job_;
    if (j->blocks) {
        for (int ms = 0; ms < GUARD_MS && !atomic_load(&w->waited); ms++)
            sleep_ms(1);
        atomic_store(&w->saw_wait, atomic_load(&w->waited));
    }
    atomic_fetch_add(&w->finished, 1);
}

/* The worker has handed over every result it had when it looks for a job and finds none. */
static void worker_idle(void *user, void *ctx)
{
    (void)ctx;
    world *w = user;
    atomic_store(&w->idle_after, atomic_load(&w->finished));
}

static int fold_job(void *ctx, void *job_, bool ran)
{
    (void)job_;
    world *w = ctx;
    assert_true(ran);
    w->folded++;
    return PD_OK;
}

static int note_wait(void *ctx)
{
    world *w = ctx;
    w->waits++;
    atomic_store(&w->waited, true);
    return PD_OK;
}

static pd_pool *pool_for(world *w, unsigned threads, unsigned ring)
{
    pd_pool_config pc = {.n_threads = threads,
                         .ring_capacity = ring,
                         .worker_idle = worker_idle,
                         .run = run_job,
                         .user = w};
    pd_pool *pool = NULL;
    pd_err err = {0};
    assert_int_equal(pd_pool_create(&pc, &pool, &err), PD_OK);
    return pool;
}

/* A worker busy with a long job: the driver calls before_wait before it waits for it. */
static void driver_calls_before_wait_when_idle(void **state)
{
    (void)state;
    world w = {0};
    pd_pool *pool = pool_for(&w, 1, 4);
    pd_driver d = {.pool = pool, .fold = fold_job, .before_wait = note_wait, .ctx = &w};
    job quick = {.id = 1}, slow = {.id = 2, .blocks = true};
    assert_int_equal(pd_driver_submit(&d, &quick), PD_OK);
    assert_int_equal(pd_driver_submit(&d, &slow), PD_OK);
    assert_int_equal(pd_driver_finish(&d), PD_OK);

    assert_int_equal(w.folded, 2);
    assert_true(atomic_load(&w.saw_wait));
    assert_true(w.waits >= 1);
    pd_pool_destroy(pool);
}

/* Finished jobs are folded first: no wait is announced while any is ready. */
static void driver_folds_ready_jobs_before_waiting(void **state)
{
    (void)state;
    world w = {0};
    enum { N = 6 };
    pd_pool *pool = pool_for(&w, 1, 8);
    pd_driver d = {.pool = pool, .fold = fold_job, .before_wait = note_wait, .ctx = &w};
    job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.id = i};
        assert_int_equal(pd_driver_submit(&d, &jobs[i]), PD_OK);
    }
    /* Every job has run and its result is in the ring once the worker goes idle after the last. */
    for (int ms = 0; ms < GUARD_MS && atomic_load(&w.idle_after) < N; ms++)
        sleep_ms(1);
    assert_int_equal(atomic_load(&w.idle_after), N);
    assert_int_equal(pd_driver_finish(&d), PD_OK);

    assert_int_equal(w.folded, N);
    assert_int_equal(w.waits, 0);
    pd_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(driver_calls_before_wait_when_idle),
        cmocka_unit_test(driver_folds_ready_jobs_before_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
