#!/usr/bin/env bash
# Writes DIR/purchases.csv (default DIR: ./example-data): EVENTS purchase events (default 10000) of
# ENTITIES users u1..uN (default 100) for the `purchases` stream of examples/streaming.yaml, with event
# times in the 30 days up to now, denser towards now (about 5 % of them in the last 5 minutes, 11 % in
# the last hour), so that every window of the example has events. A few users buy much more often than
# the others, and about 5 % of the events have no category (an empty cell: a null). Seeded, so the same
# arguments in the same second give the same file; rows are in time order.
#
#   examples/make-events.sh /tmp/ev 10000 100
#   strata push --stream purchases /tmp/ev/purchases.csv
set -euo pipefail
DIR="${1:-./example-data}"
EVENTS="${2:-10000}"
ENTITIES="${3:-100}"
for n in "$EVENTS" "$ENTITIES"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [DIR] [EVENTS >= 1] [ENTITIES >= 1]" >&2; exit 2; }
done
mkdir -p "$DIR"
NOW=$(date -u +%s)
echo "entity_id,event_timestamp,amount,category" > "$DIR/purchases.csv"
awk -v n="$EVENTS" -v users="$ENTITIES" -v now="$NOW" 'BEGIN {
  srand(15)
  split("books,electronics,garden,groceries,music,toys", categories, ",")
  span = 30 * 86400
  for (i = 0; i < n; i++) {
    r = rand()
    t = now - int(span * r * r * r)                 # P(age < a) = (a / 30 days)^(1/3)
    user = 1 + int(rand() * rand() * users)         # skewed towards the low ids
    amount = sprintf("%.2f", 2 + rand() * rand() * 200)
    category = rand() < 0.05 ? "" : categories[1 + int(rand() * 6)]
    printf "u%d,%s,%s,%s\n", user, strftime("%Y-%m-%dT%H:%M:%SZ", t, 1), amount, category
  }
}' | LC_ALL=C sort -t, -k2,2 -s >> "$DIR/purchases.csv"
echo "$DIR/purchases.csv"
