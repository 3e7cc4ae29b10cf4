/*
 * claude_messages.c -- turning Claude Code entries into archive messages.
 *
 * Entry points: claude_entry_messages() builds the messages of one user or
 * assistant entry, claude_queued_message() the message of a queued prompt.
 * Both run after the line scan, on entries that own their data.
 *
 * Rules, in the order they apply to an entry:
 *   1. isCompactSummary (either type) becomes an assistant system message of
 *      subtype compact_boundary.
 *   2. A user entry with isMeta is dropped.
 *   3. The content is flattened: text blocks, thinking blocks wrapped in
 *      [Thinking] markers and tool labels, joined with "\n". Tool calls and
 *      tool results are collected.
 *   4. User text loses leading <system-reminder> blocks, and a pure slash
 *      command envelope renders as "/name args" (one that cannot render
 *      drops the entry).
 *   5. An entry with blank text and no tool results is dropped.
 *   6. User text that Claude Code injected (continuation summaries, resume
 *      caveats, interruptions, task notifications, stop hook feedback,
 *      reminder-only text, IDE context tags) becomes a user system message
 *      with a subtype. IDE context followed by a prompt splits in two.
 *      Other <local-command-...> output is dropped.
 *   7. Everything else is an ordinary message. Assistant messages also carry
 *      the model, ids, usage and stop reason.
 *
 * Thread-safety: works on one request's arena.
 */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "parsers/claude_internal.h"
#include "parsers/taxonomy.h"

/* ---- text helpers ---------------------------------------------------------- */

/* Returns the offset of the first byte that is neither Unicode whitespace nor a BOM. */
static size_t skip_space_and_bom(const char *s, size_t n)
{
    size_t pos = 0;

    for (;;) {
        size_t start, len;
        pd_text_trim_span(s + pos, n - pos, &start, &len);
        pos += start;
        if (n - pos >= 3 && memcmp(s + pos, "\xEF\xBB\xBF", 3) == 0) {
            pos += 3;
            continue;
        }
        return pos;
    }
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
    return pd_text_has_prefix(s, n, prefix);
}

/* Byte length of the UTF-8 sequence a lead byte starts (1 for anything invalid). */
static size_t rune_length(unsigned char lead)
{
    if (lead >= 0xF0 && lead <= 0xF7)
        return 4;
    if (lead >= 0xE0)
        return lead <= 0xEF ? 3 : 1;
    if (lead >= 0xC0)
        return 2;
    return 1;
}

bool claude_is_bare_command(const char *s, size_t n)
{
    size_t start, len, i = 1;

    pd_text_trim_span(s, n, &start, &len);
    s += start;
    if (len < 2 || s[0] != '/')
        return false;

    /* The name is letters, digits, '-' and '_' up to the end or to whitespace. */
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t space_start, space_len, step;

        pd_text_trim_span(s + i, len - i, &space_start, &space_len);
        if (space_start > 0)
            return i > 1;
        if (c < 0x80) {
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return false;
            i++;
            continue;
        }
        /* NOTE: any non-ASCII rune that is not whitespace counts as a letter here. */
        step = rune_length(c);
        i += step <= len - i ? step : len - i;
    }
    return true;
}

/* ---- command envelopes ------------------------------------------------------- */

static const char *const command_tags[] = {"name>", "message>", "args>", NULL};

/* Length of "<command-(name|message|args)>" (or the closing form) at s, or 0. */
static size_t command_tag_len(const char *s, size_t n, bool closing)
{
    const char *open = closing ? "</command-" : "<command-";
    size_t open_len = strlen(open);

    if (!has_prefix(s, n, open))
        return 0;
    for (size_t i = 0; command_tags[i] != NULL; i++) {
        if (has_prefix(s + open_len, n - open_len, command_tags[i]))
            return open_len + strlen(command_tags[i]);
    }
    return 0;
}

