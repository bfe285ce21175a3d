# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every ARM resource id and Key Vault / Managed HSM key URL of the collection: parsed, built and compared here only.

Parsing and building are azure-core's (`azure.mgmt.core.tools`: parse_resource_id, resource_id, is_valid_resource_id),
so extension and child resources keep every namespace: an Azure Local instance
`.../providers/Microsoft.HybridCompute/machines/m1/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default`
parses to namespace Microsoft.HybridCompute and child_namespace_1 Microsoft.AzureStackHCI. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from ansible_collections.azure_cvm.backup.plugins.module_utils import names

try:
    from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id, resource_id as build_id
    HAS_AZURE_CORE = True
except ImportError:  # the module base reports the missing package (azure-mgmt-core comes with every azure-mgmt SDK)
    HAS_AZURE_CORE = False

RG_NAME_RE = re.compile(r"[-\w.()]{0,89}[-\w()]")
VM_NAME_RE = re.compile(r"[A-Za-z0-9_][-\w.]{0,63}")
COMPUTE, RECOVERY_SERVICES, KEY_VAULT = "Microsoft.Compute", "Microsoft.RecoveryServices", "Microsoft.KeyVault"
VM_ID_FORM = "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"
VAULT_ID_FORM = "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.RecoveryServices/vaults/{name}"


# ------------------------------------------------------------------------------------------------ any resource id


def parse(rid) -> dict | None:
    """The parts of an ARM id as azure-core names them (subscription, resource_group, namespace, type, name,
    child_type_1, ..., resource_type, resource_name); None when `rid` is not a resource id. A trailing slash is ignored."""
    text = str(rid or "").strip().rstrip("/")
    if not text.startswith("/") or not is_valid_resource_id(text):
        return None
    return dict(parse_resource_id(text))


def name_of(rid) -> str:
    """The name of the resource an id names (the last child's name for a child resource); '' for no id."""
    parts = parse(rid)
    if parts:
        return parts.get("resource_name") or parts.get("resource_group") or parts.get("subscription") or ""
    return str(rid or "").rstrip("/").rsplit("/", 1)[-1]


def group_of(rid) -> str | None:
    return (parse(rid) or {}).get("resource_group")


def type_of(rid) -> str:
    """The type of the resource an id names, lower case ('disks', 'subnets', 'virtualmachines'); '' for no id."""
    return str((parse(rid) or {}).get("resource_type") or "").lower()


def names_by_type(rid) -> dict:
    """Each type segment of an id, lower case, mapped to its name: {'resourcegroups': 'rg', 'vaults': 'v',
    'protectioncontainers': 'c', ...}; {} when `rid` is not a resource id."""
    parts = parse(rid)
    if not parts:
        return {}
    out = {"subscriptions": parts["subscription"]}
    if "resource_group" in parts:
        out["resourcegroups"] = parts["resource_group"]
    if "type" in parts:
        out[parts["type"].lower()] = parts["name"]
    for level in range(1, (parts.get("last_child_num") or 0) + 1):
        out[parts[f"child_type_{level}"].lower()] = parts[f"child_name_{level}"]
    return out


def same(a, b) -> bool:
    """ARM ids compare without case and trailing slash (Azure echoes '/Subscriptions/' and lower-cased names)."""
    return bool(a and b) and str(a).rstrip("/").lower() == str(b).rstrip("/").lower()


def build(subscription: str, resource_group: str, namespace: str, rtype: str, name: str, **children) -> str:
    return build_id(subscription=subscription, resource_group=resource_group, namespace=namespace, type=rtype,
                    name=name, **children)


def segment(name) -> str:
    """A name as one percent-encoded request-path segment (quote(safe='')): names.py has refused '/', '?', '#', '%',
    '\\' and control characters before any request; this second net makes sure a name that slipped past it still
    names one segment and never adds a segment, a query or a fragment. Only for paths sent with m.arm / m.arm_lro (SDK
    calls encode their path parameters themselves); ids in bodies, results and comparisons stay unencoded. '', '.' and
    '..' cannot be made one segment by encoding (a dot stays a dot): ValueError."""
    text = str(name)
    if text in ("", ".", ".."):
        raise ValueError(f"'{text}' cannot be a name in a request path.")
    return quote(text, safe="")


def build_path(subscription: str, resource_group: str, namespace: str, rtype: str, name: str, **children) -> str:
    """The request path of the resource build() names, every name (subscription, group, names) one segment()."""
    quoted = {k: segment(v) if k.startswith("child_name") else v for k, v in children.items()}
    return build(segment(subscription), segment(resource_group), namespace, rtype, segment(name), **quoted)


