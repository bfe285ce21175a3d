"""Family recoveryservices of the local Azure: Recovery Services vaults, backup policies, discovery, protected items,
on-demand backup, recovery points, restore, backup jobs; and Microsoft.Storage storage accounts (restore staging).

Shapes follow `../shared/azure-rest-examples/recoveryservices*` and AZURE-WIRE-NOTES §4.

Scenario keys (compact form, per resource group):
  recovery_vaults: [{name, location (default: the group's), redundancy (GeoRedundant), cross_region_restore (false),
                     soft_delete (true: deleted backup data stays soft-deleted), soft_delete_days (14), policies: [...],
                     protected_items: [{vm: "rg/name", policy: name, state}]}]
      policies: either {name, properties: <REST ProtectionPolicy properties>} or compact
                {name, type: V2|V1 (V2), frequency: Daily|Hourly (Daily), time: "02:00", interval: 4, window_hours: 12,
                 retention_days: 30, instant_rp_days: 7|2, timezone: UTC}
      protected_items.state: IRPending | Protected (default; seeds one recovery point) | ProtectionStopped
      protected_items.last_backup_hours_ago: H -> the seeded recovery point (and lastBackupTime) is H hours old
      protected_items.failed_jobs: N -> N Backup jobs since the last backup, each Failed with the error a backup of the VM
                 would get now (backup_error), else UserErrorGuestAgentStatusUnavailable; lastBackupStatus Failed
      immutability: Disabled (default) | Unlocked | Locked (securitySettings.immutabilitySettings.state)
  storage_accounts: [{name, location (default: the group's), kind (StorageV2), sku (Standard_LRS)}]
Top-level scenario key `recoveryservices:` seeds the test switches below.

Test switches, in `sim.ext["recoveryservices"]` (or the scenario's top-level `recoveryservices:` block):
  snapshot_only: true            -> backups create recovery points with the snapshot tier (InstantRP) only
  fail_next_restore: {errorCode, errorString[, recommendations]} -> the next Restore job fails with that error
  hold_policy_delete: true       -> a policy DELETE answers 202 with Location and its operation keeps running (a wait
                                 that runs out); otherwise a policy is deleted at once (200), both answers of the spec
  restore_job_minutes: N         -> a Restore job that completes took N minutes: its endTime is set N minutes after its
                                 startTime (and duration follows); jobs here otherwise take the LRO's fraction of a second
  resource_guards: {<Microsoft.DataProtection/resourceGuards id>: [operations] | null} -> Resource Guards that exist
                                 (in any subscription); null: the operations of spec example PutResourceGuardProxy.json

Where the real service's error code could not be confirmed, the code used here is listed in CODES (UNVERIFIED marks).
Job errorDetails follow the spec type: `errorCode` is an int; the string code (e.g. UserErrorKeyVaultPermissionsNotConfigured)
is in `errorTitle` (a simulator choice: the real service's placement of the string code is UNVERIFIED).
The OS-disk DES at backup time has no field in IaasVMRecoveryPoint; it is kept in sim.ext["recoveryservices"]["rp_meta"].
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
import zlib
from datetime import datetime, timedelta, timezone

from .framework import (ARM_HOST, BACKUP_MANAGEMENT_SERVICE_APP_ID, ROUTER, Response, SimError, arm_id, bad_request,
                        iso, new_guid, norm, page, parse_id, seeder)
from .resources import arm_call, require_rg, resource_not_found

RS = "Microsoft.RecoveryServices"
HOST = re.escape(ARM_HOST)
SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
VAULT = RG + r"/providers/Microsoft\.RecoveryServices/vaults/(?P<vault>[^/]+)"
FABRIC = VAULT + r"/backupFabrics/Azure"
CONTAINER = FABRIC + r"/protectionContainers/(?P<container>[^/]+)"
ITEM = CONTAINER + r"/protectedItems/(?P<item>[^/]+)"
RP = ITEM + r"/recoveryPoints/(?P<rp>[^/]+)"
STORAGE = RG + r"/providers/Microsoft\.Storage/storageAccounts"

VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
ITEM_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
RP_TYPE = ITEM_TYPE + "/recoveryPoints"
VM_TYPE = "microsoft.compute/virtualmachines"
CVM_DES_TYPE = "ConfidentialVmEncryptedWithCustomerKey"

# Error codes. Confirmed in public material: ServiceResourceNotEmpty (vault delete), BMSUserErrorInvalidConfigureProtectionRequest
# (container not found), BMSUserErrorInvalidInput, UserErrorKeyVaultPermissionsNotConfigured. The others are UNVERIFIED names.
CODES = {
    "not_empty": "ServiceResourceNotEmpty",
    "no_container": "BMSUserErrorInvalidConfigureProtectionRequest",
    "invalid": "BMSUserErrorInvalidInput",
    "kv_perms": "UserErrorKeyVaultPermissionsNotConfigured",
    "already_protected": "UserErrorVmAlreadyProtected",  # UNVERIFIED (real text: "...already registered with another vault")
    "policy_missing": "BMSUserErrorPolicyNotFound",  # UNVERIFIED
    "policy_in_use": "BMSUserErrorPolicyInUse",  # UNVERIFIED
    "item_missing": "BMSUserErrorObjectNotFound",  # UNVERIFIED
    "rp_missing": "BMSUserErrorRecoveryPointNotFound",  # UNVERIFIED
    "storage_missing": "UserErrorStorageAccountNotFound",  # UNVERIFIED
    "snapshot_des": "UserErrorSnapshotTierRestoreRequiresOriginalDiskEncryptionSet",  # UNVERIFIED
    "des_type": "UserErrorInvalidDiskEncryptionSetTypeForConfidentialVM",  # UNVERIFIED
    "des_key": "UserErrorDiskEncryptionSetKeyNotAccessible",  # UNVERIFIED
    "des_missing": "UserErrorDiskEncryptionSetNotFound",  # UNVERIFIED
    "vm_missing": "UserErrorVmNotFound",  # UNVERIFIED
    "vm_exists": "UserErrorVmAlreadyExists",  # UNVERIFIED
    # Disabling CRR: az CLI refuses it client-side ("Cross Region Restore is currently a non-reversible storage property.
    # You can not disable it once enabled.", azure-cli backup/custom.py set_backup_properties); terraform-provider-azurerm
    # added the same client-side limit (PR #20406 for issue #20373). The service's own code/message: UNVERIFIED.
    "crr_disable": "BMSUserErrorCrossRegionRestoreCannotBeDisabled",  # UNVERIFIED
    "soft_deleted": "UserErrorBackupItemSoftDeleted",  # UNVERIFIED (re-protecting a soft-deleted item without undelete)
    # terraform-provider-azurerm recovery_services_vault_resource.go: "Only non-AlwaysOn allows update, otherwise, API
    # will throw `BMSUserErrorSoftDeleteStateAlwaysOn` error" (the code from a client comment; the text is UNVERIFIED).
    "always_on": "BMSUserErrorSoftDeleteStateAlwaysOn",
    "immutability": "UserErrorInvalidImmutabilityStateTransition",  # UNVERIFIED (see refuse_irreversible)
    "guard_missing": "BMSUserErrorResourceGuardNotFound",  # UNVERIFIED
    # MicrosoftDocs azure-docs articles/backup/backup-azure-troubleshoot-vm-backup-fails-snapshot-timeout.md
    # ("UserErrorGuestAgentStatusUnavailable - VM agent unable to communicate with Azure Backup")
    "agent": "UserErrorGuestAgentStatusUnavailable",
}
CRR_DISABLE_TEXT = "Cross Region Restore is currently a non-reversible storage property. You can not disable it once enabled."
JOB_ERROR_NUMBERS = {CODES["kv_perms"]: 400230}  # numeric errorCode of job errorDetails (values UNVERIFIED)
KV_RECOMMENDATION = ("Grant the Backup Management Service (app id 262044b1-e2ce-469f-a196-69ab7ada62d3) the key permissions "
                     "get, list and backup on the key vault (access policy), a role with keys/backup on an RBAC vault, or "
                     "Managed HSM Crypto User on the key in the Managed HSM; wait for the change to propagate, then retry.")
FILTER_TERM = re.compile(r"(\w+)\s+eq\s+'([^']*)'", re.I)
_SEQ = itertools.count(1)


# --------------------------------------------------------------------------------------------------- small helpers


def state(sim) -> dict:
    """Family state: discovery, indexes, recovery-point metadata, test switches."""
    st = sim.ext.setdefault("recoveryservices", {})
    for key, default in (("discovered", {}), ("items", {}), ("vm_vault", {}), ("policy_counts", {}), ("rp_meta", {})):
        st.setdefault(key, default)
    st.setdefault("snapshot_only", False)
    st.setdefault("fail_next_restore", None)
    st.setdefault("hold_policy_delete", False)
    st.setdefault("restore_job_minutes", None)
    st.setdefault("resource_guards", {})  # {guard id: [vaultCriticalOperation, ...]} (see GUARD_OPERATIONS)
    st.setdefault("guard_proxies", {})  # {vault id (lower): {proxy name: body}}
    return st


def dig(data, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def loc(name: str) -> str:
    return (name or "").replace(" ", "").lower()


def ieq(a, b) -> bool:
    return (a or "").lower() == (b or "").lower()


def etag(sim) -> str:
    return f"W/\"datetime'{sim.now().strftime('%Y-%m-%dT%H%%3A%M%%3A%S.%fZ')}'\""


def retry_after(sim) -> str:
    """Retry-After of a 202. Azure Backup sends 60 (spec examples RefreshContainers.json, ConfigureProtection.json,
    TriggerBackup_Post.json under specification/recoveryservicesbackup/.../stable/2025-02-01/examples/AzureIaasVm);
    a local operation lasts `lro_seconds`, so the default is the smallest realistic value, 1 - never 0, which hides a
    client that polls in a busy loop (`--param retry_after=60` gives Azure's pacing)."""
    return str(max(1, int(sim.config.get("retry_after") or 0)))


def parse_filter(text: str | None) -> dict:
    return {key.lower(): value for key, value in FILTER_TERM.findall(text or "")}


def parse_time(value: str) -> datetime:
    """Times as the SDKs/CLI send them in $filter ('2026-11-20 10:00:00 AM') or ISO 8601."""
    for fmt in ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"The time '{value}' in $filter is not valid.", CODES["invalid"]) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def from_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def duration(start: str, end: str | None, now: datetime) -> str:
    begin = from_iso(start)
    finish = from_iso(end) if end else now
    return f"PT{max(0.0, (finish - begin).total_seconds()):.7f}S"


def arm_route(method: str, path: str):
    """Register an ARM route that requires api-version and an existing subscription."""
    def deco(fn):
        @functools.wraps(fn)  # the handler keeps fn's name: operations.py declares it by that name
        def handler(sim, req, **kw):
            arm_call(sim, req, kw["sub"])
            return fn(sim, req, **kw)
        ROUTER.route(method, HOST, path)(handler)
        return fn
    return deco


def accepted(sim, headers: dict) -> Response:
    return Response(202, None, {**headers, "Retry-After": retry_after(sim)})


# --------------------------------------------------------------------------------------------------- vaults


def vault_id(sub, rg, name) -> str:
    return arm_id(sub, rg, RS, "vaults", name)


def require_vault(sim, sub, rg, name) -> dict:
    vault = sim.store.get(vault_id(sub, rg, name))
    if vault is None:
        raise resource_not_found(VAULT_TYPE, name, rg)
    return vault


def identity_of(sim, requested: dict | None) -> dict:
    kind = (requested or {}).get("type") or "None"
    if "systemassigned" in kind.lower().replace(" ", ""):
        return {**requested, "principalId": new_guid(), "tenantId": sim.tenant_id}
    return dict(requested or {"type": "None"})


