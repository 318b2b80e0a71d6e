/* paths.c: canonical folder paths and the overlap test. */
#include "core/vb.h"
#include "core/paths.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

/* Appends the components of rest to out (a resolved absolute path), folding ".", ".." and
 * empty components: nothing in rest exists, so none of it can be a link. */
static enum vb_err append_lexical(char out[VB_PATH_MAX], const char *rest)
{
    size_t len = strlen(out);
    while (*rest) {
        while (*rest == '/')
            rest++;
        size_t n = strcspn(rest, "/");
        if (n == 0)
            break;
        if (n == 1 && rest[0] == '.') {
            /* nothing */
        } else if (n == 2 && rest[0] == '.' && rest[1] == '.') {
            while (len > 1 && out[len - 1] != '/')
                len--;
            if (len > 1)
                len--; /* the slash, unless it is the root */
            out[len] = '\0';
        } else {
            bool root = len == 1 && out[0] == '/';
            if (len + !root + n >= VB_PATH_MAX)
                return VB_ERR_INVALID;
            if (!root)
                out[len++] = '/';
            memcpy(out + len, rest, n);
            len += n;
            out[len] = '\0';
        }
        rest += n;
    }
    return VB_OK;
}

enum vb_err vb_path_resolve(const char *path, char out[VB_PATH_MAX])
{
    char abs[VB_PATH_MAX], real[PATH_MAX];
    size_t n = path ? strlen(path) : 0;
    if (n == 0)
        return VB_ERR_INVALID;
    if (path[0] == '/') {
        if (n >= sizeof abs)
            return VB_ERR_INVALID;
        memcpy(abs, path, n + 1);
    } else {
        if (!getcwd(abs, sizeof abs))
            return VB_ERR_IO;
        size_t c = strlen(abs);
        if (c + 1 + n >= sizeof abs)
            return VB_ERR_INVALID;
        abs[c] = '/';
        memcpy(abs + c + 1, path, n + 1);
    }
    /* The longest leading part that exists is resolved by realpath; the rest is folded. */
    size_t cut = strlen(abs);
    for (;;) {
        char saved = abs[cut];
        abs[cut] = '\0';
        const char *ok = realpath(cut ? abs : "/", real);
        int e = errno;
        abs[cut] = saved;
        if (ok)
            break;
        if (e != ENOENT && e != ENOTDIR)
            return VB_ERR_IO;
        while (cut > 0 && abs[cut - 1] != '/')
            cut--;
        while (cut > 0 && abs[cut - 1] == '/')
            cut--;
    }
    if (strlen(real) >= VB_PATH_MAX)
        return VB_ERR_INVALID;
    memcpy(out, real, strlen(real) + 1);
    return append_lexical(out, abs + cut);
}

bool vb_path_overlap(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    const char *shorter = na <= nb ? a : b, *longer = na <= nb ? b : a;
    size_t ns = VB_MIN(na, nb);
    if (strncmp(shorter, longer, ns) != 0)
        return false;
    /* the same path, the root, or a whole-component prefix */
    return longer[ns] == '\0' || longer[ns] == '/' || (ns == 1 && shorter[0] == '/');
}

static bool path_delim(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == '`' ||
           c == '(' || c == ')' || c == ',' || c == ';' || c == ':';
}

/* The length of prefix when token starts with it as whole components, else 0. */
static size_t dir_prefix(const char *token, size_t n, const char *prefix)
{
    size_t np = strlen(prefix);
    while (np > 1 && prefix[np - 1] == '/')
        np--;
    if (np == 0 || np > n || strncmp(token, prefix, np) != 0)
        return 0;
    return np == n || token[np] == '/' ? np : 0;
}

#define REDACT_DIRS_MAX 8

void vb_path_redact(const char *msg, const char *const *dirs, const char *const *names,
                    size_t n_dirs, char *out, size_t cap)
{
    char real[REDACT_DIRS_MAX][VB_PATH_MAX];
    n_dirs = VB_MIN(n_dirs, (size_t)REDACT_DIRS_MAX);
    for (size_t i = 0; i < n_dirs; i++)
        if (!dirs[i] || vb_path_resolve(dirs[i], real[i]) != VB_OK)
            real[i][0] = '\0';
    size_t len = 0;
    if (!cap)
        return;
    for (const char *p = msg; *p && len + 1 < cap;) {
        bool start = p == msg || path_delim(p[-1]) || p[-1] == '=';
        size_t n = 0;
        while (!path_delim(p[n]))
            n++;
        const char *keep = NULL, *name = NULL;
        size_t skip = 0;
        for (size_t i = 0; start && n && !name && i < n_dirs; i++) {
            size_t a = real[i][0] ? dir_prefix(p, n, real[i]) : 0;
            size_t b = dirs[i] ? dir_prefix(p, n, dirs[i]) : 0;
            if (b && dirs[i][0] != '/' && b == n)
                b = 0; /* a bare word such as "models" is no path */
            if (a || b) {
                name = names[i];
                skip = VB_MAX(a, b);
            }
        }
        if (name) {
            keep = p + skip;
        } else if (start && n && p[0] == '/') {
            keep = p + n;
            while (keep > p && keep[-1] != '/')
                keep--;
        }
        if (keep) {
            int w = snprintf(out + len, cap - len, "%s%.*s", name ? name : "", (int)(p + n - keep),
                             keep);
            len = w < 0 ? len : VB_MIN(len + (size_t)w, cap - 1);
            p += n;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
}
