#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cvm_restore
short_description: Restore a confidential VM from Azure Backup (disks, alternate location or original location)
version_added: 0.1.0
description:
  - Restores a confidential VM (CVM) protected by Azure Backup from one of its recovery points, as managed disks
    (V(restore_disks)), as a new VM (V(alternate_location)) or over the disks of the original VM (V(original_location)),
    and waits for the restore job.
  - The OS disk of a CVM with a customer-managed key is encrypted through a disk encryption set (DES). By default the
    restore uses the original DES and the request carries no C(securedVMDetails); O(os_disk_encryption_set) gives a
    replacement, sent as C(securedVMDetails.securedVMOsDiskEncryptionSetId) (Azure then restores from the vault tier).
  - "Before anything is written, the module applies the documented tier rules: a snapshot-tier (C(InstantRP)) restore
    needs the original DES; with a replacement DES Azure Backup restores from the vault tier (C(HardenedRP)) - the
    result says so in RV(source_tier) and RV(notes) - and the key vault or Managed HSM of that DES must hold the original
    key; a point with only the snapshot tier and a different DES is refused with the reason."
  - It also checks that the recovery point exists, that each DES exists (the OS disk DES with type
    C(ConfidentialVmEncryptedWithCustomerKey)), that the staging storage account is in the VM's region (cross-region
    restore is not supported for CVMs) and that the target resource group exists.
  - "Idempotent on what Azure shows of a Restore job (its C(Job Type), C(Recovery point time), C(Target resource group)
    and C(Target Storage Account Name) properties; Azure does not show the recovery point id or the target VM name): a
    completed restore of the same point time with the same type, staging account and target resource group is
    returned unchanged; for V(alternate_location) also only while the target VM exists and Azure shows it was created
    while that job ran (its C(timeCreated)), since a Restore job does not name the VM it made. A VM at the target that
    no such job can be tied to is a clash: the module fails before any write, even with O(force=true), and asks for
    another O(target_vm_name). A restore job of the VM still running
    is waited for and then compared. When an earlier job that has not failed cannot be told apart from this restore
    (its details lack those properties), the module refuses to start another one unless O(force=true). Failed jobs are
    never reused."
  - When a restore job fails, the message carries the job's error code, Azure's recommendations and what to do next,
    including the documented recovery of a deleted key (restore it from the key backup in the staging storage account,
    create a new DES on it and restore again).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vm:
    description:
      - The protected (source) VM, as a resource id, C(group/name) or a dict with the keys C(resource_group) and C(name).
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
      - The recovery point to restore, by name (see M(azure_cvm.backup.recovery_point_info)) or resource id, or V(latest)
        for the newest point that has a snapshot or vault tier.
    type: str
    default: latest
  restore_type:
    description:
      - V(restore_disks) creates managed disks in O(target_resource_group) (and a template in the staging account).
      - V(alternate_location) creates the VM O(target_vm_name) in O(target_resource_group), on O(virtual_network) / O(subnet).
      - V(original_location) replaces the disks of the original VM, which must still exist; it needs
        O(confirm_overwrite=true).
    type: str
    choices: [restore_disks, alternate_location, original_location]
    default: restore_disks
  staging_storage_account:
    description:
      - The staging storage account, in the VM's region, as a resource id or a name in the VM's resource group.
    type: str
    required: true
  target_resource_group:
    description:
      - The resource group that receives the restored disks or VM. Required for V(restore_disks) and V(alternate_location).
    type: str
  target_vm_name:
    description: The name of the new VM. Required for V(alternate_location).
    type: str
  virtual_network:
    description:
      - The virtual network of the new VM, as a resource id or a name in O(target_resource_group). Required for
        V(alternate_location).
    type: str
  subnet:
    description:
      - The subnet of the new VM, as a resource id or a subnet name of O(virtual_network). Required for V(alternate_location).
    type: str
  os_disk_encryption_set:
    description:
      - The DES for the restored confidential OS disk, as a resource id or a name in the VM's resource group. It must be
        of type C(ConfidentialVmEncryptedWithCustomerKey).
      - Sent as C(securedVMDetails.securedVMOsDiskEncryptionSetId) only when given (as the az CLI does with
        C(--cvm-os-des-id)); by default nothing is sent and Azure Backup restores with the original encryption.
      - Giving a DES makes Azure Backup restore from the vault tier when the point has one (documented for a new DES);
        a different DES needs the original key in that DES's key vault or Managed HSM.
    type: str
  data_disk_encryption_set:
    description:
      - A DES for every restored data disk (C(securedVMDetails.dataDiskEncryptionSettings.dataDiskEncryptionSetId)), as a
        resource id or a name in the VM's resource group. Ignored by Azure when O(data_disk_encryption_sets) is given.
    type: str
  data_disk_encryption_sets:
    description:
      - A DES per data disk LUN (C(securedVMDetails.dataDiskEncryptionSettings.perDiskEncryptionSetIds); Backup API
        2026-07-01 and later).
    type: list
    elements: dict
    suboptions:
      lun:
        description: The data disk's LUN.
        type: int
        required: true
      disk_encryption_set:
        description: The DES, as a resource id or a name in the VM's resource group.
        type: str
        required: true
  confirm_overwrite:
    description:
      - Required (V(true)) for V(original_location), which overwrites the disks of the live VM. Without it the module
        fails before any write; check mode shows the plan without it.
    type: bool
    default: false
  force:
    description:
      - Start a new restore even when an earlier restore of the same point to the same target exists, or an earlier
        Restore job of the VM cannot be told apart from this one. It does not override an existing VM at the
        V(alternate_location) target (Azure cannot restore a new VM over it).
    type: bool
    default: false
  wait:
    description: Wait for the restore job to end. With V(false) the module returns once Azure has accepted the restore.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait for the restore job at most (vault-tier restores can take hours).
    type: int
    default: 7200
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Validates everything (reads only) and returns the request it would send in RV(request).
  diff_mode:
    support: full
    description: Shows the restore that would be started (none before).
