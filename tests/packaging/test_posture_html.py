"""The posture report's HTML page in a real headless browser (issue 20, "Shown by"): Debian's chromium, installed by
tests/browser.sh when it is missing (the test fails, not skips, when it cannot be had). After the page's own script
ran, the DOM has the summary counts and exactly one row per VM; the address's fragment filters and sorts the rows; a
hostile value stays text; and a screenshot is written to .build/screenshots (to docs/images, which README.md shows,
with AZURE_CVM_UPDATE_SCREENSHOTS=1). The restore drill's page shares the script: its fragment filters by status and
sorts by minutes.
Chromium starts slowly: four runs in this file, no more."""

from __future__ import annotations

import copy
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import pytest
import yaml

from ansible_collections.azure_cvm.backup.plugins.filter import posture_report as p
from ansible_collections.azure_cvm.backup.plugins.filter.drill_report import drill_report_html
from tests.sim_helpers import REPO_ROOT

FIXTURE = os.path.join(REPO_ROOT, "tests", "unit", "data", "posture_result.yml")
SCREENSHOT = os.path.join(REPO_ROOT, "docs", "images", "posture_report.png")
BUILD_SCREENSHOT = os.path.join(REPO_ROOT, ".build", "screenshots", "posture_report.png")
WINDOW = (1280, 900)
HOSTILE = "<script>document.body.setAttribute('data-pwned', 'yes')</script><img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def chromium():
    found = subprocess.run(["bash", os.path.join(REPO_ROOT, "tests", "browser.sh")], capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"no headless browser for the posture page (issue 20 needs Debian's chromium): {found.stderr.strip()}", pytrace=False)
    return found.stdout.strip().splitlines()[-1]


