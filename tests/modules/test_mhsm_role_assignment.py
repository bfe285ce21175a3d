"""mhsm_role_assignment and mhsm_role_assignment_info through the local Azure (demo HSM hsm-cvm-uae, local RBAC enforced)."""

from __future__ import annotations

import pytest

from tests.azure_sim.keyvault import assignment_body
from tests.sim_helpers import run_module, writes

MODULE = "mhsm_role_assignment"
INFO = "mhsm_role_assignment_info"
HSM = {"hsm": "hsm-cvm-uae", "resource_group": "rg-cvm-uae"}
HSM_HOST = "hsm-cvm-uae.managedhsm.azure.net"
HSM_URI = f"https://{HSM_HOST}/"
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
HSM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-uae/providers/Microsoft.KeyVault/managedHSMs/hsm-cvm-uae"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
OPS = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
DES_IDENTITY = "5a4f3e2d-1c0b-4a9f-8e7d-6c5b4a3f2e1d"
READONLY_APP = "1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
BACKUP_ROLE = "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"


def hsm_state(server) -> dict:
    return server.sim.ext["keyvault"]["hsms"]["hsm-cvm-uae"]


def assignments(server, principal: str = BMS) -> list[dict]:
    return [a for a in hsm_state(server)["role_assignments"].values() if a["properties"]["principalId"] == principal]


def arrange(server, scope: str, name: str, role: str, principal: str):
    """An assignment made outside the collection (another name than ours)."""
    with server.sim.lock:
        hsm_state(server)["role_assignments"][name] = assignment_body(scope, name, role, principal)


def failed(result: dict) -> bool:
    return bool(result.get("failed")) or ("msg" in result and "assignment" not in result and "assignments" not in result)


def hsm_writes(server, seen: int = 0) -> list[dict]:
    """The writes to the HSM after the first `seen` log entries."""
    return [r for r in writes(server.requests()[seen:]) if r["host"] == HSM_HOST]


def readonly_credentials(server) -> dict:
    principal = server.sim.principals[READONLY_APP]
    return {"client_id": principal["app_id"], "secret": principal["secret"], "tenant": server.sim.tenant_id}


# ------------------------------------------------------------------------------------------------ the normal path


def test_check_mode_plans_the_key_assignment_without_writing(azure_sim):
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, check=True, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] is True
    assert result["assignment"]["scope"] == "/keys/cvm-hsm-key"
    assert result["assignment"]["role_name"] == "Managed HSM Crypto User"
    assert result["assignment"]["principal_id"] == BMS
    assert result["diff"]["before"]["assigned"] is False and result["diff"]["after"]["assigned"] is True
    assert writes(azure_sim.requests()) == []
    assert assignments(azure_sim) == []


def test_apply_assigns_on_the_key_only_then_reapply_changes_nothing(azure_sim):
    planned = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, check=True)
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, diff=True)
    assert result["changed"] is True
    assert result["assignment"]["name"] == planned["assignment"]["name"]  # the deterministic name check mode showed
    assert result["assignment"]["role_definition_id"].endswith(CRYPTO_USER)
    held = assignments(azure_sim)
    assert [(a["properties"]["scope"], a["name"]) for a in held] == [("/keys/cvm-hsm-key", result["assignment"]["name"])]
    puts = hsm_writes(azure_sim)
    assert [r["method"] for r in puts] == ["PUT"]
    assert puts[0]["path"] == f"/keys/cvm-hsm-key/providers/Microsoft.Authorization/roleAssignments/{result['assignment']['name']}"

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, diff=True)
    assert again["changed"] is False
    assert again["assignment"]["name"] == result["assignment"]["name"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert writes(azure_sim.requests()[seen:]) == []


def test_absent_removes_only_this_assignment(azure_sim):
    run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"})
    arrange(azure_sim, "/keys/other-key", "0a1b2c3d-0000-4000-8000-000000000001", CRYPTO_USER, BMS)  # another key
    arrange(azure_sim, "/keys/cvm-hsm-key", "0a1b2c3d-0000-4000-8000-000000000002", BACKUP_ROLE, BMS)  # another role
    others_before = {n: a for n, a in hsm_state(azure_sim)["role_assignments"].items()
                     if a["properties"]["principalId"] != BMS or a["properties"]["scope"] != "/keys/cvm-hsm-key"
                     or not a["properties"]["roleDefinitionId"].endswith(CRYPTO_USER)}

    seen = len(azure_sim.requests())
    planned = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "state": "absent"}, check=True, diff=True)
    assert planned["changed"] is True and planned["diff"]["after"]["assigned"] is False
    assert writes(azure_sim.requests()[seen:]) == []

    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "state": "absent"})
    assert result["changed"] is True and result["assignment"]["scope"] == "/keys/cvm-hsm-key"
    assert [r["method"] for r in hsm_writes(azure_sim, seen)] == ["DELETE"]
    assert hsm_state(azure_sim)["role_assignments"] == others_before  # the DES's, the admin's and the other two stay

    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "state": "absent"})
    assert again["changed"] is False and again["assignment"] is None
    assert writes(azure_sim.requests()[seen:]) == []


