/*
 * normalize.h -- turning a parsed session into the rows the archive stores.
 *
 * Both sides of a diff go through this: sync writes the normalised session,
 * and diff compares the normalised re-parse with the stored rows. It applies
 * the write path's rules in order:
 *   1. pairing: each tool result fills result_content/result_content_length
 *      of the call with the same tool_use_id (last call with that id wins);
 *      calls with result events get the events' summary instead; blocked
 *      categories (by default Read and Glob) keep the length but store NULL
 *      content;
 *   2. user rows whose content is blank and that carry tool results are
 *      dropped, keeping ordinal gaps;
 *   3. sanitising: model cut to 128 bytes, per-row tokens clamped to
 *      [0, 2000000], timestamps outside years 2000..2100 blanked, a
 *      self-parent dropped;
 *   4. derived session fields: message_count, user_message_count (kept user
 *      rows that are not system), next_ordinal (last parsed ordinal + 1),
 *      last_entry_uuid (last non-empty source_uuid), token totals and their
 *      presence flags (session presence OR any row's), call_index.
 *
 * Thread-safety: touches only its arguments.
 */
#ifndef PD_NORMALIZE_H
#define PD_NORMALIZE_H

#include <stddef.h>

#include "common/arena.h"
#include "common/model.h"

/* Timestamps outside these calendar years (UTC) are stored blank. */
#define PD_YEAR_MIN 2000
#define PD_YEAR_MAX 2100

/* True when the archive stores ts blank: its year lies outside the range above. */
bool pd_timestamp_blanked(const char *ts);

typedef struct pd_normalize_opts {
    const char *const *blocked_categories; /* NULL: the default {"Read", "Glob"} */
    size_t n_blocked_categories;
} pd_normalize_opts;

/*
 * Normalises s in place (new arrays come from a). opts may be NULL for the
 * defaults. Returns PD_OK or PD_ENOMEM.
 */
int pd_session_normalize(pd_session *s, const pd_normalize_opts *opts, pd_arena *a);

/* Tool-call categories whose result content the write path blanks by default. */
extern const char *const pd_default_blocked_categories[];
extern const size_t pd_n_default_blocked_categories;

#endif
