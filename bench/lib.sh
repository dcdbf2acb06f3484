# Shell code shared by bench/images.sh and bench/containers.sh, which source it:
#   . "$(dirname "$0")/lib.sh"
# It only defines functions; they read the caller's W (work directory), OUT (results
# directory) and HF_WARMUP (hyperfine warm-up runs) when called.

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# start_dockerd: starts Debian's dockerd privately under $W/docker (own data root, no bridge,
# no iptables) unless NO_DOCKER=1 or dockerd is not installed, waits up to 30 s for it to
# answer, and stops it when the script exits. Sets DOCKER (the client command for it),
# DOCKER_DIR, DOCKER_OK=1 once it answers (0 otherwise) and DOCKERD_PID (empty when it was not
# started), so the caller can tell "not wanted" from "did not start".
start_dockerd() {
  # Debian's client matches Debian's dockerd; a newer client elsewhere on PATH may not.
  DOCKER_CLIENT=$(command -v /usr/bin/docker || command -v docker || echo docker)
  DOCKER_OK=0
  DOCKER_DIR=$W/docker
  DOCKERD_PID=
  if command -v dockerd >/dev/null && [ "${NO_DOCKER:-0}" != 1 ]; then
    mkdir -p "$DOCKER_DIR"
    log "starting dockerd (private data root, no bridge, no iptables)"
    dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
      --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/dockerd.pid" \
      -H "unix://$DOCKER_DIR/docker.sock" >"$DOCKER_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    trap 'kill "$DOCKERD_PID" 2>/dev/null || true' EXIT
    for _ in $(seq 150); do
      if "$DOCKER_CLIENT" -H "unix://$DOCKER_DIR/docker.sock" version >/dev/null 2>&1; then DOCKER_OK=1; break; fi
      sleep 0.2
    done
  fi
  DOCKER="$DOCKER_CLIENT -H unix://$DOCKER_DIR/docker.sock"
}

# hf NAME RUNS PREPARE COMMAND -> prints the median in seconds (NaN when hyperfine fails);
# hyperfine's JSON and errors go to $OUT/NAME.json and $OUT/NAME.err.
hf() {
  local name=$1 runs=$2 prepare=$3 cmd=$4
  hyperfine --shell=bash --style none --runs "$runs" --warmup "$HF_WARMUP" --prepare "$prepare" \
    --export-json "$OUT/$name.json" "$cmd" >/dev/null 2>"$OUT/$name.err" || { echo "NaN"; return; }
  jq -r '.results[0].median' "$OUT/$name.json"
}
