"""Would the script tests catch a wrong script? Plausible wrong edits of AzureLocalTvm.ps1 (each applied alone to a
copy, in memory) must each make at least one check of test_azure_local_tvm_script.py fail. The first 15 are the ones
the December 2026 review tried (5 of them were caught then); the rest cover what issue 22 added. The kill rate is
printed (and shown in pytest's warnings summary) and must be at least 90% of at least 20 mutations."""

from __future__ import annotations

import warnings

import pytest

from tests.unit import azure_local_tvm_ps as ps
from tests.unit.test_azure_local_tvm_script import CHECKS

# (what, text in the script, wrong text); the text must occur exactly once, so a mutation cannot go stale silently.
MUTATIONS = [
    # ---- the review's 15
    ("rename Import-TVMKeys", "Import-TVMKeys -WrappingKeyName", "Import-TVMKey -WrappingKeyName"),
    ("typo -wrapingKeyName", "-wrappingKeyName $P.wrapping_key_name -wrappingPubKeyFile", "-wrapingKeyName $P.wrapping_key_name -wrappingPubKeyFile"),
    ("Import-MocKey -type RSA", "-keyvaultName $KeyVault -type AES -size 256", "-keyvaultName $KeyVault -type RSA -size 256"),
    ("wrong Remove-MocKey -name for the AK root key", "$null = Remove-MocKey -name $AkRootKey", "$null = Remove-MocKey -name $P.wrapping_key_name"),
    ("GenerateNewId in the import splat", "@{ Path = $config.FullName; Copy = $true }", "@{ Path = $config.FullName; Copy = $true; GenerateNewId = $true }"),
    ("Export-MocKey -name gets the wrapping key name", "Export-MocKey -name $vmId", "Export-MocKey -name $P.wrapping_key_name"),
    ("typo in an import splat key", "$importArgs.VhdDestinationPath = $P.vhd_path", "$importArgs.VhdDestPath = $P.vhd_path"),
    ("Get-MocKey -vaultName typo", "@(Get-MocKey -group $KeyGroup -keyvaultName $KeyVault)", "@(Get-MocKey -group $KeyGroup -vaultName $KeyVault)"),
    ("Backup-TVMKeys -WrappingKeyPath at the wrong file", "-WrappingKeyPath $publicPath", "-WrappingKeyPath $P.public_key_b64"),
    ("PEM path in single quotes", "\"$($P.key_name).pem\"", "'$($P.key_name).pem'"),
    ("AK root guard inverted", "if ($P.same_instance -and (Test-MocKey $AkRootKey))", "if (-not $P.same_instance -and (Test-MocKey $AkRootKey))"),
    ("Import-TVMKeys -BackupPath $work", "-BackupPath $backupPath", "-BackupPath $work"),
    ("key check before Start-VM disabled", "if (-not (Test-MocKey $vm.id)) {", "if ($false -and -not (Test-MocKey $vm.id)) {"),
    ("Export-VM -Path wrong", "-Path $target\n", "-Path $P.export_root\n"),
    ("public and private key paths swapped", "-PublicKeyPath $publicPath -PrivateKeyPath $privatePath",
     "-PublicKeyPath $privatePath -PrivateKeyPath $publicPath"),
    # ---- explicit success and failure, output hygiene
    ("exit code from $LASTEXITCODE", "    exit 1\n", "    exit $LASTEXITCODE\n"),
    ("no failed field on success", "    $result['failed'] = $false\n", ""),
    ("Remove-MocKey output leaks into the result", "$null = Remove-MocKey -name $AkRootKey", "Remove-MocKey -name $AkRootKey"),
    ("key check returns the raw output", "return [bool]($named.Count -gt 0)", "return $keys"),
    ("key check does not match the name", " -and $_.Name -eq $Name })", " })"),
    # ---- secrets and cleanup
    ("wrapping key removed only when a flag says so", "if (Test-MocKey $P.wrapping_key_name) {", "if ($P.wrapping_key_imported) {"),
    ("the public key is wiped instead of the private one", "Remove-SecretFile $privatePath", "Remove-SecretFile $publicPath"),
    ("delete without overwriting", "[System.IO.File]::WriteAllBytes($Path, (New-Object byte[] ((Get-Item -LiteralPath $Path).Length)))\n", "\n"),
    ("work folder owner check inverted", "-notcontains $owner) { throw", "-contains $owner) { throw"),
    ("pinned hash check inverted", "if ($hash -ne $P.module_sha256)", "if ($hash -eq $P.module_sha256)"),
    # ---- error handling of Microsoft's functions
    ("Backup-TVMKeys errors not terminating", "-BackupRootPath $P.backup_root -ErrorAction Stop", "-BackupRootPath $P.backup_root -ErrorAction Continue"),
    ("Import-TVMKeys stops at the first InvalidVersion", "-BackupPath $backupPath -ErrorAction Continue", "-BackupPath $backupPath -ErrorAction Stop"),
    ("backup folder pattern wrong", "'^\\d{14}$'", "'^\\d{12}$'"),
    ("New-MocKey of the wrong size", "-keyvaultName $KeyVault -type RSA -size 2048", "-keyvaultName $KeyVault -type RSA -size 4096"),
    ("key named after the file, extension included", "GetFileNameWithoutExtension($entry.Name)", "GetFileName($entry.Name)"),
    ("vault name typo", "$KeyVault = 'AzureStackTvmKeyVault'", "$KeyVault = 'AzureStackTvmVault'"),
    # ---- VM files
    ("VM started by name", "Start-VM -VM $hyperVm", "Start-VM -Name $vm.name"),
    ("VM id looked up on this node only", "@(Get-VM -ComputerName $node | Where-Object", "@(Get-VM | Where-Object"),
    ("wrong Compare-VM message id", "-eq 33012", "-eq 33010"),
    ("imported VM id check inverted", "if ($new.Id.Guid -ne $vm.id)", "if ($new.Id.Guid -eq $vm.id)"),
    ("add to cluster guard inverted", "if ($P.add_to_cluster)", "if (-not $P.add_to_cluster)"),
    # ---- access and live-migration facts
    ("location reachable before it was read", "reachable = $false; error = $null; owner_sid = $null", "reachable = $true; error = $null; owner_sid = $null"),
    ("live migration read on this node only", "$vmHost = Get-VMHost -ComputerName $node", "$vmHost = Get-VMHost"),
    ("IPsec encryption not read", "encryption = [string]$_.Encryption", "encryption = 'AES256'"),
    ("export root not checked", "@($P.export_root, 'export'), ", ""),
]


