/*
 * claude_incremental.c -- parsing only the lines appended to a transcript.
 *
 * Entry point: claude_parse_incremental(), called by parse when the request
 * carries the stored row's state (req->incr). It scans the lines after
 * incr->offset and returns one session holding only the appended messages,
 * numbered from incr->next_ordinal. The writer then appends those rows and
 * updates the stored row.
 *
 * An append is only safe when a full parse of the whole file would give the
 * stored rows plus these rows. Whenever the tail could change stored rows or
 * session fields, the parse returns PD_EFALLBACK and the caller parses the
 * whole file instead:
 *   - a /rename, which changes the session name.
 *   - an agentSetting, entrypoint or sessionKind appearing while the stored
 *     value is empty.
 *   - a subagent link (queue, progress or toolUseResult.agentId) or a web
 *     search count for a tool call that is not in the tail.
 *   - uuid links that change the tree. In a file stored as linear that is
 *     a new root. Otherwise it is an entry whose parent is not the previous
 *     uuid, a uuid-less entry when the file is stored as a tree or ends in a
 *     uuid, or a response over several lines (see tree_change).
 *   - a first appended assistant line continuing the stored last message
 *     (same message.id), which a full parse would merge into that row.
 *   - a queued prompt timed before the first appended message or before
 *     the stored end, and appended messages after stored rows that end in
 *     a queued prompt.
 *   - a line timed outside the years the archive stores (2000 to 2100),
 *     whose session bound a full write would blank.
 *   - a line timed before the stored started_at, which a full parse takes
 *     as the new start.
 *   - the first real prompt of a session stored without first_message.
 *   - an appended entry whose uuid the file already has, which a full
 *     parse keeps only once.
 * sync also writes the whole file when the stored row has no start or end
 * time, or when an appended call reuses the id of a stored one.
 * Tool results that answer calls stored earlier stay on their messages for
 * the writer to link.
 *
 * Consumed bytes end after the last valid line, which may be a final line
 * without a newline. Invalid lines count as malformed but do not advance the
 * boundary on their own, and a tail without a valid line consumes nothing.
 *
 * Thread-safety: works on one request's arena and parser.
 */
#include <string.h>

#include "common/error.h"
#include "common/normalize.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "parsers/claude_internal.h"

static bool is_blank_or_null(const char *s)
{
    return s == NULL || pd_text_is_blank(s, strlen(s));
}

static int fallback(pd_err *err, const char *path, const char *reason)
{
    return pd_err_set(err, PD_EFALLBACK, "%s: incremental parse not possible: %s", path, reason);
}

/* Collects the ids of tool calls made by appended assistant lines. */
static int appended_call_ids(claude_scan *sc, claude_map *ids)
{
    claude_map_init(ids, sc->arena);
    for (size_t i = 0; i < sc->n_entries; i++) {
        const claude_entry *e = &sc->entries[i];
        if (e->type != CLAUDE_ENTRY_ASSISTANT)
            continue;
        for (size_t b = 0; b < e->n_blocks; b++) {
            claude_map_slot *slot;
            int rc;
            if (e->blocks[b].kind != CLAUDE_BLOCK_TOOL_USE || e->blocks[b].tool_id[0] == '\0')
                continue;
            rc = claude_map_upsert(ids, e->blocks[b].tool_id, &slot, NULL);
            if (rc != PD_OK)
                return rc;
        }
    }
    return PD_OK;
}

/* True when some key of keys is missing from ids. */
static bool has_foreign_key(const claude_map *keys, const claude_map *ids)
{
    for (size_t i = 0; i < keys->cap; i++) {
        if (keys->slots[i].key != NULL && claude_map_find(ids, keys->slots[i].key) == NULL)
            return true;
    }
    return false;
}

/* Returns p moved past JSON white space, at most to end. */
static const char *skip_json_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* True when s[0..n) is a key of tail, the uuids of the appended entries. */
static bool is_tail_uuid(const claude_map *tail, const claude_scan *sc, const char *s, size_t n)
{
    char key[128];
    if (n < sizeof key) {
        memcpy(key, s, n);
        key[n] = '\0';
        return claude_map_find(tail, key) != NULL;
    }
    for (size_t i = 0; i < sc->n_entries; i++) {
        const char *uuid = sc->entries[i].uuid;
        if (strlen(uuid) == n && memcmp(uuid, s, n) == 0)
            return true;
    }
    return false;
}

