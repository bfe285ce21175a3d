"""cvm_restore through the local Azure: restore disks and alternate location with the expected DES, no second job on a
second run, check mode without a write, each documented tier rule, the checks before any write, and a failed restore job.

The helpers at the top arrange a protected VM with backups; test_recovery_point_info and test_backup_job_info use them.
State is arranged through the simulator objects (policy and protected item) and through the API (key access for the
Backup Management Service, on-demand backups), never through the protection modules of this collection.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from tests.azure_sim import compute as sim_compute
from tests.azure_sim import recoveryservices as sim_rs
from tests.sim.inproc import call
from tests.sim_helpers import run_module, run_playbook, writes

MODULE = "cvm_restore"
ARM = "https://management.azure.com"
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
BACKUP_API = "2025-08-01"
VAULT = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
KC = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers"
DES_ORIGINAL = f"{KC}/Microsoft.Compute/diskEncryptionSets/des-cvm-kv"
DES_NEW = f"{KC}/Microsoft.Compute/diskEncryptionSets/des-cvm-kv-new"
BMS_OBJECT_ID = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
BASE_ARGS = {"vm": "rg-cvm-kc/cvm-kv-01", "vault": VAULT, "staging_storage_account": "stcvmrestorekc",
             "target_resource_group": "rg-cvm-kc"}


# ------------------------------------------------------------------------------------------------ arranging state


def item_path(rg: str = "rg-cvm-kc", vm: str = "cvm-kv-01") -> str:
    return (f"{VAULT_ID}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{rg};{vm}"
            f"/protectedItems/VM;iaasvmcontainerv2;{rg};{vm}")


def until(sim, what: str, fn, tries: int = 100):
    """Poll fn() (in-process calls, so the simulator's timers run) until it returns something truthy."""
    for _attempt in range(tries):
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"local Azure: {what} did not happen")


def job_body(sim, name: str) -> dict:
    return call(sim, "GET", f"{ARM}{VAULT_ID}/backupJobs/{name}?api-version={BACKUP_API}").body


def wait_job(sim, response) -> dict:
    """The job of a 202 from the backup API, once it has ended (via its operation status' jobId)."""
    status = call(sim, "GET", response.headers["Azure-AsyncOperation"]).body
    name = status["properties"]["jobId"]

    def ended():
        job = job_body(sim, name)
        return job if job["properties"]["status"] != "InProgress" else None

    return until(sim, f"job {name} to end", ended)


def protect(server, rg: str = "rg-cvm-kc", vm: str = "cvm-kv-01"):
    """Protect the VM in rsv-cvm-kc (policy and item through the simulator objects) and let the Backup Management
    Service back up its key (the access policy API of the key vault), as the documented prerequisites require."""
    sim = server.sim
    with sim.lock:
        policy = sim.store.get(sim_rs.policy_id(VAULT_ID, "cvm-daily")) or \
            sim_rs.add_policy(sim, VAULT_ID, "cvm-daily", sim_rs.compact_policy({"name": "cvm-daily"}))
        item = sim_rs.item_body(VAULT_ID, f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}")
        sim_rs.set_policy(sim, item, policy)
        sim_rs.store_item(sim, VAULT_ID, item)
    grant = {"properties": {"accessPolicies": [{"tenantId": sim.tenant_id, "objectId": BMS_OBJECT_ID,
                                                "permissions": {"keys": ["get", "list", "backup"], "secrets": ["get", "list"]}}]}}
    assert call(sim, "PUT", f"{ARM}{KC}/Microsoft.KeyVault/vaults/kv-cvm-kc/accessPolicies/add?api-version=2023-07-01", grant).status == 200


def backup(server, snapshot_only: bool = False, rg: str = "rg-cvm-kc", vm: str = "cvm-kv-01") -> dict:
    """One on-demand backup through the API, run to completion; the completed Backup job."""
    sim = server.sim
    with sim.lock:
        sim_rs.state(sim)["snapshot_only"] = snapshot_only
    response = call(sim, "POST", f"{ARM}{item_path(rg, vm)}/backup?api-version={BACKUP_API}",
                    {"properties": {"objectType": "IaasVMBackupRequest"}})
    assert response.status == 202, response.body
    job = wait_job(sim, response)
    assert job["properties"]["status"] == "Completed", job
    return job


