#include "libtrain/flags.h"
#include "libtrain/device.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <cblas.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { F_INT, F_INT64, F_U64, F_FLOAT, F_STR, F_BOOL, F_CHOICE, F_FLIST } lt_flag_type;

typedef struct {
    char *name, *help, *choices;
    char *def;          // default as shown by --help
    lt_flag_type type;
    void *v;
    int *n, cap;        // float lists
    int set;
} lt_flag;

struct lt_flags {
    char *name, *desc;
    lt_flag *fl;
    int n, cap;
    char *reg_err;          // first declaration mistake, reported by parse
    char *out_default;      // "runs/<name>" for lt_flags_common
    lt_common_flags *common;
    const char *argv0;
};

static char *lt_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void reg_error(lt_flags *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reg_error(lt_flags *f, const char *fmt, ...) {
    if (f->reg_err) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    f->reg_err = lt_strdup(buf);
}

lt_flags *lt_flags_new(const char *name, const char *description) {
    lt_flags *f = calloc(1, sizeof *f);
    if (!f) { lt_error(LT_ERR_OOM, "lt_flags_new: out of memory"); return NULL; }
    f->name = lt_strdup(name ? name : "recipe");
    f->desc = lt_strdup(description ? description : "");
    if (!f->name || !f->desc) { lt_flags_free(f); lt_error(LT_ERR_OOM, "lt_flags_new: out of memory"); return NULL; }
    return f;
}

void lt_flags_free(lt_flags *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->fl[i].name); free(f->fl[i].help); free(f->fl[i].choices); free(f->fl[i].def);
    }
    free(f->fl); free(f->name); free(f->desc); free(f->reg_err); free(f->out_default);
    free(f);
}

// '-' and '_' compare equal so --log_every finds log-every.
static int name_char(char c) { return c == '_' ? '-' : (unsigned char)c; }

static int name_eq(const char *a, const char *b, size_t blen) {
    size_t i = 0;
    for (; i < blen && a[i]; i++)
        if (name_char(a[i]) != name_char(b[i])) return 0;
    return i == blen && a[i] == 0;
}

static lt_flag *find(const lt_flags *f, const char *name, size_t len) {
    for (int i = 0; i < f->n; i++)
        if (name_eq(f->fl[i].name, name, len)) return &f->fl[i];
    return NULL;
}

// Shortest "%g" text that reads back as the same float.
static void float_text(float x, char *buf, size_t cap) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, cap, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) return;
    }
}

static lt_flag *add(lt_flags *f, const char *name, lt_flag_type type, void *v, const char *help) {
    if (!f) return NULL;
    if (!name || !name[0] || name[0] == '-' || strpbrk(name, "= \t")) {
        reg_error(f, "flag name '%s' is invalid (use letters, digits, '-' or '_')", name ? name : "(null)");
        return NULL;
    }
    if (!v) { reg_error(f, "flag --%s has no variable to store into", name); return NULL; }
    if (!strcmp(name, "help")) { reg_error(f, "flag --help is reserved"); return NULL; }
    if (find(f, name, strlen(name))) {
        reg_error(f, "flag --%s declared twice", name);
        return NULL;
    }
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 16;
        lt_flag *fl = realloc(f->fl, (size_t)cap * sizeof *fl);
        if (!fl) { reg_error(f, "out of memory declaring flag --%s", name); return NULL; }
        f->fl = fl; f->cap = cap;
    }
    lt_flag *g = &f->fl[f->n];
    memset(g, 0, sizeof *g);
    g->name = lt_strdup(name);
    g->help = lt_strdup(help ? help : "");
    g->type = type;
    g->v = v;
    if (!g->name || !g->help) {
        free(g->name); free(g->help);
        reg_error(f, "out of memory declaring flag --%s", name);
        return NULL;
    }
    f->n++;
    return g;
}

static void set_def(lt_flags *f, lt_flag *g, const char *text) {
    g->def = lt_strdup(text);
    if (!g->def) reg_error(f, "out of memory declaring flag --%s", g->name);
}

void lt_flag_int(lt_flags *f, const char *name, int *v, int def, const char *help) {
    lt_flag *g = add(f, name, F_INT, v, help);
    if (!g) return;
    *v = def;
    char b[32]; snprintf(b, sizeof b, "%d", def); set_def(f, g, b);
}

