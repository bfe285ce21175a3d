# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow of cvm_protection over a fleet of VMs: read, decide, check readiness, discover, write, wait, jobs, first
backup. One VmRow per VM carries what the steps learn; the decisions are protection_rules', the Azure Backup calls
backup_service's, the waiting waiting.poll_in_rounds'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import backup_service as service
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import protection_rules
from ansible_collections.azure_cvm.backup.plugins.module_utils.base import rest_dict
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.fleet import Progress, WriteGovernor, bounded_map
from ansible_collections.azure_cvm.backup.plugins.module_utils.readiness import Reader, cvm_checks, validate_options
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import poll_in_rounds

P = protection_rules
DOING = {P.PROTECT: "protect VM {}", P.CHANGE_POLICY: "change the backup policy of VM {}",
         P.RESUME: "resume the protection of VM {}", P.STOP: "stop the protection of VM {}",
         P.DELETE: "delete the backup data of VM {}"}
WRITING = (P.PROTECT, P.CHANGE_POLICY, P.RESUME, P.STOP, P.DELETE)
PROTECTING = (P.PROTECT, P.CHANGE_POLICY, P.RESUME)
# Backup job statuses after which the job no longer runs (succeeded or not).
JOB_ENDED = ("completed", "completedwithwarnings", "failed", "cancelled", "canceled")
OPERATION_FAILED = ("failed", "canceled", "cancelled")
NAMED = 10
RELISTS = 2  # reads of the protectable VMs after the refresh's first, before one missing is refused (discover)


@dataclass
class VmRow:
    """One VM of the run: what was read, what is decided, and what the writes, waits and jobs found."""

    vm: dict
    id: str
    name: str
    resource_group: str
    item: dict | None
    action: str
    policy_id: str | None
    changed: bool
    before: dict
    after: dict
    job_ids: list = field(default_factory=list)
    operation: str | None = None  # the Azure-AsyncOperation URL of the write
    sync: bool = False  # the write finished in its own answer
    asked: int = 0  # how often the operation status was read
    error: str | None = None
    protection_state: str | None = None  # before the first backup: the state the writes leave
    backup_operation: str | None = None
    backup_job_id: str | None = None
    backup_job_status: str | None = None
    backup_job_error: str | None = None

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def label(self) -> str:
        return f"{self.resource_group}/{self.name}"

    def doing(self) -> str:
        return DOING[self.action].format(self.label)


def new_row(vm: dict, item: dict | None, state: str, pid: str | None, policy_name: str | None) -> VmRow:
    before = P.item_view(item)
    action = P.protection_action(state, item, pid)
    return VmRow(vm=vm, id=vm["id"], name=vm["name"], resource_group=arm_ids.group_of(vm["id"]), item=item, action=action,
                 policy_id=pid, changed=action in WRITING, before=before, after=P.state_after(action, before, policy_name))


def names(rows: list) -> str:
    labels = [r.label for r in rows]
    return ", ".join(labels[:NAMED]) + (f" and {len(labels) - NAMED} more" if len(labels) > NAMED else "")


def error_text(exc, action: str) -> str:
    if isinstance(exc, ModuleFailure):
        return exc.msg
    return describe_error(exc, action)["msg"]


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
        for entry in p["vms"] or []:
            target = arm_ids.parse_vm_target(entry, m.subscription_id)
            if target["subscription_id"].lower() != m.subscription_id.lower():
                raise ValueError(f"VM {entry} is in subscription {target['subscription_id']}, not in {m.subscription_id}: "
                                 "the vault protects VMs of its own subscription.")
            key = (target["resource_group"].lower(), target["name"].lower())
            if key not in seen:
                seen.add(key)
                targets.append(target)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from exc
    return {"vault": ref, "targets": targets}


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
                                policy_name=m.params["policy"] if policy is not None else None,
                                assume_feature_registered=m.params["assume_feature_registered"])
        blockers = cvm_rules.verdict(checks)["blockers"]
        if blockers:
            out[vm["id"].lower()] = blockers
    return out


