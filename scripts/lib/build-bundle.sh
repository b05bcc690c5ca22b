#!/bin/sh
# Builds one daemon as one file: a POSIX shell launcher with a tar.gz appended that holds tsc's
# output, the run-time npm packages (pino, yaml and their dependencies, as installed in
# node_modules: scripts/lib/runtime-deps.mjs) and the project's native addon (TUN device, raw
# sockets). The target needs Node >= 22 and sh, tar, gzip. The first run of a version unpacks it
# into ${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/ROLE-VERSION and prunes older versions of the same
# role (it keeps the one that ran before, which may still be running, for a rollback); every run
# then execs node on it.
#
# Why not a bundler: esbuild and the like are not among our dependencies, and tsc's output plus the
# exact packages from the lock file is what the tests ran. The addon is the only native code: by
# default the one npm install built for this machine (architecture and C library); with
# --arch aarch64 (or HA_ARCH=aarch64) one cross-built by scripts/lib/cross-addon.sh, for the same
# C library (glibc). Everything else is JavaScript; N-API keeps the addon working across Node versions.
#   usage: scripts/lib/build-bundle.sh [--arch ARCH] cpe|hag OUTPUT   (from the repository root; the
#          wrappers cpe/deploy/build-bundle.sh and hag/deploy/build-bundle.sh pass ROLE)
set -eu
USAGE="usage: build-bundle.sh [--arch x86_64|aarch64] cpe|hag OUTPUT"
ARCH=${HA_ARCH:-$(uname -m)}
if [ "${1:-}" = "--arch" ]; then
  ARCH=${2:?$USAGE}
  shift 2
fi
ROLE=${1:?$USAGE}
OUT=${2:?$USAGE}
ROOT=$(pwd)
case $ROLE in
  # The CPE carries hag/ too: the one `hybrid-access` command carries both daemons' config code.
  cpe) TREES="src cpe hag" RUNS='^(cpe/|src/|hag/(addr|main|config|daemon))' EXAMPLE=config/cpe.yaml
       UNITS="cpe/deploy/hybrid-access-cpe.init cpe/deploy/hybrid-access-cpe.service" ;;
  # A cli.ts that carries one daemon still starts (src/cli.ts).
  hag) TREES="src hag" RUNS='^(hag/|src/)' EXAMPLE=config/hag.yaml
       UNITS="hag/deploy/hybrid-access-hag.service" ;;
  *) echo "error: role must be cpe or hag, not '$ROLE'" >&2; exit 2 ;;
esac
# The role's V8 flags: ROLE/deploy/node-flags says why; its benchmark (bench-cpe, bench-attacks)
# reads the same file (scripts/lib/node-flags.ts).
FLAGS=$(grep -v '^#' "$ROLE/deploy/node-flags" | tr '\n' ' ' | sed 's/ *$//')
if [ "$ARCH" = "$(uname -m)" ]; then
  ADDON=$ROOT/src/io/tun-tap/build/Release/tun_tap.node
  [ -f "$ADDON" ] || { echo "error: $ADDON is missing: run npm install (it builds the addon)" >&2; exit 1; }
  # The one in build/Release: this machine's, or the target's where an SDK cross-built it there.
  TARGET="the addon in src/io/tun-tap/build/Release"
else
  ADDON=$(bash "$ROOT/scripts/lib/cross-addon.sh" "$ARCH")
  TARGET="$ARCH Linux with glibc"
fi
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# tsc writes its output even when a file elsewhere has type errors; errors in what ROLE runs stop the build.
if ! npx tsc -p tsconfig.build.json --outDir "$STAGE/tsc" >"$STAGE/tsc.log" 2>&1; then
  if grep -E "$RUNS" "$STAGE/tsc.log"; then
    echo "error: tsc reported errors in files the $ROLE runs" >&2
    exit 1
  fi
