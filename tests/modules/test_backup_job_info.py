"""backup_job_info through the local Azure: jobs of a vault filtered by VM, operation, status and time window (the
filter goes to Azure), one job by id with its tasks, property bag and error details; never a write."""

from __future__ import annotations

from tests.modules.test_cvm_restore import (ARM, BACKUP_API, VAULT, VAULT_ID, backup, failed, item_path, last_seq, points,
                                            protect, wait_job)
from tests.azure_sim import recoveryservices as sim_rs
from tests.sim.inproc import call
from tests.sim_helpers import run_module, writes

MODULE = "backup_job_info"
STAGING = "/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.Storage/storageAccounts/stcvmrestorekc"


def failed_restore(server) -> dict:
    """A Restore job made to fail (the local Azure's failure injection), through the API."""
    with server.sim.lock:
        sim_rs.state(server.sim)["fail_next_restore"] = {"errorCode": "UserErrorKeyVaultPermissionsNotConfigured",
                                                         "errorString": "Azure Backup cannot read the key.",
                                                         "recommendations": ["Grant the Backup Management Service key access."]}
    body = {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryPointId": points(server)[0]["name"],
                           "recoveryType": "RestoreDisks", "sourceResourceId": "x", "storageAccountId": STAGING,
                           "region": "koreacentral",
                           "targetResourceGroupId": "/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc"}}
    url = f"{ARM}{item_path()}/recoveryPoints/{points(server)[0]['name']}/restore?api-version={BACKUP_API}"
    response = call(server.sim, "POST", url, body)
    assert response.status == 202, response.body
    return wait_job(server.sim, response)


def test_jobs_filtered_by_vm_operation_status_and_time(azure_sim):
    protect(azure_sim)
    backup_job = backup(azure_sim)
    restore_job = failed_restore(azure_sim)
    before = last_seq(azure_sim)

    every = run_module(azure_sim, MODULE, {"vault": VAULT, "vm": "rg-cvm-kc/cvm-kv-01"})
    assert not failed(every), every.get("msg")
    assert [j["name"] for j in every["jobs"]] == [restore_job["name"], backup_job["name"]]
    assert every["jobs"][1]["operation"] == "Backup" and every["jobs"][1]["status"] == "Completed"

    restores = run_module(azure_sim, MODULE, {"vault": VAULT_ID, "operation": "Restore", "status": "Failed"})
    assert [j["name"] for j in restores["jobs"]] == [restore_job["name"]]
    assert restores["filter"] == "operation eq 'Restore' and backupManagementType eq 'AzureIaasVM' and status eq 'Failed'"
    sent = [r for r in azure_sim.requests(before) if r["path"].endswith("/backupJobs")]
    assert "operation+eq+%27Restore%27" in sent[-1]["query"] or "operation%20eq%20%27Restore%27" in sent[-1]["query"]

    later = run_module(azure_sim, MODULE, {"vault": VAULT, "start_time": "2099-01-01T00:00:00Z"})
    assert later["jobs"] == [] and later["filter"].startswith("startTime eq '2099-01-01 12:00:00 AM'")
    other_vm = run_module(azure_sim, MODULE, {"vault": VAULT, "vm": "rg-cvm-kc/cvm-pmk-01"})
    assert other_vm["jobs"] == []
    limited = run_module(azure_sim, MODULE, {"vault": VAULT, "max_jobs": 1, "details": True})
    assert [j["name"] for j in limited["jobs"]] == [restore_job["name"]] and limited["jobs"][0]["tasks"]
    assert writes(azure_sim.requests(before)) == []


def test_one_job_with_tasks_properties_and_error_details(azure_sim):
    protect(azure_sim)
    backup(azure_sim)
    job = failed_restore(azure_sim)
    result = run_module(azure_sim, MODULE, {"vault": VAULT, "job_id": job["id"]}, check=True)
    assert not failed(result), result.get("msg")
    (one,) = result["jobs"]
    assert one["name"] == job["name"] and one["operation"] == "Restore" and one["status"] == "Failed"
    assert one["tasks"] == [{"name": "Transfer data from vault", "status": "Failed", "duration": "PT0S"}]
    # a published propertyBag key ("Recovery point ID" was a local-Azure invention, issue 15)
    assert one["properties"]["Target Storage Account Name"] == "stcvmrestorekc"
    (error,) = one["error_details"]
    assert error["title"] == "UserErrorKeyVaultPermissionsNotConfigured" and error["message"] == "Azure Backup cannot read the key."
    assert error["recommendations"] == ["Grant the Backup Management Service key access."]


def test_unknown_job_and_bad_times_fail_with_a_reason(azure_sim):
    result = run_module(azure_sim, MODULE, {"vault": VAULT, "job_id": "00000000-0000-0000-0000-000000000000"})
    assert failed(result) and "was not found in Recovery Services vault rsv-cvm-kc" in result["msg"]
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {"vault": VAULT, "start_time": "last tuesday"})
    assert failed(result) and "not an ISO 8601 time" in result["msg"]
    result = run_module(azure_sim, MODULE, {"vault": VAULT, "start_time": "2026-11-21T00:00:00Z", "end_time": "2026-11-20T00:00:00Z"})
    assert failed(result) and "start_time is after end_time" in result["msg"]
    assert [r for r in azure_sim.requests(before) if r["host"] == "management.azure.com"] == []
