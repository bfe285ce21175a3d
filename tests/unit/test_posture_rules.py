"""The backup posture rules (posture_rules) and the key-access coverage rules backup_posture_info uses (key_access)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka
from ansible_collections.azure_cvm.backup.plugins.module_utils import posture_rules as rules

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
KEY_URL = "https://kv.vault.azure.net/keys/k/0123"
LOCATION = {"kind": "key_vault", "vault": "kv", "key_name": "k", "key_version": "0123", "key_url": KEY_URL}
SUB = {"subscription_id": "s", "preview_feature": "Registered", "blocking_features": [], "problems": []}


def item(state="Protected", last=None, status="Completed", policy="daily"):
    return {"properties": {"protectionState": state, "policyName": policy, "policyId": f"/p/{policy}", "healthStatus": "Passed",
                           "lastBackupTime": last, "lastBackupStatus": status}}


def policy(frequency="Daily", interval=None):
    schedule = {"scheduleRunFrequency": frequency}
    if interval:
        schedule["hourlySchedule"] = {"interval": interval}
    return {"properties": {"schedulePolicy": schedule}}


def record(protected=True, **extra):
    out = {"protection": {"protected": protected, "protection_state": "Protected" if protected else None, "vault_name": "v"},
           "last_backup": None, "last_job": None, "key": None, "disk_encryption_set": None, "vault": None}
    out.update(extra)
    return out


def codes(reasons):
    return [r["code"] for r in reasons]


def test_verdict_is_the_worst_severity():
    assert rules.verdict([]) == "healthy"
    assert rules.verdict([rules.reason("a", "at_risk", "x")]) == "at_risk"
    assert rules.verdict([rules.reason("a", "at_risk", "x"), rules.reason("b", "failing", "y")]) == "failing"
    assert rules.verdict([rules.reason("b", "failing", "y"), rules.reason("a", "at_risk", "x")]) == "failing"
    assert rules.verdict([rules.reason("c", "unprotected", "z"), rules.reason("b", "failing", "y")]) == "unprotected"


def test_reason_is_one_sentence():
    assert rules.reason("x", "at_risk", "Something is off.")["message"] == "Something is off."
    assert rules.reason("x", "at_risk", "Something is off")["message"] == "Something is off."


def test_summary_counts_every_verdict():
    vms = [{"verdict": v} for v in ("healthy", "healthy", "at_risk", "failing", "unprotected")]
    assert rules.summary(vms) == {"total": 5, "healthy": 2, "at_risk": 1, "failing": 1, "unprotected": 1}
    assert rules.summary([]) == {"total": 0, "healthy": 0, "at_risk": 0, "failing": 0, "unprotected": 0}


@pytest.mark.parametrize("given,hours", [(policy("Daily"), 24.0), (policy("Weekly"), 168.0), (policy("Hourly", 4), 4.0),
                                         (policy("Hourly"), None), ({}, None), (None, None)])
def test_rpo_hours_from_the_schedule(given, hours):
    assert rules.rpo_hours(given) == hours


def test_last_backup_rpo_met_on_both_sides_of_the_grace():
    fresh = item(last=(NOW - timedelta(hours=27)).isoformat())
    assert rules.last_backup(fresh, policy(), NOW, 4)["rpo_met"] is True
    assert rules.last_backup(fresh, policy(), NOW, 2)["rpo_met"] is False
    stale = rules.last_backup(item(last="2026-11-28T12:00:00Z"), policy(), NOW, 4)
    assert stale == {"time": "2026-11-28T12:00:00Z", "age_hours": 72.0, "rpo_hours": 24.0, "rpo_met": False, "status": "Completed"}
    assert rules.last_backup(item(last=None), policy(), NOW, 4)["rpo_met"] is None
    assert rules.last_backup(item(last="2026-12-01T11:00:00Z"), None, NOW, 4)["rpo_met"] is None


def test_protection_of_stopped_and_missing_items():
    assert rules.protection(item(), {"id": "/v", "name": "v"})["protected"] is True
    stopped = rules.protection(item(state="ProtectionStopped"), {"id": "/v", "name": "v"})
    assert stopped["protected"] is False and stopped["vault_name"] == "v"
    assert rules.protection(None, {"id": "/v", "name": "v"}) == {
        "protected": False, "vault_id": None, "vault_name": None, "policy_id": None, "policy_name": None,
        "protection_state": None, "health_status": None}
    assert codes(rules.protection_reasons({"protection": stopped})) == ["not_protected"]
    assert "ProtectionStopped" in rules.protection_reasons({"protection": stopped})[0]["message"]


def job(name, status, start, entity="vm1", error=None):
    props = {"entityFriendlyName": entity, "status": status, "startTime": start, "endTime": start, "operation": "Backup"}
    if error:
        props["errorDetails"] = [{"errorCode": 400230, "errorTitle": error, "errorString": "no access", "recommendations": ["Grant it."]}]
    return {"name": name, "properties": props}


def test_last_job_is_the_newest_of_the_vm_with_its_error():
    jobs = [job("j1", "Completed", "2026-11-30T02:00:00Z"), job("j2", "Failed", "2026-12-01T02:00:00Z", error="UserErrorX"),
            job("j3", "Completed", "2026-12-01T03:00:00Z", entity="other")]
    newest = rules.last_job(jobs, "VM1", "rg")
    assert newest == {"name": "j2", "status": "Failed", "start_time": "2026-12-01T02:00:00Z", "end_time": "2026-12-01T02:00:00Z",
                      "error_code": "UserErrorX (400230)", "error_message": "no access", "recommendations": ["Grant it."]}
    assert rules.last_job(jobs, "vm2", "rg") is None
    assert codes(rules.backup_reasons(record(last_job=newest, last_backup={"rpo_met": True, "time": "t"}))) == ["last_job_failed"]
    ok = rules.last_job(jobs[:1], "vm1", "rg")
    assert ok["error_code"] is None and codes(rules.backup_reasons(record(last_job=ok, last_backup={"rpo_met": True, "time": "t"}))) == []


def test_backup_reasons_without_a_job_use_the_item():
    failed = {"rpo_met": True, "time": "t", "status": "Failed"}
    assert codes(rules.backup_reasons(record(last_backup=failed))) == ["last_job_failed"]
    missed = {"rpo_met": False, "time": "t", "status": "Completed", "age_hours": 60.0, "rpo_hours": 24.0}
    assert codes(rules.backup_reasons(record(last_backup=missed))) == ["rpo_missed"]
    assert "60 hours" in rules.backup_reasons(record(last_backup=missed))[0]["message"]
    assert codes(rules.backup_reasons(record(last_backup={"rpo_met": None, "time": None, "status": None}))) == ["no_backup_yet"]


def test_latest_point_and_its_valid_tiers():
    points = [{"name": "old", "properties": {"recoveryPointTime": "2026-11-30T02:00:00Z",
                                             "recoveryPointTierDetails": [{"type": "HardenedRP", "status": "Valid"}]}},
              {"name": "new", "properties": {"recoveryPointTime": "2026-12-01T02:00:00Z",
                                             "recoveryPointTierDetails": [{"type": "InstantRP", "status": "Valid"},
                                                                          {"type": "HardenedRP", "status": "Deleted"}]}}]
    assert rules.latest_point(points) == {"name": "new", "time": "2026-12-01T02:00:00Z", "tiers": ["InstantRP"]}
    assert rules.latest_point([]) is None


@pytest.mark.parametrize("attributes,days,expected", [
    ({"enabled": True}, None, []),
    ({"enabled": True, "exp": int((NOW + timedelta(days=31, hours=1)).timestamp())}, 31, []),
    ({"enabled": True, "exp": int((NOW + timedelta(days=30, hours=1)).timestamp())}, 30, ["key_expires_soon"]),
    ({"enabled": True, "exp": int((NOW + timedelta(hours=1)).timestamp())}, 0, ["key_expires_soon"]),
    ({"enabled": True, "exp": int((NOW - timedelta(hours=1)).timestamp())}, -1, ["key_expired"]),
    ({"enabled": False}, None, ["key_disabled"]),
])
def test_key_state_and_reasons_on_both_sides_of_the_warning(attributes, days, expected):
    key = rules.key_state(LOCATION, attributes, NOW, True)
    assert key["days_left"] == days and key["store_type"] == "key_vault" and key["key_url"] == KEY_URL
    assert codes(rules.key_reasons(key, 30)) == expected


def test_key_access_and_unreadable_keys():
    assert codes(rules.key_reasons(rules.key_state(LOCATION, {"enabled": True}, NOW, False), 30)) == ["key_access_missing"]
    unknown = {**rules.key_state(LOCATION, {"enabled": True}, NOW, None), "problems": ["Graph refused"]}
    (only,) = rules.key_reasons(unknown, 30)
    assert only["code"] == "key_access_unknown" and only["severity"] == "at_risk" and "Graph refused" in only["message"]
    unread = {**rules.key_state(LOCATION, None, NOW, True), "problems": ["403"]}
    assert codes(rules.key_reasons(unread, 30)) == ["key_unreadable"]
    gone = {**rules.key_state(LOCATION, None, NOW, True), "exists": False}
    assert codes(rules.key_reasons(gone, 30)) == ["key_missing"]
    assert codes(rules.key_reasons(None, 30, "The DES could not be read")) == ["key_unreadable"]
    assert rules.key_reasons(None, 30) == []


def test_des_threshold_reuses_the_readiness_rule():
    within = rules.des_state("/d/des", {"disks": 40, "snapshots": 0}, 40)
    assert within["over_threshold"] is False and rules.des_reasons(within) == []
    over = rules.des_state("/d/des", {"disks": 38, "snapshots": 4}, 40)
    assert over["over_threshold"] is True and over["threshold"] == 36 and codes(rules.des_reasons(over)) == ["des_over_threshold"]
    unread = rules.des_state("/d/des", None, 40, "HTTP 500")
    assert unread["over_threshold"] is None and codes(rules.des_reasons(unread)) == ["des_unreadable"]


def vault(soft="Enabled", immutable="Unlocked", crr="Disabled"):
    return {"id": "/v", "name": "v", "properties": {
        "securitySettings": {"softDeleteSettings": {"softDeleteState": soft}, "immutabilitySettings": {"state": immutable}},
        "redundancySettings": {"crossRegionRestore": crr}}}


def test_vault_settings_and_their_reasons():
    assert rules.vault_state(vault()) == {"id": "/v", "name": "v", "soft_delete": "Enabled", "immutability": "Unlocked",
                                          "cross_region_restore": False}
    assert rules.vault_reasons(rules.vault_state(vault())) == []
    assert rules.vault_reasons(rules.vault_state(vault(soft="AlwaysON", immutable="Locked"))) == []
    weak = rules.vault_state(vault(soft="Disabled", immutable="Disabled", crr="Enabled"))
    assert codes(rules.vault_reasons(weak)) == ["soft_delete_off", "immutability_off", "cross_region_restore_on"]
    assert rules.vault_state(None) is None and rules.vault_reasons(None) == []


def test_subscription_reasons():
    assert rules.subscription_reasons(SUB) == []
    off = {**SUB, "preview_feature": "NotRegistered", "blocking_features": ["Microsoft.Compute/OptOut"]}
    assert codes(rules.subscription_reasons(off)) == ["feature_not_registered", "blocking_feature_registered"]
    assert [r["severity"] for r in rules.subscription_reasons(off)] == ["at_risk", "failing"]
    assert len(rules.subscription_problems(off)) == 2


def test_vm_reasons_of_an_unprotected_vm_leave_out_the_backup_and_vault_ones():
    bare = record(protected=False, vault=rules.vault_state(vault(soft="Disabled")))
    assert codes(rules.vm_reasons(bare, SUB, 30)) == ["not_protected"]
    assert rules.verdict(rules.vm_reasons(bare, {**SUB, "preview_feature": "NotRegistered"}, 30)) == "unprotected"
    weak = record(vault=rules.vault_state(vault(soft="Disabled")), last_backup={"rpo_met": True, "time": "t", "status": "Completed"})
    assert codes(rules.vm_reasons(weak, SUB, 30)) == ["soft_delete_off"]


# ------------------------------------------------------------------------------------------------ key access coverage


def test_access_policy_needs_the_key_permissions_the_collection_grants():
    entry = {"objectId": BMS.upper(), "permissions": {"keys": ["Get", "List", "Backup"]}}
    assert ka.policy_backup_access([entry], BMS) is True
    assert ka.policy_backup_access([{"objectId": BMS, "permissions": {"keys": ["all"]}}], BMS) is True
    assert ka.policy_backup_access([{"objectId": BMS, "permissions": {"keys": ["get", "list"]}}], BMS) is False
    assert ka.policy_backup_access([{**entry, "applicationId": "x"}], BMS) is False  # a compound identity is not the service
    assert ka.policy_backup_access([], BMS) is False


VAULT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
CRYPTO_USER = {"id": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424",
               "properties": {"permissions": [{"dataActions": ["Microsoft.KeyVault/vaults/keys/read",
                                                               "Microsoft.KeyVault/vaults/keys/backup/action"]}]}}
ADMIN = {"id": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483",
         "properties": {"permissions": [{"dataActions": ["Microsoft.KeyVault/vaults/*"],
                                         "notDataActions": []}]}}
NO_BACKUP = {"id": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6",
             "properties": {"permissions": [{"dataActions": ["Microsoft.KeyVault/vaults/*"],
                                             "notDataActions": ["Microsoft.KeyVault/vaults/keys/backup/action"]}]}}


def assignment(scope, role, principal=BMS):
    return {"properties": {"scope": scope, "roleDefinitionId": role["id"], "principalId": principal}}


@pytest.mark.parametrize("scope,role,expected", [
    (f"{VAULT_ID}/keys/k", CRYPTO_USER, True),
    (VAULT_ID, CRYPTO_USER, True),
    ("/subscriptions/s/resourceGroups/rg", ADMIN, True),
    (f"{VAULT_ID}/keys/other", CRYPTO_USER, False),   # another key's scope
    (f"{VAULT_ID}-2", ADMIN, False),                    # a look-alike vault is not above the key
    (VAULT_ID, NO_BACKUP, False),                       # notDataActions take the backup action away
])
def test_rbac_access_at_the_key_or_above_with_the_data_actions(scope, role, expected):
    defs = [CRYPTO_USER, ADMIN, NO_BACKUP]
    assert ka.rbac_backup_access([assignment(scope, role)], defs, f"{VAULT_ID}/keys/k", BMS) is expected
    assert ka.rbac_backup_access([assignment(scope, role, "someone-else")], defs, f"{VAULT_ID}/keys/k", BMS) is False


HSM_CRYPTO_USER = {"id": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b",
                   "name": "21dbd100-6940-42c2-9190-5d6cb909625b", "data_actions": list(ka.BACKUP_KEY_DATA_ACTIONS)}
HSM_WRAP_ONLY = {"id": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/33413926-3206-4cdd-b39a-83574fe37a17",
                 "name": "33413926-3206-4cdd-b39a-83574fe37a17", "data_actions": ["Microsoft.KeyVault/managedHsm/keys/read/action"]}


class _Enum:
    """What the HSM SDK gives as a data action: an enum whose str() is not the action."""

    def __init__(self, value):
        self.value = value

    def __str__(self):
        return "DataAction.SOMETHING"


@pytest.mark.parametrize("scope,role,expected", [("/keys/k", HSM_CRYPTO_USER, True), ("/", HSM_CRYPTO_USER, True),
                                                 ("/keys", HSM_CRYPTO_USER, True), ("/keys/other", HSM_CRYPTO_USER, False),
                                                 ("/keys/k", HSM_WRAP_ONLY, False)])
def test_hsm_access_on_the_key_scope_with_read_and_backup(scope, role, expected):
    item = {"scope": scope, "role_definition_id": role["id"], "principal_id": BMS}
    assert ka.hsm_backup_access([item], [HSM_CRYPTO_USER, HSM_WRAP_ONLY], "k", BMS) is expected
    enums = [{**d, "data_actions": [_Enum(a) for a in d["data_actions"]]} for d in (HSM_CRYPTO_USER, HSM_WRAP_ONLY)]
    assert ka.hsm_backup_access([item], enums, "k", BMS) is expected
