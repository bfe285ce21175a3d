"""Hostile names against every module that puts a name into a request path (issue 17 item 1).

Each module gets the same hostile values (`..`, `/`, `%2F`, `?`, `#`, `\\`, control characters, 300 characters,
look-alike unicode, a resource group and a subscription id that climb the path) in the option that names its resource.
Every case must fail with one sentence, no traceback, no write and no request at all: the names are checked
(module_utils/names.py, declared per option in base.AzureCvmModule) before the first request.

The matrix (16 modules x 12-13 cases) runs each module's real main() in this process with ansible-core's own unit-test
entry (ansible.module_utils.testing.patch_module_args) and the local Azure's environment, so a module that let a name
through would send its requests to the local Azure, whose log is read after every case: ~30 ms a case instead of a
process each. One ansible-playbook run then sends one hostile case to every module the way a playbook does (the
output Ansible prints, no traceback), and the serious cases of the review (reliability-2026-12.md D1, D2: the traversal
names that deleted another Azure Local VM and wrote a policy into another vault) are playbook regression tests.
"""

from __future__ import annotations

import importlib
import json
import os
from urllib.parse import unquote

import pytest

from tests.sim_helpers import COLLECTION, REPO_ROOT, run_module_in_process, writes
from tests.transition_helpers import last_seq, run_play

SIGN_IN = "login.microsoftonline.com"
RG_BACKUP, RG_KC, RG_UAE, RG_LOCAL = "rg-backup", "rg-cvm-kc", "rg-cvm-uae", "rg-azlocal"
VAULT = {"name": "rsv-cvm-kc", "resource_group": RG_BACKUP}

# The hostile values: (label, value). Each is refused by every name rule of module_utils/names.py.
HOSTILE = [
    ("dot-dot traversal", "no-such/../victim"),
    ("dot-dot alone", ".."),
    ("encoded slash", "x%2F..%2Fvictim"),
    ("query", "x?api-version=2016-01-01"),
    ("fragment", "x#/../victim"),
    ("backslash", "x\\..\\victim"),
    ("newline", "x\nvictim"),
    ("escape character", "x\x1b[31mvictim"),
    ("300 characters", "a" * 300),
    ("look-alike unicode", "rsv-\u0441vm-kc"),  # Cyrillic es instead of the Latin c
    ("right-to-left override", "x\u202evictim"),
]

# module -> (the option that names its resource, how to set it from a value, the other arguments)
MODULES = {
    "azure_local_vm": lambda v: {"name": v, "resource_group": RG_LOCAL, "state": "absent"},
    "azure_local_vm_info": lambda v: {"name": v, "resource_group": RG_LOCAL},
    "backup_management_service_info": lambda v: {"principal_id": v},
    "backup_job_info": lambda v: {"vault": {"name": v, "resource_group": RG_BACKUP}},
    "backup_posture_info": lambda v: {"vms": [{"resource_group": RG_KC, "name": v}]},
    "backup_policy": lambda v: {"name": v, "vault": VAULT},
    "cvm_protection": lambda v: {"vault": VAULT, "policy": "DefaultPolicy", "vms": [{"resource_group": RG_KC, "name": v}]},
    "cvm_protection_info": lambda v: {"vault": VAULT, "vms": [{"resource_group": RG_KC, "name": v}]},
    "cvm_readiness_info": lambda v: {"vms": [{"resource_group": RG_KC, "name": v}]},
    "cvm_restore": lambda v: {"vm": {"resource_group": RG_KC, "name": v}, "vault": VAULT,
                              "staging_storage_account": "stcvmrestorekc", "target_resource_group": RG_KC},
    "drill_resources": lambda v: {"resource_group": "rg-cvm-drill-koreacentral", "drill_id": "drill-t1", "resources": [v]},
    "keyvault_backup_access": lambda v: {"vault": v, "resource_group": RG_KC},
    "mhsm_role_assignment": lambda v: {"hsm": v, "resource_group": RG_UAE, "key": "cvm-hsm-key"},
    "mhsm_role_assignment_info": lambda v: {"hsm": v, "resource_group": RG_UAE},
    "mhsm_role_definition": lambda v: {"hsm": v, "resource_group": RG_UAE, "role_name": "Backup Key Reader"},
    "preview_feature": lambda v: {"name": v},
    "preview_feature_info": lambda v: {"names": [v]},
    "recovery_point_info": lambda v: {"vault": {"name": v, "resource_group": RG_BACKUP}, "vm": f"{RG_KC}/cvm-pmk-01"},
    "recovery_vault": lambda v: {"name": v, "resource_group": RG_BACKUP, "location": "koreacentral"},
    "recovery_vault_info": lambda v: {"name": v, "resource_group": RG_BACKUP},
}