/* Length of one "<command-x>text</command-y>" element at s (text without '<'), or 0. */
static size_t command_element_len(const char *s, size_t n)
{
    size_t open = command_tag_len(s, n, false), i, close;

    if (open == 0)
        return 0;
    i = open;
    while (i < n && s[i] != '<')
        i++;
    close = command_tag_len(s + i, n - i, true);
    return close == 0 ? 0 : i + close;
}

/* Returns true when s is only command elements and whitespace, starting with a name or message tag.
 */
static bool is_command_envelope(pd_arena *a, const char *s, size_t n, bool *oom)
{
    pd_buf rest;
    size_t i = skip_space_and_bom(s, n);
    char *remaining;

    if (!has_prefix(s + i, n - i, "<command-message>") &&
        !has_prefix(s + i, n - i, "<command-name>"))
        return false;
    pd_buf_init(&rest, a);
    while (i < n) {
        size_t element = command_element_len(s + i, n - i);
        if (element > 0) {
            i += element;
            continue;
        }
        pd_buf_putc(&rest, s[i]);
        i++;
    }
    remaining = pd_buf_finish(&rest);
    if (remaining == NULL) {
        *oom = true;
        return false;
    }
    return pd_text_is_blank(remaining, rest.len);
}

bool claude_find_tagged(const char *s, size_t n, const char *open, const char *close,
                        bool allow_empty, const char **value, size_t *len)
{
    size_t open_len = strlen(open);
    const char *p = s, *end = s + n;

    while ((p = pd_text_find(p, (size_t)(end - p), open)) != NULL) {
        const char *v = p + open_len, *q = v;
        while (q < end && *q != '<')
            q++;
        if ((q > v || allow_empty) && has_prefix(q, (size_t)(end - q), close)) {
            *value = v;
            *len = (size_t)(q - v);
            return true;
        }
        p++;
    }
    return false;
}

/* Renders a command envelope as "/name args". Sets *renders false and returns NULL when it cannot.
 */
static char *render_command(pd_arena *a, const char *s, size_t n, bool *renders)
{
    const char *name, *args;
    size_t name_len, args_len;
    size_t trim_start, trim_len;
    bool slash;

    *renders = false;
    if (!claude_find_tagged(s, n, "<command-name>", "</command-name>", false, &name, &name_len)) {
        if (!claude_find_tagged(s, n, "<command-message>", "</command-message>", false, &name,
                                &name_len))
            return NULL;
        *renders = true;
        return pd_arena_sprintf(a, "/%.*s", (int)name_len, name);
    }
    *renders = true;
    slash = name_len > 0 && name[0] == '/';
    if (!claude_find_tagged(s, n, "<command-args>", "</command-args>", true, &args, &args_len)) {
        args = "";
        args_len = 0;
    }
    pd_text_trim_span(args, args_len, &trim_start, &trim_len);
    if (trim_len == 0)
        return pd_arena_sprintf(a, "%s%.*s", slash ? "" : "/", (int)name_len, name);
    return pd_arena_sprintf(a, "%s%.*s %.*s", slash ? "" : "/", (int)name_len, name, (int)trim_len,
                            args + trim_start);
}

/* ---- user text preprocessing and classification ----------------------------- */

typedef struct user_text {
    char *text;
    size_t len;
    bool reminders_only; /* the text was nothing but <system-reminder> blocks */
    bool dropped;        /* an envelope that cannot render */
} user_text;

