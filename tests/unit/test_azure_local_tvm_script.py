"""roles/azure_local_tvm/files/AzureLocalTvm.ps1 on its parse tree (no PowerShell can run here).

Beyond parsing: each documented command is compared, parameter by parameter and value by value, with Microsoft's own
command lines (S1, copied below as Microsoft wrote them) and TvmBackupUtils.psm1's param() blocks (S3); the order of
the restore steps, the guards around them (same instance, key present, pinned hash, add to cluster), what runs in a
finally, the explicit result and exit code, and the "never start without the key" check are asserted on the tree.
Every check is a plain function of a parsed Script in CHECKS, so test_azure_local_tvm_mutations.py can run them all
against wrong copies of the script.
"""

from __future__ import annotations

import re

import pytest

from tests.unit import azure_local_tvm_ps as ps

# S1 (azure-stack-docs azure-local/manage/trusted-launch-vm-import-key.md, 07/21/2025): the command lines as written.
S1 = {
    "backup-tvmkeys": "Backup-TVMKeys -WrappingKeyPath <path to public.pem> -BackupRootPath <path to backup root folder>",
    "import-tvmwrappingkeyfrompem": "Import-TvmWrappingKeyFromPem -KeyName <WrappingKeyName> -PublicKeyPath <path to public.pem> "
                                    "-PrivateKeyPath <path to private.pem> -KeySize 2048",
    "remove-mockey ak": "Remove-MocKey -name  AzureStackTvmAKRootKey -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault",
    "import-tvmkeys": "Import-TVMKeys -WrappingKeyName <WrappingKeyName> -BackupPath <path to timestamped backup folder>",
    "remove-mockey wrapping": "Remove-MocKey -name WrappingKeyName -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault",
    "new-mockey": "New-MocKey -name wrappingKey -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault -type RSA -size 2048",
    "get-mockeypublickey": "Get-MocKeyPublicKey -name wrappingKey -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault "
                           "-outputFile wrappingKey.pem",
    "export-mockey": "Export-MocKey -name <VM ID> -wrappingKeyName wrappingKey -wrappingPubKeyFile wrappingKey.pem -outFile <VM ID>.json "
                     "-group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault -size 256",
    "import-mockey": "Import-MocKey -name <VM ID> -importKeyFile <VM ID>.json -group AzureStackHostAttestation "
                     "-keyvaultName AzureStackTvmKeyVault -type AES -size 256",
}
# S3 (Azure-Samples/AzureLocal trusted-launch-vms/TvmBackupUtils.psm1 @ d65e8f3a): every parameter is Mandatory.
S3_PARAMS = {"backup-tvmkeys": {"-wrappingkeypath", "-backuprootpath"}, "import-tvmkeys": {"-backuppath", "-wrappingkeyname"},
             "import-tvmwrappingkeyfrompem": {"-keyname", "-publickeypath", "-privatekeypath", "-keysize"}}
COMMON = {"-erroraction"}
CONSTANTS = {"AzureStackHostAttestation": "$KeyGroup", "AzureStackTvmKeyVault": "$KeyVault", "AzureStackTvmAKRootKey": "$AkRootKey"}

# Where each documented line is used, and what the script passes for Microsoft's placeholders (and for the names S1
# gives literally but the role makes configurable: the wrapping key name, the PEM file).
USES = [
    ("Backup-KeyFolder", "backup-tvmkeys", 0, {"<path to public.pem>": "$publicPath", "<path to backup root folder>": "$P.backup_root"}),
    ("Restore-KeyFolder", "import-tvmwrappingkeyfrompem", 0, {"<WrappingKeyName>": "$P.wrapping_key_name", "<path to public.pem>": "$publicPath",
                                                              "<path to private.pem>": "$privatePath"}),
    ("Restore-KeyFolder", "remove-mockey ak", 0, {}),
    ("Restore-KeyFolder", "import-tvmkeys", 0, {"<WrappingKeyName>": "$P.wrapping_key_name", "<path to timestamped backup folder>": "$backupPath"}),
    ("Restore-KeyFolder", "remove-mockey wrapping", 1, {"WrappingKeyName": "$P.wrapping_key_name"}),
    ("New-MocWrappingKey", "new-mockey", 0, {"wrappingKey": "$P.key_name"}),
    ("New-MocWrappingKey", "get-mockeypublickey", 0, {"wrappingKey": "$P.key_name", "wrappingKey.pem": "$pem"}),
    ("Export-MocKeys", "export-mockey", 0, {"<VM ID>": "$vmId", "wrappingKey": "$P.wrapping_key_name", "wrappingKey.pem": "$pem", "<VM ID>.json": "$out"}),
    ("Import-MocKeys", "import-mockey", 0, {"<VM ID>": "$vmId", "<VM ID>.json": "$file"}),
]


