/*
 * main.c -- parsediff entry point: dispatches to the subcommands.
 *
 * parsediff parse [--agent claude|codex] FILE...
 * parsediff sync  [--db PATH] [--source AGENT=DIR]... [--threads N] [--full]
 * parsediff diff  [--db PATH] [--source AGENT=DIR]... [--agent NAME]... [--limit N]
 *                 [--fail-on-change] [--fail-on-uncompared] [--format text|json] [--json]
 *                 [--timings] [-v] [--threads N] [--progress auto|always|never]
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/arena.h"
#include "common/log.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "parsers/provider.h"
#include "report/report.h"

atomic_bool pd_cli_cancel;
static atomic_int cancel_signal;     /* the first SIGINT or SIGTERM received */
static atomic_llong first_signal_ns; /* pd_monotonic_ns() at that signal */
/* The handler's atomics must not take a lock, or it could deadlock. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_BOOL_LOCK_FREE == 2 &&
                   ATOMIC_LLONG_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

/* Signals this soon after the first are the same request: `timeout` and CI
 * runners signal the process and then its whole group, a few microseconds
 * apart. */
#define SAME_REQUEST_NS (500LL * 1000 * 1000)

static void on_sigint(int sig)
{
    /* A later second signal ends the process at once with the default
     * action. signal(), raise() and clock_gettime(), which
     * pd_monotonic_ns() calls, are async-signal-safe. */
    if (atomic_load(&pd_cli_cancel)) {
        if (pd_monotonic_ns() - atomic_load(&first_signal_ns) < SAME_REQUEST_NS)
            return;
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    int none = 0;
    if (atomic_compare_exchange_strong(&cancel_signal, &none, sig))
        atomic_store(&first_signal_ns, pd_monotonic_ns());
    atomic_store(&pd_cli_cancel, true);
}

int pd_cli_interrupted_exit_code(void)
{
    int sig = atomic_load(&cancel_signal);
    return sig != 0 ? 128 + sig : PD_EXIT_INTERRUPTED;
}

const char *pd_cli_stop_reason(void)
{
    return atomic_load(&cancel_signal) == SIGTERM ? "stopped by SIGTERM" : "interrupted by SIGINT";
}

void pd_cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    /* One handler at a time, so a second signal always finds the first one's time. */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    /* A write of the report to a slow pipe goes on after the signal instead of
     * failing with EINTR halfway. The run itself stops at its next check. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed stdout must surface as EPIPE on write, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Likewise a file size limit (ulimit -f): the write fails with EFBIG, and
     * sync names the transcript it could not write and stops. */
    signal(SIGXFSZ, SIG_IGN);
}

const char *pd_cli_scrubbed(char *buf, size_t cap, const char *s)
{
    snprintf(buf, cap, "%s", s != NULL ? s : "?");
    pd_text_scrub_controls(buf);
    return buf;
}

void pd_cli_warn_shadowed(int64_t n, const char *path)
{
    fprintf(stderr,
            "parsediff: warning: %lld Codex rollout%s, such as %s, %s not read: an earlier "
            "rollout under the roots has the same session UUID in its file name, and only the "
            "first one found is read (roots in the order given, then path order). Keep one "
            "rollout per session.\n",
            (long long)n, n == 1 ? "" : "s", path, n == 1 ? "was" : "were");
}

void pd_cli_show_progress(void *bar, const pd_progress_info *info)
{
    pd_progress_set_counting(bar, info->counting, info->expected);
    pd_progress_set_total(bar, info->found);
    pd_progress_tick(bar, info->done);
}

void pd_cli_error(const char *fmt, ...)
{
    char stack_msg[1024];
    va_list ap, measure;
    va_start(ap, fmt);
    va_copy(measure, ap);
    int n = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    char *msg = n >= 0 && (size_t)n >= sizeof stack_msg ? malloc((size_t)n + 1) : NULL;
    size_t cap = msg != NULL ? (size_t)n + 1 : sizeof stack_msg;
    if (msg == NULL)
        msg = stack_msg;
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    /* Messages carry file names, which may contain control characters. */
    pd_text_scrub_controls(msg);
    fprintf(stderr, "parsediff: error: %s\n", msg);
    if (msg != stack_msg)
        free(msg);
}