def vault_body(sim, sub, rg, name, location, *, redundancy="GeoRedundant", crr=False, soft_delete=True, tags=None,
               identity=None, public="Enabled", sku="Standard") -> dict:
    return {
        "id": vault_id(sub, rg, name), "name": name, "type": VAULT_TYPE, "location": loc(location), "etag": etag(sim),
        "tags": dict(tags or {}), "identity": identity_of(sim, identity), "sku": {"name": sku, "tier": "Standard"},
        "properties": {
            "provisioningState": "Succeeded", "publicNetworkAccess": public, "privateEndpointConnections": [],
            "privateEndpointStateForBackup": "None", "privateEndpointStateForSiteRecovery": "None",
            "redundancySettings": {"standardTierStorageRedundancy": redundancy,
                                   "crossRegionRestore": "Enabled" if crr else "Disabled"},
            "securitySettings": {
                "immutabilitySettings": {"state": "Disabled"}, "multiUserAuthorization": "Disabled",
                "softDeleteSettings": {"softDeleteRetentionPeriodInDays": 14, "enhancedSecurityState": "Enabled",
                                       "softDeleteState": "Enabled" if soft_delete else "Disabled"},
                "sourceScanConfiguration": {"state": "Disabled", "sourceScanIdentity": {"operationIdentityType": "SystemAssigned"}}},
            "monitoringSettings": {
                "azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled", "alertsForAllReplicationIssues": "Enabled",
                                              "alertsForAllFailoverIssues": "Disabled"},
                "classicAlertSettings": {"alertsForCriticalOperations": "Disabled", "emailNotificationsForSiteRecovery": "Enabled"}},
            "secureScore": "None", "bcdrSecurityLevel": "Fair"}}


def add_vault(sim, body: dict) -> dict:
    sim.store.put(body["id"], body)
    add_policy(sim, body["id"], "DefaultPolicy", default_policy_properties())
    return body


