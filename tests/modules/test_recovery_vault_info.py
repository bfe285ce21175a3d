"""recovery_vault_info through the local Azure: the vaults of a resource group by region, one vault by name (or its
azcollection alias), a missing resource group fails (Azure: 404 ResourceGroupNotFound), and it never writes."""

from __future__ import annotations

from tests.sim_helpers import run_module, writes

MODULE = "recovery_vault_info"


def test_vaults_of_a_group_by_region(azure_sim):
    result = run_module(azure_sim, MODULE, {"resource_group": "rg-backup"})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["by_region"] == {"koreacentral": ["rsv-cvm-kc"], "uaenorth": ["rsv-cvm-uae"], "westeurope": ["rsv-legacy-weu"]}
    legacy = next(v for v in result["vaults"] if v["name"] == "rsv-legacy-weu")
    assert legacy["resource_group"] == "rg-backup" and legacy["cross_region_restore"] is True
    assert writes(azure_sim.requests()) == []


def test_one_vault_by_its_azcollection_name(azure_sim):
    result = run_module(azure_sim, MODULE, {"resource_group": "rg-backup", "recovery_vault_name": "RSV-CVM-KC"})
    assert [v["name"] for v in result["vaults"]] == ["rsv-cvm-kc"]
    whole = run_module(azure_sim, MODULE, {"vault_name": "rsv-nowhere"})
    assert whole["vaults"] == [] and whole["by_region"] == {}


def test_a_missing_resource_group_fails_with_one_sentence_and_no_write(azure_sim):
    """Azure answers 404 ResourceGroupNotFound for a list under a group that does not exist (evidence.yml
    arm-list-missing-resource-group), not an empty list: the module says so in one sentence."""
    result = run_module(azure_sim, MODULE, {"resource_group": "rg-nowhere"})
    assert result.get("failed") and result["error_code"] == "ResourceGroupNotFound", result
    assert result["msg"].startswith("The resource group rg-nowhere does not exist in subscription ")
    assert result["msg"].count(". ") == 0 and result["msg"].endswith(".") and "Traceback" not in result["msg"]
    assert writes(azure_sim.requests()) == []
