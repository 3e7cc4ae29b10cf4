/*
 * archive_internal.h -- state and helpers shared by the archive sources.
 *
 * Not part of the public API. A pd_archive owns one SQLite connection and a
 * cache of prepared statements that are prepared on first use and reset
 * after each use, so a worker that loads thousands of sessions compiles
 * each query once.
 */
#ifndef PD_ARCHIVE_INTERNAL_H
#define PD_ARCHIVE_INTERNAL_H

#include <sqlite3.h>
#include <sys/types.h>

#include "archive/archive.h"

/* Keys of the prepared-statement cache. */
typedef enum archive_stmt_id {
    STMT_LOAD_SESSION = 0,
    STMT_LOAD_MESSAGES,
    STMT_LOAD_CALLS,
    STMT_LOAD_EVENTS,
    STMT_LOAD_USAGE,
    STMT_LOAD_ROW,
    STMT_WRITE_STATE,
    STMT_WRITE_EXCLUDED,
    STMT_UPSERT_SESSION,
    STMT_DELETE_EVENTS,
    STMT_DELETE_CALLS,
    STMT_DELETE_MESSAGES,
    STMT_DELETE_USAGE,
    STMT_INSERT_MESSAGE,
    STMT_INSERT_CALL,
    STMT_INSERT_EVENT,
    STMT_INSERT_USAGE,
    STMT_DIGEST_MESSAGES,
    STMT_DIGEST_CALLS,
    STMT_FINISH_FULL,
    STMT_INCR_EXISTS,
    STMT_INCR_UPDATE,
    STMT_FIND_CALL,
    STMT_LINK_RESULT,
    STMT_SET_NAME,
    STMT_LOAD_CALLS_COMPARED,
    STMT_LOAD_SESSION_AT,
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_BEGIN_IMMEDIATE,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_TOMBSTONE,
    STMT_PIN_CLEAR,
    STMT_PIN_SAVE,
    STMT_PIN_UNLINK,
    STMT_PIN_CANDIDATES,
    STMT_PIN_RESTORE,
    STMT_COUNT
} archive_stmt_id;

struct pd_archive {
    sqlite3 *db;
    char *path;
    int flags;
    int64_t user_version;
    bool has_excluded_table; /* excluded_sessions exists (agentsview archives) */
    /* Statements that save a session's pins and insert one again, built from
     * the columns of agentsview's pinned_messages table (pins.c); NULL when
     * the archive has no such table or the connection is read-only. */
    char *pin_save_sql;
    char *pin_insert_sql;
    int64_t pins_dropped;    /* pins the last session write could not put back */
    bool has_deletion_cause; /* sessions.deletion_cause exists (writable archives only) */
    bool sessions_has_rowid; /* false for a sessions table declared WITHOUT ROWID */
    int last_error;          /* primary SQLite code of the last failure, or SQLITE_OK */
    /* The archive with links resolved, beside which SQLite puts the -wal and
     * -shm files, and for each of the two whether it was missing or writable
     * by its owner at the open (see pd_archive_close). */
    char *real_path;
    uid_t owner; /* the archive's owner, whose files root's SQLite creates */
    bool restore_wal_write;
    bool restore_shm_write;
    /* State of archive_busy()'s lock wait: the flag that ends it early,
     * whether the last wait ended that way, when it began, and whether a
     * long wait was already reported on this connection. */
    const atomic_bool *cancel;
    bool busy_cancelled;
    bool busy_noted;
    int64_t busy_since_ns;
    sqlite3_stmt *stmts[STMT_COUNT];
};

/*
 * Sets *out to the statement cached under id, preparing sql on first use.
 * Each id always goes with the same SQL text, which lives next to the code
 * that reads its columns. The caller resets the statement with
 * archive_stmt_done() after use. Returns PD_OK or the SQLite failure.
 */
int archive_stmt(pd_archive *a, archive_stmt_id id, const char *sql, sqlite3_stmt **out,
                 pd_err *err);
/* Resets a statement and clears its bindings; NULL is a no-op. */
void archive_stmt_done(sqlite3_stmt *stmt);

/*
 * Records an SQLite failure in err as "<path>: <operation> failed: <SQLite
 * message>" (with plain wording for not-a-database, corruption and lock
 * timeouts) and returns the matching code: PD_ENOMEM for SQLITE_NOMEM,
 * PD_ESQLITE otherwise.
 */
