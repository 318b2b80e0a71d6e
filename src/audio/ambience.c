/* ambience.c: procedural ambiences. Each one is a bed of filtered noise (pink/brown, slowly
 * modulated) plus random events drawn from Poisson processes: rain drops (rising damped
 * sines), keyboard clicks (band-passed noise bursts with a low "thock"), distant chatter
 * (formant-filtered buzz and noise with syllable envelopes), cup clinks (inharmonic partials),
 * passing cars (tyre noise whose brightness follows the approach, engine hum with a Doppler
 * drop), waves (slow swell, bright crash, fizzing wash), wind gusts (swept resonant band-pass
 * and a whistle), bird songs and fire crackles. All randomness comes from one seeded PRNG. */
#include "core/vb.h"
#include "audio/ambience.h"
#include "audio/dsp.h"
#include "audio/pcm.h"

#include <math.h>

#define TWO_PI      6.283185307179586
#define COEF_EVERY  32 /* samples between re-designs of swept filters */
#define RESO_POOL   64
#define BURST_POOL  48
#define MAX_TALKERS 10

static const struct audio_ambience_desc ambiences[] = {
    {"rain", "Rain", "Steady rain: a soft wash of drops with close drips and a distant rumble."},
    {"office", "Office",
     "Quiet open-plan office: air conditioning, keyboard typing nearby, colleagues chatting in "
     "the distance."},
    {"cafe", "Cafe",
     "Busy cafe: a murmur of conversations, cups and spoons clinking, an espresso machine now "
     "and then."},
    {"street", "Street",
     "City street: traffic rumble, cars passing by, the occasional horn in the distance."},
    {"wind", "Wind", "Gusty wind: rising and falling gusts with a faint whistle."},
    {"ocean", "Ocean", "Seashore: waves rolling in, breaking and washing back over the sand."},
    {"forest", "Forest", "Forest in daytime: rustling leaves, songbirds and distant insects."},
    {"fireplace", "Fireplace", "Crackling fireplace: a low flame roar with crackles and pops."},
};

size_t audio_ambience_count(void)
{
    return VB_ARRAY_LEN(ambiences);
}

const struct audio_ambience_desc *audio_ambience_at(size_t i)
{
    return i < VB_ARRAY_LEN(ambiences) ? &ambiences[i] : NULL;
}

const struct audio_ambience_desc *audio_ambience_find(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(ambiences); i++)
        if (strcmp(id, ambiences[i].id) == 0)
            return &ambiences[i];
    return NULL;
}

/* ---- event voices ------------------------------------------------------------------------ */

/* Damped sine whose frequency glides by a constant ratio per sample (drops, clinks, pops). */
struct reso {
    float amp, decay;
    double phase, w, wmul;
};

struct reso_pool {
    struct reso v[RESO_POOL];
};

/* Starts a resonance at hz with amplitude amp, decaying by 1/e in tau_s, its frequency
 * multiplied by `glide` over tau_s. Drops the event when the pool is full. */
static void reso_add(struct reso_pool *p, int rate, double hz, double amp, double tau_s,
                     double glide)
{
    if (hz >= 0.45 * rate)
        return;
    for (size_t i = 0; i < RESO_POOL; i++) {
        struct reso *v = &p->v[i];
        if (v->amp > 0.0f)
            continue;
        double n = tau_s * rate;
        v->amp = (float)amp;
        v->decay = (float)exp(-1.0 / n);
        v->phase = 0.0;
        v->w = TWO_PI * hz / rate;
        v->wmul = pow(glide, 1.0 / n);
        return;
    }
}

static float reso_run(struct reso_pool *p)
{
    float y = 0.0f;
    for (size_t i = 0; i < RESO_POOL; i++) {
        struct reso *v = &p->v[i];
        if (v->amp <= 0.0f)
            continue;
        y += v->amp * (float)sin(v->phase);
        v->phase += v->w;
        if (v->w < M_PI * 0.9)
            v->w *= v->wmul;
        v->amp *= v->decay;
        if (v->amp < 1e-5f)
            v->amp = 0.0f;
    }
    return y;
}

/* Exponentially decaying noise burst, optionally band-passed (clicks, crackles). */
struct burst {
    struct dsp_biquad bp;
    float amp, decay;
    bool filtered;
};

struct burst_pool {
    struct burst v[BURST_POOL];
};

static void burst_add(struct burst_pool *p, int rate, double hz, double q, double amp, double tau_s)
{
    for (size_t i = 0; i < BURST_POOL; i++) {
        struct burst *b = &p->v[i];
        if (b->amp > 0.0f)
            continue;
        b->filtered = hz > 0.0;
        if (b->filtered)
            dsp_biquad_bandpass(&b->bp, rate, hz, q);
        b->amp = (float)amp;
        b->decay = (float)exp(-1.0 / (tau_s * rate));
        return;
    }
}

static float burst_run(struct burst_pool *p, struct dsp_rng *r)
{
    float y = 0.0f;
    for (size_t i = 0; i < BURST_POOL; i++) {
        struct burst *b = &p->v[i];
        if (b->amp <= 0.0f)
            continue;
        float x = dsp_rng_white(r) * b->amp;
        y += b->filtered ? dsp_biquad_run(&b->bp, x) * 2.0f : x;
        b->amp *= b->decay;
        if (b->amp < 1e-5f)
            b->amp = 0.0f;
    }
    return y;
}

