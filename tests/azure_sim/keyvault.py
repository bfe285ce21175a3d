"""Family keyvault of the local Azure: Microsoft.KeyVault vaults and managedHSMs (ARM), the vault and HSM data planes
(challenge auth, keys, Managed HSM local RBAC) and Microsoft.Authorization role assignments at vault scope.

Vaults and HSMs are ARM resources in the store; keys and HSM local RBAC live in `sim.ext["keyvault"]`:
    {"vaults": {name: {"id", "keys"}}, "hsms": {name: {"id", "keys", "role_definitions", "role_assignments"}}}
with keys as {key name lower: {"name", "versions": [oldest .. newest]}}.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import re
import uuid
from urllib.parse import urlsplit

from .framework import (ARM_HOST, HSM_HOST_RE, LOGIN_HOST, ROUTER, VAULT_HOST_RE, Response, SimError, arm_id, bearer,
                        iso, new_guid, page, seeder)
from .resources import arm_call, require_resource, require_rg, resource_groups, resource_not_found

ARM = ARM_HOST.replace(".", r"\.")
RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
SUB = r"/subscriptions/(?P<sub>[^/]+)"
KV = "Microsoft.KeyVault"
VAULT_RESOURCE = "https://vault.azure.net"
HSM_RESOURCE = "https://managedhsm.azure.net"
VAULT_HOST = VAULT_HOST_RE.pattern
HSM_HOST = HSM_HOST_RE.pattern
HSM_RA = "Microsoft.KeyVault/managedHsm/roleAssignments"
HSM_RD = "Microsoft.KeyVault/managedHsm/roleDefinitions"
HSM_KEYS = "Microsoft.KeyVault/managedHsm/keys"
KEY_PERMISSIONS = {"all", "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify", "get", "list", "create", "update",
                   "import", "delete", "backup", "restore", "recover", "purge", "release", "rotate", "getrotationpolicy",
                   "setrotationpolicy"}
SECRET_PERMISSIONS = {"all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge"}


def state(sim) -> dict:
    return sim.ext.setdefault("keyvault", {"vaults": {}, "hsms": {}})


# ================================================================================================ role tables

# Azure RBAC built-in roles for RBAC-mode vaults: ids and dataActions of Administrator, Crypto Officer, Crypto Service
# Encryption User and Crypto User as published in "Azure built-in roles for Security" (MicrosoftDocs/azure-docs
# articles/role-based-access-control/built-in-roles/security.md, the role JSON of each; commit 03e5750); Reader and
# the Secrets roles abridged from the same page. There is no "Key Vault Backup Operator" built-in role (not on that
# page). Assignments at a key's scope ('{vault id}/keys/{key}') are the per-key assignments of rbac-guide.md ("Azure
# RBAC for key vault also allows users to have separate permissions on individual keys").
KV_ROLES = {
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": ("Key Vault Administrator", ["Microsoft.KeyVault/vaults/*"]),
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": ("Key Vault Crypto Officer", ["Microsoft.KeyVault/vaults/keys/*",
                                                                          "Microsoft.KeyVault/vaults/keyrotationpolicies/*"]),
    "12338af0-0e69-4776-bea7-57ae8d297424": ("Key Vault Crypto User", [
        "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action",
        "Microsoft.KeyVault/vaults/keys/backup/action", "Microsoft.KeyVault/vaults/keys/encrypt/action",
        "Microsoft.KeyVault/vaults/keys/decrypt/action", "Microsoft.KeyVault/vaults/keys/wrap/action",
        "Microsoft.KeyVault/vaults/keys/unwrap/action", "Microsoft.KeyVault/vaults/keys/sign/action",
        "Microsoft.KeyVault/vaults/keys/verify/action"]),
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": ("Key Vault Crypto Service Encryption User", [
        "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
        "Microsoft.KeyVault/vaults/keys/unwrap/action"]),
    "21090545-7ca7-4776-b22c-e363652d74d2": ("Key Vault Reader", ["Microsoft.KeyVault/vaults/*/read",
                                                                  "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "4633458b-17de-408a-b874-0445c86b69e6": ("Key Vault Secrets User", ["Microsoft.KeyVault/vaults/secrets/getSecret/action",
                                                                        "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": ("Key Vault Secrets Officer", ["Microsoft.KeyVault/vaults/secrets/*"]),
}

# Managed HSM local RBAC built-in roles: ids from built-in-roles.md (wire notes §3b); dataActions of Crypto User from
# the doc table, the others abridged from the same page (UNVERIFIED in detail).
_RA_ALL = [f"{HSM_RA}/read/action", f"{HSM_RA}/write/action", f"{HSM_RA}/delete/action"]
_RD_ALL = [f"{HSM_RD}/read/action", f"{HSM_RD}/write/action", f"{HSM_RD}/delete/action"]
_READ_RBAC = [f"{HSM_RA}/read/action", f"{HSM_RD}/read/action"]
HSM_ROLES = {
    "a290e904-7015-4bba-90c8-60543313cdb4": ("Managed HSM Administrator", _RA_ALL + _RD_ALL + [
        "Microsoft.KeyVault/managedHsm/securitydomain/download/action", "Microsoft.KeyVault/managedHsm/securitydomain/upload/action",
        "Microsoft.KeyVault/managedHsm/securitydomain/upload/read", "Microsoft.KeyVault/managedHsm/securitydomain/download/read",
        "Microsoft.KeyVault/managedHsm/backup/start/action", "Microsoft.KeyVault/managedHsm/restore/start/action",
        "Microsoft.KeyVault/managedHsm/backup/status/action", "Microsoft.KeyVault/managedHsm/restore/status/action"]),
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": ("Managed HSM Crypto Officer", _RA_ALL + [f"{HSM_RD}/read/action"] + [
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/deletedKeys/read/action", f"{HSM_KEYS}/deletedKeys/delete",
        "Microsoft.KeyVault/managedHsm/securitydomain/download/read", "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read"]),
    "21dbd100-6940-42c2-9190-5d6cb909625b": ("Managed HSM Crypto User", _READ_RBAC + [
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/write/action", f"{HSM_KEYS}/rotate/action", f"{HSM_KEYS}/create",
        f"{HSM_KEYS}/delete", f"{HSM_KEYS}/backup/action", f"{HSM_KEYS}/restore/action", f"{HSM_KEYS}/release/action",
        f"{HSM_KEYS}/import/action", f"{HSM_KEYS}/encrypt/action", f"{HSM_KEYS}/decrypt/action", f"{HSM_KEYS}/wrap/action",
        f"{HSM_KEYS}/unwrap/action", f"{HSM_KEYS}/sign/action", f"{HSM_KEYS}/verify/action", f"{HSM_KEYS}/deletedKeys/read/action"]),
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": ("Managed HSM Policy Administrator", _RA_ALL + _RD_ALL),
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": ("Managed HSM Crypto Auditor", _READ_RBAC + [
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/deletedKeys/read/action",
        "Microsoft.KeyVault/managedHsm/securitydomain/download/read", "Microsoft.KeyVault/managedHsm/securitydomain/upload/read"]),
    "33413926-3206-4cdd-b39a-83574fe37a17": ("Managed HSM Crypto Service Encryption User", [
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/wrap/action", f"{HSM_KEYS}/unwrap/action"]),
    "21dbd100-6940-42c2-9190-5d6cb909625c": ("Managed HSM Crypto Service Release User", [
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/release/action"]),
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": ("Managed HSM Backup", [
        "Microsoft.KeyVault/managedHsm/backup/start/action", "Microsoft.KeyVault/managedHsm/backup/status/action",
        f"{HSM_KEYS}/read/action", f"{HSM_KEYS}/backup/action"]),
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": ("Managed HSM Restore", [
        "Microsoft.KeyVault/managedHsm/restore/start/action", "Microsoft.KeyVault/managedHsm/restore/status/action",
        f"{HSM_KEYS}/restore/action"]),
}
HSM_ROLE_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"


def allows(patterns, action: str) -> bool:
    action = action.lower()
    return any(fnmatch.fnmatchcase(action, p.lower()) for p in patterns)


def guid_of(reference: str) -> str:
    """The role-definition guid at the end of any of the id forms clients send."""
    return reference.rstrip("/").rsplit("/", 1)[-1].lower()


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def name_of_role(table: dict, role: str) -> str:
    """A role given by name or id in a scenario -> its id."""
    for rid, (name, actions) in table.items():
        if role.lower() in (rid, name.lower()):
            return rid
    raise ValueError(f"unknown built-in role {role!r}")


# ================================================================================================ keys


def key_table(keys: list, now: int | None = None) -> dict:
    """Scenario keys: {name, version | versions, enabled (true), expires_in_days (none: no expiry; negative: expired)}.
    `enabled` and `exp` are KeyAttributes of the Key Vault data-plane spec (keyvault/data-plane/Microsoft.KeyVault
    stable/7.4 and 7.5 keys.json, definition KeyAttributes/Attributes: "enabled: Determines whether the object is
    enabled", "exp: Expiry date in UTC", integer unix time; Managed HSM keys share the definition)."""
    table = {}
    for key in keys or []:
        versions = list(key.get("versions") or [key.get("version") or uuid.uuid4().hex])
        attrs = {}
        if key.get("enabled") is False:
            attrs["enabled"] = False
        if key.get("expires_in_days") is not None:
            attrs["exp"] = int(now if now is not None else 1767225600) + int(float(key["expires_in_days"]) * 86400)
        table[key["name"].lower()] = {"name": key["name"], "versions": versions, "attributes": attrs}
    return table


def parse_key_url(key_url: str) -> tuple[str, str, str, str | None]:
    """'https://v.vault.azure.net/keys/k/ver' -> ('vaults'|'hsms', store name, key name, version or None)."""
    parts = urlsplit(key_url)
    host = (parts.hostname or "").lower()
    segs = [s for s in parts.path.split("/") if s]
    if len(segs) < 2 or segs[0].lower() != "keys":
        raise ValueError(f"not a key URL: {key_url}")
    for kind, regex in (("vaults", VAULT_HOST_RE), ("hsms", HSM_HOST_RE)):
        match = regex.fullmatch(host)
        if match:
            return kind, match.group(1), segs[1], segs[2] if len(segs) > 2 else None
    raise ValueError(f"not a Key Vault or Managed HSM key URL: {key_url}")


def find_key(sim, kind: str, store_name: str, key: str, version: str | None = None) -> dict | None:
    holder = state(sim)[kind].get(store_name.lower())
    entry = holder and holder["keys"].get(key.lower())
    if not entry or (version and version not in entry["versions"]):
        return None
    return entry


def key_exists(sim, key_url: str) -> bool:
    try:
        return find_key(sim, *parse_key_url(key_url)) is not None
    except ValueError:
        return False


def key_base_url(kind: str, name: str) -> str:
    return f"https://{name}.vault.azure.net" if kind == "vaults" else f"https://{name}.managedhsm.azure.net"


def key_url_for(sim, sub: str, *, key_vault: str | None = None, managed_hsm: str | None = None, name: str) -> tuple[str, str | None]:
    """(versioned key URL, source vault id or None) of a seeded key, found by vault/HSM name in the subscription."""
    kind, holder_name = ("vaults", key_vault) if key_vault else ("hsms", managed_hsm)
    holder = state(sim)[kind].get((holder_name or "").lower())
    if not holder or parse_sub(holder["id"]) != sub.lower():
        raise ValueError(f"scenario error: no {kind[:-1]} named {holder_name!r} in subscription {sub}")
    entry = holder["keys"].get(name.lower())
    if not entry:
        raise ValueError(f"scenario error: no key {name!r} in {holder_name!r}")
    url = f"{key_base_url(kind, holder['name'])}/keys/{entry['name']}/{entry['versions'][-1]}"
    return url, holder["id"] if kind == "vaults" else None


def parse_sub(rid: str) -> str:
    return rid.split("/")[2].lower()


def key_bundle(base: str, name: str, version: str, hsm: bool, attributes: dict | None = None) -> dict:
    """A KeyBundle; `attributes` (enabled, exp) from the scenario override the defaults (see key_table)."""
    kid = f"{base}/keys/{name}/{version}"
    modulus = b"".join(hashlib.sha256(f"{kid}#{i}".encode()).digest() for i in range(8))  # 2048 bits, stable
    created = 1767225600  # 2026-01-01T00:00:00Z
    return {"key": {"kid": kid, "kty": "RSA-HSM", "key_ops": ["wrapKey", "unwrapKey", "encrypt", "decrypt"],
                    "n": base64.urlsafe_b64encode(modulus).rstrip(b"=").decode(), "e": "AQAB"},
            "attributes": {"enabled": True, "exportable": True, "created": created, "updated": created,
                           "recoveryLevel": "Recoverable", "recoverableDays": 90, **(attributes or {})},
            "tags": {}, **({"managed": False} if hsm else {})}


# ================================================================================================ ARM: vaults + HSMs


def vault_body(sim, sub: str, rg: str, location: str, spec: dict) -> dict:
    name = spec["name"]
    return {"id": arm_id(sub, rg, KV, "vaults", name), "name": name, "type": "Microsoft.KeyVault/vaults", "location": location,
            "tags": {}, "systemData": {"createdBy": "ansible-ops", "createdByType": "Application", "createdAt": iso(sim.now()),
                                       "lastModifiedBy": "ansible-ops", "lastModifiedByType": "Application",
                                       "lastModifiedAt": iso(sim.now())},
            "properties": {"sku": {"family": "A", "name": spec.get("sku", "premium")}, "tenantId": sim.tenant_id,
                           "accessPolicies": [seed_policy(sim, p) for p in spec.get("access_policies") or []],
                           "enabledForDeployment": False, "enabledForDiskEncryption": True,
                           "enabledForTemplateDeployment": False, "enableSoftDelete": True, "softDeleteRetentionInDays": 90,
                           "enableRbacAuthorization": bool(spec.get("rbac")), "enablePurgeProtection": True,
                           "vaultUri": f"https://{name}.vault.azure.net/", "provisioningState": "Succeeded",
                           "publicNetworkAccess": "Enabled"}}


def seed_policy(sim, spec: dict) -> dict:
    perms = {kind: list(spec.get(kind) or []) for kind in ("keys", "secrets", "certificates")}
    return {"tenantId": sim.tenant_id, "objectId": spec["object_id"], "permissions": perms}


def hsm_body(sim, sub: str, rg: str, location: str, spec: dict) -> dict:
    name = spec["name"]
    return {"id": arm_id(sub, rg, KV, "managedHSMs", name), "name": name, "type": "Microsoft.KeyVault/managedHSMs",
            "location": location, "sku": {"family": "B", "name": "Standard_B1"}, "tags": {},
            "properties": {"tenantId": sim.tenant_id, "initialAdminObjectIds": list(spec.get("admins") or []),
                           "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enablePurgeProtection": True,
                           "hsmUri": f"https://{name}.managedhsm.azure.net/", "provisioningState": "Succeeded",
                           "statusMessage": "ManagedHsm is functional.", "publicNetworkAccess": "Enabled",
                           "securityDomainProperties": {"activationStatus": "Active", "activationStatusMessage": HSM_ACTIVE}}}


HSM_ACTIVE = "Your HSM has been activated and can be used for cryptographic operations."


def list_in_rg(sim, sub: str, rg: str, rtype: str) -> list[dict]:
    return sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{KV}", rtype)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.KeyVault/(?P<rtype>vaults|managedHSMs)/(?P<name>[^/]+)")
