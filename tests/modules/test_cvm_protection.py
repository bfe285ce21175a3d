"""cvm_protection through the local Azure: check mode, protect, idempotent re-apply, policy change, stop/resume, delete,
first backup, the failures that must come before any write, and the request cost for a fleet of 50 CVMs."""

from __future__ import annotations

import pytest

from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import run_module, writes

MODULE = "cvm_protection"
ARM = "management.azure.com"
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
FLEET_SUB = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
UAE = {"name": "rsv-cvm-uae", "resource_group": "rg-backup"}
FEATURE = ("microsoft.compute", "restorepointsupportforconfidentialvmv2")


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "totals" not in result)


def vault_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{name}"


def vm_id(rg: str, name: str, sub: str = DEMO_SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def register_feature(sim, sub: str = DEMO_SUB):
    with sim.lock:
        sim.ext["features"][sub.lower()][FEATURE]["state"] = "Registered"


def add_policy(sim, vid: str, name: str, **spec):
    with sim.lock:
        rs.add_policy(sim, vid, name, rs.compact_policy(spec))


def item_of(sim, vid: str, rg: str, vm: str) -> dict | None:
    with sim.lock:
        return sim.store.get(rs.item_id(vid, rg, vm))


def arm(requests: list) -> list:
    return [r for r in requests if r["host"] == ARM]


def item_writes(requests: list) -> list:
    return [r for r in writes(requests) if "/protectedItems/" in r["path"]]


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def args(vms, policy="cvm-daily", vault=None, **extra) -> dict:
    return {"vault": vault or KC, "policy": policy, "vms": vms, **extra}


@pytest.fixture
def demo(azure_sim):
    """The demo estate, feature registered, two Enhanced policies in the Korea Central vault and one in UAE North."""
    sim = azure_sim.sim
    register_feature(sim)
    kc = vault_id(DEMO_SUB, "rg-backup", "rsv-cvm-kc")
    add_policy(sim, kc, "cvm-daily", time="21:00")
    add_policy(sim, kc, "cvm-hourly", frequency="Hourly", interval=4, time="08:00")
    add_policy(sim, vault_id(DEMO_SUB, "rg-backup", "rsv-cvm-uae"), "cvm-daily")
    return azure_sim


KC_VMS = ["rg-cvm-kc/cvm-pmk-01", {"resource_group": "rg-cvm-kc", "name": "cvm-kv-01"}]
KC_VID = vault_id(DEMO_SUB, "rg-backup", "rsv-cvm-kc")


# ------------------------------------------------------------------------------------------------ the life cycle


def test_check_mode_sends_no_write_and_reports_what_would_change(demo):
    result = run_module(demo, MODULE, args(KC_VMS), check=True, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] is True
    assert [(v["name"], v["action"], v["protection_state"], v["policy"]) for v in result["vms"]] == [
        ("cvm-pmk-01", "protect", "IRPending", "cvm-daily"), ("cvm-kv-01", "protect", "IRPending", "cvm-daily")]
    assert result["totals"]["protect"] == 2
    assert result["diff"]["after"]["rg-cvm-kc/cvm-pmk-01"]["policy"] == "cvm-daily"
    assert writes(demo.requests()) == []
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01") is None


@pytest.mark.parametrize("vault,policy", [(KC, "cvm-new"), ({"name": "rsv-new-kc", "resource_group": "rg-backup"}, "cvm-daily")])
def test_check_mode_plans_with_a_vault_or_policy_still_to_be_created(demo, vault, policy):
    result = run_module(demo, MODULE, args(KC_VMS, policy=policy, vault=vault), check=True)
    assert not failed(result), result.get("msg")
    assert [(v["action"], v["protection_state"], v["policy"]) for v in result["vms"]] == [("protect", "IRPending", policy)] * 2
    assert result["changed"] is True and any("does not exist yet" in w for w in result.get("warnings", []))
    assert writes(demo.requests()) == []
    real = run_module(demo, MODULE, args(KC_VMS, policy=policy, vault=vault))  # a real run still fails before any write
    assert failed(real) and "was not found" in real["msg"] and writes(demo.requests()) == []


def test_apply_protects_then_reapply_is_unchanged_with_no_write(demo):
    result = run_module(demo, MODULE, args(KC_VMS))
    assert not failed(result), result.get("msg")
    assert result["changed"] is True and result["totals"]["protect"] == 2
    for vm in result["vms"]:
        assert vm["changed"] and vm["protection_state"] in ("IRPending", "Protected") and vm["policy"] == "cvm-daily"
        assert vm["job_ids"], vm  # the ConfigureBackup job
    log = demo.requests()
    assert len([r for r in item_writes(log) if r["method"] == "PUT"]) == 2
    assert len([r for r in writes(log) if r["path"].endswith("/refreshContainers")]) == 1  # VMs were not discovered yet
    item = item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")
    assert item["properties"]["policyName"] == "cvm-daily"

    seq = last_seq(demo)
    again = run_module(demo, MODULE, args(KC_VMS))
    assert not failed(again), again.get("msg")
    assert again["changed"] is False and again["totals"]["unchanged"] == 2
    assert [v["action"] for v in again["vms"]] == ["none", "none"]
    assert writes(demo.requests(seq)) == []


def test_policy_change_then_stop_retaining_data_then_resume(demo):
    assert not failed(run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"])))
    seq = last_seq(demo)
    changed = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"], policy="cvm-hourly"), diff=True)
    assert not failed(changed), changed.get("msg")
    vm = changed["vms"][0]
    assert (vm["action"], vm["policy_before"], vm["policy"]) == ("change_policy", "cvm-daily", "cvm-hourly")
    assert changed["diff"]["before"]["rg-cvm-kc/cvm-pmk-01"]["policy"] == "cvm-daily"
    assert [r["method"] for r in writes(demo.requests(seq))] == ["PUT"]
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")["properties"]["policyName"] == "cvm-hourly"

    stopped = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "stopped"})
    assert not failed(stopped), stopped.get("msg")
    assert (stopped["vms"][0]["action"], stopped["vms"][0]["protection_state"]) == ("stop", "ProtectionStopped")
    item = item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")
    assert item is not None and item["properties"]["protectionState"] == "ProtectionStopped"  # data retained
    seq = last_seq(demo)
    assert run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "stopped"})["changed"] is False
    assert writes(demo.requests(seq)) == []

    resumed = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"]))
    assert not failed(resumed), resumed.get("msg")
    assert (resumed["vms"][0]["action"], resumed["vms"][0]["policy"]) == ("resume", "cvm-daily")
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")["properties"]["protectionState"] in ("IRPending", "Protected")


