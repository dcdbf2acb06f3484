#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine and runs every test:
# formatting, lints, unit/property tests and the end-to-end tests that drive the real
# `kasane` binary (with podman, skopeo and umoci as peers when run as root).
#
#   ./scripts/test.sh
#
# As root it installs the peers from Debian (apt); as another user the tests that need root
# or a peer skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(libssl-dev libseccomp-dev pkg-config curl tini podman skopeo umoci crun runc docker-registry busybox-static pigz zstd xz-utils bzip2 jq uidmap)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# A hybrid cgroup host (v1 controllers, plus a v2 hierarchy that still holds some) makes crun
# refuse every container; binding those controllers to v1 hierarchies lets the runtime suite
# run crun for real (kasane says the same when crun fails this way). Not `-s`: cgroup files
# report a size of 0.
if [ "$(id -u)" = 0 ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] && [ -d /sys/fs/cgroup/memory ]; then
  for c in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
    mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || true
  done
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked --no-fail-fast
