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
    # Azure refuses to turn cross-region restore off once on (az CLI: "non-reversible"; issue 15). The module still sends
    # the PATCH (issue 16 makes it refuse first); Azure's refusal reaches the user and nothing changes.
    off = run_module(azure_sim, MODULE, {**spec, "cross_region_restore": False})
    assert failed(off) and "non-reversible" in off["msg"]
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
