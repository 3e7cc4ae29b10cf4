/*
 * compare_session.c -- diffs of the session-row columns.
 *
 * Entry point: pd_cmp_session_fields(), called first by
 * pd_compare_sessions(). Emits, in this order: message_count,
 * user_message_count, first_message, session_name, started_at, ended_at,
 * total_output_tokens, peak_context_tokens, termination_status, then the
 * parser-owned metadata agent_label ... parent_session_id,
 * parser_malformed_lines and is_truncated.
 *
 * Text is compared after the archive's sanitising rule, with NULL and ""
 * equal, because the write path stores either for an empty value.
 *
 * Thread-safety: pure; see compare.c.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "engine/compare_internal.h"
#include "engine/engine_internal.h"

static int compare_count(pd_cmp *c, const char *field, int64_t stored, int64_t parsed)
{
    if (stored == parsed)
        return PD_OK;
    pd_field_diff d = {
        .field = field,
        .stored = pd_arena_sprintf(c->arena, "%" PRId64, stored),
        .parsed = pd_arena_sprintf(c->arena, "%" PRId64, parsed),
    };
    return pd_cmp_push(c, d);
}

/* Renders one side of a text column: "(null)" only for a NULL pointer, because
 * a present empty string is a different stored state even though it compares
 * equal to NULL. */
static char *render_text(pd_arena *arena, const char *raw, pd_cmp_str clean)
{
    if (raw == NULL)
        return pd_arena_strdup(arena, "(null)");
    return pd_cmp_truncate(arena, clean);
}

/*
 * Compares a nullable text column. A side longer than the rendering limit is
 * named in the detail with its full rune count. When mark_incremental is set
 * the diff is marked as incremental-append history.
 */
static int compare_text(pd_cmp *c, const char *field, const char *stored, const char *parsed,
                        bool mark_incremental)
{
    pd_cmp_str cs, cp;
    int rc = pd_cmp_clean(c->scratch, stored, &cs);
    if (rc == PD_OK)
        rc = pd_cmp_clean(c->scratch, parsed, &cp);
    if (rc != PD_OK)
        return rc;
    if (pd_cmp_str_equal(cs, cp))
        return PD_OK;

    pd_field_diff d = {
        .field = field,
        .stored = render_text(c->arena, stored, cs),
        .parsed = render_text(c->arena, parsed, cp),
    };

    size_t stored_runes = pd_utf8_rune_count(cs.s, cs.n);
    size_t parsed_runes = pd_utf8_rune_count(cp.s, cp.n);
    bool stored_long = stored_runes > PD_CMP_MAX_RENDERED_RUNES;
    bool parsed_long = parsed_runes > PD_CMP_MAX_RENDERED_RUNES;
    if (stored_long || parsed_long) {
        pd_buf notes;
        pd_buf_init(&notes, c->arena);
        if (stored_long)
            pd_buf_printf(&notes, "stored %zu characters", stored_runes);
        if (stored_long && parsed_long)
            pd_buf_puts(&notes, "; ");
        if (parsed_long)
            pd_buf_printf(&notes, "parsed %zu characters", parsed_runes);
        d.detail = pd_buf_finish(&notes);
        if (d.detail == NULL)
            return PD_ENOMEM;
    }

    if (mark_incremental) {
        rc = pd_cmp_mark_incremental(c, &d);
        if (rc != PD_OK)
            return rc;
    }
    return pd_cmp_push(c, d);
}

static char *render_token_aggregate(pd_arena *arena, bool has, int64_t value)
{
    if (!has)
        return pd_arena_strdup(arena, "absent");
    return pd_arena_sprintf(arena, "%" PRId64, value);
}

/* A token aggregate is a (has, value) pair: the value only matters when both
 * sides have one, and a presence flip is a difference on its own. */
static int compare_token_aggregate(pd_cmp *c, const char *field, bool stored_has,
                                   int64_t stored_value, bool parsed_has, int64_t parsed_value)
{
    bool differs = stored_has != parsed_has || (stored_has && stored_value != parsed_value);
    if (!differs)
        return PD_OK;
    pd_field_diff d = {
        .field = field,
        .stored = render_token_aggregate(c->arena, stored_has, stored_value),
        .parsed = render_token_aggregate(c->arena, parsed_has, parsed_value),
    };
    return pd_cmp_push(c, d);
}

static char *render_scalar(pd_arena *arena, const char *value)
{
    if (value[0] == '\0')
        return pd_arena_strdup(arena, "(null)");
    return pd_arena_strdup(arena, value);
}

/*
 * termination_status is compared raw, neither sanitised nor truncated. The
 * incremental write path clears it to NULL, so for those agents a stored
 * empty value gaining a status is pipeline history. Every other change
 * (including a full-replace agent gaining a status) is drift.
 */
