/*
 * claude_session.c -- session-level steps of the Claude Code parser.
 *
 * Entry points, in the order a parse calls them:
 *   claude_session_collect()            copy the branch's entry messages
 *   claude_session_merge_queued()       splice queued prompts by timestamp
 *   claude_session_annotate_subagents() link Task calls to subagent sessions
 *   claude_collect_search_counts() and claude_session_credit_web_searches()
 *                                       credit billed web searches
 *   claude_session_summarize()          counts, first message, token totals
 *   claude_termination_status()         how the session ended
 *   claude_session_is_usage_probe()     sessions that are only "/usage"
 *
 * Thread-safety: works on one request's arena and parser.
 */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "parsers/claude_internal.h"

int claude_session_collect(pd_arena *a, pd_session *s, claude_entry *entries, const size_t *indices,
                           size_t n, int64_t first_ordinal)
{
    size_t total = 0, k = 0;

    for (size_t i = 0; i < n; i++)
        total += entries[indices[i]].n_msgs;
    s->messages = NULL;
    s->n_messages = 0;
    if (total == 0)
        return PD_OK;
    s->messages = pd_arena_calloc(a, total, sizeof *s->messages);
    if (s->messages == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const claude_entry *e = &entries[indices[i]];
        for (size_t j = 0; j < e->n_msgs; j++) {
            s->messages[k] = e->msgs[j];
            s->messages[k].ordinal = first_ordinal + (int64_t)k;
            k++;
        }
    }
    s->n_messages = total;
    return PD_OK;
}

/* Reads a message's timestamp in ns. Returns false when it has none. */
static bool message_time(const pd_message *m, pd_time_ns *t)
{
    return m->timestamp != NULL && pd_time_parse(m->timestamp, strlen(m->timestamp), t);
}

int claude_session_merge_queued(pd_arena *a, pd_session *s, const claude_queued *queued,
                                size_t n_queued, int64_t first_ordinal)
{
    pd_message *merged;
    size_t i = 0, j = 0, k = 0;

    if (n_queued == 0)
        return PD_OK;
    merged = pd_arena_calloc(a, s->n_messages + n_queued, sizeof *merged);
    if (merged == NULL)
        return PD_ENOMEM;

    /*
     * Both lists are in file order. A queued prompt goes before a message
     * only when both have timestamps and the prompt's is strictly earlier, so
     * a prompt without a timestamp keeps its place after earlier messages.
     */
    while (i < s->n_messages || j < n_queued) {
        bool take_queued = false;
        pd_message qm;
        bool keep;
        int rc;

        if (j < n_queued && i < s->n_messages) {
            pd_time_ns mt;
            take_queued =
                queued[j].has_ts && message_time(&s->messages[i], &mt) && queued[j].ts < mt;
        } else if (j < n_queued) {
            take_queued = true;
        }
        if (!take_queued) {
            merged[k++] = s->messages[i++];
            continue;
        }
        rc = claude_queued_message(a, &queued[j++], &qm, &keep);
        if (rc != PD_OK)
            return rc;
        if (keep)
            merged[k++] = qm;
    }
    for (size_t m = 0; m < k; m++)
        merged[m].ordinal = first_ordinal + (int64_t)m;
    s->messages = merged;
    s->n_messages = k;
    return PD_OK;
}

bool claude_is_task_like(const char *category, const char *name)
{
    return (category != NULL && strcmp(category, "Task") == 0) ||
           (name != NULL && strstr(name, "subagent") != NULL);
}

void claude_session_annotate_subagents(pd_session *s, const claude_map *subagents)
{
    if (subagents->count == 0)
        return;
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            pd_tool_call *call = &m->tool_calls[j];
            claude_map_slot *slot;
            if (call->tool_use_id == NULL || !claude_is_task_like(call->category, call->tool_name))
                continue;
            slot = claude_map_find(subagents, call->tool_use_id);
            if (slot != NULL)
                call->subagent_session_id = slot->value;
        }
    }
}

/* ---- web search credit -------------------------------------------------------- */

