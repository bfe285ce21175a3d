"""recovery_point_info through the local Azure: points newest first with time, consistency and tiers; one point by
name or 'latest'; an unknown point and an unprotected VM; never a write."""

from __future__ import annotations

from tests.modules.test_cvm_restore import VAULT, VAULT_ID, backup, failed, last_seq, points, protect
from tests.sim_helpers import run_module, writes

MODULE = "recovery_point_info"
ARGS = {"vm": "rg-cvm-kc/cvm-kv-01", "vault": VAULT}


def test_points_newest_first_with_time_consistency_and_tiers(azure_sim):
    protect(azure_sim)
    backup(azure_sim)
    backup(azure_sim, snapshot_only=True)
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, ARGS)
    assert not failed(result), result.get("msg")
    points = result["recovery_points"]
    assert [p["tiers"] for p in points] == [["snapshot"], ["snapshot", "vault"]]
    assert points[0]["time"] > points[1]["time"]
    assert all(p["consistency"] == "AppConsistent" and p["security_type"] == "ConfidentialVM" for p in points)
    assert points[1]["tier_details"] == [{"type": "InstantRP", "tier": "snapshot", "status": "Valid"},
                                         {"type": "HardenedRP", "tier": "vault", "status": "Valid"}]
    assert result["protected_item"] == "VM;iaasvmcontainerv2;rg-cvm-kc;cvm-kv-01"
    assert result["vm_id"].endswith("/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-kv-01")
    assert points[0]["id"].startswith(VAULT_ID + "/backupFabrics/Azure/protectionContainers/")
    assert writes(azure_sim.requests(before)) == []

    one = run_module(azure_sim, MODULE, {**ARGS, "recovery_point": points[1]["name"]}, check=True)
    assert [p["name"] for p in one["recovery_points"]] == [points[1]["name"]]
    latest = run_module(azure_sim, MODULE, {**ARGS, "vault": VAULT_ID, "recovery_point": "latest"})
    assert [p["name"] for p in latest["recovery_points"]] == [points[0]["name"]]


def test_an_unknown_point_fails_and_names_the_newest(azure_sim):
    protect(azure_sim)
    backup(azure_sim)
    result = run_module(azure_sim, MODULE, {**ARGS, "recovery_point": "42"})
    assert failed(result) and "'42'" in result["msg"] and "was not found" in result["msg"]
    assert f"newest points: {points(azure_sim)[0]['name']}" in result["msg"]


def test_an_unprotected_vm_is_reported(azure_sim):
    result = run_module(azure_sim, MODULE, {"vm": {"resource_group": "rg-cvm-kc", "name": "cvm-pmk-01"}, "vault": VAULT})
    assert failed(result) and "is not protected in Recovery Services vault rg-backup/rsv-cvm-kc" in result["msg"]


def test_a_malformed_vault_fails_before_any_request(azure_sim):
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {**ARGS, "vault": "rsv-cvm-kc"})
    assert failed(result) and "is not a Recovery Services vault" in result["msg"]
    assert azure_sim.requests(before) == []