static int preprocess_user_text(pd_arena *a, char *text, size_t len, user_text *out)
{
    static const char open[] = "<system-reminder>";
    static const char close[] = "</system-reminder>";
    size_t pos = skip_space_and_bom(text, len);
    bool stripped = false, oom = false;

    memset(out, 0, sizeof *out);
    out->text = text;
    out->len = len;

    /* Strip leading complete reminder blocks. */
    while (has_prefix(text + pos, len - pos, open)) {
        const char *end = pd_text_find(text + pos, len - pos, close);
        if (end == NULL)
            break;
        pos = (size_t)(end - text) + sizeof close - 1;
        pos += skip_space_and_bom(text + pos, len - pos);
        stripped = true;
    }
    if (stripped && pos == len) {
        /* Only reminders: keep the original text so it can be classified. */
        out->reminders_only = true;
        return PD_OK;
    }
    if (stripped) {
        out->text = pd_arena_strndup(a, text + pos, len - pos);
        out->len = len - pos;
        if (out->text == NULL)
            return PD_ENOMEM;
    }

    if (is_command_envelope(a, out->text, out->len, &oom)) {
        bool renders;
        char *rendered = render_command(a, out->text, out->len, &renders);
        if (!renders) {
            out->dropped = true;
            return PD_OK;
        }
        if (rendered == NULL)
            return PD_ENOMEM;
        out->text = rendered;
        out->len = strlen(rendered);
    }
    return oom ? PD_ENOMEM : PD_OK;
}

static const char *const ide_tags[] = {"ide_opened_file", "ide_selection", NULL};
static const char *const ide_open_tags[] = {"<ide_opened_file>", "<ide_selection>"};
static const char *const ide_close_tags[] = {"</ide_opened_file>", "</ide_selection>"};

/*
 * Finds a complete IDE context element at the start of s (after spaces).
 * Sets *tag, and *end to the offset just past its closing tag.
 */
static bool leading_ide_element(const char *s, size_t n, const char **tag, size_t *end)
{
    size_t start = skip_space_and_bom(s, n);

    for (size_t i = 0; ide_tags[i] != NULL; i++) {
        const char *open = ide_open_tags[i];
        const char *close = ide_close_tags[i];
        const char *found;
        if (!has_prefix(s + start, n - start, open))
            continue;
        found = pd_text_find(s + start, n - start, close);
        if (found == NULL)
            continue;
        *tag = ide_tags[i];
        *end = (size_t)(found - s) + strlen(close);
        return true;
    }
    return false;
}

/* Returns the system subtype of injected user text, or NULL for an ordinary prompt. */
static const char *classify_user_text(const user_text *t)
{
    size_t start = skip_space_and_bom(t->text, t->len);
    const char *s = t->text + start;
    size_t n = t->len - start;
    const char *tag;
    size_t end, rest_start, rest_len;

    if (has_prefix(s, n, "This session is being continued"))
        return "continuation";
    if (has_prefix(s, n, "<local-command-caveat>"))
        return "resume";
    if (has_prefix(s, n, "[Request interrupted"))
        return "interrupted";
    if (has_prefix(s, n, "<task-notification>"))
        return "task_notification";
    if (has_prefix(s, n, "Stop hook feedback:"))
        return "stop_hook";
    if (t->reminders_only)
        return "system_reminder";
    /* A whole text of exactly one IDE element is context, not a prompt. */
    if (leading_ide_element(s, n, &tag, &end)) {
        pd_text_trim_span(s + end, n - end, &rest_start, &rest_len);
        if (rest_len == 0)
            return tag;
    }
    return NULL;
}

/* ---- content flattening ----------------------------------------------------------- */

typedef struct flat_content {
    char *text;
    size_t len;
    char *thinking;
    bool has_thinking;
    bool has_tool_use;
    pd_tool_call *calls;
    size_t n_calls;
    pd_tool_result *results;
    size_t n_results;
} flat_content;

