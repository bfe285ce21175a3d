"""The local Azure is strict: published api-versions only, and bodies that fit the Azure SDK's own models.

api-versions come from tests/azure_sim/api_versions.yml (each with its spec folder), bodies are checked by
tests/azure_sim/validation.py against the model tests/azure_sim/operations.py declares for each served operation.
"""

from __future__ import annotations

import copy
import importlib
import os
import re

import pytest
import requests

from tests.azure_sim import api_versions, operations, validation
from tests.azure_sim.framework import ROUTER, ResponseModelError
from tests.sim.inproc import call, new_sim, token_for

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = "https://management.azure.com"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
BACKUP = "?api-version=2026-10-01"
CONTAINER = f"{VAULT_ID}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Brg-cvm-kc%3Bcvm-pmk-01"
ITEM = f"{CONTAINER}/protectedItems/VM%3Biaasvmcontainerv2%3Brg-cvm-kc%3Bcvm-pmk-01"
POLICY_ID = f"{VAULT_ID}/backupPolicies/DefaultPolicy"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-pmk-01"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture
def sim():
    return new_sim("demo")


def item_body(**properties):
    return {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": VM_ID,
                           "policyId": POLICY_ID, **properties}}


def error(resp):
    return resp.status, resp.body["error"]["code"], resp.body["error"]["message"]


# ------------------------------------------------------------------------------------------------ api-versions


def test_unknown_arm_api_version_is_refused_with_the_supported_list(sim):
    status, code, message = error(call(sim, "GET", f"{ARM}{VAULT_ID}?api-version=1999-01-01"))
    supported = api_versions.supported("vaults")
    assert (status, code) == (400, "InvalidApiVersionParameter")
    assert message == f"The api-version '1999-01-01' is invalid. The supported versions are '{','.join(supported)}'."
    assert "2026-11-01" in supported and supported == sorted(supported, reverse=True)


def test_a_version_of_another_family_of_the_same_provider_is_refused(sim):
    # vaults (recoveryservices spec) and backup items (recoveryservicesbackup spec) publish different versions
    assert call(sim, "GET", f"{ARM}{VAULT_ID}{BACKUP}").body["error"]["code"] == "InvalidApiVersionParameter"
    assert call(sim, "GET", f"{ARM}{VAULT_ID}/backupPolicies{BACKUP}").status == 200


def test_missing_api_version_is_refused(sim):
    assert error(call(sim, "GET", f"{ARM}{VAULT_ID}"))[:2] == (400, "MissingApiVersionParameter")


def test_key_vault_data_plane_refuses_an_unknown_version_with_bad_parameter(sim):
    status, code, message = error(call(sim, "GET", "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk?api-version=1999-01-01"))
    assert (status, code) == (400, "BadParameter")
    assert message == ("The specified version (1999-01-01) is not recognized. Consider using the latest supported "
                       f"version ({api_versions.supported('keyvault-data')[0]}).")


def test_provider_get_lists_the_same_versions(sim):
    body = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.RecoveryServices?api-version=2025-04-01").body
    types = {t["resourceType"]: t["apiVersions"] for t in body["resourceTypes"]}
    assert types["vaults"] == api_versions.supported("vaults")
    assert types["vaults/backupPolicies"] == api_versions.supported("backup")
    listed = call(sim, "GET", f"{ARM}/subscriptions/{SUB}/providers?api-version=2025-04-01").body["value"]
    compute = next(p for p in listed if p["namespace"] == "Microsoft.Compute")
    by_type = {t["resourceType"]: t["apiVersions"] for t in compute["resourceTypes"]}
    assert by_type["virtualMachines"] == api_versions.supported("compute")
    assert by_type["diskEncryptionSets"] == api_versions.supported("disks")


def test_every_version_has_a_source_and_every_arm_family_its_spec_folder():
    for name, family in api_versions.families().items():
        if family["kind"] == "none":
            continue
        assert family["spec"].startswith("specification/"), name
        assert family["versions"], name
        for version, source in family["versions"].items():
            assert re.fullmatch(r"\d{4}-\d{2}(-\d{2}(-[a-z-]+)?)?|7\.\d", version), (name, version)  # ARM lists "2014-04"
            assert source and source.split()[0] in ("spec", "sdk", "arm"), (name, version, source)