void lt_flag_int64(lt_flags *f, const char *name, int64_t *v, int64_t def, const char *help) {
    lt_flag *g = add(f, name, F_INT64, v, help);
    if (!g) return;
    *v = def;
    char b[32]; snprintf(b, sizeof b, "%" PRId64, def); set_def(f, g, b);
}

void lt_flag_u64(lt_flags *f, const char *name, uint64_t *v, uint64_t def, const char *help) {
    lt_flag *g = add(f, name, F_U64, v, help);
    if (!g) return;
    *v = def;
    char b[32]; snprintf(b, sizeof b, "%" PRIu64, def); set_def(f, g, b);
}

void lt_flag_float(lt_flags *f, const char *name, float *v, float def, const char *help) {
    lt_flag *g = add(f, name, F_FLOAT, v, help);
    if (!g) return;
    *v = def;
    char b[32]; float_text(def, b, sizeof b); set_def(f, g, b);
}

void lt_flag_str(lt_flags *f, const char *name, const char **v, const char *def, const char *help) {
    lt_flag *g = add(f, name, F_STR, v, help);
    if (!g) return;
    *v = def;
    if (def) {
        size_t n = strlen(def) + 3;
        char *b = malloc(n);
        if (b) snprintf(b, n, "\"%s\"", def);
        g->def = b;
        if (!b) reg_error(f, "out of memory declaring flag --%s", name);
    } else {
        set_def(f, g, "none");
    }
}

void lt_flag_bool(lt_flags *f, const char *name, int *v, int def, const char *help) {
    lt_flag *g = add(f, name, F_BOOL, v, help);
    if (!g) return;
    *v = def != 0;
    set_def(f, g, def ? "true" : "false");
}

static int in_choices(const char *choices, const char *s) {
    size_t n = strlen(s);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, s, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

void lt_flag_choice(lt_flags *f, const char *name, const char **v, const char *def, const char *choices,
                    const char *help) {
    lt_flag *g = add(f, name, F_CHOICE, v, help);
    if (!g) return;
    *v = def;
    if (!choices || !choices[0]) { reg_error(f, "flag --%s has no choices", name); return; }
    g->choices = lt_strdup(choices);
    set_def(f, g, def ? def : "none");
    if (!def || !in_choices(choices, def)) reg_error(f, "flag --%s: default is not one of its choices", name);
}

// Messages below are completed by the caller with the flag and value in front.
static int parse_i64(const char *s, int64_t *out, char *why, size_t wn) {
    if (!s[0]) { snprintf(why, wn, "expected an integer, got an empty value"); return 0; }
    if (isspace((unsigned char)s[0])) { snprintf(why, wn, "expected an integer"); return 0; }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s) { snprintf(why, wn, "expected an integer"); return 0; }
    if (*end) { snprintf(why, wn, "expected an integer (trailing characters '%s')", end); return 0; }
    if (errno == ERANGE) { snprintf(why, wn, "integer out of range"); return 0; }
    *out = x;
    return 1;
}

static int parse_u64(const char *s, uint64_t *out, char *why, size_t wn) {
    if (!s[0]) { snprintf(why, wn, "expected a non-negative integer, got an empty value"); return 0; }
    if (!isdigit((unsigned char)s[0])) { snprintf(why, wn, "expected a non-negative integer"); return 0; }
    int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, base);
    if (end == s || (base == 16 && end == s + 2)) { snprintf(why, wn, "expected a non-negative integer"); return 0; }
    if (*end) { snprintf(why, wn, "expected a non-negative integer (trailing characters '%s')", end); return 0; }
    if (errno == ERANGE) { snprintf(why, wn, "integer out of range (max %llu)", ULLONG_MAX); return 0; }
    *out = x;
    return 1;
}

static int parse_f32(const char *s, const char *end_at, float *out, char *why, size_t wn) {
    size_t len = end_at ? (size_t)(end_at - s) : strlen(s);
    char buf[128];
    if (len == 0) { snprintf(why, wn, "expected a number, got an empty value"); return 0; }
    if (len >= sizeof buf) { snprintf(why, wn, "expected a number (value too long)"); return 0; }
    memcpy(buf, s, len); buf[len] = 0;
    if (isspace((unsigned char)buf[0])) { snprintf(why, wn, "expected a number"); return 0; }
    char *end;
    errno = 0;
    float x = strtof(buf, &end);
    if (end == buf) { snprintf(why, wn, "expected a number"); return 0; }
    if (*end) { snprintf(why, wn, "expected a number (trailing characters '%s')", end); return 0; }
    if (!isfinite(x)) {
        snprintf(why, wn, errno == ERANGE ? "number out of range for float" : "expected a finite number");
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_bool(const char *s, int *out) {
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return 1; }
        if (!strcasecmp(s, no[i])) { *out = 0; return 1; }
    }
    return 0;
}

