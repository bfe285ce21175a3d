"""vault_rules: the irreversible settings, immutability's steps, the vault-delete advice and the readiness check."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import vault_rules as v

BASE = dict(v.NEW_VAULT)


def hard(**kw) -> dict:
    return {**BASE, **kw}


def test_immutability_reaches_locked_only_through_unlocked():
    assert v.immutability_steps(hard(immutability="locked"), None) == ["Unlocked", "Locked"]
    assert v.immutability_steps(hard(immutability="locked"), hard()) == ["Unlocked", "Locked"]
    assert v.immutability_steps(hard(immutability="locked"), hard(immutability="unlocked")) == ["Locked"]
    assert v.immutability_steps(hard(immutability="disabled"), hard(immutability="unlocked")) == ["Disabled"]
    assert v.immutability_steps(hard(), hard()) == []
    assert v.lock_patch(hard(immutability="locked"), hard(immutability="unlocked")) is None
    assert v.lock_patch(hard(immutability="locked"), None)["properties"]["securitySettings"]["immutabilitySettings"] == {"state": "Locked"}


def test_irreversible_settings_and_cross_region_restore():
    assert "confirm_irreversible" in " ".join(v.hardening_errors(hard(soft_delete="always_on"), hard(), False))
    assert v.hardening_errors(hard(soft_delete="always_on"), hard(), True) == []
    assert v.hardening_errors(hard(soft_delete="always_on"), hard(soft_delete="always_on"), False) == []
    assert "cannot be turned off" in v.hardening_errors(hard(soft_delete="disabled"), hard(soft_delete="always_on"), True)[0]
    assert "cannot be disabled" in v.hardening_errors(hard(immutability="disabled"), hard(immutability="locked"), True)[0]
    crr = v.hardening_errors(hard(), hard(), False, crr_actual=True, crr_wanted=False)
    assert len(crr) == 1 and "cannot be turned off" in crr[0] and "new vault" in crr[0]
    assert v.hardening_errors(hard(), hard(), False, crr_actual=True, crr_wanted=None) == []
    assert "14-180" in v.hardening_errors(hard(soft_delete_retention_days=13), hard(), False)[0]
    assert v.hardening_errors(hard(soft_delete_retention_days=180), hard(), False) == []


def test_the_weaker_setting_asked_for_keeps_the_irreversible_one():
    actual = hard(soft_delete="always_on", immutability="locked")
    desired = v.desired_hardening({"soft_delete": "enabled", "immutability": "unlocked"}, actual)
    assert desired["soft_delete"] == "always_on" and desired["immutability"] == "locked"
    assert len(v.stronger_warnings({"soft_delete": "enabled", "immutability": "unlocked"}, actual)) == 2
    assert v.desired_hardening({"soft_delete": "disabled"}, actual)["soft_delete"] == "disabled"  # refused by hardening_errors


def item(name: str, soft: bool, until: str = "2026-12-15T00:00:00Z") -> dict:
    props = {"friendlyName": name}
    if soft:
        props.update(isScheduledForDeferredDelete=True, deferredDeleteTimeInUTC=until)
    return {"name": name, "properties": props}


def test_the_vault_delete_advice_fits_the_vault():
    soft = [item("vm1", True), item("vm2", True, "2026-12-20T00:00:00Z")]
    plain = v.delete_blockers(soft, hard(), "disabled")
    assert "undelete" in plain and "soft_delete: disabled" in plain and "2026-12-20" in plain and "immutability: disabled" not in plain
    unlocked = v.delete_blockers(soft, hard(immutability="unlocked"), "unlocked")
    assert "disable immutability (immutability: disabled)" in unlocked
    for locked in (v.delete_blockers(soft, hard(soft_delete="always_on"), "disabled"),
                   v.delete_blockers(soft, hard(immutability="locked"), "locked")):
        assert "cannot be removed sooner" in locked and "undelete" not in locked and "soft_delete: disabled" not in locked
    mixed = v.delete_blockers([item("vm3", False)] + soft, hard(), "disabled")
    assert mixed.startswith("1 backup item(s) still protected") and "2 soft-deleted" in mixed


def test_the_readiness_check_names_what_is_missing():
    assert v.check_vault_hardening(None).status == "n/a"
    bare = {"name": "rsv", "properties": {"securitySettings": {
        "immutabilitySettings": {"state": "Disabled"}, "softDeleteSettings": {"softDeleteState": "Disabled"}}}}
    check = v.check_vault_hardening(bare)
    assert check.status == "warn" and "soft_delete is disabled" in check.message and "immutability is disabled" in check.message
    good = {"name": "rsv", "properties": {"securitySettings": {
        "immutabilitySettings": {"state": "Locked"}, "softDeleteSettings": {"softDeleteState": "AlwaysON"}}}}
    assert v.check_vault_hardening(good).status == "pass"


def test_the_guard_and_its_protected_operations():
    proxy = {"properties": {"resourceGuardResourceId": "/g", "resourceGuardOperationDetails": [
        {"vaultCriticalOperation": "b"}, {"vaultCriticalOperation": "a"}]}}
    assert v.guard_of([proxy]) == {"id": "/g", "protected_operations": ["a", "b"]}
    assert v.guard_of([]) is None
    assert v.guard_errors("/G", {"id": "/g"}, lambda a, b: a.lower() == b.lower()) == []
    assert "already protected" in v.guard_errors("/h", {"id": "/g"}, lambda a, b: a == b)[0]


def test_a_soft_delete_disable_the_guard_protects_is_refused_before_writing():
    guard = {"id": "/g", "protected_operations": [v.DISABLE_SOFT_DELETE]}
    on, off = {"soft_delete": "enabled"}, {"soft_delete": "disabled"}
    (message,) = v.guard_blocks(off, on, guard)
    assert "Resource Guard /g" in message and "approv" in message
    assert v.guard_blocks(off, off, guard) == []  # already off: nothing to approve
    assert v.guard_blocks(on, on, guard) == []
    assert v.guard_blocks(off, on, {"id": "/g", "protected_operations": ["other"]}) == []  # the guard does not cover it
    assert v.guard_blocks(off, on, None) == [] and v.guard_blocks(off, None, guard) == []
