/*
 * test_pool.c -- the worker pool: every job returned exactly once across
 * thread counts and ring capacities, backpressure, cancellation, start-up
 * failures and shutdown. It also tests the job ring's run pop on its own.
 *
 * Jobs live in a caller-owned array. run() derives a value from the job id
 * and counts its calls, so a lost, duplicated or twice-run job shows up in the
 * per-condition counters that each test asserts. Tests that need a job to
 * stay inside run() hold it on a gate (mutex and condition variable) and wait
 * for it with sched_yield polling, never with a timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"
#include "pool/pool_internal.h"

#define N_JOBS 20000u

typedef struct test_job {
    uint64_t id;
    bool gated; /* set before submit: run() waits for the gate */
    /* Written by run() on whichever thread runs the job. */
    uint64_t value;
    int n_runs;
    bool ran_on_caller;
    bool sigint_blocked;
    /* Written by the collecting thread. */
    int n_returned;
    bool reported_run; /* pd_pool_job_was_run when it was returned */
} test_job;

typedef struct test_user {
    pthread_t caller;
    unsigned spin;      /* busy-loop iterations per job */
    int fail_init_call; /* 1-based worker_init call that fails; 0: none */
    int fail_init_code;
    atomic_int n_init_calls;
    atomic_int n_init_ok;
    atomic_int n_fini;
    atomic_long n_runs_at_fini; /* sum of the per-worker counters */
    atomic_long n_runs;
    atomic_bool cancel_returned;
    atomic_int n_runs_after_cancel;

    pthread_mutex_t gate_mutex;
    pthread_cond_t gate_cond;
    bool gate_open; /* under gate_mutex */
    atomic_int n_at_gate;
} test_user;

typedef struct worker_state {
    long n_runs;
} worker_state;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int test_worker_init(void *user_, void **ctx)
{
    test_user *user = user_;
    int call = atomic_fetch_add(&user->n_init_calls, 1) + 1;
    if (call == user->fail_init_call)
        return user->fail_init_code;

    worker_state *w = calloc(1, sizeof *w);
    if (w == NULL)
        return PD_ENOMEM;
    atomic_fetch_add(&user->n_init_ok, 1);
    *ctx = w;
    return PD_OK;
}

static void test_worker_fini(void *user_, void *ctx)
{
    test_user *user = user_;
    worker_state *w = ctx;
    atomic_fetch_add(&user->n_runs_at_fini, w->n_runs);
    atomic_fetch_add(&user->n_fini, 1);
    free(w);
}

static void wait_at_gate(test_user *user)
{
    pthread_mutex_lock(&user->gate_mutex);
    atomic_fetch_add(&user->n_at_gate, 1);
    while (!user->gate_open)
        pthread_cond_wait(&user->gate_cond, &user->gate_mutex);
    pthread_mutex_unlock(&user->gate_mutex);
}

static void open_gate(test_user *user)
{
    pthread_mutex_lock(&user->gate_mutex);
    user->gate_open = true;
    pthread_cond_broadcast(&user->gate_cond);
    pthread_mutex_unlock(&user->gate_mutex);
}

static void wait_until_at_gate(test_user *user, int n)
{
    while (atomic_load(&user->n_at_gate) < n)
        sched_yield();
}

static void test_run(void *user_, void *ctx, void *job_)
{
    test_user *user = user_;
    worker_state *w = ctx;
    test_job *job = job_;
    sigset_t mask;

    if (atomic_load(&user->cancel_returned))
        atomic_fetch_add(&user->n_runs_after_cancel, 1);
    w->n_runs++;
    job->n_runs++;
    job->value = mix(job->id);
    job->ran_on_caller = pthread_equal(pthread_self(), user->caller);
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    job->sigint_blocked = sigismember(&mask, SIGINT) == 1;

    volatile uint64_t sink = job->id;
    for (unsigned i = 0; i < user->spin; i++)
        sink = mix(sink);

    if (job->gated)
        wait_at_gate(user);
    atomic_fetch_add(&user->n_runs, 1);
}

static void user_init(test_user *user)
{
    memset(user, 0, sizeof *user);
    user->caller = pthread_self();
    pthread_mutex_init(&user->gate_mutex, NULL);
    pthread_cond_init(&user->gate_cond, NULL);
}

static void user_free(test_user *user)
{
    pthread_cond_destroy(&user->gate_cond);
    pthread_mutex_destroy(&user->gate_mutex);
}

static pd_pool_config make_config(test_user *user, unsigned n_threads, unsigned capacity)
{
    return (pd_pool_config){
        .n_threads = n_threads,
        .ring_capacity = capacity,
        .worker_init = test_worker_init,
        .worker_fini = test_worker_fini,
        .run = test_run,
        .user = user,
    };
}

static test_job *make_jobs(size_t n)
{
    test_job *jobs = calloc(n, sizeof *jobs);
    assert_non_null(jobs);
    for (size_t i = 0; i < n; i++)
        jobs[i].id = i;
    return jobs;
}

/* Result ring capacity for a ring_capacity, as pool.h documents it. */
static unsigned result_capacity(unsigned ring_capacity)
{
    unsigned size = 2;
    while (size <= ring_capacity)
        size *= 2;
    return size - 1;
}

/* Records a returned job and checks that it is one of ours. */
static void note_returned(pd_pool *pool, test_job *jobs, size_t n_jobs, void *job_)
{
    test_job *job = job_;
    assert_non_null(job);
    assert_true(job >= jobs && job < jobs + n_jobs);
    job->n_returned++;
    job->reported_run = pd_pool_job_was_run(pool, job);
}

