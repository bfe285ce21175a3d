# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore of confidential VMs as pure functions: recovery points and their tiers, the documented tier rules for the
OS disk encryption set, the IaasVMRestoreRequest body, backup job filters, matching and failure messages.

No SDK imports: inputs are REST (camelCase) dicts, as on the wire. The tier rules are those of Microsoft's
"Restore a confidential VM" page (confidential-vm-restore.md):
- a snapshot-tier (InstantRP) restore succeeds only with the original disk encryption set (DES);
- with a replacement DES the restore comes from the vault tier (HardenedRP), and the original key must be present in
  the key vault (or Managed HSM) of that DES;
- a point that has only the snapshot tier cannot be restored with a replacement DES.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import group_of, name_of, names_by_type, same
from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import CVM_DES_TYPE, container_name, dig, protected_item_name

TIERS = {"InstantRP": "snapshot", "HardenedRP": "vault", "ArchivedRP": "archive"}
RESTORE_TYPES = {"restore_disks": "RestoreDisks", "alternate_location": "AlternateLocation", "original_location": "OriginalLocation"}
JOB_SUCCEEDED = ("Completed", "CompletedWithWarnings")  # JOB_RUNNING: not finished yet; anything else failed
JOB_RUNNING = ("InProgress", "Cancelling")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
JOB_FILTER_TIME = "%Y-%m-%d %I:%M:%S %p"  # the jobs $filter time form: '2016-01-01 00:00:00 AM'
BAG_TIME = "%m/%d/%Y %I:%M:%S %p"  # a Restore job's "Recovery point time " ('1/7/2021 10:11:19 AM'; strptime needs no zeros)

# The documented key-loss recovery (confidential-vm-restore.md), for failure messages.
KEY_LOSS_RECOVERY = (
    "If the original key was deleted, recover it from the key backup Azure Backup keeps with the restore: the failed "
    "Restore job's properties 'Target Storage Account Name', 'Config Blob Container Name' and 'Secured Encryption Info "
    "Blob Name' name a JSON blob in the staging storage account; its OsDiskEncryptionDetails.KeyBackupData (base64) is "
    "a key backup to restore with Restore-AzKeyVaultKey -VaultName (or -HsmName for a Managed HSM), then create a disk "
    "encryption set of type ConfidentialVmEncryptedWithCustomerKey on the restored key, grant it key access and run the "
    "restore again with os_disk_encryption_set.")

# ------------------------------------------------------------------------------------------------ recovery points


def point_tiers(point: dict) -> list[str]:
    """The valid tiers of a recovery point: snapshot (InstantRP), vault (HardenedRP), archive (ArchivedRP)."""
    found = {TIERS.get(t.get("type")) for t in dig(point, "properties", "recoveryPointTierDetails", default=[])
             if t.get("status") == "Valid"}
    return [tier for tier in ("snapshot", "vault", "archive") if tier in found]


def point_time(point: dict) -> str:
    return str(dig(point, "properties", "recoveryPointTime", default=""))


def _time_key(point: dict) -> datetime:
    """The point's time as an aware datetime; points without a readable time sort last."""
    return parse_time(point_time(point)) or EPOCH


def newest_first(points: list[dict]) -> list[dict]:
    return sorted(points, key=_time_key, reverse=True)


def describe_point(point: dict) -> dict:
    props = point.get("properties") or {}
    return {
        "id": point.get("id"),
        "name": point.get("name"),
        "time": point_time(point) or None,
        "consistency": props.get("recoveryPointType"),
        "tiers": point_tiers(point),
        "tier_details": [{"type": t.get("type"), "tier": TIERS.get(t.get("type"), t.get("type")), "status": t.get("status")}
                         for t in props.get("recoveryPointTierDetails") or []],
        "security_type": props.get("securityType"),
        "vm_size": props.get("virtualMachineSize"),
        "source_vm_encrypted": props.get("isSourceVMEncrypted"),
    }


