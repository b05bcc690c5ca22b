#!/bin/sh
# Builds the OpenWrt package dist/hybrid-access_<version>_<arch>.ipk here, without the SDK, from
# the one-file CPE bundle: an ar archive of debian-binary, control.tar.gz (control, conffiles,
# postinst, prerm, postrm) and data.tar.gz (install-tree.sh's files), as opkg installs it:
#   opkg install hybrid-access_<version>_<arch>.ipk
# The bundle's native addon is built for the machine that built the bundle: build it on (or for)
# the router's architecture and C library (README, "OpenWrt"), and name that architecture as opkg
# does (`opkg print-architecture` on the router; default: this machine's, e.g. x86_64).
#   usage: cpe/deploy/openwrt/build-ipk.sh [--arch ARCH] [--bundle FILE] [OUTPUT_DIR]   (from the repository root)
set -eu
ROOT=$(pwd)
HERE=$ROOT/cpe/deploy/openwrt
ARCH=
BUNDLE=
while [ $# -gt 0 ]; do
  case "$1" in
  --arch) ARCH=$2; shift 2 ;;
  --bundle) BUNDLE=$2; shift 2 ;;
  -*) echo "usage: $0 [--arch ARCH] [--bundle FILE] [OUTPUT_DIR]" >&2; exit 2 ;;
  *) break ;;
  esac
done
OUTDIR=${1:-$ROOT/dist}
if [ -z "$ARCH" ]; then
  case "$(uname -m)" in
  aarch64) ARCH=aarch64_generic ;;
  armv7l) ARCH=arm_cortex-a7_neon-vfpv4 ;;
  *) ARCH=$(uname -m) ;;
  esac
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -z "$BUNDLE" ]; then
  BUNDLE=$WORK/hybrid-access-cpe.run
  sh "$ROOT/cpe/deploy/build-bundle.sh" "$BUNDLE" >/dev/null
fi

mkdir -p "$WORK/data" "$WORK/control"
VERSION=$(sh "$HERE/install-tree.sh" "$BUNDLE" "$WORK/data")
SIZE=$(du -sb "$WORK/data" | cut -f1)

cat >"$WORK/control/control" <<CONTROL
Package: hybrid-access
Version: $VERSION
Depends: libc, node, ip-full, nftables, kmod-tun, kmod-nft-tproxy, kmod-nft-socket, kmod-nft-nat
Source: cpe/deploy/openwrt/feed/net/hybrid-access
License: Apache-2.0
Section: net
Architecture: $ARCH
Installed-Size: $SIZE
Description: Hybrid Access CPE (TR-348): bonds the router's internet lines (DSL, LTE) into one
 Multipath TCP connection per TCP connection to the operator's Hybrid Access Gateway.
 Configured in /etc/config/hybrid-access; status in LuCI (Status > Hybrid Access).
CONTROL
echo /etc/config/hybrid-access >"$WORK/control/conffiles"
# As the SDK writes them: default_postinst enables and starts the init script, default_prerm
# stops and disables it. fw4 reads its includes (the core's TUN rule) at a firewall reload, rpcd
# its plugins and ACLs at a reload, and LuCI rebuilds its menu once its cache is gone.
cat >"$WORK/control/postinst" <<'SCRIPT'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
ret=$?
[ -n "${IPKG_INSTROOT}" ] || {
	/etc/init.d/firewall reload 2>/dev/null
	/etc/init.d/rpcd reload 2>/dev/null
	rm -f /tmp/luci-indexcache*
}
exit $ret
SCRIPT
cat >"$WORK/control/prerm" <<'SCRIPT'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
SCRIPT
cat >"$WORK/control/postrm" <<'SCRIPT'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || /etc/init.d/firewall reload 2>/dev/null
exit 0
SCRIPT
chmod 755 "$WORK/control/postinst" "$WORK/control/prerm" "$WORK/control/postrm"

# Reproducible archives: root-owned, sorted, one timestamp (the commit's, else now).
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tgz() {
  tar --format=gnu --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$EPOCH" \
    -C "$1" -cf - . | gzip -9n >"$2"
}
tgz "$WORK/data" "$WORK/data.tar.gz"
tgz "$WORK/control" "$WORK/control.tar.gz"
echo 2.0 >"$WORK/debian-binary"
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
OUT=$OUTDIR/hybrid-access_${VERSION}_$ARCH.ipk
rm -f "$OUT"
(cd "$WORK" && ar -rcD "$OUT" debian-binary control.tar.gz data.tar.gz)
echo "$OUT ($(du -h "$OUT" | cut -f1), version $VERSION, $ARCH)"
