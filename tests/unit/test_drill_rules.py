"""drill_rules (drill_resources' pure decisions), held to what Azure documents, not to the code:
- a tag value has at most 256 characters (Microsoft Learn, azure-resource-manager/management/tag-resources, "Limitations");
- a VM is deleted before the NIC and the disks it uses (Azure refuses to delete a NIC attached to a VM and a disk a
  VM still uses; Microsoft Learn, virtual-network/virtual-network-network-interface "Delete a network interface" and
  virtual-machines/delete);
- the disk and VM fields as the Compute REST spec names them (DiskSecurityProfile.securityType,
  secureVMDiskEncryptionSetId, Encryption.type / diskEncryptionSetId, SecurityProfile.uefiSettings.vTpmEnabled /
  secureBootEnabled, NetworkProfile.networkInterfaces[].id; specification/compute/resource-manager/Microsoft.Compute).
"""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import drill_rules as d

RG = "/subscriptions/s/resourceGroups/rg-drill/providers"
VM = f"{RG}/Microsoft.Compute/virtualMachines/vm1"
NIC = f"{RG}/Microsoft.Network/networkInterfaces/nic1"
DISK = f"{RG}/Microsoft.Compute/disks/osdisk"
IP = f"{RG}/Microsoft.Network/publicIPAddresses/ip1"


def res(rid, rtype, drill="d1"):
    return {"id": rid, "type": rtype, "tags": {d.DRILL_TAG: drill} if drill else {}}


@pytest.mark.parametrize("drill_id", ["d1", "x" * 256, "DRILL-X1", "drill 2026-12-01 #3", "a=b:c"])
def test_a_tag_value_of_up_to_256_printable_characters_is_a_drill_id(drill_id):
    assert d.drill_id_problem(drill_id) is None


@pytest.mark.parametrize("drill_id", ["x" * 257, "", "   ", None, 7, "a\nb", "a\tb"] + [f"a{c}b" for c in "<>%&\\?/"])
def test_anything_else_is_refused_in_one_sentence_that_names_drill_id(drill_id):
    problem = d.drill_id_problem(drill_id)
    assert problem and problem.startswith("drill_id must be") and problem.count(".") >= 1
    if isinstance(drill_id, str) and drill_id.strip():
        assert "at most 256 printable characters" in problem
    else:
        assert problem == "drill_id must be a non-empty string."


def test_only_the_drills_own_tag_value_marks_a_resource():
    assert d.is_drills(res(VM, "x"), "d1")
    assert not d.is_drills(res(VM, "x"), "d2")
    assert not d.is_drills(res(VM, "x"), "D1")  # tag values are case-sensitive
    assert not d.is_drills({"id": VM, "tags": {"other": "d1"}}, "d1")
    assert not d.is_drills({"id": VM, "tags": None}, "d1")
    assert not d.is_drills({"id": VM}, "d1")


def test_the_vm_goes_first_then_its_nic_then_its_disks_whatever_the_listing_order():
    listed = [res(DISK, "Microsoft.Compute/disks"), res(NIC, "Microsoft.Network/networkInterfaces"),
              res(VM, "Microsoft.Compute/virtualMachines"), res(DISK + "2", "microsoft.compute/DISKS")]
    plan = d.deletion_plan(listed, "d1")
    assert plan == {"delete": [VM, NIC, DISK, DISK + "2"], "kept": [], "unsupported": []}
    assert d.deletion_plan(list(reversed(listed)), "d1")["delete"] == [VM, NIC, DISK + "2", DISK]


def test_other_drills_and_untagged_resources_are_kept_and_unknown_types_left():
    listed = [res(VM, "Microsoft.Compute/virtualMachines", drill="d2"), res(NIC, "Microsoft.Network/networkInterfaces", drill=None),
              res(IP, "Microsoft.Network/publicIPAddresses"), res(DISK, "Microsoft.Compute/disks"), {"id": "/no/type", "tags": {d.DRILL_TAG: "d1"}}]
    assert d.deletion_plan(listed, "d1") == {"delete": [DISK], "kept": [VM, NIC], "unsupported": [IP, "/no/type"]}
    assert d.deletion_plan([], "d1") == {"delete": [], "kept": [], "unsupported": []}


