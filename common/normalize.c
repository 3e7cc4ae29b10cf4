/*
 * normalize.c -- the write path's rules, applied to one parsed session.
 *
 * Entry point: pd_session_normalize(), called by sync before a write and by
 * diff before comparing, once per parsed session (incremental deltas
 * included). The steps run in the order normalize.h lists: pairing, row
 * dropping, sanitising, derived fields. Counters that describe the parse
 * (next_ordinal, last_entry_uuid) are taken before rows are dropped.
 *
 * Threading: touches only its arguments; temporary indexes use malloc and
 * are freed before returning.
 */
#include "common/normalize.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "common/timefmt.h"

const char *const pd_default_blocked_categories[] = {"Read", "Glob"};
const size_t pd_n_default_blocked_categories =
    sizeof pd_default_blocked_categories / sizeof pd_default_blocked_categories[0];

/* Longest stored model name, in bytes. */
#define MODEL_MAX_BYTES 128
/* Per-message token counts are clamped to [0, TOKENS_MAX]. */
#define TOKENS_MAX 2000000

typedef struct normalize_ctx {
    pd_session *s;
    pd_arena *arena;
    const char *const *blocked;
    size_t n_blocked;
} normalize_ctx;

/* True when s is empty or Unicode whitespace only. Its first byte often decides, without strlen. */
static bool is_blank_string(const char *s)
{
    unsigned char c = (unsigned char)s[0];

    if (c > ' ' && c < 0x80)
        return false;
    return pd_text_is_blank(s, strlen(s));
}

static bool is_blocked(const normalize_ctx *ctx, const char *category)
{
    if (category == NULL)
        return false;
    for (size_t i = 0; i < ctx->n_blocked; i++)
        if (ctx->blocked[i] != NULL && strcmp(category, ctx->blocked[i]) == 0)
            return true;
    return false;
}

static bool is_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* ---- step 1: pairing ---------------------------------------------------- */

/* A call reachable by tool_use_id; seq orders calls that share an id. */
typedef struct call_entry {
    const char *tool_use_id;
    size_t seq;
    pd_tool_call *call;
} call_entry;

