#!/usr/bin/env bash
# Builds a fully static musl kvinit on Debian bookworm and prints the
# binary's path as its last line.
#
#   scripts/build-static.sh [x86_64|aarch64]     (default x86_64)
#
# aarch64 is cross-built: Debian's arm64 musl (musl-dev:arm64, which brings
# the aarch64-linux-musl-gcc wrapper) over the aarch64-linux-gnu cross gcc;
# qemu-aarch64 (qemu-user) runs the result, as scripts/static-check.sh does.
#
# The rustup toolchain here ships only the glibc std, so Debian's rustc 1.96
# (rustc-web) builds std from source (rust-web-src) for musl with
# RUSTC_BOOTSTRAP. musl-gcc links it; its specs mishandle static-pie, hence
# relocation-model=static. std's unwinder needs a musl-compatible libunwind.a:
# LLVM's, unpacked from Debian's libunwind-16-dev, plus a __fprintf_chk shim
# (glibc's fortified fprintf, which that archive calls and musl lacks).
#
# Size: std is built without its backtrace symbolizer (a stripped binary has
# no symbols to print) and with optimize_for_size; with panic=abort nothing
# unwinds, so no unwind tables; panic messages keep no file:line. Together
# these take about 480 KiB off. scripts/static-check.sh enforces the budget.
#
# With rustup instead: rustup target add x86_64-unknown-linux-musl &&
#   cargo build --release --target x86_64-unknown-linux-musl -p kvinit
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:-x86_64}
case "$arch" in
  x86_64) debian=amd64 cc=musl-gcc ar=ar packages=(musl-tools) ;;
  aarch64) debian=arm64 cc=aarch64-linux-musl-gcc ar=aarch64-linux-gnu-ar packages=(musl-dev:arm64 gcc-aarch64-linux-gnu) ;;
  *) echo "usage: scripts/build-static.sh [x86_64|aarch64]" >&2; exit 2 ;;
esac
target=$arch-unknown-linux-musl
var=$(echo "$target" | tr 'a-z-' 'A-Z_')

packages+=(rustc-web rust-web-src cargo-web)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$debian" != amd64 ] && ! dpkg --print-foreign-architectures | grep -qx "$debian"; then
    dpkg --add-architecture "$debian"
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=target/static-deps/$arch
if [ ! -f "$work/lib/libunwind.a" ]; then
  rm -rf "$work" && mkdir -p "$work/lib" "$work/deb"
  (cd "$work/deb" && apt-get download "libunwind-16-dev:$debian" >&2)
  dpkg -x "$work"/deb/libunwind-16-dev_*.deb "$work/x"
  cp "$(find "$work/x" -name libunwind.a | head -n1)" "$work/lib/libunwind.a"
  cat > "$work/fprintf_chk.c" <<'C'
#include <stdarg.h>
#include <stdio.h>
/* glibc's fortified fprintf; LLVM's libunwind calls it only to log errors. */
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(f, fmt, ap);
  va_end(ap);
  return n;
}
C
  "$cc" -O2 -c "$work/fprintf_chk.c" -o "$work/fprintf_chk.o"
  "$ar" rcs "$work/lib/libfprintf_chk.a" "$work/fprintf_chk.o"
fi

env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
  "CC_${target//-/_}=$cc" "AR_${target//-/_}=$ar" \
  "CARGO_TARGET_${var}_LINKER=$cc" \
  RUSTFLAGS="-C link-self-contained=no -C relocation-model=static -C target-feature=+crt-static -L native=$PWD/$work/lib -l static=fprintf_chk \
    -C force-unwind-tables=no -Zlocation-detail=none --cfg aes_compact --cfg aes_force_soft" \
  CARGO_TARGET_DIR=target/static \
  /usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort \
  -Zbuild-std-features=optimize_for_size --target "$target" -p kvinit --bin kvinit >&2
binary="$PWD/target/static/$target/release/kvinit"
file "$binary" >&2 || true
echo "$binary"
