"""Entra ID sign-in and Microsoft Graph service principals of the local Azure, over the wire."""

from __future__ import annotations

import copy
import warnings

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from tests.azure_sim.framework import BACKUP_MANAGEMENT_SERVICE_APP_ID, Sim
from tests.sim.inproc import call, load_scenario
from tests.sim_helpers import token_claims as claims_of

LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
ARM_SCOPE = "https://management.azure.com/.default"


def token_request(sim, tenant=None, v1=False, **form):
    env = sim.env
    data = {"grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"], "client_secret": env["AZURE_SECRET"],
            "scope": ARM_SCOPE, **form}
    path = "oauth2/token" if v1 else "oauth2/v2.0/token"
    return requests.post(f"{LOGIN}/{tenant or env['AZURE_TENANT']}/{path}", data=data, timeout=10)


def graph_token(sim, principal=None) -> str:
    principal = principal or sim.sim.default_principal
    response = token_request(sim, client_id=principal["app_id"], client_secret=principal["secret"],
                             scope="https://graph.microsoft.com/.default")
    return response.json()["access_token"]


def graph_get(sim, path, token=None):
    return requests.get(f"{GRAPH}{path}", headers={"Authorization": f"Bearer {token or graph_token(sim)}"}, timeout=10)


def assert_aad_error(response, status, error, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_client_credentials_token(azure_sim):
    response = token_request(azure_sim)
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == ("Bearer", 3599, 3599)
    claims = claims_of(body["access_token"])
    principal = azure_sim.sim.default_principal
    assert claims["aud"] == "https://management.azure.com"
    assert (claims["oid"], claims["appid"], claims["tid"], claims["idtyp"]) == (
        principal["object_id"], principal["app_id"], azure_sim.sim.tenant_id, "app")


@pytest.mark.parametrize("scope, aud", [("https://vault.azure.net/.default", "https://vault.azure.net"),
                                        ("https://managedhsm.azure.net/.default", "https://managedhsm.azure.net"),
                                        ("https://graph.microsoft.com/.default", "https://graph.microsoft.com")])
def test_token_audience_is_the_scope_without_default(azure_sim, scope, aud):
    assert claims_of(token_request(azure_sim, scope=scope).json()["access_token"])["aud"] == aud


def test_v1_token_endpoint_takes_a_resource(azure_sim):
    body = token_request(azure_sim, v1=True, resource="https://management.azure.com/").json()
    assert body["resource"] == "https://management.azure.com/"
    assert claims_of(body["access_token"])["aud"] == "https://management.azure.com/"


def test_other_principals_get_their_own_object_id(azure_sim):
    readonly = azure_sim.sim.principals["1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"]
    body = token_request(azure_sim, client_id=readonly["app_id"], client_secret=readonly["secret"]).json()
    assert claims_of(body["access_token"])["oid"] == readonly["object_id"]


def test_wrong_secret_is_the_real_401(azure_sim):
    assert_aad_error(token_request(azure_sim, client_secret="wrong"), 401, "invalid_client", 7000215)
    env = azure_sim.env
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], "wrong").get_token(ARM_SCOPE)


def test_a_principal_without_a_secret_cannot_sign_in_with_one(azure_sim):
    response = token_request(azure_sim, client_id=BACKUP_MANAGEMENT_SERVICE_APP_ID, client_secret="guess")
    assert_aad_error(response, 401, "invalid_client", 7000215)


def test_unknown_client_id(azure_sim):
    response = token_request(azure_sim, client_id="00000000-1111-2222-3333-444444444444")
    assert_aad_error(response, 400, "unauthorized_client", 700016)


