"""plugins/module_utils/feature_rules.py: must the provider be registered again for a feature found Registered
(issue 16 item 9)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import feature_rules as rules

NOW = datetime(2026, 12, 2, 6, 0, 0, tzinfo=timezone.utc)


def event(when, name="Microsoft.Compute/register/action", status="Succeeded"):
    return {"operationName": {"value": name}, "status": {"value": status}, "eventTimestamp": when}


def test_no_provider_registration_after_the_feature_reregisters():
    out = rules.reregistration(NOW - timedelta(hours=2), [NOW - timedelta(hours=3)], NOW)
    assert out == {"reregister": True, "decision": rules.REREGISTER, "provider_registered_at": None}
    assert rules.reregistration(NOW - timedelta(hours=2), [], NOW)["reregister"] is True


def test_a_provider_registration_after_the_feature_means_nothing_to_do():
    later = NOW - timedelta(hours=1)
    out = rules.reregistration(NOW - timedelta(hours=2), [NOW - timedelta(hours=3), later], NOW)
    assert out == {"reregister": False, "decision": rules.ALREADY, "provider_registered_at": later}


def test_a_provider_registration_at_the_same_instant_does_not_count_as_after():
    at = NOW - timedelta(hours=2)
    assert rules.reregistration(at, [at], NOW)["decision"] == rules.REREGISTER


def test_a_registration_older_than_the_activity_log_is_left_alone():
    old = NOW - timedelta(days=rules.RETENTION_DAYS, seconds=1)
    assert rules.reregistration(old, [], NOW) == {"reregister": False, "decision": rules.TOO_OLD,
                                                  "provider_registered_at": None}
    edge = NOW - timedelta(days=rules.RETENTION_DAYS)
    assert rules.reregistration(edge, [], NOW)["decision"] == rules.REREGISTER
    assert rules.within_retention(edge, NOW) and not rules.within_retention(old, NOW)


@pytest.mark.parametrize("registered, times", [(None, []), (None, None), (NOW - timedelta(hours=1), None)])
def test_a_missing_date_or_an_unreadable_log_is_unverifiable_and_never_a_write(registered, times):
    out = rules.reregistration(registered, times, NOW)
    assert out["reregister"] is False and out["decision"] == rules.UNVERIFIABLE


def test_only_successful_register_events_of_the_namespace_count():
    events = [event("2026-12-01T10:00:00.1234567Z"), event("2026-12-01T11:00:00Z", status="Failed"),
              event("2026-12-01T12:00:00Z", name="Microsoft.Network/register/action"),
              event("2026-12-01T13:00:00Z", name="microsoft.compute/REGISTER/action", status="succeeded"),
              event("not a time"), {"operationName": None}, None]
    assert rules.provider_registration_times(events, "Microsoft.Compute") == [
        datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=timezone.utc), datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc)]


@pytest.mark.parametrize("text, expected", [
    ("2015-01-21T22:14:26.9792776Z", datetime(2015, 1, 21, 22, 14, 26, 979277, tzinfo=timezone.utc)),
    ("2015-01-21T22:14:26+01:00", datetime(2015, 1, 21, 21, 14, 26, tzinfo=timezone.utc)),
    ("2015-01-21T22:14:26+0100", datetime(2015, 1, 21, 21, 14, 26, tzinfo=timezone.utc)),
    ("2015-01-21T22:14:26", datetime(2015, 1, 21, 22, 14, 26, tzinfo=timezone.utc)),
    ("", None), (None, None), ("2015-13-40T00:00:00Z", None)])
def test_parse_time(text, expected):
    assert rules.parse_time(text) == expected


def test_the_window_starts_at_the_registration_but_never_before_the_retention():
    assert rules.window_start(NOW - timedelta(days=1), NOW) == NOW - timedelta(days=1)
    assert rules.window_start(NOW - timedelta(days=400), NOW) == NOW - timedelta(days=rules.RETENTION_DAYS)
