// Strict JSON (RFC 8259) parser into a tree, and small writer helpers.
// Used for safetensors headers, config.json and metrics.jsonl.
//
// Strict means: UTF-8 validated, no comments, no trailing commas, no
// leading zeros, no NaN/Infinity, no lone surrogates, no raw control
// characters in strings, no duplicate object keys, nothing after the value
// but whitespace, and nesting at most LT_JSON_MAX_DEPTH deep.
#ifndef LT_JSON_H
#define LT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libtrain/status.h"

#define LT_JSON_MAX_DEPTH 128

typedef enum {
    LT_JSON_NULL,
    LT_JSON_BOOL,
    LT_JSON_INT,      // integer literal (no fraction, no exponent) that fits in int64
    LT_JSON_DOUBLE,   // any other number
    LT_JSON_STRING,
    LT_JSON_ARRAY,
    LT_JSON_OBJECT,
} lt_json_type;

typedef struct lt_json {
    lt_json_type type;
    size_t offset;              // byte offset of the value in the parsed text
    int boolean;                // BOOL
    int64_t integer;            // INT
    double number;              // INT and DOUBLE (INT converted)
    char *str;                  // STRING: NUL-terminated UTF-8; may hold "\u0000", so see str_len
    size_t str_len;
    size_t n;                   // ARRAY elements / OBJECT members
    struct lt_json **items;     // ARRAY elements / OBJECT values, document order
    char **keys;                // OBJECT member names, document order (NUL-terminated)
    size_t *key_lens;
    size_t *sorted;             // OBJECT: member indices ordered by key, for lookup
} lt_json;

// Parses n bytes of s (no NUL needed). On error returns NULL, writes
// "json: <what> at byte <offset>" into err (if errn > 0) and records the
// same message with lt_error(LT_ERR_FORMAT, ...).
lt_json *lt_json_parse(const char *s, size_t n, char *err, size_t errn);
lt_json *lt_json_parse_depth(const char *s, size_t n, int max_depth, char *err, size_t errn);
void lt_json_free(lt_json *j);

const char *lt_json_type_name(lt_json_type t);   // "object", "string", ...
// Member of an object by name (NULL if j is not an object or has no such key).
const lt_json *lt_json_get(const lt_json *obj, const char *key);
// Element i of an array, or value of member i of an object (NULL out of range).
const lt_json *lt_json_at(const lt_json *j, size_t i);
const char *lt_json_key(const lt_json *obj, size_t i);   // member name i of an object
size_t lt_json_len(const lt_json *j);                    // elements/members; 0 for scalars and NULL

// Typed accessors: return 1 and set *out when j (may be NULL) has that type, else 0.
int lt_json_as_int(const lt_json *j, int64_t *out);      // INT, or a DOUBLE with an exact integral value
int lt_json_as_double(const lt_json *j, double *out);    // INT or DOUBLE
int lt_json_as_bool(const lt_json *j, int *out);
const char *lt_json_as_string(const lt_json *j);         // NULL unless a STRING
int lt_json_is_null(const lt_json *j);

// Writes s as a quoted JSON string; bytes that are not valid UTF-8 become
// \ufffd. Returns 0, or -1 when the stream reports a write error.
int lt_json_write_string(FILE *f, const char *s);
int lt_json_write_string_n(FILE *f, const char *s, size_t n);
// Writes the shortest decimal that reads back as the same double; NaN and
// infinities (not JSON) are written as null.
int lt_json_write_number(FILE *f, double v);

// 1 if the n bytes are well-formed UTF-8 (no overlongs, no surrogates).
int lt_json_utf8_valid(const char *s, size_t n);
// Printable, truncated form of arbitrary bytes for error messages (JSON
// escapes, "..." when cut). Writes at most dstn bytes including the NUL; returns dst.
const char *lt_json_quote_for_message(char *dst, size_t dstn, const char *s, size_t n);

#endif
