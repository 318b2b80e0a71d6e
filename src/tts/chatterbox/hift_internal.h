/* hift_internal.h: the HiFT vocoder's weights, shared by hift_load.c (the loader) and hift.c
 * (the forward pass). Not for use outside these two files. */
#ifndef CB_HIFT_INTERNAL_H
#define CB_HIFT_INTERNAL_H

#include "core/vb.h"
#include "tts/chatterbox/hift.h"
#include "tts/chatterbox/hift_conv.h"

#define MAX_FRAMES    (1 << 20) /* ~5.8 hours of audio: beyond that the input is refused */
#define MAX_HARMONIC  16
#define MAX_FFT       64
#define F0_MAX_LAYERS 8

/* One dilation of a ResBlock: Snake a1, dilated conv c1, Snake a2, conv c2. */
struct snake_pair {
    struct cb_hift_conv c1; /* dilated */
    struct cb_hift_conv c2; /* dilation 1 */
    float *a1, *a2;         /* Snake alphas (c) */
};

struct resblock {
    int c, n; /* channels, dilations */
    struct snake_pair d[CB_HIFT_MAX_DILATIONS];
};

struct cb_hift {
    struct cb_hift_params p;
    int spf;    /* samples per frame: prod(upsample_rates) * hop */
    int up;     /* prod(upsample_rates) */
    int margin; /* zero margin (floats) on both sides of every activation row */
    int n_harm; /* nb_harmonics + 1 */
    /* F0 predictor */
    struct cb_hift_conv f0_conv[F0_MAX_LAYERS];
    float *f0_cls_w; /* (f0_channels) */
    float f0_cls_b;
    /* source module */
    float l_w[MAX_HARMONIC];
    float l_b;
    /* generator */
    struct cb_hift_conv conv_pre;
    struct cb_hift_convt ups[CB_HIFT_MAX_STAGES];
    struct cb_hift_convs sdown[CB_HIFT_MAX_STAGES];
    struct resblock sres[CB_HIFT_MAX_STAGES];
    struct resblock res[CB_HIFT_MAX_STAGES * CB_HIFT_MAX_KERNELS];
    struct cb_hift_conv conv_post;
    float window[MAX_FFT]; /* periodic Hann (n_fft) */
};

#endif
