#!/usr/bin/env bash
# The whole test suite: lint, type-check, every package's tests (KVM ones on
# real /dev/kvm). Installs what it needs on a fresh machine first. Every stage
# runs even when an earlier one fails; the exit status is non-zero if any did.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_system_packages busybox-static musl-tools runsc xz-utils
setup
cd "$ROOT"

failed=()
log "lint (biome)"
pnpm exec biome check . || failed+=("lint")
log "type-check (tsc -b)"
pnpm exec tsc -b || failed+=("type-check")
log "tests (vitest)"
mkdir -p .cache
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@" || failed+=("tests")
node scripts/summarize-tests.mjs .cache/vitest.json || true
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
