/*
 * read.c -- loading one stored session, or one row's bookkeeping.
 *
 * Entry points: pd_archive_load_session() and pd_archive_load_row(), called
 * by diff workers, each on its own READONLY pd_archive. Both use the
 * connection's cached prepared statements.
 *
 * A session loads in five queries (session row, messages, tool calls,
 * result events, usage events) inside one read transaction, so they see a
 * single version of the archive even while sync writes.
 *
 * Threading: one pd_archive per thread; see archive.h.
 */
#include "archive/archive_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- session row ------------------------------------------------------- */

#define LOAD_SESSION_COLUMNS                                                                       \
    "SELECT id, project, machine, agent, agent_label, entrypoint, session_kind, first_message,"    \
    " session_name, started_at, ended_at, message_count, user_message_count, file_path,"           \
    " file_size, file_mtime, file_inode, file_device, file_hash, next_ordinal, last_entry_uuid,"   \
    " claude_linear_parse, parent_session_id, relationship_type, total_output_tokens,"             \
    " peak_context_tokens, has_total_output_tokens, has_peak_context_tokens, cwd, git_branch,"     \
    " source_session_id, source_version, transcript_fidelity, parser_malformed_lines,"             \
    " is_truncated, termination_status, data_version, last_write_incremental, deleted_at"

static const char load_session_sql[] = LOAD_SESSION_COLUMNS " FROM sessions WHERE id = ?1";
static const char load_session_at_sql[] = LOAD_SESSION_COLUMNS " FROM sessions WHERE rowid = ?1";

static void read_session_row(sqlite3_stmt *st, pd_arena *arena, pd_session *s, bool *failed)
{
    int c = 0;
    s->id = archive_column_text(st, c++, arena, failed);
    s->project = archive_column_text_or_empty(st, c++, arena, failed);
    s->machine = archive_column_text_or_empty(st, c++, arena, failed);
    s->agent = archive_column_text_or_empty(st, c++, arena, failed);
    s->agent_label = archive_column_text_or_empty(st, c++, arena, failed);
    s->entrypoint = archive_column_text_or_empty(st, c++, arena, failed);
    s->session_kind = archive_column_text_or_empty(st, c++, arena, failed);
    s->first_message = archive_column_text(st, c++, arena, failed);
    s->session_name = archive_column_text(st, c++, arena, failed);
    s->started_at = archive_column_text(st, c++, arena, failed);
    s->ended_at = archive_column_text(st, c++, arena, failed);
    s->message_count = sqlite3_column_int64(st, c++);
    s->user_message_count = sqlite3_column_int64(st, c++);
    s->file_path = archive_column_text(st, c++, arena, failed);
    s->file_size = archive_column_int_or_null(st, c++);
    s->file_mtime = archive_column_int_or_null(st, c++);
    s->file_inode = archive_column_int_or_null(st, c++);
    s->file_device = archive_column_int_or_null(st, c++);
    s->file_hash = archive_column_text(st, c++, arena, failed);
    s->next_ordinal = sqlite3_column_int64(st, c++);
    s->last_entry_uuid = archive_column_text(st, c++, arena, failed);
    s->claude_linear_parse = archive_column_int_or_null(st, c++);
    s->parent_session_id = archive_column_text(st, c++, arena, failed);
    s->relationship_type = archive_column_text_or_empty(st, c++, arena, failed);
    s->total_output_tokens = sqlite3_column_int64(st, c++);
    s->peak_context_tokens = sqlite3_column_int64(st, c++);
    s->has_total_output_tokens = sqlite3_column_int64(st, c++) != 0;
    s->has_peak_context_tokens = sqlite3_column_int64(st, c++) != 0;
    s->cwd = archive_column_text_or_empty(st, c++, arena, failed);
    s->git_branch = archive_column_text_or_empty(st, c++, arena, failed);
    s->source_session_id = archive_column_text_or_empty(st, c++, arena, failed);
    s->source_version = archive_column_text_or_empty(st, c++, arena, failed);
    s->transcript_fidelity = archive_column_text_or_empty(st, c++, arena, failed);
    s->parser_malformed_lines = sqlite3_column_int64(st, c++);
    s->is_truncated = sqlite3_column_int64(st, c++) != 0;
    s->termination_status = archive_column_text(st, c++, arena, failed);
    s->data_version = sqlite3_column_int64(st, c++);
    s->last_write_incremental = sqlite3_column_int64(st, c++) != 0;
    s->deleted_at = archive_column_text(st, c++, arena, failed);
}

