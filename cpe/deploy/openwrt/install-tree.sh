#!/bin/sh
# Lays out the files of the OpenWrt package hybrid-access under DESTDIR from the one-file CPE
# bundle (cpe/deploy/build-bundle.sh): the bundle's payload unpacked into
# /usr/lib/hybrid-access/cpe-<version>/ with the launcher's marker of the current version,
# /usr/bin/hybrid-access (the bundle's own launcher, without its payload, pointed there), the procd init script, the UCI default config, the fw4 include for
# the core's TUN and the LuCI status view with its rpcd plugin. Used by build-ipk.sh and by the
# SDK Makefile (feed/net/hybrid-access/Makefile); prints the version.
#   usage: cpe/deploy/openwrt/install-tree.sh BUNDLE DESTDIR
set -eu
BUNDLE=$1
DEST=$2
FILES=$(cd "$(dirname "$0")" && pwd)/files
UNPACK=$(mktemp -d)
trap 'rm -rf "$UNPACK"' EXIT

DIR=$(HYBRID_ACCESS_HOME="$UNPACK" sh "$BUNDLE" --unpack-only)
NAME=$(basename "$DIR")
case $NAME in cpe-*) ;; *) echo "error: $BUNDLE is not a CPE bundle (it unpacked into $NAME)" >&2; exit 1 ;; esac
VERSION=${NAME#cpe-}
# The init script and unit for a manual install are the package's business here.
rm -f "$DIR/hybrid-access-cpe.init" "$DIR/hybrid-access-cpe.service"
mkdir -p "$DEST/usr/lib/hybrid-access" "$DEST/usr/bin"
rm -rf "${DEST:?}/usr/lib/hybrid-access/$NAME"
mv "$DIR" "$DEST/usr/lib/hybrid-access/$NAME"
# The launcher's record of the version that runs (it writes it when missing): opkg's file, replaced
# at an upgrade, with the old version's tree gone with the old package.
cp "$UNPACK/.cpe-current" "$DEST/usr/lib/hybrid-access/.cpe-current"
# The launcher: everything before the payload; its .unpacked marker is in the tree already.
sed -n '1,/^__PAYLOAD_FOLLOWS__$/p' "$BUNDLE" |
  sed 's#${HYBRID_ACCESS_HOME:-/opt/hybrid-access}#${HYBRID_ACCESS_HOME:-/usr/lib/hybrid-access}#' \
    >"$DEST/usr/bin/hybrid-access"
grep -q 'HYBRID_ACCESS_HOME:-/usr/lib/hybrid-access}' "$DEST/usr/bin/hybrid-access" ||
  { echo "error: the bundle's launcher has no HYBRID_ACCESS_HOME line" >&2; exit 1; }
chmod 755 "$DEST/usr/bin/hybrid-access"

inst() { mkdir -p "$DEST/$(dirname "$3")" && cp "$FILES/$2" "$DEST/$3" && chmod "$1" "$DEST/$3"; }
inst 755 hybrid-access.init etc/init.d/hybrid-access
inst 600 hybrid-access.config etc/config/hybrid-access
inst 644 fw4/30-hybrid-access.nft usr/share/nftables.d/chain-pre/forward/30-hybrid-access.nft
inst 644 luci/status.js www/luci-static/resources/view/hybrid-access/status.js
inst 644 luci/menu.json usr/share/luci/menu.d/luci-app-hybrid-access.json
inst 644 luci/acl.json usr/share/rpcd/acl.d/luci-app-hybrid-access.json
inst 755 luci/luci.hybrid-access usr/libexec/rpcd/luci.hybrid-access
echo "$VERSION"