def is_type(parts: dict | None, namespace: str, rtype: str) -> bool:
    """A top-level resource (no child) of namespace/rtype in a resource group."""
    return bool(parts) and "resource_group" in parts and not parts.get("children") \
        and str(parts.get("namespace", "")).lower() == namespace.lower() and str(parts.get("type", "")).lower() == rtype.lower()


def name_or_id(value, subscription: str, resource_group: str, provider_type: str) -> str:
    """`value` as a full resource id: kept when it is one already, else a name in `resource_group`.
    provider_type: 'Namespace/type', e.g. 'Microsoft.AzureStackHCI/galleryImages'."""
    if str(value).startswith("/subscriptions/"):
        return value
    namespace, rtype = provider_type.split("/", 1)
    return build(subscription, resource_group, namespace, rtype, value)


def resource_id(value: str, subscription_id: str, default_rg: str | None, provider_type: str, what: str) -> str:
    """A full ARM id of a `provider_type` resource ('Namespace/type') from an id or a name (resolved in `default_rg`);
    ValueError with the expected forms otherwise."""
    value = (value or "").strip().rstrip("/")
    if value.startswith("/"):
        namespace, rtype = provider_type.split("/", 1)
        parts = parse(value)
        if not parts or "resource_group" not in parts or str(parts.get("namespace", "")).lower() != namespace.lower() \
                or str(parts.get("type", "")).lower() != rtype.lower():
            raise ValueError(f"{what}: '{value}' is not a {provider_type} resource id.")
        return value
    if not value or "/" in value:
        raise ValueError(f"{what}: give a {provider_type} resource id or a name.")
    if not default_rg:
        raise ValueError(f"{what}: '{value}' is a name; give the resource id (no resource group to find it in).")
    return name_or_id(value, subscription_id, default_rg, provider_type)


def feature_namespace(feature_id: str) -> str | None:
    """'Microsoft.Compute' of a preview feature id (/subscriptions/{s}/providers/Microsoft.Features/providers/
    Microsoft.Compute/features/{name})."""
    text = str(feature_id or "")
    if "/providers/" not in text:
        return None
    parts = dict(parse_resource_id(text))
    return parts.get("name") if str(parts.get("type", "")).lower() == "providers" else None


# ------------------------------------------------------------------------------------------------ virtual machines


def vm_id(subscription_id: str, resource_group: str, name: str) -> str:
    return build(subscription_id, resource_group, COMPUTE, "virtualMachines", name)


def _check_names(text: str, resource_group: str, name: str, kind: str = "vm"):
    if names.problem("resource_group", resource_group):
        raise ValueError(f"'{names.shown(text)}': '{names.shown(resource_group)}' is not a valid resource group name.")
    if names.problem(kind, name):
        raise ValueError(f"'{names.shown(text)}': '{names.shown(name)}' is not a valid {names.WHAT[kind]}.")


def parse_vm_id(rid: str) -> dict:
    """{subscription_id, resource_group, name} of a VM resource id; ValueError with the expected form otherwise."""
    parts = parse(rid)
    if not is_type(parts, COMPUTE, "virtualMachines"):
        raise ValueError(f"'{rid}' is not a virtual machine resource id; expected {VM_ID_FORM}.")
    _check_names(rid, parts["resource_group"], parts["name"])
    return {"subscription_id": parts["subscription"], "resource_group": parts["resource_group"], "name": parts["name"]}


def parse_vm_target(item, subscription_id: str) -> dict:
    """A `vms` item (resource id, 'group/name' or {resource_group, name}) as {subscription_id, resource_group, name}."""
    if isinstance(item, dict):
        unknown = set(item) - {"resource_group", "name"}
        if unknown or not item.get("resource_group") or not item.get("name"):
            raise ValueError(f"{item!r} is not a VM reference; a dict needs exactly the keys resource_group and name.")
        text, rg, name = f"{item['resource_group']}/{item['name']}", str(item["resource_group"]), str(item["name"])
    elif isinstance(item, str) and item.strip().startswith("/"):
        return parse_vm_id(item)
    elif isinstance(item, str) and item.count("/") == 1:
        text = item.strip()
        rg, name = text.split("/")
    else:
        raise ValueError(f"{item!r} is not a VM reference; use a resource id ({VM_ID_FORM}), 'group/name' "
                         "or {resource_group, name}.")
    _check_names(text, rg, name)
    return {"subscription_id": subscription_id, "resource_group": rg, "name": name}


