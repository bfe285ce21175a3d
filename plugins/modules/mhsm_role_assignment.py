#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mhsm_role_assignment
short_description: Give Azure Backup access to a Managed HSM key (Managed HSM local RBAC role assignment)
version_added: 0.1.0
description:
  - Makes sure a principal holds a role of the Managed HSM's B(local RBAC) at a scope, or does not.
  - Azure Backup of a confidential VM whose disks use a customer-managed key in a Managed HSM needs the
    B(Backup Management Service) (first-party app id C(262044b1-e2ce-469f-a196-69ab7ada62d3)) to hold
    C(Managed HSM Crypto User), or a custom role with exactly C(Microsoft.KeyVault/managedHsm/keys/read/action) and
    C(Microsoft.KeyVault/managedHsm/keys/backup/action) (see M(azure_cvm.backup.mhsm_role_definition)), on the key of the
    VM. The Azure portal grants this by itself; with PowerShell, the CLI, REST or Ansible it must be done explicitly.
  - What each role grants - C(Managed HSM Crypto User) (the default here, named by the Azure Backup documentation) lets
    the principal also write, delete, rotate, import and release the key and encrypt, decrypt, wrap, unwrap, sign and
    verify with it; the custom role with only the two documented dataActions grants what Azure Backup needs and nothing
    else, which is why the C(key_access) role uses it by default (it creates it with
    M(azure_cvm.backup.mhsm_role_definition) when missing).
  - Idempotent on (scope, role, principal) whatever the assignment's name; an equivalent assignment made by someone
    else is recognised and not duplicated. A new assignment gets a deterministic name (a UUID5 of scope, role and
    principal).
  - Reads first. The key is checked to exist before anything is written, on the HSM when the signed-in principal may
    read keys, otherwise through the management plane (C(Microsoft.KeyVault/managedHSMs/keys), Azure RBAC on the HSM
    resource). With only O(hsm_uri) there is no resource id for that; then a warning says so and the HSM checks the key
    when the role is assigned.
  - The signed-in principal needs the local RBAC role C(Managed HSM Policy Administrator) or C(Managed HSM Administrator)
    at scope C(/) of the HSM; without it the module fails naming that role.
  - Role changes take time to reach every HSM node. The Azure Backup documentation says to wait for them to propagate
    before the first backup, without giving a figure; O(settle_seconds) waits a fixed time after a change.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  role:
    description:
      - The role, by name (built-in such as V(Managed HSM Crypto User), or a custom role name), by role definition id
        (V(Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/<guid>)) or by its GUID.
    type: str
    default: Managed HSM Crypto User
  principal:
    description:
      - The principal to assign the role to when O(principal_id) is not given. V(backup_management_service) is the
        Backup Management Service, looked up in Microsoft Graph by its app id (needs the Graph permission
        C(Application.Read.All); when Graph refuses, the module says how to pass O(principal_id) instead).
    type: str
    choices: [backup_management_service]
    default: backup_management_service
  principal_id:
    description:
      - The object id of the principal (its service principal's object id in your tenant, not its app id).
      - For the Backup Management Service, C(az ad sp show --id 262044b1-e2ce-469f-a196-69ab7ada62d3 --query id -o tsv).
      - The alias is M(azure.azcollection.azure_rm_roleassignment)'s name for it.
    type: str
    aliases: [assignee_object_id]
  key:
    description:
      - The key to grant access to (scope C(/keys/<key>)), by name or key URL. Least privilege, and the default way.
      - Exactly one of O(key), O(all_keys) and O(scope) is required.
    type: str
  all_keys:
    description:
      - Grant the role on all keys of the HSM (scope C(/keys)). Allowed, with a warning that it is broader than Azure
        Backup needs.
    type: bool
    default: false
  scope:
    description:
      - The scope as Managed HSM writes it, V(/), V(/keys) or V(/keys/<key>); V(keys/<key>) is accepted too.
    type: str
  state:
    description: Whether the assignment should exist. V(absent) removes every assignment of this role to this
      principal at this scope (whatever its name) and nothing else.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: After a change, wait until the HSM shows the assignment (or no longer shows it).
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most.
    type: int
    default: 300
  settle_seconds:
    description:
      - Seconds to wait after a change (and after O(wait)) so the role can propagate before a backup is triggered.
    type: int
    default: 0
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.managed_hsm
attributes:
  check_mode:
    support: full
    description: Reads only; reports the assignment it would create or remove.
  diff_mode:
    support: full
    description: Shows whether the assignment exists before and after.
notes:
  - The principal signed in needs Managed HSM local RBAC permissions, which are separate from Azure RBAC on the
    HSM resource.
"""

EXAMPLES = r"""
- name: Let Azure Backup read and back up the CVM key (Managed HSM Crypto User on that key only)
  azure_cvm.backup.mhsm_role_assignment:
    hsm: hsm-cvm-uae
    resource_group: rg-cvm-uae
    key: cvm-hsm-key

- name: Same with a custom least-privilege role, the principal given by object id, and time to propagate
  azure_cvm.backup.mhsm_role_assignment:
    hsm_uri: https://hsm-cvm-uae.managedhsm.azure.net/
    role: Azure Backup Key Reader
    principal_id: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
    key: https://hsm-cvm-uae.managedhsm.azure.net/keys/cvm-hsm-key/0f9e8d7c6b5a49382716f5e4d3c2b1a0
    settle_seconds: 60

- name: Remove the assignment again
  azure_cvm.backup.mhsm_role_assignment:
    hsm: hsm-cvm-uae
    resource_group: rg-cvm-uae
    key: cvm-hsm-key
    state: absent
"""

RETURN = r"""
assignment:
  description:
    - The assignment after the run (in check mode, as it would be); with O(state=absent), the one removed, or null
      when there was none.
  returned: always
  type: dict
  contains:
    id:
      description: The assignment's id.
      type: str
      sample: /keys/cvm-hsm-key/providers/Microsoft.Authorization/roleAssignments/3b1f0c2e-8d9a-5e7b-a1c4-2f6d8e0b9a7c
    name:
      description: The assignment's name (a GUID).
      type: str
      sample: 3b1f0c2e-8d9a-5e7b-a1c4-2f6d8e0b9a7c
    scope:
      description: The scope.
      type: str
      sample: /keys/cvm-hsm-key
    role_name:
      description: The role's name.
      type: str
      sample: Managed HSM Crypto User
    role_definition_id:
      description: The role definition id.
      type: str
      sample: Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b
    principal_id:
      description: The principal's object id.
      type: str
      sample: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
hsm_uri:
  description: The HSM's URI.
  returned: always
  type: str
  sample: https://hsm-cvm-uae.managedhsm.azure.net/
key_checked:
  description: True when the key was read and exists; null when there is no key scope or the key could not be read.
  returned: always
  type: bool
  sample: true
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, service_error_code, status_of
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import settle


def planned(scope: str, role: dict, principal: str) -> dict:
    name = ka.assignment_name(scope, role["name"], principal)
    prefix = "" if scope == "/" else scope
    return {"id": f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{name}", "name": name, "scope": scope,
            "role_definition_id": role["id"], "principal_id": principal}


def create(m, client, hsm: dict, wanted: dict) -> dict:
    try:
        made = client.create_role_assignment(wanted["scope"], wanted["role_definition_id"], wanted["principal_id"],
                                             name=wanted["name"])
        return ka.assignment_dict(made)
    except Exception as exc:  # pylint: disable=broad-except
        if service_error_code(exc) == "KeyNotFound":
            raise ModuleFailure(f"The key of scope '{wanted['scope']}' does not exist in the Managed HSM '{hsm['name']}'. "
                                "Check the key name.", error_code="KeyNotFound") from exc
        if status_of(exc) == 409:  # an equal assignment exists (made since we listed): read again, theirs is the one
            return None
        ka.hsm_failure(m, exc, f"assign role at scope '{wanted['scope']}'", hsm)


def created_or_existing(m, client, hsm: dict, wanted: dict) -> dict:
    """The assignment after the PUT: the one made, or on 409 the equal one found by listing the scope again."""
    made = create(m, client, hsm, wanted)
    if made is not None:
        return made
    found = ka.find_assignments(ka.list_assignments(m, client, hsm, wanted["scope"]), wanted["scope"],
                                wanted["role_definition_id"], wanted["principal_id"])
    if not found:
        raise ModuleFailure(f"The Managed HSM '{hsm['name']}' answered 409 (the assignment exists) for role "
                            f"{wanted['role_definition_id']} of principal {wanted['principal_id']} at scope "
                            f"'{wanted['scope']}', but listing that scope again does not show it; nothing was changed.",
                            status_code=409)
    return found[0]


def delete(m, client, hsm: dict, assignment: dict):
    try:
        client.delete_role_assignment(assignment["scope"], assignment["name"])
    except Exception as exc:  # pylint: disable=broad-except
        ka.hsm_failure(m, exc, f"remove role assignment {assignment['name']}", hsm)


def wait_visible(m, client, hsm: dict, assignment: dict, present: bool, timeout: int):
    def poll():
        try:
            client.get_role_assignment(assignment["scope"], assignment["name"])
            return True
        except Exception as exc:  # pylint: disable=broad-except
            if status_of(exc) == 404:
                return False
            ka.hsm_failure(m, exc, f"read role assignment {assignment['name']}", hsm)

    m.wait(f"role assignment {assignment['name']} to be {'visible' if present else 'gone'}", poll,
           lambda seen: seen == present, timeout, 1.0)


def run(m) -> dict:
    p = m.params
    try:
        scope = ka.assignment_scope(p["key"], p["all_keys"], p["scope"])
        hsm = ka.resolve_hsm(m)
        if p["key"]:
            ka.key_name(p["key"], hsm["name"])  # a key URL must be of this HSM
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    want = p["state"] == "present"
    if want and ka.is_broad(scope):
        m.warn(f"Scope '{scope}' grants the role on every key of the HSM '{hsm['name']}', which is broader than Azure "
               "Backup needs: prefer the key of the VM (key: <name>).")
    client = ka.hsm_client(m, hsm)
    key_checked = ka.hsm_key_exists(m, client, hsm, scope[len("/keys/"):]) if scope.startswith("/keys/") else None
    role = ka.role_of(m, p["role"], ka.definitions_for(m, client, hsm, scope, p["role"]))
    principal = ka.resolve_principal(m)
    found = ka.find_assignments(ka.list_assignments(m, client, hsm, scope), scope, role["id"], principal)

    changed = want != bool(found)
    assignment = found[0] if found else (planned(scope, role, principal) if want else None)
    if changed and not m.check_mode:
        if want:
            assignment = created_or_existing(m, client, hsm, assignment)
        for old in found:
            delete(m, client, hsm, old)
        if p["wait"]:
            for item in [assignment] if want else found:
                wait_visible(m, client, hsm, item, want, p["timeout"])
        settle(p["settle_seconds"])
    if assignment is not None:
        assignment["role_name"] = role["role_name"]
    result = {"changed": changed, "assignment": assignment, "hsm_uri": hsm["uri"], "key_checked": key_checked}
    if m.diff_mode:
        view = {"scope": scope, "role": role["role_name"], "principal_id": principal}
        result["diff"] = {"before": {**view, "assigned": bool(found), "names": sorted(a["name"] for a in found)},
                          "after": {**view, "assigned": want, "names": [assignment["name"]] if want else []}}
    return result


def main():
    argument_spec = {
        **ka.HSM_ARGSPEC,
        "role": {"type": "str", "default": "Managed HSM Crypto User"},
        "principal": {"type": "str", "choices": ka.PRINCIPAL_CHOICES, "default": ka.BACKUP_MANAGEMENT_SERVICE},
        "principal_id": {"type": "str", "aliases": ["assignee_object_id"]},
        "key": {"type": "str", "no_log": False},
        "all_keys": {"type": "bool", "default": False},
        "scope": {"type": "str"},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 300},
        "settle_seconds": {"type": "int", "default": 0},
    }
    ka.hsm_module(argument_spec, (("key", "scope"),)).execute(run)


if __name__ == "__main__":
    main()
