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
only=${STAGES:-"pytest mutation lowest sanity integration molecule lint importer changelog"}

timings=()
stage() { printf '\n===== stage: %s =====\n' "$1"; started=$SECONDS; }
result() {
  local took=$((SECONDS - started))
  timings+=("$1 ${took}s")
  if [ "$2" -eq 0 ]; then echo "stage $1: passed (${took}s)"; else echo "stage $1: FAILED ($2, ${took}s)"; failed+=("$1"); fi
}

for name in $only; do
  stage "$name"
  case $name in
    pytest)
      # Unit tests of the pure rules, the local Azure's own tests, module tests through the local Azure, and packaging
      # (execution environment, AWX job through ansible-runner).
      python -m pytest -n 2 -p no:cacheprovider tests/unit tests/sim tests/modules tests/packaging
      result pytest $? ;;
    mutation)
      # A fixed subset of `make mutation` (tests/mutation/sets.py: FAST_FUNCTIONS, FAST_GUARDS): mutmut over the rules
      # that decide what is written or refused, and the check-mode guards the review found untested; fails under the
      # threshold or when a guard survives.
      python -m tests.mutation.run fast --threshold "${MUTATION_THRESHOLD:-90}"
      result mutation $? ;;
    lowest)
      # The lowest SDK versions requirements.txt allows, in .build/venv-lowest: unit tests and the module tests that
      # make every SDK call (tests/lowest.sh says which and why).
      bash tests/lowest.sh
      result lowest $? ;;
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
      # The whole tree with the production profile; .ansible-lint leaves out only build, venv and scratch paths.
      ansible-lint --profile production --offline
      result lint $? ;;
    importer)
      # Galaxy's (and Automation Hub's) import checks on the tarball users get, without its container-based
      # ansible-test (tests/packaging/galaxy-importer.cfg); any WARNING or ERROR line fails the stage.
      mkdir -p .build
      scratch=$(mktemp -d "$ROOT/.build/importer.XXXXXX")
      ansible-galaxy collection build --output-path "$scratch" . >/dev/null \
        && (cd "$scratch" && GALAXY_IMPORTER_CONFIG=$ROOT/tests/packaging/galaxy-importer.cfg \
              python -m galaxy_importer.main azure_cvm-backup-*.tar.gz >importer.log 2>&1)
      rc=$?
      cat "$scratch/importer.log" 2>/dev/null
      if [ $rc -eq 0 ] && grep -q -E '^(WARNING|ERROR)' "$scratch/importer.log"; then
        echo "galaxy-importer: warnings or errors above"; rc=1
      fi
      rm -rf "$scratch"
      result importer $rc ;;
    changelog)
      # fragments valid; CHANGELOG.rst up to date with changelogs/changelog.yaml: tests/packaging/test_changelog.py
      antsibull-changelog lint
      result changelog $? ;;
  esac
done

echo
echo "stage times: ${timings[*]} (total ${SECONDS}s)"
if [ ${#failed[@]} -ne 0 ]; then
  echo "make test: FAILED stages: ${failed[*]}"
  exit 1
fi
echo "make test: all stages passed ($only)"
