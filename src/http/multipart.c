/* multipart.c: multipart/form-data boundary extraction and body parsing; strict, bounded,
 * never copies part data. */
#include "core/vb.h"
#include "core/err.h"
#include "http/multipart.h"

#include <string.h>
#include <strings.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_tspecial(char c)
{
    return strchr("()<>@,;:\\\"/[]?={} \t", c) != NULL;
}

static bool is_token_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u < 0x7f && !is_tspecial(c);
}

/* RFC 2046 bchars (space allowed except as the last character). */
static bool is_bchar(char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

/* Parses one parameter value at *p (quoted-string or token) into out (cap bytes incl.
 * NUL). Returns false when malformed or too long; advances *p past the value. `end` bounds
 * the input. */
static bool param_value(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    size_t o = 0;
    if (s < end && *s == '"') {
        s++;
        for (;;) {
            if (s >= end)
                return false; /* unterminated */
            char c = *s++;
            if (c == '"')
                break;
            if (c == '\\') {
                if (s >= end)
                    return false;
                c = *s++;
            }
            if ((unsigned char)c < 0x20 && c != '\t')
                return false;
            if (o + 1 >= cap)
                return false;
            out[o++] = c;
        }
    } else {
        while (s < end && is_token_char(*s)) {
            if (o + 1 >= cap)
                return false;
            out[o++] = *s++;
        }
        if (o == 0)
            return false;
    }
    out[o] = '\0';
    *p = s;
    return true;
}

enum vb_err http_multipart_boundary(const char *content_type, char *out, size_t out_cap, char *why,
                                    size_t why_cap)
{
    static const char type[] = "multipart/form-data";
    if (!content_type)
        return vb_failf(why, why_cap, VB_ERR_MEDIA_TYPE,
                        "Content-Type must be multipart/form-data");
    const char *s = content_type;
    while (is_ws(*s))
        s++;
    if (strncasecmp(s, type, sizeof type - 1) != 0 ||
        (s[sizeof type - 1] != ';' && s[sizeof type - 1] != '\0' && !is_ws(s[sizeof type - 1])))
        return vb_failf(why, why_cap, VB_ERR_MEDIA_TYPE,
                        "Content-Type must be multipart/form-data");
    if (!out || out_cap < HTTP_MULTIPART_BOUNDARY_MAX + 1)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "boundary buffer too small");
    const char *end = s + strlen(s);
    s += sizeof type - 1;
    bool found = false;
    while (s < end) {
        while (s < end && (is_ws(*s) || *s == ';'))
            s++;
        const char *name = s;
        while (s < end && is_token_char(*s))
            s++;
        size_t nlen = (size_t)(s - name);
        while (s < end && is_ws(*s))
            s++;
        if (nlen == 0 || s >= end || *s != '=')
            return vb_failf(why, why_cap, VB_ERR_INVALID, "malformed Content-Type parameters");
        s++;
        while (s < end && is_ws(*s))
            s++;
        char value[HTTP_MULTIPART_BOUNDARY_MAX + 2];
        bool ok = param_value(&s, end, value, sizeof value);
        bool is_boundary = nlen == 8 && strncasecmp(name, "boundary", 8) == 0;
        if (!ok) {
            if (is_boundary)
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "multipart boundary is malformed or longer than %d characters",
                                HTTP_MULTIPART_BOUNDARY_MAX);
            return vb_failf(why, why_cap, VB_ERR_INVALID, "malformed Content-Type parameters");
        }
        if (is_boundary && !found) {
            size_t blen = strlen(value);
            if (blen > HTTP_MULTIPART_BOUNDARY_MAX)
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "multipart boundary is longer than %d characters",
                                HTTP_MULTIPART_BOUNDARY_MAX);
            if (blen == 0 || value[blen - 1] == ' ')
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "multipart boundary is empty or ends "
                                "with a space");
            for (size_t i = 0; i < blen; i++) {
                if (!is_bchar(value[i]))
                    return vb_failf(why, why_cap, VB_ERR_INVALID,
                                    "multipart boundary has an invalid character");
            }
            memcpy(out, value, blen + 1);
            found = true;
        }
        while (s < end && is_ws(*s))
            s++;
        if (s < end && *s != ';')
            return vb_failf(why, why_cap, VB_ERR_INVALID, "malformed Content-Type parameters");
    }
    if (!found)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "multipart Content-Type has no boundary");
    return VB_OK;
}

