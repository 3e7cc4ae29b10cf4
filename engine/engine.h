/*
 * engine.h -- sync and diff orchestration over the providers, the pool and
 * the archive.
 *
 * An engine is created in one of two modes. A writer engine syncs: it
 * discovers sources, parses them on the worker pool, and writes them from
 * one writer thread (the caller's), many sources per transaction and each
 * source in full or not at all. A
 * report-only engine exists for diff: every write entry point refuses with
 * PD_EREADONLY before doing anything (callbacks are never run), and diff
 * itself opens the archive with SQLITE_OPEN_READONLY, so even a bug cannot
 * write.
 *
 * Entry points, in the order a caller uses them:
 *   pd_engine_new() -> pd_engine_sync() / pd_engine_diff() /
 *   pd_engine_run_exclusive() -> pd_engine_free()
 * All of them must be called from one thread (the CLI's main thread); the
 * engine runs its own workers inside each call. Cancellation is cooperative:
 * the caller passes an atomic flag that a SIGINT handler sets.
 */
#ifndef PD_ENGINE_H
#define PD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/model.h"
#include "engine/diffreport.h"

typedef enum pd_engine_mode { PD_ENGINE_WRITER = 0, PD_ENGINE_REPORT_ONLY = 1 } pd_engine_mode;

/* One discovery root for one agent. */
typedef struct pd_agent_root {
    const char *agent; /* provider name: "claude", "codex" */
    const char *root;  /* directory */
} pd_agent_root;

typedef struct pd_engine_config {
    const char *db_path;
    const pd_agent_root *roots;
    size_t n_roots;
    /* Worker threads; 0 runs every job inline on the caller's thread. */
    unsigned n_threads;
    /* Job and result ring capacity; 0 picks 4 x threads (at least 8). */
    unsigned ring_capacity;
    const char *machine; /* stamped on written sessions; NULL = host name */
    /* Set by a SIGINT handler; checked between jobs. May be NULL. */
    atomic_bool *cancel;
} pd_engine_config;

typedef struct pd_engine pd_engine;

/* Copies cfg (strings are borrowed and must outlive the engine). */
int pd_engine_new(const pd_engine_config *cfg, pd_engine_mode mode, pd_engine **out, pd_err *err);
void pd_engine_free(pd_engine *e);
pd_engine_mode pd_engine_get_mode(const pd_engine *e);

/* ---- sync ---------------------------------------------------------------- */

typedef struct pd_sync_error {
    char *path;
    char *message;
} pd_sync_error;

/*
 * A session a sync warning names, with two of its files: the smallest id
 * counted and the two smallest paths seen for it, so that the example does
 * not depend on the order the workers finish. NULL until one is counted.
 */
typedef struct pd_sync_example {
    char *id;
    char *first_path;
    char *second_path;
} pd_sync_example;

typedef struct pd_sync_stats {
    int64_t files_discovered;
    int64_t files_parsed;        /* full or incremental parses */
    int64_t files_unchanged;     /* skipped: same size, mtime, identity, hash, data version */
    int64_t sessions_full;       /* sessions written by a full write */
    /* Sessions parsed but not written because the archive marks them trashed
     * or lists them in excluded_sessions (deleted by the user). */
    int64_t sessions_kept_out;
    int64_t sessions_incremental;/* sessions written by an incremental append */
    int64_t titles_refreshed;    /* Codex sessions rewritten for a title-only change */
    /* Sessions written as needing a retry (a Codex fork or subagent whose
     * parent rollout is missing), which every later sync parses again. */
    int64_t sessions_needing_retry;
    /* Stored Claude forks that their transcripts no longer contain, marked
     * deleted with deletion_cause 'source_missing'. */
    int64_t forks_tombstoned;
    int64_t files_failed;
    /* Files whose sessions left out malformed lines other than a cut last
     * line, or that end in an unfinished line holding NUL bytes: damage to
     * a file, each named in a warning. */
    int64_t files_with_malformed_lines;
    /* Files removed or renamed between discovery and their read (a live
     * agent's rename), neither read nor failed. */
    int64_t files_vanished;
    /* .zst files that end inside a zstd frame and were modified during the
     * run or the minute before: a compressor is still writing them, so they
     * are left for the next sync, neither read nor failed. */
    int64_t files_being_written;
    /* Files discovered per agent, in the order agents first found one. */
    struct {
        const char *agent; /* provider name, static */
        int64_t files;
    } discovered_by_agent[8];
    size_t n_agents_discovered;
    /* Sessions written from a file other than the one their row names while
     * that file still exists: copies of a transcript under the roots, each
     * session counted once. */
    int64_t sessions_from_other_copy;
    pd_sync_example copy_example;
    /* Of those, the sessions whose files are known to differ now, so that
     * what the archive stores for them can change with every sync. */
    int64_t copies_differing;
    pd_sync_example differing_example; /* a pair compared, the smallest in id and path order */
    /* Files parsed but not written because sync stopped at a write the
     * archive refused. */
    int64_t files_not_written;
    /* Appends rejected because another sync wrote the session meanwhile. */
    int64_t files_written_meanwhile;
    /* Sessions written from another name of the file their row names (as
     * when a root is given through a symbolic link). */
    int64_t sessions_under_two_names;
    pd_sync_example alias_example;
    /* Codex rollouts not read because an earlier one has the same session
     * UUID, with the first of them (malloc'd). */
    int64_t shadowed_rollouts;
    char *shadowed_rollout;
    pd_sync_error *errors;       /* one per failed file, malloc'd; see pd_sync_stats_free */
    size_t n_errors;
    bool interrupted;
} pd_sync_stats;

