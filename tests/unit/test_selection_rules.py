"""selection_rules: the tag filters and exclude lists of the inventory plugin and of cvm_readiness_info (the playbooks'
cvm_include_tags / cvm_exclude_* variables)."""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils import selection_rules as s

VM = {"id": "/subscriptions/s/resourceGroups/RG-Prod/providers/Microsoft.Compute/virtualMachines/cvm-erp-01",
      "name": "cvm-erp-01", "tags": {"Environment": "production", "app": "erp"}}


def test_include_tags_need_every_entry_names_without_case_values_with_case():
    assert s.left_out(VM, {"include_tags": {"environment": "production"}}) is None
    assert s.left_out(VM, {"include_tags": {"environment": ["test", "production"], "APP": None}}) is None
    assert s.left_out(VM, {"include_tags": {"environment": "Production"}}) == "its tags do not match include_tags"
    assert s.left_out(VM, {"include_tags": {"environment": "production", "owner": None}}) == "its tags do not match include_tags"
    assert s.left_out({**VM, "tags": None}, {"include_tags": {"app": None}}) == "its tags do not match include_tags"


def test_exclude_tags_any_entry():
    assert s.left_out(VM, {"exclude_tags": {"backup": "skip", "app": ["erp"]}}) == "tag app matches exclude_tags"
    assert s.left_out(VM, {"exclude_tags": {"backup": None}}) is None


def test_exclude_ids_and_names_without_case():
    assert s.left_out(VM, {"exclude_ids": [VM["id"].upper() + "/"]}) == "its id is in exclude_ids"
    assert s.left_out(VM, {"exclude_names": ["CVM-ERP-*"]}) == "it matches exclude_names CVM-ERP-*"
    assert s.left_out(VM, {"exclude_names": ["rg-prod/cvm-erp-01"]}) == "it matches exclude_names rg-prod/cvm-erp-01"
    assert s.left_out(VM, {"exclude_names": ["rg-other/cvm-erp-01", "cvm-erp-0"]}) is None
    assert s.left_out(VM, {}) is None
