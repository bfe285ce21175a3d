"""Pure protection rules (vault, policy, protection decisions) and the fleet helpers (bounded concurrency, rounds)."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids as ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import fleet
from ansible_collections.azure_cvm.backup.plugins.module_utils import waiting
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules as r

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
REF = {"subscription_id": SUB, "resource_group": "rg-backup", "name": "rsv-cvm-kc"}
PID = ids.policy_id(REF, "cvm-daily")
VM = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-pmk-01"


def item(state="Protected", policy=PID, **extra):
    return {"id": "x", "name": "VM;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01",
            "properties": {"sourceResourceId": VM, "protectionState": state, "policyId": policy, **extra}}


# ------------------------------------------------------------------------------------------------ vault refs


def test_vault_ref_forms():
    vid = ids.vault_id(REF)
    assert ids.parse_vault_ref(vid, SUB) == REF
    assert ids.parse_vault_ref({"name": "rsv-cvm-kc", "resource_group": "rg-backup"}, SUB) == REF
    with pytest.raises(ValueError, match="subscription"):
        ids.parse_vault_ref(vid.replace(SUB, "0" * 8), SUB)
    for bad in ("rsv-cvm-kc", {"name": "x"}, vid + "/backupPolicies/p", vid.replace("RecoveryServices", "Compute")):
        with pytest.raises(ValueError, match="not a Recovery Services vault"):
            ids.parse_vault_ref(bad, SUB)


def test_same_id_ignores_case_and_trailing_slash():
    assert ids.same(PID, PID.replace("/subscriptions/", "/Subscriptions/").lower() + "/")
    assert not ids.same(PID, None) and not ids.same(PID, PID + "x")


# ------------------------------------------------------------------------------------------------ vault


def wire_vault(redundancy="LocallyRedundant", crr="Disabled", sku="Standard", location="koreacentral"):
    return {"location": location, "sku": {"name": sku}, "tags": {},
            "properties": {"redundancySettings": {"standardTierStorageRedundancy": redundancy, "crossRegionRestore": crr}}}


def test_vault_settings_round_trip_and_defaults_for_new_vault():
    desired = r.desired_vault_settings({"location": "Korea Central"}, None)
    assert desired == {"location": "koreacentral", "sku": "Standard", "storage_redundancy": "GeoRedundant",
                       "cross_region_restore": False, "tags": {}}
    assert r.vault_settings(r.vault_body(desired)) == desired
    assert r.vault_changes(desired, None) == sorted(desired)


def test_vault_unset_options_keep_actual_and_rs0_is_standard():
    actual = r.vault_settings(wire_vault("GeoRedundant", "Enabled", sku="RS0"))
    assert actual["sku"] == "Standard"
    desired = r.desired_vault_settings({"sku": "RS0", "storage_redundancy": None, "cross_region_restore": None}, actual)
    assert r.vault_changes(desired, actual) == []


def test_vault_changes_and_patch_only_touch_what_differs():
    actual = r.vault_settings(wire_vault())
    desired = r.desired_vault_settings({"cross_region_restore": True, "storage_redundancy": "GeoRedundant", "tags": {"a": "1"}}, actual)
    changes = r.vault_changes(desired, actual)
    assert changes == ["cross_region_restore", "storage_redundancy", "tags"]
    patch = r.vault_patch(desired, changes)
    assert patch == {"tags": {"a": "1"}, "properties": {"redundancySettings": {
        "standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Enabled"}}}
    assert r.vault_patch(desired, ["tags"]) == {"tags": {"a": "1"}}


def test_vault_errors():
    actual = r.vault_settings(wire_vault())
    assert "location is required" in r.vault_errors(r.desired_vault_settings({}, None), None)[0]
    moved = r.desired_vault_settings({"location": "uaenorth"}, actual)
    assert "cannot move" in r.vault_errors(moved, actual)[0]
    grs = r.desired_vault_settings({"storage_redundancy": "GeoRedundant"}, actual)
    assert r.vault_errors(grs, actual, protected_items=0) == []
    assert "2 backup item(s)" in r.vault_errors(grs, actual, protected_items=2)[0]
    crr = r.desired_vault_settings({"cross_region_restore": True}, actual)
    assert "needs storage_redundancy GeoRedundant" in r.vault_errors(crr, actual)[0]


# ------------------------------------------------------------------------------------------------ policy


def test_enhanced_daily_policy_body_matches_the_wire_shape():
    s = r.desired_policy_settings({"schedule_time": "21:30", "time_zone": "Korea Standard Time"})
    body = r.policy_body(s)["properties"]
    assert body["policyType"] == "V2" and body["instantRpRetentionRangeInDays"] == 7
    assert body["schedulePolicy"] == {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
                                      "dailySchedule": {"scheduleRunTimes": ["2026-01-01T21:30:00Z"]}}
    assert body["retentionPolicy"]["dailySchedule"]["retentionDuration"] == {"count": 30, "durationType": "Days"}
    assert "snapshotConsistencyType" not in body and "weeklySchedule" not in body["retentionPolicy"]


def test_hourly_and_long_term_retention_round_trip():
    opts = {"frequency": "hourly", "hourly_interval": 6, "hourly_window_hours": 12, "schedule_time": "08:00",
            "instant_restore_days": 30, "snapshot_consistency": "crash_consistent_only",
            "retention": {"daily_days": 180, "weekly": {"count": 12, "days_of_week": ["Sunday", "Wednesday"]},
                          "monthly": {"count": 60}, "yearly": {"count": 10, "months_of_year": ["March"]}}}
    s = r.desired_policy_settings(opts)
    body = r.policy_body(s)
    props = body["properties"]
    assert props["schedulePolicy"]["hourlySchedule"] == {"interval": 6, "scheduleWindowStartTime": "2026-01-01T08:00:00Z",
                                                         "scheduleWindowDuration": 12}
    assert props["snapshotConsistencyType"] == "OnlyCrashConsistent"
    weekly = props["retentionPolicy"]["yearlySchedule"]["retentionScheduleWeekly"]
    assert weekly == {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First"]}
    assert r.policy_settings(body) == s
    assert r.policy_errors(s) == []


def test_standard_policy_shape():
    s = r.desired_policy_settings({"policy_type": "standard"})
    props = r.policy_body(s)["properties"]
    assert "policyType" not in props and props["instantRpRetentionRangeInDays"] == 2
    assert props["schedulePolicy"]["schedulePolicyType"] == "SimpleSchedulePolicy"
    assert r.policy_settings(r.policy_body(s)) == s


def test_policy_compared_on_managed_fields_only():
    s = r.desired_policy_settings({"retention": {"weekly": {"count": 4, "days_of_week": ["Monday", "Sunday"]}}})
    existing = r.policy_body(s)
    existing.update(id="/x", name="p", type="Microsoft.RecoveryServices/vaults/backupPolicies")
    existing["properties"].update(protectedItemsCount=3, resourceGuardOperationRequests=None)
    existing["properties"]["schedulePolicy"]["dailySchedule"]["scheduleRunTimes"] = ["2018-01-24T02:00:00+00:00"]
    existing["properties"]["retentionPolicy"]["weeklySchedule"]["daysOfTheWeek"] = ["Sunday", "Monday"]
    assert r.policy_changes(s, r.policy_settings(existing)) == []
    s2 = dict(s, instant_restore_days=10, schedule_time="03:00")
    assert r.policy_changes(s2, r.policy_settings(existing)) == ["instant_restore_days", "schedule_time"]
    assert r.policy_changes(s, None) == sorted(s)


@pytest.mark.parametrize("opts,fragment", [
    ({"instant_restore_days": 31}, "instant_restore_days must be 1-30"),
    ({"policy_type": "standard", "instant_restore_days": 6}, "1-5 for a Standard"),
    ({"schedule_time": "02:15"}, "schedule_time must be HH:MM"),
    ({"schedule_time": "24:00"}, "schedule_time must be HH:MM"),
    ({"frequency": "hourly", "policy_type": "standard"}, "needs an Enhanced policy"),
    ({"frequency": "hourly", "hourly_interval": 5}, "hourly_interval must be one of 4, 6, 8, 12"),
    ({"frequency": "hourly", "hourly_interval": 8, "hourly_window_hours": 6}, "between hourly_interval (8) and 24"),
    ({"retention": {"daily_days": 6}}, "daily_days must be 7-9999"),
    ({"instant_restore_days": 20, "retention": {"daily_days": 10}}, "cannot exceed"),
    ({"retention": {"yearly": {"count": 100}}}, "yearly.count must be 1-99"),
])
def test_policy_errors(opts, fragment):
    errors = r.policy_errors(r.desired_policy_settings(opts))
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize("zone", ["UTC", "Korea Standard Time", "W. Europe Standard Time", "UTC+12", "Russia Time Zone 3",
                                  "Pacific Standard Time (Mexico)", "Aus Central W. Standard Time"])
def test_windows_time_zone_ids_pass(zone):
    assert r.time_zone_problem(zone) is None
    assert r.policy_errors(r.desired_policy_settings({"time_zone": zone})) == []


@pytest.mark.parametrize("zone, hint", [
    ("Mars Standard Time", None), ("Korea standard time", "Korea Standard Time"), ("utc", "UTC"),
    ("Asia/Seoul", None), ("UTC+14", None), ("Korea Standard Time ", "Korea Standard Time"),
])
def test_time_zones_outside_the_windows_list_are_refused(zone, hint):
    """Membership of CLDR's Windows ids, not the form: 'Mars Standard Time' and 'UTC+14' had the right form; a case
    slip is refused too (whether Azure compares case-insensitively is unknown) and told the exact spelling."""
    errors = r.policy_errors(r.desired_policy_settings({"time_zone": zone}))
    assert len(errors) == 1 and errors[0].startswith("time_zone must be a Windows time zone name spelt exactly"), errors
    assert repr(zone) in errors[0] and ("windowsZones.xml" in errors[0])
    assert (f"did you mean {hint!r}?" in errors[0]) if hint else ("did you mean" not in errors[0])


def test_crash_consistent_rule_only_for_cvms_with_data_disks():
    vms = [{"name": "a", "security_type": "ConfidentialVM", "data_disks": 1},
           {"name": "b", "security_type": "ConfidentialVM", "data_disks": 0},
           {"name": "c", "security_type": "TrustedLaunch", "data_disks": 2}]
    blockers = r.crash_consistent_blockers({"snapshotConsistencyType": "OnlyCrashConsistent"}, vms)
    assert len(blockers) == 1 and "VM a" in blockers[0] and "not supported" in blockers[0]
    assert r.crash_consistent_blockers({}, vms) == []


# ------------------------------------------------------------------------------------------------ protection


@pytest.mark.parametrize("want,current,action", [
    ("protected", None, r.PROTECT),
    ("protected", item(), r.NONE),
    ("protected", item(policy=PID.upper()), r.NONE),
    ("protected", item("IRPending"), r.NONE),
    ("protected", item(policy=ids.policy_id(REF, "other")), r.CHANGE_POLICY),
    ("protected", item("ProtectionStopped", policy=None), r.RESUME),
    ("protected", item("ProtectionStopped", isScheduledForDeferredDelete=True), r.SOFT_DELETED),
    ("stopped", None, r.NONE),
    ("stopped", item(), r.STOP),
    ("stopped", item("ProtectionStopped"), r.NONE),
    ("absent", None, r.NONE),
    ("absent", item("ProtectionStopped"), r.DELETE),
    ("absent", item("ProtectionStopped", isScheduledForDeferredDelete=True), r.NONE),
])
def test_protection_action(want, current, action):
    assert r.protection_action(want, current, PID) == action


def test_action_done_reads_the_listed_item():
    assert r.action_done(r.PROTECT, item("IRPending"), PID)
    assert not r.action_done(r.PROTECT, None, PID)
    assert not r.action_done(r.CHANGE_POLICY, item(policy=ids.policy_id(REF, "other")), PID)
    assert not r.action_done(r.RESUME, item("ProtectionStopped"), PID)
    assert r.action_done(r.STOP, item("ProtectionStopped"), None)
    assert r.action_done(r.DELETE, None, None) and not r.action_done(r.DELETE, item(), None)


def test_bodies_and_state_after():
    assert r.protect_body(VM, PID) == {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
                                                      "sourceResourceId": VM, "policyId": PID}}
    assert r.stop_body(VM)["properties"]["protectionState"] == "ProtectionStopped"
    before = r.item_view(item())
    assert before["policy"] == "cvm-daily"
    assert r.state_after(r.STOP, before, None) == {"protection_state": "ProtectionStopped", "policy": "cvm-daily"}
    assert r.state_after(r.DELETE, before, None)["protection_state"] == "NotProtected"
    assert r.state_after(r.PROTECT, r.item_view(None), "p") == {"protection_state": "IRPending", "policy": "p"}


def test_item_key_and_totals():
    assert r.item_key(item()) == VM.lower()
    assert r.item_key({"properties": {"virtualMachineId": VM + "/"}}) == VM.lower()
    results = [{"action": "protect", "changed": True, "backup_job_id": "j"}, {"action": "none", "changed": False},
               {"action": "stop", "changed": True, "error": "x"}]
    t = r.totals(results)
    assert (t["vms"], t["changed"], t["unchanged"], t["failed"], t["protect"], t["stop"], t["backups"]) == (3, 1, 1, 1, 1, 0, 1)


# ------------------------------------------------------------------------------------------------ fleet helpers


def test_bounded_map_keeps_order_reports_errors_and_bounds_concurrency():
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def work(n):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        if n == 3:
            raise RuntimeError("boom")
        return n * 2

    out = fleet.bounded_map(work, list(range(12)), 3)
    assert [value for value, dummy in out] == [0, 2, 4, None, 8, 10, 12, 14, 16, 18, 20, 22]
    assert isinstance(out[3][1], RuntimeError)
    assert 1 < state["peak"] <= 3
    assert fleet.bounded_map(work, [], 3) == []


def test_poll_in_rounds_stops_when_done_or_at_timeout():
    clock = {"t": 0.0}
    calls = []

    def sleep(s):
        clock["t"] += s

    def check(pending):
        calls.append(sorted(pending))
        return {k for k in pending if k <= len(calls)}

    left = waiting.poll_in_rounds(check, [1, 2, 3], timeout=100, sleep=sleep, clock=lambda: clock["t"])
    assert left == set() and calls == [[1, 2, 3], [2, 3], [3]]

    calls.clear()
    clock["t"] = 0.0
    left = waiting.poll_in_rounds(lambda p: set(), [1], timeout=5, interval=1, sleep=sleep, clock=lambda: clock["t"])
    assert left == {1} and clock["t"] == pytest.approx(5)


@pytest.mark.parametrize("remaining,in_a_row,pace", [
    (None, 0, (8, 0.0)), (1199, 0, (8, 0.0)), (100, 0, (8, 0.0)), (50, 0, (4, 0.0)), (12, 0, (1, 0.0)),
    (5, 0, (1, 1.0)), (0, 0, (1, 1.0)), (0, 2, (1, 4.0)), (0, 9, (1, 10.0)),
])
def test_write_pace_slows_down_as_the_write_budget_runs_low(remaining, in_a_row, pace):
    assert fleet.write_pace(remaining, 8, in_a_row) == pace


def test_the_write_governor_lowers_concurrency_and_pauses_by_the_remaining_writes_header():
    """A fake Azure whose budget goes down by one per write: the governor must never let it reach a 429."""
    lock, state = threading.Lock(), {"left": 60, "now": 0, "peak_when_low": 0, "refused": 0}
    pauses = []

    def write(n):
        with lock:
            state["now"] += 1
            if state["left"] < fleet.LOW_WRITES // 2:
                state["peak_when_low"] = max(state["peak_when_low"], state["now"])
            state["refused"] += state["left"] == 0
            state["left"] = max(0, state["left"] - 1)
            left = state["left"]
        time.sleep(0.002)
        with lock:
            state["now"] -= 1
        return {"X-Ms-Ratelimit-Remaining-Subscription-Writes": str(left)}

    def sleep(seconds):  # the budget refills while a write waits
        pauses.append(seconds)
        with lock:
            state["left"] += 10

    governor = fleet.WriteGovernor(8, sleep=sleep)
    out = fleet.bounded_map(write, list(range(80)), 8, governor)
    assert all(exc is None for dummy, exc in out)
    assert state["refused"] == 0 and pauses and state["peak_when_low"] <= 4
    info = governor.info()
    assert info["lowest_concurrency"] == 1 and info["pauses"] == len(pauses) and info["min_remaining_writes"] <= fleet.PAUSE_WRITES
    assert fleet.WriteGovernor(8).info() is None
