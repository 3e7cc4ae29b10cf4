/*
 * codex.c -- the Codex CLI provider: discovery and parsing of rollout files.
 *
 * Codex writes one JSONL rollout per session under
 * <root>/YYYY/MM/DD/rollout-<local time>-<uuid>.jsonl, and archived ones flat
 * under <root>/rollout-*.jsonl (either may be zstd-compressed as .jsonl.zst).
 * One rollout yields exactly one session, "codex:" + its session_meta id
 * (the file stem when it has none).
 *
 * A full parse scans every line (codex_lines.c) and consumes the buffer up
 * to the end of its last complete, newline-terminated valid line. A valid
 * final line without a newline is still read but not consumed. An invalid
 * one is neither read nor counted as malformed.
 *
 * An incremental parse re-derives the scan state (model, first prompt,
 * lifecycle, replay gate, token dedup) from the stored prefix without
 * emitting its messages, then returns only the messages of the complete
 * appended lines. Whenever the appended lines could change what is already
 * stored it returns PD_EFALLBACK so the caller runs a full parse.
 *
 * Entry points (through pd_provider_codex), in call order:
 *   open_shared (codex_index.c)   main thread, once per run
 *   codex_discover                 main or discovery thread
 *   codex_parse                    any worker thread, concurrently
 *   effective_mtime                any thread
 *   close_shared                   once, after every parse returned
 * plus pd_codex_consumed_size for the diff collector. Threading: a parse
 * touches only its request (arena, parser) and reads the shared state.
 */
#include "parsers/codex.h"
#include "parsers/codex_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/timefmt.h"

/* ---- discovery --------------------------------------------------------------------- */

typedef struct discover_ctx {
    const char *root;
    pd_discover_fn emit;
    void *emit_ctx;
} discover_ctx;

static int emit_rollout(void *ctx, const char *path, bool is_dated)
{
    discover_ctx *dc = ctx;
    char uuid[37];
    char key[sizeof "codex:" + 36];
    pd_source src = {.path = path, .agent = "codex", .root = dc->root, .is_dated = is_dated};

    if (pd_codex_uuid_from_path(path, uuid)) {
        snprintf(key, sizeof key, "codex:%s", uuid);
        src.dedupe_key = key;
    }
    return dc->emit(dc->emit_ctx, &src);
}

static int emit_unlistable(void *ctx, const char *dir, int errnum)
{
    discover_ctx *dc = ctx;
    pd_source src = {.path = dir, .agent = "codex", .root = dc->root, .list_errno = errnum};
    return dc->emit(dc->emit_ctx, &src);
}

static int codex_discover(const char *root, pd_arena *arena, pd_discover_fn emit, void *ctx,
                          pd_err *err)
{
    /* Each source is emitted with its path only for the call, so nothing goes to arena. */
    (void)arena;
    discover_ctx dc = {root, emit, ctx};

    return pd_codex_walk_root(root, emit_rollout, emit_unlistable, true, &dc, err);
}

/* ---- scanning ---------------------------------------------------------------------------- */

typedef struct scan_result {
    int64_t consumed;  /* offset after the last complete valid line */
    int64_t malformed; /* invalid newline-terminated lines */
} scan_result;

/*
 * Scans buf[start..end). In tail mode a valid line without its newline
 * stops the scan with PD_EFALLBACK, because Codex may still be writing it
 * and only a full parse can take it into account.
 */