def get_kv_resource(sim, req, sub, rg, rtype, name):
    arm_call(sim, req, sub)
    return require_resource(sim, sub, rg, KV, canonical_type(rtype), name)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.KeyVault/(?P<rtype>vaults|managedHSMs)")
def list_kv_rg(sim, req, sub, rg, rtype):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, list_in_rg(sim, sub, rg, canonical_type(rtype)))


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.KeyVault/(?P<rtype>vaults|managedHSMs)")
def list_kv_sub(sim, req, sub, rtype):
    arm_call(sim, req, sub)
    items = [i for g in resource_groups(sim, sub) for i in list_in_rg(sim, sub, g["name"], canonical_type(rtype))]
    return page(sim, req, items)


def arm_hsm_key(sub: str, rg: str, hsm: str, holder: dict, entry: dict) -> dict:
    """A Managed HSM key as the management plane shows it (Microsoft.KeyVault/managedHSMs/keys)."""
    bundle = key_bundle(key_base_url("hsms", holder["name"]), entry["name"], entry["versions"][-1], True, entry.get("attributes"))
    attrs = bundle["attributes"]
    return {"id": arm_id(sub, rg, KV, "managedHSMs", hsm, "keys", entry["name"]), "name": entry["name"],
            "type": "Microsoft.KeyVault/managedHSMs/keys",
            "properties": {"attributes": {"enabled": attrs["enabled"], "created": attrs["created"], "updated": attrs["updated"],
                                          "recoveryLevel": attrs["recoveryLevel"], "exportable": attrs["exportable"],
                                          **({"exp": attrs["exp"]} if "exp" in attrs else {})},
                           "kty": "RSA-HSM", "keyOps": bundle["key"]["key_ops"], "keySize": 2048,
                           "keyUri": f"{key_base_url('hsms', holder['name'])}/keys/{entry['name']}",
                           "keyUriWithVersion": bundle["key"]["kid"]}}