/* ---- messages ---------------------------------------------------------- */

static const char load_messages_sql[] =
    "SELECT id, ordinal, role, content, content_length, thinking_text, timestamp, has_thinking,"
    " has_tool_use, is_system, model, token_usage, context_tokens, output_tokens,"
    " has_context_tokens, has_output_tokens, claude_message_id, claude_request_id, source_type,"
    " source_subtype, prompt_source, source_uuid, source_parent_uuid, is_sidechain,"
    " is_compact_boundary"
    " FROM messages WHERE session_id = ?1 ORDER BY ordinal";

static void read_message_row(sqlite3_stmt *st, pd_arena *arena, pd_message *m, bool *failed)
{
    int c = 1; /* column 0 is the row id, kept by the caller */
    m->ordinal = sqlite3_column_int64(st, c++);
    m->role = archive_column_text_or_empty(st, c++, arena, failed);
    m->content = archive_column_text_or_empty(st, c++, arena, failed);
    m->content_length = sqlite3_column_int64(st, c++);
    m->thinking_text = archive_column_text_or_empty(st, c++, arena, failed);
    /* Writers store '' for an absent timestamp; the model uses NULL. */
    m->timestamp = archive_column_text(st, c++, arena, failed);
    if (m->timestamp != NULL && m->timestamp[0] == '\0')
        m->timestamp = NULL;
    m->has_thinking = sqlite3_column_int64(st, c++) != 0;
    m->has_tool_use = sqlite3_column_int64(st, c++) != 0;
    m->is_system = sqlite3_column_int64(st, c++) != 0;
    m->model = archive_column_text_or_empty(st, c++, arena, failed);
    m->token_usage = archive_column_text_or_empty(st, c++, arena, failed);
    m->context_tokens = sqlite3_column_int64(st, c++);
    m->output_tokens = sqlite3_column_int64(st, c++);
    m->has_context_tokens = sqlite3_column_int64(st, c++) != 0;
    m->has_output_tokens = sqlite3_column_int64(st, c++) != 0;
    m->claude_message_id = archive_column_text_or_empty(st, c++, arena, failed);
    m->claude_request_id = archive_column_text_or_empty(st, c++, arena, failed);
    m->source_type = archive_column_text_or_empty(st, c++, arena, failed);
    m->source_subtype = archive_column_text_or_empty(st, c++, arena, failed);
    m->prompt_source = archive_column_text_or_empty(st, c++, arena, failed);
    m->source_uuid = archive_column_text_or_empty(st, c++, arena, failed);
    m->source_parent_uuid = archive_column_text_or_empty(st, c++, arena, failed);
    m->is_sidechain = sqlite3_column_int64(st, c++) != 0;
    m->is_compact_boundary = sqlite3_column_int64(st, c++) != 0;
    m->stop_reason = "";
}

/* A message's row id with its position in the ordinal-ordered array. */
typedef struct message_key {
    int64_t row_id;
    size_t index;
} message_key;

static int compare_message_keys(const void *pa, const void *pb)
{
    const message_key *a = pa, *b = pb;
    return (a->row_id > b->row_id) - (a->row_id < b->row_id);
}

/* Sync inserts a session's messages in ordinal order, so their row ids
 * usually ascend already and the sort can be skipped. */
static bool keys_ascend(const message_key *keys, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (keys[i].row_id < keys[i - 1].row_id)
            return false;
    }
    return true;
}

/* ---- tool calls -------------------------------------------------------- */

static const char load_calls_sql[] =
    "SELECT message_id, tool_use_id, tool_name, category, input_json, skill_name,"
    " subagent_session_id, file_path, result_content, result_content_length, call_index"
    " FROM tool_calls WHERE session_id = ?1 ORDER BY id";

