#!/usr/bin/env bash
# Set up everything the pipeline needs on a fresh Debian/Ubuntu x86_64 machine with Python 3.11:
# the system library open3d needs, a virtual environment in .venv, the pinned Python stack (with the test tools)
# and this package. Optional extras only when asked:
#   --sparse   the sparse 3D lidar encoder (spconv; lidar.encoder: sparse)
#   --fleet    Ray, for `perception replay --recordings` over a fleet of recordings
# Idempotent: a second run with the same options only checks and returns quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

extras="dev"
for option in "$@"; do
    case "$option" in
        --sparse) extras="$extras,sparse" ;;
        --fleet) extras="$extras,fleet" ;;
        *) echo "usage: tools/setup.sh [--sparse] [--fleet]" >&2; exit 2 ;;
    esac
done

if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    echo "[setup] installing system package libusb-1.0-0 (needed by open3d)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

# The stamp records the set-up's inputs and the extras installed: a later run asking for no more returns at once.
stamp=.venv/.setup-stamp
want=$(cat pyproject.toml tools/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$want" ]; then
    installed=",$(cut -d' ' -f2 "$stamp"),"
    missing=""
    for extra in ${extras//,/ }; do
        [[ "$installed" == *",$extra,"* ]] || missing="$missing $extra"
    done
    [ -z "$missing" ] && exit 0
    extras="$(cut -d' ' -f2 "$stamp"),$extras"  # keep what is installed
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
echo "[setup] installing the pinned Python stack into .venv (first run: about two minutes)"
# torch and torchvision first and exactly pinned: they must come as a matching pair.
$PIP install torch==2.14.1 torchvision==0.29.1
$PIP install -e ".[$extras]"
# nuscenes-devkit pins numpy<2, which the rest of the stack cannot use; its evaluator works on numpy 2,
# so it is installed without its own pins (its plain dependencies are in pyproject.toml).
$PIP install --no-deps nuscenes-devkit==1.2.0
echo "$want $(echo "$extras" | tr ',' '\n' | sort -u | paste -sd,)" > "$stamp"
echo "[setup] done"