static int parse_flist(const char *s, float *vals, int cap, int *n, char *why, size_t wn) {
    int k = 0;
    if (!s[0]) { *n = 0; return 1; }
    for (const char *p = s;; k++) {
        const char *comma = strchr(p, ',');
        if (k == cap) { snprintf(why, wn, "more than %d values", cap); return 0; }
        char w[160];
        float x;
        if (!parse_f32(p, comma, &x, w, sizeof w)) { snprintf(why, wn, "value %d: %s", k + 1, w); return 0; }
        vals[k] = x;
        if (!comma) break;
        p = comma + 1;
    }
    *n = k + 1;
    return 1;
}

void lt_flag_float_list(lt_flags *f, const char *name, float *vals, int cap, int *n, const char *def,
                        const char *help) {
    lt_flag *g = add(f, name, F_FLIST, vals, help);
    if (!g) return;
    g->n = n; g->cap = cap;
    if (!n || cap < 1) { reg_error(f, "flag --%s needs a count pointer and a capacity >= 1", name); return; }
    *n = 0;
    char why[200];
    if (!parse_flist(def ? def : "", vals, cap, n, why, sizeof why))
        reg_error(f, "flag --%s: bad default list", name);
    set_def(f, g, def && def[0] ? def : "empty");
}

void lt_flags_common(lt_flags *f, lt_common_flags *cf) {
    if (!f) return;
    if (!cf) { reg_error(f, "lt_flags_common: the struct is NULL"); return; }
    if (!cf->out) {
        size_t n = strlen(f->name) + 6;
        free(f->out_default);
        f->out_default = malloc(n);
        if (!f->out_default) { reg_error(f, "out of memory declaring flag --%s", "out"); return; }
        snprintf(f->out_default, n, "runs/%s", f->name);
    }
    const char *dev = cf->device ? cf->device : "cpu", *out = cf->out ? cf->out : f->out_default;
    f->common = cf;
    lt_flag_int(f, "steps", &cf->steps, cf->steps, "training steps");
    lt_flag_float(f, "lr", &cf->lr, cf->lr, "peak learning rate");
    lt_flag_u64(f, "seed", &cf->seed, cf->seed, "seeds initialization, data order and dropout");
    lt_flag_choice(f, "device", &cf->device, dev, "cpu|cuda", "where to train");
    lt_flag_choice(f, "matmul", &cf->matmul, cf->matmul ? cf->matmul : "fp32", "fp32|tf32|bf16",
                   "matmul compute on cuda (tf32/bf16: tensor cores, fp32 accumulation); cpu is always fp32");
    lt_flag_str(f, "out", &cf->out, out, "run folder (config, metrics, checkpoints)");
    lt_flag_bool(f, "resume", &cf->resume, cf->resume, "continue the run in --out from its last checkpoint");
    lt_flag_int(f, "threads", &cf->threads, cf->threads, "CPU threads; 0 leaves OpenMP's default");
    lt_flag_int(f, "log-every", &cf->log_every, cf->log_every, "steps between metric lines");
    lt_flag_int(f, "ckpt-every", &cf->ckpt_every, cf->ckpt_every, "steps between checkpoints; 0 saves only at the end");
}

// Optimal string alignment distance (edits + adjacent swaps), names up to 63 chars.
static int edit_distance(const char *a, size_t la, const char *b) {
    size_t lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = name_char(a[i - 1]) != name_char(b[j - 1]);
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + cost;
            int m = x < y ? x : y;
            m = m < z ? m : z;
            if (i > 1 && j > 1 && name_char(a[i - 1]) == name_char(b[j - 2]) &&
                name_char(a[i - 2]) == name_char(b[j - 1]) && d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[la][lb];
}

static lt_status unknown_flag(const lt_flags *f, const char *name, size_t len) {
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < f->n; i++) {
        int dd = edit_distance(name, len, f->fl[i].name);
        if (dd < bd) { bd = dd; best = f->fl[i].name; }
    }
    int limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    if (best && bd <= limit && bd < (int)len)
        return lt_error(LT_ERR_ARG, "%s: unknown flag --%.*s (did you mean --%s?)", f->name, (int)len, name, best);
    return lt_error(LT_ERR_ARG, "%s: unknown flag --%.*s (see --help)", f->name, (int)len, name);
}

