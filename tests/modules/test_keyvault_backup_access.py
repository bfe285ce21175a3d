"""keyvault_backup_access through the local Azure: access-policy vault kv-cvm-kc and RBAC vault kv-cvm-rbac (rg-cvm-kc)."""

from __future__ import annotations

import copy

from tests.azure_sim.keyvault import KV_ROLES, arm_assignment, principal_can_backup_key
from tests.sim_helpers import run_module, writes

MODULE = "keyvault_backup_access"
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
VAULTS = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults"
POLICY_VAULT = {"vault": "kv-cvm-kc", "resource_group": "rg-cvm-kc"}
RBAC_VAULT = {"vault": "kv-cvm-rbac", "resource_group": "rg-cvm-kc", "key": "cvm-cmk-rbac"}
KEY_SCOPE = f"{VAULTS}/kv-cvm-rbac/keys/cvm-cmk-rbac"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
ADMIN_ROLE = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
OPS = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"  # holds Key Vault Administrator on the whole vault (demo)
GRANTED = {"keys": ["backup", "get", "list"], "secrets": ["get", "list"]}


def vault(server, name: str = "kv-cvm-kc") -> dict:
    return server.sim.store.get(f"{VAULTS}/{name}")


def bms_policy(server) -> dict | None:
    return next((p for p in vault(server)["properties"]["accessPolicies"] if p["objectId"] == BMS), None)


def rbac_assignments(server, principal: str = BMS, scope: str = KEY_SCOPE) -> list[dict]:
    items = server.sim.store.children(scope + "/providers/Microsoft.Authorization", "roleAssignments")
    return [a for a in items if a["properties"]["principalId"] == principal]


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "mode" not in result)


def policy_writes(requests) -> list[dict]:
    return [r for r in writes(requests) if "/accessPolicies/" in r["path"]]


# ------------------------------------------------------------------------------------------------ access policies


def test_access_policy_check_mode_plans_without_writing(azure_sim):
    result = run_module(azure_sim, MODULE, POLICY_VAULT, check=True, diff=True)
    assert not failed(result), result.get("msg")
    assert result["mode"] == "access_policy" and result["changed"] is True
    assert result["permissions"] == GRANTED and result["permissions_changed"] == GRANTED
    assert result["diff"] == {"before": {"object_id": BMS, "permissions": {}}, "after": {"object_id": BMS, "permissions": GRANTED}}
    assert writes(azure_sim.requests()) == []
    assert bms_policy(azure_sim) is None


def test_access_policy_apply_adds_only_the_backup_entry_then_reapply_changes_nothing(azure_sim):
    others = copy.deepcopy(vault(azure_sim)["properties"]["accessPolicies"])
    result = run_module(azure_sim, MODULE, POLICY_VAULT)
    assert result["changed"] is True and result["principal_id"] == BMS
    assert [r["path"].rsplit("/", 1)[-1] for r in policy_writes(azure_sim.requests())] == ["add"]
    entry = bms_policy(azure_sim)
    assert {k: sorted(v) for k, v in entry["permissions"].items()} == GRANTED
    assert [p for p in vault(azure_sim)["properties"]["accessPolicies"] if p["objectId"] != BMS] == others

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, POLICY_VAULT, diff=True)
    assert again["changed"] is False and again["permissions_changed"] == {}
    assert again["diff"]["before"] == again["diff"]["after"]
    assert writes(azure_sim.requests()[seen:]) == []


def test_access_policy_merges_with_what_the_principal_already_has(azure_sim):
    with azure_sim.sim.lock:
        vault(azure_sim)["properties"]["accessPolicies"].append(
            {"tenantId": azure_sim.sim.tenant_id, "objectId": BMS, "permissions": {"keys": ["get", "wrapKey"], "certificates": ["get"]}})
    result = run_module(azure_sim, MODULE, POLICY_VAULT, diff=True)
    assert result["changed"] is True
    assert result["permissions_changed"] == {"keys": ["backup", "list"], "secrets": ["get", "list"]}
    assert result["diff"]["before"]["permissions"] == {"certificates": ["get"], "keys": ["get", "wrapkey"]}
    entry = bms_policy(azure_sim)
    assert sorted(entry["permissions"]["keys"]) == ["backup", "get", "list", "wrapKey"]
    assert entry["permissions"]["certificates"] == ["get"]

    # absent takes back exactly what this module grants: wrapKey and the certificate permission stay
    seen = len(azure_sim.requests())
    planned = run_module(azure_sim, MODULE, {**POLICY_VAULT, "state": "absent"}, check=True)
    assert planned["changed"] is True and planned["permissions"] == {"certificates": ["get"], "keys": ["wrapkey"]}
    assert writes(azure_sim.requests()[seen:]) == []
    removed = run_module(azure_sim, MODULE, {**POLICY_VAULT, "state": "absent"})
    assert removed["changed"] is True and removed["permissions_changed"] == GRANTED
    assert [r["path"].rsplit("/", 1)[-1] for r in policy_writes(azure_sim.requests()[seen:])] == ["remove"]
    left = {kind: values for kind, values in bms_policy(azure_sim)["permissions"].items() if values}
    assert left == {"keys": ["wrapKey"], "certificates": ["get"]}


