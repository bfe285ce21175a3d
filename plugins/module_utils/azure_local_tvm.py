# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side decisions of the azure_local_tvm role, as pure functions (no I/O): the host scripts only gather
facts as JSON, and what those facts mean is decided here, where it can be tested.

Sources: "Trusted launch for Azure Local VMs" (overview) and "Manual backup and recovery of guest state protection keys
for Trusted launch Azure Local VMs" (azure-stack-docs, azure-local/manage/trusted-launch-vm-import-key.md).
"""

from __future__ import annotations

import ipaddress
import re

FIRST_TRUSTED_LAUNCH_RELEASE = 2311  # Trusted launch for Azure Local VMs: 2311.2 and later
BACKUP_UTILS_RELEASE = 2505  # from 2505 on: TvmBackupUtils.psm1 (keys <-> folder); before: New-/Export-/Import-MocKey
BACKUP_UTILS = "backup_utils"
MOC_KEY = "moc_key"
KEY_GROUP = "AzureStackHostAttestation"
KEY_VAULT = "AzureStackTvmKeyVault"
AK_ROOT_KEY = "AzureStackTvmAKRootKey"
BACKUP_FOLDER_RE = re.compile(r"^\d{14}$")  # Backup-TVMKeys names its folder yyyyMMddHHmmss

# Who may hold access to the VM files ("restricted to host server administrators"): Administrators, SYSTEM,
# CREATOR OWNER, and the per-VM / service identities Hyper-V itself runs as (NT VIRTUAL MACHINE\*, NT SERVICE\*).
HOST_ADMIN_SIDS = {"S-1-5-32-544": "BUILTIN\\Administrators", "S-1-5-18": "NT AUTHORITY\\SYSTEM", "S-1-3-0": "CREATOR OWNER"}
HOST_SERVICE_SID_PREFIXES = ("S-1-5-83-", "S-1-5-80-")
LIVE_MIGRATION_ADVICE = ("Live-migration traffic of Trusted launch VMs is not encrypted: Microsoft strongly recommends "
                         "network-level encryption such as IPsec for the live-migration network.")


def parse_release(version) -> int | None:
    """The YYMM release of an Azure Local version string: '10.2505.0.3001' -> 2505, '2411.3' -> 2411, '2505' -> 2505."""
    text = str(version or "").strip()
    match = re.match(r"^(?:\d{1,3}\.)?(\d{4})(?:\.\d+)*$", text)
    return int(match.group(1)) if match else None


def key_procedure(release: int) -> str:
    """Which documented key backup procedure applies to an Azure Local release."""
    if release < FIRST_TRUSTED_LAUNCH_RELEASE:
        raise ValueError(f"Azure Local {release} has no Trusted launch VMs (they need 2311.2 or later).")
    return BACKUP_UTILS if release >= BACKUP_UTILS_RELEASE else MOC_KEY


def choose_procedure(requested, detected=None) -> dict:
    """requested: 'auto' or a release/version ('2505', '10.2411.3.12'); detected: the version the host reported.

    Returns {release, procedure, source}. An explicit value wins over detection; 'auto' without a usable detected
    version is an error, since guessing the wrong procedure would leave the keys unprotected."""
    if str(requested or "auto").strip().lower() != "auto":
        release, source = parse_release(requested), "variable"
        if release is None:
            raise ValueError(f"azure_local_tvm_release {requested!r} is not an Azure Local release such as 2505 or 10.2411.3.12.")
    else:
        release, source = parse_release(detected), "detected"
        if release is None:
            raise ValueError(f"Could not read the Azure Local release from the host (got {detected!r}); "
                             "set azure_local_tvm_release, e.g. 2505.")
    return {"release": release, "procedure": key_procedure(release), "source": source}


def backup_folder_name(name: str) -> bool:
    return bool(BACKUP_FOLDER_RE.match(str(name or "")))


def latest_backup_folder(names) -> str | None:
    """The newest timestamped key backup folder ("pick the folder with the latest timestamp")."""
    stamps = sorted(n for n in names or [] if backup_folder_name(n))
    return stamps[-1] if stamps else None


def key_file_names(files) -> dict:
    """{'AES': {name: size}, 'RSA': {...}} from the relative paths of a Backup-TVMKeys folder ('AES/<name>_<size>.json')."""
    out: dict = {"AES": {}, "RSA": {}}
    for path in files or []:
        parts = re.split(r"[\\/]", str(path))
        if len(parts) >= 2 and parts[-2].upper() in out and parts[-1].lower().endswith(".json"):
            name, size = parts[-1][:-5].rpartition("_")[::2]
            if name and size.isdigit():
                out[parts[-2].upper()][name.lower()] = int(size)
    return out


def missing_vm_keys(vm_ids, files) -> list:
    """VM IDs whose guest state protection key (an AES key named by the VM ID) is not in a key backup folder."""
    aes = key_file_names(files)["AES"]
    return [vm_id for vm_id in vm_ids or [] if str(vm_id).lower() not in aes]


def _allowed_sid(sid: str, extra) -> bool:
    sid = str(sid or "").upper()
    return sid in HOST_ADMIN_SIDS or sid.startswith(HOST_SERVICE_SID_PREFIXES) or sid in {str(s).upper() for s in extra or []}


def acl_findings(paths, extra_allowed_sids=None) -> list:
    """Access entries that let anyone but host administrators into a VM files location.

    paths: [{path, aces: [{sid, identity, type: Allow|Deny, rights}]}] as the check script reports them."""
    findings = []
    for entry in paths or []:
        for ace in entry.get("aces") or []:
            if str(ace.get("type", "Allow")).lower() != "allow" or _allowed_sid(ace.get("sid"), extra_allowed_sids):
                continue
            findings.append({"path": entry.get("path"), "identity": ace.get("identity") or ace.get("sid"),
                             "sid": ace.get("sid"), "rights": ace.get("rights"),
                             "msg": f"{ace.get('identity') or ace.get('sid')} has {ace.get('rights')} on {entry.get('path')}: "
                                    "the VM files location must be restricted to host administrators."})
    return findings


def _covers(address: str, subnet) -> bool:
    text = str(address or "").strip()
    if text.lower() in ("any", "*", ""):
        return True
    try:
        if "-" in text:
            low, high = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            return low <= subnet.network_address and subnet.broadcast_address <= high
        return subnet.subnet_of(ipaddress.ip_network(text, strict=False))
    except (ValueError, TypeError):
        return False


def live_migration_findings(networks, ipsec_rules) -> list:
    """Live-migration networks that no enabled IPsec connection security rule covers (one warning each).

    networks: ['10.0.0.0/24', ...] from Get-VMMigrationNetwork, or [] when the host may migrate over any network;
    ipsec_rules: [{name, enabled, remote: [address, ...]}] from Get-NetIPsecRule and its address filter."""
    rules = [r for r in ipsec_rules or [] if str(r.get("enabled")).lower() in ("true", "1")]
    remotes = [a for r in rules for a in (r.get("remote") or ["Any"])]
    if not networks:
        if any(_covers(a, ipaddress.ip_network("0.0.0.0/0")) for a in remotes):
            return []
        return [{"network": "any", "msg": f"Live migration may use any network and no enabled IPsec rule covers all of them. {LIVE_MIGRATION_ADVICE}"}]
    findings = []
    for net in networks:
        try:
            subnet = ipaddress.ip_network(str(net).strip(), strict=False)
        except ValueError:
            findings.append({"network": str(net), "msg": f"Live-migration network {net!r} could not be read. {LIVE_MIGRATION_ADVICE}"})
            continue
        if not any(_covers(a, subnet) for a in remotes):
            findings.append({"network": str(subnet), "msg": f"No enabled IPsec rule covers live-migration network {subnet}. {LIVE_MIGRATION_ADVICE}"})
    return findings


def state_file_findings(vm_name: str, source_files, backup_files) -> list:
    """What a VM files backup lacks: a config (.vmcx), the guest state (.vmgs) and, when the VM has one, the runtime
    state (.vmrs). File lists are names or paths; only the names are compared."""
    def names(files):
        return {re.split(r"[\\/]", str(f))[-1].lower() for f in files or []}

    source, backup = names(source_files), names(backup_files)
    problems = []
    for ext, what in ((".vmcx", "configuration (.vmcx)"), (".vmgs", "guest state (.vmgs)")):
        if not any(n.endswith(ext) for n in backup):
            problems.append(f"{vm_name}: the backup has no VM {what} file.")
    for name in sorted(n for n in source if n.endswith(".vmrs")):
        if name not in backup:
            problems.append(f"{vm_name}: the runtime state file {name} is missing from the backup.")
    return problems


def vm_files_findings(source_vms, backup_vms) -> list:
    """state_file_findings for every VM of the host facts ([{name, files}]) against the exported ones ([{name, files}])."""
    exported = {str(vm.get("name", "")).lower(): vm for vm in backup_vms or []}
    problems = []
    for vm in source_vms or []:
        backup = exported.get(str(vm.get("name", "")).lower())
        if backup is None:
            problems.append(f"{vm.get('name')}: the VM files were not exported.")
        else:
            problems.extend(state_file_findings(vm.get("name"), vm.get("files"), backup.get("files")))
    return problems


OTHER_INSTANCE_WARNING = ("A Trusted launch VM restored on another Azure Local system can no longer be managed through the "
                          "Azure Arc control plane, only with local VM management tools.")


def import_failures(log) -> list:
    """Key import errors that matter. 'InvalidVersion' means the key is already in the vault and is ignored, as
    documented; every other import error is a failure."""
    lines = [str(line) for line in log or []]
    return [line for line in lines if re.search(r"error", line, re.I) and re.search(r"import", line, re.I)
            and "InvalidVersion" not in line]