static lt_status bad_value(const lt_flags *f, const lt_flag *g, const char *val, const char *why) {
    return lt_error(LT_ERR_ARG, "%s: --%s=%s: %s", f->name, g->name, val, why);
}

static lt_status set_value(const lt_flags *f, lt_flag *g, const char *val) {
    char why[256];
    switch (g->type) {
    case F_INT: {
        int64_t x;
        if (!parse_i64(val, &x, why, sizeof why)) return bad_value(f, g, val, why);
        if (x < INT_MIN || x > INT_MAX) {
            snprintf(why, sizeof why, "integer out of range (%d..%d)", INT_MIN, INT_MAX);
            return bad_value(f, g, val, why);
        }
        *(int *)g->v = (int)x;
        break;
    }
    case F_INT64:
        if (!parse_i64(val, (int64_t *)g->v, why, sizeof why)) return bad_value(f, g, val, why);
        break;
    case F_U64:
        if (!parse_u64(val, (uint64_t *)g->v, why, sizeof why)) return bad_value(f, g, val, why);
        break;
    case F_FLOAT:
        if (!parse_f32(val, NULL, (float *)g->v, why, sizeof why)) return bad_value(f, g, val, why);
        break;
    case F_STR: *(const char **)g->v = val; break;
    case F_BOOL:
        if (!parse_bool(val, (int *)g->v)) return bad_value(f, g, val, "expected true/false, 1/0 or yes/no");
        break;
    case F_CHOICE:
        if (!in_choices(g->choices, val)) {
            snprintf(why, sizeof why, "expected one of %s", g->choices);
            return bad_value(f, g, val, why);
        }
        *(const char **)g->v = val;
        break;
    case F_FLIST:
        if (!parse_flist(val, (float *)g->v, g->cap, g->n, why, sizeof why)) return bad_value(f, g, val, why);
        break;
    }
    return LT_OK;
}

static lt_status check_common(const lt_flags *f) {
    lt_common_flags *cf = f->common;
    if (!cf) return LT_OK;
    if (cf->steps < 0) return lt_error(LT_ERR_ARG, "%s: --steps=%d: must be >= 0", f->name, cf->steps);
    if (cf->threads < 0) return lt_error(LT_ERR_ARG, "%s: --threads=%d: must be >= 0", f->name, cf->threads);
    if (cf->log_every < 1) return lt_error(LT_ERR_ARG, "%s: --log-every=%d: must be >= 1", f->name, cf->log_every);
    if (cf->ckpt_every < 0)
        return lt_error(LT_ERR_ARG, "%s: --ckpt-every=%d: must be >= 0", f->name, cf->ckpt_every);
    if (!cf->out || !cf->out[0]) return lt_error(LT_ERR_ARG, "%s: --out: must not be empty", f->name);
    LT_TRY(lt_device_parse(cf->device, &cf->dev));
    lt_precision prec;
    LT_TRY(lt_precision_parse(cf->matmul, &prec));
    lt_set_matmul_precision(prec);
    if (cf->threads > 0) { omp_set_num_threads(cf->threads); openblas_set_num_threads(cf->threads); }
    return LT_OK;
}

lt_status lt_flags_parse(lt_flags *f, int argc, char **argv) {
    if (!f) return lt_error(LT_ERR_ARG, "lt_flags_parse: flags is NULL");
    if (f->reg_err) return lt_error(LT_ERR_ARG, "%s: %s", f->name, f->reg_err);
    if (argc > 0) f->argv0 = argv[0];
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            lt_flags_usage(f, stdout);
            fflush(stdout);
            return LT_HELP;
        }
    for (int i = 0; i < f->n; i++) f->fl[i].set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !strcmp(a, "-") || !strcmp(a, "--"))
            return lt_error(LT_ERR_ARG, "%s: unexpected argument '%s' (flags look like --name=value)", f->name, a);
        if (a[1] != '-')
            return lt_error(LT_ERR_ARG, "%s: unknown flag %s (flags look like --name=value)", f->name, a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        lt_flag *g = find(f, name, len);
        int negated = 0;
        if (!g && len > 3 && !strncmp(name, "no-", 3)) {
            lt_flag *h = find(f, name + 3, len - 3);
            if (h && h->type == F_BOOL) { g = h; negated = 1; }
        }
        if (!g) return unknown_flag(f, name, len);
        if (g->set) return lt_error(LT_ERR_ARG, "%s: --%s given twice", f->name, g->name);
        g->set = 1;
        if (g->type == F_BOOL) {
            if (negated) {
                if (val) return lt_error(LT_ERR_ARG, "%s: --no-%s takes no value", f->name, g->name);
                *(int *)g->v = 0;
                continue;
            }
            if (!val) { *(int *)g->v = 1; continue; }
        } else if (!val) {
            if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] == '-' && argv[i + 1][2]))
                return lt_error(LT_ERR_ARG, "%s: --%s: missing value (use --%s=VALUE)", f->name, g->name, g->name);
            val = argv[++i];
        }
        LT_TRY(set_value(f, g, val));
    }
    return check_common(f);
}

