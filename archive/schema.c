/*
 * schema.c -- opening an archive: schema creation and the column check.
 *
 * Entry points, in call order: pd_archive_open(), pd_archive_path(),
 * pd_archive_user_version(), pd_archive_close(). Also the helpers of
 * archive_internal.h that the other archive files share (statement cache,
 * error translation, binding and column reading).
 *
 * Opening never migrates: READONLY opens with SQLITE_OPEN_READONLY and only
 * reads; CREATE creates the tables and indexes when the file has no
 * `sessions` table and otherwise uses the archive as it is. The column check
 * requires only what parsediff reads or writes, so archives written by
 * agentsview, with more tables, columns, triggers and FTS indexes, open too.
 *
 * Threading: one pd_archive per thread; see archive.h.
 */
#include "archive/archive_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timefmt.h"

/*
 * How long a connection waits for a lock held by another connection before
 * failing with SQLITE_BUSY. Writers hold the lock for one source at a time,
 * so this is far above any expected wait.
 */
#define ARCHIVE_BUSY_TIMEOUT_MS 30000
/* The maximum sleep between two lock attempts: how late a wait notices its cancel flag. */
#define ARCHIVE_BUSY_STEP_MS 50
/* A wait this long is reported once per connection, so that a sync behind
 * another writer does not look hung. */
#define ARCHIVE_BUSY_NOTICE_MS 2000

/*
 * The archive schema: the agentsview tables parsediff fills, with the
 * agentsview column names, types and defaults. Signal, health and secret
 * columns are created with their defaults so that agentsview can open an
 * archive made here. Of those, parsediff writes only quality_signal_version
 * and secrets_rules_version, to mark them stale.
 */
static const char schema_sql[] =
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY,"
    " project TEXT NOT NULL,"
    " machine TEXT NOT NULL DEFAULT 'local',"
    " agent TEXT NOT NULL DEFAULT 'claude',"
    " agent_label TEXT NOT NULL DEFAULT '',"
    " entrypoint TEXT NOT NULL DEFAULT '',"
    " session_kind TEXT NOT NULL DEFAULT '',"
    " first_message TEXT,"
    " display_name TEXT,"
    " session_name TEXT,"
    " started_at TEXT,"
    " ended_at TEXT,"
    " message_count INTEGER NOT NULL DEFAULT 0,"
    " user_message_count INTEGER NOT NULL DEFAULT 0,"
    " file_path TEXT,"
    " file_size INTEGER,"
    " file_mtime INTEGER,"
    " next_ordinal INTEGER NOT NULL DEFAULT 0,"
    " last_entry_uuid TEXT,"
    " claude_linear_parse INTEGER,"
    " file_inode INTEGER,"
    " file_device INTEGER,"
    " file_hash TEXT,"
    " local_modified_at TEXT,"
    " transcript_revision TEXT NOT NULL DEFAULT '0',"
    " parent_session_id TEXT,"
    " parser_parent_session_id TEXT,"
    " relationship_type TEXT NOT NULL DEFAULT '',"
    " total_output_tokens INTEGER NOT NULL DEFAULT 0,"
    " peak_context_tokens INTEGER NOT NULL DEFAULT 0,"
    " has_total_output_tokens INTEGER NOT NULL DEFAULT 0,"
    " has_peak_context_tokens INTEGER NOT NULL DEFAULT 0,"
    " is_automated INTEGER NOT NULL DEFAULT 0,"
    " tool_failure_signal_count INTEGER NOT NULL DEFAULT 0,"
    " tool_retry_count INTEGER NOT NULL DEFAULT 0,"
    " edit_churn_count INTEGER NOT NULL DEFAULT 0,"
    " consecutive_failure_max INTEGER NOT NULL DEFAULT 0,"
    " final_failure_streak INTEGER NOT NULL DEFAULT 0,"
    " compaction_count INTEGER NOT NULL DEFAULT 0,"
    " mid_task_compaction_count INTEGER NOT NULL DEFAULT 0,"
    " has_tool_calls INTEGER NOT NULL DEFAULT 0,"
    " has_context_data INTEGER NOT NULL DEFAULT 0,"
    " quality_signal_version INTEGER NOT NULL DEFAULT 0,"
    " short_prompt_count INTEGER NOT NULL DEFAULT 0,"
    " unstructured_start INTEGER NOT NULL DEFAULT 0,"
    " missing_success_criteria_count INTEGER NOT NULL DEFAULT 0,"
    " missing_verification_count INTEGER NOT NULL DEFAULT 0,"
    " duplicate_prompt_count INTEGER NOT NULL DEFAULT 0,"
    " no_code_context_count INTEGER NOT NULL DEFAULT 0,"
    " runaway_tool_loop_count INTEGER NOT NULL DEFAULT 0,"
    " outcome TEXT NOT NULL DEFAULT 'unknown',"
    " outcome_confidence TEXT NOT NULL DEFAULT 'low',"
    " ended_with_role TEXT NOT NULL DEFAULT '',"
    " signals_pending_since TEXT,"
    " health_grade TEXT,"
    " context_pressure_max REAL,"
    " health_score INTEGER,"
    " data_version INTEGER NOT NULL DEFAULT 0,"
    " cwd TEXT NOT NULL DEFAULT '',"
    " git_branch TEXT NOT NULL DEFAULT '',"
    " source_session_id TEXT NOT NULL DEFAULT '',"
    " source_version TEXT NOT NULL DEFAULT '',"
    " transcript_fidelity TEXT NOT NULL DEFAULT '',"
    " parser_malformed_lines INTEGER NOT NULL DEFAULT 0,"
    " is_truncated INTEGER NOT NULL DEFAULT 0,"
    " last_write_incremental INTEGER NOT NULL DEFAULT 0,"
    " deleted_at TEXT,"
    " deletion_cause TEXT,"
    " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " termination_status TEXT,"
    " secret_leak_count INTEGER NOT NULL DEFAULT 0,"
    " secrets_rules_version TEXT NOT NULL DEFAULT '',"
    " sync_marker TEXT"
    ");"
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " ordinal INTEGER NOT NULL,"
    " role TEXT NOT NULL,"
    " content TEXT NOT NULL,"
    " thinking_text TEXT NOT NULL DEFAULT '',"
    " timestamp TEXT,"
    " has_thinking INTEGER NOT NULL DEFAULT 0,"
    " has_tool_use INTEGER NOT NULL DEFAULT 0,"
    " content_length INTEGER NOT NULL DEFAULT 0,"
    " is_system INTEGER NOT NULL DEFAULT 0,"
    " model TEXT NOT NULL DEFAULT '',"
    " token_usage TEXT NOT NULL DEFAULT '',"
    " context_tokens INTEGER NOT NULL DEFAULT 0,"
    " output_tokens INTEGER NOT NULL DEFAULT 0,"
    " has_context_tokens INTEGER NOT NULL DEFAULT 0,"
    " has_output_tokens INTEGER NOT NULL DEFAULT 0,"
    " claude_message_id TEXT NOT NULL DEFAULT '',"
    " claude_request_id TEXT NOT NULL DEFAULT '',"
    " source_type TEXT NOT NULL DEFAULT '',"
    " source_subtype TEXT NOT NULL DEFAULT '',"
    " prompt_source TEXT NOT NULL DEFAULT '',"
    " source_uuid TEXT NOT NULL DEFAULT '',"
    " source_parent_uuid TEXT NOT NULL DEFAULT '',"
    " is_sidechain INTEGER NOT NULL DEFAULT 0,"
    " is_compact_boundary INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(session_id, ordinal)"
    ");"
    "CREATE TABLE tool_calls ("
    " id INTEGER PRIMARY KEY,"
    " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " tool_name TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " tool_use_id TEXT,"
    " input_json TEXT,"
    " skill_name TEXT,"
    " result_content_length INTEGER,"
    " result_content TEXT,"
    " subagent_session_id TEXT,"
    " file_path TEXT,"
    " call_index INTEGER"
    ");"
    "CREATE TABLE tool_result_events ("
    " id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " tool_call_message_ordinal INTEGER NOT NULL,"
    " call_index INTEGER NOT NULL DEFAULT 0,"
    " tool_use_id TEXT,"
    " agent_id TEXT,"
    " subagent_session_id TEXT,"
    " source TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " content TEXT NOT NULL,"
    " content_length INTEGER NOT NULL DEFAULT 0,"
    " timestamp TEXT,"
    " event_index INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE usage_events ("
    " id INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " message_ordinal INTEGER,"
    " source TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " input_tokens INTEGER NOT NULL DEFAULT 0,"
    " output_tokens INTEGER NOT NULL DEFAULT 0,"
    " cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,"
    " cache_read_input_tokens INTEGER NOT NULL DEFAULT 0,"
    " reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    " cost_microdollars INTEGER,"
    " cost_status TEXT NOT NULL DEFAULT '',"
    " cost_source TEXT NOT NULL DEFAULT '',"
    " occurred_at TEXT,"
    " dedup_key TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX idx_messages_session_ordinal ON messages(session_id, ordinal);"
    "CREATE INDEX idx_messages_velocity"
    " ON messages(session_id, ordinal, role, timestamp, content_length);"
    "CREATE INDEX idx_messages_session_role ON messages(session_id, role);"
    "CREATE INDEX idx_tool_calls_session ON tool_calls(session_id);"
    "CREATE INDEX idx_tool_calls_session_category ON tool_calls(session_id, category);"
    "CREATE INDEX idx_tool_calls_message ON tool_calls(message_id);"
    "CREATE INDEX idx_tool_result_events_session ON tool_result_events(session_id);"
    "CREATE INDEX idx_tool_result_events_call"
    " ON tool_result_events(session_id, tool_call_message_ordinal, call_index, event_index);"
    "CREATE INDEX idx_usage_events_session ON usage_events(session_id);"
    "CREATE UNIQUE INDEX idx_usage_events_dedup"
    " ON usage_events(session_id, source, dedup_key) WHERE dedup_key != '';"
    "CREATE INDEX idx_sessions_file_path ON sessions(file_path) WHERE file_path IS NOT NULL;"
    "CREATE INDEX idx_sessions_parent ON sessions(parent_session_id);";

