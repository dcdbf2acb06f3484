#!/usr/bin/env bash
# Container benchmark: `run --rm IMAGE true` latency and the start of three detached
# containers, kasane side by side with podman (crun and runc) — and docker when Debian's
# dockerd is installed and starts — on the same busybox image, in one run, with ratios.
#
#   bench/containers.sh        (as root; RUNS=N timed runs, default 30)
#
# kasane runs with its default network (a private namespace with loopback only); the peers
# with `--network none`, since their default bridges use private addresses. Timings are never
# asserted. Everything lives under $W (default /var/tmp/kasane-bench-containers).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
REPO=$PWD
W=${W:-/var/tmp/kasane-bench-containers}
RUNS=${RUNS:-30}
OUT=$W/results
mkdir -p "$W" "$OUT"
HF_WARMUP=2
[ "$(id -u)" = 0 ] || { echo "run as root (containers need it)" >&2; exit 1; }

need=()
for p in hyperfine podman jq crun runc busybox; do command -v "$p" >/dev/null || need+=("$p"); done
[ -x /bin/busybox ] && file -b /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
if [ "${NO_DOCKER:-0}" != 1 ] && ! command -v dockerd >/dev/null; then need+=(docker.io); fi
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]/busybox/busybox-static}" >/dev/null || true
fi
# crun refuses hybrid cgroup hosts whose v2 hierarchy still holds controllers: bind them to v1.
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] && [ -d /sys/fs/cgroup/memory ]; then
  for c in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
    mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || true
  done
fi

if [ -z "${KASANE:-}" ]; then
  log "building kasane (release)"
  cargo build --release --locked -q -p kasane
  KASANE=$REPO/target/release/kasane
fi
ARCHIVE=$W/busybox.tar
[ -f "$ARCHIVE" ] || cargo run --release --locked -q -p kasane-testsupport --example busybox_archive -- "$ARCHIVE" bench/busybox:latest
IMG=bench/busybox:latest

# podman (as root) asks for RLIMIT_NOFILE/NPROC of 1048576 in every container; a host whose root
# lacks CAP_SYS_RESOURCE refuses that ("setrlimit RLIMIT_NOFILE: Operation not permitted"). Give
# podman the host's hard limits instead, as kasane's specs do.
hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
{ [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 32768 ]; } && hard_nproc=32768
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
  "$hard_nofile" "$hard_nofile" "$hard_nproc" "$hard_nproc" >"$W/containers.conf"
export CONTAINERS_CONF=$W/containers.conf

KROOT=$W/kasane-root
PROOT=$W/podman
PODMAN="podman --root $PROOT/storage --runroot $PROOT/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend none"
rm -rf "$KROOT"
$KASANE --root "$KROOT" load -q -i "$ARCHIVE" >/dev/null
$PODMAN load -q -i "$ARCHIVE" >/dev/null

start_dockerd
if [ -n "$DOCKERD_PID" ]; then
  if [ "$DOCKER_OK" = 1 ]; then
    "$DOCKER_CLIENT" -H "unix://$DOCKER_DIR/docker.sock" load -q -i "$ARCHIVE" >/dev/null || DOCKER_OK=0
  fi
  [ "$DOCKER_OK" = 1 ] || log "dockerd did not start or load; docker is left out (see $DOCKER_DIR/dockerd.log)"
fi

declare -A T
three() { # three NAME CLI EXTRA -> start 3 detached busybox containers
  echo "for i in 1 2 3; do $2 run -d $3 --name bench-\$i $IMG sleep 60 >/dev/null; done"
}
cleanup3() { echo "$1 rm -f bench-1 bench-2 bench-3 >/dev/null 2>&1 || true"; }

log "run --rm true"
T[run_kasane]=$(hf run_kasane "$RUNS" "true" "$KASANE --root $KROOT run --rm $IMG true")
T[run_kasane_crun]=$(hf run_kasane_crun "$RUNS" "true" "$KASANE --root $KROOT run --rm --runtime crun $IMG true")
T[run_podman]=$(hf run_podman "$RUNS" "true" "$PODMAN run --rm --network none --runtime crun $IMG true")
T[run_podman_runc]=$(hf run_podman_runc "$RUNS" "true" "$PODMAN run --rm --network none --runtime runc $IMG true")
[ "$DOCKER_OK" = 1 ] && T[run_docker]=$(hf run_docker "$RUNS" "true" "$DOCKER run --rm --network none $IMG true")

log "three detached containers"
R3=$(( RUNS / 3 > 5 ? RUNS / 3 : 5 ))
T[three_kasane]=$(hf three_kasane "$R3" "$(cleanup3 "$KASANE --root $KROOT")" "$(three k "$KASANE --root $KROOT" "")")
T[three_podman]=$(hf three_podman "$R3" "$(cleanup3 "$PODMAN")" "$(three p "$PODMAN" "--network none --runtime crun")")
[ "$DOCKER_OK" = 1 ] && T[three_docker]=$(hf three_docker "$R3" "$(cleanup3 "$DOCKER")" "$(three d "$DOCKER" "--network none")")
eval "$(cleanup3 "$KASANE --root $KROOT")"; eval "$(cleanup3 "$PODMAN")"
[ "$DOCKER_OK" = 1 ] && eval "$(cleanup3 "$DOCKER")"

printf '\ncontainer benchmark: busybox image, median of %s runs (three-container start: %s runs)\n\n' "$RUNS" "$R3"
ms() { awk -v v="$1" 'BEGIN { if (v == "NaN" || v == "") print "-"; else printf "%.1f ms", v * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NaN" || b == "NaN" || a == "" || b == "") print "-"; else printf "%.2fx", a / b }'; }
printf '%-40s %12s %14s\n' "" time "peer/kasane"
printf '%-40s %12s %14s\n' "kasane run --rm true (embedded)" "$(ms "${T[run_kasane]}")" ""
printf '%-40s %12s %14s\n' "kasane run --rm --runtime crun true" "$(ms "${T[run_kasane_crun]}")" ""
printf '%-40s %12s %14s\n' "podman run --rm --network none (crun)" "$(ms "${T[run_podman]}")" "$(ratio "${T[run_podman]}" "${T[run_kasane]}")"
printf '%-40s %12s %14s\n' "podman run --rm --network none (runc)" "$(ms "${T[run_podman_runc]}")" "$(ratio "${T[run_podman_runc]}" "${T[run_kasane]}")"
printf '%-40s %12s %14s\n' "docker run --rm --network none" "$(ms "${T[run_docker]:-NaN}")" "$(ratio "${T[run_docker]:-NaN}" "${T[run_kasane]}")"
printf '\n%-40s %12s %14s\n' "3 x run -d (kasane)" "$(ms "${T[three_kasane]}")" ""
printf '%-40s %12s %14s\n' "3 x run -d (podman, crun)" "$(ms "${T[three_podman]}")" "$(ratio "${T[three_podman]}" "${T[three_kasane]}")"
printf '%-40s %12s %14s\n' "3 x run -d (docker)" "$(ms "${T[three_docker]:-NaN}")" "$(ratio "${T[three_docker]:-NaN}" "${T[three_kasane]}")"
printf '\ntarget: kasane run --rm true under 40 ms and at least 3x faster than podman\n'
