/*
 * ring_bench.c -- throughput of the ck_ring worker pool (pool/pool.h)
 * against a plain mutex and condition variable pool with the same API shape.
 *
 * Usage: ring_bench [--jobs N] [--slow-jobs N] [--capacity N] [--repeat N]
 *                   [--collect all|one]
 *
 * One thread submits and collects, as the engine does: when submit returns
 * PD_EFULL it collects one result, and with --collect all (the default) also
 * every other result that is ready. Each configuration runs --repeat times
 * and the median jobs/s is printed. "tiny" jobs do a few arithmetic
 * operations, so they measure queue overhead. "5us" jobs spin for about 5
 * microseconds of CPU time as calibrated at start-up, and the measured time
 * is printed.
 *
 * Output: one line per ring, worker count and job size; numbers only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"

/* ---- the jobs -------------------------------------------------------------- */

typedef struct bench_job {
    uint64_t id;
    uint64_t value;
} bench_job;

typedef struct bench_work {
    uint64_t spin; /* loop iterations per job */
} bench_work;

static uint64_t spin_loop(uint64_t seed, uint64_t n)
{
    volatile uint64_t x = seed;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

static void bench_run(void *user, void *ctx, void *job_)
{
    const bench_work *work = user;
    bench_job *job = job_;
    (void)ctx;
    job->value = spin_loop(job->id, work->spin);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the mean CPU time in microseconds of one spin_loop(_, spin) call.
 * CPU time rather than wall time, so that other processes on a shared
 * machine do not skew the calibration. */
static double time_spin_us(uint64_t spin, size_t n_calls)
{
    double start = thread_cpu_seconds();
    for (size_t i = 0; i < n_calls; i++)
        spin_loop(i, spin);
    return (thread_cpu_seconds() - start) * 1e6 / (double)n_calls;
}

/* Returns the spin count that takes about target_us per call on this machine,
 * measured the way jobs call it: many short calls in a row. */
static uint64_t calibrate_spin(double target_us)
{
    uint64_t spin = 1000;

    for (int round = 0; round < 4; round++) {
        double us = time_spin_us(spin, 2000);
        if (us <= 0)
            break;
        spin = (uint64_t)((double)spin * target_us / us);
        if (spin == 0)
            spin = 1;
    }
    return spin;
}

/* ---- the mutex pool that the ck_ring pool is compared with ------------------- */

/*
 * A bounded job queue and result queue under one mutex, with one condition
 * variable per waiting side. Queue sizes, the PD_EFULL rule and the
 * wake-up rules are those of pd_pool (pool.c), so that the two differ only
 * in how the queues are synchronised.
 */
typedef struct mx_pool {
    pthread_mutex_t mutex;
    pthread_cond_t job_ready, job_space, result_ready, result_space;
    void **jobs, **results;
    unsigned capacity;                  /* job queue */
    unsigned result_capacity;           /* smallest 2^k - 1 >= capacity, as in pd_pool */
    unsigned result_low_water;          /* result_capacity / 2 */
    unsigned job_head, job_count;       /* under mutex */
    unsigned result_head, result_count; /* under mutex */
    bool finished;                      /* under mutex */
    uint64_t n_submitted, n_returned;   /* under mutex */
    bench_work *work;
    unsigned n_threads;
    pthread_t *threads;
} mx_pool;

static void *mx_worker(void *arg)
{
    mx_pool *p = arg;

    pthread_mutex_lock(&p->mutex);
    for (;;) {
        while (p->job_count == 0 && !p->finished)
            pthread_cond_wait(&p->job_ready, &p->mutex);
        if (p->job_count == 0)
            break;
        void *job = p->jobs[p->job_head];
        p->job_head = (p->job_head + 1) % p->capacity;
        p->job_count--;
        /* The same wake-up rule as the ck_ring pool: at half full. */
        if (p->job_count <= p->capacity / 2)
            pthread_cond_signal(&p->job_space);
        pthread_mutex_unlock(&p->mutex);

        bench_run(p->work, NULL, job);

        pthread_mutex_lock(&p->mutex);
        while (p->result_count == p->result_capacity) {
            pthread_cond_signal(&p->job_space); /* a blocked submit must see the full results */
            pthread_cond_wait(&p->result_space, &p->mutex);
        }
        p->results[(p->result_head + p->result_count) % p->result_capacity] = job;
        p->result_count++;
        pthread_cond_signal(&p->result_ready);
        if (p->result_count == p->result_capacity)
            pthread_cond_signal(&p->job_space);
    }
    pthread_mutex_unlock(&p->mutex);
    return NULL;
}

static void *mx_create(unsigned n_threads, unsigned capacity, bench_work *work)
{
    mx_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    unsigned result_size = 2;
    while (result_size <= capacity)
        result_size *= 2;
    p->result_capacity = result_size - 1;
    p->result_low_water = p->result_capacity / 2;
    p->jobs = calloc(capacity, sizeof *p->jobs);
    p->results = calloc(p->result_capacity, sizeof *p->results);
    p->threads = calloc(n_threads, sizeof *p->threads);
    if (p->jobs == NULL || p->results == NULL || p->threads == NULL) {
        free(p->jobs);
        free(p->results);
        free(p->threads);
        free(p);
        return NULL;
    }
    p->capacity = capacity;
    p->work = work;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->job_ready, NULL);
    pthread_cond_init(&p->job_space, NULL);
    pthread_cond_init(&p->result_ready, NULL);
    pthread_cond_init(&p->result_space, NULL);
    for (unsigned i = 0; i < n_threads; i++)
        pthread_create(&p->threads[i], NULL, mx_worker, p);
    return p;
}

static int mx_submit(void *pool, void *job)
{
    mx_pool *p = pool;
    int rc = PD_OK;

    pthread_mutex_lock(&p->mutex);
    while (p->job_count == p->capacity) {
        if (p->result_count > p->result_low_water) {
            rc = PD_EFULL;
            goto out;
        }
        pthread_cond_wait(&p->job_space, &p->mutex);
    }
    p->jobs[(p->job_head + p->job_count) % p->capacity] = job;
    p->job_count++;
    p->n_submitted++;
    pthread_cond_signal(&p->job_ready);
out:
    pthread_mutex_unlock(&p->mutex);
    return rc;
}

/* Takes one result; waits only when wait is true. Returns PD_OK with NULL
 * when nothing is ready, PD_ECLOSED after finish once all are returned. */
static int mx_take(mx_pool *p, void **job, bool wait)
{
    int rc = PD_OK;

    *job = NULL;
    pthread_mutex_lock(&p->mutex);
    while (p->result_count == 0) {
        if (p->finished && p->n_returned == p->n_submitted) {
            rc = PD_ECLOSED;
            goto out;
        }
        if (!wait)
            goto out;
        pthread_cond_wait(&p->result_ready, &p->mutex);
    }
    *job = p->results[p->result_head];
    p->result_head = (p->result_head + 1) % p->result_capacity;
    p->result_count--;
    p->n_returned++;
    if (p->result_count <= p->result_low_water)
        pthread_cond_broadcast(&p->result_space);
out:
    pthread_mutex_unlock(&p->mutex);
    return rc;
}

static int mx_next_result(void *pool, void **job)
{
    return mx_take(pool, job, true);
}

static int mx_try_next_result(void *pool, void **job)
{
    return mx_take(pool, job, false);
}

static void mx_finish(void *pool)
{
    mx_pool *p = pool;
    pthread_mutex_lock(&p->mutex);
    p->finished = true;
    pthread_cond_broadcast(&p->job_ready);
    pthread_cond_broadcast(&p->result_ready);
    pthread_mutex_unlock(&p->mutex);
}

static void mx_destroy(void *pool)
{
    mx_pool *p = pool;
    mx_finish(p);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->result_space);
    pthread_cond_destroy(&p->result_ready);
    pthread_cond_destroy(&p->job_space);
    pthread_cond_destroy(&p->job_ready);
    pthread_mutex_destroy(&p->mutex);
    free(p->threads);
    free(p->results);
    free(p->jobs);
    free(p);
}

