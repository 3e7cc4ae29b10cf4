/*
 * child.c -- helpers for tests that run a step in a child process.
 */
#include "tests/support/child.h"

#include <sys/wait.h>
#include <unistd.h>

/* The user and group id of "nobody" on Debian. */
#define NOBODY_ID 65534

bool fx_child_drop_privileges(const char *reach, int mode)
{
    if (geteuid() == 0 && (setgid(NOBODY_ID) != 0 || setuid(NOBODY_ID) != 0))
        return false;
    return access(reach, mode) == 0;
}

int fx_child_wait(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}
