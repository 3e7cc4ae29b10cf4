/*
 * driver.h -- the submit/collect loop shared by sync and diff.
 *
 * One thread (the caller's) both submits jobs and folds their results. When
 * the job ring is full and results have piled up, the pool returns PD_EFULL
 * instead of sleeping, and the driver folds every finished job first. In inline mode
 * (0 threads) each submit runs the job at once and its result is folded on
 * the next collect.
 * Thread-safety: the caller's thread only.
 */
#ifndef PD_DRIVER_H
#define PD_DRIVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "pool/pool.h"

typedef struct pd_driver {
    pd_pool *pool;
    /* Folds one returned job; ran is false for a job cancelled before it started. */
    int (*fold)(void *ctx, void *job, bool ran);
    /*
     * Called, when not NULL, before the driver waits with no finished job
     * to fold: for a job slot while every worker is busy, or for a result.
     * sync commits its open transaction there, so that it holds no lock
     * while it waits for a parse. May return an error, which stops
     * submission like a fold error.
     */
    int (*before_wait)(void *ctx);
    void *ctx;
    atomic_bool *cancel; /* may be NULL */
    bool runs_inline;    /* the pool has no threads, so a submit runs the job rather than waits */
    int64_t submitted;
    int64_t returned;
    bool cancelled;
    int first_error; /* first error returned by fold; stops submission */
    int64_t wait_ns;  /* time blocked waiting for a finished job or a free job slot */
    int64_t inline_run_ns; /* inline mode: time spent running jobs inside submits */
} pd_driver;

/* Submits job, folding finished jobs while the ring is full. Returns PD_OK,
 * PD_ECANCELED once cancellation was seen (job is then owned by the caller). */
int pd_driver_submit(pd_driver *d, void *job);
/* Closes submission and folds every outstanding job. Returns PD_OK,
 * PD_ECANCELED, or the first fold error. */
int pd_driver_finish(pd_driver *d);

#endif
