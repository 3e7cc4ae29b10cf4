/*
 * claude.c -- the Claude Code transcript provider.
 *
 * A transcript is a JSONL file under <root>/<project>/, one JSON object per
 * line: user and assistant messages linked by uuid/parentUuid, plus
 * bookkeeping lines (queue operations, progress, attachments, system
 * records). See claude_internal.h for how the work is split across files.
 *
 * Entry points (through pd_provider_claude, any worker thread):
 *   parse_source()  full parse, or claude_parse_incremental() when the
 *                   request carries stored state
 * and, for the other files, claude_scan_lines() and the small helpers
 * declared in claude_internal.h.
 *
 * A full parse runs these steps:
 *   1. Scan every line once, copying what later steps need into entries.
 *   2. Merge assistant chunk runs (claude_chunks.c).
 *   3. Build each entry's messages (claude_messages.c).
 *   4. Plan the main session and any fork sessions (claude_dag.c).
 *   5. Fill each session: messages, queued prompts (main only), subagent
 *      links, web search credit, counts, bounds and termination status
 *      (claude_session.c).
 *   6. Drop sessions that are only a "/usage" probe (excluded_ids).
 *
 * Thread-safety: no shared state. A request's arena and parser belong to
 * the calling thread.
 */
#include <assert.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "parsers/claude_internal.h"

/* ---- helpers shared by the Claude files ---------------------------------- */

char *claude_session_id_from_path(pd_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t n = strlen(base);

    if (n > 10 && strcmp(base + n - 10, ".jsonl.zst") == 0)
        n -= 10;
    else if (n > 6 && strcmp(base + n - 6, ".jsonl") == 0)
        n -= 6;
    return pd_utf8_sanitize(a, base, n, NULL);
}

char *claude_json_string(pd_arena *a, pd_json v, size_t *len)
{
    const char *s;
    size_t n;

    pd_json_str(v, &s, &n);
    return pd_utf8_sanitize(a, s, n, len);
}

char *claude_format_time(pd_arena *a, bool has, pd_time_ns t, bool *oom)
{
    char buf[PD_TIME_FMT_MAX];
    char *out;

    if (!has)
        return NULL;
    out = pd_arena_strdup(a, pd_time_format(t, buf));
    if (out == NULL)
        *oom = true;
    return out;
}

/* ---- the line scan --------------------------------------------------------- */

/*
 * Fills out[i] with the first member named keys[i] of obj (absent when there
 * is none). One pass over the members replaces a lookup per key, because
 * each lookup walks the members again.
 */
#define PICK_MAX_KEYS 32

/* A member name with its length, so that a pick tests the length and first
 * byte before it compares the rest. */
typedef struct member_name {
    const char *s;
    size_t n;
} member_name;

/* clang-format off */
#define MEMBER(lit) {lit, sizeof lit - 1}
/* clang-format on */

/* Member names shorter than this are indexed by length. Every wanted key is shorter. */
#define PICK_MAX_NAME 32

static void pick_members(pd_json obj, const member_name *keys, size_t n_keys, pd_json *out)
{
    pd_json_iter it;
    pd_json key, value;
    /* by_length[n]: a bit per key of length n, so that a member is compared
     * with the few keys of its own length only. */
    uint32_t by_length[PICK_MAX_NAME] = {0};

    memset(out, 0, n_keys * sizeof *out);
    if (pd_json_type_of(obj) != PD_JSON_OBJECT)
        return;
    for (size_t i = 0; i < n_keys; i++) {
        assert(keys[i].n > 0);
        assert(keys[i].n < PICK_MAX_NAME);
        if (keys[i].n > 0 && keys[i].n < PICK_MAX_NAME) /* a longer key would never match */
            by_length[keys[i].n] |= 1u << i;
    }
    it = pd_json_iter_begin(obj);
    while (pd_json_iter_next(&it, &key, &value)) {
        const char *name;
        size_t len;
        if (!pd_json_str(key, &name, &len) || len == 0 || len >= PICK_MAX_NAME)
            continue;
        for (uint32_t candidates = by_length[len]; candidates != 0; candidates &= candidates - 1) {
            unsigned i = (unsigned)__builtin_ctz(candidates);
            if (name[0] == keys[i].s[0] && memcmp(name, keys[i].s, len) == 0) {
                if (!pd_json_exists(out[i]))
                    out[i] = value;
                break;
            }
        }
    }
}