def merge(base: dict, patch: dict) -> dict:
    """Deep merge of a PATCH body into a resource (dicts merge, everything else replaces)."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def vault_items(sim, vid: str) -> dict:
    """{'rg;vm' (lower): item id} for one vault, in protection order (soft-deleted items past their retention purged)."""
    items = state(sim)["items"].setdefault(norm(vid), {})
    if any(dig(sim.store.get(i), "properties", "isScheduledForDeferredDelete") for i in items.values()):
        purge_expired(sim, vid)
    return items


def refuse_crr_disable(existing: dict, props: dict):
    """Cross-region restore, once enabled, cannot be turned off (CODES["crr_disable"] for the sources)."""
    now = dig(existing, "properties", "redundancySettings", "crossRegionRestore")
    wanted = dig(props, "redundancySettings", "crossRegionRestore")
    if ieq(now, "Enabled") and wanted is not None and not ieq(wanted, "Enabled"):
        raise bad_request(CRR_DISABLE_TEXT, CODES["crr_disable"])


IMMUTABILITY_STATES = ("Disabled", "Unlocked", "Locked")


def refuse_irreversible(existing: dict | None, props: dict):
    """The vault settings Azure will not take back, for a PUT or PATCH `properties`:
    - immutability "Locked <- Unlocked <-> Disabled" and never Locked on creation (terraform-provider-azurerm
      recovery_services_vault_resource.go: "The API doesn't allow to set the immutability to "Locked" on creation" and
      ForceNewIfChange once Locked; MicrosoftDocs backup-azure-immutable-vault-how-to-manage.md: locking "makes
      immutability setting for the vault irreversible"). The error code and text are UNVERIFIED (CODES["immutability"]).
    - soft delete AlwaysON cannot change (backup-azure-enhanced-soft-delete-about.md; CODES["always_on"]);
    - soft delete retention 14-180 days (same page)."""
    security = props.get("securitySettings") or {}
    wanted = dig(security, "immutabilitySettings", "state")
    if wanted is not None:
        now = dig(existing, "properties", "securitySettings", "immutabilitySettings", "state") if existing else None
        if wanted not in IMMUTABILITY_STATES:
            raise bad_request(f"Immutability state '{wanted}' is not valid.", CODES["invalid"])
        if ieq(now, "Locked") and wanted != "Locked":
            raise bad_request("Immutability of the vault is locked and cannot be changed.", CODES["immutability"])
        if wanted == "Locked" and not ieq(now, "Unlocked") and not ieq(now, "Locked"):
            raise bad_request("Immutability can be locked only when it is enabled (Unlocked).", CODES["immutability"])
    soft = security.get("softDeleteSettings") or {}
    if soft.get("softDeleteState") is not None and existing is not None:
        if ieq(soft_delete_settings(existing).get("softDeleteState"), "AlwaysON") and not ieq(soft["softDeleteState"], "AlwaysON"):
            raise bad_request("Soft delete is always-on for this vault and cannot be disabled.", CODES["always_on"])
    days = soft.get("softDeleteRetentionPeriodInDays")
    if days is not None and (not isinstance(days, int) or not 14 <= days <= 180):
        raise bad_request("softDeleteRetentionPeriodInDays must be between 14 and 180.", CODES["invalid"])


@arm_route("GET", VAULT)
def get_vault(sim, req, sub, rg, vault):
    return require_vault(sim, sub, rg, vault)


@arm_route("PUT", VAULT)
def put_vault(sim, req, sub, rg, vault):
    body = req.json()
    if not body.get("location"):
        raise bad_request("The 'location' property is required.", "LocationRequired")
    require_rg(sim, sub, rg)
    props = body.get("properties") or {}
    existing = sim.store.get(vault_id(sub, rg, vault))
    if existing:
        if loc(body["location"]) != existing["location"]:
            raise bad_request(f"The location of vault '{vault}' cannot be changed.", "LocationNotAvailableForResourceType")
        refuse_crr_disable(existing, props)
        refuse_irreversible(existing, props)
        merge(existing, {k: v for k, v in body.items() if k in ("tags", "properties", "sku")})
        if body.get("identity"):
            existing["identity"] = identity_of(sim, body["identity"])
        existing["etag"] = etag(sim)
        return existing
    refuse_irreversible(None, props)
    redundancy = dig(props, "redundancySettings") or {}
    security = dig(props, "securitySettings", "softDeleteSettings", "softDeleteState") or "Enabled"
    created = vault_body(
        sim, sub, rg, vault, body["location"], redundancy=redundancy.get("standardTierStorageRedundancy") or "GeoRedundant",
        crr=ieq(redundancy.get("crossRegionRestore"), "Enabled"), soft_delete=ieq(security, "Enabled"), tags=body.get("tags"),
        identity=body.get("identity"), public=props.get("publicNetworkAccess") or "Enabled",
        sku=(body.get("sku") or {}).get("name") or "Standard")
    # The rest of what the PUT says (immutability, soft delete retention, monitoring) as sent (az CLI create_vault sends
    # securitySettings.softDeleteSettings and monitoringSettings in the PUT).
    merge(created["properties"], {k: v for k, v in props.items() if k in ("securitySettings", "monitoringSettings")})
    add_vault(sim, created)
    op = sim.start_operation(kind="vault")
    return Response(201, created, {"Azure-AsyncOperation": req.url(f"{created['id']}/operationStatus/{op.id}"),
                                   "Retry-After": retry_after(sim)})


@arm_route("PATCH", VAULT)
def patch_vault(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)
    patch = {k: v for k, v in req.json().items() if k in ("tags", "properties", "sku", "identity")}
    refuse_crr_disable(existing, patch.get("properties") or {})
    refuse_irreversible(existing, patch.get("properties") or {})

    def finish(sim, op):
        if patch.get("identity"):
            existing["identity"] = identity_of(sim, patch.pop("identity"))
        merge(existing, patch)
        existing["etag"] = etag(sim)

    op = sim.start_operation(finish=finish, kind="vault")
    return accepted(sim, {"Azure-AsyncOperation": req.url(f"{existing['id']}/operationStatus/{op.id}"),
                          "Location": req.url(f"{existing['id']}/operationResults/{op.id}")})


@arm_route("DELETE", VAULT)
def delete_vault(sim, req, sub, rg, vault):
    existing = sim.store.get(vault_id(sub, rg, vault))
    if existing is None:
        return Response(204)
    containers = [dig(sim.store.get(iid), "properties", "containerName") for iid in vault_items(sim, existing["id"]).values()]
    if containers:
        raise bad_request("Vault cannot be deleted as there are existing resources within the vault. Please ensure there are "
                          "no backup items, protected servers, or backup management servers associated with this vault. "
                          "Unregister the following containers associated with this vault before proceeding for deletion: "
                          + ", ".join(f"IaasVMContainer;{c}" for c in containers), CODES["not_empty"])
    existing["properties"]["provisioningState"] = "Deleting"

    def finish(sim, op):
        for child in ("backupPolicies", "backupJobs"):
            for res in sim.store.children(existing["id"], child):
                sim.store.delete(res["id"])
        state(sim)["discovered"].pop(norm(existing["id"]), None)
        state(sim)["items"].pop(norm(existing["id"]), None)
        sim.store.delete(existing["id"])

    op = sim.start_operation(finish=finish, kind="vault")
    return accepted(sim, {"Azure-AsyncOperation": req.url(f"{existing['id']}/operationStatus/{op.id}"),
                          "Location": req.url(f"{existing['id']}/operationResults/{op.id}")})


def require_op(sim, op_id: str):
    op = sim.ops.get(op_id)
    if op is None:
        raise SimError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    return op


def op_status(op, rid: str | None = None) -> dict:
    body = op.status_body(rid or op.id)
    if op.data.get("jobId"):
        body["properties"] = {"objectType": "OperationStatusJobExtendedInfo", "jobId": op.data["jobId"]}
    return body


@arm_route("GET", VAULT + r"/operationStatus/(?P<op>[^/]+)")
def get_vault_op_status(sim, req, sub, rg, vault, op):
    return op_status(require_op(sim, op))


@arm_route("GET", VAULT + r"/operationResults/(?P<op>[^/]+)")
def get_vault_op_result(sim, req, sub, rg, vault, op):
    return op_result(sim, req, require_op(sim, op))


def op_result(sim, req, op, result=None) -> Response:
    """operationResults: 202 (with Location again) while running, the error if it failed, else 200 result / 204."""
    if op.status == "InProgress":
        return accepted(sim, {"Location": f"https://{req.host}{req.target}"})
    if op.status == "Failed":
        return Response(400, {"error": op.error})
    return Response(200, result) if result is not None else Response(204)


@arm_route("GET", RG + r"/providers/Microsoft\.RecoveryServices/vaults")
def list_vaults_rg(sim, req, sub, rg):
    # A list under a resource group that does not exist is ARM's 404 ResourceGroupNotFound, not an empty list
    # (evidence.yml arm-list-missing-resource-group: error-not-found.md; Azure/service-fabric-mesh-preview#37, a
    # provider list under a missing group answers Not Found; Azure/azure-cli#17977, "Resource group '...' could not be
    # found." from a list; Azure/azure-cli#2184, only the subscription-level $filter list answered []).
    require_rg(sim, sub, rg)
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{RS}", "vaults"))


@arm_route("GET", SUB + r"/providers/Microsoft\.RecoveryServices/vaults")
def list_vaults_sub(sim, req, sub):
    prefix = f"/subscriptions/{sub}/".lower()
    return page(sim, req, sim.store.find(lambda r: r.get("type") == VAULT_TYPE and r["id"].lower().startswith(prefix)))


@arm_route("GET", VAULT + r"/backupstorageconfig/vaultstorageconfig")
def get_storage_config(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)
    redundancy = existing["properties"]["redundancySettings"]
    locked = bool(vault_items(sim, existing["id"]))
    return {"id": f"{existing['id']}/backupstorageconfig/vaultstorageconfig", "name": "vaultstorageconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupstorageconfig",
            "properties": {"storageModelType": redundancy["standardTierStorageRedundancy"],
                           "storageType": redundancy["standardTierStorageRedundancy"],
                           "storageTypeState": "Locked" if locked else "Unlocked",
                           "crossRegionRestoreFlag": redundancy["crossRegionRestore"] == "Enabled"}}


@arm_route("PUT", VAULT + r"/backupstorageconfig/vaultstorageconfig")
def put_storage_config(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)
    props = req.json().get("properties") or {}
    redundancy = existing["properties"]["redundancySettings"]
    if props.get("storageModelType") or props.get("storageType"):
        redundancy["standardTierStorageRedundancy"] = props.get("storageModelType") or props.get("storageType")
    if "crossRegionRestoreFlag" in props:
        refuse_crr_disable(existing, {"redundancySettings": {
            "crossRegionRestore": "Enabled" if props["crossRegionRestoreFlag"] else "Disabled"}})
        redundancy["crossRegionRestore"] = "Enabled" if props["crossRegionRestoreFlag"] else "Disabled"
    return get_storage_config(sim, req, sub, rg, vault)


@arm_route("PATCH", VAULT + r"/backupstorageconfig/vaultstorageconfig")
def patch_storage_config(sim, req, sub, rg, vault):
    put_storage_config(sim, req, sub, rg, vault)
    return Response(204)


# Vault backup config (soft delete, enhanced security): GET/PUT/PATCH .../backupconfig/vaultconfig, spec examples
# Common/BackupResourceVaultConfigs_{Get,Put,Patch}.json (recoveryservicesbackup stable/2025-02-01); property names from
# the SDK model BackupResourceVaultConfig (azure-mgmt-recoveryservicesbackup 11.2). It reads and writes the same state
# as the vault's properties.securitySettings.softDeleteSettings (GETVault.json), as the portal shows one setting.
SOFT_DELETE_STATES = ("Enabled", "Disabled", "AlwaysON")


def soft_delete_settings(vault: dict) -> dict:
    return vault["properties"]["securitySettings"]["softDeleteSettings"]


def soft_delete_on(vault: dict) -> bool:
    return soft_delete_settings(vault).get("softDeleteState") in ("Enabled", "AlwaysON")


def vault_config_body(vault: dict) -> dict:
    settings = soft_delete_settings(vault)
    redundancy = vault["properties"]["redundancySettings"]["standardTierStorageRedundancy"]
    return {"id": f"{vault['id']}/backupconfig/vaultconfig", "name": "vaultconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupconfig",
            "properties": {"storageModelType": redundancy, "storageType": redundancy, "storageTypeState": "Unlocked",
                           "enhancedSecurityState": settings.get("enhancedSecurityState", "Enabled"),
                           "softDeleteFeatureState": settings["softDeleteState"],
                           "softDeleteRetentionPeriodInDays": settings["softDeleteRetentionPeriodInDays"],
                           "resourceGuardOperationRequests": [],
                           "isSoftDeleteFeatureStateEditable": settings["softDeleteState"] != "AlwaysON"}}


@arm_route("GET", VAULT + r"/backupconfig/vaultconfig")
def get_vault_config(sim, req, sub, rg, vault):
    return vault_config_body(require_vault(sim, sub, rg, vault))


@arm_route("PUT", VAULT + r"/backupconfig/vaultconfig")
@arm_route("PATCH", VAULT + r"/backupconfig/vaultconfig")
def update_vault_config(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)
    props = req.json().get("properties") or {}
    settings = soft_delete_settings(existing)
    state_wanted = props.get("softDeleteFeatureState")
    if state_wanted is not None:
        if state_wanted not in SOFT_DELETE_STATES:
            raise bad_request(f"softDeleteFeatureState '{state_wanted}' is not valid.", CODES["invalid"])
        # Always-on soft delete is irreversible (MicrosoftDocs backup-azure-enhanced-soft-delete-about.md: "set soft delete
        # always-on (irreversible). Once opted, you can't disable the soft delete settings"); the error code is UNVERIFIED.
        if settings["softDeleteState"] == "AlwaysON" and state_wanted != "AlwaysON":
            raise bad_request("Soft delete is always-on for this vault and cannot be disabled.", CODES["always_on"])
        settings["softDeleteState"] = state_wanted
    if props.get("softDeleteRetentionPeriodInDays") is not None:
        days = props["softDeleteRetentionPeriodInDays"]
        # "ranging from 14 to 180 days. By default ... 14 days" (backup-azure-enhanced-soft-delete-about.md;
        # backup-azure-security-feature-cloud.md "The retention range value is between 14 days to 180 days")
        if not isinstance(days, int) or not 14 <= days <= 180:
            raise bad_request("softDeleteRetentionPeriodInDays must be between 14 and 180.", CODES["invalid"])
        settings["softDeleteRetentionPeriodInDays"] = days
    if props.get("enhancedSecurityState") is not None:
        settings["enhancedSecurityState"] = props["enhancedSecurityState"]
    existing["etag"] = etag(sim)
    return vault_config_body(existing)


# Resource guard proxies (multi-user authorization): GET .../backupResourceGuardProxies is a list, empty when the vault
# has no Resource Guard (spec examples ResourceGuardProxyCRUD/ListResourceGuardProxy.json, GetResourceGuardProxy.json);
# PUT .../backupResourceGuardProxies/{name} {properties.resourceGuardResourceId} answers 200 with the guard's
# resourceGuardOperationDetails (PutResourceGuardProxy.json, api-version 2025-02-01); az CLI
# update_resource_guard_mapping names the proxy "VaultProxy". The guard may be in another subscription (the example's
# guard subscription differs from the vault's). A guard that does not exist: the code is UNVERIFIED (CODES["guard_missing"]).
GUARD_OPERATIONS = ("Microsoft.DataProtection/resourceGuards/deleteResourceGuardProxyRequests",
                    "Microsoft.DataProtection/resourceGuards/disableSoftDeleteRequests")


def proxies_of(sim, vid: str) -> dict:
    return state(sim)["guard_proxies"].setdefault(norm(vid), {})


@arm_route("GET", VAULT + r"/backupResourceGuardProxies")
def list_resource_guard_proxies(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)
    return page(sim, req, list(proxies_of(sim, existing["id"]).values()))


@arm_route("GET", VAULT + r"/backupResourceGuardProxies/(?P<name>[^/]+)")
def get_resource_guard_proxy(sim, req, sub, rg, vault, name):
    existing = require_vault(sim, sub, rg, vault)
    found = proxies_of(sim, existing["id"]).get(name.lower())
    if found is None:
        raise SimError(404, CODES["item_missing"], f"Resource guard proxy '{name}' was not found in vault '{vault}'.")
    return found


@arm_route("PUT", VAULT + r"/backupResourceGuardProxies/(?P<name>[^/]+)")
def put_resource_guard_proxy(sim, req, sub, rg, vault, name):
    existing = require_vault(sim, sub, rg, vault)
    guard_id = dig(req.json(), "properties", "resourceGuardResourceId") or ""
    guards = {norm(k): v for k, v in state(sim)["resource_guards"].items()}
    if norm(guard_id) not in guards:
        raise bad_request(f"Resource Guard '{guard_id}' was not found or cannot be accessed.", CODES["guard_missing"])
    operations = guards[norm(guard_id)] or GUARD_OPERATIONS
    body = {"id": f"{existing['id']}/backupResourceGuardProxies/{name}", "name": name,
            "type": "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies",
            "properties": {"resourceGuardResourceId": guard_id, "lastUpdatedTime": iso(sim.now()),
                           "resourceGuardOperationDetails": [
                               {"vaultCriticalOperation": op, "defaultResourceRequest": f"{guard_id}/{op.rsplit('/', 1)[-1]}/default"}
                               for op in operations]}}
    proxies_of(sim, existing["id"])[name.lower()] = body
    existing["properties"]["securitySettings"]["multiUserAuthorization"] = "Enabled"
    return body


# --------------------------------------------------------------------------------------------------- policies


def default_policy_properties() -> dict:
    return {"backupManagementType": "AzureIaasVM", "policyType": "V1", "instantRpRetentionRangeInDays": 2, "timeZone": "UTC",
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
                               "scheduleRunTimes": ["2026-01-01T02:00:00Z"], "scheduleWeeklyFrequency": 0},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                                "dailySchedule": {"retentionTimes": ["2026-01-01T02:00:00Z"],
                                                  "retentionDuration": {"count": 30, "durationType": "Days"}}}}


def compact_policy(spec: dict) -> dict:
    """Scenario shorthand -> REST ProtectionPolicy properties."""
    v2 = str(spec.get("type", "V2")).upper() == "V2"
    at = f"2026-01-01T{spec.get('time', '02:00')}:00Z"
    schedule = {"schedulePolicyType": "SimpleSchedulePolicyV2" if v2 else "SimpleSchedulePolicy",
                "scheduleRunFrequency": spec.get("frequency", "Daily")}
    if schedule["scheduleRunFrequency"] == "Hourly":
        schedule["hourlySchedule"] = {"interval": spec.get("interval", 4), "scheduleWindowStartTime": at,
                                      "scheduleWindowDuration": spec.get("window_hours", 12)}
    elif v2:
        schedule["dailySchedule"] = {"scheduleRunTimes": [at]}
    else:
        schedule.update(scheduleRunTimes=[at], scheduleWeeklyFrequency=0)
    return {"backupManagementType": "AzureIaasVM", "policyType": "V2" if v2 else "V1", "timeZone": spec.get("timezone", "UTC"),
            "instantRpRetentionRangeInDays": spec.get("instant_rp_days", 7 if v2 else 2), "schedulePolicy": schedule,
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                                "dailySchedule": {"retentionTimes": [at],
                                                  "retentionDuration": {"count": spec.get("retention_days", 30),
                                                                        "durationType": "Days"}}}}


def policy_error(message: str) -> SimError:
    return bad_request(f"Input provided for the call is invalid: {message}", CODES["invalid"])


def validate_policy(props: dict) -> dict:
    """Check an AzureIaasVM policy the way the service does; return it with the defaults the service fills in."""
    props = copy.deepcopy(props)
    if not ieq(props.get("backupManagementType"), "AzureIaasVM"):
        return props  # other workloads are stored as given
    schedule = props.get("schedulePolicy") or {}
    kind = schedule.get("schedulePolicyType")
    if kind not in ("SimpleSchedulePolicy", "SimpleSchedulePolicyV2"):
        raise policy_error("schedulePolicy.schedulePolicyType must be SimpleSchedulePolicy or SimpleSchedulePolicyV2.")
    v2 = kind == "SimpleSchedulePolicyV2"
    if ieq(props.get("policyType"), "V2") != v2:
        raise policy_error("policyType V2 (Enhanced) requires SimpleSchedulePolicyV2, and V1 requires SimpleSchedulePolicy.")
    props["policyType"] = "V2" if v2 else "V1"
    frequency = schedule.get("scheduleRunFrequency")
    if frequency == "Hourly":
        if not v2:
            raise policy_error("Hourly backups need an Enhanced (V2) policy.")
        if dig(schedule, "hourlySchedule", "interval") not in (4, 6, 8, 12):
            raise policy_error("hourlySchedule.interval must be one of 4, 6, 8, 12 hours.")
    elif frequency not in ("Daily", "Weekly"):
        raise policy_error("scheduleRunFrequency must be Daily, Weekly or Hourly.")
    if not v2:
        schedule.setdefault("scheduleWeeklyFrequency", 0)
    instant = props.setdefault("instantRpRetentionRangeInDays", 7 if v2 else 2)
    top = 30 if v2 else 5
    if not isinstance(instant, int) or not 1 <= instant <= top:
        raise policy_error(f"instantRpRetentionRangeInDays must be between 1 and {top} for a {props['policyType']} policy.")
    retention = props.get("retentionPolicy") or {}
    schedules = [retention.get(k) for k in ("dailySchedule", "weeklySchedule", "monthlySchedule", "yearlySchedule")]
    if not any(schedules):
        raise policy_error("retentionPolicy needs at least one retention schedule.")
    for sched in filter(None, schedules):
        count = dig(sched, "retentionDuration", "count")
        if not isinstance(count, int) or count < 1:
            raise policy_error("every retentionDuration.count must be a positive number.")
    return props


def policy_id(vid: str, name: str) -> str:
    return f"{vid}/backupPolicies/{name}"


def add_policy(sim, vid: str, name: str, props: dict) -> dict:
    body = {"id": policy_id(vid, name), "name": name, "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
            "properties": {**validate_policy(props), "resourceGuardOperationRequests": None}}
    return sim.store.put(body["id"], body)


def policy_view(sim, body: dict) -> dict:
    view = {**body, "properties": dict(body["properties"])}
    view["properties"]["protectedItemsCount"] = state(sim)["policy_counts"].get(norm(body["id"]), 0)
    return view


def require_policy(sim, sub, rg, vault, name) -> dict:
    vid = require_vault(sim, sub, rg, vault)["id"]
    found = sim.store.get(policy_id(vid, name))
    if found is None:
        raise SimError(404, CODES["policy_missing"], f"Policy '{name}' was not found in vault '{vault}'.")
    return found


@arm_route("GET", VAULT + r"/backupPolicies/(?P<policy>[^/]+)")
def get_policy(sim, req, sub, rg, vault, policy):
    return policy_view(sim, require_policy(sim, sub, rg, vault, policy))


@arm_route("PUT", VAULT + r"/backupPolicies/(?P<policy>[^/]+)")
def put_policy(sim, req, sub, rg, vault, policy):
    vid = require_vault(sim, sub, rg, vault)["id"]
    props = req.json().get("properties")
    if not isinstance(props, dict):
        raise policy_error("the request has no 'properties'.")
    existing = sim.store.get(policy_id(vid, policy))
    if existing and existing["properties"].get("policyType") != validate_policy(props).get("policyType"):
        raise policy_error("a Standard (V1) policy cannot be changed to Enhanced (V2) or back.")
    return policy_view(sim, add_policy(sim, vid, existing["name"] if existing else policy, props))


@arm_route("DELETE", VAULT + r"/backupPolicies/(?P<policy>[^/]+)")
def delete_policy(sim, req, sub, rg, vault, policy):
    vid = require_vault(sim, sub, rg, vault)["id"]
    found = sim.store.get(policy_id(vid, policy))
    if found is None:
        return Response(204)
    if state(sim)["policy_counts"].get(norm(found["id"]), 0):
        raise bad_request(f"Policy '{policy}' has protected items associated with it. Associate them with another policy or "
                          "stop their protection before deleting the policy.", CODES["policy_in_use"])
    if state(sim)["hold_policy_delete"]:
        # ProtectionPolicies_Delete (spec RecoveryServicesBackup ProtectionPolicyResource.tsp: ArmResourceDeleteAsyncBase,
        # Response = ArmDeletedResponse | ArmDeleteAcceptedLroResponse<ArmLroLocationHeader & RetryAfterHeader> |
        # ArmDeletedNoContentResponse; the SDK's _delete_initial accepts 200, 202 (Location, Retry-After) and 204): the
        # 202 form, Location = the policy's operationResults (ProtectionPolicyOperationResults_Get), which stays 202 while
        # the operation runs. A test switch: the operation keeps running for an hour, so a module's wait runs out.
        op = sim.start_operation(seconds=3600, finish=lambda _sim, _op, pid=found["id"]: _sim.store.delete(pid), kind="policy_delete")
        return accepted(sim, {"Location": req.url(f"{found['id']}/operationResults/{op.id}")})
    sim.store.delete(found["id"])
    return Response(200)


@arm_route("GET", VAULT + r"/backupPolicies")
def list_policies(sim, req, sub, rg, vault):
    vid = require_vault(sim, sub, rg, vault)["id"]
    wanted = parse_filter(req.q("$filter")).get("backupmanagementtype")
    found = [policy_view(sim, p) for p in sim.store.children(vid, "backupPolicies")
             if not wanted or ieq(p["properties"].get("backupManagementType"), wanted)]
    return page(sim, req, found)


@arm_route("GET", VAULT + r"/backupPolicies/(?P<policy>[^/]+)/operationResults/(?P<op>[^/]+)")
def get_policy_op_result(sim, req, sub, rg, vault, policy, op):
    found = require_op(sim, op)
    if found.kind == "policy_delete":  # a delete's Location: 202 while it runs, then 204 (no policy left to return)
        return op_result(sim, req, found)
    return op_result(sim, req, found, policy_view(sim, require_policy(sim, sub, rg, vault, policy)))


@arm_route("GET", VAULT + r"/backupPolicies/(?P<policy>[^/]+)/operations/(?P<op>[^/]+)")
def get_policy_op_status(sim, req, sub, rg, vault, policy, op):
    found = require_op(sim, op)
    return {**found.status_body(), "properties": {"objectType": "OperationStatusJobsExtendedInfo",
                                                  "jobIds": [found.data["jobId"]] if found.data.get("jobId") else [],
                                                  "failedJobsError": {}}}


# --------------------------------------------------------------------------------------------------- discovery


def vms_in(sim, sub: str, location: str) -> list[dict]:
    prefix = f"/subscriptions/{sub}/".lower()
    return sim.store.find(lambda r: (r.get("type") or "").lower() == VM_TYPE and r["id"].lower().startswith(prefix)
                          and loc(r.get("location")) == loc(location))


def discovered(sim, vid: str) -> dict:
    return state(sim)["discovered"].setdefault(norm(vid), {})


def container_of(rg: str, vm: str) -> str:
    return f"iaasvmcontainerv2;{rg};{vm}"


def item_key(name: str) -> str | None:
    """'VM;iaasvmcontainerv2;rg;vm' or 'IaasVMContainer;iaasvmcontainerv2;rg;vm' -> 'rg;vm' (lower)."""
    parts = (name or "").split(";")
    return f"{parts[-2]};{parts[-1]}".lower() if len(parts) >= 3 else None


@arm_route("POST", FABRIC + r"/refreshContainers")
def refresh_containers(sim, req, sub, rg, vault):
    existing = require_vault(sim, sub, rg, vault)

    def finish(sim, op):
        found = discovered(sim, existing["id"])
        for vm in vms_in(sim, sub, existing["location"]):
            found[norm(vm["id"])] = None

    op = sim.start_operation(finish=finish, kind="refresh")
    return accepted(sim, {"Location": req.url(f"{existing['id']}/backupFabrics/Azure/operationResults/{op.id}")})


@arm_route("GET", FABRIC + r"/operationResults/(?P<op>[^/]+)")
def get_refresh_result(sim, req, sub, rg, vault, op):
    return op_result(sim, req, require_op(sim, op))


@arm_route("GET", FABRIC + r"/operationsStatus/(?P<op>[^/]+)")
def get_refresh_status(sim, req, sub, rg, vault, op):
    return op_status(require_op(sim, op))


def protectable_body(vid: str, vm: dict) -> dict:
    container = container_of(parse_id(vm["id"])["resourcegroups"], vm["name"])
    return {"id": f"{vid}/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}/protectableItems/VM;{container}",
            "name": f"VM;{container}", "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems",
            "properties": {"friendlyName": vm["name"], "virtualMachineId": vm["id"], "protectionState": "NotProtected",
                           "protectableItemType": "Microsoft.Compute/virtualMachines", "backupManagementType": "AzureIaasVM",
                           "workloadType": "VM"}}


@arm_route("GET", VAULT + r"/backupProtectableItems")
def list_protectable(sim, req, sub, rg, vault):
    vid = require_vault(sim, sub, rg, vault)["id"]
    wanted = parse_filter(req.q("$filter")).get("backupmanagementtype")
    if wanted and not ieq(wanted, "AzureIaasVM"):
        return page(sim, req, [])
    protected = state(sim)["vm_vault"]
    out = []
    for vm_key in discovered(sim, vid):
        vm = sim.store.get(vm_key)
        if vm is not None and vm_key not in protected:
            out.append(protectable_body(vid, vm))
    return page(sim, req, out)


def container_body(item: dict) -> dict:
    props = item["properties"]
    info = parse_id(props["sourceResourceId"])
    cid = item["id"].rsplit("/protectedItems/", 1)[0]
    return {"id": cid, "name": cid.rsplit("/", 1)[1], "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers",
            "properties": {"friendlyName": props["friendlyName"], "backupManagementType": "AzureIaasVM",
                           "registrationStatus": "Registered", "healthStatus": "Healthy",
                           "containerType": "Microsoft.Compute/virtualMachines", "protectableObjectType": "Microsoft.Compute/virtualMachines",
                           "virtualMachineId": props["sourceResourceId"], "virtualMachineVersion": "Compute",
                           "resourceGroup": info.get("resourcegroups")}}


@arm_route("GET", VAULT + r"/backupProtectionContainers")
def list_containers(sim, req, sub, rg, vault):
    vid = require_vault(sim, sub, rg, vault)["id"]
    wanted = parse_filter(req.q("$filter")).get("backupmanagementtype")
    if wanted and not ieq(wanted, "AzureIaasVM"):
        return page(sim, req, [])
    return page(sim, req, [container_body(sim.store.get(i)) for i in vault_items(sim, vid).values()])


@arm_route("GET", CONTAINER)
def get_container(sim, req, sub, rg, vault, container):
    vid = require_vault(sim, sub, rg, vault)["id"]
    iid = vault_items(sim, vid).get(item_key(container) or "")
    if iid is None:
        raise SimError(404, CODES["item_missing"], f"Container '{container}' is not registered with vault '{vault}'.")
    return container_body(sim.store.get(iid))


# --------------------------------------------------------------------------------------------------- jobs


def new_job(sim, vid: str, operation: str, entity: str, tasks=(), bag=None) -> dict:
    """A job in the shape of the spec examples Common/GetJobDetails.json and ListJobs.json (recoveryservicesbackup
    stable/2025-08-01): no isUserTriggered, actionsInfo, progressPercentage or dynamicErrorMessage, which no published
    output shows (evidence restore-job-property-bag)."""
    jid = new_guid()
    now = iso(sim.now())
    body = {"id": f"{vid}/backupJobs/{jid}", "name": jid, "type": "Microsoft.RecoveryServices/vaults/backupJobs",
            "properties": {"jobType": "AzureIaaSVMJob", "duration": "PT0S", "virtualMachineVersion": "Compute",
                           "entityFriendlyName": entity, "backupManagementType": "AzureIaasVM", "operation": operation,
                           "status": "InProgress", "startTime": now, "activityId": new_guid(),
                           "extendedInfo": {"tasksList": [{"taskId": t, "status": "InProgress" if i == 0 else "NotStarted",
                                                           "duration": "PT0S"} for i, t in enumerate(tasks)],
                                            "propertyBag": dict(bag or {})}}}
    return sim.store.put(body["id"], body)


def end_job(sim, job: dict, status: str, error: dict | None = None, bag: dict | None = None):
    props = job["properties"]
    props.update(status=status, endTime=iso(sim.now()))
    props["duration"] = duration(props["startTime"], props["endTime"], sim.now())
    ext = props["extendedInfo"]
    ext["propertyBag"].update(bag or {})
    failed_at = 0
    for index, task in enumerate(ext["tasksList"]):
        if status == "Completed":
            task["status"] = "Completed"
        elif error and index == failed_at:
            task["status"] = "Failed"
        elif task["status"] != "Completed":
            task["status"] = "Cancelled" if status == "Cancelled" else "NotStarted"
    if error:
        code = error["errorCode"]
        props["errorDetails"] = [{"errorCode": JOB_ERROR_NUMBERS.get(code, 400000 + zlib.crc32(code.encode()) % 1000),
                                  "errorTitle": code, "errorString": error.get("errorString", ""),
                                  "recommendations": list(error.get("recommendations") or [])}]


def job_running(job: dict | None) -> bool:
    return bool(job) and job["properties"]["status"] == "InProgress"


def job_view(sim, job: dict, extended: bool) -> dict:
    props = dict(job["properties"])
    props["duration"] = duration(props["startTime"], props.get("endTime"), sim.now())
    if not extended:
        props.pop("extendedInfo", None)
    return {**job, "properties": props}


def require_job(sim, sub, rg, vault, job) -> dict:
    vid = require_vault(sim, sub, rg, vault)["id"]
    found = sim.store.get(f"{vid}/backupJobs/{job}")
    if found is None:
        raise SimError(404, CODES["item_missing"], f"Job '{job}' was not found in vault '{vault}'.")
    return found


def job_matches(job: dict, terms: dict) -> bool:
    props = job["properties"]
    for key in ("operation", "status", "backupmanagementtype"):
        field = "backupManagementType" if key == "backupmanagementtype" else key
        if key in terms and not ieq(props.get(field), terms[key]):
            return False
    started = from_iso(props["startTime"])
    if "starttime" in terms and started < parse_time(terms["starttime"]):
        return False
    return "endtime" not in terms or started <= parse_time(terms["endtime"])


@arm_route("GET", VAULT + r"/backupJobs")
def list_jobs(sim, req, sub, rg, vault):
    vid = require_vault(sim, sub, rg, vault)["id"]
    terms = parse_filter(req.q("$filter"))
    jobs = [job_view(sim, j, False) for j in reversed(sim.store.children(vid, "backupJobs")) if job_matches(j, terms)]
    return page(sim, req, jobs)


@arm_route("GET", VAULT + r"/backupJobs/(?P<job>[^/]+)")
def get_job(sim, req, sub, rg, vault, job):
    return job_view(sim, require_job(sim, sub, rg, vault, job), True)


@arm_route("POST", VAULT + r"/backupJobs/(?P<job>[^/]+)/cancel")
def cancel_job(sim, req, sub, rg, vault, job):
    found = require_job(sim, sub, rg, vault, job)
    if job_running(found):
        end_job(sim, found, "Cancelled")
    op = sim.start_operation(0, kind="cancel")
    return accepted(sim, {"Location": req.url(f"{found['id']}/operationResults/{op.id}")})


@arm_route("GET", VAULT + r"/backupJobs/(?P<job>[^/]+)/operationResults/(?P<op>[^/]+)")
def get_job_op_result(sim, req, sub, rg, vault, job, op):
    return op_result(sim, req, require_op(sim, op))


# --------------------------------------------------------------------------------------------------- protected items


def item_id(vid: str, rg: str, vm: str) -> str:
    container = container_of(rg, vm)
    return f"{vid}/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}/protectedItems/VM;{container}"


def find_item(sim, sub, rg, vault, container, item) -> tuple[dict, dict | None]:
    vault_res = require_vault(sim, sub, rg, vault)
    iid = vault_items(sim, vault_res["id"]).get(item_key(item) or "")
    return vault_res, (sim.store.get(iid) if iid else None)


def require_item(sim, sub, rg, vault, container, item) -> tuple[dict, dict]:
    vault_res, found = find_item(sim, sub, rg, vault, container, item)
    if found is None:
        raise SimError(404, CODES["item_missing"], f"The protected item '{item}' was not found in vault '{vault}'.")
    return vault_res, found


def item_body(vid: str, vm_id: str) -> dict:
    info = parse_id(vm_id)
    rg, name = info["resourcegroups"], info["name"]
    return {"id": item_id(vid, rg, name), "name": f"VM;{container_of(rg, name)}", "type": ITEM_TYPE,
            "properties": {"friendlyName": name, "virtualMachineId": vm_id, "protectionStatus": "Healthy",
                           "protectionState": "IRPending", "healthStatus": "Passed", "lastBackupStatus": "",
                           "lastBackupTime": None, "protectedItemDataId": str(10 ** 17 + next(_SEQ)),
                           "protectedItemType": "Microsoft.Compute/virtualMachines", "backupManagementType": "AzureIaasVM",
                           "workloadType": "VM", "containerName": container_of(rg, name), "sourceResourceId": vm_id,
                           "policyId": "", "policyName": "", "lastRecoveryPoint": None, "isScheduledForDeferredDelete": False,
                           "extendedInfo": {"recoveryPointCount": 0, "policyInconsistent": False}}}


def set_policy(sim, item: dict, policy: dict | None):
    """Point an item at a policy (or none), keeping protectedItemsCount right."""
    counts = state(sim)["policy_counts"]
    props = item["properties"]
    if props.get("policyId"):
        old = norm(props["policyId"])
        counts[old] = max(0, counts.get(old, 0) - 1)
    props["policyId"] = policy["id"] if policy else ""
    props["policyName"] = policy["name"] if policy else ""
    if policy:
        props["policyType"] = policy["properties"].get("policyType", "V1")
        counts[norm(policy["id"])] = counts.get(norm(policy["id"]), 0) + 1


def store_item(sim, vid: str, item: dict):
    sim.store.put(item["id"], item)
    key = item_key(item["name"])
    vault_items(sim, vid)[key] = item["id"]
    state(sim)["vm_vault"][norm(item["properties"]["sourceResourceId"])] = vid
    discovered(sim, vid)[norm(item["properties"]["sourceResourceId"])] = None


def item_view(sim, item: dict, extended: bool) -> dict:
    props = dict(item["properties"])
    if extended:
        points = sim.store.children(item["id"], "recoveryPoints")
        props["extendedInfo"] = {"recoveryPointCount": len(points), "policyInconsistent": False,
                                 "oldestRecoveryPoint": points[0]["properties"]["recoveryPointTime"] if points else None}
    else:
        props.pop("extendedInfo", None)
    return {**item, "properties": props}


def has_points(sim, item: dict) -> bool:
    return bool(sim.store.children(item["id"], "recoveryPoints"))


def check_new_protection(sim, vault_res: dict, vm_id: str, key: str):
    """The synchronous checks of a first PUT: the VM exists, is free, is in the vault's region and was discovered."""
    vm = sim.store.get(vm_id)
    info = parse_id(vm_id)
    if vm is None or f"{info.get('resourcegroups')};{info['name']}".lower() != key:
        raise bad_request("Input for configure protection is not in proper format\r\nPlease ensure that container exists "
                          f"and other parameters are in valid format. The virtual machine '{vm_id}' was not found.", CODES["no_container"])
    owner = state(sim)["vm_vault"].get(norm(vm_id))
    if owner and norm(owner) != norm(vault_res["id"]):
        raise bad_request(f"Virtual machine '{vm['name']}' is already registered with another Recovery Services vault "
                          f"'{parse_id(owner)['name']}' ({owner}). Stop its protection there before protecting it in "
                          f"'{vault_res['name']}'.", CODES["already_protected"])
    if loc(vm.get("location")) != vault_res["location"]:
        raise bad_request(f"Input for configure protection is not in proper format\r\nThe virtual machine '{vm['name']}' is in "
                          f"region '{loc(vm.get('location'))}' and the vault '{vault_res['name']}' in '{vault_res['location']}'; "
                          "a virtual machine can only be protected by a vault in its own region.", CODES["no_container"])
    # A VM the vault has not discovered yet is accepted: Azure discovers it itself. terraform-provider-azurerm
    # (internal/services/recoveryservices/backup_protected_vm_resource.go, Create) and Bicep/ARM templates
    # (Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems) send exactly this PUT
    # without a refreshContainers first.
    discovered(sim, vault_res["id"])[norm(vm_id)] = None
    return vm


def resolve_policy(sim, vault_res: dict, policy_ref: str) -> dict:
    name = policy_ref.rstrip("/").rsplit("/", 1)[-1]
    policy = sim.store.get(policy_id(vault_res["id"], name))
    if policy is None or (policy_ref.startswith("/") and not ieq(policy_ref.rsplit("/backupPolicies/", 1)[0], vault_res["id"])):
        raise bad_request(f"Policy '{policy_ref}' was not found in vault '{vault_res['name']}'.", CODES["policy_missing"])
    return policy


def item_headers(req, item_path: str, op) -> dict:
    return {"Location": req.url(f"{item_path}/operationResults/{op.id}"),
            "Azure-AsyncOperation": req.url(f"{item_path}/operationsStatus/{op.id}")}


@arm_route("PUT", ITEM)
def put_item(sim, req, sub, rg, vault, container, item):
    vault_res, existing = find_item(sim, sub, rg, vault, container, item)
    key = item_key(item)
    props = req.json().get("properties") or {}
    vm_id = props.get("sourceResourceId") or dig(existing, "properties", "sourceResourceId")
    if not key or not vm_id or item_key(container) != key:
        raise bad_request("Input for configure protection is not in proper format\r\nPlease ensure that container exists and "
                          "other parameters are in valid format (sourceResourceId is required).", CODES["no_container"])
    if existing is not None and dig(existing, "properties", "isScheduledForDeferredDelete"):
        if props.get("isRehydrate"):
            return undelete_item(sim, req, vault_res, existing)
        raise bad_request(f"The backup item '{item}' is soft-deleted (scheduled for deletion on "
                          f"{existing['properties'].get('deferredDeleteTimeInUTC')}). Undelete it before protecting it "
                          "again.", CODES["soft_deleted"])
    stop = props.get("protectionState") == "ProtectionStopped"
    if stop and existing is None:
        raise SimError(404, CODES["item_missing"], f"The protected item '{item}' was not found in vault '{vault}'.")
    policy = None if stop else resolve_policy(sim, vault_res, props.get("policyId") or "")
    if existing is None:
        vm = check_new_protection(sim, vault_res, vm_id, key)
        state(sim)["vm_vault"][norm(vm_id)] = vault_res["id"]  # reserve now: a second vault's PUT fails at once
        existing_id, fresh = None, item_body(vault_res["id"], vm["id"])
    else:
        existing_id, fresh = existing["id"], None
    job = new_job(sim, vault_res["id"], "DisableBackup" if stop else "ConfigureBackup", parse_id(vm_id)["name"])

    def finish(sim, op):
        body = sim.store.get(existing_id) if existing_id else fresh
        if body is None:  # deleted while the operation ran
            end_job(sim, job, "Failed", {"errorCode": CODES["item_missing"], "errorString": "The item was deleted."})
            raise SimError(404, CODES["item_missing"], f"The protected item '{item}' was deleted.")
        set_policy(sim, body, policy)
        body["properties"]["protectionState"] = ("ProtectionStopped" if stop
                                                 else "Protected" if has_points(sim, body) else "IRPending")
        store_item(sim, vault_res["id"], body)
        end_job(sim, job, "Completed")
        return body

    op = sim.start_operation(finish=finish, kind="protect", data={"jobId": job["name"]})
    return accepted(sim, item_headers(req, existing_id or fresh["id"], op))


def undelete_item(sim, req, vault_res: dict, found: dict) -> Response:
    """Undelete (rehydrate) a soft-deleted item: PUT with isRehydrate true - az CLI undelete_protection sends it with
    protectionState ProtectionStopped (azure-cli backup/custom.py), terraform-provider-azurerm sends isRehydrate alone
    (backup_protected_vm_resource.go, resourceRecoveryServicesVaultBackupProtectedVMRecoverSoftDeleted) beside the
    protectedItemType discriminator its go-azure-sdk model's MarshalJSON always adds. The item returns
    to "stop protection with retain data" (MicrosoftDocs backup-azure-security-feature-cloud.md / secure-by-default.md)."""
    job = new_job(sim, vault_res["id"], "Undelete", found["properties"]["friendlyName"])  # operation name UNVERIFIED

    def finish(sim, op):
        props = found["properties"]
        props.update(isScheduledForDeferredDelete=False, protectionState="ProtectionStopped", isRehydrate=False)
        for key in ("deferredDeleteTimeInUTC", "deferredDeleteTimeRemaining"):
            props.pop(key, None)
        end_job(sim, job, "Completed")
        return found

    op = sim.start_operation(finish=finish, kind="protect", data={"jobId": job["name"]})
    return accepted(sim, item_headers(req, found["id"], op))


def purge_item(sim, vid: str, found: dict):
    """Remove an item and its recovery points for good."""
    for point in sim.store.children(found["id"], "recoveryPoints"):
        state(sim)["rp_meta"].pop(norm(point["id"]), None)
        sim.store.delete(point["id"])
    set_policy(sim, found, None)
    state(sim)["items"].setdefault(norm(vid), {}).pop(item_key(found["name"]), None)
    state(sim)["vm_vault"].pop(norm(found["properties"]["sourceResourceId"]), None)
    sim.store.delete(found["id"])


def purge_expired(sim, vid: str):
    """Soft-deleted items whose deferredDeleteTimeInUTC has passed are gone ("permanently deleted" after the retention,
    backup-azure-security-feature-cloud.md). Applied whenever a vault's items are looked at."""
    now = sim.now()
    for iid in list(state(sim)["items"].setdefault(norm(vid), {}).values()):
        found = sim.store.get(iid)
        due = dig(found, "properties", "deferredDeleteTimeInUTC")
        if found and dig(found, "properties", "isScheduledForDeferredDelete") and due and from_iso(due) <= now:
            purge_item(sim, vid, found)


def soft_delete(sim, item: dict, vault: dict):
    """Deleting backup data with soft delete on keeps the item, scheduled for deletion after the vault's retention
    (14 days by default): SDK model AzureIaaSVMProtectedItem isScheduledForDeferredDelete / deferredDeleteTimeInUTC /
    deferredDeleteTimeRemaining; MicrosoftDocs backup-azure-security-feature-cloud.md ("the backup data is retained for
    14 additional days"); terraform-provider-azurerm reads isScheduledForDeferredDelete to find such items. The
    recovery points stay (they can be restored after undelete); the policy is removed (UNVERIFIED detail)."""
    days = soft_delete_settings(vault)["softDeleteRetentionPeriodInDays"]
    set_policy(sim, item, None)
    item["properties"].update(isScheduledForDeferredDelete=True, protectionState="ProtectionStopped",
                              deferredDeleteTimeInUTC=iso(sim.now() + timedelta(days=days)),
                              deferredDeleteTimeRemaining=f"{days}.00:00:00")


@arm_route("GET", ITEM)
def get_item(sim, req, sub, rg, vault, container, item):
    vault_res, found = require_item(sim, sub, rg, vault, container, item)
    return item_view(sim, found, "extendedinfo" in (req.q("$filter") or "").lower())


@arm_route("DELETE", ITEM)
def delete_item(sim, req, sub, rg, vault, container, item):
    vault_res, found = find_item(sim, sub, rg, vault, container, item)
    if found is None:
        return Response(204)
    job = new_job(sim, vault_res["id"], "DeleteBackupData", found["properties"]["friendlyName"])
    keep = soft_delete_on(vault_res) or bool(found["properties"].get("isScheduledForDeferredDelete"))

    def finish(sim, op):
        if keep:  # soft delete (a second delete of a soft-deleted item changes nothing: UNVERIFIED)
            if not found["properties"].get("isScheduledForDeferredDelete"):
                soft_delete(sim, found, vault_res)
            end_job(sim, job, "Completed")
            return
        purge_item(sim, vault_res["id"], found)
        end_job(sim, job, "Completed")

    op = sim.start_operation(finish=finish, kind="delete", data={"jobId": job["name"]})
    return accepted(sim, {"Azure-AsyncOperation": req.url(f"{vault_res['id']}/backupOperations/{op.id}"),
                          "Location": req.url(f"{vault_res['id']}/backupOperationResults/{op.id}")})


@arm_route("GET", ITEM + r"/operationsStatus/(?P<op>[^/]+)")
def get_item_op_status(sim, req, sub, rg, vault, container, item, op):
    return op_status(require_op(sim, op))


@arm_route("GET", ITEM + r"/operationResults/(?P<op>[^/]+)")
def get_item_op_result(sim, req, sub, rg, vault, container, item, op):
    found = require_op(sim, op)
    result = item_view(sim, found.result, False) if found.kind == "protect" and found.result else None
    return op_result(sim, req, found, result)


@arm_route("GET", VAULT + r"/backupOperations/(?P<op>[^/]+)")
def get_backup_op_status(sim, req, sub, rg, vault, op):
    return op_status(require_op(sim, op))


@arm_route("GET", VAULT + r"/backupOperationResults/(?P<op>[^/]+)")
def get_backup_op_result(sim, req, sub, rg, vault, op):
    return op_result(sim, req, require_op(sim, op))


@arm_route("GET", VAULT + r"/backupProtectedItems")
def list_items(sim, req, sub, rg, vault):
    vid = require_vault(sim, sub, rg, vault)["id"]
    terms = parse_filter(req.q("$filter"))
    if not ieq(terms.get("backupmanagementtype", "AzureIaasVM"), "AzureIaasVM") or not ieq(terms.get("itemtype", "VM"), "VM"):
        return page(sim, req, [])
    out = []
    for iid in vault_items(sim, vid).values():
        found = sim.store.get(iid)
        if "policyname" not in terms or ieq(found["properties"].get("policyName"), terms["policyname"]):
            out.append(item_view(sim, found, False))
    return page(sim, req, out)


# --------------------------------------------------------------------------------------------------- backup


def vm_facts(sim, vm: dict) -> dict:
    """What a recovery point remembers of the VM (kept in rp_meta for restore)."""
    storage = dig(vm, "properties", "storageProfile") or {}
    os_disk = storage.get("osDisk") or {}

    def size_of(disk: dict) -> int:
        found = sim.store.get(dig(disk, "managedDisk", "id") or "")
        return disk.get("diskSizeGB") or dig(found, "properties", "diskSizeGB") or 64

    return {"vm_id": vm["id"], "name": vm["name"], "location": loc(vm.get("location")),
            "size": dig(vm, "properties", "hardwareProfile", "vmSize"),
            "security_type": dig(vm, "properties", "securityProfile", "securityType"),
            "encryption": dig(os_disk, "managedDisk", "securityProfile", "securityEncryptionType"),
            "os_des_id": dig(os_disk, "managedDisk", "securityProfile", "diskEncryptionSet", "id"),
            "os_type": os_disk.get("osType") or "Linux", "os_disk_name": os_disk.get("name") or f"{vm['name']}-osdisk",
            "os_size": size_of(os_disk),
            "data_disks": [{"lun": d.get("lun", i), "name": d.get("name"), "size": size_of(d),
                            "des_id": dig(d, "managedDisk", "diskEncryptionSet", "id")}
                           for i, d in enumerate(storage.get("dataDisks") or [])]}


def key_url_of(sim, des_id: str | None) -> str | None:
    return dig(sim.store.get(des_id or ""), "properties", "activeKey", "keyUrl")


def can_backup(sim, key_url: str) -> bool:
    """May the Backup Management Service back up this key? (keyvault family decides; allowed if it is not there yet)"""
    bms = sim.principals.get(BACKUP_MANAGEMENT_SERVICE_APP_ID)
    if bms is None:
        return False
    try:
        from .keyvault import principal_can_backup_key
    except (ImportError, AttributeError):
        return True
    return principal_can_backup_key(sim, key_url, bms["object_id"])


def backup_error(sim, vm: dict | None) -> dict | None:
    if vm is None:
        return {"errorCode": CODES["vm_missing"], "errorString": "The virtual machine of this backup item no longer exists.",
                "recommendations": ["Stop protection of the item, or restore the virtual machine."]}
    des_id = vm_facts(sim, vm)["os_des_id"]
    key_url = key_url_of(sim, des_id)
    if des_id and key_url and not can_backup(sim, key_url):
        return {"errorCode": CODES["kv_perms"],
                "errorString": "Azure Backup Service does not have sufficient permissions to Key Vault for Backup of "
                               f"Encrypted Virtual Machines. The key '{key_url}' of disk encryption set '{des_id}' cannot be backed up.",
                "recommendations": [KV_RECOMMENDATION]}
    return None


def rp_body(sim, item: dict, facts: dict, policy: dict | None, expiry: datetime, snapshot_only: bool) -> dict:
    now = sim.now()
    name = f"{int(now.timestamp() * 1000)}{next(_SEQ):04d}"
    consistency = dig(policy, "properties", "snapshotConsistencyType")
    kind = "CrashConsistent" if consistency == "OnlyCrashConsistent" else \
        "AppConsistent" if facts["os_type"] == "Windows" else "FileSystemConsistent"
    tiers = [{"type": "InstantRP", "status": "Valid"}] + ([] if snapshot_only else [{"type": "HardenedRP", "status": "Valid"}])
    # DiskInformation has lun and name only (SDK model; spec example RecoveryPoints_Get): no size
    disks = [{"lun": -1, "name": facts["os_disk_name"]}] + \
        [{"lun": d["lun"], "name": d["name"]} for d in facts["data_disks"]]
    return {"id": f"{item['id']}/recoveryPoints/{name}", "name": name, "type": RP_TYPE,
            "properties": {"objectType": "IaasVMRecoveryPoint", "recoveryPointType": kind, "recoveryPointTime": iso(now),
                           "recoveryPointAdditionalInfo": "", "sourceVMStorageType": "NormalStorage",
                           "isSourceVMEncrypted": False, "isInstantIlrSessionActive": False,
                           "recoveryPointTierDetails": tiers, "isManagedVirtualMachine": True,
                           "virtualMachineSize": facts["size"], "originalStorageAccountOption": False, "osType": facts["os_type"],
                           "recoveryPointDiskConfiguration": {"numberOfDisksIncludedInBackup": len(disks),
                                                              "numberOfDisksAttachedToVm": len(disks),
                                                              "includedDiskList": disks, "excludedDiskList": []},
                           "recoveryPointMoveReadinessInfo": {"ArchivedRP": {"isReadyForMove": False, "additionalInfo":
                                                              "Recovery point cannot be moved to archive tier yet."}},
                           "securityType": facts["security_type"] or "None", "isPrivateAccessEnabledOnAnyDisk": False,
                           "recoveryPointProperties": {"expiryTime": iso(expiry), "ruleName": "", "isSoftDeleted": False}}}


def add_recovery_point(sim, item: dict, vm: dict, expiry: datetime | None = None) -> dict:
    st = state(sim)
    facts = vm_facts(sim, vm)
    policy = sim.store.get(item["properties"].get("policyId") or "")
    point = rp_body(sim, item, facts, policy, expiry or sim.now() + timedelta(days=30), bool(st["snapshot_only"]))
    sim.store.put(point["id"], point)
    st["rp_meta"][norm(point["id"])] = facts
    props = item["properties"]
    props.update(protectionState="Protected", protectionStatus="Healthy", healthStatus="Passed", lastBackupStatus="Completed",
                 lastBackupTime=point["properties"]["recoveryPointTime"], lastRecoveryPoint=point["properties"]["recoveryPointTime"])
    return point


def finish_backup(sim, vid: str, iid: str, job: dict, expiry: datetime):
    if not job_running(job):
        return
    item = sim.store.get(iid)
    if item is None:
        end_job(sim, job, "Failed", {"errorCode": CODES["item_missing"], "errorString": "The backup item was deleted."})
        return
    vm = sim.store.get(item["properties"]["sourceResourceId"])
    error = backup_error(sim, vm)
    if error:
        item["properties"].update(lastBackupStatus="Failed", protectionStatus="Unhealthy", healthStatus="ActionRequired")
        end_job(sim, job, "Failed", error)
        return
    point = add_recovery_point(sim, item, vm, expiry)
    end_job(sim, job, "Completed", bag={"Backup Size": f"{vm_facts(sim, vm)['os_size'] * 16} MB",
                                        "Recovery point time": point["properties"]["recoveryPointTime"]})


@arm_route("POST", ITEM + r"/backup")
def trigger_backup(sim, req, sub, rg, vault, container, item):
    vault_res, found = require_item(sim, sub, rg, vault, container, item)
    props = req.json().get("properties") or {}
    expiry_text = props.get("recoveryPointExpiryTimeInUTC")
    expiry = parse_time(expiry_text) if expiry_text else sim.now() + timedelta(days=30)
    if expiry <= sim.now():
        raise bad_request("recoveryPointExpiryTimeInUTC must be in the future.", CODES["invalid"])
    job = new_job(sim, vault_res["id"], "Backup", found["properties"]["friendlyName"],
                  tasks=("Take Snapshot", "Transfer data to vault"), bag={"VM Name": found["properties"]["friendlyName"]})
    sim.later(sim.config["lro_seconds"], lambda s: finish_backup(s, vault_res["id"], found["id"], job, expiry))
    op = sim.start_operation(0, kind="backup", data={"jobId": job["name"]})
    return accepted(sim, item_headers(req, found["id"], op))


# --------------------------------------------------------------------------------------------------- recovery points


def require_point(sim, sub, rg, vault, container, item, rp) -> tuple[dict, dict, dict]:
    vault_res, found = require_item(sim, sub, rg, vault, container, item)
    point = sim.store.get(f"{found['id']}/recoveryPoints/{rp}")
    if point is None:
        raise SimError(404, CODES["rp_missing"], f"Recovery point '{rp}' was not found for item '{found['name']}'.")
    return vault_res, found, point


@arm_route("GET", ITEM + r"/recoveryPoints")
def list_points(sim, req, sub, rg, vault, container, item):
    vault_res, found = require_item(sim, sub, rg, vault, container, item)
    terms = parse_filter(req.q("$filter"))
    start = parse_time(terms["startdate"]) if "startdate" in terms else None
    end = parse_time(terms["enddate"]) if "enddate" in terms else None
    out = []
    for point in reversed(sim.store.children(found["id"], "recoveryPoints")):
        when = from_iso(point["properties"]["recoveryPointTime"])
        if (start is None or when >= start) and (end is None or when <= end):
            out.append(point)
    return page(sim, req, out)


@arm_route("GET", RP)
def get_point(sim, req, sub, rg, vault, container, item, rp):
    return require_point(sim, sub, rg, vault, container, item, rp)[2]


# --------------------------------------------------------------------------------------------------- restore


def restore_failure(code_key: str, message: str, *recommendations: str) -> dict:
    return {"errorCode": CODES[code_key], "errorString": message, "recommendations": list(recommendations)}


def key_parts(key_url: str | None) -> tuple[str, str]:
    """('vault host', 'key name') of a key URL."""
    match = re.match(r"https://([^/]+)/keys/([^/]+)", key_url or "", re.I)
    return (match.group(1).lower(), match.group(2).lower()) if match else ("", "")


def has_tier(point: dict, tier: str) -> bool:
    return any(t["type"] == tier and t["status"] == "Valid" for t in point["properties"]["recoveryPointTierDetails"])


def cvm_restore_error(sim, point: dict, facts: dict, requested_des: str | None) -> dict | None:
    """The Confidential VM restore rules (confidential-vm-restore.md): None when the restore may go ahead."""
    original = facts.get("os_des_id")
    if not requested_des or ieq(requested_des, original):
        if original and sim.store.get(original) is None:
            return restore_failure("des_missing", f"The original disk encryption set '{original}' no longer exists.",
                                   "Provide a disk encryption set of type ConfidentialVmEncryptedWithCustomerKey for the OS disk.")
        return None
    if not has_tier(point, "HardenedRP"):
        return restore_failure("snapshot_des", "This recovery point exists only in the snapshot tier, which can only be "
                               "restored with the original disk encryption set "
                               f"'{original or 'platform-managed key'}'; a different disk encryption set needs the vault tier.",
                               "Restore with the original disk encryption set, or use a recovery point that has reached the vault tier.")
    des = sim.store.get(requested_des)
    if des is None:
        return restore_failure("des_missing", f"The disk encryption set '{requested_des}' was not found.")
    if dig(des, "properties", "encryptionType") != CVM_DES_TYPE:
        return restore_failure("des_type", f"The disk encryption set '{requested_des}' has encryption type "
                               f"'{dig(des, 'properties', 'encryptionType')}'; a Confidential VM OS disk needs {CVM_DES_TYPE}.",
                               "Create a disk encryption set of type 'Confidential disk encryption with a customer-managed key'.")
    if original:
        old_vault, old_key = key_parts(key_url_of(sim, original))
        new_vault, new_key = key_parts(key_url_of(sim, requested_des))
        if old_vault and new_vault != old_vault and new_key != old_key:
            return restore_failure("des_key", f"The disk encryption set '{requested_des}' uses a key in '{new_vault}', which "
                                   f"neither is the original key vault '{old_vault}' nor holds the original key '{old_key}'.",
                                   "Use a disk encryption set on the original key vault, or restore the original key into "
                                   "the new key vault from its backup first.")
    return None


def disk_security_type(facts: dict, des_id: str | None) -> str | None:
    if facts.get("security_type") == "TrustedLaunch":
        return "TrustedLaunch"
    if facts.get("security_type") != "ConfidentialVM":
        return None
    if facts.get("encryption") == "VMGuestStateOnly":
        return "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"
    return "ConfidentialVM_DiskEncryptedWithCustomerKey" if des_id else "ConfidentialVM_DiskEncryptedWithPlatformKey"


def backup_snapshot_source(sub: str, location: str, vm_name: str, point: dict, disk_name: str) -> str:
    """creationData.sourceResourceId of a disk restored from the snapshot tier: a disk of a restore point in the VM's
    Azure Backup restore point collection, the form users show for disks restored from Azure Backup
    (hashicorp/terraform-provider-azurerm issues 3421 and 16274: ".../resourceGroups/AzureBackupRG_ukwest_1/providers/
    Microsoft.Compute/restorePointCollections/AzureBackup_vm-02_169/restorePoints/AzureBackup_20190122_014129/disks/
    vm-02_disk2_4a?id=...", createOption Restore; pull request 3598: "this gets set when a disk is restored from backup").
    Evidence register: restored-disk-source (a user's output, not a Microsoft page: UNVERIFIED)."""
    when = from_iso(point["properties"]["recoveryPointTime"])
    collection = f"AzureBackup_{vm_name}_{zlib.crc32(vm_name.lower().encode()) % 1000}"
    return (f"/subscriptions/{sub}/resourceGroups/AzureBackupRG_{location}_1/providers/Microsoft.Compute/restorePointCollections/"
            f"{collection}/restorePoints/AzureBackup_{when:%Y%m%d_%H%M%S}/disks/{disk_name}?id={new_guid()}")


def make_restored_disks(sim, compute, facts: dict, sub: str, rg: str, location: str, des_id: str | None,
                        source: str, managed_by: str | None = None, snapshot_point: dict | None = None) -> list[dict]:
    """The restored disks; from the snapshot tier (snapshot_point given) each disk's creationData names the restore
    point it came from (backup_snapshot_source), otherwise the recovery point (what a vault-tier restore shows is
    UNVERIFIED)."""
    stamp = sim.now().strftime("%Y%m%d%H%M%S")

    def origin(label: str) -> str:
        return backup_snapshot_source(sub, location, facts["name"], snapshot_point, f"{facts['name']}_{label}") if snapshot_point else source

    made = [compute.make_disk(sim, sub, rg, f"{facts['name']}-osdisk-{stamp}", location, size_gb=facts["os_size"],
                              os_type=facts["os_type"], security_type=disk_security_type(facts, des_id), des_id=des_id,
                              managed_by=managed_by, source=origin("osdisk"))]
    for disk in facts["data_disks"]:
        made.append(compute.make_disk(sim, sub, rg, f"{facts['name']}-datadisk-{disk['lun']}-{stamp}", location,
                                      size_gb=disk["size"], des_id=disk.get("des_id"), managed_by=managed_by,
                                      source=origin(f"disk{disk['lun']}")))
    for disk in made:  # make_disk may or may not store what it makes
        if sim.store.get(disk["id"]) is None:
            sim.store.put(disk["id"], disk)
    return made


def replace_vm_disks(sim, vm: dict, disks: list[dict]):
    """Original-location restore: the VM now runs on the restored disks; its old disks stay, detached."""
    storage = vm["properties"]["storageProfile"]
    old = [dig(storage, "osDisk", "managedDisk", "id")] + [dig(d, "managedDisk", "id") for d in storage.get("dataDisks") or []]
    for disk_id in filter(None, old):
        disk = sim.store.get(disk_id)
        if disk:
            disk["managedBy"] = None
            disk.setdefault("properties", {})["diskState"] = "Unattached"
    storage["osDisk"]["name"] = disks[0]["name"]
    storage["osDisk"].setdefault("managedDisk", {})["id"] = disks[0]["id"]
    for entry, disk in zip(storage.get("dataDisks") or [], disks[1:]):
        entry["name"] = disk["name"]
        entry.setdefault("managedDisk", {})["id"] = disk["id"]
    for disk in disks:
        disk["managedBy"] = vm["id"]
        disk.setdefault("properties", {})["diskState"] = "Attached"


def bag_time(when: datetime) -> str:
    """The bag's time form: month/day/year without leading zeros, 12-hour clock ('1/7/2021 10:11:19 AM' in the Oracle
    restore tutorial's `az backup job show` output, '12/25/2019 10:07:11 PM' in tutorial-restore-disk.md). Which zone it
    is in is not published; the local Azure writes UTC (evidence restore-job-point-time-zone)."""
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}"


