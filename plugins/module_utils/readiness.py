# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CVM backup readiness checks of one VM, reading each shared object once (the Reader caches per resource
group, DES, feature, vault and policy): used by cvm_readiness_info (the report) and cvm_protection (the gate before
any write). The rules themselves are the pure functions of cvm_rules."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import vault_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure

# The support-matrix options both modules take (documented once: doc fragment azure_cvm.backup.azure.readiness).
READINESS_ARGSPEC = {
    "supported_regions": {"type": "list", "elements": "str", "default": list(cvm_rules.SUPPORTED_REGIONS)},
    "supported_size_families": {"type": "list", "elements": "str", "default": list(cvm_rules.V6_CVM_FAMILIES)},
    "des_disk_threshold": {"type": "int", "default": cvm_rules.DES_DISK_THRESHOLD},
    "blocking_features": {"type": "list", "elements": "str", "default": []},
}


def validate_options(params: dict):
    """The support-matrix options, before any request; ModuleFailure with the reason otherwise."""
    for feature in params["blocking_features"]:
        ns, name = feature.split("/", 1) if "/" in feature else (feature, "")
        if not ns or not name or "/" in name:
            raise ModuleFailure(f"blocking_features: '{feature}' is not of the form Namespace/FeatureName "
                                "(for example Microsoft.Compute/SomeFeature).")
    if params["des_disk_threshold"] < 1:
        raise ModuleFailure("des_disk_threshold must be at least 1.")


class Reader:
    """Reads each shared object once. A read that fails (other than sign-in) becomes (None, sentence) for the VMs
    that depend on it; a 404 becomes (None, None)."""

    def __init__(self, m):
        self.m = m
        self.cache = {}

    def once(self, key, action: str, fn):
        if key not in self.cache:
            self.cache[key] = self._read(action, fn)
        return self.cache[key]

    def _read(self, action: str, fn):
        try:
            return fn(), None
        except Exception as exc:  # pylint: disable=broad-except  # azure-core errors, duck-typed
            status = getattr(exc, "status_code", None)
            if status is None or status == 401 or not type(exc).__module__.startswith("azure."):
                raise  # sign-in, network and programming errors end the call (execute reports them)
            if status == 404:
                return None, None
            try:
                self.m.azure_failure(exc, action)
            except ModuleFailure as failure:
                return None, failure.msg.rstrip(".")
            raise

    def known(self, kind: str, rid: str, value: dict):
        """An object a list call already returned (kind "des"), so that it is not read again."""
        self.cache[(kind, rid.lower())] = (value, None)

    # ---- the objects

    def vms_of_group(self, rg: str):
        compute = self.m.client("compute").virtual_machines
        return self.once(("rg", rg.lower()), f"list the VMs of resource group {rg}",
                         lambda: [rest_dict(v) for v in compute.list(rg)])

    def all_vms(self):
        compute = self.m.client("compute").virtual_machines
        return self.once("all", f"list the VMs of subscription {self.m.subscription_id}",
                         lambda: [rest_dict(v) for v in compute.list_all()])

    def listed_vms(self, resource_groups: list) -> list:
        """The VMs of `resource_groups`, or of the whole subscription when none is given. A group that is not in this
        subscription has none (an estate spans subscriptions); a list that fails is one sentence."""
        sub = self.m.subscription_id
        if not resource_groups:
            listing, error = self.all_vms()
            if listing is None:
                raise ModuleFailure(f"Could not list the VMs of subscription {sub}: "
                                    f"{error or 'not found (no such subscription, or the credential has no role on it)'}.")
            return listing
        out = []
        for rg in resource_groups:
            listing, error = self.vms_of_group(rg)
            if error:
                raise ModuleFailure(f"Could not list the VMs of resource group {rg} in subscription {sub}: {error}.")
            out.extend(listing or [])
        return out

    def des(self, des_id: str):
        parts = arm_ids.parse(des_id) or {}
        if parts.get("subscription", "").lower() != self.m.subscription_id.lower():
            return None, f"it is in subscription {parts.get('subscription')}, outside the one checked"
        sets = self.m.client("compute").disk_encryption_sets
        return self.once(("des", des_id.lower()), f"read disk encryption set {parts['name']}",
                         lambda: rest_dict(sets.get(parts["resource_group"], parts["name"])))

    def des_counts(self, des_id: str):
        parts = arm_ids.parse(des_id) or {}
        sets = self.m.client("compute").disk_encryption_sets
        return self.once(("assoc", des_id.lower()), f"list the resources associated with disk encryption set {parts['name']}",
                         lambda: cvm_rules.associated_counts(sets.list_associated_resources(parts["resource_group"], parts["name"])))

    def feature(self, full_name: str):
        ns, name = full_name.split("/", 1)
        features = self.m.client("features").features
        return self.once(("feature", full_name.lower()), f"read preview feature {full_name}",
                         lambda: rest_dict(features.get(ns, name)))

    def vault(self, vault: dict):
        vaults = self.m.client("recoveryservices").vaults
        return self.once(("vault", arm_ids.vault_id(vault).lower()), f"read Recovery Services vault {vault['name']}",
                         lambda: rest_dict(vaults.get(vault["resource_group"], vault["name"])))

    def policy(self, vault: dict, name: str):
        policies = self.m.client("backup").protection_policies
        return self.once(("policy", arm_ids.policy_id(vault, name).lower()), f"read backup policy {name} of vault {vault['name']}",
                         lambda: rest_dict(policies.get(vault["name"], vault["resource_group"], name)))


