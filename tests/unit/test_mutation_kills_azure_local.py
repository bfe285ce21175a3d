"""What mutation testing (tests/mutation, `make mutation`) found the Azure Local rule tests did not hold: an image is
judged by its type or by its id alone (either one marks a custom gallery image), what each refusal names, the service
defaults of an absent security profile (off), the update refusal naming each setting that is off, the hardware of a new
VM, and the view azure_local_vm diffs. From "Trusted launch for Azure Local VMs enabled by Azure Arc" and the StackHCIVM
spec (stable/2024-01-01 virtualMachineInstances.json) as azure_local_rules.py cites them."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import azure_local_rules as al

RG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.AzureStackHCI"
WIN11 = {"publisher": "MicrosoftWindowsDesktop", "offer": "windows-11", "sku": "win11-23h2-ent"}
SERVER_2019 = {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2019-datacenter"}


@pytest.mark.parametrize("image", [
    {"name": "golden", "type": "Microsoft.AzureStackHCI/galleryImages"},  # by its type alone (no id)
    {"name": "golden", "type": "MICROSOFT.AZURESTACKHCI/GALLERYIMAGES", "id": "golden"},  # type in any case
    {"name": "golden", "id": f"{RG}/galleryImages/golden"},  # by its id alone (no type)
])
def test_a_custom_gallery_image_is_known_by_its_type_or_by_its_id(image):
    reason = al.image_reason({**image, "properties": {"identifier": WIN11}})
    assert reason == ("Image 'golden' is a custom gallery image, not an Azure Marketplace image: images obtained outside "
                      "Azure Marketplace are not supported for Trusted launch Azure Local VMs.")


@pytest.mark.parametrize("image", [
    {"type": "Microsoft.AzureStackHCI/marketplaceGalleryImages"},  # by its type alone
    {"type": "microsoft.azurestackhci/MARKETPLACEGALLERYIMAGES", "id": "x"},
    {"id": f"{RG}/marketplaceGalleryImages/w11"},  # by its id alone
])
def test_a_marketplace_image_is_known_by_its_type_or_by_its_id_and_judged_on_its_identifier(image):
    assert al.image_reason({**image, "properties": {"identifier": WIN11}}) is None
    reason = al.image_reason({**image, "properties": {"identifier": SERVER_2019}})
    assert reason.startswith("Marketplace image MicrosoftWindowsServer:WindowsServer:2019-datacenter is not supported")


def test_an_image_of_another_kind_is_refused_naming_its_id():
    rid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/x"
    assert al.image_reason({"id": rid, "type": "Microsoft.Compute/images", "name": "x"}) == (
        f"Image '{rid}' is not an Azure Local Marketplace gallery image.")
    assert al.image_reason({}) == "Image 'None' is not an Azure Local Marketplace gallery image."


def test_a_24h2_refusal_names_the_image():
    ident = {"publisher": "MicrosoftWindowsDesktop", "offer": "windows-11", "sku": "win11-24h2-ent"}
    assert al.marketplace_image_reason(ident).startswith("Marketplace image MicrosoftWindowsDesktop:windows-11:win11-24h2-ent is")


@pytest.mark.parametrize("profile,secure_boot,tpm", [
    ({"securityType": "TrustedLaunch"}, False, False),  # absent values are the service's defaults: off
    ({"securityType": "TrustedLaunch", "uefiSettings": {}}, False, False),
    ({"securityType": "TrustedLaunch", "enableTPM": True}, False, True),
    ({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True}}, True, False),
])
def test_an_absent_security_setting_is_off_and_the_profile_incomplete(profile, secure_boot, tpm):
    facts = al.describe_security({"properties": {"securityProfile": profile}})
    assert (facts["secure_boot"], facts["tpm"], facts["profile_complete"]) == (secure_boot, tpm, False)


@pytest.mark.parametrize("secure_boot,tpm,named", [
    (False, True, "secure boot off"), (True, False, "the vTPM off"), (False, False, "secure boot and the vTPM off")])
def test_the_update_refusal_names_each_setting_that_is_off_and_the_vm(secure_boot, tpm, named):
    why = al.security_update_reason("vm-tl-01", {"profile_complete": False, "secure_boot": secure_boot, "tpm": tpm})
    assert why.startswith(f"The Trusted launch VM vm-tl-01 has {named}, and the security profile of an existing VM "
                          "cannot be changed")


def test_a_named_size_is_kept_with_processors_or_memory_and_a_new_vm_gets_it():
    assert al.wanted_hardware("Custom", 4, None) == {"vmSize": "Custom", "processors": 4}
    assert al.wanted_hardware("Standard_A4_v2", 4, 8192) == {"vmSize": "Standard_A4_v2", "processors": 4, "memoryMB": 8192}
    assert al.creation_hardware("Standard_A4_v2", None, None) == {"vmSize": "Standard_A4_v2"}


def test_the_managed_view_of_a_vm_instance_as_arm_returns_it():
    vmi = {"id": f"{RG}/virtualMachineInstances/default", "extendedLocation": {"type": "CustomLocation", "name": "/cl/x"},
           "properties": {"hardwareProfile": {"vmSize": "Custom", "processors": 4, "memoryMB": 8192},
                          "storageProfile": {"imageReference": {"id": f"{RG}/marketplaceGalleryImages/w11"}},
                          "securityProfile": {"securityType": "TrustedLaunch", "enableTPM": True,
                                              "uefiSettings": {"secureBootEnabled": False}}}}
    assert al.managed_view(vmi) == {"security_type": "TrustedLaunch", "secure_boot": False, "tpm": True,
                                    "image_id": f"{RG}/marketplaceGalleryImages/w11", "custom_location": "/cl/x",
                                    "vm_size": "Custom", "processors": 4, "memory_mb": 8192}
    assert al.managed_view({"properties": {}}) == {
        "security_type": "Standard", "secure_boot": False, "tpm": False, "image_id": None, "custom_location": None,
        "vm_size": None, "processors": None, "memory_mb": None}
    assert al.managed_view(None) == {} and al.managed_view({}) == {}
