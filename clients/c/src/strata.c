/*
 * Strata C client: gRPC over one HTTP/2 connection (libnghttp2, memory-based send/recv, poll loop),
 * messages with protobuf-c. See include/strata.h for the API and the ownership rules.
 */
#define _GNU_SOURCE
#include "strata.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "strata/v1/feature_store.pb-c.h"

#define SERVICE_PREFIX "/strata.v1.FeatureStore/"
#define USER_AGENT "strata-c/0.1 (nghttp2)"
#define OUT_CHUNK (64 * 1024)
#define IN_CHUNK (64 * 1024)

/* ---- names ------------------------------------------------------------------------------------- */

static const char *const CODE_NAMES[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

const char *strata_code_name(int code) {
    if (code < 0 || code > 16) return "UNKNOWN_CODE";
    return CODE_NAMES[code];
}

const char *strata_value_status_name(strata_value_status status) {
    switch (status) {
    case STRATA_PRESENT: return "PRESENT";
    case STRATA_DEFAULTED: return "DEFAULTED";
    case STRATA_MISSING: return "MISSING";
    case STRATA_EXPIRED: return "EXPIRED";
    default: return "STATUS_UNSPECIFIED";
    }
}

const char *strata_dtype_name(strata_dtype dtype) {
    switch (dtype) {
    case STRATA_NULL: return "NULL";
    case STRATA_FLOAT: return "FLOAT";
    case STRATA_INT: return "INT";
    case STRATA_STRING: return "STRING";
    case STRATA_EMBEDDING: return "EMBEDDING";
    default: return "DTYPE_UNSPECIFIED";
    }
}

/* ---- types ------------------------------------------------------------------------------------- */

enum call_kind { CALL_UNARY, CALL_LOOKUP, CALL_WRITE, CALL_PUSH };

/* Bump allocator for decoded lookup responses: protobuf-c makes several small allocations per entity
 * (vector, results, values); an arena turns them into a few large blocks freed at once. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct arena {
    arena_block *head;
} arena;

static void *arena_alloc(void *data, size_t size) {
    arena *a = data;
    size = (size + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = b ? b->cap * 2 : 16384;
        if (cap > ((size_t)1 << 20)) cap = (size_t)1 << 20;
        if (cap < size) cap = size;
        arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static void arena_free_one(void *data, void *p) {
    (void)data;
    (void)p; /* freed with the arena */
}

static void arena_release(arena *a) {
    while (a->head) {
        arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

struct strata_result {
    Strata__V1__GetOnlineFeaturesResponse *msg; /* allocated in `mem` */
    arena mem;
};

/* A growable byte buffer. */
typedef struct buf {
    uint8_t *data;
    size_t len, cap;
} buf;

struct strata_call {
    strata_client *client;
    enum call_kind kind;
    int32_t stream_id;  /* 0 until submitted to nghttp2 */
    int done;
    int code;
    char *message;
    int64_t start_ns, end_ns, deadline_ns; /* deadline 0 = none */
    void *user_data;

    /* Request body: DATA is read from body[body_off..body.len); body_eof = no more will come. */
    buf body;
    size_t body_off;
    int body_eof;
    int deferred; /* the data provider returned NGHTTP2_ERR_DEFERRED */

    /* Response. */
    int http_status;
    int grpc_content_type;
    int grpc_status; /* -1 = not received */
    char *grpc_message;
    buf resp;
    const ProtobufCMessageDescriptor *resp_type;
    ProtobufCMessage *response;
    strata_result *result;
    /* PushEvents (bidi): every response message received, one per answered batch, in order. */
    Strata__V1__PushEventsResponse **answers;
    size_t n_answers;
    size_t answers_off; /* bytes of `resp` decoded into `answers` */

    strata_call *prev, *next; /* client's list of running calls */
    strata_call *done_next;   /* client's queue of completed, not yet returned calls */
    int in_done_queue;
};

struct strata_client {
    char host[256];
    char port[16];
    char authority[300];
    strata_options opts;

    int fd;
    nghttp2_session *session;
    int goaway;       /* GOAWAY received on the current session */
    char goaway_msg[256];

    uint8_t *out;     /* serialized frames not yet written to the socket */
    size_t out_off, out_len, out_cap;
    uint8_t in[IN_CHUNK];

    int64_t last_recv_ns; /* when bytes last arrived (or the connection opened) */

    strata_call *running; /* doubly linked */
    size_t n_running;
    strata_call *done_head, *done_tail;
    int completed_in_round;

    strata_client_stats stats;
    struct strata_cache *cache; /* NULL: no online cache */
};

static void cache_free(struct strata_cache *cache);

/* ---- small helpers ----------------------------------------------------------------------------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_status(strata_status *st, int code, const char *fmt, ...) {
    if (!st) return;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
}

static char *xvasprintf(const char *fmt, va_list ap) {
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) return NULL;
    return s;
}

static int buf_reserve(buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_append(buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_free(buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static size_t varint_put(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* grpc-message is percent-encoded (RFC 3986 style: %XX for bytes outside printable ASCII and '%'). */
static char *percent_decode(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            int hi = s[i + 1], lo = s[i + 2];
            int h = (hi >= '0' && hi <= '9') ? hi - '0' : (hi >= 'a' && hi <= 'f') ? hi - 'a' + 10 : (hi >= 'A' && hi <= 'F') ? hi - 'A' + 10 : -1;
            int l = (lo >= '0' && lo <= '9') ? lo - '0' : (lo >= 'a' && lo <= 'f') ? lo - 'a' + 10 : (lo >= 'A' && lo <= 'F') ? lo - 'A' + 10 : -1;
            if (h >= 0 && l >= 0) {
                out[j++] = (char)(h * 16 + l);
                i += 2;
                continue;
            }
        }
        out[j++] = s[i];
    }
    out[j] = 0;
    return out;
}

/* HTTP status -> gRPC code, as in gRPC's "http-grpc-status-mapping". */
static int http_to_grpc(int http) {
    switch (http) {
    case 400: return STRATA_INTERNAL;
    case 401: return STRATA_UNAUTHENTICATED;
    case 403: return STRATA_PERMISSION_DENIED;
    case 404: return STRATA_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return STRATA_UNAVAILABLE;
    default: return STRATA_UNKNOWN;
    }
}

/* RST_STREAM error code -> gRPC code, as in the gRPC HTTP/2 protocol spec. */
static int h2error_to_grpc(uint32_t err) {
    switch (err) {
    case NGHTTP2_REFUSED_STREAM: return STRATA_UNAVAILABLE;
    case NGHTTP2_CANCEL: return STRATA_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM: return STRATA_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY: return STRATA_PERMISSION_DENIED;
    default: return STRATA_INTERNAL;
    }
}

/* ---- call completion --------------------------------------------------------------------------- */

static void running_remove(strata_client *c, strata_call *call) {
    if (call->prev) call->prev->next = call->next;
    else if (c->running == call) c->running = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->n_running--;
}

static void done_queue_remove(strata_client *c, strata_call *call) {
    if (!call->in_done_queue) return;
    strata_call **pp = &c->done_head, *prev = NULL;
    while (*pp && *pp != call) {
        prev = *pp;
        pp = &(*pp)->done_next;
    }
    if (*pp) {
        *pp = call->done_next;
        if (c->done_tail == call) c->done_tail = prev;
    }
    call->done_next = NULL;
    call->in_done_queue = 0;
}

static int decode_push_answers(strata_call *call);

/* Marks a running call complete with `code` and a formatted message. If its stream is still open in
 * nghttp2 (local completion: timeout, cancel, size limit, connection loss), the stream is detached
 * and, when `reset` is set, reset with CANCEL. */
static void finish_call(strata_call *call, int reset, int code, const char *fmt, ...) {
    strata_client *c = call->client;
    if (call->done) return;
    call->done = 1;
    call->code = code;
    call->end_ns = now_ns();
    free(call->message);
    call->message = NULL;
    if (fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        call->message = xvasprintf(fmt, ap);
        va_end(ap);
    }
    if (call->stream_id > 0 && c->session) {
        nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
        if (reset) nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
    }
    running_remove(c, call);
    call->done_next = NULL;
    if (c->done_tail) c->done_tail->done_next = call;
    else c->done_head = call;
    c->done_tail = call;
    call->in_done_queue = 1;
    c->completed_in_round++;
    /* A push that ends locally (deadline, connection lost) keeps the answers that had arrived. */
    if (call->kind == CALL_PUSH) decode_push_answers(call);
    /* The response body is no longer needed once decoded (or failed). */
    buf_free(&call->resp);
}

/* Checks that a decoded GetOnlineFeaturesResponse has the shape the accessors rely on. */
static int lookup_shape_ok(const Strata__V1__GetOnlineFeaturesResponse *m) {
    for (size_t i = 0; i < m->n_vectors; i++)
        if (!m->vectors[i] || m->vectors[i]->n_results != m->n_columns) return 0;
    return 1;
}

/* PushEvents: decodes every length-prefixed response message received (also when the call failed:
 * the batches answered before the error). Returns 0, or -1 with the call finished as INTERNAL. */
static int decode_push_answers(strata_call *call) {
    const uint8_t *p = call->resp.data;
    size_t n = call->resp.len, off = call->answers_off;
    while (off < n) {
        if (n - off < 5) {
            finish_call(call, 0, STRATA_INTERNAL, "PushEvents response message truncated (%zu bytes left)", n - off);
            return -1;
        }
        if (p[off] != 0) {
            finish_call(call, 0, STRATA_INTERNAL, "compressed response message (flag %d) but no compression was negotiated", p[off]);
            return -1;
        }
        size_t len = ((size_t)p[off + 1] << 24) | ((size_t)p[off + 2] << 16) | ((size_t)p[off + 3] << 8) | p[off + 4];
        if (len > n - off - 5) {
            finish_call(call, 0, STRATA_INTERNAL, "PushEvents response message truncated (%zu of %zu bytes)", n - off - 5, len);
            return -1;
        }
        Strata__V1__PushEventsResponse **grown = realloc(call->answers, (call->n_answers + 1) * sizeof *grown);
        if (!grown) {
            finish_call(call, 0, STRATA_RESOURCE_EXHAUSTED, "out of memory");
            return -1;
        }
        call->answers = grown;
        Strata__V1__PushEventsResponse *m = (Strata__V1__PushEventsResponse *)protobuf_c_message_unpack(
            &strata__v1__push_events_response__descriptor, NULL, len, p + off + 5);
        if (!m) {
            finish_call(call, 0, STRATA_INTERNAL, "could not decode a PushEventsResponse (%zu bytes)", len);
            return -1;
        }
        call->answers[call->n_answers++] = m;
        off += 5 + len;
        call->answers_off = off;
    }
    return 0;
}