def browse(chromium, tmp_path, url, *args):
    """One chromium run (its own profile directory, so parallel runs do not share one); stdout is the dumped DOM."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                          "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}", *args, url],
                         capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, f"chromium failed ({run.returncode}): {run.stderr[-2000:]}"
    return run.stdout


class Dom(HTMLParser):
    """What the tests read from a dumped DOM: the summary counts, the rows, the attributes of body and #shown's text."""

    def __init__(self, text):
        super().__init__()
        self.counts, self.rows, self.body, self.shown, self.scripts, self.title = {}, [], {}, "", 0, ""
        self._card = self._in = self._row = None
        self._td = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        ident = attrs.get("id") or ""
        if tag == "body":
            self.body = attrs
        elif tag == "script":
            self.scripts += 1
        elif ident.startswith("count-"):
            self._card = ident[len("count-"):]
        elif tag == "span" and "count" in (attrs.get("class") or "").split() and self._card:
            self._in = ("count", self._card)
        elif ident == "shown" or tag == "title":
            self._in = (ident or tag,)
        elif tag == "tr" and "vm" in (attrs.get("class") or "").split():
            self._row = {"verdict": attrs.get("data-verdict"), "hidden": "hidden" in attrs, "cells": [], "id": attrs.get("data-id")}
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._row["cells"].append("")
            self._td = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._td = False
        if tag in ("span", "title"):
            self._in = None
        if tag == "div":
            self._card = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._td:
            self._row["cells"][-1] += data
        elif not self._in:
            return
        elif self._in[0] == "count":
            self.counts[self._in[1]] = int(data)
            self._in = None
        elif self._in[0] == "shown":
            self.shown += data
        elif self._in[0] == "title":
            self.title += data

    def visible(self):
        return [row for row in self.rows if not row["hidden"]]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The docs' page (the fixture compared with a previous report, so the changes show) and a hostile copy."""
    with open(FIXTURE, encoding="utf-8") as handle:
        result = yaml.safe_load(handle)
    previous = copy.deepcopy(p.posture_report(result))
    for vm in previous["vms"]:
        if vm["name"] == "cvm-web01":
            vm.update(verdict="healthy", reasons=[])
        if vm["name"] == "cvm-uae01":
            vm.update(verdict="failing", reasons=[{"code": "last_job_failed", "severity": "failing", "message": "The last job failed."}])
    previous["generated_at"] = "2026-11-30T17:00:00Z"
    version = yaml.safe_load(open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8"))["version"]
    report = p.posture_report(result, collection_version=version, previous=previous)
    hostile = copy.deepcopy(result)
    hostile["vms"][2]["reasons"][0]["message"] = HOSTILE
    hostile["vms"][5]["name"] = "cvm-uae02" + HOSTILE
    folder = tmp_path_factory.mktemp("posture-html")
    (folder / "posture.html").write_text(p.posture_html(report), encoding="utf-8")
    (folder / "hostile.html").write_text(p.posture_html(p.posture_report(hostile)), encoding="utf-8")
    return {"dir": folder, "result": result, "report": report}


def test_rendered_page_has_the_summary_and_one_row_per_vm(chromium, pages, tmp_path):
    dom = Dom(browse(chromium, tmp_path, (pages["dir"] / "posture.html").as_uri(), "--dump-dom"))
    assert dom.body.get("data-ready") == "true", "the page's script did not run"
    assert dom.counts == {"total": 6, "healthy": 1, "at_risk": 2, "failing": 2, "unprotected": 1}
    assert [row["cells"][0] for row in dom.rows] == [vm["name"] for vm in pages["result"]["vms"]]
    assert [row["verdict"] for row in dom.rows] == [vm["verdict"] for vm in pages["result"]["vms"]]
    assert len(dom.visible()) == 6 and dom.shown == "6 of 6 VMs shown"
    web01 = next(row for row in dom.rows if row["cells"][0] == "cvm-web01")
    assert web01["cells"][4] == "Failingworse, was healthy"  # the badge and the change since the previous report
    assert "key_access_missing" in web01["cells"][5] and "no backup access" in web01["cells"][8]


def test_fragment_filters_and_sorts_and_hostile_values_stay_text(chromium, pages, tmp_path):
    # failing or unprotected, in the first subscription (only in the rows' data-search: the cell shows 3f2a6c1e...), by name
    url = (pages["dir"] / "hostile.html").as_uri() + "#verdict=failing,unprotected&q=3F2A6C1E-8b4d&sort=name"
    dom = Dom(browse(chromium, tmp_path, url, "--dump-dom"))
    assert dom.body.get("data-ready") == "true", "the page's script did not run"
    assert "data-pwned" not in dom.body and dom.title == "Backup posture of confidential VMs"
    assert dom.scripts == 1  # the page's own, nothing a value brought in
    shown = dom.visible()
    assert [row["cells"][0] for row in shown] == ["cvm-test01", "cvm-web01"]  # sorted: the page has web01 first
    assert [row["verdict"] for row in shown] == ["unprotected", "failing"]
    assert len(dom.rows) == 6 and dom.shown == "2 of 6 VMs shown"
    assert [row["cells"][0] for row in dom.rows] == ["cvm-app01", "cvm-db01", "cvm-test01", "cvm-uae01", "cvm-uae02" + HOSTILE, "cvm-web01"]
    web01 = next(row for row in dom.rows if row["cells"][0] == "cvm-web01")
    assert HOSTILE in web01["cells"][5]  # shown as text


def drill_vm(name, status, minutes):
    return {"vm": f"rg-cvm-kc/{name}", "vm_id": f"/subscriptions/3f2a6c1e/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/"
            f"virtualMachines/{name}", "region": "koreacentral", "status": status, "restore_type": "restore_disks",
            "job": {"name": f"job-{name}", "status": "Completed"} if minutes is not None else None, "minutes": minutes,
            "rto_met": None if minutes is None else minutes <= 240, "verified": status == "passed", "problems": []}


def test_drill_page_sorts_and_filters_its_table(chromium, tmp_path):
    vms = [drill_vm("cvm-a", "passed", 12.5), drill_vm("cvm-b", "failed", 300.0), drill_vm("cvm-c", "planned", None),
           drill_vm("cvm-d" + HOSTILE, "passed", 95.0), drill_vm("cvm-e", "failed", 7.0)]
    report = {"drill_id": "drill-w49", "generated": "2026-12-01T20:00:00Z", "restore_type": "disks", "rto_minutes": 240.0,
              "summary": {"total": 5, "passed": 2, "failed": 2, "planned": 1, "rto_missed": 1}, "vms": vms}
    page = tmp_path / "drill.html"
    page.write_text(drill_report_html(report), encoding="utf-8")
    dom = Dom(browse(chromium, tmp_path, page.as_uri() + "#verdict=passed,failed&sort=minutes&order=desc", "--dump-dom"))
    assert dom.body.get("data-ready") == "true", "the page's script did not run"
    assert "data-pwned" not in dom.body and dom.scripts == 1 and dom.title == "Restore drill drill-w49"
    by_minutes = ["rg-cvm-kc/cvm-b", "rg-cvm-kc/cvm-d" + HOSTILE, "rg-cvm-kc/cvm-a", "rg-cvm-kc/cvm-e", "rg-cvm-kc/cvm-c"]
    assert [row["cells"][0] for row in dom.rows] == by_minutes  # longest first, none last
    assert [row["verdict"] for row in dom.visible()] == ["failed", "passed", "passed", "failed"]  # planned filtered out
    assert dom.shown == "4 of 5 VMs shown"


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_screenshot_for_the_docs(chromium, pages, tmp_path):
    shot = tmp_path / "posture_report.png"
    browse(chromium, tmp_path, (pages["dir"] / "posture.html").as_uri(),
           f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    assert png_size(shot) == WINDOW
    assert 20_000 < shot.stat().st_size < 400_000  # a page, not a blank
    # written for the docs under .build; docs/images (README.md shows it) is refreshed only when asked, so a test run
    # never changes a tracked file (other fonts or another chromium give other bytes)
    target = SCREENSHOT if os.environ.get("AZURE_CVM_UPDATE_SCREENSHOTS") == "1" else BUILD_SCREENSHOT
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(shot, target)
