"""Family azurelocal of the local Azure: an Azure Local (Azure Stack HCI) system as ARM sees it.

Custom locations (Microsoft.ExtendedLocation), Arc machines (Microsoft.HybridCompute), Marketplace and custom gallery
images and the VM instance extension resource `{machineId}/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default`
(Microsoft.AzureStackHCI). Shapes follow the StackHCIVM spec examples (2024-01-01 and 2024-05-01-cvm-test).

Seeded from `resource_groups[].azure_local` of a scenario:
    custom_locations: [{name}]              machines: [{name}]
    gallery_images: [{name, publisher, offer, sku, version}]  or  [{name, custom: true}]  (a plain galleryImages resource)
    vm_instances: [{machine, image, security_type?, secure_boot?, tpm?, power_state?}]
"""

from __future__ import annotations

import copy
import uuid

from .framework import ARM_HOST, ROUTER, Response, SimError, arm_id, iso, page, parse_id, seeder
from .resources import arm_call, require_resource, require_rg, resource_not_found

ARM = ARM_HOST.replace(".", r"\.")
RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
MACHINE = RG + r"/providers/Microsoft\.HybridCompute/machines/(?P<machine>[^/]+)"
VMI = MACHINE + r"/providers/Microsoft\.AzureStackHCI/virtualMachineInstances"
HCI = "Microsoft.AzureStackHCI"
VMI_TYPE = f"{HCI}/virtualMachineInstances"
IMAGE_TYPES = {"marketplacegalleryimages": "marketplaceGalleryImages", "galleryimages": "galleryImages"}


# ------------------------------------------------------------------------------------------------ bodies


def system_data(sim) -> dict:
    stamp = iso(sim.now())
    return {"createdBy": "ansible-ops", "createdByType": "Application", "createdAt": stamp,
            "lastModifiedBy": "ansible-ops", "lastModifiedByType": "Application", "lastModifiedAt": stamp}


def extended_location(cl_id: str) -> dict:
    return {"name": cl_id, "type": "CustomLocation"}


def custom_location_body(sim, sub: str, rg: str, location: str, name: str) -> dict:
    rid = arm_id(sub, rg, "Microsoft.ExtendedLocation", "customLocations", name)
    return {"id": rid, "name": name, "type": "Microsoft.ExtendedLocation/customLocations", "location": location,
            "properties": {"hostType": "Kubernetes", "namespace": "default", "displayName": name,
                           "hostResourceId": arm_id(sub, rg, "Microsoft.Kubernetes", "connectedClusters", f"{name}-arb"),
                           "clusterExtensionIds": [], "provisioningState": "Succeeded"},
            "systemData": system_data(sim)}


def machine_body(sim, sub: str, rg: str, location: str, name: str) -> dict:
    rid = arm_id(sub, rg, "Microsoft.HybridCompute", "machines", name)
    return {"id": rid, "name": name, "type": "Microsoft.HybridCompute/machines", "location": location, "kind": "HCI",
            "properties": {"provisioningState": "Succeeded", "status": "Connected", "osType": "windows",
                           "vmId": str(uuid.uuid4())},
            "systemData": system_data(sim)}


def image_body(sim, sub: str, rg: str, location: str, cl_id: str, spec: dict) -> dict:
    """A marketplaceGalleryImages resource, or a plain galleryImages one for `custom: true`."""
    custom = bool(spec.get("custom"))
    rtype = "galleryImages" if custom else "marketplaceGalleryImages"
    container = arm_id(sub, rg, HCI, "storageContainers", "images")
    props = {"containerId": container, "hyperVGeneration": "V2", "osType": spec.get("os_type", "Windows"),
             "cloudInitDataSource": "Azure", "provisioningState": "Succeeded",
             "status": {"errorCode": "", "errorMessage": "",
                        "provisioningStatus": {"operationId": str(uuid.uuid4()), "status": "Succeeded"},
                        "downloadStatus": {"downloadSizeInMB": 30270}, "progressPercentage": 100}}
    if custom:
        props["imagePath"] = spec.get("image_path", f"C:\\ClusterStorage\\Volume1\\images\\{spec['name']}.vhdx")
    else:
        props["identifier"] = {"publisher": spec["publisher"], "offer": spec["offer"], "sku": spec["sku"]}
        props["version"] = {"name": str(spec["version"]), "properties": {"storageProfile": {"osDiskImage": {"sizeInMB": 30270}}}}
    return {"id": arm_id(sub, rg, HCI, rtype, spec["name"]), "name": spec["name"], "type": f"{HCI}/{rtype}",
            "location": location, "extendedLocation": extended_location(cl_id), "tags": {}, "properties": props,
            "systemData": system_data(sim)}


