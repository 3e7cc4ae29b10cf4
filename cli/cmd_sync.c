/*
 * cmd_sync.c -- `parsediff sync`: option parsing, the run, and the summary.
 */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "report/report.h"

static void sync_help(FILE *out)
{
    fputs("Usage: parsediff sync [--db PATH] [--source AGENT=DIR]... [--threads N] [--full]\n"
          "                      [--progress MODE]\n"
          "\n"
          "Parses every transcript under the source roots and writes the archive. Unchanged\n"
          "files are skipped; files that only grew are appended incrementally.\n"
          "\n"
          "  --db PATH           archive file (default: $PARSEDIFF_DB, else "
          "~/.parsediff/archive.db)\n"
          "  --source AGENT=DIR  a root to scan for AGENT (claude or codex); repeatable;\n"
          "                      replaces the default roots\n"
          "  --threads N         parser threads, 0 to 256 (default: online CPUs; 0 parses\n"
          "                      inline)\n"
          "  --full              rewrite every session with a full parse (no skips, no appends)\n"
          "  --progress MODE     auto (default: on a terminal, not in CI), always or never\n",
          out);
}

/* The layout of an agent's transcripts under its root, for the warning below. */
static const char *root_layout(const char *agent)
{
    if (strcmp(agent, "claude") == 0)
        return "ROOT/PROJECT/*.jsonl";
    if (strcmp(agent, "codex") == 0)
        return "ROOT/YYYY/MM/DD/rollout-*.jsonl or ROOT/rollout-*.jsonl";
    return "its own layout";
}

/* True when dir has no entry at all: an agent that has written nothing yet. */
static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool empty = true;
    const struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/*
 * Warns about each agent whose roots held no transcript at all. A root one
 * level off (~/.claude for ~/.claude/projects) is the usual cause, and the
 * summary's "0 files discovered" alone does not say which root missed. An
 * empty root gets no warning, so that a nightly sync of an agent not used
 * yet stays quiet.
 */
static void warn_empty_roots(const pd_cli_sources *src, const pd_sync_stats *stats)
{
    for (size_t i = 0; i < src->n_roots; i++) {
        const char *agent = src->roots[i].agent;
        bool found = false;
        for (size_t j = 0; j < stats->n_agents_discovered && !found; j++)
            found = strcmp(stats->discovered_by_agent[j].agent, agent) == 0;
        /* A default root that does not exist is an agent the user does not run. */
        struct stat st;
        if (found || stat(src->roots[i].root, &st) != 0 || !S_ISDIR(st.st_mode) ||
            dir_is_empty(src->roots[i].root))
            continue;
        char root[PATH_MAX];
        fprintf(stderr,
                "parsediff: warning: no %s transcripts found under %s, where the agent keeps them "
                "as %s. If the root is one level off, pass the directory that contains them.\n",
                agent, pd_cli_scrubbed(root, sizeof root, src->roots[i].root), root_layout(agent));
    }
}

/* True when a sync warning's example names a session and two of its files. */
static bool example_complete(const pd_sync_example *ex)
{
    return ex->id != NULL && ex->first_path != NULL && ex->second_path != NULL;
}

