#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cvm_protection
short_description: Enable, change, stop or remove Azure Backup protection of confidential VMs, one or a fleet
version_added: 0.1.0
description:
  - Makes sure confidential VMs (CVMs) are protected by a Recovery Services vault with a backup policy
    (O(state=protected)), have protection stopped with their backup data retained (O(state=stopped)), or have
    protection stopped and their backup data deleted (O(state=absent), only with O(confirm_delete_backup_data=true)).
  - "Idempotent: a VM already protected with the same policy gets no write; with another policy, its policy is
    changed; a stopped VM is resumed. A second run reports C(changed: false) and sends no write."
  - "Before any write the readiness checks of M(azure_cvm.backup.cvm_readiness_info) run for the VMs to protect and
    fail the module on a blocker (unless O(skip_readiness=true)): the VM is a CVM, its size is in a supported v6 family,
    its region is supported, its OS disk has confidential encryption, its key is a PMK or a CMK in a confidential DES,
    the preview feature C(Microsoft.Compute/RestorePointSupportForConfidentialVMV2) is C(Registered), no blocking
    feature is registered and a crash-consistent-only policy is not used for a CVM with data disks. The vault must be
    in the VM's region: this one is checked even with O(skip_readiness=true), since Azure refuses it anyway."
  - "Fleet cost: the vault's protected items are listed once (paged) instead of one read per VM; VMs are read with one
    list per resource group; the vault's protectable items are listed once, and its containers are refreshed (one
    POST, then its operation result) only when a VM to protect is not discoverable yet. Writes (one per VM that
    changes) run O(concurrency) at a time, and the long operations are followed in rounds: one list of protected
    items per round, and the operation status of a VM only when the list cannot tell."
  - "Protection in another vault: the target vault's lists do not show it. When a VM to protect is still not
    discoverable after the refresh, the module asks Azure Backup's C(backupStatus) API (the one the portal uses: a
    POST that only reads) for that VM, and fails naming the vault that protects it. In check mode no refresh and no
    C(backupStatus) call is made (both are POSTs); such VMs are reported as to be protected, with a warning."
  - "Check mode with O(vms) plans even when the vault or the policy does not exist yet (an earlier task of the same
    run would create them): every VM is reported with C(action: protect) and the policy id the policy will have, with
    a warning; a real run fails instead, before any write."
  - "O(backup_now=true) takes the B(first) backup of every VM that has none yet (and no backup job running), keeps
    it O(backup_retention_days) days and waits for the backup jobs (one jobs list per round). VMs that already have a
    backup are not backed up again, so a second run stays unchanged."
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vault:
    description: The Recovery Services vault, as a resource id or a dict with the keys C(name) and C(resource_group).
    type: raw
    required: true
  policy:
    description: The name of the vault's Azure VM backup policy (see azure_cvm.backup.backup_policy). Required for
      O(state=protected).
    type: str
  vms:
    description:
      - The VMs, each a VM resource id, a C(resource_group/name) string or a dict with the keys C(resource_group) and
        C(name). Mutually exclusive with O(resource_groups).
    type: list
    elements: raw
  resource_groups:
    description:
      - Every confidential VM in the vault's region of these resource groups. VMs that are not CVMs or are in another
        region are left out and listed in RV(excluded). Mutually exclusive with O(vms).
    type: list
    elements: str
    aliases: [resource_group]
  state:
    description:
      - V(protected) protects (or changes the policy of, or resumes) the VMs; V(stopped) stops protection and keeps
        the backup data; V(absent) stops protection and deletes the backup data (soft delete of the vault applies).
    type: str
    choices: [protected, stopped, absent]
    default: protected
  confirm_delete_backup_data:
    description: Must be V(true) for O(state=absent), which deletes the VMs' backup data.
    type: bool
    default: false
  skip_readiness:
    description: Skip the readiness checks (the vault region check still runs).
    type: bool
    default: false
  assume_feature_registered:
    description:
      - Count the preview feature C(RestorePointSupportForConfidentialVMV2) as registered when it is not registered
        yet, for a plan in check mode in which an earlier task registers it (the role C(azure_cvm.backup.protect)
        passes what C(azure_cvm.backup.prerequisites) decided). The other readiness checks still run. A C(Pending)
        feature, which needs approval, is never counted as registered.
    type: bool
    default: false
  backup_now:
    description: Take a first backup of each VM that has none yet, and wait for its job (with O(wait)).
    type: bool
    default: false
  backup_retention_days:
    description: Days the O(backup_now) recovery point is kept.
    type: int
    default: 30
  concurrency:
    description: How many writes and status reads run at the same time (1-64). Fewer writes run at once when Azure says
      the subscription's write budget runs low (see RV(throttle)).
    type: int
    default: 8
  wait:
    description: Wait until every change has taken effect (and the O(backup_now) jobs have finished).
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most for all VMs together (and again for the backup jobs).
    type: int
    default: 1800
  progress_file:
    description:
      - A file the module keeps up to date while it runs with how far it is, as JSON with the keys C(step), C(done) and
        C(total) (for example C(writes sent), 120, 300), for a play that runs the module with C(async) and shows a
        status line per poll (the role C(azure_cvm.backup.protect) does). The file is replaced whole at each update;
        the module does not delete it. Not written when unset.
    type: path
    version_added: 0.2.0
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.readiness
attributes:
  check_mode:
    support: full
    description: Reads only (no refresh, no backupStatus POST); reports what would change per VM, also for a vault or
      policy still to be created.
  diff_mode:
    support: full
    description: Shows protection state and policy before and after, for the VMs that change.
