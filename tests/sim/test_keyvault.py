"""Family keyvault of the local Azure: vaults, managed HSMs, the data planes, HSM local RBAC, vault RBAC."""

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultDataAction, KeyVaultPermission, KeyVaultRoleScope
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import AccessPolicyEntry, Permissions, VaultAccessPolicyParameters, VaultAccessPolicyProperties

from tests.azure_sim.keyvault import key_exists, principal_can_backup_key
from tests.sim.inproc import call, new_sim
from tests.sim.inproc_transport import InProcTransport, SimCredential

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = "https://management.azure.com"
V = "?api-version=2025-05-01"
KV_ID = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults"
HSM = "https://hsm-cvm-uae.managedhsm.azure.net"
HV = "?api-version=7.5"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
HSM_KEY = f"{HSM}/keys/cvm-hsm-key/0f9e8d7c6b5a49382716f5e4d3c2b1a0"
KV_KEY = "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk/8f1e2d3c4b5a69788796a5b4c3d2e1f0"
RBAC_KEY = "https://kv-cvm-rbac.vault.azure.net/keys/cvm-cmk-rbac"
KV_ADMIN = "00482a5a-887f-4fb3-b363-3b7fe8e74483"


@pytest.fixture
def sim():
    return new_sim("demo")


def principal(sim, name):
    return next(p for p in sim.principals.values() if p["name"] == name)


def policies(sim, vault="kv-cvm-kc"):
    return call(sim, "GET", f"{ARM}{KV_ID}/{vault}" + V).body["properties"]["accessPolicies"]


def update_policies(sim, kind, entries, vault="kv-cvm-kc"):
    entries = [{"tenantId": sim.tenant_id, **e} for e in entries]  # AccessPolicyEntry requires tenantId (SDK model)
    return call(sim, "PUT", f"{ARM}{KV_ID}/{vault}/accessPolicies/{kind}" + V, {"properties": {"accessPolicies": entries}})


# ------------------------------------------------------------------------------------------------ management plane


