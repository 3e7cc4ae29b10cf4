/*
 * claude_dag.c -- splitting a Claude Code transcript's uuid tree into sessions.
 *
 * Entry point: claude_plan_branches(), called once per full parse after the
 * entries have their messages.
 *
 * Each user and assistant line names its parent by parentUuid. When every
 * entry has a uuid, there is exactly one root and every parent resolves, the
 * entries form a tree. Walking it from the root, a node with several children
 * is either a retry (the user edited a prompt or Claude Code re-ran a step)
 * or a fork (a conversation continued on two branches). The rule: when the
 * whole subtree of the first child contains at most CLAUDE_FORK_THRESHOLD real
 * user turns, only the last child is followed and the others are discarded.
 * Otherwise the walk continues on the first child and every other child
 * becomes a fork session "<stem>-<child uuid>" whose parent is the session
 * that owned the branch point. Forks nested in a fork come out before it.
 *
 * Both walks are iterative with explicit stacks and visit each entry at
 * most once, so a 100,000-entry chain, duplicated uuids or a parent cycle
 * cannot overflow the stack or loop.
 *
 * Thread-safety: works on one request's arena.
 */
#include <string.h>

#include "common/error.h"
#include "parsers/claude_internal.h"

/* Children of one uuid, in line order. */
typedef struct child_list {
    size_t *items;
    size_t n;
    size_t cap;
} child_list;

typedef struct dag {
    pd_arena *arena;
    claude_entry *entries;
    size_t n;
    claude_map by_uuid;   /* uuid -> its child_list, in the slot value */
    child_list **kids_of; /* per entry: the children of its uuid, or NULL */
    size_t root;
} dag;

static int size_push(pd_arena *a, size_t **items, size_t *n, size_t *cap, size_t value)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 8;
        size_t *grown = pd_arena_grow(a, *items, *n, grown_cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        *items = grown;
        *cap = grown_cap;
    }
    (*items)[(*n)++] = value;
    return PD_OK;
}

/* Builds the parent-to-children lists. Sets *is_tree false when the entries do not form a tree. */
static int build(dag *d, bool *is_tree)
{
    size_t n_roots = 0;

    *is_tree = false;
    claude_map_init(&d->by_uuid, d->arena);
    d->kids_of = pd_arena_calloc(d->arena, d->n, sizeof *d->kids_of);
    if (d->kids_of == NULL)
        return PD_ENOMEM;

    for (size_t i = 0; i < d->n; i++) {
        claude_map_slot *slot;
        int rc;
        if (d->entries[i].uuid[0] == '\0')
            return PD_OK;
        rc = claude_map_upsert(&d->by_uuid, d->entries[i].uuid, &slot, NULL);
        if (rc != PD_OK)
            return rc;
        if (slot->value == NULL) {
            slot->value = pd_arena_calloc(d->arena, 1, sizeof(child_list));
            if (slot->value == NULL)
                return PD_ENOMEM;
        }
    }

    for (size_t i = 0; i < d->n; i++) {
        const char *parent = d->entries[i].parent_uuid;
        claude_map_slot *slot;
        child_list *kids;
        int rc;

        d->kids_of[i] = claude_map_find(&d->by_uuid, d->entries[i].uuid)->value;
        if (parent[0] == '\0') {
            d->root = i;
            n_roots++;
            continue;
        }
        slot = claude_map_find(&d->by_uuid, parent);
        if (slot == NULL)
            return PD_OK; /* a parent outside the file, so not a tree */
        kids = slot->value;
        rc = size_push(d->arena, &kids->items, &kids->n, &kids->cap, i);
        if (rc != PD_OK)
            return rc;
    }
    *is_tree = n_roots == 1;
    return PD_OK;
}

/*
 * Counts real user turns in every subtree reachable from the root, capped
 * at CLAUDE_FORK_THRESHOLD + 1 because only the comparison matters.
 */
static int count_turns(dag *d, int64_t **out)
{
    int64_t cap = CLAUDE_FORK_THRESHOLD + 1;
    int64_t *turns = pd_arena_calloc(d->arena, d->n, sizeof *turns);
    bool *seen = pd_arena_calloc(d->arena, d->n, sizeof *seen);
    size_t *order = pd_arena_calloc(d->arena, d->n, sizeof *order);
    size_t *stack = pd_arena_calloc(d->arena, d->n, sizeof *stack);
    size_t n_order = 0, depth = 0;

    if (turns == NULL || seen == NULL || order == NULL || stack == NULL)
        return PD_ENOMEM;

    /* Each entry enters the preorder once, so the reverse order visits children before parents. */
    stack[depth++] = d->root;
    seen[d->root] = true;
    while (depth > 0) {
        size_t node = stack[--depth];
        const child_list *kids = d->kids_of[node];
        order[n_order++] = node;
        for (size_t k = 0; kids != NULL && k < kids->n; k++) {
            size_t kid = kids->items[k];
            if (!seen[kid]) {
                seen[kid] = true;
                stack[depth++] = kid;
            }
        }
    }
    for (size_t i = n_order; i > 0; i--) {
        size_t node = order[i - 1];
        const child_list *kids = d->kids_of[node];
        int64_t sum = claude_entry_is_real_user_turn(&d->entries[node]) ? 1 : 0;
        for (size_t k = 0; kids != NULL && k < kids->n && sum < cap; k++)
            sum += turns[kids->items[k]];
        turns[node] = sum < cap ? sum : cap;
    }
    *out = turns;
    return PD_OK;
}

