/*
 * archive.h -- the SQLite session archive: schema, snapshot, reads, writes.
 *
 * The archive uses the agentsview table and column names (sessions,
 * messages, tool_calls, tool_result_events, usage_events), so parsediff can
 * read and write an archive that agentsview also uses. Call order:
 *   1. pd_archive_open()                  once per connection
 *   2. pd_archive_snapshot()              diff: one read of every sessions row
 *   3. pd_archive_load_session/_load_row  per session, from worker threads
 *   4. pd_archive_begin / write_* / commit (or rollback)   sync only
 *   5. pd_archive_close()
 *
 * Threading: a pd_archive is one SQLite connection and belongs to one thread
 * at a time. Workers open their own READONLY pd_archive each. A pd_snapshot
 * is immutable after pd_archive_snapshot() returns, so any number of threads
 * may read it concurrently.
 *
 * Errors: functions return PD_OK or a negative PD_E* code and fill err with
 * a message that starts with the archive path.
 */
#ifndef PD_ARCHIVE_H
#define PD_ARCHIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/model.h"

typedef struct pd_archive pd_archive;

enum {
    /* SQLITE_OPEN_READONLY: never creates, migrates or writes anything. */
    PD_ARCHIVE_READONLY = 1,
    /* Read-write, WAL mode; creates the file and the schema when absent. */
    PD_ARCHIVE_CREATE = 2,
};

/*
 * Opens the archive at path and checks that every table and column that
 * parsediff reads (and, for CREATE, writes) exists. Sets *out on success;
 * close it with pd_archive_close(). Returns:
 *   PD_ENOENT   READONLY and the file does not exist (nothing is created);
 *   PD_ESCHEMA  required tables or columns are missing, err names each one
 *               ("archive.db: missing columns: sessions.file_hash, ...");
 *   PD_ESQLITE  the file is not an SQLite database, is corrupt, or SQLite
 *               failed otherwise;
 *   PD_ENOMEM.
 * Extra tables, columns, triggers and FTS indexes are allowed. A busy
 * timeout lets a reader wait for a writer that holds the lock.
 */
int pd_archive_open(const char *path, int flags, pd_archive **out, pd_err *err);
/*
 * pd_archive_open() whose waits for another connection's lock, the open's
 * own included, end as soon as *cancel is set (NULL: only the busy timeout
 * ends them). The statement that waited then fails with PD_ECANCELED.
 * cancel must outlive the archive.
 */
int pd_archive_open_cancellable(const char *path, int flags, const atomic_bool *cancel,
                                pd_archive **out, pd_err *err);
/*
 * Turns off SQLite's memory statistics, whose mutex every SQLite allocation
 * in the process takes. pd_archive_open() calls it. Call it before any other
 * SQLite call, because SQLite ignores the setting once it is initialised.
 */
void pd_archive_global_init(void);
/* Finalizes every statement and closes the connection. NULL is a no-op. */
void pd_archive_close(pd_archive *a);
/* The path given to pd_archive_open(), owned by a. */
const char *pd_archive_path(const pd_archive *a);
/* PRAGMA user_version read at open (90 for an archive this binary created). */
int64_t pd_archive_user_version(const pd_archive *a);
/*
 * True when a statement of the write transaction begun last failed for the
 * archive as a whole (disk full, I/O error, read-only file, lock timeout,
 * corruption), so every later write would fail the same way.
 */
bool pd_archive_cannot_write(const pd_archive *a);
/* Sets the connection's page cache to kib KiB (SQLite's default is 2000). */
int pd_archive_set_cache_kib(pd_archive *a, int kib, pd_err *err);
/* Sets the WAL size in pages past which a commit checkpoints (SQLite's default is 1000). */
int pd_archive_set_autocheckpoint(pd_archive *a, int pages, pd_err *err);

/*
 * The bookkeeping of one sessions row, as the guards and the classifier use
 * it. Strings point into the owning snapshot (or arena for
 * pd_archive_load_row) and are NULL for SQL NULL.
 */
typedef struct pd_stored_row {
    const char *id;
    const char *agent;
    const char *file_path; /* NULL when NULL or empty */
    const char *session_name;
    const char *relationship_type;
    int64_t file_size; /* PD_INT_NULL when NULL */
    int64_t file_mtime;
    int64_t file_inode;
    int64_t file_device;
    int64_t data_version;
    int64_t message_count;
    int64_t next_ordinal;
    int64_t rowid;             /* where the row was read; a later sync may move it */
    bool has_hash;             /* file_hash held 64 hex digits, decoded below */
    bool is_file_hash_invalid; /* file_hash held other non-empty text */
    bool is_trashed;           /* deleted_at IS NOT NULL */
    bool last_write_incremental;
    uint8_t file_hash[32];
} pd_stored_row;

