# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure rules for Trusted launch Azure Local VMs (no SDK, no I/O), from "Trusted launch for Azure Local VMs enabled by
Azure Arc" (Azure Local 2311.2 and later):

- a Trusted launch VM has secure boot and a vTPM: both must be on;
- only selected Azure Marketplace images: all Windows 11 images except the 24H2 SKUs, and Windows Server 2022;
  images obtained outside the Marketplace (custom images) are not supported.
"""

from __future__ import annotations

TRUSTED_LAUNCH = "TrustedLaunch"
SECURITY_TYPES = ("TrustedLaunch", "ConfidentialVM")
MARKETPLACE_TYPE = "microsoft.azurestackhci/marketplacegalleryimages"
GALLERY_TYPE = "microsoft.azurestackhci/galleryimages"
DOC = "https://learn.microsoft.com/azure/azure-local/manage/trusted-launch-vm-overview"


def _lower(value) -> str:
    return str(value or "").strip().lower()


def image_kind(image_id: str) -> str:
    """'marketplace', 'custom' (a plain galleryImages resource) or 'unknown', from the image's resource id."""
    rid = _lower(image_id)
    if "/providers/microsoft.azurestackhci/marketplacegalleryimages/" in rid:
        return "marketplace"
    if "/providers/microsoft.azurestackhci/galleryimages/" in rid:
        return "custom"
    return "unknown"


def is_windows11(publisher: str, sku: str) -> bool:
    return _lower(publisher) == "microsoftwindowsdesktop" and _lower(sku).startswith("win11-")


def is_windows_server_2022(publisher: str, offer: str, sku: str) -> bool:
    return _lower(publisher) == "microsoftwindowsserver" and _lower(offer) == "windowsserver" and _lower(sku).startswith("2022-")


def marketplace_image_reason(identifier: dict | None) -> str | None:
    """None when a Marketplace image identifier {publisher, offer, sku} is supported for Trusted launch, else why not."""
    ident = identifier or {}
    publisher, offer, sku = ident.get("publisher"), ident.get("offer"), ident.get("sku")
    label = f"{publisher}:{offer}:{sku}"
    if is_windows11(publisher, sku):
        if "24h2" in _lower(sku):
            return f"Marketplace image {label} is a Windows 11 24H2 SKU; Trusted launch supports all Windows 11 images except the 24H2 SKUs."
        return None
    if is_windows_server_2022(publisher, offer, sku):
        return None
    return (f"Marketplace image {label} is not supported for Trusted launch: only Windows 11 (except 24H2 SKUs) and "
            "Windows Server 2022 Azure Marketplace images are.")


def image_reason(image: dict) -> str | None:
    """None when an image resource (as ARM returns it) may back a Trusted launch VM, else the documented reason."""
    rtype = _lower(image.get("type"))
    if rtype == GALLERY_TYPE or image_kind(image.get("id", "")) == "custom":
        return (f"Image '{image.get('name')}' is a custom gallery image, not an Azure Marketplace image: images obtained "
                "outside Azure Marketplace are not supported for Trusted launch Azure Local VMs.")
    if rtype != MARKETPLACE_TYPE and image_kind(image.get("id", "")) != "marketplace":
        return f"Image '{image.get('id')}' is not an Azure Local Marketplace gallery image."
    return marketplace_image_reason((image.get("properties") or {}).get("identifier"))


def security_profile_reason(security_type: str | None, secure_boot: bool | None, tpm: bool | None) -> str | None:
    """None when the requested security profile is complete, else why not ("EnableTPM and SecureBootEnabled must be
    set to true for SecurityType to function")."""
    if security_type != TRUSTED_LAUNCH:
        return f"security_type must be {TRUSTED_LAUNCH}; got {security_type!r}."
    missing = [name for name, on in (("secure_boot", secure_boot), ("tpm", tpm)) if not on]
    if missing:
        return f"A Trusted launch VM needs secure boot and a vTPM: set {' and '.join(missing)} to true."
    return None


def security_profile_body(security_type: str, secure_boot: bool, tpm: bool) -> dict:
    """properties.securityProfile of a VM instance as the service takes it."""
    return {"enableTPM": bool(tpm), "uefiSettings": {"secureBootEnabled": bool(secure_boot)}, "securityType": security_type}


