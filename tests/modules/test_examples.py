"""Every module's EXAMPLES really run: each module's examples, as one playbook in check mode, against the demo estate.

Check mode keeps the examples from depending on each other's writes; the modules still sign in, read and validate
everything for real. What the examples assume besides the pristine demo (a registered feature, a policy, a protected
VM with a recovery point and a restore job, a replacement DES, a custom HSM role, a new Arc machine) is arranged by
`prepare`; values a
surrounding playbook would have registered are in EXAMPLE_VARS; the few example tasks that need another estate are in
ELSEWHERE, with the reason (the list must match the examples exactly, so it cannot rot).
"""

from __future__ import annotations

import ast
import base64
import os

import pytest
import yaml

from tests.azure_sim import azurelocal as sim_azurelocal
from tests.azure_sim import recoveryservices as sim_rs
from tests.azure_sim import resources as sim_resources
from tests.modules.test_cvm_restore import ARM, BACKUP_API, SUB, VAULT_ID, add_replacement_des, item_path, points, \
    protect_and_backup, wait_job
from tests.sim.inproc import call
from tests.sim_helpers import REPO_ROOT, run_playbook, writes

MODULES_DIR = os.path.join(REPO_ROOT, "plugins", "modules")
HSM = "https://hsm-cvm-uae.managedhsm.azure.net"

# What the tasks around an example would have registered, or a vaulted secret would hold.
EXAMPLE_VARS = {
    "vault_vm_admin_password": "Example-Passw0rd!",
    "vault_tvm_wrapping_key_passphrase": "an example passphrase",
    "host_facts": {"solution_version": "12.2505.1001.5", "moc": {"version": "1.14.1.10414", "module_version": "1.2.27"}},
    "key_backup": {"files": {"AES/vm-1_256.json": base64.b64encode(b'{"key": "wrapped"}').decode()}},
}
# (module, example task name) -> why it cannot run in the demo estate
ELSEWHERE = {
    ("cvm_protection", "Every CVM of the fleet resource groups in the vault's region"): "names the fleet estate",
    ("cvm_readiness_info", "Fail the play when a VM to protect is not ready"): "fails on purpose: the demo has unready VMs",
    ("azure_local_tvm_store", "Read the newest one back"): "reads a key backup folder an earlier backup wrote to disk",
    ("azure_local_tvm_wrapping_key", "The private key for a restore, into a private temporary folder (delete it afterwards)"):
        "reads the key file the first example writes, which check mode does not write",
    ("azure_local_vm", "Resize it (the security profile stays as it is)"): "resizes the VM the first example creates in check mode",
}


def module_examples() -> dict[str, list]:
    out = {}
    for filename in sorted(os.listdir(MODULES_DIR)):
        if not filename.endswith(".py"):
            continue
        with open(os.path.join(MODULES_DIR, filename), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES":
                out[filename[:-3]] = yaml.safe_load(node.value.value)
    return out


EXAMPLES = module_examples()


def prepare(server) -> dict:
    """Arrange the estate the examples talk about; returns the variables that depend on it."""
    sim = server.sim
    sim.config["feature_registration_seconds"] = 0
    call(sim, "POST", f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.Compute/features/"
                      "RestorePointSupportForConfidentialVMV2/register?api-version=2021-07-01")
    with sim.lock:
        sim_resources.feature_table(sim, SUB)[("microsoft.recoveryservices", "somepreviewfeature")] = \
            sim_resources.feature_seed("Microsoft.RecoveryServices/SomePreviewFeature", "Registered")
        sim_rs.add_policy(sim, VAULT_ID, "cvm-enhanced-daily", sim_rs.compact_policy({"name": "cvm-enhanced-daily"}))
        machine = sim_azurelocal.machine_body(sim, SUB, "rg-azlocal", "eastus", "tvm-ws2022-02")  # an Arc machine, no VM yet
        sim.store.put(machine["id"], machine)
    protect_and_backup(server)  # cvm-kv-01 protected in rsv-cvm-kc, one recovery point in both tiers
    add_replacement_des(server, "des-cvm-kv-restore")
    rp = points(server)[0]["name"]
    restore = call(sim, "POST", f"{ARM}{item_path()}/recoveryPoints/{rp}/restore?api-version={BACKUP_API}",
                   {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryPointId": rp, "recoveryType": "RestoreDisks",
                                   "sourceResourceId": f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/"
                                                       "Microsoft.Compute/virtualMachines/cvm-kv-01",
                                   "storageAccountId": f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/"
                                                       "Microsoft.Storage/storageAccounts/stcvmrestorekc",
                                   "targetResourceGroupId": f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc",
                                   "region": "koreacentral"}})
    assert restore.status == 202, restore.body
    job = wait_job(sim, restore)
    role = {"properties": {"roleName": "Azure Backup Key Reader", "description": "Azure Backup: read and back up keys",
                           "permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action",
                                                            "Microsoft.KeyVault/managedHsm/keys/backup/action"]}],
                           "assignableScopes": ["/"]}}
    created = call(sim, "PUT", f"{HSM}/providers/Microsoft.Authorization/roleDefinitions/"
                               "5d3f7a1e-9c2b-4e8f-a6d1-3b7c9e2f4a18?api-version=7.6", role)
    assert created.status == 201, created.body
    return {"restored": {"job": {"name": job["name"]}, "recovery_point": {"name": rp}}}


def test_every_module_has_examples_and_every_exception_names_an_example():
    names = {f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py")}
    assert set(EXAMPLES) == names
    assert all(isinstance(tasks, list) and tasks for tasks in EXAMPLES.values())
    for module, task in ELSEWHERE:
        assert task in [t.get("name") for t in EXAMPLES[module]], (module, task)


@pytest.mark.parametrize("module", sorted(EXAMPLES))
def test_examples_run_in_check_mode(azure_sim, tmp_path, module):
    variables = {**EXAMPLE_VARS, **prepare(azure_sim)}
    tasks = [dict(task, when=False) if (module, task.get("name")) in ELSEWHERE else task for task in EXAMPLES[module]]
    play = [{"name": f"EXAMPLES of {module}", "hosts": "localhost", "connection": "local", "gather_facts": True,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", **variables}, "tasks": tasks}]
    path = tmp_path / "examples.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    seen = len(azure_sim.requests())
    rc, out = run_playbook(azure_sim, str(path), check=True)
    assert rc == 0, out[-4000:]
    assert writes(azure_sim.requests()[seen:]) == [], "check mode wrote to Azure"
