"""The azure_local_tvm role end to end on the controller, with the host emulated (tests/unit/fake_azure_local_host.py
stands in for AzureLocalTvm.ps1, which cannot run here). What is real: every task, template and variable of the role,
the collection's controller modules, the backup store and the wrapping key, ansible-playbook itself, check mode.
What is not: PowerShell, Hyper-V, the MOC key vault (the fake models only what the role relies on)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_azure_local_host.py")
VM1 = {"name": "tvm-win11-01", "id": "7fb16fe7-00a0-476f-92b3-ccb98fd9525a"}
VM2 = {"name": "tvm-ws2022-01", "id": "11111111-1111-1111-1111-111111111111"}
ADMIN_ONLY = [{"path": r"C:\ClusterStorage\Volume1\vms", "aces": [
    {"sid": "S-1-5-32-544", "identity": "BUILTIN\\Administrators", "type": "Allow", "rights": "FullControl"},
    {"sid": "S-1-5-18", "identity": "NT AUTHORITY\\SYSTEM", "type": "Allow", "rights": "FullControl"}]}]


def vm_state(vm):
    base = "C:\\ClusterStorage\\Volume1\\vms\\Virtual Machines\\" + vm["id"].upper()
    return {**vm, "files": [base + ".vmcx", base + ".vmgs", base + ".vmrs"], "disks": []}


class Host:
    """One emulated Azure Local machine plus a copy of the role that runs the emulator instead of PowerShell."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.store = tmp_path / "store"
        self.state_path = tmp_path / "host.json"
        roles = tmp_path / "roles"
        shutil.copytree(os.path.join(ROOT, "roles", "azure_local_tvm"), roles / "azure_local_tvm")
        script = roles / "azure_local_tvm" / "files" / "AzureLocalTvm.ps1"
        with open(FAKE, encoding="utf-8") as handle:
            script.write_text(f"#!{sys.executable}\n" + handle.read())
        script.chmod(0o755)
        self.write({"version": "10.2505.0.3001", "vms": [vm_state(VM1), vm_state(VM2)],
                    "vault": [VM1["id"], VM2["id"], "AzureStackTvmAKRootKey"], "vm_paths": ADMIN_ONLY,
                    "migration": {"enabled": True, "use_any_network": False, "networks": ["10.71.1.0/24"]},
                    "ipsec_rules": [], "exports": {}, "registered": [VM1["id"], VM2["id"]], "started": [], "log": []})

    def read(self) -> dict:
        return json.loads(self.state_path.read_text())

    def write(self, state: dict):
        self.state_path.write_text(json.dumps(state))

    def change(self, **values):
        self.write({**self.read(), **values})

    def run(self, check=False, **role_vars) -> tuple[int, str]:
        variables = {"azure_local_tvm_vms": [VM1["name"], VM2["name"]], "azure_local_tvm_backup_store": str(self.store),
                     "azure_local_tvm_backup_utils_path": "C:\\tools\\TvmBackupUtils.psm1",
                     "azure_local_tvm_vm_export_root": "\\\\backup\\tvm", "azure_local_tvm_wrapping_key_passphrase": "pw", **role_vars}
        play = [{"name": "tvm", "hosts": "node1", "connection": "local", "gather_facts": False,
                 "roles": [{"role": "azure_local_tvm", "vars": variables}]}]
        path = self.tmp / "play.yml"
        path.write_text(json.dumps(play))
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "pytest"), "ANSIBLE_ROLES_PATH": str(self.tmp / "roles"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "0",
               "FAKE_AZURE_LOCAL_STATE": str(self.state_path), "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "node1,", str(path)] + (["--check"] if check else [])
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
        return proc.returncode, proc.stdout


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def backed_up(host) -> Host:
    rc, out = host.run()
    assert rc == 0, out
    return host


def test_backup_in_check_mode_only_gathers_facts_and_checks(host):
    rc, out = host.run(check=True)
    assert rc == 0, out
    assert host.read()["log"] == ["Get-HostFacts"]
    assert not host.store.exists(), "check mode writes nothing, not even the wrapping key"
    assert "No enabled IPsec rule covers live-migration network 10.71.1.0/24" in out


def test_backup_keys_then_files_into_the_store(host):
    backed_up(host)
    assert host.read()["log"] == ["Get-HostFacts", "Backup-KeyFolder", "Export-VmFiles"]
    node = host.store / "node1"
    manifest = json.loads((node / "manifest.json").read_text())
    assert [(v["name"], v["id"]) for v in manifest["vms"]] == [(VM1["name"], VM1["id"]), (VM2["name"], VM2["id"])]
    assert manifest["procedure"] == "backup_utils" and manifest["keys"].startswith("keys/")
    folder = node / manifest["keys"]
    assert (folder / "AES" / f"{VM1['id']}_256.json").exists() and (folder / "RSA" / "AzureStackTvmAKRootKey_4096.json").exists()
    assert (folder / "SHA256SUMS").exists()
    private = (host.store / "wrapping-key" / "private.pem")
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") and oct(private.stat().st_mode & 0o777) == "0o600"


def test_backup_fails_when_a_vm_key_is_not_in_the_vault(host):
    host.change(vault=[VM1["id"], "AzureStackTvmAKRootKey"])
    rc, out = host.run()
    assert rc != 0 and f"no guest state protection key for VM ID {VM2['id']}" in out


def test_backup_fails_when_the_export_lacks_the_guest_state(host):
    host.change(export_drops=[".vmgs"])
    rc, out = host.run()
    assert rc != 0 and "the backup has no VM guest state (.vmgs) file" in out


def test_an_open_vm_files_location_fails_unless_warn_only(host):
    open_acl = [{"path": "D:\\vms", "aces": [{"sid": "S-1-5-11", "identity": "NT AUTHORITY\\Authenticated Users", "type": "Allow", "rights": "Modify"}]}]
    host.change(vm_paths=open_acl)
    rc, out = host.run(check=True)
    assert rc != 0 and "restricted to host administrators" in out
    rc, out = host.run(check=True, azure_local_tvm_acl_warn_only=True)
    assert rc == 0 and "restricted to host administrators" in out


def test_auto_release_without_a_version_stops(host):
    host.change(version=None)
    rc, out = host.run(check=True)
    assert rc != 0 and "set azure_local_tvm_release" in out
    rc, out = host.run(check=True, azure_local_tvm_release="2505")
    assert rc == 0, out


def test_restore_same_instance_key_first_then_files_then_start(host):
    backed_up(host)
    host.change(vault=["AzureStackTvmAKRootKey"], registered=[], log=[])  # the system lost the VMs and their keys
    rc, out = host.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_start_vms=True)
    assert rc == 0, out
    state = host.read()
    assert state["log"] == ["Get-HostFacts", "Restore-KeyFolder", "Remove-MocKey AzureStackTvmAKRootKey", "Import-VmFiles", "Start-RestoredVms"]
    assert {VM1["id"], VM2["id"]} <= set(state["vault"]) and state["started"] == [VM1["name"], VM2["name"]]
    assert not any(k.startswith("ansible-tvm-wrap-") for k in state["vault"]), "the wrapping key is removed again"
    assert "-----BEGIN PRIVATE KEY-----" not in out


def test_restore_to_another_instance_warns_and_keeps_its_ak_root_key(host):
    backed_up(host)
    host.change(vault=["AzureStackTvmAKRootKey"], registered=[], log=[])
    rc, out = host.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=False)
    assert rc == 0, out
    state = host.read()
    assert state["log"] == ["Get-HostFacts", "Restore-KeyFolder", "Import-VmFiles"], "no start unless asked"
    assert "can no longer be managed through the Azure Arc control plane" in " ".join(out.split())
    assert state["started"] == []


def test_restore_needs_same_instance_and_an_unmodified_key_folder(host):
    backed_up(host)
    host.change(log=[])
    rc, out = host.run(azure_local_tvm_action="restore")
    assert rc != 0 and "azure_local_tvm_same_instance" in out and host.read()["log"] == []
    folder = next((host.store / "node1" / "keys").iterdir())
    victim = next((folder / "AES").iterdir())
    victim.write_text("{}")
    rc, out = host.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True)
    assert rc != 0 and "must not be modified" in out
    assert "Restore-KeyFolder" not in host.read()["log"]
