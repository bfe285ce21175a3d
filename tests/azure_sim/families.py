"""Imports every resource family so that its routes and seeders register on the framework."""

from . import entra  # noqa: F401  login.microsoftonline.com + graph.microsoft.com
from . import resources  # noqa: F401  Microsoft.Features, providers, subscriptions, resource groups
from . import compute  # noqa: F401  VMs, disks, disk encryption sets, snapshots
from . import keyvault  # noqa: F401  Microsoft.KeyVault vaults + managedHSMs, vault/HSM data plane, Microsoft.Authorization
from . import recoveryservices  # noqa: F401  vaults, policies, protection, jobs, recovery points, restore; storage accounts
from . import azurelocal  # noqa: F401  Microsoft.AzureStackHCI, HybridCompute machines, ExtendedLocation