/* The same columns without the result body, which the comparator never reads
 * (most of a tool_calls row's bytes are that body). */
static const char load_calls_compared_sql[] =
    "SELECT message_id, tool_use_id, tool_name, category, input_json, skill_name,"
    " subagent_session_id, file_path, NULL, result_content_length, call_index"
    " FROM tool_calls WHERE session_id = ?1 ORDER BY id";

/* A loaded call waiting to be placed on its message. */
typedef struct loaded_call {
    size_t message_index;
    pd_tool_call call;
} loaded_call;

static void read_call_row(sqlite3_stmt *st, pd_arena *arena, pd_tool_call *tc, bool *failed)
{
    int c = 1; /* column 0 is message_id, resolved by the caller */
    tc->tool_use_id = archive_column_text(st, c++, arena, failed);
    tc->tool_name = archive_column_text_or_empty(st, c++, arena, failed);
    tc->category = archive_column_text_or_empty(st, c++, arena, failed);
    tc->input_json = archive_column_text(st, c++, arena, failed);
    tc->skill_name = archive_column_text(st, c++, arena, failed);
    tc->subagent_session_id = archive_column_text(st, c++, arena, failed);
    tc->file_path = archive_column_text(st, c++, arena, failed);
    tc->result_content = archive_column_text(st, c++, arena, failed);
    /* NULL is the stored form of 0. */
    tc->result_content_length = sqlite3_column_int64(st, c++);
    tc->call_index = archive_column_int_or_null(st, c++);
}

/* ---- result events and usage events ------------------------------------ */

static const char load_events_sql[] =
    "SELECT tool_call_message_ordinal, call_index, tool_use_id, agent_id, subagent_session_id,"
    " source, status, content, content_length, timestamp, event_index"
    " FROM tool_result_events WHERE session_id = ?1"
    " ORDER BY tool_call_message_ordinal, call_index, event_index, id";

static void read_event_row(sqlite3_stmt *st, pd_arena *arena, pd_tool_result_event *ev,
                           bool *failed)
{
    int c = 2; /* columns 0 and 1 locate the call */
    ev->tool_use_id = archive_column_text(st, c++, arena, failed);
    ev->agent_id = archive_column_text(st, c++, arena, failed);
    ev->subagent_session_id = archive_column_text(st, c++, arena, failed);
    ev->source = archive_column_text_or_empty(st, c++, arena, failed);
    ev->status = archive_column_text_or_empty(st, c++, arena, failed);
    ev->content = archive_column_text_or_empty(st, c++, arena, failed);
    ev->content_length = sqlite3_column_int64(st, c++);
    ev->timestamp = archive_column_text(st, c++, arena, failed);
    ev->event_index = sqlite3_column_int64(st, c++);
}

static const char load_usage_sql[] =
    "SELECT message_ordinal, source, model, input_tokens, output_tokens,"
    " cache_creation_input_tokens, cache_read_input_tokens, reasoning_tokens, occurred_at,"
    " dedup_key"
    " FROM usage_events WHERE session_id = ?1 ORDER BY id";

static void read_usage_row(sqlite3_stmt *st, pd_arena *arena, pd_usage_event *ue, bool *failed)
{
    int c = 0;
    ue->message_ordinal = archive_column_int_or_null(st, c++);
    ue->source = archive_column_text_or_empty(st, c++, arena, failed);
    ue->model = archive_column_text_or_empty(st, c++, arena, failed);
    ue->input_tokens = sqlite3_column_int64(st, c++);
    ue->output_tokens = sqlite3_column_int64(st, c++);
    ue->cache_creation_input_tokens = sqlite3_column_int64(st, c++);
    ue->cache_read_input_tokens = sqlite3_column_int64(st, c++);
    ue->reasoning_tokens = sqlite3_column_int64(st, c++);
    ue->occurred_at = archive_column_text(st, c++, arena, failed);
    ue->dedup_key = archive_column_text_or_empty(st, c++, arena, failed);
}

/* ---- loading ----------------------------------------------------------- */

