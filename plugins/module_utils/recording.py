# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opt-in recording of every HTTP exchange of the modules' Azure clients, redacted, one JSON file per exchange.

Set AZURE_CVM_BACKUP_RECORD_DIR to a folder: each request a module's SDK client or raw REST call sends, with the answer
it got, is written there as NNNNNN-<pid>-<n>.json. Bearer tokens, cookies, client secrets, passwords, key material
(JWK fields, key backups, secret values) and principal/object ids are replaced before anything is written, so a
recording made against a real subscription can be shared and replayed against the local Azure
(tests/replay_recording.py) to compare status codes and body structure.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from urllib.parse import urlsplit

RECORD_ENV = "AZURE_CVM_BACKUP_RECORD_DIR"
REDACTED = "<redacted>"
REDACTED_ID = "00000000-0000-0000-0000-000000000000"  # keeps a GUID-shaped field a valid GUID for replay

SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-ms-authorization-auxiliary", "proxy-authorization"}
SECRET_KEYS = {"access_token", "refresh_token", "id_token", "client_secret", "client_assertion", "password",
               "adminpassword", "secret", "keybackupdata", "token"}
PRINCIPAL_KEYS = {"principalid", "objectid", "object_id", "oid", "principal_id", "assigneeobjectid", "createdby", "updatedby",
                  "initialadminobjectids", "clientid", "federatedclientid"}
JWK_PRIVATE = {"n", "e", "d", "p", "q", "dp", "dq", "qi", "k", "x", "y", "t", "key_hsm"}
SECRET_QUERY = {"sig", "code", "client_secret", "access_token", "skoid", "sktid"}
DATA_PLANE = re.compile(r"\.(vault|managedhsm)\.azure\.net$", re.I)
GRAPH = re.compile(r"^graph\.", re.I)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
PRINCIPAL_IN_TEXT = re.compile(r"((?:principalId|objectId|assignedTo\(|oid=)\s*(?:eq\s*)?'?)(" + GUID.pattern + ")", re.I)

_SEQ = itertools.count(1)
_LOCK = threading.Lock()


def redact(value, host: str = "", key: str = ""):
    """A copy of a JSON value with secrets, key material and principal ids replaced (recursively)."""
    low = key.lower()
    if isinstance(value, dict):
        jwk = "kty" in value
        out = {}
        for k, v in value.items():
            if jwk and k in JWK_PRIVATE:
                out[k] = REDACTED
            else:
                out[k] = redact(v, host, k)
        return out
    if isinstance(value, list):
        return [redact(v, host, key) for v in value]
    if not isinstance(value, str):
        return value
    if low in SECRET_KEYS:
        return REDACTED
    if low in PRINCIPAL_KEYS or (GRAPH.search(host) and low == "id"):  # Graph object ids are principal ids
        return REDACTED_ID if GUID.fullmatch(value) else REDACTED
    if low == "value" and DATA_PLANE.search(host):  # secret values and key backup blobs
        return REDACTED
    return redact_text(value)


def redact_text(text: str) -> str:
    """Principal ids inside filters and messages ("principalId eq '...'", "oid=...")."""
    text = PRINCIPAL_IN_TEXT.sub(lambda m: m.group(1) + REDACTED_ID, text)
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+", r"\1" + REDACTED, text)


def redact_url(url: str, host: str) -> str:
    base, sep, query = url.partition("?")
    if GRAPH.search(host):  # /servicePrincipals/{object id}
        base = re.sub(r"(?i)(/(?:servicePrincipals|users|groups|directoryObjects)/)(" + GUID.pattern + ")",
                      lambda m: m.group(1) + REDACTED_ID, base)
    parts = []
    for part in query.split("&") if query else []:
        name = part.split("=", 1)[0]
        parts.append(f"{name}={REDACTED}" if name.lower() in SECRET_QUERY else redact_text(part))
    return base + (sep + "&".join(parts) if sep else "")


def redact_headers(headers, host: str) -> dict:
    out = {}
    for name, value in dict(headers or {}).items():
        low = name.lower()
        if low in SECRET_HEADERS:
            out[name] = value.split(" ", 1)[0] + " " + REDACTED if low == "authorization" and " " in value else REDACTED
        else:
            out[name] = redact_text(str(value))
    return out


def body_of(content, host: str):
    if content in (None, b"", ""):
        return None
    if isinstance(content, (bytes, bytearray)):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            return REDACTED
    if not isinstance(content, str):
        return REDACTED  # a stream or a file: never written
    try:
        return redact(json.loads(content), host)
    except ValueError:
        if ("=" in content and "&" in content) or content.startswith(("grant_type", "client_id")):
            return REDACTED  # a form body (token requests carry secrets)
        return redact_text(content)


def exchange(request, response) -> dict:
    """The redacted record of one request (azure-core HttpRequest) and its response."""
    host = urlsplit(request.url).hostname or ""
    try:
        request_body = request.content if request.content is not None else request.data
    except AttributeError:
        request_body = getattr(request, "body", None)
    try:
        response_body = response.text()
    except Exception:  # pylint: disable=broad-except  # a streamed or binary answer
        response_body = None
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": request.method,
            "url": redact_url(request.url, host),
            "request": {"headers": redact_headers(request.headers, host), "body": body_of(request_body, host)},
            "response": {"status": response.status_code, "headers": redact_headers(response.headers, host),
                         "body": body_of(response_body, host)}}


def write(folder: str, record: dict):
    with _LOCK:
        seq = next(_SEQ)
    name = f"{time.time_ns() // 1000:016d}-{os.getpid()}-{seq:05d}.json"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def recording_policies(environ=None) -> list:
    """[a pipeline policy that records every exchange] when AZURE_CVM_BACKUP_RECORD_DIR is set, else []."""
    folder = (environ if environ is not None else os.environ).get(RECORD_ENV)
    if not folder:
        return []
    from azure.core.pipeline.policies import SansIOHTTPPolicy  # pylint: disable=import-outside-toplevel

    class RecordingPolicy(SansIOHTTPPolicy):
        def on_response(self, request, response):
            try:
                write(folder, exchange(request.http_request, response.http_response))
            except Exception:  # pylint: disable=broad-except  # recording must never break a module run
                pass

    return [RecordingPolicy()]
