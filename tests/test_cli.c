/*
 * test_cli.c -- end-to-end tests of the parsediff binary.
 *
 * Every test runs the real binary (path in $PD_BINARY, set by ctest) as a
 * child process with posix_spawn, against transcripts and SQLite archives
 * in a fresh mkdtemp workspace. stdout and stderr go to files that the test
 * reads back after the child exits. The child gets HOME set to the
 * workspace and no CLAUDE_*, CODEX_* or PARSEDIFF_DB variables, so default
 * roots and the default archive can never reach the real home directory.
 *
 * A child that has not exited after CHILD_POLL_LIMIT polls of
 * CHILD_POLL_INTERVAL_MS is killed and the test fails. That bound guards
 * against a hang and is not a timing assertion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "common/json.h"
#include "common/model.h"
#include "tests/support/engine_fixture.h"

extern char **environ;

#define HOUR_NS (3600LL * 1000000000LL)

/* Hang guard for one child, 12000 polls of 10 ms (about two minutes in total). */
enum { CHILD_POLL_INTERVAL_MS = 10, CHILD_POLL_LIMIT = 12000 };

/* printf conversion that quotes at most 1500 bytes of a child's output in a failure message. */
#define EXCERPT "%.1500s"

static const char *const CLAUDE_A = "3f2a9c4e-1b7d-4e55-9a10-aa0000000001";
static const char *const CLAUDE_B = "5c81d2f0-77aa-4c3b-8e21-bb0000000002";
static const char *const CLAUDE_C = "9e4b0a12-c3d4-4f56-a789-cc0000000003";
static const char *const CLAUDE_D = "b1e2f3a4-5566-4778-899a-dd0000000004";
static const char *const CODEX_A = "0199aaaa-bbbb-7ccc-8ddd-0000000000a1";
static const char *const CODEX_B = "0199aaaa-bbbb-7ccc-8ddd-0000000000b2";
static const char *const CODEX_C = "0199aaaa-bbbb-7ccc-8ddd-0000000000c3";

/* ---- workspace ---------------------------------------------------------------- */

/* One test's workspace, which is the engine fixture's layout plus a HOME for the child. */
typedef struct cli_ws {
    fx_env env;
    char home[700];
    char claude_source[700]; /* "claude=<claude root>" for --source */
    char codex_source[700];  /* "codex=<codex root>" for --source */
    int n_runs;              /* runs so far, which numbers the capture files */
    const char *child_cwd;   /* working directory of the next children; NULL inherits ours */
} cli_ws;

static int setup(void **state)
{
    cli_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return -1;
    fx_env_init(&ws->env);
    snprintf(ws->home, sizeof ws->home, "%s/home", ws->env.dir);
    if (mkdir(ws->home, 0755) != 0)
        fail_msg("mkdir %s: %s", ws->home, strerror(errno));
    snprintf(ws->claude_source, sizeof ws->claude_source, "claude=%s", ws->env.claude_root);
    snprintf(ws->codex_source, sizeof ws->codex_source, "codex=%s", ws->env.codex_root);
    *state = ws;
    return 0;
}

static int teardown(void **state)
{
    cli_ws *ws = *state;
    fx_env_cleanup(&ws->env);
    free(ws);
    return 0;
}

/* ---- running the binary ------------------------------------------------------- */

/* How one child ended and what it printed. */
typedef struct cli_result {
    bool exited;     /* WIFEXITED */
    int exit_code;   /* WEXITSTATUS when exited */
    bool signaled;   /* WIFSIGNALED */
    int term_signal; /* WTERMSIG when signaled */
    char *out;       /* stdout, NUL-terminated; "" when stdout was not captured */
    size_t out_len;
    char *err; /* stderr, NUL-terminated */
    size_t err_len;
    char label[512]; /* the command line, for failure messages */
} cli_result;

static void cli_result_free(cli_result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

static bool env_entry_is_scrubbed(const char *entry)
{
    static const char *const scrubbed[] = {
        "HOME=",       "CLAUDE_PROJECTS_DIR=", "CLAUDE_CONFIG_DIR=", "CODEX_SESSIONS_DIR=",
        "CODEX_HOME=", "PARSEDIFF_DB=",        "PD_LOG_LEVEL=",      "CI=",
    };
    for (size_t i = 0; i < sizeof scrubbed / sizeof scrubbed[0]; i++) {
        if (strncmp(entry, scrubbed[i], strlen(scrubbed[i])) == 0)
            return true;
    }
    return false;
}

/*
 * Builds the child's environment from ours without the root and archive
 * variables, then adds HOME and the "NAME=value" entries of extra_env
 * (NULL-terminated, may be NULL).
 */
static char **child_environment(const cli_ws *ws, const char *const *extra_env, char *home_entry,
                                size_t home_entry_size)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    size_t n_extra = 0;
    while (extra_env != NULL && extra_env[n_extra] != NULL)
        n_extra++;
    char **envp = calloc(n + n_extra + 2, sizeof *envp);
    if (envp == NULL)
        fail_msg("out of memory building the child environment");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!env_entry_is_scrubbed(environ[i]))
            envp[k++] = environ[i];
    }
    snprintf(home_entry, home_entry_size, "HOME=%s", ws->home);
    envp[k++] = home_entry;
    for (size_t i = 0; i < n_extra; i++)
        envp[k++] = (char *)extra_env[i];
    envp[k] = NULL;
    return envp;
}

static const char *binary_path(void)
{
    const char *bin = getenv("PD_BINARY");
    if (bin == NULL || bin[0] == '\0')
        fail_msg("PD_BINARY is not set; run this test through ctest, which passes the binary path");
    return bin;
}

/* Polls the child until it exits, and kills it and fails the test past the poll limit. */
static int wait_bounded(pid_t pid, const char *label)
{
    const struct timespec interval = {.tv_sec = 0, .tv_nsec = CHILD_POLL_INTERVAL_MS * 1000000L};
    int status = 0;
    for (int polls = 0;; polls++) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return status;
        if (done < 0 && errno != EINTR)
            fail_msg("waitpid for `%s`: %s", label, strerror(errno));
        if (polls >= CHILD_POLL_LIMIT) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("`%s` did not exit within %d polls of %d ms; it was killed", label,
                     CHILD_POLL_LIMIT, CHILD_POLL_INTERVAL_MS);
        }
        nanosleep(&interval, NULL);
    }
}

/*
 * Runs parsediff with args (NULL-terminated, without the program name) and
 * the extra environment entries of extra_env (may be NULL). stdout and
 * stderr go to capture files, or to stdout_fd and stderr_fd when those are
 * >= 0, in which case res->out or res->err stays empty. stdin is /dev/null.
 */
static void run_process(cli_ws *ws, const char *const *args, const char *const *extra_env,
                        int stdout_fd, int stderr_fd, cli_result *res)
{
    memset(res, 0, sizeof *res);
    const char *bin = binary_path();

    size_t n_args = 0;
    while (args[n_args] != NULL)
        n_args++;
    char **argv = calloc(n_args + 2, sizeof *argv);
    if (argv == NULL)
        fail_msg("out of memory building argv");
    argv[0] = (char *)bin;
    size_t used = (size_t)snprintf(res->label, sizeof res->label, "parsediff");
    for (size_t i = 0; i < n_args; i++) {
        argv[i + 1] = (char *)args[i];
        if (used < sizeof res->label)
            used += (size_t)snprintf(res->label + used, sizeof res->label - used, " %s", args[i]);
    }

    int run = ++ws->n_runs;
    char *out_path = fx_fmt("%s/run-%02d.stdout", ws->env.dir, run);
    char *err_path = fx_fmt("%s/run-%02d.stderr", ws->env.dir, run);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (ws->child_cwd != NULL)
        posix_spawn_file_actions_addchdir_np(&actions, ws->child_cwd);
    if (stdout_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    else
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (stderr_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
    else
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);

    char home_entry[800];
    char **envp = child_environment(ws, extra_env, home_entry, sizeof home_entry);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, bin, &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    free(envp);
    free(argv);
    if (rc != 0)
        fail_msg("posix_spawn %s: %s", bin, strerror(rc));

    int status = wait_bounded(pid, res->label);
    res->exited = WIFEXITED(status);
    res->exit_code = res->exited ? WEXITSTATUS(status) : -1;
    res->signaled = WIFSIGNALED(status);
    res->term_signal = res->signaled ? WTERMSIG(status) : 0;
    if (stdout_fd >= 0) {
        res->out = strdup("");
        res->out_len = 0;
    } else {
        res->out = fx_read(out_path, &res->out_len);
    }
    if (stderr_fd >= 0) {
        res->err = strdup("");
        res->err_len = 0;
    } else {
        res->err = fx_read(err_path, &res->err_len);
    }
    free(out_path);
    free(err_path);
}

static void run_args(cli_ws *ws, const char *const *args, cli_result *res)
{
    run_process(ws, args, NULL, -1, -1, res);
}

/*
 * Runs `parsediff COMMAND --db <archive> --source claude=... --source
 * codex=... EXTRA...` on the workspace. The extra arguments end with NULL.
 */
static void run_on_workspace(cli_ws *ws, cli_result *res, const char *command, ...)
    __attribute__((sentinel));

static void run_on_workspace(cli_ws *ws, cli_result *res, const char *command, ...)
{
    const char *args[32];
    size_t n = 0;
    args[n++] = command;
    args[n++] = "--db";
    args[n++] = ws->env.db;
    args[n++] = "--source";
    args[n++] = ws->claude_source;
    args[n++] = "--source";
    args[n++] = ws->codex_source;

    va_list ap;
    va_start(ap, command);
    const char *extra;
    while ((extra = va_arg(ap, const char *)) != NULL) {
        if (n >= sizeof args / sizeof args[0] - 1)
            fail_msg("too many arguments for run_on_workspace");
        args[n++] = extra;
    }
    va_end(ap);
    args[n] = NULL;
    run_args(ws, args, res);
}

/* ---- checks on one run -------------------------------------------------------- */

static void expect_exit(const cli_result *res, int code)
{
    if (res->signaled)
        fail_msg("`%s` was killed by signal %d; stderr:\n" EXCERPT, res->label, res->term_signal,
                 res->err);
    if (!res->exited)
        fail_msg("`%s` did not exit normally", res->label);
    if (res->exit_code != code)
        fail_msg("`%s` exited %d, expected %d; stderr:\n" EXCERPT "\nstdout:\n" EXCERPT, res->label,
                 res->exit_code, code, res->err, res->out);
}

static void expect_contains(const cli_result *res, const char *stream_name, const char *text,
                            const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("`%s`: %s does not contain \"%s\"; it was:\n" EXCERPT, res->label, stream_name,
                 needle, text);
}

static void expect_lacks(const cli_result *res, const char *stream_name, const char *text,
                         const char *needle)
{
    if (strstr(text, needle) != NULL)
        fail_msg("`%s`: %s contains \"%s\" but must not; it was:\n" EXCERPT, res->label,
                 stream_name, needle, text);
}

static void expect_out_contains(const cli_result *res, const char *needle)
{
    expect_contains(res, "stdout", res->out, needle);
}

static void expect_err_contains(const cli_result *res, const char *needle)
{
    expect_contains(res, "stderr", res->err, needle);
}

static void expect_out_lacks(const cli_result *res, const char *needle)
{
    expect_lacks(res, "stdout", res->out, needle);
}

static void expect_err_lacks(const cli_result *res, const char *needle)
{
    expect_lacks(res, "stderr", res->err, needle);
}

static void expect_empty_stdout(const cli_result *res)
{
    if (res->out_len != 0)
        fail_msg("`%s` printed %zu bytes on stdout, expected none:\n" EXCERPT, res->label,
                 res->out_len, res->out);
}

static void expect_empty_stderr(const cli_result *res)
{
    if (res->err_len != 0)
        fail_msg("`%s` printed %zu bytes on stderr, expected none:\n" EXCERPT, res->label,
                 res->err_len, res->err);
}

/* Fails unless needle occurs in text after the first occurrence of heading. */
static void expect_after(const cli_result *res, const char *heading, const char *needle)
{
    const char *at = strstr(res->out, heading);
    if (at == NULL)
        fail_msg("`%s`: stdout has no \"%s\" section:\n" EXCERPT, res->label, heading, res->out);
    if (strstr(at + strlen(heading), needle) == NULL)
        fail_msg("`%s`: \"%s\" does not appear after \"%s\":\n" EXCERPT, res->label, needle,
                 heading, res->out);
}

/* ---- JSON helpers ------------------------------------------------------------- */

/* Parses a child's stdout as one JSON document, and fails the test when it is invalid. */
static pd_json parse_stdout_json(pd_json_parser *parser, const cli_result *res)
{
    pd_json root;
    int rc = pd_json_parse(parser, res->out, res->out_len, &root);
    if (rc != PD_OK)
        fail_msg("`%s`: stdout is not valid JSON (%s):\n" EXCERPT, res->label, pd_strerror(rc),
                 res->out);
    return root;
}

/* Returns a malloc'd copy of the string at dotted path, or NULL when it is not a string. */
static char *json_text(pd_json v, const char *dotted)
{
    const char *s = NULL;
    size_t n = 0;
    if (!pd_json_str(pd_json_path(v, dotted), &s, &n))
        return NULL;
    return strndup(s, n);
}

static void assert_json_text(pd_json v, const char *dotted, const char *expected)
{
    char *actual = json_text(v, dotted);
    if (actual == NULL)
        fail_msg("JSON value at \"%s\" is missing or not a string; expected \"%s\"", dotted,
                 expected);
    if (strcmp(actual, expected) != 0) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", actual);
        free(actual);
        fail_msg("JSON value at \"%s\" is \"%s\", expected \"%s\"", dotted, copy, expected);
    }
    free(actual);
}

static void assert_json_int(pd_json v, const char *dotted, int64_t expected)
{
    pd_json value = pd_json_path(v, dotted);
    if (pd_json_type_of(value) != PD_JSON_NUMBER)
        fail_msg("JSON value at \"%s\" is missing or not a number; expected %lld", dotted,
                 (long long)expected);
    if (pd_json_int(value) != expected)
        fail_msg("JSON value at \"%s\" is %lld, expected %lld", dotted,
                 (long long)pd_json_int(value), (long long)expected);
}

/* Returns a copy of a JSON report with the value of "generated_at" removed. */
static char *without_generated_at(const char *json)
{
    char *copy = strdup(json);
    if (copy == NULL)
        fail_msg("out of memory");
    const char *key = "\"generated_at\": \"";
    char *start = strstr(copy, key);
    if (start == NULL)
        fail_msg("report has no generated_at key:\n" EXCERPT, json);
    start += strlen(key);
    char *end = strchr(start, '"');
    if (end == NULL)
        fail_msg("generated_at value is not terminated:\n" EXCERPT, json);
    memmove(start, end, strlen(end) + 1);
    return copy;
}

/* ---- transcripts -------------------------------------------------------------- */

static void write_file_owned(char *path, char *content)
{
    fx_write(path, content);
    free(path);
    free(content);
}

/* Writes the rich Claude session A into the Claude root. */
static void write_claude_a(cli_ws *ws)
{
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
}

/* Writes rich Claude A, plain Claude B and Codex A, three sources with one session each. */
static void write_three(cli_ws *ws)
{
    write_claude_a(ws);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B),
                     fx_claude_plain(CLAUDE_B, "Rename the module."));
    write_file_owned(fx_codex_path(&ws->env, "2026/02/01", CODEX_A),
                     fx_codex_basic(CODEX_A, "Run the tests please."));
}

/* Writes the sources of write_three plus Claude C in another project and Codex B. */
static void write_five(cli_ws *ws)
{
    write_three(ws);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-tides", CLAUDE_C),
                     fx_claude_rich(CLAUDE_C, "Plot the tide table."));
    write_file_owned(fx_codex_path(&ws->env, "2026/02/02", CODEX_B),
                     fx_codex_basic(CODEX_B, "Format the changelog."));
}

