"""The pure restore rules: recovery point tiers and choice, the documented CVM tier rules, the restore request body,
job filters, matching of earlier restore jobs and the failure message."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids as ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules as rules

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
DES = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/diskEncryptionSets/"
ORIGINAL, OTHER = DES + "des-cvm-kv", DES + "des-cvm-new"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-kv-01"


def point(name: str, time: str, *tiers: str, status: str = "Valid") -> dict:
    return {"id": f"/x/recoveryPoints/{name}", "name": name,
            "properties": {"objectType": "IaasVMRecoveryPoint", "recoveryPointType": "AppConsistent", "recoveryPointTime": time,
                           "recoveryPointTierDetails": [{"type": t, "status": status} for t in tiers]}}


def key(store: str, name: str = "cvm-cmk") -> dict:
    return rules.des_key({"properties": {"activeKey": {"keyUrl": f"https://{store}.vault.azure.net/keys/{name}/abc"}}})


# ------------------------------------------------------------------------------------------------ points


def test_tiers_name_only_valid_tiers_in_fixed_order():
    p = point("1", "2026-11-20T02:00:00Z", "HardenedRP", "InstantRP")
    assert rules.point_tiers(p) == ["snapshot", "vault"]
    p["properties"]["recoveryPointTierDetails"][0]["status"] = "Deleted"
    assert rules.point_tiers(p) == ["snapshot"]
    assert rules.point_tiers({"properties": {}}) == []


def test_newest_first_reads_seven_fraction_digits_and_puts_unreadable_times_last():
    points = [point("old", "2026-11-20T02:00:00.1234567Z", "HardenedRP"), point("bad", "yesterday", "HardenedRP"),
              point("new", "2026-11-21T02:00:00Z", "InstantRP")]
    assert [p["name"] for p in rules.newest_first(points)] == ["new", "old", "bad"]


def test_latest_skips_points_without_a_restorable_tier():
    points = [point("archived", "2026-11-22T02:00:00Z", "ArchivedRP"), point("vaulted", "2026-11-21T02:00:00Z", "HardenedRP")]
    assert rules.choose_point(points, "latest")["name"] == "vaulted"
    assert rules.choose_point([points[0]], "latest") is None


def test_a_point_is_found_by_name_or_resource_id():
    points = [point("111", "2026-11-21T02:00:00Z", "HardenedRP"), point("222", "2026-11-22T02:00:00Z", "HardenedRP")]
    assert rules.choose_point(points, "111")["name"] == "111"
    assert rules.choose_point(points, "/subscriptions/s/x/recoveryPoints/222")["name"] == "222"
    assert rules.choose_point(points, "333") is None


@pytest.mark.parametrize("wanted", ["", "   ", None, "/subscriptions/s/x/recoveryPoints/"])
def test_an_empty_point_name_chooses_nothing_not_a_nameless_point(wanted):
    nameless = {k: v for k, v in point("x", "2026-11-23T02:00:00Z", "HardenedRP").items() if k != "name"}
    points = [nameless, dict(point("y", "2026-11-22T02:00:00Z", "HardenedRP"), name=""),
              point("111", "2026-11-21T02:00:00Z", "HardenedRP")]
    assert rules.choose_point(points, wanted) is None
    assert rules.choose_point(points, "111")["name"] == "111" and rules.choose_point(points, "latest") is nameless


def test_describe_point_gives_time_consistency_and_tiers():
    out = rules.describe_point(point("1", "2026-11-20T02:00:00Z", "InstantRP", "HardenedRP"))
    assert out["time"] == "2026-11-20T02:00:00Z" and out["consistency"] == "AppConsistent"
    assert out["tiers"] == ["snapshot", "vault"]
    assert out["tier_details"][1] == {"type": "HardenedRP", "tier": "vault", "status": "Valid"}


# ------------------------------------------------------------------------------------------------ tier rules


def test_original_des_restores_from_the_snapshot_tier_when_there_is_one():
    both = rules.tier_decision(["snapshot", "vault"], ORIGINAL, None)
    assert both["allowed"] and both["source_tier"] == "snapshot" and both["des"] == ORIGINAL and not both["replacement"]
    same = rules.tier_decision(["snapshot"], ORIGINAL, ORIGINAL.upper())
    assert same["allowed"] and same["source_tier"] == "snapshot" and not same["replacement"]
    given = rules.tier_decision(["snapshot", "vault"], ORIGINAL, ORIGINAL)  # a DES given is sent: the vault tier
    assert given["allowed"] and given["source_tier"] == "vault" and not given["replacement"]
    vault_only = rules.tier_decision(["vault"], ORIGINAL, None)
    assert vault_only["allowed"] and vault_only["source_tier"] == "vault"


def test_replacement_des_on_a_snapshot_only_point_is_refused_with_the_reason():
    out = rules.tier_decision(["snapshot"], ORIGINAL, OTHER, key_present=True, original_key=key("kv1"), replacement_key=key("kv1"))
    assert not out["allowed"]
    assert "only the snapshot tier" in out["reason"] and "des-cvm-kv" in out["reason"] and "des-cvm-new" in out["reason"]


def test_replacement_des_restores_from_the_vault_tier_and_says_so():
    out = rules.tier_decision(["snapshot", "vault"], ORIGINAL, OTHER, key_present=True, original_key=key("kv1"),
                              replacement_key=key("kv1"))
    assert out["allowed"] and out["source_tier"] == "vault" and out["des"] == OTHER and out["replacement"]
    assert any("vault tier" in note for note in out["notes"])


def test_replacement_des_needs_the_original_key_in_its_key_store():
    out = rules.tier_decision(["vault"], ORIGINAL, OTHER, key_present=False, original_key=key("kv1"),
                              replacement_key=key("kv2", "other"))
    assert not out["allowed"]
    assert "kv2" in out["reason"] and "original key cvm-cmk" in out["reason"]


def test_an_unreadable_key_store_is_a_note_not_a_refusal():
    out = rules.tier_decision(["vault"], ORIGINAL, OTHER, key_present=None, original_key=key("kv1"), replacement_key=key("kv2"))
    assert out["allowed"] and any("could not be checked" in note for note in out["notes"])


def test_a_point_without_snapshot_or_vault_tier_is_refused():
    out = rules.tier_decision(["archive"], ORIGINAL, None)
    assert not out["allowed"] and "rehydrated" in out["reason"]


def test_a_pmk_vm_given_a_des_is_a_replacement():
    out = rules.tier_decision(["snapshot"], None, OTHER)
    assert not out["allowed"] and "the original encryption" in out["reason"]
    assert rules.tier_decision(["snapshot", "vault"], None, OTHER)["source_tier"] == "vault"


def test_des_problem_wants_the_confidential_type():
    assert rules.des_problem(None, OTHER).endswith("was not found.")
    sse = {"name": "des-sse-kc", "properties": {"encryptionType": "EncryptionAtRestWithCustomerKey"}}
    assert "ConfidentialVmEncryptedWithCustomerKey" in rules.des_problem(sse, OTHER)
    assert rules.des_problem({"properties": {"encryptionType": rules.CVM_DES_TYPE}}, OTHER) is None


def test_storage_account_must_be_in_the_vm_region():
    assert rules.storage_problem({"name": "st", "location": "koreacentral"}, "/st", "koreacentral") is None
    assert "cross-region" in rules.storage_problem({"name": "st", "location": "uaenorth"}, "/st", "koreacentral")
    assert "not found" in rules.storage_problem(None, "/st", "koreacentral")


def test_des_key_reads_vault_and_hsm_urls():
    hsm = rules.des_key({"properties": {"activeKey": {"keyUrl": "https://hsm-cvm-uae.managedhsm.azure.net/keys/k/v1"}}})
    assert hsm["kind"] == "managed_hsm" and hsm["store"] == "hsm-cvm-uae" and hsm["base"] == "https://hsm-cvm-uae.managedhsm.azure.net"
    assert key("kv-cvm-kc")["kind"] == "key_vault"
    assert rules.des_key({"properties": {}}) is None


# ------------------------------------------------------------------------------------------------ request


def test_restore_disks_request_carries_the_os_des_as_secured_vm_details():
    body = rules.restore_request(restore_type="restore_disks", point_name="123", vm_id=VM, region="koreacentral",
                                 storage_account_id="/st", target_resource_group_id=f"/subscriptions/{SUB}/resourceGroups/rg-r",
                                 os_des=ORIGINAL)
    props = body["properties"]
    assert props["objectType"] == "IaasVMRestoreRequest" and props["recoveryType"] == "RestoreDisks"
    assert props["recoveryPointId"] == "123" and props["sourceResourceId"] == VM and props["region"] == "koreacentral"
    assert props["securedVMDetails"] == {"securedVMOsDiskEncryptionSetId": ORIGINAL}
    assert "targetVirtualMachineId" not in props


def test_alternate_location_request_names_vm_network_and_per_disk_des():
    body = rules.restore_request(restore_type="alternate_location", point_name="1", vm_id=VM, region="koreacentral",
                                 storage_account_id="/st", target_resource_group_id="/rg", target_vm_id="/vm2",
                                 virtual_network_id="/vnet", subnet_id="/vnet/subnets/default",
                                 per_disk_des=[{"lun": 0, "disk_encryption_set": OTHER}], data_disk_des=ORIGINAL)
    props = body["properties"]
    assert (props["targetVirtualMachineId"], props["virtualNetworkId"], props["subnetId"]) == ("/vm2", "/vnet", "/vnet/subnets/default")
    assert props["securedVMDetails"] == {"dataDiskEncryptionSettings": {
        "perDiskEncryptionSetIds": [{"lun": 0, "diskEncryptionSetId": OTHER}], "dataDiskEncryptionSetId": ORIGINAL}}


def test_original_location_has_no_target_and_pmk_has_no_secured_details():
    props = rules.restore_request(restore_type="original_location", point_name="1", vm_id=VM, region="koreacentral",
                                  storage_account_id="/st", target_resource_group_id="/rg")["properties"]
    assert props["recoveryType"] == "OriginalLocation"
    assert "targetResourceGroupId" not in props and "securedVMDetails" not in props


def test_resource_id_from_name_or_id():
    assert ids.resource_id("st1", SUB, "rg", "Microsoft.Storage/storageAccounts", "x") == \
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"
    assert ids.resource_id(ORIGINAL + "/", SUB, "rg", "Microsoft.Compute/diskEncryptionSets", "x") == ORIGINAL
    with pytest.raises(ValueError, match="not a Microsoft.Storage/storageAccounts resource id"):
        ids.resource_id(ORIGINAL, SUB, "rg", "Microsoft.Storage/storageAccounts", "x")
    with pytest.raises(ValueError):
        ids.resource_id("a/b", SUB, "rg", "Microsoft.Storage/storageAccounts", "x")


# ------------------------------------------------------------------------------------------------ jobs


def test_jobs_filter_grammar():
    text = rules.jobs_filter(operation="Restore", status="Failed", start=datetime(2026, 11, 20, 13, 5), end=datetime(2026, 11, 21))
    assert text == ("startTime eq '2026-11-20 01:05:00 PM' and endTime eq '2026-11-21 12:00:00 AM' and operation eq 'Restore' "
                    "and backupManagementType eq 'AzureIaasVM' and status eq 'Failed'")
    assert rules.jobs_filter(backup_management_type=None) is None


def restore_job(status: str = "Completed", **bag) -> dict:
    return {"id": "/v/backupJobs/j1", "name": "j1",
            "properties": {"operation": "Restore", "status": status, "entityFriendlyName": "cvm-kv-01",
                           "extendedInfo": {"tasksList": [{"taskId": "Transfer data from vault", "status": status}],
                                            "propertyBag": bag}}}


POINT = {"name": "123", "properties": {"recoveryPointTime": "2026-11-20T01:05:09.1234567Z"}}
BAG = {"Job Type": "Recover disks", "Recovery point time ": "11/20/2026 1:05:09 AM", "Target resource group": "rg-r",
       "Target Storage Account Name": "stage", "Config Blob Container Name": "vm-c", "Config Blob Name": "config-vm.json",
       "Template Blob Uri": "https://stage.blob.core.windows.net/vm-c/azuredeploy1.json"}


def wanted(kind: str = "RestoreDisks", rg: str | None = "rg-r", vm: dict | None = None, point: dict | None = None) -> dict:
    props = {"recoveryType": kind, "storageAccountId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/stage"}
    if rg:
        props["targetResourceGroupId"] = f"/subscriptions/s/resourceGroups/{rg}"
    return rules.restore_wanted({"properties": props}, point or POINT, vm)


def target_vm(created: str | None = "2026-11-20T01:09:30Z") -> dict:
    return {"id": "/subscriptions/s/resourceGroups/rg-r/providers/Microsoft.Compute/virtualMachines/vm-new",
            "properties": {"timeCreated": created} if created else {}}


def ran(job: dict, start: str = "2026-11-20T01:00:00.0000000Z", end: str = "2026-11-20T01:10:00Z") -> dict:
    job["properties"].update(startTime=start, endTime=end)
    return job


def test_the_published_bag_is_read_with_its_trailing_space_and_time_form():
    record = rules.restore_job_record(restore_job(**BAG))
    assert record["job_type"] == "Recover disks" and record["target_resource_group"] == "rg-r"
    assert record["storage_account"] == "stage"
    assert record["point_time"] == datetime(2026, 11, 20, 1, 5, 9, tzinfo=timezone.utc)
    assert rules.bag_time("12/25/2019 10:07:11 PM") == datetime(2019, 12, 25, 22, 7, 11, tzinfo=timezone.utc)
    assert rules.bag_time("1/7/2021 10:11:19 AM") == datetime(2021, 1, 7, 10, 11, 19, tzinfo=timezone.utc)
    assert rules.bag_time("yesterday") is None


def test_a_completed_disk_restore_is_the_same_on_type_time_group_and_account():
    assert rules.compare_restore(restore_job(**BAG), wanted()) == ("same", [])
    assert rules.compare_restore(restore_job(**BAG), wanted(rg="rg-other"))[0] == "different"
    assert rules.compare_restore(restore_job(**{**BAG, "Target Storage Account Name": "other"}), wanted())[0] == "different"
    assert rules.compare_restore(restore_job(**{**BAG, "Recovery point time ": "11/20/2026 1:05:10 AM"}), wanted())[0] == "different"
    assert rules.compare_restore(ran(restore_job(**BAG)), wanted("AlternateLocation", vm=target_vm()))[0] == "different"


def test_a_time_zone_sized_difference_decides_nothing():
    shifted = {**BAG, "Recovery point time ": "11/20/2026 10:35:09 AM"}  # +9:30, a zone offset
    assert rules.compare_restore(restore_job(**shifted), wanted()) == ("unknown", ["Recovery point time"])
    too_far = {**BAG, "Recovery point time ": "11/21/2026 4:05:09 PM"}  # 39 hours: another point
    assert rules.compare_restore(restore_job(**too_far), wanted())[0] == "different"


def test_a_job_without_the_published_properties_cannot_decide():
    verdict, fields = rules.compare_restore(restore_job(), wanted())
    assert verdict == "unknown" and fields == ["Job Type", "Recovery point time", "Target Storage Account Name", "Target resource group"]


def test_a_running_job_decides_nothing():
    assert rules.compare_restore(restore_job("InProgress"), wanted())[0] == "unknown"
    assert rules.compare_restore(restore_job("InProgress", **BAG), wanted()) == ("unknown", ["its end"])
    assert rules.compare_restore(restore_job("InProgress", **{**BAG, "Target resource group": "x"}), wanted())[0] == "different"


def test_vm_restores_are_the_same_only_while_the_target_vm_exists():
    bag = {**BAG, "Job Type": "Restore VM"}
    assert rules.compare_restore(ran(restore_job(**bag)), wanted("AlternateLocation", vm=target_vm())) == ("same", [])
    assert rules.compare_restore(ran(restore_job(**bag)), wanted("AlternateLocation", vm=None))[0] == "different"
    olr = {k: v for k, v in bag.items() if k != "Target resource group"}
    assert rules.compare_restore(restore_job(**olr), wanted("OriginalLocation", rg=None)) == ("same", [])
    assert rules.compare_restore(restore_job(**bag), wanted("OriginalLocation", rg=None))[0] == "different"


def test_a_vm_at_the_target_is_the_jobs_only_when_it_was_created_while_the_job_ran():
    """A Restore job does not name the VM it made: an existing VM of another origin (made before the job, or long
    after it) is not the job's, and a VM without a timeCreated cannot be tied to it."""
    bag = {**BAG, "Job Type": "Restore VM"}
    for created in ("2026-11-19T08:00:00Z", "2026-11-20T00:59:58Z", "2026-11-20T01:11:01Z", "2026-11-21T01:00:00Z"):
        assert rules.compare_restore(ran(restore_job(**bag)), wanted("AlternateLocation", vm=target_vm(created))) == ("different", [])
    for created in ("2026-11-20T00:59:59.5Z", "2026-11-20T01:10:59Z"):  # a second before the start, a minute after the end
        assert rules.compare_restore(ran(restore_job(**bag)), wanted("AlternateLocation", vm=target_vm(created)))[0] == "same"
    assert rules.compare_restore(ran(restore_job(**bag)), wanted("AlternateLocation", vm=target_vm(None))) == \
        ("unknown", ["the target VM's timeCreated"])
    assert rules.compare_restore(restore_job(**bag), wanted("AlternateLocation", vm=target_vm()))[0] == "unknown"  # no run times


