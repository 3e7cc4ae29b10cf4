/*
 * cmd_parse.c -- `parsediff parse FILE...`: print what the parser makes of
 * each transcript, as the archive would store it.
 *
 * Output is one JSON object {"sessions": [...]} on stdout. Each session has
 * the archive's column names, after the same normalisation sync applies
 * (tool-result carrier rows dropped, results paired with their calls), with
 * its messages in ordinal order, each with its tool_calls, and the session's
 * usage_events. A file that cannot be read or parsed is reported on stderr
 * with its path. The other files are still printed, and the exit code is 3.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/normalize.h"
#include "common/text.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

/* ---- a small streaming JSON writer ------------------------------------------ */

typedef struct jw {
    FILE *out;
    int depth;
    bool need_comma[64];
    bool failed;
} jw;

static void jw_indent(jw *w)
{
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->out);
}

static void jw_sep(jw *w)
{
    if (w->depth > 0 && w->need_comma[w->depth])
        fputc(',', w->out);
    if (w->depth > 0) {
        w->need_comma[w->depth] = true;
        jw_indent(w);
    }
}

static void jw_string_raw(jw *w, const char *s)
{
    char *q = NULL;
    size_t n = 0;
    if (pd_json_quote(s, strlen(s), &q, &n) != PD_OK) {
        w->failed = true;
        return;
    }
    fwrite(q, 1, n, w->out);
    free(q);
}

static void jw_key(jw *w, const char *key)
{
    jw_sep(w);
    jw_string_raw(w, key);
    fputs(": ", w->out);
}

static void jw_open(jw *w, char c)
{
    fputc(c, w->out);
    if (w->depth < 63)
        w->depth++;
    w->need_comma[w->depth] = false;
}

static void jw_close(jw *w, char c)
{
    bool had = w->need_comma[w->depth];
    w->depth--;
    if (had)
        jw_indent(w);
    fputc(c, w->out);
}

static void kv_str(jw *w, const char *key, const char *v)
{
    jw_key(w, key);
    if (v == NULL)
        fputs("null", w->out);
    else
        jw_string_raw(w, v);
}

static void kv_int(jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    if (v == PD_INT_NULL)
        fputs("null", w->out);
    else
        fprintf(w->out, "%lld", (long long)v);
}

static void kv_bool(jw *w, const char *key, bool v)
{
    jw_key(w, key);
    fputs(v ? "true" : "false", w->out);
}