static int flatten_content(pd_arena *a, const claude_entry *e, flat_content *out)
{
    pd_buf text, thinking;
    size_t n_parts = 0, n_thinking = 0;

    memset(out, 0, sizeof *out);
    if (e->content_is_string) {
        out->text = e->content_string;
        out->len = e->content_string_len;
        out->thinking = pd_arena_strdup(a, "");
        return out->thinking == NULL ? PD_ENOMEM : PD_OK;
    }

    if (e->n_blocks > 0) {
        out->calls = pd_arena_calloc(a, e->n_blocks, sizeof *out->calls);
        out->results = pd_arena_calloc(a, e->n_blocks, sizeof *out->results);
        if (out->calls == NULL || out->results == NULL)
            return PD_ENOMEM;
    }
    pd_buf_init(&text, a);
    pd_buf_init(&thinking, a);

    for (size_t i = 0; i < e->n_blocks; i++) {
        const claude_block *b = &e->blocks[i];
        const char *part = NULL;
        size_t part_len = 0;

        switch (b->kind) {
        case CLAUDE_BLOCK_TEXT:
            part = b->text;
            part_len = b->text_len;
            break;
        case CLAUDE_BLOCK_THINKING:
            if (b->text_len == 0)
                break;
            out->has_thinking = true;
            if (n_thinking++ > 0)
                pd_buf_puts(&thinking, "\n\n");
            pd_buf_append(&thinking, b->text, b->text_len);
            if (n_parts++ > 0)
                pd_buf_putc(&text, '\n');
            pd_buf_puts(&text, "[Thinking]\n");
            pd_buf_append(&text, b->text, b->text_len);
            pd_buf_puts(&text, "\n[/Thinking]");
            break;
        case CLAUDE_BLOCK_TOOL_USE:
            out->has_tool_use = true;
            part = b->label;
            part_len = strlen(b->label);
            if (b->tool_name[0] != '\0') {
                pd_tool_call *call = &out->calls[out->n_calls];
                call->tool_use_id = b->tool_id[0] != '\0' ? b->tool_id : NULL;
                call->tool_name = b->tool_name;
                call->category = pd_arena_strdup(a, pd_tool_category(b->tool_name));
                call->input_json = b->input_json;
                call->skill_name = b->skill_name;
                call->file_path = b->file_path;
                call->call_index = (int64_t)out->n_calls;
                if (call->category == NULL)
                    return PD_ENOMEM;
                out->n_calls++;
            }
            break;
        case CLAUDE_BLOCK_TOOL_RESULT:
            if (b->result_id[0] != '\0') {
                pd_tool_result *result = &out->results[out->n_results++];
                result->tool_use_id = b->result_id;
                result->content = b->result_content;
                result->content_length = b->result_length;
            }
            break;
        case CLAUDE_BLOCK_OTHER:
            break;
        }
        if (part != NULL && part_len > 0) {
            if (n_parts++ > 0)
                pd_buf_putc(&text, '\n');
            pd_buf_append(&text, part, part_len);
        }
    }

    out->text = pd_buf_finish(&text);
    out->len = text.len;
    out->thinking = pd_buf_finish(&thinking);
    if (out->text == NULL || out->thinking == NULL)
        return PD_ENOMEM;
    return PD_OK;
}

/* ---- message construction ----------------------------------------------------------- */

/*
 * Sets every string of m to "" and every flag to zero, the empty message of
 * the archive, then copies the entry's time, uuids and sidechain flag. The ""
 * values are string literals, which no later step writes to.
 */
static int message_init(pd_arena *a, pd_message *m, const claude_entry *e)
{
    bool oom = false;

    memset(m, 0, sizeof *m);
    m->role = "";
    m->content = "";
    m->thinking_text = "";
    m->model = "";
    m->token_usage = "";
    m->claude_message_id = "";
    m->claude_request_id = "";
    m->source_type = "";
    m->source_subtype = "";
    m->prompt_source = "";
    m->source_uuid = "";
    m->source_parent_uuid = "";
    m->stop_reason = "";
    if (e != NULL) {
        m->timestamp = claude_format_time(a, e->has_ts, e->ts, &oom);
        m->source_uuid = e->uuid;
        m->source_parent_uuid = e->parent_uuid;
        m->is_sidechain = e->is_sidechain;
    }
    return oom ? PD_ENOMEM : PD_OK;
}

