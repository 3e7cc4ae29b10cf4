/*
 * test_arena.c -- tests of the arena and pd_buf, plus the small common/
 * pieces that have no test program of their own: the error table, pd_err,
 * pd_session_init and the logger.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "common/model.h"

static void arena_alloc_alignment(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    for (size_t n = 1; n < 200; n += 7) {
        void *p = pd_arena_alloc(a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, n);
    }
    pd_arena_free(a);
}

static void arena_large_allocation(void **state)
{
    (void)state;
    const size_t big = (size_t)50 << 20;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    char *small_before = pd_arena_alloc(a, 32);
    assert_non_null(small_before);
    char *p = pd_arena_alloc(a, big);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    memset(p, 'x', big);
    assert_int_equal(p[big - 1], 'x');
    assert_true(pd_arena_bytes(a) >= big);

    /* Small requests keep working after the dedicated block. */
    char *small_after = pd_arena_alloc(a, 32);
    assert_non_null(small_after);
    assert_true(small_after < p || small_after >= p + big);
    pd_arena_free(a);
}

static void arena_many_blocks(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    size_t first_bytes = pd_arena_bytes(a);

    /* 20 MB in 1 KiB pieces forces several geometric blocks. */
    for (int i = 0; i < 20 * 1024; i++) {
        char *p = pd_arena_alloc(a, 1024);
        assert_non_null(p);
        p[0] = (char)i;
        p[1023] = (char)i;
    }
    assert_true(pd_arena_bytes(a) > first_bytes);

    pd_arena_reset(a);
    assert_int_equal(pd_arena_bytes(a), first_bytes);
    assert_non_null(pd_arena_alloc(a, 100));
    pd_arena_free(a);
}

/* Fills n pieces of 4 KiB from a, each with its index, and returns them. */
static char **fill_pieces(pd_arena *a, int n, char tag)
{
    char **pieces = calloc((size_t)n, sizeof *pieces);
    assert_non_null(pieces);
    for (int i = 0; i < n; i++) {
        pieces[i] = pd_arena_alloc(a, 4096);
        assert_non_null(pieces[i]);
        memset(pieces[i], tag, 4096);
        memcpy(pieces[i], &i, sizeof i);
    }
    return pieces;
}

static void check_pieces(char **pieces, int n, char tag)
{
    for (int i = 0; i < n; i++) {
        int got = -1;
        memcpy(&got, pieces[i], sizeof got);
        assert_int_equal(got, i);
        assert_int_equal(pieces[i][4095], tag);
    }
}

/* Freed arenas hand their blocks to the next ones. Two live arenas that
 * both took blocks from that cache must never share a byte. */
static void arena_reused_blocks_are_not_shared(void **state)
{
    (void)state;
    enum { PIECES = 2048 }; /* 8 MiB: the first block and several doublings */
    for (int round = 0; round < 3; round++) {
        pd_arena *old = pd_arena_new();
        assert_non_null(old);
        free(fill_pieces(old, PIECES, 'o'));
        pd_arena_free(old);

        pd_arena *x = pd_arena_new();
        pd_arena *y = pd_arena_new();
        assert_non_null(x);
        assert_non_null(y);
        char **px = fill_pieces(x, PIECES, 'x');
        char **py = fill_pieces(y, PIECES, 'y');
        check_pieces(px, PIECES, 'x');
        check_pieces(py, PIECES, 'y');
        free(px);
        free(py);
        pd_arena_reset(x);
        pd_arena_free(x);
        pd_arena_free(y);
    }
}

static void arena_calloc_zeroed(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    /* Dirty the first block, then reset, so calloc must really clear. */
    memset(pd_arena_alloc(a, 4096), 0xFF, 4096);
    pd_arena_reset(a);
    unsigned char *p = pd_arena_calloc(a, 512, 8);
    assert_non_null(p);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(p[i], 0);
    pd_arena_free(a);
}

