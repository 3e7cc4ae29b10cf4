/*
 * pool.c -- the fixed worker pool (API and contracts in pool.h).
 *
 * Entry points in call order: pd_pool_create; pd_pool_submit or
 * pd_pool_try_submit (submitting thread); pd_pool_next_result or
 * pd_pool_try_next_result and pd_pool_job_was_run (collecting thread);
 * pd_pool_finish (submitting thread); pd_pool_destroy. pd_pool_cancel and
 * pd_pool_is_cancelled from any thread. Workers run worker_main.
 *
 * Data path: submit -> job ring -> worker (run) -> result ring -> collect.
 * Each ring has two parking spots, one for each side that may have to wait:
 *
 *   job_ready     workers wait for a job, pd_pool_finish or pd_pool_destroy.
 *   job_space     the submitter waits for a free job slot, for results to
 *                 pile up (then it returns PD_EFULL) or for pd_pool_cancel.
 *   result_ready  the collector waits for a result or for the end of work.
 *   result_space  workers wait for a free result slot or pd_pool_destroy.
 *   idle          pd_pool_cancel waits until no worker is inside run.
 *
 * Waking in batches. A thread that waits on a full ring is woken once the
 * ring is at most half full, not at every pop, so that it refills many slots
 * per wake-up:
 *   - a worker's job pop wakes the submitter when it leaves the job ring at
 *     most half full (jobs.limit / 2);
 *   - a collector's result pop wakes all workers waiting to push when it
 *     leaves the result ring at most half full (result_low_water). Otherwise
 *     a caller that collects one result per PD_EFULL pays two thread
 *     wake-ups per job.
 * The counts read after a pop are snapshots, but while a thread sleeps its
 * ring count falls only through pops, so the pop that reaches the mark reads
 * a count at or below it.
 *
 * Deadlock freedom when the submitting thread also collects. It cannot
 * collect while it sleeps in submit, so submit must never sleep while the
 * workers wait for it to collect. Hence submit returns PD_EFULL, rather than
 * sleeping, when the job ring is full and the result ring is above
 * result_low_water. It sleeps only when the result ring is at or below that
 * mark, and then the pop that brought it there has woken every worker that
 * waited to push. While it sleeps, job_space is woken by a job pop at half
 * full, by a push that fills the result ring, by a failed result push and by
 * pd_pool_cancel, so it either gets a slot or returns PD_EFULL.
 *
 * Cancel handshake (Dekker style, all seq_cst): a worker stores
 * running = true, then loads cancelled and calls run only if it is false;
 * pd_pool_cancel stores cancelled = true, then waits until every worker's
 * running is false. In the single total order of seq_cst operations either
 * the worker's load sees the cancel (the job is skipped) or the cancel's
 * loads see running == true and wait for run to return. So once
 * pd_pool_cancel returns, no run is in progress and none can start.
 *
 * Inline mode (n_threads == 0) keeps one worker record for the calling
 * thread: submit runs the job at once and pushes it to the result ring; the
 * job ring and job_* parking spots stay unused.
 */
#include "pool/pool.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool_internal.h"

typedef struct pool_worker {
    /* Set before the thread starts, then read-only. */
    pd_pool *pool;
    pthread_t thread;
    bool thread_started; /* creating thread only */
    /* Written by the worker's own thread (inline mode: the creating thread)
     * before it reports start-up under pool->startup_mutex. */
    void *ctx;
    int init_rc;
    /* Cancel handshake flag, written by its worker, read by pd_pool_cancel.
     * On its own cache line because it changes twice per job. */
    _Alignas(PD_POOL_CACHE_LINE) atomic_bool running;
} pool_worker;

struct pd_pool {
    pd_job_ring jobs;
    pd_result_ring results;

    pd_parking job_ready;
    pd_parking job_space;
    pd_parking result_ready;
    pd_parking result_space;
    pd_parking idle;

    /* Copied at creation, then read-only. */
    pd_pool_config cfg;
    unsigned n_workers;        /* n_threads, or 1 record for inline mode */
    unsigned result_low_water; /* results.capacity / 2, see the file comment */
    pool_worker *workers;

