/*
 * json.cpp -- the C wrapper around simdjson's DOM parser (the only C++ file).
 *
 * Entry points in call order: pd_json_parser_new(); per JSONL line
 * pd_json_parse(), then value access (pd_json_get/path/at/iter_*, the
 * coercions, pd_json_raw_path(), pd_json_raw_root(), pd_json_canonical());
 * finally pd_json_parser_free(). pd_json_quote() and pd_json_kernel_name()
 * need no parser.
 *
 * Parsing works in up to three passes over the parser's own copy of the line:
 *   1. simdjson parses the copy as it is (almost every line ends here);
 *   2. on simdjson's UTF-8 error, invalid UTF-8 bytes inside string literals
 *      are dropped from the copy (a non-ASCII byte outside a string makes the
 *      line invalid) and the copy is parsed again;
 *   3. on a string or number error, a patched parse buffer is built for
 *      what the Go gjson reader accepts but simdjson rejects. Lone UTF-16
 *      surrogate escapes become \uFFFD, and numbers outside the 64-bit and
 *      double ranges are rewritten (see patch_number).
 * Raw spans (pd_json_raw_path) always come from the copy after pass 2, so
 * they show the line's own escapes and digits.
 *
 * A pd_json handle is a tag in opaque[0] and the payload in opaque[1..2]:
 * either a dom::element (copied bytewise) or a pointer and length of an object
 * key, whose text lives in the parser's string buffer.
 *
 * Threading: a parser and its handles belong to one thread. No C++ exception
 * leaves this file: simdjson is called in its error-code style, allocation
 * uses malloc, and every exported function is noexcept.
 */
extern "C" {
#include "common/error.h"
#include "common/json.h"
}

#include <simdjson.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

