# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup posture report (issue 20): the JSON document, its comparison with a previous one, Markdown and one
self-contained HTML page, rendered from what azure_cvm.backup.backup_posture_info returns. Pure Python: no Azure, no
files; playbooks/posture_report.yml reads and writes. Each filter is documented in its own <name>.yml beside this file.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

SCHEMA_VERSION = 1
# Worst last. unprotected sits above failing: a failing VM still has its older recovery points and a vault that retries
# every day, an unprotected one has nothing Azure Backup can restore and nothing that will ever try again.
VERDICTS = ("healthy", "at_risk", "failing", "unprotected")
RANK = {name: rank for rank, name in enumerate(VERDICTS)}
LABELS = {"healthy": "Healthy", "at_risk": "At risk", "failing": "Failing", "unprotected": "Unprotected"}
# Keys of a task result that belong to Ansible, not to the posture.
_TASK_KEYS = ("changed", "failed", "invocation", "warnings", "deprecations", "retries", "attempts", "skipped")
_VM_KEYS = ("id", "name", "resource_group", "subscription_id")
NONE = "\u2014"


# ------------------------------------------------------------------------------------------------ the JSON document

def _mapping(value, what):
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{what} must be a dict (a backup_posture_info result or a posture report), not {type(value).__name__}.")
    return value


def _vms(value, what):
    vms = _mapping(value, what).get("vms")
    if not isinstance(vms, Sequence) or isinstance(vms, (str, bytes)):
        raise AnsibleFilterError(f"{what} has no list of vms: is it a backup_posture_info result or a posture report?")
    for vm in vms:
        if not isinstance(vm, Mapping) or not vm.get("id") or vm.get("verdict") not in RANK:
            name = vm.get("name") if isinstance(vm, Mapping) else vm
            verdict = vm.get("verdict") if isinstance(vm, Mapping) else None
            raise AnsibleFilterError(
                f"{what} holds a VM ({name!r}) without an id or with an unknown verdict {verdict!r} (known: {', '.join(VERDICTS)}).")
    return vms


def _summary(vms, given=None):
    summary = dict(given or {})
    summary.update({"total": len(vms)})
    summary.update({verdict: sum(1 for vm in vms if vm["verdict"] == verdict) for verdict in VERDICTS})
    return summary


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def posture_report(result, collection_version="unknown", check_mode=False, previous=None):
    """The JSON report: the module's result without Ansible's keys, with the report's metadata and, given a previous
    report, the comparison with it under `diff`."""
    vms = _vms(result, "The posture result")
    report = {"schema_version": SCHEMA_VERSION,
              "generated_at": result.get("generated_at") or _now(),
              "collection_version": str(collection_version or "unknown"),
              "check_mode": bool(check_mode),
              "subscriptions": list(result.get("subscriptions") or []),
              "summary": _summary(vms, result.get("summary")),
              "vms": list(vms)}
    for key, value in result.items():
        if key not in report and key not in _TASK_KEYS and not str(key).startswith("_ansible"):
            report[key] = value
    if previous:
        report["diff"] = posture_diff(report, previous)
    return report


# ------------------------------------------------------------------------------------------------ the comparison

def _who(vm):
    return {key: vm.get(key) for key in _VM_KEYS}


def _codes(vm):
    return sorted({reason.get("code") for reason in vm.get("reasons") or [] if isinstance(reason, Mapping) and reason.get("code")})


def posture_diff(current, previous):
    """What changed since the previous report, per VM (matched by id, case-insensitive as ARM ids are)."""
    now_vms = _vms(current, "The posture report")
    before_vms = _vms(previous, "The previous posture report")
    before = {str(vm["id"]).lower(): vm for vm in before_vms}
    now_ids = {str(vm["id"]).lower() for vm in now_vms}
    diff = {"previous_generated_at": previous.get("generated_at"),
            "summary_before": _summary(before_vms),
            "worse": [], "recovered": [], "reasons_changed": [], "new": [], "gone": [], "unchanged": 0}
    for vm in now_vms:
        old = before.get(str(vm["id"]).lower())
        if old is None:
            diff["new"].append(dict(_who(vm), verdict=vm["verdict"]))
            continue
        added = [code for code in _codes(vm) if code not in _codes(old)]
        cleared = [code for code in _codes(old) if code not in _codes(vm)]
        change = dict(_who(vm), before=old["verdict"], after=vm["verdict"], reasons_added=added, reasons_cleared=cleared)
        if RANK[vm["verdict"]] > RANK[old["verdict"]]:
            diff["worse"].append(change)
        elif RANK[vm["verdict"]] < RANK[old["verdict"]]:
            diff["recovered"].append(change)
        elif added or cleared:
            diff["reasons_changed"].append(change)
        else:
            diff["unchanged"] += 1
    diff["gone"] = [dict(_who(vm), verdict=vm["verdict"]) for vm in before_vms if str(vm["id"]).lower() not in now_ids]
    return diff


