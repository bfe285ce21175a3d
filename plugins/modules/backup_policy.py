#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_policy
short_description: Create, update or delete an Azure VM backup policy (Enhanced by default) for confidential VMs
version_added: 0.1.0
description:
  - Makes sure an Azure VM (C(AzureIaasVM)) backup policy of a Recovery Services vault has the given schedule and
    retention, or does not exist.
  - The confidential VM backup documentation points to the B(Enhanced) policy (C(V2)), the default here; an Enhanced
    policy supports hourly schedules and up to 30 days of instant restore.
  - Idempotent on the fields it manages (type, time zone, schedule, instant restore, snapshot consistency, daily,
    weekly, monthly and yearly retention); other fields and Azure's own additions never cause a change. An update
    replaces the policy with PUT, as Azure requires.
  - Multi-disk crash-consistent backup is not supported for confidential VMs. O(snapshot_consistency=crash_consistent_only)
    is refused when the policy already protects a confidential VM with data disks (the module lists the vault's
    protected items once and reads those VMs' resource groups once each).
  - O(state=absent) refuses to delete a policy that still protects items.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  name:
    description: The policy name.
    type: str
    required: true
  vault:
    description: The Recovery Services vault, as a resource id or a dict with the keys C(name) and C(resource_group).
    type: raw
    required: true
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
  policy_type:
    description: V(enhanced) (C(V2), the default and what the CVM documentation uses) or V(standard) (C(V1)).
    type: str
    choices: [enhanced, standard]
    default: enhanced
  frequency:
    description: V(daily) or V(hourly) backups (hourly needs V(enhanced)).
    type: str
    choices: [daily, hourly]
    default: daily
  schedule_time:
    description:
      - The time of day (C(HH:MM), on the hour or half hour, in O(time_zone)) of the daily backup, or the start of
        the hourly backup window.
    type: str
    default: "02:00"
  hourly_interval:
    description: Hours between backups of an hourly schedule.
    type: int
    choices: [4, 6, 8, 12]
    default: 4
  hourly_window_hours:
    description: Length in hours of the hourly backup window (from O(hourly_interval) to 24).
    type: int
    default: 24
  time_zone:
    description:
      - The time zone of the schedule, a Windows time zone id spelt exactly as Windows does, such as C(UTC) or
        C(Korea Standard Time) (the ids of Unicode CLDR's C(windowsZones.xml)).
    type: str
    default: UTC
  instant_restore_days:
    description:
      - Days the snapshots are kept for instant restore, 1-30 for Enhanced (default 7), 1-5 for Standard (default 2).
    type: int
    aliases: [instant_recovery_snapshot_retention]
  snapshot_consistency:
    description:
      - V(default) (application or file-system consistent when possible) or V(crash_consistent_only).
      - V(crash_consistent_only) is not supported for confidential VMs with data disks.
    type: str
    choices: [default, crash_consistent_only]
    default: default
  retention:
    description: How long recovery points are kept. Unset keeps daily points 30 days and nothing longer.
    type: dict
    suboptions:
      daily_days:
        description: Days a daily recovery point is kept (7-9999).
        type: int
        default: 30
      weekly:
        description: Keep a weekly recovery point.
        type: dict
        suboptions:
          count:
            description: Weeks to keep it (1-5163).
            type: int
            required: true
          days_of_week:
            description: The days whose point is kept.
            type: list
            elements: str
            choices: [Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday]
            default: [Sunday]
      monthly:
        description: Keep a monthly recovery point.
        type: dict
        suboptions:
          count:
            description: Months to keep it (1-1188).
            type: int
            required: true
          weeks_of_month:
            description: The weeks of the month whose point is kept.
            type: list
            elements: str
            choices: [First, Second, Third, Fourth, Last]
            default: [First]
          days_of_week:
            description: The days of those weeks.
            type: list
            elements: str
            choices: [Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday]
            default: [Sunday]
      yearly:
        description: Keep a yearly recovery point.
        type: dict
        suboptions:
          count:
            description: Years to keep it (1-99).
            type: int
            required: true
          months_of_year:
            description: The months whose point is kept.
            type: list
            elements: str
            choices: [January, February, March, April, May, June, July, August, September, October, November, December]
            default: [January]
          weeks_of_month:
            description: The weeks of the month.
            type: list
            elements: str
            choices: [First, Second, Third, Fourth, Last]
            default: [First]
          days_of_week:
            description: The days of those weeks.
            type: list
            elements: str
            choices: [Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday]
            default: [Sunday]
  wait:
    description: Wait until Azure has applied the policy (an update of a policy in use is asynchronous).
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
- name: A daily Enhanced policy for confidential VMs
  azure_cvm.backup.backup_policy:
    name: cvm-enhanced-daily
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    schedule_time: "21:00"
    time_zone: Korea Standard Time
    instant_restore_days: 7
    retention:
      daily_days: 30
      weekly: {count: 12, days_of_week: [Sunday]}
      monthly: {count: 12}
      yearly: {count: 5, months_of_year: [January]}

- name: Every 4 hours between 08:00 and 20:00
  azure_cvm.backup.backup_policy:
    name: cvm-enhanced-hourly
    vault: /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-uae
    frequency: hourly
    hourly_interval: 4
    schedule_time: "08:00"
    hourly_window_hours: 12
"""

RETURN = r"""
policy:
  description: The policy after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  contains:
    id:
      description: The policy resource id.
      type: str
      sample: /subscriptions/xxx/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc/backupPolicies/cvm-enhanced-daily
    name:
      description: The policy name.
      type: str
      sample: cvm-enhanced-daily
    settings:
      description: The managed settings (C(policy_type) is C(V2) for Enhanced, C(V1) for Standard).
      type: dict
      sample: {policy_type: V2, frequency: daily, schedule_time: "21:00", time_zone: UTC, instant_restore_days: 7,
               daily_days: 30, weekly: null, monthly: null, yearly: null, hourly_interval: null, hourly_window_hours: null,
               snapshot_consistency: default}
    protected_items_count:
      description: How many items the policy protects (null for a new policy).
      type: int
      sample: 3
changes:
  description: The managed settings that were (or in check mode would be) changed; all of them for a new policy.
  returned: always
  type: list
  elements: str
  sample: [instant_restore_days]
created:
  description:
    - Whether the run created the policy (in check mode, would create it), that is, it did not exist before. False
      when it existed, and for O(state=absent).
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import wait_poller


def weekdays() -> dict:
    return {"type": "list", "elements": "str", "choices": list(protection_rules.DAYS), "default": ["Sunday"]}


def weeks() -> dict:
    return {"type": "list", "elements": "str", "choices": list(protection_rules.WEEKS), "default": ["First"]}


def crash_consistency_blockers(m, ref: dict, pid: str) -> list:
    """For a crash-consistent-only policy: the CVMs with data disks it protects (one list of items, one list per RG)."""
    items = [i for i in service.protected_items(m, ref) if arm_ids.same((i.get("properties") or {}).get("policyId"), pid)]
    vm_ids = {protection_rules.item_key(i) for i in items} - {None}
    compute = m.client("compute").virtual_machines
    facts = []
    for rg in sorted({arm_ids.group_of(v).lower() for v in vm_ids}):
        vms = m.read_all(lambda rg=rg: compute.list(rg), "the VMs", f"resource group {rg}")
        facts.extend(cvm_rules.vm_facts(v) for v in vms if (v.get("id") or "").lower() in vm_ids)
    return protection_rules.crash_consistent_blockers({"snapshotConsistencyType": protection_rules.CRASH_ONLY}, facts)


def put_policy(m, ref: dict, name: str, body: dict):
    path = arm_ids.policy_path(ref, name)
    try:
        m.arm_lro("PUT", path, service.BACKUP_API, f"backup policy {name} to be applied", m.params["timeout"], body,
                  wait=m.params["wait"])
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"create or update backup policy {name}", f"vault {ref['name']}")


def describe(ref: dict, name: str, settings: dict | None, count) -> dict | None:
    if settings is None:
        return None
    return {"id": arm_ids.policy_id(ref, name), "name": name, "settings": settings, "protected_items_count": count}


def run(m) -> dict:
    p = m.params
    try:
        ref = arm_ids.parse_vault_ref(p["vault"], m.subscription_id)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    name = p["name"]
    policies = m.client("backup").protection_policies
    where = f"vault {ref['name']}"
    current = service.read_policy(m, ref, name)
    if current is None:
        vault = service.read_vault(m, ref)
        if vault is None:
            raise ModuleFailure(f"The Recovery Services vault {ref['name']} was not found in resource group "
                                f"{ref['resource_group']}: create it first (azure_cvm.backup.recovery_vault).")
    props = (current or {}).get("properties") or {}
    if current and props.get("backupManagementType") != "AzureIaasVM":
        raise ModuleFailure(f"Backup policy {name} of {where} is a {props.get('backupManagementType')} policy, not an Azure VM "
                            "policy: choose another name.")
    actual = protection_rules.policy_settings(current) if current else None
    count = props.get("protectedItemsCount") if current else None

    if p["state"] == "absent":
        result = {"changed": current is not None, "policy": None, "changes": ["deleted"] if current else [], "created": False}
        if current and count:
            raise ModuleFailure(f"Backup policy {name} still protects {count} item(s) in {where}: move them to another policy "
                                "or stop their protection (cvm_protection) first.")
        if current and not m.check_mode:
            try:
                poller = policies.begin_delete(ref["name"], ref["resource_group"], name, polling_interval=2)
                if p["wait"]:
                    wait_poller(poller, f"the deletion of backup policy {name}", p["timeout"])
            except ModuleFailure as exc:
                exc.extra.setdefault("changed", True)  # the delete was sent (a wait that ran out: WaitTimeout)
                raise
            except Exception as exc:  # pylint: disable=broad-except
                m.azure_failure(exc, f"delete backup policy {name}", where)
    else:
        desired = protection_rules.desired_policy_settings(p)
        errors = protection_rules.policy_errors(desired)
        if errors:
            raise ModuleFailure(f"Backup policy {name}: " + " ".join(errors))
        changes = protection_rules.policy_changes(desired, actual)
        if desired["snapshot_consistency"] == "crash_consistent_only":
            blockers = crash_consistency_blockers(m, ref, arm_ids.policy_id(ref, name)) if current else []
            if blockers:
                raise ModuleFailure(f"Backup policy {name} cannot be crash-consistent only: " + " ".join(blockers))
            m.warn("A crash-consistent-only policy must not be used for confidential VMs with data disks "
                   "(multi-disk crash-consistent backup is not supported).")
        result = {"changed": bool(changes), "policy": describe(ref, name, desired, count), "changes": changes,
                  "created": current is None}
        if changes and not m.check_mode:
            put_policy(m, ref, name, protection_rules.policy_body(desired))
    if m.diff_mode:
        result["diff"] = {"before": actual or {}, "after": (result["policy"] or {}).get("settings") or {}}
    return result


def main():
    argument_spec = {
        "name": {"type": "str", "required": True},
        "vault": {"type": "raw", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "policy_type": {"type": "str", "choices": ["enhanced", "standard"], "default": "enhanced"},
        "frequency": {"type": "str", "choices": ["daily", "hourly"], "default": "daily"},
        "schedule_time": {"type": "str", "default": "02:00"},
        "hourly_interval": {"type": "int", "choices": list(protection_rules.HOURLY_INTERVALS), "default": 4},
        "hourly_window_hours": {"type": "int", "default": 24},
        "time_zone": {"type": "str", "default": "UTC"},
        "instant_restore_days": {"type": "int", "aliases": ["instant_recovery_snapshot_retention"]},
        "snapshot_consistency": {"type": "str", "choices": ["default", "crash_consistent_only"], "default": "default"},
        "retention": {"type": "dict", "options": {
            "daily_days": {"type": "int", "default": 30},
            "weekly": {"type": "dict", "options": {"count": {"type": "int", "required": True}, "days_of_week": weekdays()}},
            "monthly": {"type": "dict", "options": {"count": {"type": "int", "required": True}, "weeks_of_month": weeks(),
                                                    "days_of_week": weekdays()}},
            "yearly": {"type": "dict", "options": {
                "count": {"type": "int", "required": True},
                "months_of_year": {"type": "list", "elements": "str", "choices": list(protection_rules.MONTHS), "default": ["January"]},
                "weeks_of_month": weeks(), "days_of_week": weekdays()}},
        }},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 600},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "policy"}).execute(run)


if __name__ == "__main__":
    main()
