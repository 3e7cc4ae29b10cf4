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

/* Writes the 32 bytes of a raw SHA-256 digest as 64 lower-case hex digits and a NUL. */
void pd_sha256_raw_hex(const uint8_t raw[32], char hex[PD_SHA256_HEX_LEN + 1]);
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
/* XXH3 128-bit hash as two words (low, high). */
void pd_xxh128_words(const void *data, size_t n, uint64_t out[2]);

#define PD_XXH128_HEX_LEN 32

/* XXH3 128-bit hash as 32 lower-case hex digits (canonical, big-endian) and a NUL. */
void pd_xxh128_hex(const void *data, size_t n, char hex[PD_XXH128_HEX_LEN + 1]);

/* Streaming XXH3 128-bit hash. init returns PD_OK or PD_ENOMEM. */
typedef struct pd_xxh128 {
    void *state; /* XXH3_state_t */
} pd_xxh128;
int pd_xxh128_init(pd_xxh128 *h);
void pd_xxh128_update(pd_xxh128 *h, const void *data, size_t n);
/* Writes the hex digest and releases the state. */
void pd_xxh128_final_hex(pd_xxh128 *h, char hex[PD_XXH128_HEX_LEN + 1]);
/* Releases the state without a digest; safe on a zeroed or finished pd_xxh128. */
void pd_xxh128_abort(pd_xxh128 *h);

#endif
