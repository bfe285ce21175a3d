"""The restore drill (roles/restore_drill, playbooks/restore_drill.yml) and its module drill_resources through the local
Azure: a drill restores, verifies, cleans up what it created (and nothing else) and writes its reports; a re-run with
the same drill id restores nothing again; check mode writes nothing and shows the plan; a failed restore is reported
with the documented key-loss recovery steps and fails the play at the end."""

from __future__ import annotations

import json


from ansible_collections.azure_cvm.backup.plugins.filter.drill_report import drill_pick, drill_verify
from tests.azure_sim import compute as sim_compute
from tests.azure_sim import recoveryservices as sim_rs
from tests.modules.test_cvm_restore import DES_ORIGINAL, SUB, add_replacement_des, foreign_disk_during_restore, protect_and_backup
from tests.sim_helpers import run_module, run_playbook, writes

MODULE = "drill_resources"
DRILL_RG = "rg-cvm-drill-koreacentral"
TAG = "azure_cvm_drill_id"


def rg_path(rg: str = DRILL_RG) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}"


def drill_owned(server, drill_id: str) -> list:
    return sorted(r["id"] for r in server.sim.store.find(lambda r: (r.get("tags") or {}).get(TAG) == drill_id))


def snapshot_ids(server) -> set:
    return {r["id"].lower() for r in server.sim.store.find(lambda r: True)}


def test_module_tags_and_deletes_only_its_own(azure_sim):
    sim = azure_sim.sim
    args = {"resource_group": DRILL_RG, "location": "koreacentral", "drill_id": "d1"}
    made = run_module(azure_sim, MODULE, args)
    assert made["changed"] and made["created"], made
    assert sim.store.get(rg_path())["tags"] == {TAG: "d1"}
    with sim.lock:
        mine = sim_compute.make_disk(sim, SUB, DRILL_RG, "mine", "koreacentral", os_type="Windows",
                                     security_type="ConfidentialVM_DiskEncryptedWithPlatformKey")
        other = sim_compute.make_disk(sim, SUB, DRILL_RG, "other", "koreacentral")
        other["tags"] = {TAG: "d2"}
        sim_compute.make_disk(sim, SUB, DRILL_RG, "untagged", "koreacentral")
    tagged = run_module(azure_sim, MODULE, {**args, "resources": [mine["id"]]})
    assert tagged["changed"] and tagged["tagged"] == [mine["id"]], tagged
    assert [d["name"] for d in tagged["disks"]] == ["mine"] and tagged["disks"][0]["confidential"]
    again = run_module(azure_sim, MODULE, {**args, "resources": [mine["id"]]})
    assert not again["changed"], again
    seq = azure_sim.requests()[-1]["seq"]
    plan = run_module(azure_sim, MODULE, {**args, "state": "absent"}, check=True, diff=True)
    assert plan["changed"] and plan["deleted"] == [mine["id"]] and len(plan["kept"]) == 2, plan
    assert writes(azure_sim.requests(seq)) == []
    gone = run_module(azure_sim, MODULE, {**args, "state": "absent"})
    assert gone["changed"] and gone["deleted"] == [mine["id"]], gone
    assert sim.store.get(mine["id"]) is None and sim.store.get(other["id"]) is not None
    assert sim.store.get(rg_path()) is not None  # not empty: the group stays
    seq = azure_sim.requests()[-1]["seq"]
    second = run_module(azure_sim, MODULE, {**args, "state": "absent"})
    assert not second["changed"] and writes(azure_sim.requests(seq)) == [], second


VAULT = {"name": "rsv-cvm-kc", "resource_group": "rg-backup"}


def drill_vars(tmp_path, **extra) -> dict:
    return {"drill_id": "drill-w49", "drill_vault": VAULT, "drill_vms": ["rg-cvm-kc/cvm-kv-01"],
            "drill_staging_storage_accounts": {"koreacentral": "stcvmrestorekc"}, "drill_report_dir": str(tmp_path), **extra}


def report(tmp_path, drill_id: str = "drill-w49") -> dict:
    return json.loads((tmp_path / f"drill-{drill_id}.json").read_text(encoding="utf-8"))


DRILL = "playbooks/restore_drill.yml"
MANAGED = ("microsoft.compute/disks", "microsoft.compute/virtualmachines", "microsoft.network/networkinterfaces",
           "microsoft.resources/resourcegroups")