/* Returns a Codex rollout with one prompt and one answer, which parses to two messages. */
static char *codex_two_messages(const char *uuid)
{
    return fx_fmt(
        "{\"timestamp\":\"2026-02-03T08:00:00.000Z\",\"type\":\"session_meta\",\"payload\":{"
        "\"id\":\"%s\",\"timestamp\":\"2026-02-03T08:00:00.000Z\",\"cwd\":\"/home/tess/src/orbit\","
        "\"originator\":\"codex_cli_rs\",\"cli_version\":\"0.60.0\"}}\n"
        "{\"timestamp\":\"2026-02-03T08:00:01.000Z\",\"type\":\"response_item\",\"payload\":{"
        "\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
        "\"List the open tickets.\"}]}}\n"
        "{\"timestamp\":\"2026-02-03T08:00:04.000Z\",\"type\":\"response_item\",\"payload\":{"
        "\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
        "\"text\":\"There are none.\"}]}}\n",
        uuid);
}

/* Runs sync on the workspace and fails the test unless it exits 0. */
static void sync_workspace(cli_ws *ws)
{
    cli_result res;
    run_on_workspace(ws, &res, "sync", "--threads", "2", NULL);
    expect_exit(&res, 0);
    cli_result_free(&res);
}

static void drift_first_message(const cli_ws *ws, const char *session_id)
{
    char *sql =
        fx_fmt("UPDATE sessions SET first_message = 'drifted prompt' WHERE id = '%s'", session_id);
    fx_sql(ws->env.db, sql);
    free(sql);
    char *check = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s'", session_id);
    assert_int_equal(fx_sql_int(ws->env.db, check), 1);
    free(check);
}

static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- help, version and usage errors ------------------------------------------- */

static void cli_help_exits_zero(void **state)
{
    cli_ws *ws = *state;
    const char *args[] = {"--help", NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 0);
    expect_out_contains(&res, "Usage:");
    expect_out_contains(&res, "parsediff diff");
    expect_empty_stderr(&res);
    cli_result_free(&res);
}

static void cli_diff_help_exits_zero(void **state)
{
    cli_ws *ws = *state;
    const char *args[] = {"diff", "--help", NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 0);
    expect_out_contains(&res, "--fail-on-change");
    expect_empty_stderr(&res);
    cli_result_free(&res);
}

/* "parsediff help COMMAND" and "parsediff --help COMMAND" give that command's help. */
static void cli_help_names_a_command(void **state)
{
    cli_ws *ws = *state;
    static const char *const forms[][3] = {
        {"help", "sync", NULL}, {"--help", "diff", NULL}, {"-h", "parse", NULL}};
    static const char *const usage[] = {"Usage: parsediff sync", "Usage: parsediff diff",
                                        "Usage: parsediff parse"};
    for (size_t i = 0; i < 3; i++) {
        cli_result res;
        run_args(ws, forms[i], &res);
        expect_exit(&res, 0);
        expect_out_contains(&res, usage[i]);
        expect_empty_stderr(&res);
        cli_result_free(&res);
    }
    /* A topic that is no command is a usage error, not the general help. */
    const char *unknown[] = {"help", "nosuch", NULL};
    cli_result res;
    run_args(ws, unknown, &res);
    expect_exit(&res, 2);
    expect_err_contains(&res, "unknown command \"nosuch\" (commands: parse, sync, diff)");
    cli_result_free(&res);
}

static void cli_version_exits_zero(void **state)
{
    cli_ws *ws = *state;
    const char *args[] = {"--version", NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 0);
    expect_out_contains(&res, "parsediff " PD_VERSION);
    expect_empty_stderr(&res);
    cli_result_free(&res);
}

/* One invalid command line and the substrings its error message must contain. */
typedef struct usage_case {
    const char *name;
    const char *args[8];
    const char *expected[3]; /* NULL-padded */
} usage_case;

static const usage_case USAGE_CASES[] = {
    {"no arguments", {NULL}, {"Usage:"}},
    {"unknown command", {"frobnicate", NULL}, {"unknown command \"frobnicate\""}},
    {"unknown diff option",
     {"diff", "--bogus-option", NULL},
     {"unknown option \"--bogus-option\""}},
    {"unknown sync option",
     {"sync", "--bogus-option", NULL},
     {"unknown option \"--bogus-option\""}},
    {"near-miss diff option",
     {"diff", "--fail-on-changes", NULL},
     {"unknown option \"--fail-on-changes\"", "did you mean --fail-on-change?"}},
    {"near-miss sync option", {"sync", "--sorce", "x", NULL}, {"did you mean --source?"}},
    {"short option in a group", {"sync", "-zq", NULL}, {"unknown option \"-z\""}},
    {"word after one dash", {"parse", "-nonexist", "x.jsonl", NULL}, {"unknown option \"-n\""}},
    {"missing value after an abbreviation",
     {"diff", "--lim", NULL},
     {"option --lim needs a value"}},
    {"value for an option without one",
     {"diff", "--verbose=1", NULL},
     {"option --verbose takes no value", "\"--verbose=1\""}},
    {"value for an abbreviated flag",
     {"sync", "--ful=yes", NULL},
     {"option --full takes no value"}},
    {"empty archive path", {"diff", "--db=", NULL}, {"the archive path is empty"}},
    {"near-miss parse option",
     {"parse", "--agnet", "claude", "x.jsonl", NULL},
     {"did you mean --agent?"}},
    {"negative limit", {"diff", "--limit", "-1", NULL}, {"--limit must be >= 0"}},
    {"non-numeric limit", {"diff", "--limit", "abc", NULL}, {"--limit", "\"abc\""}},
    {"xml format", {"diff", "--format", "xml", NULL}, {"--format", "\"xml\""}},
    {"negative diff threads", {"diff", "--threads", "-3", NULL}, {"--threads", "\"-3\""}},
    {"negative sync threads", {"sync", "--threads", "-3", NULL}, {"--threads", "\"-3\""}},
    {"unknown agent",
     {"diff", "--agent", "definitely-not-an-agent", NULL},
     {"unknown agent \"definitely-not-an-agent\"", "claude", "codex"}},
    {"diff source without agent",
     {"diff", "--source", "nonsense", NULL},
     {"--source", "\"nonsense\""}},
    {"sync source without agent",
     {"sync", "--source", "nonsense", NULL},
     {"--source", "\"nonsense\""}},
    {"source with unknown agent",
     {"diff", "--source", "gemini=sessions", NULL},
     {"unknown agent", "gemini"}},
    {"overflowing limit",
     {"diff", "--limit", "99999999999999999999", NULL},
     {"--limit", "\"99999999999999999999\""}},
    {"too many threads", {"diff", "--threads", "257", NULL}, {"--threads", "\"257\""}},
    {"missing option value", {"diff", "--db", NULL}, {"--db"}},
    {"invalid diff progress", {"diff", "--progress", "sometimes", NULL}, {"--progress"}},
    {"invalid sync progress", {"sync", "--progress", "sometimes", NULL}, {"--progress"}},
    {"stray diff argument", {"diff", "stray", NULL}, {"unexpected argument \"stray\""}},
    {"parse without files", {"parse", NULL}, {"no transcript files given"}},
    {"parse unknown agent",
     {"parse", "--agent", "nope", "x.jsonl", NULL},
     {"unknown agent \"nope\""}},
    {"missing source root",
     {"diff", "--source", "claude=/nonexistent/parsediff-root", NULL},
     {"source root for claude not found", "/nonexistent/parsediff-root", "pass the directory"}},
    {"source root is a file",
     {"sync", "--source", "codex=/dev/null", NULL},
     {"is a file, not a directory", "/dev/null", "pass the directory"}},
};

static void cli_usage_errors_exit_two(void **state)
{
    cli_ws *ws = *state;
    char *default_db_dir = fx_fmt("%s/.parsediff", ws->home);

    for (size_t i = 0; i < sizeof USAGE_CASES / sizeof USAGE_CASES[0]; i++) {
        const usage_case *uc = &USAGE_CASES[i];
        cli_result res;
        run_args(ws, uc->args, &res);

        if (res.signaled)
            fail_msg("%s: killed by signal %d", uc->name, res.term_signal);
        if (res.exit_code != 2)
            fail_msg("%s: `%s` exited %d, expected 2; stderr:\n" EXCERPT, uc->name, res.label,
                     res.exit_code, res.err);
        if (res.out_len != 0)
            fail_msg("%s: `%s` printed on stdout:\n" EXCERPT, uc->name, res.label, res.out);
        for (size_t k = 0; k < 3 && uc->expected[k] != NULL; k++) {
            if (strstr(res.err, uc->expected[k]) == NULL)
                fail_msg("%s: stderr of `%s` lacks \"%s\":\n" EXCERPT, uc->name, res.label,
                         uc->expected[k], res.err);
        }
        /* Validation happens before any I/O, so the default archive is never created. */
        if (path_exists(default_db_dir))
            fail_msg("%s: `%s` created %s", uc->name, res.label, default_db_dir);
        cli_result_free(&res);
    }
    free(default_db_dir);
}

/* An option of another command names that command. */
static void cli_option_of_other_command_named(void **state)
{
    cli_ws *ws = *state;
    cli_result res;
    run_on_workspace(ws, &res, "sync", "--fail-on-change", NULL);
    expect_exit(&res, 2);
    expect_err_contains(&res, "unknown option \"--fail-on-change\": it is an option of parsediff "
                              "diff");
    cli_result_free(&res);
    run_on_workspace(ws, &res, "diff", "--full", NULL);
    expect_exit(&res, 2);
    expect_err_contains(&res, "unknown option \"--full\": it is an option of parsediff sync");
    cli_result_free(&res);
}

/* An unknown option far from every known one, or a short one, gets no suggestion. */
static void cli_far_option_has_no_suggestion(void **state)
{
    cli_ws *ws = *state;
    const char *far[] = {"diff", "--bogus-option", NULL};
    const char *short_option[] = {"diff", "-x", NULL};
    cli_result res;

    run_args(ws, far, &res);
    expect_exit(&res, 2);
    expect_err_lacks(&res, "did you mean");
    cli_result_free(&res);

    run_args(ws, short_option, &res);
    expect_exit(&res, 2);
    expect_err_contains(&res, "unknown option \"-x\"");
    expect_err_lacks(&res, "did you mean");
    cli_result_free(&res);
}

/* The error quotes the --agent value exactly as typed, before trimming and lower-casing. */
static void diff_unknown_agent_quoted_as_typed(void **state)
{
    cli_ws *ws = *state;
    const char *args[] = {"diff", "--agent", " Definitely-Not ", NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 2);
    expect_empty_stdout(&res);
    expect_err_contains(&res, "unknown agent \" Definitely-Not \"");
    expect_err_contains(&res, "claude, codex");
    cli_result_free(&res);
}

/* ---- parse ---------------------------------------------------------------------- */

/* A session the parser leaves out on purpose is named as such, not as a wrong agent. */
static void parse_names_excluded_session(void **state)
{
    cli_ws *ws = *state;
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    fx_write(path, "{\"type\":\"user\",\"uuid\":\"u1\",\"parentUuid\":null,\"timestamp\":"
                   "\"2025-01-01T10:00:00Z\",\"message\":{\"role\":\"user\",\"content\":"
                   "\"/usage\"}}\n");

    const char *args[] = {"parse", path, NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "the parser leaves out 1 session of this file");
    expect_err_lacks(&res, "--agent codex");
    cli_result_free(&res);
    free(path);
}

