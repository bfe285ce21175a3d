#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_local_tvm_review
short_description: Judge the facts gathered on an Azure Local host for a Trusted launch VM backup or restore
version_added: 0.1.0
description:
  - The decisions of the role C(azure_cvm.backup.azure_local_tvm), made on the controller from the JSON facts its
    host script reports. Every input is optional; each one given is judged.
  - O(release) and O(detected_version) choose the documented key backup procedure, V(backup_utils) (Azure Local
    2505 and later, C(TvmBackupUtils.psm1)) or V(moc_key) (earlier releases, C(New-MocKey) / C(Export-MocKey) /
    C(Import-MocKey)). With O(backup_procedure) (a restore) the procedure is the backup's, and the module fails when
    the target cannot run it (a folder restore needs 2505 or later and the MOC versions of O(moc_versions)).
  - O(locations) checks that every place holding VM files or key material is restricted to host administrators
    (fails unless O(acl_warn_only)); a location that could not be reached or read fails too.
  - O(migration) and O(ipsec_rules) warn about live-migration networks that no encrypting IPsec rule covers, with the
    documented recommendation.
  - O(source_vms) with O(backup_vms) checks that a VM files backup holds the configuration, the guest state
    (C(.vmgs)), the runtime state (C(.vmrs)) the VM has and every virtual disk; O(vm_ids) with O(key_backup_files)
    checks that a key backup holds the guest state protection key of every VM. Both fail when something is missing.
  - O(import_log) judges a key import; see the option.
  - Never connects anywhere; run it on the controller.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  release:
    description: The Azure Local release asked for (V(auto), or for example V(2505) or V(10.2411.3.12)).
    type: str
  detected_version:
    description: The version the host reported, used when O(release) is V(auto).
    type: str
  backup_procedure:
    description:
      - For a restore, the key procedure recorded in the backup's manifest (V(backup_utils) or V(moc_key)). Needs
        O(release).
    type: str
  moc_versions:
    description:
      - The target's C((Get-MocConfig).version) and C(.moduleVersion) as C(version) and C(module_version), checked for
        a V(backup_utils) restore against the minimums of C(TvmBackupUtils.psm1).
    type: dict
  locations:
    description:
      - VM files and key material locations as the host facts report them, each a dict with C(path), C(kind),
        C(reachable), C(error), C(owner_sid), C(aces) (a list of dicts with C(sid), C(identity), C(type) (V(Allow) or
        V(Deny)) and C(rights)), C(share) (the same for the share of a UNC path, or null) and C(computer_sids).
    type: list
    elements: dict
  extra_allowed_sids:
    description: SIDs besides the host administrators that may access the VM files (for example a cluster account).
    type: list
    elements: str
    default: []
  acl_warn_only:
    description: Warn instead of failing when a location is open to others than host administrators or cannot be read.
    type: bool
    default: false
  migration:
    description:
      - The live-migration facts of the host, a dict with C(cluster) (bool), C(cluster_networks) (dicts with C(id),
        C(address), C(mask), C(role)), C(exclude_networks) and C(nodes) (dicts with C(use_any_network) and C(networks)).
    type: dict
  ipsec_rules:
    description:
      - IPsec rules, each a dict with C(name), C(enabled), C(remote) (a list of addresses) and C(proposals) (the
        quick-mode proposals, dicts with C(encapsulation) and C(encryption)). Only rules that encrypt count.
    type: list
    elements: dict
  source_vms:
    description: The VMs of the host facts, each a dict with C(name), C(files) and C(disks).
    type: list
    elements: dict
  backup_vms:
    description: The exported VMs, each a dict with C(name) and C(files) (the files of the export).
    type: list
    elements: dict
  vm_ids:
    description: The VM IDs whose guest state protection key must be in the key backup.
    type: list
    elements: str
  key_backup_files:
    description: The relative paths of the files of a C(Backup-TVMKeys) backup folder (C(AES/<name>_<size>.json)).
    type: list
    elements: str
  wrapping_key_name:
    description: For a restore, the name of the wrapping key to import; it must not be the name of a key in the backup.
    type: str
  import_log:
    description:
      - The output of a key import (C(Import-TVMKeys) or C(Import-MocKey)). Import errors fail, except
        C(InvalidVersion) (a key of that name is in the vault already) for keys that are not in O(restored_vm_ids).
        C(InvalidVersion) for a restored VM's own key fails unless O(allow_existing_vm_keys), with the documented
        C(Remove-MocKey) remedy; for C(AzureStackTvmAKRootKey) when not O(same_instance) it warns.
    type: list
    elements: str
  restored_vm_ids:
    description: The IDs of the VMs whose keys this import restores.
    type: list
    elements: str
  allow_existing_vm_keys:
    description: Accept a restored VM's key that was already in the vault (only when you know it is the VM's own).
    type: bool
    default: false
  same_instance:
    description: The restore goes to the Azure Local instance the backup came from.
    type: bool
    default: true
  restore_to_other_instance:
    description: Warn that a VM restored on another Azure Local system is no longer manageable through Azure.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Never changes anything.
  diff_mode:
    support: none
    description: Nothing to compare; it changes nothing.
