/*
 * codex_lines.c -- what each line of a Codex rollout contributes to a session.
 *
 * Two generations of the format are read:
 *   - the envelope {"timestamp", "type", "payload"} with type session_meta,
 *     turn_context, response_item or event_msg;
 *   - the older bare lines: a first meta line {id, timestamp, instructions,
 *     git}, {"record_type":"state"} markers, and response items written
 *     without envelope or timestamp, where the working directory appears
 *     only inside the <environment_context> user message.
 * A bare line is dispatched as if its envelope had been present.
 *
 * Every valid line's timestamp extends the session bounds, replayed parent
 * history included: the first sets started_at and each one overwrites
 * ended_at (file order, not the maximum).
 *
 * Entry points, in call order: pd_codex_builder_init, then
 * pd_codex_process_line for each valid line (pd_codex_builder_start_tail
 * between prefix and tail of an incremental parse), then
 * pd_codex_builder_finish. Threading: a builder belongs to one parse.
 */
#include "parsers/codex_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "common/timefmt.h"
#include "parsers/claude_internal.h" /* claude_project_from_cwd: the shared project rule */
#include "parsers/taxonomy.h"

#define FIRST_MESSAGE_MAX_RUNES 300

/* Kinds of line after the format generation has been resolved. */
typedef enum line_kind { LINE_IGNORED = 0, LINE_META, LINE_TURN, LINE_ITEM, LINE_EVENT } line_kind;

/* One line being applied. */
typedef struct line_ctx {
    pd_json payload;
    const char *payload_path; /* "payload", or "" for a bare legacy line */
    bool legacy;
    bool has_time;   /* the envelope has a valid timestamp */
    pd_time_ns time; /* that timestamp */
    char *time_text; /* PD_TIME_FMT_MAX bytes for line_timestamp() */
} line_ctx;

/*
 * Formats the line's timestamp into lc->time_text and returns it, or NULL
 * when the line has none. Only lines that become messages or events need
 * the text, so it is not formatted for every line.
 */
static const char *line_timestamp(const line_ctx *lc)
{
    return lc->has_time ? pd_time_format(lc->time, lc->time_text) : NULL;
}

static int fallback(pd_codex_builder *b, const char *why)
{
    b->fallback = why;
    return PD_EFALLBACK;
}

static const char *str_of(pd_json v, size_t *n)
{
    return pd_json_str_or_empty(v, n);
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    return pd_text_has_prefix(s, n, prefix);
}

/* ---- builder ----------------------------------------------------------------- */

int pd_codex_builder_init(pd_codex_builder *b, const pd_parse_request *req, pd_json_parser *nested)
{
    memset(b, 0, sizeof *b);
    b->req = req;
    b->shared = req->shared;
    b->arena = req->arena;
    b->nested = nested;
    pd_codex_map_init(&b->call_refs, b->arena);
    pd_codex_map_init(&b->call_names, b->arena);
    pd_codex_map_init(&b->spawn_calls, b->arena);
    pd_codex_map_init(&b->wait_calls, b->arena);
    pd_codex_gate_init(&b->gate, b->arena);

    b->cwd = pd_arena_strdup(b->arena, "");
    b->project = pd_arena_strdup(b->arena, "unknown");
    b->git_branch = pd_arena_strdup(b->arena, "");
    b->model = pd_arena_strdup(b->arena, "");
    if (b->cwd == NULL || b->project == NULL || b->git_branch == NULL || b->model == NULL)
        return PD_ENOMEM;
    return PD_OK;
}

void pd_codex_builder_start_tail(pd_codex_builder *b, int64_t next_ordinal)
{
    b->msgs = NULL;
    b->n_msgs = 0;
    b->cap_msgs = 0;
    b->ordinal = next_ordinal;
    pd_codex_map_clear(&b->call_refs);
    pd_codex_map_clear(&b->call_names);
    pd_codex_map_clear(&b->spawn_calls);
    pd_codex_map_clear(&b->wait_calls);
    b->pending = NULL;
    b->n_pending = 0;
    b->cap_pending = 0;
    b->have_ended = false;
    b->tail_mode = true;
}

static pd_message *push_message(pd_codex_builder *b, const char *role, const char *content,
                                size_t len, const char *timestamp)
{
    if (b->n_msgs == b->cap_msgs) {
        size_t cap = b->cap_msgs ? b->cap_msgs * 2 : 32;
        pd_message *grown = pd_arena_grow(b->arena, b->msgs, b->cap_msgs, cap, sizeof *grown);
        if (grown == NULL)
            return NULL;
        b->msgs = grown;
        b->cap_msgs = cap;
    }

    pd_message *m = &b->msgs[b->n_msgs];
    memset(m, 0, sizeof *m);
    char *empty = pd_arena_strdup(b->arena, "");
    m->role = pd_arena_strdup(b->arena, role);
    m->content = pd_utf8_sanitize(b->arena, content, len, NULL);
    m->timestamp = timestamp != NULL ? pd_arena_strdup(b->arena, timestamp) : NULL;
    if (empty == NULL || m->role == NULL || m->content == NULL ||
        (timestamp != NULL && m->timestamp == NULL))
        return NULL;

    m->ordinal = b->ordinal++;
    m->content_length = (int64_t)strlen(m->content);
    m->thinking_text = empty;
    m->model = b->model;
    m->token_usage = empty;
    m->claude_message_id = empty;
    m->claude_request_id = empty;
    m->source_type = empty;
    m->source_subtype = empty;
    m->prompt_source = empty;
    m->source_uuid = empty;
    m->source_parent_uuid = empty;
    m->stop_reason = empty;
    b->n_msgs++;
    return m;
}

/* The single tool call of the message that made call_id, or NULL. */
static pd_tool_call *call_by_id(pd_codex_builder *b, const char *call_id, size_t n)
{
    void *value;

    if (n == 0 || !pd_codex_map_get(&b->call_refs, call_id, n, &value))
        return NULL;
    size_t index = (size_t)(uintptr_t)value - 1;
    if (index >= b->n_msgs || b->msgs[index].n_tool_calls == 0)
        return NULL;
    return &b->msgs[index].tool_calls[0];
}

static char *codex_session_ref(pd_arena *a, const char *id, size_t n)
{
    pd_codex_trim(&id, &n);
    if (n == 0)
        return NULL;
    if (starts_with(id, n, "codex:"))
        return pd_codex_clean(a, id, n);
    char *raw = pd_arena_sprintf(a, "codex:%.*s", (int)n, id);
    return raw != NULL ? pd_codex_clean(a, raw, strlen(raw)) : NULL;
}

