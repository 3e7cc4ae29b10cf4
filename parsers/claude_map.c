/*
 * claude_map.c -- a string-keyed open-addressing hash map in an arena.
 *
 * Entry points: claude_map_init(), claude_map_upsert(), claude_map_find().
 * The Claude parser keys uuids and tool_use ids with it. Growth allocates a
 * new slot array from the arena and leaves the old one as garbage, which the
 * job's arena frees with everything else.
 *
 * Thread-safety: a map belongs to the thread that owns its arena.
 */
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "parsers/claude_internal.h"

void claude_map_init(claude_map *m, pd_arena *a)
{
    memset(m, 0, sizeof *m);
    m->arena = a;
}

static uint64_t key_hash(const char *key)
{
    return pd_xxh3(key, strlen(key));
}

/* Returns the slot of key, or the empty slot where it would go. */
static claude_map_slot *probe(claude_map_slot *slots, size_t cap, const char *key, uint64_t hash)
{
    size_t mask = cap - 1;
    size_t i = (size_t)hash & mask;

    for (;;) {
        claude_map_slot *slot = &slots[i];
        if (slot->key == NULL)
            return slot;
        if (slot->hash == hash && strcmp(slot->key, key) == 0)
            return slot;
        i = (i + 1) & mask;
    }
}

static int grow(claude_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    claude_map_slot *slots = pd_arena_calloc(m->arena, cap, sizeof *slots);

    if (slots == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key != NULL)
            *probe(slots, cap, m->slots[i].key, m->slots[i].hash) = m->slots[i];
    }
    m->slots = slots;
    m->cap = cap;
    return PD_OK;
}

claude_map_slot *claude_map_find(const claude_map *m, const char *key)
{
    claude_map_slot *slot;

    if (m->cap == 0 || key == NULL)
        return NULL;
    slot = probe(m->slots, m->cap, key, key_hash(key));
    return slot->key != NULL ? slot : NULL;
}

int claude_map_upsert(claude_map *m, const char *key, claude_map_slot **slot, bool *created)
{
    uint64_t hash = key_hash(key);
    claude_map_slot *found;

    /* Keep the load factor at or below one half so probes stay short. */
    if ((m->count + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc != PD_OK)
            return rc;
    }
    found = probe(m->slots, m->cap, key, hash);
    if (created != NULL)
        *created = found->key == NULL;
    if (found->key == NULL) {
        found->key = key;
        found->hash = hash;
        found->value = NULL;
        found->number = 0;
        m->count++;
    }
    *slot = found;
    return PD_OK;
}
