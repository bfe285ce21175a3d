#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cvm_protection
short_description: Enable, change, stop or remove Azure Backup protection of confidential VMs, one or a fleet
version_added: 0.1.0
description:
  - Makes sure confidential VMs (CVMs) are protected by a Recovery Services vault with a backup policy
    (O(state=protected)), have protection stopped with their backup data retained (O(state=stopped)), or have
    protection stopped and their backup data deleted (O(state=absent), only with O(confirm_delete_backup_data=true)).
  - "Idempotent: a VM already protected with the same policy gets no write; with another policy, its policy is
    changed; a stopped VM is resumed. A second run reports C(changed: false) and sends no write."
  - "Before any write the readiness checks of M(azure_cvm.backup.cvm_readiness_info) run for the VMs to protect and
    fail the module on a blocker (unless O(skip_readiness=true)): the VM is a CVM, its size is in a supported v6 family,
    its region is supported, its OS disk has confidential encryption, its key is a PMK or a CMK in a confidential DES,
    the preview feature C(Microsoft.Compute/RestorePointSupportForConfidentialVMV2) is C(Registered), no blocking
    feature is registered and a crash-consistent-only policy is not used for a CVM with data disks. The vault must be
    in the VM's region: this one is checked even with O(skip_readiness=true), since Azure refuses it anyway."
  - "Fleet cost: the vault's protected items are listed once (paged) instead of one read per VM; VMs are read with one
    list per resource group; the vault's protectable items are listed once, and its containers are refreshed (one
    POST, then its operation result) only when a VM to protect is not discoverable yet. Writes (one per VM that
    changes) run O(concurrency) at a time, and the long operations are followed in rounds: one list of protected
    items per round, and the operation status of a VM only when the list cannot tell."
  - "Protection in another vault: the target vault's lists do not show it. When a VM to protect is still not
    discoverable after the refresh, the module asks Azure Backup's C(backupStatus) API (the one the portal uses: a
    POST that only reads) for that VM, and fails naming the vault that protects it. In check mode no refresh and no
    C(backupStatus) call is made (both are POSTs); such VMs are reported as to be protected, with a warning."
  - "Check mode with O(vms) plans even when the vault or the policy does not exist yet (an earlier task of the same
    run would create them): every VM is reported with C(action: protect) and the policy id the policy will have, with
    a warning; a real run fails instead, before any write."
  - "O(backup_now=true) takes the B(first) backup of every VM that has none yet (and no backup job running), keeps
    it O(backup_retention_days) days and waits for the backup jobs (one jobs list per round). VMs that already have a
    backup are not backed up again, so a second run stays unchanged."
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  vault:
    description: The Recovery Services vault, as a resource id or a dict with the keys C(name) and C(resource_group).
    type: raw
    required: true
  policy:
    description: The name of the vault's Azure VM backup policy (see azure_cvm.backup.backup_policy). Required for
      O(state=protected).
    type: str
  vms:
    description:
      - The VMs, each a VM resource id, a C(resource_group/name) string or a dict with the keys C(resource_group) and
        C(name). Mutually exclusive with O(resource_groups).
    type: list
    elements: raw
  resource_groups:
    description:
      - Every confidential VM in the vault's region of these resource groups. VMs that are not CVMs or are in another
        region are left out and listed in RV(excluded). Mutually exclusive with O(vms).
    type: list
    elements: str
    aliases: [resource_group]
  state:
    description:
      - V(protected) protects (or changes the policy of, or resumes) the VMs; V(stopped) stops protection and keeps
        the backup data; V(absent) stops protection and deletes the backup data (soft delete of the vault applies).
    type: str
    choices: [protected, stopped, absent]
    default: protected
  confirm_delete_backup_data:
    description: Must be V(true) for O(state=absent), which deletes the VMs' backup data.
    type: bool
    default: false
  skip_readiness:
    description: Skip the readiness checks (the vault region check still runs).
    type: bool
    default: false
  backup_now:
    description: Take a first backup of each VM that has none yet, and wait for its job (with O(wait)).
    type: bool
    default: false
  backup_retention_days:
    description: Days the O(backup_now) recovery point is kept.
    type: int
    default: 30
  concurrency:
    description: How many writes and status reads run at the same time (1-64). Fewer writes run at once when Azure says
      the subscription's write budget runs low (see RV(throttle)).
    type: int
    default: 8
  wait:
    description: Wait until every change has taken effect (and the O(backup_now) jobs have finished).
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most for all VMs together (and again for the backup jobs).
    type: int
    default: 1800
extends_documentation_fragment:
  - azure_cvm.backup.azure
  - azure_cvm.backup.azure.readiness
