/*
 * report.h -- rendering a diff report as JSON or text, the terminal filter,
 * and the progress bar.
 *
 * report/ only renders a pd_diff_report that the engine has finished, and it
 * never recomputes totals or classes. Callers (cli/) decide the format, the
 * destination stream and whether progress is shown.
 *
 * Write errors: the writers check the stream with ferror() and flush it
 * before returning, so a full disk (ENOSPC) or a closed pipe (EPIPE) comes
 * back as PD_EIO. A closed pipe is only reported when the process ignores
 * SIGPIPE; otherwise the signal ends the process first.
 *
 * Thread-safety: every function touches only its arguments. A FILE or a
 * pd_progress must not be used by two threads at once.
 */
#ifndef PD_REPORT_H
#define PD_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/arena.h"
#include "engine/diffreport.h"

/*
 * Writes r to out as a 2-space indented JSON object followed by a newline.
 *
 * Top-level keys, in order: generated_at, data_version, db_path (omitted when
 * NULL or empty), agents, files_examined, files_limited, totals (the twelve
 * counters of pd_diff_totals in declaration order), field_counts (sorted by
 * field name; {} when empty), sessions ([] when empty). When r->interrupted
 * is set, a final key "interrupted": true marks the report as partial; the
 * key is absent otherwise.
 *
 * A session object has session_id (omitted when NULL), agent, file_path
 * (omitted when NULL), class, reason (omitted when NULL),
 * stored_data_version (always) and fields (omitted when there are none).
 * A field diff has field, stored, parsed, detail (omitted when NULL) and
 * informational (always). Other NULL strings are written as "".
 *
 * Strings are written without terminal filtering. Quote, backslash and
 * control bytes below 0x20 are escaped. Each byte that is not part of a valid
 * UTF-8 sequence is replaced by U+FFFD, so the output is always valid JSON,
 * but the original bytes cannot be recovered from it.
 *
 * Returns PD_OK, or PD_EIO when writing or flushing out failed.
 */
int pd_report_write_json(FILE *out, const pd_diff_report *r);

/*
 * Writes r to out as the human-readable report: header, optional --limit
 * note and vacuous-run warning, Summary, Changed fields, Parse errors, the
 * Changed / Raced / Incremental-skew session sections, the verbose-only
 * Pending-resync section, the incremental-skew note and the footer
 * "<changed> sessions changed, <identical> identical.".
 *
 * Compact session sections show at most 20 rows and then a
 * "... (<k> more; use --verbose or --json)" line. verbose lifts the cap,
 * prints every field diff of each listed session and adds the pending-resync
 * section.
 *
 * Columns are separated by two spaces, and every column but the last is
 * padded to the widest cell of its table, counted in code points (a
 * double-width character therefore shifts its row by one column). Counts are
 * right-aligned.
 *
 * A report with r->interrupted set gets the line
 * "Interrupted; partial results: ..." right after the header and again after
 * the footer, so partial totals are never shown without the warning.
 *
 * Every string that comes from files or archive rows goes through
 * pd_report_sanitize_terminal() first.
 *
 * Returns PD_OK, PD_ENOMEM when the scratch arena cannot be allocated, or
 * PD_EIO when writing or flushing out failed.
 */
int pd_report_write_text(FILE *out, const pd_diff_report *r, bool verbose);

/*
 * Returns a copy of s, allocated from a, that is safe to print on a
 * terminal. \n and \t are kept. Every other C0 control (CR included), DEL,
 * the C1 controls U+0080..U+009F and each byte that is not part of a valid
 * UTF-8 sequence are dropped. Printable bytes of an escape sequence stay, so
 * "\x1b[31m" becomes "[31m". Returns NULL when s is NULL or memory runs out.
 */
char *pd_report_sanitize_terminal(pd_arena *a, const char *s);

/*
 * A one-line progress bar:
 *     "\r<label>: <done>/<total>  <rate> files/s  ETA <m:ss>"
 * ending with a newline once done >= total. While discovery still counts
 * files (pd_progress_set_counting), the line never ends, and it shows the
 * expected total and ETA as estimates when one larger than the files found
 * is known, or no ETA:
 *     "\r<label>: <done>/~<expected>  <rate> files/s  ETA ~<m:ss>"
 *     "\r<label>: <done> done, <total> found so far  <rate> files/s"
 *
 * The label is "Re-parsing files" unless pd_progress_set_label() sets
 * another. The rate is files completed per second since pd_progress_new();
 * the ETA shows "-:--" until the rate is known. Redraws are limited to one
 * per 100 ms, except that the first tick and the tick that reaches the
 * total always draw. A line that got shorter is padded with spaces so no
 * stale characters remain.
 *
 * The caller decides whether progress is shown at all (a terminal, text
 * output, not CI). Every function accepts NULL and then does nothing, so a
 * disabled bar can simply be NULL. Write errors are ignored because progress
 * is advisory.
 *
 * Thread-safety: one thread (the collector) owns a pd_progress.
 */
typedef struct pd_progress pd_progress;

/* Monotonic clock in nanoseconds. ctx is the pointer given at creation. */
typedef int64_t (*pd_progress_clock_fn)(void *ctx);

/*
 * Returns a progress bar drawing on out (which must outlive it), or NULL when
 * out of memory. total may be 0 and can grow later with
 * pd_progress_set_total(). Free with pd_progress_free().
 */
pd_progress *pd_progress_new(FILE *out, int64_t total);
/*
 * Same as pd_progress_new() but reads time from clock(ctx) instead of
 * CLOCK_MONOTONIC, so tests can render exact rates and ETAs.
 */
pd_progress *pd_progress_new_with_clock(FILE *out, int64_t total, pd_progress_clock_fn clock,
                                        void *ctx);
/* Sets the text before the counts. The label must outlive p. */
void pd_progress_set_label(pd_progress *p, const char *label);
/* Sets the number of files expected, which grows while discovery streams. */
void pd_progress_set_total(pd_progress *p, int64_t total);
/*
 * Sets whether discovery is still finding files, so the total is not final,
 * and a guess at the final total (0 when there is none).
 */
void pd_progress_set_counting(pd_progress *p, bool counting, int64_t expected);
/* Records that done files have completed and redraws when due. */
void pd_progress_tick(pd_progress *p, int64_t done);
/*
 * Frees p. When the last drawn line was not finished (an interrupted run),
 * writes a newline first so later output starts on its own line.
 */
void pd_progress_free(pd_progress *p);

#endif