/* The stream closed: derive the call's status from trailers/headers/RST and decode the response. */
static void finish_from_stream(strata_call *call, uint32_t h2error) {
    strata_client *c = call->client;
    if (call->kind == CALL_PUSH && decode_push_answers(call) < 0) return;
    if (call->grpc_status >= 0) {
        int code = call->grpc_status;
        if (code != STRATA_OK) {
            char *msg = call->grpc_message ? percent_decode(call->grpc_message, strlen(call->grpc_message)) : NULL;
            finish_call(call, 0, code, "%s", msg ? msg : "");
            free(msg);
            return;
        }
        if (call->kind == CALL_PUSH) { /* decoded above: one message per answered batch */
            finish_call(call, 0, STRATA_OK, "");
            return;
        }
        /* OK: exactly one length-prefixed message. */
        const uint8_t *p = call->resp.data;
        size_t n = call->resp.len;
        if (n < 5) {
            finish_call(call, 0, STRATA_INTERNAL, "server answered OK without a response message");
            return;
        }
        if (p[0] != 0) {
            finish_call(call, 0, STRATA_INTERNAL, "compressed response message (flag %d) but no compression was negotiated", p[0]);
            return;
        }
        size_t len = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
        if (len != n - 5) {
            finish_call(call, 0, STRATA_INTERNAL, len > n - 5 ? "response message truncated (%zu of %zu bytes)"
                                                              : "more than one response message for a unary call (%zu + %zu bytes)",
                        n - 5, len);
            return;
        }
        if (call->kind == CALL_LOOKUP) {
            strata_result *res = calloc(1, sizeof *res);
            if (!res) {
                finish_call(call, 0, STRATA_RESOURCE_EXHAUSTED, "out of memory");
                return;
            }
            ProtobufCAllocator alloc = {arena_alloc, arena_free_one, &res->mem};
            res->msg = (Strata__V1__GetOnlineFeaturesResponse *)protobuf_c_message_unpack(call->resp_type, &alloc, len, p + 5);
            if (!res->msg || !lookup_shape_ok(res->msg)) {
                int decoded = res->msg != NULL;
                strata_result_free(res);
                finish_call(call, 0, STRATA_INTERNAL,
                            decoded ? "malformed lookup response: a vector's result count differs from the column count"
                                    : "could not decode the GetOnlineFeaturesResponse (%zu bytes)",
                            len);
                return;
            }
            call->result = res;
        } else {
            ProtobufCMessage *m = protobuf_c_message_unpack(call->resp_type, NULL, len, p + 5);
            if (!m) {
                finish_call(call, 0, STRATA_INTERNAL, "could not decode the %s response (%zu bytes)", call->resp_type->name, len);
                return;
            }
            call->response = m;
        }
        finish_call(call, 0, STRATA_OK, "");
        return;
    }
    if (h2error != NGHTTP2_NO_ERROR) {
        if (h2error == NGHTTP2_REFUSED_STREAM && c->goaway)
            finish_call(call, 0, STRATA_UNAVAILABLE, "the server closed the connection (%s) before processing the call; it is safe to retry",
                        c->goaway_msg);
        else
            finish_call(call, 0, h2error_to_grpc(h2error), "stream reset by the server: %s", nghttp2_http2_strerror(h2error));
        return;
    }
    if (call->http_status != 200) {
        finish_call(call, 0, http_to_grpc(call->http_status), "HTTP status %d without grpc-status", call->http_status);
        return;
    }
    if (!call->grpc_content_type) {
        finish_call(call, 0, STRATA_UNKNOWN, "response is not gRPC (content-type is not application/grpc)");
        return;
    }
    finish_call(call, 0, STRATA_INTERNAL, "the stream ended without grpc-status");
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------------- */

static strata_call *stream_call(nghttp2_session *s, int32_t id) {
    return id > 0 ? nghttp2_session_get_stream_user_data(s, id) : NULL;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user) {
    (void)flags;
    (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    strata_call *call = stream_call(s, frame->hd.stream_id);
    if (!call) return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    if (IS(":status")) {
        call->http_status = 0;
        for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++) call->http_status = call->http_status * 10 + (value[i] - '0');
    } else if (IS("content-type")) {
        call->grpc_content_type = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                                  (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (IS("grpc-status")) {
        int code = 0;
        if (valuelen == 0) code = STRATA_UNKNOWN;
        for (size_t i = 0; i < valuelen; i++) {
            if (value[i] < '0' || value[i] > '9' || code > 1000) {
                code = STRATA_UNKNOWN;
                break;
            }
            code = code * 10 + (value[i] - '0');
        }
        call->grpc_status = code;
    } else if (IS("grpc-message")) {
        free(call->grpc_message);
        call->grpc_message = strndup((const char *)value, valuelen);
    }
#undef IS
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user) {
    (void)flags;
    strata_client *c = user;
    strata_call *call = stream_call(s, id);
    if (!call) return 0; /* cancelled or timed out: nghttp2 still counts the bytes for flow control */
    if (call->resp.len + len > c->opts.max_response_bytes + 5) {
        finish_call(call, 1, STRATA_RESOURCE_EXHAUSTED, "response larger than the client's limit of %zu bytes", c->opts.max_response_bytes);
        return 0;
    }
    if (buf_append(&call->resp, data, len) < 0) finish_call(call, 1, STRATA_RESOURCE_EXHAUSTED, "out of memory receiving the response");
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user) {
    strata_client *c = user;
    if (c->stats.open_streams > 0) c->stats.open_streams--;
    strata_call *call = stream_call(s, id);
    if (!call) return 0;
    finish_from_stream(call, error_code);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
    (void)s;
    strata_client *c = user;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        c->stats.open_streams++;
        if (c->stats.open_streams > c->stats.max_open_streams) c->stats.max_open_streams = c->stats.open_streams;
    }
    return 0;
}

/* A request's HEADERS could not be sent (e.g. GOAWAY arrived first): its stream never opened. */
static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *frame, int lib_error, void *user) {
    (void)s;
    strata_client *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    for (strata_call *call = c->running; call; call = call->next) {
        if (call->stream_id == frame->hd.stream_id) {
            if (c->goaway)
                finish_call(call, 0, STRATA_UNAVAILABLE, "the server closed the connection (%s) before the call was sent; it is safe to retry",
                            c->goaway_msg);
            else
                finish_call(call, 0, STRATA_UNAVAILABLE, "the request could not be sent: %s", nghttp2_strerror(lib_error));
            break;
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
    strata_client *c = user;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = 1;
        int dlen = (int)(frame->goaway.opaque_data_len > 120 ? 120 : frame->goaway.opaque_data_len);
        snprintf(c->goaway_msg, sizeof c->goaway_msg, "GOAWAY %s, last stream %d%s%.*s", nghttp2_http2_strerror(frame->goaway.error_code),
                 frame->goaway.last_stream_id, dlen ? ": " : "", dlen, dlen ? (const char *)frame->goaway.opaque_data : "");
    } else if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->stats.server_max_concurrent_streams = nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    }
    return 0;
}

/* DATA for a request: copies the call's pending body bytes. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *out, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *user) {
    (void)source;
    (void)user;
    strata_call *call = stream_call(s, id);
    if (!call) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t avail = call->body.len - call->body_off;
    size_t n = avail < length ? avail : length;
    if (n) memcpy(out, call->body.data + call->body_off, n);
    call->body_off += n;
    if (call->body_off == call->body.len) {
        if (call->body_eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0) {
            call->deferred = 1;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

/* ---- connection -------------------------------------------------------------------------------- */

static void fail_running(strata_client *c, const char *why) {
    while (c->running) finish_call(c->running, 0, STRATA_UNAVAILABLE, "%s", why);
}

static void drop_connection(strata_client *c) {
    if (c->session) {
        /* Detach every open stream first: nghttp2_session_del does not call back, but be explicit. */
        nghttp2_session_del(c->session);
        c->session = NULL;
    }
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->out_off = c->out_len = 0;
    c->goaway = 0;
    c->goaway_msg[0] = 0;
    c->stats.open_streams = 0;
}

/* The connection is unusable: every running call fails with UNAVAILABLE and `why`. */
static void conn_fail(strata_client *c, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    /* Calls keep their stream ids, but the session goes away: detach before deleting it. */
    for (strata_call *call = c->running; call; call = call->next) call->stream_id = -1;
    fail_running(c, why);
    drop_connection(c);
}

static int tcp_connect(strata_client *c, char *err, size_t errlen) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "resolve %s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "connect %s: no address", c->authority);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r;
            do r = poll(&p, 1, c->opts.connect_timeout_ms);
            while (r < 0 && errno == EINTR);
            if (r == 0) {
                snprintf(err, errlen, "connect %s: timed out after %d ms", c->authority, c->opts.connect_timeout_ms);
                close(fd);
                fd = -1;
                continue;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) break;
            snprintf(err, errlen, "connect %s: %s", c->authority, strerror(soerr ? soerr : errno));
        } else {
            snprintf(err, errlen, "connect %s: %s", c->authority, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    return 0;
}

static int flush_out(strata_client *c);

static int open_connection(strata_client *c, char *err, size_t errlen) {
    if (tcp_connect(c, err, errlen) < 0) return -1;
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) goto nomem;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    int rc = nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) goto nomem;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->opts.stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 20},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, (int32_t)c->opts.connection_window_bytes) != 0) {
        snprintf(err, errlen, "invalid HTTP/2 window settings");
        drop_connection(c);
        return -1;
    }
    c->stats.connections++;
    c->stats.server_max_concurrent_streams = 0;
    c->last_recv_ns = now_ns();
    if (flush_out(c) < 0) {
        snprintf(err, errlen, "connect %s: could not send the HTTP/2 preface", c->authority);
        return -1;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    drop_connection(c);
    return -1;
}

/* Serializes what nghttp2 has to send and writes it without blocking. Returns -1 if the connection
 * failed (conn_fail was called). */
static int flush_out(strata_client *c) {
    if (!c->session) return -1;
    for (;;) {
        while (c->out_len - c->out_off < OUT_CHUNK) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->session, &data);
            if (n < 0) {
                conn_fail(c, "HTTP/2 error: %s", nghttp2_strerror((int)n));
                return -1;
            }
            if (n == 0) break;
            if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
            if (c->out_len + (size_t)n > c->out_cap) {
                if (c->out_off > 0) {
                    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                    c->out_len -= c->out_off;
                    c->out_off = 0;
                }
                size_t cap = c->out_cap ? c->out_cap : OUT_CHUNK * 2;
                while (cap < c->out_len + (size_t)n) cap *= 2;
                if (cap != c->out_cap) {
                    uint8_t *p = realloc(c->out, cap);
                    if (!p) {
                        conn_fail(c, "out of memory");
                        return -1;
                    }
                    c->out = p;
                    c->out_cap = cap;
                }
            }
            memcpy(c->out + c->out_len, data, (size_t)n);
            c->out_len += (size_t)n;
        }
        if (c->out_off == c->out_len) return 0;
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            conn_fail(c, "connection to %s lost: %s", c->authority, strerror(errno));
            return -1;
        }
        c->out_off += (size_t)w;
        if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
        else return 0; /* the socket buffer is full */
    }
}

/* Reads what the socket has and feeds it to nghttp2. */
static int read_in(strata_client *c) {
    for (int rounds = 0; rounds < 64 && c->session; rounds++) {
        ssize_t r = recv(c->fd, c->in, sizeof c->in, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            conn_fail(c, "connection to %s lost: %s", c->authority, strerror(errno));
            return -1;
        }
        if (r == 0) {
            if (c->goaway) conn_fail(c, "the server closed the connection (%s)", c->goaway_msg);
            else conn_fail(c, "the server closed the connection to %s", c->authority);
            return -1;
        }
        c->last_recv_ns = now_ns();
        ssize_t n = nghttp2_session_mem_recv(c->session, c->in, (size_t)r);
        if (n < 0) {
            conn_fail(c, "HTTP/2 protocol error from %s: %s", c->authority, nghttp2_strerror((int)n));
            return -1;
        }
        if ((size_t)r < sizeof c->in) return 0;
    }
    return 0;
}

static void enforce_deadlines(strata_client *c, int64_t now) {
    strata_call *call = c->running;
    while (call) {
        strata_call *next = call->next;
        if (call->deadline_ns && now >= call->deadline_ns)
            finish_call(call, 1, STRATA_DEADLINE_EXCEEDED, "deadline exceeded after %.1f ms", (double)(now - call->start_ns) / 1e6);
        call = next;
    }
}

/* One round of the I/O loop. */
static int io_round(strata_client *c, int timeout_ms) {
    c->completed_in_round = 0;
    if (!c->session) {
        fail_running(c, "not connected");
        return c->completed_in_round;
    }
    int64_t now = now_ns();
    enforce_deadlines(c, now);
    if (flush_out(c) < 0) return c->completed_in_round;
    if (c->completed_in_round) return c->completed_in_round;
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) && c->out_off == c->out_len) {
        conn_fail(c, c->goaway ? "the server closed the connection (%s)" : "the HTTP/2 session ended", c->goaway_msg);
        return c->completed_in_round;
    }
    /* Wait no longer than the nearest deadline. */
    int64_t wait_ns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000LL;
    for (strata_call *call = c->running; call; call = call->next) {
        if (!call->deadline_ns) continue;
        int64_t left = call->deadline_ns - now;
        if (left < 0) left = 0;
        if (wait_ns < 0 || left < wait_ns) wait_ns = left;
    }
    int wait_ms = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->out_off < c->out_len) p.events |= POLLOUT;
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno != EINTR) {
        conn_fail(c, "poll: %s", strerror(errno));
        return c->completed_in_round;
    }
    if (r > 0) {
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (read_in(c) < 0) return c->completed_in_round;
        }
        if (flush_out(c) < 0) return c->completed_in_round;
    }
    enforce_deadlines(c, now_ns());
    flush_out(c);
    return c->completed_in_round;
}