attributes:
  check_mode:
    support: full
    description: Reads only (no refresh, no backupStatus POST); reports what would change per VM, also for a vault or
      policy still to be created.
  diff_mode:
    support: full
    description: Shows protection state and policy before and after, for the VMs that change.
"""

EXAMPLES = r"""
- name: Protect two CVMs with an Enhanced policy and take their first backup
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    policy: cvm-enhanced-daily
    vms:
      - rg-cvm-kc/cvm-pmk-01
      - {resource_group: rg-cvm-kc, name: cvm-kv-01}
    backup_now: true

- name: Every CVM of the fleet resource groups in the vault's region
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-fleet-koreacentral, resource_group: rg-fleet-backup}
    policy: cvm-enhanced-daily
    resource_groups: [rg-fleet-01, rg-fleet-02, rg-fleet-03, rg-fleet-04, rg-fleet-05]
    concurrency: 16

- name: Stop protection, keep the backup data
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vms: [rg-cvm-kc/cvm-pmk-01]
    state: stopped

- name: Stop protection and delete the backup data
  azure_cvm.backup.cvm_protection:
    vault: {name: rsv-cvm-kc, resource_group: rg-backup}
    vms: [rg-cvm-kc/cvm-pmk-01]
    state: absent
    confirm_delete_backup_data: true
"""

RETURN = r"""
vms:
  description: One entry per VM, in the order of O(vms) or in listing order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The VM resource id.
      type: str
    name:
      description: The VM name.
      type: str
      sample: cvm-pmk-01
    resource_group:
      description: The VM's resource group.
      type: str
      sample: rg-cvm-kc
    action:
      description: What was (or in check mode would be) done, one of C(none), C(protect), C(change_policy), C(resume),
        C(stop), C(delete).
      type: str
      sample: protect
    changed:
      description: Whether the VM's protection changed.
      type: bool
    protection_state:
      description: The protection state after the run (C(NotProtected) when there is no backup item).
      type: str
      sample: Protected
    policy:
      description: The backup policy after the run.
      type: str
      sample: cvm-enhanced-daily
    protection_state_before:
      description: The protection state before the run.
      type: str
      sample: NotProtected
    policy_before:
      description: The backup policy before the run.
      type: str
    job_ids:
      description: The ids of the backup jobs this run started for the VM (configure, disable, delete, backup).
      type: list
      elements: str
    backup_job_id:
      description: The job of the O(backup_now) backup, when one was started.
      type: str
    backup_job_status:
      description: That job's status (C(Completed), C(InProgress), C(Failed), ...).
      type: str
    error:
      description: Why the change of this VM failed (only when it did).
      type: str
excluded:
  description: VMs of O(resource_groups) that were left out, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{name: tl-vm-01, resource_group: rg-cvm-kc, reason: not a confidential VM}]
totals:
  description: Counts over RV(vms).
  returned: always
  type: dict
  contains:
    vms:
      description: VMs considered.
      type: int
    changed:
      description: VMs changed.
      type: int
    unchanged:
      description: VMs already as wanted.
      type: int
    failed:
      description: VMs whose change failed.
      type: int
    protect:
      description: VMs newly protected.
      type: int
    change_policy:
      description: VMs moved to another policy.
      type: int
    resume:
      description: VMs whose protection was resumed.
      type: int
    stop:
      description: VMs whose protection was stopped (data retained).
      type: int
    delete:
      description: VMs whose protection and backup data were deleted.
      type: int
    backups:
      description: Backups started with O(backup_now).
      type: int
throttle:
  description:
    - How the writes were paced by the writes Azure said were left in the subscription
      (C(x-ms-ratelimit-remaining-subscription-writes)). Below 100 left, fewer writes run at once; at 5 or fewer, each
      write waits first (1 s, doubling up to 10 s), so the budget refills instead of Azure answering 429.
  returned: when Azure sent the header
  type: dict
  contains:
    min_remaining_writes:
      description: The fewest writes left that Azure reported.
      type: int
    concurrency:
      description: The O(concurrency) asked for.
      type: int
    lowest_concurrency:
      description: The fewest writes allowed at once.
      type: int
    pauses:
      description: How many times a write waited for the budget to refill.
      type: int
    paused_seconds:
      description: The time spent in those waits.
      type: float
retries:
  description: How many answers were retried (throttled or failing answers, dropped connections).
  returned: when there were any
  type: int
