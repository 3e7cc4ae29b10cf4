/*
 * cmd_diff.c -- `parsediff diff`: options, the run, the report, the exit code.
 *
 * The report goes to stdout only when the run completed. An interrupted run
 * prints a message on stderr and exits 130 without a report, so a partial
 * result is never mistaken for a complete one.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/text.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"
#include "report/report.h"

static void diff_help(FILE *out)
{
    fputs("Usage: parsediff diff [options]\n"
          "\n"
          "Re-parses every transcript with this binary, compares the result with the\n"
          "archive field by field, and reports each session as identical, changed,\n"
          "raced (the source was written after its row was stored), incremental_skew,\n"
          "pending_resync, new_on_disk, skipped, excluded_by_parser, parse_error or\n"
          "transient_needs_retry. Never writes to the archive.\n"
          "\n"
          "  --db PATH           archive file (default: $PARSEDIFF_DB, else "
          "~/.parsediff/archive.db)\n"
          "  --source AGENT=DIR  a root to scan for AGENT; repeatable; replaces the defaults\n"
          "  --agent NAME        only this agent (claude, codex); repeatable\n"
          "  --limit N           re-parse only the N most recently modified sources (0: all)\n"
          "  --fail-on-change    exit 1 on changed sessions, parse errors or a vacuous run;\n"
          "                      raced and incremental_skew sessions never fail the run\n"
          "  --fail-on-uncompared  exit 1 when stored sessions were not compared because\n"
          "                      discovery did not find their files (outside the roots,\n"
          "                      in a directory it could not list, or not where the\n"
          "                      agent's layout puts them under a root), or because the\n"
          "                      archive stored them from another copy or name of a file\n"
          "                      that the run did not parse\n"
          "  --format text|json  report format (default text); --json is short for json;\n"
          "                      the last of the two wins\n"
          "  -v, --verbose       every field diff and reason, no 20-row caps; also lists\n"
          "                      the pending-resync sessions that differ, the\n"
          "                      needs-retry, excluded, skipped and new sessions, and the\n"
          "                      informational differences of identical ones\n"
          "  --threads N         parser threads, 0 to 256 (default: online CPUs; 0 parses\n"
          "                      inline)\n"
          "  --progress MODE     auto (default: text report on a terminal, not in CI),\n"
          "                      always or never\n"
          "  --timings           add per-phase times to the report (JSON: milliseconds,\n"
          "                      text: seconds)\n",
          out);
}

/*
 * Adds one --agent value after trimming and lower-casing a copy of it; drops
 * duplicates. Errors quote the value as typed.
 */
static bool add_agent(const char **agents, size_t *n, const char *raw)
{
    char name[64];
    const char *start = raw;
    while (isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    const pd_provider *p = NULL;
    if (len < sizeof name) {
        for (size_t i = 0; i < len; i++)
            name[i] = (char)tolower((unsigned char)start[i]);
        name[len] = '\0';
        p = pd_provider_find(name);
    }
    if (p == NULL) {
        const char *const *names;
        size_t count = pd_engine_supported_agents(&names);
        char list[256] = "";
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, names[i], sizeof list - strlen(list) - 1);
        }
        pd_cli_usage_error("diff ", "unknown agent \"%s\" (supported: %s)", raw, list);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(agents[i], p->name) == 0)
            return true;
    }
    agents[(*n)++] = p->name;
    return true;
}

/* True when path lies below the directory dir (trailing slashes ignored). */
static bool path_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 0 && dir[n - 1] == '/')
        n--;
    /* n is 0 for the directory "/", which contains every absolute path. */
    return path != NULL && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* True when path lies under one of the roots given. */
static bool under_a_root(const pd_cli_sources *src, const char *path)
{
    for (size_t i = 0; i < src->n_roots; i++) {
        if (path_below(path, src->roots[i].root))
            return true;
    }
    return false;
}

/* True when path lies in one of the directories diff could not list. */
static bool under_unlisted_dir(const pd_diff_report *report, const char *path)
{
    for (size_t i = 0; i < report->n_unlisted_dirs; i++) {
        if (path_below(path, report->unlisted_dirs[i]))
            return true;
    }
    return false;
}

/*
 * True when both files exist and differ: in size, or in their text where
 * one is a .zst (the zstd tool keeps FILE beside FILE.zst).
 */
static bool copies_differ(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    if (pd_source_is_zst(a) || pd_source_is_zst(b))
        return pd_source_texts_differ(a, b);
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_size != sb.st_size;
}