/* State of one pd_archive_load_session() call. */
typedef struct session_loader {
    pd_archive *a;
    const char *id;
    int64_t rowid; /* where the snapshot saw the row, or 0 */
    pd_arena *arena;
    pd_session *s;
    pd_err *err;
    message_key *keys;  /* messages sorted by row id, for placing tool calls */
    bool compared_only; /* skip what the comparator never reads */
} session_loader;

static int fail_memory(session_loader *ld, const char *operation)
{
    return pd_err_set(ld->err, PD_ENOMEM, "%s: load session %s: %s: out of memory", ld->a->path,
                      ld->id, operation);
}

/* Grows an arena array by doubling; returns false when memory runs out. */
static bool grow_array(pd_arena *arena, void **items, size_t n, size_t *cap, size_t elem_size)
{
    if (n < *cap)
        return true;
    size_t new_cap = *cap == 0 ? 16 : *cap * 2;
    void *grown = pd_arena_grow(arena, *items, n, new_cap, elem_size);
    if (grown == NULL)
        return false;
    *items = grown;
    *cap = new_cap;
    return true;
}

static int load_messages(session_loader *ld)
{
    pd_session *s = ld->s;
    size_t cap = 0, keys_cap = 0;
    bool failed = false;
    int result = PD_OK;

    sqlite3_stmt *st = NULL;
    int prc = archive_stmt(ld->a, STMT_LOAD_MESSAGES, load_messages_sql, &st, ld->err);
    if (prc != PD_OK)
        return prc;
    sqlite3_bind_text(st, 1, ld->id, -1, SQLITE_STATIC);

    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow_array(ld->arena, (void **)&s->messages, s->n_messages, &cap, sizeof *s->messages))
            goto out_of_memory;
        if (s->n_messages == keys_cap) {
            size_t new_cap = keys_cap == 0 ? 16 : keys_cap * 2;
            message_key *grown = realloc(ld->keys, new_cap * sizeof *grown);
            if (grown == NULL)
                goto out_of_memory;
            ld->keys = grown;
            keys_cap = new_cap;
        }
        pd_message *m = &s->messages[s->n_messages];
        memset(m, 0, sizeof *m);
        read_message_row(st, ld->arena, m, &failed);
        if (failed)
            goto out_of_memory;
        ld->keys[s->n_messages].row_id = sqlite3_column_int64(st, 0);
        ld->keys[s->n_messages].index = s->n_messages;
        s->n_messages++;
    }
    if (rc != SQLITE_DONE)
        result = archive_sqlite_fail(ld->a, rc, "load messages", ld->err);
    else if (!keys_ascend(ld->keys, s->n_messages))
        qsort(ld->keys, s->n_messages, sizeof *ld->keys, compare_message_keys);
    archive_stmt_done(st);
    return result;

out_of_memory:
    archive_stmt_done(st);
    return fail_memory(ld, "messages");
}

static bool find_message_by_row_id(const session_loader *ld, int64_t row_id, size_t *index)
{
    message_key key = {.row_id = row_id, .index = 0};
    const message_key *hit =
        bsearch(&key, ld->keys, ld->s->n_messages, sizeof *ld->keys, compare_message_keys);
    if (hit == NULL)
        return false;
    *index = hit->index;
    return true;
}

/*
 * Loads every call of the session in id order into a temporary list, then
 * gives each message one arena array holding its calls in that order. A
 * call whose message row is missing (possible only in a damaged archive) is
 * left out.
 */
