#!/usr/bin/env bash
# The main job on a fresh machine: builds kasane, makes a busybox base image from Debian's
# busybox-static package (no registry needed), imports it and walks the tutorial's image
# commands. State goes to $KASANE_ROOT (default: target/quickstart/root).
#
#   ./scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Build needs (libssl for SHA-2) and the busybox-static package the base image is made from.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in busybox-static libssl-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

cargo build --release --locked
work=target/quickstart
mkdir -p "$work"
export KASANE_ROOT="${KASANE_ROOT:-$PWD/$work/root}"
kasane() { ./target/release/kasane "$@"; }
step() { printf '\n$ kasane %s\n' "$*"; kasane "$@"; }

./scripts/make-busybox-image.sh "$work/busybox.tar.gz"

step import --change 'CMD ["sh"]' "$work/busybox.tar.gz" busybox:latest
step images
step tag busybox:latest myapp:latest
step tag myapp:latest myapp:v1.0.0
step tag myapp:latest myregistry.com/myapp:v1.0.0
step images
step images busybox
step images --format '{{.Repository}}:{{.Tag}} - {{.Size}}'
step inspect --format '{{.Size}}' busybox
step inspect --format '{{len .RootFS.Layers}}' busybox
step inspect --format '{{.Config.Cmd}}' busybox
step history busybox
step save -o "$work/busybox-saved.tar" busybox
step rmi myapp:v1.0.0 myregistry.com/myapp:v1.0.0 myapp:latest
step rmi busybox
step load -i "$work/busybox-saved.tar"
step images --digests
step system df
step image prune -f
step system check
