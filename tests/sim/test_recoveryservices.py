"""The Recovery Services family of the local Azure, driven through the real SDK clients (in-process transport)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient

from tests.azure_sim.framework import Sim
from tests.sim.inproc import call, load_scenario, new_sim
from tests.sim.inproc_transport import InProcTransport, SimCredential

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = "https://management.azure.com"
VRG, VAULT = "rg-backup", "rsv-cvm-kc"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/{VRG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
KC = "rg-cvm-kc"
STAGING = f"/subscriptions/{SUB}/resourceGroups/{KC}/providers/Microsoft.Storage/storageAccounts/stcvmrestorekc"
BMS_OID = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"


def vm_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def des_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/diskEncryptionSets/{name}"


def names(rg: str, vm: str) -> tuple[str, str, str]:
    """(fabric, container, item) of a VM, as the SDK callers spell them."""
    return "Azure", f"IaasVMContainer;iaasvmcontainerv2;{rg};{vm}", f"VM;iaasvmcontainerv2;{rg};{vm}"


def fast(sim: Sim) -> Sim:
    sim.config["lro_seconds"] = 0.05
    return sim


@pytest.fixture
def sim():
    return fast(new_sim("demo"))


def clients(sim: Sim) -> tuple[RecoveryServicesClient, RecoveryServicesBackupClient]:
    transport, cred = InProcTransport(sim), SimCredential(sim)
    return (RecoveryServicesClient(cred, SUB, transport=transport, polling_interval=0),
            RecoveryServicesBackupClient(cred, SUB, transport=transport, polling_interval=0))


@pytest.fixture
def backup(sim):
    return clients(sim)[1]


def raw(pipeline_response, _deserialized, _headers):
    return pipeline_response.http_response


def op_id(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def refresh(backup, vault=VAULT, rg=VRG):
    """Container refresh (discovery), waited for as a module would: operationResults 202 ... 204."""
    started = backup.protection_containers.refresh(vault, rg, "Azure", filter="backupManagementType eq 'AzureIaasVM'", cls=raw)
    assert started.status_code == 202
    operation = op_id(started.headers["Location"])
    for attempt in range(500):
        status = backup.protection_container_refresh_operation_results.get(vault, rg, "Azure", operation, cls=raw).status_code
        if status == 204:
            return
        time.sleep(0.01)
    raise AssertionError("refresh never finished")


def protect(backup, rg: str, vm: str, policy: str = "DefaultPolicy", vault=VAULT, vault_rg=VRG):
    fabric, container, item = names(rg, vm)
    body = {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm_id(rg, vm),
                           "policyId": f"/subscriptions/{SUB}/resourceGroups/{vault_rg}/providers/Microsoft.RecoveryServices"
                                       f"/vaults/{vault}/backupPolicies/{policy}"}}
    return backup.protected_items.begin_create_or_update(vault, vault_rg, fabric, container, item, body).result()


def wait_job(backup, job_id: str, vault=VAULT):
    for attempt in range(500):
        job = backup.job_details.get(vault, VRG, job_id)
        if job.properties.status != "InProgress":
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never ended")


def back_up(backup, rg: str, vm: str, vault=VAULT):
    """Trigger an on-demand backup; return the finished Backup job."""
    fabric, container, item = names(rg, vm)
    expiry = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = backup.backups.trigger(vault, VRG, fabric, container, item,
                                     {"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": expiry}},
                                     cls=raw)
    assert started.status_code == 202 and "/operationResults/" in started.headers["Location"]
    operation = op_id(started.headers["Azure-AsyncOperation"])
    for attempt in range(500):
        status = backup.protected_item_operation_statuses.get(vault, VRG, fabric, container, item, operation)
        if status.status != "InProgress":
            break
        time.sleep(0.01)
    assert status.status == "Succeeded" and status.properties.object_type == "OperationStatusJobExtendedInfo"
    return wait_job(backup, status.properties.job_id, vault)


def restore(backup, rg: str, vm: str, rp: str, **props):
    """Trigger a restore through the SDK poller; return the finished Restore job."""
    fabric, container, item = names(rg, vm)
    body = {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryPointId": rp, "recoveryType": "RestoreDisks",
                           "sourceResourceId": vm_id(rg, vm), "storageAccountId": STAGING, "region": "koreacentral",
                           "targetResourceGroupId": f"/subscriptions/{SUB}/resourceGroups/{KC}", **props}}
    backup.restores.begin_trigger(VAULT, VRG, fabric, container, item, rp, body).result()
    jobs = list(backup.backup_jobs.list(VAULT, VRG, filter="operation eq 'Restore'"))
    return wait_job(backup, jobs[0].name)


def seeded(**changes) -> Sim:
    """The demo scenario with rsv-cvm-kc already protecting the CMK VM cvm-kv-01 (one recovery point), plus changes."""
    scenario = load_scenario("demo")
    groups = {g["name"]: g for g in scenario["subscriptions"][0]["resource_groups"]}
    vault = next(v for v in groups[VRG]["recovery_vaults"] if v["name"] == VAULT)
    vault["policies"] = [{"name": "enhanced", "type": "V2", "retention_days": 30}]
    vault["protected_items"] = [{"vm": f"{KC}/cvm-kv-01", "policy": "enhanced"}]
    groups[KC]["disk_encryption_sets"].append({"name": "des-cvm-kv-2", "type": "ConfidentialVmEncryptedWithCustomerKey",
                                               "key": {"key_vault": "kv-cvm-kc", "name": "cvm-cmk"}})
    scenario.update(changes)
    return fast(Sim(scenario))


def grant_bms(sim: Sim, vault_rg: str, key_vault: str):
    """Give the Backup Management Service get/list/backup on keys through the access-policy API."""
    url = (f"{ARM}/subscriptions/{SUB}/resourceGroups/{vault_rg}/providers/Microsoft.KeyVault/vaults/{key_vault}"
           "/accessPolicies/add?api-version=2025-05-01")
    body = {"properties": {"accessPolicies": [{"tenantId": sim.tenant_id, "objectId": BMS_OID,
                                               "permissions": {"keys": ["get", "list", "backup"], "secrets": ["get", "list"]}}]}}
    assert call(sim, "PUT", url, body).status in (200, 201)


# ------------------------------------------------------------------------------------------------ vaults


def test_vault_lifecycle_through_the_sdk(sim):
    vaults = clients(sim)[0]
    body = {"location": "Korea Central", "sku": {"name": "Standard"}, "identity": {"type": "SystemAssigned"},
            "properties": {"publicNetworkAccess": "Enabled",
                           "redundancySettings": {"standardTierStorageRedundancy": "LocallyRedundant", "crossRegionRestore": "Disabled"}}}
    made = vaults.vaults.begin_create_or_update(VRG, "rsv-new", body).result()
    assert made.location == "koreacentral" and made.properties.provisioning_state == "Succeeded"
    assert made.identity.principal_id and made.properties.redundancy_settings.standard_tier_storage_redundancy == "LocallyRedundant"
    assert {v.name for v in vaults.vaults.list_by_resource_group(VRG)} == {"rsv-cvm-kc", "rsv-cvm-uae", "rsv-legacy-weu", "rsv-new"}
    assert "rsv-new" in {v.name for v in vaults.vaults.list_by_subscription_id()}
    patch = {"properties": {"redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Enabled"}}}
    updated = vaults.vaults.begin_update(VRG, "rsv-new", patch).result()
    assert updated.properties.redundancy_settings.cross_region_restore == "Enabled"
    assert updated.properties.security_settings.soft_delete_settings.soft_delete_state == "Enabled"
    vaults.vaults.begin_delete(VRG, "rsv-new").result()
    with pytest.raises(ResourceNotFoundError):
        vaults.vaults.get(VRG, "rsv-new")


def test_vault_put_needs_its_resource_group_and_api_version(sim):
    vaults = clients(sim)[0]
    with pytest.raises(ResourceNotFoundError) as info:
        vaults.vaults.begin_create_or_update("rg-nope", "v", {"location": "koreacentral", "sku": {"name": "Standard"}})
    assert info.value.error.code == "ResourceGroupNotFound"
    answer = call(sim, "GET", f"{ARM}{VAULT_ID}")
    assert answer.status == 400 and answer.body["error"]["code"] == "MissingApiVersionParameter"


def test_vault_delete_is_refused_while_it_protects_items(sim, backup):
    vaults = clients(sim)[0]
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    with pytest.raises(HttpResponseError) as info:
        vaults.vaults.begin_delete(VRG, VAULT)
    assert info.value.status_code == 400 and info.value.error.code == "ServiceResourceNotEmpty"
    assert "iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01" in info.value.error.message


# ------------------------------------------------------------------------------------------------ policies


def v2_hourly(interval=4, instant=7, count=30) -> dict:
    return {"properties": {
        "backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC", "instantRpRetentionRangeInDays": instant,
        "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                           "hourlySchedule": {"interval": interval, "scheduleWindowStartTime": "2026-01-01T08:00:00Z",
                                              "scheduleWindowDuration": 16}},
        "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                            "dailySchedule": {"retentionTimes": ["2026-01-01T08:00:00Z"],
                                              "retentionDuration": {"count": count, "durationType": "Days"}}}}}


def test_policies_v2_and_v1_are_stored_and_listed(backup):
    made = backup.protection_policies.create_or_update(VAULT, VRG, "hourly4", v2_hourly())
    assert made.properties.policy_type == "V2" and made.properties.protected_items_count == 0
    assert made.properties.schedule_policy.hourly_schedule.interval == 4
    got = backup.protection_policies.get(VAULT, VRG, "hourly4")
    assert got.id.endswith("/backupPolicies/hourly4") and got.properties.instant_rp_retention_range_in_days == 7
    listed = {p.name: p for p in backup.backup_policies.list(VAULT, VRG, filter="backupManagementType eq 'AzureIaasVM'")}
    assert set(listed) == {"DefaultPolicy", "hourly4"}
    assert listed["DefaultPolicy"].properties.schedule_policy.schedule_policy_type == "SimpleSchedulePolicy"
    backup.protection_policies.begin_delete(VAULT, VRG, "hourly4").result()
    with pytest.raises(ResourceNotFoundError):
        backup.protection_policies.get(VAULT, VRG, "hourly4")


@pytest.mark.parametrize("body, words", [
    (v2_hourly(interval=5), "interval"),
    (v2_hourly(instant=31), "between 1 and 30"),
    (v2_hourly(count=0), "positive"),
    ({"properties": {**v2_hourly()["properties"], "policyType": "V1",
                     "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
                                        "scheduleRunTimes": ["2026-01-01T02:00:00Z"]},
                     "instantRpRetentionRangeInDays": 6}}, "between 1 and 5"),
    ({"properties": {**v2_hourly()["properties"], "policyType": "V1"}}, "V2"),
])
def test_policy_validation_errors(backup, body, words):
    with pytest.raises(HttpResponseError) as info:
        backup.protection_policies.create_or_update(VAULT, VRG, "bad", body)
    assert info.value.status_code == 400 and info.value.error.code == "BMSUserErrorInvalidInput"
    assert words in info.value.error.message


def test_policy_in_use_cannot_be_deleted_and_counts_items(backup):
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    assert backup.protection_policies.get(VAULT, VRG, "DefaultPolicy").properties.protected_items_count == 1
    with pytest.raises(HttpResponseError) as info:
        backup.protection_policies.begin_delete(VAULT, VRG, "DefaultPolicy")
    assert info.value.status_code == 400


# ------------------------------------------------------------------------------------------------ discovery and protection


def test_a_vm_is_not_protectable_before_discovery(backup):
    # (a protected-item PUT before discovery is accepted, as Azure does: tests/sim/test_behaviours.py)
    assert list(backup.backup_protectable_items.list(VAULT, VRG, filter="backupManagementType eq 'AzureIaasVM'")) == []
    refresh(backup)
    found = {p.properties.friendly_name: p for p in backup.backup_protectable_items.list(VAULT, VRG)}
    assert set(found) == {"cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01", "cvm-v5-01", "cvm-gso-01", "tl-vm-01"}  # koreacentral only
    first = found["cvm-pmk-01"].properties
    assert (first.protection_state, first.workload_type, first.protectable_item_type) == \
        ("NotProtected", "VM", "Microsoft.Compute/virtualMachines")
    assert first["virtualMachineId"].lower() == vm_id(KC, "cvm-pmk-01").lower()  # nested discriminator: the SDK gives the base model


def test_enable_protection_with_the_poller(backup):
    refresh(backup)
    item = protect(backup, KC, "cvm-pmk-01")
    props = item.properties  # a nested discriminator: the SDK gives the base ProtectedItem, so read by wire name
    assert (props["protectionState"], props["protectionStatus"], props["healthStatus"]) == ("IRPending", "Healthy", "Passed")
    assert props["policyName"] == "DefaultPolicy" and props.container_name == "iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01"
    assert props.source_resource_id == vm_id(KC, "cvm-pmk-01") and props["friendlyName"] == "cvm-pmk-01"
    assert "cvm-pmk-01" not in {p.properties.friendly_name for p in backup.backup_protectable_items.list(VAULT, VRG)}
    jobs = list(backup.backup_jobs.list(VAULT, VRG, filter="operation eq 'ConfigureBackup'"))
    assert [j.properties.status for j in jobs] == ["Completed"] and jobs[0].properties.entity_friendly_name == "cvm-pmk-01"
    containers = list(backup.backup_protection_containers.list(VAULT, VRG, filter="backupManagementType eq 'AzureIaasVM'"))
    assert [c.name for c in containers] == ["IaasVMContainer;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01"]
    fabric, container, name = names(KC, "cvm-pmk-01")
    expanded = backup.protected_items.get(VAULT, VRG, fabric, container.lower(), name.lower(), filter="expand eq 'extendedinfo'")
    assert expanded.properties["extendedInfo"]["recoveryPointCount"] == 0
    assert "extendedInfo" not in backup.protected_items.get(VAULT, VRG, fabric, container, name).properties


def test_protection_rules(sim, backup):
    vaults = clients(sim)[0]
    refresh(backup)
    with pytest.raises(HttpResponseError) as info:  # westeurope VM, koreacentral vault
        protect(backup, "rg-cvm-weu", "cvm-weu-01")
    assert info.value.status_code == 400 and "region" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        protect(backup, KC, "cvm-pmk-01", policy="no-such-policy")
    assert info.value.status_code == 400 and info.value.error.code == "BMSUserErrorPolicyNotFound"
    with pytest.raises(HttpResponseError) as info:
        protect(backup, KC, "no-such-vm")
    assert info.value.status_code == 400
    protect(backup, KC, "cvm-pmk-01")
    vaults.vaults.begin_create_or_update(VRG, "rsv-kc-2", {"location": "koreacentral", "sku": {"name": "Standard"}}).result()
    refresh(backup, "rsv-kc-2")
    with pytest.raises(HttpResponseError) as info:
        protect(backup, KC, "cvm-pmk-01", vault="rsv-kc-2")
    assert info.value.status_code == 400 and info.value.error.code == "UserErrorVmAlreadyProtected"
    assert VAULT in info.value.error.message


def test_backup_status_says_where_a_vm_is_protected(backup):
    status = backup.backup_status.get("koreacentral", {"resourceId": vm_id(KC, "cvm-pmk-01"), "resourceType": "VM"})
    assert (status.protection_status, status.vault_id) == ("NotProtected", None)
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    status = backup.backup_status.get("koreacentral", {"resourceId": vm_id(KC, "cvm-pmk-01"), "resourceType": "VM"})
    assert (status.protection_status, status.policy_name, status.fabric_name) == ("Protected", "DefaultPolicy", "Azure")
    assert status.vault_id.lower().endswith(f"/vaults/{VAULT}".lower())
    assert status.protected_item_name == "vm;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01"


def test_stop_protection_keeps_data_and_resume(backup):
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    assert back_up(backup, KC, "cvm-pmk-01").properties.status == "Completed"
    fabric, container, item = names(KC, "cvm-pmk-01")
    stop = {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm_id(KC, "cvm-pmk-01"),
                           "protectionState": "ProtectionStopped"}}
    stopped = backup.protected_items.begin_create_or_update(VAULT, VRG, fabric, container, item, stop).result()
    assert stopped.properties["protectionState"] == "ProtectionStopped" and not stopped.properties.policy_id
    assert backup.protection_policies.get(VAULT, VRG, "DefaultPolicy").properties.protected_items_count == 0
    assert len(list(backup.recovery_points.list(VAULT, VRG, fabric, container, item))) == 1
    assert protect(backup, KC, "cvm-pmk-01").properties["protectionState"] == "Protected"


def test_protected_items_list_pages_and_filters(sim, backup):
    sim.config["page_size"] = 2
    refresh(backup)
    for vm in ("cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01"):
        protect(backup, KC, vm)
    listed = list(backup.backup_protected_items.list(VAULT, VRG, filter="backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"))
    assert [i.properties["friendlyName"] for i in listed] == ["cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01"]
    first = call(sim, "GET", f"{ARM}{VAULT_ID}/backupProtectedItems?api-version=2026-10-01").body
    assert len(first["value"]) == 2 and first["nextLink"].startswith(f"{ARM}{VAULT_ID}/backupProtectedItems?")
    assert list(backup.backup_protected_items.list(VAULT, VRG, filter="backupManagementType eq 'AzureStorage'")) == []


def test_delete_protection_and_data(sim, backup):
    # with soft delete off the data goes at once (soft delete on: tests/sim/test_behaviours.py)
    backup.backup_resource_vault_configs.update(VAULT, VRG, {"properties": {"softDeleteFeatureState": "Disabled"}})
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    back_up(backup, KC, "cvm-pmk-01")
    fabric, container, item = names(KC, "cvm-pmk-01")
    answer = backup.protected_items.delete(VAULT, VRG, fabric, container, item, cls=raw)
    assert answer.status_code == 202 and "/backupOperationResults/" in answer.headers["Location"]
    operation = op_id(answer.headers["Azure-AsyncOperation"])
    for attempt in range(500):
        status = backup.backup_operation_statuses.get(VAULT, VRG, operation)
        if status.status != "InProgress":
            break
        time.sleep(0.01)
    assert status.status == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        backup.protected_items.get(VAULT, VRG, fabric, container, item)
    assert wait_job(backup, status.properties.job_id).properties.operation == "DeleteBackupData"
    assert "cvm-pmk-01" in {p.properties.friendly_name for p in backup.backup_protectable_items.list(VAULT, VRG)}
    assert sim.store.children(f"{VAULT_ID}/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item}",
                              "recoveryPoints") == []


# ------------------------------------------------------------------------------------------------ backup and recovery points


def test_on_demand_backup_makes_a_recovery_point_in_both_tiers(backup):
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    job = back_up(backup, KC, "cvm-pmk-01")
    assert (job.properties.operation, job.properties.status) == ("Backup", "Completed")
    assert [(t.task_id, t.status) for t in job.properties.extended_info.tasks_list] == \
        [("Take Snapshot", "Completed"), ("Transfer data to vault", "Completed")]
    fabric, container, item = names(KC, "cvm-pmk-01")
    props = backup.protected_items.get(VAULT, VRG, fabric, container, item).properties
    assert (props["protectionState"], props["lastBackupStatus"]) == ("Protected", "Completed") and props["lastBackupTime"]
    points = list(backup.recovery_points.list(VAULT, VRG, fabric, container, item))
    assert len(points) == 1
    rp = backup.recovery_points.get(VAULT, VRG, fabric, container, item, points[0].name).properties
    assert rp.object_type == "IaasVMRecoveryPoint" and rp.security_type == "ConfidentialVM"
    assert rp.virtual_machine_size == "Standard_DC4as_v6" and rp.recovery_point_type in ("AppConsistent", "FileSystemConsistent")
    assert {(t.type, t.status) for t in rp.recovery_point_tier_details} == {("InstantRP", "Valid"), ("HardenedRP", "Valid")}
    assert rp.recovery_point_disk_configuration.number_of_disks_included_in_backup == 2


def test_snapshot_only_switch(sim, backup):
    sim.ext["recoveryservices"]["snapshot_only"] = True
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    back_up(backup, KC, "cvm-pmk-01")
    fabric, container, item = names(KC, "cvm-pmk-01")
    (point,) = backup.recovery_points.list(VAULT, VRG, fabric, container, item)
    assert [t.type for t in point.properties.recovery_point_tier_details] == ["InstantRP"]


def test_cmk_backup_needs_the_backup_management_service_on_the_key(sim, backup):
    refresh(backup)
    protect(backup, KC, "cvm-kv-01")
    failed = back_up(backup, KC, "cvm-kv-01")
    assert failed.properties.status == "Failed"
    (error,) = failed.properties.error_details
    assert error.error_title == "UserErrorKeyVaultPermissionsNotConfigured" and isinstance(error.error_code, int)
    assert "262044b1-e2ce-469f-a196-69ab7ada62d3" in error.recommendations[0]
    fabric, container, item = names(KC, "cvm-kv-01")
    props = backup.protected_items.get(VAULT, VRG, fabric, container, item).properties
    assert (props["protectionState"], props["lastBackupStatus"], props["healthStatus"]) == ("IRPending", "Failed", "ActionRequired")
    grant_bms(sim, KC, "kv-cvm-kc")
    assert back_up(backup, KC, "cvm-kv-01").properties.status == "Completed"


def test_backup_job_can_be_cancelled(sim, backup):
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    sim.config["lro_seconds"] = 30  # a long job, cancelled while it runs
    fabric, container, item = names(KC, "cvm-pmk-01")
    backup.backups.trigger(VAULT, VRG, fabric, container, item, {"properties": {"objectType": "IaasVMBackupRequest"}})
    (job,) = backup.backup_jobs.list(VAULT, VRG, filter="operation eq 'Backup' and status eq 'InProgress'")
    assert backup.job_cancellations.trigger(VAULT, VRG, job.name, cls=raw).status_code == 202
    assert backup.job_details.get(VAULT, VRG, job.name).properties.status == "Cancelled"


# ------------------------------------------------------------------------------------------------ jobs


def test_jobs_filter_grammar_and_paging(sim, backup):
    refresh(backup)
    protect(backup, KC, "cvm-pmk-01")
    protect(backup, KC, "tl-vm-01")
    back_up(backup, KC, "cvm-pmk-01")
    sim.config["page_size"] = 1
    fmt = "%Y-%m-%d %I:%M:%S %p"
    now = datetime.now(timezone.utc)
    window = f"startTime eq '{(now - timedelta(hours=1)).strftime(fmt)}' and endTime eq '{(now + timedelta(hours=1)).strftime(fmt)}'"
    everything = list(backup.backup_jobs.list(VAULT, VRG, filter=f"backupManagementType eq 'AzureIaasVM' and {window}"))
    assert [j.properties.operation for j in everything] == ["Backup", "ConfigureBackup", "ConfigureBackup"]  # newest first
    done = list(backup.backup_jobs.list(VAULT, VRG, filter=f"operation eq 'Backup' and status eq 'Completed' and {window}"))
    assert len(done) == 1 and done[0].properties.extended_info is None  # the list carries no extendedInfo
    past = f"startTime eq '{(now - timedelta(days=3)).strftime(fmt)}' and endTime eq '{(now - timedelta(days=2)).strftime(fmt)}'"
    assert list(backup.backup_jobs.list(VAULT, VRG, filter=past)) == []
    with pytest.raises(ResourceNotFoundError):
        backup.job_details.get(VAULT, VRG, "00000000-0000-0000-0000-000000000000")


# ------------------------------------------------------------------------------------------------ restore


def restored_disks(sim, vm: str) -> list[str]:
    """Ids of the disks a restore made for `vm` (OS disk first), from the local Azure's store."""
    made = sim.store.find(lambda r: r.get("type") == "Microsoft.Compute/disks" and r["name"].startswith(f"{vm}-")
                          and ("-osdisk-" in r["name"] or "-datadisk-" in r["name"]))
    return [d["id"] for d in sorted(made, key=lambda d: "-datadisk-" in d["name"])]


