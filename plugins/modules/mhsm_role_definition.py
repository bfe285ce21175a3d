#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mhsm_role_definition
short_description: Create, update or delete a custom Managed HSM local RBAC role (for example least-privilege key backup)
version_added: 0.1.0
description:
  - Makes sure a custom role of a Managed HSM's local RBAC exists with the given data actions, or does not exist.
    Custom roles are defined at scope C(/) (the only scope Managed HSM supports for definitions).
  - The default data actions are exactly what the Azure Backup documentation lists for a custom role that lets the
    Backup Management Service back up a confidential VM's key, C(Microsoft.KeyVault/managedHsm/keys/read/action) and
    C(Microsoft.KeyVault/managedHsm/keys/backup/action), a least-privilege alternative to C(Managed HSM Crypto User).
    Assign it with M(azure_cvm.backup.mhsm_role_assignment).
  - Idempotent by O(role_name) (case-insensitive; an existing role keeps its spelling); the data actions are compared
    as a set. A new role gets a deterministic GUID from its name.
  - The signed-in principal needs C(Managed HSM Policy Administrator) or C(Managed HSM Administrator) at scope C(/).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  role_name:
    description: The role's name. Must not be the name of a built-in role.
    type: str
    required: true
  description:
    description:
      - The role's description. When not given, a new role gets a default description and an existing one keeps its own.
    type: str
  data_actions:
    description: The data actions the role allows. Each starts with C(Microsoft.KeyVault/managedHsm/).
    type: list
    elements: str
    default:
      - Microsoft.KeyVault/managedHsm/keys/read/action
      - Microsoft.KeyVault/managedHsm/keys/backup/action
  state:
    description:
      - Whether the role should exist. V(absent) deletes only a custom role of this name; Managed HSM refuses while
        the role is still assigned (remove the assignments first).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.managed_hsm
attributes:
  check_mode:
    support: full
    description: Reads only; reports the role it would create, update or delete.
  diff_mode:
    support: full
    description: Shows the role's name, description and data actions before and after.
"""

EXAMPLES = r"""
- name: A least-privilege role for Azure Backup on Managed HSM keys
  azure_cvm.backup.mhsm_role_definition:
    hsm: hsm-cvm-uae
    resource_group: rg-cvm-uae
    role_name: Azure Backup Key Reader

- name: Give it to the Backup Management Service on the CVM key
  azure_cvm.backup.mhsm_role_assignment:
    hsm: hsm-cvm-uae
    resource_group: rg-cvm-uae
    role: Azure Backup Key Reader
    key: cvm-hsm-key
"""

RETURN = r"""
role_definition:
  description: The role after the run (in check mode, as it would be); with O(state=absent) the one deleted, or null.
  returned: always
  type: dict
  contains:
    id:
      description: The role definition id, what role assignments refer to.
      type: str
      sample: Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/5c2a4e1b-7d3f-5a9e-b8c6-0e1f2d3c4b5a
    name:
      description: The role definition's GUID.
      type: str
      sample: 5c2a4e1b-7d3f-5a9e-b8c6-0e1f2d3c4b5a
    role_name:
      description: The role's name.
      type: str
      sample: Azure Backup Key Reader
    description:
      description: The role's description.
      type: str
      sample: Read and back up Managed HSM keys (Azure Backup of confidential VMs).
    role_type:
      description: C(CustomRole).
      type: str
      sample: CustomRole
    data_actions:
      description: The data actions the role allows.
      type: list
      elements: str
      sample: [Microsoft.KeyVault/managedHsm/keys/read/action, Microsoft.KeyVault/managedHsm/keys/backup/action]
    assignable_scopes:
      description: Where the role may be assigned.
      type: list
      elements: str
      sample: [/]
hsm_uri:
  description: The HSM's URI.
  returned: always
  type: str
  sample: https://hsm-cvm-uae.managedhsm.azure.net/
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.base import import_sdk
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka

DEFAULT_DESCRIPTION = "Read and back up Managed HSM keys (Azure Backup of confidential VMs)."


