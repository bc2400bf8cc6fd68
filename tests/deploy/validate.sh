#!/usr/bin/env bash
# CTest entry (label deploy): installs the pinned npm packages (npm ci) and runs validate.mjs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v kubectl >/dev/null || { echo "deploy: kubectl (with kustomize) is required" >&2; exit 1; }
cd "$here"
if [ ! -d node_modules/kubernetes-models ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node validate.mjs "$root"
# Negative check: a manifest that breaks policy must be rejected.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/deploy"
cp -r "$root/deploy/k8s" "$root/deploy/ci" "$root/deploy/scripts" "$root/deploy/Containerfile" "$tmp/deploy/"
mkdir -p "$tmp/.github" && cp -r "$root/.github/workflows" "$tmp/.github/"
sed -i 's/automountServiceAccountToken: false/automountServiceAccountToken: true/' "$tmp/deploy/k8s/base/serviceaccounts.yaml"
sed -i 's/containerPort: 9200/containerPort: "not-a-port"/' "$tmp/deploy/k8s/base/serve.yaml"
if node validate.mjs "$tmp" > "$tmp/out.txt" 2>&1; then
  echo "deploy: the broken copy passed validation" >&2; exit 1
fi
grep -q "automountServiceAccountToken" "$tmp/out.txt" && grep -q "schema:" "$tmp/out.txt" ||
  { echo "deploy: negative check did not report both problems:" >&2; cat "$tmp/out.txt" >&2; exit 1; }
echo "deploy: negative check OK (policy and schema violations are reported)"
