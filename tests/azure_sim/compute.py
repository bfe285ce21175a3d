"""Family compute of the local Azure: virtual machines, managed disks, disk encryption sets and snapshots (read side).

Seeds the compact `vms`, `disk_encryption_sets` and `snapshots` of each resource group into full ARM resources.
`make_disk` and `make_vm` are also what the restore family calls to create restored disks and VMs.
"""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

from .framework import ARM_HOST, ROUTER, Response, SimError, arm_id, iso, page, seeder
from .keyvault import key_url_for
from .resources import arm_call, require_resource, require_rg, resource_groups

ARM = ARM_HOST.replace(".", r"\.")
RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
SUB = r"/subscriptions/(?P<sub>[^/]+)"
CP = "Microsoft.Compute"
NETWORK = "Microsoft.Network"
TYPES = {t.lower(): t for t in ("virtualMachines", "disks", "diskEncryptionSets", "snapshots")}
TYPE_RE = "(?P<rtype>" + "|".join(TYPES.values()) + ")"
CONFIDENTIAL_DES = "ConfidentialVmEncryptedWithCustomerKey"


def stable_guid(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(str(p) for p in parts)))


def in_rg(sim, sub: str, rg: str, rtype: str) -> list[dict]:
    return sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{CP}", rtype)


# ------------------------------------------------------------------------------------------------ resource shapes


def disk_security(security_type: str | None, des_id: str | None) -> tuple[dict | None, dict]:
    """(securityProfile, encryption) of a disk: a confidential type carries its DES in the security profile, any other
    disk with a DES is encrypted at rest with that customer key."""
    if security_type and security_type.startswith("ConfidentialVM"):
        profile = {"securityType": security_type}
        if des_id and security_type == "ConfidentialVM_DiskEncryptedWithCustomerKey":
            profile["secureVMDiskEncryptionSetId"] = des_id
        return profile, {"type": "EncryptionAtRestWithPlatformKey"}
    profile = {"securityType": security_type} if security_type else None
    if des_id:
        return profile, {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des_id}
    return profile, {"type": "EncryptionAtRestWithPlatformKey"}


def created_time(sim) -> str:
    """timeCreated of a disk, VM or snapshot: now, or a day ago for what the scenario holds (made while the local Azure
    is seeded at reset). Those existed before anything a test does: a Restore job's run must not look as though it
    made them (restore_rules.disks_created_during), however soon after a reset the job starts."""
    return iso(sim.now() - timedelta(days=1) if getattr(sim, "seeding", False) else sim.now())


def make_disk(sim, sub, rg, name, location, *, size_gb=64, os_type=None, security_type=None, des_id=None, managed_by=None,
              source=None) -> dict:
    """Store and return a managed disk. `security_type` is a disk security type (ConfidentialVM_..., TrustedLaunch)."""
    rid = arm_id(sub, rg, CP, "disks", name)
    profile, encryption = disk_security(security_type, des_id)
    if source:
        creation = {"createOption": "Restore" if "restorePoint" in source else "Copy", "sourceResourceId": source}
    elif os_type:
        creation = {"createOption": "FromImage", "imageReference": {
            "id": f"/Subscriptions/{sub}/Providers/Microsoft.Compute/Locations/{location}/Publishers/MicrosoftWindowsServer"
                  "/ArtifactTypes/VMImage/Offers/WindowsServer/Skus/2022-datacenter-smalldisk-g2/Versions/20348.2655.240810"}}
    else:
        creation = {"createOption": "Empty"}
    props = {"creationData": creation, "diskSizeGB": size_gb, "diskSizeBytes": size_gb << 30, "uniqueId": stable_guid(rid),
             "encryption": encryption, "networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Enabled",
             "timeCreated": created_time(sim), "provisioningState": "Succeeded",
             "diskState": "Attached" if managed_by else "Unattached", "diskIOPSReadWrite": 240, "diskMBpsReadWrite": 50,
             "tier": "P6"}
    if os_type:
        props.update(osType=os_type, hyperVGeneration="V2", supportedCapabilities={"architecture": "x64"})
    if profile:
        props["securityProfile"] = profile
    body = {"id": rid, "name": name, "type": "Microsoft.Compute/disks", "location": location, "tags": {},
            "sku": {"name": "Premium_LRS", "tier": "Premium"}, "properties": props}
    if managed_by:
        body["managedBy"] = managed_by
    return sim.store.put(rid, body)