# ------------------------------------------------------------------------------------------------ discovery


def discover(m, items: service.VaultItems, rows: list):
    """Make sure every VM to protect is discoverable by the vault; fail naming the vault of a VM protected elsewhere."""
    need = [r for r in rows if r.action == P.PROTECT]
    if not need:
        return
    known = items.protectable_ids()
    missing = [r for r in need if r.key not in known]
    if not missing:
        return
    if m.check_mode:
        m.warn(f"{len(missing)} VM(s) are not discoverable by vault {items.ref['name']} yet ({names(missing)}): a real run "
               "refreshes the vault's containers first, and fails if a VM turns out to be protected in another vault.")
        return
    items.refresh(m.params["timeout"])
    known = set()
    for dummy in range(1 + RELISTS):
        # A list read page by page while other runs (AWX slices) protect VMs of this vault can skip items: a protected
        # VM leaves the list between two pages. Whether Azure's $skiptoken pages shift so is not published (UNVERIFIED;
        # the local Azure's offset pages do). Reading again costs a list on this rare path only; a VM missing from
        # every read after the refresh is refused below.
        known |= items.protectable_ids()
        missing = [r for r in need if r.key not in known]
        if not missing:
            return
    answers = bounded_map(items.backup_status, [r.vm for r in missing], m.params["concurrency"])
    problems, here = [], []
    for row, (status, exc) in zip(missing, answers):
        if (status or {}).get("protectionStatus") == "Protected" and arm_ids.same(status.get("vaultId"), items.vault_id):
            here.append(row)  # protected by this vault since our list: another run at the same time (issue 17 item 6)
        elif exc is not None:  # the PUT's own answer will say why (Azure names the vault that protects it)
            m.warn(f"VM {row.label} is not discoverable by vault {items.ref['name']} and its backup status could not be read "
                   f"({describe_error(exc, 'read the backup status')['msg'].rstrip('.')}); trying to protect it anyway.")
        elif (status or {}).get("protectionStatus") == "Protected" and not arm_ids.same(status.get("vaultId"), items.vault_id):
            vault_name = arm_ids.name_of(status.get("vaultId")) or "another vault"
            problems.append(f"VM {row.label} is already protected by vault {vault_name} ({status.get('vaultId')}, policy "
                            f"{status.get('policyName')}): a VM can be protected by one vault only; stop its protection there "
                            "first (cvm_protection with state: absent on that vault).")
        else:
            problems.append(f"VM {row.label} is not discoverable by vault {items.ref['name']} even after a container refresh "
                            f"(backup status: {(status or {}).get('protectionStatus') or 'unknown'}): check that it exists, is "
                            "running and is in the vault's region.")
    if here:
        redecide(m, items, rows, here)
    if problems:
        raise ModuleFailure(f"Nothing was changed: {len(problems)} VM(s) cannot be protected by vault {items.ref['name']}: "
                            + " ".join(problems[:NAMED]) + (f" ({len(problems) - NAMED} more.)" if len(problems) > NAMED else ""))


def redecide(m, items: service.VaultItems, rows: list, here: list):
    """The VMs another run protected in this vault meanwhile: decided again on a fresh list of the vault's items, so
    one protected with the wanted policy is done (no write) and one with another policy gets a policy change."""
    listed = {P.item_key(i): i for i in service.protected_items(m, items.ref)}
    for row in here:
        item = listed.get(row.key)
        if item is None:  # not listed yet: the PUT (idempotent in Azure) settles it
            continue
        fresh = new_row(row.vm, item, m.params["state"], row.policy_id, m.params["policy"])
        rows[rows.index(row)] = fresh
        m.warn(f"VM {row.label} was protected in vault {items.ref['name']} by another run meanwhile "
               f"(policy {fresh.before['policy']}): {'nothing to do' if fresh.action == P.NONE else fresh.action}.")


