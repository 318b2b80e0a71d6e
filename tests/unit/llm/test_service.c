/* test_service.c: the shared chat service under concurrent callers: greedy replies from
 * several threads, each on one of more conversations than the session LRU keeps (so slots
 * are evicted and reused while others wait), equal the replies of a fresh service; model
 * checks run while the first call loads the model; with one generating and queue_max
 * waiting, admission refuses at once. Also run under ThreadSanitizer (`make tsan-test`). */
#include "core/vb.h"
#include "tools/make_random_qwen2.h"
#include "llm/service.h"
#include "unit/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define N_KEYS    3 /* conversations: one more than the LRU keeps */
#define N_THREADS 3
#define N_TURNS   2 /* per thread */

static char g_model[256];
static char g_want[N_KEYS][2][512]; /* reply per conversation, first and follow-up turn */

static const char *const g_users[N_KEYS] = {"Hello the in", "the a of", "in the the"};

static struct llm_service *new_service(int cache_sessions, int queue_max)
{
    struct llm_service_params p = {.model_path = g_model,
                                   .n_ctx = 256,
                                   .n_threads = 2,
                                   .queue_max = queue_max,
                                   .cache_sessions = cache_sessions};
    struct llm_service *s = NULL;
    CHECK(llm_service_new(&p, &s) == VB_OK);
    return s;
}

/* One turn of conversation k: turn 0 is the first user message; turn 1 adds the expected
 * first reply and a follow-up (the session's cached prefix, if still there, serves it). */
static enum vb_err chat(struct llm_service *s, int k, int turn, char *out, size_t cap)
{
    struct llm_chat_msg msgs[] = {
        {"user", g_users[k]}, {"assistant", g_want[k][0]}, {"user", "the a"}};
    struct llm_chat_request r = {.session_key = 100 + k, .msgs = msgs, .n_msgs = turn ? 3 : 1};
    r.gen = llm_gen_default_params();
    r.gen.max_tokens = 6;
    r.gen.sampling.temperature = 0;
    r.gen.stop_at_eog = false;
    struct llm_chat_reply reply = {0};
    char why[256] = "";
    enum vb_err err = llm_service_admit(s, why, sizeof why);
    if (!err)
        err = llm_service_chat(s, &r, &reply, why, sizeof why);
    if (!err)
        snprintf(out, cap, "%s", reply.text ? reply.text : "");
    else
        fprintf(stderr, "  chat %d/%d: %s\n", k, turn, why);
    llm_chat_reply_release(&reply);
    return err;
}

struct caller {
    struct llm_service *s;
    int index;
    int mismatches, errors;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    for (int t = 0; t < N_TURNS; t++) {
        const int k = (c->index + t) % N_KEYS;
        for (int turn = 0; turn < 2; turn++) {
            char got[512];
            if (chat(c->s, k, turn, got, sizeof got) != VB_OK)
                c->errors++;
            else if (strcmp(got, g_want[k][turn]) != 0)
                c->mismatches++;
        }
    }
    return NULL;
}

struct checker {
    struct llm_service *s;
    atomic_bool stop;
    int failures;
};

static void *checker_main(void *arg)
{
    struct checker *c = arg;
    while (!atomic_load(&c->stop)) {
        char why[256];
        if (llm_service_check(c->s, why, sizeof why) != VB_OK)
            c->failures++;
        usleep(200);
    }
    return NULL;
}

TEST(concurrent_callers_get_the_sequential_replies)
{
    /* the expected replies, one caller, a cache large enough for every conversation */
    struct llm_service *ref = new_service(N_KEYS, 0);
    for (int k = 0; k < N_KEYS; k++)
        for (int turn = 0; turn < 2; turn++)
            CHECK(chat(ref, k, turn, g_want[k][turn], sizeof g_want[k][turn]) == VB_OK &&
                  g_want[k][turn][0] != 0);
    llm_service_free(ref);

    struct llm_service *s = new_service(N_KEYS - 1, N_THREADS + 1);
    struct checker chk = {.s = s};
    pthread_t ct, th[N_THREADS];
    struct caller callers[N_THREADS];
    CHECK(pthread_create(&ct, NULL, checker_main, &chk) == 0);
    for (int i = 0; i < N_THREADS; i++) {
        callers[i] = (struct caller){.s = s, .index = i};
        CHECK(pthread_create(&th[i], NULL, caller_main, &callers[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(callers[i].errors, 0);
        CHECK_EQ_INT(callers[i].mismatches, 0);
    }
    atomic_store(&chk.stop, true);
    pthread_join(ct, NULL);
    CHECK_EQ_INT(chk.failures, 0);
    llm_service_free(s);
}

/* A generation that waits inside its text callback until released. */
struct blocker {
    struct llm_service *s;
    atomic_bool inside, release;
    enum vb_err err;
};

static bool block_on_text(void *ud, int32_t id, const char *text, size_t len)
{
    struct blocker *b = ud;
    (void)id, (void)text, (void)len;
    atomic_store(&b->inside, true);
    while (!atomic_load(&b->release))
        usleep(500);
    return true;
}

static void *blocker_main(void *arg)
{
    struct blocker *b = arg;
    struct llm_chat_msg msg = {"user", "Hello the in"};
    struct llm_chat_request r = {.session_key = 7, .msgs = &msg, .n_msgs = 1};
    r.gen = llm_gen_default_params();
    r.gen.max_tokens = 2;
    r.gen.sampling.temperature = 0;
    r.on_text = block_on_text;
    r.ud = b;
    struct llm_chat_reply reply = {0};
    char why[256];
    b->err = llm_service_chat(b->s, &r, &reply, why, sizeof why);
    llm_chat_reply_release(&reply);
    return NULL;
}

TEST(full_queue_refuses_at_once)
{
    struct blocker b = {.s = new_service(1, 1)};
    char out[512], why[256] = "";
    CHECK(llm_service_admit(b.s, why, sizeof why) == VB_OK); /* the blocker's place */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocker_main, &b) == 0);
    while (!atomic_load(&b.inside))
        usleep(500);
    CHECK(llm_service_admit(b.s, why, sizeof why) == VB_OK); /* queue_max 1: one may wait */
    CHECK(llm_service_admit(b.s, why, sizeof why) == VB_ERR_UNAVAILABLE);
    CHECK(strstr(why, "busy") != NULL);
    llm_service_leave(b.s);
    atomic_store(&b.release, true);
    pthread_join(t, NULL);
    CHECK(b.err == VB_OK);
    /* the queue has room again */
    CHECK(chat(b.s, 0, 0, out, sizeof out) == VB_OK);
    llm_service_free(b.s);
}

int main(void)
{
    snprintf(g_model, sizeof g_model, "/tmp/vocero-test-service-%d.gguf", (int)getpid());
    struct llm_random_params p = {
        .shape = "micro", .ftype = LLM_FTYPE_Q8_0, .seed = 3, .n_threads = 2};
    char why[256] = "";
    CHECK_MSG(llm_make_random(&p, g_model, why, sizeof why) == VB_OK, "%s", why);
    RUN(concurrent_callers_get_the_sequential_replies);
    RUN(full_queue_refuses_at_once);
    unlink(g_model);
    return test_summary();
}
