#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_vault
short_description: Create, update or delete a Recovery Services vault for confidential VM backup
version_added: 0.1.0
description:
  - Makes sure a Recovery Services vault exists with the given location, SKU, storage redundancy and cross-region
    restore setting, or does not exist.
  - Azure Backup of a confidential VM needs a vault B(in the same region as the VM). Cross-region restore is not
    supported for confidential VMs, so a new vault gets it disabled unless O(cross_region_restore=true).
  - Reads the vault first and writes only the settings that differ (a new vault is created with PUT, an existing one
    is updated with PATCH, which keeps what this module does not manage, such as the vault's identity).
  - Hardens the vault for confidential workloads when asked - soft delete and its retention, immutability, public
    network access, Azure Monitor and classic alerts, and a Resource Guard (multi-user authorization). Settings Azure
    will not take back (O(soft_delete=always_on), O(immutability=locked)) need O(confirm_irreversible=true); settings
    already irreversible (cross-region restore on, always-on soft delete, locked immutability) are never sent back, the
    module refuses before writing.
  - O(state=absent) refuses to delete a vault that still holds backup items (protected, stopped with retained data or
    soft-deleted), says which, and what to do about soft-deleted ones (undelete, disable soft delete and delete them
    again, or wait for the retention; only waiting when soft delete is always-on or immutability is locked).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  name:
    description: The vault name.
    type: str
    required: true
  resource_group:
    description: The vault's resource group.
    type: str
    required: true
  location:
    description:
      - The region, as an ARM location name or display name (C(Korea Central) is C(koreacentral)). Required to create.
      - Checked before any write against the regions the subscription lists (one Subscriptions - List Locations read a
        run); a region it does not list fails with the closest listed names. When that list may not be read (403) or
        cannot be had, the collection's built-in list is used with a warning; it may lack the newest regions.
      - A vault cannot move; a different location of an existing vault fails.
    type: str
  sku:
    description: The vault SKU (C(RS0) is another name of C(Standard)).
    type: str
    choices: [Standard, RS0]
    default: Standard
  storage_redundancy:
    description:
      - The storage redundancy of the vault's standard tier. Unset keeps an existing vault's setting; a new vault
        gets C(GeoRedundant), Azure's default.
      - Azure refuses to change it once the vault holds backup items; the module says so before sending.
    type: str
    choices: [LocallyRedundant, GeoRedundant, ZoneRedundant]
  cross_region_restore:
    description:
      - Whether cross-region restore is enabled (needs C(GeoRedundant)). Not supported for confidential VMs.
      - Unset keeps an existing vault's setting; a new vault gets it disabled.
      - Azure cannot turn it off once on; V(false) for a vault that has it fails before any write (confidential VM
        backup needs a vault without it, so create a new one).
    type: bool
  soft_delete:
    description:
      - Soft delete of backup data (C(backupconfig/vaultconfig) C(softDeleteFeatureState), as az CLI and Terraform set it).
        Unset keeps the vault's setting; a new vault gets C(enabled), Azure's default.
      - C(always_on) is irreversible and needs O(confirm_irreversible=true); an always-on vault refuses C(disabled) and
        keeps C(always_on) for C(enabled) (with a warning).
    type: str
    choices: [enabled, always_on, disabled]
  soft_delete_retention_days:
    description: How many days soft-deleted backup data is kept (14-180). Unset keeps the vault's setting (new vault 14).
    type: int
  immutability:
    description:
      - Immutable vault (C(securitySettings.immutabilitySettings.state)). Unset keeps the vault's setting.
      - C(locked) is irreversible and needs O(confirm_irreversible=true); Azure locks only an unlocked vault, so the module
        sends C(Unlocked) then C(Locked) when needed. A locked vault refuses C(disabled) and stays locked for C(unlocked)
        (with a warning).
    type: str
    choices: [disabled, unlocked, locked]
  confirm_irreversible:
    description: Confirms O(soft_delete=always_on) and O(immutability=locked), which can never be undone.
    type: bool
    default: false
  public_network_access:
    description: Whether the vault is reachable from public networks. Unset keeps the vault's setting (new vault C(enabled)).
    type: str
    choices: [enabled, disabled]
  job_failure_alerts:
    description: Azure Monitor alerts for all job failures. Unset keeps the vault's setting (new vault V(true)).
    type: bool
  classic_alerts:
    description: Classic alerts for critical operations (superseded by Azure Monitor alerts). Unset keeps the setting (new vault V(false)).
    type: bool
  resource_guard_id:
    description:
      - A Resource Guard (C(Microsoft.DataProtection/resourceGuards) id, possibly in another subscription) to associate
        for multi-user authorization (C(backupResourceGuardProxies/VaultProxy)). Unset leaves the association as it is.
      - A vault already guarded by another guard fails, because removing the guard is itself a protected operation.
    type: str
  tags:
    description: Tags of the vault. When given they replace the vault's tags; unset keeps them.
    type: dict
  state:
    description: Whether the vault should exist.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait for the create, update or delete to finish.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most.
    type: int
    default: 600
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only; reports the change it would make.
  diff_mode:
    support: full
    description: Shows the managed settings before and after.
"""

EXAMPLES = r"""
- name: A vault next to the confidential VMs in Korea Central
  azure_cvm.backup.recovery_vault:
    name: rsv-cvm-kc
    resource_group: rg-backup
    location: koreacentral
    storage_redundancy: LocallyRedundant

- name: A hardened vault - soft delete always on, immutability locked, a Resource Guard in the security subscription
  azure_cvm.backup.recovery_vault:
    name: rsv-cvm-kc
    resource_group: rg-backup
    location: koreacentral
    soft_delete: always_on
    soft_delete_retention_days: 30
    immutability: locked
    confirm_irreversible: true
    job_failure_alerts: true
    classic_alerts: false
    resource_guard_id: /subscriptions/yyy/resourceGroups/rg-sec/providers/Microsoft.DataProtection/resourceGuards/guard

- name: Delete a vault that no longer holds backups
  azure_cvm.backup.recovery_vault:
    name: rsv-old
    resource_group: rg-backup
    state: absent
"""

RETURN = r"""
vault:
  description: The vault after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  contains:
    id:
      description: The vault resource id.
      type: str
      sample: /subscriptions/xxx/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc
    name:
      description: The vault name.
      type: str
      sample: rsv-cvm-kc
    resource_group:
      description: The resource group.
      type: str
      sample: rg-backup
    location:
      description: The region (ARM location name).
      type: str
      sample: koreacentral
    sku:
      description: The SKU.
      type: str
      sample: Standard
    storage_redundancy:
      description: The standard-tier storage redundancy.
      type: str
      sample: LocallyRedundant
    cross_region_restore:
      description: Whether cross-region restore is enabled.
      type: bool
      sample: false
    soft_delete:
      description: The soft delete state (enabled, always_on or disabled).
      type: str
      sample: enabled
    soft_delete_retention_days:
      description: Days soft-deleted data is kept.
      type: int
      sample: 14
    immutability:
      description: The immutability state (disabled, unlocked or locked).
      type: str
      sample: unlocked
    public_network_access:
      description: Public network access (enabled or disabled).
      type: str
      sample: enabled
    job_failure_alerts:
      description: Whether Azure Monitor alerts for job failures are on.
      type: bool
      sample: true
    classic_alerts:
      description: Whether classic alerts are on.
      type: bool
      sample: false
    resource_guard_id:
      description: The associated Resource Guard, null when none.
      type: str
      sample: null
    tags:
      description: The vault's tags.
      type: dict
      sample: {}
changes:
  description: The managed settings that were (or in check mode would be) changed; all of them for a new vault.
  returned: always
  type: list
  elements: str
  sample: [cross_region_restore]
resource_guard:
  description:
    - The Resource Guard that protects the vault and the operations it protects (C(vaultCriticalOperation) names, as
      Azure returns them); null when none. In check mode, before the association, the operations are unknown (null).
  returned: always
  type: dict
  sample: {id: /subscriptions/yyy/resourceGroups/rg-sec/providers/Microsoft.DataProtection/resourceGuards/guard,
           protected_operations: [Microsoft.DataProtection/resourceGuards/disableSoftDeleteRequests]}
created:
  description:
    - Whether the run created the vault (in check mode, would create it), that is, it did not exist before. False
      when it existed, and for O(state=absent).
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import vault_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import dig
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import wait_poller

# The SDK polls every 30 s when Azure sends no (or a zero) Retry-After; vault operations take seconds.
POLL = {"polling_interval": 2}


def describe(ref: dict, settings: dict | None, hard: dict | None = None, guard: dict | None = None) -> dict | None:
    if settings is None:
        return None
    return {"id": arm_ids.vault_id(ref), "name": ref["name"], "resource_group": ref["resource_group"], **settings,
            **(hard or {}), "resource_guard_id": guard["id"] if guard else None}


def finish(m, poller, what: str):
    """Wait for an SDK poller (one vault: its own poller is fine) within the timeout, when asked to wait."""
    if m.params["wait"]:
        wait_poller(poller, what, m.params["timeout"])


def absent(m, ref: dict, current: dict | None, where: str) -> dict:
    p = m.params
    if current:
        items = service.protected_items(m, ref, vm_only=False)
        if items:
            hard = vault_rules.hardening(current)
            raise ModuleFailure(f"The vault {p['name']} cannot be deleted yet: it still holds "
                                + vault_rules.delete_blockers(items, hard, hard["immutability"]), items=len(items))
        if not m.check_mode:
            try:
                finish(m, m.client("recoveryservices").vaults.begin_delete(p["resource_group"], p["name"], **POLL),
                       f"the deletion of {where}")
            except ModuleFailure:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                m.azure_failure(exc, "delete the Recovery Services vault", where)
    return {"changed": current is not None, "vault": None, "changes": ["deleted"] if current else [], "created": False,
            "resource_guard": None}


def write(m, ref: dict, current, plan: dict, where: str):
    """The writes of a present vault, in order: vault PUT or PATCH, the Locked PATCH, soft delete (vaultconfig, last: a
    vault update may reset it, terraform-provider-azurerm notes), the Resource Guard. Returns the guard's answer."""
    p, vaults = m.params, m.client("recoveryservices").vaults
    desired, hard, hard_actual = plan["desired"], plan["hard"], plan["hard_actual"]
    props = vault_rules.vault_properties(hard, hard_actual, plan["hard_changes"])
    try:
        if current is None:
            body = protection_rules.vault_body(desired)
            body["properties"].update(props)
            finish(m, vaults.begin_create_or_update(p["resource_group"], p["name"], body, **POLL), f"the creation of {where}")
        else:
            body = protection_rules.vault_patch(desired, plan["base_changes"])
            if props:
                body.setdefault("properties", {}).update(props)
            if body:
                finish(m, vaults.begin_update(p["resource_group"], p["name"], body, **POLL), f"the update of {where}")
        lock = vault_rules.lock_patch(hard, hard_actual)
        if lock:
            finish(m, vaults.begin_update(p["resource_group"], p["name"], lock, **POLL), f"the immutability lock of {where}")
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "create or update the Recovery Services vault", where)
    if current is not None and {"soft_delete", "soft_delete_retention_days"} & set(plan["hard_changes"]):
        enhanced = dig(current, "properties", "securitySettings", "softDeleteSettings", "enhancedSecurityState")
        service.update_vault_config(m, ref, vault_rules.vault_config_patch(hard, enhanced))
    if "resource_guard" in plan["changes"]:
        return vault_rules.guard_of([service.put_resource_guard_proxy(m, ref, vault_rules.GUARD_PROXY, p["resource_guard_id"])])
    return plan["guard"]