/*
 * Columns parsediff needs. Every open requires the read columns. Only a
 * CREATE (read-write) open requires the write-only columns, so a report-only
 * diff still works on an archive that lacks them.
 */
typedef struct required_table {
    const char *table;
    const char *const *read_columns;
    const char *const *write_columns;
} required_table;

/* clang-format off */
static const char *const session_read_columns[] = {
    "id", "project", "machine", "agent", "agent_label", "entrypoint", "session_kind",
    "first_message", "session_name", "started_at", "ended_at", "message_count",
    "user_message_count", "file_path", "file_size", "file_mtime", "file_inode", "file_device",
    "file_hash", "next_ordinal", "last_entry_uuid", "claude_linear_parse", "parent_session_id",
    "relationship_type", "total_output_tokens", "peak_context_tokens", "has_total_output_tokens",
    "has_peak_context_tokens", "cwd", "git_branch", "source_session_id", "source_version",
    "transcript_fidelity", "parser_malformed_lines", "is_truncated", "termination_status",
    "data_version", "last_write_incremental", "deleted_at", "created_at", NULL};
static const char *const session_write_columns[] = {
    "parser_parent_session_id", "local_modified_at", "transcript_revision",
    "secrets_rules_version", "quality_signal_version", NULL};
static const char *const message_columns[] = {
    "id", "session_id", "ordinal", "role", "content", "thinking_text", "timestamp",
    "has_thinking", "has_tool_use", "content_length", "is_system", "model", "token_usage",
    "context_tokens", "output_tokens", "has_context_tokens", "has_output_tokens",
    "claude_message_id", "claude_request_id", "source_type", "source_subtype", "prompt_source",
    "source_uuid", "source_parent_uuid", "is_sidechain", "is_compact_boundary", NULL};
static const char *const call_columns[] = {
    "id", "message_id", "session_id", "tool_name", "category", "tool_use_id", "input_json",
    "skill_name", "result_content_length", "result_content", "subagent_session_id", "file_path",
    "call_index", NULL};
static const char *const event_columns[] = {
    "id", "session_id", "tool_call_message_ordinal", "call_index", "tool_use_id", "agent_id",
    "subagent_session_id", "source", "status", "content", "content_length", "timestamp",
    "event_index", NULL};
static const char *const usage_columns[] = {
    "id", "session_id", "message_ordinal", "source", "model", "input_tokens", "output_tokens",
    "cache_creation_input_tokens", "cache_read_input_tokens", "reasoning_tokens", "occurred_at",
    "dedup_key", NULL};
static const char *const no_columns[] = {NULL};
/* clang-format on */

static const required_table required_tables[] = {
    {"sessions", session_read_columns, session_write_columns},
    {"messages", message_columns, no_columns},
    {"tool_calls", call_columns, no_columns},
    {"tool_result_events", event_columns, no_columns},
    {"usage_events", usage_columns, no_columns},
};