def test_unknown_tenant(azure_sim):
    assert_aad_error(token_request(azure_sim, tenant="11111111-2222-3333-4444-555555555555"), 400, "invalid_request", 90002)
    discovery = requests.get(f"{LOGIN}/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 400
    assert discovery.json()["error_codes"] == [90002]


def test_openid_configuration_and_instance_discovery(azure_sim):
    tenant = azure_sim.sim.tenant_id
    config = requests.get(f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10).json()
    assert config["token_endpoint"] == f"{LOGIN}/{tenant}/oauth2/v2.0/token"
    assert config["authorization_endpoint"] == f"{LOGIN}/{tenant}/oauth2/v2.0/authorize"
    v1 = requests.get(f"{LOGIN}/{tenant}/.well-known/openid-configuration", timeout=10).json()
    assert v1["token_endpoint"] == f"{LOGIN}/{tenant}/oauth2/token"
    instance = requests.get(f"{LOGIN}/common/discovery/instance", timeout=10, params={
        "api-version": "1.1", "authorization_endpoint": f"{LOGIN}/{tenant}/oauth2/v2.0/authorize"}).json()
    assert instance["tenant_discovery_endpoint"] == f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration"


def test_unsupported_grant(azure_sim):
    assert_aad_error(token_request(azure_sim, grant_type="authorization_code"), 400, "unsupported_grant_type", 70003)


def test_workload_identity_assertion_only_for_federated_principals(azure_sim):
    principal = azure_sim.sim.default_principal
    form = {"client_secret": None, "client_assertion": "eyJ.a.b",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert_aad_error(token_request(azure_sim, **form), 400, "invalid_request", 70021)
    principal["federated"] = True
    response = token_request(azure_sim, **form)
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["oid"] == principal["object_id"]


def test_password_grant_for_scenario_users(azure_sim):
    from azure.identity import UsernamePasswordCredential
    user = {"username": "ops@contoso.example", "password": "user-Pass-1!", "object_id": "2b3c4d5e-6f70-4a81-9b2c-3d4e5f607182"}
    azure_sim.sim.ext["entra"]["users"][user["username"]] = user
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        good = UsernamePasswordCredential("04b07795-8ddb-461a-bbee-02f9e1bf7b46", user["username"], user["password"],
                                          tenant_id=azure_sim.sim.tenant_id)
        claims = claims_of(good.get_token(ARM_SCOPE).token)
        bad = UsernamePasswordCredential("04b07795-8ddb-461a-bbee-02f9e1bf7b46", user["username"], "nope",
                                         tenant_id=azure_sim.sim.tenant_id)
        with pytest.raises(ClientAuthenticationError, match="AADSTS50126"):
            bad.get_token(ARM_SCOPE)
    assert (claims["oid"], claims["idtyp"], claims["upn"]) == (user["object_id"], "user", user["username"])


def test_graph_finds_the_backup_management_service(azure_sim):
    bms = azure_sim.sim.principals[BACKUP_MANAGEMENT_SERVICE_APP_ID]
    token = graph_token(azure_sim)
    listed = graph_get(azure_sim, f"/servicePrincipals?$filter=appId eq '{BACKUP_MANAGEMENT_SERVICE_APP_ID}'", token)
    assert listed.status_code == 200
    body = listed.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"
    assert [(sp["id"], sp["appId"], sp["servicePrincipalType"], sp["accountEnabled"]) for sp in body["value"]] == [
        (bms["object_id"], BACKUP_MANAGEMENT_SERVICE_APP_ID, "Application", True)]
    assert body["value"][0]["displayName"] == "Backup Management Service"
    by_app = graph_get(azure_sim, f"/servicePrincipals(appId='{BACKUP_MANAGEMENT_SERVICE_APP_ID}')", token).json()
    assert by_app["id"] == bms["object_id"]
    by_id = graph_get(azure_sim, f"/servicePrincipals/{bms['object_id']}", token).json()
    assert by_id["appId"] == BACKUP_MANAGEMENT_SERVICE_APP_ID


def test_graph_unknown_service_principal(azure_sim):
    token = graph_token(azure_sim)
    empty = graph_get(azure_sim, "/servicePrincipals?$filter=appId eq '00000000-0000-0000-0000-000000000001'", token)
    assert empty.json()["value"] == []
    missing = graph_get(azure_sim, "/servicePrincipals(appId='00000000-0000-0000-0000-000000000001')", token)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_graph_needs_a_graph_token(azure_sim):
    arm_token = token_request(azure_sim).json()["access_token"]
    response = graph_get(azure_sim, "/servicePrincipals", arm_token)
    assert response.status_code == 401


def assert_graph_denied(response):
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


def test_graph_denied_for_a_principal(azure_sim):
    readonly = azure_sim.sim.principals["1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"]
    readonly["graph_denied"] = True
    assert_graph_denied(graph_get(azure_sim, "/servicePrincipals", graph_token(azure_sim, readonly)))
    assert graph_get(azure_sim, "/servicePrincipals").status_code == 200  # the default principal still may


def test_graph_denied_for_everybody_by_config(azure_sim):
    requests.post(f"{azure_sim.admin_url}/config", json={"graph_denied": True}, timeout=10).raise_for_status()
    assert_graph_denied(graph_get(azure_sim, f"/servicePrincipals(appId='{BACKUP_MANAGEMENT_SERVICE_APP_ID}')"))


def test_backup_management_service_exists_in_every_tenant():
    scenario = load_scenario("demo")
    scenario["principals"] = [p for p in scenario["principals"] if p["app_id"] != BACKUP_MANAGEMENT_SERVICE_APP_ID]
    other = copy.deepcopy(scenario)
    other["tenant_id"] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    sims = [Sim(scenario), Sim(other)]
    found = [call(sim, "GET", f"{GRAPH}/servicePrincipals(appId='{BACKUP_MANAGEMENT_SERVICE_APP_ID}')").body for sim in sims]
    assert all(sp["appId"] == BACKUP_MANAGEMENT_SERVICE_APP_ID for sp in found)
    assert found[0]["id"] != found[1]["id"]