# ------------------------------------------------------------------------------------------------ cell texts

def _hours(hours):
    if hours is None:
        return ""
    if hours < 1:
        return f"{round(hours * 60)} min"
    value, unit = (hours, "h") if hours < 48 else (hours / 24, "d")
    return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"


def _time(value):
    """2026-12-01T02:04:11Z -> 2026-12-01 02:04 (the table's header says UTC)."""
    text = str(value or "")
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]} {text[11:16]}"
    return text


def _last_backup(vm):
    """(time, age against the policy's schedule, sort value)."""
    last = vm.get("last_backup") or {}
    if not last.get("time"):
        return ("never", "", "")
    parts = []
    if last.get("age_hours") is not None:
        parts.append(f"{_hours(last['age_hours'])} ago")
    if last.get("rpo_met") is False and last.get("rpo_hours") is not None:
        parts.append(f"RPO {_hours(last['rpo_hours'])} missed")
    age = last.get("age_hours")
    return (_time(last["time"]), ", ".join(parts), "" if age is None else f"{float(age):.3f}")


def _key(vm):
    """(days left or why there are none, what is wrong with the key, sort value)."""
    key = vm.get("key")
    if not key:
        return ("platform key", "", "")
    notes = []
    if key.get("enabled") is False:
        notes.append("disabled")
    if key.get("backup_access") is False:
        notes.append("no backup access")
    days = key.get("days_left")
    if days is None:
        text = "no expiry" if not key.get("expires") else NONE
    elif days < 0:
        text = f"expired {-days} d ago"
    else:
        text = f"{days} d"
    return (text, ", ".join(notes), "" if days is None else str(int(days)))


def _vault(vm):
    """(vault, policy)."""
    protection = vm.get("protection") or {}
    if not protection.get("protected"):
        return ("not protected", "")
    return (protection.get("vault_name") or NONE, protection.get("policy_name") or "")


def _reasons(vm):
    return [(reason.get("severity") or vm["verdict"], reason.get("code") or "", reason.get("message") or "")
            for reason in vm.get("reasons") or [] if isinstance(reason, Mapping)]


def _vm_label(entry):
    return f"{entry.get('resource_group')}/{entry.get('name')}"


def _diff_lines(diff):
    """One line per change, shared by Markdown and HTML (escaped by the caller)."""
    lines = []
    for kind, verb in (("worse", "worse"), ("recovered", "recovered"), ("reasons_changed", "reasons changed")):
        for entry in diff.get(kind) or []:
            text = f"{_vm_label(entry)}: {verb}, {entry['before']} \u2192 {entry['after']}"
            if entry.get("reasons_added"):
                text += f"; new: {', '.join(entry['reasons_added'])}"
            if entry.get("reasons_cleared"):
                text += f"; cleared: {', '.join(entry['reasons_cleared'])}"
            lines.append((kind, text))
    lines.extend(("new", f"{_vm_label(entry)}: new, {entry['verdict']}") for entry in diff.get("new") or [])
    lines.extend(("gone", f"{_vm_label(entry)}: gone (was {entry['verdict']})") for entry in diff.get("gone") or [])
    return lines


def _diff_headline(diff):
    counts = [f"{len(diff.get(kind) or [])} {label}" for kind, label in
              (("worse", "worse"), ("recovered", "recovered"), ("reasons_changed", "with other reasons"), ("new", "new"), ("gone", "gone"))]
    since = diff.get("previous_generated_at") or "the previous report"
    return f"Since {since}: " + ", ".join(counts) + f", {diff.get('unchanged', 0)} unchanged."


def _changes_by_vm(report):
    diff = report.get("diff") or {}
    changes = {}
    for kind in ("worse", "recovered", "reasons_changed"):
        for entry in diff.get(kind) or []:
            changes[str(entry.get("id")).lower()] = (kind, entry.get("before"))
    for entry in diff.get("new") or []:
        changes[str(entry.get("id")).lower()] = ("new", None)
    return changes


# ------------------------------------------------------------------------------------------------ Markdown

def _md(value):
    """A Markdown table cell: no markup of its own (HTML escaped, pipes escaped, one line)."""
    text = html.escape(str(value), quote=False)
    return " ".join(text.replace("|", "\\|").split())