def protect_and_backup(server, snapshot_only: bool = False) -> dict:
    protect(server)
    return backup(server, snapshot_only)


def points(server) -> list[dict]:
    return call(server.sim, "GET", f"{ARM}{item_path()}/recoveryPoints?api-version={BACKUP_API}").body["value"]


def restore_jobs(server) -> list[dict]:
    body = call(server.sim, "GET", f"{ARM}{VAULT_ID}/backupJobs?api-version={BACKUP_API}&$filter=operation eq 'Restore'").body
    return body["value"]


def add_replacement_des(server, name: str = "des-cvm-kv-new", key_vault: str = "kv-cvm-kc", key: str = "cvm-cmk"):
    """A second confidential DES (on the original key vault and key unless told otherwise)."""
    with server.sim.lock:
        sim_compute.seed_des(server.sim, SUB, "rg-cvm-kc", "koreacentral",
                             {"name": name, "type": "ConfidentialVmEncryptedWithCustomerKey", "key": {"key_vault": key_vault, "name": key}})


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "request" not in result)


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def disk(server, disk_id: str) -> dict:
    return server.sim.store.get(disk_id)


def os_disk_des(server, disk_id: str) -> str:
    return disk(server, disk_id)["properties"]["securityProfile"]["secureVMDiskEncryptionSetId"]


@pytest.fixture
def protected(azure_sim):
    protect_and_backup(azure_sim)
    return azure_sim


# ------------------------------------------------------------------------------------------------ restore and idempotency


def foreign_disk_during_restore(monkeypatch, rg: str, name: str = "someone-elses-disk") -> list:
    """While the next Restore job runs, something else creates a managed disk in the target group (just before the
    job's end): [the disk] once it has."""
    made = []
    real = sim_rs.finish_restore

    def finish(sim, job, request, point_id):
        if not made:
            made.append(sim_compute.make_disk(sim, SUB, rg, name, "koreacentral", os_type="Windows"))
        real(sim, job, request, point_id)

    monkeypatch.setattr(sim_rs, "finish_restore", finish)
    return made


def test_restore_disks_with_the_original_des_then_a_second_run_starts_no_job(protected, monkeypatch):
    foreign = foreign_disk_during_restore(monkeypatch, "rg-cvm-kc")
    result = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(result), result.get("msg")
    assert result["changed"] and not result["reused"]
    assert result["job"]["status"] == "Completed" and result["source_tier"] == "snapshot"
    assert result["os_disk_encryption_set"].lower() == DES_ORIGINAL.lower() and not result["replacement_des"]
    assert "securedVMDetails" not in result["request"]["properties"]  # no DES given: none sent (az CLI, Microsoft's script)
    assert result["restored_blobs"]["storage_account"] == "stcvmrestorekc" and result["restored_blobs"]["template_blob_uri"]
    disks = result["restored_disk_ids"]
    assert len(disks) == 2 and all("/resourceGroups/rg-cvm-kc/" in d for d in disks)  # OS disk and the data disk
    assert os_disk_des(protected, disks[0]).lower() == DES_ORIGINAL.lower()
    assert len(restore_jobs(protected)) == 1
    # the disk someone else made in the group while the job ran is reported, tied by its time only, and left out
    assert foreign and foreign[0]["id"] not in disks
    matched = {d["id"]: d["matched_by"] for d in result["restored_disks"]}
    assert matched == {disks[0]: "restore_point", disks[1]: "restore_point", foreign[0]["id"]: "time"}

    before = last_seq(protected)
    again = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(again), again.get("msg")
    assert not again["changed"] and again["reused"] and again["job"]["name"] == result["job"]["name"]
    assert again["restored_disk_ids"] == disks
    assert writes(protected.requests(before)) == []
    assert len(restore_jobs(protected)) == 1


def test_force_starts_a_new_restore_of_the_same_point(protected):
    first = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(first), first.get("msg")
    second = run_module(protected, MODULE, {**BASE_ARGS, "force": True})
    assert not failed(second), second.get("msg")
    assert second["changed"] and second["job"]["name"] != first["job"]["name"]
    assert len(restore_jobs(protected)) == 2


