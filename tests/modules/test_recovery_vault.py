"""recovery_vault through the local Azure: create (check mode first), idempotent re-run, PATCH of what differs, the
refusals (move, redundancy with items, delete with items) and delete."""

from __future__ import annotations

from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import run_module, writes

MODULE = "recovery_vault"
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
NEW = {"name": "rsv-new-kc", "resource_group": "rg-backup", "location": "Korea Central"}


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "vault" not in result)


def vid(name: str) -> str:
    return f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/{name}"


def stored(sim, name: str) -> dict | None:
    with sim.lock:
        return sim.store.get(vid(name))


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def protect(sim, vault: str, rg: str, vm: str):
    with sim.lock:
        item = rs.item_body(vid(vault), f"/subscriptions/{DEMO_SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}")
        rs.set_policy(sim, item, sim.store.get(rs.policy_id(vid(vault), "DefaultPolicy")))
        rs.store_item(sim, vid(vault), item)


def test_create_in_check_mode_then_for_real_then_unchanged(azure_sim):
    check = run_module(azure_sim, MODULE, NEW, check=True, diff=True)
    assert not failed(check), check.get("msg")
    assert check["changed"] is True and writes(azure_sim.requests()) == []
    assert check["diff"]["before"] == {} and check["diff"]["after"]["location"] == "koreacentral"
    assert stored(azure_sim.sim, "rsv-new-kc") is None

    created = run_module(azure_sim, MODULE, NEW)
    assert not failed(created), created.get("msg")
    assert created["vault"]["storage_redundancy"] == "GeoRedundant" and created["vault"]["cross_region_restore"] is False
    body = stored(azure_sim.sim, "rsv-new-kc")
    assert body["location"] == "koreacentral"
    assert body["properties"]["redundancySettings"] == {"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Disabled"}

    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, NEW)
    assert again["changed"] is False and again["changes"] == [] and writes(azure_sim.requests(seq)) == []


