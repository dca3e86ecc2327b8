/*
 * strata-bench: online lookup latency of a Strata node as seen by the C client, a load generator whose
 * own overhead stays out of the figures (no allocation per entity id, one poll loop per connection).
 *
 *   strata-bench --server 127.0.0.1:7400 --features 'user_stats:*' [--batch 1] [--pattern u%d]
 *                [--entities 10000 | --range LO:HI] [--requests 5000] [--warmup 500]
 *                [--concurrency 1] [--connections 1] [--timeout-ms 10000] [--seed 42] [--ping] [--json]
 *
 * Entity ids are the pattern applied to numbers drawn from [LO, HI) (--entities N = 0:N) with the
 * SplitMix64 sequence of `strata bench-get` (same seed, same ids). --concurrency 1 runs one request at
 * a time; N keeps N requests in flight, spread over --connections connections (one thread each).
 * Latency is measured per call from submission (before encoding) to completion (after decoding);
 * percentiles use the same index as bench-get (sorted[floor(n * p)]). Requests/s is measured requests
 * divided by the wall time of the measured phase.
 * --ping measures the empty Ping RPC instead: the transport floor (a unary call on which the server
 * does no work of its own).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "strata.h"
#include "strata/v1/feature_store.pb-c.h"

typedef struct config {
    const char *server;
    const char *features_arg;
    const char *pattern;
    long lo, hi;
    int batch;
    long requests, warmup;
    int concurrency, connections;
    int timeout_ms;
    uint64_t seed;
    int ping_only;
    int json;
} config;

/* Shared state of a run. */
typedef struct run {
    config cfg;
    const char **features;
    size_t n_features;
    char **ids;           /* one string per number in [lo, hi) */
    uint32_t *draws;      /* (warmup + requests) * batch indexes into ids, the bench-get sequence */
    long next_slot;       /* atomically claimed request slots: [0, warmup) warm-up, then measured */
    int64_t *latency_us;  /* per measured request */
    pthread_barrier_t warm_done;
    int64_t measure_start_ns;
    int64_t measure_start_cpu_us; /* user + system CPU of this process (all threads) */
    long errors;
    char first_error[STRATA_MESSAGE_MAX + 64];
    pthread_mutex_t lock;
    long present;         /* PRESENT values in measured responses */
} run;

typedef struct worker {
    run *r;
    int inflight_max;
    int64_t last_done_ns;
    int failed_connect;
} worker;

static int64_t cpu_us(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Prints `s` as a JSON string. */
static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --server HOST:PORT --features REFS [--batch N] [--pattern FMT] [--entities N | --range LO:HI]\n"
            "          [--requests N] [--warmup N] [--concurrency N] [--connections N] [--timeout-ms MS] [--seed N]\n"
            "          [--ping] [--json]\n"
            "  --features   comma-separated references (group:feature, group@2:feature, group:*)\n"
            "  --batch      entities per request (default 1; e.g. 100 for a ranking call)\n"
            "  --pattern    printf pattern of entity ids with one %%d (default u%%d)\n"
            "  --entities   draw ids from 0..N-1 (default 10000); --range LO:HI draws from LO..HI-1\n"
            "  --requests   measured requests (default 5000); --warmup unmeasured ones first (default 500)\n"
            "  --concurrency requests in flight (default 1 = one at a time), over --connections connections\n"
            "  --ping       measure Ping, the empty RPC: the transport floor\n"
            "  --json       one JSON object instead of the text line\n",
            argv0);
    exit(2);
}

