"""playbooks/protect_cvm.yml on the local Azure's fleet, at scale and under faults (issue 11).

- The second run costs requests per vault and resource group, not per VM (10 vs 50 VMs).
- A 100-VM run with 10% throttling (Retry-After 1 s), 3% 503s and 1% dropped connections completes: every VM is
  protected exactly once, in its region's vault, one HSM role assignment per key, nothing else; retries are reported.
- A run interrupted with SIGINT (Ctrl-C) in the middle of its writes, started again, converges with no duplicate.
- cvm_protection paces its writes by the remaining-writes header before Azure answers 429.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from tests.azure_sim import keyvault as kv
from tests.azure_sim import recoveryservices as rs
from tests.sim_helpers import REPO_ROOT, _callback_dir, ansible_env, run_module, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
FLEET_VARS = "@" + os.path.join(REPO_ROOT, "playbooks", "vars", "fleet.yml")
SUB = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
BACKUP_SERVICE = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"  # the fleet scenario's Backup Management Service object id
REGIONS = ("koreacentral", "uaenorth")
POLICY = "cvm-enhanced-daily"
# Sign-in is left alone: the faults are those of the Azure services (ARM, Graph, the Managed HSM).
NOT_SIGN_IN = r"^(?!login\.)"
FAULT_MIX = {"seed": 11, "rules": [
    # sure drops too (the random ones may miss at this size): a protection PUT and a container refresh POST
    {"kind": "drop", "method": "^PUT$", "path": "/protectedItems/", "count": 1},
    {"kind": "drop", "method": "^POST$", "path": "/refreshContainers$", "count": 1},
    {"kind": "throttle", "host": NOT_SIGN_IN, "rate": 0.10, "retry_after": 1},
    {"kind": "error", "host": NOT_SIGN_IN, "status": 503, "rate": 0.03},
    {"kind": "drop", "host": NOT_SIGN_IN, "rate": 0.01},
]}


def command(check: bool = False, extra: dict | None = None) -> list[str]:
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return ([ansible, "-i", "localhost,", PLAYBOOK, "-e", FLEET_VARS] + (["-e", json.dumps(extra)] if extra else [])
            + (["--check"] if check else []))


def play(server, check: bool = False, extra: dict | None = None) -> tuple[int, list]:
    """Run the playbook; (exit code, every task result from the sim_json callback)."""
    env = ansible_env(server, ANSIBLE_STDOUT_CALLBACK="sim_json", ANSIBLE_CALLBACK_PLUGINS=_callback_dir())
    proc = subprocess.run(command(check, extra), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith('{"results"')), None)
    assert line, f"no result (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.returncode, json.loads(line)["results"]


def failures(results: list) -> list:
    return [(r["task"], r["result"].get("msg")) for r in results if r["status"] == "failed"]


def total_retries(data) -> int:
    """The `retries` every module reported, loop items included."""
    if isinstance(data, dict):
        return int(data.get("retries") or 0) + sum(total_retries(v) for k, v in data.items() if k != "retries")
    if isinstance(data, list):
        return sum(total_retries(v) for v in data)
    return 0


def since(server, seq: int) -> list:
    return server.requests(seq)


def last_seq(server) -> int:
    log = server.requests()
    return log[-1]["seq"] if log else 0


def fleet_vms(server) -> dict:
    """{vm id (lower): region} of the fleet's CVMs."""
    with server.sim.lock:
        vms = server.sim.store.find(lambda r: r.get("type") == "Microsoft.Compute/virtualMachines")
        return {vm["id"].lower(): vm["location"] for vm in vms}


def protected_items(server) -> list:
    with server.sim.lock:
        return [dict(i) for i in server.sim.store.find(lambda r: r.get("type") == rs.ITEM_TYPE)]


