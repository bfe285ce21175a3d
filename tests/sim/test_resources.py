"""Family resources of the local Azure: features, providers, subscriptions, resource groups."""

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.features import FeatureClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.sim.inproc import call, new_sim
from tests.sim.inproc_transport import InProcTransport, SimCredential

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = "https://management.azure.com"
FEAT = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/providers"
CVM_FEATURE = f"{FEAT}/Microsoft.Compute/features/RestorePointSupportForConfidentialVMV2"
V = "?api-version=2021-07-01"  # Microsoft.Features
RV = "?api-version=2025-04-01"  # Microsoft.Resources (providers, resource groups, subscriptions)


@pytest.fixture
def sim():
    return new_sim("demo")


def state(sim, url):
    resp = call(sim, "GET", url + V)
    assert resp.status == 200, resp.body
    return resp.body["properties"]["state"]


def test_feature_body_is_the_documented_shape(sim):
    resp = call(sim, "GET", CVM_FEATURE + V)
    assert resp.status == 200
    assert resp.body == {
        "id": f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.Compute/features/RestorePointSupportForConfidentialVMV2",
        "name": "Microsoft.Compute/RestorePointSupportForConfidentialVMV2",
        "properties": {"state": "NotRegistered"}, "type": "Microsoft.Features/providers/features"}


def test_register_goes_registering_then_registered(sim):
    sim.config["feature_registration_seconds"] = 0  # settles at the next request
    resp = call(sim, "POST", CVM_FEATURE + "/register" + V)
    assert (resp.status, resp.body["properties"]["state"]) == (200, "Registering")
    assert state(sim, CVM_FEATURE) == "Registered"


def test_register_stays_registering_until_the_time_has_passed(sim):
    sim.config["feature_registration_seconds"] = 3600
    call(sim, "POST", CVM_FEATURE + "/register" + V)
    assert state(sim, CVM_FEATURE) == "Registering"
    assert call(sim, "POST", CVM_FEATURE + "/register" + V).body["properties"]["state"] == "Registering"


def test_approval_required_feature_goes_pending_and_stays(sim):
    sim.config["feature_registration_seconds"] = 0
    url = f"{FEAT}/Microsoft.RecoveryServices/features/ApprovalOnlyPreview"
    assert call(sim, "POST", url + "/register" + V).body["properties"]["state"] == "Pending"
    assert state(sim, url) == "Pending"


def test_unregister_goes_unregistering_then_unregistered(sim):
    sim.config["feature_registration_seconds"] = 0
    url = f"{FEAT}/Microsoft.Compute/features/UltraSSDWithVMSS"
    assert call(sim, "POST", url + "/unregister" + V).body["properties"]["state"] == "Unregistering"
    assert state(sim, url) == "Unregistered"
    call(sim, "POST", url + "/register" + V)
    assert state(sim, url) == "Registered"


def test_unknown_feature_is_404_feature_not_found(sim):
    resp = call(sim, "GET", f"{FEAT}/Microsoft.Compute/features/NoSuchFeature" + V)
    assert resp.status == 404
    assert resp.body["error"] == {"code": "FeatureNotFound", "message": "The feature 'NoSuchFeature' could not be found."}
    assert call(sim, "POST", f"{FEAT}/Microsoft.Compute/features/NoSuchFeature/register" + V).status == 404


def test_unknown_subscription_and_missing_api_version(sim):
    resp = call(sim, "GET", CVM_FEATURE.replace(SUB, "00000000-0000-0000-0000-000000000000") + V)
    assert (resp.status, resp.body["error"]["code"]) == (404, "SubscriptionNotFound")
    resp = call(sim, "GET", CVM_FEATURE)
    assert (resp.status, resp.body["error"]["code"]) == (400, "MissingApiVersionParameter")


def test_feature_lists_per_namespace_and_all(sim):
    names = [f["name"] for f in call(sim, "GET", f"{FEAT}/Microsoft.Compute/features" + V).body["value"]]
    assert names == ["Microsoft.Compute/RestorePointSupportForConfidentialVMV2", "Microsoft.Compute/UltraSSDWithVMSS"]
    every = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/features" + V).body["value"]
    assert len(every) == 3


