/*
 * engine.c -- engine construction, the write guard, discovery and small
 * helpers shared by sync.c and diff.c.
 *
 * Entry points: pd_engine_new, pd_engine_free, pd_engine_run_exclusive,
 * pd_engine_supported_agents, and the internal pd_run_providers_open/close,
 * pd_discover_all, pd_strset_*, pd_stat_path. All run on the caller's
 * (main) thread.
 */
#include "engine/engine_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"

int pd_engine_new(const pd_engine_config *cfg, pd_engine_mode mode, pd_engine **out, pd_err *err)
{
    *out = NULL;
    if (cfg == NULL || cfg->db_path == NULL || cfg->db_path[0] == '\0')
        return pd_err_set(err, PD_EINVAL, "no archive path given");

    pd_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return pd_err_set(err, PD_ENOMEM, "out of memory creating the engine");
    e->cfg = *cfg;
    e->mode = mode;
    if (cfg->machine != NULL && cfg->machine[0] != '\0') {
        snprintf(e->machine, sizeof e->machine, "%s", cfg->machine);
    } else if (gethostname(e->machine, sizeof e->machine - 1) != 0 || e->machine[0] == '\0') {
        snprintf(e->machine, sizeof e->machine, "local");
    }
    e->cfg.machine = e->machine;
    *out = e;
    return PD_OK;
}

void pd_engine_free(pd_engine *e)
{
    free(e);
}

pd_engine_mode pd_engine_get_mode(const pd_engine *e)
{
    return e->mode;
}

int pd_engine_run_exclusive(pd_engine *e, int (*fn)(void *ctx, const char *db_path), void *ctx,
                            pd_err *err)
{
    if (e->mode == PD_ENGINE_REPORT_ONLY) {
        PD_LOG(PD_LOG_WARN, "refusing run_exclusive on a report-only engine");
        return pd_err_set(err, PD_EREADONLY,
                          "run_exclusive refused: this engine is report-only and never writes");
    }
    return fn(ctx, e->cfg.db_path);
}

size_t pd_engine_supported_agents(const char *const **out)
{
    static const char *names[8];
    static size_t n;
    if (n == 0) {
        const pd_provider *const *list;
        size_t count = pd_providers(&list);
        for (size_t i = 0; i < count && i < 8; i++)
            names[i] = list[i]->name;
        n = count < 8 ? count : 8;
    }
    *out = names;
    return n;
}

unsigned pd_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return (unsigned)n;
}

bool pd_row_is_local_fork(const pd_stored_row *row)
{
    return !row->is_trashed && row->agent != NULL && strcmp(row->agent, "claude") == 0 &&
           row->relationship_type != NULL && strcmp(row->relationship_type, "fork") == 0 &&
           strchr(row->id, '~') == NULL;
}

bool pd_row_hash_is(const pd_stored_row *row, const char *hex)
{
    if (!row->has_hash || hex == NULL || strlen(hex) != 64)
        return false;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        if (hex[2 * i] != digits[row->file_hash[i] >> 4] ||
            hex[2 * i + 1] != digits[row->file_hash[i] & 15])
            return false;
    }
    return true;
}

int pd_stat_path(const char *path, pd_stat_info *out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return PD_EIO;
    out->size = (int64_t)st.st_size;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + (int64_t)st.st_mtim.tv_nsec;
    out->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL + (int64_t)st.st_ctim.tv_nsec;
    out->inode = (int64_t)st.st_ino;
    out->device = (int64_t)st.st_dev;
    return PD_OK;
}

/*
 * True when mtime lies from the window before run_start up to the window
 * after now. An mtime far in the future (clock skew, an archive from
 * another host) shows no writer.
 */
static bool modified_near_run(int64_t mtime, int64_t run_start)
{
    return mtime >= run_start - PD_ZST_WRITE_WINDOW_NS &&
           mtime <= pd_time_now() + PD_ZST_WRITE_WINDOW_NS;
}

bool pd_zst_being_written(const char *path, int64_t read_size, int64_t read_mtime,
                          int64_t run_start)
{
    pd_stat_info st;
    if (modified_near_run(read_mtime, run_start) || pd_stat_path(path, &st) != PD_OK)
        return true;
    return st.size != read_size || st.mtime_ns != read_mtime ||
           modified_near_run(st.mtime_ns, run_start);
}

