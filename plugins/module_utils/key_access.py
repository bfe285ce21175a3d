# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key access for Azure Backup: Managed HSM local RBAC and Key Vault access policies / role assignments.

The first part is pure rules (scopes, role resolution, assignment names, access-policy merge and removal), unit-tested
in tests/unit/test_key_access.py. The second part is the calls the key-access modules share; they go through the
module base `m` (AzureCvmModule) and import no SDK at load time.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from urllib.parse import urlsplit

from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, import_sdk
from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import group_of, key_location, name_of, parse_key_store_id, store_name
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, service_error_code, status_of
from ansible_collections.azure_cvm.backup.plugins.module_utils import names

BACKUP_MANAGEMENT_SERVICE = "backup_management_service"
BACKUP_MANAGEMENT_SERVICE_APP_ID = "262044b1-e2ce-469f-a196-69ab7ada62d3"
HSM_ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
# What Azure Backup needs on a Managed HSM key (confidential-vm-backup.md).
BACKUP_KEY_DATA_ACTIONS = ["Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/backup/action"]
HSM_DATA_ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/"
# The local RBAC roles that may create and delete role assignments (and definitions) at '/'.
HSM_RBAC_MANAGER_ROLES = ("Managed HSM Policy Administrator", "Managed HSM Administrator")
# Access-policy permissions Azure Backup needs on a Key Vault (backup-azure-vms-automation.md).
BACKUP_POLICY_PERMISSIONS = {"keys": ["get", "list", "backup"], "secrets": ["get", "list"]}
DEFAULT_VAULT_ROLE = "Key Vault Crypto User"
KEYVAULT_API = "7.5"  # the Key Vault / Managed HSM data-plane api-version of the key reads
KEY_NAME_RE = re.compile(r"[0-9A-Za-z-]{1,127}")
HSM_SCOPES = "'/' (the whole HSM), '/keys' (all keys) or '/keys/<key name>'"
# A fixed namespace so that names are the same on every controller (uuid5 of NAMESPACE_URL and the collection).
NAME_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://galaxy.ansible.com/azure_cvm/backup")


# ================================================================================================ pure rules


def is_guid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def role_guid(reference: str | None) -> str | None:
    """The role-definition GUID at the end of any id form ('guid', '.../roleDefinitions/guid'), lower-cased."""
    last = name_of(reference)
    return last.lower() if is_guid(last) else None


def key_name(value: str, hsm_name: str | None = None) -> str:
    """A key name from a name or a key URL (https://{hsm}.managedhsm.azure.net/keys/{name}[/{version}])."""
    text = str(value or "").strip()
    if text.lower().startswith("https://"):
        found = key_location(text)
        if not found or found["kind"] != "managed_hsm":
            raise ValueError(f"'{text}' is not a Managed HSM key URL (https://<hsm>.managedhsm.azure.net/keys/<name>).")
        if hsm_name and found["vault"].lower() != hsm_name.lower():
            raise ValueError(f"The key URL '{text}' belongs to the HSM '{found['vault']}', not to '{hsm_name}'.")
        text = found["key_name"]
    if not KEY_NAME_RE.fullmatch(text):
        raise ValueError(f"'{text}' is not a valid key name: 1 to 127 letters, digits and dashes.")
    return text


def assignment_scope(key: str | None = None, all_keys: bool = False, scope: str | None = None, hsm_name=None) -> str:
    """The scope of a role assignment from the module's key / all_keys / scope options (one of them; all_keys: false
    counts as not given, so a templated all_keys does not clash with key)."""
    if sum(1 for given in (key, all_keys, scope is not None) if given) > 1:
        raise ValueError("key, all_keys: true and scope are mutually exclusive: give one of them.")
    if key:
        return f"/keys/{key_name(key, hsm_name)}"
    if all_keys:
        return "/keys"
    if scope is not None:
        return canonical_scope(scope, strict=True)
    raise ValueError(f"Give the key to grant access to (key), all_keys: true, or a scope ({HSM_SCOPES}).")


def is_broad(scope: str) -> bool:
    return scope in ("/", "/keys")


def assignment_name(scope: str, role_id: str, principal_id: str) -> str:
    """The deterministic name of the assignment this collection creates for (scope, role, principal)."""
    text = f"{scope.lower()}|{role_guid(role_id) or role_id.lower()}|{principal_id.lower()}"
    return str(uuid.uuid5(NAME_NAMESPACE, text))


