/*
 * json.h -- plain C wrapper around simdjson's DOM parser.
 *
 * The only C++ in parsediff lives behind this header (json.cpp); no C++ type
 * or exception crosses it. A pd_json_parser parses one document at a time
 * (one JSONL line); value handles (pd_json) point into that parse and stay
 * valid until the next pd_json_parse() on the same parser.
 *
 * Rules it implements, shared by every parser:
 *   - Validity: one complete JSON value of any type with optional
 *     surrounding ASCII whitespace. Raw control bytes inside strings make a
 *     line invalid. Invalid UTF-8 does NOT: such bytes inside string literals
 *     are dropped before parsing (later sanitising drops them anyway). A line
 *     of only whitespace is invalid.
 *   - Duplicate keys: the first occurrence wins.
 *   - Coercions follow the reference reader: pd_json_str_or_empty() is "" for
 *     non-strings; pd_json_int() truncates floats and parses numeric strings;
 *     pd_json_bool() is true for `true`, non-zero numbers, and strings such as
 *     "true", "1", "t", "T", "TRUE", "True".
 *   - Raw text: pd_json_raw_path() returns the exact source bytes of a value,
 *     which is what the archive stores for token_usage and input_json.
 *
 * Thread-safety: a parser belongs to one thread. Different parsers may be
 * used concurrently.
 */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct pd_json_parser pd_json_parser;

typedef enum pd_json_type {
    PD_JSON_ABSENT = 0, /* missing key, out-of-range index, or a handle of nothing */
    PD_JSON_NULL,
    PD_JSON_BOOL,
    PD_JSON_NUMBER,
    PD_JSON_STRING,
    PD_JSON_ARRAY,
    PD_JSON_OBJECT
} pd_json_type;

/* A value handle. Zero-initialised means absent. Copy it freely. */
typedef struct pd_json {
    uint64_t opaque[3];
} pd_json;

/* Returns a new parser or NULL when out of memory. */
pd_json_parser *pd_json_parser_new(void);
void pd_json_parser_free(pd_json_parser *p);
/*
 * Returns the bytes of line buffers p keeps between parses: the capacity
 * simdjson is sized for, and the copies of the line. Buffers grown for a
 * line over 16 MiB are released when a shorter line is parsed.
 */
size_t pd_json_parser_held_bytes(const pd_json_parser *p);

/*
 * Parses buf[0..len) as one document. On success returns PD_OK and sets
 * *root; returns PD_EJSON when the text is not valid under the rule above,
 * PD_ENOMEM when memory runs out. buf need not be padded or NUL-terminated
 * and may be released after the call (the parser keeps its own copy).
 */
int pd_json_parse(pd_json_parser *p, const char *buf, size_t len, pd_json *root);

/* Name of the simdjson kernel in use ("haswell", "westmere", "fallback", ...). */
const char *pd_json_kernel_name(void);

pd_json_type pd_json_type_of(pd_json v);
static inline bool pd_json_exists(pd_json v)
{
    return v.opaque[0] != 0;
}

/* Member by key given with a length (keys may contain NUL-free bytes only). */
pd_json pd_json_getn(pd_json obj, const char *key, size_t key_len);
/* Member `key` of an object (first occurrence); absent otherwise. Inline, so
 * that the length of a literal key is known at compile time. */
static inline pd_json pd_json_get(pd_json obj, const char *key)
{
    return pd_json_getn(obj, key, strlen(key));
}
/*
 * Follows a dotted path such as "message.usage" or "content.0.text": each
 * component is an object key, or a decimal index into an array.
 */
pd_json pd_json_path(pd_json v, const char *dotted);

/*
 * If v is a string, sets *s (not NUL-terminated, may contain NUL bytes from
 * \u0000 escapes) and *n and returns true; otherwise returns false and sets
 * *s = "" and *n = 0.
 */
bool pd_json_str(pd_json v, const char **s, size_t *n);
/* The string value of v, or "" (length 0) for anything else. */
static inline const char *pd_json_str_or_empty(pd_json v, size_t *n)
{
    const char *s;
    pd_json_str(v, &s, n);
    return s;
}
/* gjson Int(): numbers truncated toward zero, numeric strings parsed, else 0. */
int64_t pd_json_int(pd_json v);
/* gjson Float(): numbers, numeric strings, else 0. */
double pd_json_float(pd_json v);
/* gjson Bool(): see the header comment. */
bool pd_json_bool(pd_json v);
/* True for a JSON number that is an integer (no fraction or exponent overflow). */
bool pd_json_is_integer(pd_json v);

/* Number of elements of an array or members of an object; 0 otherwise. */
size_t pd_json_len(pd_json v);
/* Element i of an array, absent when out of range or not an array. */
pd_json pd_json_at(pd_json arr, size_t i);

/*
 * Iterates an array or object in document order:
 *     pd_json_iter it = pd_json_iter_begin(v);
 *     pd_json key, val;
 *     while (pd_json_iter_next(&it, &key, &val)) ...
 * For arrays key is absent; for objects key is a string handle.
 */
typedef struct pd_json_iter {
    uint64_t opaque[4];
} pd_json_iter;
pd_json_iter pd_json_iter_begin(pd_json v);
bool pd_json_iter_next(pd_json_iter *it, pd_json *key, pd_json *val);

/*
 * Sets *s and *n to the exact source text of the value found by following
 * dotted (as pd_json_path) from the document root of the last parse, and
 * returns true; returns false when the path does not resolve. The text points
 * into the parser's copy and is valid until the next parse.
 */
bool pd_json_raw_path(pd_json_parser *p, const char *dotted, const char **s, size_t *n);

/*
 * The same as pd_json_raw_path, found by scanning the line's text from the
 * start rather than through simdjson's structural index. pd_json_raw_path
 * falls back to it for lines parsed from a patched copy, and tests compare
 * the two.
 */
bool pd_json_raw_path_scan(pd_json_parser *p, const char *dotted, const char **s, size_t *n);

/* True when pd_json_raw_path serves the last-parsed line from the structural index. */
bool pd_json_raw_path_indexed(pd_json_parser *p);

/*
 * Sets *s and *n to the exact source text of v, a value of the last-parsed
 * document, through the structural index, and returns true. Returns false,
 * with no span, when v is not such a value or the line has no index (see
 * pd_json_raw_path_indexed). Callers then look the value up by path.
 */
bool pd_json_raw_value(pd_json_parser *p, pd_json v, const char **s, size_t *n);

/* Exact source text of the whole last-parsed document, without surrounding whitespace. */
void pd_json_raw_root(pd_json_parser *p, const char **s, size_t *n);

/*
 * Writes the canonical form of v (object keys sorted bytewise, no whitespace,
 * numbers as integers when integral else shortest round-trip) into a
 * malloc'd NUL-terminated string stored in *out. Returns PD_OK or PD_ENOMEM.
 * The caller frees *out with free().
 */
int pd_json_canonical(pd_json v, char **out);

/*
 * Appends s[0..n) to a malloc'd buffer as a JSON string literal with quotes,
 * escaping quote, backslash and control bytes; bytes >= 0x80 pass through.
 * Used for JSON output. Returns PD_OK or PD_ENOMEM.
 */
int pd_json_quote(const char *s, size_t n, char **out, size_t *out_len);

#endif
