#!/usr/bin/env bash
# The main job on a fresh machine: builds kasane, makes a busybox base image from Debian's
# busybox-static package (no registry needed), imports it and walks the tutorial's image
# commands, runs the tutorial's container exercises (as root: three web servers from one
# image on ports 8001-8003, copy-on-write), then pushes to and pulls from a private registry (Debian's docker-registry on
# 127.0.0.1, stopped at the end). State goes to $KASANE_ROOT (default:
# target/quickstart/root).
#
#   ./scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Build needs (libssl for SHA-2, libseccomp for the embedded runtime), tini for `run --init`, and the busybox-static package the base image is made from.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in busybox-static libssl-dev libseccomp-dev pkg-config docker-registry curl tini; do
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

# Distribution: a private registry on 127.0.0.1 (when Debian's docker-registry is installed).
if command -v docker-registry >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000)))
  mkdir -p "$work/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$PWD/$work/registry/data" "$port" >"$work/registry/config.yml"
  docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
  registry_pid=$!
  trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  step tag busybox:latest "127.0.0.1:$port/demo/busybox:1.0"
  step push "127.0.0.1:$port/demo/busybox:1.0"
  step rmi "127.0.0.1:$port/demo/busybox:1.0" busybox:latest
  step pull "127.0.0.1:$port/demo/busybox:1.0"
  step pull "127.0.0.1:$port/demo/busybox:1.0"
  step images --digests
  step system check
else
  echo "(docker-registry is not installed: push and pull skipped)"
fi

# Containers (seed 003): one image, three containers, copy-on-write. Needs root.
if [ "$(id -u)" = 0 ]; then
  get() { for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$1/" 2>/dev/null && return; sleep 0.1; done; echo "(no answer on $1)"; }
  step import --change 'CMD ["httpd", "-f", "-p", "80", "-h", "/var/www"]' --change 'EXPOSE 80' \
    "$work/busybox.tar.gz" nginx:latest
  for i in 1 2 3; do step run -d --name "web$i" -p "800$i:80" nginx; done
  step images nginx
  step ps
  for i in 1 2 3; do printf '$ curl 127.0.0.1:800%s\n' "$i"; get "800$i"; done
  step exec web1 sh -c "echo 'Hello from Container!' > /var/www/index.html"
  printf '$ curl 127.0.0.1:8001\n'; get 8001
  step diff web1
  step rm -f web1
  step run -d --name web1 -p 8001:80 nginx
  printf '$ curl 127.0.0.1:8001\n'; get 8001
  step run --rm nginx sh -c 'echo "hello from $(hostname)"; exit 3' || echo "(exit code $?)"
  step stop -t 1 web1 web2 web3
  step ps -a
  step rm web1 web2 web3
  step system df
  step system check
fi
