"""playbooks/posture_report.yml end to end against the local Azure (scenario posture.yml: one confidential VM per
verdict and more, over two subscriptions; issue 20 item 2): in check mode it writes nothing to Azure, writes the three
reports (mode 0640), publishes the counts and report paths with set_stats and fails as posture_fail_when asks, in one
sentence; a second run compares with the first run's JSON at the same path (read before it is overwritten)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import yaml

from tests.sim_helpers import REPO_ROOT, _ansible_playbook, _callback_dir, _parse_results, ansible_env, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "posture_report.yml")
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
SUB_B = "7a9b8c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
SUMMARY = {"total": 14, "healthy": 4, "at_risk": 5, "failing": 3, "unprotected": 2}


def run(sim, extra_vars, check=False):
    """The play with the JSON callback: (exit code, task results by task name, the output)."""
    env = ansible_env(sim, ANSIBLE_STDOUT_CALLBACK="sim_json", ANSIBLE_CALLBACK_PLUGINS=_callback_dir())
    cmd = [_ansible_playbook(), "-i", "localhost,", PLAYBOOK, "-e", json.dumps(extra_vars)] + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    results = _parse_results(proc.stdout)
    assert results, f"the play ran no task (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, {r["task"]: r for r in results}, proc.stdout + proc.stderr


def test_posture_report_check_mode_then_a_comparison_with_the_first_report(sim_server_factory, tmp_path):
    sim = sim_server_factory("posture")
    out_dir = tmp_path / "reports"
    files = {kind: out_dir / f"posture_report.{ext}" for kind, ext in (("json", "json"), ("markdown", "md"), ("html", "html"))}
    base = {"posture_subscriptions": [SUB, SUB_B], "posture_report_dir": str(out_dir)}

    # 1. check mode, the default threshold (failing): reports written, nothing written to Azure, the play fails
    rc, tasks, out = run(sim, {**base, "posture_previous_report": str(files["json"])}, check=True)
    assert rc != 0
    assert writes(sim.requests()) == []
    assert tasks["Say that there is no previous report yet"]["status"] == "ok"
    fail = tasks["Fail the job as posture_fail_when asks (for workflow branching and notifications)"]
    assert fail["status"] == "failed"
    assert re.fullmatch(r"posture_fail_when=failing: 5 of 14 confidential VM\(s\) are failing or unprotected \([^)]*\), see \S+\.",
                        fail["result"]["msg"]), fail["result"]["msg"]
    for name in ("cvm-noaccess", "cvm-expired", "cvm-disabled", "cvm-bare", "cvm-b-02"):
        assert f"/{name}" in fail["result"]["msg"]
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    report = json.loads(files["json"].read_text())
    assert report["schema_version"] == 1 and report["check_mode"] is True and "diff" not in report
    assert report["collection_version"] == yaml.safe_load(open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8"))["version"]
    assert report["summary"] == SUMMARY
    assert [s["subscription_id"] for s in report["subscriptions"]] == [SUB, SUB_B]
    assert not {"changed", "invocation", "failed"} & set(report)
    names = [vm["name"] for vm in report["vms"]]
    assert len(names) == 14
    markdown = files["markdown"].read_text()
    assert [line.split(" | ")[0][2:] for line in markdown.split("| VM | Subscription |")[1].splitlines()[2:]] == names
    page = files["html"].read_text()
    assert re.findall(r'<tr class="vm v-\w+" data-verdict="\w+" data-id="[^"]*/virtualMachines/([^"]+)"', page) == names
    stats = tasks["Give the job's artifacts the counts per verdict, the VMs per verdict and the report paths"]["result"]
    posture = stats["ansible_stats"]["data"]["cvm_posture"]
    assert posture["summary"] == SUMMARY and posture["reports"] == {kind: str(path) for kind, path in files.items()}
    assert len(posture["failing"]) == 3 and len(posture["unprotected"]) == 2 and len(posture["at_risk"]) == 5
    assert posture["worse"] == [] and posture["recovered"] == []

    # 2. the first report, edited as if cvm-noaccess had been healthy and cvm-bare failing, and cvm-soon not there yet
    for vm in report["vms"]:
        if vm["name"] == "cvm-noaccess":
            vm.update(verdict="healthy", reasons=[])
        if vm["name"] == "cvm-bare":
            vm.update(verdict="failing", reasons=[{"code": "last_job_failed", "severity": "failing", "message": "It failed."}])
    report["vms"] = [vm for vm in report["vms"] if vm["name"] != "cvm-soon"]
    files["json"].write_text(json.dumps(report))
    seen = len(sim.requests())
    rc, tasks, out = run(sim, {**base, "posture_previous_report": str(files["json"]), "posture_fail_when": "never"})
    assert rc == 0, out
    assert writes(sim.requests()[seen:]) == []
    assert tasks["Fail the job as posture_fail_when asks (for workflow branching and notifications)"]["status"] == "skipped"
    again = json.loads(files["json"].read_text())
    assert again["check_mode"] is False and again["summary"] == SUMMARY
    diff = again["diff"]
    worse = sorted((e["name"], e["before"], e["after"]) for e in diff["worse"])
    assert worse == [("cvm-bare", "failing", "unprotected"), ("cvm-noaccess", "healthy", "failing")]
    assert [e["name"] for e in diff["new"]] == ["cvm-soon"] and diff["gone"] == [] and diff["recovered"] == []
    assert diff["unchanged"] == 11
    posture = tasks["Give the job's artifacts the counts per verdict, the VMs per verdict and the report paths"]["result"]
    assert sorted(vm_id.rsplit("/", 1)[1] for vm_id in posture["ansible_stats"]["data"]["cvm_posture"]["worse"]) == ["cvm-bare", "cvm-noaccess"]
    console = tasks["Backup posture of the confidential VMs"]["result"]["msg"]
    assert console[0] == "Backup posture: 14 VM(s): 4 healthy, 5 at risk, 3 failing, 2 unprotected."
    assert any(line.startswith("Since ") and "2 worse, 0 recovered, 1 new, 0 gone." in line for line in console), console
    assert "cvm-noaccess: worse, healthy \u2192 failing" in files["markdown"].read_text()
    assert '<div class="changes" id="changes">' in files["html"].read_text()
