#!/usr/bin/env bash
# Side-by-side benchmark: hakone gateway vs nginx as an audit-logging reverse proxy.
#
#   bench/gateway.sh [path/to/hakone]        (DURATION=5s ROUNDS=2 CONNS=32 override)
#
# One upstream (nginx, `return 200`, keepalive) serves both proxies. nginx is set up as
# ../shared/docs/BENCH.md describes: worker_processes 1, proxy_pass to a keepalive upstream,
# a JSON access_log with $request_body (escape=json, buffer=64k flush=1s),
# client_body_buffer_size 64k. hakone gateway runs with one worker thread, body capture on,
# durability batch (and strict in a second pass). wrk drives each in turn (A B A B) with the
# same settings: GET, 1 KB JSON POST, 64 KB JSON POST. Prints req/s, p50, p99 and the ratio,
# verifies that every request got a 200 and that hakone recorded an event per request.
set -euo pipefail
HAKONE=${1:-build/hakone}
HAKONE=$(readlink -f "$HAKONE")
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-deps.sh"; exit 1; }
command -v nginx >/dev/null || { echo "nginx missing: run scripts/install-deps.sh"; exit 1; }

work=$(mktemp -d /tmp/hakone-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/up/nginx.pid" ] && kill "$(cat "$work/up/nginx.pid")" 2>/dev/null || true
  [ -f "$work/px/nginx.pid" ] && kill "$(cat "$work/px/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); NGX=$(free_port); HK=$(free_port); HKA=$(free_port)

mkdir -p "$work/up" "$work/px"
cat > "$work/up/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/up/nginx.pid;
error_log $work/up/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_buffer_size 128k;
  client_max_body_size 10m;
  server {
    listen 127.0.0.1:$UP;
    location / { return 200 '{"ok":true}\n'; }
  }
}
CONF
cat > "$work/px/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/px/nginx.pid;
error_log $work/px/error.log warn;
events { worker_connections 4096; }
http {
  log_format audit escape=json '{"time":"\$time_iso8601","remote_addr":"\$remote_addr","request_id":"\$request_id",'
    '"method":"\$request_method","uri":"\$request_uri","status":\$status,"bytes_in":\$request_length,'
    '"bytes_out":\$bytes_sent,"user_agent":"\$http_user_agent","request_body":"\$request_body",'
    '"upstream":"\$upstream_addr","upstream_ms":"\$upstream_response_time","total_ms":"\$request_time"}';
  access_log $work/px/access.log audit buffer=64k flush=1s;
  client_body_buffer_size 64k;
  client_max_body_size 100m;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id \$request_id;
    }
  }
}
CONF
nginx -c "$work/up/nginx.conf"
nginx -c "$work/px/nginx.conf"

