#!/usr/bin/env bash
# Installs what tests/receivers/check.{py,js} and producer.py need into
# .tools/receivers/; does nothing when the pinned versions are already there.
#
#   py/     the Python packages of tests/receivers/requirements.txt (every one
#           pinned, installed without dependency resolution)
#   node/   the npm packages of tests/receivers/package.json, exactly as
#           tests/receivers/package-lock.json pins them (npm ci)
#
# Needs python3 with pip, and node with npm.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/tests/receivers"
dest="${RECEIVER_TOOLS:-$root/.tools/receivers}"
mkdir -p "$dest"

digest() { python3 -c 'import hashlib, sys; h = hashlib.sha256()
for p in sys.argv[1:]: h.update(open(p, "rb").read())
print(h.hexdigest())' "$@"; }

# Python: standardwebhooks and nats-py from PyPI.
want="$(digest "$src/requirements.txt")"
stamp="$dest/py/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "receiver-libs: installing the Python packages of tests/receivers/requirements.txt into $dest/py"
    rm -rf "$dest/py" "$dest/py.tmp"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --no-warn-script-location --no-deps --only-binary ':all:' \
        --target "$dest/py.tmp" -r "$src/requirements.txt"
    echo "$want" >"$dest/py.tmp/.requirements.sha256"
    mv "$dest/py.tmp" "$dest/py"
fi

# Contract tools: schemathesis, openapi-spec-validator and openapi-python-client,
# in a virtual environment of their own (they bring their own command lines).
want="$(digest "$root/tests/contract/requirements.txt")"
contract="$(cd "$dest/.." && pwd)/contract"
if [ "$(cat "$contract/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "receiver-libs: installing the Python packages of tests/contract/requirements.txt into $contract"
    # Made where it stays (a virtual environment's scripts name its path); the
    # stamp, written last, says it is complete.
    rm -rf "$contract"
    python3 -m venv "$contract"
    PIP_ROOT_USER_ACTION=ignore "$contract/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --only-binary ':all:' -r "$root/tests/contract/requirements.txt"
    echo "$want" >"$contract/.requirements.sha256"
fi

# Node: standardwebhooks from npm.
want="$(digest "$src/package.json" "$src/package-lock.json")"
stamp="$dest/node/.package-lock.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "receiver-libs: installing the npm packages of tests/receivers/package-lock.json into $dest/node"
    rm -rf "$dest/node" "$dest/node.tmp"
    mkdir -p "$dest/node.tmp"
    cp "$src/package.json" "$src/package-lock.json" "$dest/node.tmp/"
    (cd "$dest/node.tmp" && npm ci --silent --no-audit --no-fund --ignore-scripts)
    echo "$want" >"$dest/node.tmp/.package-lock.sha256"
    mv "$dest/node.tmp" "$dest/node"
fi