def posture_markdown(report):
    """A summary, the subscriptions' problems, the changes since the previous report and a table of every VM."""
    vms = _vms(report, "The posture report")
    summary = _summary(vms)
    out = ["# Backup posture of confidential VMs", "",
           f"Generated {_md(report.get('generated_at') or '')} by azure_cvm.backup {_md(report.get('collection_version') or 'unknown')}"
           + (" (check mode)" if report.get("check_mode") else "") + ".", "",
           "| Verdict | VMs |", "|---|---:|"]
    out.extend(f"| {LABELS[verdict]} | {summary[verdict]} |" for verdict in VERDICTS)
    out.extend([f"| **Total** | **{summary['total']}** |", ""])
    for sub in report.get("subscriptions") or []:
        problems = list(sub.get("problems") or []) + [f"Blocking feature registered: {name}." for name in sub.get("blocking_features") or []]
        if problems:
            out.append(f"Subscription {_md(sub.get('subscription_id'))}: " + " ".join(_md(p) for p in problems))
            out.append("")
    diff = report.get("diff")
    if diff:
        out.extend(["## Changes", "", _md(_diff_headline(diff)), ""])
        out.extend(f"- {_md(text)}" for _kind, text in _diff_lines(diff))
        out.append("")
    out.extend(["## VMs", "",
                "| VM | Subscription | Resource group | Region | Verdict | Reasons | Vault (policy) | Last backup (UTC) | Key days left |",
                "|---|---|---|---|---|---|---|---|---|"])
    changes = _changes_by_vm(report)
    for vm in vms:
        verdict = LABELS[vm["verdict"]]
        kind, before = changes.get(str(vm["id"]).lower(), (None, None))
        if kind in ("worse", "recovered"):
            verdict += f" ({kind}, was {before})"
        elif kind == "new":
            verdict += " (new)"
        reasons = "<br>".join(f"`{_md(code)}` {_md(message)}" for _sev, code, message in _reasons(vm)) or NONE
        cells = [vm.get("name"), vm.get("subscription_id"), vm.get("resource_group"), vm.get("region"), verdict]
        row = [_md(cell if cell is not None else NONE) for cell in cells]
        vault, policy = _vault(vm)
        backup_time, backup_age, _sort = _last_backup(vm)
        row += [reasons, _md(f"{vault} ({policy})" if policy else vault), _md(", ".join(filter(None, (backup_time, backup_age)))),
                _md(", ".join(filter(None, _key(vm)[:2])))]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ HTML

_CSS = """
:root { --healthy: #1a7f37; --at_risk: #b35900; --failing: #c62828; --unprotected: #5b2c83; --line: #d8dee4; }
* { box-sizing: border-box; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 0; padding: 20px 24px; color: #1f2328; background: #f6f8fa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #59636e; margin: 0 0 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 0 0 8px; }
.card { background: #fff; border: 1px solid var(--line); border-left: 6px solid #8c959f; border-radius: 6px;
        padding: 10px 16px; min-width: 140px; }
.card .count { display: block; font-size: 28px; font-weight: 600; line-height: 1.1; }
.card.v-healthy { border-left-color: var(--healthy); } .card.v-at_risk { border-left-color: var(--at_risk); }
.card.v-failing { border-left-color: var(--failing); } .card.v-unprotected { border-left-color: var(--unprotected); }
.problems, .changes { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; }
ul.problems { padding-left: 32px; }
.changes p { margin: 4px 0; } .changes ul { margin: 4px 0 6px; padding-left: 20px; }
.changes li.worse { color: var(--failing); } .changes li.recovered { color: var(--healthy); }
.controls { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; margin: 16px 0 8px; }
.controls input[type=search] { padding: 5px 8px; width: 260px; border: 1px solid var(--line); border-radius: 6px; }
.controls label { white-space: nowrap; } #shown { color: #59636e; margin-left: auto; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; vertical-align: top; padding: 6px 7px; border-bottom: 1px solid var(--line); }
th { background: #eef1f4; cursor: pointer; user-select: none; font-weight: 600; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tr[hidden] { display: none; }
td.name, .nowrap { white-space: nowrap; } td.reasons { min-width: 220px; overflow-wrap: anywhere; }
.detail { display: block; font-size: 12px; color: #59636e; } .wrap { overflow-x: auto; }
td.sub { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; white-space: nowrap; }
.badge.v-healthy { background: var(--healthy); } .badge.v-at_risk { background: var(--at_risk); }
.badge.v-failing { background: var(--failing); } .badge.v-unprotected { background: var(--unprotected); }
tr.v-healthy td:first-child { border-left: 4px solid var(--healthy); } tr.v-at_risk td:first-child { border-left: 4px solid var(--at_risk); }
tr.v-failing td:first-child { border-left: 4px solid var(--failing); }
tr.v-unprotected td:first-child { border-left: 4px solid var(--unprotected); }
.change { display: block; font-size: 12px; color: #59636e; }
ul.reasons { margin: 0; padding-left: 16px; } ul.reasons code { font-size: 12px; }
ul.reasons li.s-failing code, ul.reasons li.s-unprotected code { color: var(--failing); }
ul.reasons li.s-at_risk code { color: var(--at_risk); }
.muted { color: #8c959f; } .detail.bad { color: var(--failing); }
"""

