#!/usr/bin/env bash
# Builds the hakone image with podman (vfs storage: works without fuse-overlayfs or privileges),
# or says that it is skipped when podman is not installed.
# Usage: deploy/scripts/build-image.sh [TAG]    (run from anywhere; the context is the repo root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-localhost/hakone:dev}
if ! command -v podman >/dev/null 2>&1; then
  echo "build-image: podman not found; image build skipped"
  exit 0
fi
exec podman --storage-driver=vfs build -f "$root/deploy/Containerfile" -t "$tag" "$root"
