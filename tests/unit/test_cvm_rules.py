"""Every CVM backup rule, both sides, and the backup naming helpers."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids as ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules as r

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
DES_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-1"


def vm(size="Standard_DC4as_v6", location="koreacentral", security_type="ConfidentialVM",
       encryption="DiskWithVMGuestState", des_id=None, data_disks=0):
    """A VM in the REST shape (as the SDK's as_dict() and the wire give it)."""
    sec = {"securityEncryptionType": encryption} if encryption else None
    if des_id:
        sec["diskEncryptionSet"] = {"id": des_id}
    managed = {"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/vm1-os"}
    if sec:
        managed["securityProfile"] = sec
    return {"id": ids.vm_id(SUB, "rg", "vm1"), "name": "vm1", "location": location,
            "properties": {"hardwareProfile": {"vmSize": size},
                           "securityProfile": {"securityType": security_type} if security_type else {},
                           "storageProfile": {"osDisk": {"managedDisk": managed},
                                              "dataDisks": [{"lun": n} for n in range(data_disks)]}}}


def facts(**kw):
    return r.vm_facts(vm(**kw))


def des(encryption_type="ConfidentialVmEncryptedWithCustomerKey", key_url="https://kv1.vault.azure.net/keys/k1/abc123"):
    return {"id": DES_ID, "name": "des-1", "properties": {"encryptionType": encryption_type, "activeKey": {"keyUrl": key_url}}}


# ------------------------------------------------------------------------------------------------ naming


def test_backup_names():
    assert r.container_name("rg-a", "vm-1") == "IaasVMContainer;iaasvmcontainerv2;rg-a;vm-1"
    assert r.protected_item_name("rg-a", "vm-1") == "VM;iaasvmcontainerv2;rg-a;vm-1"


def test_vm_id_round_trip():
    rid = ids.vm_id(SUB, "rg-a", "vm-1")
    assert rid == f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/vm-1"
    assert ids.parse_vm_id(rid) == {"subscription_id": SUB, "resource_group": "rg-a", "name": "vm-1"}
    assert ids.parse_vm_id(rid.lower().replace("virtualmachines", "VIRTUALMACHINES") + "/")["name"] == "vm-1"


@pytest.mark.parametrize("bad", [
    "", "vm-1", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/x",
    f"/subscriptions/{SUB}/resourceGroups/rg bad/providers/Microsoft.Compute/virtualMachines/vm1",
])
def test_parse_vm_id_rejects_malformed(bad):
    with pytest.raises(ValueError, match="not a virtual machine resource id|not a valid"):
        ids.parse_vm_id(bad)


def test_parse_vm_target_forms():
    want = {"subscription_id": SUB, "resource_group": "rg-a", "name": "vm-1"}
    assert ids.parse_vm_target(ids.vm_id(SUB, "rg-a", "vm-1"), "other") == want
    assert ids.parse_vm_target("rg-a/vm-1", SUB) == want
    assert ids.parse_vm_target({"resource_group": "rg-a", "name": "vm-1"}, SUB) == want


@pytest.mark.parametrize("bad", ["vm-1", "a/b/c", {"name": "vm-1"}, {"resource_group": "rg", "name": "v", "x": 1}, 42,
                                 "rg/bad name", "/subscriptions/x/resourceGroups/rg"])
def test_parse_vm_target_rejects(bad):
    with pytest.raises(ValueError):
        ids.parse_vm_target(bad, SUB)


VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"


def test_parse_vault_forms():
    want = {"subscription_id": SUB, "resource_group": "rg-backup", "name": "rsv-cvm-kc"}
    assert ids.parse_vault(VAULT_ID, SUB) == want
    assert ids.parse_vault(f"  {VAULT_ID}/ ", SUB) == want
    assert ids.parse_vault(VAULT_ID.lower().replace("rsv-cvm-kc", "RSV"), SUB)["name"] == "RSV"
    assert ids.parse_vault({"name": "rsv-cvm-kc", "resource_group": "rg-backup"}, SUB) == want
    # an id keeps its own subscription: the caller decides whether another subscription is acceptable
    assert ids.parse_vault(VAULT_ID.replace(SUB, "other"), SUB)["subscription_id"] == "other"


@pytest.mark.parametrize("bad", ["rsv-cvm-kc", "", None, 42, {"name": "v"}, {"name": "v", "resource_group": ""},
                                 {"name": "v", "resource_group": "g", "x": 1}, VAULT_ID + "/backupJobs/x",
                                 VAULT_ID + "/backupJobs", VAULT_ID.replace("RecoveryServices", "KeyVault"),
                                 VAULT_ID.replace("/resourceGroups/rg-backup", "")])
def test_parse_vault_rejects(bad):
    with pytest.raises(ValueError, match=r"is not a Recovery Services vault; use a resource id \(/subscriptions/"
                                         r"\{subscription\}/.*/vaults/\{name\}\) or \{name, resource_group\}"):
        ids.parse_vault(bad, SUB)


# ------------------------------------------------------------------------------------------------ sizes, regions, keys


@pytest.mark.parametrize("size,family,series", [
    ("Standard_DC4as_v6", "DCasv6", "v6"), ("Standard_DC4ads_v6", "DCadsv6", "v6"), ("Standard_EC128eds_v6", "ECedsv6", "v6"),
    ("Standard_DC2es_v6", "DCesv6", "v6"), ("Standard_DC4as_v5", "DCasv5", "v5"), ("Standard_D4s_v5", "Dsv5", "v5"),
    ("Standard_NC24ads_A100_v4", "NCadsv4", "v4"), ("Standard_D2", "D", "v1"),
])
def test_parse_size(size, family, series):
    info = r.parse_size(size)
    assert (info["family"], info["series"]) == (family, series)


def test_parse_size_garbage_and_family_membership():
    assert r.parse_size("bogus") is None and r.parse_size(None) is None
    assert all(r.is_v6_cvm_family(f.upper()) for f in r.V6_CVM_FAMILIES)
    assert not r.is_v6_cvm_family("DCasv5") and not r.is_v6_cvm_family("Dsv6")
    assert r.is_v6_cvm_family("Dsv6", ["Dsv6"])


def test_normalize_region():
    assert r.normalize_region("Korea Central") == "koreacentral"
    assert r.normalize_region("UAE North") == "uaenorth"
    assert r.normalize_region("uaenorth") == "uaenorth"


def test_key_location():
    assert ids.key_location("https://kv1.vault.azure.net/keys/k1/abc") == {
        "kind": "key_vault", "vault": "kv1", "key_name": "k1", "key_version": "abc", "key_url": "https://kv1.vault.azure.net/keys/k1/abc"}
    hsm = ids.key_location("https://hsm1.managedhsm.azure.net/keys/k2/0f9e")
    assert (hsm["kind"], hsm["vault"], hsm["key_name"], hsm["key_version"]) == ("managed_hsm", "hsm1", "k2", "0f9e")
    assert ids.key_location("https://kv1.vault.usgovcloudapi.net/keys/k1")["key_version"] is None
    for bad in (None, "", "http://kv1.vault.azure.net/keys/k1/v", "https://kv1.vault.azure.net/secrets/s/v", "https://example.com/keys/k/v"):
        assert ids.key_location(bad) is None


def test_associated_counts():
    ids = [f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d{n}" for n in range(3)]
    ids += [f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1",
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p"
            "/diskRestorePoints/d0"]
    assert r.associated_counts(ids) == {"disks": 3, "snapshots": 1}


def test_vm_facts():
    f = facts(des_id=DES_ID, data_disks=2, location="Korea Central")
    assert f["size"] == "Standard_DC4as_v6" and f["region"] == "koreacentral" and f["key_type"] == "CMK"
    assert f["des_id"] == DES_ID and f["data_disks"] == 2 and f["encryption"] == "DiskWithVMGuestState"
    assert facts()["key_type"] == "PMK"
    assert facts(security_type=None)["security_type"] == "Standard"


# ------------------------------------------------------------------------------------------------ checks, both sides


def test_check_exists():
    assert r.check_exists("rg/vm1", {"id": "x"}).status == r.PASS
    missing = r.check_exists("rg/vm1", None)
    assert missing.status == r.FAIL and "rg/vm1 was not found" in missing.message


def test_check_security_type():
    assert r.check_security_type(facts()).status == r.PASS
    tl = r.check_security_type(facts(security_type="TrustedLaunch"))
    assert tl.status == r.NA and "TrustedLaunch" in tl.message


def test_check_size():
    assert r.check_size(facts()).status == r.PASS
    v5 = r.check_size(facts(size="Standard_DC4as_v5"))
    assert v5.status == r.FAIL and "v5 series is not supported" in v5.message
    other = r.check_size(facts(size="Standard_D4s_v6"))
    assert other.status == r.FAIL and "not a supported confidential VM size" in other.message
    assert r.check_size(facts(size="Standard_D4s_v6"), ["Dsv6"]).status == r.PASS


def test_check_region():
    assert r.check_region(facts(location="uaenorth")).status == r.PASS
    weu = r.check_region(facts(location="westeurope"))
    assert weu.status == r.FAIL and "westeurope" in weu.message
    assert r.check_region(facts(location="westeurope"), ["West Europe"]).status == r.PASS


def test_check_os_disk_encryption():
    assert r.check_os_disk_encryption(facts()).status == r.PASS
    gso = r.check_os_disk_encryption(facts(encryption="VMGuestStateOnly"))
    assert gso.status == r.FAIL and "VMGuestStateOnly" in gso.message
    assert r.check_os_disk_encryption(facts(encryption=None)).status == r.FAIL


def test_check_key_pmk_and_cmk():
    assert "platform-managed" in r.check_key(facts(), None).message
    kv = r.check_key(facts(des_id=DES_ID), des())
    assert kv.status == r.PASS and "key k1 version abc123 in Key Vault kv1" in kv.message
    hsm = r.check_key(facts(des_id=DES_ID), des(key_url="https://hsm1.managedhsm.azure.net/keys/k2/v9"))
    assert hsm.status == r.PASS and "Managed HSM hsm1" in hsm.message


def test_check_key_failures():
    cmk = facts(des_id=DES_ID)
    assert r.check_key(cmk, des(encryption_type="EncryptionAtRestWithCustomerKey")).status == r.FAIL
    assert r.check_key(cmk, des(key_url="https://example.com/keys/k")).status == r.FAIL
    unread = r.check_key(cmk, None, "403 AuthorizationFailed")
    assert unread.status == r.FAIL and "des-1 could not be read: 403 AuthorizationFailed" in unread.message


def test_check_des_threshold():
    cmk = facts(des_id=DES_ID)
    assert r.check_des_threshold(facts(), None).status == r.NA
    assert r.check_des_threshold(cmk, {"disks": 40, "snapshots": 0}).status == r.PASS
    assert r.check_des_threshold(cmk, {"disks": 36, "snapshots": 4}).status == r.PASS
    busy = r.check_des_threshold(cmk, {"disks": 39, "snapshots": 4})
    assert busy.status == r.WARN and "39 disks and 4 snapshots taken outside Azure Backup" in busy.message
    assert "safe disk count to 36" in busy.message
    over = r.check_des_threshold(cmk, {"disks": 41, "snapshots": 0})
    assert over.status == r.WARN and "41 disks" in over.message
    assert r.check_des_threshold(cmk, {"disks": 10, "snapshots": 0}, threshold=5).status == r.WARN
    assert r.check_des_threshold(cmk, None, error="boom").status == r.WARN


def test_check_restore_point_feature():
    assert r.check_restore_point_feature({"properties": {"state": "Registered"}}).status == r.PASS
    for state in ("NotRegistered", "Registering", "Pending", "Unregistered"):
        check = r.check_restore_point_feature({"properties": {"state": state}})
        assert check.status == r.FAIL and state in check.message
    assert r.check_restore_point_feature(None).status == r.FAIL
    assert r.check_restore_point_feature(None, "HTTP 403").status == r.FAIL


def test_a_plan_may_count_the_feature_as_registered_but_never_a_pending_one():
    planned = r.check_restore_point_feature({"properties": {"state": "NotRegistered"}}, assume_registered=True)
    assert planned.status == r.PASS and "counts it as registered" in planned.message
    pending = r.check_restore_point_feature({"properties": {"state": "Pending"}}, assume_registered=True)
    assert pending.status == r.FAIL
    assert r.check_restore_point_feature(None, "HTTP 403", assume_registered=True).status == r.FAIL


def test_check_blocking_features():
    assert r.check_blocking_features({}).status == r.NA
    assert "not documented" in r.check_blocking_features({}).message
    ok = {"Microsoft.Compute/OptOut": {"properties": {"state": "NotRegistered"}}, "Microsoft.Compute/Gone": None}
    assert r.check_blocking_features(ok).status == r.PASS
    bad = r.check_blocking_features({**ok, "Microsoft.Compute/Bad": {"properties": {"state": "Registered"}}})
    assert bad.status == r.FAIL and "Microsoft.Compute/Bad" in bad.message
    assert r.check_blocking_features({"Microsoft.Compute/X": "HTTP 403"}).status == r.FAIL


def test_check_vault_region():
    vault = {"name": "rsv", "location": "koreacentral"}
    assert r.check_vault_region(facts(), None).status == r.NA
    assert r.check_vault_region(facts(), vault).status == r.PASS
    other = r.check_vault_region(facts(location="uaenorth"), vault)
    assert other.status == r.FAIL and "same region" in other.message
    assert r.check_vault_region(facts(), None, "not found").status == r.FAIL


def test_check_vault_cross_region_restore():
    def vault(crr):
        return {"name": "rsv", "properties": {"redundancySettings": {"crossRegionRestore": crr}}}
    assert r.check_vault_cross_region_restore(None).status == r.NA
    assert r.check_vault_cross_region_restore(vault("Disabled")).status == r.PASS
    warn = r.check_vault_cross_region_restore(vault("Enabled"))
    assert warn.status == r.WARN and "not supported for confidential VMs" in warn.message


def test_check_policy():
    def policy(consistency=None, kind="AzureIaasVM"):
        props = {"backupManagementType": kind}
        if consistency:
            props["snapshotConsistencyType"] = consistency
        return {"name": "pol", "properties": props}
    assert r.check_policy(facts(), None).status == r.NA
    assert r.check_policy(facts(data_disks=1), policy()).status == r.PASS
    assert r.check_policy(facts(), policy("OnlyCrashConsistent")).status == r.PASS
    crash = r.check_policy(facts(data_disks=1), policy("OnlyCrashConsistent"))
    assert crash.status == r.FAIL and "multi-disk crash-consistent backup is not supported" in crash.message
    assert r.check_policy(facts(), policy(kind="AzureStorage")).status == r.FAIL
    assert r.check_policy(facts(), None, "pol", "not found").status == r.FAIL


# ------------------------------------------------------------------------------------------------ verdicts


def test_verdict():
    ok, warn = r.Check("a", r.PASS, "fine"), r.Check("b", r.WARN, "careful")
    fail, na = r.Check("c", r.FAIL, "broken"), r.Check("security_type", r.NA, "not a CVM")
    assert r.verdict([ok]) == {"verdict": r.READY, "ready": True, "blockers": [], "warnings": []}
    assert r.verdict([ok, warn]) == {"verdict": r.READY_WITH_WARNINGS, "ready": True, "blockers": [], "warnings": ["careful"]}
    assert r.verdict([ok, warn, fail]) == {"verdict": r.NOT_READY, "ready": False, "blockers": ["broken"], "warnings": ["careful"]}
    assert r.verdict([na])["verdict"] == r.NOT_APPLICABLE and not r.verdict([na])["ready"]
    assert r.verdict([r.Check("policy", r.NA, "no policy"), ok])["verdict"] == r.READY


def test_summary():
    reports = [{"verdict": r.READY}, {"verdict": r.READY}, {"verdict": r.NOT_READY}, {"verdict": r.NOT_APPLICABLE}]
    assert r.summary(reports) == {"ready": 2, "ready_with_warnings": 0, "not_ready": 1, "not_applicable": 1, "total": 4}