/* What the progress callback of sync and diff receives. */
typedef struct pd_progress_info {
    int64_t done;     /* files read so far */
    int64_t found;    /* files discovery has found so far */
    int64_t expected; /* files of the run's agents the archive has rows for, 0 when none:
                         an estimate of the total while discovery still runs */
    bool counting;    /* discovery is still finding files, so found can grow */
} pd_progress_info;

typedef struct pd_sync_options {
    /* Full resync: ignore every skip and incremental path, replace all rows. */
    bool force_full;
    /*
     * Progress callback on the caller's thread, or NULL: after each file
     * read (not for files an interrupt cancelled), and once more when
     * discovery ends. diff also calls it once with nothing done or found
     * before discovery starts.
     */
    void (*progress)(void *ctx, const pd_progress_info *info);
    void *progress_ctx;
} pd_sync_options;

/*
 * Syncs every discovered source into the archive (created if absent). A
 * failing file is recorded in stats->errors and the batch goes on; the
 * return value is PD_OK unless the run itself failed (archive unusable,
 * PD_ECANCELED on interruption, PD_EREADONLY on a report-only engine).
 * Free stats with pd_sync_stats_free().
 */
int pd_engine_sync(pd_engine *e, const pd_sync_options *opts, pd_sync_stats *stats, pd_err *err);
void pd_sync_stats_free(pd_sync_stats *stats);

/*
 * Full resync: pd_engine_sync() with force_full set, so every session is
 * rewritten from a full parse (this also clears last_write_incremental).
 */
int pd_engine_resync(pd_engine *e, pd_sync_stats *stats, pd_err *err);

/*
 * Normalises one parsed session in place (new arrays come from arena, which
 * must own s) and writes it in its own transaction. Refused with
 * PD_EREADONLY on a report-only engine before anything is touched.
 */
int pd_engine_write_session(pd_engine *e, pd_session *s, pd_arena *arena, pd_err *err);

/*
 * Runs fn(ctx, db_path) with exclusive write access to the archive. Refused
 * with PD_EREADONLY on a report-only engine, without calling fn.
 */
int pd_engine_run_exclusive(pd_engine *e, int (*fn)(void *ctx, const char *db_path), void *ctx,
                            pd_err *err);

/* ---- diff ---------------------------------------------------------------- */

typedef struct pd_diff_options {
    const char *const *agents; /* restrict to these (already validated); NULL = all */
    size_t n_agents;
    int64_t limit;             /* newest N sources; 0 = all */
    /* As in pd_sync_options. */
    void (*progress)(void *ctx, const pd_progress_info *info);
    void *progress_ctx;
    /*
     * Called once on the caller's thread after the snapshot is taken and
     * before any source is parsed; may be NULL. Tests use it to commit a
     * write that the run must then detect.
     */
    void (*after_snapshot)(void *ctx);
    void *after_snapshot_ctx;
    /* Render per-phase times in the report (they are always measured). */
    bool timings;
} pd_diff_options;

/*
 * Re-parses every source and compares with the stored rows. On PD_OK *out
 * is a complete report. On PD_ECANCELED *out is a partial report with
 * interrupted set, which must never be shown as complete. On other errors
 * *out is NULL. Works on either engine mode and never writes. Free with
 * pd_diff_report_free().
 */
int pd_engine_diff(pd_engine *e, const pd_diff_options *opts, pd_diff_report **out, pd_err *err);
void pd_diff_report_free(pd_diff_report *r);

/* Agent names this build can diff, registry order; sets *out and returns the count. */
size_t pd_engine_supported_agents(const char *const **out);

#endif
