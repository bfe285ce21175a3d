"""cvm_readiness_info through the local Azure: every demo VM's verdict and reason, the target forms, vault and
policy checks, the request cost at fleet scale, and the failures that must come before any request."""

from __future__ import annotations

import pytest

from tests.azure_sim import resources
from tests.sim.inproc import call
from tests.sim_helpers import run_module

MODULE = "cvm_readiness_info"
ARM = "management.azure.com"
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
FEATURE_URL = (f"https://{ARM}/subscriptions/{DEMO_SUB}/providers/Microsoft.Features/providers/Microsoft.Compute"
               "/features/RestorePointSupportForConfidentialVMV2")
DEMO_CVMS = ["cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01", "cvm-v5-01", "cvm-gso-01", "cvm-hsm-01", "cvm-busy-01", "cvm-weu-01"]


def failed(result: dict) -> bool:
    """run_module's result may lack `failed` (ansible strips it from task results): a failure has msg and no vms."""
    return bool(result.get("failed")) or ("msg" in result and "vms" not in result)


def by_name(result: dict) -> dict:
    return {vm["name"]: vm for vm in result["vms"]}


def check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def arm_requests(server, since: int = 0) -> list[dict]:
    return [r for r in server.requests(since) if r["host"] == ARM]


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


@pytest.fixture
def demo_registered(sim_server_factory):
    """The demo estate with RestorePointSupportForConfidentialVMV2 registered (it settles at the next request)."""
    server = sim_server_factory("demo", feature_registration_seconds=0)
    assert call(server.sim, "POST", FEATURE_URL + "/register?api-version=2021-07-01").status == 200
    assert call(server.sim, "GET", FEATURE_URL + "?api-version=2021-07-01").body["properties"]["state"] == "Registered"
    return server


# ------------------------------------------------------------------------------------------------ the demo estate


def test_pristine_demo_the_unregistered_feature_is_a_prerequisite_reported_once(azure_sim):
    """Issue 18 item 4: the unregistered preview feature is a subscription prerequisite the protect play fixes; VMs
    without blockers of their own are ready once it is registered, the others keep only their own blockers."""
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, {})
    assert not failed(result), result.get("msg")
    vms = by_name(result)
    assert sorted(vms) == sorted(DEMO_CVMS + ["tl-vm-01"])
    (feature,) = [p for p in result["prerequisites"] if p["name"] == "restore_point_feature"]
    assert feature["status"] == "fail" and "NotRegistered" in feature["message"] and feature["fixed_by_play"] is True
    pending = "ready once the preview feature Microsoft.Compute/RestorePointSupportForConfidentialVMV2 is registered"
    for name in DEMO_CVMS:
        assert check(vms[name], "restore_point_feature")["status"] == "fail", name
        assert feature["message"] not in vms[name]["blockers"] and not vms[name]["ready"], name
        if vms[name]["verdict"] == "ready_after_prerequisites":
            assert vms[name]["blockers"] == [] and vms[name]["pending"] == [pending], name
        else:
            assert vms[name]["verdict"] == "not_ready" and vms[name]["blockers"] and vms[name]["pending"] == [], name
    assert vms["tl-vm-01"]["verdict"] == "not_applicable" and not vms["tl-vm-01"]["ready"]
    assert result["summary"] == {"total": 9, "ready": 0, "ready_with_warnings": 0, "ready_after_prerequisites": 5,
                                 "not_ready": 3, "not_applicable": 1}
    assert result["changed"] is False
    assert all(r["method"] == "GET" for r in arm_requests(azure_sim, before)), "an _info module never writes"