# A second option of each kind that several modules share: the resource group and the subscription id.
EXTRA = [
    ("resource group traversal", "resource_group", "rg/../../rg-backup"),
    ("subscription id traversal", "subscription_id", "../../providers"),
]
HAS_RESOURCE_GROUP = {"azure_local_vm", "azure_local_vm_info", "drill_resources", "keyvault_backup_access", "mhsm_role_assignment",
                      "mhsm_role_assignment_info", "mhsm_role_definition", "recovery_vault",
                      "recovery_vault_info"}


def cases() -> list[tuple[str, str, dict]]:
    out = []
    for module, make in MODULES.items():
        base = make("placeholder-ok")
        out += [(module, label, make(value)) for label, value in HOSTILE]
        for label, option, value in EXTRA:
            if option != "resource_group" or module in HAS_RESOURCE_GROUP:
                out.append((module, label, {**base, option: value}))
    return out


def run_tasks(server, tasks: list[dict], timeout: int = 600) -> list[dict]:
    """The tasks in one ansible-playbook (each ignore_errors); per task {task, status, result, requests}."""
    proc, results = run_play(server, "hostile input", tasks, timeout)
    assert len(results) == len(tasks), f"ran {len(results)} of {len(tasks)} tasks (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    return results


def task(name: str, module: str, args: dict, **keywords) -> dict:
    return {"name": name, f"{COLLECTION}.{module}": args, "ignore_errors": True, **keywords}


def one_sentence_refusal(entry: dict) -> str | None:
    """None when the task failed with one readable sentence, no traceback, and made no request at all; else why."""
    result, msg = entry["result"], str(entry["result"].get("msg") or "")
    if not result.get("failed"):
        return f"accepted (changed={result.get('changed')})"
    if "Traceback" in json.dumps(result) or msg.startswith(("Unexpected error", "Task failed", "Module failed")):
        return f"not a handled failure: {msg[:200]}"
    if "\n" in msg or not msg.endswith(".") or "is not a" not in msg:
        return f"not one sentence naming the bad value: {msg[:200]!r}"
    made = [(r["method"], r["host"], r["path"]) for r in entry["requests"] if r["host"] != SIGN_IN]
    if writes(entry["requests"]) or made:
        return f"requests were made: {made[:3]}"
    return None


def run_in_process(server, module: str, args: dict) -> dict:
    """The module's main() with `args`, here (sim_helpers.run_module_in_process), in this process's environment (the
    fixture's local Azure settings and what a test sets on top): {task, status, result, requests} like run_tasks'."""
    since = last_seq(server)
    result = run_module_in_process(None, module, args)
    return {"task": module, "status": "failed" if result.get("failed") else "ok", "result": result,
            "requests": server.requests(since)}


@pytest.fixture(scope="module")
def hostile_results(sim_server):
    sim_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in sim_server.env.items():
            patch.setenv(key, value)
        return {(module, label): run_in_process(sim_server, module, args) for module, label, args in cases()}