/* Poisson process: samples until the next event for a mean rate in events per second. */
static double next_event(struct dsp_rng *r, int rate, double per_second)
{
    return dsp_rng_exp(r, (double)rate / (per_second > 1e-6 ? per_second : 1e-6));
}

/* A distant talker: a buzz at an intonated pitch mixed with breath noise, shaped by two
 * formant band-passes that move to a new vowel on every syllable, under a syllable-rate
 * envelope, alternating between talking and pausing. */
struct talker {
    struct dsp_biquad f1, f2, lp;
    struct dsp_drift intonation;
    double f1_hz, f2_hz, f1_target, f2_target, glide;
    double saw, f0;
    double state_left, syl_pos, syl_len;
    float syl_amp, gain;
    bool talking;
    unsigned tick;
};

static void talker_init(struct talker *t, int rate, struct dsp_rng *r, double gain, double lp_hz)
{
    memset(t, 0, sizeof *t);
    t->f0 = dsp_rng_uniform(r) < 0.5 ? dsp_rng_range(r, 95, 140) : dsp_rng_range(r, 170, 250);
    t->f1_hz = t->f1_target = 500;
    t->f2_hz = t->f2_target = 1500;
    t->glide = 1.0 - exp(-1.0 / (0.02 * rate));
    dsp_biquad_bandpass(&t->f1, rate, t->f1_hz, 4.0);
    dsp_biquad_bandpass(&t->f2, rate, t->f2_hz, 7.0);
    dsp_biquad_lowpass(&t->lp, rate, lp_hz, 0.707);
    dsp_drift_init(&t->intonation, rate, 2.5, r);
    t->talking = dsp_rng_uniform(r) < 0.6;
    t->state_left = dsp_rng_range(r, 0.2, 3.0) * rate;
    t->gain = (float)(gain * dsp_rng_range(r, 0.5, 1.0));
}

static float talker_run(struct talker *t, int rate, struct dsp_rng *r)
{
    if (--t->state_left <= 0) {
        t->talking = !t->talking;
        t->state_left =
            (t->talking ? dsp_rng_range(r, 1.5, 6.0) : dsp_rng_range(r, 0.4, 3.0)) * rate;
    }
    if (++t->syl_pos >= t->syl_len) {
        t->syl_pos = 0;
        t->syl_len = dsp_rng_range(r, 0.09, 0.28) * rate;
        t->syl_amp = t->talking ? (float)dsp_rng_range(r, 0.3, 1.0) : 0.0f;
        t->f1_target = dsp_rng_range(r, 300, 850);
        t->f2_target = dsp_rng_range(r, 900, 2400);
    }
    t->f1_hz += t->glide * (t->f1_target - t->f1_hz);
    t->f2_hz += t->glide * (t->f2_target - t->f2_hz);
    if (t->tick++ % COEF_EVERY == 0) {
        dsp_biquad_set_bandpass(&t->f1, rate, t->f1_hz, 4.0);
        dsp_biquad_set_bandpass(&t->f2, rate, t->f2_hz, 7.0);
    }
    double f0 = t->f0 * (0.85 + 0.3 * dsp_drift_run(&t->intonation, r));
    t->saw += f0 / rate;
    t->saw -= floor(t->saw);
    float src = (float)(2.0 * t->saw - 1.0) * 0.6f + dsp_rng_white(r) * 0.5f;
    float env = t->syl_amp * (float)sin(M_PI * t->syl_pos / t->syl_len);
    float y = (dsp_biquad_run(&t->f1, src) + 0.7f * dsp_biquad_run(&t->f2, src)) * env;
    return dsp_biquad_run(&t->lp, y) * t->gain;
}

/* ---- ambiences ----------------------------------------------------------------------------- */

static void render_rain(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad hp, lp, rumble;
    struct dsp_drift swell, intensity;
    struct reso_pool drops = {0};
    struct burst_pool ticks = {0};
    dsp_pink_init(&pink, rate);
    dsp_biquad_highpass(&hp, rate, 400, 0.707);
    dsp_biquad_lowpass(&lp, rate, 6500, 0.707);
    dsp_biquad_lowpass(&rumble, rate, 180, 0.707);
    dsp_drift_init(&swell, rate, 0.2, r);
    dsp_drift_init(&intensity, rate, 0.04, r);
    const double drop_rate = dsp_rng_range(r, 25, 60), drip_rate = dsp_rng_range(r, 0.4, 1.5);
    double next_drop = next_event(r, rate, drop_rate), next_drip = next_event(r, rate, drip_rate);
    for (size_t i = 0; i < n; i++) {
        double inten = 0.7 + 0.3 * dsp_drift_run(&intensity, r);
        while (next_drop <= (double)i) {
            double u = dsp_rng_uniform(r), amp = 0.04 + 0.5 * u * u * u;
            double hz = 1500.0 * pow(3.6, dsp_rng_uniform(r)); /* log-uniform 1.5-5.4 kHz */
            reso_add(&drops, rate, hz, amp, dsp_rng_range(r, 0.004, 0.02), 1.3);
            burst_add(&ticks, rate, 0, 0, amp * 0.6, 0.0007);
            next_drop += next_event(r, rate, drop_rate * inten);
        }
        while (next_drip <= (double)i) {
            reso_add(&drops, rate, dsp_rng_range(r, 700, 1400), dsp_rng_range(r, 0.15, 0.35),
                     dsp_rng_range(r, 0.02, 0.04), 1.6);
            next_drip += next_event(r, rate, drip_rate);
        }
        float bed = dsp_biquad_run(&lp, dsp_biquad_run(&hp, dsp_pink_run(&pink, r)));
        bed *= (float)(inten * (0.85 + 0.3 * dsp_drift_run(&swell, r)));
        float rum = dsp_biquad_run(&rumble, dsp_rng_white(r));
        out[i] = 0.5f * bed + 0.8f * rum + 0.35f * (reso_run(&drops) + burst_run(&ticks, r));
    }
}

