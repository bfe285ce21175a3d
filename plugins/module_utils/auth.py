# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the credentials come from: pure rules over module parameters, the environment and ~/.azure/credentials.

No SDK import here, so the rules are unit-tested without Azure. `base.py` turns the result into an azure-identity
credential.
"""

from __future__ import annotations

import configparser
import os

CLOUDS = {
    "AzureCloud": {
        "arm": "https://management.azure.com",
        "login": "login.microsoftonline.com",
        "graph": "https://graph.microsoft.com",
        "vault_suffix": "vault.azure.net",
        "hsm_suffix": "managedhsm.azure.net",
    },
    "AzureUSGovernment": {
        "arm": "https://management.usgovcloudapi.net",
        "login": "login.microsoftonline.us",
        "graph": "https://graph.microsoft.us",
        "vault_suffix": "vault.usgovcloudapi.net",
        "hsm_suffix": "managedhsm.usgovcloudapi.net",
    },
    "AzureChinaCloud": {
        "arm": "https://management.chinacloudapi.cn",
        "login": "login.chinacloudapi.cn",
        "graph": "https://microsoftgraph.chinacloudapi.cn",
        "vault_suffix": "vault.azure.cn",
        "hsm_suffix": "managedhsm.azure.cn",
    },
}
# Names used by azure.azcollection, msrestazure and the az CLI for the same clouds.
CLOUD_ALIASES = {
    "azurecloud": "AzureCloud",
    "azurepubliccloud": "AzureCloud",
    "public": "AzureCloud",
    "azureusgovernment": "AzureUSGovernment",
    "azureusgovernmentcloud": "AzureUSGovernment",
    "azurechinacloud": "AzureChinaCloud",
}
AUTH_SOURCES = ("auto", "env", "credential_file", "cli", "msi", "workload_identity")
# The az CLI's public client id: the default for username/password sign-in (as azure.azcollection does).
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

# Environment names: the AWX/AAP "Microsoft Azure Resource Manager" credential and azure.azcollection first,
# then the azure-identity names.
ENV_NAMES = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "ad_user": ("AZURE_AD_USER", "AZURE_USERNAME"),
    "password": ("AZURE_PASSWORD",),
    "federated_token_file": ("AZURE_FEDERATED_TOKEN_FILE",),
    # azure-identity's EnvironmentCredential names for a service principal with a certificate
    "client_certificate_path": ("AZURE_CLIENT_CERTIFICATE_PATH",),
    "client_certificate_password": ("AZURE_CLIENT_CERTIFICATE_PASSWORD",),
}
CREDENTIAL_FIELDS = tuple(ENV_NAMES)
SECRET_FIELDS = ("secret", "password", "client_certificate_password")
# azure.azcollection: "If not specified, ANSIBLE_AZURE_AUTH_SOURCE environment variable will be used and default to
# auto if variable is not defined" (azure_rm_common / doc_fragments/azure.py, auth_source).
AUTH_SOURCE_ENV = "ANSIBLE_AZURE_AUTH_SOURCE"


class AuthError(Exception):
    """The credentials cannot be worked out from what was given."""


def canonical_cloud(name: str | None) -> str:
    key = (name or "AzureCloud").replace(" ", "").lower()
    if key not in CLOUD_ALIASES:
        raise AuthError(f"Unknown cloud_environment '{name}'. Use one of: {', '.join(CLOUDS)}.")
    return CLOUD_ALIASES[key]


def from_env(env) -> dict:
    out = {}
    for field, names in ENV_NAMES.items():
        for name in names:
            if env.get(name):
                out[field] = env[name]
                break
    return out


def credentials_file_path(env) -> str:
    return os.path.expanduser(env.get("AZURE_CREDENTIALS_FILE") or "~/.azure/credentials")


def from_credentials_file(path: str, profile: str) -> dict:
    """A profile of ~/.azure/credentials (the INI file azure.azcollection reads)."""
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise AuthError(f"auth_source=credential_file: the file {path} does not exist or cannot be read.")
    if not parser.has_section(profile):
        raise AuthError(f"auth_source=credential_file: {path} has no profile [{profile}] "
                        f"(profiles: {', '.join(parser.sections()) or 'none'}).")
    return {k: v for k, v in parser.items(profile) if k in CREDENTIAL_FIELDS + ("cloud_environment",) and v}


def kind_of(values: dict) -> str | None:
    """Which sign-in the given values allow, or None."""
    if values.get("client_id") and values.get("secret") and values.get("tenant"):
        return "client_secret"
    if values.get("client_id") and values.get("client_certificate_path") and values.get("tenant"):
        return "client_certificate"
    if values.get("ad_user") and values.get("password"):
        return "user_password"
    if values.get("client_id") and values.get("tenant") and values.get("federated_token_file"):
        return "workload_identity"
    return None


def resolve_auth(params: dict, env, file_reader=from_credentials_file, cli_available=None) -> dict:
    """Decide how to sign in. Explicit module parameters win over the chosen source.

    Returns {kind, cloud, subscription_id, client_id, secret, tenant, ad_user, password, federated_token_file, source}
    where kind is client_secret | client_certificate | user_password | workload_identity | cli | msi.
    The source is the auth_source parameter, else ANSIBLE_AZURE_AUTH_SOURCE, else auto (as azure.azcollection).
    """
    source = params.get("auth_source") or env.get(AUTH_SOURCE_ENV) or "auto"
    if source not in AUTH_SOURCES:
        raise AuthError(f"{AUTH_SOURCE_ENV}={source} is not an auth source; use one of: {', '.join(AUTH_SOURCES)}.")
    explicit = {k: params.get(k) for k in CREDENTIAL_FIELDS if params.get(k)}
    profile = params.get("profile") or env.get("AZURE_PROFILE") or "default"
    cloud_name = params.get("cloud_environment") or env.get("AZURE_CLOUD_ENVIRONMENT")

    def settle(values: dict, kind: str | None, origin: str) -> dict:
        merged = {**values, **explicit}
        kind = kind_of(merged) if kind is None else kind
        return {**{k: None for k in CREDENTIAL_FIELDS}, **merged, "kind": kind, "source": origin,
                "cloud": canonical_cloud(cloud_name or values.get("cloud_environment"))}

    if source == "env":
        values = from_env(env)
        if not kind_of({**values, **explicit}):
            raise AuthError("auth_source=env, but the environment has no complete credentials: set AZURE_CLIENT_ID, "
                            "AZURE_SECRET and AZURE_TENANT (service principal; AZURE_CLIENT_CERTIFICATE_PATH instead of "
                            "AZURE_SECRET for a certificate), or AZURE_AD_USER and AZURE_PASSWORD, "
                            "or AZURE_CLIENT_ID, AZURE_TENANT and AZURE_FEDERATED_TOKEN_FILE (workload identity).")
        return settle(values, None, "env")
    if source == "credential_file":
        values = file_reader(credentials_file_path(env), profile)
        if not kind_of({**values, **explicit}):
            raise AuthError(f"auth_source=credential_file: profile [{profile}] needs client_id, secret and tenant, "
                            "or ad_user and password.")
        return settle(values, None, "credential_file")
    if source == "workload_identity":
        values = from_env(env)
        merged = {**values, **explicit}
        missing = [k for k in ("client_id", "tenant", "federated_token_file") if not merged.get(k)]
        if missing:
            raise AuthError("auth_source=workload_identity needs " + ", ".join(missing) +
                            " (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE).")
        return settle(values, "workload_identity", "workload_identity")
    if source == "cli":
        return settle({"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}, "cli", "cli")
    if source == "msi":
        return settle({"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}, "msi", "msi")

    # auto: module parameters, then the environment, then ~/.azure/credentials, then the az CLI, then a managed identity
    if kind_of(explicit):
        return settle({"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}, None, "parameters")
    values = from_env(env)
    if kind_of({**values, **explicit}):
        return settle(values, None, "env")
    path = credentials_file_path(env)
    if os.path.exists(path):
        values = file_reader(path, profile)
        if kind_of({**values, **explicit}):
            return settle(values, None, "credential_file")
    if cli_available:
        return settle({"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}, "cli", "cli")
    if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
        return settle({"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}, "msi", "msi")
    raise AuthError("No Azure credentials found. Set AZURE_CLIENT_ID, AZURE_SECRET and AZURE_TENANT (the AWX/AAP Azure "
                    "credential does this; AZURE_CLIENT_CERTIFICATE_PATH for a certificate), or pass client_id/secret/tenant "
                    "(or client_certificate_path), or use auth_source=cli|msi|"
                    "workload_identity|credential_file.")
