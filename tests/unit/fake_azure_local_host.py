"""A stand-in for roles/azure_local_tvm/files/AzureLocalTvm.ps1, for running the role end to end on the controller.

It answers every action with the JSON shape the PowerShell script writes, and keeps a small Azure Local host in a JSON
state file ($FAKE_AZURE_LOCAL_STATE): VMs (name, id, files), the key vault (key names), Hyper-V exports, and a log of
the actions in the order they ran. It models the documented behaviour that matters for the role: Backup-TVMKeys writes
every vault key as AES/<name>_256.json (RSA for the AK root key) under a new yyyyMMddHHmmss folder; a key already in
the vault gives "InvalidVersion" on import; starting a VM whose key is missing makes a new key (so a test can tell).
Nothing here is PowerShell; the script itself is checked by parsing it (test_azure_local_tvm.py).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import datetime, timezone

STATE = os.environ.get("FAKE_AZURE_LOCAL_STATE", "")


def load() -> dict:
    with open(STATE, encoding="utf-8") as handle:
        return json.load(handle)


def save(state: dict):
    with open(STATE, "w", encoding="utf-8") as handle:
        json.dump(state, handle)


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def facts(state, p):
    vms = [vm for vm in state["vms"] if vm["name"] in p["vms"]]
    return {"changed": False, "computer": "NODE1", "solution_version": state["version"],
            "vms": [{**vm, "owner_node": "NODE1", "state": "Running", "tpm": True, "secure_boot": True} for vm in vms],
            "missing_vms": [n for n in p["vms"] if n not in {vm["name"] for vm in state["vms"]}],
            "vm_paths": state["vm_paths"], "migration": state["migration"], "ipsec_rules": state["ipsec_rules"]}


def backup_keys(state, p):
    assert p["module_path"] and "BEGIN RSA PUBLIC KEY" in base64.b64decode(p["public_key_b64"]).decode()
    folder = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    files = {("RSA/" if key == "AzureStackTvmAKRootKey" else "AES/") + f"{key}_{4096 if key == 'AzureStackTvmAKRootKey' else 256}.json":
             b64(json.dumps({"key": key, "wrapped_with": p["public_key_b64"][:16]})) for key in state["vault"]}
    return {"changed": True, "folder": folder, "host_path": p["backup_root"] + "\\" + folder, "files": files,
            "log": [f"Backing up key {k}" for k in state["vault"]]}


def restore_keys(state, p):
    private = base64.b64decode(p["private_key_b64"]).decode()
    assert private.startswith("-----BEGIN PRIVATE KEY-----"), "Import-TvmWrappingKeyFromPem needs a plain PKCS#8 key"
    state["vault"].append(p["wrapping_key_name"])
    if p["same_instance"] and "AzureStackTvmAKRootKey" in state["vault"]:
        state["vault"].remove("AzureStackTvmAKRootKey")
        state["log"].append("Remove-MocKey AzureStackTvmAKRootKey")
    log = []
    for rel in p["files"]:
        name = rel.split("/")[-1].rsplit("_", 1)[0]
        if name in state["vault"]:
            log.append(f"Import-TVMKeys : Error Importing Key: ... Name[{name}]: InvalidVersion]")
        else:
            state["vault"].append(name)
    state["vault"].remove(p["wrapping_key_name"])
    return {"changed": True, "backup_path": p["work_dir"] + "\\restore\\" + p["folder"], "log": log}


def export_files(state, p):
    out = []
    for vm in p["vms"]:
        files = [f"Virtual Machines\\{os.path.basename(f.replace(chr(92), '/'))}" for f in vm["files"]] + ["Virtual Hard Disks\\os.vhdx"]
        files = [f for f in files if not f.endswith(tuple(state.get("export_drops", [])))]
        path = f"{p['export_root']}\\{p['stamp']}\\{vm['name']}"
        state["exports"][vm["name"]] = path
        out.append({"name": vm["name"], "id": vm["id"], "export_path": path, "files": files})
    return {"changed": True, "export_path": f"{p['export_root']}\\{p['stamp']}", "vms": out}


def import_files(state, p):
    imported, skipped = [], []
    for vm in p["vms"]:
        if vm["id"] in state["registered"]:
            skipped.append(vm["name"])
        else:
            state["registered"].append(vm["id"])
            imported.append(vm["name"])
    return {"changed": bool(imported), "imported": imported, "skipped": skipped}


def start_vms(state, p):
    for vm in p["vms"]:
        if vm["id"] not in state["vault"]:
            raise SystemExit(f"The guest state protection key of {vm['name']} is not in AzureStackTvmKeyVault")
    state["started"] += [vm["name"] for vm in p["vms"]]
    return {"changed": True, "started": [vm["name"] for vm in p["vms"]]}


ACTIONS = {"Get-HostFacts": facts, "Backup-KeyFolder": backup_keys, "Restore-KeyFolder": restore_keys,
           "Export-VmFiles": export_files, "Import-VmFiles": import_files, "Start-RestoredVms": start_vms}


def main(argv):
    action, params = argv[argv.index("-Action") + 1], json.loads(base64.b64decode(argv[argv.index("-ParamsB64") + 1]))
    state = load()
    state["log"].append(action)
    result = ACTIONS[action](state, params)
    save(state)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
