// Strict JSON parser and writer helpers.
#include "lt_test.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "libtrain/json.h"

static lt_json *parse(const char *s) {
    char err[256];
    lt_json *j = lt_json_parse(s, strlen(s), err, sizeof err);
    cr_assert(j, "parse of %s failed: %s", s, err);
    return j;
}

Test(json, parses_nested_document) {
    const char *doc = " { \"name\" : \"run-1\", \"lr\": 3e-4, \"steps\": 1000, \"neg\": -7,\n"
                      "\"flags\": [true, false, null, [], {}], \"nested\": {\"a\": {\"b\": [1, 2.5, \"x\"]}} }\r\n";
    lt_json *j = parse(doc);
    cr_assert_eq(j->type, LT_JSON_OBJECT);
    cr_assert_eq(lt_json_len(j), 6);
    cr_assert_str_eq(lt_json_key(j, 0), "name");
    cr_assert_str_eq(lt_json_key(j, 5), "nested");
    cr_assert_null(lt_json_key(j, 6));
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "name")), "run-1");
    cr_assert_eq(lt_json_get(j, "name")->offset, 12, "offset %zu", lt_json_get(j, "name")->offset);
    double lr;
    cr_assert(lt_json_as_double(lt_json_get(j, "lr"), &lr));
    cr_assert_eq(lr, 3e-4);
    cr_assert_eq(lt_json_get(j, "lr")->type, LT_JSON_DOUBLE);
    int64_t steps, neg;
    cr_assert(lt_json_as_int(lt_json_get(j, "steps"), &steps));
    cr_assert(lt_json_as_int(lt_json_get(j, "neg"), &neg));
    cr_assert_eq(steps, 1000);
    cr_assert_eq(neg, -7);
    cr_assert(!lt_json_as_int(lt_json_get(j, "name"), &steps), "a string is not an int");
    const lt_json *flags = lt_json_get(j, "flags");
    cr_assert_eq(lt_json_len(flags), 5);
    int b;
    cr_assert(lt_json_as_bool(lt_json_at(flags, 0), &b) && b == 1);
    cr_assert(lt_json_as_bool(lt_json_at(flags, 1), &b) && b == 0);
    cr_assert(lt_json_is_null(lt_json_at(flags, 2)));
    cr_assert_eq(lt_json_at(flags, 3)->type, LT_JSON_ARRAY);
    cr_assert_eq(lt_json_len(lt_json_at(flags, 3)), 0);
    cr_assert_eq(lt_json_at(flags, 4)->type, LT_JSON_OBJECT);
    cr_assert_null(lt_json_get(lt_json_at(flags, 4), "x"));
    cr_assert_null(lt_json_at(flags, 5));
    cr_assert_null(lt_json_get(flags, "name"), "get on an array");
    cr_assert_null(lt_json_get(j, "missing"));
    cr_assert_null(lt_json_get(NULL, "x"));
    const lt_json *arr = lt_json_get(lt_json_get(lt_json_get(j, "nested"), "a"), "b");
    cr_assert_eq(lt_json_len(arr), 3);
    double x;
    cr_assert(lt_json_as_double(lt_json_at(arr, 1), &x) && x == 2.5);
    cr_assert_str_eq(lt_json_as_string(lt_json_at(arr, 2)), "x");
    cr_assert_eq(lt_json_at(j, 1), lt_json_get(j, "lr"), "lt_json_at on an object gives member values");
    lt_json_free(j);
}

Test(json, scalars_at_top_level) {
    const char *docs[] = {"0", "-0", "\"s\"", "true", "false", "null", " 42 ", "[]", "{}"};
    lt_json_type types[] = {LT_JSON_INT, LT_JSON_INT, LT_JSON_STRING, LT_JSON_BOOL, LT_JSON_BOOL,
                            LT_JSON_NULL, LT_JSON_INT, LT_JSON_ARRAY, LT_JSON_OBJECT};
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        lt_json *j = parse(docs[i]);
        cr_assert_eq(j->type, types[i], "%s parsed as %s", docs[i], lt_json_type_name(j->type));
        lt_json_free(j);
    }
}