/* Keyboard: typing spells and pauses; each key is a press click and a softer release. */
struct typist {
    bool typing;
    double state_left, next_key, release_at;
    float release_amp;
    double key_hz;
};

static void typist_step(struct typist *t, size_t i, int rate, struct dsp_rng *r,
                        struct burst_pool *clicks, struct reso_pool *thocks, double gain)
{
    if (--t->state_left <= 0) {
        t->typing = !t->typing;
        t->state_left =
            (t->typing ? dsp_rng_range(r, 2.0, 9.0) : dsp_rng_range(r, 1.0, 6.0)) * rate;
        t->next_key = (double)i + dsp_rng_range(r, 0.05, 0.2) * rate;
    }
    if (t->typing && (double)i >= t->next_key) {
        bool space = dsp_rng_uniform(r) < 0.12;
        double amp = gain * dsp_rng_range(r, 0.5, 1.0) * (space ? 1.3 : 1.0);
        double hz = space ? dsp_rng_range(r, 900, 1400) : t->key_hz * dsp_rng_range(r, 0.8, 1.3);
        burst_add(clicks, rate, hz, 1.5, amp, dsp_rng_range(r, 0.002, 0.004));
        reso_add(thocks, rate, dsp_rng_range(r, 170, 340), amp * 0.25, 0.008, 0.9);
        t->release_at = (double)i + dsp_rng_range(r, 0.05, 0.1) * rate;
        t->release_amp = (float)(amp * 0.45);
        double gap = dsp_rng_range(r, 0.08, 0.24);
        if (dsp_rng_uniform(r) < 0.08)
            gap += dsp_rng_range(r, 0.3, 0.9); /* thinking */
        t->next_key = (double)i + gap * rate;
    }
    if (t->release_amp > 0.0f && (double)i >= t->release_at) {
        burst_add(clicks, rate, t->key_hz * 1.3, 1.5, t->release_amp, 0.002);
        t->release_amp = 0.0f;
    }
}

static void render_office(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_biquad brown, air, babble_lp;
    struct dsp_pink pink;
    struct dsp_drift hvac;
    struct burst_pool clicks = {0};
    struct reso_pool thocks = {0};
    struct talker talkers[3];
    struct typist typist = {.typing = false, .state_left = 0.5 * rate, .key_hz = 0};
    typist.key_hz = dsp_rng_range(r, 2200, 4000);
    dsp_biquad_lowpass(&brown, rate, 90, 0.707);
    dsp_biquad_lowpass(&air, rate, 1200, 0.707);
    dsp_biquad_lowpass(&babble_lp, rate, 2200, 0.707);
    dsp_pink_init(&pink, rate);
    dsp_drift_init(&hvac, rate, 0.1, r);
    for (size_t k = 0; k < 3; k++)
        talker_init(&talkers[k], rate, r, 0.5, 2000);
    const double hum_hz = dsp_rng_uniform(r) < 0.5 ? 100.0 : 120.0;
    double next_mouse = next_event(r, rate, 0.15);
    /* A desk phone across the room: 1 s of two alternating tones, 1 s of silence, a few
     * times. */
    double next_ring = dsp_rng_range(r, 10.0, 50.0) * rate, ring_pos = -1, ring_phase = 0;
    int rings_left = 0;
    const double ring_hz = dsp_rng_range(r, 900, 1400);
    struct dsp_biquad ring_lp;
    dsp_biquad_lowpass(&ring_lp, rate, 2500, 0.707);
    for (size_t i = 0; i < n; i++) {
        if ((double)i >= next_ring && ring_pos < 0) {
            rings_left = 2 + (int)(dsp_rng_uniform(r) * 3);
            ring_pos = 0;
            next_ring = (double)i + dsp_rng_range(r, 40.0, 120.0) * rate;
        }
        float ring = 0.0f;
        if (ring_pos >= 0) {
            double t = ring_pos / rate;
            if (t < 1.0) {
                double hz = fmod(t, 0.1) < 0.05 ? ring_hz : ring_hz * 1.25;
                ring_phase += TWO_PI * hz / rate;
                if (ring_phase > TWO_PI)
                    ring_phase -= TWO_PI;
                double env = fmin(1.0, fmin(t, 1.0 - t) / 0.01);
                ring = (float)(0.05 * env * (sin(ring_phase) > 0 ? 1.0 : -1.0));
            }
            if (++ring_pos >= 2.0 * rate)
                ring_pos = --rings_left > 0 ? 0 : -1;
        }
        typist_step(&typist, i, rate, r, &clicks, &thocks, 0.8);
        while (next_mouse <= (double)i) {
            burst_add(&clicks, rate, 5000, 2.0, 0.25, 0.001);
            if (dsp_rng_uniform(r) < 0.3)
                burst_add(&clicks, rate, 5200, 2.0, 0.2, 0.001);
            next_mouse += next_event(r, rate, 0.15);
        }
        float room = dsp_biquad_run(&brown, dsp_rng_white(r)) * 0.7f +
                     dsp_biquad_run(&air, dsp_pink_run(&pink, r)) * 0.15f;
        room *= (float)(0.9 + 0.2 * dsp_drift_run(&hvac, r));
        double t = (double)i / rate;
        float hum =
            (float)(0.004 * sin(TWO_PI * hum_hz * t) + 0.002 * sin(TWO_PI * 1.5 * hum_hz * t));
        float chat = 0.0f;
        for (size_t k = 0; k < 3; k++)
            chat += talker_run(&talkers[k], rate, r);
        out[i] = room + hum + 0.6f * dsp_biquad_run(&babble_lp, chat) + burst_run(&clicks, r) +
                 reso_run(&thocks) + dsp_biquad_run(&ring_lp, ring);
    }
}