def test_only_what_differs_is_patched(azure_sim):
    spec = {"name": "rsv-cvm-kc", "resource_group": "rg-backup", "tags": {"team": "ops"}}
    result = run_module(azure_sim, MODULE, spec, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changes"] == ["tags"]
    assert [r["method"] for r in writes(azure_sim.requests())] == ["PATCH"]
    body = stored(azure_sim.sim, "rsv-cvm-kc")
    assert body["tags"] == {"team": "ops"} and body["identity"]["type"] == "SystemAssigned"  # PATCH kept the identity
    assert body["properties"]["redundancySettings"]["standardTierStorageRedundancy"] == "LocallyRedundant"


def test_legacy_vault_keeps_its_settings_unless_asked_and_crr_warns(azure_sim):
    spec = {"name": "rsv-legacy-weu", "resource_group": "rg-backup"}
    result = run_module(azure_sim, MODULE, spec)
    assert result["changed"] is False and result["vault"]["cross_region_restore"] is True
    assert any("not supported for confidential VMs" in w for w in result.get("warnings", []))


def test_cross_region_restore_is_never_turned_off_and_no_such_patch_is_sent(azure_sim):
    """Issue 16 item 4: cross-region restore is irreversible; the module refuses before writing (evidence
    crr-cannot-be-disabled) and says a CVM needs a vault without it."""
    spec = {"name": "rsv-legacy-weu", "resource_group": "rg-backup", "cross_region_restore": False}
    for check in (True, False):
        off = run_module(azure_sim, MODULE, {**spec, "tags": {"team": "ops"}}, check=check)
        assert failed(off) and "cannot be turned off" in off["msg"] and "new vault" in off["msg"], off.get("msg")
        assert "confidential VM" in off["msg"]
    assert writes(azure_sim.requests()) == []  # the request log: no PATCH (nor any write) was ever sent
    assert stored(azure_sim.sim, "rsv-legacy-weu")["properties"]["redundancySettings"]["crossRegionRestore"] == "Enabled"


def test_refusals_come_before_any_write(azure_sim):
    moved = run_module(azure_sim, MODULE, {"name": "rsv-cvm-kc", "resource_group": "rg-backup", "location": "uaenorth"})
    assert failed(moved) and "cannot move" in moved["msg"]
    crr = run_module(azure_sim, MODULE, {"name": "rsv-cvm-kc", "resource_group": "rg-backup", "cross_region_restore": True})
    assert failed(crr) and "needs storage_redundancy GeoRedundant" in crr["msg"]
    no_location = run_module(azure_sim, MODULE, {"name": "rsv-x", "resource_group": "rg-backup"})
    assert failed(no_location) and "location is required" in no_location["msg"]
    protect(azure_sim.sim, "rsv-cvm-kc", "rg-cvm-kc", "cvm-pmk-01")
    grs = run_module(azure_sim, MODULE, {"name": "rsv-cvm-kc", "resource_group": "rg-backup", "storage_redundancy": "GeoRedundant"})
    assert failed(grs) and "1 backup item(s)" in grs["msg"]
    assert writes(azure_sim.requests()) == []


def test_absent_refuses_while_items_are_protected_then_deletes(azure_sim):
    protect(azure_sim.sim, "rsv-cvm-kc", "rg-cvm-kc", "cvm-pmk-01")
    refused = run_module(azure_sim, MODULE, {"name": "rsv-cvm-kc", "resource_group": "rg-backup", "state": "absent"})
    assert failed(refused) and "cvm-pmk-01" in refused["msg"] and "1 backup item(s)" in refused["msg"]
    assert writes(azure_sim.requests()) == []

    check = run_module(azure_sim, MODULE, {"name": "rsv-cvm-uae", "resource_group": "rg-backup", "state": "absent"}, check=True)
    assert check["changed"] is True and writes(azure_sim.requests()) == []
    gone = run_module(azure_sim, MODULE, {"name": "rsv-cvm-uae", "resource_group": "rg-backup", "state": "absent"})
    assert not failed(gone), gone.get("msg")
    assert gone["changed"] is True and stored(azure_sim.sim, "rsv-cvm-uae") is None
    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, {"name": "rsv-cvm-uae", "resource_group": "rg-backup", "state": "absent"})
    assert again["changed"] is False and writes(azure_sim.requests(seq)) == []


HARD = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
GUARD = ("/subscriptions/9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d/resourceGroups/rg-security/providers/"
         "Microsoft.DataProtection/resourceGuards/guard-backup")


def security(sim, name: str) -> dict:
    return stored(sim, name)["properties"]["securitySettings"]


def test_hardening_settings_check_mode_apply_and_rerun(azure_sim):
    spec = {**HARD, "soft_delete_retention_days": 30, "immutability": "unlocked", "public_network_access": "disabled",
            "job_failure_alerts": False, "classic_alerts": True}
    check = run_module(azure_sim, MODULE, spec, check=True, diff=True)
    assert not failed(check), check.get("msg")
    assert check["changed"] is True and writes(azure_sim.requests()) == []
    assert check["diff"]["before"]["immutability"] == "disabled" and check["diff"]["after"]["immutability"] == "unlocked"
    assert check["diff"]["before"]["soft_delete_retention_days"] == 14 and check["diff"]["after"]["soft_delete_retention_days"] == 30
    assert sorted(check["changes"]) == ["classic_alerts", "immutability", "job_failure_alerts", "public_network_access",
                                        "soft_delete_retention_days"]

    applied = run_module(azure_sim, MODULE, spec)
    assert not failed(applied), applied.get("msg")
    sent = [(r["method"], r["path"].rsplit("/", 2)[-2:]) for r in writes(azure_sim.requests())]
    assert sent == [("PATCH", ["vaults", "rsv-cvm-kc"]), ("PATCH", ["backupconfig", "vaultconfig"])], sent
    props = stored(azure_sim.sim, "rsv-cvm-kc")["properties"]
    assert props["publicNetworkAccess"] == "Disabled" and props["securitySettings"]["immutabilitySettings"]["state"] == "Unlocked"
    assert props["securitySettings"]["softDeleteSettings"]["softDeleteRetentionPeriodInDays"] == 30
    assert props["monitoringSettings"]["azureMonitorAlertSettings"]["alertsForAllJobFailures"] == "Disabled"
    assert props["monitoringSettings"]["classicAlertSettings"]["alertsForCriticalOperations"] == "Enabled"

    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, spec)
    assert again["changed"] is False and again["changes"] == [] and writes(azure_sim.requests(seq)) == []
    bad = run_module(azure_sim, MODULE, {**HARD, "soft_delete_retention_days": 181})
    assert failed(bad) and "14-180" in bad["msg"] and writes(azure_sim.requests(seq)) == []