static void arena_calloc_overflow(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    assert_null(pd_arena_calloc(a, SIZE_MAX / 2, 4));
    assert_null(pd_arena_alloc(a, SIZE_MAX));
    assert_null(pd_arena_grow(a, NULL, 0, SIZE_MAX / 2, 8));
    pd_arena_free(a);
}

static void arena_grow_keeps_contents(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    int *items = NULL;
    size_t count = 0, cap = 0;

    for (int i = 0; i < 100000; i++) {
        if (count == cap) {
            size_t new_cap = cap == 0 ? 4 : cap * 2;
            items = pd_arena_grow(a, items, count, new_cap, sizeof *items);
            assert_non_null(items);
            cap = new_cap;
        }
        items[count++] = i;
        /* An unrelated allocation between grows stops in-place growth. */
        if (i % 1000 == 0)
            assert_non_null(pd_arena_alloc(a, 24));
    }
    for (int i = 0; i < 100000; i++)
        assert_int_equal(items[i], i);
    pd_arena_free(a);
}

static void arena_grow_from_null(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    long *p = pd_arena_grow(a, NULL, 5, 3, sizeof *p);
    assert_non_null(p);
    p[0] = 1;
    p[2] = 3;
    assert_int_equal(p[2], 3);
    pd_arena_free(a);
}

static void arena_string_copies(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);

    char *s = pd_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_string_equal(pd_arena_strdup(a, "abc"), "abc");
    assert_null(pd_arena_strdup(a, NULL));
    assert_string_equal(pd_arena_strndup(a, "", 0), "");

    char *f = pd_arena_sprintf(a, "%s-%d-%05.1f", "x", 42, 3.5);
    assert_string_equal(f, "x-42-003.5");

    /* A formatted string longer than the first block. */
    char *long_text = pd_arena_sprintf(a, "%0*d", 200000, 7);
    assert_non_null(long_text);
    assert_int_equal(strlen(long_text), 200000);
    assert_int_equal(long_text[199999], '7');

    /* Strings formatted into a block's free space stay intact while later ones fill it. */
    enum { N_FORMATTED = 5000 };
    char **items = calloc(N_FORMATTED, sizeof *items);
    assert_non_null(items);
    for (int i = 0; i < N_FORMATTED; i++) {
        items[i] = pd_arena_sprintf(a, "item-%0*d", i % 40, i);
        assert_non_null(items[i]);
    }
    for (int i = 0; i < N_FORMATTED; i++) {
        char want[64];
        snprintf(want, sizeof want, "item-%0*d", i % 40, i);
        assert_string_equal(items[i], want);
    }
    free(items);
    pd_arena_free(a);
}

static void arena_free_null(void **state)
{
    (void)state;
    pd_arena_free(NULL);
    pd_arena_reset(NULL);
    assert_int_equal(pd_arena_bytes(NULL), 0);
}

static void buf_printf_many(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    pd_buf b;
    char expected[16];

    pd_buf_init(&b, a);
    for (int i = 0; i < 10000; i++)
        pd_buf_printf(&b, "%d,", i);
    char *s = pd_buf_finish(&b);
    assert_non_null(s);
    assert_int_equal(b.failed, 0);
    assert_int_equal(strlen(s), b.len);
    assert_memory_equal(s, "0,1,2,3,", 8);
    snprintf(expected, sizeof expected, "%d,", 9999);
    assert_string_equal(s + b.len - strlen(expected), expected);
    pd_arena_free(a);
}

static void buf_append_mixed(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    pd_buf b;

    pd_buf_init(&b, a);
    pd_buf_puts(&b, "ab");
    pd_buf_putc(&b, 'c');
    pd_buf_append(&b, "d\0e", 3);
    pd_buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 6);
    char *s = pd_buf_finish(&b);
    assert_memory_equal(s, "abcd\0e", 7);
    pd_arena_free(a);
}

