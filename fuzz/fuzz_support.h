/*
 * fuzz_support.h -- helpers shared by the libFuzzer targets in this
 * directory.
 *
 * Every target is single-threaded: libFuzzer calls LLVMFuzzerTestOneInput
 * from one thread, so the helpers keep no locks.
 */
#ifndef PD_FUZZ_SUPPORT_H
#define PD_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "parsers/jsonl.h"
#include "parsers/provider.h"

/*
 * Stops the run with a message when cond is false. A broken contract is a
 * finding, so it must fail the run the way a sanitizer report does.
 */
#define FZ_CHECK(cond) fz_check((cond), #cond, __FILE__, __LINE__)
void fz_check(int cond, const char *expr, const char *file, int line);

/*
 * Creates a fresh directory under $TMPDIR (or /tmp) for the whole run and
 * returns its path. The directory is removed at a normal exit, but a crash
 * leaves it behind, so fuzz/Makefile points TMPDIR into the build directory.
 */
const char *fz_make_run_dir(const char *name);

/* Writes n bytes to path, replacing it, creating no directories. */
void fz_write_file(const char *path, const uint8_t *data, size_t n);
/* Creates every missing directory of path (the last component included). */
void fz_make_dirs(const char *path);

/*
 * Fills out as if pd_source_read() had read data[0..n) from disk. The copy
 * is exactly n bytes long, so ASan reports any read past the end. Free it
 * with pd_source_buf_free().
 */
void fz_source_from_bytes(const uint8_t *data, size_t n, pd_source_buf *out);

/*
 * Splits an input into file bytes and an offset selector: the last two
 * bytes (little-endian) pick an offset into the remaining bytes. Sets
 * *file_len to the number of file bytes and returns the offset, which is
 * at most *file_len. Inputs shorter than three bytes have offset 0.
 */
size_t fz_split_offset(const uint8_t *data, size_t n, size_t *file_len);

/*
 * Runs provider->parse on src as the engine does (full parse when incr is
 * NULL), checks the result against the contract in parsers/provider.h,
 * and normalises every returned session as sync and diff do. shared is the
 * provider's shared state (NULL for Claude). Returns the parse's code.
 */
int fz_parse_and_check(const pd_provider *provider, void *shared, const char *path,
                       const char *root, const pd_source_buf *src, const pd_incr_state *incr);

#endif