def choose_point(points: list[dict], wanted: str) -> dict | None:
    """'latest': the newest point with a restorable (snapshot or vault) tier; else the point by name or resource id.

    An empty name (or an id that ends without one) chooses nothing, never a point that has no name: the modules refuse
    an empty recovery_point before any request (cvm_restore) or read it as "all points" (recovery_point_info)."""
    if wanted == "latest":
        usable = [p for p in newest_first(points) if {"snapshot", "vault"} & set(point_tiers(p))]
        return usable[0] if usable else None
    name = name_of(wanted).strip() if wanted else ""
    if not name:
        return None
    return next((p for p in points if str(p.get("name") or "").lower() == name.lower()), None)


# ------------------------------------------------------------------------------------------------ checks before writing


def des_problem(des: dict | None, des_id: str, purpose: str = "the confidential OS disk") -> str | None:
    """Why a DES cannot encrypt a CVM OS disk, or None when it can."""
    if des is None:
        return f"The disk encryption set {des_id} was not found."
    kind = dig(des, "properties", "encryptionType")
    if kind != CVM_DES_TYPE:
        return (f"The disk encryption set {des.get('name') or name_of(des_id)} has type {kind}; {purpose} needs a DES of type "
                f"{CVM_DES_TYPE} ('Confidential disk encryption with a customer-managed key').")
    return None


def storage_problem(account: dict | None, account_id: str, region: str) -> str | None:
    """The staging storage account must exist and be in the VM's region (cross-region restore is not supported)."""
    if account is None:
        return f"The staging storage account {account_id} was not found."
    where = (account.get("location") or "").replace(" ", "").lower()
    if where != region:
        return (f"The staging storage account {account.get('name')} is in {where}, the VM in {region}: use a storage account "
                "in the VM's region (cross-region restore is not supported for confidential VMs).")
    return None


def des_key(des: dict | None) -> dict | None:
    """{store: key vault or HSM host name, kind, name, version, url} of a DES's active key, or None."""
    url = dig(des, "properties", "activeKey", "keyUrl")
    match = re.match(r"https://(?P<store>[^./]+)\.(?P<host>[^/]+)/keys/(?P<name>[^/]+)(?:/(?P<version>[^/?]+))?", url or "")
    if not match:
        return None
    kind = "managed_hsm" if ".managedhsm." in "." + match["host"] else "key_vault"
    return {"store": match["store"].lower(), "kind": kind, "name": match["name"], "version": match["version"], "url": url,
            "base": f"https://{match['store']}.{match['host']}"}


def refused_replacement(requested_des: str, notes: list, reason: str) -> dict:
    """tier_decision's answer when the replacement disk encryption set `requested_des` cannot be used."""
    return {"allowed": False, "source_tier": None, "des": requested_des, "replacement": True, "notes": notes, "reason": reason}