static uint64_t splitmix_next(uint64_t *state) {
    *state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void record_error(run *r, int code, const char *msg) {
    pthread_mutex_lock(&r->lock);
    if (r->errors++ == 0) snprintf(r->first_error, sizeof r->first_error, "%s: %s", strata_code_name(code), msg);
    pthread_mutex_unlock(&r->lock);
}

/* Starts the call for request slot `slot`. */
static strata_call *start(run *r, strata_client *c, long slot) {
    if (r->cfg.ping_only) {
        Strata__V1__PingRequest req = STRATA__V1__PING_REQUEST__INIT;
        return strata_call_unary(c, "Ping", &req.base, &strata__v1__ping_response__descriptor, r->cfg.timeout_ms);
    }
    const char *ids[r->cfg.batch];
    const uint32_t *d = r->draws + (size_t)slot * (size_t)r->cfg.batch;
    for (int i = 0; i < r->cfg.batch; i++) ids[i] = r->ids[d[i]];
    return strata_lookup_async(c, ids, (size_t)r->cfg.batch, r->features, r->n_features, r->cfg.timeout_ms);
}

static long count_present(const strata_result *res) {
    long n = 0;
    for (size_t e = 0; e < strata_result_entity_count(res); e++)
        for (size_t k = 0; k < strata_result_column_count(res); k++) n += strata_result_status(res, e, k) == STRATA_PRESENT;
    return n;
}

/* Runs request slots in [from, to) claimed from the shared counter, keeping `inflight_max` in flight. */
static void drive(worker *w, strata_client *c, long limit, int measured) {
    run *r = w->r;
    int inflight = 0;
    long present = 0;
    for (;;) {
        while (inflight < w->inflight_max) {
            long slot = __atomic_fetch_add(&r->next_slot, 1, __ATOMIC_RELAXED);
            if (slot >= limit) break;
            strata_call *call = start(r, c, slot);
            if (!call) {
                record_error(r, STRATA_RESOURCE_EXHAUSTED, "out of memory");
                continue;
            }
            strata_call_set_user_data(call, (void *)(intptr_t)slot);
            inflight++;
        }
        if (inflight == 0) break;
        strata_call *call = strata_wait_any(c, -1);
        if (!call) break;
        inflight--;
        long slot = (long)(intptr_t)strata_call_user_data(call);
        int code = strata_call_code(call);
        if (code != STRATA_OK) record_error(r, code, strata_call_message(call));
        if (measured) {
            r->latency_us[slot - r->cfg.warmup] = strata_call_latency_us(call);
            if (code == STRATA_OK && !r->cfg.ping_only) present += count_present(strata_call_result(call));
            w->last_done_ns = now_ns();
        }
        strata_call_free(call);
    }
    if (measured) {
        pthread_mutex_lock(&r->lock);
        r->present += present;
        pthread_mutex_unlock(&r->lock);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    run *r = w->r;
    strata_status st;
    strata_client *c = strata_connect(r->cfg.server, NULL, &st);
    if (!c) {
        record_error(r, st.code, st.message);
        w->failed_connect = 1;
    }
    if (c) drive(w, c, r->cfg.warmup, 0);
    /* Everyone has finished warming up before the measured phase starts. */
    int serial = pthread_barrier_wait(&r->warm_done);
    if (serial == PTHREAD_BARRIER_SERIAL_THREAD) {
        r->measure_start_ns = now_ns();
        r->measure_start_cpu_us = cpu_us();
        __atomic_store_n(&r->next_slot, r->cfg.warmup, __ATOMIC_SEQ_CST);
    }
    pthread_barrier_wait(&r->warm_done);
    if (c) drive(w, c, r->cfg.warmup + r->cfg.requests, 1);
    strata_close(c);
    return NULL;
}

static long parse_long(const char *s, const char *name) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "invalid %s: %s\n", name, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    run r;
    memset(&r, 0, sizeof r);
    config *cfg = &r.cfg;
    cfg->server = getenv("STRATA_SERVER") ? getenv("STRATA_SERVER") : "127.0.0.1:7400";
    cfg->pattern = "u%d";
    cfg->lo = 0;
    cfg->hi = 10000;
    cfg->batch = 1;
    cfg->requests = 5000;
    cfg->warmup = 500;
    cfg->concurrency = 1;
    cfg->connections = 1;
    cfg->timeout_ms = 10000;
    cfg->seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--server")) cfg->server = v;
        else if (OPT("--features")) cfg->features_arg = v;
        else if (OPT("--pattern")) cfg->pattern = v;
        else if (OPT("--entities")) {
            cfg->lo = 0;
            cfg->hi = parse_long(v, "--entities");
        } else if (OPT("--range")) {
            const char *colon = strchr(v, ':');
            if (!colon) usage(argv[0]);
            char lo[32];
            snprintf(lo, sizeof lo, "%.*s", (int)(colon - v), v);
            cfg->lo = parse_long(lo, "--range");
            cfg->hi = parse_long(colon + 1, "--range");
        } else if (OPT("--batch")) cfg->batch = (int)parse_long(v, "--batch");
        else if (OPT("--requests")) cfg->requests = parse_long(v, "--requests");
        else if (OPT("--warmup")) cfg->warmup = parse_long(v, "--warmup");
        else if (OPT("--concurrency")) cfg->concurrency = (int)parse_long(v, "--concurrency");
        else if (OPT("--connections")) cfg->connections = (int)parse_long(v, "--connections");
        else if (OPT("--timeout-ms")) cfg->timeout_ms = (int)parse_long(v, "--timeout-ms");
        else if (OPT("--seed")) cfg->seed = (uint64_t)parse_long(v, "--seed");
        else if (strcmp(a, "--ping") == 0) cfg->ping_only = 1;
        else if (strcmp(a, "--json") == 0) cfg->json = 1;
        else usage(argv[0]);
#undef OPT
    }
    if ((!cfg->features_arg && !cfg->ping_only) || cfg->batch < 1 || cfg->requests < 1 || cfg->warmup < 0 || cfg->concurrency < 1 ||
        cfg->connections < 1 || cfg->hi <= cfg->lo || cfg->hi - cfg->lo > 100000000L)
        usage(argv[0]);
    if (cfg->connections > cfg->concurrency) cfg->connections = cfg->concurrency;
    {
        /* The pattern must contain exactly one %d (or %i) conversion and nothing else. */
        int convs = 0, bad = 0;
        for (const char *p = cfg->pattern; *p; p++) {
            if (*p != '%') continue;
            if (p[1] == '%') {
                p++;
                continue;
            }
            if (p[1] == 'd' || p[1] == 'i') convs++;
            else bad = 1;
            p++;
        }
        if (convs != 1 || bad) {
            fprintf(stderr, "--pattern needs exactly one %%d: %s\n", cfg->pattern);
            return 2;
        }
    }

    /* Features. */
    char *feats = strdup(cfg->features_arg ? cfg->features_arg : "");
    size_t cap = 1;
    for (const char *p = feats; *p; p++) cap += *p == ',';
    r.features = calloc(cap, sizeof *r.features);
    for (char *save = NULL, *t = strtok_r(feats, ",", &save); t; t = strtok_r(NULL, ",", &save)) r.features[r.n_features++] = t;

    /* Entity ids and the draws, prepared before anything is measured. */
    size_t n_ids = (size_t)(cfg->hi - cfg->lo);
    size_t total = (size_t)(cfg->warmup + cfg->requests);
    if (!cfg->ping_only) {
        r.ids = calloc(n_ids, sizeof *r.ids);
        for (size_t i = 0; i < n_ids; i++)
            if (asprintf(&r.ids[i], cfg->pattern, (int)(cfg->lo + (long)i)) < 0) return 1;
        r.draws = malloc(total * (size_t)cfg->batch * sizeof *r.draws);
        uint64_t state = cfg->seed;
        for (size_t i = 0; i < total * (size_t)cfg->batch; i++) r.draws[i] = (uint32_t)(splitmix_next(&state) % n_ids);
    }
    r.latency_us = calloc((size_t)cfg->requests, sizeof *r.latency_us);
    pthread_mutex_init(&r.lock, NULL);
    pthread_barrier_init(&r.warm_done, NULL, (unsigned)cfg->connections);

    worker *ws = calloc((size_t)cfg->connections, sizeof *ws);
    pthread_t *th = calloc((size_t)cfg->connections, sizeof *th);
    for (int i = 0; i < cfg->connections; i++) {
        ws[i].r = &r;
        ws[i].inflight_max = cfg->concurrency / cfg->connections + (i < cfg->concurrency % cfg->connections);
        pthread_create(&th[i], NULL, worker_main, &ws[i]);
    }
    int64_t end_ns = 0;
    int connect_failed = 0;
    for (int i = 0; i < cfg->connections; i++) {
        pthread_join(th[i], NULL);
        if (ws[i].last_done_ns > end_ns) end_ns = ws[i].last_done_ns;
        connect_failed |= ws[i].failed_connect;
    }
    if (connect_failed) {
        fprintf(stderr, "strata-bench: %s\n", r.first_error);
        return 1;
    }

    qsort(r.latency_us, (size_t)cfg->requests, sizeof *r.latency_us, cmp_i64);
    size_t n = (size_t)cfg->requests;
#define PCT(p) r.latency_us[(size_t)((double)n * (p)) < n ? (size_t)((double)n * (p)) : n - 1]
    int64_t p50 = PCT(0.50), p90 = PCT(0.90), p99 = PCT(0.99), max = r.latency_us[n - 1];
#undef PCT
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)r.latency_us[i];
    double wall_s = (double)(end_ns - r.measure_start_ns) / 1e9;
    double rps = wall_s > 0 ? (double)n / wall_s : 0;
    /* The client's own CPU per request in the measured phase (encoding, HTTP/2, syscalls, decoding). */
    double cpu_per_req = (double)(cpu_us() - r.measure_start_cpu_us) / (double)n;
    const char *rpc = cfg->ping_only ? "Ping" : "GetOnlineFeatures";

    if (cfg->json) {
        printf("{\"client\":\"c\",\"rpc\":\"%s\",\"server\":", rpc);
        json_string(cfg->server);
        printf(",");
        if (!cfg->ping_only) {
            printf("\"features\":");
            json_string(cfg->features_arg);
            printf(",\"entities_per_request\":%d,", cfg->batch);
        }
        printf("\"requests\":%ld,\"warmup\":%ld,\"concurrency\":%d,\"connections\":%d,"
               "\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,\"max_us\":%lld,\"mean_us\":%.1f,"
               "\"requests_per_s\":%.0f,\"client_cpu_us_per_request\":%.1f,\"errors\":%ld",
               cfg->requests, cfg->warmup, cfg->concurrency, cfg->connections, (long long)p50, (long long)p90, (long long)p99, (long long)max,
               sum / (double)n, rps, cpu_per_req, r.errors);
        if (!cfg->ping_only) printf(",\"present_values\":%ld", r.present);
        if (r.errors) {
            printf(",\"first_error\":");
            json_string(r.first_error);
        }
        if (cfg->ping_only) printf(",\"note\":\"Ping is an empty RPC: the transport floor\"");
        printf("}\n");
    } else {
        if (cfg->ping_only)
            printf("Ping (transport floor: an empty RPC)");
        else
            printf("GetOnlineFeatures, %d entit%s x %zu ref%s per request", cfg->batch, cfg->batch == 1 ? "y" : "ies", r.n_features,
                   r.n_features == 1 ? "" : "s");
        printf(", %ld requests (+%ld warm-up), concurrency %d on %d connection%s: p50 %lld µs, p90 %lld µs, p99 %lld µs, max %lld µs, %.0f requests/s"
               ", client CPU %.1f µs/request",
               cfg->requests, cfg->warmup, cfg->concurrency, cfg->connections, cfg->connections == 1 ? "" : "s", (long long)p50, (long long)p90,
               (long long)p99, (long long)max, rps, cpu_per_req);
        if (!cfg->ping_only) printf("; %ld PRESENT values", r.present);
        printf("\n");
        if (r.errors) printf("%ld errors; first: %s\n", r.errors, r.first_error);
    }

    for (size_t i = 0; r.ids && i < n_ids; i++) free(r.ids[i]);
    free(r.ids);
    free(r.draws);
    free(r.latency_us);
    free(r.features);
    free(feats);
    free(ws);
    free(th);
    pthread_barrier_destroy(&r.warm_done);
    pthread_mutex_destroy(&r.lock);
    return r.errors ? 1 : 0;
}
