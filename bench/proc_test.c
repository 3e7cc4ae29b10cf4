/*
 * proc_test.c -- tests that a signal ending a benchmark tool also ends the
 * child it is waiting for (harness_proc.h), with real processes.
 *
 * Each test forks a "tool" process that starts a child through
 * pd_proc_run() or pd_proc_run_forked(). The test process is a child
 * subreaper, so the orphaned child is re-parented to it and waitpid() shows
 * how the child ended.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/harness_proc.h"

/* A child that would run for a minute unless a signal ends it. */
#define CHILD_SECONDS "60"

static int pid_pipe[2];

/* Reads the child's pid from pid_pipe, which the child (or its shell) writes. */
static pid_t read_child_pid(void)
{
    char text[32] = {0};
    size_t len = 0;
    while (len + 1 < sizeof text) {
        ssize_t got = read(pid_pipe[0], text + len, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || text[len] == '\n')
            break;
        len++;
    }
    return (pid_t)strtol(text, NULL, 10);
}

/* Terminates tool, then waits for it and for child and checks that SIGTERM ended both. */
static void expect_both_terminated(pid_t tool, pid_t child)
{
    assert_true(child > 0);
    assert_int_equal(kill(tool, SIGTERM), 0);

    int status = 0;
    assert_int_equal(waitpid(tool, &status, 0), tool);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);

    status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
}

static void test_term_ends_spawned_child(void **state)
{
    (void)state;
    assert_int_equal(pipe(pid_pipe), 0);
    pid_t tool = fork();
    assert_true(tool >= 0);
    if (tool == 0) {
        close(pid_pipe[0]);
        char script[128];
        snprintf(script, sizeof script, "echo $$ >&%d; exec sleep " CHILD_SECONDS, pid_pipe[1]);
        char *argv[] = {"sh", "-c", script, NULL};
        pd_proc_result res;
        pd_err err = {0};
        pd_proc_run(argv, NULL, NULL, &res, &err);
        _exit(0);
    }
    close(pid_pipe[1]);
    pid_t child = read_child_pid();
    close(pid_pipe[0]);
    expect_both_terminated(tool, child);
}

static int announce_and_sleep(void *ctx, void *result, size_t size)
{
    (void)ctx;
    (void)result;
    (void)size;
    dprintf(pid_pipe[1], "%d\n", (int)getpid());
    sleep(atoi(CHILD_SECONDS));
    return 0;
}

static void test_term_ends_forked_child(void **state)
{
    (void)state;
    assert_int_equal(pipe(pid_pipe), 0);
    pid_t tool = fork();
    assert_true(tool >= 0);
    if (tool == 0) {
        close(pid_pipe[0]);
        int result = 0;
        pd_proc_result res;
        pd_err err = {0};
        pd_proc_run_forked(announce_and_sleep, NULL, &result, sizeof result, &res, &err);
        _exit(0);
    }
    close(pid_pipe[1]);
    pid_t child = read_child_pid();
    close(pid_pipe[0]);
    expect_both_terminated(tool, child);
}

int main(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "proc_test: cannot become a child subreaper: %s\n", strerror(errno));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_term_ends_spawned_child),
        cmocka_unit_test(test_term_ends_forked_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