/* ---- client API -------------------------------------------------------------------------------- */

void strata_options_init(strata_options *o) {
    o->connect_timeout_ms = 5000;
    o->stream_window_bytes = 8u << 20;
    o->connection_window_bytes = 16u << 20;
    o->max_response_bytes = (size_t)64 << 20;
}

static int parse_address(strata_client *c, const char *address) {
    const char *colon;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':') return -1;
        size_t hl = (size_t)(close - address - 1);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, address + 1, hl);
        c->host[hl] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon) return -1;
        size_t hl = (size_t)(colon - address);
        if (hl == 0 || hl >= sizeof c->host) return -1;
        memcpy(c->host, address, hl);
        c->host[hl] = 0;
    }
    const char *port = colon + 1;
    size_t pl = strlen(port);
    if (pl == 0 || pl >= sizeof c->port || strspn(port, "0123456789") != pl) return -1;
    memcpy(c->port, port, pl + 1);
    snprintf(c->authority, sizeof c->authority, "%s", address);
    return 0;
}

strata_client *strata_connect(const char *address, const strata_options *options, strata_status *status) {
    strata_client *c = calloc(1, sizeof *c);
    if (!c) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    c->fd = -1;
    if (options) c->opts = *options;
    else strata_options_init(&c->opts);
    if (c->opts.connect_timeout_ms <= 0) c->opts.connect_timeout_ms = 5000;
    if (c->opts.stream_window_bytes == 0) c->opts.stream_window_bytes = 8u << 20;
    if (c->opts.connection_window_bytes == 0) c->opts.connection_window_bytes = 16u << 20;
    if (c->opts.max_response_bytes == 0) c->opts.max_response_bytes = (size_t)64 << 20;
    if (c->opts.stream_window_bytes > 0x7fffffffu) c->opts.stream_window_bytes = 0x7fffffffu;
    if (c->opts.connection_window_bytes > 0x7fffffffu) c->opts.connection_window_bytes = 0x7fffffffu;
    if (!address || parse_address(c, address) < 0) {
        set_status(status, STRATA_INVALID_ARGUMENT, "invalid address '%s': expected host:port", address ? address : "(null)");
        free(c);
        return NULL;
    }
    char err[512];
    if (open_connection(c, err, sizeof err) < 0) {
        set_status(status, STRATA_UNAVAILABLE, "%s", err);
        drop_connection(c);
        free(c->out);
        free(c);
        return NULL;
    }
    set_status(status, STRATA_OK, "");
    return c;
}

void strata_close(strata_client *c) {
    if (!c) return;
    if (c->session) {
        /* Polite shutdown: GOAWAY, best effort, without waiting. */
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        flush_out(c);
    }
    /* Calls the caller forgot: detach them so they do not point at freed memory. */
    for (strata_call *call = c->running; call; call = call->next) call->client = NULL;
    for (strata_call *call = c->done_head; call; call = call->done_next) call->client = NULL;
    drop_connection(c);
    cache_free(c->cache);
    free(c->out);
    free(c);
}

void strata_client_stats_get(const strata_client *c, strata_client_stats *stats) {
    *stats = c->stats;
}

/* ---- calls ------------------------------------------------------------------------------------- */

/* Before a call on a connection that has been idle for a while: take in what the server sent meanwhile
 * (a GOAWAY for an idle connection, or the close itself), so that the call goes to a new connection
 * instead of failing on the old one. Costs one recv() that finds nothing on a healthy connection. */
static void refresh_idle_connection(strata_client *c) {
    if (!c->session || c->n_running > 0 || now_ns() - c->last_recv_ns < 1000000000LL) return;
    if (read_in(c) < 0) return; /* conn_fail dropped it; the call reconnects */
    if (c->session && c->goaway) drop_connection(c);
    else c->last_recv_ns = now_ns();
}

static strata_call *call_new(strata_client *c, enum call_kind kind, int timeout_ms) {
    refresh_idle_connection(c);
    strata_call *call = calloc(1, sizeof *call);
    if (!call) return NULL;
    call->client = c;
    call->kind = kind;
    call->grpc_status = -1;
    call->code = STRATA_UNKNOWN;
    call->start_ns = now_ns();
    if (timeout_ms > 0) call->deadline_ns = call->start_ns + (int64_t)timeout_ms * 1000000LL;
    /* Linked as running until it completes, even if it fails before reaching the wire. */
    call->next = c->running;
    if (c->running) c->running->prev = call;
    c->running = call;
    c->n_running++;
    c->stats.calls++;
    return call;
}

/* Makes sure there is a usable connection for a new call: reconnects when the previous one failed,
 * or was closed with GOAWAY and has no calls left. */
static int ensure_connection(strata_client *c, strata_call *call) {
    if (c->session && c->goaway) {
        if (c->n_running > 1) {
            finish_call(call, 0, STRATA_UNAVAILABLE, "the server is closing the connection (%s); retry when the running calls have completed",
                        c->goaway_msg);
            return -1;
        }
        drop_connection(c);
    }
    if (!c->session) {
        char err[512];
        if (open_connection(c, err, sizeof err) < 0) {
            drop_connection(c);
            finish_call(call, 0, STRATA_UNAVAILABLE, "%s", err);
            return -1;
        }
    }
    return 0;
}

/* Sends the HEADERS of a call whose body (possibly partial) is in call->body. */
static void submit_call(strata_call *call, const char *path, int timeout_ms) {
    strata_client *c = call->client;
    if (ensure_connection(c, call) < 0) return;
    char timeout[32];
    if (timeout_ms > 0) {
        if (timeout_ms <= 99999999) snprintf(timeout, sizeof timeout, "%dm", timeout_ms);
        else snprintf(timeout, sizeof timeout, "%dS", timeout_ms / 1000);
    }
#define NV(n, v, vl) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME}
    nghttp2_nv nva[] = {
        NV(":method", "POST", 4),
        NV(":scheme", "http", 4),
        NV(":path", path, strlen(path)),
        NV(":authority", c->authority, strlen(c->authority)),
        NV("content-type", "application/grpc", 16),
        NV("te", "trailers", 8),
        NV("user-agent", USER_AGENT, sizeof USER_AGENT - 1),
        NV("grpc-timeout", timeout, timeout_ms > 0 ? strlen(timeout) : 0),
    };
#undef NV
    size_t nvlen = sizeof nva / sizeof nva[0] - (timeout_ms > 0 ? 0 : 1);
    nghttp2_data_provider prd;
    prd.source.ptr = NULL;
    prd.read_callback = read_body;
    int32_t id = nghttp2_submit_request(c->session, NULL, nva, nvlen, &prd, call);
    if (id < 0) {
        finish_call(call, 0, STRATA_UNAVAILABLE, "could not start the call: %s", nghttp2_strerror(id));
        if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) c->goaway = 1; /* stream ids exhausted: reconnect next time */
        return;
    }
    call->stream_id = id;
    flush_out(c);
}

/* Frames `msg` as one gRPC message into call->body. */
static int encode_message(buf *b, const ProtobufCMessage *msg) {
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > 0xffffffffu) return -1;
    if (buf_reserve(b, 5 + len) < 0) return -1;
    uint8_t *p = b->data + b->len;
    p[0] = 0;
    put_be32(p + 1, (uint32_t)len);
    protobuf_c_message_pack(msg, p + 5);
    b->len += 5 + len;
    return 0;
}

static strata_call *start_unary(strata_client *c, enum call_kind kind, const char *path, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *resp_type, int timeout_ms) {
    strata_call *call = call_new(c, kind, timeout_ms);
    if (!call) return NULL;
    call->resp_type = resp_type;
    call->body_eof = 1;
    if (encode_message(&call->body, req) < 0) {
        finish_call(call, 0, STRATA_RESOURCE_EXHAUSTED, "request too large or out of memory");
        return call;
    }
    submit_call(call, path, timeout_ms);
    return call;
}

strata_call *strata_lookup_async(strata_client *c, const char *const *entity_ids, size_t n_entities,
                                 const char *const *features, size_t n_features, int timeout_ms) {
    Strata__V1__GetOnlineFeaturesRequest req = STRATA__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
    req.n_entity_ids = n_entities;
    req.entity_ids = (char **)entity_ids;
    req.n_features = n_features;
    req.features = (char **)features;
    for (size_t i = 0; i < n_entities; i++) {
        if (!entity_ids[i]) {
            strata_call *call = call_new(c, CALL_LOOKUP, timeout_ms);
            if (call) finish_call(call, 0, STRATA_INVALID_ARGUMENT, "entity id %zu is NULL", i);
            return call;
        }
    }
    for (size_t i = 0; i < n_features; i++) {
        if (!features[i]) {
            strata_call *call = call_new(c, CALL_LOOKUP, timeout_ms);
            if (call) finish_call(call, 0, STRATA_INVALID_ARGUMENT, "feature reference %zu is NULL", i);
            return call;
        }
    }
    return start_unary(c, CALL_LOOKUP, SERVICE_PREFIX "GetOnlineFeatures", &req.base,
                       &strata__v1__get_online_features_response__descriptor, timeout_ms);
}

strata_call *strata_call_unary(strata_client *c, const char *method, const ProtobufCMessage *request,
                               const ProtobufCMessageDescriptor *response_type, int timeout_ms) {
    char path[256];
    if (method[0] == '/') snprintf(path, sizeof path, "%s", method);
    else snprintf(path, sizeof path, SERVICE_PREFIX "%s", method);
    return start_unary(c, CALL_UNARY, path, request, response_type, timeout_ms);
}

int strata_call_wait(strata_call *call) {
    strata_client *c = call->client;
    while (!call->done && c) io_round(c, -1);
    if (c) done_queue_remove(c, call);
    return call->code;
}

strata_call *strata_wait_any(strata_client *c, int timeout_ms) {
    int64_t end = timeout_ms >= 0 ? now_ns() + (int64_t)timeout_ms * 1000000LL : 0;
    for (;;) {
        if (c->done_head) {
            strata_call *call = c->done_head;
            done_queue_remove(c, call);
            return call;
        }
        if (!c->running) return NULL;
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t l = end - now_ns();
            if (l <= 0) return NULL;
            left = (int)((l + 999999) / 1000000);
        }
        io_round(c, left);
    }
}

int strata_wait_all(strata_client *c, int timeout_ms) {
    int64_t end = timeout_ms >= 0 ? now_ns() + (int64_t)timeout_ms * 1000000LL : 0;
    while (c->running) {
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t l = end - now_ns();
            if (l <= 0) return -1;
            left = (int)((l + 999999) / 1000000);
        }
        io_round(c, left);
    }
    return 0;
}

int strata_poll(strata_client *c, int timeout_ms) {
    return io_round(c, timeout_ms);
}

int strata_call_done(const strata_call *call) { return call->done; }
int strata_call_code(const strata_call *call) { return call->code; }
const char *strata_call_message(const strata_call *call) { return call->message ? call->message : ""; }
const strata_result *strata_call_result(const strata_call *call) { return call->result; }
const ProtobufCMessage *strata_call_response(const strata_call *call) { return call->response; }
void strata_call_set_user_data(strata_call *call, void *user_data) { call->user_data = user_data; }
void *strata_call_user_data(const strata_call *call) { return call->user_data; }

int64_t strata_call_latency_us(const strata_call *call) {
    return call->done ? (call->end_ns - call->start_ns) / 1000 : 0;
}

strata_result *strata_call_take_result(strata_call *call) {
    strata_result *r = call->result;
    call->result = NULL;
    return r;
}