int pd_cmd_sync(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},     {"source", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"full", no_argument, NULL, 'f'},
        {"progress", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pd_cli_sources src = {0};
    long long threads = -1;
    bool full = false;
    const char *progress_mode = "auto";
    int exit_code = PD_EXIT_OK;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            src.db_path = optarg;
            break;
        case 's':
            if (!pd_cli_sources_add(&src, "sync ", optarg)) {
                pd_cli_sources_free(&src);
                return PD_EXIT_USAGE;
            }
            break;
        case 't':
            if (!pd_cli_parse_count(optarg, &threads) || threads < 0 || threads > 256) {
                pd_cli_sources_free(&src);
                return pd_cli_usage_error("sync ", "--threads must be an integer from 0 to 256, got \"%s\"",
                                          optarg);
            }
            break;
        case 'f':
            full = true;
            break;
        case 'p':
            progress_mode = optarg;
            break;
        case 'h':
            sync_help(stdout);
            pd_cli_sources_free(&src);
            return PD_EXIT_OK;
        case ':':
            pd_cli_sources_free(&src);
            return pd_cli_bad_option("sync ", ':', argv, longopts);
        default:
            pd_cli_sources_free(&src);
            return pd_cli_bad_option("sync ", '?', argv, longopts);
        }
    }
    if (optind < argc) {
        pd_cli_sources_free(&src);
        return pd_cli_usage_error("sync ", "unexpected argument \"%s\"", argv[optind]);
    }
    if (strcmp(progress_mode, "auto") != 0 && strcmp(progress_mode, "always") != 0 &&
        strcmp(progress_mode, "never") != 0) {
        pd_cli_sources_free(&src);
        return pd_cli_usage_error("sync ", "--progress must be auto, always or never, got \"%s\"",
                                  progress_mode);
    }
    if (!pd_cli_sources_defaults(&src)) {
        pd_cli_sources_free(&src);
        pd_cli_error("out of memory");
        return PD_EXIT_RUNTIME;
    }
    if (!pd_cli_db_is_file_path("sync ", src.db_path)) {
        pd_cli_sources_free(&src);
        return PD_EXIT_USAGE;
    }

    /* The archive is created if absent, so create its directory too. */
    if (!pd_cli_make_parent_dirs(src.db_path)) {
        pd_cli_sources_free(&src);
        return PD_EXIT_RUNTIME;
    }

    pd_engine_config cfg = {
        .db_path = src.db_path,
        .roots = src.roots,
        .n_roots = src.n_roots,
        .n_threads = threads >= 0 ? (unsigned)threads : 0,
        .cancel = &pd_cli_cancel,
    };
    if (threads < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.n_threads = n > 0 ? (unsigned)n : 1;
    }

    bool show_progress = strcmp(progress_mode, "always") == 0 ||
                         (strcmp(progress_mode, "auto") == 0 && isatty(STDERR_FILENO) &&
                          getenv("CI") == NULL);
    pd_progress *bar = NULL;
    pd_sync_options opts = {.force_full = full};
    if (show_progress) {
        bar = pd_progress_new(stderr, 0);
        pd_progress_set_label(bar, "Syncing files");
        if (bar != NULL) {
            opts.progress = pd_cli_show_progress;
            opts.progress_ctx = bar;
        }
    }

    pd_engine *engine = NULL;
    pd_err err = {0};
    pd_sync_stats stats = {0};
    int rc = pd_engine_new(&cfg, PD_ENGINE_WRITER, &engine, &err);
    if (rc == PD_OK)
        rc = pd_engine_sync(engine, &opts, &stats, &err);
    pd_progress_free(bar);

    if (rc == PD_OK || rc == PD_ECANCELED || stats.files_discovered > 0) {
        fprintf(stderr,
                "sync: %lld file%s discovered, %lld parsed, %lld unchanged, %lld failed; "
                "sessions written: %lld full, %lld incremental",
                (long long)stats.files_discovered, stats.files_discovered == 1 ? "" : "s",
                (long long)stats.files_parsed, (long long)stats.files_unchanged,
                (long long)stats.files_failed, (long long)stats.sessions_full,
                (long long)stats.sessions_incremental);
        if (stats.titles_refreshed > 0)
            fprintf(stderr, "; %lld title%s refreshed", (long long)stats.titles_refreshed,
                    stats.titles_refreshed == 1 ? "" : "s");
        if (stats.sessions_needing_retry > 0)
            fprintf(stderr,
                    "; %lld Codex session%s stored for a retry, because %s parent rollout is "
                    "missing (every sync parses %s again until it appears)",
                    (long long)stats.sessions_needing_retry,
                    stats.sessions_needing_retry == 1 ? "" : "s",
                    stats.sessions_needing_retry == 1 ? "its" : "their",
                    stats.sessions_needing_retry == 1 ? "it" : "them");
        if (stats.forks_tombstoned > 0)
            fprintf(stderr, "; %lld stored fork%s no longer in %s marked deleted",
                    (long long)stats.forks_tombstoned, stats.forks_tombstoned == 1 ? "" : "s",
                    stats.forks_tombstoned == 1 ? "its transcript" : "their transcripts");
        if (stats.files_written_meanwhile > 0)
            fprintf(stderr,
                    "; %lld appended file%s skipped because %s stored session changed after "
                    "the read (another sync, or another copy of the session, wrote it)",
                    (long long)stats.files_written_meanwhile,
                    stats.files_written_meanwhile == 1 ? "" : "s",
                    stats.files_written_meanwhile == 1 ? "its" : "their");
        if (stats.sessions_kept_out > 0)
            fprintf(stderr,
                    "; %lld session%s not written because the archive marks %s trashed or "
                    "excluded (deleted by the user)",
                    (long long)stats.sessions_kept_out, stats.sessions_kept_out == 1 ? "" : "s",
                    stats.sessions_kept_out == 1 ? "it" : "them");
        if (stats.files_with_malformed_lines > 0)
            fprintf(stderr, "; %lld file%s with damaged lines (named above)",
                    (long long)stats.files_with_malformed_lines,
                    stats.files_with_malformed_lines == 1 ? "" : "s");
        if (stats.files_vanished > 0)
            fprintf(stderr, "; %lld gone before %s read", (long long)stats.files_vanished,
                    stats.files_vanished == 1 ? "it was" : "they were");
        if (stats.files_being_written > 0)
            fprintf(stderr, "; %lld .zst file%s still being written, left for the next sync",
                    (long long)stats.files_being_written,
                    stats.files_being_written == 1 ? "" : "s");
        if (stats.files_not_written > 0)
            fprintf(stderr, "; %lld file%s read but not written after the stop",
                    (long long)stats.files_not_written, stats.files_not_written == 1 ? "" : "s");
        char text[PATH_MAX + PD_ERR_MSG_MAX], other[PATH_MAX];
        fprintf(stderr, " (archive %s)\n", pd_cli_scrubbed(text, sizeof text, src.db_path));
        for (size_t i = 0; i < stats.n_errors; i++)
            fprintf(stderr, "  failed: %s\n",
                    pd_cli_scrubbed(text, sizeof text, stats.errors[i].message));
        /* A failed listing explains an empty root better than a guess at its level. */
        if (rc == PD_OK && stats.files_failed == 0)
            warn_empty_roots(&src, &stats);
        if (stats.shadowed_rollouts > 0 && stats.shadowed_rollout != NULL)
            pd_cli_warn_shadowed(stats.shadowed_rollouts,
                                 pd_cli_scrubbed(text, sizeof text, stats.shadowed_rollout));
        if (stats.sessions_under_two_names > 0 && example_complete(&stats.alias_example)) {
            long long n = stats.sessions_under_two_names;
            char id[256];
            fprintf(stderr,
                    "parsediff: warning: %lld session%s, such as %s, %s found under two names of "
                    "the same file (%s and %s), so sync wrote %s again under the other name. "
                    "A symbolic link gives a file a second name: a root given through a link in "
                    "one run only, or a link under a root. Give the roots the same way every "
                    "time, so that each transcript has one name.\n",
                    n, n == 1 ? "" : "s", pd_cli_scrubbed(id, sizeof id, stats.alias_example.id),
                    n == 1 ? "was" : "were",
                    pd_cli_scrubbed(other, sizeof other, stats.alias_example.first_path),
                    pd_cli_scrubbed(text, sizeof text, stats.alias_example.second_path),
                    n == 1 ? "it" : "them");
        }
        if (stats.sessions_from_other_copy > 0 && example_complete(&stats.copy_example)) {
            long long n = stats.sessions_from_other_copy;
            char id[256];
            fprintf(stderr,
                    "parsediff: warning: %lld session%s, such as %s, %s in more than one file "
                    "(for example %s and %s), so a sync can store one copy in "
                    "place of another. Keep only one copy.\n",
                    n, n == 1 ? "" : "s", pd_cli_scrubbed(id, sizeof id, stats.copy_example.id),
                    n == 1 ? "is" : "are",
                    pd_cli_scrubbed(other, sizeof other, stats.copy_example.first_path),
                    pd_cli_scrubbed(text, sizeof text, stats.copy_example.second_path));
        }
        if (stats.copies_differing > 0 && example_complete(&stats.differing_example))
            fprintf(stderr,
                    "parsediff: warning: the files of %lld of these sessions differ (such as %s "
                    "and %s), so what the archive stores for them can change with every sync. "
                    "They may be different transcripts that share an id (the file name), and the "
                    "archive keeps one of them at a time. Keep one copy, or rename one file if "
                    "both are real sessions.\n",
                    (long long)stats.copies_differing,
                    pd_cli_scrubbed(other, sizeof other, stats.differing_example.first_path),
                    pd_cli_scrubbed(text, sizeof text, stats.differing_example.second_path));
    }
    if (rc == PD_ECANCELED) {
        pd_cli_error("%s; every source written so far is complete, the rest were not "
                     "touched, and the counts above cover only the files found before the stop",
                     pd_cli_stop_reason());
        exit_code = pd_cli_interrupted_exit_code();
    } else if (rc != PD_OK) {
        pd_cli_error("%s", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        exit_code = PD_EXIT_RUNTIME;
    } else if (stats.files_failed > 0) {
        exit_code = PD_EXIT_RUNTIME;
    }

    pd_sync_stats_free(&stats);
    pd_engine_free(engine);
    pd_cli_sources_free(&src);
    return exit_code;
}