static void render_cafe(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad bed_lp, steam_hp, steam_lp;
    struct reso_pool clinks = {0};
    struct talker talkers[MAX_TALKERS];
    struct dsp_drift gurgle;
    const size_t n_talk = 7 + (size_t)(dsp_rng_uniform(r) * 3.0);
    dsp_pink_init(&pink, rate);
    dsp_biquad_lowpass(&bed_lp, rate, 2500, 0.707);
    dsp_biquad_highpass(&steam_hp, rate, 2500, 0.707);
    dsp_biquad_lowpass(&steam_lp, rate, 9000, 0.707);
    dsp_drift_init(&gurgle, rate, 12, r);
    for (size_t k = 0; k < n_talk; k++)
        talker_init(&talkers[k], rate, r, 0.6, dsp_rng_range(r, 2500, 4500));
    double next_clink = next_event(r, rate, 0.7);
    double next_steam = dsp_rng_range(r, 4, 20) * rate, steam_pos = -1, steam_len = 0;
    for (size_t i = 0; i < n; i++) {
        while (next_clink <= (double)i) {
            /* A cup or spoon: partials in the ratios of a free bar, sometimes twice. */
            double f = dsp_rng_range(r, 1800, 4200), a = dsp_rng_range(r, 0.05, 0.3);
            double tau = dsp_rng_range(r, 0.08, 0.3);
            reso_add(&clinks, rate, f, a, tau, 1.0);
            reso_add(&clinks, rate, f * 2.76, a * 0.5, tau * 0.6, 1.0);
            reso_add(&clinks, rate, f * 5.40, a * 0.25, tau * 0.4, 1.0);
            next_clink += dsp_rng_uniform(r) < 0.25 ? dsp_rng_range(r, 0.08, 0.2) * rate
                                                    : next_event(r, rate, 0.7);
        }
        if ((double)i >= next_steam && steam_pos < 0) {
            steam_pos = 0;
            steam_len = dsp_rng_range(r, 2.0, 5.0) * rate;
            next_steam = (double)i + steam_len + dsp_rng_range(r, 15, 40) * rate;
        }
        float steam = 0.0f;
        if (steam_pos >= 0) {
            double u = steam_pos / steam_len;
            double env = u < 0.05 ? u / 0.05 : u > 0.85 ? (1 - u) / 0.15 : 1.0;
            steam = dsp_biquad_run(&steam_lp, dsp_biquad_run(&steam_hp, dsp_rng_white(r))) *
                    (float)(env * (0.6 + 0.4 * dsp_drift_run(&gurgle, r))) * 0.06f;
            if (++steam_pos >= steam_len)
                steam_pos = -1;
        }
        float chat = 0.0f;
        for (size_t k = 0; k < n_talk; k++)
            chat += talker_run(&talkers[k], rate, r);
        float bed = dsp_biquad_run(&bed_lp, dsp_pink_run(&pink, r)) * 0.12f;
        out[i] = 0.45f * chat + bed + reso_run(&clinks) + steam;
    }
}

/* A car driving past: tyre noise brightening as it approaches, engine hum whose pitch drops
 * as it passes (Doppler). */
struct car {
    bool active;
    double t, dur, f_engine, phase, amp;
    struct dsp_biquad tyre, engine;
};

struct horn {
    double t, dur, phase1, phase2, amp;
    bool active;
    int honks_left;
    struct dsp_biquad lp;
};

/* Someone walking past: steps at a steady cadence, each a dull heel thud and a scuff. */
struct walker {
    bool active;
    double next_step, period, steps_left, amp;
};

static void walker_step(struct walker *w, size_t i, int rate, struct dsp_rng *r,
                        struct reso_pool *thuds, struct burst_pool *scuffs)
{
    if (!w->active || (double)i < w->next_step)
        return;
    double a = w->amp * dsp_rng_range(r, 0.7, 1.0);
    reso_add(thuds, rate, dsp_rng_range(r, 80, 140), a, 0.015, 0.8);
    burst_add(scuffs, rate, dsp_rng_range(r, 1500, 3000), 1.0, a * 0.5, 0.004);
    w->next_step += w->period * dsp_rng_range(r, 0.95, 1.05);
    if (--w->steps_left <= 0)
        w->active = false;
}

