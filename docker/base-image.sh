#!/usr/bin/env bash
# Make `debian:bookworm-slim`, the one image the project builds on, available to the engine:
#   1. already there: nothing to do;
#   2. a registry answers: docker pull;
#   3. otherwise (no registry reachable, as on our machines): build it from Debian's own
#      packages with debootstrap (minbase) from the mirror apt uses here, trimmed like the
#      official slim image, and `docker import` it under that tag.
# Exit 0 when the image is there; 3 with one line on stderr when it cannot be made here.
set -euo pipefail

IMAGE=debian:bookworm-slim
SUITE=bookworm

say() { echo "base-image: $*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

if [ "${LAMBDA_SKIP_PULL:-}" != 1 ] && timeout 90 docker pull -q "$IMAGE" >/dev/null 2>&1; then
  say "pulled $IMAGE"
  exit 0
fi
say "no registry answers for $IMAGE: building it with debootstrap from apt's own mirror"

if [ "$(id -u)" -ne 0 ]; then
  say "cannot debootstrap without root: pull $IMAGE where a registry answers, or run as root"
  exit 3
fi
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
    || { say "debootstrap is not installed and apt-get could not install it"; exit 3; }
fi

# The mirrors apt uses on this machine (deb822 or one-line sources), else Debian's default.
sources() { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; }
mirror=$(sources | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
security=$(sources | grep -oE 'https?://[^ ]+/debian-security/?( |$)' | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d "${TMPDIR:-/tmp}/lambda-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
say "debootstrap --variant=minbase $SUITE from $mirror"
if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 5 "$work/debootstrap.log" >&2
  say "debootstrap failed"
  exit 3
fi

# The apt sources of the official image (release, updates, security), on this mirror.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# "slim": documentation, man pages and translations are not installed by later packages
# either, and no package cache or index is left in the image.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/cache/apt/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# The image's hostname and resolver are the engine's to set.
: >"$rootfs/etc/hostname"
rm -f "$rootfs/etc/resolv.conf"

tar --numeric-owner -C "$rootfs" -c . \
  | docker import --change 'CMD ["bash"]' --message "debootstrap --variant=minbase $SUITE ($mirror)" - "$IMAGE" >/dev/null
say "imported $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
