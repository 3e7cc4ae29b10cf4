/*
 * codex_gate.c -- dropping a parent's replayed history from a Codex rollout.
 *
 * `codex fork` and subagent spawns may start the new rollout with a copy of
 * the parent's lines (its session_meta, turns, messages and token counts)
 * under fresh envelope timestamps. Counting them again would duplicate the
 * parent's messages and usage, so the gate suppresses them. The boundary is
 * found by turn ids: every turn_context of the copy carries a turn_id that
 * also appears in the parent's own transcript, and the first turn_context
 * whose id the parent does not have starts the rollout's own history.
 *
 *   - forked_from_id names the parent and activates the gate at once;
 *   - a subagent's parent thread activates it when the parent's
 *     session_meta copy appears;
 *   - a session_meta whose id is the parent's is always dropped, so the copy
 *     never replaces the rollout's own id;
 *   - when the parent's transcript cannot be found or read, nothing is
 *     suppressed and needs_retry marks the parse for a later retry.
 *
 * Entry points: pd_codex_gate_init, pd_codex_gate_arm (at a session_meta),
 * pd_codex_gate_suppresses (for every valid line). Threading: a gate belongs
 * to one parse; it reads the shared state without locks.
 */
#include "parsers/codex_internal.h"

#include <string.h>

#include "common/log.h"
#include "common/text.h"
#include "parsers/jsonl.h"

void pd_codex_gate_init(pd_codex_gate *g, pd_arena *a)
{
    memset(g, 0, sizeof *g);
    pd_codex_map_init(&g->parent_turns, a);
}

/* Loads the turn ids of the parent's transcript. *resolved is false when it cannot be read. */
static int load_parent_turns(pd_codex_gate *g, const pd_codex_shared *sh, pd_json_parser *p,
                             bool *resolved)
{
    const char *path = pd_codex_rollout_path(sh, g->parent_id, strlen(g->parent_id));
    pd_source_buf buf = {0};
    pd_err read_err = {0};
    int rc;

    *resolved = false;
    if (path == NULL)
        return PD_OK;
    rc = pd_source_read(path, -1, &buf, &read_err);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK) {
        PD_LOG(PD_LOG_WARN, "%s", read_err.msg);
        return PD_OK;
    }

    pd_jsonl_reader reader;
    pd_jsonl_line line;
    pd_jsonl_init(&reader, buf.data, buf.len, 0);
    rc = PD_OK;
    while (pd_jsonl_next(&reader, &line)) {
        /* Only turn_context lines matter, so other lines are not parsed. */
        if (pd_text_find(line.data, line.len, "turn_context") == NULL)
            continue;

        pd_json root;
        int prc = pd_json_parse(p, line.data, line.len, &root);
        if (prc == PD_ENOMEM) {
            rc = prc;
            break;
        }
        if (prc != PD_OK)
            continue;
        size_t type_n;
        const char *type = pd_json_str_or_empty(pd_json_get(root, "type"), &type_n);
        if (!pd_codex_eq(type, type_n, "turn_context"))
            continue;

        size_t id_n;
        const char *id = pd_json_str_or_empty(pd_json_path(root, "payload.turn_id"), &id_n);
        rc = pd_codex_map_put(&g->parent_turns, id, id_n, NULL);
        if (rc != PD_OK)
            break;
    }
    pd_source_buf_free(&buf);
    *resolved = rc == PD_OK;
    return rc;
}

int pd_codex_gate_arm(pd_codex_gate *g, const pd_codex_shared *sh, pd_json_parser *p,
                      const char *fork_id, size_t fork_n, const char *parent_id, size_t parent_n)
{
    pd_arena *a = g->parent_turns.arena;
    bool resolved = false;

    if (g->armed || g->closed)
        return PD_OK;
    if (fork_id != NULL && fork_n > 0) {
        g->is_fork = true;
        g->parent_id = pd_arena_strndup(a, fork_id, fork_n);
    } else if (parent_id != NULL && parent_n > 0) {
        g->parent_id = pd_arena_strndup(a, parent_id, parent_n);
    } else {
        return PD_OK;
    }
    if (g->parent_id == NULL)
        return PD_ENOMEM;
    g->armed = true;

    int rc = load_parent_turns(g, sh, p, &resolved);
    if (rc != PD_OK)
        return rc;
    g->parent_resolved = resolved;
    if (g->is_fork) {
        g->active = resolved;
        g->needs_retry = !resolved;
    }
    return PD_OK;
}

bool pd_codex_gate_suppresses(pd_codex_gate *g, const char *type, const char *meta_id,
                              size_t meta_id_n, const char *turn_id, size_t turn_id_n)
{
    bool is_meta = strcmp(type, "session_meta") == 0;

    if (is_meta && g->parent_id != NULL && meta_id != NULL &&
        pd_codex_eq(meta_id, meta_id_n, g->parent_id)) {
        /* A subagent's replay starts with the parent's session_meta. */
        if (!g->is_fork && !g->closed && !g->active) {
            if (g->parent_resolved)
                g->active = true;
            else
                g->needs_retry = true;
        }
        return true;
    }
    if (!g->active)
        return false;
    if (strcmp(type, "turn_context") != 0)
        return true;
    if (pd_codex_map_get(&g->parent_turns, turn_id != NULL ? turn_id : "",
                         turn_id != NULL ? turn_id_n : 0, NULL))
        return true;

    g->active = false;
    g->closed = true;
    return false;
}