# Sorting and filtering of the rows the page already holds (no data in the script, so nothing to escape there).
# The location's query or hash may preset them: ?verdict=failing,at_risk&q=text&sort=days_left&order=desc.
_JS = """
(function () {
  "use strict";
  var table = document.getElementById("vms"), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById("filter-text"), shown = document.getElementById("shown");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=verdict]"));
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function params() {
    var out = {}, raw = (location.search.slice(1) + "&" + location.hash.slice(1)).split("&");
    raw.forEach(function (pair) {
      var at = pair.indexOf("="); if (at < 1) { return; }
      try { out[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1).replace(/\\+/g, " ")); } catch (e) { }
    });
    return out;
  }
  function value(row, index) {
    var cell = row.cells[index];
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim().toLowerCase();
  }
  function sortBy(key, descending) {
    var index = -1;
    heads.forEach(function (th, i) {
      if (th.getAttribute("data-key") === key) { index = i; th.setAttribute("aria-sort", descending ? "descending" : "ascending"); }
      else { th.removeAttribute("aria-sort"); }
    });
    if (index < 0) { return; }
    rows.sort(function (a, b) {
      var x = value(a, index), y = value(b, index);
      if (x === "" || y === "") { return x === y ? 0 : (x === "" ? 1 : -1); }
      var nx = Number(x), ny = Number(y), order;
      order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  function apply() {
    var q = text.value.trim().toLowerCase(), want = {}, count = 0;
    boxes.forEach(function (box) { want[box.value] = box.checked; });
    rows.forEach(function (row) {
      var hay = row.textContent.toLowerCase() + " " + row.getAttribute("data-search");
      var show = want[row.getAttribute("data-verdict")] && (!q || hay.indexOf(q) >= 0);
      row.hidden = !show; if (show) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " VMs shown";
  }
  heads.forEach(function (th) {
    th.addEventListener("click", function () {
      sortBy(th.getAttribute("data-key"), th.getAttribute("aria-sort") === "ascending");
    });
  });
  text.addEventListener("input", apply);
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  var p = params();
  if (p.verdict) {
    var chosen = p.verdict.split(",");
    boxes.forEach(function (box) { box.checked = chosen.indexOf(box.value) >= 0; });
  }
  if (p.q) { text.value = p.q; }
  if (p.sort) { sortBy(p.sort, p.order === "desc"); }
  apply();
  document.body.setAttribute("data-ready", "true");
})();
"""

# The drill report's page sorts and filters its table with the same script (plugins/filter/drill_report.py).
TABLE_SCRIPT = _JS

# (key, header, sort by the cell's text or a data-sort value)
_COLUMNS = (("name", "VM"), ("subscription", "Subscription"), ("resource_group", "Resource group"), ("region", "Region"),
            ("verdict", "Verdict"), ("reasons", "Reasons"), ("vault", "Vault (policy)"), ("last_backup", "Last backup (UTC)"),
            ("key_days_left", "Key days left"))


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _td(text, css="", sort=None, title=None):
    attrs = f' class="{css}"' if css else ""
    if sort is not None:
        attrs += f' data-sort="{_e(sort)}"'
    if title:
        attrs += f' title="{_e(title)}"'
    return f"<td{attrs}>{text}</td>"


