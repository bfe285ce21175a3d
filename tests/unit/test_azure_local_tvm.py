"""Controller side of the azure_local_tvm role, which is all that can run here (no Windows, no PowerShell):

- the decisions (release -> key procedure, VM files ACL, live-migration IPsec, .vmgs/.vmrs, key import errors);
- the wrapping key (RSA-2048, PKCS#8 private key 0600, PKCS#1 public key, passphrase) and the backup store;
- the PowerShell, parsed with the tree-sitter PowerShell grammar: it must parse, and the documented cmdlets must
  come in the documented order with the documented parameters (golden sequences from the Microsoft procedure);
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
import tree_sitter
import tree_sitter_powershell
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


def test_backup_folder_names_and_key_files():
    assert tvm.latest_backup_folder(["20250612205355", "20250722192116", "notes", "2025072219211"]) == "20250722192116"
    assert tvm.latest_backup_folder(["x"]) is None
    files = ["AES/11111111-1111-1111-1111-111111111111_256.json", "AES\\7FB16FE7-00A0-476F-92B3-CCB98FD9525A_256.json",
             "RSA/AzureStackTvmAKRootKey_4096.json", "SHA256SUMS", "AES/broken.json"]
    names = tvm.key_file_names(files)
    assert names["AES"] == {"11111111-1111-1111-1111-111111111111": 256, "7fb16fe7-00a0-476f-92b3-ccb98fd9525a": 256}
    assert names["RSA"] == {"azurestacktvmakrootkey": 4096}
    assert tvm.missing_vm_keys(["7fb16fe7-00a0-476f-92b3-ccb98fd9525a", "22222222-2222-2222-2222-222222222222"], files) == \
        ["22222222-2222-2222-2222-222222222222"]


def ace(sid, kind="Allow", identity=None, rights="FullControl"):
    return {"sid": sid, "identity": identity or sid, "type": kind, "rights": rights}


def test_acl_only_host_administrators_and_hyperv_identities():
    ok = [{"path": r"C:\ClusterStorage\Volume1\vms", "aces": [
        ace(ADMINS), ace(SYSTEM), ace("S-1-3-0"), ace("S-1-5-83-0"), ace("S-1-5-83-1-123-456-789-1011"),
        ace("S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"), ace(USERS, kind="Deny")]}]
    assert tvm.acl_findings(ok) == []
    bad = [{"path": r"D:\vms", "aces": [ace(ADMINS), ace(USERS, identity="BUILTIN\\Users", rights="ReadAndExecute"), ace(EVERYONE)]}]
    findings = tvm.acl_findings(bad)
    assert [f["sid"] for f in findings] == [USERS, EVERYONE]
    assert "BUILTIN\\Users has ReadAndExecute on D:\\vms" in findings[0]["msg"] and "restricted to host administrators" in findings[0]["msg"]
    cluster = "S-1-5-21-1-2-3-1105"
    assert tvm.acl_findings([{"path": "x", "aces": [ace(cluster)]}], extra_allowed_sids=[cluster.lower()]) == []


@pytest.mark.parametrize("remote", [["Any"], ["10.71.0.0/16"], ["10.71.1.0/24"], ["10.71.1.0-10.71.1.255"], ["192.168.0.0/24", "10.0.0.0/8"]])
def test_live_migration_networks_covered_by_an_enabled_ipsec_rule(remote):
    assert tvm.live_migration_findings(["10.71.1.0/24"], [{"name": "LM", "enabled": True, "remote": remote}]) == []


def test_live_migration_networks_without_ipsec_get_the_documented_recommendation():
    rules = [{"name": "off", "enabled": False, "remote": ["Any"]}, {"name": "other", "enabled": "True", "remote": ["10.99.0.0/16"]},
             {"name": "narrow", "enabled": True, "remote": ["10.71.1.0/25"]}]
    findings = tvm.live_migration_findings(["10.71.1.0/24", "fd00::/64", "junk"], rules)
    assert [f["network"] for f in findings] == ["10.71.1.0/24", "fd00::/64", "junk"]
    assert all("IPsec" in f["msg"] and "not encrypted" in f["msg"] for f in findings)
    assert tvm.live_migration_findings([], []) and tvm.live_migration_findings([], [{"enabled": True, "remote": ["Any"]}]) == []
    assert tvm.live_migration_findings([], [{"enabled": True, "remote": ["10.0.0.0/8"]}])[0]["network"] == "any"


def test_vm_files_backup_needs_vmcx_vmgs_and_the_vmrs_the_vm_has():
    vm_id = "7FB16FE7-00A0-476F-92B3-CCB98FD9525A"
    source = [rf"C:\vms\Virtual Machines\{vm_id}.vmcx", rf"C:\vms\Virtual Machines\{vm_id}.vmgs", rf"C:\vms\Virtual Machines\{vm_id}.vmrs"]
    full = [rf"Virtual Machines\{vm_id}.vmcx", rf"Virtual Machines\{vm_id}.VMGS", rf"Virtual Machines\{vm_id}.vmrs", r"Virtual Hard Disks\os.vhdx"]
    assert tvm.state_file_findings("vm1", source, full) == []
    problems = tvm.state_file_findings("vm1", source, [rf"Virtual Machines\{vm_id}.vmcx"])
    assert problems == ["vm1: the backup has no VM guest state (.vmgs) file.", f"vm1: the runtime state file {vm_id.lower()}.vmrs is missing from the backup."]
    assert tvm.state_file_findings("vm1", source[:2], full[:2]) == [], "no .vmrs on the VM: none needed"
    assert tvm.vm_files_findings([{"name": "vm1", "files": source}, {"name": "vm2", "files": []}], [{"name": "VM1", "files": full}]) == \
        ["vm2: the VM files were not exported."]


def test_key_import_errors_other_than_invalid_version_fail():
    log = ["Importing TVM  keys from .\\tvm_keys_backup_root\\20250722192116\\",
           "Import-TVMKeys : Error Importing Key: C:\\Program Files\\AksHci\\mocctl.exe ... [Error: Keys Import failed:  Type[Key] "
           "Vault[AzureStackTvmKeyVault] Name[11111111-1111-1111-1111-111111111111]:\n    InvalidVersion]",
           "Import-TVMKeys : Error Importing Key: ... [Error: Keys Import failed: Type[Key] Name[x]: Unavailable]",
           "Error importing key 22222222-2222-2222-2222-222222222222: access denied"]
    assert tvm.import_failures(log) == log[2:]
    assert tvm.import_failures(None) == []


def test_review_module_collects_errors_and_warnings():
    params = {k: None for k in ("release", "detected_version", "vm_paths", "migration_networks", "ipsec_rules", "source_vms",
                                "backup_vms", "vm_ids", "key_backup_files", "import_log")}
    params.update(extra_allowed_sids=[], acl_warn_only=False, restore_to_other_instance=True, release="auto", detected_version="10.2505.1.2",
                  vm_paths=[{"path": "D:\\vms", "aces": [ace(USERS)]}], migration_networks=["10.1.0.0/24"], ipsec_rules=[],
                  vm_ids=["abc"], key_backup_files=[])
    result, warnings, errors = review_module.review(params)
    assert result["procedure"] == "backup_utils" and result["release_source"] == "detected"
    assert len(errors) == 2 and "restricted to host administrators" in errors[0] and "VM ID abc" in errors[1]
    assert any("IPsec" in w for w in warnings) and tvm.OTHER_INSTANCE_WARNING in warnings
    result, warnings, errors = review_module.review({**params, "acl_warn_only": True, "vm_ids": None, "restore_to_other_instance": False})
    assert errors == [] and any("restricted to host administrators" in w for w in warnings)


# ================================================================================================ wrapping key


def wk_params(tmp_path, **more):
    path = str(tmp_path / "keys" / "private.pem")
    return {"path": path, "public_key_path": wk.default_public_path(path), "passphrase": None, "state": "present", **more}


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


def test_wrapping_key_with_a_passphrase_and_its_export_for_a_restore(tmp_path):
    p = wk_params(tmp_path, passphrase="correct horse")
    made = wk.ensure_present(p, check_mode=False)
    assert open(p["path"], "rb").read().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    exported = wk.export_plain(p)
    assert exported["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----") and not exported["changed"]
    plain = serialization.load_pem_private_key(exported["private_key_pem"].encode(), None)
    assert wk.fingerprint(plain) == made["public_key_sha256"]
    with pytest.raises(wk.KeyError_, match="wrong passphrase"):
        wk.export_plain({**p, "passphrase": "wrong"})
    with pytest.raises(wk.KeyError_, match="give its passphrase"):
        wk.ensure_present({**p, "passphrase": None}, check_mode=False)


def test_wrapping_key_refusals(tmp_path):
    p = wk_params(tmp_path)
    with pytest.raises(wk.KeyError_, match="does not exist"):
        wk.export_plain(p)
    wk.ensure_present(p, check_mode=False)
    with pytest.raises(wk.KeyError_, match="never rewrites"):
        wk.ensure_present({**p, "passphrase": "late"}, check_mode=False)
    with open(p["path"], "wb") as handle:
        handle.write(b"$ANSIBLE_VAULT;1.1;AES256\n6162")
    with pytest.raises(wk.KeyError_, match="ansible-vault"):
        wk.export_plain(p)


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


# ================================================================================================ PowerShell, parsed

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
# The cmdlets of the documented procedures (and of Hyper-V export/import); everything else is plumbing.
DOCUMENTED = {"import-module", "backup-tvmkeys", "import-tvmwrappingkeyfrompem", "import-tvmkeys", "remove-mockey", "new-mockey",
              "get-mockeypublickey", "export-mockey", "import-mockey", "get-clustergroup", "export-vm", "import-vm", "start-vm",
              "get-mockeyornull"}


def parse(source: bytes):
    return PARSER.parse(source).root_node


def text(source: bytes, node) -> str:
    return source[node.start_byte:node.end_byte].decode()


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def functions(source: bytes) -> dict:
    out = {}
    for node in walk(parse(source)):
        if node.type == "function_statement":
            name = next(c for c in node.children if c.type == "function_name")
            out[text(source, name)] = node
    return out


def commands(source: bytes, node) -> list:
    """(name, {-param: value or None}, node) of every documented command under node, in source order."""
    out = []
    for cmd in walk(node):
        if cmd.type != "command" or cmd.child_by_field_name("command_name") is None:
            continue
        name = text(source, cmd.child_by_field_name("command_name"))
        if name.lower() not in DOCUMENTED:
            continue
        params, current = {}, None
        elements = cmd.child_by_field_name("command_elements")
        for el in elements.children if elements is not None else []:
            if el.type == "command_argument_sep":
                continue
            if el.type == "command_parameter":
                current = text(source, el).lower()
                params[current] = None
            elif current is not None and params[current] is None:
                params[current] = text(source, el)
                current = None
        out.append((name.lower(), params, cmd))
    return out


@pytest.fixture(scope="module")
def ps():
    with open(SCRIPT, "rb") as handle:
        source = handle.read()
    return source, functions(source)


def sequence(ps, function):
    source, funcs = ps
    return [(cmd[0], sorted(cmd[1])) for cmd in commands(source, funcs[function])]


def test_the_parser_sees_errors_and_the_script_has_none(ps):
    assert parse(b"function Broken {\n  if ($x -eq { \n").has_error, "the grammar must catch a broken script"
    source, funcs = ps
    assert not parse(source).has_error
    declared = re.search(rb"ValidateSet\(([^)]*)\)", source).group(1).decode()
    actions = re.findall(r"'([^']+)'", declared)
    assert set(actions) <= set(funcs), "every action has its function"
    assert len(actions) == 9


def test_constants_are_the_documented_names(ps):
    source = ps[0]
    assert b"$KeyGroup = 'AzureStackHostAttestation'" in source
    assert b"$KeyVault = 'AzureStackTvmKeyVault'" in source
    assert b"$AkRootKey = 'AzureStackTvmAKRootKey'" in source


MOC = ["-group", "-keyvaultname", "-name"]


def test_golden_backup_2505(ps):
    # import-module .\TvmBackupUtils.psm1 -force ; Backup-TVMKeys -WrappingKeyPath <public.pem> -BackupRootPath <root>
    assert sequence(ps, "Backup-KeyFolder") == [("import-module", ["-force", "-name"]), ("backup-tvmkeys", ["-backuprootpath", "-wrappingkeypath"])]


def test_golden_restore_2505_and_the_same_instance_condition(ps):
    source, funcs = ps
    assert sequence(ps, "Restore-KeyFolder") == [
        ("import-module", ["-force", "-name"]),
        ("import-tvmwrappingkeyfrompem", ["-keyname", "-keysize", "-privatekeypath", "-publickeypath"]),
        ("get-mockeyornull", []),
        ("remove-mockey", MOC),  # AzureStackTvmAKRootKey, only on the same instance
        ("import-tvmkeys", ["-backuppath", "-erroraction", "-wrappingkeyname"]),
        ("remove-mockey", MOC),  # the wrapping key, in the cleanup
    ]
    cmds = commands(source, funcs["Restore-KeyFolder"])
    by_name = [c for c in cmds if c[0] != "get-mockeyornull"]
    assert by_name[1][1]["-keysize"] == "2048"
    assert by_name[3][1]["-erroraction"] == "Continue", "InvalidVersion of one key must not stop the others"
    root_removal, wrap_removal = [c for c in cmds if c[0] == "remove-mockey"]
    assert root_removal[1]["-name"] == "$AkRootKey" and wrap_removal[1]["-name"] == "$P.wrapping_key_name"
    assert all(c[1]["-group"] == "$KeyGroup" and c[1]["-keyvaultname"] == "$KeyVault" for c in (root_removal, wrap_removal))

    def ancestors(node):
        while node.parent is not None:
            node = node.parent
            yield node
    guard = next(a for a in ancestors(root_removal[2]) if a.type == "if_statement")
    assert "$P.same_instance" in text(source, guard).split("{")[0], "AK root key removal only when restoring to the same instance"
    assert any(a.type == "finally_clause" for a in ancestors(wrap_removal[2])), "the wrapping key is removed even after a failure"
    finally_text = text(source, next(a for a in ancestors(wrap_removal[2]) if a.type == "finally_clause"))
    assert "$publicPath, $privatePath" in finally_text, "public.pem and private.pem are deleted from the host"


def test_golden_moc_key_procedure_before_2505(ps):
    source, funcs = ps
    assert sequence(ps, "New-MocWrappingKey") == [("get-mockeyornull", []), ("new-mockey", MOC + ["-size", "-type"]),
                                                  ("get-mockeypublickey", MOC + ["-outputfile"])]
    new_key = commands(source, funcs["New-MocWrappingKey"])[1][1]
    assert (new_key["-type"], new_key["-size"]) == ("RSA", "2048")
    assert sequence(ps, "Export-MocKeys") == [("export-mockey", sorted(MOC + ["-outfile", "-size", "-wrappingkeyname", "-wrappingpubkeyfile"]))]
    assert commands(source, funcs["Export-MocKeys"])[0][1]["-size"] == "256"
    assert sequence(ps, "Import-MocKeys") == [("import-mockey", sorted(MOC + ["-importkeyfile", "-size", "-type"]))]
    imp = commands(source, funcs["Import-MocKeys"])[0][1]
    assert (imp["-type"], imp["-size"], imp["-name"]) == ("AES", "256", "$vmId")


def test_golden_vm_files_and_no_start_before_the_key(ps):
    source, funcs = ps
    assert sequence(ps, "Export-VmFiles") == [("export-vm", ["-computername", "-name", "-path"])]
    assert sequence(ps, "Import-VmFiles") == [("import-vm", [])]  # splatted: @importArgs
    assert "GenerateNewId" not in text(source, funcs["Import-VmFiles"]).split("# No -GenerateNewId")[0], "the VM keeps its ID"
    starts = [name for name, node in funcs.items() if any(c[0] == "start-vm" for c in commands(source, node))]
    assert starts == ["Start-RestoredVms"], "only the start action starts VMs"
    order = [c[0] for c in commands(source, funcs["Start-RestoredVms"])]
    assert order == ["get-mockeyornull", "start-vm"], "each VM's key is looked up before any VM is started"


def test_owner_node_lookup_is_the_documented_get_cluster_group(ps):
    assert sequence(ps, "Get-OwnerNode") == [("get-clustergroup", ["-erroraction", "-name"])]


# ================================================================================================ the role


def load_tasks(name):
    with open(os.path.join(ROLE, "tasks", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def flat(tasks):
    for task in tasks:
        yield task
        yield from flat(task.get("block", []))


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
    assert used["Start-RestoredVms"] == ["start_vms.yml"]
    assert used["Restore-KeyFolder"] == ["restore_keys_backup_utils.yml"]
    assert used["Import-VmFiles"] == ["restore_files.yml"]
    with open(SCRIPT, encoding="utf-8") as handle:
        declared = set(re.findall(r"'([A-Za-z-]+)'", re.search(r"ValidateSet\(([^)]*)\)", handle.read()).group(1)))
    assert set(used) == declared, "every script action is used by the role and every used one exists"


def test_the_private_key_is_never_logged():
    for name in task_files():
        for task in flat(load_tasks(name)):
            exported = (task.get("azure_cvm.backup.azure_local_tvm_wrapping_key") or {}).get("state") == "exported"
            if exported or "private_key" in json.dumps(task.get("vars", {})):
                assert task.get("no_log") is True, f"{name}: {task['name']}"


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


def role_vars(**more):
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update({"azure_local_tvm_backup_store": "/backup", "inventory_hostname": "node1", "_azure_local_tvm_stamp": "20250722192116"})
    variables.update(more)
    return variables


def test_rendered_backup_command_carries_what_backup_tvmkeys_needs(tmp_path):
    key = wk.ensure_present(wk_params(tmp_path), check_mode=False)
    task = next(t for t in load_tasks("backup_keys_backup_utils.yml") if action_of(t))
    action, params = rendered_params(task, role_vars(azure_local_tvm_backup_utils_path=r"C:\tools\TvmBackupUtils.psm1",
                                                     _azure_local_tvm_wrapping={"public_key_pem": key["public_key_pem"]}))
    assert action == "Backup-KeyFolder"
    assert params["module_path"] == r"C:\tools\TvmBackupUtils.psm1"
    assert params["backup_root"] == r"C:\ProgramData\azure_cvm_backup\tvm\key-backups"
    assert base64.b64decode(params["public_key_b64"]).decode() == key["public_key_pem"]
    assert "PRIVATE" not in json.dumps(params) and "private" not in json.dumps(params), "only the public key goes to the host on backup"


@pytest.mark.parametrize("same", [True, False])
def test_rendered_restore_command(tmp_path, same):
    p = wk_params(tmp_path)
    wk.ensure_present(p, check_mode=False)
    exported = wk.export_plain(p)
    task = next(t for t in load_tasks("restore_keys_backup_utils.yml") if action_of(t))
    action, params = rendered_params(task, role_vars(
        azure_local_tvm_backup_utils_path=r"C:\tools\TvmBackupUtils.psm1", azure_local_tvm_same_instance=same,
        _azure_local_tvm_wrapping=exported, _azure_local_tvm_wrapping_key_name="ansible-tvm-wrap-20250722192116",
        _azure_local_tvm_key_folder={"folder": "20250722192116", "files": {"AES/x_256.json": "e30="}}))
    assert action == "Restore-KeyFolder"
    assert params["same_instance"] is same
    assert params["wrapping_key_name"] == "ansible-tvm-wrap-20250722192116" and params["folder"] == "20250722192116"
    assert base64.b64decode(params["private_key_b64"]).decode() == exported["private_key_pem"]
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
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "pytest"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
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
