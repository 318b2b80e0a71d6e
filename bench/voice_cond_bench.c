/* voice_cond_bench.c: reference-voice conditioning speed at the real sizes on random weights
 * (VoiceEncoder 40->256 x3 LSTM, CAMPPlus 32/128/32x4, built in memory in the official layout
 * and loaded through the real loaders): for a clip of S seconds at 24 kHz, times the S3Gen
 * prompt mel, the 24k->16k resampler, the VoiceEncoder embedding (trim + mel + LSTM), the
 * Kaldi fbank + CAMPPlus x-vector and the S3Tokenizer log-mel. (The speech tokenizer's
 * transformer is timed by its own benchmark.)
 *   voice_cond_bench [--seconds 10] [--threads 2] [--reps 3] */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/campplus.h"
#include "tts/chatterbox/frontend.h"
#include "tts/chatterbox/voice_encoder.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long arg_long(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "bad value '%s' (%ld..%ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

/* model from a freshly written random checkpoint image kept in b */
static struct nn_safetensors *random_file(struct vb_buf *b, bool campplus)
{
    struct nn_st_writer *w = NULL;
    if (nn_st_writer_new(&w) != VB_OK)
        return NULL;
    struct cb_campplus_shape cs = cb_campplus_real_shape();
    enum vb_err err = campplus ? cb_campplus_add_random(w, "speaker_encoder.", &cs, 11)
                               : cb_ve_add_random(w, "", 40, 256, 3, 256, 7);
    vb_buf_init(b, (size_t)1 << 30);
    if (err == VB_OK)
        err = nn_st_writer_to_buf(w, b);
    nn_st_writer_free(w);
    struct nn_safetensors *st = NULL;
    char why[256];
    if (err != VB_OK || nn_st_open_memory(b->data, b->len, &st, why, sizeof why) != VB_OK)
        return NULL;
    return st;
}

int main(int argc, char **argv)
{
    long seconds = 10, threads = 2, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = arg_long(argv[++i], 1, 120);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = arg_long(argv[++i], 1, 256);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0)
            reps = arg_long(argv[++i], 1, 100);
        else {
            fprintf(stderr, "usage: voice_cond_bench [--seconds S] [--threads N] [--reps R]\n");
            return 2;
        }
    }
    struct vb_buf bve, bcp;
    struct nn_safetensors *sve = random_file(&bve, false), *scp = random_file(&bcp, true);
    struct cb_ve *ve = NULL;
    struct cb_campplus *cp = NULL;
    struct cb_frontend *fe = NULL;
    struct nn_pool *pool = NULL;
    char why[256] = "";
    if (!sve || !scp || cb_ve_load(sve, "", NULL, &ve, why, sizeof why) != VB_OK ||
        cb_campplus_load(scp, "speaker_encoder.", NULL, &cp, why, sizeof why) != VB_OK ||
        cb_frontend_new(&fe) != VB_OK || nn_pool_new((int)threads, &pool) != VB_OK) {
        fprintf(stderr, "voice_cond_bench: set-up failed: %s\n", why);
        return 1;
    }
    int64_t n24 = seconds * 24000, n16 = cb_fe_resample_len(n24, 24000, 16000);
    float *w24 = vb_xmalloc((size_t)n24 * sizeof *w24), *w16 = vb_xmalloc((size_t)n16 * 4);
    uint64_t r = 12345;
    for (int64_t i = 0; i < n24; i++) { /* a gliding tone with noise, speech-like level */
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        double t = (double)i / 24000.0, noise = (double)(r >> 40) / 16777216.0 - 0.5;
        w24[i] = (float)(0.3 * sin(2 * M_PI * (120 * t + 40 * sin(t))) + 0.02 * noise);
    }
    int64_t T_mel = cb_fe_s3gen_mel_frames(n24), T_tok = cb_fe_s3tok_frames(n16);
    float *mel = vb_xmalloc((size_t)(80 * T_mel) * sizeof *mel);
    float *lm = vb_xmalloc((size_t)(128 * T_tok) * sizeof *lm);
    float emb[256], xv[192];
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (long k = 0; k < reps; k++) {
        double t0 = now();
        bool ok = cb_fe_s3gen_mel(fe, w24, n24, mel) == VB_OK;
        double t1 = now();
        ok = ok && cb_fe_resample(w24, n24, 24000, 16000, w16) == VB_OK;
        double t2 = now();
        ok = ok && cb_ve_embed_wav(ve, fe, pool, w16, n16, emb) == VB_OK;
        double t3 = now();
        ok = ok && cb_campplus_embed_wav(cp, fe, pool, w16, n16, xv) == VB_OK;
        double t4 = now();
        ok = ok && cb_fe_s3tok_log_mel(fe, w16, n16, lm) == VB_OK;
        double t5 = now();
        if (!ok) {
            fprintf(stderr, "voice_cond_bench: a stage failed\n");
            return 1;
        }
        double d[5] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4};
        for (int i = 0; i < 5; i++)
            best[i] = fmin(best[i], d[i]);
    }
    double total = 0;
    for (int i = 0; i < 5; i++)
        total += best[i];
    printf("voice conditioning, %ld s clip, %ld threads, best of %ld (random real-size weights)\n",
           seconds, threads, reps);
    printf("  s3gen prompt mel (24 kHz)     %8.1f ms\n", best[0] * 1e3);
    printf("  resample 24k->16k (sinc)      %8.1f ms\n", best[1] * 1e3);
    printf("  VoiceEncoder (trim+mel+LSTM)  %8.1f ms\n", best[2] * 1e3);
    printf("  CAMPPlus (fbank+x-vector)     %8.1f ms\n", best[3] * 1e3);
    printf("  S3Tokenizer log-mel           %8.1f ms\n", best[4] * 1e3);
    printf("  total (without tokenizer net) %8.1f ms\n", total * 1e3);
    vb_free(w24);
    vb_free(w16);
    vb_free(mel);
    vb_free(lm);
    cb_ve_free(ve);
    cb_campplus_free(cp);
    cb_frontend_free(fe);
    nn_pool_free(pool);
    nn_st_close(sve);
    nn_st_close(scp);
    vb_buf_release(&bve);
    vb_buf_release(&bcp);
    return 0;
}
