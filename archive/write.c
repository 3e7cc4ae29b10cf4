/*
 * write.c -- sync writes: full replace, incremental append, title refresh.
 *
 * Entry points, in call order: pd_archive_begin(), then per session
 * pd_archive_write_session() / pd_archive_write_full() or
 * pd_archive_write_incremental() or pd_archive_set_session_name(), then
 * pd_archive_commit() or pd_archive_rollback(). Every write needs an archive
 * opened with PD_ARCHIVE_CREATE and returns PD_EREADONLY otherwise.
 *
 * Each write call is atomic on its own. Inside a caller's transaction it
 * runs in a savepoint that is rolled back on failure. Outside one it runs
 * in its own BEGIN IMMEDIATE transaction.
 *
 * Threading: one pd_archive per thread; see archive.h.
 */
#include "archive/archive_internal.h"

#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "common/log.h"
#include "common/normalize.h"
#include "common/timefmt.h"

/* ---- transactions ------------------------------------------------------ */

int pd_archive_begin(pd_archive *a, pd_err *err)
{
    int rc = archive_require_writable(a, "begin transaction", err);
    if (rc != PD_OK)
        return rc;
    /* pd_archive_cannot_write() speaks of failures in this transaction only. */
    a->last_error = SQLITE_OK;
    return archive_exec_cached(a, STMT_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE", "begin transaction",
                               err);
}

int pd_archive_commit(pd_archive *a, pd_err *err)
{
    int rc = archive_require_writable(a, "commit", err);
    if (rc != PD_OK)
        return rc;
    return archive_exec_cached(a, STMT_COMMIT, "COMMIT", "commit", err);
}

void pd_archive_rollback(pd_archive *a)
{
    if (a == NULL || a->db == NULL || sqlite3_get_autocommit(a->db))
        return;
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
}

/* How one write call made itself atomic; see write_start(). */
typedef enum write_scope { SCOPE_TRANSACTION, SCOPE_SAVEPOINT } write_scope;

/*
 * Opens a savepoint inside the caller's transaction, or a transaction of its
 * own. These statements run for every session written, so they are prepared
 * once, like the row statements.
 */
static int write_start(pd_archive *a, write_scope *scope, pd_err *err)
{
    if (sqlite3_get_autocommit(a->db)) {
        *scope = SCOPE_TRANSACTION;
        return archive_exec_cached(a, STMT_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE", "begin transaction",
                                   err);
    }
    *scope = SCOPE_SAVEPOINT;
    return archive_exec_cached(a, STMT_SAVEPOINT, "SAVEPOINT pd_write", "open savepoint", err);
}

/* Commits or releases on success; undoes everything since write_start() on failure. */
static int write_finish(pd_archive *a, write_scope scope, int rc, pd_err *err)
{
    if (rc == PD_OK) {
        if (scope == SCOPE_TRANSACTION)
            rc = archive_exec_cached(a, STMT_COMMIT, "COMMIT", "commit session write", err);
        else
            rc = archive_exec_cached(a, STMT_RELEASE, "RELEASE pd_write", "commit session write",
                                     err);
        if (rc == PD_OK)
            return PD_OK;
    }
    if (scope == SCOPE_TRANSACTION) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        sqlite3_exec(a->db, "ROLLBACK TO pd_write", NULL, NULL, NULL);
        sqlite3_exec(a->db, "RELEASE pd_write", NULL, NULL, NULL);
    }
    return rc;
}

/* Steps a statement that returns no rows, then resets it. */
static int step_done(pd_archive *a, sqlite3_stmt *st, const char *operation, pd_err *err)
{
    int rc = sqlite3_step(st);
    archive_stmt_done(st);
    if (rc != SQLITE_DONE)
        return archive_sqlite_fail(a, rc, operation, err);
    return PD_OK;
}

/* ---- inserting rows ---------------------------------------------------- */

static const char insert_message_sql[] =
    "INSERT INTO messages (session_id, ordinal, role, content, thinking_text, timestamp,"
    " has_thinking, has_tool_use, content_length, is_system, model, token_usage, context_tokens,"
    " output_tokens, has_context_tokens, has_output_tokens, claude_message_id, claude_request_id,"
    " source_type, source_subtype, prompt_source, source_uuid, source_parent_uuid, is_sidechain,"
    " is_compact_boundary)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24, ?25)";

static const char insert_call_sql[] =
    "INSERT INTO tool_calls (message_id, session_id, tool_name, category, tool_use_id,"
    " input_json, skill_name, result_content_length, result_content, subagent_session_id,"
    " file_path, call_index)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

static const char insert_event_sql[] =
    "INSERT INTO tool_result_events (session_id, tool_call_message_ordinal, call_index,"
    " tool_use_id, agent_id, subagent_session_id, source, status, content, content_length,"
    " timestamp, event_index)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