def test_another_target_is_another_restore(protected):
    first = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(first), first.get("msg")
    other = run_module(protected, MODULE, {**BASE_ARGS, "target_resource_group": "rg-backup"})
    assert not failed(other), other.get("msg")
    assert other["changed"] and other["job"]["name"] != first["job"]["name"]
    assert all("/resourceGroups/rg-backup/" in d for d in other["restored_disk_ids"])


def test_alternate_location_with_a_replacement_des_comes_from_the_vault_tier(protected):
    add_replacement_des(protected)
    args = {**BASE_ARGS, "restore_type": "alternate_location", "target_vm_name": "cvm-kv-01-restored",
            "virtual_network": "vnet-cvm-kc", "subnet": "default", "os_disk_encryption_set": "des-cvm-kv-new"}
    result = run_module(protected, MODULE, args)
    assert not failed(result), result.get("msg")
    assert result["changed"] and result["job"]["status"] == "Completed"
    assert result["source_tier"] == "vault" and result["replacement_des"]
    assert any("vault tier" in note for note in result["notes"])
    props = result["request"]["properties"]
    assert props["recoveryType"] == "AlternateLocation" and props["securedVMDetails"]["securedVMOsDiskEncryptionSetId"] == DES_NEW
    assert props["subnetId"] == f"{KC}/Microsoft.Network/virtualNetworks/vnet-cvm-kc/subnets/default"
    vm = protected.sim.store.get(result["restored_vm_id"])
    assert vm is not None and vm["name"] == "cvm-kv-01-restored"
    os_disk = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]
    assert os_disk["securityProfile"]["diskEncryptionSet"]["id"].lower() == DES_NEW.lower()
    assert os_disk_des(protected, os_disk["id"]).lower() == DES_NEW.lower()


def test_alternate_location_second_run_starts_no_job(protected):
    add_replacement_des(protected)
    args = {**BASE_ARGS, "restore_type": "alternate_location", "target_vm_name": "cvm-kv-01-restored",
            "virtual_network": "vnet-cvm-kc", "subnet": "default", "os_disk_encryption_set": "des-cvm-kv-new"}
    result = run_module(protected, MODULE, args)
    assert not failed(result), result.get("msg")
    before = last_seq(protected)
    again = run_module(protected, MODULE, args)
    assert not failed(again), again.get("msg")
    assert not again["changed"] and again["reused"] and again["restored_vm_id"] == result["restored_vm_id"]
    assert writes(protected.requests(before)) == []


def job_bag(server, name: str) -> dict:
    """The stored propertyBag of a job (tests change it to show what the module does with other bags)."""
    return server.sim.store.get(f"{VAULT_ID}/backupJobs/{name}")["properties"]["extendedInfo"]["propertyBag"]


def test_a_restore_job_whose_bag_cannot_decide_needs_force(protected):
    first = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(first), first.get("msg")
    with protected.sim.lock:  # a bag without the published properties: nothing can tell the job from this restore
        job_bag(protected, first["job"]["name"]).clear()
    before = last_seq(protected)
    again = run_module(protected, MODULE, BASE_ARGS)
    assert failed(again) and first["job"]["name"] in again["msg"] and "force: true" in again["msg"]
    assert "Job Type" in again["msg"] and "Traceback" not in again["msg"]
    assert writes(protected.requests(before)) == []
    with protected.sim.lock:  # the point time shifted by 9 hours, as a time zone would: still cannot tell
        bag = job_bag(protected, first["job"]["name"])
        bag.update({"Job Type": "Recover disks", "Target resource group": "rg-cvm-kc", "Target Storage Account Name": "stcvmrestorekc",
                    "Recovery point time ": sim_rs.bag_time(datetime.fromisoformat(
                        points(protected)[0]["properties"]["recoveryPointTime"][:19]) + timedelta(hours=9))})
    shifted = run_module(protected, MODULE, BASE_ARGS)
    assert failed(shifted) and "Recovery point time" in shifted["msg"] and "force: true" in shifted["msg"]
    assert writes(protected.requests(before)) == []
    forced = run_module(protected, MODULE, {**BASE_ARGS, "force": True})
    assert not failed(forced), forced.get("msg")
    assert forced["changed"] and forced["job"]["name"] != first["job"]["name"] and len(restore_jobs(protected)) == 2


