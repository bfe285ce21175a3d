"""What mutation testing (`make mutation`) found the vault tests did not hold, held to the documents: the vault body of
the spec's GETVault.json (recoveryservices stable 2025-08-01), the spec's enums (SoftDeleteState "Enabled" / "Disabled"
/ "AlwaysON", ImmutabilityState "Disabled" / "Unlocked" / "Locked", PublicNetworkAccess "Enabled" / "Disabled"), the
soft-delete retention of 14 to 180 days (Microsoft Learn, backup/backup-azure-enhanced-soft-delete-about) and
immutability's states: Disabled, Unlocked (enabled), Locked (enabled and locked, which cannot be undone; Microsoft Learn,
backup/backup-azure-immutable-vault-concept), never Locked on creation (terraform-provider-azurerm
recovery_services_vault_resource.go, as vault_rules cites it)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import vault_rules as v

GET_VAULT = os.path.join(os.path.dirname(__file__), "..", "azure_sim", "spec_examples", "recoveryservices", "resource-manager",
                         "Microsoft.RecoveryServices", "stable", "2025-08-01", "examples", "GETVault.json")
BASE = dict(v.NEW_VAULT)


def hard(**kw) -> dict:
    return {**BASE, **kw}


def vault(soft=None, days=None, immutable=None, network=None, job_alerts=None, classic=None) -> dict:
    security = {}
    if soft or days:
        security["softDeleteSettings"] = {k: x for k, x in (("softDeleteState", soft), ("softDeleteRetentionPeriodInDays", days)) if x}
    if immutable:
        security["immutabilitySettings"] = {"state": immutable}
    props = {"securitySettings": security}
    if network:
        props["publicNetworkAccess"] = network
    if job_alerts or classic:
        props["monitoringSettings"] = {"azureMonitorAlertSettings": {"alertsForAllJobFailures": job_alerts},
                                       "classicAlertSettings": {"alertsForCriticalOperations": classic}}
    return {"name": "rsv", "properties": props}


def test_the_spec_examples_vault_in_option_form():
    with open(GET_VAULT, encoding="utf-8") as handle:
        body = json.load(handle)["responses"]["200"]["body"]
    assert v.hardening(body) == {"soft_delete": "enabled", "soft_delete_retention_days": 14, "immutability": "disabled",
                                 "public_network_access": "enabled", "job_failure_alerts": True, "classic_alerts": False}


@pytest.mark.parametrize("wire,option", [("Enabled", "enabled"), ("Disabled", "disabled"), ("AlwaysON", "always_on"),
                                         ("alwayson", "always_on"), ("Invalid", "enabled"), (None, "enabled")])
def test_every_soft_delete_state(wire, option):
    assert v.hardening(vault(soft=wire))["soft_delete"] == option


@pytest.mark.parametrize("wire,option", [("Disabled", "disabled"), ("Unlocked", "unlocked"), ("Locked", "locked"),
                                         ("LOCKED", "locked"), ("Invalid", "disabled"), (None, "disabled")])
def test_every_immutability_state(wire, option):
    assert v.hardening(vault(immutable=wire))["immutability"] == option


def test_network_alerts_and_retention_read_from_the_vault():
    read = v.hardening(vault(days=90, network="Disabled", job_alerts="Disabled", classic="Enabled"))
    assert (read["soft_delete_retention_days"], read["public_network_access"], read["job_failure_alerts"], read["classic_alerts"]) \
        == (90, "disabled", False, True)
    assert v.hardening(vault(network="Enabled"))["public_network_access"] == "enabled"
    assert v.hardening({"properties": None}) == BASE


@pytest.mark.parametrize("days,ok", [(13, False), (14, True), (180, True), (181, False)])
def test_soft_delete_retention_of_14_to_180_days_on_both_sides(days, ok):
    errors = v.hardening_errors(hard(soft_delete_retention_days=days), hard(), False)
    assert errors == ([] if ok else [f"soft_delete_retention_days must be 14-180, got {days}."])


def test_irreversible_settings_need_confirmation_once():
    assert v.irreversible_changes(hard(soft_delete="always_on", immutability="locked"), None) == \
        ["soft_delete: always_on", "immutability: locked"]
    assert v.irreversible_changes(hard(soft_delete="always_on", immutability="locked"),
                                  hard(soft_delete="always_on", immutability="locked")) == []
    (error,) = v.hardening_errors(hard(soft_delete="always_on", immutability="locked"), None, False)
    assert error == ("soft_delete: always_on and immutability: locked cannot be undone once applied; set confirm_irreversible: "
                     "true to apply it.")
    assert v.hardening_errors(hard(soft_delete="always_on", immutability="locked"), None, True) == []


@pytest.mark.parametrize("before,after,steps", [
    ("disabled", "disabled", []), ("disabled", "unlocked", ["Unlocked"]), ("disabled", "locked", ["Unlocked", "Locked"]),
    ("unlocked", "disabled", ["Disabled"]), ("unlocked", "unlocked", []), ("unlocked", "locked", ["Locked"]),
    ("locked", "locked", [])])
def test_immutability_moves_only_along_locked_unlocked_disabled(before, after, steps):
    assert v.immutability_steps(hard(immutability=after), hard(immutability=before)) == steps
    patch = v.lock_patch(hard(immutability=after), hard(immutability=before))
    assert patch == ({"properties": {"securitySettings": {"immutabilitySettings": {"state": "Locked"}}}} if len(steps) == 2 else None)


def test_a_new_vault_puts_every_changed_setting_in_its_properties():
    desired = hard(soft_delete="always_on", soft_delete_retention_days=30, immutability="unlocked", public_network_access="disabled",
                   job_failure_alerts=False, classic_alerts=True)
    changes = v.hardening_changes(desired, None)
    assert changes == sorted(v.OPTIONS)
    assert v.vault_properties(desired, None, changes) == {
        "publicNetworkAccess": "Disabled",
        "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Disabled"},
                               "classicAlertSettings": {"alertsForCriticalOperations": "Enabled"}},
        "securitySettings": {"immutabilitySettings": {"state": "Unlocked"},
                             "softDeleteSettings": {"softDeleteState": "AlwaysON", "softDeleteRetentionPeriodInDays": 30,
                                                    "enhancedSecurityState": "Enabled"}}}
    assert v.hardening_changes(BASE, None) == [] and v.vault_properties(BASE, None, []) == {}


def test_an_existing_vault_sends_only_what_changed_and_soft_delete_through_vaultconfig():
    actual = hard(immutability="unlocked")
    desired = hard(immutability="unlocked", soft_delete="disabled", public_network_access="disabled")
    changes = v.hardening_changes(desired, actual)
    assert changes == ["public_network_access", "soft_delete"]
    assert v.vault_properties(desired, actual, changes) == {"publicNetworkAccess": "Disabled"}
    assert v.vault_properties(hard(job_failure_alerts=False), BASE, ["job_failure_alerts"])["monitoringSettings"] == {
        "azureMonitorAlertSettings": {"alertsForAllJobFailures": "Disabled"},
        "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"}}
    assert v.vault_config_patch(desired, "AlwaysON") == {"properties": {
        "softDeleteFeatureState": "Disabled", "softDeleteRetentionPeriodInDays": 14, "enhancedSecurityState": "AlwaysON"}}
    assert v.vault_config_patch(hard(soft_delete="always_on"), None)["properties"]["enhancedSecurityState"] == "Enabled"
    assert v.vault_config_patch(hard(soft_delete="always_on"), None)["properties"]["softDeleteFeatureState"] == "AlwaysON"


def test_asking_for_the_stronger_setting_is_not_a_warning():
    actual = hard(soft_delete="enabled", immutability="unlocked")
    assert v.stronger_warnings({"soft_delete": "always_on", "immutability": "locked"}, actual) == []
    assert v.stronger_warnings({"soft_delete": "enabled"}, hard(soft_delete="always_on")) == [
        "soft_delete is already always_on, which includes enabled and cannot be undone; kept always_on."]
    assert v.stronger_warnings({"soft_delete": "enabled"}, None) == []
    assert v.desired_hardening({"soft_delete": None, "immutability": "locked"}, None) == hard(immutability="locked")


def test_a_delete_blocked_by_many_items_names_ten():
    items = [{"name": f"n{i}", "properties": {"friendlyName": f"vm{i}"}} for i in range(12)]
    text = v.delete_blockers(items, hard(), "disabled")
    assert text.startswith("12 backup item(s) still protected or stopped with retained data (vm0, vm1, ") and "vm9 and 2 more)" in text
    assert "vm10" not in text and text.endswith("(cvm_protection with state: absent).")
    unnamed = v.delete_blockers([{"name": "item-1", "properties": {}}], hard(), "disabled")
    assert "(item-1)" in unnamed


def test_readiness_names_job_failure_alerts_off():
    check = v.check_vault_hardening(vault(soft="Enabled", immutable="Unlocked", job_alerts="Disabled", classic="Disabled"))
    assert check.status == "warn" and "lacks the secure defaults: job_failure_alerts is off (recovery_vault:" in check.message
    assert v.check_vault_hardening(vault(soft="Enabled", immutable="Unlocked")).message == \
        "Vault rsv has soft delete, immutability and job-failure alerts on."


def test_the_readiness_check_in_whole():
    assert v.check_vault_hardening(None).as_dict() == {
        "name": "vault_hardening", "status": "n/a", "message": "No Recovery Services vault given (or it could not be read)."}
    assert v.check_vault_hardening(vault(soft="Disabled", immutable="Disabled", job_alerts="Disabled", classic="Disabled")).as_dict() == {
        "name": "vault_hardening", "status": "warn",
        "message": "Vault rsv lacks the secure defaults: soft_delete is disabled, immutability is disabled, job_failure_alerts is off "
                   "(recovery_vault: soft_delete enabled, immutability unlocked, job_failure_alerts true)."}
    assert v.check_vault_hardening(vault(soft="AlwaysON", immutable="Locked")).name == "vault_hardening"


def test_the_delete_advice_names_why_soft_deleted_items_stay():
    soft = [{"name": "vm1", "properties": {"friendlyName": "vm1", "isScheduledForDeferredDelete": True}}]
    always_on = v.delete_blockers(soft, hard(soft_delete="always_on"), "locked")
    assert always_on == ("1 soft-deleted backup item(s) (vm1) that Azure keeps until the retention ends; they cannot be removed "
                         "sooner because soft delete is always-on: wait until then and delete the vault.")
    assert "because immutability is locked:" in v.delete_blockers(soft, hard(), "locked")


def test_a_guard_is_compared_only_when_one_is_wanted_and_one_is_there():
    def same(a, b):
        return a == b

    assert v.guard_errors(None, {"id": "/g"}, same) == []
    assert v.guard_errors("/g", None, same) == []
    assert v.guard_errors("/g", {"id": "/g"}, same) == []
    assert len(v.guard_errors("/h", {"id": "/g"}, same)) == 1


def test_settings_turned_back_on_are_sent_as_enabled_and_soft_delete_alone_for_a_new_vault():
    actual = hard(public_network_access="disabled", job_failure_alerts=False)
    props = v.vault_properties(BASE, actual, ["job_failure_alerts", "public_network_access"])
    assert props == {"publicNetworkAccess": "Enabled",
                     "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                                            "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"}}}
    assert "monitoringSettings" in v.vault_properties(hard(classic_alerts=True), BASE, ["classic_alerts"])
    for changed in (["soft_delete"], ["soft_delete_retention_days"]):
        sent = v.vault_properties(hard(soft_delete="always_on", soft_delete_retention_days=30), None, changed)
        assert sent == {"securitySettings": {"softDeleteSettings": {
            "softDeleteState": "AlwaysON", "softDeleteRetentionPeriodInDays": 30, "enhancedSecurityState": "Enabled"}}}