def role_definition_name(role_name: str) -> str:
    """The deterministic GUID of a custom role definition this collection creates, from its role name."""
    return str(uuid.uuid5(NAME_NAMESPACE, "mhsm-role-definition|" + role_name.lower()))


def resolve_role(role: str, definitions: list[dict]) -> dict:
    """The definition a role reference names: a role name (case-insensitive) or a role-definition id / GUID.

    definitions: dicts with id, name (GUID), role_name, role_type. Raises ValueError naming the roles there are."""
    wanted = role_guid(role)
    if wanted:
        found = [d for d in definitions if role_guid(d["name"]) == wanted or role_guid(d["id"]) == wanted]
    else:
        found = [d for d in definitions if (d.get("role_name") or "").lower() == str(role).strip().lower()]
    if len(found) == 1:
        return found[0]
    names = ", ".join(sorted(f"'{d['role_name']}'" for d in definitions if d.get("role_name")))
    if not found:
        raise ValueError(f"There is no role '{role}' here. Known roles: {names or '(none)'}.")
    raise ValueError(f"The role name '{role}' is ambiguous ({len(found)} definitions carry it): give its id instead "
                     f"({', '.join(d['id'] for d in found)}).")


def canonical_scope(value, strict: bool = False) -> str:
    """A Managed HSM role scope in one form: '/', '/keys' or '/keys/<key>' ('keys/k' and '/keys/k/' give '/keys/k').

    strict (a scope a user gave): anything else (e.g. '/key/x', a key URL) is refused with what was probably meant, and
    the key name is checked. Otherwise (a scope the HSM or the SDK returned): 'keys' in any case, a key URL
    (https://<hsm>.managedhsm.azure.net/keys/k[/version]) and the SDK's KeyVaultRoleScope enum (whose str() is
    'RoleScope.KEYS', not '/keys') are read too, and anything else comes back stripped, so that it never equals a scope
    this collection asks for. Compare the results case-insensitively."""
    text = str(getattr(value, "value", value) if value is not None else "/").strip()
    if not strict and text.lower().startswith("https://"):
        found = key_location(text)
        return f"/keys/{found['key_name']}" if found and found["kind"] == "managed_hsm" else text
    parts = [p for p in text.split("/") if p]
    if not parts:
        return "/"
    if (parts[0] if strict else parts[0].lower()) == "keys" and len(parts) <= 2:
        return "/keys" + "".join(f"/{key_name(p) if strict else p}" for p in parts[1:])
    if not strict:
        return text
    hint = ""
    if parts[0].lower() in ("key", "keys") and len(parts) == 2:
        hint = f" Did you mean '/keys/{parts[1]}'?"
    elif parts[0].lower() in ("key", "keys") and len(parts) == 1:
        hint = " Did you mean '/keys'?"
    raise ValueError(f"'{text}' is not a Managed HSM role scope: use {HSM_SCOPES}.{hint}")


def same_assignment(assignment: dict, scope: str, role_id: str, principal_id: str) -> bool:
    return (canonical_scope(assignment.get("scope")).lower() == canonical_scope(scope).lower()
            and role_guid(assignment.get("role_definition_id")) == role_guid(role_id)
            and str(assignment.get("principal_id") or "").lower() == principal_id.lower())


def find_assignments(assignments: list[dict], scope: str, role_id: str, principal_id: str) -> list[dict]:
    """Every assignment of this role to this principal at exactly this scope, whatever its name."""
    return [a for a in assignments if same_assignment(a, scope, role_id, principal_id)]


def data_actions_differ(current, wanted) -> bool:
    return {a.lower() for a in current or []} != {a.lower() for a in wanted or []}


def bad_data_actions(actions) -> list[str]:
    return [a for a in actions if not str(a).startswith(HSM_DATA_ACTION_PREFIX)]


# ---- access policies (Key Vault in access-policy mode). Permissions are {"keys": [...], "secrets": [...], ...}.


def find_policy(policies: list[dict], object_id: str) -> dict | None:
    """The access-policy entry of a principal itself (not a compound identity with an applicationId)."""
    for policy in policies or []:
        if str(policy.get("objectId", "")).lower() == object_id.lower() and not policy.get("applicationId"):
            return policy
    return None


def _has(values, permission: str) -> bool:
    have = {str(v).lower() for v in values or []}
    return "all" in have or permission.lower() in have