def test_a_second_run_while_the_restore_runs_waits_or_needs_force(protected):
    protected.sim.config["lro_seconds"] = 40  # the restore job runs long enough for a second run to find it running
    first = run_module(protected, MODULE, {**BASE_ARGS, "wait": False})
    assert not failed(first), first.get("msg")
    assert first["changed"] and first["job"]["status"] == "InProgress" and first["restored_disk_ids"] == []
    before = last_seq(protected)
    planned = run_module(protected, MODULE, BASE_ARGS, check=True)
    assert not failed(planned), planned.get("msg")
    assert any("still running" in note for note in planned["notes"])
    asked = run_module(protected, MODULE, {**BASE_ARGS, "wait": False})
    assert failed(asked) and "InProgress" in asked["msg"] and "force: true" in asked["msg"]
    waited = run_module(protected, MODULE, BASE_ARGS)
    assert not failed(waited), waited.get("msg")
    assert not waited["changed"] and waited["reused"] and waited["job"]["name"] == first["job"]["name"]
    assert waited["job"]["status"] == "Completed" and len(waited["restored_disk_ids"]) == 2
    assert writes(protected.requests(before)) == []
    assert len(restore_jobs(protected)) == 1


def test_an_existing_vm_the_earlier_restore_did_not_make_is_a_clash(protected):
    """A Restore job does not name the VM it made: after an alternate-location restore of the point, the same point
    asked for under the name of a VM something else made is refused (not reported as done), force or not."""
    args = {**BASE_ARGS, "restore_type": "alternate_location", "target_vm_name": "cvm-kv-01-restored",
            "virtual_network": "vnet-cvm-kc", "subnet": "default"}
    first = run_module(protected, MODULE, args)
    assert not failed(first) and first["changed"], first.get("msg")
    before = last_seq(protected)
    for extra in ({}, {"force": True}):
        other = run_module(protected, MODULE, {**args, "target_vm_name": "cvm-pmk-01", **extra})  # the scenario's, older
        assert failed(other) and not other.get("reused") and "cvm-pmk-01 already exists" in other["msg"], other
        assert "target_vm_name" in other["msg"] and "Traceback" not in other["msg"]
    with protected.sim.lock:  # the job shown as having run two hours before its VM was made: that VM is not its own
        job = protected.sim.store.get(f"{VAULT_ID}/backupJobs/{first['job']['name']}")["properties"]
        for key in ("startTime", "endTime"):
            job[key] = (datetime.fromisoformat(job[key][:19]) - timedelta(hours=2)).isoformat() + "Z"
    again = run_module(protected, MODULE, args)
    assert failed(again) and "cvm-kv-01-restored already exists" in again["msg"], again
    assert writes(protected.requests(before)) == [] and len(restore_jobs(protected)) == 1


def test_an_existing_vm_at_the_alternate_target_fails_before_any_write(protected):
    before = last_seq(protected)
    args = {**BASE_ARGS, "restore_type": "alternate_location", "target_vm_name": "cvm-pmk-01",
            "virtual_network": "vnet-cvm-kc", "subnet": "default"}
    result = run_module(protected, MODULE, args)
    assert failed(result) and "cvm-pmk-01 already exists" in result["msg"] and "target_vm_name" in result["msg"]
    assert writes(protected.requests(before)) == []


def test_original_location_needs_confirm_overwrite_and_check_mode_shows_the_plan_without_it(protected):
    args = {"vm": "rg-cvm-kc/cvm-kv-01", "vault": VAULT, "staging_storage_account": "stcvmrestorekc",
            "restore_type": "original_location"}
    before = last_seq(protected)
    refused = run_module(protected, MODULE, args)
    assert failed(refused) and "confirm_overwrite: true" in refused["msg"] and refused["msg"].count(". ") == 0
    assert [r for r in protected.requests(before) if r["host"] == "management.azure.com"] == []
    plan = run_module(protected, MODULE, args, check=True)
    assert not failed(plan), plan.get("msg")
    assert plan["changed"] and plan["request"]["properties"]["recoveryType"] == "OriginalLocation"
    assert "securedVMDetails" not in plan["request"]["properties"] and any("confirm_overwrite" in n for n in plan["notes"])
    assert writes(protected.requests(before)) == []
    done = run_module(protected, MODULE, {**args, "confirm_overwrite": True})
    assert not failed(done), done.get("msg")
    assert done["changed"] and done["job"]["status"] == "Completed"
    assert done["restored_vm_id"].lower().endswith("/virtualmachines/cvm-kv-01") and len(done["restored_disk_ids"]) == 2
    again = run_module(protected, MODULE, {**args, "confirm_overwrite": True})
    assert not failed(again), again.get("msg")
    assert not again["changed"] and again["reused"] and again["job"]["name"] == done["job"]["name"]