def test_a_pending_feature_is_a_prerequisite_the_play_cannot_fix(azure_sim):
    with azure_sim.sim.lock:
        resources.require_feature(azure_sim.sim, DEMO_SUB, "Microsoft.Compute", "RestorePointSupportForConfidentialVMV2")["state"] = "Pending"
    report = run_module(azure_sim, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01"]})
    assert report["prerequisites"][0]["fixed_by_play"] is False
    (vm,) = report["vms"]
    assert vm["verdict"] == "not_ready" and vm["blockers"] == ["Subscription prerequisite(s) not met: restore_point_feature (see prerequisites)."]


def test_registered_demo_every_vm_gets_its_verdict_and_reason(demo_registered):
    vms = by_name(run_module(demo_registered, MODULE, {}, check=True))
    for name in ("cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01", "cvm-hsm-01"):
        assert (vms[name]["verdict"], vms[name]["ready"], vms[name]["blockers"], vms[name]["warnings"]) == \
            ("ready", True, [], []), name
        assert {c["status"] for c in vms[name]["checks"]} <= {"pass", "n/a"}

    def only_blocker(name: str, check_name: str, text: str):
        report = vms[name]
        assert report["verdict"] == "not_ready" and not report["ready"]
        failing = [c for c in report["checks"] if c["status"] == "fail"]
        assert [c["name"] for c in failing] == [check_name], (name, failing)
        assert text in failing[0]["message"] and report["blockers"] == [failing[0]["message"]]

    only_blocker("cvm-v5-01", "vm_size", "v5 series is not supported")
    only_blocker("cvm-gso-01", "os_disk_encryption", "VMGuestStateOnly")
    only_blocker("cvm-weu-01", "region", "westeurope")

    busy = vms["cvm-busy-01"]
    assert busy["verdict"] == "ready_with_warnings" and busy["ready"] and busy["blockers"] == []
    threshold = check(busy, "des_threshold")
    assert threshold["status"] == "warn" and busy["warnings"] == [threshold["message"]]
    assert "39 disks and 4 snapshots taken outside Azure Backup" in threshold["message"]
    assert (busy["facts"]["des"]["disks"], busy["facts"]["des"]["snapshots"]) == (39, 4)

    assert vms["tl-vm-01"]["verdict"] == "not_applicable"
    assert [c["name"] for c in vms["tl-vm-01"]["checks"]] == ["vm_exists", "security_type"]
    assert "TrustedLaunch" in check(vms["tl-vm-01"], "security_type")["message"]


def test_facts_say_where_each_key_lives(demo_registered):
    vms = by_name(run_module(demo_registered, MODULE, {"resource_groups": ["rg-cvm-kc", "rg-cvm-uae"]}))
    pmk = vms["cvm-pmk-01"]["facts"]
    assert (pmk["key_type"], pmk["des"], pmk["key_location"]) == ("PMK", None, None)
    assert (pmk["size"], pmk["region"], pmk["encryption"], pmk["data_disks"]) == \
        ("Standard_DC4as_v6", "koreacentral", "DiskWithVMGuestState", 1)
    kv = vms["cvm-kv-01"]["facts"]
    assert kv["key_type"] == "CMK" and kv["des"]["name"] == "des-cvm-kv"
    assert kv["des"]["type"] == "ConfidentialVmEncryptedWithCustomerKey"
    assert {k: kv["key_location"][k] for k in ("kind", "vault", "key_name", "key_version")} == \
        {"kind": "key_vault", "vault": "kv-cvm-kc", "key_name": "cvm-cmk", "key_version": "8f1e2d3c4b5a69788796a5b4c3d2e1f0"}
    hsm = vms["cvm-hsm-01"]["facts"]["key_location"]
    assert (hsm["kind"], hsm["vault"], hsm["key_name"], hsm["key_version"]) == \
        ("managed_hsm", "hsm-cvm-uae", "cvm-hsm-key", "0f9e8d7c6b5a49382716f5e4d3c2b1a0")
    assert "Managed HSM hsm-cvm-uae" in check(vms["cvm-hsm-01"], "key")["message"]
    assert sorted(vms) == ["cvm-busy-01", "cvm-gso-01", "cvm-hsm-01", "cvm-kv-01", "cvm-pmk-01", "cvm-rbac-01",
                           "cvm-v5-01", "tl-vm-01"]


def test_options_move_the_rules(demo_registered):
    args = {"vms": ["rg-cvm-weu/cvm-weu-01", "rg-cvm-uae/cvm-busy-01", "rg-cvm-kc/cvm-v5-01"],
            "supported_regions": ["Korea Central", "UAE North", "West Europe"], "des_disk_threshold": 50,
            "supported_size_families": ["DCasv6", "DCasv5"]}
    vms = by_name(run_module(demo_registered, MODULE, args))
    assert vms["cvm-weu-01"]["verdict"] == "ready"
    assert vms["cvm-busy-01"]["verdict"] == "ready" and check(vms["cvm-busy-01"], "des_threshold")["status"] == "pass"
    assert vms["cvm-v5-01"]["verdict"] == "ready"


def test_a_registered_blocking_feature_blocks(demo_registered):
    result = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01"],
                                                  "blocking_features": ["Microsoft.Compute/UltraSSDWithVMSS",
                                                                        "Microsoft.Compute/NoSuchFlag"]})
    report = result["vms"][0]
    blocking = check(report, "blocking_features")
    assert blocking["status"] == "fail" and "Microsoft.Compute/UltraSSDWithVMSS" in blocking["message"]
    assert "NoSuchFlag" not in blocking["message"] and report["verdict"] == "not_ready"
    default = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01"]})["vms"][0]
    assert check(default, "blocking_features")["status"] == "n/a" and "not documented" in check(default, "blocking_features")["message"]


