# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The confidential VM backup support matrix as pure functions, and the Azure Backup naming of a VM (resource ids
and key URLs are parsed in arm_ids).

No SDK imports: every input is a plain dict in the REST (camelCase) shape, exactly as on the wire. Modules get it
from SDK models with ``model.as_dict()`` (TypeSpec SDKs such as azure-mgmt-compute 39) or
``model.serialize(keep_readonly=True)`` (autorest SDKs such as azure-mgmt-recoveryservices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import key_location, name_of, store_uri, type_of

# ------------------------------------------------------------------------------------------------ defaults

SUPPORTED_REGIONS = ("uaenorth", "koreacentral")
V6_CVM_FAMILIES = ("DCasv6", "DCadsv6", "ECasv6", "ECadsv6", "DCesv6", "DCedsv6", "ECesv6", "ECedsv6")
DES_DISK_THRESHOLD = 40
RESTORE_POINT_FEATURE = "Microsoft.Compute/RestorePointSupportForConfidentialVMV2"
CVM_DES_TYPE = "ConfidentialVmEncryptedWithCustomerKey"
OS_DISK_ENCRYPTION = "DiskWithVMGuestState"

PASS, WARN, FAIL, NA = "pass", "warn", "fail", "n/a"
READY, READY_WITH_WARNINGS, NOT_READY, NOT_APPLICABLE = "ready", "ready_with_warnings", "not_ready", "not_applicable"
VERDICTS = (READY, READY_WITH_WARNINGS, NOT_READY, NOT_APPLICABLE)


@dataclass(frozen=True)
class Check:
    """One rule's outcome: status is pass | warn | fail | n/a, message is a sentence a person can act on."""

    name: str
    status: str
    message: str

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "message": self.message}


# ------------------------------------------------------------------------------------------------ Azure Backup names


def container_name(resource_group: str, vm_name: str) -> str:
    return f"IaasVMContainer;iaasvmcontainerv2;{resource_group};{vm_name}"


def protected_item_name(resource_group: str, vm_name: str) -> str:
    return f"VM;iaasvmcontainerv2;{resource_group};{vm_name}"


# ------------------------------------------------------------------------------------------------ sizes and regions

SIZE_RE = re.compile(r"(?:Standard_|Basic_)?(?P<prefix>[A-Za-z]+)(?P<vcpus>\d+)(?:-\d+)?(?P<suffix>[a-z]*)"
                     r"(?:_(?P<extra>[A-Za-z0-9]+?))??(?:_v(?P<version>\d+))?")


def parse_size(size: str) -> dict | None:
    """'Standard_DC4as_v6' -> {family: 'DCasv6', series: 'v6', vcpus: 4}; None when the name does not parse.
    A size without a version suffix is the first series (v1)."""
    match = SIZE_RE.fullmatch(size or "")
    if not match:
        return None
    series = f"v{match['version'] or 1}"
    family = match["prefix"].upper() + match["suffix"] + (series if match["version"] else "")
    return {"family": family, "series": series, "vcpus": int(match["vcpus"])}


def is_v6_cvm_family(family: str, families=V6_CVM_FAMILIES) -> bool:
    return (family or "").lower() in {f.lower() for f in families}


def normalize_region(region: str) -> str:
    """'Korea Central' -> 'koreacentral' (ARM location names are display names without spaces, lower case)."""
    return re.sub(r"[\s_-]", "", region or "").lower()


# ------------------------------------------------------------------------------------------------ VM facts


def dig(data, *path, default=None):
    """data[path[0]][path[1]]...; `default` where a step is missing, None or not a dict."""
    for key in path:
        if not isinstance(data, dict):
            return default
        data = data.get(key)
    return default if data is None else data


def vm_facts(vm: dict) -> dict:
    """The facts of a VM (REST shape) that the rules use."""
    props = vm.get("properties") or {}
    os_disk = dig(props, "storageProfile", "osDisk", "managedDisk", default={})
    des_id = dig(os_disk, "securityProfile", "diskEncryptionSet", "id")
    return {
        "id": vm.get("id"),
        "name": vm.get("name"),
        "size": dig(props, "hardwareProfile", "vmSize"),
        "region": normalize_region(vm.get("location")),
        "security_type": dig(props, "securityProfile", "securityType", default="Standard"),
        "encryption": dig(os_disk, "securityProfile", "securityEncryptionType"),
        "key_type": "CMK" if des_id else "PMK",
        "des_id": des_id,
        "data_disks": len(dig(props, "storageProfile", "dataDisks", default=[])),
        # each data disk's disk encryption set (null: platform-managed keys), in LUN order: the restore drill checks them
        "data_disk_des_ids": [dig(d, "managedDisk", "diskEncryptionSet", "id")
                              for d in sorted(dig(props, "storageProfile", "dataDisks", default=[]), key=lambda d: d.get("lun") or 0)],
        "tags": dict(vm.get("tags") or {}),
    }


