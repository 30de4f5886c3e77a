#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus' rule and config checker) for the deploy/ tests, fetching
# one into .run/prometheus the first time: Debian's `prometheus` package is downloaded and unpacked,
# not installed, so no Prometheus service is started.
#
#   scripts/promtool.sh        prints the path (status messages go to stderr)
#
# Order: $PROMTOOL if set, promtool on PATH, .run/prometheus/usr/bin/promtool, then the fetch
# (`apt-get download prometheus`; `apt-get update` first only when the download fails).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/.run/prometheus
BIN=$DEST/usr/bin/promtool

say() { echo "promtool: $*" >&2; }
die() {
  echo "promtool: ERROR: $*" >&2
  exit 1
}

works() { "$1" --version >/dev/null 2>&1; }

if [[ -n ${PROMTOOL:-} ]]; then
  works "$PROMTOOL" || die "PROMTOOL=$PROMTOOL does not run"
  echo "$PROMTOOL"
  exit 0
fi
if command -v promtool >/dev/null && works "$(command -v promtool)"; then
  command -v promtool
  exit 0
fi
if [[ -x $BIN ]] && works "$BIN"; then
  echo "$BIN"
  exit 0
fi

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
  die "no promtool on PATH and no apt-get to fetch one: install Prometheus 2.x's promtool or set PROMTOOL"

mkdir -p "$ROOT/.run"
# A private work dir, moved into place at the end, so that two runs at once cannot see half a tree.
WORK=$(mktemp -d "$ROOT/.run/promtool-fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# As root, apt would hand the download to its _apt user, who cannot write into .run/ (and says so).
apt_opts=()
if ((EUID == 0)); then apt_opts=(-o APT::Sandbox::User=root); fi
download() { (cd "$WORK" && apt-get download -q "${apt_opts[@]}" prometheus >&2); }

say "fetching Debian's prometheus package into .run/prometheus (promtool only, nothing is installed)"
if ! download; then
  say "apt-get download failed; refreshing the package lists and trying again"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo for apt-get update: install promtool or set PROMTOOL"
    sudo=(sudo -n)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  download || die "apt-get download prometheus failed"
fi

debs=("$WORK"/prometheus_*.deb)
[[ -f ${debs[0]} ]] || die "apt-get download left no prometheus_*.deb"
dpkg-deb -x "${debs[0]}" "$WORK/tree"
works "$WORK/tree/usr/bin/promtool" || die "the promtool from ${debs[0]##*/} does not run"
# Only promtool is needed; the rest of the package (the server, its web assets) is left out.
mkdir -p "$WORK/keep/usr/bin"
mv "$WORK/tree/usr/bin/promtool" "$WORK/keep/usr/bin/promtool"
# Another run may have finished first; a broken earlier tree is replaced.
if ! works "$BIN"; then
  rm -rf "$DEST"
  mv "$WORK/keep" "$DEST" 2>/dev/null || works "$BIN" || die "could not move promtool into $DEST"
fi
say "$("$BIN" --version 2>&1 | head -n1)"
echo "$BIN"