def vm_disk_security_type(security_type: str, encryption: str | None, des_id: str | None) -> str | None:
    """The OS disk's security type that follows from the VM's security type and OS disk encryption."""
    if security_type == "ConfidentialVM":
        if encryption == "VMGuestStateOnly":
            return "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"
        if encryption == "NonPersistedTPM":
            return "ConfidentialVM_NonPersistedTPM"
        return "ConfidentialVM_DiskEncryptedWith" + ("CustomerKey" if des_id else "PlatformKey")
    return "TrustedLaunch" if security_type == "TrustedLaunch" else None


def vm_security_profile(security_type: str) -> dict | None:
    if security_type in ("ConfidentialVM", "TrustedLaunch"):
        return {"securityType": security_type, "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    return None


def attach(sim, disk_id: str, vm_id: str) -> dict:
    disk = sim.store.get(disk_id)
    if disk is None:
        raise SimError(404, "NotFound", f"Disk '{disk_id}' was not found.")
    disk["managedBy"] = vm_id
    disk["properties"]["diskState"] = "Attached"
    return disk


def os_disk_ref(disk: dict, security_type: str, encryption: str | None, des_id: str | None) -> dict:
    managed = {"storageAccountType": disk["sku"]["name"], "id": disk["id"]}
    if security_type == "ConfidentialVM":
        managed["securityProfile"] = {"securityEncryptionType": encryption or "DiskWithVMGuestState"}
        if des_id and encryption != "VMGuestStateOnly":
            managed["securityProfile"]["diskEncryptionSet"] = {"id": des_id}
    elif disk["properties"]["encryption"].get("diskEncryptionSetId"):
        managed["diskEncryptionSet"] = {"id": disk["properties"]["encryption"]["diskEncryptionSetId"]}
    return {"osType": disk["properties"].get("osType", "Windows"), "name": disk["name"], "createOption": "FromImage",
            "caching": "ReadWrite", "managedDisk": managed, "deleteOption": "Delete",
            "diskSizeGB": disk["properties"]["diskSizeGB"]}


def data_disk_ref(disk: dict, lun: int, des_id: str | None = None) -> dict:
    managed = {"storageAccountType": disk["sku"]["name"], "id": disk["id"]}
    des = des_id or disk["properties"]["encryption"].get("diskEncryptionSetId")
    if des:
        managed["diskEncryptionSet"] = {"id": des}
    return {"lun": lun, "name": disk["name"], "createOption": "Attach", "caching": "ReadOnly", "managedDisk": managed,
            "diskSizeGB": disk["properties"]["diskSizeGB"], "toBeDetached": False, "deleteOption": "Detach"}


def make_vm(sim, sub, rg, name, location, *, size, security_type, encryption=None, des_id=None, os_disk_id=None,
            data_disk_ids=(), data_des_id=None) -> dict:
    """Store and return a VM over existing disks (an OS disk is made when `os_disk_id` is None). `data_des_id`, when
    given, is the DES the VM's data-disk references name; otherwise each data disk's own at-rest DES is shown."""
    vm_id = arm_id(sub, rg, CP, "virtualMachines", name)
    if os_disk_id is None:
        os_disk = make_disk(sim, sub, rg, f"{name}_OsDisk_1_{stable_guid(vm_id).replace('-', '')}", location, size_gb=128,
                            os_type="Windows", security_type=vm_disk_security_type(security_type, encryption, des_id),
                            des_id=des_id)
        os_disk_id = os_disk["id"]
    os_disk = attach(sim, os_disk_id, vm_id)
    data = [data_disk_ref(attach(sim, d, vm_id), lun, data_des_id) for lun, d in enumerate(data_disk_ids)]
    props = {"vmId": stable_guid(vm_id, "vmid"), "hardwareProfile": {"vmSize": size},
             "storageProfile": {"imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                                   "sku": "2022-datacenter-smalldisk-g2", "version": "latest",
                                                   "exactVersion": "20348.2655.240810"},
                                "osDisk": os_disk_ref(os_disk, security_type, encryption, des_id), "dataDisks": data,
                                "diskControllerType": "SCSI"},
             "osProfile": {"computerName": name[:15], "adminUsername": "azureuser", "secrets": [],
                           "windowsConfiguration": {"provisionVMAgent": True, "enableAutomaticUpdates": True},
                           "allowExtensionOperations": True, "requireGuestProvisionSignal": True},
             "networkProfile": {"networkInterfaces": [{"id": arm_id(sub, rg, "Microsoft.Network", "networkInterfaces", f"{name}-nic"),
                                                       "properties": {"primary": True, "deleteOption": "Delete"}}]},
             "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
             "provisioningState": "Succeeded", "timeCreated": created_time(sim)}
    profile = vm_security_profile(security_type)
    if profile:
        props["securityProfile"] = profile
    body = {"id": vm_id, "name": name, "type": "Microsoft.Compute/virtualMachines", "location": location, "tags": {},
            "etag": '"1"', "properties": props}
    nic_id = props["networkProfile"]["networkInterfaces"][0]["id"]
    if sim.store.get(nic_id) is None:
        sim.store.put(nic_id, nic_body(sub, rg, f"{name}-nic", location, vm_id))
    return sim.store.put(vm_id, body)


