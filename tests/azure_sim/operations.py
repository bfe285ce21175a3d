"""Every operation the local Azure serves: its api-version family (api_versions.yml) and the models of its bodies.

Keyed by handler, "<family module>.<function>" (the route table in the family files registers the handler; this table
says what the handler's bodies are). `framework.Router.dispatch` refuses a request whose api-version its family does
not publish, refuses a request body that does not fit `request`, and fails on a response body that does not fit
`response` (see README "Strictness"). A model is "package.module:Class" from the installed Azure SDK for Python;
"page:" before it is a list page; EMPTY means no body at all. `exempt` gives the reason why a body cannot be checked
against an SDK model (no SDK for that API is installed, or the body is not a spec model) — tests/sim/test_strict.py
lists them, and fails for a served operation that is in neither group.
"""

from __future__ import annotations

from typing import NamedTuple

EMPTY = "empty"

B = "azure.mgmt.recoveryservicesbackup.models:"  # typespec generation, api-version 2026-10-01
V = "azure.mgmt.recoveryservices.models:"  # typespec generation, 2026-11-01
C = "azure.mgmt.compute.models:"  # typespec generation, 2026-04-01 / 2026-03-02
K = "azure.mgmt.keyvault.models:"  # typespec generation, 2026-05-15
A = "azure.mgmt.authorization.v2022_04_01.models:"  # msrest generation, 2022-04-01
H = "azure.keyvault.administration._generated.models:"  # typespec generation, 2025-07-01 (Managed HSM RBAC)
F = "azure.mgmt.resource.features.models:"  # msrest generation, 2021-07-01
R = "azure.mgmt.resource.resources.models:"  # typespec generation, 2025-04-01

NO_STORAGE_SDK = "azure-mgmt-storage is not installed: the storage account shape follows spec example StorageAccountGet"
NO_HCI_SDK = ("azure-mgmt-azurestackhci / -hybridcompute / -extendedlocation are not installed; shapes follow the spec "
              "examples under tests/azure_sim/spec_examples (checked by tests/sim/test_conformance_*)")
ARM_ASYNC = ("ARM async-operation status ({id, name, status, startTime, endTime, error}): azure-core's ARM poller "
             "reads `status` only; no SDK model (ARM RPC async-operations contract)")
NO_GRAPH_SDK = "Microsoft Graph: no Graph SDK is installed; the servicePrincipal shape follows the Graph v1.0 docs"
LOGIN = "Entra ID sign-in (OAuth 2.0 / OpenID Connect): form bodies and token responses, not an Azure REST spec model"
NO_KEYS_SDK = "azure-keyvault-keys is not installed: the KeyBundle shape follows spec keys.json (GetKey-example)"
NO_SUBSCRIPTIONS_SDK = "azure-mgmt-resource-subscriptions is not installed (azure-mgmt-resource 26 has no subscriptions client)"
NO_MONITOR_SDK = ("azure-mgmt-monitor is not installed: the EventData shape follows spec Microsoft.Insights stable/2015-04-01 "
                  "activityLogs_API.json (example GetActivityLogsFiltered.json)")
NO_NETWORK_SDK = ("azure-mgmt-network is not installed: the networkInterface shape follows spec example "
                  "Microsoft.Network stable/2024-05-01 NetworkInterfaceGet.json")


class Op(NamedTuple):
    family: str  # a key of api_versions.yml `families`
    request: str | None = None  # model of the request body (PUT/PATCH/POST); None: no body expected (not checked)
    response: str | None = None  # model of a 2xx response body
    exempt: str | None = None  # why the bodies are not checked against an SDK model


def op(family, request=None, response=None, exempt=None) -> Op:
    return Op(family, request, response, exempt)


def by(group: str, **cases: Op):
    """An operation whose model depends on a path group (e.g. rtype=virtualMachines): {group: {value lower: Op}}."""
    return (group, {k.lower(): v for k, v in cases.items()})


COMPUTE_TYPES = {"virtualMachines": ("compute", "VirtualMachine"), "disks": ("disks", "Disk"),
                 "snapshots": ("disks", "Snapshot"), "diskEncryptionSets": ("disks", "DiskEncryptionSet")}
KV_TYPES = {"vaults": "Vault", "managedHSMs": "ManagedHsm"}

