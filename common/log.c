/*
 * log.c -- levelled logging to stderr.
 *
 * Entry points: pd_log_set_level() once at start-up (cli/), then PD_LOG()
 * from anywhere, which calls pd_log_get_level() and pd_log_write().
 * pd_log_level_from_name() maps the PD_LOG_LEVEL names to levels.
 *
 * Threading: the level is a relaxed atomic because readers only need some
 * recent value. Each line, prefix "parsediff: <level>: " included, goes out in
 * one write() so that lines from different threads do not interleave.
 */
#include "common/log.h"
#include "common/text.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level = PD_LOG_WARN;
/*
 * Set while a progress line without its newline is on stderr. The lock
 * orders a drawing of the bar with its update of the flag against a logged
 * line, so that a line cannot land inside a bar being drawn.
 */
static bool open_line;
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

bool pd_log_lock_stderr(void)
{
    pthread_mutex_lock(&stderr_lock);
    return open_line;
}

void pd_log_unlock_stderr(bool line_open)
{
    open_line = line_open;
    pthread_mutex_unlock(&stderr_lock);
}

/* Names PD_LOG_LEVEL accepts, and the words that begin a line of each level. */
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const line_labels[] = {"error", "warning", "info", "debug"};

void pd_log_set_level(int level)
{
    if (level < PD_LOG_ERROR)
        level = PD_LOG_ERROR;
    if (level > PD_LOG_DEBUG)
        level = PD_LOG_DEBUG;
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int pd_log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int pd_log_level_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    return -1;
}

static void write_all_once(const char *s, size_t n)
{
    ssize_t w;

    /* Retry only on EINTR: a second write() could interleave with another thread's line. */
    do {
        w = write(STDERR_FILENO, s, n);
    } while (w < 0 && errno == EINTR);
}

void pd_log_write(int level, const char *fmt, ...)
{
    char stack_line[1024];
    char *line = stack_line;
    const char *name;
    va_list ap, measure;
    int prefix_len, body_len;
    size_t total;
    int saved_errno = errno;

    if (level < PD_LOG_ERROR)
        level = PD_LOG_ERROR;
    if (level > PD_LOG_DEBUG)
        level = PD_LOG_DEBUG;
    name = line_labels[level];

    va_start(ap, fmt);
    va_copy(measure, ap);
    body_len = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    prefix_len = snprintf(NULL, 0, "parsediff: %s: ", name);
    if (body_len < 0 || prefix_len < 0) {
        va_end(ap);
        errno = saved_errno;
        return;
    }

    pthread_mutex_lock(&stderr_lock);
    /* A progress line left open on stderr is ended first, so that the
     * message starts a line of its own; the bar redraws below it. */
    bool end_open_line = open_line;
    open_line = false;

    /* Long lines get a heap buffer; when that fails the line is cut to the stack buffer. */
    total = (size_t)prefix_len + (size_t)body_len + 3;
    if (total > sizeof stack_line) {
        line = malloc(total);
        if (line == NULL) {
            line = stack_line;
            total = sizeof stack_line;
        }
    }

    char *text = line;
    if (end_open_line)
        *text++ = '\n';
    size_t room = total - (size_t)(text - line);
    snprintf(text, room, "parsediff: %s: ", name);
    vsnprintf(text + prefix_len, room - (size_t)prefix_len - 1, fmt, ap);
    va_end(ap);
    pd_text_scrub_controls(text + prefix_len);

    total = (size_t)(text - line) + strlen(text);
    line[total++] = '\n';
    write_all_once(line, total);
    pthread_mutex_unlock(&stderr_lock);

    if (line != stack_line)
        free(line);
    errno = saved_errno;
}
