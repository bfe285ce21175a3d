"""Each option alias taken from azure.azcollection (issue 18 item 7) reaches the same requests as its canonical name:
the module's main() in process, in check mode, once per spelling, and the local Azure's request logs compared."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.modules.test_auth_certificate import APP_ID, make_certificate, register
from tests.modules.test_hostile_input import run_in_process

BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"  # the demo scenario's Backup Management Service object id
KC_VAULT = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
HSM = {"hsm": "hsm-cvm-uae", "resource_group": "rg-cvm-uae"}
# (module, the other options, the canonical option, its aliases, a value)
CASES = [
    ("recovery_vault_info", {"resource_group": "rg-backup"}, "name", ["vault_name", "recovery_vault_name"], "rsv-cvm-kc"),
    ("backup_policy", {"name": "cvm-daily", "vault": KC_VAULT, "schedule_time": "21:00", "time_zone": "UTC",
                       "retention": {"daily_days": 30}}, "instant_restore_days", ["instant_recovery_snapshot_retention"], 5),
    ("keyvault_backup_access", {"resource_group": "rg-cvm-kc", "principal_id": BMS}, "vault", ["vault_name"], "kv-cvm-kc"),
    ("keyvault_backup_access", {"vault": "kv-cvm-kc", "resource_group": "rg-cvm-kc"}, "principal_id",
     ["assignee_object_id"], BMS),
    ("mhsm_role_assignment", {**HSM, "key": "cvm-hsm-key"}, "principal_id", ["assignee_object_id"], BMS),
    ("mhsm_role_assignment_info", HSM, "principal_id", ["assignee_object_id"], BMS),
    ("cvm_protection", {"vault": KC_VAULT, "state": "stopped"}, "resource_groups", ["resource_group"],
     ["rg-cvm-kc"]),
    ("preview_feature_info", {"provider_namespace": "Microsoft.Compute"}, "names", ["name"],
     ["RestorePointSupportForConfidentialVMV2"]),
]


def requests_of(entry: dict) -> Counter:
    """What reached Azure (sign-in left out: a token may be reused), with whose token."""
    return Counter((r["method"], r["host"], r["path"], r.get("principal")) for r in entry["requests"]
                   if not r["host"].startswith("login."))


def run_checked(server, module: str, args: dict) -> dict:
    entry = run_in_process(server, module, {**args, "_ansible_check_mode": True})
    assert not entry["result"].get("failed"), entry["result"].get("msg")
    return entry


@pytest.mark.parametrize("module, other, option, aliases, value", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_alias_reaches_the_same_requests_as_its_option(azure_sim, monkeypatch, module, other, option, aliases, value):
    for key, env_value in azure_sim.env.items():
        monkeypatch.setenv(key, env_value)
    run_checked(azure_sim, module, {**other, option: value})  # once first: what a run keeps in the process is kept
    canonical = run_checked(azure_sim, module, {**other, option: value})
    assert requests_of(canonical), "the canonical run made no request"
    for alias in aliases:
        assert requests_of(run_checked(azure_sim, module, {**other, alias: value})) == requests_of(canonical), alias


def test_the_certificate_path_alias_signs_in_with_the_certificate(azure_sim, monkeypatch, tmp_path):
    """x509_certificate_path (azure.azcollection's name) is client_certificate_path: the same sign-in, as the same
    principal, and the same reads."""
    for key, env_value in azure_sim.env.items():
        monkeypatch.setenv(key, env_value)
    monkeypatch.delenv("AZURE_SECRET", raising=False)
    path, cert_pem = make_certificate(tmp_path, "ops-cert")
    register(azure_sim.sim, cert_pem)
    base = {"resource_group": "rg-backup", "client_id": APP_ID, "tenant": azure_sim.env["AZURE_TENANT"]}
    runs = [run_checked(azure_sim, "recovery_vault_info", {**base, name: path})
            for name in ("client_certificate_path", "x509_certificate_path")]
    signed_in = [[r for r in run["requests"] if r["host"].startswith("login.") and r["method"] == "POST"] for run in runs]
    assert all(signed_in), "each run signs in"
    assert requests_of(runs[0]) and requests_of(runs[1]) == requests_of(runs[0])
