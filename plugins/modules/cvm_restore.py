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
    restore uses the original DES; O(os_disk_encryption_set) gives a replacement, sent as
    C(securedVMDetails.securedVMOsDiskEncryptionSetId).
  - "Before anything is written, the module applies the documented tier rules: a snapshot-tier (C(InstantRP)) restore
    needs the original DES; with a replacement DES Azure Backup restores from the vault tier (C(HardenedRP)) - the
    result says so in RV(source_tier) and RV(notes) - and the key vault or Managed HSM of that DES must hold the original
    key; a point with only the snapshot tier and a different DES is refused with the reason."
  - It also checks that the recovery point exists, that each DES exists (the OS disk DES with type
    C(ConfidentialVmEncryptedWithCustomerKey)), that the staging storage account is in the VM's region (cross-region
    restore is not supported for CVMs) and that the target resource group exists.
  - "Idempotent: a completed restore job of the same recovery point to the same target (restore type, target resource
    group, target VM name), found among the vault's Restore jobs of the VM through the job's C(Recovery point ID),
    C(Job Type), C(Target resource group) and C(Target VM Name) properties, is returned unchanged unless O(force=true).
    A restore job of that point still running is waited for instead of starting another. Failed jobs are not reused."
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
      - V(original_location) replaces the disks of the original VM, which must still exist.
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
      - Default is the original DES of the VM's OS disk (for a VM with a platform-managed key, nothing is sent).
      - A different DES restores from the vault tier and needs the original key in that DES's key vault or Managed HSM.
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
  force:
    description: Start a new restore even when a completed restore of the same point to the same target exists.
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
      description: The job's property bag (for example C(Target Storage Account Name), C(Restored disk(s))).
      type: dict
restored_disk_ids:
  description: The ids of the restored managed disks (empty until the job has completed).
  returned: always
  type: list
  elements: str
restored_vm_id:
  description: The id of the restored VM (V(alternate_location), V(original_location)) once the job has completed.
  returned: always
  type: str
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, ModuleFailure, rest_dict

DES_TYPE = "Microsoft.Compute/diskEncryptionSets"
STORAGE_API = "2023-05-01"
KEYVAULT_API = "7.5"
MAX_JOB_DETAILS = 50  # bound on job reads when looking for an earlier restore


# ------------------------------------------------------------------------------------------------ options


def parse_options(p: dict, sub: str) -> dict:
    """Every option checked and turned into ids before any request; ModuleFailure with the reason otherwise."""
    kind = p["restore_type"]
    needed = {"restore_disks": ("target_resource_group",),
              "alternate_location": ("target_resource_group", "target_vm_name", "virtual_network", "subnet"),
              "original_location": ()}[kind]
    missing = [name for name in needed if not p[name]]
    if missing:
        raise ModuleFailure(f"restore_type {kind} needs {', '.join(missing)}.")
    extra = [name for name in ("target_resource_group", "target_vm_name", "virtual_network", "subnet")
             if p[name] and name not in needed]
    if extra:
        raise ModuleFailure(f"restore_type {kind} does not use {', '.join(extra)}: remove them (original_location restores "
                            "over the original VM; restore_disks creates disks only).")
    try:
        vm = arm_ids.parse_vm_target(p["vm"], sub)
        vault = arm_ids.parse_vault(p["vault"], sub)
        for what, item in (("vm", vm), ("vault", vault)):
            if item["subscription_id"].lower() != sub.lower():
                raise ValueError(f"{what} is in subscription {item['subscription_id']}, the module works in {sub}: set subscription_id.")
        rg = vm["resource_group"]
        target_rg = p["target_resource_group"]
        out = {"vm": vm, "vault": vault, "restore_type": kind,
               "vm_id": arm_ids.vm_id(sub, rg, vm["name"]),
               "storage_id": arm_ids.resource_id(p["staging_storage_account"], sub, rg, "Microsoft.Storage/storageAccounts",
                                               "staging_storage_account"),
               "os_des": p["os_disk_encryption_set"] and arm_ids.resource_id(p["os_disk_encryption_set"], sub, rg, DES_TYPE,
                                                                           "os_disk_encryption_set"),
               "data_des": p["data_disk_encryption_set"] and arm_ids.resource_id(p["data_disk_encryption_set"], sub, rg, DES_TYPE,
                                                                               "data_disk_encryption_set"),
               "per_disk": [{"lun": d["lun"], "disk_encryption_set": arm_ids.resource_id(d["disk_encryption_set"], sub, rg, DES_TYPE,
                                                                                       f"data_disk_encryption_sets (lun {d['lun']})")}
                            for d in p["data_disk_encryption_sets"] or []],
               "target_rg_id": f"/subscriptions/{sub}/resourceGroups/{target_rg}" if target_rg else None,
               "target_vm_id": None, "vnet_id": None, "subnet_id": None}
        luns = [d["lun"] for d in out["per_disk"]]
        if len(luns) != len(set(luns)):
            raise ValueError("data_disk_encryption_sets: each lun may appear once.")
        if kind == "alternate_location":
            if not arm_ids.VM_NAME_RE.fullmatch(p["target_vm_name"]):
                raise ValueError(f"target_vm_name: '{p['target_vm_name']}' is not a valid virtual machine name.")
            out["target_vm_id"] = arm_ids.vm_id(sub, target_rg, p["target_vm_name"])
            out["vnet_id"] = arm_ids.resource_id(p["virtual_network"], sub, target_rg, "Microsoft.Network/virtualNetworks",
                                               "virtual_network")
            subnet = p["subnet"].strip().rstrip("/")
            out["subnet_id"] = subnet if subnet.startswith("/") else f"{out['vnet_id']}/subnets/{subnet}"
            if arm_ids.type_of(out["subnet_id"]) != "subnets":
                raise ValueError(f"subnet: '{p['subnet']}' is not a subnet id or name.")
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    return out


