/*
 * arena.c -- bump allocator owning all memory of one job.
 *
 * Entry points in call order: pd_arena_new(), then any number of
 * pd_arena_alloc() / pd_arena_calloc() / pd_arena_strndup() /
 * pd_arena_sprintf() / pd_arena_grow() and the pd_buf_* builders, optionally
 * pd_arena_reset() to start over, and finally pd_arena_free().
 *
 * Layout: a singly linked list of blocks, newest first. Small allocations are
 * bumped from the head block. When the head is full a new head twice as large
 * as the previous one is allocated (capped at BLOCK_GROWTH_CAP). A request
 * larger than the next block size gets a dedicated block that is linked
 * behind the head, so the head keeps serving small requests.
 *
 * Block cache: the blocks of the doubling sizes (FIRST_BLOCK_SIZE up to
 * BLOCK_GROWTH_CAP) go to a process-wide cache when an arena lets them go,
 * up to BLOCK_CACHE_MAX bytes, and new blocks of those sizes come from it.
 * A diff makes one arena per file and frees it on another thread. Without
 * the cache glibc handed the pages back, and the page faults that zeroed
 * fresh ones were 5% of a one-thread diff of the mixed bench corpus.
 *
 * Threading: an arena belongs to one thread at a time; only the block cache
 * locks.
 */
#include "common/arena.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define FIRST_BLOCK_SIZE ((size_t)64 << 10)
/* Doubling stops here so that a long job does not reserve ever larger blocks. */
#define BLOCK_GROWTH_CAP ((size_t)16 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* Keeps the header a multiple of ARENA_ALIGN so that data starts aligned. */
    size_t pad;
} arena_block;

_Static_assert(sizeof(arena_block) % ARENA_ALIGN == 0, "block header must keep data aligned");

/* One cache bucket per doubling size: 64 KiB << 0 .. 64 KiB << 8 (16 MiB). */
#define BLOCK_CACHE_BUCKETS 9
/* Bytes the cache may hold: about twice what the in-flight jobs of a
 * two-worker diff use at once. */
#define BLOCK_CACHE_MAX ((size_t)32 << 20)

_Static_assert((FIRST_BLOCK_SIZE << (BLOCK_CACHE_BUCKETS - 1)) == BLOCK_GROWTH_CAP,
               "one bucket per doubling size");

static struct {
    pthread_mutex_t lock;
    arena_block *bucket[BLOCK_CACHE_BUCKETS];
    size_t bytes;
} block_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* GCC defines __SANITIZE_ADDRESS__ under ASan, but older clang reports it
 * only through __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define PD_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_ARENA_ASAN 1
#endif
#endif

#ifdef PD_ARENA_ASAN
#include <sanitizer/asan_interface.h>
/* A cached block is poisoned, so a use after pd_arena_free() is still caught. */
#define CACHE_POISON(b) ASAN_POISON_MEMORY_REGION((char *)((b) + 1), (b)->size)
#define CACHE_UNPOISON(b) ASAN_UNPOISON_MEMORY_REGION((char *)((b) + 1), (b)->size)
#else
#define CACHE_POISON(b) ((void)(b))
#define CACHE_UNPOISON(b) ((void)(b))
#endif

/* Returns the bucket of a doubling size, or -1 for any other size. */
static int cache_bucket(size_t size)
{
    for (int i = 0; i < BLOCK_CACHE_BUCKETS; i++) {
        if (size == FIRST_BLOCK_SIZE << i)
            return i;
    }
    return -1;
}

static arena_block *cache_take(size_t size)
{
    int i = cache_bucket(size);
    if (i < 0)
        return NULL;
    pthread_mutex_lock(&block_cache.lock);
    arena_block *b = block_cache.bucket[i];
    if (b != NULL) {
        block_cache.bucket[i] = b->next;
        block_cache.bytes -= size;
    }
    pthread_mutex_unlock(&block_cache.lock);
    if (b != NULL) {
        CACHE_UNPOISON(b);
        b->next = NULL;
        b->used = 0;
    }
    return b;
}

/* Keeps b for reuse, or frees it when it has no bucket or the cache is full. */
static void cache_give(arena_block *b)
{
    int i = cache_bucket(b->size);
    if (i >= 0) {
        pthread_mutex_lock(&block_cache.lock);
        bool keep = block_cache.bytes + b->size <= BLOCK_CACHE_MAX;
        if (keep) {
            CACHE_POISON(b);
            b->next = block_cache.bucket[i];
            block_cache.bucket[i] = b;
            block_cache.bytes += b->size;
        }
        pthread_mutex_unlock(&block_cache.lock);
        if (keep)
            return;
    }
    free(b);
}

struct pd_arena {
    arena_block *head;      /* block that serves small requests */
    arena_block *first;     /* block kept by pd_arena_reset() */
    size_t next_block_size; /* size of the next head block */
    size_t bytes;           /* bytes obtained from malloc for blocks */
    char *last_alloc;       /* most recent allocation from head, for in-place growth */
};

static char *block_data(arena_block *b)
{
    return (char *)(b + 1);
}