def test_the_restore_playbook_passes_confirm_overwrite_through(protected):
    restore = {"cvm_restore_vm": "rg-cvm-kc/cvm-kv-01", "cvm_restore_vault": VAULT, "cvm_staging_storage_account": "stcvmrestorekc",
               "cvm_restore_type": "original_location"}
    before = last_seq(protected)
    rc, out = run_playbook(protected, "playbooks/restore_cvm.yml", restore)
    assert rc != 0 and "restore_confirm_overwrite: true" in out
    rc, out = run_playbook(protected, "playbooks/restore_cvm.yml", restore, check=True)
    assert rc == 0, out[-3000:]
    assert writes(protected.requests(before)) == [] and restore_jobs(protected) == []
    rc, out = run_playbook(protected, "playbooks/restore_cvm.yml", {**restore, "cvm_restore_confirm_overwrite": True})
    assert rc == 0, out[-3000:]
    assert "Completed" in out and "Restored disks (found in Azure): /subscriptions/" in out
    assert len(restore_jobs(protected)) == 1


def test_a_given_des_is_sent_and_said_to_restore_from_the_vault_tier(protected):
    add_replacement_des(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "os_disk_encryption_set": "des-cvm-kv-new"}, check=True)
    assert not failed(result), result.get("msg")
    assert result["request"]["properties"]["securedVMDetails"] == {"securedVMOsDiskEncryptionSetId": DES_NEW}
    assert result["source_tier"] == "vault" and any("vault tier" in note for note in result["notes"])


# ------------------------------------------------------------------------------------------------ check mode


def test_check_mode_validates_and_returns_the_request_without_a_write(protected):
    before = last_seq(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "recovery_point": points(protected)[0]["name"]}, check=True, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] and "job" not in result
    props = result["request"]["properties"]
    assert props["recoveryType"] == "RestoreDisks" and props["recoveryPointId"] == points(protected)[0]["name"]
    assert props["storageAccountId"].endswith("/Microsoft.Storage/storageAccounts/stcvmrestorekc")
    assert result["diff"]["before"] == {"restore": None} and result["diff"]["after"]["restore"]["restore_type"] == "RestoreDisks"
    assert writes(protected.requests(before)) == []
    assert restore_jobs(protected) == []


def test_check_mode_still_refuses_what_would_fail(protected):
    before = last_seq(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "os_disk_encryption_set": "des-sse-kc"}, check=True)
    assert failed(result) and "ConfidentialVmEncryptedWithCustomerKey" in result["msg"]
    assert writes(protected.requests(before)) == []


# ------------------------------------------------------------------------------------------------ tier rules


def test_snapshot_only_point_restores_with_the_original_des_from_the_snapshot_tier(azure_sim):
    protect_and_backup(azure_sim, snapshot_only=True)
    result = run_module(azure_sim, MODULE, BASE_ARGS, check=True)
    assert not failed(result), result.get("msg")
    assert result["source_tier"] == "snapshot" and result["recovery_point"]["tiers"] == ["snapshot"]


def test_snapshot_only_point_with_another_des_is_refused_with_the_reason(azure_sim):
    protect_and_backup(azure_sim, snapshot_only=True)
    add_replacement_des(azure_sim)
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {**BASE_ARGS, "os_disk_encryption_set": DES_NEW})
    assert failed(result)
    assert "only the snapshot tier" in result["msg"] and "des-cvm-kv" in result["msg"] and "vault tier" in result["msg"]
    assert writes(azure_sim.requests(before)) == []
    assert restore_jobs(azure_sim) == []


def test_replacement_des_whose_key_vault_lacks_the_original_key_is_refused(protected):
    before = last_seq(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "os_disk_encryption_set": "des-cvm-rbac"})
    assert failed(result)
    assert "kv-cvm-rbac" in result["msg"] and "original key cvm-cmk" in result["msg"]
    assert writes(protected.requests(before)) == []
    key_reads = [r for r in protected.requests(before) if r["host"] == "kv-cvm-rbac.vault.azure.net" and r["method"] == "GET"]
    assert key_reads and key_reads[-1]["path"] == "/keys/cvm-cmk" and key_reads[-1]["status"] == 404