"""

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import AzureCvmModule, ModuleFailure, rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import READINESS_ARGSPEC, Reader, cvm_checks, validate_options
from ansible_collections.azure_cvm.backup.plugins.module_utils.fleet import (
    BACKUP_API, IAASVM_FILTER, WriteGovernor, bounded_map, list_rest, poll_in_rounds, read_or_none, vault_protected_items)

DOING = {rules.PROTECT: "protect VM {}", rules.CHANGE_POLICY: "change the backup policy of VM {}",
         rules.RESUME: "resume the protection of VM {}", rules.STOP: "stop the protection of VM {}",
         rules.DELETE: "delete the backup data of VM {}"}
WRITING = (rules.PROTECT, rules.CHANGE_POLICY, rules.RESUME, rules.STOP, rules.DELETE)
PROTECTING = (rules.PROTECT, rules.CHANGE_POLICY, rules.RESUME)
JOB_DONE = ("completed", "completedwithwarnings", "failed", "cancelled", "canceled")
NAMED = 10


# ------------------------------------------------------------------------------------------------ parameters


def parse_params(m) -> dict:
    """Validate every option before any request."""
    p = m.params
    validate_options(p)
    if p["state"] == "protected" and not p["policy"]:
        raise ModuleFailure("policy is required for state: protected.")
    if p["state"] == "absent" and not p["confirm_delete_backup_data"]:
        raise ModuleFailure("state: absent stops protection AND deletes the backup data of the VMs. Set "
                            "confirm_delete_backup_data: true to confirm, or use state: stopped to keep the data.")
    if p["backup_now"] and p["state"] != "protected":
        raise ModuleFailure("backup_now needs state: protected.")
    if not 1 <= p["concurrency"] <= 64:
        raise ModuleFailure(f"concurrency must be 1-64, got {p['concurrency']}.")
    if not 1 <= p["backup_retention_days"] <= 99 * 365:
        raise ModuleFailure(f"backup_retention_days must be 1-36135, got {p['backup_retention_days']}.")
    try:
        ref = arm_ids.parse_vault_ref(p["vault"], m.subscription_id)
        targets, seen = [], set()
        for item in p["vms"] or []:
            target = arm_ids.parse_vm_target(item, m.subscription_id)
            if target["subscription_id"].lower() != m.subscription_id.lower():
                raise ValueError(f"VM {item} is in subscription {target['subscription_id']}, not in {m.subscription_id}: "
                                 "the vault protects VMs of its own subscription.")
            key = (target["resource_group"].lower(), target["name"].lower())
            if key not in seen:
                seen.add(key)
                targets.append(target)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    return {"vault": ref, "targets": targets}


def names(rows: list) -> str:
    labels = [f"{r['resource_group']}/{r['name']}" for r in rows]
    return ", ".join(labels[:NAMED]) + (f" and {len(labels) - NAMED} more" if len(labels) > NAMED else "")


# ------------------------------------------------------------------------------------------------ reading


def read_vms(m, targets: list, groups: list, region: str) -> tuple[list, list, list]:
    """(VM REST dicts to act on, skipped entries, targets not found). One paged list per resource group."""
    compute = m.client("compute").virtual_machines
    listed = {}

    def group(rg: str) -> list:
        if rg.lower() not in listed:
            try:
                listed[rg.lower()] = [rest_dict(v) for v in compute.list(rg)]
            except Exception as exc:  # pylint: disable=broad-except
                if getattr(exc, "status_code", None) == 404:
                    raise ModuleFailure(f"Resource group {rg} was not found in subscription {m.subscription_id}.") from exc
                m.azure_failure(exc, "list the VMs", f"resource group {rg}")
        return listed[rg.lower()]

    if targets:
        vms, missing = [], []
        for t in targets:
            found = next((v for v in group(t["resource_group"]) if (v.get("name") or "").lower() == t["name"].lower()), None)
            if found:
                vms.append(found)
            else:
                missing.append(t)
        return vms, [], missing
    vms, skipped = [], []
    for rg in groups:
        for v in group(rg):
            facts = cvm_rules.vm_facts(v)
            reason = None
            if facts["security_type"] != "ConfidentialVM":
                reason = "not a confidential VM"
            elif facts["region"] != region:
                reason = f"in region {facts['region']}, the vault in {region}"
            if reason:
                skipped.append({"name": v["name"], "resource_group": rg, "reason": reason})
            else:
                vms.append(v)
    return vms, skipped, []


def readiness_blockers(m, vms: list, vault: dict, policy: dict | None, skip: bool) -> dict:
    """{vm id (lower): [blocker sentences]} for the VMs about to be protected: the checks of cvm_readiness_info
    (module_utils/readiness), each shared object read once. The vault region is checked even when readiness is
    skipped (Azure refuses a vault in another region). policy None: a check-mode plan for a policy still to be made."""
    reader = Reader(m)
    out = {}
    for vm in vms:
        facts = cvm_rules.vm_facts(vm)
        kind = cvm_rules.check_security_type(facts)
        if skip:
            checks = [cvm_rules.check_vault_region(facts, vault)]
        elif kind.status != cvm_rules.PASS:
            checks = [cvm_rules.Check(kind.name, cvm_rules.FAIL, kind.message), cvm_rules.check_vault_region(facts, vault)]
        else:
            checks = cvm_checks(reader, m.params, facts, vault=vault, policy=policy,
                                policy_name=m.params["policy"] if policy is not None else None)
        blockers = cvm_rules.verdict(checks)["blockers"]
        if blockers:
            out[vm["id"].lower()] = blockers
    return out


# ------------------------------------------------------------------------------------------------ discovery


class Backup:
    """Raw calls on one vault whose response headers matter (LRO URLs), with names percent-encoded like the SDK."""

    def __init__(self, m, ref: dict):
        self.m = m
        self.ref = ref
        self.vault_path = arm_ids.vault_id(ref)

    def item_path(self, row: dict) -> str:
        container = quote(cvm_rules.container_name(row["resource_group"], row["name"]), safe="")
        item = quote(cvm_rules.protected_item_name(row["resource_group"], row["name"]), safe="")
        return f"{self.vault_path}/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item}"

    def protectable_ids(self) -> set:
        items = self.m.client("backup").backup_protectable_items
        listed = list_rest(self.m, lambda: items.list(self.ref["name"], self.ref["resource_group"], filter=IAASVM_FILTER),
                           "list the protectable VMs", f"vault {self.ref['name']}")
        return {rules.item_key(i) for i in listed} - {None}

    def refresh(self, timeout: float):
        """Discover new VMs: POST refreshContainers, then its operationResults until 204."""
        path = f"{self.vault_path}/backupFabrics/Azure/refreshContainers?$filter={quote(IAASVM_FILTER)}"
        try:
            headers = self.post_again_if_dropped(path)
            location = headers.get("Location") or headers.get("location")
            if location:
                self.m.wait(f"the container refresh of vault {self.ref['name']}", lambda: self.m.arm("GET", location, None)[0],
                            lambda status: status == 204, timeout, 1.0)
        except ModuleFailure:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self.m.azure_failure(exc, "refresh the backup containers (discover VMs)", f"vault {self.ref['name']}")

    def post_again_if_dropped(self, path: str, attempts: int = 3) -> dict:
        """A refresh POST whose connection failed or dropped before the answer: azure-core does not resend a POST, but
        a second refresh is harmless (it only rediscovers). Returns the answer's headers."""
        for attempt in range(attempts):
            try:
                return self.m.arm("POST", path, BACKUP_API)[2]
            except Exception as exc:  # pylint: disable=broad-except
                if type(exc).__name__ not in ("ServiceRequestError", "ServiceResponseError") or attempt == attempts - 1:
                    raise
        return {}

    def backup_status(self, vm: dict) -> dict:
        """Where a VM is protected: the BackupStatus API (POST, reads only)."""
        status = self.m.client("backup").backup_status
        return rest_dict(status.get(cvm_rules.normalize_region(vm["location"]), {"resourceId": vm["id"], "resourceType": "VM"}))


