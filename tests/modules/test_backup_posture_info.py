"""backup_posture_info through the local Azure (scenario posture.yml: one confidential VM per verdict over two
subscriptions): the verdict and reason codes of every VM, the schema the report renders, key access removed at run
time, a request count that does not grow with the number of VMs, no write at all, check mode, and bad input refused
in one sentence before any request."""

from __future__ import annotations

import ast
import copy
import os

import pytest
import yaml

from tests.azure_sim import keyvault as sim_kv
from tests.azure_sim.server import SimServer, load_scenario
from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, run_module, writes

MODULE = "backup_posture_info"
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
SUB_B = "7a9b8c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
BOTH = {"subscription_ids": [SUB, SUB_B]}
EXPECTED = {  # (subscription, name): (verdict, reason codes in order)
    (SUB, "cvm-ok-pmk"): ("healthy", []),
    (SUB, "cvm-ok-kv"): ("healthy", []),
    (SUB, "cvm-ok-rbac"): ("healthy", []),
    (SUB, "cvm-ok-hsm"): ("healthy", []),
    (SUB, "cvm-soon"): ("at_risk", ["key_expires_soon"]),
    (SUB, "cvm-rpo"): ("at_risk", ["rpo_missed"]),
    (SUB, "cvm-busy"): ("at_risk", ["des_over_threshold"]),
    (SUB, "cvm-weak"): ("at_risk", ["soft_delete_off", "immutability_off"]),
    (SUB_B, "cvm-b-01"): ("at_risk", ["feature_not_registered"]),
    (SUB, "cvm-noaccess"): ("failing", ["last_job_failed", "key_access_missing"]),
    (SUB, "cvm-expired"): ("failing", ["key_expired"]),
    (SUB, "cvm-disabled"): ("failing", ["key_disabled"]),
    (SUB, "cvm-bare"): ("unprotected", ["not_protected"]),
    (SUB_B, "cvm-b-02"): ("unprotected", ["not_protected", "feature_not_registered"]),
}


@pytest.fixture
def posture_sim(sim_server_factory):
    return sim_server_factory("posture")


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "vms" not in result)


def by_name(result: dict) -> dict:
    return {(vm["subscription_id"], vm["name"]): vm for vm in result["vms"]}


def azure_requests(server, since: int = 0) -> list[dict]:
    return [r for r in server.requests(since) if r["host"] != SIGN_IN_HOST]


# ------------------------------------------------------------------------------------------------ verdicts


def test_every_vm_of_the_posture_estate_has_its_verdict_and_reasons(posture_sim):
    result = run_module(posture_sim, MODULE, BOTH)
    assert not failed(result), result.get("msg")
    vms = by_name(result)
    assert {k: (v["verdict"], [r["code"] for r in v["reasons"]]) for k, v in vms.items()} == EXPECTED
    assert "cvm-ok-pmk" in [v["name"] for v in result["vms"]] and "tl-vm-01" not in [v["name"] for v in result["vms"]]
    assert result["summary"] == {"total": 14, "healthy": 4, "at_risk": 5, "failing": 3, "unprotected": 2}
    assert [(v["subscription_id"], v["resource_group"], v["name"]) for v in result["vms"]] == \
        sorted((v["subscription_id"], v["resource_group"], v["name"]) for v in result["vms"])
    for vm in result["vms"]:
        assert all(r["severity"] in ("at_risk", "failing", "unprotected") and r["message"].endswith(".")
                   and "\n" not in r["message"] for r in vm["reasons"]), vm["name"]
    subs = {s["subscription_id"]: s for s in result["subscriptions"]}
    assert subs[SUB]["preview_feature"] == "Registered" and subs[SUB]["problems"] == []
    assert subs[SUB_B]["preview_feature"] == "NotRegistered" and len(subs[SUB_B]["problems"]) == 1
    assert writes(posture_sim.requests()) == []