/* ---- shared helpers ---------------------------------------------------- */

/* Returns a malloc'd path + suffix (an archive's "-wal" or "-shm" file), or NULL. */
static char *companion_path(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    char *name = malloc(n + m + 1);
    if (name == NULL)
        return NULL;
    memcpy(name, path, n);
    memcpy(name + n, suffix, m + 1);
    return name;
}

/* True when path + suffix exists and this process cannot write it. */
static bool companion_unwritable(const char *path, const char *suffix)
{
    char *name = companion_path(path, suffix);
    if (name == NULL)
        return false;
    bool unwritable = access(name, F_OK) == 0 && access(name, W_OK) != 0;
    free(name);
    return unwritable;
}

/* Returns the size of path + suffix, or -1. */
static int64_t companion_size(const char *path, const char *suffix)
{
    char *name = companion_path(path, suffix);
    struct stat st;
    int64_t size = name != NULL && stat(name, &st) == 0 ? (int64_t)st.st_size : -1;
    free(name);
    return size;
}

/*
 * Fills cause when the archive's files cannot grow: one of them is at the
 * process's file size limit (RLIMIT_FSIZE), or the file system has less
 * than a megabyte left for this user. Returns false otherwise.
 */
static bool no_room_cause(const pd_archive *a, pd_err *cause)
{
    static const char *const files[] = {"", "-wal", "-shm"};
    static const char *const nouns[] = {"the archive", "its -wal file", "its -shm file"};
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        /* SQLite writes a page (at most 64 KiB) or a WAL frame at a time, so the
         * file whose write failed is the largest, and ends that close to the limit. */
        const int64_t slack = 128 << 10;
        size_t largest = 0;
        int64_t largest_size = -1;
        for (size_t i = 0; i < 3; i++) {
            int64_t size = companion_size(a->path, files[i]);
            if (size > largest_size) {
                largest = i;
                largest_size = size;
            }
        }
        if (largest_size >= 0 && largest_size + slack > (int64_t)limit.rlim_cur) {
            pd_err_set(cause, PD_ESQLITE,
                       "%s has reached this process's file size limit (%lld bytes); raise it "
                       "(ulimit -f) and run again",
                       nouns[largest], (long long)limit.rlim_cur);
            return true;
        }
    }
    char *copy = strdup(a->path);
    if (copy == NULL)
        return false;
    struct statvfs fs;
    bool full = statvfs(dirname(copy), &fs) == 0 &&
                (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize < ((uint64_t)1 << 20);
    free(copy);
    if (full)
        pd_err_set(cause, PD_ESQLITE,
                   "the file system of the archive is full; free space on it and run again");
    return full;
}

/*
 * Fills cause with the file or directory a writer cannot write and what to
 * do, and returns true. Returns false when every file sync needs is
 * writable, and the caller then keeps SQLite's own message alone.
 */
static bool unwritable_cause(const pd_archive *a, pd_err *cause)
{
    static const char *const companions[] = {"-wal", "-shm"};
    char noun[PATH_MAX + 32];
    bool is_dir = false;
    int errnum = 0;

    noun[0] = '\0';
    if (access(a->path, F_OK) == 0 && access(a->path, W_OK) != 0) {
        errnum = errno;
        snprintf(noun, sizeof noun, "the archive");
    }
    for (size_t i = 0; noun[0] == '\0' && i < 2; i++) {
        if (companion_unwritable(a->path, companions[i])) {
            errnum = errno;
            snprintf(noun, sizeof noun, "its %s file", companions[i]);
        }
    }
    if (noun[0] == '\0') {
        char *copy = strdup(a->path);
        if (copy == NULL)
            return false;
        /* dirname() may return a static "." instead of changing copy. */
        const char *parent = dirname(copy);
        bool writable = access(parent, W_OK) == 0;
        errnum = errno;
        snprintf(noun, sizeof noun, "the directory %s", parent);
        free(copy);
        if (writable)
            return false;
        is_dir = true;
    }

    if (is_dir && errnum == ENOENT)
        pd_err_set(cause, PD_ESQLITE, "%s does not exist, so create it or pass another --db", noun);
    else if (errnum == EROFS)
        pd_err_set(cause, PD_ESQLITE,
                   "%s is on a read-only file system, so pass a --db on a writable one", noun);
    else if (is_dir)
        pd_err_set(cause, PD_ESQLITE,
                   "%s is not writable (%s); sync creates the archive and its -wal and -shm "
                   "files there, so pass a --db in a writable directory",
                   noun, strerror(errnum));
    else
        pd_err_set(cause, PD_ESQLITE,
                   "%s is not writable (%s); sync needs write access to it, so check its owner "
                   "and mode",
                   noun, strerror(errnum));
    return true;
}

int archive_sqlite_fail(pd_archive *a, int rc, const char *operation, pd_err *err)
{
    const char *path = a != NULL && a->path != NULL ? a->path : "(archive)";
    const char *detail = a != NULL && a->db != NULL ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc);
    int primary = rc & 0xff;
    if (a != NULL)
        a->last_error = primary;

    if (primary == SQLITE_NOMEM)
        return pd_err_set(err, PD_ENOMEM, "%s: cannot %s: out of memory", path, operation);
    if (primary == SQLITE_NOTADB)
        return pd_err_set(err, PD_ESQLITE,
                          "%s: cannot %s: the file is not an SQLite database; check the archive "
                          "path",
                          path, operation);
    if (primary == SQLITE_CORRUPT)
        return pd_err_set(err, PD_ESQLITE,
                          "%s: cannot %s: the archive is corrupt (%s); restore it from a backup",
                          path, operation, detail);
    if (primary == SQLITE_BUSY && a != NULL && a->busy_cancelled) {
        a->busy_cancelled = false;
        return pd_err_set(err, PD_ECANCELED,
                          "%s: cannot %s: stopped while another connection held the lock", path,
                          operation);
    }
    if (primary == SQLITE_BUSY)
        return pd_err_set(err, PD_ESQLITE,
                          "%s: %s timed out: another connection held the lock for %d s", path,
                          operation, ARCHIVE_BUSY_TIMEOUT_MS / 1000);
    /* SQLite's messages "unable to open database file" and "attempt to write a
     * readonly database" do not name the file it could not write. */
    int sys = a != NULL && a->db != NULL ? sqlite3_system_errno(a->db) : 0;
    /* A new file in a directory without write permission ends in ENOENT: SQLite
     * retries the open read-only after EACCES. */
    bool denied = (primary == SQLITE_CANTOPEN &&
                   (sys == EACCES || sys == EPERM || sys == EROFS || sys == ENOENT)) ||
                  rc == SQLITE_READONLY || rc == SQLITE_READONLY_DIRECTORY ||
                  rc == SQLITE_READONLY_CANTINIT;
    pd_err cause = {0};
    if (denied && a->path != NULL && a->flags == PD_ARCHIVE_CREATE && unwritable_cause(a, &cause))
        return pd_err_set(err, PD_ESQLITE, "%s: cannot %s: %s; %s", path, operation, detail,
                          cause.msg);
    /* SQLite's "disk I/O error" does not say why a write failed, and the
     * errno it keeps may come from a later call. */
    if ((primary == SQLITE_IOERR || primary == SQLITE_FULL) && a->path != NULL &&
        a->flags == PD_ARCHIVE_CREATE && no_room_cause(a, &cause))
        return pd_err_set(err, PD_ESQLITE, "%s: cannot %s: %s; %s", path, operation, detail,
                          cause.msg);
    return pd_err_set(err, PD_ESQLITE, "%s: cannot %s: %s", path, operation, detail);
}

