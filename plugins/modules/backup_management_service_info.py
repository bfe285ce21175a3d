#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_management_service_info
short_description: Find the object id of the Backup Management Service in your tenant (read-only)
version_added: 0.1.0
description:
  - Azure Backup reads and backs up customer-managed keys as the B(Backup Management Service), the first-party app
    C(262044b1-e2ce-469f-a196-69ab7ada62d3); a role assignment or access policy needs that app's B(object id) in your
    tenant, which differs per tenant.
  - With O(principal_id), returns it as it is (checked to be a GUID) and calls nothing. Without it, looks the service
    principal up in Microsoft Graph by its app id, which needs the Graph permission C(Application.Read.All) (a service
    principal, such as an AWX/AAP credential, usually lacks it). When Graph refuses, the module fails with the command
    that finds the id, C(az ad sp show --id 262044b1-e2ce-469f-a196-69ab7ada62d3 --query id -o tsv).
  - Run it before a play's first write (the C(prerequisites) role does) so that a play which later grants key access
    fails before it changes anything. Never writes.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  principal_id:
    description:
      - The object id, when you know it already (for example from the C(az ad sp show) command above); then Microsoft
        Graph is not called.
    type: str
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: The Backup Management Service's object id (Graph only when it is not given)
  azure_cvm.backup.backup_management_service_info:
    principal_id: "{{ backup_management_service_object_id | default(omit, true) }}"
  register: bms

- name: Use it for every key-access task of the play
  ansible.builtin.set_fact:
    backup_management_service_object_id: "{{ bms.object_id }}"
"""

RETURN = r"""
object_id:
  description: The object id of the Backup Management Service in the tenant (lower case).
  returned: always
  type: str
  sample: 4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f
app_id:
  description: Its app id (the same in every tenant).
  returned: always
  type: str
  sample: 262044b1-e2ce-469f-a196-69ab7ada62d3
looked_up:
  description: True when Microsoft Graph was asked; false when O(principal_id) was given.
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka


def run(m) -> dict:
    object_id = ka.resolve_principal(m)
    return {"changed": False, "object_id": object_id, "app_id": ka.BACKUP_MANAGEMENT_SERVICE_APP_ID,
            "looked_up": not m.params.get("principal_id")}


def main():
    AzureCvmModule(argument_spec={"principal_id": {"type": "str"}}, supports_check_mode=True,
                   names={"principal_id": "object_id"}).execute(run)


if __name__ == "__main__":
    main()
