#!/usr/bin/env bash
# Replication on 3 nodes of this machine (each cluster with its own etcd, started by cluster/start.sh):
#   - write throughput: `strata ingest` of ROWS rows through n1 at RF 3 (QUORUM, ALL, ONE) and at RF 1,
#     median of 3 runs each, interleaved;
#   - online lookups (the C client's strata-bench, 1 and 100 entities per call, p50/p99 µs, median of 3
#     rounds) through n1 and through n2, with all nodes up, with n3 killed (-9), with n3 paused (SIGSTOP);
#   - QUORUM write throughput with n3 paused;
#   - hints: rows n1 kept for n3 while n3 was down, and the time from n3's restart until n1 holds none.
# With RF 3 on 3 nodes every node holds a replica of every entity, so a coordinator answers lookups
# from its own copy: the table says so, and the lookups through n2 show the same with n3 away.
# Usage: benchmarks/bench-replication.sh [ROWS]      (default 300000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-300000}"
ENTITIES=100000
dev/install-deps.sh >/dev/null
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
make -s -C clients/c build/strata-bench >/dev/null
BENCH="$PWD/clients/c/build/strata-bench"
WORK="$(mktemp -d)"
RF3_RUN="$WORK/rf3"
RF1_RUN="$WORK/rf1"
cleanup() {
  for run in "$RF3_RUN" "$RF1_RUN"; do
    [ -f "$run/n3.pid" ] && kill -CONT "$(cat "$run/n3.pid")" 2>/dev/null || true
    STRATA_BIN="$BIN" cluster/stop.sh "$run" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
STRATA_BIN="$BIN" STRATA_RF=3 STRATA_BASE_PORT=7600 ETCD_PORT=2579 cluster/start.sh "$RF3_RUN" >/dev/null
STRATA_BIN="$BIN" STRATA_RF=1 STRATA_BASE_PORT=7650 ETCD_PORT=2589 cluster/start.sh "$RF1_RUN" >/dev/null
R3="127.0.0.1:7601"; R3B="127.0.0.1:7602"; R1="127.0.0.1:7651"
benchmarks/bench-data.sh "$WORK" "$ROWS" 1000 "$ENTITIES"
for t in "$R3" "$R1"; do "$BIN" apply "$WORK/defs.yaml" --server "$t" >/dev/null; done

median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# rows/s of one ingest of the whole file
ingest() { # server consistency
  "$BIN" ingest --group bench --consistency "$2" "$WORK/rows.csv" --server "$1" | sed -nE 's/.*\(([0-9]+) rows\/s\).*/\1/p'
}
declare -A W
for k in rf3q rf3a rf3o rf1; do W[$k]=""; done
for round in 1 2 3; do
  W[rf1]+="$(ingest "$R1" QUORUM) "
  W[rf3q]+="$(ingest "$R3" QUORUM) "
  W[rf3a]+="$(ingest "$R3" ALL) "
  W[rf3o]+="$(ingest "$R3" ONE) "
done
# shellcheck disable=SC2086
for k in rf3q rf3a rf3o rf1; do W[$k]=$(median3 ${W[$k]}); done

lat() { # server batch requests -> "p50 p99"
  "$BENCH" --features 'bench:*' --entities $ENTITIES --batch "$2" --requests "$3" --warmup 200 --server "$1" \
    | sed -E 's/.* p50 ([0-9]+) µs.* p99 ([0-9]+) µs.*/\1 \2/'
}
lookups() { # label server
  local out="" shape
  for shape in 1 100; do
    local n=$([ "$shape" = 1 ] && echo 4000 || echo 2000) a="" b="" x y
    for round in 1 2 3; do read -r x y <<<"$(lat "$2" "$shape" "$n")"; a+="$x "; b+="$y "; done
    # shellcheck disable=SC2086
    out+=" | $(median3 $a) / $(median3 $b)"
  done
  echo "| $1$out |"
}
N3PID=$(cat "$RF3_RUN/n3.pid")
rows=()
rows+=("$(lookups "RF 1, all up, through n1" "$R1")")
rows+=("$(lookups "RF 3, all up, through n1" "$R3")")
kill -STOP "$N3PID"
rows+=("$(lookups "RF 3, n3 paused (SIGSTOP), through n1" "$R3")")
rows+=("$(lookups "RF 3, n3 paused (SIGSTOP), through n2" "$R3B")")
paused_write=$(ingest "$R3" QUORUM)
kill -CONT "$N3PID"
sleep 2
kill -9 "$N3PID"
rows+=("$(lookups "RF 3, n3 killed (-9), through n1" "$R3")")
rows+=("$(lookups "RF 3, n3 killed (-9), through n2" "$R3B")")
"$BIN" ingest --group bench --consistency QUORUM "$WORK/rows.csv" --server "$R3" >/dev/null
pending=$("$BIN" status --server "$R3" | awk '$1 == "n3" { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { print $(i + 2); exit } }')
rm -f "$RF3_RUN/n3.pid"
STRATA_BIN="$BIN" STRATA_RF=3 STRATA_BASE_PORT=7600 ETCD_PORT=2579 cluster/start.sh "$RF3_RUN" >/dev/null
start=$(date +%s.%N)
drained=""
for _ in $(seq 1 600); do
  left=$("$BIN" status --server "$R3" | awk '$1 == "n3" { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { print $(i + 2); exit } }')
  if [ "$left" = "0" ]; then drained=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'); break; fi
  sleep 0.1
done

echo
echo "Replication on one machine ($(nproc) CPUs), 3 nodes, release build: $ROWS rows x 3 features over $ENTITIES entities per ingest"
echo
echo "| writes through n1 (strata ingest, median of 3) | rows/s | vs RF 1 |"
echo "|---|---:|---:|"
echo "| RF 1 | ${W[rf1]} | 1.00x |"
echo "| RF 3, QUORUM (acknowledged after 2 of 3) | ${W[rf3q]} | $(ratio "${W[rf3q]}" "${W[rf1]}") |"
echo "| RF 3, ALL | ${W[rf3a]} | $(ratio "${W[rf3a]}" "${W[rf1]}") |"
echo "| RF 3, ONE | ${W[rf3o]} | $(ratio "${W[rf3o]}" "${W[rf1]}") |"
echo "| RF 3, QUORUM, n3 paused (one run) | $paused_write | $(ratio "$paused_write" "${W[rf1]}") |"
echo
echo "| online lookups (C client, median of 3 rounds) | 1 entity p50 / p99 (µs) | 100 entities p50 / p99 (µs) |"
echo "|---|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Hints: n1 kept $pending rows for n3 while it was down; from n3's restart until n1 held none: ${drained:-more than 60} s"