def test_feature_list_pages_with_absolute_next_link(sim):
    sim.config["page_size"] = 2
    body = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/features" + V).body
    assert len(body["value"]) == 2 and body["nextLink"].startswith(f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/features?")
    assert len(call(sim, "GET", body["nextLink"]).body["value"]) == 1


def test_provider_get_register_unregister(sim):
    sim.config["provider_registration_seconds"] = 0
    base = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.HybridCompute"
    got = call(sim, "GET", base + RV).body
    assert got["registrationState"] == "NotRegistered" and got["namespace"] == "Microsoft.HybridCompute"
    reg = call(sim, "POST", base + "/register" + RV)
    assert (reg.status, reg.body["registrationState"]) == (200, "Registering")
    assert call(sim, "GET", base + RV).body["registrationState"] == "Registered"
    assert call(sim, "POST", base + "/unregister" + RV).body["registrationState"] == "Unregistering"
    assert call(sim, "GET", base + RV).body["registrationState"] == "NotRegistered"


def test_registered_provider_reregisters_without_leaving_registered(sim):
    base = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute"
    assert call(sim, "POST", base + "/register" + RV).body["registrationState"] == "Registered"
    types = [t["resourceType"] for t in call(sim, "GET", base + RV).body["resourceTypes"]]
    assert "virtualMachines" in types and "diskEncryptionSets" in types


def test_unknown_provider_namespace_is_404(sim):
    resp = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Nope" + RV)
    assert (resp.status, resp.body["error"]["code"]) == (404, "InvalidResourceNamespace")


def test_provider_list_holds_seeded_states(sim):
    value = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers" + RV).body["value"]
    states = {p["namespace"]: p["registrationState"] for p in value}
    assert states["Microsoft.RecoveryServices"] == "Registered" and states["Microsoft.Network"] == "NotRegistered"


def test_resource_group_get_head_put(sim):
    url = f"{ARM}/subscriptions/{SUB}/resourcegroups/rg-cvm-kc"
    got = call(sim, "GET", url + RV).body
    assert got["id"] == f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc" and got["location"] == "koreacentral"
    assert call(sim, "HEAD", url + RV).status == 204
    assert call(sim, "HEAD", url + "-nope" + RV).status == 404
    missing = call(sim, "GET", url + "-nope" + RV)
    assert missing.status == 404
    assert missing.body["error"] == {"code": "ResourceGroupNotFound", "message": "Resource group 'rg-cvm-kc-nope' could not be found."}
    created = call(sim, "PUT", f"{ARM}/subscriptions/{SUB}/resourcegroups/rg-restore" + RV, {"location": "uaenorth"})
    assert (created.status, created.body["properties"]["provisioningState"]) == (201, "Succeeded")
    assert call(sim, "PUT", f"{ARM}/subscriptions/{SUB}/resourcegroups/rg-restore" + RV, {"location": "uaenorth"}).status == 200
    moved = call(sim, "PUT", f"{ARM}/subscriptions/{SUB}/resourcegroups/rg-restore" + RV, {"location": "westeurope"})
    assert (moved.status, moved.body["error"]["code"]) == (409, "InvalidResourceGroupLocation")


def test_subscription_get(sim):
    body = call(sim, "GET", f"{ARM}/subscriptions/{SUB}" + RV).body
    assert body["subscriptionId"] == SUB and body["tenantId"] == sim.tenant_id and body["state"] == "Enabled"


def test_sdk_feature_client_and_providers(sim):
    sim.config["feature_registration_seconds"] = 0
    transport, cred = InProcTransport(sim), SimCredential(sim)
    features = FeatureClient(cred, SUB, transport=transport)
    assert features.features.register("Microsoft.Compute", "RestorePointSupportForConfidentialVMV2").properties.state == "Registering"
    assert features.features.get("Microsoft.Compute", "RestorePointSupportForConfidentialVMV2").properties.state == "Registered"
    assert {f.name for f in features.features.list("Microsoft.Compute")} >= {"Microsoft.Compute/UltraSSDWithVMSS"}
    with pytest.raises(ResourceNotFoundError) as info:
        features.features.get("Microsoft.Compute", "NoSuchFeature")
    assert info.value.error.code == "FeatureNotFound"
    resources = ResourceManagementClient(cred, SUB, transport=transport)
    assert resources.providers.register("Microsoft.Compute").registration_state == "Registered"
    assert resources.resource_groups.check_existence("rg-cvm-uae") is True
    assert cred.scopes == ["https://management.azure.com/.default"] * len(cred.scopes)


# ------------------------------------------------------------------------------------------------ activity log, issue 16 item 9

LOG = f"{ARM}/subscriptions/{SUB}/providers/microsoft.insights/eventtypes/management/values"
SFR = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/featureProviders/Microsoft.Compute/subscriptionFeatureRegistrations"


def log_url(sim, extra="", days=1, version="2015-04-01"):
    from datetime import timedelta  # pylint: disable=import-outside-toplevel
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel

    now = sim.now()
    window = (f"eventTimestamp ge '{(now - timedelta(days=days)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}' and "
              f"eventTimestamp le '{(now + timedelta(minutes=1)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'{extra}")
    return f"{LOG}?api-version={version}&$filter={quote(window)}"


def test_register_calls_are_activity_log_events_in_the_spec_shape(sim):
    """Spec monitor 2015-04-01 activityLogs_API.json / GetActivityLogsFiltered.json: operationName.value is the action,
    status Succeeded, eventName EndRequest; the subscriptionFeatureRegistration carries the registration date."""
    assert call(sim, "POST", CVM_FEATURE + "/register" + V).status == 200
    assert call(sim, "POST", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/register{RV}").status == 200
    resp = call(sim, "GET", log_url(sim))
    assert resp.status == 200, resp.body
    names = [e["operationName"]["value"] for e in resp.body["value"]]
    assert names == ["Microsoft.Compute/register/action", "Microsoft.Features/providers/features/register/action"]
    first = resp.body["value"][0]
    assert first["status"]["value"] == "Succeeded" and first["eventName"]["value"] == "EndRequest"
    assert first["authorization"]["action"] == first["operationName"]["value"]
    assert first["eventTimestamp"].endswith("Z") and not any(k.startswith("_") for k in first)

    reg = call(sim, "GET", f"{SFR}/RestorePointSupportForConfidentialVMV2{V}")
    assert reg.status == 200 and reg.body["properties"]["registrationDate"].endswith("Z")
    assert reg.body["type"] == "Microsoft.Features/featureProviders/subscriptionFeatureRegistrations"
    seeded = call(sim, "GET", f"{SFR}/UltraSSDWithVMSS{V}").body["properties"]["registrationDate"]
    assert seeded < reg.body["properties"]["registrationDate"]  # seeded Registered: 400 days ago


def test_activity_log_pages_through_next_link_and_selects(sim):
    sim.config["page_size"] = 2
    for _attempt in range(5):
        call(sim, "POST", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/register{RV}")
    url, seen = log_url(sim) + "&$select=eventTimestamp,operationName,status", []
    while url:
        resp = call(sim, "GET", url)
        assert resp.status == 200, resp.body
        seen += resp.body["value"]
        url = resp.body.get("nextLink")
        assert url is None or "api-version=2015-04-01" in url
    assert len(seen) == 5 and all(set(e) == {"eventTimestamp", "operationName", "status"} for e in seen)


def test_activity_log_filters_by_resource_provider(sim):
    call(sim, "POST", CVM_FEATURE + "/register" + V)
    call(sim, "POST", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/register{RV}")
    resp = call(sim, "GET", log_url(sim, " and resourceProvider eq 'Microsoft.Features'"))
    assert [e["resourceProviderName"]["value"] for e in resp.body["value"]] == ["Microsoft.Features"]


@pytest.mark.parametrize("extra, days", [(" and operationName eq 'x'", 1), ("", 91)])
def test_activity_log_refuses_what_the_spec_does_not_allow(sim, extra, days):
    assert call(sim, "GET", log_url(sim, extra, days)).status == 400
    assert call(sim, "GET", f"{LOG}?api-version=2015-04-01").status == 400  # no window


def test_activity_log_refuses_other_api_versions(sim):
    resp = call(sim, "GET", log_url(sim, version="2017-03-01-preview"))
    assert resp.status == 400 and resp.body["error"]["code"] == "InvalidApiVersionParameter"