/* Links a call to the session of the subagent it started. */
static int link_subagent(pd_codex_builder *b, const char *call_id, size_t call_n,
                         const char *agent_id, size_t agent_n)
{
    pd_tool_call *call = call_by_id(b, call_id, call_n);

    if (call == NULL)
        return PD_OK;
    pd_codex_trim(&agent_id, &agent_n);
    if (agent_n == 0)
        return PD_OK;
    call->subagent_session_id = codex_session_ref(b->arena, agent_id, agent_n);
    return call->subagent_session_id != NULL ? PD_OK : PD_ENOMEM;
}

/*
 * One result event before it is attached to its call. Every string is
 * already sanitised, either a literal or a pd_codex_clean() copy. The
 * content is always such a copy in the builder's arena, and the event keeps
 * it without copying.
 */
typedef struct event_in {
    const char *agent_id; /* NULL when none */
    const char *source;
    const char *status;
    char *content;
    const char *timestamp;
} event_in;

static bool same_or_both_null(const char *x, const char *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    return strcmp(x, y) == 0;
}

/*
 * Attaches a result event to the call with call_id, unless the call already
 * has an event with the same agent, status and content. Unknown calls are
 * ignored.
 */
static int append_event(pd_codex_builder *b, const char *call_id, size_t call_n, const event_in *in)
{
    pd_tool_call *call = call_by_id(b, call_id, call_n);
    pd_arena *a = b->arena;

    if (call == NULL)
        return PD_OK;

    /* Small strings are copied. The content, often a whole tool output, is
     * the caller's arena copy and is kept as it is. */
    char *agent = NULL;
    if (in->agent_id != NULL && in->agent_id[0] != '\0') {
        agent = pd_arena_strdup(a, in->agent_id);
        if (agent == NULL)
            return PD_ENOMEM;
    }
    char *status = pd_arena_strdup(a, in->status);
    char *content = in->content;
    if (status == NULL)
        return PD_ENOMEM;

    for (size_t i = 0; i < call->n_events; i++) {
        const pd_tool_result_event *e = &call->events[i];
        if (same_or_both_null(e->agent_id, agent) && strcmp(e->status, status) == 0 &&
            strcmp(e->content, content) == 0)
            return PD_OK;
    }

    pd_tool_result_event *grown =
        pd_arena_grow(a, call->events, call->n_events, call->n_events + 1, sizeof *grown);
    if (grown == NULL)
        return PD_ENOMEM;
    call->events = grown;

    pd_tool_result_event *e = &call->events[call->n_events];
    memset(e, 0, sizeof *e);
    e->tool_use_id = call->tool_use_id;
    e->agent_id = agent;
    if (agent != NULL) {
        e->subagent_session_id = codex_session_ref(a, agent, strlen(agent));
        if (e->subagent_session_id == NULL)
            return PD_ENOMEM;
    }
    e->source = pd_arena_strdup(a, in->source);
    e->status = status;
    e->content = content;
    e->content_length = (int64_t)strlen(content);
    e->timestamp = in->timestamp != NULL ? pd_arena_strdup(a, in->timestamp) : NULL;
    e->event_index = (int64_t)call->n_events;
    if (e->source == NULL || (in->timestamp != NULL && e->timestamp == NULL))
        return PD_ENOMEM;
    call->n_events++;
    return PD_OK;
}

/* Attaches the held notifications of agent_id to call_id. */
static int claim_pending(pd_codex_builder *b, const char *call_id, const char *agent_id)
{
    for (size_t i = 0; i < b->n_pending; i++) {
        pd_codex_pending *p = &b->pending[i];
        if (p->claimed || strcmp(p->agent_id, agent_id) != 0)
            continue;
        event_in in = {p->agent_id, "subagent_notification", p->status, p->text, p->timestamp};
        int rc = append_event(b, call_id, strlen(call_id), &in);
        if (rc != PD_OK)
            return rc;
        p->claimed = true;
    }
    return PD_OK;
}

/* ---- session_meta and turn_context ---------------------------------------- */

static int handle_session_meta(pd_codex_builder *b, const line_ctx *lc)
{
    pd_arena *a = b->arena;
    pd_json payload = lc->payload;
    const char *s;
    size_t n;

    /* Each kept meta replaces the id, even with an empty one. */
    s = str_of(pd_json_get(payload, "id"), &n);
    b->meta_id = pd_codex_clean(a, s, n);
    if (b->meta_id == NULL)
        return PD_ENOMEM;

    pd_json spawn = pd_json_path(payload, "source.subagent.thread_spawn");
    s = str_of(pd_json_get(payload, "agent_path"), &n);
    if (n == 0)
        s = str_of(pd_json_get(spawn, "agent_path"), &n);
    if (n > 0) {
        b->agent_path = pd_codex_clean(a, s, n);
        if (b->agent_path == NULL)
            return PD_ENOMEM;
    }

    const char *parent = str_of(pd_json_get(spawn, "parent_thread_id"), &n);
    size_t parent_n = n;
    if (parent_n == 0) {
        const char *source = str_of(pd_json_get(payload, "thread_source"), &n);
        if (pd_codex_eq(source, n, "subagent"))
            parent = str_of(pd_json_get(payload, "parent_thread_id"), &parent_n);
    }
    if (parent_n > 0) {
        b->parent_thread = pd_codex_clean(a, parent, parent_n);
        if (b->parent_thread == NULL)
            return PD_ENOMEM;
    }

    s = str_of(pd_json_get(payload, "cwd"), &n);
    if (n > 0) {
        size_t branch_n;
        const char *branch = str_of(pd_json_path(payload, "git.branch"), &branch_n);
        b->cwd = pd_codex_clean(a, s, n);
        b->git_branch = pd_codex_clean(a, branch, branch_n);
        if (b->cwd == NULL || b->git_branch == NULL)
            return PD_ENOMEM;
        char *project = claude_project_from_cwd(a, b->cwd, b->git_branch);
        if (project == NULL)
            return PD_ENOMEM;
        b->project = project[0] != '\0' ? project : pd_arena_strdup(a, "unknown");
        if (b->project == NULL)
            return PD_ENOMEM;
    }

    size_t fork_n;
    const char *fork = str_of(pd_json_get(payload, "forked_from_id"), &fork_n);
    return pd_codex_gate_arm(&b->gate, b->shared, b->nested, fork, fork_n, parent, parent_n);
}

