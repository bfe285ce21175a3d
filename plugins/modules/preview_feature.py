#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preview_feature
short_description: Register or unregister an Azure preview feature, then re-register its resource provider
version_added: 0.1.0
description:
  - Makes sure a subscription preview feature (C(Microsoft.Features)) is registered or unregistered, like
    C(Register-AzProviderFeature) / C(az feature register), and then registers the resource provider again so the
    change takes effect, as Azure documents.
  - Confidential VM backup needs the auto-approved feature C(RestorePointSupportForConfidentialVMV2) of
    C(Microsoft.Compute).
  - Reads the feature first; when it is already in the wanted state nothing is sent.
  - A feature that needs approval goes C(Pending); the module reports that and does not wait for it.
  - When the wait runs out after the register (or unregister) call was sent, the module fails with one sentence and
    C(changed=true); the feature keeps moving in Azure.
  - "When the provider is re-registered: after this run sent the register (unregister) call, and when this run finds
    the feature still C(Registering) (C(Unregistering)) from an earlier run and sees it arrive, which is how a re-run
    after a timed-out wait completes the documented order (register the feature, then re-register the provider)."
  - "A run that finds the feature already C(Registered) reads when it was registered (C(properties.registrationDate) of
    Microsoft.Features C(subscriptionFeatureRegistrations), api-version 2021-07-01) and the subscription's Activity Log
    since then (Microsoft.Insights C(eventtypes/management/values), api-version 2015-04-01, C($filter) on an
    C(eventTimestamp) window). No successful C({provider_namespace}/register/action) event after the feature's
    registration: it registers the provider again (C(changed=true); in check mode it only says so). One found: nothing
    is sent. A registration older than the Activity Log's 90 days: nothing is sent and RV(provider_registration.reason)
    says why. Either read refused (for example 403 for a caller that may not read the Activity Log; Reader may) or
    failed: nothing is sent and a warning names O(force_provider_registration)."
  - "Limits of that check, from what Azure publishes: the Activity Log's record name for a provider registration is
    inferred from the action ARM authorizes (C(Microsoft.Compute/register/action)) and not seen in a published record;
    if Azure names it differently, every run finds none and registers the provider again (harmless, but C(changed=true)
    each time: then set O(reregister_provider=false) once the feature works). A provider registration sent while the
    feature was still C(Registering) counts as after it. Activity Log events may take a while to appear (how long is
    not published), so a run right after a re-registration may register the provider once more."
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  name:
    description: The feature name, for example V(RestorePointSupportForConfidentialVMV2).
    type: str
    required: true
  provider_namespace:
    description: The resource provider the feature belongs to.
    type: str
    default: Microsoft.Compute
  state:
    description: Whether the feature should be registered or unregistered.
    type: str
    choices: [registered, unregistered]
    default: registered
  wait:
    description:
      - Wait until the feature reaches C(Registered) (or C(Unregistered)) and, with O(reregister_provider), until the
        provider is C(Registered) again.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most.
    type: int
    default: 900
  reregister_provider:
    description:
      - After a change, register the resource provider again so the feature takes effect (what Azure documents); see
        the description for when a re-run does it.
    type: bool
    default: true
  force_provider_registration:
    description:
      - Register the resource provider again even when the feature is already in the wanted state and nothing else is
        sent, whatever the Activity Log shows; for when the module cannot verify it (a warning says so) or the check's
        limits apply (see the description).
      - Not idempotent, on purpose - every run with it sends the provider register call and reports C(changed=true).
        Use it once (an ad-hoc call or a one-off task), not in a play that runs on a schedule.
      - Needs O(reregister_provider=true).
    type: bool
    default: false
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only; reports the change it would make.
  diff_mode:
    support: full
    description: Shows the feature state before and after.
"""

EXAMPLES = r"""
- name: Register the confidential VM restore point feature (needed for CVM backup)
  azure_cvm.backup.preview_feature:
    name: RestorePointSupportForConfidentialVMV2

- name: Unregister a feature without waiting
  azure_cvm.backup.preview_feature:
    name: SomePreviewFeature
    provider_namespace: Microsoft.RecoveryServices
    state: unregistered
    wait: false
"""

RETURN = r"""
feature:
  description: The feature after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    id:
      description: The feature's resource id.
      type: str
      sample: /subscriptions/xxx/providers/Microsoft.Features/providers/Microsoft.Compute/features/RestorePointSupportForConfidentialVMV2
    name:
      description: C(namespace/feature).
      type: str
      sample: Microsoft.Compute/RestorePointSupportForConfidentialVMV2
    state:
      description: The registration state.
      type: str
      sample: Registered
state_before:
  description: The feature's registration state before the run.
  returned: always
  type: str
  sample: NotRegistered