static int load_calls(session_loader *ld)
{
    pd_session *s = ld->s;
    loaded_call *calls = NULL;
    size_t n = 0, cap = 0;
    bool failed = false;
    int result = PD_OK;

    sqlite3_stmt *st = NULL;
    int prc =
        ld->compared_only
            ? archive_stmt(ld->a, STMT_LOAD_CALLS_COMPARED, load_calls_compared_sql, &st, ld->err)
            : archive_stmt(ld->a, STMT_LOAD_CALLS, load_calls_sql, &st, ld->err);
    if (prc != PD_OK)
        return prc;
    sqlite3_bind_text(st, 1, ld->id, -1, SQLITE_STATIC);

    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t message_index;
        if (!find_message_by_row_id(ld, sqlite3_column_int64(st, 0), &message_index))
            continue;
        if (n == cap) {
            size_t new_cap = cap == 0 ? 16 : cap * 2;
            loaded_call *grown = realloc(calls, new_cap * sizeof *grown);
            if (grown == NULL) {
                result = fail_memory(ld, "tool calls");
                goto cleanup;
            }
            calls = grown;
            cap = new_cap;
        }
        memset(&calls[n], 0, sizeof calls[n]);
        calls[n].message_index = message_index;
        read_call_row(st, ld->arena, &calls[n].call, &failed);
        if (failed) {
            result = fail_memory(ld, "tool calls");
            goto cleanup;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        result = archive_sqlite_fail(ld->a, rc, "load tool calls", ld->err);
        goto cleanup;
    }

    /* Count per message, allocate, then place in id order. */
    for (size_t i = 0; i < n; i++)
        s->messages[calls[i].message_index].n_tool_calls++;
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        if (m->n_tool_calls == 0)
            continue;
        m->tool_calls = pd_arena_calloc(ld->arena, m->n_tool_calls, sizeof *m->tool_calls);
        if (m->tool_calls == NULL) {
            result = fail_memory(ld, "tool calls");
            goto cleanup;
        }
        m->n_tool_calls = 0;
    }
    for (size_t i = 0; i < n; i++) {
        pd_message *m = &s->messages[calls[i].message_index];
        m->tool_calls[m->n_tool_calls++] = calls[i].call;
    }

cleanup:
    archive_stmt_done(st);
    free(calls);
    return result;
}

/* The message with this ordinal (messages are sorted by ordinal), or NULL. */
static pd_message *find_message_by_ordinal(pd_session *s, int64_t ordinal)
{
    size_t lo = 0, hi = s->n_messages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->messages[mid].ordinal < ordinal)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_messages && s->messages[lo].ordinal == ordinal)
        return &s->messages[lo];
    return NULL;
}

static pd_tool_call *find_call(pd_session *s, int64_t ordinal, int64_t call_index)
{
    pd_message *m = find_message_by_ordinal(s, ordinal);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_tool_calls; i++)
        if (m->tool_calls[i].call_index == call_index)
            return &m->tool_calls[i];
    return NULL;
}

/*
 * Attaches result events to their calls by (message ordinal, call_index).
 * Rows arrive grouped by call, so each call's events form one run that is
 * copied into an arena array when the run ends. Events whose call is not
 * stored are left out.
 */
static int load_events(session_loader *ld)
{
    pd_tool_result_event *run = NULL;
    size_t n_run = 0, cap_run = 0;
    pd_tool_call *run_call = NULL;
    int64_t run_ordinal = 0, run_call_index = 0;
    bool failed = false;
    int result = PD_OK;

    sqlite3_stmt *st = NULL;
    int prc = archive_stmt(ld->a, STMT_LOAD_EVENTS, load_events_sql, &st, ld->err);
    if (prc != PD_OK)
        return prc;
    sqlite3_bind_text(st, 1, ld->id, -1, SQLITE_STATIC);

    int rc;
    bool have_run = false;
    for (;;) {
        rc = sqlite3_step(st);
        bool is_row = rc == SQLITE_ROW;
        int64_t ordinal = is_row ? sqlite3_column_int64(st, 0) : 0;
        int64_t call_index = is_row ? sqlite3_column_int64(st, 1) : 0;

        /* A new call (or the end) closes the current run. */
        if (have_run && (!is_row || ordinal != run_ordinal || call_index != run_call_index)) {
            if (run_call != NULL && n_run > 0) {
                run_call->events = pd_arena_alloc(ld->arena, n_run * sizeof *run);
                if (run_call->events == NULL) {
                    result = fail_memory(ld, "tool result events");
                    goto cleanup;
                }
                memcpy(run_call->events, run, n_run * sizeof *run);
                run_call->n_events = n_run;
            }
            have_run = false;
            n_run = 0;
        }
        if (!is_row)
            break;
        if (!have_run) {
            have_run = true;
            run_ordinal = ordinal;
            run_call_index = call_index;
            run_call = find_call(ld->s, ordinal, call_index);
        }
        if (run_call == NULL)
            continue;
        if (n_run == cap_run) {
            size_t new_cap = cap_run == 0 ? 8 : cap_run * 2;
            pd_tool_result_event *grown = realloc(run, new_cap * sizeof *grown);
            if (grown == NULL) {
                result = fail_memory(ld, "tool result events");
                goto cleanup;
            }
            run = grown;
            cap_run = new_cap;
        }
        memset(&run[n_run], 0, sizeof run[n_run]);
        read_event_row(st, ld->arena, &run[n_run], &failed);
        if (failed) {
            result = fail_memory(ld, "tool result events");
            goto cleanup;
        }
        n_run++;
    }
    if (rc != SQLITE_DONE)
        result = archive_sqlite_fail(ld->a, rc, "load tool result events", ld->err);

cleanup:
    archive_stmt_done(st);
    free(run);
    return result;
}