static int compare_termination(pd_cmp *c, const char *stored_raw, const char *parsed_raw)
{
    const char *stored = pd_cmp_deref(stored_raw);
    const char *parsed = pd_cmp_deref(parsed_raw);
    if (strcmp(stored, parsed) == 0)
        return PD_OK;

    pd_field_diff d = {
        .field = PD_FIELD_TERMINATION_STATUS,
        .stored = render_scalar(c->arena, stored),
        .parsed = render_scalar(c->arena, parsed),
    };
    if (stored[0] == '\0' && c->incremental) {
        d.informational = true;
        d.detail = pd_arena_strdup(c->arena, "incremental-append history");
        if (d.detail == NULL)
            return PD_ENOMEM;
    }
    return pd_cmp_push(c, d);
}

/* Parser-owned metadata text: sanitised, NULL equal to "", an empty side shown
 * as "(null)", truncated without notes, and incremental-append history for the
 * incremental agents. */
static int compare_metadata_text(pd_cmp *c, const char *field, const char *stored,
                                 const char *parsed)
{
    pd_cmp_str cs, cp;
    int rc = pd_cmp_clean(c->scratch, stored, &cs);
    if (rc == PD_OK)
        rc = pd_cmp_clean(c->scratch, parsed, &cp);
    if (rc != PD_OK)
        return rc;
    if (pd_cmp_str_equal(cs, cp))
        return PD_OK;

    static const pd_cmp_str null_text = {"(null)", 6};
    pd_field_diff d = {
        .field = field,
        .stored = pd_cmp_truncate(c->arena, cs.n == 0 ? null_text : cs),
        .parsed = pd_cmp_truncate(c->arena, cp.n == 0 ? null_text : cp),
    };
    rc = pd_cmp_mark_incremental(c, &d);
    if (rc != PD_OK)
        return rc;
    return pd_cmp_push(c, d);
}