/*
 * Warns on stderr about stored sessions that were skipped rather than
 * compared because of the roots given: files outside every root, files in
 * a directory diff could not list, and rows stored from another copy of a
 * transcript found under the roots. Each can make a --fail-on-change run
 * pass having compared little or nothing, so the warning names the fix,
 * and --fail-on-uncompared turns the count returned into exit 1. Rows
 * under a root that discovery did not find there (a root at the wrong
 * level, or a path that is no longer a transcript file) count too. A copy
 * whose stored row was compared from the file the row names gets a
 * warning of its own and does not count.
 */
static int64_t warn_skipped(const pd_diff_report *report, const pd_cli_sources *src)
{
    const char *nothing = report->totals.examined == 0 ? "nothing was compared: " : "";
    char path[4096], other[4096], id[256];
    /*
     * Sort the rows that were not reached by where the stored file lies. It
     * may lie in a directory diff could not list, or outside every root (the
     * roots are wrong), or under one (the root is at the wrong level, or the
     * path is no longer a transcript file, such as a directory).
     */
    const pd_diff_entry *unlisted = NULL, *missed = NULL, *misfit = NULL;
    int64_t n_unlisted = 0, n_missed = 0, n_misfit = 0;
    for (size_t i = 0; i < report->n_sessions; i++) {
        const pd_diff_entry *e = &report->sessions[i];
        if (e->cls != PD_CLASS_SKIPPED || e->reason == NULL)
            continue;
        bool not_discovered = strcmp(e->reason, "not discovered") == 0;
        if (!not_discovered && strcmp(e->reason, "source missing") != 0)
            continue;
        if (under_unlisted_dir(report, e->file_path)) {
            if (n_unlisted++ == 0)
                unlisted = e;
        } else if (!not_discovered) {
            continue;
        } else if (under_a_root(src, e->file_path)) {
            if (n_misfit++ == 0)
                misfit = e;
        } else if (n_missed++ == 0) {
            missed = e;
        }
    }
    if (n_unlisted > 0)
        fprintf(stderr,
                "parsediff: warning: %s%lld stored session%s, such as %s, %s skipped because "
                "%s in a directory diff could not list (see the warning above). Make it "
                "readable to compare %s.\n",
                nothing, (long long)n_unlisted, n_unlisted == 1 ? "" : "s",
                pd_cli_scrubbed(path, sizeof path, unlisted->file_path),
                n_unlisted == 1 ? "was" : "were",
                n_unlisted == 1 ? "its file lies" : "their files lie",
                n_unlisted == 1 ? "it" : "them");
    if (n_misfit > 0)
        fprintf(stderr,
                "parsediff: warning: %s%lld stored session%s, such as %s, %s skipped: the path "
                "lies under the source roots, but discovery did not find a transcript there. "
                "Either it is no longer a transcript file (a directory, say), or the root is not "
                "at the level the agent's layout needs (Claude: ROOT/PROJECT/*.jsonl, Codex: "
                "ROOT/YYYY/MM/DD/rollout-*.jsonl or ROOT/rollout-*.jsonl).\n",
                nothing, (long long)n_misfit, n_misfit == 1 ? "" : "s",
                pd_cli_scrubbed(path, sizeof path, misfit->file_path),
                n_misfit == 1 ? "was" : "were");
    if (n_missed > 0)
        fprintf(stderr,
                "parsediff: warning: %s%lld stored session%s, such as %s, %s not found under "
                "the source roots where the agent keeps %s (Claude: ROOT/PROJECT/*.jsonl, "
                "Codex: ROOT/YYYY/MM/DD/rollout-*.jsonl or ROOT/rollout-*.jsonl), so %s skipped. "
                "Give every root that "
                "sync used (--source, or the root variables the README lists), or --agent to "
                "diff fewer agents.%s\n",
                nothing, (long long)n_missed, n_missed == 1 ? "" : "s",
                pd_cli_scrubbed(path, sizeof path, missed->file_path),
                n_missed == 1 ? "was" : "were", n_missed == 1 ? "it" : "them",
                n_missed == 1 ? "it was" : "they were",
                /* The roots and the archive share no session, so the archive may be the
                 * wrong one. */
                report->totals.examined == 0 && report->totals.new_on_disk > 0
                    ? " The archive stores none of the sessions found under the roots either, "
                      "so if --db names the archive of other transcripts, pass the one sync "
                      "wrote for these."
                    : "");

    /* Sessions with copies, split by whether this run compared the stored row from its file. */
    const pd_diff_entry *copy = NULL, *compared_copy = NULL;
    int64_t n_copies = 0, n_compared_copies = 0, n_differing = 0;
    const pd_diff_entry *differing = NULL;
    for (size_t i = 0; i < report->n_sessions; i++) {
        const pd_diff_entry *e = &report->sessions[i];
        /* A stored file left out by --limit, or one that no longer gives the
         * session (reported as a presence change), needs no copy warning. */
        if (!e->other_copy || e->other_copy_cut || e->other_copy_missing ||
            e->other_copy_path == NULL)
            continue;
        if (e->other_copy_compared && copies_differ(e->file_path, e->other_copy_path) &&
            n_differing++ == 0)
            differing = e;
        if (e->other_copy_repeat)
            continue;
        if (e->other_copy_compared) {
            if (n_compared_copies++ == 0)
                compared_copy = e;
        } else if (n_copies++ == 0) {
            copy = e;
        }
    }
    if (n_compared_copies > 0) {
        const char *stored = compared_copy->other_copy_path;
        long long n = n_compared_copies;
        pd_cli_scrubbed(id, sizeof id,
                        compared_copy->session_id != NULL ? compared_copy->session_id : "");
        pd_cli_scrubbed(other, sizeof other, stored);
        pd_cli_scrubbed(path, sizeof path, compared_copy->file_path);
        if (compared_copy->other_copy_alias)
            fprintf(stderr,
                    "parsediff: warning: %lld session%s, such as %s, %s found under two names "
                    "of one file (%s and %s), through a symbolic link under the roots. %s "
                    "compared once. Give the roots so that each transcript has one name.\n",
                    n, n == 1 ? "" : "s", id, n == 1 ? "was" : "were", other, path,
                    n == 1 ? "It was" : "They were");
        else
            fprintf(stderr,
                    "parsediff: warning: %lld session%s, such as %s, %s in more than one file "
                    "under the roots. The stored row comes from %s, which was compared, and "
                    "other copies, such as %s, were skipped. Keep only one copy: a sync can store "
                    "any of them in place of another.\n",
                    n, n == 1 ? "" : "s", id, n == 1 ? "is" : "are", other, path);
        if (n_differing > 0)
            fprintf(stderr,
                    "parsediff: warning: %lld skipped cop%s, such as %s, differ%s from "
                    "the file the archive stores, so what the archive stores can change with "
                    "every sync.\n",
                    (long long)n_differing, n_differing == 1 ? "y" : "ies",
                    pd_cli_scrubbed(path, sizeof path, differing->file_path),
                    n_differing == 1 ? "s" : "");
    }
    if (n_copies > 0) {
        const char *stored = copy->other_copy_path;
        /* One file under two names (a root given through a symbolic link)
         * needs the root spelled as sync had it. With two real copies under
         * the roots, every sync writes the one the archive did not store
         * last time, so only removing one helps. */
        bool one_file = copy->other_copy_alias;
        const char *origin = one_file ? "under another name of the same file"
                                      : "from another copy that still exists";
        const char *fix =
            one_file ? "A root given through a symbolic link does that: give the roots as sync "
                       "was given them, or sync once with the roots as given now."
            : under_a_root(src, stored)
                ? "Both copies lie under the roots, so keep only one of them."
                : "Give the roots that sync used, or sync these roots first.";
        fprintf(stderr,
                "parsediff: warning: %s%lld session%s under the source roots, such as %s, "
                "%s skipped because the archive stored %s %s (%s). %s\n",
                nothing, (long long)n_copies, n_copies == 1 ? "" : "s",
                pd_cli_scrubbed(path, sizeof path, copy->file_path), n_copies == 1 ? "was" : "were",
                n_copies == 1 ? "it" : "them", origin, pd_cli_scrubbed(other, sizeof other, stored),
                fix);
    }
    return n_unlisted + n_misfit + n_missed + n_copies;
}

