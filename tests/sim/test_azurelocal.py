"""The azurelocal family of the local Azure: seeding from demo.yml, what the service enforces, the VM instance
long-running operations, and conformance with the unmodified StackHCIVM spec examples."""

from __future__ import annotations

import copy
import json
import os

import pytest

from tests.sim.inproc import SPEC_EXAMPLES, call, new_sim, structure_diff

EXAMPLES = SPEC_EXAMPLES
HCIVM = os.path.join(EXAMPLES, "azurestackhci/resource-manager/Microsoft.AzureStackHCI/StackHCIVM/stable")
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-azlocal"
RG = f"https://management.azure.com{RG_ID}"
API = "?api-version=2024-01-01"  # Microsoft.AzureStackHCI
HC_API = "?api-version=2024-07-10"  # Microsoft.HybridCompute machines
CL_API = "?api-version=2021-08-15"  # Microsoft.ExtendedLocation customLocations
CL_ID = f"{RG_ID}/providers/Microsoft.ExtendedLocation/customLocations/cl-azlocal-01"
IMAGE_ID = f"{RG_ID}/providers/Microsoft.AzureStackHCI/marketplaceGalleryImages/win11-23h2-ent"


def machine(name):
    return f"{RG}/providers/Microsoft.HybridCompute/machines/{name}"


def vmi(name):
    return machine(name) + "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"


def example(path):
    with open(os.path.join(HCIVM, path), encoding="utf-8") as handle:
        return json.load(handle)


def new_body(**props):
    body = {"extendedLocation": {"type": "CustomLocation", "name": CL_ID},
            "properties": {"storageProfile": {"imageReference": {"id": IMAGE_ID}}, "hardwareProfile": {"vmSize": "Default"},
                           "osProfile": {"computerName": "tvm-new", "adminUsername": "localadmin", "adminPassword": "P@ssw0rd-not-real"},
                           "securityProfile": {"enableTPM": True, "uefiSettings": {"secureBootEnabled": True}, "securityType": "TrustedLaunch"}}}
    body["properties"].update(props)
    return body


@pytest.fixture
def sim():
    return new_sim("demo", lro_seconds=0)


def free_machine(sim, name="tvm-win11-01"):
    """A seeded Arc machine whose VM instance is deleted (the demo seeds every machine with one)."""
    assert call(sim, "DELETE", vmi(name) + API).status == 202
    assert call(sim, "GET", vmi(name) + API).status == 404
    return name


# ------------------------------------------------------------------------------------------------ seeding


def test_demo_seeds_the_azure_local_system(sim):
    cl = call(sim, "GET", f"{RG}/providers/Microsoft.ExtendedLocation/customLocations/cl-azlocal-01{CL_API}")
    assert cl.status == 200 and cl.body["type"] == "Microsoft.ExtendedLocation/customLocations"
    names = [m["name"] for m in call(sim, "GET", f"{RG}/providers/Microsoft.HybridCompute/machines{HC_API}").body["value"]]
    assert names == ["tvm-win11-01", "tvm-ws2022-01", "std-vm-01"]
    market = call(sim, "GET", f"{RG}/providers/Microsoft.AzureStackHCI/marketplaceGalleryImages{API}").body["value"]
    assert [i["name"] for i in market] == ["win11-23h2-ent", "win11-24h2-ent", "ws2022-dc-azure"]
    assert market[1]["properties"]["identifier"] == {"publisher": "MicrosoftWindowsDesktop", "offer": "windows-11", "sku": "win11-24h2-ent"}
    custom = call(sim, "GET", f"{RG}/providers/Microsoft.AzureStackHCI/galleryImages{API}").body["value"]
    assert [i["name"] for i in custom] == ["custom-golden"] and "identifier" not in custom[0]["properties"]
    assert custom[0]["type"] == "Microsoft.AzureStackHCI/galleryImages"


def test_seeded_vm_instances_carry_their_security_profile(sim):
    tl = call(sim, "GET", vmi("tvm-win11-01") + API).body
    assert tl["properties"]["securityProfile"] == {"enableTPM": True, "uefiSettings": {"secureBootEnabled": True}, "securityType": "TrustedLaunch"}
    assert tl["extendedLocation"] == {"name": CL_ID, "type": "CustomLocation"}
    assert tl["properties"]["storageProfile"]["imageReference"]["id"] == IMAGE_ID
    std = call(sim, "GET", vmi("std-vm-01") + API).body
    assert "securityProfile" not in std["properties"]
    assert std["properties"]["storageProfile"]["imageReference"]["id"].endswith("/galleryImages/custom-golden")