/* Parses the Content-Disposition value [v, end) into part. */
static enum vb_err parse_disposition(const char *v, const char *end, struct http_part *part,
                                     size_t index, char *why, size_t why_cap)
{
    static const char fd[] = "form-data";
    bool have_name = false;
    if ((size_t)(end - v) < sizeof fd - 1 || strncasecmp(v, fd, sizeof fd - 1) != 0)
        return vb_failf(why, why_cap, VB_ERR_INVALID,
                        "part %zu: Content-Disposition is not form-data", index + 1);
    const char *s = v + sizeof fd - 1;
    while (s < end) {
        while (s < end && is_ws(*s))
            s++;
        if (s >= end)
            break;
        if (*s != ';')
            return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: malformed Content-Disposition",
                            index + 1);
        s++;
        while (s < end && is_ws(*s))
            s++;
        if (s >= end)
            break; /* tolerate a trailing ';' */
        const char *name = s;
        while (s < end && is_token_char(*s))
            s++;
        size_t nlen = (size_t)(s - name);
        while (s < end && is_ws(*s))
            s++;
        if (nlen == 0 || s >= end || *s != '=')
            return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: malformed Content-Disposition",
                            index + 1);
        s++;
        while (s < end && is_ws(*s))
            s++;
        char scratch[HTTP_MULTIPART_FILENAME_MAX + 1];
        if (nlen == 4 && strncasecmp(name, "name", 4) == 0) {
            if (!param_value(&s, end, part->name, sizeof part->name))
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "part %zu: name is malformed or longer than %d bytes", index + 1,
                                HTTP_MULTIPART_NAME_MAX);
            have_name = true;
        } else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0) {
            if (!param_value(&s, end, part->filename, sizeof part->filename))
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "part %zu: filename is malformed or longer than %d bytes",
                                index + 1, HTTP_MULTIPART_FILENAME_MAX);
            part->has_filename = true;
        } else if (!param_value(&s, end, scratch, sizeof scratch)) {
            return vb_failf(why, why_cap, VB_ERR_INVALID,
                            "part %zu: malformed Content-Disposition parameter", index + 1);
        }
    }
    if (!have_name)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: Content-Disposition has no name",
                        index + 1);
    return VB_OK;
}

/* Parses the header block [h, end) (lines separated by CRLF, no final blank line). */
static enum vb_err parse_headers(const char *h, const char *end, struct http_part *part,
                                 size_t index, char *why, size_t why_cap)
{
    bool have_disp = false;
    if (memmem(h, (size_t)(end - h), "\r\n ", 3) || memmem(h, (size_t)(end - h), "\r\n\t", 3))
        return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: folded header lines", index + 1);
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        const char *line_end = eol ? eol : end;
        if (is_ws(*h))
            return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: folded header lines",
                            index + 1);
        for (const char *c = h; c < line_end; c++) {
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "part %zu: control character in headers", index + 1);
        }
        const char *colon = memchr(h, ':', (size_t)(line_end - h));
        if (!colon || colon == h)
            return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: malformed header line",
                            index + 1);
        for (const char *c = h; c < colon; c++) {
            if (!is_token_char(*c))
                return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: malformed header name",
                                index + 1);
        }
        const char *v = colon + 1;
        const char *ve = line_end;
        while (v < ve && is_ws(*v))
            v++;
        while (ve > v && is_ws(ve[-1]))
            ve--;
        size_t nlen = (size_t)(colon - h);
        if (nlen == 19 && strncasecmp(h, "Content-Disposition", 19) == 0) {
            if (have_disp)
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "part %zu: duplicate Content-Disposition", index + 1);
            have_disp = true;
            enum vb_err err = parse_disposition(v, ve, part, index, why, why_cap);
            if (err)
                return err;
        } else if (nlen == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
            size_t vlen = (size_t)(ve - v);
            if (vlen > HTTP_MULTIPART_CTYPE_MAX)
                return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: Content-Type too long",
                                index + 1);
            memcpy(part->content_type, v, vlen);
            part->content_type[vlen] = '\0';
        }
        h = eol ? eol + 2 : end;
    }
    if (!have_disp)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: missing Content-Disposition",
                        index + 1);
    return VB_OK;
}

