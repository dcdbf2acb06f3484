#!/usr/bin/env bash
# Registry benchmark: pull+unpack from a local registry and push to an empty one, kasane side by
# side with podman, skopeo (+umoci unpack for pulls) and docker (where Debian's dockerd starts),
# in one run, with ratios and a decompress+extract floor.
#
#   bench/registry.sh          (as root; RUNS=N timed runs per measurement, median reported)
#
# Fixtures (made once, kept as OCI layouts with gzip layers under $FIX/oci/, re-made with
# FORCE_FIXTURES=1):
#   busybox  scripts/make-busybox-image.sh + kasane import (one layer, ~1 MB gz)
#   debian   scripts/make-debian-image.sh (debootstrap minbase; needs root and the Debian mirror,
#            skipped with a message when that fails, when OFFLINE=1, or use DEBIAN_TARBALL=FILE)
#   big      bench_fixture's multilayer.tar (six layers, 476 MB of tar), gzip-compressed by
#            `skopeo copy` (Go's parallel gzip, as registries usually hold): ~300 MB gz
# Every run gets its own private `docker-registry serve` instances on free 127.0.0.1 ports with
# filesystem storage in a temp dir: one holds the fixtures (the pull source), the other is the
# push target, emptied before every push run (it runs without a blob-descriptor cache, so
# deleting its storage makes it a fresh registry). Nothing leaves 127.0.0.1, except apt-get for
# missing tools and debootstrap for the debian fixture (both skipped with OFFLINE=1).
#
# Every timed run starts from an empty store and, as root, dropped page caches
# (`sync; echo 3 > /proc/sys/vm/drop_caches`; FLUSH=0 keeps the caches).
#   pull+unpack: kasane pull | podman pull (overlay) | skopeo copy docker:// oci: + umoci unpack
#                | docker pull (private dockerd, overlay2)
#   floor:       the image's layer blobs (fetched once with curl) through `pigz -dc | tar -x`,
#                one directory per layer, sequentially and all layers in parallel; the faster
#   push:        kasane push | skopeo copy oci: docker:// (from the oci layout skopeo pulled)
#                | podman push | docker push, each from the store its own pull left
#
# Environment: RUNS (3), WARMUP (0), FIXTURES ("busybox debian big"), W (/var/tmp/kasane-bench;
# fixtures in $W/fixtures, results in $W/results/registry), FLUSH (1), NO_DOCKER=1, OFFLINE=1,
# DEBIAN_TARBALL, FORCE_FIXTURES=1, KEEP=1 (keep the temp dir and its stores), KASANE=BINARY
# (measure that binary instead of building target/release/kasane).
# Every peer tool is optional (n/a when missing); kasane, skopeo, docker-registry, hyperfine,
# jq and curl are required. Timings are never asserted.
set -euo pipefail

# Helpers run by hyperfine --prepare (through this script, so they see the same settings).
if [ "${1:-}" = _flush ]; then
  sync
  if [ "${FLUSH:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
  exit 0
fi
if [ "${1:-}" = _wipe ]; then
  shift
  for d in "$@"; do
    [ -e "$d" ] || continue
    # podman's and kasane's overlay stores may leave mounts behind; undo them (deepest first).
    awk -v d="$d" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # rootless podman leaves files owned by sub-uids: only its user namespace can delete them
    rm -rf --one-file-system "$d" 2>/dev/null ||
      { [ "$(id -u)" != 0 ] && command -v podman >/dev/null && podman unshare rm -rf "$d"; } ||
      rm -rf --one-file-system "$d"
  done
  exit 0
fi
if [ "${1:-}" = _docker_wipe ]; then # _docker_wipe CLIENT SOCKET: remove every image
  ids=$("$2" -H "unix://$3" images -aq | sort -u)
  [ -z "$ids" ] || "$2" -H "unix://$3" rmi -f $ids >/dev/null
  exit 0
fi
case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: bench/registry.sh   (see --help)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
REPO=$PWD
SELF="bash $REPO/bench/registry.sh"
W=${W:-/var/tmp/kasane-bench}
FIX=$W/fixtures
OUT=$W/results/registry
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-0}
FIXTURES=${FIXTURES:-busybox debian big}
SUITE=${SUITE:-bookworm}
export SUITE
mkdir -p "$FIX" "$OUT"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
if [ "$ROOT" = 0 ]; then
  log "not root: page caches are NOT dropped between runs, nothing is installed, dockerd is left out," \
    "and podman/umoci run rootless (they may fail: n/a)"
