"""azure_local_vm and azure_local_vm_info through the local Azure (HTTPS proxy, real sign-in): the audit, the
documented refusals (secure boot / vTPM off, 24H2, custom images), create/update/delete with check mode, diff and
idempotency, and the request log as proof that check mode and _info never write."""

from __future__ import annotations

from tests.sim_helpers import run_module, writes

ARM = "management.azure.com"
RG = "rg-azlocal"
VMI_SUFFIX = "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"  # the demo scenario's subscription


def arm_writes(server, since: int = 0) -> list[dict]:
    return [r for r in writes(server.requests(since)) if r["host"] == ARM]


def arm_requests(server, since: int = 0) -> list[dict]:
    return [r for r in server.requests(since) if r["host"] == ARM]


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def vmi_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.HybridCompute/machines/{name}{VMI_SUFFIX}"


def vm(args: dict | None = None, **more) -> dict:
    return {"name": "tvm-win11-01", "resource_group": RG, **(args or {}), **more}


# ------------------------------------------------------------------------------------------------ audit


def test_info_shows_which_vms_need_the_guest_state_key_backup(azure_sim):
    result = run_module(azure_sim, "azure_local_vm_info", {"resource_group": RG})
    assert not result.get("failed"), result.get("msg")
    vms = {v["name"]: v for v in result["vms"]}
    assert sorted(vms) == ["std-vm-01", "tvm-win11-01", "tvm-ws2022-01"]
    assert result["needs_guest_state_key_backup"] == ["tvm-win11-01", "tvm-ws2022-01"]
    assert result["summary"] == {"total": 3, "trusted_launch": 2, "incomplete_profile": 0}
    tl = vms["tvm-ws2022-01"]
    assert (tl["security_type"], tl["secure_boot"], tl["tpm"], tl["profile_complete"]) == ("TrustedLaunch", True, True, True)
    assert tl["image_kind"] == "marketplace" and tl["image_supported"] is True and tl["image_reason"] is None
    std = vms["std-vm-01"]
    assert std["security_type"] == "Standard" and not std["needs_guest_state_key_backup"]
    assert std["image_kind"] == "custom" and std["image_supported"] is False and "outside Azure Marketplace" in std["image_reason"]
    assert result["changed"] is False
    assert all(r["method"] == "GET" for r in arm_requests(azure_sim)), "an _info module never writes"


def test_info_for_one_vm_and_for_a_missing_one(azure_sim):
    one = run_module(azure_sim, "azure_local_vm_info", {"resource_group": RG, "name": "tvm-win11-01", "check_images": False})
    assert [v["name"] for v in one["vms"]] == ["tvm-win11-01"] and "image_supported" not in one["vms"][0]
    missing = run_module(azure_sim, "azure_local_vm_info", {"resource_group": RG, "name": "ghost"})
    assert missing["failed"] and "ghost does not exist" in missing["msg"]


def test_a_list_of_several_pages_is_read_page_by_page(azure_sim):
    """The raw-list pager (m.arm_list): one GET a page, the first with the module's api-version, each next one the
    nextLink as Azure gives it (with its own api-version and $skiptoken); every item of every page."""
    azure_sim.sim.config["page_size"] = 1
    result = run_module(azure_sim, "azure_local_vm_info", {"resource_group": RG, "check_images": False})
    assert sorted(v["name"] for v in result["vms"]) == ["std-vm-01", "tvm-win11-01", "tvm-ws2022-01"], result.get("msg")
    pages = [r for r in arm_requests(azure_sim) if r["path"].endswith(f"/resourceGroups/{RG}/providers/Microsoft.HybridCompute/machines")]
    assert len(pages) == 3
    assert "skiptoken" not in pages[0]["query"] and all("skiptoken" in r["query"] for r in pages[1:])
    assert all("api-version=2024-07-10" in r["query"] for r in pages)


# ------------------------------------------------------------------------------------------------ refusals before any request


def test_secure_boot_or_tpm_off_is_refused_before_any_request(azure_sim):
    for args, missing in (({"secure_boot": False}, "secure_boot"), ({"tpm": False}, "tpm")):
        since = last_seq(azure_sim)
        result = run_module(azure_sim, "azure_local_vm", vm(args))
        assert result["failed"] and f"set {missing} to true" in result["msg"]
        assert arm_requests(azure_sim, since) == []