def restore_bag(request: dict, point: dict, facts: dict) -> dict:
    """A finished Restore job's extendedInfo.propertyBag: only keys that public outputs show. The MicrosoftDocs Azure CLI
    restore tutorial (tutorial-restore-disk.md, `az backup job show ... --query properties.extendedInfo.propertyBag`)
    prints for a "Recover disks" job: "Config Blob Container Name", "Config Blob Name", "Config Blob Uri", "Job Type",
    "Recovery point time " (with the trailing space), "Target Storage Account Name", "Target resource group",
    "Template Blob Uri"; the CVM key-loss procedure (confidential-vm-restore.md, AZURE-WIRE-NOTES section 4) reads
    "Secured Encryption Info Blob Name" from the same bag. Nothing else is invented here: no recovery point id, no
    restored disk ids, no target VM name. "Job Type" for VM restores ("Restore VM") and the time format are UNVERIFIED."""
    account = parse_id(staging_account(request))["name"]
    container = f"{facts['name']}-{new_guid()}"
    blob = f"config-{facts['name']}-{new_guid()}.json"
    bag = {"Job Type": "Recover disks" if request["recoveryType"] == "RestoreDisks" else "Restore VM",
           "Recovery point time ": bag_time(from_iso(point["properties"]["recoveryPointTime"])),
           "Target Storage Account Name": account, "Config Blob Container Name": container, "Config Blob Name": blob,
           "Config Blob Uri": f"https://{account}.blob.core.windows.net/{container}/{blob}"}
    if facts.get("security_type") == "ConfidentialVM":
        bag["Secured Encryption Info Blob Name"] = f"secured-encryption-info-{facts['name']}-{new_guid()}.json"
    return bag