def assert_protected_exactly_once(server):
    """One protected item per VM, in its region's vault, with our policy; no item for anything else."""
    vms = fleet_vms(server)
    items = protected_items(server)
    sources = [i["properties"]["sourceResourceId"].lower() for i in items]
    assert sorted(sources) == sorted(vms), "a VM is missing, protected twice, or something else is protected"
    for item in items:
        region = vms[item["properties"]["sourceResourceId"].lower()]
        vault = rs.vault_id(SUB, "rg-fleet-backup", f"rsv-fleet-{region}")
        assert item["id"].lower().startswith(vault.lower() + "/"), item["id"]
        assert item["properties"]["policyId"].lower() == rs.policy_id(vault, POLICY).lower()


def assert_one_role_assignment_per_key(server):
    for region in REGIONS:
        with server.sim.lock:
            holder = kv.hsm_holder(server.sim, f"hsm-fleet-{region}")
            mine = [a["properties"] for a in holder["role_assignments"].values()
                    if a["properties"]["principalId"].lower() == BACKUP_SERVICE]
        keys = {p["scope"].lower() for p in mine}
        assert len(mine) == len(keys), f"duplicate role assignment on hsm-fleet-{region}: {mine}"
        assert keys <= {"/keys/fleet-key"}, keys


# ------------------------------------------------------------------------------------------------ request cost


def second_run_requests(sim_server_factory, vms: int) -> list:
    server = sim_server_factory("fleet", vms=vms, cmk_every=5)
    rc, results = play(server)
    assert rc == 0, failures(results)
    seq = last_seq(server)
    rc, results = play(server)
    assert rc == 0, failures(results)
    log = since(server, seq)
    assert writes(log) == []
    return log


def test_second_run_requests_do_not_grow_per_vm(sim_server_factory):
    small, large = (second_run_requests(sim_server_factory, n) for n in (10, 30))
    # every list fits in one page at these sizes: the same calls, whatever the number of VMs
    assert len(large) == len(small), (len(small), len(large))
    assert sorted((r["method"], r["host"]) for r in large) == sorted((r["method"], r["host"]) for r in small)


# ------------------------------------------------------------------------------------------------ faults


def progress_rounds(results: list) -> list:
    """The status lines of the protect role's rounds while its fleet calls ran in the background, a list per round."""
    return [r["result"]["msg"] for r in results if r["task"].endswith("How far each fleet call is")]


def test_100_vms_under_throttling_errors_and_drops_are_all_protected_once(sim_server_factory):
    """Also: above 50 VMs the fleet calls run in the background with a status line per region and round (each
    protection operation lasts lro_seconds, so the calls outlast the first round), and the console is a summary."""
    server = sim_server_factory("fleet", vms=100, cmk_every=5, lro_seconds=3)
    server.set_faults(FAULT_MIX)
    rc, results = play(server, extra={"protect_progress_seconds": 1})
    assert rc == 0, failures(results)
    rounds = progress_rounds(results)
    assert len(rounds) >= 2 and all(len(lines) == len(REGIONS) for lines in rounds), rounds
    assert any(": running, " in line for line in rounds[0]), rounds[0]
    steps = ("starting", "reading the vault and the VMs", "checking readiness", "writes sent", "changes in effect",
             "first backups ended", "done")
    for line in (x for lines in rounds for x in lines):
        assert line.split(": ", 1)[0] in REGIONS and line.split(", ", 1)[1].rsplit(" ", 2)[0] in steps, line
    last = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in rounds[-1]}
    done = [re.fullmatch(r"ended, done (\d+)/(\d+) VMs", text) for text in last.values()]
    assert all(m and m.group(1) == m.group(2) for m in done) and sum(int(m.group(1)) for m in done) == 100, last
    table = next(r["result"]["msg"] for r in results if r["task"].endswith("Protection of the target VMs"))
    assert any(" VM(s) " in line for line in table) and not any("rg-fleet-01/" in line for line in table), table
    assert_protected_exactly_once(server)
    assert_one_role_assignment_per_key(server)
    faulted = [r for r in server.requests() if r["fault"]]
    assert {r["fault"] for r in faulted} == {"throttle", "error", "drop"}
    # each fault costs at least the one retry it caused; the SDK's transport may retry a dropped connection itself,
    # unseen by the modules, so the reported count is bounded by the faults rather than equal to them
    answered = [r for r in faulted if r["fault"] in ("throttle", "error")]
    # counted from the module tasks' own results only: set_fact and include_tasks results carry copies of earlier
    # module results (the preflight's readiness in the plans) and would count their retries twice
    module_results = [r for r in results if r["action"].startswith("azure_cvm.backup.") or r["action"].endswith("async_status")]
    assert len(answered) <= total_retries(module_results) <= len(faulted)

    server.set_faults({})
    seq = last_seq(server)
    rc, results = play(server)
    assert rc == 0, failures(results)
    assert writes(since(server, seq)) == []