ProtobufCMessage *strata_call_take_response(strata_call *call) {
    ProtobufCMessage *m = call->response;
    call->response = NULL;
    return m;
}

void strata_call_free(strata_call *call) {
    if (!call) return;
    strata_client *c = call->client;
    if (c) {
        if (!call->done) finish_call(call, 1, STRATA_CANCELLED, "cancelled by the caller");
        done_queue_remove(c, call);
        if (c->session) flush_out(c);
    }
    free(call->message);
    free(call->grpc_message);
    buf_free(&call->body);
    buf_free(&call->resp);
    if (call->response) protobuf_c_message_free_unpacked(call->response, NULL);
    for (size_t i = 0; i < call->n_answers; i++) protobuf_c_message_free_unpacked(&call->answers[i]->base, NULL);
    free(call->answers);
    strata_result_free(call->result);
    free(call);
}

/* ---- lookup results ---------------------------------------------------------------------------- */

static strata_result *cached_lookup(strata_client *c, const char *const *ids, size_t n, const char *const *refs,
                                   size_t nf, int timeout_ms, strata_status *status);

strata_result *strata_lookup(strata_client *c, const char *const *entity_ids, size_t n_entities,
                             const char *const *features, size_t n_features, int timeout_ms, strata_status *status) {
    if (c->cache && n_entities > 0 && n_features > 0) {
        int ok = 1;
        for (size_t i = 0; i < n_entities && ok; i++) ok = entity_ids[i] != NULL;
        for (size_t i = 0; i < n_features && ok; i++) ok = features[i] != NULL;
        if (ok) return cached_lookup(c, entity_ids, n_entities, features, n_features, timeout_ms, status);
    }
    strata_call *call = strata_lookup_async(c, entity_ids, n_entities, features, n_features, timeout_ms);
    if (!call) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    int code = strata_call_wait(call);
    set_status(status, code, "%s", strata_call_message(call));
    strata_result *r = strata_call_take_result(call);
    strata_call_free(call);
    return r;
}

void strata_result_free(strata_result *r) {
    if (!r) return;
    arena_release(&r->mem); /* the whole decoded message lives in the arena */
    free(r);
}

size_t strata_result_entity_count(const strata_result *r) { return r->msg->n_vectors; }
size_t strata_result_column_count(const strata_result *r) { return r->msg->n_columns; }

const char *strata_result_entity_id(const strata_result *r, size_t e) {
    return e < r->msg->n_vectors ? r->msg->vectors[e]->entity_id : NULL;
}

static const Strata__V1__FeatureColumn *column(const strata_result *r, size_t col) {
    return col < r->msg->n_columns ? r->msg->columns[col] : NULL;
}

const char *strata_result_column_ref(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? c->ref : NULL;
}
const char *strata_result_column_group(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? c->group : NULL;
}
uint32_t strata_result_column_version(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? c->version : 0;
}
const char *strata_result_column_feature(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? c->feature : NULL;
}
strata_dtype strata_result_column_dtype(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? (strata_dtype)c->dtype : STRATA_NULL;
}
uint32_t strata_result_column_embedding_dim(const strata_result *r, size_t col) {
    const Strata__V1__FeatureColumn *c = column(r, col);
    return c ? c->embedding_dim : 0;
}

long strata_result_column_index(const strata_result *r, const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->msg->n_columns; i++) {
        const Strata__V1__FeatureColumn *c = r->msg->columns[i];
        if (strcmp(c->ref, name) == 0) return (long)i;
        size_t gl = strlen(c->group);
        if (nl == gl + 1 + strlen(c->feature) && strncmp(name, c->group, gl) == 0 && name[gl] == ':' && strcmp(name + gl + 1, c->feature) == 0)
            return (long)i;
    }
    return -1;
}

static const Strata__V1__FeatureResult *cell(const strata_result *r, size_t e, size_t col) {
    if (e >= r->msg->n_vectors || col >= r->msg->n_columns) return NULL;
    return r->msg->vectors[e]->results[col];
}

int strata_result_value(const strata_result *r, size_t e, size_t col, strata_value *v) {
    const Strata__V1__FeatureResult *fr = cell(r, e, col);
    *v = strata_value_null();
    if (!fr || !fr->value) return 0;
    const Strata__V1__Value *x = fr->value;
    switch (x->kind_case) {
    case STRATA__V1__VALUE__KIND_FLOAT_VALUE:
        v->type = STRATA_FLOAT;
        v->u.f = x->float_value;
        return 1;
    case STRATA__V1__VALUE__KIND_INT_VALUE:
        v->type = STRATA_INT;
        v->u.i = x->int_value;
        return 1;
    case STRATA__V1__VALUE__KIND_STRING_VALUE:
        v->type = STRATA_STRING;
        v->u.s.ptr = x->string_value;
        v->u.s.len = strlen(x->string_value);
        return 1;
    case STRATA__V1__VALUE__KIND_EMBEDDING_VALUE:
        v->type = STRATA_EMBEDDING;
        v->u.e.ptr = x->embedding_value ? x->embedding_value->values : NULL;
        v->u.e.dim = x->embedding_value ? x->embedding_value->n_values : 0;
        return 1;
    default:
        return 0;
    }
}

strata_value_status strata_result_status(const strata_result *r, size_t e, size_t col) {
    const Strata__V1__FeatureResult *fr = cell(r, e, col);
    return fr ? (strata_value_status)fr->status : STRATA_STATUS_UNSPECIFIED;
}

int64_t strata_result_event_time_us(const strata_result *r, size_t e, size_t col) {
    const Strata__V1__FeatureResult *fr = cell(r, e, col);
    return fr ? fr->event_timestamp_micros : 0;
}

const struct Strata__V1__GetOnlineFeaturesResponse *strata_result_proto(const strata_result *r) { return r->msg; }

/* ---- streaming write --------------------------------------------------------------------------- */

struct strata_writer {
    strata_client *client;
    strata_call *call;
    strata_write_options opts;
    size_t n_features;
    buf header;  /* encoded group, version, features: starts every batch message */
    buf batch;   /* 5-byte gRPC prefix + header + rows being built */
    size_t batch_rows;
    Strata__V1__Value *vals; /* scratch for encoding one row */
    Strata__V1__Value **val_ptrs;
    Strata__V1__Embedding *embs;
};

void strata_write_options_init(strata_write_options *o) {
    o->batch_rows = 5000;
    o->batch_bytes = (size_t)4 << 20;
    o->timeout_ms = 0;
}

static void writer_free(strata_writer *w) {
    strata_call_free(w->call);
    buf_free(&w->header);
    buf_free(&w->batch);
    free(w->vals);
    free(w->val_ptrs);
    free(w->embs);
    free(w);
}

static int batch_start(strata_writer *w) {
    w->batch.len = 0;
    w->batch_rows = 0;
    static const uint8_t prefix[5] = {0, 0, 0, 0, 0};
    if (buf_append(&w->batch, prefix, 5) < 0) return -1;
    return buf_append(&w->batch, w->header.data, w->header.len);
}

strata_writer *strata_write_begin(strata_client *c, const char *group, uint32_t version, const char *const *features,
                                  size_t n_features, const strata_write_options *options, strata_status *status) {
    strata_writer *w = calloc(1, sizeof *w);
    if (!w) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    w->client = c;
    if (options) w->opts = *options;
    else strata_write_options_init(&w->opts);
    if (w->opts.batch_rows == 0) w->opts.batch_rows = 5000;
    if (w->opts.batch_bytes == 0) w->opts.batch_bytes = (size_t)4 << 20;
    w->n_features = n_features;
    if (!group || (n_features && !features)) {
        set_status(status, STRATA_INVALID_ARGUMENT, "group and features are required");
        free(w);
        return NULL;
    }
    for (size_t i = 0; i < n_features; i++) {
        if (!features[i]) {
            set_status(status, STRATA_INVALID_ARGUMENT, "feature name %zu is NULL", i);
            free(w);
            return NULL;
        }
    }
    /* The header fields of every batch, encoded once. Rows (field 4) are appended per row: a message's
     * fields may come in any order and repeated fields concatenate, so this is one valid message. */
    Strata__V1__WriteFeaturesRequest hdr = STRATA__V1__WRITE_FEATURES_REQUEST__INIT;
    hdr.group = (char *)group;
    hdr.version = version;
    hdr.n_features = n_features;
    hdr.features = (char **)features;
    size_t hl = protobuf_c_message_get_packed_size(&hdr.base);
    size_t nf = n_features ? n_features : 1;
    w->vals = calloc(nf, sizeof *w->vals);
    w->val_ptrs = calloc(nf, sizeof *w->val_ptrs);
    w->embs = calloc(nf, sizeof *w->embs);
    if (!w->vals || !w->val_ptrs || !w->embs || buf_reserve(&w->header, hl) < 0) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        writer_free(w);
        return NULL;
    }
    protobuf_c_message_pack(&hdr.base, w->header.data);
    w->header.len = hl;
    if (batch_start(w) < 0) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        writer_free(w);
        return NULL;
    }
    w->call = call_new(c, CALL_WRITE, w->opts.timeout_ms);
    if (!w->call) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        writer_free(w);
        return NULL;
    }
    w->call->resp_type = &strata__v1__write_features_response__descriptor;
    submit_call(w->call, SERVICE_PREFIX "WriteFeatures", w->opts.timeout_ms);
    if (w->call->done) {
        set_status(status, w->call->code, "%s", strata_call_message(w->call));
        writer_free(w);
        return NULL;
    }
    set_status(status, STRATA_OK, "");
    return w;
}

/* Hands the current batch to the stream: waits until the previous batch has been fully given to
 * nghttp2, then moves the batch into the call's body. */