elif [ "${FLUSH:-1}" = 0 ]; then
  log "FLUSH=0: page caches are kept between runs"
fi

# ------------------------------------------------------------------------------ tools
if [ "$ROOT" = 1 ] && [ "${OFFLINE:-0}" != 1 ]; then
  need=()
  for pair in hyperfine:hyperfine jq:jq curl:curl docker-registry:docker-registry skopeo:skopeo \
    umoci:umoci podman:podman pigz:pigz; do
    have "${pair%%:*}" || need+=("${pair#*:}")
  done
  if [ "${NO_DOCKER:-0}" != 1 ] && ! have dockerd; then need+=(docker.io); fi
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq
    # docker.io's service may fail to start (no systemd): fine, this script starts dockerd itself.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
      log "apt-get install failed; going on with what is installed"
  fi
fi
for t in hyperfine jq curl docker-registry skopeo; do
  have "$t" || die "$t is required (apt-get install $t)"
done
HAVE_PODMAN=0 HAVE_UMOCI=0 HAVE_PIGZ=0
have podman && HAVE_PODMAN=1
have umoci && HAVE_UMOCI=1
have pigz && HAVE_PIGZ=1
[ "$HAVE_PODMAN" = 1 ] || log "podman missing: its columns are n/a"
[ "$HAVE_UMOCI" = 1 ] || log "umoci missing: skopeo+umoci pull is n/a"
GUNZIP="pigz -dc"
[ "$HAVE_PIGZ" = 1 ] || { GUNZIP="gzip -dc"; log "pigz missing: the floor uses gzip -dc"; }

KASANE_PREBUILT=${KASANE:-}
KVER=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?') # the tree that is built
[ -z "$KASANE_PREBUILT" ] || KVER="$KASANE (prebuilt)"
if [ -n "$KASANE_PREBUILT" ]; then
  [ -x "$KASANE" ] || die "KASANE=$KASANE is not an executable"
  log "using KASANE=$KASANE (not building)"
else
  log "building kasane (release)"
  cargo build --release -q -p kasane ||
    die "cargo build --release -p kasane failed (KASANE=/path/to/kasane measures a prebuilt binary)"
  KASANE=$REPO/target/release/kasane
fi

