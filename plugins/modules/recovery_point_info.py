#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_point_info
short_description: List the recovery points of a VM protected by Azure Backup, newest first, with their tiers
version_added: 0.1.0
description:
  - Returns the recovery points of a virtual machine protected in a Recovery Services vault, newest first, with their
    time, consistency and tiers (C(snapshot) for C(InstantRP), C(vault) for C(HardenedRP), C(archive) for C(ArchivedRP)).
  - The tiers decide how a confidential VM can be restored (see M(azure_cvm.backup.cvm_restore)) - a point with only the
    snapshot tier can be restored only with the original disk encryption set.
  - Never writes.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vm:
    description:
      - The protected virtual machine, as a resource id, C(group/name) or a dict with the keys C(resource_group) and C(name).
    type: raw
    required: true
  vault:
    description:
      - The Recovery Services vault that protects the VM, as a resource id or a dict with the keys C(name) and
        C(resource_group).
    type: raw
    required: true
  recovery_point:
    description:
      - Return only this recovery point, by name (its id in Azure Backup, for example V(348916168024334)) or resource id,
        or V(latest) for the newest point that has a snapshot or vault tier.
      - The module fails when the point does not exist.
    type: str
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Recovery points of a confidential VM
  azure_cvm.backup.recovery_point_info:
    vm: rg-cvm-kc/cvm-kv-01
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
  register: points

- name: Points that can be restored with a replacement disk encryption set (they have the vault tier)
  ansible.builtin.debug:
    msg: "{{ points.recovery_points | selectattr('tiers', 'contains', 'vault') | map(attribute='name') }}"

- name: The newest restorable point
  azure_cvm.backup.recovery_point_info:
    vm: {resource_group: rg-cvm-kc, name: cvm-kv-01}
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    recovery_point: latest
"""

RETURN = r"""
vm_id:
  description: The resource id of the protected VM.
  returned: always
  type: str
  sample: /subscriptions/xxx/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-kv-01
resource_group:
  description: The resource group of the protected VM.
  returned: always
  type: str
  sample: rg-cvm-kc
protected_item:
  description: The name of the VM's protected item in the vault.
  returned: always
  type: str
  sample: VM;iaasvmcontainerv2;rg-cvm-kc;cvm-kv-01
recovery_points:
  description: The recovery points, newest first (only the one asked for with O(recovery_point)).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The recovery point's resource id.
      type: str
    name:
      description: The recovery point's name, the id O(azure_cvm.backup.cvm_restore#module:recovery_point) takes.
      type: str
      sample: "17637750000000001"
    time:
      description: When the point was taken (ISO 8601, UTC).
      type: str
      sample: "2026-11-22T02:00:00Z"
    consistency:
      description: C(AppConsistent), C(FileSystemConsistent) or C(CrashConsistent).
      type: str
      sample: AppConsistent
    tiers:
      description: The valid tiers of the point, among C(snapshot), C(vault) and C(archive).
      type: list
      elements: str
      sample: [snapshot, vault]
    tier_details:
      description: Every tier Azure reports, valid or not.
      type: list
      elements: dict
      contains:
        type:
          description: C(InstantRP), C(HardenedRP) or C(ArchivedRP).
          type: str
        tier:
          description: C(snapshot), C(vault) or C(archive).
          type: str
        status:
          description: C(Valid), C(Invalid), C(Deleted), C(Disabled) or C(Rehydrated).
          type: str
    security_type:
      description: The security type of the VM when the point was taken (for example C(ConfidentialVM)).
      type: str
      sample: ConfidentialVM
    vm_size:
      description: The VM size when the point was taken.
      type: str
      sample: Standard_DC4ads_v6
    source_vm_encrypted:
      description: Whether Azure Backup reports the source VM as encrypted (Azure Disk Encryption).
      type: bool
      sample: false
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def parse_targets(params: dict, subscription_id: str) -> tuple[dict, dict]:
    """(vm, vault) from the options, or ModuleFailure before any request."""
    try:
        vm = arm_ids.parse_vm_target(params["vm"], subscription_id)
        vault = arm_ids.parse_vault_ref(params["vault"], subscription_id)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    return vm, vault


def run(m) -> dict:
    vm, vault = parse_targets(m.params, m.subscription_id)
    points = service.recovery_points(m, vault, vm, " (or the vault does not exist): enable protection first "
                                     "(azure_cvm.backup.cvm_protection).")
    wanted = m.params["recovery_point"]
    if wanted:
        point = restore_rules.choose_point(points, wanted)
        if point is None:
            known = ", ".join(p["name"] for p in points[:10]) or "none"
            raise ModuleFailure(f"Recovery point '{wanted}' of VM {vm['name']} was not found in vault {vault['name']} "
                                f"(newest points: {known}).")
        points = [point]
    return {"vm_id": arm_ids.vm_id(vm["subscription_id"], vm["resource_group"], vm["name"]),
            "resource_group": vm["resource_group"], "protected_item": restore_rules.backup_names(vault, vm)[4],
            "recovery_points": [restore_rules.describe_point(p) for p in points]}


def main():
    argument_spec = {
        "vm": {"type": "raw", "required": True},
        "vault": {"type": "raw", "required": True},
        "recovery_point": {"type": "str"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"recovery_point": "azure_assigned_or_id"}).execute(run)


if __name__ == "__main__":
    main()