def managed_ids(server) -> set:
    """The ids of every disk, VM, network interface and resource group of the local Azure."""
    return {r["id"].lower() for r in server.sim.store.find(lambda r: str(r.get("type", "")).lower() in MANAGED)}


def restore_posts(requests: list) -> list:
    return [r for r in writes(requests) if r["method"] == "POST" and r["path"].split("?")[0].endswith("/restore")]


def seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def test_drill_restores_verifies_cleans_up_and_reports(azure_sim, tmp_path):
    protect_and_backup(azure_sim)
    before = managed_ids(azure_sim)
    start = seq(azure_sim)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path))
    assert rc == 0, out
    assert len(restore_posts(azure_sim.requests(start))) == 1
    assert managed_ids(azure_sim) == before  # every disk, NIC, VM and group the drill made is gone, nothing else
    assert drill_owned(azure_sim, "drill-w49") == []
    got = report(tmp_path)
    assert got["schema_version"] == 1 and got["drill_id"] == "drill-w49" and not got["check_mode"]
    assert got["summary"] == {"total": 1, "passed": 1, "failed": 0, "planned": 0, "done_earlier": 0, "rto_missed": 0}
    vm = got["vms"][0]
    assert vm["vm"] == "rg-cvm-kc/cvm-kv-01" and vm["status"] == "passed" and vm["verified"] is True
    assert vm["resource_group"] == DRILL_RG and vm["region"] == "koreacentral" and vm["restore_type"] == "restore_disks"
    assert vm["job"]["status"] == "Completed" and vm["rto_met"] is True and isinstance(vm["minutes"], float)
    assert vm["expected_disk_encryption_set"].lower() == DES_ORIGINAL.lower()
    os_disk = next(d for d in vm["disks"] if d["os_type"])
    assert os_disk["security_type"] == "ConfidentialVM_DiskEncryptedWithCustomerKey" and os_disk["confidential"]
    assert os_disk["disk_encryption_set_id"].lower() == DES_ORIGINAL.lower() and os_disk["tags"] == {TAG: "drill-w49"}
    assert len(vm["disks"]) == 2 and vm["problems"] == [] and vm["recovery_steps"] == []
    data_disk = next(d for d in vm["disks"] if not d["os_type"])  # the data disk is checked against the VM's data disk
    assert [d.lower() for d in vm["expected_data_disk_encryption_sets"]] == [DES_ORIGINAL.lower()]
    assert data_disk["disk_encryption_set_id"].lower() == DES_ORIGINAL.lower()
    cleanup = got["cleanup"][0]
    assert cleanup["resource_group"] == DRILL_RG and len(cleanup["deleted"]) == 3 and cleanup["kept"] == []
    assert cleanup["deleted"][-1].lower() == rg_path().lower()  # the group last, it was the drill's
    markdown = (tmp_path / "drill-drill-w49.md").read_text(encoding="utf-8")
    assert "| rg-cvm-kc/cvm-kv-01 | koreacentral | passed |" in markdown
    page = (tmp_path / "drill-drill-w49.html").read_text(encoding="utf-8")
    assert '<tr class="vm passed" data-verdict="passed"' in page and page.count("<script") == 1 and "<script src" not in page
    assert "http" not in page.split("</style>")[0]


def test_rerun_with_the_same_drill_id_restores_nothing_again(azure_sim, tmp_path):
    protect_and_backup(azure_sim)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path, drill_cleanup=False))
    assert rc == 0, out
    kept = drill_owned(azure_sim, "drill-w49")
    assert len(kept) == 3  # the group and the two restored disks, tagged
    start = seq(azure_sim)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path, drill_cleanup=False))
    assert rc == 0, out
    assert writes(azure_sim.requests(start)) == []  # the earlier restore is found, tags are in place: no write at all
    assert report(tmp_path)["vms"][0]["status"] == "passed" and report(tmp_path)["vms"][0]["reused"]
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path))  # now with the cleanup
    assert rc == 0, out
    assert drill_owned(azure_sim, "drill-w49") == []
    start = seq(azure_sim)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path))  # after the cleanup: still no second restore
    assert rc == 0, out
    assert restore_posts(azure_sim.requests(start)) == []
    assert report(tmp_path)["vms"][0]["status"] == "done_earlier"
    assert drill_owned(azure_sim, "drill-w49") == []


