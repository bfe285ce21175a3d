"""What mutation testing (`make mutation`) found the posture tests did not hold: whole results of posture_rules' facts,
on REST bodies shaped as the Recovery Services spec names them (specification/recoveryservicesbackup, stable
2025-08-01 bms.json: AzureIaaSVMProtectedItem.protectionState / healthStatus / policyId / policyName, JobResource.properties
.containerName "iaasvmcontainerv2;<resource group>;<vm>", RecoveryPointTierInformationV2.type / status)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import posture_rules as rules

VAULT = {"id": "/subscriptions/s/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/v", "name": "v"}


def item(**props):
    return {"properties": props}


def test_a_protected_item_gives_its_whole_protection():
    protected = item(protectionState="Protected", healthStatus="ActionRequired", policyId="/p/daily", policyName="daily")
    assert rules.protection(protected, VAULT) == {
        "protected": True, "vault_id": VAULT["id"], "vault_name": "v", "policy_id": "/p/daily", "policy_name": "daily",
        "protection_state": "Protected", "health_status": "ActionRequired"}


@pytest.mark.parametrize("state,usable", [("Protected", True), ("IRPending", True),
                                          ("ProtectionStopped", False), ("ProtectionError", False), ("Invalid", False),
                                          ("protectionstopped", False)])
def test_every_protection_state_of_the_spec(state, usable):
    assert rules.protection(item(protectionState=state), VAULT)["protected"] is usable


def test_an_item_without_a_policy_shows_none_not_an_empty_string():
    out = rules.protection(item(protectionState="ProtectionStopped", policyId="", policyName=""), None)
    assert (out["policy_id"], out["policy_name"], out["vault_id"], out["vault_name"]) == (None, None, None, None)


def job(name, start, group="rg", entity="vm1", status="Completed"):
    props = {"entityFriendlyName": entity, "status": status, "operation": "Backup", "containerName": f"iaasvmcontainerv2;{group};{entity}"}
    if start:
        props["startTime"] = start
    return {"name": name, "properties": props}


def test_the_last_job_is_of_the_vm_in_its_own_resource_group():
    jobs = [job("mine", "2026-12-01T01:00:00Z"), job("same-name-other-group", "2026-12-01T03:00:00Z", group="rg-other")]
    assert rules.last_job(jobs, "vm1", "RG")["name"] == "mine"


def test_a_job_without_a_start_time_is_the_oldest():
    jobs = [job("unstarted", None, status="NotStarted"), job("ran", "2026-12-01T01:00:00Z")]
    assert rules.last_job(jobs, "vm1", "rg")["name"] == "ran"
    assert rules.last_job(jobs[:1], "vm1", "rg")["name"] == "unstarted"


def test_a_point_without_a_time_is_the_oldest():
    points = [{"name": "timeless", "properties": {}},
              {"name": "dated", "properties": {"recoveryPointTime": "2026-12-01T02:00:00Z",
                                               "recoveryPointTierDetails": [{"type": "InstantRP", "status": "Valid"}]}}]
    assert rules.latest_point(points) == {"name": "dated", "time": "2026-12-01T02:00:00Z", "tiers": ["InstantRP"]}
    assert rules.latest_point(points[:1]) == {"name": "timeless", "time": None, "tiers": []}


def test_des_state_whole_results():
    assert rules.des_state("/d/des", {"disks": 3, "snapshots": 0}, 40) == {
        "id": "/d/des", "disk_count": 3, "snapshot_count": 0, "threshold": 40, "over_threshold": False,
        "message": "DES des has 3 disks and 0 snapshots, within the safe threshold of 40."}
    flooded = rules.des_state("/d/des", {"disks": 1, "snapshots": 45}, 40)
    assert (flooded["threshold"], flooded["over_threshold"]) == (0, True)
    unread = rules.des_state("/d/des", None, 40, "HTTP 500 from Compute")
    assert unread == {"id": "/d/des", "disk_count": None, "snapshot_count": None, "threshold": 40, "over_threshold": None,
                      "message": unread["message"]}
    assert "HTTP 500 from Compute" in unread["message"] and "40-disk threshold was not checked" in unread["message"]


def test_vm_reasons_of_a_protected_vm_in_their_stable_order():
    key = {"key_url": "https://kv.vault.azure.net/keys/k/1", "enabled": True, "days_left": 10, "expires": "2026-12-11T12:00:00Z",
           "backup_access": True}
    record = {"protection": {"protected": True, "protection_state": "Protected", "vault_name": "v"},
              "last_backup": {"rpo_met": False, "time": "t", "age_hours": 50.0, "rpo_hours": 24.0}, "last_job": None, "key": key,
              "disk_encryption_set": {"over_threshold": True, "message": "DES des has 41 disks."},
              "vault": {"name": "v", "soft_delete": "Disabled", "immutability": "Unlocked", "cross_region_restore": False}}
    sub = {"subscription_id": "s", "preview_feature": "NotRegistered", "blocking_features": []}
    reasons = rules.vm_reasons(record, sub, 30)
    assert [r["code"] for r in reasons] == ["rpo_missed", "key_expires_soon", "des_over_threshold", "soft_delete_off",
                                            "feature_not_registered"]
    assert [r["code"] for r in rules.vm_reasons(record, sub, 9)][1:2] == ["des_over_threshold"]


def test_the_age_of_the_last_backup_in_hours_to_two_places():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    backed = item(protectionState="Protected", lastBackupTime="2026-12-01T10:39:30Z", lastBackupStatus="Completed")
    out = rules.last_backup(backed, {"properties": {"schedulePolicy": {"scheduleRunFrequency": "Daily"}}}, now, 0)
    assert out == {"time": "2026-12-01T10:39:30Z", "age_hours": 1.34, "rpo_hours": 24.0, "rpo_met": True, "status": "Completed"}


def test_the_severity_of_each_des_and_vault_reason():
    assert [(r["code"], r["severity"]) for r in rules.des_reasons({"over_threshold": True, "message": "m"})] == \
        [("des_over_threshold", "at_risk")]
    assert [(r["code"], r["severity"]) for r in rules.des_reasons({"over_threshold": None, "message": "m"})] == \
        [("des_unreadable", "at_risk")]
    weak = {"name": "v", "soft_delete": "Disabled", "immutability": "Disabled", "cross_region_restore": True}
    assert [(r["code"], r["severity"]) for r in rules.vault_reasons(weak)] == [
        ("soft_delete_off", "at_risk"), ("immutability_off", "at_risk"), ("cross_region_restore_on", "at_risk")]


def test_a_vault_without_redundancy_settings_has_no_cross_region_restore_answer():
    assert rules.vault_state({"id": "/v", "name": "v", "properties": {}})["cross_region_restore"] is None
    assert rules.vault_state({"id": "/v", "name": "v", "properties": {"redundancySettings": {"crossRegionRestore": "Enabled"}}})[
        "cross_region_restore"] is True


def test_the_rpo_is_met_at_exactly_the_schedule_plus_the_grace():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    daily = {"properties": {"schedulePolicy": {"scheduleRunFrequency": "Daily"}}}
    at_edge = rules.last_backup(item(lastBackupTime="2026-11-30T10:00:00Z"), daily, now, 2)
    assert (at_edge["age_hours"], at_edge["rpo_met"]) == (26.0, True)
    assert rules.last_backup(item(lastBackupTime="2026-11-30T09:59:00Z"), daily, now, 2)["rpo_met"] is False
    assert rules.last_backup(None, daily, now, 2)["rpo_hours"] is None


def test_the_failing_and_unprotected_reasons_in_whole():
    failed = {"name": "j1", "status": "Failed", "error_code": None}
    assert rules.backup_reasons({"protection": {"protected": True}, "last_job": failed, "last_backup": {"time": "t"}}) == [
        {"code": "last_job_failed", "severity": "failing", "message": "The last backup job j1 ended Failed."}]
    coded = rules.backup_reasons({"protection": {"protected": True}, "last_job": {**failed, "error_code": "UserErrorX (400230)"},
                                  "last_backup": {"time": "t"}})
    assert coded[0]["message"] == "The last backup job j1 ended Failed with error UserErrorX (400230)."
    (unprotected,) = rules.protection_reasons({"protection": {"protected": False, "protection_state": None}})
    assert unprotected["severity"] == "unprotected"


def test_every_blocking_feature_is_named():
    sub = {"subscription_id": "s", "preview_feature": "Registered", "blocking_features": ["A", "B"]}
    (blocking,) = rules.subscription_reasons(sub)
    assert blocking["message"].endswith("registered in subscription s: A, B.")
