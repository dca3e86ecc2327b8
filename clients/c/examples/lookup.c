/*
 * Connects to a Strata node, looks up features for some entities and prints every value with its
 * status and event time.
 *
 *   build/lookup [--server HOST:PORT] [--features REFS] ENTITY...
 *   build/lookup --server 127.0.0.1:7400 --features 'user_stats:*,user_embedding:taste' u1 u2 u9
 *
 * The server defaults to $STRATA_SERVER or 127.0.0.1:7400; features to "user_stats:*" (the example
 * group of examples/features.yaml). REFS is comma-separated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata.h"

static void print_value(const strata_value *v) {
    switch (v->type) {
    case STRATA_NULL: printf("null"); break;
    case STRATA_FLOAT: printf("%g", v->u.f); break;
    case STRATA_INT: printf("%lld", (long long)v->u.i); break;
    case STRATA_STRING: printf("\"%s\"", v->u.s.ptr); break;
    case STRATA_EMBEDDING:
        printf("[");
        for (size_t i = 0; i < v->u.e.dim; i++) printf(i ? ", %g" : "%g", (double)v->u.e.ptr[i]);
        printf("]");
        break;
    }
}

int main(int argc, char **argv) {
    const char *server = getenv("STRATA_SERVER") ? getenv("STRATA_SERVER") : "127.0.0.1:7400";
    char *features_arg = strdup("user_stats:*");
    const char *entities[256];
    size_t n_entities = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) server = argv[++i];
        else if (strcmp(argv[i], "--features") == 0 && i + 1 < argc) {
            free(features_arg);
            features_arg = strdup(argv[++i]);
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--server HOST:PORT] [--features REFS] ENTITY...\n", argv[0]);
            return 2;
        } else if (n_entities < 256) entities[n_entities++] = argv[i];
    }
    if (n_entities == 0) entities[n_entities++] = "u1";

    /* Split the comma-separated references in place. */
    const char *features[64];
    size_t n_features = 0;
    for (char *save = NULL, *tok = strtok_r(features_arg, ",", &save); tok && n_features < 64; tok = strtok_r(NULL, ",", &save))
        features[n_features++] = tok;

    strata_status st;
    strata_client *client = strata_connect(server, NULL, &st);
    if (!client) {
        fprintf(stderr, "connect: %s: %s\n", strata_code_name(st.code), st.message);
        free(features_arg);
        return 1;
    }
    strata_result *r = strata_lookup(client, entities, n_entities, features, n_features, 2000, &st);
    if (!r) {
        fprintf(stderr, "lookup: %s: %s\n", strata_code_name(st.code), st.message);
        strata_close(client);
        free(features_arg);
        return 1;
    }
    for (size_t e = 0; e < strata_result_entity_count(r); e++) {
        for (size_t c = 0; c < strata_result_column_count(r); c++) {
            strata_value v;
            strata_result_value(r, e, c, &v);
            printf("%s\t%s\t", strata_result_entity_id(r, e), strata_result_column_ref(r, c));
            print_value(&v);
            printf("\t%s", strata_value_status_name(strata_result_status(r, e, c)));
            int64_t t = strata_result_event_time_us(r, e, c);
            if (t) {
                time_t secs = (time_t)(t / 1000000);
                struct tm tm;
                char when[32];
                gmtime_r(&secs, &tm);
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                printf("\t%s", when);
            } else {
                printf("\t-");
            }
            printf("\n");
        }
    }
    strata_result_free(r);
    strata_close(client);
    free(features_arg);
    return 0;
}
