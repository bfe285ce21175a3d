# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which VMs a run leaves out: tag filters and exclude lists by name or resource id, on listed VMs (REST dicts), before
any other read. Shared by the inventory plugin (its include_tags / exclude_* options) and cvm_readiness_info (the
playbooks' cvm_include_tags / cvm_exclude_* variables). Pure: no SDK, no HTTP."""

from __future__ import annotations

import fnmatch

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids


def tags_match(tags: dict, wanted: dict) -> dict:
    """{tag name: matched?} for each entry of `wanted` (a value, a list of values, or None for any value). Tag names
    compare without case, values with case, as Azure does."""
    by_name = {str(k).lower(): v for k, v in (tags or {}).items()}
    out = {}
    for name, accepted in (wanted or {}).items():
        value = by_name.get(str(name).lower())
        if accepted is None:
            out[name] = value is not None
        else:
            choices = accepted if isinstance(accepted, list) else [accepted]
            out[name] = value is not None and value in [str(c) for c in choices]
    return out


def left_out(vm: dict, opts: dict) -> str | None:
    """Why a listed VM is left out by opts' include_tags, exclude_tags, exclude_names (shell patterns of the name or of
    resource_group/name, without case) and exclude_ids (without case); None when it is kept."""
    if not all(tags_match(vm.get("tags"), opts.get("include_tags") or {}).values()):
        return "its tags do not match include_tags"
    matched = [k for k, v in tags_match(vm.get("tags"), opts.get("exclude_tags") or {}).items() if v]
    if matched:
        return f"tag {matched[0]} matches exclude_tags"
    if (vm.get("id") or "").lower() in {str(i).rstrip("/").lower() for i in opts.get("exclude_ids") or []}:
        return "its id is in exclude_ids"
    labels = [(vm.get("name") or "").lower(), f"{arm_ids.group_of(vm.get('id'))}/{vm.get('name')}".lower()]
    pattern = next((p for p in opts.get("exclude_names") or [] for label in labels if fnmatch.fnmatchcase(label, str(p).lower())), None)
    return f"it matches exclude_names {pattern}" if pattern is not None else None
