#!/usr/bin/env bash
# Builds the libFuzzer targets (swiftc -sanitize=fuzzer,address over EMALogFormats; clang for the C
# rANS decoder) and runs each for SECONDS (default 30) from its seed corpus. A crash leaves crash-* in Fuzz/findings/ and exits non-zero:
# add the input as a regression test. Longer run: Fuzz/run.sh 1800
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
build=../.build-fuzz
mkdir -p "$build" findings
fuzz() {  # target, max input length
  local target=$1
  corpus="$build/corpus-$target"
  mkdir -p "$corpus"
  cp corpus/$target/* "$corpus/" 2>/dev/null || true
  echo "== fuzzing $target for $seconds s"
  "$build/fuzz-$target" "$corpus" -max_total_time="$seconds" -max_len="$2" -artifact_prefix=findings/ \
    -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|Done|ERROR|crash" || true
  if ls findings/crash-* >/dev/null 2>&1; then echo "fuzzing $target found a crash: see Fuzz/findings/"; exit 1; fi
}
for target in Safetensors Metrics; do
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzTarget \
    ../Sources/EMALogFormats/*.swift "${target}Fuzz.swift" -o "$build/fuzz-$target"
  fuzz "$target" 4096
done
clang -O1 -g -fsanitize=fuzzer,address -ffp-contract=off -I../Sources/EMALogStoreC/include \
  -I../Sources/EMALogStoreC ../Sources/EMALogStoreC/rans*.c RansFuzz.c -o "$build/fuzz-Rans"
fuzz Rans 131072