def test_irreversible_settings_are_refused_without_confirmation_and_applied_once_with_it(azure_sim):
    spec = {**HARD, "soft_delete": "always_on", "immutability": "locked"}
    refused = run_module(azure_sim, MODULE, spec)
    assert failed(refused) and "confirm_irreversible: true" in refused["msg"]
    assert "soft_delete: always_on" in refused["msg"] and "immutability: locked" in refused["msg"]
    assert writes(azure_sim.requests()) == []

    check = run_module(azure_sim, MODULE, {**spec, "confirm_irreversible": True}, check=True)
    assert check["changed"] is True and writes(azure_sim.requests()) == []
    applied = run_module(azure_sim, MODULE, {**spec, "confirm_irreversible": True})
    assert not failed(applied), applied.get("msg")
    sent = [r["path"].rsplit("/", 1)[-1] for r in writes(azure_sim.requests())]
    # Azure locks only an unlocked vault (the local Azure refuses Disabled -> Locked): Unlocked, Locked, then soft delete
    assert sent == ["rsv-cvm-kc", "rsv-cvm-kc", "vaultconfig"], sent
    assert security(azure_sim.sim, "rsv-cvm-kc")["immutabilitySettings"]["state"] == "Locked"
    assert security(azure_sim.sim, "rsv-cvm-kc")["softDeleteSettings"]["softDeleteState"] == "AlwaysON"

    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, {**spec, "confirm_irreversible": True})
    assert again["changed"] is False and writes(azure_sim.requests(seq)) == []
    for back in ({"soft_delete": "disabled"}, {"immutability": "disabled"}):
        undo = run_module(azure_sim, MODULE, {**HARD, **back, "confirm_irreversible": True})
        assert failed(undo) and "irreversible" in undo["msg"], undo.get("msg")
    # the weaker setting asked for (the protect role's defaults) is included in the irreversible one: kept, with a warning
    weaker = run_module(azure_sim, MODULE, {**HARD, "soft_delete": "enabled", "immutability": "unlocked"})
    assert not failed(weaker) and weaker["changed"] is False, weaker.get("msg")
    assert weaker["vault"]["soft_delete"] == "always_on" and weaker["vault"]["immutability"] == "locked"
    assert sum("cannot be undone; kept" in w for w in weaker.get("warnings", [])) == 2
    assert writes(azure_sim.requests(seq)) == []


