/*
 * log.h -- levelled logging to stderr.
 *
 * PD_LOG checks the level before formatting, so a disabled debug line costs
 * one comparison. The level is set once at start-up by cli/ (PD_LOG_LEVEL
 * environment variable or options) and read with relaxed atomics elsewhere.
 * Library code logs only diagnostics; reports go to stdout through cli/.
 *
 * Thread-safety: safe from any thread; each line is written with one write().
 */
#ifndef PD_LOG_H
#define PD_LOG_H

#include <stdbool.h>

enum pd_log_level { PD_LOG_ERROR = 0, PD_LOG_WARN = 1, PD_LOG_INFO = 2, PD_LOG_DEBUG = 3 };

void pd_log_set_level(int level);
int pd_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int pd_log_level_from_name(const char *name);
void pd_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Bracket a drawing of a progress line on stderr, so that no line is logged
 * in between. The lock returns whether the line the last unlock left open
 * is still open, that is, no logged line has ended it since. line_open
 * records whether the drawing left the line without its newline; the next
 * logged line then starts with a newline of its own.
 */
bool pd_log_lock_stderr(void);
void pd_log_unlock_stderr(bool line_open);

#define PD_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= pd_log_get_level())                                                         \
            pd_log_write((level), __VA_ARGS__);                                                    \
    } while (0)

#endif
