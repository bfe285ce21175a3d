"""The azure_local_tvm role end to end on the controller, with the host emulated (tests/unit/fake_azure_local_host.py
stands in for AzureLocalTvm.ps1, which cannot run here). What is real: every task, template and variable of the role,
the collection's controller modules, the backup store and the wrapping key, ansible-playbook itself (with -e extra
vars), check mode, delegate_to the key vault host. What is not: PowerShell, Hyper-V, the MOC key vault (the fake models
only what the role relies on). Both key procedures run end to end: 2505+ (Backup-TVMKeys folder) and before 2505 (the
MOC key vault of another system)."""

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
ADMINS = {"sid": "S-1-5-32-544", "identity": "BUILTIN\\Administrators", "type": "Allow", "rights": "FullControl"}
SYSTEM = {"sid": "S-1-5-18", "identity": "NT AUTHORITY\\SYSTEM", "type": "Allow", "rights": "FullControl"}
NODE1_SID = "S-1-5-21-1-2-3-1001"
ENCRYPTING_RULE = {"name": "LM", "enabled": True, "remote": ["10.71.1.0/24"], "proposals": [{"encapsulation": "ESP", "encryption": "AES256"}]}


def location(path, kind="VM files", **more):
    return {"path": path, "kind": kind, "reachable": True, "error": None, "owner_sid": ADMINS["sid"], "aces": [ADMINS, SYSTEM],
            "share": None, "computer_sids": [], **more}


def vm_state(vm):
    base = "C:\\ClusterStorage\\Volume1\\vms\\Virtual Machines\\" + vm["id"].upper()
    return {**vm, "files": [base + ".vmcx", base + ".vmgs", base + ".vmrs"],
            "disks": [f"C:\\ClusterStorage\\Volume1\\disks\\{vm['name']}.vhdx"], "switch": "ConvergedSwitch"}


def system(computer, version="10.2505.0.3001", vault=None):
    return {"computer": computer, "version": version, "moc": {"version": "1.15.0.10521", "module_version": "1.2.29"},
            "vms": [vm_state(VM1), vm_state(VM2)], "vault": vault if vault is not None else [VM1["id"], VM2["id"], "AzureStackTvmAKRootKey"],
            "locations": [location("C:\\ClusterStorage\\Volume1\\vms"), location("\\\\backup\\tvm", "export", computer_sids=[NODE1_SID],
                                                                                 share={"reachable": True, "aces": [ADMINS, {**ADMINS, "sid": NODE1_SID}]})],
            "migration": {"cluster": True, "nodes": [{"name": computer, "enabled": False, "use_any_network": False, "networks": []}],
                          "cluster_networks": [{"id": "n1", "address": "10.71.1.0", "mask": "255.255.255.0", "role": "ClusterAndClient"}],
                          "exclude_networks": []},
            "ipsec_rules": [], "switches": ["ConvergedSwitch"], "exports": {}, "registered": [VM1["id"], VM2["id"]], "started": [], "log": []}


