"""Family compute of the local Azure: VMs, disks, disk encryption sets, snapshots."""

from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient

from tests.azure_sim.compute import make_disk, make_vm
from tests.sim.inproc import call, new_sim
from tests.sim.inproc_transport import InProcTransport, SimCredential

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = "https://management.azure.com"
V = "?api-version=2025-04-01"  # ComputeRP (virtualMachines)
DV = "?api-version=2025-01-02"  # DiskRP (disks, snapshots, diskEncryptionSets)


def rg_url(rg: str, tail: str = "") -> str:
    return f"{ARM}/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute{tail}"


def des_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/diskEncryptionSets/{name}"


@pytest.fixture(scope="module")
def sim():
    return new_sim("demo")


def get(sim, url):
    resp = call(sim, "GET", url)
    assert resp.status == 200, resp.body
    return resp.body


def test_pmk_cvm_has_confidential_os_disk_without_des(sim):
    vm = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-pmk-01") + V)
    props = vm["properties"]
    assert props["securityProfile"] == {"securityType": "ConfidentialVM",
                                        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    assert props["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"] == {"securityEncryptionType": "DiskWithVMGuestState"}
    assert props["hardwareProfile"]["vmSize"] == "Standard_DC4as_v6"
    disk = get(sim, ARM + props["storageProfile"]["osDisk"]["managedDisk"]["id"] + DV)
    assert disk["properties"]["securityProfile"] == {"securityType": "ConfidentialVM_DiskEncryptedWithPlatformKey"}
    assert disk["managedBy"] == vm["id"] and disk["properties"]["diskState"] == "Attached"
    data = props["storageProfile"]["dataDisks"]
    assert [d["lun"] for d in data] == [0] and "diskEncryptionSet" not in data[0]["managedDisk"]


def test_cmk_cvm_names_its_des_on_os_and_data_disks(sim):
    props = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-kv-01") + V)["properties"]
    des = des_id("rg-cvm-kc", "des-cvm-kv")
    os_ref = props["storageProfile"]["osDisk"]["managedDisk"]
    assert os_ref["securityProfile"] == {"securityEncryptionType": "DiskWithVMGuestState", "diskEncryptionSet": {"id": des}}
    os_disk = get(sim, ARM + os_ref["id"] + DV)["properties"]
    assert os_disk["securityProfile"] == {"securityType": "ConfidentialVM_DiskEncryptedWithCustomerKey",
                                          "secureVMDiskEncryptionSetId": des}
    data_ref = props["storageProfile"]["dataDisks"][0]["managedDisk"]
    assert data_ref["diskEncryptionSet"] == {"id": des}
    data_disk = get(sim, ARM + data_ref["id"] + DV)["properties"]
    assert data_disk["encryption"] == {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des}


def test_guest_state_only_trusted_launch_and_disk_types(sim):
    gso = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-gso-01") + V)["properties"]["storageProfile"]["osDisk"]
    assert gso["managedDisk"]["securityProfile"] == {"securityEncryptionType": "VMGuestStateOnly"}
    assert get(sim, ARM + gso["managedDisk"]["id"] + DV)["properties"]["securityProfile"]["securityType"] == \
        "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"
    tl = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/tl-vm-01") + V)["properties"]
    assert tl["securityProfile"]["securityType"] == "TrustedLaunch"
    tl_disk = get(sim, ARM + tl["storageProfile"]["osDisk"]["managedDisk"]["id"] + DV)["properties"]
    assert tl_disk["securityProfile"] == {"securityType": "TrustedLaunch"}


def test_des_key_urls_for_vault_and_hsm(sim):
    kv = get(sim, rg_url("rg-cvm-kc", "/diskEncryptionSets/des-cvm-kv") + DV)
    assert kv["properties"]["activeKey"] == {
        "keyUrl": "https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk/8f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "sourceVault": {"id": f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-kc"}}
    assert kv["properties"]["encryptionType"] == "ConfidentialVmEncryptedWithCustomerKey"
    assert kv["identity"]["principalId"] == "7c6b5a4f-3e2d-4c1b-8a0f-9e8d7c6b5a4f"
    hsm = get(sim, rg_url("rg-cvm-uae", "/diskEncryptionSets/des-cvm-hsm") + DV)["properties"]["activeKey"]
    assert hsm == {"keyUrl": "https://hsm-cvm-uae.managedhsm.azure.net/keys/cvm-hsm-key/0f9e8d7c6b5a49382716f5e4d3c2b1a0"}
    rbac = get(sim, rg_url("rg-cvm-kc", "/diskEncryptionSets/des-cvm-rbac") + DV)
    assert rbac["identity"]["principalId"] and rbac["identity"]["type"] == "SystemAssigned"