namespace
{

enum handle_tag : uint64_t { TAG_ABSENT = 0, TAG_ELEMENT = 1, TAG_KEY = 2 };
enum iter_kind : uint64_t { ITER_NONE = 0, ITER_ARRAY = 1, ITER_OBJECT = 2 };

static_assert(sizeof(element) <= 2 * sizeof(uint64_t), "dom::element must fit in a pd_json");
static_assert(std::is_trivially_copyable<element>::value, "dom::element must be copyable bytewise");
static_assert(sizeof(array::iterator) <= 2 * sizeof(uint64_t), "array iterator must fit");
static_assert(sizeof(object::iterator) <= 2 * sizeof(uint64_t), "object iterator must fit");
static_assert(std::is_trivially_copyable<array::iterator>::value, "array iterator must be POD");
static_assert(std::is_trivially_copyable<object::iterator>::value, "object iterator must be POD");

/* simdjson's array and object sizes saturate at this value and must then be counted. */
constexpr size_t SIZE_SATURATED = 0xFFFFFF;

/* A malloc'd buffer with SIMDJSON_PADDING readable bytes after len. */
struct padded_buf {
    char *data;
    size_t len;
    size_t cap;
};

bool padded_reserve(padded_buf *b, size_t len)
{
    if (len > SIZE_MAX - simdjson::SIMDJSON_PADDING)
        return false;
    size_t need = len + simdjson::SIMDJSON_PADDING;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap + b->cap / 2;
    if (cap < need)
        cap = need;
    char *p = static_cast<char *>(realloc(b->data, cap));
    if (p == nullptr)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

void padded_zero_tail(padded_buf *b)
{
    memset(b->data + b->len, 0, simdjson::SIMDJSON_PADDING);
}

/* A growable malloc'd output string; `failed` records the first allocation failure. */
struct out_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

void out_append(out_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX - b->len - 1) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap < 64 ? 64 : b->cap;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *p = static_cast<char *>(realloc(b->data, cap));
        if (p == nullptr) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void out_putc(out_buf *b, char c)
{
    out_append(b, &c, 1);
}

} // namespace

struct pd_json_parser {
    simdjson::dom::parser dom;
    padded_buf source;  /* the line after UTF-8 cleaning; raw spans point here */
    padded_buf patched; /* parse buffer of pass 3 */
    bool has_doc;
    size_t root_start; /* span of the document inside source, whitespace excluded */
    size_t root_len;
    pd_json root;
    /*
     * Raw spans from simdjson's structural index: span_of[t] is the index of
     * the structural character behind tape entry t. The map is built on the
     * first span request after a parse, and only for lines parsed from
     * source (passes 1 and 2), because pass 3 parses another buffer.
     */
    bool spans_possible; /* the DOM was parsed from source */
    bool spans_built;    /* span_of is filled for the current document */
    bool spans_valid;    /* the build matched the tape, else spans come from a text scan */
    uint32_t *span_of;
    size_t span_cap;
};

namespace
{

/* ---- UTF-8 ------------------------------------------------------------ */

/*
 * Returns the byte length of the valid UTF-8 sequence at s[0..n) (n >= 1), or
 * 0 when the first byte does not start one. The rules are those of Go's
 * unicode/utf8: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

size_t utf8_encode(uint32_t r, char out[4])
{
    if (r < 0x80) {
        out[0] = static_cast<char>(r);
        return 1;
    }
    if (r < 0x800) {
        out[0] = static_cast<char>(0xC0 | (r >> 6));
        out[1] = static_cast<char>(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = static_cast<char>(0xE0 | (r >> 12));
        out[1] = static_cast<char>(0x80 | ((r >> 6) & 0x3F));
        out[2] = static_cast<char>(0x80 | (r & 0x3F));
        return 3;
    }
    out[0] = static_cast<char>(0xF0 | (r >> 18));
    out[1] = static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out[2] = static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out[3] = static_cast<char>(0x80 | (r & 0x3F));
    return 4;
}

/* True when the string literal opening at in[open] is an object key: the
 * first byte after its closing quote, past whitespace, is ':'. */
bool string_is_key(const unsigned char *in, size_t n, size_t open)
{
    size_t j = open + 1;
    while (j < n && in[j] != '"') {
        if (in[j] == '\\')
            j++;
        j++;
    }
    j++;
    while (j < n && (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n'))
        j++;
    return j < n && in[j] == ':';
}

/*
 * Pass 2: removes invalid UTF-8 bytes inside string values of b, one byte at
 * a time, in place. Inside object keys each invalid byte becomes '?' instead,
 * so that "mess\xFFage" stays a key of its own and never matches "message"
 * (keys are compared byte for byte). Returns false when a non-ASCII byte sits
 * outside a string, which no JSON grammar allows, so the line is invalid.
 */
bool drop_invalid_utf8(padded_buf *b)
{
    const unsigned char *in = reinterpret_cast<const unsigned char *>(b->data);
    char *out = b->data;
    size_t n = b->len, i = 0, o = 0;
    bool in_string = false;
    bool in_key = false;

    while (i < n) {
        unsigned char c = in[i];
        if (!in_string) {
            if (c >= 0x80)
                return false;
            if (c == '"') {
                in_string = true;
                in_key = string_is_key(in, n, i);
            }
            out[o++] = static_cast<char>(c);
            i++;
            continue;
        }
        if (c == '\\') {
            /* The escaped byte is copied as is; simdjson judges the escape. */
            out[o++] = static_cast<char>(c);
            i++;
            if (i < n && in[i] < 0x80)
                out[o++] = static_cast<char>(in[i++]);
            continue;
        }
        if (c == '"')
            in_string = false;
        if (c < 0x80) {
            out[o++] = static_cast<char>(c);
            i++;
            continue;
        }
        size_t len = utf8_valid_len(in + i, n - i);
        if (len == 0) {
            if (in_key)
                out[o++] = '?';
            i++;
            continue;
        }
        memmove(out + o, in + i, len);
        o += len;
        i += len;
    }
    b->len = o;
    padded_zero_tail(b);
    return true;
}

/* ---- pass 3: rewriting what gjson accepts and simdjson rejects ---------- */

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits at s[0..4) (n >= 4); returns -1 when one is not hex. */
long read_hex4(const char *s, size_t n)
{
    long v = 0;

    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

bool is_surrogate(long r)
{
    return r >= 0xD800 && r <= 0xDFFF;
}

/*
 * Copies the \u escape at s[0..n) (s[0] == '\\', s[1] == 'u') into out and
 * returns the number of source bytes consumed. A surrogate that is not the
 * high half of a valid pair becomes \uFFFD. When a \u escape follows such a
 * surrogate, both escapes become one \uFFFD, because Go's gjson decodes the
 * two as one UTF-16 pair and gets U+FFFD.
 */
size_t patch_unicode_escape(const char *s, size_t n, out_buf *out)
{
    long r = read_hex4(s + 2, n - 2);

    if (r < 0 || !is_surrogate(r)) {
        out_append(out, s, 6 <= n ? 6 : n);
        return 6 <= n ? 6 : n;
    }
    if (n >= 12 && s[6] == '\\' && s[7] == 'u') {
        long second = read_hex4(s + 8, n - 8);
        if (second >= 0) {
            if (r <= 0xDBFF && second >= 0xDC00 && second <= 0xDFFF)
                out_append(out, s, 12);
            else
                out_append(out, "\\uFFFD", 6);
            return 12;
        }
    }
    out_append(out, "\\uFFFD", 6);
    return 6;
}

bool is_number_byte(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/*
 * Copies the number token s[0..n) into out, rewritten when simdjson cannot
 * hold it. An integer outside int64 and uint64 gets ".0" so that it parses as
 * a double. A value beyond the double range becomes the largest finite double
 * of that sign. Tokens that are not numbers are copied unchanged, so the
 * parse rejects them.
 */
void patch_number(const char *s, size_t n, out_buf *out)
{
    char small[64];
    char *text = small;
    bool integral = true;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            integral = false;
    }
    if (n >= sizeof small) {
        text = static_cast<char *>(malloc(n + 1));
        if (text == nullptr) {
            out->failed = true;
            return;
        }
    }
    memcpy(text, s, n);
    text[n] = '\0';

    bool fits = false;
    if (integral) {
        char *end;
        errno = 0;
        if (text[0] == '-')
            (void)strtoll(text, &end, 10);
        else
            (void)strtoull(text, &end, 10);
        fits = errno == 0;
    }
    if (!fits) {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (*end == '\0' && std::isinf(d)) {
            /* NOTE: gjson reads such a number as an infinity, which JSON cannot spell. */
            out_append(out, d < 0 ? "-1.7976931348623157e308" : "1.7976931348623157e308",
                       22 + (d < 0));
        } else {
            out_append(out, s, n);
            if (integral && *end == '\0')
                out_append(out, ".0", 2);
        }
    } else {
        out_append(out, s, n);
    }
    if (text != small)
        free(text);
}

/* Pass 3: builds the patched copy of src into dst; returns false when memory runs out. */
bool build_patched(const padded_buf *src, padded_buf *dst)
{
    out_buf out = {dst->data, 0, dst->cap, false};
    const char *s = src->data;
    size_t n = src->len, i = 0;
    bool in_string = false;

    while (i < n) {
        char c = s[i];
        if (in_string) {
            if (c == '\\' && i + 1 < n && s[i + 1] == 'u') {
                i += patch_unicode_escape(s + i, n - i, &out);
                continue;
            }
            if (c == '\\' && i + 1 < n) {
                out_append(&out, s + i, 2);
                i += 2;
                continue;
            }
            if (c == '"')
                in_string = false;
            out_putc(&out, c);
            i++;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out_putc(&out, c);
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < n && is_number_byte(s[i]))
                i++;
            patch_number(s + start, i - start, &out);
            continue;
        }
        out_putc(&out, c);
        i++;
    }

    dst->data = out.data;
    dst->cap = out.cap;
    if (out.failed || !padded_reserve(dst, out.len))
        return false;
    dst->len = out.len;
    padded_zero_tail(dst);
    return true;
}

/* ---- handles ------------------------------------------------------------ */

pd_json make_element(const element &e)
{
    pd_json v = {{TAG_ELEMENT, 0, 0}};
    memcpy(&v.opaque[1], &e, sizeof e);
    return v;
}

pd_json make_key(std::string_view key)
{
    pd_json v = {{TAG_KEY, reinterpret_cast<uintptr_t>(key.data()), key.size()}};
    return v;
}

bool as_element(pd_json v, element *e)
{
    if (v.opaque[0] != TAG_ELEMENT)
        return false;
    memcpy(static_cast<void *>(e), &v.opaque[1], sizeof *e);
    return true;
}

/* Sets *s to the string value of v (an element string or an object key). */
bool as_string(pd_json v, std::string_view *s)
{
    if (v.opaque[0] == TAG_KEY) {
        *s = std::string_view(reinterpret_cast<const char *>(v.opaque[1]), v.opaque[2]);
        return true;
    }
    element e;
    if (!as_element(v, &e) || e.type() != element_type::STRING)
        return false;
    return e.get_string().get(*s) == simdjson::SUCCESS;
}

size_t container_size(const element &e)
{
    size_t n = 0;
    if (e.type() == element_type::ARRAY) {
        array a;
        if (e.get_array().get(a) != simdjson::SUCCESS)
            return 0;
        n = a.size();
        if (n == SIZE_SATURATED) {
            n = 0;
            for (auto it = a.begin(); it != a.end(); ++it)
                n++;
        }
    } else if (e.type() == element_type::OBJECT) {
        object o;
        if (e.get_object().get(o) != simdjson::SUCCESS)
            return 0;
        n = o.size();
        if (n == SIZE_SATURATED) {
            n = 0;
            for (auto it = o.begin(); it != o.end(); ++it)
                n++;
        }
    }
    return n;
}

/* ---- dotted paths ------------------------------------------------------- */

/*
 * Reads the next component of a dotted path at *cursor into buf (capacity at
 * least strlen(*cursor) + 1) and advances *cursor past it and its dot. A
 * backslash makes the next character literal, so "a\.b" names the key "a.b".
 * Returns false when no component is left.
 */
bool next_component(const char **cursor, bool *done, char *buf, size_t *len)
{
    const char *p = *cursor;
    size_t n = 0;

    if (*done)
        return false;
    while (*p != '\0' && *p != '.') {
        if (*p == '\\' && p[1] != '\0')
            p++;
        buf[n++] = *p++;
    }
    buf[n] = '\0';
    *len = n;
    if (*p == '.')
        p++;
    else
        *done = true;
    *cursor = p;
    return true;
}

bool parse_index(const char *s, size_t n, size_t *index)
{
    size_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (SIZE_MAX - 9) / 10)
            return false;
        v = v * 10 + static_cast<size_t>(s[i] - '0');
    }
    *index = v;
    return true;
}

/* A scratch buffer for path components: on the stack when short, else malloc'd. */
struct scratch {
    char small[256];
    char *data = small;