    /* Flags only ever go from false to true. They are stored seq_cst, and
     * readers that only need the change eventually load them with acquire. */
    atomic_bool finished;  /* pd_pool_finish */
    atomic_bool cancelled; /* pd_pool_cancel; seq_cst with pool_worker.running */
    atomic_bool stopping;  /* pd_pool_destroy or failed create: workers exit */

    /* Written by the submitting thread only. The collector reads it after an
     * acquire load of finished has returned true, when it no longer changes. */
    _Alignas(PD_POOL_CACHE_LINE) atomic_uint_least64_t n_submitted;

    /* Collecting thread only. */
    _Alignas(PD_POOL_CACHE_LINE) uint_least64_t n_returned;
    const void *last_job;
    bool last_was_run;

    /* Start-up rendezvous between pd_pool_create and the workers. */
    pthread_mutex_t startup_mutex;
    pthread_cond_t startup_cond;
    unsigned n_reported;   /* under startup_mutex */
    bool inline_ctx_ready; /* inline mode: worker_init succeeded */
    /* Parts that pd_pool_create has set up, so that teardown frees only those. */
    bool rings_ready;
    unsigned n_parkings_ready;
    bool startup_ready;
};

/* ---- conditions that end a wait ------------------------------------------ */

static bool worker_may_take_job(const void *arg)
{
    const pd_pool *p = arg;
    return pd_job_ring_count(&p->jobs) > 0 || atomic_load(&p->finished) ||
           atomic_load(&p->stopping);
}

static bool result_ring_full(const pd_pool *p)
{
    return pd_result_ring_count(&p->results) >= p->results.capacity;
}

static bool result_ring_above_low_water(const pd_pool *p)
{
    return pd_result_ring_count(&p->results) > p->result_low_water;
}

static bool submitter_may_retry(const void *arg)
{
    const pd_pool *p = arg;
    return pd_job_ring_count(&p->jobs) < p->jobs.limit || result_ring_above_low_water(p) ||
           atomic_load(&p->cancelled);
}

/* Uses reservations rather than the count: a push fails while other pushes
 * hold every slot, and a worker that retried on the count alone would spin
 * and starve them. */
static bool worker_may_push_result(const void *arg)
{
    const pd_pool *p = arg;
    return pd_result_ring_has_free_slot(&p->results) || atomic_load(&p->stopping);
}

/* Collecting thread only, because it reads n_returned. */
static bool all_jobs_returned(const pd_pool *p)
{
    if (!atomic_load_explicit(&p->finished, memory_order_acquire))
        return false;
    return p->n_returned == atomic_load_explicit(&p->n_submitted, memory_order_relaxed);
}

static bool collector_may_retry(const void *arg)
{
    const pd_pool *p = arg;
    return pd_result_ring_count(&p->results) > 0 || all_jobs_returned(p);
}

static bool no_job_running(const void *arg)
{
    const pd_pool *p = arg;
    for (unsigned i = 0; i < p->n_workers; i++) {
        if (atomic_load(&p->workers[i].running))
            return false;
    }
    return true;
}

/* ---- worker side ----------------------------------------------------------- */

/* Runs job unless the pool is cancelled, and returns whether it ran. */
static bool run_unless_cancelled(pd_pool *p, pool_worker *w, void *job)
{
    atomic_store(&w->running, true);
    bool run = !atomic_load(&p->cancelled);
    if (run)
        p->cfg.run(p->cfg.user, w->ctx, job);
    atomic_store(&w->running, false);

    if (atomic_load(&p->cancelled))
        pd_parking_wake_all(&p->idle);
    return run;
}

/* Pushes a finished job, waiting for a free slot. Returns false when the pool
 * is being destroyed, in which case the job is dropped. */
static bool push_result(pd_pool *p, const pd_pool_result *result)
{
    for (;;) {
        bool now_full = false;
        if (pd_result_ring_push(&p->results, result, &now_full)) {
            pd_parking_wake_one(&p->result_ready);
            if (now_full)
                pd_parking_wake_one(&p->job_space);
            return true;
        }

        /* The result ring is full. A submitter waiting for a job slot must
         * learn this, or a caller that also collects would wait forever. */
        pd_parking_wake_one(&p->job_space);
        if (atomic_load_explicit(&p->stopping, memory_order_acquire))
            return false;
        pd_parking_wait(&p->result_space, worker_may_push_result, p);
    }
}

