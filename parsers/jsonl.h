/*
 * jsonl.h -- reading transcript sources and splitting them into JSONL lines.
 *
 * pd_source_read() loads one source into memory: at most the size observed
 * by fstat() when the file was opened (so bytes appended during the read are
 * left for the next run), transparently decompressing `.jsonl.zst`.
 * pd_jsonl_next() then walks the buffer line by line:
 *   - lines end at LF only; one CR before the LF is removed (CRLF files);
 *     a lone CR elsewhere is ordinary data;
 *   - one UTF-8 BOM at offset 0 is skipped;
 *   - empty lines are skipped silently; lines of any length are returned;
 *   - a final line without LF is returned with terminated = false, so the
 *     caller decides whether a partial tail counts.
 * pd_jsonl_consumed_boundary() computes the offset just after the last
 * complete (LF-terminated) line that is valid JSON; a partial trailing line
 * is never inside it. This is the value Codex bookkeeping stores as
 * file_size after an incremental write, and the value diff recomputes.
 *
 * Thread-safety: a reader and a pd_source_buf belong to one thread.
 */
#ifndef PD_JSONL_H
#define PD_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"

/* One source's bytes and its stat identity at open time. */
typedef struct pd_source_buf {
    char *data;          /* malloc'd; decompressed for .zst; not NUL-terminated */
    size_t len;          /* bytes in data */
    int64_t file_size;   /* on-disk size read (compressed size for .zst) */
    int64_t mtime_ns;    /* st_mtim at open */
    int64_t inode;       /* st_ino */
    int64_t device;      /* st_dev */
    bool compressed;     /* the source was .zst */
    bool uncached;       /* none of the file was in the page cache when the read began */
} pd_source_buf;

/*
 * Reads path into out. max_bytes caps the on-disk bytes read (< 0: the fstat
 * size at open). Returns PD_OK; PD_ENOENT when the file does not exist;
 * PD_EIO for other open/read failures and non-regular files (err names the
 * path and the errno text); PD_EZSTD for a corrupt .zst; PD_EZSTD_CUT for a
 * .zst that ends inside a frame (cut short, or still being written);
 * PD_ETOOBIG when the decompressed size exceeds PD_SOURCE_MAX_BYTES;
 * PD_ENOMEM. On failure out is left empty, except that PD_EZSTD_CUT keeps
 * file_size and mtime_ns. Free with pd_source_buf_free().
 */
int pd_source_read(const char *path, int64_t max_bytes, pd_source_buf *out, pd_err *err);
void pd_source_buf_free(pd_source_buf *b);

/* What pd_source_prefetch() found and did. */
typedef enum pd_prefetch {
    PD_PREFETCH_NONE,    /* not an openable regular file, which the later read reports */
    PD_PREFETCH_CACHED,  /* the first byte was in the page cache (or the file is empty) */
    PD_PREFETCH_STARTED, /* readahead of the first PD_SOURCE_PREFETCH_BYTES requested */
} pd_prefetch;

/*
 * Checks with a one-byte RWF_NOWAIT read whether the start of path is in the
 * page cache. If it is not, starts the kernel reading the first
 * PD_SOURCE_PREFETCH_BYTES and returns without waiting. File systems without
 * RWF_NOWAIT always get the request.
 */
pd_prefetch pd_source_prefetch(const char *path);

/* Bytes of a source that pd_source_prefetch() requests. The kernel's readahead covers the rest. */
#define PD_SOURCE_PREFETCH_BYTES (256 * 1024)

/* Upper bound for one decompressed source (bytes). */
#define PD_SOURCE_MAX_BYTES ((size_t)4 << 30)

/* True when path ends in ".zst". */
bool pd_source_is_zst(const char *path);

/*
 * True when the files at a and b can both be read and hold different
 * transcript texts, a .zst compared by what it decompresses to. Reads both
 * files in full, so it is meant for the rare copies of one transcript.
 */
bool pd_source_texts_differ(const char *a, const char *b);

/* The kind of a directory entry that discovery cares about. */
typedef enum pd_entry_kind {
    PD_ENTRY_OTHER = 0, /* missing, or neither a regular file nor a directory */
    PD_ENTRY_FILE,
    PD_ENTRY_DIR,
} pd_entry_kind;