/* ---- the ck_ring pool behind the same function table ------------------------- */

static void *ck_create(unsigned n_threads, unsigned capacity, bench_work *work)
{
    pd_pool_config cfg = {
        .n_threads = n_threads,
        .ring_capacity = capacity,
        .run = bench_run,
        .user = work,
    };
    pd_pool *p = NULL;
    pd_err err = {0};
    if (pd_pool_create(&cfg, &p, &err) != PD_OK) {
        fprintf(stderr, "ring_bench: %s\n", err.msg);
        return NULL;
    }
    return p;
}

static int ck_submit(void *pool, void *job)
{
    return pd_pool_submit(pool, job);
}

static int ck_next_result(void *pool, void **job)
{
    return pd_pool_next_result(pool, job);
}

static int ck_try_next_result(void *pool, void **job)
{
    return pd_pool_try_next_result(pool, job);
}

static void ck_finish(void *pool)
{
    pd_pool_finish(pool);
}

static void ck_destroy(void *pool)
{
    pd_pool_destroy(pool);
}

typedef struct pool_ops {
    const char *name;
    void *(*create)(unsigned n_threads, unsigned capacity, bench_work *work);
    int (*submit)(void *pool, void *job);
    int (*next_result)(void *pool, void **job);
    int (*try_next_result)(void *pool, void **job);
    void (*finish)(void *pool);
    void (*destroy)(void *pool);
} pool_ops;

