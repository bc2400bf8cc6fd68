#!/usr/bin/env bash
# Side-by-side benchmark: hakone agent vs rsyslog (imfile -> omfile), in the same run.
#
#   bench/agent.sh [path/to/hakone]        (SIZE_MB=256 ROUNDS=2 override)
#   CASES="file_to_archive tcp_to_blackhole" bench/agent.sh ...   runs only the cases named
#
# Cases (each run A B A B, best of ROUNDS):
#   file_to_archive   file source -> archive (zstd, formatted + raw copies)  vs rsyslog imfile -> omfile
#   file_to_store     file source -> store sink, in-process: `hakone serve` running [store] and
#                     [agent] in one process, the sink calling EventStore::Write() (durable WAL);
#                     the whole process's CPU and RSS are counted     vs rsyslog imfile -> omfile
#   file_to_store_http (only with STORE_URL=http://...): the same over _bulk to a separate
#                     `hakone serve` (its CPU is not counted)
#   tcp_to_blackhole  TCP syslog (newline framing, parsed) -> blackhole       vs rsyslog imtcp -> omfile
#   regex_parse       file -> regex transform (7 named captures) -> blackhole (peer: published
#                     Vector 13.2 / Fluent Bit 20.5 MiB/s; rsyslog has no comparable regex parser installed)
# rsyslog as in ../shared/docs/BENCH.md: omfile asyncWriting="on" ioBufferSize="256k", template
# "%msg%\n". hakone keeps its spool durable (fsync on, group commit every 200 ms).
# Each run ends when every line is delivered (hakone: the sink's events_out counter; rsyslog:
# the output file reaches the input's size), which also checks the output. Prints MiB/s, CPU
# seconds per GiB (utime+stime of the process) and peak RSS (VmHWM).
set -euo pipefail
HAKONE=${1:-build/hakone}
HAKONE=$(readlink -f "$HAKONE")
SIZE_MB=${SIZE_MB:-256}
ROUNDS=${ROUNDS:-2}
CASES=${CASES:-file_to_archive file_to_store file_to_store_http tcp_to_blackhole regex_parse}
want() { [[ " $CASES " == *" $1 "* ]]; }
command -v rsyslogd >/dev/null || { echo "rsyslogd missing: run scripts/install-deps.sh"; exit 1; }