def test_a_new_vault_is_hardened_at_creation_and_guarded_from_another_subscription(azure_sim):
    with azure_sim.sim.lock:
        rs.state(azure_sim.sim)["resource_guards"][GUARD] = None
    spec = {**NEW, "immutability": "locked", "confirm_irreversible": True, "soft_delete_retention_days": 20,
            "resource_guard_id": GUARD}
    check = run_module(azure_sim, MODULE, spec, check=True, diff=True)
    assert not failed(check), check.get("msg")
    assert writes(azure_sim.requests()) == [] and check["diff"]["after"]["resource_guard_id"] == GUARD
    created = run_module(azure_sim, MODULE, spec)
    assert not failed(created), created.get("msg")
    assert [r["method"] for r in writes(azure_sim.requests())] == ["PUT", "PATCH", "PUT"]
    assert writes(azure_sim.requests())[2]["path"].endswith("/backupResourceGuardProxies/VaultProxy")
    assert "Microsoft.DataProtection/resourceGuards/disableSoftDeleteRequests" in created["resource_guard"]["protected_operations"]
    assert security(azure_sim.sim, "rsv-new-kc")["immutabilitySettings"]["state"] == "Locked"
    assert security(azure_sim.sim, "rsv-new-kc")["softDeleteSettings"]["softDeleteRetentionPeriodInDays"] == 20
    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, spec)
    assert again["changed"] is False and writes(azure_sim.requests(seq)) == []
    assert again["resource_guard"]["id"] == GUARD
    other = run_module(azure_sim, MODULE, {**spec, "resource_guard_id": GUARD.replace("guard-backup", "guard-2")})
    assert failed(other) and "already protected by Resource Guard" in other["msg"] and writes(azure_sim.requests(seq)) == []
    # turning soft delete off is an operation the guard protects: refused before any write, in check mode too
    for check_mode in (True, False):
        off = run_module(azure_sim, MODULE, {**spec, "soft_delete": "disabled"}, check=check_mode)
        assert failed(off) and f"protected by Resource Guard {GUARD}" in off["msg"], off.get("msg")
    assert writes(azure_sim.requests(seq)) == []
    assert security(azure_sim.sim, "rsv-new-kc")["softDeleteSettings"]["softDeleteState"] == "Enabled"


def soft_deleted(sim, vault: str, rg: str, vm: str):
    protect(sim, vault, rg, vm)
    with sim.lock:
        vault_res = sim.store.get(vid(vault))
        for iid in rs.vault_items(sim, vid(vault)).values():
            rs.soft_delete(sim, sim.store.get(iid), vault_res)


def test_vault_delete_explains_the_soft_deleted_items_that_block_it(azure_sim):
    soft_deleted(azure_sim.sim, "rsv-cvm-kc", "rg-cvm-kc", "cvm-pmk-01")
    refused = run_module(azure_sim, MODULE, {**HARD, "state": "absent"})
    assert failed(refused) and "1 soft-deleted backup item(s)" in refused["msg"] and "cvm-pmk-01" in refused["msg"]
    assert "undelete" in refused["msg"] and "soft_delete: disabled" in refused["msg"] and "wait until" in refused["msg"]
    assert "still protected" not in refused["msg"]
    with azure_sim.sim.lock:
        rs.soft_delete_settings(azure_sim.sim.store.get(vid("rsv-cvm-kc")))["softDeleteState"] = "AlwaysON"
    always = run_module(azure_sim, MODULE, {**HARD, "state": "absent"})
    assert failed(always) and "cannot be removed sooner because soft delete is always-on" in always["msg"]
    assert "undelete" not in always["msg"] and "soft_delete: disabled" not in always["msg"]
    assert writes(azure_sim.requests()) == [] and stored(azure_sim.sim, "rsv-cvm-kc") is not None


def test_the_readiness_report_warns_about_a_vault_without_the_secure_defaults(azure_sim):
    args = {"vms": [f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-pmk-01"],
            "vault": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}}
    before = run_module(azure_sim, "cvm_readiness_info", args)
    assert not failed(before), before.get("msg")
    assert len(before["vault_warnings"]) == 1 and "immutability is disabled" in before["vault_warnings"][0]
    assert any("lacks the secure defaults" in w for w in before.get("warnings", []))
    hardened = run_module(azure_sim, MODULE, {**HARD, "soft_delete": "enabled", "immutability": "unlocked", "job_failure_alerts": True})
    assert not failed(hardened) and hardened["changes"] == ["immutability"], hardened.get("msg")
    after = run_module(azure_sim, "cvm_readiness_info", args)
    assert after["vault_warnings"] == []
