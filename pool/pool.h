/*
 * pool.h -- fixed worker pool fed by a bounded job ring, returning jobs
 * through a bounded result ring.
 *
 * The submitting thread pushes job pointers into the job ring (one producer,
 * many consumers). Each worker pops a job, or a short run of jobs submitted
 * one after another while many are queued, calls cfg->run on each in
 * submission order and pushes the same pointer into the result ring (many
 * producers, one consumer), where the collecting thread picks it up. Both
 * rings are Concurrency Kit ck_ring buffers, so the fast path takes no lock.
 * A thread that finds a ring empty or full sleeps until the other side makes
 * progress.
 *
 * Call order:
 *   pd_pool_create
 *   pd_pool_submit / pd_pool_try_submit      (submitting thread)
 *   pd_pool_next_result / pd_pool_try_next_result, pd_pool_job_was_run
 *                                            (collecting thread)
 *   pd_pool_finish                           (submitting thread)
 *   pd_pool_next_result until PD_ECLOSED     (collecting thread)
 *   pd_pool_destroy
 * pd_pool_cancel may be called at any point before pd_pool_destroy.
 *
 * Threads: one thread at a time submits and one thread at a time collects,
 * and they may be the same thread. A caller that both submits and collects
 * never deadlocks if it collects one result whenever a submit returns
 * PD_EFULL (see pd_pool_submit). Workers block every asynchronous signal, so
 * SIGINT, SIGTERM and other signals sent to the process reach only the
 * application's own threads.
 *
 * Ownership: the pool stores job pointers and never reads or frees what they
 * point to. A job belongs to the pool from a successful submit until
 * pd_pool_next_result returns it; in between, only cfg->run may touch it.
 *
 * Shutdown: after pd_pool_finish, every queued job still runs (unless
 * cancelled) and is returned. pd_pool_cancel stops running queued jobs but
 * still returns them. pd_pool_destroy drops whatever was not collected.
 */
#ifndef PD_POOL_H
#define PD_POOL_H

#include <stdbool.h>

#include "common/error.h"

/* Largest accepted pd_pool_config.n_threads. */
#define PD_POOL_MAX_THREADS 1024u
/* Largest accepted pd_pool_config.ring_capacity. */
#define PD_POOL_MAX_RING_CAPACITY (1u << 20)
/*
 * Maximum number of jobs a worker takes from the job ring at once. It takes
 * more than one only while at least 4 per worker are queued, and never more
 * than ring_capacity / (2 * n_threads). The jobs it took but has not yet
 * returned are in neither ring.
 */
#define PD_POOL_MAX_RUN 8u

typedef struct pd_pool pd_pool;

typedef struct pd_pool_config {
    /* Number of worker threads. 0 selects inline mode: pd_pool_submit runs the
     * job on the caller's thread and queues it in the result ring. */
    unsigned n_threads;
    /* Maximum number of queued jobs (1 .. PD_POOL_MAX_RING_CAPACITY). The
     * result ring has room for the smallest 2^k - 1 that is >= ring_capacity,
     * because ck_ring sizes are powers of two and one slot stays empty. */
    unsigned ring_capacity;
    /* Optional. Builds per-worker state (a JSON parser, a read-only SQLite
     * connection) and stores it in *worker_ctx. Called once on each worker
     * thread, or once on the creating thread in inline mode. Returns PD_OK or
     * a PD_E* code, which makes pd_pool_create fail. */
    int (*worker_init)(void *user, void **worker_ctx);
    /* Optional. Frees what worker_init built. Called on the same thread, only
     * when worker_init succeeded, when the worker exits (after pd_pool_finish
     * has drained the ring, or in pd_pool_destroy). */
    void (*worker_fini)(void *user, void *worker_ctx);
    /* Optional. Called on a worker thread that found the job ring empty, just
     * before it waits for the next job, so that it can let go of what it
     * should not hold while idle (a read transaction). In inline mode it is
     * called once, by the first pd_pool_finish. */
    void (*worker_idle)(void *user, void *worker_ctx);
    /* Required. Runs one job. It may block on its own resources but must not
     * call into this pool. */
    void (*run)(void *user, void *worker_ctx, void *job);
    /* Passed unchanged to the callbacks. */
    void *user;
} pd_pool_config;

