/* conns.c: the open-connection registry behind two limits libmicrohttpd 0.9.75 lacks in the
 * form we need.
 *
 * Per-address limit. The accept policy callback counts the registered connections from the
 * client's address (IPv4 address, or IPv6 /64 prefix: one host usually owns a whole /64)
 * and refuses the socket when max_per_ip are open. libmicrohttpd's own
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT would refuse too, but logs every refusal without the
 * address, so a flood floods the log.
 *
 * Request-head deadline. libmicrohttpd's connection timeout is an idle timeout: a header
 * line every few seconds keeps a socket forever. Each connection's head clock starts when
 * it opens and again when a reply completes; it stops when the head is complete (the
 * access handler's first call). A watchdog thread shuts down (shutdown(2), read and write)
 * sockets whose clock passes head_timeout_s; libmicrohttpd then sees the end of the stream
 * and closes the connection on its own thread. The registry entry is removed in the CLOSED
 * notification, which libmicrohttpd sends before it closes the socket, so the watchdog only
 * ever touches live descriptors (it holds the lock).
 *
 * Both limits log at most one line per LOG_EVERY_S seconds each; what happened in between is
 * counted and reported by the watchdog. Accepts on the I/O threads race a little (each
 * counts before the other registers), so an address may briefly get io_threads - 1 more. */
#include "core/vb.h"
#include "http/internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time_fmt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LOG_EVERY_S 10.0
#define TICK_MS     250 /* watchdog period: the deadline is kept within this */

struct conn_slot {
    struct conn_slot *prev, *next;
    struct http_conns *owner;
    int fd;
    unsigned char key[8]; /* IPv4 address, or IPv6 /64 prefix */
    size_t key_len;       /* 4 or 8; 0 = not an IP address (never limited) */
    char ip[INET6_ADDRSTRLEN];
    double head_since_s; /* when the head clock started */
    bool waiting_head;   /* the clock runs */
    bool cut;            /* shut down by the watchdog */
};

/* One log line per LOG_EVERY_S; events in between are counted. */
struct log_gate {
    double last_s;
    unsigned long held;
    char last_ip[INET6_ADDRSTRLEN];
};

struct http_conns {
    int max_open;       /* libmicrohttpd's overall limit (MHD_OPTION_CONNECTION_LIMIT) */
    int n_open;         /* registered connections */
    int max_per_ip;     /* 0 = no limit */
    int head_timeout_s; /* > 0 */
    pthread_mutex_t lock;
    pthread_cond_t cv; /* quit */
    bool quit;
    pthread_t watchdog;
    bool watchdog_running;
    struct conn_slot *head;
    struct log_gate refused; /* per-address limit */
    struct log_gate cut;     /* head deadline */
    struct log_gate full;    /* libmicrohttpd's overall connection limit */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The address key of sa (see struct conn_slot); false when it is not an IP address. */
static bool address_key(const struct sockaddr *sa, unsigned char key[8], size_t *key_len, char *ip,
                        size_t ip_cap)
{
    *key_len = 0;
    if (ip_cap)
        ip[0] = '\0';
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memcpy(key, &s4->sin_addr, 4);
        *key_len = 4;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ip_cap);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            memcpy(key, s6->sin6_addr.s6_addr + 12, 4);
            *key_len = 4;
        } else {
            memcpy(key, s6->sin6_addr.s6_addr, 8);
            *key_len = 8;
        }
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ip_cap);
        return true;
    }
    return false;
}

/* "; N more ... since the last line" when held > 0, else "". */
static const char *held_note(unsigned long held, const char *what, char *out, size_t cap)
{
    out[0] = '\0';
    if (held)
        snprintf(out, cap, "; %lu more %s since the last line", held, what);
    return out;
}

/* Records an event; true when its line may be written now (*held: events not yet
 * reported, this one excluded). Caller holds the lock. */