def tier_decision(tiers: list[str], original_des: str | None, requested_des: str | None, key_present: bool | None = None,
                  original_key: dict | None = None, replacement_key: dict | None = None) -> dict:
    """Apply the documented tier rules. Returns {allowed, source_tier, des, replacement, reason, notes}.

    tiers: the point's valid tiers; original_des: the DES of the VM's OS disk (None for a PMK VM or when unknown);
    requested_des: os_disk_encryption_set (None: the original); key_present: whether the original key is in the key store
    of the replacement DES (None: not checked / could not be read); original_key/replacement_key: des_key() dicts.
    """
    notes = []
    restorable = [t for t in tiers if t in ("snapshot", "vault")]
    if not restorable:
        return {"allowed": False, "source_tier": None, "des": requested_des or original_des, "replacement": False, "notes": notes,
                "reason": "The recovery point has no snapshot or vault tier (tiers: " + (", ".join(tiers) or "none") +
                          "); an archived point must be rehydrated to the vault tier first."}
    if not requested_des or same(requested_des, original_des):
        # a DES given at all (even the original) is sent, and with a DES Azure Backup restores from the vault tier
        source = "vault" if requested_des and "vault" in restorable else "snapshot" if "snapshot" in restorable else "vault"
        return {"allowed": True, "source_tier": source, "des": original_des, "replacement": False, "notes": notes,
                "reason": f"Restore from the {source} tier" + (f" with the original disk encryption set {name_of(original_des)}."
                                                               if original_des else " with the original encryption.")}
    original_text = f"the original disk encryption set {name_of(original_des)}" if original_des else "the original encryption"
    if "vault" not in restorable:
        return refused_replacement(requested_des, notes,
                                   f"The recovery point has only the snapshot tier (InstantRP): a snapshot-tier restore succeeds "
                                   f"only with {original_text}, and a replacement disk encryption set ({name_of(requested_des)}) "
                                   "needs a point in the vault tier (HardenedRP). Omit os_disk_encryption_set (or give the "
                                   "original DES), or restore a point that has reached the vault tier.")
    if original_key and replacement_key:
        store = f"{'Managed HSM' if replacement_key['kind'] == 'managed_hsm' else 'key vault'} {replacement_key['store']}"
        if key_present is False:
            return refused_replacement(requested_des, notes,
                                       f"The {store} of the replacement disk encryption set {name_of(requested_des)} does not "
                                       f"hold the original key {original_key['name']}: a vault-tier restore with a replacement "
                                       "DES needs the original key in that DES's key store (if the wrap key differs, both keys "
                                       "must be in the same key vault). Restore the original key there from its backup, or use "
                                       "the original DES.")
        if key_present is None:
            notes.append(f"Whether the {store} holds the original key {original_key['name']} could not be checked; the "
                         "restore fails if it does not.")
    elif original_des and not original_key:
        notes.append(f"The key of {original_text} could not be read; whether the replacement DES's key store holds it was "
                     "not checked.")
    if "snapshot" in restorable:
        notes.append("The point also has a snapshot tier, but with a replacement disk encryption set Azure Backup restores "
                     "from the vault tier (slower).")
    return {"allowed": True, "source_tier": "vault", "des": requested_des, "replacement": True, "notes": notes,
            "reason": f"Restore from the vault tier with the replacement disk encryption set {name_of(requested_des)}."}


# ------------------------------------------------------------------------------------------------ the request


def restore_request(*, restore_type: str, point_name: str, vm_id: str, region: str, storage_account_id: str,
                    target_resource_group_id: str | None = None, target_vm_id: str | None = None,
                    virtual_network_id: str | None = None, subnet_id: str | None = None, os_des: str | None = None,
                    data_disk_des: str | None = None, per_disk_des: list | None = None) -> dict:
    """The RestoreRequestResource body (IaasVMRestoreRequest) of a CVM restore; per_disk_des: [{lun, disk_encryption_set}]."""
    props = {
        "objectType": "IaasVMRestoreRequest",
        "recoveryPointId": point_name,
        "recoveryType": RESTORE_TYPES[restore_type],
        "sourceResourceId": vm_id,
        "storageAccountId": storage_account_id,
        "region": region,
        "createNewCloudService": False,
        "originalStorageAccountOption": False,
    }
    if restore_type != "original_location":
        props["targetResourceGroupId"] = target_resource_group_id
    if restore_type == "alternate_location":
        props.update(targetVirtualMachineId=target_vm_id, virtualNetworkId=virtual_network_id, subnetId=subnet_id)
    secured = {}
    if os_des:
        secured["securedVMOsDiskEncryptionSetId"] = os_des
    data = {}
    if per_disk_des:
        data["perDiskEncryptionSetIds"] = [{"lun": d["lun"], "diskEncryptionSetId": d["disk_encryption_set"]} for d in per_disk_des]
    if data_disk_des:
        data["dataDiskEncryptionSetId"] = data_disk_des
    if data:
        secured["dataDiskEncryptionSettings"] = data
    if secured:
        props["securedVMDetails"] = secured
    return {"properties": props}


