"""The returns and options the roles take instead of re-deriving them in Jinja (issue 14 item 6), through the local
Azure: cvm_readiness_info `keys` and `regions`, recovery_vault and backup_policy `created`, recovery_point_info
`resource_group`, cvm_protection `assume_feature_registered`."""

from __future__ import annotations

from tests.azure_sim import recoveryservices as rs
from tests.modules.test_cvm_restore import VAULT, backup, protect
from tests.sim_helpers import run_module, writes

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
KC_VID = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
TARGETS = ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-kv-01", "rg-cvm-kc/cvm-rbac-01", "rg-cvm-uae/cvm-hsm-01",
           "rg-cvm-kc/cvm-v5-01"]


def test_readiness_returns_the_distinct_keys_with_their_ready_vms_and_the_regions(azure_sim):
    result = run_module(azure_sim, "cvm_readiness_info", {"vms": TARGETS, "assume_feature_registered": True})
    assert not result.get("failed"), result.get("msg")
    assert result["regions"] == ["koreacentral", "uaenorth"]
    keys = {(k["kind"], k["vault"], k["key_name"]): k for k in result["keys"]}
    assert set(keys) == {("key_vault", "kv-cvm-kc", "cvm-cmk"), ("key_vault", "kv-cvm-rbac", "cvm-cmk-rbac"),
                         ("managed_hsm", "hsm-cvm-uae", "cvm-hsm-key")}  # the PMK VM has none
    hsm = keys[("managed_hsm", "hsm-cvm-uae", "cvm-hsm-key")]
    assert hsm["store_uri"] == "https://hsm-cvm-uae.managedhsm.azure.net/"
    assert hsm["vms"] == ["rg-cvm-uae/cvm-hsm-01"] and hsm["ready_vms"] == ["rg-cvm-uae/cvm-hsm-01"]
    kv = keys[("key_vault", "kv-cvm-kc", "cvm-cmk")]
    assert kv["store_uri"] == "https://kv-cvm-kc.vault.azure.net/"
    assert "rg-cvm-kc/cvm-kv-01" in kv["ready_vms"] and set(kv["ready_vms"]) <= set(kv["vms"])
    v5 = next(vm for vm in result["vms"] if vm["name"] == "cvm-v5-01")  # not ready: never among any key's ready_vms
    assert v5["verdict"] == "not_ready"
    assert all("rg-cvm-kc/cvm-v5-01" not in k["ready_vms"] for k in result["keys"])
    pmk = run_module(azure_sim, "cvm_readiness_info", {"vms": ["rg-cvm-kc/cvm-pmk-01"]})
    assert pmk["keys"] == [] and pmk["regions"] == ["koreacentral"]
    assert writes(azure_sim.requests()) == []


def test_recovery_vault_says_whether_it_created_the_vault(azure_sim):
    new = {"name": "rsv-new-kc", "resource_group": "rg-backup", "location": "koreacentral"}
    planned = run_module(azure_sim, "recovery_vault", new, check=True)
    assert planned["created"] is True and writes(azure_sim.requests()) == []
    made = run_module(azure_sim, "recovery_vault", new)
    assert made["changed"] is True and made["created"] is True
    again = run_module(azure_sim, "recovery_vault", new)
    assert again["changed"] is False and again["created"] is False
    existing = run_module(azure_sim, "recovery_vault", {**KC, "location": "koreacentral"}, check=True)
    assert existing["created"] is False
    gone = run_module(azure_sim, "recovery_vault", {**new, "state": "absent"})
    assert gone["changed"] is True and gone["created"] is False


def test_backup_policy_says_whether_it_created_the_policy(azure_sim):
    daily = {"name": "cvm-created", "vault": KC, "schedule_time": "21:00", "time_zone": "Korea Standard Time"}
    planned = run_module(azure_sim, "backup_policy", daily, check=True)
    assert planned["created"] is True and writes(azure_sim.requests()) == []
    made = run_module(azure_sim, "backup_policy", daily)
    assert made["changed"] is True and made["created"] is True
    changed = run_module(azure_sim, "backup_policy", {**daily, "schedule_time": "22:00"})
    assert changed["changed"] is True and changed["created"] is False  # updated, not created
    gone = run_module(azure_sim, "backup_policy", {**daily, "state": "absent"})
    assert gone["changed"] is True and gone["created"] is False


def test_recovery_point_info_returns_the_vms_resource_group(azure_sim):
    protect(azure_sim)
    backup(azure_sim)
    by_name = run_module(azure_sim, "recovery_point_info", {"vm": "rg-cvm-kc/cvm-kv-01", "vault": VAULT})
    assert not by_name.get("failed"), by_name.get("msg")
    assert by_name["resource_group"] == "rg-cvm-kc" and by_name["vm_id"].endswith("/virtualMachines/cvm-kv-01")
    vm_id = by_name["vm_id"]
    by_id = run_module(azure_sim, "recovery_point_info", {"vm": vm_id, "vault": VAULT})
    assert by_id["resource_group"] == "rg-cvm-kc"


def test_cvm_protection_counts_the_feature_as_registered_only_when_told(azure_sim):
    # The demo's RestorePointSupportForConfidentialVMV2 is NotRegistered: a plan after a (check-mode) registration.
    with azure_sim.sim.lock:
        rs.add_policy(azure_sim.sim, KC_VID, "cvm-daily", rs.compact_policy({"name": "cvm-daily"}))
    args = {"vault": KC, "policy": "cvm-daily", "vms": ["rg-cvm-kc/cvm-pmk-01"]}
    blocked = run_module(azure_sim, "cvm_protection", args, check=True)
    assert blocked.get("failed") and "RestorePointSupportForConfidentialVMV2 is NotRegistered" in blocked["msg"]
    planned = run_module(azure_sim, "cvm_protection", {**args, "assume_feature_registered": True}, check=True)
    assert not planned.get("failed"), planned.get("msg")
    assert planned["changed"] is True and planned["vms"][0]["action"] == "protect"
    assert writes(azure_sim.requests()) == []
    # other readiness checks still run: a v5 VM stays blocked
    v5 = run_module(azure_sim, "cvm_protection", {**args, "vms": ["rg-cvm-kc/cvm-v5-01"], "assume_feature_registered": True},
                    check=True)
    assert v5.get("failed") and "v5" in v5["msg"]
