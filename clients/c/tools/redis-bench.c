/*
 * redis-bench: the raw key-value yardstick of the benchmark suite (benchmarks/bench_suite.py). Measures
 * HGETALL latency against a Redis server with hiredis, one request at a time, the way strata-bench
 * measures Strata's online lookups: the same ids (pattern applied to numbers drawn with the SplitMix64
 * sequence and seed of strata-bench), the same percentile index (sorted[floor(n * p)]).
 *
 *   redis-bench --host 127.0.0.1 --port 6379 [--batch 1] [--pattern u%d] [--entities 10000]
 *               [--requests 5000] [--warmup 500] [--seed 42] [--json]
 *
 * --batch 1: one HGETALL per request. --batch N: N HGETALLs pipelined (appended, then N replies read),
 * the Redis counterpart of an N-entity lookup. Latency is measured per request from before the first
 * command is formatted to after the last reply is parsed. Built only when libhiredis-dev is installed
 * (`make -C clients/c build/redis-bench`).
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t cpu_us(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
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

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--host H] [--port P] [--batch N] [--pattern FMT] [--entities N] [--requests N] [--warmup N]\n"
            "          [--seed N] [--json]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *pattern = "u%d";
    int port = 6379, batch = 1, json = 0;
    long entities = 10000, requests = 5000, warmup = 500;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--host")) host = v;
        else if (OPT("--port")) port = atoi(v);
        else if (OPT("--batch")) batch = atoi(v);
        else if (OPT("--pattern")) pattern = v;
        else if (OPT("--entities")) entities = atol(v);
        else if (OPT("--requests")) requests = atol(v);
        else if (OPT("--warmup")) warmup = atol(v);
        else if (OPT("--seed")) seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--json") == 0) json = 1;
        else usage(argv[0]);
#undef OPT
    }
    if (batch < 1 || entities < 1 || requests < 1 || warmup < 0) usage(argv[0]);

    char **ids = calloc((size_t)entities, sizeof *ids);
    for (long i = 0; i < entities; i++)
        if (asprintf(&ids[i], pattern, (int)i) < 0) return 1;
    size_t total = (size_t)(warmup + requests) * (size_t)batch;
    uint32_t *draws = malloc(total * sizeof *draws);
    uint64_t state = seed;
    for (size_t i = 0; i < total; i++) draws[i] = (uint32_t)(splitmix_next(&state) % (uint64_t)entities);
    int64_t *lat = calloc((size_t)requests, sizeof *lat);

    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "redis-bench: cannot connect to %s:%d: %s\n", host, port, c ? c->errstr : "out of memory");
        return 1;
    }
    long errors = 0, empty = 0, fields = 0;
    int64_t start_ns = 0, start_cpu = 0;
    for (long r = 0; r < warmup + requests; r++) {
        if (r == warmup) {
            start_ns = now_ns();
            start_cpu = cpu_us();
        }
        const uint32_t *d = draws + (size_t)r * (size_t)batch;
        int64_t t0 = now_ns();
        for (int b = 0; b < batch; b++) redisAppendCommand(c, "HGETALL %s", ids[d[b]]);
        for (int b = 0; b < batch; b++) {
            redisReply *reply = NULL;
            if (redisGetReply(c, (void **)&reply) != REDIS_OK || !reply) {
                fprintf(stderr, "redis-bench: %s\n", c->errstr);
                return 1;
            }
            if (reply->type != REDIS_REPLY_ARRAY) errors++;
            else if (reply->elements == 0) empty++;
            else if (r >= warmup) fields += (long)reply->elements / 2;
            freeReplyObject(reply);
        }
        if (r >= warmup) lat[r - warmup] = (now_ns() - t0) / 1000;
    }
    double wall_s = (double)(now_ns() - start_ns) / 1e9;
    double cpu_per_req = (double)(cpu_us() - start_cpu) / (double)requests;
    redisFree(c);

    qsort(lat, (size_t)requests, sizeof *lat, cmp_i64);
    size_t n = (size_t)requests;
#define PCT(p) lat[(size_t)((double)n * (p)) < n ? (size_t)((double)n * (p)) : n - 1]
    long long p50 = PCT(0.50), p90 = PCT(0.90), p99 = PCT(0.99), max = lat[n - 1];
#undef PCT
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)lat[i];
    if (json)
        printf("{\"client\":\"c-hiredis\",\"command\":\"HGETALL\",\"keys_per_request\":%d,\"requests\":%ld,\"warmup\":%ld,"
               "\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,\"max_us\":%lld,\"mean_us\":%.1f,\"requests_per_s\":%.0f,"
               "\"client_cpu_us_per_request\":%.1f,\"fields_returned\":%ld,\"empty_replies\":%ld,\"errors\":%ld}\n",
               batch, requests, warmup, p50, p90, p99, max, sum / (double)n, (double)n / wall_s, cpu_per_req, fields, empty, errors);
    else
        printf("HGETALL x %d per request, %ld requests (+%ld warm-up): p50 %lld µs, p90 %lld µs, p99 %lld µs, max %lld µs, "
               "%.0f requests/s, client CPU %.1f µs/request; %ld fields, %ld empty replies, %ld errors\n",
               batch, requests, warmup, p50, p90, p99, max, (double)n / wall_s, cpu_per_req, fields, empty, errors);
    for (long i = 0; i < entities; i++) free(ids[i]);
    free(ids);
    free(draws);
    free(lat);
    return errors ? 1 : 0;
}
