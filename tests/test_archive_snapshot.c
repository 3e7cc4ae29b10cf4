/*
 * test_archive_snapshot.c -- pd_archive_snapshot(): order, lookups by id and
 * by path over 10,000 rows, decoded bookkeeping, memory per row, and
 * agreement with pd_archive_load_row().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "tests/support/archive_fixture.h"

#define N_ROWS 10000

typedef struct fixture {
    char *dir;
    char *db;
    pd_arena *arena;
    pd_archive *reader;
    pd_snapshot *snap;
} fixture;

/*
 * Row i (1..N_ROWS): agent alternates claude/codex; every 4 consecutive
 * rows share a file_path except i % 10 == 0 (NULL) and i % 10 == 5 ('');
 * file_hash is valid hex for i % 3 == 0, other text for i % 3 == 1, NULL
 * otherwise; created_at falls as i rises, two rows per value, so the id
 * breaks ties.
 */
static const char populate_sql[] =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)"
    " INSERT INTO sessions (id, project, agent, file_path, file_size, file_mtime, file_inode,"
    "  file_device, file_hash, data_version, message_count, next_ordinal, deleted_at,"
    "  last_write_incremental, session_name, relationship_type, created_at)"
    " SELECT printf('session-%05d', i), 'p', CASE i % 2 WHEN 0 THEN 'claude' ELSE 'codex' END,"
    "  CASE WHEN i % 10 = 0 THEN NULL WHEN i % 10 = 5 THEN ''"
    "   ELSE printf('/projects/p%04d/s.jsonl', i / 4) END,"
    "  i * 10, i * 1000, CASE WHEN i % 7 = 0 THEN NULL ELSE i END, 2049,"
    "  CASE i % 3 WHEN 0 THEN printf('%064x', i) WHEN 1 THEN 'not-a-hash' END,"
    "  90 - i % 2, i % 50, i % 50 + 1,"
    "  CASE WHEN i % 11 = 0 THEN '2024-05-05T00:00:00Z' END, i % 2,"
    "  CASE WHEN i % 4 = 0 THEN NULL ELSE printf('name %d', i) END,"
    "  CASE WHEN i % 5 = 0 THEN 'subagent' ELSE '' END,"
    "  printf('2024-01-01T%08d', (10000 - i) / 2)"
    " FROM n";

static int setup_empty(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    fx->dir = afx_tmpdir();
    fx->db = afx_path(fx->dir, "archive.db");
    fx->arena = pd_arena_new();
    pd_archive_close(afx_create_archive(fx->db));
    *state = fx;
    return fx->arena == NULL ? -1 : 0;
}

static void open_snapshot(fixture *fx)
{
    pd_err err = {0};
    if (pd_archive_open(fx->db, PD_ARCHIVE_READONLY, &fx->reader, &err) != PD_OK)
        fail_msg("open: %s", err.msg);
    if (pd_archive_snapshot(fx->reader, &fx->snap, &err) != PD_OK)
        fail_msg("snapshot: %s", err.msg);
}

static int setup_populated(void **state)
{
    if (setup_empty(state) != 0)
        return -1;
    fixture *fx = *state;
    afx_sql(fx->db, populate_sql);
    open_snapshot(fx);
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    pd_snapshot_free(fx->snap);
    pd_archive_close(fx->reader);
    afx_rmtree(fx->dir);
    pd_arena_free(fx->arena);
    free(fx->db);
    free(fx->dir);
    free(fx);
    return 0;
}

static const char *expected_id(int i, char buf[32])
{
    snprintf(buf, 32, "session-%05d", i);
    return buf;
}

static void test_snapshot_count(void **state)
{
    fixture *fx = *state;
    assert_int_equal(pd_snapshot_count(fx->snap), N_ROWS);
    assert_null(pd_snapshot_row(fx->snap, N_ROWS));
}

/*
 * Rows come in rowid order, which here is insertion order (session-00001
 * first), even though created_at runs the other way: the snapshot does not
 * pay for a sort.
 */
static void test_snapshot_order(void **state)
{
    fixture *fx = *state;
    char buf[32];
    for (size_t pos = 0; pos < N_ROWS; pos++) {
        const pd_stored_row *row = pd_snapshot_row(fx->snap, pos);
        assert_non_null(row);
        assert_string_equal(row->id, expected_id((int)pos + 1, buf));
    }
}

static void test_find_id_every_row(void **state)
{
    fixture *fx = *state;
    char buf[32];
    for (int i = 1; i <= N_ROWS; i++) {
        const pd_stored_row *row = pd_snapshot_find_id(fx->snap, expected_id(i, buf));
        assert_non_null(row);
        assert_string_equal(row->id, buf);
        assert_int_equal(row->file_size, i * 10);
        assert_int_equal(row->file_mtime, (int64_t)i * 1000);
        assert_int_equal(row->message_count, i % 50);
        assert_int_equal(row->next_ordinal, i % 50 + 1);
        assert_int_equal(row->data_version, 90 - i % 2);
    }
    assert_null(pd_snapshot_find_id(fx->snap, "session-00000"));
    assert_null(pd_snapshot_find_id(fx->snap, "session-10001"));
    assert_null(pd_snapshot_find_id(fx->snap, ""));
    assert_null(pd_snapshot_find_id(fx->snap, NULL));
}

