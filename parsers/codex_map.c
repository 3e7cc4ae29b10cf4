/*
 * codex_map.c -- string-keyed hash map in an arena, for the Codex parser.
 *
 * Used for call ids, agent ids, turn ids and the shared title and rollout
 * tables. Linear probing over a power-of-two table that doubles at half
 * load; keys are hashed with XXH3.
 *
 * Entry points: pd_codex_map_init, pd_codex_map_put, pd_codex_map_get,
 * pd_codex_map_clear. Thread-safety: one writer; readers of a map that no
 * longer changes may run concurrently.
 */
#include "parsers/codex_internal.h"

#include <string.h>

#include "common/hash.h"

struct pd_codex_map_slot {
    char *key; /* NULL marks an empty slot */
    size_t key_len;
    uint64_t hash;
    void *value;
};

void pd_codex_map_init(pd_codex_map *m, pd_arena *a)
{
    m->arena = a;
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

static struct pd_codex_map_slot *find_slot(struct pd_codex_map_slot *slots, size_t cap,
                                           const char *key, size_t n, uint64_t hash)
{
    size_t mask = cap - 1;
    size_t i = (size_t)hash & mask;

    for (;;) {
        struct pd_codex_map_slot *slot = &slots[i];
        if (slot->key == NULL)
            return slot;
        if (slot->hash == hash && slot->key_len == n && memcmp(slot->key, key, n) == 0)
            return slot;
        i = (i + 1) & mask;
    }
}

static int grow(pd_codex_map *m)
{
    size_t new_cap = m->cap ? m->cap * 2 : 16;
    struct pd_codex_map_slot *slots = pd_arena_calloc(m->arena, new_cap, sizeof *slots);

    if (slots == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct pd_codex_map_slot *old = &m->slots[i];
        if (old->key == NULL)
            continue;
        *find_slot(slots, new_cap, old->key, old->key_len, old->hash) = *old;
    }
    m->slots = slots;
    m->cap = new_cap;
    return PD_OK;
}

int pd_codex_map_put(pd_codex_map *m, const char *key, size_t n, void *value)
{
    uint64_t hash = pd_xxh3(key, n);

    if ((m->len + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc != PD_OK)
            return rc;
    }

    struct pd_codex_map_slot *slot = find_slot(m->slots, m->cap, key, n, hash);
    if (slot->key == NULL) {
        char *copy = pd_arena_strndup(m->arena, key, n);
        if (copy == NULL)
            return PD_ENOMEM;
        slot->key = copy;
        slot->key_len = n;
        slot->hash = hash;
        m->len++;
    }
    slot->value = value;
    return PD_OK;
}

bool pd_codex_map_get(const pd_codex_map *m, const char *key, size_t n, void **value)
{
    if (m->cap == 0)
        return false;

    struct pd_codex_map_slot *slot = find_slot(m->slots, m->cap, key, n, pd_xxh3(key, n));
    if (slot->key == NULL)
        return false;
    if (value != NULL)
        *value = slot->value;
    return true;
}

void pd_codex_map_clear(pd_codex_map *m)
{
    if (m->cap > 0)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->len = 0;
}
