#!/usr/bin/env bash
# Builds a fully static x86_64-unknown-linux-musl kvinit on Debian bookworm
# and prints the binary's path as its last line.
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

packages=(rustc-web rust-web-src cargo-web musl-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=target/static-deps
if [ ! -f "$work/lib/libunwind.a" ]; then
  rm -rf "$work" && mkdir -p "$work/lib" "$work/deb"
  (cd "$work/deb" && apt-get download libunwind-16-dev >&2)
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
  musl-gcc -O2 -c "$work/fprintf_chk.c" -o "$work/fprintf_chk.o"
  ar rcs "$work/lib/libfprintf_chk.a" "$work/fprintf_chk.o"
fi

target=x86_64-unknown-linux-musl
env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
  CC_x86_64_unknown_linux_musl=musl-gcc \
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc \
  RUSTFLAGS="-C link-self-contained=no -C relocation-model=static -C target-feature=+crt-static -L native=$PWD/$work/lib -l static=fprintf_chk \
    -C force-unwind-tables=no -Zlocation-detail=none" \
  CARGO_TARGET_DIR=target/static \
  /usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort \
  -Zbuild-std-features=optimize_for_size --target "$target" -p kvinit --bin kvinit >&2
binary="$PWD/target/static/$target/release/kvinit"
file "$binary" >&2 || true
echo "$binary"
