/*
 * floor.c -- the floor measurement: directory walk, raw simdjson parse of
 * every source line, and a full SQLite scan of the stored rows.
 *
 * Entry points: pd_floor_walk(), pd_floor_parse(), pd_floor_scan(),
 * pd_floor_files_free(); see floor.h. Worker threads take files from one
 * atomic counter (parse) or own one rowid range per table (scan), and
 * each keeps its own counters, summed after the join.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/floor.h"
#include "bench/harness_proc.h"
#include "common/json.h"

/* How long a floor connection waits for a lock held by another reader or a writer. */
#define FLOOR_BUSY_TIMEOUT_MS 10000

/* ---- walk ----------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int add_file(pd_floor_files *f, size_t *cap, const char *path, int64_t size)
{
    if (f->n == *cap) {
        size_t new_cap = *cap != 0 ? *cap * 2 : 1024;
        char **paths = realloc(f->paths, new_cap * sizeof *paths);
        if (paths == NULL)
            return PD_ENOMEM;
        f->paths = paths;
        int64_t *sizes = realloc(f->sizes, new_cap * sizeof *sizes);
        if (sizes == NULL)
            return PD_ENOMEM;
        f->sizes = sizes;
        *cap = new_cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return PD_ENOMEM;
    f->paths[f->n] = copy;
    f->sizes[f->n] = size;
    f->n++;
    f->total_bytes += size;
    return PD_OK;
}

static int walk_dir(const char *dir, pd_floor_files *f, size_t *cap, pd_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return PD_OK;
        return pd_err_set(err, PD_EIO, "%s: cannot read directory: %s", dir, strerror(errno));
    }
    int rc = PD_OK;
    struct dirent *ent;
    while (rc == PD_OK && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (len < 0 || (size_t)len >= sizeof path) {
            rc = pd_err_set(err, PD_EIO, "%s/%s: path too long", dir, ent->d_name);
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed since readdir */
        if (S_ISDIR(st.st_mode)) {
            rc = walk_dir(path, f, cap, err);
        } else if (S_ISREG(st.st_mode) && ends_with(ent->d_name, ".jsonl")) {
            if (add_file(f, cap, path, (int64_t)st.st_size) != PD_OK)
                rc = pd_err_set(err, PD_ENOMEM, "out of memory listing %s", path);
        }
    }
    closedir(d);
    return rc;
}

typedef struct path_size {
    char *path;
    int64_t size;
} path_size;

static int compare_paths(const void *a, const void *b)
{
    return strcmp(((const path_size *)a)->path, ((const path_size *)b)->path);
}

int pd_floor_walk(const char *const *roots, size_t n_roots, pd_floor_files *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    int rc = PD_OK;
    for (size_t i = 0; i < n_roots && rc == PD_OK; i++)
        rc = walk_dir(roots[i], out, &cap, err);
    if (rc != PD_OK) {
        pd_floor_files_free(out);
        return rc;
    }

    /* Sort paths and sizes together, so a run reads files in a fixed order. */
    path_size *pairs = malloc((out->n + 1) * sizeof *pairs);
    if (pairs == NULL) {
        pd_floor_files_free(out);
        return pd_err_set(err, PD_ENOMEM, "out of memory sorting the file list");
    }
    for (size_t i = 0; i < out->n; i++)
        pairs[i] = (path_size){out->paths[i], out->sizes[i]};
    qsort(pairs, out->n, sizeof *pairs, compare_paths);
    for (size_t i = 0; i < out->n; i++) {
        out->paths[i] = pairs[i].path;
        out->sizes[i] = pairs[i].size;
    }
    free(pairs);
    return PD_OK;
}

void pd_floor_files_free(pd_floor_files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->sizes);
    memset(f, 0, sizeof *f);
}

static bool evict_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool dropped = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    close(fd);
    return dropped;
}

size_t pd_floor_evict(const pd_floor_files *f, const char *db_path)
{
    char wal[4200];
    size_t n = 0;

    for (size_t i = 0; i < f->n; i++)
        n += evict_file(f->paths[i]);
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    n += evict_file(db_path);
    n += evict_file(wal);
    return n;
}

/* ---- parse ------------------------------------------------------------------ */

typedef struct parse_shared {
    const pd_floor_files *files;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t err_lock; /* guards err */
    pd_err *err;
} parse_shared;

typedef struct parse_worker {
    parse_shared *shared;
    pd_floor_parse_stats stats; /* owned by this worker until the join */
    pthread_t thread;
} parse_worker;