# ------------------------------------------------------------------------------------------------ jobs


def jobs_filter(operation: str | None = None, status: str | None = None, start: datetime | None = None,
                end: datetime | None = None, backup_management_type: str | None = "AzureIaasVM") -> str | None:
    """The $filter of the backup jobs list ("... eq '...' and ..."); None when nothing is filtered."""
    parts = []
    if start:
        parts.append(f"startTime eq '{start.strftime(JOB_FILTER_TIME)}'")
    if end:
        parts.append(f"endTime eq '{end.strftime(JOB_FILTER_TIME)}'")
    if operation:
        parts.append(f"operation eq '{operation}'")
    if backup_management_type:
        parts.append(f"backupManagementType eq '{backup_management_type}'")
    if status:
        parts.append(f"status eq '{status}'")
    return " and ".join(parts) or None


def describe_job(job: dict) -> dict:
    props = job.get("properties") or {}
    ext = props.get("extendedInfo") or {}
    return {
        "id": job.get("id"),
        "name": job.get("name"),
        "operation": props.get("operation"),
        "status": props.get("status"),
        "entity_friendly_name": props.get("entityFriendlyName"),
        "start_time": props.get("startTime"),
        "end_time": props.get("endTime"),
        "duration": props.get("duration"),
        "activity_id": props.get("activityId"),
        "tasks": [{"name": t.get("taskId"), "status": t.get("status"), "duration": t.get("duration")} for t in ext.get("tasksList") or []],
        "properties": dict(ext.get("propertyBag") or {}),
        "error_details": [{"code": e.get("errorCode"), "message": e.get("errorString"), "title": e.get("errorTitle"),
                           "recommendations": list(e.get("recommendations") or [])} for e in props.get("errorDetails") or []],
    }


def job_is_for_vm(job: dict, vm_name: str, vm_resource_group: str | None = None) -> bool:
    """A job of the VM: its entityFriendlyName is the VM name; when the job names its container, the group must match too."""
    props = job.get("properties") or {}
    if str(props.get("entityFriendlyName", "")).lower() != vm_name.lower():
        return False
    container = str(props.get("containerName") or "")
    if vm_resource_group and container.count(";") >= 2:
        return container.lower().split(";")[-2] == vm_resource_group.lower()
    return True


def _bag_value(bag: dict, *names):
    """A propertyBag value by key, compared without case and spaces (the service writes "Recovery point time " with a
    trailing space)."""
    lowered = {str(k).lower().replace(" ", ""): v for k, v in (bag or {}).items()}
    for name in names:
        value = lowered.get(name.lower().replace(" ", ""))
        if value not in (None, ""):
            return str(value)
    return None


def parse_time(text) -> datetime | None:
    """An ISO time (Azure's 7 fractional digits allowed) as an aware UTC datetime, or None."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(text or "")).replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def bag_time(text) -> datetime | None:
    """The propertyBag's "Recovery point time " ('12/25/2019 10:07:11 PM', '1/7/2021 10:11:19 AM'), read as UTC."""
    try:
        return datetime.strptime(str(text or "").strip(), BAG_TIME).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def restore_job_record(job: dict) -> dict:
    """What a Restore job shows of the restore it ran, from the fields public outputs of Jobs Get show (None where it
    shows nothing): the propertyBag's "Job Type", "Recovery point time ", "Target resource group" and
    "Target Storage Account Name" (see the evidence register, restore-job-property-bag)."""
    bag = dig(job, "properties", "extendedInfo", "propertyBag", default={})
    text = _bag_value(bag, "Recovery point time")
    return {"job_type": _bag_value(bag, "Job Type"), "point_time_text": text, "point_time": bag_time(text),
            "target_resource_group": _bag_value(bag, "Target resource group"),
            "storage_account": _bag_value(bag, "Target Storage Account Name")}