pending_approval:
  description: True when the feature needs approval by Microsoft and is C(Pending).
  returned: always
  type: bool
  sample: false
provider:
  description: The resource provider's registration state after the run.
  returned: always
  type: dict
  contains:
    namespace:
      description: The provider namespace.
      type: str
      sample: Microsoft.Compute
    registration_state:
      description: The provider's registration state.
      type: str
      sample: Registered
    reregistered:
      description: Whether the provider was registered again by this run.
      type: bool
      sample: true
    propagation:
      description:
        - C(confirmed) when this run registered the provider after it saw the feature in the wanted state (in check
          mode, when it would); C(pending) when the feature is not there yet (C(Registering), C(Pending), or O(wait=false)),
          a later run that finds it moving re-registers; C(unknown) when the feature was already in the wanted state and
          this run did not re-register and the Activity Log could not tell (registration older than 90 days, or a read
          refused); C(confirmed) too when the Activity Log shows a provider registration after the feature's; C(skipped)
          with O(reregister_provider=false).
      type: str
      sample: confirmed
provider_registration:
  description: What was decided about registering the provider again, and why (see the description).
  returned: always
  type: dict
  contains:
    reregistered:
      description: Whether this run registered the provider again (in check mode, would).
      type: bool
      sample: true
    decision:
      description:
        - For a feature found C(Registered) - V(reregister) (no provider registration after the feature's in the
          Activity Log), V(provider_registered_after), V(registration_too_old) (older than the Activity Log's 90 days),
          V(unverifiable) (a read refused or failed, or no registration date; nothing sent, a warning).
        - Otherwise V(after_change) (this run changed the feature or saw it finish), V(forced), V(pending), V(skipped)
          or V(not_checked).
      type: str
      sample: reregister
    reason:
      description: One sentence saying why.
      type: str
      sample: no registration of provider Microsoft.Compute after the feature's registration (2026-12-01T09:12:04Z) is in the Activity Log
    feature_registered_at:
      description: The feature's C(registrationDate) (UTC), when it was read.
      type: str
      sample: "2026-12-01T09:12:04Z"
    provider_registered_at:
      description: The latest successful provider registration after it in the Activity Log (UTC), when one was found.
      type: str
      sample: "2026-12-01T09:30:40Z"
"""

from datetime import datetime, timezone
from urllib.parse import quote

from ansible_collections.azure_cvm.backup.plugins.module_utils import feature_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.posture_rules import iso
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import WaitTimeout

DONE = {"registered": ("Registered",), "unregistered": ("Unregistered", "NotRegistered")}
MOVING = {"registered": "Registering", "unregistered": "Unregistering"}


def feature_state(feature) -> str:
    return (feature.properties.state if feature.properties else None) or "NotRegistered"


def describe(feature, state=None) -> dict:
    return {"id": feature.id, "name": feature.name, "state": state or feature_state(feature)}


def get_feature(m, ns: str, name: str):
    try:
        return m.client("features").features.get(ns, name)
    except Exception as exc:  # pylint: disable=broad-except
        code = getattr(getattr(exc, "error", None), "code", None)
        if getattr(exc, "status_code", None) == 404 and code != "SubscriptionNotFound":
            raise ModuleFailure(f"The preview feature '{name}' of provider '{ns}' does not exist in subscription "
                                f"{m.subscription_id}. Check the name and provider_namespace "
                                "(preview_feature_info lists the features of a provider).",
                                error_code=code) from exc
        m.azure_failure(exc, f"read preview feature {ns}/{name}", f"subscription {m.subscription_id}")


def reregister(m, ns: str, wait: bool, timeout: int) -> str:
    providers = m.client("resources").providers
    try:
        state = providers.register(ns).registration_state
        if wait and state != "Registered":
            state = m.wait(f"provider {ns} to be Registered", lambda: providers.get(ns).registration_state,
                           lambda s: s == "Registered", timeout)
        return state
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"register resource provider {ns}", f"subscription {m.subscription_id}")


def wait_feature(m, ns: str, name: str, want: str, sent: bool) -> str:
    """The feature's state once it is done (or Pending); a timeout fails with changed=sent and the last state."""
    features = m.client("features").features
    try:
        return m.wait(f"feature {ns}/{name} to be {DONE[want][0]}", lambda: feature_state(features.get(ns, name)),
                      lambda state: state in DONE[want] or state == "Pending", m.params["timeout"])
    except WaitTimeout as exc:
        then = (" the register call was sent, and the provider must be registered again once the feature is Registered: "
                "run again (a run that finds it Registering waits for it, one that finds it Registered registers the "
                "provider when the Activity Log shows no registration of it since the feature's), or once it is Registered "
                f"run once with force_provider_registration: true (or az provider register --namespace {ns})"
                if sent and want == "registered" and m.params["reregister_provider"] else "")
        raise ModuleFailure(f"Timed out after {m.params['timeout']}s waiting for feature {ns}/{name} to be "
                            f"{DONE[want][0]} (it is {exc.last}){';' if then else ''}{then}.",
                            changed=sent, state=exc.last) from exc


ACTIVITY_LOG_API = "2015-04-01"  # Microsoft.Insights ActivityLogs_List: spec monitor stable/2015-04-01 activityLogs_API.json
ACTIVITY_LOG_SELECT = "eventTimestamp,operationName,status"  # the spec's $select values
REASONS = {
    feature_rules.REREGISTER: "no registration of provider {ns} after the feature's registration ({at}) is in the Activity Log",
    feature_rules.ALREADY: "provider {ns} was registered ({prov}) after the feature was ({at})",
    feature_rules.TOO_OLD: ("the feature was registered ({at}) before the Activity Log's {days} days, so whether provider "
                            "{ns} was registered since cannot be read"),
    feature_rules.UNVERIFIABLE: "{why}",
}


def precise(value) -> str:
    """A filter time with microseconds (the spec's examples carry fractions): a window cut to whole seconds could
    leave out an event of the current second."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def feature_registration_date(m, ns: str, name: str):
    """properties.registrationDate of the subscriptionFeatureRegistration (Microsoft.Features 2021-07-01), or
    (None, why) when it cannot be read."""
    try:
        reg = m.client("features").subscription_feature_registrations.get(ns, name)
    except Exception as exc:  # pylint: disable=broad-except  # any failure: cannot verify, never a write
        return None, f"the feature's registration date could not be read ({error_text(exc)})"
    when = reg.properties.registration_date if reg.properties else None
    return (when, None) if when else (None, "Azure gave no registration date for the feature")


def error_text(exc) -> str:
    status = getattr(exc, "status_code", None)
    code = getattr(getattr(exc, "error", None), "code", None)
    return " ".join(str(x) for x in (status, code) if x) or type(exc).__name__


def provider_registrations(m, ns: str, since, now):
    """Times of the successful `{ns}/register/action` events in the Activity Log between since and now, or
    (None, why) when the log cannot be read (403 for a caller without Microsoft.Insights/eventtypes/values/read)."""
    flt = f"eventTimestamp ge '{precise(since)}' and eventTimestamp le '{precise(now)}'"
    path = (f"/subscriptions/{m.subscription_id}/providers/Microsoft.Insights/eventtypes/management/values"
            f"?$filter={quote(flt)}&$select={ACTIVITY_LOG_SELECT}")
    try:
        events = m.arm_list(path, ACTIVITY_LOG_API)
    except Exception as exc:  # pylint: disable=broad-except  # refused or failed: cannot verify, never a write
        return None, f"the Activity Log could not be read ({error_text(exc)})"
    return feature_rules.provider_registration_times(events, ns), None


def check_reregistration(m, ns: str, name: str) -> dict:
    """For a feature found Registered: feature_rules.reregistration on the feature's registration date and the
    Activity Log's provider registrations since (issue 16 item 9). Reads only."""
    now = datetime.now(timezone.utc)
    registered, why = feature_registration_date(m, ns, name)
    times = None
    if registered is not None and feature_rules.within_retention(registered, now):
        times, why = provider_registrations(m, ns, feature_rules.window_start(registered, now), now)
    decision = feature_rules.reregistration(registered, times, now)
    registered_at = iso(feature_rules.parse_time(registered))
    reason = REASONS[decision["decision"]].format(ns=ns, at=registered_at, prov=iso(decision["provider_registered_at"]),
                                                  days=feature_rules.RETENTION_DAYS, why=why)
    return {**decision, "reason": reason, "feature_registered_at": registered_at}


def propagation(p, reregistered: bool, done: bool, moved: bool) -> str:
    """Whether the feature change is known to have reached the provider (RETURN provider.propagation)."""
    if not p["reregister_provider"]:
        return "skipped"
    if not done:
        return "pending"
    return "confirmed" if reregistered else ("pending" if moved else "unknown")


def registration_summary(p, provider: dict, check, forced: bool, done: bool) -> dict:
    """RETURN provider_registration: what was decided about registering the provider again, and why."""
    out = {"reregistered": provider["reregistered"], "decision": None, "reason": None, "feature_registered_at": None,
           "provider_registered_at": None}
    if check:
        out.update(decision=check["decision"], reason=check["reason"], feature_registered_at=check["feature_registered_at"],
                   provider_registered_at=iso(check["provider_registered_at"]))
    elif not p["reregister_provider"]:
        out.update(decision="skipped", reason="reregister_provider is false")
    elif forced:
        out.update(decision="forced", reason="force_provider_registration is true")
    elif provider["reregistered"]:
        out.update(decision="after_change", reason="this run saw the feature reach its wanted state")
    elif not done:
        out.update(decision="pending", reason="the feature is not in its wanted state yet")
    else:
        out.update(decision="not_checked", reason="the feature was already in its wanted state (unregistered)")
    return out


def run(m) -> dict:
    p = m.params
    ns, name, want = p["provider_namespace"], p["name"], p["state"]
    if p["force_provider_registration"] and not p["reregister_provider"]:
        raise ModuleFailure("force_provider_registration: true needs reregister_provider: true.")
    features = m.client("features").features
    feature = get_feature(m, ns, name)
    before = feature_state(feature)
    result = {"changed": False, "state_before": before, "pending_approval": before == "Pending"}
    provider = {"namespace": ns, "registration_state": None, "reregistered": False}

    if before in DONE[want] or (want == "registered" and before == "Pending"):
        after = before
    elif before == MOVING[want]:
        after = before  # an earlier call already asked for it; nothing to send, maybe to wait for
    else:
        result["changed"] = True
        if m.check_mode:
            after = DONE[want][0]
        else:
            action = features.register if want == "registered" else features.unregister
            try:
                feature = action(ns, name)
            except Exception as exc:  # pylint: disable=broad-except
                m.azure_failure(exc, f"{'register' if want == 'registered' else 'unregister'} preview feature {ns}/{name}",
                                f"subscription {m.subscription_id}")
            after = feature_state(feature)

    if after == "Pending":
        result["pending_approval"] = True
        m.warn(f"The feature {ns}/{name} needs approval by Microsoft and is Pending; it is not waited for. "
               "Run again once it is approved.")
    elif p["wait"] and after not in DONE[want]:  # check mode: as the wait would end, without waiting
        after = DONE[want][0] if m.check_mode else wait_feature(m, ns, name, want, result["changed"])

    # re-register after this run's call, or when an earlier run's call is seen to finish now (see DOCUMENTATION)
    finished_now = before == MOVING[want] and after in DONE[want]
    forced = p["force_provider_registration"] and after in DONE[want]
    # a feature found Registered: re-register when the Activity Log shows no provider registration after the
    # feature's (an earlier run's wait timed out and the feature finished in between; see DOCUMENTATION)
    check = None
    if want == "registered" and before == "Registered" and p["reregister_provider"] and not forced:
        check = check_reregistration(m, ns, name)
        if check["decision"] == feature_rules.UNVERIFIABLE:
            m.warn(f"Could not verify that provider {ns} was registered again after feature {ns}/{name} was registered "
                   f"({check['reason']}), so nothing was sent; if an earlier run's wait timed out, run once with "
                   "force_provider_registration: true.")
    found_missing = bool(check and check["reregister"])
    if (forced or found_missing or finished_now and p["reregister_provider"]) and m.check_mode:
        result["changed"] = True
    if (result["changed"] or finished_now or forced or found_missing) and p["reregister_provider"] and not m.check_mode \
            and after != "Pending":
        try:
            provider["registration_state"] = reregister(m, ns, p["wait"], p["timeout"])
        except ModuleFailure as exc:
            exc.extra.setdefault("changed", True)
            raise
        provider["reregistered"] = True
        result["changed"] = True
    else:
        try:
            provider["registration_state"] = m.client("resources").providers.get(ns).registration_state
        except Exception as exc:  # pylint: disable=broad-except
            m.azure_failure(exc, f"read resource provider {ns}", f"subscription {m.subscription_id}")
        provider["reregistered"] = bool(result["changed"] and p["reregister_provider"] and m.check_mode and after != "Pending")
    provider["propagation"] = propagation(p, provider["reregistered"], after in DONE[want], result["changed"] or finished_now)
    if check and check["decision"] == feature_rules.ALREADY:
        provider["propagation"] = "confirmed"

    result.update(feature=describe(feature, after), provider=provider,
                  provider_registration=registration_summary(p, provider, check, forced, after in DONE[want]))
    if m.diff_mode:
        result["diff"] = {"before": {"feature": f"{ns}/{name}", "state": before},
                          "after": {"feature": f"{ns}/{name}", "state": after}}
    return result


def main():
    argument_spec = {
        "name": {"type": "str", "required": True},
        "provider_namespace": {"type": "str", "default": "Microsoft.Compute"},
        "state": {"type": "str", "choices": ["registered", "unregistered"], "default": "registered"},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 900},
        "reregister_provider": {"type": "bool", "default": True},
        "force_provider_registration": {"type": "bool", "default": False},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"name": "feature", "provider_namespace": "provider_namespace"}).execute(run)


if __name__ == "__main__":
    main()