int archive_stmt(pd_archive *a, archive_stmt_id id, const char *sql, sqlite3_stmt **out,
                 pd_err *err)
{
    *out = a->stmts[id];
    if (*out != NULL)
        return PD_OK;

    int rc = sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return archive_sqlite_fail(a, rc, "prepare statement", err);
    }
    a->stmts[id] = *out;
    return PD_OK;
}

void archive_stmt_done(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

int archive_exec(pd_archive *a, const char *sql, const char *operation, pd_err *err)
{
    int rc = sqlite3_exec(a->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return archive_sqlite_fail(a, rc, operation, err);
    return PD_OK;
}

int archive_exec_cached(pd_archive *a, archive_stmt_id id, const char *sql, const char *operation,
                        pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, id, sql, &st, err);
    if (rc != PD_OK)
        return rc;

    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        return archive_sqlite_fail(a, step, operation, err);
    return PD_OK;
}

int archive_require_writable(pd_archive *a, const char *op, pd_err *err)
{
    if ((a->flags & PD_ARCHIVE_CREATE) != 0)
        return PD_OK;
    return pd_err_set(err, PD_EREADONLY, "%s: %s rejected: the archive was opened read-only",
                      a->path, op);
}

int archive_bind_text(sqlite3_stmt *stmt, int index, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, s, -1, SQLITE_STATIC);
}

int archive_bind_text_or_null(sqlite3_stmt *stmt, int index, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, s, -1, SQLITE_STATIC);
}

int archive_bind_text_or_empty(sqlite3_stmt *stmt, int index, const char *s)
{
    return sqlite3_bind_text(stmt, index, s != NULL ? s : "", -1, SQLITE_STATIC);
}

int archive_bind_int_or_null(sqlite3_stmt *stmt, int index, int64_t v)
{
    if (v == PD_INT_NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_int64(stmt, index, v);
}

char *archive_column_text(sqlite3_stmt *stmt, int col, pd_arena *arena, bool *failed)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    char *copy = pd_arena_strndup(arena, s != NULL ? s : "", n);
    if (copy == NULL)
        *failed = true;
    return copy;
}

char *archive_column_text_or_empty(sqlite3_stmt *stmt, int col, pd_arena *arena, bool *failed)
{
    const char *s = (const char *)sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    char *copy = pd_arena_strndup(arena, s != NULL ? s : "", s != NULL ? n : 0);
    if (copy == NULL)
        *failed = true;
    return copy;
}

int64_t archive_column_int_or_null(sqlite3_stmt *stmt, int col)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return PD_INT_NULL;
    return sqlite3_column_int64(stmt, col);
}

/* One more than the value of each hex digit; 0 for every other byte. */
static const uint8_t hex_value_plus_one[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Without a branch per digit: random hex digits mispredicted a digit/letter
 * test so often that the decode took about a tenth of the snapshot's time. */
bool archive_decode_hash(const unsigned char *hex, size_t n, uint8_t out[32])
{
    if (hex == NULL || n != 64)
        return false;
    unsigned missing = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned hi = hex_value_plus_one[hex[2 * i]];
        unsigned lo = hex_value_plus_one[hex[2 * i + 1]];
        missing |= (hi == 0) | (lo == 0);
        out[i] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 15));
    }
    return missing == 0;
}

/* Copies a text column with copy; NULL column -> NULL, copy failure -> *failed. */
static const char *copy_column(sqlite3_stmt *stmt, int col, archive_copy_fn copy, void *ctx,
                               bool empty_is_null, bool *failed)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    if (s == NULL) {
        *failed = true;
        return NULL;
    }
    if (n == 0 && empty_is_null)
        return NULL;
    const char *out = copy(ctx, s, n);
    if (out == NULL)
        *failed = true;
    return out;
}

bool archive_decode_row(sqlite3_stmt *stmt, pd_stored_row *row, archive_copy_fn copy,
                        archive_copy_fn copy_repeated, void *ctx)
{
    bool failed = false;

    memset(row, 0, sizeof *row);
    row->id = copy_column(stmt, 0, copy, ctx, false, &failed);
    row->agent = copy_column(stmt, 1, copy_repeated, ctx, false, &failed);
    row->file_path = copy_column(stmt, 2, copy, ctx, true, &failed);
    row->session_name = copy_column(stmt, 3, copy, ctx, false, &failed);
    row->relationship_type = copy_column(stmt, 4, copy_repeated, ctx, false, &failed);
    row->file_size = archive_column_int_or_null(stmt, 5);
    row->file_mtime = archive_column_int_or_null(stmt, 6);
    row->file_inode = archive_column_int_or_null(stmt, 7);
    row->file_device = archive_column_int_or_null(stmt, 8);
    row->data_version = sqlite3_column_int64(stmt, 9);
    row->message_count = sqlite3_column_int64(stmt, 10);
    row->next_ordinal = sqlite3_column_int64(stmt, 11);

    /* An empty hash is stored NULL by writers; treat both as "no hash". */
    if (sqlite3_column_type(stmt, 12) != SQLITE_NULL) {
        const unsigned char *hex = sqlite3_column_text(stmt, 12);
        size_t n = (size_t)sqlite3_column_bytes(stmt, 12);
        if (n > 0) {
            row->has_hash = archive_decode_hash(hex, n, row->file_hash);
            row->is_file_hash_invalid = !row->has_hash;
        }
    }
    row->is_trashed = sqlite3_column_int64(stmt, 13) != 0;
    row->last_write_incremental = sqlite3_column_int64(stmt, 14) != 0;
    row->rowid = sqlite3_column_int64(stmt, 15);
    return !failed;
}