static void collect_one(pd_pool *pool, test_job *jobs, size_t n_jobs)
{
    void *job = NULL;
    assert_int_equal(pd_pool_next_result(pool, &job), PD_OK);
    note_returned(pool, jobs, n_jobs, job);
}

static void drain(pd_pool *pool, test_job *jobs, size_t n_jobs)
{
    void *job = NULL;
    int rc;
    while ((rc = pd_pool_next_result(pool, &job)) == PD_OK)
        note_returned(pool, jobs, n_jobs, job);
    assert_int_equal(rc, PD_ECLOSED);
    assert_null(job);
}

/* Counts of jobs that break one rule each, so a failure names the rule. */
typedef struct job_tally {
    size_t not_returned_once;
    size_t not_run_once;
    size_t wrong_value;
    size_t wrongly_reported;
    uint64_t id_sum;
    uint64_t value_sum;
} job_tally;

static job_tally tally_jobs(const test_job *jobs, size_t n)
{
    job_tally t = {0};
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].n_returned != 1)
            t.not_returned_once++;
        if (jobs[i].n_runs != 1)
            t.not_run_once++;
        if (jobs[i].value != mix(jobs[i].id))
            t.wrong_value++;
        if (!jobs[i].reported_run)
            t.wrongly_reported++;
        t.id_sum += jobs[i].id;
        t.value_sum += jobs[i].value;
    }
    return t;
}

static void assert_all_done(const test_job *jobs, size_t n)
{
    job_tally t = tally_jobs(jobs, n);
    uint64_t expected_value_sum = 0;
    for (size_t i = 0; i < n; i++)
        expected_value_sum += mix(i);

    assert_int_equal(t.not_returned_once, 0);
    assert_int_equal(t.not_run_once, 0);
    assert_int_equal(t.wrong_value, 0);
    assert_int_equal(t.wrongly_reported, 0);
    assert_int_equal(t.id_sum, (uint64_t)n * (n - 1) / 2);
    assert_int_equal(t.value_sum, expected_value_sum);
}

/* ---- every job returned once ------------------------------------------------ */

static const unsigned matrix_threads[] = {0, 1, 2, 3, 4};
static const unsigned matrix_capacities[] = {1, 2, 3, 8, 64};

/* Collects the result that PD_EFULL promises, then every other ready one. */
static void collect_ready(pd_pool *pool, test_job *jobs, size_t n_jobs)
{
    void *job = NULL;

    collect_one(pool, jobs, n_jobs);
    for (;;) {
        assert_int_equal(pd_pool_try_next_result(pool, &job), PD_OK);
        if (job == NULL)
            return;
        note_returned(pool, jobs, n_jobs, job);
    }
}

/* How the single caller of run_alternating submits and collects. */
typedef enum caller_pattern {
    SUBMIT_COLLECT_READY,   /* pd_pool_submit; on PD_EFULL every ready result */
    SUBMIT_COLLECT_ONE,     /* pd_pool_submit; on PD_EFULL one result */
    TRY_SUBMIT_COLLECT_ONE, /* pd_pool_try_submit; on PD_EFULL one result */
} caller_pattern;

static const char *const pattern_names[] = {"submit, collect ready", "submit, collect one",
                                            "try_submit, collect one"};

/* One thread submits and collects, and it collects only after a submit returns PD_EFULL. */
static void run_alternating(unsigned n_threads, unsigned capacity, caller_pattern pattern,
                            size_t n_jobs)
{
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job *jobs = make_jobs(n_jobs);
    size_t n_full = 0;

    user_init(&user);
    pd_pool_config cfg = make_config(&user, n_threads, capacity);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_non_null(pool);

    for (size_t i = 0; i < n_jobs; i++) {
        int rc;
        for (;;) {
            if (pattern == TRY_SUBMIT_COLLECT_ONE)
                rc = pd_pool_try_submit(pool, &jobs[i]);
            else
                rc = pd_pool_submit(pool, &jobs[i]);
            if (rc != PD_EFULL)
                break;
            n_full++;
            if (pattern == SUBMIT_COLLECT_READY)
                collect_ready(pool, jobs, n_jobs);
            else
                collect_one(pool, jobs, n_jobs);
        }
        assert_int_equal(rc, PD_OK);
    }
    pd_pool_finish(pool);
    drain(pool, jobs, n_jobs);
    pd_pool_destroy(pool);

    assert_all_done(jobs, n_jobs);
    /* Never collecting without PD_EFULL means the rings must fill up. */
    assert_true(n_full > 0);
    unsigned n_workers = n_threads > 0 ? n_threads : 1;
    assert_int_equal(atomic_load(&user.n_init_ok), n_workers);
    assert_int_equal(atomic_load(&user.n_fini), n_workers);
    assert_int_equal(atomic_load(&user.n_runs_at_fini), n_jobs);
    free(jobs);
    user_free(&user);
}

/* Every size runs N_JOBS jobs with the first pattern. The collect-one
 * patterns add coverage with fewer jobs, to keep the sanitizer runs short. */