bool pd_same_file(const char *a, const char *b)
{
    pd_stat_info sa, sb;
    return pd_stat_path(a, &sa) == PD_OK && pd_stat_path(b, &sb) == PD_OK &&
           sa.device == sb.device && sa.inode == sb.inode;
}

/*
 * Page cache of each worker's connection. Stored-row loads walk the same
 * interior b-tree pages for every session. With SQLite's 2 MB default, a
 * 1,000,000-session archive (2.8 GB) re-read them through pread(), and
 * 16 MB cut the summed load time there from 49 s to 41 s.
 */
#define WORKER_CACHE_KIB 16384

/*
 * Bounds of a held read transaction. With a BEGIN and COMMIT per session
 * (the WAL read lock alone is two fcntl() calls), the summed stored-row
 * loads of a one-thread diff of 100,000 small sessions took 3.2 s. Sharing
 * one transaction among up to 64 loads took them to 2.3 s. While a reader
 * keeps a transaction open, a concurrent sync's checkpoint cannot pass the
 * reader's WAL position, so the transaction is short: 64 loads or 50 ms,
 * whichever comes first. It also ends before a source of 1 MiB or more is
 * parsed, which takes a few milliseconds (an estimate from the 5.4 s of
 * parsing in a diff of the 2.1 GB mixed bench corpus).
 */
#define HELD_READ_LOADS 64
#define HELD_READ_NS (50 * 1000000LL)
#define HELD_READ_MAX_SOURCE_BYTES ((size_t)1 << 20)

int pd_worker_open(const char *db_path, const atomic_bool *cancel, pd_worker **out)
{
    *out = NULL;
    pd_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return PD_ENOMEM;
    w->json = pd_json_parser_new();
    if (w->json == NULL) {
        free(w);
        return PD_ENOMEM;
    }
    pd_err err = {0};
    int rc = pd_archive_open_cancellable(db_path, PD_ARCHIVE_READONLY, cancel, &w->reader, &err);
    if (rc == PD_OK)
        rc = pd_archive_set_cache_kib(w->reader, WORKER_CACHE_KIB, &err);
    if (rc != PD_OK) {
        PD_LOG(PD_LOG_ERROR, "%s", err.msg);
        pd_archive_close(w->reader);
        pd_json_parser_free(w->json);
        free(w);
        return rc;
    }
    w->hold_max_ns = HELD_READ_NS;
    pd_project_cache_begin();
    *out = w;
    return PD_OK;
}

/* True when the held read transaction has reached its load or time bound. */
static bool held_read_expired(const pd_worker *w, int64_t now)
{
    return w->held_since_ns != 0 &&
           (w->held_loads >= HELD_READ_LOADS || now - w->held_since_ns >= w->hold_max_ns);
}

int pd_worker_hold_read(pd_worker *w, pd_err *err)
{
    int64_t now = pd_monotonic_ns();
    if (held_read_expired(w, now))
        pd_worker_release_read(w);
    if (w->held_since_ns == 0) {
        int rc = pd_archive_read_begin(w->reader, err);
        if (rc != PD_OK)
            return rc;
        w->held_since_ns = now;
        w->held_loads = 0;
    }
    w->held_loads++;
    return PD_OK;
}

void pd_worker_release_read(pd_worker *w)
{
    if (w->held_since_ns == 0)
        return;
    /* A transaction that would not end keeps its clock, so that every later
     * load tries again instead of reading an old state under a new clock. */
    if (!pd_archive_read_end(w->reader))
        return;
    w->held_since_ns = 0;
    w->held_loads = 0;
}

void pd_worker_start_parse(pd_worker *w, size_t source_bytes)
{
    if (source_bytes >= HELD_READ_MAX_SOURCE_BYTES)
        pd_worker_release_read(w);
}

void pd_worker_end_job(pd_worker *w)
{
    if (held_read_expired(w, pd_monotonic_ns()))
        pd_worker_release_read(w);
}

void pd_worker_close(pd_worker *w)
{
    if (w == NULL)
        return;
    pd_worker_release_read(w);
    pd_project_cache_end();
    pd_archive_close(w->reader);
    pd_json_parser_free(w->json);
    free(w);
}

