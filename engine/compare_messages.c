/*
 * compare_messages.c -- per-message attribution (tier 2).
 *
 * Entry point: pd_cmp_attribute_messages(), called by pd_compare_sessions()
 * only when a tier-1 fingerprint differs. Messages are paired by ordinal
 * value; messages present on one side only are not attributed, because
 * message_count already reports a count change. For each field family the
 * first differing pair (lowest ordinal) is described and the differing pairs
 * are counted. The families are emitted in this order: models,
 * message_tokens, message_content, message_metadata, tool_calls. Message
 * bodies are never echoed, only their sizes.
 *
 * When a fingerprint differs but no pair accounts for it (for example the
 * set of ordinals moved while the count stayed), one fallback diff is
 * emitted so that the session is never reported identical. Its detail
 * names the messages left over on each side. When messages are left over,
 * every diff emitted here is marked unpaired, so that the classifier never
 * puts it down to an incremental append.
 *
 * Thread-safety: pure; see compare.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "engine/compare_internal.h"

typedef struct message_pair {
    const pd_message *stored;
    const pd_message *parsed;
} message_pair;

/* The first differing pair of one family and the number of differing pairs. */
typedef struct family {
    size_t count;
    int64_t first_ordinal;
    const message_pair *first;
    char *change; /* text of the first difference (scratch), when the family has one */
} family;

typedef struct tier2 {
    pd_cmp *c;
    pd_json_parser *json; /* created on the first token_usage that needs inspecting */
} tier2;

static void family_note(family *f, const message_pair *p, char *change)
{
    if (f->count == 0) {
        f->first_ordinal = p->stored->ordinal;
        f->first = p;
        f->change = change;
    }
    f->count++;
}

/* Messages of one side that have no message of the same ordinal on the other. */
typedef struct unpaired_ordinals {
    size_t stored_only, parsed_only;
    int64_t first_stored_only, first_parsed_only; /* lowest such ordinal when the count > 0 */
} unpaired_ordinals;

static void note_unpaired(size_t *count, int64_t *first, int64_t ordinal)
{
    if ((*count)++ == 0)
        *first = ordinal;
}

/*
 * Pairs the messages of equal ordinal value. *n_pairs is the size of the
 * overlap, and *left counts and locates the messages of each side left over.
 */
static int align_by_ordinal(pd_arena *scratch, const pd_session *stored, const pd_session *parsed,
                            message_pair **pairs, size_t *n_pairs, unpaired_ordinals *left)
{
    const pd_message **s = NULL;
    const pd_message **p = NULL;
    *pairs = NULL;
    *n_pairs = 0;
    *left = (unpaired_ordinals){0};

    int rc = pd_cmp_order_both(scratch, stored, parsed, &s, &p);
    if (rc != PD_OK)
        return rc;

    size_t max_pairs =
        stored->n_messages < parsed->n_messages ? stored->n_messages : parsed->n_messages;
    message_pair *out = NULL;
    if (max_pairs > 0 && (out = pd_arena_alloc(scratch, max_pairs * sizeof *out)) == NULL)
        return PD_ENOMEM;

    size_t i = 0, j = 0, n = 0;
    while (i < stored->n_messages || j < parsed->n_messages) {
        if (j == parsed->n_messages || (i < stored->n_messages && s[i]->ordinal < p[j]->ordinal)) {
            note_unpaired(&left->stored_only, &left->first_stored_only, s[i]->ordinal);
            i++;
        } else if (i == stored->n_messages || s[i]->ordinal > p[j]->ordinal) {
            note_unpaired(&left->parsed_only, &left->first_parsed_only, p[j]->ordinal);
            j++;
        } else {
            out[n].stored = s[i];
            out[n].parsed = p[j];
            n++;
            i++;
            j++;
        }
    }
    *pairs = out;
    *n_pairs = n;
    return PD_OK;
}

/* ---- message_tokens ---- */

/*
 * Infers whether m carries context and output token counts. Rows written
 * before the presence flags existed have them unset, so a non-zero value or
 * a usage payload that names the count also counts as present.
 */
