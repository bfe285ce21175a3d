"""An azure-core transport that hands every request to an in-process `Sim` (no sockets, no TLS, no proxy).

    client = FeatureClient(credential, sub_id, transport=InProcTransport(sim))

It is the ordinary `RequestsTransport` over a `requests` session whose only adapter calls `sim.handle`, so the SDKs'
response handling (streaming, decoding, pollers, paging) is exactly what they do over the network. `transport.log`
records (method, url, status) of every call, for tests that count reads and writes.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from urllib3 import HTTPResponse

from tests.azure_sim.framework import Request, Sim
from tests.sim.inproc import token_for


class _SimAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, sim: Sim, log: list):
        super().__init__()
        self.sim = sim
        self.log = log

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # noqa: ARG002
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):  # a file-like body
            body = body.read()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.sim.handle(Request(request.method, parts.netloc, target, dict(request.headers), body))
        data = response.encode()
        headers = dict(response.headers)
        if data and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json; charset=utf-8"
        headers["Content-Length"] = str(len(data))
        self.log.append((request.method, request.url, response.status))
        raw = HTTPResponse(body=io.BytesIO(data), headers=headers, status=response.status, preload_content=False,
                           decode_content=False, request_method=request.method, request_url=request.url)
        return self.build_response(request, raw)


class InProcTransport(RequestsTransport):
    """RequestsTransport whose session never leaves the process."""

    def __init__(self, sim: Sim):
        self.log: list[tuple[str, str, int]] = []
        session = requests.Session()
        session.trust_env = False
        session.mount("https://", _SimAdapter(sim, self.log))
        session.mount("http://", _SimAdapter(sim, self.log))
        super().__init__(session=session, session_owner=True, use_env_settings=False)


class SimCredential:
    """A TokenCredential issuing the local Azure's tokens for whatever scope the SDK asks (and recording the asks)."""

    def __init__(self, sim: Sim, principal: dict | None = None):
        self.sim = sim
        self.principal = principal
        self.scopes: list[str] = []

    def get_token(self, *scopes, **kwargs) -> AccessToken:  # noqa: ARG002
        self.scopes.extend(scopes)
        resource = scopes[0].removesuffix("/.default")
        host = urlsplit(resource).hostname or resource
        if host in ("vault.azure.net", "managedhsm.azure.net"):
            host = "x." + host
        token = token_for(self.sim, host, self.principal)
        return AccessToken(token, 4102444800)

    def get_token_info(self, *scopes, options=None):  # noqa: ARG002
        from azure.core.credentials import AccessTokenInfo
        token = self.get_token(*scopes)
        return AccessTokenInfo(token.token, token.expires_on)