def test_an_equivalent_assignment_made_by_someone_else_is_recognised(azure_sim):
    theirs = "6c6f6361-6c2d-4a7a-8572-652d706f7274"
    arrange(azure_sim, "/keys/cvm-hsm-key", theirs, CRYPTO_USER, BMS)
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"})
    assert result["changed"] is False
    assert result["assignment"]["name"] == theirs
    assert writes(azure_sim.requests()) == []
    assert len(assignments(azure_sim)) == 1


def test_all_keys_is_allowed_with_a_warning(azure_sim):
    result = run_module(azure_sim, MODULE, {**HSM, "all_keys": True})
    assert result["changed"] is True and result["assignment"]["scope"] == "/keys"
    assert any("broader than Azure Backup needs" in w for w in result.get("warnings", []))
    assert [a["properties"]["scope"] for a in assignments(azure_sim)] == ["/keys"]


def test_other_hsm_forms_role_ids_and_a_given_principal(azure_sim):
    key_url = f"{HSM_URI}keys/cvm-hsm-key/0f9e8d7c6b5a49382716f5e4d3c2b1a0"
    by_uri = run_module(azure_sim, MODULE, {"hsm_uri": HSM_URI, "key": key_url, "principal_id": BMS,
                                            "role": f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{BACKUP_ROLE}"})
    assert by_uri["changed"] is True and by_uri["assignment"]["role_name"] == "Managed HSM Backup"
    log = azure_sim.requests()
    assert not [r for r in log if r["host"] == "graph.microsoft.com"]  # principal_id given: no Graph lookup
    assert not [r for r in log if r["host"] == "management.azure.com"]  # hsm_uri given: no ARM read
    by_id = run_module(azure_sim, MODULE, {"hsm": HSM_ID, "scope": "keys/cvm-hsm-key", "role": BACKUP_ROLE})
    assert by_id["changed"] is False and by_id["assignment"]["name"] == by_uri["assignment"]["name"]


def test_the_key_is_checked_first_when_the_caller_may_read_keys(azure_sim):
    arrange(azure_sim, "/keys", "0a1b2c3d-0000-4000-8000-00000000000a", AUDITOR, OPS)  # ansible-ops may now read keys
    result = run_module(azure_sim, MODULE, {**HSM, "key": "no-such-key"})
    assert failed(result)
    assert "The key 'no-such-key' does not exist in the Managed HSM 'hsm-cvm-uae'" in result["msg"]
    assert writes(azure_sim.requests()) == []
    ok = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, check=True)
    assert ok["key_checked"] is True and not ok.get("warnings")


def test_a_key_the_caller_may_not_read_is_checked_through_the_management_plane(azure_sim):
    # The demo admin holds only 'Managed HSM Administrator', which may not read keys (as in Azure); the HSM's
    # management plane (Microsoft.KeyVault/managedHSMs/keys) still tells whether the key exists, before any write.
    result = run_module(azure_sim, MODULE, {**HSM, "key": "no-such-key"})
    assert failed(result)
    assert "The key 'no-such-key' does not exist in the Managed HSM 'hsm-cvm-uae'" in result["msg"]
    assert writes(azure_sim.requests()) == []
    assert any(r["path"].endswith("/managedHSMs/hsm-cvm-uae/keys/no-such-key") for r in azure_sim.requests())
    ok = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, check=True)
    assert ok["key_checked"] is True and not ok.get("warnings")