def test_every_module_that_takes_a_name_gets_at_least_ten_hostile_cases():
    per_module = {}
    for module, _label, _args in cases():
        per_module[module] = per_module.get(module, 0) + 1
    assert set(per_module) == set(MODULES)
    assert min(per_module.values()) >= 10, per_module
    # every module whose documentation has a name of an Azure resource is here (controller-only modules are not)
    documented = {f[:-3] for f in os.listdir(os.path.join(REPO_ROOT, "plugins", "modules")) if f.endswith(".py")}
    controller_only = {"azure_local_tvm_review", "azure_local_tvm_store", "azure_local_tvm_wrapping_key"}
    no_resource_name = {"subscription_info"}  # one tenant-level list (GET /subscriptions); no option reaches a path
    assert documented - controller_only - no_resource_name == set(MODULES)


@pytest.mark.parametrize("module,label", [(m, c) for m, c, _a in cases()], ids=str)
def test_hostile_name_is_refused_before_any_request(hostile_results, module, label):
    why = one_sentence_refusal(hostile_results[(module, label)])
    assert why is None, f"{module} with {label}: {why}"


def test_a_hostile_name_through_ansible_playbook_for_every_module(azure_sim):
    """The same refusal the way a playbook sees it: one task per module (the traversal value), one process."""
    names = list(MODULES)
    entries = run_tasks(azure_sim, [task(module, module, MODULES[module]("no-such/../victim")) for module in names])
    problems = {module: one_sentence_refusal(entry) for module, entry in zip(names, entries)}
    assert not {module: why for module, why in problems.items() if why}


LOCAL_ID = f"/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/{RG_LOCAL}/providers/Microsoft.AzureStackHCI"


@pytest.mark.parametrize("option,value", [
    ("image", "../../machines/std-vm-01"), ("image", f"{LOCAL_ID}/galleryImages/x/../../../../Microsoft.HybridCompute/machines/v"),
    ("network_interfaces", ["nic-ok", "nic/../../x"]), ("storage_path", "x?$expand=all"), ("custom_location", "cl#x"),
    ("custom_location", f"{LOCAL_ID}//customLocations/x")])
def test_azure_local_vm_references_are_one_segment_or_a_clean_id(azure_sim, option, value):
    entry = run_in_process(azure_sim, "azure_local_vm", {"name": "tvm-new-01", "resource_group": RG_LOCAL, option: value})
    assert one_sentence_refusal(entry) is None, entry["result"].get("msg")


def test_an_accepted_look_alike_resource_group_reaches_only_that_group(azure_sim):
    """Azure allows Unicode letters in resource group names, so a look-alike group is a name like any other: the
    module asks for that group (one segment; the local Azure logs paths decoded) and nothing else, and writes nothing."""
    group = "rg-\u0430zlocal"  # Cyrillic a
    result = run_in_process(azure_sim, "azure_local_vm_info", {"resource_group": group})
    assert result["result"]["failed"] and "Traceback" not in json.dumps(result["result"])
    made = [r for r in result["requests"] if r["host"] != SIGN_IN]
    assert made and not writes(made)
    assert all(f"/resourceGroups/{group}/" in unquote(r["path"]) for r in made), [r["path"] for r in made]


# ------------------------------------------------------------------------------------------------ the serious cases

def test_azure_local_vm_traversal_name_deletes_nothing(azure_sim):
    """D1: `no-such/../tvm-ws2022-01, state: absent` deleted tvm-ws2022-01; check mode planned it."""
    args = {"name": "no-such/../tvm-ws2022-01", "resource_group": RG_LOCAL, "state": "absent"}
    entries = run_tasks(azure_sim, [task("check", "azure_local_vm", args, check_mode=True), task("real", "azure_local_vm", args),
                                    task("still there", "azure_local_vm_info", {"name": "tvm-ws2022-01", "resource_group": RG_LOCAL})])
    for entry in entries[:2]:
        assert one_sentence_refusal(entry) is None, entry["result"].get("msg")
        assert "name 'no-such/../tvm-ws2022-01' is not a valid Azure Local VM (Arc machine) name" in entry["result"]["msg"]
    assert not entries[2]["result"]["failed"] and [v["name"] for v in entries[2]["result"]["vms"]] == ["tvm-ws2022-01"]