def documented(line: str) -> dict:
    """'-param value' pairs of a documented command line; <placeholders> may hold spaces."""
    out = {}
    for param, value in re.findall(r"(-\w+)\s+(<[^>]*>(?:\.json)?|\S+)", line.split(" ", 1)[1]):
        out[param.lower()] = value
    return out


def check_it_parses_and_every_action_has_its_function(s):
    assert not s.root.has_error
    actions = re.findall(r"'([^']+)'", re.search(r"ValidateSet\(([^)]*)\)", s.source.decode()).group(1))
    assert len(actions) == 9 and set(actions) <= set(s.funcs)


def check_the_documented_names(s):
    for value, variable in CONSTANTS.items():
        assert f"{variable} = '{value}'" in s.source.decode(), variable


def check_each_documented_command_line_with_its_values(s):
    for function, key, index, placeholders in USES:
        name = key.split()[0]
        call = s.call(function, name, index)
        expected = {p: placeholders.get(v, CONSTANTS.get(v, v)) for p, v in documented(S1[key]).items()}
        given = {p: v for p, v in call.params.items() if p not in COMMON}
        assert given == expected, f"{function}: {name}: {given} != S1 {expected}"
        if name in S3_PARAMS:
            assert set(given) == S3_PARAMS[name], f"{name} must get exactly its mandatory S3 parameters"


def check_error_handling_of_microsofts_functions(s):
    assert s.call("Backup-KeyFolder", "backup-tvmkeys").params["-erroraction"] == "Stop", "a partial backup must not pass"
    assert s.call("Backup-KeyFolder", "backup-tvmkeys").redirect == "*>&1"
    assert "if ($errors.Count -gt 0) { throw" in s.text(s.funcs["Backup-KeyFolder"]), "error records fail the backup"
    assert s.call("Restore-KeyFolder", "import-tvmkeys").params["-erroraction"] == "Continue", "InvalidVersion of one key must not stop the others"
    assert s.call("Restore-KeyFolder", "import-tvmkeys").redirect == "*>&1", "every error line goes to the controller"
    assert s.call("Restore-KeyFolder", "import-tvmwrappingkeyfrompem").redirect == "*>&1"


def steps(s, function, names):
    return [(c.name, c.positional or c.params.get("-name") or c.params.get("-literalpath"), s.enclosing(c.node)[0])
            for c in s.calls(function) if c.name in names]


