#Requires -Version 5.1
<#
.SYNOPSIS
    Host side of the azure_cvm.backup.azure_local_tvm role: one action per call, run by ansible.builtin.script on an
    Azure Local machine (Windows PowerShell 5.1), as a host administrator.
.DESCRIPTION
    Every action reads its parameters from -ParamsB64 (base64 of a JSON object, so no value needs shell quoting) and
    the script writes exactly one line of JSON to stdout, last, with a "failed" field, and ends with exit 0 or exit 1
    (never the $LASTEXITCODE a mocctl.exe call left behind). The script only gathers facts and runs the documented
    commands; what the facts mean is decided on the controller (module azure_cvm.backup.azure_local_tvm_review).

    Sources (ids of the project's review azure_local-2026-12.md):
    S1 "Manual backup and recovery of guest state protection keys for Trusted launch Azure Local VMs"
       (azure-stack-docs azure-local/manage/trusted-launch-vm-import-key.md): both key procedures, command by command.
    S2 "Trusted launch for Azure Local VMs" (trusted-launch-vm-overview.md): all VM files, access, live migration.
    S3 Azure-Samples/AzureLocal trusted-launch-vms/TvmBackupUtils.psm1: Backup-TVMKeys, Import-TvmWrappingKeyFromPem,
       Import-TVMKeys (Get-MocKey lists keys with .Name).
    S4 windows-powershell-docs hyper-v Export-VM.md, Import-VM.md, Compare-VM.md.
    S7 ansible-core 2.19: script runs "& script ...; exit $LASTEXITCODE" and turns Write-Host into output.
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
$KeyGroup = 'AzureStackHostAttestation'  # S1
$KeyVault = 'AzureStackTvmKeyVault'  # S1
$AkRootKey = 'AzureStackTvmAKRootKey'  # S1
$AdminsSid = 'S-1-5-32-544'
$SystemSid = 'S-1-5-18'

# ------------------------------------------------------------------------------------------------ helpers

function New-WorkDir([string] $Path) {
    # The work folder holds wrapping key files: only Administrators and SYSTEM may open it, and Administrators own it
    # (an owner can always rewrite the DACL, so a folder someone else made first is refused, not reused).
    if (Test-Path -LiteralPath $Path) {
        $owner = (Get-Acl -LiteralPath $Path).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
        if (@($AdminsSid, $SystemSid) -notcontains $owner) { throw "The work folder $Path is owned by $owner, not Administrators or SYSTEM." }
    }
    New-Item -ItemType Directory -Force -Path $Path | Out-Null
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetOwner((New-Object System.Security.Principal.SecurityIdentifier $AdminsSid))
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in $AdminsSid, $SystemSid) {
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

function Remove-SecretFile([string] $Path) {
    # Overwritten before it is deleted: the private wrapping key must not stay readable in free disk space.
    if (Test-Path -LiteralPath $Path) {
        [System.IO.File]::WriteAllBytes($Path, (New-Object byte[] ((Get-Item -LiteralPath $Path).Length)))
        Remove-Item -LiteralPath $Path -Force
    }
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

function Test-MocKey([string] $Name) {
    # True only when the vault lists a key of exactly this name (S3: Get-MocKey lists the keys, each with .Name). Text
    # in the output (Write-Host becomes output under Ansible, S7) can never make a missing key look present.
    $keys = @(Get-MocKey -group $KeyGroup -keyvaultName $KeyVault)
    $named = @($keys | Where-Object { $_ -isnot [string] -and $_.PSObject.Properties['Name'] -and $_.Name -eq $Name })
    return [bool]($named.Count -gt 0)
}

function Import-BackupUtils($P) {
    # TvmBackupUtils.psm1 is downloaded by the user (S3); when its SHA-256 is pinned, another file is refused.
    if ($P.module_sha256) {
        $hash = (Get-FileHash -LiteralPath $P.module_path -Algorithm SHA256).Hash
        if ($hash -ne $P.module_sha256) { throw "$($P.module_path) has SHA-256 $hash, not the pinned $($P.module_sha256)." }
    }
    # -DisableNameChecking: the module exports Generate-ImportJsonFromPEM, an unapproved verb (S3).
    Import-Module -Name $P.module_path -Force -DisableNameChecking
}

function Get-ClusterNodeNames {
    # All nodes of the cluster, or this machine alone when it is not clustered.
    $names = try { @(Get-ClusterNode | ForEach-Object { [string]$_.Name }) } catch { @() }
    if ($names.Count -eq 0) { $names = @($env:COMPUTERNAME) }
    return $names
}

function Get-OwnerNode([string] $Name) {
    # S1: "Confirm the owner node of the VM": Get-ClusterGroup <VM name>.
    if (Get-Command -Name Get-ClusterGroup -ErrorAction SilentlyContinue) {
        $group = Get-ClusterGroup -Name $Name -ErrorAction SilentlyContinue
        if ($group) { return [string]$group.OwnerNode.Name }
    }
    return $env:COMPUTERNAME
}

function ConvertTo-Sid([string] $Account) {
    try { return (New-Object System.Security.Principal.NTAccount $Account).Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { return $null }
}

function Get-ShareFacts([string] $Server, [string] $Share) {
    # Share permissions of the file server (a UNC export root); unreadable is reported, the controller fails on it.
    # UNVERIFIED here: the property names AccountName / AccessControlType / AccessRight of Get-SmbShareAccess output.
    $facts = [ordered]@{ server = $Server; name = $Share; reachable = $false; error = $null; aces = @() }
    try {
        $facts.aces = @(Get-SmbShareAccess -Name $Share -CimSession $Server | ForEach-Object {
                [ordered]@{ sid = (ConvertTo-Sid $_.AccountName); identity = [string]$_.AccountName; type = [string]$_.AccessControlType; rights = [string]$_.AccessRight }
            })
        $facts.reachable = $true
    }
    catch { $facts.error = "$_" }
    return $facts
}

function Get-LocationFacts([string] $Path, [string] $Kind, $ComputerSids) {
    # S2: VM files kept elsewhere "must be access restricted to host server administrators only". Unreachable is
    # reported as such (reachable = false), never as an empty, passing access list.
    $facts = [ordered]@{ path = $Path; kind = $Kind; reachable = $false; error = $null; owner_sid = $null; aces = @(); share = $null; computer_sids = @($ComputerSids) }
    try {
        $acl = Get-Acl -LiteralPath $Path
        $facts.owner_sid = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
        $facts.aces = @(foreach ($ace in $acl.Access) {
                [ordered]@{ sid = (ConvertTo-Sid ([string]$ace.IdentityReference)); identity = [string]$ace.IdentityReference; type = [string]$ace.AccessControlType; rights = [string]$ace.FileSystemRights }
            })
        $facts.reachable = $true
    }
    catch { $facts.error = "$_" }
    if ($Path -match '^\\\\([^\\]+)\\([^\\]+)') { $facts.share = Get-ShareFacts $Matches[1] $Matches[2] }
    return $facts
}

function Get-MigrationFacts {
    # Read where live migration is set (S2 asks to encrypt its traffic): on a cluster the cluster networks and the
    # 'Virtual Machine' resource type's MigrationExcludeNetworks; on every node its Hyper-V host settings, whether
    # live migration is enabled there or not.
    # UNVERIFIED here: Get-ClusterNetwork's Id / Address / AddressMask / Role and the ';'-separated network ids of
    # MigrationExcludeNetworks (from the FailoverClusters cmdlet reference, not checked against a stored source).
    $nodes = @(foreach ($node in Get-ClusterNodeNames) {
            $vmHost = Get-VMHost -ComputerName $node
            [ordered]@{
                name = $node; enabled = [bool]$vmHost.VirtualMachineMigrationEnabled; use_any_network = [bool]$vmHost.UseAnyNetworkForMigration
                performance_option = [string]$vmHost.VirtualMachineMigrationPerformanceOption
                networks = @(Get-VMMigrationNetwork -ComputerName $node | ForEach-Object { [string]$_.Subnet })
            }
        })
    $networks = try { @(Get-ClusterNetwork | ForEach-Object { [ordered]@{ id = [string]$_.Id; name = [string]$_.Name; address = [string]$_.Address; mask = [string]$_.AddressMask; role = [string]$_.Role } }) } catch { @() }
    $excluded = @()
    if ($networks.Count -gt 0) {
        $excluded = @(([string](Get-ClusterResourceType -Name 'Virtual Machine' | Get-ClusterParameter -Name MigrationExcludeNetworks).Value) -split ';' | Where-Object { $_ })
    }
    return [ordered]@{ cluster = ($networks.Count -gt 0); nodes = $nodes; cluster_networks = $networks; exclude_networks = $excluded }
}

function Get-IpsecRuleFacts {
    # Each rule with its remote addresses and its quick-mode proposals: only a rule that encrypts (ESP with an
    # encryption algorithm) protects the traffic; the controller decides.
    # UNVERIFIED here: QuickModeCryptoSet on the rule and Proposal.Encapsulation / .Encryption of the crypto set.
    return @(Get-NetIPsecRule -PolicyStore ActiveStore -ErrorAction SilentlyContinue | ForEach-Object {
            $filter = $_ | Get-NetFirewallAddressFilter
            $proposals = @()
            if ($_.QuickModeCryptoSet) {
                $set = Get-NetIPsecQuickModeCryptoSet -PolicyStore ActiveStore -Name $_.QuickModeCryptoSet -ErrorAction SilentlyContinue
                if ($set) { $proposals = @($set.Proposal | ForEach-Object { [ordered]@{ encapsulation = [string]$_.Encapsulation; encryption = [string]$_.Encryption } }) }
            }
            [ordered]@{
                name = [string]$_.DisplayName; enabled = ([string]$_.Enabled -eq 'True')
                remote = @($filter.RemoteAddress | ForEach-Object { [string]$_ }); proposals = $proposals
            }
        })
}

# ------------------------------------------------------------------------------------------------ facts

function Get-HostFacts($P) {
    $version = try { [string](Get-SolutionUpdateEnvironment | Select-Object -First 1).CurrentVersion } catch { $null }
    $moc = try { Get-MocConfig } catch { $null }
    $computerSids = @(Get-ClusterNodeNames | ForEach-Object { ConvertTo-Sid "$_$" } | Where-Object { $_ })
    $vms = @(); $missing = @(); $places = [ordered]@{}
    foreach ($name in @($P.vms)) {
        $node = Get-OwnerNode $name
        $vm = Get-VM -Name $name -ComputerName $node -ErrorAction SilentlyContinue
        if (-not $vm) { $missing += $name; continue }
        $id = $vm.Id.Guid
        $configDir = Join-Path $vm.ConfigurationLocation 'Virtual Machines'
        $files = try { @(Get-ChildItem -LiteralPath $configDir -File | Where-Object { $_.Name -like "$id*" } | ForEach-Object FullName) } catch { @() }
        $disks = @(Get-VMHardDiskDrive -VM $vm | ForEach-Object Path)
        $vms += [ordered]@{
            name = $vm.Name; id = $id; owner_node = $node; state = [string]$vm.State
            configuration_location = $vm.ConfigurationLocation; files = $files; disks = $disks
            tpm = [bool](Get-VMSecurity -VM $vm).TpmEnabled; secure_boot = ([string](Get-VMFirmware -VM $vm).SecureBoot -eq 'On')
        }
        foreach ($dir in @($vm.ConfigurationLocation, $configDir) + @($disks | ForEach-Object { Split-Path -Path $_ -Parent })) {
            if (-not $places.Contains($dir)) { $places[$dir] = 'VM files' }
        }
    }
    foreach ($place in @(@($P.export_root, 'export'), @($P.restore_vm_path, 'restore'), @($P.restore_vhd_path, 'restore'))) {
        if ($place[0] -and -not $places.Contains($place[0])) { $places[$place[0]] = $place[1] }
    }
    foreach ($place in @(@($P.work_dir, 'work'), @($P.key_backup_root, 'key backup'))) {
        # Made by the role when missing (New-WorkDir); checked when they exist already.
        if ($place[0] -and (Test-Path -LiteralPath $place[0]) -and -not $places.Contains($place[0])) { $places[$place[0]] = $place[1] }
    }
    $locations = @(foreach ($path in $places.Keys) {
            $sids = if ($places[$path] -eq 'export') { $computerSids } else { @() }
            Get-LocationFacts $path $places[$path] $sids
        })
    return [ordered]@{
        changed = $false; computer = $env:COMPUTERNAME; solution_version = $version
        moc = [ordered]@{ version = $(if ($moc) { [string]$moc.version } else { $null }); module_version = $(if ($moc) { [string]$moc.moduleVersion } else { $null }) }
        language_mode = [string]$ExecutionContext.SessionState.LanguageMode
        vms = $vms; missing_vms = $missing; locations = $locations
        migration = Get-MigrationFacts; ipsec_rules = @(Get-IpsecRuleFacts)
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
        Import-BackupUtils $P
        # S1/S3: Backup-TVMKeys -WrappingKeyPath <public.pem> -BackupRootPath <root>. -ErrorAction Stop: a module
        # function does not see this script's preference (S7), and a partial backup must not pass.
        $records = @(Backup-TVMKeys -WrappingKeyPath $publicPath -BackupRootPath $P.backup_root -ErrorAction Stop *>&1)
    }
    finally {
        Remove-Item -LiteralPath $publicPath -Force -ErrorAction SilentlyContinue
    }
    $errors = @($records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
    if ($errors.Count -gt 0) { throw "Backup-TVMKeys reported errors: $($errors -join ' ')" }
    $log = ConvertTo-LogLines $records
    # S1: Backup-TVMKeys names its folder yyyyMMddHHmmss; ours is the one that was not there before.
    $made = @(Get-ChildItem -LiteralPath $P.backup_root -Directory |
            Where-Object { $_.Name -match '^\d{14}$' -and $before -notcontains $_.Name } | Sort-Object Name)
    if ($made.Count -eq 0) { throw "Backup-TVMKeys made no timestamped folder under $($P.backup_root): $($log -join ' ')" }
    $folder = $made[-1]
    return [ordered]@{ changed = $true; folder = $folder.Name; host_path = $folder.FullName; files = (Get-FileMap $folder.FullName); log = $log }
}

function Restore-KeyFolder($P) {
    $work = New-WorkDir $P.work_dir
    $backupPath = Join-Path (Join-Path $work 'restore') $P.folder
    $publicPath = Join-Path $work 'public.pem'
    $privatePath = Join-Path $work 'private.pem'
    $log = @()
    try {
        Write-FileMap $P.files $backupPath
        Write-Base64File $P.public_key_b64 $publicPath
        Write-Base64File $P.private_key_b64 $privatePath
        Import-BackupUtils $P
        # S1 restore step 3 (S3: the name must not be one of the backup's keys; the controller checked that).
        $log += ConvertTo-LogLines (Import-TvmWrappingKeyFromPem -KeyName $P.wrapping_key_name -PublicKeyPath $publicPath -PrivateKeyPath $privatePath -KeySize 2048 *>&1)
        # S1 restore step 4: "Do this step only if you're restoring the VM to the same Azure Local instance".
        if ($P.same_instance -and (Test-MocKey $AkRootKey)) {
            $null = Remove-MocKey -name $AkRootKey -group $KeyGroup -keyvaultName $KeyVault
        }
        # S1 restore step 5. -ErrorAction Continue: InvalidVersion for one key must not end the import of the others;
        # every error line goes to the controller, which judges it.
        $log += ConvertTo-LogLines (Import-TVMKeys -WrappingKeyName $P.wrapping_key_name -BackupPath $backupPath -ErrorAction Continue *>&1)
    }
    finally {
        # S1 restore step 6: delete public.pem and private.pem, and remove the wrapping key from the vault, whatever
        # failed before (the key may be in the vault even when Import-TvmWrappingKeyFromPem threw afterwards).
        Remove-SecretFile $privatePath
        Remove-Item -LiteralPath $publicPath -Force -ErrorAction SilentlyContinue
        Remove-Item -LiteralPath $backupPath -Recurse -Force -ErrorAction SilentlyContinue
        if (Test-MocKey $P.wrapping_key_name) {
            $null = Remove-MocKey -name $P.wrapping_key_name -group $KeyGroup -keyvaultName $KeyVault
        }
    }
    return [ordered]@{ changed = $true; log = $log }
}

# ------------------------------------------------------------------------------------------------ keys, before Azure Local 2505

function New-MocWrappingKey($P) {
    # S1 second tab: New-MocKey -name wrappingKey ... -type RSA -size 2048, then Get-MocKeyPublicKey ... -outputFile.
    $work = New-WorkDir $P.work_dir
    $changed = $false
    if (-not (Test-MocKey $P.key_name)) {
        $null = New-MocKey -name $P.key_name -group $KeyGroup -keyvaultName $KeyVault -type RSA -size 2048
        $changed = $true
    }
    $pem = Join-Path $work "$($P.key_name).pem"
    $null = Get-MocKeyPublicKey -name $P.key_name -group $KeyGroup -keyvaultName $KeyVault -outputFile $pem
    $content = Read-Base64File $pem
    Remove-Item -LiteralPath $pem -Force
    return [ordered]@{ changed = $changed; public_key_b64 = $content }
}

function Export-MocKeys($P) {
    # S1 second tab: Export-MocKey -name <VM ID> -wrappingKeyName wrappingKey -wrappingPubKeyFile wrappingKey.pem
    # -outFile <VM ID>.json -group ... -keyvaultName ... -size 256.
    $work = New-WorkDir $P.work_dir
    $pem = Join-Path $work 'wrappingKey.pem'
    Write-Base64File $P.public_key_b64 $pem
    $files = [ordered]@{}
    try {
        foreach ($vmId in @($P.vm_ids)) {
            $out = Join-Path $work "$vmId.json"
            $null = Export-MocKey -name $vmId -wrappingKeyName $P.wrapping_key_name -wrappingPubKeyFile $pem -outFile $out -group $KeyGroup -keyvaultName $KeyVault -size 256
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
    # S1 second tab: Import-MocKey -name <VM ID> -importKeyFile <VM ID>.json -group ... -keyvaultName ... -type AES -size 256.
    $work = New-WorkDir $P.work_dir
    $imported = @(); $log = @()
    foreach ($entry in $P.files.PSObject.Properties) {
        $vmId = [System.IO.Path]::GetFileNameWithoutExtension($entry.Name)
        $file = Join-Path $work $entry.Name
        Write-Base64File $entry.Value $file
        try {
            $null = Import-MocKey -name $vmId -importKeyFile $file -group $KeyGroup -keyvaultName $KeyVault -type AES -size 256
            $imported += $vmId
        }
        catch {
            $log += "Error importing key ${vmId}: $_"  # InvalidVersion: a key of that name is there (judged on the controller)
        }
        finally {
            Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue
        }
    }
    return [ordered]@{ changed = ($imported.Count -gt 0); imported = $imported; log = $log }
}

# ------------------------------------------------------------------------------------------------ VM files (Hyper-V export/import)

function Export-VmFiles($P) {
    # No Microsoft page documents how to copy a Trusted launch VM's files; S2 asks for all of them (with .vmgs and
    # .vmrs). Export-VM (S4) copies configuration, state and disks: this role's own choice, checked on the controller.
    $target = Join-Path $P.export_root $P.stamp
    $out = @()
    foreach ($vm in @($P.vms)) {
        $null = Export-VM -VM (Get-VM -Id $vm.id -ComputerName $vm.owner_node) -Path $target
        $root = Join-Path $target $vm.name
        $files = @(Get-ChildItem -LiteralPath $root -Recurse -File | ForEach-Object { $_.FullName.Substring($root.Length + 1) })
        $out += [ordered]@{ name = $vm.name; id = $vm.id; export_path = $root; files = $files }
    }
    return [ordered]@{ changed = $true; export_path = $target; vms = $out }
}

function Find-VmNode([string] $Id) {
    # Cluster-wide: the node where a VM with this ID is registered, or $null (Get-VM -Id sees this node only).
    foreach ($node in Get-ClusterNodeNames) {
        if (@(Get-VM -ComputerName $node | Where-Object { $_.Id.Guid -eq $Id }).Count -gt 0) { return $node }
    }
    return $null
}

function Import-VmFiles($P) {
    $imported = @(); $skipped = @()
    foreach ($vm in @($P.vms)) {
        if (Find-VmNode $vm.id) { $skipped += $vm.name; continue }
        $config = Get-ChildItem -LiteralPath (Join-Path $vm.export_path 'Virtual Machines') -Filter '*.vmcx' | Where-Object { $_.BaseName -eq $vm.id } | Select-Object -First 1
        if (-not $config) { throw "There is no $($vm.id).vmcx file under $($vm.export_path)\Virtual Machines." }
        $importArgs = @{ Path = $config.FullName; Copy = $true }
        if ($P.vm_path) { $importArgs.VirtualMachinePath = $P.vm_path; $importArgs.SnapshotFilePath = $P.vm_path; $importArgs.SmartPagingFilePath = $P.vm_path }
        if ($P.vhd_path) { $importArgs.VhdDestinationPath = $P.vhd_path }
        # S4 Compare-VM: the report lists what stops the import (MessageId 33012 "Could not find Ethernet switch");
        # an adapter whose switch the switch map names is connected to the new switch, then Import-VM takes the report.
        # No -GenerateNewId: S4 "By default, Import-VM gives the new virtual machine the same unique identifier",
        # which names its guest state protection key (S1).
        $report = Compare-VM @importArgs
        foreach ($incident in @($report.Incompatibilities)) {
            $switch = if ($incident.MessageId -eq 33012) { [string]$incident.Source.SwitchName } else { '' }
            if ($switch -and $P.switch_map.PSObject.Properties[$switch]) {
                $incident.Source | Connect-VMNetworkAdapter -SwitchName $P.switch_map.$switch
            }
        }
        $report = Compare-VM -CompatibilityReport $report
        $left = @($report.Incompatibilities | ForEach-Object { "$($_.MessageId): $($_.Message)" })
        if ($left.Count -gt 0) { throw "$($vm.name) cannot be imported on $env:COMPUTERNAME (Compare-VM): $($left -join '; ')" }
        $new = Import-VM -CompatibilityReport $report
        # The imported VM must be the one whose key was restored, still with its vTPM and secure boot.
        if ($new.Id.Guid -ne $vm.id) { throw "$($vm.name) was imported with ID $($new.Id.Guid), not $($vm.id)." }
        if (-not (Get-VMSecurity -VM $new).TpmEnabled) { throw "$($vm.name) was imported without its vTPM." }
        if ([string](Get-VMFirmware -VM $new).SecureBoot -ne 'On') { throw "$($vm.name) was imported without secure boot." }
        if ($P.add_to_cluster) { $null = Add-ClusterVirtualMachineRole -VMId $vm.id }
        $imported += $vm.name
    }
    return [ordered]@{ changed = ($imported.Count -gt 0); imported = $imported; skipped = $skipped }
}

function Start-RestoredVms($P) {
    # Never start a VM whose key is not in the vault: the system would make a new key and the guest state is lost
    # (S1 second tab: "Restore the VM guest state key ... before you start the VM").
    foreach ($vm in @($P.vms)) {
        if (-not (Test-MocKey $vm.id)) {
            throw "The guest state protection key of $($vm.name) ($($vm.id)) is not in $KeyVault; the VM is not started."
        }
    }
    $started = @()
    foreach ($vm in @($P.vms)) {
        $hyperVm = Get-VM -Id $vm.id
        if ([string]$hyperVm.State -ne 'Running') {
            Start-VM -VM $hyperVm
            $started += $vm.name
        }
    }
    return [ordered]@{ changed = ($started.Count -gt 0); started = $started }
}

# ------------------------------------------------------------------------------------------------ dispatch

# One JSON line, last on stdout, and an explicit exit code (S7: the wrapper ends with exit $LASTEXITCODE, which a
# caught mocctl.exe failure would otherwise set, and an uncaught throw in a script would not).
try {
    $params = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($ParamsB64)) | ConvertFrom-Json
    # Whatever the action's commands write to the output is collected here; the result is the action's last object.
    $output = @(& $Action $params)
    $result = $output[-1]
    if ($result -isnot [System.Collections.IDictionary]) { throw "$Action returned no result." }
    $result['failed'] = $false
    Write-Output ($result | ConvertTo-Json -Depth 8 -Compress)
    exit 0
}
catch {
    Write-Output ([ordered]@{ failed = $true; changed = $false; msg = "$Action failed: $_" } | ConvertTo-Json -Compress)
    exit 1
}