static void render_street(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad rumble, far;
    struct dsp_drift traffic;
    struct car cars[6] = {0};
    struct horn horn = {0};
    dsp_pink_init(&pink, rate);
    dsp_biquad_lowpass(&rumble, rate, 120, 0.707);
    dsp_biquad_lowpass(&far, rate, 700, 0.707);
    dsp_drift_init(&traffic, rate, 0.08, r);
    dsp_biquad_lowpass(&horn.lp, rate, 2500, 0.707);
    const double car_rate = dsp_rng_range(r, 0.2, 0.5);
    double next_car = dsp_rng_range(r, 0.0, 2.0) * rate, next_horn = dsp_rng_range(r, 8, 30) * rate;
    struct talker passers[2];
    for (size_t k = 0; k < 2; k++)
        talker_init(&passers[k], rate, r, 0.25, 1500);
    struct walker walker = {0};
    struct reso_pool thuds = {0};
    struct burst_pool scuffs = {0};
    double next_walker = dsp_rng_range(r, 1.0, 8.0) * rate;
    for (size_t i = 0; i < n; i++) {
        if ((double)i >= next_walker && !walker.active) {
            walker.active = true;
            walker.period = rate / dsp_rng_range(r, 1.6, 2.2);
            walker.steps_left = dsp_rng_range(r, 6, 16);
            walker.amp = dsp_rng_range(r, 0.1, 0.3);
            walker.next_step = (double)i;
            next_walker = (double)i + dsp_rng_range(r, 6.0, 20.0) * rate;
        }
        walker_step(&walker, i, rate, r, &thuds, &scuffs);
        while (next_car <= (double)i) {
            for (size_t k = 0; k < VB_ARRAY_LEN(cars); k++) {
                struct car *c = &cars[k];
                if (c->active)
                    continue;
                c->active = true;
                c->t = 0;
                c->dur = dsp_rng_range(r, 3.0, 7.0) * rate;
                c->f_engine = dsp_rng_range(r, 35, 90);
                c->amp = dsp_rng_range(r, 0.3, 1.0);
                dsp_biquad_lowpass(&c->tyre, rate, 400, 0.707);
                dsp_biquad_lowpass(&c->engine, rate, 300, 1.0);
                break;
            }
            next_car += next_event(r, rate, car_rate);
        }
        if ((double)i >= next_horn && !horn.active) {
            horn.active = true;
            horn.t = 0;
            horn.dur = dsp_rng_range(r, 0.2, 0.6) * rate;
            horn.amp = dsp_rng_range(r, 0.08, 0.2);
            horn.honks_left = dsp_rng_uniform(r) < 0.35 ? 1 : 0;
            next_horn = (double)i + dsp_rng_range(r, 20, 60) * rate;
        }
        float y = 0.0f;
        for (size_t k = 0; k < VB_ARRAY_LEN(cars); k++) {
            struct car *c = &cars[k];
            if (!c->active)
                continue;
            double u = c->t / c->dur, s = sin(M_PI * u), close = s * s * s * s;
            if ((unsigned long)c->t % COEF_EVERY == 0)
                dsp_biquad_set_lowpass(&c->tyre, rate, 350 + 2500 * close, 0.707);
            double doppler = 1.0 + 0.045 * tanh((0.5 - u) / 0.06);
            c->phase += c->f_engine * doppler / rate;
            c->phase -= floor(c->phase);
            float eng = dsp_biquad_run(&c->engine, (float)(2.0 * c->phase - 1.0));
            float tyre = dsp_biquad_run(&c->tyre, dsp_rng_white(r));
            y += (float)(c->amp * close) * (1.4f * tyre + 0.5f * eng);
            if (++c->t >= c->dur)
                c->active = false;
        }
        if (horn.active && horn.t < 0) {
            horn.t++; /* the short gap before a second honk */
        } else if (horn.active) {
            double env = fmin(1.0, fmin(horn.t, horn.dur - horn.t) / (0.02 * rate));
            horn.phase1 += 415.0 / rate;
            horn.phase2 += 520.0 / rate;
            horn.phase1 -= floor(horn.phase1);
            horn.phase2 -= floor(horn.phase2);
            float sq = (horn.phase1 < 0.5 ? 1.0f : -1.0f) + (horn.phase2 < 0.5 ? 0.8f : -0.8f);
            y += dsp_biquad_run(&horn.lp, sq) * (float)(horn.amp * env);
            if (++horn.t >= horn.dur) {
                horn.active = horn.honks_left-- > 0;
                horn.t = -0.12 * rate;
            }
        }
        float tr = (float)(0.6 + 0.4 * dsp_drift_run(&traffic, r));
        float bed = dsp_biquad_run(&rumble, dsp_rng_white(r)) * 3.0f * tr +
                    dsp_biquad_run(&far, dsp_pink_run(&pink, r)) * 0.25f * tr;
        float voices = talker_run(&passers[0], rate, r) + talker_run(&passers[1], rate, r);
        out[i] = bed + 0.5f * y + 0.5f * voices + reso_run(&thuds) + burst_run(&scuffs, r);
    }
}