def test_list_vm_instances_of_a_machine(sim):
    listed = call(sim, "GET", machine("tvm-ws2022-01") + "/providers/Microsoft.AzureStackHCI/virtualMachineInstances" + API)
    assert listed.status == 200 and [v["name"] for v in listed.body["value"]] == ["default"]


def test_lists_page_with_an_absolute_next_link():
    sim = new_sim("demo", page_size=2)
    first = call(sim, "GET", f"{RG}/providers/Microsoft.HybridCompute/machines{HC_API}").body
    assert len(first["value"]) == 2 and first["nextLink"].startswith("https://management.azure.com/")
    assert "api-version=2024-07-10" in first["nextLink"]
    second = call(sim, "GET", first["nextLink"]).body
    assert [m["name"] for m in second["value"]] == ["std-vm-01"] and "nextLink" not in second


# ------------------------------------------------------------------------------------------------ what the service enforces


def test_missing_api_version_is_refused(sim):
    resp = call(sim, "GET", vmi("tvm-win11-01"))
    assert resp.status == 400 and resp.body["error"]["code"] == "MissingApiVersionParameter"


def test_put_without_extended_location_is_refused(sim):
    body = new_body()
    del body["extendedLocation"]
    resp = call(sim, "PUT", vmi(free_machine(sim)) + API, body)
    assert resp.status == 400 and resp.body["error"]["code"] == "InvalidExtendedLocation"


def test_put_with_an_unknown_custom_location_or_image_is_refused(sim):
    name = free_machine(sim)
    body = new_body()
    body["extendedLocation"]["name"] = CL_ID.replace("cl-azlocal-01", "nowhere")
    assert call(sim, "PUT", vmi(name) + API, body).body["error"]["code"] == "CustomLocationNotFound"
    body = new_body(storageProfile={"imageReference": {"id": IMAGE_ID.replace("win11-23h2-ent", "nope")}})
    resp = call(sim, "PUT", vmi(name) + API, body)
    assert resp.status == 404 and resp.body["error"]["code"] == "GalleryImageNotFound"


def test_put_on_a_missing_machine_is_refused(sim):
    resp = call(sim, "PUT", vmi("no-such-machine") + API, new_body())
    assert resp.status == 404 and resp.body["error"]["code"] == "ParentResourceNotFound"


def test_the_custom_location_of_an_existing_vm_cannot_change(sim):
    other = call(sim, "GET", f"{RG}/providers/Microsoft.ExtendedLocation/customLocations/cl-azlocal-01{CL_API}").body
    sim.store.put(other["id"].replace("cl-azlocal-01", "cl-other"), {**other, "id": other["id"].replace("cl-azlocal-01", "cl-other")})
    body = new_body()
    body["extendedLocation"]["name"] = CL_ID.replace("cl-azlocal-01", "cl-other")
    resp = call(sim, "PUT", vmi("tvm-win11-01") + API, body)
    assert resp.status == 400 and "cannot be changed" in resp.body["error"]["message"]


# ------------------------------------------------------------------------------------------------ long-running operations


def finish_operations(sim, kind):
    for op in list(sim.ops.values()):
        if op.kind == kind and op.status == "InProgress":
            op.complete(sim)


def test_create_is_a_long_running_operation_with_azure_async_operation():
    sim = new_sim("demo", lro_seconds=30)  # operations stay InProgress until the test completes them
    assert call(sim, "DELETE", vmi("tvm-win11-01") + API).status == 202
    finish_operations(sim, "vmi-delete")
    created = call(sim, "PUT", vmi("tvm-win11-01") + API, new_body())
    assert created.status == 201 and created.body["properties"]["provisioningState"] == "Accepted"
    status_url = created.headers["Azure-AsyncOperation"]
    assert status_url.startswith("https://management.azure.com/subscriptions/") and "operationStatuses" in status_url
    assert call(sim, "GET", status_url).body["status"] == "InProgress"
    assert call(sim, "GET", vmi("tvm-win11-01") + API).body["properties"]["provisioningState"] == "Accepted"
    finish_operations(sim, "vmi-put")
    assert call(sim, "GET", status_url).body["status"] == "Succeeded"
    final = call(sim, "GET", vmi("tvm-win11-01") + API).body
    assert final["properties"]["provisioningState"] == "Succeeded"
    assert final["properties"]["securityProfile"]["securityType"] == "TrustedLaunch"
    assert "adminPassword" not in final["properties"]["osProfile"], "write-only: never returned"


