#!/bin/sh
# Installs what build/cross.sh, the packaging tests and the qemu load proof need on
# Debian 12 (bookworm). Idempotent; run as root. Nothing here downloads a toolchain
# from outside the package registries: rustup cannot fetch targets on our machines.
#
# Why each piece:
#   rustc-web, cargo-web  Debian's Rust 1.96 (installs /usr/bin/rustc, /usr/bin/cargo)
#   rust-web-src          the std sources of exactly that rustc, for -Zbuild-std: no
#                         prebuilt std exists here for aarch64/armv7/musl targets
#   clang                 native/build.rs compiles native/bpf/*.c with -target bpf
#   ziglang, cargo-zigbuild (PyPI)  zig as C compiler and linker for every target,
#                         with its bundled musl and glibc stubs (no sysroot needed)
#   qemu-user-static      runs aarch64/armv7 code for the load proof
#   binutils              readelf for the ELF checks
#   the linter shellcheck: lints the init script, hotplug script and install.sh
#   busybox               OpenWrt's awk and ash, to run the UCI translator and parse the scripts
set -eu

export DEBIAN_FRONTEND=noninteractive
need=""
for pkg in rustc-web cargo-web rust-web-src clang qemu-user-static binutils shellcheck busybox xz-utils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need="$need $pkg"
done
if [ -n "$need" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $need
fi

if ! python3 -c 'import ziglang' 2>/dev/null || ! command -v cargo-zigbuild >/dev/null 2>&1; then
  # Debian's own python3 is "externally managed" (PEP 668); a pyenv/venv python is not.
  python3 -m pip install -q 'ziglang>=0.14' 'cargo-zigbuild>=0.19' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'ziglang>=0.14' 'cargo-zigbuild>=0.19'
fi
echo "deps-cross: rustc $(/usr/bin/rustc -V | cut -d' ' -f2), zig $(python3 -m ziglang version), $(cargo-zigbuild --version)"
