/*
 * gen_drift.c -- plants controlled drift between a synced archive and its
 * corpus, so that a benchmark diff has changed and pending sessions to
 * report, as a real archive after a parser change would.
 *
 * Entry point: pd_gen_plant_drift(), from one thread. It must not run while
 * `parsediff sync` writes the same archive (it takes the write lock for its
 * transaction, so a concurrent sync waits or fails with SQLITE_BUSY).
 *
 * Stored changes go through plain SQL UPDATEs in one transaction. Appends
 * add one complete turn (whole lines, each ending in a newline) to the end
 * of a transcript, the way a live agent grows its file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/gen_corpus.h"
#include "bench/gen_internal.h"

/* Salts that keep the change choice and the append choice independent. */
enum { SALT_CHANGE = 0x43, SALT_APPEND = 0x41 };

/* Time of appended turns: 2026-01-01T00:00:00Z, after every generated session. */
static const int64_t append_base_ms = 1767225600000LL;

typedef struct stored_session {
    char *id;
    char *agent;
    char *file_path; /* NULL when the row has none */
} stored_session;

/* A uniform draw in [0, 1) fixed by the seed, a salt and a string. */
static double draw_for(uint64_t seed, uint64_t salt, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    uint64_t state = h ^ seed ^ (salt << 56);
    return (double)(gen_splitmix64(&state) >> 11) * 0x1.0p-53;
}

static char *dup_column(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    if (text == NULL)
        return NULL;
    return strdup((const char *)text);
}

static void free_sessions(stored_session *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].agent);
        free(rows[i].file_path);
    }
    free(rows);
}

static int load_sessions(sqlite3 *db, const char *db_path, stored_session **out, size_t *n_out,
                         pd_err *err)
{
    sqlite3_stmt *st = NULL;
    stored_session *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = PD_OK;
    if (sqlite3_prepare_v2(db, "SELECT id, agent, file_path FROM sessions ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = pd_err_set(err, PD_ESQLITE, "%s: reading sessions failed: %s", db_path,
                        sqlite3_errmsg(db));
        goto out;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t new_cap = cap != 0 ? cap * 2 : 1024;
            stored_session *grown = realloc(rows, new_cap * sizeof *grown);
            if (grown == NULL) {
                rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory reading sessions", db_path);
                goto out;
            }
            rows = grown;
            cap = new_cap;
        }
        stored_session *row = &rows[n++];
        row->id = dup_column(st, 0);
        row->agent = dup_column(st, 1);
        row->file_path = dup_column(st, 2);
        if (row->id == NULL || row->agent == NULL) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory reading sessions", db_path);
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = pd_err_set(err, PD_ESQLITE, "%s: reading sessions failed: %s", db_path,
                        sqlite3_errmsg(db));

out:
    sqlite3_finalize(st);
    if (rc != PD_OK) {
        free_sessions(rows, n);
        rows = NULL;
        n = 0;
    }
    *out = rows;
    *n_out = n;
    return rc;
}

/* ---- stored changes ------------------------------------------------------------- */

static const char *const change_sql[3] = {
    "UPDATE sessions SET first_message = COALESCE(first_message, '') || ' (drift)' WHERE id = ?1",
    "UPDATE messages SET content = content || ' (drift)' WHERE id ="
    " (SELECT id FROM messages WHERE session_id = ?1 ORDER BY ordinal LIMIT 1)",
    "UPDATE messages SET model = 'drift-model' WHERE id ="
    " (SELECT id FROM messages WHERE session_id = ?1 AND role = 'assistant'"
    " ORDER BY ordinal LIMIT 1)",
};

/* Runs change kind on session id; returns the number of rows it changed, or -1. */
static int run_change(sqlite3_stmt *st, const char *id)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return -1;
    return sqlite3_changes(sqlite3_db_handle(st));
}

static int plant_changes(sqlite3 *db, const pd_gen_drift_config *cfg, const stored_session *rows,
                         size_t n, bool *changed_rows, pd_gen_drift_stats *stats, pd_err *err)
{
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    int rc = PD_OK;
    bool in_tx = false;
    for (int k = 0; k < 3; k++) {
        if (sqlite3_prepare_v2(db, change_sql[k], -1, &st[k], NULL) != SQLITE_OK) {
            rc = pd_err_set(err, PD_ESQLITE, "%s: preparing a drift update failed: %s",
                            cfg->db_path, sqlite3_errmsg(db));
            goto out;
        }
    }
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = pd_err_set(err, PD_ESQLITE, "%s: BEGIN failed: %s", cfg->db_path,
                        sqlite3_errmsg(db));
        goto out;
    }
    in_tx = true;

    int64_t n_changed = 0;
    for (size_t i = 0; i < n; i++) {
        if (draw_for(cfg->seed, SALT_CHANGE, rows[i].id) >= cfg->changed_share)
            continue;
        int kind = (int)(n_changed % 3);
        int changed = run_change(st[kind], rows[i].id);
        /* A session without an assistant message gets a content change instead. */
        if (changed == 0 && kind == 2) {
            kind = 1;
            changed = run_change(st[kind], rows[i].id);
        }
        if (changed < 0) {
            rc = pd_err_set(err, PD_ESQLITE, "%s: drift update of %s failed: %s", cfg->db_path,
                            rows[i].id, sqlite3_errmsg(db));
            goto out;
        }
        if (changed == 0)
            continue;
        changed_rows[i] = true;
        n_changed++;
        if (kind == 0)
            stats->changed_first_message++;
        else if (kind == 1)
            stats->changed_content++;
        else
            stats->changed_model++;
    }

    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = pd_err_set(err, PD_ESQLITE, "%s: COMMIT failed: %s", cfg->db_path,
                        sqlite3_errmsg(db));
        goto out;
    }
    in_tx = false;