def test_the_facts_behind_the_verdicts(posture_sim):
    vms = by_name(run_module(posture_sim, MODULE, BOTH))
    noaccess = vms[(SUB, "cvm-noaccess")]
    job = noaccess["last_job"]
    assert job["status"] == "Failed" and job["error_code"].startswith("UserErrorKeyVaultPermissionsNotConfigured")
    assert job["recommendations"] and "Backup Management Service" in job["recommendations"][0]
    assert noaccess["key"]["backup_access"] is False and noaccess["protection"]["health_status"] == "ActionRequired"
    rpo = vms[(SUB, "cvm-rpo")]["last_backup"]
    assert rpo["rpo_hours"] == 24.0 and 59.9 < rpo["age_hours"] < 61 and rpo["rpo_met"] is False
    soon = vms[(SUB, "cvm-soon")]["key"]
    assert soon["enabled"] is True and soon["days_left"] in (9, 10) and soon["expires"].endswith("Z")
    assert vms[(SUB, "cvm-expired")]["key"]["days_left"] < 0
    assert vms[(SUB, "cvm-disabled")]["key"]["enabled"] is False
    busy = vms[(SUB, "cvm-busy")]["disk_encryption_set"]
    assert (busy["disk_count"], busy["snapshot_count"], busy["threshold"], busy["over_threshold"]) == (38, 4, 36, True)
    hsm = vms[(SUB, "cvm-ok-hsm")]
    assert hsm["key"]["store_type"] == "managed_hsm" and hsm["key"]["backup_access"] is True
    assert vms[(SUB, "cvm-ok-rbac")]["key"]["backup_access"] is True
    ok = vms[(SUB, "cvm-ok-kv")]
    assert ok["protection"]["vault_name"] == "rsv-posture-kc" and ok["protection"]["policy_name"] == "cvm-daily"
    assert ok["latest_recovery_point"]["tiers"] == ["InstantRP", "HardenedRP"] and ok["last_backup"]["rpo_met"] is True
    assert ok["vault"] == {"id": ok["protection"]["vault_id"], "name": "rsv-posture-kc", "soft_delete": "Enabled",
                           "immutability": "Unlocked", "cross_region_restore": False}
    assert vms[(SUB, "cvm-ok-pmk")]["key"] is None and vms[(SUB, "cvm-ok-pmk")]["disk_encryption_set"] is None
    bare = vms[(SUB, "cvm-bare")]
    assert bare["protection"]["protected"] is False and bare["last_backup"] is None and bare["vault"]["name"] == "rsv-posture-kc"


def documented(tree: dict) -> dict:
    """{name: contains-tree or None} of a RETURN `contains`, leaving out entries returned only sometimes."""
    return {k: documented(v["contains"]) if "contains" in v else None for k, v in tree.items()
            if str(v.get("returned", "always")) == "always" or "contains" in v}


