# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cvm_readiness_info's options and its report of one VM: the targets and the optional vault checked before any
request, the checks of a VM (with the vault and policy read once through the readiness Reader) and the report dict.
The checks themselves are readiness.cvm_checks and the pure rules of cvm_rules."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import readiness
from ansible_collections.azure_cvm.backup.plugins.module_utils import selection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import Reader, cvm_checks, validate_options


def parse_params(params: dict, subscription_id: str) -> dict:
    """Validate every option before any request; ModuleFailure with the reason otherwise."""
    try:
        targets, seen = [], set()
        for item in params["vms"] or []:
            target = arm_ids.parse_vm_target(item, subscription_id)
            if target["subscription_id"].lower() != subscription_id.lower():
                raise ValueError(f"VM {item} is in subscription {target['subscription_id']}, but the module works in "
                                 f"subscription {subscription_id}: set subscription_id, or check each subscription separately.")
            key = (target["resource_group"].lower(), target["name"].lower())
            if key not in seen:
                seen.add(key)
                targets.append(target)
        vault = None if params["vault"] is None else arm_ids.parse_vault(params["vault"], subscription_id)
        if vault and vault["subscription_id"].lower() != subscription_id.lower():
            raise ValueError(f"vault {params['vault']} is in another subscription than {subscription_id}.")
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    validate_options(params)
    return {"targets": targets, "vault": vault}


def checks_of(reader: Reader, params: dict, vault_ref: dict | None, facts: dict) -> list:
    """The checks of a confidential VM, with the optional vault and policy read once through the reader."""
    vault = vault_error = policy = policy_error = None
    if vault_ref:
        vault, vault_error = reader.vault(vault_ref)
        if vault is None and not vault_error:
            vault_error = f"vault {vault_ref['name']} was not found in resource group {vault_ref['resource_group']}"
        if params["policy"] and vault is not None:
            policy, policy_error = reader.policy(vault_ref, params["policy"])
        elif params["policy"]:
            policy_error = "its vault could not be read"
    return cvm_checks(reader, params, facts, vault, vault_error, policy, policy_error, params["policy"],
                      params["assume_feature_registered"])


def report(reader: Reader, params: dict, vault_ref: dict | None, target: dict, vm: dict | None, error: str | None) -> dict:
    """The report of one target VM (its verdict, checks and facts), with its subscription prerequisites under
    `_prerequisites` for the module to report once."""
    label = f"{target['resource_group']}/{target['name']}"
    head = {"id": vm["id"] if vm else arm_ids.vm_id(target["subscription_id"], target["resource_group"], target["name"]),
            "name": vm["name"] if vm else target["name"], "resource_group": target["resource_group"]}
    checks = [cvm_rules.check_exists(label, vm, error)]
    facts = {}
    if vm is not None:
        facts = cvm_rules.vm_facts(vm)
        facts.update({"des": None, "key_location": None})
        checks.append(cvm_rules.check_security_type(facts))
        if checks[-1].status != cvm_rules.NA:
            checks.extend(checks_of(reader, params, vault_ref, facts))
        facts = {k: v for k, v in facts.items() if k not in ("id", "name", "des_id")}
    prereqs = readiness.prerequisites(checks, reader.feature(cvm_rules.RESTORE_POINT_FEATURE)[0]) if vm is not None else []
    return {**head, **readiness.report_verdict(checks, prereqs), "checks": [c.as_dict() for c in checks], "facts": facts,
            "_prerequisites": prereqs}


SELECTION_ARGSPEC = {
    "include_tags": {"type": "dict", "default": {}},
    "exclude_tags": {"type": "dict", "default": {}},
    "exclude_names": {"type": "list", "elements": "str", "default": []},
    "exclude_ids": {"type": "list", "elements": "str", "default": []},
}


def select(rows: list, params: dict) -> tuple:
    """(the rows to check, the VMs the tag filters and exclude lists leave out, each with why), before any check's read.
    A target that was not found stays, so that its report says so."""
    kept, excluded = [], []
    for target, vm, error in rows:
        reason = selection_rules.left_out(vm, params) if vm is not None else None
        if reason is None:
            kept.append((target, vm, error))
        else:
            excluded.append({"id": vm["id"], "name": vm["name"], "resource_group": target["resource_group"], "reason": reason})
    return kept, excluded