def missing_permissions(current: dict | None, wanted: dict) -> dict:
    """The wanted permissions the entry does not hold yet ('all' holds everything), by kind; empty kinds left out."""
    current = current or {}
    out = {kind: [p for p in values if not _has(current.get(kind), p)] for kind, values in wanted.items()}
    return {kind: values for kind, values in out.items() if values}


def held_permissions(current: dict | None, wanted: dict) -> dict:
    """The wanted permissions the entry holds by name, spelt as stored (for removal). 'all' is not ours to remove."""
    current = current or {}
    out = {}
    for kind, values in wanted.items():
        mine = {v.lower() for v in values}
        held = [v for v in current.get(kind) or [] if str(v).lower() in mine]
        if held:
            out[kind] = held
    return out


def add_permissions(current: dict | None, add: dict) -> dict:
    """The entry's permissions after an 'add' of `add` (a union, as Key Vault does)."""
    out = {kind: list(values) for kind, values in (current or {}).items()}
    for kind, values in add.items():
        have = out.setdefault(kind, [])
        have.extend(v for v in values if v.lower() not in {h.lower() for h in have})
    return out


def remove_permissions(current: dict | None, remove: dict) -> dict:
    """The entry's permissions after a 'remove' of `remove` (only the listed values go)."""
    out = {kind: list(values) for kind, values in (current or {}).items()}
    for kind, values in remove.items():
        drop = {v.lower() for v in values}
        out[kind] = [v for v in out.get(kind, []) if v.lower() not in drop]
    return {kind: values for kind, values in out.items() if values}


def sorted_permissions(perms: dict | None) -> dict:
    """Permissions in a stable form for results and diffs (sorted, lower-case, empty kinds left out)."""
    return {kind: sorted({str(v).lower() for v in values}) for kind, values in sorted((perms or {}).items()) if values}


# ---- does a principal hold what Azure Backup needs on a key? (backup_posture_info reads; the grants are the modules')
# RBAC-mode Key Vault: the data actions of keyvault_backup_access's default role that backing up a key needs.
BACKUP_VAULT_DATA_ACTIONS = ["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/backup/action"]


def action_allowed(action: str, allowed, denied=()) -> bool:
    """Whether an RBAC data action is in `allowed` (patterns with '*', case-insensitive) and not in `denied`."""
    def hit(patterns):
        # str(getattr(...)): the HSM SDK gives its KeyVaultDataAction enum, whose str() is not the action
        return any(fnmatch.fnmatchcase(action.lower(), str(getattr(p, "value", p)).lower()) for p in patterns or [])
    return hit(allowed) and not hit(denied)


def policy_backup_access(policies: list[dict], object_id: str) -> bool:
    """Access-policy vault: the principal's own entry holds the key permissions this collection grants
    (BACKUP_POLICY_PERMISSIONS keys get, list, backup; 'all' holds them)."""
    entry = find_policy(policies, object_id)
    return entry is not None and not missing_permissions(entry.get("permissions"), {"keys": BACKUP_POLICY_PERMISSIONS["keys"]})


def rbac_backup_access(assignments: list[dict], definitions: list[dict], key_scope: str, principal_id: str) -> bool:
    """RBAC vault: an Azure role assignment of the principal at the key's scope or above (the vault, its group, the
    subscription) whose role's data actions hold BACKUP_VAULT_DATA_ACTIONS. assignments, definitions: REST dicts."""
    roles = {role_guid(d.get("id") or d.get("name")): d for d in definitions}
    target = key_scope.lower().rstrip("/")
    for item in assignments:
        props = item.get("properties") or {}
        scope = str(props.get("scope") or "").lower().rstrip("/")
        if str(props.get("principalId") or "").lower() != principal_id.lower() or not (target == scope or target.startswith(scope + "/")):
            continue
        perms = ((roles.get(role_guid(props.get("roleDefinitionId"))) or {}).get("properties") or {}).get("permissions") or []
        allowed = [a for p in perms for a in p.get("dataActions") or []]
        denied = [a for p in perms for a in p.get("notDataActions") or []]
        if all(action_allowed(a, allowed, denied) for a in BACKUP_VAULT_DATA_ACTIONS):
            return True
    return False


