#include "data/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lt_csv {
    char *path;
    int n_cols, n_rows;
    char **cells;   // [(n_rows + 1) * n_cols]: the header row first
    int *lines;     // [n_rows + 1]: the line each row starts on
};

typedef struct {
    char **v;
    int n, cap;
} strvec;

static int strvec_push(strvec *s, char *x) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) return 0;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 1;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *b = realloc(buf, 2 * cap + 1);
        if (!b) { free(buf); buf = NULL; break; }
        buf = b;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); errno = EIO; return NULL; }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

static char *substr(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static void free_cells(strvec *cells) {
    for (int i = 0; i < cells->n; i++) free(cells->v[i]);
    free(cells->v);
}

lt_status lt_csv_read(const char *path, lt_csv **out) {
    *out = NULL;
    if (!path || !path[0]) return lt_error(LT_ERR_ARG, "lt_csv_read: empty file name");
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text) return lt_error(LT_ERR_IO, "lt_csv_read: cannot read '%s': %s", path, strerror(errno));
    if (memchr(text, 0, len)) {
        free(text);
        return lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' holds NUL bytes: not a text CSV file", path);
    }
    strvec cells = {0};
    int *lines = NULL, n_lines_cap = 0, n_rows = 0, n_cols = 0;
    lt_status s = LT_OK;
    size_t i = (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    int line = 1;
    char *tmp = malloc(len + 1);   // one field's unescaped text
    if (!tmp) { s = lt_error(LT_ERR_OOM, "lt_csv_read: '%s': out of memory", path); goto done; }
    while (i < len) {
        // One record starting at text[i], on `line`.
        int row_line = line, nf = 0, blank = 1;
        size_t row_start_cells = (size_t)cells.n;
        for (;;) {
            size_t k = 0;
            while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
            if (i < len && text[i] == '"') {
                int q_line = line;
                blank = 0;
                i++;
                for (;;) {
                    if (i >= len) {
                        s = lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' line %d: quoted field never closed", path,
                                     q_line);
                        goto done;
                    }
                    if (text[i] == '"') {
                        if (i + 1 < len && text[i + 1] == '"') { tmp[k++] = '"'; i += 2; continue; }
                        i++;
                        break;
                    }
                    if (text[i] == '\n') line++;
                    tmp[k++] = text[i++];
                }
                while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
                if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    s = lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' line %d: unexpected '%c' after a closing quote",
                                 path, line, text[i]);
                    goto done;
                }
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        s = lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' line %d: quote inside an unquoted field", path,
                                     line);
                        goto done;
                    }
                    tmp[k++] = text[i++];
                }
                while (k > 0 && (tmp[k - 1] == ' ' || tmp[k - 1] == '\t')) k--;
                if (k) blank = 0;
            }
            char *field = substr(tmp, k);
            if (!field || !strvec_push(&cells, field)) {
                free(field);
                s = lt_error(LT_ERR_OOM, "lt_csv_read: '%s': out of memory", path);
                goto done;
            }
            nf++;
            if (i < len && text[i] == ',') { i++; blank = 0; continue; }
            break;
        }
        // End of record: CRLF, LF, lone CR, or end of file.
        if (i < len && text[i] == '\r') i++;
        if (i < len && text[i] == '\n') i++;
        line++;
        if (blank && nf == 1) {
            free(cells.v[--cells.n]);
            continue;
        }
        if (n_lines_cap == 0 || n_rows + 1 >= n_lines_cap) {
            n_lines_cap = n_lines_cap ? 2 * n_lines_cap : 64;
            int *l = realloc(lines, sizeof *l * (size_t)n_lines_cap);
            if (!l) { s = lt_error(LT_ERR_OOM, "lt_csv_read: '%s': out of memory", path); goto done; }
            lines = l;
        }
        if (row_start_cells == 0) {
            n_cols = nf;
        } else if (nf != n_cols) {
            s = lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' line %d: %d field%s, but the header has %d", path, row_line,
                         nf, nf == 1 ? "" : "s", n_cols);
            goto done;
        } else {
            n_rows++;
        }
        lines[row_start_cells ? n_rows : 0] = row_line;
    }
    if (cells.n == 0) { s = lt_error(LT_ERR_FORMAT, "lt_csv_read: '%s' is empty (no header row)", path); goto done; }
    lt_csv *c = calloc(1, sizeof *c);
    if (!c || !(c->path = substr(path, strlen(path)))) {
        free(c);
        s = lt_error(LT_ERR_OOM, "lt_csv_read: '%s': out of memory", path);
        goto done;
    }
    c->n_cols = n_cols;
    c->n_rows = n_rows;
    c->cells = cells.v;
    c->lines = lines;
    cells.v = NULL;
    cells.n = 0;
    lines = NULL;
    *out = c;
done:
    free_cells(&cells);
    free(lines);
    free(tmp);
    free(text);
    return s;
}

void lt_csv_free(lt_csv *c) {
    if (!c) return;
    for (int i = 0; i < (c->n_rows + 1) * c->n_cols; i++) free(c->cells[i]);
    free(c->cells);
    free(c->lines);
    free(c->path);
    free(c);
}

const char *lt_csv_path(const lt_csv *c) { return c->path; }
int lt_csv_n_cols(const lt_csv *c) { return c->n_cols; }
int lt_csv_n_rows(const lt_csv *c) { return c->n_rows; }

const char *lt_csv_col_name(const lt_csv *c, int col) {
    return (col >= 0 && col < c->n_cols) ? c->cells[col] : NULL;
}

int lt_csv_col(const lt_csv *c, const char *name) {
    for (int j = 0; j < c->n_cols; j++)
        if (strcasecmp(c->cells[j], name) == 0) return j;
    return -1;
}

const char *lt_csv_cell(const lt_csv *c, int row, int col) {
    if (row < 0 || row >= c->n_rows || col < 0 || col >= c->n_cols) return NULL;
    return c->cells[(size_t)(row + 1) * (size_t)c->n_cols + (size_t)col];
}

int lt_csv_line(const lt_csv *c, int row) { return (row >= 0 && row < c->n_rows) ? c->lines[row + 1] : 0; }