def test_vault_get_and_lists(sim):
    vault = call(sim, "GET", f"{ARM}{KV_ID}/kv-cvm-rbac" + V).body
    assert vault["properties"]["enableRbacAuthorization"] is True
    assert vault["properties"]["vaultUri"] == "https://kv-cvm-rbac.vault.azure.net/"
    names = [v["name"] for v in call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.KeyVault/vaults" + V).body["value"]]
    assert names == ["kv-cvm-kc", "kv-cvm-rbac", "kv-cvm-uae"]
    missing = call(sim, "GET", f"{ARM}{KV_ID}/nope" + V)
    assert (missing.status, missing.body["error"]["code"]) == (404, "ResourceNotFound")


def test_access_policy_add_merges_permissions_per_object(sim):
    resp = update_policies(sim, "add", [{"tenantId": sim.tenant_id, "objectId": BMS, "permissions": {"keys": ["get", "list"]}}])
    assert resp.status == 200
    assert resp.body["id"] == f"{KV_ID}/kv-cvm-kc/accessPolicies/" and resp.body["type"] == "Microsoft.KeyVault/vaults/accessPolicies"
    update_policies(sim, "add", [{"objectId": BMS, "permissions": {"keys": ["backup", "get"], "secrets": ["get"]}}])
    entry = next(p for p in policies(sim) if p["objectId"] == BMS)
    assert entry["permissions"] == {"keys": ["get", "list", "backup"], "secrets": ["get"]}
    assert len(policies(sim)) == 3


def test_access_policy_remove_and_replace(sim):
    update_policies(sim, "add", [{"objectId": BMS, "permissions": {"keys": ["get", "list", "backup"]}}])
    update_policies(sim, "remove", [{"objectId": BMS, "permissions": {"keys": ["backup"]}}])
    assert next(p for p in policies(sim) if p["objectId"] == BMS)["permissions"]["keys"] == ["get", "list"]
    update_policies(sim, "replace", [{"objectId": BMS, "permissions": {"keys": ["get"]}}])
    assert next(p for p in policies(sim) if p["objectId"] == BMS)["permissions"] == {"keys": ["get"]}
    update_policies(sim, "remove", [{"objectId": BMS, "permissions": {"keys": ["get"]}}])
    assert all(p["objectId"] != BMS for p in policies(sim))


def test_access_policy_rejects_unknown_permission_and_kind(sim):
    bad = update_policies(sim, "add", [{"objectId": BMS, "permissions": {"keys": ["teleport"]}}])
    assert (bad.status, bad.body["error"]["code"]) == (400, "BadRequest")
    assert update_policies(sim, "merge", [{"objectId": BMS, "permissions": {"keys": ["get"]}}]).status == 400


def test_managed_hsm_get_and_list(sim):
    url = f"{ARM}/subscriptions/{SUB}/resourceGroups/rg-cvm-uae/providers/Microsoft.KeyVault/managedHSMs"
    hsm = call(sim, "GET", url + "/hsm-cvm-uae" + V)
    assert hsm.status == 200 and hsm.body["properties"]["hsmUri"] == f"{HSM}/"
    assert hsm.body["properties"]["initialAdminObjectIds"] == ["9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"]
    assert [h["name"] for h in call(sim, "GET", url + V).body["value"]] == ["hsm-cvm-uae"]


# ------------------------------------------------------------------------------------------------ vault data plane


def test_vault_challenge_then_key(sim):
    challenge = call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk?api-version=7.5", auth=False)
    assert challenge.status == 401
    assert challenge.headers["WWW-Authenticate"] == \
        f'Bearer authorization="https://login.microsoftonline.com/{sim.tenant_id}", resource="https://vault.azure.net"'
    key = call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk?api-version=7.5")
    assert key.status == 200 and key.body["key"]["kid"] == KV_KEY
    assert call(sim, "GET", KV_KEY + "?api-version=7.5").status == 200
    listed = call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys?api-version=7.5").body
    assert [k["kid"] for k in listed["value"]] == ["https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk"]


def test_vault_token_for_another_audience_is_refused(sim):
    token = sim.tokens.issue({"aud": "https://management.azure.com", "oid": "x", "tid": sim.tenant_id})
    resp = call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk?api-version=7.5", auth=False,
                headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers


def test_vault_key_missing_is_404_key_not_found(sim):
    resp = call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys/nope?api-version=7.5")
    assert resp.status == 404
    assert resp.body["error"] == {"code": "KeyNotFound", "message": "A key with (name/id) nope was not found in this key vault."}


def test_access_policy_vault_refuses_principal_without_get(sim):
    resp = call(sim, "GET", KV_KEY + "?api-version=7.5", principal=principal(sim, "ops-readonly"))
    assert resp.status == 403
    assert resp.body["error"]["code"] == "Forbidden" and resp.body["error"]["innererror"] == {"code": "ForbiddenByPolicy"}
    assert "does not have keys get permission on key vault 'kv-cvm-kc;location=koreacentral'" in resp.body["error"]["message"]


def test_rbac_vault_uses_role_assignments(sim):
    assert call(sim, "GET", RBAC_KEY + "?api-version=7.5").status == 200  # ansible-ops is Key Vault Administrator
    resp = call(sim, "GET", RBAC_KEY + "?api-version=7.5", principal=principal(sim, "ops-readonly"))
    assert resp.status == 403 and resp.body["error"]["innererror"] == {"code": "ForbiddenByRbac"}
    assert "Action: 'Microsoft.KeyVault/vaults/keys/read'" in resp.body["error"]["message"]


# ------------------------------------------------------------------------------------------------ Microsoft.Authorization (vault scope)

RA = f"{ARM}{KV_ID}/kv-cvm-rbac/providers/Microsoft.Authorization/roleAssignments"
RA_V = "?api-version=2022-04-01"


def role_body(role, who=BMS):
    return {"properties": {"roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                           "principalId": who, "principalType": "ServicePrincipal"}}


def test_vault_role_assignment_lifecycle(sim):
    name = "0b0e6a0c-1111-4c2d-9e8f-000000000001"
    created = call(sim, "PUT", f"{RA}/{name}" + RA_V, role_body(KV_ADMIN))
    assert created.status == 201 and created.body["properties"]["scope"] == f"{KV_ID}/kv-cvm-rbac"
    assert call(sim, "GET", f"{RA}/{name}" + RA_V).body == created.body
    twin = call(sim, "PUT", f"{RA}/0b0e6a0c-1111-4c2d-9e8f-000000000002" + RA_V, role_body(KV_ADMIN))
    assert (twin.status, twin.body["error"]["code"]) == (409, "RoleAssignmentExists")
    mine = call(sim, "GET", RA + RA_V + f"&$filter=principalId eq '{BMS}'").body["value"]
    assert [a["name"] for a in mine] == [name]
    assert call(sim, "DELETE", f"{RA}/{name}" + RA_V).status == 200
    assert call(sim, "GET", f"{RA}/{name}" + RA_V).status == 404
    assert call(sim, "DELETE", f"{RA}/{name}" + RA_V).status == 204


def test_vault_role_assignment_validation(sim):
    unknown = call(sim, "PUT", f"{RA}/0b0e6a0c-1111-4c2d-9e8f-000000000003" + RA_V, role_body("11111111-2222-3333-4444-555555555555"))
    assert (unknown.status, unknown.body["error"]["code"]) == (400, "RoleDefinitionDoesNotExist")
    bad = call(sim, "PUT", f"{RA}/0b0e6a0c-1111-4c2d-9e8f-000000000003" + RA_V, role_body(KV_ADMIN, "not-a-guid"))
    assert (bad.status, bad.body["error"]["code"]) == (400, "InvalidPrincipalId")


def test_role_definitions_filter_by_name(sim):
    url = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions" + RA_V
    found = call(sim, "GET", url + "&$filter=roleName eq 'Key Vault Crypto Service Encryption User'").body["value"]
    assert [d["name"] for d in found] == ["e147488a-f6f5-4113-8e2d-b22465e65bf6"]
    assert found[0]["properties"]["type"] == "BuiltInRole"


# ------------------------------------------------------------------------------------------------ Managed HSM local RBAC

HRA = f"{HSM}/providers/Microsoft.Authorization/roleAssignments"
HRD = f"{HSM}/providers/Microsoft.Authorization/roleDefinitions"
KEY_RA = f"{HSM}/keys/cvm-hsm-key/providers/Microsoft.Authorization/roleAssignments"


def hsm_assignment(role=CRYPTO_USER, who=BMS):
    return {"properties": {"roleDefinitionId": f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{role}",
                           "principalId": who}}


def test_hsm_challenge_names_the_hsm_resource(sim):
    resp = call(sim, "GET", HRD + HV, auth=False)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].endswith('resource="https://managedhsm.azure.net"')


def test_hsm_builtin_role_definitions(sim):
    value = call(sim, "GET", HRD + HV).body["value"]
    names = {d["name"]: d["properties"]["roleName"] for d in value}
    assert len(value) == 9 and names[CRYPTO_USER] == "Managed HSM Crypto User"
    assert names["33413926-3206-4cdd-b39a-83574fe37a17"] == "Managed HSM Crypto Service Encryption User"
    crypto = next(d for d in value if d["name"] == CRYPTO_USER)
    assert crypto["id"] == f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{CRYPTO_USER}"
    assert "Microsoft.KeyVault/managedHsm/keys/backup/action" in crypto["properties"]["permissions"][0]["dataActions"]


def test_hsm_key_scope_assignment_lifecycle(sim):
    name = "5e0f7c1a-2222-4b3c-8d9e-000000000001"
    created = call(sim, "PUT", f"{KEY_RA}/{name}" + HV, hsm_assignment())
    assert created.status == 201
    assert created.body["id"] == f"/keys/cvm-hsm-key/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert created.body["properties"]["scope"] == "/keys/cvm-hsm-key"
    assert call(sim, "GET", f"{KEY_RA}/{name}" + HV).body == created.body
    assert name in [a["name"] for a in call(sim, "GET", KEY_RA + HV).body["value"]]
    # listing at '/' returns every assignment under the HSM, per-key ones too (Get-AzKeyVaultRoleAssignment reference)
    assert name in [a["name"] for a in call(sim, "GET", HRA + HV).body["value"]]
    twin = call(sim, "PUT", f"{KEY_RA}/5e0f7c1a-2222-4b3c-8d9e-000000000002" + HV, hsm_assignment())
    assert (twin.status, twin.body["error"]["code"]) == (409, "RoleAssignmentExists")
    deleted = call(sim, "DELETE", f"{KEY_RA}/{name}" + HV)
    assert deleted.status == 200 and deleted.body["name"] == name
    assert call(sim, "GET", f"{KEY_RA}/{name}" + HV).status == 404


def test_hsm_assignment_errors(sim):
    missing_key = call(sim, "PUT", f"{HSM}/keys/nope/providers/Microsoft.Authorization/roleAssignments/"
                                   "5e0f7c1a-2222-4b3c-8d9e-000000000003" + HV, hsm_assignment())
    assert (missing_key.status, missing_key.body["error"]["code"]) == (404, "KeyNotFound")
    bad_role = call(sim, "PUT", f"{HRA}/5e0f7c1a-2222-4b3c-8d9e-000000000004" + HV,
                    hsm_assignment("99999999-9999-4999-8999-999999999999"))
    assert (bad_role.status, bad_role.body["error"]["code"]) == (400, "BadParameter")


def test_hsm_rbac_is_enforced(sim):
    readonly = principal(sim, "ops-readonly")
    denied = call(sim, "PUT", f"{KEY_RA}/5e0f7c1a-2222-4b3c-8d9e-000000000005" + HV, hsm_assignment(), principal=readonly)
    assert denied.status == 403 and denied.body["error"]["code"] == "AccessDenied"
    assert denied.body["error"]["message"].startswith(
        "Not authorized to access Microsoft.KeyVault/managedHsm/roleAssignments/write/action on /keys/cvm-hsm-key")
    assert call(sim, "GET", HRD + HV, principal=readonly).status == 403
    # the Administrator manages roles but may not read keys
    assert call(sim, "GET", HSM_KEY + HV).status == 403
    call(sim, "PUT", f"{HRA}/5e0f7c1a-2222-4b3c-8d9e-000000000006" + HV, hsm_assignment(who=readonly["object_id"]))
    assert call(sim, "GET", HSM_KEY + HV, principal=readonly).body["key"]["kid"] == HSM_KEY


def test_hsm_custom_role_definition(sim):
    rd = "7d3c2b1a-3333-4c4d-9e0f-000000000001"
    body = {"properties": {"roleName": "BackupKeyReader", "description": "d", "permissions": [{"dataActions": [
        "Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/backup/action"]}],
        "assignableScopes": ["/"]}}
    created = call(sim, "PUT", f"{HRD}/{rd}" + HV, body)
    assert created.status == 201 and created.body["properties"]["type"] == "CustomRole"
    assert call(sim, "GET", f"{HRD}/{rd}" + HV).body == created.body
    assert call(sim, "DELETE", f"{HRD}/{CRYPTO_USER}" + HV).status == 400
    assert call(sim, "DELETE", f"{HRD}/{rd}" + HV).body["name"] == rd
    assert call(sim, "GET", f"{HRD}/{rd}" + HV).status == 404


# ------------------------------------------------------------------------------------------------ exports


def test_principal_can_backup_key_access_policy_vault(sim):
    assert key_exists(sim, KV_KEY) and not key_exists(sim, KV_KEY.replace("cvm-cmk", "nope"))
    assert not principal_can_backup_key(sim, KV_KEY, BMS)
    update_policies(sim, "add", [{"objectId": BMS, "permissions": {"keys": ["get", "list"]}}])
    assert not principal_can_backup_key(sim, KV_KEY, BMS)
    update_policies(sim, "add", [{"objectId": BMS, "permissions": {"keys": ["backup"]}}])
    assert principal_can_backup_key(sim, KV_KEY, BMS)


def test_principal_can_backup_key_rbac_vault(sim):
    assert not principal_can_backup_key(sim, RBAC_KEY, BMS)
    call(sim, "PUT", f"{RA}/0b0e6a0c-1111-4c2d-9e8f-000000000010" + RA_V, role_body("e147488a-f6f5-4113-8e2d-b22465e65bf6"))
    assert not principal_can_backup_key(sim, RBAC_KEY, BMS)  # encryption user: no backup
    call(sim, "PUT", f"{RA}/0b0e6a0c-1111-4c2d-9e8f-000000000011" + RA_V, role_body(KV_ADMIN))
    assert principal_can_backup_key(sim, RBAC_KEY, BMS)


def test_principal_can_backup_key_hsm(sim):
    assert not principal_can_backup_key(sim, HSM_KEY, BMS)
    call(sim, "PUT", f"{HSM}/keys/other-key/providers/Microsoft.Authorization/roleAssignments/"
                     "5e0f7c1a-2222-4b3c-8d9e-000000000020" + HV, hsm_assignment())
    assert not principal_can_backup_key(sim, HSM_KEY, BMS)  # a grant on another key does not count
    call(sim, "PUT", f"{KEY_RA}/5e0f7c1a-2222-4b3c-8d9e-000000000021" + HV, hsm_assignment())
    assert principal_can_backup_key(sim, HSM_KEY, BMS)


def test_principal_can_backup_key_hsm_custom_role_on_all_keys(sim):
    rd = "7d3c2b1a-3333-4c4d-9e0f-000000000002"
    call(sim, "PUT", f"{HRD}/{rd}" + HV, {"properties": {"roleName": "BackupKeyReader", "permissions": [{"dataActions": [
        "Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/backup/action"]}]}})
    call(sim, "PUT", f"{HSM}/keys/providers/Microsoft.Authorization/roleAssignments/5e0f7c1a-2222-4b3c-8d9e-000000000030" + HV,
         hsm_assignment(rd))
    assert principal_can_backup_key(sim, HSM_KEY, BMS)


# ------------------------------------------------------------------------------------------------ SDK clients


def test_sdk_keyvault_management(sim):
    client = KeyVaultManagementClient(SimCredential(sim), SUB, transport=InProcTransport(sim))
    params = VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[AccessPolicyEntry(
        tenant_id=sim.tenant_id, object_id=BMS, permissions=Permissions(keys_property=["get", "list", "backup"]))]))
    result = client.vaults.update_access_policy("rg-cvm-kc", "kv-cvm-kc", "add", params)
    assert result.properties.access_policies[0].object_id == BMS
    assert principal_can_backup_key(sim, KV_KEY, BMS)
    hsm = client.managed_hsms.get("rg-cvm-uae", "hsm-cvm-uae")
    assert hsm.properties.hsm_uri == f"{HSM}/"
    assert client.vaults.get("rg-cvm-kc", "kv-cvm-rbac").properties.enable_rbac_authorization is True