fi
P=$STAGE/pkg
mkdir -p "$P/dist" "$P/src/io/tun-tap/build/Release"
for t in $TREES; do cp -r "$STAGE/tsc/$t" "$P/dist/"; done
rm -rf "$P/dist/hag/tools" "$P/dist/hag/deploy" "$P/dist/cpe/deploy"
find "$P/dist" -name '*.map' -delete
cp "$ADDON" "$P/src/io/tun-tap/build/Release/"
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo local)
VERSION=$(node -p "require('./package.json').version")-$REVISION
# The revision also for hybrid_access_build_info (src/daemon/build-info.ts).
printf '{"name":"hybrid-access","version":"%s","revision":"%s","type":"module","private":true}\n' "$VERSION" "$REVISION" >"$P/package.json"
for d in $(node scripts/lib/runtime-deps.mjs "$ROOT" pino yaml); do
  mkdir -p "$P/$(dirname "$d")"
  cp -r "$ROOT/$d" "$P/$d"
done
cp "$EXAMPLE" "$P/$ROLE.example.yaml"
# shellcheck disable=SC2086 # a list of files
cp $UNITS "$P/"
tar -C "$P" -czf "$STAGE/payload.tgz" .

mkdir -p "$(dirname "$OUT")"
{
  cat <<HEAD
#!/bin/sh
# hybrid-access $VERSION, the $ROLE as one file for $TARGET (scripts/lib/build-bundle.sh).
# Needs Node >= 22, tar, gzip.
# Unpacks itself once into \${HYBRID_ACCESS_HOME:-/opt/hybrid-access}/$ROLE-$VERSION, then runs
#   node .../dist/src/cli.js "\$@"       e.g.  hybrid-access $ROLE --config /etc/hybrid-access/$ROLE.yaml
set -eu
HOME_DIR=\${HYBRID_ACCESS_HOME:-/opt/hybrid-access}
DIR="\$HOME_DIR/$ROLE-$VERSION"
if [ ! -f "\$DIR/.unpacked" ]; then
  mkdir -p "\$DIR"
  SKIP=\$(awk '/^__PAYLOAD_FOLLOWS__\$/ { print NR + 1; exit }' "\$0")
  tail -n +"\$SKIP" "\$0" | gzip -dc | tar -xf - -C "\$DIR"
  echo "$ROLE" >"\$DIR/.unpacked"
  # Prune: every other unpacked $ROLE version but the one that ran last (it may still be running,
  # and it is the rollback). Only directories this launcher made (.unpacked naming the role) go.
  PREV=\$(cat "\$HOME_DIR/.$ROLE-current" 2>/dev/null || true)
  for d in "\$HOME_DIR"/$ROLE-*; do
    [ "\$d" = "\$DIR" ] && continue
    [ -n "\$PREV" ] && [ "\$d" = "\$HOME_DIR/\$PREV" ] && continue
    [ "\$(cat "\$d/.unpacked" 2>/dev/null || true)" = "$ROLE" ] && rm -rf "\$d"
  done
fi
[ "\$(cat "\$HOME_DIR/.$ROLE-current" 2>/dev/null || true)" = "$ROLE-$VERSION" ] ||
  echo "$ROLE-$VERSION" >"\$HOME_DIR/.$ROLE-current"
[ "\${1:-}" = "--unpack-only" ] && { echo "\$DIR"; exit 0; }
# Override the V8 flags with HYBRID_ACCESS_NODE_FLAGS (empty for V8's defaults).
FLAGS=\${HYBRID_ACCESS_NODE_FLAGS-"$FLAGS"}
# shellcheck disable=SC2086 # the flags are words
exec node \$FLAGS "\$DIR/dist/src/cli.js" "\$@"
__PAYLOAD_FOLLOWS__
HEAD
  cat "$STAGE/payload.tgz"
} >"$OUT"
chmod 755 "$OUT"
echo "$OUT ($(du -h "$OUT" | cut -f1), $ROLE $VERSION, for $TARGET)"