/*
 * Returns how many jobs to take (at most PD_POOL_MAX_RUN): a share of the
 * queue that leaves every other worker at least as many, so a queue near its
 * end is taken one by one. Jobs submitted one after another tend to read
 * neighbouring data (files of one directory, archive rows written in the
 * same order), which stays in the taking worker's caches. With single jobs,
 * each of 2 workers read into its SQLite page cache the pages of every
 * neighbour the other worker got. A diff of 100,000 small sessions made
 * 70,658 pread() calls at 1 worker and 123,745 at 2, and 103,596 at 2 once
 * workers took runs (BENCHMARKS.md).
 */
static unsigned run_length(const pd_pool *p)
{
    unsigned share = pd_job_ring_count(&p->jobs) / (2 * p->n_workers);
    if (share < 1)
        return 1;
    return share < PD_POOL_MAX_RUN ? share : PD_POOL_MAX_RUN;
}

static void worker_loop(pd_pool *p, pool_worker *w)
{
    for (;;) {
        /* pd_pool_destroy drops the queued jobs, the rest of a taken run too. */
        if (atomic_load_explicit(&p->stopping, memory_order_acquire))
            return;
        void *run[PD_POOL_MAX_RUN];
        unsigned n = pd_job_ring_pop_run(&p->jobs, run, run_length(p));
        if (n > 0) {
            if (pd_job_ring_count(&p->jobs) <= p->jobs.limit / 2)
                pd_parking_wake_one(&p->job_space);
            for (unsigned i = 0; i < n; i++) {
                if (i > 0 && atomic_load_explicit(&p->stopping, memory_order_acquire))
                    return;
                pd_pool_result result = {.job = run[i],
                                         .was_run = run_unless_cancelled(p, w, run[i])};
                if (!push_result(p, &result))
                    return;
            }
            continue;
        }

        if (atomic_load_explicit(&p->finished, memory_order_acquire)) {
            /* A job pushed just before finish may have arrived after the
             * failed pop, so exit only when the ring is empty after finish. */
            if (pd_job_ring_count(&p->jobs) == 0)
                return;
            continue;
        }
        if (p->cfg.worker_idle != NULL)
            p->cfg.worker_idle(p->cfg.user, w->ctx);
        pd_parking_wait(&p->job_ready, worker_may_take_job, p);
    }
}

static void report_started(pd_pool *p, pool_worker *w, int rc)
{
    pthread_mutex_lock(&p->startup_mutex);
    w->init_rc = rc;
    p->n_reported++;
    pthread_cond_broadcast(&p->startup_cond);
    pthread_mutex_unlock(&p->startup_mutex);
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    pd_pool *p = w->pool;
    int rc = PD_OK;

    if (p->cfg.worker_init != NULL)
        rc = p->cfg.worker_init(p->cfg.user, &w->ctx);
    report_started(p, w, rc);
    if (rc != PD_OK)
        return NULL;

    worker_loop(p, w);

    if (p->cfg.worker_fini != NULL)
        p->cfg.worker_fini(p->cfg.user, w->ctx);
    return NULL;
}

/* ---- creation and teardown --------------------------------------------------- */

static int validate_config(const pd_pool_config *cfg, pd_pool **out, pd_err *err)
{
    if (cfg == NULL || out == NULL)
        return pd_err_set(err, PD_EINVAL,
                          "pool: configuration and output pointer must not be NULL");
    if (cfg->run == NULL)
        return pd_err_set(err, PD_EINVAL, "pool: the run callback is missing");
    if (cfg->ring_capacity == 0 || cfg->ring_capacity > PD_POOL_MAX_RING_CAPACITY)
        return pd_err_set(err, PD_EINVAL, "pool: invalid ring_capacity %u: must be 1 to %u",
                          cfg->ring_capacity, PD_POOL_MAX_RING_CAPACITY);
    if (cfg->n_threads > PD_POOL_MAX_THREADS)
        return pd_err_set(err, PD_EINVAL, "pool: invalid n_threads %u: must be 0 to %u",
                          cfg->n_threads, PD_POOL_MAX_THREADS);
    return PD_OK;
}

