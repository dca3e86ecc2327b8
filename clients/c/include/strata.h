/*
 * strata.h: C client of the Strata feature store.
 *
 * One strata_client is one HTTP/2 connection (plain TCP, prior knowledge, no TLS) to one node. Every
 * call is a gRPC call on its own stream of that connection, so any number of calls can be in flight
 * at once: submit several with the *_async functions, then wait for one (strata_call_wait), for the
 * next that completes (strata_wait_any), or for all (strata_wait_all). The synchronous functions
 * (strata_lookup, the writer, strata_push_events) are the same machinery with a wait.
 *
 * Threads: a client and everything obtained from it (calls, results, writers) belong to one thread at
 * a time. Use one client per thread; clients are independent of each other.
 *
 * I/O: the library never starts threads. Socket I/O happens inside the wait/poll functions and inside
 * submissions (which write what they can without blocking). Connections:
 *   - A connection that failed, or that the server closed with GOAWAY, is replaced by a new one on the
 *     next submission once no call is left on it (that submission blocks for the TCP connect, at most
 *     connect_timeout_ms). Before a call on a connection idle for over a second, the client reads what
 *     the server sent meanwhile, so an idle connection closed by the server is replaced instead of
 *     failing the call.
 *   - Calls running when the connection fails complete with STRATA_UNAVAILABLE. Calls the server
 *     refused after its GOAWAY (never processed, safe to retry) too, with a message saying so.
 *   - While calls are still running on a connection the server is closing (GOAWAY), new calls on the
 *     same client fail at once with STRATA_UNAVAILABLE: the client keeps one connection at a time.
 *   - Calls are never retried by the library.
 *
 * Ownership, in one place:
 *   - strata_connect        -> strata_client *   free with strata_close (frees nothing else).
 *   - strata_*_async        -> strata_call *     free with strata_call_free (cancels it if still
 *                                                running). Everything a call returns (message,
 *                                                result, response) is borrowed from it and lives
 *                                                until strata_call_free, unless taken with a
 *                                                strata_call_take_* function.
 *   - strata_lookup, strata_call_take_result -> strata_result *   free with strata_result_free.
 *   - strata_result accessors return pointers into the result (strings, embeddings): valid until
 *     strata_result_free.
 *   - strata_write_begin    -> strata_writer *   freed by strata_write_finish or strata_write_abort.
 *   - strata_push_events    -> nothing to free: it runs one call to completion and fills the
 *                              caller's summary and answers.
 *   - Request arguments (entity ids, feature names, values) are copied/encoded before the function
 *     returns; the caller may reuse them at once.
 *   - Calls, results and writers must be freed before the client they came from is closed.
 *
 * Status codes are gRPC's (STRATA_OK .. STRATA_UNAUTHENTICATED). Failures that happen in the client
 * map to the code a gRPC library would use: connection refused/lost or GOAWAY -> STRATA_UNAVAILABLE,
 * call timeout -> STRATA_DEADLINE_EXCEEDED, undecodable response -> STRATA_INTERNAL, response over the
 * size limit -> STRATA_RESOURCE_EXHAUSTED, bad arguments -> STRATA_INVALID_ARGUMENT.
 *
 * The raw protobuf-c types (gen/strata/v1/feature_store.pb-c.h, types.pb-c.h) are only needed for strata_call_unary and
 * strata_result_proto; everything else is plain C.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------------------------------ */

/* gRPC status codes. */
enum {
    STRATA_OK = 0,
    STRATA_CANCELLED = 1,
    STRATA_UNKNOWN = 2,
    STRATA_INVALID_ARGUMENT = 3,
    STRATA_DEADLINE_EXCEEDED = 4,
    STRATA_NOT_FOUND = 5,
    STRATA_ALREADY_EXISTS = 6,
    STRATA_PERMISSION_DENIED = 7,
    STRATA_RESOURCE_EXHAUSTED = 8,
    STRATA_FAILED_PRECONDITION = 9,
    STRATA_ABORTED = 10,
    STRATA_OUT_OF_RANGE = 11,
    STRATA_UNIMPLEMENTED = 12,
    STRATA_INTERNAL = 13,
    STRATA_UNAVAILABLE = 14,
    STRATA_DATA_LOSS = 15,
    STRATA_UNAUTHENTICATED = 16
};

/* "OK", "NOT_FOUND", ...; "UNKNOWN_CODE" for numbers outside 0..16. Static storage. */
const char *strata_code_name(int code);

