#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preview_feature_info
short_description: Read the registration state of Azure preview features
version_added: 0.1.0
description:
  - Returns one feature, a list of features, or every feature of a provider (or of the subscription) with its
    registration state. Never writes.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  names:
    description:
      - Feature names to read. Features that do not exist are returned with state C(NotFound).
      - When empty, every feature of O(provider_namespace) is listed (of the whole subscription when that is empty too).
    type: list
    elements: str
    default: []
    aliases: [name]
  provider_namespace:
    description: The resource provider of the features. Required with O(names).
    type: str
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.info_module
"""

EXAMPLES = r"""
- name: Is the CVM restore point feature registered?
  azure_cvm.backup.preview_feature_info:
    names: [RestorePointSupportForConfidentialVMV2]
    provider_namespace: Microsoft.Compute
  register: cvm_feature

- name: Every feature of Microsoft.RecoveryServices
  azure_cvm.backup.preview_feature_info:
    provider_namespace: Microsoft.RecoveryServices
"""

RETURN = r"""
features:
  description: The features asked for, in the order asked, or all features listed.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The feature name without its namespace.
      type: str
      sample: RestorePointSupportForConfidentialVMV2
    provider_namespace:
      description: The provider namespace.
      type: str
      sample: Microsoft.Compute
    id:
      description: The feature's resource id (null when not found).
      type: str
    state:
      description: The registration state, or C(NotFound).
      type: str
      sample: Registered
"""

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


def describe(feature) -> dict:
    ns, name = feature.name.rpartition("/")[::2]
    if not ns:  # some API versions return the bare name; the id always carries the namespace
        ns = arm_ids.feature_namespace(feature.id)
    return {"name": name, "provider_namespace": ns, "id": feature.id,
            "state": (feature.properties.state if feature.properties else None) or "NotRegistered"}


def run(m) -> dict:
    names, ns = m.params["names"], m.params["provider_namespace"]
    features = m.client("features").features
    if names and not ns:
        raise ModuleFailure("provider_namespace is required when names are given (for example Microsoft.Compute).")
    out = []
    try:
        if not names:
            listing = features.list(ns) if ns else features.list_all()
            out = [describe(f) for f in listing]
        for name in names:
            try:
                out.append(describe(features.get(ns, name)))
            except Exception as exc:  # pylint: disable=broad-except
                if getattr(exc, "status_code", None) != 404:
                    raise
                out.append({"name": name, "provider_namespace": ns, "id": None, "state": "NotFound"})
    except ModuleFailure:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "read preview features", f"subscription {m.subscription_id}")
    return {"changed": False, "features": out}


def main():
    argument_spec = {
        "names": {"type": "list", "elements": "str", "default": [], "aliases": ["name"]},
        "provider_namespace": {"type": "str"},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True,
                   names={"names": "feature", "provider_namespace": "provider_namespace"}).execute(run)


if __name__ == "__main__":
    main()
