#!/usr/bin/env bash
# Set up deskpilot on a fresh Debian/Ubuntu machine: system packages, PyTorch (CPU), the project.
#   bash scripts/setup.sh          # to run deskpilot
#   bash scripts/setup.sh --test   # plus the test dependencies
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# System packages: an X server for live-desktop tests, xdotool for Unicode typing, fonts (or Qt draws
# boxes), and the xcb libraries Qt's X11 plugin loads (its error message names the wrong one when absent).
APT_PACKAGES="xvfb xauth xdotool x11-utils fonts-dejavu-core fontconfig libgl1 libegl1 libglib2.0-0 libdbus-1-3
  libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  libxcb-shm0 libxcb-sync1 libxcb-render0 libxrender1 libxext6 libx11-xcb1 libxtst6"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY="${PYTHON:-python3}"
# torch first, pinned: a bare 'torch' requirement can pull a multi-GB CUDA build.
if ! "$PY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".${extras}"
echo "setup: done ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
