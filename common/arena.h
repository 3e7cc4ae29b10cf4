/*
 * arena.h -- bump allocator owning all memory of one job.
 *
 * A parse job allocates every string, message and tool call of its sessions
 * from one arena; the collector frees the whole arena after folding the
 * result. Allocation failure returns NULL and the caller fails that job only.
 * Blocks grow geometrically; an allocation larger than the current block gets
 * a block of its own, so a 50 MB line costs one 50 MB block.
 *
 * Thread-safety: an arena belongs to one thread at a time. Ownership moves
 * with the job (worker fills it, collector frees it); the ring's memory
 * ordering publishes the contents.
 */
#ifndef PD_ARENA_H
#define PD_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_arena pd_arena;

/* Returns a new arena, or NULL when out of memory. Free with pd_arena_free(). */
pd_arena *pd_arena_new(void);
/* Frees the arena and everything allocated from it. NULL is a no-op. */
void pd_arena_free(pd_arena *a);
/* Releases every allocation but keeps the first block for reuse. */
void pd_arena_reset(pd_arena *a);

/* Returns n bytes aligned to 16, or NULL. Contents are undefined. */
void *pd_arena_alloc(pd_arena *a, size_t n);
/* Returns n zeroed bytes, or NULL. */
void *pd_arena_calloc(pd_arena *a, size_t count, size_t size);
/* Returns a NUL-terminated copy of s[0..n), or NULL. */
char *pd_arena_strndup(pd_arena *a, const char *s, size_t n);
/* Returns a NUL-terminated copy of s, or NULL when s is NULL or memory runs out. */
char *pd_arena_strdup(pd_arena *a, const char *s);
/* Returns a printf-formatted string, or NULL. */
char *pd_arena_sprintf(pd_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Grows an arena array: returns a block of new_count elements that starts
 * with the old_count elements of old (which may be NULL), or NULL.
 */
void *pd_arena_grow(pd_arena *a, void *old, size_t old_count, size_t new_count, size_t elem_size);

/* Bytes currently allocated from the system for this arena. */
size_t pd_arena_bytes(const pd_arena *a);

/*
 * A growable byte buffer inside an arena, for building strings. The buffer is
 * always NUL-terminated when data is not NULL. On allocation failure `failed`
 * is set and later appends are ignored; check it once at the end.
 */
typedef struct pd_buf {
    pd_arena *arena;
    char *data;
    size_t len;
    size_t cap;
    int failed;
} pd_buf;

void pd_buf_init(pd_buf *b, pd_arena *a);
void pd_buf_append(pd_buf *b, const char *s, size_t n);
void pd_buf_puts(pd_buf *b, const char *s);
void pd_buf_putc(pd_buf *b, char c);
void pd_buf_printf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the NUL-terminated contents ("" when empty), or NULL when an append failed. */
char *pd_buf_finish(pd_buf *b);

#endif
