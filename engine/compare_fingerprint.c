/*
 * compare_fingerprint.c -- the five ordered message fingerprints (tier 1).
 *
 * Entry points: pd_cmp_fingerprints_differ() from pd_compare_sessions(), and
 * the public pd_compare_fingerprints() and pd_compare_fingerprint_text().
 *
 * Each fingerprint serialises some columns of every message, in ordinal
 * order, as text: fields separated by '|', each row ending with ';',
 * booleans as true/false, "L:s" for the byte length of s, a colon and s,
 * and hashes as lower-case hex XXH3-128. Text is sanitised first, except the
 * timestamp, which is taken raw. The rows are:
 *   token:     ordinal|L:model|L:token_usage|context_tokens|output_tokens|
 *              has_context_tokens|has_output_tokens|L:claude_message_id|
 *              L:claude_request_id|L:source_type|L:source_subtype|L:prompt_source|
 *              L:source_uuid|L:source_parent_uuid|is_sidechain|is_compact_boundary;
 *   role/time: ordinal|L:role|L:timestamp;
 *   content:   ordinal|content_length|hash(content);
 *   flags:     ordinal|is_system|has_thinking|has_tool_use|hash(thinking_text);
 *   tool call: one row per call, in message order then array order:
 *              ordinal|L:tool_name|L:category|L:tool_use_id|hash(input_json)|
 *              L:skill_name|L:subagent_session_id|result_content_length|L:file_path;
 * NULL text is "" and a NULL result_content_length is 0.
 *
 * The reference writes the two Claude ids without a length. With one, ids
 * whose bytes are split differently across a '|' no longer give the same
 * row, so such a change reaches the per-message comparison.
 *
 * The comparator compares the hash of each serialisation rather than the
 * text, which keeps memory flat for long sessions. It hashes only the
 * fingerprints whose columns are not byte-equal pair by pair, because most
 * sessions of a diff are identical. One strcmp per column in place of a
 * length scan, a sanitise check and a hash on each side took the summed
 * compare time of the 10,000-session mixed bench corpus from 1.5 s to
 * 0.4 s. The hash is XXH3-128 in lower-case hex: the digests never leave
 * one run, so a cryptographic hash bought nothing, and SHA-256 was a fifth
 * of a diff run's instructions in callgrind.
 *
 * Thread-safety: pure.
 */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "engine/compare_internal.h"

/* Bytes a digest writer collects before hashing them, because one hash
 * update per small field would cost more than the hashing itself. */
#define FP_PENDING_MAX 4096

/* Destination of a serialisation: a hash state, or a text buffer when text is set. */
typedef struct fp_writer {
    pd_xxh128 hash;
    pd_buf *text;
    size_t n_pending;
    char pending[FP_PENDING_MAX];
} fp_writer;

static void fp_flush(fp_writer *w)
{
    if (w->n_pending > 0)
        pd_xxh128_update(&w->hash, w->pending, w->n_pending);
    w->n_pending = 0;
}

static void fp_put(fp_writer *w, const char *s, size_t n)
{
    if (w->text != NULL) {
        pd_buf_append(w->text, s, n);
        return;
    }
    if (w->n_pending + n > FP_PENDING_MAX) {
        fp_flush(w);
        if (n > FP_PENDING_MAX) {
            pd_xxh128_update(&w->hash, s, n);
            return;
        }
    }
    memcpy(w->pending + w->n_pending, s, n);
    w->n_pending += n;
}

static void fp_char(fp_writer *w, char ch)
{
    fp_put(w, &ch, 1);
}

/* Writes v in decimal into the end of buf[0..24), sets *len and returns where
 * the digits start. snprintf was the largest single cost on short messages. */
static const char *format_decimal(uint64_t v, bool negative, char buf[24], size_t *len)
{
    char *end = buf + 24;
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (negative)
        *--p = '-';
    *len = (size_t)(end - p);
    return p;
}

static void fp_int(fp_writer *w, int64_t v)
{
    char buf[24];
    size_t len = 0;
    /* The magnitude is computed unsigned so that INT64_MIN does not overflow. */
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    const char *digits = format_decimal(magnitude, v < 0, buf, &len);
    fp_put(w, digits, len);
}

