#Requires -Version 5.1
<#
.SYNOPSIS
    Host side of the azure_cvm.backup.azure_local_tvm role: one action per call, run by ansible.builtin.script on an
    Azure Local machine (Windows PowerShell 5.1), as a host administrator.
.DESCRIPTION
    Every action reads its parameters from -ParamsB64 (base64 of a JSON object, so no value needs shell quoting) and
    writes one line of JSON to stdout. The scripts only gather facts and run the documented commands; what the
    facts mean is decided on the controller (module azure_cvm.backup.azure_local_tvm_review).

    Key procedures are the ones Microsoft documents in "Manual backup and recovery of guest state protection keys
    for Trusted launch Azure Local VMs": Azure Local 2505 and later use TvmBackupUtils.psm1 (Backup-TVMKeys,
    Import-TvmWrappingKeyFromPem, Import-TVMKeys); earlier releases use New-MocKey, Get-MocKeyPublicKey,
    Export-MocKey and Import-MocKey. VM files are moved with Export-VM / Import-VM (standard Hyper-V).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('Get-HostFacts', 'Backup-KeyFolder', 'Restore-KeyFolder', 'New-MocWrappingKey', 'Export-MocKeys',
        'Import-MocKeys', 'Export-VmFiles', 'Import-VmFiles', 'Start-RestoredVms')]
    [string] $Action,

    [Parameter(Mandatory = $true)]
    [string] $ParamsB64
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0
$KeyGroup = 'AzureStackHostAttestation'
$KeyVault = 'AzureStackTvmKeyVault'
$AkRootKey = 'AzureStackTvmAKRootKey'

# ------------------------------------------------------------------------------------------------ helpers

function New-WorkDir([string] $Path) {
    # The work folder holds wrapping key files: only Administrators and SYSTEM may open it.
    New-Item -ItemType Directory -Force -Path $Path | Out-Null
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in 'S-1-5-32-544', 'S-1-5-18') {
        $identity = New-Object System.Security.Principal.SecurityIdentifier $sid
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule $identity, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow'
        $acl.AddAccessRule($rule)
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
    return $Path
}

function Write-Base64File([string] $Content, [string] $Path) {
    New-Item -ItemType Directory -Force -Path (Split-Path -Path $Path -Parent) | Out-Null
    [System.IO.File]::WriteAllBytes($Path, [System.Convert]::FromBase64String($Content))
}

function Read-Base64File([string] $Path) {
    return [System.Convert]::ToBase64String([System.IO.File]::ReadAllBytes($Path))
}

