#!/usr/bin/env bash
# Cross-builds the project's native addon (src/io/tun-tap: binding.gyp and its C++) for another
# CPU with Debian's cross toolchain, and prints the path of the tun_tap.node it made. node-gyp
# builds from the same binding.gyp as the native build, against the headers of Node's own build for
# that CPU (node-linux-ARCH from the npm registry: ha_node_build), in a copy of the sources under
# src/io/tun-tap/build/ARCH so the host's build/Release stays as it is. Installs the toolchain
# (Debian packages) and that Node build only when missing (scripts/lib/ensure-deps.sh).
#   usage: scripts/lib/cross-addon.sh aarch64   (from the repository root)
# Supported: aarch64 (glibc). A musl target (OpenWrt) builds in the OpenWrt SDK instead
# (cpe/deploy/openwrt/feed): Debian has no musl cross toolchain, nor npm a musl Node build.
set -euo pipefail
ARCH=${1:?usage: cross-addon.sh aarch64}
ROOT=$(pwd)
. "$ROOT/scripts/lib/ensure-deps.sh"
case $ARCH in
  # GNU triplet of the toolchain, Debian's package of it.
  aarch64) TRIPLET=aarch64-linux-gnu DEBS=(g++-aarch64-linux-gnu) ;;
  *) echo "error: no cross build for '$ARCH' (supported: aarch64)" >&2; exit 2 ;;
esac
NODE_ARCH=$(ha_node_arch "$ARCH")
ha_need_debs "${DEBS[@]}" >&2
NODEDIR=$(ha_node_build "$NODE_ARCH")

# node-gyp comes with npm (npm runs it for the package's install script); Debian ships it apart.
GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
[ -f "$GYP" ] || GYP=$(command -v node-gyp) || { echo "error: node-gyp not found (it comes with npm)" >&2; exit 1; }

SRC=$ROOT/src/io/tun-tap
WORK=$SRC/build/$ARCH
rm -rf "$WORK"
mkdir -p "$WORK"
cp "$SRC"/binding.gyp "$SRC"/*.cc "$SRC"/*.h "$WORK/"
# binding.gyp's include_dirs runs `node -p require('node-addon-api')` in $WORK: it resolves from
# the repository's node_modules above it. The host's node runs gyp; only the compiler is cross.
CC=$TRIPLET-gcc CXX=$TRIPLET-g++ LINK=$TRIPLET-g++ AR=$TRIPLET-ar \
  node "$GYP" rebuild --directory="$WORK" --arch="$NODE_ARCH" --nodedir="$NODEDIR" --loglevel=warn >&2
echo "$WORK/build/Release/tun_tap.node"
