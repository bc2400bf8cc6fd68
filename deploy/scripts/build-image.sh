#!/usr/bin/env bash
# Builds the hakone image with podman, or says that it is skipped when podman is not installed.
#
#   deploy/scripts/build-image.sh [TAG]      (default localhost/hakone:dev; run from anywhere)
#
# - docker image format (OCI has no HEALTHCHECK); vfs storage and chroot isolation: works without fuse-overlayfs, cgroup controllers or a
#   container runtime that can start containers (`--isolation` overridable by BUILDAH_ISOLATION).
# - Base image: $BASE_IMAGE if set; else localhost/debian:bookworm if present; else, when
#   mmdebstrap is installed, that image is made from the host's own Debian bookworm mirror (the
#   URIs in /etc/apt/sources.list*), so nothing comes from a container registry; else the
#   Containerfile's default (docker.io/library/debian:bookworm{,-slim}) is pulled.
# - The web console (web/dist) must be built first (`make image` does both).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-localhost/hakone:dev}
if ! command -v podman >/dev/null 2>&1; then
  echo "build-image: podman not found; image build skipped"
  exit 0
fi
[ -f "$root/web/dist/index.html" ] || { echo "build-image: web/dist missing: run 'make web' first" >&2; exit 1; }
podman=(podman --storage-driver=vfs)
local_base=localhost/debian:bookworm
base_args=()
if [ -n "${BASE_IMAGE:-}" ]; then
  base_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "RUNTIME_IMAGE=${RUNTIME_IMAGE:-$BASE_IMAGE}")
elif "${podman[@]}" image exists "$local_base"; then
  base_args=(--build-arg "BASE_IMAGE=$local_base" --build-arg "RUNTIME_IMAGE=$local_base")
elif command -v mmdebstrap >/dev/null 2>&1; then
  # The host's Debian bookworm repositories, as apt sees them (deb822 or one-line sources).
  mapfile -t sources < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
                         awk '$2 ~ /^bookworm/ && $1 ~ /debian/ {print "deb " $1 " " $2 " main"}' | sort -u)
  [ ${#sources[@]} -gt 0 ] || { echo "build-image: no Debian bookworm repository in /etc/apt/sources.list*" >&2; exit 1; }
  echo "build-image: making $local_base with mmdebstrap from: ${sources[*]}"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --quiet --variant=minbase --mode=root bookworm "$tmp/rootfs.tar" "${sources[@]}"
  "${podman[@]}" import "$tmp/rootfs.tar" "$local_base" >/dev/null
  rm -rf "$tmp"
  base_args=(--build-arg "BASE_IMAGE=$local_base" --build-arg "RUNTIME_IMAGE=$local_base")
fi
start=$(date +%s)
"${podman[@]}" build --format docker --isolation="${BUILDAH_ISOLATION:-chroot}" --ignorefile "$root/deploy/containerignore" \
  "${base_args[@]}" -f "$root/deploy/Containerfile" -t "$tag" "$root"
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag built in $(( $(date +%s) - start ))s, $(( size / 1024 / 1024 )) MiB"