SDK_DEFAULTS = {  # installed SDK -> (file holding its default api-version, family)
    "azure/mgmt/recoveryservicesbackup/_configuration.py": "backup",
    "azure/mgmt/recoveryservices/_configuration.py": "vaults",
    "azure/mgmt/keyvault/_configuration.py": "keyvault",
    "azure/mgmt/resource/resources/_configuration.py": "resources",
    "azure/mgmt/resource/features/_configuration.py": "features",
    "azure/keyvault/administration/_generated/_configuration.py": "keyvault-data",
}


def test_the_versions_the_installed_sdks_send_are_published():
    import azure
    site = os.path.dirname(os.path.dirname(azure.__path__[0] + "/"))
    for path, family in SDK_DEFAULTS.items():
        with open(os.path.join(site, path), encoding="utf-8") as handle:
            version = re.search(r'api_version", "([^"]+)"', handle.read()).group(1)
        assert version in api_versions.supported(family), (path, version)
    with open(os.path.join(site, "azure/mgmt/compute/operations/_operations.py"), encoding="utf-8") as handle:
        text = handle.read()
    for builder, family in (("virtual_machines_get", "compute"), ("disks_get", "disks"),
                            ("disk_encryption_sets_get", "disks"), ("snapshots_get", "disks")):
        body = text[text.index(f"def build_{builder}_request"):]
        version = re.search(r'_params.pop\("api-version", "([^"]+)"', body).group(1)
        assert version in api_versions.supported(family), (builder, version)
    authorization = importlib.import_module("azure.mgmt.authorization")
    assert authorization.AuthorizationManagementClient.DEFAULT_API_VERSION in api_versions.supported("authorization")


MODULE_VERSIONS = {  # the api-versions the modules' raw calls send -> family
    "plugins/module_utils/backup_service.py": {"BACKUP_API": "backup"},
    "plugins/module_utils/azure_local_arm.py": {"HCI_API": "hci", "MACHINES_API": "hybridcompute",
                                                "CUSTOM_LOCATIONS_API": "extendedlocation"},
    "plugins/module_utils/restore_runner.py": {"STORAGE_API": "storage"},
    "plugins/module_utils/key_access.py": {"KEYVAULT_API": "keyvault-data"},
}


def test_the_versions_the_modules_send_raw_are_published():
    for path, names in MODULE_VERSIONS.items():
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            text = handle.read()
        for name, family in names.items():
            version = re.search(rf'^{name} = "([^"]+)"', text, re.M).group(1)
            assert version in api_versions.supported(family), (path, name, version)


# ------------------------------------------------------------------------------------------------ request bodies


def test_a_conforming_protected_item_put_is_accepted(sim):
    sim.config["lro_seconds"] = 0  # discovery done at the next request
    call(sim, "POST", f"{ARM}{VAULT_ID}/backupFabrics/Azure/refreshContainers{BACKUP}")
    assert call(sim, "PUT", f"{ARM}{ITEM}{BACKUP}", item_body()).status in (200, 202)


def test_an_unknown_property_is_refused_with_its_path(sim):
    status, code, message = error(call(sim, "PUT", f"{ARM}{ITEM}{BACKUP}", item_body(inventedFlag=True)))
    assert (status, code) == (400, "InvalidRequestContent")
    assert "$.properties.inventedFlag: unknown property of AzureIaaSComputeVMProtectedItem" in message


def test_a_wrong_type_is_refused_with_its_path(sim):
    body = item_body(isRehydrate="yes")
    status, code, message = error(call(sim, "PUT", f"{ARM}{ITEM}{BACKUP}", body))
    assert (status, code) == (400, "InvalidRequestContent")
    assert "$.properties.isRehydrate: expected a boolean, got a string" in message
    tags = {"location": "koreacentral", "tags": {"n": 1}}
    message = error(call(sim, "PUT", f"{ARM}/subscriptions/{SUB}/resourcegroups/rg-x?api-version=2025-04-01", tags))[2]
    assert "$.tags.n: expected a string, got an integer" in message


