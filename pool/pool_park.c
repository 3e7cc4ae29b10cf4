/*
 * pool_park.c -- sleeping until a lock-free condition holds.
 *
 * Entry points: pd_parking_init, pd_parking_wait (the thread that must wait),
 * pd_parking_wake_one / pd_parking_wake_all (the thread that changed the
 * condition), pd_parking_destroy. Any thread may call them.
 *
 * Protocol. The waiter locks the mutex, increments n_waiting, issues a
 * seq_cst fence and only then re-checks its condition before sleeping on the
 * condition variable. The waker stores its change (a ring push or pop, a
 * flag), issues a seq_cst fence and reads n_waiting. The two fences are
 * totally ordered. Either the waker's fence comes first and the waiter's
 * re-check reads the change, or the waiter's fence comes first and the waker
 * reads n_waiting > 0. In the second case the waker locks the mutex before
 * signalling; the waiter holds that mutex from its increment until
 * pthread_cond_wait releases it, so the signal cannot fall between the
 * re-check and the sleep. No wake-up is lost, and a waker that finds
 * n_waiting == 0 (the common case under load) pays one fence and one load.
 *
 * The ring counters are changed by ck_ring with its own barriers and inline
 * assembly, not C11 atomics, which is why both sides use a full fence rather
 * than relying on acquire/release pairs on n_waiting.
 */
#include "pool/pool_internal.h"

bool pd_parking_init(pd_parking *pk)
{
    if (pthread_mutex_init(&pk->mutex, NULL) != 0)
        return false;
    if (pthread_cond_init(&pk->cond, NULL) != 0) {
        pthread_mutex_destroy(&pk->mutex);
        return false;
    }
    atomic_init(&pk->n_waiting, 0);
    return true;
}

void pd_parking_destroy(pd_parking *pk)
{
    pthread_cond_destroy(&pk->cond);
    pthread_mutex_destroy(&pk->mutex);
}

void pd_parking_wait(pd_parking *pk, bool (*ready)(const void *arg), const void *arg)
{
    pthread_mutex_lock(&pk->mutex);
    atomic_fetch_add_explicit(&pk->n_waiting, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);

    while (!ready(arg))
        pthread_cond_wait(&pk->cond, &pk->mutex);

    atomic_fetch_sub_explicit(&pk->n_waiting, 1, memory_order_relaxed);
    pthread_mutex_unlock(&pk->mutex);
}

static void wake(pd_parking *pk, bool wake_all)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&pk->n_waiting, memory_order_relaxed) == 0)
        return;

    pthread_mutex_lock(&pk->mutex);
    if (wake_all)
        pthread_cond_broadcast(&pk->cond);
    else
        pthread_cond_signal(&pk->cond);
    pthread_mutex_unlock(&pk->mutex);
}

void pd_parking_wake_one(pd_parking *pk)
{
    wake(pk, false);
}

void pd_parking_wake_all(pd_parking *pk)
{
    wake(pk, true);
}
