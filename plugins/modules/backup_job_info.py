#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_job_info
short_description: Read the Azure Backup jobs of a Recovery Services vault, or one job with its tasks and errors
version_added: 0.1.0
description:
  - Lists the Azure VM backup jobs of a Recovery Services vault, newest first, filtered by VM, operation, status and
    time window; or returns one job by id with its tasks, property bag and error details.
  - Operation, status and time window are sent to Azure as the jobs C($filter); the VM filter is applied to the
    list (Azure has no VM term in that filter) on the job's C(entityFriendlyName), the VM name.
  - Use it to follow a backup or restore, and to read what a failed restore left behind (for a lost key, the job's
    properties C(Target Storage Account Name), C(Config Blob Container Name) and C(Secured Encryption Info Blob Name)).
  - Never writes.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vault:
    description:
      - The Recovery Services vault, as a resource id or a dict with the keys C(name) and C(resource_group).
    type: raw
    required: true
  job_id:
    description:
      - Return only this job (its name, a GUID, or its resource id), with its tasks and error details. The other filters
        are then not used.
    type: str
  vm:
    description:
      - Only jobs of this VM, as a resource id, C(group/name) or a dict with the keys C(resource_group) and C(name).
    type: raw
  operation:
    description: Only jobs of this operation.
    type: str
    choices: [Backup, Restore, ConfigureBackup, DisableBackup, DeleteBackupData]
  status:
    description: Only jobs in this status.
    type: str
    choices: [InProgress, Completed, CompletedWithWarnings, Failed, Cancelled, Cancelling]
  start_time:
    description: Only jobs that started at or after this time (ISO 8601, for example V(2026-11-20T00:00:00Z); UTC when no offset is given).
    type: str
  end_time:
    description: Only jobs that started at or before this time (ISO 8601).
    type: str
  details:
    description:
      - Read each listed job's details (tasks, property bag, error details) - one more request per job.
    type: bool
    default: false
  max_jobs:
    description: Return at most this many jobs (the newest).
    type: int
    default: 100
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Failed restores of a VM in the last week
  azure_cvm.backup.backup_job_info:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vm: rg-cvm-kc/cvm-kv-01
    operation: Restore
    status: Failed
    start_time: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(ansible_date_time.epoch | int - 7 * 86400, utc=true) }}"
    details: true
  register: failed_restores

- name: One job with its tasks and error details
  azure_cvm.backup.backup_job_info:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    job_id: "{{ restored.job.name }}"
"""

RETURN = r"""
jobs:
  description: The jobs in the order Azure lists them, newest first (one with O(job_id)).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The job's resource id.
      type: str
    name:
      description: The job id (a GUID).
      type: str
    operation:
      description: C(Backup), C(Restore), C(ConfigureBackup), C(DisableBackup), C(DeleteBackupData), ...
      type: str
      sample: Restore
    status:
      description: C(InProgress), C(Completed), C(CompletedWithWarnings), C(Failed), C(Cancelled), C(Cancelling).
      type: str
      sample: Completed
    entity_friendly_name:
      description: The VM name.
      type: str
    start_time:
      description: When the job started.
      type: str
    end_time:
      description: When the job ended (absent while it runs).
      type: str
    duration:
      description: The job's duration (ISO 8601).
      type: str
    activity_id:
      description: The job's activity id (for Microsoft support).
      type: str
    tasks:
      description: The job's tasks (with O(job_id) or O(details)).
      type: list
      elements: dict
      contains:
        name:
          description: The task, for example C(Take Snapshot) or C(Transfer data to vault).
          type: str
        status:
          description: The task's status.
          type: str
        duration:
          description: The task's duration.
          type: str
    properties:
      description: The job's property bag (with O(job_id) or O(details)), for example C(Recovery point ID) or C(Restored disk(s)).
      type: dict
    error_details:
      description: The job's errors.
      type: list
      elements: dict
      contains:
        code:
          description: The error code Azure gives (a number).
          type: raw
        title:
          description: The error's title (the string code, for example C(UserErrorKeyVaultPermissionsNotConfigured)).
          type: str
        message:
          description: The error text.
          type: str
        recommendations:
          description: What Azure recommends.
          type: list
          elements: str
filter:
  description: The C($filter) sent with the list (null with O(job_id)).
  returned: always
  type: str
  sample: operation eq 'Restore' and backupManagementType eq 'AzureIaasVM'
"""

from datetime import datetime, timezone

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ModuleFailure(f"{name}: '{value}' is not an ISO 8601 time such as 2026-11-20T00:00:00Z.") from exc
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)  # naive: UTC


def run(m) -> dict:
    p = m.params
    try:
        vault = arm_ids.parse_vault_ref(p["vault"], m.subscription_id)
        vm = arm_ids.parse_vm_target(p["vm"], m.subscription_id) if p["vm"] else None
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    if p["job_id"]:
        return {"jobs": [restore_rules.describe_job(service.job_details(m, vault, arm_ids.name_of(p["job_id"])))], "filter": None}
    start, end = parse_time("start_time", p["start_time"]), parse_time("end_time", p["end_time"])
    if start and end and start > end:
        raise ModuleFailure("start_time is after end_time.")
    if p["max_jobs"] < 1:
        raise ModuleFailure("max_jobs must be 1 or more.")
    text = restore_rules.jobs_filter(operation=p["operation"], status=p["status"], start=start, end=end)
    jobs = []
    try:
        for job in m.client("backup").backup_jobs.list(vault["name"], vault["resource_group"], filter=text):
            job = rest_dict(job)
            if vm is None or restore_rules.job_is_for_vm(job, vm["name"], vm["resource_group"]):
                jobs.append(job)
                if len(jobs) >= p["max_jobs"]:
                    break
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "list backup jobs", f"vault {vault['name']}")
    if p["details"]:
        jobs = [service.job_details(m, vault, job["name"]) for job in jobs]
    return {"jobs": [restore_rules.describe_job(job) for job in jobs], "filter": text}


def main():
    argument_spec = {
        "vault": {"type": "raw", "required": True},
        "job_id": {"type": "str"},
        "vm": {"type": "raw"},
        "operation": {"type": "str", "choices": ["Backup", "Restore", "ConfigureBackup", "DisableBackup", "DeleteBackupData"]},
        "status": {"type": "str", "choices": ["InProgress", "Completed", "CompletedWithWarnings", "Failed", "Cancelled", "Cancelling"]},
        "start_time": {"type": "str"},
        "end_time": {"type": "str"},
        "details": {"type": "bool", "default": False},
        "max_jobs": {"type": "int", "default": 100},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"job_id": "azure_assigned_or_id"}).execute(run)


if __name__ == "__main__":
    main()
