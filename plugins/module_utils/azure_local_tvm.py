# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side decisions of the azure_local_tvm role, as pure functions (no I/O): the host script only gathers
facts as JSON, and what those facts mean is decided here, where it can be tested. Every check returns findings, each
a dict with at least a one-sentence "msg".

Sources (the ids of /work/shared/reviews/azure_local-2026-12.md):
S1 azure-stack-docs azure-local/manage/trusted-launch-vm-import-key.md (manual backup and recovery of the keys);
S2 azure-stack-docs azure-local/manage/trusted-launch-vm-overview.md (VM files access, live migration, other systems);
S3 Azure-Samples/AzureLocal trusted-launch-vms/TvmBackupUtils.psm1 (Backup-TVMKeys, Import-TVMKeys, MOC minimums).
"""

from __future__ import annotations

import ipaddress
import re

FIRST_TRUSTED_LAUNCH_RELEASE = 2311  # S2: "Applies to: Azure Local 2311.2 and later"
BACKUP_UTILS_RELEASE = 2505  # S1 first tab: 2505 and later keys <-> folder with TvmBackupUtils.psm1; before: MOC vault
BACKUP_UTILS = "backup_utils"
MOC_KEY = "moc_key"
PROCEDURES = (BACKUP_UTILS, MOC_KEY)
AK_ROOT_KEY = "AzureStackTvmAKRootKey"
# S3: $script:requiredMocPSVersion = 1.2.27 and $script:requiredMocStackVersion = 1.14.1.10414, checked by
# Backup-TVMKeys / Import-TVMKeys (module) and Import-TvmWrappingKeyFromPem (module and stack).
MOC_MODULE_MINIMUM = (1, 2, 27)
MOC_STACK_MINIMUM = (1, 14, 1, 10414)
BACKUP_FOLDER_RE = re.compile(r"^\d{14}$")  # S1/S3: Backup-TVMKeys names its folder yyyyMMddHHmmss
REMOVE_KEY_REMEDY = ("Remove-MocKey -name {name} -group AzureStackHostAttestation -keyvaultName AzureStackTvmKeyVault")

# Who may hold access to the VM files (S2: "restricted to host server administrators only"): Administrators, SYSTEM,
# CREATOR OWNER, and the per-VM / service identities Hyper-V itself runs as (NT VIRTUAL MACHINE\*, NT SERVICE\*).
HOST_ADMIN_SIDS = {"S-1-5-32-544": "BUILTIN\\Administrators", "S-1-5-18": "NT AUTHORITY\\SYSTEM", "S-1-3-0": "CREATOR OWNER"}
HOST_SERVICE_SID_PREFIXES = ("S-1-5-83-", "S-1-5-80-")
OWNER_SIDS = ("S-1-5-32-544", "S-1-5-18")  # who may own the host work folder (an owner may always rewrite the DACL)
LIVE_MIGRATION_ADVICE = ("Live-migration traffic of Trusted launch VMs is not encrypted: Microsoft strongly recommends "
                         "network-level encryption such as IPsec for the live-migration network.")  # S2
OTHER_INSTANCE_WARNING = ("A Trusted launch VM restored on another Azure Local system can no longer be managed through the "
                          "Azure Arc control plane, only with local VM management tools.")  # S2 (note)
AK_ROOT_CONFLICT_ADVICE = (  # S3 header; the current S1 removes the key on the same instance only (this role's choice)
    "The target already has its own AzureStackTvmAKRootKey, so the backup's was not imported (InvalidVersion). "
    "Microsoft's TvmBackupUtils.psm1 says a key made by a Trusted launch VM created before the import should be deleted "
    "before re-importing \"to make sure attestation continues to work\"; the restore procedure removes it only on the "
    "same instance. If attestation of the restored VMs fails, run " + REMOVE_KEY_REMEDY.format(name=AK_ROOT_KEY)
    + " and restore the keys again.")


def parse_release(version) -> int | None:
    """The YYMM release of an Azure Local version string: '10.2505.0.3001' -> 2505, '2411.3' -> 2411, '2505' -> 2505."""
    text = str(version or "").strip()
    match = re.match(r"^(?:\d{1,3}\.)?(\d{4})(?:\.\d+)*$", text)
    return int(match.group(1)) if match else None


def key_procedure(release: int) -> str:
    """Which documented key backup procedure applies to an Azure Local release (S1: the two tabs)."""
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


def _version(text) -> tuple | None:
    parts = str(text or "").strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def restore_procedure(backup_procedure, target_release: int, moc=None) -> str:
    """The key procedure of a restore: the one the backup was made with (its manifest), if the target can run it.

    A folder backup (Backup-TVMKeys) can only be restored with Import-TVMKeys, which needs release 2505+ (S1 first tab)
    and the MOC minimums Import-TvmWrappingKeyFromPem / Import-TVMKeys check (S3); moc: {version, module_version} as
    (Get-MocConfig) reports them. A MOC key vault backup (S1 second tab) is restored with Export-MocKey /
    Import-MocKey, cmdlets of every release with Trusted launch VMs (this role's reading: S1 gives no upper bound)."""
    if backup_procedure not in PROCEDURES:
        raise ValueError(f"The backup manifest records no known key procedure (got {backup_procedure!r}); "
                         "it was not written by this role.")
    key_procedure(target_release)
    if backup_procedure == MOC_KEY:
        return MOC_KEY
    if target_release < BACKUP_UTILS_RELEASE:
        raise ValueError(f"The keys were backed up with Backup-TVMKeys (a folder), which only Azure Local 2505 or later "
                         f"can import; this target runs {target_release}.")
    moc = moc or {}
    for what, value, minimum in (("MOC PowerShell module", moc.get("module_version"), MOC_MODULE_MINIMUM),
                                 ("MOC stack", moc.get("version"), MOC_STACK_MINIMUM)):
        found = _version(value)
        if found is None or found < minimum:
            raise ValueError(f"Import-TVMKeys needs {what} {'.'.join(map(str, minimum))} or later (TvmBackupUtils.psm1); "
                             f"the target reports {value!r}.")
    return BACKUP_UTILS


def latest_backup_folder(names) -> str | None:
    """The newest timestamped key backup folder (S1: "pick the folder with the latest timestamp")."""
    stamps = sorted(n for n in names or [] if BACKUP_FOLDER_RE.match(str(n or "")))
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


def key_backup_findings(vm_ids, files, wrapping_key_name=None) -> list:
    """What a key backup folder lacks for a backup or restore: the AES key of every VM (named by the VM ID, S1), and,
    for a restore, a wrapping key name that no key of the backup has (S3: a clash "may hang" MOC)."""
    names = key_file_names(files)
    findings = [{"vm_id": vm_id, "msg": f"The key backup has no guest state protection key for VM ID {vm_id}."}
                for vm_id in vm_ids or [] if str(vm_id).lower() not in names["AES"]]
    if wrapping_key_name and str(wrapping_key_name).lower() in set(names["AES"]) | set(names["RSA"]):
        findings.append({"vm_id": None, "msg": f"The wrapping key name {wrapping_key_name} is the name of a key in the "
                                               "backup; choose another azure_local_tvm_restore_wrapping_key_name."})
    return findings


def _allowed_sid(sid: str, extra) -> bool:
    sid = str(sid or "").upper()
    return sid in HOST_ADMIN_SIDS or sid.startswith(HOST_SERVICE_SID_PREFIXES) or sid in {str(s).upper() for s in extra or []}


def _ace_findings(path: str, what: str, aces, extra) -> list:
    if not isinstance(aces, list) or not aces:
        return [{"path": path, "sid": None, "msg": f"The {what} of {path} could not be read; it must be restricted to "
                                                   "host administrators (unreadable counts as open)."}]
    findings = []
    for ace in aces:
        kind = str(ace.get("type", "")).lower() if isinstance(ace, dict) else ""
        sid = ace.get("sid") if isinstance(ace, dict) else None
        if kind not in ("allow", "deny") or not sid:
            findings.append({"path": path, "sid": sid, "msg": f"An access entry of the {what} of {path} could not be "
                                                              f"read ({ace!r}); it counts as open."})
        elif kind == "allow" and not _allowed_sid(sid, extra):
            who = ace.get("identity") or sid
            findings.append({"path": path, "sid": sid, "msg": f"{who} has {ace.get('rights')} on {path} ({what}): the "
                                                              "VM files location must be restricted to host administrators."})
    return findings


def acl_findings(locations, extra_allowed_sids=None) -> list:
    """Access entries that let anyone but host administrators into a place that holds VM files or key material (S2).
    Fails closed: a location that could not be reached, or facts without readable access entries, is a finding.

    locations: [{path, kind, reachable, error, owner_sid, aces: [{sid, identity, type: Allow|Deny, rights}],
    share: {name, reachable, error, aces} or None, computer_sids: [...]}] as Get-HostFacts reports them. The export
    root also admits the nodes' computer accounts (computer_sids): Hyper-V writes an export to a share as the node."""
    findings = []
    if not isinstance(locations, list):
        return [{"path": None, "sid": None, "msg": "The VM files locations could not be read from the host facts."}]
    for entry in locations:
        if not isinstance(entry, dict) or not entry.get("path"):
            findings.append({"path": None, "sid": None, "msg": f"A VM files location could not be read ({entry!r})."})
            continue
        path, kind = entry["path"], entry.get("kind") or "VM files"
        if entry.get("reachable") is not True:
            findings.append({"path": path, "sid": None, "msg": f"The {kind} location {path} could not be checked from "
                                                               f"the host ({entry.get('error') or 'not reachable'})."})
            continue
        extra = list(extra_allowed_sids or []) + list(entry.get("computer_sids") or [])
        findings += _ace_findings(path, "NTFS access list", entry.get("aces"), extra)
        if kind == "work" and str(entry.get("owner_sid") or "").upper() not in OWNER_SIDS:
            findings.append({"path": path, "sid": entry.get("owner_sid"), "msg": f"The work folder {path} is owned by "
                             f"{entry.get('owner_sid')!r}, not Administrators or SYSTEM: its owner could read the wrapping key."})
        share = entry.get("share")
        if share is not None:
            if not isinstance(share, dict) or share.get("reachable") is not True:
                error = share.get("error") if isinstance(share, dict) else None
                findings.append({"path": path, "sid": None, "msg": f"The share permissions of {path} could not be read "
                                                                   f"({error or 'not reachable'})."})
            else:
                findings += _ace_findings(path, "share permissions", share.get("aces"), extra)
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


def ipsec_rule_encrypts(rule: dict) -> bool:
    """An enabled IPsec rule whose quick-mode proposals all use ESP with an encryption algorithm (not None); a rule
    that only authenticates (AH, or ESP with Encryption None) or whose crypto set is unknown does not protect the
    traffic S2 calls unencrypted."""
    if not isinstance(rule, dict) or str(rule.get("enabled")).lower() not in ("true", "1"):
        return False
    proposals = rule.get("proposals")
    return isinstance(proposals, list) and bool(proposals) and all(
        isinstance(p, dict) and "esp" in str(p.get("encapsulation", "")).lower()
        and str(p.get("encryption") or "none").lower() != "none" for p in proposals)


def migration_networks(migration) -> list | None:
    """The subnets live migration may use, or None for "any network".

    On a cluster (S2: Azure Local is one) the cluster networks that are not in the 'Virtual Machine' resource type's
    MigrationExcludeNetworks and carry traffic (Role not 0); on a single host Get-VMMigrationNetwork unless
    UseAnyNetworkForMigration. Whether live migration is enabled on a node does not matter: it can be enabled later."""
    if migration.get("cluster"):
        excluded = {str(x).lower() for x in migration.get("exclude_networks") or []}
        return [f"{n.get('address')}/{n.get('mask')}" for n in migration.get("cluster_networks") or []
                if str(n.get("id", "")).lower() not in excluded and str(n.get("role")) not in ("0", "None")]
    nodes = migration.get("nodes") or []
    if any(node.get("use_any_network") for node in nodes):
        return None
    return sorted({net for node in nodes for net in node.get("networks") or []})


def live_migration_findings(migration, ipsec_rules) -> list:
    """Live-migration networks that no encrypting IPsec rule covers (one warning each, S2 "strongly recommend")."""
    networks = migration_networks(migration or {})
    remotes = [a for r in ipsec_rules or [] if ipsec_rule_encrypts(r) for a in (r.get("remote") or ["Any"])]
    if not networks:
        if any(_covers(a, ipaddress.ip_network("0.0.0.0/0")) for a in remotes):
            return []
        return [{"network": "any", "msg": "Live migration may use any network and no encrypting IPsec rule covers all of "
                                          f"them. {LIVE_MIGRATION_ADVICE}"}]
    findings = []
    for net in networks:
        try:
            subnet = ipaddress.ip_network(str(net).strip(), strict=False)
        except ValueError:
            findings.append({"network": str(net), "msg": f"Live-migration network {net!r} could not be read. {LIVE_MIGRATION_ADVICE}"})
            continue
        if not any(_covers(a, subnet) for a in remotes):
            findings.append({"network": str(subnet), "msg": f"No encrypting IPsec rule covers live-migration network {subnet}. "
                                                            f"{LIVE_MIGRATION_ADVICE}"})
    return findings


def _names(files) -> set:
    return {re.split(r"[\\/]", str(f))[-1].lower() for f in files or []}


def vm_files_findings(source_vms, backup_vms) -> list:
    """What the VM files backup lacks, per VM of the host facts ([{name, files, disks}]) against the exported ones
    ([{name, files}]): the configuration (.vmcx), the guest state (.vmgs), the runtime state (.vmrs) the VM has, and
    every virtual disk (S2: "back up and restore all the VM files"). Only file names are compared."""
    exported = {str(vm.get("name", "")).lower(): vm for vm in backup_vms or []}
    findings = []
    for vm in source_vms or []:
        name, backup = vm.get("name"), exported.get(str(vm.get("name", "")).lower())
        if backup is None:
            findings.append({"vm": name, "msg": f"{name}: the VM files were not exported."})
            continue
        have = _names(backup.get("files"))
        for ext, what in ((".vmcx", "configuration (.vmcx)"), (".vmgs", "guest state (.vmgs)")):
            if not any(n.endswith(ext) for n in have):
                findings.append({"vm": name, "msg": f"{name}: the backup has no VM {what} file."})
        for wanted, what in ((sorted(n for n in _names(vm.get("files")) if n.endswith(".vmrs")), "runtime state file"),
                             (sorted(_names(vm.get("disks"))), "virtual disk")):
            findings += [{"vm": name, "msg": f"{name}: the {what} {n} is missing from the backup."} for n in wanted if n not in have]
    return findings


def _key_name(line: str) -> str | None:
    """The key an import error is about: MOC's 'Name[<key>]' (S1 error sample) or this role's 'Error importing key <id>:'."""
    match = re.search(r"Name\[([^\]]+)\]", line) or re.search(r"Error importing key (\S+?):", line)
    return match.group(1).lower() if match else None


def import_findings(log, restored_vm_ids=None, allow_existing_vm_keys=False, same_instance=True) -> list:
    """Key import errors, each {key, fatal, msg}. Not fatal: 'InvalidVersion' (S1: a key of that name is already in
    the vault, "You can ignore") for keys this run does not restore. Fatal: every other import error, and InvalidVersion
    for a VM being restored, unless allowed: its key in the vault may be one the system made when the VM was started
    too early, which cannot open the guest state (S1 second tab, with the Remove-MocKey remedy). On another instance
    an AK root key conflict is reported with Microsoft's advice (S3)."""
    restored = {str(v).lower() for v in restored_vm_ids or []}
    findings = []
    for line in (str(x) for x in log or []):
        if not (re.search(r"error", line, re.I) and re.search(r"import", line, re.I)):
            continue
        key = _key_name(line)
        if "InvalidVersion" not in line:
            findings.append({"key": key, "fatal": True, "msg": f"Key import failed: {line}"})
        elif key is None and restored and not allow_existing_vm_keys:
            findings.append({"key": None, "fatal": True, "msg": f"A key was already in the vault and the log does not say which: {line}"})
        elif key in restored and not allow_existing_vm_keys:
            findings.append({"key": key, "fatal": True, "msg": (
                f"The vault already holds a key named {key} (InvalidVersion), so the backup's key of that VM was not "
                "imported; if the VM was started before its key was restored, the vault holds a new key that cannot open "
                f"its guest state. Run {REMOVE_KEY_REMEDY.format(name=key)} and restore again, or set "
                "azure_local_tvm_allow_existing_vm_keys if the key in the vault is the VM's own.")})
        elif key == AK_ROOT_KEY.lower() and not same_instance:
            findings.append({"key": key, "fatal": False, "msg": AK_ROOT_CONFLICT_ADVICE})
    return findings
