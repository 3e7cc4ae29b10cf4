/*
 * pool_internal.h -- the building blocks of pool.c: typed wrappers around
 * ck_ring (pool_ring.c) and a parking spot for threads that must wait
 * (pool_park.c). Nothing here is part of the public API.
 */
#ifndef PD_POOL_INTERNAL_H
#define PD_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <ck_ring.h>

/* Cache line size used to keep fields written by different threads apart. */
#define PD_POOL_CACHE_LINE 64

/*
 * Ring of job pointers: one producer (the submitting thread), any number of
 * consumers (workers). The producer keeps at most `limit` jobs in it, so the
 * caller's capacity is exact although the ck_ring size is a power of two.
 */
typedef struct pd_job_ring {
    _Alignas(PD_POOL_CACHE_LINE) ck_ring_t ring;
    ck_ring_buffer_t *slots;
    unsigned limit;
} pd_job_ring;

/* One finished job as it travels through the result ring. */
typedef struct pd_pool_result {
    void *job;
    bool was_run; /* false when pd_pool_cancel skipped the job */
} pd_pool_result;

/*
 * Ring of results: any number of producers (workers), one consumer (the
 * collecting thread). It has room for `capacity` results, a power of two
 * minus one.
 */
typedef struct pd_result_ring {
    _Alignas(PD_POOL_CACHE_LINE) ck_ring_t ring;
    pd_pool_result *slots;
    unsigned capacity;
} pd_result_ring;

/* Allocates a ring for `limit` jobs. Returns false when out of memory. */
bool pd_job_ring_init(pd_job_ring *r, unsigned limit);
void pd_job_ring_free(pd_job_ring *r);
/* Producer only. Returns false, leaving the ring unchanged, when it contains limit jobs. */
bool pd_job_ring_push(pd_job_ring *r, void *job);
/*
 * Any consumer. Takes up to max jobs that were pushed one after another and
 * stores them in jobs[] in push order. Returns how many, 0 when the ring is
 * empty.
 */
unsigned pd_job_ring_pop_run(pd_job_ring *r, void **jobs, unsigned max);
/* Number of queued jobs; exact for the producer, a snapshot for anyone else. */
unsigned pd_job_ring_count(const pd_job_ring *r);

/* Allocates a ring with room for at least min_capacity results. Returns false when out of
 * memory. */
bool pd_result_ring_init(pd_result_ring *r, unsigned min_capacity);
void pd_result_ring_free(pd_result_ring *r);
/*
 * Any producer. Returns false when the ring is full. On success, sets
 * *now_full to whether this result took the last free slot.
 */
bool pd_result_ring_push(pd_result_ring *r, const pd_pool_result *result, bool *now_full);
/* Consumer only. Returns false when the ring is empty. */
bool pd_result_ring_pop(pd_result_ring *r, pd_pool_result *out);
/* Number of results whose push has completed; a snapshot. */
unsigned pd_result_ring_count(const pd_result_ring *r);
/* Returns whether a push can reserve a slot now. Unlike the count, this
 * includes slots reserved by pushes that have not completed. */
bool pd_result_ring_has_free_slot(const pd_result_ring *r);

/*
 * A place where threads sleep until a condition becomes true. The condition
 * is stored elsewhere (ring counters, flags). The parking spot makes sure
 * that the thread that changes it wakes the sleepers, and takes no lock when
 * no thread sleeps. See pool_park.c for the protocol.
 */
typedef struct pd_parking {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    /* Threads registered to sleep. Changed under mutex; read without it by
     * pd_parking_wake_*, which take the mutex only when it is not zero. */
    atomic_uint n_waiting;
} pd_parking;

/* Returns false when the mutex or condition variable cannot be created. */
bool pd_parking_init(pd_parking *pk);
void pd_parking_destroy(pd_parking *pk);
/* Blocks until ready(arg) returns true. ready must only read state. */
void pd_parking_wait(pd_parking *pk, bool (*ready)(const void *arg), const void *arg);
/*
 * Wakes one or all sleepers. Call after the change that may make their
 * condition true has been stored.
 */
void pd_parking_wake_one(pd_parking *pk);
void pd_parking_wake_all(pd_parking *pk);

#endif
