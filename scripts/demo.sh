#!/usr/bin/env bash
# The main job: installs what is missing, builds Strata (release), starts a node on a fresh data
# directory and runs the bundled example (definitions + data: apply, ingest, an online lookup and a
# point-in-time join printed to the terminal; then a purchase stream pushed twice, windowed spend
# aggregates online and in a training set, and the groups' freshness), then stops the node with SIGTERM.
#
#   scripts/demo.sh                 # port 7400
#   STRATA_DEMO_PORT=7500 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dev/install-deps.sh

echo "==> building strata (release; the first build takes several minutes)"
swift build -c release --product strata 2>&1 | grep -E "error|warning: unre|Compiling strata|Build" || true
BIN="$(swift build -c release --show-bin-path)/strata"
[[ -x "$BIN" ]] || { echo "build failed" >&2; exit 1; }

WORK="$(mktemp -d)"
PORT="${STRATA_DEMO_PORT:-7400}"
export STRATA_SERVER="127.0.0.1:$PORT"
"$BIN" serve --port "$PORT" --data-dir "$WORK/strata-data" >"$WORK/node.out" 2>"$WORK/node.log" &
NODE=$!
trap 'kill -TERM $NODE 2>/dev/null || true; wait $NODE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/node.out" 2>/dev/null && break
  kill -0 $NODE 2>/dev/null || { cat "$WORK/node.log" >&2; exit 1; }
  sleep 0.1
done
cat "$WORK/node.out"

run() { echo; echo "\$ strata $*"; "$BIN" "$@"; }
examples/make-data.sh "$WORK" >/dev/null

run apply examples/features.yaml
run groups
run describe user_stats
run ingest --group user_stats "$WORK/user_stats.csv"
run ingest --group user_embedding "$WORK/user_embedding.csv"
run get --entity u1,u2,u3,u4 --features 'user_stats:*,user_embedding:taste'
echo; echo "\$ cat labels.csv"; cat "$WORK/labels.csv"
run join --labels "$WORK/labels.csv" --features 'user_stats:purchases_30d,user_stats:favourite_category,user_embedding:taste' --with-status
run status

echo; echo "==> streaming: a purchase stream, spend over 5 minutes, 1 hour and 30 days (examples/streaming.yaml)"
examples/make-events.sh "$WORK" 20000 200 >/dev/null
NOW=$(date -u +%s)
printf 'entity_id,label_timestamp\nu1,%s\nu1,%s\nu2,%s\n' $((NOW - 3600)) $((NOW - 86400)) $((NOW - 600)) >"$WORK/spend_labels.csv"
run apply examples/streaming.yaml
run push --stream purchases "$WORK/purchases.csv"
run push --stream purchases "$WORK/purchases.csv"   # the same file again: every batch a duplicate
run get --entity u1,u2 --features 'user_spend:*'
echo; echo "\$ cat spend_labels.csv"; cat "$WORK/spend_labels.csv"
run join --labels "$WORK/spend_labels.csv" --features 'user_spend:spend_5m,user_spend:spend_1h,user_spend:spend_30d' --with-status
run freshness

echo
echo "==> stopping the node (SIGTERM)"
kill -TERM $NODE
wait $NODE && echo "node stopped cleanly; its data directory was $WORK/strata-data"
trap - EXIT