# ------------------------------------------------------------------------------------------------ writing and waiting


def start_write(items: service.VaultItems, row: VmRow) -> dict:
    """Send one VM's PUT or DELETE; keep the operation URL to ask when the list cannot tell. Returns the answer's
    headers (the write governor reads the remaining writes from them)."""
    if row.action in PROTECTING:
        status, headers = items.put_item(row.resource_group, row.name, P.protect_body(row.id, row.policy_id))
    elif row.action == P.STOP:
        status, headers = items.put_item(row.resource_group, row.name, P.stop_body(row.id))
    else:
        status, headers = items.delete_item(row.resource_group, row.name)
    row.operation = service.async_operation(headers) if status == 202 else None
    row.sync = status != 202
    return headers


def wait_for_writes(m, items: service.VaultItems, rows: list, concurrency: int, progress: Progress):
    """Rounds: one list of the vault's protected items answers for every pending VM. A failed operation never shows in
    the list, so when few VMs are left or a round made no progress, the operation status of at most `concurrency`
    pending VMs (the least asked first) is read too: a round costs one list plus at most `concurrency` reads."""
    by_key = {r.key: r for r in rows}
    reporter, progress = progress, {"last": None}
    reporter.report("changes in effect", 0, len(rows))

    def check(pending):
        listed = {P.item_key(i): i for i in service.protected_items(m, items.ref)}
        done = set()
        for key in pending:
            row = by_key[key]
            if row.sync or P.action_done(row.action, listed.get(key), row.policy_id):
                row.item = listed.get(key)
                done.add(key)
        left = sorted((by_key[k] for k in pending - done if by_key[k].operation), key=lambda r: r.asked)
        stalled = progress["last"] is not None and len(pending) - len(done) == progress["last"]
        if left and (len(left) <= concurrency or stalled):
            ask = left[:concurrency]
            for row, (op, exc) in zip(ask, bounded_map(lambda r: service.operation_status(m, r.operation), ask, concurrency)):
                row.asked += 1
                state = str((op or {}).get("status", "")).lower()
                if exc is not None or state in OPERATION_FAILED:
                    error = (op or {}).get("error") or {}
                    row.error = error_text(exc, row.doing()) if exc else (
                        f"Azure could not {row.doing()}: {error.get('message') or state} (error code {error.get('code')}).")
                    row.changed = False
                    done.add(row.key)
                elif state == "succeeded" and P.action_done(row.action, listed.get(row.key), row.policy_id):
                    row.item = listed.get(row.key)
                    done.add(row.key)
                elif state == "succeeded":
                    # the list above was read before the operation ended: the next round's list shows what it did
                    row.sync = True
                job = service.operation_job_id(op)
                if job and job not in row.job_ids:
                    row.job_ids.append(job)
        progress["last"] = len(pending) - len(done)
        reporter.report("changes in effect", len(rows) - progress["last"], len(rows))
        return done

    for key in poll_in_rounds(check, list(by_key), m.params["timeout"]):
        by_key[key].error = (f"Timed out after {m.params['timeout']}s waiting for the change of VM {by_key[key].label}: "
                             "it may still complete in Azure; run again or raise the timeout.")


def job_belongs(job: dict, row: VmRow) -> bool:
    props = job.get("properties") or {}
    container = (props.get("containerName") or "").lower()
    if container:
        return container.endswith(f";{row.resource_group.lower()};{row.name.lower()}")
    return (props.get("entityFriendlyName") or "").lower() == row.name.lower()


def attach_jobs(jobs: list, rows: list):
    """Job ids of the operations this run started, from the jobs list (names that are ambiguous are left out)."""
    counts = {}
    for row in rows:
        counts[row.name.lower()] = counts.get(row.name.lower(), 0) + 1
    for row in rows:
        for job in jobs:
            props = job.get("properties") or {}
            if props.get("operation") == "Backup" or not job_belongs(job, row):
                continue
            if not props.get("containerName") and counts[row.name.lower()] > 1:
                continue
            if job.get("name") and job["name"] not in row.job_ids:
                row.job_ids.append(job["name"])