static void pool_alternating_caller_all_sizes(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof matrix_threads / sizeof matrix_threads[0]; t++) {
        for (size_t c = 0; c < sizeof matrix_capacities / sizeof matrix_capacities[0]; c++) {
            for (caller_pattern pattern = SUBMIT_COLLECT_READY; pattern <= TRY_SUBMIT_COLLECT_ONE;
                 pattern++) {
                size_t n_jobs = pattern == SUBMIT_COLLECT_READY ? N_JOBS : N_JOBS / 4;
                print_message("threads %u, ring capacity %u, %s, %zu jobs\n", matrix_threads[t],
                              matrix_capacities[c], pattern_names[pattern], n_jobs);
                run_alternating(matrix_threads[t], matrix_capacities[c], pattern, n_jobs);
            }
        }
    }
}

typedef struct collector_args {
    pd_pool *pool;
    test_job *jobs;
    size_t n_jobs;
    int final_rc;
    size_t n_collected;
} collector_args;

static void *collector_main(void *arg)
{
    collector_args *a = arg;
    void *job = NULL;
    int rc;
    while ((rc = pd_pool_next_result(a->pool, &job)) == PD_OK) {
        test_job *tj = job;
        tj->n_returned++;
        tj->reported_run = pd_pool_job_was_run(a->pool, job);
        a->n_collected++;
    }
    a->final_rc = rc;
    return NULL;
}

static void pool_separate_collector_thread(void **state)
{
    (void)state;
    static const unsigned threads[] = {1, 4};
    static const unsigned capacities[] = {1, 64};
    const size_t n_jobs = N_JOBS / 4;

    for (size_t t = 0; t < 2; t++) {
        for (size_t c = 0; c < 2; c++) {
            test_user user;
            pd_pool *pool = NULL;
            pd_err err = {0};
            test_job *jobs = make_jobs(n_jobs);
            pthread_t collector;

            user_init(&user);
            pd_pool_config cfg = make_config(&user, threads[t], capacities[c]);
            assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
            collector_args args = {.pool = pool, .jobs = jobs, .n_jobs = n_jobs};
            assert_int_equal(pthread_create(&collector, NULL, collector_main, &args), 0);

            for (size_t i = 0; i < n_jobs; i++) {
                int rc;
                /* PD_EFULL is transient here because another thread collects. */
                while ((rc = pd_pool_submit(pool, &jobs[i])) == PD_EFULL)
                    sched_yield();
                assert_int_equal(rc, PD_OK);
            }
            pd_pool_finish(pool);
            assert_int_equal(pthread_join(collector, NULL), 0);
            pd_pool_destroy(pool);

            assert_int_equal(args.final_rc, PD_ECLOSED);
            assert_int_equal(args.n_collected, n_jobs);
            assert_all_done(jobs, n_jobs);
            free(jobs);
            user_free(&user);
        }
    }
}

/* ---- backpressure --------------------------------------------------------------- */

static void pool_try_submit_full_job_ring(void **state)
{
    (void)state;
    static const unsigned threads[] = {1, 2, 4};
    const unsigned capacity = 3;

    for (size_t t = 0; t < 3; t++) {
        unsigned n_threads = threads[t];
        size_t n_jobs = n_threads + capacity + 1;
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};
        test_job *jobs = make_jobs(n_jobs);

        user_init(&user);
        pd_pool_config cfg = make_config(&user, n_threads, capacity);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);

        /* Occupy every worker, so the ring itself must hold the next jobs. */
        for (unsigned i = 0; i < n_threads; i++) {
            jobs[i].gated = true;
            assert_int_equal(pd_pool_submit(pool, &jobs[i]), PD_OK);
        }
        wait_until_at_gate(&user, (int)n_threads);

        for (unsigned i = 0; i < capacity; i++)
            assert_int_equal(pd_pool_try_submit(pool, &jobs[n_threads + i]), PD_OK);
        test_job *extra = &jobs[n_threads + capacity];
        assert_int_equal(pd_pool_try_submit(pool, extra), PD_EFULL);
        assert_int_equal(pd_pool_try_submit(pool, extra), PD_EFULL);
        assert_int_equal(extra->n_runs, 0);

        open_gate(&user);
        for (size_t i = 0; i < n_jobs - 1; i++)
            collect_one(pool, jobs, n_jobs);
        assert_int_equal(pd_pool_submit(pool, extra), PD_OK);
        pd_pool_finish(pool);
        drain(pool, jobs, n_jobs);
        pd_pool_destroy(pool);

        assert_all_done(jobs, n_jobs);
        free(jobs);
        user_free(&user);
    }
}

/* Returns the maximum number of jobs one worker has outside the rings: the run it took. */
static size_t max_run(unsigned capacity, unsigned n_threads)
{
    size_t share = capacity / (2 * n_threads);
    if (share < 1)
        return 1;
    return share < PD_POOL_MAX_RUN ? share : PD_POOL_MAX_RUN;
}

/*
 * Without collecting, submit must return PD_EFULL once the job ring is full
 * and the result ring more than half full, and a result must then be ready.
 */
