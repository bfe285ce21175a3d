"""Azure behaviours the local Azure answers with (issue 15 item 3), each with its public source beside the code in the
family files. In-process: raw REST calls as the SDKs and other clients send them."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.azure_sim.framework import Sim
from tests.sim.inproc import call, new_sim

SUB = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"
ARM = f"https://management.azure.com/subscriptions/{SUB}"
V = "api-version=2025-02-01"
VAULT = f"{ARM}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-cvm-kc"
VAULT_PATH = VAULT.removeprefix("https://management.azure.com")
VM = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-kc/providers/Microsoft.Compute/virtualMachines/cvm-pmk-01"
ITEM = f"{VAULT}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01" \
       "/protectedItems/VM;iaasvmcontainerv2;rg-cvm-kc;cvm-pmk-01"
HSM = "https://hsm-cvm-uae.managedhsm.azure.net"
READONLY = "1d6e4c9f-7b2a-4d3e-9f0a-8b7c6d5e4f3a"


@pytest.fixture
def sim() -> Sim:
    made = new_sim("demo")
    made.config["lro_seconds"] = 0.02
    return made


def settle(sim: Sim):
    """Let running operations end (they complete at the next request after lro_seconds)."""
    time.sleep(0.05)
    with sim.lock:
        sim.advance()


def ok(response, status=200):
    assert response.status == status, (response.status, response.body)
    return response.body


def protect(sim: Sim, url: str = ITEM, vm: str = VM) -> object:
    body = {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm,
                           "policyId": f"{VAULT_PATH}/backupPolicies/DefaultPolicy"}}
    return call(sim, "PUT", f"{url}?{V}", body)


def item(sim: Sim) -> dict:
    return ok(call(sim, "GET", f"{ITEM}?{V}"))["properties"]


# ------------------------------------------------------------------------------------------------ ARM tokens and lists


def test_arm_takes_tokens_for_either_management_audience(sim):
    url = f"{ARM}/resourcegroups?api-version=2025-04-01"
    for aud in ("https://management.core.windows.net/", "https://management.azure.com"):
        token = sim.tokens.issue({"aud": aud, "tid": sim.tenant_id, "oid": sim.default_principal["object_id"],
                                  "appid": sim.default_principal["app_id"], "idtyp": "app"})
        ok(call(sim, "GET", url, headers={"Authorization": f"Bearer {token}"}))
    wrong = sim.tokens.issue({"aud": "https://graph.microsoft.com", "oid": "x", "idtyp": "app"})
    refused = call(sim, "GET", url, headers={"Authorization": f"Bearer {wrong}"})
    assert refused.status == 401 and refused.body["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_generic_resource_lists_filter_by_resource_type(sim):
    vms = ok(call(sim, "GET", f"{ARM}/resources?$filter=resourceType eq 'Microsoft.Compute/virtualMachines'&api-version=2025-04-01"))
    names = {r["name"] for r in vms["value"]}
    assert {"cvm-pmk-01", "cvm-hsm-01", "cvm-weu-01"} <= names and all(r["type"] == "Microsoft.Compute/virtualMachines" for r in vms["value"])
    assert set(vms["value"][0]) <= {"id", "name", "type", "location", "tags", "kind", "sku", "identity", "managedBy",
                                    "extendedLocation"}
    in_rg = ok(call(sim, "GET", f"{ARM}/resourceGroups/rg-backup/resources?$filter=resourceType eq "
                                "'Microsoft.RecoveryServices/vaults'&api-version=2025-04-01"))
    assert {r["name"] for r in in_rg["value"]} == {"rsv-cvm-kc", "rsv-cvm-uae", "rsv-legacy-weu"}
    everything = ok(call(sim, "GET", f"{ARM}/resourceGroups/rg-cvm-kc/resources?api-version=2025-04-01"))["value"]
    assert {"Microsoft.Compute/disks", "Microsoft.Network/networkInterfaces", "Microsoft.KeyVault/vaults"} <= \
        {r["type"] for r in everything}
    assert call(sim, "GET", f"{ARM}/resources?$filter=location eq 'x'&api-version=2025-04-01").status == 400


# ------------------------------------------------------------------------------------------------ vault settings


def test_vault_has_no_resource_guard_proxies(sim):
    assert ok(call(sim, "GET", f"{VAULT}/backupResourceGuardProxies?{V}"))["value"] == []
    assert call(sim, "GET", f"{VAULT}/backupResourceGuardProxies/VaultProxy?{V}").status == 404


def test_vault_config_reads_and_sets_soft_delete(sim):
    config = ok(call(sim, "GET", f"{VAULT}/backupconfig/vaultconfig?{V}"))
    assert config["type"] == "Microsoft.RecoveryServices/vaults/backupconfig" and config["name"] == "vaultconfig"
    assert (config["properties"]["softDeleteFeatureState"], config["properties"]["softDeleteRetentionPeriodInDays"],
            config["properties"]["enhancedSecurityState"]) == ("Enabled", 14, "Enabled")
    changed = ok(call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}",
                      {"properties": {"softDeleteRetentionPeriodInDays": 30, "enhancedSecurityState": "Disabled"}}))
    assert changed["properties"]["softDeleteRetentionPeriodInDays"] == 30
    vault = ok(call(sim, "GET", f"{VAULT}?api-version=2025-02-01"))
    assert vault["properties"]["securitySettings"]["softDeleteSettings"]["softDeleteRetentionPeriodInDays"] == 30
    assert call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}",
                {"properties": {"softDeleteRetentionPeriodInDays": 7}}).status == 400
    ok(call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}", {"properties": {"softDeleteFeatureState": "AlwaysON"}}))
    refused = call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}", {"properties": {"softDeleteFeatureState": "Disabled"}})
    assert refused.status == 400
    assert ok(call(sim, "GET", f"{VAULT}/backupconfig/vaultconfig?{V}"))["properties"]["isSoftDeleteFeatureStateEditable"] is False


def test_cross_region_restore_cannot_be_disabled_once_enabled(sim):
    weu = f"{ARM}/resourceGroups/rg-backup/providers/Microsoft.RecoveryServices/vaults/rsv-legacy-weu"
    refused = call(sim, "PATCH", f"{weu}?api-version=2025-02-01",
                   {"properties": {"redundancySettings": {"crossRegionRestore": "Disabled"}}})
    assert refused.status == 400 and "non-reversible" in refused.body["error"]["message"]
    storage = call(sim, "PATCH", f"{weu}/backupstorageconfig/vaultstorageconfig?{V}", {"properties": {"crossRegionRestoreFlag": False}})
    assert storage.status == 400
    settle(sim)
    assert ok(call(sim, "GET", f"{weu}?api-version=2025-02-01"))["properties"]["redundancySettings"]["crossRegionRestore"] == "Enabled"
    # enabling it stays possible (rsv-cvm-kc is LRS here: Azure would refuse CRR on LRS; not modelled)
    assert call(sim, "PATCH", f"{weu}?api-version=2025-02-01",
                {"properties": {"redundancySettings": {"crossRegionRestore": "Enabled"}}}).status == 202


# ------------------------------------------------------------------------------------------------ protection and soft delete


def test_protected_item_put_before_discovery_is_accepted(sim):
    answer = protect(sim)
    assert answer.status == 202 and int(answer.headers["Retry-After"]) >= 1
    settle(sim)
    assert item(sim)["protectionState"] in ("IRPending", "Protected")


def delete_data(sim: Sim):
    answer = call(sim, "DELETE", f"{ITEM}?{V}")
    assert answer.status == 202 and answer.headers["Location"] and int(answer.headers["Retry-After"]) >= 1
    settle(sim)


def test_soft_delete_keeps_the_item_until_undeleted(sim):
    protect(sim)
    settle(sim)
    delete_data(sim)
    props = item(sim)
    assert props["isScheduledForDeferredDelete"] is True and props["protectionState"] == "ProtectionStopped"
    due = datetime.fromisoformat(props["deferredDeleteTimeInUTC"].replace("Z", "+00:00"))
    assert timedelta(days=13, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=14)
    listed = ok(call(sim, "GET", f"{VAULT}/backupProtectedItems?$filter=backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'&{V}"))
    assert [i["properties"]["isScheduledForDeferredDelete"] for i in listed["value"]] == [True]
    # blocks the vault's deletion and a new protection
    blocked = call(sim, "DELETE", f"{VAULT}?api-version=2025-02-01")
    assert blocked.status == 400 and blocked.body["error"]["code"] == "ServiceResourceNotEmpty"
    again = protect(sim)
    assert again.status == 400 and "soft-deleted" in again.body["error"]["message"]
    # undelete as the az CLI sends it (isRehydrate + ProtectionStopped): stop protection with retained data
    undelete = {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": VM,
                               "protectionState": "ProtectionStopped", "isRehydrate": True}}
    undo = call(sim, "PUT", f"{ITEM}?{V}", undelete)
    assert undo.status == 202
    settle(sim)
    props = item(sim)
    assert props["isScheduledForDeferredDelete"] is False and props["protectionState"] == "ProtectionStopped"
    assert "deferredDeleteTimeInUTC" not in props
    assert protect(sim).status == 202  # protecting again works now
    settle(sim)
    assert item(sim)["policyName"] == "DefaultPolicy"


def test_soft_delete_retention_is_the_vaults_and_terraform_undelete_works(sim):
    ok(call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}", {"properties": {"softDeleteRetentionPeriodInDays": 30}}))
    protect(sim)
    settle(sim)
    delete_data(sim)
    due = datetime.fromisoformat(item(sim)["deferredDeleteTimeInUTC"].replace("Z", "+00:00"))
    assert due - datetime.now(timezone.utc) > timedelta(days=29)
    # terraform's body: AzureIaaSComputeVMProtectedItem{IsRehydrate: true}; go-azure-sdk's MarshalJSON of every
    # protecteditems model sets its discriminator (decoded["protectedItemType"] = ...), so protectedItemType is sent too
    assert call(sim, "PUT", f"{ITEM}?{V}", {"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
                                                           "isRehydrate": True}}).status == 202
    settle(sim)
    assert item(sim)["isScheduledForDeferredDelete"] is False


def test_without_soft_delete_the_data_goes_at_once(sim):
    ok(call(sim, "PATCH", f"{VAULT}/backupconfig/vaultconfig?{V}", {"properties": {"softDeleteFeatureState": "Disabled"}}))
    protect(sim)
    settle(sim)
    delete_data(sim)
    assert call(sim, "GET", f"{ITEM}?{V}").status == 404


def test_long_running_operations_send_retry_after_and_location(sim):
    refresh = call(sim, "POST", f"{VAULT}/backupFabrics/Azure/refreshContainers?$filter=backupManagementType eq 'AzureIaasVM'&{V}")
    assert refresh.status == 202 and "/operationResults/" in refresh.headers["Location"]
    assert int(refresh.headers["Retry-After"]) >= 1
    running = call(sim, "GET", refresh.headers["Location"])
    assert running.status == 202 and int(running.headers["Retry-After"]) >= 1 and running.headers["Location"]
    sim.config["retry_after"] = 60  # Azure's own pacing when asked for
    assert call(sim, "POST", f"{VAULT}/backupFabrics/Azure/refreshContainers?{V}").headers["Retry-After"] == "60"


# ------------------------------------------------------------------------------------------------ restore job


def test_restore_job_property_bag_has_only_published_keys(sim):
    from tests.sim.test_recoveryservices import clients, first_point, restore, seeded
    seeded_sim = seeded()
    backup = clients(seeded_sim)[1]
    job = restore(backup, "rg-cvm-kc", "cvm-kv-01", first_point(backup))
    bag = job.properties.extended_info.property_bag
    published = {"Job Type", "Recovery point time ", "Target resource group", "Target Storage Account Name",
                 "Config Blob Container Name", "Config Blob Name", "Config Blob Uri", "Template Blob Uri",
                 "Secured Encryption Info Blob Name"}
    assert set(bag) <= published and bag["Job Type"] == "Recover disks" and "Recovery point time " in bag
    assert not {"Recovery point ID", "Restored disk(s)", "Target VM Name", "VM Name"} & set(bag)
    # the published time form: month/day/year without leading zeros, 12-hour clock ('1/7/2021 10:11:19 AM')
    assert re.fullmatch(r"[1-9]\d?/[1-9]\d?/\d{4} (1[0-2]|[1-9]):\d\d:\d\d [AP]M", bag["Recovery point time "])


# ------------------------------------------------------------------------------------------------ compute and network


def test_instance_view_has_boot_diagnostics_and_the_nic_is_served(sim):
    view = ok(call(sim, "GET", f"{ARM}{VM.split(SUB, 1)[1]}/instanceView?api-version=2025-04-01"))
    assert view["bootDiagnostics"]["serialConsoleLogBlobUri"].startswith("https://")
    vm = ok(call(sim, "GET", f"https://management.azure.com{VM}?api-version=2025-04-01"))
    nic_id = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
    nic = ok(call(sim, "GET", f"https://management.azure.com{nic_id}?api-version=2024-05-01"))
    assert nic["type"] == "Microsoft.Network/networkInterfaces" and nic["properties"]["virtualMachine"]["id"] == VM
    assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"].endswith("/subnets/default")
    listed = ok(call(sim, "GET", f"{ARM}/resourceGroups/rg-cvm-kc/providers/Microsoft.Network/networkInterfaces?api-version=2024-05-01"))
    assert nic_id in {n["id"] for n in listed["value"]}
    everywhere = ok(call(sim, "GET", f"{ARM}/providers/Microsoft.Network/networkInterfaces?api-version=2024-05-01"))
    assert len(everywhere["value"]) > len(listed["value"])
    vm_store = sim.store.get(VM)
    vm_store["properties"]["diagnosticsProfile"]["bootDiagnostics"]["enabled"] = False
    assert "bootDiagnostics" not in ok(call(sim, "GET", f"{ARM}{VM.split(SUB, 1)[1]}/instanceView?api-version=2025-04-01"))


# ------------------------------------------------------------------------------------------------ role assignments


def test_role_assignments_by_principal_at_subscription_scope_and_at_scope(sim):
    owner = sim.default_principal["object_id"]
    by_principal = ok(call(sim, "GET", f"{ARM}/providers/Microsoft.Authorization/roleAssignments?"
                                       f"$filter=principalId eq '{owner}'&api-version=2022-04-01"))["value"]
    assert by_principal and all(a["properties"]["principalId"] == owner for a in by_principal)
    assert any("/vaults/kv-cvm-rbac" in a["properties"]["scope"] for a in by_principal)  # below the subscription
    assigned = ok(call(sim, "GET", f"{ARM}/providers/Microsoft.Authorization/roleAssignments?"
                                   f"$filter=assignedTo('{owner}')&api-version=2022-04-01"))["value"]
    assert [a["id"] for a in assigned] == [a["id"] for a in by_principal]
    vault = f"{ARM}/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-rbac"
    at_scope = ok(call(sim, "GET", f"{vault}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()"
                                   "&api-version=2022-04-01"))["value"]
    assert at_scope and all(a["properties"]["scope"].lower().endswith("/vaults/kv-cvm-rbac") for a in at_scope)
    assert call(sim, "GET", f"{vault}/providers/Microsoft.Authorization/roleAssignments?$filter=roleName eq 'x'"
                            "&api-version=2022-04-01").status == 400


def test_managed_hsm_lists_every_scope_at_the_root(sim):
    at_root = ok(call(sim, "GET", f"{HSM}/providers/Microsoft.Authorization/roleAssignments?api-version=7.5"))["value"]
    scopes = {a["properties"]["scope"] for a in at_root}
    assert {"/", "/keys/cvm-hsm-key"} <= scopes
    at_other_key = ok(call(sim, "GET", f"{HSM}/keys/other-key/providers/Microsoft.Authorization/roleAssignments?api-version=7.5"))
    assert "/keys/cvm-hsm-key" not in {a["properties"]["scope"] for a in at_other_key["value"]}


# ------------------------------------------------------------------------------------------------ Microsoft Graph


def graph_token(sim: Sim, app_id: str) -> str:
    """An app-only Graph token as the token endpoint makes it (client credentials), for a scenario principal."""
    principal = sim.principals[app_id]
    body = call(sim, "POST", f"https://login.microsoftonline.com/{sim.tenant_id}/oauth2/v2.0/token",
                f"grant_type=client_credentials&client_id={app_id}&client_secret={principal['secret']}"
                "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"}).body
    return body["access_token"]


def test_graph_refuses_a_service_principal_without_graph_permissions(sim):
    bms = "262044b1-e2ce-469f-a196-69ab7ada62d3"
    url = f"https://graph.microsoft.com/v1.0/servicePrincipals?$filter=appId eq '{bms}'"
    denied = call(sim, "GET", url, headers={"Authorization": f"Bearer {graph_token(sim, READONLY)}"})
    assert denied.status == 403 and denied.body["error"]["code"] == "Authorization_RequestDenied"
    default = sim.default_principal["app_id"]  # holds Application.Read.All in the demo scenario
    found = ok(call(sim, "GET", url, headers={"Authorization": f"Bearer {graph_token(sim, default)}"}))
    assert [p["appId"] for p in found["value"]] == [bms]


def test_directory_objects_get_by_ids(sim):
    token = graph_token(sim, sim.default_principal["app_id"])
    bms_oid = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
    found = ok(call(sim, "POST", "https://graph.microsoft.com/v1.0/directoryObjects/getByIds",
                    {"ids": [bms_oid, "00000000-0000-0000-0000-000000000000"], "types": ["servicePrincipal"]},
                    headers={"Authorization": f"Bearer {token}"}))
    assert [(o["@odata.type"], o["id"]) for o in found["value"]] == [("#microsoft.graph.servicePrincipal", bms_oid)]
    denied = call(sim, "POST", "https://graph.microsoft.com/v1.0/directoryObjects/getByIds", {"ids": [bms_oid]},
                  headers={"Authorization": f"Bearer {graph_token(sim, READONLY)}"})
    assert denied.status == 403


def test_a_soft_deleted_item_is_gone_after_its_retention(sim):
    protect(sim)
    settle(sim)
    delete_data(sim)
    stored = sim.store.get(ITEM.removeprefix("https://management.azure.com"))
    stored["properties"]["deferredDeleteTimeInUTC"] = "2020-01-01T00:00:00Z"  # the retention has passed
    assert call(sim, "GET", f"{ITEM}?{V}").status == 404
    assert ok(call(sim, "GET", f"{VAULT}/backupProtectedItems?{V}"))["value"] == []
