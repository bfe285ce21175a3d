#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cvm_readiness_info
short_description: Tell why a confidential VM can or cannot be backed up by Azure Backup, before a backup fails
version_added: 0.1.0
description:
  - Checks confidential VMs (CVMs) against every row of the Azure Backup support matrix for confidential VMs and
    returns, per VM, a verdict, every check with a sentence, the blockers, the warnings and the facts they rest on. Read-only; never writes.
  - Targets are the VMs in O(vms), or every VM of the O(resource_groups), or every VM of the subscription when neither
    is given. VMs that are not confidential VMs are reported with verdict C(not_applicable).
  - O(include_tags), O(exclude_tags), O(exclude_names) and O(exclude_ids) apply to O(vms) too. A VM they leave out is
    read by its listing only, never checked, and is in RV(excluded).
  - "The checks, in this order, each with status V(pass), V(warn), V(fail) or V(n/a):"
  - "C(vm_exists): the VM exists. A missing VM is a blocker of that VM, not a failure of the call."
  - "C(security_type): the VM is a C(ConfidentialVM); otherwise V(n/a) and no further checks."
  - "C(vm_size): the size is in O(supported_size_families); a v5 size fails with \"the v5 series is not supported\"."
  - "C(region): the VM's region is in O(supported_regions)."
  - "C(os_disk_encryption): the OS disk has confidential encryption C(DiskWithVMGuestState); C(VMGuestStateOnly) fails."
  - "C(key): a platform-managed key (PMK), or a customer-managed key (CMK) through a disk encryption set (DES) of type
     C(ConfidentialVmEncryptedWithCustomerKey) whose key is in a Key Vault or a Managed HSM (key name and version)."
  - "C(des_threshold): the disks and snapshots associated with the DES against O(des_disk_threshold) (see below)."
  - "C(restore_point_feature): the preview feature C(Microsoft.Compute/RestorePointSupportForConfidentialVMV2) is
     C(Registered). It and C(blocking_features) are subscription prerequisites, reported once in RV(prerequisites)."
  - "C(blocking_features): none of O(blocking_features) is registered."
  - "C(vault_region): the O(vault) is in the VM's region."
  - "C(vault_cross_region_restore): the O(vault) has cross-region restore disabled; enabled warns, because cross-region
     restore is not supported for CVMs."
  - "C(policy): the O(policy) is an Azure VM policy, and not crash-consistent only when the VM has data disks (multi-disk
     crash-consistent backup is not supported)."
  - "DES threshold rule: with D disks and S snapshots associated with the DES, the check passes when D + S <=
     O(des_disk_threshold) and warns otherwise, saying how many of them are snapshots taken outside Azure Backup and
     how far they lower the safe disk count. It never fails: backups work, the documented risk is that key rotation
     becomes slow or fails. Restore points made by Azure Backup are not counted."
  - "Verdicts: C(ready) (no warning, no blocker), C(ready_with_warnings), C(not_ready) (at least one blocker, or a
     subscription prerequisite the play cannot fix), C(ready_after_prerequisites) (no blocker of its own; ready once
     the preview feature is registered, which the protect play does), C(not_applicable) (not a confidential VM)."
  - "Cost at estate scale: one paged list per resource group (or one paged list of the subscription), one read of each
     distinct DES and one list of its associated resources, one read of each feature, the vault and the policy - never
     one request per VM for shared objects."
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vms:
    description:
      - The VMs to check. Each item is a VM resource id, a C(resource_group/name) string or a dict with the keys
        C(resource_group) and C(name).
      - VMs are read by listing their resource group once, so naming many VMs of one group costs one list.
      - Resource ids must be in the module's subscription (O(subscription_id)).
      - Mutually exclusive with O(resource_groups).
    type: list
    elements: raw
  resource_groups:
    description:
      - Check every VM of these resource groups. A resource group that does not exist fails the module.
      - Mutually exclusive with O(vms). Without both, every VM of the subscription is checked.
    type: list
    elements: str
  vault:
    description:
      - A Recovery Services vault to check against (same region as the VM, cross-region restore disabled).
      - A vault resource id, or a dict with the keys C(name) and C(resource_group).
    type: raw
  policy:
    description:
      - The name of a backup policy of O(vault) to check against (not crash-consistent only for VMs with data disks).
      - Requires O(vault).
    type: str
  assume_feature_registered:
    description:
      - Count the preview feature C(RestorePointSupportForConfidentialVMV2) as registered when it is not registered
        yet, for a plan in check mode in which an earlier task registers it (the role
        C(azure_cvm.backup.prerequisites) sets this). The check passes and says so. A C(Pending) feature, which needs
        approval, is never counted as registered.
    type: bool
    default: false
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.readiness
  - azure_cvm.backup.azure.selection
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Which CVMs of the subscription can be backed up, and why not?
  azure_cvm.backup.cvm_readiness_info:
  register: readiness