def test_backup_policy_traversal_name_writes_no_policy_into_another_vault(azure_sim):
    """D2: `x/../../../rsv-cvm-uae/backupPolicies/evilpol` wrote a policy into rsv-cvm-uae."""
    args = {"name": "x/../../../rsv-cvm-uae/backupPolicies/evilpol", "vault": VAULT}
    entries = run_tasks(azure_sim, [task("check", "backup_policy", args, check_mode=True), task("real", "backup_policy", args)])
    for entry in entries:
        assert one_sentence_refusal(entry) is None, entry["result"].get("msg")
        assert "is not a valid backup policy name" in entry["result"]["msg"]
    after = azure_sim.requests()
    assert not writes(after)


def test_resource_ids_with_traversal_segments_are_refused(azure_sim):
    """An id form is checked as well as a name: a VM or vault id whose name is '..' never reaches Azure."""
    vm_id = f"/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/{RG_KC}/providers/Microsoft.Compute/virtualMachines/.."
    vault_id = "/subscriptions/3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/.."
    entries = run_tasks(azure_sim, [task("vm id", "cvm_protection_info", {"vault": VAULT, "vms": [vm_id]}),
                                    task("vault id", "backup_job_info", {"vault": vault_id})])
    for entry in entries:
        assert one_sentence_refusal(entry) is None, entry["result"].get("msg")


# ------------------------------------------------------------------------------------------------ messages (item 7)

def test_tls_failure_during_sign_in_names_the_ca_bundle_setting(azure_sim, monkeypatch):
    """A CA bundle that does not hold the (proxy's) CA: sign-in fails, and the sentence says what to set."""
    import certifi  # pylint: disable=import-outside-toplevel  # requests' own bundle: it knows no local CA

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    entry = run_in_process(azure_sim, "preview_feature_info", {"names": ["RestorePointSupportForConfidentialVMV2"], "provider_namespace": "Microsoft.Compute"})
    msg = entry["result"]["msg"]
    assert entry["result"]["failed"] and "Traceback" not in msg
    assert "sign-in failed" in msg and "REQUESTS_CA_BUNDLE" in msg, msg
    assert "[Errno" not in msg and not writes(entry["requests"])


@pytest.mark.parametrize("where,reason", [("folder", "give a file path, not a folder"),
                                          ("/proc/no-such/key.pem", "its folder does not exist and could not be made")])
def test_wrapping_key_file_errors_are_sentences_without_errno(tmp_path, where, reason):
    path = str(tmp_path) if where == "folder" else where
    entry = run_in_process_controller("azure_local_tvm_wrapping_key", {"path": path})
    msg = entry["msg"]
    assert entry["failed"] and "[Errno" not in msg and reason in msg and msg.endswith("."), msg


def run_in_process_controller(module: str, args: dict) -> dict:
    return run_module_in_process(None, module, args)


# ------------------------------------------------------------------------------------------------ ranges and formats (item 4)

OTHER_SUB = "00000000-1111-2222-3333-444444444444"
OTHER_VAULT_ID = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
EVIL_HSM = "https://hsm-cvm-uae.managedhsm.azure.net.evil.example/"

