#!/usr/bin/env bash
# Starts one more node of the local etcd cluster of cluster/start.sh, for membership changes
# (docs/scale-out.md):
#   cluster/start-node.sh nK [--join] [RUN_DIR]   node nK on 127.0.0.1:BASE+K (internode BASE+100+K),
#                                                 data in RUN_DIR/data/nK (RUN_DIR default ./cluster-run)
# --join adds the node to the running cluster (its ranges stream to it while the cluster serves);
# without it the node must already be part of a change (`strata cluster replace-node ... --with nK
# --address 127.0.0.1:BASE+K`). Same environment as start.sh (STRATA_BIN, STRATA_BASE_PORT, ETCD_PORT,
# STRATA_SERVE_ARGS). Waits until the node listens; exits non-zero if it does not.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE="${1:?usage: cluster/start-node.sh nK [--join] [RUN_DIR]}"
shift
JOIN=()
if [ "${1:-}" == "--join" ]; then JOIN=(--join); shift; fi
RUN="${1:-cluster-run}"
[[ "$NODE" =~ ^n([0-9]+)$ ]] || { echo "node ids here are nK (n4, n5, ...), got '$NODE'" >&2; exit 1; }
K="${BASH_REMATCH[1]}"
BIN="${STRATA_BIN:-}"
if [ -z "$BIN" ]; then
  swift build --product strata >/dev/null
  BIN="$(swift build --show-bin-path)/strata"
fi
BASE_PORT="${STRATA_BASE_PORT:-7400}"
ETCD_PORT="${ETCD_PORT:-2479}"
if [ -f "$RUN/$NODE.pid" ] && kill -0 "$(cat "$RUN/$NODE.pid")" 2>/dev/null; then
  echo "$NODE already running (pid $(cat "$RUN/$NODE.pid"))"
  exit 0
fi
mkdir -p "$RUN/data"
# shellcheck disable=SC2086 # STRATA_SERVE_ARGS is a list of options
"$BIN" serve --etcd "127.0.0.1:$ETCD_PORT" --node "$NODE" --address "127.0.0.1:$((BASE_PORT + K))" \
  --internode-port "$((BASE_PORT + 100 + K))" "${JOIN[@]}" --data-dir "$RUN/data/$NODE" ${STRATA_SERVE_ARGS:-} \
  >"$RUN/$NODE.log" 2>&1 &
echo $! >"$RUN/$NODE.pid"
for _ in $(seq 1 300); do grep -q "listening on" "$RUN/$NODE.log" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "listening on" "$RUN/$NODE.log"; then
  echo "node $NODE did not start; see $RUN/$NODE.log" >&2
  exit 1
fi
echo "$NODE: $(grep -m1 "listening on" "$RUN/$NODE.log")"