def test_the_group_is_the_drills_only_when_tagged_with_its_id():
    assert d.group_is_drills({"id": "/subscriptions/s/resourceGroups/rg-drill", "tags": {d.DRILL_TAG: "d1"}}, "d1")
    assert not d.group_is_drills({"id": "/subscriptions/s/resourceGroups/rg-drill", "tags": {d.DRILL_TAG: "d2"}}, "d1")
    assert d.group_is_drills(None, "d1") is False
    assert d.group_is_drills({}, "d1") is False


def test_ids_outside_the_drill_group_are_named_without_case():
    other = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.Compute/disks/x"
    assert d.outside_group([VM, other, VM.replace("rg-drill", "RG-DRILL")], "Rg-Drill") == [other]
    assert d.outside_group(["not-an-id"], "rg-drill") == ["not-an-id"]


def test_a_confidential_disk_shows_its_confidential_des_before_the_at_rest_one():
    disk = {"id": DISK, "name": "osdisk", "tags": {"t": "1"},
            "properties": {"osType": "Linux",
                           "securityProfile": {"securityType": "ConfidentialVM_DiskEncryptedWithCustomerKey",
                                               "secureVMDiskEncryptionSetId": "/des/cvm"},
                           "encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "/des/rest"}}}
    assert d.disk_facts(disk) == {"id": DISK, "name": "osdisk", "security_type": "ConfidentialVM_DiskEncryptedWithCustomerKey",
                                  "confidential": True, "disk_encryption_set_id": "/des/cvm",
                                  "encryption_type": "EncryptionAtRestWithCustomerKey", "os_type": "Linux", "tags": {"t": "1"}}


@pytest.mark.parametrize("security_type,confidential", [
    ("ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey", True), ("ConfidentialVM_DiskEncryptedWithPlatformKey", True),
    ("ConfidentialVM_NonPersistedTPM", True), ("TrustedLaunch", False), ("Standard", False), (None, False)])
def test_every_documented_disk_security_type_and_whether_it_is_confidential(security_type, confidential):
    profile = {"securityType": security_type} if security_type else None
    facts = d.disk_facts({"properties": {"securityProfile": profile,
                                         "encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "/des/rest"}}})
    assert facts["confidential"] is confidential and facts["security_type"] == security_type
    assert facts["disk_encryption_set_id"] == "/des/rest" and facts["tags"] == {} and facts["id"] is None


def test_a_disk_without_properties():
    assert d.disk_facts({"id": DISK}) == {"id": DISK, "name": None, "security_type": None, "confidential": False,
                                          "disk_encryption_set_id": None, "encryption_type": None, "os_type": None, "tags": {}}


def test_vm_facts_read_the_security_profile():
    vm = {"id": VM, "name": "vm1", "tags": {"a": "b"},
          "properties": {"securityProfile": {"securityType": "ConfidentialVM",
                                             "uefiSettings": {"vTpmEnabled": True, "secureBootEnabled": False}}}}
    assert d.vm_facts(vm) == {"id": VM, "name": "vm1", "security_type": "ConfidentialVM", "vtpm": True, "secure_boot": False, "tags": {"a": "b"}}
    vm["properties"]["securityProfile"]["uefiSettings"] = {"secureBootEnabled": True}
    assert (d.vm_facts(vm)["vtpm"], d.vm_facts(vm)["secure_boot"]) == (False, True)
    assert d.vm_facts({}) == {"id": None, "name": None, "security_type": None, "vtpm": False, "secure_boot": False, "tags": {}}


def test_the_nics_a_vm_names():
    vm = {"properties": {"networkProfile": {"networkInterfaces": [{"id": NIC}, {"primary": True}, {"id": NIC + "2"}]}}}
    assert d.vm_nic_ids(vm) == [NIC, NIC + "2"]
    assert d.vm_nic_ids(None) == [] and d.vm_nic_ids({"properties": {}}) == []
    assert d.vm_nic_ids({"properties": {"networkProfile": {"networkInterfaces": None}}}) == []


def test_an_id_without_a_group_is_outside_any_group_whatever_its_name():
    assert d.outside_group(["not-an-id"], "XXXX") == ["not-an-id"]