static void parse_prints_claude_and_codex_json(void **state)
{
    cli_ws *ws = *state;
    char *claude = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *claude_text = fx_claude_plain(CLAUDE_B, "Rename the module.");
    fx_write(claude, claude_text);
    free(claude_text);
    char *codex = fx_codex_path(&ws->env, "2026/02/03", CODEX_A);
    char *codex_text = codex_two_messages(CODEX_A);
    fx_write(codex, codex_text);
    free(codex_text);

    const char *args[] = {"parse", claude, codex, NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_empty_stderr(&res);

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    pd_json sessions = pd_json_get(root, "sessions");
    assert_int_equal(pd_json_type_of(sessions), PD_JSON_ARRAY);
    assert_int_equal(pd_json_len(sessions), 2);

    pd_json first = pd_json_at(sessions, 0);
    assert_json_text(first, "id", CLAUDE_B);
    assert_json_text(first, "agent", "claude");
    assert_json_int(first, "message_count", 2);
    assert_int_equal(pd_json_len(pd_json_get(first, "messages")), 2);
    assert_json_text(first, "messages.0.role", "user");
    assert_json_text(first, "messages.1.role", "assistant");
    assert_json_text(first, "file_path", claude);

    pd_json second = pd_json_at(sessions, 1);
    char *codex_id = fx_fmt("codex:%s", CODEX_A);
    assert_json_text(second, "id", codex_id);
    assert_json_text(second, "agent", "codex");
    assert_json_int(second, "message_count", 2);
    assert_int_equal(pd_json_len(pd_json_get(second, "messages")), 2);
    assert_json_text(second, "messages.0.role", "user");
    assert_json_text(second, "messages.1.role", "assistant");

    free(codex_id);
    pd_json_parser_free(parser);
    cli_result_free(&res);
    free(claude);
    free(codex);
}

static void parse_wrong_agent_warns(void **state)
{
    cli_ws *ws = *state;
    char *codex = fx_codex_path(&ws->env, "2026/02/03", CODEX_A);
    char *codex_text = codex_two_messages(CODEX_A);
    fx_write(codex, codex_text);
    free(codex_text);

    cli_result res;
    const char *as_codex[] = {"parse", "--agent", "codex", codex, NULL};
    run_args(ws, as_codex, &res);
    expect_exit(&res, 0);
    expect_empty_stderr(&res);
    cli_result_free(&res);

    const char *as_claude[] = {"parse", "--agent", "claude", codex, NULL};
    run_args(ws, as_claude, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "no message found when read as claude");
    expect_err_contains(&res, "try --agent codex");
    cli_result_free(&res);

    /* A rollout renamed without its prefix is taken for a Claude transcript. */
    char *renamed = fx_fmt("%s/renamed.jsonl", ws->env.dir);
    assert_int_equal(rename(codex, renamed), 0);
    const char *inferred[] = {"parse", renamed, NULL};
    run_args(ws, inferred, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "no message found when read as claude (from its path)");
    expect_err_contains(&res, "if it is a codex transcript, pass --agent codex");
    cli_result_free(&res);
    free(renamed);
    free(codex);
}

/* "-" is not standard input for parse, and the error states it. */
static void parse_dash_is_not_stdin(void **state)
{
    cli_ws *ws = *state;
    const char *args[] = {"parse", "--agent", "claude", "-", NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 3);
    expect_err_contains(&res, "parse reads transcript files, not standard input");
    cli_result_free(&res);
}

/* A file that gives no message because of its own bytes gets a warning naming that cause, not
 * another agent to try. */
static void parse_empty_or_malformed_file_says_why(void **state)
{
    cli_ws *ws = *state;
    static const struct {
        const char *name, *content, *expected;
    } cases[] = {
        {"empty.jsonl", "", "the file is empty, so it gives no message"},
        {"blank.jsonl", "\n  \n", "the file holds only blank lines"},
        {"one.jsonl", "not json\n", "no message found: its only line could not be parsed as JSON"},
        {"two.jsonl", "not json\n{broken\n", "none of its 2 lines could be parsed as JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = fx_fmt("%s/%s", ws->env.dir, cases[i].name);
        fx_write(path, cases[i].content);
        const char *args[] = {"parse", path, NULL};
        cli_result res;
        run_args(ws, args, &res);
        expect_exit(&res, 0);
        expect_err_contains(&res, cases[i].expected);
        expect_err_lacks(&res, "--agent");
        cli_result_free(&res);
        free(path);
    }
    /* Some lines valid, one not: both the count and the agent hint. */
    char *mixed = fx_fmt("%s/mixed.jsonl", ws->env.dir);
    fx_write(mixed, "{\"type\":\"session_meta\"}\nnot json\n");
    const char *args[] = {"parse", mixed, NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 of its 2 lines could not be parsed as JSON");
    expect_err_contains(&res, "pass --agent codex");
    cli_result_free(&res);

    /* A Codex rollout read as Claude under a name that suggests neither. */
    char *rollout = fx_fmt("%s/plain.jsonl", ws->env.dir);
    char *text = fx_codex_basic(CODEX_A, "Run the tests please.");
    fx_write(rollout, text);
    const char *forced[] = {"parse", "--agent", "claude", rollout, NULL};
    run_args(ws, forced, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "no message found when read as claude; if it is a codex transcript, "
                              "pass --agent codex");
    cli_result_free(&res);
    free(text);
    free(rollout);
    free(mixed);
}

static void parse_bad_paths_exit_three(void **state)
{
    cli_ws *ws = *state;
    char *good = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *good_text = fx_claude_plain(CLAUDE_B, "Rename the module.");
    fx_write(good, good_text);
    free(good_text);
    char *missing = fx_fmt("%s/no-such-session.jsonl", ws->env.dir);
    char *directory = fx_fmt("%s/x.jsonl", ws->env.dir);
    if (mkdir(directory, 0755) != 0)
        fail_msg("mkdir %s: %s", directory, strerror(errno));
    char *corrupt = fx_fmt("%s/corrupt.jsonl.zst", ws->env.dir);
    fx_write(corrupt, "this is not zstd data\n");
    /* Opening a FIFO without a writer must not block the parse. */
    char *fifo = fx_fmt("%s/fifo.jsonl", ws->env.dir);
    if (mkfifo(fifo, 0644) != 0)
        fail_msg("mkfifo %s: %s", fifo, strerror(errno));

    const char *args[] = {"parse", missing, good, directory, corrupt, fifo, NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 3);
    expect_err_contains(&res, missing);
    expect_err_contains(&res, directory);
    expect_err_contains(&res, corrupt);
    expect_err_contains(&res, fifo);
    expect_err_lacks(&res, good);

    /* The readable file is still printed, as a complete JSON document. */
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    pd_json sessions = pd_json_get(root, "sessions");
    assert_int_equal(pd_json_len(sessions), 1);
    assert_json_text(pd_json_at(sessions, 0), "id", CLAUDE_B);

    pd_json_parser_free(parser);
    cli_result_free(&res);
    free(good);
    free(missing);
    free(directory);
    free(corrupt);
    free(fifo);
}

/*
 * A relative path parses as sync would store it: file_path is absolute and
 * cleaned. A directory without --agent is named as a directory, not as a
 * file of unknown agent.
 */
static void parse_relative_path_and_directory(void **state)
{
    cli_ws *ws = *state;
    char *claude = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    write_file_owned(fx_fmt("%s", claude), fx_claude_plain(CLAUDE_B, "Rename the module."));
    char *relative = fx_fmt("./claude/../claude/-home-tess-src-orbit/%s.jsonl", CLAUDE_B);
    char *directory = fx_fmt("%s/sessions-dir", ws->env.dir);
    if (mkdir(directory, 0755) != 0)
        fail_msg("mkdir %s: %s", directory, strerror(errno));
    ws->child_cwd = ws->env.dir;

    const char *args[] = {"parse", relative, NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_text(pd_json_at(pd_json_get(root, "sessions"), 0), "file_path", claude);
    pd_json_parser_free(parser);
    cli_result_free(&res);

    const char *dir_args[] = {"parse", "sessions-dir", NULL};
    run_args(ws, dir_args, &res);
    expect_exit(&res, 3);
    expect_err_contains(&res, "sessions-dir: is a directory; pass transcript files");
    expect_err_lacks(&res, "cannot tell which agent");
    cli_result_free(&res);

    /* From the projects directory a path starts with '-': a file, not options (nor -h). */
    char *projects = fx_fmt("%s/claude", ws->env.dir);
    ws->child_cwd = projects;
    char *dashed = fx_fmt("-home-tess-src-orbit/%s.jsonl", CLAUDE_B);
    const char *dashed_args[] = {"parse", dashed, NULL};
    run_args(ws, dashed_args, &res);
    expect_exit(&res, 0);
    expect_out_lacks(&res, "Usage:");
    parser = pd_json_parser_new();
    assert_non_null(parser);
    root = parse_stdout_json(parser, &res);
    assert_json_text(pd_json_at(pd_json_get(root, "sessions"), 0), "file_path", claude);
    pd_json_parser_free(parser);
    cli_result_free(&res);
    const char *typo_args[] = {"parse", "-x", NULL};
    run_args(ws, typo_args, &res);
    expect_exit(&res, 2);
    expect_err_contains(&res, "unknown option \"-x\"");
    cli_result_free(&res);
    ws->child_cwd = ws->env.dir;
    free(dashed);
    free(projects);
    free(directory);
    free(relative);
    free(claude);
}

/* ---- sync then diff: clean archives -------------------------------------------- */

static void diff_after_sync_text_is_clean(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 3 files re-parsed (all agents)");
    expect_out_contains(&res, ws->env.db);
    expect_out_contains(&res, "Summary");
    expect_out_contains(&res, "Examined");
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    expect_out_lacks(&res, "Changed sessions");
    expect_out_lacks(&res, "Changed fields");
    expect_empty_stderr(&res);
    cli_result_free(&res);
}

static void diff_after_sync_json_shape(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_empty_stderr(&res);

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_int_equal(pd_json_type_of(root), PD_JSON_OBJECT);

    static const char *const keys[] = {"generated_at", "data_version",   "db_path",
                                       "agents",       "files_examined", "files_limited",
                                       "totals",       "field_counts",   "sessions"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!pd_json_exists(pd_json_get(root, keys[i])))
            fail_msg("JSON report lacks the key \"%s\":\n" EXCERPT, keys[i], res.out);
    }
    char *generated_at = json_text(root, "generated_at");
    assert_non_null(generated_at);
    assert_true(strlen(generated_at) > 0);
    free(generated_at);
    assert_json_int(root, "data_version", PD_DATA_VERSION);
    assert_json_text(root, "db_path", ws->env.db);
    assert_json_text(root, "agents.0", "claude");
    assert_json_text(root, "agents.1", "codex");
    assert_json_int(root, "files_examined", 3);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "files_limited")), PD_JSON_BOOL);
    assert_false(pd_json_bool(pd_json_get(root, "files_limited")));
    assert_json_int(root, "totals.examined", 3);
    assert_json_int(root, "totals.identical", 3);
    assert_json_int(root, "totals.changed", 0);
    assert_int_equal(pd_json_len(pd_json_get(root, "field_counts")), 0);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "sessions")), PD_JSON_ARRAY);
    assert_int_equal(pd_json_len(pd_json_get(root, "sessions")), 0);
    expect_out_contains(&res, "\"sessions\": []");

    pd_json_parser_free(parser);
    cli_result_free(&res);
}

static void diff_agent_option_scopes_report(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--agent", " Codex ", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 1 file re-parsed (codex)");
    expect_out_contains(&res, "0 sessions changed, 1 identical.");
    cli_result_free(&res);
}

/* An archive path that ends in "/" is refused before sync creates any directory. */
static void archive_path_naming_a_directory_is_refused(void **state)
{
    cli_ws *ws = *state;
    char *dir_path = fx_fmt("%s/new-archive-dir/", ws->env.dir);
    static const char *const commands[] = {"sync", "diff"};
    /* "." and ".." name a directory without a slash at the end. */
    for (size_t i = 0; i < 2; i++) {
        const char *const args[] = {commands[i],       "--db", i == 0 ? "." : "..", "--source",
                                    ws->claude_source, NULL};
        cli_result res;
        run_args(ws, args, &res);
        expect_exit(&res, 2);
        expect_err_contains(&res, i == 0 ? "./archive.db" : "../archive.db");
        cli_result_free(&res);
    }
    for (size_t i = 0; i < 2; i++) {
        const char *const args[] = {commands[i],       "--db", dir_path, "--source",
                                    ws->claude_source, NULL};
        cli_result res;
        run_args(ws, args, &res);
        expect_exit(&res, 2);
        expect_err_contains(&res, "names a directory");
        expect_err_contains(&res, "new-archive-dir/archive.db");
        cli_result_free(&res);
        assert_false(path_exists(dir_path));
    }
    free(dir_path);
}

static void sync_rerun_skips_unchanged_files(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_empty_stdout(&res);
    expect_err_contains(&res, "3 files discovered");
    expect_err_contains(&res, "0 parsed");
    expect_err_contains(&res, "3 unchanged");
    expect_err_contains(&res, "0 failed");
    expect_err_lacks(&res, "transcripts found under");
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 3);
    cli_result_free(&res);
}

/*
 * Entries named like transcripts that are not regular files (a FIFO, a
 * dangling link, a link loop, a directory) are each named in a warning by
 * sync and diff, and the regular transcripts beside them are stored.
 */
static void sync_warns_about_entries_not_files(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *project = fx_fmt("%s/-home-tess-src-orbit", ws->env.claude_root);
    char *fifo = fx_fmt("%s/fifo.jsonl", project);
    char *dangling = fx_fmt("%s/dangling.jsonl", project);
    char *loop = fx_fmt("%s/loop.jsonl", project);
    char *dir = fx_fmt("%s/dir.jsonl", project);
    char *rollout = fx_codex_path(&ws->env, "2026/02/01", CODEX_B);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(symlink("/nonexistent/transcript.jsonl", dangling), 0);
    assert_int_equal(symlink("loop.jsonl", loop), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkfifo(rollout, 0644), 0);
    /* A real subagent rollout whose parent is missing makes the run walk the
     * Codex root a second time to look the parent up. That walk warns about nothing. */
    const char *shared = getenv("PD_SHARED_DIR");
    assert_non_null(shared);
    const char *child_name =
        "2026/04/15/rollout-2026-04-15T11-58-29-019d924b-6bc1-715e-85f1-d513be42f558.jsonl";
    char *child_src = fx_fmt("%s/corpus/real/codex/sessions/%s", shared, child_name);
    char *child_dst = fx_fmt("%s/%s", ws->env.codex_root, child_name);
    char *child_text = fx_read(child_src, NULL);
    fx_write(child_dst, child_text);
    free(child_text);
    free(child_dst);
    free(child_src);

    const char *commands[] = {"sync", "diff"};
    for (size_t i = 0; i < 2; i++) {
        cli_result res;
        run_on_workspace(ws, &res, commands[i], NULL);
        expect_exit(&res, 0);
        char *expected[] = {
            fx_fmt("%s: skipped: a FIFO, not a regular file", fifo),
            fx_fmt("%s: skipped: a symbolic link to a missing file", dangling),
            fx_fmt("%s: skipped: a loop of symbolic links", loop),
            fx_fmt("%s: skipped: a directory, not a regular file", dir),
            fx_fmt("%s: skipped: a FIFO, not a regular file", rollout),
        };
        for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
            expect_err_contains(&res, expected[k]);
            const char *first = strstr(res.err, expected[k]);
            if (strstr(first + 1, expected[k]) != NULL)
                fail_msg("`%s` warned twice: %s", res.label, expected[k]);
            free(expected[k]);
        }
        if (i == 0) {
            expect_err_contains(&res, "4 files discovered, 4 parsed");
            expect_err_contains(&res, "stored for a retry, because its parent rollout");
        }
        cli_result_free(&res);
    }
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 4);
    free(project);
    free(fifo);
    free(dangling);
    free(loop);
    free(dir);
    free(rollout);
}

/*
 * A transcript with a damaged line in the middle is stored from its other
 * lines, with a warning naming it. One whose last line is cut, as in the
 * middle of a live write, gets no warning.
 */
static void sync_warns_about_malformed_lines(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *damaged = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *body = fx_claude_rich(CLAUDE_B, "Where does the solver diverge?");
    const char *second_line = strchr(body, '\n');
    assert_non_null(second_line);
    char *with_garbage = fx_fmt("%.*s{\"type\":\"user\",\"mess\x01\x02\n%s",
                                (int)(second_line + 1 - body), body, second_line + 1);
    fx_write(damaged, with_garbage);
    char *cut = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *cut_body = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    char *cut_tail = fx_fmt("%s{\"type\":\"assistant\",\"messa", cut_body);
    fx_write(cut, cut_tail);

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    char *warning = fx_fmt("%s: 1 malformed line left out", damaged);
    expect_err_contains(&res, warning);
    expect_err_contains(&res, "; 1 file with damaged lines (named above)");
    char *cut_warning = fx_fmt("%s: 1 malformed line", cut);
    expect_err_lacks(&res, cut_warning);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 3);
    char *sql = fx_fmt("SELECT parser_malformed_lines FROM sessions WHERE id = '%s'", CLAUDE_B);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 1);
    /* The cut session counts its last line as malformed too, and as the cut. */
    char *cut_sql = fx_fmt("SELECT parser_malformed_lines * 10 + is_truncated FROM sessions "
                           "WHERE id = '%s'",
                           CLAUDE_A);
    assert_int_equal(fx_sql_int(ws->env.db, cut_sql), 11);
    cli_result_free(&res);

    /* parse takes the two files as sync does. */
    const char *parse_damaged[] = {"parse", damaged, NULL};
    run_args(ws, parse_damaged, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 line could not be parsed as JSON and was left out");
    cli_result_free(&res);
    const char *parse_cut[] = {"parse", cut, NULL};
    run_args(ws, parse_cut, &res);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "could not be parsed");
    cli_result_free(&res);
    free(cut_sql);
    free(sql);
    free(cut_warning);
    free(warning);
    free(cut_tail);
    free(cut_body);
    free(cut);
    free(with_garbage);
    free(body);
    free(damaged);
}

/*
 * NUL bytes appended to stored transcripts, as a crash leaves them: sync
 * names each file and the byte to cut it at. It stores the Claude
 * transcript to its end once, so diff then compares it (not `raced`), and
 * warns about the Codex rollout, stored to its last complete line, again.
 */
static void sync_warns_about_nul_tail(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *claude = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *codex = fx_codex_path(&ws->env, "2026/02/01", CODEX_A);
    struct stat claude_st, codex_st;
    assert_int_equal(stat(claude, &claude_st), 0);
    assert_int_equal(stat(codex, &codex_st), 0);
    char zeros[4096] = {0};
    FILE *f = fopen(claude, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    fclose(f);
    f = fopen(codex, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    fclose(f);

    char *claude_warning = fx_fmt("%s: its unfinished last line, from byte %lld on, contains NUL "
                                  "bytes",
                                  claude, (long long)claude_st.st_size);
    char *codex_warning =
        fx_fmt("%s: its unfinished last line, from byte %lld on, contains NUL bytes", codex,
               (long long)codex_st.st_size);
    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, claude_warning);
    expect_err_contains(&res, codex_warning);
    char *cut = fx_fmt("truncate -s %lld FILE", (long long)claude_st.st_size);
    expect_err_contains(&res, cut);
    expect_err_contains(&res, "; 2 files with damaged lines (named above)");
    cli_result_free(&res);
    char *size_sql = fx_fmt("SELECT file_size FROM sessions WHERE id = '%s'", CLAUDE_B);
    assert_int_equal(fx_sql_int(ws->env.db, size_sql), claude_st.st_size + (off_t)sizeof zeros);

    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, claude_warning);
    expect_err_contains(&res, codex_warning);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "\"raced\": 0");
    cli_result_free(&res);

    /* Codex writes on after the zeroed tail: the line that starts in it is
     * complete now but no record, so sync parses the rollout in full, counts
     * that line and names the file, where an append would drop it unseen. */
    char *more = fx_codex_append_exchange(2);
    fx_append(codex, more);
    free(more);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    char *malformed = fx_fmt("%s: 1 malformed line left out", codex);
    expect_err_contains(&res, malformed);
    /* The warning reports that the record on the line after the NUL bytes is lost too. */
    char *nul_from =
        fx_fmt("The file contains NUL bytes from byte %lld on", (long long)codex_st.st_size);
    expect_err_contains(&res, nul_from);
    expect_err_contains(&res, "tr -d '\\000' < FILE > FIXED");
    free(nul_from);
    cli_result_free(&res);

    /* parse reports the same of the file. */
    const char *parse_args[] = {"parse", codex, NULL};
    run_args(ws, parse_args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 line could not be parsed as JSON and was left out; the file "
                              "contains NUL bytes from byte");
    cli_result_free(&res);
    char *count_sql =
        fx_fmt("SELECT parser_malformed_lines FROM sessions WHERE id = 'codex:%s'", CODEX_A);
    assert_int_equal(fx_sql_int(ws->env.db, count_sql), 1);
    free(count_sql);
    free(malformed);
    free(size_sql);
    free(cut);
    free(codex_warning);
    free(claude_warning);
    free(codex);
    free(claude);
}