/* Outcome of a synchronous function. `message` is the server's grpc-message (percent-decoded) or the
 * client's description of a local failure, truncated to fit; the async API (strata_call_message)
 * gives the whole message. */
#define STRATA_MESSAGE_MAX 1024
typedef struct strata_status {
    int code;
    char message[STRATA_MESSAGE_MAX];
} strata_status;

/* ---- values ------------------------------------------------------------------------------------ */

/* Data type of a value; the numbers are those of strata.v1.DType. STRATA_NULL is "no value". */
typedef enum strata_dtype {
    STRATA_NULL = 0,
    STRATA_FLOAT = 1,     /* double */
    STRATA_INT = 2,       /* int64_t */
    STRATA_STRING = 3,    /* UTF-8, NUL-terminated */
    STRATA_EMBEDDING = 4  /* array of float */
} strata_dtype;

/* How a returned value came about; the numbers are those of strata.v1.ValueStatus. */
typedef enum strata_value_status {
    STRATA_STATUS_UNSPECIFIED = 0,
    STRATA_PRESENT = 1,   /* a stored value */
    STRATA_DEFAULTED = 2, /* no stored value: the feature's default */
    STRATA_MISSING = 3,   /* no stored value, no default: null */
    STRATA_EXPIRED = 4    /* the row is older than the group's max age: default or null */
} strata_value_status;

/* "PRESENT", "DEFAULTED", ...; "DTYPE_UNSPECIFIED"-style names for other numbers. Static storage. */
const char *strata_value_status_name(strata_value_status status);
const char *strata_dtype_name(strata_dtype dtype);

/* One value: written by strata_write_row, returned by strata_result_value. Pointers are borrowed. */
typedef struct strata_value {
    strata_dtype type;
    union {
        double f;
        int64_t i;
        struct {
            const char *ptr; /* NUL-terminated */
            size_t len;      /* bytes, without the NUL (filled on read; ignored on write) */
        } s;
        struct {
            const float *ptr;
            size_t dim;
        } e;
    } u;
} strata_value;

static inline strata_value strata_value_null(void) {
    strata_value v;
    v.type = STRATA_NULL;
    v.u.i = 0;
    return v;
}
static inline strata_value strata_value_float(double x) {
    strata_value v;
    v.type = STRATA_FLOAT;
    v.u.f = x;
    return v;
}
static inline strata_value strata_value_int(int64_t x) {
    strata_value v;
    v.type = STRATA_INT;
    v.u.i = x;
    return v;
}
static inline strata_value strata_value_string(const char *s) {
    strata_value v;
    v.type = STRATA_STRING;
    v.u.s.ptr = s;
    v.u.s.len = 0;
    return v;
}
static inline strata_value strata_value_embedding(const float *values, size_t dim) {
    strata_value v;
    v.type = STRATA_EMBEDDING;
    v.u.e.ptr = values;
    v.u.e.dim = dim;
    return v;
}

/* ---- client ------------------------------------------------------------------------------------ */

typedef struct strata_options {
    /* TCP connect timeout (default 5000). */
    int connect_timeout_ms;
    /* HTTP/2 receive windows: SETTINGS_INITIAL_WINDOW_SIZE per stream (default 8 MiB) and the
     * connection window (default 16 MiB). The library consumes received DATA at once and lets
     * nghttp2 send WINDOW_UPDATE, so responses of any size flow; larger windows save round trips. */
    uint32_t stream_window_bytes;
    uint32_t connection_window_bytes;
    /* Largest response message accepted (default 64 MiB); a larger one fails the call with
     * STRATA_RESOURCE_EXHAUSTED. */
    size_t max_response_bytes;
} strata_options;

/* Fills `options` with the defaults. */
void strata_options_init(strata_options *options);

typedef struct strata_client strata_client;

/* Connects to `address` ("host:port", "[v6addr]:port") and starts the HTTP/2 session (client
 * preface and SETTINGS are sent; the call does not wait for the server's SETTINGS). `options` may be
 * NULL (defaults). Returns NULL on failure with `status` (if not NULL) set, e.g. STRATA_UNAVAILABLE
 * "connect 127.0.0.1:1: Connection refused". */
strata_client *strata_connect(const char *address, const strata_options *options, strata_status *status);

/* Closes the connection (GOAWAY, then close). Every call, result and writer from this client must
 * have been freed. NULL is ignored. */