def restore_wanted(request: dict, point: dict, target_vm: dict | None = None) -> dict:
    """What this run would restore, in the terms a Restore job records (see restore_job_record); target_vm: the VM at
    an alternate-location target as Azure shows it now (None when there is none)."""
    props = request["properties"]
    return {"restore_type": props["recoveryType"], "point_time": parse_time(point_time(point)),
            "target_resource_group": group_of(props.get("targetResourceGroupId")) if props.get("targetResourceGroupId") else None,
            "storage_account": name_of(props["storageAccountId"]), "target_vm_exists": target_vm is not None,
            "target_vm_created": parse_time(dig(target_vm, "properties", "timeCreated")) if target_vm else None}


def made_during(created: datetime | None, job: dict) -> bool | None:
    """Whether a resource whose timeCreated is `created` was made while the job ran (from a second before its
    startTime to a minute after its endTime); None when a time is missing."""
    start = parse_time(dig(job, "properties", "startTime"))
    end = parse_time(dig(job, "properties", "endTime"))
    if created is None or start is None or end is None:
        return None
    return start - timedelta(seconds=1) <= created <= end + timedelta(seconds=60)


def _time_verdict(recorded: datetime | None, wanted: datetime | None) -> str:
    """same / different / unknown for the recovery point time. A difference of whole quarter hours up to 14 hours could
    be a time zone (what zone the bag's time is in is not published), so it decides nothing."""
    if recorded is None or wanted is None:
        return "unknown"
    seconds = abs(int(round((recorded - wanted.replace(microsecond=0)).total_seconds())))
    if seconds == 0:
        return "same"
    return "unknown" if seconds % 900 == 0 and seconds <= 14 * 3600 else "different"


def compare_restore(job: dict, wanted: dict) -> tuple[str, list[str]]:
    """Whether a Restore job of the VM that has not failed is this restore: ("same" | "different" | "unknown", the
    fields that could not decide). Only fields public outputs of the job show decide (restore_job_record). A Restore
    job does not name the VM an alternate-location restore made, so a VM at the target is this job's only when Azure
    shows it was created while the job ran (its timeCreated within the job's startTime and endTime); a VM created at
    another time is not the job's ("different": the caller treats such a VM as a clash), and a VM without a
    timeCreated cannot be tied to the job ("unknown")."""
    recorded = restore_job_record(job)
    disks_only = wanted["restore_type"] == "RestoreDisks"
    verdicts = {"Job Type": "unknown" if not recorded["job_type"] else
                "same" if (recorded["job_type"].lower() == "recover disks") == disks_only else "different",
                "Recovery point time": _time_verdict(recorded["point_time"], wanted["point_time"]),
                "Target Storage Account Name": "unknown" if not recorded["storage_account"] else
                "same" if recorded["storage_account"].lower() == wanted["storage_account"].lower() else "different"}
    if recorded["target_resource_group"] or disks_only:
        want_rg = (wanted["target_resource_group"] or "").lower()
        verdicts["Target resource group"] = "unknown" if not recorded["target_resource_group"] else \
            "same" if recorded["target_resource_group"].lower() == want_rg else "different"
    if wanted["restore_type"] == "AlternateLocation" and dig(job, "properties", "status") in JOB_SUCCEEDED:
        tied = made_during(wanted.get("target_vm_created"), job) if wanted["target_vm_exists"] else False
        verdicts["the target VM's timeCreated"] = {True: "same", False: "different"}.get(tied, "unknown")
    if "different" in verdicts.values():
        return "different", []
    unknown = [name for name, verdict in verdicts.items() if verdict == "unknown"]
    if dig(job, "properties", "status") in JOB_RUNNING:
        return "unknown", unknown or ["its end"]
    return ("unknown", unknown) if unknown else ("same", [])


def disks_created_during(disks: list[dict], job: dict) -> list[dict]:
    """The managed disks (REST dicts) whose timeCreated lies within the job's run, OS disks first."""
    found = [d for d in disks if made_during(parse_time(dig(d, "properties", "timeCreated")), job)]
    return sorted(found, key=lambda d: (not dig(d, "properties", "osType"), str(d.get("name", "")).lower()))