/* A transcript cut short after its sync: sync warns and names what it did. */
static void sync_warns_about_a_shorter_file(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    char *body = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    const char *second_line = strchr(body, '\n');
    assert_non_null(second_line);
    assert_int_equal(truncate(path, second_line + 1 - body), 0);

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    char *cut = fx_fmt("%s: the file is shorter than when it was stored (%lld bytes, now %lld), "
                       "so its sessions were rewritten",
                       path, (long long)st.st_size, (long long)(second_line + 1 - body));
    expect_err_contains(&res, cut);
    cli_result_free(&res);

    assert_int_equal(truncate(path, 0), 0);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "holds no session now, so the archive keeps the stored ones");
    cli_result_free(&res);
    free(cut);
    free(body);
    free(path);
}

/* Counts the occurrences of needle in s. */
static size_t count_in(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *at = strstr(s, needle); at != NULL; at = strstr(at + 1, needle))
        n++;
    return n;
}

/*
 * An archive that cannot grow (a full disk, here a file size limit) fails
 * a write: sync names the transcript, stops with one message, and leaves
 * every session it wrote complete.
 */
static void sync_stops_when_archive_cannot_grow(void **state)
{
    cli_ws *ws = *state;
    /* The schema takes about 90 KiB, so a 512 KiB limit stops sync well
     * after it began and well before 250 sessions are written. */
    for (int i = 0; i < 250; i++) {
        char id[40];
        snprintf(id, sizeof id, "3f2a9c4e-1b7d-4e55-9a10-%012d", 100 + i);
        write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit", id),
                         fx_claude_rich(id, "Why does the solver diverge at step forty?"));
    }

    struct rlimit saved, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 512 * 1024;
    /* SIGXFSZ keeps its default action here, which ends a process at the
     * limit: parsediff must ignore it itself to report the failed write. */
    assert_true(signal(SIGXFSZ, SIG_DFL) != SIG_ERR);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    cli_result res;
    run_on_workspace(ws, &res, "sync", "--threads", "2", NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);

    expect_exit(&res, 3);
    expect_err_contains(&res, "sync stopped there, because every later write would fail");
    expect_err_contains(&res, "file has reached this process's file size limit (524288 bytes); "
                              "raise it (ulimit -f) and run again");
    expect_err_contains(&res, "-home-tess-src-orbit/3f2a9c4e-1b7d-4e55-9a10-");
    /* One failed transcript, named once in the summary (the error gives the cause). */
    assert_int_equal(count_in(res.err, ": not written: "), 1);
    expect_err_contains(&res, "1 failed");
    expect_err_contains(&res, "not written after the stop");
    /* Every file discovered is accounted for in the summary. */
    long long discovered = -1, parsed = -1, unchanged = -1, failed = -1, full = -1, incr = -1,
              left = -1;
    const char *summary = strstr(res.err, "sync: ");
    assert_non_null(summary);
    assert_int_equal(sscanf(summary,
                            "sync: %lld files discovered, %lld parsed, %lld unchanged, %lld "
                            "failed; sessions written: %lld full, %lld incremental; %lld file",
                            &discovered, &parsed, &unchanged, &failed, &full, &incr, &left),
                     7);
    assert_int_equal(discovered, parsed + unchanged + failed + left);
    cli_result_free(&res);

    char *check = fx_sql_text(ws->env.db, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    int64_t written = fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions");
    assert_true(written > 0 && written < 250);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions s WHERE message_count"
                                            " != (SELECT count(*) FROM messages m"
                                            " WHERE m.session_id = s.id)"),
                     0);
}

/*
 * A write that fails for one transcript alone (here a trigger rejects one
 * session id) costs that transcript only. sync writes many transcripts in
 * one transaction, and the ones written in it before and after the failed
 * one are kept and counted.
 */
static void sync_failed_write_keeps_the_rest_of_its_batch(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    fx_sql(ws->env.db, "CREATE TRIGGER reject_one BEFORE INSERT ON sessions"
                       " WHEN NEW.id = '3f2a9c4e-1b7d-4e55-9a10-000000000120'"
                       " BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END");
    for (int i = 0; i < 40; i++) {
        char id[40];
        snprintf(id, sizeof id, "3f2a9c4e-1b7d-4e55-9a10-%012d", 100 + i);
        write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit", id),
                         fx_claude_rich(id, "Why does the solver diverge at step forty?"));
    }

    cli_result res;
    run_on_workspace(ws, &res, "sync", "--threads", "0", NULL);
    expect_exit(&res, 3);
    expect_err_contains(&res, "3f2a9c4e-1b7d-4e55-9a10-000000000120.jsonl: not written: ");
    expect_err_contains(&res, "rejected by the test");
    expect_err_contains(&res, "sync: 43 files discovered, 39 parsed, 3 unchanged, 1 failed");
    assert_null(strstr(res.err, "sync stopped there"));
    cli_result_free(&res);
    /* The three sessions of write_three() and 39 of the 40 new ones. */
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 42);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions s WHERE message_count"
                                            " != (SELECT count(*) FROM messages m"
                                            " WHERE m.session_id = s.id)"),
                     0);

    /* The next sync retries the failed transcript alone. */
    fx_sql(ws->env.db, "DROP TRIGGER reject_one");
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "sync: 43 files discovered, 1 parsed, 42 unchanged, 0 failed");
    cli_result_free(&res);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 43);
}

/* Two copies of a transcript under the roots: every sync moves the row and warns. */
static void sync_warns_about_two_copies(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *backup = fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    char *count = fx_fmt("1 session, such as %s, is in more than one file (for example", CLAUDE_A);
    expect_err_contains(&res, count);
    free(count);
    char *moved = fx_fmt("(for example %s and %s)", backup, original);
    expect_err_contains(&res, moved);
    cli_result_free(&res);
    free(moved);

    /* The next sync moves the row back, and warns again. */
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    moved = fx_fmt("(for example %s and %s)", backup, original);
    expect_err_contains(&res, moved);
    expect_err_lacks(&res, "differ");
    cli_result_free(&res);
    free(moved);

    /* A backup with other content changes the stored session back and forth. */
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_plain(CLAUDE_A, "An older prompt."));
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "the files of 1 of these sessions differ");
    cli_result_free(&res);

    /* Once the backup is gone, sync is quiet. */
    assert_int_equal(unlink(backup), 0);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "more than one file");
    cli_result_free(&res);
    free(original);
    free(backup);
}

/* Three copies, one of them different: every sync warns that they differ. */
static void sync_warns_differing_third_copy(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_A),
                     fx_claude_plain(CLAUDE_A, "An older prompt."));
    /* Inline, so that the copies are written in path order and the different one comes last. */
    for (int run = 0; run < 3; run++) {
        cli_result res;
        run_on_workspace(ws, &res, "sync", "--threads", "0", NULL);
        expect_exit(&res, 0);
        expect_err_contains(&res, "1 session, such as");
        expect_err_contains(&res, "the files of 1 of these sessions differ");
        cli_result_free(&res);
    }
}

/* A Codex rollout copied into another date directory: one is read, and both commands warn. */
/* A Codex subagent whose parent rollout is missing: each sync explains why it parses it again. */
static void sync_names_sessions_stored_for_retry(void **state)
{
    cli_ws *ws = *state;
    static const char child[] = "0199cccc-1111-7222-8333-944455556666";
    static const char parent[] = "0199dddd-1111-7222-8333-944455556666";
    char *text = fx_fmt(
        "{\"timestamp\":\"2026-01-11T09:30:00Z\",\"type\":\"session_meta\",\"payload\":{\"id\":"
        "\"%s\",\"source\":{\"subagent\":{\"thread_spawn\":{\"parent_thread_id\":\"%s\","
        "\"depth\":1}}}}}\n"
        "{\"timestamp\":\"2026-01-11T09:30:00.1Z\",\"type\":\"session_meta\",\"payload\":{\"id\":"
        "\"%s\"}}\n"
        "{\"timestamp\":\"2026-01-11T09:30:01Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
        "\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
        "\"subagent task\"}]}}\n",
        child, parent, parent);
    write_file_owned(fx_codex_path(&ws->env, "2026/01/11", child), text);

    for (int run = 0; run < 2; run++) {
        cli_result res;
        run_on_workspace(ws, &res, "sync", NULL);
        expect_exit(&res, 0);
        expect_err_contains(&res, "1 parsed");
        expect_err_contains(&res, "; 1 Codex session stored for a retry, because its parent "
                                  "rollout is missing (every sync parses it again until it "
                                  "appears)");
        cli_result_free(&res);
    }
}

/* Roots that contain no transcript and an archive without their sessions: diff warns. */
static void diff_empty_roots_warns(void **state)
{
    cli_ws *ws = *state;
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "nothing was compared: the roots hold no transcript of the agents "
                              "diffed, and the archive stores no session of them");
    cli_result_free(&res);

    write_three(ws);
    sync_workspace(ws);
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "nothing was compared");
    cli_result_free(&res);

    /* Transcripts removed after their sync: their rows are skipped as missing, not this. */
    char *a = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *b = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *c = fx_codex_path(&ws->env, "2026/02/01", CODEX_A);
    assert_int_equal(unlink(a), 0);
    assert_int_equal(unlink(b), 0);
    assert_int_equal(unlink(c), 0);
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "nothing was compared");
    cli_result_free(&res);
    free(a);
    free(b);
    free(c);
}

static void codex_rollout_twice_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *copy = fx_codex_path(&ws->env, "2026/01/31", CODEX_A);
    write_file_owned(fx_codex_path(&ws->env, "2026/01/31", CODEX_A),
                     fx_codex_basic(CODEX_A, "Run the tests please."));

    cli_result res;
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 Codex rollout, such as ");
    expect_err_contains(&res, "was not read: an earlier rollout under the roots has the same "
                              "session UUID");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 Codex rollout, such as ");
    /* The row moves to the rollout read and stays there: no copy warning. */
    expect_err_lacks(&res, "in more than one file");
    expect_err_lacks(&res, "can change with every sync");
    cli_result_free(&res);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "0 parsed");
    expect_err_lacks(&res, "in more than one file");
    cli_result_free(&res);

    assert_int_equal(unlink(copy), 0);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "Codex rollout");
    cli_result_free(&res);
    free(copy);

    /* Two undated (flat) rollouts of one session under two roots: one is left out. */
    char *flat_one =
        fx_fmt("%s/flat-one/rollout-2026-02-01T09-00-00-%s.jsonl", ws->env.dir, CODEX_A);
    char *flat_two =
        fx_fmt("%s/flat-two/rollout-2026-02-01T09-00-00-%s.jsonl", ws->env.dir, CODEX_A);
    write_file_owned(fx_fmt("%s", flat_one), fx_codex_basic(CODEX_A, "Run the tests please."));
    write_file_owned(fx_fmt("%s", flat_two), fx_codex_basic(CODEX_A, "Run the tests please."));
    char *root_one = fx_fmt("codex=%s/flat-one", ws->env.dir);
    char *root_two = fx_fmt("codex=%s/flat-two", ws->env.dir);
    const char *const flat[] = {"diff",   "--db",     ws->env.db, "--source",
                                root_one, "--source", root_two,   NULL};
    run_args(ws, flat, &res);
    char *left_out = fx_fmt("1 Codex rollout, such as %s, was not read", flat_two);
    expect_err_contains(&res, left_out);
    cli_result_free(&res);
    free(left_out);
    free(root_two);
    free(root_one);
    free(flat_two);
    free(flat_one);
}

/* Returns the "parsediff: warning:" lines of text, in a new string. */
static char *warning_lines(const char *text)
{
    size_t n = strlen(text);
    char *out = calloc(n + 1, 1);
    assert_non_null(out);
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "parsediff: warning:", strlen("parsediff: warning:")) == 0)
            strncat(out, line, len);
        line += len;
    }
    return out;
}

/* The copies warning of a first sync names the same files at any thread count. */
static void sync_copy_warning_thread_independent(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    const char *projects[] = {"-home-tess-src-orbit-backup", "-home-tess-src-orbit-old",
                              "-home-tess-src-orbit-zz"};
    for (size_t i = 0; i < 3; i++) {
        write_file_owned(fx_claude_path(&ws->env, projects[i], CLAUDE_A),
                         fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
        write_file_owned(fx_claude_path(&ws->env, projects[i], CLAUDE_B),
                         fx_claude_plain(CLAUDE_B, "Rename the module."));
    }
    char *warnings[2];
    const char *threads[2] = {"0", "2"};
    for (int t = 0; t < 2; t++) {
        char *db = fx_fmt("%s/threads-%s.db", ws->env.dir, threads[t]);
        const char *const args[] = {
            "sync",     "--db",           db,          "--source", ws->claude_source,
            "--source", ws->codex_source, "--threads", threads[t], NULL};
        cli_result res;
        run_args(ws, args, &res);
        expect_exit(&res, 0);
        expect_err_contains(&res, "2 sessions, such as");
        warnings[t] = warning_lines(res.err);
        cli_result_free(&res);
        free(db);
    }
    assert_string_equal(warnings[0], warnings[1]);
    free(warnings[0]);
    free(warnings[1]);
}

/* An emptied copy gives no session, so it is no copy once the archive moves off it. */
static void sync_emptied_copy_is_no_copy(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "in more than one file (for example");
    cli_result_free(&res);

    /* Empty the copy the archive stores, so the next sync moves the row to the other one. */
    char *sql = fx_fmt("SELECT file_path FROM sessions WHERE id = '%s'", CLAUDE_A);
    char *stored = fx_sql_text(ws->env.db, sql);
    fx_write(stored, "");
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "more than one file");
    expect_err_lacks(&res, "differ");
    cli_result_free(&res);
    char *moved = fx_sql_text(ws->env.db, sql);
    assert_string_not_equal(moved, stored);
    free(moved);
    free(stored);
    free(sql);
}

/* Two copies that the archive has never seen: the first sync warns already. */
static void sync_warns_about_two_new_copies(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *backup = fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));

    /* The example names the two copies in path order, whichever was written last. */
    cli_result res;
    run_on_workspace(ws, &res, "sync", "--threads", "2", NULL);
    expect_exit(&res, 0);
    char *count = fx_fmt("1 session, such as %s, is in more than one file (for example", CLAUDE_A);
    expect_err_contains(&res, count);
    char *pair = fx_fmt("(for example %s and %s)", backup, original);
    expect_err_contains(&res, pair);
    free(pair);
    expect_err_lacks(&res, "differ");
    cli_result_free(&res);

    /* A third copy still makes one session, not two. */
    char *third = fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_A);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    char *again_db = fx_fmt("%s/again.db", ws->env.dir);
    const char *const three[] = {
        "sync",     "--db",           again_db, "--source", ws->claude_source,
        "--source", ws->codex_source, NULL};
    run_args(ws, three, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, count);
    cli_result_free(&res);
    free(count);
    assert_int_equal(unlink(third), 0);
    free(third);
    free(again_db);

    /* A grown original and its fresh copy are equal, although the stored row is older. */
    char *rich = fx_claude_rich(CLAUDE_A, "Why does the solver diverge?");
    char *grown =
        fx_fmt("%s%s", rich, "{\"type\":\"system\",\"content\":\"later\",\"uuid\":\"u-late\"}\n");
    free(rich);
    fx_write(original, grown);
    fx_write(backup, grown);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "in more than one file (for example");
    expect_err_lacks(&res, "differ");
    cli_result_free(&res);
    free(grown);

    /* One root given twice, once through a link: it is read once, with a warning. */
    assert_int_equal(unlink(backup), 0);
    char *link = fx_fmt("%s/claude-link", ws->env.dir);
    assert_int_equal(symlink(ws->env.claude_root, link), 0);
    char *linked_source = fx_fmt("claude=%s", link);
    char *fresh_db = fx_fmt("%s/fresh.db", ws->env.dir);
    const char *const args[] = {
        "sync",     "--db",        fresh_db,    "--source", ws->claude_source,
        "--source", linked_source, "--threads", "2",        NULL};
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "so it is read once, as ");
    expect_err_lacks(&res, "more than one file");
    expect_err_lacks(&res, "another name");
    cli_result_free(&res);

    /* Stored through the link, then synced through the real root: one warning, once. */
    char *relinked_db = fx_fmt("%s/relinked.db", ws->env.dir);
    const char *const via_link[] = {"sync",        "--db",     relinked_db,      "--source",
                                    linked_source, "--source", ws->codex_source, NULL};
    run_args(ws, via_link, &res);
    expect_exit(&res, 0);
    cli_result_free(&res);
    const char *const via_root[] = {
        "sync",     "--db",           relinked_db, "--source", ws->claude_source,
        "--source", ws->codex_source, NULL};
    run_args(ws, via_root, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "under two names of the same file");
    expect_err_contains(&res, "Give the roots the same way every time");
    cli_result_free(&res);
    run_args(ws, via_root, &res);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "another name");
    cli_result_free(&res);

    /* The same for Codex, whose two names of one rollout share its dedupe key. */
    char *codex_link = fx_fmt("%s/codex-link", ws->env.dir);
    assert_int_equal(symlink(ws->env.codex_root, codex_link), 0);
    char *linked_codex = fx_fmt("codex=%s", codex_link);
    const char *const codex_via_link[] = {
        "sync", "--db", relinked_db, "--source", ws->claude_source, "--source", linked_codex, NULL};
    run_args(ws, codex_via_link, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "under two names of the same file");
    expect_err_contains(&res, codex_link);
    cli_result_free(&res);
    free(linked_codex);
    free(codex_link);
    free(relinked_db);
    free(fresh_db);
    free(linked_source);
    free(link);
    free(original);
    free(backup);
}