static void render_wind(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad body, whistle, rumble, air;
    struct dsp_drift gust, flutter, wobble;
    dsp_pink_init(&pink, rate);
    dsp_biquad_bandpass(&body, rate, 500, 0.8);
    const double whistle_hz = dsp_rng_range(r, 600, 1100);
    dsp_biquad_bandpass(&whistle, rate, whistle_hz, 25);
    dsp_biquad_lowpass(&rumble, rate, 60, 0.707);
    dsp_biquad_highpass(&air, rate, 2500, 0.707);
    dsp_drift_init(&gust, rate, 0.12, r);
    dsp_drift_init(&flutter, rate, 1.5, r);
    dsp_drift_init(&wobble, rate, 0.7, r);
    for (size_t i = 0; i < n; i++) {
        double gv = dsp_drift_run(&gust, r);
        double g = (0.2 + 0.8 * gv * sqrt(gv)) * (0.85 + 0.3 * dsp_drift_run(&flutter, r));
        if (i % COEF_EVERY == 0) {
            dsp_biquad_set_bandpass(&body, rate, 250 + 700 * g, 0.8);
            dsp_biquad_set_bandpass(
                &whistle, rate,
                whistle_hz * (0.8 + 0.5 * g) * (0.97 + 0.06 * dsp_drift_run(&wobble, r)), 25);
        }
        float p = dsp_pink_run(&pink, r), w = dsp_rng_white(r);
        out[i] = (float)g * (1.6f * dsp_biquad_run(&body, p) + 0.08f * dsp_biquad_run(&air, p)) +
                 (float)(g * g * g) * 5.0f * dsp_biquad_run(&whistle, w) +
                 (float)g * 2.5f * dsp_biquad_run(&rumble, w);
    }
}

struct wave {
    bool active;
    double t, rise, wash, amp;
    struct dsp_biquad roar, fizz;
};

static void render_ocean(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad bed, surf;
    struct dsp_drift bubbles, swell;
    struct wave waves[4] = {0};
    dsp_pink_init(&pink, rate);
    dsp_biquad_lowpass(&bed, rate, 300, 0.707);
    dsp_biquad_lowpass(&surf, rate, 1500, 0.707);
    dsp_drift_init(&bubbles, rate, 40, r);
    dsp_drift_init(&swell, rate, 0.15, r);
    double next_wave = dsp_rng_range(r, 0.0, 1.5) * rate;
    for (size_t i = 0; i < n; i++) {
        if ((double)i >= next_wave) {
            for (size_t k = 0; k < VB_ARRAY_LEN(waves); k++) {
                struct wave *w = &waves[k];
                if (w->active)
                    continue;
                w->active = true;
                w->t = 0;
                w->rise = dsp_rng_range(r, 2.0, 3.5) * rate;
                w->wash = dsp_rng_range(r, 3.0, 6.0) * rate;
                w->amp = dsp_rng_range(r, 0.6, 1.0);
                dsp_biquad_lowpass(&w->roar, rate, 200, 0.707);
                dsp_biquad_highpass(&w->fizz, rate, 2500, 0.707);
                break;
            }
            next_wave = (double)i + dsp_rng_range(r, 6.0, 12.0) * rate;
        }
        float p = dsp_pink_run(&pink, r), wn = dsp_rng_white(r);
        float y = 0.0f, bub = (float)(0.3 + 0.7 * dsp_drift_run(&bubbles, r));
        for (size_t k = 0; k < VB_ARRAY_LEN(waves); k++) {
            struct wave *w = &waves[k];
            if (!w->active)
                continue;
            /* Swell (slow rise), crash (brightest, ~0.4 s after the top of the swell), then a
             * wash whose roar darkens and whose fizz of bubbles fades more slowly. */
            double inten, fizz;
            if (w->t < w->rise) {
                double u = w->t / w->rise;
                inten = u * u * u;
                fizz = 0.3 * u * u * u * u;
            } else {
                double d = (w->t - w->rise) / w->wash;
                inten = exp(-3.0 * d);
                fizz = d < 0.08 ? 0.3 + 0.7 * d / 0.08 : exp(-2.0 * (d - 0.08));
            }
            if ((unsigned long)w->t % COEF_EVERY == 0)
                dsp_biquad_set_lowpass(&w->roar, rate, 200 + 3000 * inten, 0.707);
            y += (float)(w->amp * inten) * dsp_biquad_run(&w->roar, p) * 1.5f +
                 (float)(w->amp * fizz * 0.5) * dsp_biquad_run(&w->fizz, wn) * bub;
            if (++w->t >= w->rise + 4.0 * w->wash)
                w->active = false;
        }
        float sw = (float)(0.5 + 0.5 * dsp_drift_run(&swell, r));
        out[i] = y + 0.8f * dsp_biquad_run(&bed, p) + 0.12f * sw * dsp_biquad_run(&surf, p);
    }
}

/* Birds: each seed gets three species (pitch, note length, phrase length, contour). */
struct species {
    double hz, note_s, gap_s, fm_hz;
    int notes, shape; /* 0 falling, 1 rising, 2 trill, 3 two-tone */
};