def present(m, ref: dict, current: dict | None, where: str) -> dict:
    p = m.params
    actual = protection_rules.vault_settings(current) if current else None
    hard_actual = vault_rules.hardening(current) if current else None
    desired = protection_rules.desired_vault_settings(p, actual)
    hard = vault_rules.desired_hardening(p, hard_actual)
    guard = vault_rules.guard_of(service.resource_guard_proxies(m, ref)) if current else None
    plan = {"desired": desired, "hard": hard, "hard_actual": hard_actual, "guard": guard,
            "base_changes": protection_rules.vault_changes(desired, actual),
            "hard_changes": vault_rules.hardening_changes(hard, hard_actual)}
    plan["changes"] = plan["base_changes"] + plan["hard_changes"] + (
        ["resource_guard"] if p["resource_guard_id"] and guard is None else [])
    held = len(service.protected_items(m, ref, vm_only=False)) if actual and "storage_redundancy" in plan["changes"] else 0
    errors = (vault_rules.hardening_errors(hard, hard_actual, p["confirm_irreversible"],
                                           actual and actual["cross_region_restore"], p["cross_region_restore"])
              + protection_rules.vault_errors(desired, actual, held)
              + vault_rules.guard_errors(p["resource_guard_id"], guard, arm_ids.same)
              + vault_rules.guard_blocks(hard, hard_actual, guard))
    if errors:
        raise ModuleFailure(f"Cannot apply the settings of {where}: " + " ".join(errors))
    for warning in vault_rules.stronger_warnings(p, hard_actual):
        m.warn(warning)
    if desired["cross_region_restore"]:
        m.warn(f"Cross-region restore is enabled on vault {p['name']}: it is not supported for confidential VMs.")
    after = guard
    if plan["changes"] and not m.check_mode:
        after = write(m, ref, current, plan, where)
    elif "resource_guard" in plan["changes"]:
        after = {"id": p["resource_guard_id"], "protected_operations": None}
    return {"changed": bool(plan["changes"]), "vault": describe(ref, desired, hard, after), "changes": plan["changes"],
            "created": current is None, "resource_guard": after, "_before": describe(ref, actual, hard_actual, guard)}