/* Top-level members of a transcript line that the parser reads. */
enum line_key {
    KEY_TYPE,
    KEY_TIMESTAMP,
    KEY_SNAPSHOT,
    KEY_AGENT_SETTING,
    KEY_ENTRYPOINT,
    KEY_SESSION_KIND,
    KEY_VERSION,
    KEY_OPERATION,
    KEY_CONTENT,
    KEY_DATA,
    KEY_PARENT_TOOL_USE_ID,
    KEY_ATTACHMENT,
    KEY_CWD,
    KEY_GIT_BRANCH,
    KEY_SESSION_ID,
    KEY_UUID,
    KEY_PARENT_UUID,
    KEY_IS_COMPACT_SUMMARY,
    KEY_IS_SIDECHAIN,
    KEY_IS_META,
    KEY_REQUEST_ID,
    KEY_PROMPT_SOURCE,
    KEY_MESSAGE,
    KEY_TOOL_USE_RESULT,
    N_LINE_KEYS
};

static const member_name line_keys[N_LINE_KEYS] = {
    MEMBER("type"),         MEMBER("timestamp"),       MEMBER("snapshot"),
    MEMBER("agentSetting"), MEMBER("entrypoint"),      MEMBER("sessionKind"),
    MEMBER("version"),      MEMBER("operation"),       MEMBER("content"),
    MEMBER("data"),         MEMBER("parentToolUseID"), MEMBER("attachment"),
    MEMBER("cwd"),          MEMBER("gitBranch"),       MEMBER("sessionId"),
    MEMBER("uuid"),         MEMBER("parentUuid"),      MEMBER("isCompactSummary"),
    MEMBER("isSidechain"),  MEMBER("isMeta"),          MEMBER("requestId"),
    MEMBER("promptSource"), MEMBER("message"),         MEMBER("toolUseResult"),
};

/* Members of message. */
enum message_key {
    MKEY_ID,
    MKEY_STOP_REASON,
    MKEY_MODEL,
    MKEY_USAGE,
    MKEY_CONTENT,
    N_MESSAGE_KEYS
};
static const member_name message_keys[N_MESSAGE_KEYS] = {
    MEMBER("id"), MEMBER("stop_reason"), MEMBER("model"), MEMBER("usage"), MEMBER("content"),
};

/* Returns the line's time: "timestamp", else "snapshot.timestamp". */
static bool line_time(const pd_json *f, pd_time_ns *t)
{
    const char *s;
    size_t n;

    if (pd_json_str(f[KEY_TIMESTAMP], &s, &n) && pd_time_parse(s, n, t))
        return true;
    return pd_json_str(pd_json_get(f[KEY_SNAPSHOT], "timestamp"), &s, &n) && pd_time_parse(s, n, t);
}

/*
 * Returns the text of value v as gjson's String() gives it: strings as they
 * are, other values as their JSON text (read at path), "" when absent or null.
 */
static char *json_text(claude_scan *sc, pd_json v, const char *path)
{
    const char *raw;
    size_t n;

    switch (pd_json_type_of(v)) {
    case PD_JSON_STRING:
        return claude_json_string(sc->arena, v, NULL);
    case PD_JSON_ABSENT:
    case PD_JSON_NULL:
        return pd_arena_strdup(sc->arena, "");
    default:
        if (!pd_json_raw_path(sc->json, path, &raw, &n))
            return pd_arena_strdup(sc->arena, "");
        return pd_utf8_sanitize(sc->arena, raw, n, NULL);
    }
}

/* Stores the string value v into *slot when *slot is unset and v is not blank. */
static int keep_first_nonblank(claude_scan *sc, pd_json v, char **slot)
{
    const char *s;
    size_t n;

    if (*slot != NULL || !pd_json_str(v, &s, &n) || pd_text_is_blank(s, n))
        return PD_OK;
    *slot = pd_utf8_sanitize(sc->arena, s, n, NULL);
    return *slot == NULL ? PD_ENOMEM : PD_OK;
}

/*
 * Records tool_use_id -> "agent-<agent_id>". Queue and progress lines always
 * add the prefix and replace an earlier link. A result's toolUseResult.agentId
 * adds the prefix only when it is missing and never replaces a link.
 */
