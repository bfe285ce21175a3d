# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure rule of preview_feature (issue 16 item 9): must the resource provider be registered again for a feature that
is already Registered? No I/O here; plugins/modules/preview_feature.py reads Azure and acts on the answer.

Inputs, and where Azure publishes them:
- when the feature was registered: Microsoft.Features subscriptionFeatureRegistrations (2021-07-01)
  `properties.registrationDate` ("The feature registration date", spec features.json / azure-mgmt-resource-features
  SubscriptionFeatureRegistrationProperties.registration_date). Whether it is the time of the request or of the
  completion is UNVERIFIED; the rule only needs a time at or before the completion, which both are.
- when the provider was registered: the Activity Log (Microsoft.Insights ActivityLogs_List, 2015-04-01
  activityLogs_API.json: EventData `operationName.value`, `status.value`, `eventTimestamp`). The spec example shows
  `operationName.value` equal to `authorization.action` (microsoft.support/supporttickets/write), and ARM authorizes
  POST /subscriptions/{id}/providers/{ns}/register as the action `{ns}/register/action` (AuthorizationFailed answers
  quoted in hashicorp/terraform-provider-azurerm#24804, Azure/aztfexport#54, ansible/ansible#17934). That the
  registration's Activity Log record carries exactly that operationName is inferred, not seen published: UNVERIFIED.
  Activity Log events are kept 90 days (Microsoft Learn, activity-log; the spec's filter examples use a window).
"""

from __future__ import annotations

from datetime import timedelta

# the collection's ISO time reader (Azure's 7 fractional digits, 'Z', a datetime too), as posture_rules uses it
from ansible_collections.azure_cvm.backup.plugins.module_utils.restore_rules import parse_time

RETENTION_DAYS = 90  # Activity Log retention (Microsoft Learn azure-monitor/essentials/activity-log: 90 days)
SUCCEEDED = "succeeded"

# decisions (RETURN provider_registration.decision)
REREGISTER = "reregister"            # no provider registration found after the feature's: register the provider now
ALREADY = "provider_registered_after"  # a successful provider registration after the feature's: nothing to do
TOO_OLD = "registration_too_old"     # the feature was registered before the Activity Log's window: cannot tell, nothing
UNVERIFIABLE = "unverifiable"        # a read failed or a date is missing: cannot tell, nothing (warning)


def provider_registration_times(events, namespace: str) -> list:
    """eventTimestamp of every successful `{namespace}/register/action` Activity Log event (case-insensitive)."""
    wanted = f"{namespace}/register/action".lower()
    out = []
    for event in events or []:
        name = str(((event or {}).get("operationName") or {}).get("value") or "").lower()
        status = str(((event or {}).get("status") or {}).get("value") or "").lower()
        when = parse_time((event or {}).get("eventTimestamp"))
        if name == wanted and status == SUCCEEDED and when is not None:
            out.append(when)
    return sorted(out)


def reregistration(feature_registered_at, provider_registered, now, retention_days: int = RETENTION_DAYS) -> dict:
    """Whether to register the provider again for a feature found Registered.

    feature_registered_at: when the feature was registered (None: not known); provider_registered: the times of the
    successful provider registrations in the Activity Log since then, or None when the log could not be read; now: the
    current time. Returns {"reregister": bool, "decision": one of the constants above, "provider_registered_at"}."""
    registered = parse_time(feature_registered_at)
    now = parse_time(now)
    if registered is None:
        return {"reregister": False, "decision": UNVERIFIABLE, "provider_registered_at": None}
    if not within_retention(registered, now, retention_days):
        return {"reregister": False, "decision": TOO_OLD, "provider_registered_at": None}
    if provider_registered is None:
        return {"reregister": False, "decision": UNVERIFIABLE, "provider_registered_at": None}
    after = [t for t in (parse_time(x) for x in provider_registered) if t is not None and t > registered]
    if after:
        return {"reregister": False, "decision": ALREADY, "provider_registered_at": max(after)}
    return {"reregister": True, "decision": REREGISTER, "provider_registered_at": None}


def within_retention(feature_registered_at, now, retention_days: int = RETENTION_DAYS) -> bool:
    """Whether the feature's registration is inside the Activity Log's window (so the log can answer)."""
    return parse_time(feature_registered_at) >= parse_time(now) - timedelta(days=retention_days)


def window_start(feature_registered_at, now, retention_days: int = RETENTION_DAYS):
    """The start of the Activity Log window to read: the feature's registration, never before the retention window."""
    registered, now = parse_time(feature_registered_at), parse_time(now)
    return max(registered, now - timedelta(days=retention_days))