Test(json, string_escapes) {
    lt_json *j = parse("[\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\", \"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\", "
                       "\"a\\u0000b\", \"raw \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", \"\"]");
    cr_assert_str_eq(lt_json_as_string(lt_json_at(j, 0)), "q\"b\\s/b\bf\fn\nr\rt\t");
    cr_assert_str_eq(lt_json_as_string(lt_json_at(j, 1)), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    const lt_json *nul = lt_json_at(j, 2);
    cr_assert_eq(nul->str_len, 3);
    cr_assert(!memcmp(nul->str, "a\0b", 4));
    cr_assert_str_eq(lt_json_as_string(lt_json_at(j, 3)), "raw \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    cr_assert_str_eq(lt_json_as_string(lt_json_at(j, 4)), "");
    cr_assert_eq(lt_json_at(j, 4)->str_len, 0);
    lt_json_free(j);
}

typedef struct { const char *doc; size_t n; const char *msg; size_t off; } bad_doc;

Test(json, invalid_documents_name_the_problem_and_byte) {
    static const bad_doc bad[] = {
        {"", 0, "end of input", 0},
        {"   ", 3, "end of input", 3},
        {"{", 1, "expected a string key", 1},
        {"[1,]", 4, "unexpected character ']'", 3},
        {"[1 2]", 5, "expected ',' or ']'", 3},
        {"{\"a\":1,}", 8, "expected a string key", 7},
        {"{\"a\" 1}", 7, "expected ':'", 5},
        {"{1:2}", 5, "expected a string key", 1},
        {"{\"a\":1,\"a\":2}", 13, "duplicate key \"a\"", 7},
        {"{\"b\":{\"x\":1,\"y\":2,\"x\":3}}", 25, "duplicate key \"x\"", 18},
        {"01", 2, "leading zero", 0},
        {"-01", 3, "leading zero", 0},
        {"1.", 2, "digit after '.'", 2},
        {"1.e5", 4, "digit after '.'", 2},
        {"-", 1, "expected a digit", 1},
        {"1e", 2, "exponent", 2},
        {"1e+", 3, "exponent", 3},
        {"+1", 2, "unexpected character '+'", 0},
        {".5", 2, "unexpected character '.'", 0},
        {"NaN", 3, "unexpected character 'N'", 0},
        {"Infinity", 8, "unexpected character 'I'", 0},
        {"1e400", 5, "out of double range", 0},
        {"tru", 3, "unexpected character 't'", 0},
        {"nul", 3, "unexpected character 'n'", 0},
        {"truex", 5, "unexpected data after", 4},
        {"1 2", 3, "unexpected data after", 2},
        {"\"abc", 4, "unterminated string", 0},
        {"\"abc\\\"", 6, "unterminated string", 0},
        {"\"\\x\"", 4, "invalid escape '\\x'", 1},
        {"\"\\u12\"", 6, "4 hex digits", 1},
        {"\"\\u12G4\"", 8, "4 hex digits", 1},
        {"\"\\uD800\"", 8, "high surrogate", 1},
        {"\"\\uD800\\u0041\"", 14, "high surrogate", 1},
        {"\"\\uDC00\"", 8, "lone low surrogate", 1},
        {"\"a\tb\"", 5, "control character 0x09", 2},
        {"\"a\nb\"", 5, "control character 0x0A", 2},
        {"\"\xff\"", 3, "invalid UTF-8", 1},
        {"\"\xc0\xaf\"", 4, "invalid UTF-8", 1},         // overlong '/'
        {"\"\xed\xa0\x80\"", 5, "invalid UTF-8", 1},     // encoded surrogate
        {"\"\xf4\x90\x80\x80\"", 6, "invalid UTF-8", 1}, // above U+10FFFF
        {"\"\xe2\x82\"", 4, "invalid UTF-8", 1},         // cut sequence
        {"//c\n1", 5, "unexpected character '/'", 0},
        {"\xef\xbb\xbf{}", 5, "unexpected byte 0xEF", 0},
        {"\0", 1, "unexpected byte 0x00", 0},
        {"{}\0", 3, "unexpected data after", 2},
        {"[\"a\",", 5, "end of input", 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "untouched";
        lt_clear_error();
        lt_json *j = lt_json_parse(bad[i].doc, bad[i].n, err, sizeof err);
        cr_assert_null(j, "case %zu (%s) parsed", i, bad[i].doc);
        cr_assert(strstr(err, bad[i].msg), "case %zu: message '%s' lacks '%s'", i, err, bad[i].msg);
        char at[32];
        snprintf(at, sizeof at, "at byte %zu", bad[i].off);
        cr_assert(strstr(err, at), "case %zu: message '%s' lacks '%s'", i, err, at);
        cr_assert_str_eq(lt_last_error(), err);
        cr_assert_eq(lt_last_status(), LT_ERR_FORMAT);
    }
}

Test(json, err_buffer_may_be_small_or_absent) {
    char err[8];
    cr_assert_null(lt_json_parse("[1,", 3, err, sizeof err));
    cr_assert_eq(strlen(err), 7);
    cr_assert_null(lt_json_parse("[1,", 3, NULL, 0));
    cr_assert(strstr(lt_last_error(), "(expected a value) at byte 3"), "%s", lt_last_error());
    cr_assert_null(lt_json_parse(NULL, 5, NULL, 0));
}

static char *nested(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) { s[i] = open; s[2 * depth - 1 - i] = close; }
    s[2 * depth] = 0;
    return s;
}

Test(json, depth_limit) {
    char *ok = nested(LT_JSON_MAX_DEPTH, '[', ']');
    lt_json *j = lt_json_parse(ok, strlen(ok), NULL, 0);
    cr_assert(j, "%d levels should parse: %s", LT_JSON_MAX_DEPTH, lt_last_error());
    lt_json_free(j);
    char *deep = nested(LT_JSON_MAX_DEPTH + 1, '[', ']');
    char err[256];
    cr_assert_null(lt_json_parse(deep, strlen(deep), err, sizeof err));
    cr_assert(strstr(err, "nesting deeper than 128"), "%s", err);
    char at[32];
    snprintf(at, sizeof at, "at byte %d", LT_JSON_MAX_DEPTH);
    cr_assert(strstr(err, at), "%s", err);
    // Far deeper input (stack exhaustion for a naive parser) is refused cleanly.
    size_t big = 1000000;
    char *huge = malloc(big);
    memset(huge, '[', big);
    cr_assert_null(lt_json_parse(huge, big, err, sizeof err));
    cr_assert(strstr(err, "nesting"), "%s", err);
    // Objects count too, and a custom limit applies.
    const char *three = "{\"a\":{\"b\":[1]}}";
    cr_assert_null(lt_json_parse_depth(three, strlen(three), 2, err, sizeof err));
    cr_assert(strstr(err, "nesting deeper than 2 levels at byte 10"), "%s", err);
    j = lt_json_parse_depth(three, strlen(three), 3, err, sizeof err);
    cr_assert(j, "%s", err);
    lt_json_free(j);
    free(ok); free(deep); free(huge);
}

Test(json, numbers) {
    lt_json *j = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, -9223372036854775809,"
                       " 0, -0, 1.5e3, 1E-2, 0.1, 123456789012345678901234567890, 1e-400, 2.5E+2, -0.0, 1e3, 1e19]");
    int64_t v;
    cr_assert(lt_json_as_int(lt_json_at(j, 0), &v) && v == INT64_MAX);
    cr_assert_eq(lt_json_at(j, 0)->type, LT_JSON_INT);
    cr_assert(lt_json_as_int(lt_json_at(j, 1), &v) && v == INT64_MIN);
    cr_assert_eq(lt_json_at(j, 1)->type, LT_JSON_INT);
    cr_assert_eq(lt_json_at(j, 2)->type, LT_JSON_DOUBLE, "INT64_MAX + 1 does not fit");
    cr_assert_eq(lt_json_at(j, 2)->number, 9223372036854775808.0);
    cr_assert(!lt_json_as_int(lt_json_at(j, 2), &v), "2^63 is not an int64");
    cr_assert_eq(lt_json_at(j, 3)->type, LT_JSON_DOUBLE);
    cr_assert(lt_json_as_int(lt_json_at(j, 4), &v) && v == 0);
    cr_assert(lt_json_as_int(lt_json_at(j, 5), &v) && v == 0);
    double d;
    cr_assert(lt_json_as_double(lt_json_at(j, 6), &d) && d == 1500.0);
    cr_assert(lt_json_as_int(lt_json_at(j, 6), &v) && v == 1500, "integral double converts");
    cr_assert(lt_json_as_double(lt_json_at(j, 7), &d) && d == 0.01);
    cr_assert(!lt_json_as_int(lt_json_at(j, 7), &v), "0.01 is not an integer");
    cr_assert(lt_json_as_double(lt_json_at(j, 8), &d) && d == 0.1);
    cr_assert(lt_json_as_double(lt_json_at(j, 9), &d) && d == 1.2345678901234568e29);
    cr_assert(lt_json_as_double(lt_json_at(j, 10), &d) && d == 0.0, "underflow is zero");
    cr_assert(lt_json_as_double(lt_json_at(j, 11), &d) && d == 250.0);
    cr_assert(lt_json_as_double(lt_json_at(j, 12), &d) && d == 0.0 && signbit(d));
    cr_assert(lt_json_as_int(lt_json_at(j, 13), &v) && v == 1000);
    cr_assert(!lt_json_as_int(lt_json_at(j, 14), &v), "1e19 exceeds int64");
    cr_assert(!lt_json_as_double(lt_json_at(j, 15), &d), "out of range index");
    lt_json_free(j);
}

Test(json, large_object_lookup) {
    int n = 5000;
    char *doc = malloc((size_t)n * 32 + 8);
    size_t k = 0;
    doc[k++] = '{';
    // Keys inserted in scrambled order so the sorted index is exercised.
    for (int i = 0; i < n; i++) {
        int key = (i * 7919) % n;
        k += (size_t)sprintf(doc + k, "%s\"k%d\":%d", i ? "," : "", key, key * 3);
    }
    doc[k++] = '}';
    lt_json *j = lt_json_parse(doc, k, NULL, 0);
    cr_assert(j, "%s", lt_last_error());
    cr_assert_eq(lt_json_len(j), (size_t)n);
    for (int key = 0; key < n; key++) {
        char name[16];
        sprintf(name, "k%d", key);
        int64_t v;
        cr_assert(lt_json_as_int(lt_json_get(j, name), &v), "key %s missing", name);
        cr_assert_eq(v, key * 3);
    }
    cr_assert_null(lt_json_get(j, "k5000"));
    cr_assert_null(lt_json_get(j, "k"));
    cr_assert_null(lt_json_get(j, ""));
    lt_json_free(j);
    free(doc);
}

static char *write_to_string(int (*fn)(FILE *, const void *), const void *arg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert(m);
    cr_assert_eq(fn(m, arg), 0);
    fclose(m);
    return buf;
}

static int w_str(FILE *f, const void *s) { return lt_json_write_string(f, s); }
static int w_num(FILE *f, const void *d) { return lt_json_write_number(f, *(const double *)d); }

Test(json, write_string_escapes_and_round_trips) {
    const char *in[] = {"plain", "", "q\"b\\s", "ctl\n\t\r\b\f\x01\x1f", "utf8 \xc3\xa9 \xf0\x9f\x98\x80", "/slash"};
    const char *out[] = {"\"plain\"", "\"\"", "\"q\\\"b\\\\s\"", "\"ctl\\n\\t\\r\\b\\f\\u0001\\u001f\"",
                         "\"utf8 \xc3\xa9 \xf0\x9f\x98\x80\"", "\"/slash\""};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        char *s = write_to_string(w_str, in[i]);
        cr_assert_str_eq(s, out[i]);
        lt_json *j = parse(s);
        cr_assert_str_eq(lt_json_as_string(j), in[i]);
        lt_json_free(j);
        free(s);
    }
    char *s = write_to_string(w_str, "bad \xff\xc3 end");
    cr_assert_str_eq(s, "\"bad \\ufffd\\ufffd end\"");
    free(s);
    // A long string crosses the writer's internal chunks without splitting a UTF-8 sequence.
    char longs[3000];
    size_t k = 0;
    while (k + 3 < sizeof longs) { memcpy(longs + k, "\xe2\x82\xac", 3); k += 3; }
    longs[k] = 0;
    s = write_to_string(w_str, longs);
    lt_json *j = parse(s);
    cr_assert_str_eq(lt_json_as_string(j), longs);
    lt_json_free(j);
    free(s);
}