/*
 * Sets *repeat when an appended entry's uuid repeats an earlier appended
 * entry's or the value of a "uuid" key in the stored bytes. A full parse
 * then has two entries with one uuid and keeps one of them, where an append
 * would store both. The stored bytes are read once, whatever the number of
 * appended entries. A "uuid" key nested in some other value also counts,
 * which at worst costs a full write that was not needed.
 */
static int uuid_repeats(const claude_scan *sc, size_t prefix_len, bool *repeat)
{
    claude_map tail;
    claude_map_init(&tail, sc->arena);
    *repeat = false;
    for (size_t i = 0; i < sc->n_entries; i++) {
        const char *uuid = sc->entries[i].uuid;
        if (uuid[0] == '\0')
            continue;
        claude_map_slot *slot;
        bool created;
        int rc = claude_map_upsert(&tail, uuid, &slot, &created);
        if (rc != PD_OK)
            return rc;
        if (!created) {
            *repeat = true;
            return PD_OK;
        }
    }
    if (tail.count == 0)
        return PD_OK;

    static const char key[] = "\"uuid\"";
    const char *p = sc->req->src->data, *end = p + prefix_len;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
        p = skip_json_space(p + sizeof key - 1, end);
        if (p >= end || *p != ':')
            continue;
        p = skip_json_space(p + 1, end);
        if (p >= end || *p != '"')
            continue;
        const char *value = ++p;
        const char *close = memchr(value, '"', (size_t)(end - value));
        if (close == NULL)
            break;
        /* A value with an escape is not compared as text: it may name any uuid. */
        size_t len = (size_t)(close - value);
        if (memchr(value, '\\', len) != NULL || is_tail_uuid(&tail, sc, value, len)) {
            *repeat = true;
            return PD_OK;
        }
        p = close + 1;
    }
    return PD_OK;
}

/* Returns a reason when the tail's uuid links would change the stored tree, else NULL. */
static const char *tree_change(const claude_scan *sc, const pd_incr_state *incr)
{
    bool linear_bound = incr->claude_linear_parse == 1;
    const char *prev = incr->last_entry_uuid != NULL ? incr->last_entry_uuid : "";
    bool tree_or_tipped = incr->claude_linear_parse == 0 || prev[0] != '\0';

    for (size_t i = 0; i < sc->n_entries; i++) {
        const claude_entry *e = &sc->entries[i];
        if (e->uuid[0] == '\0') {
            if (!linear_bound && tree_or_tipped)
                return "an entry without a uuid follows uuid-linked entries";
            continue;
        }
        if (linear_bound) {
            if (e->parent_uuid[0] == '\0')
                return "a new root entry appears in a linear transcript";
        } else if (prev[0] != '\0' && strcmp(e->parent_uuid, prev) != 0) {
            return "an entry's parentUuid is not the previous entry's uuid";
        }
        prev = e->uuid;
    }
    /*
     * A response written over several lines becomes one entry that keeps its
     * last line's parentUuid, which names a line the merge drops. A full
     * parse then finds a parent outside the file and reads the whole
     * transcript as one chain, with any branch it had discarded.
     */
    for (size_t i = 1; !linear_bound && i < sc->n_entries; i++) {
        const claude_entry *first = &sc->entries[i - 1], *next = &sc->entries[i];
        if (first->type == CLAUDE_ENTRY_ASSISTANT && next->type == CLAUDE_ENTRY_ASSISTANT &&
            first->message_id != NULL && next->message_id != NULL && first->message_id[0] != '\0' &&
            strcmp(first->message_id, next->message_id) == 0)
            return "a response over several lines makes a full parse read the tree as one chain";
    }
    return NULL;
}

static const char *new_identity_field(const claude_scan *sc, const pd_incr_state *incr)
{
    if (sc->agent_label != NULL && is_blank_or_null(incr->agent_label))
        return "an agentSetting appears while none is stored";
    if (sc->entrypoint != NULL && is_blank_or_null(incr->entrypoint))
        return "an entrypoint appears while none is stored";
    if (sc->session_kind != NULL && is_blank_or_null(incr->session_kind))
        return "a sessionKind appears while none is stored";
    return NULL;
}