static void pool_submit_full_rings_returns_efull(void **state)
{
    (void)state;
    static const unsigned capacities[] = {1, 2, 8};

    for (unsigned n_threads = 1; n_threads <= 4; n_threads++) {
        for (size_t c = 0; c < 3; c++) {
            unsigned capacity = capacities[c];
            size_t max_accepted =
                capacity + n_threads * max_run(capacity, n_threads) + result_capacity(capacity);
            size_t n_jobs = max_accepted + 1;
            test_user user;
            pd_pool *pool = NULL;
            pd_err err = {0};
            test_job *jobs = make_jobs(n_jobs);
            size_t n_accepted = 0;
            int rc;

            user_init(&user);
            pd_pool_config cfg = make_config(&user, n_threads, capacity);
            assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);

            while ((rc = pd_pool_submit(pool, &jobs[n_accepted])) == PD_OK) {
                n_accepted++;
                if (n_accepted == n_jobs)
                    break;
            }
            assert_int_equal(rc, PD_EFULL);
            assert_true(n_accepted >= capacity + result_capacity(capacity) / 2 + 1);
            assert_true(n_accepted <= max_accepted);

            void *ready = NULL;
            assert_int_equal(pd_pool_try_next_result(pool, &ready), PD_OK);
            assert_non_null(ready);
            note_returned(pool, jobs, n_jobs, ready);

            for (size_t i = n_accepted; i < n_jobs; i++) {
                while ((rc = pd_pool_submit(pool, &jobs[i])) == PD_EFULL)
                    collect_one(pool, jobs, n_jobs);
                assert_int_equal(rc, PD_OK);
            }
            pd_pool_finish(pool);
            drain(pool, jobs, n_jobs);
            pd_pool_destroy(pool);

            assert_all_done(jobs, n_jobs);
            free(jobs);
            user_free(&user);
        }
    }
}

/* ---- inline mode ------------------------------------------------------------------ */

static void pool_inline_runs_on_caller_in_order(void **state)
{
    (void)state;
    const unsigned capacity = 3; /* result ring of 3 */
    const size_t n_jobs = 5;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job *jobs = make_jobs(n_jobs);
    void *job = NULL;

    user_init(&user);
    pd_pool_config cfg = make_config(&user, 0, capacity);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_int_equal(atomic_load(&user.n_init_ok), 1);

    /* Nothing queued and not finished: waiting could never end. */
    assert_int_equal(pd_pool_next_result(pool, &job), PD_EINVAL);
    assert_int_equal(pd_pool_try_next_result(pool, &job), PD_OK);
    assert_null(job);

    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(pd_pool_submit(pool, &jobs[i]), PD_OK);
        assert_int_equal(jobs[i].n_runs, 1);
        assert_true(jobs[i].ran_on_caller);
    }
    assert_int_equal(pd_pool_submit(pool, &jobs[3]), PD_EFULL);
    assert_int_equal(pd_pool_try_submit(pool, &jobs[3]), PD_EFULL);
    assert_int_equal(jobs[3].n_runs, 0);

    /* One producer and one consumer on one thread: results keep submission order. */
    assert_int_equal(pd_pool_next_result(pool, &job), PD_OK);
    assert_ptr_equal(job, &jobs[0]);
    note_returned(pool, jobs, n_jobs, job);
    assert_int_equal(pd_pool_try_submit(pool, &jobs[3]), PD_OK);
    assert_int_equal(pd_pool_try_next_result(pool, &job), PD_OK);
    assert_ptr_equal(job, &jobs[1]);
    note_returned(pool, jobs, n_jobs, job);
    assert_int_equal(pd_pool_submit(pool, &jobs[4]), PD_OK);

    pd_pool_finish(pool);
    for (size_t i = 2; i < n_jobs; i++) {
        assert_int_equal(pd_pool_next_result(pool, &job), PD_OK);
        assert_ptr_equal(job, &jobs[i]);
        note_returned(pool, jobs, n_jobs, job);
    }
    assert_int_equal(pd_pool_next_result(pool, &job), PD_ECLOSED);
    assert_int_equal(atomic_load(&user.n_fini), 0);
    pd_pool_destroy(pool);

    assert_int_equal(atomic_load(&user.n_fini), 1);
    assert_all_done(jobs, n_jobs);
    free(jobs);
    user_free(&user);
}

/* ---- threads and signals ------------------------------------------------------------ */

static bool sigint_blocked_here(void)
{
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    return sigismember(&mask, SIGINT) == 1;
}

static void pool_workers_block_sigint(void **state)
{
    (void)state;
    const size_t n_jobs = 200;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job *jobs = make_jobs(n_jobs);

    user_init(&user);
    assert_false(sigint_blocked_here());
    pd_pool_config cfg = make_config(&user, 3, 4);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_false(sigint_blocked_here());

    for (size_t i = 0; i < n_jobs; i++) {
        int rc;
        while ((rc = pd_pool_submit(pool, &jobs[i])) == PD_EFULL)
            collect_one(pool, jobs, n_jobs);
        assert_int_equal(rc, PD_OK);
    }
    pd_pool_finish(pool);
    drain(pool, jobs, n_jobs);
    pd_pool_destroy(pool);

    size_t n_unblocked = 0, n_on_caller = 0;
    for (size_t i = 0; i < n_jobs; i++) {
        n_unblocked += !jobs[i].sigint_blocked;
        n_on_caller += jobs[i].ran_on_caller;
    }
    assert_int_equal(n_unblocked, 0);
    assert_int_equal(n_on_caller, 0);
    free(jobs);
    user_free(&user);
}

/* ---- creation failures -------------------------------------------------------------- */