def test_update_answers_200_and_keeps_read_only_parts(sim):
    before = call(sim, "GET", vmi("tvm-ws2022-01") + API).body
    body = {"extendedLocation": before["extendedLocation"], "properties": {"hardwareProfile": {"vmSize": "Custom", "processors": 8}}}
    resp = call(sim, "PUT", vmi("tvm-ws2022-01") + API, body)
    assert resp.status == 200 and "Azure-AsyncOperation" in resp.headers
    after = call(sim, "GET", vmi("tvm-ws2022-01") + API).body
    assert after["properties"]["hardwareProfile"]["processors"] == 8
    assert after["properties"]["securityProfile"] == before["properties"]["securityProfile"]
    assert after["properties"]["vmId"] == before["properties"]["vmId"]


def test_delete_is_202_with_location_then_204(sim):
    resp = call(sim, "DELETE", vmi("std-vm-01") + API)
    assert resp.status == 202 and "operationResults" in resp.headers["Location"]
    assert call(sim, "GET", resp.headers["Location"]).status == 204
    assert call(sim, "GET", vmi("std-vm-01") + API).status == 404
    assert call(sim, "DELETE", vmi("std-vm-01") + API).status == 204
    assert call(sim, "GET", machine("std-vm-01") + HC_API).status == 200, "the Arc machine stays"


def test_patch_takes_the_update_request_model_and_is_a_long_running_operation():
    """VirtualMachineInstances_Update (spec 2024-01-01): PATCH with VirtualMachineInstanceUpdateRequest, 202 with
    Location (and Azure-AsyncOperation, final-state-via azure-async-operation); only the named keys change."""
    sim = new_sim("demo", lro_seconds=30)
    before = call(sim, "GET", vmi("tvm-ws2022-01") + API).body
    resp = call(sim, "PATCH", vmi("tvm-ws2022-01") + API,
                {"properties": {"hardwareProfile": {"vmSize": "Custom", "processors": 8}}})
    assert resp.status == 202 and "operationResults" in resp.headers["Location"]
    assert "operationStatuses" in resp.headers["Azure-AsyncOperation"] and int(resp.headers["Retry-After"]) >= 1
    assert call(sim, "GET", resp.headers["Location"]).status == 202
    finish_operations(sim, "vmi-patch")
    assert call(sim, "GET", resp.headers["Azure-AsyncOperation"]).body["status"] == "Succeeded"
    assert call(sim, "GET", resp.headers["Location"]).status == 204
    after = call(sim, "GET", vmi("tvm-ws2022-01") + API).body["properties"]
    assert (after["hardwareProfile"]["processors"], after["hardwareProfile"]["memoryMB"]) == (8, 8192)
    assert after["securityProfile"] == before["properties"]["securityProfile"] and after["provisioningState"] == "Succeeded"


@pytest.mark.parametrize("body, problem", [
    ({"properties": {"securityProfile": {"enableTPM": False}}}, "body.properties.securityProfile"),
    ({"extendedLocation": {"type": "CustomLocation", "name": CL_ID}, "properties": {}}, "body.extendedLocation"),
    ({"properties": {"storageProfile": {"imageReference": {"id": IMAGE_ID}}}}, "body.properties.storageProfile.imageReference"),
    ({"properties": {"osProfile": {"adminPassword": "x"}}}, "body.properties.osProfile.adminPassword"),
    ({"properties": {"hardwareProfile": {"processors": "8"}}}, "body.properties.hardwareProfile.processors"),
    ({"properties": {"hardwareProfile": {"vmSize": "Huge"}}}, "body.properties.hardwareProfile.vmSize"),
])
def test_patch_refuses_what_the_update_request_does_not_have(sim, body, problem):
    before = sim.store.dump()
    resp = call(sim, "PATCH", vmi("tvm-ws2022-01") + API, body)
    assert resp.status == 400 and resp.body["error"]["code"] == "InvalidRequestContent"
    assert problem in resp.body["error"]["message"]
    assert sim.store.dump() == before


