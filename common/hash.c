/*
 * hash.c -- SHA-256 through OpenSSL's EVP interface, and XXH3 from libxxhash.
 *
 * Entry points: pd_sha256_init(), pd_sha256_update(), pd_sha256_final_hex()
 * or pd_sha256_abort(); the one-shot pd_sha256_hex() and pd_sha256_file();
 * pd_xxh3().
 *
 * Threading: a pd_sha256 context belongs to one thread; the one-shot
 * functions keep their state on the stack or the heap and may run anywhere.
 */
#include "common/hash.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>

#define FILE_CHUNK_SIZE ((size_t)64 << 10)

int pd_sha256_init(pd_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    h->ctx = NULL;
    if (ctx == NULL)
        return PD_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return PD_ENOMEM;
    }
    h->ctx = ctx;
    return PD_OK;
}

void pd_sha256_update(pd_sha256 *h, const void *data, size_t n)
{
    if (h->ctx != NULL && n > 0)
        EVP_DigestUpdate(h->ctx, data, n);
}

void pd_sha256_final_hex(pd_sha256 *h, char hex[PD_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    hex[0] = '\0';
    if (h->ctx == NULL)
        return;
    if (EVP_DigestFinal_ex(h->ctx, digest, &len) == 1 && len * 2 == PD_SHA256_HEX_LEN) {
        for (unsigned int i = 0; i < len; i++) {
            hex[2 * i] = digits[digest[i] >> 4];
            hex[2 * i + 1] = digits[digest[i] & 0xF];
        }
        hex[PD_SHA256_HEX_LEN] = '\0';
    }
    pd_sha256_abort(h);
}

void pd_sha256_abort(pd_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int pd_sha256_hex(const void *data, size_t n, char hex[PD_SHA256_HEX_LEN + 1])
{
    pd_sha256 h;
    int rc = pd_sha256_init(&h);

    if (rc != PD_OK)
        return rc;
    pd_sha256_update(&h, data, n);
    pd_sha256_final_hex(&h, hex);
    return PD_OK;
}

int pd_sha256_file(const char *path, int64_t limit, char hex[PD_SHA256_HEX_LEN + 1])
{
    pd_sha256 h = {NULL};
    struct stat st;
    char *chunk = NULL;
    int64_t done = 0;
    int fd, rc, saved_errno = 0;

    hex[0] = '\0';

    /* O_NONBLOCK keeps a FIFO from blocking the open; only regular files are hashed. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return PD_EIO;
    if (fstat(fd, &st) != 0) {
        rc = PD_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        rc = PD_EIO;
        goto out;
    }

    chunk = malloc(FILE_CHUNK_SIZE);
    rc = chunk == NULL ? PD_ENOMEM : pd_sha256_init(&h);
    if (rc != PD_OK)
        goto out;

    for (;;) {
        size_t want = FILE_CHUNK_SIZE;
        ssize_t got;

        if (limit >= 0 && (int64_t)want > limit - done)
            want = (size_t)(limit - done);
        if (want == 0)
            break;
        got = read(fd, chunk, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = PD_EIO;
            goto out;
        }
        if (got == 0)
            break;
        pd_sha256_update(&h, chunk, (size_t)got);
        done += got;
    }

    /* The caller asked for a prefix the file no longer has. */
    if (limit >= 0 && done < limit) {
        errno = ENODATA;
        rc = PD_EIO;
        goto out;
    }
    pd_sha256_final_hex(&h, hex);
    rc = PD_OK;

out:
    saved_errno = errno;
    pd_sha256_abort(&h);
    free(chunk);
    close(fd);
    errno = saved_errno;
    return rc;
}

uint64_t pd_xxh3(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}

void pd_xxh128_words(const void *data, size_t n, uint64_t out[2])
{
    XXH128_hash_t h = XXH3_128bits(data, n);
    out[0] = h.low64;
    out[1] = h.high64;
}

static void xxh128_to_hex(XXH128_hash_t h, char hex[PD_XXH128_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[c.digest[i] >> 4];
        hex[2 * i + 1] = digits[c.digest[i] & 15];
    }
    hex[PD_XXH128_HEX_LEN] = '\0';
}

void pd_xxh128_hex(const void *data, size_t n, char hex[PD_XXH128_HEX_LEN + 1])
{
    xxh128_to_hex(XXH3_128bits(data, n), hex);
}

int pd_xxh128_init(pd_xxh128 *h)
{
    h->state = XXH3_createState();
    if (h->state == NULL)
        return PD_ENOMEM;
    XXH3_128bits_reset(h->state);
    return PD_OK;
}

void pd_xxh128_update(pd_xxh128 *h, const void *data, size_t n)
{
    XXH3_128bits_update(h->state, data, n);
}

void pd_xxh128_final_hex(pd_xxh128 *h, char hex[PD_XXH128_HEX_LEN + 1])
{
    xxh128_to_hex(XXH3_128bits_digest(h->state), hex);
    pd_xxh128_abort(h);
}

void pd_xxh128_abort(pd_xxh128 *h)
{
    if (h->state != NULL)
        XXH3_freeState(h->state);
    h->state = NULL;
}

void pd_sha256_raw_hex(const uint8_t raw[32], char hex[PD_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[PD_SHA256_HEX_LEN] = '\0';
}
