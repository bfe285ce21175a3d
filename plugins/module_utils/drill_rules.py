# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a restore drill on REST dicts: which resources of the drill resource group are the drill's (by
its tag), in which order they are deleted, and what a restored disk or VM shows of its confidential encryption.
No SDK, no HTTP."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids

DRILL_TAG = "azure_cvm_drill_id"
# Deleted in this order: a VM first (Azure refuses to delete a disk or NIC a VM still uses), then what it used.
DELETE_ORDER = ("microsoft.compute/virtualmachines", "microsoft.network/networkinterfaces", "microsoft.compute/disks")
TAG_VALUE_MAX = 256  # Azure: a tag value has at most 256 characters (azure-resource-manager/management/tag-resources)


def drill_id_problem(drill_id) -> str | None:
    if not isinstance(drill_id, str) or not drill_id.strip():
        return "drill_id must be a non-empty string."
    if len(drill_id) > TAG_VALUE_MAX or any(c in drill_id for c in "<>%&\\?/") or not drill_id.isprintable():
        return (f"drill_id must be at most {TAG_VALUE_MAX} printable characters without <, >, %, &, \\, ? or / "
                "(it becomes a tag value).")
    return None


def is_drills(resource: dict, drill_id: str) -> bool:
    """The resource carries the drill's tag with exactly this drill's id."""
    return (resource.get("tags") or {}).get(DRILL_TAG) == drill_id


def deletion_plan(resources: list, drill_id: str) -> dict:
    """{delete: ids in deletion order, kept: ids that are not this drill's, unsupported: the drill's resources of a type
    the drill never creates (left, with a note)}."""
    mine = [r for r in resources if is_drills(r, drill_id)]
    order = {t: i for i, t in enumerate(DELETE_ORDER)}
    delete = sorted((r for r in mine if str(r.get("type", "")).lower() in order),
                    key=lambda r: order[str(r["type"]).lower()])
    return {"delete": [r["id"] for r in delete],
            "kept": [r["id"] for r in resources if not is_drills(r, drill_id)],
            "unsupported": [r["id"] for r in mine if str(r.get("type", "")).lower() not in order]}


def group_is_drills(group: dict | None, drill_id: str) -> bool:
    """The drill created the resource group (it tags the group at creation)."""
    return bool(group) and is_drills(group, drill_id)


def outside_group(ids: list, group: str) -> list:
    return [rid for rid in ids if (arm_ids.group_of(rid) or "").lower() != group.lower()]


def disk_facts(disk: dict) -> dict:
    """What a managed disk shows of its encryption: security type and the DES (the confidential one, else the at-rest one)."""
    props = disk.get("properties") or {}
    profile = props.get("securityProfile") or {}
    encryption = props.get("encryption") or {}
    security_type = profile.get("securityType")
    return {"id": disk.get("id"), "name": disk.get("name"), "security_type": security_type,
            "confidential": str(security_type or "").startswith("ConfidentialVM"),
            "disk_encryption_set_id": profile.get("secureVMDiskEncryptionSetId") or encryption.get("diskEncryptionSetId"),
            "encryption_type": encryption.get("type"), "os_type": props.get("osType"), "tags": disk.get("tags") or {}}


def vm_facts(vm: dict) -> dict:
    """What a VM shows of its security profile (ConfidentialVM, vTPM, secure boot)."""
    profile = (vm.get("properties") or {}).get("securityProfile") or {}
    uefi = profile.get("uefiSettings") or {}
    return {"id": vm.get("id"), "name": vm.get("name"), "security_type": profile.get("securityType"),
            "vtpm": bool(uefi.get("vTpmEnabled")), "secure_boot": bool(uefi.get("secureBootEnabled")),
            "tags": vm.get("tags") or {}}


def vm_nic_ids(vm: dict | None) -> list:
    """The network interfaces a VM names (networkProfile.networkInterfaces[].id)."""
    refs = ((vm or {}).get("properties") or {}).get("networkProfile", {}).get("networkInterfaces") or []
    return [ref["id"] for ref in refs if ref.get("id")]