/* ---- opening ----------------------------------------------------------- */

/* Appends "sep item" to a fixed message buffer, marking truncation with "...". */
static void append_item(char *buf, size_t cap, size_t *len, const char *sep, const char *item)
{
    if (*len + 4 >= cap)
        return;
    int n = snprintf(buf + *len, cap - *len, "%s%s", *len > 0 ? sep : "", item);
    if (n < 0)
        return;
    if ((size_t)n >= cap - *len) {
        *len = cap - 1;
        memcpy(buf + cap - 4, "...", 4);
        return;
    }
    *len += (size_t)n;
}

/* Sets *present to whether table exists in the main schema. */
static int table_exists(pd_archive *a, const char *table, bool *present, pd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        a->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        *present = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = archive_sqlite_fail(a, rc, "read the schema", err);
    sqlite3_finalize(stmt);
    return rc;
}

int archive_table_columns(pd_archive *a, const char *table, bool ordinary_only, char ***out,
                          size_t *count, pd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int result = PD_OK;

    /* hidden is 1 for a hidden column of a virtual table, 2 or 3 for a generated one. */
    const char *sql = ordinary_only ? "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0"
                                    : "SELECT name FROM pragma_table_xinfo(?1)";
    int rc = sqlite3_prepare_v2(a->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            size_t new_cap = cap == 0 ? 32 : cap * 2;
            char **grown = realloc(names, new_cap * sizeof *grown);
            if (grown == NULL) {
                result = pd_err_set(err, PD_ENOMEM, "%s: read columns of %s: out of memory",
                                    a->path, table);
                goto cleanup;
            }
            names = grown;
            cap = new_cap;
        }
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        names[n] = strdup(name != NULL ? name : "");
        if (names[n] == NULL) {
            result =
                pd_err_set(err, PD_ENOMEM, "%s: read columns of %s: out of memory", a->path, table);
            goto cleanup;
        }
        n++;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        result = archive_sqlite_fail(a, rc, "read the schema", err);

cleanup:
    sqlite3_finalize(stmt);
    if (result != PD_OK) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return result;
    }
    *out = names;
    *count = n;
    return PD_OK;
}

bool archive_contains_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Appends "table.column" for each required column the table lacks, except ignored. */
static void note_missing_columns(const char *table, const char *const *required, char *const *names,
                                 size_t n, const char *ignored, char *buf, size_t cap, size_t *len)
{
    char item[160];
    for (size_t i = 0; required[i] != NULL; i++) {
        if (archive_contains_name(names, n, required[i]) ||
            (ignored != NULL && strcmp(required[i], ignored) == 0))
            continue;
        snprintf(item, sizeof item, "%s.%s", table, required[i]);
        append_item(buf, cap, len, ", ", item);
    }
}

static int first_table(pd_archive *a, char **name, pd_err *err);

/*
 * Checks every required table and column, except the column ignored (may be
 * NULL); PD_ESCHEMA names each one missing.
 */
static int check_columns(pd_archive *a, const char *ignored, pd_err *err)
{
    char missing_tables[PD_ERR_MSG_MAX] = "";
    char missing_columns[PD_ERR_MSG_MAX] = "";
    size_t tables_len = 0, columns_len = 0, n_missing_tables = 0;
    const size_t n_required = sizeof required_tables / sizeof required_tables[0];
    bool writable = (a->flags & PD_ARCHIVE_CREATE) != 0;

    for (size_t t = 0; t < n_required; t++) {
        const required_table *req = &required_tables[t];
        char **names = NULL;
        size_t n = 0;
        int rc = archive_table_columns(a, req->table, false, &names, &n, err);
        if (rc != PD_OK)
            return rc;

        if (n == 0) {
            n_missing_tables++;
            append_item(missing_tables, sizeof missing_tables, &tables_len, ", ", req->table);
        } else {
            note_missing_columns(req->table, req->read_columns, names, n, ignored, missing_columns,
                                 sizeof missing_columns, &columns_len);
            if (writable)
                note_missing_columns(req->table, req->write_columns, names, n, ignored,
                                     missing_columns, sizeof missing_columns, &columns_len);
        }
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }

    if (tables_len == 0 && columns_len == 0)
        return PD_OK;
    /* A sync creates every table in one transaction, so none at all means
     * an empty file, or one whose first sync has not committed yet. */
    if (n_missing_tables == n_required) {
        /* Tables of another kind mean another program's database, not a sync still running. */
        char *first = NULL;
        pd_err read_err = {0};
        if (first_table(a, &first, &read_err) == PD_OK && first != NULL) {
            pd_err_set(err, PD_ESCHEMA,
                       "%s: is an SQLite database of something else (it has a table \"%s\" and "
                       "none of the archive's); give an archive as --db",
                       a->path, first);
            free(first);
            return PD_ESCHEMA;
        }
        free(first);
        return pd_err_set(err, PD_ESCHEMA,
                          "%s: the file has no archive tables yet; if a sync is creating the "
                          "archive, wait for it to finish, otherwise run sync first",
                          a->path);
    }
    if (tables_len > 0 && columns_len > 0)
        return pd_err_set(err, PD_ESCHEMA, "%s: missing tables: %s; missing columns: %s", a->path,
                          missing_tables, missing_columns);
    if (tables_len > 0)
        return pd_err_set(err, PD_ESCHEMA, "%s: missing tables: %s", a->path, missing_tables);
    if (!writable && strcmp(missing_columns, "sessions.last_write_incremental") == 0)
        return pd_err_set(err, PD_ESCHEMA,
                          "%s: missing columns: %s; the archive predates that column, and one "
                          "parsediff sync adds it without changing any row (run it on a copy "
                          "to keep this archive as it is)",
                          a->path, missing_columns);
    return pd_err_set(err, PD_ESCHEMA,
                      "%s: missing columns: %s; an older version of the archiver wrote this "
                      "archive, so upgrade it with a current version of that archiver first",
                      a->path, missing_columns);
}

