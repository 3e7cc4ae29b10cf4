/*
 * test_cli_signal.c -- Ctrl-C (SIGINT) or SIGTERM during `parsediff diff`:
 * exit 128 + the signal (130 or 143), no report on stdout (a partial report
 * must never look complete), and a clear message on stderr. Also Ctrl-C
 * during `parsediff sync`. In both the progress bar stops at the files read.
 * A signal while the finished report is written lets it finish whole, and
 * one while sync or diff waits for another process's lock ends the wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "tests/support/engine_fixture.h"

extern char **environ;

/* Transcripts the interrupted diff has to read. */
enum { N_SOURCES = 3000 };

/* Returns the files diff read, from its closing message, or -1. */
static long long diff_files_read(const char *message)
{
    long long done;
    return sscanf(message, " after %lld of", &done) == 1 ? done : -1;
}

/* Returns the files sync read (parsed, unchanged or failed), from its summary, or -1. */
static long long sync_files_read(const char *message)
{
    long long parsed, unchanged, failed;
    int n = sscanf(message, "sync: %*d files discovered, %lld parsed, %lld unchanged, %lld failed",
                   &parsed, &unchanged, &failed);
    return n == 3 ? parsed + unchanged + failed : -1;
}

/* A command to interrupt, with its progress label and the closing line that counts the files read.
 */
typedef struct interrupted_command {
    const char *name;
    const char *label;  /* "<label><done>/<total>" or "<label><done> done, ..." in progress */
    const char *marker; /* where the closing line starts */
    long long (*files_read)(const char *message);
} interrupted_command;

static const interrupted_command diff_command = {"diff", "Re-parsing files: ", " after ",
                                                 diff_files_read};
static const interrupted_command sync_command = {"sync",
                                                 "Syncing files: ", "sync: ", sync_files_read};

/* Returns the done count of the last progress line drawn before stop, or -1. */
static long long last_progress(const char *text, const char *stop, const char *label)
{
    long long done = -1;
    size_t n = strlen(label);
    for (const char *at = strstr(text, label); at != NULL && at < stop; at = strstr(at + 1, label))
        if (sscanf(at + n, "%lld", &done) != 1)
            done = -1;
    return done;
}

/* True while sig is pending for pid or its threads (read from /proc). */
static bool signal_pending(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    /* A /proc file reports no size, so it is read until its end. */
    char text[8192];
    size_t n = 0;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (ssize_t got; n < sizeof text - 1 && (got = read(fd, text + n, sizeof text - 1 - n)) > 0;)
        n += (size_t)got;
    close(fd);
    text[n] = '\0';
    unsigned long long mask = 0, pending = 0;
    for (const char *key = "SigPnd:"; key != NULL;
         key = strcmp(key, "SigPnd:") == 0 ? "ShdPnd:" : NULL) {
        const char *at = strstr(text, key);
        if (at != NULL && sscanf(at + strlen(key), "%llx", &mask) == 1)
            pending |= mask;
    }
    return (pending & (1ULL << (sig - 1))) != 0;
}

/*
 * Sends sig to a diff or sync in the middle of its sources and checks how it
 * ends. With burst, a second sig follows as soon as the first is delivered,
 * as when `timeout` or a CI runner signals the process and then its group.
 * That is one request to stop, not the second signal that stops at once.
 */
