#!/bin/sh
# Cross-builds the native dataplane module for the ARM and musl targets:
#   dist/openc2-dataplane.<napi platform>.node
#
# Usage: build/cross.sh [--force] [TARGET ...]
#   TARGET: a Rust triple or napi platform (linux-arm64-musl, ...). Default: every
#   target in package.json napi.targets except the host's (npm run build:native
#   builds that one).
#
# How (notes/aya-napi.md section 12, README "Building for ARM"): rustup cannot download
# std for other targets here, so we use Debian's rustc-web 1.96 with its own std sources
# (rust-web-src) and -Zbuild-std; RUSTC_BOOTSTRAP=1 unlocks -Z on that stable compiler.
# `napi build -x` swaps cargo for cargo-zigbuild, so zig compiles the C bits and links
# against its bundled musl/glibc stubs: no sysroot and no cross gcc needed, and the
# result needs neither libgcc_s nor glibc newer than zig's default (checked by
# test/integration/packaging-cross.test.ts). The BPF objects are target-independent:
# native/build.rs compiles them with the host's clang and headers.
#
# Env: CARGO_TARGET_DIR (default native/target-cross, kept apart from native/target so
# we never wait on another build's lock), OUT_DIR (default dist), NICE (default 10),
# RUST_ROOT (default /usr: the prefix of Debian's rustc-web), GLIBC (default 2.28: the
# oldest glibc the glibc builds may need, as Node.js 20 itself; zig links against
# that version's symbols, so Rust std's weak gettid@GLIBC_2.30 does not become a hard
# version requirement).
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

force=0
targets=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) targets="$targets $arg" ;;
  esac
done

# Rust triple <-> napi platform suffix (napi-rs naming, agent/dataplane/binding.ts).
platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) echo linux-arm64-gnu ;;
    armv7-unknown-linux-gnueabihf) echo linux-arm-gnueabihf ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
    armv7-unknown-linux-musleabihf) echo linux-arm-musleabihf ;;
    *) return 1 ;;
  esac
}
triple_of() {
  for t in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf \
    x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf; do
    if [ "$1" = "$t" ] || [ "$1" = "$(platform_of "$t")" ]; then echo "$t"; return 0; fi
  done
  return 1
}

if [ -z "$targets" ]; then
  host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
  targets=$(node -e 'for (const t of require("./package.json").napi.targets) console.log(t)' | grep -vx "${host:-none}")
fi

RUST_ROOT=${RUST_ROOT:-/usr}
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/native/target-cross}
OUT_DIR=${OUT_DIR:-$root/dist}
NICE=${NICE:-10}
GLIBC=${GLIBC:-2.28}
MAX_BYTES=$((2 * 1024 * 1024))
export CARGO_TARGET_DIR RUSTC_BOOTSTRAP=1

missing() { echo "cross: $1; run build/deps-cross.sh" >&2; exit 1; }
[ -x "$RUST_ROOT/bin/rustc" ] || missing "no $RUST_ROOT/bin/rustc (Debian rustc-web)"
[ -d "$RUST_ROOT/lib/rustlib/src/rust/library/std" ] || missing "no std sources in $RUST_ROOT/lib/rustlib/src/rust (Debian rust-web-src)"
command -v cargo-zigbuild >/dev/null 2>&1 || missing "no cargo-zigbuild"
python3 -c 'import ziglang' 2>/dev/null || command -v zig >/dev/null 2>&1 || missing "no zig (PyPI ziglang)"
command -v clang >/dev/null 2>&1 || missing "no clang (BPF objects)"
# With rustup installed, `cargo`/`rustc` are its proxies; point them at Debian's
# toolchain by path. Without rustup, Debian's binaries are the ones on PATH.
if command -v rustup >/dev/null 2>&1; then export RUSTUP_TOOLCHAIN="$RUST_ROOT"; fi
rust_version=$("$RUST_ROOT/bin/rustc" -V | cut -d' ' -f2)
cargo_rustc=$(rustc -V | cut -d' ' -f2)
[ "$rust_version" = "$cargo_rustc" ] || missing "rustc on PATH is $cargo_rustc, std sources are $rust_version"

mkdir -p "$OUT_DIR"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM

for want in $targets; do
  triple=$(triple_of "$want") || { echo "cross: unknown target $want" >&2; exit 2; }
  platform=$(platform_of "$triple")
  out="$OUT_DIR/openc2-dataplane.$platform.node"
  if [ "$force" = 0 ] && [ -f "$out" ] && [ -z "$(find native/Cargo.toml native/Cargo.lock native/build.rs native/src native/bpf -type f -newer "$out" | head -1)" ]; then
    echo "cross: $platform up to date ($out)"
    continue
  fi
  # cargo-zigbuild reads the glibc version from a suffix on the triple.
  case "$triple" in *-gnu*) zig_triple=$triple.$GLIBC ;; *) zig_triple=$triple ;; esac
  echo "cross: building $zig_triple -> $out"
  start=$(date +%s)
  # -x: cargo-zigbuild; for musl, napi adds -C target-feature=-crt-static (a cdylib
  # must link libc dynamically). Arguments after -- go to cargo.
  nice -n "$NICE" npx napi build --manifest-path native/Cargo.toml --package-json-path package.json \
    --platform --release --no-js --output-dir "$stage" --target "$zig_triple" -x \
    -- -Zbuild-std=std,panic_abort
  mv "$stage/openc2-dataplane.$platform.node" "$out"
  size=$(wc -c < "$out")
  echo "cross: $platform $size bytes in $(( $(date +%s) - start ))s"
  if [ "$size" -gt "$MAX_BYTES" ]; then
    echo "cross: $out is $size bytes, over the 2 MiB budget" >&2
    exit 1
  fi
done
