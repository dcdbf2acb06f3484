#!/usr/bin/env bash
# Build a tiny, deterministic busybox rootfs tarball for `kasane import` (README quickstart).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/make-busybox-image.sh OUT.tar[.gz]

Builds a rootfs tarball from Debian's static busybox:
  /bin/busybox + one symlink per applet (busybox --list-full), /etc/passwd, /etc/group,
  /tmp (1777), /root (0700), /proc, /sys, /dev, /var/www/index.html.
The output is byte-for-byte reproducible: names sorted, every mtime SOURCE_DATE_EPOCH,
owner 0:0 (numeric), gzip -n. Re-running overwrites OUT atomically with identical bytes.

  kasane import busybox.tar.gz busybox:latest

Environment:
  SOURCE_DATE_EPOCH  mtime of every entry (default 1704067200 = 2024-01-01T00:00:00Z)
  BUSYBOX            static busybox binary to use (default /bin/busybox). If it is missing or
                     dynamically linked, `apt-get install -y busybox-static` is run (needs root;
                     on Debian this replaces the dynamic `busybox` package).
USAGE
}

die() { echo "make-busybox-image: $*" >&2; exit 1; }

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }
OUT=$1
case "$OUT" in
  *.tar.gz | *.tgz) GZIP_OUT=1 ;;
  *.tar) GZIP_OUT=0 ;;
  *) die "OUT must end in .tar, .tar.gz or .tgz: $OUT" ;;
esac

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
BUSYBOX=${BUSYBOX:-/bin/busybox}
export LC_ALL=C
umask 022

is_static() { # ldd (libc-bin, always present on Debian) says so for static binaries
  local out
  [ -x "$1" ] || return 1
  out=$(ldd "$1" 2>&1 || true) # ldd exits 1 for static binaries
  grep -qE 'not a dynamic executable|statically linked' <<<"$out"
}

if ! is_static "$BUSYBOX"; then
  [ "$BUSYBOX" = /bin/busybox ] || die "$BUSYBOX is missing or not a static binary"
  [ "$(id -u)" = 0 ] || die "/bin/busybox is not a static busybox; run as root to apt-get install busybox-static"
  echo "make-busybox-image: installing busybox-static" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y busybox-static >/dev/null || { apt-get update >/dev/null && apt-get install -y busybox-static >/dev/null; }
  is_static "$BUSYBOX" || die "busybox-static installed but $BUSYBOX is still not static"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/busybox-rootfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/www}
cp "$BUSYBOX" "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"

# Applets where busybox wants them (--list-full gives paths); older builds only have --list.
if "$BUSYBOX" --list-full >/dev/null 2>&1; then
  "$BUSYBOX" --list-full
else
  "$BUSYBOX" --list | sed 's|^|bin/|'
fi | sort -u | while read -r applet; do
  if [ -z "$applet" ] || [ "$applet" = bin/busybox ] || [ -e "$R/$applet" ] || [ -L "$R/$applet" ]; then
    continue
  fi
  mkdir -p "$R/$(dirname "$applet")"
  ln -s /bin/busybox "$R/$applet"
done

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
printf '<!doctype html>\n<title>kasane</title>\n<h1>hello from busybox httpd</h1>\n' >"$R/var/www/index.html"
chmod 1777 "$R/tmp"
chmod 0700 "$R/root"

mkdir -p "$(dirname "$OUT")"
TMP_OUT=$(mktemp "$(dirname "$OUT")/.$(basename "$OUT").XXXXXX")
trap 'rm -rf "$WORK" "$TMP_OUT"' EXIT
# Top-level names without a "./" prefix; --sort=name orders everything below them.
(cd "$R" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) |
  tar -C "$R" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -cf - -T - |
  if [ "$GZIP_OUT" = 1 ]; then gzip -n -9; else cat; fi >"$TMP_OUT"
chmod 0644 "$TMP_OUT"
mv -f "$TMP_OUT" "$OUT"
trap 'rm -rf "$WORK"' EXIT

echo "make-busybox-image: wrote $OUT ($(stat -c %s "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1))" >&2
