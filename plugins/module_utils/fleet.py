# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet helpers: run calls with bounded concurrency, and wait for many long operations in rounds.

Why rounds and not one SDK poller per item: ARMPolling follows Retry-After (Azure Backup sends 60 s for protected
items) and polls each operation separately. One list call per round answers for every pending item at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.azure_cvm.backup.plugins.module_utils.base import rest_dict

MAX_CONCURRENCY = 64


def bounded_map(fn, items: list, concurrency: int) -> list:
    """[(result, exception)] of fn(item) for each item, in order, at most `concurrency` at a time.

    Exceptions are returned, not raised, so one failing item does not hide what happened to the others."""
    def call(item):
        try:
            return fn(item), None
        except Exception as exc:  # pylint: disable=broad-except  # reported per item by the caller
            return None, exc

    if not items:
        return []
    workers = max(1, min(concurrency, MAX_CONCURRENCY, len(items)))
    if workers == 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, items))


def poll_in_rounds(check, pending, timeout: float, interval: float = 1.0, max_interval: float = 10.0,
                   sleep=time.sleep, clock=time.monotonic) -> set:
    """Call check(frozenset of pending keys) -> keys now done, until nothing is pending or `timeout` seconds pass.

    The first round runs at once; the pause between rounds grows by half up to max_interval. Returns the keys
    still pending (empty when everything finished)."""
    deadline = clock() + timeout
    pending = set(pending)
    while pending:
        pending -= set(check(frozenset(pending)))
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
    return pending


# ------------------------------------------------------------------------------------------------ reads shared by the protection modules

# The api-version of azure-mgmt-recoveryservicesbackup 11.2's default, for the raw calls whose headers we need.
BACKUP_API = "2026-10-01"
VM_ITEMS_FILTER = "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"
IAASVM_FILTER = "backupManagementType eq 'AzureIaasVM'"


def read_or_none(m, fn, action: str, resource: str | None = None):
    """fn()'s REST dict, or None when Azure answers 404; any other error fails the module with a readable message."""
    try:
        return rest_dict(fn())
    except Exception as exc:  # pylint: disable=broad-except  # azure-core errors, duck-typed
        if getattr(exc, "status_code", None) == 404:
            return None
        m.azure_failure(exc, action, resource)


def list_rest(m, fn, action: str, resource: str | None = None) -> list:
    """Every item of a paged SDK list (following nextLink), as REST dicts."""
    try:
        return [rest_dict(x) for x in fn()]
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, action, resource)


def vault_protected_items(m, ref: dict, vm_only: bool = True) -> list:
    """All protected items of a vault in one paged list (VM items only by default)."""
    items = m.client("backup").backup_protected_items
    return list_rest(m, lambda: items.list(ref["name"], ref["resource_group"], filter=VM_ITEMS_FILTER if vm_only else None),
                     "list the protected items", f"vault {ref['name']}")