# ------------------------------------------------------------------------------------------------ targets


def test_target_forms_are_the_same_vm_and_a_missing_vm_is_its_own_blocker(demo_registered):
    vm_id = f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-kv-01"
    args = {"vms": [vm_id, "rg-cvm-kc/cvm-kv-01", {"resource_group": "rg-cvm-kc", "name": "cvm-pmk-01"},
                    "rg-cvm-kc/cvm-gone-01", "rg-nowhere/cvm-x"]}
    result = run_module(demo_registered, MODULE, args)
    assert not failed(result), result.get("msg")
    assert [vm["name"] for vm in result["vms"]] == ["cvm-kv-01", "cvm-pmk-01", "cvm-gone-01", "cvm-x"]
    vms = by_name(result)
    assert vms["cvm-kv-01"]["id"] == vm_id and vms["cvm-kv-01"]["verdict"] == "ready"
    gone = vms["cvm-gone-01"]
    assert gone["verdict"] == "not_ready" and gone["facts"] == {}
    assert gone["checks"] == [{"name": "vm_exists", "status": "fail",
                               "message": "VM cvm-gone-01 was not found in resource group rg-cvm-kc."}]
    assert "rg-nowhere" in vms["cvm-x"]["blockers"][0]
    assert result["summary"]["not_ready"] == 2 and result["summary"]["ready"] == 2


@pytest.mark.parametrize("args,text", [
    ({"vms": ["/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"]}, "not a virtual machine resource id"),
    ({"vms": ["just-a-name"]}, "is not a VM reference"),
    ({"vms": [f"/subscriptions/{'0' * 8}-0000-0000-0000-{'0' * 12}/resourceGroups/rg/providers/Microsoft.Compute"
              "/virtualMachines/vm1"]}, "is in subscription"),
    ({"blocking_features": ["NoNamespace"]}, "Namespace/FeatureName"),
    ({"vault": "rsv-cvm-kc"}, "is not a Recovery Services vault"),
])
def test_bad_input_fails_before_any_request(azure_sim, args, text):
    before = last_seq(azure_sim)
    result = run_module(azure_sim, MODULE, args)
    assert failed(result) and text in result["msg"]
    assert azure_sim.requests(before) == []


def test_missing_resource_group_target_fails_the_call(azure_sim):
    result = run_module(azure_sim, MODULE, {"resource_groups": ["rg-nowhere"]})
    assert failed(result) and "rg-nowhere" in result["msg"]


# ------------------------------------------------------------------------------------------------ vault and policy


