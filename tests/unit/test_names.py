"""module_utils/names.py: Azure's naming rules for every name that becomes part of a request path."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import names

VALID = [("resource_group", "rg-cvm-kc"), ("resource_group", "Rg_(test).1"), ("resource_group", "rg-\u0430zlocal"),
         ("resource_group", "r" * 90), ("vault", "rsv-cvm-kc"), ("vault", "ab"), ("vault", "a" + "b" * 49),
         ("policy", "DefaultPolicy"), ("policy", "cvm-daily"), ("policy", "EnhancedPolicy_2"),
         ("vm", "cvm-pmk-01"), ("azure_local_vm", "tvm-win11-01"), ("azure_local_vm", "m" * 54),
         ("key_vault", "kv-cvm-kc"), ("key_vault", "hsm-cvm-uae"), ("storage_account", "stcvmrestorekc"),
         ("provider_namespace", "Microsoft.Compute"), ("feature", "RestorePointSupportForConfidentialVMV2"),
         ("azure_assigned", "latest"), ("azure_assigned", "123456789"), ("azure_assigned", "0b0c6f8e-1f4a-4b1e-9d2a-2c5e0f7a8b9c"),
         ("subscription", "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"), ("region", "koreacentral"), ("region", "Korea Central"),
         ("region", "atlantis")]  # the form only: membership is names.region_refusal against the subscription's list
HOSTILE = ["no-such/../victim", "..", ".", "x%2F..%2Fy", "x?a=1", "x#y", "x\\y", "x\ny", "x\x00y", "a" * 300, ""]


@pytest.mark.parametrize("kind,value", VALID)
def test_valid_names_pass(kind, value):
    assert names.problem(kind, value) is None


@pytest.mark.parametrize("kind", sorted(set(names.RULES) - {"segment"}))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_fail_for_every_kind(kind, value):
    assert names.problem(kind, value)


@pytest.mark.parametrize("kind,value", [("resource_group", "r" * 91), ("resource_group", "rg."), ("vault", "1vault"),
                                        ("vault", "a" * 51), ("vault", "rsv-\u0441vm"), ("azure_local_vm", "m" * 55),
                                        ("key_vault", "kv--x"), ("key_vault", "kv-"), ("storage_account", "StUpper"),
                                        ("subscription", "../../providers"), ("region", "korea-central"), ("feature", "-x"),
                                        ("policy", "p\u202eol")])
def test_each_rule_has_its_limits(kind, value):
    assert names.problem(kind, value)


def test_check_params_names_the_option_in_one_sentence():
    msg = names.check_params({"name": "x/../y", "resource_group": "rg"}, {"name": "policy", "resource_group": "resource_group"})
    assert msg.startswith("name 'x/../y' is not a valid backup policy name: it must be one path segment") and msg.endswith(".")
    assert names.check_params({"vault": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"},
                              {"vault": "key_vault_or_id"}) is None
    assert "\\n" in names.check_params({"names": ["ok", "a\nb"]}, {"names": "feature"}), "control characters are shown escaped"


LISTED = [("koreacentral", "Korea Central"), ("taiwannorth", "Taiwan North"), ("uaenorth", "UAE North")]


@pytest.mark.parametrize("value", ["taiwannorth", "Taiwan North", "TAIWAN north", "koreacentral"])
def test_a_listed_region_by_name_or_display_name_passes(value):
    assert names.region_refusal("location", value, LISTED, "of subscription s") is None


def test_an_unlisted_region_is_one_sentence_with_the_closest_listed_names():
    assert names.region_refusal("location", "korea central 2", LISTED, "of subscription s") == (
        "location 'korea central 2' is not an Azure region of subscription s (the closest listed are koreacentral).")
    assert names.region_refusal("location", "atlantis", LISTED, "of subscription s") == (
        "location 'atlantis' is not an Azure region of subscription s (it lists 3 regions, none close to it).")
