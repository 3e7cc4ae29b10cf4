/*
 * pool_ring.c -- the pool's two rings on top of Concurrency Kit's ck_ring
 * (libck 0.7.1).
 *
 * Entry points: pd_job_ring_* (push from the submitting thread, pop from
 * workers) and pd_result_ring_* (push from workers, pop from the collecting
 * thread). Init and free run on one thread while no other uses the ring.
 *
 * The job ring is pushed through the pointer SPMC interface
 * (ck_ring_enqueue_spmc) and popped by pd_job_ring_pop_run, which takes one
 * or several consecutive jobs with one compare-and-swap of the consumer
 * counter, as ck_ring_dequeue_spmc does for one. The result ring stores a
 * small struct with the MPSC functions that CK_RING_PROTOTYPE generates.
 * ck_ring needs a power-of-two size and keeps one slot empty, so a ring of
 * size 2^k has room for 2^k - 1 entries.
 *
 * Result push. An MPSC push reserves a slot by advancing p_head, writes it,
 * then waits until every earlier reservation is committed before it advances
 * p_tail. ck_ring_enqueue_mpsc waits with a pure spin. With more workers than
 * cores, a worker preempted between reserve and commit then stalls every
 * later producer for whole time slices. With that spin, some runs of 50,000
 * tiny jobs with 4 workers on 2 loaded cores fell from about 400,000 to
 * about 1,000 jobs/s (BENCHMARKS.md, section Rings). So the pool reserves
 * with the ck_ring reserve function and commits itself, doing the same wait
 * but yielding the CPU after a short spin, so that the preempted producer
 * gets to run.
 * NOTE: a push still waits for every earlier push to commit, so a worker
 * descheduled inside a push delays the results of the others.
 *
 * ThreadSanitizer: ck_ring orders its slot writes and reads with inline
 * assembly barriers, which TSan cannot see. Without help it reports the slot
 * copies inside ck_ring as races, and it misses that a job's memory written
 * before a push happens before the reads after the matching pop. In TSan
 * builds this file therefore (1) suppresses race reports whose stack is
 * inside ck_ring's internal functions (_ck_ring_*), write_reserved_slot or
 * read_job_slot, and (2) declares the push-to-pop ordering with
 * __tsan_release / __tsan_acquire on the job address, so races on the jobs
 * themselves are still reported.
 */
#include "pool/pool_internal.h"

#include <sched.h>
#include <stdlib.h>

#if defined(__SANITIZE_THREAD__)
#define PD_POOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PD_POOL_TSAN 1
#endif
#endif

#ifdef PD_POOL_TSAN
#include <sanitizer/tsan_interface.h>
#define POOL_TSAN_RELEASE(addr) __tsan_release(addr)
#define POOL_TSAN_ACQUIRE(addr) __tsan_acquire(addr)

/* TSan reads these suppressions at start-up. The runtime has a weak default that this replaces. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "race:_ck_ring_\n"
           "race:write_reserved_slot\n"
           "race:read_job_slot\n";
}
#else
#define POOL_TSAN_RELEASE(addr) ((void)(addr))
#define POOL_TSAN_ACQUIRE(addr) ((void)(addr))
#endif

CK_RING_PROTOTYPE(pd_pool_result, pd_pool_result)

/* Returns the ck_ring size with room for at least n entries: a power of two > n. */
static unsigned ring_size_for(unsigned n)
{
    unsigned size = 2;
    while (size <= n)
        size *= 2;
    return size;
}

bool pd_job_ring_init(pd_job_ring *r, unsigned limit)
{
    unsigned size = ring_size_for(limit);

    r->slots = calloc(size, sizeof *r->slots);
    if (r->slots == NULL)
        return false;
    ck_ring_init(&r->ring, size);
    r->limit = limit;
    return true;
}