def hsm_backup_access(assignments: list[dict], definitions: list[dict], key: str, principal_id: str) -> bool:
    """Managed HSM: a local RBAC assignment of the principal at '/', '/keys' or '/keys/<key>' whose role holds
    BACKUP_KEY_DATA_ACTIONS. assignments, definitions: assignment_dict / definition_dict forms."""
    actions = {role_guid(d["id"]) or role_guid(d["name"]): d["data_actions"] for d in definitions}
    covering = {"/", "/keys", f"/keys/{key}".lower()}
    for item in assignments:
        if str(item.get("principal_id") or "").lower() != principal_id.lower() or canonical_scope(item.get("scope")).lower() not in covering:
            continue
        allowed = actions.get(role_guid(item.get("role_definition_id"))) or []
        if all(action_allowed(a, allowed) for a in BACKUP_KEY_DATA_ACTIONS):
            return True
    return False


def hsm_reference(hsm: str | None, resource_group: str | None, hsm_uri: str | None, subscription_id=None,
                  hsm_suffix: str = "managedhsm.azure.net") -> dict:
    """Where the HSM is: {'uri'} when hsm_uri is given, else {'name', 'resource_group', 'subscription_id'} from a
    name (+ resource group, or None to search the subscription) or a resource id. hsm_uri must be
    https://<name>.<hsm_suffix>/ exactly (the cloud's Managed HSM suffix): a look-alike host is refused."""
    if hsm_uri:
        uri = hsm_uri.strip()
        parts = urlsplit(uri)
        host = (parts.hostname or "").lower()
        name, _dot, suffix = host.partition(".")
        if parts.scheme.lower() != "https" or suffix != hsm_suffix.lower() or names.problem("key_vault", name) \
                or parts.port or parts.username or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ValueError(f"hsm_uri '{names.shown(hsm_uri)}' is not a Managed HSM URI (https://<name>.{hsm_suffix}/).")
        return {"uri": uri.rstrip("/") + "/", "name": store_name(uri)}
    if not hsm:
        raise ValueError("Name the Managed HSM: hsm (a name or a resource id) or hsm_uri.")
    if hsm.startswith("/"):
        return parse_key_store_id(hsm, "managedHSMs")
    return {"name": hsm, "resource_group": resource_group, "subscription_id": subscription_id}


# ================================================================================================ shared calls

HSM_ARGSPEC = {
    "hsm": {"type": "str"},
    "resource_group": {"type": "str"},
    "hsm_uri": {"type": "str"},
}
HSM_NAMES = {"hsm": "key_vault_or_id", "resource_group": "resource_group"}  # checked by base.py before any request
PRINCIPAL_CHOICES = [BACKUP_MANAGEMENT_SERVICE]


def hsm_module(argument_spec: dict, exclusive: tuple = ()) -> AzureCvmModule:
    """The module base of a Managed HSM module: its `argument_spec` (with HSM_ARGSPEC), check mode, the HSM's naming
    rules, exactly one of hsm and hsm_uri, and each pair of `exclusive` never together."""
    return AzureCvmModule(argument_spec={**HSM_ARGSPEC, **argument_spec}, supports_check_mode=True, names=HSM_NAMES,
                          mutually_exclusive=[("hsm", "hsm_uri"), *exclusive], required_one_of=[("hsm", "hsm_uri")])


def manager_hint(hsm_name: str) -> str:
    roles = " or ".join(f"'{r}'" for r in HSM_RBAC_MANAGER_ROLES)
    return (f"the signed-in principal needs the Managed HSM local RBAC role {roles} at scope '/' of HSM '{hsm_name}' "
            "(or at the key's scope '/keys/<key>' for that key only) to read and manage role assignments "
            f"(az keyvault role assignment create --hsm-name {hsm_name} "
            "--role 'Managed HSM Policy Administrator' --scope / --assignee-object-id <its object id>)")


def hsm_failure(m, exc, action: str, hsm: dict):
    """Fail with the readable form of a Managed HSM data-plane error; 403 names the role needed."""
    m.azure_failure(exc, action, f"Managed HSM {hsm['name']}", hint=manager_hint(hsm["name"]), plane="managedhsm")


def require_subscription(m, ref: dict):
    """A resource id of another subscription than the module's is refused (the SDK clients are per subscription)."""
    if ref.get("subscription_id") and ref["subscription_id"].lower() != m.subscription_id.lower():
        raise ModuleFailure(f"The resource id names subscription {ref['subscription_id']} but the module works in "
                            f"{m.subscription_id}: set subscription_id to {ref['subscription_id']}.")