def discover(m, backup: Backup, rows: list):
    """Make sure every VM to protect is discoverable by the vault; fail naming the vault of a VM protected elsewhere."""
    need = [r for r in rows if r["action"] == rules.PROTECT]
    if not need:
        return
    known = backup.protectable_ids()
    missing = [r for r in need if r["id"].lower() not in known]
    if missing and m.check_mode:
        m.warn(f"{len(missing)} VM(s) are not discoverable by vault {backup.ref['name']} yet ({names(missing)}): a real run "
               "refreshes the vault's containers first, and fails if a VM turns out to be protected in another vault.")
        return
    if missing:
        backup.refresh(m.params["timeout"])
        known = backup.protectable_ids()
        missing = [r for r in need if r["id"].lower() not in known]
    if not missing:
        return
    answers = bounded_map(backup.backup_status, [r["vm"] for r in missing], m.params["concurrency"])
    problems = []
    for row, (status, exc) in zip(missing, answers):
        label = f"{row['resource_group']}/{row['name']}"
        if exc is not None:  # the PUT's own answer will say why (Azure names the vault that protects it)
            m.warn(f"VM {label} is not discoverable by vault {backup.ref['name']} and its backup status could not be read "
                   f"({describe_error(exc, 'read the backup status')['msg'].rstrip('.')}); trying to protect it anyway.")
        elif (status or {}).get("protectionStatus") == "Protected" and not arm_ids.same(status.get("vaultId"), backup.vault_path):
            vault_name = arm_ids.name_of(status.get("vaultId")) or "another vault"
            problems.append(f"VM {label} is already protected by vault {vault_name} ({status.get('vaultId')}, policy "
                            f"{status.get('policyName')}): a VM can be protected by one vault only; stop its protection there "
                            "first (cvm_protection with state: absent on that vault).")
        else:
            problems.append(f"VM {label} is not discoverable by vault {backup.ref['name']} even after a container refresh "
                            f"(backup status: {(status or {}).get('protectionStatus') or 'unknown'}): check that it exists, is "
                            "running and is in the vault's region.")
    if problems:
        raise ModuleFailure("Nothing was changed: " + " ".join(problems))


