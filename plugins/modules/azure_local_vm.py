#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_local_vm
short_description: Create, update or delete a Trusted launch Azure Local VM (Azure Arc VM instance)
version_added: 0.1.0
description:
  - Manages the VM instance of an Azure Local VM enabled by Azure Arc, the ARM resource
    C({machine}/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default) on an Arc machine
    (C(Microsoft.HybridCompute/machines)), placed on the Azure Local system through its custom location.
  - Only Trusted launch VMs (O(security_type=TrustedLaunch)), with secure boot and a vTPM both on; the module
    refuses anything else before sending a request.
  - The image must be one of the Azure Marketplace gallery images that Trusted launch supports (all Windows 11
    images except the 24H2 SKUs, and Windows Server 2022). Custom images (obtained outside Azure Marketplace) are
    refused with the documented reason.
  - Reads the VM first; nothing is sent when it already is as asked. The security type and profile, the image and the
    custom location of an existing VM are chosen at creation and are never changed by this module; it fails instead.
  - Creates with PUT; updates an existing VM with a PATCH that carries only the changed hardware settings (the
    update request of the API, as C(az stack-hci-vm update) sends it); deletes with DELETE. With O(wait), each is
    followed to its end through the operation Azure names in its answer (C(Azure-AsyncOperation), else C(Location)).
  - After creating a Trusted launch VM, back up its VM guest state protection key (role
    C(azure_cvm.backup.azure_local_tvm)); without that key the VM cannot be started after a restore.
  - The Arc machine resource must exist (C(az stack-hci-vm create) creates both); this module manages the VM
    instance only.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  name:
    description: The name of the Arc machine (the VM name).
    type: str
    required: true
  resource_group:
    description: The resource group of the Arc machine.
    type: str
    required: true
  state:
    description: Whether the VM instance should exist.
    type: str
    choices: [present, absent]
    default: present
  custom_location:
    description:
      - The custom location of the Azure Local system, as a resource id or as a name in O(resource_group).
      - Required to create a VM.
    type: str
  image:
    description:
      - The Marketplace gallery image (C(Microsoft.AzureStackHCI/marketplaceGalleryImages)), as a resource id or as a
        name in O(resource_group). Required to create a VM.
    type: str
  security_type:
    description: The security type. Only V(TrustedLaunch) is managed by this module.
    type: str
    choices: [TrustedLaunch]
    default: TrustedLaunch
  secure_boot:
    description: Secure boot. Must be V(true) for Trusted launch; V(false) is refused.
    type: bool
    default: true
  tpm:
    description: The virtual TPM. Must be V(true) for Trusted launch; V(false) is refused.
    type: bool
    default: true
  vm_size:
    description:
      - The VM size. When O(processors) or O(memory_mb) is given without it, V(Custom) is sent (the size that carries
        them); other sizes with O(processors) or O(memory_mb) are refused. A new VM without any of the three gets V(Default).
    type: str
  processors:
    description: The number of virtual processors.
    type: int
  memory_mb:
    description: The memory in MB.
    type: int
  computer_name:
    description: The guest computer name, used at creation. Defaults to the first 15 characters of O(name).
    type: str
  admin_username:
    description: The guest administrator's name, used at creation.
    type: str
  admin_password:
    description: The guest administrator's password, used at creation only. Never returned.
    type: str
  network_interfaces:
    description: Network interfaces (C(Microsoft.AzureStackHCI/networkInterfaces)) as ids or names in O(resource_group).
    type: list
    elements: str
  storage_path:
    description: The storage path (C(Microsoft.AzureStackHCI/storageContainers)) for the VM configuration, as id or name.
    type: str
  wait:
    description: Wait until the create, update or delete has finished.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most.
    type: int
    default: 1800
  api_version:
    description: The C(Microsoft.AzureStackHCI) api-version.
    type: str
    default: '2024-01-01'
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only; reports the change it would make.
  diff_mode:
    support: full
    description: Shows the managed settings (security profile, image, custom location, hardware) before and after.
notes:
  - Trusted launch for Azure Local VMs needs Azure Local 2311.2 or later.
"""

EXAMPLES = r"""
- name: A Trusted launch Windows Server 2022 VM on Azure Local
  azure_cvm.backup.azure_local_vm:
    name: tvm-ws2022-02
    resource_group: rg-azlocal
    custom_location: cl-azlocal-01
    image: ws2022-dc-azure
    admin_username: localadmin
    admin_password: "{{ vault_vm_admin_password }}"
    network_interfaces: [tvm-ws2022-02-nic]

- name: Resize it (the security profile stays as it is)
  azure_cvm.backup.azure_local_vm:
    name: tvm-ws2022-02
    resource_group: rg-azlocal
    vm_size: Custom
    processors: 8
    memory_mb: 16384

- name: Delete it
  azure_cvm.backup.azure_local_vm:
    name: tvm-ws2022-02
    resource_group: rg-azlocal
    state: absent
