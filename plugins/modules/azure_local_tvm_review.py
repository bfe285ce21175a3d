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
    host scripts report. Every input is optional; each one given is judged.
  - O(release) and O(detected_version) choose the documented key backup procedure, V(backup_utils) (Azure Local
    2505 and later, C(TvmBackupUtils.psm1)) or V(moc_key) (earlier releases, C(New-MocKey) / C(Export-MocKey) /
    C(Import-MocKey)).
  - O(vm_paths) checks that the VM files locations are restricted to host administrators (fails unless
    O(acl_warn_only)).
  - O(migration_networks) and O(ipsec_rules) warn about live-migration networks without IPsec, with the documented
    recommendation.
  - O(source_vms) with O(backup_vms) checks that a VM files backup holds the configuration, the guest state (C(.vmgs)) and, when the VM
    has one, the runtime state (C(.vmrs)); O(vm_ids) with O(key_backup_files) checks that a key backup holds the
    guest state protection key of every VM. Both fail when something is missing.
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
  vm_paths:
    description:
      - VM files locations and their access entries, each a dict with C(path) and C(aces), a list of dicts with C(sid),
        C(identity), C(type) (V(Allow) or V(Deny)) and C(rights).
    type: list
    elements: dict
  extra_allowed_sids:
    description: SIDs besides the host administrators that may access the VM files (for example a cluster account).
    type: list
    elements: str
    default: []
  acl_warn_only:
    description: Warn instead of failing when a VM files location is open to others than host administrators.
    type: bool
    default: false
  migration_networks:
    description: Live-migration subnets of the host (an empty list means any network).
    type: list
    elements: str
  ipsec_rules:
    description: IPsec rules, each a dict with C(name), C(enabled) and C(remote) (a list of addresses).
    type: list
    elements: dict
  source_vms:
    description: The VMs of the host facts, each a dict with C(name) and C(files) (its files in the Hyper-V configuration folder).
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
  import_log:
    description:
      - The output of a key import (C(Import-TVMKeys) or C(Import-MocKey)). Import errors fail, except
        C(InvalidVersion), which means the key is in the vault already and is ignored as documented.
    type: list
    elements: str
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
"""

RETURN = r"""
release:
  description: The Azure Local release (YYMM) used. Only with O(release).
  returned: when O(release) is given
  type: int
  sample: 2505
procedure:
  description: V(backup_utils) or V(moc_key). Only with O(release).
  returned: when O(release) is given
  type: str
  sample: backup_utils
release_source:
  description: V(variable) or V(detected). Only with O(release).
  returned: when O(release) is given
  type: str
acl_findings:
  description: Access entries that open a VM files location to others than host administrators.
  returned: always
  type: list
  elements: dict
live_migration_findings:
  description: Live-migration networks no IPsec rule covers, with the recommendation.
  returned: always
  type: list
  elements: dict
state_file_problems:
  description: What VM files backups lack.
  returned: always
  type: list
  elements: str
missing_vm_keys:
  description: VM IDs whose guest state protection key is not in the key backup.
  returned: always
  type: list
  elements: str
import_failures:
  description: Key import errors other than C(InvalidVersion).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_tvm import (
    OTHER_INSTANCE_WARNING, acl_findings, choose_procedure, import_failures, live_migration_findings, missing_vm_keys,
    vm_files_findings)


def review(p: dict) -> tuple[dict, list, list]:
    """(result, warnings, errors) for the inputs given."""
    result = {"acl_findings": [], "live_migration_findings": [], "state_file_problems": [], "missing_vm_keys": [],
              "import_failures": import_failures(p["import_log"])}
    warnings, errors = [], []
    if p["release"] is not None:
        try:
            chosen = choose_procedure(p["release"], p["detected_version"])
        except ValueError as exc:
            errors.append(str(exc))
        else:
            result.update(release=chosen["release"], procedure=chosen["procedure"], release_source=chosen["source"])
    if p["vm_paths"] is not None:
        result["acl_findings"] = acl_findings(p["vm_paths"], p["extra_allowed_sids"])
        (warnings if p["acl_warn_only"] else errors).extend(f["msg"] for f in result["acl_findings"])
    if p["migration_networks"] is not None:
        result["live_migration_findings"] = live_migration_findings(p["migration_networks"], p["ipsec_rules"])
        warnings.extend(f["msg"] for f in result["live_migration_findings"])
    if p["backup_vms"] is not None:
        result["state_file_problems"] = vm_files_findings(p["source_vms"], p["backup_vms"])
    errors.extend(result["state_file_problems"])
    if p["vm_ids"] is not None:
        result["missing_vm_keys"] = missing_vm_keys(p["vm_ids"], p["key_backup_files"])
        errors.extend(f"The key backup has no guest state protection key for VM ID {vm_id}." for vm_id in result["missing_vm_keys"])
    errors.extend(f"Key import failed: {line}" for line in result["import_failures"])
    if p["restore_to_other_instance"]:
        warnings.append(OTHER_INSTANCE_WARNING)
    return result, warnings, errors


def main():
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str"},
            "detected_version": {"type": "str"},
            "vm_paths": {"type": "list", "elements": "dict"},
            "extra_allowed_sids": {"type": "list", "elements": "str", "default": []},
            "acl_warn_only": {"type": "bool", "default": False},
            "migration_networks": {"type": "list", "elements": "str"},
            "ipsec_rules": {"type": "list", "elements": "dict"},
            "source_vms": {"type": "list", "elements": "dict"},
            "backup_vms": {"type": "list", "elements": "dict"},
            "vm_ids": {"type": "list", "elements": "str"},
            "key_backup_files": {"type": "list", "elements": "str", "no_log": False},
            "import_log": {"type": "list", "elements": "str"},
            "restore_to_other_instance": {"type": "bool", "default": False},
        },
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
