/* health.c: GET /: liveness and readiness in one document. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/request.h"
#include "core/time_fmt.h"
#include "api/tts_jobs.h"
#include "db/store.h"
#include "models/autopull.h"

enum vb_err api_health(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    bool db_ok = db_ping(app->store) == VB_OK;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "status", db_ok ? "ok" : "degraded");
    vb_jw_kstr(&w, "version", VB_VERSION);
    vb_jw_key(&w, "database");
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "backend", db_backend_name(app->store));
    vb_jw_kstr(&w, "status", db_ok ? "ok" : "error");
    vb_jw_obj_end(&w);
    vb_jw_key(&w, "engines");
    vb_jw_arr_begin(&w);
    struct tts_service *tts = app->tts;
    for (size_t i = 0; tts && i < tts_registry_count(tts->registry); i++)
        vb_jw_str(&w, tts_engine_name(tts_registry_at(tts->registry, i)));
    vb_jw_arr_end(&w);
    vb_jw_key(&w, "models");
    models_autopull_write_json(app->autopull, &w);
    vb_jw_kint(&w, "uptime_s", (vb_mono_ms() - app->started_ms) / 1000);
    vb_jw_obj_end(&w);
    return api_json_send(req, db_ok ? 200 : 503, &w, &b);
}