static void parse_fail(parse_shared *sh, int code, const char *path, const char *what)
{
    pthread_mutex_lock(&sh->err_lock);
    pd_err_set(sh->err, code, "%s: %s", path, what);
    pthread_mutex_unlock(&sh->err_lock);
    atomic_store(&sh->failed, true);
}

/* Reads the whole file into *buf (grown as needed); returns bytes read or -1. */
static int64_t read_whole(const char *path, char **buf, size_t *cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size + 1;
    if (want > *cap) {
        char *grown = realloc(*buf, want);
        if (grown == NULL) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        *buf = grown;
        *cap = want;
    }
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t got = read(fd, *buf + len, (size_t)st.st_size - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    return (int64_t)len;
}

static void *parse_thread(void *arg)
{
    parse_worker *w = arg;
    parse_shared *sh = w->shared;
    pd_json_parser *parser = pd_json_parser_new();
    char *buf = NULL;
    size_t cap = 0;
    if (parser == NULL) {
        parse_fail(sh, PD_ENOMEM, "floor", "out of memory creating a JSON parser");
        return NULL;
    }
    while (!atomic_load(&sh->failed)) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->files->n)
            break;
        const char *path = sh->files->paths[i];
        int64_t len = read_whole(path, &buf, &cap);
        if (len < 0) {
            parse_fail(sh, PD_EIO, path, strerror(errno));
            break;
        }
        w->stats.files++;
        w->stats.bytes += len;

        const char *p = buf;
        const char *end = buf + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl != NULL ? nl : end;
            size_t n = (size_t)(stop - p);
            if (n > 0 && p[n - 1] == '\r')
                n--;
            if (n > 0) {
                pd_json root;
                w->stats.lines++;
                if (pd_json_parse(parser, p, n, &root) != PD_OK)
                    w->stats.invalid_lines++;
            }
            p = stop + 1;
        }
    }
    free(buf);
    pd_json_parser_free(parser);
    return NULL;
}

int pd_floor_parse(const pd_floor_files *f, unsigned n_threads, pd_floor_parse_stats *out,
                   pd_err *err)
{
    memset(out, 0, sizeof *out);
    parse_shared sh = {.files = f, .err = err};
    atomic_init(&sh.next, 0);
    atomic_init(&sh.failed, false);
    pthread_mutex_init(&sh.err_lock, NULL);
    unsigned n_workers = n_threads > 0 ? n_threads : 1;
    parse_worker *workers = calloc(n_workers, sizeof *workers);
    if (workers == NULL) {
        pthread_mutex_destroy(&sh.err_lock);
        return pd_err_set(err, PD_ENOMEM, "out of memory starting %u parse threads", n_workers);
    }

    double started = pd_proc_now();
    unsigned n_started = 0;
    for (unsigned t = 0; t < n_workers; t++)
        workers[t].shared = &sh;
    if (n_threads == 0) {
        parse_thread(&workers[0]);
    } else {
        for (unsigned t = 0; t < n_workers; t++) {
            if (pthread_create(&workers[t].thread, NULL, parse_thread, &workers[t]) != 0) {
                parse_fail(&sh, PD_EIO, "floor", "pthread_create failed");
                break;
            }
            n_started++;
        }
        for (unsigned t = 0; t < n_started; t++)
            pthread_join(workers[t].thread, NULL);
    }
    out->seconds = pd_proc_now() - started;

    for (unsigned t = 0; t < n_workers; t++) {
        out->files += workers[t].stats.files;
        out->bytes += workers[t].stats.bytes;
        out->lines += workers[t].stats.lines;
        out->invalid_lines += workers[t].stats.invalid_lines;
    }
    free(workers);
    pthread_mutex_destroy(&sh.err_lock);
    if (atomic_load(&sh.failed))
        return err != NULL && err->code != PD_OK ? err->code : PD_EIO;
    return PD_OK;
}

/* ---- scan -------------------------------------------------------------------- */

static const char *const scan_tables[3] = {"sessions", "messages", "tool_calls"};

typedef struct scan_worker {
    const char *db_path;
    int64_t lo[3], hi[3]; /* rowid range [lo, hi) of each table */
    int64_t rows[3];
    int64_t bytes;
    int rc;
    char msg[256];
    pthread_t thread;
} scan_worker;