static const char insert_usage_sql[] =
    "INSERT INTO usage_events (session_id, message_ordinal, source, model, input_tokens,"
    " output_tokens, cache_creation_input_tokens, cache_read_input_tokens, reasoning_tokens,"
    " occurred_at, dedup_key)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/* Row counts of one insert_rows() call, for the session counters. */
typedef struct inserted_rows {
    int64_t messages;
    int64_t user_messages; /* role user, not system */
} inserted_rows;

static int insert_message(pd_archive *a, const char *session_id, const pd_message *m,
                          int64_t *row_id, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INSERT_MESSAGE, insert_message_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    int c = 1;
    archive_bind_text(st, c++, session_id);
    sqlite3_bind_int64(st, c++, m->ordinal);
    archive_bind_text_or_empty(st, c++, m->role);
    archive_bind_text_or_empty(st, c++, m->content);
    archive_bind_text_or_empty(st, c++, m->thinking_text);
    archive_bind_text_or_empty(st, c++, m->timestamp); /* '' when absent, not NULL */
    sqlite3_bind_int(st, c++, m->has_thinking);
    sqlite3_bind_int(st, c++, m->has_tool_use);
    sqlite3_bind_int64(st, c++, m->content_length);
    sqlite3_bind_int(st, c++, m->is_system);
    archive_bind_text_or_empty(st, c++, m->model);
    archive_bind_text_or_empty(st, c++, m->token_usage);
    sqlite3_bind_int64(st, c++, m->context_tokens);
    sqlite3_bind_int64(st, c++, m->output_tokens);
    sqlite3_bind_int(st, c++, m->has_context_tokens);
    sqlite3_bind_int(st, c++, m->has_output_tokens);
    archive_bind_text_or_empty(st, c++, m->claude_message_id);
    archive_bind_text_or_empty(st, c++, m->claude_request_id);
    archive_bind_text_or_empty(st, c++, m->source_type);
    archive_bind_text_or_empty(st, c++, m->source_subtype);
    archive_bind_text_or_empty(st, c++, m->prompt_source);
    archive_bind_text_or_empty(st, c++, m->source_uuid);
    archive_bind_text_or_empty(st, c++, m->source_parent_uuid);
    sqlite3_bind_int(st, c++, m->is_sidechain);
    sqlite3_bind_int(st, c++, m->is_compact_boundary);

    rc = step_done(a, st, "insert message", err);
    /* Triggers may insert elsewhere, but the value reverts once they finish. */
    *row_id = sqlite3_last_insert_rowid(a->db);
    return rc;
}

static int insert_call(pd_archive *a, const char *session_id, int64_t message_row_id,
                       const pd_tool_call *tc, int64_t call_index, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INSERT_CALL, insert_call_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    int c = 1;
    sqlite3_bind_int64(st, c++, message_row_id);
    archive_bind_text(st, c++, session_id);
    archive_bind_text_or_empty(st, c++, tc->tool_name);
    archive_bind_text_or_empty(st, c++, tc->category);
    archive_bind_text_or_null(st, c++, tc->tool_use_id);
    archive_bind_text_or_null(st, c++, tc->input_json);
    archive_bind_text_or_null(st, c++, tc->skill_name);
    if (tc->result_content_length == 0 || tc->result_content_length == PD_INT_NULL)
        sqlite3_bind_null(st, c++);
    else
        sqlite3_bind_int64(st, c++, tc->result_content_length);
    archive_bind_text_or_null(st, c++, tc->result_content);
    archive_bind_text_or_null(st, c++, tc->subagent_session_id);
    archive_bind_text_or_null(st, c++, tc->file_path);
    sqlite3_bind_int64(st, c++, call_index);
    return step_done(a, st, "insert tool call", err);
}

static int insert_event(pd_archive *a, const char *session_id, int64_t ordinal, int64_t call_index,
                        const pd_tool_result_event *ev, int64_t event_index, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INSERT_EVENT, insert_event_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    int c = 1;
    archive_bind_text(st, c++, session_id);
    sqlite3_bind_int64(st, c++, ordinal);
    sqlite3_bind_int64(st, c++, call_index);
    archive_bind_text_or_null(st, c++, ev->tool_use_id);
    archive_bind_text_or_null(st, c++, ev->agent_id);
    archive_bind_text_or_null(st, c++, ev->subagent_session_id);
    archive_bind_text_or_empty(st, c++, ev->source);
    archive_bind_text_or_empty(st, c++, ev->status);
    archive_bind_text_or_empty(st, c++, ev->content);
    sqlite3_bind_int64(st, c++, ev->content_length);
    archive_bind_text_or_null(st, c++, ev->timestamp);
    sqlite3_bind_int64(st, c++, event_index);
    return step_done(a, st, "insert tool result event", err);
}

