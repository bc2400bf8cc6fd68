#!/usr/bin/env bash
# Side-by-side benchmark: hakone sessions vs redis-server, with redis-benchmark.
#
#   bench/sessions.sh [path/to/hakone]        (N=200000 ROUNDS=2 override)
#
# redis-server 7 runs with --appendonly yes --appendfsync everysec (it can lose up to a second
# of acknowledged writes); hakone sessions runs with the in-process cache, the SQLite durable
# tier and durability = strict (a SET is answered only after its group commit is fsync'd).
# redis-benchmark -t set,get -n $N -d 512 -c 50 -r 100000, without and with -P 16, alternating
# redis / hakone for ROUNDS rounds (best round kept). Then the read-through path: hakone is
# restarted (empty in-process cache) and GET is measured while every key is read through from
# SQLite once. Last, the Redis cache tier (hakone in front of a second redis-server, SQLite
# behind). Prints ops/s, p50/p99 (ms) and hakone/redis ratios; checks that a value written
# by the benchmark reads back with 512 bytes on both sides.
set -euo pipefail
shopt -s lastpipe  # `run | record` updates best[] in this shell
HAKONE=$(readlink -f "${1:-build/hakone}")
N=${N:-200000}
ROUNDS=${ROUNDS:-2}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing: run scripts/install-deps.sh"; exit 1; }

work=$(mktemp -d /tmp/hakone-bench-sessions.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "port $1 not up"; exit 1; }

RP=$(free_port); HP=$(free_port)
mkdir -p "$work/redis" "$work/hk"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$work/redis" --save "" --appendonly yes --appendfsync everysec \
  >"$work/redis.log" 2>&1 &
pids+=($!)
start_hakone() {
  "$HAKONE" sessions --listen "127.0.0.1:$HP" --data-dir "$work/hk" --durability strict >"$work/hk.log" 2>&1 &
  HPID=$!
  pids+=($HPID)
  wait_port "$HP"
}
start_hakone
wait_port "$RP"

# run PORT TESTS EXTRA... → "test rps p50 p99 cpu_us_per_op" lines. The server's CPU time per
# operation (from /proc/PID/stat, both tests of a run together) moves much less with machine
# load than ops/s does.
pid_of_port() { ss -ltnpH "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() {
  local port=$1 tests=$2; shift 2
  local pid; pid=$(pid_of_port "$port")
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(redis-benchmark -p "$port" -t "$tests" -n "$N" -d 512 -c 50 -r 100000 --csv "$@" 2>/dev/null)
  local t1; t1=$(cpu_ticks "$pid")
  local ntests; ntests=$(echo "$tests" | tr ',' '\n' | wc -l)
  local us; us=$(awk -v a="$t0" -v b="$t1" -v n="$N" -v k="$ntests" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/(n*k)}')
  echo "$out" | tr -d '"' | awk -F, -v us="$us" 'NR>1 {print $1, $2, $5, $7, us}'
}

declare -A best
record() {  # side mode line...
  local side=$1 mode=$2 t rps p50 p99 us
  while read -r t rps p50 p99 us; do
    [ -z "$t" ] && continue
    local k="$side|$mode|$t"
    local cur=${best[$k]:-0 0 0 0}
    if awk -v a="$rps" -v b="${cur%% *}" 'BEGIN{exit !(a>b)}'; then best[$k]="$rps $p50 $p99 $us"; fi
  done
}

echo "sessions bench: N=$N d=512 c=50 r=100000, rounds=$ROUNDS (redis appendfsync everysec vs hakone strict+SQLite)"
for round in $(seq "$ROUNDS"); do
  for mode in plain P16; do
    extra=(); [ "$mode" = P16 ] && extra=(-P 16)
    for t in set get; do
      run "$RP" "$t" "${extra[@]}" | record redis "$mode"
      run "$HP" "$t" "${extra[@]}" | record hakone "$mode"
    done
  done
done

# Check results, not only speed: a benchmark value reads back with its 512 bytes on both sides.
for p in "$RP" "$HP"; do
  key=$( (redis-cli --raw -p "$p" keys 'key:0000000000*' || true) | sed -n 1p)
  len=$(redis-cli -p "$p" strlen "$key")
  [ "$len" = 512 ] || { echo "FAIL: port $p key '$key' has length '$len'"; exit 1; }
done
hk_keys=$(redis-cli -p "$HP" dbsize)
rd_keys=$(redis-cli -p "$RP" dbsize)
echo "keys after the runs: redis $rd_keys, hakone $hk_keys (durable in SQLite)"
# Group commit: writes per fsync and mean commit time over all of hakone's runs so far.
redis-cli -p "$HP" info tiers | tr -d '\r' | awk -F: '/^durable_commits:/{c=$2} /^durable_committed_ops:/{o=$2} /^durable_commit_usec:/{u=$2}
  END{ if (c > 0) printf "hakone group commit: %d commits, %d writes, %.1f writes per commit, %.2f ms per commit\n", c, o, o/c, u/c/1000 }'

# Read-through: restart hakone with an empty in-process cache, then GET.
kill "$HPID"; wait "$HPID" 2>/dev/null || true
start_hakone
run "$HP" get | record hakone readthrough
run "$RP" get | record redis readthrough
rt_reads=$(redis-cli -p "$HP" info tiers | tr -d '\r' | awk -F: '/^durable_reads/{print $2}')

# The Redis cache tier: hakone (SQLite, strict) in front of a second redis-server used as cache.
CP=$(free_port); HRP=$(free_port)
mkdir -p "$work/cache" "$work/hkr"
redis-server --port "$CP" --bind 127.0.0.1 --dir "$work/cache" --save "" --appendonly no >"$work/cache.log" 2>&1 &
pids+=($!)
wait_port "$CP"
"$HAKONE" sessions --listen "127.0.0.1:$HRP" --data-dir "$work/hkr" --cache-redis "redis://127.0.0.1:$CP" >"$work/hkr.log" 2>&1 &
pids+=($!)
wait_port "$HRP"
for t in set get; do
  run "$HRP" "$t" | record hakone redistier
  run "$RP" "$t" | record redis redistier
done
cached=$(redis-cli -p "$CP" dbsize)
echo "redis cache tier holds $cached keys after its run"

printf '\n%-12s %-5s %12s %8s %8s %7s   %12s %8s %8s %7s   %6s %9s\n' mode test redis_ops/s p50 p99 cpu_us hakone_ops/s p50 p99 cpu_us ratio cpu_ratio
for mode in plain P16 readthrough redistier; do
  for t in SET GET; do
    r=${best[redis|$mode|$t]:-}; h=${best[hakone|$mode|$t]:-}
    [ -z "$r" ] || [ -z "$h" ] && continue
    read -r rr rp50 rp99 rus <<<"$r"; read -r hr hp50 hp99 hus <<<"$h"
    ratio=$(awk -v a="$hr" -v b="$rr" 'BEGIN{printf "%.2f", a/b}')
    cratio=$(awk -v a="$rus" -v b="$hus" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')
    printf '%-12s %-5s %12s %8s %8s %7s   %12s %8s %8s %7s   %6s %9s\n' "$mode" "$t" "$rr" "$rp50" "$rp99" "$rus" "$hr" "$hp50" "$hp99" "$hus" "$ratio" "$cratio"
  done
done
echo "read-through: $rt_reads durable reads after the restart (redis column: its warm GET, for reference)"
echo "cpu_us: the server's CPU time per operation (hakone: all its threads, SQLite and fsync included); cpu_ratio = redis/hakone"