int pd_cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs("parsediff: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'parsediff %s--help' for usage.\n", command != NULL ? command : "");
    return PD_EXIT_USAGE;
}

/* Levenshtein distance between a[0..na) and b[0..nb), for names of at most 63 bytes. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t row[64];

    if (na > 63 || nb > 63)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t above = row[j];
            size_t cost = diagonal + (a[i - 1] != b[j - 1]);
            size_t best = above + 1 < row[j - 1] + 1 ? above + 1 : row[j - 1] + 1;
            row[j] = cost < best ? cost : best;
            diagonal = above;
        }
    }
    return row[nb];
}

/* Long options that one command takes and another does not, to name the right command. */
static const struct {
    const char *name;
    const char *command;
} command_options[] = {
    {"fail-on-change", "diff"}, {"fail-on-uncompared", "diff"},
    {"limit", "diff"},          {"json", "diff"},
    {"format", "diff"},         {"verbose", "diff"},
    {"timings", "diff"},        {"full", "sync"},
};

int pd_cli_unknown_option(const char *command, const char *arg, const struct option *longopts)
{
    /* Only a long option ("--name" or "--name=value") is compared with the names. */
    if (strncmp(arg, "--", 2) != 0)
        return pd_cli_usage_error(command, "unknown option \"%s\"", arg);

    const char *name = arg + 2;
    size_t n = strcspn(name, "=");
    for (size_t i = 0; i < sizeof command_options / sizeof command_options[0]; i++) {
        const char *owner = command_options[i].command;
        if (strlen(command_options[i].name) == n &&
            strncmp(name, command_options[i].name, n) == 0 &&
            (command == NULL || strncmp(command, owner, strlen(owner)) != 0))
            return pd_cli_usage_error(command,
                                      "unknown option \"%s\": it is an option of "
                                      "parsediff %s",
                                      arg, owner);
    }
    const char *closest = NULL;
    size_t closest_distance = 3;

    for (const struct option *o = longopts; o->name != NULL; o++) {
        size_t d = edit_distance(name, n, o->name, strlen(o->name));
        if (d < closest_distance) {
            closest = o->name;
            closest_distance = d;
        }
    }
    if (closest != NULL)
        return pd_cli_usage_error(command, "unknown option \"%s\"; did you mean --%s?", arg,
                                  closest);
    return pd_cli_usage_error(command, "unknown option \"%s\"", arg);
}

int pd_cli_bad_option(const char *command, int what, char *const argv[],
                      const struct option *longopts)
{
    /* A long option is a word of its own, so getopt has stepped past it. A
     * short one may sit inside a group, where only optopt names it. */
    const char *word = optind > 0 ? argv[optind - 1] : NULL;
    bool is_long = word != NULL && strncmp(word, "--", 2) == 0 && word[2] != '\0' &&
                   (what == ':' || optopt == 0);
    if (what == ':') {
        if (is_long)
            return pd_cli_usage_error(command, "option %.*s needs a value", (int)strcspn(word, "="),
                                      word);
        return pd_cli_usage_error(command, "option -%c needs a value", optopt);
    }
    /* For "--name=value" given to an option without a value, getopt sets
     * optopt to that option's val, as for the short option of that letter. */
    if (!is_long && word != NULL && strncmp(word, "--", 2) == 0 && strchr(word, '=') != NULL) {
        size_t n = strcspn(word + 2, "=");
        for (const struct option *o = longopts; o->name != NULL; o++) {
            if (o->has_arg == no_argument && o->val == optopt && strncmp(o->name, word + 2, n) == 0)
                return pd_cli_usage_error(command, "option --%s takes no value (got \"%s\")",
                                          o->name, word);
        }
    }
    if (is_long)
        return pd_cli_unknown_option(command, word, longopts);
    char short_name[3] = {'-', (char)optopt, '\0'};
    return pd_cli_unknown_option(command, short_name, longopts);
}

bool pd_cli_parse_count(const char *text, long long *out)
{
    if (text == NULL || *text == '\0')
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool pd_cli_make_parent_dirs(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        pd_cli_error("archive path is too long: %s", path);
        return false;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return true;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                pd_cli_error("cannot create directory %s for the archive: %s", dir, strerror(errno));
                return false;
            }
            if (end)
                break;
            *p = '/';
        }
    }
    return true;
}