function Get-FileMap([string] $Root) {
    # Relative path ('AES/<name>_256.json') -> base64 content, byte for byte.
    $map = [ordered]@{}
    $prefix = $Root.TrimEnd('\').Length + 1
    foreach ($file in Get-ChildItem -LiteralPath $Root -Recurse -File | Sort-Object FullName) {
        $map[$file.FullName.Substring($prefix).Replace('\', '/')] = Read-Base64File $file.FullName
    }
    return $map
}

function Write-FileMap($Files, [string] $Root) {
    foreach ($entry in $Files.PSObject.Properties) {
        if ($entry.Name -match '(^|/)\.\.(/|$)' -or $entry.Name -match ':') { throw "Refusing file path $($entry.Name)" }
        Write-Base64File $entry.Value (Join-Path $Root $entry.Name.Replace('/', '\'))
    }
}

function ConvertTo-LogLines($Records) {
    # Host, warning and error records of the Microsoft functions, as text for the controller to judge.
    return @($Records | ForEach-Object { [string]$_ })
}

function Get-MocKeyOrNull([string] $Name) {
    try { return Get-MocKey -name $Name -group $KeyGroup -keyvaultName $KeyVault } catch { return $null }
}

function Get-OwnerNode([string] $Name) {
    # "Confirm the owner node of the VM": Get-ClusterGroup <VM name>.
    if (Get-Command -Name Get-ClusterGroup -ErrorAction SilentlyContinue) {
        $group = Get-ClusterGroup -Name $Name -ErrorAction SilentlyContinue
        if ($group) { return [string]$group.OwnerNode.Name }
    }
    return $env:COMPUTERNAME
}

function Get-AclFacts([string] $Path) {
    $aces = foreach ($ace in (Get-Acl -LiteralPath $Path).Access) {
        $sid = try { $ace.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { [string]$ace.IdentityReference }
        [ordered]@{ sid = $sid; identity = [string]$ace.IdentityReference; type = [string]$ace.AccessControlType; rights = [string]$ace.FileSystemRights }
    }
    return [ordered]@{ path = $Path; aces = @($aces) }
}

# ------------------------------------------------------------------------------------------------ facts

function Get-HostFacts($P) {
    $version = try { [string](Get-SolutionUpdateEnvironment | Select-Object -First 1).CurrentVersion } catch { $null }
    $vms = @(); $missing = @(); $paths = [ordered]@{}
    foreach ($name in @($P.vms)) {
        $node = Get-OwnerNode $name
        $vm = Get-VM -Name $name -ComputerName $node -ErrorAction SilentlyContinue
        if (-not $vm) { $missing += $name; continue }
        $id = $vm.Id.Guid
        $configDir = Join-Path $vm.ConfigurationLocation 'Virtual Machines'
        $files = @(Get-ChildItem -LiteralPath $configDir -File -ErrorAction SilentlyContinue | Where-Object { $_.Name -like "$id*" } | ForEach-Object FullName)
        $disks = @(Get-VMHardDiskDrive -VM $vm | ForEach-Object Path)
        $vms += [ordered]@{
            name = $vm.Name; id = $id; owner_node = $node; state = [string]$vm.State
            configuration_location = $vm.ConfigurationLocation; files = $files; disks = $disks
            tpm = [bool](Get-VMSecurity -VM $vm).TpmEnabled; secure_boot = ([string](Get-VMFirmware -VM $vm).SecureBoot -eq 'On')
        }
        foreach ($dir in $vm.ConfigurationLocation, $configDir) {
            if ((Test-Path -LiteralPath $dir) -and -not $paths.Contains($dir)) { $paths[$dir] = Get-AclFacts $dir }
        }
    }
    $vmHost = Get-VMHost
    $networks = @(Get-VMMigrationNetwork -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.Subnet })
    if ($vmHost.UseAnyNetworkForMigration) { $networks = @() }  # any network: the controller treats [] as "any"
    $rules = @(Get-NetIPsecRule -PolicyStore ActiveStore -ErrorAction SilentlyContinue | ForEach-Object {
            $filter = $_ | Get-NetFirewallAddressFilter
            [ordered]@{
                name = [string]$_.DisplayName; enabled = ([string]$_.Enabled -eq 'True')
                remote = @($filter.RemoteAddress | ForEach-Object { [string]$_ })
            }
        })
    return [ordered]@{
        changed = $false; computer = $env:COMPUTERNAME; solution_version = $version
        vms = $vms; missing_vms = $missing; vm_paths = @($paths.Values)
        migration = [ordered]@{
            enabled = [bool]$vmHost.VirtualMachineMigrationEnabled; use_any_network = [bool]$vmHost.UseAnyNetworkForMigration; networks = $networks
        }
        ipsec_rules = $rules
    }
}

# ------------------------------------------------------------------------------------------------ keys, Azure Local 2505 and later

function Backup-KeyFolder($P) {
    $work = New-WorkDir $P.work_dir
    $publicPath = Join-Path $work 'public.pem'
    Write-Base64File $P.public_key_b64 $publicPath
    New-Item -ItemType Directory -Force -Path $P.backup_root | Out-Null
    $before = @(Get-ChildItem -LiteralPath $P.backup_root -Directory | ForEach-Object Name)
    try {
        Import-Module -Name $P.module_path -Force
        $log = ConvertTo-LogLines (Backup-TVMKeys -WrappingKeyPath $publicPath -BackupRootPath $P.backup_root *>&1)
    }
    finally {
        Remove-Item -LiteralPath $publicPath -Force -ErrorAction SilentlyContinue
    }
    # Backup-TVMKeys names its folder yyyyMMddHHmmss; ours is the one that was not there before.
    $made = @(Get-ChildItem -LiteralPath $P.backup_root -Directory |
            Where-Object { $_.Name -match '^\d{14}$' -and $before -notcontains $_.Name } | Sort-Object Name)
    if ($made.Count -eq 0) { throw "Backup-TVMKeys made no timestamped folder under $($P.backup_root): $($log -join ' ')" }
    $folder = $made[-1]
    return [ordered]@{ changed = $true; folder = $folder.Name; host_path = $folder.FullName; files = (Get-FileMap $folder.FullName); log = $log }
}

function Restore-KeyFolder($P) {
    $work = New-WorkDir $P.work_dir
    $backupPath = Join-Path (Join-Path $work 'restore') $P.folder
    Write-FileMap $P.files $backupPath
    $publicPath = Join-Path $work 'public.pem'
    $privatePath = Join-Path $work 'private.pem'
    Write-Base64File $P.public_key_b64 $publicPath
    Write-Base64File $P.private_key_b64 $privatePath
    $log = @(); $wrappingKeyImported = $false
    try {
        Import-Module -Name $P.module_path -Force
        $log += ConvertTo-LogLines (Import-TvmWrappingKeyFromPem -KeyName $P.wrapping_key_name `
                -PublicKeyPath $publicPath -PrivateKeyPath $privatePath -KeySize 2048 *>&1)
        $wrappingKeyImported = $true
        # Only when restoring to the same Azure Local instance: the AK root key of the backup replaces the current one.
        if ($P.same_instance -and (Get-MocKeyOrNull $AkRootKey)) {
            Remove-MocKey -name $AkRootKey -group $KeyGroup -keyvaultName $KeyVault
        }
        # -ErrorAction Continue: a key that is already in the vault (InvalidVersion) must not end the import of the others.
        $log += ConvertTo-LogLines (Import-TVMKeys -WrappingKeyName $P.wrapping_key_name -BackupPath $backupPath -ErrorAction Continue *>&1)
    }
    finally {
        # Clean up: delete public.pem and private.pem, and remove the wrapping key from the vault.
        Remove-Item -LiteralPath $publicPath, $privatePath -Force -ErrorAction SilentlyContinue
        if ($wrappingKeyImported) { Remove-MocKey -name $P.wrapping_key_name -group $KeyGroup -keyvaultName $KeyVault }
    }
    return [ordered]@{ changed = $true; backup_path = $backupPath; log = $log }
}

# ------------------------------------------------------------------------------------------------ keys, before Azure Local 2505

function New-MocWrappingKey($P) {
    $work = New-WorkDir $P.work_dir
    $changed = $false
    if (-not (Get-MocKeyOrNull $P.key_name)) {
        New-MocKey -name $P.key_name -group $KeyGroup -keyvaultName $KeyVault -type RSA -size 2048 | Out-Null
        $changed = $true
    }
    $pem = Join-Path $work "$($P.key_name).pem"
    Get-MocKeyPublicKey -name $P.key_name -group $KeyGroup -keyvaultName $KeyVault -outputFile $pem | Out-Null
    $content = Read-Base64File $pem
    Remove-Item -LiteralPath $pem -Force
    return [ordered]@{ changed = $changed; public_key_b64 = $content }
}

function Export-MocKeys($P) {
    $work = New-WorkDir $P.work_dir
    $pem = Join-Path $work 'wrappingKey.pem'
    Write-Base64File $P.public_key_b64 $pem
    $files = [ordered]@{}
    try {
        foreach ($vmId in @($P.vm_ids)) {
            $out = Join-Path $work "$vmId.json"
            Export-MocKey -name $vmId -wrappingKeyName $P.wrapping_key_name -wrappingPubKeyFile $pem -outFile $out `
                -group $KeyGroup -keyvaultName $KeyVault -size 256 | Out-Null
            $files["$vmId.json"] = Read-Base64File $out
            Remove-Item -LiteralPath $out -Force
        }
    }
    finally {
        Remove-Item -LiteralPath $pem -Force -ErrorAction SilentlyContinue
    }
    return [ordered]@{ changed = $false; files = $files }
}

function Import-MocKeys($P) {
    $work = New-WorkDir $P.work_dir
    $imported = @(); $log = @()
    foreach ($entry in $P.files.PSObject.Properties) {
        $vmId = [System.IO.Path]::GetFileNameWithoutExtension($entry.Name)
        $file = Join-Path $work $entry.Name
        Write-Base64File $entry.Value $file
        try {
            Import-MocKey -name $vmId -importKeyFile $file -group $KeyGroup -keyvaultName $KeyVault -type AES -size 256 | Out-Null
            $imported += $vmId
        }
        catch {
            $log += "Error importing key ${vmId}: $_"  # InvalidVersion: the key is there already (judged on the controller)
        }
        finally {
            Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue
        }
    }
    return [ordered]@{ changed = ($imported.Count -gt 0); imported = $imported; log = $log }
}

# ------------------------------------------------------------------------------------------------ VM files (Hyper-V export/import)

function Export-VmFiles($P) {
    $target = Join-Path $P.export_root $P.stamp
    $out = @()
    foreach ($vm in @($P.vms)) {
        # Export-VM copies every VM file: configuration (.vmcx), guest state (.vmgs), runtime state (.vmrs), disks.
        Export-VM -Name $vm.name -ComputerName $vm.owner_node -Path $target
        $root = Join-Path $target $vm.name
        $files = @(Get-ChildItem -LiteralPath $root -Recurse -File | ForEach-Object { $_.FullName.Substring($root.Length + 1) })
        $out += [ordered]@{ name = $vm.name; id = $vm.id; export_path = $root; files = $files }
    }
    return [ordered]@{ changed = $true; export_path = $target; vms = $out }
}

function Import-VmFiles($P) {
    $imported = @(); $skipped = @()
    foreach ($vm in @($P.vms)) {
        $present = try { Get-VM -Id $vm.id -ErrorAction Stop } catch { $null }
        if ($present) { $skipped += $vm.name; continue }
        $config = Get-ChildItem -LiteralPath (Join-Path $vm.export_path 'Virtual Machines') -Filter '*.vmcx' | Select-Object -First 1
        if (-not $config) { throw "There is no .vmcx file under $($vm.export_path)\Virtual Machines." }
        $importArgs = @{ Path = $config.FullName; Copy = $true }
        if ($P.vm_path) { $importArgs.VirtualMachinePath = $P.vm_path; $importArgs.SnapshotFilePath = $P.vm_path; $importArgs.SmartPagingFilePath = $P.vm_path }
        if ($P.vhd_path) { $importArgs.VhdDestinationPath = $P.vhd_path }
        # No -GenerateNewId: the VM keeps its ID, which names its guest state protection key. The VM is not started.
        Import-VM @importArgs | Out-Null
        $imported += $vm.name
    }
    return [ordered]@{ changed = ($imported.Count -gt 0); imported = $imported; skipped = $skipped }
}

function Start-RestoredVms($P) {
    # Never start a VM whose key is not in the vault: the system would make a new key and the guest state is lost.
    foreach ($vm in @($P.vms)) {
        if (-not (Get-MocKeyOrNull $vm.id)) {
            throw "The guest state protection key of $($vm.name) ($($vm.id)) is not in $KeyVault; the VM is not started."
        }
    }
    $started = @()
    foreach ($vm in @($P.vms)) {
        if ([string](Get-VM -Id $vm.id).State -ne 'Running') {
            Start-VM -Name $vm.name
            $started += $vm.name
        }
    }
    return [ordered]@{ changed = ($started.Count -gt 0); started = $started }
}

# ------------------------------------------------------------------------------------------------ dispatch

$params = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($ParamsB64)) | ConvertFrom-Json
$result = & $Action $params
$result | ConvertTo-Json -Depth 8 -Compress
