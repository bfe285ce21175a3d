"""What mutation testing (tests/mutation, `make mutation`) found the rule tests did not hold: the names of the checks
(the readiness report's keys, which playbooks and the verdict select on), that each message names what the person must
act on (the VM's size and family, region, DES, vault, policy, counts), the whole result of a restore tier decision,
and the protection decisions' edge cases. The support matrix itself is held to Microsoft's pages in
test_support_matrix.py (unit/data/cvm_support_matrix.yml); these tests use its documented values only."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules as r
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules as pr
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules as rr
from tests.unit.test_cvm_rules import DES_ID, des, facts

CMK = {"des_id": DES_ID}
VAULT = {"name": "rsv-kc", "location": "koreacentral", "properties": {}}
CRR_VAULT = {"name": "rsv-crr", "location": "koreacentral",
             "properties": {"redundancySettings": {"crossRegionRestore": "Enabled"}}}
POLICY = {"name": "pol-1", "properties": {"backupManagementType": "AzureIaasVM"}}
REGISTERED = {"properties": {"state": "Registered"}}

# (check name, function, arguments, status, words the message must contain)
CASES = [
    ("vm_exists", r.check_exists, ("vm-9", None), r.FAIL, ["vm-9"]),
    ("vm_exists", r.check_exists, ("vm-9", {"id": "x"}), r.PASS, ["vm-9"]),
    ("security_type", r.check_security_type, (facts(),), r.PASS, ["ConfidentialVM"]),
    ("security_type", r.check_security_type, (facts(security_type="TrustedLaunch"),), r.NA, ["TrustedLaunch"]),
    ("vm_size", r.check_size, (facts(size="Standard_EC8eds_v6"),), r.PASS, ["Standard_EC8eds_v6", "ECedsv6"]),
    ("vm_size", r.check_size, (facts(size="Standard_DC4as_v5"),), r.FAIL, ["Standard_DC4as_v5", "DCasv5", "v6", "DCasv6"]),
    ("vm_size", r.check_size, (facts(size="Standard_D4s_v3"),), r.FAIL, ["Standard_D4s_v3 (family ", "DCasv6"]),
    ("vm_size", r.check_size, (facts(size="Nonsense"),), r.FAIL, ["Size Nonsense is not", "DCasv6"]),
    ("vm_size", r.check_size, (facts(size=None),), r.FAIL, ["Size (none) is not"]),
    ("region", r.check_region, (facts(location="koreacentral"),), r.PASS, ["koreacentral"]),
    ("region", r.check_region, (facts(location="westeurope"),), r.FAIL, ["westeurope", "uaenorth", "koreacentral"]),
    ("os_disk_encryption", r.check_os_disk_encryption, (facts(),), r.PASS, ["DiskWithVMGuestState"]),
    ("key", r.check_key, (facts(), None), r.PASS, ["platform-managed"]),
    ("key", r.check_key, (facts(des_id=DES_ID), des()), r.PASS, ["des-1"]),
    ("des_threshold", r.check_des_threshold, (facts(), None), r.NA, ["platform-managed"]),
    ("des_threshold", r.check_des_threshold, (facts(**CMK), None, 40, "HTTP 403"), r.WARN, ["des-1", "HTTP 403", "40-disk"]),
    ("des_threshold", r.check_des_threshold, (facts(**CMK), None), r.WARN, ["des-1", "unknown error"]),
    ("des_threshold", r.check_des_threshold, (facts(**CMK), {"disks": 30, "snapshots": 2}), r.PASS,
     ["des-1", "30 disks", "2 snapshots", "40"]),
    ("des_threshold", r.check_des_threshold, (facts(**CMK), {"disks": 41, "snapshots": 3}), r.WARN,
     ["des-1", "41 disks", "3 snapshots", "40"]),
    ("des_threshold", r.check_des_threshold, (facts(**CMK), {"disks": 38, "snapshots": 5}), r.WARN,
     ["des-1", "38 disks", "5 snapshots", "43 over", "40", "to 35"]),
    ("restore_point_feature", r.check_restore_point_feature, (REGISTERED,), r.PASS, [r.RESTORE_POINT_FEATURE]),
    ("restore_point_feature", r.check_restore_point_feature, (None, "HTTP 403"), r.FAIL, ["HTTP 403"]),
    ("restore_point_feature", r.check_restore_point_feature, ({"properties": {"state": "Pending"}},), r.FAIL, ["Pending", "wait"]),
    ("restore_point_feature", r.check_restore_point_feature, ({"properties": {"state": "Registering"}},), r.FAIL, ["Registering"]),
    ("restore_point_feature", r.check_restore_point_feature, (None,), r.FAIL, ["NotRegistered", "register it"]),
    ("restore_point_feature", r.check_restore_point_feature, (None, None, True), r.PASS, ["NotRegistered", "earlier step"]),
    ("blocking_features", r.check_blocking_features, ({},), r.NA, ["not documented"]),
    ("blocking_features", r.check_blocking_features, ({"Microsoft.Compute/OptOut": REGISTERED},), r.FAIL, ["Microsoft.Compute/OptOut"]),
    ("blocking_features", r.check_blocking_features, ({"Microsoft.Compute/OptOut": "HTTP 500"},), r.FAIL, ["Microsoft.Compute/OptOut (HTTP 500)"]),
    ("blocking_features", r.check_blocking_features, ({"Microsoft.Compute/B": None, "Microsoft.Compute/A": {}},), r.PASS,
     ["Microsoft.Compute/A, Microsoft.Compute/B"]),
    ("vault_region", r.check_vault_region, (facts(), None), r.NA, ["vault"]),
    ("vault_region", r.check_vault_region, (facts(), None, "HTTP 404"), r.FAIL, ["HTTP 404"]),
    ("vault_region", r.check_vault_region, (facts(), VAULT), r.PASS, ["rsv-kc", "koreacentral"]),
    ("vault_region", r.check_vault_region, (facts(location="uaenorth"), VAULT), r.FAIL, ["rsv-kc", "koreacentral", "uaenorth"]),
    ("vault_cross_region_restore", r.check_vault_cross_region_restore, (None,), r.NA, ["vault"]),
    ("vault_cross_region_restore", r.check_vault_cross_region_restore, (VAULT,), r.PASS, ["rsv-kc", "disabled"]),
    ("vault_cross_region_restore", r.check_vault_cross_region_restore, (CRR_VAULT,), r.WARN, ["rsv-crr", "enabled"]),
    ("policy", r.check_policy, (facts(), None), r.NA, ["policy"]),
    ("policy", r.check_policy, (facts(), None, "pol-x"), r.FAIL, ["pol-x", "not found"]),
    ("policy", r.check_policy, (facts(), None, "pol-x", "HTTP 403"), r.FAIL, ["pol-x", "HTTP 403"]),
    ("policy", r.check_policy, (facts(), POLICY), r.PASS, ["pol-1"]),
    ("policy", r.check_policy, (facts(), {"properties": {"backupManagementType": "AzureStorage"}}, "pol-s"), r.FAIL,
     ["pol-s", "AzureStorage"]),
    ("policy", r.check_policy, (facts(data_disks=2), {"name": "pol-c", "properties": {
        "backupManagementType": "AzureIaasVM", "snapshotConsistencyType": "OnlyCrashConsistent"}}), r.FAIL, ["pol-c", "2 data disk"]),
]


@pytest.mark.parametrize("name,fn,args,status,words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_check_has_its_name_status_and_a_message_that_names_what_to_act_on(name, fn, args, status, words):
    check = fn(*args)
    assert (check.name, check.status) == (name, status)
    assert isinstance(check.message, str) and check.message.strip().endswith(".")
    for word in words:
        assert word.lower() in check.message.lower(), (word, check.message)
    assert check.as_dict() == {"name": name, "status": status, "message": check.message}


def test_family_names_are_compared_without_case_and_an_empty_family_is_none():
    assert r.is_v6_cvm_family("ecedsv6")
    assert not r.is_v6_cvm_family("")
    assert not r.is_v6_cvm_family(None)
    assert not r.is_v6_cvm_family("XXXX", families=("xxxx2",))
    assert not r.is_v6_cvm_family(None, families=("XXXX",))


# ------------------------------------------------------------------------------------------------ restore tiers

OLD = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-old"
NEW = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-new"
KEY = {"kind": "key_vault", "store": "kv-a", "name": "cmk-1"}
HSM_KEY = {"kind": "managed_hsm", "store": "hsm-a", "name": "cmk-1"}


def keys_of(decision):
    assert set(decision) == {"allowed", "source_tier", "des", "replacement", "notes", "reason"}
    assert isinstance(decision["reason"], str) and decision["reason"]
    assert all(isinstance(n, str) and n for n in decision["notes"])
    return decision


@pytest.mark.parametrize("tiers,original,requested,expected,words", [
    (["archive"], OLD, None, (False, None, OLD, False), ["archive", "rehydrate"]),
    ([], None, NEW, (False, None, NEW, False), ["tiers: none"]),
    (["snapshot", "vault"], OLD, None, (True, "snapshot", OLD, False), ["snapshot tier", "des-old"]),
    (["vault"], OLD, OLD, (True, "vault", OLD, False), ["vault tier", "des-old"]),
    (["snapshot"], None, None, (True, "snapshot", None, False), ["original encryption"]),
    (["snapshot"], OLD, NEW, (False, None, NEW, True), ["InstantRP", "des-new", "des-old"]),
    (["snapshot"], None, NEW, (False, None, NEW, True), ["the original encryption", "des-new"]),
    (["vault"], OLD, NEW, (True, "vault", NEW, True), ["vault tier", "des-new"]),
])
def test_tier_decision_whole_result(tiers, original, requested, expected, words):
    decision = keys_of(rr.tier_decision(tiers, original, requested))
    assert (decision["allowed"], decision["source_tier"], decision["des"], decision["replacement"]) == expected
    for word in words:
        assert word in decision["reason"], (word, decision["reason"])


def test_tier_decision_key_checks_name_the_store_and_the_key():
    missing = keys_of(rr.tier_decision(["vault"], OLD, NEW, False, KEY, KEY))
    assert (missing["allowed"], missing["source_tier"], missing["des"], missing["replacement"]) == (False, None, NEW, True)
    assert "key vault kv-a" in missing["reason"] and "cmk-1" in missing["reason"] and "des-new" in missing["reason"]
    in_hsm = keys_of(rr.tier_decision(["vault"], OLD, NEW, False, KEY, HSM_KEY))
    assert "Managed HSM hsm-a" in in_hsm["reason"]
    unknown = keys_of(rr.tier_decision(["vault"], OLD, NEW, None, KEY, KEY))
    assert unknown["allowed"] and len(unknown["notes"]) == 1 and "kv-a" in unknown["notes"][0] and "cmk-1" in unknown["notes"][0]
    present = keys_of(rr.tier_decision(["vault"], OLD, NEW, True, KEY, KEY))
    assert present["allowed"] and present["notes"] == []
    # one of the two keys unknown: no store check, and no note that claims one was made
    only_replacement = keys_of(rr.tier_decision(["vault"], OLD, NEW, False, None, KEY))
    assert only_replacement["allowed"] and len(only_replacement["notes"]) == 1
    assert "could not be read" in only_replacement["notes"][0] and "des-old" in only_replacement["notes"][0]
    only_original = keys_of(rr.tier_decision(["vault"], OLD, NEW, False, KEY, None))
    assert only_original["allowed"] and only_original["notes"] == []
    pmk = keys_of(rr.tier_decision(["vault"], None, NEW, None, None, KEY))
    assert pmk["allowed"] and pmk["notes"] == []
    both_tiers = keys_of(rr.tier_decision(["snapshot", "vault"], OLD, NEW, True, KEY, KEY))
    assert both_tiers["source_tier"] == "vault" and any("snapshot tier" in n for n in both_tiers["notes"])


def test_choose_point_by_name_or_id_without_case_and_latest_needs_a_restorable_tier():
    points = [{"name": "P1", "properties": {"recoveryPointTime": "2026-01-01T00:00:00Z",
                                            "recoveryPointTierDetails": [{"type": "HardenedRP", "status": "Valid"}]}},
              {"properties": {}}]
    assert rr.choose_point(points, "p1") is points[0]
    assert rr.choose_point(points, "/subscriptions/s/x/recoveryPoints/P1") is points[0]
    assert rr.choose_point(points, "p9") is None
    assert rr.choose_point(points, "none") is None  # a point without a name is never "None"
    assert rr.choose_point(points, "xxxx") is None
    assert rr.choose_point(points, "latest") is points[0]
    snapshot_only = [{"name": "S", "properties": {"recoveryPointTierDetails": [{"type": "InstantRP", "status": "Valid"}]}}]
    assert rr.choose_point(snapshot_only, "latest") is snapshot_only[0]


# ------------------------------------------------------------------------------------------------ protection decisions


def test_unknown_state_is_named():
    with pytest.raises(ValueError, match="'paused'"):
        pr.protection_action("paused", None, None)


def test_an_action_with_nothing_to_wait_for_is_done():
    assert pr.action_done(pr.NONE, None, None) is True


def test_vault_errors_each_rule_alone():
    base = {"location": "koreacentral", "storage_redundancy": "LocallyRedundant", "cross_region_restore": False}
    assert pr.vault_errors(base, None) == []
    assert pr.vault_errors(dict(base, location=None), None) == ["location is required to create a vault."]
    assert pr.vault_errors(dict(base, cross_region_restore=True), None) == ["Cross-region restore needs storage_redundancy GeoRedundant."]
    assert pr.vault_errors(dict(base, cross_region_restore=True, storage_redundancy="GeoRedundant"), None) == []
    assert pr.vault_errors(dict(base, storage_redundancy="GeoRedundant"), None) == []


POLICY_OPTIONS = {"schedule_time": "21:00", "time_zone": "Korea Standard Time", "instant_restore_days": 7,
                  "retention": {"daily_days": 30, "weekly": {"count": 12, "days_of_week": ["Sunday"]}, "monthly": {"count": 12},
                                "yearly": {"count": 5}}}


@pytest.mark.parametrize("option,value,change", [
    ("time_zone", "UTC", "time_zone"),  # the review's M10: a time zone change was not seen
    ("schedule_time", "03:00", "schedule_time"),
    ("instant_restore_days", 10, "instant_restore_days"),
    ("snapshot_consistency", "crash_consistent_only", "snapshot_consistency"),
    ("retention", {**POLICY_OPTIONS["retention"], "daily_days": 60}, "daily_days"),
    ("retention", {**POLICY_OPTIONS["retention"], "weekly": {"count": 10, "days_of_week": ["Sunday"]}}, "weekly"),
    ("retention", {**POLICY_OPTIONS["retention"], "weekly": {"count": 12, "days_of_week": ["Monday"]}}, "weekly"),
    ("retention", {**POLICY_OPTIONS["retention"], "monthly": {"count": 6}}, "monthly"),
    ("retention", {**POLICY_OPTIONS["retention"], "yearly": {"count": 3}}, "yearly"),
])
def test_every_policy_setting_changed_alone_is_a_change(option, value, change):
    """backup_policy (its documentation: idempotent on the settings it manages) updates a policy when any one of them
    differs, and names that one change alone; the policy as Azure returns it has the settings the options asked for."""
    existing = pr.policy_settings(pr.policy_body(pr.desired_policy_settings(POLICY_OPTIONS)))
    assert pr.policy_changes(pr.desired_policy_settings(POLICY_OPTIONS), existing) == []
    assert pr.policy_changes(pr.desired_policy_settings({**POLICY_OPTIONS, option: value}), existing) == [change]


SPEC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "azure_sim", "spec_examples", "recoveryservicesbackup",
                    "resource-manager", "Microsoft.RecoveryServices", "stable", "2025-08-01", "examples", "AzureIaasVm")


def test_the_retention_schedules_are_the_spec_examples():
    """The weekly, monthly and yearly retention of a policy are sent in the shape of the spec's
    ProtectionPolicies_CreateOrUpdate_Complex example (field names, enum spellings, the weekly format), the daily
    schedule and retention in that of the _Simple one; only the run time differs (the module's own reference date)."""
    with open(os.path.join(SPEC, "ProtectionPolicies_CreateOrUpdate_Complex.json"), encoding="utf-8") as handle:
        complex_ = json.load(handle)["parameters"]["parameters"]["properties"]
    with open(os.path.join(SPEC, "ProtectionPolicies_CreateOrUpdate_Simple.json"), encoding="utf-8") as handle:
        simple = json.load(handle)["parameters"]["parameters"]["properties"]
    s = pr.desired_policy_settings({
        "policy_type": "standard", "schedule_time": "10:00", "time_zone": "Pacific Standard Time", "retention": {
            "daily_days": 1, "weekly": {"count": 1, "days_of_week": ["Monday", "Wednesday", "Thursday"]},
            "monthly": {"count": 2, "weeks_of_month": ["First", "Third"], "days_of_week": ["Wednesday", "Thursday"]},
            "yearly": {"count": 4, "months_of_year": ["February", "November"], "weeks_of_month": ["Fourth"],
                       "days_of_week": ["Monday", "Thursday"]}}})
    props = pr.policy_body(s)["properties"]
    at = props["schedulePolicy"]["scheduleRunTimes"]
    assert at[0].endswith("T10:00:00Z") and len(at) == 1

    def same_time(value, times):
        return json.loads(json.dumps(value).replace(json.dumps(times)[1:-1], json.dumps(at)[1:-1]))

    sent = {k: {f: v for f, v in props["retentionPolicy"][k].items() if v is not None}
            for k in ("weeklySchedule", "monthlySchedule", "yearlySchedule")}
    expected = same_time({k: complex_["retentionPolicy"][k] for k in sent}, complex_["schedulePolicy"]["scheduleRunTimes"])
    assert sent == expected
    daily = same_time(simple, simple["schedulePolicy"]["scheduleRunTimes"])
    assert props["retentionPolicy"]["dailySchedule"] == daily["retentionPolicy"]["dailySchedule"]
    assert props["retentionPolicy"]["retentionPolicyType"] == daily["retentionPolicy"]["retentionPolicyType"]
    assert {k: v for k, v in props["schedulePolicy"].items() if k != "scheduleWeeklyFrequency"} == daily["schedulePolicy"]
    assert props["timeZone"] == complex_["timeZone"] and props["backupManagementType"] == complex_["backupManagementType"]


def test_a_job_is_described_from_the_spec_example_with_its_tasks_bag_and_errors():
    """backup_job_info's RETURN fields from the spec's GetJobDetails example, and the error details of an
    AzureIaaSVMJob (AzureIaaSVMErrorInfo: errorCode, errorString, errorTitle, recommendations)."""
    with open(os.path.join(os.path.dirname(SPEC), "Common", "GetJobDetails.json"), encoding="utf-8") as handle:
        job = json.load(handle)["responses"]["200"]["body"]
    assert rr.describe_job(job) == {
        "id": job["id"], "name": "00000000-0000-0000-0000-000000000000", "operation": "Backup", "status": "InProgress",
        "entity_friendly_name": "testvm", "start_time": "2017-08-03T05:31:07.014604Z", "end_time": None,
        "duration": "PT9.8782791S", "activity_id": "00000000-0000-0000-0000-000000000000",
        "tasks": [{"name": "Take Snapshot", "status": "InProgress", "duration": "PT0S"},
                  {"name": "Transfer data to vault", "status": "NotStarted", "duration": "PT0S"}],
        "properties": {"VM Name": "testvm"}, "error_details": []}
    failed = {**job, "properties": {**job["properties"], "status": "Failed", "endTime": "2017-08-03T05:41:07Z", "errorDetails": [
        {"errorCode": "UserErrorKeyVaultPermissionsNotConfigured", "errorString": "Backup doesn't have sufficient permissions",
         "errorTitle": "Key Vault permissions", "recommendations": ["Grant the Backup Management Service access"]}]}}
    described = rr.describe_job(failed)
    assert described["end_time"] == "2017-08-03T05:41:07Z" and described["status"] == "Failed"
    assert described["error_details"] == [{"code": "UserErrorKeyVaultPermissionsNotConfigured",
                                           "message": "Backup doesn't have sufficient permissions",
                                           "title": "Key Vault permissions",
                                           "recommendations": ["Grant the Backup Management Service access"]}]
    assert rr.describe_job({"id": "x"})["tasks"] == [] and rr.describe_job({"id": "x"})["properties"] == {}