static void message_set_content(pd_message *m, char *text, size_t len)
{
    m->content = text;
    m->content_length = (int64_t)len;
}

static int entry_push(pd_arena *a, claude_entry *e, const pd_message *m)
{
    pd_message *grown = pd_arena_grow(a, e->msgs, e->n_msgs, e->n_msgs + 1, sizeof *grown);

    if (grown == NULL)
        return PD_ENOMEM;
    grown[e->n_msgs++] = *m;
    e->msgs = grown;
    return PD_OK;
}

static int compact_summary_message(pd_arena *a, claude_entry *e)
{
    pd_message m;
    int rc = message_init(a, &m, e);

    if (rc != PD_OK)
        return rc;
    m.role = "assistant";
    m.is_system = true;
    m.source_type = "system";
    m.source_subtype = "compact_boundary";
    m.is_compact_boundary = true;
    m.prompt_source = e->prompt_source;
    if (e->content_is_string) {
        message_set_content(&m, e->content_string, e->content_string_len);
    } else {
        /* Every text block counts here, empty ones included. */
        pd_buf text;
        size_t n_parts = 0;
        pd_buf_init(&text, a);
        for (size_t i = 0; i < e->n_blocks; i++) {
            if (strcmp(e->blocks[i].type, "text") != 0)
                continue;
            if (n_parts++ > 0)
                pd_buf_putc(&text, '\n');
            pd_buf_append(&text, e->blocks[i].text, e->blocks[i].text_len);
        }
        m.content = pd_buf_finish(&text);
        if (m.content == NULL)
            return PD_ENOMEM;
        m.content_length = (int64_t)text.len;
    }
    return entry_push(a, e, &m);
}

static int system_user_message(pd_arena *a, claude_entry *e, const char *subtype, char *text,
                               size_t len, const flat_content *flat, char *source_uuid)
{
    pd_message m;
    int rc = message_init(a, &m, e);

    if (rc != PD_OK)
        return rc;
    m.role = "user";
    m.is_system = true;
    m.source_type = "system";
    m.source_subtype = (char *)subtype;
    if (source_uuid != NULL)
        m.source_uuid = source_uuid;
    message_set_content(&m, text, len);
    if (flat != NULL) {
        m.tool_results = flat->results;
        m.n_tool_results = flat->n_results;
    }
    return entry_push(a, e, &m);
}

static int ordinary_message(pd_arena *a, claude_entry *e, char *text, size_t len,
                            const flat_content *flat)
{
    pd_message m;
    int rc = message_init(a, &m, e);

    if (rc != PD_OK)
        return rc;
    m.role = e->type == CLAUDE_ENTRY_USER ? "user" : "assistant";
    m.source_type = m.role;
    m.prompt_source = e->prompt_source;
    message_set_content(&m, text, len);
    m.thinking_text = flat->thinking;
    m.has_thinking = flat->has_thinking;
    m.has_tool_use = flat->has_tool_use;
    m.tool_calls = flat->calls;
    m.n_tool_calls = flat->n_calls;
    m.tool_results = flat->results;
    m.n_tool_results = flat->n_results;
    if (e->type == CLAUDE_ENTRY_ASSISTANT) {
        m.model = e->model;
        m.claude_message_id = e->message_id;
        m.claude_request_id = e->request_id;
        m.stop_reason = e->stop_reason;
        if (e->usage != NULL)
            m.token_usage = e->usage;
        m.context_tokens = e->context_tokens;
        m.output_tokens = e->output_tokens;
        m.has_context_tokens = e->has_context_tokens;
        m.has_output_tokens = e->has_output_tokens;
    }
    return entry_push(a, e, &m);
}

/* Maximum IDE elements split off one prompt. Further ones stay in the prompt text. */
#define MAX_IDE_SPLITS 32