static int scan(pd_codex_builder *b, size_t start, size_t end, scan_result *res)
{
    const pd_source_buf *src = b->req->src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;

    res->consumed = (int64_t)start;
    res->malformed = 0;
    pd_jsonl_init(&reader, src->data, end, start);
    while (pd_jsonl_next(&reader, &line)) {
        pd_json root;
        int rc = pd_json_parse(b->req->json, line.data, line.len, &root);

        if (rc == PD_ENOMEM)
            return rc;
        if (rc != PD_OK) {
            if (line.terminated)
                res->malformed++;
            continue;
        }
        if (!line.terminated && b->tail_mode) {
            b->fallback = "valid line without a newline at the end of the file";
            return PD_EFALLBACK;
        }
        if (line.terminated)
            res->consumed = line.end;

        rc = pd_codex_process_line(b, root);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* ---- session fields -------------------------------------------------------------------- */

/* The file name without ".jsonl" or ".jsonl.zst". */
static char *file_stem(pd_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    size_t n = strlen(name);

    if (n > 10 && strcmp(name + n - 10, ".jsonl.zst") == 0)
        n -= 10;
    else if (n > 6 && strcmp(name + n - 6, ".jsonl") == 0)
        n -= 6;
    return pd_codex_clean(a, name, n);
}

/* The last segment of an agent path ("/root/worker" -> "worker"). */
static char *agent_path_leaf(pd_arena *a, const char *path)
{
    size_t n = strlen(path);

    while (n > 0 && path[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    return n > start ? pd_arena_strndup(a, path + start, n - start) : NULL;
}

static char *format_time(pd_arena *a, bool have, int64_t t)
{
    char buf[PD_TIME_FMT_MAX];

    if (!have)
        return NULL;
    return pd_arena_strdup(a, pd_time_format(t, buf));
}

static const char *termination_of(const char *last_task_event)
{
    if (last_task_event == NULL)
        return NULL;
    if (strcmp(last_task_event, "task_complete") == 0)
        return "awaiting_user";
    return "tool_call_pending";
}

/* The key of this session in the title index: its session_meta id, else the file's UUID. */
static bool title_key(const pd_codex_builder *b, const char *path, const char **key, char uuid[37])
{
    if (b->meta_id != NULL && b->meta_id[0] != '\0') {
        *key = b->meta_id;
        return true;
    }
    if (pd_codex_uuid_from_path(path, uuid)) {
        *key = uuid;
        return true;
    }
    return false;
}

static int fill_session(const pd_codex_builder *b, pd_session *s)
{
    const pd_parse_request *req = b->req;
    pd_arena *a = req->arena;

    pd_session_init(s);
    if (b->meta_id != NULL && b->meta_id[0] != '\0')
        s->id = pd_arena_sprintf(a, "codex:%s", b->meta_id);
    else {
        char *stem = file_stem(a, req->path);
        s->id = stem != NULL ? pd_arena_sprintf(a, "codex:%s", stem) : NULL;
    }
    s->project = b->project;
    s->machine = pd_codex_clean(a, req->machine != NULL ? req->machine : "",
                                req->machine != NULL ? strlen(req->machine) : 0);
    s->agent = pd_arena_strdup(a, "codex");
    char *empty = pd_arena_strdup(a, "");
    if (s->id == NULL || s->machine == NULL || s->agent == NULL || empty == NULL)
        return PD_ENOMEM;
    s->agent_label = empty;
    s->entrypoint = empty;
    s->session_kind = empty;
    s->git_branch = empty;
    s->source_session_id = empty;
    s->source_version = empty;
    s->transcript_fidelity = empty;
    s->relationship_type = empty;
    s->cwd = b->cwd;

    s->first_message = b->first_message != NULL && b->first_message[0] != '\0' ? b->first_message
                                                                               : NULL;
    s->started_at = format_time(a, b->have_started, b->started_ns);
    s->ended_at = format_time(a, b->have_ended, b->ended_ns);
    if ((b->have_started && s->started_at == NULL) || (b->have_ended && s->ended_at == NULL))
        return PD_ENOMEM;

    if (b->parent_thread != NULL) {
        s->parent_session_id = pd_arena_sprintf(a, "codex:%s", b->parent_thread);
        s->relationship_type = pd_arena_strdup(a, "subagent");
        if (s->parent_session_id == NULL || s->relationship_type == NULL)
            return PD_ENOMEM;
    }

    s->messages = b->msgs;
    s->n_messages = b->n_msgs;
    s->message_count = (int64_t)b->n_msgs;
    for (size_t i = 0; i < b->n_msgs; i++) {
        const pd_message *m = &b->msgs[i];
        if (strcmp(m->role, "user") == 0 && m->content[0] != '\0')
            s->user_message_count++;
        if (m->has_output_tokens) {
            s->total_output_tokens += m->output_tokens;
            s->has_total_output_tokens = true;
        }
        if (m->has_context_tokens) {
            if (!s->has_peak_context_tokens || m->context_tokens > s->peak_context_tokens)
                s->peak_context_tokens = m->context_tokens;
            s->has_peak_context_tokens = true;
        }
    }

    const char *termination = termination_of(b->last_task_event);
    if (termination != NULL) {
        s->termination_status = pd_arena_strdup(a, termination);
        if (s->termination_status == NULL)
            return PD_ENOMEM;
    }

    s->file_path = pd_codex_clean(a, req->path, strlen(req->path));
    if (s->file_path == NULL)
        return PD_ENOMEM;
    s->file_size = req->src->file_size;
    s->file_mtime = pd_codex_effective_mtime(req->shared, req->path, req->src->mtime_ns);
    s->file_inode = req->src->inode != 0 ? req->src->inode : PD_INT_NULL;
    s->file_device = req->src->device != 0 ? req->src->device : PD_INT_NULL;
    s->needs_retry = b->gate.needs_retry;
    return PD_OK;
}

/* session_name from the title index, else a subagent's agent-path leaf. */
static int fill_title(const pd_codex_builder *b, pd_session *s)
{
    const pd_codex_index *ix = pd_codex_index_for_path(b->shared, b->req->path);
    const char *key;
    const char *title;
    char uuid[37];

    if (title_key(b, b->req->path, &key, uuid) && pd_codex_index_lookup(ix, key, strlen(key), &title)) {
        s->session_name_present = true;
        s->session_name = title[0] != '\0' ? pd_arena_strdup(b->arena, title) : NULL;
        return title[0] != '\0' && s->session_name == NULL ? PD_ENOMEM : PD_OK;
    }
    if (s->first_message == NULL && b->parent_thread != NULL && b->agent_path != NULL)
        s->session_name = agent_path_leaf(b->arena, b->agent_path);
    return PD_OK;
}

/* ---- parse entry points ---------------------------------------------------------------------- */

static int parse_full(pd_codex_builder *b, pd_parse_result *out, pd_err *err)
{
    const pd_parse_request *req = b->req;
    scan_result res;
    pd_session *s;
    int rc;

    rc = scan(b, 0, req->src->len, &res);
    if (rc == PD_OK)
        rc = pd_codex_builder_finish(b);
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: parsing the Codex rollout failed: %s", req->path,
                          pd_strerror(rc));

    s = pd_arena_alloc(req->arena, sizeof *s);
    if (s == NULL || fill_session(b, s) != PD_OK || fill_title(b, s) != PD_OK)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory building the session", req->path);
    s->parser_malformed_lines = res.malformed;

    out->sessions = s;
    out->n_sessions = 1;
    out->consumed = res.consumed;
    out->malformed_lines = res.malformed;
    return PD_OK;
}

/* Whether the title a full parse would store differs from the stored one. */
static bool title_changed(const pd_codex_builder *b, const char *stored)
{
    const pd_codex_index *ix = pd_codex_index_for_path(b->shared, b->req->path);
    const char *key;
    const char *title;
    char uuid[37];

    if (!title_key(b, b->req->path, &key, uuid) || !pd_codex_index_lookup(ix, key, strlen(key), &title))
        return false; /* a missing row is not a rename */

    const char *old = stored != NULL ? stored : "";
    size_t old_n = strlen(old);
    pd_codex_trim(&old, &old_n);
    return !pd_codex_eq(old, old_n, title);
}

static int parse_incremental(pd_codex_builder *b, pd_parse_result *out, pd_err *err)
{
    const pd_parse_request *req = b->req;
    const pd_incr_state *incr = req->incr;
    const pd_source_buf *src = req->src;
    scan_result res;
    int rc;

    /* Offsets of a compressed source do not match its stored on-disk size. */
    if (src->compressed || incr->offset <= 0 || (uint64_t)incr->offset > src->len ||
        src->data[incr->offset - 1] != '\n')
        return pd_err_set(err, PD_EFALLBACK,
                          "%s: the stored size %lld does not end a line of the file", req->path,
                          (long long)incr->offset);

    /* Re-derive the scan state from the stored prefix, dropping its messages. */
    rc = scan(b, 0, (size_t)incr->offset, &res);
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: re-reading the stored prefix failed: %s", req->path,
                          pd_strerror(rc));
    if (title_changed(b, incr->session_name))
        return pd_err_set(err, PD_EFALLBACK, "%s: the thread title changed in the index",
                          req->path);

    pd_codex_builder_start_tail(b, incr->next_ordinal);
    rc = scan(b, (size_t)incr->offset, src->len, &res);
    if (rc == PD_EFALLBACK)
        return pd_err_set(err, rc, "%s: the appended lines need a full parse: %s", req->path,
                          b->fallback != NULL ? b->fallback : "unknown reason");
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: parsing the appended lines failed: %s", req->path,
                          pd_strerror(rc));

    pd_session *s = pd_arena_alloc(req->arena, sizeof *s);
    if (s == NULL || fill_session(b, s) != PD_OK)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory building the session", req->path);
    if (incr->session_id != NULL) {
        s->id = pd_arena_strdup(req->arena, incr->session_id);
        if (s->id == NULL)
            return pd_err_set(err, PD_ENOMEM, "%s: out of memory", req->path);
    }
    /* An incremental write keeps the stored first message and title. */
    s->first_message = incr->first_message != NULL ? pd_arena_strdup(req->arena, incr->first_message)
                                                    : NULL;
    s->session_name = incr->session_name != NULL ? pd_arena_strdup(req->arena, incr->session_name)
                                                 : NULL;
    s->parser_malformed_lines = res.malformed;

    out->sessions = s;
    out->n_sessions = 1;
    out->consumed = res.consumed;
    out->malformed_lines = res.malformed;
    return PD_OK;
}

static int codex_parse(const pd_parse_request *req, pd_parse_result *out, pd_err *err)
{
    pd_codex_builder b;
    pd_json_parser *nested;
    int rc;

    memset(out, 0, sizeof *out);
    if (req == NULL || req->path == NULL || req->src == NULL || req->json == NULL ||
        req->arena == NULL)
        return pd_err_set(err, PD_EINVAL, "codex: parse request is missing its source");

    nested = pd_json_parser_new();
    if (nested == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", req->path);
    rc = pd_codex_builder_init(&b, req, nested);
    if (rc != PD_OK) {
        rc = pd_err_set(err, rc, "%s: out of memory", req->path);
        goto out;
    }

    if (req->incr != NULL)
        rc = parse_incremental(&b, out, err);
    else
        rc = parse_full(&b, out, err);

out:
    pd_json_parser_free(nested);
    if (rc != PD_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

int pd_codex_consumed_size(const char *path, pd_json_parser *p, int64_t *out, pd_err *err)
{
    return pd_jsonl_file_consumed_boundary(path, p, out, err);
}

static bool same_rollout_uuid(const char *a, const char *b)
{
    char uuid_a[37], uuid_b[37];
    return pd_codex_uuid_from_path(a, uuid_a) && pd_codex_uuid_from_path(b, uuid_b) &&
           strcmp(uuid_a, uuid_b) == 0;
}

const pd_provider pd_provider_codex = {
    .name = "codex",
    .file_based = true,
    .incremental = true,
    .live_mtime_rule = PD_LIVE_MTIME_TRANSCRIPT,
    .ignores_partial_tail = true,
    .open_shared = pd_codex_shared_open,
    .close_shared = pd_codex_shared_close,
    .discover = codex_discover,
    .parse = codex_parse,
    .effective_mtime = pd_codex_effective_mtime,
    .same_dedupe_key = same_rollout_uuid,
};