static int handle_turn_context(pd_codex_builder *b, const line_ctx *lc)
{
    size_t n;
    const char *model = str_of(pd_json_get(lc->payload, "model"), &n);

    b->model = pd_codex_clean(b->arena, model, n);
    return b->model == NULL ? PD_ENOMEM : PD_OK;
}

/* ---- user content classification -------------------------------------------- */

/* <codex_internal_context ...> whose opening tag carries source="goal". */
static bool is_goal_internal_context(const char *s, size_t n)
{
    static const char tag[] = "<codex_internal_context";
    size_t tag_n = sizeof tag - 1;

    if (n <= tag_n || memcmp(s, tag, tag_n) != 0)
        return false;
    if (s[tag_n] != '>' && s[tag_n] != ' ' && s[tag_n] != '\t' && s[tag_n] != '\n' &&
        s[tag_n] != '\r')
        return false;
    const char *end = memchr(s, '>', n);
    size_t open_n = end != NULL ? (size_t)(end - s) : n;
    return pd_text_find(s, open_n, "source=\"goal\"") != NULL;
}

/*
 * Harness text in a user item that is not a prompt: the instruction and
 * environment envelopes (matched on the untrimmed text), and turn markers,
 * skill bodies, subagent notifications and goal contexts (matched after
 * trimming). Legacy transcripts also wrapped AGENTS.md in
 * <user_instructions>.
 */
static bool is_system_content(const char *s, size_t n, bool legacy)
{
    if (starts_with(s, n, "# AGENTS.md") || starts_with(s, n, "<environment_context>") ||
        starts_with(s, n, "<INSTRUCTIONS>"))
        return true;

    const char *t = s;
    size_t tn = n;
    pd_codex_trim(&t, &tn);
    if (starts_with(t, tn, "<turn_aborted>") || starts_with(t, tn, "<skill>") ||
        starts_with(t, tn, "<subagent_notification>") || starts_with(t, tn, "<goal_context>"))
        return true;
    if (is_goal_internal_context(t, tn))
        return true;
    return legacy && starts_with(t, tn, "<user_instructions>");
}

static bool is_turn_aborted(const char *s, size_t n)
{
    pd_codex_trim(&s, &n);
    return starts_with(s, n, "<turn_aborted>");
}

/* Removes one leading "<open>...<close>" envelope. Returns false when s does not start with it. */
static bool strip_envelope(const char **s, size_t *n, const char *open, const char *close)
{
    if (!starts_with(*s, *n, open))
        return false;
    const char *end = pd_text_find(*s, *n, close);
    if (end == NULL)
        return false;
    size_t cut = (size_t)(end - *s) + strlen(close);
    *s += cut;
    *n -= cut;
    pd_codex_trim(s, n);
    return true;
}

/*
 * Before the first genuine prompt Codex may send one user item that starts
 * with a <recommended_plugins> envelope and bundles the harness context
 * with the prompt. The envelope is removed from the first text. Only when
 * it was there, texts that are harness content are then dropped, and
 * leading instruction and environment envelopes are stripped from the rest.
 * NOTE: the exact split of such bundled items is inferred from a
 * description of Codex behaviour, not from recorded transcripts.
 */
static int strip_bundled_context(pd_codex_builder *b, const char **texts, size_t *lens,
                                 size_t *n_texts, bool legacy, bool *stripped)
{
    *stripped = false;
    if (*n_texts == 0)
        return PD_OK;

    const char *first = texts[0];
    size_t first_n = lens[0];
    const char *open = pd_text_find(first, first_n, "<recommended_plugins>");
    if (open == NULL)
        return PD_OK;
    const char *close =
        pd_text_find(open, first_n - (size_t)(open - first), "</recommended_plugins>");
    if (close == NULL)
        return PD_OK;

    size_t before = (size_t)(open - first);
    const char *after = close + strlen("</recommended_plugins>");
    size_t after_n = first_n - (size_t)(after - first);
    char *joined = pd_arena_sprintf(b->arena, "%.*s%.*s", (int)before, first, (int)after_n, after);
    if (joined == NULL)
        return PD_ENOMEM;
    texts[0] = joined;
    lens[0] = strlen(joined);
    *stripped = true;

    size_t kept = 0;
    for (size_t i = 0; i < *n_texts; i++) {
        if (pd_text_is_blank(texts[i], lens[i]) || is_system_content(texts[i], lens[i], legacy))
            continue;
        texts[kept] = texts[i];
        lens[kept] = lens[i];
        kept++;
    }
    *n_texts = kept;
    return PD_OK;
}

static void strip_leading_envelopes(const char **s, size_t *n)
{
    const char *t = *s;
    size_t tn = *n;

    pd_codex_trim(&t, &tn);
    for (;;) {
        if (strip_envelope(&t, &tn, "# AGENTS.md", "</INSTRUCTIONS>"))
            continue;
        if (strip_envelope(&t, &tn, "<environment_context>", "</environment_context>"))
            continue;
        if (strip_envelope(&t, &tn, "<INSTRUCTIONS>", "</INSTRUCTIONS>"))
            continue;
        break;
    }
    *s = t;
    *n = tn;
}

/* ---- subagent notifications --------------------------------------------------- */

typedef struct notification {
    char *agent_id;
    char *status;
    char *text;
} notification;

/* The terminal status of an agent status object: completed, errored or running text. */
static bool terminal_status(pd_json status, const char **name, const char **text, size_t *text_n)
{
    static const char *const names[] = {"completed", "errored", "running"};

    for (size_t i = 0; i < 3; i++) {
        const char *s;
        size_t n;
        if (!pd_json_str(pd_json_get(status, names[i]), &s, &n))
            continue;
        pd_codex_trim(&s, &n);
        if (n == 0)
            continue;
        *name = names[i];
        *text = s;
        *text_n = n;
        return true;
    }
    return false;
}

/*
 * Parses "<subagent_notification>{json}</subagent_notification>" with an
 * agent_id (or agent_path) and a terminal status. Returns PD_OK with
 * out->agent_id NULL when content is not such a notification.
 */
