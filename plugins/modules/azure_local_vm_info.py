#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_local_vm_info
short_description: List Azure Local VMs with their security profile, to audit which need a guest state key backup
version_added: 0.1.0
description:
  - Lists the VM instances (C(Microsoft.AzureStackHCI/virtualMachineInstances)) of the Arc machines in a resource
    group, or of one machine, with their security type, secure boot, vTPM and image.
  - Trusted launch VMs protect their guest state (including the vTPM state) with a VM guest state protection key held
    in the local key vault of the Azure Local system. No backup tool backs that key up; it must be backed up by hand
    (role C(azure_cvm.backup.azure_local_tvm)). RV(needs_guest_state_key_backup) lists those VMs.
  - With O(check_images), also tells whether each VM's image is one Trusted launch supports (one read per image).
  - Never writes.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  resource_group:
    description: The resource group of the Arc machines.
    type: str
    required: true
  name:
    description: Only this Arc machine (VM). All machines of O(resource_group) when omitted.
    type: str
  check_images:
    description: Read each VM's image and report whether Trusted launch supports it.
    type: bool
    default: true
  api_version:
    description: The C(Microsoft.AzureStackHCI) api-version.
    type: str
    default: '2024-01-01'
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only, in every mode.
  diff_mode:
    support: none
    description: Nothing to compare; it changes nothing.
"""

EXAMPLES = r"""
- name: Which Azure Local VMs need their guest state key backed up?
  azure_cvm.backup.azure_local_vm_info:
    resource_group: rg-azlocal
  register: azlocal

- name: Show them
  ansible.builtin.debug:
    msg: "Back up the guest state protection key of: {{ azlocal.needs_guest_state_key_backup | join(', ') }}"
"""

RETURN = r"""
vms:
  description: One entry per VM instance (Arc machines without a VM instance are left out).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The Arc machine (VM) name.
      type: str
      sample: tvm-win11-01
    resource_group:
      description: The resource group.
      type: str
    id:
      description: The VM instance resource id.
      type: str
    custom_location:
      description: The custom location id.
      type: str
    image_id:
      description: The image the VM was made from.
      type: str
    provisioning_state:
      description: The provisioning state.
      type: str
    power_state:
      description: The power state.
      type: str
    vm_id:
      description: The VM id the service reports (C(properties.vmId)).
      type: str
    security_type:
      description: V(TrustedLaunch), V(ConfidentialVM), or V(Standard) when the VM has no security type.
      type: str
    secure_boot:
      description: Whether secure boot is on.
      type: bool
    tpm:
      description: Whether the vTPM is on.
      type: bool
    trusted_launch:
      description: Whether the VM is a Trusted launch VM.
      type: bool
    profile_complete:
      description: Trusted launch with secure boot and vTPM both on.
      type: bool
    needs_guest_state_key_backup:
      description: Whether this VM's guest state protection key must be backed up by hand.
      type: bool
    image_kind:
      description: V(marketplace), V(custom), V(unknown) or V(none). Only with O(check_images).
      type: str
      returned: when O(check_images) is true
    image_supported:
      description: Whether Trusted launch supports the image; null when it cannot be told. Only with O(check_images).
      type: bool
      returned: when O(check_images) is true
    image_reason:
      description: Why the image is not supported (null when it is). Only with O(check_images).
      type: str
      returned: when O(check_images) is true
needs_guest_state_key_backup:
  description: The names of the VMs whose guest state protection key must be backed up by hand.
  returned: always
  type: list
  elements: str
  sample: [tvm-win11-01, tvm-ws2022-01]
summary:
  description: Counts.
  returned: always
  type: dict
  contains:
    total:
      description: VM instances listed.
      type: int
    trusted_launch:
      description: Trusted launch VMs.
      type: int
    incomplete_profile:
      description: Trusted launch VMs whose secure boot or vTPM is off.
      type: int
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_arm import (
    MACHINES_API, get, image_verdict, list_all, machine_id, summary, vm_instance_id)
from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import segment
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def machines(m, sub: str, rg: str) -> list:
    name = m.params["name"]
    if name:
        found = get(m, machine_id(sub, rg, name), MACHINES_API, "Arc machine")
        if found is None:
            raise ModuleFailure(f"The Arc machine {name} does not exist in resource group {rg}.")
        return [found]
    return list_all(m, f"/subscriptions/{segment(sub)}/resourceGroups/{segment(rg)}/providers/Microsoft.HybridCompute/machines",
                    MACHINES_API, f"Arc machines of resource group {rg}")


def run(m) -> dict:
    p = m.params
    sub, rg = m.subscription_id, p["resource_group"]
    vms, images = [], {}
    for machine in machines(m, sub, rg):
        vmi = get(m, vm_instance_id(machine["id"]), p["api_version"], "VM instance")
        if vmi is None:
            continue
        entry = summary(rg, machine["name"], vmi)
        if p["check_images"]:
            entry.update(image_verdict(m, entry["image_id"], images, p["api_version"]))
        vms.append(entry)
    return {
        "changed": False,
        "vms": vms,
        "needs_guest_state_key_backup": [v["name"] for v in vms if v["needs_guest_state_key_backup"]],
        "summary": {"total": len(vms), "trusted_launch": sum(v["trusted_launch"] for v in vms),
                    "incomplete_profile": sum(v["trusted_launch"] and not v["profile_complete"] for v in vms)},
    }


def main():
    argument_spec = {
        "resource_group": {"type": "str", "required": True},
        "name": {"type": "str"},
        "check_images": {"type": "bool", "default": True},
        "api_version": {"type": "str", "default": "2024-01-01"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "azure_local_vm", "resource_group": "resource_group"}).execute(run)


if __name__ == "__main__":
    main()