void strata_close(strata_client *client);

typedef struct strata_client_stats {
    uint64_t calls;            /* calls submitted */
    uint64_t connections;      /* TCP connections opened (1 + reconnects) */
    uint32_t open_streams;     /* HTTP/2 streams open now */
    uint32_t max_open_streams; /* most streams that were open at the same time */
    uint32_t server_max_concurrent_streams; /* the server's SETTINGS_MAX_CONCURRENT_STREAMS */
} strata_client_stats;

void strata_client_stats_get(const strata_client *client, strata_client_stats *stats);

/* ---- calls ------------------------------------------------------------------------------------- */

typedef struct strata_call strata_call;

/* Starts GetOnlineFeatures for `n_entities` entity ids and `n_features` feature references
 * ("group:feature", "group@2:feature", "group:*"). `timeout_ms` > 0 sets a deadline (sent as
 * grpc-timeout, and enforced by the client: the stream is reset and the call completes with
 * STRATA_DEADLINE_EXCEEDED); 0 means none. Never returns NULL except when out of memory: a call that
 * cannot even start completes at once with its error status. */
strata_call *strata_lookup_async(strata_client *client, const char *const *entity_ids, size_t n_entities,
                                 const char *const *features, size_t n_features, int timeout_ms);

/* Starts any unary RPC of strata.v1.FeatureStore with protobuf-c messages: `method` is the RPC name
 * ("GetStatus", "ApplyFeatureGroups", ...) or a full path ("/strata.v1.FeatureStore/GetStatus").
 * `request` is packed before the function returns. The response (when the call succeeds) is
 * unpacked as `response_type` and available through strata_call_response. */
strata_call *strata_call_unary(strata_client *client, const char *method, const ProtobufCMessage *request,
                               const ProtobufCMessageDescriptor *response_type, int timeout_ms);

/* Runs the connection until `call` completes. Returns its status code. */
int strata_call_wait(strata_call *call);

/* Runs the connection until a call completes that was not yet returned by strata_wait_any or waited
 * for with strata_call_wait, and returns it; NULL if no call is running or pending return, or after
 * `timeout_ms` (< 0: no limit). Calls are returned in completion order. */
strata_call *strata_wait_any(strata_client *client, int timeout_ms);

/* Runs the connection until no call is running. Returns 0, or -1 if `timeout_ms` (>= 0) passed
 * first. */
int strata_wait_all(strata_client *client, int timeout_ms);

/* One round of I/O: waits at most `timeout_ms` (0: do not block, < 0: no limit) for the socket,
 * processes what arrived, sends what can be sent, and enforces deadlines. Returns the number of
 * calls that completed during the round. For callers running their own loop. */
int strata_poll(strata_client *client, int timeout_ms);

/* 1 when the call has completed (successfully or not). */
int strata_call_done(const strata_call *call);

/* Status code of a completed call (STRATA_UNKNOWN while running). */
int strata_call_code(const strata_call *call);

/* The call's status message ("" for OK), percent-decoded; borrowed. */
const char *strata_call_message(const strata_call *call);

/* Lookups only: the result of a successful call (NULL otherwise); borrowed from the call. */
const struct strata_result *strata_call_result(const strata_call *call);

/* Like strata_call_result, but the caller takes ownership (free with strata_result_free); a second
 * take returns NULL. */
struct strata_result *strata_call_take_result(strata_call *call);

/* strata_call_unary only: the unpacked response of a successful call (NULL otherwise); borrowed. */
const ProtobufCMessage *strata_call_response(const strata_call *call);

/* Like strata_call_response, but the caller takes ownership: free with
 * protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *strata_call_take_response(strata_call *call);

/* Microseconds from submission to completion (0 while running). */
int64_t strata_call_latency_us(const strata_call *call);

/* An opaque pointer for the caller (e.g. to find its context when strata_wait_any returns). */
void strata_call_set_user_data(strata_call *call, void *user_data);
void *strata_call_user_data(const strata_call *call);

/* Frees the call; a call still running is cancelled (RST_STREAM CANCEL). NULL is ignored. */
void strata_call_free(strata_call *call);

/* ---- online lookup ----------------------------------------------------------------------------- */

typedef struct strata_result strata_result;

/* Synchronous lookup: strata_lookup_async + strata_call_wait, or through the client's online cache
 * when one is enabled (strata_client_enable_cache). Returns the result (free with strata_result_free)
 * or NULL with `status` set. `status` may be NULL. */