def test_job_is_for_vm_by_name_and_container_group():
    job = restore_job()
    assert rules.job_is_for_vm(job, "CVM-KV-01", "rg-cvm-kc")
    job["properties"]["containerName"] = "iaasvmcontainerv2;rg-other;cvm-kv-01"
    assert not rules.job_is_for_vm(job, "cvm-kv-01", "rg-cvm-kc")
    assert not rules.job_is_for_vm(restore_job(), "cvm-pmk-01")


def test_restored_disks_are_those_created_while_the_job_ran_os_disk_first():
    job = ran(restore_job())

    def disk(name, created, os_type=None):
        return {"id": f"/d/disks/{name}", "name": name, "properties": {"timeCreated": created, **({"osType": os_type} if os_type else {})}}

    disks = [disk("vm-datadisk-0", "2026-11-20T01:09:00Z"), disk("vm-osdisk", "2026-11-20T01:09:00.1234567Z", "Linux"),
             disk("older", "2026-11-19T01:09:00Z"), disk("later", "2026-11-20T02:00:00Z"), disk("no-time", None)]
    assert [d["id"] for d in rules.disks_created_during(disks, job)] == ["/d/disks/vm-osdisk", "/d/disks/vm-datadisk-0"]
    assert rules.disks_created_during(disks, restore_job()) == []