    scratch() = default;
    scratch(const scratch &) = delete;
    scratch &operator=(const scratch &) = delete;

    bool init(size_t n)
    {
        data = n < sizeof small ? small : static_cast<char *>(malloc(n + 1));
        return data != nullptr;
    }
    ~scratch()
    {
        if (data != small)
            free(data);
    }
};

pd_json pd_json_getn_impl(pd_json obj, const char *key, size_t key_len) noexcept;
pd_json pd_json_at_impl(pd_json arr, size_t i) noexcept;

pd_json step(pd_json v, const char *component, size_t len)
{
    element e;
    pd_json absent = {{0, 0, 0}};

    if (!as_element(v, &e))
        return absent;
    if (e.type() == element_type::OBJECT)
        return pd_json_getn_impl(v, component, len);
    if (e.type() == element_type::ARRAY) {
        size_t index;
        if (!parse_index(component, len, &index))
            return absent;
        return pd_json_at_impl(v, index);
    }
    return absent;
}

/* ---- raw source scanner ------------------------------------------------- */
/*
 * The DOM keeps no source offsets. Raw spans come from simdjson's structural
 * index (see build_span_map below) and, for lines parsed from a patched copy
 * and for pd_json_raw_path_scan, from walking the source text again. The
 * text has already been validated by simdjson, so the scanner only needs to
 * find value boundaries, not check the grammar.
 */

bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(const char *s, size_t n, size_t i)
{
    while (i < n && is_json_space(s[i]))
        i++;
    return i;
}

/*
 * Returns the offset just past the string literal that starts at s[i] == '"'.
 * memchr finds each candidate quote, and an odd run of backslashes before it
 * marks it as escaped. Every run ends at a quote, so each backslash is
 * counted once.
 */
size_t skip_string(const char *s, size_t n, size_t i)
{
    size_t from = i + 1;
    while (from < n) {
        const char *q = static_cast<const char *>(memchr(s + from, '"', n - from));
        if (q == nullptr)
            return n;
        size_t quote = static_cast<size_t>(q - s);
        size_t backslashes = 0;
        while (s[quote - 1 - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2 == 0)
            return quote + 1;
        from = quote + 1;
    }
    return n;
}

/* Returns the offset just past the value that starts at s[i]. Iterative, so depth costs no stack.
 */
size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && !is_json_space(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}')
            i++;
        return i;
    }

    size_t depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i);
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
            if (depth == 0)
                return i + 1;
        }
        i++;
    }
    return n;
}

/*
 * Decodes the JSON string body s[0..n) (no quotes) into out, the way gjson
 * does for keys: surrogate halves that do not pair up become U+FFFD.
 * out needs room for n bytes, because no escape decodes to more bytes than it spells.
 */
size_t unescape_string(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;

    while (i < n) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        switch (c) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            long r = read_hex4(s + i, n - i);
            if (r < 0)
                break;
            i += 4;
            if (is_surrogate(r)) {
                long second = -1;
                if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u')
                    second = read_hex4(s + i + 2, n - i - 2);
                if (second >= 0) {
                    i += 6;
                    if (r <= 0xDBFF && second >= 0xDC00 && second <= 0xDFFF)
                        r = 0x10000 + ((r - 0xD800) << 10) + (second - 0xDC00);
                    else
                        r = 0xFFFD;
                } else {
                    r = 0xFFFD;
                }
            }
            o += utf8_encode(static_cast<uint32_t>(r), out + o);
            break;
        }
        default:
            out[o++] = c;
            break;
        }
    }
    return o;
}

/* Compares the key literal s[start..end) (with quotes) with the decoded key. */
bool key_matches(const char *s, size_t start, size_t end, const char *key, size_t key_len)
{
    const char *body = s + start + 1;
    size_t body_len = end - start - 2;

    if (memchr(body, '\\', body_len) == nullptr)
        return body_len == key_len && memcmp(body, key, key_len) == 0;

    scratch decoded;
    if (!decoded.init(body_len))
        return false;
    size_t n = unescape_string(body, body_len, decoded.data);
    return n == key_len && memcmp(decoded.data, key, key_len) == 0;
}

