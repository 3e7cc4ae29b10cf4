/*
 * gen_main.c -- parsediff-gen: writes a synthetic transcript corpus, syncs
 * it into an archive with the parsediff binary, and plants drift.
 *
 *   parsediff-gen [generate] --out DIR [--profile NAME] [--seed N] [--sessions N]
 *                 [--codex-share F] [--threads N] [--huge-line-bytes N]
 *   parsediff-gen sync  --corpus DIR --db PATH [--parsediff BIN] [--threads N] [--full]
 *   parsediff-gen drift --corpus DIR --db PATH [--seed N] [--changed-share F]
 *                       [--appended-share F]
 *
 * Exit codes: 0 success, 2 usage error, 3 failure (the message names the
 * file); sync passes parsediff's own exit code through.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/gen_corpus.h"
#include "bench/harness_proc.h"

enum { EXIT_USAGE = 2, EXIT_FAILURE_RUN = 3 };

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: parsediff-gen [generate] --out DIR [options]\n"
        "       parsediff-gen sync --corpus DIR --db PATH [--parsediff BIN] [--threads N] "
        "[--full]\n"
        "       parsediff-gen drift --corpus DIR --db PATH [--seed N] [--changed-share F]\n"
        "                           [--appended-share F]\n"
        "\n"
        "generate writes Claude Code and Codex transcripts under DIR/claude and\n"
        "DIR/codex/sessions, DIR/codex/session_index.jsonl and DIR/parsediff-gen.json.\n"
        "  --out DIR             output directory (must not contain claude/ or codex/)\n"
        "  --profile NAME        %s (default small)\n"
        "  --seed N              random seed; the same seed writes the same bytes (default 1)\n"
        "  --sessions N          session count instead of the profile's\n"
        "  --codex-share F       share of Codex sessions, 0..1 (default 0.5)\n"
        "  --threads N           writer threads; 0, the default, uses every online CPU\n"
        "  --huge-line-bytes N   size of the profile's huge lines in bytes (default 10500000)\n"
        "\n"
        "sync runs `parsediff sync` on the corpus roots and prints its time and peak RSS.\n"
        "  --parsediff BIN       binary to run (default: $PARSEDIFF_BIN, else the build tree's)\n"
        "  --threads N           passed to parsediff sync\n"
        "  --full                passed to parsediff sync\n"
        "\n"
        "drift changes stored rows and appends whole turns to transcripts.\n"
        "  --changed-share F     share of sessions with one changed stored value (default 0.01)\n"
        "  --appended-share F    share of the unchanged sessions' transcripts that get a\n"
        "                        turn appended (default 0.01)\n"
        "Each session is picked with probability F, from the seed and its id, so the\n"
        "counts come close to the shares but need not equal them.\n",
        pd_gen_profile_names());
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("parsediff-gen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'parsediff-gen --help' for usage.\n", stderr);
    return EXIT_USAGE;
}

static bool parse_u64(const char *text, unsigned long long *out)
{
    if (text == NULL || text[0] == '\0' || text[0] == '-')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_share(const char *text, double *out)
{
    if (text == NULL || text[0] == '\0')
        return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

/* Formats a byte count in SI units (1 KB = 1000 bytes). */
static const char *human_bytes(double bytes, char *buf, size_t cap)
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        u++;
    }
    snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

/* ---- generate ------------------------------------------------------------ */

