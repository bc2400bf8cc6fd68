#!/usr/bin/env bash
# `make run`: the demo — every component in one process (store, sessions, the sample app behind
# the gateway, the agent, the graph, a crawl, the console) with traffic; it prints the URLs.
# Ctrl-C stops it; the data stays in ./hakone-demo-data. Extra arguments go to `hakone demo`.
set -euo pipefail
bin=${1:-build/hakone}
[ $# -gt 0 ] && shift
exec "$bin" demo --data-dir ./hakone-demo-data "$@"
