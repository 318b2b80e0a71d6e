/* generations.h: the JSON shape of a stored generation, shared by history and the TTS
 * routes. */
#ifndef VB_API_GENERATIONS_H
#define VB_API_GENERATIONS_H

#include "core/vb.h"
#include "core/json.h"
#include "api/app.h"
#include "db/store.h"

/* Writes the generation object (with download_url and a freshly signed signed_url). */
void api_write_generation(struct vb_jw *w, const struct api_app *app,
                          const struct db_generation *g);
/* Its members only, inside an object the caller opened (and may add members to). */
void api_write_generation_members(struct vb_jw *w, const struct api_app *app,
                                  const struct db_generation *g);

#endif
