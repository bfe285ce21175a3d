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
  - O(state=absent) refuses to delete a vault that still holds backup items (protected, stopped with retained data or
    soft-deleted), and says which.
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
    type: bool
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
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import wait_poller

ITEMS_NAMED = 10
# The SDK polls every 30 s when Azure sends no (or a zero) Retry-After; vault operations take seconds.
POLL = {"polling_interval": 2}


def describe(ref: dict, settings: dict | None) -> dict | None:
    if settings is None:
        return None
    return {"id": arm_ids.vault_id(ref), "name": ref["name"], "resource_group": ref["resource_group"], **settings}


def items_sentence(items: list) -> str:
    names = [(i.get("properties") or {}).get("friendlyName") or i.get("name") for i in items]
    more = f" and {len(names) - ITEMS_NAMED} more" if len(names) > ITEMS_NAMED else ""
    return ", ".join(names[:ITEMS_NAMED]) + more


def finish(m, poller, what: str):
    """Wait for an SDK poller (one vault: its own poller is fine) within the timeout, when asked to wait."""
    if m.params["wait"]:
        wait_poller(poller, what, m.params["timeout"])


def run(m) -> dict:
    p = m.params
    ref = {"subscription_id": m.subscription_id, "resource_group": p["resource_group"], "name": p["name"]}
    vaults = m.client("recoveryservices").vaults
    where = f"vault {p['name']} in resource group {p['resource_group']}"
    current = m.read(lambda: vaults.get(p["resource_group"], p["name"]), "the Recovery Services vault", where)
    actual = protection_rules.vault_settings(current) if current else None

    if p["state"] == "absent":
        result = {"changed": actual is not None, "vault": None, "changes": ["deleted"] if actual else [], "created": False}
        if actual:
            items = service.protected_items(m, ref, vm_only=False)
            if items:
                raise ModuleFailure(f"The vault {p['name']} still holds {len(items)} backup item(s): {items_sentence(items)}. "
                                    "Stop protection and delete their backup data first (cvm_protection with state: absent), "
                                    "then delete the vault.", items=len(items))
            if not m.check_mode:
                try:
                    finish(m, vaults.begin_delete(p["resource_group"], p["name"], **POLL), f"the deletion of {where}")
                except ModuleFailure:
                    raise
                except Exception as exc:  # pylint: disable=broad-except
                    m.azure_failure(exc, "delete the Recovery Services vault", where)
    else:
        desired = protection_rules.desired_vault_settings(p, actual)
        changes = protection_rules.vault_changes(desired, actual)
        held = len(service.protected_items(m, ref, vm_only=False)) if actual and "storage_redundancy" in changes else 0
        errors = protection_rules.vault_errors(desired, actual, held)
        if errors:
            raise ModuleFailure(f"Cannot apply the settings of {where}: " + " ".join(errors))
        if desired["cross_region_restore"]:
            m.warn(f"Cross-region restore is enabled on vault {p['name']}: it is not supported for confidential VMs.")
        result = {"changed": bool(changes), "vault": describe(ref, desired), "changes": changes, "created": actual is None}
        if changes and not m.check_mode:
            try:
                if actual is None:
                    poller = vaults.begin_create_or_update(p["resource_group"], p["name"], protection_rules.vault_body(desired), **POLL)
                else:
                    poller = vaults.begin_update(p["resource_group"], p["name"], protection_rules.vault_patch(desired, changes), **POLL)
                finish(m, poller, f"the update of {where}")
            except ModuleFailure:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                m.azure_failure(exc, "create or update the Recovery Services vault", where)
    if m.diff_mode:
        result["diff"] = {"before": describe(ref, actual) or {}, "after": result["vault"] or {}}
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
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "vault", "resource_group": "resource_group", "location": "region"}).execute(run)


if __name__ == "__main__":
    main()
