#!/usr/bin/env bash
# Builds kvinit for Windows x86_64 on Debian and runs the .exe under Wine
# against the test fakes (ACI Windows mode): tests/windows_wine.rs.
#
# The rustup toolchain here has no Windows std, so Debian's rustc 1.96
# (rustc-web) builds std from source (rust-web-src) with RUSTC_BOOTSTRAP.
# Two targets:
#   x86_64-pc-windows-gnu   the binary we ship (Windows 10 / Server 2016+)
#   x86_64-win7-windows-gnu the one Wine 8 runs: std for the pc target calls
#                           ProcessPrng, which Wine 8's bcryptprimitives lacks
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rustc-web rust-web-src cargo-web gcc-mingw-w64-x86-64 wine64 wine)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# -D warnings: clippy in .ci/run lints the Linux build only, so this is
# where code behind cfg(windows) and cfg(unix) is checked for dead ends.
build() {
  local target=$1 var
  var=$(echo "$target" | tr 'a-z-' 'A-Z_')
  env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
    "CARGO_TARGET_${var}_LINKER=x86_64-w64-mingw32-gcc" \
    "CC_${target//-/_}=x86_64-w64-mingw32-gcc" "AR_${target//-/_}=x86_64-w64-mingw32-ar" \
    RUSTFLAGS="-C link-self-contained=no -D warnings" CARGO_TARGET_DIR=target/windows \
    /usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort --target "$target" -p kvinit --bin kvinit
}

build x86_64-pc-windows-gnu
build x86_64-win7-windows-gnu
shipped=target/windows/x86_64-pc-windows-gnu/release/kvinit.exe
tested=target/windows/x86_64-win7-windows-gnu/release/kvinit.exe
ls -l "$shipped" "$tested"

export WINEPREFIX="$PWD/target/wine-prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -d "$WINEPREFIX" ]; then
  echo "creating the Wine prefix"
  /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1 || true
fi
/usr/lib/wine/wine64 "$tested" --version

KVINIT_WINDOWS_EXE="$PWD/$tested" cargo test --locked --test windows_wine -- --ignored