"""

RETURN = r"""
vm:
  description: The VM instance after the run (in check mode, as it would be). Empty when it does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: The Arc machine (VM) name.
      type: str
      sample: tvm-ws2022-02
    resource_group:
      description: The resource group of the Arc machine.
      type: str
      sample: rg-azlocal
    id:
      description: The VM instance resource id.
      type: str
      sample: /subscriptions/x/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/vm/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default
    custom_location:
      description: The custom location id.
      type: str
    image_id:
      description: The image the VM was made from.
      type: str
    provisioning_state:
      description: The provisioning state.
      type: str
      sample: Succeeded
    power_state:
      description: The power state.
      type: str
      sample: Running
    vm_id:
      description: The VM id the service reports (C(properties.vmId)).
      type: str
    security_type:
      description: V(TrustedLaunch), V(ConfidentialVM), or V(Standard) when the VM has no security type.
      type: str
      sample: TrustedLaunch
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
      description: Whether the VM guest state protection key of this VM must be backed up by hand.
      type: bool
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import name_or_id
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_arm import (
    CUSTOM_LOCATIONS_API, HCI, MACHINES_API, find_image, get, machine_id, summary, vm_instance_id)
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_rules import (
    creation_hardware, describe_security, hardware_changes, hardware_reason, image_reason, managed_view,
    security_profile_body, security_profile_reason, security_update_reason, update_body, wanted_hardware)
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def new_body(m, sub: str, rg: str, cl_id: str, image: dict) -> dict:
    p = m.params
    hardware = creation_hardware(p["vm_size"], p["processors"], p["memory_mb"])
    os_profile = {"computerName": p["computer_name"] or p["name"][:15]}
    if p["admin_username"]:
        os_profile["adminUsername"] = p["admin_username"]
    if p["admin_password"]:
        os_profile["adminPassword"] = p["admin_password"]
    storage = {"imageReference": {"id": image["id"]}}
    if p["storage_path"]:
        storage["vmConfigStoragePathId"] = name_or_id(p["storage_path"], sub, rg, f"{HCI}/storageContainers")
    props = {"hardwareProfile": hardware, "osProfile": os_profile, "storageProfile": storage,
             "securityProfile": security_profile_body(p["security_type"], p["secure_boot"], p["tpm"])}
    if p["network_interfaces"]:
        props["networkProfile"] = {"networkInterfaces": [{"id": name_or_id(n, sub, rg, f"{HCI}/networkInterfaces")}
                                                         for n in p["network_interfaces"]]}
    return {"extendedLocation": {"type": "CustomLocation", "name": cl_id}, "properties": props}


def creation_inputs(m, sub: str, rg: str):
    """The custom location id and the image resource of a new VM, after every documented check."""
    p = m.params
    missing = [opt for opt in ("custom_location", "image") if not p[opt]]
    if missing:
        raise ModuleFailure(f"The VM instance {p['name']} does not exist; to create it give {' and '.join(missing)}.")
    cl_id = name_or_id(p["custom_location"], sub, rg, "Microsoft.ExtendedLocation/customLocations")
    if get(m, cl_id, CUSTOM_LOCATIONS_API, "custom location") is None:
        raise ModuleFailure(f"The custom location {cl_id} does not exist.")
    image = find_image(m, sub, rg, p["image"], p["api_version"])
    if image is None:
        raise ModuleFailure(f"The gallery image {p['image']} does not exist in resource group {rg} (looked for a "
                            "Marketplace gallery image and a gallery image of that name).")
    why = image_reason(image)
    if why:
        raise ModuleFailure(why + " Supported: Windows 11 (except 24H2 SKUs) and Windows Server 2022 Azure Marketplace images.",
                            image_id=image.get("id"))
    return cl_id, image


def check_immutable(p: dict, sub: str, rg: str, current: dict):
    """Refuse what a VM keeps from its creation, instead of sending a request the service would reject."""
    if not current["trusted_launch"]:
        raise ModuleFailure(f"The VM {p['name']} exists with security type {current['security_type']}: the security type "
                            "is chosen when a VM is created. Create a new Trusted launch VM and move the workload.")
    if p["image"] and not p["image"].startswith("/subscriptions/"):
        wanted = {name_or_id(p["image"], sub, rg, f"{HCI}/{t}").lower() for t in ("marketplaceGalleryImages", "galleryImages")}
    else:
        wanted = {(p["image"] or "").lower()}
    if p["image"] and (current["image_id"] or "").lower() not in wanted:
        raise ModuleFailure(f"The VM {p['name']} was made from {current['image_id']}; the image of an existing VM cannot change.")
    if p["custom_location"]:
        cl_id = name_or_id(p["custom_location"], sub, rg, "Microsoft.ExtendedLocation/customLocations")
        if cl_id.lower() != (current["custom_location"] or "").lower():
            raise ModuleFailure(f"The VM {p['name']} is on custom location {current['custom_location']}; it cannot move.")


