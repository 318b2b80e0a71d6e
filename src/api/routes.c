/* routes.c: the one declarative route table. docs/openapi.json documents exactly these
 * (method, path) pairs; tests/http/test_platform.py checks it via `vocero routes`. */
#include "core/vb.h"
#include "api/app.h"
#include "api/handlers.h"

#define PUBLIC   HTTP_ROUTE_PUBLIC
#define UPLOAD   HTTP_ROUTE_UPLOAD
#define OPTIONAL HTTP_ROUTE_OPTIONAL_AUTH
#define LONG     HTTP_ROUTE_LONG     /* waits for a model: never holds a light-route worker */
#define PASSWORD HTTP_ROUTE_PASSWORD /* checks a password: never holds another worker */

static const struct http_route routes[] = {
    {"GET", "/", api_health, PUBLIC, "Health: status, version, database, engines, uptime"},
    {"GET", "/docs", api_docs_page, PUBLIC, "Swagger UI"},
    {"GET", "/docs/{asset}", api_docs_asset, PUBLIC, "Swagger UI static files"},
    {"GET", "/openapi.json", api_openapi, PUBLIC, "OpenAPI 3.1 document"},
    {"POST", "/auth/register", api_auth_register, PUBLIC | PASSWORD, "Create an account"},
    {"POST", "/auth/login", api_auth_login, PUBLIC | PASSWORD, "Exchange credentials for a JWT"},
    {"GET", "/auth/me", api_auth_me, 0, "The authenticated user"},
    {"POST", "/auth/password", api_auth_password, PASSWORD, "Change the password"},
    {"POST", "/voices/upload", api_voices_upload, UPLOAD, "Upload a reference voice clip"},
    {"GET", "/voices", api_voices_list, 0, "List the user's voices"},
    {"GET", "/voices/{id}", api_voices_get, 0, "One voice"},
    {"GET", "/voices/{id}/audio", api_voices_audio, 0, "The voice's reference clip"},
    {"DELETE", "/voices/{id}", api_voices_delete, 0, "Delete a voice and its file"},
    {"GET", "/history", api_history_list, 0, "The user's generations, newest first"},
    {"GET", "/history/{id}", api_history_get, 0, "One generation"},
    {"DELETE", "/history/{id}", api_history_delete, 0, "Delete a generation and its file"},
    {"GET", "/download/{filename}", api_download, OPTIONAL,
     "Download a generated file (credentials or signed link)"},
    {"POST", "/generate-tts", api_speech_generate, UPLOAD | LONG,
     "Generate speech from text (stored in the history; optional streaming)"},
    {"POST", "/demo", api_speech_demo, LONG, "Quick speech with the defaults, as WAV"},
    {"POST", "/v1/audio/speech", api_speech_openai, LONG, "OpenAI-compatible speech generation"},
    {"GET", "/engines", api_engines_list, 0, "Text-to-speech engines and their capabilities"},
    {"GET", "/ambiences", api_ambiences_list, 0, "Built-in and uploaded background ambiences"},
    {"GET", "/ambiences/{id}/preview", api_ambiences_preview, 0, "Five seconds of an ambience"},
    {"POST", "/ambiences/upload", api_ambiences_upload, UPLOAD, "Upload an ambience recording"},
    {"DELETE", "/ambiences/{id}", api_ambiences_delete, 0, "Delete an uploaded ambience"},
    {"POST", "/chat/threads", api_chat_thread_create, 0, "Start a chat thread"},
    {"GET", "/chat/threads", api_chat_thread_list, 0, "List chat threads"},
    {"GET", "/chat/threads/{id}", api_chat_thread_get, 0, "A chat thread with its messages"},
    {"PATCH", "/chat/threads/{id}", api_chat_thread_rename, 0, "Rename a chat thread"},
    {"DELETE", "/chat/threads/{id}", api_chat_thread_delete, 0, "Delete a chat thread"},
    {"POST", "/chat/threads/{id}/messages", api_chat_message_post, LONG,
     "Send a message and get the assistant's reply (JSON or SSE)"},
    {"POST", "/v1/chat/completions", api_openai_chat, LONG, "OpenAI-compatible chat completion"},
    {"GET", "/v1/models", api_openai_models, 0, "OpenAI-compatible model list"},
};

const struct http_route *api_routes(size_t *n)
{
    *n = VB_ARRAY_LEN(routes);
    return routes;
}