Test(json, write_number_shortest_round_trip) {
    double vals[] = {0.0, 1.0, -2.5, 0.1, 1.0 / 3.0, 1e300, -4.9e-324, 123456789.0, 3e-4, DBL_MAX, (double)0.1f};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char *s = write_to_string(w_num, &vals[i]);
        lt_json *j = parse(s);
        double d;
        cr_assert(lt_json_as_double(j, &d), "%s", s);
        cr_assert_eq(d, vals[i], "%.17g written as %s", vals[i], s);
        lt_json_free(j);
        free(s);
    }
    double tenth = 0.1, nan = NAN, inf = -INFINITY;
    char *s = write_to_string(w_num, &tenth);
    cr_assert_str_eq(s, "0.1");
    free(s);
    s = write_to_string(w_num, &nan);
    cr_assert_str_eq(s, "null");
    free(s);
    s = write_to_string(w_num, &inf);
    cr_assert_str_eq(s, "null");
    free(s);
}

Test(json, utf8_validation_and_message_quoting) {
    cr_assert(lt_json_utf8_valid("abc \xc3\xa9", 6));
    cr_assert(!lt_json_utf8_valid("\xc3", 1));
    cr_assert(!lt_json_utf8_valid("\xe0\x80\x80", 3), "overlong");
    char q[16];
    lt_json_quote_for_message(q, sizeof q, "a\nb\"c", 5);
    cr_assert_str_eq(q, "a\\nb\\\"c");
    lt_json_quote_for_message(q, sizeof q, "abcdefghijklmnopqrstuvwxyz", 26);
    cr_assert_str_eq(q, "abcdefghijkl...");
    lt_json_quote_for_message(q, sizeof q, "x\xff", 2);
    cr_assert_str_eq(q, "x\\ufffd");
}

