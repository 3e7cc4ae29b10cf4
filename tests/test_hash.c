/*
 * test_hash.c -- tests of SHA-256 (known vectors, incremental use, file
 * prefixes) and XXH3.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"

/* Known SHA-256 digests, the same as coreutils sha256sum prints for these inputs. */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA_TWO_BLOCKS "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define TWO_BLOCK_TEXT "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

typedef struct fixture {
    char dir[64];
} fixture;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pd_hash_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_dir(void **state)
{
    fixture *f = *state;
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Writes data to dir/name and returns the path in path_out. */
static void write_file(const fixture *f, const char *name, const void *data, size_t n,
                       char *path_out, size_t path_size)
{
    snprintf(path_out, path_size, "%s/%s", f->dir, name);
    FILE *fp = fopen(path_out, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void sha256_empty_vector(void **state)
{
    (void)state;
    char hex[PD_SHA256_HEX_LEN + 1];

    assert_int_equal(pd_sha256_hex("", 0, hex), PD_OK);
    assert_string_equal(hex, SHA_EMPTY);
}

static void sha256_abc_vector(void **state)
{
    (void)state;
    char hex[PD_SHA256_HEX_LEN + 1];

    assert_int_equal(pd_sha256_hex("abc", 3, hex), PD_OK);
    assert_string_equal(hex, SHA_ABC);
}

static void sha256_two_block_vector(void **state)
{
    (void)state;
    char hex[PD_SHA256_HEX_LEN + 1];

    assert_int_equal(pd_sha256_hex(TWO_BLOCK_TEXT, strlen(TWO_BLOCK_TEXT), hex), PD_OK);
    assert_string_equal(hex, SHA_TWO_BLOCKS);
}

static void sha256_incremental_million(void **state)
{
    (void)state;
    char chunk[1000];
    char hex[PD_SHA256_HEX_LEN + 1];
    pd_sha256 h;

    memset(chunk, 'a', sizeof chunk);
    assert_int_equal(pd_sha256_init(&h), PD_OK);
    for (int i = 0; i < 1000; i++)
        pd_sha256_update(&h, chunk, sizeof chunk);
    pd_sha256_final_hex(&h, hex);
    assert_string_equal(hex, SHA_MILLION_A);
    assert_null(h.ctx);
}

static void sha256_split_updates(void **state)
{
    (void)state;
    char hex[PD_SHA256_HEX_LEN + 1];
    pd_sha256 h;

    assert_int_equal(pd_sha256_init(&h), PD_OK);
    pd_sha256_update(&h, "a", 1);
    pd_sha256_update(&h, "", 0);
    pd_sha256_update(&h, "bc", 2);
    pd_sha256_final_hex(&h, hex);
    assert_string_equal(hex, SHA_ABC);
}

static void sha256_abort_releases(void **state)
{
    (void)state;
    pd_sha256 h;

    assert_int_equal(pd_sha256_init(&h), PD_OK);
    pd_sha256_update(&h, "abc", 3);
    pd_sha256_abort(&h);
    assert_null(h.ctx);
    /* A second abort is harmless. */
    pd_sha256_abort(&h);
}

static void sha256_file_whole(void **state)
{
    char path[256], hex[PD_SHA256_HEX_LEN + 1];

    write_file(*state, "abc.txt", "abc", 3, path, sizeof path);
    assert_int_equal(pd_sha256_file(path, -1, hex), PD_OK);
    assert_string_equal(hex, SHA_ABC);
}

static void sha256_file_prefix(void **state)
{
    char path[256], hex[PD_SHA256_HEX_LEN + 1];

    write_file(*state, "abcdef.txt", "abcdef", 6, path, sizeof path);
    assert_int_equal(pd_sha256_file(path, 3, hex), PD_OK);
    assert_string_equal(hex, SHA_ABC);
    assert_int_equal(pd_sha256_file(path, 0, hex), PD_OK);
    assert_string_equal(hex, SHA_EMPTY);
    assert_int_equal(pd_sha256_file(path, 6, hex), PD_OK);
    assert_string_not_equal(hex, SHA_ABC);
}

static void sha256_file_large(void **state)
{
    char path[256], hex[PD_SHA256_HEX_LEN + 1];
    char *data = malloc(1000000);
    assert_non_null(data);
    memset(data, 'a', 1000000);

    /* Larger than one read chunk, so several reads feed the hash. */
    write_file(*state, "million.txt", data, 1000000, path, sizeof path);
    assert_int_equal(pd_sha256_file(path, -1, hex), PD_OK);
    assert_string_equal(hex, SHA_MILLION_A);
    free(data);
}

static void sha256_file_shorter_than_limit(void **state)
{
    char path[256], hex[PD_SHA256_HEX_LEN + 1];

    write_file(*state, "short.txt", "abc", 3, path, sizeof path);
    assert_int_equal(pd_sha256_file(path, 4, hex), PD_EIO);
    assert_string_equal(hex, "");
}

static void sha256_file_missing(void **state)
{
    fixture *f = *state;
    char path[256], hex[PD_SHA256_HEX_LEN + 1];

    snprintf(path, sizeof path, "%s/none.txt", f->dir);
    assert_int_equal(pd_sha256_file(path, -1, hex), PD_EIO);
    assert_int_equal(errno, ENOENT);
}

static void sha256_file_directory(void **state)
{
    fixture *f = *state;
    char hex[PD_SHA256_HEX_LEN + 1];

    assert_int_equal(pd_sha256_file(f->dir, -1, hex), PD_EIO);
}

static void xxh3_known_value(void **state)
{
    (void)state;
    /* XXH3_64bits of empty input with the default seed. */
    assert_true(pd_xxh3("", 0) == UINT64_C(0x2D06800538D394C2));
}

static void xxh3_distinguishes_inputs(void **state)
{
    (void)state;
    char buf[64];

    assert_true(pd_xxh3("abc", 3) == pd_xxh3("abc", 3));
    assert_true(pd_xxh3("abc", 3) != pd_xxh3("abd", 3));
    assert_true(pd_xxh3("abc", 3) != pd_xxh3("abc", 2));

    /* The hash reads only the given bytes. */
    memcpy(buf, "abcXYZ", 6);
    assert_true(pd_xxh3(buf, 3) == pd_xxh3("abc", 3));
}

/* XXH3-128 of the empty input, as xxHash's own test vectors give it. */
static void xxh128_empty_known_value(void **state)
{
    (void)state;
    char hex[PD_XXH128_HEX_LEN + 1];
    pd_xxh128_hex("", 0, hex);
    assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
}

static void xxh128_stream_matches_one_shot(void **state)
{
    (void)state;
    const char *text = "token|12:claude-opus|3;content|7|abc;";
    char one[PD_XXH128_HEX_LEN + 1], streamed[PD_XXH128_HEX_LEN + 1];
    pd_xxh128_hex(text, strlen(text), one);

    pd_xxh128 h = {0};
    assert_int_equal(pd_xxh128_init(&h), PD_OK);
    pd_xxh128_update(&h, text, 5);
    pd_xxh128_update(&h, text + 5, strlen(text) - 5);
    pd_xxh128_final_hex(&h, streamed);
    assert_string_equal(one, streamed);
    assert_null(h.state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_empty_vector),
        cmocka_unit_test(sha256_abc_vector),
        cmocka_unit_test(sha256_two_block_vector),
        cmocka_unit_test(sha256_incremental_million),
        cmocka_unit_test(sha256_split_updates),
        cmocka_unit_test(sha256_abort_releases),
        cmocka_unit_test_setup_teardown(sha256_file_whole, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(sha256_file_prefix, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(sha256_file_large, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(sha256_file_shorter_than_limit, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(sha256_file_missing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(sha256_file_directory, setup_dir, teardown_dir),
        cmocka_unit_test(xxh3_known_value),
        cmocka_unit_test(xxh3_distinguishes_inputs),
        cmocka_unit_test(xxh128_empty_known_value),
        cmocka_unit_test(xxh128_stream_matches_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
