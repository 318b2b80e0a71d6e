/* result.c: the materialised result table shared by both back ends, and the typed
 * accessors the repository code reads rows with. */
#include "core/vb.h"
#include "core/alloc.h"
#include "db/backend.h"

#include <inttypes.h>

void db_result_release(struct db_result *r)
{
    if (!r)
        return;
    if (r->cells) {
        for (size_t k = 0; k < r->nrows * r->ncols; k++)
            vb_free(r->cells[k].s);
        vb_free(r->cells);
    }
    memset(r, 0, sizeof(*r));
}

enum vb_err db_result_add_row(struct db_result *r, size_t ncols, struct db_cell **row_out)
{
    if (r->nrows == 0 && r->cap_rows == 0)
        r->ncols = ncols;
    if (ncols != r->ncols || ncols == 0)
        return VB_ERR_INTERNAL;
    if (r->nrows == r->cap_rows) {
        size_t cap = r->cap_rows ? r->cap_rows * 2 : 8;
        if (cap > SIZE_MAX / sizeof(struct db_cell) / ncols)
            return VB_ERR_NOMEM;
        struct db_cell *cells = vb_try_realloc(r->cells, cap * ncols * sizeof(struct db_cell));
        if (!cells)
            return VB_ERR_NOMEM;
        r->cells = cells;
        r->cap_rows = cap;
    }
    struct db_cell *row = r->cells + r->nrows * ncols;
    memset(row, 0, ncols * sizeof(*row));
    r->nrows++;
    *row_out = row;
    return VB_OK;
}

static const struct db_cell *cell_at(const struct db_result *r, size_t row, size_t col)
{
    if (row >= r->nrows || col >= r->ncols)
        return NULL;
    return &r->cells[row * r->ncols + col];
}

int64_t db_result_int(const struct db_result *r, size_t row, size_t col)
{
    const struct db_cell *c = cell_at(r, row, col);
    if (!c)
        return 0;
    switch (c->type) {
    case DB_VAL_INT:
        return c->i;
    case DB_VAL_REAL:
        return (int64_t)c->d;
    case DB_VAL_TEXT: {
        char *end = NULL;
        long long v = strtoll(c->s, &end, 10);
        return end != c->s ? (int64_t)v : 0;
    }
    case DB_VAL_NULL:
        return 0;
    }
    return 0;
}

double db_result_real(const struct db_result *r, size_t row, size_t col)
{
    const struct db_cell *c = cell_at(r, row, col);
    if (!c)
        return 0.0;
    switch (c->type) {
    case DB_VAL_INT:
        return (double)c->i;
    case DB_VAL_REAL:
        return c->d;
    case DB_VAL_TEXT: {
        char *end = NULL;
        double v = strtod(c->s, &end);
        return end != c->s ? v : 0.0;
    }
    case DB_VAL_NULL:
        return 0.0;
    }
    return 0.0;
}

const char *db_result_text(const struct db_result *r, size_t row, size_t col)
{
    const struct db_cell *c = cell_at(r, row, col);
    if (!c || c->type == DB_VAL_NULL)
        return NULL;
    return c->s;
}

char *db_result_take_text(struct db_result *r, size_t row, size_t col)
{
    const struct db_cell *cc = cell_at(r, row, col);
    if (!cc)
        return NULL;
    struct db_cell *c = &r->cells[row * r->ncols + col];
    char num[40];
    switch (c->type) {
    case DB_VAL_NULL:
        return NULL;
    case DB_VAL_TEXT: {
        char *s = c->s;
        c->s = NULL;
        c->type = DB_VAL_NULL;
        return s;
    }
    case DB_VAL_INT:
        snprintf(num, sizeof(num), "%" PRId64, c->i);
        return vb_xstrdup(num);
    case DB_VAL_REAL:
        snprintf(num, sizeof(num), "%.17g", c->d);
        return vb_xstrdup(num);
    }
    return NULL;
}
