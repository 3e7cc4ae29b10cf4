/*
 * pins.c -- keeping agentsview's pinned messages across a full write.
 *
 * agentsview archives have a pinned_messages table whose rows name a
 * message row by id (message_id, with ON DELETE CASCADE) and copy its
 * ordinal. A full write replaces a session's message rows, so it would
 * delete every pin on them. Instead, the write first saves the session's
 * pins in a temporary table, with the source UUID, text and ordinal of each
 * pinned message. Afterwards it puts each pin on the new row of the same
 * message: the same source UUID, or for a message without one (Codex) the
 * same text. Of several such rows a pin takes the one nearest its old
 * ordinal that no earlier pin took, pins in ordinal order. Every other
 * column of a pin is kept as it was.
 *
 * Entry points: archive_pins_prepare() once per writable connection, then
 * per full write archive_pins_save() and archive_pins_restore(); see
 * archive_internal.h.
 *
 * Threading: one pd_archive per thread; see archive.h.
 */
#include "archive/archive_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"

static const char pin_clear_sql[] = "DELETE FROM temp.pd_saved_pins";

/* With ON DELETE CASCADE these pins go with their messages, but without it they would stay. */
static const char pin_unlink_sql[] =
    "DELETE FROM main.pinned_messages WHERE session_id = ?1"
    " AND message_id IN (SELECT id FROM main.messages WHERE session_id = ?1)";

/* The new rows each saved pin may go to, best first for each pin. */
static const char pin_candidates_sql[] =
    "SELECT s.rowid, m.id, m.ordinal FROM temp.pd_saved_pins AS s"
    " JOIN main.messages AS m ON m.session_id = s.session_id"
    " AND CASE WHEN s.pd_uuid <> '' THEN m.source_uuid = s.pd_uuid"
    " ELSE m.content = s.pd_content END"
    " ORDER BY s.pd_ordinal, s.rowid, abs(m.ordinal - s.pd_ordinal), m.ordinal";

/* Appends name to b as an SQL identifier in double quotes. */
static void put_identifier(pd_buf *b, const char *name)
{
    pd_buf_putc(b, '"');
    for (const char *c = name; *c != '\0'; c++) {
        if (*c == '"')
            pd_buf_putc(b, '"');
        pd_buf_putc(b, *c);
    }
    pd_buf_putc(b, '"');
}

/* Appends the ordinary columns, each as prefix."name", joined with ", ". */
static void put_columns(pd_buf *b, const char *prefix, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pd_buf_puts(b, ", ");
        if (prefix != NULL) {
            pd_buf_puts(b, prefix);
            pd_buf_putc(b, '.');
        }
        put_identifier(b, names[i]);
    }
}

/* Builds the temporary table and the statements that depend on the table's columns. */
static int build_statements(pd_archive *a, char *const *names, size_t n, pd_err *err)
{
    pd_arena *arena = pd_arena_new();
    if (arena == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", a->path);
    pd_buf b;

    pd_buf_init(&b, arena);
    pd_buf_puts(&b, "CREATE TEMP TABLE IF NOT EXISTS pd_saved_pins AS SELECT ");
    put_columns(&b, "p", names, n);
    pd_buf_puts(&b, ", m.source_uuid AS pd_uuid, m.content AS pd_content, m.ordinal AS pd_ordinal"
                    " FROM main.pinned_messages AS p JOIN main.messages AS m ON 0");
    const char *create = pd_buf_finish(&b);

    pd_buf_init(&b, arena);
    pd_buf_puts(&b, "INSERT INTO temp.pd_saved_pins SELECT ");
    put_columns(&b, "p", names, n);
    pd_buf_puts(&b,
                ", m.source_uuid, m.content, m.ordinal FROM main.pinned_messages AS p"
                " JOIN main.messages AS m ON m.id = p.message_id AND m.session_id = p.session_id"
                " WHERE p.session_id = ?1");
    const char *save = pd_buf_finish(&b);

    pd_buf_init(&b, arena);
    pd_buf_puts(&b, "INSERT INTO main.pinned_messages (");
    put_columns(&b, NULL, names, n);
    pd_buf_puts(&b, ") SELECT ");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pd_buf_puts(&b, ", ");
        if (strcmp(names[i], "message_id") == 0) {
            pd_buf_puts(&b, "?2");
        } else if (strcmp(names[i], "ordinal") == 0) {
            pd_buf_puts(&b, "?3");
        } else {
            pd_buf_puts(&b, "s.");
            put_identifier(&b, names[i]);
        }
    }
    pd_buf_puts(&b, " FROM temp.pd_saved_pins AS s WHERE s.rowid = ?1");
    const char *insert = pd_buf_finish(&b);

    int rc = PD_OK;
    if (create == NULL || save == NULL || insert == NULL)
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", a->path);
    if (rc == PD_OK)
        rc = archive_exec(a, create, "prepare the pinned messages", err);
    if (rc == PD_OK) {
        a->pin_save_sql = strdup(save);
        a->pin_insert_sql = strdup(insert);
        if (a->pin_save_sql == NULL || a->pin_insert_sql == NULL)
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", a->path);
    }
    pd_arena_free(arena);
    return rc;
}