class Lab:
    """Emulated Azure Local systems (node1, and vault1 for the MOC key vault) plus a copy of the role that runs the
    emulator instead of PowerShell."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.store = tmp_path / "store"
        self.key = tmp_path / "secrets" / "wrapping" / "private.pem"
        self.states = tmp_path / "hosts"
        self.states.mkdir()
        roles = tmp_path / "roles"
        shutil.copytree(os.path.join(ROOT, "roles", "azure_local_tvm"), roles / "azure_local_tvm")
        script = roles / "azure_local_tvm" / "files" / "AzureLocalTvm.ps1"
        script.write_text(f"#!{sys.executable}\n" + open(FAKE, encoding="utf-8").read())
        script.chmod(0o755)
        self.write("node1", system("NODE1"))
        self.write("vault1", system("VAULT1", vault=[]))
        (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": {
            name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                   "ansible_remote_tmp": str(tmp_path / "remote" / name)} for name in ("node1", "vault1")}}}))

    def read(self, host="node1") -> dict:
        return json.loads((self.states / f"{host}.json").read_text())

    def write(self, host, state: dict):
        (self.states / f"{host}.json").write_text(json.dumps(state))

    def change(self, host="node1", **values):
        self.write(host, {**self.read(host), **values})

    def run(self, check=False, extra=(), **role_vars) -> tuple[int, str]:
        variables = {"azure_local_tvm_vms": [VM1["name"], VM2["name"]], "azure_local_tvm_backup_store": str(self.store),
                     "azure_local_tvm_backup_utils_path": "C:\\tools\\TvmBackupUtils.psm1", "azure_local_tvm_wrapping_key_path": str(self.key),
                     "azure_local_tvm_vm_export_root": "\\\\backup\\tvm", "azure_local_tvm_wrapping_key_passphrase": "pw", **role_vars}
        play = [{"name": "tvm", "hosts": "node1", "gather_facts": False, "roles": [{"role": "azure_local_tvm", "vars": variables}]}]
        path = self.tmp / "play.yml"
        path.write_text(json.dumps(play))
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "pytest"), "ANSIBLE_ROLES_PATH": str(self.tmp / "roles"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_PIPELINING": "1", "FAKE_AZURE_LOCAL_STATE": str(self.states)}
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(self.tmp / "inventory.json"), str(path)]
        cmd += (["--check"] if check else []) + [arg for e in extra for arg in ("-e", e)]
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
        return proc.returncode, " ".join(proc.stdout.split())  # joined: ansible wraps long messages

    @classmethod
    def copy_of(cls, template: "Lab", tmp_path) -> "Lab":
        """A Lab in `tmp_path` holding what `template` holds (systems, store, wrapping key), its paths rewritten."""
        shutil.copytree(template.tmp, tmp_path, dirs_exist_ok=True, symlinks=True)
        for path in tmp_path.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.suffix in (".json", ".yml"):
                text = path.read_text(encoding="utf-8")
                if str(template.tmp) in text:
                    path.write_text(text.replace(str(template.tmp), str(tmp_path)), encoding="utf-8")
        lab = cls.__new__(cls)
        lab.tmp, lab.store, lab.states = tmp_path, tmp_path / "store", tmp_path / "hosts"
        lab.key = tmp_path / "secrets" / "wrapping" / "private.pem"
        return lab


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path)


@pytest.fixture(scope="module")
def _backup_2505(tmp_path_factory):
    """One backup of node1 (2505, the default variables) for the tests that start from it: one run instead of nine."""
    return backed_up(Lab(tmp_path_factory.mktemp("backup-2505")))


@pytest.fixture
def backed_up_lab(_backup_2505, tmp_path):
    return Lab.copy_of(_backup_2505, tmp_path)


def backed_up(lab, **role_vars) -> Lab:
    rc, out = lab.run(**role_vars)
    assert rc == 0, out
    lab.change(log=[])
    return lab


def lost_everything(lab, host="node1", vault=("AzureStackTvmAKRootKey",)):
    lab.change(host, vault=list(vault), registered=[], log=[])


# ------------------------------------------------------------------------------------------------ backup


def test_backup_in_check_mode_only_gathers_facts_and_checks(lab):
    rc, out = lab.run(check=True)
    assert rc == 0, out
    assert lab.read()["log"] == ["Get-HostFacts"]
    assert not lab.store.exists() and not lab.key.exists(), "check mode writes nothing, not even the wrapping key"
    assert "No encrypting IPsec rule covers live-migration network 10.71.1.0/24" in out, "checked although live migration is off on the node"


def test_backup_2505_keys_then_files_into_the_store(lab):
    backed_up(lab)
    manifest = json.loads((lab.store / "node1" / "manifest.json").read_text())
    assert [(v["name"], v["id"]) for v in manifest["vms"]] == [(VM1["name"], VM1["id"]), (VM2["name"], VM2["id"])]
    assert manifest["procedure"] == "backup_utils" and manifest["keys"].startswith("keys/")
    folder = lab.store / "node1" / manifest["keys"]
    assert (folder / "AES" / f"{VM1['id']}_256.json").exists() and (folder / "RSA" / "AzureStackTvmAKRootKey_4096.json").exists()
    assert lab.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") and oct(lab.key.stat().st_mode & 0o777) == "0o600"
    assert not list(lab.store.rglob("*.pem")), "no wrapping key in the backup store"


@pytest.mark.parametrize("role_vars,message", [
    ({"azure_local_tvm_wrapping_key_path": ""}, "outside azure_local_tvm_backup_store"),
    ({"azure_local_tvm_wrapping_key_path": "STORE/wrapping-key/private.pem"}, "outside azure_local_tvm_backup_store"),
    ({"azure_local_tvm_wrapping_key_passphrase": ""}, "azure_local_tvm_wrapping_key_passphrase (from ansible-vault)"),
])
def test_the_wrapping_key_must_be_apart_from_the_store_and_encrypted(lab, role_vars, message):
    role_vars = {k: v.replace("STORE", str(lab.store)) for k, v in role_vars.items()}
    rc, out = lab.run(**role_vars)
    assert rc != 0 and message in out
    assert lab.read()["log"] == ["Get-HostFacts"] and not lab.key.exists()


def test_backup_fails_when_a_vm_key_is_not_in_the_vault(lab):
    lab.change(vault=[VM1["id"], "AzureStackTvmAKRootKey"])
    rc, out = lab.run()
    assert rc != 0 and f"no guest state protection key for VM ID {VM2['id']}" in out


@pytest.mark.parametrize("drop,message", [(".vmgs", "the backup has no VM guest state (.vmgs) file"),
                                          (".vhdx", "the virtual disk tvm-win11-01.vhdx is missing from the backup")])
def test_backup_fails_when_the_export_lacks_a_vm_file(lab, drop, message):
    lab.change(export_drops=[drop])
    rc, out = lab.run()
    assert rc != 0 and message in out


@pytest.mark.parametrize("bad,message", [
    (location("D:\\vms", aces=[{"sid": "S-1-5-11", "identity": "NT AUTHORITY\\Authenticated Users", "type": "Allow", "rights": "Modify"}]),
     "restricted to host administrators"),
    (location("D:\\vms", reachable=False, error="Access is denied", aces=[]), "could not be checked from the host (Access is denied)"),
    (location("\\\\backup\\tvm", "export", share={"reachable": False, "error": "RPC server unavailable"}),
     "share permissions of \\\\backup\\tvm could not be read"),
    (location("C:\\ProgramData\\azure_cvm_backup\\tvm", "work", owner_sid="S-1-5-21-9-9-9-1234"), "is owned by"),
])
def test_an_open_or_unreadable_location_fails_unless_warn_only(lab, bad, message):
    lab.change(locations=[bad])
    rc, out = lab.run(check=True)
    assert rc != 0 and message in out
    rc, out = lab.run(check=True, azure_local_tvm_acl_warn_only=True)
    assert rc == 0 and message in out


def test_an_encrypting_ipsec_rule_silences_the_live_migration_warning(lab):
    lab.change(ipsec_rules=[{**ENCRYPTING_RULE, "proposals": [{"encapsulation": "ESP", "encryption": "None"}]}])
    rc, out = lab.run(check=True)
    assert rc == 0 and "No encrypting IPsec rule covers" in out, "an authentication-only rule does not count"
    lab.change(ipsec_rules=[ENCRYPTING_RULE])
    rc, out = lab.run(check=True)
    assert rc == 0 and "IPsec" not in out


def test_auto_release_without_a_version_stops(lab):
    lab.change(version=None)
    rc, out = lab.run(check=True)
    assert rc != 0 and "set azure_local_tvm_release" in out
    rc, out = lab.run(check=True, azure_local_tvm_release="2505")
    assert rc == 0, out


def test_a_failed_host_action_fails_the_task_with_its_message(lab):
    lab.change(switches=[])
    backed_up(lab)
    lost_everything(lab)
    rc, out = lab.run(extra=["azure_local_tvm_action=restore", "azure_local_tvm_same_instance=true"])
    assert rc != 0 and "Could not find Ethernet switch 'ConvergedSwitch'" in out
    assert lab.read()["log"][-1] == "Import-VmFiles" and lab.read()["started"] == []


# ------------------------------------------------------------------------------------------------ restore, 2505+


def test_restore_same_instance_with_the_documented_extra_var(backed_up_lab):
    """-e azure_local_tvm_same_instance=true is a string (README, playbook): it works."""
    lab = backed_up_lab
    lost_everything(lab)
    rc, out = lab.run(extra=["azure_local_tvm_action=restore", "azure_local_tvm_same_instance=true", "azure_local_tvm_start_vms=true"])
    assert rc == 0, out
    state = lab.read()
    assert state["log"] == ["Get-HostFacts", "Restore-KeyFolder", "Remove-MocKey AzureStackTvmAKRootKey", "Import-VmFiles", "Start-RestoredVms"]
    assert {VM1["id"], VM2["id"]} <= set(state["vault"]) and state["started"] == [VM1["name"], VM2["name"]]
    assert not any(k.startswith("ansible-tvm-wrap-") for k in state["vault"]), "the wrapping key is removed again"
    assert "-----BEGIN PRIVATE KEY-----" not in out and "PRIVATE KEY" not in out
    assert not list(lab.tmp.rglob("azure-local-tvm-*")), "the decrypted wrapping key is deleted from the controller"


def test_restore_works_when_the_controllers_temporary_folder_holds_the_passphrase(backed_up_lab, monkeypatch):
    """The decrypting module masks its no_log passphrase ("pw") in what it returns, also inside its export_path: the
    role reads the key from the folder it made, not from that returned path. Fails with the returned path (the CI of
    2026-12-02 met it by chance: a random folder name held "pw")."""
    lab = backed_up_lab
    lost_everything(lab)
    tmpdir = lab.tmp / "tmp-pw-folder"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))  # where ansible.builtin.tempfile makes the controller's private folder
    rc, out = lab.run(extra=["azure_local_tvm_action=restore", "azure_local_tvm_same_instance=true"])
    assert rc == 0, out
    assert lab.read()["log"][:2] == ["Get-HostFacts", "Restore-KeyFolder"]
    assert "PRIVATE KEY" not in out
    assert not list(tmpdir.glob("azure-local-tvm-*")), "the decrypted wrapping key is deleted from the controller"


def test_backup_and_restore_work_when_the_public_key_holds_the_passphrase(lab):
    """Every RSA-2048 public key PEM (PKCS#1) starts with "MIIBCgKCAQEA": with that passphrase, the module's returned
    public_key_pem comes back masked (no_log values are masked in whatever a module returns). The role reads the
    public key from its file, so the host gets the real key on backup and a matching pair on restore."""
    passphrase = "MIIBCgKCAQEA"
    rc, out = lab.run(azure_local_tvm_wrapping_key_passphrase=passphrase)
    assert rc == 0, out
    lost_everything(lab)
    rc, out = lab.run(extra=["azure_local_tvm_action=restore", "azure_local_tvm_same_instance=true"],
                      azure_local_tvm_wrapping_key_passphrase=passphrase)
    assert rc == 0, out
    assert lab.read()["log"][:2] == ["Get-HostFacts", "Restore-KeyFolder"]
    assert {VM1["id"], VM2["id"]} <= set(lab.read()["vault"])


def test_restore_without_the_public_key_file_writes_it_again(backed_up_lab):
    """A controller that kept only the private key (and its passphrase) can restore: the public key file is made
    again from the private key before it is read."""
    lab = backed_up_lab
    lost_everything(lab)
    public = lab.key.with_name("private.pub.pem")
    kept = public.read_text()
    public.unlink()
    rc, out = lab.run(extra=["azure_local_tvm_action=restore", "azure_local_tvm_same_instance=true"])
    assert rc == 0, out
    assert public.read_text() == kept


def test_restore_needs_same_instance_true_or_false(backed_up_lab):
    lab = backed_up_lab
    for extra, message in (([], "azure_local_tvm_same_instance, true or false"), (["azure_local_tvm_same_instance=maybe"], "not a valid boolean")):
        rc, out = lab.run(extra=["azure_local_tvm_action=restore", *extra])
        assert rc != 0 and message in out and lab.read()["log"] == []


def test_restore_refuses_a_modified_key_folder_even_in_check_mode(backed_up_lab):
    lab = backed_up_lab
    folder = next((lab.store / "node1" / "keys").iterdir())
    next((folder / "AES").iterdir()).write_text("{}")
    rc, out = lab.run(check=True, azure_local_tvm_action="restore", azure_local_tvm_same_instance=True)
    assert rc != 0 and "must not be modified" in out
    assert lab.read()["log"] == ["Get-HostFacts"]


def test_restore_check_mode_checks_the_passphrase(backed_up_lab):
    lab = backed_up_lab
    # (not a word of the message: Ansible masks no_log values wherever they appear in its output)
    rc, out = lab.run(check=True, azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_wrapping_key_passphrase="pw2")
    assert rc != 0 and "wrong passphrase" in out and lab.read()["log"] == ["Get-HostFacts"]


def test_a_vm_key_already_in_the_vault_is_an_error_with_the_documented_remedy(backed_up_lab):
    """The VM was started before its key came back: the vault holds a new key of that name, which cannot open it."""
    lab = backed_up_lab
    lost_everything(lab, vault=["AzureStackTvmAKRootKey", VM1["id"]])
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_start_vms=True)
    assert rc != 0 and f"Remove-MocKey -name {VM1['id']} -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault" in out
    assert lab.read()["started"] == [] and "Import-VmFiles" not in lab.read()["log"]
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_allow_existing_vm_keys=True)
    assert rc == 0, out


def test_restore_to_another_instance_warns_about_the_control_plane_and_the_ak_root_key(backed_up_lab):
    lab = backed_up_lab
    lost_everything(lab)
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=False)
    assert rc == 0, out
    state = lab.read()
    assert state["log"] == ["Get-HostFacts", "Restore-KeyFolder", "Import-VmFiles"], "no AK root removal, no start unless asked"
    assert "can no longer be managed through the Azure Arc control plane" in out
    assert "to make sure attestation continues to work" in out and "already has its own AzureStackTvmAKRootKey" in out


def test_restore_on_another_system_remaps_the_virtual_switch(backed_up_lab):
    lab = backed_up_lab
    lost_everything(lab)
    lab.change(switches=["SETswitch"])
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=False,
                      azure_local_tvm_restore_switch_map={"ConvergedSwitch": "SETswitch"})
    assert rc == 0, out
    assert set(lab.read()["registered"]) == {VM1["id"], VM2["id"]}


def test_a_folder_backup_is_not_restored_on_a_release_before_2505(backed_up_lab):
    lab = backed_up_lab
    lab.change(version="10.2411.3.12")
    rc, out = lab.run(check=True, azure_local_tvm_action="restore", azure_local_tvm_same_instance=True)
    assert rc != 0 and "only Azure Local 2505 or later can import" in out
    lab.change(version="10.2505.0.3001", moc={"version": "1.13.0.1", "module_version": "1.2.29"})
    rc, out = lab.run(check=True, azure_local_tvm_action="restore", azure_local_tvm_same_instance=True)
    assert rc != 0 and "MOC stack 1.14.1.10414 or later" in out


# ------------------------------------------------------------------------------------------------ before 2505: the MOC key vault of another system


def test_moc_key_procedure_end_to_end_and_its_restore_on_a_host_now_at_2505(lab):
    lab.change(version="10.2411.3.12")
    backed_up(lab, azure_local_tvm_key_vault_host="vault1", azure_local_tvm_wrapping_key_path="")
    manifest = json.loads((lab.store / "node1" / "manifest.json").read_text())
    assert manifest["procedure"] == "moc_key"
    vault = lab.read("vault1")
    assert vault["log"] == ["New-MocWrappingKey", "Import-MocKeys"] and {"wrappingKey", VM1["id"], VM2["id"]} <= set(vault["vault"])
    # The system is updated to 2505, then loses its VMs: the restore follows the backup's procedure, not the release.
    lab.change(version="10.2505.0.3001")
    lost_everything(lab)
    lab.change("vault1", log=[])
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_key_vault_host="vault1",
                      azure_local_tvm_start_vms=True, azure_local_tvm_wrapping_key_path="")
    assert rc == 0, out
    assert lab.read()["log"] == ["Get-HostFacts", "New-MocWrappingKey", "Import-MocKeys", "Import-VmFiles", "Start-RestoredVms"]
    assert lab.read("vault1")["log"] == ["Export-MocKeys"]
    assert {VM1["id"], VM2["id"]} <= set(lab.read()["vault"]) and lab.read()["started"] == [VM1["name"], VM2["name"]]


def test_moc_key_restore_with_a_vm_key_already_there_fails(lab):
    lab.change(version="10.2411.3.12")
    backed_up(lab, azure_local_tvm_key_vault_host="vault1", azure_local_tvm_wrapping_key_path="")
    lost_everything(lab, vault=[VM2["id"]])
    rc, out = lab.run(azure_local_tvm_action="restore", azure_local_tvm_same_instance=True, azure_local_tvm_key_vault_host="vault1",
                      azure_local_tvm_start_vms=True, azure_local_tvm_wrapping_key_path="")
    assert rc != 0 and f"Remove-MocKey -name {VM2['id']}" in out and lab.read()["started"] == []
