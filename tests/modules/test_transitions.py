"""Every writing path of every module that writes, with the same properties (the table: transitions.yml).

For each step of a chain, through the local Azure with the real module and SDKs:
- check mode makes no write and reports `changed` as the real run then does (the table says which);
- the check-mode diff and the real run's diff hold the table's before/after, and the check-mode diff is the real one;
- the real run makes exactly the table's writes (method and path, in order);
- a second run makes no write, reports `changed: false` and a diff whose before is its after.
And every option that can change state is exercised by a step, or listed with a reason as not state-changing.
The three controller-side azure_local_tvm_* modules are not here (they call no Azure API of the local Azure).
"""

from __future__ import annotations

import os

import pytest
import yaml

from tests.azure_sim import recoveryservices as sim_rs
from tests.transition_helpers import contains, exercised, match_writes, module_options, option_paths, run_chain, writes

TABLE_PATH = os.path.join(os.path.dirname(__file__), "transitions.yml")
with open(TABLE_PATH, encoding="utf-8") as _handle:
    TABLE = {k: v for k, v in yaml.safe_load(_handle).items() if not k.startswith("_")}

WRITING_MODULES = {"preview_feature", "mhsm_role_definition", "mhsm_role_assignment", "keyvault_backup_access",
                   "recovery_vault", "backup_policy", "cvm_protection", "cvm_restore", "azure_local_vm", "drill_resources"}
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
KC_VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
UAE_VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-uae"


# ------------------------------------------------------------------------------------------------ arrangements


def cvm_policies(server):
    """The CVM restore-point feature registered; Enhanced policies cvm-daily and cvm-hourly in rsv-cvm-kc, cvm-daily in
    rsv-cvm-uae (as tests/modules/test_cvm_protection.py arranges them)."""
    sim = server.sim
    with sim.lock:
        sim.ext["features"][SUB][("microsoft.compute", "restorepointsupportforconfidentialvmv2")]["state"] = "Registered"
        sim_rs.add_policy(sim, KC_VAULT, "cvm-daily", sim_rs.compact_policy({"time": "21:00"}))
        sim_rs.add_policy(sim, KC_VAULT, "cvm-hourly", sim_rs.compact_policy({"frequency": "Hourly", "interval": 4, "time": "08:00"}))
        sim_rs.add_policy(sim, UAE_VAULT, "cvm-daily", sim_rs.compact_policy({}))


def cvm_backed_up(server):
    """cvm-kv-01 protected in rsv-cvm-kc with one completed backup, and a second confidential DES des-cvm-kv-new."""
    from tests.modules.test_cvm_restore import add_replacement_des, protect_and_backup

    protect_and_backup(server)
    add_replacement_des(server)


ARRANGE = {"cvm_policies": cvm_policies, "cvm_backed_up": cvm_backed_up}


# ------------------------------------------------------------------------------------------------ the transitions


def chains():
    for module, entry in TABLE.items():
        for chain in entry["chains"]:
            yield pytest.param(module, chain, id=f"{module}-{chain['name']}")


def step_failures(step: dict, run: dict) -> list[str]:
    """What is wrong with one step's three runs, as sentences (empty when the step behaves as the table says). A
    step marked `check_diff_bug` (a known module bug in its check-mode diff) must show at least one check-mode diff
    problem, and only those are excused: every other property is still held."""
    problems = _step_failures(step, run)
    if not step.get("check_diff_bug"):
        return problems
    excused = [p for p in problems if p.startswith(("check diff", "check:", "the check-mode diff"))]
    if not excused:
        return [f"marked check_diff_bug ({step['check_diff_bug']}) but its check-mode diff is right: remove the mark"]
    return [p for p in problems if p not in excused]


