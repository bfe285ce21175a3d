"""cvm_protection_info through the local Azure: what a vault protects, with state, health, last backup, latest recovery
point and policy; filters; never a write; one list for the items."""

from __future__ import annotations

from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import run_module, writes

MODULE = "cvm_protection_info"
ARM = "management.azure.com"
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
KC_VID = f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "items" not in result)


def seed(sim):
    """cvm-pmk-01 protected with one recovery point; cvm-kv-01 stopped with its data retained."""
    with sim.lock:
        rs.add_policy(sim, KC_VID, "cvm-daily", rs.compact_policy({}))
        policy = sim.store.get(rs.policy_id(KC_VID, "cvm-daily"))
        for vm, stopped in (("cvm-pmk-01", False), ("cvm-kv-01", True)):
            vm_res = sim.store.get(f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/{vm}")
            item = rs.item_body(KC_VID, vm_res["id"])
            rs.set_policy(sim, item, policy)
            rs.store_item(sim, KC_VID, item)
            rs.add_recovery_point(sim, item, vm_res)
            if stopped:
                rs.set_policy(sim, item, None)
                item["properties"]["protectionState"] = "ProtectionStopped"


def test_lists_every_item_with_one_list_and_no_write(azure_sim):
    seed(azure_sim.sim)
    result = run_module(azure_sim, MODULE, {"vault": KC})
    assert not failed(result), result.get("msg")
    items = {i["name"]: i for i in result["items"]}
    assert sorted(items) == ["cvm-kv-01", "cvm-pmk-01"]
    pmk = items["cvm-pmk-01"]
    assert (pmk["protection_state"], pmk["health_status"], pmk["last_backup_status"], pmk["policy"]) == (
        "Protected", "Passed", "Completed", "cvm-daily")
    assert pmk["last_backup_time"] and pmk["latest_recovery_point"]["time"] == pmk["last_backup_time"]
    assert pmk["resource_group"] == "rg-cvm-kc" and pmk["item_name"] == "VM;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01"
    assert items["cvm-kv-01"]["protection_state"] == "ProtectionStopped" and items["cvm-kv-01"]["policy"] is None
    assert result["count"] == {"total": 2, "Protected": 1, "ProtectionStopped": 1}
    log = azure_sim.requests()
    assert writes(log) == []
    assert len([r for r in log if r["host"] == ARM]) == 1  # the protected items list


def test_named_vms_include_the_unprotected_and_recovery_point_details(azure_sim):
    seed(azure_sim.sim)
    result = run_module(azure_sim, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-rbac-01"],
                                            "recovery_point_details": True}, check=True)
    assert not failed(result), result.get("msg")
    pmk, rbac = result["items"]
    assert rbac["name"] == "cvm-rbac-01" and rbac["protection_state"] == "NotProtected"
    assert pmk["recovery_points"] == 1 and pmk["latest_recovery_point"]["id"]
    assert {t["type"] for t in pmk["latest_recovery_point"]["tiers"]} >= {"InstantRP"}
    assert writes(azure_sim.requests()) == []


def test_resource_group_filter_and_an_empty_vault(azure_sim):
    seed(azure_sim.sim)
    other = run_module(azure_sim, MODULE, {"vault": KC, "resource_groups": ["rg-cvm-uae"]})
    assert not failed(other) and other["items"] == []
    empty = run_module(azure_sim, MODULE, {"vault": {"name": "rsv-cvm-uae", "resource_group": "rg-backup"}})
    assert not failed(empty) and empty["count"] == {"total": 0}
    missing = run_module(azure_sim, MODULE, {"vault": {"name": "rsv-nope", "resource_group": "rg-backup"}})
    assert failed(missing) and "rsv-nope" in missing["msg"]
