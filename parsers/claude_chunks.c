/*
 * claude_chunks.c -- merging assistant lines that carry one API response.
 *
 * Entry point: claude_merge_chunks(), called once per parse after the line
 * scan. Claude Code writes one response as several consecutive assistant
 * lines sharing message.id: sometimes cumulative streaming snapshots (each
 * repeats the blocks so far, text growing), sometimes additive chunks (each
 * holds new blocks). A run becomes one entry that keeps the last line's
 * uuid, parentUuid, timestamp, usage, stop_reason and requestId, and whose
 * content collects every distinct block in first-seen order.
 *
 * Thread-safety: works on one request's arena.
 */
#include <string.h>

#include "common/error.h"
#include "parsers/claude_internal.h"

typedef struct block_list {
    claude_block *items;
    size_t n;
    size_t cap;
} block_list;

static int list_push(pd_arena *a, block_list *l, const claude_block *b)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        claude_block *grown = pd_arena_grow(a, l->items, l->n, cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = *b;
    return PD_OK;
}

static bool is_prefix(const claude_block *shorter, const claude_block *longer)
{
    return shorter->text_len <= longer->text_len &&
           memcmp(shorter->text, longer->text, shorter->text_len) == 0;
}

/* Returns true when a block of a later snapshot continues the block at the same position. */
static bool blocks_align(const claude_block *a, const claude_block *b)
{
    if (strcmp(a->type, b->type) != 0)
        return false;
    if (strcmp(a->type, "text") == 0)
        return is_prefix(a, b) || is_prefix(b, a);
    if (strcmp(a->type, "tool_use") == 0 && a->tool_id[0] != '\0' && b->tool_id[0] != '\0')
        return strcmp(a->tool_id, b->tool_id) == 0;
    return a->raw_hash == b->raw_hash;
}

/* Returns the block kept at an overlapping position of a cumulative snapshot. */
static const claude_block *latest_block(const claude_block *existing, const claude_block *candidate)
{
    if (strcmp(existing->type, candidate->type) != 0)
        return candidate;
    if (strcmp(existing->type, "text") == 0)
        return candidate->text_len >= existing->text_len ? candidate : existing;
    if (strcmp(existing->type, "tool_use") == 0)
        return candidate;
    return existing;
}

static bool block_present(const claude_block *target, const block_list *l)
{
    bool by_id = strcmp(target->type, "tool_use") == 0 && target->tool_id[0] != '\0';

    for (size_t i = 0; i < l->n; i++) {
        const claude_block *b = &l->items[i];
        if (strcmp(b->type, target->type) != 0)
            continue;
        if (by_id) {
            if (strcmp(b->tool_id, target->tool_id) == 0)
                return true;
            continue;
        }
        if (b->raw_hash == target->raw_hash)
            return true;
    }
    return false;
}

static bool snapshot_is_cumulative(const block_list *merged, const claude_entry *e)
{
    size_t n = merged->n < e->n_blocks ? merged->n : e->n_blocks;

    for (size_t i = 0; i < n; i++) {
        if (!blocks_align(&merged->items[i], &e->blocks[i]))
            return false;
    }
    return true;
}

static int merge_snapshot(pd_arena *a, block_list *merged, const claude_entry *e, bool run_ended)
{
    int rc;

    /* After an end_turn the response is complete, so later same-id lines only add blocks. */
    if (!run_ended && snapshot_is_cumulative(merged, e)) {
        for (size_t i = 0; i < e->n_blocks; i++) {
            if (i < merged->n) {
                merged->items[i] = *latest_block(&merged->items[i], &e->blocks[i]);
                continue;
            }
            rc = list_push(a, merged, &e->blocks[i]);
            if (rc != PD_OK)
                return rc;
        }
        return PD_OK;
    }
    for (size_t i = 0; i < e->n_blocks; i++) {
        if (block_present(&e->blocks[i], merged))
            continue;
        rc = list_push(a, merged, &e->blocks[i]);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

static int merge_run(pd_arena *a, const claude_entry *run, size_t n, claude_entry *out)
{
    block_list merged = {0};
    bool run_ended = false;

    *out = run[n - 1];
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (run[i].content_is_string)
            continue;
        rc = merge_snapshot(a, &merged, &run[i], run_ended);
        if (rc != PD_OK)
            return rc;
        if (strcmp(run[i].stop_reason, "end_turn") == 0)
            run_ended = true;
    }
    if (merged.n == 0)
        return PD_OK;
    out->content_is_string = false;
    out->content_string = NULL;
    out->content_string_len = 0;
    out->blocks = merged.items;
    out->n_blocks = merged.n;
    return PD_OK;
}

int claude_merge_chunks(pd_arena *a, claude_entry *entries, size_t *n_entries)
{
    size_t n = *n_entries, kept = 0;

    for (size_t i = 0; i < n;) {
        const char *id = entries[i].type == CLAUDE_ENTRY_ASSISTANT ? entries[i].message_id : "";
        size_t j = i + 1;

        if (id[0] != '\0') {
            while (j < n && entries[j].type == CLAUDE_ENTRY_ASSISTANT &&
                   strcmp(entries[j].message_id, id) == 0)
                j++;
        }
        if (j - i > 1) {
            claude_entry merged;
            int rc = merge_run(a, &entries[i], j - i, &merged);
            if (rc != PD_OK)
                return rc;
            entries[kept++] = merged;
        } else {
            entries[kept++] = entries[i];
        }
        i = j;
    }
    *n_entries = kept;
    return PD_OK;
}