/* One walk in progress: a branch's path so far and the forks still to walk. */
typedef struct frame {
    size_t *path;
    size_t n_path;
    size_t cap_path;
    char *session_id;
    char *parent_id;
    bool is_fork;
    size_t next;           /* entry to continue from, SIZE_MAX when the branch ended */
    const size_t *pending; /* fork children still to walk */
    size_t n_pending;
} frame;

static int push_branch(pd_arena *a, claude_branch **list, size_t *n, size_t *cap, const frame *f)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 4;
        claude_branch *grown = pd_arena_grow(a, *list, *n, grown_cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        *list = grown;
        *cap = grown_cap;
    }
    (*list)[(*n)++] = (claude_branch){f->path, f->n_path, f->session_id, f->parent_id, f->is_fork};
    return PD_OK;
}

static int walk(dag *d, const char *stem, claude_branch **out, size_t *n_out)
{
    pd_arena *a = d->arena;
    int64_t *turns = NULL;
    bool *walked = pd_arena_calloc(a, d->n, sizeof *walked);
    frame *frames = NULL;
    size_t depth = 0, cap_frames = 0;
    claude_branch *forks = NULL, *branches;
    size_t n_forks = 0, cap_forks = 0;
    claude_branch main_branch = {0};
    int rc;

    if (walked == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < d->n; i++) {
        if (d->kids_of[i] != NULL && d->kids_of[i]->n > 1) {
            rc = count_turns(d, &turns);
            if (rc != PD_OK)
                return rc;
            break;
        }
    }

    frames = pd_arena_calloc(a, 4, sizeof *frames);
    if (frames == NULL)
        return PD_ENOMEM;
    cap_frames = 4;
    frames[depth++] = (frame){.session_id = (char *)stem, .next = d->root};

    while (depth > 0) {
        frame *f = &frames[depth - 1];

        /* Walk pending forks first, each to its end, before the branch goes on. */
        if (f->n_pending > 0) {
            size_t kid = f->pending[0];
            char *fork_id;

            f->pending++;
            f->n_pending--;
            if (walked[kid])
                continue;
            fork_id = pd_arena_sprintf(a, "%s-%s", stem, d->entries[kid].uuid);
            if (fork_id == NULL)
                return PD_ENOMEM;
            if (depth == cap_frames) {
                frame *grown = pd_arena_grow(a, frames, depth, cap_frames * 2, sizeof *grown);
                if (grown == NULL)
                    return PD_ENOMEM;
                frames = grown;
                cap_frames *= 2;
                f = &frames[depth - 1];
            }
            frames[depth++] = (frame){
                .session_id = fork_id, .parent_id = f->session_id, .is_fork = true, .next = kid};
            continue;
        }

        if (f->next == SIZE_MAX) {
            if (f->is_fork) {
                rc = push_branch(a, &forks, &n_forks, &cap_forks, f);
                if (rc != PD_OK)
                    return rc;
            } else {
                main_branch = (claude_branch){f->path, f->n_path, f->session_id, NULL, false};
            }
            depth--;
            continue;
        }

        for (size_t node = f->next; node != SIZE_MAX;) {
            const child_list *kids = d->kids_of[node];

            f->next = SIZE_MAX;
            if (walked[node])
                break;
            walked[node] = true;
            rc = size_push(a, &f->path, &f->n_path, &f->cap_path, node);
            if (rc != PD_OK)
                return rc;
            if (kids == NULL || kids->n == 0)
                break;
            if (kids->n == 1) {
                node = kids->items[0];
                continue;
            }
            if (turns[kids->items[0]] <= CLAUDE_FORK_THRESHOLD) {
                node = kids->items[kids->n - 1];
                continue;
            }
            f->pending = kids->items + 1;
            f->n_pending = kids->n - 1;
            f->next = kids->items[0];
            break;
        }
    }

    branches = pd_arena_calloc(a, n_forks + 1, sizeof *branches);
    if (branches == NULL)
        return PD_ENOMEM;
    branches[0] = main_branch;
    if (n_forks > 0)
        memcpy(branches + 1, forks, n_forks * sizeof *forks);
    *out = branches;
    *n_out = n_forks + 1;
    return PD_OK;
}

static int linear_plan(claude_scan *sc, claude_branch **out, size_t *n_out)
{
    claude_branch *b = pd_arena_calloc(sc->arena, 1, sizeof *b);

    if (b == NULL)
        return PD_ENOMEM;
    if (sc->n_entries > 0) {
        b->indices = pd_arena_calloc(sc->arena, sc->n_entries, sizeof *b->indices);
        if (b->indices == NULL)
            return PD_ENOMEM;
    }
    for (size_t i = 0; i < sc->n_entries; i++)
        b->indices[i] = i;
    b->n = sc->n_entries;
    b->session_id = (char *)sc->session_id;
    *out = b;
    *n_out = 1;
    return PD_OK;
}

int claude_plan_branches(claude_scan *sc, claude_branch **out, size_t *n_out, bool *is_dag)
{
    dag d = {.arena = sc->arena, .entries = sc->entries, .n = sc->n_entries};
    bool is_tree = false;
    int rc;

    *is_dag = false;
    if (sc->n_entries > 0) {
        rc = build(&d, &is_tree);
        if (rc != PD_OK)
            return rc;
    }
    if (!is_tree)
        return linear_plan(sc, out, n_out);
    *is_dag = true;
    return walk(&d, sc->session_id, out, n_out);
}