static int compare_entries(const void *pa, const void *pb)
{
    const call_entry *a = pa, *b = pb;
    int c = strcmp(a->tool_use_id, b->tool_use_id);
    if (c != 0)
        return c;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int compare_entry_key(const void *key, const void *entry)
{
    return strcmp(key, ((const call_entry *)entry)->tool_use_id);
}

/*
 * The call a result belongs to: among calls sharing the id, the one that
 * comes last in message order wins.
 */
static pd_tool_call *find_call(call_entry *entries, size_t n, const char *tool_use_id)
{
    if (is_empty(tool_use_id) || n == 0)
        return NULL;
    call_entry *hit = bsearch(tool_use_id, entries, n, sizeof *entries, compare_entry_key);
    if (hit == NULL)
        return NULL;
    while ((size_t)(hit - entries) + 1 < n && strcmp(hit[1].tool_use_id, tool_use_id) == 0)
        hit++;
    return hit->call;
}

/*
 * Result-event summary: the latest non-blank content of each agent (agents
 * in first-seen order) plus the latest non-blank agent-less content.
 *   one agent:      "<content>" [+ "\n\n<agent-less>"]
 *   no agent:       "<agent-less>"
 *   several agents: "<agent>:\n<content>" blocks joined by "\n\n"
 *                   [+ "\n\n<agent-less>"]
 */
static char *summarize_events(pd_arena *arena, const pd_tool_result_event *events, size_t n)
{
    typedef struct agent_latest {
        const char *agent;
        size_t agent_len;
        const char *content;
    } agent_latest;

    agent_latest *agents = malloc((n > 0 ? n : 1) * sizeof *agents);
    if (agents == NULL)
        return NULL;
    size_t n_agents = 0;
    const char *anonymous = NULL;

    for (size_t i = 0; i < n; i++) {
        const char *content = events[i].content != NULL ? events[i].content : "";
        if (is_blank_string(content))
            continue;
        const char *id = events[i].agent_id != NULL ? events[i].agent_id : "";
        size_t start, len;
        pd_text_trim_span(id, strlen(id), &start, &len);
        if (len == 0) {
            anonymous = content;
            continue;
        }
        size_t k = 0;
        while (k < n_agents &&
               !(agents[k].agent_len == len && memcmp(agents[k].agent, id + start, len) == 0))
            k++;
        if (k == n_agents) {
            agents[k].agent = id + start;
            agents[k].agent_len = len;
            n_agents++;
        }
        agents[k].content = content;
    }

    pd_buf out;
    pd_buf_init(&out, arena);
    if (n_agents == 1) {
        pd_buf_puts(&out, agents[0].content);
    } else {
        for (size_t k = 0; k < n_agents; k++) {
            if (k > 0)
                pd_buf_puts(&out, "\n\n");
            pd_buf_append(&out, agents[k].agent, agents[k].agent_len);
            pd_buf_puts(&out, ":\n");
            pd_buf_puts(&out, agents[k].content);
        }
    }
    if (anonymous != NULL) {
        if (n_agents > 0)
            pd_buf_puts(&out, "\n\n");
        pd_buf_puts(&out, anonymous);
    }
    free(agents);
    return pd_buf_finish(&out);
}

/*
 * Fills the result columns of calls: first from the results any message
 * carries, then, for calls with result events, from the events' summary.
 * Results that match no call are collected in s->unlinked_results.
 */
static int pair_results(normalize_ctx *ctx)
{
    pd_session *s = ctx->s;
    size_t n_calls = 0, n_results = 0;

    for (size_t i = 0; i < s->n_messages; i++) {
        n_calls += s->messages[i].n_tool_calls;
        n_results += s->messages[i].n_tool_results;
    }

    call_entry *entries = malloc((n_calls > 0 ? n_calls : 1) * sizeof *entries);
    if (entries == NULL)
        return PD_ENOMEM;
    size_t n_entries = 0;
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            if (is_empty(m->tool_calls[j].tool_use_id))
                continue;
            entries[n_entries].tool_use_id = m->tool_calls[j].tool_use_id;
            entries[n_entries].seq = n_entries;
            entries[n_entries].call = &m->tool_calls[j];
            n_entries++;
        }
    }
    qsort(entries, n_entries, sizeof *entries, compare_entries);

    s->unlinked_results = NULL;
    s->n_unlinked_results = 0;
    if (n_results > 0) {
        s->unlinked_results = pd_arena_calloc(ctx->arena, n_results, sizeof *s->unlinked_results);
        if (s->unlinked_results == NULL) {
            free(entries);
            return PD_ENOMEM;
        }
    }

    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        for (size_t j = 0; j < m->n_tool_results; j++) {
            pd_tool_result *r = &m->tool_results[j];
            pd_tool_call *call = find_call(entries, n_entries, r->tool_use_id);
            if (call == NULL) {
                s->unlinked_results[s->n_unlinked_results++] = *r;
                continue;
            }
            call->result_content_length = r->content_length;
            call->result_content = is_blocked(ctx, call->category) ? NULL : r->content;
        }
    }
    free(entries);

    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            pd_tool_call *call = &m->tool_calls[j];
            if (call->n_events > 0) {
                char *summary = summarize_events(ctx->arena, call->events, call->n_events);
                if (summary == NULL)
                    return PD_ENOMEM;
                call->result_content_length = (int64_t)strlen(summary);
                call->result_content = summary;
                /* Blocked calls keep every length but no content, events included. */
                if (is_blocked(ctx, call->category)) {
                    for (size_t k = 0; k < call->n_events; k++)
                        call->events[k].content = "";
                }
            }
            if (is_blocked(ctx, call->category))
                call->result_content = NULL;
        }
    }
    return PD_OK;
}

/* ---- step 2: dropping carrier rows -------------------------------------- */

/* A user row that only carried tool results: blank content, at least one result. */
static bool is_result_carrier(const pd_message *m)
{
    if (m->n_tool_results == 0 || m->role == NULL || strcmp(m->role, "user") != 0)
        return false;
    return is_blank_string(m->content != NULL ? m->content : "");
}

/* Removes carrier rows in place; the kept rows keep their ordinals, so gaps remain. */
static void drop_carrier_rows(pd_session *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_messages; i++) {
        if (is_result_carrier(&s->messages[i]))
            continue;
        if (kept != i)
            s->messages[kept] = s->messages[i];
        kept++;
    }
    s->n_messages = kept;
}

/* ---- step 3: sanitising ------------------------------------------------- */

