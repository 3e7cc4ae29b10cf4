/*
 * jsonl.c -- reading transcript sources and splitting them into JSONL lines.
 *
 * Entry points in call order: pd_source_prefetch() may start the kernel
 * reading a file ahead, pd_source_read() loads it (decompressing .zst),
 * pd_jsonl_init() and pd_jsonl_next() walk its lines, and
 * pd_source_buf_free() releases it. pd_jsonl_consumed_boundary() and
 * pd_jsonl_file_consumed_boundary() compute the Codex consumed offset.
 *
 * A source is read up to the size fstat() reported at open, so bytes a live
 * agent appends during the read are left for the next run, and a file that
 * shrinks mid-read yields what was read. The file is opened with O_NONBLOCK
 * so that a FIFO cannot block the open; only regular files are read.
 *
 * Threading: no shared state. A reader and a pd_source_buf belong to the
 * thread that uses them.
 */
#include "parsers/jsonl.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

/* The first guess for a .zst output buffer never exceeds this; the buffer grows from there. */
#define ZSTD_FIRST_GUESS_MAX ((size_t)256 << 20)
#define ZSTD_FIRST_GUESS_MIN ((size_t)64 << 10)

static const char *errno_text(int code, char *buf, size_t n)
{
    /* The GNU strerror_r (selected by _GNU_SOURCE) returns the text, maybe not in buf. */
    return strerror_r(code, buf, n);
}

bool pd_source_is_zst(const char *path)
{
    size_t n = strlen(path);

    return n >= 4 && memcmp(path + n - 4, ".zst", 4) == 0;
}

bool pd_source_texts_differ(const char *a, const char *b)
{
    pd_source_buf text_a = {0}, text_b = {0};
    pd_err ignored = {0};
    bool differ = pd_source_read(a, -1, &text_a, &ignored) == PD_OK &&
                  pd_source_read(b, -1, &text_b, &ignored) == PD_OK &&
                  (text_a.len != text_b.len || memcmp(text_a.data, text_b.data, text_a.len) != 0);
    pd_source_buf_free(&text_a);
    pd_source_buf_free(&text_b);
    return differ;
}

pd_entry_kind pd_source_entry_kind(unsigned char d_type, const char *path)
{
    if (d_type == DT_REG)
        return PD_ENTRY_FILE;
    if (d_type == DT_DIR)
        return PD_ENTRY_DIR;

    struct stat st;
    if (stat(path, &st) != 0)
        return PD_ENTRY_OTHER;
    if (S_ISREG(st.st_mode))
        return PD_ENTRY_FILE;
    return S_ISDIR(st.st_mode) ? PD_ENTRY_DIR : PD_ENTRY_OTHER;
}

