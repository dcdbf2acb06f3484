#!/usr/bin/env bash
# Build a Debian minbase rootfs tarball with debootstrap (benchmarks only; tests never use it).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/make-debian-image.sh OUT_DIR

Runs `debootstrap --variant=minbase SUITE` into a temporary directory, trims it like
Docker's debian:*-slim (no docs, man pages, locales, apt lists or caches, empty /dev and
/run), and writes
  OUT_DIR/debian-SUITE-minbase.tar.gz          the rootfs tarball (for `kasane import`)
  OUT_DIR/debian-SUITE-minbase.tar.gz.sha256   its digest
Names are sorted, mtimes clamped to SOURCE_DATE_EPOCH, owners numeric, gzip -n; the content
follows the Debian archive, so it changes when the mirror does. An existing tarball is kept
(idempotent) unless FORCE=1. Needs root (debootstrap chroots and creates device nodes) and
the Debian mirror; installs debootstrap with apt-get if it is missing.

Environment:
  SUITE              Debian suite (default bookworm)
  MIRROR             archive URL (default http://deb.debian.org/debian)
  ARCH               architecture (default: dpkg --print-architecture)
  SOURCE_DATE_EPOCH  mtime clamp (default 1704067200 = 2024-01-01T00:00:00Z)
  FORCE=1            rebuild even if the tarball exists
USAGE
}

die() { echo "make-debian-image: $*" >&2; exit 1; }
log() { echo "make-debian-image: $*" >&2; }

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }
OUT_DIR=$1
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ARCH=${ARCH:-$(dpkg --print-architecture)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
export LC_ALL=C
OUT="$OUT_DIR/debian-$SUITE-minbase.tar.gz"

if [ -s "$OUT" ] && [ "${FORCE:-0}" != 1 ]; then
  log "$OUT exists (FORCE=1 rebuilds)"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y debootstrap >/dev/null || { apt-get update >/dev/null && apt-get install -y debootstrap >/dev/null; }
fi

mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/debian-rootfs.XXXXXX")
R=$WORK/rootfs
cleanup() {
  # debootstrap mounts proc/sys inside the target and may leave them on failure; never
  # rm -rf across a mount point.
  local m
  awk -v d="$R/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

log "debootstrap --variant=minbase --arch=$ARCH $SUITE ($MIRROR; takes a few minutes)"
if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -30 "$WORK/debootstrap.log" >&2
  die "debootstrap failed"
fi
if awk -v d="$R/" 'index($2, d) == 1' /proc/self/mounts | grep -q .; then
  die "mounts left below $R after debootstrap"
fi

# The trims of Docker's debian:*-slim images (debuerreotype's slimify), and no state that
# differs per build.
cat >"$R/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
printf 'APT::Install-Recommends "false";\n' >"$R/etc/apt/apt.conf.d/docker-norecommends"
find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$R"/usr/share/{man,groff,info,lintian,linda}/*
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
  "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old "$R"/var/cache/ldconfig/aux-cache \
  "$R"/debootstrap "$R"/dev/* "$R"/run/*
find "$R/var/log" -type f -delete
: >"$R/etc/machine-id"
: >"$R/etc/resolv.conf"
echo localhost >"$R/etc/hostname"

TMP_OUT=$(mktemp "$OUT_DIR/.debian-$SUITE.XXXXXX")
trap 'rm -f "$TMP_OUT"; cleanup' EXIT
(cd "$R" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) |
  tar -C "$R" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner \
    --xattrs --xattrs-include='security.capability' \
    -cf - -T - |
  gzip -n -6 >"$TMP_OUT"
chmod 0644 "$TMP_OUT"
mv -f "$TMP_OUT" "$OUT"
(cd "$OUT_DIR" && sha256sum "$(basename "$OUT")" >"$(basename "$OUT").sha256")
log "wrote $OUT ($(stat -c %s "$OUT") bytes)"
