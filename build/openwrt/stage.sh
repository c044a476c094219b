#!/bin/sh
# Copies the prebuilt payload of the OpenWrt packages into the feed folder
# (build/openwrt/openc2-agent/dist, git-ignored): the bundle and the musl .node of
# each OpenWrt CPU that has been built. Then point an OpenWrt buildroot or SDK at
# this feed (README "OpenWrt package"):
#   echo "src-link openc2 $(pwd)/build/openwrt" >> feeds.conf
set -eu
root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
feed_dist=$root/build/openwrt/openc2-agent/dist
[ -f "$root/dist/openc2-agent.mjs" ] || { echo "stage: dist/openc2-agent.mjs missing: npm run build:bundle" >&2; exit 1; }
mkdir -p "$feed_dist"
cp "$root/dist/openc2-agent.mjs" "$feed_dist/"
found=0
for platform in linux-x64-musl linux-arm64-musl linux-arm-musleabihf; do
  f=$root/dist/openc2-dataplane.$platform.node
  if [ -f "$f" ]; then cp "$f" "$feed_dist/"; found=$((found + 1)); else echo "stage: no $f (npm run build:cross -- $platform)" >&2; fi
done
[ "$found" -gt 0 ] || { echo "stage: no musl .node built" >&2; exit 1; }
echo "stage: $feed_dist ready ($found of 3 CPUs); feeds.conf line: src-link openc2 $root/build/openwrt"