def _html_row(vm, change):
    verdict = vm["verdict"]
    kind, before = change
    verdict_cell = f'<span class="badge v-{verdict}">{_e(LABELS[verdict])}</span>'
    if kind in ("worse", "recovered"):
        verdict_cell += f'<span class="change {kind}">{_e(kind)}, was {_e(before)}</span>'
    elif kind == "new":
        verdict_cell += '<span class="change new">new</span>'
    reasons = "".join(f'<li class="s-{_e(sev)}"><code>{_e(code)}</code> {_e(message)}</li>' for sev, code, message in _reasons(vm))
    backup_time, backup_age, backup_sort = _last_backup(vm)
    key_text, key_notes, key_sort = _key(vm)
    vault, policy = _vault(vm)
    subscription = str(vm.get("subscription_id") or "")
    cells = [_td(f"<strong>{_e(vm.get('name'))}</strong>", "name", title=vm.get("id")),
             _td(_e(subscription[:8] + ("\u2026" if len(subscription) > 8 else "")), "sub", sort=subscription.lower(), title=subscription),
             _td(_e(vm.get("resource_group")), "nowrap"),
             _td(_e(vm.get("region")), "nowrap"),
             _td(verdict_cell, sort=RANK[verdict]),
             _td(f'<ul class="reasons">{reasons}</ul>' if reasons else f'<span class="muted">{NONE}</span>', "reasons"),
             _td(f'<span class="nowrap">{_e(vault)}</span>' + (f'<span class="detail">{_e(policy)}</span>' if policy else "")),
             _td(f'<span class="nowrap">{_e(backup_time)}</span>' + (f'<span class="detail">{_e(backup_age)}</span>' if backup_age else ""),
                 sort=backup_sort),
             _td(f'<span class="nowrap">{_e(key_text)}</span>' + (f'<span class="detail bad">{_e(key_notes)}</span>' if key_notes else ""),
                 sort=key_sort)]
    search = " ".join(str(vm.get(key) or "") for key in ("id", "subscription_id", "region"))
    return (f'<tr class="vm v-{verdict}" data-verdict="{verdict}" data-id="{_e(vm.get("id"))}" data-search="{_e(search.lower())}">'
            f'{"".join(cells)}</tr>')


def posture_html(report, title="Backup posture of confidential VMs"):
    """One self-contained page: inline style and script only, every value escaped."""
    vms = _vms(report, "The posture report")
    summary = _summary(vms)
    generated = f"Generated {_e(report.get('generated_at') or '')} by azure_cvm.backup {_e(report.get('collection_version') or 'unknown')}"
    if report.get("check_mode"):
        generated += " (check mode)"
    subscriptions = [sub.get("subscription_id") for sub in report.get("subscriptions") or [] if isinstance(sub, Mapping)]
    if subscriptions:
        generated += f" for {len(subscriptions)} subscription(s): " + ", ".join(_e(sub) for sub in subscriptions)
    cards = [f'<div class="card v-total" id="count-total"><span class="count">{summary["total"]}</span>VMs</div>']
    cards += [f'<div class="card v-{verdict}" id="count-{verdict}"><span class="count">{summary[verdict]}</span>{LABELS[verdict]}</div>'
              for verdict in VERDICTS]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>", f'<p class="meta">{generated}.</p>',
             f'<div class="cards" id="summary">{"".join(cards)}</div>']
    problems = []
    for sub in report.get("subscriptions") or []:
        texts = list(sub.get("problems") or []) + [f"Blocking feature registered: {name}." for name in sub.get("blocking_features") or []]
        problems += [f"<li><code>{_e(sub.get('subscription_id'))}</code>: {_e(text)}</li>" for text in texts]
    if problems:
        parts.append(f'<h2>Subscription problems</h2><ul class="problems" id="problems">{"".join(problems)}</ul>')
    diff = report.get("diff")
    if diff:
        items = "".join(f'<li class="{kind}">{_e(text)}</li>' for kind, text in _diff_lines(diff))
        parts.append(f'<h2>Changes</h2><div class="changes" id="changes"><p>{_e(_diff_headline(diff))}</p><ul>{items}</ul></div>')
    boxes = "".join(f'<label><input type="checkbox" name="verdict" value="{verdict}" checked> {LABELS[verdict]}</label>'
                    for verdict in VERDICTS)
    parts.append('<div class="controls"><input type="search" id="filter-text" placeholder="Filter: name, group, region, reason..." '
                 f'aria-label="Filter the VMs">{boxes}<span id="shown">{len(vms)} of {len(vms)} VMs shown</span></div>')
    heads = "".join(f'<th data-key="{key}" scope="col">{_e(label)}</th>' for key, label in _COLUMNS)
    changes = _changes_by_vm(report)
    rows = "\n".join(_html_row(vm, changes.get(str(vm["id"]).lower(), (None, None))) for vm in vms)
    parts.append(f'<div class="wrap"><table id="vms"><thead><tr>{heads}</tr></thead><tbody>\n{rows}\n</tbody></table></div>')
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


class FilterModule:
    """The posture report filters (documentation: plugins/filter/<name>.yml)."""

    def filters(self):
        return {"posture_report": posture_report, "posture_diff": posture_diff,
                "posture_markdown": posture_markdown, "posture_html": posture_html}
