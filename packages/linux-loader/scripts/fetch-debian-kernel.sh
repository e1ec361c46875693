#!/usr/bin/env bash
# Fetch Debian's stock x86-64 kernel for linux-loader's real-input tests.
#
# Resolves the versioned package that `linux-image-amd64` depends on
# (linux-image-6.*-amd64), downloads it with `apt-get download`, unpacks it with
# `dpkg-deb -x` into a cache outside the repository and prints the path of the
# bzImage (boot/vmlinuz-*) on stdout. Nothing is installed on the system.
#
# Cache: ${KINDLING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kindling}/debian-kernel/<package>_<version>/
# Exit status: 0 with the path on stdout; 2 (with the reason on stderr) when
# apt cannot reach the Debian archive or the package cannot be resolved.
set -euo pipefail

CACHE_ROOT="${KINDLING_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kindling}/debian-kernel"
mkdir -p "$CACHE_ROOT"

skip() { echo "fetch-debian-kernel: $*" >&2; exit 2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

command -v apt-get >/dev/null || skip "apt-get not found (not a Debian system)"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not found"

# Fast path: a complete cached extraction (any version) when the archive is not asked about.
latest_cached() {
  local d
  for d in $(ls -1dt "$CACHE_ROOT"/*/ 2>/dev/null); do
    if [ -f "$d/.complete" ]; then
      ls -1 "$d"/boot/vmlinuz-* 2>/dev/null | head -n1 && return 0
    fi
  done
  return 1
}

resolve() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-6\.[^ ]*-amd64\)$/\1/p' | head -n1
}

pkg="$(resolve || true)"
if [ -z "$pkg" ]; then
  # The package lists may be missing on a fresh machine: refresh them once.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  pkg="$(resolve || true)"
fi
if [ -z "$pkg" ]; then
  if cached="$(latest_cached)"; then echo "$cached"; exit 0; fi
  skip "cannot resolve linux-image-amd64's kernel package (apt lists unavailable or archive unreachable)"
fi

version="$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1)"
[ -n "$version" ] && [ "$version" != "(none)" ] || version="unknown"
dest="$CACHE_ROOT/${pkg}_${version}"

if [ -f "$dest/.complete" ]; then
  ls -1 "$dest"/boot/vmlinuz-* | head -n1
  exit 0
fi

# Serialise concurrent test workers on the download.
exec 9>"$CACHE_ROOT/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -f "$dest/.complete" ]; then
  ls -1 "$dest"/boot/vmlinuz-* | head -n1
  exit 0
fi

work="$(mktemp -d "$CACHE_ROOT/.dl.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; run it as the _apt user
# would fail on a root-owned mktemp dir, so make it readable/writable.
chmod 0777 "$work"
if ! (cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>"$work/apt.err"); then
  if cached="$(latest_cached)"; then echo "$cached"; exit 0; fi
  skip "apt-get download $pkg failed: $(tail -n 3 "$work/apt.err" | tr '\n' ' ')"
fi
deb="$(ls -1 "$work"/*.deb | head -n1)"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
dpkg-deb -x "$deb" "$dest.tmp"
ls "$dest.tmp"/boot/vmlinuz-* >/dev/null 2>&1 || skip "no boot/vmlinuz-* in $pkg"
# Keep only boot/ (the modules are ~400 MB and no test reads them).
find "$dest.tmp" -mindepth 1 -maxdepth 1 ! -name boot -exec rm -rf {} +
touch "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
ls -1 "$dest"/boot/vmlinuz-* | head -n1