def _step_failures(step: dict, run: dict) -> list[str]:
    check, apply, again = run.get("check"), run.get("apply"), run.get("again")
    if not (check and apply and again):
        return [f"did not run all three times: {sorted(run)}"]
    problems = []
    for phase, entry in (("check", check), ("apply", apply), ("again", again)):
        if entry["result"]["failed"]:
            problems.append(f"{phase} failed: {entry['result'].get('msg')}")
    if problems:
        return problems
    want_changed = step.get("changed", True)
    if writes(check["requests"]):
        problems.append(f"check mode wrote: {[(r['method'], r['path']) for r in writes(check['requests'])]}")
    if check["result"]["changed"] is not want_changed:
        problems.append(f"check mode reported changed={check['result']['changed']}, the table says {want_changed}")
    if apply["result"]["changed"] is not want_changed:
        problems.append(f"the real run reported changed={apply['result']['changed']}, the table says {want_changed}")
    why = match_writes(apply["requests"], step.get("writes", []))
    if why:
        problems.append(f"the real run: {why}")
    if writes(again["requests"]):
        problems.append(f"the second run wrote: {[(r['method'], r['path']) for r in writes(again['requests'])]}")
    if again["result"]["changed"] is not False:
        problems.append("the second run reported changed")
    for phase, entry in (("check", check), ("apply", apply)):
        diff = entry["result"].get("diff")
        if diff is None:
            problems.append(f"{phase}: no diff with --diff")
            continue
        expected = (step.get("check_diff") if phase == "check" else None) or step.get("diff") or {}
        for side in ("before", "after"):
            if side in expected:
                why = contains(diff.get(side), expected[side], side)
                if why:
                    problems.append(f"{phase} diff {why}")
        if want_changed and diff.get("before") == diff.get("after"):
            problems.append(f"{phase}: a change with a diff whose before is its after")
    if not step.get("check_diff_differs") and check["result"].get("diff") != apply["result"].get("diff"):
        problems.append(f"the check-mode diff {check['result'].get('diff')} is not the real run's {apply['result'].get('diff')}")
    again_diff = again["result"].get("diff") or {}
    if again_diff.get("before") != again_diff.get("after"):
        problems.append(f"the second run's diff has a change: {again_diff}")
    return problems


@pytest.mark.parametrize("module,chain", chains())
def test_transition_chain(azure_sim, module, chain):
    if chain.get("arrange"):
        ARRANGE[chain["arrange"]](azure_sim)
    run = run_chain(azure_sim, module, chain["steps"], chain.get("given"))
    report, unexpected_pass = [], []
    for index, (step, outcome) in enumerate(zip(chain["steps"], run["steps"])):
        problems = step_failures(step, outcome)
        if step.get("xfail"):
            if not problems:
                unexpected_pass.append(f"step {index} ({step['name']}) passes but is marked xfail: {step['xfail']}")
            continue
        report += [f"step {index} ({step['name']}): {p}" for p in problems]
    assert not unexpected_pass, "\n".join(unexpected_pass)
    assert not report, "\n".join(report)


# ------------------------------------------------------------------------------------------------ the inventory


def test_every_writing_module_has_a_table():
    assert set(TABLE) == WRITING_MODULES


@pytest.mark.parametrize("module", sorted(WRITING_MODULES))
def test_every_state_changing_option_has_a_transition(module):
    """A new option without a step (or a reason why it changes nothing) fails here."""
    options = module_options(module)
    entry = TABLE[module]
    listed = entry.get("not_state_changing") or {}
    assert all(isinstance(why, str) and why.strip() and why != "UNSURE" for why in listed.values()), listed
    unknown = set(listed) - set(option_paths(options))
    assert not unknown, f"not_state_changing names options {module} does not have: {sorted(unknown)}"
    seen = set()
    for chain in entry["chains"]:
        for step in chain["steps"]:
            step.setdefault("name", "?")
        seen |= exercised(options, chain["steps"])
    specs = option_paths(options)
    # a suboption of a list (data_disk_encryption_sets[].lun) is set with its list: exercised when the list is
    in_list = {path for path in specs if "." in path and specs[path.rsplit(".", 1)[0]].get("type") == "list"}
    missing = sorted(path for path in specs if path not in seen and path not in listed and path.split(".")[0] not in listed
                     and not (path in in_list and path.rsplit(".", 1)[0] in seen))
    assert not missing, f"{module}: options no transition exercises and none listed as not state-changing: {missing}"