static void pool_worker_init_failure_reported(void **state)
{
    (void)state;
    static const unsigned threads[] = {0, 1, 4};

    for (size_t t = 0; t < 3; t++) {
        test_user user;
        pd_pool *pool = (pd_pool *)&user; /* must be overwritten with NULL */
        pd_err err = {0};

        user_init(&user);
        user.fail_init_call = threads[t] > 1 ? 3 : 1;
        user.fail_init_code = PD_EIO;
        pd_pool_config cfg = make_config(&user, threads[t], 8);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_EIO);
        assert_null(pool);
        assert_int_equal(err.code, PD_EIO);
        assert_non_null(strstr(err.msg, "worker_init failed"));
        assert_non_null(strstr(err.msg, "PD_EIO"));
        /* Workers whose init succeeded were shut down cleanly. */
        assert_int_equal(atomic_load(&user.n_fini), atomic_load(&user.n_init_ok));
        unsigned n_workers = threads[t] > 0 ? threads[t] : 1;
        assert_int_equal(atomic_load(&user.n_init_ok), (int)n_workers - 1);
        user_free(&user);
    }
}

static void pool_worker_init_positive_code_internal(void **state)
{
    (void)state;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};

    user_init(&user);
    user.fail_init_call = 2;
    user.fail_init_code = 1;
    pd_pool_config cfg = make_config(&user, 2, 8);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_EINTERNAL);
    assert_null(pool);
    /* Threads call worker_init in any order, so any of the two may fail. */
    assert_non_null(strstr(err.msg, "worker thread"));
    assert_non_null(strstr(err.msg, " of 2"));
    assert_int_equal(atomic_load(&user.n_fini), 1);
    user_free(&user);
}

typedef struct config_case {
    const char *name;
    unsigned n_threads;
    unsigned capacity;
    bool no_run;
    const char *message_part;
} config_case;

static void pool_create_rejects_bad_config(void **state)
{
    (void)state;
    static const config_case cases[] = {
        {"capacity 0", 1, 0, false, "ring_capacity 0"},
        {"capacity too large", 1, PD_POOL_MAX_RING_CAPACITY + 1, false, "ring_capacity"},
        {"too many threads", PD_POOL_MAX_THREADS + 1, 8, false, "n_threads"},
        {"no run callback", 1, 8, true, "run callback"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};

        print_message("case: %s\n", cases[i].name);
        user_init(&user);
        pd_pool_config cfg = make_config(&user, cases[i].n_threads, cases[i].capacity);
        if (cases[i].no_run)
            cfg.run = NULL;
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_EINVAL);
        assert_null(pool);
        assert_non_null(strstr(err.msg, cases[i].message_part));
        assert_int_equal(atomic_load(&user.n_init_calls), 0);
        user_free(&user);
    }

    pd_pool *pool = NULL;
    pd_err err = {0};
    assert_int_equal(pd_pool_create(NULL, &pool, &err), PD_EINVAL);
    assert_null(pool);
}

static void pool_largest_capacity_accepted(void **state)
{
    (void)state;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job job = {.id = 0};

    user_init(&user);
    pd_pool_config cfg = make_config(&user, 1, PD_POOL_MAX_RING_CAPACITY);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_int_equal(pd_pool_submit(pool, &job), PD_OK);
    pd_pool_finish(pool);
    drain(pool, &job, 1);
    pd_pool_destroy(pool);
    assert_all_done(&job, 1);
    user_free(&user);
}

/* ---- finish and misuse ------------------------------------------------------------------ */

static void pool_finish_with_zero_jobs(void **state)
{
    (void)state;
    static const unsigned threads[] = {0, 1, 4};

    for (size_t t = 0; t < 3; t++) {
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};
        void *job = &user;

        user_init(&user);
        pd_pool_config cfg = make_config(&user, threads[t], 2);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
        pd_pool_finish(pool);
        pd_pool_finish(pool);
        assert_int_equal(pd_pool_next_result(pool, &job), PD_ECLOSED);
        assert_null(job);
        assert_int_equal(pd_pool_try_next_result(pool, &job), PD_ECLOSED);
        pd_pool_destroy(pool);

        unsigned n_workers = threads[t] > 0 ? threads[t] : 1;
        assert_int_equal(atomic_load(&user.n_fini), n_workers);
        assert_int_equal(atomic_load(&user.n_runs), 0);
        user_free(&user);
    }
}

static void pool_submit_misuse_rejected(void **state)
{
    (void)state;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job job = {.id = 0};
    void *out = NULL;

    user_init(&user);
    pd_pool_config cfg = make_config(&user, 2, 4);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_int_equal(pd_pool_submit(pool, NULL), PD_EINVAL);
    assert_int_equal(pd_pool_try_submit(pool, NULL), PD_EINVAL);
    assert_int_equal(pd_pool_submit(NULL, &job), PD_EINVAL);
    assert_int_equal(pd_pool_next_result(pool, NULL), PD_EINVAL);
    assert_int_equal(pd_pool_next_result(NULL, &out), PD_EINVAL);

    pd_pool_finish(pool);
    assert_int_equal(pd_pool_submit(pool, &job), PD_ECLOSED);
    assert_int_equal(pd_pool_try_submit(pool, &job), PD_ECLOSED);
    assert_int_equal(pd_pool_next_result(pool, &out), PD_ECLOSED);
    pd_pool_destroy(pool);
    assert_int_equal(job.n_runs, 0);
    pd_pool_destroy(NULL);
    user_free(&user);
}