static int infer_token_presence(tier2 *t, const pd_message *m, bool *has_context, bool *has_output)
{
    *has_context = m->has_context_tokens || m->context_tokens != 0;
    *has_output = m->has_output_tokens || m->output_tokens != 0;

    const char *usage = pd_cmp_deref(m->token_usage);
    size_t usage_len = strlen(usage);
    if (usage_len == 0)
        return PD_OK;

    if (t->json == NULL) {
        t->json = pd_json_parser_new();
        if (t->json == NULL)
            return PD_ENOMEM;
    }
    pd_json root;
    int rc = pd_json_parse(t->json, usage, usage_len, &root);
    if (rc == PD_ENOMEM)
        return rc;
    /* A payload that is not a JSON object names no counts. */
    if (rc != PD_OK || pd_json_type_of(root) != PD_JSON_OBJECT)
        return PD_OK;

    static const char *const context_keys[] = {"input_tokens",
                                               "cache_creation_input_tokens",
                                               "cache_read_input_tokens",
                                               "input",
                                               "cached",
                                               "context_tokens"};
    static const char *const output_keys[] = {"output_tokens", "output"};
    pd_json_iter it = pd_json_iter_begin(root);
    pd_json key, value;
    while (pd_json_iter_next(&it, &key, &value)) {
        const char *name;
        size_t name_len;
        if (!pd_json_str(key, &name, &name_len))
            continue;
        for (size_t i = 0; i < sizeof context_keys / sizeof context_keys[0]; i++) {
            if (strlen(context_keys[i]) == name_len && memcmp(context_keys[i], name, name_len) == 0)
                *has_context = true;
        }
        for (size_t i = 0; i < sizeof output_keys / sizeof output_keys[0]; i++) {
            if (strlen(output_keys[i]) == name_len && memcmp(output_keys[i], name, name_len) == 0)
                *has_output = true;
        }
    }
    return PD_OK;
}

static int tokens_differ(tier2 *t, const message_pair *p, bool *differs)
{
    const pd_message *s = p->stored;
    const pd_message *q = p->parsed;
    bool usage_equal = false;
    int rc = pd_cmp_clean_equal(t->c->scratch, s->token_usage, q->token_usage, &usage_equal);
    if (rc != PD_OK)
        return rc;
    if (!usage_equal || s->context_tokens != q->context_tokens ||
        s->output_tokens != q->output_tokens) {
        *differs = true;
        return PD_OK;
    }

    /* Equal payloads name the same counts, so only the flags and values can
     * make the inferred presence differ; skip the JSON when they agree. */
    bool s_context = s->has_context_tokens || s->context_tokens != 0;
    bool s_output = s->has_output_tokens || s->output_tokens != 0;
    bool q_context = q->has_context_tokens || q->context_tokens != 0;
    bool q_output = q->has_output_tokens || q->output_tokens != 0;
    if (s_context == q_context && s_output == q_output) {
        *differs = false;
        return PD_OK;
    }

    rc = infer_token_presence(t, s, &s_context, &s_output);
    if (rc == PD_OK)
        rc = infer_token_presence(t, q, &q_context, &q_output);
    if (rc != PD_OK)
        return rc;
    *differs = s_context != q_context || s_output != q_output;
    return PD_OK;
}

static char *render_token_state(tier2 *t, const pd_message *m)
{
    bool has_context = false, has_output = false;
    if (infer_token_presence(t, m, &has_context, &has_output) != PD_OK)
        return NULL;

    pd_buf b;
    pd_buf_init(&b, t->c->arena);
    pd_buf_puts(&b, "context=");
    if (has_context)
        pd_buf_printf(&b, "%" PRId64, m->context_tokens);
    else
        pd_buf_puts(&b, "absent");
    pd_buf_puts(&b, " output=");
    if (has_output)
        pd_buf_printf(&b, "%" PRId64, m->output_tokens);
    else
        pd_buf_puts(&b, "absent");
    pd_buf_printf(&b, " usage_bytes=%zu", strlen(pd_cmp_deref(m->token_usage)));
    return pd_buf_finish(&b);
}

/* ---- message_content ---- */

