#!/bin/sh
# Builds the CPE as one file, dist/hybrid-access-cpe.run (scripts/lib/build-bundle.sh does the work).
#   usage: cpe/deploy/build-bundle.sh [--arch aarch64] [OUTPUT]   (from the repository root; the
#          default is this machine's architecture, and then dist/hybrid-access-cpe-aarch64.run)
set -eu
ARCH=${HA_ARCH:-$(uname -m)}
if [ "${1:-}" = "--arch" ]; then
  ARCH=${2:?usage: build-bundle.sh [--arch aarch64] [OUTPUT]}
  shift 2
fi
if [ "$ARCH" = "$(uname -m)" ]; then DEFAULT=$(pwd)/dist/hybrid-access-cpe.run
else DEFAULT=$(pwd)/dist/hybrid-access-cpe-$ARCH.run; fi
exec sh "$(dirname "$0")/../../scripts/lib/build-bundle.sh" --arch "$ARCH" cpe "${1:-$DEFAULT}"
