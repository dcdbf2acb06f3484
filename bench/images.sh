#!/usr/bin/env bash
# Image-store benchmark: load, save, images and inspect of a ~480 MB six-layer image
# (docker-archive, as `docker save` writes it), kasane side by side with podman — and docker
# when Debian's dockerd is installed and starts — in one run, with ratios.
#
#   bench/images.sh            (as root; RUNS=N to change the number of timed runs)
#
# Every I/O-heavy run starts from an empty store and dropped page caches (`FLUSH=0` keeps the
# caches), or back-to-back runs drift. The floor is `tar -x` of the same layer tars.
# Everything heavy lives under $W (default /var/tmp/kasane-bench). Timings are never asserted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
REPO=$PWD
W=${W:-/var/tmp/kasane-bench}
RUNS=${RUNS:-5}
FIX=$W/fixtures
OUT=$W/results
mkdir -p "$W" "$OUT"
HF_WARMUP=1

# Helpers run by hyperfine --prepare (through this script, so they see the same settings).
if [ "${1:-}" = _flush ]; then sync; [ "${FLUSH:-1}" = 0 ] || echo 3 >/proc/sys/vm/drop_caches; exit 0; fi
if [ "${1:-}" = _wipe ]; then
  shift
  for d in "$@"; do
    [ -e "$d" ] || continue
    # podman's overlay store may leave mounts behind; undo them before deleting.
    { grep -o " $d[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$d"
  done
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "run as root (podman's store, dropping caches)" >&2; exit 1; }

need=()
for p in hyperfine podman jq; do command -v "$p" >/dev/null || need+=("$p"); done
# docker is measured too where Debian's dockerd starts (NO_DOCKER=1 leaves it out).
if [ "${NO_DOCKER:-0}" != 1 ] && ! command -v dockerd >/dev/null; then need+=(docker.io); fi
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

log "building kasane (release)"
cargo build --release --locked -q -p kasane
KASANE=$REPO/target/release/kasane
if [ ! -f "$FIX/multilayer.tar" ]; then
  log "making fixtures in $FIX"
  cargo run --release --locked -q -p kasane-testsupport --example bench_fixture -- "$FIX" >/dev/null
fi
ARCHIVE=$FIX/multilayer.tar
SIZE=$(stat -c %s "$ARCHIVE")

self="bash $REPO/bench/images.sh"

PODMAN_ROOT=$W/podman
podman_cmd() { echo "podman --root $PODMAN_ROOT/storage --runroot $PODMAN_ROOT/run --storage-driver overlay"; }
KROOT=$W/kasane-root

start_dockerd
if [ -n "$DOCKERD_PID" ] && [ "$DOCKER_OK" != 1 ]; then
  log "dockerd did not start; docker is left out (see $DOCKER_DIR/dockerd.log)"
fi

declare -A T
log "load: kasane"
T[load_kasane]=$(hf load_kasane "$RUNS" "$self _wipe $KROOT; $self _flush" "$KASANE --root $KROOT load -q -i $ARCHIVE")
log "load: podman"
T[load_podman]=$(hf load_podman "$RUNS" "$self _wipe $PODMAN_ROOT; $self _flush" "$(podman_cmd) load -q -i $ARCHIVE")
if [ "$DOCKER_OK" = 1 ]; then
  log "load: docker"
  T[load_docker]=$(hf load_docker "$RUNS" "$DOCKER rmi -f bench/multilayer:v1 >/dev/null 2>&1; $DOCKER image prune -af >/dev/null; $self _flush" "$DOCKER load -q -i $ARCHIVE")
fi
log "load floor: tar -x of the layer tars"
LAYERS=$(tar -tvf "$ARCHIVE" | awk '$6 ~ /^blobs\/sha256\// && $3 > 100000 { print $6 }' | tr '\n' ' ')
mkdir -p "$W/floor-src"; tar -xf "$ARCHIVE" -C "$W/floor-src" $LAYERS
FLOOR_CMD="for l in $LAYERS; do mkdir -p $W/floor/\$(basename \$l); tar -xf $W/floor-src/\$l -C $W/floor/\$(basename \$l) & done; wait"
T[load_floor]=$(hf load_floor "$RUNS" "$self _wipe $W/floor; $self _flush" "$FLOOR_CMD")

# Stores with the image, for save/images/inspect.
$self _wipe "$KROOT" "$PODMAN_ROOT"
$KASANE --root "$KROOT" load -q -i "$ARCHIVE"
$(podman_cmd) load -q -i "$ARCHIVE" >/dev/null
log "save"
T[save_kasane]=$(hf save_kasane "$RUNS" "rm -f $W/k.tar; $self _flush" "$KASANE --root $KROOT save -o $W/k.tar bench/multilayer:v1")
T[save_podman]=$(hf save_podman "$RUNS" "rm -f $W/p.tar; $self _flush" "$(podman_cmd) save -o $W/p.tar bench/multilayer:v1")
[ "$DOCKER_OK" = 1 ] && T[save_docker]=$(hf save_docker "$RUNS" "rm -f $W/d.tar; $self _flush" "$DOCKER save -o $W/d.tar bench/multilayer:v1")
log "images, inspect (warm)"
T[images_kasane]=$(hf images_kasane 30 "true" "$KASANE --root $KROOT images >/dev/null")
T[images_podman]=$(hf images_podman 30 "true" "$(podman_cmd) images >/dev/null")
T[inspect_kasane]=$(hf inspect_kasane 30 "true" "$KASANE --root $KROOT inspect bench/multilayer:v1 >/dev/null")
T[inspect_podman]=$(hf inspect_podman 30 "true" "$(podman_cmd) image inspect bench/multilayer:v1 >/dev/null")
if [ "$DOCKER_OK" = 1 ]; then
  T[images_docker]=$(hf images_docker 30 "true" "$DOCKER images >/dev/null")
  T[inspect_docker]=$(hf inspect_docker 30 "true" "$DOCKER inspect bench/multilayer:v1 >/dev/null")
fi
$self _wipe "$W/floor" "$W/floor-src" "$W/k.tar" "$W/p.tar" "$W/d.tar"

printf '\nimage store benchmark: %s (%d MB docker-archive, 6 layers), %s runs, caches dropped for load/save\n\n' \
  "$(basename "$ARCHIVE")" $((SIZE / 1000000)) "$RUNS"
printf '%-8s %10s %10s %10s %14s %14s\n' op kasane podman docker "podman/kasane" "docker/kasane"
for op in load save images inspect; do
  k=${T[${op}_kasane]:-NaN}; p=${T[${op}_podman]:-NaN}; d=${T[${op}_docker]:-NaN}
  awk -v op="$op" -v k="$k" -v p="$p" -v d="$d" 'BEGIN {
    printf "%-8s %9.3fs %9.3fs %10s %13.2fx %14s\n", op, k, p, (d == "NaN" ? "-" : sprintf("%.3fs", d)),
      p / k, (d == "NaN" ? "-" : sprintf("%.2fx", d / k)) }'
done
awk -v k="${T[load_kasane]}" -v f="${T[load_floor]}" 'BEGIN {
  printf "\nload floor (tar -x of the layers, in parallel): %.3fs; kasane load / floor = %.2fx\n", f, k / f }'