def security_profile(spec: dict) -> dict | None:
    if not any(k in spec for k in ("security_type", "secure_boot", "tpm")):
        return None  # a VM made without a security profile: ARM returns none (as in GetVirtualMachineInstance.json)
    profile = {"enableTPM": bool(spec.get("tpm", False)), "uefiSettings": {"secureBootEnabled": bool(spec.get("secure_boot", False))}}
    if spec.get("security_type"):
        profile["securityType"] = spec["security_type"]
    return profile


def vmi_body(sim, machine: dict, cl_id: str, image_id: str, spec: dict) -> dict:
    ids = parse_id(machine["id"])
    sub, rg = ids["subscriptions"], ids["resourcegroups"]
    props = {
        "hardwareProfile": {"vmSize": "Custom", "processors": 4, "memoryMB": 8192},
        "networkProfile": {"networkInterfaces": [{"id": arm_id(sub, rg, HCI, "networkInterfaces", f"{machine['name']}-nic")}]},
        "osProfile": {"adminUsername": "localadmin", "computerName": machine["name"][:15],
                      "windowsConfiguration": {"provisionVMAgent": True, "provisionVMConfigAgent": True}},
        "storageProfile": {"imageReference": {"id": image_id},
                           "vmConfigStoragePathId": arm_id(sub, rg, HCI, "storageContainers", "vms")},
    }
    profile = security_profile(spec)
    if profile:
        props["securityProfile"] = profile
    return finish_vmi(sim, machine, cl_id, props, spec.get("power_state", "Running"))


def finish_vmi(sim, machine: dict, cl_id: str, props: dict, power_state: str) -> dict:
    """The read-only parts the service adds to every VM instance."""
    vm_id = props.get("vmId") or str(uuid.uuid4())
    props.update({"provisioningState": "Succeeded", "vmId": vm_id,
                  "resourceUid": props.get("resourceUid") or machine["name"],
                  "instanceView": {"vmAgent": {"vmConfigAgentVersion": "1.0.0", "statuses": [
                      {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Connected",
                       "message": "Successfully established connection with mocguestagent", "time": iso(sim.now())}]}},
                  "status": {"errorCode": "", "errorMessage": "", "powerState": power_state,
                             "provisioningStatus": {"operationId": str(uuid.uuid4()), "status": "Succeeded"}},
                  "guestAgentInstallStatus": {"status": "Succeeded", "vmUuid": vm_id, "agentVersion": "1.0.0",
                                              "lastStatusChange": iso(sim.now())}})
    props.setdefault("httpProxyConfig", {})
    return {"id": machine["id"] + f"/providers/{VMI_TYPE}/default", "name": "default", "type": VMI_TYPE,
            "extendedLocation": extended_location(cl_id), "properties": props, "systemData": system_data(sim)}


# ------------------------------------------------------------------------------------------------ seeding


@seeder(order=60)
def seed_azure_local(sim, scenario: dict):
    for sub in scenario.get("subscriptions", []):
        for group in sub.get("resource_groups") or []:
            spec = group.get("azure_local")
            if spec:
                seed_group(sim, sub["id"], group["name"], group.get("location", "eastus"), spec)


def seed_group(sim, sub: str, rg: str, location: str, spec: dict):
    cls = [custom_location_body(sim, sub, rg, location, c["name"]) for c in spec.get("custom_locations") or []]
    for body in cls:
        sim.store.put(body["id"], body)
    cl_id = cls[0]["id"] if cls else arm_id(sub, rg, "Microsoft.ExtendedLocation", "customLocations", "cl-default")
    for m in spec.get("machines") or []:
        body = machine_body(sim, sub, rg, location, m["name"])
        sim.store.put(body["id"], body)
    images = {}
    for img in spec.get("gallery_images") or []:
        body = image_body(sim, sub, rg, location, cl_id, img)
        images[img["name"]] = body["id"]
        sim.store.put(body["id"], body)
    for vm in spec.get("vm_instances") or []:
        machine = sim.store.require(arm_id(sub, rg, "Microsoft.HybridCompute", "machines", vm["machine"]), "machine")
        image_id = images.get(vm.get("image")) or vm.get("image", "")
        body = vmi_body(sim, machine, cl_id, image_id, vm)
        sim.store.put(body["id"], body)