def run_restore(sim, request: dict, point: dict, facts: dict, des_id: str | None, snapshot: bool = False) -> dict:
    """Create what the restore type creates (from the snapshot tier when `snapshot`); return the job's property bag."""
    from . import compute  # lazily: the compute family owns disks and VMs
    kind = request["recoveryType"]
    source = point["id"]
    made = functools.partial(make_restored_disks, snapshot_point=point if snapshot else None)
    bag = restore_bag(request, point, facts)
    if kind == "OriginalLocation":
        vm = sim.store.get(facts["vm_id"])
        if vm is None:
            raise SimError(400, CODES["vm_missing"], f"The original virtual machine '{facts['vm_id']}' no longer exists; "
                                                     "use AlternateLocation or RestoreDisks.")
        info = parse_id(vm["id"])
        disks = made(sim, compute, facts, info["subscriptions"], info["resourcegroups"], loc(vm["location"]),
                     des_id, source, managed_by=vm["id"])
        replace_vm_disks(sim, vm, disks)
        return bag
    if not request.get("targetResourceGroupId"):  # RestoreDisks without a target group: VHDs in the staging account
        bag["Template Blob Uri"] = ""
        return bag
    target = parse_id(request["targetResourceGroupId"])
    sub, rg = target["subscriptions"], target["resourcegroups"]
    location = facts["location"]
    if kind == "RestoreDisks":
        disks = made(sim, compute, facts, sub, rg, location, des_id, source)
        bag.update({"Target resource group": rg,
                    "Template Blob Uri": f"https://{bag['Target Storage Account Name']}.blob.core.windows.net/"
                                         f"{bag['Config Blob Container Name']}/azuredeploy{new_guid()[:8]}.json"})
        return bag
    vm_target = request["targetVirtualMachineId"]
    vm_name = parse_id(vm_target)["name"]
    new_vm_id = arm_id(sub, rg, "Microsoft.Compute", "virtualMachines", vm_name)
    if sim.store.get(new_vm_id):
        raise SimError(400, CODES["vm_exists"], f"A virtual machine named '{vm_name}' already exists in '{rg}'.")
    disks = made(sim, compute, facts, sub, rg, location, des_id, source, managed_by=new_vm_id)
    vm = compute.make_vm(sim, sub, rg, vm_name, location, size=facts["size"], security_type=facts["security_type"],
                         encryption=facts["encryption"], des_id=des_id, os_disk_id=disks[0]["id"],
                         data_disk_ids=tuple(d["id"] for d in disks[1:]))
    if sim.store.get(vm["id"]) is None:
        sim.store.put(vm["id"], vm)
    bag["Target resource group"] = rg
    return bag


