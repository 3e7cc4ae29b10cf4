/*
 * test_log_threads.c -- lines logged by worker threads while the collector
 * draws the progress bar on stderr. Each logged line must start a line of
 * its own and never land inside the bar, and no blank line may appear. The
 * program also runs under ThreadSanitizer (the "concurrency" label).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "report/report.h"

enum { N_LOGGERS = 2, LINES_PER_LOGGER = 2000, BAR_TICKS = 4000 };

static int64_t clock_ns;

/* A clock a second ahead at every call, so that every tick redraws the bar. */
static int64_t racing_clock(void *ctx)
{
    (void)ctx;
    clock_ns += 1000000000LL;
    return clock_ns;
}

static void *log_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_LOGGER; i++)
        PD_LOG(PD_LOG_WARN, "logger %d line %d", id, i);
    return NULL;
}

/* Redirects stderr to a new temporary file; returns the saved stderr. */
static int redirect_stderr(char *path, int *fd)
{
    *fd = mkstemp(path);
    assert_true(*fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_int_equal(dup2(*fd, STDERR_FILENO), STDERR_FILENO);
    return saved;
}

/* Restores stderr and returns what was written to the file (malloc'd), which is removed. */
static char *restore_stderr(const char *path, int fd, int saved)
{
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(fd);
    unlink(path);
    return text;
}

/* A line logged after the last drawing ends the bar's line, so freeing the bar adds no blank line.
 */
static void bar_freed_after_log_adds_no_blank_line(void **state)
{
    (void)state;
    char path[] = "/tmp/pd_log_threads_XXXXXX";
    int fd;
    int saved = redirect_stderr(path, &fd);
    pd_progress *bar = pd_progress_new_with_clock(stderr, 10, racing_clock, NULL);
    assert_non_null(bar);
    pd_progress_tick(bar, 1);
    PD_LOG(PD_LOG_ERROR, "after the bar");
    pd_progress_free(bar);
    char *text = restore_stderr(path, fd, saved);

    const char *logged = strstr(text, "\nparsediff: error: after the bar\n");
    assert_non_null(logged);
    assert_string_equal(logged, "\nparsediff: error: after the bar\n");
    free(text);
}

static void log_lines_stay_apart_from_bar(void **state)
{
    (void)state;
    char path[] = "/tmp/pd_log_threads_XXXXXX";
    int fd;
    int old_level = pd_log_get_level();
    pd_log_set_level(PD_LOG_WARN);
    int saved = redirect_stderr(path, &fd);

    pd_progress *bar = pd_progress_new_with_clock(stderr, BAR_TICKS, racing_clock, NULL);
    assert_non_null(bar);
    pthread_t loggers[N_LOGGERS];
    for (int i = 0; i < N_LOGGERS; i++)
        assert_int_equal(pthread_create(&loggers[i], NULL, log_lines, (void *)(intptr_t)i), 0);
    for (int t = 1; t <= BAR_TICKS; t++)
        pd_progress_tick(bar, t / 2);
    for (int i = 0; i < N_LOGGERS; i++)
        assert_int_equal(pthread_join(loggers[i], NULL), 0);
    pd_progress_free(bar);
    char *text = restore_stderr(path, fd, saved);
    pd_log_set_level(old_level);

    int logged = 0;
    for (char *line = text, *end; *line != '\0'; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        if (line[0] == '\0')
            fail_msg("a blank line in the output");
        bool has_log = strstr(line, "parsediff: warning: ") != NULL;
        if (has_log && strstr(line, "files/s") != NULL)
            fail_msg("a logged line inside the bar: %s", line);
        if (has_log) {
            assert_true(strncmp(line, "parsediff: warning: logger ", 27) == 0);
            logged++;
        }
    }
    assert_int_equal(logged, N_LOGGERS * LINES_PER_LOGGER);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bar_freed_after_log_adds_no_blank_line),
        cmocka_unit_test(log_lines_stay_apart_from_bar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
