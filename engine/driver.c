/*
 * driver.c -- submit/collect loop over the pool (see driver.h).
 *
 * Entry points: pd_driver_submit, pd_driver_finish; caller's thread only.
 */
#include "engine/driver.h"

#include "engine/engine_internal.h"

static void check_cancel(pd_driver *d)
{
    if (!d->cancelled && d->cancel != NULL && atomic_load_explicit(d->cancel, memory_order_relaxed)) {
        d->cancelled = true;
        pd_pool_cancel(d->pool);
    }
}

/* Folds one returned job. */
static void fold_one(pd_driver *d, void *job)
{
    d->returned++;
    bool ran = pd_pool_job_was_run(d->pool, job);
    int frc = d->fold(d->ctx, job, ran);
    if (frc != PD_OK && d->first_error == PD_OK)
        d->first_error = frc;
    check_cancel(d);
}

/* Runs the before_wait callback, recording its error like a fold error. */
static void note_wait(pd_driver *d)
{
    if (d->before_wait == NULL)
        return;
    int rc = d->before_wait(d->ctx);
    if (rc != PD_OK && d->first_error == PD_OK)
        d->first_error = rc;
}

/* Blocks for one finished job and folds it. */
static int collect_one(pd_driver *d)
{
    void *job = NULL;
    int rc = PD_OK;
    if (d->before_wait != NULL) {
        rc = pd_pool_try_next_result(d->pool, &job);
        if (rc == PD_OK && job == NULL)
            note_wait(d);
    }
    if (job == NULL && rc == PD_OK) {
        int64_t t0 = pd_monotonic_ns();
        rc = pd_pool_next_result(d->pool, &job);
        d->wait_ns += pd_monotonic_ns() - t0;
    }
    if (rc != PD_OK)
        return rc;
    fold_one(d, job);
    return PD_OK;
}

/* Folds every finished job that is ready, without waiting. */
static int collect_ready(pd_driver *d)
{
    for (;;) {
        void *job = NULL;
        int rc = pd_pool_try_next_result(d->pool, &job);
        if (rc == PD_ECLOSED)
            return PD_OK;
        if (rc != PD_OK)
            return rc;
        if (job == NULL)
            return PD_OK;
        fold_one(d, job);
    }
}

/*
 * pd_pool_submit sleeps while the job ring is full and few results are
 * waiting, and wakes once workers have emptied half of the ring. It returns
 * PD_EFULL when results have piled up instead, and the driver then folds all
 * of them. One wake-up thus serves many jobs, where folding one result per
 * full ring would put the thread to sleep and wake it again for every job.
 */
int pd_driver_submit(pd_driver *d, void *job)
{
    check_cancel(d);
    if (d->cancelled)
        return PD_ECANCELED;
    if (d->first_error != PD_OK)
        return d->first_error;

    /*
     * With a before_wait callback, the driver folds finished jobs one at a
     * time while the job ring is full. It calls the callback only when none
     * is ready, because pd_pool_submit may then sleep.
     */
    while (d->before_wait != NULL && !d->runs_inline) {
        int rc = pd_pool_try_submit(d->pool, job);
        if (rc == PD_OK) {
            d->submitted++;
            return PD_OK;
        }
        if (rc != PD_EFULL)
            return rc;
        void *done = NULL;
        rc = pd_pool_try_next_result(d->pool, &done);
        if (rc != PD_OK && rc != PD_ECLOSED)
            return rc;
        if (done == NULL) {
            note_wait(d);
            if (d->first_error != PD_OK)
                return d->first_error;
            break;
        }
        fold_one(d, done);
        if (d->cancelled)
            return PD_ECANCELED;
        if (d->first_error != PD_OK)
            return d->first_error;
    }

    for (;;) {
        int64_t t0 = pd_monotonic_ns();
        int rc = pd_pool_submit(d->pool, job);
        if (d->runs_inline)
            d->inline_run_ns += pd_monotonic_ns() - t0;
        else
            d->wait_ns += pd_monotonic_ns() - t0;
        if (rc == PD_OK) {
            d->submitted++;
            return PD_OK;
        }
        if (rc != PD_EFULL)
            return rc;
        /* The rings are full, so at least one job has finished or is in flight. */
        rc = collect_one(d);
        if (rc == PD_OK)
            rc = collect_ready(d);
        if (rc != PD_OK)
            return rc;
        if (d->cancelled)
            return PD_ECANCELED;
        if (d->first_error != PD_OK)
            return d->first_error;
    }
}

int pd_driver_finish(pd_driver *d)
{
    pd_pool_finish(d->pool);
    while (d->returned < d->submitted) {
        int rc = collect_one(d);
        if (rc == PD_ECLOSED)
            break;
        if (rc != PD_OK)
            return rc;
    }
    if (d->cancelled)
        return PD_ECANCELED;
    return d->first_error;
}