def check_restore_order_guards_and_cleanup(s):
    names = {"write-filemap", "write-base64file", "import-backuputils", "import-tvmwrappingkeyfrompem", "remove-mockey",
             "import-tvmkeys", "remove-secretfile", "remove-item", "test-mockey"}
    assert steps(s, "Restore-KeyFolder", names) == [
        ("write-filemap", ["$P.files", "$backupPath"], "try"),
        ("write-base64file", ["$P.public_key_b64", "$publicPath"], "try"),
        ("write-base64file", ["$P.private_key_b64", "$privatePath"], "try"),
        ("import-backuputils", ["$P"], "try"),
        ("import-tvmwrappingkeyfrompem", None, "try"),
        ("test-mockey", ["$AkRootKey"], "condition of $P.same_instance -and (Test-MocKey $AkRootKey)"),
        ("remove-mockey", "$AkRootKey", "if $P.same_instance -and (Test-MocKey $AkRootKey)"),  # S1: same instance only
        ("import-tvmkeys", None, "try"),
        ("remove-secretfile", ["$privatePath"], "finally"),
        ("remove-item", "$publicPath", "finally"),
        ("remove-item", "$backupPath", "finally"),
        ("test-mockey", ["$P.wrapping_key_name"], "condition of Test-MocKey $P.wrapping_key_name"),
        ("remove-mockey", "$P.wrapping_key_name", "if Test-MocKey $P.wrapping_key_name"),
    ]
    ak_if = s.enclosing(s.call("Restore-KeyFolder", "remove-mockey", 0).node)
    assert ak_if[1] == "try" and s.enclosing(s.call("Restore-KeyFolder", "remove-mockey", 1).node)[1] == "finally"
    body = s.text(s.funcs["Restore-KeyFolder"])
    assert "$publicPath = Join-Path $work 'public.pem'" in body and "$privatePath = Join-Path $work 'private.pem'" in body
    assert "$backupPath = Join-Path (Join-Path $work 'restore') $P.folder" in body


def check_the_private_key_is_written_only_where_a_finally_removes_it(s):
    writes = [(f, c) for f in s.funcs for c in s.calls(f, "write-base64file") if "$P.private_key_b64" in c.positional]
    assert [f for f, _call in writes] == ["Restore-KeyFolder"] and s.enclosing(writes[0][1].node)[0] == "try"
    remove = s.text(s.funcs["Remove-SecretFile"])
    assert "[System.IO.File]::WriteAllBytes($Path, (New-Object byte[] ((Get-Item -LiteralPath $Path).Length)))" in remove
    assert remove.index("WriteAllBytes") < remove.index("Remove-Item -LiteralPath $Path -Force"), "overwritten, then deleted"


def check_the_key_present_check_matches_by_name_and_returns_a_boolean(s):
    get = s.call("Test-MocKey", "get-mockey")
    assert get.params == {"-group": "$KeyGroup", "-keyvaultname": "$KeyVault"}, "list the vault (S3), never trust a by-name lookup's output"
    body = s.statement_texts("Test-MocKey")
    assert "$keys = @(Get-MocKey -group $KeyGroup -keyvaultName $KeyVault)" in body
    assert ("$named = @($keys | Where-Object { $_ -isnot [string] -and $_.PSObject.Properties['Name'] -and $_.Name -eq $Name })" in body)
    assert "return [bool]($named.Count -gt 0)" in body
    assert not [c for f in s.funcs for c in s.calls(f, "get-mockey") if f != "Test-MocKey"], "every key lookup goes through Test-MocKey"


def check_never_start_a_vm_without_its_own_key(s):
    starts = [f for f in s.funcs if s.calls(f, "start-vm")]
    assert starts == ["Start-RestoredVms"]
    check = s.call("Start-RestoredVms", "test-mockey")
    assert check.positional == ["$vm.id"] and s.enclosing(check.node)[:2] == ["condition of -not (Test-MocKey $vm.id)", "foreach $vm in @($P.vms)"]
    guard = check.node
    while guard.type != "if_statement":
        guard = guard.parent
    block = next(c for c in guard.children if c.type == "statement_block")
    assert s.text(block).strip("{} \n").startswith("throw "), "a missing key throws, so no VM of the run starts"
    start = s.call("Start-RestoredVms", "start-vm")
    assert guard.end_byte < start.node.start_byte, "every key is checked before the first start"
    assert start.params == {"-vm": "$hyperVm"} and "$hyperVm = Get-VM -Id $vm.id" in s.statement_texts("Start-RestoredVms"), "started by VM id"
    assert s.enclosing(start.node)[0] == "if [string]$hyperVm.State -ne 'Running'"


