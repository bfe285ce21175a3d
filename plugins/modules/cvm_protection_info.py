#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cvm_protection_info
short_description: Show the Azure Backup protection of VMs in a Recovery Services vault
version_added: 0.1.0
description:
  - Lists the VM backup items of a Recovery Services vault with their protection state, health, last backup status
    and time, latest recovery point and policy.
  - Read-only; never writes. The vault's protected items are read with one paged list, whatever the number of VMs.
  - With O(vms), only those VMs are reported, and a VM the vault does not protect is reported as C(NotProtected).
  - With O(recovery_point_details=true), the recovery points of each reported item are listed too (one list per item,
    O(concurrency) at a time) to give the id and tiers of the latest one.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vault:
    description: The Recovery Services vault, as a resource id or a dict with the keys C(name) and C(resource_group).
    type: raw
    required: true
  vms:
    description:
      - Only these VMs, each a VM resource id, a C(resource_group/name) string or a dict with the keys
        C(resource_group) and C(name). Mutually exclusive with O(resource_groups).
    type: list
    elements: raw
  resource_groups:
    description: Only the VMs of these resource groups. Mutually exclusive with O(vms).
    type: list
    elements: str
  recovery_point_details:
    description: List each item's recovery points to return the id and tiers of the latest one.
    type: bool
    default: false
  concurrency:
    description: How many recovery point lists run at the same time.
    type: int
    default: 8
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Every VM protected by the Korea Central vault
  azure_cvm.backup.cvm_protection_info:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
  register: protection

- name: Two VMs, with their latest recovery point
  azure_cvm.backup.cvm_protection_info:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vms: [rg-cvm-kc/cvm-pmk-01, rg-cvm-kc/cvm-kv-01]
    recovery_point_details: true

- name: Fail when a backup did not complete
  ansible.builtin.assert:
    # protection['items']: protection.items would be the dict's items method
    that: protection['items'] | rejectattr('last_backup_status', 'equalto', 'Completed') | list | length == 0
"""

RETURN = r"""
items:
  description: One entry per VM backup item (or requested VM), in listing order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The VM name.
      type: str
      sample: cvm-pmk-01
    resource_group:
      description: The VM's resource group.
      type: str
      sample: rg-cvm-kc
    vm_id:
      description: The VM resource id.
      type: str
    item_name:
      description: The protected item name (null for a VM that is not protected).
      type: str
      sample: VM;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01
    protection_state:
      description: C(IRPending), C(Protected), C(ProtectionError), C(ProtectionStopped), C(BackupsSuspended), ... or
        C(NotProtected), or C(NotFound) for a VM of O(vms) that does not exist (with a warning).
      type: str
      sample: Protected
    protection_status:
      description: The item's protection status (C(Healthy), C(Unhealthy)).
      type: str
      sample: Healthy
    health_status:
      description: The item's health (C(Passed), C(ActionRequired), C(ActionSuggested)).
      type: str
      sample: Passed
    last_backup_status:
      description: The status of the last backup (C(Completed), C(Failed), ...).
      type: str
      sample: Completed
    last_backup_time:
      description: When the last backup ran.
      type: str
      sample: "2026-11-22T15:20:31Z"
    latest_recovery_point:
      description: The latest recovery point; C(id) and C(tiers) only with O(recovery_point_details).
      type: dict
      contains:
        time:
          description: Its time.
          type: str
        id:
          description: Its recovery point id.
          type: str
        tiers:
          description: Its tiers (C(InstantRP), C(HardenedRP), C(ArchivedRP)) with their status.
          type: list
          elements: dict
    recovery_points:
      description: How many recovery points the item has (only with O(recovery_point_details)).
      type: int
    policy:
      description: The backup policy name.
      type: str
      sample: cvm-enhanced-daily
    policy_id:
      description: The backup policy id.
      type: str
    soft_deleted:
      description: Whether the backup data is soft-deleted (scheduled for deletion).
      type: bool
count:
  description: How many items are reported, by protection state.
  returned: always
  type: dict
  sample: {total: 3, Protected: 2, ProtectionStopped: 1}
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.fleet import bounded_map


def describe(item: dict) -> dict:
    props = item.get("properties") or {}
    view = protection_rules.item_view(item)
    vm = arm_ids.parse(props.get("sourceResourceId") or props.get("virtualMachineId")) or {}
    return {"name": props.get("friendlyName") or vm.get("name", ""), "resource_group": vm.get("resource_group"),
            "vm_id": props.get("sourceResourceId") or props.get("virtualMachineId"), "item_name": item.get("name"),
            "protection_state": view["protection_state"], "protection_status": props.get("protectionStatus"),
            "health_status": props.get("healthStatus"), "last_backup_status": props.get("lastBackupStatus"),
            "last_backup_time": props.get("lastBackupTime"),
            "latest_recovery_point": {"time": props.get("lastRecoveryPoint")} if props.get("lastRecoveryPoint") else None,
            "policy": view["policy"], "policy_id": view["policy_id"], "soft_deleted": view["soft_deleted"]}