def nic_body(sub: str, rg: str, name: str, location: str, vm_id: str) -> dict:
    """A VM's network interface, shaped like Microsoft.Network stable/2024-05-01 examples/NetworkInterfaceGet.json."""
    rid = arm_id(sub, rg, NETWORK, "networkInterfaces", name)
    octet = int(stable_guid(rid)[:2], 16) % 250 + 4
    subnet = arm_id(sub, rg, NETWORK, "virtualNetworks", f"{rg}-vnet") + "/subnets/default"
    return {"id": rid, "name": name, "type": "Microsoft.Network/networkInterfaces", "location": location,
            "etag": f'W/"{stable_guid(rid, "etag")}"',
            "properties": {"provisioningState": "Succeeded", "resourceGuid": stable_guid(rid, "guid"),
                           "ipConfigurations": [{"name": "ipconfig1", "id": f"{rid}/ipConfigurations/ipconfig1",
                                                 "properties": {"provisioningState": "Succeeded",
                                                                "privateIPAddress": f"10.0.0.{octet}",
                                                                "privateIPAllocationMethod": "Dynamic",
                                                                "subnet": {"id": subnet}, "primary": True,
                                                                "privateIPAddressVersion": "IPv4"}}],
                           "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                           "macAddress": "00-0D-3A-" + "-".join(stable_guid(rid, "mac")[i:i + 2].upper() for i in (0, 2, 4)),
                           "enableAcceleratedNetworking": False, "enableIPForwarding": False, "primary": True,
                           "virtualMachine": {"id": vm_id}, "nicType": "Standard", "vnetEncryptionSupported": False}}