static void test_decoded_fields(void **state)
{
    fixture *fx = *state;
    char buf[32];
    for (int i = 1; i <= N_ROWS; i++) {
        const pd_stored_row *row = pd_snapshot_find_id(fx->snap, expected_id(i, buf));
        assert_non_null(row);
        assert_string_equal(row->agent, i % 2 == 0 ? "claude" : "codex");
        assert_string_equal(row->relationship_type, i % 5 == 0 ? "subagent" : "");
        assert_int_equal(row->is_trashed, i % 11 == 0);
        assert_int_equal(row->last_write_incremental, i % 2 == 1);
        if (i % 7 == 0)
            assert_int_equal(row->file_inode, PD_INT_NULL);
        else
            assert_int_equal(row->file_inode, i);
        if (i % 4 == 0)
            assert_null(row->session_name);
        else
            assert_non_null(row->session_name);
        if (i % 10 == 0 || i % 10 == 5)
            assert_null(row->file_path);
        else
            assert_non_null(row->file_path);

        /* The hex text printf('%064x', i) ends with i in big-endian bytes. */
        assert_int_equal(row->has_hash, i % 3 == 0);
        assert_int_equal(row->is_file_hash_invalid, i % 3 == 1);
        if (i % 3 == 0) {
            assert_int_equal(row->file_hash[31], i & 0xff);
            assert_int_equal(row->file_hash[30], (i >> 8) & 0xff);
            assert_int_equal(row->file_hash[0], 0);
        }
    }
}

static void test_find_path_groups(void **state)
{
    fixture *fx = *state;
    char path[64];
    for (int group = 0; group <= N_ROWS / 4; group++) {
        snprintf(path, sizeof path, "/projects/p%04d/s.jsonl", group);
        int expected = 0;
        for (int i = group * 4; i < group * 4 + 4; i++)
            if (i >= 1 && i <= N_ROWS && i % 10 != 0 && i % 10 != 5)
                expected++;

        const size_t *indexes = NULL;
        size_t n = pd_snapshot_find_path(fx->snap, path, &indexes);

        assert_int_equal(n, expected);
        for (size_t k = 0; k < n; k++) {
            const pd_stored_row *row = pd_snapshot_row(fx->snap, indexes[k]);
            assert_string_equal(row->file_path, path);
            if (k > 0)
                assert_true(indexes[k] > indexes[k - 1]);
        }
    }
}

static void test_find_path_misses(void **state)
{
    fixture *fx = *state;
    const size_t *indexes = (const size_t *)&indexes;

    assert_int_equal(pd_snapshot_find_path(fx->snap, "", &indexes), 0);
    assert_null(indexes);
    assert_int_equal(pd_snapshot_find_path(fx->snap, NULL, &indexes), 0);
    assert_int_equal(pd_snapshot_find_path(fx->snap, "/projects/p9999/s.jsonl", &indexes), 0);
    assert_null(indexes);
    assert_int_equal(pd_snapshot_find_path(fx->snap, "/projects/p0001/s.json", &indexes), 0);
}

static void test_memory_per_row(void **state)
{
    fixture *fx = *state;
    size_t strings = 0;
    for (size_t i = 0; i < pd_snapshot_count(fx->snap); i++) {
        const pd_stored_row *row = pd_snapshot_row(fx->snap, i);
        strings += strlen(row->id) + 1;
        if (row->file_path != NULL)
            strings += strlen(row->file_path) + 1;
        if (row->session_name != NULL)
            strings += strlen(row->session_name) + 1;
    }
    /* One partly filled 256 KiB string block and small fixed parts on top. */
    size_t slack = (256 << 10) + 4096;
    size_t bytes = pd_snapshot_bytes(fx->snap);

    assert_true(bytes >= N_ROWS * sizeof(pd_stored_row));
    assert_true(bytes <= 200 * (size_t)N_ROWS + strings + slack);
}

