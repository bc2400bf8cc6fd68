#!/usr/bin/env bash
# Renders an overlay with the image to deploy and applies it (server-side apply).
# Usage: deploy/scripts/deploy.sh dev|stage|prod IMAGE[:TAG]   e.g. deploy.sh dev ghcr.io/acme/hakone:main-0123abcd
# Set DRY_RUN=1 to print the rendered manifests instead of applying them.
set -euo pipefail
env=${1:?usage: deploy.sh dev|stage|prod IMAGE}
image=${2:?usage: deploy.sh dev|stage|prod IMAGE}
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$root/deploy/k8s/overlays/$env" ] || { echo "deploy: no overlay '$env'" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/deploy/k8s" "$tmp/"
name=${image%:*}
tag=${image##*:}
[ "$name" != "$image" ] || tag=latest
sed -i "s|newName: .*|newName: $name|; s|newTag: .*|newTag: $tag|" "$tmp/k8s/overlays/$env/kustomization.yaml"
kubectl kustomize "$tmp/k8s/overlays/$env" > "$tmp/rendered.yaml"
if [ "${DRY_RUN:-0}" = 1 ]; then cat "$tmp/rendered.yaml"; exit 0; fi
kubectl apply --server-side --field-manager=hakone-deploy -f "$tmp/rendered.yaml"
