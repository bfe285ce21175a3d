"""A stand-in for roles/azure_local_tvm/files/AzureLocalTvm.ps1, for running the role end to end on the controller.

It answers every action with the JSON shape the PowerShell script writes (one line, last, with "failed"; exit 1 on a
failure) and keeps one small Azure Local system per inventory host in $FAKE_AZURE_LOCAL_STATE/<host>.json: VMs (name,
id, files, disks, switch), the key vault (key names), Hyper-V registrations, exports, and a log of the actions in the
order they ran. The host is the one whose remote tmp folder (ansible_remote_tmp = .../remote/<host>) the script was
copied to, so delegate_to reaches the right system.

It models the documented behaviour the role relies on: Backup-TVMKeys writes every vault key as AES/<name>_256.json (RSA
for the AK root key) under a new yyyyMMddHHmmss folder (S1, S3); Export-MocKey needs the key in the vault and the
wrapping key made by New-MocKey (S1 second tab); a key already in the vault gives "InvalidVersion" on import (S1);
Import-VM needs the VM's virtual switch on the target unless Compare-VM's report is remapped (S4); starting a VM whose
key is missing makes a new key (S1). Nothing here is PowerShell; the script itself is checked on its parsed tree
(test_azure_local_tvm_script.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from datetime import datetime, timezone

AK_ROOT = "AzureStackTvmAKRootKey"


def host_name() -> str:
    match = re.search(r"[\\/]remote[\\/]([^\\/]+)[\\/]", os.path.abspath(sys.argv[0]))
    return match.group(1) if match else "node1"


def state_path(host: str) -> str:
    return os.path.join(os.environ["FAKE_AZURE_LOCAL_STATE"], f"{host}.json")


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def unb64(data: str) -> str:
    return base64.b64decode(data).decode()


def facts(state, p):
    vms = [vm for vm in state["vms"] if vm["name"] in p["vms"]]
    return {"changed": False, "computer": state["computer"], "solution_version": state["version"], "moc": state["moc"],
            "language_mode": state.get("language_mode", "FullLanguage"),
            "vms": [{**vm, "owner_node": state["computer"], "state": "Running", "tpm": True, "secure_boot": True} for vm in vms],
            "missing_vms": [n for n in p["vms"] if n not in {vm["name"] for vm in state["vms"]}],
            "locations": state["locations"], "migration": state["migration"], "ipsec_rules": state["ipsec_rules"]}


def rsa_public_key(p):
    """The wrapping key's public half as Backup-TVMKeys / Import-TvmWrappingKeyFromPem read it: a PEM that parses (a
    corrupted one, such as a result with its no_log values masked, fails there as here)."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    try:
        return serialization.load_pem_public_key(base64.b64decode(p["public_key_b64"]))
    except ValueError as exc:
        raise RuntimeError(f"the wrapping key's public key is not an RSA public key PEM: {exc}") from exc


def backup_keys(state, p):
    assert p["module_path"] and "BEGIN RSA PUBLIC KEY" in unb64(p["public_key_b64"])
    rsa_public_key(p)
    folder = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    files = {(f"RSA/{key}_4096.json" if key == AK_ROOT else f"AES/{key}_256.json"):
             b64(json.dumps({"key": key, "wrapped_with": p["public_key_b64"][:16]})) for key in state["vault"]}
    return {"changed": True, "folder": folder, "host_path": p["backup_root"] + "\\" + folder, "files": files,
            "log": [f"Backing up key {k}" for k in state["vault"]]}


def import_key(state, name, log, prefix):
    if name in state["vault"]:
        log.append(f"{prefix}: mocctl.exe ... [Error: Keys Import failed: Type[Key] Vault[AzureStackTvmKeyVault] Name[{name}]: InvalidVersion]")
    else:
        state["vault"].append(name)


def restore_keys(state, p):
    private = unb64(p["private_key_b64"])
    if not private.startswith("-----BEGIN PRIVATE KEY-----"):
        raise RuntimeError("Import-TvmWrappingKeyFromPem needs a plain PKCS#8 private key")
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    if serialization.load_pem_private_key(private.encode(), None).public_key().public_numbers() != rsa_public_key(p).public_numbers():
        raise RuntimeError("Import-TvmWrappingKeyFromPem: the public and the private key are not one pair")
    state["vault"].append(p["wrapping_key_name"])
    if p["same_instance"] and AK_ROOT in state["vault"]:
        state["vault"].remove(AK_ROOT)
        state["log"].append(f"Remove-MocKey {AK_ROOT}")
    log = []
    for rel in p["files"]:
        import_key(state, rel.split("/")[-1].rsplit("_", 1)[0], log, "Import-TVMKeys : Error Importing Key")
    state["vault"].remove(p["wrapping_key_name"])
    return {"changed": True, "log": log}