static int insert_usage(pd_archive *a, const char *session_id, const pd_usage_event *ue,
                        pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INSERT_USAGE, insert_usage_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    int c = 1;
    archive_bind_text(st, c++, session_id);
    archive_bind_int_or_null(st, c++, ue->message_ordinal);
    archive_bind_text_or_empty(st, c++, ue->source);
    archive_bind_text_or_empty(st, c++, ue->model);
    sqlite3_bind_int64(st, c++, ue->input_tokens);
    sqlite3_bind_int64(st, c++, ue->output_tokens);
    sqlite3_bind_int64(st, c++, ue->cache_creation_input_tokens);
    sqlite3_bind_int64(st, c++, ue->cache_read_input_tokens);
    sqlite3_bind_int64(st, c++, ue->reasoning_tokens);
    archive_bind_text_or_null(st, c++, ue->occurred_at);
    archive_bind_text_or_empty(st, c++, ue->dedup_key);
    return step_done(a, st, "insert usage event", err);
}

/*
 * Inserts the messages of s with their tool calls and result events, then
 * its usage events. call_index and event_index are the array positions.
 */
static int insert_rows(pd_archive *a, const pd_session *s, inserted_rows *counts, pd_err *err)
{
    int rc = PD_OK;

    for (size_t i = 0; i < s->n_messages && rc == PD_OK; i++) {
        const pd_message *m = &s->messages[i];
        int64_t message_row_id = 0;
        rc = insert_message(a, s->id, m, &message_row_id, err);
        if (rc != PD_OK)
            break;
        counts->messages++;
        if (m->role != NULL && strcmp(m->role, "user") == 0 && !m->is_system)
            counts->user_messages++;

        for (size_t j = 0; j < m->n_tool_calls && rc == PD_OK; j++) {
            const pd_tool_call *tc = &m->tool_calls[j];
            rc = insert_call(a, s->id, message_row_id, tc, (int64_t)j, err);
            for (size_t k = 0; k < tc->n_events && rc == PD_OK; k++)
                rc =
                    insert_event(a, s->id, m->ordinal, (int64_t)j, &tc->events[k], (int64_t)k, err);
        }
    }
    for (size_t i = 0; i < s->n_usage_events && rc == PD_OK; i++)
        rc = insert_usage(a, s->id, &s->usage_events[i], err);
    return rc;
}

/* ---- transcript digest ------------------------------------------------- */

static const char digest_messages_sql[] =
    "SELECT ordinal, role, content, thinking_text, timestamp, has_thinking, has_tool_use,"
    " content_length, is_system, model, token_usage, context_tokens, output_tokens,"
    " has_context_tokens, has_output_tokens, claude_message_id, claude_request_id, source_type,"
    " source_subtype, prompt_source, source_uuid, source_parent_uuid, is_sidechain,"
    " is_compact_boundary"
    " FROM messages WHERE session_id = ?1 ORDER BY ordinal";

static const char digest_calls_sql[] =
    "SELECT m.ordinal, c.call_index, c.tool_name, c.category, c.tool_use_id, c.input_json,"
    " c.skill_name, c.result_content_length, c.result_content, c.subagent_session_id,"
    " c.file_path"
    " FROM tool_calls c JOIN messages m ON m.id = c.message_id"
    " WHERE c.session_id = ?1 ORDER BY m.ordinal, c.id";

/* Feeds every column of every result row, tagged by type and length, into h; counts the rows. */
static int digest_query(pd_archive *a, archive_stmt_id id, const char *sql, const char *session_id,
                        XXH3_state_t *h, int64_t *n_rows, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, id, sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, session_id);

    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        for (int c = 0; c < n; c++) {
            unsigned char tag = (unsigned char)sqlite3_column_type(st, c);
            XXH3_64bits_update(h, &tag, 1);
            if (tag == SQLITE_INTEGER || tag == SQLITE_FLOAT) {
                int64_t v = sqlite3_column_int64(st, c);
                XXH3_64bits_update(h, &v, sizeof v);
            } else if (tag != SQLITE_NULL) {
                const void *bytes = sqlite3_column_blob(st, c);
                int64_t len = sqlite3_column_bytes(st, c);
                XXH3_64bits_update(h, &len, sizeof len);
                if (len > 0)
                    XXH3_64bits_update(h, bytes, (size_t)len);
            }
        }
        unsigned char end_of_row = 0xff;
        XXH3_64bits_update(h, &end_of_row, 1);
        (*n_rows)++;
    }
    archive_stmt_done(st);
    if (src != SQLITE_DONE)
        return archive_sqlite_fail(a, src, "read stored transcript", err);
    return PD_OK;
}