def test_vault_region_and_cross_region_restore(demo_registered):
    kc = {"vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-uae/cvm-hsm-01"], "vault": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}}
    vms = by_name(run_module(demo_registered, MODULE, kc))
    assert vms["cvm-pmk-01"]["verdict"] == "ready" and check(vms["cvm-pmk-01"], "vault_region")["status"] == "pass"
    assert check(vms["cvm-pmk-01"], "vault_cross_region_restore")["status"] == "pass"
    hsm_region = check(vms["cvm-hsm-01"], "vault_region")
    assert hsm_region["status"] == "fail" and "same region" in hsm_region["message"]

    legacy_id = f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-legacy-weu"
    weu = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-weu/cvm-weu-01"], "vault": legacy_id,
                                               "supported_regions": ["westeurope"]})["vms"][0]
    crr = check(weu, "vault_cross_region_restore")
    assert crr["status"] == "warn" and "not supported for confidential VMs" in crr["message"]
    assert weu["verdict"] == "ready_with_warnings" and weu["warnings"] == [crr["message"]]

    missing = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01"],
                                                   "vault": {"name": "rsv-nope", "resource_group": "rg-backup"}})["vms"][0]
    assert check(missing, "vault_region")["status"] == "fail" and "rsv-nope" in check(missing, "vault_region")["message"]


def test_crash_consistent_policy_fails_only_with_data_disks(demo_registered):
    vault = f"https://{ARM}/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
    body = {"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC",
                           "instantRpRetentionRangeInDays": 7, "snapshotConsistencyType": "OnlyCrashConsistent",
                           "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
                                              "dailySchedule": {"scheduleRunTimes": ["2026-01-01T02:00:00Z"]}},
                           "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                                               "dailySchedule": {"retentionTimes": ["2026-01-01T02:00:00Z"],
                                                                 "retentionDuration": {"count": 30, "durationType": "Days"}}}}}
    put = call(demo_registered.sim, "PUT", vault + "/backupPolicies/crash-only?api-version=2025-02-01", body)
    assert put.status in (200, 202)
    args = {"vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-rbac-01"],
            "vault": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}, "policy": "crash-only"}
    vms = by_name(run_module(demo_registered, MODULE, args))
    multi = check(vms["cvm-pmk-01"], "policy")
    assert multi["status"] == "fail" and "multi-disk crash-consistent backup is not supported" in multi["message"]
    assert check(vms["cvm-rbac-01"], "policy")["status"] == "pass" and vms["cvm-rbac-01"]["verdict"] == "ready"

    absent = run_module(demo_registered, MODULE, {**args, "policy": "no-such-policy"})["vms"][0]
    assert check(absent, "policy")["status"] == "fail" and "no-such-policy" in check(absent, "policy")["message"]


# ------------------------------------------------------------------------------------------------ estate scale


def test_fifty_vms_cost_a_bounded_number_of_requests(sim_server_factory):
    server = sim_server_factory("fleet", vms=50, resource_groups=1, cmk_every=5)
    result = run_module(server, MODULE, {"resource_groups": ["rg-fleet-01"]})
    assert not failed(result), result.get("msg")
    assert result["summary"]["total"] == 50 and result["summary"]["ready"] == 50
    assert sum(1 for vm in result["vms"] if vm["facts"]["key_type"] == "CMK") == 10
    calls = arm_requests(server)
    paths = [r["path"].lower() for r in calls]
    assert all(r["method"] == "GET" for r in calls)
    assert sum(p.endswith("/virtualmachines") for p in paths) == 1  # one page of 50 VMs
    assert sum("/diskencryptionsets/" in p and not p.endswith("/associatedresources") for p in paths) == 1
    assert sum(p.endswith("/associatedresources") for p in paths) == 1
    assert sum("/microsoft.features/" in p for p in paths) == 1
    assert len(calls) == 4, paths


