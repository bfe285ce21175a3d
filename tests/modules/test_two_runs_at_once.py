"""Two protect runs at the same time (issue 17 item 6; reliability-2026-12.md D5): run B lists the vault's protected
items, then run A protects the same VM, then B looks for the VM among the protectable ones and cannot find it. B must
count the VM as done (protected by this same vault with the wanted policy), not fail "not discoverable".

The overlap is made deterministic, without timing: the local Azure in this process answers B's first list of
protectable VMs only after it has served A's protection PUT (the same request Azure would get from another run of
the same principal, through the local Azure's own handlers). Nothing in the local Azure is loosened.
"""

from __future__ import annotations

import json

from tests.azure_sim import recoveryservices as rs
from tests.azure_sim.framework import Request
from tests.sim_helpers import run_module, writes

DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
KC = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}
KC_VID = f"/subscriptions/{DEMO_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
VM = ("rg-cvm-kc", "cvm-pmk-01")
VM_ID = f"/subscriptions/{DEMO_SUB}/resourceGroups/{VM[0]}/providers/Microsoft.Compute/virtualMachines/{VM[1]}"
FEATURE = ("microsoft.compute", "restorepointsupportforconfidentialvmv2")


def arrange(server, policies=("cvm-daily",)):
    sim = server.sim
    with sim.lock:
        sim.ext["features"][DEMO_SUB.lower()][FEATURE]["state"] = "Registered"
        for name in policies:
            rs.add_policy(sim, KC_VID, name, rs.compact_policy({"time": "21:00"}))


def protect_as_another_run(original, req: Request, vm_id: str, policy: str):
    """Serve, through the local Azure's own handlers, the protection PUT another run of the same principal would send
    for `vm_id` (with `req`'s host, headers and api-version)."""
    rg, name = vm_id.split("/")[4], vm_id.split("/")[-1]
    body = json.dumps({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
                                      "sourceResourceId": vm_id, "policyId": f"{KC_VID}/backupPolicies/{policy}"}})
    put = Request("PUT", req.host, f"{rs.item_id(KC_VID, rg, name)}?api-version={req.query['api-version']}",
                  {**req.headers, "content-type": "application/json"}, body.encode())
    answer = original(put)
    assert answer.status in (200, 201, 202), f"the other run's PUT was refused: {answer.status}"


def other_run_protects_first(server, monkeypatch, policy: str):
    """Before B's first protectable-items list is answered, serve A's PUT of the same VM's protection."""
    original = server.call_sim
    fired = []

    def call_sim(req):
        if not fired and req.method == "GET" and req.path.lower().endswith("/backupprotectableitems"):
            fired.append(req.path)
            protect_as_another_run(original, req, VM_ID, policy)
        return original(req)

    monkeypatch.setattr(server, "call_sim", call_sim)
    return fired


def item_puts(requests):
    return [r for r in writes(requests) if "/protecteditems/" in r["path"].lower()]


def test_a_vm_protected_by_the_same_vault_meanwhile_counts_as_done(azure_sim, monkeypatch):
    arrange(azure_sim)
    fired = other_run_protects_first(azure_sim, monkeypatch, "cvm-daily")
    result = run_module(azure_sim, "cvm_protection", {"vault": KC, "policy": "cvm-daily", "vms": ["/".join(VM)]})
    assert fired, "the overlap was not produced: run B never listed the protectable VMs"
    assert not result.get("failed"), result.get("msg")
    assert "not discoverable" not in json.dumps(result)
    [vm] = result["vms"]
    assert vm["action"] == "none" and not vm["changed"] and vm["policy"] == "cvm-daily"
    assert not item_puts(azure_sim.requests()), "run B wrote nothing: run A's PUT is not in the module's log"
    assert "by another run meanwhile" in json.dumps(result.get("warnings"))
    again = run_module(azure_sim, "cvm_protection", {"vault": KC, "policy": "cvm-daily", "vms": ["/".join(VM)]})
    assert not again.get("failed") and not again["changed"]


def test_a_vm_protected_meanwhile_with_another_policy_gets_the_wanted_one(azure_sim, monkeypatch):
    arrange(azure_sim, ("cvm-daily", "cvm-other"))
    other_run_protects_first(azure_sim, monkeypatch, "cvm-other")
    result = run_module(azure_sim, "cvm_protection", {"vault": KC, "policy": "cvm-daily", "vms": ["/".join(VM)]})
    assert not result.get("failed"), result.get("msg")
    [vm] = result["vms"]
    assert vm["action"] == "change_policy" and vm["changed"] and vm["policy"] == "cvm-daily"
    assert len(item_puts(azure_sim.requests())) == 1


def other_runs_protect_while_listing(server, monkeypatch, target: tuple, times: int):
    """While B reads the protectable VMs page by page (one VM a page), other runs (AWX slices) protect the first VM of
    the list just before B asks for the page at `target`'s index: the list shifts by one and B never sees `target`,
    in each of B's first `times` reads that reach it. Returns the VMs the others protected."""
    original, sim = server.call_sim, server.sim
    protected = []

    def current():
        done = rs.state(sim)["vm_vault"]
        return [k for k in rs.discovered(sim, KC_VID) if k not in done]

    def call_sim(req):
        if (len(protected) < times and req.method == "GET" and req.path.lower().endswith("/backupprotectableitems")):
            with sim.lock:
                keys = current()
                names = [sim.store.get(k)["name"] for k in keys]
            if target[1] in names and names.index(target[1]) >= 1 and req.query.get("$skiptoken") == str(names.index(target[1])):
                other = sim.store.get(keys[0])
                protect_as_another_run(original, req, other["id"], "cvm-daily")
                protected.append(other["name"])
        return original(req)

    monkeypatch.setattr(server, "call_sim", call_sim)
    return protected


def test_a_vm_skipped_by_lists_shifting_under_other_slices_is_still_protected(azure_sim, monkeypatch):
    """Issue 19 (4 slices at once): a VM that two reads of the protectable list missed, because other slices protected
    VMs of the same vault between two pages, is found by a further read and protected, not refused."""
    arrange(azure_sim)
    sim = azure_sim.sim
    sim.config["page_size"] = 1
    target = ("rg-cvm-kc", "cvm-rbac-01")  # third in the vault's list, after cvm-pmk-01 and cvm-kv-01
    others = other_runs_protect_while_listing(azure_sim, monkeypatch, target, times=2)
    result = run_module(azure_sim, "cvm_protection", {"vault": KC, "policy": "cvm-daily", "vms": ["/".join(target)]})
    assert not result.get("failed"), result.get("msg")
    assert len(others) == 2, f"the shifting lists were not produced: other runs protected {others}"
    [vm] = result["vms"]
    assert vm["action"] == "protect" and vm["changed"]
    assert [p["path"] for p in item_puts(azure_sim.requests()) if target[1] in p["path"]], "the VM was not protected"
