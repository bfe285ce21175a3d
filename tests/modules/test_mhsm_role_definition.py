"""mhsm_role_definition through the local Azure (demo HSM hsm-cvm-uae, local RBAC enforced)."""

from __future__ import annotations

from tests.sim_helpers import run_module, writes

MODULE = "mhsm_role_definition"
HSM = {"hsm": "hsm-cvm-uae", "resource_group": "rg-cvm-uae"}
HSM_HOST = "hsm-cvm-uae.managedhsm.azure.net"
ROLE = "Azure Backup Key Reader"
BACKUP_ACTIONS = ["Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/backup/action"]
READONLY_APP = "1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"


def definitions(server) -> dict:
    return server.sim.ext["keyvault"]["hsms"]["hsm-cvm-uae"]["role_definitions"]


def custom(server) -> list[dict]:
    return [d for d in definitions(server).values() if d["properties"]["type"] == "CustomRole"]


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "role_definition" not in result)


def hsm_writes(server, seen: int = 0) -> list[dict]:
    return [r for r in writes(server.requests()[seen:]) if r["host"] == HSM_HOST]


def test_check_mode_plans_the_role_without_writing(azure_sim):
    result = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE}, check=True, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] is True
    assert result["role_definition"]["data_actions"] == BACKUP_ACTIONS
    assert result["diff"]["before"] == {} and result["diff"]["after"]["data_actions"] == sorted(BACKUP_ACTIONS)
    assert writes(azure_sim.requests()) == []
    assert custom(azure_sim) == []


def test_apply_creates_exactly_the_backup_actions_then_reapply_changes_nothing(azure_sim):
    planned = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE}, check=True)
    result = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE})
    assert result["changed"] is True
    assert result["role_definition"]["name"] == planned["role_definition"]["name"]
    assert result["role_definition"]["id"] == planned["role_definition"]["id"]
    [made] = custom(azure_sim)
    assert made["properties"]["roleName"] == ROLE
    assert made["properties"]["permissions"][0]["dataActions"] == BACKUP_ACTIONS
    assert made["properties"]["assignableScopes"] == ["/"]
    puts = hsm_writes(azure_sim)
    assert [(r["method"], r["path"]) for r in puts] == [
        ("PUT", f"/providers/Microsoft.Authorization/roleDefinitions/{result['role_definition']['name']}")]

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE.lower()}, diff=True)  # the name is case-insensitive
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert writes(azure_sim.requests()[seen:]) == []


def test_a_permission_change_is_shown_and_applied_in_place(azure_sim):
    run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE})
    wider = BACKUP_ACTIONS + ["Microsoft.KeyVault/managedHsm/keys/restore/action"]
    seen = len(azure_sim.requests())
    planned = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "data_actions": wider}, check=True, diff=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["data_actions"] == sorted(BACKUP_ACTIONS)
    assert planned["diff"]["after"]["data_actions"] == sorted(wider)
    assert writes(azure_sim.requests()[seen:]) == []

    result = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "data_actions": wider})
    assert result["changed"] is True
    [made] = custom(azure_sim)  # updated, not duplicated
    assert made["properties"]["permissions"][0]["dataActions"] == wider
    assert made["properties"]["description"]  # the description it had is kept


def test_the_custom_role_can_be_assigned_and_absent_deletes_only_it(azure_sim):
    run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE})
    assigned = run_module(azure_sim, "mhsm_role_assignment", {**HSM, "role": ROLE, "key": "cvm-hsm-key"})
    assert assigned["changed"] is True and assigned["assignment"]["role_name"] == ROLE
    run_module(azure_sim, "mhsm_role_assignment", {**HSM, "role": ROLE, "key": "cvm-hsm-key", "state": "absent"})

    builtins = {n for n, d in definitions(azure_sim).items() if d["properties"]["type"] != "CustomRole"}
    seen = len(azure_sim.requests())
    planned = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "state": "absent"}, check=True, diff=True)
    assert planned["changed"] is True and planned["diff"]["after"] == {}
    assert writes(azure_sim.requests()[seen:]) == []
    result = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "state": "absent"})
    assert result["changed"] is True and result["role_definition"]["role_name"] == ROLE
    assert custom(azure_sim) == [] and set(definitions(azure_sim)) == builtins

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "state": "absent"})
    assert again["changed"] is False and again["role_definition"] is None
    assert writes(azure_sim.requests()[seen:]) == []


def test_bad_input_fails_before_any_write(azure_sim):
    builtin = run_module(azure_sim, MODULE, {**HSM, "role_name": "Managed HSM Crypto User"})
    assert failed(builtin) and "is a built-in role" in builtin["msg"]
    foreign = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "data_actions": ["Microsoft.KeyVault/vaults/keys/read"]})
    assert failed(foreign) and "Microsoft.KeyVault/vaults/keys/read" in foreign["msg"]
    missing = run_module(azure_sim, MODULE, {"hsm": "hsm-nope", "resource_group": "rg-cvm-uae", "role_name": ROLE})
    assert failed(missing) and "does not exist" in missing["msg"]
    assert writes(azure_sim.requests()) == []


def test_a_caller_without_the_hsm_role_is_told_which_role(azure_sim):
    principal = azure_sim.sim.principals[READONLY_APP]
    result = run_module(azure_sim, MODULE, {**HSM, "role_name": ROLE, "client_id": principal["app_id"],
                                            "secret": principal["secret"], "tenant": azure_sim.sim.tenant_id})
    assert failed(result)
    assert "Managed HSM Policy Administrator" in result["msg"] and result.get("status_code") == 403
    assert writes(azure_sim.requests()) == []
