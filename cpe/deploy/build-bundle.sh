#!/bin/sh
# Builds the CPE as one file, dist/hybrid-access-cpe.run (scripts/lib/build-bundle.sh does the work).
#   usage: cpe/deploy/build-bundle.sh [OUTPUT]   (from the repository root)
set -eu
exec sh "$(dirname "$0")/../../scripts/lib/build-bundle.sh" cpe "${1:-$(pwd)/dist/hybrid-access-cpe.run}"
