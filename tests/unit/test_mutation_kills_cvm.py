"""What the full mutation run of cvm_rules.py (tests/mutation, `make mutation`) found no test held: the facts of a VM
as the Compute API returns it (every field the rules and the restore drill read: the data disks' DES in LUN order, the
tags), each failing key and OS-disk check by its name with what to act on, a DES's facts, and the keys and regions that
cvm_readiness_info returns (its RETURN: `keys` are the distinct customer-managed keys in first-seen order, with the
VMs and the ready VMs using each; `regions` the distinct regions read, sorted)."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules as r
from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import key_location
from tests.unit.test_cvm_rules import DES_ID, des, facts

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
DISK = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks"
DES_A = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-a"
DES_B = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-b"
# GET virtualMachines (Microsoft.Compute 2024-07-01) of a confidential VM with two data disks, listed out of LUN order
VM = {
    "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/cvm-1", "name": "cvm-1",
    "location": "Korea Central", "tags": {"backup": "daily"},
    "properties": {
        "hardwareProfile": {"vmSize": "Standard_DC4as_v6"},
        "securityProfile": {"securityType": "ConfidentialVM", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}},
        "storageProfile": {
            "osDisk": {"managedDisk": {"id": f"{DISK}/cvm-1-os", "securityProfile": {
                "securityEncryptionType": "DiskWithVMGuestState", "diskEncryptionSet": {"id": DES_ID}}}},
            "dataDisks": [{"lun": 1, "managedDisk": {"id": f"{DISK}/cvm-1-d1", "diskEncryptionSet": {"id": DES_B}}},
                          {"lun": 0, "managedDisk": {"id": f"{DISK}/cvm-1-d0", "diskEncryptionSet": {"id": DES_A}}},
                          {"lun": 2, "managedDisk": {"id": f"{DISK}/cvm-1-d2"}}]}}}


def test_the_facts_of_a_vm_as_the_compute_api_returns_it():
    assert r.vm_facts(VM) == {
        "id": VM["id"], "name": "cvm-1", "size": "Standard_DC4as_v6", "region": "koreacentral",
        "security_type": "ConfidentialVM", "encryption": "DiskWithVMGuestState", "key_type": "CMK", "des_id": DES_ID,
        "data_disks": 3, "data_disk_des_ids": [DES_A, DES_B, None], "tags": {"backup": "daily"}}
    bare = r.vm_facts({"id": "x", "name": "vm"})
    assert bare["data_disks"] == 0 and bare["data_disk_des_ids"] == [] and bare["tags"] == {}
    assert bare["security_type"] == "Standard" and bare["key_type"] == "PMK" and bare["des_id"] is None


@pytest.mark.parametrize("the_des,words", [
    (des(encryption_type="EncryptionAtRestWithCustomerKey"),
     ["des-1", "EncryptionAtRestWithCustomerKey", "ConfidentialVmEncryptedWithCustomerKey"]),
    (des(key_url=None), ["des-1", "no Key Vault or Managed HSM key", "keyUrl missing"]),
    (des(key_url="https://example.com/keys/k1"), ["des-1", "keyUrl https://example.com/keys/k1"]),
])
def test_a_key_check_that_fails_is_named_key_and_says_what_is_wrong(the_des, words):
    check = r.check_key(facts(des_id=DES_ID), the_des)
    assert (check.name, check.status) == ("key", r.FAIL)
    assert all(w in check.message for w in words), check.message


def test_a_versionless_key_is_said_to_be_versionless():
    check = r.check_key(facts(des_id=DES_ID), des(key_url="https://kv1.vault.azure.net/keys/k1"))
    assert check.status == r.PASS and "key k1 (versionless) in Key Vault kv1" in check.message
    versioned = r.check_key(facts(des_id=DES_ID), des())
    assert "key k1 version abc123 in Key Vault kv1" in versioned.message and "versionless" not in versioned.message


@pytest.mark.parametrize("encryption,words", [
    ("VMGuestStateOnly", ["VMGuestStateOnly", "DiskWithVMGuestState"]),
    ("NonPersistedTPM", ["NonPersistedTPM", "DiskWithVMGuestState"]),
    (None, ["not set", "DiskWithVMGuestState"]),
])
def test_an_os_disk_without_confidential_encryption_fails_by_name(encryption, words):
    check = r.check_os_disk_encryption(facts(encryption=encryption))
    assert (check.name, check.status) == ("os_disk_encryption", r.FAIL)
    assert all(w in check.message for w in words), check.message
    assert ("Only the VM guest state" in check.message) is (encryption == "VMGuestStateOnly")


def test_the_facts_of_a_des():
    assert r.des_facts(des()) == {"id": DES_ID, "name": "des-1", "type": "ConfidentialVmEncryptedWithCustomerKey",
                                  "key_url": "https://kv1.vault.azure.net/keys/k1/abc123",
                                  "key_location": {"kind": "key_vault", "vault": "kv1", "key_name": "k1", "key_version": "abc123",
                                                   "key_url": "https://kv1.vault.azure.net/keys/k1/abc123"}}


def report(rg, name, key_url=None, ready=True, region="koreacentral"):
    return {"resource_group": rg, "name": name, "ready": ready,
            "facts": {"region": region, "key_location": key_location(key_url) if key_url else None}}


def test_the_distinct_keys_of_the_reports_in_first_seen_order_with_their_vms():
    hsm = "https://hsm-cvm-uae.managedhsm.azure.net/keys/cvm-hsm-key/v1"
    reports = [report("rg-uae", "cvm-hsm-01", hsm, region="uaenorth"),
               report("rg-kc", "cvm-pmk-01"),
               report("rg-kc", "cvm-kv-01", "https://kv-cvm.vault.azure.net/keys/CVM-Key/abc", ready=False),
               # Key Vault names and key names are case-insensitive: the same key
               report("rg-kc", "cvm-kv-02", "https://KV-CVM.vault.azure.net/keys/cvm-key"),
               report("rg-uae", "cvm-hsm-02", hsm.replace("/v1", "/v2"), region="uaenorth"),
               {"resource_group": "rg-kc", "name": "unread", "facts": None}]
    assert r.distinct_keys(reports) == [
        {"kind": "managed_hsm", "vault": "hsm-cvm-uae", "key_name": "cvm-hsm-key",
         "store_uri": "https://hsm-cvm-uae.managedhsm.azure.net/", "vms": ["rg-uae/cvm-hsm-01", "rg-uae/cvm-hsm-02"],
         "ready_vms": ["rg-uae/cvm-hsm-01", "rg-uae/cvm-hsm-02"]},
        {"kind": "key_vault", "vault": "kv-cvm", "key_name": "CVM-Key", "store_uri": "https://kv-cvm.vault.azure.net/",
         "vms": ["rg-kc/cvm-kv-01", "rg-kc/cvm-kv-02"], "ready_vms": ["rg-kc/cvm-kv-02"]}]
    assert r.distinct_keys([report("rg-kc", "cvm-pmk-01")]) == []
    assert r.distinct_regions(reports) == ["koreacentral", "uaenorth"]
    assert r.distinct_regions([{"facts": None}, {"facts": {"region": ""}}, {}]) == []