def test_absent_needs_the_confirmation_then_deletes_the_backup_data(demo):
    assert not failed(run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"])))
    seq = last_seq(demo)
    refused = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "absent"})
    assert failed(refused) and "confirm_delete_backup_data" in refused["msg"]
    assert demo.requests(seq) == []  # refused before any request
    removed = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "absent",
                                        "confirm_delete_backup_data": True})
    assert not failed(removed), removed.get("msg")
    # the vault has soft delete on (Azure's default): the item reads back ProtectionStopped, soft-deleted (issue 15)
    assert (removed["vms"][0]["action"], removed["vms"][0]["protection_state"]) == ("delete", "ProtectionStopped")
    # the vault has soft delete on (Azure's default): the data is soft-deleted, not gone (issue 15)
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")["properties"]["isScheduledForDeferredDelete"] is True
    seq = last_seq(demo)
    again = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "absent",
                                      "confirm_delete_backup_data": True})
    assert again["changed"] is False and writes(demo.requests(seq)) == []


def test_backup_now_takes_the_first_backup_and_waits_for_its_job(demo):
    result = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"], backup_now=True, backup_retention_days=10))
    assert not failed(result), result.get("msg")
    vm = result["vms"][0]
    assert vm["backup_job_status"] == "Completed" and vm["backup_job_id"] in vm["job_ids"]
    assert result["totals"]["backups"] == 1
    with demo.sim.lock:
        job = demo.sim.store.get(f"{KC_VID}/backupJobs/{vm['backup_job_id']}")
        item = demo.sim.store.get(rs.item_id(KC_VID, "rg-cvm-kc", "cvm-pmk-01"))
        points = demo.sim.store.children(item["id"], "recoveryPoints")
    assert job["properties"]["operation"] == "Backup" and job["properties"]["status"] == "Completed"
    assert len(points) == 1 and item["properties"]["protectionState"] == "Protected"
    backup_posts = [r for r in writes(demo.requests()) if r["path"].endswith("/backup")]
    assert len(backup_posts) == 1

    seq = last_seq(demo)
    again = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"], backup_now=True))
    assert again["changed"] is False and writes(demo.requests(seq)) == []


