#!/bin/sh
# `hakone demo --exit-after-traffic` twice on the same data directory: every component shows the
# traffic (the demo checks logs indexed per env, the operation log in the gateway and the store,
# an alert fired, a crawl run with postings, the graph built, and exits 1 naming what is missing),
# and the second run keeps the first run's data (alert history, crawl runs, the operation log).
set -eu
bin=$1
dir=$(mktemp -d /tmp/hakone-demo-smoke.XXXXXX)
trap 'rm -rf "$dir"' EXIT
run() {
  if ! timeout 150 "$bin" demo --data-dir "$dir/data" --port-base auto --exit-after-traffic --rate 20 >"$dir/out.$1" 2>&1; then
    echo "run $1 failed:"; cat "$dir/out.$1"; exit 1
  fi
  grep -v '^      ' "$dir/out.$1"
  n=$(grep -c '✓' "$dir/out.$1" || true)
  [ "$n" -eq 5 ] || { echo "run $1: $n of 5 checks passed"; exit 1; }
}
run 1
runs1=$(wc -l <"$dir/data/crawl/runs.jsonl")
seq1=$(grep -c . "$dir/data/alerts.jsonl")
run 2
runs2=$(wc -l <"$dir/data/crawl/runs.jsonl")
seq2=$(grep -c . "$dir/data/alerts.jsonl")
[ "$runs2" -gt "$runs1" ] || { echo "crawl runs not kept: $runs1 then $runs2"; exit 1; }
[ "$seq2" -ge "$seq1" ] || { echo "alert history lost: $seq1 then $seq2"; exit 1; }
"$bin" audit verify --data-dir "$dir/data/gateway" || { echo "the operation log does not verify after two runs"; exit 1; }
echo "ok: two runs, $runs2 crawl runs and $seq2 alerts kept"