strata_result *strata_lookup(strata_client *client, const char *const *entity_ids, size_t n_entities,
                             const char *const *features, size_t n_features, int timeout_ms,
                             strata_status *status);

void strata_result_free(strata_result *result);

/* Entities, in request order. */
size_t strata_result_entity_count(const strata_result *result);
const char *strata_result_entity_id(const strata_result *result, size_t entity);

/* Columns: the requested references, expanded ("g:*") and resolved ("user_stats@1:clicks"). */
size_t strata_result_column_count(const strata_result *result);
const char *strata_result_column_ref(const strata_result *result, size_t column);
const char *strata_result_column_group(const strata_result *result, size_t column);
uint32_t strata_result_column_version(const strata_result *result, size_t column);
const char *strata_result_column_feature(const strata_result *result, size_t column);
strata_dtype strata_result_column_dtype(const strata_result *result, size_t column);
uint32_t strata_result_column_embedding_dim(const strata_result *result, size_t column);
/* The column whose ref or "group:feature" equals `name`, or -1. */
long strata_result_column_index(const strata_result *result, const char *name);

/* The value of (entity, column): fills `value` (type STRATA_NULL when there is none; strings and
 * embeddings point into the result) and returns 1 if there is a value, 0 if null. Indexes out of
 * range give 0 and STRATA_NULL. A DEFAULTED or EXPIRED value may carry the feature's default. */
int strata_result_value(const strata_result *result, size_t entity, size_t column, strata_value *value);
strata_value_status strata_result_status(const strata_result *result, size_t entity, size_t column);
/* Event time (µs since the Unix epoch) of the stored row the value came from; 0 if there was none. */
int64_t strata_result_event_time_us(const strata_result *result, size_t entity, size_t column);

/* The underlying protobuf-c message (const struct Strata__V1__GetOnlineFeaturesResponse *), for
 * callers who prefer the generated types; owned by the result. */
const struct Strata__V1__GetOnlineFeaturesResponse *strata_result_proto(const strata_result *result);

/* ---- streaming write --------------------------------------------------------------------------- */

typedef struct strata_writer strata_writer;

typedef struct strata_write_options {
    /* Rows per WriteFeaturesRequest message (default 5000); each message is one atomic batch on the
     * server. */
    size_t batch_rows;
    /* A batch is also sent when its encoding reaches this many bytes (default 4 MiB; the server's
     * default limit per message is 16 MiB). */
    size_t batch_bytes;
    /* Deadline for the whole stream, from strata_write_begin to the response; 0 = none. */
    int timeout_ms;
} strata_write_options;

void strata_write_options_init(strata_write_options *options);

/* The server's answer to a completed write stream. */
typedef struct strata_write_summary {
    uint64_t rows_written; /* rows appended to history, all batches */
    uint64_t late_rows;    /* rows that did not replace the online value (history only) */
    uint32_t batches;      /* batches committed */
} strata_write_summary;

/* Sentinel for strata_write_row's created time: let the server stamp its clock at commit. */
#define STRATA_CREATED_UNSET INT64_MIN

/* Opens a WriteFeatures stream to `group` (`version` 0 = the latest ACTIVE version) with the value
 * columns `features` (every row gives one value per feature, in this order). `options` may be NULL.
 * Returns NULL (status set) if the stream cannot be opened; errors from the server surface in
 * strata_write_row / strata_write_flush (-1) and in strata_write_finish. */
strata_writer *strata_write_begin(strata_client *client, const char *group, uint32_t version,
                                  const char *const *features, size_t n_features,
                                  const strata_write_options *options, strata_status *status);

/* Appends one row: `values` has one entry per feature of strata_write_begin (STRATA_NULL for a null).
 * Event and created times are µs since the Unix epoch; `created_us` may be STRATA_CREATED_UNSET. The
 * row is encoded at once (the arguments may be reused). When the batch is full it is sent; at most
 * one batch is being built and one being sent, so memory stays bounded by about twice the batch
 * size: the function waits (running the connection) while the previous batch is still being sent.
 * Returns 0, or -1 if the stream has failed (the server rejected a batch, timeout, connection lost:
 * strata_write_finish reports the status). */
int strata_write_row(strata_writer *writer, const char *entity_id, int64_t event_us, int64_t created_us,
                     const strata_value *values);