void pd_job_ring_free(pd_job_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

bool pd_job_ring_push(pd_job_ring *r, void *job)
{
    /* Only this thread advances the producer counter and consumers only lower
     * the count, so the count read here can only be too high, never too low. */
    if (ck_ring_size(&r->ring) >= r->limit)
        return false;

    POOL_TSAN_RELEASE(job);
    return ck_ring_enqueue_spmc(&r->ring, r->slots, job);
}

/* Reads one slot of the job ring. A function of its own so that the TSan
 * suppression can name it: the slot is read before the consumer counter is
 * claimed, as in ck_ring's own dequeue. */
static void *read_job_slot(const pd_job_ring *r, unsigned index)
{
    return r->slots[index & r->ring.mask].value;
}

/*
 * The multi-consumer dequeue of ck_ring (_ck_ring_dequeue_mc in ck_ring.h),
 * widened from one entry to n: read the producer's tail, copy the entries,
 * then claim them all by advancing c_head with one compare-and-swap. When the
 * swap fails, another worker took some of them, and the copy is redone from
 * the new head.
 */
unsigned pd_job_ring_pop_run(pd_job_ring *r, void **jobs, unsigned max)
{
    ck_ring_t *ring = &r->ring;
    unsigned consumer = ck_pr_load_uint(&ring->c_head);
    unsigned n;
    do {
        ck_pr_fence_load();
        unsigned producer = ck_pr_load_uint(&ring->p_tail);
        n = producer - consumer;
        if (n == 0)
            return 0;
        if (n > max)
            n = max;
        ck_pr_fence_load();
        for (unsigned i = 0; i < n; i++)
            jobs[i] = read_job_slot(r, consumer + i);
        ck_pr_fence_store_atomic();
    } while (!ck_pr_cas_uint_value(&ring->c_head, consumer, consumer + n, &consumer));

    for (unsigned i = 0; i < n; i++)
        POOL_TSAN_ACQUIRE(jobs[i]);
    return n;
}

unsigned pd_job_ring_count(const pd_job_ring *r)
{
    return ck_ring_size(&r->ring);
}

bool pd_result_ring_init(pd_result_ring *r, unsigned min_capacity)
{
    unsigned size = ring_size_for(min_capacity);

    r->slots = calloc(size, sizeof *r->slots);
    if (r->slots == NULL)
        return false;
    ck_ring_init(&r->ring, size);
    r->capacity = size - 1;
    return true;
}

void pd_result_ring_free(pd_result_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

/* Number of spins after which a producer that waits for earlier commits yields the CPU. */
#define COMMIT_SPINS_BEFORE_YIELD 64

/* Fills a reserved slot. A function of its own so that the TSan suppression
 * can name it: the consumer reads the slot only after the commit. */
static void write_reserved_slot(pd_pool_result *slot, const pd_pool_result *result)
{
    *slot = *result;
}

bool pd_result_ring_push(pd_result_ring *r, const pd_pool_result *result, bool *now_full)
{
    unsigned ticket = 0;
    unsigned before = 0;

    POOL_TSAN_RELEASE(result->job);
    pd_pool_result *slot =
        ck_ring_enqueue_reserve_mpsc_size_pd_pool_result(&r->ring, r->slots, &ticket, &before);
    if (slot == NULL)
        return false;
    write_reserved_slot(slot, result);

    /* Commit in ticket order, as ck_ring_enqueue_commit_mpsc does, but yield
     * while an earlier producer has not committed (see the file comment). */
    unsigned spins = 0;
    while (ck_pr_load_uint(&r->ring.p_tail) != ticket) {
        if (++spins < COMMIT_SPINS_BEFORE_YIELD)
            ck_pr_stall();
        else
            sched_yield();
    }
    ck_pr_fence_store();
    ck_pr_store_uint(&r->ring.p_tail, ticket + 1);

    /* before counts the entries at reservation time, including reservations
     * of other producers not yet committed. */
    *now_full = before + 1 >= r->capacity;
    return true;
}

bool pd_result_ring_pop(pd_result_ring *r, pd_pool_result *out)
{
    if (!ck_ring_dequeue_mpsc_pd_pool_result(&r->ring, r->slots, out))
        return false;
    POOL_TSAN_ACQUIRE(out->job);
    return true;
}

unsigned pd_result_ring_count(const pd_result_ring *r)
{
    return ck_ring_size(&r->ring);
}

bool pd_result_ring_has_free_slot(const pd_result_ring *r)
{
    unsigned consumed = ck_pr_load_uint(&r->ring.c_head);
    unsigned reserved = ck_pr_load_uint(&r->ring.p_head);
    return reserved - consumed < r->capacity;
}
