# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore_drill role: the minutes between a restore job's start and end, and the drill report
(roles/restore_drill builds it as a dict) as Markdown and as one self-contained HTML page (inline CSS and the posture
page's inline script that sorts and filters the table, every value escaped, no external scripts, fonts or styles)."""

from __future__ import annotations

import html
import random
from datetime import datetime, timezone

from ansible_collections.azure_cvm.backup.plugins.filter.posture_report import TABLE_SCRIPT
from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import name_of

PASSED = "passed"
FAILED = "failed"
PLANNED = "planned"
DONE_EARLIER = "done_earlier"


def _when(text):
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    if "." in value:  # Azure sends up to 7 fraction digits; fromisoformat takes 6
        head, _dot, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        value = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def drill_minutes(start, end):
    """Minutes (rounded to 0.1) from `start` to `end` (ISO 8601 times of a job), or None when either is missing."""
    begin, finish = _when(start), _when(end)
    if begin is None or finish is None:
        return None
    return round((finish - begin).total_seconds() / 60.0, 1)


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value) or "-"
    return str(value)


COLUMNS = (("vm", "VM"), ("region", "Region"), ("status", "Status"), ("restore_type", "Restore"),
           ("job", "Job"), ("minutes", "Minutes"), ("rto_met", "RTO met"), ("verified", "Verified"),
           ("problems", "Problems"))


def _row(vm: dict) -> list:
    job = vm.get("job") or {}
    values = dict(vm, job=f"{job.get('name') or '-'} ({job.get('status') or '-'})" if job else None)
    return [_cell(values.get(key)) for key, _title in COLUMNS]


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def drill_report_markdown(report: dict) -> str:
    s = report.get("summary") or {}
    lines = [f"# Restore drill {_md(str(report.get('drill_id')))}", "",
             f"Generated {report.get('generated')}; restore type {report.get('restore_type')}; RTO "
             f"{report.get('rto_minutes')} minutes{' (check mode: a plan, nothing restored)' if report.get('check_mode') else ''}.",
             "", f"VMs: {s.get('total', 0)}; passed {s.get('passed', 0)}, failed {s.get('failed', 0)}, planned "
             f"{s.get('planned', 0)}, done earlier {s.get('done_earlier', 0)}; RTO missed {s.get('rto_missed', 0)}.", "",
             "| " + " | ".join(title for _key, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_md(c) for c in _row(vm)) + " |" for vm in report.get("vms") or []]
    for vm in report.get("vms") or []:
        if vm.get("recovery_steps"):
            lines += ["", f"## {_md(str(vm.get('vm')))}: what to do", "", _md(str(vm.get("message") or "")), ""]
            lines += [f"{i}. {_md(str(step))}" for i, step in enumerate(vm["recovery_steps"], 1)]
    unverified = [(vm.get("vm"), rid) for vm in report.get("vms") or [] for rid in vm.get("unverified_disks") or []]
    if unverified:
        lines += ["", "## Disks the drill could not tie to its restore (not tagged, not deleted)", ""]
        lines += [f"- {_md(str(vm))}: {_md(str(rid))}" for vm, rid in unverified]
    cleanup = report.get("cleanup") or []
    if cleanup:
        lines += ["", "## Cleanup", ""]
        lines += [f"- {_md(str(c.get('resource_group')))}: deleted {len(c.get('deleted') or [])}, kept "
                  f"{len(c.get('kept') or [])} (not this drill's)" for c in cleanup]
    return "\n".join(lines) + "\n"


CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       "th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee;cursor:pointer}"
       "th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}tr[hidden]{display:none}"
       ".controls{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:1em 0}#shown{color:#59636e}"
       ".passed{background:#dff0d8}.failed{background:#f2dede}.planned,.done_earlier{background:#fcf8e3}")
STATUSES = (PASSED, FAILED, PLANNED, DONE_EARLIER)


