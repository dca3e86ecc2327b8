#!/usr/bin/env bash
# The data of benchmarks/bench.sh and benchmarks/bench-cluster.sh, written into DIR: defs.yaml (group `bench`:
# clicks INT, score FLOAT, segment STRING), rows.csv (ROWS rows over ENTITIES entities u0..u<E-1>, one
# minute apart per round, in the last day) and labels.csv (LABELS labels, random entities and times in
# the last day). Seeded: the same arguments give the same files (times are relative to now).
#   benchmarks/bench-data.sh DIR ROWS LABELS ENTITIES
set -euo pipefail
DIR="$1"
ROWS="$2"
LABELS="$3"
ENTITIES="$4"
cat >"$DIR/defs.yaml" <<YAML
groups:
  - name: bench
    features:
      - name: clicks
        dtype: INT
      - name: score
        dtype: FLOAT
      - name: segment
        dtype: STRING
YAML
NOW=$(date -u +%s)
awk -v n="$ROWS" -v e="$ENTITIES" -v now="$NOW" 'BEGIN {
  srand(7); print "entity_id,event_timestamp,clicks,score,segment";
  for (i = 0; i < n; i++) printf "u%d,%d,%d,%.4f,s%d\n", i % e, now - 86400 + int(i / e) * 60, i, rand() * 100, i % 7 }' >"$DIR/rows.csv"
awk -v n="$LABELS" -v e="$ENTITIES" -v now="$NOW" 'BEGIN {
  srand(11); print "entity_id,label_timestamp";
  for (i = 0; i < n; i++) printf "u%d,%d\n", int(rand() * e), now - 86400 + int(rand() * 86400) }' >"$DIR/labels.csv"