static void pool_job_was_run_only_last_result(void **state)
{
    (void)state;
    test_user user;
    pd_pool *pool = NULL;
    pd_err err = {0};
    test_job *jobs = make_jobs(2);
    void *first = NULL, *second = NULL;

    user_init(&user);
    pd_pool_config cfg = make_config(&user, 0, 4);
    assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
    assert_false(pd_pool_job_was_run(pool, &jobs[0]));
    assert_int_equal(pd_pool_submit(pool, &jobs[0]), PD_OK);
    assert_int_equal(pd_pool_submit(pool, &jobs[1]), PD_OK);
    assert_int_equal(pd_pool_next_result(pool, &first), PD_OK);
    assert_true(pd_pool_job_was_run(pool, first));
    assert_int_equal(pd_pool_next_result(pool, &second), PD_OK);
    assert_true(pd_pool_job_was_run(pool, second));
    assert_false(pd_pool_job_was_run(pool, first));
    assert_false(pd_pool_job_was_run(NULL, second));
    pd_pool_destroy(pool);
    free(jobs);
    user_free(&user);
}

/* ---- cancellation ------------------------------------------------------------------------ */

typedef struct cancel_args {
    pd_pool *pool;
    test_user *user;
} cancel_args;

static void *cancel_main(void *arg)
{
    cancel_args *a = arg;
    pd_pool_cancel(a->pool);
    atomic_store(&a->user->cancel_returned, true);
    return NULL;
}

typedef struct submit_args {
    pd_pool *pool;
    test_job *job;
    int rc;
} submit_args;

static void *submit_main(void *arg)
{
    submit_args *a = arg;
    a->rc = pd_pool_submit(a->pool, a->job);
    return NULL;
}

/*
 * Workers hold gated jobs while the job ring is full. Cancel must wait for
 * the gated jobs, skip every queued job and release a blocked submitter.
 */
static void pool_cancel_skips_queued_jobs(void **state)
{
    (void)state;
    static const unsigned threads[] = {1, 2, 4};
    const unsigned capacity = 8;

    for (size_t t = 0; t < 3; t++) {
        unsigned n_threads = threads[t];
        size_t n_queued_max = capacity;
        size_t n_jobs = n_threads + n_queued_max + 1;
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};
        test_job *jobs = make_jobs(n_jobs);
        pthread_t canceller, submitter;

        user_init(&user);
        pd_pool_config cfg = make_config(&user, n_threads, capacity);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);

        for (unsigned i = 0; i < n_threads; i++) {
            jobs[i].gated = true;
            assert_int_equal(pd_pool_submit(pool, &jobs[i]), PD_OK);
        }
        wait_until_at_gate(&user, (int)n_threads);
        for (size_t i = 0; i < n_queued_max; i++)
            assert_int_equal(pd_pool_try_submit(pool, &jobs[n_threads + i]), PD_OK);

        /* This submit blocks on the full job ring until the cancel. */
        test_job *blocked = &jobs[n_jobs - 1];
        submit_args sub = {.pool = pool, .job = blocked, .rc = PD_OK};
        assert_int_equal(pthread_create(&submitter, NULL, submit_main, &sub), 0);
        /* The pause only makes it likely that the submitter is already waiting
         * when the cancel comes; the checks hold either way. */
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);

        cancel_args can = {.pool = pool, .user = &user};
        assert_int_equal(pthread_create(&canceller, NULL, cancel_main, &can), 0);
        while (!pd_pool_is_cancelled(pool))
            sched_yield();
        assert_int_equal(pthread_join(submitter, NULL), 0);
        assert_int_equal(sub.rc, PD_ECANCELED);
        /* Gated jobs are still inside run, so the cancel cannot have returned. */
        assert_false(atomic_load(&user.cancel_returned));

        open_gate(&user);
        assert_int_equal(pthread_join(canceller, NULL), 0);
        assert_true(atomic_load(&user.cancel_returned));
        assert_int_equal(pd_pool_submit(pool, blocked), PD_ECANCELED);
        assert_int_equal(pd_pool_try_submit(pool, blocked), PD_ECANCELED);

        pd_pool_finish(pool);
        drain(pool, jobs, n_jobs - 1);
        pd_pool_destroy(pool);

        size_t n_bad_gated = 0, n_bad_queued = 0;
        for (unsigned i = 0; i < n_threads; i++)
            n_bad_gated += jobs[i].n_returned != 1 || jobs[i].n_runs != 1 || !jobs[i].reported_run;
        for (size_t i = n_threads; i < n_jobs - 1; i++)
            n_bad_queued += jobs[i].n_returned != 1 || jobs[i].n_runs != 0 || jobs[i].reported_run;
        assert_int_equal(n_bad_gated, 0);
        assert_int_equal(n_bad_queued, 0);
        assert_int_equal(blocked->n_returned, 0);
        assert_int_equal(blocked->n_runs, 0);
        assert_int_equal(atomic_load(&user.n_runs_after_cancel), 0);
        free(jobs);
        user_free(&user);
    }
}

