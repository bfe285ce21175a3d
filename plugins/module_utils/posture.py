# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reads of backup_posture_info, per subscription: each shared object is read once, with list calls per
subscription, resource group, vault and key store (never one request per VM where a list exists). The decisions are
posture_rules'; VMs, DES and features through readiness.Reader; Azure Backup through backup_service; keys and key
access through key_access.

Requests for S subscriptions, G resource groups named (or one VM list per subscription), V vaults, D DES, K key
stores and P protected target VMs: per subscription 1 VM list (or G), 1 vault list, 1 feature read (+ blocking
features); per vault 3 lists (protected items, policies, Backup jobs since job_lookback_days); per DES 1 read and 1
list of its associated resources; per Key Vault 1 read (access policies or, in RBAC mode, 1 list of role assignments
of the Backup Management Service and 1 list of role definitions) and 1 key list; per Managed HSM 1 key list, 1 list
of role assignments and 1 of role definitions; a Graph look-up of the Backup Management Service when its object id is
not given; and with include_recovery_points one list per protected VM (Azure has no vault-wide list of recovery
points)."""

from __future__ import annotations

import copy
import threading
from datetime import timedelta

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as ka
from ansible_collections.azure_cvm.backup.plugins.module_utils import posture_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.protection_rules import item_key
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import Reader
from ansible_collections.azure_cvm.backup.plugins.module_utils.restore_rules import jobs_filter


def for_subscription(m, subscription_id: str):
    """The module base for another subscription: same sign-in, retries and request counter, its own SDK clients (as the
    inventory plugin's Session.for_subscription)."""
    if subscription_id.lower() == m.subscription_id.lower():
        return m
    view = copy.copy(m)
    view.params = {**m.params, "subscription_id": subscription_id}
    view._clients = {"credential": m.credential}  # pylint: disable=protected-access
    view._lock = threading.RLock()  # pylint: disable=protected-access
    return view


class Subscription:
    """The posture of the target VMs of one subscription."""

    def __init__(self, m, params: dict, now, keys):
        self.m = m
        self.params = params
        self.now = now
        self.reader = Reader(m)
        self.keys = keys  # KeyStores, shared by every subscription

    # ---- targets

    def vms(self, targets: list) -> list:
        """The confidential VMs to report: the named ones (one list per resource group), the groups', or all."""
        if targets:
            out = []
            for t in targets:
                listing, error = self.reader.vms_of_group(t["resource_group"])
                found = next((v for v in listing or [] if (v.get("name") or "").lower() == t["name"].lower()), None)
                if found is None:
                    raise ModuleFailure(f"VM {t['resource_group']}/{t['name']} was not found in subscription "
                                        f"{self.m.subscription_id}{': ' + error if error else ''}.")
                out.append(found)
            return out
        listing = self.reader.listed_vms(self.params["resource_groups"])
        return [v for v in listing if cvm_rules.vm_facts(v)["security_type"] == "ConfidentialVM"]

    # ---- subscription and vaults

    def prerequisites(self) -> dict:
        sub = self.m.subscription_id
        feature, error = self.reader.feature(cvm_rules.RESTORE_POINT_FEATURE)
        blocking, problems = [], []
        for name in self.params["blocking_features"]:
            value, unread = self.reader.feature(name)
            if unread:
                problems.append(f"The feature {name} could not be read: {unread}.")
            elif value is not None and cvm_rules.feature_state(value) == "Registered":
                blocking.append(name)
        if error:
            problems.append(f"The preview feature {cvm_rules.RESTORE_POINT_FEATURE} could not be read: {error}.")
        out = {"subscription_id": sub, "preview_feature": "Unknown" if error else cvm_rules.feature_state(feature),
               "blocking_features": blocking, "problems": problems}
        out["problems"] += rules.subscription_problems(out)
        return out

    def vaults(self) -> list:
        """The subscription's Recovery Services vaults (one list), restricted to O(vaults) when given."""
        listed = self.m.read_all(self.m.client("recoveryservices").vaults.list_by_subscription_id,
                                 "the Recovery Services vaults", f"subscription {self.m.subscription_id}")
        wanted = {v.lower() for v in self.params["vaults"] or []}
        return [v for v in listed if not wanted or v["name"].lower() in wanted or v["id"].lower() in wanted]

    def vault_contents(self, vault: dict, since) -> dict:
        """Three lists of one vault: its VM protected items, its policies and its Backup jobs since `since`."""
        ref = {"name": vault["name"], "resource_group": arm_ids.group_of(vault["id"])}
        end = self.now + timedelta(days=1)  # as backup_service.jobs_since: a job that starts during the read is not missed
        return {"ref": ref, "vault": vault,
                "items": backup_service.protected_items(self.m, ref),
                "policies": {(p.get("name") or "").lower(): p for p in backup_service.policies(self.m, ref)},
                "jobs": backup_service.list_jobs(self.m, ref, jobs_filter(operation="Backup", start=since, end=end))}

    # ---- one VM

    def record(self, vm: dict, found: tuple | None, region_vault: dict | None, bms: str | None, bms_problem: str | None,
               subscription: dict) -> dict:
        facts = cvm_rules.vm_facts(vm)
        parts = arm_ids.parse(vm["id"]) or {}
        item, contents = found or (None, None)
        vault = contents["vault"] if contents else region_vault
        out = {"id": vm["id"], "name": vm["name"], "resource_group": parts.get("resource_group"),
               "subscription_id": parts.get("subscription"), "region": facts["region"],
               "protection": rules.protection(item, vault), "last_backup": None, "last_job": None,
               "latest_recovery_point": None, "key": None, "disk_encryption_set": None, "vault": rules.vault_state(vault)}
        if item is not None:
            policy = contents["policies"].get((item["properties"].get("policyName") or "").lower())
            out["last_backup"] = rules.last_backup(item, policy, self.now, self.params["rpo_grace_hours"])
            out["last_job"] = rules.last_job(contents["jobs"], vm["name"], out["resource_group"])
            if self.params["include_recovery_points"]:
                target = {"resource_group": out["resource_group"], "name": vm["name"]}
                out["latest_recovery_point"] = rules.latest_point(backup_service.recovery_points(self.m, contents["ref"], target))
        key_problem = None
        if facts["key_type"] == "CMK":
            key_problem = self.key_and_des(out, facts, bms, bms_problem)
        out["reasons"] = rules.vm_reasons(out, subscription, self.params["key_expiry_warning_days"], key_problem)
        out["verdict"] = rules.verdict(out["reasons"])
        return out

    def key_and_des(self, out: dict, facts: dict, bms: str | None, bms_problem: str | None) -> str | None:
        """Fill `key` and `disk_encryption_set`; the sentence of what could not be read, if anything."""
        des, error = self.reader.des(facts["des_id"])
        if des is None:
            return f"The disk encryption set {arm_ids.name_of(facts['des_id'])} could not be read: {error or 'not found'}"
        counts, count_error = self.reader.des_counts(facts["des_id"])
        out["disk_encryption_set"] = rules.des_state(des["id"], counts, self.params["des_disk_threshold"], count_error)
        info = cvm_rules.des_facts(des)
        location = info["key_location"]
        if location is None:
            return f"The disk encryption set {des['name']} has no Key Vault or Managed HSM key"
        location = {**location, "key_url": info["key_url"]}
        attributes, key_error = self.keys.attributes(self.m, location)
        access, access_error = self.keys.backup_access(self.m, location, cvm_rules.dig(des, "properties", "activeKey", "sourceVault", "id"),
                                                       bms, bms_problem)
        out["key"] = rules.key_state(location, attributes, self.now, access)
        if key_error == KeyStores.MISSING:
            out["key"]["exists"] = False
        out["key"]["problems"] = [p for p in (key_error if key_error != KeyStores.MISSING else None, access_error) if p]
        return None


class KeyStores:
    """Key attributes (one key list per store) and the Backup Management Service's access (per store: the vault's
    access policies, or its role assignments and definitions, or the HSM's local RBAC), each read once."""

    MISSING = "missing"

    def __init__(self):
        self.cache = {}

    def once(self, key, fn):
        if key not in self.cache:
            try:
                self.cache[key] = (fn(), None)
            except ModuleFailure as exc:
                self.cache[key] = (None, exc.msg.rstrip("."))
            except Exception as exc:  # pylint: disable=broad-except  # azure-core errors, duck-typed
                if getattr(exc, "status_code", None) is None:
                    raise
                self.cache[key] = (None, f"HTTP {exc.status_code} {getattr(exc, 'reason', '') or ''}".strip())
        return self.cache[key]

    def attributes(self, m, location: dict):
        """(KeyAttributes of the key's current version, None) or (None, why)."""
        uri = arm_ids.store_uri(location["key_url"])
        listed, error = self.once(("keys", uri.lower()), lambda: ka.list_store_keys(m, uri, location["kind"]))
        if listed is None:
            return None, f"the keys of {location['vault']} could not be listed: {error}"
        for item in listed:
            found = arm_ids.key_location(str(item.get("kid") or "")) or {}
            if (found.get("key_name") or "").lower() == location["key_name"].lower():
                return item.get("attributes") or {}, None
        return None, self.MISSING

    def backup_access(self, m, location: dict, source_vault: str | None, bms: str | None, bms_problem: str | None):
        """(True/False, None) or (None, why)."""
        if bms is None:
            return None, bms_problem
        if location["kind"] == "managed_hsm":
            hsm = {"name": location["vault"], "uri": arm_ids.store_uri(location["key_url"])}
            rbac, error = self.once(("hsm", hsm["uri"].lower()), lambda: self.hsm_rbac(m, hsm))
            return (None, error) if rbac is None else (ka.hsm_backup_access(rbac[0], rbac[1], location["key_name"], bms), None)
        if not source_vault:
            return None, f"the disk encryption set does not name the Key Vault of key {location['key_name']}"
        parts = arm_ids.parse(source_vault) or {}
        view = for_subscription(m, parts.get("subscription") or m.subscription_id)
        vault, error = self.once(("kv", source_vault.lower()), lambda: self.key_vault(view, parts))
        if vault is None:
            return None, f"the Key Vault {parts.get('name')} could not be read: {error}"
        if not vault["rbac"]:
            return ka.policy_backup_access(vault["policies"], bms), None
        rbac, error = self.once(("kv-rbac", source_vault.lower()), lambda: self.vault_rbac(view, vault["id"], bms))
        if rbac is None:
            return None, f"the role assignments of Key Vault {parts.get('name')} could not be listed: {error}"
        return ka.rbac_backup_access(rbac[0], rbac[1], f"{vault['id']}/keys/{location['key_name']}", bms), None

    @staticmethod
    def key_vault(m, parts: dict) -> dict:
        found = m.read(lambda: m.client("keyvault").vaults.get(parts["resource_group"], parts["name"]), f"Key Vault {parts['name']}")
        if found is None:
            raise ModuleFailure(f"it was not found in resource group {parts['resource_group']}")
        props = found.get("properties") or {}
        return {"id": found["id"], "rbac": bool(props.get("enableRbacAuthorization")), "policies": props.get("accessPolicies") or []}

    @staticmethod
    def vault_rbac(m, vault_id: str, bms: str) -> tuple:
        auth = m.client("authorization")
        assignments = m.read_all(lambda: auth.role_assignments.list_for_scope(vault_id, filter=f"principalId eq '{bms}'"),
                                 "the role assignments", vault_id)
        return assignments, m.read_all(lambda: auth.role_definitions.list(vault_id), "the role definitions", vault_id)

    @staticmethod
    def hsm_rbac(m, hsm: dict) -> tuple:
        client = ka.hsm_client(m, hsm)
        return ka.list_assignments(m, client, hsm, "/"), ka.list_definitions(m, client, hsm, "/")


def backup_management_service(m, params: dict) -> tuple:
    """(object id, None) of the Backup Management Service, or (None, why) when Graph cannot tell."""
    if params["backup_management_service_object_id"]:
        return params["backup_management_service_object_id"].lower(), None
    try:
        return ka.resolve_principal(m), None
    except ModuleFailure as exc:
        return None, ("the Backup Management Service's object id is unknown (set backup_management_service_object_id): "
                      + exc.msg.rstrip("."))


def protected_by_vm(contents: list) -> dict:
    """{VM id lower: (protected item, vault contents)} over the vaults' item lists."""
    out = {}
    for entry in contents:
        for item in entry["items"]:
            if item_key(item):
                out[item_key(item)] = (item, entry)
    return out


def vault_in_region(vaults: list, region: str) -> dict | None:
    """The first vault (by name) in a region, for the settings of an unprotected VM's would-be vault."""
    here = sorted((v for v in vaults if cvm_rules.normalize_region(v.get("location")) == region), key=lambda v: v["name"].lower())
    return here[0] if here else None
