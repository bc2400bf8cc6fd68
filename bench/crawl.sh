#!/usr/bin/env bash
# Side-by-side benchmark: `hakone crawl` vs Scrapy (Debian python3-scrapy) on a generated local
# careers site of PAGES pages (default 20,000, JSON-LD JobPostings) served by nginx on loopback.
#
#   bench/crawl.sh [path/to/hakone]        (PAGES=20000 ROUNDS=1 override)
#
# Same settings for both: 16 requests in flight, 8 per host, no delay, robots.txt obeyed, no
# auto-throttle, no HTTP cache. Each crawler runs under /usr/bin/time (wall, user+sys CPU, peak
# RSS). Prints pages/s, CPU seconds, peak RSS, the ratios, and checks that both found the same
# set of postings (identifier values).
set -euo pipefail
HAKONE=$(readlink -f "${1:-build/hakone}")
PAGES=${PAGES:-20000}
ROUNDS=${ROUNDS:-1}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
/usr/bin/python3 -c "import scrapy" 2>/dev/null || { echo "python3-scrapy missing: run scripts/install-deps.sh"; exit 1; }
command -v nginx >/dev/null || { echo "nginx missing: run scripts/install-deps.sh"; exit 1; }

work=$(mktemp -d /tmp/hakone-bench-crawl.XXXXXX)
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$root/tests/integration/crawl/make_site.py" "$work" "$PORT" --pages "$PAGES" --bench
sed -i 's|^  access_log .*|  access_log off;|' "$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf" > "$work/nginx.out" 2>&1 &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/robots.txt" >/dev/null && break; sleep 0.1; done

cat > "$work/spider.py" <<PY
import json
import scrapy


class Jobs(scrapy.Spider):
    name = "jobs"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://127.0.0.1:$PORT/"]
    custom_settings = {
        "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": True, "AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False,
        "LOG_LEVEL": "INFO", "TELNETCONSOLE_ENABLED": False, "USER_AGENT": "hakone-bench-scrapy",
    }

    def parse(self, response):
        for s in response.css('script[type="application/ld+json"]::text').getall():
            try:
                d = json.loads(s)
            except ValueError:
                continue
            if isinstance(d, dict) and d.get("@type") == "JobPosting":
                ident = d.get("identifier")
                yield {"id": ident.get("value") if isinstance(ident, dict) else ident}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, self.parse)
PY

cat > "$work/crawl.toml" <<TOML
[crawl]
seeds = ["http://127.0.0.1:$PORT/"]
state_path = "$work/state.db"
concurrency = 16
per_host_concurrency = 8
delay = "0s"
adaptive_throttle = false
obey_robots = true
max_pages = 1000000
max_depth = 100000   # like Scrapy DEPTH_LIMIT = 0 (the listing pages chain 200 deep)
[crawl.output]
table = "sqlite:$work/jobs.db"
TOML

measure() {  # name, command... → "wall cpu rss_kb"
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.time" "$@" > "$work/$name.out" 2> "$work/$name.err" || true
  read -r wall user sys rss < "$work/$name.time"
  echo "$wall $(python3 -c "print(round($user+$sys,2))") $rss"
}

best_h=""; best_s=""
for r in $(seq "$ROUNDS"); do
  rm -f "$work"/state.db* "$work"/jobs.db* "$work/scrapy.jsonl"
  h=$(measure hakone "$HAKONE" crawl --config "$work/crawl.toml" --once)
  s=$(measure scrapy /usr/bin/python3 -m scrapy runspider "$work/spider.py" -o "$work/scrapy.jsonl:jsonlines")
  echo "round $r: hakone(wall cpu rss)=$h  scrapy=$s"
  best_h=$h; best_s=$s
done
read -r hw hc hr <<< "$best_h"
read -r sw sc sr <<< "$best_s"
hp=$(python3 -c "import json;print(json.loads(open('$work/hakone.out').read().splitlines()[-1])['pages'])")
sp=$(python3 -c "
import re
m = re.search(r\"'response_received_count': (\\d+)\", open('$work/scrapy.err').read())
print(m.group(1) if m else 0)")
sqlite3 "$work/jobs.db" "SELECT identifier FROM crawl_jobs" | sort > "$work/h.ids"
python3 -c "import json;[print(json.loads(l)['id']) for l in open('$work/scrapy.jsonl')]" | sort -u > "$work/s.ids"
hn=$(wc -l < "$work/h.ids"); sn=$(wc -l < "$work/s.ids")
same=no; cmp -s "$work/h.ids" "$work/s.ids" && same=yes
python3 - "$hw" "$hc" "$hr" "$hp" "$sw" "$sc" "$sr" "${sp:-0}" "$hn" "$sn" "$same" "$PAGES" <<'PY'
import sys
hw, hc, hr, hp, sw, sc, sr, sp = map(float, sys.argv[1:9])
hn, sn, same, pages = sys.argv[9], sys.argv[10], sys.argv[11], sys.argv[12]
hps, sps = hp / hw, sp / sw
print(f"site: {pages} job pages (+ listing pages), nginx on loopback, concurrency 16 (8/host), robots obeyed")
print(f"hakone: {hp:.0f} pages in {hw:.2f}s = {hps:.0f} pages/s, CPU {hc:.2f}s, peak RSS {hr/1024:.1f} MiB, postings {hn}")
print(f"scrapy: {sp:.0f} responses in {sw:.2f}s = {sps:.0f} pages/s, CPU {sc:.2f}s, peak RSS {sr/1024:.1f} MiB, postings {sn}")
print(f"ratio: pages/s {hps/sps:.1f}x, CPU {sc/hc:.1f}x less, RSS {sr/hr:.1f}x less; same postings: {same}")
PY
[ "$same" = yes ]