# ------------------------------------------------------------------------------------------------ writing and waiting


def error_text(exc, action: str) -> str:
    if isinstance(exc, ModuleFailure):
        return exc.msg
    return describe_error(exc, action)["msg"]


def start_write(m, backup: Backup, row: dict) -> dict:
    """Send one VM's PUT or DELETE; keep the operation URL to ask when the list cannot tell. Returns the answer's
    headers (the write governor reads the remaining writes from them)."""
    path = backup.item_path(row)
    if row["action"] in PROTECTING:
        status, dummy, headers = m.arm("PUT", path, BACKUP_API, rules.protect_body(row["id"], row["policy_id"]))
    elif row["action"] == rules.STOP:
        status, dummy, headers = m.arm("PUT", path, BACKUP_API, rules.stop_body(row["id"]))
    else:
        status, dummy, headers = m.arm("DELETE", path, BACKUP_API)
    row["operation"] = (headers.get("Azure-AsyncOperation") or headers.get("azure-asyncoperation")) if status == 202 else None
    row["sync"] = status != 202
    return headers


def operation_status(m, url: str) -> dict:
    return m.arm("GET", url, None)[1] or {}


def job_of(op: dict) -> str | None:
    return ((op or {}).get("properties") or {}).get("jobId")


def wait_for_writes(m, backup: Backup, rows: list, concurrency: int):
    """Rounds: one list of the vault's protected items answers for every pending VM. A failed operation never shows in
    the list, so when few VMs are left or a round made no progress, the operation status of at most `concurrency`
    pending VMs (the least asked first) is read too: a round costs one list plus at most `concurrency` reads."""
    by_key = {r["id"].lower(): r for r in rows}
    progress = {"last": None}

    def check(pending):
        listed = {rules.item_key(i): i for i in vault_protected_items(m, backup.ref)}
        done = set()
        for key in pending:
            row = by_key[key]
            if row["sync"] or rules.action_done(row["action"], listed.get(key), row["policy_id"]):
                row["item"] = listed.get(key)
                done.add(key)
        left = sorted((by_key[k] for k in pending - done if by_key[k]["operation"]), key=lambda r: r.setdefault("asked", 0))
        stalled = progress["last"] is not None and len(pending) - len(done) == progress["last"]
        if left and (len(left) <= concurrency or stalled):
            ask = left[:concurrency]
            for row, (op, exc) in zip(ask, bounded_map(lambda r: operation_status(m, r["operation"]), ask, concurrency)):
                row["asked"] += 1
                state = str((op or {}).get("status", "")).lower()
                if exc is not None or state in ("failed", "canceled", "cancelled"):
                    error = (op or {}).get("error") or {}
                    row["error"] = error_text(exc, DOING[row["action"]].format(row["label"])) if exc else (
                        f"Azure could not {DOING[row['action']].format(row['label'])}: {error.get('message') or state} "
                        f"(error code {error.get('code')}).")
                    row["changed"] = False
                    done.add(row["id"].lower())
                elif state == "succeeded":
                    row["item"] = listed.get(row["id"].lower())
                    done.add(row["id"].lower())
                if job_of(op) and job_of(op) not in row["job_ids"]:
                    row["job_ids"].append(job_of(op))
        progress["last"] = len(pending) - len(done)
        return done

    left = poll_in_rounds(check, [r["id"].lower() for r in rows], m.params["timeout"])
    for key in left:
        by_key[key]["error"] = (f"Timed out after {m.params['timeout']}s waiting for the change of VM {by_key[key]['label']}: "
                                "it may still complete in Azure; run again or raise the timeout.")