# ------------------------------------------------------------------------------------------------ refused reads
# A refused read of a shared object (AuthorizationFailed, 403: the local Azure's ERROR_BODIES, from Microsoft's RBAC
# troubleshooting page) is the blocker of the VMs that need that object, in the module's one-sentence error form; a
# refused VM list ends the call; sign-in failures are never turned into a VM's blocker.

def refuse(server, path: str, status: int = 403):
    server.set_faults({"rules": [{"kind": "error", "status": status, "method": "^GET$", "path": path}]})


def test_a_refused_des_read_blocks_only_the_vms_that_use_it(demo_registered):
    refuse(demo_registered, "/diskEncryptionSets/des-cvm-kv$")
    before = last_seq(demo_registered)
    result = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-kv-01"]})
    assert not failed(result), result.get("msg")
    vms = by_name(result)
    assert vms["cvm-pmk-01"]["verdict"] == "ready"
    key = check(vms["cvm-kv-01"], "key")
    assert vms["cvm-kv-01"]["verdict"] == "not_ready" and key["status"] == "fail"
    assert key["message"].startswith("The disk encryption set des-cvm-kv could not be read: Failed to read disk encryption set des-cvm-kv:")
    assert "(error code AuthorizationFailed, HTTP 403)" in key["message"]
    threshold = check(vms["cvm-kv-01"], "des_threshold")
    assert threshold["status"] == "warn" and "the 40-disk threshold was not checked" in threshold["message"]
    des_reads = [r for r in arm_requests(demo_registered, before) if "/diskEncryptionSets/" in r["path"]]
    assert [r["status"] for r in des_reads] == [403], "read once; nothing listed for a DES that could not be read"


def test_a_refused_association_list_is_a_warning_not_a_blocker(demo_registered):
    refuse(demo_registered, "/diskEncryptionSets/des-cvm-kv/associatedResources$")
    report = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-kv-01"]})["vms"][0]
    threshold = check(report, "des_threshold")
    assert report["verdict"] == "ready_with_warnings" and check(report, "key")["status"] == "pass"
    assert threshold["status"] == "warn" and threshold["message"].startswith(
        "The resources associated with DES des-cvm-kv could not be listed (Failed to list the resources associated with disk "
        "encryption set des-cvm-kv:")


def test_a_refused_feature_read_is_a_prerequisite_the_play_cannot_fix(demo_registered):
    refuse(demo_registered, "/features/RestorePointSupportForConfidentialVMV2$")
    result = run_module(demo_registered, MODULE, {"vms": ["rg-cvm-kc/cvm-pmk-01"]})
    feature = next(p for p in result["prerequisites"] if p["name"] == "restore_point_feature")
    assert feature["status"] == "fail" and feature["fixed_by_play"] is False
    assert feature["message"].startswith("The state of Microsoft.Compute/RestorePointSupportForConfidentialVMV2 could not be "
                                         "read: Failed to read preview feature")
    assert result["vms"][0]["verdict"] == "not_ready"


@pytest.mark.parametrize("args,path,status,text", [
    ({"resource_groups": ["rg-cvm-kc"]}, "/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines$", 403,
     "Could not list the VMs of resource group rg-cvm-kc: Failed to list the VMs of resource group rg-cvm-kc:"),
    ({}, f"^/subscriptions/{DEMO_SUB}/providers/Microsoft.Compute/virtualMachines$", 403,
     f"Could not list the VMs of subscription {DEMO_SUB}: Failed to list the VMs of subscription {DEMO_SUB}:"),
    ({}, f"^/subscriptions/{DEMO_SUB}/providers/Microsoft.Compute/virtualMachines$", 404,
     f"Could not list the VMs of subscription {DEMO_SUB}: not found."),
])
def test_a_refused_vm_list_ends_the_call_with_one_sentence(demo_registered, args, path, status, text):
    refuse(demo_registered, path, status)
    result = run_module(demo_registered, MODULE, args)
    assert failed(result) and result["msg"].startswith(text)
    assert status == 404 or "(error code AuthorizationFailed, HTTP 403)" in result["msg"]