static bool gate_pass(struct log_gate *g, const char *ip, unsigned long *held)
{
    double now = now_s();
    snprintf(g->last_ip, sizeof g->last_ip, "%s", ip);
    if (g->last_s > 0 && now - g->last_s < LOG_EVERY_S) {
        g->held++;
        return false;
    }
    *held = g->held;
    g->held = 0;
    g->last_s = now;
    return true;
}

/* The count of events held back for at least LOG_EVERY_S, and resets it (0 = nothing to
 * say yet). Caller holds the lock. */
static unsigned long gate_flush(struct log_gate *g, char *ip, size_t ip_cap)
{
    if (!g->held || now_s() - g->last_s < LOG_EVERY_S)
        return 0;
    unsigned long n = g->held;
    g->held = 0;
    g->last_s = now_s();
    if (ip_cap)
        snprintf(ip, ip_cap, "%s", g->last_ip);
    return n;
}

enum MHD_Result http_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    struct http_conns *c = cls;
    unsigned char key[8];
    size_t key_len;
    char ip[INET6_ADDRSTRLEN];
    if (!c->max_per_ip || !address_key(addr, key, &key_len, ip, sizeof ip))
        return MHD_YES;
    pthread_mutex_lock(&c->lock);
    int open = 0;
    for (const struct conn_slot *s = c->head; s; s = s->next)
        open += s->key_len == key_len && memcmp(s->key, key, key_len) == 0;
    unsigned long held = 0;
    bool refuse = open >= c->max_per_ip;
    bool say = refuse && gate_pass(&c->refused, ip, &held);
    pthread_mutex_unlock(&c->lock);
    char note[96];
    if (say)
        vb_warn("http: refused a connection from %s: %d already open from that address "
                "(MAX_CONNECTIONS_PER_IP)%s",
                ip, open, held_note(held, "refused", note, sizeof note));
    return refuse ? MHD_NO : MHD_YES;
}

void http_conns_overall_limit(struct http_conns *c)
{
    unsigned long held = 0;
    pthread_mutex_lock(&c->lock);
    bool say = gate_pass(&c->full, "", &held);
    pthread_mutex_unlock(&c->lock);
    char note[96];
    if (say)
        vb_warn("http: refused a connection: %d open, the limit%s", c->max_open,
                held_note(held, "such events", note, sizeof note));
}

void http_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct http_conns *c = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_slot *s = *socket_context;
        if (!s)
            return;
        pthread_mutex_lock(&c->lock);
        if (s->prev)
            s->prev->next = s->next;
        else
            c->head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        c->n_open--;
        pthread_mutex_unlock(&c->lock);
        *socket_context = NULL;
        vb_free(s);
        return;
    }
    struct conn_slot *s = vb_try_calloc(1, sizeof *s);
    *socket_context = s;
    if (!s)
        return; /* untracked: no deadline, not counted */
    s->owner = c;
    s->fd = -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        s->fd = ci->connect_fd;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    address_key(ci ? ci->client_addr : NULL, s->key, &s->key_len, s->ip, sizeof s->ip);
    s->head_since_s = now_s();
    s->waiting_head = true;
    unsigned long held = 0;
    pthread_mutex_lock(&c->lock);
    s->next = c->head;
    if (c->head)
        c->head->prev = s;
    c->head = s;
    int open = ++c->n_open;
    /* Near the limit, not at it: at it libmicrohttpd stops accepting and new clients wait in
     * the listen backlog without a word. */
    bool say = (long)open * 10 >= (long)c->max_open * 9 && gate_pass(&c->full, s->ip, &held);
    pthread_mutex_unlock(&c->lock);
    char note[96];
    if (say)
        vb_warn("http: %d connections open, near the limit of %d: new clients may wait (the "
                "last from %s; see MAX_CONNECTIONS_PER_IP, HEADER_TIMEOUT_SECONDS)%s",
                open, c->max_open, s->ip, held_note(held, "such events", note, sizeof note));
}

static struct conn_slot *slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_waiting(struct MHD_Connection *conn, bool waiting)
{
    struct conn_slot *s = slot_of(conn);
    if (!s)
        return;
    pthread_mutex_lock(&s->owner->lock);
    s->waiting_head = waiting;
    s->head_since_s = now_s();
    pthread_mutex_unlock(&s->owner->lock);
}

