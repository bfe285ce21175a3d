"""The posture report filters (plugins/filter/posture_report.py, issue 20): the JSON document, the comparison with a
previous report, Markdown and HTML, on the backup_posture_info result fixture (tests/unit/data/posture_result.yml,
shaped as /work/wt/POSTURE-SCHEMA.md agrees)."""

from __future__ import annotations

import copy
import os
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.azure_cvm.backup.plugins.filter import posture_report as p

HERE = os.path.dirname(__file__)
FIXTURE = os.path.join(HERE, "data", "posture_result.yml")
PLAYBOOK = os.path.join(HERE, "..", "..", "playbooks", "posture_report.yml")
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def result():
    with open(FIXTURE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def vm_named(doc, name):
    return next(vm for vm in doc["vms"] if vm["name"] == name)


# ------------------------------------------------------------------------------------------------ the fixture

VM_FIELDS = {"id": str, "name": str, "resource_group": str, "subscription_id": str, "region": str, "verdict": str,
             "reasons": list, "protection": dict, "last_backup": dict}


def test_the_fixture_has_the_agreed_shape_and_every_verdict(result):
    assert {"generated_at", "subscriptions", "summary", "vms", "requests"} <= set(result)
    for vm in result["vms"]:
        for key, kind in VM_FIELDS.items():
            assert isinstance(vm[key], kind), (vm["name"], key)
        assert vm["verdict"] in p.VERDICTS
        assert bool(vm["reasons"]) == (vm["verdict"] != "healthy"), vm["name"]
        for reason in vm["reasons"]:
            assert set(reason) == {"code", "severity", "message"} and re.fullmatch(r"[a-z_]+", reason["code"])
        for key in ("last_job", "latest_recovery_point", "key", "disk_encryption_set", "vault"):
            assert key in vm and (vm[key] is None or isinstance(vm[key], dict)), (vm["name"], key)
    assert {vm["verdict"] for vm in result["vms"]} == set(p.VERDICTS)
    assert result["summary"] == {"total": 6, "healthy": 1, "at_risk": 2, "failing": 2, "unprotected": 1}
    keys = [(vm["subscription_id"], vm["resource_group"], vm["name"]) for vm in result["vms"]]
    assert keys == sorted(keys)


# ------------------------------------------------------------------------------------------------ the JSON document

def test_report_carries_schema_version_and_metadata_and_drops_ansible_keys(result):
    registered = dict(result, changed=False, failed=False, invocation={"module_args": {}}, warnings=[])
    report = p.posture_report(registered, collection_version="0.2.0", check_mode=True)
    assert report["schema_version"] == 1 == p.SCHEMA_VERSION
    assert report["collection_version"] == "0.2.0"
    assert report["check_mode"] is True
    assert report["generated_at"] == "2026-12-01T17:00:00Z"
    assert [s["subscription_id"] for s in report["subscriptions"]] == [s["subscription_id"] for s in result["subscriptions"]]
    assert report["summary"] == result["summary"]
    assert report["requests"] == 14  # the module's other fields stay
    assert not {"changed", "failed", "invocation", "warnings"} & set(report)
    assert "diff" not in report


def test_report_counts_the_summary_from_the_vms(result):
    result["summary"] = {"total": 99, "healthy": 99, "by_region": {"uaenorth": 2}}
    summary = p.posture_report(result)["summary"]
    assert summary == {"total": 6, "healthy": 1, "at_risk": 2, "failing": 2, "unprotected": 1, "by_region": {"uaenorth": 2}}


def test_report_without_generated_at_gets_the_time_of_rendering(result):
    del result["generated_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p.posture_report(result)["generated_at"])


@pytest.mark.parametrize("bad, words", [
    ("a string", "must be a dict"),
    ({"summary": {}}, "no list of vms"),
    ({"vms": "cvm-1"}, "no list of vms"),
    ({"vms": [{"id": "/x", "name": "cvm-1", "verdict": "fine"}]}, "unknown verdict 'fine'"),
    ({"vms": [{"name": "cvm-1", "verdict": "healthy"}]}, "without an id"),
])
def test_report_refuses_what_is_not_a_posture_result(bad, words):
    with pytest.raises(AnsibleFilterError, match=words):
        p.posture_report(bad)


# ------------------------------------------------------------------------------------------------ the comparison

def previous_of(result):
    """The previous report: web01 was healthy (now failing: worse), uae01 failing (now at_risk: recovered), db01 not
    there yet (new), cvm-old there then (gone), app01 the same, test01 failing then (unprotected now: worse), uae02 the
    same verdict with one reason fewer (reasons changed)."""
    before = copy.deepcopy(p.posture_report(result))
    web01, uae01, test01, uae02 = (vm_named(before, n) for n in ("cvm-web01", "cvm-uae01", "cvm-test01", "cvm-uae02"))
    web01.update(verdict="healthy", reasons=[])
    uae01.update(verdict="failing", reasons=[{"code": "last_job_failed", "severity": "failing", "message": "The job failed."}])
    test01.update(verdict="failing", reasons=[{"code": "last_job_failed", "severity": "failing", "message": "The job failed."}])
    uae02["reasons"] = uae02["reasons"][:1]
    old = dict(vm_named(before, "cvm-app01"), name="cvm-old", id=vm_named(before, "cvm-app01")["id"].replace("cvm-app01", "cvm-old"))
    before["vms"] = [vm for vm in before["vms"] if vm["name"] != "cvm-db01"] + [old]
    before["generated_at"] = "2026-11-30T17:00:00Z"
    # ids compared as Azure compares them: without regard to case
    vm_named(before, "cvm-app01")["id"] = vm_named(before, "cvm-app01")["id"].upper()
    return before


def names(entries):
    return [entry["name"] for entry in entries]


def test_diff_worse_recovered_new_gone(result):
    diff = p.posture_diff(result, previous_of(result))
    assert names(diff["worse"]) == ["cvm-web01", "cvm-test01"]
    web01 = diff["worse"][0]
    assert (web01["before"], web01["after"]) == ("healthy", "failing")
    assert web01["reasons_added"] == ["key_access_missing", "last_job_failed"] and web01["reasons_cleared"] == []
    assert (diff["worse"][1]["before"], diff["worse"][1]["after"]) == ("failing", "unprotected")
    assert names(diff["recovered"]) == ["cvm-uae01"]
    assert diff["recovered"][0]["reasons_added"] == ["rpo_missed"] and diff["recovered"][0]["reasons_cleared"] == ["last_job_failed"]
    assert names(diff["reasons_changed"]) == ["cvm-uae02"] and diff["reasons_changed"][0]["reasons_added"] == ["des_over_threshold"]
    assert [(e["name"], e["verdict"]) for e in diff["new"]] == [("cvm-db01", "at_risk")]
    assert [(e["name"], e["verdict"]) for e in diff["gone"]] == [("cvm-old", "healthy")]
    assert diff["unchanged"] == 1  # app01, matched although its id differs in case
    assert diff["previous_generated_at"] == "2026-11-30T17:00:00Z"
    assert diff["summary_before"] == {"total": 6, "healthy": 3, "at_risk": 0, "failing": 3, "unprotected": 0}
    assert set(web01) == {"id", "name", "resource_group", "subscription_id", "before", "after", "reasons_added", "reasons_cleared"}


def test_the_same_report_twice_has_no_changes(result):
    diff = p.posture_diff(result, p.posture_report(result))
    assert [diff[k] for k in ("worse", "recovered", "reasons_changed", "new", "gone")] == [[]] * 5
    assert diff["unchanged"] == 6


@pytest.mark.parametrize("before, after, kind", [
    ("healthy", "at_risk", "worse"), ("at_risk", "failing", "worse"), ("failing", "unprotected", "worse"),
    ("unprotected", "failing", "recovered"), ("failing", "at_risk", "recovered"), ("at_risk", "healthy", "recovered"),
    ("unprotected", "healthy", "recovered"), ("healthy", "unprotected", "worse"),
])
def test_verdict_order_puts_unprotected_last(result, before, after, kind):
    now = {"vms": [dict(result["vms"][0], verdict=after, reasons=[])]}
    then = {"vms": [dict(result["vms"][0], verdict=before, reasons=[])]}
    diff = p.posture_diff(now, then)
    assert names(diff[kind]) == ["cvm-app01"]
    assert p.VERDICTS == ("healthy", "at_risk", "failing", "unprotected")


def test_report_with_a_previous_one_holds_the_diff_and_shows_it(result):
    report = p.posture_report(result, previous=previous_of(result))
    assert names(report["diff"]["worse"]) == ["cvm-web01", "cvm-test01"]
    md = p.posture_markdown(report)
    assert "## Changes" in md
    assert "rg-cvm-prod/cvm-web01: worse, healthy → failing; new: key_access_missing, last_job_failed" in md
    assert "rg-cvm-uae/cvm-uae01: recovered, failing → at_risk" in md
    assert "rg-cvm-prod/cvm-db01: new, at_risk" in md and "rg-cvm-prod/cvm-old: gone (was healthy)" in md
    assert "| Failing (worse, was healthy) |" in md and "| At risk (new) |" in md
    page = p.posture_html(report)
    assert '<div class="changes" id="changes">' in page
    assert '<li class="worse">rg-cvm-prod/cvm-web01: worse, healthy → failing' in page
    assert '<li class="gone">rg-cvm-prod/cvm-old: gone (was healthy)</li>' in page
    assert '<span class="change worse">worse, was healthy</span>' in page


def test_an_empty_previous_report_means_no_comparison(result):
    assert "diff" not in p.posture_report(result, previous={})
    assert "diff" not in p.posture_report(result, previous=None)


def test_diff_refuses_a_previous_report_without_vms(result):
    with pytest.raises(AnsibleFilterError, match="The previous posture report has no list of vms"):
        p.posture_diff(result, {"schema_version": 1})


# ------------------------------------------------------------------------------------------------ Markdown

def table_rows(md):
    start = md.index("| VM | Subscription |")
    return [line for line in md[start:].splitlines()[2:] if line.startswith("| ")]


def test_markdown_summary_and_one_table_row_per_vm(result):
    md = p.posture_markdown(p.posture_report(result, collection_version="0.2.0"))
    assert md.startswith("# Backup posture of confidential VMs\n")
    assert "Generated 2026-12-01T17:00:00Z by azure_cvm.backup 0.2.0." in md
    for line in ("| Healthy | 1 |", "| At risk | 2 |", "| Failing | 2 |", "| Unprotected | 1 |", "| **Total** | **6** |"):
        assert line in md
    rows = table_rows(md)
    assert [row.split(" | ")[0][2:] for row in rows] == [vm["name"] for vm in result["vms"]]
    assert all(row.count(" | ") == 8 for row in rows)
    web01 = rows[2].split(" | ")
    assert web01[1:5] == ["3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b", "rg-cvm-prod", "koreacentral", "Failing"]
    assert web01[5].startswith("`key_access_missing` The Backup Management Service") and "<br>`last_job_failed`" in web01[5]
    assert web01[6:] == ["rsv-cvm-koreacentral (cvm-daily)", "2026-11-28 02:03, 3.6 d ago, RPO 24 h missed", "no expiry, no backup access |"]
    assert rows[3].split(" | ")[6:] == ["not protected", "never", "platform key |"]
    assert rows[0].split(" | ")[5] == p.NONE
    assert "## Changes" not in md


def test_markdown_escapes_values(result):
    vm = result["vms"][1]
    vm["name"] = HOSTILE
    vm["reasons"][0]["message"] = "a | b\nc <b>bold</b>"
    md = p.posture_markdown(p.posture_report(result))
    assert HOSTILE not in md and "<b>" not in md
    row = table_rows(md)[1]
    assert row.startswith("| &lt;script&gt;alert(1)&lt;/script&gt; |")
    assert "a \\| b c &lt;b&gt;bold&lt;/b&gt;" in row
    assert row.count(" | ") == 8  # the pipe in the message did not add a cell


def test_markdown_shows_subscription_problems(result):
    result["subscriptions"][1].update(preview_feature="NotRegistered", blocking_features=["SomeBlockingFeature"],
                                      problems=["The preview feature RestorePointSupportForConfidentialVMV2 is not registered."])
    md = p.posture_markdown(p.posture_report(result))
    assert ("Subscription 7c9d2e4f-1a3b-4c5d-8e6f-0a1b2c3d4e5f: The preview feature RestorePointSupportForConfidentialVMV2 is not"
            " registered. Blocking feature registered: SomeBlockingFeature.") in md


# ------------------------------------------------------------------------------------------------ HTML

def test_html_summary_counts_and_one_row_per_vm(result):
    page = p.posture_html(p.posture_report(result))
    assert page.startswith("<!DOCTYPE html>")
    for verdict, count in (("total", 6), ("healthy", 1), ("at_risk", 2), ("failing", 2), ("unprotected", 1)):
        assert re.search(rf'id="count-{verdict}"><span class="count">{count}</span>', page), verdict
    rows = re.findall(r'<tr class="vm v-(\w+)" data-verdict="(\w+)" data-id="([^"]+)"', page)
    assert [(cls, verdict) for cls, verdict, _id in rows] == [(vm["verdict"], vm["verdict"]) for vm in result["vms"]]
    assert [row_id for _c, _v, row_id in rows] == [vm["id"] for vm in result["vms"]]
    assert '<span class="badge v-failing">Failing</span>' in page
    assert "<code>key_expires_soon</code> The disk encryption key cvm-db01-key expires on 2026-12-13" in page
    assert "6 of 6 VMs shown" in page
    assert "for 2 subscription(s): 3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b, 7c9d2e4f-1a3b-4c5d-8e6f-0a1b2c3d4e5f.</p>" in page
    assert re.findall(r'<th data-key="(\w+)"', page) == [key for key, _label in p._COLUMNS]


def test_html_is_self_contained(result):
    page = p.posture_html(p.posture_report(result))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"(src|href)\s*=", page, re.I)  # nothing loaded, not even a local file
    assert "@import" not in page and not re.search(r"url\(", page, re.I)
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert "<link" not in page and "<img" not in page and "<iframe" not in page


def test_html_escapes_every_value(result):
    vm = result["vms"][2]
    vm["name"] = HOSTILE
    vm["id"] = vm["id"] + '"><script>alert(2)</script>'
    vm["region"] = "<img src=x onerror=alert(3)>"
    vm["reasons"][0].update(code="<b>code</b>", message="</script><script>alert(4)</script>")
    vm["protection"]["vault_name"] = "<i>vault</i>"
    vm["key"]["days_left"] = -3
    vm["key"]["expires"] = "2026-11-28T00:00:00Z"
    result["subscriptions"][0]["problems"] = ["<u>problem</u>"]
    result["generated_at"] = "<s>when</s>"
    page = p.posture_html(p.posture_report(result, collection_version="<em>v</em>"), title="<h1>t</h1>")
    for raw in (HOSTILE, "alert(2)</script>", "<img", "<b>code", "<script>alert(4)", "<i>vault", "<u>", "<s>", "<em>", "<h1>t"):
        assert raw not in page, raw
    assert page.count("<script>") == 1  # only the page's own
    assert "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in page
    assert 'title="/subscriptions/' in page and '&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in page
    assert "&lt;/script&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in page
    assert "expired 3 d ago" in page


def test_html_row_sort_values(result):
    page = p.posture_html(p.posture_report(result))
    web01 = re.search(r'<tr class="vm v-failing"[^>]*cvm-web01"[^>]*>(.*?)</tr>', page).group(1)
    assert 'data-sort="2"' in web01  # the verdict's rank
    assert 'data-sort="86.900"' in web01  # the last backup's age in hours
    app01 = re.search(r'<tr class="vm v-healthy"[^>]*cvm-app01"[^>]*>(.*?)</tr>', page).group(1)
    assert 'data-sort="199"' in app01  # the key's days left
    assert '<span class="detail bad">no backup access</span>' in web01


# ------------------------------------------------------------------------------------------------ the plugin and the playbook

def test_the_filter_plugin_exposes_the_four_filters():
    assert set(p.FilterModule().filters()) == {"posture_report", "posture_diff", "posture_markdown", "posture_html"}
    for name in p.FilterModule().filters():
        assert os.path.exists(os.path.join(os.path.dirname(p.__file__), f"{name}.yml")), name


def test_the_playbooks_fail_threshold_follows_the_verdict_order():
    with open(PLAYBOOK, encoding="utf-8") as f:
        play = yaml.safe_load(f)[0]
    assert play["vars"]["posture_fail_when"] == "failing"
    fail = next(task for task in play["tasks"] if "ansible.builtin.fail" in task)
    thresholds = fail["vars"]["posture_fail_verdicts"]
    assert thresholds.pop("never") == []
    assert thresholds == {t: [v for v in p.VERDICTS if p.RANK[v] >= p.RANK[t]] for t in p.VERDICTS if t != "healthy"}
    check = next(task for task in play["tasks"] if "ansible.builtin.assert" in task)
    assert "posture_fail_when in ['never', 'at_risk', 'failing', 'unprotected']" in check["ansible.builtin.assert"]["that"]