/* Moves *pos from the start of a container to the start of its member; false when absent. */
bool raw_step(const char *s, size_t n, size_t *pos, const char *component, size_t len)
{
    size_t i = *pos;

    if (s[i] == '{') {
        i = skip_space(s, n, i + 1);
        while (i < n && s[i] == '"') {
            size_t key_end = skip_string(s, n, i);
            bool match = key_matches(s, i, key_end, component, len);
            i = skip_space(s, n, key_end);
            i = skip_space(s, n, i + 1); /* past ':' */
            if (match) {
                *pos = i;
                return true;
            }
            i = skip_space(s, n, skip_value(s, n, i));
            if (i >= n || s[i] != ',')
                return false;
            i = skip_space(s, n, i + 1);
        }
        return false;
    }

    if (s[i] == '[') {
        size_t index;
        if (!parse_index(component, len, &index))
            return false;
        i = skip_space(s, n, i + 1);
        if (i >= n || s[i] == ']')
            return false;
        for (size_t k = 0; k < index; k++) {
            i = skip_space(s, n, skip_value(s, n, i));
            if (i >= n || s[i] != ',')
                return false;
            i = skip_space(s, n, i + 1);
        }
        *pos = i;
        return true;
    }
    return false;
}

/* ---- raw spans from the structural index --------------------------------- */
/*
 * simdjson's first stage records the offset of every structural character:
 * brackets, braces, ':' and ',', and the first byte of each string and
 * scalar. Its second stage turns them, in order, into tape entries: each one
 * but ':' and ',' becomes exactly one entry (two tape words for a number).
 * Walking both in step gives, for every tape entry, the structural
 * character it came from, and so the value's offset in the source without
 * scanning the text. One pass over the structurals per line replaces a scan
 * of the text per raw lookup, which for a late member of a long line meant
 * skipping every value before it.
 */

/* Builds p->span_of for the current document. Returns false when the walk and the tape disagree. */
bool build_span_map(pd_json_parser *p)
{
    const simdjson::internal::dom_parser_implementation *impl = p->dom.implementation.get();
    const uint64_t *tape = p->dom.doc.tape.get();
    if (impl == nullptr || tape == nullptr)
        return false;

    const uint32_t *structural = impl->structural_indexes.get();
    const size_t n_structural = impl->n_structural_indexes;
    const char *src = p->source.data;
    /* The root word's payload is the tape length: the index just past the closing root word. */
    const size_t tape_len = static_cast<size_t>(tape[0] & simdjson::internal::JSON_VALUE_MASK);

    if (tape_len < 2 || tape_len > UINT32_MAX || n_structural >= UINT32_MAX)
        return false;
    if (tape_len > p->span_cap) {
        size_t cap = p->span_cap == 0 ? 64 : p->span_cap;
        while (cap < tape_len)
            cap *= 2;
        uint32_t *grown = static_cast<uint32_t *>(realloc(p->span_of, cap * sizeof *grown));
        if (grown == nullptr)
            return false;
        p->span_of = grown;
        p->span_cap = cap;
    }

    size_t t = 1; /* tape[0] is the root word */
    for (size_t k = 0; k < n_structural; k++) {
        uint32_t at = structural[k];
        if (at >= p->source.len)
            return false;
        char c = src[at];
        if (c == ':' || c == ',')
            continue;
        if (t + 1 >= tape_len)
            return false;
        p->span_of[t] = static_cast<uint32_t>(k);
        char type = static_cast<char>(tape[t] >> 56);
        if (type == 'l' || type == 'u' || type == 'd') {
            /* The number's payload word starts no value. */
            p->span_of[t + 1] = UINT32_MAX;
            t += 2;
        } else {
            t += 1;
        }
    }
    /* Every entry is mapped when the walk ends on the closing root word. */
    return t == tape_len - 1 && static_cast<char>(tape[t] >> 56) == 'r';
}

/*
 * Sets *start and *end to the source span of tape entry t of the current
 * document. The parser's span map must be valid.
 */
void tape_span(const pd_json_parser *p, size_t t, size_t *start, size_t *end)
{
    const simdjson::internal::dom_parser_implementation *impl = p->dom.implementation.get();
    const uint32_t *structural = impl->structural_indexes.get();
    const size_t n_structural = impl->n_structural_indexes;
    const uint64_t word = p->dom.doc.tape[t];
    const char type = static_cast<char>(word >> 56);
    size_t k = p->span_of[t];

    *start = structural[k];
    if (type == '{' || type == '[') {
        /* The payload is the index just past the matching closing entry. */
        size_t close = static_cast<uint32_t>(word) - 1;
        *end = static_cast<size_t>(structural[p->span_of[close]]) + 1;
        return;
    }
    /* A string or scalar ends where the next structural character begins, less whitespace. */
    size_t next = k + 1 < n_structural ? structural[k + 1] : p->root_start + p->root_len;
    while (next > *start + 1 && is_json_space(p->source.data[next - 1]))
        next--;
    *end = next;
}

/*
 * Sets *t to the tape index of v, an element of p's current document, or
 * returns false. The span map must be built.
 */
bool tape_index_of(const pd_json_parser *p, pd_json v, size_t *t)
{
    element e;
    if (!as_element(v, &e))
        return false;
    /*
     * A dom::element is a document pointer and a tape index, copied bytewise
     * into opaque[1] and opaque[2] (see make_element). A handle of another
     * parser, or an index at which no value starts, is rejected. A handle
     * kept from an earlier parse of this parser is invalid here, as with
     * every other accessor, and may name another value of the current line.
     */
    static_assert(sizeof(element) == 2 * sizeof(uint64_t), "dom::element is a tape reference");
    if (v.opaque[1] != reinterpret_cast<uintptr_t>(&p->dom.doc))
        return false;
    size_t index = static_cast<size_t>(v.opaque[2]);
    const uint64_t *tape = p->dom.doc.tape.get();
    size_t tape_len = static_cast<size_t>(tape[0] & simdjson::internal::JSON_VALUE_MASK);
    if (index == 0 || index + 1 >= tape_len)
        return false;
    if (p->span_of[index] >= p->dom.implementation->n_structural_indexes)
        return false;
    switch (static_cast<char>(tape[index] >> 56)) {
    case '{':
    case '[':
    case '"':
    case 'l':
    case 'u':
    case 'd':
    case 't':
    case 'f':
    case 'n':
        *t = index;
        return true;
    default:
        return false;
    }
}

