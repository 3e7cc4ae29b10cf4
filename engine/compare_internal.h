/*
 * compare_internal.h -- helpers shared by the comparator's source files.
 *
 * Not a public interface: only engine/compare*.c include it. compare.c owns
 * the orchestration and the rendering helpers, compare_session.c the
 * session-row columns, compare_fingerprint.c the tier-1 fingerprints,
 * compare_messages.c the tier-2 attribution and compare_usage.c the usage
 * events.
 *
 * Thread-safety: a pd_cmp belongs to one call of pd_compare_sessions().
 */
#ifndef PD_COMPARE_INTERNAL_H
#define PD_COMPARE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/model.h"
#include "engine/compare.h"
#include "engine/diffreport.h"

/* Rendered string values longer than this many runes are cut and get "...". */
#define PD_CMP_MAX_RENDERED_RUNES 80

/* State of one comparison. */
typedef struct pd_cmp {
    pd_arena *arena;   /* caller's arena: every string that ends up in a diff */
    pd_arena *scratch; /* private arena for temporaries, freed when the call returns */
    pd_field_diffs *out;
    bool incremental; /* the parsed session's agent appends incrementally */
} pd_cmp;

/* A byte span; s is NUL-terminated at s[n]. */
typedef struct pd_cmp_str {
    const char *s;
    size_t n;
} pd_cmp_str;

/*
 * Sets *out to s after the archive's sanitising rule, with NULL read as "".
 * Clean input is returned as is; otherwise the copy comes from scratch.
 * Returns PD_OK or PD_ENOMEM.
 */
int pd_cmp_clean(pd_arena *scratch, const char *s, pd_cmp_str *out);
/* Sets *equal to whether a and b are equal after sanitising. Returns PD_OK or PD_ENOMEM. */
int pd_cmp_clean_equal(pd_arena *scratch, const char *a, const char *b, bool *equal);
/* True when the spans contain the same bytes. */
bool pd_cmp_str_equal(pd_cmp_str a, pd_cmp_str b);
/* Returns s unless it is NULL, then "". */
const char *pd_cmp_deref(const char *s);

/* Returns an arena copy of s cut to PD_CMP_MAX_RENDERED_RUNES runes plus "...", or NULL. */
char *pd_cmp_truncate(pd_arena *arena, pd_cmp_str s);
/* Appends s (NULL as "") as a double-quoted literal with Go-style escapes. */
void pd_cmp_buf_quote(pd_buf *b, const char *s);

/* Marks d as incremental-append history when the comparison's agent appends incrementally. */
int pd_cmp_mark_incremental(pd_cmp *c, pd_field_diff *d);
/*
 * Appends d to the output list. Returns PD_ENOMEM when d.stored or d.parsed
 * is NULL (a failed allocation upstream) or the list cannot grow.
 */
int pd_cmp_push(pd_cmp *c, pd_field_diff d);

/*
 * Sets *out to an array (from scratch) of pointers to the n messages ordered
 * by ordinal; messages with equal ordinals keep their array order. Returns
 * PD_OK or PD_ENOMEM.
 */
int pd_cmp_order_messages(pd_arena *scratch, const pd_message *msgs, size_t n,
                          const pd_message ***out);
/* Orders the messages of both sessions with pd_cmp_order_messages(). */
int pd_cmp_order_both(pd_arena *scratch, const pd_session *stored, const pd_session *parsed,
                      const pd_message ***stored_out, const pd_message ***parsed_out);

/* Appends the diffs of the session-row columns: counts, text, token aggregates, termination,
 * metadata. */
int pd_cmp_session_fields(pd_cmp *c, const pd_session *stored, const pd_session *parsed);
/* Appends the diffs of the usage events, compared as multisets. */
int pd_cmp_usage_events(pd_cmp *c, const pd_session *stored, const pd_session *parsed);

/*
 * Computes which fingerprints differ between stored and parsed; differs[k] is
 * set for each pd_fingerprint_kind k. Returns PD_OK or PD_ENOMEM.
 */
int pd_cmp_fingerprints_differ(pd_arena *scratch, const pd_session *stored,
                               const pd_session *parsed, bool differs[PD_FP_COUNT]);

/*
 * Tier 2: aligns the messages by ordinal and appends the per-family diffs,
 * or the fallback diff when no aligned pair accounts for a differing
 * fingerprint.
 */
int pd_cmp_attribute_messages(pd_cmp *c, const pd_session *stored, const pd_session *parsed,
                              const bool differs[PD_FP_COUNT]);

#endif