class MutationReport(UserWarning):
    """The kill rate, shown in pytest's warnings summary (also under xdist, which does not relay prints)."""


def run_checks(source: bytes) -> list:
    """The names of the checks that fail on a script (a parse or lookup error counts as a failure)."""
    script = ps.Script(source)
    failed = []
    for check in CHECKS:
        try:
            check(script)
        except Exception:  # noqa: BLE001 - any error means the wrong script was noticed
            failed.append(check.__name__)
    return failed


@pytest.fixture(scope="module")
def original() -> bytes:
    with open(ps.SCRIPT, "rb") as handle:
        return handle.read()


def test_the_checks_pass_on_the_script(original):
    assert run_checks(original) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_mutation_applies_once(original, mutation):
    assert original.decode().count(mutation[1]) == 1, f"{mutation[0]}: {mutation[1]!r} must occur exactly once"


def test_mutation_kill_rate(original, capsys):
    survivors = []
    for what, old, new in MUTATIONS:
        mutant = original.decode().replace(old, new, 1).encode()
        if not run_checks(mutant):
            survivors.append(what)
    killed = len(MUTATIONS) - len(survivors)
    rate = f"mutation kill rate: {killed}/{len(MUTATIONS)} ({100 * killed / len(MUTATIONS):.0f}%); survived: {survivors or 'none'}"
    with capsys.disabled():
        print("\n" + rate)
    warnings.warn(MutationReport(rate), stacklevel=1)
    assert len(MUTATIONS) >= 20 and killed >= 0.9 * len(MUTATIONS), rate
    assert not survivors, rate  # every mutation must make a test fail (issue 22)