int lt_flags_was_set(const lt_flags *f, const char *name) {
    const lt_flag *g = f && name ? find(f, name, strlen(name)) : NULL;
    return g ? g->set : 0;
}

static const char *type_text(const lt_flag *g) {
    switch (g->type) {
    case F_INT: return "INT";
    case F_INT64: return "INT";
    case F_U64: return "UINT";
    case F_FLOAT: return "FLOAT";
    case F_STR: return "STR";
    case F_BOOL: return "";
    case F_CHOICE: return g->choices;
    case F_FLIST: return "FLOAT,...";
    }
    return "";
}

void lt_flags_usage(const lt_flags *f, FILE *out) {
    if (!f || !out) return;
    const char *recipe = getenv("LT_TRAIN_RECIPE");
    fprintf(out, "%s: %s\n\n", f->name, f->desc);
    if (recipe && recipe[0]) fprintf(out, "usage: train %s [--flag=value ...]\n\n", recipe);
    else fprintf(out, "usage: %s [--flag=value ...]\n\n", f->argv0 ? f->argv0 : f->name);
    fprintf(out, "flags:\n");
    int w = 6;   // "--help"
    for (int i = 0; i < f->n; i++) {
        const char *t = type_text(&f->fl[i]);
        int len = 2 + (int)strlen(f->fl[i].name) + (t[0] ? 1 + (int)strlen(t) : 0);
        if (len > w) w = len;
    }
    char col[512];
    for (int i = 0; i < f->n; i++) {
        const lt_flag *g = &f->fl[i];
        const char *t = type_text(g);
        snprintf(col, sizeof col, "--%s%s%s", g->name, t[0] ? "=" : "", t);
        fprintf(out, "  %-*s  %s%s(default %s)\n", w, col, g->help, g->help[0] ? " " : "", g->def ? g->def : "?");
    }
    fprintf(out, "  %-*s  print this help\n", w, "--help");
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void json_float(FILE *out, float x) {
    char b[32];
    if (!isfinite(x)) { fputs("null", out); return; }
    float_text(x, b, sizeof b);
    fputs(b, out);
}

lt_status lt_flags_to_json(const lt_flags *f, FILE *out) {
    if (!f || !out) return lt_error(LT_ERR_ARG, "lt_flags_to_json: NULL argument");
    fputs("{", out);
    for (int i = 0; i < f->n; i++) {
        const lt_flag *g = &f->fl[i];
        fputs(i ? ",\n  " : "\n  ", out);
        json_string(out, g->name);
        fputs(": ", out);
        switch (g->type) {
        case F_INT: fprintf(out, "%d", *(int *)g->v); break;
        case F_INT64: fprintf(out, "%" PRId64, *(int64_t *)g->v); break;
        case F_U64: fprintf(out, "%" PRIu64, *(uint64_t *)g->v); break;
        case F_FLOAT: json_float(out, *(float *)g->v); break;
        case F_BOOL: fputs(*(int *)g->v ? "true" : "false", out); break;
        case F_STR:
        case F_CHOICE: {
            const char *s = *(const char **)g->v;
            if (s) json_string(out, s);
            else fputs("null", out);
            break;
        }
        case F_FLIST:
            fputc('[', out);
            for (int k = 0; k < *g->n; k++) {
                if (k) fputs(", ", out);
                json_float(out, ((float *)g->v)[k]);
            }
            fputc(']', out);
            break;
        }
    }
    fputs(f->n ? "\n}\n" : "}\n", out);
    if (ferror(out)) return lt_error(LT_ERR_IO, "lt_flags_to_json: write failed");
    return LT_OK;
}