/* A Claude root one level above its projects finds nothing, and sync names the root. */
static void sync_warns_about_an_empty_root(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *parent = fx_fmt("claude=%s/..", ws->env.claude_root);
    const char *args[] = {"sync", "--db",     ws->env.db,       "--source",
                          parent, "--source", ws->codex_source, NULL};

    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "no claude transcripts found under");
    expect_err_contains(&res, "ROOT/PROJECT/*.jsonl");
    expect_err_lacks(&res, "no codex transcripts");
    cli_result_free(&res);

    /* An empty root is an agent that has written nothing yet: no warning. */
    char *empty = fx_fmt("%s/empty-claude", ws->env.dir);
    assert_int_equal(mkdir(empty, 0755), 0);
    char *empty_source = fx_fmt("claude=%s", empty);
    const char *quiet[] = {"sync",       "--db",     ws->env.db,       "--source",
                           empty_source, "--source", ws->codex_source, NULL};
    run_args(ws, quiet, &res);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "transcripts found under");
    cli_result_free(&res);
    free(empty_source);
    free(empty);
    free(parent);
}

/*
 * Stored file paths come from the source roots. So a root spelled relative
 * to the working directory (with "." and ".." in it) must name the same
 * files as the absolute root that synced them, and nothing is re-parsed or
 * reported as a duplicate or a new file.
 */
static void relative_roots_match_absolute_roots(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    ws->child_cwd = ws->env.dir;
    const char *const diff_args[] = {"diff",
                                     "--db",
                                     ws->env.db,
                                     "--source",
                                     "claude=./claude/../claude/",
                                     "--source",
                                     "codex=codex//sessions",
                                     "--fail-on-change",
                                     NULL};
    cli_result res;
    run_args(ws, diff_args, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    expect_out_lacks(&res, "duplicate session id");
    expect_empty_stderr(&res);
    cli_result_free(&res);

    const char *const sync_args[] = {"sync",
                                     "--db",
                                     "archive.db",
                                     "--source",
                                     "claude=claude",
                                     "--source",
                                     "codex=./codex/sessions",
                                     NULL};
    run_args(ws, sync_args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "0 parsed");
    expect_err_contains(&res, "3 unchanged");
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 3);
    char *like = fx_fmt("SELECT count(*) FROM sessions WHERE file_path LIKE '%s/%%'", ws->env.dir);
    assert_int_equal(fx_sql_int(ws->env.db, like), 3);
    free(like);
    cli_result_free(&res);
}

/* A transcript that only grew is appended, and the archive still diffs clean. */
static void sync_appended_file_is_incremental(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *exchange = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    fx_append(path, exchange);
    free(exchange);
    free(path);

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 parsed");
    expect_err_contains(&res, "2 unchanged");
    expect_err_contains(&res, "0 full, 1 incremental");
    cli_result_free(&res);

    char *sql = fx_fmt("SELECT count(*) FROM messages WHERE session_id = '%s' AND content = "
                       "'Follow-up question 6'",
                       CLAUDE_A);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 1);
    free(sql);

    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);

    /* --full rewrites every session with a full parse. */
    run_on_workspace(ws, &res, "sync", "--full", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "3 full, 0 incremental");
    cli_result_free(&res);
}

static void diff_empty_archive_is_clean(void **state)
{
    cli_ws *ws = *state;
    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_empty_stdout(&res);
    assert_true(path_exists(ws->env.db));
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 0);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 0 files re-parsed (all agents)");
    expect_out_contains(&res, "Summary");
    expect_out_contains(&res, "Examined");
    expect_out_contains(&res, "0 sessions changed, 0 identical.");
    expect_out_lacks(&res, "Changed sessions");
    expect_out_lacks(&res, "Changed fields");
    /* The only line on stderr warns that nothing was there to compare. */
    expect_err_contains(&res, "parsediff: warning: nothing was compared: the roots hold no");
    assert_int_equal(count_in(res.err, "\n"), 1);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "files_examined", 0);
    assert_json_int(root, "totals.examined", 0);
    assert_int_equal(pd_json_len(pd_json_get(root, "sessions")), 0);
    pd_json_parser_free(parser);
    cli_result_free(&res);
}

/* An archive that stores none of the sessions found: probably the wrong --db. */
static void diff_empty_archive_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *empty_root = fx_fmt("%s/empty", ws->env.dir);
    assert_int_equal(mkdir(empty_root, 0755), 0);
    char *empty_source = fx_fmt("claude=%s", empty_root);
    const char *create[] = {"sync", "--db", ws->env.db, "--source", empty_source, NULL};
    cli_result res;
    run_args(ws, create, &res);
    expect_exit(&res, 0);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "nothing was compared: the archive stores none of the 3 sessions "
                              "found under the roots. Check --db, or run sync first.");
    cli_result_free(&res);
    free(empty_source);
    free(empty_root);
}

/* The archive of other transcripts: its rows are not found and the sessions found are not
 * stored, so the uncompared gate fails and the warning names --db. */
static void diff_archive_of_other_transcripts_names_db(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *other_root = fx_fmt("%s/other-claude", ws->env.dir);
    assert_int_equal(mkdir(other_root, 0755), 0);
    char *other_source = fx_fmt("claude=%s", other_root);
    char *project = fx_fmt("%s/-home-ada-src-other", other_root);
    assert_int_equal(mkdir(project, 0755), 0);
    char *content = fx_claude_plain(CLAUDE_D, "A session of another corpus.");
    char *transcript = fx_fmt("%s/%s.jsonl", project, CLAUDE_D);
    fx_write(transcript, content);
    free(content);
    const char *args[] = {"diff",
                          "--db",
                          ws->env.db,
                          "--source",
                          other_source,
                          "--agent",
                          "claude",
                          "--fail-on-change",
                          "--fail-on-uncompared",
                          NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 1);
    expect_err_contains(&res, "if --db names the archive of other transcripts");
    expect_err_contains(&res, "--fail-on-uncompared failed");
    cli_result_free(&res);

    /* Roots that give the stored sessions too: the --db hint has no place. */
    run_on_workspace(ws, &res, "diff", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "if --db names");
    cli_result_free(&res);
    free(transcript);
    free(project);
    free(other_source);
    free(other_root);
}

/* A root given through a symbolic link names the same files differently. */
static void diff_root_through_link_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *link = fx_fmt("%s/claude-link", ws->env.dir);
    assert_int_equal(symlink(ws->env.claude_root, link), 0);
    char *linked_root = fx_fmt("claude=%s", link);
    const char *args[] = {"diff",      "--db",     ws->env.db,       "--source",
                          linked_root, "--source", ws->codex_source, NULL};

    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "the archive stored them under another name of the same file");
    expect_err_contains(&res, "give the roots as sync was given them");
    expect_err_lacks(&res, "another copy");
    cli_result_free(&res);
    free(linked_root);
    free(link);
}

/* A directory where a stored transcript was: a warning, and counted as not compared. */
static void diff_directory_in_place_of_transcript(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-uncompared", NULL);
    expect_exit(&res, 1);
    expect_err_contains(&res, "lies under the source roots, but discovery did not find a "
                              "transcript there");
    expect_err_contains(&res, path);
    expect_err_lacks(&res, "not found under the source roots");
    cli_result_free(&res);
    free(path);
}

/*
 * A backup copy under the same root: the stored row is compared from the
 * file it names, so the copy does not fail --fail-on-uncompared, and the
 * advice is to keep one copy.
 */
static void diff_copy_under_the_roots_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *backup = fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    char *warning = fx_fmt("1 session, such as %s, is in more than one file under the roots. The "
                           "stored row comes from %s, which was compared, and other copies, such "
                           "as %s, were skipped. Keep only one copy",
                           CLAUDE_A, original, backup);
    expect_err_contains(&res, warning);
    expect_err_lacks(&res, "nothing was compared");
    expect_err_lacks(&res, "differs from the file the archive stores");
    cli_result_free(&res);

    /* A third copy is still one session. */
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 session, such as");
    cli_result_free(&res);

    /* A copy of another size makes the stored session change with every sync. */
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_A),
                     fx_claude_plain(CLAUDE_A, "An older prompt."));
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 skipped copy, such as ");
    expect_err_contains(&res, "differs from the file the archive stores");
    expect_err_lacks(&res, "--fail-on-uncompared failed");
    expect_out_contains(&res, "(not compared; --verbose lists the reasons)");
    cli_result_free(&res);
    free(warning);
    free(original);
    free(backup);
}

/* Writes text to path compressed as `zstd FILE` does: one frame that declares its size. */
static void write_zst(const char *path, const char *text, size_t len)
{
    size_t cap = ZSTD_compressBound(len);
    char *frame = malloc(cap);
    assert_non_null(frame);
    size_t n = ZSTD_compress(frame, cap, text, len, 3);
    assert_false(ZSTD_isError(n));
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(frame, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    free(frame);
}

/*
 * `zstd FILE` keeps FILE beside FILE.zst. The two contain one text, so
 * neither command calls the copies different, while a compressed copy of
 * another text still differs.
 */
static void compressed_copy_is_same_text(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *packed = fx_fmt("%s.zst", original);
    size_t len = 0;
    char *text = fx_read(original, &len);
    write_zst(packed, text, len);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 session, such as");
    expect_err_lacks(&res, "differs from the file the archive stores");
    cli_result_free(&res);
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "1 session, such as");
    expect_err_lacks(&res, "of these sessions differ");
    cli_result_free(&res);

    char *other = fx_claude_plain(CLAUDE_A, "An older prompt.");
    write_zst(packed, other, strlen(other));
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "the files of 1 of these sessions differ");
    cli_result_free(&res);
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "differs from the file the archive stores");
    cli_result_free(&res);
    free(other);
    free(text);
    free(packed);
    free(original);
}

/*
 * A backup copy does not stand in for the file the stored row names. When
 * that file no longer contains the session, the row is reported as not
 * emitted: raced while the file is newer than the row, changed once the
 * row matches the file. When the file fails to parse, the copy counts as
 * not compared.
 */
static void diff_copy_never_hides_original(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));

    /* With --limit 1 only the newest file, the copy, is read: the original is
     * left out, which is no uncompared session. */
    cli_result res;
    run_on_workspace(ws, &res, "diff", "--limit", "1", "--fail-on-uncompared", "-v", NULL);
    expect_exit(&res, 0);
    /* -v counts the sessions --limit left out instead of listing each. */
    expect_out_contains(&res, "not sampled by --limit (--json lists");
    expect_out_lacks(&res, "reason: not sampled");
    expect_out_contains(&res, "(not compared; the reasons are listed below)");
    expect_out_contains(&res, "-home-tess-src-orbit-backup");
    expect_err_lacks(&res, "--fail-on-uncompared failed");
    expect_err_lacks(&res, "Both copies lie under the roots");
    cli_result_free(&res);

    fx_write(original, "");
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "-v", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "presence");
    expect_out_contains(&res, "live-write skew");
    expect_err_lacks(&res, "Keep only one copy");
    cli_result_free(&res);

    /* The row as a sync would store the emptied file, if it stored such a file. */
    char *sql = fx_fmt("UPDATE sessions SET file_size = 0, file_mtime = %lld WHERE id = '%s'",
                       (long long)fx_mtime_ns(original), CLAUDE_A);
    fx_sql(ws->env.db, sql);
    free(sql);
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_out_contains(&res, "presence");
    expect_err_lacks(&res, "Keep only one copy");
    expect_err_lacks(&res, "differs from the file the archive stores");
    cli_result_free(&res);

    /* The row was reported as not emitted, so the copy does not count as uncompared. */
    run_on_workspace(ws, &res, "diff", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "presence");
    expect_err_lacks(&res, "--fail-on-uncompared failed");
    cli_result_free(&res);

    fx_write(original, "{\"type\":\"user\",\"message\":\n");
    run_on_workspace(ws, &res, "diff", "--fail-on-uncompared", NULL);
    expect_exit(&res, 1);
    expect_err_contains(&res, "Both copies lie under the roots, so keep only one of them.");
    expect_err_contains(&res, "--fail-on-uncompared failed: 1 stored session was not compared");
    cli_result_free(&res);
    free(original);
}

/* A symbolic link to a project directory under the root gives each of its files two names. */
static void linked_project_directory_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *target = fx_fmt("%s/-home-tess-src-orbit", ws->env.claude_root);
    char *link = fx_fmt("%s/-home-tess-src-orbit-link", ws->env.claude_root);
    assert_int_equal(symlink(target, link), 0);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "found under two names of one file");
    expect_err_contains(&res, "through a symbolic link under the roots");
    expect_err_lacks(&res, "Keep only one copy");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "under two names of the same file");
    expect_err_contains(&res, "or a link under a root");
    cli_result_free(&res);
    free(link);
    free(target);
}

/* Which copy a warning names does not depend on the number of threads. */
static void diff_copy_warning_thread_independent(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-backup", CLAUDE_B),
                     fx_claude_plain(CLAUDE_B, "Rename the module."));
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit-old", CLAUDE_B),
                     fx_claude_plain(CLAUDE_B, "Rename the module."));

    cli_result inline_run, pooled;
    run_on_workspace(ws, &inline_run, "diff", "--threads", "0", NULL);
    run_on_workspace(ws, &pooled, "diff", "--threads", "2", NULL);
    expect_exit(&inline_run, 0);
    expect_exit(&pooled, 0);
    expect_err_contains(&inline_run, "2 sessions, such as");
    assert_string_equal(inline_run.err, pooled.err);
    assert_string_equal(inline_run.out, pooled.out);
    cli_result_free(&inline_run);
    cli_result_free(&pooled);
}