static int map_subagent(claude_scan *sc, const char *tool_use_id, size_t id_len,
                        const char *agent_id, size_t agent_len, bool from_result)
{
    claude_map_slot *slot;
    bool created;
    char *key = pd_utf8_sanitize(sc->arena, tool_use_id, id_len, NULL);
    int rc;

    if (key == NULL)
        return PD_ENOMEM;
    rc = claude_map_upsert(&sc->subagents, key, &slot, &created);
    if (rc != PD_OK)
        return rc;
    if (!created && from_result)
        return PD_OK;
    /* Subagent transcripts are named agent-<id>.jsonl, so the link uses that session id. */
    if (from_result && agent_len >= 6 && memcmp(agent_id, "agent-", 6) == 0)
        slot->value = pd_utf8_sanitize(sc->arena, agent_id, agent_len, NULL);
    else
        slot->value = pd_arena_sprintf(sc->arena, "agent-%.*s", (int)agent_len, agent_id);
    return slot->value == NULL ? PD_ENOMEM : PD_OK;
}

static bool string_is(pd_json v, const char *literal)
{
    const char *s;
    size_t n;

    return pd_json_str(v, &s, &n) && n == strlen(literal) && memcmp(s, literal, n) == 0;
}

/*
 * An enqueued task names the tool call that launched it, either as JSON
 * {"tool_use_id", "task_id"} or as <tool-use-id>/<task-id> tags. Parsing the
 * content ends the line's own parse, so this runs last for the line.
 */
static int scan_queue_operation(claude_scan *sc, const pd_json *f)
{
    const char *s, *tool_use_id = "", *task_id = "";
    size_t n, id_len = 0, task_len = 0;
    pd_json content_root;
    char *content;

    if (!string_is(f[KEY_OPERATION], "enqueue"))
        return PD_OK;
    if (!pd_json_str(f[KEY_CONTENT], &s, &n) || n == 0)
        return PD_OK;
    content = pd_arena_strndup(sc->arena, s, n);
    if (content == NULL)
        return PD_ENOMEM;

    switch (pd_json_parse(sc->json, content, n, &content_root)) {
    case PD_OK:
        pd_json_str(pd_json_get(content_root, "tool_use_id"), &tool_use_id, &id_len);
        pd_json_str(pd_json_get(content_root, "task_id"), &task_id, &task_len);
        break;
    case PD_ENOMEM:
        return PD_ENOMEM;
    default:
        break;
    }
    if (id_len == 0 || task_len == 0) {
        claude_find_tagged(content, n, "<task-id>", "</task-id>", false, &task_id, &task_len);
        claude_find_tagged(content, n, "<tool-use-id>", "</tool-use-id>", false, &tool_use_id,
                           &id_len);
    }
    if (id_len == 0 || task_len == 0)
        return PD_OK;
    return map_subagent(sc, tool_use_id, id_len, task_id, task_len, false);
}

static int scan_progress(claude_scan *sc, const pd_json *f)
{
    const char *tool_use_id, *agent_id;
    size_t id_len, agent_len;

    if (!string_is(pd_json_get(f[KEY_DATA], "type"), "agent_progress"))
        return PD_OK;
    if (!pd_json_str(f[KEY_PARENT_TOOL_USE_ID], &tool_use_id, &id_len) || id_len == 0 ||
        !pd_json_str(pd_json_get(f[KEY_DATA], "agentId"), &agent_id, &agent_len) || agent_len == 0)
        return PD_OK;
    return map_subagent(sc, tool_use_id, id_len, agent_id, agent_len, false);
}