notes:
  - "What zone a Restore job's C(Recovery point time) is in is not published: it is read as UTC, and a difference of
    whole quarter hours (up to 14 hours) decides nothing (the module then asks for O(force))."
  - Cross-region restore is not supported for confidential VMs.
  - The key presence check reads the key (keys get) in the replacement DES's key vault or Managed HSM; when the
    signed-in principal may not read it, the check is skipped with a note and Azure decides.
"""

EXAMPLES = r"""
- name: Restore the disks of the newest recovery point with the original encryption
  azure_cvm.backup.cvm_restore:
    vm: rg-cvm-kc/cvm-kv-01
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    staging_storage_account: stcvmrestorekc
    target_resource_group: rg-cvm-kc
  register: restored

- name: Restore a new VM from a chosen point with a replacement disk encryption set (restores from the vault tier)
  azure_cvm.backup.cvm_restore:
    vm: rg-cvm-kc/cvm-kv-01
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    recovery_point: "{{ restored.recovery_point.name }}"
    restore_type: alternate_location
    staging_storage_account: stcvmrestorekc
    target_resource_group: rg-cvm-kc
    target_vm_name: cvm-kv-01-restored
    virtual_network: vnet-cvm-kc
    subnet: default
    os_disk_encryption_set: des-cvm-kv-restore

- name: What would be sent? (check mode validates and returns the request)
  azure_cvm.backup.cvm_restore:
    vm: rg-cvm-kc/cvm-kv-01
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    staging_storage_account: stcvmrestorekc
    target_resource_group: rg-cvm-kc
  check_mode: true
  register: plan

- name: Restore over the original VM (replaces its disks; needs confirm_overwrite)
  azure_cvm.backup.cvm_restore:
    vm: rg-cvm-kc/cvm-kv-01
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    restore_type: original_location
    staging_storage_account: stcvmrestorekc
    confirm_overwrite: true
"""

RETURN = r"""
recovery_point:
  description: The recovery point restored (or that would be).
  returned: always
  type: dict
  contains:
    id:
      description: Its resource id.
      type: str
    name:
      description: Its name.
      type: str
    time:
      description: When it was taken.
      type: str
    tiers:
      description: Its valid tiers (C(snapshot), C(vault), C(archive)).
      type: list
      elements: str
source_tier:
  description: The tier Azure Backup restores from, C(snapshot) or C(vault).
  returned: always
  type: str
  sample: snapshot
os_disk_encryption_set:
  description: The DES of the restored OS disk (null for a VM with a platform-managed key).
  returned: always
  type: str
replacement_des:
  description: Whether O(os_disk_encryption_set) differs from the original DES.
  returned: always
  type: bool