static int read_user_version(pd_archive *a, pd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(a->db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            a->user_version = sqlite3_column_int64(stmt, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK)
        return archive_sqlite_fail(a, rc, "read the archive header", err);
    return PD_OK;
}

/*
 * Creates every table and index in one transaction and stamps user_version,
 * unless another connection created the schema while this one waited for
 * the write lock (two syncs starting on a new archive).
 */
static int create_schema(pd_archive *a, pd_err *err)
{
    char version_sql[64];
    bool has_sessions = false;
    int rc = archive_exec(a, "BEGIN IMMEDIATE", "create the schema", err);
    if (rc != PD_OK)
        return rc;
    rc = table_exists(a, "sessions", &has_sessions, err);
    if (rc == PD_OK && has_sessions) {
        rc = archive_exec(a, "COMMIT", "create the schema", err);
        return rc == PD_OK ? read_user_version(a, err) : rc;
    }
    if (rc == PD_OK)
        rc = archive_exec(a, schema_sql, "create the schema", err);
    if (rc == PD_OK) {
        snprintf(version_sql, sizeof version_sql, "PRAGMA user_version = %d", PD_DATA_VERSION);
        rc = archive_exec(a, version_sql, "stamp the schema version", err);
    }
    if (rc == PD_OK)
        rc = archive_exec(a, "COMMIT", "create the schema", err);
    if (rc != PD_OK) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    a->user_version = PD_DATA_VERSION;
    return PD_OK;
}

static pthread_once_t sqlite_config_once = PTHREAD_ONCE_INIT;

/*
 * Turns off SQLite's memory statistics, which take one process-wide mutex
 * on every allocation and so serialise the diff workers' connections.
 * SQLite rejects the call (SQLITE_MISUSE) once it is initialised.
 */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/*
 * SQLite's busy handler: called with count 0 when a lock is first refused
 * and again after each sleep; returning 0 fails the statement with
 * SQLITE_BUSY. It sleeps in steps of at most ARCHIVE_BUSY_STEP_MS until
 * ARCHIVE_BUSY_TIMEOUT_MS have passed, and gives up at once when the
 * connection's cancel flag is set, so an interrupted sync does not sit out
 * another writer's transaction. A signal cuts a sleep short (nanosleep() is
 * not restarted), and the next call reads the flag.
 */
static int archive_busy(void *ctx, int count)
{
    pd_archive *a = ctx;
    int64_t now = pd_monotonic_ns();
    if (count == 0) {
        a->busy_since_ns = now;
        a->busy_cancelled = false;
    }
    if (a->cancel != NULL && atomic_load_explicit(a->cancel, memory_order_relaxed)) {
        a->busy_cancelled = true;
        return 0;
    }
    int64_t waited_ms = (now - a->busy_since_ns) / 1000000;
    if (waited_ms >= ARCHIVE_BUSY_TIMEOUT_MS)
        return 0;
    if (!a->busy_noted && waited_ms >= ARCHIVE_BUSY_NOTICE_MS) {
        a->busy_noted = true;
        PD_LOG(PD_LOG_WARN,
               "%s: waiting for another process to finish its write (up to %d s in all)", a->path,
               ARCHIVE_BUSY_TIMEOUT_MS / 1000);
    }
    int64_t step = ARCHIVE_BUSY_TIMEOUT_MS - waited_ms;
    if (step > ARCHIVE_BUSY_STEP_MS)
        step = ARCHIVE_BUSY_STEP_MS;
    /* The first steps are short, as in SQLite's own timeout, because most locks are held briefly.
     */
    if (count < 5 && step > 1 + count * 2)
        step = 1 + count * 2;
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)step * 1000000};
    nanosleep(&pause, NULL);
    return 1;
}

void pd_archive_global_init(void)
{
    pthread_once(&sqlite_config_once, configure_sqlite);
}

/*
 * Switches the archive to WAL mode. When two processes switched the same
 * new file, SQLite often returned SQLITE_BUSY to one of them within
 * milliseconds, without waiting for the busy timeout. So this retries in
 * 5 ms sleeps until that timeout.
 */
