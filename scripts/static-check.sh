#!/usr/bin/env bash
# Builds the static musl kvinit and proves it runs in an empty root (only the
# binary, /etc/hosts, /etc/resolv.conf and the test CA) against the fakes:
# tests/static_root.rs. Needs root, for chroot. Reports the binary's size.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(bash scripts/build-static.sh | tail -n 1)
size=$(stat -c %s "$binary")
echo "static kvinit: $binary, $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB)"
KVINIT_STATIC_BIN="$binary" cargo test --locked --test static_root -- --ignored