static int content_differs(pd_arena *scratch, const message_pair *p, char **change)
{
    *change = NULL;
    const pd_message *s = p->stored;
    const pd_message *q = p->parsed;
    if (s->content_length != q->content_length) {
        *change = pd_arena_sprintf(scratch, "%" PRId64 " -> %" PRId64 " bytes", s->content_length,
                                   q->content_length);
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }
    bool equal = false;
    int rc = pd_cmp_clean_equal(scratch, s->content, q->content, &equal);
    if (rc != PD_OK || equal)
        return rc;
    /* An archive edited by hand can contain text of another length than
     * its column records. The column counts the text after the sanitising rule. */
    pd_cmp_str stored = {0};
    rc = pd_cmp_clean(scratch, s->content, &stored);
    if (rc != PD_OK)
        return rc;
    if ((int64_t)stored.n != s->content_length)
        *change = pd_arena_sprintf(scratch,
                                   "body differs; the stored text is %zu bytes where its "
                                   "content_length says %" PRId64
                                   ", and the parsed text is %" PRId64 " bytes",
                                   stored.n, s->content_length, q->content_length);
    else
        *change = pd_arena_sprintf(scratch, "body differs at equal length (%" PRId64 " bytes)",
                                   s->content_length);
    return *change != NULL ? PD_OK : PD_ENOMEM;
}

/* ---- message_metadata and tool_calls ---- */

/* Sets *change to `<column> "<a>" -> "<b>"` with Go-style quoting of the raw values. */
static int quoted_change(pd_arena *scratch, const char *column, const char *a, const char *b,
                         char **change)
{
    pd_buf buf;
    pd_buf_init(&buf, scratch);
    pd_buf_puts(&buf, column);
    pd_buf_putc(&buf, ' ');
    pd_cmp_buf_quote(&buf, a);
    pd_buf_puts(&buf, " -> ");
    pd_cmp_buf_quote(&buf, b);
    *change = pd_buf_finish(&buf);
    return *change != NULL ? PD_OK : PD_ENOMEM;
}

static int bool_change(pd_arena *scratch, const char *column, bool a, bool b, char **change)
{
    *change = pd_arena_sprintf(scratch, "%s %s -> %s", column, a ? "true" : "false",
                               b ? "true" : "false");
    return *change != NULL ? PD_OK : PD_ENOMEM;
}

/* Sets *change to the first differing metadata column of the pair, or NULL. */
static int metadata_differs(pd_arena *scratch, const message_pair *p, char **change)
{
    *change = NULL;
    const pd_message *s = p->stored;
    const pd_message *q = p->parsed;
    bool equal = false;

    int rc = pd_cmp_clean_equal(scratch, s->role, q->role, &equal);
    if (rc != PD_OK)
        return rc;
    if (!equal)
        return quoted_change(scratch, "role", s->role, q->role, change);

    /* Timestamps are stored raw, so they are compared raw. */
    if (strcmp(pd_cmp_deref(s->timestamp), pd_cmp_deref(q->timestamp)) != 0)
        return quoted_change(scratch, "timestamp", s->timestamp, q->timestamp, change);

    if (s->is_sidechain != q->is_sidechain)
        return bool_change(scratch, "is_sidechain", s->is_sidechain, q->is_sidechain, change);
    if (s->is_compact_boundary != q->is_compact_boundary)
        return bool_change(scratch, "is_compact_boundary", s->is_compact_boundary,
                           q->is_compact_boundary, change);
    if (s->is_system != q->is_system)
        return bool_change(scratch, "is_system", s->is_system, q->is_system, change);
    if (s->has_thinking != q->has_thinking)
        return bool_change(scratch, "has_thinking", s->has_thinking, q->has_thinking, change);
    if (s->has_tool_use != q->has_tool_use)
        return bool_change(scratch, "has_tool_use", s->has_tool_use, q->has_tool_use, change);

    struct text_column {
        const char *name;
        const char *stored;
        const char *parsed;
    } columns[] = {
        {"thinking_text", s->thinking_text, q->thinking_text},
        {"source_type", s->source_type, q->source_type},
        {"source_subtype", s->source_subtype, q->source_subtype},
        {"prompt_source", s->prompt_source, q->prompt_source},
        {"source_uuid", s->source_uuid, q->source_uuid},
        {"source_parent_uuid", s->source_parent_uuid, q->source_parent_uuid},
        {"claude_message_id", s->claude_message_id, q->claude_message_id},
        {"claude_request_id", s->claude_request_id, q->claude_request_id},
    };
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        rc = pd_cmp_clean_equal(scratch, columns[i].stored, columns[i].parsed, &equal);
        if (rc != PD_OK)
            return rc;
        if (!equal) {
            *change = pd_arena_sprintf(scratch, "%s differs", columns[i].name);
            return *change != NULL ? PD_OK : PD_ENOMEM;
        }
    }
    return PD_OK;
}

