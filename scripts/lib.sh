# Shared by scripts/demo.sh and scripts/test.sh: bring a fresh clone to a
# runnable state, and do nothing that is already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAMPS="$ROOT/.kindling-stamps"
PNPM_VERSION="12.4.2"
mkdir -p "$STAMPS"

log() { printf '\033[2m[kindling]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

ensure_pnpm() {
  if command -v pnpm >/dev/null && [ "$(pnpm --version 2>/dev/null)" = "$PNPM_VERSION" ]; then return; fi
  log "installing pnpm@$PNPM_VERSION"
  if ! npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
    as_root npm install -g "pnpm@$PNPM_VERSION" >/dev/null
  fi
}

# Debian packages the tests (and benchmarks) use; installed once, only if missing.
ensure_system_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    log "could not install ${missing[*]} (not root?); tests that need them will skip and say so"
  fi
}

hash_inputs() {
  (cd "$ROOT" && cat pnpm-lock.yaml package.json pnpm-workspace.yaml packages/*/package.json bench/package.json 2>/dev/null) | sha256sum | cut -c1-16
}

ensure_deps() {
  local h; h="$(hash_inputs)"
  if [ -d "$ROOT/node_modules" ] && [ "$(cat "$STAMPS/deps" 2>/dev/null)" = "$h" ]; then return; fi
  log "installing dependencies"
  (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=silent)
  echo "$h" > "$STAMPS/deps"
}

ensure_native() {
  local dir="$ROOT/packages/sys-util"
  local out="$dir/build/Release/kindling_sys.node"
  if [ -f "$out" ] && [ -z "$(find "$dir/native" "$dir/binding.gyp" -newer "$out" 2>/dev/null)" ]; then return; fi
  log "building the native addon"
  (cd "$dir" && node scripts/build-native.cjs >/dev/null)
}

ensure_built() {
  local stamp="$STAMPS/build"
  if [ -f "$stamp" ] && [ -z "$(find "$ROOT/packages" -path '*/node_modules' -prune -o \
      \( -path '*/src/*' -o -path '*/demo/*' -o -name package.json -o -name 'tsup.config.ts' \) -newer "$stamp" -print 2>/dev/null | head -1)" ]; then
    return
  fi
  log "building packages"
  mkdir -p "$ROOT/.cache"
  if ! (cd "$ROOT" && pnpm exec lerna run build >"$ROOT/.cache/build.log" 2>&1); then
    grep -iE "error|failed" "$ROOT/.cache/build.log" | head -40 >&2
    log "the build failed (full log: .cache/build.log)"
    return 1
  fi
  touch "$stamp"
}

setup() {
  ensure_pnpm
  ensure_deps
  ensure_native
  ensure_built
}