typedef struct pd_snapshot pd_snapshot;

/*
 * Reads every sessions row (trashed rows included) in one query, in rowid
 * order (the order rows were first written), and indexes it by id and by
 * file_path. Sets *out; free it with pd_snapshot_free(). Returns PD_OK,
 * PD_ENOMEM or PD_ESQLITE.
 */
int pd_archive_snapshot(pd_archive *a, pd_snapshot **out, pd_err *err);
void pd_snapshot_free(pd_snapshot *s);
size_t pd_snapshot_count(const pd_snapshot *s);
/* Row i in snapshot order; i < pd_snapshot_count(s). */
const pd_stored_row *pd_snapshot_row(const pd_snapshot *s, size_t i);
/* The row with this id, or NULL. */
const pd_stored_row *pd_snapshot_find_id(const pd_snapshot *s, const char *id);
/* True when id is in the archive's excluded_sessions table (agentsview's list of
 * sessions the user deleted for good, which sync never imports again). */
bool pd_snapshot_is_excluded(const pd_snapshot *s, const char *id);
/*
 * Finds the rows whose file_path equals path (any agent). Returns their count
 * and sets *out to an array of row indexes in snapshot order, owned by s;
 * *out is NULL when the count is 0.
 */
size_t pd_snapshot_find_path(const pd_snapshot *s, const char *path, const size_t **out);
/* Number of distinct file_path values among the rows. */
size_t pd_snapshot_path_count(const pd_snapshot *s);
/* The first row, in snapshot order, of distinct file_path number g
 * (g < pd_snapshot_path_count(s)). */
const pd_stored_row *pd_snapshot_path_row(const pd_snapshot *s, size_t g);
/* Heap bytes held by the snapshot: rows, strings and both indexes. */
size_t pd_snapshot_bytes(const pd_snapshot *s);

/*
 * Loads the stored session id into *out: every session column of the model,
 * messages in ordinal order with their tool calls in tool_calls.id order,
 * each call's result events in event_index order, and usage events in id
 * order. Strings come from arena. All reads run in one read transaction
 * (unless the caller already has one open), so a concurrent writer cannot
 * mix two versions. Sets *found = false and returns PD_OK when no row exists.
 * Message timestamps stored as '' load as NULL; every other text column
 * loads as stored (NULL stays NULL, '' stays ''). Returns PD_OK, PD_ENOMEM
 * or PD_ESQLITE.
 *
 * rowid, when above 0, is where a snapshot saw the row: the row is read
 * there, which skips a probe of the id index. When the row at that rowid
 * now has another id, or there is none, the row is looked up by id.
 */
int pd_archive_load_session(pd_archive *a, const char *id, int64_t rowid, pd_arena *arena,
                            pd_session *out, bool *found, pd_err *err);
/*
 * pd_archive_load_session() without what the comparator never reads: tool
 * calls come without result_content (NULL) and no call has result events.
 * In the 10,000-session mixed bench archive they are 669 MB of the 1,052 MB
 * in the text columns of messages, tool calls and result events.
 */
int pd_archive_load_compared(pd_archive *a, const char *id, int64_t rowid, pd_arena *arena,
                             pd_session *out, bool *found, pd_err *err);

/*
 * Opens a read transaction that the following loads share until
 * pd_archive_read_end(), or does nothing when one is already open. Every
 * load then reads the archive as of the first read after the call. Returns
 * PD_OK or PD_ESQLITE.
 */
int pd_archive_read_begin(pd_archive *a, pd_err *err);
/* Ends the open read transaction, if any. Returns false when it is still
 * open because both COMMIT and ROLLBACK failed. */
bool pd_archive_read_end(pd_archive *a);

/*
 * Re-reads the bookkeeping of one row into *out, strings from arena, for the
 * check that the archive did not change during a run. Sets *found = false
 * when no row exists.
 */
int pd_archive_load_row(pd_archive *a, const char *id, pd_stored_row *out, pd_arena *arena,
                        bool *found, pd_err *err);

/*
 * Writes. Every write function returns PD_EREADONLY on a READONLY archive.
 * Callers wrap one or more sources in one transaction with begin/commit.
 * Each write call is also atomic on its own (a savepoint), so a failed call
 * leaves the transaction as it was before the call, unless SQLite ended
 * the transaction itself (a full disk, for one), which the rollback below
 * tolerates.
 */
/* BEGIN IMMEDIATE: takes the write lock now, waiting up to the busy timeout. */
int pd_archive_begin(pd_archive *a, pd_err *err);
int pd_archive_commit(pd_archive *a, pd_err *err);
/* Rolls back the open transaction, if any. */
void pd_archive_rollback(pd_archive *a);