def from_vm_backup(disk: dict, vm_name: str) -> bool:
    """The disk was created from a restore point of the VM's Azure Backup snapshots: creationData.createOption
    Restore with a sourceResourceId in the restore point collection AzureBackup_<vm name>_<n> (evidence register,
    restored-disk-source)."""
    creation = dig(disk, "properties", "creationData", default={}) or {}
    if str(creation.get("createOption", "")).lower() != "restore":
        return False
    source = str(creation.get("sourceResourceId") or "").partition("?")[0]
    collection = str(names_by_type(source).get("restorepointcollections") or "").lower()
    return collection.startswith(f"azurebackup_{vm_name.lower()}_")


def restored_disks(disks: list[dict], job: dict, vm_name: str) -> list[dict]:
    """The target group's disks a disk restore (RestoreDisks) made, each {id, name, matched_by}: "restore_point" when
    it was created while the job ran from the source VM's Azure Backup restore point (from_vm_backup), "time" when
    only its timeCreated ties it to the job (a disk made there by something else at the same time looks the same:
    never delete such a disk on this evidence). OS disks first."""
    return [{"id": d["id"], "name": d.get("name"), "matched_by": "restore_point" if from_vm_backup(d, vm_name) else "time"}
            for d in disks_created_during(disks, job)]


def restored_blobs(job: dict) -> dict:
    """The staging-account blobs a Restore job names in its propertyBag (None where it names none)."""
    bag = dig(job, "properties", "extendedInfo", "propertyBag", default={})
    return {"storage_account": _bag_value(bag, "Target Storage Account Name"),
            "container": _bag_value(bag, "Config Blob Container Name"),
            "config_blob": _bag_value(bag, "Config Blob Name"), "config_blob_uri": _bag_value(bag, "Config Blob Uri"),
            "template_blob_uri": _bag_value(bag, "Template Blob Uri"),
            "secured_encryption_info_blob": _bag_value(bag, "Secured Encryption Info Blob Name")}


def job_error_code(error: dict) -> str:
    """A job error's code for people: the string title (UserError...) with the numeric errorCode, as the service gives them."""
    title, number = error.get("title"), error.get("code")
    if title and number not in (None, "") and str(number) != title:
        return f"{title} ({number})"
    return str(title or number or "unknown")


def job_failure_message(job: dict, action: str = "Restore") -> str:
    """A sentence for a failed job: its error code and text, Azure's recommendations, and what to do next."""
    info = describe_job(job)
    errors = info["error_details"]
    text = f"The {action} job {info['name']} ended {info['status']}"
    if errors:
        first = errors[0]
        text += f" with error code {job_error_code(first)}: {first['message'] or 'no message'}"
        recommendations = [r for e in errors for r in e["recommendations"]]
        if recommendations:
            text += ". Azure recommends: " + " ".join(r.rstrip(".") + "." for r in recommendations)
    text = text.rstrip(".") + "."
    about = " ".join(f"{e['title']} {e['code']} {e['message']}" for e in errors).lower()
    if "key" in about or "encryption" in about:
        text += (" Check that the disk encryption set exists, is of type ConfidentialVmEncryptedWithCustomerKey and can "
                 "use its key, and that the Backup Management Service may read the key. ") + KEY_LOSS_RECOVERY
    else:
        text += " Fix the cause and run the restore again (a failed job is not reused: the next run starts a new restore)."
    return text


# ------------------------------------------------------------------------------------------------ reads (duck-typed client)


def backup_names(vault: dict, vm: dict) -> tuple:
    """(vault, vault group, fabric, container, protected item) of a VM in a vault, as the backup SDK operations take them."""
    rg, name = vm["resource_group"], vm["name"]
    return vault["name"], vault["resource_group"], "Azure", container_name(rg, name), protected_item_name(rg, name)