int pd_cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},       {"source", required_argument, NULL, 's'},
        {"agent", required_argument, NULL, 'a'},    {"limit", required_argument, NULL, 'l'},
        {"fail-on-change", no_argument, NULL, 'F'}, {"fail-on-uncompared", no_argument, NULL, 'U'},
        {"format", required_argument, NULL, 'f'},   {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},        {"threads", required_argument, NULL, 't'},
        {"progress", required_argument, NULL, 'p'}, {"timings", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    pd_cli_sources src = {0};
    bool timings = false;
    const char *agents[16];
    size_t n_agents = 0;
    long long limit = 0, threads = -1;
    bool fail_on_change = false, fail_on_uncompared = false, json = false, verbose = false;
    const char *format = "text";
    const char *progress_mode = "auto";
    int exit_code = PD_EXIT_OK;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            src.db_path = optarg;
            break;
        case 's':
            if (!pd_cli_sources_add(&src, "diff ", optarg))
                goto usage_fail;
            break;
        case 'a':
            if (n_agents >= 16 || !add_agent(agents, &n_agents, optarg))
                goto usage_fail;
            break;
        case 'l':
            if (!pd_cli_parse_count(optarg, &limit)) {
                pd_cli_usage_error("diff ", "--limit must be an integer, got \"%s\"", optarg);
                goto usage_fail;
            }
            if (limit < 0) {
                pd_cli_usage_error("diff ", "--limit must be >= 0");
                goto usage_fail;
            }
            break;
        case 'F':
            fail_on_change = true;
            break;
        case 'U':
            fail_on_uncompared = true;
            break;
        case 'f':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "human") != 0 &&
                strcmp(optarg, "json") != 0) {
                pd_cli_usage_error("diff ", "--format must be text or json, got \"%s\"", optarg);
                goto usage_fail;
            }
            format = optarg;
            break;
        case 'j':
            format = "json";
            break;
        case 'v':
            verbose = true;
            break;
        case 't':
            if (!pd_cli_parse_count(optarg, &threads) || threads < 0 || threads > 256) {
                pd_cli_usage_error(
                    "diff ", "--threads must be an integer from 0 to 256, got \"%s\"", optarg);
                goto usage_fail;
            }
            break;
        case 'p':
            if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "always") != 0 &&
                strcmp(optarg, "never") != 0) {
                pd_cli_usage_error("diff ", "--progress must be auto, always or never, got \"%s\"",
                                   optarg);
                goto usage_fail;
            }
            progress_mode = optarg;
            break;
        case 'T':
            timings = true;
            break;
        case 'h':
            diff_help(stdout);
            pd_cli_sources_free(&src);
            return PD_EXIT_OK;
        case ':':
            pd_cli_bad_option("diff ", ':', argv, longopts);
            goto usage_fail;
        default:
            pd_cli_bad_option("diff ", '?', argv, longopts);
            goto usage_fail;
        }
    }
    if (optind < argc) {
        pd_cli_usage_error("diff ", "unexpected argument \"%s\"", argv[optind]);
        goto usage_fail;
    }
    /* The last of --format and --json wins, as with any repeated option. */
    json = strcmp(format, "json") == 0;
    if (!pd_cli_sources_defaults(&src)) {
        pd_cli_error("out of memory");
        pd_cli_sources_free(&src);
        return PD_EXIT_RUNTIME;
    }
    if (!pd_cli_db_is_file_path("diff ", src.db_path)) {
        pd_cli_sources_free(&src);
        return PD_EXIT_USAGE;
    }
    if (access(src.db_path, F_OK) != 0) {
        pd_cli_error("archive not found: %s (check the --db path, or create the archive with "
                     "'parsediff sync --db %s' and the same --source options)",
                     src.db_path, src.db_path);
        pd_cli_sources_free(&src);
        return PD_EXIT_RUNTIME;
    }

    pd_engine_config cfg = {
        .db_path = src.db_path,
        .roots = src.roots,
        .n_roots = src.n_roots,
        .cancel = &pd_cli_cancel,
    };
    if (threads < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.n_threads = n > 0 ? (unsigned)n : 1;
    } else {
        cfg.n_threads = (unsigned)threads;
    }

    bool show_progress =
        strcmp(progress_mode, "always") == 0 || (strcmp(progress_mode, "auto") == 0 && !json &&
                                                 isatty(STDERR_FILENO) && getenv("CI") == NULL);
    pd_progress *bar = NULL;
    pd_diff_options opts = {
        .agents = n_agents > 0 ? agents : NULL,
        .n_agents = n_agents,
        .limit = limit,
        .timings = timings,
    };
    if (show_progress) {
        bar = pd_progress_new(stderr, 0);
        if (bar != NULL) {
            opts.progress = pd_cli_show_progress;
            opts.progress_ctx = bar;
        }
    }

    pd_engine *engine = NULL;
    pd_diff_report *report = NULL;
    pd_err err = {0};
    int rc = pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &engine, &err);
    if (rc == PD_OK)
        rc = pd_engine_diff(engine, &opts, &report, &err);
    pd_progress_free(bar);

    if (rc == PD_ECANCELED) {
        pd_cli_error("%s after %lld of the %lld files found so far; no report was "
                     "written because it would be incomplete",
                     pd_cli_stop_reason(), report != NULL ? (long long)report->files_done : 0LL,
                     report != NULL ? (long long)report->files_examined : 0LL);
        exit_code = pd_cli_interrupted_exit_code();
        goto out;
    }
    if (rc != PD_OK) {
        pd_cli_error("%s", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        exit_code = PD_EXIT_RUNTIME;
        goto out;
    }

    rc =
        json ? pd_report_write_json(stdout, report) : pd_report_write_text(stdout, report, verbose);
    if (rc == PD_OK && fflush(stdout) != 0)
        rc = PD_EIO;
    if (rc != PD_OK) {
        /* EPIPE from `| head` is the reader's choice, not a failure worth a message. */
        if (errno != EPIPE)
            pd_cli_error("cannot write the report to stdout: %s", strerror(errno));
        exit_code = PD_EXIT_RUNTIME;
        goto out;
    }
    /* A signal while the report was written (to a slow pipe, say) lets the
     * write finish, so the report is whole, but the run still ends as stopped. */
    if (atomic_load(&pd_cli_cancel)) {
        pd_cli_error("%s while the report was written; the report is complete, but no "
                     "--fail-on-change or --fail-on-uncompared check was made",
                     pd_cli_stop_reason());
        exit_code = pd_cli_interrupted_exit_code();
        goto out;
    }

    int64_t n_uncompared = warn_skipped(report, &src);
    if (report->n_shadowed_rollouts > 0 && report->shadowed_rollout != NULL) {
        char path[4096];
        pd_cli_warn_shadowed(report->n_shadowed_rollouts,
                             pd_cli_scrubbed(path, sizeof path, report->shadowed_rollout));
    }
    if (report->n_newer_rows > 0)
        fprintf(stderr,
                "parsediff: warning: %lld compared session%s stored by a newer parser (data "
                "version up to %lld, where this binary's is %d), so a difference can come from "
                "that parser rather than from the transcript.\n",
                (long long)report->n_newer_rows, report->n_newer_rows == 1 ? " was" : "s were",
                (long long)report->newest_data_version, PD_DATA_VERSION);
    /* No transcript found and no stored session of the agents at all (not even one
     * skipped as missing): most often a root one level off at the first sync. */
    if (report->files_examined == 0 && report->n_sessions == 0 && n_uncompared == 0 &&
        !report->interrupted)
        fprintf(stderr, "parsediff: warning: nothing was compared: the roots hold no transcript "
                        "of the agents diffed, and the archive stores no session of them. A root "
                        "one level off (~/.claude for ~/.claude/projects) finds nothing; pass the "
                        "directory that holds the transcripts.\n");
    if (report->totals.examined == 0 && report->totals.new_on_disk > 0 && n_uncompared == 0)
        fprintf(stderr,
                "parsediff: warning: nothing was compared: the archive stores none of the %lld "
                "session%s found under the roots. Check --db, or run sync first.\n",
                (long long)report->totals.new_on_disk, report->totals.new_on_disk == 1 ? "" : "s");

    if (fail_on_uncompared && n_uncompared > 0) {
        fprintf(stderr,
                "parsediff: --fail-on-uncompared failed: %lld stored session%s not compared "
                "because diff did not reach %s (see the warning above)\n",
                (long long)n_uncompared, n_uncompared == 1 ? " was" : "s were",
                n_uncompared == 1 ? "it" : "them");
        exit_code = PD_EXIT_DRIFT;
    }
    if (fail_on_change) {
        if (pd_diff_report_is_vacuous(report)) {
            fprintf(stderr,
                    "parsediff: --fail-on-change failed: the run was vacuous: every one of the "
                    "%lld examined sessions is pending resync because this binary's data version "
                    "(%lld) is ahead of the archive, so no drift could be detected. Re-run against "
                    "a freshly resynced archive, or with a binary built before the data-version "
                    "bump.\n",
                    (long long)report->totals.examined, (long long)report->data_version);
            exit_code = PD_EXIT_DRIFT;
        } else if (pd_diff_report_has_failures(report)) {
            /* One line on stderr gives a CI log the reason even when the
             * report went to a file. */
            int64_t changed = report->totals.changed, errors = report->totals.parse_errors;
            fprintf(stderr, "parsediff: --fail-on-change failed: ");
            if (changed > 0)
                fprintf(stderr, "%lld session%s changed%s", (long long)changed,
                        changed == 1 ? "" : "s", errors > 0 ? ", " : "");
            if (errors > 0)
                fprintf(stderr, "%lld parse error%s", (long long)errors, errors == 1 ? "" : "s");
            fputs("; see the report\n", stderr);
            exit_code = PD_EXIT_DRIFT;
        }
    }

out:
    pd_diff_report_free(report);
    pd_engine_free(engine);
    pd_cli_sources_free(&src);
    return exit_code;

usage_fail:
    pd_cli_sources_free(&src);
    return PD_EXIT_USAGE;
}
