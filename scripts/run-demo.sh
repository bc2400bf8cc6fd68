#!/usr/bin/env bash
# `make run`: the demo — the sample app behind the gateway, sample traffic, and how to search
# the operation log. Ctrl-C stops it; the data stays in ./hakone-demo-data.
set -euo pipefail
bin=${1:-build/hakone}
exec "$bin" demo --data-dir ./hakone-demo-data
