"""What mutation testing (tests/mutation, `make mutation`) found no unit test held in readiness.py: the subscription
prerequisites and how they turn a VM's verdict (cvm_readiness_info's RETURN: a VM ready on its own checks is
ready_after_prerequisites while the restore-point feature is only NotRegistered, which the protect play registers; any
other failed prerequisite makes it not ready, naming it), the summary counts, the support-matrix options refused
before any request, and a listed VM's target. The reads (Reader, cvm_checks, collect) are held by the module tests
through the local Azure (tests/modules/test_cvm_readiness_info.py)."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules as r
from ansible_collections.azure_cvm.backup.plugins.module_utils import readiness as rd
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure

OWN_PASS = [r.Check("vm_size", r.PASS, "ok"), r.Check("region", r.PASS, "ok")]
BLOCKING_NA = r.Check("blocking_features", r.NA, "none configured")


def feature(state):
    return {"properties": {"state": state}}


@pytest.mark.parametrize("state,fixed", [("NotRegistered", True), ("Unregistered", True), ("Pending", False),
                                         ("Registering", False)])
def test_only_a_feature_the_play_can_register_is_fixed_by_the_play(state, fixed):
    checks = OWN_PASS + [r.check_restore_point_feature(feature(state)), BLOCKING_NA]
    prereqs = rd.prerequisites(checks, feature(state))
    assert [p["name"] for p in prereqs] == ["restore_point_feature", "blocking_features"]
    assert prereqs[0]["status"] == r.FAIL and prereqs[0]["fixed_by_play"] is fixed
    assert prereqs[1]["fixed_by_play"] is False and prereqs[1]["message"] == "none configured"
    verdict = rd.report_verdict(checks, prereqs)
    if fixed:
        assert verdict == {"verdict": "ready_after_prerequisites", "ready": False, "blockers": [], "warnings": [],
                           "pending": [rd.FEATURE_PENDING]}
    else:
        assert verdict["verdict"] == r.NOT_READY and verdict["ready"] is False and verdict["pending"] == []
        assert verdict["blockers"] == ["Subscription prerequisite(s) not met: restore_point_feature (see prerequisites)."]


def test_an_unread_feature_is_not_fixed_by_the_play_and_a_registered_one_leaves_the_vm_ready():
    unread = r.check_restore_point_feature(None, error="HTTP 403")
    assert rd.prerequisites(OWN_PASS + [unread], None)[0]["fixed_by_play"] is False
    ok = r.check_restore_point_feature(feature("Registered"))
    checks = OWN_PASS + [ok, BLOCKING_NA]
    assert rd.report_verdict(checks, rd.prerequisites(checks, feature("Registered")))["verdict"] == r.READY


def test_a_vm_not_ready_on_its_own_checks_stays_so_and_names_no_prerequisite():
    checks = [r.Check("vm_size", r.FAIL, "too small"), r.check_restore_point_feature(feature("Pending"))]
    verdict = rd.report_verdict(checks, rd.prerequisites(checks, feature("Pending")))
    assert verdict["verdict"] == r.NOT_READY and verdict["blockers"] == ["too small"]


def test_a_registered_blocking_feature_makes_a_ready_vm_not_ready():
    blocking = r.check_blocking_features({"Microsoft.Compute/X": feature("Registered")})
    checks = OWN_PASS + [r.check_restore_point_feature(feature("NotRegistered")), blocking]
    verdict = rd.report_verdict(checks, rd.prerequisites(checks, feature("NotRegistered")))
    assert verdict["verdict"] == r.NOT_READY
    assert verdict["blockers"] == ["Subscription prerequisite(s) not met: blocking_features (see prerequisites)."]


def test_the_summary_counts_every_verdict_and_the_total():
    reports = [{"verdict": v} for v in ("ready", "ready", "not_ready", "ready_after_prerequisites")]
    assert rd.report_summary(reports) == {"ready": 2, "ready_with_warnings": 0, "not_ready": 1, "not_applicable": 0,
                                          "ready_after_prerequisites": 1, "total": 4}
    assert rd.report_summary([]) == {v: 0 for v in rd.REPORT_VERDICTS} | {"total": 0}


@pytest.mark.parametrize("params,fragment", [
    ({"blocking_features": ["NoNamespace"], "des_disk_threshold": 40}, "'NoNamespace' is not of the form Namespace/FeatureName"),
    ({"blocking_features": ["/Name"], "des_disk_threshold": 40}, "'/Name' is not of the form"),
    ({"blocking_features": ["Microsoft.Compute/"], "des_disk_threshold": 40}, "'Microsoft.Compute/' is not of the form"),
    ({"blocking_features": ["A/B/C"], "des_disk_threshold": 40}, "'A/B/C' is not of the form"),
    ({"blocking_features": [], "des_disk_threshold": 0}, "des_disk_threshold must be at least 1."),
])
def test_malformed_support_matrix_options_are_refused(params, fragment):
    with pytest.raises(ModuleFailure) as refused:
        rd.validate_options(params)
    assert fragment in str(refused.value)


def test_well_formed_support_matrix_options_pass():
    assert rd.validate_options({"blocking_features": ["Microsoft.Compute/SomeFeature"], "des_disk_threshold": 1}) is None


def test_a_listed_vm_target_is_its_subscription_group_and_name():
    vm = {"id": "/subscriptions/s-1/resourceGroups/RG-CVM/providers/Microsoft.Compute/virtualMachines/cvm-01", "name": "cvm-01"}
    assert rd.target_of(vm) == {"subscription_id": "s-1", "resource_group": "RG-CVM", "name": "cvm-01"}