/* What a full write did with one session. */
typedef enum pd_write_outcome {
    PD_WRITE_DONE = 0,
    PD_WRITE_SKIPPED_TRASHED,  /* the stored row has deleted_at set */
    PD_WRITE_SKIPPED_EXCLUDED, /* the id is listed in excluded_sessions */
} pd_write_outcome;

/*
 * Full write of one normalised session (pd_session_normalize() applied):
 *   - upserts the sessions row: insert, or update every session column of
 *     the model except last_write_incremental, data_version and
 *     display_name. claude_linear_parse keeps the stored value when the new
 *     one is NULL. A Codex session without a title index entry
 *     (session_name_present false) keeps the stored session_name;
 *   - replaces the session's messages, tool_calls, tool_result_events and
 *     usage_events;
 *   - sets last_write_incremental = 0, local_modified_at = now and
 *     quality_signal_version = 0; bumps transcript_revision (and clears
 *     secrets_rules_version) when the message or tool-call rows changed;
 *   - last, stamps data_version: PD_DATA_VERSION, or PD_DATA_VERSION_RETRY
 *     when s->needs_retry.
 * A trashed row, or an id in an excluded_sessions table when the archive
 * has one, is left untouched. *outcome (may be NULL) receives the reason.
 * A row marked deleted by pd_archive_tombstone() is written and revived.
 */
int pd_archive_write_session(pd_archive *a, const pd_session *s, pd_write_outcome *outcome,
                             pd_err *err);
/*
 * Pins of agentsview's pinned_messages table that the last
 * pd_archive_write_session() could not put back, because their messages
 * are no longer in the session. The write keeps the others.
 */
int64_t pd_archive_pins_dropped(const pd_archive *a);
/* pd_archive_write_session() without the outcome. */
int pd_archive_write_full(pd_archive *a, const pd_session *s, pd_err *err);

/*
 * Marks the session id deleted because the file at path no longer contains
 * it: deleted_at = now, deletion_cause = 'source_missing'. A row that names
 * another file, or is deleted already, is left as it is, and so is every
 * row of an archive without a deletion_cause column. A later full write of
 * the id revives the row. *marked is set to whether a row was marked.
 */
int pd_archive_tombstone(pd_archive *a, const char *id, const char *path, bool *marked,
                         pd_err *err);

/* The stored-row values an incremental write sets besides the appended rows. */
typedef struct pd_incr_update {
    const char *session_id;
    /* The stored state the delta continues: the write is rejected (PD_ESTALE)
     * unless the row still has this file_size, next_ordinal, file_path and
     * file_hash (hex; NULL matches any), so that two syncs cannot both
     * append the same lines. */
    int64_t base_file_size;
    int64_t base_next_ordinal;
    const char *base_file_path;
    const char *base_file_hash;
    int64_t file_size;              /* stored file_size + consumed bytes */
    int64_t file_mtime;             /* ns */
    const char *file_hash;          /* NULL keeps the stored hash */
    const char *ended_at;           /* NULL keeps the stored value */
    const char *termination_status; /* stored as given; NULL stores NULL */
} pd_incr_update;

/*
 * Incremental append of a normalised delta that holds only the appended
 * messages, ordinals continuing from the stored next_ordinal:
 *   - inserts the delta's messages, tool calls, result events and usage
 *     events;
 *   - links each of delta->unlinked_results to the stored call with that
 *     tool_use_id (the last one when several share it): result_content and
 *     result_content_length, with NULL content for the default blocked
 *     categories (Read, Glob);
 *   - updates only ended_at (kept when NULL or outside years 2000..2100),
 *     message_count and user_message_count (+ the delta's kept rows),
 *     file_size, file_mtime, file_hash (kept when NULL), next_ordinal (the
 *     larger of stored and delta), last_entry_uuid (kept when the delta has
 *     none), token totals (stored + delta, peak = max, flags OR-ed),
 *     termination_status, last_write_incremental = 1 and
 *     quality_signal_version = 0, plus transcript_revision + 1,
 *     local_modified_at and secrets_rules_version = '' when rows were
 *     inserted or linked.
 * Every other column stays as stored. Returns PD_ENOENT when the row does
 * not exist, and PD_ESTALE, writing nothing, when the row is no longer the
 * base the delta continues (see pd_incr_update).
 */
int pd_archive_write_incremental(pd_archive *a, const pd_incr_update *u, const pd_session *delta,
                                 pd_err *err);

/* Sets session_name of one row (NULL or "" stores NULL). PD_ENOENT when absent. */
int pd_archive_set_session_name(pd_archive *a, const char *id, const char *name, pd_err *err);

#endif
