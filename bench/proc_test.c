/*
 * proc_test.c -- tests that a signal ending a benchmark tool also reaches
 * the child it is waiting for (harness_proc.h), with real processes.
 *
 * Each test forks a "tool" process that starts a child through
 * pd_proc_run() or pd_proc_run_forked(). The child writes to a pipe how
 * many SIGTERMs reached it. A child that never hears of the signal runs on,
 * and the tool, which waits for it, never ends: the test then fails by its
 * ctest timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/harness_proc.h"

static int pid_pipe[2];

/* Reads one line from pid_pipe, which the child (or its shell) writes, into out. */
static void read_line(char *out, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t got = read(pid_pipe[0], out + len, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || out[len] == '\n')
            break;
        len++;
    }
    out[len] = '\0';
}

/* Reads the child's pid and process group, and checks that it leads a group of its own. */
static pid_t read_child_pid(void)
{
    char text[64];
    read_line(text, sizeof text);
    char *rest;
    long pid = strtol(text, &rest, 10);
    long group = strtol(rest, NULL, 10);
    assert_true(pid > 0);
    assert_int_equal(group, pid);
    return (pid_t)pid;
}

/* How a test sends its signal to the tool. */
typedef enum send_mode {
    TO_TOOL,     /* kill() of the tool alone */
    TO_GROUP,    /* kill() of the tool's process group, as timeout(1) and CI runners do */
    KILL_TOOL,   /* SIGKILL of the tool, which cannot pass a signal on */
    HUP_IGNORED, /* SIGHUP to a tool that ignores it, then SIGTERM */
} send_mode;

/*
 * Starts a tool process, the leader of a process group of its own, that
 * runs a child through pd_proc_run() or pd_proc_run_forked(), with SIGHUP
 * ignored first when ignore_hup is set. The child writes its pid, and
 * "term N" 0.3 s after the first SIGTERM reaches it, N counting the SIGTERMs
 * that arrived by then. Returns the tool's pid once the child has started.
 */
static pid_t start_tool(bool forked, bool ignore_hup);

/*
 * Sends the tool the signals of mode, then checks that the tool ended (by SIGTERM,
 * unless it was killed) and that SIGTERM reached the child exactly once.
 */
static void expect_one_term(pid_t tool, send_mode mode)
{
    int want = SIGTERM;
    switch (mode) {
    case TO_TOOL:
        assert_int_equal(kill(tool, SIGTERM), 0);
        break;
    case TO_GROUP:
        assert_int_equal(kill(-tool, SIGTERM), 0);
        break;
    case KILL_TOOL:
        assert_int_equal(kill(tool, SIGKILL), 0);
        want = SIGKILL;
        break;
    case HUP_IGNORED:
        assert_int_equal(kill(tool, SIGHUP), 0);
        assert_int_equal(kill(tool, SIGTERM), 0);
        break;
    }

    int status = 0;
    assert_int_equal(waitpid(tool, &status, 0), tool);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), want);
    char told[16];
    read_line(told, sizeof told);
    assert_string_equal(told, "term 1");
}

static volatile sig_atomic_t terms;

static void count_term(int sig)
{
    (void)sig;
    terms++;
}

/* The forked child: announces itself, then reports the SIGTERMs it gets. */
static int announce_and_wait(void *ctx, void *result, size_t size)
{
    (void)ctx;
    (void)result;
    (void)size;
    /* SIGTERM stays blocked except inside sigsuspend(), so none is missed. */
    sigset_t term, waiting;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &waiting);
    sigdelset(&waiting, SIGTERM);
    signal(SIGTERM, count_term);
    dprintf(pid_pipe[1], "%d %d\n", (int)getpid(), (int)getpgrp());
    while (terms == 0)
        sigsuspend(&waiting);
    sigprocmask(SIG_UNBLOCK, &term, NULL);
    struct timespec later = {0, 300000000};
    while (nanosleep(&later, &later) != 0 && errno == EINTR) {
    }
    dprintf(pid_pipe[1], "term %d\n", (int)terms);
    _exit(0);
}

static pid_t start_tool(bool forked, bool ignore_hup)
{
    assert_int_equal(pipe(pid_pipe), 0);
    pid_t tool = fork();
    assert_true(tool >= 0);
    if (tool == 0) {
        setpgid(0, 0);
        close(pid_pipe[0]);
        if (ignore_hup)
            signal(SIGHUP, SIG_IGN);
        pd_proc_result res;
        pd_err err = {0};
        if (forked) {
            int result = 0;
            pd_proc_run_forked(announce_and_wait, NULL, &result, sizeof result, &res, &err);
        } else {
            /* Short sleeps, so that the trap runs soon after the signal. */
            char script[320];
            snprintf(script, sizeof script,
                     "n=0; trap 'n=$((n+1))' TERM; set -- $(cat /proc/$$/stat); "
                     "echo $$ $5 >&%d; "
                     "while [ $n -eq 0 ]; do sleep 0.05; done; sleep 0.3; "
                     "echo term $n >&%d; exit 143",
                     pid_pipe[1], pid_pipe[1]);
            char *argv[] = {"sh", "-c", script, NULL};
            pd_proc_run(argv, NULL, NULL, &res, &err);
        }
        _exit(0);
    }
    setpgid(tool, tool);
    close(pid_pipe[1]);
    assert_true(read_child_pid() > 0);
    return tool;
}

/* Runs one case with a spawned and with a forked child. */
static void check_both(send_mode mode)
{
    for (int forked = 0; forked < 2; forked++) {
        expect_one_term(start_tool(forked != 0, mode == HUP_IGNORED), mode);
        close(pid_pipe[0]);
    }
}

static void test_term_to_tool_reaches_child_once(void **state)
{
    (void)state;
    check_both(TO_TOOL);
}

static void test_term_to_group_reaches_child_once(void **state)
{
    (void)state;
    check_both(TO_GROUP);
}

static void test_killed_tool_leaves_child_a_term(void **state)
{
    (void)state;
    check_both(KILL_TOOL);
}

/* Under nohup the tool and its child outlive SIGHUP, and SIGTERM still ends both. */
static void test_ignored_hup_stays_ignored(void **state)
{
    (void)state;
    check_both(HUP_IGNORED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_term_to_tool_reaches_child_once),
        cmocka_unit_test(test_term_to_group_reaches_child_once),
        cmocka_unit_test(test_killed_tool_leaves_child_a_term),
        cmocka_unit_test(test_ignored_hup_stays_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