def instance_view(vm: dict) -> dict:
    disks = [vm["properties"]["storageProfile"]["osDisk"]] + vm["properties"]["storageProfile"]["dataDisks"]
    ok = {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
          "time": vm["properties"]["timeCreated"]}
    view = {"computerName": vm["properties"]["osProfile"]["computerName"], "osName": "Windows Server 2022 Datacenter",
            "osVersion": "Microsoft Windows NT 10.0.20348.0", "hyperVGeneration": "V2",
            "vmAgent": {"vmAgentVersion": "2.7.41491.1102", "statuses": [
                {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
                 "message": "GuestAgent is running and accepting new configurations.", "time": vm["properties"]["timeCreated"]}]},
            "disks": [{"name": d["name"], "statuses": [ok]} for d in disks],
            "statuses": [ok, {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"}]}
    # bootDiagnostics appears when boot diagnostics is on (BootDiagnosticsInstanceView: consoleScreenshotBlobUri,
    # serialConsoleLogBlobUri; example ComputeRP/stable/2024-11-01/examples/virtualMachineExamples/
    # VirtualMachine_Get_InstanceView.json). Managed boot diagnostics (no storageUri) serve the blobs from a
    # platform-managed account; the account name shown here is UNVERIFIED.
    boot = (vm["properties"].get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}
    if boot.get("enabled"):
        base = (boot.get("storageUri") or "https://md-bootdiag.blob.core.windows.net/").rstrip("/")
        folder = f"bootdiagnostics-{vm['name'][:9].lower()}-{vm['properties']['vmId']}"
        view["bootDiagnostics"] = {"consoleScreenshotBlobUri": f"{base}/{folder}/{vm['name']}.{vm['properties']['vmId']}.screenshot.bmp",
                                   "serialConsoleLogBlobUri": f"{base}/{folder}/{vm['name']}.{vm['properties']['vmId']}.serialconsole.log"}
    return view


def with_expand(req, vm: dict) -> dict:
    if "instanceview" not in (req.q("$expand") or "").lower():
        return vm
    out = copy.deepcopy(vm)
    out["properties"]["instanceView"] = instance_view(vm)
    return out


def des_body(sim, sub: str, rg: str, location: str, spec: dict) -> dict:
    rid = arm_id(sub, rg, CP, "diskEncryptionSets", spec["name"])
    key = spec.get("key") or {}
    key_url, vault_id = key_url_for(sim, sub, key_vault=key.get("key_vault"), managed_hsm=key.get("managed_hsm"),
                                    name=key["name"])
    active = {"keyUrl": key_url}
    if vault_id:
        active["sourceVault"] = {"id": vault_id}
    return {"id": rid, "name": spec["name"], "type": "Microsoft.Compute/diskEncryptionSets", "location": location, "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": spec.get("identity_principal_id") or stable_guid(rid, "mi"),
                         "tenantId": sim.tenant_id},
            "properties": {"encryptionType": spec.get("type", CONFIDENTIAL_DES), "activeKey": active, "previousKeys": [],
                           "rotationToLatestKeyVersionEnabled": bool(spec.get("auto_rotation")),
                           "lastKeyRotationTimestamp": iso(sim.now()), "provisioningState": "Succeeded"}}


def make_snapshot(sim, sub, rg, name, location, *, source: dict | None, security_type=None, des_id=None) -> dict:
    rid = arm_id(sub, rg, CP, "snapshots", name)
    profile, encryption = disk_security(security_type, des_id)
    props = {"creationData": {"createOption": "Copy", "sourceResourceId": source["id"], "sourceUniqueId": source["properties"]["uniqueId"]}
             if source else {"createOption": "Empty"},
             "diskSizeGB": source["properties"]["diskSizeGB"] if source else 64, "incremental": True,
             "encryption": encryption, "timeCreated": created_time(sim), "provisioningState": "Succeeded",
             "diskState": "Unattached", "uniqueId": stable_guid(rid), "networkAccessPolicy": "AllowAll"}
    if profile:
        props["securityProfile"] = profile
    if source and source["properties"].get("osType"):
        props.update(osType=source["properties"]["osType"], hyperVGeneration="V2")
    body = {"id": rid, "name": name, "type": "Microsoft.Compute/snapshots", "location": location, "tags": {},
            "sku": {"name": "Standard_LRS", "tier": "Standard"}, "properties": props}
    return sim.store.put(rid, body)


def des_users(sim, des_id: str) -> list[str]:
    """Ids of every disk and snapshot whose confidential or at-rest encryption uses this DES."""
    want = des_id.lower()
    out = []
    for item in sim.store.find(lambda i: i.get("type") in ("Microsoft.Compute/disks", "Microsoft.Compute/snapshots")):
        props = item["properties"]
        used = ((props.get("securityProfile") or {}).get("secureVMDiskEncryptionSetId"),
                (props.get("encryption") or {}).get("diskEncryptionSetId"))
        if any(u and u.lower() == want for u in used):
            out.append(item["id"])
    return out


# ------------------------------------------------------------------------------------------------ routes


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Compute/" + TYPE_RE + r"/(?P<name>[^/]+)")
def get_resource(sim, req, sub, rg, rtype, name):
    arm_call(sim, req, sub)
    item = require_resource(sim, sub, rg, CP, TYPES[rtype.lower()], name)
    return with_expand(req, item) if item["type"].endswith("virtualMachines") else item


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Compute/" + TYPE_RE)
def list_rg(sim, req, sub, rg, rtype):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, [with_expand(req, i) for i in in_rg(sim, sub, rg, TYPES[rtype.lower()])])


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Compute/" + TYPE_RE)
def list_sub(sim, req, sub, rtype):
    arm_call(sim, req, sub)
    items = [i for g in resource_groups(sim, sub) for i in in_rg(sim, sub, g["name"], TYPES[rtype.lower()])]
    return page(sim, req, [with_expand(req, i) for i in items])


# Microsoft.Network network interfaces of the VMs (NetworkInterfaces_Get / _List / _ListAll, specification/network/
# resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json; the api-versions are the Network spec's).
@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Network/networkInterfaces/(?P<name>[^/]+)")
def get_nic(sim, req, sub, rg, name):
    arm_call(sim, req, sub)
    return require_resource(sim, sub, rg, NETWORK, "networkInterfaces", name)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Network/networkInterfaces")
def list_nics_rg(sim, req, sub, rg):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NETWORK}", "networkInterfaces"))


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Network/networkInterfaces")
def list_nics_sub(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, [n for g in resource_groups(sim, sub) for n in
                           sim.store.children(f"/subscriptions/{sub}/resourceGroups/{g['name']}/providers/{NETWORK}",
                                              "networkInterfaces")])


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)/instanceView")
def get_instance_view(sim, req, sub, rg, name):
    arm_call(sim, req, sub)
    return instance_view(require_resource(sim, sub, rg, CP, "virtualMachines", name))


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.Compute/diskEncryptionSets/(?P<name>[^/]+)/associatedResources")
def list_associated(sim, req, sub, rg, name):
    arm_call(sim, req, sub)
    des = require_resource(sim, sub, rg, CP, "diskEncryptionSets", name)
    return page(sim, req, des_users(sim, des["id"]))