/* Builds the span map of the current document once. Returns false when spans need a text scan. */
bool spans_ready(pd_json_parser *p)
{
    if (!p->spans_possible)
        return false;
    if (!p->spans_built) {
        p->spans_valid = build_span_map(p);
        p->spans_built = true;
    }
    return p->spans_valid;
}

/* Sets *s and *n to the source text of v through the span map, which must be built. */
bool indexed_span(const pd_json_parser *p, pd_json v, const char **s, size_t *n)
{
    size_t t, start, end;

    if (!tape_index_of(p, v, &t))
        return false;
    tape_span(p, t, &start, &end);
    *s = p->source.data + start;
    *n = end - start;
    return true;
}

/* ---- canonical form ----------------------------------------------------- */

void quote_into(out_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    out_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        const char *esc = nullptr;
        char uni[7];

        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                memcpy(uni, "\\u00", 4);
                uni[4] = hex[c >> 4];
                uni[5] = hex[c & 0xF];
                uni[6] = '\0';
                esc = uni;
            }
            break;
        }
        if (esc == nullptr) {
            run++;
            continue;
        }
        out_append(out, s + i - run, run);
        run = 0;
        out_append(out, esc, strlen(esc));
    }
    out_append(out, s + n - run, run);
    out_putc(out, '"');
}

/*
 * Writes d in its shortest round-trip form: the fewest %g digits that read
 * back to the same double (trying 1..17 digits). Integral values below 2^53
 * are written as plain integers.
 */
void format_double(out_buf *out, double d)
{
    char text[40];
    int len;

    if (!std::isfinite(d)) {
        out_append(out, "null", 4);
        return;
    }
    if (d == 0) {
        out_putc(out, '0');
        return;
    }
    if (std::fabs(d) < 9007199254740992.0 && d == std::trunc(d)) {
        len = snprintf(text, sizeof text, "%.0f", d);
        out_append(out, text, static_cast<size_t>(len));
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        len = snprintf(text, sizeof text, "%.*g", precision, d);
        if (precision == 17 || strtod(text, nullptr) == d)
            break;
    }
    out_append(out, text, static_cast<size_t>(len));
}

struct member_ref {
    std::string_view key;
    element value;
    size_t position;
};

int compare_members(const void *a, const void *b)
{
    const member_ref *x = static_cast<const member_ref *>(a);
    const member_ref *y = static_cast<const member_ref *>(b);
    int c = x->key.compare(y->key);
    if (c != 0)
        return c;
    return x->position < y->position ? -1 : (x->position > y->position ? 1 : 0);
}

/* Appends v in decimal, with a leading '-' when negative. snprintf was a
 * third of canonicalising Codex token counts. */
void append_decimal(out_buf *out, uint64_t v, bool negative)
{
    char text[24];
    char *p = text + sizeof text;
    do {
        *--p = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (negative)
        *--p = '-';
    out_append(out, p, static_cast<size_t>(text + sizeof text - p));
}

void canonical_into(out_buf *out, const element &e)
{
    switch (e.type()) {
    case element_type::NULL_VALUE:
        out_append(out, "null", 4);
        return;
    case element_type::BOOL:
        if (e.get_bool().value_unsafe())
            out_append(out, "true", 4);
        else
            out_append(out, "false", 5);
        return;
    case element_type::INT64: {
        int64_t v = e.get_int64().value_unsafe();
        /* The magnitude is taken unsigned so that INT64_MIN does not overflow. */
        uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        append_decimal(out, magnitude, v < 0);
        return;
    }
    case element_type::UINT64:
        append_decimal(out, e.get_uint64().value_unsafe(), false);
        return;
    case element_type::DOUBLE:
        format_double(out, e.get_double().value_unsafe());
        return;
    case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        quote_into(out, s.data(), s.size());
        return;
    }
    case element_type::ARRAY: {
        array items = e.get_array().value_unsafe();
        bool first = true;
        out_putc(out, '[');
        for (element child : items) {
            if (!first)
                out_putc(out, ',');
            first = false;
            canonical_into(out, child);
        }
        out_putc(out, ']');
        return;
    }
    case element_type::OBJECT: {
        object o = e.get_object().value_unsafe();
        size_t n = container_size(e);
        /* Small objects (Codex token counts have five members) sort on the
         * stack by insertion, which took an eighth off canonicalising them. */
        member_ref small[16];
        member_ref *members = small;
        if (n > sizeof small / sizeof small[0]) {
            members = static_cast<member_ref *>(malloc(n * sizeof *members));
            if (members == nullptr) {
                out->failed = true;
                return;
            }
        }
        size_t k = 0;
        for (auto it = o.begin(); it != o.end() && k < n; ++it, ++k) {
            members[k].key = it.key();
            members[k].value = it.value();
            members[k].position = k;
        }
        if (members == small) {
            for (size_t i = 1; i < k; i++) {
                member_ref m = members[i];
                size_t j = i;
                for (; j > 0 && compare_members(&members[j - 1], &m) > 0; j--)
                    members[j] = members[j - 1];
                members[j] = m;
            }
        } else {
            qsort(members, k, sizeof *members, compare_members);
        }

        /* After the sort, the first occurrence of a duplicated key comes first and wins. */
        out_putc(out, '{');
        for (size_t i = 0; i < k; i++) {
            if (i > 0 && members[i].key == members[i - 1].key)
                continue;
            if (i > 0)
                out_putc(out, ',');
            quote_into(out, members[i].key.data(), members[i].key.size());
            out_putc(out, ':');
            canonical_into(out, members[i].value);
        }
        out_putc(out, '}');
        if (members != small)
            free(members);
        return;
    }
    }
}

/* ---- coercions ---------------------------------------------------------- */