static void write_tool_call(jw *w, const pd_tool_call *tc)
{
    jw_sep(w);
    jw_open(w, '{');
    kv_str(w, "tool_use_id", tc->tool_use_id);
    kv_str(w, "tool_name", tc->tool_name);
    kv_str(w, "category", tc->category);
    kv_str(w, "input_json", tc->input_json);
    kv_str(w, "skill_name", tc->skill_name);
    kv_str(w, "subagent_session_id", tc->subagent_session_id);
    kv_str(w, "file_path", tc->file_path);
    kv_str(w, "result_content", tc->result_content);
    kv_int(w, "result_content_length",
           tc->result_content_length == 0 ? PD_INT_NULL : tc->result_content_length);
    kv_int(w, "call_index", tc->call_index);
    jw_key(w, "result_events");
    jw_open(w, '[');
    for (size_t i = 0; i < tc->n_events; i++) {
        const pd_tool_result_event *ev = &tc->events[i];
        jw_sep(w);
        jw_open(w, '{');
        kv_str(w, "tool_use_id", ev->tool_use_id);
        kv_str(w, "agent_id", ev->agent_id);
        kv_str(w, "subagent_session_id", ev->subagent_session_id);
        kv_str(w, "source", ev->source);
        kv_str(w, "status", ev->status);
        kv_str(w, "content", ev->content);
        kv_int(w, "content_length", ev->content_length);
        kv_str(w, "timestamp", ev->timestamp);
        kv_int(w, "event_index", ev->event_index);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
}

static void write_message(jw *w, const pd_message *m)
{
    jw_sep(w);
    jw_open(w, '{');
    kv_int(w, "ordinal", m->ordinal);
    kv_str(w, "role", m->role);
    kv_str(w, "content", m->content);
    kv_int(w, "content_length", m->content_length);
    kv_str(w, "thinking_text", m->thinking_text != NULL ? m->thinking_text : "");
    kv_str(w, "timestamp", m->timestamp != NULL ? m->timestamp : "");
    kv_bool(w, "has_thinking", m->has_thinking);
    kv_bool(w, "has_tool_use", m->has_tool_use);
    kv_bool(w, "is_system", m->is_system);
    kv_str(w, "model", m->model != NULL ? m->model : "");
    kv_str(w, "token_usage", m->token_usage != NULL ? m->token_usage : "");
    kv_int(w, "context_tokens", m->context_tokens);
    kv_int(w, "output_tokens", m->output_tokens);
    kv_bool(w, "has_context_tokens", m->has_context_tokens);
    kv_bool(w, "has_output_tokens", m->has_output_tokens);
    kv_str(w, "claude_message_id", m->claude_message_id != NULL ? m->claude_message_id : "");
    kv_str(w, "claude_request_id", m->claude_request_id != NULL ? m->claude_request_id : "");
    kv_str(w, "source_type", m->source_type != NULL ? m->source_type : "");
    kv_str(w, "source_subtype", m->source_subtype != NULL ? m->source_subtype : "");
    kv_str(w, "prompt_source", m->prompt_source != NULL ? m->prompt_source : "");
    kv_str(w, "source_uuid", m->source_uuid != NULL ? m->source_uuid : "");
    kv_str(w, "source_parent_uuid", m->source_parent_uuid != NULL ? m->source_parent_uuid : "");
    kv_bool(w, "is_sidechain", m->is_sidechain);
    kv_bool(w, "is_compact_boundary", m->is_compact_boundary);
    jw_key(w, "tool_calls");
    jw_open(w, '[');
    for (size_t i = 0; i < m->n_tool_calls; i++)
        write_tool_call(w, &m->tool_calls[i]);
    jw_close(w, ']');
    jw_close(w, '}');
}

static void write_session(jw *w, const pd_session *s)
{
    jw_sep(w);
    jw_open(w, '{');
    kv_str(w, "id", s->id);
    kv_str(w, "project", s->project);
    kv_str(w, "machine", s->machine);
    kv_str(w, "agent", s->agent);
    kv_str(w, "agent_label", s->agent_label);
    kv_str(w, "entrypoint", s->entrypoint);
    kv_str(w, "session_kind", s->session_kind);
    kv_str(w, "first_message", s->first_message);
    kv_str(w, "session_name", s->session_name);
    kv_str(w, "started_at", s->started_at);
    kv_str(w, "ended_at", s->ended_at);
    kv_int(w, "message_count", s->message_count);
    kv_int(w, "user_message_count", s->user_message_count);
    kv_str(w, "file_path", s->file_path);
    kv_int(w, "file_size", s->file_size);
    kv_int(w, "file_mtime", s->file_mtime);
    kv_int(w, "file_inode", s->file_inode);
    kv_int(w, "file_device", s->file_device);
    kv_str(w, "file_hash", s->file_hash);
    kv_int(w, "next_ordinal", s->next_ordinal);
    kv_str(w, "last_entry_uuid", s->last_entry_uuid);
    kv_int(w, "claude_linear_parse", s->claude_linear_parse);
    kv_str(w, "parent_session_id", s->parent_session_id);
    kv_str(w, "relationship_type", s->relationship_type);
    kv_int(w, "total_output_tokens", s->total_output_tokens);
    kv_int(w, "peak_context_tokens", s->peak_context_tokens);
    kv_bool(w, "has_total_output_tokens", s->has_total_output_tokens);
    kv_bool(w, "has_peak_context_tokens", s->has_peak_context_tokens);
    kv_str(w, "cwd", s->cwd);
    kv_str(w, "git_branch", s->git_branch);
    kv_str(w, "source_session_id", s->source_session_id);
    kv_str(w, "source_version", s->source_version);
    kv_str(w, "transcript_fidelity", s->transcript_fidelity);
    kv_int(w, "parser_malformed_lines", s->parser_malformed_lines);
    kv_bool(w, "is_truncated", s->is_truncated);
    kv_str(w, "termination_status", s->termination_status);
    kv_int(w, "data_version", s->needs_retry ? PD_DATA_VERSION_RETRY : PD_DATA_VERSION);
    jw_key(w, "messages");
    jw_open(w, '[');
    for (size_t i = 0; i < s->n_messages; i++)
        write_message(w, &s->messages[i]);
    jw_close(w, ']');
    jw_key(w, "usage_events");
    jw_open(w, '[');
    for (size_t i = 0; i < s->n_usage_events; i++) {
        const pd_usage_event *u = &s->usage_events[i];
        jw_sep(w);
        jw_open(w, '{');
        kv_int(w, "message_ordinal", u->message_ordinal);
        kv_str(w, "source", u->source);
        kv_str(w, "model", u->model);
        kv_int(w, "input_tokens", u->input_tokens);
        kv_int(w, "output_tokens", u->output_tokens);
        kv_int(w, "cache_creation_input_tokens", u->cache_creation_input_tokens);
        kv_int(w, "cache_read_input_tokens", u->cache_read_input_tokens);
        kv_int(w, "reasoning_tokens", u->reasoning_tokens);
        kv_str(w, "occurred_at", u->occurred_at);
        kv_str(w, "dedup_key", u->dedup_key);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
}

/* ---- the command -------------------------------------------------------------- */

static const pd_provider *infer_provider(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "rollout-", 8) == 0 || strstr(path, "/.codex/") != NULL)
        return pd_provider_find("codex");
    if (strstr(path, ".jsonl") != NULL)
        return pd_provider_find("claude");
    return NULL;
}

