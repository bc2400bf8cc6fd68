#!/usr/bin/env bash
# Builds every libFuzzer target under fuzz/ with clang and runs each for a short time.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-20}
# Release: clang 14 cannot emit debug info for some coroutine frames ("difference across sections").
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAKONE_FUZZ=ON -DHAKONE_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
targets=$(ls fuzz/*_fuzz.cc 2>/dev/null | xargs -n1 basename | sed 's/\.cc$//')
if [ -z "$targets" ]; then echo "fuzz: no targets"; exit 0; fi
ninja -C "$build" $targets
fails=0
for t in $targets; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  seeds="fuzz/corpus/${t%_fuzz}"
  echo "fuzz: $t for ${secs}s"
  if ! "$build/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
       >"$build/$t.log" 2>&1; then
    echo "fuzz: $t FAILED"; tail -40 "$build/$t.log"; fails=$((fails+1))
  else
    grep -E "stat::number_of_executed_units|Done" "$build/$t.log" | tail -2
  fi
done
[ $fails -eq 0 ]