# ------------------------------------------------------------------------------------------------ reads


def status_of(exc):
    return getattr(exc, "status_code", None)


def read_vm(m, o: dict) -> dict | None:
    vm = o["vm"]
    try:
        return rest_dict(m.client("compute").virtual_machines.get(vm["resource_group"], vm["name"]))
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            return None
        m.azure_failure(exc, f"read VM {vm['name']}", f"resource group {vm['resource_group']}")


def read_des(m, des_id: str) -> dict | None:
    try:
        return rest_dict(m.client("compute").disk_encryption_sets.get(arm_ids.group_of(des_id), arm_ids.name_of(des_id)))
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            return None
        m.azure_failure(exc, "read disk encryption set", des_id)


def read_vault(m, vault: dict) -> dict:
    try:
        return rest_dict(m.client("recoveryservices").vaults.get(vault["resource_group"], vault["name"]))
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            raise ModuleFailure(f"The Recovery Services vault {vault['resource_group']}/{vault['name']} was not found.") from exc
        m.azure_failure(exc, "read the Recovery Services vault", vault["name"])


def read_storage(m, storage_id: str) -> dict | None:
    try:
        return m.arm("GET", storage_id, STORAGE_API, ok=(200,))[1]
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            return None
        m.azure_failure(exc, "read the staging storage account", storage_id)


def check_resource_group(m, rg_id: str):
    name = arm_ids.group_of(rg_id)
    try:
        m.client("resources").resource_groups.get(name)
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            raise ModuleFailure(f"The target resource group {name} does not exist: create it first.") from exc
        m.azure_failure(exc, "read the target resource group", name)


def read_points(m, o: dict) -> list[dict]:
    vm, vault = o["vm"], o["vault"]
    try:
        return rules.list_points(m.client("backup"), vault, vm, rest_dict)
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            raise ModuleFailure(f"VM {vm['resource_group']}/{vm['name']} is not protected in Recovery Services vault "
                                f"{vault['resource_group']}/{vault['name']}: there is nothing to restore from.") from exc
        m.azure_failure(exc, f"list the recovery points of VM {vm['name']}", f"vault {vault['name']}")


def key_in_store(m, store_key: dict, key_name: str) -> bool | None:
    """Is a key of this name in the key vault / Managed HSM of `store_key` (a des_key dict)? None when it cannot be read."""
    suffix = m.cloud["hsm_suffix"] if store_key["kind"] == "managed_hsm" else m.cloud["vault_suffix"]
    try:
        m.rest("GET", f"{store_key['base']}/keys/{key_name}", f"https://{suffix}/.default", KEYVAULT_API, ok=(200,))
        return True
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            return False
        return None


# ------------------------------------------------------------------------------------------------ validation