static void buf_finish_empty(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    pd_buf b;

    pd_buf_init(&b, a);
    char *s = pd_buf_finish(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    pd_arena_free(a);
}

static void buf_failure_sticks(void **state)
{
    (void)state;
    pd_arena *a = pd_arena_new();
    assert_non_null(a);
    pd_buf b;

    pd_buf_init(&b, a);
    pd_buf_puts(&b, "abc");
    pd_buf_append(&b, "x", SIZE_MAX - 1);
    assert_int_not_equal(b.failed, 0);
    pd_buf_puts(&b, "more");
    assert_null(pd_buf_finish(&b));
    pd_arena_free(a);
}

static void error_table_names(void **state)
{
    (void)state;
    assert_string_equal(pd_strerror_name(PD_OK), "PD_OK");
    assert_string_equal(pd_strerror_name(PD_EIO), "PD_EIO");
    assert_string_equal(pd_strerror_name(PD_EINTERNAL), "PD_EINTERNAL");
    assert_string_equal(pd_strerror_name(12345), "PD_E?");
    assert_string_equal(pd_strerror(PD_EJSON), "invalid JSON");
    assert_string_equal(pd_strerror(PD_EZSTD), "zstd decompression failed");
    assert_non_null(pd_strerror(-999));
}

static void error_first_wins(void **state)
{
    (void)state;
    pd_err err;
    memset(&err, 0, sizeof err);

    assert_int_equal(pd_err_set(&err, PD_EIO, "%s: cannot open: %s", "/x", "denied"), PD_EIO);
    assert_int_equal(pd_err_set(&err, PD_EJSON, "later"), PD_EJSON);
    assert_int_equal(err.code, PD_EIO);
    assert_string_equal(err.msg, "/x: cannot open: denied");
#ifndef NDEBUG
    assert_non_null(err.origin_file);
    assert_true(err.origin_line > 0);
#endif

    pd_err_clear(&err);
    assert_int_equal(err.code, PD_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(pd_err_set(&err, PD_EJSON, "second use"), PD_EJSON);
    assert_string_equal(err.msg, "second use");
}

static void error_null_and_long(void **state)
{
    (void)state;
    pd_err err;
    char long_text[2000];
    memset(&err, 0, sizeof err);
    memset(long_text, 'y', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';

    assert_int_equal(pd_err_set(NULL, PD_ENOMEM, "ignored"), PD_ENOMEM);
    pd_err_set(&err, PD_EINVAL, "%s", long_text);
    assert_int_equal(strlen(err.msg), PD_ERR_MSG_MAX - 1);
    pd_err_clear(NULL);
}

static void session_init_nulls(void **state)
{
    (void)state;
    pd_session s;
    memset(&s, 0x5A, sizeof s);

    pd_session_init(&s);
    assert_true(s.file_size == PD_INT_NULL);
    assert_true(s.file_mtime == PD_INT_NULL);
    assert_true(s.file_inode == PD_INT_NULL);
    assert_true(s.file_device == PD_INT_NULL);
    assert_true(s.claude_linear_parse == PD_INT_NULL);
    assert_null(s.id);
    assert_null(s.messages);
    assert_int_equal(s.n_messages, 0);
    assert_int_equal(s.message_count, 0);
    assert_false(s.needs_retry);
}

static void log_level_names(void **state)
{
    (void)state;
    assert_int_equal(pd_log_level_from_name("error"), PD_LOG_ERROR);
    assert_int_equal(pd_log_level_from_name("warn"), PD_LOG_WARN);
    assert_int_equal(pd_log_level_from_name("info"), PD_LOG_INFO);
    assert_int_equal(pd_log_level_from_name("debug"), PD_LOG_DEBUG);
    assert_int_equal(pd_log_level_from_name("WARN"), -1);
    assert_int_equal(pd_log_level_from_name(""), -1);
    assert_int_equal(pd_log_level_from_name(NULL), -1);
}

/* Runs PD_LOG lines with stderr redirected to a file and returns what was written. */
static char *capture_log(int level, const char *message)
{
    char path[] = "/tmp/pd_log_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    static char text[8192];
    ssize_t n;

    assert_true(fd >= 0);
    assert_true(saved >= 0);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    PD_LOG(level, "%s", message);
    dup2(saved, STDERR_FILENO);
    close(saved);

    lseek(fd, 0, SEEK_SET);
    n = read(fd, text, sizeof text - 1);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return text;
}

static void log_line_format(void **state)
{
    (void)state;
    int old = pd_log_get_level();

    pd_log_set_level(PD_LOG_WARN);
    assert_string_equal(capture_log(PD_LOG_WARN, "disk full"), "parsediff: warning: disk full\n");
    assert_string_equal(capture_log(PD_LOG_ERROR, "bad"), "parsediff: error: bad\n");
    assert_string_equal(capture_log(PD_LOG_INFO, "hidden"), "");

    pd_log_set_level(PD_LOG_DEBUG);
    assert_string_equal(capture_log(PD_LOG_DEBUG, "shown"), "parsediff: debug: shown\n");
    pd_log_set_level(old);
}

/* A line logged while a progress line is open starts on a line of its own, and only that one. */
static void log_ends_open_progress_line(void **state)
{
    (void)state;
    int old = pd_log_get_level();
    pd_log_set_level(PD_LOG_WARN);

    pd_log_lock_stderr();
    pd_log_unlock_stderr(true);
    assert_string_equal(capture_log(PD_LOG_WARN, "first"), "\nparsediff: warning: first\n");
    assert_string_equal(capture_log(PD_LOG_WARN, "second"), "parsediff: warning: second\n");

    /* A long line that needs a heap buffer gets the newline too. */
    char message[2000];
    memset(message, 'm', sizeof message - 1);
    message[sizeof message - 1] = '\0';
    pd_log_lock_stderr();
    pd_log_unlock_stderr(true);
    char *out = capture_log(PD_LOG_ERROR, message);
    assert_int_equal(out[0], '\n');
    assert_int_equal(strlen(out), 1 + strlen("parsediff: error: ") + sizeof message - 1 + 1);

    pd_log_lock_stderr();
    pd_log_unlock_stderr(false);
    assert_string_equal(capture_log(PD_LOG_WARN, "closed"), "parsediff: warning: closed\n");
    pd_log_set_level(old);
}

static void log_long_line(void **state)
{
    (void)state;
    char message[5000];
    memset(message, 'm', sizeof message - 1);
    message[sizeof message - 1] = '\0';

    char *out = capture_log(PD_LOG_ERROR, message);
    assert_int_equal(strlen(out), strlen("parsediff: error: ") + sizeof message - 1 + 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_alloc_alignment),
        cmocka_unit_test(arena_large_allocation),
        cmocka_unit_test(arena_many_blocks),
        cmocka_unit_test(arena_reused_blocks_are_not_shared),
        cmocka_unit_test(arena_calloc_zeroed),
        cmocka_unit_test(arena_calloc_overflow),
        cmocka_unit_test(arena_grow_keeps_contents),
        cmocka_unit_test(arena_grow_from_null),
        cmocka_unit_test(arena_string_copies),
        cmocka_unit_test(arena_free_null),
        cmocka_unit_test(buf_printf_many),
        cmocka_unit_test(buf_append_mixed),
        cmocka_unit_test(buf_finish_empty),
        cmocka_unit_test(buf_failure_sticks),
        cmocka_unit_test(error_table_names),
        cmocka_unit_test(error_first_wins),
        cmocka_unit_test(error_null_and_long),
        cmocka_unit_test(session_init_nulls),
        cmocka_unit_test(log_level_names),
        cmocka_unit_test(log_line_format),
        cmocka_unit_test(log_long_line),
        cmocka_unit_test(log_ends_open_progress_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