def test_associated_resources_count_every_disk_and_snapshot_on_the_des(sim):
    ids = get(sim, rg_url("rg-cvm-uae", "/diskEncryptionSets/des-cvm-busy/associatedResources") + DV)["value"]
    disks = [i for i in ids if "/disks/" in i]
    snapshots = [i for i in ids if "/snapshots/" in i]
    assert (len(disks), len(snapshots)) == (37 + 2, 4)  # extra disks + cvm-busy-01's OS and data disk
    assert all(isinstance(i, str) and i.startswith(f"/subscriptions/{SUB}/") for i in ids)
    snap = get(sim, ARM + snapshots[0] + DV)["properties"]
    assert snap["securityProfile"]["secureVMDiskEncryptionSetId"] == des_id("rg-cvm-uae", "des-cvm-busy")
    assert snap["creationData"]["sourceResourceId"] in disks


def test_associated_resources_page_with_absolute_next_link():
    sim = new_sim("demo")
    sim.config["page_size"] = 10
    first = get(sim, rg_url("rg-cvm-uae", "/diskEncryptionSets/des-cvm-busy/associatedResources") + DV)
    link = urlsplit(first["nextLink"])
    assert (link.scheme, link.hostname) == ("https", "management.azure.com") and "api-version=" in link.query
    seen = list(first["value"])
    url = first["nextLink"]
    for attempt in range(10):
        body = get(sim, url)
        seen += body["value"]
        url = body.get("nextLink")
        if not url:
            break
    assert len(seen) == len(set(seen)) == 43