/* One root given twice, once through a link: it is read once, with a warning. */
static void diff_root_given_twice_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *link = fx_fmt("%s/claude-link", ws->env.dir);
    assert_int_equal(symlink(ws->env.claude_root, link), 0);
    char *linked_source = fx_fmt("claude=%s", link);

    const char *const args[] = {
        "diff",     "--db",        ws->env.db, "--source",       ws->claude_source,
        "--source", linked_source, "--source", ws->codex_source, "--fail-on-uncompared",
        NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "so it is read once, as ");
    expect_err_contains(&res, "Give each root once.");
    expect_err_lacks(&res, "Keep only one copy");
    expect_err_lacks(&res, "another name");
    cli_result_free(&res);

    /* The link given first: the real name is still the one read. */
    const char *const link_first[] = {"diff",
                                      "--db",
                                      ws->env.db,
                                      "--source",
                                      linked_source,
                                      "--source",
                                      ws->claude_source,
                                      "--source",
                                      ws->codex_source,
                                      "--fail-on-uncompared",
                                      NULL};
    run_args(ws, link_first, &res);
    expect_exit(&res, 0);
    char *kept_message = fx_fmt("is the same directory as the root %s, so it is read once, as %s",
                                ws->env.claude_root, ws->env.claude_root);
    expect_err_contains(&res, kept_message);
    expect_err_lacks(&res, "another name");
    free(kept_message);
    cli_result_free(&res);

    /* The same root spelled the same way twice. */
    const char *const twice[] = {"diff",
                                 "--db",
                                 ws->env.db,
                                 "--source",
                                 ws->claude_source,
                                 "--source",
                                 ws->claude_source,
                                 "--source",
                                 ws->codex_source,
                                 "--fail-on-uncompared",
                                 NULL};
    run_args(ws, twice, &res);
    expect_exit(&res, 0);
    char *given_twice =
        fx_fmt("the claude root %s is given twice, so it is read once", ws->env.claude_root);
    expect_err_contains(&res, given_twice);
    free(given_twice);
    cli_result_free(&res);

    /* Diffed through the link alone, the stored names are other names of the same files. */
    const char *const via_link[] = {"diff",           "--db",        ws->env.db,
                                    "--source",       linked_source, "--source",
                                    ws->codex_source, "--verbose",   NULL};
    run_args(ws, via_link, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "under another name of the same file");
    expect_err_contains(&res, "or sync once with the roots as given now");
    expect_out_contains(&res, "another name of the stored file");
    expect_out_lacks(&res, "duplicate session id");
    cli_result_free(&res);
    free(linked_source);
    free(link);
}

/*
 * A copy of the synced transcripts, diffed while the originals still exist,
 * finds every stored row written from the other copy. The run compares
 * nothing and prints a warning on stderr that names both paths.
 */
static void diff_copied_corpus_warns(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    fx_env copy = ws->env;
    snprintf(copy.claude_root, sizeof copy.claude_root, "%s/copy/claude", ws->env.dir);
    snprintf(copy.codex_root, sizeof copy.codex_root, "%s/copy/codex", ws->env.dir);
    write_file_owned(fx_claude_path(&copy, "-home-tess-src-orbit", CLAUDE_A),
                     fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    write_file_owned(fx_claude_path(&copy, "-home-tess-src-orbit", CLAUDE_B),
                     fx_claude_plain(CLAUDE_B, "Rename the module."));
    write_file_owned(fx_codex_path(&copy, "2026/02/01", CODEX_A),
                     fx_codex_basic(CODEX_A, "Run the tests please."));
    char *claude_root = fx_fmt("claude=%s", copy.claude_root);
    char *codex_root = fx_fmt("codex=%s", copy.codex_root);
    char *original = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);

    const char *const args[] = {"diff",     "--db",     ws->env.db,         "--source", claude_root,
                                "--source", codex_root, "--fail-on-change", NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 0 identical.");
    expect_err_contains(&res, "warning: nothing was compared: 3 sessions under the source roots");
    expect_err_contains(&res, copy.claude_root);
    expect_err_contains(&res, "from another copy that still exists (");
    expect_err_contains(&res, original);
    expect_err_contains(&res, "Give the roots that sync used, or sync these roots first.");
    expect_err_lacks(&res, "not found under the source roots");
    cli_result_free(&res);

    /* --fail-on-uncompared turns the same run into a failure. */
    const char *const strict[] = {"diff",      "--db",     ws->env.db, "--source",
                                  claude_root, "--source", codex_root, "--fail-on-uncompared",
                                  NULL};
    run_args(ws, strict, &res);
    expect_exit(&res, 1);
    expect_err_contains(&res, "--fail-on-uncompared failed: 3 stored sessions were not compared");
    cli_result_free(&res);
    free(original);
    free(codex_root);
    free(claude_root);
}

/* Roots that miss stored files warn on stderr, whether they miss all of them or some. */
static void diff_wrong_roots_warn(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *empty = fx_fmt("%s/elsewhere", ws->env.dir);
    assert_int_equal(mkdir(empty, 0755), 0);
    char *claude_root = fx_fmt("claude=%s", empty);
    char *codex_root = fx_fmt("codex=%s", empty);

    const char *const args[] = {"diff",     "--db",     ws->env.db,         "--source", claude_root,
                                "--source", codex_root, "--fail-on-change", NULL};
    cli_result res;
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 0 identical.");
    expect_err_contains(&res, "warning: nothing was compared: 3 stored sessions, such as ");
    expect_err_contains(&res, "were not found under the source roots where the agent keeps them");
    expect_err_contains(&res, "Give every root that sync used (--source");
    cli_result_free(&res);

    /* A wrong Codex root alone compares the Claude sessions and warns about the Codex one. */
    const char *const partial[] = {
        "diff", "--db", ws->env.db, "--source", ws->claude_source, "--source", codex_root, NULL};
    run_args(ws, partial, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 2 identical.");
    expect_err_contains(&res, "warning: 1 stored session, such as ");
    expect_err_contains(&res, CODEX_A);
    expect_err_contains(&res, "was not found under the source roots where the agent keeps it");
    cli_result_free(&res);

    /* With --fail-on-uncompared the one session left out fails the run. */
    const char *const strict[] = {"diff",
                                  "--db",
                                  ws->env.db,
                                  "--source",
                                  ws->claude_source,
                                  "--source",
                                  codex_root,
                                  "--fail-on-uncompared",
                                  NULL};
    run_args(ws, strict, &res);
    expect_exit(&res, 1);
    expect_err_contains(&res, "--fail-on-uncompared failed: 1 stored session was not compared");
    cli_result_free(&res);

    /* The usual roots compare every session and print no warning. */
    run_on_workspace(ws, &res, "diff", "--fail-on-change", "--fail-on-uncompared", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    expect_err_lacks(&res, "warning");
    expect_err_lacks(&res, "failed");
    cli_result_free(&res);

    free(codex_root);
    free(claude_root);
    free(empty);
}

static void diff_format_json_matches_json_flag(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--json", NULL);
    expect_exit(&res, 0);
    char *from_flag = without_generated_at(res.out);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--format", "json", NULL);
    expect_exit(&res, 0);
    char *from_format = without_generated_at(res.out);
    cli_result_free(&res);
    assert_string_equal(from_flag, from_format);

    /* The last of --format and --json wins. */
    run_on_workspace(ws, &res, "diff", "--format", "text", "--json", NULL);
    expect_exit(&res, 0);
    char *both = without_generated_at(res.out);
    cli_result_free(&res);
    assert_string_equal(from_flag, both);
    run_on_workspace(ws, &res, "diff", "--json", "--format", "text", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Summary\n");
    expect_out_lacks(&res, "\"totals\"");
    cli_result_free(&res);

    free(from_flag);
    free(from_format);
    free(both);
}

/* ---- drift, raced and vacuous runs --------------------------------------------- */

static void diff_drift_fails_on_change(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_out_contains(&res, "Changed sessions");
    expect_after(&res, "Changed sessions", "3f2a9c4e");
    expect_after(&res, "Changed sessions", "first_message");
    expect_out_contains(&res, "1 session changed, 2 identical.");
    expect_out_lacks(&res, "Raced");
    /* One stderr line gives the reason the gate failed, for a CI log whose report went to a file.
     */
    expect_err_contains(&res, "--fail-on-change failed: 1 session changed; see the report");
    cli_result_free(&res);
}

static void diff_drift_passes_without_flag(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);

    cli_result res;
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_after(&res, "Changed sessions", "3f2a9c4e");
    expect_out_contains(&res, "1 session changed, 2 identical.");
    expect_empty_stderr(&res);
    cli_result_free(&res);
}

/* The start of a Claude line that an agent has not finished writing. */
static const char unfinished_claude_line[] = "{\"parentUuid\":\"b6\",\"type\":\"user\"";

/* Appends text to path and puts its mtime back, as a write within one clock tick does. */
static void append_keeping_mtime(const char *path, const char *text)
{
    int64_t mtime = fx_mtime_ns(path);
    fx_append(path, text);
    fx_set_mtime_ns(path, mtime);
}

/*
 * An agent that starts a line in the same clock tick as the sync's read
 * leaves the mtime as stored. A Claude parse reads the unfinished line (the
 * session ends as truncated), so the size alone must make that raced.
 */
static void claude_partial_line_same_mtime_raced(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    append_keeping_mtime(path, unfinished_claude_line);
    free(path);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_after(&res, "Raced sessions", "3f2a9c4e");
    expect_out_lacks(&res, "Changed sessions");
    cli_result_free(&res);
}

/*
 * An incremental row stores the consumed boundary, so an unfinished line
 * already on disk when it was written is no write after the sync: a real
 * change of the row stays changed.
 */
static void claude_incremental_row_with_partial_line_changed(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *exchange = fx_claude_append_exchange(CLAUDE_A, "p4", 6);
    fx_append(path, exchange);
    fx_append(path, unfinished_claude_line);
    free(exchange);
    free(path);
    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_err_contains(&res, "0 full, 1 incremental");
    cli_result_free(&res);
    drift_first_message(ws, CLAUDE_A);

    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_after(&res, "Changed sessions", "3f2a9c4e");
    expect_out_lacks(&res, "Raced sessions");
    cli_result_free(&res);
}

/*
 * A complete line whose LF is not written yet, in the clock tick of the
 * sync's read: the parse reads it as a record, so the session is raced.
 */
static void codex_line_without_newline_same_mtime_raced(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *path = fx_codex_path(&ws->env, "2026/02/01", CODEX_A);
    append_keeping_mtime(path, "{\"timestamp\":\"2026-02-01T09:30:00.000Z\",\"type\":"
                               "\"response_item\",\"payload\":{\"type\":\"message\",\"role\":"
                               "\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                               "\"One more thing.\"}]}}");
    free(path);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Raced sessions");
    expect_out_lacks(&res, "Changed sessions");
    cli_result_free(&res);
}

/*
 * Claude writes spilled tool output beside the transcript, sometimes after
 * the line that names it. A spill file newer than the row is a write too.
 */
static void claude_spill_file_after_sync_raced(void **state)
{
    cli_ws *ws = *state;
    static const char session[] = "7a1d3c5e-2b4f-4a6c-8d9e-cc0000000007";
    char *spill =
        fx_fmt("%s/-home-tess-src-orbit/%s/tool-results/toolu_1.txt", ws->env.claude_root, session);
    char *transcript = fx_fmt(
        "{\"type\":\"user\",\"uuid\":\"s1\",\"parentUuid\":null,\"sessionId\":\"%s\","
        "\"cwd\":\"/home/tess/src/orbit\",\"timestamp\":\"2026-01-07T08:00:00.000Z\","
        "\"message\":{\"role\":\"user\",\"content\":\"List the logs.\"}}\n"
        "{\"type\":\"assistant\",\"uuid\":\"s2\",\"parentUuid\":\"s1\",\"sessionId\":\"%s\","
        "\"cwd\":\"/home/tess/src/orbit\",\"timestamp\":\"2026-01-07T08:00:02.000Z\","
        "\"message\":{\"id\":\"msg_s2\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\","
        "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\","
        "\"input\":{\"command\":\"ls logs\"}}]}}\n"
        "{\"type\":\"user\",\"uuid\":\"s3\",\"parentUuid\":\"s2\",\"sessionId\":\"%s\","
        "\"cwd\":\"/home/tess/src/orbit\",\"timestamp\":\"2026-01-07T08:00:03.000Z\","
        "\"message\":{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
        "\"tool_use_id\":\"toolu_1\",\"content\":\"<persisted-output>Output too large. Full "
        "output saved to: %s\\n</persisted-output>\"}]}}\n",
        session, session, session, spill);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-orbit", session), transcript);
    sync_workspace(ws);

    /* The spill file lands after the sync read the transcript. */
    fx_write(spill, "a.log\nb.log\nc.log\n");
    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_after(&res, "Raced sessions", "7a1d3c5e");
    expect_out_lacks(&res, "Changed sessions");
    cli_result_free(&res);
    free(spill);
}

/* A Codex parse ignores an unfinished last line, so it cannot hide a real change. */
static void codex_partial_line_same_mtime_changed(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *session = fx_fmt("codex:%s", CODEX_A);
    drift_first_message(ws, session);
    char *path = fx_codex_path(&ws->env, "2026/02/01", CODEX_A);
    append_keeping_mtime(path, "{\"timestamp\":\"2026-02-01T09:30:00Z\",\"type\":\"event_msg\"");
    free(path);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_out_contains(&res, "Changed sessions");
    expect_out_lacks(&res, "Raced sessions");
    cli_result_free(&res);
    free(session);
}

static void diff_raced_drift_passes(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);
    /* A transcript written after the snapshot makes the difference a live-write race. */
    char *path = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    fx_append(path, "{\"type\":\"summary\",\"summary\":\"live\"}\n");
    fx_set_mtime_ns(path, fx_mtime_ns(path) + 48 * HOUR_NS);
    free(path);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Raced");
    expect_after(&res, "Raced sessions", "3f2a9c4e");
    expect_out_lacks(&res, "Changed sessions");
    expect_out_contains(&res, "0 sessions changed, 2 identical.");
    expect_err_lacks(&res, "--fail-on-change failed");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "totals.raced", 1);
    assert_json_int(root, "totals.changed", 0);
    assert_json_text(root, "sessions.0.session_id", CLAUDE_A);
    assert_json_text(root, "sessions.0.class", "raced");
    pd_json_parser_free(parser);
    cli_result_free(&res);
}

static void diff_vacuous_run_fails_on_change(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    fx_sql(ws->env.db, "UPDATE sessions SET data_version = 89");

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_err_contains(&res, "--fail-on-change failed: the run was vacuous");
    expect_out_contains(&res, "Warning:");
    expect_out_contains(&res, "Pending resync");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_err_contains(&res, "--fail-on-change failed: the run was vacuous");
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "totals.examined", 3);
    assert_json_int(root, "totals.pending_resync", 3);
    pd_json_parser_free(parser);
    cli_result_free(&res);

    /* Without the flag a vacuous run is reported but does not fail. */
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "vacuous");
    cli_result_free(&res);
}

static void diff_warns_of_newer_rows(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "newer parser");
    cli_result_free(&res);

    char *sql = fx_fmt("UPDATE sessions SET data_version = %d WHERE id = '%s'", PD_DATA_VERSION + 1,
                       CLAUDE_A);
    fx_sql(ws->env.db, sql);
    free(sql);
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    char *expected = fx_fmt("1 compared session was stored by a newer parser (data version up "
                            "to %d, where this binary's is %d)",
                            PD_DATA_VERSION + 1, PD_DATA_VERSION);
    expect_err_contains(&res, expected);
    free(expected);
    cli_result_free(&res);

    /* A row that only the newer parser emits from that transcript counts too. */
    sql = fx_fmt("CREATE TEMP TABLE ghost AS SELECT * FROM sessions WHERE id = '%s';"
                 "UPDATE ghost SET id = 'ghost-session';"
                 "INSERT INTO sessions SELECT * FROM ghost;",
                 CLAUDE_A);
    fx_sql(ws->env.db, sql);
    free(sql);
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "presence");
    expect_err_contains(&res, "2 compared sessions were stored by a newer parser");
    cli_result_free(&res);
}

static void diff_verbose_shows_field_values(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--verbose", NULL);
    expect_exit(&res, 0);
    expect_after(&res, "Changed sessions", CLAUDE_A);
    expect_after(&res, "Changed sessions",
                 "first_message: drifted prompt -> Why does the solver diverge?");
    cli_result_free(&res);

    /* The compact report names the field but not the values. */
    run_on_workspace(ws, &res, "diff", NULL);
    expect_exit(&res, 0);
    expect_out_lacks(&res, "drifted prompt ->");
    cli_result_free(&res);
}

