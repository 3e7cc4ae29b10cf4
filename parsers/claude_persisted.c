/*
 * claude_persisted.c -- tool output that Claude Code spilled to files.
 *
 * When a tool result is too large, Claude Code writes it under
 * <project>/<session>/tool-results/ and leaves a placeholder such as
 * "<persisted-output>... Full output saved to: /abs/path ...". The parser
 * substitutes the file's text for the placeholder. Entry points:
 * claude_persisted_path_in() finds the path in a result, and
 * claude_persisted_read() reads it.
 *
 * Only absolute paths strictly inside the transcript's own tool-results
 * directories are read (a lexical check after cleaning "." and ".."), so a
 * transcript cannot make the parser read arbitrary files.
 *
 * Thread-safety: touches only its arguments and the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/text.h"
#include "parsers/claude_internal.h"

/*
 * Marker appended to spilled output cut at CLAUDE_PERSISTED_MAX_BYTES. Archives
 * written by agentsview store this exact text, so it must not change.
 */
static const char truncation_marker[] =
    "\n\n[agentsview: persisted tool result truncated at 16 MiB]";

static bool is_regex_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

char *claude_persisted_path_in(pd_arena *a, const char *content, size_t len)
{
    static const char marker[] = "Full output saved to:";
    const char *hit = pd_text_find(content, len, marker);
    const char *p, *end = content + len, *eol;

    if (hit == NULL)
        return NULL;

    /* Whitespace after the colon may include line breaks, and the path runs to the end of its line.
     */
    p = hit + sizeof marker - 1;
    while (p < end && is_regex_space(*p))
        p++;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
        eol = end;
    return pd_text_trim(a, p, (size_t)(eol - p));
}

/* True when path is strictly below dir (both cleaned and absolute). */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/*
 * Reads at most CLAUDE_PERSISTED_MAX_BYTES + 1 bytes of a regular file into
 * a malloc'd buffer that the caller frees. Returns PD_OK, PD_EIO or PD_ENOMEM.
 */
static int read_capped(const char *path, char **out, size_t *out_len, int64_t *mtime_ns)
{
    size_t cap = CLAUDE_PERSISTED_MAX_BYTES + 1;
    struct stat st;
    size_t len = 0;
    char *buf = NULL;
    int fd, rc = PD_OK;

    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK so that a FIFO at this path cannot block the parse; the
     * regular-file check below then rejects it. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return PD_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PD_EIO;
        goto out;
    }
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (st.st_size >= 0 && (uint64_t)st.st_size < cap)
        cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = PD_ENOMEM;
        goto out;
    }
    while (len < cap) {
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = PD_EIO;
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;

out:
    free(buf);
    close(fd);
    return rc;
}

int claude_persisted_read(pd_arena *a, const char *transcript_path, const char *result_path,
                          char **out, size_t *out_len, int64_t *mtime_ns)
{
    char *clean_result, *clean_transcript, *stem, *dirs[2] = {NULL, NULL};
    const char *slash, *subagents;
    char *raw = NULL;
    size_t raw_len = 0;
    bool allowed = false;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (result_path == NULL || result_path[0] != '/' || transcript_path == NULL)
        return PD_OK;

    clean_result = pd_path_clean(a, result_path, strlen(result_path));
    clean_transcript = pd_path_clean(a, transcript_path, strlen(transcript_path));
    stem = claude_session_id_from_path(a, transcript_path);
    if (clean_result == NULL || clean_transcript == NULL || stem == NULL)
        return PD_ENOMEM;

    /* The session's own directory: <dir>/<stem>/tool-results. */
    slash = strrchr(clean_transcript, '/');
    if (slash != NULL) {
        char *joined = pd_arena_sprintf(a, "%.*s/%s/tool-results", (int)(slash - clean_transcript),
                                        clean_transcript, stem);
        if (joined == NULL)
            return PD_ENOMEM;
        dirs[0] = pd_path_clean(a, joined, strlen(joined));
        if (dirs[0] == NULL)
            return PD_ENOMEM;
    }
    /* A subagent transcript shares the enclosing session's directory. */
    subagents = strstr(clean_transcript, "/subagents/");
    if (subagents != NULL && subagents > clean_transcript) {
        char *joined = pd_arena_sprintf(a, "%.*s/tool-results", (int)(subagents - clean_transcript),
                                        clean_transcript);
        if (joined == NULL)
            return PD_ENOMEM;
        dirs[1] = pd_path_clean(a, joined, strlen(joined));
        if (dirs[1] == NULL)
            return PD_ENOMEM;
    }
    for (size_t i = 0; i < 2; i++) {
        if (dirs[i] != NULL && dirs[i][0] == '/' && path_within(clean_result, dirs[i]))
            allowed = true;
    }
    if (!allowed)
        return PD_OK;

    rc = read_capped(clean_result, &raw, &raw_len, mtime_ns);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK)
        return PD_OK; /* an unreadable spill file leaves the placeholder in place */

    if (raw_len > CLAUDE_PERSISTED_MAX_BYTES) {
        size_t kept;
        char *text = pd_utf8_sanitize(a, raw, CLAUDE_PERSISTED_MAX_BYTES, &kept);
        free(raw);
        if (text == NULL)
            return PD_ENOMEM;
        *out = pd_arena_sprintf(a, "%s%s", text, truncation_marker);
        if (*out == NULL)
            return PD_ENOMEM;
        *out_len = kept + sizeof truncation_marker - 1;
        return PD_OK;
    }
    *out = pd_utf8_sanitize(a, raw, raw_len, out_len);
    free(raw);
    return *out == NULL ? PD_ENOMEM : PD_OK;
}