def associated_counts(resource_ids) -> dict:
    """Disks and snapshots among a DES's associatedResources (other types, e.g. restore points, are not counted)."""
    kinds = [type_of(rid) for rid in resource_ids]
    return {"disks": kinds.count("disks"), "snapshots": kinds.count("snapshots")}


# ------------------------------------------------------------------------------------------------ checks


def check_exists(name: str, vm: dict | None, error: str | None = None) -> Check:
    if vm is None:
        return Check("vm_exists", FAIL, error or f"VM {name} was not found.")
    return Check("vm_exists", PASS, f"VM {name} exists.")


def check_security_type(facts: dict) -> Check:
    if facts["security_type"] == "ConfidentialVM":
        return Check("security_type", PASS, "The VM is a confidential VM (security type ConfidentialVM).")
    return Check("security_type", NA, f"The VM has security type {facts['security_type']}, not ConfidentialVM: "
                                      "confidential VM backup does not apply (ordinary Azure VM backup does).")


def check_size(facts: dict, families=V6_CVM_FAMILIES) -> Check:
    size = facts["size"] or "(none)"
    info = parse_size(facts["size"])
    if info and is_v6_cvm_family(info["family"], families):
        return Check("vm_size", PASS, f"Size {size} is in the supported v6 family {info['family']}.")
    if info and info["series"] == "v5":
        return Check("vm_size", FAIL, f"Size {size} (family {info['family']}): the v5 series is not supported for "
                                      f"confidential VM backup; resize to a v6 size ({', '.join(families)}).")
    family = f" (family {info['family']})" if info else ""
    return Check("vm_size", FAIL, f"Size {size}{family} is not a supported confidential VM size; "
                                  f"supported families: {', '.join(families)}.")


def check_region(facts: dict, regions=SUPPORTED_REGIONS) -> Check:
    supported = [normalize_region(r) for r in regions]
    if facts["region"] in supported:
        return Check("region", PASS, f"Region {facts['region']} supports confidential VM backup.")
    return Check("region", FAIL, f"Region {facts['region']} does not support confidential VM backup "
                                 f"(supported: {', '.join(supported)}).")


def check_os_disk_encryption(facts: dict) -> Check:
    kind = facts["encryption"]
    if kind == OS_DISK_ENCRYPTION:
        return Check("os_disk_encryption", PASS, "The OS disk has confidential encryption (DiskWithVMGuestState).")
    if kind == "VMGuestStateOnly":
        return Check("os_disk_encryption", FAIL, "Only the VM guest state is encrypted (VMGuestStateOnly): Azure Backup "
                                                 "supports only CVMs with OS disk confidential encryption (DiskWithVMGuestState).")
    return Check("os_disk_encryption", FAIL, f"OS disk security encryption type is {kind or 'not set'}: Azure Backup "
                                             "supports only CVMs with OS disk confidential encryption (DiskWithVMGuestState).")


def des_facts(des: dict) -> dict:
    """The facts of a DES (REST shape): id, name, type, and the location of its active key."""
    props = des.get("properties") or {}
    url = dig(props, "activeKey", "keyUrl")
    return {"id": des.get("id"), "name": des.get("name"), "type": props.get("encryptionType"),
            "key_url": url, "key_location": key_location(url)}


def check_key(facts: dict, des: dict | None, error: str | None = None) -> Check:
    """PMK passes; CMK needs a readable DES of type ConfidentialVmEncryptedWithCustomerKey with a Key Vault/HSM key."""
    if facts["key_type"] == "PMK":
        return Check("key", PASS, "The OS disk is encrypted with a platform-managed key (PMK).")
    des_name = name_of(facts["des_id"])
    if des is None:
        return Check("key", FAIL, f"The disk encryption set {des_name} could not be read: {error or 'not found'}.")
    info = des_facts(des)
    if info["type"] != CVM_DES_TYPE:
        return Check("key", FAIL, f"The disk encryption set {des_name} has type {info['type']}; a confidential VM "
                                  f"needs a DES of type {CVM_DES_TYPE}.")
    where = info["key_location"]
    if not where:
        return Check("key", FAIL, f"The disk encryption set {des_name} has no Key Vault or Managed HSM key "
                                  f"(keyUrl {info['key_url'] or 'missing'}).")
    store = "Managed HSM" if where["kind"] == "managed_hsm" else "Key Vault"
    version = f" version {where['key_version']}" if where["key_version"] else " (versionless)"
    return Check("key", PASS, f"Customer-managed key (CMK) through DES {des_name} ({CVM_DES_TYPE}): key "
                              f"{where['key_name']}{version} in {store} {where['vault']}.")


