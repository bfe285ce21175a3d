# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one thin base of every module: auth, lazily created SDK clients, error translation, retries, waiting.

A module:

    def run(m):                       # m is the AzureCvmModule
        feature = m.client("features").features.get(ns, name)
        ...
        return {"changed": True, "state": ...}

    def main():
        AzureCvmModule(argument_spec=..., supports_check_mode=True).execute(run)

Raise ModuleFailure(msg, **extra) (module_utils/errors) anywhere to fail; Azure exceptions are turned into a
readable message by `execute`, or explicitly with `m.azure_failure(exc, action, resource, hint)` where a better
sentence is known. `m.read(fn, what, where)` is a GET that may answer 404 (None), `m.read_all` a paged list. Waiting:
`m.wait` (a poll until a condition, module_utils/waiting), `m.arm_lro` / `m.arm_wait` (ARM long-running operations
through azure-core's ARM polling), waiting.wait_poller (SDK pollers) and waiting.poll_in_rounds (fleets).
"""

from __future__ import annotations

import importlib
import os
import shutil
import threading

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.auth import (
    AZURE_CLI_CLIENT_ID, AUTH_SOURCES, CLOUDS, SECRET_FIELDS, AuthError, resolve_auth)
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure, describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.names import check_params
from ansible_collections.azure_cvm.backup.plugins.module_utils.recording import recording_policies
from ansible_collections.azure_cvm.backup.plugins.module_utils.regions import check_regions
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import wait_for, wait_poller

AUTH_ARGSPEC = {
    "auth_source": {"type": "str", "choices": list(AUTH_SOURCES)},
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "ad_user": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "client_certificate_path": {"type": "path", "aliases": ["x509_certificate_path"]},
    "client_certificate_password": {"type": "str", "no_log": True},
    "profile": {"type": "str"},
    "cloud_environment": {"type": "str"},
}

# name -> (python module, class, pip package). Imported only when a module asks for the client.
SDK_CLIENTS = {
    "compute": ("azure.mgmt.compute", "ComputeManagementClient", "azure-mgmt-compute"),
    "keyvault": ("azure.mgmt.keyvault", "KeyVaultManagementClient", "azure-mgmt-keyvault"),
    "recoveryservices": ("azure.mgmt.recoveryservices", "RecoveryServicesClient", "azure-mgmt-recoveryservices"),
    "backup": ("azure.mgmt.recoveryservicesbackup", "RecoveryServicesBackupClient", "azure-mgmt-recoveryservicesbackup"),
    "features": ("azure.mgmt.resource.features", "FeatureClient", "azure-mgmt-resource-features"),
    "resources": ("azure.mgmt.resource.resources", "ResourceManagementClient", "azure-mgmt-resource"),
    "authorization": ("azure.mgmt.authorization", "AuthorizationManagementClient", "azure-mgmt-authorization"),
}

# Retries on 429, 5xx and dropped connections, honouring Retry-After (azure-core's RetryPolicy), for every client.
RETRY = {"retry_total": 8, "retry_backoff_factor": 0.5, "retry_backoff_max": 30, "retry_mode": "exponential"}
RETRIED_STATUS = (408, 429, 500, 502, 503, 504)
POLLING_INTERVAL = 2  # seconds
TERMINAL_FAILED = ("failed", "canceled", "cancelled")
USER_AGENT = "ansible-azure_cvm.backup"
# The smallest value of the numeric options that several modules share, checked before any request (issue 17 item 4):
# a wait of 0 or less would fail after the write was sent; a VM with no processors or memory is refused by Azure.
MINIMUM = {"timeout": 1, "settle_seconds": 0, "processors": 1, "memory_mb": 1}


def import_sdk(module_name: str, package: str):
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ModuleFailure(f"The Python package '{package}' is required on the host that runs this module "
                            f"({exc}). Install it with: pip install '{package}' (or pip install -r "
                            "requirements.txt of the azure_cvm.backup collection).") from exc


def rest_dict(model):
    """An SDK model as its REST (camelCase) JSON, read-only fields included. Plain dicts pass through."""
    if model is None or isinstance(model, dict):
        return model
    if hasattr(model, "serialize"):  # autorest (msrest) models
        return model.serialize(keep_readonly=True)
    if hasattr(model, "as_dict"):  # TypeSpec models (azure-mgmt-compute 34+): already REST-keyed
        return model.as_dict()
    return dict(model)


def answer(response):
    """(status, json or None, headers) of an azure-core HTTP response."""
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = None
    return response.status_code, data, dict(response.headers)


class RetryCounter:
    """Counts what the retry policy will retry: throttled/5xx answers and dropped connections (for the result), and
    every request sent to Azure, each attempt once (backup_posture_info returns it)."""

    def __init__(self):
        self.retries = 0
        self.requests = 0

    def policy(self):
        from azure.core.pipeline.policies import SansIOHTTPPolicy  # pylint: disable=import-outside-toplevel

        counter = self

        class _Policy(SansIOHTTPPolicy):
            def on_request(self, request):
                counter.requests += 1

            def on_response(self, request, response):
                if response.http_response.status_code in RETRIED_STATUS:
                    counter.retries += 1

            def on_exception(self, request):
                counter.retries += 1
                return False

        return _Policy()


class AzureCvmModule:
    """AnsibleModule plus what every azure_cvm.backup module needs. See the module docstring for the pattern."""

    def __init__(self, argument_spec: dict, supports_check_mode: bool = True, names: dict | None = None, **kwargs):
        """names: {option: kind of name (module_utils/names.RULES)} for every option that becomes part of a request
        path; checked with the shared numeric minimums (MINIMUM) before anything else runs. A "region" option is
        checked here by form only, then once per run, before `run`, against the subscription's list (module_utils/regions)."""
        spec = dict(AUTH_ARGSPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self._region_options = [option for option, kind in (names or {}).items() if kind == "region"]
        problem = check_params(self.params, {"subscription_id": "subscription", **(names or {})}) \
            or self._below_minimum(argument_spec)
        if problem:
            self.module.fail_json(msg=problem)
        self.check_mode = self.module.check_mode
        self.diff_mode = self.module._diff
        self.retry_counter = RetryCounter()
        self._auth = None
        self._clients = {}
        self._lock = threading.RLock()
        self._secrets = [self.params.get(k) for k in SECRET_FIELDS if self.params.get(k)]

    def _below_minimum(self, argument_spec: dict) -> str | None:
        for option, least in MINIMUM.items():
            value = self.params.get(option) if option in argument_spec else None
            if value is not None and value < least:
                return f"{option} must be {least} or more, got {value}."
        return None

    # ------------------------------------------------------------------ auth

    @property
    def auth(self) -> dict:
        if self._auth is None:
            try:
                self._auth = resolve_auth(self.params, os.environ, cli_available=bool(shutil.which("az")))
            except AuthError as exc:
                raise ModuleFailure(str(exc)) from exc
            for key in SECRET_FIELDS:  # secrets from the environment or a file are masked like no_log options
                if self._auth.get(key):
                    self._secrets.append(self._auth[key])
                    self.module.no_log_values.add(self._auth[key])
        return self._auth

    @property
    def cloud(self) -> dict:
        return CLOUDS[self.auth["cloud"]]

    @property
    def subscription_id(self) -> str:
        sub = self.params.get("subscription_id") or self.auth.get("subscription_id")
        if not sub:
            raise ModuleFailure("No subscription id: set subscription_id or AZURE_SUBSCRIPTION_ID.")
        why = check_params({"subscription id": sub}, {"subscription id": "subscription"})
        if why:
            raise ModuleFailure(why)
        return sub

    def _cached(self, key: str, make):
        """One object per key, made once even when fleet code asks from several threads at the same time."""
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make()
            return self._clients[key]

    @property
    def credential(self):
        return self._cached("credential", self._make_credential)

    def _make_credential(self):
        identity = import_sdk("azure.identity", "azure-identity")
        a = self.auth
        common = {"authority": self.cloud["login"]}
        kind = a["kind"]
        if kind == "client_secret":
            return identity.ClientSecretCredential(a["tenant"], a["client_id"], a["secret"], **common)
        if kind == "client_certificate":
            return identity.CertificateCredential(a["tenant"], a["client_id"], certificate_path=a["client_certificate_path"],
                                                  password=a.get("client_certificate_password"), **common)
        if kind == "user_password":
            return identity.UsernamePasswordCredential(
                a.get("client_id") or AZURE_CLI_CLIENT_ID, a["ad_user"], a["password"], tenant_id=a.get("tenant"), **common)
        if kind == "workload_identity":
            return identity.WorkloadIdentityCredential(
                tenant_id=a["tenant"], client_id=a["client_id"], token_file_path=a["federated_token_file"], **common)
        if kind == "cli":
            return identity.AzureCliCredential(tenant_id=a.get("tenant"))
        if kind == "msi":
            return identity.ManagedIdentityCredential(client_id=a.get("client_id"))
        raise ModuleFailure("Incomplete credentials: give client_id, secret and tenant, or ad_user and password.")

    # ------------------------------------------------------------------ clients

    def client_kwargs(self) -> dict:
        return {**RETRY, "user_agent": USER_AGENT, "per_retry_policies": [self.retry_counter.policy(), *recording_policies()]}

    def client(self, name: str):
        """An ARM SDK client by short name (see SDK_CLIENTS), created once."""
        def make():
            module_name, class_name, package = SDK_CLIENTS[name]
            cls = getattr(import_sdk(module_name, package), class_name)
            arm = self.cloud["arm"]
            # SDK pollers wait polling_interval between polls when Azure sends no Retry-After (default: 30 s)
            return cls(self.credential, self.subscription_id, base_url=arm, credential_scopes=[arm + "/.default"],
                       polling_interval=POLLING_INTERVAL, **self.client_kwargs())
        return self._cached(name, make)

    def hsm_access_control(self, hsm_uri: str):
        """Managed HSM local RBAC client (Key Vault challenge auth; the SDK checks the challenge's resource)."""
        def make():
            admin = import_sdk("azure.keyvault.administration", "azure-keyvault-administration")
            return admin.KeyVaultAccessControlClient(hsm_uri, self.credential, **self.client_kwargs())
        return self._cached("hsm:" + hsm_uri.lower(), make)

    def _pipeline(self, scope: str):
        def make():
            core = import_sdk("azure.core", "azure-core")
            policies = import_sdk("azure.core.pipeline.policies", "azure-core")
            return core.PipelineClient(base_url="", policies=[
                # RequestIdPolicy: x-ms-client-request-id, which azure-core's pollers re-send while polling
                policies.RequestIdPolicy(), policies.HeadersPolicy(), policies.UserAgentPolicy(USER_AGENT),
                policies.RetryPolicy(**RETRY),
                self.retry_counter.policy(), policies.BearerTokenCredentialPolicy(self.credential, scope),
                *recording_policies(), policies.NetworkTraceLoggingPolicy()])
        return self._cached("pipeline:" + scope, make)

    def rest(self, method: str, url: str, scope: str, api_version: str | None = None, body=None, ok=(200, 201, 202, 204)):
        """A REST call with retries and a bearer token for `scope`. Returns (status, json or None, headers).

        Raises azure-core's HttpResponseError for an unexpected status, so `execute` reports it like SDK errors.
        """
        return answer(self._send(method, url, scope, api_version, body, ok).http_response)

    def _send(self, method: str, url: str, scope: str, api_version: str | None, body, ok):
        """The azure-core PipelineResponse of one call (what azure-core's pollers start from)."""
        rest = import_sdk("azure.core.rest", "azure-core")
        exceptions = import_sdk("azure.core.exceptions", "azure-core")
        params = {"api-version": api_version} if api_version else None
        request = rest.HttpRequest(method, url, params=params, json=body)
        response = self._pipeline(scope).send_request(request, _return_pipeline_response=True)
        if response.http_response.status_code not in ok:
            raise exceptions.HttpResponseError(response=response.http_response)
        return response

    def arm(self, method: str, path: str, api_version: str, body=None, ok=(200, 201, 202, 204)):
        """A raw ARM call for resources without an SDK in our requirements (e.g. Azure Local)."""
        return self.rest(method, self._arm_url(path), self.cloud["arm"] + "/.default", api_version, body, ok)

    def rest_list(self, url: str, scope: str, api_version: str) -> list:
        """Every item of a raw list ({value, nextLink}: an ARM list or a data-plane one such as a key store's keys),
        one GET a page through azure-core's ItemPaged. The first GET carries `api_version`, each nextLink its own (Azure
        puts it in the link); an absent or empty nextLink ends the list. The only pager of raw lists; raises as m.rest."""
        paging = import_sdk("azure.core.paging", "azure-core")

        def page(next_link):
            return self.rest("GET", next_link or url, scope, None if next_link else api_version, ok=(200,))[1] or {}

        return list(paging.ItemPaged(page, lambda body: (body.get("nextLink") or None, body.get("value") or [])))

    def arm_list(self, path: str, api_version: str) -> list:
        """Every item of a raw ARM list (m.rest_list on the ARM endpoint); raises as m.arm."""
        return self.rest_list(self._arm_url(path), self.cloud["arm"] + "/.default", api_version)

    def _arm_url(self, path: str) -> str:
        return path if path.startswith("https://") else self.cloud["arm"] + path

    def arm_lro(self, method: str, path: str, api_version: str, what: str, timeout: float, body=None,
                ok=(200, 201, 202, 204), wait: bool = True, final_state_via: str = "azure-async-operation"):
        """A raw ARM call that may start a long-running operation, followed (when `wait`) by `arm_wait`.

        Returns (status, json or None, headers) of the last answer: the resource read back after a PUT/PATCH, the
        operation's last status after a DELETE/POST (or the first answer when nothing was followed)."""
        initial = self._send(method, self._arm_url(path), self.cloud["arm"] + "/.default", api_version, body, ok)
        if not wait:
            return answer(initial.http_response)
        return self.arm_wait(initial, what, timeout, final_state_via)

    def arm_wait(self, initial, what: str, timeout: float, final_state_via: str = "azure-async-operation"):
        """Follow the ARM long-running operation that `initial` (an azure-core PipelineResponse: from m.arm_lro, or an
        SDK call made with polling=False and cls returning the pipeline response) started, with azure-core's ARM
        polling (azure.mgmt.core ARMPolling: Azure-AsyncOperation first, then Location, then the body's
        provisioningState; Retry-After honoured; the final GET the spec's final-state-via asks for).

        Returns (status, json or None, headers) of the last answer ((None, None, {}) when it had no body). A Failed or Canceled operation fails the module
        with the operation's own error; WaitTimeout (waiting.wait_poller) when `timeout` seconds pass first."""
        exceptions = import_sdk("azure.core.exceptions", "azure-core")
        polling_mod = import_sdk("azure.core.polling", "azure-core")
        arm_polling = import_sdk("azure.mgmt.core.polling.arm_polling", "azure-mgmt-core")
        polling = arm_polling.ARMPolling(POLLING_INTERVAL, lro_options={"final-state-via": final_state_via})
        poller = polling_mod.LROPoller(self._pipeline(self.cloud["arm"] + "/.default"), initial,
                                       lambda response: answer(response.http_response), polling)
        try:
            # azure-core hands back None when the last answer has no body (a DELETE's final 204)
            return wait_poller(poller, what, timeout) or (None, None, {})
        except exceptions.HttpResponseError as exc:
            if str(polling.status()).lower() not in TERMINAL_FAILED:
                raise
            body = answer(exc.response)[1] if exc.response is not None else None
            error = (body or {}).get("error") or {}
            code = f" (error code {error['code']})" if error.get("code") else ""
            raise ModuleFailure(f"Azure ended the wait for {what} with status {polling.status()}: "
                                f"{(error.get('message') or 'no message').rstrip('.')}{code}.",
                                error_code=error.get("code"), operation=body) from exc

    def graph_get(self, path: str, params: str = ""):
        """GET on Microsoft Graph v1.0, e.g. graph_get("/servicePrincipals", "$filter=appId eq '...'")."""
        graph = self.cloud["graph"]
        url = f"{graph}/v1.0{path}" + (f"?{params}" if params else "")
        return self.rest("GET", url, graph + "/.default", ok=(200,))[1]

    # ------------------------------------------------------------------ reads

    def read(self, fn, what: str, where: str | None = None):
        """fn()'s REST dict, or None when Azure answers 404; any other error fails the module with a sentence
        ("Could not read {what} ({where}): ..."). fn is an SDK get or an m.arm GET (pass its body)."""
        try:
            return rest_dict(fn())
        except Exception as exc:  # pylint: disable=broad-except  # azure-core errors, duck-typed
            if getattr(exc, "status_code", None) == 404:
                return None
            self.azure_failure(exc, f"read {what}", where)

    def read_all(self, fn, what: str, where: str | None = None) -> list:
        """Every item of fn() (a paged SDK list, followed through nextLink) as REST dicts; errors as in read."""
        try:
            return [rest_dict(x) for x in fn()]
        except Exception as exc:  # pylint: disable=broad-except
            self.azure_failure(exc, f"list {what}", where)

    # ------------------------------------------------------------------ flow

    def wait(self, what: str, poll, done, timeout: float, interval: float = 2.0):
        return wait_for(what, poll, done, timeout, interval)

    def warn(self, msg: str):
        self.module.warn(msg)

    def azure_failure(self, exc, action: str, resource: str | None = None, hint: str | None = None, plane: str = "arm"):
        """Raise a ModuleFailure with the readable form of an azure-core/azure-identity exception."""
        raise ModuleFailure(**describe_error(exc, action, resource, hint, plane, self._secrets)) from exc

    def execute(self, run):
        """Run `run(self)` and exit with its result dict, or fail with a readable message (never a traceback)."""
        try:
            check_regions(self, self._region_options)
            result = run(self) or {}
        except ModuleFailure as exc:
            self.module.fail_json(**self._with_retries({**exc.extra, "msg": exc.msg}))
        except Exception as exc:  # pylint: disable=broad-except  # Azure errors, and last-resort safety
            if type(exc).__module__.startswith("azure."):
                self.module.fail_json(**self._with_retries(
                    describe_error(exc, "complete the request", None, None, "arm", self._secrets)))
            self.module.fail_json(**self._with_retries({"msg": f"Unexpected error ({type(exc).__name__}): {exc}"}))
        result.setdefault("changed", False)
        self.module.exit_json(**self._with_retries(result))

    def _with_retries(self, result: dict) -> dict:
        out = dict(result)
        if self.retry_counter.retries:
            out.setdefault("retries", self.retry_counter.retries)
        return out
