# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure rules of CVM protection: vault body and diff, Azure VM policy body and diff, desired vs actual protection.

No SDK imports: inputs and outputs are plain dicts in the REST (camelCase) shape, as on the wire. Policies and vaults
are compared on *settings* (a small normalized dict of the fields the modules manage), never on raw bodies, so that
fields Azure adds (ids, counts, dates of schedule times) never cause a false change.
"""

from __future__ import annotations

import re

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import name_of, same
from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import dig, normalize_region
from ansible_collections.azure_cvm.backup.plugins.module_utils.windows_zones import SOURCE as ZONES_SOURCE, WINDOWS_ZONES

REDUNDANCY = ("LocallyRedundant", "GeoRedundant", "ZoneRedundant")
HOURLY_INTERVALS = (4, 6, 8, 12)
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEKS = ("First", "Second", "Third", "Fourth", "Last")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
          "December")
# Any date works: Azure reads only the time of day of schedule and retention times.
TIME_DATE = "2026-01-01"
TIME_RE = re.compile(r"(?:[01]\d|2[0-3]):(?:00|30)")
CRASH_ONLY = "OnlyCrashConsistent"

# protectionState values of an item that is protected (backups run or will run) vs stopped.
ACTIVE_STATES = ("IRPending", "Protected", "ProtectionError", "BackupsSuspended", "ProtectionPaused")
STOPPED = "ProtectionStopped"
NONE, PROTECT, CHANGE_POLICY, RESUME, STOP, DELETE, SOFT_DELETED = (
    "none", "protect", "change_policy", "resume", "stop", "delete", "soft_deleted")


# ------------------------------------------------------------------------------------------------ vault


def vault_settings(vault: dict) -> dict:
    """The managed settings of a vault (REST shape)."""
    redundancy = dig(vault, "properties", "redundancySettings", default={})
    return {"location": normalize_region(vault.get("location")),
            "sku": dig(vault, "sku", "name", default="Standard").replace("RS0", "Standard"),
            "storage_redundancy": redundancy.get("standardTierStorageRedundancy"),
            "cross_region_restore": redundancy.get("crossRegionRestore") == "Enabled",
            "tags": vault.get("tags") or {}}


def desired_vault_settings(params: dict, actual: dict | None) -> dict:
    """Settings from module options; an option left unset keeps the actual value (or Azure's default when new)."""
    base = actual or {"location": None, "sku": "Standard", "storage_redundancy": "GeoRedundant",
                      "cross_region_restore": False, "tags": {}}
    out = dict(base)
    for key in ("sku", "storage_redundancy", "cross_region_restore"):
        if params.get(key) is not None:
            out[key] = params[key]
    out["sku"] = out["sku"].replace("RS0", "Standard")  # the same SKU: PUT answers RS0, GET shows Standard
    if params.get("location"):
        out["location"] = normalize_region(params["location"])
    if params.get("tags") is not None:
        out["tags"] = dict(params["tags"])
    return out


def vault_changes(desired: dict, actual: dict | None) -> list[str]:
    """The settings that differ (all of them for a new vault)."""
    if actual is None:
        return sorted(desired)
    return sorted(k for k in desired if desired[k] != actual.get(k))


def vault_errors(desired: dict, actual: dict | None, protected_items: int = 0) -> list[str]:
    errors = []
    if actual is None and not desired.get("location"):
        errors.append("location is required to create a vault.")
    if actual is not None and desired["location"] != actual["location"]:
        errors.append(f"The vault is in {actual['location']}; a vault cannot move to {desired['location']}. "
                      "Create a new vault in that region instead.")
    if actual is not None and protected_items and desired["storage_redundancy"] != actual["storage_redundancy"]:
        errors.append(f"Storage redundancy cannot change from {actual['storage_redundancy']} to "
                      f"{desired['storage_redundancy']} while the vault holds {protected_items} backup item(s).")
    if desired["cross_region_restore"] and desired["storage_redundancy"] != "GeoRedundant":
        errors.append("Cross-region restore needs storage_redundancy GeoRedundant.")
    return errors


def vault_patch(desired: dict, changes: list) -> dict:
    """A PATCH body with only what changed (PATCH keeps what we do not manage, such as the vault identity)."""
    body = {}
    if "sku" in changes:
        body["sku"] = {"name": desired["sku"]}
    if "tags" in changes:
        body["tags"] = desired["tags"]
    if {"storage_redundancy", "cross_region_restore"} & set(changes):
        body["properties"] = vault_body(desired)["properties"]
        del body["properties"]["publicNetworkAccess"]
    return body


def vault_body(desired: dict) -> dict:
    return {"location": desired["location"], "tags": desired["tags"], "sku": {"name": desired["sku"]},
            "properties": {"publicNetworkAccess": "Enabled", "redundancySettings": {
                "standardTierStorageRedundancy": desired["storage_redundancy"],
                "crossRegionRestore": "Enabled" if desired["cross_region_restore"] else "Disabled"}}}


# ------------------------------------------------------------------------------------------------ policy


def time_of_day(value: str | None) -> str | None:
    """'2021-12-17T08:00:00+00:00' -> '08:00'; None stays None."""
    match = re.search(r"T(\d\d:\d\d)", value or "")
    return match.group(1) if match else None


def _iso(hhmm: str) -> str:
    return f"{TIME_DATE}T{hhmm}:00Z"


def _given(value, default):
    """An option's value, or `default` only when it was not given: an explicit 0 reaches policy_errors."""
    return default if value is None else value


def desired_policy_settings(p: dict) -> dict:
    """Settings from the backup_policy options (missing keys get the documented defaults)."""
    enhanced = p.get("policy_type", "enhanced") == "enhanced"
    retention = p.get("retention") or {}
    weekly, monthly, yearly = retention.get("weekly"), retention.get("monthly"), retention.get("yearly")
    hourly = p.get("frequency", "daily") == "hourly"
    return {
        "policy_type": "V2" if enhanced else "V1",
        "time_zone": p.get("time_zone") or "UTC",
        "instant_restore_days": _given(p.get("instant_restore_days"), 7 if enhanced else 2),
        "snapshot_consistency": p.get("snapshot_consistency") or "default",
        "frequency": "hourly" if hourly else "daily",
        "schedule_time": p.get("schedule_time") or "02:00",
        "hourly_interval": (p.get("hourly_interval") or 4) if hourly else None,
        "hourly_window_hours": _given(p.get("hourly_window_hours"), 24) if hourly else None,
        "daily_days": _given(retention.get("daily_days"), 30),
        "weekly": {"count": weekly["count"], "days_of_week": list(weekly.get("days_of_week") or ["Sunday"])} if weekly else None,
        "monthly": {"count": monthly["count"], "weeks_of_month": list(monthly.get("weeks_of_month") or ["First"]),
                    "days_of_week": list(monthly.get("days_of_week") or ["Sunday"])} if monthly else None,
        "yearly": {"count": yearly["count"], "months_of_year": list(yearly.get("months_of_year") or ["January"]),
                   "weeks_of_month": list(yearly.get("weeks_of_month") or ["First"]),
                   "days_of_week": list(yearly.get("days_of_week") or ["Sunday"])} if yearly else None,
    }


def time_zone_problem(value) -> str | None:
    """Why `value` is not a Windows time zone id (windows_zones, spelt exactly as Windows does), or None."""
    if value in WINDOWS_ZONES:
        return None
    near = [z for z in WINDOWS_ZONES if z.lower() == str(value).strip().lower()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return (f"time_zone must be a Windows time zone name spelt exactly as Windows does, such as UTC or Korea Standard Time "
            f"(the ids of {ZONES_SOURCE}), got {value!r}{hint}.")


def policy_errors(s: dict) -> list[str]:
    """What Azure would refuse in these settings, as sentences; empty when valid."""
    errors = []
    v2 = s["policy_type"] == "V2"
    top = 30 if v2 else 5
    if not 1 <= s["instant_restore_days"] <= top:
        errors.append(f"instant_restore_days must be 1-{top} for {'an Enhanced' if v2 else 'a Standard'} policy, "
                      f"got {s['instant_restore_days']}.")
    zone_problem = time_zone_problem(s["time_zone"])
    if zone_problem:
        errors.append(zone_problem)
    if not TIME_RE.fullmatch(s["schedule_time"] or ""):
        errors.append(f"schedule_time must be HH:MM on the hour or half hour (e.g. 02:00 or 21:30), got {s['schedule_time']!r}.")
    if s["frequency"] == "hourly":
        if not v2:
            errors.append("An hourly schedule needs an Enhanced policy (policy_type: enhanced).")
        if s["hourly_interval"] not in HOURLY_INTERVALS:
            errors.append(f"hourly_interval must be one of {', '.join(map(str, HOURLY_INTERVALS))}, got {s['hourly_interval']}.")
        elif not s["hourly_interval"] <= s["hourly_window_hours"] <= 24:
            errors.append(f"hourly_window_hours must be between hourly_interval ({s['hourly_interval']}) and 24, "
                          f"got {s['hourly_window_hours']}.")
    if not 7 <= s["daily_days"] <= 9999:
        errors.append(f"retention.daily_days must be 7-9999, got {s['daily_days']}.")
    elif s["instant_restore_days"] > s["daily_days"]:
        errors.append("instant_restore_days cannot exceed retention.daily_days.")
    limits = {"weekly": 5163, "monthly": 1188, "yearly": 99}
    for kind, top in limits.items():
        if s[kind] and not 1 <= s[kind]["count"] <= top:
            errors.append(f"retention.{kind}.count must be 1-{top}, got {s[kind]['count']}.")
    return errors


def _week_format(days, weeks) -> dict:
    return {"retentionScheduleFormatType": "Weekly", "retentionScheduleDaily": None,
            "retentionScheduleWeekly": {"daysOfTheWeek": list(days), "weeksOfTheMonth": list(weeks)}}


def policy_body(s: dict) -> dict:
    """The ProtectionPolicyResource body (AzureIaasVM) for these settings: V2 (Enhanced) or V1 (Standard)."""
    at = [_iso(s["schedule_time"])]
    props = {"backupManagementType": "AzureIaasVM", "timeZone": s["time_zone"],
             "instantRpRetentionRangeInDays": s["instant_restore_days"]}
    if s["policy_type"] == "V2":
        props["policyType"] = "V2"
        schedule = {"schedulePolicyType": "SimpleSchedulePolicyV2"}
        if s["frequency"] == "hourly":
            schedule.update(scheduleRunFrequency="Hourly", hourlySchedule={
                "interval": s["hourly_interval"], "scheduleWindowStartTime": at[0], "scheduleWindowDuration": s["hourly_window_hours"]})
        else:
            schedule.update(scheduleRunFrequency="Daily", dailySchedule={"scheduleRunTimes": at})
    else:
        schedule = {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": at,
                    "scheduleWeeklyFrequency": 0}
    if s["snapshot_consistency"] == "crash_consistent_only":
        props["snapshotConsistencyType"] = CRASH_ONLY
    retention = {"retentionPolicyType": "LongTermRetentionPolicy",
                 "dailySchedule": {"retentionTimes": at, "retentionDuration": {"count": s["daily_days"], "durationType": "Days"}}}
    if s["weekly"]:
        retention["weeklySchedule"] = {"daysOfTheWeek": s["weekly"]["days_of_week"], "retentionTimes": at,
                                       "retentionDuration": {"count": s["weekly"]["count"], "durationType": "Weeks"}}
    if s["monthly"]:
        retention["monthlySchedule"] = {**_week_format(s["monthly"]["days_of_week"], s["monthly"]["weeks_of_month"]),
                                        "retentionTimes": at,
                                        "retentionDuration": {"count": s["monthly"]["count"], "durationType": "Months"}}
    if s["yearly"]:
        retention["yearlySchedule"] = {**_week_format(s["yearly"]["days_of_week"], s["yearly"]["weeks_of_month"]),
                                       "monthsOfYear": s["yearly"]["months_of_year"], "retentionTimes": at,
                                       "retentionDuration": {"count": s["yearly"]["count"], "durationType": "Years"}}
    props.update(schedulePolicy=schedule, retentionPolicy=retention)
    return {"properties": props}


def policy_settings(policy: dict) -> dict:
    """The managed settings of an existing policy (REST shape): the inverse of policy_body."""
    props = policy.get("properties") or {}
    schedule = props.get("schedulePolicy") or {}
    retention = props.get("retentionPolicy") or {}
    hourly = schedule.get("scheduleRunFrequency") == "Hourly"
    if hourly:
        start = dig(schedule, "hourlySchedule", "scheduleWindowStartTime")
    else:
        times = dig(schedule, "dailySchedule", "scheduleRunTimes") or schedule.get("scheduleRunTimes") or []
        start = times[0] if times else None
    weekly, monthly, yearly = (retention.get(k) for k in ("weeklySchedule", "monthlySchedule", "yearlySchedule"))

    def weekly_format(sched):
        return dig(sched, "retentionScheduleWeekly", default={})

    return {
        "policy_type": "V2" if props.get("policyType") == "V2" else "V1",
        "time_zone": props.get("timeZone") or "UTC",
        "instant_restore_days": props.get("instantRpRetentionRangeInDays"),
        "snapshot_consistency": "crash_consistent_only" if props.get("snapshotConsistencyType") == CRASH_ONLY else "default",
        "frequency": "hourly" if hourly else "daily",
        "schedule_time": time_of_day(start),
        "hourly_interval": dig(schedule, "hourlySchedule", "interval") if hourly else None,
        "hourly_window_hours": dig(schedule, "hourlySchedule", "scheduleWindowDuration") if hourly else None,
        "daily_days": dig(retention, "dailySchedule", "retentionDuration", "count"),
        "weekly": {"count": dig(weekly, "retentionDuration", "count"),
                   "days_of_week": list(weekly.get("daysOfTheWeek") or [])} if weekly else None,
        "monthly": {"count": dig(monthly, "retentionDuration", "count"),
                    "weeks_of_month": list(weekly_format(monthly).get("weeksOfTheMonth") or []),
                    "days_of_week": list(weekly_format(monthly).get("daysOfTheWeek") or [])} if monthly else None,
        "yearly": {"count": dig(yearly, "retentionDuration", "count"), "months_of_year": list(yearly.get("monthsOfYear") or []),
                   "weeks_of_month": list(weekly_format(yearly).get("weeksOfTheMonth") or []),
                   "days_of_week": list(weekly_format(yearly).get("daysOfTheWeek") or [])} if yearly else None,
    }


def _canon(value):
    """Lists of weekdays/weeks/months compare as sets (Azure may reorder them)."""
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted(value)
    return value


def policy_changes(desired: dict, actual: dict | None) -> list[str]:
    if actual is None:
        return sorted(desired)
    return sorted(k for k in desired if _canon(desired[k]) != _canon(actual.get(k)))


def crash_consistent_blockers(policy_props: dict, vms: list) -> list[str]:
    """Multi-disk crash-consistent backup is not supported for CVMs: a crash-consistent-only policy must not cover a
    CVM with data disks. vms: VM facts (cvm_rules.vm_facts)."""
    if (policy_props or {}).get("snapshotConsistencyType") != CRASH_ONLY:
        return []
    return [f"VM {v['name']} is a confidential VM with {v['data_disks']} data disk(s): multi-disk crash-consistent backup "
            "is not supported for confidential VMs, so it cannot use a crash-consistent-only policy."
            for v in vms if v["security_type"] == "ConfidentialVM" and v["data_disks"]]


# ------------------------------------------------------------------------------------------------ protection


def item_view(item: dict | None) -> dict:
    """What matters of a protected item (REST shape) for the decision and the result."""
    if item is None:
        return {"protection_state": "NotProtected", "policy_id": None, "policy": None, "soft_deleted": False}
    props = item.get("properties") or {}
    pid = props.get("policyId") or None
    return {"protection_state": props.get("protectionState") or "Invalid", "policy_id": pid,
            "policy": props.get("policyName") or (name_of(pid) if pid else None),
            "soft_deleted": bool(props.get("isScheduledForDeferredDelete"))}


def protection_action(want: str, item: dict | None, wanted_policy_id: str | None) -> str:
    """What to do for one VM: none | protect | change_policy | resume | stop | delete | soft_deleted (cannot act)."""
    view = item_view(item)
    exists = item is not None and not view["soft_deleted"]
    if want == "protected":
        if item is None:
            return PROTECT
        if view["soft_deleted"]:
            return SOFT_DELETED
        if view["protection_state"] == STOPPED:
            return RESUME
        return NONE if same(view["policy_id"], wanted_policy_id) else CHANGE_POLICY
    if want == "stopped":
        return STOP if exists and view["protection_state"] != STOPPED else NONE
    if want == "absent":
        return DELETE if exists else NONE
    raise ValueError(f"unknown state {want!r}")


def action_done(action: str, item: dict | None, wanted_policy_id: str | None) -> bool:
    """Whether a listed item shows that the action has taken effect."""
    view = item_view(item)
    if action in (PROTECT, CHANGE_POLICY, RESUME):
        return item is not None and view["protection_state"] in ACTIVE_STATES and same(view["policy_id"], wanted_policy_id)
    if action == STOP:
        return view["protection_state"] == STOPPED
    if action == DELETE:
        return item is None or view["soft_deleted"]
    return True


def protect_body(vm_id: str, wanted_policy_id: str) -> dict:
    return {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm_id,
                           "policyId": wanted_policy_id}}


def stop_body(vm_id: str) -> dict:
    return {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm_id,
                           "protectionState": STOPPED}}