def check_des_threshold(facts: dict, counts: dict | None, threshold: int = DES_DISK_THRESHOLD, error: str | None = None) -> Check:
    """Key rotation can be slow or fail when more than `threshold` disks share one DES; snapshots taken outside Azure
    Backup count against the same threshold. Warn (never fail: backup itself works) when disks + snapshots exceed it."""
    if facts["key_type"] == "PMK":
        return Check("des_threshold", NA, "No disk encryption set (platform-managed key).")
    des_name = name_of(facts["des_id"])
    if counts is None:
        return Check("des_threshold", WARN, f"The resources associated with DES {des_name} could not be listed "
                                            f"({error or 'unknown error'}); the {threshold}-disk threshold was not checked.")
    disks, snaps = counts["disks"], counts["snapshots"]
    total = disks + snaps
    if total <= threshold:
        return Check("des_threshold", PASS, f"DES {des_name} has {disks} disks and {snaps} snapshots, within the "
                                            f"safe threshold of {threshold}.")
    if disks > threshold:
        return Check("des_threshold", WARN, f"DES {des_name} has {disks} disks (and {snaps} snapshots), over the safe "
                                            f"threshold of {threshold}: key rotation can be slow or fail; keep disks per "
                                            "DES to a minimum.")
    return Check("des_threshold", WARN, f"DES {des_name} has {disks} disks and {snaps} snapshots taken outside Azure "
                                        f"Backup: {total} over the safe threshold of {threshold}. The snapshots lower the "
                                        f"safe disk count to {threshold - snaps}, so key rotation can be slow or fail; "
                                        "delete the snapshots or move disks to another DES.")


def feature_state(feature: dict | None) -> str:
    return dig(feature, "properties", "state", default="NotRegistered")


def check_restore_point_feature(feature: dict | None, error: str | None = None, assume_registered: bool = False) -> Check:
    """assume_registered: a plan (check mode) in which an earlier task registers the feature counts it as registered."""
    if error:
        return Check("restore_point_feature", FAIL, f"The state of {RESTORE_POINT_FEATURE} could not be read: {error}.")
    state = feature_state(feature)
    if state == "Registered":
        return Check("restore_point_feature", PASS, f"Preview feature {RESTORE_POINT_FEATURE} is Registered.")
    if assume_registered and state != "Pending":
        return Check("restore_point_feature", PASS, f"Preview feature {RESTORE_POINT_FEATURE} is {state}; this plan counts "
                                                    "it as registered because an earlier step registers it.")
    if state in ("Registering", "Pending"):
        return Check("restore_point_feature", FAIL, f"Preview feature {RESTORE_POINT_FEATURE} is {state}: wait until it is "
                                                    "Registered, then re-register the Microsoft.Compute provider.")
    return Check("restore_point_feature", FAIL, f"Preview feature {RESTORE_POINT_FEATURE} is {state}: register it on the "
                                                "subscription, then re-register the Microsoft.Compute provider.")


def check_blocking_features(features: dict) -> Check:
    """features: {'Namespace/Name': feature dict, None (not found) or an error string}."""
    if not features:
        return Check("blocking_features", NA, "No blocking features configured (the name of the 'CVM v2 opt-out' "
                                              "flag is not documented).")
    registered = sorted(name for name, f in features.items() if isinstance(f, dict) and feature_state(f) == "Registered")
    unread = sorted(f"{name} ({f})" for name, f in features.items() if isinstance(f, str))
    if registered:
        return Check("blocking_features", FAIL, f"Blocking feature(s) registered on the subscription: {', '.join(registered)}; "
                                                "backup and restore of confidential VMs fail while they are registered.")
    if unread:
        return Check("blocking_features", FAIL, f"Blocking feature(s) could not be read: {', '.join(unread)}.")
    return Check("blocking_features", PASS, f"No blocking feature is registered ({', '.join(sorted(features))}).")


