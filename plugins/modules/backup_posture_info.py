#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_posture_info
short_description: Whether every confidential VM is really recoverable - protection, last backups, keys, DES, vaults
version_added: 0.2.0
description:
  - Reads the backup posture of confidential VMs (CVMs) in one or more subscriptions and gives each a verdict with its
    reasons, plus a summary of the estate. Read-only; never writes.
  - "Per VM: whether it is protected (vault, policy), the last backup's time and age against the policy's schedule
     (RPO), the newest Backup job with its error code and Azure's recommendations, the newest recovery point and its
     tiers, the customer-managed key's state (enabled, expiry, days left) and whether the Backup Management Service may
     back it up (Key Vault access policy, Azure role at the key or above, or Managed HSM local RBAC role on the key),
     the disks of its disk encryption set (DES) against the threshold, and the vault's soft delete, immutability and
     cross-region restore."
  - "Verdicts, the worst reason decides: C(unprotected) (C(not_protected)); C(failing) (C(last_job_failed),
     C(key_access_missing), C(key_disabled), C(key_expired), C(key_missing), C(blocking_feature_registered)); C(at_risk)
     (C(key_expires_soon), C(rpo_missed), C(no_backup_yet), C(des_over_threshold), C(soft_delete_off),
     C(immutability_off), C(cross_region_restore_on), C(feature_not_registered), C(key_access_unknown),
     C(key_unreadable), C(des_unreadable)); C(healthy) without reasons."
  - "The reads are list calls: per subscription one VM list (or one per resource group), one vault list and the
     feature reads; per vault its protected items, its policies and its Backup jobs since O(job_lookback_days); per DES
     one read and one list of its associated resources; per Key Vault or Managed HSM one key list and its access
     (access policies, or role assignments and definitions). Only the recovery points are one list per protected VM
     (Azure has no list of them per vault); O(include_recovery_points=false) leaves them out. RV(requests) says how
     many requests were made."
  - Reading the keys needs the signed-in principal to list keys (Key Vault access policy C(list), an Azure role with
    C(Microsoft.KeyVault/vaults/keys/read), or on a Managed HSM a local role with C(keys/read/action) such as
    C(Managed HSM Crypto Auditor) - C(Managed HSM Administrator) alone cannot read keys); without it the key's state is
    reported as unreadable (C(key_unreadable)), not as a failure of the module.
  - Key attributes are those of the key's current version (the key list); a DES that still uses an older version
    after a rotation shows the newer version's expiry.
  - Only confidential VMs are reported (security type C(ConfidentialVM)); other VMs of a group or subscription are left
    out, and a named VM that is not found fails the module.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vms:
    description:
      - The VMs to report, each a VM resource id, a C(resource_group/name) string (in O(subscription_id)) or a dict with
        the keys C(resource_group) and C(name). A resource id may name any subscription.
      - With O(resource_groups) too, both are reported. Without either, every confidential VM of the subscriptions.
    type: list
    elements: raw
  resource_groups:
    description: Report every confidential VM of these resource groups, in each subscription read (a group must exist in at least one).
    type: list
    elements: str
  subscription_ids:
    description:
      - The subscriptions to read, all with the same credential. Default O(subscription_id) (or AZURE_SUBSCRIPTION_ID).
      - With O(vms) alone, the subscriptions of the VMs are read.
    type: list
    elements: str
  vaults:
    description: Only these Recovery Services vaults (names or resource ids); VMs protected elsewhere show as unprotected.
    type: list
    elements: str
  key_expiry_warning_days:
    description: A key that expires within this many days makes the VM C(at_risk) (C(key_expires_soon)).
    type: int
    default: 30
  rpo_grace_hours:
    description:
      - Hours a last backup may be older than the policy's schedule (daily 24, weekly 168, hourly its interval) before
        the RPO counts as missed (C(rpo_missed)), for the backup window and the job's duration.
    type: float
    default: 4
  job_lookback_days:
    description: The Backup jobs of the last this many days are read to find each VM's newest job.
    type: int
    default: 7
  include_recovery_points:
    description: Read each protected VM's recovery points (one list per VM) for RV(vms[].latest_recovery_point).
    type: bool
    default: true
  des_disk_threshold:
    description: The disks (plus snapshots taken outside Azure Backup) one DES may have before C(des_over_threshold).
    type: int
    default: 40
  blocking_features:
    description: Features (C(Namespace/FeatureName)) whose registration makes confidential VM backup fail.
    type: list
    elements: str
    default: []
  backup_management_service_object_id:
    description:
      - The object id of the Backup Management Service in your tenant, to check its key access. Without it, it is
        looked up in Microsoft Graph (module M(azure_cvm.backup.backup_management_service_info)); when that fails the
        access is reported as unknown (C(key_access_unknown)).
    type: str
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: The backup posture of every confidential VM of the subscription
  azure_cvm.backup.backup_posture_info:
  register: posture

