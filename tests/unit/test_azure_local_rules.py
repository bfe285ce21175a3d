"""The Trusted launch rules for Azure Local VMs: supported images and a complete security profile."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_rules import (
    creation_hardware, describe_security, hardware_changes, hardware_reason, image_kind, image_reason,
    marketplace_image_reason, security_profile_body, security_profile_reason, security_update_reason, update_body,
    wanted_hardware)

RG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.AzureStackHCI"


def marketplace(publisher, offer, sku, name="img"):
    return {"id": f"{RG}/marketplaceGalleryImages/{name}", "name": name, "type": "Microsoft.AzureStackHCI/marketplaceGalleryImages",
            "properties": {"identifier": {"publisher": publisher, "offer": offer, "sku": sku}}}


@pytest.mark.parametrize("publisher,offer,sku", [
    ("MicrosoftWindowsDesktop", "windows-11", "win11-23h2-ent"),
    ("MicrosoftWindowsDesktop", "windows-11", "win11-22h2-avd"),
    ("MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365"),
    ("microsoftwindowsdesktop", "Windows-11", "WIN11-23H2-PRO"),
    ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition"),
    ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition-core"),
    ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition-hotpatch"),
])
def test_supported_marketplace_images(publisher, offer, sku):
    assert marketplace_image_reason({"publisher": publisher, "offer": offer, "sku": sku}) is None
    assert image_reason(marketplace(publisher, offer, sku)) is None


@pytest.mark.parametrize("sku", ["win11-24h2-ent", "win11-24h2-avd", "WIN11-24H2-PRO"])
def test_windows11_24h2_skus_are_refused_with_the_documented_reason(sku):
    reason = image_reason(marketplace("MicrosoftWindowsDesktop", "windows-11", sku))
    assert reason and "24H2" in reason and "except the 24H2 SKUs" in reason


@pytest.mark.parametrize("publisher,offer,sku", [
    ("MicrosoftWindowsServer", "WindowsServer", "2019-datacenter-gensecond"),
    ("MicrosoftWindowsServer", "WindowsServer", "2025-datacenter-azure-edition"),
    ("MicrosoftWindowsDesktop", "windows-10", "win10-22h2-ent"),
    ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"),
    (None, None, None),
])
def test_other_marketplace_images_are_refused(publisher, offer, sku):
    reason = image_reason(marketplace(publisher, offer, sku))
    assert reason and "only Windows 11 (except 24H2 SKUs) and Windows Server 2022" in reason


def test_a_custom_gallery_image_is_refused_as_not_from_the_marketplace():
    image = {"id": f"{RG}/galleryImages/golden", "name": "golden", "type": "Microsoft.AzureStackHCI/galleryImages",
             "properties": {"osType": "Windows"}}
    reason = image_reason(image)
    assert reason and "custom gallery image" in reason and "outside Azure Marketplace are not supported" in reason


def test_image_kind_from_the_id():
    assert image_kind(f"{RG}/marketplaceGalleryImages/x") == "marketplace"
    assert image_kind(f"{RG.upper()}/GALLERYIMAGES/x") == "custom"
    assert image_kind("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/x") == "unknown"
    assert image_reason({"id": "/subscriptions/s/providers/Microsoft.Compute/images/x", "type": "Microsoft.Compute/images"})


@pytest.mark.parametrize("secure_boot,tpm,missing", [(False, True, "secure_boot"), (True, False, "tpm"), (False, False, "secure_boot and tpm")])
def test_trusted_launch_needs_secure_boot_and_tpm(secure_boot, tpm, missing):
    reason = security_profile_reason("TrustedLaunch", secure_boot, tpm)
    assert reason and f"set {missing} to true" in reason


def test_complete_profile_and_other_security_types():
    assert security_profile_reason("TrustedLaunch", True, True) is None
    assert "must be TrustedLaunch" in security_profile_reason("ConfidentialVM", True, True)
    assert "must be TrustedLaunch" in security_profile_reason(None, True, True)


def test_security_profile_body_is_the_wire_shape():
    assert security_profile_body("TrustedLaunch", True, True) == {
        "enableTPM": True, "uefiSettings": {"secureBootEnabled": True}, "securityType": "TrustedLaunch"}


def test_describe_security_reads_the_arm_body():
    tl = {"properties": {"securityProfile": {"enableTPM": True, "uefiSettings": {"secureBootEnabled": True}, "securityType": "TrustedLaunch"}}}
    assert describe_security(tl) == {"security_type": "TrustedLaunch", "secure_boot": True, "tpm": True, "trusted_launch": True,
                                     "needs_guest_state_key_backup": True, "profile_complete": True}
    half = {"properties": {"securityProfile": {"enableTPM": False, "securityType": "TrustedLaunch"}}}
    assert describe_security(half)["profile_complete"] is False and describe_security(half)["needs_guest_state_key_backup"] is True
    standard = describe_security({"properties": {}})  # no securityProfile at all, as GetVirtualMachineInstance.json
    assert standard["security_type"] == "Standard" and not standard["trusted_launch"] and not standard["needs_guest_state_key_backup"]


# ------------------------------------------------------------------------------------------------ hardware and updates


def test_processors_or_memory_without_a_size_mean_custom():
    assert wanted_hardware(None, 8, None) == {"vmSize": "Custom", "processors": 8}
    assert wanted_hardware(None, None, 4096) == {"vmSize": "Custom", "memoryMB": 4096}
    assert wanted_hardware("Standard_D4s_v3", None, None) == {"vmSize": "Standard_D4s_v3"}
    assert wanted_hardware(None, None, None) == {}
    assert creation_hardware(None, None, None) == {"vmSize": "Default"}
    assert creation_hardware(None, 2, 2048) == {"vmSize": "Custom", "processors": 2, "memoryMB": 2048}


def test_processors_with_a_named_size_are_refused():
    assert "vm_size Custom" in hardware_reason("Default", 4, None)
    assert hardware_reason("Custom", 4, 8192) is None and hardware_reason("Default", None, None) is None


def test_the_patch_carries_only_what_changes():
    current = {"vmSize": "Custom", "processors": 4, "memoryMB": 8192}
    changes = hardware_changes(wanted_hardware(None, 8, 8192), current)
    assert changes == {"processors": 8}
    assert update_body(changes) == {"properties": {"hardwareProfile": {"processors": 8}}}
    assert hardware_changes(wanted_hardware(None, 4, None), current) == {}
    assert hardware_changes(wanted_hardware(None, 4, None), {"vmSize": "Default", "processors": 4}) == {"vmSize": "Custom"}


def test_an_incomplete_security_profile_cannot_be_fixed_by_an_update():
    why = security_update_reason("vm1", {"profile_complete": False, "secure_boot": True, "tpm": False})
    assert "the vTPM off" in why and "no securityProfile" in why
    assert security_update_reason("vm1", {"profile_complete": True, "secure_boot": True, "tpm": True}) is None
