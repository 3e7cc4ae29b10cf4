/*
 * error.h -- the one table of parsediff error codes.
 *
 * Every library function that can fail returns an int from this table:
 * PD_OK (0) on success, a negative PD_E* code otherwise. Functions that need
 * to say more fill a caller-owned pd_err with the message, the file the
 * problem concerns and, in debug builds, the source location that raised it.
 * The first error recorded in a pd_err wins; later ones are ignored, so a
 * cleanup path cannot overwrite the cause.
 *
 * Thread-safety: the table is constant; a pd_err belongs to one thread.
 */
#ifndef PD_ERROR_H
#define PD_ERROR_H

#include <stddef.h>

/* X(name, value, message) */
#define PD_ERROR_TABLE(X)                                                                          \
    X(PD_OK, 0, "success")                                                                         \
    X(PD_ENOMEM, -1, "out of memory")                                                              \
    X(PD_EINVAL, -2, "invalid argument")                                                           \
    X(PD_EIO, -3, "I/O error")                                                                     \
    X(PD_ENOENT, -4, "not found")                                                                  \
    X(PD_EJSON, -5, "invalid JSON")                                                                \
    X(PD_EFORMAT, -6, "unrecognised file format")                                                  \
    X(PD_EZSTD, -7, "zstd decompression failed")                                                   \
    X(PD_ESQLITE, -8, "SQLite error")                                                              \
    X(PD_ESCHEMA, -9, "archive schema is missing required columns")                                \
    X(PD_EREADONLY, -10, "write refused on a report-only engine")                                  \
    X(PD_ETOOBIG, -11, "input exceeds a size limit")                                               \
    X(PD_ECANCELED, -12, "operation cancelled")                                                    \
    X(PD_EFULL, -13, "queue is full")                                                              \
    X(PD_ECLOSED, -14, "queue is closed")                                                          \
    X(PD_EFALLBACK, -15, "incremental parse not possible; a full parse is needed")                 \
    X(PD_ERACE, -16, "source changed while it was read")                                           \
    X(PD_EINTERNAL, -17, "internal error")                                                         \
    X(PD_ESTALE, -18, "the stored row changed since it was read")                                  \
    X(PD_EZSTD_CUT, -19, "zstd data ends inside a frame")

enum pd_error_code {
#define PD_ERROR_ENUM(name, value, message) name = value,
    PD_ERROR_TABLE(PD_ERROR_ENUM)
#undef PD_ERROR_ENUM
};

/* Returns the constant symbolic name ("PD_EIO") of code, or "PD_E?" when unknown. */
const char *pd_strerror_name(int code);
/* Returns the constant human message of code. */
const char *pd_strerror(int code);

#define PD_ERR_MSG_MAX 512

/* Details of the first error of an operation. Zero-initialise before use. */
typedef struct pd_err {
    int code;                  /* PD_OK while no error has been recorded */
    char msg[PD_ERR_MSG_MAX];  /* "path: what failed" style, no trailing newline */
    const char *origin_file;   /* source file that raised it (debug builds), else NULL */
    int origin_line;
} pd_err;

/*
 * Records an error in err (which may be NULL) unless one is already recorded,
 * and returns code so that callers can write `return pd_err_set(...)`.
 * The message is printf-formatted.
 */
int pd_err_set_at(pd_err *err, int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#ifdef NDEBUG
#define pd_err_set(err, code, ...) pd_err_set_at((err), (code), NULL, 0, __VA_ARGS__)
#else
#define pd_err_set(err, code, ...) pd_err_set_at((err), (code), __FILE__, __LINE__, __VA_ARGS__)
#endif

/* Clears err so that it can be reused. */
void pd_err_clear(pd_err *err);

#endif
