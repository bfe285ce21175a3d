"""The inventory plugin azure_cvm.backup.confidential_vms through `ansible-inventory --list` against the local Azure's
three-subscription estate (tests/azure_sim/scenarios/estate.yml): hosts, groups, host variables and verdicts, the
requests it makes (list calls only), tag filters and exclude lists, caching, and a sign-in failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env

PROD_KC = "11111111-aaaa-4aaa-8aaa-000000000001"
PROD_UAE = "22222222-bbbb-4bbb-8bbb-000000000002"
TEST = "33333333-cccc-4ccc-8ccc-000000000003"
DISABLED = "44444444-dddd-4ddd-8ddd-000000000004"
CONFIG = os.path.join(REPO_ROOT, "inventory", "confidential_vms.yml")
PLUGIN = "azure_cvm.backup.confidential_vms"
# The CVMs of the three enabled subscriptions, without cvm-skip-01 (tagged backup=skip, excluded by the config file).
CVMS = {"cvm-erp-01", "cvm-erp-02", "cvm-old-01", "cvm-pay-01", "cvm-pay-02", "cvm-pay-03", "cvm-eu-01", "cvm-test-01",
        "cvm-test-02"}


@pytest.fixture
def estate(sim_server_factory):
    return sim_server_factory("estate")


def _plain(value: dict):
    """ansible-inventory shows values from an inventory plugin as {"__ansible_unsafe": value}."""
    return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else value


def run_inventory(server, config: dict | str = CONFIG, tmp_path=None, args=(), **env) -> dict:
    """ansible-inventory --list with a plugin config (a path, or a dict written to <tmp>/x.confidential_vms.yml):
    {rc, inventory (None when the output is not JSON), stderr, requests (the local Azure's log of this run)}."""
    path = config
    if isinstance(config, dict):
        path = os.path.join(str(tmp_path), "x.confidential_vms.yml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"plugin": PLUGIN, **config}, handle)
    seen = server.requests()
    since = seen[-1]["seq"] if seen else 0
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", path, "--list", *args],
                          env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1", **env), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    try:
        inventory = json.loads(proc.stdout, object_hook=_plain)
    except ValueError:
        inventory = None
    return {"rc": proc.returncode, "inventory": inventory, "stderr": proc.stderr, "requests": server.requests(since)}


def hosts_of(inventory: dict, group: str) -> set:
    return set((inventory.get(group) or {}).get("hosts") or [])


def hostvars(inventory: dict) -> dict:
    return inventory["_meta"]["hostvars"]


def azure_calls(requests: list) -> Counter:
    """(method, what) of every request to Azure except sign-in; `what` is the listed resource type or the path."""
    out = Counter()
    for r in requests:
        if r["host"] == SIGN_IN_HOST:
            continue
        path = r["path"].split("?")[0]
        tail = path.rsplit("/providers/", 1)[-1] if "/providers/" in path else path
        parts = tail.split("/")
        what = "/".join(parts[:2]) if len(parts) <= 2 else parts[0] + "/" + "/".join(parts[1::2][:1] + parts[-1:])
        out[(r["method"], what)] += 1
    return out


def test_every_visible_subscription_with_groups_verdicts_and_only_list_calls(estate):
    run = run_inventory(estate)
    assert run["rc"] == 0, run["stderr"]
    inv = run["inventory"]
    hv = hostvars(inv)
    assert set(hv) == CVMS  # confidential VMs only; the disabled subscription is not read
    assert not any(DISABLED in r["path"] for r in run["requests"])
    assert hosts_of(inv, "verdict_ready") == {"cvm-erp-01", "cvm-erp-02", "cvm-pay-01", "cvm-pay-03"}
    assert hosts_of(inv, "verdict_ready_with_warnings") == {"cvm-pay-02"}
    assert hosts_of(inv, "verdict_not_ready") == {"cvm-old-01", "cvm-eu-01", "cvm-test-01", "cvm-test-02"}
    assert hosts_of(inv, "region_koreacentral") == {"cvm-erp-01", "cvm-erp-02", "cvm-old-01", "cvm-test-01", "cvm-test-02"}
    assert hosts_of(inv, "region_uaenorth") == {"cvm-pay-01", "cvm-pay-02", "cvm-pay-03"}
    assert hosts_of(inv, "region_westeurope") == {"cvm-eu-01"}
    assert hosts_of(inv, "key_cmk_key_vault") == {"cvm-erp-02", "cvm-pay-02"}
    assert hosts_of(inv, "key_cmk_managed_hsm") == {"cvm-pay-01"}
    assert hosts_of(inv, "key_pmk") == CVMS - {"cvm-erp-02", "cvm-pay-02", "cvm-pay-01"}
    assert hosts_of(inv, "protection_Protected") == {"cvm-erp-01", "cvm-pay-01"}
    assert hosts_of(inv, "protection_ProtectionStopped") == {"cvm-pay-03"}
    assert hosts_of(inv, f"subscription_{TEST.replace('-', '_')}") == {"cvm-test-01", "cvm-test-02"}
    assert hosts_of(inv, "cvm_to_protect") == {"cvm-erp-02", "cvm-pay-02", "cvm-pay-03"}

    erp = hv["cvm-erp-01"]
    assert erp["id"] == f"/subscriptions/{PROD_KC}/resourceGroups/rg-prod-kc/providers/Microsoft.Compute/virtualMachines/cvm-erp-01"
    assert (erp["subscription_id"], erp["subscription_name"], erp["resource_group"]) == (PROD_KC, "CVM production Korea", "rg-prod-kc")
    assert (erp["size"], erp["security_type"], erp["vm_tags"]) == ("Standard_DC4as_v6", "ConfidentialVM", {"environment": "production", "app": "erp"})
    assert erp["protected"] is True and erp["protection_state"] == "Protected"
    assert erp["vault"]["name"] == "rsv-prod-kc" and erp["vault"]["resource_group"] == "rg-prod-backup"
    assert erp["policy"]["name"] == "cvm-enhanced-daily" and erp["last_backup_time"]
    assert erp["checks"] is None  # only with include_checks

    hsm = hv["cvm-pay-01"]
    assert hsm["key_kind"] == "cmk_managed_hsm" and hsm["key"]["vault"] == "hsm-prod-uae"
    assert hsm["key_id"] == "https://hsm-prod-uae.managedhsm.azure.net/keys/prod-hsm-key/1b2c3d4e5f60718293a4b5c6d7e8f90a"
    assert hsm["disk_encryption_set"]["name"] == "des-prod-hsm"
    kv = hv["cvm-erp-02"]
    assert kv["key_kind"] == "cmk_key_vault" and kv["key"]["key_name"] == "prod-cmk" and kv["protection_state"] == "NotProtected"
    assert kv["vault"] is None and kv["policy"] is None
    assert hv["cvm-pay-02"]["warnings"] and "des-prod-busy" in hv["cvm-pay-02"]["warnings"][0]
    assert hv["cvm-pay-03"]["protected"] is False and hv["cvm-pay-03"]["protection_state"] == "ProtectionStopped"
    assert any("v5 series" in b for b in hv["cvm-old-01"]["blockers"])
    assert any("westeurope" in b for b in hv["cvm-eu-01"]["blockers"])
    assert all(any("RestorePointSupportForConfidentialVMV2 is NotRegistered" in b for b in hv[h]["blockers"])
               for h in ("cvm-test-01", "cvm-test-02"))

    # one list per subscription / vault / DES, never a read per VM: 3 subscriptions, 2 vaults, 3 DES used by CVMs
    calls = azure_calls(run["requests"])
    assert calls == Counter({
        ("GET", "/subscriptions"): 1,
        ("GET", "Microsoft.Compute/virtualMachines"): 3,
        ("GET", "Microsoft.Compute/diskEncryptionSets"): 2,  # the test subscription has no CMK VM: no DES list
        ("GET", "Microsoft.Compute/diskEncryptionSets/associatedResources"): 3,
        ("GET", "Microsoft.Compute/features/RestorePointSupportForConfidentialVMV2"): 3,
        ("GET", "Microsoft.RecoveryServices/vaults"): 3,
        ("GET", "Microsoft.RecoveryServices/vaults/backupProtectedItems"): 2,
        ("GET", "Microsoft.RecoveryServices/vaults/backupPolicies"): 2,
    }), calls
    assert sum(1 for r in run["requests"] if r["host"] == SIGN_IN_HOST and r["method"] == "POST") == 1  # one token


def test_given_subscriptions_tag_filters_exclude_lists_and_other_security_types(estate, tmp_path):
    erp02 = f"/subscriptions/{PROD_KC}/resourceGroups/rg-prod-kc/providers/Microsoft.Compute/virtualMachines/CVM-ERP-02"
    run = run_inventory(estate, {
        "subscriptions": [PROD_KC, PROD_UAE], "security_types": ["*"], "include_tags": {"environment": "production"},
        "exclude_tags": {"backup": "skip", "app": ["erp-legacy", "payments"]}, "exclude_names": ["rg-prod-weu/*"],
        "exclude_ids": [erp02], "keyed_groups": [{"key": "verdict", "prefix": "verdict"}]}, tmp_path)
    assert run["rc"] == 0, run["stderr"]
    hv = hostvars(run["inventory"])
    # payments excluded by tag, cvm-eu-01 by pattern, cvm-erp-02 by id (case-blind), cvm-skip-01 by backup=skip;
    # cvm-pay-03's tag is "Environment" (tag names compare without case) but it is a payments VM
    assert set(hv) == {"cvm-erp-01", "cvm-old-01", "tl-web-01", "std-jump-01"}
    assert hosts_of(run["inventory"], "verdict_not_applicable") == {"tl-web-01", "std-jump-01"}
    assert hv["tl-web-01"]["security_type"] == "TrustedLaunch" and hv["tl-web-01"]["key_kind"] is None
    assert hv["std-jump-01"]["security_type"] == "Standard"
    paths = [r["path"] for r in run["requests"] if r["host"] != SIGN_IN_HOST]
    assert "/subscriptions" not in paths and not any(TEST in p for p in paths)
    # the excluded VMs' DES were never read: the payments DES and des-prod-kv (cvm-erp-02) have no associatedResources call
    assert not any(p.endswith("/associatedResources") for p in paths)


def test_filters_exclude_host_filters_compose_and_hostnames(estate, tmp_path):
    run = run_inventory(estate, {
        "subscriptions": [PROD_KC, PROD_UAE, TEST], "filters": {"verdict": ["ready", "ready_with_warnings"]},
        "exclude_host_filters": ["protection_state == 'ProtectionStopped'"], "hostnames": "resource_group_name",
        "compose": {"ansible_connection": "'local'", "backup_vault": "vault.name if vault else 'none'"},
        "groups": {"hsm_keys": "key_kind == 'cmk_managed_hsm'"}, "include_checks": True}, tmp_path)
    assert run["rc"] == 0, run["stderr"]
    hv = hostvars(run["inventory"])
    assert set(hv) == {"rg-prod-kc_cvm-erp-01", "rg-prod-kc_cvm-erp-02", "rg-prod-kc_cvm-skip-01", "rg-prod-uae_cvm-pay-01",
                       "rg-prod-uae_cvm-pay-02"}
    assert hv["rg-prod-kc_cvm-erp-01"]["backup_vault"] == "rsv-prod-kc" and hv["rg-prod-kc_cvm-erp-02"]["backup_vault"] == "none"
    assert hv["rg-prod-uae_cvm-pay-01"]["ansible_connection"] == "local"
    assert hosts_of(run["inventory"], "hsm_keys") == {"rg-prod-uae_cvm-pay-01"}
    checks = {c["name"]: c for c in hv["rg-prod-kc_cvm-erp-01"]["checks"]}  # a protected VM: its vault and policy judged
    assert checks["policy"]["status"] == "pass" and "cvm-enhanced-daily" in checks["policy"]["message"]
    assert checks["vault_region"]["status"] == "pass" and checks["security_type"]["status"] == "pass"
    assert {c["name"]: c["status"] for c in hv["rg-prod-kc_cvm-erp-02"]["checks"]}["vault_region"] == "n/a"


def test_a_second_run_with_the_cache_makes_no_request(estate, tmp_path):
    config = {"subscriptions": [PROD_UAE], "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(tmp_path / "cache"), "cache_timeout": 3600}
    first = run_inventory(estate, config, tmp_path)
    assert first["rc"] == 0, first["stderr"]
    assert first["requests"]
    second = run_inventory(estate, config, tmp_path)
    assert second["rc"] == 0, second["stderr"]
    assert second["requests"] == []  # not even a sign-in
    assert hostvars(second["inventory"]) == hostvars(first["inventory"])
    flushed = run_inventory(estate, config, tmp_path, args=("--flush-cache",))
    assert flushed["rc"] == 0 and flushed["requests"]


def test_a_sign_in_failure_is_one_clear_error(estate):
    run = run_inventory(estate, AZURE_SECRET="wrong-Secret-for-this-test")
    assert run["rc"] != 0 and run["inventory"] is None
    assert "Azure sign-in failed while trying to list the subscriptions the credential can see" in run["stderr"]
    assert "Check the client secret" in run["stderr"]
    assert run["stderr"].count(f"Failed to parse inventory with 'auto' plugin: {PLUGIN}: ") == 1
    assert "get_token_info failed" not in run["stderr"]  # azure-identity's own log line is not printed beside it
    assert "Traceback" not in run["stderr"] and "wrong-Secret-for-this-test" not in run["stderr"]
    assert not [r for r in run["requests"] if r["host"] != SIGN_IN_HOST]  # nothing was read


def test_an_unknown_subscription_fails_the_inventory_instead_of_leaving_it_out(estate, tmp_path):
    missing = "55555555-eeee-4eee-8eee-000000000005"
    run = run_inventory(estate, {"subscriptions": [PROD_KC, missing]}, tmp_path)
    assert run["rc"] != 0 and run["inventory"] is None
    assert f"Could not list the VMs of subscription {missing}" in run["stderr"]
    assert "no such subscription, or the credential has no role on it" in run["stderr"]


def test_keyed_groups_made_without_templates_are_the_ones_ansible_makes(estate, tmp_path):
    """Plain-variable keys are grouped without Jinja2 (speed); the same keys as expressions go through ansible-core's
    Constructable: both must give the same groups, also for lists, dicts, separators and values ansible rejects."""
    plain = [{"key": "region", "prefix": "region"}, {"key": "verdict", "prefix": "", "separator": "-"},
             {"key": "vm_tags", "prefix": "tag"}, {"key": "blockers", "prefix": "b", "separator": "__"},
             {"key": "key_kind"}, {"key": "vault", "prefix": "v"}, {"key": "no_such_var", "prefix": "x"}]
    templated = [{**k, "key": f"{k['key']} | default(omit) if true else ''"} for k in plain]
    groups = {}
    for name, keyed in (("plain", plain), ("templated", templated)):
        run = run_inventory(estate, {"subscriptions": [PROD_KC, PROD_UAE], "keyed_groups": keyed}, tmp_path)
        assert run["rc"] == 0, run["stderr"]
        groups[name] = {g: sorted(v.get("hosts") or []) for g, v in run["inventory"].items() if g not in ("_meta", "all")}
    assert groups["plain"] == groups["templated"]
    assert "region_koreacentral" in groups["plain"] and "tag_app_erp" in groups["plain"] and "_ready" in groups["plain"]