out:
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    for (int k = 0; k < 3; k++)
        sqlite3_finalize(st[k]);
    return rc;
}

/* ---- appended lines ------------------------------------------------------------- */

/* Finds the value of the last "uuid" key in the file's final 1 MB; out gets "" when none. */
static void last_uuid_of(int fd, off_t size, char out[37])
{
    out[0] = '\0';
    off_t from = size > (1 << 20) ? size - (1 << 20) : 0;
    size_t len = (size_t)(size - from);
    char *tail = malloc(len + 1);
    if (tail == NULL)
        return;
    ssize_t got = pread(fd, tail, len, from);
    if (got > 0) {
        tail[got] = '\0';
        static const char key[] = "\"uuid\":\"";
        const char *found = NULL;
        for (const char *p = tail; (p = strstr(p, key)) != NULL; p++)
            found = p;
        if (found != NULL && strlen(found) >= sizeof key - 1 + 36) {
            memcpy(out, found + sizeof key - 1, 36);
            out[36] = '\0';
        }
    }
    free(tail);
}

/* The file name without directory and ".jsonl": a Claude session id. */
static void stem_of(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strstr(out, ".jsonl");
    if (dot != NULL)
        *dot = '\0';
}

static int append_turn(const stored_session *row, uint64_t seed, int64_t k,
                       pd_gen_drift_stats *stats, pd_err *err)
{
    int fd = open(row->file_path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set(err, PD_EIO, "%s: cannot open for append: %s", row->file_path,
                          strerror(errno));
    int rc = PD_OK;
    gen_buf buf = {0};
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = pd_err_set(err, PD_EIO, "%s: stat failed: %s", row->file_path, strerror(errno));
        goto out;
    }
    /* Appending after a partial last line would corrupt that line; leave such a file alone. */
    char last = '\n';
    if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1) {
        rc = pd_err_set(err, PD_EIO, "%s: read failed: %s", row->file_path, strerror(errno));
        goto out;
    }
    if (last != '\n')
        goto out;

    /* The size joins the seed so that a second drift appends a turn with new
     * uuids, as a live agent would, rather than repeating the first. */
    gen_rng rng;
    gen_rng_seed(&rng, seed ^ ((uint64_t)st.st_size * 0x9e3779b97f4a7c15ull),
                 0x417070656e64ull + (uint64_t)k);
    int64_t when = append_base_ms + k * 1000;
    if (strcmp(row->agent, "codex") == 0) {
        gen_codex_append_turn(&buf, &rng, when);
    } else {
        char parent[37];
        char session_id[256];
        last_uuid_of(fd, st.st_size, parent);
        stem_of(row->file_path, session_id, sizeof session_id);
        gen_claude_append_turn(&buf, &rng, session_id, parent[0] != '\0' ? parent : NULL, when);
    }
    if (buf.failed) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory building the appended turn",
                        row->file_path);
        goto out;
    }
    for (size_t done = 0; done < buf.len;) {
        ssize_t w = write(fd, buf.data + done, buf.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = pd_err_set(err, PD_EIO, "%s: append failed: %s", row->file_path,
                            strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    stats->files_appended++;
    stats->bytes_appended += (int64_t)buf.len;

out:
    gen_buf_free(&buf);
    close(fd);
    return rc;
}

int pd_gen_plant_drift(const pd_gen_drift_config *cfg, pd_gen_drift_stats *stats, pd_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (!(cfg->changed_share >= 0.0 && cfg->changed_share <= 1.0) ||
        !(cfg->appended_share >= 0.0 && cfg->appended_share <= 1.0))
        return pd_err_set(err, PD_EINVAL, "drift shares must be between 0 and 1");

    gen_text_init();
    sqlite3 *db = NULL;
    stored_session *rows = NULL;
    bool *changed_rows = NULL;
    size_t n = 0;
    int rc = PD_OK;
    if (sqlite3_open_v2(cfg->db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = pd_err_set(err, PD_ESQLITE, "%s: cannot open the archive: %s", cfg->db_path,
                        db != NULL ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    rc = load_sessions(db, cfg->db_path, &rows, &n, err);
    if (rc != PD_OK)
        goto out;
    stats->sessions_seen = (int64_t)n;

    changed_rows = calloc(n + 1, sizeof *changed_rows);
    if (changed_rows == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        goto out;
    }
    if (cfg->changed_share > 0.0) {
        rc = plant_changes(db, cfg, rows, n, changed_rows, stats, err);
        if (rc != PD_OK)
            goto out;
    }

    /*
     * Every generated transcript contains one session, so choosing by row
     * chooses by file. The draw is keyed by the session id, not the path, so
     * that copies of a corpus in other directories drift alike. A changed
     * session gets no append: diff would class it raced, and the changes
     * planted would not all show as changed.
     */
    int64_t k = 0;
    for (size_t i = 0; i < n && cfg->appended_share > 0.0; i++) {
        if (rows[i].file_path == NULL || changed_rows[i])
            continue;
        if (draw_for(cfg->seed, SALT_APPEND, rows[i].id) >= cfg->appended_share)
            continue;
        rc = append_turn(&rows[i], cfg->seed, k++, stats, err);
        if (rc != PD_OK)
            goto out;
    }

out:
    free(changed_rows);
    free_sessions(rows, n);
    sqlite3_close(db);
    return rc;
}
