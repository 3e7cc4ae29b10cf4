/*
 * snapshot.c -- an in-memory copy of the bookkeeping of every sessions row.
 *
 * Entry points: pd_archive_snapshot() (one query, main thread), then any
 * number of concurrent pd_snapshot_find_id(), pd_snapshot_find_path(),
 * pd_snapshot_row() and pd_snapshot_count() calls, then pd_snapshot_free().
 *
 * Layout, sized for archives of millions of rows: rows are one array of
 * pd_stored_row (144 bytes on LP64, the SHA-256 kept as 32 raw bytes);
 * strings are packed without padding into large string blocks that never
 * move, and the few distinct agent and relationship_type values are stored
 * once. Two open-addressing tables keyed by XXH3 map ids to row indexes
 * (32-bit slots) and paths to groups of row indexes. A path slot keeps 32
 * more bits of the path's hash, so a probe past other paths rarely reads
 * their strings, and each group points at its path. On 1,000,000 rows this
 * cut the collector's path lookups from 1.0 to 0.4 s of CPU time, against
 * probes that went through the group and a row to every string. With the
 * load factor kept at or below 3/4, the two indexes cost 36 to 52 bytes per
 * row on top of the row itself, and 4 more while the path index is built.
 * The total stays under 200 bytes per row plus the id and path strings.
 *
 * Threading: immutable after pd_archive_snapshot() returns.
 */
#include "archive/archive_internal.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/arena.h"
#include "common/text.h"

/* Size of one string block; a string over a quarter of it gets a block of its own. */
#define STRING_BLOCK_BYTES ((size_t)256 << 10)
/* Distinct short values (agent, relationship_type) stored once each. */
#define MAX_INTERNED 32
#define EMPTY_SLOT UINT32_MAX
#define EMPTY_PATH_SLOT UINT64_MAX

typedef struct string_block {
    struct string_block *next;
    size_t used;
    size_t cap;
    char data[];
} string_block;

/* Rows that share one file_path: path_rows[start .. start + count). */
typedef struct path_group {
    const char *path; /* the rows' file_path */
    uint32_t start;
    uint32_t count;
} path_group;

struct pd_snapshot {
    pd_stored_row *rows;
    size_t n_rows;
    size_t cap_rows;

    string_block *blocks;
    size_t string_bytes;
    const char *interned[MAX_INTERNED];
    size_t n_interned;

    uint32_t *id_slots; /* row index or EMPTY_SLOT */
    size_t id_mask;

    uint64_t *path_slots; /* hash >> 32 << 32 | group index, or EMPTY_PATH_SLOT */
    size_t path_mask;
    path_group *groups;
    size_t n_groups;
    size_t *path_rows;
    size_t n_path_rows;

    /* Ids of agentsview's excluded_sessions table (deleted by the user), sorted. */
    const char **excluded;
    size_t n_excluded;
};

static const char *copy_string(void *ctx, const char *s, size_t n)
{
    pd_snapshot *snap = ctx;
    string_block *block = snap->blocks;

    if (block == NULL || block->cap - block->used < n + 1) {
        /*
         * A long string gets a block of its own, linked behind the current
         * block so that short strings keep filling the current one.
         */
        bool is_long = n + 1 > STRING_BLOCK_BYTES / 4;
        size_t cap = is_long ? n + 1 : STRING_BLOCK_BYTES;
        block = malloc(sizeof *block + cap);
        if (block == NULL)
            return NULL;
        block->used = 0;
        block->cap = cap;
        if (is_long && snap->blocks != NULL) {
            block->next = snap->blocks->next;
            snap->blocks->next = block;
        } else {
            block->next = snap->blocks;
            snap->blocks = block;
        }
        snap->string_bytes += sizeof *block + cap;
    }
    char *out = block->data + block->used;
    memcpy(out, s, n);
    out[n] = '\0';
    block->used += n + 1;
    return out;
}

/* Like copy_string, but returns the stored copy for a value seen before. */
static const char *intern_string(void *ctx, const char *s, size_t n)
{
    pd_snapshot *snap = ctx;
    for (size_t i = 0; i < snap->n_interned; i++) {
        const char *v = snap->interned[i];
        if (strlen(v) == n && memcmp(v, s, n) == 0)
            return v;
    }
    const char *copy = copy_string(ctx, s, n);
    if (copy != NULL && snap->n_interned < MAX_INTERNED && n <= 64)
        snap->interned[snap->n_interned++] = copy;
    return copy;
}