# The management-plane read of HSM keys needs Azure RBAC on the HSM resource (not modelled: any signed-in caller),
# not the HSM's local RBAC: a principal that may manage role assignments but not read keys can still check a key exists.
@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.KeyVault/managedHSMs/(?P<hsm>[^/]+)/keys/(?P<key>[^/]+)")
def get_arm_hsm_key(sim, req, sub, rg, hsm, key):
    arm_call(sim, req, sub)
    require_resource(sim, sub, rg, KV, "managedHSMs", hsm)
    holder = hsm_holder(sim, hsm)
    entry = holder["keys"].get(key.lower())
    if entry is None:  # code and text UNVERIFIED
        raise SimError(404, "NotFound", f"The key '{key}' was not found in the managed HSM '{hsm}'.")
    return arm_hsm_key(sub, rg, hsm, holder, entry)


@ROUTER.route("GET", ARM, RG + r"/providers/Microsoft\.KeyVault/managedHSMs/(?P<hsm>[^/]+)/keys")
def list_arm_hsm_keys(sim, req, sub, rg, hsm):
    arm_call(sim, req, sub)
    require_resource(sim, sub, rg, KV, "managedHSMs", hsm)
    holder = hsm_holder(sim, hsm)
    return page(sim, req, [arm_hsm_key(sub, rg, hsm, holder, entry) for entry in holder["keys"].values()])