def not_protected(target: dict) -> dict:
    return {"name": target["name"], "resource_group": target["resource_group"],
            "vm_id": arm_ids.vm_id(target["subscription_id"], target["resource_group"], target["name"]), "item_name": None,
            "protection_state": "NotProtected", "protection_status": None, "health_status": None, "last_backup_status": None,
            "last_backup_time": None, "latest_recovery_point": None, "policy": None, "policy_id": None, "soft_deleted": False}


def latest_point(m, ref: dict, item: dict) -> tuple[dict | None, int]:
    """The newest recovery point of an item (one paged list) and how many there are."""
    parts = arm_ids.names_by_type(item["id"])
    points = m.client("backup").recovery_points
    pager = points.list(ref["name"], ref["resource_group"], "Azure", parts["protectioncontainers"], parts["protecteditems"])
    listed = [rest_dict(p) for p in pager]
    if not listed:
        return None, 0
    newest = max(listed, key=lambda p: str((p.get("properties") or {}).get("recoveryPointTime") or ""))
    props = newest.get("properties") or {}
    return {"time": props.get("recoveryPointTime"), "id": newest.get("name"),
            "tiers": props.get("recoveryPointTierDetails") or []}, len(listed)


def run(m) -> dict:
    p = m.params
    try:
        ref = arm_ids.parse_vault_ref(p["vault"], m.subscription_id)
        targets = [arm_ids.parse_vm_target(v, m.subscription_id) for v in p["vms"] or []]
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    if not 1 <= p["concurrency"] <= 64:
        raise ModuleFailure(f"concurrency must be 1-64, got {p['concurrency']}.")
    try:
        items = service.protected_items(m, ref)
    except ModuleFailure as exc:
        if exc.extra.get("status_code") == 404:
            raise ModuleFailure(f"The Recovery Services vault {ref['name']} was not found in resource group {ref['resource_group']}.") from exc
        raise
    if not items:  # an empty list may also mean a wrong vault name: say so rather than report nothing
        vault = service.read_vault(m, ref)
        if vault is None:
            raise ModuleFailure(f"The Recovery Services vault {ref['name']} was not found in resource group {ref['resource_group']}.")
    by_vm = {protection_rules.item_key(i): i for i in items}
    if targets:
        wanted = [(t, by_vm.get(arm_ids.vm_id(t["subscription_id"], t["resource_group"], t["name"]).lower())) for t in targets]
    else:
        groups = {g.lower() for g in p["resource_groups"] or []}
        wanted = [(None, i) for i in items if not groups or (describe(i)["resource_group"] or "").lower() in groups]
    out = [describe(item) if item else not_protected(target) for target, item in wanted]
    missing = [entry for entry in out if entry["item_name"] is None]
    found = bounded_map(lambda e: m.read(lambda: m.client("compute").virtual_machines.get(e["resource_group"], e["name"]),
                                         "the VM", f"{e['resource_group']}/{e['name']}"), missing, p["concurrency"])
    for entry, (vm, exc) in zip(missing, found):
        if exc is None and vm is None:
            entry["protection_state"] = "NotFound"
            m.warn(f"VM {entry['resource_group']}/{entry['name']} was not found (check the name and resource group).")
    if p["recovery_point_details"]:
        listed = [(entry, pair[1]) for entry, pair in zip(out, wanted) if pair[1]]
        answers = bounded_map(lambda pair: latest_point(m, ref, pair[1]), listed, p["concurrency"])
        for (entry, dummy), (answer, exc) in zip(listed, answers):
            if exc is not None:
                raise ModuleFailure(describe_error(exc, "list the recovery points", f"VM {entry['name']}")["msg"])
            entry["latest_recovery_point"], entry["recovery_points"] = answer
    count = {"total": len(out)}
    for entry in out:
        count[entry["protection_state"]] = count.get(entry["protection_state"], 0) + 1
    return {"changed": False, "items": out, "count": count}


def main():
    argument_spec = {
        "vault": {"type": "raw", "required": True},
        "vms": {"type": "list", "elements": "raw"},
        "resource_groups": {"type": "list", "elements": "str"},
        "recovery_point_details": {"type": "bool", "default": False},
        "concurrency": {"type": "int", "default": 8},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"resource_groups": "resource_group"},
                   mutually_exclusive=[("vms", "resource_groups")]).execute(run)


if __name__ == "__main__":
    main()