/* Many short jobs, cancelled halfway by the thread that submits and collects. */
static void pool_cancel_mid_run_returns_every_job(void **state)
{
    (void)state;
    for (unsigned n_threads = 0; n_threads <= 4; n_threads++) {
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};
        test_job *jobs = make_jobs(N_JOBS);
        size_t n_accepted = 0;
        long n_runs_at_cancel = -1;

        user_init(&user);
        user.spin = 20;
        pd_pool_config cfg = make_config(&user, n_threads, 8);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);

        for (size_t i = 0; i < N_JOBS; i++) {
            if (i == N_JOBS / 2) {
                pd_pool_cancel(pool);
                atomic_store(&user.cancel_returned, true);
                n_runs_at_cancel = atomic_load(&user.n_runs);
            }
            int rc;
            while ((rc = pd_pool_submit(pool, &jobs[i])) == PD_EFULL)
                collect_one(pool, jobs, N_JOBS);
            if (i < N_JOBS / 2) {
                assert_int_equal(rc, PD_OK);
                n_accepted++;
            } else {
                assert_int_equal(rc, PD_ECANCELED);
            }
        }
        pd_pool_finish(pool);
        drain(pool, jobs, N_JOBS);
        pd_pool_destroy(pool);

        size_t n_returned_wrong = 0, n_run_twice = 0, n_report_wrong = 0, n_rejected_touched = 0;
        for (size_t i = 0; i < N_JOBS; i++) {
            bool accepted = i < n_accepted;
            if (accepted) {
                n_returned_wrong += jobs[i].n_returned != 1;
                n_run_twice += jobs[i].n_runs > 1;
                n_report_wrong += jobs[i].reported_run != (jobs[i].n_runs == 1);
            } else {
                n_rejected_touched += jobs[i].n_returned != 0 || jobs[i].n_runs != 0;
            }
        }
        assert_int_equal(n_returned_wrong, 0);
        assert_int_equal(n_run_twice, 0);
        assert_int_equal(n_report_wrong, 0);
        assert_int_equal(n_rejected_touched, 0);
        assert_int_equal(atomic_load(&user.n_runs_after_cancel), 0);
        assert_int_equal(atomic_load(&user.n_runs), n_runs_at_cancel);
        free(jobs);
        user_free(&user);
    }
}

/* ---- destroy without draining -------------------------------------------------------------- */

/* Counts the idle calls of a pool's workers and the context they passed. */
typedef struct idle_user {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int n_idle;
    int n_idle_at_run; /* n_idle when the job ran */
    void *ctx_seen;
    int marker; /* its address is every worker's context */
} idle_user;

static int idle_init(void *user_, void **ctx)
{
    idle_user *user = user_;
    *ctx = &user->marker;
    return PD_OK;
}

static void idle_run(void *user_, void *ctx, void *job)
{
    idle_user *user = user_;
    (void)ctx;
    (void)job;
    pthread_mutex_lock(&user->mutex);
    user->n_idle_at_run = user->n_idle;
    pthread_mutex_unlock(&user->mutex);
}

static void idle_note(void *user_, void *ctx)
{
    idle_user *user = user_;
    pthread_mutex_lock(&user->mutex);
    user->n_idle++;
    user->ctx_seen = ctx;
    pthread_cond_broadcast(&user->cond);
    pthread_mutex_unlock(&user->mutex);
}

/* A worker that runs out of jobs calls worker_idle with its context before it
 * waits. Inline mode calls it once, in the first pd_pool_finish. */
static void pool_worker_idle_after_last_job(void **state)
{
    (void)state;
    for (unsigned threads = 0; threads <= 1; threads++) {
        idle_user user = {.n_idle = 0};
        pthread_mutex_init(&user.mutex, NULL);
        pthread_cond_init(&user.cond, NULL);
        pd_pool_config cfg = {
            .n_threads = threads,
            .ring_capacity = 2,
            .worker_init = idle_init,
            .worker_idle = idle_note,
            .run = idle_run,
            .user = &user,
        };
        pd_pool *pool = NULL;
        pd_err err = {0};
        int job = 0;
        void *done = NULL;

        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
        assert_int_equal(pd_pool_submit(pool, &job), PD_OK);
        assert_int_equal(pd_pool_next_result(pool, &done), PD_OK);
        assert_ptr_equal(done, &job);

        if (threads > 0) {
            pthread_mutex_lock(&user.mutex);
            while (user.n_idle <= user.n_idle_at_run)
                pthread_cond_wait(&user.cond, &user.mutex);
            assert_ptr_equal(user.ctx_seen, &user.marker);
            pthread_mutex_unlock(&user.mutex);
        }

        if (threads == 0)
            assert_int_equal(user.n_idle, 0);
        pd_pool_finish(pool);
        pd_pool_finish(pool);
        if (threads == 0) {
            assert_int_equal(user.n_idle, 1);
            assert_ptr_equal(user.ctx_seen, &user.marker);
        }
        assert_int_equal(pd_pool_next_result(pool, &done), PD_ECLOSED);
        pd_pool_destroy(pool);
        pthread_cond_destroy(&user.cond);
        pthread_mutex_destroy(&user.mutex);
    }
}

static void pool_destroy_drops_uncollected_jobs(void **state)
{
    (void)state;
    static const unsigned threads[] = {0, 1, 4};

    for (size_t t = 0; t < 3; t++) {
        const size_t n_jobs = 64;
        test_user user;
        pd_pool *pool = NULL;
        pd_err err = {0};
        test_job *jobs = make_jobs(n_jobs);
        size_t n_accepted = 0;

        user_init(&user);
        pd_pool_config cfg = make_config(&user, threads[t], 1);
        assert_int_equal(pd_pool_create(&cfg, &pool, &err), PD_OK);
        /* Fill both rings so that workers wait on a full result ring. */
        while (n_accepted < n_jobs && pd_pool_submit(pool, &jobs[n_accepted]) == PD_OK)
            n_accepted++;
        assert_true(n_accepted < n_jobs);
        pd_pool_destroy(pool);

        unsigned n_workers = threads[t] > 0 ? threads[t] : 1;
        assert_int_equal(atomic_load(&user.n_fini), n_workers);
        size_t n_run_twice = 0;
        for (size_t i = 0; i < n_jobs; i++)
            n_run_twice += jobs[i].n_runs > 1;
        assert_int_equal(n_run_twice, 0);
        free(jobs);
        user_free(&user);
    }
}