def validate(m, o: dict, point: dict) -> dict:
    """Every check before a write: VM, DESs, tier rules, storage account, target group. The tier decision + region."""
    vm = read_vm(m, o)
    if vm is None and o["restore_type"] == "original_location":
        raise ModuleFailure(f"VM {o['vm']['name']} no longer exists: original_location restores over it; use restore_disks "
                            "or alternate_location.")
    notes = []
    if vm is None:
        region = cvm_rules.normalize_region(read_vault(m, o["vault"]).get("location"))
        original = None
        notes.append(f"VM {o['vm']['name']} no longer exists: its original disk encryption set is unknown, Azure Backup uses "
                     "the one recorded with the recovery point unless os_disk_encryption_set is given.")
    else:
        facts = cvm_rules.vm_facts(vm)
        region, original = facts["region"], facts["des_id"]
        if facts["security_type"] != "ConfidentialVM":
            notes.append(f"VM {o['vm']['name']} has security type {facts['security_type']}, not ConfidentialVM: the "
                         "confidential VM rules below do not apply to it.")
    problems = []
    requested = o["os_des"]
    replacement_des = read_des(m, requested) if requested and not arm_ids.same(requested, original) else None
    if requested and not arm_ids.same(requested, original):
        problem = rules.des_problem(replacement_des, requested)
        if problem:
            problems.append(problem)
    for des_id in {d for d in [o["data_des"]] + [d["disk_encryption_set"] for d in o["per_disk"]] if d}:
        if read_des(m, des_id) is None:
            problems.append(f"The data disk encryption set {des_id} was not found.")
    original_key = replacement_key = key_present = None
    tiers = rules.point_tiers(point)
    if replacement_des and not problems and "vault" in tiers and original:
        original_key = rules.des_key(read_des(m, original))
        replacement_key = rules.des_key(replacement_des)
        if original_key and replacement_key:
            key_present = key_in_store(m, replacement_key, original_key["name"])
    decision = rules.tier_decision(tiers, original, requested, key_present, original_key, replacement_key)
    if not decision["allowed"]:
        problems.insert(0, decision["reason"])
    storage_problem = rules.storage_problem(read_storage(m, o["storage_id"]), o["storage_id"], region)
    if storage_problem:
        problems.append(storage_problem)
    if o["target_rg_id"]:
        check_resource_group(m, o["target_rg_id"])
    if problems:
        raise ModuleFailure("The restore was not started: " + " ".join(problems), problems=problems,
                            recovery_point=rules.describe_point(point))
    decision["notes"] = notes + decision["notes"]
    decision["region"] = region
    return decision


# ------------------------------------------------------------------------------------------------ jobs


def job_of(m, vault: dict, name: str) -> dict:
    try:
        return rest_dict(m.client("backup").job_details.get(vault["name"], vault["resource_group"], name))
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"read backup job {name}", f"vault {vault['name']}")


def earlier_restore(m, o: dict, target: dict) -> dict | None:
    """The newest Restore job of this VM that restores the same point to the same target and has not failed."""
    vault = o["vault"]
    try:
        listed = [rest_dict(j) for j in m.client("backup").backup_jobs.list(
            vault["name"], vault["resource_group"], filter=rules.jobs_filter(operation="Restore"))]
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "list the Restore jobs", f"vault {vault['name']}")
    mine = [j for j in listed if rules.job_is_for_vm(j, o["vm"]["name"], o["vm"]["resource_group"])
            and j.get("properties", {}).get("status") in rules.JOB_DONE + rules.JOB_RUNNING]
    for job in mine[:MAX_JOB_DETAILS]:
        detail = job_of(m, vault, job["name"])
        if rules.job_matches(detail, target):
            return detail
    return None


def wait_job(m, vault: dict, job: dict, timeout: int) -> dict:
    return m.wait(f"restore job {job['name']}", lambda: job_of(m, vault, job["name"]),
                  lambda j: j.get("properties", {}).get("status") not in rules.JOB_RUNNING, timeout)


