# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: confidential_vms
short_description: The confidential VMs of Azure subscriptions, with their backup readiness and protection
version_added: 0.2.0
description:
  - Hosts are the VMs of one or more Azure subscriptions (by default every subscription the credential can see),
    confidential VMs only unless O(security_types) says otherwise.
  - Each host carries what a backup play needs - its id, subscription, resource group, region, size, security type,
    tags, the kind and id of the key of its OS disk (platform-managed, customer-managed in a Key Vault or in a Managed
    HSM), its disk encryption set, the readiness verdict of the C(azure_cvm.backup.cvm_readiness_info) module with
    blockers and warnings (the same rules, the same code), and its Azure Backup protection (state, vault, policy, last
    backup).
  - "The reads are list calls, never one request per VM: one Subscriptions List (only when O(subscriptions) is empty);
    per subscription one VM list (or one per resource group of O(resource_groups)), one disk encryption set list, one
    Recovery Services vault list and one read of the feature C(RestorePointSupportForConfidentialVMV2) (plus one per
    O(blocking_features)); per vault one protected-items list and, when it protects a VM, one backup policy list; per
    disk encryption set that a selected confidential VM uses, one list of its associated resources. Each list is one
    request per page (ARM's nextLink). For S subscriptions with V vaults and D such disk encryption sets that is
    1 + 4 * S + 2 * V + D requests plus one sign-in, and one more per extra page of VMs or protected items: VMs
    add pages, not requests per VM (5,000 CVMs over 10 subscriptions, 20 vaults, 20 DES - 101 requests plus pages)."
  - Subscriptions are read in parallel (O(concurrency)).
  - Requires a YAML configuration file whose name ends with C(confidential_vms.yml) or C(confidential_vms.yaml).
  - Sign-in is the modules' (C(auth_source) and the AWX/AAP C(Microsoft Azure Resource Manager) credential's
    environment). An error (sign-in, a subscription that cannot be listed) fails the whole inventory with one sentence,
    so a partial estate is never taken for the whole one.
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.readiness
  - azure_cvm.backup.azure.selection
options:
  plugin:
    description: The name of this plugin; it makes the file a configuration of this plugin.
    required: true
    type: str
    choices: [azure_cvm.backup.confidential_vms]
  subscriptions:
    description:
      - The subscription ids to read.
      - When empty, O(subscription_id) if set in this file, otherwise every subscription the credential can see
        (Subscriptions List, without the disabled and deleted ones). C(AZURE_SUBSCRIPTION_ID) in the environment does
        not limit the inventory (the AWX/AAP credential always sets it); set O(subscriptions) to limit it.
    type: list
    elements: str
    default: []
  resource_groups:
    description:
      - Only the VMs of these resource groups (names, in every subscription read; a subscription without the group
        contributes nothing). Empty means every resource group.
    type: list
    elements: str
    default: []
  security_types:
    description:
      - The VM security types that become hosts (C(ConfidentialVM), C(TrustedLaunch), C(Standard) for VMs without a
        security type), or V(*) for every VM. VMs that are not confidential get the verdict V(not_applicable).
    type: list
    elements: str
    default: [ConfidentialVM]
  filters:
    description:
      - Only hosts whose host variables match every entry; a value may be a list of accepted values.
      - "For example C({verdict: [ready, ready_with_warnings], region: koreacentral})."
      - Applied after the reads, on the host variables below.
    type: dict
    default: {}
  exclude_host_filters:
    description:
      - Jinja2 conditions over the host variables; a host for which any is true is left out
        (as in C(azure.azcollection.azure_rm)). Errors in a condition fail the inventory when O(strict) is true.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - How hosts are named. V(name) is the VM name; V(resource_group_name) is C(<resource group>_<name>);
        V(subscription_resource_group_name) is C(<subscription id>_<resource group>_<name>).
      - Two VMs with the same host name fail the inventory with both ids; choose a longer form then.
    type: str
    choices: [name, resource_group_name, subscription_resource_group_name]
    default: name
  readiness:
    description:
      - Work out the readiness verdict (reads the disk encryption sets, their associated resources and the
        preview feature). When false the readiness host variables are null.
    type: bool
    default: true
  include_checks:
    description:
      - Add the host variable C(checks), every readiness check with its status and message (as
        C(cvm_readiness_info) returns them). Off by default - C(blockers) and C(warnings) carry the messages that
        matter, and the checks make each host about three times larger.
    type: bool
    default: false
  protection:
    description:
      - Read Azure Backup protection (the vaults, their protected items and policies). When false the protection
        host variables are null and no vault is read.
    type: bool
    default: true
  concurrency:
    description: How many subscriptions are read at the same time.
    type: int
    default: 8