/*
 * A 64-bit digest of the stored message and tool-call rows of a session,
 * excluding row ids. Comparing the digest before and after a replace shows
 * whether the transcript changed, which is what transcript_revision counts.
 * *n_rows receives the number of rows digested.
 */
static int transcript_digest(pd_archive *a, const char *session_id, uint64_t *out, int64_t *n_rows,
                             pd_err *err)
{
    XXH3_state_t *h = XXH3_createState();
    if (h == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: digest session %s: out of memory", a->path,
                          session_id);
    XXH3_64bits_reset(h);
    *n_rows = 0;
    int rc = digest_query(a, STMT_DIGEST_MESSAGES, digest_messages_sql, session_id, h, n_rows, err);
    if (rc == PD_OK) {
        unsigned char separator = 0xfe;
        XXH3_64bits_update(h, &separator, 1);
        rc = digest_query(a, STMT_DIGEST_CALLS, digest_calls_sql, session_id, h, n_rows, err);
    }
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return rc;
}

/* ---- full write -------------------------------------------------------- */

/* A row tombstoned because its source lost it is written again once the source has it again. */
static const char write_state_sql[] =
    "SELECT deleted_at IS NOT NULL AND COALESCE(deletion_cause, '') <> 'source_missing'"
    " FROM sessions WHERE id = ?1";
static const char write_state_no_cause_sql[] =
    "SELECT deleted_at IS NOT NULL FROM sessions WHERE id = ?1";
static const char write_excluded_sql[] = "SELECT 1 FROM excluded_sessions WHERE id = ?1";

/*
 * Column order of the upsert's VALUES. ?38 is 1 when session_name is taken
 * from the parse, 0 when the stored name is kept.
 */
static const char upsert_session_sql[] =
    "INSERT INTO sessions (id, project, machine, agent, agent_label, entrypoint, session_kind,"
    " first_message, session_name, started_at, ended_at, message_count, user_message_count,"
    " file_path, file_size, file_mtime, file_inode, file_device, file_hash, next_ordinal,"
    " last_entry_uuid, claude_linear_parse, parent_session_id, parser_parent_session_id,"
    " relationship_type, total_output_tokens, peak_context_tokens, has_total_output_tokens,"
    " has_peak_context_tokens, cwd, git_branch, source_session_id, source_version,"
    " transcript_fidelity, parser_malformed_lines, is_truncated, termination_status,"
    " last_write_incremental)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36,"
    " ?37, 0)"
    " ON CONFLICT(id) DO UPDATE SET"
    " project = excluded.project, machine = excluded.machine, agent = excluded.agent,"
    " agent_label = excluded.agent_label, entrypoint = excluded.entrypoint,"
    " session_kind = excluded.session_kind, first_message = excluded.first_message,"
    " session_name = CASE WHEN ?38 THEN excluded.session_name ELSE sessions.session_name END,"
    " started_at = excluded.started_at, ended_at = excluded.ended_at,"
    " message_count = excluded.message_count, user_message_count = excluded.user_message_count,"
    " file_path = excluded.file_path, file_size = excluded.file_size,"
    " file_mtime = excluded.file_mtime, file_inode = excluded.file_inode,"
    " file_device = excluded.file_device, file_hash = excluded.file_hash,"
    " next_ordinal = excluded.next_ordinal, last_entry_uuid = excluded.last_entry_uuid,"
    " claude_linear_parse = COALESCE(excluded.claude_linear_parse, sessions.claude_linear_parse),"
    " parent_session_id = excluded.parent_session_id,"
    " parser_parent_session_id = excluded.parser_parent_session_id,"
    " relationship_type = excluded.relationship_type,"
    " total_output_tokens = excluded.total_output_tokens,"
    " peak_context_tokens = excluded.peak_context_tokens,"
    " has_total_output_tokens = excluded.has_total_output_tokens,"
    " has_peak_context_tokens = excluded.has_peak_context_tokens,"
    " cwd = excluded.cwd, git_branch = excluded.git_branch,"
    " source_session_id = excluded.source_session_id, source_version = excluded.source_version,"
    " transcript_fidelity = excluded.transcript_fidelity,"
    " parser_malformed_lines = excluded.parser_malformed_lines,"
    " is_truncated = excluded.is_truncated, termination_status = excluded.termination_status";

static const char delete_events_sql[] = "DELETE FROM tool_result_events WHERE session_id = ?1";
static const char delete_calls_sql[] = "DELETE FROM tool_calls WHERE session_id = ?1";
static const char delete_messages_sql[] = "DELETE FROM messages WHERE session_id = ?1";
static const char delete_usage_sql[] = "DELETE FROM usage_events WHERE session_id = ?1";

