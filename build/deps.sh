#!/usr/bin/env bash
# System packages the build and the tests need on Debian 12 / Ubuntu (run as root).
# Rust (rustup, stable) and Node.js 20 are expected to be installed already.
set -euo pipefail
packages=(
  clang llvm libbpf-dev bpftool   # BPF programs: clang -target bpf, UAPI headers, inspection
  iproute2 iputils-ping netcat-openbsd nftables   # kernel tests: netns, veth, traffic, nft baseline
  mosquitto openssl               # MQTT tests: real broker; TLS tests: certificates
  shellcheck busybox binutils     # packaging tests: lint init scripts, run them under OpenWrt's ash/awk, readelf
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { echo "deps: Node.js 20 or later is required" >&2; exit 1; }