/* What one file gave, for the notes printed when it gives no message. */
typedef struct parse_tally {
    size_t n_messages;
    size_t n_excluded;
    int64_t malformed_lines;
    int64_t nonblank_lines;
    size_t bytes;
    int64_t first_nul;       /* offset of the first NUL byte of the text, or -1 */
    bool malformed_cut_tail; /* one of the malformed lines is an unfinished last line */
    bool compressed;         /* the text was decompressed from a .zst file */
} parse_tally;

/* Counts the lines the parsers read, as they split them, that are not blank. */
static int64_t count_nonblank_lines(const char *data, size_t len)
{
    pd_jsonl_reader reader;
    pd_jsonl_line line;
    int64_t n = 0;
    pd_jsonl_init(&reader, data, len, 0);
    while (pd_jsonl_next(&reader, &line)) {
        if (!pd_text_is_blank(line.data, line.len))
            n++;
    }
    return n;
}

/*
 * Parses one file and prints its sessions, and fills *tally with their
 * messages, the sessions the parser leaves out and the file's lines.
 * Returns false after reporting a failure.
 */
static bool parse_one(jw *w, const pd_provider *p, const char *path, pd_json_parser *json,
                      parse_tally *tally)
{
    pd_err err = {0};
    pd_source_buf buf = {0};
    void *shared = NULL;
    pd_arena *arena = pd_arena_new();
    char *dir = strdup(path);
    bool ok = false;
    if (arena == NULL || dir == NULL) {
        pd_cli_error("%s: out of memory", path);
        goto out;
    }

    const char *root = dirname(dir);
    if (p->open_shared != NULL && p->open_shared(&root, 1, &shared, &err) != PD_OK) {
        pd_cli_error("%s", err.msg);
        goto out;
    }
    int rc = pd_source_read(path, -1, &buf, &err);
    if (rc != PD_OK) {
        pd_cli_error("%s", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        goto out;
    }

    char hex[PD_SHA256_HEX_LEN + 1];
    rc = buf.compressed ? pd_sha256_file(path, -1, hex) : pd_sha256_hex(buf.data, buf.len, hex);
    if (rc != PD_OK) {
        pd_cli_error("%s: cannot hash the file", path);
        goto out;
    }

    pd_parse_request req = {
        .path = path, .root = root, .machine = "local", .src = &buf,
        .shared = shared, .json = json, .arena = arena,
    };
    pd_parse_result res = {0};
    rc = p->parse(&req, &res, &err);
    if (rc != PD_OK) {
        pd_cli_error("%s", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < res.n_sessions; i++) {
        if (pd_session_normalize(&res.sessions[i], NULL, arena) != PD_OK) {
            pd_cli_error("%s: out of memory", path);
            goto out;
        }
        res.sessions[i].file_hash = hex;
        write_session(w, &res.sessions[i]);
        tally->n_messages += res.sessions[i].n_messages;
    }
    tally->n_excluded += res.n_excluded;
    tally->malformed_lines = res.malformed_lines;
    tally->nonblank_lines = count_nonblank_lines(buf.data, buf.len);
    tally->bytes = buf.len;
    tally->first_nul = pd_source_first_nul(&buf);
    tally->malformed_cut_tail = res.malformed_cut_tail;
    tally->compressed = buf.compressed;
    ok = true;

out:
    pd_source_buf_free(&buf);
    if (shared != NULL && p->close_shared != NULL)
        p->close_shared(shared);
    free(dir);
    pd_arena_free(arena);
    return ok;
}

static int parse_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"agent", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const pd_provider *forced = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            forced = pd_provider_find(optarg);
            if (forced == NULL)
                return pd_cli_usage_error("parse ", "unknown agent \"%s\" (supported: claude, codex)",
                                          optarg);
            break;
        case 'h':
            fputs("Usage: parsediff parse [--agent claude|codex] FILE...\n"
                  "\n"
                  "Prints every session parsed from each transcript as JSON, with the archive's\n"
                  "column names, as sync would store it. The agent is inferred from the path\n"
                  "(rollout-*.jsonl is codex, other *.jsonl files claude) unless --agent is given.\n",
                  stdout);
            return PD_EXIT_OK;
        case ':':
            return pd_cli_bad_option("parse ", ':', argv, longopts);
        default:
            return pd_cli_bad_option("parse ", '?', argv, longopts);
        }
    }
    if (optind >= argc)
        return pd_cli_usage_error("parse ", "no transcript files given");

    pd_json_parser *json = pd_json_parser_new();
    if (json == NULL) {
        pd_cli_error("out of memory");
        return PD_EXIT_RUNTIME;
    }
    jw w = {.out = stdout};
    bool all_ok = true;
    fputs("{", stdout);
    w.depth = 1;
    w.need_comma[1] = false;
    jw_key(&w, "sessions");
    jw_open(&w, '[');
    for (int i = optind; i < argc; i++) {
        /* Absolute as sync stores it, which also lets a Codex rollout find its title index. */
        char *path = pd_cli_absolute_path(strdup(argv[i]));
        if (path == NULL) {
            all_ok = false;
            continue;
        }
        struct stat st;
        if (strcmp(argv[i], "-") == 0 && stat(path, &st) != 0) {
            pd_cli_error("-: parse reads transcript files, not standard input; save the "
                         "transcript to a file and pass its path");
            all_ok = false;
            free(path);
            continue;
        }
        const pd_provider *p = forced != NULL ? forced : infer_provider(path);
        if (p == NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            pd_cli_error("%s: is a directory; pass transcript files", argv[i]);
        else if (p == NULL)
            pd_cli_error("%s: cannot tell which agent wrote this file; pass --agent claude or "
                         "--agent codex",
                         argv[i]);
        parse_tally tally = {0};
        if (p == NULL || !parse_one(&w, p, path, json, &tally)) {
            all_ok = false;
        } else if (tally.n_messages == 0 && tally.n_excluded > 0) {
            fprintf(stderr,
                    "parsediff: note: %s: the parser leaves out %zu session%s of this file (one "
                    "whose only prompts are /usage, say), so no rows are printed for %s\n",
                    argv[i], tally.n_excluded, tally.n_excluded == 1 ? "" : "s",
                    tally.n_excluded == 1 ? "it" : "them");
        } else if (tally.n_messages == 0 && tally.nonblank_lines == 0) {
            fprintf(stderr, "parsediff: warning: %s: the file %s, so it gives no message\n",
                    argv[i], tally.bytes == 0 ? "is empty" : "holds only blank lines");
        } else if (tally.n_messages == 0 && tally.first_nul >= 0) {
            fprintf(stderr,
                    "parsediff: warning: %s: no message found: the %s contains NUL bytes from "
                    "byte %lld on, which no agent writes (a crash can leave them); restore it "
                    "from a copy\n",
                    argv[i], tally.compressed ? "decompressed text" : "file",
                    (long long)tally.first_nul);
        } else if (tally.n_messages == 0 && tally.malformed_lines == tally.nonblank_lines) {
            if (tally.malformed_lines == 1)
                fprintf(stderr,
                        "parsediff: warning: %s: no message found: its only line could not be "
                        "parsed as JSON\n",
                        argv[i]);
            else
                fprintf(stderr,
                        "parsediff: warning: %s: no message found: none of its %lld lines could "
                        "be parsed as JSON\n",
                        argv[i], (long long)tally.malformed_lines);
        } else if (tally.n_messages > 0 &&
                   tally.malformed_lines - (tally.malformed_cut_tail ? 1 : 0) > 0) {
            /* An unfinished last line alone is a write in progress, as sync takes it. */
            long long left_out = (long long)tally.malformed_lines;
            fprintf(stderr,
                    "parsediff: warning: %s: %lld line%s could not be parsed as JSON and %s left "
                    "out",
                    argv[i], left_out, left_out == 1 ? "" : "s", left_out == 1 ? "was" : "were");
            if (tally.first_nul >= 0)
                fprintf(stderr,
                        "; the %s contains NUL bytes from byte %lld on, which no agent writes (a "
                        "crash can leave them)",
                        tally.compressed ? "decompressed text" : "file",
                        (long long)tally.first_nul);
            fputc('\n', stderr);
        } else if (tally.n_messages == 0) {
            if (tally.malformed_lines > 0)
                fprintf(stderr,
                        "parsediff: warning: %s: %lld of its %lld lines could not be parsed as "
                        "JSON\n",
                        argv[i], (long long)tally.malformed_lines, (long long)tally.nonblank_lines);
            /* The wrong agent reads every line as a record of no interest. */
            const pd_provider *named = infer_provider(path);
            const pd_provider *other =
                pd_provider_find(strcmp(p->name, "claude") == 0 ? "codex" : "claude");
            if (forced != NULL && named != NULL && named != forced)
                fprintf(stderr,
                        "parsediff: warning: %s: no message found when read as %s; its path "
                        "suggests a %s transcript, so try --agent %s\n",
                        argv[i], forced->name, named->name, named->name);
            else if (forced != NULL && other != NULL)
                fprintf(stderr,
                        "parsediff: warning: %s: no message found when read as %s; if it is a "
                        "%s transcript, pass --agent %s\n",
                        argv[i], forced->name, other->name, other->name);
            else if (forced == NULL && other != NULL)
                fprintf(stderr,
                        "parsediff: warning: %s: no message found when read as %s (from its "
                        "path); if it is a %s transcript, pass --agent %s\n",
                        argv[i], p->name, other->name, other->name);
        }
        free(path);
    }
    jw_close(&w, ']');
    w.depth = 0;
    fputs("\n}\n", stdout);
    pd_json_parser_free(json);

    if (fflush(stdout) != 0 || ferror(stdout) || w.failed) {
        /* EPIPE from `| head` is the reader's choice, not a failure worth a message. */
        if (errno != EPIPE)
            pd_cli_error("cannot write to stdout: %s", strerror(errno));
        return PD_EXIT_RUNTIME;
    }
    return all_ok ? PD_EXIT_OK : PD_EXIT_RUNTIME;
}

