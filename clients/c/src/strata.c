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
};

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

strata_result *strata_lookup(strata_client *c, const char *const *entity_ids, size_t n_entities,
                             const char *const *features, size_t n_features, int timeout_ms, strata_status *status) {
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
