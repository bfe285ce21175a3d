"""Request paths built from names (issue 17 item 1, the second net): every name is one percent-encoded path segment, so
a name that slipped past names.py can never add a segment ('../'), a query ('?') or a fragment ('#') to the URL; the
ids that are compared or returned stay as they were."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_arm import machine_id, vm_instance_id
from ansible_collections.azure_cvm.backup.plugins.module_utils.backup_service import VaultItems

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
HOSTILE = ["x/../../../rsv-cvm-uae/backupPolicies/evilpol", "p?api-version=1999-01-01", "p#frag", "a\\b", "%2F..%2Fx", "../", "a b"]
URL = "https://management.azure.com"


def parts(path: str):
    split = urlsplit(URL + path)
    return split.path.split("/"), split.query, split.fragment


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_policy_name_stays_one_segment_of_its_vault(name):
    ref = {"subscription_id": SUB, "resource_group": "rg-backup", "name": "rsv-cvm-kc"}
    segments, query, fragment = parts(arm_ids.policy_path(ref, name))
    assert segments[:-1] == ["", "subscriptions", SUB, "resourceGroups", "rg-backup", "providers", "Microsoft.RecoveryServices",
                             "vaults", "rsv-cvm-kc", "backupPolicies"]
    assert query == "" and fragment == ""
    assert arm_ids.segment(name) == segments[-1] and "/" not in segments[-1] and "?" not in segments[-1] and "#" not in segments[-1]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_vault_and_group_names_stay_one_segment_in_every_backup_path(name):
    ref = {"subscription_id": SUB, "resource_group": name, "name": name}
    items = VaultItems(None, ref)
    for path in (items.vault_path, items.item_path("rg-cvm-kc", "cvm-01"), arm_ids.vault_path(ref)):
        segments, query, fragment = parts(path)
        assert segments[1:5] == ["subscriptions", SUB, "resourceGroups", arm_ids.segment(name)]
        assert segments[7:9] == ["vaults", arm_ids.segment(name)] and query == "" and fragment == ""
    assert items.vault_id == arm_ids.vault_id(ref)  # the id compared with Azure's answers is not encoded


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_azure_local_vm_name_stays_one_segment(name):
    segments, query, fragment = parts(vm_instance_id(machine_id(SUB, "rg-local", name)))
    assert segments == ["", "subscriptions", SUB, "resourceGroups", "rg-local", "providers", "Microsoft.HybridCompute", "machines",
                        arm_ids.segment(name), "providers", "Microsoft.AzureStackHCI", "virtualMachineInstances", "default"]
    assert query == "" and fragment == ""


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_names_that_no_encoding_makes_one_segment_are_refused(name):
    ref = {"subscription_id": SUB, "resource_group": "rg-backup", "name": "rsv-cvm-kc"}
    with pytest.raises(ValueError, match="cannot be a name in a request path"):
        arm_ids.policy_path(ref, name)
    with pytest.raises(ValueError):
        machine_id(SUB, "rg-local", name)


def test_valid_names_make_the_same_path_as_their_id():
    ref = {"subscription_id": SUB, "resource_group": "rg-backup", "name": "rsv-cvm-kc"}
    assert arm_ids.vault_path(ref) == arm_ids.vault_id(ref)
    assert arm_ids.policy_path(ref, "cvm-enhanced_daily.v2") == arm_ids.policy_id(ref, "cvm-enhanced_daily.v2")
    assert machine_id(SUB, "rg-local", "tvm-ws2022-01") == arm_ids.name_or_id("tvm-ws2022-01", SUB, "rg-local", "Microsoft.HybridCompute/machines")
