"""backup_management_service_info, and the play-level guarantee of issue 16 item 5: protect_cvm.yml resolves the Backup
Management Service before its first write, so a refused Graph lookup fails the play with zero writes; with the id
given no Graph call is made. The least-privilege defaults of issue 17 item 5 are read from the local Azure afterwards."""

from __future__ import annotations

import json
import os
import subprocess

from tests.sim_helpers import REPO_ROOT, _ansible_playbook, ansible_env, run_module, writes

MODULE = "backup_management_service_info"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
BMS_APP = "262044b1-e2ce-469f-a196-69ab7ada62d3"
READONLY_APP = "1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"
COMMAND = f"az ad sp show --id {BMS_APP} --query id -o tsv"
GRAPH = "graph.microsoft.com"
DEMO_VARS = {"cvm_vaults": {"koreacentral": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"},
                            "uaenorth": {"name": "rsv-cvm-uae", "resource_group": "rg-backup"}},
             "cvm_key_propagation_seconds": 0}
KV_KEY_SCOPE = ("/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault"
                "/vaults/kv-cvm-rbac/keys/cvm-cmk-rbac")


def graph_calls(server, seen: int = 0) -> list[dict]:
    return [r for r in server.requests()[seen:] if r["host"] == GRAPH]


def play(server, extra_vars: dict, readonly: bool = False) -> tuple[int, str]:
    """protect_cvm.yml against the local Azure, signed in as ops-readonly (no Graph permission) when asked."""
    extra = {}
    if readonly:
        principal = server.sim.principals[READONLY_APP]
        extra = {"AZURE_CLIENT_ID": principal["app_id"], "AZURE_SECRET": principal["secret"]}
    cmd = [_ansible_playbook(), "-i", "localhost,", os.path.join(REPO_ROOT, "playbooks/protect_cvm.yml"),
           "-e", json.dumps(extra_vars)]
    proc = subprocess.run(cmd, env=ansible_env(server, **extra), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout


# ------------------------------------------------------------------------------------------------ the module


def test_a_given_id_is_returned_without_calling_graph(azure_sim):
    result = run_module(azure_sim, MODULE, {"principal_id": BMS.upper()}, check=True)
    assert result["object_id"] == BMS and result["looked_up"] is False and result["changed"] is False
    assert result["app_id"] == BMS_APP
    assert graph_calls(azure_sim) == []


def test_otherwise_graph_is_asked_by_app_id(azure_sim):
    result = run_module(azure_sim, MODULE, {})
    assert result["object_id"] == BMS and result["looked_up"] is True
    [call] = graph_calls(azure_sim)
    assert call["path"] == "/v1.0/servicePrincipals" and writes(azure_sim.requests()) == []


def test_a_refused_lookup_names_the_command_that_finds_the_id(azure_sim):
    principal = azure_sim.sim.principals[READONLY_APP]
    result = run_module(azure_sim, MODULE, {"client_id": principal["app_id"], "secret": principal["secret"],
                                            "tenant": azure_sim.sim.tenant_id})
    assert result.get("failed") and COMMAND in result["msg"] and "backup_management_service_object_id" in result["msg"]
    assert result["status_code"] == 403 and "Traceback" not in result["msg"]
    bad = run_module(azure_sim, MODULE, {"principal_id": "Backup Management Service"})
    assert bad.get("failed") and "is not a valid object id" in bad["msg"]


# ------------------------------------------------------------------------------------------------ the play


def test_a_play_whose_graph_lookup_is_refused_fails_before_any_write(azure_sim):
    rc, out = play(azure_sim, DEMO_VARS, readonly=True)
    assert rc != 0
    assert COMMAND in out and "Microsoft Graph refused" in out
    assert writes(azure_sim.requests()) == []  # not even the preview-feature registration
    assert graph_calls(azure_sim)  # it was the Graph lookup that stopped it


def test_with_the_id_given_no_graph_call_is_made_and_the_defaults_are_least_privilege(azure_sim):
    azure_sim.sim.config["graph_denied"] = True  # a Graph call would fail the play
    rc, out = play(azure_sim, {**DEMO_VARS, "backup_management_service_object_id": BMS})
    assert rc == 0, out[-3000:]
    assert graph_calls(azure_sim) == []

    # Managed HSM: the Backup Management Service holds, on the CMK only, a custom role with exactly the two
    # dataActions the Azure Backup documentation lists (issue 17 item 5).
    hsm = azure_sim.sim.ext["keyvault"]["hsms"]["hsm-cvm-uae"]
    mine = [a["properties"] for a in hsm["role_assignments"].values() if a["properties"]["principalId"] == BMS]
    assert [a["scope"] for a in mine] == ["/keys/cvm-hsm-key"]
    role = hsm["role_definitions"][mine[0]["roleDefinitionId"].rsplit("/", 1)[-1].lower()]["properties"]
    assert role["type"] == "CustomRole" and role["roleName"] == "Azure Backup Key Reader"
    assert [p["dataActions"] for p in role["permissions"]] == [[
        "Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/backup/action"]]

    # Key Vault in RBAC mode: Key Vault Crypto User on the key's scope, nothing on the vault.
    kv = azure_sim.sim.store.find(lambda r: r.get("type") == "Microsoft.Authorization/roleAssignments"
                                  and r["properties"]["principalId"] == BMS)
    assert [(a["properties"]["scope"], a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]) for a in kv] == [
        (KV_KEY_SCOPE, "12338af0-0e69-4776-bea7-57ae8d297424")]