- name: Show what is not healthy
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.verdict }} - {{ item.reasons | map(attribute='message') | join(' ') }}"
  loop: "{{ posture.vms | rejectattr('verdict', 'equalto', 'healthy') }}"
  loop_control:
    label: "{{ item.name }}"

- name: Two resource groups, keys expiring within 60 days flagged, without the recovery point lists
  azure_cvm.backup.backup_posture_info:
    resource_groups: [rg-cvm-kc, rg-cvm-uae]
    key_expiry_warning_days: 60
    include_recovery_points: false
    backup_management_service_object_id: "{{ backup_management_service_object_id | default(omit, true) }}"

- name: Named VMs, one of them by resource id
  azure_cvm.backup.backup_posture_info:
    vms:
      - rg-cvm-kc/cvm-kv-01
      - /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-uae/providers/Microsoft.Compute/virtualMachines/cvm-hsm-01
"""

RETURN = r"""
generated_at:
  description: When the posture was read (UTC, ISO 8601).
  returned: always
  type: str
  sample: "2026-12-01T17:00:00Z"
subscriptions:
  description: One entry per subscription read.
  returned: always
  type: list
  elements: dict
  contains:
    subscription_id: {description: The subscription id., type: str}
    preview_feature:
      description: State of C(Microsoft.Compute/RestorePointSupportForConfidentialVMV2) (C(Unknown) when unreadable).
      type: str
      sample: Registered
    blocking_features: {description: The O(blocking_features) that are registered., type: list, elements: str}
    problems: {description: One sentence per subscription problem., type: list, elements: str}
summary:
  description: Counts of the VMs by verdict.
  returned: always
  type: dict
  contains:
    total: {description: All VMs reported., type: int}
    healthy: {description: VMs without reasons., type: int}
    at_risk: {description: VMs whose worst reason is at_risk., type: int}
    failing: {description: VMs whose worst reason is failing., type: int}
    unprotected: {description: VMs not protected., type: int}