- name: Show the blockers
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.blockers }}"
  loop: "{{ readiness.vms | selectattr('verdict', 'equalto', 'not_ready') }}"
  loop_control:
    label: "{{ item.name }}"

- name: Two VMs against the vault and policy they will be protected with
  azure_cvm.backup.cvm_readiness_info:
    vms:
      - rg-cvm-kc/cvm-kv-01
      - {resource_group: rg-cvm-kc, name: cvm-pmk-01}
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    policy: cvm-enhanced-daily

- name: Every VM of two resource groups, with a known opt-out flag and the newer region list
  azure_cvm.backup.cvm_readiness_info:
    resource_groups: [rg-cvm-kc, rg-cvm-uae]
    blocking_features: [Microsoft.Compute/ExampleOptOutFlag]
    supported_regions: [uaenorth, koreacentral, eastus, westeurope]

- name: Fail the play when a VM to protect is not ready
  ansible.builtin.assert:
    that: readiness.summary.not_ready == 0
    fail_msg: "{{ readiness.vms | selectattr('verdict', 'equalto', 'not_ready') | map(attribute='name') | list }}"
"""

RETURN = r"""
excluded:
  description: The VMs that O(include_tags), O(exclude_tags), O(exclude_names) or O(exclude_ids) left out, with why.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: The VM resource id., type: str}
    name: {description: The VM name., type: str}
    resource_group: {description: The VM's resource group., type: str}
    reason: {description: Which filter left it out., type: str, sample: tag backup matches exclude_tags}
vms:
  description: One report per VM, in the order of O(vms), or in listing order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The VM resource id.
      type: str
      sample: /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-kv-01
    name:
      description: The VM name.
      type: str
      sample: cvm-kv-01
    resource_group:
      description: The VM's resource group.
      type: str
      sample: rg-cvm-kc
    verdict:
      description: One of C(ready), C(ready_with_warnings), C(ready_after_prerequisites), C(not_ready), C(not_applicable).
      type: str
      sample: ready
    ready:
      description: Whether Azure Backup can protect the VM as a confidential VM (C(ready) or C(ready_with_warnings)).
      type: bool
      sample: true
    checks:
      description: Every check made, in order.
      type: list
      elements: dict
      contains:
        name:
          description: The check.
          type: str
          sample: vm_size
        status:
          description: One of C(pass), C(warn), C(fail), C(n/a).
          type: str
          sample: pass
        message:
          description: What was found and, when it is not a pass, what to do.
          type: str
          sample: Size Standard_DC4ads_v6 is in the supported v6 family DCadsv6.
    blockers:
      description: The messages of the failed checks.
      type: list
      elements: str
      sample: ["Size Standard_DC4as_v5 (family DCasv5): the v5 series is not supported for confidential VM backup; ..."]
    warnings:
      description: The messages of the checks that warn.
      type: list
      elements: str
      sample: []
    pending:
      description: What a C(ready_after_prerequisites) VM waits for; empty otherwise.
      type: list
      elements: str
      sample: [ready once the preview feature Microsoft.Compute/RestorePointSupportForConfidentialVMV2 is registered]
    facts:
      description: What the checks rest on. Empty for a VM that was not found.
      type: dict
      contains:
        size:
          description: The VM size.
          type: str
          sample: Standard_DC4ads_v6
        region:
          description: The VM's region (ARM location name).
          type: str
          sample: koreacentral
        security_type:
          description: The VM's security type (C(Standard) when not set).
          type: str
          sample: ConfidentialVM
        encryption:
          description: The OS disk's C(securityEncryptionType), or null.
          type: str
          sample: DiskWithVMGuestState
        key_type:
          description: C(PMK) or C(CMK).
          type: str
          sample: CMK
        data_disks:
          description: The number of data disks.
          type: int
          sample: 1
        data_disk_des_ids:
          description: Each data disk's disk encryption set id (null for platform-managed keys), in LUN order.
          type: list
          elements: str
        tags:
          description: The VM's tags (the restore drill selects VMs by a tag).
          type: dict
        des:
          description: The OS disk's disk encryption set (CMK only, else null).
          type: dict
          contains:
            id:
              description: The DES resource id.
              type: str
            name:
              description: The DES name.
              type: str
              sample: des-cvm-kv
            type:
              description: The DES encryption type (null when the DES could not be read).
              type: str
              sample: ConfidentialVmEncryptedWithCustomerKey
            disks:
              description: Disks associated with the DES (null when not listed).
              type: int
              sample: 2
            snapshots:
              description: Snapshots associated with the DES (null when not listed).
              type: int
              sample: 0
        key_location:
          description: Where the DES key lives (CMK only, else null).
          type: dict
          contains:
            kind:
              description: C(key_vault) or C(managed_hsm).
              type: str
              sample: key_vault
            vault:
              description: The Key Vault or Managed HSM name.
              type: str
              sample: kv-cvm-kc
            key_name:
              description: The key name.
              type: str
              sample: cvm-cmk
            key_version:
              description: The key version (null for a versionless key URL).
              type: str
              sample: 8f1e2d3c4b5a69788796a5b4c3d2e1f0
            key_url:
              description: The key URL of the DES's active key.
              type: str
              sample: https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk/8f1e2d3c4b5a69788796a5b4c3d2e1f0
            store_uri:
              description: The URI of the Key Vault or Managed HSM that holds the key.
              type: str
              sample: https://kv-cvm-kc.vault.azure.net/
keys:
  description:
    - The distinct customer-managed keys of the target VMs (from their DES key locations), so that a play grants key
      access once per key. Empty when every VM uses a platform-managed key.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(key_vault) or C(managed_hsm).
      type: str
      sample: managed_hsm
    vault:
      description: The Key Vault or Managed HSM name.
      type: str
      sample: hsm-cvm-uae
    key_name:
      description: The key name.
      type: str
      sample: cvm-hsm-key
    store_uri:
      description: The URI of the Key Vault or Managed HSM that holds the key.
      type: str
      sample: https://hsm-cvm-uae.managedhsm.azure.net/
    vms:
      description: The target VMs (C(group/name)) whose DES uses the key.
      type: list
      elements: str
      sample: [rg-cvm-uae/cvm-hsm-01]
    ready_vms:
      description: Those of these VMs that are ready for confidential VM backup.
      type: list
      elements: str
      sample: [rg-cvm-uae/cvm-hsm-01]
vault_warnings:
  description: Warnings about O(vault) lacking the secure defaults (soft delete, immutability, job-failure alerts).
  returned: always
  type: list
  elements: str
prerequisites:
  description: The subscription prerequisites (checks C(restore_point_feature), C(blocking_features)), once; empty without a CVM.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
      sample: restore_point_feature
    status:
      description: One of C(pass), C(fail), C(n/a).
      type: str
      sample: fail
    message:
      description: What was found and what to do.
      type: str
    fixed_by_play:
      description: Whether the protect play (role C(azure_cvm.backup.prerequisites)) fixes it by registering the feature.
      type: bool
      sample: true
regions:
  description: The distinct regions of the target VMs that were read (ARM location names), sorted.
  returned: always
  type: list
  elements: str
  sample: [koreacentral, uaenorth]
summary:
  description: Counts of the VMs by verdict.
  returned: always
  type: dict
  contains:
    total:
      description: All VMs reported.
      type: int
      sample: 9
    ready:
      description: VMs without blockers or warnings.
      type: int
      sample: 4
    ready_with_warnings:
      description: VMs with warnings only.
      type: int
      sample: 1
    not_ready:
      description: VMs with at least one blocker.
      type: int
      sample: 3
    ready_after_prerequisites:
      description: VMs ready once the preview feature is registered.
      type: int
      sample: 0
    not_applicable:
      description: VMs that are not confidential VMs.
      type: int
      sample: 1
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils import readiness
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import READINESS_ARGSPEC, Reader, vault_warnings
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness_vm import SELECTION_ARGSPEC, parse_params, report, select


def run(m) -> dict:
    params = m.params
    parsed = parse_params(params, m.subscription_id)
    reader = Reader(m)
    kept, excluded = select(readiness.collect(reader, params, parsed["targets"]), params)
    reports = [report(reader, params, parsed["vault"], target, vm, error) for target, vm, error in kept]
    prereqs = next((r["_prerequisites"] for r in reports if r["_prerequisites"]), [])
    reports = [{k: v for k, v in r.items() if k != "_prerequisites"} for r in reports]
    return {"changed": False, "vms": reports, "summary": readiness.report_summary(reports), "prerequisites": prereqs,
            "keys": cvm_rules.distinct_keys(reports), "regions": cvm_rules.distinct_regions(reports),
            "vault_warnings": vault_warnings(reader, parsed["vault"]), "excluded": excluded}


def main():
    argument_spec = {
        "vms": {"type": "list", "elements": "raw"},
        "resource_groups": {"type": "list", "elements": "str"},
        **READINESS_ARGSPEC,
        "assume_feature_registered": {"type": "bool", "default": False},
        "vault": {"type": "raw"},
        "policy": {"type": "str"},
        **SELECTION_ARGSPEC,
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True, names={"resource_groups": "resource_group", "policy": "policy"},
                   mutually_exclusive=[("vms", "resource_groups")], required_by={"policy": "vault"}).execute(run)


if __name__ == "__main__":
    main()