static int writer_send_batch(strata_writer *w) {
    strata_call *call = w->call;
    if (call->done) return -1;
    if (w->batch_rows == 0) return 0;
    while (!call->done && call->body_off < call->body.len) io_round(w->client, -1);
    if (call->done) return -1;
    put_be32(w->batch.data + 1, (uint32_t)(w->batch.len - 5));
    /* Swap buffers: the finished batch becomes the body; the old body's memory is reused. */
    buf old = call->body;
    call->body = w->batch;
    call->body_off = 0;
    w->batch = old;
    if (batch_start(w) < 0) {
        finish_call(call, 1, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    if (call->deferred && w->client->session) {
        call->deferred = 0;
        nghttp2_session_resume_data(w->client->session, call->stream_id);
    }
    flush_out(w->client);
    return call->done ? -1 : 0;
}

int strata_write_row(strata_writer *w, const char *entity_id, int64_t event_us, int64_t created_us, const strata_value *values) {
    strata_call *call = w->call;
    if (call->done) return -1;
    if (!entity_id) {
        finish_call(call, 1, STRATA_INVALID_ARGUMENT, "entity id is NULL (row %zu of the batch)", w->batch_rows);
        return -1;
    }
    Strata__V1__WriteRow row = STRATA__V1__WRITE_ROW__INIT;
    row.entity_id = (char *)entity_id;
    row.event_timestamp_micros = event_us;
    if (created_us != STRATA_CREATED_UNSET) {
        row._created_timestamp_micros_case = STRATA__V1__WRITE_ROW___CREATED_TIMESTAMP_MICROS_CREATED_TIMESTAMP_MICROS;
        row.created_timestamp_micros = created_us;
    }
    row.n_values = w->n_features;
    row.values = w->val_ptrs;
    for (size_t i = 0; i < w->n_features; i++) {
        Strata__V1__Value *v = &w->vals[i];
        strata__v1__value__init(v);
        w->val_ptrs[i] = v;
        switch (values[i].type) {
        case STRATA_NULL: break;
        case STRATA_FLOAT:
            v->kind_case = STRATA__V1__VALUE__KIND_FLOAT_VALUE;
            v->float_value = values[i].u.f;
            break;
        case STRATA_INT:
            v->kind_case = STRATA__V1__VALUE__KIND_INT_VALUE;
            v->int_value = values[i].u.i;
            break;
        case STRATA_STRING:
            if (!values[i].u.s.ptr) {
                finish_call(call, 1, STRATA_INVALID_ARGUMENT, "string value %zu of entity '%s' is NULL", i, entity_id);
                return -1;
            }
            v->kind_case = STRATA__V1__VALUE__KIND_STRING_VALUE;
            v->string_value = (char *)values[i].u.s.ptr;
            break;
        case STRATA_EMBEDDING:
            strata__v1__embedding__init(&w->embs[i]);
            w->embs[i].n_values = values[i].u.e.dim;
            w->embs[i].values = (float *)values[i].u.e.ptr;
            v->kind_case = STRATA__V1__VALUE__KIND_EMBEDDING_VALUE;
            v->embedding_value = &w->embs[i];
            break;
        default:
            finish_call(call, 1, STRATA_INVALID_ARGUMENT, "value %zu of entity '%s' has an invalid type %d", i, entity_id, (int)values[i].type);
            return -1;
        }
    }
    size_t rl = protobuf_c_message_get_packed_size(&row.base);
    /* Send the batch first if this row would take it over the byte budget. */
    if (w->batch_rows > 0 && w->batch.len + rl + 11 > w->opts.batch_bytes && writer_send_batch(w) < 0) return -1;
    if (buf_reserve(&w->batch, rl + 11) < 0) {
        finish_call(call, 1, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    uint8_t *p = w->batch.data + w->batch.len;
    p[0] = (4 << 3) | 2; /* field 4 (rows), length-delimited */
    size_t n = 1 + varint_put(p + 1, rl);
    protobuf_c_message_pack(&row.base, p + n);
    w->batch.len += n + rl;
    w->batch_rows++;
    if (w->batch.len - 5 > 0xffffffffu) {
        finish_call(call, 1, STRATA_RESOURCE_EXHAUSTED, "batch message larger than 4 GiB");
        return -1;
    }
    if (w->batch_rows >= w->opts.batch_rows || w->batch.len >= w->opts.batch_bytes) return writer_send_batch(w);
    /* Let responses (e.g. an early rejection) and window updates in without blocking. */
    return 0;
}

int strata_write_flush(strata_writer *w) {
    return writer_send_batch(w);
}

int strata_write_finish(strata_writer *w, strata_write_summary *summary, strata_status *status) {
    strata_call *call = w->call;
    if (!call->done && writer_send_batch(w) == 0 && !call->done) {
        call->body_eof = 1;
        if (call->deferred && w->client->session) {
            call->deferred = 0;
            nghttp2_session_resume_data(w->client->session, call->stream_id);
        }
        flush_out(w->client);
    }
    int code = strata_call_wait(call);
    set_status(status, code, "%s", strata_call_message(call));
    if (summary) {
        memset(summary, 0, sizeof *summary);
        const Strata__V1__WriteFeaturesResponse *r = (const Strata__V1__WriteFeaturesResponse *)call->response;
        if (code == STRATA_OK && r) {
            summary->rows_written = r->rows_written;
            summary->late_rows = r->late_rows;
            summary->batches = r->batches;
        }
    }
    writer_free(w);
    return code;
}

void strata_write_abort(strata_writer *w) {
    if (!w) return;
    writer_free(w); /* strata_call_free resets the stream with CANCEL */
}

/* ---- events (PushEvents) ----------------------------------------------------------------------- */

void strata_push_options_init(strata_push_options *o) {
    o->timeout_ms = 0;
    o->consistency = STRATA_CONSISTENCY_DEFAULT;
}

/* Fills `v` (a wire Value) from `in`; returns 0, or -1 with `err` set. */
static int value_to_proto(const strata_value *in, Strata__V1__Value *v, Strata__V1__Embedding *emb, char *err, size_t errlen) {
    strata__v1__value__init(v);
    switch (in->type) {
    case STRATA_NULL: return 0;
    case STRATA_FLOAT:
        v->kind_case = STRATA__V1__VALUE__KIND_FLOAT_VALUE;
        v->float_value = in->u.f;
        return 0;
    case STRATA_INT:
        v->kind_case = STRATA__V1__VALUE__KIND_INT_VALUE;
        v->int_value = in->u.i;
        return 0;
    case STRATA_STRING:
        if (!in->u.s.ptr) {
            snprintf(err, errlen, "a string value is NULL");
            return -1;
        }
        v->kind_case = STRATA__V1__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)in->u.s.ptr;
        return 0;
    case STRATA_EMBEDDING:
        strata__v1__embedding__init(emb);
        emb->n_values = in->u.e.dim;
        emb->values = (float *)in->u.e.ptr;
        v->kind_case = STRATA__V1__VALUE__KIND_EMBEDDING_VALUE;
        v->embedding_value = emb;
        return 0;
    default:
        snprintf(err, errlen, "a value has an invalid type %d", (int)in->type);
        return -1;
    }
}

/* Appends one framed PushEventsRequest for `batch` to `body`. Returns 0, or -1 with `err` set
 * (`*code` = the status to report). */
static int encode_push_batch(buf *body, const char *stream, uint32_t version, const char *const *fields, size_t n_fields,
                             const strata_event_batch *batch, size_t index, int consistency, int *code, char *err, size_t errlen) {
    size_t n = batch->n_events, cells = n * n_fields;
    Strata__V1__WriteRow *rows = calloc(n ? n : 1, sizeof *rows);
    Strata__V1__WriteRow **row_ptrs = calloc(n ? n : 1, sizeof *row_ptrs);
    Strata__V1__Value *vals = calloc(cells ? cells : 1, sizeof *vals);
    Strata__V1__Value **val_ptrs = calloc(cells ? cells : 1, sizeof *val_ptrs);
    Strata__V1__Embedding *embs = calloc(cells ? cells : 1, sizeof *embs);
    int rc = -1;
    *code = STRATA_INVALID_ARGUMENT;
    if (!rows || !row_ptrs || !vals || !val_ptrs || !embs) {
        *code = STRATA_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t e = 0; e < n; e++) {
        const strata_event *ev = &batch->events[e];
        Strata__V1__WriteRow *row = &rows[e];
        strata__v1__write_row__init(row);
        row_ptrs[e] = row;
        if (!ev->entity_id) {
            snprintf(err, errlen, "batch %zu, event %zu: entity id is NULL", index, e);
            goto out;
        }
        if (n_fields && !ev->values) {
            snprintf(err, errlen, "batch %zu, event %zu (entity '%s'): values is NULL", index, e, ev->entity_id);
            goto out;
        }
        row->entity_id = (char *)ev->entity_id;
        row->event_timestamp_micros = ev->event_us;
        if (ev->created_us != STRATA_CREATED_UNSET) {
            row->_created_timestamp_micros_case = STRATA__V1__WRITE_ROW___CREATED_TIMESTAMP_MICROS_CREATED_TIMESTAMP_MICROS;
            row->created_timestamp_micros = ev->created_us;
        }
        row->n_values = n_fields;
        row->values = val_ptrs + e * n_fields;
        for (size_t f = 0; f < n_fields; f++) {
            size_t k = e * n_fields + f;
            val_ptrs[k] = &vals[k];
            char why[128];
            if (value_to_proto(&ev->values[f], &vals[k], &embs[k], why, sizeof why) < 0) {
                snprintf(err, errlen, "batch %zu, event %zu (entity '%s'), field '%s': %s", index, e, ev->entity_id, fields[f], why);
                goto out;
            }
        }
    }
    Strata__V1__PushEventsRequest req = STRATA__V1__PUSH_EVENTS_REQUEST__INIT;
    req.stream = (char *)stream;
    req.version = version;
    req.n_fields = n_fields;
    req.fields = (char **)fields;
    req.n_events = n;
    req.events = row_ptrs;
    req.idempotency_key = (char *)(batch->idempotency_key ? batch->idempotency_key : "");
    req.consistency = (Strata__V1__Consistency)consistency;
    if (encode_message(body, &req.base) < 0) {
        *code = STRATA_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "batch %zu: request too large or out of memory", index);
        goto out;
    }
    rc = 0;
out:
    free(rows);
    free(row_ptrs);
    free(vals);
    free(val_ptrs);
    free(embs);
    return rc;
}

int strata_push_events(strata_client *c, const char *stream, uint32_t version, const char *const *fields, size_t n_fields,
                       const strata_event_batch *batches, size_t n_batches, const strata_push_options *options,
                       strata_push_summary *summary, strata_push_answer *answers, strata_status *status) {
    strata_push_options opts;
    if (options) opts = *options;
    else strata_push_options_init(&opts);
    if (summary) memset(summary, 0, sizeof *summary);
    if (answers) memset(answers, 0, n_batches * sizeof *answers);
    if (!c || !stream || (n_fields && !fields) || (n_batches && !batches)) {
        set_status(status, STRATA_INVALID_ARGUMENT, "client, stream, fields and batches are required");
        return STRATA_INVALID_ARGUMENT;
    }
    if (opts.consistency < STRATA_CONSISTENCY_DEFAULT || opts.consistency > STRATA_CONSISTENCY_ALL) {
        set_status(status, STRATA_INVALID_ARGUMENT, "consistency %d is not one of STRATA_CONSISTENCY_*", opts.consistency);
        return STRATA_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (!fields[i]) {
            set_status(status, STRATA_INVALID_ARGUMENT, "field name %zu is NULL", i);
            return STRATA_INVALID_ARGUMENT;
        }
    }
    for (size_t b = 0; b < n_batches; b++) {
        if (batches[b].n_events && !batches[b].events) {
            set_status(status, STRATA_INVALID_ARGUMENT, "batch %zu has %zu events but events is NULL", b, batches[b].n_events);
            return STRATA_INVALID_ARGUMENT;
        }
        if (batches[b].idempotency_key && strlen(batches[b].idempotency_key) > STRATA_IDEMPOTENCY_KEY_MAX) {
            set_status(status, STRATA_INVALID_ARGUMENT, "batch %zu: idempotency key is %zu bytes; the limit is %d", b,
                       strlen(batches[b].idempotency_key), STRATA_IDEMPOTENCY_KEY_MAX);
            return STRATA_INVALID_ARGUMENT;
        }
    }
    /* Every batch is encoded before anything is sent: a bad argument sends nothing. */
    buf body = {0};
    for (size_t b = 0; b < n_batches; b++) {
        int code;
        char err[STRATA_MESSAGE_MAX];
        if (encode_push_batch(&body, stream, version, fields, n_fields, &batches[b], b, opts.consistency, &code, err, sizeof err) < 0) {
            buf_free(&body);
            set_status(status, code, "%s", err);
            return code;
        }
    }
    strata_call *call = call_new(c, CALL_PUSH, opts.timeout_ms);
    if (!call) {
        buf_free(&body);
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return STRATA_RESOURCE_EXHAUSTED;
    }
    call->body = body;
    call->body_eof = 1;
    submit_call(call, SERVICE_PREFIX "PushEvents", opts.timeout_ms);
    int code = strata_call_wait(call);
    const char *message = strata_call_message(call);
    /* The answers arrive in batch order, one per batch, each naming its batch's key. */
    size_t answered = call->n_answers < n_batches ? call->n_answers : n_batches;
    if (call->n_answers > n_batches) {
        code = STRATA_INTERNAL;
        message = "the server sent more PushEvents answers than batches";
    }
    for (size_t i = 0; i < answered && code != STRATA_INTERNAL; i++) {
        const char *want = batches[i].idempotency_key ? batches[i].idempotency_key : "";
        const char *got = call->answers[i]->idempotency_key ? call->answers[i]->idempotency_key : "";
        if (strcmp(want, got) != 0) {
            code = STRATA_INTERNAL;
            message = "a PushEvents answer names another batch's idempotency key";
        }
    }
    if (code == STRATA_OK && answered != n_batches) {
        code = STRATA_INTERNAL;
        message = "the server ended the PushEvents call before answering every batch";
    }
    for (size_t i = 0; i < answered; i++) {
        const Strata__V1__PushEventsResponse *r = call->answers[i];
        if (summary) {
            summary->events_written += r->events_written;
            summary->late_events += r->late_events;
            summary->batches++;
            summary->duplicates += r->duplicate ? 1 : 0;
        }
        if (answers) {
            answers[i].answered = 1;
            answers[i].events_written = r->events_written;
            answers[i].late_events = r->late_events;
            answers[i].duplicate = r->duplicate ? 1 : 0;
        }
    }
    set_status(status, code, "%s", message);
    strata_call_free(call);
    return code;
}

/* ---- online cache ------------------------------------------------------------------------------ */

strata_tier strata_freshness_tier(int64_t refresh_interval_seconds, strata_group_kind kind) {
    if (refresh_interval_seconds >= 86400) return STRATA_TIER_BATCH;
    if (refresh_interval_seconds >= 3600) return STRATA_TIER_NEAR_REAL_TIME;
    if (refresh_interval_seconds > 0) return STRATA_TIER_STREAMING;
    return kind == STRATA_GROUP_KIND_ROWS ? STRATA_TIER_BATCH : STRATA_TIER_STREAMING;
}

const char *strata_tier_name(strata_tier tier) {
    switch (tier) {
    case STRATA_TIER_BATCH: return "batch";
    case STRATA_TIER_NEAR_REAL_TIME: return "near_real_time";
    case STRATA_TIER_STREAMING: return "streaming";
    default: return "unknown";
    }
}

void strata_cache_options_init(strata_cache_options *o) {
    memset(o, 0, sizeof *o);
    o->max_entries = 100000;
    o->ttl_batch_s = 3600;
    o->ttl_near_real_time_s = 60;
    o->ttl_streaming_s = 60;
}

/* One cached cell: the FeatureResult of (group, version, feature, entity), with its expiry. */
typedef struct cache_entry {
    struct cache_entry *hnext;            /* hash bucket chain */
    struct cache_entry *newer, *older;    /* LRU list */
    uint64_t hash;
    int64_t expires_ns;
    uint32_t version;
    int status;
    int64_t event_us;
    int kind; /* Strata__V1__Value__KindCase */
    union {
        double f;
        int64_t i;
        char *s;
        struct {
            float *v;
            size_t n;
        } e;
    } u;
    size_t key_len;
    char key[]; /* group NUL feature NUL entity NUL */
} cache_entry;

/* One resolved column, as the node answered it. */
typedef struct cache_column {
    char *ref, *group, *feature;
    uint32_t version, dtype, dim;
} cache_column;

/* How a requested reference resolved, confirmed by the node at `confirmed_ns`. */
typedef struct cache_ref {
    char *ref;
    cache_column *cols;
    size_t n_cols;
    int64_t ttl_ns, confirmed_ns;
} cache_ref;

typedef struct cache_group {
    char *name;
    uint32_t version;
    strata_tier tier;
    double ttl_s;
    size_t n_features;
} cache_group;

#define CACHE_MAX_REFS 1024

struct strata_cache {
    strata_cache_options opts;
    char **group_names;
    double *group_ttl;
    size_t n_group_ttls;
    cache_entry **buckets;
    size_t mask;
    cache_entry *newest, *oldest;
    size_t n_entries;
    cache_ref *refs;
    size_t n_refs;
    cache_group *groups;
    size_t n_groups, cap_groups;
    strata_cache_stats stats;
};

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void entry_free(cache_entry *e) {
    if (e->kind == STRATA__V1__VALUE__KIND_STRING_VALUE) free(e->u.s);
    else if (e->kind == STRATA__V1__VALUE__KIND_EMBEDDING_VALUE) free(e->u.e.v);
    free(e);
}

static void refs_clear(struct strata_cache *k) {
    for (size_t i = 0; i < k->n_refs; i++) {
        cache_ref *r = &k->refs[i];
        for (size_t j = 0; j < r->n_cols; j++) {
            free(r->cols[j].ref);
            free(r->cols[j].group);
            free(r->cols[j].feature);
        }
        free(r->cols);
        free(r->ref);
    }
    k->n_refs = 0;
}

static void cache_drop_all(struct strata_cache *k) {
    for (cache_entry *e = k->newest; e;) {
        cache_entry *next = e->older;
        entry_free(e);
        e = next;
    }
    memset(k->buckets, 0, (k->mask + 1) * sizeof *k->buckets);
    k->newest = k->oldest = NULL;
    k->n_entries = 0;
    refs_clear(k);
    for (size_t i = 0; i < k->n_groups; i++) free(k->groups[i].name);
    k->n_groups = 0;
}

static void cache_free(struct strata_cache *k) {
    if (!k) return;
    cache_drop_all(k);
    for (size_t i = 0; i < k->n_group_ttls; i++) free(k->group_names[i]);
    free(k->group_names);
    free(k->group_ttl);
    free(k->buckets);
    free(k->refs);
    free(k->groups);
    free(k);
}

int strata_client_enable_cache(strata_client *c, const strata_cache_options *options, strata_status *status) {
    strata_cache_options o;
    if (options) o = *options;
    else strata_cache_options_init(&o);
    if (o.max_entries < 1) {
        set_status(status, STRATA_INVALID_ARGUMENT, "max_entries must be at least 1");
        return STRATA_INVALID_ARGUMENT;
    }
    double tiers[3] = {o.ttl_batch_s, o.ttl_near_real_time_s, o.ttl_streaming_s};
    for (int i = 0; i < 3; i++)
        if (!(tiers[i] >= 0 && tiers[i] < 1e9)) {
            set_status(status, STRATA_INVALID_ARGUMENT, "the TTL of tier %s must be >= 0 seconds (and finite)",
                       strata_tier_name((strata_tier)i));
            return STRATA_INVALID_ARGUMENT;
        }
    for (size_t i = 0; i < o.n_group_ttls; i++)
        if (!o.group_ttl_names || !o.group_ttl_names[i] || !o.group_ttl_s || !(o.group_ttl_s[i] >= 0 && o.group_ttl_s[i] < 1e9)) {
            set_status(status, STRATA_INVALID_ARGUMENT, "group TTL %zu needs a group name and a TTL >= 0 seconds", i);
            return STRATA_INVALID_ARGUMENT;
        }
    struct strata_cache *k = calloc(1, sizeof *k);
    size_t buckets = 16;
    while (buckets < o.max_entries && buckets < ((size_t)1 << 30)) buckets <<= 1;
    if (k) {
        k->buckets = calloc(buckets, sizeof *k->buckets);
        k->refs = calloc(CACHE_MAX_REFS, sizeof *k->refs);
        k->group_names = calloc(o.n_group_ttls + 1, sizeof *k->group_names);
        k->group_ttl = calloc(o.n_group_ttls + 1, sizeof *k->group_ttl);
    }
    if (!k || !k->buckets || !k->refs || !k->group_names || !k->group_ttl) {
        cache_free(k);
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return STRATA_RESOURCE_EXHAUSTED;
    }
    k->mask = buckets - 1;
    for (size_t i = 0; i < o.n_group_ttls; i++) {
        k->group_names[i] = strdup(o.group_ttl_names[i]);
        k->group_ttl[i] = o.group_ttl_s[i];
        k->n_group_ttls++;
        if (!k->group_names[i]) {
            cache_free(k);
            set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
            return STRATA_RESOURCE_EXHAUSTED;
        }
    }
    o.group_ttl_names = NULL;
    o.group_ttl_s = NULL;
    o.n_group_ttls = 0;
    k->opts = o;
    cache_free(c->cache);
    c->cache = k;
    set_status(status, STRATA_OK, "");
    return STRATA_OK;
}

void strata_client_disable_cache(strata_client *c) {
    cache_free(c->cache);
    c->cache = NULL;
}

int strata_cache_stats_get(const strata_client *c, strata_cache_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (!c->cache) return 0;
    *stats = c->cache->stats;
    stats->entries = c->cache->n_entries;
    return 1;
}

void strata_cache_clear(strata_client *c) {
    if (!c->cache) return;
    cache_drop_all(c->cache);
    memset(&c->cache->stats, 0, sizeof c->cache->stats);
}

static cache_group *cache_group_find(const struct strata_cache *k, const char *name, uint32_t version) {
    for (size_t i = 0; i < k->n_groups; i++)
        if (k->groups[i].version == version && strcmp(k->groups[i].name, name) == 0) return &k->groups[i];
    return NULL;
}

int strata_cache_group_ttl(const strata_client *c, const char *group, uint32_t version, strata_tier *tier, double *ttl_s) {
    if (!c->cache) return 0;
    const cache_group *g = cache_group_find(c->cache, group, version);
    if (!g) return 0;
    if (tier) *tier = g->tier;
    if (ttl_s) *ttl_s = g->ttl_s;
    return 1;
}

static double cache_ttl_for(const struct strata_cache *k, const char *group, strata_tier tier) {
    for (size_t i = 0; i < k->n_group_ttls; i++)
        if (strcmp(k->group_names[i], group) == 0) return k->group_ttl[i];
    switch (tier) {
    case STRATA_TIER_BATCH: return k->opts.ttl_batch_s;
    case STRATA_TIER_NEAR_REAL_TIME: return k->opts.ttl_near_real_time_s;
    default: return k->opts.ttl_streaming_s;
    }
}

static int cache_group_add(struct strata_cache *k, const Strata__V1__FeatureGroup *g) {
    if (!g || !g->spec || cache_group_find(k, g->spec->name, g->version)) return 0;
    if (k->n_groups == k->cap_groups) {
        size_t cap = k->cap_groups ? 2 * k->cap_groups : 16;
        cache_group *ng = realloc(k->groups, cap * sizeof *ng);
        if (!ng) return -1;
        k->groups = ng;
        k->cap_groups = cap;
    }
    cache_group *x = &k->groups[k->n_groups];
    x->name = strdup(g->spec->name);
    if (!x->name) return -1;
    x->version = g->version;
    x->tier = strata_freshness_tier(g->spec->refresh_interval_seconds, (strata_group_kind)g->spec->kind);
    x->ttl_s = cache_ttl_for(k, x->name, x->tier);
    x->n_features = g->spec->n_features;
    k->n_groups++;
    return 0;
}

/* Reads the tiers of `name` (all its versions) from the registry. Returns the status code. */
static int cache_learn_group(strata_client *c, const char *name, uint32_t version, int timeout_ms, strata_status *status) {
    Strata__V1__GetFeatureGroupRequest req = STRATA__V1__GET_FEATURE_GROUP_REQUEST__INIT;
    req.name = (char *)name;
    req.version = version;
    strata_call *call = strata_call_unary(c, "GetFeatureGroup", &req.base, &strata__v1__get_feature_group_response__descriptor, timeout_ms);
    if (!call) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return STRATA_RESOURCE_EXHAUSTED;
    }
    int code = strata_call_wait(call);
    if (code == STRATA_OK) {
        const Strata__V1__GetFeatureGroupResponse *r = (const Strata__V1__GetFeatureGroupResponse *)strata_call_response(call);
        for (size_t i = 0; i < r->n_versions && code == STRATA_OK; i++)
            if (cache_group_add(c->cache, r->versions[i]) < 0) code = STRATA_RESOURCE_EXHAUSTED;
        if (code == STRATA_OK && cache_group_add(c->cache, r->group) < 0) code = STRATA_RESOURCE_EXHAUSTED;
        if (code == STRATA_OK && !cache_group_find(c->cache, name, version)) code = STRATA_NOT_FOUND;
    }
    set_status(status, code, "%s", code == STRATA_OK ? "" : strata_call_message(call));
    strata_call_free(call);
    return code;
}

static const cache_ref *cache_ref_find(const struct strata_cache *k, const char *ref) {
    for (size_t i = 0; i < k->n_refs; i++)
        if (strcmp(k->refs[i].ref, ref) == 0) return &k->refs[i];
    return NULL;
}

static int column_same(const cache_column *a, const Strata__V1__FeatureColumn *b) {
    return a->version == b->version && strcmp(a->group, b->group) == 0 && strcmp(a->feature, b->feature) == 0 &&
           strcmp(a->ref, b->ref) == 0 && a->dtype == (uint32_t)b->dtype && a->dim == b->embedding_dim;
}

/* Records that `ref` resolved to `cols` (the node's columns) at `at_ns`. */
static int cache_ref_confirm(struct strata_cache *k, const char *ref, Strata__V1__FeatureColumn *const *cols, size_t n,
                             int64_t ttl_ns, int64_t at_ns) {
    cache_ref *r = (cache_ref *)cache_ref_find(k, ref);
    if (r) {
        int same = r->n_cols == n;
        for (size_t i = 0; same && i < n; i++) same = column_same(&r->cols[i], cols[i]);
        if (same) {
            r->ttl_ns = ttl_ns;
            r->confirmed_ns = at_ns;
            return 0;
        }
    }
    cache_ref fresh = {0};
    fresh.ref = strdup(ref);
    fresh.cols = calloc(n ? n : 1, sizeof *fresh.cols);
    fresh.n_cols = n;
    fresh.ttl_ns = ttl_ns;
    fresh.confirmed_ns = at_ns;
    int ok = fresh.ref && fresh.cols;
    for (size_t i = 0; ok && i < n; i++) {
        cache_column *x = &fresh.cols[i];
        x->ref = strdup(cols[i]->ref);
        x->group = strdup(cols[i]->group);
        x->feature = strdup(cols[i]->feature);
        x->version = cols[i]->version;
        x->dtype = (uint32_t)cols[i]->dtype;
        x->dim = cols[i]->embedding_dim;
        ok = x->ref && x->group && x->feature;
    }
    if (!ok) {
        for (size_t i = 0; fresh.cols && i < n; i++) {
            free(fresh.cols[i].ref);
            free(fresh.cols[i].group);
            free(fresh.cols[i].feature);
        }
        free(fresh.cols);
        free(fresh.ref);
        return -1;
    }
    if (r) { /* replace in place */
        cache_ref old = *r;
        *r = fresh;
        for (size_t i = 0; i < old.n_cols; i++) {
            free(old.cols[i].ref);
            free(old.cols[i].group);
            free(old.cols[i].feature);
        }
        free(old.cols);
        free(old.ref);
        return 0;
    }
    if (k->n_refs == CACHE_MAX_REFS) refs_clear(k); /* references are few in practice */
    k->refs[k->n_refs++] = fresh;
    return 0;
}

static uint64_t entry_hash(const char *group, uint32_t version, const char *feature, const char *entity) {
    uint64_t h = 1469598103934665603ULL;
    h = fnv1a(group, strlen(group) + 1, h);
    h = fnv1a(&version, sizeof version, h);
    h = fnv1a(feature, strlen(feature) + 1, h);
    return fnv1a(entity, strlen(entity) + 1, h);
}

static int entry_is(const cache_entry *e, uint64_t h, const char *group, uint32_t version, const char *feature,
                    const char *entity) {
    if (e->hash != h || e->version != version) return 0;
    const char *p = e->key;
    if (strcmp(p, group) != 0) return 0;
    p += strlen(p) + 1;
    if (strcmp(p, feature) != 0) return 0;
    p += strlen(p) + 1;
    return strcmp(p, entity) == 0;
}

static void lru_unlink(struct strata_cache *k, cache_entry *e) {
    if (e->newer) e->newer->older = e->older;
    else k->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else k->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct strata_cache *k, cache_entry *e) {
    e->newer = NULL;
    e->older = k->newest;
    if (k->newest) k->newest->newer = e;
    k->newest = e;
    if (!k->oldest) k->oldest = e;
}

static void entry_remove(struct strata_cache *k, cache_entry *e) {
    cache_entry **pp = &k->buckets[e->hash & k->mask];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(k, e);
    k->n_entries--;
    entry_free(e);
}

static cache_entry *entry_find(struct strata_cache *k, const char *group, uint32_t version, const char *feature,
                               const char *entity) {
    uint64_t h = entry_hash(group, version, feature, entity);
    for (cache_entry *e = k->buckets[h & k->mask]; e; e = e->hnext)
        if (entry_is(e, h, group, version, feature, entity)) return e;
    return NULL;
}

/* Stores one cell (replacing an older copy), then evicts the least recently used beyond max_entries. */
static int entry_put(struct strata_cache *k, const char *group, uint32_t version, const char *feature, const char *entity,
                     const Strata__V1__FeatureResult *fr, int64_t expires_ns) {
    size_t gl = strlen(group), fl = strlen(feature), el = strlen(entity);
    cache_entry *e = calloc(1, sizeof *e + gl + fl + el + 3);
    if (!e) return -1;
    memcpy(e->key, group, gl + 1);
    memcpy(e->key + gl + 1, feature, fl + 1);
    memcpy(e->key + gl + fl + 2, entity, el + 1);
    e->key_len = gl + fl + el + 3;
    e->hash = entry_hash(group, version, feature, entity);
    e->version = version;
    e->expires_ns = expires_ns;
    e->status = fr->status;
    e->event_us = fr->event_timestamp_micros;
    e->kind = fr->value ? (int)fr->value->kind_case : STRATA__V1__VALUE__KIND__NOT_SET;
    switch (e->kind) {
    case STRATA__V1__VALUE__KIND_FLOAT_VALUE: e->u.f = fr->value->float_value; break;
    case STRATA__V1__VALUE__KIND_INT_VALUE: e->u.i = fr->value->int_value; break;
    case STRATA__V1__VALUE__KIND_STRING_VALUE:
        e->u.s = strdup(fr->value->string_value ? fr->value->string_value : "");
        if (!e->u.s) {
            free(e);
            return -1;
        }
        break;
    case STRATA__V1__VALUE__KIND_EMBEDDING_VALUE: {
        size_t n = fr->value->embedding_value ? fr->value->embedding_value->n_values : 0;
        e->u.e.n = n;
        e->u.e.v = malloc((n ? n : 1) * sizeof(float));
        if (!e->u.e.v) {
            free(e);
            return -1;
        }
        if (n) memcpy(e->u.e.v, fr->value->embedding_value->values, n * sizeof(float));
        break;
    }
    default: e->kind = STRATA__V1__VALUE__KIND__NOT_SET; break;
    }
    cache_entry *old = entry_find(k, group, version, feature, entity);
    if (old) entry_remove(k, old);
    cache_entry **b = &k->buckets[e->hash & k->mask];
    e->hnext = *b;
    *b = e;
    lru_push(k, e);
    k->n_entries++;
    while (k->n_entries > k->opts.max_entries && k->oldest) {
        entry_remove(k, k->oldest);
        k->stats.evictions++;
    }
    return 0;
}

/* ---- building results in an arena ---- */

static char *arena_strdup(arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    if (p) memcpy(p, s, n);
    return p;
}

/* A FeatureResult in the arena from a cache entry. */
static Strata__V1__FeatureResult *result_from_entry(arena *a, const cache_entry *e) {
    static const Strata__V1__FeatureResult fr_init = STRATA__V1__FEATURE_RESULT__INIT;
    static const Strata__V1__Value v_init = STRATA__V1__VALUE__INIT;
    static const Strata__V1__Embedding emb_init = STRATA__V1__EMBEDDING__INIT;
    Strata__V1__FeatureResult *fr = arena_alloc(a, sizeof *fr);
    if (!fr) return NULL;
    *fr = fr_init;
    fr->status = (Strata__V1__ValueStatus)e->status;
    fr->event_timestamp_micros = e->event_us;
    if (e->kind == STRATA__V1__VALUE__KIND__NOT_SET) return fr;
    Strata__V1__Value *v = arena_alloc(a, sizeof *v);
    if (!v) return NULL;
    *v = v_init;
    v->kind_case = (Strata__V1__Value__KindCase)e->kind;
    switch (e->kind) {
    case STRATA__V1__VALUE__KIND_FLOAT_VALUE: v->float_value = e->u.f; break;
    case STRATA__V1__VALUE__KIND_INT_VALUE: v->int_value = e->u.i; break;
    case STRATA__V1__VALUE__KIND_STRING_VALUE:
        if (!(v->string_value = arena_strdup(a, e->u.s))) return NULL;
        break;
    default: {
        Strata__V1__Embedding *emb = arena_alloc(a, sizeof *emb);
        if (!emb) return NULL;
        *emb = emb_init;
        emb->n_values = e->u.e.n;
        emb->values = arena_alloc(a, (e->u.e.n ? e->u.e.n : 1) * sizeof(float));
        if (!emb->values) return NULL;
        if (e->u.e.n) memcpy(emb->values, e->u.e.v, e->u.e.n * sizeof(float));
        v->embedding_value = emb;
    }
    }
    fr->value = v;
    return fr;
}

/* A deep copy of a FeatureResult (from another result) into the arena. */
static Strata__V1__FeatureResult *result_copy(arena *a, const Strata__V1__FeatureResult *src) {
    cache_entry e;
    memset(&e, 0, sizeof e);
    e.status = src->status;
    e.event_us = src->event_timestamp_micros;
    e.kind = src->value ? (int)src->value->kind_case : STRATA__V1__VALUE__KIND__NOT_SET;
    switch (e.kind) {
    case STRATA__V1__VALUE__KIND_FLOAT_VALUE: e.u.f = src->value->float_value; break;
    case STRATA__V1__VALUE__KIND_INT_VALUE: e.u.i = src->value->int_value; break;
    case STRATA__V1__VALUE__KIND_STRING_VALUE: e.u.s = src->value->string_value ? src->value->string_value : (char *)""; break;
    case STRATA__V1__VALUE__KIND_EMBEDDING_VALUE:
        e.u.e.v = src->value->embedding_value ? src->value->embedding_value->values : NULL;
        e.u.e.n = src->value->embedding_value ? src->value->embedding_value->n_values : 0;
        break;
    default: e.kind = STRATA__V1__VALUE__KIND__NOT_SET;
    }
    return result_from_entry(a, &e);
}

/* ---- the cached lookup ---- */

/* A string -> first index map over a list of strings (open addressing). */
typedef struct str_index {
    long *slots;
    size_t mask;
    const char *const *keys;
} str_index;

static int str_index_init(str_index *x, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    x->slots = malloc(cap * sizeof *x->slots);
    if (!x->slots) return -1;
    for (size_t i = 0; i < cap; i++) x->slots[i] = -1;
    x->mask = cap - 1;
    return 0;
}

/* The index stored for `s`, or stores `add` (>= 0) and returns -1 when absent. */
static long str_index_get(str_index *x, const char *const *keys, const char *s, long add) {
    size_t i = fnv1a(s, strlen(s), 1469598103934665603ULL) & x->mask;
    while (x->slots[i] >= 0) {
        if (strcmp(keys[x->slots[i]], s) == 0) return x->slots[i];
        i = (i + 1) & x->mask;
    }
    if (add >= 0) x->slots[i] = add;
    return -1;
}

static int ref_is_wildcard(const char *ref) {
    const char *colon = strchr(ref, ':');
    if (!colon) return 0;
    const char *p = colon + 1;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p != '*') return 0;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return *p == 0;
}