/* The end of a full write. Tombstones exist only where the deletion_cause column does. */
#define FINISH_FULL_SET                                                                            \
    "UPDATE sessions SET last_write_incremental = 0, quality_signal_version = 0,"                  \
    " local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"                                  \
    " transcript_revision = CASE WHEN ?2"                                                          \
    "   THEN CAST(CAST(transcript_revision AS INTEGER) + 1 AS TEXT) ELSE transcript_revision END," \
    " secrets_rules_version = CASE WHEN ?2 THEN '' ELSE secrets_rules_version END,"
static const char finish_full_sql[] = FINISH_FULL_SET
    " deleted_at = CASE WHEN deletion_cause = 'source_missing' THEN NULL ELSE deleted_at END,"
    " deletion_cause = CASE WHEN deletion_cause = 'source_missing' THEN NULL"
    "   ELSE deletion_cause END,"
    " data_version = ?3 WHERE id = ?1";
static const char finish_full_no_cause_sql[] = FINISH_FULL_SET " data_version = ?3 WHERE id = ?1";

static const char tombstone_sql[] =
    "UPDATE sessions SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
    " deletion_cause = 'source_missing'"
    " WHERE id = ?1 AND file_path = ?2 AND deleted_at IS NULL";

/* A file bookkeeping integer: 0 and unknown are both stored as NULL. */
static int bind_file_int(sqlite3_stmt *st, int index, int64_t v)
{
    if (v == 0 || v == PD_INT_NULL)
        return sqlite3_bind_null(st, index);
    return sqlite3_bind_int64(st, index, v);
}

static int upsert_session(pd_archive *a, const pd_session *s, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_UPSERT_SESSION, upsert_session_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    /* A Codex parse without a title index entry must not erase a stored title. */
    bool is_codex = s->agent != NULL && strcmp(s->agent, "codex") == 0;
    bool take_name = !(is_codex && !s->session_name_present);

    int c = 1;
    archive_bind_text(st, c++, s->id);
    archive_bind_text_or_empty(st, c++, s->project);
    archive_bind_text_or_empty(st, c++, s->machine);
    archive_bind_text_or_empty(st, c++, s->agent);
    archive_bind_text_or_empty(st, c++, s->agent_label);
    archive_bind_text_or_empty(st, c++, s->entrypoint);
    archive_bind_text_or_empty(st, c++, s->session_kind);
    archive_bind_text_or_null(st, c++, s->first_message);
    archive_bind_text_or_null(st, c++, s->session_name);
    archive_bind_text_or_null(st, c++, s->started_at);
    archive_bind_text_or_null(st, c++, s->ended_at);
    sqlite3_bind_int64(st, c++, s->message_count);
    sqlite3_bind_int64(st, c++, s->user_message_count);
    archive_bind_text_or_null(st, c++, s->file_path);
    bind_file_int(st, c++, s->file_size);
    bind_file_int(st, c++, s->file_mtime);
    bind_file_int(st, c++, s->file_inode);
    bind_file_int(st, c++, s->file_device);
    archive_bind_text_or_null(st, c++, s->file_hash);
    sqlite3_bind_int64(st, c++, s->next_ordinal);
    archive_bind_text_or_null(st, c++, s->last_entry_uuid);
    archive_bind_int_or_null(st, c++, s->claude_linear_parse);
    archive_bind_text_or_null(st, c++, s->parent_session_id);
    archive_bind_text_or_null(st, c++, s->parent_session_id); /* parser_parent_session_id */
    archive_bind_text_or_empty(st, c++, s->relationship_type);
    sqlite3_bind_int64(st, c++, s->total_output_tokens);
    sqlite3_bind_int64(st, c++, s->peak_context_tokens);
    sqlite3_bind_int(st, c++, s->has_total_output_tokens);
    sqlite3_bind_int(st, c++, s->has_peak_context_tokens);
    archive_bind_text_or_empty(st, c++, s->cwd);
    archive_bind_text_or_empty(st, c++, s->git_branch);
    archive_bind_text_or_empty(st, c++, s->source_session_id);
    archive_bind_text_or_empty(st, c++, s->source_version);
    archive_bind_text_or_empty(st, c++, s->transcript_fidelity);
    sqlite3_bind_int64(st, c++, s->parser_malformed_lines);
    sqlite3_bind_int(st, c++, s->is_truncated);
    archive_bind_text_or_null(st, c++, s->termination_status);
    sqlite3_bind_int(st, c++, take_name);
    return step_done(a, st, "write session row", err);
}