/* Copies a stored string into the arena, keeping NULL as NULL. Sets *oom on failure. */
static char *stored_copy(pd_arena *a, const char *s, bool *oom)
{
    char *copy;

    if (s == NULL)
        return NULL;
    copy = pd_utf8_sanitize(a, s, strlen(s), NULL);
    if (copy == NULL)
        *oom = true;
    return copy;
}

/* Checks the tail before any message is built. Sets *reason to a fallback reason or NULL. */
static int check_tail(claude_scan *sc, const pd_incr_state *incr, const char **reason)
{
    claude_map call_ids, search_counts;
    const char *last_id = incr->last_claude_message_id;
    int rc;

    *reason = NULL;
    if (sc->has_rename) {
        *reason = "a /rename changes the session name";
        return PD_OK;
    }
    *reason = new_identity_field(sc, incr);
    if (*reason != NULL)
        return PD_OK;

    rc = appended_call_ids(sc, &call_ids);
    if (rc != PD_OK)
        return rc;
    if (has_foreign_key(&sc->subagents, &call_ids)) {
        *reason = "a subagent link names a tool call stored earlier";
        return PD_OK;
    }
    claude_map_init(&search_counts, sc->arena);
    rc = claude_collect_search_counts(sc, &search_counts);
    if (rc != PD_OK)
        return rc;
    if (has_foreign_key(&search_counts, &call_ids)) {
        *reason = "a web search count belongs to a tool call stored earlier";
        return PD_OK;
    }

    *reason = tree_change(sc, incr);
    if (*reason != NULL)
        return PD_OK;
    bool repeat;
    rc = uuid_repeats(sc, (size_t)incr->offset, &repeat);
    if (rc != PD_OK)
        return rc;
    if (repeat) {
        *reason = "an appended entry repeats a uuid the file already has";
        return PD_OK;
    }

    /* A full write blanks a session bound outside the archive's years, but the append keeps it. */
    if (sc->has_ts &&
        (pd_time_year(sc->ts_min) < PD_YEAR_MIN || pd_time_year(sc->ts_max) > PD_YEAR_MAX)) {
        *reason = "an appended line is timed outside the years a stored timestamp may have";
        return PD_OK;
    }
    /* The start is the earliest time of any line, and an append never moves it. */
    pd_time_ns start;
    if (sc->has_ts && incr->started_at != NULL &&
        pd_time_parse(incr->started_at, strlen(incr->started_at), &start) && sc->ts_min < start) {
        *reason = "an appended line is timed before the stored start";
        return PD_OK;
    }

    for (size_t i = 0; i < sc->n_entries; i++) {
        if (sc->entries[i].type != CLAUDE_ENTRY_ASSISTANT)
            continue;
        if (last_id != NULL && last_id[0] != '\0' &&
            strcmp(sc->entries[i].message_id, last_id) == 0)
            *reason = "the first appended assistant line continues the stored last message";
        break;
    }
    return PD_OK;
}