static arena_block *block_new(size_t size)
{
    arena_block *b;

    b = cache_take(size);
    if (b != NULL)
        return b;
    if (size > SIZE_MAX - sizeof(arena_block))
        return NULL;
    b = malloc(sizeof(arena_block) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->pad = 0;
    return b;
}

static size_t align_up(size_t n)
{
    return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

pd_arena *pd_arena_new(void)
{
    pd_arena *a = calloc(1, sizeof *a);

    if (a == NULL)
        return NULL;
    a->first = block_new(FIRST_BLOCK_SIZE);
    if (a->first == NULL) {
        free(a);
        return NULL;
    }
    a->head = a->first;
    a->next_block_size = FIRST_BLOCK_SIZE * 2;
    a->bytes = sizeof(arena_block) + FIRST_BLOCK_SIZE;
    return a;
}

static void free_blocks_except(arena_block *b, const arena_block *keep)
{
    while (b != NULL) {
        arena_block *next = b->next;
        if (b != keep)
            cache_give(b);
        b = next;
    }
}

void pd_arena_free(pd_arena *a)
{
    if (a == NULL)
        return;
    free_blocks_except(a->head, NULL);
    free(a);
}

void pd_arena_reset(pd_arena *a)
{
    if (a == NULL)
        return;
    free_blocks_except(a->head, a->first);
    a->first->next = NULL;
    a->first->used = 0;
    a->head = a->first;
    a->next_block_size = a->first->size * 2;
    a->bytes = sizeof(arena_block) + a->first->size;
    a->last_alloc = NULL;
}

void *pd_arena_alloc(pd_arena *a, size_t n)
{
    arena_block *b;
    size_t need;
    char *p;

    if (a == NULL || n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    need = align_up(n == 0 ? 1 : n);

    b = a->head;
    if (b->size - b->used >= need) {
        p = block_data(b) + b->used;
        b->used += need;
        a->last_alloc = p;
        return p;
    }

    /* A request larger than a regular block gets a block of its own behind the head. */
    if (need > a->next_block_size) {
        b = block_new(need);
        if (b == NULL)
            return NULL;
        b->used = need;
        b->next = a->head->next;
        a->head->next = b;
        a->bytes += sizeof(arena_block) + need;
        return block_data(b);
    }

    b = block_new(a->next_block_size);
    if (b == NULL)
        return NULL;
    a->bytes += sizeof(arena_block) + b->size;
    if (a->next_block_size < BLOCK_GROWTH_CAP)
        a->next_block_size *= 2;
    b->next = a->head;
    a->head = b;
    p = block_data(b);
    b->used = need;
    a->last_alloc = p;
    return p;
}

void *pd_arena_calloc(pd_arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    p = pd_arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *pd_arena_strndup(pd_arena *a, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX)
        return NULL;
    p = pd_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pd_arena_strdup(pd_arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    return pd_arena_strndup(a, s, strlen(s));
}

__attribute__((format(printf, 2, 0))) static char *arena_vsprintf(pd_arena *a, const char *fmt,
                                                                  va_list ap)
{
    va_list measure;
    int n;
    char *p;

    /* Format straight into the head block's free space, which is enough for most strings. */
    arena_block *b = a != NULL ? a->head : NULL;
    if (b != NULL && b->size > b->used) {
        size_t room = b->size - b->used;
        p = block_data(b) + b->used;
        va_copy(measure, ap);
        n = vsnprintf(p, room, fmt, measure);
        va_end(measure);
        if (n < 0)
            return NULL;
        if ((size_t)n < room) {
            b->used += align_up((size_t)n + 1);
            if (b->used > b->size)
                b->used = b->size;
            a->last_alloc = p;
            return p;
        }
    }

    va_copy(measure, ap);
    n = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (n < 0)
        return NULL;
    p = pd_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *pd_arena_sprintf(pd_arena *a, const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void *pd_arena_grow(pd_arena *a, void *old, size_t old_count, size_t new_count, size_t elem_size)
{
    size_t old_size, new_size;
    arena_block *b;
    char *p;

    if (a == NULL || (elem_size != 0 && new_count > SIZE_MAX / elem_size))
        return NULL;
    if (old == NULL)
        old_count = 0;
    if (old_count > new_count)
        old_count = new_count;
    old_size = old_count * elem_size;
    new_size = new_count * elem_size;

    /* The latest allocation of the head block can grow in place. */
    b = a->head;
    if (old != NULL && old == a->last_alloc && new_size <= SIZE_MAX - ARENA_ALIGN) {
        size_t offset = (size_t)((char *)old - block_data(b));
        size_t need = align_up(new_size == 0 ? 1 : new_size);
        if (need <= b->size - offset) {
            b->used = offset + need;
            return old;
        }
    }

    p = pd_arena_alloc(a, new_size);
    if (p != NULL && old_size > 0)
        memcpy(p, old, old_size);
    return p;
}

size_t pd_arena_bytes(const pd_arena *a)
{
    return a == NULL ? 0 : a->bytes;
}

void pd_buf_init(pd_buf *b, pd_arena *a)
{
    b->arena = a;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

/* Makes room for n more bytes plus the NUL; returns 0 on success. */
static int buf_reserve(pd_buf *b, size_t n)
{
    size_t want, cap;
    char *p;

    if (b->failed)
        return -1;
    if (n > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return 0;

    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = pd_arena_grow(b->arena, b->data, b->data == NULL ? 0 : b->len + 1, cap, 1);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void pd_buf_append(pd_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pd_buf_puts(pd_buf *b, const char *s)
{
    pd_buf_append(b, s, strlen(s));
}

void pd_buf_putc(pd_buf *b, char c)
{
    pd_buf_append(b, &c, 1);
}

void pd_buf_printf(pd_buf *b, const char *fmt, ...)
{
    va_list ap, measure;
    int n;

    if (b->failed)
        return;
    va_start(ap, fmt);
    va_copy(measure, ap);
    n = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (n < 0) {
        b->failed = 1;
    } else if (buf_reserve(b, (size_t)n) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

char *pd_buf_finish(pd_buf *b)
{
    if (b->failed)
        return NULL;
    if (b->data == NULL && buf_reserve(b, 0) != 0)
        return NULL;
    b->data[b->len] = '\0';
    return b->data;
}
