# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ARM paths and reads for Azure Local VMs (Microsoft.AzureStackHCI has no SDK in our requirements: generic ARM calls
through the module base). The VM instance is an extension resource of an Arc machine:
`{machineId}/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default`. Writes (PUT to create, PATCH to
update, DELETE) go through m.arm_lro, which follows them with azure-core's ARM polling."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import build_path, name_of, name_or_id
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_rules import describe_security, image_kind, image_reason

HCI_API = "2024-01-01"
MACHINES_API = "2024-07-10"
CUSTOM_LOCATIONS_API = "2021-08-15"
HCI = "Microsoft.AzureStackHCI"


def machine_id(sub: str, rg: str, name: str) -> str:
    """The Arc machine's request path: an id as given (names.py has checked its segments), or the path of a name in
    `rg` with every name one percent-encoded segment (arm_ids.build_path; the same text for every valid name)."""
    if str(name).startswith("/subscriptions/"):
        return name
    return build_path(sub, rg, "Microsoft.HybridCompute", "machines", name)


def vm_instance_id(machine: str) -> str:
    return f"{machine}/providers/{HCI}/virtualMachineInstances/default"


def get(m, path: str, api_version: str, what: str):
    """The resource, or None when it does not exist (404)."""
    return m.read(lambda: m.arm("GET", path, api_version, ok=(200,))[1], what, path)


def list_all(m, path: str, api_version: str, what: str) -> list:
    """Every item of a list call (m.arm_list follows nextLink); an error fails with "Could not list {what}"."""
    return m.read_all(lambda: m.arm_list(path, api_version), what, path)


def find_image(m, sub: str, rg: str, image: str, api_version: str = HCI_API):
    """An image by id, or by name: a Marketplace gallery image first, then a custom gallery image of the same name."""
    if str(image).startswith("/subscriptions/"):
        return get(m, image, api_version, "gallery image")
    for rtype in ("marketplaceGalleryImages", "galleryImages"):
        found = get(m, name_or_id(image, sub, rg, f"{HCI}/{rtype}"), api_version, "gallery image")
        if found:
            return found
    return None


def image_verdict(m, image_id: str, cache: dict, api_version: str = HCI_API) -> dict:
    """{image_kind, image_supported, image_reason} for the image a VM was made from (one GET per image, cached)."""
    if not image_id:
        return {"image_kind": "none", "image_supported": None, "image_reason": "The VM has no image reference."}
    key = image_id.lower()
    if key not in cache:
        image = get(m, image_id, api_version, "gallery image")
        if image is None:  # judged by its id alone: a custom image stays unsupported even when it is gone
            kind = image_kind(image_id)
            why = image_reason({"id": image_id, "name": name_of(image_id)}) if kind == "custom" else None
            cache[key] = {"image_kind": kind, "image_supported": False if why else None,
                          "image_reason": why or f"The image {image_id} no longer exists; it cannot be checked."}
        else:
            why = image_reason(image)
            cache[key] = {"image_kind": image_kind(image.get("id", image_id)), "image_supported": why is None, "image_reason": why}
    return cache[key]


def summary(rg: str, machine_name: str, vmi: dict) -> dict:
    """What the modules return about one VM instance."""
    props = vmi.get("properties") or {}
    out = {
        "name": machine_name,
        "resource_group": rg,
        "id": vmi.get("id"),
        "custom_location": (vmi.get("extendedLocation") or {}).get("name"),
        "image_id": ((props.get("storageProfile") or {}).get("imageReference") or {}).get("id"),
        "provisioning_state": props.get("provisioningState"),
        "power_state": (props.get("status") or {}).get("powerState"),
        "vm_id": props.get("vmId"),
    }
    out.update(describe_security(vmi))
    return out
