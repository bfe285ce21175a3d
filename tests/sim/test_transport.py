"""The local Azure on the wire: a real HTTPS proxy that real clients (requests, azure-identity, azure-core) use
with its CA, serves only the Azure hosts, and never opens a connection anywhere else."""

from __future__ import annotations

import ipaddress
import socket

import pytest
import requests
from azure.core import PipelineClient
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential

from tests.sim_helpers import token_claims as claims_of

ARM_SCOPE = "https://management.azure.com/.default"
UNSERVED_ARM_PATH = "https://management.azure.com/providers/Microsoft.LocalAzureTest/nothing?api-version=2024-01-01"


def credential(sim) -> ClientSecretCredential:
    env = sim.env
    return ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"])


def arm_client(sim) -> PipelineClient:
    policies = [RetryPolicy(retry_total=0), BearerTokenCredentialPolicy(credential(sim), ARM_SCOPE)]
    return PipelineClient("https://management.azure.com", policies=policies, transport=RequestsTransport())


def raw_proxy_exchange(sim, data: bytes) -> bytes:
    """Send bytes to the proxy port and read its answer until it closes the connection (or 64 KiB)."""
    with socket.create_connection(sim.address, timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while sum(map(len, chunks)) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_environment_names_the_proxy_ca_and_default_principal(azure_sim):
    env = azure_sim.env
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{azure_sim.port}"
    assert env["REQUESTS_CA_BUNDLE"].endswith("ca.pem")
    principal = azure_sim.sim.default_principal
    assert (env["AZURE_CLIENT_ID"], env["AZURE_SECRET"]) == (principal["app_id"], principal["secret"])
    assert env["AZURE_TENANT"] == azure_sim.sim.tenant_id
    assert env["AZURE_SUBSCRIPTION_ID"] == azure_sim.scenario["subscriptions"][0]["id"]
    assert "management.azure.com" not in env["NO_PROXY"]


def test_sdk_sign_in_through_the_proxy_carries_the_callers_object_id(azure_sim):
    token = credential(azure_sim).get_token(ARM_SCOPE)
    claims = claims_of(token.token)
    assert claims["oid"] == azure_sim.sim.default_principal["object_id"]
    assert claims["aud"] == "https://management.azure.com"
    log = azure_sim.requests()
    assert [(r["host"], r["method"]) for r in log][-1] == ("login.microsoftonline.com", "POST")
    assert log[-1]["principal"] == claims["oid"]


def test_arm_call_through_an_sdk_pipeline_gets_the_arm_error_shape(azure_sim):
    response = arm_client(azure_sim).send_request(HttpRequest("GET", UNSERVED_ARM_PATH))
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.headers["x-ms-request-id"]
    error = response.json()["error"]
    assert error["code"] and error["message"]
    entry = azure_sim.requests()[-1]
    assert (entry["host"], entry["path"], entry["status"]) == ("management.azure.com", "/providers/Microsoft.LocalAzureTest/nothing", 404)
    assert entry["principal"] == azure_sim.sim.default_principal["object_id"]


def test_arm_without_a_token_is_401(azure_sim):
    response = requests.get(UNSERVED_ARM_PATH, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


def test_unknown_host_is_refused_with_a_clear_error(azure_sim):
    with pytest.raises(requests.exceptions.ProxyError, match="403"):
        requests.get("https://example.com/", timeout=10)
    answer = raw_proxy_exchange(azure_sim, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"never connects elsewhere" in answer
    assert azure_sim.requests()[-1]["method"] == "CONNECT"


def test_plain_http_proxy_requests_are_refused(azure_sim):
    answer = raw_proxy_exchange(azure_sim, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"never connects elsewhere" in answer


def test_lookalike_hosts_are_not_served(azure_sim):
    for host in ("management.azure.com.evil.example", "x.vault.azure.net.example.org", "login.microsoftonline.com:443.example"):
        answer = raw_proxy_exchange(azure_sim, f"CONNECT {host}:443 HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 "), host


def test_vault_hosts_get_a_certificate_for_their_own_name(azure_sim):
    # no family answers here in this test: the TLS handshake and a routed answer are what counts
    response = requests.get("https://kv-any-name.vault.azure.net/keys?api-version=7.4", timeout=10)
    assert response.status_code in (401, 403, 404)


def test_chunked_request_bodies_are_read(azure_sim):
    env = azure_sim.env
    form = f"grant_type=client_credentials&client_id={env['AZURE_CLIENT_ID']}&client_secret={env['AZURE_SECRET']}&scope={ARM_SCOPE}"
    body = (part.encode() for part in (form[:20], form[20:]))  # a generator: requests sends it chunked
    response = requests.post(f"https://login.microsoftonline.com/{env['AZURE_TENANT']}/oauth2/v2.0/token", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_no_connection_leaves_the_machine(azure_sim, monkeypatch):
    attempts = []

    def outside(host) -> bool:
        if host in ("localhost",):
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True  # a name that is not localhost

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and outside(address[0]):
            attempts.append(("connect", address))
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and outside(host if isinstance(host, str) else host.decode()):
            attempts.append(("getaddrinfo", host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    credential(azure_sim).get_token(ARM_SCOPE)
    arm_client(azure_sim).send_request(HttpRequest("GET", UNSERVED_ARM_PATH))
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", timeout=10)
    raw_proxy_exchange(azure_sim, b"CONNECT 93.184.215.14:443 HTTP/1.1\r\n\r\n")
    raw_proxy_exchange(azure_sim, b"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n")

    assert attempts == []
    assert [r["status"] for r in azure_sim.requests() if r["method"] == "CONNECT"] == [403, 403]


def test_listens_on_loopback_only(azure_sim):
    host, port = azure_sim.address
    assert host == "127.0.0.1"
    assert port == azure_sim.port