/* ---- the job ring's run pop ---------------------------------------------------------------- */

/* Runs come out in push order, never longer than asked, across the ring's wrap. */
static void ring_pop_run_keeps_push_order(void **state)
{
    (void)state;
    uint64_t items[256];
    pd_job_ring r;
    assert_true(pd_job_ring_init(&r, 7)); /* a ck_ring of 8 slots */
    void *run[8];
    size_t pushed = 0, popped = 0;
    for (unsigned round = 0; round < 40; round++) {
        while (pd_job_ring_push(&r, &items[pushed]))
            pushed++;
        assert_int_equal(pd_job_ring_count(&r), 7);
        unsigned max = 1 + round % 5;
        assert_int_equal(pd_job_ring_pop_run(&r, run, max), max);
        for (unsigned i = 0; i < max; i++)
            assert_ptr_equal(run[i], &items[popped++]);
    }
    while (pd_job_ring_push(&r, &items[pushed]))
        pushed++;
    assert_int_equal(pd_job_ring_pop_run(&r, run, 8), 7);
    for (unsigned i = 0; i < 7; i++)
        assert_ptr_equal(run[i], &items[popped++]);
    assert_int_equal(pd_job_ring_pop_run(&r, run, 8), 0);
    assert_int_equal(popped, pushed);
    pd_job_ring_free(&r);
}

#define RING_ITEMS 200000u

typedef struct ring_consumer {
    pd_job_ring *ring;
    atomic_bool *pushed_all;
    atomic_int *take_counts; /* times each item was taken */
    const uint32_t *items;
    unsigned max_run;
    bool in_order; /* this consumer took its items in push order */
} ring_consumer;

static void *ring_consume(void *arg)
{
    ring_consumer *c = arg;
    const uint32_t *last = NULL;
    void *run[8];
    for (unsigned turn = 0;; turn++) {
        bool was_done = atomic_load(c->pushed_all);
        unsigned n = pd_job_ring_pop_run(c->ring, run, 1 + turn % c->max_run);
        if (n == 0 && was_done)
            return NULL;
        if (n == 0)
            sched_yield();
        for (unsigned i = 0; i < n; i++) {
            const uint32_t *item = run[i];
            if (last != NULL && item <= last)
                c->in_order = false;
            last = item;
            atomic_fetch_add(&c->take_counts[item - c->items], 1);
        }
    }
}

/* Two consumers taking runs of 1 to 8 while the producer pushes: every job
 * is taken exactly once. */
static void ring_pop_run_concurrent_consumers(void **state)
{
    (void)state;
    uint32_t *items = calloc(RING_ITEMS, sizeof *items);
    atomic_int *take_counts = calloc(RING_ITEMS, sizeof *take_counts);
    assert_non_null(items);
    assert_non_null(take_counts);
    pd_job_ring r;
    assert_true(pd_job_ring_init(&r, 31));
    atomic_bool pushed_all = false;
    ring_consumer consumers[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        consumers[i] = (ring_consumer){.ring = &r,
                                       .pushed_all = &pushed_all,
                                       .take_counts = take_counts,
                                       .items = items,
                                       .max_run = i == 0 ? 8 : 3,
                                       .in_order = true};
        assert_int_equal(pthread_create(&threads[i], NULL, ring_consume, &consumers[i]), 0);
    }
    for (size_t i = 0; i < RING_ITEMS; i++) {
        while (!pd_job_ring_push(&r, &items[i]))
            sched_yield();
    }
    atomic_store(&pushed_all, true);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    size_t wrong = 0;
    for (size_t i = 0; i < RING_ITEMS; i++)
        wrong += atomic_load(&take_counts[i]) != 1;
    assert_int_equal(wrong, 0);
    assert_true(consumers[0].in_order);
    assert_true(consumers[1].in_order);
    pd_job_ring_free(&r);
    free(take_counts);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_alternating_caller_all_sizes),
        cmocka_unit_test(pool_separate_collector_thread),
        cmocka_unit_test(pool_try_submit_full_job_ring),
        cmocka_unit_test(pool_submit_full_rings_returns_efull),
        cmocka_unit_test(pool_inline_runs_on_caller_in_order),
        cmocka_unit_test(pool_workers_block_sigint),
        cmocka_unit_test(pool_worker_init_failure_reported),
        cmocka_unit_test(pool_worker_init_positive_code_internal),
        cmocka_unit_test(pool_create_rejects_bad_config),
        cmocka_unit_test(pool_largest_capacity_accepted),
        cmocka_unit_test(pool_finish_with_zero_jobs),
        cmocka_unit_test(pool_submit_misuse_rejected),
        cmocka_unit_test(pool_job_was_run_only_last_result),
        cmocka_unit_test(pool_cancel_skips_queued_jobs),
        cmocka_unit_test(pool_cancel_mid_run_returns_every_job),
        cmocka_unit_test(pool_destroy_drops_uncollected_jobs),
        cmocka_unit_test(pool_worker_idle_after_last_job),
        cmocka_unit_test(ring_pop_run_keeps_push_order),
        cmocka_unit_test(ring_pop_run_concurrent_consumers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