static int switch_to_wal(pd_archive *a, pd_err *err)
{
    const int64_t deadline = pd_monotonic_ns() + (int64_t)ARCHIVE_BUSY_TIMEOUT_MS * 1000000;
    for (;;) {
        int rc = sqlite3_exec(a->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || pd_monotonic_ns() >= deadline)
            return rc == SQLITE_OK ? PD_OK : archive_sqlite_fail(a, rc, "switch to WAL mode", err);
        const struct timespec pause = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/*
 * Sets *name to "sessions" when the main schema has that table, else to its
 * first table by name, else to NULL (a malloc'd copy). One statement reads
 * one state of the file, so a sync creating the schema meanwhile is seen
 * before or after, never half done.
 */
static int first_table(pd_archive *a, char **name, pd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    *name = NULL;
    int rc = sqlite3_prepare_v2(a->db,
                                "SELECT name FROM sqlite_master WHERE type = 'table'"
                                " AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
                                " ORDER BY name <> 'sessions', name LIMIT 1",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            *name = strdup((const char *)sqlite3_column_text(stmt, 0));
            rc = *name != NULL ? SQLITE_OK : SQLITE_NOMEM;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = archive_sqlite_fail(a, rc, "read the schema", err);
    sqlite3_finalize(stmt);
    return rc;
}

/*
 * Sets *had_sessions, and rejects a file that contains tables but no
 * sessions table. Such a file belongs to another program, and creating the
 * archive schema in it (or switching it to WAL mode) would change it.
 */
static int reject_other_tables(pd_archive *a, bool *had_sessions, pd_err *err)
{
    char *first = NULL;
    int rc = first_table(a, &first, err);
    *had_sessions = first != NULL && strcmp(first, "sessions") == 0;
    if (rc == PD_OK && first != NULL && !*had_sessions)
        rc = pd_err_set(err, PD_ESCHEMA,
                        "%s: is an SQLite database of something else (it has a table \"%s\" and no "
                        "sessions table); pass a new file or an existing archive as --db",
                        a->path, first);
    free(first);
    return rc;
}

/* Sets *present to whether sessions has the column last_write_incremental. */
static int has_incremental_marker(pd_archive *a, bool *present, pd_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = archive_table_columns(a, "sessions", false, &names, &n, err);
    if (rc != PD_OK)
        return rc;
    *present = n == 0 || archive_contains_name(names, n, "last_write_incremental");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return PD_OK;
}

/*
 * Archives written before sessions.last_write_incremental existed get the
 * column as the reference archiver adds it: NOT NULL DEFAULT 0, so every
 * older row reads as written in full, and no data version changes.
 */
static int add_incremental_marker(pd_archive *a, pd_err *err)
{
    bool present = false;
    int rc = has_incremental_marker(a, &present, err);
    if (rc != PD_OK || present)
        return rc;
    /* Checked again under the write lock: another sync may have added it. */
    rc = archive_exec(a, "BEGIN IMMEDIATE", "add the column sessions.last_write_incremental", err);
    if (rc == PD_OK)
        rc = has_incremental_marker(a, &present, err);
    if (rc == PD_OK && !present)
        rc = archive_exec(a,
                          "ALTER TABLE sessions ADD COLUMN last_write_incremental INTEGER NOT NULL"
                          " DEFAULT 0",
                          "add the column sessions.last_write_incremental", err);
    if (rc == PD_OK)
        rc = archive_exec(a, "COMMIT", "add the column sessions.last_write_incremental", err);
    if (rc != PD_OK)
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Sets up a read-write connection: WAL, foreign keys, schema when absent. */
static int prepare_writable(pd_archive *a, pd_err *err)
{
    /* Nothing in the file changes until it is known to be empty or an archive
     * that lacks at most the column added below. */
    bool had_sessions = false;
    int rc = reject_other_tables(a, &had_sessions, err);
    if (rc == PD_OK && had_sessions)
        rc = check_columns(a, "last_write_incremental", err);
    if (rc == PD_OK)
        rc = switch_to_wal(a, err);
    /* In WAL mode NORMAL skips the fsync at each commit, and sync commits once
     * per source. A killed process loses nothing. A power cut can lose the
     * last commits but never leaves a torn session, because each source is
     * still one transaction. */
    if (rc == PD_OK)
        rc = archive_exec(a, "PRAGMA synchronous = NORMAL", "set synchronous mode", err);
    if (rc == PD_OK)
        rc = archive_exec(a, "PRAGMA foreign_keys = ON", "enable foreign keys", err);
    if (rc != PD_OK)
        return rc;

    bool has_sessions = false;
    rc = table_exists(a, "sessions", &has_sessions, err);
    if (rc == PD_OK && !has_sessions)
        rc = create_schema(a, err);
    else if (rc == PD_OK)
        rc = add_incremental_marker(a, err);
    if (rc != PD_OK)
        return rc;

    /* Forks a transcript no longer contains are marked deleted with a cause only
     * where the archive has the column for it. */
    char **columns = NULL;
    size_t n_columns = 0;
    rc = archive_table_columns(a, "sessions", false, &columns, &n_columns, err);
    if (rc != PD_OK)
        return rc;
    a->has_deletion_cause = archive_contains_name(columns, n_columns, "deletion_cause");
    for (size_t i = 0; i < n_columns; i++)
        free(columns[i]);
    free(columns);

    /* agentsview lists permanently deleted ids here so that sync skips them. */
    bool has_excluded = false;
    rc = table_exists(a, "excluded_sessions", &has_excluded, err);
    if (rc == PD_OK && has_excluded) {
        char **names = NULL;
        size_t n = 0;
        rc = archive_table_columns(a, "excluded_sessions", false, &names, &n, err);
        if (rc == PD_OK) {
            a->has_excluded_table = archive_contains_name(names, n, "id");
            for (size_t i = 0; i < n; i++)
                free(names[i]);
            free(names);
        }
    }
    if (rc == PD_OK)
        rc = archive_pins_prepare(a, err);
    return rc;
}

/* True when probe, a query of a table's rowid, compiles: the table was not
 * declared WITHOUT ROWID. */
static bool has_rowid(sqlite3 *db, const char *probe)
{
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(db, probe, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

/* True when this process may create files in the directory of path. */
static bool directory_writable(const char *path)
{
    char *copy = strdup(path);
    bool writable = copy == NULL || access(dirname(copy), W_OK) == 0;
    free(copy);
    return writable;
}

/*
 * True when path has no -wal file, or an empty one (a read-only diff
 * leaves one), so the WAL contains no write and an immutable read returns
 * every committed one.
 */
static bool wal_file_empty(const char *path)
{
    char *wal = companion_path(path, "-wal");
    if (wal == NULL)
        return false;
    struct stat st;
    bool empty = stat(wal, &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode) && st.st_size == 0;
    free(wal);
    return empty;
}

/* "file:" URI of path with immutable=1, with '%', '?' and '#' escaped. */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *uri = malloc(3 * n + 32);
    if (uri == NULL)
        return NULL;
    /* An absolute path gets an empty authority, so "//x" stays a path. */
    size_t len = (size_t)sprintf(uri, "%s", path[0] == '/' ? "file://" : "file:");
    for (const char *p = path; *p != '\0'; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            len += (size_t)sprintf(uri + len, "%%%02X", (unsigned char)*p);
        else
            uri[len++] = *p;
    }
    memcpy(uri + len, "?immutable=1", sizeof "?immutable=1");
    return uri;
}

/* Reopens a as immutable, and logs a warning the first time in the process. */
static int reopen_immutable(pd_archive *a, pd_err *err)
{
    static atomic_bool warned;
    char *uri = immutable_uri(a->path);
    if (uri == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: open archive: out of memory", a->path);
    sqlite3_close_v2(a->db);
    a->db = NULL;
    int src = sqlite3_open_v2(
        uri, &a->db,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    free(uri);
    if (src != SQLITE_OK)
        return archive_sqlite_fail(a, src, "open archive", err);
    if (!atomic_exchange(&warned, true))
        PD_LOG(PD_LOG_WARN,
               "%s: its directory is not writable, so SQLite cannot create or open the -shm "
               "file a reader needs; reading it as an unchanging file instead. Do not sync it "
               "while this runs",
               a->path);
    return read_user_version(a, err);
}

/*
 * Opens a WAL archive in a directory this process cannot write (a read-only
 * mount, another user's directory), where SQLite cannot create the -shm
 * file a WAL reader needs. Without a -wal file, or with an empty one, it
 * reads the archive as immutable, else it fails with the cause and the fix. err contains only
 * the failure of the first read, which this replaces.
 */
static int open_in_readonly_directory(pd_archive *a, pd_err *err)
{
    /* SQLite puts the -wal and -shm files beside the file a link names. */
    const char *real = a->real_path != NULL ? a->real_path : a->path;
    if (directory_writable(real))
        return PD_ESQLITE; /* err already contains SQLite's reason */
    pd_err_clear(err);     /* replaces SQLite's "unable to open database file" */
    if (wal_file_empty(real))
        return reopen_immutable(a, err);
    return pd_err_set(err, PD_ESQLITE,
                      "%s: cannot be read here: a -wal file contains recent writes, and SQLite "
                      "must create the -shm file beside it, but the directory is not writable. "
                      "Run sync once where it is writable, or copy the archive with its -wal "
                      "file to a writable directory",
                      a->path);
}

/*
 * True when the companion file of real_path is missing, or is a regular
 * file (not a link) that its owner may write: the state that
 * restore_owner_write() brings back after SQLite changed the mode.
 */
static bool companion_restorable(const char *real_path, const char *suffix)
{
    char *name = companion_path(real_path, suffix);
    struct stat st;
    bool restorable = false;
    if (name != NULL) {
        if (lstat(name, &st) != 0)
            restorable = errno == ENOENT;
        else
            restorable = S_ISREG(st.st_mode) && (st.st_mode & S_IWUSR) != 0;
    }
    free(name);
    return restorable;
}

/*
 * SQLite gives the -wal and -shm files it creates the archive's mode, and
 * each read-only open sets an empty -wal back to that mode. For an archive
 * its owner made read-only (chmod 444 to guard it during a diff, say), the
 * two files would stay read-only after the archive is made writable again,
 * and the next sync would fail on them. A sync that fails on such an
 * archive leaves them the same way. So closing an archive gives the
 * owner's write bit back to a companion that was missing or writable at
 * the open, when this user (or, for root, the archive's owner) owns it and
 * it has no other name. A link is
 * never followed. The file is reached through an O_PATH descriptor,
 * because closing an ordinary one would release every fcntl() lock this
 * process holds on it, and SQLite's other connections keep theirs on the
 * -shm file.
 */
static void restore_owner_write(const char *real_path, const char *suffix, uid_t archive_owner)
{
    char *name = companion_path(real_path, suffix);
    if (name == NULL)
        return;
    int fd = open(name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    free(name);
    if (fd < 0)
        return;
    struct stat st;
    /* Run as root, SQLite gives the files it creates to the archive's owner. */
    uid_t user = geteuid() == 0 ? archive_owner : geteuid();
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == user &&
        (st.st_mode & S_IWUSR) == 0) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        (void)chmod(proc, (st.st_mode & 07777) | S_IWUSR);
    }
    close(fd);
}

int pd_archive_open(const char *path, int flags, pd_archive **out, pd_err *err)
{
    return pd_archive_open_cancellable(path, flags, NULL, out, err);
}

int pd_archive_open_cancellable(const char *path, int flags, const atomic_bool *cancel,
                                pd_archive **out, pd_err *err)
{
    pd_archive *a = NULL;
    int rc = PD_OK;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return pd_err_set(err, PD_EINVAL, "archive path is empty");
    if (flags != PD_ARCHIVE_READONLY && flags != PD_ARCHIVE_CREATE)
        return pd_err_set(err, PD_EINVAL, "%s: invalid open flags %d (expected READONLY or CREATE)",
                          path, flags);

    /* SQLite would report a missing file as a generic "unable to open". */
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (flags == PD_ARCHIVE_READONLY && !exists) {
        if (errno == ENOENT)
            return pd_err_set(err, PD_ENOENT,
                              "%s: archive not found; run sync first or pass the right --db", path);
        return pd_err_set(err, PD_EIO, "%s: cannot access archive: %s", path, strerror(errno));
    }
    /* SQLite would report a directory as a disk I/O error. */
    if (exists && S_ISDIR(st.st_mode))
        return pd_err_set(err, PD_EINVAL, "%s: is a directory; pass the archive file as --db",
                          path);

    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(path)) == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: open archive: out of memory", path);
        goto fail;
    }
    a->flags = flags;
    a->cancel = cancel;
    /* A new archive has no real path yet; its companions are beside path. */
    a->real_path = realpath(path, NULL);
    if (a->real_path == NULL)
        a->real_path = strdup(path);
    if (a->real_path == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: open archive: out of memory", path);
        goto fail;
    }
    struct stat archive_st;
    a->owner = stat(a->real_path, &archive_st) == 0 ? archive_st.st_uid : geteuid();
    a->restore_wal_write = companion_restorable(a->real_path, "-wal");
    a->restore_shm_write = companion_restorable(a->real_path, "-shm");

    pd_archive_global_init();
    int open_flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    open_flags |= flags == PD_ARCHIVE_READONLY ? SQLITE_OPEN_READONLY
                                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int src = sqlite3_open_v2(path, &a->db, open_flags, NULL);
    if (src != SQLITE_OK) {
        rc = archive_sqlite_fail(a, src, "open archive", err);
        goto fail;
    }
    sqlite3_busy_handler(a->db, archive_busy, a);

    /* The first read of the file: a non-SQLite or damaged header fails here.
     * A WAL reader that cannot create the -shm file fails with CANTOPEN
     * (EPERM) or READONLY_DIRECTORY (EACCES). */
    pd_err first_read = {0};
    rc = read_user_version(a, &first_read);
    int sqlite_rc = sqlite3_extended_errcode(a->db);
    if (rc != PD_OK && flags == PD_ARCHIVE_READONLY &&
        ((sqlite_rc & 0xff) == SQLITE_CANTOPEN || sqlite_rc == SQLITE_READONLY_DIRECTORY))
        rc = open_in_readonly_directory(a, &first_read);
    if (rc != PD_OK)
        pd_err_set(err, first_read.code != PD_OK ? first_read.code : rc, "%s", first_read.msg);
    if (rc == PD_OK && flags == PD_ARCHIVE_CREATE)
        rc = prepare_writable(a, err);
    if (rc == PD_OK)
        rc = check_columns(a, NULL, err);
    if (rc != PD_OK)
        goto fail;
    a->sessions_has_rowid = has_rowid(a->db, "SELECT rowid FROM sessions LIMIT 0");

    *out = a;
    return PD_OK;

fail:
    pd_archive_close(a);
    return rc;
}

void pd_archive_close(pd_archive *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(a->stmts[i]);
    if (a->db != NULL)
        sqlite3_close_v2(a->db);
    if (a->real_path != NULL && a->restore_wal_write)
        restore_owner_write(a->real_path, "-wal", a->owner);
    if (a->real_path != NULL && a->restore_shm_write)
        restore_owner_write(a->real_path, "-shm", a->owner);
    free(a->pin_save_sql);
    free(a->pin_insert_sql);
    free(a->real_path);
    free(a->path);
    free(a);
}

const char *pd_archive_path(const pd_archive *a)
{
    return a->path;
}

int pd_archive_set_cache_kib(pd_archive *a, int kib, pd_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib > 0 ? kib : 1);
    return archive_exec(a, sql, "set the page cache size", err);
}

int pd_archive_set_autocheckpoint(pd_archive *a, int pages, pd_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %d", pages > 0 ? pages : 1);
    return archive_exec(a, sql, "set the checkpoint interval", err);
}

bool pd_archive_cannot_write(const pd_archive *a)
{
    switch (a->last_error) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

int64_t pd_archive_user_version(const pd_archive *a)
{
    return a->user_version;
}
