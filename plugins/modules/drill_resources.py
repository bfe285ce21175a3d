#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: drill_resources
short_description: Tag what a restore drill created, read it back, and delete only what carries the drill's tag
version_added: 0.2.0
description:
  - A restore drill restores confidential VMs into a drill resource group. Azure Backup's restore request
    (C(IaasVMRestoreRequest)) has no tags for what it creates, so this module marks the restored disks, VM and network
    interface with the tag C(azure_cvm_drill_id=<drill_id>) afterwards (Tags_UpdateAtScope, operation C(Merge)), and
    deletes later only resources that carry that tag with that value.
  - V(present) creates the drill resource group when it does not exist (tagged with the drill id, so that only a group the
    drill created is ever deleted), tags each of O(resources) that lacks the tag, and returns the drill's managed disks
    (security type, disk encryption set) and VMs (security profile) as Azure shows them, for the drill's verification.
  - V(absent) deletes, in the drill resource group, the VMs, network interfaces and managed disks whose tag
    C(azure_cvm_drill_id) equals O(drill_id) - never an untagged resource or one of another drill - and then the
    resource group itself when the drill created it (its tag) and nothing else is left in it.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  resource_group:
    description: The drill resource group.
    type: str
    required: true
  location:
    description:
      - The region of the drill resource group; needed by V(present) when the group does not exist yet.
      - An ARM location name or display name, checked before any write against the regions the subscription lists (as
        for M(azure_cvm.backup.recovery_vault)).
    type: str
  drill_id:
    description:
      - The drill's id, the value of the tag C(azure_cvm_drill_id) (at most 256 printable characters without C(<>%&\?/)).
    type: str
    required: true
  resources:
    description:
      - V(present) only - the resource ids (in O(resource_group)) to tag with the drill id, for example the
        C(restored_disk_ids) or the C(restored_vm_id) of M(azure_cvm.backup.cvm_restore). A VM's disks and network
        interfaces in the group are tagged with it.
    type: list
    elements: str
    default: []
  state:
    description: V(present) creates the group and tags O(resources); V(absent) deletes what carries the drill's tag.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: How many seconds to wait for each deletion at most.
    type: int
    default: 1800
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only and returns what would be created, tagged or deleted.
  diff_mode:
    support: full
    description: The group and the drill's resources before and after.
notes:
  - A tagged resource of another type than a VM, network interface or managed disk is left in place and listed in
    RV(unsupported); the group is then not deleted.
"""

EXAMPLES = r"""
- name: Make the drill resource group (tagged with the drill id) before the restore
  azure_cvm.backup.drill_resources:
    resource_group: rg-cvm-drill-koreacentral
    location: koreacentral
    drill_id: drill-2026-w49

- name: Tag a VM a drill restored (its disks and network interface with it) and read them back
  azure_cvm.backup.drill_resources:
    resource_group: rg-cvm-kc
    drill_id: drill-2026-w49
    resources:
      - /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-pmk-01
  register: drill

- name: Delete only what carries this drill's tag (and the group, when the drill made it and it is empty)
  azure_cvm.backup.drill_resources:
    resource_group: rg-cvm-drill-koreacentral
    drill_id: drill-2026-w49
    state: absent
"""

RETURN = r"""
resource_group:
  description: The drill resource group as found (null when it does not exist, or no longer).
  returned: always
  type: dict
  contains:
    id:
      description: Its resource id.
      type: str
    location:
      description: Its region.
      type: str
    created_by_drill:
      description: Whether it carries the drill's tag (the drill created it).
      type: bool
created:
  description: Whether the resource group was created (or would be, in check mode).
  returned: always
  type: bool
tagged:
  description: The ids tagged with the drill id in this run (or that would be).
  returned: always
  type: list
  elements: str