def test_a_missing_key_unreadable_beforehand_is_still_refused_clearly(azure_sim):
    # Given by hsm_uri only, the HSM's resource id is unknown: the HSM itself refuses the assignment, nothing is
    # created, and the message names the key.
    result = run_module(azure_sim, MODULE, {"hsm_uri": HSM_URI, "key": "no-such-key", "principal_id": BMS})
    assert failed(result)
    assert "does not exist in the Managed HSM 'hsm-cvm-uae'" in result["msg"] and "no-such-key" in result["msg"]
    assert any("Could not check that the key 'no-such-key' exists" in w for w in result.get("warnings", []))
    assert assignments(azure_sim) == []


@pytest.mark.parametrize("args, text", [
    ({"hsm": "hsm-nope", "resource_group": "rg-cvm-uae", "key": "cvm-hsm-key"},
     "The Managed HSM 'hsm-nope' does not exist in resource group rg-cvm-uae"),
    ({**HSM, "key": "cvm-hsm-key", "role": "Managed HSM Crypto Usr"}, "There is no role 'Managed HSM Crypto Usr'"),
    ({**HSM, "scope": "/key/cvm-hsm-key"}, "Did you mean '/keys/cvm-hsm-key'?"),
    ({**HSM, "key": "https://other.managedhsm.azure.net/keys/cvm-hsm-key"}, "belongs to the HSM 'other'"),
    ({**HSM}, "Give the key to grant access to"),
    ({**HSM, "key": "cvm-hsm-key", "principal_id": "Backup Management Service"}, "is not an object id"),
])
def test_bad_input_fails_before_any_write(azure_sim, args, text):
    result = run_module(azure_sim, MODULE, args)
    assert failed(result)
    assert text in result["msg"]
    assert writes(azure_sim.requests()) == []


def test_unknown_role_lists_the_known_ones(azure_sim):
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "role": "Crypto User"})
    assert failed(result) and "'Managed HSM Crypto User'" in result["msg"] and "'Managed HSM Backup'" in result["msg"]


def test_a_caller_without_the_hsm_role_is_told_which_role(azure_sim):
    for check in (True, False):
        result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", **readonly_credentials(azure_sim)}, check=check)
        assert failed(result)
        assert "Managed HSM Policy Administrator" in result["msg"] and "scope '/'" in result["msg"]
        assert result.get("status_code") == 403
    assert writes(azure_sim.requests()) == []
    assert "readonly-Secret" not in str(result)


def test_when_graph_refuses_the_message_says_how_to_pass_principal_id(azure_sim):
    azure_sim.sim.config["graph_denied"] = True
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"})
    assert failed(result)
    assert "Microsoft Graph refused" in result["msg"] and "principal_id" in result["msg"]
    assert "az ad sp show --id 262044b1-e2ce-469f-a196-69ab7ada62d3 --query id -o tsv" in result["msg"]
    assert writes(azure_sim.requests()) == []
    given = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "principal_id": BMS})
    assert given["changed"] is True and given["assignment"]["principal_id"] == BMS


# ------------------------------------------------------------------------------------------------ the info module


def test_info_lists_at_a_scope_with_filters_and_never_writes(azure_sim):
    run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"})
    seen = len(azure_sim.requests())  # the info calls below start here
    at_key = run_module(azure_sim, INFO, {**HSM, "key": "cvm-hsm-key"})
    assert sorted((a["principal_id"], a["role_name"]) for a in at_key["assignments"]) == sorted([
        (BMS, "Managed HSM Crypto User"), (DES_IDENTITY, "Managed HSM Crypto Service Encryption User")])
    assert at_key["scope"] == "/keys/cvm-hsm-key"

    mine = run_module(azure_sim, INFO, {"hsm_uri": HSM_URI, "scope": "/keys/cvm-hsm-key", "principal": "backup_management_service"})
    assert [a["principal_id"] for a in mine["assignments"]] == [BMS]
    by_role = run_module(azure_sim, INFO, {**HSM, "key": "cvm-hsm-key", "role": "Managed HSM Crypto Service Encryption User"})
    assert [a["principal_id"] for a in by_role["assignments"]] == [DES_IDENTITY]

    hsm_wide = run_module(azure_sim, INFO, {**HSM, "principal_id": OPS})
    assert [(a["scope"], a["role_name"]) for a in hsm_wide["assignments"]] == [("/", "Managed HSM Administrator")]
    assert [r["method"] for r in writes(azure_sim.requests()[:seen])] == ["PUT"]  # the setup wrote
    assert writes(azure_sim.requests()[seen:]) == []  # the four info calls did not