static int user_messages(pd_arena *a, claude_entry *e, const flat_content *flat)
{
    char *text = flat->text;
    size_t len = flat->len;

    for (int round = 0;; round++) {
        user_text t;
        const char *subtype, *tag;
        char *context_uuid;
        size_t end, start;
        int rc = preprocess_user_text(a, text, len, &t);

        if (rc != PD_OK)
            return rc;
        if (t.dropped)
            return PD_OK;
        if (pd_text_is_blank(t.text, t.len) && flat->n_results == 0)
            return PD_OK;

        subtype = classify_user_text(&t);
        if (subtype != NULL)
            return system_user_message(a, e, subtype, t.text, t.len, flat, NULL);

        /* IDE context followed by a prompt: a hidden context message, then the prompt itself. */
        if (round < MAX_IDE_SPLITS && leading_ide_element(t.text, t.len, &tag, &end)) {
            char *envelope;

            start = skip_space_and_bom(t.text, t.len);
            envelope = pd_arena_strndup(a, t.text + start, end - start);
            context_uuid =
                e->uuid[0] != '\0' ? pd_arena_sprintf(a, "%s:ide-context", e->uuid) : e->uuid;
            if (envelope == NULL || context_uuid == NULL)
                return PD_ENOMEM;
            rc = system_user_message(a, e, tag, envelope, end - start, NULL, context_uuid);
            if (rc != PD_OK)
                return rc;
            /* The prompt starts after the separator that follows the context element. */
            start = end + skip_space_and_bom(t.text + end, t.len - end);
            text = t.text + start;
            len = t.len - start;
            continue;
        }

        /* Output of local commands other than the resume caveat is noise. */
        start = skip_space_and_bom(t.text, t.len);
        if (has_prefix(t.text + start, t.len - start, "<local-command-"))
            return PD_OK;
        return ordinary_message(a, e, t.text, t.len, flat);
    }
}

int claude_entry_messages(pd_arena *a, claude_entry *e)
{
    flat_content flat;
    int rc;

    e->msgs = NULL;
    e->n_msgs = 0;
    if (e->is_compact_summary)
        return compact_summary_message(a, e);
    if (e->type == CLAUDE_ENTRY_USER && e->is_meta)
        return PD_OK;

    rc = flatten_content(a, e, &flat);
    if (rc != PD_OK)
        return rc;
    if (e->type == CLAUDE_ENTRY_USER)
        return user_messages(a, e, &flat);
    if (pd_text_is_blank(flat.text, flat.len) && flat.n_results == 0)
        return PD_OK;
    return ordinary_message(a, e, flat.text, flat.len, &flat);
}

int claude_queued_message(pd_arena *a, const claude_queued *q, pd_message *msg, bool *keep)
{
    user_text t;
    const char *subtype;
    bool oom = false;
    int rc;

    *keep = false;
    rc = preprocess_user_text(a, q->prompt, q->prompt_len, &t);
    if (rc != PD_OK)
        return rc;
    if (t.dropped || pd_text_is_blank(t.text, t.len))
        return PD_OK;

    rc = message_init(a, msg, NULL);
    if (rc != PD_OK)
        return rc;
    msg->timestamp = claude_format_time(a, q->has_ts, q->ts, &oom);
    if (oom)
        return PD_ENOMEM;
    msg->role = "user";
    msg->prompt_source = q->prompt_source;
    message_set_content(msg, t.text, t.len);

    subtype = classify_user_text(&t);
    if (subtype != NULL) {
        msg->is_system = true;
        msg->source_type = "system";
        msg->source_subtype = (char *)subtype;
    } else {
        msg->source_type = "user";
        msg->source_subtype = "queued_command";
    }
    *keep = true;
    return PD_OK;
}

bool claude_entry_is_real_user_turn(const claude_entry *e)
{
    for (size_t i = 0; i < e->n_msgs; i++) {
        const pd_message *m = &e->msgs[i];
        if (!m->is_system && strcmp(m->role, "user") == 0 &&
            !pd_text_is_blank(m->content, (size_t)m->content_length))
            return true;
    }
    return false;
}