# ------------------------------------------------------------------------------------------------ custom locations, machines, images


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.ExtendedLocation/customLocations/(?P<name>[^/]+)")
def get_custom_location(sim, req, sub, rg, name):
    arm_call(sim, req, sub)
    return require_resource(sim, sub, rg, "Microsoft.ExtendedLocation", "customLocations", name)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.ExtendedLocation/customLocations")
def list_custom_locations(sim, req, sub, rg):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ExtendedLocation",
                                             "customLocations"))


@ROUTER.route("GET", ARM, MACHINE)
def get_machine(sim, req, sub, rg, machine):
    arm_call(sim, req, sub)
    return require_resource(sim, sub, rg, "Microsoft.HybridCompute", "machines", machine)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.HybridCompute/machines")
def list_machines(sim, req, sub, rg):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute", "machines"))


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.AzureStackHCI/(?P<kind>marketplaceGalleryImages|galleryImages)/(?P<name>[^/]+)")
def get_image(sim, req, sub, rg, kind, name):
    arm_call(sim, req, sub)
    return require_resource(sim, sub, rg, HCI, IMAGE_TYPES[kind.lower()], name)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.AzureStackHCI/(?P<kind>marketplaceGalleryImages|galleryImages)")
def list_images(sim, req, sub, rg, kind):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    rtype = IMAGE_TYPES[kind.lower()]
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{HCI}", rtype))


# ------------------------------------------------------------------------------------------------ VM instances


def vmi_id(sub: str, rg: str, machine: str) -> str:
    return arm_id(sub, rg, "Microsoft.HybridCompute", "machines", machine) + f"/providers/{VMI_TYPE}/default"


def require_machine(sim, sub: str, rg: str, machine: str) -> dict:
    require_rg(sim, sub, rg)
    found = sim.store.get(arm_id(sub, rg, "Microsoft.HybridCompute", "machines", machine))
    if found is None:
        raise SimError(404, "ParentResourceNotFound",
                       f"Can not perform requested operation on nested resource. Parent resource "
                       f"'Microsoft.HybridCompute/machines/{machine}' not found.")
    return found


def operation_url(req, sub: str, location: str, op_id: str, kind: str) -> str:
    loc = (location or "eastus").replace(" ", "").lower()
    return req.url(f"/subscriptions/{sub}/providers/{HCI}/locations/{loc}/{kind}/{op_id}")


