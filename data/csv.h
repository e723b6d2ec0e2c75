// A small CSV reader (RFC 4180 as spreadsheets and pandas write it): the first
// row is the header; fields separated by commas; double-quoted fields may hold
// commas, quotes ("") and line breaks; LF or CRLF line ends; a UTF-8 byte-order
// mark is skipped; blank lines are skipped; spaces around unquoted fields are
// trimmed. Every row must have as many fields as the header. Errors name the
// file and the line.
#ifndef LT_DATA_CSV_H
#define LT_DATA_CSV_H

#include "libtrain/status.h"

typedef struct lt_csv lt_csv;

lt_status lt_csv_read(const char *path, lt_csv **out);
void lt_csv_free(lt_csv *c);

const char *lt_csv_path(const lt_csv *c);
int lt_csv_n_cols(const lt_csv *c);
int lt_csv_n_rows(const lt_csv *c);   // data rows, header excluded
const char *lt_csv_col_name(const lt_csv *c, int col);
// Index of the column whose header equals `name` ignoring ASCII case, or -1.
int lt_csv_col(const lt_csv *c, const char *name);
const char *lt_csv_cell(const lt_csv *c, int row, int col);
// The file line on which data row `row` starts (1-based; the header is line 1 or later).
int lt_csv_line(const lt_csv *c, int row);

#endif
