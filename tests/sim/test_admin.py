"""The admin API under /_sim/, the command line, the pytest fixtures and the helpers module tests use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from tests.sim_helpers import REPO_ROOT, run_module, run_playbook, writes

BMS_URL = "https://graph.microsoft.com/v1.0/servicePrincipals(appId='262044b1-e2ce-469f-a196-69ab7ada62d3')"


def admin(sim, method: str, path: str, **kwargs):
    return requests.request(method, f"{sim.admin_url}{path}", timeout=10, **kwargs)


def test_health(azure_sim):
    body = admin(azure_sim, "GET", "/health").json()
    assert body == {"status": "ok", "scenario": "demo", "port": azure_sim.port}


def test_request_log_since_and_clear(azure_sim):
    for attempt in range(3):
        requests.get(BMS_URL, timeout=10)
    log = admin(azure_sim, "GET", "/requests").json()
    assert [(r["method"], r["host"], r["status"]) for r in log] == [("GET", "graph.microsoft.com", 401)] * 3
    assert {"seq", "time", "method", "host", "path", "query", "status", "duration_ms", "fault", "principal"} <= set(log[0])
    later = admin(azure_sim, "GET", f"/requests?since={log[0]['seq']}").json()
    assert [r["seq"] for r in later] == [r["seq"] for r in log[1:]]
    assert admin(azure_sim, "DELETE", "/requests").status_code == 200
    assert admin(azure_sim, "GET", "/requests").json() == []


def test_admin_calls_are_not_logged(azure_sim):
    admin(azure_sim, "GET", "/state")
    assert azure_sim.requests() == []


def test_state_is_json_of_the_store_ext_and_config(azure_sim):
    response = admin(azure_sim, "GET", "/state")
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"store", "ext", "config"}
    assert body["config"]["page_size"] == azure_sim.sim.config["page_size"]


def test_config_update_and_reset(azure_sim):
    body = admin(azure_sim, "POST", "/config", json={"lro_seconds": "2.5", "graph_denied": True}).json()
    assert (body["lro_seconds"], body["graph_denied"]) == (2.5, True)
    admin(azure_sim, "POST", "/faults", json={"latency_ms": 1})
    requests.get(BMS_URL, timeout=10)
    assert admin(azure_sim, "POST", "/reset").json() == {"reset": True}
    assert azure_sim.sim.config["lro_seconds"] == 0.3
    assert "graph_denied" not in azure_sim.sim.config
    assert admin(azure_sim, "GET", "/faults").json() == {"rules": []}
    assert azure_sim.requests() == []
    assert admin(azure_sim, "POST", "/config", json=["lro_seconds"]).status_code == 400


def test_faults_round_trip(azure_sim):
    spec = {"seed": 3, "latency_ms": 0, "rules": [{"kind": "throttle", "host": "graph", "count": 2, "retry_after": 0}]}
    assert admin(azure_sim, "POST", "/faults", json=spec).status_code == 200
    requests.get(BMS_URL, timeout=10)
    current = admin(azure_sim, "GET", "/faults").json()
    assert current["rules"][0]["remaining"] == 1
    assert current["seed"] == 3


def test_unknown_admin_path_and_plain_paths(azure_sim):
    assert admin(azure_sim, "GET", "/nothing").status_code == 404
    plain = requests.get(f"http://127.0.0.1:{azure_sim.port}/", timeout=10)
    assert plain.status_code == 404
    assert "HTTPS_PROXY" in plain.text


def test_fixture_sets_the_environment(azure_sim):
    assert os.environ["HTTPS_PROXY"] == azure_sim.env["HTTPS_PROXY"]
    assert os.environ["AZURE_CLIENT_ID"] == azure_sim.env["AZURE_CLIENT_ID"]


def test_factory_reuses_a_server_per_arguments(sim_server_factory):
    first = sim_server_factory("demo", lro_seconds=1)
    assert sim_server_factory("demo", lro_seconds=1) is first
    assert first.sim.config["lro_seconds"] == 1.0
    assert sim_server_factory("demo") is not first


def test_writes_are_azure_writes_only():
    log = [{"method": "POST", "host": "login.microsoftonline.com"}, {"method": "GET", "host": "management.azure.com"},
           {"method": "PUT", "host": "management.azure.com"}, {"method": "DELETE", "host": "hsm.managedhsm.azure.net"},
           {"method": "CONNECT", "host": "example.com"}, {"method": "PATCH", "host": "graph.microsoft.com"}]
    assert [r["method"] for r in writes(log)] == ["PUT", "DELETE", "PATCH"]


def test_run_module_goes_through_the_local_azure(azure_sim):
    result = run_module(azure_sim, "ansible.builtin.uri", {"url": BMS_URL, "status_code": [401],
                                                           "ca_path": azure_sim.env["REQUESTS_CA_BUNDLE"]})
    assert result["status"] == 401, result
    assert result["json"]["error"]["code"] == "AuthenticationFailed"
    assert [r["path"] for r in azure_sim.requests()] == ["/v1.0/servicePrincipals(appId='262044b1-e2ce-469f-a196-69ab7ada62d3')"]


def test_run_module_check_diff_and_failure(azure_sim, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old\n")
    result = run_module(azure_sim, "ansible.builtin.copy", {"content": "new\n", "dest": str(target)}, check=True, diff=True)
    assert result["changed"] is True
    assert target.read_text() == "old\n"  # check mode
    assert "+new" in result["diff"][0]["after"] or result["diff"][0]["after"] == "new\n"
    failed = run_module(azure_sim, "ansible.builtin.fail", {"msg": "as asked"})
    assert (failed["failed"], failed["msg"]) == (True, "as asked")


def test_run_playbook(azure_sim, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.debug:\n        msg: 'proxy {{ lookup(\"env\", \"HTTPS_PROXY\") }} {{ greeting }}'\n")
    rc, out = run_playbook(azure_sim, str(playbook), {"greeting": "hello"})
    assert rc == 0, out
    assert f"proxy {azure_sim.env['HTTPS_PROXY']} hello" in out


def wait_for_file(path, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return os.path.exists(path)


def test_command_line_serves_until_sigterm(tmp_path):
    env_file = tmp_path / "env"
    proc = subprocess.Popen([sys.executable, "-m", "tests.azure_sim", "--scenario", "demo", "--param", "page_size=7",
                             "--env-file", str(env_file)], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_file(env_file, proc), proc.stderr.read() if proc.poll() is not None else "no env file"
        lines = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
        assert {"HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET",
                "AZURE_TENANT"} <= set(lines)
        admin_url = lines["HTTPS_PROXY"] + "/_sim"
        assert requests.get(f"{admin_url}/config", timeout=10).json()["page_size"] == 7
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_run_wraps_a_command_and_returns_its_code():
    script = "import os, sys; print(os.environ['HTTPS_PROXY']); sys.exit(3)"
    proc = subprocess.run([sys.executable, "-m", "tests.azure_sim.run", "--scenario", "demo", "--", sys.executable, "-c", script],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("http://127.0.0.1:")