static int ref_is_unpinned(const char *ref) {
    const char *colon = strchr(ref, ':');
    const char *at = strchr(ref, '@');
    return !at || (colon && at > colon);
}

/* How the node's answer to (refs x entities) splits into the columns of each ref: first[k], count[k].
 * Learns the tiers of new group versions. Returns 0, 1 if the columns do not match the refs, or -1 on
 * an error (status set). */
static int split_columns(strata_client *c, const Strata__V1__GetOnlineFeaturesResponse *m, const char *const *refs, size_t nr,
                         size_t *first, size_t *count, int timeout_ms, strata_status *status) {
    struct strata_cache *k = c->cache;
    for (size_t i = 0; i < m->n_columns; i++) {
        const Strata__V1__FeatureColumn *col = m->columns[i];
        if (!cache_group_find(k, col->group, col->version)) {
            int code = cache_learn_group(c, col->group, col->version, timeout_ms, status);
            if (code == STRATA_NOT_FOUND) return 1;
            if (code != STRATA_OK) return -1;
        }
    }
    size_t p = 0;
    for (size_t j = 0; j < nr; j++) {
        if (p >= m->n_columns) return 1;
        const Strata__V1__FeatureColumn *f = m->columns[p];
        size_t n = ref_is_wildcard(refs[j]) ? cache_group_find(k, f->group, f->version)->n_features : 1;
        if (p + n > m->n_columns) return 1;
        for (size_t i = p; i < p + n; i++)
            if (m->columns[i]->version != f->version || strcmp(m->columns[i]->group, f->group) != 0) return 1;
        first[j] = p;
        count[j] = n;
        p += n;
    }
    return p == m->n_columns ? 0 : 1;
}