def test_replacement_des_in_another_vault_that_holds_the_original_key_is_accepted(protected):
    with protected.sim.lock:  # the original key restored from its backup into kv-cvm-rbac, and a DES on another key there
        entry = protected.sim.ext["keyvault"]["vaults"]["kv-cvm-rbac"]["keys"]
        entry["cvm-cmk"] = {"name": "cvm-cmk", "versions": ["8f1e2d3c4b5a69788796a5b4c3d2e1f0"]}
    add_replacement_des(protected, "des-cvm-rbac-2", "kv-cvm-rbac", "cvm-cmk-rbac")
    result = run_module(protected, MODULE, {**BASE_ARGS, "os_disk_encryption_set": "des-cvm-rbac-2"}, check=True)
    assert not failed(result), result.get("msg")
    assert result["source_tier"] == "vault" and result["replacement_des"]


def test_des_of_the_wrong_type_is_refused_before_any_write(protected):
    before = last_seq(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "os_disk_encryption_set": "des-sse-kc"})
    assert failed(result) and "EncryptionAtRestWithCustomerKey" in result["msg"]
    assert writes(protected.requests(before)) == []


def test_staging_account_in_another_region_is_refused(protected):
    account = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-uae/providers/Microsoft.Storage/storageAccounts/stcvmrestoreuae"
    before = last_seq(protected)
    result = run_module(protected, MODULE, {**BASE_ARGS, "staging_storage_account": account})
    assert failed(result) and "uaenorth" in result["msg"] and "cross-region" in result["msg"]
    assert writes(protected.requests(before)) == []


# ------------------------------------------------------------------------------------------------ failures


def test_a_failed_restore_job_ends_in_its_error_code_and_what_to_do(protected):
    with protected.sim.lock:
        sim_rs.state(protected.sim)["fail_next_restore"] = {
            "errorCode": "UserErrorDiskEncryptionSetKeyNotAccessible",
            "errorString": "The key of disk encryption set des-cvm-kv is missing or not accessible.",
            "recommendations": ["Make sure the key exists and the disk encryption set can access it."]}
    result = run_module(protected, MODULE, BASE_ARGS)
    assert failed(result)
    assert "UserErrorDiskEncryptionSetKeyNotAccessible" in result["msg"] and "ended Failed" in result["msg"]
    assert "Make sure the key exists" in result["msg"] and "Restore-AzKeyVaultKey" in result["msg"]
    assert result["job"]["status"] == "Failed" and result["job"]["name"] in result["msg"]
    assert result["error_code"] == "UserErrorDiskEncryptionSetKeyNotAccessible"

    retry = run_module(protected, MODULE, BASE_ARGS)  # a failed job is not reused
    assert not failed(retry), retry.get("msg")
    assert retry["changed"] and retry["job"]["status"] == "Completed" and retry["job"]["name"] != result["job"]["name"]


def test_options_are_checked_before_any_request(azure_sim):
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {**BASE_ARGS, "restore_type": "alternate_location"})
    assert failed(result) and "needs target_vm_name, virtual_network, subnet" in result["msg"]
    result = run_module(azure_sim, MODULE, {**BASE_ARGS, "restore_type": "original_location"})
    assert failed(result) and "does not use target_resource_group" in result["msg"]
    assert [r for r in azure_sim.requests(before) if r["host"] == "management.azure.com"] == []


def test_an_unprotected_vm_has_nothing_to_restore(azure_sim):
    result = run_module(azure_sim, MODULE, {**BASE_ARGS, "vm": "rg-cvm-kc/cvm-pmk-01"})
    assert failed(result) and "is not protected in Recovery Services vault rg-backup/rsv-cvm-kc" in result["msg"]


def test_an_unknown_recovery_point_lists_the_known_ones(protected):
    result = run_module(protected, MODULE, {**BASE_ARGS, "recovery_point": "123"}, check=True)
    assert failed(result) and "'123'" in result["msg"] and points(protected)[0]["name"] in result["msg"]
