/*
 * codex.h -- Codex-specific helpers beyond the provider interface.
 *
 * The provider itself is pd_provider_codex (parsers/provider.h). These
 * functions serve the sync title refresh and the diff collector, which need
 * Codex facts without running a parse.
 *
 * Thread-safety: every function may be called from any thread. The ones
 * taking `shared` only read the state built by the provider's open_shared
 * and must not be called after close_shared.
 */
#ifndef PD_CODEX_H
#define PD_CODEX_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"

/*
 * Extracts the canonical session UUID of a rollout path: the trailing
 * 8-4-4-4-12 hex group of a file name "rollout-<anything>-<uuid>.jsonl"
 * (or .jsonl.zst). Writes it NUL-terminated into out and returns true;
 * returns false (out untouched) when the name carries no UUID.
 */
bool pd_codex_uuid_from_path(const char *path, char out[37]);

/*
 * Looks the thread title of a session UUID up in the session_index.jsonl
 * files loaded by open_shared (the first index, in root order, that has a
 * row for the UUID wins). On PD_OK, *present is true when a row exists, and
 * *title points at its trimmed title ("" for a blank title, which clears
 * the name) or is NULL when there is no row. The title is owned by shared.
 * Returns PD_EIO when no index has a row but some index exists and could
 * not be read, so the caller treats the title as unverified.
 */
int pd_codex_index_title(void *shared, const char *uuid, const char **title, bool *present);

/*
 * Returns the newest modification time (ns since the epoch) of the
 * session_index.jsonl files loaded by open_shared, or 0 when none exists.
 * The value is the one observed when open_shared ran.
 */
int64_t pd_codex_index_mtime(void *shared);

/*
 * Computes the consumed size of the transcript at path as it is on disk now:
 * the offset just after its last complete, newline-terminated line that is
 * valid JSON (a partial or invalid trailing line is excluded). This is the
 * value an incremental write stores as file_size. p is the caller's parser
 * (re-parsed). Returns PD_OK and sets *out, or the read error (err names
 * the path).
 */
int pd_codex_consumed_size(const char *path, pd_json_parser *p, int64_t *out, pd_err *err);

#endif
