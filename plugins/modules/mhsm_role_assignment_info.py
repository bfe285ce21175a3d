#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mhsm_role_assignment_info
short_description: List the Managed HSM local RBAC role assignments at a scope
version_added: 0.1.0
description:
  - Lists the role assignments of a Managed HSM's local RBAC at one scope, optionally only those of a role and/or a
    principal, each with its role name. Never writes.
  - Listing at V(/) or V(/keys) shows the HSM-wide assignments; per-key assignments are listed at V(/keys/<key>)
    (O(key)).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  scope:
    description: The scope to list, V(/), V(/keys) or V(/keys/<key>). Ignored when O(key) is given.
    type: str
    default: /
  key:
    description: List the assignments on this key (scope C(/keys/<key>)), by name or key URL.
    type: str
  role:
    description: Only assignments of this role (a role name, a role definition id or its GUID).
    type: str
  principal:
    description:
      - Only assignments of this principal, looked up in Microsoft Graph. V(backup_management_service) is the Backup
        Management Service (app id C(262044b1-e2ce-469f-a196-69ab7ada62d3)).
    type: str
    choices: [backup_management_service]
  principal_id:
    description: Only assignments of this principal object id (alias as in M(azure.azcollection.azure_rm_roleassignment)).
    type: str
    aliases: [assignee_object_id]
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.managed_hsm
attributes:
  check_mode:
    support: full
    description: Never writes.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""

EXAMPLES = r"""
- name: Who may use the CVM key?
  azure_cvm.backup.mhsm_role_assignment_info:
    hsm: hsm-cvm-uae
    resource_group: rg-cvm-uae
    key: cvm-hsm-key

- name: Does the Backup Management Service hold Managed HSM Crypto User on all keys?
  azure_cvm.backup.mhsm_role_assignment_info:
    hsm_uri: https://hsm-cvm-uae.managedhsm.azure.net/
    scope: /keys
    role: Managed HSM Crypto User
    principal: backup_management_service
  register: hsm_wide
"""

RETURN = r"""
assignments:
  description: The assignments at the scope that match the filters.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The assignment's id.
      type: str
      sample: /keys/cvm-hsm-key/providers/Microsoft.Authorization/roleAssignments/3b1f0c2e-8d9a-5e7b-a1c4-2f6d8e0b9a7c
    name:
      description: The assignment's name.
      type: str
      sample: 3b1f0c2e-8d9a-5e7b-a1c4-2f6d8e0b9a7c
    scope:
      description: The assignment's scope.
      type: str
      sample: /keys/cvm-hsm-key
    role_definition_id:
      description: The role definition id.
      type: str
      sample: Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b
    role_name:
      description: The role's name (null when the definition is not readable).
      type: str
      sample: Managed HSM Crypto User
    principal_id:
      description: The principal's object id.
      type: str
      sample: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
scope:
  description: The scope that was listed.
  returned: always
  type: str
  sample: /keys/cvm-hsm-key
hsm_uri:
  description: The HSM's URI.
  returned: always
  type: str
  sample: https://hsm-cvm-uae.managedhsm.azure.net/
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka


def run(m) -> dict:
    p = m.params
    try:
        scope = ka.assignment_scope(p["key"], False, None if p["key"] else p["scope"])  # key narrows the default scope /
        hsm = ka.resolve_hsm(m)
        if p["key"]:
            ka.key_name(p["key"], hsm["name"])  # a key URL must be of this HSM
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    client = ka.hsm_client(m, hsm)
    definitions = ka.definitions_for(m, client, hsm, scope, p["role"])
    names = {ka.role_guid(d["name"]): d["role_name"] for d in definitions}
    role = ka.role_of(m, p["role"], definitions) if p["role"] else None
    principal = ka.resolve_principal(m) if p["principal_id"] or p["principal"] else None
    assignments = []
    for item in ka.list_assignments(m, client, hsm, scope):
        if role and ka.role_guid(item["role_definition_id"]) != ka.role_guid(role["id"]):
            continue
        if principal and str(item["principal_id"]).lower() != principal:
            continue
        item["role_name"] = names.get(ka.role_guid(item["role_definition_id"]))
        assignments.append(item)
    return {"changed": False, "assignments": assignments, "scope": scope, "hsm_uri": hsm["uri"]}


def main():
    argument_spec = {
        **ka.HSM_ARGSPEC,
        "scope": {"type": "str", "default": "/"},
        "key": {"type": "str", "no_log": False},
        "role": {"type": "str"},
        "principal": {"type": "str", "choices": ka.PRINCIPAL_CHOICES},
        "principal_id": {"type": "str", "aliases": ["assignee_object_id"]},
    }
    ka.hsm_module(argument_spec, (("principal", "principal_id"),)).execute(run)


if __name__ == "__main__":
    main()
