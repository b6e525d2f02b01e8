#!/usr/bin/env bash
# Regenerate the bundled example trace: one sandbox expert episode (fill a checkout form), made by the
# project's own sandbox and expert. Deterministic by seed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
deskpilot sandbox gen-demos --n 1 --split train --seed 1 --families fill_form --workers 1 --quiet --out "$tmp"
rm -rf examples/traces/checkout
mkdir -p examples/traces
mv "$tmp"/*/ examples/traces/checkout
rm -rf "$tmp"
deskpilot trace validate examples/traces/checkout