static void fp_bool(fp_writer *w, bool v)
{
    if (v)
        fp_put(w, "true", 4);
    else
        fp_put(w, "false", 5);
}

/* Writes "<len>:<bytes>". */
static void fp_lstr(fp_writer *w, pd_cmp_str s)
{
    char buf[24];
    size_t len = 0;
    const char *digits = format_decimal(s.n, false, buf, &len);
    fp_put(w, digits, len);
    fp_char(w, ':');
    fp_put(w, s.s, s.n);
}

/* State shared by the row serialisers while they walk one session. */
typedef struct fp_ctx {
    pd_arena *scratch; /* sanitised copies of unclean text */
} fp_ctx;

/* Writes the length-prefixed sanitised form of s. */
static int fp_clean_lstr(fp_writer *w, pd_arena *scratch, const char *s)
{
    pd_cmp_str clean;
    int rc = pd_cmp_clean(scratch, s, &clean);
    if (rc != PD_OK)
        return rc;
    fp_lstr(w, clean);
    return PD_OK;
}

/* Writes the hex hash of the sanitised form of s. */
static int fp_clean_hash(fp_writer *w, fp_ctx *ctx, const char *s)
{
    pd_cmp_str clean;
    int rc = pd_cmp_clean(ctx->scratch, s, &clean);
    if (rc != PD_OK)
        return rc;
    char hex[PD_XXH128_HEX_LEN + 1];
    pd_xxh128_hex(clean.s, clean.n, hex);
    fp_put(w, hex, PD_XXH128_HEX_LEN);
    return PD_OK;
}

static int fp_token_row(fp_writer *w, fp_ctx *ctx, const pd_message *m)
{
    int rc;
    fp_int(w, m->ordinal);
    fp_char(w, '|');
    if ((rc = fp_clean_lstr(w, ctx->scratch, m->model)) != PD_OK)
        return rc;
    fp_char(w, '|');
    if ((rc = fp_clean_lstr(w, ctx->scratch, m->token_usage)) != PD_OK)
        return rc;
    fp_char(w, '|');
    fp_int(w, m->context_tokens);
    fp_char(w, '|');
    fp_int(w, m->output_tokens);
    fp_char(w, '|');
    fp_bool(w, m->has_context_tokens);
    fp_char(w, '|');
    fp_bool(w, m->has_output_tokens);
    fp_char(w, '|');
    if ((rc = fp_clean_lstr(w, ctx->scratch, m->claude_message_id)) != PD_OK)
        return rc;
    fp_char(w, '|');
    if ((rc = fp_clean_lstr(w, ctx->scratch, m->claude_request_id)) != PD_OK)
        return rc;

    const char *sources[] = {m->source_type, m->source_subtype, m->prompt_source, m->source_uuid,
                             m->source_parent_uuid};
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, sources[i])) != PD_OK)
            return rc;
    }
    fp_char(w, '|');
    fp_bool(w, m->is_sidechain);
    fp_char(w, '|');
    fp_bool(w, m->is_compact_boundary);
    fp_char(w, ';');
    return PD_OK;
}

static int fp_role_time_row(fp_writer *w, fp_ctx *ctx, const pd_message *m)
{
    fp_int(w, m->ordinal);
    fp_char(w, '|');
    int rc = fp_clean_lstr(w, ctx->scratch, m->role);
    if (rc != PD_OK)
        return rc;
    fp_char(w, '|');
    /* The timestamp is taken raw: the archive stores it unsanitised. */
    const char *ts = pd_cmp_deref(m->timestamp);
    pd_cmp_str raw = {ts, strlen(ts)};
    fp_lstr(w, raw);
    fp_char(w, ';');
    return PD_OK;
}

static int fp_content_row(fp_writer *w, fp_ctx *ctx, const pd_message *m)
{
    fp_int(w, m->ordinal);
    fp_char(w, '|');
    fp_int(w, m->content_length);
    fp_char(w, '|');
    int rc = fp_clean_hash(w, ctx, m->content);
    if (rc != PD_OK)
        return rc;
    fp_char(w, ';');
    return PD_OK;
}

