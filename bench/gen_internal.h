/*
 * gen_internal.h -- pieces shared by the corpus generator's files: the
 * random stream, the output buffer, filler text and the transcript writers.
 *
 * Thread-safety: gen_text_init() may be called from any thread and builds
 * the text pool once; after that the pool is read-only. A gen_rng, gen_buf or
 * gen_session belongs to one thread.
 */
#ifndef PD_GEN_INTERNAL_H
#define PD_GEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random stream (xoshiro256**, seeded through splitmix64) -------------- */

typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;

uint64_t gen_splitmix64(uint64_t *state);
/* Seeds rng from a seed and a stream number (a session index, a salt). */
void gen_rng_seed(gen_rng *rng, uint64_t seed, uint64_t stream);
uint64_t gen_rng_next(gen_rng *rng);
/* Uniform in [0, 1). */
double gen_rng_unit(gen_rng *rng);
/* Uniform in [lo, hi]; hi >= lo. */
int64_t gen_rng_range(gen_rng *rng, int64_t lo, int64_t hi);
/* Standard normal (Box-Muller). */
double gen_rng_normal(gen_rng *rng);

/* ---- output buffer ------------------------------------------------------- */

/* A growable byte buffer; on allocation failure it sets failed and drops writes. */
typedef struct gen_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} gen_buf;

void gen_buf_free(gen_buf *b);
void gen_put(gen_buf *b, const char *s, size_t n);
void gen_puts(gen_buf *b, const char *s);
/* Appends a copy of the buffer's own bytes [offset, offset + n). */
void gen_put_again(gen_buf *b, size_t offset, size_t n);
/* Appends n copies of the byte c. */
void gen_put_fill(gen_buf *b, char c, size_t n);
void gen_put_int(gen_buf *b, int64_t v);
/* n lowercase hex digits. */
void gen_put_hex(gen_buf *b, gen_rng *rng, size_t n);
/* A version 4 UUID in 8-4-4-4-12 form. */
void gen_put_uuid(gen_buf *b, gen_rng *rng);
/* Writes a UUID into out[37] (NUL-terminated). */
void gen_make_uuid(gen_rng *rng, char out[37]);
/* RFC 3339 UTC with milliseconds: 2025-03-02T09:14:07.010Z. */
void gen_put_time(gen_buf *b, int64_t unix_ms);
/* Splits unix_ms into UTC calendar fields. */
void gen_civil_time(int64_t unix_ms, int *year, int *month, int *day, int *hour, int *minute,
                    int *second);

/* ---- filler text --------------------------------------------------------- */

/* Builds the read-only word pool on the first call; call before writing any text. */
void gen_text_init(void);
/*
 * Appends n bytes of text that is valid inside a JSON string literal:
 * lowercase words, punctuation, and "\n" escapes (counted as two bytes).
 */
void gen_put_text(gen_buf *b, gen_rng *rng, size_t n);
/* Like gen_put_text() but without escapes, so it may be nested in a JSON string twice. */
void gen_put_plain(gen_buf *b, gen_rng *rng, size_t n);

/* ---- transcripts ----------------------------------------------------------- */

/* Everything a transcript writer needs to know about one session. */
typedef struct gen_session {
    uint64_t index;
    gen_rng rng;
    int64_t target_bytes; /* stop adding turns once the file reaches this size */
    int64_t huge_bytes;   /* size of the one huge line, 0 for none */
    int64_t start_ms;     /* time of the first line */
    char id[37];          /* session UUID */
    char cwd[64];
    int project;          /* project number, shared by several sessions */
} gen_session;

/* Writes a whole Claude Code transcript into b. */
void gen_claude_session(gen_buf *b, gen_session *s);
/* Writes a whole Codex rollout into b. */
void gen_codex_session(gen_buf *b, gen_session *s);

/*
 * One complete turn to append to an existing transcript: a user prompt and
 * an assistant reply. parent_uuid is the uuid of the transcript's last
 * entry (Claude; may be NULL). Times start at unix_ms.
 */
void gen_claude_append_turn(gen_buf *b, gen_rng *rng, const char *session_id,
                            const char *parent_uuid, int64_t unix_ms);
void gen_codex_append_turn(gen_buf *b, gen_rng *rng, int64_t unix_ms);

#endif