static int parse_notification(pd_codex_builder *b, const char *content, size_t n, notification *out)
{
    static const char open[] = "<subagent_notification>";
    static const char close[] = "</subagent_notification>";

    memset(out, 0, sizeof *out);
    pd_codex_trim(&content, &n);
    if (!starts_with(content, n, open))
        return PD_OK;
    content += sizeof open - 1;
    n -= sizeof open - 1;
    if (n >= sizeof close - 1 &&
        memcmp(content + n - (sizeof close - 1), close, sizeof close - 1) == 0)
        n -= sizeof close - 1;
    pd_codex_trim(&content, &n);

    pd_json root;
    int rc = pd_json_parse(b->nested, content, n, &root);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK)
        return PD_OK;

    const char *agent;
    size_t agent_n;
    agent = str_of(pd_json_get(root, "agent_id"), &agent_n);
    pd_codex_trim(&agent, &agent_n);
    if (agent_n == 0) {
        agent = str_of(pd_json_get(root, "agent_path"), &agent_n);
        pd_codex_trim(&agent, &agent_n);
    }
    const char *status_name, *text;
    size_t text_n;
    if (agent_n == 0 || !terminal_status(pd_json_get(root, "status"), &status_name, &text, &text_n))
        return PD_OK;

    out->agent_id = pd_codex_clean(b->arena, agent, agent_n);
    out->status = pd_arena_strdup(b->arena, status_name);
    out->text = pd_codex_clean(b->arena, text, text_n);
    if (out->agent_id == NULL || out->status == NULL || out->text == NULL)
        return PD_ENOMEM;
    return PD_OK;
}