static int load_usage(session_loader *ld)
{
    pd_session *s = ld->s;
    size_t cap = 0;
    bool failed = false;
    int result = PD_OK;

    sqlite3_stmt *st = NULL;
    int prc = archive_stmt(ld->a, STMT_LOAD_USAGE, load_usage_sql, &st, ld->err);
    if (prc != PD_OK)
        return prc;
    sqlite3_bind_text(st, 1, ld->id, -1, SQLITE_STATIC);

    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow_array(ld->arena, (void **)&s->usage_events, s->n_usage_events, &cap,
                        sizeof *s->usage_events)) {
            result = fail_memory(ld, "usage events");
            break;
        }
        pd_usage_event *ue = &s->usage_events[s->n_usage_events];
        memset(ue, 0, sizeof *ue);
        read_usage_row(st, ld->arena, ue, &failed);
        if (failed) {
            result = fail_memory(ld, "usage events");
            break;
        }
        s->n_usage_events++;
    }
    if (result == PD_OK && rc != SQLITE_DONE)
        result = archive_sqlite_fail(ld->a, rc, "load usage events", ld->err);
    archive_stmt_done(st);
    return result;
}

/*
 * Steps a statement that selects one sessions row. *found is false when
 * there is none, and also when want_id is given and the row has another id.
 */
static int step_session_row(session_loader *ld, sqlite3_stmt *st, const char *want_id, bool *found)
{
    int result = PD_OK;
    bool failed = false;
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW && want_id != NULL) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        *found = id != NULL && strcmp(id, want_id) == 0;
    }
    if (*found) {
        read_session_row(st, ld->arena, ld->s, &failed);
        if (failed)
            result = fail_memory(ld, "session row");
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        result = archive_sqlite_fail(ld->a, rc, "load session row", ld->err);
    }
    archive_stmt_done(st);
    return result;
}

/*
 * Reads the sessions row. *found is false when there is none. The snapshot's
 * rowid is tried first: the sessions table is read in the order rows were
 * written, so its pages are usually cached, while the id index is probed
 * at random.
 */
static int load_session_row(session_loader *ld, bool *found)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (ld->rowid > 0 && ld->a->sessions_has_rowid) {
        rc = archive_stmt(ld->a, STMT_LOAD_SESSION_AT, load_session_at_sql, &st, ld->err);
        if (rc != PD_OK)
            return rc;
        sqlite3_bind_int64(st, 1, ld->rowid);
        rc = step_session_row(ld, st, ld->id, found);
        if (rc != PD_OK || *found)
            return rc;
        /* A sync replaced or removed the row since the snapshot. */
        pd_session_init(ld->s);
    }
    rc = archive_stmt(ld->a, STMT_LOAD_SESSION, load_session_sql, &st, ld->err);
    if (rc != PD_OK)
        return rc;
    sqlite3_bind_text(st, 1, ld->id, -1, SQLITE_STATIC);
    return step_session_row(ld, st, NULL, found);
}

