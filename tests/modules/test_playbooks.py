"""The example playbooks against the local Azure (demo scenario): the plan writes nothing, apply protects what is
ready, a second apply writes nothing, the report playbook reads only, restore works, bad role input fails early."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import yaml

from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import SIGN_IN_HOST, ansible_env, run_module, run_playbook, writes

DEMO_VARS = {
    "cvm_vaults": {"koreacentral": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"},
                   "uaenorth": {"name": "rsv-cvm-uae", "resource_group": "rg-backup"}},
    "cvm_key_propagation_seconds": 0,
}
DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
DEMO_PROTECTED_SUB = "6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817"  # protected before the demo: one VM per posture verdict
# backup_posture_info after the demo's protect run (tests/demo.py does the same): (verdict, reason codes) per VM
DEMO_POSTURE = {
    "cvm-pmk-01": ("at_risk", ["no_backup_yet"]), "cvm-kv-01": ("at_risk", ["no_backup_yet"]),
    "cvm-rbac-01": ("at_risk", ["no_backup_yet"]), "cvm-busy-01": ("at_risk", ["no_backup_yet", "des_over_threshold"]),
    "cvm-hsm-01": ("at_risk", ["no_backup_yet", "key_unreadable"]),  # the demo's principal is HSM Administrator only
    "cvm-v5-01": ("unprotected", ["not_protected"]), "cvm-gso-01": ("unprotected", ["not_protected"]),
    "cvm-weu-01": ("unprotected", ["not_protected"]),
    "cvm-prod-01": ("healthy", []), "cvm-prod-02": ("at_risk", ["key_expires_soon"]),
    "cvm-prod-03": ("failing", ["last_job_failed", "key_access_missing"]), "cvm-prod-04": ("unprotected", ["not_protected"]),
}
READY = {"cvm-pmk-01", "cvm-kv-01", "cvm-rbac-01", "cvm-hsm-01", "cvm-busy-01"}


def recap(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("localhost ") and "ok=" in line)


def test_protect_plan_apply_reapply(azure_sim):
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", DEMO_VARS, check=True)
    assert rc == 0, out
    assert writes(azure_sim.requests()) == []
    assert "would be created" in out and "plan: the preview feature counted as registered" in out
    for reason in ("the v5 series is not supported", "VMGuestStateOnly", "westeurope does not support"):
        assert reason in out

    seen = len(azure_sim.requests())
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", DEMO_VARS)
    assert rc == 0, out
    applied = writes(azure_sim.requests()[seen:])
    item_puts = [r for r in applied if r["method"] == "PUT" and "protectedItems" in r["path"]]
    assert sorted(r["path"].rsplit(";", 1)[-1] for r in item_puts) == sorted(READY)

    seen = len(azure_sim.requests())
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", DEMO_VARS)
    assert rc == 0, out
    assert "changed=0" in recap(out)
    assert writes(azure_sim.requests()[seen:]) == []

    # The posture after the demo's protect run (issue 20): the demo holds a VM of each verdict.
    posture = run_module(azure_sim, "backup_posture_info", {"subscription_ids": [DEMO_SUB, DEMO_PROTECTED_SUB]})
    assert {vm["name"]: (vm["verdict"], [r["code"] for r in vm["reasons"]]) for vm in posture["vms"]} == DEMO_POSTURE
    assert posture["summary"] == {"total": 12, "healthy": 1, "at_risk": 6, "failing": 1, "unprotected": 4}


def test_a_second_protect_run_reads_each_thing_once(azure_sim):
    """Issue 19: what the preflight read stands for the roles' reads while nothing changed since - a second run (nothing
    to write) lists the VMs once, reads the feature in the preflight only (preview_feature and the readiness read), each
    vault and policy in the preflight's check and cvm_protection only, and asks Graph for the Backup Management Service
    once; the tables still say in place."""
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", DEMO_VARS)
    assert rc == 0, out
    seen = len(azure_sim.requests())
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", DEMO_VARS)
    assert rc == 0, out
    requests = azure_sim.requests()[seen:]
    assert writes(requests) == []
    gets = [r["path"].split("?")[0].lower() for r in requests if r["method"] == "GET"]
    assert gets.count(f"/subscriptions/{DEMO_SUB}/providers/microsoft.compute/virtualmachines") == 1
    assert sum(p.endswith("/features/restorepointsupportforconfidentialvmv2") for p in gets) == 2
    for vault in ("rsv-cvm-kc", "rsv-cvm-uae"):
        assert sum(p.endswith(f"/vaults/{vault}") for p in gets) == 2
        assert sum(p.endswith(f"/vaults/{vault}/backuppolicies/cvm-enhanced-daily") for p in gets) == 2
    assert len([r for r in requests if r["host"].startswith("graph.")]) == 1
    assert len([r for r in requests if r["host"] == SIGN_IN_HOST]) <= 30  # 44 before the preflight's reads were passed on
    assert "koreacentral: vault rg-backup/rsv-cvm-kc in place; policy cvm-enhanced-daily (Enhanced) in place" in out
    assert "changed=0" in recap(out)


def test_protect_fails_on_blockers_when_asked(azure_sim):
    targets = {"cvm_on_blockers": "fail", "cvm_vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-kc/cvm-v5-01"]}
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {**DEMO_VARS, **targets})
    assert rc != 0
    assert "not ready for confidential VM backup" in out and "cvm-v5-01" in out
    assert not [r for r in writes(azure_sim.requests()) if "protectedItems" in r["path"]]


def test_readiness_report_reads_only_and_writes_reports_in_check_mode(azure_sim, tmp_path):
    """Issue 18 items 4 and 5: the feature is unregistered in the demo; it is reported once as a subscription
    prerequisite, the VMs without blockers of their own are ready once it is registered, and the report files are
    written in check mode with their metadata."""
    report_json, report_md = tmp_path / "r.json", tmp_path / "r.md"
    rc, out = run_playbook(azure_sim, "playbooks/readiness_report.yml",
                           {"cvm_report_json": str(report_json), "cvm_report_markdown": str(report_md)}, check=True)
    assert rc == 0, out
    assert writes(azure_sim.requests()) == []
    data = json.loads(report_json.read_text())
    assert data["schema_version"] == 1 and data["check_mode"] is True and data["subscriptions"] == [DEMO_SUB]
    assert data["collection_version"] == yaml.safe_load(open("galaxy.yml", encoding="utf-8"))["version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["generated_at"])
    verdicts = {vm["name"]: vm["verdict"] for vm in data["vms"]}
    assert verdicts["tl-vm-01"] == "not_applicable" and verdicts["cvm-v5-01"] == "not_ready"
    assert {name for name, verdict in verdicts.items() if verdict == "ready_after_prerequisites"} == READY
    assert data["summary"]["ready_after_prerequisites"] == len(READY) and data["summary"]["not_ready"] == 3
    (feature,) = [p for p in data["prerequisites"] if p["name"] == "restore_point_feature"]
    assert feature["status"] == "fail" and feature["fixed_by_play"] is True
    v5 = next(vm for vm in data["vms"] if vm["name"] == "cvm-v5-01")
    assert not [b for b in v5["blockers"] if "RestorePointSupportForConfidentialVMV2" in b]
    # the prerequisite once, the VMs' own blockers apart, and what a pending VM waits for
    assert out.count("subscription prerequisite restore_point_feature: fail") == 1
    assert out.count("~ ready once the preview feature Microsoft.Compute/RestorePointSupportForConfidentialVMV2 is registered") == len(READY)
    markdown = report_md.read_text()
    assert "| rg-cvm-kc/cvm-v5-01 |" in markdown and f"for subscription(s) {DEMO_SUB} (check mode)" in markdown


def test_role_argument_specs_reject_bad_input_before_any_call(azure_sim):
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {**DEMO_VARS, "cvm_on_blockers": "maybe"})
    assert rc != 0
    assert "cvm_on_blockers must be one of fail, warn (got maybe)" in out
    assert [r for r in azure_sim.requests() if r["host"] != "login.microsoftonline.com"] == []


def test_restore_after_first_backup(azure_sim):
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml",
                           {**DEMO_VARS, "cvm_vms": ["rg-cvm-kc/cvm-kv-01"], "cvm_backup_now": True})
    assert rc == 0, out
    restore = {"cvm_restore_vm": "rg-cvm-kc/cvm-kv-01", "cvm_restore_vault": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"},
               "cvm_staging_storage_account": "stcvmrestorekc"}
    seen = len(azure_sim.requests())
    rc, out = run_playbook(azure_sim, "playbooks/restore_cvm.yml", restore, check=True)
    assert rc == 0, out
    assert writes(azure_sim.requests()[seen:]) == []
    rc, out = run_playbook(azure_sim, "playbooks/restore_cvm.yml", restore)
    assert rc == 0, out
    assert "Completed" in out
    # the restored disks exist (the job does not list them: its "Restored disk(s)" key was a local-Azure invention,
    # issue 15; cvm_restore ties them to the job by the VM's restore point, restored_disks' matched_by)
    assert azure_sim.sim.store.find(lambda r: r.get("type") == "Microsoft.Compute/disks" and r["name"].startswith("cvm-kv-01-osdisk-"))


# ---- issue 18 item 3: fail before writing, the vault of each region
KC_VMS = {"cvm_vms": ["rg-cvm-kc/cvm-pmk-01"], "cvm_key_propagation_seconds": 0}


def vault_puts(requests: list[dict]) -> list[str]:
    return sorted(r["path"].split("/vaults/", 1)[1].split("?")[0] for r in writes(requests)
                  if r["method"] == "PUT" and r["path"].split("?")[0].count("/") == 8 and "/vaults/" in r["path"])


def drop_vault(sim, name: str):
    with sim.lock:
        sim.store.delete(rs.vault_id(DEMO_SUB, "rg-backup", name))


def add_vault(sim, rg: str, name: str, location: str, crr: bool = False):
    with sim.lock:
        rs.add_vault(sim, rs.vault_body(sim, DEMO_SUB, rg, name, location, crr=crr))


def test_default_invocation_reuses_the_vault_of_each_region(azure_sim):
    """`ansible-playbook azure_cvm.backup.protect_cvm` with no vault setting: the one vault of each region is used."""
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {"cvm_key_propagation_seconds": 0})
    assert rc == 0, out
    assert vault_puts(azure_sim.requests()) == []
    # reused, not created (the protect role's secure defaults may update its settings: "in place" or "updated: ...")
    assert re.search(r"koreacentral: vault rg-backup/rsv-cvm-kc (in place|updated: )", out), out
    assert re.search(r"uaenorth: vault rg-backup/rsv-cvm-uae (in place|updated: )", out), out


def test_default_invocation_without_a_vault_fails_with_one_message_and_no_write(azure_sim):
    drop_vault(azure_sim.sim, "rsv-cvm-uae")
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {"cvm_key_propagation_seconds": 0})
    assert rc != 0
    assert writes(azure_sim.requests()) == []
    assert "Nothing was changed. uaenorth has no Recovery Services vault: set cvm_vault_resource_group" in out
    assert out.count("fatal:") == 1


def test_vault_resource_group_reuses_and_creates_only_where_none(azure_sim):
    drop_vault(azure_sim.sim, "rsv-cvm-uae")
    targets = {"cvm_vms": ["rg-cvm-kc/cvm-pmk-01", "rg-cvm-uae/cvm-hsm-01"], "cvm_vault_resource_group": "rg-backup",
               "cvm_key_propagation_seconds": 0}
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", targets)
    assert rc == 0, out
    assert vault_puts(azure_sim.requests()) == ["rsv-cvm-uaenorth"]
    assert re.search(r"koreacentral: vault rg-backup/rsv-cvm-kc (in place|updated: )", out), out


def test_a_vault_resource_group_that_does_not_exist_fails_the_preflight_with_one_message(azure_sim):
    """cvm_vault_resource_group names a group that does not exist: Azure's 404 ResourceGroupNotFound for the vault list
    ends the preflight with one sentence, before any write (it once listed no vault and planned one to create there)."""
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {**KC_VMS, "cvm_vault_resource_group": "rg-nowhere"})
    assert rc != 0
    assert writes(azure_sim.requests()) == []
    assert "The resource group rg-nowhere does not exist in subscription" in out and out.count("fatal:") == 1


def test_two_vaults_in_one_region_is_an_error_naming_them(azure_sim):
    add_vault(azure_sim.sim, "rg-backup", "rsv-other-kc", "koreacentral")
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {**KC_VMS, "cvm_vault_resource_group": "rg-backup"})
    assert rc != 0
    assert writes(azure_sim.requests()) == []
    assert "koreacentral has 2 vaults (rg-backup/rsv-cvm-kc, rg-backup/rsv-other-kc): name the one to use in cvm_vaults" in out


def test_a_vault_with_cross_region_restore_is_refused_before_any_write(azure_sim):
    targets = {**KC_VMS, "cvm_vaults": {"koreacentral": {"name": "rsv-crr-kc", "resource_group": "rg-backup"}}}
    add_vault(azure_sim.sim, "rg-backup", "rsv-crr-kc", "koreacentral", crr=True)
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", targets)
    assert rc != 0
    assert writes(azure_sim.requests()) == []
    assert "Cross-region restore is enabled on this vault and cannot be turned off" in out and "rsv-crr-kc" in out
    assert "failed=1 " in out  # one task failed (the preflight's check of the vault), nothing ran after it


# ---- issue 18 item 5: job artifacts (set_stats through ansible-runner, the engine under AWX), cvm_fail_when, summary


def runner_job(sim, tmp_path, playbook: str, extravars: dict, check: bool = False) -> tuple[str, str, dict]:
    """Run `playbook` (an FQCN) as AWX does: ansible-runner on a private data dir. (status, stdout, artifact_data)."""
    pdd = tmp_path / "pdd"
    (pdd / "project").mkdir(parents=True)
    (pdd / "env").mkdir()
    (pdd / "inventory").mkdir()
    (pdd / "project" / "job.yml").write_text(f"---\n- name: The job\n  ansible.builtin.import_playbook: {playbook}\n")
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))
    (pdd / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    if check:
        (pdd / "env" / "cmdline").write_text("--check")
    env = {**ansible_env(sim), "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-runner"), "run", str(pdd), "-p", "job.yml",
                    "--ident", "job1"], env=env, capture_output=True, text=True, timeout=900, check=False)
    artifacts = pdd / "artifacts" / "job1"
    events = [json.loads((artifacts / "job_events" / name).read_text()) for name in os.listdir(artifacts / "job_events")]
    (stats,) = [e for e in events if e["event"] == "playbook_on_stats"]
    return (artifacts / "status").read_text(), (artifacts / "stdout").read_text(), stats["event_data"]["artifact_data"]


def test_protect_plan_publishes_set_stats_in_the_job_artifacts(azure_sim, tmp_path):
    status, out, data = runner_job(azure_sim, tmp_path, "azure_cvm.backup.protect_cvm", {"cvm_key_propagation_seconds": 0},
                                   check=True)
    assert status == "successful", out
    assert writes(azure_sim.requests()) == []
    stats = data["cvm_protection"]
    assert stats["check_mode"] is True
    assert sorted(vm.split("/")[1] for vm in stats["protected"]) == sorted(READY)
    assert stats["unprotected_ready"] == [] and stats["counts"]["unprotected_ready"] == 0
    assert sorted(stats["left_out"]) == ["rg-cvm-kc/cvm-gso-01", "rg-cvm-kc/cvm-v5-01", "rg-cvm-weu/cvm-weu-01"]
    assert stats["counts"] == {"protected": len(READY), "unprotected_ready": 0, "left_out": 3}
    assert stats["readiness"]["not_applicable"] == 1


def test_readiness_job_artifacts_and_cvm_fail_when(azure_sim, tmp_path):
    status, out, data = runner_job(azure_sim, tmp_path, "azure_cvm.backup.readiness_report", {"cvm_fail_when": "not_ready"})
    assert status == "failed"
    assert "cvm_fail_when=not_ready: 8 confidential VM(s) are not ready" in out
    # the artifacts are published before the job fails, so a workflow's failure branch reads them
    stats = data["cvm_readiness"]
    assert stats["summary"]["ready_after_prerequisites"] == len(READY) and stats["prerequisites"] == ["restore_point_feature"]
    assert len(stats["not_ready"]) == 8 and stats["ready"] == []


def test_any_unprotected_fails_the_plan_naming_the_left_out(azure_sim):
    rc, out = run_playbook(azure_sim, "playbooks/protect_cvm.yml", {"cvm_key_propagation_seconds": 0, "cvm_fail_when": "any_unprotected"},
                           check=True)
    assert rc != 0
    assert writes(azure_sim.requests()) == []
    assert "cvm_fail_when=any_unprotected: 0 ready VM(s) unprotected (none), 3 left out as not" in out


def test_summary_console_above_50_vms_and_every_vm_in_the_reports(sim_server_factory, tmp_path):
    fleet = sim_server_factory("fleet", vms=60)
    report_json = tmp_path / "fleet.json"
    rc, out = run_playbook(fleet, "playbooks/readiness_report.yml", {"cvm_report_json": str(report_json)})
    assert rc == 0, out
    assert "(per-region summary of 60 VMs" in out
    rows = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(r'"(koreacentral|uaenorth) +(\d+) +(\d+) ', out)}
    assert set(rows) == {"koreacentral", "uaenorth"}, out
    assert sum(total for total, _ready in rows.values()) == 60 and all(total == ready for total, ready in rows.values())
    assert "rg-fleet-01/" not in out
    assert len(json.loads(report_json.read_text())["vms"]) == 60