static int hold_notification(pd_codex_builder *b, const notification *note, const char *timestamp)
{
    if (b->n_pending == b->cap_pending) {
        size_t cap = b->cap_pending ? b->cap_pending * 2 : 8;
        pd_codex_pending *grown =
            pd_arena_grow(b->arena, b->pending, b->cap_pending, cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        b->pending = grown;
        b->cap_pending = cap;
    }

    pd_codex_pending *p = &b->pending[b->n_pending++];
    p->agent_id = note->agent_id;
    p->status = note->status;
    p->text = note->text;
    p->timestamp = timestamp != NULL ? pd_arena_strdup(b->arena, timestamp) : NULL;
    p->ordinal = b->ordinal++;
    p->claimed = false;
    return PD_OK;
}

/* ---- messages ------------------------------------------------------------------- */

static void mark_first_prompt_replayable(pd_codex_builder *b)
{
    if (b->first_user_content != NULL && !b->saw_user_turn_after_first)
        b->may_replay_first = true;
}

/* Applies a user prompt (a user item's text or an agent_message addressed to us). */
static int handle_user_content(pd_codex_builder *b, const line_ctx *lc, const char *content,
                               size_t n)
{
    pd_arena *a = b->arena;

    if (b->tail_mode) {
        const char *t = content;
        size_t tn = n;
        pd_codex_trim(&t, &tn);
        if (starts_with(t, tn, "<subagent_notification>"))
            return fallback(b, "subagent notification");
    }

    notification note;
    int rc = parse_notification(b, content, n, &note);
    if (rc != PD_OK)
        return rc;
    if (note.agent_id != NULL) {
        void *call_id;
        if (pd_codex_map_get(&b->wait_calls, note.agent_id, strlen(note.agent_id), &call_id)) {
            event_in in = {note.agent_id, "subagent_notification", note.status, note.text,
                           line_timestamp(lc)};
            return append_event(b, call_id, strlen(call_id), &in);
        }
        return hold_notification(b, &note, line_timestamp(lc));
    }

    if (is_turn_aborted(content, n))
        mark_first_prompt_replayable(b);
    if (is_system_content(content, n, lc->legacy))
        return PD_OK;

    char *clean = pd_codex_clean(a, content, n);
    if (clean == NULL)
        return PD_ENOMEM;
    size_t clean_n = strlen(clean);

    if (b->first_user_content == NULL) {
        if (b->tail_mode)
            return fallback(b, "first prompt in the appended lines");
        b->first_user_content = clean;
        b->first_user_len = clean_n;
        b->first_message = pd_text_truncate_runes(a, clean, clean_n, FIRST_MESSAGE_MAX_RUNES);
        if (b->first_message == NULL)
            return PD_ENOMEM;
    } else if (clean_n == b->first_user_len && memcmp(clean, b->first_user_content, clean_n) == 0) {
        /*
         * Codex re-sends the first prompt verbatim after an aborted turn.
         * Only that identified replay is dropped, and only once.
         */
        if (!b->saw_user_turn_after_first && b->may_replay_first) {
            b->may_replay_first = false;
            return PD_OK;
        }
        b->saw_user_turn_after_first = true;
        b->may_replay_first = false;
    } else {
        b->saw_user_turn_after_first = true;
        b->may_replay_first = false;
    }

    return push_message(b, "user", clean, clean_n, line_timestamp(lc)) != NULL ? PD_OK : PD_ENOMEM;
}

/* Takes the cwd of a legacy <environment_context> message when none is known. */
static int take_legacy_cwd(pd_codex_builder *b, const char *s, size_t n)
{
    if (b->cwd[0] != '\0' || !starts_with(s, n, "<environment_context>"))
        return PD_OK;
    const char *open = pd_text_find(s, n, "<cwd>");
    if (open == NULL)
        return PD_OK;
    open += strlen("<cwd>");
    const char *close = pd_text_find(open, n - (size_t)(open - s), "</cwd>");
    if (close == NULL)
        return PD_OK;
    const char *cwd = open;
    size_t cwd_n = (size_t)(close - open);
    pd_codex_trim(&cwd, &cwd_n);
    if (cwd_n == 0)
        return PD_OK;

    b->cwd = pd_codex_clean(b->arena, cwd, cwd_n);
    if (b->cwd == NULL)
        return PD_ENOMEM;
    char *project = claude_project_from_cwd(b->arena, b->cwd, b->git_branch);
    if (project == NULL)
        return PD_ENOMEM;
    b->project = project[0] != '\0' ? project : pd_arena_strdup(b->arena, "unknown");
    return b->project == NULL ? PD_ENOMEM : PD_OK;
}

static int handle_message_item(pd_codex_builder *b, const line_ctx *lc, const char *role,
                               size_t role_n)
{
    bool is_user = pd_codex_eq(role, role_n, "user");
    if (!is_user && !pd_codex_eq(role, role_n, "assistant"))
        return PD_OK;

    /* Texts of input_text, output_text and text blocks, in order. */
    pd_json content = pd_json_get(lc->payload, "content");
    pd_json_type ctype = pd_json_type_of(content);
    size_t n_blocks = ctype == PD_JSON_ARRAY || ctype == PD_JSON_OBJECT ? pd_json_len(content) : 0;
    const char **texts = pd_arena_alloc(b->arena, (n_blocks ? n_blocks : 1) * sizeof *texts);
    size_t *lens = pd_arena_alloc(b->arena, (n_blocks ? n_blocks : 1) * sizeof *lens);
    size_t n_texts = 0;
    if (texts == NULL || lens == NULL)
        return PD_ENOMEM;

    pd_json_iter it = pd_json_iter_begin(content);
    pd_json key, block;
    while (n_texts < n_blocks && pd_json_iter_next(&it, &key, &block)) {
        size_t type_n;
        const char *type = str_of(pd_json_get(block, "type"), &type_n);
        if (!pd_codex_eq(type, type_n, "input_text") && !pd_codex_eq(type, type_n, "output_text") &&
            !pd_codex_eq(type, type_n, "text"))
            continue;
        const char *text;
        size_t text_n;
        if (!pd_json_str(pd_json_get(block, "text"), &text, &text_n) || text_n == 0)
            continue;
        texts[n_texts] = text;
        lens[n_texts] = text_n;
        n_texts++;
    }

    bool stripped = false;
    if (is_user && b->first_user_content == NULL) {
        int rc = strip_bundled_context(b, texts, lens, &n_texts, lc->legacy, &stripped);
        if (rc != PD_OK)
            return rc;
    }

    pd_buf joined;
    pd_buf_init(&joined, b->arena);
    pd_buf_puts(&joined, "");
    for (size_t i = 0; i < n_texts; i++) {
        if (i > 0)
            pd_buf_putc(&joined, '\n');
        pd_buf_append(&joined, texts[i], lens[i]);
    }
    /* The length, not strlen: a text may hold a NUL (\u0000), which the archive drops. */
    const char *text = pd_buf_finish(&joined);
    if (text == NULL)
        return PD_ENOMEM;
    size_t text_n = joined.len;
    if (stripped)
        strip_leading_envelopes(&text, &text_n);
    if (pd_text_is_blank(text, text_n))
        return PD_OK;

    if (!is_user)
        return push_message(b, "assistant", text, text_n, line_timestamp(lc)) != NULL ? PD_OK
                                                                                      : PD_ENOMEM;
    if (lc->legacy) {
        int rc = take_legacy_cwd(b, text, text_n);
        if (rc != PD_OK)
            return rc;
    }
    return handle_user_content(b, lc, text, text_n);
}

/*
 * An agent_message item addressed to this session's agent path is a prompt
 * from the parent agent. Its text is the encrypted_content of the content
 * blocks that are not Fernet tokens (Codex encrypts what it does not show).
 * NOTE: the item's layout (payload.recipient, payload.content[].
 * encrypted_content) is assumed from a description of the format; no
 * recorded transcript in the project's corpus carries one.
 */
static int handle_agent_message(pd_codex_builder *b, const line_ctx *lc)
{
    size_t rn;
    const char *recipient = str_of(pd_json_get(lc->payload, "recipient"), &rn);

    if (b->agent_path == NULL || !pd_codex_eq(recipient, rn, b->agent_path))
        return PD_OK;

    pd_buf joined;
    bool any = false;
    pd_buf_init(&joined, b->arena);
    pd_buf_puts(&joined, "");

    pd_json_iter it = pd_json_iter_begin(pd_json_get(lc->payload, "content"));
    pd_json key, block;
    while (pd_json_iter_next(&it, &key, &block)) {
        const char *s;
        size_t n;
        if (!pd_json_str(pd_json_get(block, "encrypted_content"), &s, &n) || n == 0)
            continue;
        if (pd_codex_is_fernet_token(s, n))
            continue;
        if (any)
            pd_buf_putc(&joined, '\n');
        pd_buf_append(&joined, s, n);
        any = true;
    }
    const char *text = pd_buf_finish(&joined);
    if (text == NULL)
        return PD_ENOMEM;
    if (pd_text_is_blank(text, joined.len))
        return PD_OK;
    return handle_user_content(b, lc, text, joined.len);
}

/* ---- tool calls and outputs ------------------------------------------------------ */

static int handle_call(pd_codex_builder *b, const line_ctx *lc)
{
    pd_arena *a = b->arena;
    size_t name_n, id_n;
    const char *name_raw = str_of(pd_json_get(lc->payload, "name"), &name_n);
    const char *id_raw = str_of(pd_json_get(lc->payload, "call_id"), &id_n);

    if (name_n == 0)
        return PD_OK;
    char *name = pd_codex_clean(a, name_raw, name_n);
    char *call_id = pd_codex_clean(a, id_raw, id_n);
    if (name == NULL || call_id == NULL)
        return PD_ENOMEM;
    bool is_wait = strcmp(name, "wait") == 0 || strcmp(name, "wait_agent") == 0;
    if (b->tail_mode && is_wait)
        return fallback(b, "wait call");
    if (call_id[0] != '\0') {
        int rc = pd_codex_map_put(&b->call_names, call_id, strlen(call_id), name);
        if (rc != PD_OK)
            return rc;
    }

    pd_codex_call_render r;
    int rc =
        pd_codex_render_call(a, b->req->json, b->nested, name, lc->payload, lc->payload_path, &r);
    if (rc != PD_OK)
        return rc;
    char *skill = NULL;
    if (r.input_json != NULL) {
        rc = pd_skill_name_infer_text(a, b->nested, name, r.input_json, strlen(r.input_json),
                                      b->cwd[0] != '\0' ? b->cwd : NULL, &skill);
        if (rc != PD_OK)
            return rc;
    }

    pd_message *m = push_message(b, "assistant", r.content, strlen(r.content), line_timestamp(lc));
    pd_tool_call *call = pd_arena_calloc(a, 1, sizeof *call);
    if (m == NULL || call == NULL)
        return PD_ENOMEM;
    m->has_tool_use = true;
    m->tool_calls = call;
    m->n_tool_calls = 1;
    call->tool_use_id = call_id[0] != '\0' ? call_id : NULL;
    call->tool_name = name;
    call->category = pd_arena_strdup(a, r.category);
    call->input_json = r.input_json;
    call->file_path = r.file_path;
    call->skill_name = skill;
    if (call->category == NULL)
        return PD_ENOMEM;

    if (call_id[0] == '\0')
        return PD_OK;
    rc = pd_codex_map_put(&b->call_refs, call_id, strlen(call_id), (void *)(uintptr_t)b->n_msgs);
    if (rc != PD_OK)
        return rc;
    for (size_t i = 0; is_wait && i < r.n_wait_ids; i++) {
        rc = pd_codex_map_put(&b->wait_calls, r.wait_ids[i], strlen(r.wait_ids[i]), call_id);
        if (rc == PD_OK)
            rc = claim_pending(b, call_id, r.wait_ids[i]);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/*
 * Reads the output of a call. A string is trimmed and parsed when it
 * contains JSON, and other values are used as they are. *text is the
 * trimmed output text.
 */
static int parse_output(pd_codex_builder *b, const line_ctx *lc, bool want_value, pd_json *value,
                        const char **text, size_t *text_n)
{
    pd_json out = pd_json_get(lc->payload, "output");
    pd_json_type type = pd_json_type_of(out);

    *value = (pd_json){{0}};
    *text = "";
    *text_n = 0;
    if (type == PD_JSON_ABSENT)
        return PD_OK;
    if (type == PD_JSON_STRING) {
        pd_json_str(out, text, text_n);
        pd_codex_trim(text, text_n);
        if (*text_n == 0 || !want_value)
            return PD_OK;
        pd_json root;
        int rc = pd_json_parse(b->nested, *text, *text_n, &root);
        if (rc == PD_ENOMEM)
            return rc;
        if (rc == PD_OK)
            *value = root;
        return PD_OK;
    }

    char *path = lc->payload_path[0] != '\0'
                     ? pd_arena_sprintf(b->arena, "%s.output", lc->payload_path)
                     : pd_arena_strdup(b->arena, "output");
    if (path == NULL)
        return PD_ENOMEM;
    if (pd_json_raw_path(b->req->json, path, text, text_n))
        pd_codex_trim(text, text_n);
    *value = out;
    return PD_OK;
}

static int handle_output(pd_codex_builder *b, const line_ctx *lc, bool is_custom)
{
    size_t id_n;
    const char *id_raw = str_of(pd_json_get(lc->payload, "call_id"), &id_n);

    if (id_n == 0)
        return PD_OK;
    char *call_id = pd_codex_clean(b->arena, id_raw, id_n);
    if (call_id == NULL)
        return PD_ENOMEM;
    id_n = strlen(call_id);

    void *name_value = NULL;
    pd_codex_map_get(&b->call_names, call_id, id_n, &name_value);
    const char *name = name_value != NULL ? name_value : "";
    bool is_spawn = strcmp(name, "spawn_agent") == 0;
    bool is_wait = strcmp(name, "wait") == 0 || strcmp(name, "wait_agent") == 0;

    /* Only spawn and wait outputs are read as JSON. Parsing every output
     * string just in case was 12% of the Codex parse. */
    pd_json value;
    const char *text;
    size_t text_n;
    int rc = parse_output(b, lc, is_spawn || is_wait, &value, &text, &text_n);
    if (rc != PD_OK)
        return rc;
    if (!pd_json_exists(value) && text_n == 0)
        return PD_OK;

    if (b->tail_mode && call_by_id(b, call_id, id_n) == NULL)
        return fallback(b, "output for a call outside the appended lines");
    if (b->tail_mode && (is_spawn || is_wait))
        return fallback(b, "spawn or wait output");

    if (is_spawn) {
        const char *agent;
        size_t agent_n;
        agent = str_of(pd_json_get(value, "agent_id"), &agent_n);
        pd_codex_trim(&agent, &agent_n);
        if (agent_n == 0)
            return PD_OK;
        char *agent_id = pd_codex_clean(b->arena, agent, agent_n);
        if (agent_id == NULL)
            return PD_ENOMEM;
        rc = pd_codex_map_put(&b->spawn_calls, agent_id, strlen(agent_id), call_id);
        if (rc != PD_OK)
            return rc;
        return link_subagent(b, call_id, id_n, agent_id, strlen(agent_id));
    }

    if (is_wait) {
        pd_json status = pd_json_get(value, "status");
        if (pd_json_type_of(status) != PD_JSON_OBJECT)
            return PD_OK;
        pd_json_iter it = pd_json_iter_begin(status);
        pd_json key, entry;
        while (pd_json_iter_next(&it, &key, &entry)) {
            const char *agent, *status_name, *status_text;
            size_t agent_n, status_n;
            pd_json_str(key, &agent, &agent_n);
            if (!terminal_status(entry, &status_name, &status_text, &status_n))
                continue;
            char *agent_id = pd_codex_clean(b->arena, agent, agent_n);
            char *content = pd_codex_clean(b->arena, status_text, status_n);
            if (agent_id == NULL || content == NULL)
                return PD_ENOMEM;
            event_in in = {agent_id, "wait_output", status_name, content, line_timestamp(lc)};
            rc = append_event(b, call_id, id_n, &in);
            if (rc != PD_OK)
                return rc;
        }
        return PD_OK;
    }

    if (text_n == 0)
        return PD_OK;
    char *content = pd_codex_clean(b->arena, text, text_n);
    if (content == NULL)
        return PD_ENOMEM;
    const char *status = "";
    if (is_custom) {
        size_t sn;
        const char *s = str_of(pd_json_get(lc->payload, "status"), &sn);
        status = sn > 0 ? pd_codex_clean(b->arena, s, sn) : "completed";
        if (status == NULL)
            return PD_ENOMEM;
    }
    event_in in = {NULL, is_custom ? "custom_tool_call_output" : "function_call_output", status,
                   content, line_timestamp(lc)};
    return append_event(b, call_id, id_n, &in);
}

static int handle_response_item(pd_codex_builder *b, const line_ctx *lc)
{
    size_t n;
    const char *type = str_of(pd_json_get(lc->payload, "type"), &n);

    if (pd_codex_eq(type, n, "function_call") || pd_codex_eq(type, n, "custom_tool_call"))
        return handle_call(b, lc);
    if (pd_codex_eq(type, n, "function_call_output"))
        return handle_output(b, lc, false);
    if (pd_codex_eq(type, n, "custom_tool_call_output"))
        return handle_output(b, lc, true);
    if (pd_codex_eq(type, n, "agent_message"))
        return handle_agent_message(b, lc);

    size_t role_n;
    const char *role = str_of(pd_json_get(lc->payload, "role"), &role_n);
    return handle_message_item(b, lc, role, role_n);
}

/* ---- event_msg ---------------------------------------------------------------------- */

/* Writes v in decimal at p, which needs room for 20 bytes, and returns the end. */
static char *put_int(char *p, int64_t v)
{
    char digits[20];
    size_t n = 0;
    /* Negated as unsigned, so INT64_MIN has a magnitude too. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

static char *put_text(char *p, const char *text)
{
    size_t n = strlen(text);
    memcpy(p, text, n);
    return p + n;
}

/* The archive's usage JSON, written without printf: this runs for every token count. */
static char *usage_json(pd_arena *a, int64_t cached, int64_t uncached, int64_t output)
{
    char json[128];
    char *p = put_text(json, "{\"cache_read_input_tokens\":");
    p = put_int(p, cached);
    p = put_text(p, ",\"input_tokens\":");
    p = put_int(p, uncached);
    p = put_text(p, ",\"output_tokens\":");
    p = put_int(p, output);
    *p++ = '}';
    return pd_arena_strndup(a, json, (size_t)(p - json));
}

/*
 * Codex reports input_tokens with the cached part included, while the
 * archive's usage shape counts cache reads separately, so the cached part
 * is subtracted from the input.
 */
static int apply_usage(pd_codex_builder *b, pd_message *m, pd_json usage)
{
    int64_t input = pd_json_int(pd_json_get(usage, "input_tokens"));
    int64_t cached = pd_json_int(pd_json_get(usage, "cached_input_tokens"));
    int64_t output = pd_json_int(pd_json_get(usage, "output_tokens"));
    int64_t uncached = 0;
    int64_t context;

    /* Absurd counts saturate instead of overflowing; the writer clamps them anyway. */
    if (__builtin_sub_overflow(input, cached, &uncached))
        uncached = cached < 0 ? INT64_MAX : 0;
    if (uncached < 0)
        uncached = 0;
    if (__builtin_add_overflow(uncached, cached, &context))
        context = cached < 0 ? INT64_MIN : INT64_MAX;
    m->token_usage = usage_json(b->arena, cached, uncached, output);
    if (m->token_usage == NULL)
        return PD_ENOMEM;
    m->output_tokens = output;
    m->context_tokens = context;
    /* The archive stores a count as present whenever the usage names it, and
     * this usage always names all three, zeros included. */
    m->has_output_tokens = true;
    m->has_context_tokens = true;
    return PD_OK;
}

static int handle_token_count(pd_codex_builder *b, const line_ctx *lc)
{
    pd_json usage = pd_json_path(lc->payload, "info.last_token_usage");
    pd_json_type type = pd_json_type_of(usage);
    char *canon = NULL;

    if (type == PD_JSON_ABSENT || type == PD_JSON_NULL)
        return PD_OK;
    if (pd_json_canonical(usage, &canon) != PD_OK)
        return PD_ENOMEM;
    /* Codex repeats the last usage while streaming, so only a change counts. */
    if (b->last_usage != NULL && strcmp(b->last_usage, canon) == 0) {
        free(canon);
        return PD_OK;
    }
    b->last_usage = pd_arena_strdup(b->arena, canon);
    free(canon);
    if (b->last_usage == NULL)
        return PD_ENOMEM;

    /* The latest assistant message of the current turn that has no usage yet. */
    for (size_t i = b->n_msgs; i > 0; i--) {
        pd_message *m = &b->msgs[i - 1];
        if (strcmp(m->role, "user") == 0)
            break;
        if (m->token_usage[0] == '\0')
            return apply_usage(b, m, usage);
    }
    if (b->tail_mode)
        return fallback(b, "token count with no message to attach to");
    return PD_OK;
}

static int handle_event(pd_codex_builder *b, const line_ctx *lc)
{
    size_t n;
    const char *type = str_of(pd_json_get(lc->payload, "type"), &n);

    if (pd_codex_eq(type, n, "task_started") || pd_codex_eq(type, n, "task_complete") ||
        pd_codex_eq(type, n, "turn_aborted")) {
        b->last_task_event = pd_codex_eq(type, n, "task_started")    ? "task_started"
                             : pd_codex_eq(type, n, "task_complete") ? "task_complete"
                                                                     : "turn_aborted";
        if (pd_codex_eq(type, n, "turn_aborted"))
            mark_first_prompt_replayable(b);
        return PD_OK;
    }
    if (pd_codex_eq(type, n, "token_count"))
        return handle_token_count(b, lc);

    const char *call_id, *thread;
    size_t call_n, thread_n;
    if (pd_codex_eq(type, n, "collab_agent_spawn_end")) {
        if (b->tail_mode)
            return fallback(b, "collab_agent_spawn_end event");
        call_id = str_of(pd_json_get(lc->payload, "call_id"), &call_n);
        thread = str_of(pd_json_get(lc->payload, "new_thread_id"), &thread_n);
    } else if (pd_codex_eq(type, n, "sub_agent_activity")) {
        size_t kind_n;
        const char *kind = str_of(pd_json_get(lc->payload, "kind"), &kind_n);
        if (!pd_codex_eq(kind, kind_n, "started"))
            return PD_OK;
        if (b->tail_mode)
            return fallback(b, "sub_agent_activity started event");
        call_id = str_of(pd_json_get(lc->payload, "event_id"), &call_n);
        thread = str_of(pd_json_get(lc->payload, "agent_thread_id"), &thread_n);
    } else {
        return PD_OK;
    }

    pd_codex_trim(&thread, &thread_n);
    if (call_n == 0 || thread_n == 0)
        return PD_OK;
    char *agent_id = pd_codex_clean(b->arena, thread, thread_n);
    char *call = pd_codex_clean(b->arena, call_id, call_n);
    if (agent_id == NULL || call == NULL)
        return PD_ENOMEM;
    int rc = pd_codex_map_put(&b->spawn_calls, agent_id, strlen(agent_id), call);
    if (rc != PD_OK)
        return rc;
    return link_subagent(b, call, strlen(call), agent_id, strlen(agent_id));
}

/* ---- dispatch ----------------------------------------------------------------------- */

/* Resolves the envelope or bare-line form of a line. */
static line_kind classify(pd_json root, line_ctx *lc, const char **type_name)
{
    size_t n;
    const char *type = str_of(pd_json_get(root, "type"), &n);
    bool has_type = pd_json_type_of(pd_json_get(root, "type")) == PD_JSON_STRING;

    lc->payload_path = "payload";
    lc->legacy = false;
    lc->payload = pd_json_get(root, "payload");
    if (pd_codex_eq(type, n, "session_meta")) {
        *type_name = "session_meta";
        return LINE_META;
    }
    if (pd_codex_eq(type, n, "turn_context")) {
        *type_name = "turn_context";
        return LINE_TURN;
    }
    if (pd_codex_eq(type, n, "response_item")) {
        *type_name = "response_item";
        return LINE_ITEM;
    }
    if (pd_codex_eq(type, n, "event_msg")) {
        *type_name = "event_msg";
        return LINE_EVENT;
    }

    /* The bare-line generation: state markers, one meta line, bare items. */
    if (pd_json_exists(pd_json_get(root, "record_type")))
        return LINE_IGNORED;
    lc->payload = root;
    lc->payload_path = "";
    lc->legacy = true;
    if (!has_type) {
        if (pd_json_type_of(pd_json_get(root, "id")) != PD_JSON_STRING)
            return LINE_IGNORED;
        *type_name = "session_meta";
        return LINE_META;
    }
    if (pd_json_exists(pd_json_get(root, "payload")))
        return LINE_IGNORED; /* an envelope type this parser does not use */
    *type_name = "response_item";
    return LINE_ITEM;
}

int pd_codex_process_line(pd_codex_builder *b, pd_json root)
{
    char ts_buf[PD_TIME_FMT_MAX];
    line_ctx lc = {.time_text = ts_buf};
    const char *type_name = NULL;
    size_t ts_n;
    const char *ts = str_of(pd_json_get(root, "timestamp"), &ts_n);
    pd_time_ns t;

    /* Bounds come from every valid line, replayed history included. */
    if (ts_n > 0 && pd_time_parse(ts, ts_n, &t)) {
        if (!b->have_started) {
            b->started_ns = t;
            b->have_started = true;
        }
        b->ended_ns = t;
        b->have_ended = true;
        lc.has_time = true;
        lc.time = t;
    }

    line_kind kind = classify(root, &lc, &type_name);
    if (kind == LINE_IGNORED)
        return PD_OK;
    if (lc.legacy)
        b->legacy = true;
    if (kind == LINE_META && b->tail_mode)
        return fallback(b, "session_meta in the appended lines");

    size_t meta_n = 0, turn_n = 0;
    const char *meta_id = NULL, *turn_id = NULL;
    if (kind == LINE_META)
        meta_id = str_of(pd_json_get(lc.payload, "id"), &meta_n);
    if (kind == LINE_TURN)
        turn_id = str_of(pd_json_get(lc.payload, "turn_id"), &turn_n);
    if (pd_codex_gate_suppresses(&b->gate, type_name, meta_id, meta_n, turn_id, turn_n))
        return PD_OK;

    switch (kind) {
    case LINE_META:
        return handle_session_meta(b, &lc);
    case LINE_TURN:
        return handle_turn_context(b, &lc);
    case LINE_ITEM:
        return handle_response_item(b, &lc);
    case LINE_EVENT:
        return handle_event(b, &lc);
    default:
        return PD_OK;
    }
}

/* ---- end of scan ---------------------------------------------------------------------- */

static int compare_pending(const void *x, const void *y)
{
    const pd_codex_pending *a = *(const pd_codex_pending *const *)x;
    const pd_codex_pending *b = *(const pd_codex_pending *const *)y;
    int c = strcmp(a->agent_id, b->agent_id);

    if (c != 0)
        return c;
    return a->ordinal < b->ordinal ? -1 : a->ordinal > b->ordinal;
}

/* Places every held notification: on a wait call, a spawn call, or as a user message. */
static int flush_pending(pd_codex_builder *b)
{
    if (b->n_pending == 0)
        return PD_OK;

    /* Agents in sorted order, each agent's notifications in file order. */
    pd_codex_pending **order = pd_arena_alloc(b->arena, b->n_pending * sizeof *order);
    if (order == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < b->n_pending; i++)
        order[i] = &b->pending[i];
    qsort(order, b->n_pending, sizeof *order, compare_pending);

    int64_t saved_ordinal = b->ordinal;
    for (size_t i = 0; i < b->n_pending; i++) {
        pd_codex_pending *p = order[i];
        if (p->claimed)
            continue;

        void *call_id = NULL;
        size_t agent_n = strlen(p->agent_id);
        if (pd_codex_map_get(&b->wait_calls, p->agent_id, agent_n, &call_id) ||
            pd_codex_map_get(&b->spawn_calls, p->agent_id, agent_n, &call_id)) {
            int rc = claim_pending(b, call_id, p->agent_id);
            if (rc != PD_OK)
                return rc;
            continue;
        }

        /* With no call to carry it, it stays a user message, once per distinct text. */
        bool duplicate = false;
        for (size_t j = 0; j < i && !duplicate; j++) {
            const pd_codex_pending *q = order[j];
            duplicate = q->claimed && strcmp(q->agent_id, p->agent_id) == 0 &&
                        strcmp(q->status, p->status) == 0 && strcmp(q->text, p->text) == 0;
        }
        p->claimed = true;
        if (duplicate)
            continue;
        b->ordinal = p->ordinal;
        if (push_message(b, "user", p->text, strlen(p->text), p->timestamp) == NULL)
            return PD_ENOMEM;
    }
    b->ordinal = saved_ordinal;
    return PD_OK;
}

/* Stable merge sort of messages by ordinal. */
static int sort_by_ordinal(pd_codex_builder *b)
{
    size_t n = b->n_msgs;
    bool sorted = true;

    for (size_t i = 1; i < n && sorted; i++)
        sorted = b->msgs[i - 1].ordinal <= b->msgs[i].ordinal;
    if (sorted)
        return PD_OK;

    pd_message *tmp = pd_arena_alloc(b->arena, n * sizeof *tmp);
    if (tmp == NULL)
        return PD_ENOMEM;
    pd_message *src = b->msgs;
    pd_message *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = src[j].ordinal < src[i].ordinal ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        pd_message *swap = src;
        src = dst;
        dst = swap;
    }
    b->msgs = src;
    b->cap_msgs = n;
    return PD_OK;
}

int pd_codex_builder_finish(pd_codex_builder *b)
{
    int rc = flush_pending(b);
    if (rc != PD_OK)
        return rc;
    rc = sort_by_ordinal(b);
    if (rc != PD_OK)
        return rc;
    for (size_t i = 0; i < b->n_msgs; i++)
        b->msgs[i].ordinal = (int64_t)i;
    return PD_OK;
}
