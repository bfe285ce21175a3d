"""Imports every resource family so that its routes and seeders register on the framework."""

import importlib

FAMILIES = (
    "entra",  # login.microsoftonline.com + graph.microsoft.com
    "resources",  # Microsoft.Features, providers, subscriptions, resource groups
    "compute",  # VMs, disks, disk encryption sets, snapshots
    "keyvault",  # Microsoft.KeyVault vaults + managedHSMs, vault/HSM data plane, Microsoft.Authorization
    "recoveryservices",  # vaults, policies, protection, jobs, recovery points, restore; storage accounts
    "azurelocal",  # Microsoft.AzureStackHCI, HybridCompute machines, ExtendedLocation
)

for family in FAMILIES:
    importlib.import_module(f"{__package__}.{family}")
