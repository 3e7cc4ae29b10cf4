/*
 * child.h -- helpers for tests that run a step in a child process, for
 * example as an unprivileged user.
 */
#ifndef PD_TEST_CHILD_H
#define PD_TEST_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * In a child process: becomes the unprivileged user "nobody" when running
 * as root, because root may read and list anything. Returns false when that
 * fails, or when that user has no access to reach (a private TMPDIR, say)
 * with the access mode given (R_OK, W_OK, X_OK as for access()).
 */
bool fx_child_drop_privileges(const char *reach, int mode);

/* Waits for pid; returns its exit status, or -1 when it did not exit normally. */
int fx_child_wait(pid_t pid);

#endif
