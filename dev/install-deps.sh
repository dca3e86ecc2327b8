#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Strata needs, if any are missing:
#   librocksdb-dev     the storage engine (linked through its C API)
#   libjemalloc-dev    the node's allocator (the strata executable links jemalloc)
#   pkg-config         lets SwiftPM find RocksDB's flags
#   protobuf-compiler  protoc, to regenerate and check Sources/StrataProto
#   libnghttp2-dev, libprotobuf-c-dev, protobuf-c-compiler, make, gcc   the C client (clients/c)
#   python3-venv       the tests' Python environment (dev/python-env.sh creates .venv with it)
#   etcd-server, etcd-client   etcd 3.4 (/usr/bin/etcd, etcdctl): cluster metadata; StrataEtcdTests start a real one
#   iproute2, nftables  the fault bed (Tests/FaultBed): network namespaces, veths, a bridge, nft fault rules
set -euo pipefail
PACKAGES=(librocksdb-dev libjemalloc-dev pkg-config protobuf-compiler libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler make gcc python3-venv
  etcd-server etcd-client iproute2 nftables)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift not found: install Swift 6 (https://swift.org/install)" >&2; exit 1; }