def first_point(backup, rg="rg-cvm-kc", vm="cvm-kv-01") -> str:
    fabric, container, item = names(rg, vm)
    return next(iter(backup.recovery_points.list(VAULT, VRG, fabric, container, item))).name


def test_seeded_protected_item_and_restore_disks_with_the_original_des(sim):
    sim = seeded()
    backup = clients(sim)[1]
    fabric, container, item = names(KC, "cvm-kv-01")
    props = backup.protected_items.get(VAULT, VRG, fabric, container, item).properties
    assert props["protectionState"] == "Protected" and props["policyName"] == "enhanced" and props["policyType"] == "V2"
    job = restore(backup, KC, "cvm-kv-01", first_point(backup))
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    disks = restored_disks(sim, "cvm-kv-01")  # the bag does not list restored disks (no public output shows such a key)
    assert len(disks) == 2 and "/disks/cvm-kv-01-osdisk-" in disks[0]
    assert bag["Target Storage Account Name"] == "stcvmrestorekc" and "Secured Encryption Info Blob Name" in bag
    os_disk = sim.store.get(disks[0])
    assert os_disk["properties"]["securityProfile"]["secureVMDiskEncryptionSetId"].lower() == des_id(KC, "des-cvm-kv").lower()


def test_restore_with_another_des_on_the_same_key_uses_the_vault_tier(sim):
    sim = seeded()
    backup = clients(sim)[1]
    job = restore(backup, KC, "cvm-kv-01", first_point(backup),
                  securedVMDetails={"securedVMOsDiskEncryptionSetId": des_id(KC, "des-cvm-kv-2")})
    assert job.properties.status == "Completed"
    os_disk = sim.store.get(restored_disks(sim, "cvm-kv-01")[0])
    assert os_disk["properties"]["securityProfile"]["secureVMDiskEncryptionSetId"].endswith("des-cvm-kv-2")


