#!/usr/bin/env bash
# The main job: run the kindling CLI on its bundled demo. Installs and builds
# what it needs on a fresh machine first. Extra arguments go to the CLI.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup
cd "$ROOT"
if [ $# -eq 0 ]; then set -- demo; fi
exec node packages/vmm-reference/bin/kindling.js "$@"
