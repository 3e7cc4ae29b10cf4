/*
 * hash.h -- SHA-256 (archive file_hash, fingerprints) and XXH3 (internal keys).
 *
 * Thread-safety: contexts belong to one thread; one-shot functions are pure.
 */
#ifndef PD_HASH_H
#define PD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PD_SHA256_HEX_LEN 64

typedef struct pd_sha256 {
    void *ctx; /* EVP_MD_CTX */
} pd_sha256;

/* Returns PD_OK or PD_ENOMEM. */
int pd_sha256_init(pd_sha256 *h);
void pd_sha256_update(pd_sha256 *h, const void *data, size_t n);
/* Writes 64 lower-case hex digits and a NUL into hex, and releases the context. */
void pd_sha256_final_hex(pd_sha256 *h, char hex[PD_SHA256_HEX_LEN + 1]);
/* Releases a context without finishing it (error paths). */
void pd_sha256_abort(pd_sha256 *h);

/* One-shot SHA-256 of data as lower-case hex. Returns PD_OK or PD_ENOMEM. */
int pd_sha256_hex(const void *data, size_t n, char hex[PD_SHA256_HEX_LEN + 1]);

/*
 * SHA-256 of the first `limit` bytes of the file at path (all of it when
 * limit < 0). Returns PD_OK, PD_EIO (errno preserved), or PD_ENOMEM; a file
 * shorter than limit is PD_EIO.
 */
int pd_sha256_file(const char *path, int64_t limit, char hex[PD_SHA256_HEX_LEN + 1]);

/* XXH3 64-bit hash. */
uint64_t pd_xxh3(const void *data, size_t n);

#endif
