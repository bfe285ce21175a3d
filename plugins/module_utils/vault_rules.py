# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure rules of a Recovery Services vault's hardening: soft delete, immutability, public network access, alerts,
the Resource Guard (multi-user authorization) and the irreversible settings (cross-region restore, always-on soft
delete, locked immutability). Inputs and outputs are REST (camelCase) dicts; no SDK, no HTTP.

Sources (tests/azure_sim/evidence.yml): vault `properties.securitySettings` / `monitoringSettings` /
`publicNetworkAccess` (spec recoveryservices GETVault.json; SDK azure-mgmt-recoveryservices 4.3 models); soft delete
written through `backupconfig/vaultconfig` as az CLI `az backup vault backup-properties set` and terraform-provider-azurerm
`soft_delete_enabled` send it; immutability "Locked <- Unlocked <-> Disabled", never Locked on creation
(terraform-provider-azurerm recovery_services_vault_resource.go); cross-region restore non-reversible (az CLI
_get_vault_redunancy_settings; terraform ForceNewIfChange).
"""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import NA, PASS, WARN, Check, dig

SOFT_DELETE = {"enabled": "Enabled", "always_on": "AlwaysON", "disabled": "Disabled"}
IMMUTABILITY = {"disabled": "Disabled", "unlocked": "Unlocked", "locked": "Locked"}
RETENTION_DAYS = (14, 180)
# The proxy name az CLI uses for a vault's one Resource Guard mapping (custom_help.py default_resource_guard).
GUARD_PROXY = "VaultProxy"
# What the protect role applies unless overridden (roles/protect/defaults/main.yml), and what readiness checks for.
SECURE = {"soft_delete": ("enabled", "always_on"), "immutability": ("unlocked", "locked"), "job_failure_alerts": (True,)}
# Azure's own defaults of a new vault (GETVault.json; secure-by-default soft delete, Azure Monitor alerts for job failures).
NEW_VAULT = {"soft_delete": "enabled", "soft_delete_retention_days": 14, "immutability": "disabled",
             "public_network_access": "enabled", "job_failure_alerts": True, "classic_alerts": False}
OPTIONS = tuple(NEW_VAULT)


def _key(table: dict, value, default: str) -> str:
    for name, wire in table.items():
        if str(value or "").lower() == wire.lower():
            return name
    return default


def hardening(vault: dict) -> dict:
    """The hardening settings of a vault (REST shape), in option form."""
    props = vault.get("properties") or {}
    soft = dig(props, "securitySettings", "softDeleteSettings", default={})
    return {"soft_delete": _key(SOFT_DELETE, soft.get("softDeleteState"), "enabled"),
            "soft_delete_retention_days": soft.get("softDeleteRetentionPeriodInDays") or 14,
            "immutability": _key(IMMUTABILITY, dig(props, "securitySettings", "immutabilitySettings", "state"), "disabled"),
            "public_network_access": "disabled" if str(props.get("publicNetworkAccess")).lower() == "disabled" else "enabled",
            "job_failure_alerts": dig(props, "monitoringSettings", "azureMonitorAlertSettings", "alertsForAllJobFailures",
                                      default="Enabled") != "Disabled",
            "classic_alerts": dig(props, "monitoringSettings", "classicAlertSettings", "alertsForCriticalOperations",
                                  default="Disabled") == "Enabled"}


# An irreversible state already includes the weaker one asked for (always-on soft delete is enabled, a locked vault is
# immutable): asking for the weaker one keeps it (a warning), so the protect role's defaults never fail on a hardened vault.
STRONGER = {("soft_delete", "enabled"): "always_on", ("immutability", "unlocked"): "locked"}


def desired_hardening(params: dict, actual: dict | None) -> dict:
    out = dict(actual or NEW_VAULT)
    for key in OPTIONS:
        if params.get(key) is not None and not kept_stronger(key, params[key], actual):
            out[key] = params[key]
    return out


def kept_stronger(key: str, wanted, actual: dict | None) -> bool:
    return bool(actual) and STRONGER.get((key, wanted)) == actual[key]


def stronger_warnings(params: dict, actual: dict | None) -> list[str]:
    return [f"{key} is already {actual[key]}, which includes {params[key]} and cannot be undone; kept {actual[key]}."
            for key in OPTIONS if params.get(key) is not None and kept_stronger(key, params[key], actual)]


def irreversible_changes(desired: dict, actual: dict | None) -> list[str]:
    """The irreversible settings this run would switch on (they need confirm_irreversible)."""
    before = actual or NEW_VAULT
    out = []
    if desired["soft_delete"] == "always_on" and before["soft_delete"] != "always_on":
        out.append("soft_delete: always_on")
    if desired["immutability"] == "locked" and before["immutability"] != "locked":
        out.append("immutability: locked")
    return out


def hardening_errors(desired: dict, actual: dict | None, confirmed: bool, crr_actual: bool | None = None,
                     crr_wanted: bool | None = None) -> list[str]:
    """What this run must refuse before any write, as sentences."""
    errors = []
    if crr_actual and crr_wanted is False:
        errors.append("Cross-region restore is enabled on this vault and cannot be turned off (Azure makes it "
                      "irreversible); confidential VM backup does not support cross-region restore, so back up "
                      "confidential VMs to a new vault created with cross_region_restore: false.")
    low, high = RETENTION_DAYS
    if not low <= desired["soft_delete_retention_days"] <= high:
        errors.append(f"soft_delete_retention_days must be {low}-{high}, got {desired['soft_delete_retention_days']}.")
    if actual and actual["soft_delete"] == "always_on" and desired["soft_delete"] != "always_on":
        errors.append("Soft delete is always-on for this vault and cannot be turned off (irreversible).")
    if actual and actual["immutability"] == "locked" and desired["immutability"] != "locked":
        errors.append("Immutability is locked on this vault and cannot be disabled (irreversible).")
    pending = irreversible_changes(desired, actual)
    if pending and not confirmed:
        errors.append(f"{' and '.join(pending)} cannot be undone once applied; set confirm_irreversible: true to apply it.")
    return errors


def hardening_changes(desired: dict, actual: dict | None) -> list[str]:
    if actual is None:
        return sorted(k for k in OPTIONS if desired[k] != NEW_VAULT[k])
    return sorted(k for k in OPTIONS if desired[k] != actual[k])


def _state(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def immutability_steps(desired: dict, actual: dict | None) -> list[str]:
    """The immutability states to send, in order: Azure takes Locked only from Unlocked ("Locked <- Unlocked <->
    Disabled", never Locked on creation), so Disabled -> Locked is Unlocked then Locked."""
    before = (actual or NEW_VAULT)["immutability"]
    if desired["immutability"] == before:
        return []
    if desired["immutability"] == "locked":
        return ["Locked"] if before == "unlocked" else ["Unlocked", "Locked"]
    return [IMMUTABILITY[desired["immutability"]]]


def vault_properties(desired: dict, actual: dict | None, changes) -> dict:
    """The vault `properties` carrying the changed vault-level settings (immutability's first step, network, alerts);
    for a new vault also soft delete (az CLI create_vault sends softDeleteSettings in the PUT)."""
    props = {}
    if "public_network_access" in changes:
        props["publicNetworkAccess"] = _state(desired["public_network_access"] == "enabled")
    if {"job_failure_alerts", "classic_alerts"} & set(changes):
        props["monitoringSettings"] = {
            "azureMonitorAlertSettings": {"alertsForAllJobFailures": _state(desired["job_failure_alerts"])},
            "classicAlertSettings": {"alertsForCriticalOperations": _state(desired["classic_alerts"])}}
    security = {}
    steps = immutability_steps(desired, actual)
    if steps:
        security["immutabilitySettings"] = {"state": steps[0]}
    if actual is None and {"soft_delete", "soft_delete_retention_days"} & set(changes):
        security["softDeleteSettings"] = soft_delete_settings(desired)
    if security:
        props["securitySettings"] = security
    return props


def soft_delete_settings(desired: dict) -> dict:
    return {"softDeleteState": SOFT_DELETE[desired["soft_delete"]],
            "softDeleteRetentionPeriodInDays": desired["soft_delete_retention_days"], "enhancedSecurityState": "Enabled"}


def lock_patch(desired: dict, actual: dict | None) -> dict | None:
    """The second PATCH (Locked after Unlocked), or None."""
    steps = immutability_steps(desired, actual)
    return {"properties": {"securitySettings": {"immutabilitySettings": {"state": "Locked"}}}} if len(steps) == 2 else None


def vault_config_patch(desired: dict, enhanced_security: str | None) -> dict:
    """backupconfig/vaultconfig PATCH (BackupResourceVaultConfigResource), as az CLI backup-properties set sends it:
    the wanted state and retention, and the current enhancedSecurityState kept."""
    return {"properties": {"softDeleteFeatureState": SOFT_DELETE[desired["soft_delete"]],
                           "softDeleteRetentionPeriodInDays": desired["soft_delete_retention_days"],
                           "enhancedSecurityState": enhanced_security or "Enabled"}}


# ------------------------------------------------------------------------------------------------ resource guard


def guard_of(proxies: list) -> dict | None:
    """The vault's Resource Guard from its backupResourceGuardProxies list: {id, protected_operations}."""
    for proxy in proxies or []:
        props = proxy.get("properties") or {}
        if props.get("resourceGuardResourceId"):
            ops = [d.get("vaultCriticalOperation") for d in props.get("resourceGuardOperationDetails") or []]
            return {"id": props["resourceGuardResourceId"], "protected_operations": sorted(o for o in ops if o)}
    return None


def guard_errors(wanted: str | None, actual: dict | None, same) -> list[str]:
    if not wanted or actual is None or same(wanted, actual["id"]):
        return []
    return [f"The vault is already protected by Resource Guard {actual['id']}; removing or replacing it is itself a "
            "critical operation the guard protects (unlockDelete with the guard's Backup MUA Operator role), so do it "
            "in the portal or with az backup vault resource-guard-mapping delete first."]


# The guard's operation that turning soft delete off needs approved (the vaultCriticalOperation of spec example
# PutResourceGuardProxy.json; the request must carry resourceGuardOperationRequests, which this collection never sends).
DISABLE_SOFT_DELETE = "Microsoft.DataProtection/resourceGuards/disableSoftDeleteRequests"


def guard_blocks(desired: dict, actual: dict | None, guard: dict | None) -> list[str]:
    """A soft-delete disable that the vault's Resource Guard protects: refused before any write, with what to do."""
    if not guard or actual is None or desired["soft_delete"] != "disabled" or actual["soft_delete"] == "disabled":
        return []
    if not any(op.lower() == DISABLE_SOFT_DELETE.lower() for op in guard.get("protected_operations") or []):
        return []
    return [f"Turning soft delete off is protected by Resource Guard {guard['id']} (multi-user authorization): it needs "
            "a request approved through the guard, which this module does not make; get the approval and turn soft "
            "delete off in the portal, or keep soft_delete enabled."]


# ------------------------------------------------------------------------------------------------ delete, readiness


def delete_blockers(items: list, hard: dict, immutable: str) -> str:
    """The sentence for a vault delete that items block: active items first, then soft-deleted ones with what to do.
    hard: hardening(vault); immutable: its immutability."""
    soft = [i for i in items if (i.get("properties") or {}).get("isScheduledForDeferredDelete")]
    active = [i for i in items if i not in soft]
    parts = []
    if active:
        parts.append(f"{len(active)} backup item(s) still protected or stopped with retained data ({_names(active)}): stop "
                     "protection and delete their backup data first (cvm_protection with state: absent)")
    if soft:
        until = max(str((i.get("properties") or {}).get("deferredDeleteTimeInUTC") or "") for i in soft) or "the retention ends"
        what = f"{len(soft)} soft-deleted backup item(s) ({_names(soft)}) that Azure keeps until {until}"
        if hard["soft_delete"] == "always_on" or immutable == "locked":
            reason = "soft delete is always-on" if hard["soft_delete"] == "always_on" else "immutability is locked"
            parts.append(f"{what}; they cannot be removed sooner because {reason}: wait until then and delete the vault")
        else:
            first = "disable immutability (immutability: disabled), " if immutable == "unlocked" else ""
            parts.append(f"{what}: either undelete them (portal or az backup protection undelete), {first}disable soft delete "
                         "(soft_delete: disabled), delete their backup data again (cvm_protection with state: absent) and "
                         "then delete the vault, or wait until then and delete the vault")
    return "; ".join(parts) + "."


def _names(items: list, shown: int = 10) -> str:
    names = [(i.get("properties") or {}).get("friendlyName") or i.get("name") for i in items]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def check_vault_hardening(vault: dict | None) -> Check:
    """Readiness: a vault without the secure defaults (soft delete on, immutability enabled, Azure Monitor alerts for
    job failures) is a warning naming what is missing."""
    if vault is None:
        return Check("vault_hardening", NA, "No Recovery Services vault given (or it could not be read).")
    hard = hardening(vault)
    missing = [f"{key} is {_show(hard[key])}" for key, good in SECURE.items() if hard[key] not in good]
    if missing:
        return Check("vault_hardening", WARN, f"Vault {vault.get('name')} lacks the secure defaults: {', '.join(missing)} "
                                              "(recovery_vault: soft_delete enabled, immutability unlocked, job_failure_alerts true).")
    return Check("vault_hardening", PASS, f"Vault {vault.get('name')} has soft delete, immutability and job-failure alerts on.")


def _show(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)