def test_backup_now_in_check_mode_plans_the_first_backup_and_sends_nothing(demo):
    """The review's M6 (backup_now ignoring check mode), in-process: the mutation stage's check for it."""
    result = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"], backup_now=True), check=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] is True and result["vms"][0]["backup_job_status"] == "WouldStart"
    assert writes(demo.requests()) == []


# ------------------------------------------------------------------------------------------------ failures before any write


@pytest.mark.parametrize("case,fragment", [
    ({"vms": ["rg-cvm-kc/no-such-vm"]}, "VM(s) not found: rg-cvm-kc/no-such-vm"),
    ({"vms": ["rg-cvm-kc/cvm-v5-01"]}, "v5 series is not supported"),
    ({"vms": ["rg-cvm-kc/cvm-gso-01"]}, "VMGuestStateOnly"),
    ({"vms": ["rg-cvm-kc/tl-vm-01"]}, "not ConfidentialVM"),
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "vault": UAE}, "must be in the same region as the VM"),
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "vault": UAE, "skip_readiness": True}, "must be in the same region as the VM"),
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "policy": "no-such-policy"}, "backup policy no-such-policy was not found"),
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "vault": {"name": "rsv-nope", "resource_group": "rg-backup"}}, "vault rsv-nope was not found"),
    # the checks shared with cvm_readiness_info: a registered blocking feature, a malformed one
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "blocking_features": ["Microsoft.Compute/UltraSSDWithVMSS"]}, "UltraSSDWithVMSS"),
    ({"vms": ["rg-cvm-kc/cvm-pmk-01"], "blocking_features": ["NoNamespace"]}, "is not of the form Namespace/FeatureName"),
])
def test_bad_input_fails_before_any_write_with_a_clear_message(demo, case, fragment):
    result = run_module(demo, MODULE, {**args(None), **case})
    assert failed(result) and fragment in result["msg"], result.get("msg")
    assert writes(demo.requests()) == []


def test_the_unregistered_feature_blocks_and_skip_readiness_lets_it_through(azure_sim):
    add_policy(azure_sim.sim, KC_VID, "cvm-daily")
    blocked = run_module(azure_sim, MODULE, args(["rg-cvm-kc/cvm-pmk-01"]))
    assert failed(blocked) and "RestorePointSupportForConfidentialVMV2 is NotRegistered" in blocked["msg"]
    assert writes(azure_sim.requests()) == []
    assert blocked["not_ready"]["rg-cvm-kc/cvm-pmk-01"]
    skipped = run_module(azure_sim, MODULE, args(["rg-cvm-kc/cvm-pmk-01"], skip_readiness=True))
    assert not failed(skipped), skipped.get("msg")
    assert skipped["vms"][0]["action"] == "protect"


def protect_elsewhere(sim) -> str:
    """A second Korea Central vault that already protects cvm-pmk-01."""
    with sim.lock:
        other = rs.add_vault(sim, rs.vault_body(sim, DEMO_SUB, "rg-backup", "rsv-other-kc", "koreacentral"))
        rs.add_policy(sim, other["id"], "p1", rs.compact_policy({}))
        item = rs.item_body(other["id"], vm_id("rg-cvm-kc", "cvm-pmk-01"))
        rs.set_policy(sim, item, sim.store.get(rs.policy_id(other["id"], "p1")))
        item["properties"]["protectionState"] = "Protected"
        rs.store_item(sim, other["id"], item)
    return other["id"]


def test_vm_protected_in_another_vault_fails_naming_that_vault(demo):
    protect_elsewhere(demo.sim)
    result = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-kv-01"]))
    assert failed(result) and "rsv-other-kc" in result["msg"], result.get("msg")
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01") is None


def test_vm_protected_in_another_vault_is_found_before_any_protection_write(demo):
    protect_elsewhere(demo.sim)
    result = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-kv-01"]))
    assert failed(result) and "already protected by vault rsv-other-kc" in result["msg"]
    assert item_writes(demo.requests()) == []


