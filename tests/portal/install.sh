#!/usr/bin/env bash
# Installs what tests/portal/scenario.py (run by tests/it/portal.rs) needs; does
# nothing when it is already there.
#
#   /usr/bin/chromium   Debian's Chromium (apt-get), the browser the scenario
#                       launches; Playwright never downloads one of its own
#   .tools/browser/     a virtual environment with the Python packages of
#                       tests/portal/requirements.txt (Playwright, every
#                       dependency pinned, installed without resolution)
#
# Needs python3 with pip and venv, and apt-get run as root (or sudo) when
# Chromium is missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/tests/portal"
venv="${BROWSER_TOOLS:-$root/.tools/browser}"
chromium=/usr/bin/chromium

# Chromium from Debian; the package lists are refreshed only when the install
# fails without it (a fresh machine may have none, or old ones).
if [ ! -x "$chromium" ]; then
    echo "browser: installing Debian's chromium (apt-get)"
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo -n); fi
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    apt_install() {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends chromium >>"$log" 2>&1
    }
    if ! apt_install; then
        if ! { "${sudo[@]}" apt-get update -q >>"$log" 2>&1 && apt_install; }; then
            cat "$log" >&2
            echo "browser: could not install chromium with apt-get" >&2
            exit 1
        fi
    fi
    test -x "$chromium" || { cat "$log" >&2; echo "browser: apt-get installed no $chromium" >&2; exit 1; }
fi

# Playwright in a virtual environment of its own. Made where it stays (a
# virtual environment's scripts name its path); the stamp, written last, says
# it is complete. It is made anew when requirements.txt changes or its Python
# no longer runs (the interpreter it was made from went away).
want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$src/requirements.txt")"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "browser: installing the Python packages of tests/portal/requirements.txt into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --only-binary ':all:' -r "$src/requirements.txt"
    echo "$want" >"$venv/.requirements.sha256"
fi