static const pool_ops pools[] = {
    {"ck_ring", ck_create, ck_submit, ck_next_result, ck_try_next_result, ck_finish, ck_destroy},
    {"mutex", mx_create, mx_submit, mx_next_result, mx_try_next_result, mx_finish, mx_destroy},
};

/* ---- the measurement ------------------------------------------------------------ */

typedef struct bench_options {
    size_t n_jobs;
    size_t n_slow_jobs;
    unsigned capacity;
    unsigned repeat;
    bool collect_all;
} bench_options;

/* Collects the result that PD_EFULL promises and, with collect_all, every
 * other ready one. Returns the number collected, or 0 on an error. */
static size_t collect_after_full(const pool_ops *ops, void *pool, bool collect_all)
{
    void *job = NULL;
    size_t n = 0;

    if (ops->next_result(pool, &job) != PD_OK)
        return 0;
    n++;
    while (collect_all && ops->try_next_result(pool, &job) == PD_OK && job != NULL)
        n++;
    return n;
}

/* Runs n_jobs through a fresh pool. Returns jobs/s, or a negative value on error. */
static double run_once(const pool_ops *ops, unsigned n_threads, const bench_options *opt,
                       bench_work *work, bench_job *jobs, size_t n_jobs)
{
    void *pool = ops->create(n_threads, opt->capacity, work);
    size_t n_collected = 0;
    void *job = NULL;
    int rc;

    if (pool == NULL)
        return -1;
    double start = now_seconds();
    for (size_t i = 0; i < n_jobs; i++) {
        while ((rc = ops->submit(pool, &jobs[i])) == PD_EFULL)
            n_collected += collect_after_full(ops, pool, opt->collect_all);
        if (rc != PD_OK) {
            ops->destroy(pool);
            return -1;
        }
    }
    ops->finish(pool);
    while ((rc = ops->next_result(pool, &job)) == PD_OK)
        n_collected++;
    double elapsed = now_seconds() - start;
    ops->destroy(pool);

    if (rc != PD_ECLOSED || n_collected != n_jobs)
        return -1;
    return (double)n_jobs / elapsed;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_config(const pool_ops *ops, unsigned n_threads, const char *job_name,
                      const bench_options *opt, bench_work *work, size_t n_jobs)
{
    bench_job *jobs = calloc(n_jobs, sizeof *jobs);
    double *rates = calloc(opt->repeat, sizeof *rates);
    int rc = 0;

    if (jobs == NULL || rates == NULL) {
        fprintf(stderr, "ring_bench: out of memory for %zu jobs\n", n_jobs);
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < n_jobs; i++)
        jobs[i].id = i;

    for (unsigned r = 0; r < opt->repeat; r++) {
        rates[r] = run_once(ops, n_threads, opt, work, jobs, n_jobs);
        if (rates[r] < 0) {
            fprintf(stderr, "ring_bench: %s pool with %u workers failed or lost jobs\n", ops->name,
                    n_threads);
            rc = 1;
            goto out;
        }
    }
    qsort(rates, opt->repeat, sizeof *rates, compare_doubles);
    printf("%-8s workers=%u job=%-5s capacity=%u collect=%s jobs=%zu jobs_per_s=%.0f "
           "(median of %u; min %.0f, max %.0f)\n",
           ops->name, n_threads, job_name, opt->capacity, opt->collect_all ? "all" : "one", n_jobs,
           rates[opt->repeat / 2], opt->repeat, rates[0], rates[opt->repeat - 1]);
    fflush(stdout);
out:
    free(rates);
    free(jobs);
    return rc;
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: ring_bench [--jobs N] [--slow-jobs N] [--capacity N] [--repeat N]\n"
                 "                  [--collect all|one]\n"
                 "  --jobs N        number of tiny jobs per run (default 200000)\n"
                 "  --slow-jobs N   number of 5 us jobs per run (default 20000)\n"
                 "  --capacity N    ring capacity of both pools (default 64)\n"
                 "  --repeat N      runs per configuration; the median is printed (default 3)\n"
                 "  --collect MODE  after PD_EFULL collect one result, or all ready ones\n"
                 "                  (default all)\n");
}