/*
 * Creates a pool and starts cfg->n_threads workers, each of which has run
 * worker_init before this returns. On success stores the pool in *out, which
 * the caller frees with pd_pool_destroy. On failure stores NULL in *out,
 * records the reason in err and returns PD_EINVAL (bad configuration), PD_ENOMEM
 * (memory or thread creation), or the code that a failing worker_init returned
 * (PD_EINTERNAL if that code is not negative). The workers whose worker_init
 * succeeded have run worker_fini by then. Thread-safe.
 */
int pd_pool_create(const pd_pool_config *cfg, pd_pool **out, pd_err *err);

/*
 * Queues job (not NULL) for a worker, blocking while the job ring is full.
 * Returns:
 *   PD_OK        the job is queued; the pool owns it until it is returned.
 *   PD_EFULL     the job ring was full and the result ring more than half
 *                full. Workers may be waiting for results to be collected,
 *                so blocking could wait forever for a caller that is also
 *                the collector. Such a caller gets a result from
 *                pd_pool_next_result at once: collect at least one, then
 *                submit again. With a separate collecting thread, PD_EFULL
 *                is transient and a retry may succeed. In inline mode: the
 *                result ring was full.
 *   PD_ECANCELED pd_pool_cancel was called, also while this call was blocked.
 *   PD_ECLOSED   pd_pool_finish was called before.
 *   PD_EINVAL    p or job is NULL.
 * On any code but PD_OK the caller keeps the job. In inline mode the job runs
 * on the calling thread before this returns. Submitting thread only.
 */
int pd_pool_submit(pd_pool *p, void *job);

/*
 * Queues job like pd_pool_submit but never waits: returns PD_EFULL when the
 * job ring contains ring_capacity jobs (inline mode: when the result ring is
 * full). At least one job is then in flight, so pd_pool_next_result will
 * return. Submitting thread only.
 */
int pd_pool_try_submit(pd_pool *p, void *job);

/*
 * Stops submission: workers run the jobs still queued (unless cancelled) and
 * exit once the job ring is empty, and pd_pool_next_result returns PD_ECLOSED
 * after the last job. Idempotent. Submitting thread only.
 */
void pd_pool_finish(pd_pool *p);

/*
 * Stores the next finished job in *job, waiting until one is ready. Results
 * come in completion order, not submission order. Returns:
 *   PD_OK        *job is a job that was submitted and is owned by the caller again.
 *   PD_ECLOSED   pd_pool_finish was called and every accepted job was returned.
 *   PD_EINVAL    p or job is NULL, or inline mode with nothing to return and
 *                pd_pool_finish not yet called (waiting could never end).
 * With worker threads, a call made while no job is in flight and before
 * pd_pool_finish waits until another thread submits. Collecting thread only.
 */
int pd_pool_next_result(pd_pool *p, void **job);

/*
 * Takes the next finished job like pd_pool_next_result without waiting.
 * Returns PD_OK with *job set to NULL when no result is ready yet.
 */
int pd_pool_try_next_result(pd_pool *p, void **job);

/*
 * Returns whether cfg->run was called on job, which must be the job that the
 * last pd_pool_next_result or pd_pool_try_next_result call returned. A job
 * skipped by pd_pool_cancel returns false. For any other pointer, including
 * one returned earlier, it returns false. Collecting thread only.
 */
bool pd_pool_job_was_run(const pd_pool *p, const void *job);

/*
 * Cancels the remaining work and waits until no call to cfg->run is in
 * progress. After it returns, no job is run: workers return queued jobs
 * without running them (pd_pool_job_was_run is false), and submit returns
 * PD_ECANCELED, also in a thread blocked in pd_pool_submit. Every accepted job
 * is still returned through pd_pool_next_result; call pd_pool_finish as usual
 * to end collection. Idempotent. Any thread may call it, for example the main
 * thread after a signal handler set a flag, but not a signal handler and not
 * cfg->run (it would wait for itself).
 */
void pd_pool_cancel(pd_pool *p);

/*
 * Returns whether pd_pool_cancel has been called. Any thread, including
 * cfg->run, may call it, so that a long job can stop early.
 */
bool pd_pool_is_cancelled(const pd_pool *p);

/*
 * Stops and joins the workers, runs worker_fini for each of them (inline
 * mode: on the calling thread) and frees the pool. A job still running
 * finishes first. Jobs not yet returned by pd_pool_next_result are dropped:
 * queued jobs do not run, finished ones are not returned, and all of them
 * stay owned by the caller. NULL is ignored. Call it once no other pool
 * function is running.
 */
void pd_pool_destroy(pd_pool *p);

#endif
