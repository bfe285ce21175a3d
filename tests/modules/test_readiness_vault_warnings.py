"""Issue 21: the readiness report checks the vault of each region (cvm_vaults, else the one existing vault of the
region) against the secure defaults and shows cvm_readiness_info's vault_warnings in its Markdown and JSON reports;
reads only."""

from __future__ import annotations

import json

from tests.sim_helpers import run_module, run_playbook, writes

KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}


def report(azure_sim, tmp_path, extra=None):
    seen = len(azure_sim.requests())
    report_json, report_md = tmp_path / "r.json", tmp_path / "r.md"
    rc, out = run_playbook(azure_sim, "playbooks/readiness_report.yml",
                           {"cvm_report_json": str(report_json), "cvm_report_markdown": str(report_md), **(extra or {})}, check=True)
    assert rc == 0, out
    assert writes(azure_sim.requests()[seen:]) == []
    markdown = report_md.read_text()
    return json.loads(report_json.read_text()), markdown.split("## Vault hardening", 1)[1] if "## Vault hardening" in markdown else None


def test_the_report_shows_the_warnings_of_the_vault_of_each_region(azure_sim, tmp_path):
    data, section = report(azure_sim, tmp_path)
    kc = [w for w in data["vault_warnings"] if w.startswith("Vault rsv-cvm-kc lacks the secure defaults")]
    assert len(kc) == 1 and "immutability is disabled" in kc[0], data["vault_warnings"]
    assert section is not None and f"- {kc[0]}" in section and "rg-backup/rsv-cvm-kc" in section


def test_a_hardened_vault_given_in_cvm_vaults_has_no_warning(azure_sim, tmp_path):
    secure = {"soft_delete": "enabled", "immutability": "unlocked", "job_failure_alerts": True}
    hardened = run_module(azure_sim, "recovery_vault", {**KC, **secure})
    assert not hardened.get("failed"), hardened.get("msg")
    data, section = report(azure_sim, tmp_path, {"cvm_vaults": {"koreacentral": KC}})
    assert not [w for w in data["vault_warnings"] if "rsv-cvm-kc" in w], data["vault_warnings"]
    assert section is not None and "rg-backup/rsv-cvm-kc" in section
