#!/usr/bin/env bash
# Builds the C client and runs its tests against a real node:
#   - installs the Debian packages it needs if they are missing (apt-get),
#   - builds libstrata.a, the example, the test program and strata-bench (make),
#   - checks that gen/ matches Protos/ (generate.sh --check),
#   - starts `$STRATA_BIN serve --port 0` on a temporary data directory,
#   - registers test groups (every dtype, defaults, max age) with `$STRATA_BIN apply` and ingests CSV
#     with `$STRATA_BIN ingest`,
#   - runs build/strata-test against it (STRATA_C_VALGRIND=1: under valgrind --leak-check=full),
#   - stops exactly the node it started (also on failure) and removes the temporary directory.
# STRATA_BIN is the strata binary to test, e.g. "$(swift build --show-bin-path)/strata".
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"

if [[ -z "${STRATA_BIN:-}" ]]; then
  echo "error: set STRATA_BIN to the strata binary, e.g. STRATA_BIN=\"\$(swift build --show-bin-path)/strata\"" >&2
  exit 2
fi
[[ -x "$STRATA_BIN" ]] || { echo "error: STRATA_BIN=$STRATA_BIN is not an executable" >&2; exit 2; }

# Debian packages: headers and libraries for nghttp2 and protobuf-c, protoc-c for the --check.
need=()
dpkg -s libnghttp2-dev >/dev/null 2>&1 || need+=(libnghttp2-dev)
dpkg -s libprotobuf-c-dev >/dev/null 2>&1 || need+=(libprotobuf-c-dev)
command -v protoc-c >/dev/null || need+=(protobuf-c-compiler)
command -v make >/dev/null || need+=(make)
command -v cc >/dev/null || need+=(gcc)
if [[ "${STRATA_C_VALGRIND:-0}" == 1 ]] && ! command -v valgrind >/dev/null; then need+=(valgrind); fi
if (( ${#need[@]} )); then
  echo "installing ${need[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

./generate.sh --check
make -s all

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
  kill -0 "$NODE" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$ADDR" ]]; then
  echo "error: strata serve did not start" >&2
  cat "$WORK/node.log" >&2
  exit 1
fi
echo "node $NODE listening on $ADDR"

# Groups: every dtype, with and without defaults, one with a max age; a group for writes from the C
# client, one with large strings (responses beyond 64 KiB), one whose version 2 is checked by pinning.
cat >"$WORK/defs.yaml" <<'YAML'
groups:
  - name: c_all
    entity_type: USER
    description: "every dtype, C client tests"
    owner: c-client
    max_age: 30d
    features:
      - name: i
        dtype: INT
        default: 7
      - name: f
        dtype: FLOAT
      - name: s
        dtype: STRING
        default: "none"
      - name: e
        dtype: EMBEDDING(3)
  - name: c_write
    entity_type: ITEM
    features:
      - name: i
        dtype: INT
      - name: f
        dtype: FLOAT
      - name: s
        dtype: STRING
      - name: e
        dtype: EMBEDDING(3)
  - name: c_big
    features:
      - name: payload
        dtype: STRING
YAML
"$STRATA_BIN" apply "$WORK/defs.yaml" --server "$ADDR"

# Timestamps relative to NOW (seconds); the test derives the expected event times from the same NOW.
NOW=$(date -u +%s)
D=86400
cat >"$WORK/c_all.csv" <<CSV
entity_id,event_timestamp,created_timestamp,i,f,s,e
e1,$((NOW - D)),$((NOW - D + 60)),42,-3.25,"héllo, wörld","[0.5, -1.25, 2]"
e2,$((NOW - 2 * D)),$((NOW - 2 * D + 60)),,,,
e3,$((NOW - 40 * D)),$((NOW - 40 * D + 60)),3,3.5,old,"[1, 1, 1]"
e4,$((NOW - 3 * D)),$((NOW - 3 * D + 60)),1,1.0,first,"[1, 0, 0]"
e4,$((NOW - 2 * D)),$((NOW - 2 * D + 60)),2,2.0,second,"[2, 0, 0]"
e4,$((NOW - 2 * D)),$((NOW - 2 * D + 120)),3,3.0,third,"[3, 0, 0]"
e4,$((NOW - 2 * D)),$((NOW - 2 * D + 90)),4,4.0,fourth,"[4, 0, 0]"
CSV
"$STRATA_BIN" ingest --group c_all "$WORK/c_all.csv" --server "$ADDR"

RUN=()
if [[ "${STRATA_C_VALGRIND:-0}" == 1 ]]; then
  RUN=(valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99 --track-fds=no)
fi
status=0
STRATA_TEST_NOW="$NOW" "${RUN[@]}" ./build/strata-test "$ADDR" || status=$?
if (( status != 0 )); then
  # The node's own account of a failure (a trap prints its reason and backtrace to stderr).
  if ! kill -0 "$NODE" 2>/dev/null; then
    wait "$NODE" 2>/dev/null && node_rc=0 || node_rc=$?
    echo "the node exited during the tests (status $node_rc); the last lines of its log:" >&2
  else
    echo "the last lines of the node's log:" >&2
  fi
  tail -n 60 "$WORK/node.log" >&2; [[ -n "${STRATA_C_KEEP_LOG:-}" ]] && cp "$WORK/node.log" "$STRATA_C_KEEP_LOG"
  exit "$status"
fi
