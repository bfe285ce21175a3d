#!/usr/bin/env bash
# Every test stage of the collection, called by `make test` (the venv and the installed collection exist already).
# Each stage runs even when an earlier one failed; the script fails if any stage failed. A stage with nothing to run
# says so instead of passing silently.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/collections}
export ANSIBLE_NOCOLOR=1
export PY_COLORS=0
failed=()
only=${STAGES:-"pytest sanity integration molecule lint changelog"}

stage() { printf '\n===== stage: %s =====\n' "$1"; }
result() { if [ "$2" -eq 0 ]; then echo "stage $1: passed"; else echo "stage $1: FAILED ($2)"; failed+=("$1"); fi; }

for name in $only; do
  stage "$name"
  case $name in
    pytest)
      # Unit tests of the pure rules, the local Azure's own tests, module tests through the local Azure, and packaging
      # (execution environment, AWX job through ansible-runner).
      python -m pytest -n 2 -p no:cacheprovider tests/unit tests/sim tests/modules tests/packaging
      result pytest $? ;;
    sanity)
      # ansible-test needs the checkout under ansible_collections/NS/NAME: a copy of the tracked and new files.
      bash tests/sanity.sh
      result sanity $? ;;
    integration)
      bash tests/integration.sh
      result integration $? ;;
    molecule)
      bash tests/molecule.sh
      result molecule $? ;;
    lint)
      if [ -n "$(ls roles 2>/dev/null)" ] || [ -n "$(ls playbooks 2>/dev/null)" ]; then
        ansible-lint --profile production --offline roles playbooks
        result lint $?
      else
        echo "ansible-lint: no roles or playbooks yet"; result lint 0
      fi ;;
    changelog)
      antsibull-changelog lint
      result changelog $? ;;
  esac
done

echo
if [ ${#failed[@]} -ne 0 ]; then
  echo "make test: FAILED stages: ${failed[*]}"
  exit 1
fi
echo "make test: all stages passed ($only)"