@pytest.mark.parametrize("scenario_changes, des, code", [
    ({"recoveryservices": {"snapshot_only": True}}, "des-cvm-kv-2", "UserErrorSnapshotTierRestoreRequiresOriginalDiskEncryptionSet"),
    ({}, "des-sse-kc", "UserErrorInvalidDiskEncryptionSetTypeForConfidentialVM"),
    ({}, "des-cvm-rbac", "UserErrorDiskEncryptionSetKeyNotAccessible"),
])
def test_confidential_vm_restore_rules_fail_the_job(scenario_changes, des, code):
    sim = seeded(**scenario_changes)
    backup = clients(sim)[1]
    job = restore(backup, KC, "cvm-kv-01", first_point(backup), securedVMDetails={"securedVMOsDiskEncryptionSetId": des_id(KC, des)})
    assert job.properties.status == "Failed"
    (error,) = job.properties.error_details
    assert error.error_title == code and error.error_string
    assert not sim.store.find(lambda r: r.get("type") == "Microsoft.Compute/disks" and "-osdisk-" in r["name"])


def test_fail_next_restore_switch_and_plain_bad_input(sim):
    sim = seeded()
    backup = clients(sim)[1]
    rp = first_point(backup)
    sim.ext["recoveryservices"]["fail_next_restore"] = {"errorCode": "UserErrorSomething", "errorString": "forced"}
    failed = restore(backup, KC, "cvm-kv-01", rp)
    assert failed.properties.status == "Failed" and failed.properties.error_details[0].error_title == "UserErrorSomething"
    assert restore(backup, KC, "cvm-kv-01", rp).properties.status == "Completed"  # only the next one fails
    fabric, container, item = names(KC, "cvm-kv-01")
    body = {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm_id(KC, "cvm-kv-01")}}
    with pytest.raises(HttpResponseError) as info:
        backup.restores.begin_trigger(VAULT, VRG, fabric, container, item, rp, body)
    assert info.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        backup.restores.begin_trigger(VAULT, VRG, fabric, container, item, "123", {"properties": {**body["properties"], "storageAccountId": STAGING}})