def test_check_mode_writes_nothing_and_shows_the_plan(azure_sim, tmp_path):
    protect_and_backup(azure_sim)
    start = seq(azure_sim)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path), check=True)
    assert rc == 0, out
    assert writes(azure_sim.requests(start)) == []
    assert "Drill drill-w49: 1 VM(s) to restore (disks) - cvm-kv-01; drill resource group(s) rg-cvm-drill-koreacentral." in out
    got = report(tmp_path)
    assert got["check_mode"] and got["summary"]["planned"] == 1 and got["vms"][0]["status"] == "planned"
    assert azure_sim.sim.store.get(rg_path()) is None


def test_a_failed_restore_is_reported_with_the_key_loss_steps_and_fails_the_play(azure_sim, tmp_path):
    protect_and_backup(azure_sim)
    with azure_sim.sim.lock:
        sim_rs.state(azure_sim.sim)["fail_next_restore"] = {
            "errorCode": "UserErrorDiskEncryptionSetKeyNotAccessible",
            "errorString": "The key <script>alert(1)</script> of disk encryption set des-cvm-kv & its vault is missing.",
            "recommendations": ["Make sure the key exists and the disk encryption set can access it."]}
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path))
    assert rc == 2, out
    assert "Restore drill drill-w49 failed for rg-cvm-kc/cvm-kv-01: see" in out
    vm = report(tmp_path)["vms"][0]
    assert vm["status"] == "failed" and vm["job"]["status"] == "Failed" and vm["verified"] is False
    assert "UserErrorDiskEncryptionSetKeyNotAccessible" in vm["message"]
    assert len(vm["recovery_steps"]) == 4 and "KeyBackupData" in vm["recovery_steps"][1]
    assert "confidential-vm-restore" in vm["recovery_steps"][3]
    markdown = (tmp_path / "drill-drill-w49.md").read_text(encoding="utf-8")
    assert "## rg-cvm-kc/cvm-kv-01: what to do" in markdown and "Restore-AzKeyVaultKey" in markdown
    page = (tmp_path / "drill-drill-w49.html").read_text(encoding="utf-8")
    assert page.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "des-cvm-kv &amp; its vault" in page
    assert '<tr class="vm failed" data-verdict="failed"' in page
    assert drill_owned(azure_sim, "drill-w49") == [] and azure_sim.sim.store.get(rg_path()) is None  # the empty group went


def test_cleanup_leaves_untagged_and_other_drills_resources(azure_sim, tmp_path, monkeypatch):
    protect_and_backup(azure_sim)
    foreign = foreign_disk_during_restore(monkeypatch, DRILL_RG)  # made in the drill group by someone else during the job
    sim = azure_sim.sim
    with sim.lock:
        sim.store.put(rg_path(), {"id": rg_path(), "name": DRILL_RG, "type": "Microsoft.Resources/resourceGroups",
                                  "location": "koreacentral", "tags": {}, "properties": {"provisioningState": "Succeeded"}})
        untagged = sim_compute.make_disk(sim, SUB, DRILL_RG, "someone-elses", "koreacentral")["id"]
        other = sim_compute.make_disk(sim, SUB, DRILL_RG, "other-drill", "koreacentral")
        other["tags"] = {TAG: "drill-w48"}
        sim_rs.state(sim)["restore_job_minutes"] = 300  # the Restore job's endTime is 300 minutes after its startTime
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path, drill_rto_minutes=240))
    assert rc == 2, out  # the RTO was missed: the drill failed, and still cleaned up what it made
    assert "Restore drill drill-w49 failed for rg-cvm-kc/cvm-kv-01: see" in out
    got = report(tmp_path)
    vm = got["vms"][0]
    assert vm["minutes"] == 300.0 and vm["rto_met"] is False and vm["verified"] is True and vm["status"] == "failed"
    assert vm["problems"] == ["the restore took 300.0 minutes, over the RTO of 240.0"]
    assert got["summary"]["rto_missed"] == 1 and got["summary"]["failed"] == 1
    assert sim.store.get(untagged) is not None and sim.store.get(other["id"])["tags"] == {TAG: "drill-w48"}
    assert sim.store.get(rg_path()) is not None  # not the drill's group: it stays
    assert drill_owned(azure_sim, "drill-w49") == []
    assert foreign and sim.store.get(foreign[0]["id"]) is not None and sim.store.get(foreign[0]["id"])["tags"] == {}
    assert vm["unverified_disks"] == [foreign[0]["id"]] and len(vm["disks"]) == 2  # reported, never tagged or deleted
    assert foreign[0]["id"] in (tmp_path / "drill-drill-w49.md").read_text(encoding="utf-8")
    cleanup = report(tmp_path)["cleanup"][0]
    assert len(cleanup["deleted"]) == 2  # the two restored disks
    assert sorted(k.lower() for k in cleanup["kept"]) == sorted(r.lower() for r in (untagged, other["id"], foreign[0]["id"]))


