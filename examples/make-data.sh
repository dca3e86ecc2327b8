#!/usr/bin/env bash
# Writes the example data into DIR (default: ./example-data), with timestamps relative to today so that
# online reads show fresh values: user_stats.csv, user_embedding.csv and labels.csv.
set -euo pipefail
DIR="${1:-./example-data}"
mkdir -p "$DIR"
TODAY=$(date -u +%s)
TODAY=$((TODAY - TODAY % 86400))
day() { date -u -d "@$((TODAY - $1 * 86400 + ${2:-0} * 3600))" +%Y-%m-%dT%H:%M:%SZ; }   # day N-ago at hour H

cat > "$DIR/user_stats.csv" <<CSV
entity_id,event_timestamp,created_timestamp,purchases_30d,avg_order_value,favourite_category
u1,$(day 3),$(day 3 1),3,42.5,books
u2,$(day 3),$(day 3 1),0,,
u3,$(day 40),$(day 40 1),12,18.25,garden
u1,$(day 2),$(day 2 1),4,40.0,books
u2,$(day 2),$(day 2 1),1,99.9,electronics
u1,$(day 1),$(day 1 1),5,38.75,books
u1,$(day 1),$(day 1 6),6,39.5,books
u1,$(day 2 12),$(day 1 7),9,41.0,music
CSV

cat > "$DIR/user_embedding.csv" <<CSV
entity_id,event_timestamp,taste
u1,$(day 3 12),"[0.1, 0.2, 0.3, 0.4]"
u2,$(day 3 12),"[0.9, 0.1, 0.0, 0.5]"
u1,$(day 1 12),"[0.15, 0.25, 0.3, 0.35]"
CSV

cat > "$DIR/labels.csv" <<CSV
entity_id,label_timestamp,churned
u1,$(day 4),0
u1,$(day 3),0
u1,$(day 2 18),1
u1,$(day 1),0
u2,$(day 3 12),1
u3,$(day 0),0
u4,$(day 2),1
CSV
echo "$DIR"
