#!/usr/bin/env bash
# Starts every node of a cluster file on this machine, each with its own data directory.
#   cluster/start.sh [CLUSTER_FILE] [RUN_DIR]      (defaults: cluster/local-3.yaml, ./cluster-run)
# RUN_DIR gets <node>.log, <node>.pid and data/<node>/. STRATA_BIN overrides the binary (default: the
# debug build, built if missing); STRATA_SERVE_ARGS adds `strata serve` options to every node (e.g.
# "--internode-lookups unary"). Waits until every node listens; exits non-zero if one does not.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE="${1:-cluster/local-3.yaml}"
RUN="${2:-cluster-run}"
BIN="${STRATA_BIN:-}"
if [ -z "$BIN" ]; then
  swift build --product strata >/dev/null
  BIN="$(swift build --show-bin-path)/strata"
fi
mkdir -p "$RUN/data"
NODES=$(awk '/- id:/ {print $3}' "$FILE")
for node in $NODES; do
  if [ -f "$RUN/$node.pid" ] && kill -0 "$(cat "$RUN/$node.pid")" 2>/dev/null; then
    echo "$node already running (pid $(cat "$RUN/$node.pid"))"
    continue
  fi
  # shellcheck disable=SC2086 # STRATA_SERVE_ARGS is a list of options
  "$BIN" serve --cluster "$FILE" --node "$node" --data-dir "$RUN/data/$node" ${STRATA_SERVE_ARGS:-} >"$RUN/$node.log" 2>&1 &
  echo $! >"$RUN/$node.pid"
done
for node in $NODES; do
  for _ in $(seq 1 100); do grep -q "listening on" "$RUN/$node.log" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q "listening on" "$RUN/$node.log"; then
    echo "node $node did not start; see $RUN/$node.log" >&2
    exit 1
  fi
  echo "$node: $(grep -m1 "listening on" "$RUN/$node.log")"
done