def test_a_read_only_property_sent_by_the_client_is_refused(sim):
    body = {"id": ITEM, **item_body()}
    status, code, message = error(call(sim, "PUT", f"{ARM}{ITEM}{BACKUP}", body))
    assert (status, code) == (400, "InvalidRequestContent")
    assert "$.id: read-only property of ProtectedItemResource sent by the client" in message


def test_a_missing_required_property_is_refused(sim):
    body = {"location": "koreacentral", "properties": {}}  # a vault PUT without its sku is fine; a policy needs its type
    message = error(call(sim, "PUT", f"{ARM}{VAULT_ID}/backupPolicies/p1{BACKUP}", body))[2]
    assert "$.properties.backupManagementType: required discriminator of ProtectionPolicy is missing" in message
    message = error(call(sim, "PUT", f"{ARM}{VAULT_ID}?api-version=2026-11-01", {"properties": {}}))[2]
    assert "$.location: required property of Vault is missing" in message


def test_a_wrong_discriminator_is_refused(sim):
    message = error(call(sim, "PUT", f"{ARM}{ITEM}{BACKUP}", item_body(protectedItemType="Microsoft.Compute/vms")))[2]
    assert "$.properties.protectedItemType: 'Microsoft.Compute/vms' is not a valid discriminator for ProtectedItem" in message
    assert "Microsoft.Compute/virtualMachines" in message
    backup = {"properties": {"objectType": "IaaSVMBackupRequest"}}  # the real one is IaasVMBackupRequest
    message = error(call(sim, "POST", f"{ARM}{ITEM}/backup{BACKUP}", backup))[2]
    assert "$.properties.objectType: 'IaaSVMBackupRequest' is not a valid discriminator for BackupRequest" in message


def test_an_operation_without_a_body_refuses_one(sim):
    resp = call(sim, "POST", f"{ARM}{VAULT_ID}/backupFabrics/Azure/refreshContainers{BACKUP}", {"anything": 1})
    assert error(resp)[:2] == (400, "InvalidRequestContent")


# ------------------------------------------------------------------------------------------------ response bodies


def vault_with_invented_field(sim):
    vault = sim.store.get(VAULT_ID)
    vault["properties"]["inventedField"] = "x"  # a simulator defect: a field the Vault model does not have


def test_a_wrong_response_shape_raises_in_process(sim):
    vault_with_invented_field(sim)
    with pytest.raises(ResponseModelError, match=r"LOCAL-AZURE-RESPONSE-INVALID GET .*\$\.properties\.inventedField"):
        call(sim, "GET", f"{ARM}{VAULT_ID}?api-version=2026-11-01")
    assert sim.violations and "inventedField" in sim.violations[0]


def test_a_wrong_response_shape_fails_the_test_over_the_wire():
    from tests.azure_sim.server import SimServer
    from tests.conftest import _no_violations

    with SimServer("demo") as srv:
        vault_with_invented_field(srv.sim)
        proxy = f"http://127.0.0.1:{srv.port}"
        resp = requests.get(f"{ARM}{VAULT_ID}?api-version=2026-11-01", proxies={"https": proxy}, verify=srv.ca.ca_file,
                            headers={"Authorization": "Bearer " + token_for(srv.sim, "management.azure.com")}, timeout=10)
        assert resp.status_code == 500 and "LOCAL-AZURE-RESPONSE-INVALID" in resp.json()["error"]["message"]
        with pytest.raises(pytest.fail.Exception, match="answered outside its SDK models"):
            _no_violations([srv])  # what the azure_sim fixture runs after each test
        assert srv.sim.violations == []