/* Rounds size up to a multiple of the alignment, as aligned_alloc requires. */
static void *alloc_cache_aligned(size_t size)
{
    size_t rounded = (size + PD_POOL_CACHE_LINE - 1) / PD_POOL_CACHE_LINE * PD_POOL_CACHE_LINE;
    void *mem = aligned_alloc(PD_POOL_CACHE_LINE, rounded);
    if (mem != NULL)
        memset(mem, 0, rounded);
    return mem;
}

static pd_parking *parking_at(pd_pool *p, unsigned i)
{
    pd_parking *all[] = {&p->job_ready, &p->job_space, &p->result_ready, &p->result_space,
                         &p->idle};
    return all[i];
}

#define POOL_N_PARKINGS 5u

/* Allocates the pool with its rings, parking spots and worker records. */
static int pool_alloc(const pd_pool_config *cfg, pd_pool **out, pd_err *err)
{
    pd_pool *p = alloc_cache_aligned(sizeof *p);
    if (p == NULL)
        return pd_err_set(err, PD_ENOMEM, "pool: out of memory allocating the pool");
    *out = p;

    p->cfg = *cfg;
    p->n_workers = cfg->n_threads > 0 ? cfg->n_threads : 1;
    atomic_init(&p->finished, false);
    atomic_init(&p->cancelled, false);
    atomic_init(&p->stopping, false);
    atomic_init(&p->n_submitted, 0);

    p->workers = alloc_cache_aligned(p->n_workers * sizeof *p->workers);
    if (p->workers == NULL)
        return pd_err_set(err, PD_ENOMEM, "pool: out of memory allocating %u worker records",
                          p->n_workers);
    for (unsigned i = 0; i < p->n_workers; i++) {
        p->workers[i].pool = p;
        atomic_init(&p->workers[i].running, false);
    }

    if (!pd_job_ring_init(&p->jobs, cfg->ring_capacity) ||
        !pd_result_ring_init(&p->results, cfg->ring_capacity)) {
        pd_job_ring_free(&p->jobs);
        return pd_err_set(err, PD_ENOMEM, "pool: out of memory allocating rings of capacity %u",
                          cfg->ring_capacity);
    }
    p->rings_ready = true;
    p->result_low_water = p->results.capacity / 2;

    for (; p->n_parkings_ready < POOL_N_PARKINGS; p->n_parkings_ready++) {
        if (!pd_parking_init(parking_at(p, p->n_parkings_ready)))
            return pd_err_set(err, PD_ENOMEM, "pool: cannot create a mutex or condition variable");
    }
    if (pthread_mutex_init(&p->startup_mutex, NULL) != 0)
        return pd_err_set(err, PD_ENOMEM, "pool: cannot create a mutex");
    if (pthread_cond_init(&p->startup_cond, NULL) != 0) {
        pthread_mutex_destroy(&p->startup_mutex);
        return pd_err_set(err, PD_ENOMEM, "pool: cannot create a condition variable");
    }
    p->startup_ready = true;
    return PD_OK;
}

/* Joins the started workers and frees everything pool_alloc set up. */
static void pool_teardown(pd_pool *p)
{
    atomic_store(&p->stopping, true);
    if (p->n_parkings_ready == POOL_N_PARKINGS) {
        pd_parking_wake_all(&p->job_ready);
        pd_parking_wake_all(&p->result_space);
    }
    for (unsigned i = 0; p->workers != NULL && i < p->n_workers; i++) {
        if (p->workers[i].thread_started)
            pthread_join(p->workers[i].thread, NULL);
    }

    if (p->inline_ctx_ready && p->cfg.worker_fini != NULL)
        p->cfg.worker_fini(p->cfg.user, p->workers[0].ctx);

    if (p->startup_ready) {
        pthread_cond_destroy(&p->startup_cond);
        pthread_mutex_destroy(&p->startup_mutex);
    }
    while (p->n_parkings_ready > 0)
        pd_parking_destroy(parking_at(p, --p->n_parkings_ready));
    if (p->rings_ready) {
        pd_result_ring_free(&p->results);
        pd_job_ring_free(&p->jobs);
    }
    free(p->workers);
    free(p);
}