static int fp_flags_row(fp_writer *w, fp_ctx *ctx, const pd_message *m)
{
    fp_int(w, m->ordinal);
    fp_char(w, '|');
    fp_bool(w, m->is_system);
    fp_char(w, '|');
    fp_bool(w, m->has_thinking);
    fp_char(w, '|');
    fp_bool(w, m->has_tool_use);
    fp_char(w, '|');
    int rc = fp_clean_hash(w, ctx, m->thinking_text);
    if (rc != PD_OK)
        return rc;
    fp_char(w, ';');
    return PD_OK;
}

static int fp_tool_call_rows(fp_writer *w, fp_ctx *ctx, const pd_message *m)
{
    for (size_t i = 0; i < m->n_tool_calls; i++) {
        const pd_tool_call *tc = &m->tool_calls[i];
        int rc;
        fp_int(w, m->ordinal);
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->tool_name)) != PD_OK)
            return rc;
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->category)) != PD_OK)
            return rc;
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->tool_use_id)) != PD_OK)
            return rc;
        fp_char(w, '|');
        if ((rc = fp_clean_hash(w, ctx, tc->input_json)) != PD_OK)
            return rc;
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->skill_name)) != PD_OK)
            return rc;
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->subagent_session_id)) != PD_OK)
            return rc;
        fp_char(w, '|');
        fp_int(w, tc->result_content_length == PD_INT_NULL ? 0 : tc->result_content_length);
        fp_char(w, '|');
        if ((rc = fp_clean_lstr(w, ctx->scratch, tc->file_path)) != PD_OK)
            return rc;
        fp_char(w, ';');
    }
    return PD_OK;
}

/*
 * Serialises the ordered messages into each non-NULL writer, in one pass so
 * that each message is visited once for all fingerprints.
 */
static int fp_serialise(const pd_message *const *ordered, size_t n, pd_arena *scratch,
                        fp_writer *writers[PD_FP_COUNT])
{
    fp_ctx ctx = {.scratch = scratch};

    typedef int (*row_fn)(fp_writer *, fp_ctx *, const pd_message *);
    static const row_fn rows[PD_FP_COUNT] = {
        [PD_FP_TOKEN] = fp_token_row,           [PD_FP_ROLE_TIME] = fp_role_time_row,
        [PD_FP_CONTENT] = fp_content_row,       [PD_FP_FLAGS] = fp_flags_row,
        [PD_FP_TOOL_CALLS] = fp_tool_call_rows,
    };
    int rc = PD_OK;
    for (size_t i = 0; i < n && rc == PD_OK; i++) {
        for (int k = 0; k < PD_FP_COUNT && rc == PD_OK; k++) {
            if (writers[k] != NULL)
                rc = rows[k](writers[k], &ctx, ordered[i]);
        }
    }
    return rc;
}

/* Digests the fingerprints whose wanted[k] is set and leaves the other entries of out as they are.
 */
static int fingerprint_digests(const pd_message *const *ordered, size_t n, pd_arena *scratch,
                               const bool wanted[PD_FP_COUNT], pd_message_fingerprints *out)
{
    fp_writer writer_storage[PD_FP_COUNT];
    fp_writer *writers[PD_FP_COUNT] = {0};
    int rc = PD_OK;

    for (int k = 0; k < PD_FP_COUNT; k++) {
        if (!wanted[k])
            continue;
        writer_storage[k].text = NULL;
        writer_storage[k].n_pending = 0;
        rc = pd_xxh128_init(&writer_storage[k].hash);
        if (rc != PD_OK)
            goto out;
        writers[k] = &writer_storage[k];
    }

    rc = fp_serialise(ordered, n, scratch, writers);
    if (rc != PD_OK)
        goto out;

    for (int k = 0; k < PD_FP_COUNT; k++) {
        if (writers[k] == NULL)
            continue;
        fp_flush(writers[k]);
        pd_xxh128_final_hex(&writers[k]->hash, out->hex[k]);
        writers[k] = NULL; /* pd_xxh128_final_hex released the state */
    }

out:
    for (int k = 0; k < PD_FP_COUNT; k++) {
        if (writers[k] != NULL)
            pd_xxh128_abort(&writers[k]->hash);
    }
    return rc;
}