# DELETE of a VM, a managed disk or a network interface (VirtualMachines_Delete, ComputeRP virtualMachine.json; Disks_Delete,
# DiskRP disk.json; NetworkInterfaces_Delete, Microsoft.Network networkInterface.json: each 200, 202 or 204; answered at
# once with 200, or 204 when there is nothing to delete). Deleting a VM deletes the disks and network interfaces whose
# `deleteOption` is Delete and detaches the others ("Delete a VM and its attached resources",
# learn.microsoft.com/azure/virtual-machines/delete: "deleteOption ... Delete or Detach"). A disk still attached to a VM
# is refused with 409 OperationNotAllowed (the code and message are UNVERIFIED: drill_resources deletes VMs first and
# fails with Azure's sentence otherwise).
DELETABLE = r"(?P<rtype>virtualMachines|disks)"


def delete_vm_and_options(sim, vm: dict):
    storage = vm["properties"]["storageProfile"]
    refs = [storage.get("osDisk") or {}] + list(storage.get("dataDisks") or [])
    for ref in refs:
        disk = sim.store.get((ref.get("managedDisk") or {}).get("id") or "")
        if disk is None:
            continue
        if ref.get("deleteOption") == "Delete":
            sim.store.delete(disk["id"])
        else:
            disk["managedBy"] = None
            disk["properties"]["diskState"] = "Unattached"
    for nic_ref in vm["properties"].get("networkProfile", {}).get("networkInterfaces") or []:
        nic = sim.store.get(nic_ref["id"])
        if nic is None:
            continue
        if (nic_ref.get("properties") or {}).get("deleteOption") == "Delete":
            sim.store.delete(nic["id"])
        else:
            nic["properties"].pop("virtualMachine", None)
    sim.store.delete(vm["id"])


@ROUTER.route("DELETE", ARM, RG + r"/providers/Microsoft\.Compute/" + DELETABLE + r"/(?P<name>[^/]+)")
def delete_resource(sim, req, sub, rg, rtype, name):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    item = sim.store.get(arm_id(sub, rg, CP, TYPES[rtype.lower()], name))
    if item is None:
        return Response(204)
    if item["type"].endswith("virtualMachines"):
        delete_vm_and_options(sim, item)
        return Response(200)
    if item.get("managedBy"):
        raise SimError(409, "OperationNotAllowed", f"Disk {name} is attached to VM {item['managedBy']}.")
    sim.store.delete(item["id"])
    return Response(200)


