"""Controller side of the azure_local_tvm role, which is all that can run here (no Windows, no PowerShell):

- the decisions (release -> key procedure, VM files ACL, live-migration IPsec, .vmgs/.vmrs, key import errors);
- the wrapping key (RSA-2048, PKCS#8 private key 0600, PKCS#1 public key, passphrase) and the backup store;
- (the PowerShell itself: test_azure_local_tvm_script.py, and its mutation check test_azure_local_tvm_mutations.py);
- the role: rendered script commands carry what the script reads, the key comes before the files, nothing starts a
  VM before its key is imported, and check mode never runs a writing script.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.azure_cvm.backup.plugins.module_utils import azure_local_tvm as tvm
from ansible_collections.azure_cvm.backup.plugins.modules import azure_local_tvm_review as review_module
from ansible_collections.azure_cvm.backup.plugins.modules import azure_local_tvm_store as store
from ansible_collections.azure_cvm.backup.plugins.modules import azure_local_tvm_wrapping_key as wk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "azure_local_tvm")
SCRIPT = os.path.join(ROLE, "files", "AzureLocalTvm.ps1")
ADMINS, SYSTEM, USERS, EVERYONE = "S-1-5-32-544", "S-1-5-18", "S-1-5-32-545", "S-1-1-0"


def play_env() -> dict:
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "pytest"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}


# ================================================================================================ decisions


@pytest.mark.parametrize("version,release", [
    ("10.2505.0.3001", 2505), ("11.2510.1002.93", 2510), ("10.2411.3.12", 2411), ("2505", 2505), ("2411.3", 2411),
    (" 10.2311.2.7 ", 2311), ("", None), (None, None), ("banana", None), ("10.25", None), ("1.2.3.4", None)])
def test_parse_release(version, release):
    assert tvm.parse_release(version) == release


@pytest.mark.parametrize("release,procedure", [(2311, "moc_key"), (2411, "moc_key"), (2504, "moc_key"), (2505, "backup_utils"), (2604, "backup_utils")])
def test_the_key_procedure_switches_at_2505(release, procedure):
    assert tvm.key_procedure(release) == procedure


def test_releases_before_trusted_launch_are_refused():
    with pytest.raises(ValueError, match="2311.2 or later"):
        tvm.key_procedure(2310)


def test_choose_procedure_variable_wins_and_auto_needs_a_detected_version():
    assert tvm.choose_procedure("2411", "10.2505.0.1") == {"release": 2411, "procedure": "moc_key", "source": "variable"}
    assert tvm.choose_procedure("auto", "10.2505.0.1") == {"release": 2505, "procedure": "backup_utils", "source": "detected"}
    assert tvm.choose_procedure(None, "10.2408.0.1")["procedure"] == "moc_key"
    with pytest.raises(ValueError, match="set azure_local_tvm_release"):
        tvm.choose_procedure("auto", None)  # Get-SolutionUpdateEnvironment gave nothing: never guess
    with pytest.raises(ValueError, match="is not an Azure Local release"):
        tvm.choose_procedure("latest", "10.2505.0.1")


def test_restore_follows_the_backups_procedure_when_the_target_can_run_it():
    moc = {"version": "1.14.1.10414", "module_version": "1.2.27"}
    assert tvm.restore_procedure("moc_key", 2505) == "moc_key", "a MOC key vault backup is restored the MOC way on 2505+ too"
    assert tvm.restore_procedure("moc_key", 2411) == "moc_key"
    assert tvm.restore_procedure("backup_utils", 2505, moc) == "backup_utils"
    with pytest.raises(ValueError, match="only Azure Local 2505 or later can import; this target runs 2411"):
        tvm.restore_procedure("backup_utils", 2411, moc)
    for bad, what in (({"version": "1.14.1.10413", "module_version": "1.2.27"}, "MOC stack 1.14.1.10414"),
                      ({"version": "1.15.0.1", "module_version": "1.2.9"}, "MOC PowerShell module 1.2.27"),
                      ({"version": None, "module_version": "1.2.30"}, "MOC stack"), (None, "MOC PowerShell module")):
        with pytest.raises(ValueError, match=what):
            tvm.restore_procedure("backup_utils", 2510, bad)
    with pytest.raises(ValueError, match="no known key procedure"):
        tvm.restore_procedure(None, 2505)
    with pytest.raises(ValueError, match="2311.2 or later"):
        tvm.restore_procedure("moc_key", 2308)


def test_backup_folder_names_and_key_files():
    assert tvm.latest_backup_folder(["20250612205355", "20250722192116", "notes", "2025072219211"]) == "20250722192116"
    assert tvm.latest_backup_folder(["x"]) is None
    files = ["AES/11111111-1111-1111-1111-111111111111_256.json", "AES\\7FB16FE7-00A0-476F-92B3-CCB98FD9525A_256.json",
             "RSA/AzureStackTvmAKRootKey_4096.json", "SHA256SUMS", "AES/broken.json"]
    names = tvm.key_file_names(files)
    assert names["AES"] == {"11111111-1111-1111-1111-111111111111": 256, "7fb16fe7-00a0-476f-92b3-ccb98fd9525a": 256}
    assert names["RSA"] == {"azurestacktvmakrootkey": 4096}
    findings = tvm.key_backup_findings(["7fb16fe7-00a0-476f-92b3-ccb98fd9525a", "22222222-2222-2222-2222-222222222222"], files)
    assert [f["vm_id"] for f in findings] == ["22222222-2222-2222-2222-222222222222"]
    clash = tvm.key_backup_findings([], files, wrapping_key_name="AzureStackTvmAKRootKey")
    assert len(clash) == 1 and "is the name of a key in the backup" in clash[0]["msg"], "S3: a clash may hang MOC"
    assert tvm.key_backup_findings([], files, wrapping_key_name="ansible-tvm-wrap-20250722192116") == []


def ace(sid, kind="Allow", identity=None, rights="FullControl"):
    return {"sid": sid, "identity": identity or sid, "type": kind, "rights": rights}


def place(path="C:\\ClusterStorage\\Volume1\\vms", kind="VM files", **more):
    return {"path": path, "kind": kind, "reachable": True, "error": None, "owner_sid": ADMINS, "aces": [ace(ADMINS), ace(SYSTEM)],
            "share": None, "computer_sids": [], **more}


def test_acl_only_host_administrators_and_hyperv_identities():
    ok = [place(aces=[ace(ADMINS), ace(SYSTEM), ace("S-1-3-0"), ace("S-1-5-83-0"), ace("S-1-5-83-1-123-456-789-1011"),
                      ace("S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"), ace(USERS, kind="Deny")])]
    assert tvm.acl_findings(ok) == []
    bad = [place("D:\\vms", aces=[ace(ADMINS), ace(USERS, identity="BUILTIN\\Users", rights="ReadAndExecute"), ace(EVERYONE)])]
    findings = tvm.acl_findings(bad)
    assert [f["sid"] for f in findings] == [USERS, EVERYONE]
    assert "BUILTIN\\Users has ReadAndExecute on D:\\vms" in findings[0]["msg"] and "restricted to host administrators" in findings[0]["msg"]
    cluster = "S-1-5-21-1-2-3-1105"
    assert tvm.acl_findings([place(aces=[ace(cluster)])], extra_allowed_sids=[cluster.lower()]) == []


def test_the_export_share_admits_the_nodes_computer_accounts_only_there():
    node = "S-1-5-21-1-2-3-1001"
    share = {"reachable": True, "aces": [ace(ADMINS), ace(node, rights="Change")]}
    export = place("\\\\backup\\tvm", "export", aces=[ace(ADMINS), ace(node, rights="Modify")], share=share, computer_sids=[node])
    assert tvm.acl_findings([export]) == []
    open_share = {**export, "share": {"reachable": True, "aces": [ace(EVERYONE, rights="Read")]}}
    assert "share permissions" in tvm.acl_findings([open_share])[0]["msg"]
    assert tvm.acl_findings([place(aces=[ace(node)])])[0]["sid"] == node, "a computer account is no host administrator for VM files"


@pytest.mark.parametrize("facts,message", [
    ("not a list", "could not be read from the host facts"),
    ([None], "could not be read (None)"),
    ([{"aces": []}], "could not be read"),
    ([place(reachable=False, error="The network path was not found")], "could not be checked from the host (The network path was not found)"),
    ([place(reachable="yes")], "could not be checked"),
    ([place(aces=[])], "could not be read; it must be restricted"),
    ([place(aces="everyone")], "could not be read; it must be restricted"),
    ([place(aces=[{"identity": "x", "type": "Allow"}])], "could not be read"),
    ([place(aces=[ace(None)])], "could not be read"),
    ([place(aces=[ace(EVERYONE, kind="AllowOrSo")])], "could not be read"),
    ([place(aces=["S-1-1-0"])], "could not be read"),
    ([place("\\\\srv\\x", "export", share={"reachable": False, "error": "Access is denied"})],
     "share permissions of \\\\srv\\x could not be read (Access is denied)"),
    ([place("\\\\srv\\x", "export", share="junk")], "share permissions"),
    ([place(kind="work", owner_sid="S-1-5-21-5-5-5-1500")], "is owned by"),
    ([place(kind="work", owner_sid=None)], "is owned by"),
])
def test_acl_facts_fail_closed(facts, message):
    """Issue 17 item 4: malformed or missing access facts are findings, never a pass."""
    findings = tvm.acl_findings(facts)
    assert findings and message in " ".join(f["msg"] for f in findings)


def rule(remote, encryption="AES256", encapsulation="ESP", enabled=True):
    return {"name": "LM", "enabled": enabled, "remote": remote, "proposals": [{"encapsulation": encapsulation, "encryption": encryption}]}


def single_host(networks, use_any=False):
    return {"cluster": False, "nodes": [{"name": "N1", "enabled": True, "use_any_network": use_any, "networks": networks}]}


@pytest.mark.parametrize("remote", [["Any"], ["10.71.0.0/16"], ["10.71.1.0/24"], ["10.71.1.0-10.71.1.255"], ["192.168.0.0/24", "10.0.0.0/8"]])
def test_live_migration_networks_covered_by_an_encrypting_ipsec_rule(remote):
    assert tvm.live_migration_findings(single_host(["10.71.1.0/24"]), [rule(remote)]) == []


@pytest.mark.parametrize("bad", [rule(["Any"], encryption="None"), rule(["Any"], encapsulation="AH"), rule(["Any"], enabled=False),
                                 {**rule(["Any"]), "proposals": []}, {**rule(["Any"]), "proposals": None},
                                 {"name": "x", "enabled": True, "remote": ["Any"]}, "junk"])
def test_an_ipsec_rule_counts_only_if_it_encrypts(bad):
    assert not tvm.ipsec_rule_encrypts(bad)
    assert tvm.live_migration_findings(single_host(["10.71.1.0/24"]), [bad])[0]["network"] == "10.71.1.0/24"


def test_live_migration_networks_without_ipsec_get_the_documented_recommendation():
    rules = [rule(["10.99.0.0/16"]), rule(["10.71.1.0/25"])]
    findings = tvm.live_migration_findings(single_host(["10.71.1.0/24", "fd00::/64", "junk"]), rules)
    assert [f["network"] for f in findings] == ["10.71.1.0/24", "fd00::/64", "junk"]
    assert all("IPsec" in f["msg"] and "not encrypted" in f["msg"] for f in findings)
    assert tvm.live_migration_findings(single_host([], use_any=True), []) and tvm.live_migration_findings(single_host([], True), [rule(["Any"])]) == []
    assert tvm.live_migration_findings(single_host([], use_any=True), [rule(["10.0.0.0/8"])])[0]["network"] == "any"


def test_on_a_cluster_the_cluster_networks_count_even_with_live_migration_off():
    migration = {"cluster": True, "nodes": [{"name": "N1", "enabled": False, "use_any_network": False, "networks": ["192.168.99.0/24"]}],
                 "cluster_networks": [{"id": "a", "address": "10.71.1.0", "mask": "255.255.255.0", "role": "ClusterAndClient"},
                                      {"id": "b", "address": "10.71.2.0", "mask": "255.255.255.0", "role": "Cluster"},
                                      {"id": "c", "address": "10.71.3.0", "mask": "255.255.255.0", "role": "None"},
                                      {"id": "d", "address": "172.16.0.0", "mask": "255.255.0.0", "role": "Client"}],
                 "exclude_networks": ["d"]}
    assert tvm.migration_networks(migration) == ["10.71.1.0/255.255.255.0", "10.71.2.0/255.255.255.0"]
    assert [f["network"] for f in tvm.live_migration_findings(migration, [rule(["10.71.1.0/24"])])] == ["10.71.2.0/24"]


def test_vm_files_backup_needs_vmcx_vmgs_the_vmrs_and_every_disk():
    vm_id = "7FB16FE7-00A0-476F-92B3-CCB98FD9525A"
    source = {"name": "vm1", "files": [rf"C:\vms\Virtual Machines\{vm_id}.vmcx", rf"C:\vms\Virtual Machines\{vm_id}.vmgs",
                                       rf"C:\vms\Virtual Machines\{vm_id}.vmrs"], "disks": [r"C:\ClusterStorage\disks\OS.vhdx"]}
    full = [rf"Virtual Machines\{vm_id}.vmcx", rf"Virtual Machines\{vm_id}.VMGS", rf"Virtual Machines\{vm_id}.vmrs", r"Virtual Hard Disks\os.vhdx"]
    assert tvm.vm_files_findings([source], [{"name": "VM1", "files": full}]) == []
    msgs = [f["msg"] for f in tvm.vm_files_findings([source], [{"name": "vm1", "files": [rf"Virtual Machines\{vm_id}.vmcx"]}])]
    assert msgs == ["vm1: the backup has no VM guest state (.vmgs) file.", f"vm1: the runtime state file {vm_id.lower()}.vmrs is missing from the backup.",
                    "vm1: the virtual disk os.vhdx is missing from the backup."]
    no_vmrs = {**source, "files": source["files"][:2]}
    assert tvm.vm_files_findings([no_vmrs], [{"name": "vm1", "files": [full[0], full[1], full[3]]}]) == [], "no .vmrs on the VM: none needed"
    assert [f["msg"] for f in tvm.vm_files_findings([source, {"name": "vm2", "files": []}], [{"name": "VM1", "files": full}])] == \
        ["vm2: the VM files were not exported."]


VM_A, VM_B = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
INVALID = ("Import-TVMKeys : Error Importing Key: C:\\Program Files\\AksHci\\mocctl.exe ... "
           "[Error: Keys Import failed:  Type[Key] Vault[AzureStackTvmKeyVault] Name[{}]:\n    InvalidVersion]")


def test_key_import_errors_other_than_invalid_version_fail():
    log = ["Importing TVM  keys from .\\tvm_keys_backup_root\\20250722192116\\", INVALID.format(VM_A),
           "Import-TVMKeys : Error Importing Key: ... [Error: Keys Import failed: Type[Key] Name[x]: Unavailable]",
           f"Error importing key {VM_B}: access denied"]
    findings = tvm.import_findings(log)
    assert [(f["key"], f["fatal"]) for f in findings] == [("x", True), (VM_B, True)]
    assert tvm.import_findings(None) == []


def test_invalid_version_for_a_restored_vms_own_key_is_an_error_with_the_remedy():
    log = [INVALID.format(VM_A.upper()), INVALID.format(VM_B), f"Error importing key {VM_B}: ... InvalidVersion"]
    findings = tvm.import_findings(log, restored_vm_ids=[VM_A])
    assert [(f["key"], f["fatal"]) for f in findings] == [(VM_A, True)], "another VM's key already there is ignored (S3)"
    assert f"Remove-MocKey -name {VM_A} -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault" in findings[0]["msg"]
    assert tvm.import_findings(log, restored_vm_ids=[VM_A], allow_existing_vm_keys=True) == []
    assert tvm.import_findings([f"Error importing key {VM_B}: InvalidVersion"], restored_vm_ids=[VM_B])[0]["fatal"]
    unnamed = tvm.import_findings(["Error Importing Key: InvalidVersion"], restored_vm_ids=[VM_A])
    assert unnamed[0]["fatal"] and "does not say which" in unnamed[0]["msg"]


def test_the_ak_root_key_conflict_on_another_instance_is_reported_with_microsofts_advice():
    log = [INVALID.format("AzureStackTvmAKRootKey")]
    assert tvm.import_findings(log, restored_vm_ids=[VM_A], same_instance=True) == []
    finding, = tvm.import_findings(log, restored_vm_ids=[VM_A], same_instance=False)
    assert not finding["fatal"] and "to make sure attestation continues to work" in finding["msg"]


def review_params(**more):
    params = {k: None for k in ("release", "detected_version", "backup_procedure", "moc_versions", "locations", "migration", "ipsec_rules",
                                "source_vms", "backup_vms", "vm_ids", "key_backup_files", "wrapping_key_name", "import_log", "restored_vm_ids")}
    params.update(extra_allowed_sids=[], acl_warn_only=False, restore_to_other_instance=False, allow_existing_vm_keys=False, same_instance=True)
    return {**params, **more}


def test_review_module_collects_errors_and_warnings():
    params = review_params(restore_to_other_instance=True, release="auto", detected_version="10.2505.1.2",
                           locations=[place("D:\\vms", aces=[ace(USERS)])], migration=single_host(["10.1.0.0/24"]), ipsec_rules=[],
                           vm_ids=["abc"], key_backup_files=[])
    result, warnings, errors = review_module.review(params)
    assert result["procedure"] == "backup_utils" and result["release_source"] == "detected"
    assert len(errors) == 2 and "restricted to host administrators" in errors[0] and "VM ID abc" in errors[1]
    assert any("IPsec" in w for w in warnings) and tvm.OTHER_INSTANCE_WARNING in warnings
    result, warnings, errors = review_module.review({**params, "acl_warn_only": True, "vm_ids": None, "restore_to_other_instance": False})
    assert errors == [] and any("restricted to host administrators" in w for w in warnings)


def test_review_module_for_a_restore_takes_the_manifests_procedure():
    result, _warnings, errors = review_module.review(review_params(release="auto", detected_version="10.2505.1.2", backup_procedure="moc_key"))
    assert errors == [] and result["procedure"] == "moc_key"
    result, _warnings, errors = review_module.review(review_params(release="2411", backup_procedure="backup_utils", moc_versions={}))
    assert "procedure" not in result and "only Azure Local 2505 or later" in errors[0]
    result, warnings, errors = review_module.review(review_params(import_log=[INVALID.format(VM_A), INVALID.format("AzureStackTvmAKRootKey")],
                                                                  restored_vm_ids=[VM_A], same_instance=False))
    assert len(errors) == 1 and "Remove-MocKey" in errors[0] and any("attestation" in w for w in warnings)


# ================================================================================================ wrapping key


def wk_params(tmp_path, **more):
    path = str(tmp_path / "keys" / "private.pem")
    return {"path": path, "public_key_path": wk.default_public_path(path), "passphrase": None, "state": "present", "export_path": None, **more}


def test_wrapping_key_is_made_like_the_documented_powershell_7_steps(tmp_path):
    p = wk_params(tmp_path)
    result = wk.ensure_present(p, check_mode=False)
    assert result["changed"] and result["created"]
    private = open(p["path"], "rb").read()
    public = open(p["public_key_path"], "rb").read()
    assert private.startswith(b"-----BEGIN PRIVATE KEY-----"), "ExportPkcs8PrivateKeyPem()"
    assert public.startswith(b"-----BEGIN RSA PUBLIC KEY-----"), "ExportRSAPublicKeyPem()"
    assert stat.S_IMODE(os.stat(p["path"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(p["path"])).st_mode) == 0o700
    key = serialization.load_pem_private_key(private, None)
    assert key.key_size == 2048
    assert serialization.load_pem_public_key(public).public_numbers() == key.public_key().public_numbers()
    assert result["public_key_pem"].encode() == public
    again = wk.ensure_present(p, check_mode=False)
    assert not again["changed"] and not again["created"] and again["public_key_sha256"] == result["public_key_sha256"]
    assert open(p["path"], "rb").read() == private, "an existing private key is never replaced"


def test_wrapping_key_check_mode_writes_nothing(tmp_path):
    p = wk_params(tmp_path)
    result = wk.ensure_present(p, check_mode=True)
    assert result["changed"] and result["created"] and result["public_key_pem"] is None
    assert not os.path.exists(os.path.dirname(p["path"]))


def test_wrapping_key_repairs_the_public_key_and_the_mode(tmp_path):
    p = wk_params(tmp_path)
    wk.ensure_present(p, check_mode=False)
    os.unlink(p["public_key_path"])
    os.chmod(p["path"], 0o644)
    assert wk.ensure_present(p, check_mode=True)["changed"] and not os.path.exists(p["public_key_path"])
    fixed = wk.ensure_present(p, check_mode=False)
    assert fixed["changed"] and os.path.exists(p["public_key_path"]) and stat.S_IMODE(os.stat(p["path"]).st_mode) == 0o600


def test_wrapping_key_check_mode_reports_a_loose_mode_and_leaves_it(tmp_path):
    """Found by mutation testing (the check-mode guard of the chmod): check mode must say the mode would change, and not
    change it."""
    p = wk_params(tmp_path)
    wk.ensure_present(p, check_mode=False)
    os.chmod(p["path"], 0o644)
    planned = wk.ensure_present(p, check_mode=True)
    assert planned["changed"] and stat.S_IMODE(os.stat(p["path"]).st_mode) == 0o644
    assert wk.ensure_present(p, check_mode=False)["changed"] and stat.S_IMODE(os.stat(p["path"]).st_mode) == 0o600
    assert not wk.ensure_present(p, check_mode=True)["changed"]


def test_wrapping_key_with_a_passphrase_and_its_export_for_a_restore(tmp_path):
    p = wk_params(tmp_path, passphrase="correct horse", export_path=str(tmp_path / "tmp" / "private.pem"))
    made = wk.ensure_present(p, check_mode=False)
    assert open(p["path"], "rb").read().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    checked = wk.export_plain(p, check_mode=True)
    assert checked["changed"] and not os.path.exists(p["export_path"]), "check mode says it would write, and writes nothing"
    exported = wk.export_plain(p, check_mode=False)
    assert exported["export_path"] == p["export_path"] and exported["changed"]
    assert stat.S_IMODE(os.stat(p["export_path"]).st_mode) == 0o600
    plain = serialization.load_pem_private_key(open(p["export_path"], "rb").read(), None)
    assert wk.fingerprint(plain) == made["public_key_sha256"]
    with pytest.raises(wk.KeyError_, match="wrong passphrase"):
        wk.export_plain({**p, "passphrase": "wrong"}, check_mode=False)
    with pytest.raises(wk.KeyError_, match="give its passphrase"):
        wk.ensure_present({**p, "passphrase": None}, check_mode=False)


def test_exported_never_returns_the_private_key(tmp_path):
    """Issue 17 item 3 regression: state=exported must not return the private key, in any form, through Ansible."""
    p = wk_params(tmp_path, passphrase="pw")
    wk.ensure_present(p, check_mode=False)
    target = tmp_path / "out" / "private.pem"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "export", "azure_cvm.backup.azure_local_tvm_wrapping_key": {"path": p["path"], "passphrase": "pw", "state": "exported",
                                                                             "export_path": str(target)}, "register": "k"},
        {"name": "show", "ansible.builtin.debug": {"var": "k"}}]}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-vvv", str(path)],
                          env=play_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = "".join(open(target).read().splitlines()[1:-1])
    out = proc.stdout + proc.stderr
    assert "PRIVATE KEY" not in out and body[:40] not in out and body[-40:] not in out
    assert str(target) in out and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_wrapping_key_refusals(tmp_path):
    p = wk_params(tmp_path)
    with pytest.raises(wk.KeyError_, match="does not exist"):
        wk.export_plain(p, check_mode=True)
    wk.ensure_present(p, check_mode=False)
    with pytest.raises(wk.KeyError_, match="never rewrites"):
        wk.ensure_present({**p, "passphrase": "late"}, check_mode=False)
    with open(p["path"], "wb") as handle:
        handle.write(b"$ANSIBLE_VAULT;1.1;AES256\n6162")
    with pytest.raises(wk.KeyError_, match="ansible-vault"):
        wk.export_plain(p, check_mode=True)


# ================================================================================================ backup store


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_store_keeps_a_key_folder_byte_for_byte_and_reads_the_newest(tmp_path):
    files = {"AES/11111111-1111-1111-1111-111111111111_256.json": b64(b'{"k":"v"}\r\n'),
             "RSA/AzureStackTvmAKRootKey_4096.json": b64(b"\xff\xfe{\x00}\x00")}  # UTF-16 with BOM stays as it was
    old = store.store(str(tmp_path / "keys" / "20250612205355"), files, check_mode=False)
    new = store.store(str(tmp_path / "keys" / "20250722192116"), files, check_mode=False)
    assert old["changed"] and new["changed"] and new["folder"] == "20250722192116"
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "20250722192116" / "RSA" / "AzureStackTvmAKRootKey_4096.json").st_mode) == 0o600
    assert not store.store(str(tmp_path / "keys" / "20250722192116"), files, check_mode=False)["changed"]
    read = store.load(str(tmp_path / "keys"), latest=True)
    assert read["folder"] == "20250722192116" and read["files"] == files


def test_store_check_mode_and_refusals(tmp_path):
    files = {"AES/x_256.json": b64(b"{}")}
    assert store.store(str(tmp_path / "k" / "20250101000000"), files, check_mode=True)["changed"]
    assert not (tmp_path / "k").exists()
    for bad in ("../evil.json", "/etc/passwd", "C:/x.json", "SHA256SUMS"):
        with pytest.raises(store.StoreError, match="Refusing"):
            store.store(str(tmp_path / "k"), {bad: b64(b"x")}, check_mode=False)
    with pytest.raises(store.StoreError, match="not base64"):
        store.store(str(tmp_path / "k"), {"a.json": "***"}, check_mode=False)
    with pytest.raises(store.StoreError, match="no timestamped"):
        store.load(str(tmp_path / "nothing"), latest=True)


def test_store_detects_a_modified_backup_folder(tmp_path):
    folder = tmp_path / "20250722192116"
    store.store(str(folder), {"AES/x_256.json": b64(b"{}")}, check_mode=False)
    (folder / "AES" / "x_256.json").write_bytes(b"{ }")
    with pytest.raises(store.StoreError, match="must not be modified"):
        store.load(str(folder), latest=False)


# ================================================================================================ the role


def load_tasks(name):
    with open(os.path.join(ROLE, "tasks", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def flat(tasks):
    for task in tasks:
        yield task
        for part in ("block", "rescue", "always"):
            yield from flat(task.get(part, []))


def action_of(task) -> str | None:
    cmd = (task.get("ansible.builtin.script") or {}).get("cmd", "")
    match = re.search(r"-Action (\S+)", cmd)
    return match.group(1) if match else None


def task_files():
    return sorted(f for f in os.listdir(os.path.join(ROLE, "tasks")) if f.endswith(".yml"))


def test_restore_order_key_first_then_files_then_start():
    steps = [t.get("ansible.builtin.include_tasks") or ("MARK" if "_azure_local_tvm_keys_restored" in str(t.get("ansible.builtin.set_fact")) else None)
             for t in flat(load_tasks("restore.yml"))]
    steps = [s for s in steps if s]
    assert steps == ["restore_keys_backup_utils.yml", "restore_keys_moc_key.yml", "MARK", "restore_files.yml", "start_vms.yml"]
    start = load_tasks("start_vms.yml")
    assert "_azure_local_tvm_keys_restored" in start[0]["ansible.builtin.assert"]["that"]
    assert action_of(start[1]) == "Start-RestoredVms"


def test_backup_order_keys_then_files():
    includes = [t["ansible.builtin.include_tasks"] for t in flat(load_tasks("backup.yml")) if "ansible.builtin.include_tasks" in t]
    assert includes == ["backup_keys_backup_utils.yml", "backup_keys_moc_key.yml", "backup_files.yml"]


def test_each_action_is_used_where_it_belongs_and_only_facts_run_in_check_mode():
    used = {}
    for name in task_files():
        for task in flat(load_tasks(name)):
            action = action_of(task)
            if action:
                used.setdefault(action, []).append(name)
                if action == "Get-HostFacts":
                    assert task.get("check_mode") is False and task.get("changed_when") is False
                else:
                    assert "check_mode" not in task, f"{action} writes: it must be skipped in check mode"
                run = task["register"]
                assert task["failed_when"] == f"{run}.rc != 0 or ({run}.stdout_lines | last | from_json).failed", \
                    f"{action}: the script's exit code and its JSON 'failed' decide"
    assert used["Start-RestoredVms"] == ["start_vms.yml"]
    assert used["Restore-KeyFolder"] == ["restore_keys_backup_utils.yml"]
    assert used["Import-VmFiles"] == ["restore_files.yml"]
    with open(SCRIPT, encoding="utf-8") as handle:
        declared = set(re.findall(r"'([A-Za-z-]+)'", re.search(r"ValidateSet\(([^)]*)\)", handle.read()).group(1)))
    assert set(used) == declared, "every script action is used by the role and every used one exists"


def test_the_private_key_is_never_logged():
    carriers = []
    for name in task_files():
        for task in flat(load_tasks(name)):
            if "private_key" in json.dumps(task.get("vars", {})):
                assert task.get("no_log") is True, f"{name}: {task['name']}"
                carriers.append(name)
            assert "private_key_pem" not in json.dumps(task), "the wrapping key module never returns the private key"
    assert carriers == ["restore_keys_backup_utils.yml"]
    tasks = load_tasks("restore_keys_backup_utils.yml")
    block = tasks[2]
    assert block["always"][0]["ansible.builtin.file"] == {"path": "{{ _azure_local_tvm_key_tmp.path }}", "state": "absent"}, \
        "the decrypted key is deleted from the controller whatever happens"
    export = block["block"][1]["azure_cvm.backup.azure_local_tvm_wrapping_key"]
    assert block["vars"]["_azure_local_tvm_key_file"] == "{{ _azure_local_tvm_key_tmp.path }}/private.pem" \
        and tasks[1]["ansible.builtin.tempfile"]["state"] == "directory"
    assert export["export_path"] == "{{ _azure_local_tvm_key_file }}", "the key is decrypted into the private folder"


@pytest.mark.parametrize("connection,refused", [
    ({"ansible_connection": "winrm", "ansible_winrm_transport": "basic", "ansible_port": 5985}, True),
    ({"ansible_connection": "winrm", "ansible_winrm_transport": ["basic"], "ansible_winrm_scheme": "http"}, True),
    ({"ansible_connection": "winrm", "ansible_winrm_transport": "basic"}, False),  # default port 5986: HTTPS
    ({"ansible_connection": "winrm", "ansible_winrm_transport": "ntlm", "ansible_port": 5985}, False),  # message encryption
    ({"ansible_connection": "psrp", "ansible_port": 5985}, False), ({"ansible_connection": "ssh"}, False), ({}, False)])
def test_the_private_key_is_not_sent_over_basic_http(connection, refused):
    guard = load_tasks("restore_keys_backup_utils.yml")[0]["ansible.builtin.assert"]["that"]
    assert render("{{ " + guard + " }}", role_vars(**connection)) is not refused


@pytest.mark.parametrize("value,accepted,as_bool", [("true", True, True), (True, True, True), ("false", True, False), (False, True, False),
                                                    ("True", True, True), ("yes", True, True), ("0", True, False), (None, False, None)])
def test_same_instance_from_extra_vars_is_read_with_bool(value, accepted, as_bool):
    """-e azure_local_tvm_same_instance=true gives the string "true" (README, playbook): it must work. (Strings that are
    no boolean, such as "maybe", are refused by the role's argument spec first: test_azure_local_tvm_role.py.)"""
    main = load_tasks("main.yml")
    condition = main[0]["ansible.builtin.assert"]["that"][2]
    variables = role_vars(azure_local_tvm_action="restore", azure_local_tvm_same_instance=value)
    assert render("{{ " + condition + " }}", variables) is accepted
    if accepted:
        fact = main[1]["ansible.builtin.set_fact"]["_azure_local_tvm_same_instance"]
        assert render(fact, variables) is as_bool


def test_argument_specs_match_the_defaults():
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    with open(os.path.join(ROLE, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        if "default" in spec:
            assert spec["default"] == defaults[name], name


def render(template, variables):
    """Render like a task does (ansible-core 2.19 templates only trusted strings)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    try:
        from ansible.template import trust_as_template
    except ImportError:  # ansible-core < 2.19 trusts every string
        def trust_as_template(value):
            return value

    def trust(obj):
        if isinstance(obj, str):
            return trust_as_template(obj)
        if isinstance(obj, dict):
            return {k: trust(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [trust(v) for v in obj]
        return obj
    return Templar(loader=DataLoader(), variables=trust(variables)).template(trust(template))


def rendered_params(task, variables) -> tuple[str, dict]:
    params = render(task["vars"]["params"], variables)
    cmd = render(task["ansible.builtin.script"]["cmd"], {**variables, "params": params})
    match = re.fullmatch(r"AzureLocalTvm\.ps1 -Action (\S+) -ParamsB64 ([A-Za-z0-9+/=]+)", cmd.strip())
    assert match, cmd
    return match.group(1), json.loads(base64.b64decode(match.group(2)))


def without_file_lookups(task):
    """The task with each `lookup('ansible.builtin.file', NAME, rstrip=false)` of its script parameters replaced by the
    variable `_file_NAME` (the lookup cannot load outside ansible-playbook): the test gives that file's content."""
    params = task["vars"]["params"]
    for key, value in params.items():
        params[key] = re.sub(r"lookup\('ansible\.builtin\.file', (\w+), rstrip=false\)", r"_file_\1", value) if isinstance(value, str) else value
    return task


def test_the_public_key_file_the_role_reads_is_the_one_the_module_writes():
    """The role names the public key file itself (the module's result may be masked) and passes it to the module."""
    task = next(t for t in load_tasks("main.yml") if "_azure_local_tvm_public_key_file" in t.get("ansible.builtin.set_fact", {}))
    template = task["ansible.builtin.set_fact"]["_azure_local_tvm_public_key_file"]
    for path in ("/secrets/wrapping/private.pem", "/secrets/wrapping.d/key", "/secrets/a.b.key", "relative/private.pem"):
        assert render(template, {"azure_local_tvm_wrapping_key_path": path}) == wk.default_public_path(path)
    calls = [t["azure_cvm.backup.azure_local_tvm_wrapping_key"] for name in task_files() for t in flat(load_tasks(name))
             if "azure_cvm.backup.azure_local_tvm_wrapping_key" in t]
    present = [c for c in calls if c.get("state", "present") == "present"]
    assert len(present) == 2 and all(c["public_key_path"] == "{{ _azure_local_tvm_public_key_file }}" for c in present)


def role_vars(**more):
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update({"azure_local_tvm_backup_store": "/backup", "inventory_hostname": "node1", "_azure_local_tvm_stamp": "20250722192116"})
    variables.update(more)
    return variables


def test_rendered_backup_command_carries_what_backup_tvmkeys_needs(tmp_path):
    key = wk.ensure_present(wk_params(tmp_path), check_mode=False)
    task = without_file_lookups(next(t for t in load_tasks("backup_keys_backup_utils.yml") if action_of(t)))
    action, params = rendered_params(task, role_vars(azure_local_tvm_backup_utils_path=r"C:\tools\TvmBackupUtils.psm1",
                                                     _file__azure_local_tvm_public_key_file=open(key["public_key_path"], encoding="utf-8").read()))
    assert action == "Backup-KeyFolder"
    assert params["module_path"] == r"C:\tools\TvmBackupUtils.psm1"
    assert params["backup_root"] == r"C:\ProgramData\azure_cvm_backup\tvm\key-backups"
    assert base64.b64decode(params["public_key_b64"]).decode() == key["public_key_pem"]
    assert "PRIVATE" not in json.dumps(params) and "private" not in json.dumps(params), "only the public key goes to the host on backup"


@pytest.mark.parametrize("same", [True, False])
def test_rendered_restore_command(tmp_path, same):
    p = wk_params(tmp_path, export_path=str(tmp_path / "x" / "private.pem"))
    wk.ensure_present(p, check_mode=False)
    exported = wk.export_plain(p, check_mode=False)
    task = without_file_lookups(next(t for t in flat(load_tasks("restore_keys_backup_utils.yml")) if action_of(t)))
    action, params = rendered_params(task, role_vars(
        azure_local_tvm_backup_utils_path=r"C:\tools\TvmBackupUtils.psm1", _azure_local_tvm_same_instance=same,
        _azure_local_tvm_wrapping_key_name="ansible-tvm-wrap-20250722192116",
        _file__azure_local_tvm_key_file=open(exported["export_path"], encoding="utf-8").read(),
        _file__azure_local_tvm_public_key_file=open(exported["public_key_path"], encoding="utf-8").read(),
        _azure_local_tvm_key_folder={"folder": "20250722192116", "files": {"AES/x_256.json": "e30="}}))
    assert action == "Restore-KeyFolder"
    assert params["same_instance"] is same
    assert params["wrapping_key_name"] == "ansible-tvm-wrap-20250722192116" and params["folder"] == "20250722192116"
    assert base64.b64decode(params["private_key_b64"]) == open(exported["export_path"], "rb").read()
    assert base64.b64decode(params["public_key_b64"]).decode() == exported["public_key_pem"]
    assert params["private_key_b64"] and "private_key_pem" not in exported
    assert params["files"] == {"AES/x_256.json": "e30="}


# ================================================================================================ controller modules in a real play


def test_controller_modules_in_a_playbook_check_mode_then_real(tmp_path):
    """The wrapping key and store modules as the role calls them, through ansible-playbook (check mode writes nothing)."""
    key = tmp_path / "store" / "wrapping-key" / "private.pem"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "key", "azure_cvm.backup.azure_local_tvm_wrapping_key": {"path": str(key), "passphrase": "pw"}, "register": "k"},
        {"name": "store", "azure_cvm.backup.azure_local_tvm_store": {
            "path": str(tmp_path / "store" / "keys" / "20250722192116"), "files": {"AES/a_256.json": "e30="}}},
        {"name": "review", "azure_cvm.backup.azure_local_tvm_review": {"release": "2505"}, "register": "r"},
        {"name": "show", "ansible.builtin.debug": {"msg": "PROCEDURE={{ r.procedure }}"}},
    ]}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = play_env()
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def run(*flags):
        proc = subprocess.run([playbook, "-i", "localhost,", str(path), *flags], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    out = run("--check")
    assert "PROCEDURE=backup_utils" in out and not (tmp_path / "store").exists()
    out = run()
    assert re.search(r"changed=2\b", out) and key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert re.search(r"changed=0\b", run()), "a second run changes nothing"