struct bird {
    bool active;
    const struct species *sp;
    int note;
    double pos, len, gap_left, phase, gain, pitch;
};

static float bird_run(struct bird *b, int rate, struct dsp_rng *r)
{
    if (!b->active)
        return 0.0f;
    if (b->gap_left > 0) {
        b->gap_left--;
        return 0.0f;
    }
    const struct species *sp = b->sp;
    double u = b->pos / b->len, f = b->pitch;
    switch (sp->shape) {
    case 0:
        f *= 1.3 - 0.5 * u;
        break;
    case 1:
        f *= 0.8 + 0.45 * u;
        break;
    case 2:
        f *= 1.0 + 0.1 * sin(TWO_PI * sp->fm_hz * b->pos / rate);
        break;
    default:
        f *= (b->note % 2) ? 1.25 : 1.0;
        break;
    }
    double env = sin(M_PI * u);
    b->phase += TWO_PI * f / rate;
    if (b->phase > TWO_PI)
        b->phase -= TWO_PI;
    float y = (float)(b->gain * env * env * (sin(b->phase) + 0.12 * sin(2.0 * b->phase)));
    if (++b->pos >= b->len) {
        b->pos = 0;
        if (++b->note >= sp->notes) {
            b->active = false;
        } else {
            b->len = sp->note_s * dsp_rng_range(r, 0.85, 1.15) * rate;
            b->gap_left = sp->gap_s * dsp_rng_range(r, 0.8, 1.2) * rate;
        }
    }
    return y;
}

static void render_forest(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_pink pink;
    struct dsp_biquad hp, lp, low;
    struct dsp_drift breeze;
    struct species sp[3];
    struct bird birds[4] = {0};
    dsp_pink_init(&pink, rate);
    dsp_biquad_highpass(&hp, rate, 1200, 0.707);
    dsp_biquad_lowpass(&lp, rate, 7000, 0.707);
    dsp_biquad_lowpass(&low, rate, 200, 0.707);
    dsp_drift_init(&breeze, rate, 0.2, r);
    for (int k = 0; k < 3; k++) {
        sp[k].hz = dsp_rng_range(r, 2200, 5000);
        sp[k].note_s = dsp_rng_range(r, 0.04, 0.16);
        sp[k].gap_s = dsp_rng_range(r, 0.03, 0.12);
        sp[k].fm_hz = dsp_rng_range(r, 20, 40);
        sp[k].notes = 2 + (int)(dsp_rng_uniform(r) * 7);
        sp[k].shape = (int)(dsp_rng_uniform(r) * 4);
    }
    const bool crickets = dsp_rng_uniform(r) < 0.6;
    const double cricket_hz = dsp_rng_range(r, 4000, 5000);
    /* A woodpecker drumming in the distance now and then: ~17 knocks/s, fading. */
    double next_drum = dsp_rng_range(r, 5.0, 30.0) * rate, next_hit = -1, hit_amp = 0;
    int hits_left = 0;
    struct burst_pool knocks = {0};
    double next_song = dsp_rng_range(r, 0.2, 1.5) * rate, cricket_t = 0;
    double cricket_period = dsp_rng_range(r, 0.6, 1.0) * rate, cricket_phase = 0;
    for (size_t i = 0; i < n; i++) {
        if ((double)i >= next_song) {
            for (size_t k = 0; k < VB_ARRAY_LEN(birds); k++) {
                struct bird *b = &birds[k];
                if (b->active)
                    continue;
                b->active = true;
                b->sp = &sp[(int)(dsp_rng_uniform(r) * 3) % 3];
                b->note = 0;
                b->pos = 0;
                b->len = b->sp->note_s * rate;
                b->gap_left = 0;
                b->gain = dsp_rng_range(r, 0.12, 0.5);
                b->pitch = b->sp->hz * dsp_rng_range(r, 0.95, 1.05);
                break;
            }
            next_song = (double)i + next_event(r, rate, dsp_rng_range(r, 0.3, 0.7));
        }
        if ((double)i >= next_drum && hits_left == 0) {
            hits_left = 12 + (int)(dsp_rng_uniform(r) * 10);
            hit_amp = dsp_rng_range(r, 0.1, 0.25);
            next_hit = (double)i;
            next_drum = (double)i + dsp_rng_range(r, 15.0, 45.0) * rate;
        }
        if (hits_left > 0 && (double)i >= next_hit) {
            burst_add(&knocks, rate, dsp_rng_range(r, 700, 1100), 3.0, hit_amp, 0.004);
            hit_amp *= 0.93;
            next_hit += rate / 17.0;
            hits_left--;
        }
        float y = burst_run(&knocks, r);
        for (size_t k = 0; k < VB_ARRAY_LEN(birds); k++)
            y += bird_run(&birds[k], rate, r);
        if (crickets) {
            /* Chirps of three 15 ms pulses, 30 ms apart, once per period. */
            double tp = fmod(cricket_t, cricket_period) / rate;
            int pulse = (int)(tp / 0.03);
            double in_pulse = tp - pulse * 0.03;
            if (pulse < 3 && in_pulse < 0.015) {
                double e = sin(M_PI * in_pulse / 0.015);
                y += (float)(0.02 * e * sin(cricket_phase));
            }
            cricket_phase += TWO_PI * cricket_hz / rate;
            if (cricket_phase > TWO_PI)
                cricket_phase -= TWO_PI;
            cricket_t++;
        }
        float p = dsp_pink_run(&pink, r);
        float leaves = dsp_biquad_run(&lp, dsp_biquad_run(&hp, p)) *
                       (float)(0.25 + 0.75 * dsp_drift_run(&breeze, r)) * 0.35f;
        out[i] = y + leaves + 0.12f * dsp_biquad_run(&low, p);
    }
}