static int delete_session_rows(pd_archive *a, const char *session_id, pd_err *err)
{
    static const struct {
        archive_stmt_id id;
        const char *sql;
    } deletes[] = {
        {STMT_DELETE_EVENTS, delete_events_sql},
        {STMT_DELETE_CALLS, delete_calls_sql},
        {STMT_DELETE_MESSAGES, delete_messages_sql},
        {STMT_DELETE_USAGE, delete_usage_sql},
    };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        sqlite3_stmt *st = NULL;
        int rc = archive_stmt(a, deletes[i].id, deletes[i].sql, &st, err);
        if (rc != PD_OK)
            return rc;
        archive_bind_text(st, 1, session_id);
        rc = step_done(a, st, "delete stored rows", err);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* Sets *skip to whether the stored row of id, if any, must be left untouched. */
static int read_write_state(pd_archive *a, const char *id, pd_write_outcome *skip, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc =
        archive_stmt(a, STMT_WRITE_STATE,
                     a->has_deletion_cause ? write_state_sql : write_state_no_cause_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, id);
    int src = sqlite3_step(st);
    *skip = PD_WRITE_DONE;
    if (src == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0)
        *skip = PD_WRITE_SKIPPED_TRASHED;
    archive_stmt_done(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return archive_sqlite_fail(a, src, "read session state", err);
    if (*skip != PD_WRITE_DONE || !a->has_excluded_table)
        return PD_OK;

    rc = archive_stmt(a, STMT_WRITE_EXCLUDED, write_excluded_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *skip = PD_WRITE_SKIPPED_EXCLUDED;
    archive_stmt_done(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return archive_sqlite_fail(a, src, "read excluded sessions", err);
    return PD_OK;
}

static int finish_full_write(pd_archive *a, const pd_session *s, bool transcript_changed,
                             pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc =
        archive_stmt(a, STMT_FINISH_FULL,
                     a->has_deletion_cause ? finish_full_sql : finish_full_no_cause_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, s->id);
    sqlite3_bind_int(st, 2, transcript_changed);
    sqlite3_bind_int(st, 3, s->needs_retry ? PD_DATA_VERSION_RETRY : PD_DATA_VERSION);
    return step_done(a, st, "finish session write", err);
}

/* The steps of a full write inside the savepoint or transaction. */
static int write_session_rows(pd_archive *a, const pd_session *s, pd_write_outcome *outcome,
                              pd_err *err)
{
    int rc = read_write_state(a, s->id, outcome, err);
    if (rc != PD_OK || *outcome != PD_WRITE_DONE)
        return rc;

    /*
     * Rows are digested and deleted even for a new session id: an archive
     * without enforced foreign keys may hold rows left from a deleted session.
     */
    uint64_t before = 0, after = 0;
    int64_t rows_before = 0, rows_after = 0, pins = 0;
    rc = transcript_digest(a, s->id, &before, &rows_before, err);
    if (rc == PD_OK)
        rc = archive_pins_save(a, s->id, &pins, err);
    if (rc == PD_OK)
        rc = upsert_session(a, s, err);
    if (rc == PD_OK)
        rc = delete_session_rows(a, s->id, err);

    inserted_rows counts = {0, 0};
    if (rc == PD_OK)
        rc = insert_rows(a, s, &counts, err);
    if (rc == PD_OK)
        rc = archive_pins_restore(a, pins, &a->pins_dropped, err);
    /*
     * Every tool-call row digested belongs to a message row, so a session
     * stored without rows changed exactly when messages were inserted, and
     * its first write need not read back the rows it has just inserted.
     */
    bool changed = counts.messages > 0;
    if (rc == PD_OK && rows_before > 0) {
        rc = transcript_digest(a, s->id, &after, &rows_after, err);
        changed = before != after;
    }

    /* data_version goes last: a row stamped current always has its rows. */
    if (rc == PD_OK)
        rc = finish_full_write(a, s, changed, err);
    return rc;
}

int pd_archive_write_session(pd_archive *a, const pd_session *s, pd_write_outcome *outcome,
                             pd_err *err)
{
    pd_write_outcome result = PD_WRITE_DONE;
    write_scope scope;

    a->pins_dropped = 0;
    if (outcome != NULL)
        *outcome = PD_WRITE_DONE;
    int rc = archive_require_writable(a, "session write", err);
    if (rc != PD_OK)
        return rc;
    if (s == NULL || s->id == NULL || s->id[0] == '\0')
        return pd_err_set(err, PD_EINVAL, "%s: session write: the session has no id", a->path);

    rc = write_start(a, &scope, err);
    if (rc != PD_OK)
        return rc;
    rc = write_session_rows(a, s, &result, err);
    rc = write_finish(a, scope, rc, err);
    if (rc == PD_OK && outcome != NULL)
        *outcome = result;
    return rc;
}

int64_t pd_archive_pins_dropped(const pd_archive *a)
{
    return a->pins_dropped;
}

int pd_archive_write_full(pd_archive *a, const pd_session *s, pd_err *err)
{
    return pd_archive_write_session(a, s, NULL, err);
}

int pd_archive_tombstone(pd_archive *a, const char *id, const char *path, bool *marked, pd_err *err)
{
    *marked = false;
    int rc = archive_require_writable(a, "session tombstone", err);
    if (rc != PD_OK || !a->has_deletion_cause)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = archive_stmt(a, STMT_TOMBSTONE, tombstone_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, id);
    archive_bind_text(st, 2, path);
    rc = step_done(a, st, "mark a session deleted", err);
    if (rc == PD_OK)
        *marked = sqlite3_changes(a->db) > 0;
    return rc;
}

/* ---- incremental write ------------------------------------------------- */

static const char incr_exists_sql[] =
    "SELECT file_size, next_ordinal, file_path, file_hash FROM sessions WHERE id = ?1";

static const char find_call_sql[] =
    "SELECT id, category FROM tool_calls WHERE session_id = ?1 AND tool_use_id = ?2"
    " ORDER BY id DESC LIMIT 1";

static const char link_result_sql[] =
    "UPDATE tool_calls SET result_content = ?2, result_content_length = ?3 WHERE id = ?1";

static const char incr_update_sql[] =
    "UPDATE sessions SET"
    " ended_at = COALESCE(?2, ended_at),"
    " message_count = message_count + ?3,"
    " user_message_count = user_message_count + ?4,"
    " file_size = ?5, file_mtime = ?6, file_hash = COALESCE(?7, file_hash),"
    " next_ordinal = MAX(next_ordinal, ?8),"
    " last_entry_uuid = COALESCE(?9, last_entry_uuid),"
    " total_output_tokens = total_output_tokens + ?10,"
    " peak_context_tokens = MAX(peak_context_tokens, ?11),"
    " has_total_output_tokens = (has_total_output_tokens != 0 OR ?12),"
    " has_peak_context_tokens = (has_peak_context_tokens != 0 OR ?13),"
    " termination_status = ?14,"
    " last_write_incremental = 1, quality_signal_version = 0,"
    " transcript_revision = CASE WHEN ?15"
    "   THEN CAST(CAST(transcript_revision AS INTEGER) + 1 AS TEXT) ELSE transcript_revision END,"
    " local_modified_at = CASE WHEN ?15"
    "   THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE local_modified_at END,"
    " secrets_rules_version = CASE WHEN ?15 THEN '' ELSE secrets_rules_version END"
    " WHERE id = ?1";

static bool is_default_blocked(const char *category)
{
    if (category == NULL)
        return false;
    for (size_t i = 0; i < pd_n_default_blocked_categories; i++)
        if (strcmp(category, pd_default_blocked_categories[i]) == 0)
            return true;
    return false;
}

/* Links one result to the last stored call with its tool_use_id, if any (*linked). */
static int link_result(pd_archive *a, const char *session_id, const pd_tool_result *r, bool *linked,
                       pd_err *err)
{
    sqlite3_stmt *st = NULL;
    *linked = false;
    if (r->tool_use_id == NULL || r->tool_use_id[0] == '\0')
        return PD_OK;

    int rc = archive_stmt(a, STMT_FIND_CALL, find_call_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, session_id);
    archive_bind_text(st, 2, r->tool_use_id);
    int src = sqlite3_step(st);
    int64_t call_id = 0;
    bool blocked = false;
    if (src == SQLITE_ROW) {
        call_id = sqlite3_column_int64(st, 0);
        blocked = is_default_blocked((const char *)sqlite3_column_text(st, 1));
    }
    archive_stmt_done(st);
    if (src == SQLITE_DONE)
        return PD_OK;
    if (src != SQLITE_ROW)
        return archive_sqlite_fail(a, src, "find stored tool call", err);

    rc = archive_stmt(a, STMT_LINK_RESULT, link_result_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, call_id);
    if (blocked)
        sqlite3_bind_null(st, 2);
    else
        archive_bind_text_or_null(st, 2, r->content);
    if (r->content_length == 0)
        sqlite3_bind_null(st, 3);
    else
        sqlite3_bind_int64(st, 3, r->content_length);
    rc = step_done(a, st, "link tool result", err);
    *linked = rc == PD_OK;
    return rc;
}

/* ended_at of an incremental update: NULL (keep stored) when outside years 2000..2100. */
static const char *plausible_ended_at(const char *ended_at)
{
    pd_time_ns t;
    if (ended_at == NULL || ended_at[0] == '\0')
        return NULL;
    if (pd_time_parse(ended_at, strlen(ended_at), &t)) {
        int year = pd_time_year(t);
        if (year < 2000 || year > 2100)
            return NULL;
    }
    return ended_at;
}

static int update_incremental_row(pd_archive *a, const pd_incr_update *u, const pd_session *delta,
                                  const inserted_rows *counts, bool changed, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INCR_UPDATE, incr_update_sql, &st, err);
    if (rc != PD_OK)
        return rc;

    bool has_output = delta != NULL && delta->has_total_output_tokens;
    bool has_peak = delta != NULL && delta->has_peak_context_tokens;
    int c = 1;
    archive_bind_text(st, c++, u->session_id);
    archive_bind_text(st, c++, plausible_ended_at(u->ended_at));
    sqlite3_bind_int64(st, c++, counts->messages);
    sqlite3_bind_int64(st, c++, counts->user_messages);
    archive_bind_int_or_null(st, c++, u->file_size);
    archive_bind_int_or_null(st, c++, u->file_mtime);
    archive_bind_text_or_null(st, c++, u->file_hash);
    sqlite3_bind_int64(st, c++, delta != NULL ? delta->next_ordinal : 0);
    archive_bind_text_or_null(st, c++, delta != NULL ? delta->last_entry_uuid : NULL);
    sqlite3_bind_int64(st, c++, has_output ? delta->total_output_tokens : 0);
    sqlite3_bind_int64(st, c++, has_peak ? delta->peak_context_tokens : 0);
    sqlite3_bind_int(st, c++, has_output);
    sqlite3_bind_int(st, c++, has_peak);
    archive_bind_text(st, c++, u->termination_status);
    sqlite3_bind_int(st, c++, changed);
    return step_done(a, st, "update session row", err);
}

/* True when expected is NULL, or column col of st contains it (any case when any_case). */
static bool same_text(sqlite3_stmt *st, int col, const char *expected, bool any_case)
{
    if (expected == NULL)
        return true;
    const char *stored = (const char *)sqlite3_column_text(st, col);
    if (stored == NULL)
        return false;
    return any_case ? strcasecmp(stored, expected) == 0 : strcmp(stored, expected) == 0;
}

static int write_incremental_rows(pd_archive *a, const pd_incr_update *u, const pd_session *delta,
                                  pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_INCR_EXISTS, incr_exists_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, u->session_id);
    int src = sqlite3_step(st);
    bool same_base = src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
                     sqlite3_column_int64(st, 0) == u->base_file_size &&
                     sqlite3_column_int64(st, 1) == u->base_next_ordinal &&
                     same_text(st, 2, u->base_file_path, false) &&
                     same_text(st, 3, u->base_file_hash, true);
    archive_stmt_done(st);
    if (src == SQLITE_DONE)
        return pd_err_set(err, PD_ENOENT, "%s: incremental write: no stored session %s", a->path,
                          u->session_id);
    if (src != SQLITE_ROW)
        return archive_sqlite_fail(a, src, "read session state", err);
    if (!same_base)
        return pd_err_set(err, PD_ESTALE,
                          "%s: incremental write of %s: the stored row changed since it was "
                          "read (another sync, or another file of the same session, wrote it)",
                          a->path, u->session_id);

    inserted_rows counts = {0, 0};
    size_t n_linked = 0;
    if (delta != NULL) {
        /* The delta's rows belong to the stored session whatever id the parse gave them. */
        pd_session rows = *delta;
        rows.id = (char *)u->session_id;
        rc = insert_rows(a, &rows, &counts, err);
        for (size_t i = 0; i < delta->n_unlinked_results && rc == PD_OK; i++) {
            bool linked = false;
            rc = link_result(a, u->session_id, &delta->unlinked_results[i], &linked, err);
            n_linked += linked;
        }
    }
    if (rc != PD_OK)
        return rc;
    return update_incremental_row(a, u, delta, &counts, counts.messages > 0 || n_linked > 0, err);
}

int pd_archive_write_incremental(pd_archive *a, const pd_incr_update *u, const pd_session *delta,
                                 pd_err *err)
{
    write_scope scope;
    int rc = archive_require_writable(a, "incremental write", err);
    if (rc != PD_OK)
        return rc;
    if (u == NULL || u->session_id == NULL || u->session_id[0] == '\0')
        return pd_err_set(err, PD_EINVAL, "%s: incremental write: no session id", a->path);

    rc = write_start(a, &scope, err);
    if (rc != PD_OK)
        return rc;
    rc = write_incremental_rows(a, u, delta, err);
    return write_finish(a, scope, rc, err);
}

/* ---- title refresh ----------------------------------------------------- */

static const char set_name_sql[] = "UPDATE sessions SET session_name = ?2 WHERE id = ?1";

int pd_archive_set_session_name(pd_archive *a, const char *id, const char *name, pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_require_writable(a, "session name update", err);
    if (rc != PD_OK)
        return rc;
    rc = archive_stmt(a, STMT_SET_NAME, set_name_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    archive_bind_text(st, 1, id);
    archive_bind_text_or_null(st, 2, name);
    rc = step_done(a, st, "update session name", err);
    if (rc == PD_OK && sqlite3_changes(a->db) == 0)
        return pd_err_set(err, PD_ENOENT, "%s: session name update: no stored session %s", a->path,
                          id);
    return rc;
}