/* Sends the rows appended so far as one batch now (nothing if there are none). Returns 0 or -1 as
 * strata_write_row. */
int strata_write_flush(strata_writer *writer);

/* Sends the last batch, ends the stream and waits for the server's response. Frees the writer.
 * Returns the status code (STRATA_OK: `summary` filled; otherwise `status` says why, e.g. the server's
 * INVALID_ARGUMENT naming the row and how many earlier batches were committed). `summary` and
 * `status` may be NULL. */
int strata_write_finish(strata_writer *writer, strata_write_summary *summary, strata_status *status);

/* Cancels the stream (RST_STREAM CANCEL; batches the server already committed stay committed) and
 * frees the writer. */
void strata_write_abort(strata_writer *writer);

/* ---- events (PushEvents) ----------------------------------------------------------------------- */

/* Write consistency, the numbers of strata.v1.Consistency: DEFAULT is the node's (QUORUM). */
enum {
    STRATA_CONSISTENCY_DEFAULT = 0,
    STRATA_CONSISTENCY_ONE = 1,
    STRATA_CONSISTENCY_QUORUM = 2,
    STRATA_CONSISTENCY_ALL = 3
};

/* Longest idempotency key the server accepts, in bytes. */
#define STRATA_IDEMPOTENCY_KEY_MAX 128

/* One event: entity, event time and created time (µs since the Unix epoch; `created_us` may be
 * STRATA_CREATED_UNSET: the node's clock), and one value per field of strata_push_events (STRATA_NULL
 * for a null; FLOAT, INT or STRING as the stream's field). */
typedef struct strata_event {
    const char *entity_id;
    int64_t event_us;
    int64_t created_us;
    const strata_value *values;
} strata_event;

/* One batch: one PushEventsRequest message, validated and stored atomically by the node.
 * `idempotency_key` (NULL or "" = none; at most STRATA_IDEMPOTENCY_KEY_MAX bytes) makes a resend safe:
 * a node answers a key it already applied with the same events as a duplicate without storing them
 * again (keys are per node: resend to the same node); the same key with other events is
 * STRATA_FAILED_PRECONDITION. */
typedef struct strata_event_batch {
    const strata_event *events;
    size_t n_events;
    const char *idempotency_key;
} strata_event_batch;

typedef struct strata_push_options {
    /* Deadline of the whole call; 0 = none. */
    int timeout_ms;
    /* STRATA_CONSISTENCY_*: replicas that must store each batch before it is answered. */
    int consistency;
} strata_push_options;

void strata_push_options_init(strata_push_options *options);

/* The answers of one PushEvents call (also of a failed one: the batches answered before the error). */
typedef struct strata_push_summary {
    uint64_t events_written; /* events stored (for a duplicate batch: by its first application) */
    uint64_t late_events;    /* events older than the entity's latest stored event */
    uint32_t batches;        /* batches answered: stored (or already stored) and durable */
    uint32_t duplicates;     /* of those, batches whose key had already been applied: nothing stored now */
} strata_push_summary;

/* The answer to one batch. */
typedef struct strata_push_answer {
    int answered; /* 0: the call ended before this batch was answered (it was not stored if it was rejected) */
    int duplicate;
    uint64_t events_written;
    uint64_t late_events;
} strata_push_answer;

/* Pushes `n_batches` batches of events to `stream` (`version` 0 = the newest ACTIVE version) over one
 * PushEvents call, with the value columns `fields` (every event gives one value per field, in this
 * order), and waits for the node's answers. Every batch is encoded before the call starts (a bad
 * argument sends nothing) and the whole request is held in memory: for large volumes make several
 * calls. `options` may be NULL (no deadline, default consistency).
 *
 * Returns the status code. STRATA_OK: every batch was answered. Otherwise `status` says why, e.g. the
 * server's INVALID_ARGUMENT naming the row and field of a rejected batch (that batch stored nothing;
 * the call ends there) or STRATA_UNAVAILABLE; the batches answered before the error are stored, and
 * `summary` and `answers` count them. `summary`, `answers` (an array of `n_batches`, filled in batch
 * order) and `status` may be NULL. The library never retries: after STRATA_UNAVAILABLE, call again
 * with the same batches and keys to the same node, and answered batches come back as duplicates. */
int strata_push_events(strata_client *client, const char *stream, uint32_t version, const char *const *fields,
                       size_t n_fields, const strata_event_batch *batches, size_t n_batches,
                       const strata_push_options *options, strata_push_summary *summary,
                       strata_push_answer *answers, strata_status *status);