vms:
  description: One entry per confidential VM, sorted by subscription, resource group and name.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: The VM resource id., type: str}
    name: {description: The VM name., type: str}
    resource_group: {description: The VM's resource group., type: str}
    subscription_id: {description: The VM's subscription., type: str}
    region: {description: The VM's region., type: str, sample: koreacentral}
    verdict: {description: "C(healthy), C(at_risk), C(failing) or C(unprotected).", type: str}
    reasons:
      description: Why the verdict is not healthy (empty for healthy VMs).
      type: list
      elements: dict
      contains:
        code: {description: A stable snake_case code (see the description)., type: str, sample: key_expires_soon}
        severity: {description: "C(at_risk), C(failing) or C(unprotected).", type: str}
        message: {description: One sentence., type: str}
    protection:
      description: Where the VM is protected.
      type: dict
      contains:
        protected: {description: Protected and not stopped., type: bool}
        vault_id: {description: The vault's resource id (null if unprotected)., type: str}
        vault_name: {description: The vault's name., type: str}
        policy_id: {description: The backup policy's resource id., type: str}
        policy_name: {description: The backup policy's name., type: str}
        protection_state: {description: "The item's protectionState (C(Protected), C(IRPending), ...).", type: str}
        health_status: {description: The item's healthStatus., type: str}
    last_backup:
      description: The last backup against the policy's schedule (null if unprotected).
      type: dict
      contains:
        time: {description: lastBackupTime (UTC)., type: str}
        age_hours: {description: Its age in hours., type: float}
        rpo_hours: {description: The policy's schedule in hours., type: float}
        rpo_met: {description: Whether the age is within rpo_hours plus O(rpo_grace_hours)., type: bool}
        status: {description: lastBackupStatus., type: str}
    last_job:
      description: The newest Backup job of the VM in the last O(job_lookback_days) (null if none).
      type: dict
      contains:
        name: {description: The job id., type: str}
        status: {description: The job status., type: str, sample: Failed}
        start_time: {description: Start (UTC)., type: str}
        end_time: {description: End (UTC)., type: str}
        error_code: {description: The first error's code., type: str, sample: UserErrorKeyVaultPermissionsNotConfigured (400230)}
        error_message: {description: The first error's text., type: str}
        recommendations: {description: Azure's recommendations., type: list, elements: str}
    latest_recovery_point:
      description: The newest recovery point (null if none, or without O(include_recovery_points)).
      type: dict
      contains:
        name: {description: The recovery point name., type: str}
        time: {description: Its time (UTC)., type: str}
        tiers: {description: Its valid tiers., type: list, elements: str, sample: [InstantRP, HardenedRP]}
    key:
      description: The customer-managed key of the VM's DES (null for platform-managed keys).
      type: dict
      contains:
        store_type: {description: "C(key_vault) or C(managed_hsm).", type: str}
        key_url: {description: The DES's key URL., type: str}
        enabled: {description: Whether the key is enabled (null when unreadable)., type: bool}
        expires: {description: "Its expiry (UTC); null without expiry.", type: str}
        days_left: {description: Whole days to the expiry (negative when expired)., type: int}
        backup_access: {description: Whether the Backup Management Service may back up the key (null when unknown)., type: bool}
        exists: {description: False when the key is not in its store (only then present)., type: bool, returned: when the key is missing}
        problems: {description: What of the key or its access could not be read (one sentence each)., type: list, elements: str}
    disk_encryption_set:
      description: The VM's DES against the threshold (null without DES).
      type: dict
      contains:
        id: {description: The DES resource id., type: str}
        disk_count: {description: Disks associated with the DES., type: int}
        snapshot_count: {description: Snapshots associated with the DES (taken outside Azure Backup)., type: int}
        threshold: {description: O(des_disk_threshold) lowered by the snapshots., type: int}
        over_threshold: {description: Disks plus snapshots over O(des_disk_threshold)., type: bool}
        message: {description: The threshold check's sentence., type: str}
    vault:
      description: The settings of the VM's vault, or for an unprotected VM of a vault in its region (null if none).
      type: dict
      contains:
        id: {description: The vault's resource id., type: str}
        name: {description: The vault's name., type: str}
        soft_delete: {description: "C(Enabled), C(AlwaysON) or C(Disabled).", type: str}
        immutability: {description: "C(Disabled), C(Unlocked) or C(Locked).", type: str}
        cross_region_restore: {description: Whether cross-region restore is on., type: bool}
requests:
  description: The requests the module sent to Azure (each attempt once), to show that the cost does not grow per VM.
  returned: always
  type: int
  sample: 31
"""

from datetime import datetime, timedelta, timezone

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka
from ansible_collections.azure_cvm.backup.plugins.module_utils import posture
from ansible_collections.azure_cvm.backup.plugins.module_utils import posture_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import validate_options


def parse_params(params: dict, default_sub: str) -> dict:
    """Targets by subscription and the subscriptions to read; ModuleFailure before any request otherwise."""
    for option, least in (("key_expiry_warning_days", 0), ("rpo_grace_hours", 0), ("job_lookback_days", 1)):
        if params[option] < least:
            raise ModuleFailure(f"{option} must be {least} or more, got {params[option]}.")
    oid = params["backup_management_service_object_id"]
    if oid and not ka.is_guid(oid):
        raise ModuleFailure(f"backup_management_service_object_id '{oid}' is not an object id (a GUID).")
    validate_options(params)
    targets = {}
    try:
        for item in params["vms"] or []:
            target = arm_ids.parse_vm_target(item, default_sub)
            targets.setdefault(target["subscription_id"].lower(), []).append(target)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    subs = list(params["subscription_ids"] or [])
    if not subs:
        subs = [default_sub] if params["resource_groups"] or not targets else []
    for sub in targets:
        if sub not in [s.lower() for s in subs]:
            subs.append(next(t["subscription_id"] for t in targets[sub]))
    seen, ordered = set(), []
    for sub in subs:
        if sub.lower() not in seen:
            seen.add(sub.lower())
            ordered.append(sub)
    return {"subscriptions": ordered, "targets": targets}


def read_subscription(m, params: dict, now, keys, targets: list, bms) -> tuple:
    """(subscription entry, VM records, resource groups found) of one subscription."""
    sub = posture.Subscription(m, params, now, keys)
    vms = sub.vms(targets) if targets else []
    found_groups = set()
    if params["resource_groups"] or not params["vms"]:
        grouped = sub.vms([])
        found_groups = {(arm_ids.group_of(v["id"]) or "").lower() for v in grouped}
        for rg in params["resource_groups"] or []:
            if sub.reader.vms_of_group(rg)[0] is not None:
                found_groups.add(rg.lower())
        vms += [v for v in grouped if v["id"].lower() not in {x["id"].lower() for x in vms}]
    entry = sub.prerequisites()
    if not vms:
        return entry, [], found_groups
    vaults = sub.vaults()
    contents = [sub.vault_contents(v, now - timedelta(days=params["job_lookback_days"])) for v in vaults]
    protected = posture.protected_by_vm(contents)
    if bms[0] is None and bms[1] is None and any(cvm_rules.vm_facts(v)["key_type"] == "CMK" for v in vms):
        bms[0], bms[1] = posture.backup_management_service(m, params)
    records = [sub.record(vm, protected.get(vm["id"].lower()),
                          posture.vault_in_region(vaults, cvm_rules.vm_facts(vm)["region"]), bms[0], bms[1], entry)
               for vm in vms]
    return entry, records, found_groups


def run(m) -> dict:
    params = m.params
    parsed = parse_params(params, m.subscription_id)
    now = datetime.now(timezone.utc)
    keys = posture.KeyStores()
    bms = [None, None]  # (object id, why unknown), looked up once when a VM has a customer-managed key
    subscriptions, records, groups = [], [], set()
    for sub in parsed["subscriptions"]:
        view = posture.for_subscription(m, sub)
        entry, found, seen = read_subscription(view, params, now, keys, parsed["targets"].get(sub.lower(), []), bms)
        subscriptions.append(entry)
        records += found
        groups |= seen
    missing = [rg for rg in params["resource_groups"] or [] if rg.lower() not in groups]
    if missing:
        raise ModuleFailure(f"Resource group(s) {', '.join(missing)} not found in subscription(s) {', '.join(parsed['subscriptions'])}.")
    records.sort(key=lambda r: (r["subscription_id"].lower(), r["resource_group"].lower(), r["name"].lower()))
    return {"changed": False, "generated_at": rules.iso(now), "subscriptions": subscriptions,
            "summary": rules.summary(records), "vms": records, "requests": m.retry_counter.requests}


def main():
    argument_spec = {
        "vms": {"type": "list", "elements": "raw"},
        "resource_groups": {"type": "list", "elements": "str"},
        "subscription_ids": {"type": "list", "elements": "str"},
        "vaults": {"type": "list", "elements": "str"},
        "key_expiry_warning_days": {"type": "int", "default": 30, "no_log": False},
        "rpo_grace_hours": {"type": "float", "default": 4},
        "job_lookback_days": {"type": "int", "default": 7},
        "include_recovery_points": {"type": "bool", "default": True},
        "des_disk_threshold": {"type": "int", "default": 40},
        "blocking_features": {"type": "list", "elements": "str", "default": []},
        "backup_management_service_object_id": {"type": "str"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"resource_groups": "resource_group", "subscription_ids": "subscription", "vaults": "vault_or_id"}).execute(run)


if __name__ == "__main__":
    main()