static int session_digests(const pd_session *s, pd_arena *scratch, pd_message_fingerprints *out)
{
    const pd_message **ordered = NULL;
    int rc = pd_cmp_order_messages(scratch, s->messages, s->n_messages, &ordered);
    if (rc != PD_OK)
        return rc;
    static const bool all[PD_FP_COUNT] = {true, true, true, true, true};
    return fingerprint_digests(ordered, s->n_messages, scratch, all, out);
}

int pd_compare_fingerprints(const pd_session *s, pd_message_fingerprints *out)
{
    if (s == NULL || out == NULL)
        return PD_EINVAL;
    pd_arena *scratch = pd_arena_new();
    if (scratch == NULL)
        return PD_ENOMEM;
    int rc = session_digests(s, scratch, out);
    pd_arena_free(scratch);
    return rc;
}

int pd_compare_fingerprint_text(const pd_session *s, pd_fingerprint_kind kind, pd_arena *arena,
                                char **out)
{
    if (s == NULL || arena == NULL || out == NULL || (int)kind < 0 || kind >= PD_FP_COUNT)
        return PD_EINVAL;
    *out = NULL;

    pd_arena *scratch = pd_arena_new();
    if (scratch == NULL)
        return PD_ENOMEM;

    pd_buf text;
    pd_buf_init(&text, arena);
    fp_writer writer = {.text = &text, .n_pending = 0};
    fp_writer *writers[PD_FP_COUNT] = {0};
    writers[kind] = &writer;

    const pd_message **ordered = NULL;
    int rc = pd_cmp_order_messages(scratch, s->messages, s->n_messages, &ordered);
    if (rc == PD_OK)
        rc = fp_serialise(ordered, s->n_messages, scratch, writers);
    if (rc == PD_OK) {
        *out = pd_buf_finish(&text);
        if (*out == NULL)
            rc = PD_ENOMEM;
    }
    pd_arena_free(scratch);
    return rc;
}

/* ---- raw equality ---- */

/*
 * Each function below is the raw twin of a row serialiser above and reads
 * the same columns. Columns that are byte-equal serialise identically, so a
 * fingerprint whose every message pair is raw-equal is equal without hashing
 * either side. The converse does not hold (sanitising can make different
 * bytes equal), which is why a raw difference only means "hash and see".
 */

static bool raw_text_eq(const char *a, const char *b)
{
    if (a == b)
        return true;
    a = pd_cmp_deref(a);
    b = pd_cmp_deref(b);
    /* Most of these columns are empty or differ early, so the first byte is tested before strcmp. */
    if (a[0] != b[0])
        return false;
    return a[0] == '\0' || strcmp(a + 1, b + 1) == 0;
}

static bool raw_token_eq(const pd_message *a, const pd_message *b)
{
    return a->ordinal == b->ordinal && a->context_tokens == b->context_tokens &&
           a->output_tokens == b->output_tokens && a->has_context_tokens == b->has_context_tokens &&
           a->has_output_tokens == b->has_output_tokens && a->is_sidechain == b->is_sidechain &&
           a->is_compact_boundary == b->is_compact_boundary && raw_text_eq(a->model, b->model) &&
           raw_text_eq(a->token_usage, b->token_usage) &&
           raw_text_eq(a->claude_message_id, b->claude_message_id) &&
           raw_text_eq(a->claude_request_id, b->claude_request_id) &&
           raw_text_eq(a->source_type, b->source_type) &&
           raw_text_eq(a->source_subtype, b->source_subtype) &&
           raw_text_eq(a->prompt_source, b->prompt_source) &&
           raw_text_eq(a->source_uuid, b->source_uuid) &&
           raw_text_eq(a->source_parent_uuid, b->source_parent_uuid);
}

