#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_vault_info
short_description: List the Recovery Services vaults of a resource group or subscription, by region
version_added: 0.2.0
description:
  - Lists the Recovery Services vaults of O(resource_group) (or of the subscription when it is not given) with their
    region and managed settings, in one paged list.
  - Read-only; never writes. Used by the playbook C(azure_cvm.backup.protect_cvm) to find the existing vault of each
    region before its first write.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  resource_group:
    description: Only the vaults of this resource group. A resource group that does not exist fails the module.
    type: str
  name:
    description: Only the vault of this name (an empty list when it does not exist).
    type: str
    aliases: [vault_name, recovery_vault_name]
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: The vaults of rg-backup, by region
  azure_cvm.backup.recovery_vault_info:
    resource_group: rg-backup
  register: vaults

- name: Fail when a region has more than one vault
  ansible.builtin.assert:
    that: vaults.by_region.values() | map('length') | max <= 1
"""

RETURN = r"""
vaults:
  description: The vaults, sorted by resource group and name.
  returned: always
  type: list
  elements: dict
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
      description: The storage redundancy of the standard tier.
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
by_region:
  description: The vault names per region (ARM location name).
  returned: always
  type: dict
  sample: {koreacentral: [rsv-cvm-kc], uaenorth: [rsv-cvm-uae]}
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def run(m) -> dict:
    p = m.params
    vaults = m.client("recoveryservices").vaults
    if p["resource_group"]:
        try:
            listing = m.read_all(lambda: vaults.list_by_resource_group(p["resource_group"]), "the Recovery Services vaults",
                                 f"resource group {p['resource_group']}")
        except ModuleFailure as exc:
            error_code = exc.extra.get("error_code")
            if error_code != "ResourceGroupNotFound":
                raise
            raise ModuleFailure(f"The resource group {p['resource_group']} does not exist in subscription {m.subscription_id}: "
                                "give an existing resource group (or none, for every vault of the subscription).",
                                error_code="ResourceGroupNotFound", status_code=404) from exc
    else:
        listing = m.read_all(vaults.list_by_subscription_id, "the Recovery Services vaults", f"subscription {m.subscription_id}")
    out = []
    for vault in listing:
        parts = arm_ids.parse(vault["id"]) or {}
        if p["name"] and vault["name"].lower() != p["name"].lower():
            continue
        out.append({"id": vault["id"], "name": vault["name"], "resource_group": parts.get("resource_group"),
                    **protection_rules.vault_settings(vault)})
    out.sort(key=lambda v: ((v["resource_group"] or "").lower(), v["name"].lower()))
    by_region = {}
    for vault in out:
        by_region.setdefault(vault["location"], []).append(vault["name"])
    return {"changed": False, "vaults": out, "by_region": by_region}


def main():
    argument_spec = {
        "resource_group": {"type": "str"},
        "name": {"type": "str", "aliases": ["vault_name", "recovery_vault_name"]},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"resource_group": "resource_group", "name": "vault"}).execute(run)


if __name__ == "__main__":
    main()