"""

EXAMPLES = r"""
- name: Protect two CVMs with an Enhanced policy and take their first backup
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    policy: cvm-enhanced-daily
    vms:
      - rg-cvm-kc/cvm-pmk-01
      - {resource_group: rg-cvm-kc, name: cvm-kv-01}
    backup_now: true

- name: Every CVM of the fleet resource groups in the vault's region
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-fleet-koreacentral, resource_group: rg-fleet-backup}
    policy: cvm-enhanced-daily
    resource_groups: [rg-fleet-01, rg-fleet-02, rg-fleet-03, rg-fleet-04, rg-fleet-05]
    concurrency: 16

- name: Stop protection, keep the backup data
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vms: [rg-cvm-kc/cvm-pmk-01]
    state: stopped

- name: Stop protection and delete the backup data
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vms: [rg-cvm-kc/cvm-pmk-01]
    state: absent
    confirm_delete_backup_data: true
"""

RETURN = r"""
vms:
  description: One entry per VM, in the order of O(vms) or in listing order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The VM resource id.
      type: str
    name:
      description: The VM name.
      type: str
      sample: cvm-pmk-01
    resource_group:
      description: The VM's resource group.
      type: str
      sample: rg-cvm-kc
    action:
      description: What was (or in check mode would be) done, one of C(none), C(protect), C(change_policy), C(resume),
        C(stop), C(delete).
      type: str
      sample: protect
    changed:
      description: Whether the VM's protection changed.
      type: bool
    protection_state:
      description: The protection state after the run (C(NotProtected) when there is no backup item).
      type: str
      sample: Protected
    policy:
      description: The backup policy after the run.
      type: str
      sample: cvm-enhanced-daily
    protection_state_before:
      description: The protection state before the run.
      type: str
      sample: NotProtected
    policy_before:
      description: The backup policy before the run.
      type: str
    job_ids:
      description: The ids of the backup jobs this run started for the VM (configure, disable, delete, backup).
      type: list
      elements: str
    backup_job_id:
      description: The job of the O(backup_now) backup, when one was started.
      type: str
    backup_job_status:
      description: That job's status (C(Completed), C(InProgress), C(Failed), ...).
      type: str
    error:
      description: Why the change of this VM failed (only when it did).
      type: str
excluded:
  description: VMs of O(resource_groups) that were left out, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{name: tl-vm-01, resource_group: rg-cvm-kc, reason: not a confidential VM}]
totals:
  description: Counts over RV(vms).
  returned: always
  type: dict
  contains:
    vms:
      description: VMs considered.
      type: int
    changed:
      description: VMs changed.
      type: int
    unchanged:
      description: VMs already as wanted.
      type: int
    failed:
      description: VMs whose change failed.
      type: int
    protect:
      description: VMs newly protected.
      type: int
    change_policy:
      description: VMs moved to another policy.
      type: int
    resume:
      description: VMs whose protection was resumed.
      type: int
    stop:
      description: VMs whose protection was stopped (data retained).
      type: int
    delete:
      description: VMs whose protection and backup data were deleted.
      type: int
    backups:
      description: Backups started with O(backup_now).
      type: int
throttle:
  description:
    - How the writes were paced by the writes Azure said were left in the subscription
      (C(x-ms-ratelimit-remaining-subscription-writes)). Below 100 left, fewer writes run at once; at 5 or fewer, each
      write waits first (1 s, doubling up to 10 s), so the budget refills instead of Azure answering 429.
  returned: when Azure sent the header
  type: dict
  contains:
    min_remaining_writes:
      description: The fewest writes left that Azure reported.
      type: int
    concurrency:
      description: The O(concurrency) asked for.
      type: int
    lowest_concurrency:
      description: The fewest writes allowed at once.
      type: int
    pauses:
      description: How many times a write waited for the budget to refill.
      type: int
    paused_seconds:
      description: The time spent in those waits.
      type: float
retries:
  description: How many answers were retried (throttled or failing answers, dropped connections).
  returned: when there were any
  type: int
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_runner
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import READINESS_ARGSPEC


def run(m) -> dict:
    """Read, decide, check readiness, discover, write, wait, collect jobs, first backup (module_utils/protection_runner)."""
    return protection_runner.run(m)


def main():
    argument_spec = {
        "vault": {"type": "raw", "required": True},
        "policy": {"type": "str"},
        "vms": {"type": "list", "elements": "raw"},
        "resource_groups": {"type": "list", "elements": "str", "aliases": ["resource_group"]},
        "state": {"type": "str", "choices": ["protected", "stopped", "absent"], "default": "protected"},
        "confirm_delete_backup_data": {"type": "bool", "default": False},
        "skip_readiness": {"type": "bool", "default": False},
        "assume_feature_registered": {"type": "bool", "default": False},
        **READINESS_ARGSPEC,
        "backup_now": {"type": "bool", "default": False},
        "backup_retention_days": {"type": "int", "default": 30},
        "concurrency": {"type": "int", "default": 8},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 1800},
        "progress_file": {"type": "path"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"policy": "policy", "resource_groups": "resource_group"},
                   mutually_exclusive=[("vms", "resource_groups")], required_one_of=[("vms", "resource_groups")]).execute(run)


if __name__ == "__main__":
    main()