def resolve_hsm(m) -> dict:
    """{'name', 'uri', 'id'?} of the HSM named by the module's hsm / resource_group / hsm_uri options."""
    p = m.params
    try:
        ref = hsm_reference(p.get("hsm"), p.get("resource_group"), p.get("hsm_uri"), hsm_suffix=m.cloud["hsm_suffix"])
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    if "uri" in ref:
        return ref
    require_subscription(m, ref)
    hsms = m.client("keyvault").managed_hsms
    where = f"resource group {ref['resource_group']}" if ref["resource_group"] else f"subscription {m.subscription_id}"
    try:
        if ref["resource_group"]:
            found = hsms.get(ref["resource_group"], ref["name"])
        else:
            found = next((h for h in hsms.list_by_subscription() if h.name.lower() == ref["name"].lower()), None)
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            found = None
        else:
            m.azure_failure(exc, f"read Managed HSM {ref['name']}", where)
    if found is None:
        raise ModuleFailure(f"The Managed HSM '{ref['name']}' does not exist in {where}. Check hsm and resource_group "
                            "(or give hsm_uri).")
    return {"name": found.name, "uri": found.properties.hsm_uri.rstrip("/") + "/", "id": found.id}


def hsm_client(m, hsm: dict):
    return m.hsm_access_control(hsm["uri"])


def definition_dict(d) -> dict:
    actions = [a for perm in d.permissions or [] for a in perm.data_actions or []]
    return {"id": d.id, "name": d.name, "role_name": d.role_name, "role_type": d.role_type,
            "description": d.description or "", "data_actions": actions, "assignable_scopes": list(d.assignable_scopes or [])}


def assignment_dict(a, role_names: dict | None = None) -> dict:
    """An SDK KeyVaultRoleAssignment as a plain dict; its scope in the canonical form (canonical_scope)."""
    props = a.properties
    out = {"id": a.role_assignment_id, "name": a.name, "scope": canonical_scope(props.scope),
           "role_definition_id": props.role_definition_id, "principal_id": props.principal_id}
    if role_names is not None:
        out["role_name"] = role_names.get(role_guid(props.role_definition_id))
    return out


def list_definitions(m, client, hsm: dict, scope: str = "/") -> list[dict]:
    try:
        return [definition_dict(d) for d in client.list_role_definitions(scope)]
    except Exception as exc:  # pylint: disable=broad-except
        hsm_failure(m, exc, f"list the role definitions at scope '{scope}'", hsm)


def definitions_for(m, client, hsm: dict, scope: str, role: str | None = None) -> list[dict]:
    """The role definitions to resolve `role` with: listed at the assignment's scope first, then at '/'.

    A principal that manages role assignments only on one key (Managed HSM Policy Administrator at '/keys/<key>')
    may not read definitions at '/' (Azure/azure-cli#32719 shows az failing that way); one allowed at '/' only may
    not list at the key. The first listing that answers and knows the role is used; when none does, the failure of
    the last listing (or the unknown-role error) is reported."""
    scopes = [scope] if scope == "/" else [scope, "/"]
    problem = None
    for where in scopes:
        try:
            found = [definition_dict(d) for d in client.list_role_definitions(where)]
        except Exception as exc:  # pylint: disable=broad-except
            if status_of(exc) in (401, 403) and where != scopes[-1]:
                continue
            if problem is not None and status_of(exc) in (401, 403):
                break  # the role was unknown at the scope: say that rather than the refusal at '/'
            hsm_failure(m, exc, f"list the role definitions at scope '{where}'", hsm)
        if role is None:
            return found
        try:
            resolve_role(role, found)
            return found
        except ValueError as exc:
            problem = (exc, found)
    raise ModuleFailure(f"Unknown Managed HSM role: {problem[0]}") from problem[0]


def list_assignments(m, client, hsm: dict, scope: str) -> list[dict]:
    try:
        return [assignment_dict(a) for a in client.list_role_assignments(scope)]
    except Exception as exc:  # pylint: disable=broad-except
        hsm_failure(m, exc, f"list the role assignments at scope '{scope}'", hsm)


def role_of(m, role: str, definitions: list[dict]) -> dict:
    try:
        return resolve_role(role, definitions)
    except ValueError as exc:
        raise ModuleFailure(f"Unknown Managed HSM role: {exc}") from exc


