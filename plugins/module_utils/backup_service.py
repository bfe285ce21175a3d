# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every Azure Backup call of the collection (Microsoft.RecoveryServices vaults, policies, protected items, jobs,
recovery points, restores), through the module base `m`. The decisions on what these calls return are in
protection_rules and restore_rules; this file only asks and sends.

Raw ARM calls (m.arm) are used where the response headers matter (Azure-AsyncOperation, remaining writes), with
container and item names percent-encoded like the SDK does.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils.cvm_rules import container_name, normalize_region, protected_item_name
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.protection_rules import item_key
from ansible_collections.azure_cvm.backup.plugins.module_utils.restore_rules import backup_names, jobs_filter, newest_first

# The api-version of azure-mgmt-recoveryservicesbackup 11.2's default, for the raw calls whose headers we need.
BACKUP_API = "2026-10-01"
VM_ITEMS_FILTER = "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"
IAASVM_FILTER = "backupManagementType eq 'AzureIaasVM'"


# ------------------------------------------------------------------------------------------------ reads


def read_vault(m, ref: dict):
    """The vault's REST dict, or None when it does not exist."""
    return m.read(lambda: m.client("recoveryservices").vaults.get(ref["resource_group"], ref["name"]),
                  "the Recovery Services vault", f"vault {ref['name']}")


def resource_guard_proxies(m, ref: dict) -> list:
    """The vault's backupResourceGuardProxies (multi-user authorization): empty when no Resource Guard is associated."""
    proxies = m.client("backup").resource_guard_proxies
    return m.read_all(lambda: proxies.get(ref["name"], ref["resource_group"]), "the Resource Guard mappings", f"vault {ref['name']}")


def put_resource_guard_proxy(m, ref: dict, name: str, guard_id: str) -> dict:
    """Associate a Resource Guard (PUT backupResourceGuardProxies/{name}); its REST dict with the protected operations."""
    body = {"properties": {"resourceGuardResourceId": guard_id}}
    try:
        return rest_dict(m.client("backup").resource_guard_proxy.put(ref["name"], ref["resource_group"], name, body))
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, f"associate Resource Guard {guard_id}", f"vault {ref['name']}")


def read_vault_config(m, ref: dict) -> dict:
    """backupconfig/vaultconfig (soft delete feature state, retention, enhanced security)."""
    configs = m.client("backup").backup_resource_vault_configs
    return m.read(lambda: configs.get(ref["name"], ref["resource_group"]), "the vault's backup configuration",
                  f"vault {ref['name']}") or {}


def update_vault_config(m, ref: dict, body: dict) -> dict:
    """PATCH backupconfig/vaultconfig, as az CLI backup-properties set and terraform-provider-azurerm send soft delete."""
    try:
        return rest_dict(m.client("backup").backup_resource_vault_configs.update(ref["name"], ref["resource_group"], body))
    except Exception as exc:  # pylint: disable=broad-except
        m.azure_failure(exc, "update the soft delete settings", f"vault {ref['name']}")


def read_policy(m, ref: dict, name: str):
    policies = m.client("backup").protection_policies
    return m.read(lambda: policies.get(ref["name"], ref["resource_group"], name), f"backup policy {name}", f"vault {ref['name']}")


def protected_items(m, ref: dict, vm_only: bool = True) -> list:
    """All protected items of a vault in one paged list (VM items only by default)."""
    items = m.client("backup").backup_protected_items
    return m.read_all(lambda: items.list(ref["name"], ref["resource_group"], filter=VM_ITEMS_FILTER if vm_only else None),
                      "the protected items", f"vault {ref['name']}")


def policies(m, ref: dict) -> list:
    """All backup policies of a vault in one paged list."""
    listed = m.client("backup").backup_policies
    return m.read_all(lambda: listed.list(ref["name"], ref["resource_group"]), "the backup policies", f"vault {ref['name']}")


def recovery_points(m, vault: dict, vm: dict, then: str = ": there is nothing to restore from.") -> list:
    """Every recovery point of the VM's protected item, newest first; ModuleFailure "VM ... is not protected in
    Recovery Services vault ..." + `then` when Azure answers 404."""
    try:
        return newest_first([rest_dict(p) for p in m.client("backup").recovery_points.list(*backup_names(vault, vm))])
    except Exception as exc:  # pylint: disable=broad-except
        if getattr(exc, "status_code", None) == 404:
            raise ModuleFailure(f"VM {vm['resource_group']}/{vm['name']} is not protected in Recovery Services vault "
                                f"{vault['resource_group']}/{vault['name']}{then}") from exc
        m.azure_failure(exc, f"list the recovery points of VM {vm['name']}", f"vault {vault['name']}")