notes:
  description: What the tier rules and checks say about this restore (for example that it comes from the vault tier).
  returned: always
  type: list
  elements: str
request:
  description: The restore request (RestoreRequestResource body) sent, or that would be sent in check mode.
  returned: always
  type: dict
  sample: {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks"}}
reused:
  description: True when an earlier restore job of the same point and target was returned instead of starting one.
  returned: always
  type: bool
job:
  description: The restore job (absent in check mode).
  returned: when a job was started or found
  type: dict
  contains:
    id:
      description: The job's resource id.
      type: str
    name:
      description: The job id.
      type: str
    status:
      description: C(InProgress), C(Completed), C(CompletedWithWarnings), C(Failed), C(Cancelled).
      type: str
    start_time:
      description: When the job started.
      type: str
    end_time:
      description: When the job ended.
      type: str
    properties:
      description: The job's property bag (for example C(Job Type), C(Target Storage Account Name), C(Template Blob Uri)).
      type: dict
restored_blobs:
  description:
    - The staging-account blobs the job's property bag names (null where it names none), as Azure shows them.
  returned: always
  type: dict
  contains:
    storage_account:
      description: C(Target Storage Account Name).
      type: str
    container:
      description: C(Config Blob Container Name).
      type: str
    config_blob:
      description: C(Config Blob Name), the VM configuration.
      type: str
    config_blob_uri:
      description: C(Config Blob Uri).
      type: str
    template_blob_uri:
      description: C(Template Blob Uri), the deployment template of restored disks.
      type: str
    secured_encryption_info_blob:
      description: C(Secured Encryption Info Blob Name), the key backup of a confidential VM.
      type: str
restored_disk_ids:
  description:
    - Found, not reported by Azure (a Restore job names no disks), and only the disks Azure ties to the job (RV(restored_disks)
      with C(matched_by) V(vm) or V(restore_point)) - safe to act on. For V(restore_disks) the target resource group's
      disks created while the job ran from the VM's Azure Backup restore point (OS disk first); for the other types the
      disks of the restored VM. Empty until the job has completed.
  returned: always
  type: list
  elements: str
restored_disks:
  description:
    - Every disk found for the restore and how it is tied to the job; includes disks RV(restored_disk_ids) leaves out.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The disk's resource id.
      type: str
    name:
      description: Its name.
      type: str
    matched_by:
      description:
        - V(vm) - a disk of the restored VM's C(storageProfile); V(restore_point) - created in the target resource group
          while the job ran, from the source VM's Azure Backup restore point (C(creationData.createOption) C(Restore),
          C(sourceResourceId) in the restore point collection C(AzureBackup_<vm>_<n>)); V(time) - only created while
          the job ran (a disk someone else made there meanwhile looks the same, so it is not to be deleted on this).
      type: str
      choices: [vm, restore_point, time]
restored_vm_id:
  description:
    - Found, not reported by Azure - the id of the restored VM (V(alternate_location), V(original_location)) once the
      job has completed and the VM was read.
  returned: always
  type: str
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_runner
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule


def run(m) -> dict:
    """Options, recovery point, checks, an earlier identical restore or a new one, its job (module_utils/restore_runner)."""
    return restore_runner.run(m)


def main():
    argument_spec = {
        "vm": {"type": "raw", "required": True},
        "vault": {"type": "raw", "required": True},
        "recovery_point": {"type": "str", "default": "latest"},
        "restore_type": {"type": "str", "choices": ["restore_disks", "alternate_location", "original_location"],
                         "default": "restore_disks"},
        "staging_storage_account": {"type": "str", "required": True},
        "target_resource_group": {"type": "str"},
        "target_vm_name": {"type": "str"},
        "virtual_network": {"type": "str"},
        "subnet": {"type": "str"},
        "os_disk_encryption_set": {"type": "str"},
        "data_disk_encryption_set": {"type": "str"},
        "data_disk_encryption_sets": {"type": "list", "elements": "dict", "options": {
            "lun": {"type": "int", "required": True},
            "disk_encryption_set": {"type": "str", "required": True},
        }},
        "confirm_overwrite": {"type": "bool", "default": False},
        "force": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 7200},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"recovery_point": "azure_assigned_or_id", "staging_storage_account": "storage_account_or_id",
                          "target_resource_group": "resource_group", "target_vm_name": "vm"}).execute(run)


if __name__ == "__main__":
    main()