OPERATIONS: dict = {
    # ---- resources.py
    "resources.get_feature": op("features", EMPTY, F + "FeatureResult"),
    "resources.register_feature": op("features", EMPTY, F + "FeatureResult"),
    "resources.unregister_feature": op("features", EMPTY, F + "FeatureResult"),
    "resources.list_provider_features": op("features", EMPTY, "page:" + F + "FeatureResult"),
    "resources.list_all_features": op("features", EMPTY, "page:" + F + "FeatureResult"),
    "resources.get_subscription_feature_registration": op("features", EMPTY, F + "SubscriptionFeatureRegistration"),
    "resources.list_activity_log": op("monitor", exempt=NO_MONITOR_SDK),
    "resources.list_providers": op("resources", EMPTY, "page:" + R + "Provider"),
    "resources.get_provider": op("resources", EMPTY, R + "Provider"),
    "resources.register_provider": op("resources", EMPTY, R + "Provider"),
    "resources.unregister_provider": op("resources", EMPTY, R + "Provider"),
    "resources.list_subscriptions": op("resources", exempt=NO_SUBSCRIPTIONS_SDK),
    "resources.get_subscription": op("resources", exempt=NO_SUBSCRIPTIONS_SDK),
    "resources.list_locations": op("resources", exempt=NO_SUBSCRIPTIONS_SDK),
    "resources.list_rgs": op("resources", EMPTY, "page:" + R + "ResourceGroup"),
    "resources.get_rg": op("resources", EMPTY, R + "ResourceGroup"),
    "resources.head_rg": op("resources", EMPTY, EMPTY),
    "resources.put_rg": op("resources", R + "ResourceGroup", R + "ResourceGroup"),
    "resources.list_sub_resources": op("resources", EMPTY, "page:" + R + "GenericResourceExpanded"),
    "resources.list_rg_resources": op("resources", EMPTY, "page:" + R + "GenericResourceExpanded"),
    "resources.delete_rg": op("resources", EMPTY, EMPTY),
    "resources.patch_tags": op("resources", R + "TagsPatchResource", R + "TagsResource"),
    # ---- compute.py
    "compute.get_resource": by("rtype", **{t: op(f, EMPTY, C + m) for t, (f, m) in COMPUTE_TYPES.items()}),
    "compute.list_rg": by("rtype", **{t: op(f, EMPTY, "page:" + C + m) for t, (f, m) in COMPUTE_TYPES.items()}),
    "compute.list_sub": by("rtype", **{t: op(f, EMPTY, "page:" + C + m) for t, (f, m) in COMPUTE_TYPES.items()}),
    "compute.get_instance_view": op("compute", EMPTY, C + "VirtualMachineInstanceView"),
    "compute.list_associated": op("disks", EMPTY, "page:builtins:str"),
    "compute.get_nic": op("network", exempt=NO_NETWORK_SDK),
    "compute.list_nics_rg": op("network", exempt=NO_NETWORK_SDK),
    "compute.list_nics_sub": op("network", exempt=NO_NETWORK_SDK),
    "compute.delete_resource": by("rtype", virtualMachines=op("compute", EMPTY, EMPTY), disks=op("disks", EMPTY, EMPTY)),
    "compute.delete_nic": op("network", exempt=NO_NETWORK_SDK),
    # ---- keyvault.py (ARM)
    "keyvault.get_kv_resource": by("rtype", **{t: op("keyvault", EMPTY, K + m) for t, m in KV_TYPES.items()}),
    "keyvault.list_kv_rg": by("rtype", **{t: op("keyvault", EMPTY, "page:" + K + m) for t, m in KV_TYPES.items()}),
    "keyvault.list_kv_sub": by("rtype", **{t: op("keyvault", EMPTY, "page:" + K + m) for t, m in KV_TYPES.items()}),
    "keyvault.get_arm_hsm_key": op("keyvault", EMPTY, K + "ManagedHsmKey"),
    "keyvault.list_arm_hsm_keys": op("keyvault", EMPTY, "page:" + K + "ManagedHsmKey"),
    "keyvault.update_access_policies": op("keyvault", K + "VaultAccessPolicyParameters", K + "VaultAccessPolicyParameters"),
    "keyvault.list_arm_role_definitions": op("authorization", EMPTY, "page:" + A + "RoleDefinition"),
    "keyvault.get_arm_role_definition": op("authorization", EMPTY, A + "RoleDefinition"),
    "keyvault.list_vault_assignments": op("authorization", EMPTY, "page:" + A + "RoleAssignment"),
    "keyvault.list_assignments_sub_rg": op("authorization", EMPTY, "page:" + A + "RoleAssignment"),
    "keyvault.get_vault_assignment": op("authorization", EMPTY, A + "RoleAssignment"),
    "keyvault.put_vault_assignment": op("authorization", A + "RoleAssignmentCreateParameters", A + "RoleAssignment"),
    "keyvault.delete_vault_assignment": op("authorization", EMPTY, A + "RoleAssignment"),
    # ---- keyvault.py (data plane)
    "keyvault.vault_get_key": op("keyvault-data", exempt=NO_KEYS_SDK),
    "keyvault.vault_list_keys": op("keyvault-data", exempt=NO_KEYS_SDK),
    "keyvault.hsm_get_key": op("keyvault-data", exempt=NO_KEYS_SDK),
    "keyvault.hsm_list_keys": op("keyvault-data", exempt=NO_KEYS_SDK),
    "keyvault.hsm_list_role_definitions": op("keyvault-data", EMPTY, "page:" + H + "RoleDefinition"),
    "keyvault.hsm_get_role_definition": op("keyvault-data", EMPTY, H + "RoleDefinition"),
    "keyvault.hsm_put_role_definition": op("keyvault-data", H + "RoleDefinitionCreateParameters", H + "RoleDefinition"),
    "keyvault.hsm_delete_role_definition": op("keyvault-data", EMPTY, H + "RoleDefinition"),
    "keyvault.hsm_list_assignments": op("keyvault-data", EMPTY, "page:" + H + "RoleAssignment"),
    "keyvault.hsm_get_assignment": op("keyvault-data", EMPTY, H + "RoleAssignment"),
    "keyvault.hsm_put_assignment": op("keyvault-data", H + "RoleAssignmentCreateParameters", H + "RoleAssignment"),
    "keyvault.hsm_delete_assignment": op("keyvault-data", EMPTY, H + "RoleAssignment"),
    # ---- recoveryservices.py: vaults (Microsoft.RecoveryServices vaults API)
    "recoveryservices.get_vault": op("vaults", EMPTY, V + "Vault"),
    "recoveryservices.put_vault": op("vaults", V + "Vault", V + "Vault"),
    "recoveryservices.patch_vault": op("vaults", V + "PatchVault", V + "Vault"),
    "recoveryservices.delete_vault": op("vaults", EMPTY, EMPTY),
    "recoveryservices.get_vault_op_status": op("vaults", EMPTY, V + "OperationResource"),
    "recoveryservices.get_vault_op_result": op("vaults", EMPTY, V + "Vault"),
    "recoveryservices.list_vaults_rg": op("vaults", EMPTY, "page:" + V + "Vault"),
    "recoveryservices.list_vaults_sub": op("vaults", EMPTY, "page:" + V + "Vault"),
    # ---- recoveryservices.py: backup (Microsoft.RecoveryServices backup API)
    "recoveryservices.get_storage_config": op("backup", EMPTY, B + "BackupResourceConfigResource"),
    "recoveryservices.put_storage_config": op("backup", B + "BackupResourceConfigResource", B + "BackupResourceConfigResource"),
    "recoveryservices.patch_storage_config": op("backup", B + "BackupResourceConfigResource", EMPTY),
    "recoveryservices.get_vault_config": op("backup", EMPTY, B + "BackupResourceVaultConfigResource"),
    "recoveryservices.update_vault_config": op("backup", B + "BackupResourceVaultConfigResource",
                                               B + "BackupResourceVaultConfigResource"),
    "recoveryservices.list_resource_guard_proxies": op("backup", EMPTY, "page:" + B + "ResourceGuardProxyBaseResource"),
    "recoveryservices.get_resource_guard_proxy": op("backup", EMPTY, B + "ResourceGuardProxyBaseResource"),
    "recoveryservices.put_resource_guard_proxy": op("backup", B + "ResourceGuardProxyBaseResource",
                                                    B + "ResourceGuardProxyBaseResource"),
    "recoveryservices.get_policy": op("backup", EMPTY, B + "ProtectionPolicyResource"),
    "recoveryservices.put_policy": op("backup", B + "ProtectionPolicyResource", B + "ProtectionPolicyResource"),
    "recoveryservices.delete_policy": op("backup", EMPTY, EMPTY),
    "recoveryservices.list_policies": op("backup", EMPTY, "page:" + B + "ProtectionPolicyResource"),
    "recoveryservices.get_policy_op_result": op("backup", EMPTY, B + "ProtectionPolicyResource"),
    "recoveryservices.get_policy_op_status": op("backup", EMPTY, B + "OperationStatus"),
    "recoveryservices.refresh_containers": op("backup", EMPTY, EMPTY),
    "recoveryservices.get_refresh_result": op("backup", EMPTY, EMPTY),
    "recoveryservices.get_refresh_status": op("backup", EMPTY, B + "OperationStatus"),
    "recoveryservices.list_protectable": op("backup", EMPTY, "page:" + B + "WorkloadProtectableItemResource"),
    "recoveryservices.list_containers": op("backup", EMPTY, "page:" + B + "ProtectionContainerResource"),
    "recoveryservices.get_container": op("backup", EMPTY, B + "ProtectionContainerResource"),
    "recoveryservices.list_jobs": op("backup", EMPTY, "page:" + B + "JobResource"),
    "recoveryservices.get_job": op("backup", EMPTY, B + "JobResource"),
    "recoveryservices.cancel_job": op("backup", EMPTY, EMPTY),
    "recoveryservices.get_job_op_result": op("backup", EMPTY, EMPTY),
    "recoveryservices.put_item": op("backup", B + "ProtectedItemResource", B + "ProtectedItemResource"),
    "recoveryservices.get_item": op("backup", EMPTY, B + "ProtectedItemResource"),
    "recoveryservices.delete_item": op("backup", EMPTY, EMPTY),
    "recoveryservices.get_item_op_status": op("backup", EMPTY, B + "OperationStatus"),
    "recoveryservices.get_item_op_result": op("backup", EMPTY, B + "ProtectedItemResource"),
    "recoveryservices.get_backup_op_status": op("backup", EMPTY, B + "OperationStatus"),
    "recoveryservices.get_backup_op_result": op("backup", EMPTY, EMPTY),
    "recoveryservices.list_items": op("backup", EMPTY, "page:" + B + "ProtectedItemResource"),
    "recoveryservices.trigger_backup": op("backup", B + "BackupRequestResource", EMPTY),
    "recoveryservices.list_points": op("backup", EMPTY, "page:" + B + "RecoveryPointResource"),
    "recoveryservices.get_point": op("backup", EMPTY, B + "RecoveryPointResource"),
    "recoveryservices.trigger_restore": op("backup", B + "RestoreRequestResource", EMPTY),
    "recoveryservices.backup_status": op("backup", B + "BackupStatusRequest", B + "BackupStatusResponse"),
    "recoveryservices.get_storage": op("storage", exempt=NO_STORAGE_SDK),
    "recoveryservices.list_storage_rg": op("storage", exempt=NO_STORAGE_SDK),
    "recoveryservices.list_storage_sub": op("storage", exempt=NO_STORAGE_SDK),
    # ---- azurelocal.py
    "azurelocal.get_custom_location": op("extendedlocation", exempt=NO_HCI_SDK),
    "azurelocal.list_custom_locations": op("extendedlocation", exempt=NO_HCI_SDK),
    "azurelocal.get_machine": op("hybridcompute", exempt=NO_HCI_SDK),
    "azurelocal.list_machines": op("hybridcompute", exempt=NO_HCI_SDK),
    "azurelocal.get_image": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.list_images": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.get_vmi": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.list_vmi": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.put_vmi": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.patch_vmi": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.delete_vmi": op("hci", exempt=NO_HCI_SDK),
    "azurelocal.get_operation_status": op("hci", exempt=ARM_ASYNC),
    "azurelocal.get_operation_result": op("hci", exempt=ARM_ASYNC),
    # ---- entra.py
    "entra.instance_discovery": op("login", exempt=LOGIN),
    "entra.openid_configuration": op("login", exempt=LOGIN),
    "entra.openid_configuration_v1": op("login", exempt=LOGIN),
    "entra.user_realm": op("login", exempt=LOGIN),
    "entra.token": op("login", exempt=LOGIN),
    "entra.list_service_principals": op("graph", exempt=NO_GRAPH_SDK),
    "entra.get_service_principal_by_app_id": op("graph", exempt=NO_GRAPH_SDK),
    "entra.get_service_principal": op("graph", exempt=NO_GRAPH_SDK),
    "entra.get_by_ids": op("graph", exempt=NO_GRAPH_SDK),
}


def operation_key(fn) -> str:
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def lookup(fn, match: dict) -> Op | None:
    """The declaration of a route handler for this request's path groups; None when it has none."""
    entry = OPERATIONS.get(operation_key(fn))
    if isinstance(entry, tuple) and not isinstance(entry, Op):
        group, cases = entry
        return cases.get((match.get(group) or "").lower())
    return entry