def test_access_policy_absent_removes_the_entry_it_made_and_nobody_elses(azure_sim):
    others = copy.deepcopy(vault(azure_sim)["properties"]["accessPolicies"])
    run_module(azure_sim, MODULE, POLICY_VAULT)
    result = run_module(azure_sim, MODULE, {**POLICY_VAULT, "state": "absent"}, diff=True)
    assert result["changed"] is True and result["diff"]["after"]["permissions"] == {}
    assert bms_policy(azure_sim) is None
    assert vault(azure_sim)["properties"]["accessPolicies"] == others
    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**POLICY_VAULT, "state": "absent"})
    assert again["changed"] is False
    assert writes(azure_sim.requests()[seen:]) == []


def test_all_permissions_given_by_someone_else_count_and_are_never_removed(azure_sim):
    with azure_sim.sim.lock:
        vault(azure_sim)["properties"]["accessPolicies"].append(
            {"tenantId": azure_sim.sim.tenant_id, "objectId": BMS, "permissions": {"keys": ["all"], "secrets": ["all"]}})
    present = run_module(azure_sim, MODULE, POLICY_VAULT)
    absent = run_module(azure_sim, MODULE, {**POLICY_VAULT, "state": "absent"})
    assert present["changed"] is False and absent["changed"] is False
    assert writes(azure_sim.requests()) == []


# ------------------------------------------------------------------------------------------------ RBAC vault


def test_rbac_check_mode_then_apply_then_reapply(azure_sim):
    planned = run_module(azure_sim, MODULE, RBAC_VAULT, check=True, diff=True)
    assert planned["mode"] == "rbac" and planned["changed"] is True
    assert planned["role_assignment"]["role_name"] == "Key Vault Crypto User"
    assert planned["diff"]["before"]["assigned"] is False and planned["diff"]["after"]["assigned"] is True
    assert writes(azure_sim.requests()) == []

    result = run_module(azure_sim, MODULE, RBAC_VAULT)
    assert result["changed"] is True and result["role_assignment"]["name"] == planned["role_assignment"]["name"]
    [made] = rbac_assignments(azure_sim)
    assert made["properties"]["roleDefinitionId"].endswith(CRYPTO_USER)
    assert made["properties"]["scope"] == KEY_SCOPE  # the key's scope, not the vault's
    assert rbac_assignments(azure_sim, scope=f"{VAULTS}/kv-cvm-rbac") == []
    assert result["role_assignment"]["scope"] == KEY_SCOPE
    assert principal_can_backup_key(azure_sim.sim, "https://kv-cvm-rbac.vault.azure.net/keys/cvm-cmk-rbac", BMS)
    assert result["permissions"] is None

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, RBAC_VAULT)
    assert again["changed"] is False
    assert writes(azure_sim.requests()[seen:]) == []


def test_rbac_role_is_overridable_and_an_equivalent_assignment_is_recognised(azure_sim):
    scope = f"{VAULTS}/kv-cvm-rbac"
    theirs = arm_assignment(azure_sim.sim, KEY_SCOPE, "7e3f1c2a-9b8d-4e6f-a5c4-3b2a1f0e9d8c",
                            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ADMIN_ROLE}", BMS, "ServicePrincipal")
    with azure_sim.sim.lock:
        azure_sim.sim.store.put(theirs["id"], theirs)
    result = run_module(azure_sim, MODULE, {**RBAC_VAULT, "rbac_role": "Key Vault Administrator"})
    assert result["changed"] is False and result["role_assignment"]["name"] == theirs["name"]
    by_id = run_module(azure_sim, MODULE, {"vault": scope, "key": "https://kv-cvm-rbac.vault.azure.net/keys/cvm-cmk-rbac/v1",
                                           "rbac_role": ADMIN_ROLE})
    assert by_id["changed"] is False
    assert writes(azure_sim.requests()) == []