def test_alternate_and_original_location_restore(sim):
    sim = seeded()
    backup = clients(sim)[1]
    rp = first_point(backup)
    target = vm_id(KC, "cvm-kv-restored")
    job = restore(backup, KC, "cvm-kv-01", rp, recoveryType="AlternateLocation", targetVirtualMachineId=target,
                  virtualNetworkId="/vnet", subnetId="/vnet/subnets/default")
    assert job.properties.status == "Completed", job.properties.error_details
    made = sim.store.get(target)
    assert made["properties"]["securityProfile"]["securityType"] == "ConfidentialVM"
    assert made["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"]["diskEncryptionSet"]["id"].endswith("des-cvm-kv")
    old_os = sim.store.get(vm_id(KC, "cvm-kv-01"))["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    job = restore(backup, KC, "cvm-kv-01", rp, recoveryType="OriginalLocation")
    assert job.properties.status == "Completed"
    new_os = sim.store.get(vm_id(KC, "cvm-kv-01"))["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    assert new_os != old_os and sim.store.get(old_os)["properties"]["diskState"] == "Unattached"


# ------------------------------------------------------------------------------------------------ storage accounts and fleet


def test_storage_accounts_are_seeded(sim):
    got = call(sim, "GET", f"{ARM}{STAGING}?api-version=2025-01-01").body
    assert (got["location"], got["kind"], got["sku"]["name"]) == ("koreacentral", "StorageV2", "Standard_LRS")
    listed = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/resourceGroups/{KC}/providers/Microsoft.Storage/storageAccounts?api-version=2025-01-01")
    assert [a["name"] for a in listed.body["value"]] == ["stcvmrestorekc"]
    assert call(sim, "GET", f"{ARM}{STAGING}x?api-version=2025-01-01").status == 404


def test_fleet_of_500_protects_and_lists_by_vault():
    sim = fast(new_sim("fleet", vms=500))
    sub = next(iter(sim.subscriptions.values()))["id"]
    vault_ids = {r: f"/subscriptions/{sub}/resourceGroups/rg-fleet-backup/providers/Microsoft.RecoveryServices/vaults/rsv-fleet-{r}"
                 for r in ("koreacentral", "uaenorth")}
    sim.config["lro_seconds"] = 0
    for vid in vault_ids.values():
        assert call(sim, "POST", f"{ARM}{vid}/backupFabrics/Azure/refreshContainers?api-version=2026-10-01").status == 202
    vms = sim.store.find(lambda r: r.get("type") == "Microsoft.Compute/virtualMachines")
    assert len(vms) == 500
    for vm in vms:
        rg, name = vm["id"].split("/")[4], vm["name"]
        vid = vault_ids[vm["location"]]
        path = f"{vid}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3B{rg}%3B{name}" \
               f"/protectedItems/VM%3Biaasvmcontainerv2%3B{rg}%3B{name}?api-version=2026-10-01"
        body = {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm["id"],
                               "policyId": f"{vid}/backupPolicies/DefaultPolicy"}}
        assert call(sim, "PUT", f"{ARM}{path}", body).status == 202
    call(sim, "GET", f"{ARM}/subscriptions/{sub}?api-version=2022-12-01")  # lets the last operations finish
    total = 0
    for vid in vault_ids.values():
        url = f"{ARM}{vid}/backupProtectedItems?api-version=2026-10-01"
        while url:
            answer = call(sim, "GET", url).body
            total += len(answer["value"])
            url = answer.get("nextLink")
    assert total == 500