static void test_load_row_matches_snapshot(void **state)
{
    fixture *fx = *state;
    for (size_t pos = 0; pos < N_ROWS; pos += 997) {
        const pd_stored_row *want = pd_snapshot_row(fx->snap, pos);
        pd_stored_row got;
        bool found = false;
        pd_err err = {0};

        assert_int_equal(pd_archive_load_row(fx->reader, want->id, &got, fx->arena, &found, &err),
                         PD_OK);

        assert_true(found);
        assert_string_equal(got.id, want->id);
        assert_string_equal(got.agent, want->agent);
        assert_int_equal(got.file_size, want->file_size);
        assert_int_equal(got.file_mtime, want->file_mtime);
        assert_int_equal(got.file_inode, want->file_inode);
        assert_int_equal(got.data_version, want->data_version);
        assert_int_equal(got.has_hash, want->has_hash);
        assert_memory_equal(got.file_hash, want->file_hash, sizeof got.file_hash);
        assert_int_equal(got.is_trashed, want->is_trashed);
        assert_int_equal(got.next_ordinal, want->next_ordinal);

        char sql[160];
        snprintf(sql, sizeof sql, "SELECT rowid FROM sessions WHERE id = '%s'", want->id);
        assert_int_equal(want->rowid, afx_sql_int(fx->db, sql));
        assert_int_equal(got.rowid, want->rowid);
    }
    pd_stored_row none;
    bool found = true;
    pd_err err = {0};
    assert_int_equal(pd_archive_load_row(fx->reader, "no-such", &none, fx->arena, &found, &err),
                     PD_OK);
    assert_false(found);
}

static void test_snapshot_taken_before_write(void **state)
{
    fixture *fx = *state;
    afx_sql(fx->db, "UPDATE sessions SET file_size = 1 WHERE id = 'session-00001'");

    const pd_stored_row *old = pd_snapshot_find_id(fx->snap, "session-00001");
    pd_stored_row now;
    bool found = false;
    pd_err err = {0};
    assert_int_equal(
        pd_archive_load_row(fx->reader, "session-00001", &now, fx->arena, &found, &err), PD_OK);

    assert_int_equal(old->file_size, 10);
    assert_int_equal(now.file_size, 1);
}

static void test_empty_archive_snapshot(void **state)
{
    fixture *fx = *state;
    open_snapshot(fx);
    const size_t *indexes = NULL;

    assert_int_equal(pd_snapshot_count(fx->snap), 0);
    assert_null(pd_snapshot_row(fx->snap, 0));
    assert_null(pd_snapshot_find_id(fx->snap, "x"));
    assert_int_equal(pd_snapshot_find_path(fx->snap, "/x", &indexes), 0);
    assert_true(pd_snapshot_bytes(fx->snap) > 0);
}

static void test_uppercase_hash_and_long_path(void **state)
{
    fixture *fx = *state;
    char *long_path = malloc(200001);
    assert_non_null(long_path);
    memset(long_path, 'd', 200000);
    long_path[0] = '/';
    long_path[200000] = '\0';
    char *sql = malloc(200600);
    assert_non_null(sql);
    snprintf(sql, 200600,
             "INSERT INTO sessions (id, project, file_path, file_hash) VALUES"
             " ('upper', 'p', '%s',"
             " 'ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789'),"
             " ('short', 'p', '/s', ''),"
             " ('bad-digit', 'p', '/b',"
             " 'abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678g'),"
             " ('nul-digit', 'p', '/n',"
             " CAST(X'"
             "6162636465663031323334353637383961626364656630313233343536373839616263646566303132333"
             "4353637383961626364656630313233343536370039' AS TEXT))",
             long_path);
    afx_sql(fx->db, sql);
    open_snapshot(fx);

    const pd_stored_row *upper = pd_snapshot_find_id(fx->snap, "upper");
    const pd_stored_row *shorter = pd_snapshot_find_id(fx->snap, "short");
    const size_t *indexes = NULL;

    assert_non_null(upper);
    assert_true(upper->has_hash);
    assert_int_equal(upper->file_hash[0], 0xab);
    assert_int_equal(upper->file_hash[31], 0x89);
    assert_non_null(shorter);
    assert_false(shorter->has_hash);
    assert_false(shorter->is_file_hash_invalid);
    /* 64 characters, one of them not a hex digit: a final 'g', or a NUL byte. */
    const char *bad_ids[] = {"bad-digit", "nul-digit"};
    for (size_t i = 0; i < 2; i++) {
        const pd_stored_row *bad = pd_snapshot_find_id(fx->snap, bad_ids[i]);
        assert_non_null(bad);
        assert_false(bad->has_hash);
        assert_true(bad->is_file_hash_invalid);
    }
    assert_int_equal(pd_snapshot_find_path(fx->snap, long_path, &indexes), 1);
    assert_string_equal(pd_snapshot_row(fx->snap, indexes[0])->id, "upper");
    assert_int_equal(pd_snapshot_find_path(fx->snap, "/s", &indexes), 1);
    free(sql);
    free(long_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_count, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_order, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_find_id_every_row, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_decoded_fields, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_find_path_groups, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_find_path_misses, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_memory_per_row, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_load_row_matches_snapshot, setup_populated, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_taken_before_write, setup_populated,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_archive_snapshot, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_uppercase_hash_and_long_path, setup_empty, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