def finish_restore(sim, job: dict, request: dict, point_id: str):
    if not job_running(job):
        return
    st = state(sim)
    point = sim.store.get(point_id)
    facts = st["rp_meta"].get(norm(point_id))
    if point is None or facts is None:
        end_job(sim, job, "Failed", restore_failure("rp_missing", "The recovery point was deleted."))
        return
    # A failed Restore job keeps the staging details in its bag: the CVM key-loss procedure reads "Target Storage Account
    # Name", "Config Blob Container Name" and "Secured Encryption Info Blob Name" from a *failed* Restore job
    # (confidential-vm-restore.md, Get-AzRecoveryServicesBackupJob -Status Failed -Operation Restore).
    forced = st.get("fail_next_restore")
    if forced:
        st["fail_next_restore"] = None
        end_job(sim, job, "Failed", {"errorCode": forced["errorCode"], "errorString": forced.get("errorString", ""),
                                     "recommendations": forced.get("recommendations") or []},
                bag=restore_bag(request, point, facts))
        return
    requested = dig(request, "securedVMDetails", "securedVMOsDiskEncryptionSetId")
    error = cvm_restore_error(sim, point, facts, requested) if facts.get("security_type") == "ConfidentialVM" else None
    if error:
        end_job(sim, job, "Failed", error, bag=restore_bag(request, point, facts))
        return
    try:
        # no DES sent and a snapshot tier: Azure restores from the snapshot (confidential-vm-restore.md)
        bag = run_restore(sim, request, point, facts, requested or facts.get("os_des_id"),
                          snapshot=not requested and has_tier(point, "InstantRP"))
    except SimError as exc:
        end_job(sim, job, "Failed", {"errorCode": exc.code, "errorString": exc.message})
        return
    except (ImportError, AttributeError) as exc:  # the compute family has no make_disk/make_vm yet
        end_job(sim, job, "Failed", {"errorCode": "InternalError", "errorString": f"local Azure: compute helpers missing ({exc})"})
        return
    end_job(sim, job, "Completed", bag=bag)
    took(sim, job, st.get("restore_job_minutes"))