def test_an_existing_standard_vm_is_not_turned_into_trusted_launch(azure_sim):
    result = run_module(azure_sim, "azure_local_vm", vm(name="std-vm-01"))
    assert result["failed"] and "security type Standard" in result["msg"] and "chosen when a VM is created" in result["msg"]
    assert arm_writes(azure_sim) == []


def test_the_image_of_an_existing_vm_cannot_change(azure_sim):
    result = run_module(azure_sim, "azure_local_vm", vm(image="ws2022-dc-azure"))
    assert result["failed"] and "cannot change" in result["msg"]
    assert arm_writes(azure_sim) == []


def test_a_missing_arc_machine(azure_sim):
    present = run_module(azure_sim, "azure_local_vm", vm(name="ghost", custom_location="cl-azlocal-01", image="ws2022-dc-azure"))
    assert present["failed"] and "Arc machine ghost does not exist" in present["msg"]
    absent = run_module(azure_sim, "azure_local_vm", vm(name="ghost", state="absent"))
    assert not absent.get("failed") and absent["changed"] is False


# ------------------------------------------------------------------------------------------------ idempotency, check mode, diff


def test_an_existing_trusted_launch_vm_as_asked_is_left_alone(azure_sim):
    result = run_module(azure_sim, "azure_local_vm", vm(), diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False and result["vm"]["trusted_launch"] and result["vm"]["profile_complete"]
    assert result["diff"]["before"] == result["diff"]["after"]
    assert arm_writes(azure_sim) == []


def test_resize_in_check_mode_then_for_real_then_again(azure_sim):
    args = vm(vm_size="Custom", processors=8, memory_mb=16384)
    checked = run_module(azure_sim, "azure_local_vm", args, check=True, diff=True)
    assert checked["changed"] is True and arm_writes(azure_sim) == [], "check mode makes no write"
    assert (checked["diff"]["before"]["processors"], checked["diff"]["after"]["processors"]) == (4, 8)
    done = run_module(azure_sim, "azure_local_vm", args, diff=True)
    assert done["changed"] is True and done["vm"]["provisioning_state"] == "Succeeded"
    patches = arm_writes(azure_sim)
    assert [r["method"] for r in patches] == ["PATCH"] and patches[0]["path"].endswith(VMI_SUFFIX), "an update is a PATCH"
    assert done["vm"]["security_type"] == "TrustedLaunch", "the security profile is kept on update"
    since = last_seq(azure_sim)
    again = run_module(azure_sim, "azure_local_vm", args)
    assert again["changed"] is False and arm_writes(azure_sim, since) == []


# ------------------------------------------------------------------------------------------------ create and delete


def test_delete_then_create_with_the_documented_image_rules(azure_sim):
    checked = run_module(azure_sim, "azure_local_vm", vm(state="absent"), check=True)
    assert checked["changed"] is True and arm_writes(azure_sim) == []
    deleted = run_module(azure_sim, "azure_local_vm", vm(state="absent"), diff=True)
    assert deleted["changed"] is True and deleted["diff"]["after"] == {}
    assert [r["method"] for r in arm_writes(azure_sim)] == ["DELETE"]
    polled = [r["path"] for r in arm_requests(azure_sim) if r["method"] == "GET" and "/operationStatuses/" in r["path"]]
    assert polled, "the deletion was followed through its Azure-AsyncOperation"

    since = last_seq(azure_sim)
    new = {"custom_location": "cl-azlocal-01", "admin_username": "localadmin", "admin_password": "Not-a-real-Pa55"}
    h2 = run_module(azure_sim, "azure_local_vm", vm(new, image="win11-24h2-ent"))
    assert h2["failed"] and "24H2" in h2["msg"]
    custom = run_module(azure_sim, "azure_local_vm", vm(new, image="custom-golden"))
    assert custom["failed"] and "outside Azure Marketplace are not supported" in custom["msg"]
    nothing = run_module(azure_sim, "azure_local_vm", vm(new))
    assert nothing["failed"] and "give image" in nothing["msg"]
    assert arm_writes(azure_sim, since) == [], "refused images are refused before the PUT"

    checked = run_module(azure_sim, "azure_local_vm", vm(new, image="win11-23h2-ent"), check=True, diff=True)
    assert checked["changed"] is True and checked["diff"]["before"] == {} and checked["diff"]["after"]["security_type"] == "TrustedLaunch"
    assert arm_writes(azure_sim, since) == []
    # the key of a VM that check mode only plans does not exist yet: no "back it up now"
    assert not any("guest state protection key" in w for w in checked.get("warnings", []))
    created = run_module(azure_sim, "azure_local_vm", vm(new, image="win11-23h2-ent"))
    assert created["changed"] is True, created.get("msg")
    assert (created["vm"]["security_type"], created["vm"]["secure_boot"], created["vm"]["tpm"]) == ("TrustedLaunch", True, True)
    assert created["vm"]["provisioning_state"] == "Succeeded"
    assert any("guest state protection key" in w for w in created.get("warnings", []))
    assert "Not-a-real-Pa55" not in str(created)
    since = last_seq(azure_sim)
    again = run_module(azure_sim, "azure_local_vm", vm(new, image="win11-23h2-ent"))
    assert again["changed"] is False and arm_writes(azure_sim, since) == []


# ------------------------------------------------------------------------------------------------ long operations


def test_update_is_a_patch_with_only_the_update_request_model(azure_sim):
    """processors without vm_size: the PATCH carries vmSize Custom (the size that carries processors); the local Azure
    refuses any property outside VirtualMachineInstanceUpdateRequest, so a passing run proves the body fits it."""
    since = last_seq(azure_sim)
    done = run_module(azure_sim, "azure_local_vm", vm(name="tvm-ws2022-01", processors=6))
    assert done["changed"] is True, done.get("msg")
    log = arm_requests(azure_sim, since)
    assert [r["method"] for r in writes(log)] == ["PATCH"]
    after_patch = log[[r["method"] for r in log].index("PATCH") + 1:]
    assert any("/operationStatuses/" in r["path"] for r in after_patch), "the PATCH was followed"
    assert after_patch[-1]["method"] == "GET" and after_patch[-1]["path"].endswith(VMI_SUFFIX), "then read back"
    stored = azure_sim.sim.store.get(done["vm"]["id"])["properties"]["hardwareProfile"]
    assert (stored["vmSize"], stored["processors"]) == ("Custom", 6)
    assert stored["memoryMB"] == 8192, "what the PATCH does not name stays"


def test_processors_with_a_named_size_are_refused_before_any_request(azure_sim):
    since = last_seq(azure_sim)
    result = run_module(azure_sim, "azure_local_vm", vm(vm_size="Standard_D4s_v3", processors=6))
    assert result["failed"] and "vm_size Custom" in result["msg"]
    assert arm_requests(azure_sim, since) == []


def test_a_delete_answered_with_location_only_is_followed_and_a_timeout_fails(sim_server_factory):
    """The spec documents only `Location` on the DELETE 202 (evidence azure-local-delete-lro): azure-core's ARM
    polling follows it until the operation ends; a wait that runs out fails instead of reporting success."""
    server = sim_server_factory("demo", hci_async_operation_header=0, lro_seconds=4)
    timed_out = run_module(server, "azure_local_vm", vm(name="tvm-ws2022-01", state="absent", timeout=1))
    assert timed_out["failed"] and timed_out["msg"].startswith("Timed out after 1s waiting for Azure Local VM tvm-ws2022-01")
    since = last_seq(server)
    deleted = run_module(server, "azure_local_vm", vm(state="absent"))
    assert deleted["changed"] is True and not deleted.get("failed"), deleted.get("msg")
    log = arm_requests(server, since)
    polled = [r for r in log if r["method"] == "GET" and "/operationResults/" in r["path"]]
    assert polled and polled[-1]["status"] == 204, "followed through Location until the operation ended"
    assert not any("/operationStatuses/" in r["path"] for r in log)
    assert server.sim.store.get(vmi_id("tvm-win11-01")) is None, "the module returned only after the deletion ended"