def _html_row(vm: dict, e) -> str:
    """One VM's row: its status for the filter, its id for the text filter, the minutes as a number for the sort."""
    status = str(vm.get("status"))
    cells = []
    for (key, _title), text in zip(COLUMNS, _row(vm)):
        sort = "" if key == "minutes" and vm.get("minutes") is None else None
        cells.append(f"<td data-sort=\"{sort}\">{e(text)}</td>" if sort is not None else f"<td>{e(text)}</td>")
    return (f"<tr class=\"vm {e(status)}\" data-verdict=\"{e(status)}\" data-search=\"{e(str(vm.get('vm_id') or '').lower())}\">"
            + "".join(cells) + "</tr>")


def drill_report_html(report: dict) -> str:
    e = html.escape
    s = report.get("summary") or {}
    vms = report.get("vms") or []
    rows = "".join(_html_row(vm, e) for vm in vms)
    steps = "".join(f"<h2>{e(str(vm.get('vm')))}: what to do</h2><p>{e(str(vm.get('message') or ''))}</p><ol>"
                    + "".join(f"<li>{e(str(step))}</li>" for step in vm["recovery_steps"]) + "</ol>"
                    for vm in vms if vm.get("recovery_steps"))
    head = "".join(f"<th data-key=\"{key}\" scope=\"col\">{e(title)}</th>" for key, title in COLUMNS)
    boxes = "".join(f"<label><input type=\"checkbox\" name=\"verdict\" value=\"{status}\" checked> {status.replace('_', ' ')}</label>"
                    for status in STATUSES)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Restore drill {e(str(report.get('drill_id')))}</title><style>{CSS}</style></head><body>"
            f"<h1>Restore drill {e(str(report.get('drill_id')))}</h1>"
            f"<p>Generated {e(str(report.get('generated')))}; restore type {e(str(report.get('restore_type')))}; RTO "
            f"{e(str(report.get('rto_minutes')))} minutes.</p>"
            f"<p id=\"summary\">VMs: {e(str(s.get('total', 0)))}; passed {e(str(s.get('passed', 0)))}, failed "
            f"{e(str(s.get('failed', 0)))}, planned {e(str(s.get('planned', 0)))}; RTO missed {e(str(s.get('rto_missed', 0)))}.</p>"
            "<div class=\"controls\"><input type=\"search\" id=\"filter-text\" placeholder=\"Filter: VM, region, problem...\" "
            f"aria-label=\"Filter the VMs\">{boxes}<span id=\"shown\">{len(vms)} of {len(vms)} VMs shown</span></div>"
            f"<table id=\"vms\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{steps}"
            f"<script>{TABLE_SCRIPT}</script></body></html>\n")


def drill_pick(items, readiness, vms=None, tag="", sample=0, seed=""):
    """The drill's VMs: the protected items (cvm_protection_info) that have a recovery point, joined with their readiness
    report (cvm_readiness_info: region, tags, DES), in resource id order; those with the tag `tag` (key=value) when
    given (not with `vms`, which cvm_protection_info already applied); then `sample` of them (0: all), the same ones for
    the same `seed`."""
    reports = {str(r.get("id", "")).lower(): r for r in readiness or []}
    picked = []
    for item in sorted(items or [], key=lambda i: str(i.get("vm_id", "")).lower()):
        report = reports.get(str(item.get("vm_id", "")).lower()) or {}
        facts = report.get("facts") or {}
        if not item.get("item_name") or not item.get("latest_recovery_point") or not facts:
            continue
        picked.append({"vm_id": item["vm_id"], "name": item["name"], "resource_group": item["resource_group"],
                       "region": facts.get("region"), "security_type": facts.get("security_type"),
                       "des_id": (facts.get("des") or {}).get("id"), "tags": facts.get("tags") or {},
                       "data_des_ids": list(facts.get("data_disk_des_ids") or []),
                       "latest_recovery_point": item["latest_recovery_point"].get("time")})
    if tag and not vms:
        key, _sep, value = str(tag).partition("=")
        picked = [vm for vm in picked if vm["tags"].get(key.strip()) == value.strip()]
    count = int(sample or 0)
    if 0 < count < len(picked):
        chosen = set(random.Random(str(seed)).sample(range(len(picked)), count))
        picked = [vm for i, vm in enumerate(picked) if i in chosen]
    return picked