def describe_security(vm_instance: dict) -> dict:
    """The security facts of a VM instance as ARM returns it (absent values are the service defaults: off)."""
    profile = (vm_instance.get("properties") or {}).get("securityProfile") or {}
    security_type = profile.get("securityType")
    secure_boot = bool((profile.get("uefiSettings") or {}).get("secureBootEnabled", False))
    tpm = bool(profile.get("enableTPM", False))
    trusted = security_type == TRUSTED_LAUNCH
    return {
        "security_type": security_type or "Standard",
        "secure_boot": secure_boot,
        "tpm": tpm,
        "trusted_launch": trusted,
        # The VM guest state protection key exists for Trusted launch VMs and must be backed up by hand.
        "needs_guest_state_key_backup": trusted,
        "profile_complete": trusted and secure_boot and tpm,
    }


# ------------------------------------------------------------------------------------------------ hardware and updates
# Spec StackHCIVM stable/2024-01-01 virtualMachineInstances.json: PUT creates (VirtualMachineInstance), PATCH updates
# (VirtualMachineInstanceUpdateRequest: properties.{hardwareProfile{vmSize,processors,memoryMB}, storageProfile.dataDisks,
# networkProfile.networkInterfaces, osProfile{computerName, linux/windowsConfiguration}} and identity; no
# securityProfile, no image, no extendedLocation). vmSize "Custom" is the size that carries processors and memoryMB
# (the VmSizeEnum's "Custom"; Terraform's azurerm_stack_hci_windows_virtual_machine tests send vm_size "Custom" with
# processor_number and memory_mb; the az stack-hci-vm CLI does the same when they are given).

HARDWARE = (("vm_size", "vmSize"), ("processors", "processors"), ("memory_mb", "memoryMB"))
CUSTOM_SIZE = "Custom"
DEFAULT_SIZE = "Default"


def wanted_hardware(vm_size: str | None, processors: int | None, memory_mb: int | None) -> dict:
    """hardwareProfile keys for the options given: vmSize Custom when processors or memory are given without a size."""
    out = {key: value for key, value in (("vmSize", vm_size), ("processors", processors), ("memoryMB", memory_mb))
           if value is not None}
    if "vmSize" not in out and ("processors" in out or "memoryMB" in out):
        out["vmSize"] = CUSTOM_SIZE
    return out


def hardware_reason(vm_size: str | None, processors: int | None, memory_mb: int | None) -> str | None:
    """None when the hardware options fit together, else why not (processors and memory belong to the Custom size)."""
    if vm_size and vm_size != CUSTOM_SIZE and (processors is not None or memory_mb is not None):
        return (f"processors and memory_mb set the size of a vm_size {CUSTOM_SIZE} VM; with vm_size {vm_size} leave them "
                f"out, or use vm_size {CUSTOM_SIZE}.")
    return None


def creation_hardware(vm_size: str | None, processors: int | None, memory_mb: int | None) -> dict:
    """hardwareProfile of a new VM: the options given, vmSize Default when nothing is given."""
    return wanted_hardware(vm_size, processors, memory_mb) or {"vmSize": DEFAULT_SIZE}


def hardware_changes(wanted: dict, current: dict) -> dict:
    """{hardwareProfile key: wanted value} for the keys that differ from the VM's hardwareProfile."""
    return {key: value for key, value in wanted.items() if value != current.get(key)}


def update_body(hardware: dict) -> dict:
    """The PATCH body (VirtualMachineInstanceUpdateRequest) that changes only the given hardwareProfile keys."""
    return {"properties": {"hardwareProfile": dict(hardware)}}


def security_update_reason(name: str, current: dict) -> str | None:
    """None when an existing Trusted launch VM has its complete profile; else why the module cannot fix it: the
    update request (PATCH) has no securityProfile, the profile is chosen at creation."""
    if current.get("profile_complete"):
        return None
    missing = [label for label, on in (("secure boot", current.get("secure_boot")), ("the vTPM", current.get("tpm"))) if not on]
    return (f"The Trusted launch VM {name} has {' and '.join(missing)} off, and the security profile of an existing VM "
            "cannot be changed (Azure's VM update request has no securityProfile): create a new Trusted launch VM with "
            "both on and move the workload.")


def managed_view(vmi: dict | None) -> dict:
    """The settings azure_local_vm manages, for its diff and its comparison."""
    if not vmi:
        return {}
    props = vmi.get("properties") or {}
    security = describe_security(vmi)
    hardware = props.get("hardwareProfile") or {}
    view = {"security_type": security["security_type"], "secure_boot": security["secure_boot"], "tpm": security["tpm"],
            "image_id": ((props.get("storageProfile") or {}).get("imageReference") or {}).get("id"),
            "custom_location": (vmi.get("extendedLocation") or {}).get("name")}
    view.update({opt: hardware.get(key) for opt, key in HARDWARE})
    return view
