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

run_stage() {
  local name=$1
  case $name in
    pytest)
      # Unit tests of the pure rules, the local Azure's own tests, module tests through the local Azure, and packaging
      # (execution environment, AWX job through ansible-runner). More workers than the 2 cores: most module tests wait
      # on the local Azure's long operations (Retry-After, job states) rather than compute.
      python -m pytest -n "${PYTEST_JOBS:-3}" -p no:cacheprovider tests/unit tests/sim tests/modules tests/packaging
      return $? ;;
    mutation)
      # A fixed subset of `make mutation` (tests/mutation/sets.py: FAST_FUNCTIONS, FAST_GUARDS): mutmut over the rules
      # that decide what is written or refused, the review's mistakes M1, M4 and M10 applied as written, and the
      # check-mode guards it found untested (each against one in-process module test); fails under the threshold or
      # when a guard or one of those mistakes survives.
      python -m tests.mutation.run fast --threshold "${MUTATION_THRESHOLD:-90}"
      return $? ;;
    lowest)
      # The lowest SDK versions requirements.txt allows, in .build/venv-lowest: unit tests and the module tests that
      # make every SDK call (tests/lowest.sh says which and why).
      bash tests/lowest.sh
      return $? ;;
    sanity)
      # ansible-test needs the checkout under ansible_collections/NS/NAME: a copy of the tracked and new files.
      bash tests/sanity.sh
      return $? ;;
    integration)
      bash tests/integration.sh
      return $? ;;
    molecule)
      bash tests/molecule.sh
      return $? ;;
    lint)
      # The whole tree with the production profile; .ansible-lint leaves out only build, venv and scratch paths.
      ansible-lint --profile production --offline
      return $? ;;
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
      return $rc ;;
    changelog)
      # fragments valid; CHANGELOG.rst up to date with changelogs/changelog.yaml: tests/packaging/test_changelog.py
      antsibull-changelog lint
      return $? ;;
  esac
}

# Two lanes: pytest in the foreground; every other stage, one after the other, in the background beside it (its
# output is printed when it is done). The stages wait on the local Azure's long operations much of the time, so a
# 2-core machine has room for both; the background lane (about 1,700 s of stages) is shorter than pytest alone, and
# the stages that start their own local Azure (lowest, integration, molecule) take a free port each. SERIAL=1 runs
# everything in order, in the foreground.
background=() foreground=()
for name in $only; do
  case $name in
    pytest) foreground+=("$name") ;;
    *) background+=("$name") ;;
  esac
done
if [ "${SERIAL:-0}" = 1 ] || [ ${#background[@]} -eq 0 ] || [ ${#foreground[@]} -eq 0 ]; then
  foreground=($only) background=()
fi

logs=$ROOT/.build/stage-logs
rm -rf "$logs" && mkdir -p "$logs"
if [ ${#background[@]} -ne 0 ]; then
  echo "in the background, output below when done: ${background[*]}"
  (
    for name in "${background[@]}"; do
      began=$SECONDS
      run_stage "$name" >"$logs/$name.log" 2>&1
      echo "$? $((SECONDS - began))" >"$logs/$name.rc"
    done
  ) &
  background_pid=$!
fi
for name in "${foreground[@]}"; do
  stage "$name"
  run_stage "$name"
  result "$name" $?
done
if [ ${#background[@]} -ne 0 ]; then
  wait "$background_pid"
  for name in "${background[@]}"; do
    printf '\n===== stage: %s (ran in the background) =====\n' "$name"
    cat "$logs/$name.log"
    read -r rc took <"$logs/$name.rc" || { rc=1 took=0; }
    timings+=("$name ${took}s")
    if [ "$rc" -eq 0 ]; then echo "stage $name: passed (${took}s)"; else echo "stage $name: FAILED ($rc, ${took}s)"; failed+=("$name"); fi
  done
fi

echo
echo "stage times: ${timings[*]} (total ${SECONDS}s)"
if [ ${#failed[@]} -ne 0 ]; then
  echo "make test: FAILED stages: ${failed[*]}"
  exit 1
fi
echo "make test: all stages passed ($only)"