/* True for --agent and the abbreviations of it that getopt_long accepts. */
static bool is_agent_option(const char *arg)
{
    size_t n = strlen(arg);
    return n >= 3 && n <= strlen("--agent") && strncmp(arg, "--agent", n) == 0;
}

/* True when arg, which starts with '-', names a file rather than options. */
static bool looks_like_file(const char *arg)
{
    return access(arg, F_OK) == 0 || strchr(arg, '/') != NULL || strstr(arg, ".jsonl") != NULL;
}

/*
 * Claude project directories start with '-' ("-home-me-src-app"), so a
 * transcript path given relative to the projects directory looks like a
 * cluster of short options, and "-home-..." would even print the help.
 * Before "--", an argument of one '-' and more characters that exists or
 * looks like a path is a file, and is passed on as "./ARG".
 */
int pd_cmd_parse(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (args == NULL) {
        pd_cli_error("out of memory");
        return PD_EXIT_RUNTIME;
    }
    bool options = true;
    int rc = PD_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (options && strcmp(arg, "--") == 0)
            options = false;
        bool dashed_file = options && i > 0 && arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' &&
                           strcmp(arg, "-h") != 0 && looks_like_file(arg);
        /* The value of --agent is not a file. */
        if (dashed_file && is_agent_option(argv[i - 1]))
            dashed_file = false;
        args[i] = dashed_file ? malloc(strlen(arg) + 3) : strdup(arg);
        if (args[i] == NULL) {
            pd_cli_error("out of memory");
            rc = PD_EXIT_RUNTIME;
            break;
        }
        if (dashed_file) {
            memcpy(args[i], "./", 2);
            memcpy(args[i] + 2, arg, strlen(arg) + 1);
        }
    }
    if (rc == PD_EXIT_OK)
        rc = parse_command(argc, args);
    for (int i = 0; i < argc; i++)
        free(args[i]);
    free(args);
    return rc;
}