REFUSED = [
    ("recovery_vault", {"name": "rsv-new", "resource_group": RG_BACKUP, "location": "koreacentral", "timeout": -1},
     "timeout must be 1 or more, got -1."),
    ("preview_feature", {"name": "RestorePointSupportForConfidentialVMV2", "timeout": 0}, "timeout must be 1 or more, got 0."),
    ("azure_local_vm", {"name": "tvm-win11-01", "resource_group": RG_LOCAL, "processors": -4}, "processors must be 1 or more"),
    ("azure_local_vm", {"name": "tvm-win11-01", "resource_group": RG_LOCAL, "memory_mb": 0}, "memory_mb must be 1 or more"),
    ("mhsm_role_assignment", {"hsm": "hsm-cvm-uae", "resource_group": RG_UAE, "key": "cvm-hsm-key", "timeout": -1},
     "timeout must be 1 or more"),
    ("keyvault_backup_access", {"vault": "kv-cvm-kc", "resource_group": RG_KC, "settle_seconds": -5}, "settle_seconds must be 0 or more"),
    ("backup_policy", {"name": "pol-zero", "vault": VAULT, "retention": {"daily_days": 0}}, "retention.daily_days must be 7-9999, got 0."),
    ("backup_policy", {"name": "pol-zero", "vault": VAULT, "instant_restore_days": 0}, "instant_restore_days must be 1-30"),
    ("backup_policy", {"name": "pol-zero", "vault": VAULT, "frequency": "hourly", "hourly_window_hours": 0},
     "hourly_window_hours must be between hourly_interval (4) and 24, got 0."),
    ("backup_policy", {"name": "pol-mars", "vault": VAULT, "time_zone": "Mars/Olympus"}, "time_zone must be a Windows time zone name"),
    ("mhsm_role_assignment", {"hsm_uri": EVIL_HSM, "key": "cvm-hsm-key"}, "is not a Managed HSM URI (https://<name>.managedhsm.azure.net/)"),
    ("mhsm_role_assignment_info", {"hsm_uri": "https://hsm-cvm-uae.managedhsm.azure.net@evil.example/"}, "is not a Managed HSM URI"),
    ("mhsm_role_definition", {"hsm_uri": EVIL_HSM, "role_name": "Backup Key Reader"}, "is not a Managed HSM URI"),
    ("recovery_vault", {"name": "rsv-new", "resource_group": RG_BACKUP, "location": "atlantis"}, "'atlantis' is not an Azure region"),
    ("backup_job_info", {"vault": OTHER_VAULT_ID}, f"is in subscription {OTHER_SUB}"),
    ("recovery_point_info", {"vault": OTHER_VAULT_ID, "vm": f"{RG_KC}/cvm-pmk-01"}, f"is in subscription {OTHER_SUB}"),
]


@pytest.mark.parametrize("module,args,expected", REFUSED, ids=[f"{m}-{i}" for i, (m, _a, _e) in enumerate(REFUSED)])
def test_out_of_range_values_are_refused_before_any_write(azure_sim, module, args, expected):
    entry = run_in_process(azure_sim, module, args)
    msg = str(entry["result"].get("msg"))
    assert entry["result"]["failed"] and expected in msg, msg
    assert "\n" not in msg and "Traceback" not in msg and not writes(entry["requests"])


def test_naive_and_aware_times_are_both_accepted(azure_sim):
    times = {"start_time": "2026-01-01T00:00:00", "end_time": "2026-01-02T00:00:00Z"}
    entry = run_in_process(azure_sim, "backup_job_info", {"vault": VAULT, **times})
    assert not entry["result"].get("failed"), entry["result"].get("msg")
    assert "2026-01-01" in entry["result"]["filter"] and "2026-01-02" in entry["result"]["filter"]


def test_key_with_all_keys_false_is_accepted_and_key_with_all_keys_true_is_refused(azure_sim):
    base = {"hsm": "hsm-cvm-uae", "resource_group": RG_UAE, "key": "cvm-hsm-key", "_ansible_check_mode": True}
    ok = run_in_process(azure_sim, "mhsm_role_assignment", {**base, "all_keys": False})
    assert not ok["result"].get("failed"), ok["result"].get("msg")
    assert ok["result"]["assignment"]["scope"] == "/keys/cvm-hsm-key" and not writes(ok["requests"])
    both = run_in_process(azure_sim, "mhsm_role_assignment", {**base, "all_keys": True})
    assert both["result"]["failed"] and "mutually exclusive" in both["result"]["msg"] and not both["requests"]