static void render_fireplace(float *out, size_t n, int rate, struct dsp_rng *r)
{
    struct dsp_biquad roar, hiss;
    struct dsp_drift flicker, slow;
    struct burst_pool crackles = {0};
    struct reso_pool pops = {0};
    dsp_biquad_lowpass(&roar, rate, 250, 0.707);
    dsp_biquad_highpass(&hiss, rate, 3000, 0.707);
    dsp_drift_init(&flicker, rate, 2.0, r);
    dsp_drift_init(&slow, rate, 0.3, r);
    double next_crackle = 0, next_pop = next_event(r, rate, 0.3), next_micro = 0;
    for (size_t i = 0; i < n; i++) {
        double fl = dsp_drift_run(&flicker, r), sl = dsp_drift_run(&slow, r);
        while (next_crackle <= (double)i) {
            double u = 1.0 - dsp_rng_uniform(r);
            double amp = fmin(0.9, 0.06 * pow(u, -0.7)); /* heavy tail: mostly small */
            burst_add(&crackles, rate, dsp_rng_range(r, 1500, 6000), 0.7, amp,
                      dsp_rng_range(r, 0.0003, 0.002));
            next_crackle += next_event(r, rate, 4.0 + 20.0 * fl * fl * sl);
        }
        while (next_micro <= (double)i) {
            burst_add(&crackles, rate, 0, 0, dsp_rng_range(r, 0.005, 0.03), 0.0002);
            next_micro += next_event(r, rate, 40.0);
        }
        while (next_pop <= (double)i) {
            double a = dsp_rng_range(r, 0.3, 0.8);
            reso_add(&pops, rate, dsp_rng_range(r, 700, 2000), a, dsp_rng_range(r, 0.006, 0.015),
                     0.9);
            burst_add(&crackles, rate, 0, 0, a, 0.001);
            next_pop += next_event(r, rate, 0.3);
        }
        float w = dsp_rng_white(r);
        float base = dsp_biquad_run(&roar, w) * (float)(0.4 + 0.6 * fl) * 1.2f;
        float air = dsp_biquad_run(&hiss, w) * (float)(0.5 + fl) * 0.03f;
        out[i] = base + air + 1.5f * (burst_run(&crackles, r) + reso_run(&pops));
    }
}

typedef void (*render_fn)(float *out, size_t n, int rate, struct dsp_rng *r);

static const render_fn renderers[] = {
    render_rain, render_office, render_cafe,   render_street,
    render_wind, render_ocean,  render_forest, render_fireplace,
};

_Static_assert(VB_ARRAY_LEN(renderers) == VB_ARRAY_LEN(ambiences), "one renderer per ambience");

/* DC block, level to AUDIO_AMBIENCE_RMS_DBFS, then a soft knee keeps peaks under -1 dBFS. */
static void finish(float *x, size_t n, int rate)
{
    struct dsp_biquad dc;
    dsp_biquad_highpass(&dc, rate, 20, 0.707);
    for (size_t i = 0; i < n; i++)
        x[i] = dsp_biquad_run(&dc, x[i]);
    double rms = audio_rms(x, n);
    float g = rms > 1e-9 ? (float)(audio_db_to_gain(AUDIO_AMBIENCE_RMS_DBFS) / rms) : 0.0f;
    const float knee = 0.7f, room = 0.19f; /* 0.89 = -1 dBFS */
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * g, a = fabsf(v);
        if (a > knee)
            v = copysignf(knee + room * tanhf((a - knee) / room), v);
        x[i] = isfinite(v) ? v : 0.0f;
    }
}

enum vb_err audio_ambience_render(const char *id, uint64_t seed, int sample_rate, size_t frames,
                                  struct audio_pcm *out)
{
    memset(out, 0, sizeof *out);
    const struct audio_ambience_desc *d = audio_ambience_find(id);
    if (!d)
        return VB_ERR_UNPROCESSABLE;
    if (sample_rate < AUDIO_MIN_SAMPLE_RATE_HZ || sample_rate > AUDIO_MAX_SAMPLE_RATE_HZ)
        return VB_ERR_INVALID;
    if (frames > AUDIO_AMBIENCE_MAX_FRAMES)
        return VB_ERR_TOO_LARGE;
    enum vb_err err = audio_pcm_alloc(out, frames, 1, sample_rate);
    if (err != VB_OK)
        return err;
    struct dsp_rng rng;
    /* Mix the id into the seed so two ambiences with one seed are unrelated. */
    dsp_rng_seed(&rng, seed * 0x9e3779b97f4a7c15ull + (uint64_t)(d - ambiences) + 1);
    renderers[d - ambiences](out->samples, frames, sample_rate, &rng);
    finish(out->samples, frames, sample_rate);
    return VB_OK;
}