/* Sets *change to the first differing parser-owned column of one tool call, or NULL. */
static int tool_call_differs(pd_arena *scratch, const pd_tool_call *s, const pd_tool_call *q,
                             char **change)
{
    *change = NULL;
    bool equal = false;
    int rc;

    if ((rc = pd_cmp_clean_equal(scratch, s->tool_name, q->tool_name, &equal)) != PD_OK)
        return rc;
    if (!equal)
        return quoted_change(scratch, "tool_name", s->tool_name, q->tool_name, change);

    if ((rc = pd_cmp_clean_equal(scratch, s->category, q->category, &equal)) != PD_OK)
        return rc;
    if (!equal)
        return quoted_change(scratch, "category", s->category, q->category, change);

    if ((rc = pd_cmp_clean_equal(scratch, s->tool_use_id, q->tool_use_id, &equal)) != PD_OK)
        return rc;
    if (!equal) {
        *change = pd_arena_strdup(scratch, "tool_use_id differs");
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }

    if ((rc = pd_cmp_clean_equal(scratch, s->input_json, q->input_json, &equal)) != PD_OK)
        return rc;
    if (!equal) {
        *change = pd_arena_strdup(scratch, "input_json differs");
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }

    if ((rc = pd_cmp_clean_equal(scratch, s->skill_name, q->skill_name, &equal)) != PD_OK)
        return rc;
    if (!equal)
        return quoted_change(scratch, "skill_name", s->skill_name, q->skill_name, change);

    rc = pd_cmp_clean_equal(scratch, s->subagent_session_id, q->subagent_session_id, &equal);
    if (rc != PD_OK)
        return rc;
    if (!equal) {
        *change = pd_arena_strdup(scratch, "subagent_session_id differs");
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }

    int64_t s_len = s->result_content_length == PD_INT_NULL ? 0 : s->result_content_length;
    int64_t q_len = q->result_content_length == PD_INT_NULL ? 0 : q->result_content_length;
    if (s_len != q_len) {
        *change = pd_arena_sprintf(scratch, "result_content_length %" PRId64 " -> %" PRId64, s_len,
                                   q_len);
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }

    if ((rc = pd_cmp_clean_equal(scratch, s->file_path, q->file_path, &equal)) != PD_OK)
        return rc;
    if (!equal)
        return quoted_change(scratch, "file_path", s->file_path, q->file_path, change);
    return PD_OK;
}

/* Tool calls are compared by position inside their message, which is the
 * order both the archive and the parser keep them in. */
static int tool_calls_differ(pd_arena *scratch, const message_pair *p, char **change)
{
    *change = NULL;
    const pd_message *s = p->stored;
    const pd_message *q = p->parsed;
    if (s->n_tool_calls != q->n_tool_calls) {
        *change = pd_arena_sprintf(scratch, "tool_call count %zu -> %zu", s->n_tool_calls,
                                   q->n_tool_calls);
        return *change != NULL ? PD_OK : PD_ENOMEM;
    }
    for (size_t i = 0; i < s->n_tool_calls; i++) {
        int rc = tool_call_differs(scratch, &s->tool_calls[i], &q->tool_calls[i], change);
        if (rc != PD_OK || *change != NULL)
            return rc;
    }
    return PD_OK;
}

/* ---- models ---- */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Renders the sorted distinct sanitised models of one side of the pairs,
 * with an empty model shown as "(none)". */
static char *render_model_set(pd_cmp *c, const message_pair *pairs, size_t n_pairs,
                              bool stored_side)
{
    const char **models = pd_arena_alloc(c->scratch, n_pairs * sizeof *models);
    if (models == NULL)
        return NULL;
    for (size_t i = 0; i < n_pairs; i++) {
        const pd_message *m = stored_side ? pairs[i].stored : pairs[i].parsed;
        pd_cmp_str clean;
        if (pd_cmp_clean(c->scratch, m->model, &clean) != PD_OK)
            return NULL;
        models[i] = clean.n == 0 ? "(none)" : clean.s;
    }
    qsort(models, n_pairs, sizeof *models, compare_strings);

    pd_buf b;
    pd_buf_init(&b, c->arena);
    for (size_t i = 0; i < n_pairs; i++) {
        if (i > 0 && strcmp(models[i], models[i - 1]) == 0)
            continue;
        if (i > 0)
            pd_buf_puts(&b, ", ");
        pd_buf_puts(&b, models[i]);
    }
    return pd_buf_finish(&b);
}