disks:
  description: The managed disks of the group that carry the drill's tag, as Azure shows them (V(present)).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The disk's id.
      type: str
    name:
      description: Its name.
      type: str
    security_type:
      description: C(securityProfile.securityType), for example C(ConfidentialVM_DiskEncryptedWithCustomerKey).
      type: str
    confidential:
      description: Whether the security type is a confidential one (C(ConfidentialVM_*)).
      type: bool
    disk_encryption_set_id:
      description: The DES (C(securityProfile.secureVMDiskEncryptionSetId), else C(encryption.diskEncryptionSetId)).
      type: str
    encryption_type:
      description: C(encryption.type).
      type: str
    os_type:
      description: C(osType) of an OS disk.
      type: str
    tags:
      description: Its tags.
      type: dict
vms:
  description: The VMs of the group that carry the drill's tag, with their security profile (V(present)).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The VM's id.
      type: str
    name:
      description: Its name.
      type: str
    security_type:
      description: C(securityProfile.securityType), C(ConfidentialVM) for a confidential VM.
      type: str
    vtpm:
      description: C(uefiSettings.vTpmEnabled).
      type: bool
    secure_boot:
      description: C(uefiSettings.secureBootEnabled).
      type: bool
    tags:
      description: Its tags.
      type: dict
deleted:
  description: The ids deleted in this run (or that would be), in deletion order; the group's id last when it was deleted.
  returned: always
  type: list
  elements: str
kept:
  description: The resources of the group left in place because they do not carry this drill's tag (V(absent)).
  returned: always
  type: list
  elements: str
unsupported:
  description: Resources with this drill's tag of a type the drill does not delete (left in place).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import drill_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_runner
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.names import shown

RESOURCES_API = "2025-04-01"  # Microsoft.Resources (Tags_UpdateAtScope), azure-mgmt-resource 26 default
DELETE_API = {"microsoft.compute/virtualmachines": "2026-04-01", "microsoft.compute/disks": "2026-03-02",
              "microsoft.network/networkinterfaces": "2024-05-01"}


def read_group(m, name: str):
    return m.read(lambda: m.client("resources").resource_groups.get(name), "the drill resource group", name)


def list_group(m, name: str) -> list:
    return m.read_all(lambda: m.client("resources").resources.list_by_resource_group(name), "the resources",
                      f"resource group {name}")


def group_out(group, drill_id: str):
    if not group:
        return None
    return {"id": group["id"], "location": group.get("location"), "created_by_drill": rules.group_is_drills(group, drill_id)}


def resource_type(rid: str) -> str:
    parts = arm_ids.parse(rid) or {}
    return f"{parts.get('namespace', '')}/{parts.get('type', '')}".lower()


def verification(m, name: str, drill_id: str) -> dict:
    """The drill's disks and VMs of the group, as Azure shows them (one list each)."""
    compute = m.client("compute")
    disks = m.read_all(lambda: compute.disks.list_by_resource_group(name), "the managed disks", f"resource group {name}")
    vms = m.read_all(lambda: compute.virtual_machines.list(name), "the VMs", f"resource group {name}")
    return {"disks": [rules.disk_facts(d) for d in disks if rules.is_drills(d, drill_id)],
            "vms": [rules.vm_facts(v) for v in vms if rules.is_drills(v, drill_id)]}


def with_vm_parts(m, ids: list, name: str, listed: dict) -> list:
    """The ids, and for each VM among them its disks and network interfaces in the group (a restored VM's parts)."""
    out = list(ids)
    for rid in ids:
        if resource_type(rid) == "microsoft.compute/virtualmachines":
            vm = restore_runner.read_vm(m, rid)
            parts = restore_runner.vm_disk_ids(vm) + rules.vm_nic_ids(vm)
            out += [x for x in parts if x.lower() in listed and x.lower() not in {o.lower() for o in out}]
    return out


