#!/usr/bin/env bash
# One command for the benchmark: builds the static kvinit and the official
# Azure SDK for Rust client (bench/rust-sdk), installs the Azure SDK for
# Python in a venv, and runs bench/startup.rs, which prints a table and
# writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-venv for the SDK's venv, time for /usr/bin/time (wall time and peak RSS).
packages=(python3-venv time)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

binary=$(bash scripts/build-static.sh | tail -n 1)
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q azure-identity azure-keyvault-secrets
cargo build --release --locked --manifest-path bench/rust-sdk/Cargo.toml --target-dir target/rust-sdk
BENCH_DATE="$(date -u +%Y-%m-%d)" KVINIT_BENCH_BIN="$binary" KVINIT_BENCH_PYTHON="$PWD/$venv/bin/python" \
  KVINIT_BENCH_RUST_SDK="$PWD/target/rust-sdk/release/sdk-fetch" cargo bench --locked --bench startup
