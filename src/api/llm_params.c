/* llm_params.c: validation of chat generation parameters. */
#include "core/vb.h"
#include "api/llm_params.h"
#include "api/request.h"
#include "core/crypto.h"

enum vb_err api_llm_params_parse(struct http_request *req, const struct vb_json *body,
                                 struct api_llm_params *out)
{
    struct llm_gen_params g = llm_gen_default_params();
    struct nn_sampler_params *s = &g.sampling;
    double temp, top_p, top_k, min_p, rep, pres, freq, seed, max_tokens;
    enum vb_err err;
    const char *max_name =
        vb_json_get(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if ((err = api_json_number(req, body, "temperature", false, 0, 2, s->temperature, &temp)) ||
        (err = api_json_number(req, body, "top_p", false, 1e-6, 1, s->top_p, &top_p)) ||
        (err = api_json_number(req, body, "top_k", true, 0, 1000, s->top_k, &top_k)) ||
        (err = api_json_number(req, body, "min_p", false, 0, 0.999, s->min_p, &min_p)) ||
        (err = api_json_number(req, body, "repeat_penalty", false, 0.5, 2, s->repeat_penalty,
                               &rep)) ||
        (err = api_json_number(req, body, "presence_penalty", false, -2, 2, s->presence_penalty,
                               &pres)) ||
        (err = api_json_number(req, body, "frequency_penalty", false, -2, 2, s->frequency_penalty,
                               &freq)) ||
        (err = api_json_number(req, body, "seed", true, 0, 9007199254740991.0, -1, &seed)) ||
        (err = api_json_number(req, body, max_name, true, 1, API_LLM_MAX_TOKENS_MAX,
                               API_LLM_MAX_TOKENS_DEFAULT, &max_tokens)) ||
        (err = api_json_bool(req, body, "stream", false, &out->stream)))
        return err;
    s->temperature = (float)temp;
    s->top_p = (float)top_p;
    s->top_k = (int)top_k;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)rep;
    s->presence_penalty = (float)pres;
    s->frequency_penalty = (float)freq;
    if (seed >= 0) {
        s->seed = (uint64_t)seed;
    } else if (vb_random_bytes(&s->seed, sizeof s->seed) != VB_OK) {
        return VB_ERR_INTERNAL;
    }
    g.max_tokens = (int)max_tokens;
    g.stop_at_eog = true;
    out->gen = g;
    return VB_OK;
}

const char *api_llm_finish_reason(enum llm_stop stop)
{
    switch (stop) {
    case LLM_STOP_EOG:
        return "stop";
    case LLM_STOP_LENGTH:
    case LLM_STOP_CONTEXT:
        return "length";
    case LLM_STOP_CANCELLED:
        return "cancelled";
    }
    return "stop";
}