def write(m, method: str, vmi_path: str, body: dict | None, what: str, action: str):
    """PUT (create), PATCH (update) or DELETE, followed to its end with azure-core's ARM polling when O(wait)
    (spec: final-state-via azure-async-operation; Azure-AsyncOperation, else Location, is followed)."""
    p = m.params
    try:
        return m.arm_lro(method, vmi_path, p["api_version"], f"Azure Local VM {p['name']} to be {what}", p["timeout"],
                         body, wait=p["wait"])[1]
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"{action} Azure Local VM {p['name']}", vmi_path)


def present(m, sub: str, rg: str, vmi_path: str, existing: dict | None) -> tuple[bool, dict]:
    p = m.params
    if existing is None:
        cl_id, image = creation_inputs(m, sub, rg)
        body = new_body(m, sub, rg, cl_id, image)
        if m.check_mode:
            return True, {"id": vmi_path, "extendedLocation": body["extendedLocation"],
                          "properties": {**body["properties"], "provisioningState": None}}
        return True, write(m, "PUT", vmi_path, body, "provisioned", "create")
    current = {**managed_view(existing), **describe_security(existing)}
    check_immutable(p, sub, rg, current)
    why = security_update_reason(p["name"], current)
    if why:
        raise ModuleFailure(why)
    hardware = hardware_changes(wanted_hardware(p["vm_size"], p["processors"], p["memory_mb"]),
                                (existing.get("properties") or {}).get("hardwareProfile") or {})
    if not hardware:
        return False, existing
    props = existing.get("properties") or {}
    after = {**existing, "properties": {**props, "hardwareProfile": {**(props.get("hardwareProfile") or {}), **hardware}}}
    if m.check_mode:
        return True, after
    updated = write(m, "PATCH", vmi_path, update_body(hardware), "updated", "update")
    return True, updated if p["wait"] else after


def absent(m, vmi_path: str, existing: dict | None) -> bool:
    if existing is None:
        return False
    if not m.check_mode:
        write(m, "DELETE", vmi_path, None, "deleted", "delete")
    return True


def run(m) -> dict:
    p = m.params
    if p["state"] == "present":
        why = security_profile_reason(p["security_type"], p["secure_boot"], p["tpm"]) or \
            hardware_reason(p["vm_size"], p["processors"], p["memory_mb"])
        if why:
            raise ModuleFailure(why)
    sub, rg = m.subscription_id, p["resource_group"]
    machine = machine_id(sub, rg, p["name"])
    if get(m, machine, MACHINES_API, "Arc machine") is None:
        if p["state"] == "absent":
            return {"changed": False, "vm": {}, **diff(m, None, None)}
        raise ModuleFailure(f"The Arc machine {p['name']} does not exist in resource group {rg}. Create the Azure Local VM "
                            "with its Arc machine first (for example az stack-hci-vm create); this module manages the VM instance.")
    vmi_path = vm_instance_id(machine)
    existing = get(m, vmi_path, p["api_version"], "VM instance")
    if p["state"] == "absent":
        changed = absent(m, vmi_path, existing)
        return {"changed": changed, "vm": {}, **diff(m, existing, None)}
    changed, after = present(m, sub, rg, vmi_path, existing)
    if existing is None and not m.check_mode:
        m.warn(f"Back up the VM guest state protection key of the new Trusted launch VM {p['name']} now "
               "(role azure_cvm.backup.azure_local_tvm): without it the VM cannot be started after a restore.")
    return {"changed": changed, "vm": summary(rg, p["name"], after) if after else {}, **diff(m, existing, after)}


def diff(m, before, after) -> dict:
    return {"diff": {"before": managed_view(before), "after": managed_view(after)}} if m.diff_mode else {}


def main():
    argument_spec = {
        "name": {"type": "str", "required": True},
        "resource_group": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "custom_location": {"type": "str"},
        "image": {"type": "str"},
        "security_type": {"type": "str", "choices": ["TrustedLaunch"], "default": "TrustedLaunch"},
        "secure_boot": {"type": "bool", "default": True},
        "tpm": {"type": "bool", "default": True},
        "vm_size": {"type": "str"},
        "processors": {"type": "int"},
        "memory_mb": {"type": "int"},
        "computer_name": {"type": "str"},
        "admin_username": {"type": "str"},
        "admin_password": {"type": "str", "no_log": True},
        "network_interfaces": {"type": "list", "elements": "str"},
        "storage_path": {"type": "str"},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 1800},
        "api_version": {"type": "str", "default": "2024-01-01"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "azure_local_vm", "resource_group": "resource_group", **{
                       o: "azure_local_resource_or_id" for o in ("custom_location", "image", "network_interfaces", "storage_path")}}).execute(run)


if __name__ == "__main__":
    main()