def test_alternate_location_verifies_the_vm_and_deletes_it_with_its_nic(azure_sim, tmp_path):
    protect_and_backup(azure_sim)
    add_replacement_des(azure_sim)
    before = managed_ids(azure_sim)
    vnet = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Network/virtualNetworks/vnet-cvm-kc"
    extra = {"drill_restore_type": "alternate_location", "drill_networks": {"koreacentral": {"virtual_network": vnet, "subnet": "default"}}}
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path, drill_cleanup=False, **extra))
    assert rc == 0, out
    vm = report(tmp_path)["vms"][0]
    assert vm["status"] == "passed" and vm["restore_type"] == "alternate_location"
    assert vm["vms"][0]["security_type"] == "ConfidentialVM" and vm["vms"][0]["vtpm"] and vm["vms"][0]["secure_boot"]
    owned = drill_owned(azure_sim, "drill-w49")
    assert any("/networkInterfaces/" in rid for rid in owned) and any("/virtualMachines/" in rid for rid in owned)
    rc, out = run_playbook(azure_sim, DRILL, drill_vars(tmp_path, **extra))
    assert rc == 0, out
    assert managed_ids(azure_sim) == before


def test_the_sample_is_the_same_for_the_same_seed():
    items = [{"vm_id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{i}", "name": f"vm{i}",
              "resource_group": "rg", "item_name": f"VM;iaasvmcontainerv2;rg;vm{i}", "latest_recovery_point": {"time": "t"}}
             for i in range(10)]
    reports = [{"id": i["vm_id"], "facts": {"region": "koreacentral", "tags": {"drill": "yes" if n % 2 else "no"}}}
               for n, i in enumerate(items)]
    first = [v["name"] for v in drill_pick(items, reports, sample=3, seed="drill-w49")]
    assert len(first) == 3 and first == [v["name"] for v in drill_pick(list(reversed(items)), reports, sample=3, seed="drill-w49")]
    assert [v["name"] for v in drill_pick(items, reports, tag="drill=yes")] == ["vm1", "vm3", "vm5", "vm7", "vm9"]
    assert len(drill_pick(items, reports, sample=0)) == 10
    assert any([v["name"] for v in drill_pick(items, reports, sample=3, seed=str(n))] != first for n in range(5))


def test_a_restored_data_disk_without_the_expected_des_is_a_problem():
    """The data disks' check on what drill_resources read back: another DES, a platform key, one disk missing."""
    des = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-a"
    vm = {"resource_group": "rg", "name": "vm1", "des_id": des, "data_des_ids": [des, None]}
    restore = {"job": {"name": "j", "status": "Completed", "start_time": "2026-12-01T10:00:00Z", "end_time": "2026-12-01T10:30:00Z"},
               "restored_disk_ids": ["os", "d0", "d1"]}

    def disk(rid, des_id, os_type=None):
        return {"id": rid, "name": rid, "os_type": os_type, "confidential": bool(os_type), "disk_encryption_set_id": des_id}

    def problems(*disks):
        return drill_verify(vm, restore, {"disks": [disk("os", des, "Windows"), *disks]}, rto_minutes=60)["problems"]

    assert problems(disk("d0", None), disk("d1", des.upper())) == []  # any order, ids without case
    tied_by_time = {**restore, "restored_disks": [{"id": "os", "matched_by": "restore_point"}, {"id": "x", "matched_by": "time"}]}
    assert drill_verify(vm, tied_by_time, {"disks": []}, rto_minutes=60)["unverified_disks"] == ["x"]
    assert problems(disk("d0", des), disk("d1", des)) == [
        f"data disk d1 uses disk encryption set {des}, expected none (a platform-managed key)"]
    assert problems(disk("d0", des)) == ["1 restored data disk(s) carry the drill's tag, the VM has 2"]
    none_expected = drill_verify({**vm, "data_des_ids": []}, restore, {"disks": [disk("os", des, "Windows"), disk("d0", des)]},
                                 rto_minutes=60)["problems"]
    assert none_expected == ["1 restored data disk(s) carry the drill's tag, the VM has 0",
                             f"data disk d0 uses disk encryption set {des}, expected no more data disks"]
