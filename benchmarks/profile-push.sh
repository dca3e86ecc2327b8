#!/usr/bin/env bash
# Where one node's CPU goes during `strata push` (a tool for work on the push path, not a benchmark):
#   benchmarks/profile-push.sh [--events N] [--entities N] [--batch-rows N] [--rounds N] [--perf]
# Generates the streaming benchmark's push data (bench_streaming.py's generator, seed 42: N events over
# the entities with its skew, in event-time order, as CSV), starts a fresh node (`strata serve`, its
# own data directory, `--max-rows-per-batch` set to the batch size), applies the benchmark's
# definitions (every push stream has the 6 aggregates), and pushes the file with the CLI into a new
# stream per round. Per round it prints the wall-clock rate and the CPU the node spent per event, in
# total and on its writer thread (`strata-write-0`, from /proc). With --perf (needs `perf`), the first
# round is recorded (`perf record -g`) and the writer thread's heaviest functions are printed (inclusive,
# as a share of all the node's samples).
# Defaults: 1M events over 100k entities, batches of 10,000, 2 rounds. STRATA_BIN names the binary
# (default: the release build, built if missing). The work directory is removed unless
# STRATA_PROFILE_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=1000000 ENTITIES=100000 BATCH=10000 ROUNDS=2 PERF=0
while (($#)); do
  case "$1" in
    --events) EVENTS=$2; shift 2 ;;
    --entities) ENTITIES=$2; shift 2 ;;
    --batch-rows) BATCH=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --perf) PERF=1; shift ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if ((PERF)) && ! command -v perf >/dev/null; then
  echo "--perf needs perf (Debian: linux-perf)" >&2
  exit 2
fi

dev/install-deps.sh >&2
source dev/python-env.sh benchmarks/requirements.txt
if [[ -z "${STRATA_BIN:-}" ]]; then
  STRATA_BIN="$(swift build -c release --show-bin-path)/strata"
  [[ -x "$STRATA_BIN" ]] || swift build -c release --product strata >&2
fi

WORK=$(mktemp -d /tmp/strata-profile-push.XXXXXX)
NODE=""
cleanup() {
  [[ -n "$NODE" ]] && kill "$NODE" 2>/dev/null && wait "$NODE" 2>/dev/null
  [[ "${STRATA_PROFILE_KEEP:-0}" == 1 ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

streams=$(for ((k = 0; k < ROUNDS; k++)); do printf "push_cli_%d " "$k"; done)
"$PYTHON" - "$WORK" "$EVENTS" "$ENTITIES" $streams <<'EOF'
import sys, time, types
sys.path.insert(0, "benchmarks")
import bench_streaming as b
work, events, entities, streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
a = types.SimpleNamespace(events=events, entities=entities, seed=42, labels=1, push_events=events)
d = b.generate(work, a, int(time.time()))
b.definitions(f"{work}/defs.yaml", streams)
print(f"{d['push_events']:,} events over {d['entities_with_events']:,} entities (median {d['median_events_per_entity']:.0f},"
      f" max {d['max_events_per_entity']:,} per entity), {d['push_csv_mb']:.1f} MB CSV", file=sys.stderr)
EOF

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$STRATA_BIN" serve --port "$PORT" --data-dir "$WORK/node" --max-rows-per-batch "$BATCH" > "$WORK/node.log" 2>&1 &
NODE=$!
for _ in $(seq 100); do "$STRATA_BIN" status --server "127.0.0.1:$PORT" >/dev/null 2>&1 && break; sleep 0.1; done
"$STRATA_BIN" apply "$WORK/defs.yaml" --server "127.0.0.1:$PORT" >/dev/null

ticks() { awk '{print $14 + $15}' "$1"; }  # utime + stime, in clock ticks
writer() {  # the writer thread's stat file (empty before the node's first write)
  for t in /proc/"$NODE"/task/*; do
    if [[ "$(cat "$t/comm")" == strata-write-0 ]]; then echo "$t/stat"; fi
  done
}
HZ=$(getconf CLK_TCK)
for ((k = 0; k < ROUNDS; k++)); do
  node0=$(ticks /proc/"$NODE"/stat)
  w=$(writer)
  writer0=$([[ -n "$w" ]] && ticks "$w" || echo 0)
  if ((PERF && k == 0)); then
    perf record -F 499 -g -p "$NODE" -o "$WORK/perf.data" >/dev/null 2>&1 &
    PERFPID=$!
    sleep 0.5
  fi
  start=$(date +%s.%N)
  "$STRATA_BIN" push --stream "push_cli_$k" "$WORK/push.csv" --batch-rows "$BATCH" --server "127.0.0.1:$PORT" >/dev/null
  end=$(date +%s.%N)
  if ((PERF && k == 0)); then
    kill -INT "$PERFPID"
    wait "$PERFPID" || true
  fi
  node1=$(ticks /proc/"$NODE"/stat)
  writer1=$(ticks "$(writer)")
  "$PYTHON" -c "
e, s, t = $EVENTS, $end - $start, $HZ
print(f'round {$k + 1}: {e / s:,.0f} events/s; node CPU {($node1 - $node0) / t * 1e6 / e:.1f} µs/event, '
      f'writer thread {($writer1 - $writer0) / t * 1e6 / e:.1f} µs/event ({($writer1 - $writer0) / t / s:.0%} of the wall time)')"
  sleep 3  # tiles written behind the last batch, a history image started: let the node settle
done

if ((PERF)); then
  echo "writer thread, round 1: functions by inclusive share of all the node's samples (top 40):"
  perf report -i "$WORK/perf.data" --children --comm strata-write-0 --sort symbol --stdio -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | { command -v swift >/dev/null && swift demangle --simplified || cat; } | awk '{$NF=""; print}' | cut -c1-160 | head -40
fi