def took(sim, job: dict, minutes):
    """Test switch restore_job_minutes: the ended job ran `minutes`: its endTime is moved to `minutes` after its
    startTime (and duration follows), so what existed before the job started stays outside its run. Azure publishes a
    job's startTime, endTime and duration (= endTime - startTime: spec recoveryservicesbackup stable/2025-08-01
    examples Common/ListJobs.json, 05:30:32.4487085Z to 05:31:03.7553376Z is PT31.3066291S); how long a real restore
    takes is not something a witness can know, hence a switch."""
    if not minutes:
        return
    props = job["properties"]
    props["endTime"] = iso(from_iso(props["startTime"]) + timedelta(minutes=float(minutes)))
    props["duration"] = duration(props["startTime"], props["endTime"], sim.now())


def staging_account(props: dict) -> str | None:
    return props.get("storageAccountId") or dig(props, "identityBasedRestoreDetails", "targetStorageAccountId")


def validate_restore(sim, props: dict):
    """Plain bad input is refused at once (400); everything else is decided by the Restore job."""
    if props.get("objectType") not in ("IaasVMRestoreRequest", "IaasVMRestoreWithRehydrationRequest"):
        raise bad_request("properties.objectType must be IaasVMRestoreRequest.", CODES["invalid"])
    kind = props.get("recoveryType")
    if kind not in ("OriginalLocation", "AlternateLocation", "RestoreDisks"):
        raise bad_request(f"recoveryType '{kind}' is not supported for Azure VMs.", CODES["invalid"])
    account = staging_account(props)
    if not account:
        raise bad_request("A staging storage account (storageAccountId or identityBasedRestoreDetails.targetStorageAccountId) "
                          "is required for restore.", CODES["invalid"])
    if sim.store.get(account) is None:
        raise bad_request(f"The storage account '{account}' was not found.", CODES["storage_missing"])
    needed = {"AlternateLocation": ("targetResourceGroupId", "targetVirtualMachineId")}
    for field in needed.get(kind, ()):
        if not props.get(field):
            raise bad_request(f"'{field}' is required for recoveryType {kind}.", CODES["invalid"])
    if props.get("targetResourceGroupId"):
        target = parse_id(props["targetResourceGroupId"])
        if sim.store.get(f"/subscriptions/{target.get('subscriptions')}/resourceGroups/{target.get('resourcegroups')}") is None:
            raise bad_request(f"The target resource group '{props['targetResourceGroupId']}' was not found.", CODES["invalid"])