@ROUTER.route("DELETE", ARM, RG + r"/providers/Microsoft\.Network/networkInterfaces/(?P<name>[^/]+)")
def delete_nic(sim, req, sub, rg, name):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    item = sim.store.get(arm_id(sub, rg, NETWORK, "networkInterfaces", name))
    if item is None:
        return Response(204)
    if (item["properties"].get("virtualMachine") or {}).get("id") and sim.store.get(item["properties"]["virtualMachine"]["id"]):
        raise SimError(400, "NicInUse", f"Network Interface {item['id']} is used by existing resource "
                                        f"{item['properties']['virtualMachine']['id']}.")  # UNVERIFIED wording
    sim.store.delete(item["id"])
    return Response(200)


# ------------------------------------------------------------------------------------------------ seeding


def des_reference(sub: str, rg: str, des) -> str | None:
    """`des: name` (same resource group) or `des: {id: ...}` -> the DES id."""
    if not des:
        return None
    return des["id"] if isinstance(des, dict) else arm_id(sub, rg, CP, "diskEncryptionSets", des)


def seed_vm(sim, sub: str, rg: str, location: str, spec: dict):
    des_id = des_reference(sub, rg, spec.get("des"))
    data_des = des_id if des_id and spec.get("encryption") != "VMGuestStateOnly" else None
    name = spec["name"]
    data_ids = [make_disk(sim, sub, rg, f"{name}-data-{lun}", location, size_gb=int(spec.get("data_disk_gb", 128)),
                          des_id=data_des)["id"] for lun in range(int(spec.get("data_disks", 0)))]
    vm = make_vm(sim, sub, rg, name, spec.get("location", location), size=spec.get("size", "Standard_DC2as_v6"),
                 security_type=spec.get("security_type", "Standard"), encryption=spec.get("encryption"), des_id=des_id,
                 data_disk_ids=data_ids, data_des_id=data_des)
    vm["tags"] = {str(k): str(v) for k, v in (spec.get("tags") or {}).items()}  # Resource.tags: a string map (VM spec)


def seed_des(sim, sub: str, rg: str, location: str, spec: dict):
    des = sim.store.put(arm_id(sub, rg, CP, "diskEncryptionSets", spec["name"]), des_body(sim, sub, rg, location, spec))
    confidential = des["properties"]["encryptionType"] == CONFIDENTIAL_DES
    security = "ConfidentialVM_DiskEncryptedWithCustomerKey" if confidential else None
    disks = [make_disk(sim, sub, rg, f"{spec['name']}-disk-{i + 1:03d}", location, os_type="Windows" if confidential else None,
                       security_type=security, des_id=des["id"]) for i in range(int(spec.get("extra_disks", 0)))]
    for i in range(int(spec.get("extra_snapshots", 0))):  # taken outside Azure Backup, of the DES's own disks
        source = disks[i % len(disks)] if disks else None
        make_snapshot(sim, sub, rg, f"{spec['name']}-snap-{i + 1:03d}", location, source=source, security_type=security,
                      des_id=des["id"])


def seed_snapshot(sim, sub: str, rg: str, location: str, spec: dict):
    source = sim.store.get(spec["source"]) if spec.get("source") else None
    if source is None and spec.get("source_disk"):
        source = sim.store.get(arm_id(sub, rg, CP, "disks", spec["source_disk"]))
    des_id = des_reference(sub, rg, spec.get("des"))
    security = (source or {}).get("properties", {}).get("securityProfile", {}).get("securityType")
    make_snapshot(sim, sub, rg, spec["name"], spec.get("location", location), source=source, security_type=security,
                  des_id=des_id)


@seeder(order=30)
def seed_compute(sim, scenario: dict):
    for sub in scenario.get("subscriptions", []):
        groups = list(sub.get("resource_groups") or [])
        for group in groups:  # every DES first: VMs may use a DES of another resource group
            for spec in group.get("disk_encryption_sets") or []:
                seed_des(sim, sub["id"], group["name"], spec.get("location", group.get("location", "koreacentral")), spec)
        for group in groups:
            location = group.get("location", "koreacentral")
            for spec in group.get("vms") or []:
                seed_vm(sim, sub["id"], group["name"], location, spec)
            for spec in group.get("snapshots") or []:
                seed_snapshot(sim, sub["id"], group["name"], location, spec)
