/*
 * proc_test.c -- tests that a signal ending a benchmark tool also reaches
 * the child it is waiting for (harness_proc.h), with real processes.
 *
 * Each test forks a "tool" process that starts a child through
 * pd_proc_run() or pd_proc_run_forked(). The child writes "term" to a pipe
 * when SIGTERM reaches it. A child that never hears of the signal runs on,
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

static pid_t read_child_pid(void)
{
    char text[32];
    read_line(text, sizeof text);
    return (pid_t)strtol(text, NULL, 10);
}

/*
 * Starts a tool process that runs a child through pd_proc_run() or
 * pd_proc_run_forked(), with SIGHUP ignored first when ignore_hup is set.
 * The child writes its pid, and "term" when SIGTERM reaches it. Returns the
 * tool's pid once the child has started.
 */
static pid_t start_tool(bool forked, bool ignore_hup);

/* Ends the tool by sig, then checks that SIGTERM reached the child and ended the tool. */
static void expect_term_reached(pid_t tool, int sig)
{
    assert_int_equal(kill(tool, sig), 0);
    if (sig != SIGTERM)
        assert_int_equal(kill(tool, SIGTERM), 0);

    int status = 0;
    assert_int_equal(waitpid(tool, &status, 0), tool);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    char told[16];
    read_line(told, sizeof told);
    assert_string_equal(told, "term");
}

static void report_term(int sig)
{
    (void)sig;
    dprintf(pid_pipe[1], "term\n");
    _exit(0);
}

/* The forked child: announces itself and waits for SIGTERM. */
static int announce_and_wait(void *ctx, void *result, size_t size)
{
    (void)ctx;
    (void)result;
    (void)size;
    signal(SIGTERM, report_term);
    dprintf(pid_pipe[1], "%d\n", (int)getpid());
    /* pause() returns only after a handler, and report_term does not return. */
    while (pause() == -1) {
    }
    return 0;
}

static pid_t start_tool(bool forked, bool ignore_hup)
{
    assert_int_equal(pipe(pid_pipe), 0);
    pid_t tool = fork();
    assert_true(tool >= 0);
    if (tool == 0) {
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
            char script[256];
            snprintf(script, sizeof script,
                     "trap 'echo term >&%d; exit 143' TERM; echo $$ >&%d; "
                     "while :; do sleep 0.05; done",
                     pid_pipe[1], pid_pipe[1]);
            char *argv[] = {"sh", "-c", script, NULL};
            pd_proc_run(argv, NULL, NULL, &res, &err);
        }
        _exit(0);
    }
    close(pid_pipe[1]);
    assert_true(read_child_pid() > 0);
    return tool;
}

static void test_term_reaches_spawned_child(void **state)
{
    (void)state;
    expect_term_reached(start_tool(false, false), SIGTERM);
    close(pid_pipe[0]);
}

static void test_term_reaches_forked_child(void **state)
{
    (void)state;
    expect_term_reached(start_tool(true, false), SIGTERM);
    close(pid_pipe[0]);
}

/* Under nohup the tool and its child outlive SIGHUP, and SIGTERM still ends both. */
static void test_ignored_hup_stays_ignored(void **state)
{
    (void)state;
    expect_term_reached(start_tool(false, true), SIGHUP);
    close(pid_pipe[0]);
    expect_term_reached(start_tool(true, true), SIGHUP);
    close(pid_pipe[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_term_reaches_spawned_child),
        cmocka_unit_test(test_term_reaches_forked_child),
        cmocka_unit_test(test_ignored_hup_stays_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