static const char *null_if_empty(const char *s)
{
    return s[0] == '\0' ? "(null)" : s;
}

/* ---- emission ---- */

static int emit_see_detail(pd_cmp *c, const char *field, const family *f, size_t n_pairs)
{
    pd_field_diff d = {
        .field = field,
        .stored = pd_arena_strdup(c->arena, "see detail"),
        .parsed = pd_arena_strdup(c->arena, "see detail"),
        .detail =
            pd_arena_sprintf(c->arena, "%zu/%zu messages differ; first at ordinal %" PRId64 ": %s",
                             f->count, n_pairs, f->first_ordinal, f->change),
    };
    if (d.detail == NULL)
        return PD_ENOMEM;
    return pd_cmp_push(c, d);
}

static int emit_families(tier2 *t, const message_pair *pairs, size_t n_pairs, const family *models,
                         const family *tokens, const family *content, const family *metadata,
                         const family *tools)
{
    pd_cmp *c = t->c;
    int rc;

    if (models->count > 0) {
        pd_cmp_str stored_model, parsed_model;
        rc = pd_cmp_clean(c->scratch, models->first->stored->model, &stored_model);
        if (rc == PD_OK)
            rc = pd_cmp_clean(c->scratch, models->first->parsed->model, &parsed_model);
        if (rc != PD_OK)
            return rc;
        pd_field_diff d = {
            .field = PD_FIELD_MODELS,
            .stored = render_model_set(c, pairs, n_pairs, true),
            .parsed = render_model_set(c, pairs, n_pairs, false),
            .detail = pd_arena_sprintf(
                c->arena, "%zu/%zu messages differ; first at ordinal %" PRId64 ": %s -> %s",
                models->count, n_pairs, models->first_ordinal, null_if_empty(stored_model.s),
                null_if_empty(parsed_model.s)),
        };
        if (d.detail == NULL)
            return PD_ENOMEM;
        if ((rc = pd_cmp_push(c, d)) != PD_OK)
            return rc;
    }

    if (tokens->count > 0) {
        pd_field_diff d = {
            .field = PD_FIELD_MESSAGE_TOKENS,
            .stored = render_token_state(t, tokens->first->stored),
            .parsed = render_token_state(t, tokens->first->parsed),
        };
        /* Equal summaries mean the usage JSON differs at the same length, and the detail notes it.
         */
        bool same_summary = d.stored != NULL && d.parsed != NULL && strcmp(d.stored, d.parsed) == 0;
        d.detail =
            pd_arena_sprintf(c->arena, "%zu/%zu messages differ; first at ordinal %" PRId64 "%s",
                             tokens->count, n_pairs, tokens->first_ordinal,
                             same_summary ? " (usage JSON differs at equal length)" : "");
        if (d.detail == NULL)
            return PD_ENOMEM;
        if ((rc = pd_cmp_push(c, d)) != PD_OK)
            return rc;
    }

    if (content->count > 0 &&
        (rc = emit_see_detail(c, PD_FIELD_MESSAGE_CONTENT, content, n_pairs)) != PD_OK)
        return rc;
    if (metadata->count > 0 &&
        (rc = emit_see_detail(c, PD_FIELD_MESSAGE_METADATA, metadata, n_pairs)) != PD_OK)
        return rc;
    if (tools->count > 0 && (rc = emit_see_detail(c, PD_FIELD_TOOL_CALLS, tools, n_pairs)) != PD_OK)
        return rc;
    return PD_OK;
}

/*
 * Describes the messages left over on each side, as the cause of a
 * fingerprint difference that no pair accounts for. Returns NULL when
 * out of memory.
 */
static char *unpaired_cause(pd_arena *a, const unpaired_ordinals *left)
{
    if (left->stored_only == 0 && left->parsed_only == 0)
        return pd_arena_strdup(a, "every message pairs up by ordinal, and the fingerprint reads "
                                  "a column the per-message comparison finds equal, such as a "
                                  "token presence flag");
    char stored_part[128] = "", parsed_part[128] = "";
    if (left->stored_only > 0)
        snprintf(stored_part, sizeof stored_part,
                 "%zu stored message%s no parsed message of the same ordinal, %s %" PRId64,
                 left->stored_only, left->stored_only == 1 ? " has" : "s have",
                 left->stored_only == 1 ? "at ordinal" : "the first at ordinal",
                 left->first_stored_only);
    if (left->parsed_only > 0)
        snprintf(parsed_part, sizeof parsed_part, "%zu parsed message%s no stored one, %s %" PRId64,
                 left->parsed_only, left->parsed_only == 1 ? " has" : "s have",
                 left->parsed_only == 1 ? "at ordinal" : "the first at ordinal",
                 left->first_parsed_only);
    return pd_arena_sprintf(a, "%s%s%s", stored_part,
                            left->stored_only > 0 && left->parsed_only > 0 ? "; " : "",
                            parsed_part);
}