int claude_parse_incremental(const pd_parse_request *req, pd_parse_result *out, pd_err *err)
{
    const pd_incr_state *incr = req->incr;
    const pd_source_buf *src = req->src;
    pd_arena *a = req->arena;
    claude_scan sc = {.req = req, .arena = a, .json = req->json};
    claude_map search_counts;
    size_t *indices = NULL;
    pd_session *s;
    const char *reason = NULL;
    char *project;
    bool oom = false;
    int rc;

    if (src->compressed)
        return fallback(err, req->path,
                        "a compressed transcript has no byte offsets to resume from");
    if (incr->offset < 0 || (uint64_t)incr->offset > src->len)
        return fallback(err, req->path, "the stored size is beyond the end of the file");

    sc.session_id = incr->session_id != NULL ? stored_copy(a, incr->session_id, &oom)
                                             : claude_session_id_from_path(a, req->path);
    if (sc.session_id == NULL)
        goto oom;

    /* 1. Scan the tail and reject appends that a full parse would treat differently. */
    rc = claude_scan_lines(&sc, (size_t)incr->offset);
    if (rc == PD_OK)
        rc = check_tail(&sc, incr, &reason);
    if (rc != PD_OK)
        goto fail;
    if (reason != NULL)
        return fallback(err, req->path, reason);

    /* 2. Build the appended messages in file order. */
    rc = claude_merge_chunks(a, sc.entries, &sc.n_entries);
    for (size_t i = 0; rc == PD_OK && i < sc.n_entries; i++)
        rc = claude_entry_messages(a, &sc.entries[i]);
    if (rc != PD_OK)
        goto fail;
    if (sc.n_entries > 0) {
        indices = pd_arena_calloc(a, sc.n_entries, sizeof *indices);
        if (indices == NULL)
            goto oom;
        for (size_t i = 0; i < sc.n_entries; i++)
            indices[i] = i;
    }

    out->sessions = pd_arena_calloc(a, 1, sizeof *out->sessions);
    project = claude_derive_project(&sc);
    if (out->sessions == NULL || project == NULL)
        goto oom;
    s = &out->sessions[0];
    pd_session_init(s);
    rc = claude_session_fill_common(&sc, s, project, incr->claude_linear_parse);
    if (rc == PD_OK)
        rc = claude_session_collect(a, s, sc.entries, indices, sc.n_entries, incr->next_ordinal);
    if (rc != PD_OK)
        goto fail;

    /*
     * A full parse puts a queued prompt before the first message timed after
     * it, and one without a time after every message. So a prompt timed
     * before the first appended message may belong among stored rows, and
     * one timed before the stored end may too (the end also covers rows the
     * writer drops, which the full parse sorts against). A stored queued
     * prompt that ends the stored rows may belong after appended messages.
     */
    /* NOTE: a stored queued prompt that gave no row (its text renders to
     * nothing) still holds back later queued prompts in a full parse's merge,
     * and no check here can see it, so such a file can need `sync --full`. */
    if (incr->last_message_queued && s->n_messages > 0)
        return fallback(err, req->path,
                        "the stored rows end in a queued prompt that may sort after the "
                        "appended messages");
    pd_time_ns head;
    bool has_head =
        s->n_messages > 0 && s->messages[0].timestamp != NULL &&
        pd_time_parse(s->messages[0].timestamp, strlen(s->messages[0].timestamp), &head);
    for (size_t i = 0; i < sc.n_queued; i++) {
        if (!sc.queued[i].has_ts)
            continue;
        if (has_head && sc.queued[i].ts < head)
            return fallback(err, req->path, "a queued prompt sorts before the appended messages");
        if (incr->has_ended_at && sc.queued[i].ts < incr->ended_at_ns)
            return fallback(err, req->path, "a queued prompt sorts before the stored end");
    }
    rc = claude_session_merge_queued(a, s, sc.queued, sc.n_queued, incr->next_ordinal);
    if (rc != PD_OK)
        goto fail;

    claude_session_annotate_subagents(s, &sc.subagents);
    claude_map_init(&search_counts, a);
    rc = claude_collect_search_counts(&sc, &search_counts);
    if (rc == PD_OK)
        rc = claude_session_credit_web_searches(a, sc.json, s, &search_counts);
    if (rc == PD_OK)
        rc = claude_session_summarize(a, s);
    if (rc != PD_OK)
        goto fail;
    if (s->first_message != NULL && is_blank_or_null(incr->first_message))
        return fallback(err, req->path,
                        "the first real prompt arrives while no first message is stored");

    /* 3. Stored fields stay as they are, and the tail supplies the end time and the new size. */
    s->id = (char *)sc.session_id;
    s->first_message = stored_copy(a, incr->first_message, &oom);
    s->session_name = stored_copy(a, incr->session_name, &oom);
    if (incr->agent_label != NULL)
        s->agent_label = stored_copy(a, incr->agent_label, &oom);
    if (incr->entrypoint != NULL)
        s->entrypoint = stored_copy(a, incr->entrypoint, &oom);
    if (incr->session_kind != NULL)
        s->session_kind = stored_copy(a, incr->session_kind, &oom);
    s->ended_at = claude_format_time(a, sc.has_ts, sc.ts_max, &oom);
    s->started_at = NULL;
    s->termination_status = NULL;
    s->is_truncated = false;
    s->file_size = sc.consumed;
    s->relationship_type = "";
    if (oom)
        goto oom;

    out->n_sessions = 1;
    out->consumed = sc.consumed;
    out->malformed_lines = sc.malformed_lines;
    out->malformed_cut_tail = claude_cut_tail(&sc);
    return PD_OK;

oom:
    rc = PD_ENOMEM;
fail:
    out->n_sessions = 0;
    return pd_err_set(err, rc, "%s: parsing the appended Claude lines failed: %s", req->path,
                      pd_strerror(rc));
}