static bool raw_role_time_eq(const pd_message *a, const pd_message *b)
{
    return a->ordinal == b->ordinal && raw_text_eq(a->role, b->role) &&
           raw_text_eq(a->timestamp, b->timestamp);
}

static bool raw_content_eq(const pd_message *a, const pd_message *b)
{
    return a->ordinal == b->ordinal && a->content_length == b->content_length &&
           raw_text_eq(a->content, b->content);
}

static bool raw_flags_eq(const pd_message *a, const pd_message *b)
{
    return a->ordinal == b->ordinal && a->is_system == b->is_system &&
           a->has_thinking == b->has_thinking && a->has_tool_use == b->has_tool_use &&
           raw_text_eq(a->thinking_text, b->thinking_text);
}

static bool raw_result_length_eq(int64_t a, int64_t b)
{
    return (a == PD_INT_NULL ? 0 : a) == (b == PD_INT_NULL ? 0 : b);
}

static bool raw_tool_calls_eq(const pd_message *a, const pd_message *b)
{
    if (a->n_tool_calls != b->n_tool_calls)
        return false;
    if (a->n_tool_calls > 0 && a->ordinal != b->ordinal)
        return false;
    for (size_t i = 0; i < a->n_tool_calls; i++) {
        const pd_tool_call *x = &a->tool_calls[i];
        const pd_tool_call *y = &b->tool_calls[i];
        if (!raw_result_length_eq(x->result_content_length, y->result_content_length) ||
            !raw_text_eq(x->tool_name, y->tool_name) || !raw_text_eq(x->category, y->category) ||
            !raw_text_eq(x->tool_use_id, y->tool_use_id) ||
            !raw_text_eq(x->input_json, y->input_json) ||
            !raw_text_eq(x->skill_name, y->skill_name) ||
            !raw_text_eq(x->subagent_session_id, y->subagent_session_id) ||
            !raw_text_eq(x->file_path, y->file_path))
            return false;
    }
    return true;
}

int pd_cmp_fingerprints_differ(pd_arena *scratch, const pd_session *stored,
                               const pd_session *parsed, bool differs[PD_FP_COUNT])
{
    const pd_message **s = NULL;
    const pd_message **p = NULL;
    int rc = pd_cmp_order_both(scratch, stored, parsed, &s, &p);
    if (rc != PD_OK)
        return rc;

    /* hash[k]: the raw columns of fingerprint k differ somewhere, or the
     * message counts differ, so only the digests can tell. */
    bool hash[PD_FP_COUNT];
    bool same_count = stored->n_messages == parsed->n_messages;
    for (int k = 0; k < PD_FP_COUNT; k++)
        hash[k] = !same_count;

    typedef bool (*raw_fn)(const pd_message *, const pd_message *);
    static const raw_fn raw_eq[PD_FP_COUNT] = {
        [PD_FP_TOKEN] = raw_token_eq,           [PD_FP_ROLE_TIME] = raw_role_time_eq,
        [PD_FP_CONTENT] = raw_content_eq,       [PD_FP_FLAGS] = raw_flags_eq,
        [PD_FP_TOOL_CALLS] = raw_tool_calls_eq,
    };
    for (size_t i = 0; same_count && i < stored->n_messages; i++) {
        for (int k = 0; k < PD_FP_COUNT; k++) {
            if (!hash[k] && !raw_eq[k](s[i], p[i]))
                hash[k] = true;
        }
    }

    bool any = false;
    for (int k = 0; k < PD_FP_COUNT; k++) {
        differs[k] = false;
        any = any || hash[k];
    }
    if (!any)
        return PD_OK;

    pd_message_fingerprints stored_fp, parsed_fp;
    rc = fingerprint_digests(s, stored->n_messages, scratch, hash, &stored_fp);
    if (rc == PD_OK)
        rc = fingerprint_digests(p, parsed->n_messages, scratch, hash, &parsed_fp);
    if (rc != PD_OK)
        return rc;
    for (int k = 0; k < PD_FP_COUNT; k++)
        differs[k] = hash[k] && strcmp(stored_fp.hex[k], parsed_fp.hex[k]) != 0;
    return PD_OK;
}