def _same(a, b) -> bool:
    return bool(a and b) and str(a).rstrip("/").lower() == str(b).rstrip("/").lower()


def _verify(vm: dict, restore_type: str, found: dict) -> list:
    """What the restored resources show against what a confidential VM restore must give: the problems (none: verified).
    The OS disk carries the confidential security type (ConfidentialVM_*) and, for a customer-managed key, the VM's
    disk encryption set; each data disk the encryption set of one of the VM's data disks (none: platform-managed keys),
    as many data disks as the VM has."""
    disks = found.get("disks") or []
    problems = []
    os_disks = [d for d in disks if d.get("os_type")]
    if not os_disks:
        problems.append("no restored OS disk carries the drill's tag")
    for disk in os_disks:
        if not disk.get("confidential"):
            problems.append(f"OS disk {disk.get('name')} has security type {disk.get('security_type')}, not ConfidentialVM_*")
        if vm.get("des_id") and not _same(disk.get("disk_encryption_set_id"), vm["des_id"]):
            problems.append(f"OS disk {disk.get('name')} uses disk encryption set {disk.get('disk_encryption_set_id')}, "
                            f"expected {vm['des_id']}")
    problems += _verify_data_disks(vm, [d for d in disks if not d.get("os_type")])
    if restore_type == "alternate_location":
        vms = found.get("vms") or []
        if not vms:
            problems.append("no restored VM carries the drill's tag")
        for restored in vms:
            if restored.get("security_type") != "ConfidentialVM" or not restored.get("vtpm") or not restored.get("secure_boot"):
                problems.append(f"VM {restored.get('name')} has security type {restored.get('security_type')}, vTPM "
                                f"{restored.get('vtpm')}, secure boot {restored.get('secure_boot')} (expected ConfidentialVM, on, on)")
    return problems


def _verify_data_disks(vm: dict, data_disks: list) -> list:
    """Each restored data disk against the VM's data disks' encryption sets (`data_des_ids`, one per data disk, None
    for a platform-managed key); nothing to check when the drill's VM list has no data disk facts."""
    if "data_des_ids" not in vm:
        return []
    left = [d or None for d in vm["data_des_ids"]]  # what the restored data disks may still match, one each
    problems = []
    if len(data_disks) != len(left):
        problems.append(f"{len(data_disks)} restored data disk(s) carry the drill's tag, the VM has {len(left)}")
    for disk in sorted(data_disks, key=lambda d: str(d.get("name", ""))):
        got = disk.get("disk_encryption_set_id") or None
        match = next((i for i, want in enumerate(left) if want == got or _same(want, got)), None)
        if match is not None:
            left.pop(match)
            continue
        wanted = ", ".join(sorted({str(d or "none (a platform-managed key)") for d in left})) or "no more data disks"
        problems.append(f"data disk {disk.get('name')} uses disk encryption set {got or 'none (a platform-managed key)'}, "
                        f"expected {wanted}")
    return problems


def _restored(restore: dict, found: dict) -> dict:
    """What drill_resources found with the drill's tag, narrowed to what this VM's restore created."""
    ids = {str(i).lower() for i in restore.get("restored_disk_ids") or []}
    vm_id = str(restore.get("restored_vm_id") or "").lower()
    return {"disks": [d for d in found.get("disks") or [] if str(d.get("id", "")).lower() in ids],
            "vms": [v for v in found.get("vms") or [] if vm_id and str(v.get("id", "")).lower() == vm_id]}


