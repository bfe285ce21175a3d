"""Recording (AZURE_CVM_BACKUP_RECORD_DIR, plugins/module_utils/recording.py) and replay (tests/replay_recording.py):
module runs against the local Azure are recorded with nothing secret in them, and replay with zero differences; a
doctored recording shows its difference."""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import recording
from tests import replay_recording
from tests.azure_sim.server import SimServer
from tests.sim_helpers import run_module

RECORD_ENV = "AZURE_CVM_BACKUP_RECORD_DIR"
BMS_OID = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}")


class Recorded:
    """The local Azure as run_module sees it, with the recording variable in the module's environment."""

    def __init__(self, server, folder):
        self._server, self.folder = server, folder

    def __getattr__(self, name):
        return getattr(self._server, name)

    @property
    def env(self):
        return {**self._server.env, RECORD_ENV: str(self.folder)}


def files(folder) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json"))


def test_redaction_of_one_exchange():
    record = recording.redact({
        "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "client_secret": "s3cr3t",
        "properties": {"principalId": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "osProfile": {"adminPassword": "P@ss"}},
        "key": {"kty": "RSA-HSM", "kid": "https://v.vault.azure.net/keys/k/1", "n": "modulus", "e": "AQAB"},
        "message": "Caller: appid=x;oid=9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b;iss=y"}, "management.azure.com")
    text = json.dumps(record)
    for secret in ("eyJhbGci", "s3cr3t", "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "P@ss", "modulus", "AQAB"):
        assert secret not in text
    assert record["key"]["kid"] == "https://v.vault.azure.net/keys/k/1"  # what is not secret stays
    assert recording.redact({"value": "backupblob"}, "kv.vault.azure.net") == {"value": recording.REDACTED}
    assert recording.redact({"value": [{"id": BMS_OID}]}, "graph.microsoft.com")["value"][0]["id"] == recording.REDACTED_ID
    assert recording.redact_url(f"https://management.azure.com/x?$filter=principalId eq '{BMS_OID}'&sig=abc",
                                "management.azure.com").endswith(f"principalId eq '{recording.REDACTED_ID}'&sig=<redacted>")
    assert recording.redact_headers({"Authorization": "Bearer eyJabc.def.ghi"}, "x") == {"Authorization": "Bearer <redacted>"}
    assert recording.recording_policies({}) == []


@pytest.fixture
def recorded_runs(azure_sim, tmp_path):
    """Module runs that read and write ARM, Graph, the Key Vault and Managed HSM data planes, recorded."""
    server = Recorded(azure_sim, tmp_path / "rec")
    runs = [("cvm_protection_info", {"vault": {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}}),
            ("keyvault_backup_access", {"vault": "kv-cvm-rbac", "resource_group": "rg-cvm-kc", "key": "cvm-cmk-rbac"}),
            ("mhsm_role_assignment", {"hsm": "hsm-cvm-uae", "resource_group": "rg-cvm-uae", "key": "cvm-hsm-key"})]
    for module, args in runs:
        result = run_module(server, module, args)
        assert not result.get("failed"), (module, result.get("msg"))
    return server.folder, azure_sim


def test_recording_holds_every_exchange_and_no_secret(recorded_runs):
    folder, server = recorded_runs
    names = files(folder)
    hosts = set()
    for name in names:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
        record = json.loads(text)
        hosts.add(re.match(r"https://([^/]+)", record["url"]).group(1))
        assert set(record) == {"time", "method", "url", "request", "response"} and record["response"]["status"]
        assert not JWT.search(text), name
        for secret in [p["secret"] for p in server.sim.principals.values() if p.get("secret")] + \
                [server.sim.default_principal["object_id"], BMS_OID]:
            assert secret not in text, (name, secret)
    assert {"management.azure.com", "graph.microsoft.com", "hsm-cvm-uae.managedhsm.azure.net"} <= hosts
    # every request a module sent is in the recording, except sign-in and the Key Vault challenge round trip (the
    # unauthenticated first request, answered 401, which the SDK's challenge policy repeats with a token)
    logged = [e for e in server.requests() if not e["host"].startswith("login.")
              and not (e["status"] == 401 and e["principal"] is None)]
    assert len(names) == len(logged)


def test_replay_of_the_local_azure_has_no_difference_and_a_doctored_one_has(recorded_runs, tmp_path):
    folder, server = recorded_runs
    assert replay_recording.main([str(folder)]) == 0
    names = files(folder)
    doctored = next(n for n in names if json.load(open(n, encoding="utf-8"))["response"]["status"] == 200
                    and isinstance(json.load(open(n, encoding="utf-8"))["response"]["body"], dict))
    with open(doctored, encoding="utf-8") as handle:
        record = json.load(handle)
    record["response"]["body"]["inventedByAzure"] = {"x": 1}
    with open(doctored, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    records = replay_recording.load(str(folder))
    with SimServer("demo") as fresh:
        differences = replay_recording.replay(records, replay_recording.Replayer(fresh.env))
    assert differences and all("inventedByAzure" in d for d in differences), differences


def test_replay_follows_long_running_operations_and_jobs(azure_sim, tmp_path):
    """Feature registration, a policy, protection with a first backup: operation ids and job ids made up by the
    service are learned from the answers, and polls are compared by phase - still zero differences."""
    server = Recorded(azure_sim, tmp_path / "rec")
    kc = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
    for module, args in [("preview_feature", {"name": "RestorePointSupportForConfidentialVMV2"}),
                         ("backup_policy", {"name": "cvm-daily", "vault": kc, "schedule_time": "21:00"}),
                         ("cvm_protection", {"vault": kc, "policy": "cvm-daily", "vms": ["rg-cvm-kc/cvm-pmk-01"],
                                             "backup_now": True})]:
        result = run_module(server, module, args)
        assert not result.get("failed"), (module, result.get("msg"))
    urls = [json.load(open(n, encoding="utf-8"))["url"] for n in files(server.folder)]
    assert any("/operationsStatus/" in u for u in urls) and any("/backupJobs" in u for u in urls)
    assert replay_recording.main([str(server.folder)]) == 0


def test_structure_comparison_is_about_keys_and_types():
    diff = replay_recording.structure_diff
    assert diff({"a": 1, "b": [{"c": "x"}]}, {"a": 2, "b": [{"c": "y"}]}) == []
    assert diff({"a": 1}, {"a": "1"}) == ["$.a: number recorded, string replayed"]
    assert diff({"a": {"b": 1}}, {"a": {}}) == ["$.a.b: missing in the replay"]
    assert diff({"v": [{"a": 1}]}, {"v": [{"a": 1, "z": 2}]}) == ["$.v[].z: only in the replay"]