start_hakone() {  # $1 = batch|strict
  rm -rf "$work/hk"
  "$HAKONE" gateway --listen 127.0.0.1:$HK --admin 127.0.0.1:$HKA --upstream http://127.0.0.1:$UP \
    --data-dir "$work/hk" --workers 1 --durability "$1" >"$work/hakone-$1.log" 2>&1 &
  HK_PID=$!
  pids+=("$HK_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HKA/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "hakone gateway did not start:"; cat "$work/hakone-$1.log"; exit 1
}
stop_hakone() { kill "$HK_PID" 2>/dev/null || true; wait "$HK_PID" 2>/dev/null || true; }

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
for name, n in (("post1k", 1024), ("post64k", 65536)):
    body = json.dumps({"candidate": {"name": "山田 花子", "note": "x" * (n - 60)}})
    with open(f"{w}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write("wrk.headers[\"X-User-Id\"] = \"bench\"\n")
        f.write("wrk.body = " + json.dumps(body) + "\n")
        f.write('done = function(summary, latency, requests)\n  io.write(string.format("NON2XX %d\\n", summary.errors.status))\nend\n')
with open(f"{w}/get.lua", "w") as f:
    f.write('wrk.headers["X-User-Id"] = "bench"\n')
    f.write('done = function(summary, latency, requests)\n  io.write(string.format("NON2XX %d\\n", summary.errors.status))\nend\n')
PY

# CPU seconds (user+system, in clock ticks) used so far by the given processes: on a shared,
# noisy machine CPU per request is steadier than requests/s.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
proxy_pids() {  # $1 = port: the proxy's own processes (nginx: master + workers)
  if [ "$1" = "$NGX" ]; then local m; m=$(cat "$work/px/nginx.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; else echo "$HK_PID"; fi
}
TICKS=$(getconf CLK_TCK)

# run_wrk PORT SCRIPT → "rps p50_ms p99_ms requests non2xx cpu_us_per_request"
run_wrk() {
  local out t0 t1 pids
  pids=$(proxy_pids "$1")
  t0=$(cpu_ticks $pids)
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$work/$2.lua" "http://127.0.0.1:$1/candidates/42" 2>&1)
  t1=$(cpu_ticks $pids)
  python3 - "$out" "$((t1 - t0))" "$TICKS" <<'PY'
import re, sys
o = sys.argv[1]
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
def ms(tag):
    m = re.search(r"^\s*" + tag + r"%\s+([\d.]+)(us|ms|s)", o, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1))
reqs = int(re.search(r"(\d+) requests in", o).group(1))
non = re.search(r"NON2XX (\d+)", o)
sock = re.search(r"Socket errors: (.*)", o)
cpu_us = ticks / hz * 1e6 / max(reqs, 1)
print(f"{rps:.0f} {ms('50'):.3f} {ms('99'):.3f} {reqs} {int(non.group(1)) if non else -1} {cpu_us:.1f}" + (" SOCKERR" if sock else ""))
PY
}

printf "warming up...\n"
start_hakone batch
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$HK/" >/dev/null 2>&1
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NGX/" >/dev/null 2>&1
stop_hakone

declare -A best
results=()
for mode in batch strict; do
  start_hakone "$mode"
  total_hk=0
  for r in $(seq "$ROUNDS"); do
    for load in get post1k post64k; do
      n=$(run_wrk "$NGX" "$load"); h=$(run_wrk "$HK" "$load")
      echo "round $r $mode $load  nginx: $n   hakone: $h"
      set -- $h; total_hk=$((total_hk + $4)); [ "$5" = "0" ] || echo "  WARNING: hakone non-2xx responses: $5"
      key="$mode/$load"
      for side in nginx hakone; do
        v=$([ $side = nginx ] && echo "$n" || echo "$h")
        cur=${best[$key/$side]:-}
        if [ -z "$cur" ] || [ "${v%% *}" -gt "${cur%% *}" ]; then best[$key/$side]="$v"; fi
      done
    done
  done
  sleep 1.5
  recorded=$(curl -fs "http://127.0.0.1:$HKA/metrics" | awk '/^hakone_gateway_events_total/ {print $2}')
  echo "  $mode: wrk completed $total_hk requests; hakone recorded ${recorded:-?} events (includes warm-up-free count, must be >= completed)"
  stop_hakone
  if ! "$HAKONE" audit verify --data-dir "$work/hk" >/dev/null 2>&1; then echo "  WARNING: audit verify failed after the $mode run"; fi
done

echo
printf "%-16s %12s %9s %9s %8s   %12s %9s %9s %8s   %7s %9s %9s\n" "load" "nginx req/s" "p50 ms" "p99 ms" "cpu µs" "hakone req/s" "p50 ms" "p99 ms" "cpu µs" "ratio" "p99 ratio" "cpu ratio"
for mode in batch strict; do
  for load in get post1k post64k; do
    set -- ${best[$mode/$load/nginx]}; nr=$1; np50=$2; np99=$3; nc=$6
    set -- ${best[$mode/$load/hakone]}; hr=$1; hp50=$2; hp99=$3; hc=$6
    ratio=$(python3 -c "print(f'{$hr/$nr:.2f}x')")
    p99r=$(python3 -c "print(f'{$hp99/$np99:.2f}x' if $np99 > 0 else 'n/a')")
    cpur=$(python3 -c "print(f'{$nc/$hc:.2f}x' if $hc > 0 else 'n/a')")
    printf "%-16s %12s %9s %9s %8s   %12s %9s %9s %8s   %7s %9s %9s\n" "$mode/$load" "$nr" "$np50" "$np99" "$nc" "$hr" "$hp50" "$hp99" "$hc" "$ratio" "$p99r" "$cpur"
  done
done
echo "(cpu µs = the proxy's own CPU time per request, user+system; cpu ratio = nginx/hakone, > 1 means hakone uses less)"
echo "(best of $ROUNDS alternating rounds, wrk -t1 -c$CONNS -d$DURATION; targets: batch ≥ 1.2x with p99 no worse, strict ≥ 0.8x)"
