#!/usr/bin/env bash
# The `lowest` stage of `make test`: the lowest versions requirements.txt allows (each `>=X` as `==X`) in a second venv,
# .build/venv-lowest (made again only when requirements.txt or tests/requirements.txt change), and there the unit
# tests of the azure-core waits and the module tests that make every SDK call the modules make (LOWEST_TESTS below).
# The other unit tests are left out: pure rules and the Azure Local controller code call no SDK (time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.build/venv-lowest
PY=${PYTHON:-python3}
stamp=$(cat requirements.txt tests/requirements.txt tests/lowest.sh | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.stamp" ] || [ "$(cat "$VENV/.stamp")" != "$stamp" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # the SDKs at their lower bounds; of the test tools only what pytest needs here (as tests/requirements.txt has them)
  # cryptography is left at what tests/requirements.txt asks: the local Azure's CA needs 42 (the modules' own lower
  # bound, 41, is not what this stage shows)
  sed -E 's/^([A-Za-z0-9_.-]+)>=([^ ,#]+).*/\1==\2/' requirements.txt | grep -v '^cryptography' > "$VENV/lowest.txt"
  grep -E '^(ansible-core|pyyaml|cryptography|pytest|pytest-xdist|tree-sitter|tree-sitter-powershell)[<>=]' tests/requirements.txt > "$VENV/tools.txt"
  "$VENV/bin/python" -m pip install --quiet -r "$VENV/lowest.txt" -r "$VENV/tools.txt" -c "$VENV/lowest.txt"
  echo "$stamp" > "$VENV/.stamp"
fi
echo "lowest allowed SDKs:"
"$VENV/bin/python" -m pip list 2>/dev/null | grep -i -E '^azure-(mgmt|identity|keyvault|core)' | sed 's/^/  /'
# Every SDK client and operation the modules call (base.SDK_CLIENTS): backup (protection_policies, protected items,
# restores.begin_trigger, recovery_points, backup_jobs, job_details) in test_cvm_restore, test_cvm_protection,
# test_backup_policy, test_backup_job_info, test_recovery_point_info; recoveryservices vaults in test_recovery_vault;
# compute VMs and DESs and features in test_cvm_readiness_info; keyvault vaults and managed HSM keys in
# test_keyvault_backup_access; authorization role assignments/definitions in the same (RBAC vault);
# keyvault-administration in test_mhsm_role_assignment; resources providers in test_preview_feature. The transition
# table and the fleet, example and playbook tests are left out: they call the same operations again (time).
LOWEST_TESTS=${LOWEST_TESTS:-"tests/unit/test_errors_and_waiting.py tests/modules/test_cvm_restore.py tests/modules/test_cvm_protection.py
  tests/modules/test_backup_policy.py tests/modules/test_backup_job_info.py tests/modules/test_recovery_point_info.py
  tests/modules/test_recovery_vault.py tests/modules/test_cvm_readiness_info.py tests/modules/test_keyvault_backup_access.py
  tests/modules/test_mhsm_role_assignment.py tests/modules/test_preview_feature.py"}
export PATH=$VENV/bin:$PATH
# shellcheck disable=SC2086
exec "$VENV/bin/python" -m pytest -n "${LOWEST_JOBS:-2}" -p no:cacheprovider -q $LOWEST_TESTS