static void interrupt_run(const interrupted_command *cmd, int sig, bool burst)
{
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    fx_env env;
    fx_env_init(&env);
    for (int i = 0; i < N_SOURCES; i++) {
        char id[40];
        snprintf(id, sizeof id, "88888888-aaaa-4aaa-8aaa-%012d", i);
        char *p = fx_claude_path(&env, i % 2 ? "-home-tess-src-a" : "-home-tess-src-b", id);
        char *c = fx_claude_rich(id, "Interrupt me.");
        fx_write(p, c);
        free(p);
        free(c);
    }
    if (strcmp(cmd->name, "diff") == 0) {
        pd_sync_stats st;
        fx_sync(&env, &st);
        assert_int_equal(st.files_failed, 0);
        pd_sync_stats_free(&st);
    }

    char *src = fx_fmt("claude=%s", env.claude_root);
    char *out = fx_fmt("%s/stdout.txt", env.dir);
    char *err = fx_fmt("%s/stderr.txt", env.dir);
    char *const argv[] = {(char *)bin, (char *)cmd->name, "--db", env.db,       "--source",
                          src,         "--threads",       "1",    "--progress", "always",
                          NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /*
     * Under SCHED_IDLE the diff runs only where no normal task is ready, so
     * this process preempts it when it wakes to stop it, even on a busy machine.
     */
    posix_spawnattr_t attr;
    struct sched_param idle = {.sched_priority = 0};
    posix_spawnattr_init(&attr);
    posix_spawnattr_setschedpolicy(&attr, SCHED_IDLE);
    posix_spawnattr_setschedparam(&attr, &idle);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSCHEDULER);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, &fa, &attr, argv, environ), 0);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);

    /*
     * The diff runs in slices of half a millisecond and is stopped in
     * between. It is interrupted while stopped, once its progress line
     * shows some files done and at least a tenth of the N_SOURCES still to
     * do, so it cannot finish between the check and the signal. The
     * progress total counts only the files discovered so far, so the
     * check uses N_SOURCES. The signal is delivered as soon as the diff
     * continues.
     */
    bool sent = false, exited = false;
    int status = 0;
    kill(pid, SIGSTOP);
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    for (int slices = 0; slices < 20000 && !sent && !exited; slices++) {
        struct timespec run = {0, 500 * 1000}, pause = {0, 4500 * 1000};
        kill(pid, SIGCONT);
        nanosleep(&run, NULL);
        kill(pid, SIGSTOP);
        assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
        if (!WIFSTOPPED(status)) {
            exited = true;
            break;
        }
        char *text = fx_read(err, NULL);
        long long done = last_progress(text, text + strlen(text), cmd->label);
        free(text);
        if (done >= 1 && done <= N_SOURCES - N_SOURCES / 10) {
            kill(pid, sig);
            kill(pid, SIGCONT);
            sent = true;
            if (burst) {
                struct timespec poll_pause = {0, 100 * 1000};
                for (int polls = 0; polls < 20000 && signal_pending(pid, sig); polls++)
                    nanosleep(&poll_pause, NULL);
                kill(pid, sig);
            }
        } else {
            /* The diff stays stopped while its progress clock runs on. */
            nanosleep(&pause, NULL);
        }
    }
    if (!exited)
        assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(sent);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + sig);
    size_t out_len = 0;
    free(fx_read(out, &out_len));
    assert_int_equal(out_len, 0);
    char *text = fx_read(err, NULL);
    assert_non_null(strstr(text, sig == SIGTERM ? "stopped by SIGTERM" : "interrupted by SIGINT"));
    const char *message = strstr(text, cmd->marker);
    assert_non_null(message);
    long long files_read = cmd->files_read(message);
    assert_true(files_read >= 1);
    /* Jobs cancelled in the queue were never read, so the bar must not count them. */
    long long last_drawn = last_progress(text, message, cmd->label);
    assert_true(last_drawn >= 1);
    assert_true(last_drawn <= files_read);
    if (strcmp(cmd->name, "sync") == 0) {
        /* Every file counted as parsed is in the archive, and only those. */
        long long parsed = -1;
        assert_int_equal(sscanf(message, "sync: %*d files discovered, %lld parsed", &parsed), 1);
        assert_int_equal(fx_sql_int(env.db, "SELECT count(*) FROM sessions"), parsed);
    }
    free(text);

    free(src);
    free(out);
    free(err);
    fx_env_cleanup(&env);
}

static void diff_interrupted_prints_no_report(void **state)
{
    (void)state;
    interrupt_run(&diff_command, SIGINT, false);
}

/* A CI runner's timeout sends SIGTERM: the conventional exit code is 143. */
static void diff_terminated_prints_no_report(void **state)
{
    (void)state;
    interrupt_run(&diff_command, SIGTERM, false);
}

static void sync_interrupted_counts_read_files(void **state)
{
    (void)state;
    interrupt_run(&sync_command, SIGINT, false);
}

