"""Issue 19 items 2 and 3: protect_cvm.yml and readiness_report.yml over the hosts of the inventory plugin
(inventory/confidential_vms.yml against the local Azure's estate, tests/azure_sim/scenarios/estate.yml) and over
several subscriptions with one combined report. The work is batched on the controller: one cvm_protection call per
vault, key access once per key, the preview feature once per subscription; --limit and AWX-style job slices protect
exactly their hosts; a re-run writes nothing; a disabled subscription is reported, not a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env, writes

PROD_KC = "11111111-aaaa-4aaa-8aaa-000000000001"
PROD_UAE = "22222222-bbbb-4bbb-8bbb-000000000002"
TEST = "33333333-cccc-4ccc-8ccc-000000000003"
DISABLED = "44444444-dddd-4ddd-8ddd-000000000004"
CONFIG = os.path.join(REPO_ROOT, "inventory", "confidential_vms.yml")
PROTECT = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
REPORT = os.path.join(REPO_ROOT, "playbooks", "readiness_report.yml")
BACKUP_MANAGEMENT_SERVICE = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"  # the estate's ansible-ops may not read Graph
# Over inventory hosts; the test subscription has no vault: one is named for its Korea Central region only.
HOSTS_VARS = {"cvm_hosts": "all", "cvm_key_propagation_seconds": 0, "cvm_key_principal_id": BACKUP_MANAGEMENT_SERVICE,
              "cvm_vaults": {f"{TEST}/koreacentral": {"name": "rsv-test-kc", "resource_group": "rg-test-kc"}}}
# The inventory's hosts (cvm-skip-01 is tagged backup=skip) by region
KC_HOSTS = {"cvm-erp-01", "cvm-erp-02", "cvm-old-01", "cvm-test-01", "cvm-test-02"}
UAE_HOSTS = {"cvm-pay-01", "cvm-pay-02", "cvm-pay-03"}
ALL_HOSTS = KC_HOSTS | UAE_HOSTS | {"cvm-eu-01"}
# Ready and not protected yet: cvm-test-01 once the play registers the feature in the test subscription,
# cvm-pay-03 is ProtectionStopped (protection resumed)
TO_PROTECT = {"cvm-erp-02", "cvm-pay-02", "cvm-pay-03", "cvm-test-01"}


@pytest.fixture
def estate(sim_server_factory):
    return sim_server_factory("estate")


def run_play(server, playbook: str, extra: dict, limit: str = "", check: bool = False, inventory: str = CONFIG) -> dict:
    """ansible-playbook -i <inventory> <playbook>: {rc, out, requests (this run's)}."""
    seen = server.requests()
    since = seen[-1]["seq"] if seen else 0
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook, "-e", json.dumps(extra)]
    cmd += (["--limit", limit] if limit else []) + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return {"rc": proc.returncode, "out": proc.stdout, "requests": server.requests(since)}


def protected_puts(requests: list) -> Counter:
    """VM name -> PUTs of its protected item."""
    return Counter(r["path"].split("?")[0].rsplit(";", 1)[-1] for r in writes(requests)
                   if r["method"] == "PUT" and "/protectedItems/" in r["path"])


PROTECT_TASK = "TASK [azure_cvm.backup.protect : Protect the target VMs of each region, one fleet call per vault]"


def protection_calls(out: str) -> list:
    """The cvm_protection calls of a run, from its output: one loop item per vault, labelled `<region>: <VMs>`;
    [(region, {VM names})]."""
    calls = []
    for block in out.split(PROTECT_TASK)[1:]:
        for line in block.split("\nTASK [", 1)[0].splitlines():
            if "(item=" in line:
                label = line.split("(item=", 1)[1].rsplit(")", 1)[0]
                region, names = label.split(": ", 1)
                calls.append((region, set(names.split(", "))))
    return calls


def subscription_of(request: dict) -> str:
    path = request["path"].lower()
    return path.split("/subscriptions/", 1)[1].split("/", 1)[0] if path.startswith("/subscriptions/") else request["host"]


def test_every_host_one_protection_call_per_vault_then_a_rerun_writes_nothing(estate):
    run = run_play(estate, PROTECT, HOSTS_VARS)
    assert run["rc"] == 0, run["out"]
    assert set(protected_puts(run["requests"])) == TO_PROTECT
    assert max(protected_puts(run["requests"]).values()) == 1
    # one cvm_protection call per vault (a subscription's region), with every ready host of it, never one per VM
    assert sorted(protection_calls(run["out"]), key=str) == sorted([
        ("koreacentral", {"cvm-erp-01", "cvm-erp-02"}), ("uaenorth", {"cvm-pay-01", "cvm-pay-02", "cvm-pay-03"}),
        ("koreacentral", {"cvm-test-01"})], key=str)
    # the preview feature registered once, in the only subscription without it
    registers = [r for r in writes(run["requests"]) if r["path"].split("?")[0].endswith("/register")]
    assert {subscription_of(r) for r in registers} == {TEST}
    assert len([r for r in registers if "/features/" in r["path"]]) == 1
    # key access once per customer-managed key: the two Key Vault keys and the Managed HSM key
    key_writes = [r for r in writes(run["requests"]) if "accessPolicies" in r["path"] or "roleAssignments" in r["path"]]
    assert len(key_writes) == 3, key_writes
    assert "cvm-old-01" in run["out"] and "cvm-eu-01" in run["out"]  # left out, named
    assert not any(DISABLED in r["path"] for r in run["requests"])

    again = run_play(estate, PROTECT, HOSTS_VARS)
    assert again["rc"] == 0, again["out"]
    assert writes(again["requests"]) == []


def test_limit_to_one_region_protects_only_its_vms_and_writes_nowhere_else(estate):
    run = run_play(estate, PROTECT, HOSTS_VARS, limit="region_uaenorth")
    assert run["rc"] == 0, run["out"]
    assert set(protected_puts(run["requests"])) == UAE_HOSTS - {"cvm-pay-01"}  # cvm-pay-01 was protected already
    assert writes(run["requests"])
    elsewhere = [r for r in writes(run["requests"]) if subscription_of(r) not in (PROD_UAE, "hsm-prod-uae.managedhsm.azure.net")]
    assert elsewhere == []
    assert protection_calls(run["out"]) == [("uaenorth", {"cvm-pay-01", "cvm-pay-02", "cvm-pay-03"})]
    assert "cvm-erp-02" not in run["out"].split("PLAY [", 1)[1]


def test_two_job_slices_protect_everything_once_and_a_rerun_writes_nothing(estate):
    """AWX job slicing gives each slice job every N-th host of the inventory; two slices over all hosts, one after
    the other, share the vaults (each slice's hosts of a vault in one call), protect every ready VM exactly once."""
    hosts = sorted(ALL_HOSTS)
    slices = [",".join(hosts[0::2]), ",".join(hosts[1::2])]
    puts = Counter()
    for limit in slices:
        run = run_play(estate, PROTECT, HOSTS_VARS, limit=limit)
        assert run["rc"] == 0, run["out"]
        puts += protected_puts(run["requests"])
        in_slice = set(limit.split(","))
        assert set(protected_puts(run["requests"])) == TO_PROTECT & in_slice
        assert set().union(*(names for _region, names in protection_calls(run["out"]))) <= in_slice
    assert puts == Counter({vm: 1 for vm in TO_PROTECT})
    again = run_play(estate, PROTECT, HOSTS_VARS)
    assert again["rc"] == 0, again["out"]
    assert writes(again["requests"]) == []


def test_readiness_report_over_the_inventory_hosts_of_a_limit(estate, tmp_path):
    report = tmp_path / "r.json"
    run = run_play(estate, REPORT, {"cvm_hosts": "all", "cvm_report_json": str(report)}, limit="verdict_not_ready")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    data = json.loads(report.read_text())
    assert {vm["name"] for vm in data["vms"]} == {"cvm-old-01", "cvm-eu-01", "cvm-test-01", "cvm-test-02"}
    assert sorted(data["subscriptions"]) == sorted([PROD_KC, PROD_UAE, TEST])


def test_hosts_that_are_not_inventory_vms_are_refused_before_any_call(estate, tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("web-01 ansible_connection=local\n")
    run = run_play(estate, PROTECT, {"cvm_hosts": "all"}, inventory=str(inventory))
    assert run["rc"] != 0
    assert "The play's hosts are localhost or VMs of the azure_cvm.backup.confidential_vms inventory (got web-01)" in run["out"]
    assert [r for r in run["requests"] if r["host"] != SIGN_IN_HOST] == []


# ---- item 3: several subscriptions, one combined report


def test_readiness_report_of_four_subscriptions_one_combined_report_in_check_mode(estate, tmp_path):
    report_json, report_md = tmp_path / "r.json", tmp_path / "r.md"
    extra = {"cvm_subscriptions": [PROD_KC, PROD_UAE, TEST, DISABLED], "cvm_report_json": str(report_json),
             "cvm_report_markdown": str(report_md)}
    run = run_play(estate, REPORT, extra, check=True, inventory="localhost,")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    data = json.loads(report_json.read_text())
    assert data["subscriptions"] == [PROD_KC, PROD_UAE, TEST, DISABLED] and data["check_mode"] is True
    per = {s["subscription_id"]: s for s in data["per_subscription"]}
    # every VM of each subscription (the playbook has no tag filter: cvm-skip-01, the Trusted launch and standard VMs)
    assert per[PROD_KC]["summary"]["total"] == 6 and per[PROD_KC]["summary"]["not_applicable"] == 2
    assert per[PROD_UAE]["summary"]["total"] == 4 and per[PROD_UAE]["ready"] == 3 and per[PROD_UAE]["not_ready"] == 1
    assert per[TEST]["summary"]["total"] == 2 and per[TEST]["prerequisites_failed"] == ["restore_point_feature"]
    assert per[DISABLED]["summary"]["total"] == 0 and per[DISABLED]["ready"] == 0
    assert data["summary"]["total"] == 12 == len(data["vms"])
    assert data["summary"]["ready"] + data["summary"]["ready_with_warnings"] == sum(s["ready"] for s in per.values())
    feature = [p for p in data["prerequisites"] if p["name"] == "restore_point_feature" and p["status"] == "fail"]
    assert {p["subscription_id"] for p in feature} >= {TEST}
    markdown = report_md.read_text()
    assert "## Subscriptions" in markdown and f"| {DISABLED} | 0 |" in markdown and f"| {PROD_KC} | 6 |" in markdown


def test_protect_plan_over_three_subscriptions_writes_nothing_and_reports_each(estate, tmp_path):
    report_json = tmp_path / "p.json"
    extra = {"cvm_subscriptions": f"{PROD_KC},{PROD_UAE},{DISABLED}", "cvm_key_propagation_seconds": 0,
             "cvm_key_principal_id": BACKUP_MANAGEMENT_SERVICE, "cvm_fail_when": "never",
             "cvm_report_json": str(report_json)}
    run = run_play(estate, PROTECT, extra, check=True, inventory="localhost,")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    data = json.loads(report_json.read_text())
    assert data["subscriptions"] == [PROD_KC, PROD_UAE, DISABLED]
    per = {s["subscription_id"]: s for s in data["per_subscription"]}
    # the plan: every ready VM protected (cvm-skip-01 too: no tag filter without the inventory), except cvm-pay-03 whose
    # plan still shows ProtectionStopped in check mode
    assert per[PROD_KC]["protected"] == 3 and per[PROD_UAE]["protected"] == 2
    assert per[DISABLED]["protected"] == 0 and "nothing was changed" in per[DISABLED]["note"]
    # the disabled subscription has no target VM: no vault, feature or key request beyond the preflight's reads
    assert not [r for r in run["requests"] if DISABLED in r["path"] and "vaults" in r["path"]]