def canonical_type(rtype: str) -> str:
    return "vaults" if rtype.lower() == "vaults" else "managedHSMs"


@ROUTER.route("PUT", ARM, RG + r"/providers/Microsoft\.KeyVault/vaults/(?P<name>[^/]+)/accessPolicies/(?P<kind>[^/]+)")
def update_access_policies(sim, req, sub, rg, name, kind):
    arm_call(sim, req, sub)
    vault = require_resource(sim, sub, rg, KV, "vaults", name)
    kind = kind.lower()
    if kind not in ("add", "replace", "remove"):
        raise SimError(400, "BadRequest", f"The operation kind '{kind}' is invalid. Valid values are add, replace, remove.")
    incoming = (req.json().get("properties") or {}).get("accessPolicies")
    if not isinstance(incoming, list):
        raise SimError(400, "BadRequest", "The parameter accessPolicies is required.")
    incoming = [normalize_policy(sim, p, i) for i, p in enumerate(incoming)]
    policies = vault["properties"]["accessPolicies"]
    for policy in incoming:
        apply_policy(policies, policy, kind)
    return {"id": vault["id"] + "/accessPolicies/", "type": "Microsoft.KeyVault/vaults/accessPolicies",
            "properties": {"accessPolicies": incoming}}


def normalize_policy(sim, policy: dict, index: int) -> dict:
    if not isinstance(policy, dict) or not policy.get("objectId"):
        raise SimError(400, "BadRequest", f"The parameter accessPolicies[{index}].objectId is required.")
    perms = policy.get("permissions") or {}
    for kind, allowed in (("keys", KEY_PERMISSIONS), ("secrets", SECRET_PERMISSIONS)):
        for j, value in enumerate(perms.get(kind) or []):
            if str(value).lower() not in allowed:
                raise SimError(400, "BadRequest",
                               f"Invalid value found at accessPolicies[{index}].permissions.{kind}[{j}]: {value}")
    out = {"tenantId": policy.get("tenantId") or sim.tenant_id, "objectId": policy["objectId"],
           "permissions": {k: list(v) for k, v in perms.items() if v is not None}}
    if policy.get("applicationId"):
        out["applicationId"] = policy["applicationId"]
    return out


def policy_key(policy: dict) -> tuple:
    return policy["objectId"].lower(), (policy.get("applicationId") or "").lower()


def apply_policy(policies: list, policy: dict, kind: str):
    """add: union of permissions per identity; replace: the identity's entry becomes this one; remove: drop the listed
    permissions (and the entry once it holds none)."""
    current = next((p for p in policies if policy_key(p) == policy_key(policy)), None)
    if kind == "replace" or (kind == "add" and current is None):
        if current is not None:
            policies.remove(current)
        if kind == "replace" or any(policy["permissions"].values()):
            policies.append(copy.deepcopy(policy))
        return
    if current is None:
        return
    for perm_kind, values in policy["permissions"].items():
        have = current["permissions"].setdefault(perm_kind, [])
        if kind == "add":
            have.extend(v for v in values if v.lower() not in {h.lower() for h in have})
        else:
            remove = {v.lower() for v in values}
            current["permissions"][perm_kind] = [h for h in have if h.lower() not in remove]
    if kind == "remove" and not any(current["permissions"].values()):
        policies.remove(current)


# ================================================================================================ Microsoft.Authorization (vault scope)

VAULT_SCOPE = RG + r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[^/]+)(?P<keypath>/keys/[^/]+)?"
SCOPE_ANY = SUB + r"(?:/resourceGroups/[^/]+(?:/providers/[^/]+/[^/]+/[^/]+(?:/keys/[^/]+)?)?)?"


def arm_role_definition(sub: str, rid: str) -> dict:
    name, actions = KV_ROLES[rid]
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{rid}", "name": rid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": name, "type": "BuiltInRole", "description": f"{name} (built-in role)",
                           "assignableScopes": ["/"],
                           "permissions": [{"actions": [], "notActions": [], "dataActions": actions, "notDataActions": []}],
                           "createdOn": "2020-05-19T17:52:46.2349235Z", "updatedOn": "2024-01-10T00:00:00.0000000Z",
                           "createdBy": None, "updatedBy": None}}


@ROUTER.route("GET", ARM, r"(?P<scope>" + SCOPE_ANY + r")/providers/Microsoft\.Authorization/roleDefinitions")
def list_arm_role_definitions(sim, req, scope, sub):
    arm_call(sim, req, sub)
    wanted = re.search(r"roleName\s+eq\s+'([^']*)'", req.q("$filter", "") or "", re.I)
    rids = [r for r, (n, actions) in KV_ROLES.items() if not wanted or n.lower() == wanted.group(1).lower()]
    return page(sim, req, [arm_role_definition(sub, r) for r in rids])


@ROUTER.route("GET", ARM, r"(?P<scope>" + SCOPE_ANY + r")/providers/Microsoft\.Authorization/roleDefinitions/(?P<rid>[^/]+)")
def get_arm_role_definition(sim, req, scope, sub, rid):
    arm_call(sim, req, sub)
    if rid.lower() not in KV_ROLES:
        raise SimError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{rid}' does not exist.")
    return arm_role_definition(sub, rid.lower())


def vault_scope(sim, sub, rg, vault, keypath) -> str:
    scope = require_resource(sim, sub, rg, KV, "vaults", vault)["id"] + (keypath or "")
    if keypath and not find_key(sim, "vaults", vault, keypath.rsplit("/", 1)[-1]):
        raise resource_not_found(f"{KV}/vaults/keys", f"{vault}/{keypath.rsplit('/', 1)[-1]}", rg)
    return scope


def vault_assignments(sim, scope: str) -> list[dict]:
    return sim.store.children(scope + "/providers/Microsoft.Authorization", "roleAssignments")


# Listing role assignments (RoleAssignments_ListForScope / _ListForSubscription / _ListForResourceGroup, specification/
# authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json):
# without a filter, or with "principalId eq '{id}'", the assignments at, above and below the scope; "atScope()" only
# those at or above it; "assignedTo('{id}')" those of the principal at, above or below (groups are not modelled here).
def scope_related(assigned: str, scope: str, below: bool) -> bool:
    assigned, scope = assigned.lower().rstrip("/"), scope.lower().rstrip("/")
    above_or_at = scope == assigned or scope.startswith(assigned + "/")
    return above_or_at or (below and assigned.startswith(scope + "/"))


