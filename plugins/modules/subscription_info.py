#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: subscription_info
short_description: List the Azure subscriptions the credential can see
version_added: 0.2.0
description:
  - Lists every subscription the credential can see (Subscriptions - List, one request per page), with its state.
    Never writes.
  - The protect and readiness playbooks use it for C(cvm_subscriptions=all), one combined report over every usable
    subscription; the inventory plugin azure_cvm.backup.confidential_vms reads the same list when no subscription is given.
  - A subscription that is C(Disabled) or C(Deleted) is not usable (nothing can be read or written there); it is
    returned only with O(include_unusable=true).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  include_unusable:
    description: Also return the subscriptions that are C(Disabled) or C(Deleted), with RV(subscriptions[].usable=false).
    type: bool
    default: false
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Every subscription the credential can see
  azure_cvm.backup.subscription_info:
  register: visible

- name: Their ids
  ansible.builtin.debug:
    msg: "{{ visible.subscriptions | map(attribute='subscription_id') | list }}"
"""

RETURN = r"""
subscriptions:
  description: The subscriptions, in the order Azure lists them.
  returned: always
  type: list
  elements: dict
  contains:
    subscription_id: {description: The subscription id., type: str, sample: 11111111-aaaa-4aaa-8aaa-000000000001}
    display_name: {description: The subscription's display name., type: str, sample: CVM production}
    state: {description: 'The subscription state: Enabled, Warned, PastDue, Disabled or Deleted.', type: str, sample: Enabled}
    tenant_id: {description: The subscription's tenant., type: str}
    usable: {description: False for a Disabled or Deleted subscription., type: bool}
left_out:
  description: The ids of the subscriptions left out as not usable (without O(include_unusable)).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.subscriptions import visible


def run(m) -> dict:
    listed = visible(m)
    keep = [s for s in listed if s["usable"] or m.params["include_unusable"]]
    return {"changed": False, "subscriptions": keep,
            "left_out": [s["subscription_id"] for s in listed if s not in keep]}


def main():
    AzureCvmModule(argument_spec={"include_unusable": {"type": "bool", "default": False}}, supports_check_mode=True).execute(run)


if __name__ == "__main__":
    main()