notes:
  - "Host variables: C(id), C(vm_name), C(subscription_id), C(subscription_name) (when listed), C(resource_group),
    C(region), C(size), C(security_type), C(vm_tags), C(key_kind) (V(pmk), V(cmk_key_vault), V(cmk_managed_hsm), V(cmk)
    when the disk encryption set could not be read, null for VMs that are not confidential), C(key_id) (the key URL),
    C(key) (kind, vault, key_name, key_version, key_url, store_uri), C(disk_encryption_set) (id, name, type, disks,
    snapshots), C(verdict) (V(ready), V(ready_with_warnings), V(not_ready), V(not_applicable)), C(ready), C(blockers),
    C(warnings), C(checks) (with O(include_checks)), C(protected), C(protection_state)
    (V(NotProtected) or Azure Backup's state such as V(Protected), V(IRPending), V(ProtectionStopped)),
    C(vault) (id, name, resource_group, region), C(policy) (id, name), C(last_backup_time), C(last_backup_status)."
  - "The values come from Azure and are marked unsafe (never templated): C(ansible-inventory --list) shows them as
    C({__ansible_unsafe: ...}), and C(name) and C(tags), names Ansible reserves, are C(vm_name) and C(vm_tags)."
  - For a protected VM the readiness checks also judge its vault and policy (region, cross-region restore,
    crash-consistent policies); for an unprotected VM those checks are V(n/a), as in C(cvm_readiness_info) without a
    vault.
  - "Hosts get no connection variables; plays run their tasks on the controller (C(connection: local)) or set them
    with O(compose)."
"""

EXAMPLES = r"""
# inventory/confidential_vms.yml: every CVM the credential can see, grouped by region, verdict and key kind
plugin: azure_cvm.backup.confidential_vms
keyed_groups:
  - key: region
    prefix: region
  - key: verdict
    prefix: verdict
  - key: key_kind
    prefix: key
  - key: protection_state
    prefix: protection
groups:
  cvm_to_protect: ready and not protected

# Two subscriptions, production only, no test VMs, the ready ones only, cached for an hour
# (a second file, shown commented: one YAML document per file)
# plugin: azure_cvm.backup.confidential_vms
# subscriptions:
#   - 3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b
#   - 7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6
# include_tags:
#   environment: [production, prod]
# exclude_tags:
#   backup: skip
# exclude_names: [cvm-test-*]
# filters:
#   verdict: [ready, ready_with_warnings]
# hostnames: resource_group_name
# compose:
#   ansible_connection: "'local'"
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: /tmp/confidential_vms_cache
# cache_timeout: 3600
"""

import logging
import re
import threading

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import subscriptions as subscription_list
from ansible_collections.azure_cvm.backup.plugins.module_utils.auth import SECRET_FIELDS
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AUTH_ARGSPEC, AzureCvmModule, RetryCounter
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.fleet import bounded_map
from ansible_collections.azure_cvm.backup.plugins.module_utils.protection_rules import item_key
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import READINESS_ARGSPEC, Reader, cvm_checks, validate_options
from ansible_collections.azure_cvm.backup.plugins.module_utils.selection_rules import left_out

VM_ITEMS_FILTER = "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"
KEY_KINDS = {"key_vault": "cmk_key_vault", "managed_hsm": "cmk_managed_hsm"}

# azure-identity logs a failed sign-in at WARNING; with no handler configured Python prints it to stderr beside the
# plugin's own error. The plugin's error says it once; a handler the user configures still gets the records.
if not logging.getLogger("azure").handlers:
    logging.getLogger("azure").addHandler(logging.NullHandler())


class _Controller:
    """What the module base asks of an AnsibleModule outside a module run: secrets to mask, warnings."""

    def __init__(self, display):
        self.no_log_values = set()
        self.display = display

    def warn(self, msg: str):
        self.display.warning(msg)


class Session(AzureCvmModule):
    """The module base (sign-in, SDK clients, retries, error sentences) driven by the plugin's options instead of an
    AnsibleModule; one per subscription, all sharing one credential."""

    def __init__(self, params: dict, display, shared: "Session | None" = None):  # pylint: disable=super-init-not-called
        self.module = shared.module if shared else _Controller(display)
        self.params = params
        self.check_mode = True
        self.diff_mode = False
        self.retry_counter = shared.retry_counter if shared else RetryCounter()
        self._clients = {"credential": shared.credential} if shared else {}  # signs in (resolves auth) once
        self._auth = shared.auth if shared else None
        self._lock = threading.RLock()
        self._secrets = shared._secrets if shared else [params.get(k) for k in SECRET_FIELDS if params.get(k)]

    def for_subscription(self, subscription_id: str) -> "Session":
        return Session({**self.params, "subscription_id": subscription_id}, None, shared=self)


# ------------------------------------------------------------------------------------------------ pure selection


def selected(vm: dict, opts: dict) -> bool:
    """Whether a listed VM (REST dict) becomes a host: security type, tags and exclude lists, before any other read."""
    facts = cvm_rules.vm_facts(vm)
    types = [t.lower() for t in opts["security_types"]]
    if "*" not in types and facts["security_type"].lower() not in types:
        return False
    return left_out(vm, opts) is None


def filters_match(hostvars: dict, filters: dict) -> bool:
    for name, accepted in (filters or {}).items():
        choices = accepted if isinstance(accepted, list) else [accepted]
        if hostvars.get(name) not in choices and str(hostvars.get(name)) not in [str(c) for c in choices]:
            return False
    return True


# A keyed group whose key is a host variable's name, with none of the options that need a template: made without
# Jinja2 (ansible-core compiles each key once per host, about 10 ms - 50 s for 5,000 hosts and 1 key), with the group
# names Constructable makes: prefix + separator + value (each item of a list, key_value of a dict), sanitized.
PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_keyed_groups(keyed_groups) -> tuple[list, list]:
    simple, templated = [], []
    for keyed in keyed_groups or []:
        plain = (isinstance(keyed, dict) and PLAIN_KEY.fullmatch(str(keyed.get("key") or ""))
                 and not {"parent_group", "default_value", "trailing_separator"} & set(keyed))
        (simple if plain else templated).append(keyed)
    return simple, templated


def simple_value(keyed: dict, variables: dict):
    """The value a simple keyed group groups by, or None where Constructable's own rules apply (a missing, empty or
    false variable, a number or a boolean: an error in strict mode, or no group)."""
    value = variables.get(keyed["key"])
    return value if value and isinstance(value, (str, list, dict)) else None


def keyed_group_names(keyed: dict, value, leading_separator: bool = True) -> list:
    prefix, sep = keyed.get("prefix", ""), keyed.get("separator", "_")
    if prefix == "" and leading_separator is False:
        sep = ""
    if isinstance(value, dict):
        names = [f"{k}{sep}{v}" for k, v in value.items()]
    elif isinstance(value, list):
        names = [str(v) for v in value]
    else:
        names = [str(value)]
    return [f"{prefix}{sep}{n}" for n in names]


def host_name(record: dict, form: str) -> str:
    if form == "resource_group_name":
        return f"{record['resource_group']}_{record['vm_name']}"
    if form == "subscription_resource_group_name":
        return f"{record['subscription_id']}_{record['resource_group']}_{record['vm_name']}"
    return record["vm_name"]


# ------------------------------------------------------------------------------------------------ host variables


def key_vars(facts: dict) -> dict:
    where = facts.get("key_location")
    if facts["security_type"] != "ConfidentialVM":
        kind = None
    elif facts["key_type"] == "PMK":
        kind = "pmk"
    else:
        kind = KEY_KINDS.get(where["kind"], "cmk") if where else "cmk"
    return {"key_kind": kind, "key_id": where["key_url"] if where else None, "key": where,
            "disk_encryption_set": facts.get("des")}


def policy_name_of(item: dict | None) -> str | None:
    """The policy of a protected item: the last segment of `policyId` (in the spec examples), else `policyName`."""
    props = (item or {}).get("properties") or {}
    return arm_ids.name_of(props["policyId"]) if props.get("policyId") else props.get("policyName")


def protection_vars(item: dict | None, vault: dict | None) -> dict:
    if vault is None:
        return {"protected": False, "protection_state": "NotProtected", "vault": None, "policy": None,
                "last_backup_time": None, "last_backup_status": None}
    props = item.get("properties") or {}
    parts = arm_ids.parse(vault["id"]) or {}
    policy_id = props.get("policyId") or None
    state = props.get("protectionState") or props.get("protectionStatus") or "Protected"
    return {"protected": state != "ProtectionStopped", "protection_state": state,
            "vault": {"id": vault["id"], "name": vault["name"], "resource_group": parts.get("resource_group"),
                      "region": cvm_rules.normalize_region(vault.get("location"))},
            "policy": {"id": policy_id, "name": policy_name_of(item)} if policy_id else None,
            "last_backup_time": props.get("lastBackupTime"), "last_backup_status": props.get("lastBackupStatus")}


# ------------------------------------------------------------------------------------------------ one subscription


class Estate:
    """The reads of one subscription, each a list call (see DOCUMENTATION), and the host variables of its VMs."""

    def __init__(self, session: Session, opts: dict, subscription_name: str | None = None):
        self.m = session
        self.opts = opts
        self.reader = Reader(session)
        self.subscription_name = subscription_name

    def vms(self) -> list:
        return self.reader.listed_vms(self.opts["resource_groups"])

    def protection(self) -> dict:
        """{VM id lower: (protected item, vault, policies by name lower)} from one vault list and two lists per vault."""
        vaults = self.m.read_all(self.m.client("recoveryservices").vaults.list_by_subscription_id,
                                 "the Recovery Services vaults", f"subscription {self.m.subscription_id}")
        found = {}
        backup = self.m.client("backup")
        for vault in vaults:
            rg = arm_ids.group_of(vault["id"])
            items = self.m.read_all(lambda v=vault, g=rg: backup.backup_protected_items.list(v["name"], g, filter=VM_ITEMS_FILTER),
                                    "the protected items", f"vault {vault['name']}")
            if not items:
                continue
            policies = {}
            if self.opts["readiness"]:
                listed = self.m.read_all(lambda v=vault, g=rg: backup.backup_policies.list(v["name"], g),
                                         "the backup policies", f"vault {vault['name']}")
                policies = {(p.get("name") or "").lower(): p for p in listed}
            for item in items:
                if item_key(item):
                    found[item_key(item)] = (item, vault, policies)
        return found

    def hosts(self) -> list:
        vms = [vm for vm in self.vms() if selected(vm, self.opts)]
        if not vms:
            return []
        confidential = [vm for vm in vms if cvm_rules.vm_facts(vm)["security_type"] == "ConfidentialVM"]
        if self.opts["readiness"] and any(cvm_rules.vm_facts(vm)["key_type"] == "CMK" for vm in confidential):
            for des in self.m.read_all(self.m.client("compute").disk_encryption_sets.list,
                                       "the disk encryption sets", f"subscription {self.m.subscription_id}"):
                self.reader.known("des", des["id"], des)
        protection = self.protection() if self.opts["protection"] else {}
        return [self.host(vm, protection.get((vm.get("id") or "").lower())) for vm in vms]

    def host(self, vm: dict, protected) -> dict:
        facts = cvm_rules.vm_facts(vm)
        facts.update({"des": None, "key_location": None})
        item, vault, policies = protected or (None, None, {})
        readiness = {"verdict": None, "ready": None, "blockers": None, "warnings": None, "checks": None}
        if self.opts["readiness"]:
            checks = [cvm_rules.check_exists(vm["name"], vm), cvm_rules.check_security_type(facts)]
            if checks[-1].status != cvm_rules.NA:
                policy_name = policy_name_of(item)
                policy = policies.get((policy_name or "").lower())
                checks += cvm_checks(self.reader, self.opts, facts, vault, None, policy,
                                     None if policy or not policy_name else "not found in the vault", policy_name)
            readiness = {**cvm_rules.verdict(checks),
                         "checks": [c.as_dict() for c in checks] if self.opts["include_checks"] else None}
        parts = arm_ids.parse(vm["id"]) or {}
        record = {"id": vm["id"], "vm_name": vm["name"], "subscription_id": parts.get("subscription"),
                  "subscription_name": self.subscription_name, "resource_group": parts.get("resource_group"),
                  "region": facts["region"], "size": facts["size"], "security_type": facts["security_type"],
                  "vm_tags": vm.get("tags") or {}, **key_vars(facts), **readiness}
        if self.opts["protection"]:
            record.update(protection_vars(item, vault))
        return record


# ------------------------------------------------------------------------------------------------ the plugin


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "azure_cvm.backup.confidential_vms"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("confidential_vms.yml", "confidential_vms.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if records is None:
            records = self._read_estate()
        if update_cache:
            self._cache[cache_key] = records
        self._populate(records)

    # ---- reading

    def _read_options(self) -> dict:
        opts = {name: self.get_option(name) for name in (
            "subscriptions", "resource_groups", "security_types", "include_tags", "exclude_tags", "exclude_names",
            "exclude_ids", "readiness", "include_checks", "protection", "concurrency", *READINESS_ARGSPEC)}
        opts["assume_feature_registered"] = False
        return opts

    def _read_estate(self) -> list:
        opts = self._read_options()
        params = {name: self.get_option(name) for name in AUTH_ARGSPEC}
        session = Session(params, self.display)
        try:
            validate_options(opts)
            subscriptions = self._subscriptions(session, opts)
            results = bounded_map(lambda sub: Estate(session.for_subscription(sub[0]), opts, sub[1]).hosts(), subscriptions,
                                  max(1, opts["concurrency"]))
        except ModuleFailure as exc:
            raise AnsibleParserError(f"{self.NAME}: {exc.msg}") from None
        records = []
        for (result, exc), (sub, dummy) in zip(results, subscriptions):
            if isinstance(exc, ModuleFailure):
                raise AnsibleParserError(f"{self.NAME}: {exc.msg}") from None
            if exc is not None and type(exc).__module__.startswith("azure."):
                text = describe_error(exc, f"read subscription {sub}", None, None, "arm", session._secrets)["msg"]
                raise AnsibleParserError(f"{self.NAME}: {text}") from None
            if exc is not None:
                raise AnsibleError(f"{self.NAME}: unexpected error reading subscription {sub} ({type(exc).__name__}): {exc}") from exc
            records.extend(result)
        return records

    def _subscriptions(self, session: Session, opts: dict) -> list:
        """[(subscription id, display name or None)] to read."""
        if opts["subscriptions"]:
            return [(s, None) for s in dict.fromkeys(opts["subscriptions"])]
        if self.get_option("subscription_id"):
            return [(self.get_option("subscription_id"), None)]
        usable = [(s["subscription_id"], s["display_name"]) for s in subscription_list.visible(session) if s["usable"]]
        if not usable:
            raise ModuleFailure("The credential sees no enabled subscription: give it a role on one, or set subscriptions.")
        return usable

    # ---- populating

    def _populate(self, records: list):
        strict = self.get_option("strict")
        form = self.get_option("hostnames")
        simple, templated = split_keyed_groups(self.get_option("keyed_groups"))
        seen = {}
        for record in records:
            if not filters_match(record, self.get_option("filters")) or self._excluded(record, strict):
                continue
            name = host_name(record, form)
            if name in seen:
                raise AnsibleParserError(f"{self.NAME}: host name {name} is not unique ({seen[name]} and {record['id']}): "
                                         "set hostnames to resource_group_name or subscription_resource_group_name.")
            seen[name] = record["id"]
            self.inventory.add_host(name)
            for key, value in record.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), record, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), record, name, strict=strict)
            variables = self.inventory.get_host(name).get_vars() if self.get_option("compose") else record
            rest = list(templated)
            for keyed in simple:
                value = simple_value(keyed, variables)
                if value is None:
                    rest.append(keyed)
                    continue
                for group in keyed_group_names(keyed, value, self.get_option("leading_separator")):
                    self.inventory.add_host(name, self.inventory.add_group(self._sanitize_group_name(group)))
            self._add_host_to_keyed_groups(rest, record, name, strict=strict)

    def _excluded(self, record: dict, strict: bool) -> bool:
        for condition in self.get_option("exclude_host_filters"):
            try:
                if self._compose(condition, record):
                    return True
            except Exception as exc:  # pylint: disable=broad-except  # a user's template
                if strict:
                    raise AnsibleParserError(f"{self.NAME}: exclude_host_filters '{condition}' failed: {exc}") from exc
        return False