def cvm_checks(reader: Reader, params: dict, facts: dict, vault=None, vault_error=None, policy=None, policy_error=None,
               policy_name=None, assume_feature_registered: bool = False) -> list:
    """Every check of a confidential VM after its security type, reading shared objects through the reader.

    params: the READINESS_ARGSPEC options; vault/policy: as read by the caller (None with no error: not checked).
    Adds the DES and key location to `facts`.
    """
    des = counts = des_error = count_error = None
    if facts["key_type"] == "CMK":
        des, des_error = reader.des(facts["des_id"])
        if des is not None:
            counts, count_error = reader.des_counts(facts["des_id"])
        facts["des"] = {"id": facts["des_id"], "name": arm_ids.name_of(facts["des_id"]),
                        "type": cvm_rules.des_facts(des)["type"] if des else None,
                        "disks": counts["disks"] if counts else None, "snapshots": counts["snapshots"] if counts else None}
        where = cvm_rules.des_facts(des)["key_location"] if des else None
        facts["key_location"] = {**where, "store_uri": arm_ids.store_uri(where["key_url"])} if where else None
    feature, feature_error = reader.feature(cvm_rules.RESTORE_POINT_FEATURE)
    blocking = {}
    for name in params["blocking_features"]:
        value, error = reader.feature(name)
        blocking[name] = error or value
    return [
        cvm_rules.check_size(facts, params["supported_size_families"]),
        cvm_rules.check_region(facts, params["supported_regions"]),
        cvm_rules.check_os_disk_encryption(facts),
        cvm_rules.check_key(facts, des, des_error),
        cvm_rules.check_des_threshold(facts, counts, params["des_disk_threshold"], count_error or des_error),
        cvm_rules.check_restore_point_feature(feature, feature_error, assume_feature_registered),
        cvm_rules.check_blocking_features(blocking),
        cvm_rules.check_vault_region(facts, vault, vault_error),
        cvm_rules.check_vault_cross_region_restore(vault),
        cvm_rules.check_policy(facts, policy, policy_name, policy_error),
    ]


def vault_warnings(reader: Reader, vault_ref: dict | None) -> list[str]:
    """Per-vault warnings of the readiness report: the vault (read once, through the reader's cache) without the secure
    defaults the protect role applies (soft delete, immutability, Azure Monitor job-failure alerts); also Ansible warnings."""
    if not vault_ref:
        return []
    vault, dummy = reader.vault(vault_ref)
    check = vault_rules.check_vault_hardening(vault) if vault is not None else None
    if check is None or check.status != cvm_rules.WARN:
        return []
    reader.m.warn(check.message)
    return [check.message]


# ------------------------------------------------------------------------------------------------ the report's verdicts
# Subscription prerequisites (issue 18 item 4) are reported once, apart from the per-VM blockers. A VM whose only
# shortfall is a prerequisite that the protect play fixes itself (registering the preview feature) is not called
# not_ready: its verdict is ready_after_prerequisites and it says what it waits for.