// Every proper prefix of a document is invalid, and random byte edits never crash the parser.
Test(json, truncations_and_mutations_never_crash) {
    const char *doc = "{\"a\":[1,-2.5e3,true,null,\"s\\u00e9\\n\"],\"b\":{\"c\":\"\xc3\xa9\",\"d\":[]},\"e\":0}";
    size_t n = strlen(doc);
    lt_json *j = parse(doc);
    lt_json_free(j);
    for (size_t len = 0; len < n; len++) {
        char err[256];
        cr_assert_null(lt_json_parse(doc, len, err, sizeof err), "prefix of %zu bytes parsed", len);
        cr_assert(strstr(err, "at byte"), "%s", err);
    }
    lt_rng r;
    lt_rng_init(&r, 99);
    char *buf = malloc(n);
    int parsed = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, doc, n);
        int edits = 1 + (int)lt_rng_below(&r, 3);
        for (int e = 0; e < edits; e++) buf[lt_rng_below(&r, (uint32_t)n)] = (char)lt_rng_below(&r, 256);
        char err[256];
        lt_json *m = lt_json_parse(buf, n, err, sizeof err);
        if (m) parsed++;
        else cr_assert(strstr(err, "json: ") && strstr(err, "at byte"), "%s", err);
        lt_json_free(m);
    }
    cr_assert(parsed > 0 && parsed < 20000, "parsed %d of 20000 mutations", parsed);
    free(buf);
}
