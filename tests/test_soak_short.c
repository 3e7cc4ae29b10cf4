/*
 * test_soak_short.c -- live-write soak: diff --fail-on-change runs again and
 * again while one process appends to transcripts (partial lines included,
 * completed later) and another commits sync writes to the archive.
 *
 * Invariant checked on every run: the sessions reported `changed` are
 * exactly the ones whose stored rows were deliberately drifted (transcripts
 * nobody touches), and there are no parse errors. A live write may make a
 * session raced, incremental_skew or identical, never changed.
 *
 * PD_SOAK_RUNS sets the number of diff runs (default 12 for `make test`;
 * `make soak` runs 200).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "tests/support/engine_fixture.h"

extern char **environ;

#define N_LIVE 4
#define N_STILL 4

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_stop_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void append_raw(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        _exit(2);
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w <= 0)
            _exit(2);
        data += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Transcripts are started over once they pass this size, so that a long soak
 * re-parses files of a steady size instead of ever larger ones. */
#define LIVE_MAX_BYTES (512 * 1024)

/* Replaces path atomically (write a temporary file, rename it over). */
static void replace_atomically(const char *path, const char *content)
{
    char tmp[760];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        _exit(2);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        _exit(2);
    size_t n = strlen(content);
    if (write(fd, content, n) != (ssize_t)n)
        _exit(2);
    close(fd);
    if (rename(tmp, path) != 0)
        _exit(2);
}

/*
 * Writer process: appends an exchange to each live transcript in turn. Every
 * third append is split in two writes with a pause between them, so readers
 * see a partial last line. A transcript past LIVE_MAX_BYTES is replaced by a
 * fresh one through a rename, the other way agents rewrite files. Stops after
 * the round in which the parent sends SIGTERM, or after a bounded number of
 * rounds.
 */
static void writer_loop(char paths[][700], const bool *is_codex, const char ids[][64])
{
    int n[2 * N_LIVE];
    char parent[2 * N_LIVE][16];
    for (int i = 0; i < 2 * N_LIVE; i++) {
        n[i] = 6;
        snprintf(parent[i], sizeof parent[i], "p4");
    }
    install_stop_handler();
    for (int round = 0; round < 20000 && !stop_requested; round++) {
        for (int i = 0; i < 2 * N_LIVE; i++) {
            struct stat st;
            if (stat(paths[i], &st) == 0 && st.st_size > LIVE_MAX_BYTES) {
                char *fresh = is_codex[i] ? fx_codex_basic(ids[i], "Soak rollout.")
                                          : fx_claude_rich(ids[i], "Soak session.");
                replace_atomically(paths[i], fresh);
                free(fresh);
                n[i] = 6;
                snprintf(parent[i], sizeof parent[i], "p4");
                continue;
            }
            char *chunk;
            if (is_codex[i]) {
                chunk = fx_codex_append_exchange(n[i]);
            } else {
                chunk = fx_claude_append_exchange(ids[i], parent[i], n[i]);
                snprintf(parent[i], sizeof parent[i], "p%d", n[i] + 1);
            }
            n[i] += 2;
            size_t len = strlen(chunk);
            if ((round + i) % 3 == 0) {
                size_t cut = len / 3;
                append_raw(paths[i], chunk, cut);
                sleep_ms(7);
                append_raw(paths[i], chunk + cut, len - cut);
            } else {
                append_raw(paths[i], chunk, len);
            }
            free(chunk);
            sleep_ms(3);
        }
    }
    _exit(0);
}

static pid_t spawn_cli(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path != NULL ? out_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("posix_spawn %s: %s", argv[0], strerror(rc));
    return pid;
}

/* Syncer process: runs `parsediff sync` back to back; SIGTERM stops it after
 * the sync in progress has finished. */
static void syncer_loop(char *const argv[])
{
    install_stop_handler();
    for (int i = 0; i < 100000 && !stop_requested; i++) {
        pid_t pid = spawn_cli(argv, NULL);
        int status;
        waitpid(pid, &status, 0);
        sleep_ms(2);
    }
    _exit(0);
}

static int run_diff(char *const argv[], const char *out_path)
{
    pid_t pid = spawn_cli(argv, out_path);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        fail_msg("waitpid failed");
    if (!WIFEXITED(status))
        fail_msg("diff died with a signal (status %d)", status);
    return WEXITSTATUS(status);
}

/* Checks one JSON report; returns a description of the violation or NULL. */
static char *check_report(const char *json_text, size_t len, const char planted[][80],
                          size_t n_planted)
{
    pd_json_parser *p = pd_json_parser_new();
    pd_json root;
    if (pd_json_parse(p, json_text, len, &root) != PD_OK) {
        pd_json_parser_free(p);
        return fx_fmt("report is not valid JSON");
    }
    char *problem = NULL;
    int64_t changed = pd_json_int(pd_json_path(root, "totals.changed"));
    int64_t errors = pd_json_int(pd_json_path(root, "totals.parse_errors"));
    if (errors != 0)
        problem = fx_fmt("%lld parse errors", (long long)errors);
    else if (changed != (int64_t)n_planted)
        problem = fx_fmt("%lld changed sessions, expected the %zu planted ones", (long long)changed,
                         n_planted);

    pd_json sessions = pd_json_get(root, "sessions");
    for (size_t i = 0; i < pd_json_len(sessions) && problem == NULL; i++) {
        pd_json s = pd_json_at(sessions, i);
        size_t n = 0;
        const char *cls = pd_json_str_or_empty(pd_json_get(s, "class"), &n);
        if (n != 7 || memcmp(cls, "changed", 7) != 0)
            continue;
        size_t idn = 0;
        const char *id = pd_json_str_or_empty(pd_json_get(s, "session_id"), &idn);
        bool ok = false;
        for (size_t j = 0; j < n_planted && !ok; j++)
            ok = strlen(planted[j]) == idn && memcmp(planted[j], id, idn) == 0;
        if (!ok)
            problem = fx_fmt("live session %.*s reported changed", (int)idn, id);
    }
    pd_json_parser_free(p);
    return problem;
}

