/* app.h: the state shared by every API handler: configuration, store, auth caches. One
 * instance per server, built by api_app_init and handed to the HTTP layer as `app`. */
#ifndef VB_API_APP_H
#define VB_API_APP_H

#include "core/vb.h"
#include "core/config.h"
#include "http/http.h"

struct db_store;
struct auth_basic_cache;
struct auth_login_guard;
struct auth_proxies;
struct llm_service;
struct tts_service;
struct models_autopull;
struct api_sweeper;

struct api_app {
    const struct vb_config *cfg;      /* borrowed for the app's lifetime */
    struct db_store *store;           /* owned */
    struct auth_basic_cache *basic;   /* owned: verified Basic credentials */
    struct auth_login_guard *logins;  /* owned: failed-login limits (user, address) */
    struct auth_proxies *proxies;     /* owned: TRUSTED_PROXIES; NULL = none */
    struct llm_service *llm;          /* owned: the chat model (loaded on first use) */
    struct tts_service *tts;          /* owned: engines and generation pool; NULL when it
                                         could not start (speech routes answer 503) */
    struct models_autopull *autopull; /* owned: background download of default models */
    struct api_sweeper *sweeper;      /* owned: periodic orphan sweep (serve only), may be NULL */
    int64_t started_ms;               /* monotonic ms at start-up (uptime) */
    int64_t started_unix;             /* wall-clock start-up time, unix seconds */
};

/* Opens the store (applying migrations), creates the admin account from the
 * configuration and prepares the storage directories (serve then claims them and sweeps
 * orphans: api/storage.h). On error writes the reason into why. Release with
 * api_app_release. */
VB_WUR enum vb_err api_app_init(struct api_app *app, const struct vb_config *cfg, char *why,
                                size_t why_cap);
void api_app_release(struct api_app *app);
/* Starts fetching missing default models (the chat model named by LLM_MODEL when it is a
 * registry name, and Chatterbox-Turbo) in the background when MODELS_AUTO_DOWNLOAD is true;
 * health reports the progress. */
void api_app_start_downloads(struct api_app *app);

/* Handler threads for the routes that wait for a model (HTTP_ROUTE_LONG): enough for
 * every request the speech and chat queues admit (running plus waiting) and a few that are
 * being prepared or refused, so that a waiting generation never holds one of the WORKERS
 * that serve the other routes. */
int api_long_workers(const struct vb_config *cfg);

/* The route table (static storage). */
const struct http_route *api_routes(size_t *n);

/* The HTTP layer's auth callback (Bearer JWT or Basic). */
enum vb_err api_authenticate(void *app, struct http_request *req);

#endif