def validate_vmi(sim, body: dict, existing: dict | None):
    """What the service refuses before it accepts a PUT."""
    ext = body.get("extendedLocation") or {}
    if not ext.get("name") or ext.get("type") != "CustomLocation":
        raise SimError(400, "InvalidExtendedLocation",
                       "The extendedLocation property is required: {\"type\": \"CustomLocation\", \"name\": <custom location id>}.")
    if sim.store.get(ext["name"]) is None:
        raise SimError(404, "CustomLocationNotFound", f"The custom location '{ext['name']}' was not found.")
    if existing and existing["extendedLocation"]["name"].lower() != ext["name"].lower():
        raise SimError(400, "InvalidExtendedLocation", "The extendedLocation of an existing VM instance cannot be changed.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise SimError(400, "InvalidRequestContent", "The properties of the VM instance are required.")
    image = ((props.get("storageProfile") or {}).get("imageReference") or {}).get("id")
    if not existing and not image and not ((props.get("storageProfile") or {}).get("osDisk") or {}).get("id"):
        raise SimError(400, "InvalidStorageProfile", "storageProfile.imageReference.id or storageProfile.osDisk.id is required.")
    if image and sim.store.get(image) is None:
        raise SimError(404, "GalleryImageNotFound", f"The gallery image '{image}' was not found.")


def identity_body(sim, identity: dict | None) -> dict | None:
    """The managed identity as the service returns it: ids filled in."""
    if not identity:
        return None
    out = copy.deepcopy(identity)
    out.setdefault("principalId", str(uuid.uuid4()))
    out.setdefault("tenantId", sim.tenant_id)
    for value in (out.get("userAssignedIdentities") or {}).values():
        value.setdefault("principalId", str(uuid.uuid4()))
        value.setdefault("clientId", str(uuid.uuid4()))
    return out


def merge(base: dict, patch: dict) -> dict:
    """ARM PUT on this resource keeps read-only parts; nested objects merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


@ROUTER.route("GET", ARM, VMI + r"/default")
def get_vmi(sim, req, sub, rg, machine):
    arm_call(sim, req, sub)
    require_machine(sim, sub, rg, machine)
    found = sim.store.get(vmi_id(sub, rg, machine))
    if found is None:
        raise resource_not_found(VMI_TYPE, "default", rg)
    return found


@ROUTER.route("GET", ARM, VMI)
def list_vmi(sim, req, sub, rg, machine):
    arm_call(sim, req, sub)
    require_machine(sim, sub, rg, machine)
    found = sim.store.get(vmi_id(sub, rg, machine))
    return page(sim, req, [found] if found else [])


@ROUTER.route("PUT", ARM, VMI + r"/default")
def put_vmi(sim, req, sub, rg, machine):
    arm_call(sim, req, sub)
    machine_res = require_machine(sim, sub, rg, machine)
    rid = vmi_id(sub, rg, machine)
    existing = sim.store.get(rid)
    body = req.json()
    validate_vmi(sim, body, existing)
    props = merge(existing["properties"], body["properties"]) if existing else copy.deepcopy(body["properties"])
    (props.get("osProfile") or {}).pop("adminPassword", None)  # write-only: never returned
    power = ((existing or {}).get("properties", {}).get("status") or {}).get("powerState", "Running")
    final = finish_vmi(sim, machine_res, body["extendedLocation"]["name"], props, power)
    identity = identity_body(sim, body.get("identity")) or (existing or {}).get("identity")
    if identity:
        final["identity"] = identity
    if existing:
        final["systemData"]["createdAt"] = existing["systemData"]["createdAt"]
    accepted = copy.deepcopy(final)
    accepted["properties"]["provisioningState"] = "Accepted"
    sim.store.put(rid, accepted)

    op = sim.start_operation(finish=lambda sim, _op: sim.store.put(rid, final), kind="vmi-put")
    headers = {"Azure-AsyncOperation": operation_url(req, sub, machine_res["location"], op.id, "operationStatuses"),
               "Retry-After": retry_after(sim)}
    return Response(200 if existing else 201, accepted, headers)


# PATCH body: VirtualMachineInstanceUpdateRequest (spec StackHCIVM stable/2024-01-01 virtualMachineInstances.json,
# definitions VirtualMachineInstanceUpdateRequest / VirtualMachineInstanceUpdateProperties / HardwareProfileUpdate /
# StorageProfileUpdate / NetworkProfileUpdate / OsProfileUpdate). Anything else (securityProfile, imageReference,
# extendedLocation, adminPassword, ...) is not in the model and is refused. {key: allowed} where allowed is a nested
# model, "int", "bool", "str", a tuple of enum values, or [model] for an array of objects.
GUEST_CONFIG = {"provisionVMAgent": "bool", "provisionVMConfigAgent": "bool"}
VM_SIZES = ("Default", "Standard_A2_v2", "Standard_A4_v2", "Standard_D2s_v3", "Standard_D4s_v3", "Standard_D8s_v3",
            "Standard_D16s_v3", "Standard_D32s_v3", "Standard_DS2_v2", "Standard_DS3_v2", "Standard_DS4_v2",
            "Standard_DS5_v2", "Standard_DS13_v2", "Standard_K8S_v1", "Standard_K8S2_v1", "Standard_K8S3_v1",
            "Standard_K8S4_v1", "Standard_NK6", "Standard_NK12", "Standard_NV6", "Standard_NV12", "Standard_K8S5_v1", "Custom")
UPDATE_REQUEST = {
    "properties": {
        "hardwareProfile": {"vmSize": VM_SIZES, "processors": "int", "memoryMB": "int"},
        "storageProfile": {"dataDisks": [{"id": "str"}]},
        "networkProfile": {"networkInterfaces": [{"id": "str"}]},
        "osProfile": {"computerName": "str", "linuxConfiguration": GUEST_CONFIG, "windowsConfiguration": GUEST_CONFIG},
    },
    "identity": {"type": ("SystemAssigned",), "principalId": "str", "tenantId": "str"},
}
SCALARS = {"int": int, "bool": bool, "str": str}


def model_problems(model, value, path: str) -> list[str]:
    """What in `value` does not fit `model` (see UPDATE_REQUEST)."""
    if isinstance(model, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        out = [f"{path}.{key}: not a property of VirtualMachineInstanceUpdateRequest" for key in value if key not in model]
        for key, sub in value.items():
            if key in model:
                out += model_problems(model[key], sub, f"{path}.{key}")
        return out
    if isinstance(model, list):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [p for i, item in enumerate(value) for p in model_problems(model[0], item, f"{path}[{i}]")]
    if isinstance(model, tuple):
        return [] if value in model else [f"{path}: {value!r} is not one of the allowed values"]
    kind = SCALARS[model]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return [f"{path}: expected {model}"]
    return []


@ROUTER.route("PATCH", ARM, VMI + r"/default")
def patch_vmi(sim, req, sub, rg, machine):
    """VirtualMachineInstances_Update: LRO, final-state-via azure-async-operation; 200 or 202 with Location."""
    arm_call(sim, req, sub)
    machine_res = require_machine(sim, sub, rg, machine)
    rid = vmi_id(sub, rg, machine)
    existing = sim.store.get(rid)
    if existing is None:
        raise resource_not_found(VMI_TYPE, "default", rg)
    body = req.json()
    problems = model_problems(UPDATE_REQUEST, body, "body")
    if problems:
        raise SimError(400, "InvalidRequestContent", "The request content was invalid: " + "; ".join(problems[:5]) + ".")
    final = copy.deepcopy(existing)
    final["properties"] = merge(existing["properties"], body.get("properties") or {})
    if body.get("identity"):
        final["identity"] = identity_body(sim, body["identity"])
    final["systemData"]["lastModifiedAt"] = iso(sim.now())
    accepted = copy.deepcopy(final)
    accepted["properties"]["provisioningState"] = "Accepted"
    sim.store.put(rid, accepted)
    op = sim.start_operation(finish=lambda sim, _op: sim.store.put(rid, final), kind="vmi-patch")
    return Response(202, None, lro_headers(sim, req, sub, machine_res["location"], op.id))


def lro_headers(sim, req, sub: str, location: str, op_id: str) -> dict:
    """The 202 headers of DELETE and PATCH. The spec documents `Location` on their 202 answers and names
    final-state-via azure-async-operation (so Azure-AsyncOperation is expected too; UNVERIFIED which one Azure sends:
    config hci_async_operation_header 0 sends Location only)."""
    headers = {"Location": operation_url(req, sub, location, op_id, "operationResults"), "Retry-After": retry_after(sim)}
    if int(sim.config.get("hci_async_operation_header", 1)):
        headers["Azure-AsyncOperation"] = operation_url(req, sub, location, op_id, "operationStatuses")
    return headers


@ROUTER.route("DELETE", ARM, VMI + r"/default")
def delete_vmi(sim, req, sub, rg, machine):
    """VirtualMachineInstances_Delete: LRO, final-state-via azure-async-operation; 202 with Location, or 204."""
    arm_call(sim, req, sub)
    machine_res = require_machine(sim, sub, rg, machine)
    rid = vmi_id(sub, rg, machine)
    existing = sim.store.get(rid)
    if existing is None:
        return Response(204)
    existing["properties"]["provisioningState"] = "Deleting"
    op = sim.start_operation(finish=lambda sim, _op, rid=rid: sim.store.delete(rid), kind="vmi-delete")
    return Response(202, None, lro_headers(sim, req, sub, machine_res["location"], op.id))


def retry_after(sim) -> str:
    """Never 0 (a busy-polling client would pass unnoticed); Azure's own value for these operations is UNVERIFIED."""
    return str(max(1, int(sim.config.get("retry_after") or 0)))


def require_op(sim, op_id: str):
    op = sim.ops.get(op_id)
    if op is None or not op.kind.startswith("vmi-"):
        raise SimError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    return op


@ROUTER.route("GET", ARM, r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.AzureStackHCI/locations/(?P<loc>[^/]+)/operationStatuses/(?P<op>[^/]+)")
def get_operation_status(sim, req, sub, loc, op):
    arm_call(sim, req, sub)
    found = require_op(sim, op)
    return found.status_body(f"/subscriptions/{sub}/providers/{HCI}/locations/{loc}/operationStatuses/{op}")


@ROUTER.route("GET", ARM, r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.AzureStackHCI/locations/(?P<loc>[^/]+)/operationResults/(?P<op>[^/]+)")
def get_operation_result(sim, req, sub, loc, op):
    arm_call(sim, req, sub)
    found = require_op(sim, op)
    if found.status == "InProgress":
        return Response(202, None, {"Location": req.url(req.path), "Retry-After": retry_after(sim)})
    if found.status == "Failed":
        raise SimError(400, found.error.get("code", "OperationFailed"), found.error.get("message", "The operation failed."))
    return Response(204)
