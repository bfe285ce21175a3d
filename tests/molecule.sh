#!/usr/bin/env bash
# Molecule scenarios in extensions/molecule (each starts and stops the local Azure itself): default (protect_cvm.yml),
# restore (restore_cvm.yml), readiness (readiness_report.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "$(ls extensions/molecule 2>/dev/null)" ]; then echo "molecule: no scenarios yet"; exit 0; fi
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$PWD/collections}
export PATH=$PWD/.venv/bin:$PATH
export PY_COLORS=0 NO_COLOR=1 ANSIBLE_NOCOLOR=1
cd extensions
# MOLECULE_SCENARIOS="a b" runs only those; every scenario runs even when an earlier one failed
failed=()
for s in ${MOLECULE_SCENARIOS:-$(ls molecule)}; do
  [ -f "molecule/$s/molecule.yml" ] || continue
  molecule test -s "$s" || failed+=("$s")
done
if [ ${#failed[@]} -ne 0 ]; then echo "molecule: FAILED scenarios: ${failed[*]}"; exit 1; fi