/* gjson's parseInt: an optional '-' and decimal digits only; wraps silently on overflow like Go. */
bool parse_go_int(std::string_view s, int64_t *out)
{
    size_t i = 0;
    bool negative = false;
    uint64_t v = 0;

    if (!s.empty() && s[0] == '-') {
        negative = true;
        i++;
    }
    if (i == s.size())
        return false;
    for (; i < s.size(); i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    if (negative)
        v = 0 - v;
    *out = static_cast<int64_t>(v);
    return true;
}

/*
 * Go's strconv.ParseFloat for gjson's Float(): the whole string must be a
 * number, so leading space or trailing text gives 0. Out-of-range values give
 * the infinity strtod returns, as Go does.
 * NOTE: strtod also accepts hex floats without a 'p' exponent and "nan(...)",
 * which Go rejects.
 */
double parse_go_float(std::string_view s)
{
    if (s.empty() || is_json_space(s[0]) || s[0] == '\v' || s[0] == '\f')
        return 0;
    scratch text;
    if (!text.init(s.size()))
        return 0;
    memcpy(text.data, s.data(), s.size());
    text.data[s.size()] = '\0';
    char *end;
    double d = strtod(text.data, &end);
    return *end == '\0' ? d : 0;
}

/* Converts a double to int64 as Go does on amd64: truncation, and INT64_MIN when out of range. */
int64_t double_to_int64(double d)
{
    if (!(d > -9223372036854775808.0 - 1024.0 && d < 9223372036854775808.0))
        return INT64_MIN;
    return static_cast<int64_t>(d);
}

} // namespace

/* ---- noexcept implementations of the exported functions ----------------- */

