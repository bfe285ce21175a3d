"""backup_policy through the local Azure: Enhanced by default, check mode, idempotence on the managed fields, diff,
validation before any write, the crash-consistent rule for CVMs with data disks, and delete."""

from __future__ import annotations

import time

import pytest

from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import run_module, writes

MODULE = "backup_policy"
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
KC_VID = f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
DAILY = {"name": "cvm-daily", "vault": KC, "schedule_time": "21:00", "time_zone": "Korea Standard Time",
         "retention": {"daily_days": 30, "weekly": {"count": 12}, "monthly": {"count": 12}, "yearly": {"count": 5}}}


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "policy" not in result)


def stored(sim, name: str) -> dict | None:
    with sim.lock:
        return sim.store.get(rs.policy_id(KC_VID, name))


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def test_enhanced_policy_check_mode_then_create_then_unchanged(azure_sim):
    check = run_module(azure_sim, MODULE, DAILY, check=True)
    assert not failed(check), check.get("msg")
    assert check["changed"] is True and writes(azure_sim.requests()) == [] and stored(azure_sim.sim, "cvm-daily") is None

    created = run_module(azure_sim, MODULE, DAILY)
    assert not failed(created), created.get("msg")
    props = stored(azure_sim.sim, "cvm-daily")["properties"]
    assert props["policyType"] == "V2" and props["schedulePolicy"]["schedulePolicyType"] == "SimpleSchedulePolicyV2"
    assert props["timeZone"] == "Korea Standard Time" and props["instantRpRetentionRangeInDays"] == 7
    assert props["retentionPolicy"]["yearlySchedule"]["retentionDuration"] == {"count": 5, "durationType": "Years"}
    assert created["policy"]["settings"]["policy_type"] == "V2"

    seq = last_seq(azure_sim)
    again = run_module(azure_sim, MODULE, DAILY)
    assert again["changed"] is False and again["changes"] == [] and writes(azure_sim.requests(seq)) == []


def test_a_changed_field_is_reported_diffed_and_put_once(azure_sim):
    assert not failed(run_module(azure_sim, MODULE, DAILY))
    seq = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {**DAILY, "instant_restore_days": 14, "frequency": "hourly",
                                            "hourly_interval": 6, "hourly_window_hours": 12}, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changes"] == ["frequency", "hourly_interval", "hourly_window_hours", "instant_restore_days"]
    assert result["diff"]["before"]["instant_restore_days"] == 7 and result["diff"]["after"]["instant_restore_days"] == 14
    assert [r["method"] for r in writes(azure_sim.requests(seq))] == ["PUT"]
    schedule = stored(azure_sim.sim, "cvm-daily")["properties"]["schedulePolicy"]
    assert schedule["hourlySchedule"]["interval"] == 6


def test_a_policy_azure_made_is_read_on_its_managed_fields(azure_sim):
    """The vault's DefaultPolicy is Standard (V1), daily 02:00 UTC, 30 days, instant restore 2 days."""
    spec = {"name": "DefaultPolicy", "vault": KC, "policy_type": "standard"}
    result = run_module(azure_sim, MODULE, spec)
    assert not failed(result), result.get("msg")
    assert result["changed"] is False and writes(azure_sim.requests()) == []


@pytest.mark.parametrize("extra,fragment", [
    ({"frequency": "hourly", "policy_type": "standard"}, "needs an Enhanced policy"),
    ({"instant_restore_days": 31}, "instant_restore_days must be 1-30"),
    ({"schedule_time": "21:10"}, "schedule_time must be HH:MM"),
    ({"vault": {"name": "rsv-nope", "resource_group": "rg-backup"}}, "vault rsv-nope was not found"),
    ({"vault": "rsv-cvm-kc"}, "not a Recovery Services vault"),
])
def test_invalid_settings_fail_before_any_write(azure_sim, extra, fragment):
    result = run_module(azure_sim, MODULE, {**DAILY, **extra})
    assert failed(result) and fragment in result["msg"], result.get("msg")
    assert writes(azure_sim.requests()) == []


def protect_with(sim, policy: str, rg: str, vm: str):
    with sim.lock:
        item = rs.item_body(KC_VID, f"/subscriptions/{DEMO_SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}")
        rs.set_policy(sim, item, sim.store.get(rs.policy_id(KC_VID, policy)))
        item["properties"]["protectionState"] = "Protected"
        rs.store_item(sim, KC_VID, item)