void http_conns_head_done(struct MHD_Connection *conn)
{
    set_waiting(conn, false);
}

void http_conns_head_wait(struct MHD_Connection *conn)
{
    set_waiting(conn, true);
}

static void *watchdog_main(void *arg)
{
    struct http_conns *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->quit) {
        struct timespec until;
        vb_mono_deadline(&until, TICK_MS);
        pthread_cond_timedwait(&c->cv, &c->lock, &until);
        if (c->quit)
            break;
        double now = now_s();
        char first_ip[INET6_ADDRSTRLEN] = "";
        unsigned long n_cut = 0, held = 0;
        bool say = false;
        for (struct conn_slot *s = c->head; s; s = s->next) {
            if (!s->waiting_head || s->cut || s->fd < 0 ||
                now - s->head_since_s < (double)c->head_timeout_s)
                continue;
            s->cut = true;
            shutdown(s->fd, SHUT_RDWR);
            if (gate_pass(&c->cut, s->ip, &held) && !say) {
                say = true;
                snprintf(first_ip, sizeof first_ip, "%s", s->ip);
            }
            n_cut++;
        }
        char ip_refused[INET6_ADDRSTRLEN], ip_cut[INET6_ADDRSTRLEN];
        unsigned long late_refused = gate_flush(&c->refused, ip_refused, sizeof ip_refused);
        unsigned long late_cut = gate_flush(&c->cut, ip_cut, sizeof ip_cut);
        unsigned long late_full = gate_flush(&c->full, ip_cut, 0);
        int timeout_s = c->head_timeout_s, max_per_ip = c->max_per_ip, max_open = c->max_open;
        pthread_mutex_unlock(&c->lock);
        char note[96];
        if (say)
            vb_warn("http: closed a connection from %s that had not sent a whole request head "
                    "in %d s (HEADER_TIMEOUT_SECONDS)%s",
                    first_ip, timeout_s, held_note(held, "closed", note, sizeof note));
        if (late_refused)
            vb_warn("http: refused %lu more connection(s) over %d per address "
                    "(MAX_CONNECTIONS_PER_IP) in the last %.0f s, the last from %s",
                    late_refused, max_per_ip, LOG_EVERY_S, ip_refused);
        if (late_cut)
            vb_warn("http: closed %lu more connection(s) whose request head took over %d s "
                    "(HEADER_TIMEOUT_SECONDS) in the last %.0f s, the last from %s",
                    late_cut, timeout_s, LOG_EVERY_S, ip_cut);
        if (late_full)
            vb_warn("http: %lu more connection(s) near or at the limit of %d in the last %.0f s",
                    late_full, max_open, LOG_EVERY_S);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct http_conns *http_conns_new(int max_open, int max_per_ip, int head_timeout_s, char *why,
                                  size_t why_cap)
{
    struct http_conns *c = vb_xcalloc(1, sizeof *c);
    c->max_open = max_open > 0 ? max_open : 1;
    c->max_per_ip = max_per_ip > 0 ? max_per_ip : 0;
    c->head_timeout_s = head_timeout_s > 0 ? head_timeout_s : 10;
    pthread_mutex_init(&c->lock, NULL);
    vb_cond_init_mono(&c->cv);
    int rc = pthread_create(&c->watchdog, NULL, watchdog_main, c);
    if (rc) {
        snprintf(why, why_cap, "cannot start the connection watchdog: %s", strerror(rc));
        http_conns_free(c);
        return NULL;
    }
    c->watchdog_running = true;
    return c;
}

void http_conns_free(struct http_conns *c)
{
    if (!c)
        return;
    if (c->watchdog_running) {
        pthread_mutex_lock(&c->lock);
        c->quit = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->watchdog, NULL);
    }
    while (c->head) { /* none after MHD_stop_daemon; a failed start may leave none too */
        struct conn_slot *s = c->head;
        c->head = s->next;
        vb_free(s);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->lock);
    vb_free(c);
}
