/*
 * strata-write-bench: ingest throughput of a Strata node from one C client (the streaming writer of
 * libstrata), for the benchmark suite (benchmarks/bench_suite.py). Generates rows itself (seeded,
 * deterministic, no file to parse), so the figure is the node's ingest rate plus the C client's small
 * encoding cost.
 *
 *   strata-write-bench --server HOST:PORT --group G --features f0,f1,... --types FFIS...
 *                      [--rows N] [--entities E] [--first-entity K] [--pattern u%d] [--batch-rows 5000]
 *                      [--start-us T] [--step-us S] [--seed 42] [--json]
 *
 * Row i is entity (K + i % E) at event time T + (i / E) * S, created time unset (the node stamps
 * it). --types has one letter per feature: F (FLOAT), I (INT), S (STRING). Values come from SplitMix64.
 * The time is measured from strata_write_begin to strata_write_finish's return, i.e. until the node
 * acknowledged every batch (committed to its write-ahead log). Output: rows/s and feature values/s.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "strata.h"

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

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --server HOST:PORT --group G --features f0,f1,.. --types FIS..\n"
            "          [--rows N] [--entities E] [--first-entity K] [--pattern u%%d] [--batch-rows 5000]\n"
            "          [--start-us T] [--step-us S] [--seed 42] [--json]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv) {
    const char *server = "127.0.0.1:7400", *group = NULL, *features_arg = NULL, *types = NULL, *pattern = "u%d";
    long rows = 1000000, entities = 100000, first = 0, batch_rows = 5000;
    int64_t start_us = 0, step_us = 60000000;
    uint64_t seed = 42;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--server")) server = v;
        else if (OPT("--group")) group = v;
        else if (OPT("--features")) features_arg = v;
        else if (OPT("--types")) types = v;
        else if (OPT("--pattern")) pattern = v;
        else if (OPT("--rows")) rows = atol(v);
        else if (OPT("--entities")) entities = atol(v);
        else if (OPT("--first-entity")) first = atol(v);
        else if (OPT("--batch-rows")) batch_rows = atol(v);
        else if (OPT("--start-us")) start_us = strtoll(v, NULL, 10);
        else if (OPT("--step-us")) step_us = strtoll(v, NULL, 10);
        else if (OPT("--seed")) seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--json") == 0) json = 1;
        else usage(argv[0]);
#undef OPT
    }
    if (!group || !features_arg || !types || rows < 1 || entities < 1 || batch_rows < 1) usage(argv[0]);
    if (start_us == 0) {
        /* Default: the rows end one minute before now. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start_us = (int64_t)ts.tv_sec * 1000000LL - ((rows - 1) / entities + 1) * step_us - 60000000LL;
    }

    char *feats = strdup(features_arg);
    size_t nf = 0;
    const char *features[1024];
    for (char *save = NULL, *t = strtok_r(feats, ",", &save); t && nf < 1024; t = strtok_r(NULL, ",", &save)) features[nf++] = t;
    if (strlen(types) != nf) {
        fprintf(stderr, "--types needs one letter per feature (%zu)\n", nf);
        return 2;
    }
    /* Entity ids and a pool of string values, prepared before the clock starts. */
    char **ids = calloc((size_t)entities, sizeof *ids);
    for (long i = 0; i < entities; i++)
        if (asprintf(&ids[i], pattern, (int)(first + i)) < 0) return 1;
    char *pool[1000];
    for (int i = 0; i < 1000; i++)
        if (asprintf(&pool[i], "cat%d", i) < 0) return 1;

    strata_status st;
    strata_client *c = strata_connect(server, NULL, &st);
    if (!c) {
        fprintf(stderr, "strata-write-bench: %s: %s\n", strata_code_name(st.code), st.message);
        return 1;
    }
    strata_write_options opt;
    strata_write_options_init(&opt);
    opt.batch_rows = (size_t)batch_rows;
    strata_value vals[1024];
    uint64_t state = seed;
    int64_t t0 = now_ns(), c0 = cpu_us();
    strata_writer *w = strata_write_begin(c, group, 0, features, nf, &opt, &st);
    if (!w) {
        fprintf(stderr, "strata-write-bench: %s: %s\n", strata_code_name(st.code), st.message);
        return 1;
    }
    for (long i = 0; i < rows; i++) {
        for (size_t k = 0; k < nf; k++) {
            uint64_t x = splitmix_next(&state);
            switch (types[k]) {
            case 'F': vals[k] = strata_value_float((double)(x % 2000000) / 100.0); break;
            case 'I': vals[k] = strata_value_int((int64_t)(x % 2000000) - 1000000); break;
            default: vals[k] = strata_value_string(pool[x % 1000]); break;
            }
        }
        if (strata_write_row(w, ids[i % entities], start_us + (i / entities) * step_us, STRATA_CREATED_UNSET, vals) != 0) break;
    }
    strata_write_summary sum;
    int code = strata_write_finish(w, &sum, &st);
    double wall = (double)(now_ns() - t0) / 1e9;
    double cpu = (double)(cpu_us() - c0) / 1e6;
    strata_close(c);
    if (code != STRATA_OK) {
        fprintf(stderr, "strata-write-bench: %s: %s\n", strata_code_name(st.code), st.message);
        return 1;
    }
    double values = (double)sum.rows_written * (double)nf;
    if (json)
        printf("{\"client\":\"c\",\"rpc\":\"WriteFeatures\",\"rows\":%llu,\"features\":%zu,\"batches\":%u,\"batch_rows\":%ld,"
               "\"late_rows\":%llu,\"seconds\":%.4f,\"rows_per_s\":%.0f,\"values_per_s\":%.0f,\"client_cpu_s\":%.3f}\n",
               (unsigned long long)sum.rows_written, nf, sum.batches, batch_rows, (unsigned long long)sum.late_rows, wall,
               (double)sum.rows_written / wall, values / wall, cpu);
    else
        printf("wrote %llu rows x %zu features in %u batches in %.2f s: %.0f rows/s, %.0f values/s acknowledged "
               "(client CPU %.2f s)\n",
               (unsigned long long)sum.rows_written, nf, sum.batches, wall, (double)sum.rows_written / wall, values / wall, cpu);
    for (long i = 0; i < entities; i++) free(ids[i]);
    free(ids);
    for (int i = 0; i < 1000; i++) free(pool[i]);
    free(feats);
    return 0;
}
