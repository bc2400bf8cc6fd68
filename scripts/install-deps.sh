#!/usr/bin/env bash
# Installs every Debian package hakone needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get runs only when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-14-dev libfuzzer-14-dev
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libtomlplusplus-dev libsodium-dev libssl-dev libpq-dev libsqlite3-dev sqlite3 libzstd-dev zlib1g-dev
  libmaxminddb-dev libhyperscan-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpcre2-dev libcurl4-openssl-dev  # agent: regex parsing, S3 archive (SigV4)
  libgumbo-dev libbrotli-dev  # crawl: HTML parsing, br decoding (libcurl does gzip/br)
  tzdata  # store: IANA time zones for date_histogram (TZif files in /usr/share/zoneinfo)
  # services and tools used by the integration tests and benchmarks
  postgresql postgresql-client redis-server redis-tools nginx wrk curl python3 procps iproute2
  # graph benchmark peer (the C library only: python3-igraph would pull Boost 1.74)
  libigraph-dev
  # the official Elasticsearch 7.x Python client (tests/integration/es_clients_test.cc)
  python3-elasticsearch
  rsyslog  # agent benchmark peer (Node.js and npm come with the machine, not from apt)
  python3-redis python3-pymemcache libmemcached-tools  # sessions: client libraries and tools in the tests
  chromium fonts-noto-cjk  # the console's browser tests (tests/e2e, playwright-core); CJK glyphs in screenshots
  prometheus-pushgateway python3-scrapy  # crawl: metrics push test, benchmark peer
  python3-yaml  # tests/deploy/probes.py: reads the rendered manifests
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts services on install; the tests start their own on free ports.
for svc in nginx redis-server postgresql prometheus-pushgateway; do
  $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: done"