/* A source the current parser cannot read counts as a parse error, which fails the gate. */
static void diff_parse_error_fails_on_change(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    char *bad = fx_fmt("%s/2026/02/04/rollout-2026-02-04T09-00-00-%s.jsonl.zst", ws->env.codex_root,
                       CODEX_B);
    fx_write(bad, "this is not zstd data\n");

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_after(&res, "Parse errors", bad);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    expect_err_contains(&res, "--fail-on-change failed: 1 parse error; see the report");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--json", NULL);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "totals.parse_errors", 1);
    assert_json_int(root, "totals.identical", 3);
    assert_json_text(root, "sessions.0.class", "parse_error");
    assert_json_text(root, "sessions.0.file_path", bad);
    pd_json_parser_free(parser);
    cli_result_free(&res);
    free(bad);
}

/* A session on disk with no stored row is reported as new and does not fail the gate. */
static void diff_new_file_does_not_fail(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    write_file_owned(fx_codex_path(&ws->env, "2026/02/02", CODEX_B),
                     fx_codex_basic(CODEX_B, "Format the changelog."));

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--json", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "files_examined", 4);
    assert_json_int(root, "totals.new_on_disk", 1);
    assert_json_int(root, "totals.identical", 3);
    char *codex_b = fx_fmt("codex:%s", CODEX_B);
    assert_json_text(root, "sessions.0.session_id", codex_b);
    assert_json_text(root, "sessions.0.class", "new_on_disk");
    free(codex_b);
    pd_json_parser_free(parser);
    cli_result_free(&res);
}

/* ---- diff and the archive file --------------------------------------------------- */

/* A directory given as --db is named as such, for diff and for sync. */
static void archive_path_is_directory(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    static const char *const commands[] = {"diff", "sync"};
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = {commands[i],       "--db", ws->env.dir, "--source",
                              ws->claude_source, NULL};
        cli_result res;
        run_args(ws, args, &res);
        expect_exit(&res, 3);
        expect_empty_stdout(&res);
        expect_err_contains(&res, "is a directory; pass the archive file as --db");
        cli_result_free(&res);
    }
}

static void diff_missing_archive_not_created(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *absent = fx_fmt("%s/absent.db", ws->env.dir);
    const char *args[] = {"diff", "--db", absent, "--source", ws->claude_source, NULL};
    cli_result res;
    run_args(ws, args, &res);

    expect_exit(&res, 3);
    expect_err_contains(&res, absent);
    expect_empty_stdout(&res);
    assert_false(path_exists(absent));
    char *wal = fx_fmt("%s-wal", absent);
    assert_false(path_exists(wal));
    free(wal);
    cli_result_free(&res);
    free(absent);
}

/*
 * The archive's main file must be byte-identical after a diff. A read-only
 * SQLite connection may leave -wal and -shm files behind, so the test only
 * requires that a -wal file which did not exist before contains no frame.
 */
static void diff_leaves_archive_unchanged(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);
    drift_first_message(ws, CLAUDE_A);
    fx_sql(ws->env.db, "PRAGMA wal_checkpoint(TRUNCATE)");

    char *wal = fx_fmt("%s-wal", ws->env.db);
    bool wal_before = path_exists(wal);
    char hash_before[65];
    fx_file_sha256(ws->env.db, hash_before);
    struct stat st_before;
    assert_int_equal(stat(ws->env.db, &st_before), 0);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--threads", "2", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "1 session changed");
    cli_result_free(&res);

    char hash_after[65];
    fx_file_sha256(ws->env.db, hash_after);
    assert_string_equal(hash_before, hash_after);
    struct stat st_after;
    assert_int_equal(stat(ws->env.db, &st_after), 0);
    assert_int_equal(st_after.st_size, st_before.st_size);
    if (!wal_before && path_exists(wal)) {
        struct stat st_wal;
        assert_int_equal(stat(wal, &st_wal), 0);
        assert_int_equal(st_wal.st_size, 0);
    }
    char *sql = fx_fmt("SELECT first_message FROM sessions WHERE id = '%s'", CLAUDE_A);
    char *fm = fx_sql_text(ws->env.db, sql);
    free(sql);
    assert_non_null(fm);
    assert_string_equal(fm, "drifted prompt");
    free(fm);
    free(wal);
}

static void diff_unusable_archive_exits_three(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);

    /* A file that is not SQLite at all. */
    char *garbage = fx_fmt("%s/garbage.db", ws->env.dir);
    char pattern[4096];
    for (size_t i = 0; i < sizeof pattern - 1; i++)
        pattern[i] = "garbage!"[i % 8];
    pattern[sizeof pattern - 1] = '\0';
    fx_write(garbage, pattern);

    /* A real SQLite file without the archive's tables. */
    char *foreign = fx_fmt("%s/foreign.db", ws->env.dir);
    fx_write(foreign, "");
    fx_sql(foreign, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");

    const char *const paths[] = {garbage, foreign};
    for (size_t i = 0; i < 2; i++) {
        char hash_before[65], hash_after[65];
        fx_file_sha256(paths[i], hash_before);
        const char *args[] = {"diff", "--db", paths[i], "--source", ws->claude_source, NULL};
        cli_result res;
        run_args(ws, args, &res);

        expect_exit(&res, 3);
        expect_err_contains(&res, paths[i]);
        expect_empty_stdout(&res);
        fx_file_sha256(paths[i], hash_after);
        assert_string_equal(hash_before, hash_after);
        cli_result_free(&res);
    }
    free(garbage);
    free(foreign);
}

/* ---- --limit and default paths ---------------------------------------------------- */

static void diff_limit_samples_newest_source(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    /* Codex A is the newest source, then Claude B, then Claude A. */
    const int64_t base_ns = 1767000000LL * 1000000000LL;
    char *claude_a = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_A);
    char *claude_b = fx_claude_path(&ws->env, "-home-tess-src-orbit", CLAUDE_B);
    char *codex_a = fx_codex_path(&ws->env, "2026/02/01", CODEX_A);
    fx_set_mtime_ns(claude_a, base_ns);
    fx_set_mtime_ns(claude_b, base_ns + HOUR_NS);
    fx_set_mtime_ns(codex_a, base_ns + 2 * HOUR_NS);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--limit", "1", "--fail-on-change", NULL);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 1 file re-parsed (all agents)");
    expect_out_contains(&res, "Note: --limit truncated discovery");
    expect_out_contains(&res, "0 sessions changed, 1 identical.");
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--limit", "1", "--json", NULL);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "files_examined", 1);
    assert_true(pd_json_bool(pd_json_get(root, "files_limited")));
    assert_json_int(root, "totals.examined", 1);
    assert_json_int(root, "totals.identical", 1);
    assert_json_int(root, "totals.skipped", 2);
    assert_json_text(root, "sessions.0.session_id", CLAUDE_A);
    assert_json_text(root, "sessions.0.class", "skipped");
    assert_json_text(root, "sessions.0.reason", "not sampled (--limit)");
    assert_json_text(root, "sessions.1.session_id", CLAUDE_B);
    assert_json_text(root, "sessions.1.reason", "not sampled (--limit)");
    pd_json_parser_free(parser);
    cli_result_free(&res);

    /* A limit equal to the number of sources cuts nothing. */
    run_on_workspace(ws, &res, "diff", "--limit", "3", NULL);
    expect_exit(&res, 0);
    expect_out_lacks(&res, "--limit truncated");
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);

    free(claude_a);
    free(claude_b);
    free(codex_a);
}

/*
 * With no --db and no --source, CLAUDE_PROJECTS_DIR wins over
 * CLAUDE_CONFIG_DIR, CODEX_HOME supplies sessions/ and archived_sessions/,
 * and PARSEDIFF_DB names the archive.
 */
static void sync_default_roots_follow_environment(void **state)
{
    cli_ws *ws = *state;
    char *projects = fx_fmt("%s/projects-override", ws->env.dir);
    char *config = fx_fmt("%s/claude-config", ws->env.dir);
    char *codex_home = fx_fmt("%s/codex-home", ws->env.dir);
    char *archive = fx_fmt("%s/env-archive.db", ws->env.dir);

    char *path = fx_fmt("%s/-home-tess-src-orbit/%s.jsonl", projects, CLAUDE_A);
    write_file_owned(path, fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    path = fx_fmt("%s/projects/-home-tess-src-orbit/%s.jsonl", config, CLAUDE_B);
    write_file_owned(path, fx_claude_plain(CLAUDE_B, "Shadowed by the override."));
    path =
        fx_fmt("%s/sessions/2026/02/01/rollout-2026-02-01T09-00-00-%s.jsonl", codex_home, CODEX_A);
    write_file_owned(path, fx_codex_basic(CODEX_A, "Run the tests please."));
    path = fx_fmt("%s/archived_sessions/rollout-2026-02-02T09-00-00-%s.jsonl", codex_home, CODEX_B);
    write_file_owned(path, fx_codex_basic(CODEX_B, "Format the changelog."));

    char *env_projects = fx_fmt("CLAUDE_PROJECTS_DIR=%s", projects);
    char *env_config = fx_fmt("CLAUDE_CONFIG_DIR=%s", config);
    char *env_codex = fx_fmt("CODEX_HOME=%s", codex_home);
    char *env_db = fx_fmt("PARSEDIFF_DB=%s", archive);
    const char *env[] = {env_projects, env_config, env_codex, env_db, NULL};

    const char *sync_args[] = {"sync", NULL};
    cli_result res;
    run_process(ws, sync_args, env, -1, -1, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, archive);
    cli_result_free(&res);

    assert_true(path_exists(archive));
    assert_int_equal(fx_sql_int(archive, "SELECT count(*) FROM sessions"), 3);
    char *sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s'", CLAUDE_A);
    assert_int_equal(fx_sql_int(archive, sql), 1);
    free(sql);
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s'", CLAUDE_B);
    assert_int_equal(fx_sql_int(archive, sql), 0);
    free(sql);
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = 'codex:%s'", CODEX_B);
    assert_int_equal(fx_sql_int(archive, sql), 1);
    free(sql);
    char *home_archive_dir = fx_fmt("%s/.parsediff", ws->home);
    assert_false(path_exists(home_archive_dir));
    free(home_archive_dir);

    const char *diff_args[] = {"diff", "--fail-on-change", NULL};
    run_process(ws, diff_args, env, -1, -1, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 3 files re-parsed (all agents)");
    expect_out_contains(&res, archive);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);

    free(env_projects);
    free(env_config);
    free(env_codex);
    free(env_db);
    free(projects);
    free(config);
    free(codex_home);
    free(archive);
}

/*
 * With no options and no variables, sync reads ~/.claude/projects and
 * ~/.codex/sessions and creates ~/.parsediff/archive.db, directory included.
 */
static void sync_default_archive_under_home(void **state)
{
    cli_ws *ws = *state;
    char *path = fx_fmt("%s/.claude/projects/-home-tess-src-orbit/%s.jsonl", ws->home, CLAUDE_A);
    write_file_owned(path, fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    path = fx_fmt("%s/.codex/sessions/2026/02/01/rollout-2026-02-01T09-00-00-%s.jsonl", ws->home,
                  CODEX_A);
    write_file_owned(path, fx_codex_basic(CODEX_A, "Run the tests please."));
    char *archive = fx_fmt("%s/.parsediff/archive.db", ws->home);

    const char *sync_args[] = {"sync", NULL};
    cli_result res;
    run_args(ws, sync_args, &res);
    expect_exit(&res, 0);
    cli_result_free(&res);
    assert_true(path_exists(archive));
    assert_int_equal(fx_sql_int(archive, "SELECT count(*) FROM sessions"), 2);

    const char *diff_args[] = {"diff", "--fail-on-change", NULL};
    run_args(ws, diff_args, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "Parse diff: 2 files re-parsed (all agents)");
    expect_out_contains(&res, "0 sessions changed, 2 identical.");
    cli_result_free(&res);
    free(archive);
}

/*
 * A root variable that names no directory, and a home without any default
 * root, each get a warning, where the run used to find nothing in silence.
 */
static void missing_default_roots_warn(void **state)
{
    cli_ws *ws = *state;
    char *missing = fx_fmt("CODEX_SESSIONS_DIR=%s/no-such-dir", ws->env.dir);
    const char *env[] = {missing, NULL};
    const char *sync_args[] = {"sync", NULL};
    cli_result res;

    run_process(ws, sync_args, env, -1, -1, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "warning: CODEX_SESSIONS_DIR is ");
    expect_err_contains(&res, "no-such-dir, which is not a directory, so no transcripts are read");
    expect_err_contains(&res, "warning: none of the default source roots exists (");
    expect_err_contains(&res, "/.claude/projects, ");
    cli_result_free(&res);

    /* With the Claude root present, only the variable is named. */
    char *projects = fx_fmt("%s/.claude/projects/notes.txt", ws->home);
    fx_write(projects, "not a transcript\n");
    run_process(ws, sync_args, env, -1, -1, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "warning: CODEX_SESSIONS_DIR is ");
    expect_err_lacks(&res, "none of the default source roots");
    cli_result_free(&res);
    free(projects);
    free(missing);
}

/*
 * A leading "~/" in --db and in $PARSEDIFF_DB means $HOME, as in --source,
 * because shells leave it alone after "=" and in quotes. Nothing named "~"
 * appears in the working directory.
 */
static void db_path_expands_home(void **state)
{
    cli_ws *ws = *state;
    char *path = fx_fmt("%s/src/claude/-home-tess-src-orbit/%s.jsonl", ws->home, CLAUDE_A);
    write_file_owned(path, fx_claude_rich(CLAUDE_A, "Why does the solver diverge?"));
    char *archive = fx_fmt("%s/t/archive.db", ws->home);
    char *stray = fx_fmt("%s/~", ws->env.dir);
    ws->child_cwd = ws->env.dir;

    const char *sync_args[] = {"sync", "--db", "~/t/archive.db", "--source", "claude=~/src/claude",
                               NULL};
    cli_result res;
    run_args(ws, sync_args, &res);
    expect_exit(&res, 0);
    cli_result_free(&res);
    assert_true(path_exists(archive));
    assert_false(path_exists(stray));

    const char *diff_args[] = {"diff", "--source", "claude=~/src/claude", "--fail-on-change", NULL};
    const char *env[] = {"PARSEDIFF_DB=~/t/archive.db", NULL};
    run_process(ws, diff_args, env, -1, -1, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "0 sessions changed, 1 identical.");
    cli_result_free(&res);
    assert_false(path_exists(stray));
    free(stray);
    free(archive);
}

/* ---- output, threads and progress ------------------------------------------------ */

static void diff_closed_stdout_exits_cleanly(void **state)
{
    cli_ws *ws = *state;
    write_five(ws);
    sync_workspace(ws);

    const char *args[] = {"diff",     "--db",           ws->env.db, "--source", ws->claude_source,
                          "--source", ws->codex_source, "--json",   NULL};
    cli_result res;

    /* With a working stdout the same command prints a report, so it does write. */
    run_args(ws, args, &res);
    expect_exit(&res, 0);
    expect_out_contains(&res, "\"sessions\"");
    cli_result_free(&res);

    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    /* The pipe has no reader from the start, so every write the child makes fails with EPIPE. */
    close(fds[0]);
    run_process(ws, args, NULL, fds[1], -1, &res);
    close(fds[1]);

    if (res.signaled)
        fail_msg("`%s` was killed by signal %d with stdout closed; stderr:\n" EXCERPT, res.label,
                 res.term_signal, res.err);
    assert_true(res.exited);
    if (res.exit_code != 0 && res.exit_code != 3)
        fail_msg("`%s` exited %d with stdout closed, expected 0 or 3; stderr:\n" EXCERPT, res.label,
                 res.exit_code, res.err);
    cli_result_free(&res);
}

static void diff_thread_counts_same_json(void **state)
{
    cli_ws *ws = *state;
    write_five(ws);
    sync_workspace(ws);

    /* Two drifts, a new file and an unreadable file give the report entries whose order matters. */
    drift_first_message(ws, CLAUDE_C);
    char *codex_b = fx_fmt("codex:%s", CODEX_B);
    drift_first_message(ws, codex_b);
    free(codex_b);
    write_file_owned(fx_claude_path(&ws->env, "-home-tess-src-tides", CLAUDE_D),
                     fx_claude_plain(CLAUDE_D, "Added after the sync."));
    char *bad = fx_fmt("%s/2026/02/04/rollout-2026-02-04T09-00-00-%s.jsonl.zst", ws->env.codex_root,
                       CODEX_C);
    fx_write(bad, "this is not zstd data\n");
    free(bad);

    static const char *const thread_counts[] = {"0", "1", "4"};
    char *json_reports[3];
    char *text_reports[3];
    for (size_t i = 0; i < 3; i++) {
        cli_result res;
        run_on_workspace(ws, &res, "diff", "--json", "--threads", thread_counts[i], NULL);
        expect_exit(&res, 0);
        expect_out_contains(&res, "\"changed\": 2");
        expect_out_contains(&res, "\"new_on_disk\": 1");
        expect_out_contains(&res, "\"parse_errors\": 1");
        json_reports[i] = without_generated_at(res.out);
        cli_result_free(&res);

        run_on_workspace(ws, &res, "diff", "--verbose", "--threads", thread_counts[i], NULL);
        expect_exit(&res, 0);
        text_reports[i] = strdup(res.out);
        cli_result_free(&res);
    }
    assert_string_equal(json_reports[0], json_reports[1]);
    assert_string_equal(json_reports[0], json_reports[2]);
    assert_string_equal(text_reports[0], text_reports[1]);
    assert_string_equal(text_reports[0], text_reports[2]);
    for (size_t i = 0; i < 3; i++) {
        free(json_reports[i]);
        free(text_reports[i]);
    }
}

static void diff_progress_always_on_stderr(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--progress", "always", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "Re-parsing files:");
    expect_out_lacks(&res, "Re-parsing files:");
    /* While discovery counts files the archive's 3 stored files are the
     * estimated total, and the count is exact once discovery is done. */
    expect_err_contains(&res, "Re-parsing files: 0/~3  0.0 files/s  ETA -:--");
    expect_err_contains(&res, "Re-parsing files: 3/3 ");
    expect_err_contains(&res, "ETA 0:00");
    cli_result_free(&res);

    /* Only stored files under the roots given count: here the 2 Claude ones. */
    char *claude_root = fx_fmt("claude=%s", ws->env.claude_root);
    const char *claude_only[] = {"diff",      "--db",       ws->env.db, "--source",
                                 claude_root, "--progress", "always",   NULL};
    run_args(ws, claude_only, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "Re-parsing files: 0/~2  0.0 files/s");
    cli_result_free(&res);
    free(claude_root);

    /* A root that contains none of the stored files gives no estimate. */
    char *other = fx_fmt("%s/other-claude", ws->env.dir);
    char *copy = fx_fmt("%s/-home-tess-src-orbit/%s.jsonl", other, CLAUDE_B);
    write_file_owned(fx_fmt("%s", copy), fx_claude_plain(CLAUDE_B, "Rename the module."));
    char *other_root = fx_fmt("claude=%s", other);
    const char *other_only[] = {"diff",     "--db",       ws->env.db, "--source",
                                other_root, "--progress", "always",   NULL};
    run_args(ws, other_only, &res);
    expect_err_contains(&res, "Re-parsing files: 0 done, 0 found so far");
    free(other_root);
    free(copy);
    free(other);
    cli_result_free(&res);
}

static void sync_progress_has_its_own_label(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);

    cli_result res;
    run_on_workspace(ws, &res, "sync", "--progress", "always", NULL);
    expect_exit(&res, 0);
    expect_err_contains(&res, "Syncing files: 3/3");
    expect_err_lacks(&res, "Re-parsing files:");
    cli_result_free(&res);
}

static void diff_json_has_no_default_progress(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    run_on_workspace(ws, &res, "diff", "--json", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "Re-parsing files:");
    expect_out_lacks(&res, "Re-parsing files:");
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "files_examined", 3);
    pd_json_parser_free(parser);
    cli_result_free(&res);

    run_on_workspace(ws, &res, "diff", "--progress", "never", NULL);
    expect_exit(&res, 0);
    expect_err_lacks(&res, "Re-parsing files:");
    expect_out_contains(&res, "Parse diff: 3 files re-parsed");
    cli_result_free(&res);
}