int archive_pins_prepare(pd_archive *a, pd_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = archive_table_columns(a, "pinned_messages", true, &names, &n, err);
    if (rc == PD_OK && archive_contains_name(names, n, "session_id") &&
        archive_contains_name(names, n, "message_id"))
        rc = build_statements(a, names, n, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int archive_pins_save(pd_archive *a, const char *session_id, int64_t *saved, pd_err *err)
{
    *saved = 0;
    if (a->pin_save_sql == NULL)
        return PD_OK;
    int rc = archive_exec_cached(a, STMT_PIN_CLEAR, pin_clear_sql, "save the pinned messages", err);
    sqlite3_stmt *st = NULL;
    if (rc == PD_OK)
        rc = archive_stmt(a, STMT_PIN_SAVE, a->pin_save_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    sqlite3_bind_text(st, 1, session_id, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    archive_stmt_done(st);
    if (src != SQLITE_DONE)
        return archive_sqlite_fail(a, src, "save the pinned messages", err);
    *saved = sqlite3_changes64(a->db);
    if (*saved == 0)
        return PD_OK;

    rc = archive_stmt(a, STMT_PIN_UNLINK, pin_unlink_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    sqlite3_bind_text(st, 1, session_id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    archive_stmt_done(st);
    return src == SQLITE_DONE ? PD_OK
                              : archive_sqlite_fail(a, src, "save the pinned messages", err);
}

/* One pin's new place: the saved pin's rowid, the message row and its ordinal. */
typedef struct pin_place {
    int64_t pin;
    int64_t message_id;
    int64_t ordinal;
} pin_place;

static bool message_taken(const pin_place *places, size_t n, int64_t message_id)
{
    for (size_t i = 0; i < n; i++)
        if (places[i].message_id == message_id)
            return true;
    return false;
}

/* Picks a new row for each saved pin: rows arrive best first for each pin, pins in ordinal order.
 */
static int place_pins(pd_archive *a, int64_t saved, pin_place *places, size_t *n_places,
                      pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = archive_stmt(a, STMT_PIN_CANDIDATES, pin_candidates_sql, &st, err);
    if (rc != PD_OK)
        return rc;
    int64_t placed_pin = INT64_MIN;
    int src;
    *n_places = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pin = sqlite3_column_int64(st, 0);
        int64_t message_id = sqlite3_column_int64(st, 1);
        if (pin == placed_pin || message_taken(places, *n_places, message_id) ||
            *n_places >= (size_t)saved)
            continue;
        places[(*n_places)++] = (pin_place){
            .pin = pin, .message_id = message_id, .ordinal = sqlite3_column_int64(st, 2)};
        placed_pin = pin;
    }
    archive_stmt_done(st);
    return src == SQLITE_DONE ? PD_OK
                              : archive_sqlite_fail(a, src, "restore the pinned messages", err);
}

int archive_pins_restore(pd_archive *a, int64_t saved, int64_t *dropped, pd_err *err)
{
    *dropped = 0;
    if (saved == 0)
        return PD_OK;
    pin_place *places = calloc((size_t)saved, sizeof *places);
    if (places == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", a->path);
    size_t n_places = 0;
    int rc = place_pins(a, saved, places, &n_places, err);
    for (size_t i = 0; i < n_places && rc == PD_OK; i++) {
        sqlite3_stmt *st = NULL;
        rc = archive_stmt(a, STMT_PIN_RESTORE, a->pin_insert_sql, &st, err);
        if (rc != PD_OK)
            break;
        sqlite3_bind_int64(st, 1, places[i].pin);
        sqlite3_bind_int64(st, 2, places[i].message_id);
        sqlite3_bind_int64(st, 3, places[i].ordinal);
        int src = sqlite3_step(st);
        archive_stmt_done(st);
        if (src != SQLITE_DONE)
            rc = archive_sqlite_fail(a, src, "restore the pinned messages", err);
    }
    free(places);
    if (rc == PD_OK)
        *dropped = saved - (int64_t)n_places;
    return rc;
}