def wanted_role(existing: dict | None, p: dict) -> dict:
    name = existing["name"] if existing else ka.role_definition_name(p["role_name"])
    description = p["description"] if p["description"] is not None else (existing or {}).get("description", DEFAULT_DESCRIPTION)
    role_name = existing["role_name"] if existing else p["role_name"]  # same name but for case: kept as it is
    return {"id": ka.HSM_ROLE_ID_PREFIX + name, "name": name, "role_name": role_name, "description": description,
            "role_type": "CustomRole", "data_actions": list(p["data_actions"]), "assignable_scopes": ["/"]}


def needs_update(existing: dict, wanted: dict) -> bool:
    return ka.data_actions_differ(existing["data_actions"], wanted["data_actions"]) or existing["description"] != wanted["description"]


def save(m, client, hsm: dict, role: dict) -> dict:
    permission = import_sdk("azure.keyvault.administration", "azure-keyvault-administration").KeyVaultPermission
    try:
        saved = client.set_role_definition("/", name=role["name"], role_name=role["role_name"], description=role["description"],
                                           permissions=[permission(data_actions=role["data_actions"])], assignable_scopes=["/"])
    except Exception as exc:  # pylint: disable=broad-except
        ka.hsm_failure(m, exc, f"save role definition '{role['role_name']}'", hsm)
    return ka.definition_dict(saved)


def remove(m, client, hsm: dict, role: dict):
    try:
        client.delete_role_definition("/", role["name"])
    except Exception as exc:  # pylint: disable=broad-except
        ka.hsm_failure(m, exc, f"delete role definition '{role['role_name']}' (remove its role assignments first)", hsm)


def view(role: dict | None) -> dict:
    if not role:
        return {}
    return {"role_name": role["role_name"], "description": role["description"], "data_actions": sorted(role["data_actions"])}


def run(m) -> dict:
    p = m.params
    bad = ka.bad_data_actions(p["data_actions"])
    if bad or not p["data_actions"]:
        raise ModuleFailure(f"data_actions must be Managed HSM data actions (starting with {ka.HSM_DATA_ACTION_PREFIX}), "
                            f"for example {ka.BACKUP_KEY_DATA_ACTIONS[0]}; not these: {', '.join(bad) or '(empty list)'}.")
    hsm = ka.resolve_hsm(m)
    client = ka.hsm_client(m, hsm)
    same_name = [d for d in ka.list_definitions(m, client, hsm) if (d["role_name"] or "").lower() == p["role_name"].lower()]
    builtin = [d for d in same_name if d["role_type"] != "CustomRole"]
    if builtin:
        raise ModuleFailure(f"'{p['role_name']}' is a built-in role of the Managed HSM ({builtin[0]['id']}): choose another "
                            "role_name for a custom role. Built-in roles are assigned as they are.")
    if len(same_name) > 1:
        raise ModuleFailure(f"{len(same_name)} custom roles are named '{p['role_name']}' "
                            f"({', '.join(d['name'] for d in same_name)}): delete the extra ones first.")
    existing = same_name[0] if same_name else None

    if p["state"] == "present":
        after = wanted_role(existing, p)
        changed = existing is None or needs_update(existing, after)
        if changed and not m.check_mode:
            after = save(m, client, hsm, after)
    else:
        after = None
        changed = existing is not None
        if changed and not m.check_mode:
            remove(m, client, hsm, existing)
    result = {"changed": changed, "role_definition": after if p["state"] == "present" else existing, "hsm_uri": hsm["uri"]}
    if m.diff_mode:
        result["diff"] = {"before": view(existing), "after": view(after)}
    return result


def main():
    argument_spec = {
        **ka.HSM_ARGSPEC,
        "role_name": {"type": "str", "required": True},
        "description": {"type": "str"},
        "data_actions": {"type": "list", "elements": "str", "default": list(ka.BACKUP_KEY_DATA_ACTIONS)},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }
    ka.hsm_module(argument_spec).execute(run)


if __name__ == "__main__":
    main()