def test_sdk_access_control_client_with_challenge(sim):
    cred = SimCredential(sim)
    transport = InProcTransport(sim)
    client = KeyVaultAccessControlClient(HSM, cred, transport=transport)
    definitions = list(client.list_role_definitions(KeyVaultRoleScope.GLOBAL))
    crypto_user = next(d for d in definitions if d.role_name == "Managed HSM Crypto User")
    assert cred.scopes == ["https://managedhsm.azure.net/.default"]
    assert transport.log[0][2] == 401  # the unauthenticated first request of the challenge flow
    custom = client.set_role_definition(KeyVaultRoleScope.GLOBAL, role_name="BackupKeyReader", permissions=[KeyVaultPermission(
        data_actions=[KeyVaultDataAction.READ_HSM_KEY, KeyVaultDataAction.BACKUP_HSM_KEYS])])
    assert client.get_role_definition(KeyVaultRoleScope.GLOBAL, custom.name).role_name == "BackupKeyReader"
    assignment = client.create_role_assignment("/keys/cvm-hsm-key", crypto_user.id, BMS)
    assert assignment.properties.scope == "/keys/cvm-hsm-key"
    assert [a.name for a in client.list_role_assignments("/keys/cvm-hsm-key")] == [
        a["name"] for a in call(sim, "GET", KEY_RA + HV).body["value"]]
    assert principal_can_backup_key(sim, HSM_KEY, BMS)
    client.delete_role_assignment("/keys/cvm-hsm-key", assignment.name)
    assert not principal_can_backup_key(sim, HSM_KEY, BMS)
    readonly = KeyVaultAccessControlClient(HSM, SimCredential(sim, principal(sim, "ops-readonly")), transport=transport)
    with pytest.raises(HttpResponseError) as info:
        readonly.create_role_assignment("/keys/cvm-hsm-key", crypto_user.id, BMS)
    assert info.value.status_code == 403 and info.value.error.code == "AccessDenied"
