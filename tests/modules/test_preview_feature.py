"""preview_feature and preview_feature_info through the local Azure (demo scenario)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.sim_helpers import REPO_ROOT, ansible_env, run_module, writes

FEATURE = "RestorePointSupportForConfidentialVMV2"
FEATURE_PATH = f"/providers/Microsoft.Features/providers/Microsoft.Compute/features/{FEATURE}"


def feature_posts(requests):
    return [r for r in writes(requests) if "/features/" in r["path"]]


def test_check_mode_plans_without_writing(azure_sim):
    result = run_module(azure_sim, "preview_feature", {"name": FEATURE}, check=True, diff=True)
    assert result["changed"] is True
    assert result["state_before"] == "NotRegistered" and result["feature"]["state"] == "Registered"
    assert result["diff"] == {"before": {"feature": f"Microsoft.Compute/{FEATURE}", "state": "NotRegistered"},
                              "after": {"feature": f"Microsoft.Compute/{FEATURE}", "state": "Registered"}}
    assert writes(azure_sim.requests()) == []


def test_apply_registers_waits_and_reregisters_then_is_idempotent(azure_sim):
    result = run_module(azure_sim, "preview_feature", {"name": FEATURE}, diff=True)
    assert result["changed"] is True
    assert result["feature"]["state"] == "Registered"
    assert result["provider"] == {"namespace": "Microsoft.Compute", "registration_state": "Registered", "reregistered": True,
                                  "propagation": "confirmed"}
    log = azure_sim.requests()
    posts = [r["path"] for r in writes(log)]
    assert any(p.endswith(f"{FEATURE}/register") for p in posts)
    assert any(p.endswith("/providers/Microsoft.Compute/register") for p in posts)
    # the feature was polled until Registered (it is Registering first)
    assert sum(1 for r in log if r["method"] == "GET" and r["path"].endswith(FEATURE_PATH)) >= 2

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, "preview_feature", {"name": FEATURE})
    assert again["changed"] is False and again["state_before"] == "Registered"
    # the Activity Log shows this run's provider registration after the feature's: nothing to send (issue 16 item 9)
    assert again["provider"]["propagation"] == "confirmed"
    assert again["provider_registration"]["decision"] == "provider_registered_after"
    assert again["provider_registration"]["reregistered"] is False
    assert writes(azure_sim.requests()[seen:]) == []


def test_unregister_and_no_wait(azure_sim):
    run_module(azure_sim, "preview_feature", {"name": FEATURE})
    result = run_module(azure_sim, "preview_feature", {"name": FEATURE, "state": "unregistered", "wait": False,
                                                       "reregister_provider": False})
    assert result["changed"] is True and result["state_before"] == "Registered"
    assert result["feature"]["state"] == "Unregistering"
    assert result["provider"]["reregistered"] is False


def test_approval_required_feature_is_reported_pending_not_waited_on(azure_sim):
    result = run_module(azure_sim, "preview_feature", {"name": "ApprovalOnlyPreview",
                                                       "provider_namespace": "Microsoft.RecoveryServices", "timeout": 30})
    assert result["changed"] is True and result["pending_approval"] is True
    assert result["feature"]["state"] == "Pending"
    assert result["provider"]["reregistered"] is False
    again = run_module(azure_sim, "preview_feature", {"name": "ApprovalOnlyPreview",
                                                      "provider_namespace": "Microsoft.RecoveryServices"})
    assert again["changed"] is False and again["pending_approval"] is True


def test_throttled_reads_are_retried_and_counted(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "throttle", "method": "GET", "path": FEATURE_PATH + "$", "count": 2,
                                     "retry_after": 1}]})
    result = run_module(azure_sim, "preview_feature", {"name": FEATURE}, check=True)
    assert result.get("failed") is not True, result.get("msg")
    assert result["retries"] == 2
    statuses = [r["status"] for r in azure_sim.requests() if r["path"].endswith(FEATURE_PATH)]
    assert statuses[:3] == [429, 429, 200]


def test_unknown_feature_fails_clearly_without_writing(azure_sim):
    result = run_module(azure_sim, "preview_feature", {"name": "NoSuchFeature"})
    assert result["failed"] is True
    assert "preview feature 'NoSuchFeature' of provider 'Microsoft.Compute' does not exist" in result["msg"]
    assert writes(azure_sim.requests()) == []


def test_unknown_subscription_fails_clearly(azure_sim):
    sub = "00000000-0000-4000-8000-000000000000"
    result = run_module(azure_sim, "preview_feature", {"name": FEATURE, "subscription_id": sub})
    assert result["failed"] is True
    assert sub in result["msg"] and "SubscriptionNotFound" in result["msg"]


def test_wrong_secret_fails_clearly_and_never_shows_a_secret(azure_sim):
    wrong = "Wrong-Secret-9zZ-do-not-print"
    env = ansible_env(azure_sim, AZURE_SECRET=wrong)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-vvv", "-m",
           "azure_cvm.backup.preview_feature", "-a", f"name={FEATURE}"]
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Azure sign-in failed" in out and "AADSTS7000215" in out and "AZURE_SECRET" in out
    assert wrong not in out
    assert azure_sim.sim.default_principal["secret"] not in out
    assert "Traceback" not in out


def test_ad_hoc_call_with_env_credentials(azure_sim):
    env = ansible_env(azure_sim)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
           "azure_cvm.backup.preview_feature", "-a", f"name={FEATURE}"]
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CHANGED" in proc.stdout and '"state": "Registered"' in proc.stdout
    # the ad-hoc call signed in with the environment's credentials and registered the feature in the local Azure
    registered = [r for r in feature_posts(azure_sim.requests()) if r["path"].endswith(f"{FEATURE}/register")]
    assert len(registered) == 1 and registered[0]["principal"] == azure_sim.sim.default_principal["object_id"]


def test_info_lists_and_reads(azure_sim):
    one = run_module(azure_sim, "preview_feature_info", {"names": [FEATURE, "Nope"], "provider_namespace": "Microsoft.Compute"})
    assert [(f["name"], f["state"]) for f in one["features"]] == [(FEATURE, "NotRegistered"), ("Nope", "NotFound")]
    listed = run_module(azure_sim, "preview_feature_info", {"provider_namespace": "Microsoft.Compute"})
    assert {f["name"] for f in listed["features"]} >= {FEATURE, "UltraSSDWithVMSS"}
    assert all(f["provider_namespace"] == "Microsoft.Compute" for f in listed["features"])
    assert writes(azure_sim.requests()) == []
    bad = run_module(azure_sim, "preview_feature_info", {"names": [FEATURE]})
    assert bad["failed"] is True and "provider_namespace is required" in bad["msg"]


# ------------------------------------------------------------------------------------------------ waits that run out


def provider_posts(requests):
    return [r for r in writes(requests) if r["path"].endswith("/providers/Microsoft.Compute/register")]


def test_a_timed_out_wait_fails_with_one_sentence_and_changed_then_a_rerun_reregisters(sim_server_factory):
    """Registration outlasts the wait: one sentence, changed (the register call was sent), no crash on the SDK model;
    the next run finds the feature still Registering, waits for it and then re-registers the provider."""
    server = sim_server_factory("demo", feature_registration_seconds=40)
    timed_out = run_module(server, "preview_feature", {"name": FEATURE, "timeout": 1})
    assert timed_out["failed"] is True and timed_out["changed"] is True
    msg = timed_out["msg"]
    assert msg.startswith(f"Timed out after 1s waiting for feature Microsoft.Compute/{FEATURE} to be Registered (it is Registering);")
    assert "unknown type" not in msg and msg.count(". ") == 0 and msg.endswith("."), "one sentence"
    assert "az provider register --namespace Microsoft.Compute" in msg
    assert provider_posts(server.requests()) == [], "not re-registered before the feature is Registered"

    seen = len(server.requests())
    rerun = run_module(server, "preview_feature", {"name": FEATURE, "timeout": 120})
    assert rerun.get("failed") is not True, rerun.get("msg")
    assert rerun["state_before"] == "Registering" and rerun["feature"]["state"] == "Registered"
    assert rerun["provider"]["reregistered"] is True and rerun["changed"] is True
    assert len(provider_posts(server.requests()[seen:])) == 1
    assert not any(r["path"].endswith(f"{FEATURE}/register") for r in writes(server.requests()[seen:])), "no second register"

    seen = len(server.requests())
    again = run_module(server, "preview_feature", {"name": FEATURE})
    assert again["changed"] is False and writes(server.requests()[seen:]) == [], "found Registered: nothing to send"


def test_check_mode_on_a_registering_feature_plans_what_the_real_run_does_without_waiting(sim_server_factory):
    """A feature still Registering (an earlier run's wait ran out): the real run waits for it, then re-registers the
    provider (changed); check mode reports that same outcome (RETURN: the feature "as it would be") without waiting
    for Azure and without a write."""
    server = sim_server_factory("demo", feature_registration_seconds=40)
    assert run_module(server, "preview_feature", {"name": FEATURE, "timeout": 1})["failed"] is True  # left Registering
    seen = len(server.requests())
    check = run_module(server, "preview_feature", {"name": FEATURE, "timeout": 2}, check=True, diff=True)
    assert check.get("failed") is not True, check.get("msg")  # waiting would have timed out
    assert check["state_before"] == "Registering" and check["feature"]["state"] == "Registered"
    assert check["changed"] is True and check["provider"]["reregistered"] is True
    assert check["diff"]["after"]["state"] == "Registered"
    assert writes(server.requests()[seen:]) == []
    assert sum(1 for r in server.requests()[seen:] if r["method"] == "GET" and r["path"].endswith(FEATURE_PATH)) == 1


def finish_registration_between_runs(server, registered_ago=None):
    """Azure finishes the registration between two runs (the feature was left Registering by a timed-out wait);
    registered_ago moves the feature's registration date (and its Activity Log event) that far into the past."""
    from tests.azure_sim import resources as sim_resources  # pylint: disable=import-outside-toplevel

    sub = server.env["AZURE_SUBSCRIPTION_ID"]
    with server.sim.lock:
        feature = sim_resources.feature_table(server.sim, sub)[("microsoft.compute", FEATURE.lower())]
        feature["state"] = "Registered"
        if registered_ago is not None:
            feature["registration_date"] -= registered_ago
            for event in sim_resources.activity_log(server.sim, sub):
                event["_at"] -= registered_ago
                event["eventTimestamp"] = sim_resources.iso(event["_at"])


def timed_out_then_finished(sim_server_factory, registered_ago=None):
    server = sim_server_factory("demo", feature_registration_seconds=40)
    timed_out = run_module(server, "preview_feature", {"name": FEATURE, "timeout": 1})
    assert timed_out["failed"] and timed_out["changed"] and "force_provider_registration: true" in timed_out["msg"]
    assert provider_posts(server.requests()) == []
    finish_registration_between_runs(server, registered_ago)
    return server


def test_a_feature_that_finished_after_a_timed_out_run_is_reregistered_once_from_the_activity_log(sim_server_factory):
    """Issue 16 item 9: the feature's registrationDate (subscriptionFeatureRegistrations) and the Activity Log, which
    shows no provider registration after it: the next run registers the provider (one POST), the run after that finds
    that registration in the log and sends nothing."""
    server = timed_out_then_finished(sim_server_factory)

    seen = len(server.requests())
    found = run_module(server, "preview_feature", {"name": FEATURE})
    assert found.get("failed") is not True, found.get("msg")
    assert found["changed"] is True and found["state_before"] == "Registered"
    assert found["provider"]["reregistered"] is True and found["provider"]["propagation"] == "confirmed"
    assert found["provider_registration"]["decision"] == "reregister" and found["provider_registration"]["reregistered"]
    assert found["provider_registration"]["feature_registered_at"]
    new = server.requests()[seen:]
    assert [r["path"].rsplit("/providers/", 1)[-1] for r in writes(new)] == ["Microsoft.Compute/register"]
    log_reads = [r for r in new if r["path"].lower().endswith("/providers/microsoft.insights/eventtypes/management/values")]
    assert log_reads and all("api-version=2015-04-01" in r["query"] for r in log_reads)

    seen = len(server.requests())
    third = run_module(server, "preview_feature", {"name": FEATURE})
    assert third["changed"] is False and writes(server.requests()[seen:]) == []
    assert third["provider_registration"]["decision"] == "provider_registered_after"
    assert third["provider_registration"]["provider_registered_at"] >= found["provider_registration"]["feature_registered_at"]


def test_check_mode_on_a_finished_feature_without_provider_registration_plans_it_without_writing(sim_server_factory):
    server = timed_out_then_finished(sim_server_factory)
    seen = len(server.requests())
    check = run_module(server, "preview_feature", {"name": FEATURE}, check=True)
    assert check["changed"] is True and check["provider"]["reregistered"] is True
    assert check["provider_registration"]["decision"] == "reregister"
    assert writes(server.requests()[seen:]) == []


def test_a_provider_registered_after_the_feature_by_someone_else_means_no_write(sim_server_factory):
    """Somebody ran az provider register once the feature was Registered: the log shows it, nothing is sent."""
    server = timed_out_then_finished(sim_server_factory)
    assert run_module(server, "preview_feature", {"name": FEATURE, "force_provider_registration": True})["changed"]
    seen = len(server.requests())
    result = run_module(server, "preview_feature", {"name": FEATURE})
    assert result["changed"] is False and writes(server.requests()[seen:]) == []
    assert result["provider"]["propagation"] == "confirmed"


def test_a_refused_activity_log_read_sends_nothing_and_warns(sim_server_factory):
    """A caller that may not read the Activity Log (403): the module cannot verify, so it writes nothing and says how
    to register the provider by hand."""
    server = timed_out_then_finished(sim_server_factory)
    server.set_faults({"rules": [{"kind": "error", "status": 403, "path": "eventtypes/management/values"}]})
    seen = len(server.requests())
    result = run_module(server, "preview_feature", {"name": FEATURE})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False and writes(server.requests()[seen:]) == []
    assert result["provider_registration"]["decision"] == "unverifiable"
    assert "403" in result["provider_registration"]["reason"]
    assert result["provider"]["propagation"] == "unknown"
    warning = " ".join(result.get("warnings") or [])
    assert "Could not verify" in warning and "force_provider_registration: true" in warning


def test_a_refused_registration_date_read_sends_nothing_and_warns(sim_server_factory):
    server = timed_out_then_finished(sim_server_factory)
    server.set_faults({"rules": [{"kind": "error", "status": 403, "path": "subscriptionFeatureRegistrations"}]})
    seen = len(server.requests())
    result = run_module(server, "preview_feature", {"name": FEATURE})
    assert result["changed"] is False and writes(server.requests()[seen:]) == []
    assert result["provider_registration"]["decision"] == "unverifiable"
    assert not any("eventtypes" in r["path"] for r in server.requests()[seen:]), "no log read without a date"
    assert "force_provider_registration: true" in " ".join(result.get("warnings") or [])


def test_a_registration_older_than_the_activity_log_is_left_alone_and_says_why(sim_server_factory):
    from datetime import timedelta  # pylint: disable=import-outside-toplevel

    server = timed_out_then_finished(sim_server_factory, registered_ago=timedelta(days=91))
    seen = len(server.requests())
    result = run_module(server, "preview_feature", {"name": FEATURE})
    assert result["changed"] is False and writes(server.requests()[seen:]) == []
    assert result["provider_registration"]["decision"] == "registration_too_old"
    assert "90 days" in result["provider_registration"]["reason"]
    assert result["provider"]["propagation"] == "unknown" and not result.get("warnings")
    assert not any("eventtypes" in r["path"] for r in server.requests()[seen:])


def test_force_provider_registration_still_sends_only_the_provider_register_call(sim_server_factory):
    """force_provider_registration (and only it) sends the provider register call whatever the log says; in check
    mode nothing; with reregister_provider: false it is refused."""
    from tests.modules.test_hostile_input import run_in_process  # pylint: disable=import-outside-toplevel

    server = timed_out_then_finished(sim_server_factory)
    planned = run_in_process(server, "preview_feature", {"name": FEATURE, "force_provider_registration": True,
                                                         "_ansible_check_mode": True})
    assert planned["result"]["changed"] is True and not writes(planned["requests"])
    forced = run_in_process(server, "preview_feature", {"name": FEATURE, "force_provider_registration": True})
    assert forced["result"]["changed"] is True and forced["result"]["provider"]["propagation"] == "confirmed"
    assert forced["result"]["provider_registration"]["decision"] == "forced"
    assert [r["path"].rsplit("/providers/", 1)[-1] for r in writes(forced["requests"])] == ["Microsoft.Compute/register"]

    refused = run_in_process(server, "preview_feature", {"name": FEATURE, "force_provider_registration": True,
                                                         "reregister_provider": False})
    assert refused["result"]["failed"] and refused["result"]["msg"] == (
        "force_provider_registration: true needs reregister_provider: true.") and not writes(refused["requests"])
