#!/bin/sh
# Builds the CPE as one file, dist/hybrid-access-cpe.run: a POSIX shell script with a tar.gz
# appended that holds tsc's output (src/, cpe/, and hag/ because the one `hybrid-access` command
# carries both daemons), the run-time npm packages (pino, yaml and what they need, as installed in
# node_modules) and the project's native addon (TUN device, raw sockets). On the router it
# needs Node >= 22 and sh, tar, gzip: the first run unpacks into ${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/<version>,
# every run then execs node on it.
#
# The native addon is built for the machine that runs this script (architecture and C library):
# build on a machine like the router (same CPU architecture, musl for OpenWrt); see the README,
# "Installing the CPE".
#   usage: cpe/deploy/build-bundle.sh [OUTPUT]   (from the repository root)
set -eu
ROOT=$(pwd)
OUT=${1:-$ROOT/dist/hybrid-access-cpe.run}
TUN_ADDON=$ROOT/src/io/tun-tap/build/Release/tun_tap.node
[ -f "$TUN_ADDON" ] || { echo "error: $TUN_ADDON is missing: run npm install (it builds the addon)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# tsc writes its output even when a file elsewhere has type errors; errors in what the CPE runs stop the build.
if ! npx tsc -p tsconfig.build.json --outDir "$WORK/js" >"$WORK/tsc.log" 2>&1; then
  if grep -E '^(cpe/|src/|hag/(addr|main|config|daemon))' "$WORK/tsc.log"; then
    echo "error: tsc reported errors in files the CPE runs" >&2
    exit 1
  fi
fi
P=$WORK/payload
mkdir -p "$P/dist" "$P/src/io/tun-tap/build/Release"
cp -r "$WORK/js/src" "$WORK/js/cpe" "$WORK/js/hag" "$P/dist/"
rm -rf "$P/dist/hag/tools" "$P/dist/hag/deploy" "$P/dist/cpe/deploy"
find "$P/dist" -name '*.map' -delete
cp "$TUN_ADDON" "$P/src/io/tun-tap/build/Release/"
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo local)
VERSION=$(node -p "require('./package.json').version")-$REVISION
# The revision also for hybrid_access_build_info (src/daemon/build-info.ts).
printf '{"name":"hybrid-access","version":"%s","revision":"%s","type":"module","private":true}\n' "$VERSION" "$REVISION" >"$P/package.json"
for d in $(node cpe/deploy/runtime-deps.mjs "$ROOT" pino yaml); do
  mkdir -p "$P/$(dirname "$d")"
  cp -r "$ROOT/$d" "$P/$d"
done
cp config/cpe.yaml "$P/cpe.example.yaml"
cp cpe/deploy/hybrid-access-cpe.init cpe/deploy/hybrid-access-cpe.service "$P/"
tar -C "$P" -czf "$WORK/payload.tgz" .

mkdir -p "$(dirname "$OUT")"
{
  cat <<HEAD
#!/bin/sh
# hybrid-access $VERSION, CPE build (cpe/deploy/build-bundle.sh). Needs Node >= 22, tar and gzip.
# Unpacks itself once into \${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/$VERSION, then runs
#   node .../dist/src/cli.js "\$@"       e.g.  hybrid-access cpe --config /etc/hybrid-access/cpe.yaml
set -eu
DIR="\${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/$VERSION"
if [ ! -f "\$DIR/.unpacked" ]; then
  mkdir -p "\$DIR"
  SKIP=\$(awk '/^__PAYLOAD_FOLLOWS__\$/ { print NR + 1; exit }' "\$0")
  tail -n +"\$SKIP" "\$0" | gzip -dc | tar -xf - -C "\$DIR"
  touch "\$DIR/.unpacked"
fi
[ "\${1:-}" = "--unpack-only" ] && { echo "\$DIR"; exit 0; }
# A router's memory is small: V8's young generation at 1 MB and its size-over-speed mode keep the
# CPE under 64 MB idle and 128 MB with 1,000 connections (scripts/bench-cpe). Override with
# HYBRID_ACCESS_NODE_FLAGS (empty for V8's defaults).
FLAGS=\${HYBRID_ACCESS_NODE_FLAGS-"--max-semi-space-size=1 --optimize-for-size"}
# shellcheck disable=SC2086 # the flags are words
exec node \$FLAGS "\$DIR/dist/src/cli.js" "\$@"
__PAYLOAD_FOLLOWS__
HEAD
  cat "$WORK/payload.tgz"
} >"$OUT"
chmod 755 "$OUT"
echo "$OUT ($(du -h "$OUT" | cut -f1), version $VERSION)"