static int init_failure(pd_err *err, int rc, unsigned index, unsigned n_threads)
{
    int code = rc < 0 ? rc : PD_EINTERNAL;
    if (n_threads == 0)
        return pd_err_set(err, code, "pool: worker_init failed in inline mode: %s (%s)",
                          pd_strerror(rc), pd_strerror_name(rc));
    return pd_err_set(err, code, "pool: worker_init failed on worker thread %u of %u: %s (%s)",
                      index + 1, n_threads, pd_strerror(rc), pd_strerror_name(rc));
}

static int init_inline(pd_pool *p, pd_err *err)
{
    pool_worker *w = &p->workers[0];
    int rc = PD_OK;

    if (p->cfg.worker_init != NULL)
        rc = p->cfg.worker_init(p->cfg.user, &w->ctx);
    if (rc != PD_OK)
        return init_failure(err, rc, 0, 0);
    p->inline_ctx_ready = true;
    return PD_OK;
}

/*
 * Fills set with the signals that workers block: all of them except those
 * raised by a faulting instruction. The kernel delivers a fault signal to the
 * faulting thread anyway, and blocking it would kill the process before a
 * crash handler (such as the sanitizers') could report.
 */
static void asynchronous_signals(sigset_t *set)
{
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

    sigfillset(set);
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(set, synchronous[i]);
}

static int start_workers(pd_pool *p, pd_err *err)
{
    unsigned n = p->cfg.n_threads;
    unsigned n_started = 0;
    int create_rc = 0;
    sigset_t blocked, saved;

    /* Threads inherit the creator's mask, so blocking here first leaves no
     * moment at which a worker could receive SIGINT. */
    asynchronous_signals(&blocked);
    pthread_sigmask(SIG_BLOCK, &blocked, &saved);
    for (; n_started < n; n_started++) {
        pool_worker *w = &p->workers[n_started];
        create_rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (create_rc != 0)
            break;
        w->thread_started = true;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);

    pthread_mutex_lock(&p->startup_mutex);
    while (p->n_reported < n_started)
        pthread_cond_wait(&p->startup_cond, &p->startup_mutex);
    pthread_mutex_unlock(&p->startup_mutex);

    for (unsigned i = 0; i < n_started; i++) {
        if (p->workers[i].init_rc != PD_OK)
            return init_failure(err, p->workers[i].init_rc, i, n);
    }
    if (create_rc != 0)
        return pd_err_set(err, PD_ENOMEM, "pool: cannot start worker thread %u of %u: %s",
                          n_started + 1, n, strerror(create_rc));
    return PD_OK;
}

int pd_pool_create(const pd_pool_config *cfg, pd_pool **out, pd_err *err)
{
    pd_pool *p = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    rc = validate_config(cfg, out, err);
    if (rc != PD_OK)
        return rc;

    rc = pool_alloc(cfg, &p, err);
    if (rc != PD_OK)
        goto fail;

    if (cfg->n_threads == 0)
        rc = init_inline(p, err);
    else
        rc = start_workers(p, err);
    if (rc != PD_OK)
        goto fail;

    *out = p;
    return PD_OK;

fail:
    if (p != NULL)
        pool_teardown(p);
    return rc;
}

void pd_pool_destroy(pd_pool *p)
{
    if (p != NULL)
        pool_teardown(p);
}

/* ---- submitting side ------------------------------------------------------------ */

static int check_submit(const pd_pool *p, const void *job)
{
    if (p == NULL || job == NULL)
        return PD_EINVAL;
    if (atomic_load_explicit(&p->cancelled, memory_order_acquire))
        return PD_ECANCELED;
    if (atomic_load_explicit(&p->finished, memory_order_relaxed))
        return PD_ECLOSED;
    return PD_OK;
}

static void count_submitted(pd_pool *p)
{
    uint_least64_t n = atomic_load_explicit(&p->n_submitted, memory_order_relaxed);
    atomic_store_explicit(&p->n_submitted, n + 1, memory_order_relaxed);
}

