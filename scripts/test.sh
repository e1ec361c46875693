#!/usr/bin/env bash
# The whole test suite: lint, type-check, every package's tests (KVM ones on
# real /dev/kvm). Installs what it needs on a fresh machine first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_system_packages busybox-static musl-tools runsc xz-utils
setup
cd "$ROOT"

log "lint (biome)"
pnpm exec biome check .
log "type-check (tsc -b)"
pnpm exec tsc -b
log "tests (vitest)"
mkdir -p .cache
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@" || status=$?
node scripts/summarize-tests.mjs .cache/vitest.json || true
exit $status
