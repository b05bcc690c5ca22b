#!/bin/sh
# Builds the HAG as one file, dist/hybrid-access-hag.run (scripts/lib/build-bundle.sh does the work).
#   usage: hag/deploy/build-bundle.sh [OUTPUT]   (from the repository root)
set -eu
exec sh "$(dirname "$0")/../../scripts/lib/build-bundle.sh" hag "${1:-$(pwd)/dist/hybrid-access-hag.run}"