work=$(mktemp -d /tmp/hakone-agent-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- input: realistic access-log-like lines ------------------------------------------------------
python3 - "$work/input.log" "$SIZE_MB" <<'PY'
import sys, random
path, mb = sys.argv[1], int(sys.argv[2])
random.seed(7)
paths = ["/jobs/%d", "/candidates/%d", "/companies/%d/jobs", "/api/v1/search?q=engineer&page=%d", "/login"]
levels = ["INFO"] * 8 + ["WARN", "ERROR"]
target = mb << 20
n = 0
def pick():
    p = random.choice(paths)
    return p % random.randint(1, 99999) if "%d" in p else p
with open(path, "w") as f:
    buf = []
    size = 0
    while size < target:
        line = "2026-11-26T12:%02d:%02d.%03dZ %s [req-%08x] %s %s %d %d user=u%d latency_ms=%.1f msg=\"request handled\"\n" % (
            n // 60000 % 60, n // 1000 % 60, n % 1000, random.choice(levels), random.getrandbits(32),
            random.choice(["GET", "POST", "PUT"]), pick(),
            random.choice([200, 200, 200, 201, 304, 404, 500]), random.randint(100, 99999), random.randint(1, 5000), random.random() * 200)
        buf.append(line); size += len(line); n += 1
        if len(buf) >= 10000:
            f.write("".join(buf)); buf = []
    f.write("".join(buf))
print(n, file=open(path + ".count", "w"))
PY
LINES=$(cat "$work/input.log.count")
BYTES=$(stat -c %s "$work/input.log")
MIB=$(python3 -c "print(round($BYTES/1048576, 1))")
echo "input: $LINES lines, $MIB MiB"

# --- helpers -------------------------------------------------------------------------------------
# stats PID START_NS -> "secs cpu_s rss_kib"
proc_cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
proc_rss() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
now_ns() { date +%s%N; }
metric() {  # metric PORT NAME_WITH_LABELS
  { curl -s "http://127.0.0.1:$1/metrics" || true; } | awk -v k="$2" '$1==k{print $2}' | head -1
}
results=()
record() {  # record CASE SIDE SECS CPU RSS
  local mibs cpug
  mibs=$(python3 -c "print(round($BYTES/1048576/$3, 1))")
  cpug=$(python3 -c "print(round($4/($BYTES/1073741824), 1))")
  printf "  %-18s %-8s %6.2f s  %7s MiB/s  %6s CPU-s/GiB  %6d MiB peak RSS\n" "$1" "$2" "$3" "$mibs" "$cpug" "$(( $5 / 1024 ))"
  results+=("$1 $2 $mibs $cpug $(( $5 / 1024 ))")
}

# hakone run: CASE CONFIG_BODY SINK_NAME [LOADCMD]   (MODE=serve: `hakone serve` with a [store])
run_hakone() {
  local case=$1 body=$2 sink=$3 load=${4:-} mode=${MODE:-agent}
  local d="$work/hk-$case-$RANDOM" port
  port=$(free_port)
  mkdir -p "$d"
  cat > "$d/agent.toml" <<CONF
data_dir = "$d/data"
instance = "bench"
[log]
level = "warn"
[agent]
listen = "127.0.0.1:$port"
[agent.envs.prod]
quota = "4GiB"
$body
CONF
  if [ "$mode" = serve ]; then printf '[store]\nlisten = "127.0.0.1:%s"\n' "$(free_port)" >> "$d/agent.toml"; fi
  local t0; t0=$(now_ns)
  "$HAKONE" "$mode" --config "$d/agent.toml" >"$d/out.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  if [ -n "$load" ]; then
    for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    eval "$load"
  fi
  local n=0
  while :; do
    n=$(metric "$port" "hakone_agent_events_out_total{component=\"$sink\",env=\"prod\"}")
    [ "${n:-0}" = "$LINES" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then echo "hakone died:"; tail -5 "$d/out.log"; return 1; fi
    sleep 0.02
  done
  local t1; t1=$(now_ns)
  local cpu rss; cpu=$(proc_cpu "$pid"); rss=$(proc_rss "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  record "$case" hakone "$(python3 -c "print(($t1-$t0)/1e9)")" "$cpu" "$rss"
  rm -rf "$d"
}

# rsyslog run: CASE INPUT_CONF [LOADCMD]
run_rsyslog() {
  local case=$1 input=$2 load=${3:-}
  local d="$work/rs-$case-$RANDOM"
  mkdir -p "$d/work"
  cat > "$d/rsyslog.conf" <<CONF
global(workDirectory="$d/work" maxMessageSize="64k")
module(load="builtin:omfile")
template(name="msgonly" type="string" string="%msg%\n")
$input
action(type="omfile" file="$d/out.log" template="msgonly" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off")
CONF
  local t0; t0=$(now_ns)
  rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslogd.pid" >"$d/rsyslogd.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  if [ -n "$load" ]; then sleep 0.3; eval "$load"; fi
  local want=$BYTES
  [ "$case" = tcp_to_blackhole ] && want=$TCP_MSG_BYTES
  while :; do
    local s; s=$(stat -c %s "$d/out.log" 2>/dev/null || echo 0)
    [ "$s" -ge "$want" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then echo "rsyslogd died:"; cat "$d/rsyslogd.log" | tail -5; return 1; fi
    sleep 0.02
  done
  local t1; t1=$(now_ns)
  local cpu rss; cpu=$(proc_cpu "$pid"); rss=$(proc_rss "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  record "$case" rsyslog "$(python3 -c "print(($t1-$t0)/1e9)")" "$cpu" "$rss"
  rm -rf "$d"
}

FILE_SRC="[agent.sources.app]
type = \"file\"
paths = [\"$work/input.log\"]
env = \"prod\"
poll_interval = \"20ms\""
RS_IMFILE="module(load=\"imfile\" mode=\"inotify\")
input(type=\"imfile\" File=\"$work/input.log\" Tag=\"bench\" freshStartTail=\"off\")"

# TCP input: syslog lines, newline framing. rsyslog writes %msg% (the parsed message part).
awk '{printf "<134>Nov 26 12:00:00 web1 app[42]: %s\n", $0}' "$work/input.log" > "$work/input.syslog"
TCP_MSG_BYTES=$BYTES   # rsyslog's %msg% of each line is the original line (+ the leading space it keeps is trimmed by omfile? see below)

echo "== rounds: $ROUNDS (best of) =="
for r in $(seq "$ROUNDS"); do
  echo "-- round $r"
  if want file_to_archive; then
  run_hakone file_to_archive "$FILE_SRC
[agent.sinks.arch]
type = \"archive\"
inputs = [\"app\"]
dir = \"$work/archive\"
compression = \"zstd\"
max_size = \"256MiB\"
max_age = \"10s\"
batch_size = 10000" arch
  rm -rf "$work/archive"
  run_rsyslog file_to_archive "$RS_IMFILE"
  fi

  if want file_to_store; then
  MODE=serve run_hakone file_to_store "$FILE_SRC
[agent.sinks.st]
type = \"store\"
inputs = [\"app\"]
batch_size = 5000" st
  run_rsyslog file_to_store "$RS_IMFILE"
  fi

  if [ -n "${STORE_URL:-}" ] && want file_to_store_http; then
    run_hakone file_to_store_http "$FILE_SRC
[agent.sinks.st]
type = \"store\"
inputs = [\"app\"]
url = \"$STORE_URL\"
batch_size = 5000" st
  fi

  if want tcp_to_blackhole; then
  TCPP=$(free_port)
  run_hakone tcp_to_blackhole "[agent.sources.tcp]
type = \"syslog\"
mode = \"tcp\"
address = \"127.0.0.1:$TCPP\"
env = \"prod\"
[agent.sinks.null]
type = \"blackhole\"
inputs = [\"tcp\"]
batch_size = 10000" null "for _ in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$TCPP) 2>/dev/null && break; sleep 0.05; done; cat $work/input.syslog > /dev/tcp/127.0.0.1/$TCPP"
  TCPR=$(free_port)
  run_rsyslog tcp_to_blackhole "module(load=\"imtcp\")
input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$TCPR\")" "for _ in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$TCPR) 2>/dev/null && break; sleep 0.05; done; cat $work/input.syslog > /dev/tcp/127.0.0.1/$TCPR"
  fi

  if want regex_parse; then
  run_hakone regex_parse "$FILE_SRC
[agent.transforms.re]
type = \"regex\"
inputs = [\"app\"]
pattern = '^(?<ts>\\S+) (?<level>\\S+) \\[(?<req>[^\\]]+)\\] (?<method>\\S+) (?<path>\\S+) (?<status>\\d+) (?<bytes>\\d+)'
[agent.sinks.null]
type = \"blackhole\"
inputs = [\"re\"]
format = true
batch_size = 10000" null
  fi
done

echo "== best of $ROUNDS =="
python3 - "${results[@]}" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
best = {}
for case, side, mibs, cpug, rss in rows:
    k = (case, side)
    if k not in best or float(mibs) > float(best[k][0]):
        best[k] = (mibs, cpug, rss)
pub = {"tcp_to_blackhole": "Vector 86 / Fluent Bit 64.4", "regex_parse": "Vector 13.2 / Fluent Bit 20.5",
       "file_to_archive": "Vector File->TCP 76.7 / Fluent Bit 35", "file_to_store": "Vector File->TCP 76.7 / Fluent Bit 35",
       "file_to_store_http": "Vector File->TCP 76.7 / Fluent Bit 35"}
print("| case | hakone MiB/s | rsyslog MiB/s | ratio | hakone CPU-s/GiB | rsyslog CPU-s/GiB | hakone peak RSS MiB | rsyslog peak RSS MiB | published (MiB/s) |")
print("|---|---|---|---|---|---|---|---|---|")
for case in ["file_to_archive", "file_to_store", "file_to_store_http", "tcp_to_blackhole", "regex_parse"]:
    h = best.get((case, "hakone")); r = best.get((case, "rsyslog"))
    if case == "file_to_store_http": r = best.get(("file_to_store", "rsyslog"))
    if not h: continue
    ratio = "%.2fx" % (float(h[0]) / float(r[0])) if r else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (case, h[0], r[0] if r else "-", ratio, h[1], r[1] if r else "-", h[2], r[2] if r else "-", pub[case]))
PY
