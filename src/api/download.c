/* download.c: GET /download/{filename}: the owner's generated files, by credentials or by
 * a signed, expiring link. Names are checked before any file system access. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/media.h"
#include "auth/signed_url.h"
#include "core/fsutil.h"
#include "core/time_fmt.h"
#include "db/store.h"

#include <stdio.h>

enum vb_err api_download(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    const char *name = http_req_param(req, "filename");
    const char *exp = http_req_query(req, "exp"), *sig = http_req_query(req, "sig");
    int64_t owner = http_req_user_id(req);
    struct db_generation g = {0};
    enum vb_err err;
    if (!vb_file_name_safe(name))
        return VB_ERR_NOT_FOUND;
    if (!owner) {
        if (!exp && !sig) {
            http_req_set_error(req, NULL,
                               "authentication required: send credentials or use "
                               "a signed link");
            return VB_ERR_UNAUTHORIZED;
        }
        err = auth_verify_download(app->cfg->secret_key, name, exp, sig, vb_now_unix());
        if (err) {
            http_req_set_error(req, "sig", "the link is invalid or has expired");
            return err;
        }
    }
    err = db_generation_get_by_file(app->store, owner ? owner : DB_ANY_USER, name, &g);
    if (!err) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", app->cfg->storage_dir, g.file_name);
        err = http_reply_file(req, path, api_content_type(g.format), g.file_name);
    }
    db_generation_release(&g);
    return err;
}