def collect_jobs(m, backup: Backup, since: datetime) -> list:
    """The vault's jobs since `since` (one paged list), filtered on the client too in case the filter is ignored."""
    fmt = "%Y-%m-%d %I:%M:%S %p"
    end = datetime.now(timezone.utc) + timedelta(days=1)
    query = f"startTime eq '{since.strftime(fmt)}' and endTime eq '{end.strftime(fmt)}' and backupManagementType eq 'AzureIaasVM'"
    jobs = m.client("backup").backup_jobs
    listed = list_rest(m, lambda: jobs.list(backup.ref["name"], backup.ref["resource_group"], filter=query),
                       "list the backup jobs", f"vault {backup.ref['name']}")
    out = []
    for job in listed:
        props = job.get("properties") or {}
        start = props.get("startTime")
        try:
            started = datetime.fromisoformat(str(start).replace("Z", "+00:00")) if start else None
        except ValueError:
            started = None
        if started is None or started.tzinfo is None or started >= since - timedelta(seconds=5):
            out.append(job)
    return out


def job_belongs(job: dict, row: dict) -> bool:
    props = job.get("properties") or {}
    container = (props.get("containerName") or "").lower()
    if container:
        return container.endswith(f";{row['resource_group'].lower()};{row['name'].lower()}")
    return (props.get("entityFriendlyName") or "").lower() == row["name"].lower()


def attach_jobs(jobs: list, rows: list):
    """Job ids of the operations this run started, from the jobs list (names that are ambiguous are left out)."""
    counts = {}
    for row in rows:
        counts[row["name"].lower()] = counts.get(row["name"].lower(), 0) + 1
    for row in rows:
        for job in jobs:
            props = job.get("properties") or {}
            if props.get("operation") == "Backup" or not job_belongs(job, row):
                continue
            if not props.get("containerName") and counts[row["name"].lower()] > 1:
                continue
            if job.get("name") and job["name"] not in row["job_ids"]:
                row["job_ids"].append(job["name"])


# ------------------------------------------------------------------------------------------------ first backup


def needs_first_backup(row: dict, jobs: list) -> bool:
    props = (row.get("item") or {}).get("properties") or {}
    if props.get("lastBackupTime") or props.get("lastRecoveryPoint"):
        return False
    running = [j for j in jobs if (j.get("properties") or {}).get("operation") == "Backup" and job_belongs(j, row)
               and str((j.get("properties") or {}).get("status")).lower() not in JOB_DONE]
    return not running