def job_details(m, vault: dict, name: str) -> dict:
    """One backup job with its extended info."""
    jobs = m.client("backup").job_details
    job = m.read(lambda: jobs.get(vault["name"], vault["resource_group"], name), f"backup job {name}", f"vault {vault['name']}")
    if job is None:
        raise ModuleFailure(f"Job {name} was not found in Recovery Services vault {vault['name']}.")
    return job


def list_jobs(m, vault: dict, query: str | None, what: str = "the backup jobs") -> list:
    jobs = m.client("backup").backup_jobs
    return m.read_all(lambda: jobs.list(vault["name"], vault["resource_group"], filter=query), what, f"vault {vault['name']}")


def jobs_since(m, vault: dict, since: datetime) -> list:
    """The vault's Azure VM jobs since `since` (one paged list), filtered on the client too in case the filter is ignored."""
    out = []
    for job in list_jobs(m, vault, jobs_filter(start=since, end=datetime.now(timezone.utc) + timedelta(days=1))):
        start = (job.get("properties") or {}).get("startTime")
        try:
            started = datetime.fromisoformat(str(start).replace("Z", "+00:00")) if start else None
        except ValueError:
            started = None
        if started is None or started.tzinfo is None or started >= since - timedelta(seconds=5):
            out.append(job)
    return out


def operation_status(m, url: str) -> dict:
    """The body of an Azure-AsyncOperation URL."""
    return m.arm("GET", url, None)[1] or {}


def operation_job_id(op: dict) -> str | None:
    """The job an Azure Backup operation status names (properties.jobId)."""
    return ((op or {}).get("properties") or {}).get("jobId")


def async_operation(headers: dict) -> str | None:
    return headers.get("Azure-AsyncOperation") or headers.get("azure-asyncoperation")


# ------------------------------------------------------------------------------------------------ one vault's items


class VaultItems:
    """The protected items of one vault: discovery, protection writes and backups of VMs (raw calls: their headers
    carry the operation URL and the remaining writes)."""

    def __init__(self, m, ref: dict):
        self.m = m
        self.ref = ref
        self.vault_id = arm_ids.vault_id(ref)  # compared with the ids Azure returns
        self.vault_path = arm_ids.vault_path(ref)  # request paths: every name one percent-encoded segment

    def item_path(self, resource_group: str, name: str) -> str:
        container = quote(container_name(resource_group, name), safe="")
        item = quote(protected_item_name(resource_group, name), safe="")
        return f"{self.vault_path}/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item}"

    def protectable_ids(self) -> set:
        items = self.m.client("backup").backup_protectable_items
        listed = self.m.read_all(lambda: items.list(self.ref["name"], self.ref["resource_group"], filter=IAASVM_FILTER),
                                 "the protectable VMs", f"vault {self.ref['name']}")
        return {item_key(i) for i in listed} - {None}

    def refresh(self, timeout: float):
        """Discover new VMs: POST refreshContainers, then follow its Location (202 while running, 204 when done)
        with azure-core's ARM polling (m.arm_lro, final-state-via location)."""
        path = f"{self.vault_path}/backupFabrics/Azure/refreshContainers?$filter={quote(IAASVM_FILTER)}"
        what = f"the container refresh of vault {self.ref['name']}"
        try:
            self.again_if_dropped(lambda: self.m.arm_lro("POST", path, BACKUP_API, what, timeout, final_state_via="location"))
        except ModuleFailure:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self.m.azure_failure(exc, "refresh the backup containers (discover VMs)", f"vault {self.ref['name']}")

    @staticmethod
    def again_if_dropped(call, attempts: int = 3):
        """A refresh whose connection failed or dropped before an answer: azure-core does not resend a POST, but a
        second refresh is harmless (it only rediscovers). Returns what `call` returns."""
        for attempt in range(attempts):
            try:
                return call()
            except Exception as exc:  # pylint: disable=broad-except
                if type(exc).__name__ not in ("ServiceRequestError", "ServiceResponseError") or attempt == attempts - 1:
                    raise
        return None

    def backup_status(self, vm: dict) -> dict:
        """Where a VM is protected: the BackupStatus API (POST, reads only)."""
        status = self.m.client("backup").backup_status
        return rest_dict(status.get(normalize_region(vm["location"]), {"resourceId": vm["id"], "resourceType": "VM"}))

    def put_item(self, resource_group: str, name: str, body: dict) -> tuple:
        """(status, headers) of a protected item PUT (protect, change policy, resume, stop)."""
        status, dummy, headers = self.m.arm("PUT", self.item_path(resource_group, name), BACKUP_API, body)
        return status, headers

    def delete_item(self, resource_group: str, name: str) -> tuple:
        status, dummy, headers = self.m.arm("DELETE", self.item_path(resource_group, name), BACKUP_API)
        return status, headers

    def trigger_backup(self, resource_group: str, name: str, body: dict) -> dict:
        """POST {item}/backup; the answer's headers."""
        return self.m.arm("POST", self.item_path(resource_group, name) + "/backup", BACKUP_API, body)[2]