def run(m) -> dict:
    p = m.params
    ref = {"subscription_id": m.subscription_id, "resource_group": p["resource_group"], "name": p["name"]}
    vaults = m.client("recoveryservices").vaults
    where = f"vault {p['name']} in resource group {p['resource_group']}"
    current = m.read(lambda: vaults.get(p["resource_group"], p["name"]), "the Recovery Services vault", where)
    if p["state"] == "absent":
        result = absent(m, ref, current, where)
        before = describe(ref, protection_rules.vault_settings(current)) if current else None
    else:
        result = present(m, ref, current, where)
        before = result.pop("_before")
    if m.diff_mode:
        result["diff"] = {"before": before or {}, "after": result["vault"] or {}}
    return result


def main():
    argument_spec = {
        "name": {"type": "str", "required": True},
        "resource_group": {"type": "str", "required": True},
        "location": {"type": "str"},
        "sku": {"type": "str", "choices": ["Standard", "RS0"], "default": "Standard"},
        "storage_redundancy": {"type": "str", "choices": list(protection_rules.REDUNDANCY)},
        "cross_region_restore": {"type": "bool"},
        "tags": {"type": "dict"},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 600},
        "soft_delete": {"type": "str", "choices": list(vault_rules.SOFT_DELETE)},
        "soft_delete_retention_days": {"type": "int"},
        "immutability": {"type": "str", "choices": list(vault_rules.IMMUTABILITY)},
        "confirm_irreversible": {"type": "bool", "default": False},
        "public_network_access": {"type": "str", "choices": ["enabled", "disabled"]},
        "job_failure_alerts": {"type": "bool"},
        "classic_alerts": {"type": "bool"},
        "resource_guard_id": {"type": "str"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "vault", "resource_group": "resource_group", "location": "region"}).execute(run)


if __name__ == "__main__":
    main()
