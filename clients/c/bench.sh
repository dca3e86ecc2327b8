#!/usr/bin/env bash
# Online lookup latency of a release node, measured by the C client (build/strata-bench) and by the Swift
# CLI (`strata bench-get`) with the same parameters (same entity draw, same seed, one call at a time),
# side by side, then the C client at higher concurrency (which bench-get does not do).
#   STRATA_BIN=/path/to/release/strata clients/c/bench.sh [ROWS]       (ROWS of the bench group, default 200000)
# Data: the bundled example (examples/features.yaml, examples/make-data.sh; entities u0..u4, of which
# u1..u3 exist) and benchmarks/bench-data.sh's `bench` group (3 features, ROWS rows over 100000 entities).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROWS="${1:-200000}"
: "${STRATA_BIN:?set STRATA_BIN to a release strata binary}"
REQ="${BENCH_REQUESTS:-5000}"
make -s -C "$HERE" build/strata-bench
CBENCH="$HERE/build/strata-bench"

WORK="$(mktemp -d)"
NODE=""
cleanup() {
  if [[ -n "$NODE" ]] && kill -0 "$NODE" 2>/dev/null; then
    kill -TERM "$NODE" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$NODE" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NODE" 2>/dev/null || true
    wait "$NODE" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM
"$STRATA_BIN" serve --port 0 --data-dir "$WORK/data" >"$WORK/node.out" 2>"$WORK/node.log" &
NODE=$!
ADDR=""
for _ in $(seq 1 300); do
  ADDR="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$WORK/node.out" 2>/dev/null | head -1)"
  [[ -n "$ADDR" ]] && break
  sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "strata serve did not start" >&2; cat "$WORK/node.log" >&2; exit 1; }
export STRATA_SERVER="$ADDR"

"$STRATA_BIN" apply "$ROOT/examples/features.yaml" >/dev/null
"$ROOT/examples/make-data.sh" "$WORK/ex" >/dev/null
"$STRATA_BIN" ingest --group user_stats "$WORK/ex/user_stats.csv" >/dev/null
"$STRATA_BIN" ingest --group user_embedding "$WORK/ex/user_embedding.csv" >/dev/null
"$ROOT/benchmarks/bench-data.sh" "$WORK" "$ROWS" 10 100000
"$STRATA_BIN" apply "$WORK/defs.yaml" >/dev/null
"$STRATA_BIN" ingest --group bench "$WORK/rows.csv" >/dev/null

# bench-get prints "... median A µs, p90 B µs, p99 C µs, D calls/s sequential ..."
swift_line() {
  local out
  out="$("$STRATA_BIN" bench-get "$@")"
  echo "$out" | sed -E 's/.*median ([0-9]+) µs, p90 ([0-9]+) µs, p99 ([0-9]+) µs, ([0-9]+) calls\/s.*/p50 \1  p90 \2  p99 \3  (\4 calls\/s from summed latency)/'
}
c_line() {
  "$CBENCH" --json "$@" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("p50 %(p50_us)d  p90 %(p90_us)d  p99 %(p99_us)d  max %(max_us)d  %(requests_per_s).0f req/s  client CPU %(client_cpu_us_per_request).0f µs/req  errors %(errors)d" % d)'
}
row() { printf '%-52s %-7s %s\n' "$1" "$2" "$3"; }

echo "node $ADDR ($("$STRATA_BIN" --version 2>/dev/null || echo strata)), $REQ requests after 500 warm-up, µs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  echo "-- round $round"
  row "Ping (transport floor: an empty RPC)" swift "$(swift_line --features x --ping --iterations "$REQ" --warmup 500)"
  row "" C "$(c_line --ping --requests "$REQ" --warmup 500)"
  row "example user_stats:*, 1 entity (u0..u4)" swift "$(swift_line --features 'user_stats:*' --entities 5 --iterations "$REQ" --warmup 500)"
  row "" C "$(c_line --features 'user_stats:*' --entities 5 --requests "$REQ" --warmup 500)"
  row "example user_stats:*,user_embedding:*, 100 entities" swift "$(swift_line --features 'user_stats:*,user_embedding:*' --entities 5 --batch 100 --iterations "$REQ" --warmup 500)"
  row "" C "$(c_line --features 'user_stats:*,user_embedding:*' --entities 5 --batch 100 --requests "$REQ" --warmup 500)"
  row "bench:* ($ROWS rows, 100k entities), 1 entity" swift "$(swift_line --features 'bench:*' --entities 100000 --iterations "$REQ" --warmup 500)"
  row "" C "$(c_line --features 'bench:*' --entities 100000 --requests "$REQ" --warmup 500)"
  row "bench:*, 100 entities" swift "$(swift_line --features 'bench:*' --entities 100000 --batch 100 --iterations "$REQ" --warmup 500)"
  row "" C "$(c_line --features 'bench:*' --entities 100000 --batch 100 --requests "$REQ" --warmup 500)"
done
echo "-- C client, concurrent requests (bench:*, 1 entity)"
for conc in "8 1" "64 1" "64 4"; do
  set -- $conc
  row "concurrency $1 on $2 connection(s)" C "$(c_line --features 'bench:*' --entities 100000 --requests $((REQ * 4)) --warmup 1000 --concurrency "$1" --connections "$2")"
done