int pd_keep_sessions_with_messages(pd_parse_result *res, const char *path, const pd_source_buf *src,
                                   pd_err *err)
{
    size_t kept = 0;
    for (size_t i = 0; i < res->n_sessions; i++) {
        if (res->sessions[i].n_messages > 0)
            res->sessions[kept++] = res->sessions[i];
    }
    res->n_sessions = kept;
    bool partial_tail = src != NULL && src->len > 0 && src->data[src->len - 1] != '\n';
    if (kept == 0 && pd_source_nul_tail(src) >= 0)
        return pd_err_set(err, PD_EFORMAT,
                          "%s: no message: its unfinished last line contains NUL bytes, which no "
                          "agent writes (a crash can leave them); restore the file from a copy or "
                          "remove it",
                          path);
    if (kept == 0 && res->malformed_lines == 1 && partial_tail)
        return PD_OK;
    if (kept == 0 && res->malformed_lines > 0)
        return pd_err_set(err, PD_EFORMAT,
                          "%s: no transcript records: %lld malformed line%s and no valid message; "
                          "restore the file from a copy, or remove it if it is no transcript",
                          path, (long long)res->malformed_lines,
                          res->malformed_lines == 1 ? "" : "s");
    return PD_OK;
}

int pd_check_archive_version(pd_archive *a, pd_err *err)
{
    int64_t v = pd_archive_user_version(a);
    if (v > PD_DATA_VERSION)
        return pd_err_set(err, PD_ESCHEMA,
                          "%s: the archive was written by a newer parser (data version %lld, this "
                          "binary has %d); use a newer parsediff",
                          pd_archive_path(a), (long long)v, PD_DATA_VERSION);
    return PD_OK;
}

/* ---- string set ------------------------------------------------------------ */

void pd_strset_init(pd_strset *s)
{
    memset(s, 0, sizeof *s);
}

void pd_strset_free(pd_strset *s)
{
    free(s->hashes);
    free(s->keys);
    memset(s, 0, sizeof *s);
}

static uint64_t strset_hash(const char *key)
{
    uint64_t h = pd_xxh3(key, strlen(key));
    return h == 0 ? 1 : h;
}

static size_t strset_slot(const uint64_t *hashes, const char *const *keys, size_t cap, uint64_t h,
                          const char *key)
{
    size_t mask = cap - 1;
    size_t i = (size_t)h & mask;
    while (hashes[i] != 0 && !(hashes[i] == h && strcmp(keys[i], key) == 0))
        i = (i + 1) & mask;
    return i;
}

static int strset_grow(pd_strset *s)
{
    size_t cap = s->cap == 0 ? 64 : s->cap * 2;
    uint64_t *hashes = calloc(cap, sizeof *hashes);
    const char **keys = calloc(cap, sizeof *keys);
    if (hashes == NULL || keys == NULL) {
        free(hashes);
        free(keys);
        return PD_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->hashes[i] == 0)
            continue;
        size_t j = strset_slot(hashes, keys, cap, s->hashes[i], s->keys[i]);
        hashes[j] = s->hashes[i];
        keys[j] = s->keys[i];
    }
    free(s->hashes);
    free(s->keys);
    s->hashes = hashes;
    s->keys = keys;
    s->cap = cap;
    return PD_OK;
}

int pd_strset_add(pd_strset *s, const char *key)
{
    /* Keep the load factor at or below one half so probes stay short. */
    if ((s->n + 1) * 2 > s->cap && strset_grow(s) != PD_OK)
        return PD_ENOMEM;
    uint64_t h = strset_hash(key);
    size_t i = strset_slot(s->hashes, s->keys, s->cap, h, key);
    if (s->hashes[i] != 0)
        return 0;
    s->hashes[i] = h;
    s->keys[i] = key;
    s->n++;
    return 1;
}

bool pd_strset_has(const pd_strset *s, const char *key)
{
    return pd_strset_get(s, key) != NULL;
}