def check_vault_region(facts: dict, vault: dict | None, error: str | None = None) -> Check:
    if vault is None and not error:
        return Check("vault_region", NA, "No Recovery Services vault given.")
    if vault is None:
        return Check("vault_region", FAIL, f"The Recovery Services vault could not be read: {error}.")
    where = normalize_region(vault.get("location"))
    if where == facts["region"]:
        return Check("vault_region", PASS, f"Vault {vault.get('name')} is in the VM's region {where}.")
    return Check("vault_region", FAIL, f"Vault {vault.get('name')} is in {where}, the VM in {facts['region']}: the "
                                       "vault must be in the same region as the VM.")


def check_vault_cross_region_restore(vault: dict | None) -> Check:
    if vault is None:
        return Check("vault_cross_region_restore", NA, "No Recovery Services vault given (or it could not be read).")
    crr = dig(vault, "properties", "redundancySettings", "crossRegionRestore", default="Disabled")
    if crr == "Enabled":
        return Check("vault_cross_region_restore", WARN, f"Vault {vault.get('name')} has cross-region restore enabled: "
                                                         "cross-region restore is not supported for confidential VMs.")
    return Check("vault_cross_region_restore", PASS, f"Vault {vault.get('name')} has cross-region restore disabled.")


def check_policy(facts: dict, policy: dict | None, policy_name: str | None = None, error: str | None = None) -> Check:
    """Multi-disk crash-consistent backup is not supported: a crash-consistent-only policy fails for a VM with data disks."""
    if policy is None and not (policy_name or error):
        return Check("policy", NA, "No backup policy given.")
    if policy is None:
        return Check("policy", FAIL, f"Backup policy {policy_name} could not be read: {error or 'not found'}.")
    props = policy.get("properties") or {}
    name = policy.get("name") or policy_name
    if props.get("backupManagementType") != "AzureIaasVM":
        return Check("policy", FAIL, f"Backup policy {name} is a {props.get('backupManagementType')} policy, "
                                     "not an Azure VM (AzureIaasVM) policy.")
    if props.get("snapshotConsistencyType") == "OnlyCrashConsistent" and facts["data_disks"]:
        return Check("policy", FAIL, f"Backup policy {name} is crash-consistent only and the VM has {facts['data_disks']} "
                                     "data disk(s): multi-disk crash-consistent backup is not supported for confidential VMs.")
    return Check("policy", PASS, f"Backup policy {name} fits the VM.")


# ------------------------------------------------------------------------------------------------ verdict


def verdict(checks) -> dict:
    """{verdict, ready, blockers, warnings} of a VM from its checks."""
    blockers = [c.message for c in checks if c.status == FAIL]
    warnings = [c.message for c in checks if c.status == WARN]
    if blockers:
        result = NOT_READY
    elif any(c.name == "security_type" and c.status == NA for c in checks):
        result = NOT_APPLICABLE
    else:
        result = READY_WITH_WARNINGS if warnings else READY
    return {"verdict": result, "ready": result in (READY, READY_WITH_WARNINGS), "blockers": blockers, "warnings": warnings}


def distinct_keys(reports) -> list:
    """The distinct customer-managed keys of VM reports (of cvm_readiness_info), in first-seen order: {kind, vault,
    key_name, store_uri, vms, ready_vms}; vms and ready_vms are 'group/name' labels of the VMs that use the key."""
    keys = {}
    for report in reports:
        where = (report.get("facts") or {}).get("key_location")
        if not where:
            continue
        key = keys.setdefault((where["kind"], where["vault"].lower(), where["key_name"].lower()), {
            "kind": where["kind"], "vault": where["vault"], "key_name": where["key_name"],
            "store_uri": where.get("store_uri") or store_uri(where["key_url"]), "vms": [], "ready_vms": []})
        label = f"{report['resource_group']}/{report['name']}"
        key["vms"].append(label)
        if report.get("ready"):
            key["ready_vms"].append(label)
    return list(keys.values())


def distinct_regions(reports) -> list:
    """The regions of the VMs of reports that were read, sorted."""
    return sorted({(r.get("facts") or {}).get("region") for r in reports} - {None, ""})


def summary(reports) -> dict:
    """Counts of VM reports by verdict, plus the total."""
    out = {v: 0 for v in VERDICTS}
    for report in reports:
        out[report["verdict"]] += 1
    out["total"] = sum(out[v] for v in VERDICTS)
    return out