def test_the_return_documentation_is_what_is_returned(posture_sim):
    """Every documented field is returned and every returned field documented (the report renders these names)."""
    with open(os.path.join(REPO_ROOT, "plugins", "modules", f"{MODULE}.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    docs = {n.targets[0].id: n.value.value for n in tree.body if isinstance(n, ast.Assign) and hasattr(n.targets[0], "id")}
    spec = yaml.safe_load(docs["RETURN"])
    result = run_module(posture_sim, MODULE, BOTH)
    top = {k: v for k, v in result.items() if k not in ("changed", "invocation", "failed", "warnings")}
    assert set(top) == set(spec)
    doc_vm = documented(spec["vms"]["contains"])
    for vm in result["vms"]:
        assert set(vm) == set(doc_vm), vm["name"]
        for field, inner in doc_vm.items():
            if inner is not None and isinstance(vm[field], dict):
                optional = {k for k, v in spec["vms"]["contains"][field]["contains"].items() if "returned" in v}
                assert set(inner) <= set(vm[field]) <= set(inner) | optional, (vm["name"], field)
    assert set(result["summary"]) == set(spec["summary"]["contains"])
    assert all(set(s) == set(spec["subscriptions"]["contains"]) for s in result["subscriptions"])


def test_removed_key_access_makes_the_vm_failing(posture_sim):
    """Someone removes the Backup Management Service's access policy entry and its RBAC assignment: the VMs on those
    keys turn failing with key_access_missing, before any backup has failed."""
    sim = posture_sim.sim
    with sim.lock:
        vault = sim.store.get(sim_kv.state(sim)["vaults"]["kv-posture-kc"]["id"])
        vault["properties"]["accessPolicies"] = [p for p in vault["properties"]["accessPolicies"] if p["objectId"] != BMS]
        for found in sim.store.find(lambda r: r.get("type") == "Microsoft.Authorization/roleAssignments"
                                    and r["properties"]["principalId"] == BMS):
            sim.store.delete(found["id"])
    vms = by_name(run_module(posture_sim, MODULE, {"resource_groups": ["rg-cvm-kc"], "backup_management_service_object_id": BMS}))
    for name in ("cvm-ok-kv", "cvm-ok-rbac"):
        assert vms[(SUB, name)]["verdict"] == "failing" and "key_access_missing" in [r["code"] for r in vms[(SUB, name)]["reasons"]]
    assert vms[(SUB, "cvm-ok-pmk")]["verdict"] == "healthy"
    assert not [r for r in posture_sim.requests() if r["host"] == "graph.microsoft.com"]  # the object id was given


def test_check_mode_reads_the_same_and_writes_nothing(posture_sim):
    result = run_module(posture_sim, MODULE, BOTH, check=True)
    assert not failed(result), result.get("msg")
    assert {k: (v["verdict"], [r["code"] for r in v["reasons"]]) for k, v in by_name(result).items()} == EXPECTED
    assert result["changed"] is False
    assert writes(posture_sim.requests()) == []
    assert {r["method"] for r in azure_requests(posture_sim)} == {"GET"}


def test_named_vms_and_vault_restriction(posture_sim):
    vm_b = f"/subscriptions/{SUB_B}/resourceGroups/rg-cvm-b/providers/Microsoft.Compute/virtualMachines/cvm-b-01"
    result = run_module(posture_sim, MODULE, {"vms": ["rg-cvm-kc/cvm-ok-kv", {"resource_group": "rg-cvm-kc", "name": "cvm-weak"}, vm_b],
                                              "vaults": ["rsv-posture-kc", "rsv-b-kc"]})
    assert not failed(result), result.get("msg")
    vms = by_name(result)
    assert sorted(vms) == sorted([(SUB, "cvm-ok-kv"), (SUB, "cvm-weak"), (SUB_B, "cvm-b-01")])
    assert [s["subscription_id"] for s in result["subscriptions"]] == [SUB, SUB_B]
    assert vms[(SUB, "cvm-weak")]["verdict"] == "unprotected"  # its vault rsv-weak-kc was left out
    missing = run_module(posture_sim, MODULE, {"vms": ["rg-cvm-kc/no-such-vm"]})
    assert failed(missing) and missing["msg"] == f"VM rg-cvm-kc/no-such-vm was not found in subscription {SUB}."


# ------------------------------------------------------------------------------------------------ cost


def grown(extra: int) -> dict:
    """The posture estate with `extra` more protected confidential VMs in rsv-posture-kc, half of them on des-ok."""
    scenario = copy.deepcopy(load_scenario("posture"))
    group = next(g for g in scenario["subscriptions"][0]["resource_groups"] if g["name"] == "rg-cvm-kc")
    vault = next(v for g in scenario["subscriptions"][0]["resource_groups"] for v in g.get("recovery_vaults") or []
                 if v["name"] == "rsv-posture-kc")
    for index in range(extra):
        vm = {"name": f"cvm-fleet-{index:02d}", "size": "Standard_DC2as_v6", "security_type": "ConfidentialVM",
              "encryption": "DiskWithVMGuestState", **({"des": "des-ok"} if index % 2 else {})}
        group["vms"].append(vm)
        vault["protected_items"].append({"vm": f"rg-cvm-kc/{vm['name']}", "policy": "cvm-daily"})
    return scenario


def cost(extra: int, args: dict) -> tuple:
    server = SimServer(grown(extra)).start()
    try:
        result = run_module(server, MODULE, args)
        assert not failed(result), result.get("msg")
        assert not server.sim.violations, server.sim.violations
        assert writes(server.requests()) == []
        return result["summary"]["total"], result["requests"], len(azure_requests(server))
    finally:
        server.stop()


def test_requests_do_not_grow_with_the_number_of_vms():
    """The same estate with 3 and 9 more protected CVMs in one vault (half on a shared DES and key): the same number of
    requests, by the module's count and by the local Azure's log. The recovery points are the documented exception:
    one list per protected VM, so exactly 6 more with include_recovery_points."""
    args = {**BOTH, "include_recovery_points": False, "backup_management_service_object_id": BMS}
    small, large = cost(3, args), cost(9, args)
    assert (small[0], large[0]) == (17, 23)
    assert small[1:] == large[1:], (small, large)
    assert small[1] < small[0] * 3  # far fewer requests than three per VM
    with_points = {**args, "include_recovery_points": True}
    small_rp, large_rp = cost(3, with_points), cost(9, with_points)
    assert large_rp[1] - small_rp[1] == 6 and large_rp[2] - small_rp[2] == 6


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("args,expected", [
    ({"subscription_ids": ["not-a-guid"]}, "is not a"),
    ({"vms": ["rg/vm/extra"]}, "is not a VM reference"),
    ({"vms": [{"resource_group": "rg", "name": "../victim"}]}, "is not a"),
    ({"key_expiry_warning_days": -1}, "key_expiry_warning_days must be 0 or more"),
    ({"job_lookback_days": 0}, "job_lookback_days must be 1 or more"),
    ({"backup_management_service_object_id": "bms"}, "is not an object id"),
    ({"des_disk_threshold": 0}, "des_disk_threshold must be at least 1"),
    ({"blocking_features": ["NoSlash"]}, "is not of the form Namespace/FeatureName"),
    ({"vaults": ["rsv/../x"]}, "is not a"),
])
def test_bad_input_is_one_sentence_before_any_request(posture_sim, args, expected):
    result = run_module(posture_sim, MODULE, args)
    assert failed(result) and expected in result["msg"], result.get("msg")
    assert "\n" not in result["msg"] and result["msg"].endswith(".")
    assert azure_requests(posture_sim) == []


# ------------------------------------------------------------------------------------------------ refused lists
# readiness.Reader.listed_vms: a refused VM list (AuthorizationFailed, 403, the local Azure's ERROR_BODIES) is one
# sentence naming the group and the subscription; a subscription that answers 404 is "not found" with the likely cause.

@pytest.mark.parametrize("args,path,status,text", [
    ({"resource_groups": ["rg-cvm-kc"], "subscription_ids": [SUB]}, "/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines$",
     403, f"Could not list the VMs of resource group rg-cvm-kc in subscription {SUB}: Failed to list the VMs of resource group rg-cvm-kc:"),
    ({"subscription_ids": [SUB]}, f"^/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines$", 403,
     f"Could not list the VMs of subscription {SUB}: Failed to list the VMs of subscription {SUB}:"),
    ({"subscription_ids": [SUB]}, f"^/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines$", 404,
     f"Could not list the VMs of subscription {SUB}: not found (no such subscription, or the credential has no role on it)."),
])
def test_a_refused_vm_list_is_one_sentence_naming_where(posture_sim, args, path, status, text):
    posture_sim.set_faults({"rules": [{"kind": "error", "status": status, "method": "^GET$", "path": path}]})
    result = run_module(posture_sim, MODULE, args)
    assert failed(result) and result["msg"].startswith(text), result.get("msg")


def test_a_resource_group_another_subscription_lacks_has_no_vms_there(posture_sim):
    result = run_module(posture_sim, MODULE, {**BOTH, "resource_groups": ["rg-cvm-b"]})
    assert not failed(result), result.get("msg")
    assert sorted(by_name(result)) == [(SUB_B, "cvm-b-01"), (SUB_B, "cvm-b-02")]