def check_explicit_result_and_exit_code(s):
    tail = re.split(r"# -+ dispatch\n", s.source.decode(), maxsplit=1)[1]
    lines = [" ".join(line.split()) for line in tail.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert lines == [
        "try {",
        "$params = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($ParamsB64)) | ConvertFrom-Json",
        "$output = @(& $Action $params)",
        "$result = $output[-1]",
        "if ($result -isnot [System.Collections.IDictionary]) { throw \"$Action returned no result.\" }",
        "$result['failed'] = $false",
        "Write-Output ($result | ConvertTo-Json -Depth 8 -Compress)",
        "exit 0",
        "}",
        "catch {",
        "Write-Output ([ordered]@{ failed = $true; changed = $false; msg = \"$Action failed: $_\" } | ConvertTo-Json -Compress)",
        "exit 1",
        "}",
    ]
    variables = {s.text(n).lower() for n in ps.walk(s.root) if n.type == "variable"}
    assert "$params" in variables and "$lastexitcode" not in variables, "nothing relies on $LASTEXITCODE"


def check_microsoft_output_never_reaches_the_result(s):
    """Calls whose output nobody needs are assigned to $null (S7: Write-Host becomes output under Ansible)."""
    for name in ("remove-mockey", "new-mockey", "get-mockeypublickey", "export-mockey", "import-mockey", "export-vm", "add-clustervirtualmachinerole"):
        for function in s.funcs:
            for call in s.calls(function, name):
                statement = call.node
                while statement.parent is not None and statement.parent.type not in ("statement_list", "statement_block"):
                    statement = statement.parent
                assert s.text(statement).startswith("$null = "), f"{function}: {s.text(call.node)}"


def check_vm_files_restore_keeps_the_id_and_checks_the_target(s):
    assert not [n for n in ps.walk(s.root) if n.type != "comment" and not n.children and "generatenewid" in s.text(n).lower()], \
        "S4: without -GenerateNewId the VM keeps its ID, which names its key"
    assert s.splat("Import-VmFiles", "importArgs") == {
        "Path": "$config.FullName", "Copy": "$true", "VirtualMachinePath": "$P.vm_path", "SnapshotFilePath": "$P.vm_path",
        "SmartPagingFilePath": "$P.vm_path", "VhdDestinationPath": "$P.vhd_path"}
    order = [(c.name, c.positional or c.params) for c in s.calls("Import-VmFiles")
             if c.name in ("find-vmnode", "compare-vm", "connect-vmnetworkadapter", "import-vm", "add-clustervirtualmachinerole")]
    assert order == [("find-vmnode", ["$vm.id"]), ("compare-vm", ["@importArgs"]), ("connect-vmnetworkadapter", {"-switchname": "$P.switch_map.$switch"}),
                     ("compare-vm", {"-compatibilityreport": "$report"}), ("import-vm", {"-compatibilityreport": "$report"}),
                     ("add-clustervirtualmachinerole", {"-vmid": "$vm.id"})]
    body = s.statement_texts("Import-VmFiles")
    assert "if (Find-VmNode $vm.id) { $skipped += $vm.name; continue }" in body
    assert "$switch = if ($incident.MessageId -eq 33012) { [string]$incident.Source.SwitchName } else { '' }" in body  # S4
    assert s.enclosing(s.call("Import-VmFiles", "connect-vmnetworkadapter").node)[0] == "if $switch -and $P.switch_map.PSObject.Properties[$switch]"
    assert "if ($left.Count -gt 0) { throw \"$($vm.name) cannot be imported on $env:COMPUTERNAME (Compare-VM): $($left -join '; ')\" }" in body
    for line in ("if ($new.Id.Guid -ne $vm.id) { throw", "if (-not (Get-VMSecurity -VM $new).TpmEnabled) { throw",
                 "if ([string](Get-VMFirmware -VM $new).SecureBoot -ne 'On') { throw"):
        assert any(b.startswith(line) for b in body), line
    assert s.enclosing(s.call("Import-VmFiles", "add-clustervirtualmachinerole").node)[0] == "if $P.add_to_cluster"
    assert "Where-Object { $_.BaseName -eq $vm.id }" in s.text(s.funcs["Import-VmFiles"]), "the configuration of this VM"
    find = s.statement_texts("Find-VmNode")
    assert "foreach ($node in Get-ClusterNodeNames) {" in find
    assert "if (@(Get-VM -ComputerName $node | Where-Object { $_.Id.Guid -eq $Id }).Count -gt 0) { return $node }" in find


def check_vm_files_export(s):
    export = s.call("Export-VmFiles", "export-vm")
    assert export.params == {"-vm": "(Get-VM -Id $vm.id -ComputerName $vm.owner_node)", "-path": "$target"}
    body = s.statement_texts("Export-VmFiles")
    assert "$target = Join-Path $P.export_root $P.stamp" in body and "$root = Join-Path $target $vm.name" in body


def check_key_backup_folder_is_the_new_timestamped_one(s):
    body = s.text(s.funcs["Backup-KeyFolder"])
    assert "$before = @(Get-ChildItem -LiteralPath $P.backup_root -Directory | ForEach-Object Name)" in body
    assert body.index("$before = ") < body.index("Backup-TVMKeys -WrappingKeyPath")
    assert "Where-Object { $_.Name -match '^\\d{14}$' -and $before -notcontains $_.Name }" in body  # S1: yyyyMMddHHmmss
    assert s.enclosing(s.call("Backup-KeyFolder", "remove-item").node)[0] == "finally"
    assert s.call("Backup-KeyFolder", "remove-item").params["-literalpath"] == "$publicPath"
    assert s.call("Backup-KeyFolder", "write-base64file").positional == ["$P.public_key_b64", "$publicPath"]


def check_moc_procedure_details(s):
    assert s.enclosing(s.call("New-MocWrappingKey", "new-mockey").node)[0] == "if -not (Test-MocKey $P.key_name)", "made only when missing"
    assert s.call("New-MocWrappingKey", "join-path").positional == ["$work", '"$($P.key_name).pem"'], "an expanding string"
    assert s.call("Export-MocKeys", "join-path", 1).positional == ["$work", '"$vmId.json"']
    body = s.statement_texts("Import-MocKeys")
    assert "$vmId = [System.IO.Path]::GetFileNameWithoutExtension($entry.Name)" in body, "S1: the key is named by the VM ID"
    assert '$log += "Error importing key ${vmId}: $_" # InvalidVersion: a key of that name is there (judged on the controller)' in body
    assert s.enclosing(s.call("Import-MocKeys", "import-mockey").node)[0] == "try"
    assert s.enclosing(s.call("Export-MocKeys", "remove-item", 1).node)[0] == "finally"


def check_the_work_folder_is_owned_and_closed(s):
    body = s.statement_texts("New-WorkDir")
    assert "if (@($AdminsSid, $SystemSid) -notcontains $owner) { throw \"The work folder $Path is owned by $owner, not Administrators or SYSTEM.\" }" in body
    assert "$acl.SetOwner((New-Object System.Security.Principal.SecurityIdentifier $AdminsSid))" in body
    assert "$acl.SetAccessRuleProtection($true, $false)" in body and "foreach ($sid in $AdminsSid, $SystemSid) {" in body
    assert "$AdminsSid = 'S-1-5-32-544'" in s.source.decode() and "$SystemSid = 'S-1-5-18'" in s.source.decode()
    for f in ("Backup-KeyFolder", "Restore-KeyFolder", "New-MocWrappingKey", "Export-MocKeys", "Import-MocKeys"):
        assert s.calls(f)[0].name == "new-workdir" and s.calls(f)[0].positional == ["$P.work_dir"], f


def check_locations_fail_closed(s):
    body = s.statement_texts("Get-LocationFacts")
    assert body.index("$acl = Get-Acl -LiteralPath $Path") < body.index("$facts.reachable = $true"), "reachable only after the ACL was read"
    assert s.enclosing(s.call("Get-LocationFacts", "get-acl").node)[0] == "try" and "catch { $facts.error = \"$_\" }" in body
    assert "reachable = $false" in " ".join(body)
    assert s.call("Get-LocationFacts", "get-sharefacts").positional == ["$Matches[1]", "$Matches[2]"]
    assert s.call("Get-ShareFacts", "get-smbshareaccess").params == {"-name": "$Share", "-cimsession": "$Server"}
    facts = s.text(s.funcs["Get-HostFacts"])
    for place in ("@($P.export_root, 'export')", "@($P.restore_vm_path, 'restore')", "@($P.restore_vhd_path, 'restore')",
                  "@($P.work_dir, 'work')", "@($P.key_backup_root, 'key backup')", "@($disks | ForEach-Object { Split-Path -Path $_ -Parent })"):
        assert place in facts, place
    assert "$sids = if ($places[$path] -eq 'export') { $computerSids } else { @() }" in facts, "the nodes' computer accounts may write exports"


def check_live_migration_is_read_on_every_node_and_the_cluster(s):
    assert s.enclosing(s.call("Get-MigrationFacts", "get-vmhost").node)[0] == "foreach $node in Get-ClusterNodeNames", "every node, enabled or not"
    assert s.call("Get-MigrationFacts", "get-vmhost").params == {"-computername": "$node"}
    assert s.call("Get-MigrationFacts", "get-clusterresourcetype").params == {"-name": "'Virtual Machine'"}
    assert s.call("Get-MigrationFacts", "get-clusterparameter").params == {"-name": "MigrationExcludeNetworks"}
    rules = s.text(s.funcs["Get-IpsecRuleFacts"])
    assert "encapsulation = [string]$_.Encapsulation; encryption = [string]$_.Encryption" in rules
    assert s.call("Get-IpsecRuleFacts", "get-netipsecquickmodecryptoset").params["-name"] == "$_.QuickModeCryptoSet"


def check_backup_utils_import_and_pinning(s):
    body = s.statement_texts("Import-BackupUtils")
    assert s.enclosing(s.call("Import-BackupUtils", "get-filehash").node)[0] == "if $P.module_sha256"
    assert "if ($hash -ne $P.module_sha256) { throw \"$($P.module_path) has SHA-256 $hash, not the pinned $($P.module_sha256).\" }" in body
    assert s.call("Import-BackupUtils", "import-module").params == {"-name": "$P.module_path", "-force": True, "-disablenamechecking": True}
    assert [c.name for c in s.calls("Backup-KeyFolder") + s.calls("Restore-KeyFolder")].count("import-backuputils") == 2
    assert not [f for f in s.funcs if f != "Import-BackupUtils" and s.calls(f, "import-module")]


CHECKS = [v for k, v in sorted(globals().items()) if k.startswith("check_")]


@pytest.fixture(scope="module")
def script():
    return ps.load()


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__[6:] for c in CHECKS])
def test_script(script, check):
    check(script)


def test_the_reader_sees_what_it_is_asked_about():
    s = ps.Script(b"function F($P) {\n  if ($P.x) { $null = Remove-MocKey -name $a -group $g } else { Start-VM -VM $v -Force *>&1 }\n"
                  b"  $h = @{ A = 1; B = $c }\n  $h.C = 3\n  Compare-VM @h\n}\n")
    remove, start = s.call("F", "remove-mockey"), s.call("F", "start-vm")
    assert remove.params == {"-name": "$a", "-group": "$g"} and s.enclosing(remove.node)[0] == "if $P.x"
    assert start.params == {"-vm": "$v", "-force": True} and start.redirect == "*>&1" and s.enclosing(start.node)[0] == "else of $P.x"
    assert s.splat("F", "h") == {"A": "1", "B": "$c", "C": "3"} and s.call("F", "compare-vm").positional == ["@h"]
    assert ps.PARSER.parse(b"function Broken {\n  if ($x -eq { \n").root_node.has_error
    assert documented(S1["export-mockey"])["-outfile"] == "<VM ID>.json"