# ------------------------------------------------------------------------------------------------ vaults and policies


def parse_vault(value, subscription_id: str) -> dict:
    """{subscription_id, resource_group, name} of a `vault` option: a vault resource id (its own subscription) or
    {name, resource_group} (in `subscription_id`); ValueError with both forms otherwise."""
    if isinstance(value, dict) and set(value) == {"name", "resource_group"} and all(value.values()):
        ref = {"subscription_id": subscription_id, "resource_group": str(value["resource_group"]), "name": str(value["name"])}
    elif isinstance(value, str) and value.strip().startswith("/subscriptions/") and is_type(parse(value), RECOVERY_SERVICES, "vaults"):
        parts = parse(value)
        ref = {"subscription_id": parts["subscription"], "resource_group": parts["resource_group"], "name": parts["name"]}
    else:
        ref = None
    if ref:
        _check_names(f"vault {value}", ref["resource_group"], ref["name"], "vault")
        names.check("segment", ref["subscription_id"], f"vault {value}: subscription")
        return ref
    raise ValueError(f"vault: {value!r} is not a Recovery Services vault; use a resource id ({VAULT_ID_FORM}) or "
                     "{name, resource_group}.")


def parse_vault_ref(value, subscription_id: str) -> dict:
    """parse_vault, kept to the module's subscription (its SDK clients work in one)."""
    ref = parse_vault(value, subscription_id)
    if ref["subscription_id"].lower() != subscription_id.lower():
        raise ValueError(f"vault {value} is in subscription {ref['subscription_id']}, but the module works in "
                         f"subscription {subscription_id}: set subscription_id.")
    return {**ref, "subscription_id": subscription_id}


def vault_id(ref: dict) -> str:
    return build(ref["subscription_id"], ref["resource_group"], RECOVERY_SERVICES, "vaults", ref["name"])


def policy_id(ref: dict, policy_name: str) -> str:
    return build(ref["subscription_id"], ref["resource_group"], RECOVERY_SERVICES, "vaults", ref["name"],
                 child_type_1="backupPolicies", child_name_1=policy_name)


def vault_path(ref: dict) -> str:
    """The request path of the vault (vault_id with every name one segment)."""
    return build_path(ref["subscription_id"], ref["resource_group"], RECOVERY_SERVICES, "vaults", ref["name"])


def policy_path(ref: dict, policy_name: str) -> str:
    return build_path(ref["subscription_id"], ref["resource_group"], RECOVERY_SERVICES, "vaults", ref["name"],
                      child_type_1="backupPolicies", child_name_1=policy_name)


# ------------------------------------------------------------------------------------------------ key stores and keys


def parse_key_store_id(rid: str, rtype: str) -> dict:
    """{'name', 'resource_group', 'subscription_id'} of a Microsoft.KeyVault/{rtype} resource id, or ValueError."""
    parts = parse(rid)
    if not is_type(parts, KEY_VAULT, rtype):
        raise ValueError(f"'{rid}' is not a {rtype} resource id (/subscriptions/<id>/resourceGroups/<group>"
                         f"/providers/Microsoft.KeyVault/{rtype}/<name>).")
    _check_names(rid, parts["resource_group"], parts["name"], "key_vault")
    return {"name": parts["name"], "resource_group": parts["resource_group"], "subscription_id": parts["subscription"]}


def key_location(key_url: str) -> dict | None:
    """Where a key lives, from its URL: {kind: key_vault | managed_hsm, vault, key_name, key_version, key_url}.
    None when the URL is not a Key Vault or Managed HSM key URL. A versionless URL gives key_version None."""
    parts = urlsplit(key_url or "")
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme != "https" or len(segments) not in (2, 3) or segments[0] != "keys":
        return None
    if ".managedhsm." in host:
        kind = "managed_hsm"
    elif ".vault." in host:
        kind = "key_vault"
    else:
        return None
    return {"kind": kind, "vault": host.split(".")[0], "key_name": segments[1],
            "key_version": segments[2] if len(segments) == 3 else None, "key_url": key_url}


def store_uri(url: str) -> str:
    """'https://hsm1.managedhsm.azure.net/' of a key URL or key store URI (scheme and host, with a slash)."""
    parts = urlsplit(str(url or ""))
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else ""


def store_name(uri: str) -> str:
    """'hsm1' of a key store URI https://hsm1.managedhsm.azure.net/ (or of a vault URI)."""
    return (urlsplit(str(uri or "")).hostname or "").split(".")[0]