static char *join_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/*
 * Stored file paths are built from the roots, so "./x" and "/home/u/x" must
 * name a file the same way (see cli.h).
 */
char *pd_cli_absolute_path(char *dir)
{
    if (dir == NULL) {
        pd_cli_error("out of memory");
        return NULL;
    }
    char *joined = dir;
    if (dir[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            pd_cli_error("cannot resolve the relative path %s: %s", dir, strerror(errno));
            free(dir);
            return NULL;
        }
        joined = join_path(cwd, dir);
        free(dir);
        if (joined == NULL) {
            pd_cli_error("out of memory");
            return NULL;
        }
    }
    pd_arena *a = pd_arena_new();
    char *clean = a != NULL ? pd_path_clean(a, joined, strlen(joined)) : NULL;
    char *out = clean != NULL ? strdup(clean) : NULL;
    pd_arena_free(a);
    free(joined);
    if (out == NULL)
        pd_cli_error("out of memory");
    return out;
}

static bool add_root(pd_cli_sources *s, const char *agent, char *dir_owned)
{
    dir_owned = pd_cli_absolute_path(dir_owned);
    if (dir_owned == NULL)
        return false;
    if (s->n_roots >= 64 || s->n_owned >= 64) {
        free(dir_owned);
        pd_cli_error("too many source roots (at most 64)");
        return false;
    }
    s->owned[s->n_owned++] = dir_owned;
    s->roots[s->n_roots++] = (pd_agent_root){.agent = agent, .root = dir_owned};
    return true;
}

static const char *home_dir(void);

/*
 * Returns a malloc'd copy of path with a leading "~/" replaced by $HOME, or
 * NULL when out of memory. Shells leave "~" alone after "=" and inside
 * quotes, and in environment variables.
 */
static char *expand_home(const char *path)
{
    return strncmp(path, "~/", 2) == 0 ? join_path(home_dir(), path + 2) : strdup(path);
}