static int scan_attachment(claude_scan *sc, const pd_json *f, bool has_ts, pd_time_ns ts)
{
    const char *s;
    size_t n;
    claude_queued *q;

    if (!string_is(pd_json_get(f[KEY_ATTACHMENT], "type"), "queued_command"))
        return PD_OK;
    if (!pd_json_str(pd_json_get(f[KEY_ATTACHMENT], "prompt"), &s, &n) || pd_text_is_blank(s, n))
        return PD_OK;

    if (sc->n_queued == sc->cap_queued) {
        size_t cap = sc->cap_queued ? sc->cap_queued * 2 : 4;
        claude_queued *grown =
            pd_arena_grow(sc->arena, sc->queued, sc->n_queued, cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        sc->queued = grown;
        sc->cap_queued = cap;
    }
    q = &sc->queued[sc->n_queued];
    q->prompt = pd_utf8_sanitize(sc->arena, s, n, &q->prompt_len);
    q->prompt_source = claude_json_string(sc->arena, f[KEY_PROMPT_SOURCE], NULL);
    q->has_ts = has_ts;
    q->ts = ts;
    if (q->prompt == NULL || q->prompt_source == NULL)
        return PD_ENOMEM;
    sc->n_queued++;
    return PD_OK;
}

/* Sets the session name from a system line running /rename. An empty argument clears it. */
static int scan_system(claude_scan *sc, const pd_json *f)
{
    const char *content, *name, *args = "";
    size_t n, name_len, args_len = 0, start, len;

    if (!pd_json_str(f[KEY_CONTENT], &content, &n))
        return PD_OK;
    if (!claude_find_tagged(content, n, "<command-name>", "</command-name>", false, &name,
                            &name_len))
        return PD_OK;
    pd_text_trim_span(name, name_len, &start, &len);
    name += start;
    if (len > 0 && name[0] == '/') {
        name++;
        len--;
    }
    if (len != 6 || memcmp(name, "rename", 6) != 0)
        return PD_OK;
    claude_find_tagged(content, n, "<command-args>", "</command-args>", true, &args, &args_len);
    pd_text_trim_span(args, args_len, &start, &len);
    sc->session_name = pd_utf8_sanitize(sc->arena, args + start, len, NULL);
    sc->has_rename = true;
    return sc->session_name == NULL ? PD_ENOMEM : PD_OK;
}

static claude_entry *new_entry(claude_scan *sc)
{
    if (sc->n_entries == sc->cap_entries) {
        size_t cap = sc->cap_entries ? sc->cap_entries * 2 : 32;
        claude_entry *grown =
            pd_arena_grow(sc->arena, sc->entries, sc->n_entries, cap, sizeof *grown);
        if (grown == NULL)
            return NULL;
        sc->entries = grown;
        sc->cap_entries = cap;
    }
    memset(&sc->entries[sc->n_entries], 0, sizeof sc->entries[0]);
    return &sc->entries[sc->n_entries++];
}

/* Reads the usage object of an assistant line into e. */
static int scan_usage(claude_scan *sc, claude_entry *e, pd_json usage)
{
    enum { INPUT, CREATION, CACHED, OUTPUT, N_USAGE_KEYS };
    static const member_name usage_keys[N_USAGE_KEYS] = {
        MEMBER("input_tokens"),
        MEMBER("cache_creation_input_tokens"),
        MEMBER("cache_read_input_tokens"),
        MEMBER("output_tokens"),
    };
    pd_json v[N_USAGE_KEYS];
    const char *raw;
    size_t n;
    int64_t input, creation, cached;

    if (!pd_json_exists(usage) || !pd_json_raw_path(sc->json, "message.usage", &raw, &n))
        return PD_OK;
    e->usage = pd_utf8_sanitize(sc->arena, raw, n, NULL);
    if (e->usage == NULL)
        return PD_ENOMEM;
    _Static_assert(N_USAGE_KEYS <= PICK_MAX_KEYS, "pick_members takes at most PICK_MAX_KEYS keys");
    pick_members(usage, usage_keys, N_USAGE_KEYS, v);
    e->has_output_tokens = pd_json_exists(v[OUTPUT]);
    e->has_context_tokens =
        pd_json_exists(v[INPUT]) || pd_json_exists(v[CREATION]) || pd_json_exists(v[CACHED]);
    input = pd_json_int(v[INPUT]);
    creation = pd_json_int(v[CREATION]);
    cached = pd_json_int(v[CACHED]);
    /* The sum wraps in unsigned arithmetic instead of overflowing, and normalisation clamps absurd
     * values. */
    e->context_tokens = (int64_t)((uint64_t)input + (uint64_t)creation + (uint64_t)cached);
    e->output_tokens = pd_json_int(v[OUTPUT]);
    return PD_OK;
}

static int scan_message_line(claude_scan *sc, const pd_jsonl_line *line, const pd_json *f,
                             claude_entry_type type, bool has_ts, pd_time_ns ts)
{
    pd_arena *a = sc->arena;
    claude_entry *e = new_entry(sc);
    pd_json m[N_MESSAGE_KEYS];
    pd_json tool_result = f[KEY_TOOL_USE_RESULT];
    char *persisted_path;
    const char *s;
    size_t n;
    int rc;

    if (e == NULL)
        return PD_ENOMEM;
    e->type = type;
    e->has_ts = has_ts;
    e->ts = ts;
    e->line_end = line->end;
    _Static_assert(N_MESSAGE_KEYS <= PICK_MAX_KEYS,
                   "pick_members takes at most PICK_MAX_KEYS keys");
    pick_members(f[KEY_MESSAGE], message_keys, N_MESSAGE_KEYS, m);

    if (type == CLAUDE_ENTRY_USER) {
        if (sc->cwd == NULL && pd_json_str(f[KEY_CWD], &s, &n) && n > 0) {
            sc->cwd = pd_utf8_sanitize(a, s, n, NULL);
            if (sc->cwd == NULL)
                return PD_ENOMEM;
        }
        if (sc->git_branch == NULL && pd_json_str(f[KEY_GIT_BRANCH], &s, &n) && n > 0) {
            sc->git_branch = pd_utf8_sanitize(a, s, n, NULL);
            if (sc->git_branch == NULL)
                return PD_ENOMEM;
        }
    }
    /* The first sessionId that differs from the file stem names the session this one continues. */
    if (sc->source_session_id == NULL && pd_json_str(f[KEY_SESSION_ID], &s, &n) && n > 0) {
        sc->source_session_id = pd_utf8_sanitize(a, s, n, NULL);
        if (sc->source_session_id == NULL)
            return PD_ENOMEM;
        if (strcmp(sc->source_session_id, sc->session_id) != 0)
            sc->parent_session_id = sc->source_session_id;
    }

    e->uuid = claude_json_string(a, f[KEY_UUID], NULL);
    e->parent_uuid = claude_json_string(a, f[KEY_PARENT_UUID], NULL);
    e->is_compact_summary = pd_json_bool(f[KEY_IS_COMPACT_SUMMARY]);
    e->is_sidechain = pd_json_bool(f[KEY_IS_SIDECHAIN]);
    e->is_meta = pd_json_bool(f[KEY_IS_META]);
    e->request_id = json_text(sc, f[KEY_REQUEST_ID], "requestId");
    e->prompt_source = claude_json_string(a, f[KEY_PROMPT_SOURCE], NULL);
    e->message_id = json_text(sc, m[MKEY_ID], "message.id");
    e->stop_reason = claude_json_string(a, m[MKEY_STOP_REASON], NULL);
    e->model = json_text(sc, m[MKEY_MODEL], "message.model");
    e->tool_agent_id = claude_json_string(a, pd_json_get(tool_result, "agentId"), NULL);
    e->search_count = pd_json_int(pd_json_get(tool_result, "searchCount"));
    persisted_path = claude_json_string(a, pd_json_get(tool_result, "persistedOutputPath"), NULL);
    if (e->uuid == NULL || e->parent_uuid == NULL || e->request_id == NULL ||
        e->prompt_source == NULL || e->message_id == NULL || e->stop_reason == NULL ||
        e->model == NULL || e->tool_agent_id == NULL || persisted_path == NULL)
        return PD_ENOMEM;

    if (e->uuid[0] != '\0')
        sc->has_any_uuid = true;
    else
        sc->all_have_uuid = false;

    if (type == CLAUDE_ENTRY_ASSISTANT) {
        rc = scan_usage(sc, e, m[MKEY_USAGE]);
        if (rc != PD_OK)
            return rc;
    }

    if (pd_json_str(m[MKEY_CONTENT], &s, &n)) {
        e->content_is_string = true;
        e->content_string = pd_utf8_sanitize(a, s, n, &e->content_string_len);
        if (e->content_string == NULL)
            return PD_ENOMEM;
    } else {
        rc = claude_blocks_extract(sc, e, m[MKEY_CONTENT], line->data, line->len, persisted_path);
        if (rc != PD_OK)
            return rc;
    }

    /* A result that names its subagent links the call, unless a queue or progress line did. */
    if (type == CLAUDE_ENTRY_USER && e->tool_agent_id[0] != '\0') {
        const char *only_id = NULL;
        size_t n_ids = 0;
        for (size_t i = 0; i < e->n_blocks; i++) {
            if (e->blocks[i].kind == CLAUDE_BLOCK_TOOL_RESULT &&
                e->blocks[i].result_id[0] != '\0') {
                only_id = e->blocks[i].result_id;
                n_ids++;
            }
        }
        if (n_ids == 1) {
            rc = map_subagent(sc, only_id, strlen(only_id), e->tool_agent_id,
                              strlen(e->tool_agent_id), true);
            if (rc != PD_OK)
                return rc;
        }
    }
    return PD_OK;
}

static int scan_valid_line(claude_scan *sc, const pd_jsonl_line *line, pd_json root)
{
    pd_json f[N_LINE_KEYS];
    pd_time_ns ts = 0;
    bool has_ts;
    int rc;

    _Static_assert(N_LINE_KEYS <= PICK_MAX_KEYS, "pick_members takes at most PICK_MAX_KEYS keys");
    pick_members(root, line_keys, N_LINE_KEYS, f);

    /* Identity fields come from whichever line carries them first. */
    rc = keep_first_nonblank(sc, f[KEY_AGENT_SETTING], &sc->agent_label);
    if (rc == PD_OK)
        rc = keep_first_nonblank(sc, f[KEY_ENTRYPOINT], &sc->entrypoint);
    if (rc == PD_OK)
        rc = keep_first_nonblank(sc, f[KEY_SESSION_KIND], &sc->session_kind);
    if (rc != PD_OK)
        return rc;
    if (sc->version == NULL) {
        const char *s;
        size_t n;
        if (pd_json_str(f[KEY_VERSION], &s, &n) && n > 0) {
            sc->version = pd_utf8_sanitize(sc->arena, s, n, NULL);
            if (sc->version == NULL)
                return PD_ENOMEM;
        }
    }

    /* Every line's time bounds the session, bookkeeping lines included. */
    has_ts = line_time(f, &ts);
    if (has_ts) {
        if (!sc->has_ts || ts < sc->ts_min)
            sc->ts_min = ts;
        if (!sc->has_ts || ts > sc->ts_max)
            sc->ts_max = ts;
        sc->has_ts = true;
    }

    if (string_is(f[KEY_TYPE], "queue-operation"))
        return scan_queue_operation(sc, f);
    if (string_is(f[KEY_TYPE], "progress"))
        return scan_progress(sc, f);
    if (string_is(f[KEY_TYPE], "attachment"))
        return scan_attachment(sc, f, has_ts, ts);
    if (string_is(f[KEY_TYPE], "system"))
        return scan_system(sc, f);
    if (string_is(f[KEY_TYPE], "user"))
        return scan_message_line(sc, line, f, CLAUDE_ENTRY_USER, has_ts, ts);
    if (string_is(f[KEY_TYPE], "assistant"))
        return scan_message_line(sc, line, f, CLAUDE_ENTRY_ASSISTANT, has_ts, ts);
    return PD_OK;
}

/* A bad final line counts as a cut-off write only when the file does not end with a newline. */
bool claude_cut_tail(const claude_scan *sc)
{
    const pd_source_buf *src = sc->req->src;
    return sc->last_line_failed && !sc->last_line_blank && src->len > 0 &&
           src->data[src->len - 1] != '\n';
}

int claude_scan_lines(claude_scan *sc, size_t start)
{
    const pd_source_buf *src = sc->req->src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;

    claude_map_init(&sc->subagents, sc->arena);
    sc->all_have_uuid = true;
    sc->consumed = (int64_t)start;
    pd_jsonl_init(&reader, src->data, src->len, start);
    while (pd_jsonl_next(&reader, &line)) {
        pd_json root;
        int rc;

        if (line.len > CLAUDE_MAX_LINE_BYTES)
            continue;
        sc->any_line = true;
        sc->last_line_blank = pd_text_is_blank(line.data, line.len);
        rc = pd_json_parse(sc->json, line.data, line.len, &root);
        if (rc == PD_ENOMEM)
            return rc;
        if (rc != PD_OK) {
            sc->malformed_lines++;
            sc->last_line_failed = true;
            continue;
        }
        sc->last_line_failed = false;
        sc->consumed = line.end;
        rc = scan_valid_line(sc, &line, root);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* ---- full parse ------------------------------------------------------------------ */

/* Returns the project directory name of a transcript when discovery gave none. */
static char *project_dir_of(pd_arena *a, const char *path)
{
    const char *subagents = strstr(path, "/subagents/");
    const char *end = subagents != NULL ? subagents : strrchr(path, '/');
    const char *start;

    if (end == NULL)
        return pd_arena_strdup(a, "");
    /* A subagent's project directory sits above its <session>/subagents/ directories. */
    if (subagents != NULL) {
        while (end > path && end[-1] != '/')
            end--;
        if (end > path)
            end--;
    }
    start = end;
    while (start > path && start[-1] != '/')
        start--;
    return pd_arena_strndup(a, start, (size_t)(end - start));
}

char *claude_derive_project(claude_scan *sc)
{
    const pd_parse_request *req = sc->req;
    char *dir = req->project_hint != NULL ? (char *)req->project_hint
                                          : project_dir_of(sc->arena, req->path);
    char *project, *from_cwd;

    if (dir == NULL)
        return NULL;
    project = claude_project_from_dir_name(sc->arena, dir);
    if (project == NULL || sc->cwd == NULL)
        return project;
    from_cwd = claude_project_from_cwd(sc->arena, sc->cwd, sc->git_branch);
    if (from_cwd == NULL)
        return NULL;
    return from_cwd[0] != '\0' ? from_cwd : project;
}

/* Returns the directory name above subagents/ for an agent-* transcript, its initial parent. */
static char *companion_parent(pd_arena *a, const char *path, const char *session_id)
{
    char *clean;
    const char *marker, *start;

    if (strncmp(session_id, "agent-", 6) != 0)
        return NULL;
    clean = pd_path_clean(a, path, strlen(path));
    if (clean == NULL)
        return NULL;
    marker = strstr(clean, "/subagents/");
    if (marker == NULL || marker == clean)
        return NULL;
    start = marker;
    while (start > clean && start[-1] != '/')
        start--;
    if (start == marker)
        return NULL;
    return pd_utf8_sanitize(a, start, (size_t)(marker - start), NULL);
}

static char *or_empty(pd_arena *a, char *s)
{
    return s != NULL ? s : pd_arena_strdup(a, "");
}

int claude_session_fill_common(claude_scan *sc, pd_session *s, const char *project,
                               int64_t linear_parse)
{
    const pd_parse_request *req = sc->req;
    pd_arena *a = sc->arena;
    const pd_source_buf *src = req->src;

    s->project = (char *)project;
    s->machine = req->machine != NULL
                     ? pd_utf8_sanitize(a, req->machine, strlen(req->machine), NULL)
                     : pd_arena_strdup(a, "");
    s->agent = pd_arena_strdup(a, "claude");
    s->agent_label = or_empty(a, sc->agent_label);
    s->entrypoint = or_empty(a, sc->entrypoint);
    s->session_kind = or_empty(a, sc->session_kind);
    s->session_name = sc->has_rename && sc->session_name[0] != '\0' ? sc->session_name : NULL;
    s->file_path = pd_utf8_sanitize(a, req->path, strlen(req->path), NULL);
    s->file_size = src->file_size;
    s->file_mtime = src->mtime_ns;
    s->companion_mtime = sc->companion_mtime;
    s->file_inode = src->inode != 0 ? src->inode : PD_INT_NULL;
    s->file_device = src->device != 0 ? src->device : PD_INT_NULL;
    s->file_hash = NULL;
    s->claude_linear_parse = linear_parse;
    s->cwd = or_empty(a, sc->cwd);
    s->git_branch = or_empty(a, sc->git_branch);
    s->source_session_id = or_empty(a, sc->source_session_id);
    s->source_version = or_empty(a, sc->version);
    s->transcript_fidelity = pd_arena_strdup(a, "");
    s->parser_malformed_lines = sc->malformed_lines;
    s->is_truncated = claude_cut_tail(sc);
    s->data_version = PD_DATA_VERSION;
    if (s->machine == NULL || s->agent == NULL || s->agent_label == NULL || s->entrypoint == NULL ||
        s->session_kind == NULL || s->file_path == NULL || s->cwd == NULL ||
        s->git_branch == NULL || s->source_session_id == NULL || s->source_version == NULL ||
        s->transcript_fidelity == NULL)
        return PD_ENOMEM;
    return PD_OK;
}

static int build_session(claude_scan *sc, const claude_branch *b, bool is_main, const char *project,
                         bool is_dag, const claude_map *search_counts, pd_session *s)
{
    pd_arena *a = sc->arena;
    bool oom = false;
    int rc;

    pd_session_init(s);
    rc = claude_session_fill_common(sc, s, project, is_dag ? 0 : 1);
    if (rc != PD_OK)
        return rc;
    s->id = b->session_id;

    if (is_main) {
        s->parent_session_id = sc->parent_session_id;
        if (strncmp(s->id, "agent-", 6) == 0)
            s->relationship_type = "subagent";
        else if (s->parent_session_id != NULL)
            s->relationship_type = "continuation";
        else
            s->relationship_type = "";
    } else {
        s->parent_session_id = b->parent_id;
        s->relationship_type = "fork";
    }

    rc = claude_session_collect(a, s, sc->entries, b->indices, b->n, 0);
    if (rc == PD_OK && is_main)
        rc = claude_session_merge_queued(a, s, sc->queued, sc->n_queued, 0);
    if (rc != PD_OK)
        return rc;
    claude_session_annotate_subagents(s, &sc->subagents);
    rc = claude_session_credit_web_searches(a, sc->json, s, search_counts);
    if (rc == PD_OK)
        rc = claude_session_summarize(a, s);
    if (rc != PD_OK)
        return rc;

    /* The main session spans every timed line, and a fork spans only its own entries. */
    if (is_main) {
        s->started_at = claude_format_time(a, sc->has_ts, sc->ts_min, &oom);
        s->ended_at = claude_format_time(a, sc->has_ts, sc->ts_max, &oom);
    } else {
        const claude_entry *first = NULL, *last = NULL;
        for (size_t i = 0; i < b->n; i++) {
            const claude_entry *e = &sc->entries[b->indices[i]];
            if (!e->has_ts)
                continue;
            if (first == NULL)
                first = e;
            last = e;
        }
        s->started_at = claude_format_time(a, first != NULL, first != NULL ? first->ts : 0, &oom);
        s->ended_at = claude_format_time(a, last != NULL, last != NULL ? last->ts : 0, &oom);
    }
    if (oom)
        return PD_ENOMEM;
    s->termination_status = (char *)claude_termination_status(s, sc->last_line_failed);
    return PD_OK;
}

static int parse_full(const pd_parse_request *req, pd_parse_result *out, pd_err *err)
{
    pd_arena *a = req->arena;
    claude_scan sc = {.req = req, .arena = a, .json = req->json};
    claude_branch *branches = NULL;
    size_t n_branches = 0;
    claude_map search_counts;
    bool is_dag = false;
    char *project;
    int rc;

    sc.session_id = claude_session_id_from_path(a, req->path);
    if (sc.session_id == NULL)
        goto oom;
    sc.parent_session_id = companion_parent(a, req->path, sc.session_id);

    /*
     * NOTE: background-fork lineage is not applied. A top-level transcript
     * whose first uuid line has sessionKind "bg" and replays a sibling
     * transcript keeps the replayed lines as its own messages, and is not
     * linked to that sibling as a continuation.
     */
    rc = claude_scan_lines(&sc, 0);
    if (rc == PD_OK)
        rc = claude_merge_chunks(a, sc.entries, &sc.n_entries);
    for (size_t i = 0; rc == PD_OK && i < sc.n_entries; i++)
        rc = claude_entry_messages(a, &sc.entries[i]);
    if (rc == PD_OK)
        rc = claude_plan_branches(&sc, &branches, &n_branches, &is_dag);
    claude_map_init(&search_counts, a);
    if (rc == PD_OK)
        rc = claude_collect_search_counts(&sc, &search_counts);
    if (rc != PD_OK)
        goto fail;
    project = claude_derive_project(&sc);
    if (project == NULL)
        goto oom;

    out->sessions = pd_arena_calloc(a, n_branches, sizeof *out->sessions);
    out->excluded_ids = pd_arena_calloc(a, n_branches, sizeof *out->excluded_ids);
    if (out->sessions == NULL || out->excluded_ids == NULL)
        goto oom;
    for (size_t i = 0; i < n_branches; i++) {
        pd_session *s = &out->sessions[out->n_sessions];
        rc = build_session(&sc, &branches[i], i == 0, project, is_dag, &search_counts, s);
        if (rc != PD_OK)
            goto fail;
        /* A session that only ran /usage carries no conversation and is never archived. */
        if (claude_session_is_usage_probe(s))
            out->excluded_ids[out->n_excluded++] = s->id;
        else
            out->n_sessions++;
    }
    out->consumed = (int64_t)req->src->len;
    out->malformed_lines = sc.malformed_lines;
    out->malformed_cut_tail = claude_cut_tail(&sc);
    return PD_OK;

oom:
    rc = PD_ENOMEM;
fail:
    out->n_sessions = 0;
    out->n_excluded = 0;
    return pd_err_set(err, rc, "%s: parsing the Claude transcript failed: %s", req->path,
                      pd_strerror(rc));
}

static int parse_source(const pd_parse_request *req, pd_parse_result *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    if (req == NULL || req->src == NULL || req->arena == NULL || req->json == NULL ||
        req->path == NULL)
        return pd_err_set(err, PD_EINVAL,
                          "Claude parse request is missing its source, arena or parser");
    if (req->incr != NULL)
        return claude_parse_incremental(req, out, err);
    return parse_full(req, out, err);
}

const pd_provider pd_provider_claude = {
    .name = "claude",
    .file_based = true,
    .incremental = true,
    .live_mtime_rule = PD_LIVE_MTIME_FLOORED,
    .open_shared = NULL,
    .close_shared = NULL,
    .discover = claude_discover,
    .parse = parse_source,
    .effective_mtime = NULL,
};
