# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Authentication and connection options shared by every module (argspec in module_utils/base.py)."""

    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the credentials come from. When not set, C(ANSIBLE_AZURE_AUTH_SOURCE) (as in azure.azcollection), else V(auto).
      - V(auto) uses the module options when they are complete, then the environment, then the profile of
        C(~/.azure/credentials), then the Azure CLI (when C(az) is installed), then a managed identity (when
        C(IDENTITY_ENDPOINT) or C(MSI_ENDPOINT) is set).
      - V(env) reads C(AZURE_CLIENT_ID), C(AZURE_SECRET) (or C(AZURE_CLIENT_SECRET)), C(AZURE_TENANT) (or
        C(AZURE_TENANT_ID)), C(AZURE_CLIENT_CERTIFICATE_PATH), C(AZURE_CLIENT_CERTIFICATE_PASSWORD), C(AZURE_AD_USER),
        C(AZURE_PASSWORD), C(AZURE_FEDERATED_TOKEN_FILE) and
        C(AZURE_SUBSCRIPTION_ID) — the names the AWX/AAP "Microsoft Azure Resource Manager" credential injects.
      - V(credential_file) reads the profile O(profile) of C(~/.azure/credentials) (or C(AZURE_CREDENTIALS_FILE)).
      - V(cli) uses the signed-in Azure CLI; V(msi) a managed identity; V(workload_identity) a federated token file.
    type: str
    choices: [auto, env, credential_file, cli, msi, workload_identity]
  subscription_id:
    description:
      - The subscription to work in. Defaults to C(AZURE_SUBSCRIPTION_ID) or the credential file's C(subscription_id).
    type: str
  client_id:
    description:
      - The application (client) id of a service principal or user-assigned managed identity.
        Defaults to C(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - The client secret of the service principal. Defaults to C(AZURE_SECRET) or C(AZURE_CLIENT_SECRET).
      - Never written to output, logs or diffs.
    type: str
  tenant:
    description:
      - The Entra ID tenant id. Defaults to C(AZURE_TENANT) or C(AZURE_TENANT_ID).
    type: str
  client_certificate_path:
    description:
      - For a service principal that signs in with a certificate instead of a secret (with O(client_id) and O(tenant)),
        the path of a PEM or PKCS12 file holding the certificate and its private key.
      - Defaults to C(AZURE_CLIENT_CERTIFICATE_PATH).
      - The alias is azure.azcollection's name for it (which also needs a thumbprint; this option does not).
    type: path
    aliases: [x509_certificate_path]
  client_certificate_password:
    description:
      - The password of the O(client_certificate_path) file, when it is encrypted. Defaults to
        C(AZURE_CLIENT_CERTIFICATE_PASSWORD). Never written to output, logs or diffs.
    type: str
  ad_user:
    description:
      - A user name for username/password sign-in (accounts without MFA only). Defaults to C(AZURE_AD_USER).
    type: str
  password:
    description:
      - The password of O(ad_user). Defaults to C(AZURE_PASSWORD). Never written to output, logs or diffs.
    type: str
  profile:
    description:
      - The profile of C(~/.azure/credentials) to use. Defaults to C(AZURE_PROFILE) or C(default).
    type: str
  cloud_environment:
    description:
      - The Azure cloud. One of V(AzureCloud), V(AzureUSGovernment), V(AzureChinaCloud).
      - Defaults to C(AZURE_CLOUD_ENVIRONMENT), else V(AzureCloud).
    type: str
notes:
  - Requests go through the standard C(HTTPS_PROXY) and trust the CA bundle in C(REQUESTS_CA_BUNDLE) when set.
    TLS verification is never switched off.
  - Throttled (429) and failed (5xx) requests and dropped connections are retried with exponential backoff, honouring
    C(Retry-After); the number of retries is returned as C(retries) when there were any.
requirements:
  - python >= 3.10
  - azure-identity >= 1.15.0
"""

    # The attributes of every _info module: it only reads, so check mode runs it fully and there is no diff.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing to compare.
"""

    # The Managed HSM a module works on (argspec: module_utils/key_access.py HSM_ARGSPEC).
    MANAGED_HSM = r"""
options:
  hsm:
    description:
      - The Managed HSM, by name (with O(resource_group), or alone to search the subscription) or by resource id.
      - Exactly one of O(hsm) and O(hsm_uri) is required.
    type: str
  resource_group:
    description: The resource group of the HSM named in O(hsm).
    type: str
  hsm_uri:
    description:
      - The HSM's URI, for example V(https://hsm-cvm-uae.managedhsm.azure.net/). No management-plane read is needed then.
    type: str
"""

    # The support-matrix options of the readiness checks (argspec: module_utils/readiness.py READINESS_ARGSPEC).
    READINESS = r"""
options:
  supported_regions:
    description:
      - The regions where Azure Backup supports confidential VMs, as ARM location names or display names
        (C(Korea Central) is the same as C(koreacentral)).
      - The default is the support matrix's list; later versions of the documentation add regions - extend it then.
    type: list
    elements: str
    default: [uaenorth, koreacentral]
  supported_size_families:
    description:
      - The VM size families Azure Backup supports for confidential VMs (the v6 CVM families), compared without case.
    type: list
    elements: str
    default: [DCasv6, DCadsv6, ECasv6, ECadsv6, DCesv6, DCedsv6, ECesv6, ECedsv6]
  des_disk_threshold:
    description:
      - The number of disks (plus snapshots taken outside Azure Backup) associated with one disk encryption set above
        which key rotation can be slow or fail. Above it the C(des_threshold) check warns.
    type: int
    default: 40
  blocking_features:
    description:
      - Preview features, as C(Namespace/FeatureName), whose registration on the subscription makes CVM backup and
        restore fail.
      - The support matrix says backup and restore fail when the "CVM v2 opt-out" feature flag is enabled, but the
        name of that flag is not documented, so the default is empty and the check is V(n/a). Add the name here once
        you know it; this collection does not invent one.
    type: list
    elements: str
    default: []
"""

    # Which listed VMs are left out before any other read: cvm_readiness_info (argspec: module_utils/readiness_vm.py)
    # and the confidential_vms inventory plugin (rules: module_utils/selection_rules.py).
    SELECTION = r"""
options:
  include_tags:
    description:
      - Only VMs whose tags match every entry. A value is a tag value, a list of accepted values, or null for "the tag
        is present with any value". Tag names compare without case, values with case (as Azure does).
    type: dict
    default: {}
  exclude_tags:
    description:
      - VMs whose tags match any entry are left out (same entry form as O(include_tags)).
    type: dict
    default: {}
  exclude_names:
    description:
      - VM names to leave out, as shell-style patterns (C(cvm-test-*)) of the VM name or of C(resource_group/name),
        compared without case.
    type: list
    elements: str
    default: []
  exclude_ids:
    description: VM resource ids to leave out, compared without case.
    type: list
    elements: str
    default: []
"""
