#!/usr/bin/env bash
# Validates the deployment manifests offline: every document of deploy/kubernetes/*.yaml (or of the
# files and folders given) against the schemas of Kubernetes $K8S_VERSION (strict) and, for the
# custom kinds, against deploy/schemas/ (deploy/validate.py says what else it checks).
#   deploy/validate.sh [--worker-bin target/debug/worker-orcd] [--metrics-file FILE] [PATH...]
# The pinned validator goes into deploy/.venv (git-ignored) on the first run; later runs reuse it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# The Kubernetes release the manifests target (preStop `sleep` needs 1.30 or later).
K8S_VERSION=1.34.0
venv="$here/.venv"

# One installer at a time (tests may call this script concurrently).
exec 9>"$here/.venv.lock"
flock 9
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
flock -u 9

exec "$venv/bin/python" "$here/validate.py" --kubernetes-version "$K8S_VERSION" "$@"