def test_patch_of_a_missing_vm_instance_is_404(sim):
    free_machine(sim)
    assert call(sim, "PATCH", vmi("tvm-win11-01") + API, {"properties": {}}).status == 404


def test_location_only_answers_when_configured():
    """hci_async_operation_header 0: the 202s carry only what the spec's response headers document (Location)."""
    sim = new_sim("demo", lro_seconds=0, hci_async_operation_header=0)
    resp = call(sim, "DELETE", vmi("std-vm-01") + API)
    assert resp.status == 202 and "Location" in resp.headers and "Azure-AsyncOperation" not in resp.headers
    assert call(sim, "GET", resp.headers["Location"]).status == 204


def test_a_write_is_logged_only_for_writes(sim):
    """GETs never change the store (the _info module relies on it)."""
    before = sim.store.dump()
    for url in (vmi("tvm-win11-01"), machine("std-vm-01"), f"{RG}/providers/Microsoft.AzureStackHCI/galleryImages"):
        call(sim, "GET", url + API)
    assert sim.store.dump() == before


# ------------------------------------------------------------------------------------------------ conformance


def test_conformance_get_virtual_machine_instance(sim):
    for path in ("2024-01-01/examples/GetVirtualMachineInstance.json", "2024-05-01-cvm-test/examples/VirtualMachineInstances_Get.json"):
        ex = example(path)
        resp = call(sim, "GET", vmi("tvm-win11-01") + "?api-version=" + ex["parameters"]["api-version"])
        assert str(resp.status) in ex["responses"]
        assert structure_diff(ex["responses"]["200"]["body"], resp.body) == [], path


def rewire(request_body):
    """An example's request with its ids pointed at the demo's custom location and image (nothing else changed)."""
    body = copy.deepcopy(request_body)
    body["extendedLocation"]["name"] = CL_ID
    body["properties"]["storageProfile"]["imageReference"]["id"] = IMAGE_ID
    return body


@pytest.mark.parametrize("path,param", [
    ("2024-01-01/examples/PutVirtualMachineInstanceWithMarketplaceGalleryImage.json", "virtualMachineInstance"),
    ("2024-05-01-cvm-test/examples/VirtualMachineInstances_CreateOrUpdate_MaximumSet_Gen.json", "resource"),
])
def test_conformance_put_virtual_machine_instance(sim, path, param):
    ex = example(path)
    name = free_machine(sim)
    url = vmi(name) + "?api-version=" + ex["parameters"]["api-version"]
    created = call(sim, "PUT", url, rewire(ex["parameters"][param]))
    assert created.status == 201
    # errorDetails appear only when the guest agent install failed; our VM instances install fine.
    allowed = {"$.properties.guestAgentInstallStatus.errorDetails: missing"}
    assert set(structure_diff(ex["responses"]["201"]["body"], created.body)) <= allowed
    for header in ex["responses"]["201"].get("headers", {}):
        assert header in created.headers
    updated = call(sim, "PUT", url, rewire(ex["parameters"][param]))
    assert updated.status == 200
    assert set(structure_diff(ex["responses"]["200"]["body"], updated.body)) <= allowed


def test_conformance_get_marketplace_gallery_image(sim):
    ex = example("2024-05-01-cvm-test/examples/MarketplaceGalleryImages_Get_MaximumSet_Gen.json")
    resp = call(sim, "GET", f"{RG}/providers/Microsoft.AzureStackHCI/marketplaceGalleryImages/ws2022-dc-azure"
                            "?api-version=" + ex["parameters"]["api-version"])
    assert resp.status == 200
    problems = structure_diff(ex["responses"]["200"]["body"], resp.body)
    # tags are the user's own key/value pairs; the example's keys (key8375, ...) are generated placeholders.
    assert [p for p in problems if not p.startswith("$.tags.")] == [] and isinstance(resp.body["tags"], dict)