/* Reads a leading "YYYY-" year, for timestamps beyond the range pd_time_parse covers. */
static bool leading_year(const char *s, int *year)
{
    for (int i = 0; i < 4; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (s[4] != '-')
        return false;
    *year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    return true;
}

/* NULL for a timestamp whose year lies outside PD_YEAR_MIN..PD_YEAR_MAX; ts otherwise. */
static char *plausible_timestamp(char *ts)
{
    if (ts == NULL || ts[0] == '\0')
        return ts;
    pd_time_ns t;
    int year;
    if (pd_time_parse(ts, strlen(ts), &t))
        year = pd_time_year(t);
    else if (!leading_year(ts, &year))
        return ts; /* not a timestamp this rule can judge */
    if (year < PD_YEAR_MIN || year > PD_YEAR_MAX)
        return NULL;
    return ts;
}

bool pd_timestamp_blanked(const char *ts)
{
    return ts != NULL && ts[0] != '\0' && plausible_timestamp((char *)ts) == NULL;
}

static int64_t clamp_tokens(int64_t v)
{
    if (v < 0)
        return 0;
    if (v > TOKENS_MAX)
        return TOKENS_MAX;
    return v;
}

/* Cuts model to MODEL_MAX_BYTES without splitting a UTF-8 sequence. */
static int cut_model(pd_arena *arena, pd_message *m)
{
    if (m->model == NULL)
        return PD_OK;
    size_t n = strlen(m->model);
    if (n <= MODEL_MAX_BYTES)
        return PD_OK;
    size_t cut = MODEL_MAX_BYTES;
    while (cut > 0 && ((unsigned char)m->model[cut] & 0xC0) == 0x80)
        cut--;
    char *copy = pd_arena_strndup(arena, m->model, cut);
    if (copy == NULL)
        return PD_ENOMEM;
    m->model = copy;
    return PD_OK;
}

static int sanitize_rows(normalize_ctx *ctx)
{
    pd_session *s = ctx->s;

    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        int rc = cut_model(ctx->arena, m);
        if (rc != PD_OK)
            return rc;
        m->context_tokens = clamp_tokens(m->context_tokens);
        m->output_tokens = clamp_tokens(m->output_tokens);
        m->timestamp = plausible_timestamp(m->timestamp);
    }
    s->started_at = plausible_timestamp(s->started_at);
    s->ended_at = plausible_timestamp(s->ended_at);
    if (s->parent_session_id != NULL && s->id != NULL && strcmp(s->parent_session_id, s->id) == 0)
        s->parent_session_id = NULL;
    return PD_OK;
}

/* ---- step 4: derived fields --------------------------------------------- */

static void derive_session_fields(pd_session *s)
{
    int64_t users = 0, total_output = 0, peak_context = 0;
    bool any_output = false, any_context = false;

    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        if (m->role != NULL && strcmp(m->role, "user") == 0 && !m->is_system)
            users++;
        if (m->has_output_tokens) {
            any_output = true;
            total_output += m->output_tokens;
        }
        if (m->has_context_tokens) {
            any_context = true;
            if (m->context_tokens > peak_context)
                peak_context = m->context_tokens;
        }
        for (size_t j = 0; j < m->n_tool_calls; j++)
            m->tool_calls[j].call_index = (int64_t)j;
    }
    s->message_count = (int64_t)s->n_messages;
    s->user_message_count = users;
    s->total_output_tokens = total_output;
    s->peak_context_tokens = peak_context;
    s->has_total_output_tokens = s->has_total_output_tokens || any_output;
    s->has_peak_context_tokens = s->has_peak_context_tokens || any_context;
}

/*
 * NOTE: not idempotent. A second call on the same session no longer has the
 * dropped carrier rows, so next_ordinal, last_entry_uuid and
 * unlinked_results would describe only the kept rows. Call it once per parse.
 */
int pd_session_normalize(pd_session *s, const pd_normalize_opts *opts, pd_arena *a)
{
    normalize_ctx ctx = {
        .s = s,
        .arena = a,
        .blocked = pd_default_blocked_categories,
        .n_blocked = pd_n_default_blocked_categories,
    };
    if (opts != NULL && opts->blocked_categories != NULL) {
        ctx.blocked = opts->blocked_categories;
        ctx.n_blocked = opts->n_blocked_categories;
    }

    int rc = pair_results(&ctx);
    if (rc != PD_OK)
        return rc;

    /* Counters of the parse, taken while every parsed row is still present. */
    s->next_ordinal = s->n_messages > 0 ? s->messages[s->n_messages - 1].ordinal + 1 : 0;
    s->last_entry_uuid = NULL;
    for (size_t i = s->n_messages; i > 0; i--) {
        if (!is_empty(s->messages[i - 1].source_uuid)) {
            s->last_entry_uuid = s->messages[i - 1].source_uuid;
            break;
        }
    }

    drop_carrier_rows(s);
    rc = sanitize_rows(&ctx);
    if (rc != PD_OK)
        return rc;
    derive_session_fields(s);
    return PD_OK;
}