bool pd_cli_sources_add(pd_cli_sources *s, const char *command, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec || eq[1] == '\0') {
        pd_cli_usage_error(command, "invalid --source \"%s\": expected AGENT=DIR, e.g. codex=~/.codex/sessions",
                           spec);
        return false;
    }
    char agent[32];
    size_t n = (size_t)(eq - spec);
    if (n >= sizeof agent) {
        pd_cli_usage_error(command, "unknown agent in --source \"%s\" (supported: claude, codex)", spec);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        agent[i] = (char)tolower((unsigned char)spec[i]);
    agent[n] = '\0';
    const pd_provider *p = pd_provider_find(agent);
    if (p == NULL) {
        pd_cli_usage_error(command, "unknown agent \"%.*s\" in --source (supported: claude, codex)",
                           (int)n, spec);
        return false;
    }

    char *root = expand_home(eq + 1);
    if (root == NULL) {
        pd_cli_error("out of memory");
        return false;
    }
    struct stat st;
    if (stat(root, &st) != 0) {
        int saved = errno;
        pd_cli_usage_error(command,
                           "source root for %s %s: %s (%s); pass the directory that contains "
                           "the transcripts",
                           p->name, saved == ENOENT ? "not found" : "cannot be read", root,
                           strerror(saved));
        free(root);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        pd_cli_usage_error(command,
                           "source root for %s is a file, not a directory: %s; pass the "
                           "directory that contains the transcripts",
                           p->name, root);
        free(root);
        return false;
    }
    return add_root(s, p->name, root);
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    return h != NULL && h[0] != '\0' ? h : "/";
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Warns when an environment variable the user set names no directory, because a typo there
 * would otherwise go unnoticed. */
static void warn_missing_variable(const char *name)
{
    const char *value = env_nonempty(name);
    if (value != NULL && !is_dir(value))
        fprintf(stderr,
                "parsediff: warning: %s is %s, which is not a directory, so no transcripts are "
                "read from it. Set it to the directory that holds them, or pass --source\n",
                name, value);
}

/* Warns when no default root exists, so a run that finds nothing names where it looked. */
static void warn_no_default_root(const pd_cli_sources *s)
{
    for (size_t i = 0; i < s->n_roots; i++) {
        if (is_dir(s->roots[i].root))
            return;
    }
    fprintf(stderr, "parsediff: warning: none of the default source roots exists (");
    for (size_t i = 0; i < s->n_roots; i++)
        fprintf(stderr, "%s%s", i > 0 ? ", " : "", s->roots[i].root);
    fprintf(stderr, "); pass --source AGENT=DIR\n");
}

/* True when path names its directory without a symbolic link on the way. */
static bool is_real_path(const char *path)
{
    char *real = realpath(path, NULL);
    bool same = real != NULL && strcmp(real, path) == 0;
    free(real);
    return same;
}

/* True when both paths name one directory. */
static bool same_directory(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && S_ISDIR(sa.st_mode) && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Warns that the root dropped is read once, through kept_path, the name of the same directory. */
static void warn_repeated_root(const char *agent, const char *dropped, const char *kept_path)
{
    char dropped_root[PATH_MAX], kept_root[PATH_MAX];
    pd_cli_scrubbed(dropped_root, sizeof dropped_root, dropped);
    pd_cli_scrubbed(kept_root, sizeof kept_root, kept_path);
    if (strcmp(dropped_root, kept_root) == 0)
        fprintf(stderr,
                "parsediff: warning: the %s root %s is given twice, so it is read once. Give "
                "each root once.\n",
                agent, kept_root);
    else
        fprintf(stderr,
                "parsediff: warning: the %s root %s is the same directory as the root %s, so "
                "it is read once, as %s. Give each root once.\n",
                agent, dropped_root, kept_root, kept_root);
}

/*
 * Drops, with a warning, each root that names the same directory as
 * another root of the same agent: the same path, a trailing slash, or a
 * symbolic link to it. Of such roots the one without a link is kept, else
 * the first, in the place of the first. No transcript is then read twice
 * under two names.
 */
static void drop_repeated_roots(pd_cli_sources *s)
{
    size_t n_kept = 0;
    for (size_t i = 0; i < s->n_roots; i++) {
        pd_agent_root r = s->roots[i];
        pd_agent_root *earlier = NULL;
        for (size_t k = 0; k < n_kept && earlier == NULL; k++) {
            if (strcmp(s->roots[k].agent, r.agent) == 0 && same_directory(r.root, s->roots[k].root))
                earlier = &s->roots[k];
        }
        if (earlier == NULL) {
            s->roots[n_kept++] = r;
            continue;
        }
        pd_agent_root dropped = r;
        if (strcmp(r.root, earlier->root) != 0 && is_real_path(r.root) &&
            !is_real_path(earlier->root)) {
            dropped = *earlier;
            *earlier = r;
        }
        warn_repeated_root(r.agent, dropped.root, earlier->root);
    }
    s->n_roots = n_kept;
}

bool pd_cli_sources_defaults(pd_cli_sources *s)
{
    drop_repeated_roots(s);
    if (s->n_roots == 0) {
        const char *claude = env_nonempty("CLAUDE_PROJECTS_DIR");
        char *root;
        warn_missing_variable(claude != NULL ? "CLAUDE_PROJECTS_DIR" : "CLAUDE_CONFIG_DIR");
        if (claude != NULL)
            root = strdup(claude);
        else if (env_nonempty("CLAUDE_CONFIG_DIR") != NULL)
            root = join_path(env_nonempty("CLAUDE_CONFIG_DIR"), "projects");
        else
            root = join_path(home_dir(), ".claude/projects");
        if (!add_root(s, "claude", root))
            return false;

        const char *codex = env_nonempty("CODEX_SESSIONS_DIR");
        warn_missing_variable(codex != NULL ? "CODEX_SESSIONS_DIR" : "CODEX_HOME");
        if (codex != NULL) {
            if (!add_root(s, "codex", strdup(codex)))
                return false;
        } else {
            char *home = env_nonempty("CODEX_HOME") != NULL ? strdup(env_nonempty("CODEX_HOME"))
                                                            : join_path(home_dir(), ".codex");
            if (home == NULL)
                return false;
            bool ok = add_root(s, "codex", join_path(home, "sessions")) &&
                      add_root(s, "codex", join_path(home, "archived_sessions"));
            free(home);
            if (!ok)
                return false;
        }
        warn_no_default_root(s);
    }
    const char *db = s->db_path != NULL ? s->db_path : env_nonempty("PARSEDIFF_DB");
    s->db_owned = db != NULL ? expand_home(db) : join_path(home_dir(), ".parsediff/archive.db");
    if (s->db_owned == NULL)
        return false;
    s->db_path = s->db_owned;
    return true;
}

bool pd_cli_db_is_file_path(const char *command, const char *db)
{
    size_t n = strlen(db);
    if (n == 0) {
        pd_cli_usage_error(command, "the archive path is empty; pass the archive file with --db");
        return false;
    }
    const char *base = strrchr(db, '/');
    base = base != NULL ? base + 1 : db;
    if (db[n - 1] != '/' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0)
        return true;
    /* Caught before sync creates any directory, so "newdir/" makes none. */
    pd_cli_usage_error(command,
                       "the archive path %s names a directory; pass the archive file, such as "
                       "%s%sarchive.db",
                       db, db, n > 0 && db[n - 1] == '/' ? "" : "/");
    return false;
}

void pd_cli_sources_free(pd_cli_sources *s)
{
    for (size_t i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    free(s->db_owned);
    memset(s, 0, sizeof *s);
}

static void print_help(FILE *out)
{
    fputs("parsediff - re-parse coding-agent transcripts and diff them against an archive\n"
          "\n"
          "Usage:\n"
          "  parsediff parse [--agent claude|codex] FILE...\n"
          "      Print every session parsed from each transcript as JSON.\n"
          "  parsediff sync [--db PATH] [--source AGENT=DIR]... [--threads N] [--full]\n"
          "                 [--progress auto|always|never]\n"
          "      Parse every transcript and write the archive (created if absent).\n"
          "  parsediff diff [--db PATH] [--source AGENT=DIR]... [--agent NAME]... [--limit N]\n"
          "                 [--fail-on-change] [--fail-on-uncompared] [--format text|json]\n"
          "                 [--json] [--timings] [-v] [--threads N]\n"
          "                 [--progress auto|always|never]\n"
          "      Re-parse every transcript and report which stored sessions would change.\n"
          "  parsediff --version\n"
          "\n"
          "Run 'parsediff COMMAND --help' or 'parsediff help COMMAND' for the options of\n"
          "one command.\n"
          "\n"
          "Exit codes: 0 clean; 1 drift under --fail-on-change (or --fail-on-uncompared);\n"
          "2 usage error; "
          "3 runtime failure (archive unreadable, I/O, a file that failed);\n"
          "130 interrupted (SIGINT), 143 terminated (SIGTERM).\n",
          out);
}

int main(int argc, char **argv)
{
    const char *level = getenv("PD_LOG_LEVEL");
    if (level != NULL && pd_log_level_from_name(level) >= 0)
        pd_log_set_level(pd_log_level_from_name(level));

    if (argc < 2) {
        print_help(stderr);
        return PD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        /* "parsediff help sync" is "parsediff sync --help". */
        const char *topic = argc > 2 ? argv[2] : "";
        char help_option[] = "--help";
        char *topic_argv[] = {argv[2], help_option, NULL};
        if (strcmp(topic, "parse") == 0)
            return pd_cmd_parse(2, topic_argv);
        if (strcmp(topic, "sync") == 0)
            return pd_cmd_sync(2, topic_argv);
        if (strcmp(topic, "diff") == 0)
            return pd_cmd_diff(2, topic_argv);
        if (topic[0] != '\0')
            return pd_cli_usage_error(NULL, "unknown command \"%s\" (commands: parse, sync, diff)",
                                      topic);
        print_help(stdout);
        return PD_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("parsediff %s (data version %d)\n", PD_VERSION, PD_DATA_VERSION);
        return PD_EXIT_OK;
    }

    /* A signal must still end parse, which does not poll the cancel flag,
     * and a closed stdout or a file size limit must not kill it. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    if (strcmp(cmd, "parse") == 0)
        return pd_cmd_parse(argc - 1, argv + 1);
    pd_cli_install_signals();
    if (strcmp(cmd, "sync") == 0)
        return pd_cmd_sync(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0)
        return pd_cmd_diff(argc - 1, argv + 1);
    return pd_cli_usage_error(NULL, "unknown command \"%s\" (commands: parse, sync, diff)", cmd);
}
