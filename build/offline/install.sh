#!/bin/sh
# Installs an openc2-agent offline bundle from the folder this script is in.
# Checks first, copies after: the Ed25519 signature over SHA256SUMS must verify with
# a public key the box already trusts, every file must match SHA256SUMS and no file
# may be unlisted. Needs no network. Needs node (the agent's runtime) or openssl 3 to
# check the signature, and sha256sum (coreutils or BusyBox).
#
# Usage: install.sh [--key PUBKEY.pem] [--root DIR] [--init systemd|openwrt|none]
#   --key   Ed25519 public key (PEM). Default /etc/openc2/release-signing.pem, which
#           the image vendor provisions. The key inside the bundle is never trusted.
#   --root  install below DIR instead of / (image builds, tests)
#   --init  which service files to install (default: detected)
# Exit: 0 installed; 1 refused (bad signature, checksum, unlisted file); 2 usage.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
key=/etc/openc2/release-signing.pem
root=""
init=""

die() { echo "install.sh: $1" >&2; exit "${2:-1}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --key) [ $# -ge 2 ] || die "--key needs a file" 2; key=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a folder" 2; root=${2%/}; shift 2 ;;
    --init) [ $# -ge 2 ] || die "--init needs systemd, openwrt or none" 2; init=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1" 2 ;;
  esac
done
case "$init" in ""|systemd|openwrt|none) ;; *) die "--init must be systemd, openwrt or none" 2 ;; esac
[ -f "$key" ] || die "no public key $key: pass --key FILE with the release signing key" 2

cd "$here"
{ [ -f SHA256SUMS ] && [ -f SHA256SUMS.sig ]; } || die "SHA256SUMS or SHA256SUMS.sig missing"

# 1. Signature over SHA256SUMS. Ed25519 signs the message itself (no pre-hash).
verify_with_node() {
  node -e '
    const { createPublicKey, verify } = require("node:crypto");
    const { readFileSync } = require("node:fs");
    const [sums, pem, sig] = process.argv.slice(1);
    let ok = false;
    try { ok = verify(null, readFileSync(sums), createPublicKey(readFileSync(pem)), readFileSync(sig)); } catch {}
    process.exit(ok ? 0 : 1);
  ' SHA256SUMS "$key" SHA256SUMS.sig
}
verify_with_openssl() {
  openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null 2>&1
}
if command -v node >/dev/null 2>&1; then
  verify_with_node || die "signature of SHA256SUMS does not verify with $key: refusing to install"
elif command -v openssl >/dev/null 2>&1; then
  verify_with_openssl || die "signature of SHA256SUMS does not verify with $key: refusing to install"
else
  die "need node or openssl to check the signature; nothing installed"
fi

# 2. Every file is listed, and every listed file matches.
listed=$(mktemp)
present=$(mktemp)
trap 'rm -f "$listed" "$present"' EXIT INT TERM
sed -n 's/^[0-9a-f]\{64\}  \(.*\)$/\1/p' SHA256SUMS | sort > "$listed"
[ "$(wc -l < "$listed")" -eq "$(wc -l < SHA256SUMS)" ] || die "SHA256SUMS has malformed lines"
find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's|^\./||' | sort > "$present"
if [ "$(cat "$listed")" != "$(cat "$present")" ]; then
  die "files differ from SHA256SUMS ($(diff "$listed" "$present" | sed -n 's/^[<>] //p' | head -3 | tr '\n' ' ')): refusing to install"
fi
sha256sum -c SHA256SUMS >/dev/null 2>&1 || {
  sha256sum -c SHA256SUMS 2>/dev/null | grep -v ': OK$' >&2 || true
  die "checksum mismatch: refusing to install"
}

# 3. Copy. Nothing above wrote outside this folder.
if [ -z "$init" ]; then
  if [ -f "$root/etc/rc.common" ]; then init=openwrt
  elif [ -d "$root/run/systemd/system" ] || [ -d "$root/etc/systemd/system" ]; then init=systemd
  else init=none
  fi
fi

lib=$root/usr/lib/openc2
mkdir -p "$lib" "$root/usr/bin" "$root/etc/openc2"
chmod 0700 "$root/etc/openc2"
cp payload/lib/openc2-agent.mjs "$lib/"
for node_file in payload/lib/*.node; do
  [ -e "$node_file" ] && cp "$node_file" "$lib/"
done
[ -f payload/README.md ] && cp payload/README.md "$lib/"
cp payload/bin/openc2-agent "$root/usr/bin/openc2-agent"
chmod 0755 "$root/usr/bin/openc2-agent"
# Keep the operator's config and trusted key across upgrades.
install_new() { [ -e "$2" ] || { cp "$1" "$2"; chmod "$3" "$2"; }; }
install_new payload/release-signing.pem "$root/etc/openc2/release-signing.pem" 0644

case "$init" in
  systemd)
    install_new payload/config/config.json "$root/etc/openc2/config.json" 0600
    mkdir -p "$root/etc/systemd/system"
    cp payload/systemd/openc2-agent.service "$root/etc/systemd/system/"
    next="systemctl daemon-reload && systemctl enable --now openc2-agent"
    ;;
  openwrt)
    mkdir -p "$root/etc/init.d" "$root/etc/config" "$root/etc/hotplug.d/iface" "$root/etc/hotplug.d/net"
    cp payload/openwrt/uci2json.awk "$lib/"
    cp payload/openwrt/openc2.init "$root/etc/init.d/openc2"
    chmod 0755 "$root/etc/init.d/openc2"
    install_new payload/openwrt/openc2.config "$root/etc/config/openc2" 0600
    for dir in iface net; do
      cp payload/openwrt/openc2.hotplug "$root/etc/hotplug.d/$dir/95-openc2"
    done
    next="uci set openc2.main.enabled=1 && uci commit openc2 && /etc/init.d/openc2 enable && /etc/init.d/openc2 start"
    ;;
  none)
    install_new payload/config/config.json "$root/etc/openc2/config.json" 0600
    next="openc2-agent run --config /etc/openc2/config.json"
    ;;
esac
echo "openc2-agent $(cat payload/VERSION) installed under ${root:-/} ($init). Next: edit the config, then: $next"