def state_after(action: str, before: dict, wanted_policy: str | None) -> dict:
    """The protection state and policy a VM will have once the action is done (for check mode and diff)."""
    if action in (PROTECT, CHANGE_POLICY, RESUME):
        return {"protection_state": "Protected" if action != PROTECT else "IRPending", "policy": wanted_policy}
    if action == STOP:
        return {"protection_state": STOPPED, "policy": before["policy"]}
    if action == DELETE:
        return {"protection_state": "NotProtected", "policy": None}
    return {"protection_state": before["protection_state"], "policy": before["policy"]}


def item_key(item: dict) -> str | None:
    """The VM id a protected or protectable item is about, lower-cased."""
    props = item.get("properties") or {}
    rid = props.get("sourceResourceId") or props.get("virtualMachineId")
    return rid.rstrip("/").lower() if rid else None


def totals(results: list) -> dict:
    out = {"vms": len(results), "changed": 0, "unchanged": 0, "failed": 0, "backups": 0}
    for action in (PROTECT, CHANGE_POLICY, RESUME, STOP, DELETE):
        out[action] = 0
    for r in results:
        if r.get("error"):
            out["failed"] += 1
        elif r["changed"]:
            out["changed"] += 1
        else:
            out["unchanged"] += 1
        if r["action"] in out and not r.get("error"):
            out[r["action"]] += 1
        out["backups"] += 1 if r.get("backup_job_id") else 0
    return out