def present(m, p: dict, out: dict) -> dict:
    name, drill_id = p["resource_group"], p["drill_id"]
    outside = rules.outside_group(p["resources"], name)
    if outside:
        raise ModuleFailure(f"resources: {', '.join(outside)} not in the drill resource group {name}; only resources of the "
                            "drill resource group are tagged.")
    group = read_group(m, name)
    if group is None:
        if p["resources"]:
            raise ModuleFailure(f"The drill resource group {name} does not exist, so the resources to tag cannot be in it.")
        if not p["location"]:
            raise ModuleFailure(f"The drill resource group {name} does not exist: give location to create it.")
        out.update(changed=True, created=True)
        if m.diff_mode:
            out["diff"] = {"before": {"resource_group": None, "tags": {}}, "after": {"resource_group": name, "tags": {}}}
        if m.check_mode:
            return out
        group = m.read(lambda: m.client("resources").resource_groups.create_or_update(
            name, {"location": p["location"], "tags": {rules.DRILL_TAG: drill_id}}), "the drill resource group", name)
    out["resource_group"] = group_out(group, drill_id)
    listed = {r["id"].lower(): r for r in list_group(m, name)}
    missing = [rid for rid in p["resources"] if rid.lower().rstrip("/") not in listed]
    if missing:
        raise ModuleFailure(f"resources: {', '.join(missing)} not found in resource group {name}.")
    wanted = with_vm_parts(m, [rid.rstrip("/") for rid in p["resources"]], name, listed)
    before = {rid: (listed[rid.lower()].get("tags") or {}).get(rules.DRILL_TAG) for rid in wanted}
    out["tagged"] = [rid for rid, value in before.items() if value != drill_id]
    if out["tagged"]:
        out["changed"] = True
    if m.diff_mode:
        out["diff"] = {"before": {"resource_group": None if out["created"] else name, "tags": before},
                       "after": {"resource_group": name, "tags": {rid: drill_id for rid in before}}}
    if m.check_mode:
        out.update(verification(m, name, drill_id))
        return out
    for rid in out["tagged"]:
        m.arm_lro("PATCH", f"{rid.rstrip('/')}/providers/Microsoft.Resources/tags/default", RESOURCES_API, f"the tags of {rid}",
                  p["timeout"], body={"operation": "Merge", "properties": {"tags": {rules.DRILL_TAG: drill_id}}}, ok=(200, 202))
    out.update(verification(m, name, drill_id))
    return out


def absent(m, p: dict, out: dict) -> dict:
    name, drill_id = p["resource_group"], p["drill_id"]
    group = read_group(m, name)
    out["resource_group"] = group_out(group, drill_id)
    if group is None:
        return out
    plan = rules.deletion_plan(list_group(m, name), drill_id)
    out.update(kept=plan["kept"], unsupported=plan["unsupported"], deleted=list(plan["delete"]))
    if rules.group_is_drills(group, drill_id) and not plan["kept"] and not plan["unsupported"]:
        out["deleted"].append(group["id"])
    out["changed"] = bool(out["deleted"])
    if m.diff_mode:
        out["diff"] = {"before": {"resource_group": name, "resources": plan["delete"] + plan["kept"] + plan["unsupported"]},
                       "after": {"resource_group": None if group["id"] in out["deleted"] else name,
                                 "resources": plan["kept"] + plan["unsupported"]}}
    if m.check_mode:
        return out
    for rid in plan["delete"]:
        m.arm_lro("DELETE", rid, DELETE_API[resource_type(rid)], f"the deletion of {rid}", p["timeout"], final_state_via="location")
    if group["id"] in out["deleted"]:
        m.arm_lro("DELETE", group["id"], RESOURCES_API, f"the deletion of resource group {name}", p["timeout"],
                  ok=(200, 202), final_state_via="location")
        out["resource_group"] = None
    return out


def run(m) -> dict:
    p = m.params
    problem = rules.drill_id_problem(p["drill_id"])
    bad = [rid for rid in p["resources"] if "resource_group" not in (arm_ids.parse(rid) or {})]
    if problem or bad:
        raise ModuleFailure(problem or f"resources: '{shown(bad[0])}' is not a resource id of a resource group.")
    out = {"changed": False, "created": False, "resource_group": None, "tagged": [], "disks": [], "vms": [], "deleted": [],
           "kept": [], "unsupported": []}
    return present(m, p, out) if p["state"] == "present" else absent(m, p, out)


def main():
    argument_spec = {
        "resource_group": {"type": "str", "required": True},
        "location": {"type": "str"},
        "drill_id": {"type": "str", "required": True},
        "resources": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "timeout": {"type": "int", "default": 1800},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"resource_group": "resource_group", "location": "region", "resources": "segment_or_id"}).execute(run)


if __name__ == "__main__":
    main()