int archive_sqlite_fail(pd_archive *a, int rc, const char *operation, pd_err *err);

/* Runs one SQL statement without results; returns PD_OK or the failure. */
int archive_exec(pd_archive *a, const char *sql, const char *operation, pd_err *err);
/* Runs the statement cached under id (sql, no results) and resets it; returns PD_OK or the failure. */
int archive_exec_cached(pd_archive *a, archive_stmt_id id, const char *sql, const char *operation,
                        pd_err *err);

/* PD_EREADONLY (with err set) unless a was opened with PD_ARCHIVE_CREATE. */
int archive_require_writable(pd_archive *a, const char *op, pd_err *err);

/* Binds text, or NULL when s is NULL. */
int archive_bind_text(sqlite3_stmt *stmt, int index, const char *s);
/* Binds text, or NULL when s is NULL or empty. */
int archive_bind_text_or_null(sqlite3_stmt *stmt, int index, const char *s);
/* Binds text, or '' when s is NULL. */
int archive_bind_text_or_empty(sqlite3_stmt *stmt, int index, const char *s);
/* Binds an integer, or NULL when v is PD_INT_NULL. */
int archive_bind_int_or_null(sqlite3_stmt *stmt, int index, int64_t v);

/* Column readers: text copied into arena (NULL for SQL NULL). */
char *archive_column_text(sqlite3_stmt *stmt, int col, pd_arena *arena, bool *failed);
/* Text copied into arena, "" for SQL NULL (NOT NULL columns of a foreign archive). */
char *archive_column_text_or_empty(sqlite3_stmt *stmt, int col, pd_arena *arena, bool *failed);
/* Integer, or PD_INT_NULL for SQL NULL. */
int64_t archive_column_int_or_null(sqlite3_stmt *stmt, int col);

/* Decodes 64 hex digits (either case) into 32 bytes; false for anything else. */
bool archive_decode_hash(const unsigned char *hex, size_t n, uint8_t out[32]);

/*
 * The columns of a pd_stored_row, shared by the snapshot query and
 * pd_archive_load_row() so that both decode rows the same way. Both select
 * one more column after them: the rowid, or 0 when the sessions table has
 * none (sessions_has_rowid).
 */
#define ARCHIVE_ROW_COLUMNS                                                                        \
    "id, agent, file_path, session_name, relationship_type, file_size, file_mtime, file_inode, "   \
    "file_device, data_version, message_count, next_ordinal, file_hash, deleted_at IS NOT NULL, "  \
    "last_write_incremental"

/* Copies n bytes of a text column somewhere stable; returns NULL on failure. */
typedef const char *(*archive_copy_fn)(void *ctx, const char *s, size_t n);

/*
 * Fills *row from the current result row of a statement that selected
 * ARCHIVE_ROW_COLUMNS first. Strings unique to a row go through copy; agent
 * and relationship_type, which take a handful of distinct values, go
 * through copy_repeated. Returns false when a copy failed.
 */
bool archive_decode_row(sqlite3_stmt *stmt, pd_stored_row *row, archive_copy_fn copy,
                        archive_copy_fn copy_repeated, void *ctx);

/*
 * Reads the column names of table into *out, a malloc'd array of *count
 * malloc'd strings (none when the table does not exist). ordinary_only
 * leaves out hidden and generated columns, which an INSERT cannot name.
 */
int archive_table_columns(pd_archive *a, const char *table, bool ordinary_only, char ***out,
                          size_t *count, pd_err *err);
bool archive_contains_name(char *const *names, size_t n, const char *name);

/*
 * Pinned messages of agentsview archives (pins.c). archive_pins_prepare()
 * builds the statements on a writable connection when the table exists.
 * archive_pins_save() copies the pins of session_id aside (*saved of them)
 * before its message rows are deleted, and archive_pins_restore() puts them
 * on the new rows afterwards; *dropped gets the pins whose message is gone.
 */
int archive_pins_prepare(pd_archive *a, pd_err *err);
int archive_pins_save(pd_archive *a, const char *session_id, int64_t *saved, pd_err *err);
int archive_pins_restore(pd_archive *a, int64_t saved, int64_t *dropped, pd_err *err);

#endif
