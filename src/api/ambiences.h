/* ambiences.h: background ambiences for speech: the built-in procedural ones (audio/
 * ambience.h) and recordings users upload. Uploads live in DATA_DIR/ambiences/<user id>/ as
 * "amb_<24 hex>.<ext>" plus a "amb_<24 hex>.json" description (name, format, duration...),
 * so an id is only ever found in its owner's directory. */
#ifndef VB_API_AMBIENCES_H
#define VB_API_AMBIENCES_H

#include "core/vb.h"
#include "api/app.h"
#include "audio/decode.h"
#include "http/http.h"

#define API_AMBIENCE_ID_PREFIX "amb_"

/* true when id has the shape of an uploaded ambience id ("amb_" + 24 hex digits). */
bool api_ambience_is_upload_id(const char *id);
/* Decodes the caller's uploaded ambience `id` into mono PCM (caller releases).
 * VB_ERR_NOT_FOUND when the user has none by that id. */
VB_WUR enum vb_err api_ambience_load(struct http_request *req, struct api_app *app, const char *id,
                                     struct audio_pcm *out);

#endif