def drill_verify(vm, restore=None, found=None, failure=None, restore_type="disks", rto_minutes=None, group="",
                 check_mode=False, steps=None):
    """One VM's entry of the drill report, from the restore (cvm_restore's result), what drill_resources found with the
    drill's tag, or the failure (the failed task's result)."""
    restore = restore or {}
    found = _restored(restore, found or {})
    kind = "alternate_location" if restore_type == "alternate_location" else "restore_disks"
    entry = {"vm": f"{vm.get('resource_group')}/{vm.get('name')}", "vm_id": vm.get("vm_id"), "region": vm.get("region"),
             "resource_group": group, "restore_type": kind, "expected_disk_encryption_set": vm.get("des_id"),
             "expected_data_disk_encryption_sets": list(vm.get("data_des_ids") or []),
             "recovery_point": (restore.get("recovery_point") or {}).get("name"), "job": None, "minutes": None,
             "rto_met": None, "verified": None, "problems": [], "message": None, "recovery_steps": [],
             "disks": found.get("disks") or [], "vms": found.get("vms") or [], "reused": bool(restore.get("reused")),
             # disks the restore's time alone ties to it (cvm_restore restored_disks, matched_by time): not tagged, never deleted
             "unverified_disks": [d.get("id") for d in restore.get("restored_disks") or [] if d.get("matched_by") == "time"]}
    if failure:
        job = failure.get("job") or {}
        entry.update(status=FAILED, message=failure.get("msg"), problems=[failure.get("msg") or "the restore failed"],
                     recovery_steps=list(steps or []), verified=False,
                     job={k: job.get(k) for k in ("name", "status", "start_time", "end_time")} if job else None)
        return entry
    if check_mode or not restore.get("job"):
        entry.update(status=PLANNED, message="Check mode: the restore that would be started is in the plan; nothing was restored.")
        return entry
    job = restore["job"]
    entry["job"] = {k: job.get(k) for k in ("name", "status", "start_time", "end_time")}
    entry["minutes"] = drill_minutes(job.get("start_time"), job.get("end_time"))
    if entry["minutes"] is not None and rto_minutes is not None:
        entry["rto_met"] = entry["minutes"] <= float(rto_minutes)
    if restore.get("reused") and not restore.get("restored_disk_ids") and not restore.get("restored_vm_id"):
        entry.update(status=DONE_EARLIER, message=f"Restore job {job.get('name')} of this drill ran earlier and what it restored "
                                                  "was already cleaned up: not restored or verified again.")
        return entry
    entry["problems"] = _verify(vm, kind, found)
    entry["verified"] = not entry["problems"]
    if entry["rto_met"] is False:
        entry["problems"].append(f"the restore took {entry['minutes']} minutes, over the RTO of {rto_minutes}")
    entry["status"] = PASSED if not entry["problems"] else FAILED
    return entry


def drill_summary(entries) -> dict:
    entries = list(entries or [])
    out = {"total": len(entries), "rto_missed": sum(1 for e in entries if e.get("rto_met") is False)}
    for status in (PASSED, FAILED, PLANNED, DONE_EARLIER):
        out[status] = sum(1 for e in entries if e.get("status") == status)
    return out


def drill_cleanup_entry(result: dict) -> dict:
    """A cleanup result of drill_resources (state absent) as the report shows it."""
    group = result.get("item") or name_of((result.get("resource_group") or {}).get("id"))
    return {"resource_group": group, "deleted": result.get("deleted") or [], "kept": result.get("kept") or [],
            "unsupported": result.get("unsupported") or [], "failed": bool(result.get("failed")), "msg": result.get("msg")}


def drill_line(entry: dict) -> str:
    """One line of the console summary of a VM's drill."""
    job = entry.get("job") or {}
    text = f"{entry.get('vm')}: {entry.get('status')}"
    if job:
        text += f" (job {job.get('name')} {job.get('status')}, {entry.get('minutes')} min, RTO met: {entry.get('rto_met')})"
    if entry.get("problems"):
        text += " - " + "; ".join(str(p) for p in entry["problems"])
    return text


class FilterModule:
    def filters(self):
        return {"drill_minutes": drill_minutes, "drill_report_markdown": drill_report_markdown,
                "drill_report_html": drill_report_html, "drill_pick": drill_pick, "drill_verify": drill_verify,
                "drill_summary": drill_summary, "drill_cleanup_entry": drill_cleanup_entry, "drill_line": drill_line}