def test_a_run_interrupted_with_sigint_converges_when_started_again(sim_server_factory):
    """The local Azure lets exactly 10 protection PUTs through, then throttles the rest (Retry-After 30 s): the run is
    then certainly in the middle of its writes, with 10 VMs protected, when it gets Ctrl-C. No clock decides it."""
    server = sim_server_factory("fleet", vms=40, cmk_every=5)
    server.set_faults({"rules": [{"kind": "throttle", "method": "^PUT$", "path": "/protectedItems/", "after": 10,
                                  "retry_after": 30}]})
    env = ansible_env(server)
    proc = subprocess.Popen(command(), env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a safety net only: the wait ends on the first held PUT
        while time.monotonic() < deadline and proc.poll() is None:
            if any(r["fault"] == "throttle" and "/protectedItems/" in r["path"] for r in server.requests()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, the module process included
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:  # a module process left behind by the interrupted run: end it before the faults are cleared
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode != 0
    done = [r for r in writes(server.requests()) if "/protectedItems/" in r["path"] and r["method"] == "PUT" and not r["fault"]]
    assert len(done) == 10, "exactly the 10 PUTs let through were answered"
    # a PUT answered 202 makes its item when its operation is polled, so up to (not exactly) 10 items exist now
    assert len(protected_items(server)) <= 10

    server.set_faults({})
    rc, results = play(server)
    assert rc == 0, failures(results)
    assert_protected_exactly_once(server)
    assert_one_role_assignment_per_key(server)


# ------------------------------------------------------------------------------------------------ write budget


def test_writes_slow_down_before_the_write_budget_is_spent(sim_server_factory):
    """A write budget that never refills and holds 3 writes more than the 31 the run needs (30 PUTs and one container
    refresh): the run must see the budget fall to 5 and below, pause, and still never get a 429."""
    server = sim_server_factory("fleet", vms=50)
    vault = rs.vault_id(SUB, "rg-fleet-backup", "rsv-fleet-koreacentral")
    with server.sim.lock:
        rs.add_policy(server.sim, vault, POLICY, rs.compact_policy({}))
    needed = 31
    server.set_faults({"write_budget": {"capacity": needed + 3, "refill_per_second": 0}})
    result = run_module(server, "cvm_protection", {
        "vault": {"name": "rsv-fleet-koreacentral", "resource_group": "rg-fleet-backup"}, "policy": POLICY,
        "resource_groups": ["rg-fleet-01", "rg-fleet-03", "rg-fleet-05"], "concurrency": 8})
    assert not result.get("failed"), result.get("msg")
    assert result["totals"]["protect"] == 30
    arm_writes = [r for r in writes(server.requests()) if r["host"] == "management.azure.com"]
    assert len(arm_writes) == needed, [(r["method"], r["path"]) for r in arm_writes]
    throttle = result["throttle"]
    assert throttle["lowest_concurrency"] == 1 and throttle["pauses"] > 0 and throttle["min_remaining_writes"] == 3
    refused = [r for r in server.requests() if r["fault"] == "write_budget"]
    assert refused == [], [(r["method"], r["path"]) for r in refused]