/* Inline mode: runs job on this thread and queues it as a result. */
static int submit_inline(pd_pool *p, void *job)
{
    if (result_ring_full(p))
        return PD_EFULL;

    pd_pool_result result = {.job = job, .was_run = run_unless_cancelled(p, &p->workers[0], job)};
    bool now_full = false;
    /* Cannot fail, because this thread is the only producer and found a free slot. */
    pd_result_ring_push(&p->results, &result, &now_full);
    count_submitted(p);
    pd_parking_wake_one(&p->result_ready);
    return PD_OK;
}

static bool push_job(pd_pool *p, void *job)
{
    if (!pd_job_ring_push(&p->jobs, job))
        return false;
    count_submitted(p);
    pd_parking_wake_one(&p->job_ready);
    return true;
}

int pd_pool_submit(pd_pool *p, void *job)
{
    int rc = check_submit(p, job);
    if (rc != PD_OK)
        return rc;
    if (p->cfg.n_threads == 0)
        return submit_inline(p, job);

    for (;;) {
        if (push_job(p, job))
            return PD_OK;
        if (result_ring_above_low_water(p))
            return PD_EFULL;
        pd_parking_wait(&p->job_space, submitter_may_retry, p);
        if (atomic_load_explicit(&p->cancelled, memory_order_acquire))
            return PD_ECANCELED;
    }
}

int pd_pool_try_submit(pd_pool *p, void *job)
{
    int rc = check_submit(p, job);
    if (rc != PD_OK)
        return rc;
    if (p->cfg.n_threads == 0)
        return submit_inline(p, job);
    return push_job(p, job) ? PD_OK : PD_EFULL;
}

void pd_pool_finish(pd_pool *p)
{
    if (p == NULL)
        return;
    /* In inline mode the caller is the worker, and no job comes after this. */
    if (p->inline_ctx_ready && p->cfg.worker_idle != NULL && !atomic_load(&p->finished))
        p->cfg.worker_idle(p->cfg.user, p->workers[0].ctx);
    atomic_store(&p->finished, true);
    pd_parking_wake_all(&p->job_ready);
    pd_parking_wake_all(&p->result_ready);
}

/* ---- collecting side -------------------------------------------------------------- */

/* Pops one result if there is one. */
static bool take_result(pd_pool *p, void **job)
{
    pd_pool_result result;

    if (!pd_result_ring_pop(&p->results, &result))
        return false;
    p->n_returned++;
    p->last_job = result.job;
    p->last_was_run = result.was_run;
    if (pd_result_ring_count(&p->results) <= p->result_low_water)
        pd_parking_wake_all(&p->result_space);
    *job = result.job;
    return true;
}

int pd_pool_next_result(pd_pool *p, void **job)
{
    if (p == NULL || job == NULL)
        return PD_EINVAL;
    *job = NULL;

    for (;;) {
        if (take_result(p, job))
            return PD_OK;
        if (all_jobs_returned(p))
            return PD_ECLOSED;
        /* Inline mode has no other thread that could produce a result. */
        if (p->cfg.n_threads == 0)
            return PD_EINVAL;
        pd_parking_wait(&p->result_ready, collector_may_retry, p);
    }
}

int pd_pool_try_next_result(pd_pool *p, void **job)
{
    if (p == NULL || job == NULL)
        return PD_EINVAL;
    *job = NULL;

    if (take_result(p, job))
        return PD_OK;
    if (all_jobs_returned(p))
        return PD_ECLOSED;
    return PD_OK;
}

bool pd_pool_job_was_run(const pd_pool *p, const void *job)
{
    return p != NULL && job != NULL && job == p->last_job && p->last_was_run;
}

/* ---- cancellation ------------------------------------------------------------------- */

void pd_pool_cancel(pd_pool *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->cancelled, true);
    pd_parking_wake_all(&p->job_space);
    pd_parking_wait(&p->idle, no_job_running, p);
}

bool pd_pool_is_cancelled(const pd_pool *p)
{
    return p != NULL && atomic_load_explicit(&p->cancelled, memory_order_acquire);
}
