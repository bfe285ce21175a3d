# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup posture of a confidential VM (backup_posture_info): pure decisions on REST dicts and on what
posture.py read, no SDK and no HTTP. Unit-tested in tests/unit/test_posture_rules.py.

A verdict is the worst severity of the VM's reasons: unprotected > failing > at_risk > healthy (no reason)."""

from __future__ import annotations

from datetime import datetime, timezone

from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import vault_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import dig
from ansible_collections.azure_cvm.backup.plugins.module_utils.restore_rules import describe_job, job_error_code, job_is_for_vm, \
    parse_time

HEALTHY, AT_RISK, FAILING, UNPROTECTED = "healthy", "at_risk", "failing", "unprotected"
VERDICTS = (HEALTHY, AT_RISK, FAILING, UNPROTECTED)
RPO_HOURS = {"daily": 24.0, "weekly": 168.0}
JOB_FAILED = ("Failed", "Cancelled", "CompletedWithWarnings")  # a backup job that did not simply complete
UNUSABLE_PROTECTION_STATES = ("protectionstopped", "protectionerror", "invalid")


def reason(code: str, severity: str, message: str) -> dict:
    return {"code": code, "severity": severity, "message": message.rstrip(".") + "."}


def verdict(reasons: list[dict]) -> str:
    """The worst severity among the reasons; healthy without any."""
    rank = {HEALTHY: 0, AT_RISK: 1, FAILING: 2, UNPROTECTED: 3}
    return max((r["severity"] for r in reasons), key=rank.get, default=HEALTHY)


def summary(vms: list[dict]) -> dict:
    out = {"total": len(vms), **{v: 0 for v in VERDICTS}}
    for vm in vms:
        out[vm["verdict"]] += 1
    return out


def iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


# ------------------------------------------------------------------------------------------------ facts


def protection(item: dict | None, vault: dict | None) -> dict:
    """The schema's `protection` of a VM from its protected item (REST) and the vault it is in."""
    props = (item or {}).get("properties") or {}
    usable = bool(item) and str(props.get("protectionState") or "").lower() not in UNUSABLE_PROTECTION_STATES
    return {"protected": usable, "vault_id": (vault or {}).get("id") if item else None,
            "vault_name": (vault or {}).get("name") if item else None,
            "policy_id": props.get("policyId") or None, "policy_name": props.get("policyName") or None,
            "protection_state": props.get("protectionState") if item else None,
            "health_status": props.get("healthStatus") if item else None}


def rpo_hours(policy: dict | None) -> float | None:
    """The RPO a policy's schedule promises: daily 24 h, weekly 168 h, hourly its interval; None when unknown."""
    schedule = dig(policy, "properties", "schedulePolicy", default={}) or {}
    frequency = str(schedule.get("scheduleRunFrequency") or "").lower()
    if frequency == "hourly":
        interval = dig(schedule, "hourlySchedule", "interval")
        return float(interval) if interval else None
    return RPO_HOURS.get(frequency)


def last_backup(item: dict | None, policy: dict | None, now: datetime, grace_hours: float) -> dict:
    """{time, age_hours, rpo_hours, rpo_met, status} of a protected item; rpo_met: the last backup is no older than the
    policy's RPO plus `grace_hours` (None without a last backup time or a known RPO)."""
    props = (item or {}).get("properties") or {}
    when = parse_time(props.get("lastBackupTime")) if props.get("lastBackupTime") else None
    age = round((now - when).total_seconds() / 3600.0, 2) if when else None
    rpo = rpo_hours(policy) if item else None
    met = None if age is None or rpo is None else age <= rpo + grace_hours
    return {"time": iso(when), "age_hours": age, "rpo_hours": rpo, "rpo_met": met, "status": props.get("lastBackupStatus") or None}


def last_job(jobs: list[dict], vm_name: str, resource_group: str) -> dict | None:
    """The newest Backup job of the VM among a vault's jobs (REST), in the schema's form; None if there is none."""
    mine = [j for j in jobs if job_is_for_vm(j, vm_name, resource_group)]
    if not mine:
        return None
    newest = max(mine, key=lambda j: parse_time(dig(j, "properties", "startTime")) or datetime.min.replace(tzinfo=timezone.utc))
    info = describe_job(newest)
    first = info["error_details"][0] if info["error_details"] else None
    return {"name": info["name"], "status": info["status"], "start_time": info["start_time"], "end_time": info["end_time"],
            "error_code": job_error_code(first) if first else None, "error_message": first["message"] if first else None,
            "recommendations": [r for e in info["error_details"] for r in e["recommendations"]]}