def test_crash_consistent_only_is_refused_for_a_policy_protecting_a_cvm_with_data_disks(azure_sim):
    assert not failed(run_module(azure_sim, MODULE, DAILY))
    protect_with(azure_sim.sim, "cvm-daily", "rg-cvm-kc", "cvm-pmk-01")  # 1 data disk
    seq = last_seq(azure_sim)
    refused = run_module(azure_sim, MODULE, {**DAILY, "snapshot_consistency": "crash_consistent_only"})
    assert failed(refused) and "cvm-pmk-01" in refused["msg"] and "multi-disk crash-consistent" in refused["msg"]
    assert writes(azure_sim.requests(seq)) == []

    fresh = run_module(azure_sim, MODULE, {**DAILY, "name": "crash-only", "snapshot_consistency": "crash_consistent_only"})
    assert not failed(fresh), fresh.get("msg")
    assert any("crash-consistent-only" in w for w in fresh.get("warnings", []))
    assert stored(azure_sim.sim, "crash-only")["properties"]["snapshotConsistencyType"] == "OnlyCrashConsistent"


def test_absent_refuses_a_policy_in_use_and_deletes_an_unused_one(azure_sim):
    assert not failed(run_module(azure_sim, MODULE, DAILY))
    protect_with(azure_sim.sim, "cvm-daily", "rg-cvm-kc", "cvm-pmk-01")
    seq = last_seq(azure_sim)
    refused = run_module(azure_sim, MODULE, {"name": "cvm-daily", "vault": KC, "state": "absent"})
    assert failed(refused) and "still protects 1 item(s)" in refused["msg"]
    assert writes(azure_sim.requests(seq)) == []
    assert not failed(run_module(azure_sim, MODULE, {**DAILY, "name": "spare"}))
    gone = run_module(azure_sim, MODULE, {"name": "spare", "vault": KC, "state": "absent"})
    assert gone["changed"] is True and stored(azure_sim.sim, "spare") is None
    seq = last_seq(azure_sim)
    assert run_module(azure_sim, MODULE, {"name": "spare", "vault": KC, "state": "absent"})["changed"] is False
    assert writes(azure_sim.requests(seq)) == []


def test_check_mode_shows_a_time_zone_change_and_a_delete_and_sends_neither(azure_sim):
    """A time zone changed alone is a change (the review's M10), and neither it nor a delete is sent in check mode
    (M9): in-process, so the mutation stage (tests/mutation/sets.py FAST_MISTAKES) can run it per mutant."""
    assert not failed(run_module(azure_sim, MODULE, DAILY))
    seq = last_seq(azure_sim)
    moved = run_module(azure_sim, MODULE, {**DAILY, "time_zone": "UTC"}, check=True, diff=True)
    assert not failed(moved), moved.get("msg")
    assert moved["changed"] is True and moved["changes"] == ["time_zone"], moved.get("changes")
    gone = run_module(azure_sim, MODULE, {"name": "cvm-daily", "vault": KC, "state": "absent"}, check=True, diff=True)
    assert not failed(gone), gone.get("msg")
    assert gone["changed"] is True and gone["changes"] == ["deleted"]
    assert writes(azure_sim.requests(seq)) == []
    assert stored(azure_sim.sim, "cvm-daily")["properties"]["timeZone"] == "Korea Standard Time"


def test_a_delete_whose_operation_outlasts_the_timeout_fails_with_one_sentence_and_changed(azure_sim):
    """Issue 16 item 7: the delete is a long operation (202 + Location); a wait that runs out is a failure, not a success,
    and reports changed (the delete was sent). In-process (tests/modules/test_hostile_input.run_in_process)."""
    from tests.modules.test_hostile_input import run_in_process  # pylint: disable=import-outside-toplevel

    with azure_sim.sim.lock:
        rs.add_policy(azure_sim.sim, KC_VID, "spare", rs.default_policy_properties())
        rs.state(azure_sim.sim)["hold_policy_delete"] = True
    entry = run_in_process(azure_sim, MODULE, {"name": "spare", "vault": KC, "state": "absent", "timeout": 1})
    result, msg = entry["result"], str(entry["result"].get("msg"))
    assert result.get("failed") is True and result.get("changed") is True, result
    assert msg.startswith("Timed out after 1s waiting for the deletion of backup policy spare;"), msg
    assert "\n" not in msg and "Traceback" not in str(result) and msg.count(". ") == 0 and msg.endswith("."), msg
    deletes = [r for r in writes(entry["requests"]) if r["method"] == "DELETE"]
    assert len(deletes) == 1 and deletes[0]["status"] == 202 and stored(azure_sim.sim, "spare") is not None
    finish_held_deletes(azure_sim)


def finish_held_deletes(server, patience: float = 20.0):
    """Let the held delete end and wait for the poller thread the in-process run left behind to read its 204, so that
    it sends nothing into the next test's request log (synchronisation only, no timing assertion)."""
    with server.sim.lock:
        rs.state(server.sim)["hold_policy_delete"] = False
        for op in server.sim.ops.values():
            if op.kind == "policy_delete" and op.status == "InProgress":
                op.complete(server.sim)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if any("/operationResults/" in r["path"] and r["status"] == 204 for r in server.requests()):
            return
        time.sleep(0.2)
