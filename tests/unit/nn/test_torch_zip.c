/* test_torch_zip.c: the PyTorch zip-pickle reader on conds.pt-shaped fixtures (values, views
 * at storage offsets, None entries, the Chatterbox mapping), hand-made archives with
 * forbidden globals and malformed pickles, and every truncation / random corruption of a
 * fixture refused without a crash. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/torch_zip.h"
#include "tts/chatterbox/voice_cond.h"
#include "unit/test.h"

#include <stdio.h>
#include <stdlib.h>

static const char *fixtures[] = {
    "tests/unit/nn/fixtures/conds_stdlib.pt", /* stdlib emulation of torch.save */
    "tests/unit/nn/fixtures/conds_view.pt",   /* real torch.save (mk_torch_fixtures.py) */
    "tests/unit/nn/fixtures/conds_full.pt",
};

static bool exists(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static const struct nn_pk *path2(const struct nn_pk *r, const char *a, const char *b)
{
    return nn_pk_get(nn_pk_get(r, a), b);
}

static void check_fixture(const char *path, int P1, int P)
{
    struct nn_tz *tz = NULL;
    char why[256] = "";
    CHECK_MSG(nn_tz_open(path, &tz, why, sizeof why) == VB_OK, "%s: %s", path, why);
    if (!tz)
        return;
    const struct nn_pk *r = nn_tz_root(tz);
    CHECK(r && r->type == NN_PK_DICT);
    const struct nn_pk *t = path2(r, "t3", "speaker_emb");
    CHECK(t && t->type == NN_PK_TENSOR && t->dtype == NN_ST_F32 && t->n_dims == 2 &&
          t->shape[0] == 1 && t->shape[1] == 256);
    float v[2];
    if (t && t->type == NN_PK_TENSOR) { /* data may be unaligned */
        memcpy(&v[0], t->data, 4);
        memcpy(&v[1], (const float *)t->data + 255, 4);
        CHECK(v[0] == -0.5f && v[1] == 127.0f / 256);
    }
    t = path2(r, "t3", "clap_emb");
    CHECK(t && t->type == NN_PK_NONE);
    t = path2(r, "t3", "cond_prompt_speech_tokens");
    CHECK(t && t->type == NN_PK_TENSOR && t->dtype == NN_ST_I64 && nn_pk_numel(t) == P1);
    t = path2(r, "t3", "emotion_adv");
    CHECK(t && t->type == NN_PK_TENSOR && t->n_dims == 3 && memcpy(v, t->data, 4) && v[0] == 0.5f);
    t = path2(r, "gen", "prompt_feat");
    CHECK(t && t->type == NN_PK_TENSOR && t->shape[1] == 2 * P && t->shape[2] == 80);
    if (t && t->type == NN_PK_TENSOR) { /* starts at the view's offset */
        memcpy(v, t->data, 8);
        CHECK(v[0] == -3.0f && v[1] == 1 / 1000.0f - 3);
    }
    t = path2(r, "gen", "prompt_token_len");
    int64_t len = 0;
    CHECK(t && t->type == NN_PK_TENSOR && memcpy(&len, t->data, 8) && len == P);
    CHECK(path2(r, "gen", "nope") == NULL && nn_pk_get(r, "t3") != NULL);
    nn_tz_close(tz);

    struct cb_voice_cond c;
    CHECK_MSG(cb_voice_cond_load_pt(path, &c, why, sizeof why) == VB_OK, "%s", why);
    CHECK(c.spk_dim == 256 && c.n_t3_tokens == P1 && c.xvec_dim == 192 && c.n_prompt_tokens == P &&
          c.n_prompt_frames == 2 * P);
    if (c.t3_tokens && c.prompt_tokens && c.xvector && c.prompt_feat) {
        CHECK(c.t3_tokens[3] == 21 && c.prompt_tokens[2] == 31);
        CHECK(c.xvector[0] == -96.0f / 50 && c.prompt_feat[80] == 80 / 1000.0f - 3);
    }
    cb_voice_cond_release(&c);
}

TEST(fixtures_read)
{
    check_fixture(fixtures[0], 40, 30);
    if (exists(fixtures[1])) {
        check_fixture(fixtures[1], 40, 30);
        check_fixture(fixtures[2], 375, 250);
    } else {
        SKIP_MISSING_DATA(real_torch_fixtures,
                          "tests/unit/nn/fixtures/conds_{view,full}.pt absent");
    }
}

/* minimal stored zip with one entry per (name, data) */
static void zip_add(struct vb_buf *z, struct vb_buf *cd, const char *name, const void *data,
                    size_t len, int *count)
{
    uint32_t off = (uint32_t)z->len;
    uint16_t nl = (uint16_t)strlen(name);
    uint8_t lh[30] = {0x50, 0x4b, 0x03, 0x04, 20};
    memcpy(lh + 18, &(uint32_t){(uint32_t)len}, 4);
    memcpy(lh + 22, &(uint32_t){(uint32_t)len}, 4);
    memcpy(lh + 26, &nl, 2);
    CHECK(vb_buf_append(z, lh, 30) == VB_OK && vb_buf_append(z, name, nl) == VB_OK &&
          vb_buf_append(z, data, len) == VB_OK);
    uint8_t ch[46] = {0x50, 0x4b, 0x01, 0x02, 20, 0, 20};
    memcpy(ch + 20, &(uint32_t){(uint32_t)len}, 4);
    memcpy(ch + 24, &(uint32_t){(uint32_t)len}, 4);
    memcpy(ch + 28, &nl, 2);
    memcpy(ch + 42, &off, 4);
    CHECK(vb_buf_append(cd, ch, 46) == VB_OK && vb_buf_append(cd, name, nl) == VB_OK);
    (*count)++;
}

static enum vb_err open_pickle(const void *pkl, size_t len, char *why, size_t cap)
{
    struct vb_buf z, cd;
    vb_buf_init(&z, 1 << 20);
    vb_buf_init(&cd, 1 << 20);
    int count = 0;
    static const float four[4] = {1, 2, 3, 4};
    zip_add(&z, &cd, "a/data.pkl", pkl, len, &count);
    zip_add(&z, &cd, "a/data/0", four, sizeof four, &count);
    uint32_t cd_off = (uint32_t)z.len, cd_len = (uint32_t)cd.len;
    CHECK(vb_buf_append(&z, cd.data, cd.len) == VB_OK);
    uint8_t e[22] = {0x50, 0x4b, 0x05, 0x06};
    memcpy(e + 8, &(uint16_t){(uint16_t)count}, 2);
    memcpy(e + 10, &(uint16_t){(uint16_t)count}, 2);
    memcpy(e + 12, &cd_len, 4);
    memcpy(e + 16, &cd_off, 4);
    CHECK(vb_buf_append(&z, e, 22) == VB_OK);
    struct nn_tz *tz = NULL;
    enum vb_err err = nn_tz_open_memory(z.data, z.len, &tz, why, cap);
    nn_tz_close(tz);
    vb_buf_release(&z);
    vb_buf_release(&cd);
    return err;
}

#define PK(s) (s), sizeof(s) - 1

TEST(hand_made_pickles)
{
    char why[256] = "";
    /* a plain tensor of the 4-float storage: accepted */
    CHECK_MSG(open_pickle(PK("\x80\x02"
                             "ctorch._utils\n_rebuild_tensor_v2\n"
                             "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
                             "0X\x03\x00\x00\x00"
                             "cpuK\x04tQK\x01K\x03\x85K\x01\x85\x89)tR."),
                          why, sizeof why) == VB_OK,
              "%s", why);
    /* code execution attempts are refused by name */
    CHECK(open_pickle(PK("\x80\x02"
                         "cos\nsystem\nX\x02\x00\x00\x00ls\x85R."),
                      why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "os.system") && strstr(why, "not allowed"));
    CHECK(open_pickle(PK("\x80\x02"
                         "cbuiltins\neval\n."),
                      why, sizeof why) == VB_ERR_FORMAT);
    /* storage globals are not callable; REDUCE needs a callable */
    CHECK(open_pickle(PK("\x80\x02"
                         "ctorch\nFloatStorage\n)R."),
                      why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02"
                         "K\x01)R."),
                      why, sizeof why) == VB_ERR_FORMAT);
    /* tensor past its storage (offset 2 + 3 elements > 4) */
    CHECK(open_pickle(PK("\x80\x02"
                         "ctorch._utils\n_rebuild_tensor_v2\n"
                         "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
                         "0X\x03\x00\x00\x00"
                         "cpuK\x04tQK\x02K\x03\x85K\x01\x85\x89)tR."),
                      why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "storage"));
    /* storage claiming more elements than its entry holds; missing storage entry */
    CHECK(open_pickle(PK("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                         "X\x01\x00\x00\x00"
                         "0X\x03\x00\x00\x00"
                         "cpuK\x05tQ."),
                      why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                         "X\x01\x00\x00\x00"
                         "9X\x03\x00\x00\x00"
                         "cpuK\x01tQ."),
                      why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "missing"));
    /* non-contiguous strides, unknown opcode, truncation, stack underflow, bad memo */
    CHECK(open_pickle(PK("\x80\x02"
                         "ctorch._utils\n_rebuild_tensor_v2\n"
                         "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
                         "0X\x03\x00\x00\x00"
                         "cpuK\x04tQK\x00K\x02K\x02\x86K\x01K\x02\x86\x89)tR."),
                      why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "contiguous"));
    CHECK(open_pickle(PK("\x80\x02\xff."), why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "opcode"));
    CHECK(open_pickle(PK("\x80\x02X\xff\xff\x00\x00ab"), why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02s."), why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02h\x05."), why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02."), why, sizeof why) == VB_ERR_FORMAT);
    CHECK(open_pickle(PK("\x80\x02}(K\x01u."), why, sizeof why) == VB_ERR_FORMAT);
    /* a self-referencing list (memo) is fine: no recursion anywhere */
    CHECK(open_pickle(PK("\x80\x02]q\x00h\x00"
                         "a."),
                      why, sizeof why) == VB_OK);
    /* not a zip / no data.pkl */
    struct nn_tz *tz = NULL;
    CHECK(nn_tz_open_memory("PK\x05\x06", 4, &tz, why, sizeof why) == VB_ERR_FORMAT && !tz);
    CHECK(nn_tz_open("/nonexistent.pt", &tz, why, sizeof why) == VB_ERR_NOT_FOUND);
}

TEST(corruptions)
{
    FILE *f = fopen(fixtures[0], "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    static uint8_t buf[1 << 16], tmp[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char why[256];
    struct nn_tz *tz = NULL;
    /* every truncation fails cleanly (the central directory sits at the end) */
    for (size_t cut = 0; cut < n; cut += 7) {
        memcpy(tmp, buf, cut);
        CHECK(nn_tz_open_memory(tmp, cut, &tz, why, sizeof why) != VB_OK && !tz);
    }
    /* random byte flips: any result, but no crash (ASan/UBSan builds check the rest) */
    uint64_t r = 42;
    int ok = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(tmp, buf, n);
        for (int k = 0; k < 4; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            tmp[(r >> 33) % n] ^= (uint8_t)(1u << ((r >> 20) & 7));
        }
        if (nn_tz_open_memory(tmp, n, &tz, why, sizeof why) == VB_OK) {
            ok++;
            nn_tz_close(tz);
        }
    }
    fprintf(stderr, "  %d of 3000 corrupted copies still parse\n", ok);
}

int main(void)
{
    RUN(fixtures_read);
    RUN(hand_made_pickles);
    RUN(corruptions);
    return test_summary();
}