static int load_session(pd_archive *a, const char *id, int64_t rowid, bool compared_only,
                        pd_arena *arena, pd_session *out, bool *found, pd_err *err)
{
    session_loader ld = {.a = a,
                         .id = id,
                         .rowid = rowid,
                         .arena = arena,
                         .s = out,
                         .err = err,
                         .keys = NULL,
                         .compared_only = compared_only};
    bool own_transaction = false;
    int rc = PD_OK;

    *found = false;
    pd_session_init(out);

    /* One read transaction, unless the caller already has one open. */
    if (sqlite3_get_autocommit(a->db)) {
        rc = archive_exec_cached(a, STMT_BEGIN, "BEGIN", "start a read transaction", err);
        if (rc != PD_OK)
            return rc;
        own_transaction = true;
    }

    rc = load_session_row(&ld, found);
    if (rc == PD_OK && *found)
        rc = load_messages(&ld);
    if (rc == PD_OK && *found)
        rc = load_calls(&ld);
    if (rc == PD_OK && *found && !compared_only)
        rc = load_events(&ld);
    if (rc == PD_OK && *found)
        rc = load_usage(&ld);

    free(ld.keys);
    if (own_transaction) {
        /* A failed end of a read transaction loses nothing, so its error is dropped. */
        pd_err ignored = {0};
        if (rc == PD_OK)
            archive_exec_cached(a, STMT_COMMIT, "COMMIT", "end a read transaction", &ignored);
        else
            archive_exec_cached(a, STMT_ROLLBACK, "ROLLBACK", "end a read transaction", &ignored);
    }
    if (rc != PD_OK) {
        *found = false;
        pd_session_init(out);
    }
    return rc;
}

int pd_archive_load_session(pd_archive *a, const char *id, int64_t rowid, pd_arena *arena,
                            pd_session *out, bool *found, pd_err *err)
{
    return load_session(a, id, rowid, false, arena, out, found, err);
}

int pd_archive_load_compared(pd_archive *a, const char *id, int64_t rowid, pd_arena *arena,
                             pd_session *out, bool *found, pd_err *err)
{
    return load_session(a, id, rowid, true, arena, out, found, err);
}

int pd_archive_read_begin(pd_archive *a, pd_err *err)
{
    if (!sqlite3_get_autocommit(a->db))
        return PD_OK;
    return archive_exec_cached(a, STMT_BEGIN, "BEGIN", "start a read transaction", err);
}

bool pd_archive_read_end(pd_archive *a)
{
    if (a == NULL || a->db == NULL || sqlite3_get_autocommit(a->db))
        return true;
    /* Ending a read transaction loses nothing, so its error is dropped. */
    pd_err ignored = {0};
    archive_exec_cached(a, STMT_COMMIT, "COMMIT", "end a read transaction", &ignored);
    if (!sqlite3_get_autocommit(a->db))
        archive_exec_cached(a, STMT_ROLLBACK, "ROLLBACK", "end a read transaction", &ignored);
    return sqlite3_get_autocommit(a->db) != 0;
}

/* ---- one row's bookkeeping --------------------------------------------- */

static const char load_row_sql[] =
    "SELECT " ARCHIVE_ROW_COLUMNS ", rowid FROM sessions WHERE id = ?1";
static const char load_row_no_rowid_sql[] =
    "SELECT " ARCHIVE_ROW_COLUMNS ", 0 FROM sessions WHERE id = ?1";

static const char *copy_to_arena(void *ctx, const char *s, size_t n)
{
    return pd_arena_strndup(ctx, s, n);
}

int pd_archive_load_row(pd_archive *a, const char *id, pd_stored_row *out, pd_arena *arena,
                        bool *found, pd_err *err)
{
    int result = PD_OK;

    *found = false;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    int prc = archive_stmt(a, STMT_LOAD_ROW,
                           a->sessions_has_rowid ? load_row_sql : load_row_no_rowid_sql, &st, err);
    if (prc != PD_OK)
        return prc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);

    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        if (!archive_decode_row(st, out, copy_to_arena, copy_to_arena, arena))
            result = pd_err_set(err, PD_ENOMEM, "%s: load row %s: out of memory", a->path, id);
    } else if (rc != SQLITE_DONE) {
        result = archive_sqlite_fail(a, rc, "load row", err);
    }
    archive_stmt_done(st);
    if (result != PD_OK)
        *found = false;
    return result;
}
