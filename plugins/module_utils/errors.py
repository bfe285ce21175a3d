# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn Azure errors into one sentence a person can act on. Duck-typed on azure-core exceptions: no SDK import."""

from __future__ import annotations

import re

MASK = "********"

# What a 401/403 usually means, by where it came from.
DEFAULT_HINTS = {
    "arm": "the signed-in principal needs an Azure RBAC role that allows this action on the resource or its scope",
    "keyvault": "the signed-in principal needs a Key Vault access policy or Azure RBAC role for this data action",
    "managedhsm": "the signed-in principal needs a Managed HSM local RBAC role (e.g. 'Managed HSM Administrator' at scope '/' "
                  "to manage role assignments) for this data action",
    "graph": "the signed-in principal needs the Microsoft Graph application permission Application.Read.All",
}


class ModuleFailure(Exception):
    """Raised anywhere in a module run to end it with fail_json(msg, **extra)."""

    def __init__(self, msg: str, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


def mask(text: str, secrets) -> str:
    for secret in secrets:
        if secret and len(str(secret)) >= 4:
            text = text.replace(str(secret), MASK)
    return text


def _header(exc, name: str):
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        return headers.get(name)
    except AttributeError:
        return None


def _service_error(exc) -> tuple[str | None, str]:
    """(code, message) of the service's error body, whatever its shape (ARM, Key Vault, Graph, OAuth)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # pylint: disable=broad-except  # any non-JSON body
            body = None
        if isinstance(body, dict):
            inner = body.get("error")
            if isinstance(inner, dict):
                code, message = inner.get("code"), inner.get("message")
            elif isinstance(inner, str):  # OAuth: {"error": "invalid_client", "error_description": "AADSTS..."}
                code, message = inner, body.get("error_description")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    # azure-core prefixes "(Code) message\nCode: ...\nMessage: ..." — keep the first line of the real message.
    message = re.sub(r"^\(\w+\)\s*", "", str(message)).split("\nCode:")[0].strip()
    return code, message


def status_of(exc):
    """The HTTP status of an azure-core error (None for errors without a response)."""
    return getattr(exc, "status_code", None)


def service_error_code(exc):
    """The error code in the service's answer (ARM, Key Vault, Graph, OAuth), or None."""
    return _service_error(exc)[0]


TLS_WORDS = re.compile(r"CERTIFICATE_VERIFY_FAILED|SSLError|SSL: |certificate verify|TLS CA certificate bundle", re.I)
ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def describe_error(exc, action: str, resource: str | None = None, hint: str | None = None, plane: str = "arm",
                   secrets=()) -> dict:
    """fail_json keyword arguments for an azure-core/azure-identity exception.

    action: what was being done ("register feature X"); resource: on which resource; hint: what to do on 401/403.
    """
    status = getattr(exc, "status_code", None)
    code, message = _service_error(exc)
    message = ERRNO.sub("", message)  # '[Errno 111] Connection refused' -> 'Connection refused
    correlation = _header(exc, "x-ms-correlation-request-id")
    request_id = _header(exc, "x-ms-request-id") or _header(exc, "request-id")
    kind = type(exc).__name__
    where = f" on {resource}" if resource else ""

    if kind == "ClientAuthenticationError" and status is None:
        # azure-identity could not get a token: the message carries the AADSTS code
        text = f"Azure sign-in failed while trying to {action}: {message}"
        if "AADSTS7000215" in message or "invalid_client" in message:
            text += " Check the client secret (AZURE_SECRET or the AWX/AAP credential's secret)."
        elif "AADSTS700016" in message:
            text += " Check the client id (AZURE_CLIENT_ID) and that the application exists in the tenant."
        elif "AADSTS90002" in message:
            text += " Check the tenant id (AZURE_TENANT)."
    elif kind in ("ServiceRequestError", "ServiceResponseError") or (status is None and "Connection" in kind):
        text = f"Could not reach Azure while trying to {action}{where}: {message}. Check the network, the proxy " \
               "(HTTPS_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE)."
    else:
        text = f"Failed to {action}{where}: {message}"
        if code:
            text += f" (error code {code}"
            text += f", HTTP {status})" if status else ")"
        elif status:
            text += f" (HTTP {status})"
        if status in (401, 403):
            text += f". To fix: {hint or DEFAULT_HINTS.get(plane, DEFAULT_HINTS['arm'])}"
    if TLS_WORDS.search(message) and "REQUESTS_CA_BUNDLE" not in text:
        text = text.rstrip(".") + (". The TLS certificate could not be verified: set REQUESTS_CA_BUNDLE to the CA bundle "
                                   "that signs Azure's (or your proxy's, HTTPS_PROXY) certificates")
    if correlation:
        text += f". Correlation id: {correlation}"
    elif request_id:
        text += f". Request id: {request_id}"
    text = mask(text.rstrip(".") + ".", secrets)
    extra = {"status_code": status, "error_code": code, "correlation_id": correlation, "request_id": request_id}
    return {"msg": text, **{name: value for name, value in extra.items() if value}}