static int cmd_generate(int argc, char **argv)
{
    const char *out_dir = NULL;
    const char *profile_name = "small";
    unsigned long long seed = 1, sessions = 0, threads = 0, huge = 0;
    double codex_share = 0.5;
    bool have_sessions = false;
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"profile", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"sessions", required_argument, NULL, 'n'},
        {"codex-share", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"huge-line-bytes", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out_dir = optarg;
            break;
        case 'p':
            profile_name = optarg;
            break;
        case 's':
            if (!parse_u64(optarg, &seed))
                return usage_error("--seed must be a non-negative integer, got \"%s\"", optarg);
            break;
        case 'n':
            if (!parse_u64(optarg, &sessions) || sessions == 0)
                return usage_error("--sessions must be a positive integer, got \"%s\"", optarg);
            have_sessions = true;
            break;
        case 'c':
            if (!parse_share(optarg, &codex_share))
                return usage_error("--codex-share must be a number from 0 to 1, got \"%s\"",
                                   optarg);
            break;
        case 't':
            if (!parse_u64(optarg, &threads) || threads > 1024)
                return usage_error("--threads must be an integer from 0 to 1024, got \"%s\"",
                                   optarg);
            break;
        case 'H':
            if (!parse_u64(optarg, &huge) || huge == 0 || huge > (1ull << 31))
                return usage_error("--huge-line-bytes must be from 1 to 2147483648, got \"%s\"",
                                   optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (out_dir == NULL)
        return usage_error("%s", "missing --out DIR");
    const pd_gen_profile *profile = pd_gen_profile_find(profile_name);
    if (profile == NULL)
        return usage_error("unknown --profile \"%s\" (expected small, mixed or many)",
                           profile_name);

    struct stat out_st;
    if (stat(out_dir, &out_st) == 0 && !S_ISDIR(out_st.st_mode)) {
        fprintf(stderr,
                "parsediff-gen: error: --out %s is not a directory (give a new or empty "
                "directory)\n",
                out_dir);
        return EXIT_USAGE;
    }

    pd_gen_config cfg;
    pd_gen_config_init(&cfg, profile, out_dir);
    cfg.seed = seed;
    cfg.codex_share = codex_share;
    cfg.n_threads = (unsigned)threads;
    cfg.huge_line_bytes = (int64_t)huge;
    if (have_sessions)
        cfg.profile.n_sessions = (int64_t)sessions;

    pd_gen_stats st;
    pd_err err = {0};
    int rc = pd_gen_write_corpus(&cfg, &st, &err);
    if (rc != PD_OK) {
        fprintf(stderr, "parsediff-gen: error: %s\n", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        return rc == PD_EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUN;
    }

    char a[32], b[32], c[32], d[32], e[32];
    printf("parsediff-gen: wrote profile %s (seed %llu, %lld sessions) to %s in %.1f s\n",
           profile->name, seed, (long long)cfg.profile.n_sessions, out_dir, st.seconds);
    printf("  files         %lld (%lld Claude, %lld Codex); session_index.jsonl: %lld entries\n",
           (long long)st.n_files, (long long)st.n_claude, (long long)st.n_codex,
           (long long)st.n_index_entries);
    printf("  bytes         %s (%lld)\n", human_bytes((double)st.total_bytes, a, sizeof a),
           (long long)st.total_bytes);
    printf("  file sizes    p50 %s, p90 %s, p99 %s, max %s\n",
           human_bytes((double)st.size_p50, a, sizeof a),
           human_bytes((double)st.size_p90, b, sizeof b),
           human_bytes((double)st.size_p99, c, sizeof c),
           human_bytes((double)st.size_max, d, sizeof d));
    printf("  longest line  %s; lines over 10 MB: %lld\n",
           human_bytes((double)st.longest_line, e, sizeof e), (long long)st.n_lines_over_10mb);
    printf("  sources       --source claude=%s/claude --source codex=%s/codex/sessions\n", out_dir,
           out_dir);
    return 0;
}

/* ---- sync ---------------------------------------------------------------- */

static int cmd_sync(int argc, char **argv)
{
    const char *corpus = NULL, *db = NULL, *threads = NULL;
    char parsediff[4096];
    pd_proc_default_parsediff(parsediff, sizeof parsediff);
    bool full = false;
    static const struct option options[] = {
        {"corpus", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"parsediff", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"full", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            corpus = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'p':
            snprintf(parsediff, sizeof parsediff, "%s", optarg);
            break;
        case 't':
            threads = optarg;
            break;
        case 'f':
            full = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (corpus == NULL || db == NULL)
        return usage_error("%s", "missing --corpus DIR or --db PATH (sync needs both)");

    char claude[4200], codex[4200];
    snprintf(claude, sizeof claude, "claude=%s/claude", corpus);
    snprintf(codex, sizeof codex, "codex=%s/codex/sessions", corpus);
    char *args[16];
    size_t n = 0;
    args[n++] = parsediff;
    args[n++] = "sync";
    args[n++] = "--db";
    args[n++] = (char *)db;
    args[n++] = "--source";
    args[n++] = claude;
    args[n++] = "--source";
    args[n++] = codex;
    args[n++] = "--progress";
    args[n++] = "never";
    if (threads != NULL) {
        args[n++] = "--threads";
        args[n++] = (char *)threads;
    }
    if (full)
        args[n++] = "--full";
    args[n] = NULL;

    char command[8192];
    pd_proc_format_command(args, command, sizeof command);
    printf("parsediff-gen: running %s\n", command);
    fflush(stdout);
    pd_proc_result res;
    pd_err err = {0};
    if (pd_proc_run(args, NULL, NULL, &res, &err) != PD_OK) {
        fprintf(stderr, "parsediff-gen: error: %s\n", err.msg);
        return EXIT_FAILURE_RUN;
    }
    printf("parsediff-gen: sync exit %d in %.2f s (user %.2f s, sys %.2f s), peak RSS %.1f MB\n",
           res.exit_code, res.wall_seconds, res.user_seconds, res.sys_seconds,
           (double)res.max_rss_kb / 1024.0);
    if (res.exit_code < 0) {
        fprintf(stderr, "parsediff-gen: error: %s ended by signal %d\n", parsediff,
                res.term_signal);
        return EXIT_FAILURE_RUN;
    }
    return res.exit_code;
}

/* ---- drift --------------------------------------------------------------- */

static int cmd_drift(int argc, char **argv)
{
    pd_gen_drift_config cfg = {.seed = 1, .changed_share = 0.01, .appended_share = 0.01};
    unsigned long long seed = 1;
    static const struct option options[] = {
        {"corpus", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},
        {"changed-share", required_argument, NULL, 'C'},
        {"appended-share", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cfg.corpus_dir = optarg;
            break;
        case 'd':
            cfg.db_path = optarg;
            break;
        case 's':
            if (!parse_u64(optarg, &seed))
                return usage_error("--seed must be a non-negative integer, got \"%s\"", optarg);
            break;
        case 'C':
            if (!parse_share(optarg, &cfg.changed_share))
                return usage_error("--changed-share must be a number from 0 to 1, got \"%s\"",
                                   optarg);
            break;
        case 'A':
            if (!parse_share(optarg, &cfg.appended_share))
                return usage_error("--appended-share must be a number from 0 to 1, got \"%s\"",
                                   optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (cfg.corpus_dir == NULL || cfg.db_path == NULL)
        return usage_error("%s", "missing --corpus DIR or --db PATH (drift needs both)");
    cfg.seed = seed;

    pd_gen_drift_stats st;
    pd_err err = {0};
    int rc = pd_gen_plant_drift(&cfg, &st, &err);
    if (rc != PD_OK) {
        fprintf(stderr, "parsediff-gen: error: %s\n", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        return rc == PD_EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUN;
    }
    /* The counts carry the names of the diff fields where these changes appear. */
    printf("parsediff-gen: drift in %s: %lld of %lld sessions changed (%lld first_message, "
           "%lld message_content, %lld models); %lld transcripts appended (%lld bytes)\n",
           cfg.db_path,
           (long long)(st.changed_first_message + st.changed_content + st.changed_model),
           (long long)st.sessions_seen, (long long)st.changed_first_message,
           (long long)st.changed_content, (long long)st.changed_model, (long long)st.files_appended,
           (long long)st.bytes_appended);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sync") == 0)
        return cmd_sync(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "drift") == 0)
        return cmd_drift(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-')
        return usage_error("unknown command \"%s\" (expected generate, sync or drift)", argv[1]);
    return cmd_generate(argc, argv);
}