int claude_collect_search_counts(const claude_scan *sc, claude_map *counts)
{
    for (size_t i = 0; i < sc->n_entries; i++) {
        const claude_entry *e = &sc->entries[i];
        const char *id = NULL;
        size_t n_results = 0;
        claude_map_slot *slot;
        bool created;
        int rc;

        if (e->type != CLAUDE_ENTRY_USER || e->search_count <= 0)
            continue;
        /* The count belongs to a call only when the line carries exactly one tool result. */
        for (size_t b = 0; b < e->n_blocks; b++) {
            if (e->blocks[b].kind == CLAUDE_BLOCK_TOOL_RESULT) {
                id = e->blocks[b].result_id;
                n_results++;
            }
        }
        if (n_results != 1 || id[0] == '\0')
            continue;
        rc = claude_map_upsert(counts, id, &slot, &created);
        if (rc != PD_OK)
            return rc;
        if (created)
            slot->number = e->search_count;
    }
    return PD_OK;
}

/*
 * Returns usage with server_tool_use.web_search_requests set to count, or
 * NULL when usage is not an object that can be edited. The edit splices text
 * so every other byte of the provider's usage object survives.
 */
static char *splice_search_count(pd_arena *a, pd_json_parser *p, const char *usage, size_t len,
                                 int64_t count, bool *oom)
{
    pd_json root, tool_use;
    const char *root_text, *value;
    size_t root_len, value_len;
    char number[24];

    *oom = false;
    if (pd_json_parse(p, usage, len, &root) != PD_OK || pd_json_type_of(root) != PD_JSON_OBJECT)
        return NULL;
    pd_json_raw_root(p, &root_text, &root_len);
    if (root_len != len || memcmp(root_text, usage, len) != 0)
        return NULL;
    snprintf(number, sizeof number, "%lld", (long long)count);

    if (pd_json_raw_path(p, "server_tool_use.web_search_requests", &value, &value_len)) {
        size_t at = (size_t)(value - root_text);
        char *out = pd_arena_sprintf(a, "%.*s%s%.*s", (int)at, usage, number,
                                     (int)(len - at - value_len), usage + at + value_len);
        *oom = out == NULL;
        return out;
    }

    tool_use = pd_json_get(root, "server_tool_use");
    if (pd_json_exists(tool_use)) {
        size_t at, inner_start, inner_len;
        char *out;
        if (pd_json_type_of(tool_use) != PD_JSON_OBJECT ||
            !pd_json_raw_path(p, "server_tool_use", &value, &value_len) || value_len < 2)
            return NULL;
        at = (size_t)(value - root_text);
        pd_text_trim_span(value + 1, value_len - 2, &inner_start, &inner_len);
        if (inner_len == 0)
            out = pd_arena_sprintf(a, "%.*s{\"web_search_requests\":%s}%.*s", (int)at, usage,
                                   number, (int)(len - at - value_len), usage + at + value_len);
        else
            out = pd_arena_sprintf(a, "%.*s{\"web_search_requests\":%s,%.*s}%.*s", (int)at, usage,
                                   number, (int)inner_len, value + 1 + inner_start,
                                   (int)(len - at - value_len), usage + at + value_len);
        *oom = out == NULL;
        return out;
    }

    /* No server_tool_use yet: it becomes the first member. */
    {
        size_t rest_start, rest_len;
        char *out;
        pd_text_trim_span(usage + 1, len - 1, &rest_start, &rest_len);
        if (rest_len > 0 && usage[1 + rest_start] == '}')
            out = pd_arena_sprintf(a, "{\"server_tool_use\":{\"web_search_requests\":%s}}", number);
        else
            out = pd_arena_sprintf(a, "{\"server_tool_use\":{\"web_search_requests\":%s},%.*s",
                                   number, (int)(len - 1), usage + 1);
        *oom = out == NULL;
        return out;
    }
}

int claude_session_credit_web_searches(pd_arena *a, pd_json_parser *p, pd_session *s,
                                       const claude_map *counts)
{
    if (counts->count == 0)
        return PD_OK;
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        size_t len = strlen(m->token_usage);
        int64_t total = 0;
        pd_json root;
        char *spliced;
        bool oom;

        if (len == 0 || m->n_tool_calls == 0)
            continue;
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            const pd_tool_call *call = &m->tool_calls[j];
            claude_map_slot *slot;
            if (call->tool_use_id == NULL || strcmp(call->tool_name, "WebSearch") != 0)
                continue;
            slot = claude_map_find(counts, call->tool_use_id);
            if (slot != NULL)
                total += slot->number;
        }
        if (total <= 0)
            continue;

        /* A message whose usage already reports searches is authoritative. */
        if (pd_json_parse(p, m->token_usage, len, &root) == PD_OK &&
            pd_json_int(pd_json_path(root, "server_tool_use.web_search_requests")) > 0)
            continue;
        spliced = splice_search_count(a, p, m->token_usage, len, total, &oom);
        if (oom)
            return PD_ENOMEM;
        if (spliced != NULL)
            m->token_usage = spliced;
    }
    return PD_OK;
}