def test_protection_info_says_not_found_for_a_vm_that_does_not_exist(azure_sim):
    entry = run_in_process(azure_sim, "cvm_protection_info", {"vault": VAULT, "vms": [f"{RG_KC}/no-such-vm", f"{RG_KC}/cvm-pmk-01"]})
    assert not entry["result"].get("failed"), entry["result"].get("msg")
    states = {i["name"]: i["protection_state"] for i in entry["result"]["items"]}
    assert states == {"no-such-vm": "NotFound", "cvm-pmk-01": "NotProtected"}
    assert "no-such-vm was not found" in json.dumps(entry["result"].get("warnings"))  # 2.19: warnings are summaries


# ------------------------------------------------------------------------------------------------ regions (item 4)

DEMO_SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
NEW_VAULT = {"name": "rsv-new-tw", "resource_group": RG_BACKUP}


def listed_regions(server) -> list:
    with server.sim.lock:
        return server.sim.ext["locations"][DEMO_SUB]


def location_reads(entry: dict) -> list:
    return [r for r in entry["requests"] if r["path"] == f"/subscriptions/{DEMO_SUB}/locations"]


def test_a_region_the_subscription_lists_but_the_built_in_list_lacks_is_accepted(azure_sim):
    names = importlib.import_module("ansible_collections.azure_cvm.backup.plugins.module_utils.names")
    assert "taiwannorth" not in names.AZURE_REGIONS  # else this test shows nothing
    listed_regions(azure_sim).append("Taiwan North")
    entry = run_in_process(azure_sim, "recovery_vault", {**NEW_VAULT, "location": "taiwannorth", "_ansible_check_mode": True})
    assert not entry["result"].get("failed"), entry["result"].get("msg")
    assert entry["result"]["changed"] and not writes(entry["requests"])  # check mode: the create is planned
    assert len(location_reads(entry)) == 1  # one read per run
    shown_name = run_in_process(azure_sim, "drill_resources", {"resource_group": "rg-drill-tw", "drill_id": "drill-tw",
                                                               "location": "Taiwan North", "_ansible_check_mode": True})
    assert not shown_name["result"].get("failed"), shown_name["result"].get("msg")


def test_a_region_the_subscription_does_not_list_is_refused_with_the_closest_names_and_no_write(azure_sim):
    listed_regions(azure_sim).append("Taiwan North")
    entry = run_in_process(azure_sim, "recovery_vault", {**NEW_VAULT, "location": "taiwannorthh"})
    msg = str(entry["result"].get("msg"))
    assert entry["result"]["failed"] and not writes(entry["requests"]) and len(location_reads(entry)) == 1
    assert msg.startswith(f"location 'taiwannorthh' is not an Azure region of subscription {DEMO_SUB} "
                          "(the closest listed are taiwannorth") and msg.endswith(").") and "\n" not in msg, msg
    real_elsewhere = run_in_process(azure_sim, "recovery_vault", {**NEW_VAULT, "location": "denmarkeast"})
    assert real_elsewhere["result"]["failed"] and "'denmarkeast' is not an Azure region" in real_elsewhere["result"]["msg"]
    assert not writes(real_elsewhere["requests"])


def test_a_refused_region_list_falls_back_to_the_built_in_list_with_a_warning(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "error", "status": 403, "path": "/locations$"}]})
    known = run_in_process(azure_sim, "recovery_vault", {**NEW_VAULT, "location": "koreacentral", "_ansible_check_mode": True})
    assert not known["result"].get("failed"), known["result"].get("msg")
    assert "Could not read the regions" in json.dumps(known["result"].get("warnings"))
    newer = run_in_process(azure_sim, "recovery_vault", {**NEW_VAULT, "location": "taiwannorth"})
    msg = str(newer["result"].get("msg"))
    assert newer["result"]["failed"] and "of the collection's built-in list" in msg and "\n" not in msg
    assert not writes(newer["requests"])


def test_a_module_without_a_region_option_set_reads_no_region_list(azure_sim):
    entry = run_in_process(azure_sim, "recovery_vault", {"name": "rsv-cvm-kc", "resource_group": RG_BACKUP})
    assert not entry["result"].get("failed") and not location_reads(entry)