const char *pd_strset_get(const pd_strset *s, const char *key)
{
    if (s->cap == 0)
        return NULL;
    uint64_t h = strset_hash(key);
    size_t i = strset_slot(s->hashes, s->keys, s->cap, h, key);
    return s->hashes[i] != 0 ? s->keys[i] : NULL;
}

/* ---- digest set -------------------------------------------------------------------- */

void pd_keyset_init(pd_keyset *s)
{
    memset(s, 0, sizeof *s);
}

void pd_keyset_free(pd_keyset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static size_t keyset_slot(uint64_t (*slots)[2], size_t cap, const uint64_t d[2])
{
    size_t mask = cap - 1;
    size_t i = (size_t)d[0] & mask;
    while ((slots[i][0] | slots[i][1]) != 0 && !(slots[i][0] == d[0] && slots[i][1] == d[1]))
        i = (i + 1) & mask;
    return i;
}

static int keyset_grow(pd_keyset *s)
{
    size_t cap = s->cap == 0 ? 1024 : s->cap * 2;
    uint64_t(*slots)[2] = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if ((s->slots[i][0] | s->slots[i][1]) == 0)
            continue;
        size_t j = keyset_slot(slots, cap, s->slots[i]);
        slots[j][0] = s->slots[i][0];
        slots[j][1] = s->slots[i][1];
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return PD_OK;
}

int pd_keyset_add(pd_keyset *s, const char *key)
{
    if ((s->n + 1) * 4 > s->cap * 3 && keyset_grow(s) != PD_OK)
        return PD_ENOMEM;
    uint64_t d[2];
    pd_xxh128_words(key, strlen(key), d);
    if ((d[0] | d[1]) == 0)
        d[1] = 1;
    size_t i = keyset_slot(s->slots, s->cap, d);
    if ((s->slots[i][0] | s->slots[i][1]) != 0)
        return 0;
    s->slots[i][0] = d[0];
    s->slots[i][1] = d[1];
    s->n++;
    return 1;
}

/* ---- sources ----------------------------------------------------------------------- */

static int copy_optional(pd_arena *arena, const char *in, const char **out)
{
    *out = NULL;
    if (in == NULL)
        return PD_OK;
    *out = pd_arena_strdup(arena, in);
    return *out != NULL ? PD_OK : PD_ENOMEM;
}

int pd_job_source_copy(pd_arena *arena, const pd_job_source *in, pd_job_source *out)
{
    *out = *in;
    int rc = copy_optional(arena, in->src.path, &out->src.path);
    if (rc == PD_OK)
        rc = copy_optional(arena, in->src.project_hint, &out->src.project_hint);
    if (rc == PD_OK)
        rc = copy_optional(arena, in->src.dedupe_key, &out->src.dedupe_key);
    return rc;
}

/* ---- read-ahead -------------------------------------------------------------------- */

int pd_read_ahead_source(pd_read_ahead *ra, const char *path, pd_source_buf *buf, pd_err *err)
{
    int rc = pd_source_read(path, -1, buf, err);
    uint64_t n = __atomic_add_fetch(&ra->reads, 1, __ATOMIC_RELAXED);

    if (rc != PD_OK || !buf->uncached)
        return rc;
    uint64_t prev = __atomic_exchange_n(&ra->last_uncached, n, __ATOMIC_RELAXED);
    /* Another worker's read may have counted later and recorded first. */
    uint64_t apart = n > prev ? n - prev : prev - n;
    if (prev != 0 && apart <= PD_READ_AHEAD_WINDOW && !__atomic_load_n(&ra->cold, __ATOMIC_RELAXED))
        __atomic_store_n(&ra->cold, true, __ATOMIC_RELAXED);
    return rc;
}

void pd_read_ahead_queue(pd_read_ahead *ra, const char *path)
{
    if (!__atomic_load_n(&ra->cold, __ATOMIC_RELAXED))
        return;
    switch (pd_source_prefetch(path)) {
    case PD_PREFETCH_STARTED:
        ra->cached_run = 0;
        break;
    case PD_PREFETCH_CACHED:
        if (++ra->cached_run >= PD_READ_AHEAD_CACHED_RUN) {
            ra->cached_run = 0;
            __atomic_store_n(&ra->cold, false, __ATOMIC_RELAXED);
        }
        break;
    case PD_PREFETCH_NONE:
        break;
    }
}

/* ---- providers and discovery ----------------------------------------------- */

/* True when path lies below a root of agent among the run's providers. */
static bool under_agent_root(const pd_engine *e, const pd_run_providers *rp, const char *agent,
                             const char *path)
{
    bool requested = false;
    for (size_t i = 0; i < rp->n && !requested; i++)
        requested = strcmp(agent, rp->list[i]->name) == 0;
    if (!requested)
        return false;
    for (size_t r = 0; r < e->cfg.n_roots; r++) {
        const char *root = e->cfg.roots[r].root;
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
            n--;
        if (strcmp(e->cfg.roots[r].agent, agent) == 0 && strncmp(path, root, n) == 0 &&
            (path[n] == '/' || (n == 1 && root[0] == '/')))
            return true;
    }
    return false;
}

bool pd_row_hash_covers(const pd_stored_row *row, size_t len)
{
    return row->has_hash && row->file_size != PD_INT_NULL &&
           (uint64_t)row->file_size == (uint64_t)len;
}

bool pd_row_written_from(const pd_stored_row *row, const char *digest, size_t len)
{
    if (digest == NULL || !pd_row_hash_covers(row, len))
        return false;
    char stored[PD_SHA256_HEX_LEN + 1];
    pd_sha256_raw_hex(row->file_hash, stored);
    return strcmp(stored, digest) == 0;
}

int64_t pd_stored_sources(const pd_engine *e, const pd_snapshot *snap, const pd_run_providers *rp)
{
    int64_t n = 0;
    size_t paths = snap != NULL ? pd_snapshot_path_count(snap) : 0;
    for (size_t g = 0; g < paths; g++) {
        const pd_stored_row *row = pd_snapshot_path_row(snap, g);
        if (row->agent != NULL && row->file_path != NULL && row->file_path[0] != '\0' &&
            under_agent_root(e, rp, row->agent, row->file_path))
            n++;
    }
    return n;
}

static bool agent_requested(const char *name, const char *const *agents, size_t n_agents)
{
    if (agents == NULL || n_agents == 0)
        return true;
    for (size_t i = 0; i < n_agents; i++) {
        if (strcmp(agents[i], name) == 0)
            return true;
    }
    return false;
}

int pd_run_providers_open(const pd_engine *e, const char *const *agents, size_t n_agents,
                          pd_run_providers *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    const pd_provider *const *list;
    size_t count = pd_providers(&list);

    for (size_t i = 0; i < count && out->n < 8; i++) {
        const pd_provider *p = list[i];
        if (!agent_requested(p->name, agents, n_agents))
            continue;

        const char *roots[64];
        size_t n_roots = 0;
        for (size_t r = 0; r < e->cfg.n_roots && n_roots < 64; r++) {
            if (strcmp(e->cfg.roots[r].agent, p->name) == 0)
                roots[n_roots++] = e->cfg.roots[r].root;
        }
        if (n_roots == 0)
            continue;

        void *shared = NULL;
        if (p->open_shared != NULL) {
            int rc = p->open_shared(roots, n_roots, &shared, err);
            if (rc != PD_OK) {
                pd_run_providers_close(out);
                return rc;
            }
        }
        out->list[out->n] = p;
        out->shared[out->n] = shared;
        out->n++;
    }
    return PD_OK;
}

void pd_run_providers_close(pd_run_providers *rp)
{
    for (size_t i = 0; i < rp->n; i++) {
        if (rp->list[i]->close_shared != NULL && rp->shared[i] != NULL)
            rp->list[i]->close_shared(rp->shared[i]);
    }
    memset(rp, 0, sizeof *rp);
}

typedef struct discover_ctx {
    const pd_provider *provider;
    size_t provider_index;
    pd_keyset *seen;
    pd_arena *arena;
    pd_job_source_fn emit;
    void *emit_ctx;
    /* Undated Codex copies wait until the agent's discovery ends, so that a
     * dated copy of the same session wins wherever it is found. */
    pd_source *held;
    size_t n_held;
    size_t cap_held;
    pd_discover_drops *drops; /* may be NULL */
} discover_ctx;

static int discover_emit(void *ctx_, const pd_source *src)
{
    discover_ctx *ctx = ctx_;
    if (src->path == NULL || src->path[0] == '\0')
        return PD_OK;
    if (src->list_errno != 0) {
        /* An unlistable directory has no dedupe key: pass it on as it is. */
        pd_job_source js = {
            .provider = ctx->provider, .src = *src, .provider_index = ctx->provider_index};
        return ctx->emit(ctx->emit_ctx, &js);
    }

    if (src->dedupe_key != NULL && !src->is_dated) {
        if (ctx->n_held == ctx->cap_held) {
            size_t cap = ctx->cap_held == 0 ? 16 : ctx->cap_held * 2;
            pd_source *grown =
                pd_arena_grow(ctx->arena, ctx->held, ctx->n_held, cap, sizeof *grown);
            if (grown == NULL)
                return PD_ENOMEM;
            ctx->held = grown;
            ctx->cap_held = cap;
        }
        pd_job_source source_copy = {.src = *src};
        if (pd_job_source_copy(ctx->arena, &source_copy, &source_copy) != PD_OK)
            return PD_ENOMEM;
        ctx->held[ctx->n_held++] = source_copy.src;
        return PD_OK;
    }

    /* The set is per provider, so a path is its own key. */
    const char *key = src->dedupe_key != NULL ? src->dedupe_key : src->path;
    int added = pd_keyset_add(ctx->seen, key);
    if (added < 0)
        return added;
    if (added == 0) {
        if (src->dedupe_key != NULL && ctx->drops != NULL && ctx->drops->n++ == 0) {
            ctx->drops->example = pd_arena_strdup(ctx->arena, src->path);
            if (ctx->drops->example == NULL)
                return PD_ENOMEM;
        }
        return PD_OK;
    }

    pd_job_source js = {
        .provider = ctx->provider, .src = *src, .provider_index = ctx->provider_index};
    return ctx->emit(ctx->emit_ctx, &js);
}

int pd_discover_all(const pd_engine *e, const pd_run_providers *rp, pd_arena *arena,
                    pd_job_source_fn emit, void *ctx, pd_discover_drops *drops, pd_err *err)
{
    int rc = PD_OK;

    for (size_t i = 0; i < rp->n && rc == PD_OK; i++) {
        const pd_provider *p = rp->list[i];
        /* Paths and session keys already emitted for this provider. */
        pd_keyset seen;
        pd_keyset_init(&seen);
        discover_ctx dc = {.provider = p,
                           .provider_index = i,
                           .seen = &seen,
                           .arena = arena,
                           .emit = emit,
                           .emit_ctx = ctx,
                           .drops = drops};

        for (size_t r = 0; r < e->cfg.n_roots && rc == PD_OK; r++) {
            if (strcmp(e->cfg.roots[r].agent, p->name) != 0)
                continue;
            rc = p->discover(e->cfg.roots[r].root, arena, discover_emit, &dc, err);
            if (rc != PD_OK && err != NULL && err->code == PD_OK)
                pd_err_set(err, rc, "%s discovery under %s failed", p->name, e->cfg.roots[r].root);
        }

        /* Undated copies: one per UUID is read, and none where a dated one was. */
        pd_keyset held_seen;
        pd_keyset_init(&held_seen);
        for (size_t h = 0; h < dc.n_held && rc == PD_OK; h++) {
            int first = pd_keyset_add(&held_seen, dc.held[h].dedupe_key);
            if (first < 0) {
                rc = first;
                break;
            }
            if (first == 0) {
                /* A second undated rollout of the session: left out like a dated one. */
                if (drops != NULL && drops->n++ == 0) {
                    drops->example = pd_arena_strdup(arena, dc.held[h].path);
                    if (drops->example == NULL)
                        rc = PD_ENOMEM;
                }
                continue;
            }
            int added = pd_keyset_add(&seen, dc.held[h].dedupe_key);
            if (added < 0) {
                rc = added;
                break;
            }
            if (added == 0)
                continue;
            pd_job_source js = {.provider = p, .src = dc.held[h], .provider_index = i};
            rc = emit(ctx, &js);
        }
        pd_keyset_free(&held_seen);
        pd_keyset_free(&seen);
    }

    return rc;
}
