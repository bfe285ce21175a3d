# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow of cvm_restore: options, recovery point, every documented check before a write (VM, disk encryption
sets, tier rules, key presence, staging account, target group), an earlier identical restore, the restore and its
job. The decisions are restore_rules', the Azure Backup calls backup_service's, the key read key_access'.
"""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import restore_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.key_access import key_in_store

DES_TYPE = "Microsoft.Compute/diskEncryptionSets"
STORAGE_API = "2023-05-01"
MAX_JOB_DETAILS = 50  # bound on job reads when looking for an earlier restore


# ------------------------------------------------------------------------------------------------ options


def parse_options(p: dict, sub: str, check_mode: bool = False) -> dict:
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

        def des(value: str, what: str) -> str:
            return arm_ids.resource_id(value, sub, rg, DES_TYPE, what)

        out = {"vm": vm, "vault": vault, "restore_type": kind,
               "vm_id": arm_ids.vm_id(sub, rg, vm["name"]),
               "storage_id": arm_ids.resource_id(p["staging_storage_account"], sub, rg, "Microsoft.Storage/storageAccounts",
                                                 "staging_storage_account"),
               "os_des": p["os_disk_encryption_set"] and des(p["os_disk_encryption_set"], "os_disk_encryption_set"),
               "data_des": p["data_disk_encryption_set"] and des(p["data_disk_encryption_set"], "data_disk_encryption_set"),
               "per_disk": [{"lun": d["lun"], "disk_encryption_set": des(d["disk_encryption_set"], f"data_disk_encryption_sets (lun {d['lun']})")}
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
    if kind == "original_location" and not p["confirm_overwrite"] and not check_mode:
        raise ModuleFailure(f"restore_type original_location replaces the disks of VM {vm['resource_group']}/{vm['name']} with those "
                            "of the recovery point: set confirm_overwrite: true to allow it (check mode shows the plan without it).")
    return out


# ------------------------------------------------------------------------------------------------ reads


def read_des(m, des_id: str) -> dict | None:
    sets = m.client("compute").disk_encryption_sets
    return m.read(lambda: sets.get(arm_ids.group_of(des_id), arm_ids.name_of(des_id)), "disk encryption set", des_id)


def read_vault(m, vault: dict) -> dict:
    found = service.read_vault(m, vault)
    if found is None:
        raise ModuleFailure(f"The Recovery Services vault {vault['resource_group']}/{vault['name']} was not found.")
    return found


def check_resource_group(m, rg_id: str):
    name = arm_ids.group_of(rg_id)
    if m.read(lambda: m.client("resources").resource_groups.get(name), "the target resource group", name) is None:
        raise ModuleFailure(f"The target resource group {name} does not exist: create it first.")


# ------------------------------------------------------------------------------------------------ validation


def validate(m, o: dict, point: dict) -> dict:
    """Every check before a write: VM, DESs, tier rules, storage account, target group. The tier decision + region."""
    vm = m.read(lambda: m.client("compute").virtual_machines.get(o["vm"]["resource_group"], o["vm"]["name"]),
                f"VM {o['vm']['name']}", f"resource group {o['vm']['resource_group']}")
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
        problem = restore_rules.des_problem(replacement_des, requested)
        if problem:
            problems.append(problem)
    for des_id in {d for d in [o["data_des"]] + [d["disk_encryption_set"] for d in o["per_disk"]] if d}:
        if read_des(m, des_id) is None:
            problems.append(f"The data disk encryption set {des_id} was not found.")
    original_key = replacement_key = key_present = None
    tiers = restore_rules.point_tiers(point)
    if replacement_des and not problems and "vault" in tiers and original:
        original_key = restore_rules.des_key(read_des(m, original))
        replacement_key = restore_rules.des_key(replacement_des)
        if original_key and replacement_key:
            key_present = key_in_store(m, replacement_key, original_key["name"])
    decision = restore_rules.tier_decision(tiers, original, requested, key_present, original_key, replacement_key)
    if not decision["allowed"]:
        problems.insert(0, decision["reason"])
    storage = m.read(lambda: m.arm("GET", o["storage_id"], STORAGE_API, ok=(200,))[1], "the staging storage account", o["storage_id"])
    storage_problem = restore_rules.storage_problem(storage, o["storage_id"], region)
    if storage_problem:
        problems.append(storage_problem)
    if o["target_rg_id"]:
        check_resource_group(m, o["target_rg_id"])
    if problems:
        raise ModuleFailure("The restore was not started: " + " ".join(problems), problems=problems,
                            recovery_point=restore_rules.describe_point(point))
    decision["notes"] = notes + decision["notes"]
    decision["region"] = region
    return decision


# ------------------------------------------------------------------------------------------------ jobs


def earlier_restore(m, o: dict, wanted: dict) -> tuple:
    """(verdict, job, undecided fields) of the earlier Restore jobs of this VM that have not failed: ("same", job) when
    one is this restore, else ("unknown", the newest that cannot be told apart, its undecided fields), else (None, None)."""
    vault = o["vault"]
    listed = service.list_jobs(m, vault, restore_rules.jobs_filter(operation="Restore"), "the Restore jobs")
    mine = [j for j in listed if restore_rules.job_is_for_vm(j, o["vm"]["name"], o["vm"]["resource_group"])
            and j.get("properties", {}).get("status") in restore_rules.JOB_SUCCEEDED + restore_rules.JOB_RUNNING]
    undecided = (None, None, [])
    for job in mine[:MAX_JOB_DETAILS]:
        detail = service.job_details(m, vault, job["name"])
        verdict, fields = restore_rules.compare_restore(detail, wanted)
        if verdict == "same":
            return "same", detail, []
        if verdict == "unknown" and undecided[0] is None:
            undecided = ("unknown", detail, fields)
    return undecided


def undecided_failure(o: dict, job: dict, fields: list) -> ModuleFailure:
    info = restore_rules.describe_job(job)
    if info["status"] in restore_rules.JOB_RUNNING:
        why = "is still running, and a running job does not show what it restores: wait for it (wait: true) or"
    else:
        why = f"may be this same restore, and its details in Azure ({', '.join(fields)}) cannot tell:"
    return ModuleFailure(f"Restore job {info['name']} of VM {o['vm']['name']} ({info['status']}, started {info['start_time']}) "
                         f"{why} set force: true to start another restore.",
                         job={k: info[k] for k in ("id", "name", "status", "start_time", "end_time", "properties")})


def wait_job(m, vault: dict, job: dict, timeout: int) -> dict:
    return m.wait(f"restore job {job['name']}", lambda: service.job_details(m, vault, job["name"]),
                  lambda j: j.get("properties", {}).get("status") not in restore_rules.JOB_RUNNING, timeout)


def start_restore(m, o: dict, point: dict, request: dict) -> str:
    """POST the restore; the job id from the operation status (properties.jobId). Returns the job name."""
    names = restore_rules.backup_names(o["vault"], o["vm"])
    try:
        poller = m.client("backup").restores.begin_trigger(*names, point["name"], request, polling=False,
                                                           cls=lambda response, _body, _headers: response)
        status = m.arm_wait(poller.result(), f"Azure to accept the restore of {o['vm']['name']}", m.params["timeout"])[1] or {}
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


def read_vm(m, vm_id: str) -> dict | None:
    group, name = arm_ids.group_of(vm_id), arm_ids.name_of(vm_id)
    return m.read(lambda: m.client("compute").virtual_machines.get(group, name), f"VM {name}", f"resource group {group}")


def vm_disk_ids(vm: dict | None) -> list:
    storage = (vm or {}).get("properties", {}).get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}] + list(storage.get("dataDisks") or [])
    return [d["managedDisk"]["id"] for d in disks if (d.get("managedDisk") or {}).get("id")]


def job_result(m, o: dict, job: dict) -> dict:
    """The job and what it restored, from what Azure shows: the blobs its propertyBag names, the VM (alternate or
    original location) and its disks, or the managed disks created in the target resource group while it ran.
    restored_disks says how each disk is tied to the job (matched_by vm, restore_point or time); restored_disk_ids
    holds only the disks tied by more than their time."""
    info = restore_rules.describe_job(job)
    out = {"job": {k: info[k] for k in ("id", "name", "status", "start_time", "end_time", "properties")},
           "restored_blobs": restore_rules.restored_blobs(job), "restored_disk_ids": [], "restored_disks": [],
           "restored_vm_id": None}
    if info["status"] not in restore_rules.JOB_SUCCEEDED:
        return out
    vm_id = {"alternate_location": o["target_vm_id"], "original_location": o["vm_id"]}.get(o["restore_type"])
    if vm_id:
        vm = read_vm(m, vm_id)
        out.update(restored_vm_id=vm_id if vm else None,
                   restored_disks=[{"id": d, "name": arm_ids.name_of(d), "matched_by": "vm"} for d in vm_disk_ids(vm)])
    elif o["target_rg_id"]:
        group = arm_ids.group_of(o["target_rg_id"])
        disks = m.read_all(lambda: m.client("compute").disks.list_by_resource_group(group), "the managed disks",
                           f"resource group {group}")
        out["restored_disks"] = restore_rules.restored_disks(disks, job, o["vm"]["name"])
    out["restored_disk_ids"] = [d["id"] for d in out["restored_disks"] if d["matched_by"] != "time"]
    return out


def clash_failure(o: dict, target_vm: dict) -> ModuleFailure:
    created = (target_vm.get("properties") or {}).get("timeCreated") or "at a time Azure does not show"
    return ModuleFailure(f"VM {o['target_vm_id']} already exists (created {created}) and no earlier Restore job of this "
                         "point can be tied to it (a Restore job does not name the VM it made, and this VM was not created "
                         "while such a job ran): choose another target_vm_name, or delete that VM first.")


# ------------------------------------------------------------------------------------------------ run


def run(m) -> dict:
    """The whole cvm_restore run: the module's result, or ModuleFailure."""
    p = m.params
    o = parse_options(p, m.subscription_id, m.check_mode)
    points = service.recovery_points(m, o["vault"], o["vm"])
    point = restore_rules.choose_point(points, p["recovery_point"])
    if point is None:
        known = ", ".join(f"{x['name']} ({'/'.join(restore_rules.point_tiers(x)) or 'no valid tier'})" for x in points[:10]) or "none"
        raise ModuleFailure(f"Recovery point '{p['recovery_point']}' of VM {o['vm']['name']} was not found in vault "
                            f"{o['vault']['name']} (newest points: {known}).")
    decision = validate(m, o, point)
    request = restore_rules.restore_request(
        restore_type=o["restore_type"], point_name=point["name"], vm_id=o["vm_id"], region=decision["region"],
        storage_account_id=o["storage_id"], target_resource_group_id=o["target_rg_id"], target_vm_id=o["target_vm_id"],
        virtual_network_id=o["vnet_id"], subnet_id=o["subnet_id"], os_des=o["os_des"], data_disk_des=o["data_des"],
        per_disk_des=o["per_disk"])
    notes = decision["notes"]
    if o["os_des"]:
        notes.append("os_disk_encryption_set is sent to Azure (securedVMDetails): with a disk encryption set given, Azure "
                     "Backup restores from the vault tier when the point has one; omit it to restore with the original encryption.")
    if o["restore_type"] == "original_location" and not p["confirm_overwrite"]:
        notes.append("The real run needs confirm_overwrite: true (original_location replaces the VM's disks).")
    result = {"changed": False, "reused": False, "recovery_point": restore_rules.describe_point(point),
              "source_tier": decision["source_tier"], "os_disk_encryption_set": decision["des"],
              "replacement_des": decision["replacement"], "notes": notes, "request": request,
              "restored_blobs": restore_rules.restored_blobs({}), "restored_disk_ids": [], "restored_disks": [],
              "restored_vm_id": None}

    target_vm = read_vm(m, o["target_vm_id"]) if o["target_vm_id"] else None
    wanted = restore_rules.restore_wanted(request, point, target_vm)
    verdict, earlier, fields = (None, None, []) if p["force"] else earlier_restore(m, o, wanted)
    running = verdict == "unknown" and earlier["properties"]["status"] in restore_rules.JOB_RUNNING
    if running and p["wait"] and not m.check_mode:  # what a running job shows is not published: wait, then decide
        earlier, running = wait_job(m, o["vault"], earlier, p["timeout"]), False  # it returns once the job has ended
        if earlier["properties"]["status"] not in restore_rules.JOB_SUCCEEDED:
            verdict = None  # it failed: restore now
        else:
            if o["target_vm_id"]:
                target_vm = read_vm(m, o["target_vm_id"])
                wanted = restore_rules.restore_wanted(request, point, target_vm)
            verdict, fields = restore_rules.compare_restore(earlier, wanted)
    if verdict == "same":
        result.update(reused=True, **job_result(m, o, earlier))
        return result
    if target_vm is not None and not running:  # a VM no job of this restore can be tied to
        raise clash_failure(o, target_vm)
    if verdict == "unknown" and not (m.check_mode and running):
        raise undecided_failure(o, earlier, fields)
    if verdict == "unknown":
        notes.append(f"Restore job {earlier['name']} of this VM is still running: the real run waits for it and then decides.")

    result["changed"] = True
    if m.diff_mode:
        target = {"recovery_point": point["name"], "restore_type": request["properties"]["recoveryType"],
                  "target_resource_group_id": o["target_rg_id"], "target_vm_id": o["target_vm_id"]}
        result["diff"] = {"before": {"restore": None},
                          "after": {"restore": {**target, "os_disk_encryption_set": decision["des"], "source_tier": decision["source_tier"]}}}
    if m.check_mode:
        return result
    job_name = start_restore(m, o, point, request)
    job = service.job_details(m, o["vault"], job_name)
    if p["wait"]:
        job = wait_job(m, o["vault"], job, p["timeout"])
    result.update(job_result(m, o, job))
    if job["properties"]["status"] not in restore_rules.JOB_SUCCEEDED + restore_rules.JOB_RUNNING:
        info = restore_rules.describe_job(job)
        raise ModuleFailure(restore_rules.job_failure_message(job), changed=True, job=result["job"], error_details=info["error_details"],
                            error_code=info["error_details"][0]["title"] if info["error_details"] else None)
    return result