/* Stores every cell of the node's answer (stamped with the time the request was sent) and confirms
 * how each ref resolved. */
static void absorb(struct strata_cache *k, const Strata__V1__GetOnlineFeaturesResponse *m, const char *const *refs, size_t nr,
                   const size_t *first, const size_t *count, int64_t sent_ns) {
    for (size_t ci = 0; ci < m->n_columns; ci++) {
        const Strata__V1__FeatureColumn *col = m->columns[ci];
        double ttl = cache_group_find(k, col->group, col->version)->ttl_s;
        if (ttl <= 0) continue;
        int64_t expires = sent_ns + (int64_t)(ttl * 1e9);
        for (size_t e = 0; e < m->n_vectors; e++)
            entry_put(k, col->group, col->version, col->feature, m->vectors[e]->entity_id, m->vectors[e]->results[ci], expires);
    }
    for (size_t j = 0; j < nr; j++) {
        const Strata__V1__FeatureColumn *f = m->columns[first[j]];
        double ttl = cache_group_find(k, f->group, f->version)->ttl_s;
        cache_ref_confirm(k, refs[j], m->columns + first[j], count[j], (int64_t)(ttl * 1e9), sent_ns);
    }
}

static strata_result *plain_lookup(strata_client *c, const char *const *ids, size_t n, const char *const *refs, size_t nf,
                                   int timeout_ms, strata_status *status) {
    strata_call *call = strata_lookup_async(c, ids, n, refs, nf, timeout_ms);
    if (!call) {
        set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    int code = strata_call_wait(call);
    set_status(status, code, "%s", strata_call_message(call));
    strata_result *r = strata_call_take_result(call);
    strata_call_free(call);
    return r;
}

static strata_result *cached_lookup(strata_client *c, const char *const *ids, size_t n, const char *const *refs, size_t nf,
                                    int timeout_ms, strata_status *status) {
    struct strata_cache *k = c->cache;
    strata_result *res = calloc(1, sizeof *res);
    /* Per ref: the columns it resolved to (copied) and, per column and entity, the hit or NULL. */
    cache_column **res_cols = calloc(nf, sizeof *res_cols);
    size_t *res_n = calloc(nf, sizeof *res_n);
    Strata__V1__FeatureResult ***found = calloc(nf, sizeof *found);
    char *ref_miss = calloc(nf, 1), *entity_miss = calloc(n, 1);
    const char **req_refs = calloc(nf, sizeof *req_refs);
    const char **req_ids = calloc(n, sizeof *req_ids);
    size_t *first = calloc(nf + 1, sizeof *first), *count = calloc(nf + 1, sizeof *count);
    long *ref_pos = calloc(nf, sizeof *ref_pos);
    str_index idx = {0};
    strata_result *fetched = NULL, *out = NULL;
    uint64_t hits = 0, misses = 0;
    if (!res || !res_cols || !res_n || !found || !ref_miss || !entity_miss || !req_refs || !req_ids || !first || !count ||
        !ref_pos || str_index_init(&idx, n) < 0)
        goto oom;
    arena *a = &res->mem;
    int64_t now = now_ns();
    for (size_t j = 0; j < nf; j++) {
        const cache_ref *r = cache_ref_find(k, refs[j]);
        if (!r || !(now - r->confirmed_ns < r->ttl_ns)) {
            ref_miss[j] = 1;
            memset(entity_miss, 1, n);
            continue;
        }
        res_n[j] = r->n_cols;
        res_cols[j] = arena_alloc(a, (r->n_cols ? r->n_cols : 1) * sizeof **res_cols);
        found[j] = arena_alloc(a, (r->n_cols * n > 0 ? r->n_cols * n : 1) * sizeof **found);
        if (!res_cols[j] || !found[j]) goto oom;
        for (size_t ci = 0; ci < r->n_cols; ci++) {
            cache_column *dst = &res_cols[j][ci];
            *dst = r->cols[ci];
            dst->ref = arena_strdup(a, r->cols[ci].ref);
            dst->group = arena_strdup(a, r->cols[ci].group);
            dst->feature = arena_strdup(a, r->cols[ci].feature);
            if (!dst->ref || !dst->group || !dst->feature) goto oom;
            for (size_t i = 0; i < n; i++) {
                Strata__V1__FeatureResult *hit = NULL;
                cache_entry *e = entry_find(k, dst->group, dst->version, dst->feature, ids[i]);
                if (e && !(now < e->expires_ns)) {
                    entry_remove(k, e);
                    k->stats.expirations++;
                    e = NULL;
                }
                if (e) {
                    lru_unlink(k, e);
                    lru_push(k, e);
                    if (!(hit = result_from_entry(a, e))) goto oom;
                } else {
                    ref_miss[j] = 1;
                    entity_miss[i] = 1;
                }
                found[j][ci * n + i] = hit;
            }
        }
    }
    /* The request for the missing cells: distinct refs and entities, in request order. */
    size_t nr = 0, ne = 0;
    for (size_t j = 0; j < nf; j++) {
        ref_pos[j] = -1;
        if (!ref_miss[j]) continue;
        for (size_t q = 0; q < nr && ref_pos[j] < 0; q++)
            if (strcmp(req_refs[q], refs[j]) == 0) ref_pos[j] = (long)q;
        if (ref_pos[j] < 0) {
            ref_pos[j] = (long)nr;
            req_refs[nr++] = refs[j];
        }
    }
    for (size_t i = 0; i < n; i++)
        if (entity_miss[i] && str_index_get(&idx, req_ids, ids[i], (long)ne) < 0) req_ids[ne++] = ids[i];
    const Strata__V1__GetOnlineFeaturesResponse *fm = NULL;
    if (nr > 0) {
        int64_t sent = now_ns();
        fetched = plain_lookup(c, req_ids, ne, req_refs, nr, timeout_ms, status);
        if (!fetched) goto done;
        fm = fetched->msg;
        int split = fm->n_vectors == ne ? split_columns(c, fm, req_refs, nr, first, count, timeout_ms, status) : 1;
        if (split < 0) goto done;
        int consistent = split == 0;
        if (consistent) absorb(k, fm, req_refs, nr, first, count, sent);
        /* A ref answered partly from its cached resolution must resolve the same way now, and every
         * unpinned ref answered from the cache must name the version the node just chose for its group. */
        for (size_t j = 0; consistent && j < nf; j++) {
            if (!res_cols[j]) continue;
            if (ref_miss[j]) {
                size_t q = (size_t)ref_pos[j];
                consistent = count[q] == res_n[j];
                for (size_t ci = 0; consistent && ci < res_n[j]; ci++)
                    consistent = column_same(&res_cols[j][ci], fm->columns[first[q] + ci]);
            } else if (ref_is_unpinned(refs[j])) {
                for (size_t q = 0; consistent && q < nr; q++) {
                    const Strata__V1__FeatureColumn *f = fm->columns[first[q]];
                    if (ref_is_unpinned(req_refs[q]) && strcmp(f->group, res_cols[j][0].group) == 0)
                        consistent = f->version == res_cols[j][0].version;
                }
            }
        }
        if (!consistent) {
            /* One plain lookup of everything, stored too. */
            strata_result_free(fetched);
            fetched = NULL;
            int64_t sent2 = now_ns();
            out = plain_lookup(c, ids, n, refs, nf, timeout_ms, status);
            if (out) {
                size_t *f2 = calloc(nf, sizeof *f2), *n2 = calloc(nf, sizeof *n2);
                if (f2 && n2 && split_columns(c, out->msg, refs, nf, f2, n2, timeout_ms, status) == 0)
                    absorb(k, out->msg, refs, nf, f2, n2, sent2);
                free(f2);
                free(n2);
                k->stats.misses += (uint64_t)out->msg->n_columns * n;
                set_status(status, STRATA_OK, "");
            }
            goto done;
        }
    }
    /* Assemble the answer in request order. */
    {
        static const Strata__V1__GetOnlineFeaturesResponse m_init = STRATA__V1__GET_ONLINE_FEATURES_RESPONSE__INIT;
        static const Strata__V1__FeatureColumn col_init = STRATA__V1__FEATURE_COLUMN__INIT;
        static const Strata__V1__FeatureVector vec_init = STRATA__V1__FEATURE_VECTOR__INIT;
        size_t total = 0;
        for (size_t j = 0; j < nf; j++) total += ref_miss[j] ? count[ref_pos[j]] : res_n[j];
        Strata__V1__GetOnlineFeaturesResponse *m = arena_alloc(a, sizeof *m);
        if (!m) goto oom;
        *m = m_init;
        m->n_columns = total;
        m->columns = arena_alloc(a, (total ? total : 1) * sizeof *m->columns);
        m->n_vectors = n;
        m->vectors = arena_alloc(a, (n ? n : 1) * sizeof *m->vectors);
        if (!m->columns || !m->vectors) goto oom;
        size_t col = 0;
        for (size_t j = 0; j < nf; j++) {
            size_t cols = ref_miss[j] ? count[ref_pos[j]] : res_n[j];
            for (size_t ci = 0; ci < cols; ci++, col++) {
                Strata__V1__FeatureColumn *x = arena_alloc(a, sizeof *x);
                if (!x) goto oom;
                *x = col_init;
                if (ref_miss[j]) {
                    const Strata__V1__FeatureColumn *f = fm->columns[first[ref_pos[j]] + ci];
                    x->ref = arena_strdup(a, f->ref);
                    x->group = arena_strdup(a, f->group);
                    x->feature = arena_strdup(a, f->feature);
                    x->version = f->version;
                    x->dtype = f->dtype;
                    x->embedding_dim = f->embedding_dim;
                } else {
                    const cache_column *f = &res_cols[j][ci];
                    x->ref = f->ref;
                    x->group = f->group;
                    x->feature = f->feature;
                    x->version = f->version;
                    x->dtype = (Strata__V1__DType)f->dtype;
                    x->embedding_dim = f->dim;
                }
                if (!x->ref || !x->group || !x->feature) goto oom;
                m->columns[col] = x;
            }
        }
        for (size_t i = 0; i < n; i++) {
            Strata__V1__FeatureVector *v = arena_alloc(a, sizeof *v);
            if (!v) goto oom;
            *v = vec_init;
            v->entity_id = arena_strdup(a, ids[i]);
            v->n_results = total;
            v->results = arena_alloc(a, (total ? total : 1) * sizeof *v->results);
            if (!v->entity_id || !v->results) goto oom;
            long row = entity_miss[i] ? str_index_get(&idx, req_ids, ids[i], -1) : -1;
            col = 0;
            for (size_t j = 0; j < nf; j++) {
                size_t cols = ref_miss[j] ? count[ref_pos[j]] : res_n[j];
                for (size_t ci = 0; ci < cols; ci++, col++) {
                    if (ref_miss[j] && row >= 0) {
                        v->results[col] = result_copy(a, fm->vectors[row]->results[first[ref_pos[j]] + ci]);
                        if (!v->results[col]) goto oom;
                        misses++;
                    } else {
                        v->results[col] = found[j][ci * n + i];
                        hits++;
                    }
                }
            }
            m->vectors[i] = v;
        }
        res->msg = m;
        out = res;
        res = NULL;
        k->stats.hits += hits;
        k->stats.misses += misses;
        set_status(status, STRATA_OK, "");
    }
    goto done;
oom:
    set_status(status, STRATA_RESOURCE_EXHAUSTED, "out of memory");
    out = NULL;
done:
    strata_result_free(res);
    strata_result_free(fetched);
    free(res_cols);
    free(res_n);
    free(found);
    free(ref_miss);
    free(entity_miss);
    free(req_refs);
    free(req_ids);
    free(first);
    free(count);
    free(ref_pos);
    free(idx.slots);
    return out;
}