def backup_now(m, backup: Backup, rows: list, started: datetime, governor: WriteGovernor):
    """Trigger the first backup of the VMs without one, then wait for their jobs (one jobs list per round)."""
    p = m.params
    candidates = [r for r in rows if not r.get("error") and r["protection_state"] in rules.ACTIVE_STATES
                  and (r["action"] == rules.PROTECT or needs_first_backup(r, []))]
    if not candidates:
        return
    if m.check_mode:
        for row in candidates:
            row.update(changed=True, backup_job_status="WouldStart")
        return
    jobs = collect_jobs(m, backup, started - timedelta(days=1))
    todo = [r for r in candidates if needs_first_backup(r, jobs)]
    expiry = (datetime.now(timezone.utc) + timedelta(days=p["backup_retention_days"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": expiry}}

    def trigger(row):
        headers = m.arm("POST", backup.item_path(row) + "/backup", BACKUP_API, body)[2]
        row["backup_operation"] = headers.get("Azure-AsyncOperation") or headers.get("azure-asyncoperation")
        return headers

    for row, (dummy, exc) in zip(todo, bounded_map(trigger, todo, p["concurrency"], governor)):
        row["changed"] = True
        if exc is not None:
            row["error"] = error_text(exc, f"start a backup of VM {row['label']}")
    triggered = [r for r in todo if not r.get("error")]
    if not triggered or not p["wait"]:
        for row in triggered:
            row["backup_job_status"] = "Started"
        return
    by_key = {r["id"].lower(): r for r in triggered}

    def check(pending):
        # the job id comes from the trigger's operation status; the job's state from one jobs list per round
        need_id = [by_key[k] for k in pending if not by_key[k].get("backup_job_id") and by_key[k].get("backup_operation")]
        for row, (op, exc) in zip(need_id, bounded_map(lambda r: operation_status(m, r["backup_operation"]), need_id, p["concurrency"])):
            if exc is None and job_of(op):
                row["backup_job_id"] = job_of(op)
            elif exc is None and str(op.get("status", "")).lower() in ("failed", "canceled"):
                row["error"] = f"The backup of VM {row['label']} could not start: {(op.get('error') or {}).get('message')}."
        listed = {j.get("name"): j for j in collect_jobs(m, backup, started)}
        done = set()
        for key in pending:
            row = by_key[key]
            job = listed.get(row.get("backup_job_id"))
            if job:
                row["backup_job_status"] = (job.get("properties") or {}).get("status")
                details = ((job.get("properties") or {}).get("errorDetails") or [{}])[0]
                row["backup_job_error"] = " ".join(filter(None, (details.get("errorTitle"), details.get("errorString"))))
            if row.get("error") or str(row.get("backup_job_status")).lower() in JOB_DONE:
                done.add(key)
        return done

    left = poll_in_rounds(check, list(by_key), p["timeout"])
    for row in triggered:
        if row.get("backup_job_id") and row["backup_job_id"] not in row["job_ids"]:
            row["job_ids"].append(row["backup_job_id"])
        status = str(row.get("backup_job_status")).lower()
        if row["id"].lower() in left:
            row["error"] = f"Timed out after {p['timeout']}s waiting for the backup job of VM {row['label']}; it may still finish."
        elif status in ("failed", "cancelled", "canceled"):
            row["error"] = (f"The backup job {row.get('backup_job_id')} of VM {row['label']} ended {row['backup_job_status']}: "
                            f"{row.get('backup_job_error') or 'no error details'}.")


# ------------------------------------------------------------------------------------------------ the run


def new_row(vm: dict, item: dict | None, state: str, pid: str | None, policy_name: str | None) -> dict:
    group = arm_ids.group_of(vm["id"])
    before = rules.item_view(item)
    action = rules.protection_action(state, item, pid)
    return {"vm": vm, "id": vm["id"], "name": vm["name"], "resource_group": group,
            "label": f"{group}/{vm['name']}", "item": item, "action": action, "policy_id": pid,
            "changed": action in WRITING, "before": before, "after": rules.state_after(action, before, policy_name),
            "job_ids": [], "operation": None, "sync": False}


def output(row: dict) -> dict:
    after = row["after"] if not row.get("error") else row["before"]
    if row.get("item") is not None and row["action"] in WRITING and not row.get("error"):
        view = rules.item_view(row["item"])  # what Azure shows once done
        after = {"protection_state": view["protection_state"], "policy": view["policy"]}
    if row.get("backup_job_status") == "Completed":
        after = {**after, "protection_state": "Protected"}  # the first recovery point ends IRPending
    out = {"id": row["id"], "name": row["name"], "resource_group": row["resource_group"], "action": row["action"],
           "changed": row["changed"], "protection_state": after["protection_state"], "policy": after["policy"],
           "protection_state_before": row["before"]["protection_state"], "policy_before": row["before"]["policy"],
           "job_ids": row["job_ids"]}
    for key in ("backup_job_id", "backup_job_status", "error"):
        if row.get(key):
            out[key] = row[key]
    return out


def run(m) -> dict:
    p = m.params
    started = datetime.now(timezone.utc)
    parsed = parse_params(m)
    ref = parsed["vault"]
    where = f"vault {ref['name']}"
    vault = read_or_none(m, lambda: m.client("recoveryservices").vaults.get(ref["resource_group"], ref["name"]),
                         "read the Recovery Services vault", where)
    # Check mode plans for a vault or policy that an earlier task would create: nothing is protected there yet.
    planning = m.check_mode and p["state"] == "protected" and bool(parsed["targets"])
    if vault is None and not planning:
        raise ModuleFailure(f"The Recovery Services vault {ref['name']} was not found in resource group {ref['resource_group']}: "
                            "create it first (azure_cvm.backup.recovery_vault), in the VMs' region.")
    pid = policy = None
    if p["state"] == "protected":
        policies = m.client("backup").protection_policies
        policy = None if vault is None else read_or_none(m, lambda: policies.get(ref["name"], ref["resource_group"], p["policy"]),
                                                         f"read backup policy {p['policy']}", where)
        if policy is None and not planning:
            raise ModuleFailure(f"The backup policy {p['policy']} was not found in {where}: create it first "
                                "(azure_cvm.backup.backup_policy). Nothing was changed.")
        if policy is None:
            m.warn(f"Check mode: {'vault ' + ref['name'] if vault is None else 'backup policy ' + p['policy']} does not exist "
                   "yet; the plan uses the id it will have and assumes the policy fits the VMs.")
        pid = (policy or {}).get("id") or arm_ids.policy_id(ref, p["policy"])
    region = cvm_rules.normalize_region((vault or {}).get("location"))
    items = {rules.item_key(i): i for i in vault_protected_items(m, ref)} if vault is not None else {}
    vms, skipped, missing = read_vms(m, parsed["targets"], p["resource_groups"] or [], region)
    for t in missing:  # the backup of a deleted VM can still be stopped or deleted: its item stands in for the VM
        rid = arm_ids.vm_id(m.subscription_id, t["resource_group"], t["name"])
        if p["state"] == "protected" or rid.lower() not in items:
            labels = ", ".join(f"{x['resource_group']}/{x['name']}" for x in missing)
            raise ModuleFailure(f"VM(s) not found: {labels}. Check the names and resource groups; nothing was changed.")
        vms.append({"id": rid, "name": t["name"], "location": vault.get("location")})
    rows = [new_row(vm, items.get(vm["id"].lower()), p["state"], pid, p["policy"]) for vm in vms]

    soft = [r for r in rows if r["action"] == rules.SOFT_DELETED]
    if soft:
        raise ModuleFailure(f"The backup data of {names(soft)} is soft-deleted in {where}: undelete it first (portal or "
                            "'az backup protection undelete'), then run again. Nothing was changed.")
    blockers = readiness_blockers(m, [r["vm"] for r in rows if r["action"] in PROTECTING], vault, policy, p["skip_readiness"])
    if blockers:
        text = " ".join(f"{r['label']}: {' '.join(blockers[r['id'].lower()])}" for r in rows if r["id"].lower() in blockers)
        raise ModuleFailure(f"{len(blockers)} VM(s) are not ready for confidential VM backup; nothing was changed. {text}",
                            not_ready={r["label"]: blockers[r["id"].lower()] for r in rows if r["id"].lower() in blockers})

    backup = Backup(m, ref)
    if vault is not None:  # a vault still to be made discovers every VM on its first refresh
        discover(m, backup, rows)
    writes = [r for r in rows if r["action"] in WRITING]
    governor = WriteGovernor(p["concurrency"])
    if writes and not m.check_mode:
        for row, (dummy, exc) in zip(writes, bounded_map(lambda r: start_write(m, backup, r), writes, p["concurrency"], governor)):
            if exc is not None:
                row["error"] = error_text(exc, DOING[row["action"]].format(row["label"]))
                row["changed"] = False
        started_ok = [r for r in writes if not r.get("error")]
        if (p["wait"] or p["backup_now"]) and started_ok:  # a first backup needs the protection in place
            wait_for_writes(m, backup, started_ok, p["concurrency"])
            try:
                attach_jobs(collect_jobs(m, backup, started), started_ok)
            except ModuleFailure as exc:  # the job ids are information only
                m.warn(f"The job ids could not be collected: {exc.msg}")
    if p["backup_now"]:
        for row in rows:
            row["protection_state"] = row["after"]["protection_state"] if row["action"] in WRITING else row["before"]["protection_state"]
        backup_now(m, backup, rows, started, governor)

    results = [output(r) for r in rows]
    result = {"changed": any(r["changed"] for r in rows), "vms": results, "excluded": skipped, "totals": rules.totals(results)}
    if governor.info():
        result["throttle"] = governor.info()
    if m.diff_mode:
        changed = {f"{r['resource_group']}/{r['name']}": r for r in results if r["changed"]}
        result["diff"] = {"before": {k: {"protection_state": r["protection_state_before"], "policy": r["policy_before"]}
                                     for k, r in changed.items()},
                          "after": {k: {"protection_state": r["protection_state"], "policy": r["policy"]} for k, r in changed.items()}}
    failed = [r for r in rows if r.get("error")]
    if failed:
        raise ModuleFailure(f"{len(failed)} of {len(rows)} VM(s) failed: " + " ".join(r["error"] for r in failed[:NAMED]), **result)
    return result


def main():
    argument_spec = {
        "vault": {"type": "raw", "required": True},
        "policy": {"type": "str"},
        "vms": {"type": "list", "elements": "raw"},
        "resource_groups": {"type": "list", "elements": "str", "aliases": ["resource_group"]},
        "state": {"type": "str", "choices": ["protected", "stopped", "absent"], "default": "protected"},
        "confirm_delete_backup_data": {"type": "bool", "default": False},
        "skip_readiness": {"type": "bool", "default": False},
        **READINESS_ARGSPEC,
        "backup_now": {"type": "bool", "default": False},
        "backup_retention_days": {"type": "int", "default": 30},
        "concurrency": {"type": "int", "default": 8},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 1800},
    }
    AzureCvmModule(argument_spec=argument_spec, supports_check_mode=True, mutually_exclusive=[("vms", "resource_groups")],
                   required_one_of=[("vms", "resource_groups")]).execute(run)


if __name__ == "__main__":
    main()