void pd_source_warn_not_file(const char *path)
{
    struct stat st;
    char text[128];

    if (stat(path, &st) != 0) {
        int errnum = errno;
        if (errnum == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            PD_LOG(PD_LOG_WARN,
                   "%s: skipped: a symbolic link to a missing file; restore its target or remove "
                   "the link",
                   path);
        else if (errnum == ELOOP)
            PD_LOG(PD_LOG_WARN, "%s: skipped: a loop of symbolic links; remove one of them", path);
        else
            PD_LOG(PD_LOG_WARN, "%s: skipped: cannot stat: %s", path,
                   errno_text(errnum, text, sizeof text));
        return;
    }
    const char *kind = S_ISREG(st.st_mode)    ? NULL
                       : S_ISDIR(st.st_mode)  ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a device";
    if (kind != NULL)
        PD_LOG(PD_LOG_WARN,
               "%s: skipped: %s, not a regular file; rename it if it is no transcript, or put "
               "the transcript file there",
               path, kind);
}

int64_t pd_source_nul_tail(const pd_source_buf *src)
{
    if (src == NULL || src->len == 0 || src->data[src->len - 1] == '\n')
        return -1;
    const char *line_end = memrchr(src->data, '\n', src->len);
    const char *tail = line_end != NULL ? line_end + 1 : src->data;
    if (memchr(tail, '\0', (size_t)(src->data + src->len - tail)) == NULL)
        return -1;
    return tail - src->data;
}

int64_t pd_source_first_nul(const pd_source_buf *src)
{
    const char *nul = src != NULL && src->len > 0 ? memchr(src->data, '\0', src->len) : NULL;
    return nul != NULL ? nul - src->data : -1;
}

/* Orders names as their paths would sort, a directory's name being followed by '/'. */
static int compare_dir_entries(const void *x, const void *y)
{
    const pd_dir_entry *a = x, *b = y;
    const unsigned char *p = (const unsigned char *)a->name;
    const unsigned char *q = (const unsigned char *)b->name;

    while (*p != '\0' && *p == *q) {
        p++;
        q++;
    }
    int ca = *p != '\0' ? *p : (a->kind == PD_ENTRY_DIR ? '/' : 0);
    int cb = *q != '\0' ? *q : (b->kind == PD_ENTRY_DIR ? '/' : 0);
    return ca - cb;
}

void pd_dir_list_free(pd_dir_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(entries[i].name);
    free(entries);
}

int pd_dir_list(const char *dir, bool (*keep)(const char *name, void *ctx), void *ctx,
                pd_dir_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return PD_EIO;

    size_t dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir_len--;
    pd_dir_entry *entries = NULL;
    size_t count = 0, cap = 0;
    char *path = NULL;
    size_t path_cap = 0;
    int rc = PD_OK;
    struct dirent *e;

    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (keep != NULL && !keep(name, ctx))
            continue;

        size_t name_len = strlen(name);
        if (dir_len + name_len + 2 > path_cap) {
            size_t want = (dir_len + name_len + 2) * 2;
            char *grown = realloc(path, want);
            if (grown == NULL) {
                rc = PD_ENOMEM;
                break;
            }
            path = grown;
            path_cap = want;
        }
        memcpy(path, dir, dir_len);
        size_t at = dir_len;
        if (!(dir_len == 1 && dir[0] == '/'))
            path[at++] = '/';
        memcpy(path + at, name, name_len + 1);

        pd_entry_kind kind = pd_source_entry_kind(e->d_type, path);
        if (count == cap) {
            size_t grown_cap = cap == 0 ? 32 : cap * 2;
            pd_dir_entry *grown = realloc(entries, grown_cap * sizeof *grown);
            if (grown == NULL) {
                rc = PD_ENOMEM;
                break;
            }
            entries = grown;
            cap = grown_cap;
        }
        entries[count].name = strdup(name);
        if (entries[count].name == NULL) {
            rc = PD_ENOMEM;
            break;
        }
        entries[count].kind = kind;
        count++;
    }
    closedir(d);
    free(path);
    if (rc != PD_OK) {
        pd_dir_list_free(entries, count);
        return rc;
    }
    if (count > 1)
        qsort(entries, count, sizeof *entries, compare_dir_entries);
    *out = entries;
    *n = count;
    return PD_OK;
}