/* Smallest power of two whose 3/4 is at least n, and at least 16. */
static size_t table_size_for(size_t n)
{
    size_t size = 16;
    while (size / 4 * 3 < n)
        size *= 2;
    return size;
}

/* Allocates a table of size slots of slot_size bytes, every one empty (all bits set). */
static void *new_slots(size_t size, size_t slot_size)
{
    void *slots = malloc(size * slot_size);
    if (slots != NULL)
        memset(slots, 0xff, size * slot_size);
    return slots;
}

static int build_id_index(pd_snapshot *snap)
{
    size_t size = table_size_for(snap->n_rows);
    snap->id_slots = new_slots(size, sizeof *snap->id_slots);
    if (snap->id_slots == NULL)
        return PD_ENOMEM;
    snap->id_mask = size - 1;

    for (size_t i = 0; i < snap->n_rows; i++) {
        const char *id = snap->rows[i].id;
        size_t slot = XXH3_64bits(id, strlen(id)) & snap->id_mask;
        while (snap->id_slots[slot] != EMPTY_SLOT)
            slot = (slot + 1) & snap->id_mask;
        snap->id_slots[slot] = (uint32_t)i;
    }
    return PD_OK;
}

/* The slot holding path's group, or the empty slot where it would go. */
static size_t find_path_slot(const pd_snapshot *snap, const char *path, uint64_t hash)
{
    uint64_t tag = hash >> 32;
    size_t slot = hash & snap->path_mask;
    for (;;) {
        uint64_t value = snap->path_slots[slot];
        if (value == EMPTY_PATH_SLOT)
            return slot;
        if (value >> 32 == tag && strcmp(snap->groups[(uint32_t)value].path, path) == 0)
            return slot;
        slot = (slot + 1) & snap->path_mask;
    }
}

/*
 * Groups the rows by file_path. First pass: count the rows of each distinct
 * path, using the group's start field to hold its first row index until
 * the counts are known. Second pass: lay the groups out contiguously in
 * path_rows, in snapshot order.
 */
static int build_path_index(pd_snapshot *snap)
{
    size_t n_pathed = 0;
    for (size_t i = 0; i < snap->n_rows; i++)
        if (snap->rows[i].file_path != NULL)
            n_pathed++;

    size_t size = table_size_for(n_pathed);
    snap->path_slots = new_slots(size, sizeof *snap->path_slots);
    snap->groups = malloc((n_pathed > 0 ? n_pathed : 1) * sizeof *snap->groups);
    snap->path_rows = malloc((n_pathed > 0 ? n_pathed : 1) * sizeof *snap->path_rows);
    uint32_t *group_of_row = malloc((snap->n_rows > 0 ? snap->n_rows : 1) * sizeof *group_of_row);
    if (snap->path_slots == NULL || snap->groups == NULL || snap->path_rows == NULL ||
        group_of_row == NULL) {
        free(group_of_row);
        return PD_ENOMEM;
    }
    snap->path_mask = size - 1;

    /* Pass 1: a group per distinct path; path_rows[start] is its first row meanwhile. */
    for (size_t i = 0; i < snap->n_rows; i++) {
        const char *path = snap->rows[i].file_path;
        group_of_row[i] = EMPTY_SLOT;
        if (path == NULL)
            continue;
        uint64_t hash = XXH3_64bits(path, strlen(path));
        size_t slot = find_path_slot(snap, path, hash);
        if (snap->path_slots[slot] == EMPTY_PATH_SLOT) {
            path_group *g = &snap->groups[snap->n_groups];
            g->path = path;
            g->start = (uint32_t)snap->n_groups;
            g->count = 0;
            snap->path_rows[snap->n_groups] = i;
            snap->path_slots[slot] = hash >> 32 << 32 | (uint64_t)snap->n_groups;
            snap->n_groups++;
        }
        group_of_row[i] = (uint32_t)snap->path_slots[slot];
        snap->groups[group_of_row[i]].count++;
    }

    /* Pass 2: prefix sums give each group its range; fill in snapshot order. */
    uint32_t next = 0;
    for (size_t g = 0; g < snap->n_groups; g++) {
        snap->groups[g].start = next;
        next += snap->groups[g].count;
        snap->groups[g].count = 0;
    }
    for (size_t i = 0; i < snap->n_rows; i++) {
        if (group_of_row[i] == EMPTY_SLOT)
            continue;
        path_group *g = &snap->groups[group_of_row[i]];
        snap->path_rows[g->start + g->count++] = i;
    }
    snap->n_path_rows = n_pathed;
    free(group_of_row);
    return PD_OK;
}