def hsm_key_exists(m, client, hsm: dict, name: str) -> bool | None:
    """Does the key exist? True, or None when the caller may not read keys (then Managed HSM checks at write time).
    Fails when the HSM says the key does not exist."""
    rest = import_sdk("azure.core.rest", "azure-core")
    try:
        response = client.send_request(rest.HttpRequest("GET", f"/keys/{name}"))
    except Exception as exc:  # pylint: disable=broad-except  # transport errors
        hsm_failure(m, exc, f"read key {name}", hsm)
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        raise ModuleFailure(missing_key(hsm, name))
    if response.status_code in (401, 403):
        # A role manager (Managed HSM Policy Administrator) may not read keys; the management plane can tell instead.
        found = key_in_management_plane(m, hsm, name)
        if found is not None:
            return found
        m.warn(f"Could not check that the key '{name}' exists: the signed-in principal may not read keys of the "
               f"Managed HSM '{hsm['name']}'. The HSM checks it when the role is assigned.")
        return None
    response.raise_for_status()
    return None


def missing_key(hsm: dict, name: str) -> str:
    return (f"The key '{name}' does not exist in the Managed HSM '{hsm['name']}'. Check the key name "
            "(it is the <name> in the DES key URL https://<hsm>.managedhsm.azure.net/keys/<name>/<version>).")


def key_in_management_plane(m, hsm: dict, name: str) -> bool | None:
    """The key through ARM (Microsoft.KeyVault/managedHSMs/keys, Azure RBAC): True, a failure when it does not exist,
    or None when the HSM's resource id is unknown (given by hsm_uri) or ARM refuses the read too."""
    if not hsm.get("id"):
        return None
    rg = group_of(hsm["id"])
    try:
        m.client("keyvault").managed_hsm_keys.get(rg, hsm["name"], name)
        return True
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            raise ModuleFailure(missing_key(hsm, name)) from exc
        return None


def resolve_principal(m) -> str:
    """The object id of the principal: principal_id as given, or the Backup Management Service looked up in Graph."""
    p = m.params
    if p.get("principal_id"):
        if not is_guid(p["principal_id"]):
            raise ModuleFailure(f"principal_id '{p['principal_id']}' is not an object id (a GUID).")
        return p["principal_id"].lower()
    app = BACKUP_MANAGEMENT_SERVICE_APP_ID
    instead = (f"Pass the object id of the Backup Management Service in your tenant as principal_id instead (the play "
               f"variable backup_management_service_object_id, the role variable key_access_principal_id, or "
               f"cvm_key_principal_id in playbooks/protect_cvm.yml); find it with "
               f"'az ad sp show --id {app} --query id -o tsv' or "
               f"'(Get-AzADServicePrincipal -ApplicationId {app}).Id'.")
    try:
        found = m.graph_get("/servicePrincipals", f"$filter=appId eq '{app}'&$select=id,appId,displayName")
    except Exception as exc:  # pylint: disable=broad-except
        status, code = status_of(exc), service_error_code(exc)
        if status in (401, 403):
            raise ModuleFailure(f"Microsoft Graph refused to look up the Backup Management Service (app id {app}) "
                                f"for the signed-in principal (HTTP {status}{', ' + code if code else ''}). {instead} "
                                "(Or grant the signed-in principal the Graph permission Application.Read.All.)",
                                status_code=status, error_code=code) from exc
        m.azure_failure(exc, "look up the Backup Management Service in Microsoft Graph", hint=instead, plane="graph")
    values = (found or {}).get("value") or []
    if not values:
        raise ModuleFailure(f"The Backup Management Service (app id {app}) has no service principal in this tenant. {instead}")
    return values[0]["id"].lower()


def list_store_keys(m, store_uri: str, kind: str) -> list[dict]:
    """Every key of a Key Vault or Managed HSM (GET {store}/keys, following nextLink): KeyItems {kid, attributes
    (enabled, exp, ...)} of each key's current version. Raises azure-core errors (the caller decides)."""
    suffix = m.cloud["hsm_suffix"] if kind == "managed_hsm" else m.cloud["vault_suffix"]
    return m.rest_list(store_uri.rstrip("/") + "/keys", f"https://{suffix}/.default", KEYVAULT_API)


def key_in_store(m, store_key: dict, key_name: str) -> bool | None:
    """Is a key of this name in the key vault / Managed HSM of `store_key` (a restore_rules.des_key dict: kind, base)?
    None when it cannot be read (Key Vault data plane, GET /keys/{name})."""
    suffix = m.cloud["hsm_suffix"] if store_key["kind"] == "managed_hsm" else m.cloud["vault_suffix"]
    try:
        m.rest("GET", f"{store_key['base']}/keys/{key_name}", f"https://{suffix}/.default", KEYVAULT_API, ok=(200,))
        return True
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) == 404:
            return False
        return None