def start_restore(m, o: dict, point: dict, request: dict) -> str:
    """POST the restore; the job id from the operation status (properties.jobId). Returns the job name."""
    names = rules.backup_names(o["vault"], o["vm"])
    try:
        poller = m.client("backup").restores.begin_trigger(*names, point["name"], request, polling=False,
                                                           cls=lambda response, _body, _headers: dict(response.http_response.headers))
        headers = poller.result()
        status = m.arm_wait(headers, f"Azure to accept the restore of {o['vm']['name']}", m.params["timeout"]) or {}
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"start the restore of VM {o['vm']['name']} from recovery point {point['name']}",
                        f"vault {o['vault']['name']}")
    if str(status.get("status", "")).lower() == "failed":
        error = status.get("error") or {}
        raise ModuleFailure(f"Azure refused the restore of VM {o['vm']['name']}: {error.get('message')} "
                            f"(error code {error.get('code')}).", error_code=error.get("code"))
    job_name = (status.get("properties") or {}).get("jobId")
    if not job_name:
        raise ModuleFailure("Azure accepted the restore but did not name its job; look for it with "
                            "azure_cvm.backup.backup_job_info (operation Restore).")
    return job_name


def job_result(o: dict, job: dict, request: dict) -> dict:
    info = rules.describe_job(job)
    done = info["status"] in rules.JOB_DONE
    vm_id = {"alternate_location": o["target_vm_id"], "original_location": o["vm_id"]}.get(o["restore_type"])
    return {"job": {k: info[k] for k in ("id", "name", "status", "start_time", "end_time", "properties")},
            "restored_disk_ids": rules.restored_disk_ids(job) if done else [],
            "restored_vm_id": vm_id if done else None}


# ------------------------------------------------------------------------------------------------ run


def run(m) -> dict:
    p = m.params
    o = parse_options(p, m.subscription_id)
    points = read_points(m, o)
    point = rules.choose_point(points, p["recovery_point"])
    if point is None:
        known = ", ".join(f"{x['name']} ({'/'.join(rules.point_tiers(x)) or 'no valid tier'})" for x in points[:10]) or "none"
        raise ModuleFailure(f"Recovery point '{p['recovery_point']}' of VM {o['vm']['name']} was not found in vault "
                            f"{o['vault']['name']} (newest points: {known}).")
    decision = validate(m, o, point)
    os_des = decision["des"]
    request = rules.restore_request(restore_type=o["restore_type"], point_name=point["name"], vm_id=o["vm_id"],
                                    region=decision["region"], storage_account_id=o["storage_id"],
                                    target_resource_group_id=o["target_rg_id"], target_vm_id=o["target_vm_id"],
                                    virtual_network_id=o["vnet_id"], subnet_id=o["subnet_id"], os_des=os_des,
                                    data_disk_des=o["data_des"], per_disk_des=o["per_disk"])
    target = rules.restore_target(request)
    result = {"changed": False, "reused": False, "recovery_point": rules.describe_point(point),
              "source_tier": decision["source_tier"], "os_disk_encryption_set": os_des,
              "replacement_des": decision["replacement"], "notes": decision["notes"], "request": request,
              "restored_disk_ids": [], "restored_vm_id": None}

    earlier = None if p["force"] else earlier_restore(m, o, target)
    if earlier and earlier["properties"]["status"] in rules.JOB_RUNNING and p["wait"] and not m.check_mode:
        earlier = wait_job(m, o["vault"], earlier, p["timeout"])
        if not rules.job_matches(earlier, target) or earlier["properties"]["status"] not in rules.JOB_DONE:
            earlier = None  # it ended failed, or turned out to restore elsewhere: restore now
    if earlier:
        result.update(reused=True, **job_result(o, earlier, request))
        return result

    result["changed"] = True
    if m.diff_mode:
        result["diff"] = {"before": {"restore": None},
                          "after": {"restore": {**target, "os_disk_encryption_set": os_des, "source_tier": decision["source_tier"]}}}
    if m.check_mode:
        return result
    job_name = start_restore(m, o, point, request)
    job = job_of(m, o["vault"], job_name)
    if p["wait"]:
        job = wait_job(m, o["vault"], job, p["timeout"])
    result.update(job_result(o, job, request))
    if job["properties"]["status"] not in rules.JOB_DONE + rules.JOB_RUNNING:
        info = rules.describe_job(job)
        raise ModuleFailure(rules.job_failure_message(job), changed=True, job=result["job"], error_details=info["error_details"],
                            error_code=info["error_details"][0]["title"] if info["error_details"] else None)
    return result


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
        "force": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 7200},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True).execute(run)


if __name__ == "__main__":
    main()