static int append_row(pd_snapshot *snap, pd_stored_row **row)
{
    if (snap->n_rows == snap->cap_rows) {
        size_t cap = snap->cap_rows == 0 ? 1024 : snap->cap_rows * 2;
        pd_stored_row *grown = realloc(snap->rows, cap * sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        snap->rows = grown;
        snap->cap_rows = cap;
    }
    *row = &snap->rows[snap->n_rows];
    return PD_OK;
}

static int compare_strings(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Reads the ids of an excluded_sessions table, where the archive has one with an id column. */
static int load_excluded(pd_archive *a, pd_snapshot *snap, pd_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int prc = sqlite3_prepare_v2(a->db, "SELECT id FROM excluded_sessions WHERE id IS NOT NULL", -1,
                                 &stmt, NULL);
    if (prc != SQLITE_OK) {
        /* An archive without the table, or without its id column, excludes nothing. */
        const char *msg = sqlite3_errmsg(a->db);
        if (prc == SQLITE_ERROR &&
            (strncmp(msg, "no such table", 13) == 0 || strncmp(msg, "no such column", 14) == 0))
            return PD_OK;
        return archive_sqlite_fail(a, prc, "read excluded sessions", err);
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        if (id == NULL)
            continue;
        if (snap->n_excluded == cap) {
            cap = cap != 0 ? cap * 2 : 16;
            const char **grown = realloc(snap->excluded, cap * sizeof *grown);
            if (grown == NULL)
                break;
            snap->excluded = grown;
        }
        const char *copy = copy_string(snap, id, (size_t)sqlite3_column_bytes(stmt, 0));
        if (copy == NULL)
            break;
        snap->excluded[snap->n_excluded++] = copy;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_ROW)
        return pd_err_set(err, PD_ENOMEM, "%s: read excluded sessions: out of memory", a->path);
    if (rc != SQLITE_DONE)
        return archive_sqlite_fail(a, rc, "read excluded sessions", err);
    if (snap->n_excluded > 1)
        qsort(snap->excluded, snap->n_excluded, sizeof *snap->excluded, compare_strings);
    return PD_OK;
}

int pd_archive_snapshot(pd_archive *a, pd_snapshot **out, pd_err *err)
{
    /* Rowid order needs no sort: ORDER BY created_at took 2.3 of 3.0 s on 1,000,000 rows. */
    static const char sql[] = "SELECT " ARCHIVE_ROW_COLUMNS ", rowid FROM sessions";
    static const char sql_no_rowid[] = "SELECT " ARCHIVE_ROW_COLUMNS ", 0 FROM sessions";
    sqlite3_stmt *stmt = NULL;
    pd_snapshot *snap = NULL;
    int result = PD_OK;

    *out = NULL;
    snap = calloc(1, sizeof *snap);
    if (snap == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: read stored sessions: out of memory", a->path);

    int rc = sqlite3_prepare_v2(a->db, a->sessions_has_rowid ? sql : sql_no_rowid, -1, &stmt, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        pd_stored_row *row = NULL;
        if (snap->n_rows >= EMPTY_SLOT) {
            result = pd_err_set(err, PD_ETOOBIG, "%s: more than %u sessions rows", a->path,
                                (unsigned)EMPTY_SLOT - 1);
            goto cleanup;
        }
        if (append_row(snap, &row) != PD_OK ||
            !archive_decode_row(stmt, row, copy_string, intern_string, snap)) {
            result = pd_err_set(err, PD_ENOMEM, "%s: read stored sessions: out of memory", a->path);
            goto cleanup;
        }
        if (row->id == NULL) {
            /* A foreign archive's TEXT primary key may be NULL; such a row cannot be looked up. */
            rc = SQLITE_OK;
            continue;
        }
        snap->n_rows++;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        result = archive_sqlite_fail(a, rc, "read stored sessions", err);
        goto cleanup;
    }

    /* Give back the growth slack of the row array: it would cost up to a row per row. */
    if (snap->n_rows > 0 && snap->n_rows < snap->cap_rows) {
        pd_stored_row *shrunk = realloc(snap->rows, snap->n_rows * sizeof *shrunk);
        if (shrunk != NULL) {
            snap->rows = shrunk;
            snap->cap_rows = snap->n_rows;
        }
    }

    if (build_id_index(snap) != PD_OK || build_path_index(snap) != PD_OK) {
        result = pd_err_set(err, PD_ENOMEM, "%s: index stored sessions: out of memory", a->path);
        goto cleanup;
    }
    result = load_excluded(a, snap, err);

cleanup:
    sqlite3_finalize(stmt);
    if (result != PD_OK) {
        pd_snapshot_free(snap);
        return result;
    }
    *out = snap;
    return PD_OK;
}

void pd_snapshot_free(pd_snapshot *s)
{
    if (s == NULL)
        return;
    string_block *block = s->blocks;
    while (block != NULL) {
        string_block *next = block->next;
        free(block);
        block = next;
    }
    free(s->rows);
    free(s->id_slots);
    free(s->path_slots);
    free(s->groups);
    free(s->path_rows);
    free(s->excluded);
    free(s);
}

size_t pd_snapshot_count(const pd_snapshot *s)
{
    return s->n_rows;
}

size_t pd_snapshot_path_count(const pd_snapshot *s)
{
    return s->n_groups;
}

const pd_stored_row *pd_snapshot_path_row(const pd_snapshot *s, size_t g)
{
    return &s->rows[s->path_rows[s->groups[g].start]];
}

const pd_stored_row *pd_snapshot_row(const pd_snapshot *s, size_t i)
{
    if (i >= s->n_rows)
        return NULL;
    return &s->rows[i];
}

const pd_stored_row *pd_snapshot_find_id(const pd_snapshot *s, const char *id)
{
    if (id == NULL)
        return NULL;
    size_t slot = XXH3_64bits(id, strlen(id)) & s->id_mask;
    while (s->id_slots[slot] != EMPTY_SLOT) {
        const pd_stored_row *row = &s->rows[s->id_slots[slot]];
        if (strcmp(row->id, id) == 0)
            return row;
        slot = (slot + 1) & s->id_mask;
    }
    return NULL;
}

bool pd_snapshot_is_excluded(const pd_snapshot *s, const char *id)
{
    return id != NULL && s->n_excluded > 0 &&
           bsearch(&id, s->excluded, s->n_excluded, sizeof *s->excluded, compare_strings) != NULL;
}

static size_t find_path_group(const pd_snapshot *s, const char *path, size_t len,
                              const size_t **out)
{
    size_t slot = find_path_slot(s, path, XXH3_64bits(path, len));
    if (s->path_slots[slot] == EMPTY_PATH_SLOT)
        return 0;
    const path_group *g = &s->groups[(uint32_t)s->path_slots[slot]];
    *out = &s->path_rows[g->start];
    return g->count;
}

size_t pd_snapshot_find_path(const pd_snapshot *s, const char *path, const size_t **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return 0;
    size_t len = strlen(path);
    size_t n = find_path_group(s, path, len, out);
    /* The archive stores every path through its sanitiser, which drops invalid
     * UTF-8 and control characters, so a name on disk with such bytes is
     * looked up in that form. Found paths, the common case, skip the check. */
    if (n > 0 || pd_utf8_is_clean(path, len))
        return n;
    pd_arena *a = pd_arena_new();
    size_t clean_len = 0;
    const char *clean = a != NULL ? pd_utf8_sanitize(a, path, len, &clean_len) : NULL;
    n = clean != NULL && clean_len > 0 ? find_path_group(s, clean, clean_len, out) : 0;
    pd_arena_free(a);
    return n;
}

size_t pd_snapshot_bytes(const pd_snapshot *s)
{
    size_t bytes = sizeof *s;
    bytes += s->cap_rows * sizeof *s->rows;
    bytes += s->string_bytes;
    bytes += (s->id_mask + 1) * sizeof *s->id_slots;
    bytes += (s->path_mask + 1) * sizeof *s->path_slots;
    bytes += s->n_path_rows * (sizeof *s->groups + sizeof *s->path_rows);
    return bytes;
}