def test_rbac_absent_removes_only_its_role_for_its_principal(azure_sim):
    run_module(azure_sim, MODULE, RBAC_VAULT)
    run_module(azure_sim, MODULE, {**RBAC_VAULT, "rbac_role": "Key Vault Administrator"})
    ops_before = rbac_assignments(azure_sim, OPS, f"{VAULTS}/kv-cvm-rbac")
    seen = len(azure_sim.requests())
    result = run_module(azure_sim, MODULE, {**RBAC_VAULT, "state": "absent"}, diff=True)
    assert result["changed"] is True and result["diff"]["after"]["assigned"] is False
    assert [r["method"] for r in writes(azure_sim.requests()[seen:])] == ["DELETE"]
    assert [a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in rbac_assignments(azure_sim)] == [ADMIN_ROLE]
    assert rbac_assignments(azure_sim, OPS, f"{VAULTS}/kv-cvm-rbac") == ops_before
    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**RBAC_VAULT, "state": "absent"})
    assert again["changed"] is False and writes(azure_sim.requests()[seen:]) == []


# ------------------------------------------------------------------------------------------------ failures


def test_bad_input_fails_before_any_write(azure_sim):
    missing = run_module(azure_sim, MODULE, {"vault": "kv-nope", "resource_group": "rg-cvm-kc"})
    assert failed(missing) and "The Key Vault 'kv-nope' does not exist in resource group rg-cvm-kc" in missing["msg"]
    role = run_module(azure_sim, MODULE, {**RBAC_VAULT, "rbac_role": "Key Vault Backup Operator"})
    assert failed(role) and "There is no Azure role 'Key Vault Backup Operator'" in role["msg"]
    not_id = run_module(azure_sim, MODULE, {"vault": f"{VAULTS}/kv-cvm-kc/keys/cvm-cmk/x"})
    assert failed(not_id) and f"'{VAULTS}/kv-cvm-kc/keys/cvm-cmk/x' is not a vaults resource id" in not_id["msg"]
    seen = len(azure_sim.requests())
    no_key = run_module(azure_sim, MODULE, {"vault": "kv-cvm-rbac", "resource_group": "rg-cvm-kc"})
    assert failed(no_key) and "uses Azure RBAC: give the key" in no_key["msg"]
    other = run_module(azure_sim, MODULE, {**RBAC_VAULT, "key": "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk"})
    assert failed(other) and "belongs to the Key Vault 'kv-cvm-kc', not to 'kv-cvm-rbac'" in other["msg"]
    bad = run_module(azure_sim, MODULE, {**POLICY_VAULT, "key": "no/such"})
    assert failed(bad) and "is not a valid key name" in bad["msg"]
    assert writes(azure_sim.requests()) == []
    assert not [r for r in azure_sim.requests()[seen:] if r["host"] == "graph.microsoft.com"]  # refused before the lookup


def test_the_default_role_is_the_least_built_in_one_with_both_key_permissions():
    # Azure built-in roles, Security (MicrosoftDocs azure-docs role-based-access-control/built-in-roles/security.md).
    needed = ("Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/backup/action")
    secret = "Microsoft.KeyVault/vaults/secrets/getSecret/action"

    def holds(actions, action):
        return any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in actions)
    roles = dict(KV_ROLES.values())
    holding = {name for name, actions in roles.items() if all(holds(actions, n) for n in needed)}
    assert holding == {"Key Vault Crypto User", "Key Vault Crypto Officer", "Key Vault Administrator"}
    crypto_user = roles["Key Vault Crypto User"]
    assert all(a.startswith("Microsoft.KeyVault/vaults/keys/") and not a.endswith("*") for a in crypto_user)
    assert all(holds(roles["Key Vault Crypto Officer"], a) for a in crypto_user)  # the officer holds more (keys/*)
    assert holds(roles["Key Vault Administrator"], secret) and not holds(crypto_user, secret)
    assert not holds(roles["Key Vault Crypto Service Encryption User"], needed[1])


def test_when_graph_refuses_the_message_says_how_to_pass_principal_id(azure_sim):
    azure_sim.sim.config["graph_denied"] = True
    result = run_module(azure_sim, MODULE, POLICY_VAULT)
    assert failed(result) and "principal_id" in result["msg"] and "262044b1-e2ce-469f-a196-69ab7ada62d3" in result["msg"]
    assert writes(azure_sim.requests()) == []
    given = run_module(azure_sim, MODULE, {**POLICY_VAULT, "principal_id": BMS})
    assert given["changed"] is True