# ------------------------------------------------------------------------------ temp dir, cleanup
T=$(mktemp -d "$W/registry.XXXXXX")
PRUN=$(mktemp -d /tmp/kregb.XXXXXX) # podman wants a --runroot shorter than 50 characters
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/*.err
PIDS=()
DOCKERD_PID=
cleanup() {
  local rc=$? p
  set +e
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    kill -TERM "$DOCKERD_PID" # dockerd stops the containerd it started
    for _ in $(seq 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
  fi
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: left $T"
  else
    $SELF _wipe "$T"
  fi
  $SELF _wipe "$PRUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ fixtures
# OCI layouts with gzip layers, tag "1"; made once (FORCE_FIXTURES=1 re-makes them).
oci_from() { # NAME SKOPEO-SOURCE: compress into $FIX/oci/NAME, atomically
  local name=$1 src=$2 dst=$FIX/oci/$1
  rm -rf "$dst.tmp"
  mkdir -p "$FIX/oci"
  skopeo copy -q "$src" "oci:$dst.tmp:1" >/dev/null
  rm -rf "$dst"
  mv "$dst.tmp" "$dst"
}
oci_from_rootfs() { # NAME ROOTFS.tar[.gz]: kasane import, kasane save, skopeo → layout
  local name=$1 tarball=$2 k=$T/fixture-$1
  "$KASANE" --root "$k" import "$tarball" "bench/$name:1" >/dev/null
  "$KASANE" --root "$k" save -o "$k.tar" "bench/$name:1"
  oci_from "$name" "docker-archive:$k.tar"
  $SELF _wipe "$k" "$k.tar"
}
fixture_ok() { [ -s "$FIX/oci/$1/index.json" ]; }
[ "${FORCE_FIXTURES:-0}" != 1 ] || rm -rf "$FIX/oci"

READY=()
for f in $FIXTURES; do
  case $f in
    busybox)
      if ! fixture_ok busybox; then
        log "fixture busybox: make-busybox-image.sh + kasane import"
        bash scripts/make-busybox-image.sh "$T/busybox.tar.gz"
        oci_from_rootfs busybox "$T/busybox.tar.gz"
      fi
      READY+=(busybox) ;;
    debian)
      if ! fixture_ok debian; then
        tarball=${DEBIAN_TARBALL:-$FIX/debian-$SUITE-minbase.tar.gz}
        if [ ! -s "$tarball" ]; then
          if [ -n "${DEBIAN_TARBALL:-}" ]; then
            log "fixture debian: DEBIAN_TARBALL=$DEBIAN_TARBALL does not exist: skipping the debian fixture"
          elif [ "${OFFLINE:-0}" = 1 ]; then
            log "fixture debian: no $tarball and OFFLINE=1 (make-debian-image.sh debootstraps from the" \
              "Debian mirror): skipping the debian fixture (DEBIAN_TARBALL=FILE uses a prepared rootfs tarball)"
          elif [ "$ROOT" = 0 ]; then
            log "fixture debian: debootstrap needs root: skipping the debian fixture"
          else
            log "fixture debian: make-debian-image.sh (debootstrap minbase $SUITE; needs the Debian mirror)"
            bash scripts/make-debian-image.sh "$FIX" ||
              log "fixture debian: make-debian-image.sh failed (no network?): skipping the debian fixture"
          fi
        fi
        if [ -s "$tarball" ]; then
          log "fixture debian: kasane import $tarball"
          oci_from_rootfs debian "$tarball"
        fi
      fi
      if fixture_ok debian; then READY+=(debian); fi ;;
    big)
      if ! fixture_ok big; then
        if [ ! -s "$FIX/multilayer.tar" ] || [ "${FORCE_FIXTURES:-0}" = 1 ]; then
          log "fixture big: bench_fixture (six layers, ~476 MB of tar)"
          cargo run --release -q -p kasane-testsupport --example bench_fixture -- "$FIX" >/dev/null
        fi
        log "fixture big: gzip-compressing the layers with skopeo"
        oci_from big "docker-archive:$FIX/multilayer.tar"
      fi
      READY+=(big) ;;
    *) die "unknown fixture $f (FIXTURES takes busybox, debian, big)" ;;
  esac
done
((${#READY[@]})) || die "no fixture to measure"

# ------------------------------------------------------------------------------ registries
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_registry() { # NAME DATADIR CACHE(yes|no): starts it on a free port, sets REG_PORT
  local name=$1 data=$2 cache=$3 port pid try
  for try in 1 2 3 4 5; do
    port=$((30000 + RANDOM % 30000))
    port_free "$port" || continue
    mkdir -p "$data"
    cache_yaml=
    [ "$cache" = yes ] && cache_yaml=$'  cache:\n    blobdescriptor: inmemory'
    cat >"$T/$name.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
$cache_yaml
http:
  addr: 127.0.0.1:$port
health:
  storagedriver:
    enabled: false
EOF
    docker-registry serve "$T/$name.yml" >"$T/$name.log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && { PIDS+=("$pid"); REG_PORT=$port; return 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    log "registry $name did not come up on 127.0.0.1:$port (try $try): $(tail -1 "$T/$name.log")"
  done
  die "could not start docker-registry ($name); see $T/$name.log"
}
start_registry source "$T/reg-source" yes
SRC=127.0.0.1:$REG_PORT
start_registry push "$T/reg-push" no
DST=127.0.0.1:$REG_PORT
PUSH_DATA=$T/reg-push
log "registries: pull source $SRC, push target $DST (storage in $T)"

declare -A GZ NLAYERS TARSIZE
for f in "${READY[@]}"; do
  log "seeding $SRC/bench/$f:1 (skopeo copy oci: docker://)"
  skopeo copy -q --dest-tls-verify=false "oci:$FIX/oci/$f:1" "docker://$SRC/bench/$f:1" >/dev/null
  mdigest=$(jq -r '.manifests[0].digest' "$FIX/oci/$f/index.json")
  manifest=$FIX/oci/$f/blobs/sha256/${mdigest#sha256:}
  GZ[$f]=$(jq '[.layers[].size] | add' "$manifest")
  NLAYERS[$f]=$(jq '.layers | length' "$manifest")
done

# ------------------------------------------------------------------------------ dockerd
DOCKER_CLIENT=$(command -v /usr/bin/docker || command -v docker || echo docker)
DOCKER_OK=0
DOCKER_SOCK=$T/docker/docker.sock
DOCKER="$DOCKER_CLIENT -H unix://$DOCKER_SOCK"
if [ "${NO_DOCKER:-0}" = 1 ]; then
  log "NO_DOCKER=1: docker is left out"
elif [ "$ROOT" = 0 ] || ! have dockerd; then
  log "dockerd $([ "$ROOT" = 0 ] && echo 'needs root' || echo 'is not installed'): docker is left out"
else
  mkdir -p "$T/docker"
  log "starting dockerd (private data root, no bridge, no iptables)"
  dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --data-root "$T/docker/data" --exec-root "$T/docker/exec" --pidfile "$T/docker/dockerd.pid" \
    --containerd-namespace kasane-regbench --containerd-plugins-namespace kasane-regbench-plugins \
    -H "unix://$DOCKER_SOCK" >"$T/docker/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  for _ in $(seq 150); do
    if $DOCKER version >/dev/null 2>&1; then DOCKER_OK=1; break; fi
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.2
  done
  [ "$DOCKER_OK" = 1 ] || log "dockerd did not start; docker is left out ($(tail -1 "$T/docker/dockerd.log"))"
fi

# ------------------------------------------------------------------------------ measuring
# R[op,fixture,tool] = median seconds, "n/a" (tool missing or not measured) or "FAIL".
declare -A R
TSV=$OUT/registry.tsv
printf 'op\tfixture\ttool\tmedian_s\tmin_s\tmax_s\truns\tcommand\n' >"$TSV"
FAILS=()

# hf OP FIXTURE TOOL PREPARE COMMAND: hyperfine RUNS runs; the command's output goes to a log.
hf() {
  local op=$1 fx=$2 tool=$3 prepare=$4 cmd=$5 key="$1-$2-$3"
  local json=$OUT/$key.json lg=$OUT/$key.log
  : >"$lg"
  log "$op $fx: $tool"
  if hyperfine --shell=bash --style none --runs "$RUNS" --warmup "$WARMUP" --prepare "$prepare" \
    --export-json "$json" "{ $cmd ; } >>$lg 2>&1" >/dev/null 2>"$OUT/$key.hyperfine.err"; then
    R[$op,$fx,$tool]=$(jq -r '.results[0].median' "$json")
    jq -r --arg op "$op" --arg fx "$fx" --arg tool "$tool" --arg cmd "$cmd" \
      '.results[0] | [$op, $fx, $tool, .median, .min, .max, (.times | length), $cmd] | @tsv' "$json" >>"$TSV"
  else
    R[$op,$fx,$tool]=FAIL
    FAILS+=("$op $fx ($tool): $cmd")
    log "FAILED: $tool $op $fx"
    log "  command: $cmd"
    log "  output (last lines of $lg):"
    tail -n 15 "$lg" | sed 's/^/    /' >&2
    printf '%s\t%s\t%s\tFAIL\t\t\t\t%s\n' "$op" "$fx" "$tool" "$cmd" >>"$TSV"
  fi
}

# check_pushed FIXTURE TOOL: the push target has the manifest and every layer it names.
check_pushed() {
  local fx=$1 tool=$2 m d
  [ "${R[push,$fx,$tool]}" = FAIL ] && return 0
  m=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$DST/v2/bench/$fx/manifests/1" 2>/dev/null) || { log "WARN $tool push $fx: the target registry has no manifest"; return 0; }
  for d in $(jq -r '.config.digest, .layers[].digest' <<<"$m"); do
    curl -fsS -I -o /dev/null "http://$DST/v2/bench/$fx/blobs/$d" 2>/dev/null ||
      log "WARN $tool push $fx: blob $d missing in the target registry"
  done
}

FLUSH_CMD="$SELF _flush"
ROOTLESS=
[ "$ROOT" = 1 ] || ROOTLESS=--rootless

for fx in "${READY[@]}"; do
  SREF=$SRC/bench/$fx:1
  DREF=$DST/bench/$fx:1
  S=$T/$fx
  mkdir -p "$S"

  # ---- pull + unpack
  KR=$S/kasane
  hf pull "$fx" kasane "$SELF _wipe $KR && $FLUSH_CMD" \
    "$KASANE --root $KR pull -q --tls-verify=false $SREF"

  PR=$S/podman
  PODMAN="podman --root $PR/root --runroot $PRUN/$fx --tmpdir $PR/tmp --storage-driver overlay"
  if [ "$HAVE_PODMAN" = 1 ]; then
    hf pull "$fx" podman "$SELF _wipe $PR $PRUN/$fx && mkdir -p $PR/tmp && $FLUSH_CMD" \
      "$PODMAN pull -q --tls-verify=false $SREF"
  else R[pull,$fx,podman]=n/a; fi

  SK=$S/skopeo
  if [ "$HAVE_UMOCI" = 1 ]; then
    hf pull "$fx" skopeo "$SELF _wipe $SK && mkdir -p $SK && $FLUSH_CMD" \
      "skopeo copy -q --src-tls-verify=false docker://$SREF oci:$SK/oci:1 && umoci unpack $ROOTLESS --image $SK/oci:1 $SK/bundle"
  else
    R[pull,$fx,skopeo]=n/a
    # skopeo push still needs the oci layout
    skopeo copy -q --src-tls-verify=false "docker://$SREF" "oci:$SK/oci:1" >/dev/null ||
      log "skopeo copy docker://$SREF oci:$SK/oci:1 failed: skopeo push is n/a"
  fi

  if [ "$DOCKER_OK" = 1 ]; then
    hf pull "$fx" docker "$SELF _docker_wipe $DOCKER_CLIENT $DOCKER_SOCK && $FLUSH_CMD" \
      "$DOCKER pull -q $SREF"
  else R[pull,$fx,docker]=n/a; fi

  # ---- floor: gunzip + untar of the same blobs, one directory per layer
  FL=$S/floor
  mkdir -p "$FL/blobs"
  mjson=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$SRC/v2/bench/$fx/manifests/1")
  i=0
  for d in $(jq -r '.layers[].digest' <<<"$mjson"); do
    curl -fsS -o "$FL/blobs/$i.gz" "http://$SRC/v2/bench/$fx/blobs/$d"
    i=$((i + 1))
  done
  TARSIZE[$fx]=$(for b in "$FL"/blobs/*.gz; do $GUNZIP "$b"; done | wc -c)
  {
    echo 'set -eo pipefail'
    for ((j = 0; j < i; j++)); do echo "mkdir -p $FL/x/$j; $GUNZIP $FL/blobs/$j.gz | tar -x -C $FL/x/$j"; done
  } >"$FL/seq.sh"
  {
    echo 'set -o pipefail; pids=(); rc=0'
    for ((j = 0; j < i; j++)); do echo "{ mkdir -p $FL/x/$j; $GUNZIP $FL/blobs/$j.gz | tar -x -C $FL/x/$j; } & pids+=(\$!)"; done
    echo 'for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc'
  } >"$FL/par.sh"
  # The same, verifying as every puller must: sha256 of each blob and of its tar (openssl).
  if command -v openssl >/dev/null; then
    {
      echo 'set -o pipefail; pids=(); rc=0'
      for ((j = 0; j < i; j++)); do
        echo "{ mkdir -p $FL/x/$j; tee >(openssl dgst -sha256 >/dev/null) <$FL/blobs/$j.gz | $GUNZIP | tee >(openssl dgst -sha256 >/dev/null) | tar -x -C $FL/x/$j; } & pids+=(\$!)"
      done
      echo 'for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc'
    } >"$FL/verified.sh"
    hf pull "$fx" floor-verified "$SELF _wipe $FL/x && $FLUSH_CMD" "bash $FL/verified.sh"
  else R[pull,$fx,floor-verified]=n/a; fi
  hf pull "$fx" floor-seq "$SELF _wipe $FL/x && $FLUSH_CMD" "bash $FL/seq.sh"
  if [ "$i" -gt 1 ]; then
    hf pull "$fx" floor-par "$SELF _wipe $FL/x && $FLUSH_CMD" "bash $FL/par.sh"
  else R[pull,$fx,floor-par]=n/a; fi
  $SELF _wipe "$FL"

  # ---- push to an empty registry, from the store each tool's last pull left
  PUSH_PREP="$SELF _wipe $PUSH_DATA && $FLUSH_CMD"
  if [ "${R[pull,$fx,kasane]}" = FAIL ]; then
    R[push,$fx,kasane]=n/a; log "kasane push $fx: n/a, its pull failed"
  elif ! "$KASANE" --root "$KR" tag "$SREF" "$DREF" 2>"$OUT/push-$fx-kasane-tag.err"; then
    R[push,$fx,kasane]=FAIL; FAILS+=("push $fx (kasane): $KASANE --root $KR tag $SREF $DREF")
    log "FAILED: kasane --root $KR tag $SREF $DREF: $(cat "$OUT/push-$fx-kasane-tag.err")"
  else
    hf push "$fx" kasane "$PUSH_PREP" "$KASANE --root $KR push -q --tls-verify=false $DREF"
    check_pushed "$fx" kasane
  fi

  if [ -s "$SK/oci/index.json" ]; then
    hf push "$fx" skopeo "$PUSH_PREP" "skopeo copy -q --dest-tls-verify=false oci:$SK/oci:1 docker://$DREF"
    check_pushed "$fx" skopeo
  else R[push,$fx,skopeo]=n/a; fi

  if [ "$HAVE_PODMAN" = 1 ] && [ "${R[pull,$fx,podman]}" != FAIL ]; then
    hf push "$fx" podman "$PUSH_PREP" "$PODMAN push -q --tls-verify=false $SREF docker://$DREF"
    check_pushed "$fx" podman
  else R[push,$fx,podman]=n/a; fi

  if [ "$DOCKER_OK" = 1 ] && [ "${R[pull,$fx,docker]}" != FAIL ] && $DOCKER tag "$SREF" "$DREF"; then
    hf push "$fx" docker "$PUSH_PREP" "$DOCKER push -q $DREF"
    check_pushed "$fx" docker
    $SELF _docker_wipe "$DOCKER_CLIENT" "$DOCKER_SOCK"
  else R[push,$fx,docker]=n/a; fi

  $SELF _wipe "$S" "$PRUN/$fx" "$PUSH_DATA"
done

# ------------------------------------------------------------------------------ report
num() { [[ $1 =~ ^[0-9.]+([eE][-+]?[0-9]+)?$ ]]; }
secs() { if num "$1"; then awk -v v="$1" 'BEGIN { printf "%.3fs", v }'; else printf '%s' "$1"; fi; }
ratio() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else printf -- '-'; fi; }
minof() {
  if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'
  elif num "$1"; then echo "$1"; else echo "$2"; fi
}

{
  printf '\nregistry benchmark, %s, %s cores, kasane %s, median of %s run(s)%s\n' "$(date -u +%F)" "$(nproc)" \
    "$KVER" "$RUNS" \
    "$([ "$ROOT" = 1 ] && [ "${FLUSH:-1}" != 0 ] && echo ', page cache dropped before every run' || echo ', page cache NOT dropped')"
  for fx in "${READY[@]}"; do
    printf '  %-8s %d layer(s), %.1f MB gzip, %.1f MB of tar\n' "$fx" "${NLAYERS[$fx]}" \
      "$(awk -v b="${GZ[$fx]}" 'BEGIN { print b / 1e6 }')" "$(awk -v b="${TARSIZE[$fx]:-0}" 'BEGIN { print b / 1e6 }')"
  done
  printf '\n%-5s %-8s %9s %9s %14s %9s %9s  %8s %8s %8s %8s\n' op fixture kasane podman "skopeo(+umoci)" docker floor \
    podman/k skopeo/k docker/k k/floor
  for op in pull push; do
    for fx in "${READY[@]}"; do
      k=${R[$op,$fx,kasane]:-n/a} p=${R[$op,$fx,podman]:-n/a} s=${R[$op,$fx,skopeo]:-n/a} d=${R[$op,$fx,docker]:-n/a}
      fl=-
      [ "$op" = pull ] && fl=$(minof "${R[pull,$fx,floor-seq]:-n/a}" "${R[pull,$fx,floor-par]:-n/a}")
      printf '%-5s %-8s %9s %9s %14s %9s %9s  %8s %8s %8s %8s\n' "$op" "$fx" "$(secs "$k")" "$(secs "$p")" \
        "$(secs "$s")" "$(secs "$d")" "$(secs "$fl")" "$(ratio "$p" "$k")" "$(ratio "$s" "$k")" \
        "$(ratio "$d" "$k")" "$(ratio "$k" "$fl")"
    done
  done
  printf '\nfloor = %s | tar -x of the layer blobs, one dir per layer; sequential / all layers in parallel:\n' "$GUNZIP"
  for fx in "${READY[@]}"; do
    printf '  %-8s %s / %s\n' "$fx" "$(secs "${R[pull,$fx,floor-seq]:-n/a}")" "$(secs "${R[pull,$fx,floor-par]:-n/a}")"
  done
  printf 'verified floor = the same in parallel, with sha256 of each blob and of its tar (as a puller must):\n'
  for fx in "${READY[@]}"; do
    printf '  %-8s %s (kasane/verified floor %s)\n' "$fx" "$(secs "${R[pull,$fx,floor-verified]:-n/a}")" \
      "$(ratio "${R[pull,$fx,kasane]:-n/a}" "${R[pull,$fx,floor-verified]:-n/a}")"
  done
  printf 'skopeo pulls are skopeo copy + umoci unpack; skopeo pushes copy the oci layout skopeo pulled.\n'
  if [ -n "${R[pull,big,kasane]:-}" ]; then
    fl=$(minof "${R[pull,big,floor-seq]:-n/a}" "${R[pull,big,floor-par]:-n/a}")
    verdict() { # VALUE OP LIMIT
      if num "$1"; then awk -v v="$1" -v op="$2" -v l="$3" \
        'BEGIN { ok = (op == "<=" ? v <= l : v >= l); printf "%.2fx (target %s %sx: %s)", v, op, l, ok ? "met" : "MISSED" }'
      else printf 'n/a'; fi
    }
    r() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; else echo n/a; fi; }
    printf 'targets (big): pull kasane/floor %s, podman/kasane %s; push skopeo/kasane %s\n' \
      "$(verdict "$(r "${R[pull,big,kasane]}" "$fl")" '<=' 1.3)" \
      "$(verdict "$(r "${R[pull,big,podman]:-n/a}" "${R[pull,big,kasane]}")" '>=' 2.5)" \
      "$(verdict "$(r "${R[push,big,skopeo]:-n/a}" "${R[push,big,kasane]:-n/a}")" '>=' 1)"
  fi
  printf 'all runs (median, min, max): %s; command output: %s/*.log\n' "$TSV" "$OUT"
  printf 'versions: %s; podman %s; skopeo %s; umoci %s; docker %s; %s\n' "$(uname -r)" \
    "$(podman --version 2>/dev/null | awk '{print $3}' || true)" \
    "$(skopeo --version 2>/dev/null | awk '{print $3}' || true)" \
    "$(umoci --version 2>/dev/null | awk '{print $3}' || true)" \
    "$([ "$DOCKER_OK" = 1 ] && $DOCKER version --format '{{.Server.Version}}' 2>/dev/null || echo n/a)" \
    "$(docker-registry --version 2>/dev/null | awk '{print "docker-registry", $3}' || true)"
  if ((${#FAILS[@]})); then
    printf '\nFAILED (see the logs in %s):\n' "$OUT"
    printf '  %s\n' "${FAILS[@]}"
  fi
} | tee "$OUT/summary.txt"