SUBSCRIPTION_CHECKS = ("restore_point_feature", "blocking_features")
READY_AFTER_PREREQUISITES = "ready_after_prerequisites"
REPORT_VERDICTS = cvm_rules.VERDICTS + (READY_AFTER_PREREQUISITES,)
# The feature states the prerequisites role fixes by registering (Pending needs an approval, Registering a wait).
FIXABLE_FEATURE_STATES = ("NotRegistered", "Unregistered")
FEATURE_PENDING = "ready once the preview feature " + cvm_rules.RESTORE_POINT_FEATURE + " is registered"


def prerequisites(checks: list, feature: dict | None) -> list:
    """The subscription prerequisites from one confidential VM's checks (they are the same for every VM):
    [{name, status, message, fixed_by_play}]; fixed_by_play: the protect play (prerequisites role) fixes it."""
    out = []
    for check in checks:
        if check.name in SUBSCRIPTION_CHECKS:
            fixable = (check.name == "restore_point_feature" and check.status == cvm_rules.FAIL and feature is not None
                       and cvm_rules.feature_state(feature) in FIXABLE_FEATURE_STATES)
            out.append({**check.as_dict(), "fixed_by_play": fixable})
    return out


def report_verdict(checks: list, prereqs: list) -> dict:
    """{verdict, ready, blockers, warnings, pending} of a VM: the per-VM checks decide, then the prerequisites."""
    own = [c for c in checks if c.name not in SUBSCRIPTION_CHECKS]
    result = {**cvm_rules.verdict(own), "pending": []}
    if result["verdict"] in (cvm_rules.NOT_READY, cvm_rules.NOT_APPLICABLE) or not any(c.name in SUBSCRIPTION_CHECKS for c in checks):
        return result
    failed = [p for p in prereqs if p["status"] == cvm_rules.FAIL]
    hard = [p["name"] for p in failed if not p["fixed_by_play"]]
    if hard:
        result.update(verdict=cvm_rules.NOT_READY, ready=False,
                      blockers=result["blockers"] + [f"Subscription prerequisite(s) not met: {', '.join(hard)} (see prerequisites)."])
    elif failed:
        result.update(verdict=READY_AFTER_PREREQUISITES, ready=False, pending=[FEATURE_PENDING])
    return result


def report_summary(reports: list) -> dict:
    """Counts of VM reports by verdict (ready_after_prerequisites included), plus the total."""
    out = {v: 0 for v in REPORT_VERDICTS}
    for item in reports:
        out[item["verdict"]] += 1
    out["total"] = len(reports)
    return out


# ------------------------------------------------------------------------------------------------ the targets


def collect(reader: Reader, params: dict, targets: list) -> list:
    """(target, vm dict or None, error or None) for every VM to check."""
    if targets:
        out = []
        for t in targets:
            listing, error = reader.vms_of_group(t["resource_group"])
            if listing is None:
                error = error or f"resource group {t['resource_group']} was not found"
                out.append((t, None, f"VM {t['resource_group']}/{t['name']} could not be read: {error}."))
                continue
            found = next((v for v in listing if (v.get("name") or "").lower() == t["name"].lower()), None)
            out.append((t, found, None if found else f"VM {t['name']} was not found in resource group {t['resource_group']}."))
        return out
    if params["resource_groups"]:
        groups = []
        for rg in params["resource_groups"]:
            listing, error = reader.vms_of_group(rg)
            if listing is None:
                raise ModuleFailure(f"Could not list the VMs of resource group {rg}: {error or 'the resource group was not found'}.")
            groups.extend(listing)
    else:
        groups, error = reader.all_vms()
        if groups is None:
            raise ModuleFailure(f"Could not list the VMs of subscription {reader.m.subscription_id}: {error or 'not found'}.")
    return [(target_of(v), v, None) for v in groups]


def target_of(vm: dict) -> dict:
    parts = arm_ids.parse(vm["id"])
    return {"subscription_id": parts["subscription"], "resource_group": parts["resource_group"], "name": vm["name"]}