/*
 * Emits the single diff that stands for a differing fingerprint no pair
 * accounts for. Token, role/time and flags changes take precedence, then
 * content, which is also filed under message_metadata, then tool calls.
 */
static int emit_fallback(pd_cmp *c, const bool differs[PD_FP_COUNT], const unpaired_ordinals *left)
{
    const char *field = PD_FIELD_MESSAGE_METADATA;
    const char *fingerprint_name = NULL;
    if (differs[PD_FP_TOKEN] || differs[PD_FP_ROLE_TIME] || differs[PD_FP_FLAGS]) {
        fingerprint_name = "token/metadata";
    } else if (differs[PD_FP_CONTENT]) {
        fingerprint_name = "content";
    } else if (differs[PD_FP_TOOL_CALLS]) {
        field = PD_FIELD_TOOL_CALLS;
        fingerprint_name = "tool-call";
    }
    if (fingerprint_name == NULL)
        return PD_OK;

    char *cause = unpaired_cause(c->scratch, left);
    if (cause == NULL)
        return PD_ENOMEM;
    pd_field_diff d = {
        .field = field,
        .stored = pd_arena_strdup(c->arena, "fingerprint"),
        .parsed = pd_arena_strdup(c->arena, "fingerprint"),
        .detail = pd_arena_sprintf(c->arena,
                                   "the per-message %s fingerprint differs, but no field of "
                                   "the messages paired by ordinal explains it: %s",
                                   fingerprint_name, cause),
    };
    if (d.detail == NULL)
        return PD_ENOMEM;
    return pd_cmp_push(c, d);
}

int pd_cmp_attribute_messages(pd_cmp *c, const pd_session *stored, const pd_session *parsed,
                              const bool differs[PD_FP_COUNT])
{
    tier2 t = {.c = c, .json = NULL};
    message_pair *pairs = NULL;
    size_t n_pairs = 0;
    family models = {0}, tokens = {0}, content = {0}, metadata = {0}, tools = {0};

    unpaired_ordinals left;
    size_t first_diff = c->out->n;

    int rc = align_by_ordinal(c->scratch, stored, parsed, &pairs, &n_pairs, &left);
    if (rc != PD_OK)
        goto out;

    for (size_t i = 0; i < n_pairs; i++) {
        const message_pair *p = &pairs[i];
        bool equal = false;
        char *change = NULL;

        rc = pd_cmp_clean_equal(c->scratch, p->stored->model, p->parsed->model, &equal);
        if (rc != PD_OK)
            goto out;
        if (!equal)
            family_note(&models, p, NULL);

        bool token_change = false;
        if ((rc = tokens_differ(&t, p, &token_change)) != PD_OK)
            goto out;
        if (token_change)
            family_note(&tokens, p, NULL);

        if ((rc = content_differs(c->scratch, p, &change)) != PD_OK)
            goto out;
        if (change != NULL)
            family_note(&content, p, change);

        if ((rc = metadata_differs(c->scratch, p, &change)) != PD_OK)
            goto out;
        if (change != NULL)
            family_note(&metadata, p, change);

        if ((rc = tool_calls_differ(c->scratch, p, &change)) != PD_OK)
            goto out;
        if (change != NULL)
            family_note(&tools, p, change);
    }

    if (models.count + tokens.count + content.count + metadata.count + tools.count > 0)
        rc = emit_families(&t, pairs, n_pairs, &models, &tokens, &content, &metadata, &tools);
    else
        rc = emit_fallback(c, differs, &left);
    if (left.stored_only > 0 || left.parsed_only > 0) {
        for (size_t i = first_diff; i < c->out->n; i++)
            c->out->items[i].unpaired = true;
    }

out:
    if (t.json != NULL)
        pd_json_parser_free(t.json);
    return rc;
}