# ------------------------------------------------------------------------------------------------ first backup


def needs_first_backup(row: VmRow, jobs: list) -> bool:
    props = (row.item or {}).get("properties") or {}
    if props.get("lastBackupTime") or props.get("lastRecoveryPoint"):
        return False
    running = [j for j in jobs if (j.get("properties") or {}).get("operation") == "Backup" and job_belongs(j, row)
               and str((j.get("properties") or {}).get("status")).lower() not in JOB_ENDED]
    return not running


def backup_now(m, items: service.VaultItems, rows: list, started: datetime, governor: WriteGovernor, progress: Progress):
    """Trigger the first backup of the VMs without one, then wait for their jobs (one jobs list per round)."""
    p = m.params
    candidates = [r for r in rows if not r.error and r.protection_state in P.ACTIVE_STATES
                  and (r.action == P.PROTECT or needs_first_backup(r, []))]
    if not candidates:
        return
    if m.check_mode:
        for row in candidates:
            row.changed, row.backup_job_status = True, "WouldStart"
        return
    jobs = service.jobs_since(m, items.ref, started - timedelta(days=1))
    todo = [r for r in candidates if needs_first_backup(r, jobs)]
    expiry = (datetime.now(timezone.utc) + timedelta(days=p["backup_retention_days"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": expiry}}

    def trigger(row):
        headers = items.trigger_backup(row.resource_group, row.name, body)
        row.backup_operation = service.async_operation(headers)
        return headers

    for row, (dummy, exc) in zip(todo, bounded_map(trigger, todo, p["concurrency"], governor)):
        row.changed = True
        if exc is not None:
            row.error = error_text(exc, f"start a backup of VM {row.label}")
    triggered = [r for r in todo if not r.error]
    if not triggered or not p["wait"]:
        for row in triggered:
            row.backup_job_status = "Started"
        return
    by_key = {r.key: r for r in triggered}

    def check(pending):
        # the job id comes from the trigger's operation status; the job's state from one jobs list per round
        need_id = [by_key[k] for k in pending if not by_key[k].backup_job_id and by_key[k].backup_operation]
        for row, (op, exc) in zip(need_id, bounded_map(lambda r: service.operation_status(m, r.backup_operation), need_id,
                                                       p["concurrency"])):
            if exc is None and service.operation_job_id(op):
                row.backup_job_id = service.operation_job_id(op)
            elif exc is None and str(op.get("status", "")).lower() in ("failed", "canceled"):
                row.error = f"The backup of VM {row.label} could not start: {(op.get('error') or {}).get('message')}."
        listed = {j.get("name"): j for j in service.jobs_since(m, items.ref, started)}
        done = set()
        for key in pending:
            row = by_key[key]
            job = listed.get(row.backup_job_id)
            if job:
                row.backup_job_status = (job.get("properties") or {}).get("status")
                details = ((job.get("properties") or {}).get("errorDetails") or [{}])[0]
                row.backup_job_error = " ".join(filter(None, (details.get("errorTitle"), details.get("errorString"))))
            if row.error or str(row.backup_job_status).lower() in JOB_ENDED:
                done.add(key)
        progress.report("first backups ended", len(triggered) - len(pending) + len(done), len(triggered))
        return done

    left = poll_in_rounds(check, list(by_key), p["timeout"])
    for row in triggered:
        if row.backup_job_id and row.backup_job_id not in row.job_ids:
            row.job_ids.append(row.backup_job_id)
        status = str(row.backup_job_status).lower()
        if row.key in left:
            row.error = f"Timed out after {p['timeout']}s waiting for the backup job of VM {row.label}; it may still finish."
        elif status in OPERATION_FAILED:
            row.error = (f"The backup job {row.backup_job_id} of VM {row.label} ended {row.backup_job_status}: "
                         f"{row.backup_job_error or 'no error details'}.")


# ------------------------------------------------------------------------------------------------ the run


def output(row: VmRow) -> dict:
    after = row.after if not row.error else row.before
    if row.item is not None and row.action in WRITING and not row.error:
        view = P.item_view(row.item)  # what Azure shows once done
        after = {"protection_state": view["protection_state"], "policy": view["policy"]}
    if row.backup_job_status == "Completed":
        after = {**after, "protection_state": "Protected"}  # the first recovery point ends IRPending
    out = {"id": row.id, "name": row.name, "resource_group": row.resource_group, "action": row.action,
           "changed": row.changed, "protection_state": after["protection_state"], "policy": after["policy"],
           "protection_state_before": row.before["protection_state"], "policy_before": row.before["policy"],
           "job_ids": row.job_ids}
    for key in ("backup_job_id", "backup_job_status", "error"):
        if getattr(row, key):
            out[key] = getattr(row, key)
    return out


def read_vault_and_policy(m, ref: dict, planning: bool) -> tuple:
    """(vault, policy, policy id) as Azure has them; in a check-mode plan a vault or policy still to be made is None."""
    p = m.params
    where = f"vault {ref['name']}"
    vault = service.read_vault(m, ref)
    if vault is None and not planning:
        raise ModuleFailure(f"The Recovery Services vault {ref['name']} was not found in resource group {ref['resource_group']}: "
                            "create it first (azure_cvm.backup.recovery_vault), in the VMs' region.")
    if p["state"] != "protected":
        return vault, None, None
    policy = None if vault is None else service.read_policy(m, ref, p["policy"])
    if policy is None and not planning:
        raise ModuleFailure(f"The backup policy {p['policy']} was not found in {where}: create it first "
                            "(azure_cvm.backup.backup_policy). Nothing was changed.")
    if policy is None:
        m.warn(f"Check mode: {'vault ' + ref['name'] if vault is None else 'backup policy ' + p['policy']} does not exist "
               "yet; the plan uses the id it will have and assumes the policy fits the VMs.")
    return vault, policy, (policy or {}).get("id") or arm_ids.policy_id(ref, p["policy"])


def plan_rows(m, parsed: dict, vault: dict | None, pid: str | None) -> tuple[list, list]:
    """(a VmRow per VM, the VMs of resource_groups left out and why)."""
    p = m.params
    region = cvm_rules.normalize_region((vault or {}).get("location"))
    items = {P.item_key(i): i for i in service.protected_items(m, parsed["vault"])} if vault is not None else {}
    vms, skipped, missing = read_vms(m, parsed["targets"], p["resource_groups"] or [], region)
    for t in missing:  # the backup of a deleted VM can still be stopped or deleted: its item stands in for the VM
        rid = arm_ids.vm_id(m.subscription_id, t["resource_group"], t["name"])
        if p["state"] == "protected" or rid.lower() not in items:
            labels = ", ".join(f"{x['resource_group']}/{x['name']}" for x in missing)
            raise ModuleFailure(f"VM(s) not found: {labels}. Check the names and resource groups; nothing was changed.")
        vms.append({"id": rid, "name": t["name"], "location": vault.get("location")})
    return [new_row(vm, items.get(vm["id"].lower()), p["state"], pid, p["policy"]) for vm in vms], skipped


def refuse_unready(m, ref: dict, rows: list, vault: dict | None, policy: dict | None):
    """Fail before any write when a VM's backup data is soft-deleted or a VM is not ready."""
    soft = [r for r in rows if r.action == P.SOFT_DELETED]
    if soft:
        raise ModuleFailure(f"The backup data of {names(soft)} is soft-deleted in vault {ref['name']}: undelete it first "
                            "(portal or 'az backup protection undelete'), then run again. Nothing was changed.")
    blockers = readiness_blockers(m, [r.vm for r in rows if r.action in PROTECTING], vault, policy, m.params["skip_readiness"])
    if blockers:
        text = " ".join(f"{r.label}: {' '.join(blockers[r.key])}" for r in rows if r.key in blockers)
        raise ModuleFailure(f"{len(blockers)} VM(s) are not ready for confidential VM backup; nothing was changed. {text}",
                            not_ready={r.label: blockers[r.key] for r in rows if r.key in blockers})


def write(m, items: service.VaultItems, rows: list, started: datetime, governor: WriteGovernor, progress: Progress):
    """Send the writes, wait for them (when asked, or before a first backup) and collect their job ids."""
    p = m.params
    writes = [r for r in rows if r.action in WRITING]
    if not writes or m.check_mode:
        return
    progress.report("writes sent", 0, len(writes))

    def send(row):
        try:
            return start_write(items, row)
        finally:
            progress.tick()

    for row, (dummy, exc) in zip(writes, bounded_map(send, writes, p["concurrency"], governor)):
        if exc is not None:
            row.error = error_text(exc, row.doing())
            row.changed = False
    started_ok = [r for r in writes if not r.error]
    if (p["wait"] or p["backup_now"]) and started_ok:  # a first backup needs the protection in place
        wait_for_writes(m, items, started_ok, p["concurrency"], progress)
        try:
            attach_jobs(service.jobs_since(m, items.ref, started), started_ok)
        except ModuleFailure as exc:  # the job ids are information only
            m.warn(f"The job ids could not be collected: {exc.msg}")


def result_of(m, rows: list, skipped: list, governor: WriteGovernor) -> dict:
    results = [output(r) for r in rows]
    result = {"changed": any(r["changed"] for r in results), "vms": results, "excluded": skipped, "totals": P.totals(results)}
    if governor.info():
        result["throttle"] = governor.info()
    if m.diff_mode:
        changed = {f"{r['resource_group']}/{r['name']}": r for r in results if r["changed"]}
        result["diff"] = {"before": {k: {"protection_state": r["protection_state_before"], "policy": r["policy_before"]}
                                     for k, r in changed.items()},
                          "after": {k: {"protection_state": r["protection_state"], "policy": r["policy"]} for k, r in changed.items()}}
    failed = [r for r in rows if r.error]
    if failed:
        raise ModuleFailure(f"{len(failed)} of {len(rows)} VM(s) failed: " + " ".join(r.error for r in failed[:NAMED]), **result)
    return result


def run(m) -> dict:
    """The whole cvm_protection run: the module's result, or ModuleFailure."""
    p = m.params
    started = datetime.now(timezone.utc)
    parsed = parse_params(m)
    progress = Progress(p["progress_file"])
    progress.report("reading the vault and the VMs", 0, len(parsed["targets"]))
    ref = parsed["vault"]
    # Check mode plans for a vault or policy that an earlier task would create: nothing is protected there yet.
    planning = m.check_mode and p["state"] == "protected" and bool(parsed["targets"])
    vault, policy, pid = read_vault_and_policy(m, ref, planning)
    rows, skipped = plan_rows(m, parsed, vault, pid)
    progress.report("checking readiness", 0, len(rows))
    refuse_unready(m, ref, rows, vault, policy)
    items = service.VaultItems(m, ref)
    if vault is not None:  # a vault still to be made discovers every VM on its first refresh
        discover(m, items, rows)
    governor = WriteGovernor(p["concurrency"])
    write(m, items, rows, started, governor, progress)
    if p["backup_now"]:
        for row in rows:
            row.protection_state = (row.after if row.action in WRITING else row.before)["protection_state"]
        backup_now(m, items, rows, started, governor, progress)
    progress.report("planned" if m.check_mode else "done", len(rows), len(rows))
    return result_of(m, rows, skipped, governor)
