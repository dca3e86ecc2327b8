/*
 * Tests of the Strata C client against a real node (started by run-tests.sh, which also registered
 * the groups c_all, c_write, c_big and ingested c_all.csv with the CLI), plus small fake servers on
 * loopback for behaviour a healthy node does not show (a server that never answers, GOAWAY, a
 * connection closed by the server).
 *
 *   STRATA_TEST_NOW=<epoch seconds used by the CSV> STRATA_BIN=<strata> build/strata-test HOST:PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "strata.h"
#include "strata/v1/feature_store.pb-c.h"

static const char *g_server;
static const char *g_bin;
static int64_t g_now_us;
static int g_failures, g_checks;

/* CHECK records a failure and goes on; REQUIRE also returns from the test. Each evaluates `cond` once. */
#define CHECK_AT(ok, text, ...)                                                          \
    do {                                                                                 \
        g_checks++;                                                                      \
        if (!(ok)) {                                                                     \
            g_failures++;                                                                \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, text);             \
            fprintf(stderr, __VA_ARGS__);                                                \
            fprintf(stderr, "\n");                                                       \
        }                                                                                \
    } while (0)

#define CHECK(cond, ...) CHECK_AT((cond), #cond, __VA_ARGS__)

#define REQUIRE(cond, ...)                                                               \
    do {                                                                                 \
        int ok_ = !!(cond);                                                              \
        CHECK_AT(ok_, #cond, __VA_ARGS__);                                               \
        if (!ok_) return;                                                                \
    } while (0)

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static strata_client *connect_or_fail(const char *addr, const strata_options *o) {
    strata_status st;
    strata_client *c = strata_connect(addr, o, &st);
    CHECK(c != NULL, "connect %s: %s %s", addr, strata_code_name(st.code), st.message);
    return c;
}

/* ---- helpers to read results ------------------------------------------------------------------- */

static void expect_int(const strata_result *r, size_t e, size_t c, int64_t want, strata_value_status status) {
    strata_value v;
    int has = strata_result_value(r, e, c, &v);
    CHECK(has && v.type == STRATA_INT && v.u.i == want, "%s/%s: want int %lld, got type %s %lld", strata_result_entity_id(r, e),
          strata_result_column_ref(r, c), (long long)want, strata_dtype_name(v.type), (long long)v.u.i);
    CHECK(strata_result_status(r, e, c) == status, "%s/%s: status %s, want %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_value_status_name(strata_result_status(r, e, c)), strata_value_status_name(status));
}

static void expect_float(const strata_result *r, size_t e, size_t c, double want, strata_value_status status) {
    strata_value v;
    int has = strata_result_value(r, e, c, &v);
    CHECK(has && v.type == STRATA_FLOAT && v.u.f == want, "%s/%s: want float %g, got type %s %g", strata_result_entity_id(r, e),
          strata_result_column_ref(r, c), want, strata_dtype_name(v.type), v.u.f);
    CHECK(strata_result_status(r, e, c) == status, "%s/%s: status %s, want %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_value_status_name(strata_result_status(r, e, c)), strata_value_status_name(status));
}

static void expect_string(const strata_result *r, size_t e, size_t c, const char *want, strata_value_status status) {
    strata_value v;
    int has = strata_result_value(r, e, c, &v);
    CHECK(has && v.type == STRATA_STRING && strcmp(v.u.s.ptr, want) == 0 && v.u.s.len == strlen(want), "%s/%s: want string '%s', got type %s '%s'",
          strata_result_entity_id(r, e), strata_result_column_ref(r, c), want, strata_dtype_name(v.type), v.type == STRATA_STRING ? v.u.s.ptr : "");
    CHECK(strata_result_status(r, e, c) == status, "%s/%s: status %s, want %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_value_status_name(strata_result_status(r, e, c)), strata_value_status_name(status));
}

static void expect_embedding(const strata_result *r, size_t e, size_t c, const float *want, size_t dim, strata_value_status status) {
    strata_value v;
    int has = strata_result_value(r, e, c, &v);
    int same = has && v.type == STRATA_EMBEDDING && v.u.e.dim == dim;
    for (size_t k = 0; same && k < dim; k++) same = v.u.e.ptr[k] == want[k];
    CHECK(same, "%s/%s: embedding differs (type %s, dim %zu)", strata_result_entity_id(r, e), strata_result_column_ref(r, c), strata_dtype_name(v.type),
          v.type == STRATA_EMBEDDING ? v.u.e.dim : 0);
    CHECK(strata_result_status(r, e, c) == status, "%s/%s: status %s, want %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_value_status_name(strata_result_status(r, e, c)), strata_value_status_name(status));
}

static void expect_null(const strata_result *r, size_t e, size_t c, strata_value_status status) {
    strata_value v;
    int has = strata_result_value(r, e, c, &v);
    CHECK(!has && v.type == STRATA_NULL, "%s/%s: want null, got %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_dtype_name(v.type));
    CHECK(strata_result_status(r, e, c) == status, "%s/%s: status %s, want %s", strata_result_entity_id(r, e), strata_result_column_ref(r, c),
          strata_value_status_name(strata_result_status(r, e, c)), strata_value_status_name(status));
}

static void expect_event_time(const strata_result *r, size_t e, int64_t want_us) {
    for (size_t c = 0; c < strata_result_column_count(r); c++)
        CHECK(strata_result_event_time_us(r, e, c) == want_us, "%s/%s: event time %lld, want %lld", strata_result_entity_id(r, e),
              strata_result_column_ref(r, c), (long long)strata_result_event_time_us(r, e, c), (long long)want_us);
}

/* ---- tests against the node -------------------------------------------------------------------- */

#define DAY_US (86400LL * 1000000LL)

static void test_every_dtype(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    const char *ids[] = {"e1", "e2", "e3", "e4", "nobody"};
    const char *feats[] = {"c_all:*"};
    strata_status st;
    strata_result *r = strata_lookup(c, ids, 5, feats, 1, 5000, &st);
    REQUIRE(r != NULL, "lookup: %s %s", strata_code_name(st.code), st.message);
    CHECK(st.code == STRATA_OK && st.message[0] == 0, "status %d '%s'", st.code, st.message);
    REQUIRE(strata_result_entity_count(r) == 5, "entities %zu", strata_result_entity_count(r));
    REQUIRE(strata_result_column_count(r) == 4, "columns %zu", strata_result_column_count(r));
    const char *refs[] = {"c_all@1:i", "c_all@1:f", "c_all@1:s", "c_all@1:e"};
    const char *names[] = {"i", "f", "s", "e"};
    strata_dtype types[] = {STRATA_INT, STRATA_FLOAT, STRATA_STRING, STRATA_EMBEDDING};
    for (size_t k = 0; k < 4; k++) {
        CHECK(strcmp(strata_result_column_ref(r, k), refs[k]) == 0, "column %zu ref %s", k, strata_result_column_ref(r, k));
        CHECK(strcmp(strata_result_column_group(r, k), "c_all") == 0, "group %s", strata_result_column_group(r, k));
        CHECK(strcmp(strata_result_column_feature(r, k), names[k]) == 0, "feature %s", strata_result_column_feature(r, k));
        CHECK(strata_result_column_version(r, k) == 1, "version %u", strata_result_column_version(r, k));
        CHECK(strata_result_column_dtype(r, k) == types[k], "dtype %d", strata_result_column_dtype(r, k));
        CHECK(strata_result_column_embedding_dim(r, k) == (k == 3 ? 3u : 0u), "dim %u", strata_result_column_embedding_dim(r, k));
    }
    CHECK(strata_result_column_index(r, "c_all:s") == 2, "index of c_all:s");
    CHECK(strata_result_column_index(r, "c_all@1:e") == 3, "index of c_all@1:e");
    CHECK(strata_result_column_index(r, "c_all:zz") == -1, "index of c_all:zz");
    for (size_t e = 0; e < 5; e++) CHECK(strcmp(strata_result_entity_id(r, e), ids[e]) == 0, "entity %zu is %s", e, strata_result_entity_id(r, e));

    /* e1: every dtype present. */
    static const float e1emb[] = {0.5f, -1.25f, 2.0f};
    expect_int(r, 0, 0, 42, STRATA_PRESENT);
    expect_float(r, 0, 1, -3.25, STRATA_PRESENT);
    expect_string(r, 0, 2, "h\xc3\xa9llo, w\xc3\xb6rld", STRATA_PRESENT);
    expect_embedding(r, 0, 3, e1emb, 3, STRATA_PRESENT);
    expect_event_time(r, 0, g_now_us - DAY_US);
    /* e2: the winning row is all nulls: defaults where declared, else MISSING; the row's event time. */
    expect_int(r, 1, 0, 7, STRATA_DEFAULTED);
    expect_null(r, 1, 1, STRATA_MISSING);
    expect_string(r, 1, 2, "none", STRATA_DEFAULTED);
    expect_null(r, 1, 3, STRATA_MISSING);
    expect_event_time(r, 1, g_now_us - 2 * DAY_US);
    /* e3: 40 days old, max age 30 days: EXPIRED, default or null. */
    expect_int(r, 2, 0, 7, STRATA_EXPIRED);
    expect_null(r, 2, 1, STRATA_EXPIRED);
    expect_string(r, 2, 2, "none", STRATA_EXPIRED);
    expect_null(r, 2, 3, STRATA_EXPIRED);
    expect_event_time(r, 2, g_now_us - 40 * DAY_US);
    /* e4: latest event time wins, ties broken by the greatest created time ("third"). */
    static const float e4emb[] = {3.0f, 0.0f, 0.0f};
    expect_int(r, 3, 0, 3, STRATA_PRESENT);
    expect_float(r, 3, 1, 3.0, STRATA_PRESENT);
    expect_string(r, 3, 2, "third", STRATA_PRESENT);
    expect_embedding(r, 3, 3, e4emb, 3, STRATA_PRESENT);
    expect_event_time(r, 3, g_now_us - 2 * DAY_US);
    /* An entity never written: defaults or MISSING, no event time. */
    expect_int(r, 4, 0, 7, STRATA_DEFAULTED);
    expect_null(r, 4, 1, STRATA_MISSING);
    expect_string(r, 4, 2, "none", STRATA_DEFAULTED);
    expect_null(r, 4, 3, STRATA_MISSING);
    expect_event_time(r, 4, 0);
    /* Out-of-range indexes are safe. */
    strata_value v;
    CHECK(strata_result_value(r, 5, 0, &v) == 0 && v.type == STRATA_NULL, "out of range entity");
    CHECK(strata_result_value(r, 0, 4, &v) == 0 && v.type == STRATA_NULL, "out of range column");
    CHECK(strata_result_entity_id(r, 9) == NULL && strata_result_column_ref(r, 9) == NULL, "out of range names");
    /* The protobuf-c view is the same data. */
    const Strata__V1__GetOnlineFeaturesResponse *p = strata_result_proto(r);
    CHECK(p->n_vectors == 5 && p->vectors[0]->results[0]->value->int_value == 42, "proto view");
    strata_result_free(r);

    /* Explicit references, a pinned version and two groups' worth of columns in request order. */
    const char *feats2[] = {"c_all:s", "c_all@1:i", "c_all:e"};
    const char *ids2[] = {"e1"};
    r = strata_lookup(c, ids2, 1, feats2, 3, 5000, &st);
    REQUIRE(r != NULL, "lookup: %s %s", strata_code_name(st.code), st.message);
    REQUIRE(strata_result_column_count(r) == 3, "columns %zu", strata_result_column_count(r));
    expect_string(r, 0, 0, "h\xc3\xa9llo, w\xc3\xb6rld", STRATA_PRESENT);
    expect_int(r, 0, 1, 42, STRATA_PRESENT);
    expect_embedding(r, 0, 2, e1emb, 3, STRATA_PRESENT);
    strata_result_free(r);
    strata_close(c);
}

static void test_errors(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    const char *ids[] = {"e1"};
    strata_status st;

    const char *unknown_group[] = {"nope:x"};
    strata_result *r = strata_lookup(c, ids, 1, unknown_group, 1, 5000, &st);
    CHECK(r == NULL, "unknown group gave a result");
    CHECK(st.code == STRATA_NOT_FOUND, "unknown group: %s", strata_code_name(st.code));
    CHECK(strcmp(st.message, "feature group 'nope' does not exist; `strata groups` lists the registered groups") == 0, "message '%s'", st.message);

    /* grpc-message is percent-encoded on the wire; the client decodes it back to UTF-8. */
    const char *utf8_group[] = {"n\xc3\xb6pe:x"};
    r = strata_lookup(c, ids, 1, utf8_group, 1, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_NOT_FOUND, "utf8 group: %s", strata_code_name(st.code));
    CHECK(strstr(st.message, "feature group 'n\xc3\xb6pe' does not exist") != NULL, "message '%s'", st.message);

    const char *unknown_feature[] = {"c_all:zz"};
    r = strata_lookup(c, ids, 1, unknown_feature, 1, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_NOT_FOUND, "unknown feature: %s", strata_code_name(st.code));
    CHECK(strstr(st.message, "has no feature 'zz'") != NULL, "message '%s'", st.message);

    const char *bad_ref[] = {"Bad Name"};
    r = strata_lookup(c, ids, 1, bad_ref, 1, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_INVALID_ARGUMENT, "malformed reference: %s", strata_code_name(st.code));
    CHECK(strstr(st.message, "'Bad Name'") != NULL, "message '%s'", st.message);

    const char *pinned_missing[] = {"c_all@9:i"};
    r = strata_lookup(c, ids, 1, pinned_missing, 1, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_NOT_FOUND, "missing version: %s %s", strata_code_name(st.code), st.message);

    r = strata_lookup(c, ids, 1, NULL, 0, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_INVALID_ARGUMENT, "no features: %s %s", strata_code_name(st.code), st.message);

    const char *null_id[] = {NULL};
    const char *ok_feat[] = {"c_all:i"};
    r = strata_lookup(c, null_id, 1, ok_feat, 1, 5000, &st);
    CHECK(r == NULL && st.code == STRATA_INVALID_ARGUMENT, "NULL id: %s %s", strata_code_name(st.code), st.message);

    /* Errors are per call: the connection is still the first one and still works. */
    r = strata_lookup(c, ids, 1, ok_feat, 1, 5000, &st);
    CHECK(r != NULL && st.code == STRATA_OK, "after errors: %s %s", strata_code_name(st.code), st.message);
    strata_result_free(r);
    strata_client_stats stats;
    strata_client_stats_get(c, &stats);
    CHECK(stats.connections == 1, "connections %llu", (unsigned long long)stats.connections);
    strata_close(c);

    /* Client-side failures. */
    r = NULL;
    c = strata_connect("127.0.0.1:1", NULL, &st);
    CHECK(c == NULL && st.code == STRATA_UNAVAILABLE && strstr(st.message, "refused"), "refused: %s %s", strata_code_name(st.code), st.message);
    c = strata_connect("no-port", NULL, &st);
    CHECK(c == NULL && st.code == STRATA_INVALID_ARGUMENT, "bad address: %s %s", strata_code_name(st.code), st.message);
    c = strata_connect("host.invalid:80", NULL, &st);
    CHECK(c == NULL && st.code == STRATA_UNAVAILABLE, "unresolvable: %s %s", strata_code_name(st.code), st.message);
}

/* Values of row k of the c_write data set. */
static void write_values(int k, strata_value *vals, float *emb, char *s, size_t slen) {
    emb[0] = (float)k;
    emb[1] = 0.5f;
    emb[2] = -1.0f;
    snprintf(s, slen, "row-%d", k);
    vals[0] = (k % 10 == 3) ? strata_value_null() : strata_value_int((int64_t)k * k);
    vals[1] = strata_value_float(k * 0.5);
    vals[2] = strata_value_string(s);
    vals[3] = (k % 10 == 7) ? strata_value_null() : strata_value_embedding(emb, 3);
}

#define WRITE_ROWS 20000

static void test_write_and_read_back(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    const char *feats[] = {"i", "f", "s", "e"};
    strata_write_options wo;
    strata_write_options_init(&wo);
    wo.batch_rows = 3000;
    wo.timeout_ms = 60000;
    strata_status st;
    strata_writer *w = strata_write_begin(c, "c_write", 0, feats, 4, &wo, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    int64_t base = g_now_us - DAY_US;
    for (int k = 0; k < WRITE_ROWS; k++) {
        char id[32], s[32];
        float emb[3];
        strata_value vals[4];
        snprintf(id, sizeof id, "w%d", k);
        write_values(k, vals, emb, s, sizeof s);
        if (strata_write_row(w, id, base + k, k % 2 ? base + k + 5 : STRATA_CREATED_UNSET, vals) != 0) {
            CHECK(0, "write_row %d failed", k);
            break;
        }
    }
    /* A later row for w0 in its own batch (flush) replaces the online value; an earlier one for w1 is
     * a late row. */
    strata_value later[4] = {strata_value_int(-1), strata_value_float(-0.5), strata_value_string("later"), strata_value_null()};
    CHECK(strata_write_flush(w) == 0, "flush");
    CHECK(strata_write_row(w, "w0", base + 1000000, STRATA_CREATED_UNSET, later) == 0, "row");
    CHECK(strata_write_flush(w) == 0, "flush");
    CHECK(strata_write_row(w, "w1", base - 1000000, STRATA_CREATED_UNSET, later) == 0, "row");
    strata_write_summary sum;
    int code = strata_write_finish(w, &sum, &st);
    CHECK(code == STRATA_OK, "finish: %s %s", strata_code_name(code), st.message);
    CHECK(sum.rows_written == WRITE_ROWS + 2, "rows_written %llu", (unsigned long long)sum.rows_written);
    CHECK(sum.late_rows == 1, "late_rows %llu", (unsigned long long)sum.late_rows);
    /* 20000 rows in batches of 3000 = 7 batches, then two more of one row each. */
    CHECK(sum.batches == 9, "batches %u", sum.batches);

    /* Read back every row through the C client, 1000 entities per call, all calls concurrent. */
    enum { PER = 1000, CALLS = WRITE_ROWS / PER };
    static char idbuf[WRITE_ROWS][16];
    const char *ids[WRITE_ROWS];
    for (int k = 0; k < WRITE_ROWS; k++) {
        snprintf(idbuf[k], sizeof idbuf[k], "w%d", k);
        ids[k] = idbuf[k];
    }
    const char *rf[] = {"c_write:*"};
    strata_call *calls[CALLS];
    for (int i = 0; i < CALLS; i++) calls[i] = strata_lookup_async(c, ids + i * PER, PER, rf, 1, 30000);
    CHECK(strata_wait_all(c, 60000) == 0, "wait_all timed out");
    for (int i = 0; i < CALLS; i++) {
        CHECK(strata_call_done(calls[i]) && strata_call_code(calls[i]) == STRATA_OK, "call %d: %s %s", i, strata_code_name(strata_call_code(calls[i])),
              strata_call_message(calls[i]));
        const strata_result *r = strata_call_result(calls[i]);
        if (!r) continue;
        for (int j = 0; j < PER; j++) {
            int k = i * PER + j;
            if (k == 0) {
                expect_int(r, 0, 0, -1, STRATA_PRESENT);
                expect_string(r, 0, 2, "later", STRATA_PRESENT);
                expect_null(r, 0, 3, STRATA_MISSING);
                continue;
            }
            char s[32];
            float emb[3];
            strata_value vals[4];
            write_values(k, vals, emb, s, sizeof s);
            if (vals[0].type == STRATA_NULL) expect_null(r, (size_t)j, 0, STRATA_MISSING);
            else expect_int(r, (size_t)j, 0, vals[0].u.i, STRATA_PRESENT);
            expect_float(r, (size_t)j, 1, vals[1].u.f, STRATA_PRESENT);
            expect_string(r, (size_t)j, 2, s, STRATA_PRESENT);
            if (vals[3].type == STRATA_NULL) expect_null(r, (size_t)j, 3, STRATA_MISSING);
            else expect_embedding(r, (size_t)j, 3, emb, 3, STRATA_PRESENT);
            CHECK(strata_result_event_time_us(r, (size_t)j, 1) == base + k, "event time of w%d", k);
            if (g_failures > 20) break;
        }
        strata_call_free(calls[i]);
    }
    strata_close(c);

    /* ... and through the CLI. */
    if (!g_bin) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' get --entity w0,w1,w12,w13,w17 --features 'c_write:*' --json --server %s", g_bin, g_server);
    FILE *p = popen(cmd, "r");
    REQUIRE(p != NULL, "popen");
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    CHECK(rc == 0, "strata get exited %d", rc);
    CHECK(strstr(out, "\"c_write@1:s\":{\"value\":\"later\",\"status\":\"PRESENT\"") != NULL, "w0 via CLI: %s", out);
    CHECK(strstr(out, "\"c_write@1:i\":{\"value\":1,\"status\":\"PRESENT\"") != NULL, "w1 via CLI (late row ignored): %s", out);
    CHECK(strstr(out, "\"c_write@1:i\":{\"value\":144,\"status\":\"PRESENT\"") != NULL, "w12 via CLI: %s", out);
    CHECK(strstr(out, "\"c_write@1:i\":{\"value\":null,\"status\":\"MISSING\"") != NULL, "w13 null via CLI: %s", out);
    CHECK(strstr(out, "\"c_write@1:e\":{\"value\":[12.0,0.5,-1.0],\"status\":\"PRESENT\"") != NULL ||
              strstr(out, "\"c_write@1:e\":{\"value\":[12,0.5,-1],\"status\":\"PRESENT\"") != NULL,
          "w12 embedding via CLI: %s", out);
    CHECK(strstr(out, "\"c_write@1:s\":{\"value\":\"row-17\",\"status\":\"PRESENT\"") != NULL, "w17 via CLI: %s", out);
}

static void test_write_rejected(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    const char *feats[] = {"i", "f"};
    strata_status st;
    strata_writer *w = strata_write_begin(c, "c_write", 0, feats, 2, NULL, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    int64_t t = g_now_us - DAY_US;
    strata_value good[2] = {strata_value_int(5), strata_value_float(1.5)};
    strata_value nan_row[2] = {strata_value_int(6), strata_value_float(NAN)};
    CHECK(strata_write_row(w, "rej1", t, STRATA_CREATED_UNSET, good) == 0, "row 1");
    CHECK(strata_write_flush(w) == 0, "flush 1");
    CHECK(strata_write_row(w, "rej2", t, STRATA_CREATED_UNSET, good) == 0, "row 2");
    CHECK(strata_write_row(w, "rej3", t, STRATA_CREATED_UNSET, nan_row) == 0, "row 3 (encoded; the server rejects it)");
    strata_write_flush(w);
    strata_write_summary sum;
    int code = strata_write_finish(w, &sum, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT, "NaN batch: %s %s", strata_code_name(code), st.message);
    CHECK(strstr(st.message, "batch 2 rejected: row 1 (entity 'rej3')") != NULL && strstr(st.message, "NaN") != NULL &&
              strstr(st.message, "(the 1 earlier batches of this call, 1 rows, were committed)") != NULL,
          "message names the row and says one batch was committed: '%s'", st.message);
    CHECK(sum.rows_written == 0 && sum.batches == 0, "summary is empty on error");

    /* Wrong dtype: a string into an INT column, and an unknown group. */
    w = strata_write_begin(c, "c_write", 0, feats, 2, NULL, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    strata_value wrong[2] = {strata_value_string("x"), strata_value_float(1)};
    strata_write_row(w, "rej4", t, STRATA_CREATED_UNSET, wrong);
    code = strata_write_finish(w, NULL, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT, "dtype mismatch: %s %s", strata_code_name(code), st.message);

    w = strata_write_begin(c, "no_such_group", 0, feats, 2, NULL, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    strata_write_row(w, "rej5", t, STRATA_CREATED_UNSET, good);
    code = strata_write_finish(w, NULL, &st);
    CHECK(code == STRATA_NOT_FOUND && strstr(st.message, "no_such_group"), "unknown group: %s %s", strata_code_name(code), st.message);

    /* Aborting a stream: its committed batches stay, the connection stays usable. */
    w = strata_write_begin(c, "c_write", 0, feats, 2, NULL, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    strata_write_row(w, "rej6", t, STRATA_CREATED_UNSET, good);
    strata_write_abort(w);

    /* rej1 (first batch) was committed, rej2 (same batch as the NaN row) was not. */
    const char *ids[] = {"rej1", "rej2", "rej3", "rej4"};
    const char *rf[] = {"c_write:i"};
    strata_result *r = strata_lookup(c, ids, 4, rf, 1, 5000, &st);
    REQUIRE(r != NULL, "lookup: %s %s", strata_code_name(st.code), st.message);
    expect_int(r, 0, 0, 5, STRATA_PRESENT);
    expect_null(r, 1, 0, STRATA_MISSING);
    expect_null(r, 2, 0, STRATA_MISSING);
    expect_null(r, 3, 0, STRATA_MISSING);
    strata_result_free(r);
    strata_client_stats stats;
    strata_client_stats_get(c, &stats);
    CHECK(stats.connections == 1, "connections %llu", (unsigned long long)stats.connections);
    strata_close(c);
}

/* Many lookups in flight on one connection, collected in completion order. */
static void test_concurrent_streams(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    enum { N = 1500 };
    static char idbuf[N][16];
    const char *rf[] = {"c_write:s"};
    for (int k = 0; k < N; k++) {
        snprintf(idbuf[k], sizeof idbuf[k], "w%d", k + 1);
        const char *id = idbuf[k];
        strata_call *call = strata_lookup_async(c, &id, 1, rf, 1, 30000);
        strata_call_set_user_data(call, (void *)(intptr_t)(k + 1));
    }
    int got = 0, seen_other_order = 0, last = 0;
    strata_call *call;
    while ((call = strata_wait_any(c, 30000)) != NULL) {
        int k = (int)(intptr_t)strata_call_user_data(call);
        if (k < last) seen_other_order = 1;
        last = k;
        CHECK(strata_call_code(call) == STRATA_OK, "call %d: %s %s", k, strata_code_name(strata_call_code(call)), strata_call_message(call));
        const strata_result *r = strata_call_result(call);
        if (r) {
            char want[32];
            snprintf(want, sizeof want, "row-%d", k);
            CHECK(strcmp(strata_result_entity_id(r, 0), idbuf[k - 1]) == 0, "entity");
            expect_string(r, 0, 0, want, STRATA_PRESENT);
        }
        CHECK(strata_call_latency_us(call) > 0, "latency");
        strata_call_free(call);
        got++;
    }
    CHECK(got == N, "completed %d of %d", got, N);
    strata_client_stats stats;
    strata_client_stats_get(c, &stats);
    CHECK(stats.connections == 1, "one connection, got %llu", (unsigned long long)stats.connections);
    CHECK(stats.max_open_streams > 100, "max open streams %u (server allows %u)", stats.max_open_streams, stats.server_max_concurrent_streams);
    CHECK(stats.server_max_concurrent_streams == 0 || stats.max_open_streams <= stats.server_max_concurrent_streams, "max open streams %u > server's %u",
          stats.max_open_streams, stats.server_max_concurrent_streams);
    CHECK(stats.open_streams == 0, "open streams left: %u", stats.open_streams);
    printf("  %d concurrent lookups on one connection: at most %u streams open at once (server limit %u)%s\n", N, stats.max_open_streams,
           stats.server_max_concurrent_streams, seen_other_order ? ", completed out of submission order" : "");

    /* Cancelling calls in flight (RST_STREAM) leaves the connection healthy. */
    const char *id = "w5";
    strata_call *cancelled[50];
    for (int i = 0; i < 50; i++) cancelled[i] = strata_lookup_async(c, &id, 1, rf, 1, 0);
    for (int i = 0; i < 50; i += 2) strata_call_free(cancelled[i]);
    for (int i = 1; i < 50; i += 2) {
        CHECK(strata_call_wait(cancelled[i]) == STRATA_OK, "uncancelled call %d", i);
        strata_call_free(cancelled[i]);
    }
    CHECK(strata_wait_any(c, 0) == NULL, "nothing left");
    strata_status st;
    strata_result *r = strata_lookup(c, &id, 1, rf, 1, 5000, &st);
    CHECK(r != NULL && st.code == STRATA_OK, "after cancel: %s %s", strata_code_name(st.code), st.message);
    strata_result_free(r);
    strata_close(c);
}

#define BIG_ENTITIES 3000
#define BIG_LEN 1000

static void big_payload(int k, char *out) {
    for (int i = 0; i < BIG_LEN; i++) out[i] = (char)('a' + (k + i) % 26);
    out[BIG_LEN] = 0;
}

static int check_big_result(const strata_result *r, const char *const *ids) {
    if (strata_result_entity_count(r) != BIG_ENTITIES) return 0;
    char want[BIG_LEN + 1];
    for (int k = 0; k < BIG_ENTITIES; k++) {
        strata_value v;
        big_payload(k, want);
        if (!strata_result_value(r, (size_t)k, 0, &v) || v.type != STRATA_STRING || strcmp(v.u.s.ptr, want) != 0) return 0;
        if (strcmp(strata_result_entity_id(r, (size_t)k), ids[k]) != 0) return 0;
    }
    return 1;
}

/* Responses far beyond the 64 KiB HTTP/2 default window: with the library's large window, with the
 * protocol's default 65535-byte windows (every response needs many WINDOW_UPDATEs), several at once. */
static void test_large_responses(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    static char idbuf[BIG_ENTITIES][16];
    const char *ids[BIG_ENTITIES];
    const char *feats[] = {"payload"};
    strata_status st;
    strata_write_options wo;
    strata_write_options_init(&wo);
    wo.batch_bytes = 256 * 1024; /* several batches, the writer waits for each to be sent */
    strata_writer *w = strata_write_begin(c, "c_big", 0, feats, 1, &wo, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    char payload[BIG_LEN + 1];
    for (int k = 0; k < BIG_ENTITIES; k++) {
        snprintf(idbuf[k], sizeof idbuf[k], "b%d", k);
        ids[k] = idbuf[k];
        big_payload(k, payload);
        strata_value v = strata_value_string(payload);
        if (strata_write_row(w, ids[k], g_now_us - DAY_US, STRATA_CREATED_UNSET, &v) != 0) break;
    }
    strata_write_summary sum;
    int code = strata_write_finish(w, &sum, &st);
    CHECK(code == STRATA_OK && sum.rows_written == BIG_ENTITIES, "write: %s %s", strata_code_name(code), st.message);
    CHECK(sum.batches >= 10, "batches %u (byte-bounded)", sum.batches);

    const char *rf[] = {"c_big:payload"};
    strata_result *r = strata_lookup(c, ids, BIG_ENTITIES, rf, 1, 30000, &st);
    REQUIRE(r != NULL, "big lookup: %s %s", strata_code_name(st.code), st.message);
    CHECK(check_big_result(r, ids), "big result content (default windows)");
    strata_result_free(r);
    strata_close(c);

    strata_options o;
    strata_options_init(&o);
    o.stream_window_bytes = 65535;
    o.connection_window_bytes = 65535;
    c = connect_or_fail(g_server, &o);
    if (!c) return;
    enum { PAR = 6 };
    strata_call *calls[PAR];
    for (int i = 0; i < PAR; i++) calls[i] = strata_lookup_async(c, ids, BIG_ENTITIES, rf, 1, 30000);
    for (int i = 0; i < PAR; i++) {
        code = strata_call_wait(calls[i]);
        CHECK(code == STRATA_OK, "small-window lookup %d: %s %s", i, strata_code_name(code), strata_call_message(calls[i]));
        if (code == STRATA_OK) CHECK(check_big_result(strata_call_result(calls[i]), ids), "big result content (65535-byte windows), call %d", i);
        strata_call_free(calls[i]);
    }
    strata_close(c);

    /* A response over the client's limit fails that call only. */
    strata_options_init(&o);
    o.max_response_bytes = 100 * 1024;
    c = connect_or_fail(g_server, &o);
    if (!c) return;
    r = strata_lookup(c, ids, BIG_ENTITIES, rf, 1, 30000, &st);
    CHECK(r == NULL && st.code == STRATA_RESOURCE_EXHAUSTED, "limit: %s %s", strata_code_name(st.code), st.message);
    r = strata_lookup(c, ids, 10, rf, 1, 30000, &st);
    CHECK(r != NULL && st.code == STRATA_OK, "after limit: %s %s", strata_code_name(st.code), st.message);
    strata_result_free(r);
    strata_close(c);
}

/* Raw protobuf-c calls: GetStatus and ListFeatureGroups. */
static void test_unary_raw(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    Strata__V1__GetStatusRequest req = STRATA__V1__GET_STATUS_REQUEST__INIT;
    strata_call *call = strata_call_unary(c, "GetStatus", &req.base, &strata__v1__get_status_response__descriptor, 5000);
    CHECK(strata_call_wait(call) == STRATA_OK, "GetStatus: %s", strata_call_message(call));
    const Strata__V1__GetStatusResponse *s = (const Strata__V1__GetStatusResponse *)strata_call_response(call);
    CHECK(s && s->node_id[0] && s->feature_groups == 3, "status: groups %u", s ? s->feature_groups : 0);
    CHECK(s && s->online_lookups > 0 && s->rows_written >= WRITE_ROWS, "counters: lookups %llu rows %llu", s ? (unsigned long long)s->online_lookups : 0ULL,
          s ? (unsigned long long)s->rows_written : 0ULL);
    strata_call_free(call);

    Strata__V1__ListFeatureGroupsRequest lreq = STRATA__V1__LIST_FEATURE_GROUPS_REQUEST__INIT;
    call = strata_call_unary(c, "/strata.v1.FeatureStore/ListFeatureGroups", &lreq.base, &strata__v1__list_feature_groups_response__descriptor, 5000);
    CHECK(strata_call_wait(call) == STRATA_OK, "ListFeatureGroups: %s", strata_call_message(call));
    Strata__V1__ListFeatureGroupsResponse *l = (Strata__V1__ListFeatureGroupsResponse *)strata_call_take_response(call);
    CHECK(strata_call_response(call) == NULL, "taken");
    strata_call_free(call);
    CHECK(l && l->n_groups == 3 && strcmp(l->groups[0]->spec->name, "c_all") == 0 && l->groups[0]->spec->n_features == 4, "groups");
    if (l) protobuf_c_message_free_unpacked(&l->base, NULL);

    /* An RPC the server does not have: UNIMPLEMENTED. */
    call = strata_call_unary(c, "NoSuchMethod", &req.base, &strata__v1__get_status_response__descriptor, 5000);
    CHECK(strata_call_wait(call) == STRATA_UNIMPLEMENTED, "unknown method: %s %s", strata_code_name(strata_call_code(call)), strata_call_message(call));
    strata_call_free(call);
    strata_close(c);
}

/* A deadline on a stream the server holds open: the client resets it and reports DEADLINE_EXCEEDED,
 * and the connection keeps working. */
static void test_timeout_real_server(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    const char *feats[] = {"i"};
    strata_write_options wo;
    strata_write_options_init(&wo);
    wo.timeout_ms = 300;
    strata_status st;
    strata_writer *w = strata_write_begin(c, "c_write", 0, feats, 1, &wo, &st);
    REQUIRE(w != NULL, "write_begin: %s %s", strata_code_name(st.code), st.message);
    strata_value v = strata_value_int(1);
    strata_write_row(w, "slow1", g_now_us - DAY_US, STRATA_CREATED_UNSET, &v);
    strata_write_flush(w);
    int64_t t0 = mono_ms();
    while (mono_ms() - t0 < 2000) strata_poll(c, 100); /* the stream is never finished */
    int code = strata_write_finish(w, NULL, &st);
    CHECK(code == STRATA_DEADLINE_EXCEEDED, "write timeout: %s %s", strata_code_name(code), st.message);

    const char *ids[] = {"e1"};
    const char *rf[] = {"c_all:i"};
    strata_result *r = strata_lookup(c, ids, 1, rf, 1, 5000, &st);
    CHECK(r != NULL && st.code == STRATA_OK, "after timeout: %s %s", strata_code_name(st.code), st.message);
    strata_result_free(r);
    strata_client_stats stats;
    strata_client_stats_get(c, &stats);
    CHECK(stats.connections == 1, "connections %llu", (unsigned long long)stats.connections);
    strata_close(c);
}

/* ---- fake servers ------------------------------------------------------------------------------ */

/* BLACKHOLE: accept, read, never answer. CLOSE: accept and close. GOAWAY: answer every connection's
 * preface with SETTINGS and GOAWAY(last stream 0), keep it open. GOAWAY_ONCE / GOAWAY_ONCE_CLOSE: the
 * first connection gets GOAWAY (and is then closed, for _CLOSE), later ones are black holes. */
enum fake_mode { FAKE_BLACKHOLE, FAKE_CLOSE, FAKE_GOAWAY, FAKE_GOAWAY_ONCE, FAKE_GOAWAY_ONCE_CLOSE };

typedef struct fake {
    enum fake_mode mode;
    int listen_fd;
    int port;
    int accepts;
    volatile int stop;
    pthread_t thread;
} fake;

static void drain_until_closed(fake *f, int fd) {
    char b[4096];
    while (!f->stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        if (read(fd, b, sizeof b) <= 0) break;
    }
}

static void *fake_main(void *arg) {
    fake *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        f->accepts++;
        if (f->mode == FAKE_CLOSE) {
            close(fd);
            continue;
        }
        int goaway = f->mode == FAKE_GOAWAY || ((f->mode == FAKE_GOAWAY_ONCE || f->mode == FAKE_GOAWAY_ONCE_CLOSE) && f->accepts == 1);
        if (goaway) {
            /* Wait for the client's preface, then SETTINGS (empty) and GOAWAY(last stream 0, NO_ERROR). */
            char b[4096];
            struct pollfd q = {.fd = fd, .events = POLLIN};
            if (poll(&q, 1, 2000) > 0 && read(fd, b, sizeof b) > 0) {
                usleep(100 * 1000); /* let the request's HEADERS arrive too */
                static const unsigned char frames[] = {
                    0, 0, 0, 4, 0, 0, 0, 0, 0,                                          /* SETTINGS */
                    0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                /* GOAWAY */
                };
                if (write(fd, frames, sizeof frames) < 0 || f->mode == FAKE_GOAWAY_ONCE_CLOSE) {
                    close(fd);
                    continue;
                }
            }
        }
        drain_until_closed(f, fd);
        close(fd);
    }
    return NULL;
}

static int fake_start(fake *f, enum fake_mode mode) {
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0); /* accept() must not block the thread */
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->listen_fd, 16) < 0 ||
        getsockname(f->listen_fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    f->port = ntohs(a.sin_port);
    return pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(fake *f) {
    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
}

static void test_timeout_blackhole(void) {
    fake f;
    REQUIRE(fake_start(&f, FAKE_BLACKHOLE) == 0, "fake server");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    strata_client *c = connect_or_fail(addr, NULL);
    if (c) {
        const char *ids[] = {"e1"};
        const char *rf[] = {"c_all:i"};
        strata_status st;
        int64_t t0 = mono_ms();
        strata_result *r = strata_lookup(c, ids, 1, rf, 1, 250, &st);
        int64_t took = mono_ms() - t0;
        CHECK(r == NULL && st.code == STRATA_DEADLINE_EXCEEDED, "blackhole: %s %s", strata_code_name(st.code), st.message);
        CHECK(took >= 245 && took < 1000, "timeout took %lld ms", (long long)took);
        /* Concurrent calls with different deadlines complete in deadline order. */
        strata_call *slow = strata_lookup_async(c, ids, 1, rf, 1, 400);
        strata_call *fast = strata_lookup_async(c, ids, 1, rf, 1, 100);
        strata_call *first = strata_wait_any(c, 2000);
        CHECK(first == fast, "the 100 ms call completes first");
        CHECK(strata_call_code(fast) == STRATA_DEADLINE_EXCEEDED, "fast: %s", strata_code_name(strata_call_code(fast)));
        CHECK(strata_call_wait(slow) == STRATA_DEADLINE_EXCEEDED, "slow: %s", strata_code_name(strata_call_code(slow)));
        CHECK(strata_call_latency_us(slow) >= 395000 && strata_call_latency_us(slow) < 1000000, "slow latency %lld us",
              (long long)strata_call_latency_us(slow));
        strata_call_free(fast);
        strata_call_free(slow);
        /* wait_all with its own timeout returns -1 while a call without deadline is stuck. */
        strata_call *stuck = strata_lookup_async(c, ids, 1, rf, 1, 0);
        CHECK(strata_wait_all(c, 150) == -1, "wait_all timeout");
        CHECK(!strata_call_done(stuck), "stuck call still running");
        strata_call_free(stuck);
        strata_close(c);
    }
    fake_stop(&f);
}

static void test_goaway_and_reconnect(void) {
    fake f;
    REQUIRE(fake_start(&f, FAKE_GOAWAY) == 0, "fake server");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    strata_client *c = connect_or_fail(addr, NULL);
    if (c) {
        const char *ids[] = {"e1"};
        const char *rf[] = {"c_all:i"};
        strata_status st;
        strata_result *r = strata_lookup(c, ids, 1, rf, 1, 3000, &st);
        CHECK(r == NULL && st.code == STRATA_UNAVAILABLE && strstr(st.message, "GOAWAY"), "goaway: %s %s", strata_code_name(st.code), st.message);
        /* The next call opens a new connection (which gets the same treatment). */
        r = strata_lookup(c, ids, 1, rf, 1, 3000, &st);
        CHECK(r == NULL && st.code == STRATA_UNAVAILABLE && strstr(st.message, "GOAWAY"), "goaway again: %s %s", strata_code_name(st.code), st.message);
        strata_client_stats stats;
        strata_client_stats_get(c, &stats);
        CHECK(stats.connections == 2, "reconnected: %llu connections", (unsigned long long)stats.connections);
        strata_close(c);
        CHECK(f.accepts == 2, "fake accepted %d connections", f.accepts);
    }
    fake_stop(&f);

    /* GOAWAY (or GOAWAY and close) while the client is idle: the next call goes to a new connection
     * (a black hole here, so it times out instead of failing with UNAVAILABLE). */
    for (int closes = 0; closes < 2; closes++) {
        REQUIRE(fake_start(&f, closes ? FAKE_GOAWAY_ONCE_CLOSE : FAKE_GOAWAY_ONCE) == 0, "fake server");
        snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
        c = connect_or_fail(addr, NULL);
        if (c) {
            usleep(1200 * 1000); /* idle: the GOAWAY arrives and is not read yet */
            const char *ids[] = {"e1"};
            const char *rf[] = {"c_all:i"};
            strata_status st;
            strata_result *r = strata_lookup(c, ids, 1, rf, 1, 300, &st);
            CHECK(r == NULL && st.code == STRATA_DEADLINE_EXCEEDED, "idle GOAWAY%s: %s %s", closes ? " + close" : "", strata_code_name(st.code), st.message);
            strata_client_stats stats;
            strata_client_stats_get(c, &stats);
            CHECK(stats.connections == 2, "reconnected before the call: %llu connections", (unsigned long long)stats.connections);
            strata_close(c);
        }
        fake_stop(&f);
    }

    REQUIRE(fake_start(&f, FAKE_CLOSE) == 0, "fake server");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    c = connect_or_fail(addr, NULL);
    if (c) {
        const char *ids[] = {"e1"};
        const char *rf[] = {"c_all:i"};
        strata_call *calls[5];
        for (int i = 0; i < 5; i++) calls[i] = strata_lookup_async(c, ids, 1, rf, 1, 3000);
        for (int i = 0; i < 5; i++) {
            int code = strata_call_wait(calls[i]);
            CHECK(code == STRATA_UNAVAILABLE, "closed connection: %s %s", strata_code_name(code), strata_call_message(calls[i]));
            strata_call_free(calls[i]);
        }
        strata_close(c);
    }
    fake_stop(&f);
}


/* ---- events: PushEvents and aggregates ---------------------------------------------------------- */

static Strata__V1__FeatureSpec *agg_spec(Strata__V1__FeatureSpec *f, Strata__V1__Aggregation *a, const char *name,
                                         const char *field, Strata__V1__AggregateFunction fn, int64_t window_s) {
    strata__v1__feature_spec__init(f);
    strata__v1__aggregation__init(a);
    f->name = (char *)name;
    a->field = (char *)field;
    a->function = fn;
    a->window_seconds = window_s;
    f->aggregation = a;
    return f;
}

/* Registers the stream c_events (amount FLOAT, qty INT, tag STRING) and the aggregate group c_agg. */
static int apply_stream_and_aggregates(strata_client *c) {
    Strata__V1__FeatureSpec sf[3], af[6];
    Strata__V1__FeatureSpec *sfp[3], *afp[6];
    Strata__V1__Aggregation aggs[6];
    const char *names[3] = {"amount", "qty", "tag"};
    Strata__V1__DType types[3] = {STRATA__V1__DTYPE__DTYPE_FLOAT, STRATA__V1__DTYPE__DTYPE_INT, STRATA__V1__DTYPE__DTYPE_STRING};
    for (int i = 0; i < 3; i++) {
        strata__v1__feature_spec__init(&sf[i]);
        sf[i].name = (char *)names[i];
        sf[i].dtype = types[i];
        sfp[i] = &sf[i];
    }
    afp[0] = agg_spec(&af[0], &aggs[0], "n_1h", "amount", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_COUNT, 3600);
    afp[1] = agg_spec(&af[1], &aggs[1], "spend_1h", "amount", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_SUM, 3600);
    afp[2] = agg_spec(&af[2], &aggs[2], "qty_1d", "qty", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_SUM, 86400);
    afp[3] = agg_spec(&af[3], &aggs[3], "avg_1d", "amount", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_AVG, 86400);
    Strata__V1__Value minus_one = STRATA__V1__VALUE__INIT;
    minus_one.kind_case = STRATA__V1__VALUE__KIND_FLOAT_VALUE;
    minus_one.float_value = -1;
    af[3].default_value = &minus_one;
    afp[4] = agg_spec(&af[4], &aggs[4], "max_qty_1h", "qty", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_MAX, 3600);
    afp[5] = agg_spec(&af[5], &aggs[5], "last_tag_1d", "tag", STRATA__V1__AGGREGATE_FUNCTION__AGGREGATE_FUNCTION_LAST, 86400);
    Strata__V1__FeatureGroupSpec stream = STRATA__V1__FEATURE_GROUP_SPEC__INIT, group = STRATA__V1__FEATURE_GROUP_SPEC__INIT;
    stream.name = "c_events";
    stream.entity_type = STRATA__V1__ENTITY_TYPE__ENTITY_TYPE_USER;
    stream.kind = STRATA__V1__GROUP_KIND__GROUP_KIND_STREAM;
    stream.n_features = 3;
    stream.features = sfp;
    group.name = "c_agg";
    group.entity_type = STRATA__V1__ENTITY_TYPE__ENTITY_TYPE_USER;
    group.kind = STRATA__V1__GROUP_KIND__GROUP_KIND_AGGREGATES;
    group.stream = "c_events";
    group.n_features = 6;
    group.features = afp;
    Strata__V1__FeatureGroupSpec *groups[2] = {&stream, &group};
    Strata__V1__ApplyFeatureGroupsRequest req = STRATA__V1__APPLY_FEATURE_GROUPS_REQUEST__INIT;
    req.n_groups = 2;
    req.groups = groups;
    strata_call *call = strata_call_unary(c, "ApplyFeatureGroups", &req.base, &strata__v1__apply_feature_groups_response__descriptor, 10000);
    int code = strata_call_wait(call);
    CHECK(code == STRATA_OK, "apply c_events + c_agg: %s %s", strata_code_name(code), strata_call_message(call));
    strata_call_free(call);
    return code == STRATA_OK ? 0 : -1;
}

/* c_agg for ce1, ce2, ce3 against the events pushed by test_push_events. */
static void check_aggregates(strata_client *c, int64_t now_us) {
    (void)now_us;
    const char *ids[] = {"ce1", "ce2", "ce3"};
    const char *features[] = {"c_agg:*"};
    strata_status st;
    strata_result *r = strata_lookup(c, ids, 3, features, 1, 5000, &st);
    REQUIRE(r != NULL, "lookup c_agg: %s %s", strata_code_name(st.code), st.message);
    long n = strata_result_column_index(r, "c_agg:n_1h"), spend = strata_result_column_index(r, "c_agg:spend_1h"),
         qty = strata_result_column_index(r, "c_agg:qty_1d"), avg = strata_result_column_index(r, "c_agg:avg_1d"),
         mx = strata_result_column_index(r, "c_agg:max_qty_1h"), last = strata_result_column_index(r, "c_agg:last_tag_1d");
    if (n < 0 || spend < 0 || qty < 0 || avg < 0 || mx < 0 || last < 0) {
        CHECK(0, "c_agg columns missing");
        strata_result_free(r);
        return;
    }
    CHECK(strata_result_column_dtype(r, (size_t)n) == STRATA_INT && strata_result_column_dtype(r, (size_t)avg) == STRATA_FLOAT,
          "derived dtypes");
    /* ce1: 1.5/2/"a" at -10 min, null/3/"b" at -5 min, 0.25/null/null at -3 min, 100/10/"old" at -2 h. */
    expect_int(r, 0, (size_t)n, 3, STRATA_PRESENT);
    expect_float(r, 0, (size_t)spend, 1.75, STRATA_PRESENT);
    expect_int(r, 0, (size_t)qty, 15, STRATA_PRESENT);
    expect_float(r, 0, (size_t)avg, (1.5 + 0.25 + 100.0) / 3, STRATA_PRESENT);
    expect_int(r, 0, (size_t)mx, 3, STRATA_PRESENT);
    expect_string(r, 0, (size_t)last, "b", STRATA_PRESENT);
    CHECK(strata_result_event_time_us(r, 0, (size_t)n) == 0, "aggregates carry no event time");
    /* ce2: 2.25/-4/null at -1 min. */
    expect_int(r, 1, (size_t)n, 1, STRATA_PRESENT);
    expect_float(r, 1, (size_t)spend, 2.25, STRATA_PRESENT);
    expect_int(r, 1, (size_t)qty, -4, STRATA_PRESENT);
    expect_int(r, 1, (size_t)mx, -4, STRATA_PRESENT);
    expect_null(r, 1, (size_t)last, STRATA_MISSING);
    /* ce3: no events: count and sum 0, avg its default, max and last null. */
    expect_int(r, 2, (size_t)n, 0, STRATA_PRESENT);
    expect_float(r, 2, (size_t)spend, 0.0, STRATA_PRESENT);
    expect_int(r, 2, (size_t)qty, 0, STRATA_PRESENT);
    expect_float(r, 2, (size_t)avg, -1.0, STRATA_DEFAULTED);
    expect_null(r, 2, (size_t)mx, STRATA_MISSING);
    expect_null(r, 2, (size_t)last, STRATA_MISSING);
    strata_result_free(r);
}

static int64_t count_of(strata_client *c, const char *entity) {
    const char *features[] = {"c_agg:n_1h"};
    strata_status st;
    strata_result *r = strata_lookup(c, &entity, 1, features, 1, 5000, &st);
    if (!r) return -1;
    strata_value v;
    int64_t n = strata_result_value(r, 0, 0, &v) && v.type == STRATA_INT ? v.u.i : -1;
    strata_result_free(r);
    return n;
}

static void test_push_events(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    if (apply_stream_and_aggregates(c) < 0) {
        strata_close(c);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000LL, m = 60 * 1000000LL;
    const char *fields[] = {"amount", "qty", "tag"};
    strata_value v[5][3] = {
        {strata_value_float(1.5), strata_value_int(2), strata_value_string("a")},
        {strata_value_null(), strata_value_int(3), strata_value_string("b")},
        {strata_value_float(0.25), strata_value_null(), strata_value_null()},
        {strata_value_float(100), strata_value_int(10), strata_value_string("old")},
        {strata_value_float(2.25), strata_value_int(-4), strata_value_null()},
    };
    strata_event b0[] = {{"ce1", now - 10 * m, STRATA_CREATED_UNSET, v[0]}, {"ce1", now - 5 * m, STRATA_CREATED_UNSET, v[1]}};
    strata_event b1[] = {{"ce1", now - 3 * m, now - 2 * m, v[2]}, {"ce1", now - 120 * m, STRATA_CREATED_UNSET, v[3]},
                         {"ce2", now - 1 * m, STRATA_CREATED_UNSET, v[4]}};
    strata_event_batch batches[] = {{b0, 2, "c-push:0"}, {b1, 3, "c-push:1"}};
    strata_push_summary sum;
    strata_push_answer answers[2];
    strata_status st;
    strata_push_options opts;
    strata_push_options_init(&opts);
    opts.timeout_ms = 10000;
    opts.consistency = STRATA_CONSISTENCY_ALL;
    int code = strata_push_events(c, "c_events", 0, fields, 3, batches, 2, &opts, &sum, answers, &st);
    CHECK(code == STRATA_OK, "push: %s %s", strata_code_name(code), st.message);
    CHECK(sum.events_written == 5 && sum.batches == 2 && sum.duplicates == 0 && sum.late_events == 1,
          "push summary: %llu written, %llu late, %u batches, %u duplicates", (unsigned long long)sum.events_written,
          (unsigned long long)sum.late_events, sum.batches, sum.duplicates);
    CHECK(answers[0].answered && answers[1].answered && answers[0].events_written == 2 && answers[1].events_written == 3 &&
              !answers[0].duplicate && !answers[1].duplicate, "per-batch answers");
    check_aggregates(c, now);

    /* The same batches and keys again: both answered as duplicates, with the first counts; nothing changes. */
    code = strata_push_events(c, "c_events", 0, fields, 3, batches, 2, NULL, &sum, answers, &st);
    CHECK(code == STRATA_OK, "resend: %s %s", strata_code_name(code), st.message);
    CHECK(sum.events_written == 5 && sum.batches == 2 && sum.duplicates == 2 && answers[1].duplicate && answers[1].events_written == 3,
          "resend summary: %llu written, %u batches, %u duplicates", (unsigned long long)sum.events_written, sum.batches, sum.duplicates);
    check_aggregates(c, now);

    /* A used key with other events: FAILED_PRECONDITION, nothing stored. */
    strata_event_batch other[] = {{b1, 2, "c-push:1"}};
    code = strata_push_events(c, "c_events", 0, fields, 3, other, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_FAILED_PRECONDITION && sum.batches == 0, "reused key: %s %s", strata_code_name(code), st.message);

    /* A rejected batch ends the call: the batch before it is stored, it and the ones after are not. */
    strata_value good[3] = {strata_value_float(1), strata_value_int(1), strata_value_string("g")};
    strata_value nan_v[3] = {strata_value_float(NAN), strata_value_int(1), strata_value_null()};
    strata_event ok_ev[] = {{"ce4", now - m, STRATA_CREATED_UNSET, good}};
    strata_event bad_ev[] = {{"ce5", now - m, STRATA_CREATED_UNSET, good}, {"ce5", now - m, STRATA_CREATED_UNSET, nan_v}};
    strata_event after_ev[] = {{"ce6", now - m, STRATA_CREATED_UNSET, good}};
    strata_event_batch mixed[] = {{ok_ev, 1, "c-bad:0"}, {bad_ev, 2, "c-bad:1"}, {after_ev, 1, "c-bad:2"}};
    strata_push_answer mixed_answers[3];
    code = strata_push_events(c, "c_events", 0, fields, 3, mixed, 3, NULL, &sum, mixed_answers, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT && strstr(st.message, "NaN") && strstr(st.message, "'amount'"), "NaN: %s %s",
          strata_code_name(code), st.message);
    CHECK(sum.batches == 1 && sum.events_written == 1 && mixed_answers[0].answered && !mixed_answers[1].answered &&
              !mixed_answers[2].answered, "answered before the rejection: %u", sum.batches);
    CHECK(count_of(c, "ce4") == 1 && count_of(c, "ce5") == 0 && count_of(c, "ce6") == 0, "stored: ce4 %lld ce5 %lld ce6 %lld",
          (long long)count_of(c, "ce4"), (long long)count_of(c, "ce5"), (long long)count_of(c, "ce6"));

    /* A value of the wrong type, an unknown field, an aggregate group, a missing stream. */
    strata_value wrong[3] = {strata_value_string("1.5"), strata_value_null(), strata_value_null()};
    strata_event wrong_ev[] = {{"ce7", now - m, STRATA_CREATED_UNSET, wrong}};
    strata_event_batch wrong_b[] = {{wrong_ev, 1, NULL}};
    code = strata_push_events(c, "c_events", 0, fields, 3, wrong_b, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT && strstr(st.message, "FLOAT"), "wrong type: %s %s", strata_code_name(code), st.message);
    const char *unknown[] = {"amount", "nope", "tag"};
    strata_event_batch unkeyed[] = {{b0, 2, NULL}};
    code = strata_push_events(c, "c_events", 0, unknown, 3, unkeyed, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_NOT_FOUND && strstr(st.message, "nope"), "unknown field: %s %s", strata_code_name(code), st.message);
    code = strata_push_events(c, "c_agg", 0, fields, 3, wrong_b, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_FAILED_PRECONDITION, "push to an aggregate group: %s %s", strata_code_name(code), st.message);
    code = strata_push_events(c, "no_such_stream", 0, fields, 3, wrong_b, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_NOT_FOUND, "missing stream: %s %s", strata_code_name(code), st.message);
    CHECK(count_of(c, "ce7") == 0, "nothing stored for ce7");

    /* Rejected by the client before sending: a key over 128 bytes, a NULL entity. */
    char long_key[200];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    strata_event_batch long_b[] = {{wrong_ev, 1, long_key}};
    code = strata_push_events(c, "c_events", 0, fields, 3, long_b, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT && strstr(st.message, "128"), "long key: %s", st.message);
    strata_event null_ev[] = {{NULL, now, STRATA_CREATED_UNSET, good}};
    strata_event_batch null_b[] = {{null_ev, 1, NULL}};
    code = strata_push_events(c, "c_events", 0, fields, 3, null_b, 1, NULL, &sum, NULL, &st);
    CHECK(code == STRATA_INVALID_ARGUMENT && strstr(st.message, "entity id is NULL"), "NULL entity: %s", st.message);

    /* A plain write to the stream is refused: push events instead. */
    strata_writer *w = strata_write_begin(c, "c_events", 0, fields, 3, NULL, &st);
    if (w) {
        strata_write_row(w, "ce8", now - m, STRATA_CREATED_UNSET, good);
        code = strata_write_finish(w, NULL, &st);
        CHECK(code == STRATA_FAILED_PRECONDITION, "write to a stream: %s %s", strata_code_name(code), st.message);
    }
    strata_close(c);
}


/* ---- online cache ------------------------------------------------------------------------------ */

/* Groups with refresh intervals of 1 day, 1 hour, 60 s and none (one INT feature `v`). */
static int apply_cache_groups(strata_client *c) {
    const char *names[4] = {"c_cache_day", "c_cache_hour", "c_cache_min", "c_cache_rows"};
    const int64_t refresh[4] = {86400, 3600, 60, 0};
    Strata__V1__FeatureSpec f;
    strata__v1__feature_spec__init(&f);
    f.name = "v";
    f.dtype = STRATA__V1__DTYPE__DTYPE_INT;
    Strata__V1__FeatureSpec *fp[1] = {&f};
    Strata__V1__FeatureGroupSpec specs[4];
    Strata__V1__FeatureGroupSpec *sp[4];
    for (int i = 0; i < 4; i++) {
        strata__v1__feature_group_spec__init(&specs[i]);
        specs[i].name = (char *)names[i];
        specs[i].entity_type = STRATA__V1__ENTITY_TYPE__ENTITY_TYPE_USER;
        specs[i].refresh_interval_seconds = refresh[i];
        specs[i].n_features = 1;
        specs[i].features = fp;
        sp[i] = &specs[i];
    }
    Strata__V1__ApplyFeatureGroupsRequest req = STRATA__V1__APPLY_FEATURE_GROUPS_REQUEST__INIT;
    req.n_groups = 4;
    req.groups = sp;
    strata_call *call = strata_call_unary(c, "ApplyFeatureGroups", &req.base, &strata__v1__apply_feature_groups_response__descriptor, 10000);
    int code = strata_call_wait(call);
    CHECK(code == STRATA_OK, "apply the cache groups: %s %s", strata_code_name(code), strata_call_message(call));
    strata_call_free(call);
    return code == STRATA_OK ? 0 : -1;
}

static void test_cache_tiers(void) {
    CHECK(strata_freshness_tier(86400, STRATA_GROUP_KIND_ROWS) == STRATA_TIER_BATCH, "1d rows");
    CHECK(strata_freshness_tier(7 * 86400, STRATA_GROUP_KIND_STREAM) == STRATA_TIER_BATCH, "7d stream");
    CHECK(strata_freshness_tier(86399, STRATA_GROUP_KIND_ROWS) == STRATA_TIER_NEAR_REAL_TIME, "just under 1d");
    CHECK(strata_freshness_tier(3600, STRATA_GROUP_KIND_AGGREGATES) == STRATA_TIER_NEAR_REAL_TIME, "1h aggregates");
    CHECK(strata_freshness_tier(3599, STRATA_GROUP_KIND_ROWS) == STRATA_TIER_STREAMING, "just under 1h");
    CHECK(strata_freshness_tier(1, STRATA_GROUP_KIND_ROWS) == STRATA_TIER_STREAMING, "1s");
    CHECK(strata_freshness_tier(0, STRATA_GROUP_KIND_ROWS) == STRATA_TIER_BATCH, "undeclared rows");
    CHECK(strata_freshness_tier(0, STRATA_GROUP_KIND_STREAM) == STRATA_TIER_STREAMING, "undeclared stream");
    CHECK(strata_freshness_tier(0, STRATA_GROUP_KIND_AGGREGATES) == STRATA_TIER_STREAMING, "undeclared aggregates");
    CHECK(strcmp(strata_tier_name(STRATA_TIER_NEAR_REAL_TIME), "near_real_time") == 0, "name");

    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    if (apply_cache_groups(c) < 0) {
        strata_close(c);
        return;
    }
    strata_cache_stats cs;
    CHECK(strata_cache_stats_get(c, &cs) == 0 && cs.hits == 0, "no cache yet");
    strata_cache_options o;
    strata_cache_options_init(&o);
    CHECK(o.max_entries == 100000 && o.ttl_batch_s == 3600 && o.ttl_near_real_time_s == 60 && o.ttl_streaming_s == 60, "defaults");
    strata_status st;
    o.max_entries = 0;
    CHECK(strata_client_enable_cache(c, &o, &st) == STRATA_INVALID_ARGUMENT, "max_entries 0");
    strata_cache_options_init(&o);
    o.ttl_streaming_s = -1;
    CHECK(strata_client_enable_cache(c, &o, &st) == STRATA_INVALID_ARGUMENT, "negative ttl");
    strata_cache_options_init(&o);
    const char *names[] = {"c_cache_min"};
    const double ttls[] = {42};
    o.group_ttl_names = names;
    o.group_ttl_s = ttls;
    o.n_group_ttls = 1;
    REQUIRE(strata_client_enable_cache(c, &o, &st) == STRATA_OK, "enable: %s", st.message);
    const char *ids[] = {"x"};
    /* c_events and c_agg: the stream and aggregate group of test_push_events, which runs before. */
    const char *refs[] = {"c_cache_day:v", "c_cache_hour:v", "c_cache_min:v", "c_cache_rows:v", "c_events:qty", "c_agg:n_1h"};
    strata_result *r = strata_lookup(c, ids, 1, refs, 6, 10000, &st);
    CHECK(r != NULL, "lookup: %s %s", strata_code_name(st.code), st.message);
    strata_result_free(r);
    struct {
        const char *group;
        strata_tier tier;
        double ttl;
    } want[] = {{"c_cache_day", STRATA_TIER_BATCH, 3600}, {"c_cache_hour", STRATA_TIER_NEAR_REAL_TIME, 60},
                {"c_cache_min", STRATA_TIER_STREAMING, 42}, {"c_cache_rows", STRATA_TIER_BATCH, 3600},
                {"c_events", STRATA_TIER_STREAMING, 60}, {"c_agg", STRATA_TIER_STREAMING, 60}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        strata_tier t = (strata_tier)-1;
        double ttl = -1;
        CHECK(strata_cache_group_ttl(c, want[i].group, 1, &t, &ttl) == 1 && t == want[i].tier && ttl == want[i].ttl,
              "%s: tier %s ttl %g", want[i].group, strata_tier_name(t), ttl);
    }
    r = strata_lookup(c, ids, 1, refs, 6, 10000, &st);
    CHECK(r != NULL && strata_result_column_count(r) == 6, "second lookup");
    strata_result_free(r);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 6 && cs.misses == 6 && cs.entries == 6, "hits %llu misses %llu entries %llu", (unsigned long long)cs.hits,
          (unsigned long long)cs.misses, (unsigned long long)cs.entries);
    strata_close(c);
}

static uint64_t node_online_lookups(strata_client *c) {
    Strata__V1__GetStatusRequest req = STRATA__V1__GET_STATUS_REQUEST__INIT;
    strata_call *call = strata_call_unary(c, "GetStatus", &req.base, &strata__v1__get_status_response__descriptor, 10000);
    uint64_t n = 0;
    if (strata_call_wait(call) == STRATA_OK) n = ((const Strata__V1__GetStatusResponse *)strata_call_response(call))->online_lookups;
    strata_call_free(call);
    return n;
}

/* Every cell, column and entity of two results is the same. */
static void expect_same_result(const strata_result *a, const strata_result *b) {
    REQUIRE(strata_result_entity_count(a) == strata_result_entity_count(b), "entity counts");
    REQUIRE(strata_result_column_count(a) == strata_result_column_count(b), "column counts %zu %zu", strata_result_column_count(a),
            strata_result_column_count(b));
    for (size_t k = 0; k < strata_result_column_count(a); k++) {
        CHECK(strcmp(strata_result_column_ref(a, k), strata_result_column_ref(b, k)) == 0 &&
                  strcmp(strata_result_column_group(a, k), strata_result_column_group(b, k)) == 0 &&
                  strcmp(strata_result_column_feature(a, k), strata_result_column_feature(b, k)) == 0 &&
                  strata_result_column_version(a, k) == strata_result_column_version(b, k) &&
                  strata_result_column_dtype(a, k) == strata_result_column_dtype(b, k) &&
                  strata_result_column_embedding_dim(a, k) == strata_result_column_embedding_dim(b, k),
              "column %zu: %s vs %s", k, strata_result_column_ref(a, k), strata_result_column_ref(b, k));
    }
    for (size_t e = 0; e < strata_result_entity_count(a); e++) {
        CHECK(strcmp(strata_result_entity_id(a, e), strata_result_entity_id(b, e)) == 0, "entity %zu", e);
        for (size_t k = 0; k < strata_result_column_count(a); k++) {
            strata_value va, vb;
            int ha = strata_result_value(a, e, k, &va), hb = strata_result_value(b, e, k, &vb);
            int same = ha == hb && va.type == vb.type;
            if (same && ha) {
                switch (va.type) {
                case STRATA_FLOAT: same = va.u.f == vb.u.f; break;
                case STRATA_INT: same = va.u.i == vb.u.i; break;
                case STRATA_STRING: same = strcmp(va.u.s.ptr, vb.u.s.ptr) == 0 && va.u.s.len == vb.u.s.len; break;
                case STRATA_EMBEDDING:
                    same = va.u.e.dim == vb.u.e.dim && memcmp(va.u.e.ptr, vb.u.e.ptr, va.u.e.dim * sizeof(float)) == 0;
                    break;
                default: break;
                }
            }
            CHECK(same, "%s/%s: values differ", strata_result_entity_id(a, e), strata_result_column_ref(a, k));
            CHECK(strata_result_status(a, e, k) == strata_result_status(b, e, k), "%s/%s: statuses differ",
                  strata_result_entity_id(a, e), strata_result_column_ref(a, k));
            CHECK(strata_result_event_time_us(a, e, k) == strata_result_event_time_us(b, e, k), "%s/%s: event times differ",
                  strata_result_entity_id(a, e), strata_result_column_ref(a, k));
        }
    }
}

static void test_cache_hits_and_merge(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    strata_client *plain = connect_or_fail(g_server, NULL);
    if (!c || !plain) {
        strata_close(c);
        strata_close(plain);
        return;
    }
    strata_status st;
    REQUIRE(strata_client_enable_cache(c, NULL, &st) == STRATA_OK, "enable");
    const char *two[] = {"e1", "e2"};
    const char *is[] = {"c_all:i", "c_all:s"};
    strata_result *r1 = strata_lookup(c, two, 2, is, 2, 10000, &st);
    strata_cache_stats cs;
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 0 && cs.misses == 4 && cs.entries == 4, "first: hits %llu misses %llu", (unsigned long long)cs.hits,
          (unsigned long long)cs.misses);
    strata_result *r2 = strata_lookup(c, two, 2, is, 2, 10000, &st);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 4 && cs.misses == 4 && cs.entries == 4, "second: hits %llu misses %llu", (unsigned long long)cs.hits,
          (unsigned long long)cs.misses);
    strata_result *want = strata_lookup(plain, two, 2, is, 2, 10000, &st);
    if (r1 && r2 && want) {
        expect_same_result(r1, want);
        expect_same_result(r2, want);
        expect_int(r2, 0, 0, 42, STRATA_PRESENT);
        expect_string(r2, 0, 1, "héllo, wörld", STRATA_PRESENT);
        expect_int(r2, 1, 0, 7, STRATA_DEFAULTED);
    } else {
        CHECK(0, "lookups failed");
    }
    strata_result_free(r1);
    strata_result_free(r2);
    strata_result_free(want);

    /* A mixed lookup: e1 cached, the others not; wildcard, a pinned ref, duplicates, unknown entities. */
    const char *ids[] = {"e2", "e1", "nobody", "e3", "e1", "e4"};
    const char *refs[] = {"c_all:i", "c_all:*", "c_all@1:s", "c_all:e"};
    const char *e1[] = {"e1"};
    strata_result_free(strata_lookup(c, e1, 1, refs, 4, 10000, &st));
    strata_cache_stats before;
    strata_cache_stats_get(c, &before);
    uint64_t lookups = node_online_lookups(plain);
    strata_result *got = strata_lookup(c, ids, 6, refs, 4, 10000, &st);
    uint64_t asked = node_online_lookups(plain) - lookups;
    CHECK(asked == 4, "the node looked up %llu entities, want 4 (e2, nobody, e3, e4)", (unsigned long long)asked);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits - before.hits == 2 * 7 && cs.misses - before.misses == 4 * 7, "mixed: hits +%llu misses +%llu",
          (unsigned long long)(cs.hits - before.hits), (unsigned long long)(cs.misses - before.misses));
    want = strata_lookup(plain, ids, 6, refs, 4, 10000, &st);
    if (got && want) {
        CHECK(strata_result_column_count(got) == 7, "columns %zu", strata_result_column_count(got));
        expect_same_result(got, want);
        CHECK(strata_result_status(got, 2, 0) == STRATA_DEFAULTED, "nobody/i DEFAULTED");
        CHECK(strata_result_status(got, 2, 2) == STRATA_MISSING, "nobody/f MISSING");
    } else {
        CHECK(0, "mixed lookups failed: %s", st.message);
    }
    strata_result_free(got);
    strata_result_free(want);
    /* MISSING and DEFAULTED answers are cached too. */
    const char *nobody[] = {"nobody"};
    strata_cache_stats_get(c, &before);
    got = strata_lookup(c, nobody, 1, refs, 4, 10000, &st);
    strata_cache_stats_get(c, &cs);
    CHECK(got && cs.hits - before.hits == 7 && cs.misses == before.misses, "nobody cached");
    strata_result_free(got);
    /* Errors from the node come through. */
    const char *bad[] = {"c_all:nope"};
    got = strata_lookup(c, e1, 1, bad, 1, 10000, &st);
    CHECK(got == NULL && st.code == STRATA_NOT_FOUND, "unknown feature: %s", strata_code_name(st.code));
    strata_cache_clear(c);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 0 && cs.misses == 0 && cs.entries == 0, "cleared");
    strata_client_disable_cache(c);
    CHECK(strata_cache_stats_get(c, &cs) == 0, "disabled");
    strata_close(c);
    strata_close(plain);
}

static int write_cache_value(strata_client *c, const char *entity, int64_t v, int64_t event_us) {
    const char *feats[] = {"i"};
    strata_status st;
    strata_writer *w = strata_write_begin(c, "c_write", 0, feats, 1, NULL, &st);
    if (!w) return -1;
    strata_value val = strata_value_int(v);
    if (strata_write_row(w, entity, event_us, STRATA_CREATED_UNSET, &val) != 0) {
        strata_write_abort(w);
        return -1;
    }
    return strata_write_finish(w, NULL, &st) == STRATA_OK ? 0 : -1;
}

static int64_t cached_int(strata_client *c, const char *entity) {
    const char *ids[] = {entity};
    const char *refs[] = {"c_write:i"};
    strata_status st;
    strata_result *r = strata_lookup(c, ids, 1, refs, 1, 10000, &st);
    strata_value v;
    int64_t out = r && strata_result_value(r, 0, 0, &v) ? v.u.i : INT64_MIN;
    strata_result_free(r);
    return out;
}

static void test_cache_expiry(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    strata_cache_options o;
    strata_cache_options_init(&o);
    const char *names[] = {"c_write"};
    const double ttls[] = {0.5};
    o.group_ttl_names = names;
    o.group_ttl_s = ttls;
    o.n_group_ttls = 1;
    strata_status st;
    REQUIRE(strata_client_enable_cache(c, &o, &st) == STRATA_OK, "enable");
    int64_t t = g_now_us - 3600 * 1000000LL;
    REQUIRE(write_cache_value(c, "cache-x", 1, t) == 0, "write 1");
    int64_t sent = mono_ms();
    CHECK(cached_int(c, "cache-x") == 1, "first");
    REQUIRE(write_cache_value(c, "cache-x", 2, t + 1) == 0, "write 2");
    int64_t v = cached_int(c, "cache-x");
    if (mono_ms() - sent < 500) CHECK(v == 1, "cached value within its TTL: %lld", (long long)v);
    /* The old value is never served once its TTL has passed. */
    for (;;) {
        int64_t asked = mono_ms();
        v = cached_int(c, "cache-x");
        if (v == 1) {
            REQUIRE(asked - sent < 500, "value 1 served %lld ms after it was fetched (TTL 500 ms)", (long long)(asked - sent));
            usleep(20000);
            continue;
        }
        CHECK(v == 2, "after the TTL: %lld", (long long)v);
        break;
    }
    CHECK(mono_ms() - sent >= 500, "expired early");
    strata_close(c);
}

static void test_cache_eviction(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    strata_cache_options o;
    strata_cache_options_init(&o);
    o.max_entries = 3;
    strata_status st;
    REQUIRE(strata_client_enable_cache(c, &o, &st) == STRATA_OK, "enable");
    const char *ids[] = {"e1", "e2", "e3", "e4", "nobody"};
    const char *refs[] = {"c_all:i"};
    strata_result_free(strata_lookup(c, ids, 5, refs, 1, 10000, &st));
    strata_cache_stats cs;
    strata_cache_stats_get(c, &cs);
    CHECK(cs.entries == 3 && cs.evictions == 2 && cs.misses == 5, "entries %llu evictions %llu", (unsigned long long)cs.entries,
          (unsigned long long)cs.evictions);
    strata_result_free(strata_lookup(c, ids + 2, 3, refs, 1, 10000, &st)); /* the 3 most recent: hits */
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 3 && cs.misses == 5, "hits %llu", (unsigned long long)cs.hits);
    strata_result_free(strata_lookup(c, ids + 2, 1, refs, 1, 10000, &st)); /* e3 most recent */
    strata_result_free(strata_lookup(c, ids, 1, refs, 1, 10000, &st));     /* e1: miss, evicts e4 */
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 4 && cs.misses == 6 && cs.evictions == 3 && cs.entries == 3, "hits %llu misses %llu evictions %llu",
          (unsigned long long)cs.hits, (unsigned long long)cs.misses, (unsigned long long)cs.evictions);
    const char *kept[] = {"e3", "nobody", "e1"};
    strata_result *r = strata_lookup(c, kept, 3, refs, 1, 10000, &st);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == 7, "kept: hits %llu", (unsigned long long)cs.hits);
    if (r) {
        expect_int(r, 0, 0, 7, STRATA_EXPIRED); /* e3's row is older than the max age: the default */
        expect_int(r, 1, 0, 7, STRATA_DEFAULTED);
        expect_int(r, 2, 0, 42, STRATA_PRESENT);
    }
    strata_result_free(r);
    strata_result_free(strata_lookup(c, ids + 3, 1, refs, 1, 10000, &st));
    strata_cache_stats_get(c, &cs);
    CHECK(cs.misses == 7, "e4 was evicted: misses %llu", (unsigned long long)cs.misses);
    strata_close(c);
}

/* A new ACTIVE version: an unpinned reference answers from the old one within its TTL, never next to a
 * reference the node has just resolved to the new one. */
static void test_cache_new_version(void) {
    strata_client *c = connect_or_fail(g_server, NULL);
    if (!c) return;
    strata_status st;
    REQUIRE(strata_client_enable_cache(c, NULL, &st) == STRATA_OK, "enable");
    const char *ids[] = {"x"};
    const char *v[] = {"c_cache_rows:v"};
    const char *vw[] = {"c_cache_rows:v", "c_cache_rows:w"};
    strata_result *r = strata_lookup(c, ids, 1, v, 1, 10000, &st);
    CHECK(r && strata_result_column_version(r, 0) == 1, "version 1");
    strata_result_free(r);
    /* Version 2: a second feature. */
    Strata__V1__FeatureSpec f[2];
    Strata__V1__FeatureSpec *fp[2] = {&f[0], &f[1]};
    for (int i = 0; i < 2; i++) {
        strata__v1__feature_spec__init(&f[i]);
        f[i].name = i ? "w" : "v";
        f[i].dtype = STRATA__V1__DTYPE__DTYPE_INT;
    }
    Strata__V1__FeatureGroupSpec spec;
    strata__v1__feature_group_spec__init(&spec);
    spec.name = "c_cache_rows";
    spec.entity_type = STRATA__V1__ENTITY_TYPE__ENTITY_TYPE_USER;
    spec.n_features = 2;
    spec.features = fp;
    Strata__V1__FeatureGroupSpec *sp[1] = {&spec};
    Strata__V1__ApplyFeatureGroupsRequest req = STRATA__V1__APPLY_FEATURE_GROUPS_REQUEST__INIT;
    req.n_groups = 1;
    req.groups = sp;
    strata_call *call = strata_call_unary(c, "ApplyFeatureGroups", &req.base, &strata__v1__apply_feature_groups_response__descriptor, 10000);
    int code = strata_call_wait(call);
    CHECK(code == STRATA_OK, "apply version 2: %s", strata_call_message(call));
    strata_call_free(call);
    r = strata_lookup(c, ids, 1, v, 1, 10000, &st);
    CHECK(r && strata_result_column_version(r, 0) == 1, "within the TTL: version 1 from the cache");
    strata_result_free(r);
    strata_cache_stats before, cs;
    strata_cache_stats_get(c, &before);
    r = strata_lookup(c, ids, 1, vw, 2, 10000, &st);
    CHECK(r && strata_result_column_count(r) == 2 && strata_result_column_version(r, 0) == 2 && strata_result_column_version(r, 1) == 2,
          "mixed: both version 2 (%s)", st.message);
    strata_result_free(r);
    strata_cache_stats_get(c, &cs);
    CHECK(cs.hits == before.hits && cs.misses == before.misses + 2, "asked again without the cache");
    r = strata_lookup(c, ids, 1, v, 1, 10000, &st);
    CHECK(r && strata_result_column_version(r, 0) == 2, "then version 2");
    strata_result_free(r);
    CHECK(strata_cache_group_ttl(c, "c_cache_rows", 2, NULL, NULL) == 1, "version 2 learned");
    strata_close(c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: STRATA_TEST_NOW=SECS [STRATA_BIN=strata] %s HOST:PORT\n", argv[0]);
        return 2;
    }
    g_server = argv[1];
    g_bin = getenv("STRATA_BIN");
    const char *now = getenv("STRATA_TEST_NOW");
    if (!now) {
        fprintf(stderr, "STRATA_TEST_NOW is not set (run clients/c/run-tests.sh)\n");
        return 2;
    }
    g_now_us = strtoll(now, NULL, 10) * 1000000LL;

    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"every dtype, statuses, missing entities", test_every_dtype},
        {"error statuses", test_errors},
        {"streaming write, read back (C and CLI)", test_write_and_read_back},
        {"rejected and aborted writes", test_write_rejected},
        {"concurrent streams on one connection", test_concurrent_streams},
        {"responses over 64 KiB (flow control)", test_large_responses},
        {"raw protobuf-c calls", test_unary_raw},
        {"timeout on the real node", test_timeout_real_server},
        {"timeout against a silent server", test_timeout_blackhole},
        {"GOAWAY, reconnect, closed connection", test_goaway_and_reconnect},
        {"push events, duplicates, aggregates", test_push_events},
        {"online cache: tiers and their TTLs", test_cache_tiers},
        {"online cache: hits, misses, merged lookups", test_cache_hits_and_merge},
        {"online cache: expiry by TTL", test_cache_expiry},
        {"online cache: LRU eviction", test_cache_eviction},
        {"online cache: a new version", test_cache_new_version},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = g_failures;
        int64_t t0 = mono_ms();
        printf("test: %s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        printf("  %s (%lld ms)\n", g_failures == before ? "ok" : "FAILED", (long long)(mono_ms() - t0));
        fflush(stdout);
    }
    printf("%d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