/* ---- session fields ------------------------------------------------------------- */

static bool is_real_user_message(const pd_message *m)
{
    return !m->is_system && strcmp(m->role, "user") == 0 && m->content_length > 0;
}

int claude_session_summarize(pd_arena *a, pd_session *s)
{
    s->message_count = (int64_t)s->n_messages;
    s->user_message_count = 0;
    s->first_message = NULL;
    s->total_output_tokens = 0;
    s->peak_context_tokens = 0;
    s->has_total_output_tokens = false;
    s->has_peak_context_tokens = false;

    for (size_t i = 0; i < s->n_messages; i++) {
        const pd_message *m = &s->messages[i];

        if (m->has_output_tokens) {
            /* Wraps like the reference's int64 sum instead of overflowing:
             * token counts come from untrusted input, and normalisation
             * clamps and recomputes the stored totals anyway. */
            s->total_output_tokens =
                (int64_t)((uint64_t)s->total_output_tokens + (uint64_t)m->output_tokens);
            s->has_total_output_tokens = true;
        }
        if (m->has_context_tokens) {
            if (!s->has_peak_context_tokens || m->context_tokens > s->peak_context_tokens)
                s->peak_context_tokens = m->context_tokens;
            s->has_peak_context_tokens = true;
        }
        if (!is_real_user_message(m))
            continue;
        s->user_message_count++;
        /* Bare slash commands such as "/clear" make a poor preview, so the next prompt is used. */
        if (s->first_message == NULL &&
            !claude_is_bare_command(m->content, (size_t)m->content_length)) {
            s->first_message =
                pd_text_truncate_runes(a, m->content, (size_t)m->content_length, 300);
            if (s->first_message == NULL)
                return PD_ENOMEM;
            if (s->first_message[0] == '\0')
                s->first_message = NULL;
        }
    }
    return PD_OK;
}

const char *claude_termination_status(const pd_session *s, bool last_line_failed)
{
    size_t last_assistant = SIZE_MAX, last_message = SIZE_MAX;

    if (last_line_failed)
        return "truncated";
    if (s->n_messages == 0)
        return NULL;
    for (size_t i = s->n_messages; i > 0; i--) {
        const pd_message *m = &s->messages[i - 1];
        if (m->is_system)
            continue;
        if (last_message == SIZE_MAX)
            last_message = i - 1;
        if (strcmp(m->role, "assistant") == 0) {
            last_assistant = i - 1;
            break;
        }
    }

    /* A call of the last assistant turn without a result in any later message is still running. */
    if (last_assistant != SIZE_MAX) {
        const pd_message *m = &s->messages[last_assistant];
        for (size_t c = 0; c < m->n_tool_calls; c++) {
            const char *id = m->tool_calls[c].tool_use_id;
            bool answered = false;
            if (id == NULL)
                continue;
            for (size_t k = last_assistant + 1; k < s->n_messages && !answered; k++) {
                const pd_message *later = &s->messages[k];
                for (size_t r = 0; r < later->n_tool_results; r++) {
                    if (strcmp(later->tool_results[r].tool_use_id, id) == 0) {
                        answered = true;
                        break;
                    }
                }
            }
            if (!answered)
                return "tool_call_pending";
        }
    }
    if (last_message != SIZE_MAX && last_message == last_assistant &&
        strcmp(s->messages[last_message].stop_reason, "end_turn") == 0)
        return "awaiting_user";
    return "clean";
}

bool claude_session_is_usage_probe(const pd_session *s)
{
    bool saw_usage = false;

    for (size_t i = 0; i < s->n_messages; i++) {
        const pd_message *m = &s->messages[i];
        size_t start, len;
        if (!is_real_user_message(m))
            continue;
        pd_text_trim_span(m->content, (size_t)m->content_length, &start, &len);
        if (len != 6 || memcmp(m->content + start, "/usage", 6) != 0)
            return false;
        saw_usage = true;
    }
    return saw_usage;
}