static bool parse_count(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v == 0 || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, bench_options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ring_bench: missing value for %s\n", name);
            return 2;
        }
        const char *value = argv[++i];
        unsigned long long v = 0;
        if (strcmp(name, "--collect") == 0) {
            if (strcmp(value, "all") != 0 && strcmp(value, "one") != 0) {
                fprintf(stderr, "ring_bench: invalid --collect '%s': expected all or one\n", value);
                return 2;
            }
            opt->collect_all = strcmp(value, "all") == 0;
        } else if (strcmp(name, "--jobs") == 0 && parse_count(value, SIZE_MAX / 2, &v)) {
            opt->n_jobs = (size_t)v;
        } else if (strcmp(name, "--slow-jobs") == 0 && parse_count(value, SIZE_MAX / 2, &v)) {
            opt->n_slow_jobs = (size_t)v;
        } else if (strcmp(name, "--capacity") == 0 &&
                   parse_count(value, PD_POOL_MAX_RING_CAPACITY, &v)) {
            opt->capacity = (unsigned)v;
        } else if (strcmp(name, "--repeat") == 0 && parse_count(value, 1000, &v)) {
            opt->repeat = (unsigned)v;
        } else {
            fprintf(stderr, "ring_bench: invalid option or value: %s %s\n", name, value);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const unsigned worker_counts[] = {1, 2, 4};
    bench_options opt = {
        .n_jobs = 200000,
        .n_slow_jobs = 20000,
        .capacity = 64,
        .repeat = 3,
        .collect_all = true,
    };
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0)
        return rc;

    bench_work tiny = {.spin = 4};
    bench_work slow = {.spin = calibrate_spin(5.0)};
    printf("calibration: 5us job = %llu iterations, measured %.2f us per job\n",
           (unsigned long long)slow.spin, time_spin_us(slow.spin, 2000));

    for (size_t w = 0; w < sizeof worker_counts / sizeof worker_counts[0]; w++) {
        for (size_t k = 0; k < sizeof pools / sizeof pools[0]; k++) {
            if (run_config(&pools[k], worker_counts[w], "tiny", &opt, &tiny, opt.n_jobs) != 0)
                return 1;
            if (run_config(&pools[k], worker_counts[w], "5us", &opt, &slow, opt.n_slow_jobs) != 0)
                return 1;
        }
    }
    return 0;
}