def latest_point(points: list[dict]) -> dict | None:
    """The newest recovery point (REST) as {name, time, tiers}: tiers are the valid recoveryPointTierDetails types."""
    if not points:
        return None
    newest = max(points, key=lambda p: parse_time(dig(p, "properties", "recoveryPointTime")) or datetime.min.replace(tzinfo=timezone.utc))
    tiers = [t.get("type") for t in dig(newest, "properties", "recoveryPointTierDetails", default=[]) or [] if t.get("status") == "Valid"]
    return {"name": newest.get("name"), "time": dig(newest, "properties", "recoveryPointTime"), "tiers": tiers}


def key_state(location: dict, attributes: dict | None, now: datetime, backup_access: bool | None) -> dict:
    """The schema's `key` from a key location (arm_ids.key_location) and its KeyAttributes (enabled, exp: unix time)."""
    attributes = attributes or {}
    exp = attributes.get("exp")
    expires = datetime.fromtimestamp(int(exp), timezone.utc) if exp is not None else None
    days = int((expires - now).total_seconds() // 86400) if expires else None
    return {"store_type": location["kind"], "key_url": location["key_url"],
            "enabled": attributes.get("enabled") if "enabled" in attributes else None,
            "expires": iso(expires), "days_left": days, "backup_access": backup_access}


def des_state(des_id: str, counts: dict | None, threshold: int, error: str | None = None) -> dict:
    """The schema's `disk_encryption_set`: disks + snapshots against the threshold (cvm_rules.check_des_threshold);
    counts None (not listed): the counts and over_threshold are null and the message says why."""
    check = cvm_rules.check_des_threshold({"key_type": "CMK", "des_id": des_id}, counts, threshold, error)
    snapshots = counts["snapshots"] if counts else None
    return {"id": des_id, "disk_count": counts["disks"] if counts else None, "snapshot_count": snapshots,
            "threshold": max(threshold - (snapshots or 0), 0), "over_threshold": check.status == cvm_rules.WARN if counts else None,
            "message": check.message}


def vault_state(vault: dict | None) -> dict | None:
    if vault is None:
        return None
    hard = vault_rules.hardening(vault)
    crr = dig(vault, "properties", "redundancySettings", "crossRegionRestore")
    return {"id": vault.get("id"), "name": vault.get("name"),
            "soft_delete": vault_rules.SOFT_DELETE.get(hard["soft_delete"]),
            "immutability": vault_rules.IMMUTABILITY.get(hard["immutability"]),
            "cross_region_restore": None if crr is None else crr == "Enabled"}


# ------------------------------------------------------------------------------------------------ reasons


def protection_reasons(record: dict) -> list[dict]:
    prot = record["protection"]
    if prot["protected"]:
        return []
    if prot["protection_state"]:
        text = f"Protection of the VM in vault {prot['vault_name']} is {prot['protection_state']}: no new backups are taken"
        return [reason("not_protected", UNPROTECTED, text)]
    return [reason("not_protected", UNPROTECTED, "The VM is not protected by Azure Backup in any Recovery Services vault")]


def backup_reasons(record: dict) -> list[dict]:
    out = []
    job, last = record.get("last_job"), record.get("last_backup") or {}
    if job and job["status"] in JOB_FAILED:
        code = f" with error {job['error_code']}" if job["error_code"] else ""
        out.append(reason("last_job_failed", FAILING, f"The last backup job {job['name']} ended {job['status']}{code}"))
    elif not job and str(last.get("status") or "").lower() == "failed":
        out.append(reason("last_job_failed", FAILING, "The item's last backup failed (lastBackupStatus Failed)"))
    if last.get("rpo_met") is False:
        out.append(reason("rpo_missed", AT_RISK, f"The last backup is {last['age_hours']:.0f} hours old, more than the "
                                                 f"policy's {last['rpo_hours']:.0f}-hour schedule allows"))
    elif record["protection"]["protected"] and not last.get("time"):
        out.append(reason("no_backup_yet", AT_RISK, "The VM has no completed backup yet"))
    return out


def key_reasons(key: dict | None, warning_days: int, problem: str | None = None) -> list[dict]:
    """Key state and Backup Management Service access; `problem`: why the DES or its key could not be read at all;
    key["problems"]: what of the key could not be read (its attributes, the access, the DES's resources)."""
    if key is None:
        return [reason("key_unreadable", AT_RISK, problem)] if problem else []
    out = []
    unread = "; ".join(key.get("problems") or []) or "not readable"
    if key.get("exists") is False:
        out.append(reason("key_missing", FAILING, f"The key {key['key_url']} is not in its key store any more"))
    elif key["enabled"] is None and key["days_left"] is None:
        out.append(reason("key_unreadable", AT_RISK, f"The state of the key {key['key_url']} could not be read: {unread}"))
    if key["enabled"] is False:
        out.append(reason("key_disabled", FAILING, f"The key {key['key_url']} is disabled"))
    if key["days_left"] is not None and key["days_left"] < 0:
        out.append(reason("key_expired", FAILING, f"The key {key['key_url']} expired on {key['expires']}"))
    elif key["days_left"] is not None and key["days_left"] <= warning_days:
        out.append(reason("key_expires_soon", AT_RISK, f"The key {key['key_url']} expires on {key['expires']}, in "
                                                       f"{key['days_left']} days"))
    if key["backup_access"] is False:
        out.append(reason("key_access_missing", FAILING, "The Backup Management Service has no access to back up the key "
                                                         f"{key['key_url']} (access policy, Azure role or Managed HSM role)"))
    elif key["backup_access"] is None:
        out.append(reason("key_access_unknown", AT_RISK, f"The Backup Management Service's access to the key could not be "
                                                         f"checked: {unread}"))
    return out


def des_reasons(des: dict | None) -> list[dict]:
    if des and des["over_threshold"]:
        return [reason("des_over_threshold", AT_RISK, des["message"])]
    if des and des["over_threshold"] is None:
        return [reason("des_unreadable", AT_RISK, des["message"])]
    return []


def vault_reasons(vault: dict | None) -> list[dict]:
    out = []
    if vault and vault["soft_delete"] == "Disabled":
        out.append(reason("soft_delete_off", AT_RISK, f"Vault {vault['name']} has soft delete off: deleted backup data is "
                                                      "gone at once"))
    if vault and vault["immutability"] == "Disabled":
        out.append(reason("immutability_off", AT_RISK, f"Vault {vault['name']} is not immutable: recovery points can be "
                                                       "deleted before they expire"))
    if vault and vault["cross_region_restore"]:
        out.append(reason("cross_region_restore_on", AT_RISK, f"Vault {vault['name']} has cross-region restore on, which is "
                                                              "not supported for confidential VMs"))
    return out


def subscription_reasons(sub: dict) -> list[dict]:
    out = []
    if sub["preview_feature"] != "Registered":
        out.append(reason("feature_not_registered", AT_RISK, f"The preview feature {cvm_rules.RESTORE_POINT_FEATURE} is "
                                                             f"{sub['preview_feature']} in subscription {sub['subscription_id']}"))
    if sub["blocking_features"]:
        out.append(reason("blocking_feature_registered", FAILING, "Feature(s) that block confidential VM backup are registered "
                                                                  f"in subscription {sub['subscription_id']}: "
                                                                  + ", ".join(sub["blocking_features"])))
    return out


def vm_reasons(record: dict, subscription: dict, warning_days: int, key_problem: str | None = None) -> list[dict]:
    """Every reason of a VM record (the schema's fields) in a stable order: protection, backups, key, DES, vault,
    subscription."""
    out = protection_reasons(record)
    if record["protection"]["protected"]:
        out += backup_reasons(record)
    out += key_reasons(record.get("key"), warning_days, key_problem)
    out += des_reasons(record.get("disk_encryption_set"))
    if record["protection"]["protected"]:
        out += vault_reasons(record.get("vault"))
    return out + subscription_reasons(subscription)


def subscription_problems(sub: dict) -> list[str]:
    return [r["message"] for r in subscription_reasons(sub)]
