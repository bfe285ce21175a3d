#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: keyvault_backup_access
short_description: Give Azure Backup access to the customer-managed key in a Key Vault (access policy or Azure RBAC)
version_added: 0.1.0
description:
  - Azure Backup of a VM whose disks use a customer-managed key in a Key Vault needs the B(Backup Management Service)
    (first-party app id C(262044b1-e2ce-469f-a196-69ab7ada62d3)) to read and back up that key. The Azure portal grants
    this by itself; with PowerShell, the CLI, REST or Ansible it must be done explicitly. This module does it for both
    permission models of a vault, and finds out which one the vault uses (C(enableRbacAuthorization)).
  - B(Access-policy vaults) - makes sure the principal's access policy holds keys C(get), C(list), C(backup) and secrets
    C(get), C(list) (what the Azure Backup documentation grants with C(Set-AzKeyVaultAccessPolicy)). Only the missing
    permissions are sent, with the C(add) operation, so they are merged with what the principal already has; other
    principals' policies are never touched.
  - With O(state=absent) on an access-policy vault, exactly those permissions (keys get/list/backup, secrets get/list,
    when listed by name) are removed from the principal's own entry with the C(remove) operation. Other permissions
    of that entry (for example C(wrapKey), or C(all) given by someone else) stay, and so does the entry when anything
    is left in it; other principals' entries are never touched.
  - B(RBAC vaults) - makes sure the principal holds an Azure RBAC role (O(rbac_role)) at the B(key's) scope
    (C(<vault id>/keys/<key>), O(key) is required), not the vault's, so it reaches no other key, secret or certificate
    of the vault; idempotent on (scope, role, principal) whatever the assignment's name. With O(state=absent), every
    assignment of that role to that principal at exactly the key's scope is removed, nothing else.
  - The default O(rbac_role) is C(Key Vault Crypto User), the least-privileged built-in role that holds both data
    actions backing up a confidential VM's customer-managed key needs, C(Microsoft.KeyVault/vaults/keys/read) and
    C(Microsoft.KeyVault/vaults/keys/backup/action) (Azure built-in roles, Security; it also allows update, encrypt,
    decrypt, wrap, unwrap, sign and verify with that key, but no secrets and no administration). C(Key Vault Crypto
    Service Encryption User) lacks C(keys/backup/action), and there is no built-in "Key Vault Backup Operator".
  - The Azure Backup documentation for RBAC vaults names C(Key Vault Administrator) (data actions
    C(Microsoft.KeyVault/vaults/*) - every key, secret and certificate operation); set
    O(rbac_role=Key Vault Administrator) to follow it to the letter. The trade-off - the default grants less (keys only,
    no secrets) but is an inference from the data actions, which Microsoft does not state for confidential VMs; the
    administrator role is what Microsoft names, and grants everything in the vault (still only on the key's scope here).
  - Role and policy changes take time to propagate; the Azure Backup documentation says to wait for them before the
    first backup (O(settle_seconds)).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vault:
    description: The Key Vault that holds the key, by name (with O(resource_group), or alone to search the
      subscription) or by resource id. The alias is azure.azcollection's (M(azure.azcollection.azure_rm_keyvault)).
    type: str
    required: true
    aliases: [vault_name]
  resource_group:
    description: The resource group of the vault named in O(vault).
    type: str
  principal:
    description:
      - The principal to grant access to when O(principal_id) is not given. V(backup_management_service) is looked up
        in Microsoft Graph by its app id; when Graph refuses, the module says how to pass O(principal_id) instead.
    type: str
    choices: [backup_management_service]
    default: backup_management_service
  principal_id:
    description:
      - The object id of the principal in your tenant (not its app id). For the Backup Management Service,
        C(az ad sp show --id 262044b1-e2ce-469f-a196-69ab7ada62d3 --query id -o tsv). When given, Microsoft Graph is
        not called.
      - The alias is M(azure.azcollection.azure_rm_roleassignment)'s name for it.
    type: str
    aliases: [assignee_object_id]
  key:
    description:
      - The key (by name, or its key URL C(https://<vault>.vault.azure.net/keys/<name>[/<version>])) whose scope the RBAC
        role is assigned at. Required for RBAC vaults; access policies are vault-wide, so it is only checked there.
    type: str
  rbac_role:
    description:
      - For an RBAC vault, the Azure role to assign at the key's scope, by name or role definition id (or GUID).
        V(Key Vault Administrator) is the role the Azure Backup documentation names (see the description for the
        trade-off). Ignored for access-policy vaults.
    type: str
    default: Key Vault Crypto User
  state:
    description: Whether the access should be there (see the description for exactly what V(absent) removes).
    type: str
    choices: [present, absent]
    default: present
  settle_seconds:
    description: Seconds to wait after a change so the permission can propagate before a backup is triggered.
    type: int
    default: 0
extends_documentation_fragment:
  - azure_cvm.backup.azure
attributes:
  check_mode:
    support: full
    description: Reads only; reports the permissions or role assignment it would add or remove.
  diff_mode:
    support: full
    description: Shows the principal's access-policy permissions, or its role assignment, before and after.
"""

EXAMPLES = r"""
- name: Let Azure Backup back up the CMK of the vault (access policy or RBAC, whichever the vault uses)
  azure_cvm.backup.keyvault_backup_access:
    vault: kv-cvm-kc
    resource_group: rg-cvm-kc

- name: RBAC vault, the role the Azure Backup documentation names, on the CMK only, principal given by object id
  azure_cvm.backup.keyvault_backup_access:
    vault: /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-rbac
    key: cvm-cmk-rbac
    principal_id: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
    rbac_role: Key Vault Administrator

- name: Take the access away again
  azure_cvm.backup.keyvault_backup_access:
    vault: kv-cvm-kc
    resource_group: rg-cvm-kc
    state: absent
"""

RETURN = r"""
mode:
  description: The vault's permission model.
  returned: always
  type: str
  sample: access_policy
vault_id:
  description: The vault's resource id.
  returned: always
  type: str
  sample: /subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-kc
principal_id:
  description: The object id of the principal.
  returned: always
  type: str
  sample: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
permissions:
  description:
    - Access-policy vaults, the principal's permissions after the run (in check mode, as they would be); empty when it
      has no entry. Null for RBAC vaults.
  returned: always
  type: dict
  sample: {keys: [backup, get, list], secrets: [get, list]}
permissions_changed:
  description: Access-policy vaults, the permissions added (V(present)) or removed (V(absent)) by this run, by kind.
  returned: always
  type: dict
  sample: {keys: [backup, list], secrets: [get, list]}
role_assignment:
  description:
    - RBAC vaults, the role assignment after the run (in check mode, as it would be); with O(state=absent) the one
      removed, or null. Null for access-policy vaults.
  returned: always
  type: dict
  contains:
    id:
      description: The assignment's id.
      type: str
      sample: /subscriptions/xxx/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/0d9c3e2a
    name:
      description: The assignment's name (a GUID).
      type: str
      sample: 0d9c3e2a-7b1f-5c4d-9e8a-1f2b3c4d5e6f
    scope:
      description: The key's scope (the vault's id, C(/keys/) and the key name).
      type: str
      sample: /subscriptions/xxx/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-rbac/keys/cvm-cmk-rbac
    role_name:
      description: The role's name.
      type: str
      sample: Key Vault Crypto User
    role_definition_id:
      description: The role definition id.
      type: str
      sample: /subscriptions/xxx/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424
    principal_id:
      description: The principal's object id.
      type: str
      sample: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, import_sdk, rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, status_of
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import settle

AUTHZ_MODELS = "azure.mgmt.authorization.v2022_04_01.models"


def get_vault(m) -> dict:
    p = m.params
    if p["vault"].startswith("/"):
        try:
            ref = arm_ids.parse_key_store_id(p["vault"], "vaults")
        except ValueError as exc:
            raise ModuleFailure(str(exc)) from exc
        ka.require_subscription(m, ref)
        name, group = ref["name"], ref["resource_group"]
    else:
        name, group = p["vault"], p["resource_group"]
    vaults = m.client("keyvault").vaults
    where = f"resource group {group}" if group else f"subscription {m.subscription_id}"
    try:
        found = vaults.get(group, name) if group else next((v for v in vaults.list_by_subscription() if v.name.lower() == name.lower()), None)
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) != 404:
            m.azure_failure(exc, f"read Key Vault {name}", where)
        found = None
    if found is None:
        raise ModuleFailure(f"The Key Vault '{name}' does not exist in {where}. Check vault and resource_group.")
    return rest_dict(found)


# ------------------------------------------------------------------------------------------------ access policies


def send_policy(m, vault: dict, kind: str, principal: str, perms: dict):
    body = {"properties": {"accessPolicies": [{"tenantId": vault["properties"]["tenantId"], "objectId": principal,
                                               "permissions": perms}]}}
    try:
        m.client("keyvault").vaults.update_access_policy(arm_ids.group_of(vault["id"]), arm_ids.name_of(vault["id"]), kind, body)
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"{kind} access policy permissions", f"Key Vault {vault['name']}",
                        hint="the signed-in principal needs Microsoft.KeyVault/vaults/accessPolicies/write on the vault "
                             "(for example the Key Vault Contributor role)")


def access_policy(m, vault: dict, principal: str, want: bool) -> dict:
    entry = ka.find_policy(vault["properties"].get("accessPolicies"), principal)
    before = (entry or {}).get("permissions") or {}
    if want:
        delta = ka.missing_permissions(before, ka.BACKUP_POLICY_PERMISSIONS)
        after = ka.add_permissions(before, delta)
    else:
        delta = ka.held_permissions(before, ka.BACKUP_POLICY_PERMISSIONS)
        after = ka.remove_permissions(before, delta)
    if delta and not m.check_mode:
        send_policy(m, vault, "add" if want else "remove", principal, delta)
    result = {"changed": bool(delta), "permissions": ka.sorted_permissions(after), "permissions_changed": ka.sorted_permissions(delta),
              "role_assignment": None}
    if m.diff_mode:
        result["diff"] = {"before": {"object_id": principal, "permissions": ka.sorted_permissions(before)},
                          "after": {"object_id": principal, "permissions": ka.sorted_permissions(after)}}
    return result


# ------------------------------------------------------------------------------------------------ Azure RBAC


def vault_role(m, scope: str, role: str) -> dict:
    definitions = m.client("authorization").role_definitions
    guid = ka.role_guid(role)
    try:
        if guid:
            found = [definitions.get(scope, guid)]
        else:
            found = list(definitions.list(scope, filter=f"roleName eq '{role}'"))
    except Exception as exc:  # pylint: disable=broad-except
        if status_of(exc) != 404:
            m.azure_failure(exc, f"look up Azure role '{role}'", scope)
        found = []
    if not found:
        raise ModuleFailure(f"There is no Azure role '{role}' (rbac_role). Use a role name such as "
                            f"'{ka.DEFAULT_VAULT_ROLE}' or 'Key Vault Administrator', or a role definition id.")
    return {"id": found[0].id, "name": found[0].name, "role_name": found[0].role_name}


def vault_assignments(m, scope: str, principal: str) -> list[dict]:
    try:
        items = m.client("authorization").role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal}'")
        return [{"id": a.id, "name": a.name, "scope": a.scope, "role_definition_id": a.role_definition_id,
                 "principal_id": a.principal_id} for a in items]
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "list role assignments", scope)


def key_scope(m, vault: dict) -> str:
    """The RBAC scope of the key named by `key` (a name or a key URL of this vault): '{vault id}/keys/{name}'."""
    given = m.params.get("key")
    if not given:
        raise ModuleFailure(f"The Key Vault '{vault['name']}' uses Azure RBAC: give the key (key: <name>) whose scope the "
                            "role is assigned at; the role is never given on the whole vault.")
    text = given.strip()
    if text.lower().startswith("https://"):
        found = arm_ids.key_location(text)
        if not found or found["kind"] != "key_vault":
            raise ModuleFailure(f"'{text}' is not a Key Vault key URL (https://<vault>.vault.azure.net/keys/<name>).")
        if found["vault"].lower() != vault["name"].lower():
            raise ModuleFailure(f"The key URL '{text}' belongs to the Key Vault '{found['vault']}', not to '{vault['name']}'.")
        text = found["key_name"]
    if not ka.KEY_NAME_RE.fullmatch(text):
        raise ModuleFailure(f"'{text}' is not a valid key name: 1 to 127 letters, digits and dashes.")
    return f"{vault['id']}/keys/{text}"


def rbac(m, vault: dict, principal: str, want: bool) -> dict:
    scope = vault["key_scope"]
    role = vault_role(m, vault["id"], m.params["rbac_role"])
    found = ka.find_assignments(vault_assignments(m, scope, principal), scope, role["id"], principal)
    changed = want != bool(found)
    name = ka.assignment_name(scope, role["id"], principal)
    assignment = found[0] if found else ({"id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", "name": name,
                                          "scope": scope, "role_definition_id": role["id"], "principal_id": principal}
                                         if want else None)
    assignments = m.client("authorization").role_assignments
    hint = "the signed-in principal needs Microsoft.Authorization/roleAssignments/write on the key or vault (for example " \
           "the Owner, User Access Administrator or Role Based Access Control Administrator role)"
    try:
        if changed and not m.check_mode and want:
            params = import_sdk(AUTHZ_MODELS, "azure-mgmt-authorization").RoleAssignmentCreateParameters(
                role_definition_id=role["id"], principal_id=principal, principal_type="ServicePrincipal")
            made = assignments.create(scope, name, params)
            assignment = {"id": made.id, "name": made.name, "scope": made.scope, "role_definition_id": made.role_definition_id,
                          "principal_id": made.principal_id}
        elif changed and not m.check_mode:
            for old in found:
                assignments.delete(old["scope"], old["name"])
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"{'assign' if want else 'remove'} role '{role['role_name']}'", scope, hint=hint)
    if assignment is not None:
        assignment["role_name"] = role["role_name"]
    result = {"changed": changed, "permissions": None, "permissions_changed": {}, "role_assignment": assignment}
    if m.diff_mode:
        view = {"scope": scope, "role": role["role_name"], "principal_id": principal}
        result["diff"] = {"before": {**view, "assigned": bool(found)}, "after": {**view, "assigned": want}}
    return result


def run(m) -> dict:
    vault = get_vault(m)
    is_rbac = bool(vault["properties"].get("enableRbacAuthorization"))
    if is_rbac or m.params.get("key"):
        vault["key_scope"] = key_scope(m, vault)  # checked before Graph and before any write, in both modes
    principal = ka.resolve_principal(m)
    want = m.params["state"] == "present"
    result = (rbac if is_rbac else access_policy)(m, vault, principal, want)
    if result["changed"] and not m.check_mode:
        settle(m.params["settle_seconds"])
    result.update(mode="rbac" if is_rbac else "access_policy", vault_id=vault["id"], principal_id=principal)
    return result


def main():
    argument_spec = {
        "vault": {"type": "str", "required": True, "aliases": ["vault_name"]},
        "resource_group": {"type": "str"},
        "principal": {"type": "str", "choices": ka.PRINCIPAL_CHOICES, "default": ka.BACKUP_MANAGEMENT_SERVICE},
        "principal_id": {"type": "str", "aliases": ["assignee_object_id"]},
        "key": {"type": "str", "no_log": False},
        "rbac_role": {"type": "str", "default": ka.DEFAULT_VAULT_ROLE},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "settle_seconds": {"type": "int", "default": 0},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"vault": "key_vault_or_id", "resource_group": "resource_group"}).execute(run)


if __name__ == "__main__":
    main()