void pd_source_buf_free(pd_source_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

/*
 * Reads up to limit bytes from the start of fd into *out (malloc'd) and
 * sets *out_len. The first read uses RWF_NOWAIT, which returns only cached
 * bytes or fails with EAGAIN, so *uncached is set when no byte was cached.
 * File systems without RWF_NOWAIT leave *uncached false.
 */
static int read_fd(int fd, const char *path, size_t limit, char **out, size_t *out_len,
                   bool *uncached, pd_err *err)
{
    char text[128];
    char *data = malloc(limit > 0 ? limit : 1);
    size_t done = 0;

    *uncached = false;
    if (data == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory reading %zu bytes", path, limit);

    if (limit > 0) {
        struct iovec iov = {.iov_base = data, .iov_len = limit};
        ssize_t got = preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
        if (got > 0)
            done = (size_t)got;
        else if (got < 0 && errno == EAGAIN)
            *uncached = true;
    }
    while (done < limit) {
        ssize_t got = pread(fd, data + done, limit - done, (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        /* Regular files ignore O_NONBLOCK on most file systems; clear it where one does not. */
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int flags = fcntl(fd, F_GETFL);
            if (flags >= 0 && (flags & O_NONBLOCK) != 0 &&
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
                continue;
        }
        if (got < 0) {
            int saved = errno;
            free(data);
            return pd_err_set(err, PD_EIO, "%s: cannot read: %s", path,
                              errno_text(saved, text, sizeof text));
        }
        /* The file shrank after fstat(); what was read is the source. */
        if (got == 0)
            break;
        done += (size_t)got;
    }
    *out = data;
    *out_len = done;
    return PD_OK;
}

/* The largest zstd window log on 64-bit systems (ZSTD_WINDOWLOG_MAX_64 of zstd's advanced API). */
#define PD_ZSTD_WINDOW_LOG_MAX 31

/* Makes room for at least one more output byte; the cap is one past the size limit. */
static int grow_output(char **data, size_t *cap, size_t len, const char *path, pd_err *err)
{
    size_t new_cap;
    char *p;

    if (len < *cap)
        return PD_OK;
    if (*cap > PD_SOURCE_MAX_BYTES)
        return pd_err_set(err, PD_ETOOBIG, "%s: decompressed size exceeds the %zu-byte limit", path,
                          PD_SOURCE_MAX_BYTES);
    new_cap = *cap * 2;
    if (new_cap > PD_SOURCE_MAX_BYTES + 1)
        new_cap = PD_SOURCE_MAX_BYTES + 1;
    p = realloc(*data, new_cap);
    if (p == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory decompressing %zu bytes", path,
                          new_cap);
    *data = p;
    *cap = new_cap;
    return PD_OK;
}

/* Decompresses every zstd frame of src into *out (malloc'd) with the streaming API. */
static int decompress_zstd(const char *path, const char *src, size_t src_len, char **out,
                           size_t *out_len, pd_err *err)
{
    ZSTD_DCtx *dctx = NULL;
    ZSTD_inBuffer in = {src, src_len, 0};
    unsigned long long content_size;
    char *data = NULL;
    size_t cap, len = 0, pending = 0;
    int rc = PD_OK;

    /* A zero-byte .zst (such as one still being created) has no frame and reads as empty. */
    if (src_len == 0) {
        *out = malloc(1);
        *out_len = 0;
        return *out == NULL ? pd_err_set(err, PD_ENOMEM, "%s: out of memory", path) : PD_OK;
    }

    /* Start from the size the frame header declares, if it declares one, within bounds. */
    content_size = ZSTD_getFrameContentSize(src, src_len);
    if (content_size != ZSTD_CONTENTSIZE_UNKNOWN && content_size != ZSTD_CONTENTSIZE_ERROR)
        cap = content_size < ZSTD_FIRST_GUESS_MAX ? (size_t)content_size + 1 : ZSTD_FIRST_GUESS_MAX;
    else
        cap = src_len < ZSTD_FIRST_GUESS_MAX / 4 ? src_len * 4 : ZSTD_FIRST_GUESS_MAX;
    if (cap < ZSTD_FIRST_GUESS_MIN)
        cap = ZSTD_FIRST_GUESS_MIN;

    dctx = ZSTD_createDCtx();
    data = malloc(cap);
    if (dctx == NULL || data == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory starting zstd decompression", path);
        goto out;
    }
    /* zstd --long=N writes windows of 2^N bytes, past the decoder's default
     * limit of 2^27. Every window zstd can write on a 64-bit system (2^31) is
     * accepted, because the text it decodes to may be larger still. */
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, PD_ZSTD_WINDOW_LOG_MAX);

    /*
     * Feed all input, then keep draining: the decoder may hold output after
     * the last input byte. pending != 0 with no progress means the last frame
     * is cut short.
     */
    for (;;) {
        ZSTD_outBuffer ob;
        size_t before_in = in.pos;

        rc = grow_output(&data, &cap, len, path, err);
        if (rc != PD_OK)
            goto out;
        ob.dst = data + len;
        ob.size = cap - len;
        ob.pos = 0;
        pending = ZSTD_decompressStream(dctx, &ob, &in);
        if (ZSTD_isError(pending)) {
            ZSTD_ErrorCode code = ZSTD_getErrorCode(pending);
            if (code == ZSTD_error_memory_allocation)
                rc = pd_err_set(err, PD_ENOMEM,
                                "%s: out of memory decompressing zstd data (a file written "
                                "with zstd --long needs up to 2 GiB for its window)",
                                path);
            else if (code == ZSTD_error_frameParameter_windowTooLarge)
                rc = pd_err_set(err, PD_ETOOBIG,
                                "%s: the zstd window is larger than the %zu-byte size limit of "
                                "a transcript",
                                path, PD_SOURCE_MAX_BYTES);
            else if (code == ZSTD_error_prefix_unknown && len == 0)
                rc = pd_err_set(err, PD_EZSTD,
                                "%s: invalid zstd data: %s; the file does not start with a zstd "
                                "frame; compress it with zstd, or if it is plain text, rename it "
                                "without .zst",
                                path, ZSTD_getErrorName(pending));
            else
                rc = pd_err_set(err, PD_EZSTD,
                                "%s: invalid zstd data: %s; the file is damaged, so restore it "
                                "from a copy or remove it",
                                path, ZSTD_getErrorName(pending));
            goto out;
        }
        len += ob.pos;
        if (len > PD_SOURCE_MAX_BYTES) {
            rc = pd_err_set(err, PD_ETOOBIG, "%s: decompressed size exceeds the %zu-byte limit",
                            path, PD_SOURCE_MAX_BYTES);
            goto out;
        }
        if (in.pos == in.size && pending == 0)
            break;
        if (in.pos == in.size && in.pos == before_in && ob.pos == 0) {
            rc = pd_err_set(err, PD_EZSTD_CUT,
                            "%s: truncated zstd data: the last frame is incomplete", path);
            goto out;
        }
    }

    /* Give back a large unused tail; a failed shrink keeps the bigger block. */
    if (cap - len > ((size_t)1 << 20)) {
        char *p = realloc(data, len > 0 ? len : 1);
        if (p != NULL)
            data = p;
    }
    *out = data;
    *out_len = len;
    data = NULL;

out:
    free(data);
    ZSTD_freeDCtx(dctx);
    return rc;
}

int pd_source_read(const char *path, int64_t max_bytes, pd_source_buf *out, pd_err *err)
{
    char text[128];
    struct stat st;
    char *raw = NULL;
    size_t raw_len = 0, limit;
    int fd, rc;

    memset(out, 0, sizeof *out);

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int errnum = errno;
        return pd_err_set(err, errnum == ENOENT ? PD_ENOENT : PD_EIO, "%s: cannot open: %s%s", path,
                          errno_text(errnum, text, sizeof text),
                          errnum == EACCES ? "; make it readable for this user (its mode or owner)"
                                           : "");
    }

    if (fstat(fd, &st) != 0) {
        rc = pd_err_set(err, PD_EIO, "%s: cannot stat: %s", path,
                        errno_text(errno, text, sizeof text));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = pd_err_set(err, PD_EIO, "%s: is a directory; pass a transcript file", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pd_err_set(err, PD_EIO, "%s: not a regular file (FIFO, socket or device)", path);
        goto out;
    }

    limit = st.st_size > 0 ? (size_t)st.st_size : 0;
    if (max_bytes >= 0 && (uint64_t)max_bytes < (uint64_t)limit)
        limit = (size_t)max_bytes;
    rc = read_fd(fd, path, limit, &raw, &raw_len, &out->uncached, err);
    if (rc != PD_OK)
        goto out;

    out->file_size = (int64_t)raw_len;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    out->inode = (int64_t)st.st_ino;
    out->device = (int64_t)st.st_dev;
    out->compressed = pd_source_is_zst(path);

    if (out->compressed) {
        rc = decompress_zstd(path, raw, raw_len, &out->data, &out->len, err);
        if (rc != PD_OK)
            goto out;
    } else {
        out->data = raw;
        out->len = raw_len;
        raw = NULL;
    }
    rc = PD_OK;

out:
    free(raw);
    close(fd);
    if (rc != PD_OK) {
        pd_source_buf read = *out;
        pd_source_buf_free(out);
        /* The caller tells a .zst being written from a damaged one by these. */
        if (rc == PD_EZSTD_CUT) {
            out->file_size = read.file_size;
            out->mtime_ns = read.mtime_ns;
        }
    }
    return rc;
}

pd_prefetch pd_source_prefetch(const char *path)
{
    struct stat st;
    pd_prefetch found = PD_PREFETCH_NONE;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return PD_PREFETCH_NONE;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        if (st.st_size == 0 || preadv2(fd, &iov, 1, 0, RWF_NOWAIT) >= 0) {
            found = PD_PREFETCH_CACHED;
        } else {
            (void)posix_fadvise(fd, 0, (off_t)PD_SOURCE_PREFETCH_BYTES, POSIX_FADV_WILLNEED);
            found = PD_PREFETCH_STARTED;
        }
    }
    close(fd);
    return found;
}

void pd_jsonl_init(pd_jsonl_reader *r, const char *buf, size_t len, size_t start)
{
    r->buf = buf;
    r->len = len;
    r->pos = start < len ? start : len;

    if (start == 0 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
}

bool pd_jsonl_next(pd_jsonl_reader *r, pd_jsonl_line *line)
{
    while (r->pos < r->len) {
        const char *begin = r->buf + r->pos;
        const char *lf = memchr(begin, '\n', r->len - r->pos);
        size_t start = r->pos;
        size_t n;

        if (lf != NULL) {
            n = (size_t)(lf - begin);
            r->pos = start + n + 1;
            /* Only a CR right before the LF belongs to the line ending. */
            if (n > 0 && begin[n - 1] == '\r')
                n--;
            line->terminated = true;
        } else {
            n = r->len - start;
            r->pos = r->len;
            line->terminated = false;
        }
        if (n == 0)
            continue;

        line->data = begin;
        line->len = n;
        line->offset = (int64_t)start;
        line->end = (int64_t)r->pos;
        return true;
    }
    return false;
}

bool pd_jsonl_is_blank(const pd_jsonl_line *line)
{
    for (size_t i = 0; i < line->len; i++) {
        char c = line->data[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r')
            return false;
    }
    return true;
}

int64_t pd_jsonl_consumed_boundary(pd_json_parser *p, const char *buf, size_t len, size_t start)
{
    pd_jsonl_reader reader;
    pd_jsonl_line line;
    pd_json root;
    int64_t boundary = (int64_t)(start < len ? start : len);

    pd_jsonl_init(&reader, buf, len, start);
    while (pd_jsonl_next(&reader, &line)) {
        /* A partial trailing line is never consumed, even when it happens to parse. */
        if (!line.terminated)
            break;
        if (pd_json_parse(p, line.data, line.len, &root) == PD_OK)
            boundary = line.end;
    }
    return boundary;
}

int pd_jsonl_file_consumed_boundary(const char *path, pd_json_parser *p, int64_t *out, pd_err *err)
{
    return pd_jsonl_file_tail(path, p, out, NULL, err);
}

int pd_jsonl_file_tail(const char *path, pd_json_parser *p, int64_t *boundary, bool *tail_record,
                       pd_err *err)
{
    pd_source_buf src;
    int rc = pd_source_read(path, -1, &src, err);

    if (rc != PD_OK)
        return rc;
    *boundary = pd_jsonl_consumed_boundary(p, src.data, src.len, 0);
    if (tail_record != NULL) {
        /* What follows the boundary: invalid lines, then at most one line without an LF. */
        *tail_record = false;
        pd_jsonl_reader reader;
        pd_jsonl_line line;
        pd_json root;
        pd_jsonl_init(&reader, src.data, src.len, (size_t)*boundary);
        while (pd_jsonl_next(&reader, &line)) {
            if (!line.terminated)
                *tail_record = !pd_jsonl_is_blank(&line) &&
                               pd_json_parse(p, line.data, line.len, &root) == PD_OK;
        }
    }
    pd_source_buf_free(&src);
    return PD_OK;
}