"""

EXAMPLES = r"""
- name: Which key procedure applies to this host?
  azure_cvm.backup.azure_local_tvm_review:
    release: auto
    detected_version: "{{ host_facts.solution_version }}"
  delegate_to: localhost
  register: review

- name: Can this host restore a backup made with Backup-TVMKeys?
  azure_cvm.backup.azure_local_tvm_review:
    release: auto
    detected_version: "{{ host_facts.solution_version }}"
    backup_procedure: backup_utils
    moc_versions: "{{ host_facts.moc }}"
  delegate_to: localhost
"""

RETURN = r"""
release:
  description: The Azure Local release (YYMM) used. Only with O(release).
  returned: when O(release) is given
  type: int
  sample: 2505
procedure:
  description: V(backup_utils) or V(moc_key); with O(backup_procedure), the procedure of the restore.
  returned: when O(release) is given
  type: str
  sample: backup_utils
release_source:
  description: V(variable) or V(detected). Only with O(release).
  returned: when O(release) is given
  type: str
acl_findings:
  description: Locations open to others than host administrators, or that could not be checked (each with C(msg)).
  returned: always
  type: list
  elements: dict
live_migration_findings:
  description: Live-migration networks no encrypting IPsec rule covers, with the recommendation.
  returned: always
  type: list
  elements: dict
vm_files_findings:
  description: What VM files backups lack (each with C(vm) and C(msg)).
  returned: always
  type: list
  elements: dict
key_backup_findings:
  description: VM keys missing from the key backup, or a wrapping key name that clashes with one of its keys.
  returned: always
  type: list
  elements: dict
import_findings:
  description: Key import errors (each with C(key), C(fatal) and C(msg)).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.azure_cvm.backup.plugins.module_utils import azure_local_tvm as tvm


def review(p: dict) -> tuple[dict, list, list]:
    """(result, warnings, errors) for the inputs given."""
    result = {"acl_findings": [], "live_migration_findings": [], "vm_files_findings": [], "key_backup_findings": [],
              "import_findings": tvm.import_findings(p["import_log"], p["restored_vm_ids"], p["allow_existing_vm_keys"],
                                                     p["same_instance"])}
    warnings, errors = [], []
    if p["release"] is not None:
        try:
            chosen = tvm.choose_procedure(p["release"], p["detected_version"])
            if p["backup_procedure"] is not None:
                chosen["procedure"] = tvm.restore_procedure(p["backup_procedure"], chosen["release"], p["moc_versions"])
        except ValueError as exc:
            errors.append(str(exc))
        else:
            result.update(release=chosen["release"], procedure=chosen["procedure"], release_source=chosen["source"])
    if p["locations"] is not None:
        result["acl_findings"] = tvm.acl_findings(p["locations"], p["extra_allowed_sids"])
        (warnings if p["acl_warn_only"] else errors).extend(f["msg"] for f in result["acl_findings"])
    if p["migration"] is not None:
        result["live_migration_findings"] = tvm.live_migration_findings(p["migration"], p["ipsec_rules"])
        warnings.extend(f["msg"] for f in result["live_migration_findings"])
    if p["backup_vms"] is not None:
        result["vm_files_findings"] = tvm.vm_files_findings(p["source_vms"], p["backup_vms"])
    if p["vm_ids"] is not None:
        result["key_backup_findings"] = tvm.key_backup_findings(p["vm_ids"], p["key_backup_files"], p["wrapping_key_name"])
    errors.extend(f["msg"] for f in result["vm_files_findings"] + result["key_backup_findings"])
    for finding in result["import_findings"]:
        (errors if finding["fatal"] else warnings).append(finding["msg"])
    if p["restore_to_other_instance"]:
        warnings.append(tvm.OTHER_INSTANCE_WARNING)
    return result, warnings, errors


def main():
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str"},
            "detected_version": {"type": "str"},
            "backup_procedure": {"type": "str"},
            "moc_versions": {"type": "dict"},
            "locations": {"type": "list", "elements": "dict"},
            "extra_allowed_sids": {"type": "list", "elements": "str", "default": []},
            "acl_warn_only": {"type": "bool", "default": False},
            "migration": {"type": "dict"},
            "ipsec_rules": {"type": "list", "elements": "dict"},
            "source_vms": {"type": "list", "elements": "dict"},
            "backup_vms": {"type": "list", "elements": "dict"},
            "vm_ids": {"type": "list", "elements": "str"},
            "key_backup_files": {"type": "list", "elements": "str", "no_log": False},
            "wrapping_key_name": {"type": "str", "no_log": False},
            "import_log": {"type": "list", "elements": "str"},
            "restored_vm_ids": {"type": "list", "elements": "str"},
            "allow_existing_vm_keys": {"type": "bool", "default": False, "no_log": False},
            "same_instance": {"type": "bool", "default": True},
            "restore_to_other_instance": {"type": "bool", "default": False},
        },
        required_by={"backup_procedure": "release"},
        supports_check_mode=True,
    )
    result, warnings, errors = review(module.params)
    for warning in warnings:
        module.warn(warning)
    if errors:
        module.fail_json(msg=" ".join(errors), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