/*
 * Returns the kind of the entry at path, following symbolic links. A
 * d_type from readdir() of DT_REG or DT_DIR is trusted. Any other value (a
 * link, or DT_UNKNOWN from some file systems) costs one stat().
 */
pd_entry_kind pd_source_entry_kind(unsigned char d_type, const char *path);

/*
 * Logs a warning that path, named like a transcript, is skipped because it
 * is not a regular file. The warning names what it is instead: a symbolic
 * link to a missing file, a link loop, a directory, a FIFO, a socket or a
 * device.
 */
void pd_source_warn_not_file(const char *path);

/*
 * Returns the offset of src's unfinished last line (the bytes after its
 * last newline) when that line contains a NUL byte, else -1. An agent writes
 * JSON text, which never contains one, but a crash can leave a file's last
 * blocks zeroed, so such a line is damage and not a write in progress.
 */
int64_t pd_source_nul_tail(const pd_source_buf *src);
/* Returns the offset of the first NUL byte of src's text, or -1 when it has none. */
int64_t pd_source_first_nul(const pd_source_buf *src);

/* One entry of a directory listing. */
typedef struct pd_dir_entry {
    char *name; /* malloc'd */
    pd_entry_kind kind;
} pd_dir_entry;

/*
 * Lists the entries of dir ("." and ".." left out) for which keep(name,
 * ctx) is true; keep may be NULL. Each entry's kind follows symbolic links,
 * and PD_ENTRY_OTHER covers all but regular files and directories. The
 * entries are sorted as the paths dir/name, with a directory's name
 * followed by '/', so that a walk that descends into each directory in
 * turn meets every path in byte order. Returns PD_OK and sets *out and *n
 * (free them with pd_dir_list_free), PD_ENOMEM, or PD_EIO with errno set
 * when dir cannot be opened.
 */
int pd_dir_list(const char *dir, bool (*keep)(const char *name, void *ctx), void *ctx,
                pd_dir_entry **out, size_t *n);
void pd_dir_list_free(pd_dir_entry *entries, size_t n);

typedef struct pd_jsonl_line {
    const char *data; /* line bytes, without the LF and the CR before it */
    size_t len;
    int64_t offset;   /* offset of the first byte in the buffer */
    int64_t end;      /* offset just past the LF (or the buffer end when unterminated) */
    bool terminated;  /* the line ended with LF */
} pd_jsonl_line;

typedef struct pd_jsonl_reader {
    const char *buf;
    size_t len;
    size_t pos;
} pd_jsonl_reader;

/* Starts reading buf[start..len). A BOM is skipped only when start == 0. */
void pd_jsonl_init(pd_jsonl_reader *r, const char *buf, size_t len, size_t start);
/* Returns the next non-empty line, or false at the end of the buffer. */
bool pd_jsonl_next(pd_jsonl_reader *r, pd_jsonl_line *line);

/* True when line is only ASCII whitespace (counted as malformed by parsers). */
bool pd_jsonl_is_blank(const pd_jsonl_line *line);

/*
 * Offset just after the last LF-terminated line in buf[start..len) that
 * parses as valid JSON; start when there is none. Invalid terminated lines
 * do not advance the boundary but a later valid line moves past them.
 * Uses p for validation. Returns the boundary (>= start).
 */
int64_t pd_jsonl_consumed_boundary(pd_json_parser *p, const char *buf, size_t len, size_t start);

/*
 * Reads the file at path now and returns its consumed boundary in *out
 * (the collector's Codex check). Returns PD_OK or the pd_source_read error.
 */
int pd_jsonl_file_consumed_boundary(const char *path, pd_json_parser *p, int64_t *out,
                                    pd_err *err);

/*
 * The same as pd_jsonl_file_consumed_boundary, and sets *tail_record (when
 * not NULL) to whether the file ends in a line without an LF that parses as
 * valid JSON. The boundary leaves such a line out, but the parsers read it
 * as a record, as they read a last line whose LF is not written yet.
 */
int pd_jsonl_file_tail(const char *path, pd_json_parser *p, int64_t *boundary, bool *tail_record,
                       pd_err *err);

#endif