/* `timeout -s INT` signals sync and then its process group: one stop, with its message. */
static void sync_signalled_twice_at_once_stops_cleanly(void **state)
{
    (void)state;
    interrupt_run(&sync_command, SIGINT, true);
}

/*
 * Sends a signal while the report is written to a pipe that no one reads
 * yet. The write goes on once the reader drains the pipe, so the report is
 * whole JSON. The run ends with 130 and a message that no gate check was
 * made. Without SA_RESTART the write failed with EINTR halfway.
 */
static void diff_signal_during_report_keeps_it_whole(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    fx_env env;
    fx_env_init(&env);
    enum { N_CHANGED = 600 };
    for (int i = 0; i < N_CHANGED; i++) {
        char id[40];
        snprintf(id, sizeof id, "77777777-aaaa-4aaa-8aaa-%012d", i);
        char *p = fx_claude_path(&env, "-home-tess-src-report", id);
        char *c = fx_claude_rich(id, "Report me.");
        fx_write(p, c);
        free(p);
        free(c);
    }
    pd_sync_stats st;
    fx_sync(&env, &st);
    pd_sync_stats_free(&st);
    /* Every session changed, so the report is far larger than a pipe holds. */
    fx_sql(env.db, "UPDATE sessions SET first_message = 'drift ' || id");

    int out[2];
    assert_int_equal(pipe(out), 0);
    char *src = fx_fmt("claude=%s", env.claude_root);
    char *err = fx_fmt("%s/stderr.txt", env.dir);
    char *const argv[] = {(char *)bin, "diff",   "--db",       env.db,  "--source",
                          src,         "--json", "--progress", "never", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);

    /* Wait until the pipe is full, so the diff is blocked writing its report. */
    int pending = 0;
    for (int polls = 0; polls < 600000; polls++) {
        assert_int_equal(ioctl(out[0], FIONREAD, &pending), 0);
        if (pending >= fcntl(out[0], F_GETPIPE_SZ))
            break;
        struct timespec pause = {0, 100 * 1000};
        nanosleep(&pause, NULL);
    }
    assert_true(pending >= fcntl(out[0], F_GETPIPE_SZ));
    kill(pid, SIGINT);
    /* Give the handler time to run before the write can go on. */
    struct timespec settle = {0, 50 * 1000 * 1000};
    nanosleep(&settle, NULL);

    size_t len = 0, cap = 1 << 20;
    char *json = malloc(cap);
    assert_non_null(json);
    for (ssize_t got; (got = read(out[0], json + len, cap - len - 1)) > 0;) {
        len += (size_t)got;
        if (cap - len < 65536) {
            cap *= 2;
            json = realloc(json, cap);
            assert_non_null(json);
        }
    }
    json[len] = '\0';
    close(out[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root;
    assert_int_equal(pd_json_parse(parser, json, len, &root), PD_OK);
    assert_int_equal(pd_json_len(pd_json_get(root, "sessions")), N_CHANGED);
    pd_json_parser_free(parser);
    char *text = fx_read(err, NULL);
    assert_non_null(strstr(text, "interrupted by SIGINT while the report was written"));
    free(text);
    free(json);
    free(err);
    free(src);
    fx_env_cleanup(&env);
}

/*
 * Runs argv with stdout to out and stderr to err, waits until it reports
 * that it waits for another process's lock, sends SIGINT and returns its
 * wait status. The caller holds the lock until this returns.
 */
static int interrupt_lock_wait(char *const *argv, const char *out, const char *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);

    /* The run reports the wait once it has lasted a few seconds. */
    bool waiting = false;
    for (int polls = 0; polls < 600 && !waiting; polls++) {
        char *text = fx_read(err, NULL);
        waiting = strstr(text, "waiting for another process to finish its write") != NULL;
        free(text);
        if (!waiting) {
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    assert_true(waiting);
    kill(pid, SIGINT);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/*
 * Ctrl-C while sync waits for the write lock of another process (here this
 * test's own connection) stops it without waiting for the lock: it names
 * the files it read but did not write, and writes nothing. The lock is held
 * until sync has exited, so a sync that sat out the wait would end with the
 * busy timeout's error instead.
 */
static void sync_interrupted_while_waiting_for_lock(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    fx_env env;
    fx_env_init(&env);
    char *first =
        fx_claude_path(&env, "-home-tess-src-lock", "66666666-aaaa-4aaa-8aaa-000000000000");
    char *content = fx_claude_rich("66666666-aaaa-4aaa-8aaa-000000000000", "Lock me.");
    fx_write(first, content);
    free(first);
    free(content);
    pd_sync_stats st;
    fx_sync(&env, &st);
    pd_sync_stats_free(&st);
    enum { N_NEW = 3 };
    for (int i = 1; i <= N_NEW; i++) {
        char id[40];
        snprintf(id, sizeof id, "66666666-aaaa-4aaa-8aaa-%012d", i);
        char *p = fx_claude_path(&env, "-home-tess-src-lock", id);
        char *c = fx_claude_rich(id, "Wait for the lock.");
        fx_write(p, c);
        free(p);
        free(c);
    }

    sqlite3 *holder = NULL;
    assert_int_equal(sqlite3_open(env.db, &holder), SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    char *src = fx_fmt("claude=%s", env.claude_root);
    char *out = fx_fmt("%s/stdout.txt", env.dir);
    char *err = fx_fmt("%s/stderr.txt", env.dir);
    char *const argv[] = {(char *)bin, "sync",       "--db",  env.db, "--source",
                          src,         "--progress", "never", NULL};
    int status = interrupt_lock_wait(argv, out, err);
    assert_int_equal(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(holder);

    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    char *text = fx_read(err, NULL);
    assert_non_null(strstr(text, "interrupted by SIGINT"));
    assert_non_null(strstr(text, "3 files read but not written after the stop"));
    assert_null(strstr(text, "timed out"));
    free(text);
    assert_int_equal(fx_sql_int(env.db, "SELECT count(*) FROM sessions"), 1);
    free(src);
    free(out);
    free(err);
    fx_env_cleanup(&env);
}

/*
 * Ctrl-C while diff waits for a lock: an archive in rollback-journal mode
 * whose writer holds the exclusive lock blocks readers too. diff reports
 * the wait, then stops at once with no report. The lock is held until diff
 * has exited, so a diff that sat out the wait would time out instead.
 */
static void diff_interrupted_while_waiting_for_lock(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    fx_env env;
    fx_env_init(&env);
    char *p = fx_claude_path(&env, "-home-tess-src-lock", "66666666-aaaa-4aaa-8aaa-000000000010");
    char *c = fx_claude_rich("66666666-aaaa-4aaa-8aaa-000000000010", "Read under a lock.");
    fx_write(p, c);
    free(p);
    free(c);
    pd_sync_stats st;
    fx_sync(&env, &st);
    pd_sync_stats_free(&st);

    sqlite3 *holder = NULL;
    assert_int_equal(sqlite3_open(env.db, &holder), SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    char *src = fx_fmt("claude=%s", env.claude_root);
    char *out = fx_fmt("%s/stdout.txt", env.dir);
    char *err = fx_fmt("%s/stderr.txt", env.dir);
    char *const argv[] = {(char *)bin, "diff",   "--db",       env.db,  "--source",
                          src,         "--json", "--progress", "never", NULL};
    int status = interrupt_lock_wait(argv, out, err);
    assert_int_equal(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(holder);

    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    size_t out_len = 0;
    free(fx_read(out, &out_len));
    assert_int_equal(out_len, 0);
    char *text = fx_read(err, NULL);
    assert_non_null(strstr(text, "interrupted by SIGINT"));
    assert_null(strstr(text, "timed out"));
    free(text);
    free(src);
    free(out);
    free(err);
    fx_env_cleanup(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diff_interrupted_prints_no_report),
        cmocka_unit_test(diff_terminated_prints_no_report),
        cmocka_unit_test(sync_interrupted_counts_read_files),
        cmocka_unit_test(sync_signalled_twice_at_once_stops_cleanly),
        cmocka_unit_test(diff_signal_during_report_keeps_it_whole),
        cmocka_unit_test(sync_interrupted_while_waiting_for_lock),
        cmocka_unit_test(diff_interrupted_while_waiting_for_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