static int scan_range(sqlite3 *db, scan_worker *w, int table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE rowid >= ?1 AND rowid < ?2",
             scan_tables[table]);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, w->lo[table]);
    sqlite3_bind_int64(st, 2, w->hi[table]);
    int step;
    int n_cols = sqlite3_column_count(st);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        w->rows[table]++;
        for (int c = 0; c < n_cols; c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_TEXT:
                if (sqlite3_column_text(st, c) != NULL)
                    w->bytes += sqlite3_column_bytes(st, c);
                break;
            case SQLITE_BLOB:
                if (sqlite3_column_blob(st, c) != NULL)
                    w->bytes += sqlite3_column_bytes(st, c);
                break;
            case SQLITE_INTEGER:
                w->bytes += sqlite3_column_int64(st, c) & 1;
                break;
            case SQLITE_FLOAT:
                w->bytes += sqlite3_column_double(st, c) > 0.0;
                break;
            default:
                break;
            }
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? SQLITE_OK : step;
}

static void *scan_thread(void *arg)
{
    scan_worker *w = arg;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(w->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    /* The first reader of a WAL archive rebuilds its index under a lock, so the
     * other threads' first read must wait for it instead of failing as locked. */
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, FLOOR_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int t = 0; t < 3 && rc == SQLITE_OK; t++)
        rc = scan_range(db, w, t);
    if (rc != SQLITE_OK) {
        snprintf(w->msg, sizeof w->msg, "%s", db != NULL ? sqlite3_errmsg(db) : "out of memory");
        w->rc = PD_ESQLITE;
    }
    if (db != NULL)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

/* Reads min(rowid) and max(rowid) of every table; an empty table gets [0, 0]. */
static int table_bounds(const char *db_path, int64_t lo[3], int64_t hi[3], pd_err *err)
{
    sqlite3 *db = NULL;
    int rc = PD_OK;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = pd_err_set(err, PD_ESQLITE, "%s: cannot open the archive: %s", db_path,
                        db != NULL ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, FLOOR_BUSY_TIMEOUT_MS);
    for (int t = 0; t < 3; t++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT min(rowid), max(rowid) FROM %s", scan_tables[t]);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            rc = pd_err_set(err, PD_ESQLITE, "%s: reading table %s failed: %s", db_path,
                            scan_tables[t], sqlite3_errmsg(db));
            sqlite3_finalize(st);
            goto out;
        }
        lo[t] = sqlite3_column_int64(st, 0);
        hi[t] = sqlite3_column_int64(st, 1);
        sqlite3_finalize(st);
    }
out:
    sqlite3_close(db);
    return rc;
}

int pd_floor_scan(const char *db_path, unsigned n_threads, pd_floor_scan_stats *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    double started = pd_proc_now();
    int64_t lo[3], hi[3];
    int rc = table_bounds(db_path, lo, hi, err);
    if (rc != PD_OK)
        return rc;

    unsigned n_workers = n_threads > 0 ? n_threads : 1;
    scan_worker *workers = calloc(n_workers, sizeof *workers);
    if (workers == NULL)
        return pd_err_set(err, PD_ENOMEM, "out of memory starting %u scan threads", n_workers);
    /* Split [lo, hi] of each table into n_workers consecutive ranges. */
    for (unsigned k = 0; k < n_workers; k++) {
        scan_worker *w = &workers[k];
        w->db_path = db_path;
        for (int t = 0; t < 3; t++) {
            int64_t span = hi[t] - lo[t] + 1;
            w->lo[t] = lo[t] + span * (int64_t)k / n_workers;
            w->hi[t] = lo[t] + span * (int64_t)(k + 1) / n_workers;
        }
    }

    unsigned n_started = 0;
    if (n_threads == 0) {
        scan_thread(&workers[0]);
    } else {
        for (unsigned k = 0; k < n_workers; k++) {
            if (pthread_create(&workers[k].thread, NULL, scan_thread, &workers[k]) != 0) {
                rc = pd_err_set(err, PD_EIO, "%s: pthread_create failed", db_path);
                break;
            }
            n_started++;
        }
        for (unsigned k = 0; k < n_started; k++)
            pthread_join(workers[k].thread, NULL);
    }
    out->seconds = pd_proc_now() - started;

    for (unsigned k = 0; k < n_workers; k++) {
        out->session_rows += workers[k].rows[0];
        out->message_rows += workers[k].rows[1];
        out->tool_call_rows += workers[k].rows[2];
        out->bytes += workers[k].bytes;
        if (rc == PD_OK && workers[k].rc != PD_OK)
            rc = pd_err_set(err, workers[k].rc, "%s: scan failed: %s", db_path, workers[k].msg);
    }
    free(workers);
    return rc;
}
