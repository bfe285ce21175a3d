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
RESTORE = os.path.join(REPO_ROOT, "playbooks", "restore_cvm.yml")
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


def play_command(playbook: str, extra: dict, limit: str = "", check: bool = False, inventory: str | list = CONFIG) -> list:
    sources = [inventory] if isinstance(inventory, str) else inventory
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *(a for src in sources for a in ("-i", src)),
           playbook, "-e", json.dumps(extra)]
    return cmd + (["--limit", limit] if limit else []) + (["--check"] if check else [])


def run_play(server, playbook: str, extra: dict, limit: str = "", check: bool = False, inventory: str | list = CONFIG) -> dict:
    """ansible-playbook -i <inventory> <playbook>: {rc, out, requests (this run's)}."""
    seen = server.requests()
    since = seen[-1]["seq"] if seen else 0
    proc = subprocess.run(play_command(playbook, extra, limit, check, inventory), env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"),
                          cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return {"rc": proc.returncode, "out": proc.stdout, "requests": server.requests(since)}


def run_slices_at_once(server, playbook: str, extra: dict, slices: list) -> tuple:
    """One ansible-playbook per slice (--limit), all started before any is waited for, as AWX runs a sliced job's
    jobs on several execution nodes; ([(rc, output)] per slice, the requests of all of them)."""
    seen = server.requests()
    since = seen[-1]["seq"] if seen else 0
    procs = [subprocess.Popen(play_command(playbook, extra, limit), env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"),
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for limit in slices]
    outputs = [(proc.returncode, out) for proc, out in ((proc, proc.communicate(timeout=900)[0]) for proc in procs)]
    return outputs, server.requests(since)


def awx_slices(hosts, count: int) -> list:
    """AWX job slicing: slice k of N gets every N-th host of the inventory, from the k-th."""
    ordered = sorted(hosts)
    return [",".join(ordered[k::count]) for k in range(count)]


def hsm_assignments(server, hsm: str) -> Counter:
    """(scope, principal) -> role assignments of the Backup Management Service in the Managed HSM's local RBAC (the
    local Azure's state; the operator's own administrator assignment at / is the scenario's, not the play's)."""
    held = server.sim.ext["keyvault"]["hsms"][hsm]["role_assignments"].values()
    return Counter((a["properties"]["scope"].lower(), a["properties"]["principalId"]) for a in held
                   if a["properties"]["principalId"] == BACKUP_MANAGEMENT_SERVICE)


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


def write_span(requests: list, subscription: str) -> tuple:
    """(first, last) sequence number of the run's writes to a subscription's ARM resources."""
    seqs = [r["seq"] for r in writes(requests) if subscription_of(r) == subscription]
    return min(seqs), max(seqs)


def test_the_subscriptions_are_protected_side_by_side_each_by_one_of_its_hosts(estate):
    """Each subscription's tasks run on one of its VM hosts (a carrier), the carriers at the same time (strategy free):
    the writes of the test subscription (feature, vault, policy, protection) and of PROD_UAE (key access, protection)
    overlap in time, where one after the other they would not."""
    run = run_play(estate, PROTECT, HOSTS_VARS)
    assert run["rc"] == 0, run["out"]
    test_first, test_last = write_span(run["requests"], TEST)
    uae_first, uae_last = write_span(run["requests"], PROD_UAE)
    assert test_first < uae_last and uae_first < test_last, (write_span(run["requests"], TEST), write_span(run["requests"], PROD_UAE))
    protect_play = run["out"].split("PLAY [Protect confidential VMs with Azure Backup - protect each subscription]", 1)[1]
    carriers = {line.split("[", 1)[1].split("]", 1)[0] for line in protect_play.split("PLAY [", 1)[0].splitlines()
                if line.startswith(("ok: [", "changed: ["))}
    assert len(carriers) == 3 and carriers <= ALL_HOSTS, carriers  # one host per subscription with a target


def test_a_preflight_that_fails_in_one_subscription_stops_every_subscription_before_any_write(estate):
    """The test subscription's vault cannot be read (403 on its GET in the preflight's vault check): its preflight
    fails, and the other subscriptions, whose preflight passed, write nothing either."""
    estate.set_faults({"rules": [{"kind": "error", "status": 403, "method": "^GET$",
                                  "path": f"^/subscriptions/{TEST}/resourceGroups/rg-test-kc/providers/Microsoft.RecoveryServices/vaults/rsv-test-kc(\\?|$)"}]})
    run = run_play(estate, PROTECT, HOSTS_VARS)
    assert run["rc"] != 0, run["out"]
    assert writes(run["requests"]) == []
    assert f"the preflight failed for subscription(s) {TEST}" in run["out"]
    assert run["out"].count("PLAY [Protect confidential VMs with Azure Backup - protect each subscription]") == 1


def test_a_subscription_that_fails_while_protecting_leaves_the_others_protected_and_is_named_in_the_report(estate, tmp_path):
    """The test subscription's new vault is refused (403 on its PUT): that subscription fails, the two production
    subscriptions are protected as if alone, and the combined report names the failed one; the job fails."""
    report_json = tmp_path / "p.json"
    estate.set_faults({"rules": [{"kind": "error", "status": 403, "method": "^PUT$",
                                  "path": f"^/subscriptions/{TEST}/resourceGroups/rg-test-kc/providers/Microsoft.RecoveryServices/vaults/rsv-test-kc(\\?|$)"}]})
    run = run_play(estate, PROTECT, {**HOSTS_VARS, "cvm_report_json": str(report_json)})
    assert run["rc"] != 0, run["out"]
    assert set(protected_puts(run["requests"])) == TO_PROTECT - {"cvm-test-01"}
    per = {s["subscription_id"]: s for s in json.loads(report_json.read_text())["per_subscription"]}
    assert per[TEST]["failed"] is True and per[TEST]["note"].startswith("failed")
    assert per[PROD_KC]["protected"] == 2 and per[PROD_UAE]["protected"] == 3
    assert "failed" not in per[PROD_KC]


def test_limit_to_one_region_protects_only_its_vms_and_writes_nowhere_else(estate):
    """--limit region_uaenorth, and cvm-pay-02 left out by the play's exclude list: it and its key are never written to.
    The same run passes prerequisites_force_provider_registration through the prerequisites role: the feature is
    Registered in PROD_UAE already, so the only register call is the provider's, forced."""
    run = run_play(estate, PROTECT, {**HOSTS_VARS, "cvm_exclude_names": ["rg-prod-uae/cvm-pay-02"],
                                     "prerequisites_force_provider_registration": True}, limit="region_uaenorth")
    assert run["rc"] == 0, run["out"]
    registers = [r["path"].split("?")[0] for r in writes(run["requests"]) if r["path"].split("?")[0].endswith("/register")]
    assert registers == [f"/subscriptions/{PROD_UAE}/providers/Microsoft.Compute/register"]
    assert set(protected_puts(run["requests"])) == {"cvm-pay-03"}  # cvm-pay-01 was protected already
    elsewhere = [r for r in writes(run["requests"]) if subscription_of(r) not in (PROD_UAE, "hsm-prod-uae.managedhsm.azure.net")]
    assert elsewhere == []
    # cvm-pay-02's key (busy-cmk in kv-prod-uae) gets no access policy: the only key written to is the HSM's
    assert not [r for r in writes(run["requests"]) if "cvm-pay-02" in r["path"] or "kv-prod-uae" in r["path"]]
    assert [r for r in writes(run["requests"]) if r["host"] == "hsm-prod-uae.managedhsm.azure.net"]
    assert protection_calls(run["out"]) == [("uaenorth", {"cvm-pay-01", "cvm-pay-03"})]
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


def test_three_job_slices_at_once_protect_every_ready_vm_once_and_a_rerun_writes_nothing(estate):
    """Three AWX-style slices of all hosts, run at the same time: each protects exactly its ready hosts (in one call
    per vault), together every ready VM once; every key has one access entry / role assignment for the Backup
    Management Service; a re-run writes nothing."""
    runs, requests = run_slices_at_once(estate, PROTECT, HOSTS_VARS, awx_slices(ALL_HOSTS, 3))
    for (rc, out), limit in zip(runs, awx_slices(ALL_HOSTS, 3)):
        assert rc == 0, out
        assert set().union(*(names for _region, names in protection_calls(out))) <= set(limit.split(","))
    assert protected_puts(requests) == Counter({vm: 1 for vm in TO_PROTECT})
    # one role assignment on the Managed HSM key, one access policy entry in each Key Vault
    assert hsm_assignments(estate, "hsm-prod-uae") == Counter({("/keys/prod-hsm-key", BACKUP_MANAGEMENT_SERVICE): 1})
    for key_vault in estate.sim.store.find(lambda r: r.get("type") == "Microsoft.KeyVault/vaults"):
        entries = [p for p in key_vault["properties"]["accessPolicies"] if p["objectId"] == BACKUP_MANAGEMENT_SERVICE]
        assert len(entries) == 1, key_vault["name"]
    again = run_play(estate, PROTECT, HOSTS_VARS)
    assert again["rc"] == 0, again["out"]
    assert writes(again["requests"]) == []


def test_three_slices_at_once_race_to_create_the_vaults_and_policies_and_converge(sim_server_factory):
    """A fleet whose vaults and policy do not exist yet (cvm_vaults names new ones), every 2nd VM on a key in its
    region's Managed HSM: three slices run at the same time and each may find the vault, policy, custom role and role
    assignment missing. Whatever the order, the local Azure ends with one vault per region, one policy in each, one
    custom role and one role assignment per key, and one protection write per VM."""
    fleet = sim_server_factory("fleet", vms=9, resource_groups=3, cmk_every=2)
    # the vault and policy writes answer late, so that the slices overlap on them
    fleet.set_faults({"rules": [{"kind": "latency", "method": "^PUT$", "path": "rsv-new-|roleAssignments|roleDefinitions",
                                 "latency_ms": 1500}]})
    regions = ("koreacentral", "uaenorth")
    extra = {"cvm_hosts": "all", "cvm_key_propagation_seconds": 0,
             "cvm_vaults": {r: {"name": f"rsv-new-{r}", "resource_group": "rg-fleet-backup"} for r in regions}}
    hosts = {f"cvm-{n:04d}" for n in range(1, 10)}
    runs, requests = run_slices_at_once(fleet, PROTECT, extra, awx_slices(hosts, 3))
    assert all(rc == 0 for rc, _out in runs), [out for rc, out in runs if rc]
    assert protected_puts(requests) == Counter({vm: 1 for vm in hosts})
    store = fleet.sim.store
    vaults = store.find(lambda r: r.get("type") == "Microsoft.RecoveryServices/vaults" and r["name"].startswith("rsv-new-"))
    assert sorted(v["location"] for v in vaults) == sorted(regions)
    for vault in vaults:
        policies = store.find(lambda r, v=vault: r.get("type", "").endswith("/backupPolicies") and r["id"].lower().startswith(v["id"].lower() + "/"))
        assert [p["name"] for p in policies if p["name"] != "DefaultPolicy"] == ["cvm-enhanced-daily"]  # Azure makes DefaultPolicy
        items = store.find(lambda r, v=vault: r.get("type", "").endswith("/protectedItems") and r["id"].lower().startswith(v["id"].lower() + "/"))
        assert all(i["properties"]["policyId"].lower().endswith("/cvm-enhanced-daily") for i in items) and items
    for region in regions:
        held = fleet.sim.ext["keyvault"]["hsms"][f"hsm-fleet-{region}"]
        assert hsm_assignments(fleet, f"hsm-fleet-{region}") == Counter({("/keys/fleet-key", BACKUP_MANAGEMENT_SERVICE): 1})
        assert [d["properties"]["roleName"] for d in held["role_definitions"].values()
                if d["properties"]["type"] == "CustomRole"] == ["Azure Backup Key Reader"]
    # at most one creating write per slice for each shared object
    shared = Counter(r["path"].split("?")[0].lower() for r in writes(requests)
                     if r["method"] == "PUT" and ("/backuppolicies/" in r["path"].lower() or r["path"].lower().endswith(tuple(
                         f"/vaults/rsv-new-{region}" for region in regions)) or "/role" in r["path"].lower()))
    assert shared and max(shared.values()) <= 3, shared


def test_readiness_report_over_the_inventory_hosts_of_a_limit(estate, tmp_path):
    report = tmp_path / "r.json"
    extra = {"cvm_hosts": "all", "cvm_report_json": str(report), "cvm_exclude_tags": {"ENVIRONMENT": "test"}}
    run = run_play(estate, REPORT, extra, limit="verdict_not_ready")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    data = json.loads(report.read_text())
    # cvm-test-01 and cvm-test-02 (tag environment=test) are left out by the play's tag filter
    assert {vm["name"] for vm in data["vms"]} == {"cvm-old-01", "cvm-eu-01"}
    assert sorted(data["subscriptions"]) == sorted([PROD_KC, PROD_UAE, TEST])


def read_span(requests: list, subscription: str) -> tuple:
    """(first, last) sequence number of the run's ARM reads in a subscription."""
    seqs = [r["seq"] for r in requests if r["method"] == "GET" and subscription_of(r) == subscription]
    return min(seqs), max(seqs)


def test_readiness_report_reads_the_subscriptions_side_by_side_and_names_one_that_fails(estate, tmp_path):
    """Over inventory hosts, each subscription is read by one of its hosts, the carriers at the same time (strategy
    free): the reads of the two production subscriptions overlap. The connection of the test subscription's VM list per
    resource group (the readiness read; the inventory lists per subscription) drops every time: its carrier fails, the
    others are reported as if alone, the combined report marks it failed, and the job fails."""
    report = tmp_path / "r.json"
    estate.set_faults({"rules": [{"kind": "drop", "method": "^GET$",
                                  "path": f"^/subscriptions/{TEST}/resourceGroups/[^/]+/providers/Microsoft.Compute/virtualMachines"}]})
    run = run_play(estate, REPORT, {"cvm_hosts": "all", "cvm_report_json": str(report)})
    assert run["rc"] != 0, run["out"]
    assert writes(run["requests"]) == []
    kc_first, kc_last = read_span(run["requests"], PROD_KC)
    uae_first, uae_last = read_span(run["requests"], PROD_UAE)
    assert kc_first < uae_last and uae_first < kc_last, (read_span(run["requests"], PROD_KC), read_span(run["requests"], PROD_UAE))
    data = json.loads(report.read_text())
    per = {s["subscription_id"]: s for s in data["per_subscription"]}
    assert per[TEST]["failed"] is True and per[TEST]["note"].startswith("failed")
    assert "failed" not in per[PROD_KC] and "failed" not in per[PROD_UAE]
    assert per[PROD_UAE]["ready"] == 3 and {vm["name"] for vm in data["vms"]} >= UAE_HOSTS
    assert not {vm["name"] for vm in data["vms"]} & {"cvm-test-01", "cvm-test-02"}


def test_hosts_that_are_not_inventory_vms_are_refused_before_any_call(estate, tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("web-01 ansible_connection=local\n")
    run = run_play(estate, PROTECT, {"cvm_hosts": "all"}, inventory=str(inventory))
    assert run["rc"] != 0
    assert "The play's hosts are localhost or VMs of the azure_cvm.backup.confidential_vms inventory (got web-01)" in run["out"]
    assert [r for r in run["requests"] if r["host"] != SIGN_IN_HOST] == []
    # beside the plugin's hosts in one inventory, a host of another source is refused too (named alone, not the VMs)
    mixed = run_play(estate, PROTECT, {**HOSTS_VARS, "cvm_hosts": "all"}, limit="web-01,cvm-erp-02", check=True,
                     inventory=[CONFIG, str(inventory)])
    assert mixed["rc"] != 0
    assert "The play's hosts are localhost or VMs of the azure_cvm.backup.confidential_vms inventory (got web-01)" in mixed["out"]
    assert writes(mixed["requests"]) == [] and not [r for r in mixed["requests"] if "/protectedItems" in r["path"].split("?")[0]]


# ---- item 3: several subscriptions, one combined report


def test_readiness_report_of_four_subscriptions_one_combined_report_in_check_mode(estate, tmp_path):
    report_json, report_md = tmp_path / "r.json", tmp_path / "r.md"
    extra = {"cvm_subscriptions": [PROD_KC, PROD_UAE, TEST, DISABLED], "cvm_report_json": str(report_json),
             "cvm_report_markdown": str(report_md), "cvm_exclude_names": ["std-*"], "cvm_include_tags": {"environment": None}}
    run = run_play(estate, REPORT, extra, check=True, inventory="localhost,")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    data = json.loads(report_json.read_text())
    assert data["subscriptions"] == [PROD_KC, PROD_UAE, TEST, DISABLED] and data["check_mode"] is True
    per = {s["subscription_id"]: s for s in data["per_subscription"]}
    # every VM of each subscription but std-jump-01 (cvm_exclude_names) and cvm-pay-03 (its tag is `Environment`:
    # tag names compare without case, so it stays): cvm-skip-01 and the Trusted launch VM too
    assert per[PROD_KC]["summary"]["total"] == 5 and per[PROD_KC]["summary"]["not_applicable"] == 1
    assert per[PROD_UAE]["summary"]["total"] == 4 and per[PROD_UAE]["ready"] == 3 and per[PROD_UAE]["not_ready"] == 1
    assert per[TEST]["summary"]["total"] == 2 and per[TEST]["prerequisites_failed"] == ["restore_point_feature"]
    assert per[DISABLED]["summary"]["total"] == 0 and per[DISABLED]["ready"] == 0
    assert data["summary"]["total"] == 11 == len(data["vms"]) and "std-jump-01" not in run["out"]
    assert data["summary"]["ready"] + data["summary"]["ready_with_warnings"] == sum(s["ready"] for s in per.values())
    feature = [p for p in data["prerequisites"] if p["name"] == "restore_point_feature" and p["status"] == "fail"]
    assert {p["subscription_id"] for p in feature} >= {TEST}
    markdown = report_md.read_text()
    assert "## Subscriptions" in markdown and f"| {DISABLED} | 0 |" in markdown and f"| {PROD_KC} | 5 |" in markdown


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


def test_protect_plan_over_all_visible_subscriptions_one_combined_report(estate, tmp_path):
    """cvm_subscriptions=all: the subscriptions the credential sees (Subscriptions - List), the disabled one left out."""
    report_json = tmp_path / "p.json"
    extra = {**{k: v for k, v in HOSTS_VARS.items() if k != "cvm_hosts"}, "cvm_subscriptions": "all", "cvm_fail_when": "never",
             "cvm_report_json": str(report_json)}
    run = run_play(estate, PROTECT, extra, check=True, inventory="localhost,")
    assert run["rc"] == 0, run["out"]
    assert writes(run["requests"]) == []
    assert len([r for r in run["requests"] if r["path"].split("?")[0] == "/subscriptions"]) == 1
    data = json.loads(report_json.read_text())
    assert sorted(data["subscriptions"]) == sorted([PROD_KC, PROD_UAE, TEST])
    per = {s["subscription_id"]: s for s in data["per_subscription"]}
    assert per[PROD_KC]["protected"] == 3 and per[PROD_UAE]["protected"] == 2 and per[TEST]["protected"] == 1
    assert not any(DISABLED in r["path"] for r in run["requests"])


# ---- the restore playbook over inventory hosts


def test_restore_over_inventory_hosts_restores_each_selected_host_from_its_own_vault(estate):
    """--limit protection_Protected: cvm-erp-01 (rsv-prod-kc) and cvm-pay-01 (rsv-prod-uae), each restored once from
    its own vault with the staging account of its region; nothing else is written."""
    extra = {"cvm_hosts": "all", "cvm_staging_storage_account": {"koreacentral": "stestaterestorekc", "uaenorth": "stestaterestoreuae"}}
    run = run_play(estate, RESTORE, extra, limit="protection_Protected")
    assert run["rc"] == 0, run["out"]
    restores = [r["path"].split("?")[0] for r in writes(run["requests"]) if r["path"].split("?")[0].endswith("/restore")]
    assert sorted(p.split("/vaults/", 1)[1].split("/", 1)[0] + ":" + p.rsplit(";", 1)[1].split("/", 1)[0] for p in restores) == [
        "rsv-prod-kc:cvm-erp-01", "rsv-prod-uae:cvm-pay-01"]
    assert [r for r in writes(run["requests"]) if not r["path"].split("?")[0].endswith("/restore")] == []
    # a host that is not protected is refused before the play's first call (the requests are the inventory's lists)
    refused = run_play(estate, RESTORE, extra, limit="cvm-erp-02", check=True)
    assert refused["rc"] != 0 and "not protected: cvm-erp-02" in refused["out"]
    assert writes(refused["requests"]) == [] and not [r for r in refused["requests"] if "recoveryPoints" in r["path"]]


# ---- the modules behind them, in process (cheap)


def test_readiness_info_leaves_out_what_the_filters_exclude_before_any_check(estate):
    from tests.modules.test_hostile_input import run_in_process
    args = {"resource_groups": ["rg-prod-kc"], "subscription_id": PROD_KC, "exclude_tags": {"BACKUP": "skip"},
            "include_tags": {"environment": "production"}, "exclude_names": ["tl-*"],
            "exclude_ids": [f"/subscriptions/{PROD_KC}/resourceGroups/rg-prod-kc/providers/Microsoft.Compute/virtualMachines/cvm-erp-02"]}
    entry = run_in_process(estate, "cvm_readiness_info", args)
    assert entry["status"] == "ok", entry["result"]
    result = entry["result"]
    assert sorted(vm["name"] for vm in result["vms"]) == ["cvm-erp-01", "cvm-old-01", "std-jump-01"]
    assert {e["name"]: e["reason"] for e in result["excluded"]} == {
        "cvm-erp-02": "its id is in exclude_ids", "cvm-skip-01": "tag BACKUP matches exclude_tags",
        "tl-web-01": "it matches exclude_names tl-*"}
    # cvm-erp-02's disk encryption set (its key) is never read: the only VM on a CMK is left out
    assert not [r for r in entry["requests"] if "diskEncryptionSets" in r["path"] or "vault.azure.net" in r["host"]]


def test_subscription_info_lists_the_usable_subscriptions_and_names_the_others(estate):
    from tests.modules.test_hostile_input import run_in_process
    usable = run_in_process(estate, "subscription_info", {})["result"]
    assert [s["subscription_id"] for s in usable["subscriptions"]] == [PROD_KC, PROD_UAE, TEST]
    assert usable["left_out"] == [DISABLED] and usable["changed"] is False
    every = run_in_process(estate, "subscription_info", {"include_unusable": True})
    assert [(s["subscription_id"], s["usable"]) for s in every["result"]["subscriptions"]][-1] == (DISABLED, False)
    assert [r["path"].split("?")[0] for r in every["requests"] if r["host"] == "management.azure.com"] == ["/subscriptions"]
