"""The support matrix rules held to Microsoft's pages (tests/unit/data/cvm_support_matrix.yml), not to the code's own
lists: every supported size of every v6 family passes, every confidential v5 size fails as v5, every supported region
passes under both its names, its neighbours fail, and the DES threshold holds on both sides of each boundary.

Only the public rule functions are used (cvm_rules.check_size / check_region / check_des_threshold / vm_facts) and the
defaults the modules really apply (readiness.READINESS_ARGSPEC and the documented defaults of the doc fragment)."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import cvm_rules as rules
from ansible_collections.azure_cvm.backup.plugins.module_utils import readiness

with open(os.path.join(os.path.dirname(__file__), "data", "cvm_support_matrix.yml"), encoding="utf-8") as _handle:
    MATRIX = yaml.safe_load(_handle)

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
DES_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-1"
SUPPORTED = MATRIX["size_series"]["supported"]
DEFAULTS = {name: spec["default"] for name, spec in readiness.READINESS_ARGSPEC.items()}


def facts(size="Standard_DC4as_v6", location="koreacentral", des_id=None) -> dict:
    """The rule facts of a confidential VM in the REST shape."""
    managed = {"securityProfile": {"securityEncryptionType": "DiskWithVMGuestState"}}
    if des_id:
        managed["securityProfile"]["diskEncryptionSet"] = {"id": des_id}
    return rules.vm_facts({"id": arm_ids.vm_id(SUB, "rg", "vm1"), "name": "vm1", "location": location,
                           "properties": {"hardwareProfile": {"vmSize": size},
                                          "securityProfile": {"securityType": "ConfidentialVM"},
                                          "storageProfile": {"osDisk": {"managedDisk": managed}}}})


def test_every_entry_names_its_page():
    assert MATRIX["backup_article"].startswith("https://learn.microsoft.com/")
    for entry in SUPPORTED:
        assert entry["page"].startswith("https://learn.microsoft.com/") and entry["family"].lower() in entry["page"]
    assert MATRIX["size_series"]["unsupported_v5"]["page"].startswith("https://learn.microsoft.com/")
    for section in ("size_series", "regions", "des_threshold"):
        assert MATRIX[section]["source"] == MATRIX["backup_article"]


# ------------------------------------------------------------------------------------------------ sizes


@pytest.mark.parametrize("families", [None, "argspec"], ids=["rule-default", "module-default"])
@pytest.mark.parametrize("size", [s for e in SUPPORTED for s in e["sizes"]])
def test_every_size_of_every_supported_v6_family_passes(size, families):
    chosen = {} if families is None else {"families": DEFAULTS["supported_size_families"]}
    check = rules.check_size(facts(size=size), **chosen)
    assert check.status == rules.PASS, check.message
    family = next(e["family"] for e in SUPPORTED if size in e["sizes"])
    assert f"family {family}" in check.message


@pytest.mark.parametrize("size", MATRIX["size_series"]["unsupported_v5"]["sizes"])
def test_every_confidential_v5_size_fails_as_v5(size):
    check = rules.check_size(facts(size=size))
    assert check.status == rules.FAIL and "the v5 series is not supported" in check.message, check.message


@pytest.mark.parametrize("size", MATRIX["size_series"]["not_confidential"]["sizes"])
def test_sizes_that_are_not_confidential_vm_sizes_fail(size):
    check = rules.check_size(facts(size=size))
    assert check.status == rules.FAIL and "not a supported confidential VM size" in check.message, check.message


def test_the_default_family_lists_are_the_documented_ones():
    documented = sorted(e["family"].lower() for e in SUPPORTED)
    assert sorted(f.lower() for f in DEFAULTS["supported_size_families"]) == documented
    fragment = doc_fragment_defaults()
    assert sorted(f.lower() for f in fragment["supported_size_families"]) == documented


# ------------------------------------------------------------------------------------------------ regions


@pytest.mark.parametrize("regions", [None, "argspec"], ids=["rule-default", "module-default"])
@pytest.mark.parametrize("location", [n for r in MATRIX["regions"]["supported"] for n in (r["name"], r["display"])])
def test_every_supported_region_passes_by_either_name(location, regions):
    chosen = {} if regions is None else {"regions": DEFAULTS["supported_regions"]}
    check = rules.check_region(facts(location=location), **chosen)
    assert check.status == rules.PASS, check.message


@pytest.mark.parametrize("location", MATRIX["regions"]["unsupported"])
def test_the_neighbouring_regions_fail(location):
    check = rules.check_region(facts(location=location))
    assert check.status == rules.FAIL and location in check.message, check.message


def test_the_default_region_lists_are_the_documented_ones():
    documented = sorted(r["name"] for r in MATRIX["regions"]["supported"])
    assert sorted(rules.normalize_region(r) for r in DEFAULTS["supported_regions"]) == documented
    assert sorted(rules.normalize_region(r) for r in doc_fragment_defaults()["supported_regions"]) == documented


# ------------------------------------------------------------------------------------------------ the DES threshold


def test_the_default_threshold_is_the_documented_one():
    assert DEFAULTS["des_disk_threshold"] == MATRIX["des_threshold"]["threshold"]
    assert doc_fragment_defaults()["des_disk_threshold"] == MATRIX["des_threshold"]["threshold"]


@pytest.mark.parametrize("threshold", [None, "argspec"], ids=["rule-default", "module-default"])
@pytest.mark.parametrize("case", MATRIX["des_threshold"]["cases"], ids=lambda c: f"{c['disks']}disks+{c['snapshots']}snapshots")
def test_des_threshold_both_sides_of_each_boundary(case, threshold):
    chosen = {} if threshold is None else {"threshold": DEFAULTS["des_disk_threshold"]}
    limit = MATRIX["des_threshold"]["threshold"]
    check = rules.check_des_threshold(facts(des_id=DES_ID), {"disks": case["disks"], "snapshots": case["snapshots"]}, **chosen)
    if case["status"] == "pass":
        assert check.status == rules.PASS, check.message
        assert f"within the safe threshold of {limit}" in check.message
    elif case["status"] == "over":
        assert check.status == rules.WARN, check.message
        assert f"{case['disks']} disks" in check.message and "over the safe threshold" in check.message
        assert "lower the safe disk count" not in check.message
    else:  # the snapshots, not the disks, push it over: the message says how far they lower the threshold
        assert check.status == rules.WARN, check.message
        assert f"lower the safe disk count to {limit - case['snapshots']}" in check.message, check.message


def test_a_vm_with_a_platform_key_has_no_des_threshold():
    assert rules.check_des_threshold(facts(), {"disks": 100, "snapshots": 100}).status == rules.NA


def doc_fragment_defaults() -> dict:
    """The defaults users read (doc fragment azure_cvm.backup.azure.readiness), from the collection's own file."""
    from tests.transition_helpers import _constants

    path = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "doc_fragments", "azure.py")
    options = yaml.safe_load(_constants(path)["READINESS"])["options"]
    return {name: spec.get("default") for name, spec in options.items()}