static void soak_live_writes_never_fail_the_gate(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BINARY");
    assert_non_null(bin);
    const char *runs_env = getenv("PD_SOAK_RUNS");
    int runs = runs_env != NULL ? atoi(runs_env) : 12;
    if (runs < 1)
        runs = 1;

    fx_env env;
    fx_env_init(&env);

    char live_paths[2 * N_LIVE][700];
    char live_ids[2 * N_LIVE][64];
    bool is_codex[2 * N_LIVE];
    char planted[3][80];
    size_t n_planted = 0;

    for (int i = 0; i < N_LIVE + N_STILL; i++) {
        char cid[64], xid[64];
        snprintf(cid, sizeof cid, "77777777-aaaa-4aaa-8aaa-%012d", i);
        snprintf(xid, sizeof xid, "0199dddd-bbbb-7ccc-8ddd-%012d", i);
        char *cp = fx_claude_path(&env, "-home-tess-src-orbit", cid);
        char *cc = fx_claude_rich(cid, "Soak session.");
        fx_write(cp, cc);
        char *xp = fx_codex_path(&env, "2026/02/01", xid);
        char *xc = fx_codex_basic(xid, "Soak rollout.");
        fx_write(xp, xc);
        if (i < N_LIVE) {
            snprintf(live_paths[2 * i], sizeof live_paths[0], "%s", cp);
            snprintf(live_ids[2 * i], sizeof live_ids[0], "%s", cid);
            is_codex[2 * i] = false;
            snprintf(live_paths[2 * i + 1], sizeof live_paths[0], "%s", xp);
            snprintf(live_ids[2 * i + 1], sizeof live_ids[0], "%s", xid);
            is_codex[2 * i + 1] = true;
        } else if (i == N_LIVE) {
            snprintf(planted[n_planted++], sizeof planted[0], "%s", cid);
            snprintf(planted[n_planted++], sizeof planted[0], "codex:%s", xid);
        } else if (i == N_LIVE + 1) {
            snprintf(planted[n_planted++], sizeof planted[0], "%s", cid);
        }
        free(cp);
        free(cc);
        free(xp);
        free(xc);
    }

    pd_sync_stats st;
    fx_sync(&env, &st);
    assert_int_equal(st.files_failed, 0);
    pd_sync_stats_free(&st);

    /* Drift in sessions whose transcripts nobody touches. */
    char *sql = fx_fmt("UPDATE sessions SET first_message = 'planted drift' WHERE id IN ('%s', '%s');"
                       "UPDATE messages SET content = 'planted', content_length = 7 WHERE "
                       "session_id = '%s' AND ordinal = 0;",
                       planted[0], planted[1], planted[2]);
    fx_sql(env.db, sql);
    free(sql);

    char *claude_src = fx_fmt("claude=%s", env.claude_root);
    char *codex_src = fx_fmt("codex=%s", env.codex_root);
    char *const sync_argv[] = {(char *)bin, "sync", "--db", env.db, "--source", claude_src,
                               "--source", codex_src, "--threads", "1", "--progress", "never", NULL};
    char *const diff_argv[] = {(char *)bin, "diff", "--db", env.db, "--source", claude_src,
                               "--source", codex_src, "--json", "--fail-on-change",
                               "--threads", "2", NULL};

    pid_t writer = fork();
    assert_true(writer >= 0);
    if (writer == 0)
        writer_loop(live_paths, is_codex, live_ids);
    pid_t syncer = fork();
    assert_true(syncer >= 0);
    if (syncer == 0)
        syncer_loop(sync_argv);

    char *out = fx_fmt("%s/report.json", env.dir);
    int violations = 0, raced_seen = 0;
    char *first_problem = NULL;
    for (int run = 0; run < runs; run++) {
        int code = run_diff(diff_argv, out);
        size_t len = 0;
        char *json = fx_read(out, &len);
        char *problem = check_report(json, len, planted, n_planted);
        if (problem == NULL && code != 1)
            problem = fx_fmt("exit code %d, expected 1 for the planted drift", code);
        if (strstr(json, "\"raced\"") != NULL)
            raced_seen++;
        if (problem != NULL) {
            violations++;
            if (first_problem == NULL)
                first_problem = fx_fmt("run %d: %s", run, problem);
            free(problem);
        }
        free(json);
    }

    kill(writer, SIGTERM);
    kill(syncer, SIGTERM);
    waitpid(writer, NULL, 0);
    waitpid(syncer, NULL, 0);

    print_message("soak: %d diff runs, %d violations, %d runs listed raced sessions\n", runs,
                  violations, raced_seen);
    if (first_problem != NULL)
        print_error("first violation: %s\n", first_problem);
    assert_int_equal(violations, 0);

    free(first_problem);
    free(out);
    free(claude_src);
    free(codex_src);
    fx_env_cleanup(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(soak_live_writes_never_fail_the_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
