#!/usr/bin/env bash
# Runs each fuzz target for a while (default 15 s, or $1 seconds) from the
# seeds in fuzz/corpus. A crash stops the run; libFuzzer saves the input in
# fuzz/artifacts/TARGET/, which should then become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
cd fuzz
for target in reference bodies certificates; do
  corpus=$(mktemp -d)
  cp corpus/"$target"/* "$corpus"/
  echo "fuzzing $target for ${seconds}s"
  cargo fuzz run --sanitizer none -O "$target" "$corpus" -- -max_total_time="$seconds" 2>&1 | tail -n 3
  rm -rf "$corpus"
done
