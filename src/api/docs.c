/* docs.c: the OpenAPI document (docs/openapi.json, embedded at build time) and Swagger UI
 * (swagger-ui-dist from npm, served from SWAGGER_UI_DIR). */
#include "core/vb.h"
#include "api/handlers.h"
#include "core/fsutil.h"

#include <stdio.h>

/* docs/openapi.json, NUL-terminated, embedded by the assembler. */
__asm__(".section .rodata\n"
        ".global api_openapi_json\n"
        ".type api_openapi_json, @object\n"
        "api_openapi_json:\n"
        ".incbin \"docs/openapi.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char api_openapi_json[];

static const char docs_html[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>Vocero API</title>\n"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n</head>\n<body>\n"
    "<div id=\"swagger-ui\"></div>\n"
    "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "<script src=\"/docs/swagger-init.js\"></script>\n</body>\n</html>\n";

static const char docs_init_js[] =
    "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui',\n"
    "  deepLinking: true, persistAuthorization: true});\n";

enum vb_err api_openapi(struct http_request *req)
{
    return http_reply_bytes(req, 200, "application/json", api_openapi_json,
                            strlen(api_openapi_json));
}

enum vb_err api_docs_page(struct http_request *req)
{
    return http_reply_bytes(req, 200, "text/html; charset=utf-8", docs_html, sizeof docs_html - 1);
}

enum vb_err api_docs_asset(struct http_request *req)
{
    static const struct {
        const char *name, *type;
    } assets[] = {{"swagger-ui.css", "text/css"},
                  {"swagger-ui-bundle.js", "application/javascript"},
                  {"favicon-32x32.png", "image/png"}};
    struct api_app *app = http_req_app(req);
    const char *name = http_req_param(req, "asset");
    if (strcmp(name, "swagger-init.js") == 0)
        return http_reply_bytes(req, 200, "application/javascript", docs_init_js,
                                sizeof docs_init_js - 1);
    for (size_t i = 0; i < VB_ARRAY_LEN(assets); i++) {
        if (strcmp(name, assets[i].name) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", app->cfg->swagger_ui_dir, name);
        return http_reply_file(req, path, assets[i].type, NULL);
    }
    return VB_ERR_NOT_FOUND;
}
