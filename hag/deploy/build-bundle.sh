#!/bin/sh
# Builds the HAG as one file, dist/hybrid-access-hag.run: a POSIX shell script carrying a tar.gz of
# the compiled JavaScript (tsc output of src/ and hag/), the run-time npm packages (pino, yaml and
# their dependencies, from node_modules) and the TUN addon. On the target it needs only Node >= 22
# (and sh, tar, gzip): the first run unpacks into /opt/hybrid-access/<version>/ (or
# $HYBRID_ACCESS_HOME/<version>/), later runs exec node straight away.
#
# Why not a bundler: esbuild and the like are not among our dependencies, and tsc's output plus
# the exact packages from the lock file is what the tests ran; the .run wrapper makes it one file.
# The addon is native code for this machine's architecture (x86_64 Linux, glibc); N-API keeps it
# working across Node versions.
#   usage: hag/deploy/build-bundle.sh [OUTPUT]   (run from the repository root)
set -eu
ROOT=$(pwd)
OUT=${1:-$ROOT/dist/hybrid-access-hag.run}
ADDON=$ROOT/src/io/tun-tap/build/Release/tun_tap.node
[ -f "$ADDON" ] || { echo "error: build the TUN addon first (npm install)" >&2; exit 1; }
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# The compiled tree (only what the HAG runs: src/ and hag/).
npx tsc -p tsconfig.build.json --outDir "$STAGE/tsc" >/dev/null || {
  # Type errors elsewhere in the tree do not stop the build; errors in the HAG's files do.
  if npx tsc -p tsconfig.build.json --noEmit | grep -E '^(hag/|src/(convert|socks|config|cli|io|mptcp|tcp|wire|crypto))'; then
    echo "error: tsc reported errors in files the HAG runs" >&2
    exit 1
  fi
}
mkdir -p "$STAGE/pkg/dist" "$STAGE/pkg/src/io/tun-tap/build/Release"
cp -r "$STAGE/tsc/src" "$STAGE/tsc/hag" "$STAGE/pkg/dist/"
find "$STAGE/pkg/dist" -name '*.map' -delete
rm -rf "$STAGE/pkg/dist/hag/tools"
cp "$ADDON" "$STAGE/pkg/src/io/tun-tap/build/Release/"
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo local)
VERSION=$(node -p "require('./package.json').version")-$REVISION
# The revision also for hybrid_access_build_info (src/daemon/build-info.ts).
printf '{"name":"hybrid-access","version":"%s","revision":"%s","type":"module","private":true}\n' "$VERSION" "$REVISION" >"$STAGE/pkg/package.json"
for d in $(node hag/deploy/collect-deps.mjs "$ROOT"); do
  mkdir -p "$STAGE/pkg/$(dirname "$d")"
  cp -r "$ROOT/$d" "$STAGE/pkg/$d"
done
cp config/hag.yaml "$STAGE/pkg/hag.example.yaml"
cp hag/deploy/hybrid-access-hag.service "$STAGE/pkg/"
tar -C "$STAGE/pkg" -czf "$STAGE/payload.tgz" .

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<HEAD
#!/bin/sh
# hybrid-access $VERSION: the HAG as one file (built by hag/deploy/build-bundle.sh). Needs Node >= 22.
# Unpacks itself once into \${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/$VERSION, then runs
#   node .../dist/src/cli.js "\$@"      e.g.  $(basename "$OUT") hag --config /etc/hybrid-access/hag.yaml
set -eu
DIR="\${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/$VERSION"
if [ ! -f "\$DIR/.unpacked" ]; then
  mkdir -p "\$DIR"
  LINE=\$(awk '/^__PAYLOAD__\$/ { print NR + 1; exit }' "\$0")
  tail -n +"\$LINE" "\$0" | tar -xzf - -C "\$DIR"
  touch "\$DIR/.unpacked"
fi
if [ "\${1:-}" = "--unpack-only" ]; then echo "\$DIR"; exit 0; fi
# Under a stream of connections that live seconds (2,000 slowloris clients, scripts/bench-attacks)
# V8's young generation grows to 64 MB a semi-space and old space waits for 3x its live size before
# a major GC: peak RSS 404 MB. Semi-spaces capped at 2 MB and old space let grow 1.5x: 153 MB.
# Override with HYBRID_ACCESS_NODE_FLAGS (empty for V8's defaults).
FLAGS=\${HYBRID_ACCESS_NODE_FLAGS-"--max-semi-space-size=2 --heap-growing-percent=50"}
# shellcheck disable=SC2086 # the flags are words
exec node \$FLAGS "\$DIR/dist/src/cli.js" "\$@"
__PAYLOAD__
HEAD
cat "$STAGE/payload.tgz" >>"$OUT"
chmod 755 "$OUT"
echo "$OUT ($(du -h "$OUT" | cut -f1), version $VERSION)"
