#include "libtrain/json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *s;
    size_t n, pos;
    int max_depth;
    char msg[256];
    int failed;
} parser;

__attribute__((format(printf, 3, 4))) static void fail(parser *p, size_t off, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->msg, sizeof p->msg, "json: %s at byte %zu", what, off);
}

// Length of the well-formed UTF-8 sequence at s (1..4), or 0 (RFC 3629 table 3-7).
static size_t utf8_len(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++) if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int lt_json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(u + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static lt_json *node(parser *p, lt_json_type t, size_t off) {
    lt_json *j = calloc(1, sizeof *j);
    if (!j) { fail(p, off, "out of memory"); return NULL; }
    j->type = t;
    j->offset = off;
    return j;
}

static void skip_ws(parser *p) {
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex4(const unsigned char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

// Decodes the string starting at the opening quote; *len gets the decoded length.
static char *parse_string_raw(parser *p, size_t *len) {
    size_t start = p->pos;   // at '"'
    size_t i = start + 1, end = 0;
    int found = 0;
    while (i < p->n) {
        unsigned char c = p->s[i];
        if (c == '"') { end = i; found = 1; break; }
        if (c == '\\') { i += 2; continue; }
        i++;
    }
    if (!found) { fail(p, start, "unterminated string"); return NULL; }
    // Decoded text is never longer than its source: escapes shrink, raw bytes copy.
    char *o = malloc(end - start);
    if (!o) { fail(p, start, "out of memory"); return NULL; }
    size_t k = 0;
    i = start + 1;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c == '\\') {
            unsigned char e = p->s[i + 1];   // i + 1 < end: a backslash never ends the scan above
            switch (e) {
            case '"': o[k++] = '"'; i += 2; continue;
            case '\\': o[k++] = '\\'; i += 2; continue;
            case '/': o[k++] = '/'; i += 2; continue;
            case 'b': o[k++] = '\b'; i += 2; continue;
            case 'f': o[k++] = '\f'; i += 2; continue;
            case 'n': o[k++] = '\n'; i += 2; continue;
            case 'r': o[k++] = '\r'; i += 2; continue;
            case 't': o[k++] = '\t'; i += 2; continue;
            case 'u': {
                uint32_t cp;
                if (end - i < 6 || !hex4(p->s + i + 2, &cp)) {
                    fail(p, i, "\\u escape needs 4 hex digits");
                    free(o);
                    return NULL;
                }
                i += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail(p, i - 6, "lone low surrogate \\u%04X", (unsigned)cp);
                    free(o);
                    return NULL;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (end - i < 6 || p->s[i] != '\\' || p->s[i + 1] != 'u' || !hex4(p->s + i + 2, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF) {
                        fail(p, i - 6, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)cp);
                        free(o);
                        return NULL;
                    }
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                k += put_utf8(o + k, cp);
                continue;
            }
            default:
                fail(p, i, "invalid escape '\\%c'", e >= 0x20 && e < 0x7F ? e : '?');
                free(o);
                return NULL;
            }
        }
        if (c < 0x20) {
            fail(p, i, "control character 0x%02X in string (must be escaped)", c);
            free(o);
            return NULL;
        }
        size_t l = utf8_len(p->s + i, end - i);
        if (!l) {
            fail(p, i, "invalid UTF-8 byte 0x%02X in string", c);
            free(o);
            return NULL;
        }
        memcpy(o + k, p->s + i, l);
        k += l;
        i += l;
    }
    o[k] = 0;
    *len = k;
    p->pos = end + 1;
    return o;
}

static double to_double(parser *p, size_t start, size_t end, int *ok) {
    // strtod follows LC_NUMERIC; JSON always uses '.', so swap in the locale's point.
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp && *dp ? strlen(dp) : 1;
    char small[128];
    size_t need = (end - start) * dpl + 1;
    char *b = need <= sizeof small ? small : malloc(need);
    if (!b) { fail(p, start, "out of memory"); *ok = 0; return 0; }
    size_t k = 0;
    for (size_t i = start; i < end; i++) {
        if (p->s[i] == '.' && dp && *dp) { memcpy(b + k, dp, dpl); k += dpl; }
        else b[k++] = (char)p->s[i];
    }
    b[k] = 0;
    double v = strtod(b, NULL);
    if (b != small) free(b);
    *ok = 1;
    if (isinf(v)) { fail(p, start, "number out of double range"); *ok = 0; }
    return v;
}

static lt_json *parse_number(parser *p) {
    size_t start = p->pos, i = start;
    const unsigned char *s = p->s;
    int neg = 0, is_int = 1;
    if (i < p->n && s[i] == '-') { neg = 1; i++; }
    if (i >= p->n || s[i] < '0' || s[i] > '9') { fail(p, i, "expected a digit"); return NULL; }
    uint64_t mag = 0;
    int overflow = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (s[i] == '0') {
        i++;
        if (i < p->n && s[i] >= '0' && s[i] <= '9') { fail(p, start, "leading zero in number"); return NULL; }
    } else {
        while (i < p->n && s[i] >= '0' && s[i] <= '9') {
            unsigned d = s[i] - '0';
            if (mag > (limit - d) / 10) overflow = 1;
            else mag = mag * 10 + d;
            i++;
        }
    }
    if (i < p->n && s[i] == '.') {
        is_int = 0;
        i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') { fail(p, i, "expected a digit after '.'"); return NULL; }
        while (i < p->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        is_int = 0;
        i++;
        if (i < p->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') { fail(p, i, "expected a digit in exponent"); return NULL; }
        while (i < p->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    p->pos = i;
    if (is_int && !overflow) {
        lt_json *j = node(p, LT_JSON_INT, start);
        if (!j) return NULL;
        j->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        j->number = (double)j->integer;
        return j;
    }
    int ok;
    double v = to_double(p, start, i, &ok);
    if (!ok) return NULL;
    lt_json *j = node(p, LT_JSON_DOUBLE, start);
    if (j) j->number = v;
    return j;
}

static lt_json *parse_value(parser *p, int depth);

static int push(parser *p, lt_json *j, lt_json *item, size_t *cap) {
    if (j->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        lt_json **it = realloc(j->items, nc * sizeof *it);
        if (!it) { fail(p, item->offset, "out of memory"); return 0; }
        j->items = it;
        if (j->type == LT_JSON_OBJECT) {
            char **k = realloc(j->keys, nc * sizeof *k);
            if (k) j->keys = k;
            size_t *kl = k ? realloc(j->key_lens, nc * sizeof *kl) : NULL;
            if (kl) j->key_lens = kl;
            if (!k || !kl) { fail(p, item->offset, "out of memory"); return 0; }
        }
        *cap = nc;
    }
    j->items[j->n++] = item;
    return 1;
}

typedef struct { const char *k; size_t len, idx; } key_ref;

static int cmp_key(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

static int cmp_key_ref(const void *x, const void *y) {
    const key_ref *a = x, *b = y;
    int c = cmp_key(a->k, a->len, b->k, b->len);
    return c ? c : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

// Sorts member indices by key and rejects duplicates (O(n log n), for large headers).
static int index_object(parser *p, lt_json *j, const size_t *key_offs) {
    if (!j->n) return 1;
    key_ref *r = malloc(j->n * sizeof *r);
    j->sorted = malloc(j->n * sizeof *j->sorted);
    if (!r || !j->sorted) { free(r); fail(p, j->offset, "out of memory"); return 0; }
    for (size_t i = 0; i < j->n; i++) r[i] = (key_ref){j->keys[i], j->key_lens[i], i};
    qsort(r, j->n, sizeof *r, cmp_key_ref);
    for (size_t i = 0; i < j->n; i++) {
        j->sorted[i] = r[i].idx;
        if (i && !cmp_key(r[i - 1].k, r[i - 1].len, r[i].k, r[i].len)) {
            char q[80];
            fail(p, key_offs[r[i].idx], "duplicate key \"%s\"", lt_json_quote_for_message(q, sizeof q, r[i].k, r[i].len));
            free(r);
            return 0;
        }
    }
    free(r);
    return 1;
}

static lt_json *parse_container(parser *p, int depth, int is_obj) {
    size_t start = p->pos;
    if (depth >= p->max_depth) {
        fail(p, start, "nesting deeper than %d levels", p->max_depth);
        return NULL;
    }
    lt_json *j = node(p, is_obj ? LT_JSON_OBJECT : LT_JSON_ARRAY, start);
    if (!j) return NULL;
    size_t cap = 0, koff_cap = 0;
    size_t *key_offs = NULL;
    char close = is_obj ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)close) { p->pos++; return j; }
    for (;;) {
        skip_ws(p);
        char *key = NULL;
        size_t klen = 0, koff = p->pos;
        if (is_obj) {
            if (p->pos >= p->n || p->s[p->pos] != '"') { fail(p, p->pos, "expected a string key"); goto bad; }
            key = parse_string_raw(p, &klen);
            if (!key) goto bad;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') { free(key); fail(p, p->pos, "expected ':' after key"); goto bad; }
            p->pos++;
        }
        lt_json *v = parse_value(p, depth + 1);
        if (!v) { free(key); goto bad; }
        if (!push(p, j, v, &cap)) { free(key); lt_json_free(v); goto bad; }
        if (is_obj) {
            j->keys[j->n - 1] = key;
            j->key_lens[j->n - 1] = klen;
            if (j->n > koff_cap) {
                koff_cap = cap;
                size_t *ko = realloc(key_offs, koff_cap * sizeof *ko);
                if (!ko) { fail(p, koff, "out of memory"); j->keys[j->n - 1] = NULL; free(key); goto bad; }
                key_offs = ko;
            }
            key_offs[j->n - 1] = koff;
        }
        skip_ws(p);
        if (p->pos >= p->n) { fail(p, p->pos, "unexpected end of input (expected ',' or '%c')", close); goto bad; }
        unsigned char c = p->s[p->pos];
        if (c == ',') { p->pos++; continue; }
        if (c == (unsigned char)close) { p->pos++; break; }
        fail(p, p->pos, "expected ',' or '%c'", close);
        goto bad;
    }
    if (is_obj && !index_object(p, j, key_offs)) goto bad;
    free(key_offs);
    return j;
bad:
    free(key_offs);
    lt_json_free(j);
    return NULL;
}

static int literal(parser *p, const char *word) {
    size_t l = strlen(word);
    return p->n - p->pos >= l && !memcmp(p->s + p->pos, word, l);
}

static lt_json *parse_value(parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->n) { fail(p, p->pos, "unexpected end of input (expected a value)"); return NULL; }
    size_t start = p->pos;
    unsigned char c = p->s[start];
    if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
    if (c == '"') {
        size_t len;
        char *s = parse_string_raw(p, &len);
        if (!s) return NULL;
        lt_json *j = node(p, LT_JSON_STRING, start);
        if (!j) { free(s); return NULL; }
        j->str = s;
        j->str_len = len;
        return j;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
    if (literal(p, "true") || literal(p, "false")) {
        lt_json *j = node(p, LT_JSON_BOOL, start);
        if (!j) return NULL;
        j->boolean = c == 't';
        p->pos += j->boolean ? 4 : 5;
        return j;
    }
    if (literal(p, "null")) {
        p->pos += 4;
        return node(p, LT_JSON_NULL, start);
    }
    if (c >= 0x20 && c < 0x7F) fail(p, start, "unexpected character '%c' (expected a value)", c);
    else fail(p, start, "unexpected byte 0x%02X (expected a value)", c);
    return NULL;
}

lt_json *lt_json_parse_depth(const char *s, size_t n, int max_depth, char *err, size_t errn) {
    parser p = {.s = (const unsigned char *)s, .n = s ? n : 0, .max_depth = max_depth};
    lt_json *j = parse_value(&p, 0);
    if (j) {
        skip_ws(&p);
        if (p.pos < p.n) {
            fail(&p, p.pos, "unexpected data after the JSON value");
            lt_json_free(j);
            j = NULL;
        }
    }
    if (!j) {
        lt_error(LT_ERR_FORMAT, "%s", p.msg);
        if (err && errn) snprintf(err, errn, "%s", p.msg);
    }
    return j;
}

lt_json *lt_json_parse(const char *s, size_t n, char *err, size_t errn) {
    return lt_json_parse_depth(s, n, LT_JSON_MAX_DEPTH, err, errn);
}

void lt_json_free(lt_json *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        lt_json_free(j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->key_lens);
    free(j->sorted);
    free(j->str);
    free(j);
}

const char *lt_json_type_name(lt_json_type t) {
    switch (t) {
    case LT_JSON_NULL: return "null";
    case LT_JSON_BOOL: return "boolean";
    case LT_JSON_INT: return "integer";
    case LT_JSON_DOUBLE: return "number";
    case LT_JSON_STRING: return "string";
    case LT_JSON_ARRAY: return "array";
    case LT_JSON_OBJECT: return "object";
    }
    return "?";
}

const lt_json *lt_json_get(const lt_json *obj, const char *key) {
    if (!obj || obj->type != LT_JSON_OBJECT || !key || !obj->sorted) return NULL;
    size_t kl = strlen(key), lo = 0, hi = obj->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, idx = obj->sorted[mid];
        int c = cmp_key(obj->keys[idx], obj->key_lens[idx], key, kl);
        if (!c) return obj->items[idx];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const lt_json *lt_json_at(const lt_json *j, size_t i) {
    if (!j || (j->type != LT_JSON_ARRAY && j->type != LT_JSON_OBJECT) || i >= j->n) return NULL;
    return j->items[i];
}

const char *lt_json_key(const lt_json *obj, size_t i) {
    if (!obj || obj->type != LT_JSON_OBJECT || i >= obj->n) return NULL;
    return obj->keys[i];
}

size_t lt_json_len(const lt_json *j) {
    return j && (j->type == LT_JSON_ARRAY || j->type == LT_JSON_OBJECT) ? j->n : 0;
}

int lt_json_as_int(const lt_json *j, int64_t *out) {
    if (!j) return 0;
    if (j->type == LT_JSON_INT) { *out = j->integer; return 1; }
    // 2^63 is exactly representable; anything >= it does not fit.
    if (j->type == LT_JSON_DOUBLE && j->number == floor(j->number) && j->number >= -9223372036854775808.0 &&
        j->number < 9223372036854775808.0) {
        *out = (int64_t)j->number;
        return 1;
    }
    return 0;
}

int lt_json_as_double(const lt_json *j, double *out) {
    if (!j || (j->type != LT_JSON_INT && j->type != LT_JSON_DOUBLE)) return 0;
    *out = j->number;
    return 1;
}

int lt_json_as_bool(const lt_json *j, int *out) {
    if (!j || j->type != LT_JSON_BOOL) return 0;
    *out = j->boolean;
    return 1;
}

const char *lt_json_as_string(const lt_json *j) { return j && j->type == LT_JSON_STRING ? j->str : NULL; }

int lt_json_is_null(const lt_json *j) { return j && j->type == LT_JSON_NULL; }

// Escaped body (no quotes) into o, which must hold 6 bytes per input byte.
static size_t escape_into(char *o, const unsigned char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') { o[k++] = '\\'; o[k++] = (char)c; i++; continue; }
        if (c < 0x20) {
            const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f" : NULL;
            if (e) { memcpy(o + k, e, 2); k += 2; }
            else k += (size_t)sprintf(o + k, "\\u%04x", c);
            i++;
            continue;
        }
        size_t l = utf8_len(s + i, n - i);
        if (!l) { memcpy(o + k, "\\ufffd", 6); k += 6; i++; continue; }
        memcpy(o + k, s + i, l);
        k += l;
        i += l;
    }
    return k;
}

int lt_json_write_string_n(FILE *f, const char *s, size_t n) {
    if (!s) n = 0;
    char buf[6 * 256 + 8];
    if (fputc('"', f) == EOF) return -1;
    for (size_t i = 0; i < n;) {
        // Chunks end on a UTF-8 boundary so no sequence is split between them.
        size_t end = i + 256 < n ? i + 256 : n;
        while (end < n && end > i && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
        if (end == i) end = i + 256 < n ? i + 256 : n;
        size_t k = escape_into(buf, (const unsigned char *)s + i, end - i);
        if (fwrite(buf, 1, k, f) != k) return -1;
        i = end;
    }
    if (fputc('"', f) == EOF) return -1;
    return ferror(f) ? -1 : 0;
}

int lt_json_write_string(FILE *f, const char *s) { return lt_json_write_string_n(f, s, s ? strlen(s) : 0); }

int lt_json_write_number(FILE *f, double v) {
    if (!isfinite(v)) return fputs("null", f) == EOF ? -1 : 0;
    char b[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;   // printf and strtod share the locale
    }
    // JSON needs '.', whatever LC_NUMERIC says.
    const char *dp = localeconv()->decimal_point;
    char *at = dp && *dp && strcmp(dp, ".") ? strstr(b, dp) : NULL;
    if (at) {
        size_t dl = strlen(dp);
        *at = '.';
        memmove(at + 1, at + dl, strlen(at + dl) + 1);
    }
    return fputs(b, f) == EOF ? -1 : 0;
}

const char *lt_json_quote_for_message(char *dst, size_t dstn, const char *s, size_t n) {
    if (!dstn) return dst;
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char tmp[8];
        size_t l = utf8_len(u + i, n - i), tl;
        if (u[i] < 0x80 || !l) { tl = escape_into(tmp, u + i, 1); l = 1; }
        else { memcpy(tmp, u + i, l); tl = l; }
        if (k + tl + 4 > dstn) {
            if (k + 4 <= dstn) { memcpy(dst + k, "...", 3); k += 3; }
            break;
        }
        memcpy(dst + k, tmp, tl);
        k += tl;
        i += l;
    }
    dst[k < dstn ? k : dstn - 1] = 0;
    return dst;
}