def assignments_for(sim, req, scope: str) -> list[dict]:
    text = (req.q("$filter") or "").strip()
    principal = re.fullmatch(r"(?:principalId\s+eq\s+'([^']*)'|assignedTo\('([^']*)'\))", text, re.I)
    if text and not principal and text.lower() != "atscope()":  # the service's code for other filters: UNVERIFIED
        raise SimError(400, "InvalidFilter", f"The filter '{text}' is not supported.")
    below = text.lower() != "atscope()"
    items = sim.store.find(lambda r: r.get("type") == "Microsoft.Authorization/roleAssignments" and r["id"].startswith("/subscriptions/")
                           and scope_related(r["properties"]["scope"], scope, below))
    if principal:
        wanted = (principal.group(1) or principal.group(2)).lower()
        items = [a for a in items if a["properties"]["principalId"].lower() == wanted]
    return items


@ROUTER.route("GET", ARM, VAULT_SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments")
def list_vault_assignments(sim, req, sub, rg, vault, keypath):
    arm_call(sim, req, sub)
    return page(sim, req, assignments_for(sim, req, vault_scope(sim, sub, rg, vault, keypath)))


@ROUTER.route("GET", ARM, SUB + r"(?:/resourceGroups/(?P<rg>[^/]+))?/providers/Microsoft\.Authorization/roleAssignments")
def list_assignments_sub_rg(sim, req, sub, rg=None):
    arm_call(sim, req, sub)
    scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{require_rg(sim, sub, rg)['name']}" if rg else "")
    return page(sim, req, assignments_for(sim, req, scope))


@ROUTER.route("GET", ARM, VAULT_SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)")
def get_vault_assignment(sim, req, sub, rg, vault, keypath, name):
    arm_call(sim, req, sub)
    scope = vault_scope(sim, sub, rg, vault, keypath)
    item = sim.store.get(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
    if item is None:
        raise SimError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
    return item


@ROUTER.route("PUT", ARM, VAULT_SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)")
def put_vault_assignment(sim, req, sub, rg, vault, keypath, name):
    arm_call(sim, req, sub)
    scope = vault_scope(sim, sub, rg, vault, keypath)
    props = req.json().get("properties") or {}
    rid, principal = guid_of(props.get("roleDefinitionId") or ""), props.get("principalId") or ""
    if rid not in KV_ROLES:
        raise SimError(400, "RoleDefinitionDoesNotExist",
                       f"The specified role definition with ID '{rid}' does not exist.")
    if not is_guid(principal):
        raise SimError(400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment.")
    if not is_guid(name):
        raise SimError(400, "InvalidRoleAssignmentId",
                       f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.")
    rid_full = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{rid}"
    same = [a for a in vault_assignments(sim, scope) if guid_of(a["properties"]["roleDefinitionId"]) == rid
            and a["properties"]["principalId"].lower() == principal.lower()]
    existing = sim.store.get(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
    if existing:
        if same and same[0] is existing:
            return Response(201, existing)
        raise SimError(400, "RoleAssignmentUpdateNotPermitted",
                       "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
    if same:
        raise SimError(409, "RoleAssignmentExists",
                       f"The role assignment already exists. The ID of the existing role assignment is {same[0]['name']}.")
    body = arm_assignment(sim, scope, name, rid_full, principal, props.get("principalType", "ServicePrincipal"), req)
    return Response(201, sim.store.put(body["id"], body))


def arm_assignment(sim, scope: str, name: str, rid_full: str, principal: str, ptype: str, req=None) -> dict:
    stamp = iso(sim.now())
    caller = (req.caller or {}).get("oid") if req is not None else None
    return {"id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"roleDefinitionId": rid_full, "principalId": principal, "principalType": ptype, "scope": scope,
                           "condition": None, "conditionVersion": None, "createdOn": stamp, "updatedOn": stamp,
                           "createdBy": caller, "updatedBy": caller, "delegatedManagedIdentityResourceId": None,
                           "description": None}}


@ROUTER.route("DELETE", ARM, VAULT_SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)")
def delete_vault_assignment(sim, req, sub, rg, vault, keypath, name):
    arm_call(sim, req, sub)
    rid = vault_scope(sim, sub, rg, vault, keypath) + f"/providers/Microsoft.Authorization/roleAssignments/{name}"
    item = sim.store.get(rid)
    if item is None:
        return Response(204)
    sim.store.delete(rid)
    return item


# ================================================================================================ data plane: auth


def data_plane_caller(sim, req, resource: str) -> dict:
    """The Key Vault challenge flow: no token -> 401 + WWW-Authenticate naming tenant and resource."""
    challenge = {"WWW-Authenticate": f'Bearer authorization="https://{LOGIN_HOST}/{sim.tenant_id}", resource="{resource}"'}
    token = bearer(req)
    if not token:
        raise SimError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", headers=challenge)
    claims = sim.tokens.verify(token)
    if not claims:
        raise SimError(401, "Unauthorized", "AKV10032: Invalid issuer or signature.", headers=challenge)
    if claims.get("aud", "").rstrip("/") != resource:
        raise SimError(401, "Unauthorized", f"AKV10022: Invalid audience. Expected {resource}, found: {claims.get('aud')}.",
                       headers=challenge)
    req.caller = claims
    return claims


def caller_text(sim, claims: dict) -> str:
    return f"appid={claims.get('appid')};oid={claims.get('oid')};iss=https://sts.windows.net/{sim.tenant_id}/"


def require_vault_holder(sim, vault: str) -> tuple[dict, dict]:
    holder = state(sim)["vaults"].get(vault.lower())
    if holder is None:
        raise SimError(404, "VaultNotFound", f"The vault '{vault}.vault.azure.net' does not exist in the local Azure.")
    return holder, sim.store.get(holder["id"])


def hsm_holder(sim, hsm: str) -> dict:
    holder = state(sim)["hsms"].get(hsm.lower())
    if holder is None:
        raise SimError(404, "NotFound", f"The managed HSM '{hsm}.managedhsm.azure.net' does not exist in the local Azure.")
    return holder


# ================================================================================================ data plane: vault keys

AP_ACTION = {"get": "Microsoft.KeyVault/vaults/keys/read", "list": "Microsoft.KeyVault/vaults/keys/read",
             "backup": "Microsoft.KeyVault/vaults/keys/backup/action"}


def policy_allows(vault: dict, object_id: str, kind: str, permission: str) -> bool:
    for policy in vault["properties"]["accessPolicies"]:
        if policy["objectId"].lower() == (object_id or "").lower():
            have = {p.lower() for p in policy.get("permissions", {}).get(kind, [])}
            if "all" in have or permission.lower() in have:
                return True
    return False


def rbac_allows(sim, vault: dict, object_id: str, action: str, key: str | None = None) -> bool:
    scopes = [vault["id"]] + ([f"{vault['id']}/keys/{key}"] if key else [])
    for scope in scopes:
        for assignment in vault_assignments(sim, scope):
            props = assignment["properties"]
            role = KV_ROLES.get(guid_of(props["roleDefinitionId"]))
            if role and props["principalId"].lower() == (object_id or "").lower() and allows(role[1], action):
                return True
    return False


def vault_authorize(sim, vault: dict, claims: dict, permission: str, key: str | None = None):
    """Access-policy or RBAC check of a keys operation, with the real 403 bodies of each model."""
    props, oid = vault["properties"], claims.get("oid")
    location = vault["location"]
    if props.get("enableRbacAuthorization"):
        action = AP_ACTION[permission]
        if rbac_allows(sim, vault, oid, action, key):
            return
        resource = vault["id"].lower() + (f"/keys/{key}" if key else "")
        raise SimError(403, "Forbidden", "", body={"error": {
            "code": "Forbidden",
            "message": "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role "
                       "definitions were changed recently, please observe propagation time.\r\n"
                       f"Caller: {caller_text(sim, claims)}\r\nAction: '{action}'\r\nResource: '{resource}'\r\n"
                       f"Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\n"
                       f"Vault: {vault['name']};location={location}\r\n",
            "innererror": {"code": "ForbiddenByRbac"}}})
    if not policy_allows(vault, oid, "keys", permission):
        raise SimError(403, "Forbidden", "", body={"error": {
            "code": "Forbidden",
            "message": f"The user, group or application '{caller_text(sim, claims)}' does not have keys {permission} permission "
                       f"on key vault '{vault['name']};location={location}'. For help resolving this issue, please see "
                       "https://go.microsoft.com/fwlink/?linkid=2125287",
            "innererror": {"code": "ForbiddenByPolicy"}}})


def key_not_found(name: str) -> SimError:
    return SimError(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")


def get_key_bundle(sim, kind: str, holder: dict, key: str, version: str | None) -> dict:
    entry = holder["keys"].get(key.lower())
    if entry is None or (version and version not in entry["versions"]):
        raise key_not_found(f"{key}/{version}" if version else key)
    return key_bundle(key_base_url(kind, holder["name"]), entry["name"], version or entry["versions"][-1], kind == "hsms",
                      entry.get("attributes"))


def key_list_body(kind: str, holder: dict) -> dict:
    base = key_base_url(kind, holder["name"])
    items = []
    for entry in holder["keys"].values():
        bundle = key_bundle(base, entry["name"], entry["versions"][-1], kind == "hsms", entry.get("attributes"))
        items.append({"kid": f"{base}/keys/{entry['name']}", "attributes": bundle["attributes"], "tags": {}})
    return {"value": items, "nextLink": None}


@ROUTER.route("GET", VAULT_HOST, r"/keys/(?P<key>[^/]+)(?:/(?P<version>[^/]+))?")
def vault_get_key(sim, req, vault, key, version=None):
    holder, resource = require_vault_holder(sim, vault)
    claims = data_plane_caller(sim, req, VAULT_RESOURCE)
    vault_authorize(sim, resource, claims, "get", key)
    return get_key_bundle(sim, "vaults", holder, key, version)


@ROUTER.route("GET", VAULT_HOST, r"/keys")
def vault_list_keys(sim, req, vault):
    holder, resource = require_vault_holder(sim, vault)
    claims = data_plane_caller(sim, req, VAULT_RESOURCE)
    vault_authorize(sim, resource, claims, "list")
    return key_list_body("vaults", holder)


# ================================================================================================ data plane: Managed HSM


def hsm_scope(scope: str) -> str:
    """'' -> '/', '/keys' -> '/keys', '/keys/k' -> '/keys/k' (the path prefix before /providers)."""
    return scope.rstrip("/") or "/"


def scope_key(scope: str) -> str:
    """The key a stored assignment scope stands for, whatever form it was written in: '/keys/k', '/keys/k/' or a key URL
    (the string Managed HSM echoes for a per-key assignment is UNVERIFIED, evidence hsm-assignment-scope; tests store
    the other forms to show that the modules recognise them)."""
    text = str(scope or "/").strip()
    if text.lower().startswith("https://"):
        text = "/" + "/".join(urlsplit(text).path.strip("/").split("/")[:2])
    return (text.rstrip("/") or "/").lower()


def scope_covers(assigned: str, target: str) -> bool:
    """'/' and '/keys' are HSM-wide; a key scope covers only that key."""
    assigned, target = scope_key(assigned), scope_key(target)
    return assigned in ("/", "/keys") or assigned == target


def hsm_role_def(holder: dict, rid: str) -> dict | None:
    return holder["role_definitions"].get(rid.lower())


def hsm_allowed(holder: dict, object_id: str, action: str, target: str) -> bool:
    for assignment in holder["role_assignments"].values():
        props = assignment["properties"]
        if props["principalId"].lower() != (object_id or "").lower() or not scope_covers(props["scope"], target):
            continue
        role = hsm_role_def(holder, guid_of(props["roleDefinitionId"]))
        if role and any(allows(p.get("dataActions", []), action) and not allows(p.get("notDataActions", []), action)
                        for p in role["properties"]["permissions"]):
            return True
    return False


def hsm_authorize(sim, holder: dict, claims: dict, action: str, target: str):
    """Local RBAC. The 403 body is the one `az keyvault` users report: code AccessDenied, 'Not authorized to access ...'."""
    if not hsm_allowed(holder, claims.get("oid"), action, target):
        raise SimError(403, "AccessDenied", f"Not authorized to access {action} on {target} (Activity ID: {new_guid()})")


def hsm_caller(sim, req, hsm) -> tuple[dict, dict]:
    holder = hsm_holder(sim, hsm)
    return holder, data_plane_caller(sim, req, HSM_RESOURCE)


def role_definition_body(rid: str, name: str, actions: list, role_type: str = "AKVBuiltInRole", description: str = "") -> dict:
    return {"id": HSM_ROLE_PREFIX + rid, "name": rid, "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": name, "description": description, "type": role_type, "assignableScopes": ["/"],
                           "permissions": [{"actions": [], "notActions": [], "dataActions": list(actions), "notDataActions": []}]}}


def assignment_body(scope: str, name: str, rid: str, principal: str) -> dict:
    prefix = "" if scope == "/" else scope
    return {"id": f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{name}", "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"scope": scope, "roleDefinitionId": HSM_ROLE_PREFIX + rid, "principalId": principal}}


HSM_SCOPE = r"(?P<scope>(?:/keys(?:/[^/]+)?)?)/providers/Microsoft\.Authorization"


@ROUTER.route("GET", HSM_HOST, HSM_SCOPE + r"/roleDefinitions")
def hsm_list_role_definitions(sim, req, hsm, scope):
    holder, claims = hsm_caller(sim, req, hsm)
    # Authorized at the scope listed (UNVERIFIED, evidence hsm-role-definitions-at-scope): a Policy Administrator at
    # '/keys/k' manages that key's RBAC (built-in-roles.md) but is refused at '/' (Azure/azure-cli#32719).
    hsm_authorize(sim, holder, claims, f"{HSM_RD}/read/action", hsm_scope(scope))
    wanted = re.search(r"roleName\s+eq\s+'([^']*)'", req.q("$filter", "") or "", re.I)
    items = [d for d in holder["role_definitions"].values()
             if not wanted or d["properties"]["roleName"].lower() == wanted.group(1).lower()]
    return page(sim, req, items)


@ROUTER.route("GET", HSM_HOST, HSM_SCOPE + r"/roleDefinitions/(?P<name>[^/]+)")
def hsm_get_role_definition(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    hsm_authorize(sim, holder, claims, f"{HSM_RD}/read/action", "/")
    return require_role_definition(holder, name)


def require_role_definition(holder: dict, name: str) -> dict:
    found = hsm_role_def(holder, name)
    if found is None:
        raise SimError(404, "RoleDefinitionNotFound", f"Requested role definition '{name}' was not found.")
    return found


@ROUTER.route("PUT", HSM_HOST, HSM_SCOPE + r"/roleDefinitions/(?P<name>[^/]+)")
def hsm_put_role_definition(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    hsm_authorize(sim, holder, claims, f"{HSM_RD}/write/action", "/")
    if not is_guid(name):
        raise SimError(400, "BadParameter", f"Role definition name '{name}' is not a valid GUID.")
    existing = hsm_role_def(holder, name)
    if existing and existing["properties"]["type"] != "CustomRole":
        raise SimError(400, "BadParameter", f"Built-in role definition '{name}' cannot be modified.")
    props = req.json().get("properties") or {}
    if not props.get("roleName") or not isinstance(props.get("permissions"), list):
        raise SimError(400, "BadParameter", "Role definition must have a roleName and permissions.")
    body = role_definition_body(name.lower(), props["roleName"], [], "CustomRole", props.get("description", ""))
    body["properties"]["permissions"] = [{key: list(p.get(key) or []) for key in
                                          ("actions", "notActions", "dataActions", "notDataActions")}
                                         for p in props["permissions"]]
    body["properties"]["assignableScopes"] = list(props.get("assignableScopes") or ["/"])
    holder["role_definitions"][name.lower()] = body
    return Response(201, body)


@ROUTER.route("DELETE", HSM_HOST, HSM_SCOPE + r"/roleDefinitions/(?P<name>[^/]+)")
def hsm_delete_role_definition(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    hsm_authorize(sim, holder, claims, f"{HSM_RD}/delete/action", "/")
    found = require_role_definition(holder, name)
    if found["properties"]["type"] != "CustomRole":
        raise SimError(400, "BadParameter", f"Built-in role definition '{name}' cannot be deleted.")
    return holder["role_definitions"].pop(name.lower())


def assignments_at(holder: dict, scope: str) -> list[dict]:
    """Listing at '/' returns every assignment of the HSM, whatever its scope ('/', '/keys', '/keys/{key}'): Microsoft's
    Get-AzKeyVaultRoleAssignment reference ("Without any parameters, this command returns all the role assignments
    made under the managed HSM"; -Scope "defaults to '/'"; its example lists scopes '/' and '/keys'). At '/keys' the
    HSM-wide ones, at '/keys/{key}' only that key's (both UNVERIFIED)."""
    if scope == "/":
        return list(holder["role_assignments"].values())
    wanted = ("/", "/keys") if scope == "/keys" else (scope_key(scope),)
    return [a for a in holder["role_assignments"].values() if scope_key(a["properties"]["scope"]) in wanted]


@ROUTER.route("GET", HSM_HOST, HSM_SCOPE + r"/roleAssignments")
def hsm_list_assignments(sim, req, hsm, scope):
    holder, claims = hsm_caller(sim, req, hsm)
    scope = hsm_scope(scope)
    hsm_authorize(sim, holder, claims, f"{HSM_RA}/read/action", scope)
    items = assignments_at(holder, scope)
    principal = re.search(r"principalId\s+eq\s+'([^']*)'", req.q("$filter", "") or "", re.I)
    if principal:
        items = [a for a in items if a["properties"]["principalId"].lower() == principal.group(1).lower()]
    return page(sim, req, items)


def require_assignment(holder: dict, scope: str, name: str) -> dict:
    found = holder["role_assignments"].get(name.lower())
    if found is None or scope_key(found["properties"]["scope"]) != scope_key(scope):
        raise SimError(404, "RoleAssignmentNotFound", f"Requested role assignment '{name}' was not found.")
    return found


@ROUTER.route("GET", HSM_HOST, HSM_SCOPE + r"/roleAssignments/(?P<name>[^/]+)")
def hsm_get_assignment(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    scope = hsm_scope(scope)
    hsm_authorize(sim, holder, claims, f"{HSM_RA}/read/action", scope)
    return require_assignment(holder, scope, name)


@ROUTER.route("PUT", HSM_HOST, HSM_SCOPE + r"/roleAssignments/(?P<name>[^/]+)")
def hsm_put_assignment(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    scope = hsm_scope(scope)
    hsm_authorize(sim, holder, claims, f"{HSM_RA}/write/action", scope)
    props = req.json().get("properties") or {}
    rid, principal = guid_of(props.get("roleDefinitionId") or ""), props.get("principalId") or ""
    if hsm_role_def(holder, rid) is None:
        raise SimError(400, "BadParameter", f"Requested role definition '{props.get('roleDefinitionId')}' does not exist.")
    if not is_guid(principal):
        raise SimError(400, "BadParameter", "A valid principal ID must be provided for role assignment.")
    if scope.lower().startswith("/keys/") and find_key(sim, "hsms", holder["name"], scope.split("/")[2]) is None:
        raise SimError(404, "KeyNotFound", f"A key with (name/id) {scope.split('/')[2]} was not found in this key vault.")
    twin = next((a for a in holder["role_assignments"].values() if a["name"].lower() != name.lower()
                 and scope_key(a["properties"]["scope"]) == scope_key(scope)
                 and guid_of(a["properties"]["roleDefinitionId"]) == rid
                 and a["properties"]["principalId"].lower() == principal.lower()), None)
    if twin:
        raise SimError(409, "RoleAssignmentExists",
                       f"The role assignment already exists. The ID of the existing role assignment is {twin['name']}.")
    body = assignment_body(scope, name, rid, principal)
    holder["role_assignments"][name.lower()] = body
    return Response(201, body)


@ROUTER.route("DELETE", HSM_HOST, HSM_SCOPE + r"/roleAssignments/(?P<name>[^/]+)")
def hsm_delete_assignment(sim, req, hsm, scope, name):
    holder, claims = hsm_caller(sim, req, hsm)
    scope = hsm_scope(scope)
    hsm_authorize(sim, holder, claims, f"{HSM_RA}/delete/action", scope)
    require_assignment(holder, scope, name)
    return holder["role_assignments"].pop(name.lower())


@ROUTER.route("GET", HSM_HOST, r"/keys/(?P<key>[^/]+)(?:/(?P<version>[^/]+))?")
def hsm_get_key(sim, req, hsm, key, version=None):
    holder, claims = hsm_caller(sim, req, hsm)
    hsm_authorize(sim, holder, claims, f"{HSM_KEYS}/read/action", f"/keys/{key}")
    return get_key_bundle(sim, "hsms", holder, key, version)


@ROUTER.route("GET", HSM_HOST, r"/keys")
def hsm_list_keys(sim, req, hsm):
    holder, claims = hsm_caller(sim, req, hsm)
    hsm_authorize(sim, holder, claims, f"{HSM_KEYS}/read/action", "/keys")
    return key_list_body("hsms", holder)


# ================================================================================================ exports for other families


def principal_can_backup_key(sim, key_url: str, object_id: str) -> bool:
    """May this principal read and back up this key? (what Azure Backup needs on the key store)"""
    try:
        kind, name, key, version = parse_key_url(key_url)
    except ValueError:
        return False
    holder = state(sim)[kind].get(name.lower())
    if holder is None:
        return False
    if kind == "hsms":
        target = f"/keys/{key}"
        return all(hsm_allowed(holder, object_id, f"{HSM_KEYS}/{a}", target) for a in ("read/action", "backup/action"))
    vault = sim.store.get(holder["id"])
    if vault["properties"].get("enableRbacAuthorization"):
        return all(rbac_allows(sim, vault, object_id, AP_ACTION[p], key) for p in ("get", "backup"))
    return all(policy_allows(vault, object_id, "keys", p) for p in ("get", "backup"))


# ================================================================================================ seeding


def seed_vault_assignment(sim, vault: dict, spec: dict):
    rid = name_of_role(KV_ROLES, spec["role"])
    scope = vault["id"] + (f"/keys/{spec['key']}" if spec.get("key") else "")
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{rid}|{spec['principal_id']}"))
    rid_full = f"/subscriptions/{parse_sub(vault['id'])}/providers/Microsoft.Authorization/roleDefinitions/{rid}"
    body = arm_assignment(sim, scope, name, rid_full, spec["principal_id"], spec.get("principal_type", "ServicePrincipal"))
    sim.store.put(body["id"], body)


def seed_hsm_rbac(holder: dict, spec: dict):
    holder["role_definitions"] = {rid: role_definition_body(rid, name, actions) for rid, (name, actions) in HSM_ROLES.items()}
    holder["role_assignments"] = {}
    grants = [{"principal_id": oid, "role": "Managed HSM Administrator", "scope": "/"} for oid in spec.get("admins") or []]
    for grant in grants + list(spec.get("role_assignments") or []):
        rid = name_of_role(HSM_ROLES, grant["role"])
        scope = grant.get("scope", "/")
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{holder['name']}|{scope}|{rid}|{grant['principal_id']}"))
        holder["role_assignments"][name] = assignment_body(scope, name, rid, grant["principal_id"])


@seeder(order=20)
def seed_keyvault(sim, scenario: dict):
    ext = state(sim)
    for sub in scenario.get("subscriptions", []):
        for group in sub.get("resource_groups") or []:
            location = group.get("location", "koreacentral")
            for spec in group.get("key_vaults") or []:
                body = vault_body(sim, sub["id"], group["name"], spec.get("location", location), spec)
                sim.store.put(body["id"], body)
                ext["vaults"][spec["name"].lower()] = {"id": body["id"], "name": spec["name"],
                                                       "keys": key_table(spec.get("keys"), int(sim.now().timestamp()))}
                for grant in spec.get("role_assignments") or []:
                    seed_vault_assignment(sim, body, grant)
            for spec in group.get("managed_hsms") or []:
                body = hsm_body(sim, sub["id"], group["name"], spec.get("location", location), spec)
                sim.store.put(body["id"], body)
                holder = {"id": body["id"], "name": spec["name"], "keys": key_table(spec.get("keys"), int(sim.now().timestamp()))}
                seed_hsm_rbac(holder, spec)
                ext["hsms"][spec["name"].lower()] = holder