/* ---- online cache (opt-in) -------------------------------------------------------------------- */

/* A group's kind, the numbers of strata.v1.GroupKind. */
typedef enum strata_group_kind {
    STRATA_GROUP_KIND_ROWS = 0,
    STRATA_GROUP_KIND_STREAM = 1,
    STRATA_GROUP_KIND_AGGREGATES = 2
} strata_group_kind;

/* How fresh a group's values are expected to be. */
typedef enum strata_tier {
    STRATA_TIER_BATCH = 0,
    STRATA_TIER_NEAR_REAL_TIME = 1,
    STRATA_TIER_STREAMING = 2
} strata_tier;

/* The freshness tier of a group from its registered refresh_interval_seconds and kind (the node uses
 * the same rule): >= 86400 s BATCH; 3600 ... 86399 s NEAR_REAL_TIME; 1 ... 3599 s STREAMING; not
 * declared (<= 0): STREAMING for streams and aggregate groups, BATCH for row groups. */
strata_tier strata_freshness_tier(int64_t refresh_interval_seconds, strata_group_kind kind);

/* "batch", "near_real_time", "streaming" ("unknown" otherwise). Static storage. */
const char *strata_tier_name(strata_tier tier);

typedef struct strata_cache_options {
    /* Cells (entity x feature of a group version) held at most; the least recently used go first
     * (default 100000). */
    size_t max_entries;
    /* Seconds a value of each tier is served (defaults 3600, 60, 60); 0 = do not cache that tier. */
    double ttl_batch_s;
    double ttl_near_real_time_s;
    double ttl_streaming_s;
    /* Per group name, whatever its tier: `n_group_ttls` names and TTLs in seconds (copied by
     * strata_client_enable_cache). Default none. */
    const char *const *group_ttl_names;
    const double *group_ttl_s;
    size_t n_group_ttls;
} strata_cache_options;

/* Fills `options` with the defaults. */
void strata_cache_options_init(strata_cache_options *options);

/* Attaches a new, empty cache to the client (replacing one it had); `options` may be NULL (defaults).
 * From then on strata_lookup (not strata_lookup_async) serves the cells it finds in the cache and
 * asks the node, in one GetOnlineFeatures call, for the entities with a missing cell times the
 * references with a missing cell; the result looks exactly like the node's answer. A cell is served
 * only while (now - the monotonic time its lookup was sent) < its TTL. How each reference resolves
 * (unpinned: the newest ACTIVE version) is learned from the node's answers and re-confirmed at least
 * once per TTL; a group version's tier is read once with GetFeatureGroup. Answers of every status
 * (DEFAULTED, MISSING, EXPIRED) are cached. A cached strata_lookup may make more than one call (the
 * GetFeatureGroup of a new group version; one plain lookup of everything when a reference now resolves
 * to another version than its cached cells): `timeout_ms` applies to each. The cache belongs to the
 * client: one thread at a time.
 * Returns STRATA_OK, or STRATA_INVALID_ARGUMENT (bad options) / STRATA_RESOURCE_EXHAUSTED with
 * `status` (may be NULL) set. Freed by strata_close or strata_client_disable_cache. */
int strata_client_enable_cache(strata_client *client, const strata_cache_options *options, strata_status *status);

/* Drops the client's cache (if any). */
void strata_client_disable_cache(strata_client *client);

typedef struct strata_cache_stats {
    uint64_t hits;        /* requested (entity, column) cells served from the cache */
    uint64_t misses;      /* requested cells answered by the node */
    uint64_t evictions;   /* entries dropped to stay within max_entries */
    uint64_t expirations; /* entries found older than their TTL (and dropped) */
    uint64_t entries;     /* entries held now */
} strata_cache_stats;

/* The counters since the cache was enabled or cleared; all 0 without a cache. Returns 1 if the client
 * has a cache, else 0. */
int strata_cache_stats_get(const strata_client *client, strata_cache_stats *stats);

/* Drops every entry and what was learned about references and groups; resets the counters. */
void strata_cache_clear(strata_client *client);

/* What the cache learned of a group version: 1 and `tier` and `ttl_s` (either may be NULL) if known. */
int strata_cache_group_ttl(const strata_client *client, const char *group, uint32_t version, strata_tier *tier,
                           double *ttl_s);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_H */