def test_conforming_responses_of_the_demo_pass(sim):
    # A few reads of every family: none may break its model (a violation raises)
    for url in (f"{ARM}{VAULT_ID}?api-version=2026-11-01", f"{ARM}{VAULT_ID}/backupPolicies{BACKUP}",
                f"{ARM}{VAULT_ID}/backupProtectedItems{BACKUP}", f"{ARM}{VM_ID}?api-version=2026-04-01",
                f"{ARM}/subscriptions/{SUB}/providers/Microsoft.KeyVault/vaults?api-version=2026-05-15",
                f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/features?api-version=2021-07-01"):
        assert call(sim, "GET", url).status == 200, url


# ------------------------------------------------------------------------------------------------ coverage


def served_operations() -> dict:
    return {operations.operation_key(fn): (method, path.pattern) for method, host, path, fn in ROUTER.routes}


def declarations():
    for key, entry in operations.OPERATIONS.items():
        if isinstance(entry, operations.Op):
            yield key, entry
        else:
            for value, op in entry[1].items():
                yield f"{key}[{value}]", op


def test_every_served_operation_is_declared_and_checked():
    served = served_operations()
    undeclared = sorted(set(served) - set(operations.OPERATIONS))
    assert not undeclared, f"served operations without a model declaration in operations.py: {undeclared}"
    stale = sorted(set(operations.OPERATIONS) - set(served))
    assert not stale, f"declarations without a route: {stale}"
    checked, exempt = [], []
    for key, op in declarations():
        assert op.family in api_versions.families(), (key, op.family)
        if op.exempt:
            exempt.append((key, op.exempt))
            continue
        assert op.request is not None and op.response is not None, f"{key}: request and response must be declared"
        for spec in (op.request, op.response):
            if spec != operations.EMPTY:
                validation.resolve(spec.removeprefix("page:"))  # the SDK model exists
        checked.append(key)
    print(f"\n{len(checked)} operations checked against SDK models; {len(exempt)} exempt:")
    for key, reason in exempt:
        print(f"  {key}: {reason}")
    assert len(checked) >= 70 and len(exempt) <= 37  # 36: resources.list_locations (no subscriptions SDK); 37: resources.list_activity_log (no monitor SDK)


def test_exemptions_are_only_for_apis_without_an_installed_sdk():
    reasons = {op.exempt for _name, op in declarations() if op.exempt}
    assert reasons <= {operations.NO_STORAGE_SDK, operations.NO_HCI_SDK, operations.ARM_ASYNC, operations.NO_GRAPH_SDK,
                       operations.LOGIN, operations.NO_KEYS_SDK, operations.NO_SUBSCRIPTIONS_SDK, operations.NO_NETWORK_SDK,
                       operations.NO_MONITOR_SDK}
    for module in ("azure.mgmt.storage", "azure.mgmt.azurestackhci", "azure.keyvault.keys", "msgraph", "azure.mgmt.network",
                   "azure.mgmt.monitor"):
        with pytest.raises(ImportError):
            importlib.import_module(module)


# ------------------------------------------------------------------------------------------------ the validator


def test_msrest_generation_models_are_read_too():
    spec = "azure.mgmt.authorization.v2022_04_01.models:RoleAssignmentCreateParameters"
    good = {"properties": {"roleDefinitionId": "/r", "principalId": "p", "principalType": "ServicePrincipal"}}
    assert validation.check(spec, good, "request") == []
    bad = copy.deepcopy(good)
    bad["properties"]["zzz"] = 1
    del bad["properties"]["principalId"]
    assert validation.check(spec, bad, "request") == [
        "$.properties.zzz: unknown property of RoleAssignmentCreateParameters",
        "$.properties.principalId: required property of RoleAssignmentCreateParameters is missing"]
    page = {"value": [{"id": "/x", "name": "n", "type": "t", "properties": {"state": 1}}], "nextLink": None}
    assert validation.check("page:azure.mgmt.resource.features.models:FeatureResult", page, "response") == [
        "$.value[0].properties.state: expected a string, got an integer 1"]


def test_a_list_page_has_only_value_and_next_link():
    spec = "page:azure.mgmt.recoveryservices.models:Vault"
    assert validation.check(spec, {"value": [], "count": 0}, "response") == [
        "$.count: unknown property of a list page (value, nextLink)"]