static int compare_metadata(pd_cmp *c, const pd_session *stored, const pd_session *parsed)
{
    struct text_column {
        const char *field;
        const char *stored;
        const char *parsed;
    } columns[] = {
        {PD_FIELD_AGENT_LABEL, stored->agent_label, parsed->agent_label},
        {PD_FIELD_ENTRYPOINT, stored->entrypoint, parsed->entrypoint},
        {PD_FIELD_SESSION_KIND, stored->session_kind, parsed->session_kind},
        {PD_FIELD_CWD, stored->cwd, parsed->cwd},
        {PD_FIELD_GIT_BRANCH, stored->git_branch, parsed->git_branch},
        {PD_FIELD_RELATIONSHIP_TYPE, stored->relationship_type, parsed->relationship_type},
        {PD_FIELD_SOURCE_SESSION_ID, stored->source_session_id, parsed->source_session_id},
        {PD_FIELD_SOURCE_VERSION, stored->source_version, parsed->source_version},
        {PD_FIELD_TRANSCRIPT_FIDELITY, stored->transcript_fidelity, parsed->transcript_fidelity},
        {PD_FIELD_PARENT_SESSION_ID, stored->parent_session_id, parsed->parent_session_id},
    };
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        int rc = compare_metadata_text(c, columns[i].field, columns[i].stored, columns[i].parsed);
        if (rc != PD_OK)
            return rc;
    }

    if (stored->parser_malformed_lines != parsed->parser_malformed_lines) {
        pd_field_diff d = {
            .field = PD_FIELD_PARSER_MALFORMED_LINES,
            .stored = pd_arena_sprintf(c->arena, "%" PRId64, stored->parser_malformed_lines),
            .parsed = pd_arena_sprintf(c->arena, "%" PRId64, parsed->parser_malformed_lines),
        };
        int rc = pd_cmp_mark_incremental(c, &d);
        if (rc == PD_OK)
            rc = pd_cmp_push(c, d);
        if (rc != PD_OK)
            return rc;
    }

    if (stored->is_truncated != parsed->is_truncated) {
        pd_field_diff d = {
            .field = PD_FIELD_IS_TRUNCATED,
            .stored = pd_arena_strdup(c->arena, stored->is_truncated ? "true" : "false"),
            .parsed = pd_arena_strdup(c->arena, parsed->is_truncated ? "true" : "false"),
        };
        int rc = pd_cmp_mark_incremental(c, &d);
        if (rc == PD_OK)
            rc = pd_cmp_push(c, d);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* A count of messages whose source_uuid the other side lacks, and the lowest ordinal among them. */
typedef struct uuid_leftover {
    size_t count;
    int64_t first_ordinal;
} uuid_leftover;

/* Counts the messages of from whose source_uuid no message of other carries. */
static int uuid_leftovers(const pd_session *from, const pd_session *other, uuid_leftover *out)
{
    pd_strset uuids;
    int rc = PD_OK;

    *out = (uuid_leftover){0};
    pd_strset_init(&uuids);
    for (size_t i = 0; i < other->n_messages && rc == PD_OK; i++) {
        const char *uuid = other->messages[i].source_uuid;
        if (uuid != NULL && uuid[0] != '\0' && pd_strset_add(&uuids, uuid) < 0)
            rc = PD_ENOMEM;
    }
    for (size_t i = 0; i < from->n_messages && rc == PD_OK; i++) {
        const pd_message *m = &from->messages[i];
        if (m->source_uuid == NULL || m->source_uuid[0] == '\0' ||
            pd_strset_has(&uuids, m->source_uuid))
            continue;
        if (out->count++ == 0 || m->ordinal < out->first_ordinal)
            out->first_ordinal = m->ordinal;
    }
    pd_strset_free(&uuids);
    return rc;
}

static bool any_source_uuid(const pd_session *s)
{
    for (size_t i = 0; i < s->n_messages; i++) {
        if (s->messages[i].source_uuid != NULL && s->messages[i].source_uuid[0] != '\0')
            return true;
    }
    return false;
}

/*
 * Sets *detail to which messages a count change comes from, by the
 * source_uuid that Claude messages carry: the stored messages the parse no
 * longer gives and the parsed messages not stored, each with its count and
 * first ordinal. Ordinals alone cannot tell this, because every message
 * after a dropped one moves. *detail is NULL when no message differs by
 * uuid, or when one side carries none (Codex messages never do).
 */
static int count_change_detail(pd_cmp *c, const pd_session *stored, const pd_session *parsed,
                               char **detail)
{
    uuid_leftover gone, added;
    *detail = NULL;
    /* A side without uuids (rows an older writer left blank) would make every message differ. */
    if (!any_source_uuid(stored) || !any_source_uuid(parsed))
        return PD_OK;
    int rc = uuid_leftovers(stored, parsed, &gone);
    if (rc == PD_OK)
        rc = uuid_leftovers(parsed, stored, &added);
    if (rc != PD_OK || (gone.count == 0 && added.count == 0))
        return rc;

    char gone_part[96] = "", added_part[96] = "";
    if (gone.count > 0)
        snprintf(gone_part, sizeof gone_part,
                 "%zu stored message%s gone (the first at ordinal %" PRId64 ")", gone.count,
                 gone.count == 1 ? " is" : "s are", gone.first_ordinal);
    if (added.count > 0)
        snprintf(added_part, sizeof added_part,
                 "%zu parsed message%s new (the first at ordinal %" PRId64 ")", added.count,
                 added.count == 1 ? " is" : "s are", added.first_ordinal);
    *detail = pd_arena_sprintf(c->arena, "by source_uuid, %s%s%s", gone_part,
                               gone.count > 0 && added.count > 0 ? " and " : "", added_part);
    return *detail == NULL ? PD_ENOMEM : PD_OK;
}

int pd_cmp_session_fields(pd_cmp *c, const pd_session *stored, const pd_session *parsed)
{
    int rc = compare_count(c, PD_FIELD_MESSAGE_COUNT, stored->message_count, parsed->message_count);
    if (rc == PD_OK && stored->message_count != parsed->message_count)
        rc = count_change_detail(c, stored, parsed, &c->out->items[c->out->n - 1].detail);
    if (rc == PD_OK)
        rc = compare_count(c, PD_FIELD_USER_MESSAGE_COUNT, stored->user_message_count,
                           parsed->user_message_count);
    if (rc != PD_OK)
        return rc;

    /* first_message and started_at come from the head of the transcript and
     * do not move on append, so they stay strict. session_name can change
     * mid-session (a rename) while the incremental path never rewrites it. */
    rc = compare_text(c, PD_FIELD_FIRST_MESSAGE, stored->first_message, parsed->first_message,
                      false);
    if (rc == PD_OK)
        rc = compare_text(c, PD_FIELD_SESSION_NAME, stored->session_name, parsed->session_name,
                          true);
    if (rc == PD_OK)
        rc = compare_text(c, PD_FIELD_STARTED_AT, stored->started_at, parsed->started_at, false);
    if (rc == PD_OK)
        rc = compare_text(c, PD_FIELD_ENDED_AT, stored->ended_at, parsed->ended_at, false);
    if (rc != PD_OK)
        return rc;

    rc = compare_token_aggregate(c, PD_FIELD_TOTAL_OUTPUT_TOKENS, stored->has_total_output_tokens,
                                 stored->total_output_tokens, parsed->has_total_output_tokens,
                                 parsed->total_output_tokens);
    if (rc == PD_OK)
        rc = compare_token_aggregate(c, PD_FIELD_PEAK_CONTEXT_TOKENS,
                                     stored->has_peak_context_tokens, stored->peak_context_tokens,
                                     parsed->has_peak_context_tokens, parsed->peak_context_tokens);
    if (rc != PD_OK)
        return rc;

    rc = compare_termination(c, stored->termination_status, parsed->termination_status);
    if (rc != PD_OK)
        return rc;

    return compare_metadata(c, stored, parsed);
}