def test_info_refuses_a_scope_typo_and_names_the_role_on_403(azure_sim):
    typo = run_module(azure_sim, INFO, {**HSM, "scope": "/key"})
    assert failed(typo) and "Did you mean '/keys'?" in typo["msg"]
    denied = run_module(azure_sim, INFO, {**HSM, **readonly_credentials(azure_sim)})
    assert failed(denied) and "Managed HSM Policy Administrator" in denied["msg"]


# ------------------------------------------------------------------------------------------------ scope forms, 409, key-scoped admins

POLICY_ADMIN = "4bd23610-cdcf-4971-bdee-bdc562cc28e4"
READONLY = "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a"


@pytest.mark.parametrize("form", ["/keys/cvm-hsm-key/", f"{HSM_URI}keys/cvm-hsm-key", "/KEYS/CVM-HSM-KEY"])
def test_an_existing_key_assignment_is_recognised_whatever_scope_form_the_hsm_returns(azure_sim, form):
    theirs = "6c6f6361-6c2d-4a7a-8572-652d706f7275"
    arrange(azure_sim, form, theirs, CRYPTO_USER, BMS)
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key"}, diff=True)
    assert not failed(result), result.get("msg")
    assert result["changed"] is False and result["assignment"]["name"] == theirs
    assert result["assignment"]["scope"].lower() == "/keys/cvm-hsm-key"
    assert writes(azure_sim.requests()) == []


def test_all_keys_is_found_again_on_the_second_run(azure_sim):
    # The SDK gives the scope of a '/keys' assignment as its KeyVaultRoleScope enum, whose str() is 'RoleScope.KEYS'.
    first = run_module(azure_sim, MODULE, {**HSM, "all_keys": True})
    seen = len(azure_sim.requests())
    again = run_module(azure_sim, MODULE, {**HSM, "all_keys": True}, diff=True)
    assert first["changed"] is True and again["changed"] is False
    assert again["assignment"]["name"] == first["assignment"]["name"] and again["assignment"]["scope"] == "/keys"
    assert writes(azure_sim.requests()[seen:]) == []


def test_a_409_that_reading_again_cannot_explain_fails_in_one_sentence(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "error", "status": 409, "method": "^PUT$", "host": HSM_HOST, "count": 1}]})
    result = run_module(azure_sim, MODULE, {**HSM, "key": "cvm-hsm-key", "principal_id": BMS})
    assert failed(result)
    assert "answered 409" in result["msg"] and "listing that scope again does not show it" in result["msg"]
    assert "Traceback" not in str(result) and "IndexError" not in str(result)
    assert [r["method"] for r in hsm_writes(azure_sim)] == ["PUT"]  # the one refused PUT, no second one
    assert assignments(azure_sim) == []


def test_a_policy_administrator_of_the_key_only_can_assign_on_that_key(azure_sim):
    # Azure/azure-cli#32719: a key-scoped Managed HSM Policy Administrator is refused at '/'. The module lists the
    # role definitions and assignments at the key's scope, so it works; at another key it is refused with the role.
    arrange(azure_sim, "/keys/cvm-hsm-key", "0a1b2c3d-0000-4000-8000-0000000000b0", POLICY_ADMIN, READONLY)
    args = {**HSM, "key": "cvm-hsm-key", "principal_id": BMS, **readonly_credentials(azure_sim)}
    result = run_module(azure_sim, MODULE, args)
    assert not failed(result), result.get("msg")
    assert result["changed"] is True and result["assignment"]["role_name"] == "Managed HSM Crypto User"
    assert [a["properties"]["scope"] for a in assignments(azure_sim)] == ["/keys/cvm-hsm-key"]
    listed = [r["path"] for r in azure_sim.requests() if r["host"] == HSM_HOST and r["path"].endswith("/roleDefinitions")]
    assert listed and all(p.startswith("/keys/cvm-hsm-key/") for p in listed)  # never needed '/'
    seen = len(azure_sim.requests())
    other = run_module(azure_sim, MODULE, {**args, "key": "other-key"})
    assert failed(other) and "Managed HSM Policy Administrator" in other["msg"]
    assert hsm_writes(azure_sim, seen) == []
