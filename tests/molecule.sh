#!/usr/bin/env bash
# Molecule scenarios in extensions/molecule (each starts and stops the local Azure itself).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "$(ls extensions/molecule 2>/dev/null)" ]; then echo "molecule: no scenarios yet"; exit 0; fi
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$PWD/collections}
export PATH=$PWD/.venv/bin:$PATH
export PY_COLORS=0 NO_COLOR=1 ANSIBLE_NOCOLOR=1
cd extensions
for s in $(ls molecule); do
  [ -f "molecule/$s/molecule.yml" ] || continue
  molecule test -s "$s"
done