@arm_route("POST", RP + r"/restore")
def trigger_restore(sim, req, sub, rg, vault, container, item, rp):
    vault_res, found, point = require_point(sim, sub, rg, vault, container, item, rp)
    props = req.json().get("properties") or {}
    validate_restore(sim, props)
    job = new_job(sim, vault_res["id"], "Restore", found["properties"]["friendlyName"], tasks=("Transfer data from vault",),
                  bag={})  # what a running Restore job's bag holds is UNVERIFIED: nothing until it ends
    request = copy.deepcopy(props)
    sim.later(sim.config["lro_seconds"], lambda s: finish_restore(s, job, request, point["id"]))
    op = sim.start_operation(0, kind="restore", data={"jobId": job["name"]})
    return accepted(sim, item_headers(req, found["id"], op))


# --------------------------------------------------------------------------------------------------- storage accounts


def storage_body(sub, rg, spec: dict, location: str, created: datetime) -> dict:
    name = spec["name"]
    return {"id": arm_id(sub, rg, "Microsoft.Storage", "storageAccounts", name), "name": name,
            "type": "Microsoft.Storage/storageAccounts", "location": loc(spec.get("location") or location),
            "kind": spec.get("kind", "StorageV2"), "sku": {"name": spec.get("sku", "Standard_LRS"), "tier": "Standard"}, "tags": {},
            "properties": {"provisioningState": "Succeeded", "creationTime": iso(created), "accessTier": "Hot",
                           "primaryLocation": loc(spec.get("location") or location), "statusOfPrimary": "available",
                           "supportsHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False,
                           "primaryEndpoints": {svc: f"https://{name}.{svc}.core.windows.net/" for svc in ("blob", "queue", "table", "file")},
                           "encryption": {"keySource": "Microsoft.Storage",
                                          "services": {"blob": {"enabled": True}, "file": {"enabled": True}}}}}


@arm_route("GET", STORAGE + r"/(?P<name>[^/]+)")
def get_storage(sim, req, sub, rg, name):
    found = sim.store.get(arm_id(sub, rg, "Microsoft.Storage", "storageAccounts", name))
    if found is None:
        raise resource_not_found("Microsoft.Storage/storageAccounts", name, rg)
    return found


@arm_route("GET", STORAGE)
def list_storage_rg(sim, req, sub, rg):
    return page(sim, req, sim.store.children(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage", "storageAccounts"))


@arm_route("GET", SUB + r"/providers/Microsoft\.Storage/storageAccounts")
def list_storage_sub(sim, req, sub):
    prefix = f"/subscriptions/{sub}/".lower()
    return page(sim, req, sim.store.find(lambda r: r.get("type") == "Microsoft.Storage/storageAccounts"
                                         and r["id"].lower().startswith(prefix)))


# --------------------------------------------------------------------------------------------------- seeding


def seed_vault(sim, sub: str, group: dict, spec: dict):
    body = add_vault(sim, vault_body(sim, sub, group["name"], spec["name"], spec.get("location") or group["location"],
                                     redundancy=spec.get("redundancy", "GeoRedundant"), crr=bool(spec.get("cross_region_restore")),
                                     soft_delete=spec.get("soft_delete", True), identity={"type": "SystemAssigned"}))
    soft_delete_settings(body)["softDeleteRetentionPeriodInDays"] = int(spec.get("soft_delete_days", 14))
    body["properties"]["securitySettings"]["immutabilitySettings"]["state"] = spec.get("immutability", "Disabled")
    for policy in spec.get("policies") or []:
        add_policy(sim, body["id"], policy["name"], policy.get("properties") or compact_policy(policy))
    for entry in spec.get("protected_items") or []:
        vm_rg, vm_name = entry["vm"].split("/", 1)
        vm_id = arm_id(sub, vm_rg, "Microsoft.Compute", "virtualMachines", vm_name)
        vm = sim.store.get(vm_id)
        item = item_body(body["id"], vm["id"] if vm else vm_id)
        wanted = entry.get("state", "Protected")
        set_policy(sim, item, None if wanted == "ProtectionStopped" else sim.store.require(policy_id(body["id"], entry["policy"])))
        store_item(sim, body["id"], item)
        if wanted != "IRPending" and vm is not None:
            point = add_recovery_point(sim, item, vm)
            if entry.get("last_backup_hours_ago") is not None:
                backdate(sim, item, point, float(entry["last_backup_hours_ago"]))
        item["properties"]["protectionState"] = wanted
        for dummy in range(int(entry.get("failed_jobs") or 0)):
            seed_failed_job(sim, body["id"], item, vm)


def backdate(sim, item: dict, point: dict, hours: float):
    """A seeded recovery point taken `hours` ago: its recoveryPointTime and the item's lastBackupTime /
    lastRecoveryPoint (AzureIaaSVMProtectedItem, spec recoveryservicesbackup stable/2025-08-01 bms.json:
    "lastBackupTime: Timestamp of the last backup operation on this backup item")."""
    when = iso(sim.now() - timedelta(hours=hours))
    point["properties"]["recoveryPointTime"] = when
    item["properties"].update(lastBackupTime=when, lastRecoveryPoint=when)


def seed_failed_job(sim, vid: str, item: dict, vm: dict | None):
    """A Backup job of the item that failed (the error a backup would get now, else a guest agent error); the item's
    lastBackupStatus becomes Failed and its health ActionRequired, as finish_backup leaves them."""
    name = item["properties"]["friendlyName"]
    job = new_job(sim, vid, "Backup", name, tasks=("Take Snapshot", "Transfer data to vault"), bag={"VM Name": name})
    end_job(sim, job, "Failed", backup_error(sim, vm) or {
        "errorCode": CODES["agent"], "errorString": "VMAgent is unable to communicate with the Azure Backup Service.",
        "recommendations": ["Ensure the VM agent is installed and running, and that the VM has network connectivity."]})
    item["properties"].update(lastBackupStatus="Failed", protectionStatus="Unhealthy", healthStatus="ActionRequired")


# --------------------------------------------------------------------------------------------------- backup status


@arm_route("POST", SUB + r"/providers/Microsoft\.RecoveryServices/locations/(?P<region>[^/]+)/backupStatus")
def backup_status(sim, req, sub, region):
    """Where a VM is backed up (what the portal asks before it offers protection). A read, though sent as a POST."""
    body = req.json()
    vm_id = body.get("resourceId") or ""
    if (body.get("resourceType") or "VM") != "VM" or not vm_id:
        raise bad_request("resourceId (a VM resource id) and resourceType 'VM' are required.", CODES["invalid"])
    vid = state(sim)["vm_vault"].get(norm(vm_id))
    if not vid:
        return {"protectionStatus": "NotProtected", "errorCode": "Success", "errorMessage": None}
    info = parse_id(vm_id)
    item = sim.store.get(item_id(vid, info["resourcegroups"], info["virtualmachines"]))
    container = container_of(info["resourcegroups"], info["virtualmachines"])
    return {"protectionStatus": "Protected", "vaultId": vid, "fabricName": "Azure",
            "containerName": f"iaasvmcontainer;{container}", "protectedItemName": f"vm;{container}",
            "policyName": dig(item, "properties", "policyName"), "errorCode": "Success", "errorMessage": None}


@seeder(order=70)  # after compute (VMs must exist to seed protected items and their recovery points)
def seed(sim, scenario: dict):
    st = state(sim)
    st.update({k: copy.deepcopy(v) for k, v in (scenario.get("recoveryservices") or {}).items()})
    created = sim.now()
    for sub in scenario.get("subscriptions") or []:
        for group in sub.get("resource_groups") or []:
            for spec in group.get("storage_accounts") or []:
                body = storage_body(sub["id"], group["name"], spec, group["location"], created)
                sim.store.put(body["id"], body)
            for spec in group.get("recovery_vaults") or []:
                seed_vault(sim, sub["id"], group, spec)