/* ---- progress on a terminal ------------------------------------------------------- */

/* Opens a pseudo-terminal, returns its master side and stores the terminal side in *terminal. */
static int open_pseudo_terminal(int *terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        fail_msg("posix_openpt: %s", strerror(errno));
    if (grantpt(master) != 0 || unlockpt(master) != 0)
        fail_msg("grantpt or unlockpt: %s", strerror(errno));
    const char *name = ptsname(master);
    if (name == NULL)
        fail_msg("ptsname: %s", strerror(errno));
    *terminal = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*terminal < 0)
        fail_msg("open %s: %s", name, strerror(errno));
    return master;
}

/*
 * Returns everything written to the terminal side, which the caller has
 * closed. A read returns the buffered bytes and then fails with EIO. Waiting
 * for readable data is bounded by the same poll limit as a child's exit.
 */
static char *read_pseudo_terminal(int master)
{
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    if (text == NULL)
        fail_msg("out of memory");
    for (int polls = 0; polls < CHILD_POLL_LIMIT; polls++) {
        struct pollfd pfd = {.fd = master, .events = POLLIN};
        int ready = poll(&pfd, 1, CHILD_POLL_INTERVAL_MS);
        if (ready < 0 && errno != EINTR)
            fail_msg("poll on the pseudo-terminal: %s", strerror(errno));
        if (ready <= 0)
            continue;
        if (len + 1024 >= cap) {
            cap *= 2;
            text = realloc(text, cap);
            if (text == NULL)
                fail_msg("out of memory");
        }
        ssize_t n = read(master, text + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    text[len] = '\0';
    return text;
}

/* Runs a diff on the workspace with stderr on a terminal and returns what stderr showed. */
static char *diff_with_terminal_stderr(cli_ws *ws, const char *const *extra_env, bool json,
                                       cli_result *res)
{
    const char *args[] = {"diff",
                          "--db",
                          ws->env.db,
                          "--source",
                          ws->claude_source,
                          "--source",
                          ws->codex_source,
                          json ? "--json" : NULL,
                          NULL};
    int terminal = -1;
    int master = open_pseudo_terminal(&terminal);
    run_process(ws, args, extra_env, -1, terminal, res);
    close(terminal);
    char *shown = read_pseudo_terminal(master);
    close(master);
    return shown;
}

static void diff_progress_auto_on_terminal(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    sync_workspace(ws);

    cli_result res;
    char *shown = diff_with_terminal_stderr(ws, NULL, false, &res);
    expect_exit(&res, 0);
    expect_contains(&res, "terminal stderr", shown, "Re-parsing files:");
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);
    free(shown);

    /* CI turns the automatic progress bar off even on a terminal. */
    const char *const ci_env[] = {"CI=true", NULL};
    shown = diff_with_terminal_stderr(ws, ci_env, false, &res);
    expect_exit(&res, 0);
    expect_lacks(&res, "terminal stderr", shown, "Re-parsing files:");
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);
    free(shown);

    /* A JSON report never gets the automatic progress bar. */
    shown = diff_with_terminal_stderr(ws, NULL, true, &res);
    expect_exit(&res, 0);
    expect_lacks(&res, "terminal stderr", shown, "Re-parsing files:");
    expect_out_contains(&res, "\"files_examined\": 3");
    cli_result_free(&res);
    free(shown);
}

/* ---- sync with a file that cannot be read ------------------------------------------ */

static void sync_corrupt_zst_keeps_good_files(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    /* The name is a valid rollout name, but the bytes are not a zstd frame. */
    char *bad = fx_fmt("%s/2026/02/04/rollout-2026-02-04T09-00-00-%s.jsonl.zst", ws->env.codex_root,
                       CODEX_B);
    fx_write(bad, "this is not zstd data\n{\"type\":\"session_meta\"}\n");

    cli_result res;
    run_on_workspace(ws, &res, "sync", "--threads", "2", NULL);
    expect_exit(&res, 3);
    expect_empty_stdout(&res);
    expect_err_contains(&res, bad);
    expect_err_contains(&res, "1 failed");

    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 3);
    char *sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s'", CLAUDE_A);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 1);
    free(sql);
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = '%s'", CLAUDE_B);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 1);
    free(sql);
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = 'codex:%s'", CODEX_A);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 1);
    free(sql);
    sql = fx_fmt("SELECT count(*) FROM sessions WHERE id = 'codex:%s'", CODEX_B);
    assert_int_equal(fx_sql_int(ws->env.db, sql), 0);
    free(sql);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM messages"),
                     fx_sql_int(ws->env.db, "SELECT sum(message_count) FROM sessions"));
    cli_result_free(&res);
    free(bad);
}

/* A control character in a file name reaches stderr as '?', never raw. */
static void sync_scrubs_controls_in_file_names(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    char *garbage = fx_claude_path(&ws->env, "-home-tess-src-\x1b[31mred", "bad\x1b[2J");
    fx_write(garbage, "not json\n");

    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 3);
    expect_err_contains(&res, "-home-tess-src-?[31mred/bad?[2J");
    expect_err_lacks(&res, "\x1b");
    cli_result_free(&res);
    free(garbage);
}

/* Lines that are not JSON are counted as malformed, and the file itself does not fail. */
static void sync_garbage_file_is_reported(void **state)
{
    cli_ws *ws = *state;
    write_three(ws);
    static const char *const garbage_id = "7d0c4e21-0000-4bad-8bad-dd0000000004";
    char *garbage = fx_claude_path(&ws->env, "-home-tess-src-orbit", garbage_id);
    fx_write(garbage, "garbage one\n{\"broken\":\nnot json either\n");

    /* A file with malformed lines and not one message is not a transcript:
     * sync names it, writes nothing for it, and writes everything else. */
    cli_result res;
    run_on_workspace(ws, &res, "sync", NULL);
    expect_exit(&res, 3);
    expect_err_contains(&res, "1 failed");
    expect_err_contains(&res, garbage);
    expect_err_contains(&res, "3 malformed lines");
    cli_result_free(&res);
    assert_int_equal(fx_sql_int(ws->env.db, "SELECT count(*) FROM sessions"), 3);

    run_on_workspace(ws, &res, "diff", "--fail-on-change", NULL);
    expect_exit(&res, 1);
    expect_out_contains(&res, "Parse errors");
    expect_out_contains(&res, garbage);
    expect_out_contains(&res, "0 sessions changed, 3 identical.");
    cli_result_free(&res);

    /* parse still shows what the parser made of it. */
    const char *parse_args[] = {"parse", garbage, NULL};
    run_args(ws, parse_args, &res);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_json_int(root, "sessions.0.parser_malformed_lines", 3);
    assert_json_int(root, "sessions.0.message_count", 0);
    pd_json_parser_free(parser);
    cli_result_free(&res);
    free(garbage);
}

/* ---- the real corpus ---------------------------------------------------------------- */

/* Source and destination prefixes for copy_entry, which are globals because nftw takes no context.
 */
static const char *copy_from;
static const char *copy_to;

static int copy_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    char *target = fx_fmt("%s%s", copy_to, path + strlen(copy_from));
    if (type == FTW_D) {
        if (mkdir(target, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", target, strerror(errno));
    } else if (type == FTW_F && S_ISREG(st->st_mode)) {
        size_t len = 0;
        char *data = fx_read(path, &len);
        FILE *f = fopen(target, "wb");
        if (f == NULL)
            fail_msg("open %s: %s", target, strerror(errno));
        if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
            fail_msg("write %s failed", target);
        free(data);
    }
    free(target);
    return 0;
}

static void diff_real_corpus_is_clean(void **state)
{
    cli_ws *ws = *state;
    const char *shared = getenv("PD_SHARED_DIR");
    if (shared == NULL)
        fail_msg("PD_SHARED_DIR is not set; run this test through ctest");
    char *corpus = fx_fmt("%s/corpus/real", shared);
    char *copy = fx_fmt("%s/real", ws->env.dir);
    copy_from = corpus;
    copy_to = copy;
    if (nftw(corpus, copy_entry, 16, FTW_PHYS) != 0)
        fail_msg("copying %s failed", corpus);

    char *claude = fx_fmt("claude=%s/claude/projects", copy);
    char *codex = fx_fmt("codex=%s/codex/sessions", copy);
    const char *sync_args[] = {"sync", "--db",     ws->env.db, "--source",
                               claude, "--source", codex,      NULL};
    cli_result res;
    run_args(ws, sync_args, &res);
    expect_exit(&res, 0);
    expect_err_contains(&res, "0 failed");
    cli_result_free(&res);

    const char *diff_args[] = {"diff",     "--db", ws->env.db, "--source",         claude,
                               "--source", codex,  "--json",   "--fail-on-change", NULL};
    run_args(ws, diff_args, &res);
    expect_exit(&res, 0);
    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_stdout_json(parser, &res);
    assert_true(pd_json_int(pd_json_path(root, "totals.examined")) > 0);
    assert_json_int(root, "totals.changed", 0);
    assert_json_int(root, "totals.parse_errors", 0);
    assert_json_int(root, "totals.new_on_disk", 0);
    assert_int_equal(pd_json_len(pd_json_get(root, "field_counts")), 0);

    pd_json_parser_free(parser);
    cli_result_free(&res);
    free(claude);
    free(codex);
    free(copy);
    free(corpus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cli_help_exits_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_diff_help_exits_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_help_names_a_command, setup, teardown),
        cmocka_unit_test_setup_teardown(archive_path_naming_a_directory_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cli_version_exits_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_usage_errors_exit_two, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_far_option_has_no_suggestion, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_option_of_other_command_named, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_unknown_agent_quoted_as_typed, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_names_excluded_session, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_prints_claude_and_codex_json, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_wrong_agent_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_empty_or_malformed_file_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_dash_is_not_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_bad_paths_exit_three, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_relative_path_and_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_after_sync_text_is_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_after_sync_json_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_agent_option_scopes_report, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_entries_not_files, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_malformed_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_nul_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_rerun_skips_unchanged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_appended_file_is_incremental, setup, teardown),
        cmocka_unit_test_setup_teardown(relative_roots_match_absolute_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_wrong_roots_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_copied_corpus_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_copy_under_the_roots_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_copy_never_hides_original, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_root_given_twice_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_copy_warning_thread_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(linked_project_directory_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_directory_in_place_of_transcript, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_root_through_link_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_empty_archive_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_archive_of_other_transcripts_names_db, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diff_empty_archive_is_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_format_json_matches_json_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_drift_fails_on_change, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_drift_passes_without_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(claude_partial_line_same_mtime_raced, setup, teardown),
        cmocka_unit_test_setup_teardown(claude_incremental_row_with_partial_line_changed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(codex_line_without_newline_same_mtime_raced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(claude_spill_file_after_sync_raced, setup, teardown),
        cmocka_unit_test_setup_teardown(codex_partial_line_same_mtime_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_raced_drift_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_vacuous_run_fails_on_change, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_warns_of_newer_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_verbose_shows_field_values, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_parse_error_fails_on_change, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_new_file_does_not_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_missing_archive_not_created, setup, teardown),
        cmocka_unit_test_setup_teardown(archive_path_is_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_leaves_archive_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_unusable_archive_exits_three, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_limit_samples_newest_source, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_default_roots_follow_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_default_archive_under_home, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_default_roots_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(db_path_expands_home, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_closed_stdout_exits_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_thread_counts_same_json, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_progress_always_on_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_progress_has_its_own_label, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_json_has_no_default_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_progress_auto_on_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_corrupt_zst_keeps_good_files, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_garbage_file_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_an_empty_root, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_two_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_two_new_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_names_sessions_stored_for_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_empty_roots_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(codex_rollout_twice_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_emptied_copy_is_no_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_copy_warning_thread_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_warns_differing_third_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(compressed_copy_is_same_text, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_stops_when_archive_cannot_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_failed_write_keeps_the_rest_of_its_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sync_warns_about_a_shorter_file, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_scrubs_controls_in_file_names, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_real_corpus_is_clean, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