# ------------------------------------------------------------------------------------------------ fleet


def test_fleet_of_50_one_write_per_vm_then_zero_writes_and_bounded_reads(sim_server_factory):
    fleet = sim_server_factory("fleet", vms=50)
    vid = vault_id(FLEET_SUB, "rg-fleet-backup", "rsv-fleet-koreacentral")
    add_policy(fleet.sim, vid, "cvm-daily")
    groups = [f"rg-fleet-{n:02d}" for n in range(1, 6)]
    spec = {"vault": {"name": "rsv-fleet-koreacentral", "resource_group": "rg-fleet-backup"}, "policy": "cvm-daily",
            "resource_groups": groups}

    first = run_module(fleet, MODULE, spec)
    assert not failed(first), first.get("msg")
    protected = [v for v in first["vms"] if v["action"] == "protect"]
    assert len(protected) == 30 and first["totals"]["protect"] == 30  # koreacentral: rg-fleet-01, -03, -05
    assert len(first["excluded"]) == 20 and all("uaenorth" in s["reason"] for s in first["excluded"])
    log = first_log = fleet.requests()
    assert len(item_writes(log)) == 30
    assert len(writes(log)) <= 30 + 1  # one PUT per VM plus the one container refresh
    reads = [r for r in arm(first_log) if r["method"] == "GET"]
    assert len(reads) < 30 + 20  # lists in rounds, never one GET per VM

    seq = last_seq(fleet)
    second = run_module(fleet, MODULE, spec)
    assert not failed(second), second.get("msg")
    assert second["changed"] is False and second["totals"]["unchanged"] == 30
    log = fleet.requests(seq)
    assert writes(log) == []
    # vault, policy, 5 resource-group lists, 1 protected-items list (paged at 100)
    assert len(arm(log)) <= 10, [r["path"] for r in arm(log)]


def test_the_backup_of_a_deleted_vm_can_still_be_deleted(demo):
    assert not failed(run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"])))
    with demo.sim.lock:
        demo.sim.store.delete(vm_id("rg-cvm-kc", "cvm-pmk-01"))
    again = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"]))
    assert failed(again) and "VM(s) not found: rg-cvm-kc/cvm-pmk-01" in again["msg"]
    removed = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "absent",
                                        "confirm_delete_backup_data": True})
    assert not failed(removed), removed.get("msg")
    assert removed["vms"][0]["action"] == "delete"  # soft-deleted (the vault's soft delete is on; issue 15)
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")["properties"]["isScheduledForDeferredDelete"] is True


def test_fleet_survives_throttled_writes_and_failing_lists(sim_server_factory):
    fleet = sim_server_factory("fleet", vms=50)
    fleet.set_faults({"seed": 7, "rules": [{"kind": "throttle", "method": "^PUT$", "rate": 0.2, "retry_after": 1},
                                           {"kind": "error", "status": 503, "path": "backupProtectedItems$", "count": 2}]})
    add_policy(fleet.sim, vault_id(FLEET_SUB, "rg-fleet-backup", "rsv-fleet-koreacentral"), "cvm-daily")
    result = run_module(fleet, MODULE, {"vault": {"name": "rsv-fleet-koreacentral", "resource_group": "rg-fleet-backup"},
                                        "policy": "cvm-daily", "resource_groups": ["rg-fleet-01", "rg-fleet-03", "rg-fleet-05"]})
    assert not failed(result), result.get("msg")
    assert result["totals"]["protect"] == 30 and result["totals"]["failed"] == 0
    faults = [r for r in fleet.requests() if r["fault"]]
    assert len(faults) >= 3 and result["retries"] == len(faults)


def test_a_failed_first_backup_says_why(demo):
    """cvm-kv-01's key vault gives the Backup Management Service no key permissions: the backup job fails."""
    result = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-kv-01"], backup_now=True))
    assert failed(result) and "UserErrorKeyVaultPermissionsNotConfigured" in result["msg"], result.get("msg")
    vm = result["vms"][0]
    assert vm["action"] == "protect" and vm["backup_job_status"] == "Failed" and vm["backup_job_id"]
    assert result["changed"] is True and result["totals"]["failed"] == 1