def new_wrapping_key(state, p):
    changed = p["key_name"] not in state["vault"]
    if changed:
        state["vault"].append(p["key_name"])
    return {"changed": changed, "public_key_b64": b64(f"-----BEGIN RSA PUBLIC KEY-----\n{state['computer']}:{p['key_name']}\n-----END RSA PUBLIC KEY-----\n")}


def export_moc_keys(state, p):
    files = {}
    for vm_id in p["vm_ids"]:
        if vm_id not in state["vault"]:
            raise RuntimeError(f"Export-MocKey: key {vm_id} not found")
        files[f"{vm_id}.json"] = b64(json.dumps({"key": vm_id, "wrapped_for": unb64(p["public_key_b64"]).splitlines()[1]}))
    return {"changed": False, "files": files}


def import_moc_keys(state, p):
    log, imported = [], []
    for rel, content in p["files"].items():
        vm_id = rel[:-5]
        wrapped_for = json.loads(unb64(content))["wrapped_for"]
        if not wrapped_for.startswith(state["computer"] + ":"):
            raise RuntimeError(f"Import-MocKey: {rel} was wrapped for {wrapped_for}, not a key of this vault")
        before = len(log)
        import_key(state, vm_id, log, f"Error importing key {vm_id}")
        if len(log) == before:
            imported.append(vm_id)
    return {"changed": bool(imported), "imported": imported, "log": log}


def export_files(state, p):
    out = []
    for vm in p["vms"]:
        files = [f"Virtual Machines\\{os.path.basename(f.replace(chr(92), '/'))}" for f in vm["files"]]
        files += [f"Virtual Hard Disks\\{os.path.basename(d.replace(chr(92), '/'))}" for d in vm["disks"]]
        files = [f for f in files if not f.endswith(tuple(state.get("export_drops", [])))]
        path = f"{p['export_root']}\\{p['stamp']}\\{vm['name']}"
        state["exports"][vm["id"]] = {"switch": vm.get("switch", "ConvergedSwitch")}
        out.append({"name": vm["name"], "id": vm["id"], "export_path": path, "files": files})
    return {"changed": True, "export_path": f"{p['export_root']}\\{p['stamp']}", "vms": out}


def import_files(state, p):
    imported, skipped = [], []
    for vm in p["vms"]:
        if vm["id"] in state["registered"]:
            skipped.append(vm["name"])
            continue
        switch = (state["exports"].get(vm["id"]) or {}).get("switch", "ConvergedSwitch")
        switch = (p.get("switch_map") or {}).get(switch, switch)
        if switch not in state["switches"]:  # S4: Compare-VM 33012 "Could not find Ethernet switch"
            raise RuntimeError(f"{vm['name']} cannot be imported (Compare-VM): 33012: Could not find Ethernet switch '{switch}'.")
        state["registered"].append(vm["id"])
        imported.append(vm["name"])
    return {"changed": bool(imported), "imported": imported, "skipped": skipped}


def start_vms(state, p):
    for vm in p["vms"]:
        if vm["id"] not in state["vault"]:
            raise RuntimeError(f"The guest state protection key of {vm['name']} ({vm['id']}) is not in AzureStackTvmKeyVault")
    state["started"] += [vm["name"] for vm in p["vms"]]
    return {"changed": True, "started": [vm["name"] for vm in p["vms"]]}


ACTIONS = {"Get-HostFacts": facts, "Backup-KeyFolder": backup_keys, "Restore-KeyFolder": restore_keys,
           "New-MocWrappingKey": new_wrapping_key, "Export-MocKeys": export_moc_keys, "Import-MocKeys": import_moc_keys,
           "Export-VmFiles": export_files, "Import-VmFiles": import_files, "Start-RestoredVms": start_vms}


def main(argv) -> int:
    action, params = argv[argv.index("-Action") + 1], json.loads(base64.b64decode(argv[argv.index("-ParamsB64") + 1]))
    path = state_path(host_name())
    with open(path, encoding="utf-8") as handle:
        state = json.load(handle)
    state["log"].append(action)
    try:
        result = {**ACTIONS[action](state, params), "failed": False}
    except RuntimeError as exc:  # what the script's catch around its dispatch reports
        result = {"failed": True, "changed": False, "msg": f"{action} failed: {exc}"}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    print("Write-Host text of a Microsoft function")  # stray output before the result line, as the script may have
    print(json.dumps(result))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
