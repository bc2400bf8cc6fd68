#!/usr/bin/env bash
# Side-by-side benchmark: hakone's event store vs SQLite FTS5 (unicode61 and trigram).
#
#   bench/store.sh [BUILD_DIR]            BYTES=1000000000 (default 1 GB raw), QUICK=1 for 50 MB
#
# One generated corpus (mixed English/Japanese log lines with labels, NDJSON) is loaded into
# each engine by the same driver (build/bench/hakone_store_bench), one thread each:
#   - hakone: EventStore::Write in batches of 10,000 (each batch fdatasync'd), then Close();
#   - FTS5:   WAL, synchronous=NORMAL, 10,000 rows per transaction, a base table (ts, labels,
#             message; index on ts) and an external-content FTS5 table over the message.
# Reported: ingest MB/s by wall clock and per CPU-second (user+sys of the process: the fair
# "one core" figure on a shared machine), bytes on disk per raw byte, and the median latency of
# six queries (10 newest hits + a count capped at 10,000; the aggregation returns its buckets).
# The exact count of every query is compared between the engines; a mismatch fails the run.
set -euo pipefail
BUILD=${1:-build}
BIN=$(readlink -f "$BUILD/bench/hakone_store_bench")
[ -x "$BIN" ] || { echo "build the driver first: ninja -C $BUILD hakone_store_bench"; exit 1; }
BYTES=${BYTES:-1000000000}
[ "${QUICK:-0}" = 1 ] && BYTES=50000000
work=$(mktemp -d /tmp/hakone-store-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "store bench: generating $BYTES bytes"
"$BIN" gen "$BYTES" "$work/corpus.ndjson" >"$work/gen.out"
cat "$work/gen.out"

run() {  # name, command...
  local name=$1
  shift
  echo "store bench: $name"
  "$@" >"$work/$name.out" 2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
  rm -rf "$work/$name.data" "$work/$name.db" "$work/$name.db-wal" "$work/$name.db-shm"
}
run hakone "$BIN" hakone "$work/corpus.ndjson" "$work/hakone.data"
run unicode61 "$BIN" fts5 "$work/corpus.ndjson" "$work/unicode61.db" unicode61
run trigram "$BIN" fts5 "$work/corpus.ndjson" "$work/trigram.db" trigram

get() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "-"; else printf "%.2f", a / b }'; }

printf "\n%-22s %12s %12s %12s %10s %10s\n" metric hakone unicode61 trigram "vs uni" "vs tri"
for k in ingest_mb_s ingest_mb_cpu_s; do
  h=$(get hakone $k); u=$(get unicode61 $k); t=$(get trigram $k)
  printf "%-22s %12s %12s %12s %10s %10s\n" "$k" "$h" "$u" "$t" "$(ratio "$h" "$u")x" "$(ratio "$h" "$t")x"
done
for e in hakone unicode61 trigram; do
  eval "bpr_$e=$(awk -v d="$(get $e disk_bytes)" -v r="$(get $e raw_bytes)" 'BEGIN { printf "%.3f", d / r }')"
done
printf "%-22s %12s %12s %12s\n" disk_per_raw_byte "$bpr_hakone" "$bpr_unicode61" "$bpr_trigram"
fail=0
for q in rare_term common_term_time phrase japanese_substring regex agg_last_hour; do
  h=$(get hakone "q_${q}_ms"); u=$(get unicode61 "q_${q}_ms"); t=$(get trigram "q_${q}_ms")
  hc=$(get hakone "q_${q}_count"); uc=$(get unicode61 "q_${q}_count"); tc=$(get trigram "q_${q}_count")
  # speed-up of hakone over each (peer ms / hakone ms)
  printf "%-22s %10sms %10sms %10sms %10s %10s   counts %s/%s/%s\n" "q_$q" "$h" "$u" "$t" "$(ratio "$u" "$h")x" "$(ratio "$t" "$h")x" "$hc" "$uc" "$tc"
  if [ "$u" != nan ] && [ "$hc" != "$uc" ]; then echo "  COUNT MISMATCH hakone vs unicode61"; fail=1; fi
  if [ "$t" != nan ] && [ "$hc" != "$tc" ]; then echo "  COUNT MISMATCH hakone vs trigram"; fail=1; fi
done
echo "(query columns: median ms; ratios are peer_ms / hakone_ms, > 1 means hakone is faster)"
exit $fail
