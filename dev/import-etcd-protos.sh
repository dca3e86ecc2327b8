#!/usr/bin/env bash
# Copies the etcd v3 API protos that StrataEtcd's client needs into Protos/etcd/, trimmed so that the
# project's own protoc pipeline (dev/generate-protos.sh) can compile them without etcd's Go-only imports.
#
# Source: etcd 3.4.23 as packaged by Debian (golang-etcd-server-dev, /usr/share/gocode/src/go.etcd.io/etcd).
# The copies keep etcd's paths below Protos/etcd/ and its proto packages (etcdserverpb, mvccpb, authpb), so
# rpc.proto's imports resolve unchanged and the gRPC method names on the wire match the server's.
#
# What is removed, and nothing else (every other byte is kept as etcd ships it):
#   - `import "gogoproto/gogo.proto";` and every file-level `option (gogoproto.*) = ...;` line
#     (Go code-generation hints for gogo/protobuf; no effect on the wire format);
#   - in rpc.proto, `import "google/api/annotations.proto";` with its `// for grpc-gateway` comment line, and
#     every `option (google.api.http) = { ... };` block (HTTP/JSON gateway routes; no effect on gRPC).
# A header comment saying this is put before `syntax`.
#
#   dev/import-etcd-protos.sh          rewrite Protos/etcd from the installed package
#   dev/import-etcd-protos.sh --check  fail (exit 1) if Protos/etcd differs from a fresh import
# Needs: apt-get install -y golang-etcd-server-dev
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=/usr/share/gocode/src/go.etcd.io/etcd
VERSION=3.4.23
FILES=(etcdserver/etcdserverpb/rpc.proto mvcc/mvccpb/kv.proto auth/authpb/auth.proto)

[[ -f "$SRC/${FILES[0]}" ]] || { echo "$SRC not found: apt-get install -y golang-etcd-server-dev" >&2; exit 1; }
installed="$(dpkg-query -W -f='${Version}' golang-etcd-server-dev 2>/dev/null || true)"
[[ "$installed" == "$VERSION"* ]] || {
  echo "golang-etcd-server-dev is '$installed', expected $VERSION-*: the committed protos come from etcd $VERSION" >&2
  exit 1
}

OUT="Protos/etcd"
if [[ "${1:-}" == "--check" ]]; then
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
fi

for f in "${FILES[@]}"; do
  mkdir -p "$OUT/$(dirname "$f")"
  EXTRA=""
  if grep -q 'google/api/annotations.proto' "$SRC/$f"; then
    EXTRA="; the google/api/annotations.proto import with its \"for grpc-gateway\"
// comment line, and every google.api.http option block (the rpcs keep their empty { })"
  fi
  {
    cat <<HEADER
// Copied from etcd $VERSION (Debian package golang-etcd-server-dev, $SRC/$f)
// by dev/import-etcd-protos.sh. Licensed under the Apache License, Version 2.0
// (https://www.apache.org/licenses/LICENSE-2.0); copyright the etcd Authors.
//
// Trimmed for Strata's protoc pipeline. Removed: the gogoproto import and every file-level
// gogoproto option$EXTRA.
// Everything else is byte-for-byte etcd's.

HEADER
    awk '
      /^import "gogoproto\/gogo.proto";$/ { next }
      /^option \(gogoproto\.[a-z_]+\) = (true|false);$/ { next }
      /^\/\/ for grpc-gateway$/ { next }
      /^import "google\/api\/annotations.proto";$/ { next }
      /^[ \t]*option \(google\.api\.http\) = \{[ \t]*$/ { skipping = 1; next }
      skipping && /^[ \t]*\};[ \t]*$/ { skipping = 0; next }
      skipping { next }
      { print }
    ' "$SRC/$f"
  } >"$OUT/$f"
  if grep -v '^// ' "$OUT/$f" | grep -n 'gogoproto\|google\.api'; then
    echo "error: $f still mentions gogoproto or google.api after trimming: update this script" >&2
    exit 1
  fi
done

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -ru "$OUT" Protos/etcd; then
    echo "error: Protos/etcd differs from a fresh import: run dev/import-etcd-protos.sh and commit the result" >&2
    exit 1
  fi
  echo "etcd protos are up to date"
fi
