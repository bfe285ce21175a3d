#!/usr/bin/env bash
# Runs every integration target against the local Azure that tests/integration.sh started (its env is exported).
# A target is tests/integration/targets/NAME/tasks/main.yml; the local Azure is reset before each one.
set -uo pipefail
cd "$(dirname "$0")/.."
admin=${HTTPS_PROXY%/}/_sim
failed=()
for dir in tests/integration/targets/*/; do
  name=$(basename "$dir")
  # TARGETS="a b" runs only those
  if [ -n "${TARGETS:-}" ] && [[ " $TARGETS " != *" $name "* ]]; then continue; fi
  echo "--- integration target: $name"
  python - "$admin" <<'PY' || { failed+=("$name"); continue; }
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/reset", method="POST", data=b""), timeout=10).read()
PY
  if ansible-playbook -i localhost, tests/integration/run_target.yml -e "target_name=$name"; then
    echo "target $name: passed"
  else
    echo "target $name: FAILED"; failed+=("$name")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then echo "integration: FAILED targets: ${failed[*]}"; exit 1; fi
echo "integration: all targets passed"