namespace
{

pd_json_parser *pd_json_parser_new_impl(void) noexcept
{
    pd_json_parser *p = new (std::nothrow) pd_json_parser();
    return p;
}

void pd_json_parser_free_impl(pd_json_parser *p) noexcept
{
    if (p == nullptr)
        return;
    free(p->source.data);
    free(p->patched.data);
    free(p->span_of);
    delete p;
}

/*
 * Lines up to this length reuse the parser's buffers. simdjson keeps a
 * structural index of 4 bytes per input byte, so a parser that has read a
 * 50 MiB line keeps about five times that, with the line's copy. Those
 * buffers are released before a shorter line, so that a few huge lines do
 * not pin that memory in every worker for the rest of the run.
 */
constexpr size_t RETAINED_LINE_BYTES = size_t{16} << 20;

void release_large_buffers(pd_json_parser *p, size_t len) noexcept
{
    if (len > RETAINED_LINE_BYTES)
        return;
    if (p->dom.capacity() > RETAINED_LINE_BYTES)
        p->dom = simdjson::dom::parser();
    if (p->source.cap > RETAINED_LINE_BYTES + simdjson::SIMDJSON_PADDING) {
        free(p->source.data);
        p->source = padded_buf{};
    }
    if (p->patched.cap > RETAINED_LINE_BYTES + simdjson::SIMDJSON_PADDING) {
        free(p->patched.data);
        p->patched = padded_buf{};
    }
    if (p->span_cap > RETAINED_LINE_BYTES / sizeof *p->span_of) {
        free(p->span_of);
        p->span_of = nullptr;
        p->span_cap = 0;
    }
}

int pd_json_parse_impl(pd_json_parser *p, const char *buf, size_t len, pd_json *root) noexcept
{
    element doc;
    simdjson::error_code err;
    const uint8_t *bytes;

    *root = pd_json{{0, 0, 0}};
    p->has_doc = false;
    p->spans_possible = true;
    p->spans_built = false;
    release_large_buffers(p, len);

    /* Pass 1: the line as it is, from the parser's padded copy. */
    if (!padded_reserve(&p->source, len))
        return PD_ENOMEM;
    if (len > 0)
        memcpy(p->source.data, buf, len);
    p->source.len = len;
    padded_zero_tail(&p->source);
    bytes = reinterpret_cast<const uint8_t *>(p->source.data);
    err = p->dom.parse(bytes, p->source.len, false).get(doc);

    /* Pass 2: invalid UTF-8 inside strings is dropped, not fatal. */
    if (err == simdjson::UTF8_ERROR) {
        if (!drop_invalid_utf8(&p->source))
            return PD_EJSON;
        err = p->dom.parse(bytes, p->source.len, false).get(doc);
    }

    /* Pass 3: lone surrogate escapes and out-of-range numbers. */
    if (err == simdjson::STRING_ERROR || err == simdjson::NUMBER_ERROR) {
        if (!build_patched(&p->source, &p->patched))
            return PD_ENOMEM;
        bytes = reinterpret_cast<const uint8_t *>(p->patched.data);
        p->spans_possible = false;
        err = p->dom.parse(bytes, p->patched.len, false).get(doc);
    }

    if (err == simdjson::MEMALLOC)
        return PD_ENOMEM;
    if (err != simdjson::SUCCESS)
        return PD_EJSON;

    size_t start = skip_space(p->source.data, p->source.len, 0);
    size_t end = p->source.len;
    while (end > start && is_json_space(p->source.data[end - 1]))
        end--;
    p->root_start = start;
    p->root_len = end - start;
    p->has_doc = true;
    *root = make_element(doc);
    p->root = *root;
    return PD_OK;
}

const char *pd_json_kernel_name_impl(void) noexcept
{
    return simdjson::get_active_implementation()->name().c_str();
}

pd_json_type pd_json_type_of_impl(pd_json v) noexcept
{
    element e;

    if (v.opaque[0] == TAG_KEY)
        return PD_JSON_STRING;
    if (!as_element(v, &e))
        return PD_JSON_ABSENT;
    switch (e.type()) {
    case element_type::ARRAY:
        return PD_JSON_ARRAY;
    case element_type::OBJECT:
        return PD_JSON_OBJECT;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
        return PD_JSON_NUMBER;
    case element_type::STRING:
        return PD_JSON_STRING;
    case element_type::BOOL:
        return PD_JSON_BOOL;
    case element_type::NULL_VALUE:
        return PD_JSON_NULL;
    }
    return PD_JSON_ABSENT;
}

pd_json pd_json_getn_impl(pd_json obj, const char *key, size_t key_len) noexcept
{
    element e, found;
    object o;

    /* at_key scans members in order, so the first occurrence of a duplicated key wins. */
    if (!as_element(obj, &e) || e.get_object().get(o) != simdjson::SUCCESS)
        return pd_json{{0, 0, 0}};
    if (o.at_key(std::string_view(key, key_len)).get(found) != simdjson::SUCCESS)
        return pd_json{{0, 0, 0}};
    return make_element(found);
}

pd_json pd_json_path_impl(pd_json v, const char *dotted) noexcept
{
    scratch component;
    const char *cursor = dotted;
    bool done = false;
    size_t len;

    if (dotted == nullptr || *dotted == '\0' || !component.init(strlen(dotted)))
        return pd_json{{0, 0, 0}};
    while (next_component(&cursor, &done, component.data, &len)) {
        v = step(v, component.data, len);
        if (!pd_json_exists(v))
            break;
    }
    return v;
}

bool pd_json_str_impl(pd_json v, const char **s, size_t *n) noexcept
{
    std::string_view view;

    if (!as_string(v, &view)) {
        *s = "";
        *n = 0;
        return false;
    }
    *s = view.data();
    *n = view.size();
    return true;
}

int64_t pd_json_int_impl(pd_json v) noexcept
{
    std::string_view s;
    element e;
    int64_t n = 0;

    /* gjson's Int(): strings parse as decimal integers only, so "3.9" gives 0. */
    if (as_string(v, &s))
        return parse_go_int(s, &n) ? n : 0;
    if (!as_element(v, &e))
        return 0;
    switch (e.type()) {
    case element_type::INT64:
        return e.get_int64().value_unsafe();
    case element_type::UINT64:
        /* gjson re-reads the digits and wraps past INT64_MAX like Go's int64 arithmetic. */
        return static_cast<int64_t>(e.get_uint64().value_unsafe());
    case element_type::DOUBLE:
        /*
         * NOTE: for an integer literal beyond uint64, gjson wraps its digits
         * modulo 2^64, but the DOM keeps only the double, so this gives INT64_MIN.
         */
        return double_to_int64(e.get_double().value_unsafe());
    case element_type::BOOL:
        return e.get_bool().value_unsafe() ? 1 : 0;
    default:
        return 0;
    }
}

double pd_json_float_impl(pd_json v) noexcept
{
    std::string_view s;
    element e;

    if (as_string(v, &s))
        return parse_go_float(s);
    if (!as_element(v, &e))
        return 0;
    switch (e.type()) {
    case element_type::INT64:
        return static_cast<double>(e.get_int64().value_unsafe());
    case element_type::UINT64:
        return static_cast<double>(e.get_uint64().value_unsafe());
    case element_type::DOUBLE:
        return e.get_double().value_unsafe();
    case element_type::BOOL:
        return e.get_bool().value_unsafe() ? 1 : 0;
    default:
        return 0;
    }
}

bool pd_json_bool_impl(pd_json v) noexcept
{
    std::string_view s;
    element e;

    /* gjson's Bool(): strconv.ParseBool of the lower-cased string. */
    if (as_string(v, &s)) {
        if (s.size() == 1)
            return s[0] == '1' || s[0] == 't' || s[0] == 'T';
        if (s.size() == 4) {
            char lower[4];
            for (int i = 0; i < 4; i++)
                lower[i] = static_cast<char>(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
            return memcmp(lower, "true", 4) == 0;
        }
        return false;
    }
    if (!as_element(v, &e))
        return false;
    switch (e.type()) {
    case element_type::BOOL:
        return e.get_bool().value_unsafe();
    case element_type::INT64:
        return e.get_int64().value_unsafe() != 0;
    case element_type::UINT64:
        return e.get_uint64().value_unsafe() != 0;
    case element_type::DOUBLE:
        return e.get_double().value_unsafe() != 0;
    default:
        return false;
    }
}

bool pd_json_is_integer_impl(pd_json v) noexcept
{
    element e;

    if (!as_element(v, &e))
        return false;
    return e.type() == element_type::INT64 || e.type() == element_type::UINT64;
}

size_t pd_json_len_impl(pd_json v) noexcept
{
    element e;

    if (!as_element(v, &e))
        return 0;
    return container_size(e);
}

pd_json pd_json_at_impl(pd_json arr, size_t i) noexcept
{
    element e, found;
    array a;

    if (!as_element(arr, &e) || e.get_array().get(a) != simdjson::SUCCESS)
        return pd_json{{0, 0, 0}};
    /* NOTE: array::at walks the elements before i, so loops over arrays should use pd_json_iter. */
    if (a.at(i).get(found) != simdjson::SUCCESS)
        return pd_json{{0, 0, 0}};
    return make_element(found);
}

pd_json_iter pd_json_iter_begin_impl(pd_json v) noexcept
{
    pd_json_iter it = {{ITER_NONE, 0, 0, 0}};
    element e;

    if (!as_element(v, &e))
        return it;
    if (e.type() == element_type::ARRAY) {
        array::iterator begin = e.get_array().value_unsafe().begin();
        it.opaque[0] = ITER_ARRAY;
        memcpy(&it.opaque[1], &begin, sizeof begin);
    } else if (e.type() == element_type::OBJECT) {
        object::iterator begin = e.get_object().value_unsafe().begin();
        it.opaque[0] = ITER_OBJECT;
        memcpy(&it.opaque[1], &begin, sizeof begin);
    } else {
        return it;
    }
    /* A remaining count replaces the end iterator, which does not fit in the handle. */
    it.opaque[3] = container_size(e);
    return it;
}

bool pd_json_iter_next_impl(pd_json_iter *it, pd_json *key, pd_json *val) noexcept
{
    pd_json absent = {{0, 0, 0}};

    if (it->opaque[3] == 0 || it->opaque[0] == ITER_NONE) {
        if (key != nullptr)
            *key = absent;
        if (val != nullptr)
            *val = absent;
        return false;
    }
    if (it->opaque[0] == ITER_ARRAY) {
        array::iterator cur;
        memcpy(static_cast<void *>(&cur), &it->opaque[1], sizeof cur);
        if (key != nullptr)
            *key = absent;
        if (val != nullptr)
            *val = make_element(*cur);
        ++cur;
        memcpy(&it->opaque[1], &cur, sizeof cur);
    } else {
        object::iterator cur;
        memcpy(static_cast<void *>(&cur), &it->opaque[1], sizeof cur);
        if (key != nullptr)
            *key = make_key(cur.key());
        if (val != nullptr)
            *val = make_element(cur.value());
        ++cur;
        memcpy(&it->opaque[1], &cur, sizeof cur);
    }
    it->opaque[3]--;
    return true;
}

/* use_map false forces the text scan, which tests compare the span map against. */
bool raw_path_find(pd_json_parser *p, const char *dotted, const char **s, size_t *n,
                   bool use_map) noexcept
{
    scratch component;
    const char *cursor = dotted;
    const char *text;
    size_t text_len, pos, len;
    bool done = false;

    *s = "";
    *n = 0;
    if (p == nullptr || !p->has_doc || dotted == nullptr || *dotted == '\0')
        return false;
    if (!component.init(strlen(dotted)))
        return false;

    if (use_map && spans_ready(p)) {
        pd_json v = p->root;
        while (next_component(&cursor, &done, component.data, &len)) {
            v = step(v, component.data, len);
            if (v.opaque[0] != TAG_ELEMENT)
                return false;
        }
        return indexed_span(p, v, s, n);
    }

    text = p->source.data + p->root_start;
    text_len = p->root_len;
    pos = 0;
    while (next_component(&cursor, &done, component.data, &len)) {
        if (!raw_step(text, text_len, &pos, component.data, len))
            return false;
    }
    *s = text + pos;
    *n = skip_value(text, text_len, pos) - pos;
    return true;
}

bool pd_json_raw_path_impl(pd_json_parser *p, const char *dotted, const char **s,
                           size_t *n) noexcept
{
    return raw_path_find(p, dotted, s, n, true);
}

bool pd_json_raw_path_scan_impl(pd_json_parser *p, const char *dotted, const char **s,
                                size_t *n) noexcept
{
    return raw_path_find(p, dotted, s, n, false);
}

void pd_json_raw_root_impl(pd_json_parser *p, const char **s, size_t *n) noexcept
{
    if (p == nullptr || !p->has_doc) {
        *s = "";
        *n = 0;
        return;
    }
    *s = p->source.data + p->root_start;
    *n = p->root_len;
}

int pd_json_canonical_impl(pd_json v, char **out) noexcept
{
    out_buf b = {nullptr, 0, 0, false};
    std::string_view s;
    element e;

    /* An absent value has the empty canonical form. */
    if (v.opaque[0] == TAG_KEY && as_string(v, &s))
        quote_into(&b, s.data(), s.size());
    else if (as_element(v, &e))
        canonical_into(&b, e);
    out_append(&b, "", 0);

    if (b.failed) {
        free(b.data);
        *out = nullptr;
        return PD_ENOMEM;
    }
    *out = b.data;
    return PD_OK;
}

int pd_json_quote_impl(const char *s, size_t n, char **out, size_t *out_len) noexcept
{
    size_t old_len = *out == nullptr ? 0 : *out_len;
    out_buf b = {*out, old_len, *out == nullptr ? 0 : old_len + 1, false};

    quote_into(&b, s, n);
    if (b.failed) {
        /* The caller keeps ownership of its buffer, which may have moved in a realloc. */
        *out = b.data;
        *out_len = old_len;
        if (b.data != nullptr)
            b.data[old_len] = '\0';
        return PD_ENOMEM;
    }
    *out = b.data;
    *out_len = b.len;
    return PD_OK;
}

} // namespace

/* The exported functions forward to the noexcept versions above, so no exception reaches C. */
extern "C" {

pd_json_parser *pd_json_parser_new(void)
{
    return pd_json_parser_new_impl();
}

void pd_json_parser_free(pd_json_parser *p)
{
    pd_json_parser_free_impl(p);
}

size_t pd_json_parser_held_bytes(const pd_json_parser *p)
{
    return p->dom.capacity() + p->source.cap + p->patched.cap + p->span_cap * sizeof *p->span_of;
}

int pd_json_parse(pd_json_parser *p, const char *buf, size_t len, pd_json *root)
{
    return pd_json_parse_impl(p, buf, len, root);
}

const char *pd_json_kernel_name(void)
{
    return pd_json_kernel_name_impl();
}

pd_json_type pd_json_type_of(pd_json v)
{
    return pd_json_type_of_impl(v);
}

pd_json pd_json_getn(pd_json obj, const char *key, size_t key_len)
{
    return pd_json_getn_impl(obj, key, key_len);
}

pd_json pd_json_path(pd_json v, const char *dotted)
{
    return pd_json_path_impl(v, dotted);
}

bool pd_json_str(pd_json v, const char **s, size_t *n)
{
    return pd_json_str_impl(v, s, n);
}

int64_t pd_json_int(pd_json v)
{
    return pd_json_int_impl(v);
}

double pd_json_float(pd_json v)
{
    return pd_json_float_impl(v);
}

bool pd_json_bool(pd_json v)
{
    return pd_json_bool_impl(v);
}

bool pd_json_is_integer(pd_json v)
{
    return pd_json_is_integer_impl(v);
}

size_t pd_json_len(pd_json v)
{
    return pd_json_len_impl(v);
}

pd_json pd_json_at(pd_json arr, size_t i)
{
    return pd_json_at_impl(arr, i);
}

pd_json_iter pd_json_iter_begin(pd_json v)
{
    return pd_json_iter_begin_impl(v);
}

bool pd_json_iter_next(pd_json_iter *it, pd_json *key, pd_json *val)
{
    return pd_json_iter_next_impl(it, key, val);
}

bool pd_json_raw_path(pd_json_parser *p, const char *dotted, const char **s, size_t *n)
{
    return pd_json_raw_path_impl(p, dotted, s, n);
}

bool pd_json_raw_value(pd_json_parser *p, pd_json v, const char **s, size_t *n)
{
    *s = "";
    *n = 0;
    return p != nullptr && p->has_doc && spans_ready(p) && indexed_span(p, v, s, n);
}

bool pd_json_raw_path_indexed(pd_json_parser *p)
{
    return p != nullptr && p->has_doc && spans_ready(p);
}

bool pd_json_raw_path_scan(pd_json_parser *p, const char *dotted, const char **s, size_t *n)
{
    return pd_json_raw_path_scan_impl(p, dotted, s, n);
}

void pd_json_raw_root(pd_json_parser *p, const char **s, size_t *n)
{
    pd_json_raw_root_impl(p, s, n);
}

int pd_json_canonical(pd_json v, char **out)
{
    return pd_json_canonical_impl(v, out);
}

int pd_json_quote(const char *s, size_t n, char **out, size_t *out_len)
{
    return pd_json_quote_impl(s, n, out, out_len);
}

} // extern "C"