def test_lists_per_resource_group_and_subscription(sim):
    names = [v["name"] for v in get(sim, rg_url("rg-cvm-uae", "/virtualMachines") + V)["value"]]
    assert names == ["cvm-hsm-01", "cvm-busy-01"]
    everything = get(sim, f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines" + V)["value"]
    assert len(everything) == 9
    des = get(sim, f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/diskEncryptionSets" + DV)["value"]
    assert {d["name"] for d in des} == {"des-cvm-kv", "des-cvm-rbac", "des-sse-kc", "des-cvm-hsm", "des-cvm-busy"}
    assert len(get(sim, rg_url("rg-cvm-uae", "/snapshots") + DV)["value"]) == 4


def test_expand_instance_view_and_instance_view_call(sim):
    vm = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-pmk-01") + V + "&$expand=instanceView")
    codes = [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    assert "instanceView" not in get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-pmk-01") + V)["properties"]
    view = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/cvm-pmk-01/instanceView") + V)
    assert len(view["disks"]) == 2


def test_not_found_shapes(sim):
    resp = call(sim, "GET", rg_url("rg-cvm-kc", "/virtualMachines/nope") + V)
    assert resp.status == 404 and resp.body["error"]["code"] == "ResourceNotFound"
    assert resp.body["error"]["message"].startswith(
        "The Resource 'Microsoft.Compute/virtualMachines/nope' under resource group 'rg-cvm-kc' was not found.")
    resp = call(sim, "GET", rg_url("rg-nope", "/virtualMachines/nope") + V)
    assert (resp.status, resp.body["error"]["code"]) == (404, "ResourceGroupNotFound")
    resp = call(sim, "GET", rg_url("rg-cvm-kc", "/virtualMachines"))
    assert (resp.status, resp.body["error"]["code"]) == (400, "MissingApiVersionParameter")


def test_make_disk_and_make_vm_helpers():
    sim = new_sim("demo")
    des = des_id("rg-cvm-kc", "des-cvm-kv")
    os_disk = make_disk(sim, SUB, "rg-cvm-kc", "restored-os", "koreacentral", os_type="Windows",
                        security_type="ConfidentialVM_DiskEncryptedWithCustomerKey", des_id=des, source="/x/restorePoints/rp1")
    data = make_disk(sim, SUB, "rg-cvm-kc", "restored-data", "koreacentral", size_gb=32, des_id=des)
    vm = make_vm(sim, SUB, "rg-cvm-kc", "restored-vm", "koreacentral", size="Standard_DC4as_v6", security_type="ConfidentialVM",
                 encryption="DiskWithVMGuestState", des_id=des, os_disk_id=os_disk["id"], data_disk_ids=[data["id"]],
                 data_des_id=des)
    assert os_disk["properties"]["creationData"] == {"createOption": "Restore", "sourceResourceId": "/x/restorePoints/rp1"}
    stored = get(sim, rg_url("rg-cvm-kc", "/virtualMachines/restored-vm") + V)
    assert stored == vm
    assert stored["properties"]["storageProfile"]["dataDisks"][0]["managedDisk"]["diskEncryptionSet"] == {"id": des}
    assert get(sim, rg_url("rg-cvm-kc", "/disks/restored-data") + DV)["managedBy"] == vm["id"]
    associated = get(sim, rg_url("rg-cvm-kc", "/diskEncryptionSets/des-cvm-kv/associatedResources") + DV)["value"]
    assert os_disk["id"] in associated and data["id"] in associated


def test_sdk_lists_follow_next_links():
    sim = new_sim("demo")
    sim.config["page_size"] = 2
    transport = InProcTransport(sim)
    client = ComputeManagementClient(SimCredential(sim), SUB, transport=transport)
    vms = list(client.virtual_machines.list("rg-cvm-kc"))
    assert [v.name for v in vms] == ["cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01", "cvm-v5-01", "cvm-gso-01", "tl-vm-01"]
    assert sum(1 for method, url, status in transport.log if "/virtualMachines" in url) == 3
    assert vms[1].storage_profile.os_disk.managed_disk.security_profile.disk_encryption_set.id == des_id("rg-cvm-kc", "des-cvm-kv")
    assert len(list(client.virtual_machines.list_all())) == 9
    associated = list(client.disk_encryption_sets.list_associated_resources("rg-cvm-uae", "des-cvm-busy"))
    assert len(associated) == 43 and all(isinstance(i, str) for i in associated)
    des = client.disk_encryption_sets.get("rg-cvm-uae", "des-cvm-hsm")
    assert des.active_key.key_url.startswith("https://hsm-cvm-uae.managedhsm.azure.net/keys/cvm-hsm-key/")
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machines.get("rg-cvm-kc", "nope")


def test_fleet_of_500_vms_seeds_and_lists():
    sim = new_sim("fleet", vms=500, cmk_every=10)
    sub = next(iter(sim.subscriptions.values()))["id"]
    body = call(sim, "GET", f"{ARM}/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines" + V).body
    assert len(body["value"]) == 100 and "nextLink" in body
    des = f"{ARM}/subscriptions/{sub}/resourceGroups/rg-fleet-01/providers/Microsoft.Compute/diskEncryptionSets/des-fleet-koreacentral"
    sim.config["page_size"] = 1000
    associated = call(sim, "GET", des + "/associatedResources" + DV).body
    assert len(associated["value"]) == 100 and "nextLink" not in associated  # 50 CMK VMs x (OS + data disk)