RPC = "/subscriptions/s/resourceGroups/AzureBackupRG_koreacentral_1/providers/Microsoft.Compute/restorePointCollections"


def test_a_disk_is_tied_to_the_restore_by_its_backup_restore_point_not_by_its_time_alone():
    job = ran(restore_job())

    def disk(name, created="2026-11-20T01:09:00Z", option=None, source=None, os_type=None):
        props = {"timeCreated": created, **({"osType": os_type} if os_type else {})}
        if option:
            props["creationData"] = {"createOption": option, **({"sourceResourceId": source} if source else {})}
        return {"id": f"/d/disks/{name}", "name": name, "properties": props}

    point = f"{RPC}/AzureBackup_cvm-kv-01_169/restorePoints/AzureBackup_20261120_010509/disks"
    disks = [disk("os", option="Restore", source=f"{point}/cvm-kv-01_osdisk?id=0f1e", os_type="Windows"),
             disk("data", option="restore", source=f"{point}/cvm-kv-01_disk0"),
             disk("foreign-empty", option="Empty"),  # made by someone else while the job ran
             disk("foreign-copy", option="Copy", source="/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/x"),
             disk("other-vm", option="Restore", source=f"{RPC}/AzureBackup_cvm-kv-011_3/restorePoints/AzureBackup_1/disks/d"),
             disk("no-creation-data"),
             disk("before", created="2026-11-19T01:00:00Z", option="Restore", source=f"{point}/cvm-kv-01_osdisk")]
    got = rules.restored_disks(disks, job, "CVM-KV-01")
    assert got[0] == {"id": "/d/disks/os", "name": "os", "matched_by": "restore_point"}
    assert {d["name"]: d["matched_by"] for d in got} == {"os": "restore_point", "data": "restore_point", "foreign-empty": "time",
                                                         "foreign-copy": "time", "other-vm": "time", "no-creation-data": "time"}


