#!/usr/bin/env bash
# One large `_bulk` request against `hakone serve`: time, throughput, the server's peak RSS
# (VmHWM) and the document count afterwards (checked against the lines sent).
#
#   bench/store_bulk.sh BINARY [BINARY2 ...]     (SIZE_MIB=110 GZ=0 ROUNDS=1)
#
# Several binaries (e.g. a build before and after a change) run alternately, each against a
# fresh data dir, with the same generated body: timestamp, level, service, 12 mixed
# English/Japanese words, a number; generated ids. GZ=1 sends it gzip-compressed
# (Content-Encoding: gzip).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY2 ...]" >&2; exit 2; }
SIZE_MIB=${SIZE_MIB:-110}
GZ=${GZ:-0}
ROUNDS=${ROUNDS:-1}
work=$(mktemp -d /tmp/hakone-bulk-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work/body.ndjson" "$SIZE_MIB" <<'EOF'
import sys, random
path, mib = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = ["refused", "connection", "timeout", "candidate", "interview", "offer", "pipeline", "retry", "upstream",
         "応募", "面接", "採用", "候補者", "東京", "エラー", "接続"]
levels = ["info"] * 6 + ["warn"] * 2 + ["error", "debug"]
target = mib << 20
n = 0
size = 0
with open(path, "w", encoding="utf-8") as f:
    while size < target:
        msg = " ".join(rnd.choice(words) for _ in range(12))
        line = ('{"index":{}}\n{"@timestamp":"2026-11-%02dT%02d:%02d:%02d.%03dZ","level":"%s","service":"svc-%d","msg":"%s","n":%d}\n'
                % (1 + n // 100000 % 28, n // 3600 % 24, n // 60 % 60, n % 60, n % 1000, rnd.choice(levels), rnd.randrange(12), msg, n))
        f.write(line)
        size += len(line.encode())
        n += 1
print(n, file=open(path + ".count", "w"))
EOF
docs=$(cat "$work/body.ndjson.count")
body="$work/body.ndjson"
enc=()
if [ "$GZ" = 1 ]; then
  gzip -6 -k "$body"
  body="$body.gz"
  enc=(-H 'Content-Encoding: gzip')
fi
echo "body: $(stat -c %s "$work/body.ndjson") bytes, $docs documents; sent: $(stat -c %s "$body") bytes"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    p=$(port)
    dir="$work/data-$round-$(basename "$(dirname "$bin")")"
    "$bin" serve --listen 127.0.0.1:$p --data-dir "$dir" >"$dir.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
    rss0=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
    t0=$(date +%s.%N)
    code=$(curl -s -o "$work/resp.json" -w '%{http_code}' -XPOST "http://127.0.0.1:$p/logs/_bulk" \
      -H 'Content-Type: application/x-ndjson' "${enc[@]}" --data-binary @"$body")
    t1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
    curl -s -o /dev/null -XPOST "http://127.0.0.1:$p/_refresh"
    count=$(curl -s "http://127.0.0.1:$p/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    errors=$(head -c 100 "$work/resp.json" | grep -o '"errors":[a-z]*' || true)
    items=$(grep -o '"status":20[01]' "$work/resp.json" | wc -l)
    kill $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    python3 - "$bin" "$code" "$t0" "$t1" "$(stat -c %s "$work/body.ndjson")" "$docs" "$count" "$items" "$rss0" "$hwm" "$errors" <<'EOF'
import sys
bin, code, t0, t1, size, docs, count, items, rss0, hwm, errors = sys.argv[1:]
secs = float(t1) - float(t0)
print(f"{bin}: HTTP {code} {errors}, {secs:.1f} s, {int(size)/secs/1e6:.1f} MB/s, {int(docs)/secs/1000:.1f}k docs/s; "
      f"items ok {items}/{docs}, _count {count}; VmHWM {int(rss0)//1024} MiB idle -> {int(hwm)//1024} MiB"
      + ("" if int(count) == int(docs) == int(items) else "  ** COUNT MISMATCH **"))
EOF
    rm -rf "$dir"
  done
done