enum vb_err http_multipart_parse(const char *body, size_t len, const char *boundary,
                                 struct http_multipart *mp, char *why, size_t why_cap)
{
    mp->n_parts = 0;
    size_t blen = boundary ? strlen(boundary) : 0;
    if (blen == 0 || blen > HTTP_MULTIPART_BOUNDARY_MAX)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "invalid multipart boundary");
    if (!body)
        len = 0;
    /* delim = CRLF "--" boundary; the first delimiter may lack the CRLF. */
    char delim[HTTP_MULTIPART_BOUNDARY_MAX + 5];
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    size_t dlen = blen + 4;

    const char *end = body + len;
    const char *p;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        p = body + dlen - 2;
    } else {
        const char *d = len ? memmem(body, len, delim, dlen) : NULL;
        if (!d)
            return vb_failf(why, why_cap, VB_ERR_INVALID, "multipart body has no opening boundary");
        p = d + dlen;
    }
    for (;;) {
        /* p is just after a delimiter: "--" closes, else padding then CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return VB_OK; /* the epilogue is ignored */
        while (p < end && is_ws(*p))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            if (p >= end || (end - p < 2 && *p == '\r'))
                return vb_failf(why, why_cap, VB_ERR_INVALID,
                                "multipart body is truncated (no closing boundary)");
            return vb_failf(why, why_cap, VB_ERR_INVALID, "malformed multipart boundary line");
        }
        p += 2;
        size_t index = mp->n_parts;
        if (index >= HTTP_MULTIPART_MAX_PARTS)
            return vb_failf(why, why_cap, VB_ERR_INVALID, "more than %d parts",
                            HTTP_MULTIPART_MAX_PARTS);
        struct http_part *part = &mp->parts[index];
        memset(part, 0, sizeof *part);
        /* Header block: up to the first empty line. */
        const char *hend;
        const char *data;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p;
            data = p + 2;
        } else {
            size_t window = VB_MIN((size_t)(end - p), (size_t)HTTP_MULTIPART_HEADER_MAX + 4);
            const char *blank = memmem(p, window, "\r\n\r\n", 4);
            if (!blank) {
                if (window == (size_t)(end - p))
                    return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: truncated headers",
                                    index + 1);
                return vb_failf(why, why_cap, VB_ERR_INVALID, "part %zu: headers over %d bytes",
                                index + 1, HTTP_MULTIPART_HEADER_MAX);
            }
            hend = blank;
            data = blank + 4;
        }
        enum vb_err err = parse_headers(p, hend, part, index, why, why_cap);
        if (err)
            return err;
        const char *d = memmem(data, (size_t)(end - data), delim, dlen);
        if (!d)
            return vb_failf(why, why_cap, VB_ERR_INVALID,
                            "part %zu: truncated (no closing boundary)", index + 1);
        part->data = data;
        part->len = (size_t)(d - data);
        mp->n_parts++;
        p = d + dlen;
    }
}

const struct http_part *http_multipart_get(const struct http_multipart *mp, const char *name)
{
    if (!mp || !name)
        return NULL;
    for (size_t i = 0; i < mp->n_parts; i++) {
        if (strcmp(mp->parts[i].name, name) == 0)
            return &mp->parts[i];
    }
    return NULL;
}