def test_restored_blobs_name_what_the_bag_names():
    blobs = rules.restored_blobs(restore_job(**BAG))
    assert blobs["storage_account"] == "stage" and blobs["config_blob"] == "config-vm.json"
    assert blobs["template_blob_uri"].endswith("/azuredeploy1.json") and blobs["secured_encryption_info_blob"] is None


def test_failure_message_carries_code_recommendations_and_key_recovery():
    job = restore_job("Failed")
    job["properties"]["errorDetails"] = [{"errorCode": 400230, "errorTitle": "UserErrorKeyVaultPermissionsNotConfigured",
                                          "errorString": "Azure Backup cannot read the key.", "recommendations": ["Grant access"]}]
    text = rules.job_failure_message(job)
    assert "UserErrorKeyVaultPermissionsNotConfigured (400230)" in text and "Azure recommends: Grant access." in text
    assert "Restore-AzKeyVaultKey" in text and "Secured Encryption Info Blob Name" in text


def test_failure_message_for_other_errors_says_to_run_again():
    job = restore_job("Failed")
    job["properties"]["errorDetails"] = [{"errorCode": 400001, "errorTitle": "UserErrorVmAlreadyExists", "errorString": "exists"}]
    text = rules.job_failure_message(job)
    assert "UserErrorVmAlreadyExists" in text and "run the restore again" in text and "Restore-AzKeyVaultKey" not in text


def test_backup_names_follow_the_azure_backup_naming():
    names = rules.backup_names({"name": "rsv", "resource_group": "rg-backup"}, {"resource_group": "rg-cvm-kc", "name": "cvm-kv-01"})
    assert names == ("rsv", "rg-backup", "Azure", "IaasVMContainer;iaasvmcontainerv2;rg-cvm-kc;cvm-kv-01",
                     "VM;iaasvmcontainerv2;rg-cvm-kc;cvm-kv-01")
