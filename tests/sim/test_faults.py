"""Faults of the local Azure (throttling, 5xx, dropped connections, latency, write budget) as SDK clients see them."""

from __future__ import annotations

import pytest
import requests
from azure.core import PipelineClient
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential

BMS = "262044b1-e2ce-469f-a196-69ab7ada62d3"
SP_PATH = f"/v1.0/servicePrincipals(appId='{BMS}')"
GRAPH_ONLY = {"host": r"^graph\.microsoft\.com$"}


def graph_client(sim, retries: int = 3) -> PipelineClient:
    env = sim.env
    credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"])
    policies = [RetryPolicy(retry_total=retries, retry_backoff_factor=0.01),
                BearerTokenCredentialPolicy(credential, "https://graph.microsoft.com/.default")]
    return PipelineClient("https://graph.microsoft.com", policies=policies, transport=RequestsTransport())


def get_sp(client):
    return client.send_request(HttpRequest("GET", f"https://graph.microsoft.com{SP_PATH}"))


def graph_log(sim) -> list[tuple]:
    return [(r["status"], r["fault"]) for r in sim.requests() if r["host"] == "graph.microsoft.com"]


def test_throttling_is_retried_by_the_sdk_and_logged(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "throttle", **GRAPH_ONLY, "count": 2, "retry_after": 0}]})
    response = get_sp(graph_client(azure_sim))
    assert response.status_code == 200
    assert graph_log(azure_sim) == [(429, "throttle"), (429, "throttle"), (200, None)]


def test_throttle_answer_has_retry_after_and_the_arm_body(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "throttle", "path": "^/subscriptions", "retry_after": 7}]})
    response = requests.get("https://management.azure.com/subscriptions?api-version=2022-12-01", timeout=10)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "TooManyRequests"


def test_server_busy_is_retried(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "error", **GRAPH_ONLY, "status": 503, "count": 1, "retry_after": 0}]})
    assert get_sp(graph_client(azure_sim)).status_code == 200
    assert graph_log(azure_sim) == [(503, "error"), (200, None)]


def test_internal_error_shape(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "error", "status": 500, "method": "^PUT$"}]})
    response = requests.put("https://management.azure.com/subscriptions/x/resourcegroups/y?api-version=2022-09-01",
                            json={}, timeout=10)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalServerError"


def test_dropped_connection_is_retried(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "drop", **GRAPH_ONLY, "count": 1}]})
    assert get_sp(graph_client(azure_sim)).status_code == 200
    assert graph_log(azure_sim) == [(None, "drop"), (200, None)]


def test_dropped_connection_without_retries_fails(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "drop", **GRAPH_ONLY}]})
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        get_sp(graph_client(azure_sim, retries=0))


def test_latency_rule_applies_to_matching_calls_only(azure_sim):
    azure_sim.set_faults({"rules": [{"kind": "latency", "path": r"servicePrincipals\(", "latency_ms": 30}]})
    client = graph_client(azure_sim)
    get_sp(client)
    client.send_request(HttpRequest("GET", "https://graph.microsoft.com/v1.0/servicePrincipals"))
    entries = {r["path"]: r for r in azure_sim.requests() if r["host"] == "graph.microsoft.com"}
    delayed, plain = entries[f"/v1.0/servicePrincipals(appId='{BMS}')"], entries["/v1.0/servicePrincipals"]
    assert (delayed["latency_ms"], plain["latency_ms"]) == (30, 0)
    assert delayed["duration_ms"] >= 30


def test_rates_are_seeded_and_repeatable(azure_sim):
    def run() -> list:
        azure_sim.set_faults({"seed": 7, "rules": [{"kind": "throttle", **GRAPH_ONLY, "rate": 0.5}]})
        with requests.Session() as session:  # no token: the fault decision comes before authentication
            return [session.get(f"https://graph.microsoft.com{SP_PATH}", timeout=10).status_code for attempt in range(12)]

    first, second = run(), run()
    assert first == second
    assert 429 in first and any(code != 429 for code in first)


def test_write_budget_counts_down_then_throttles(azure_sim):
    azure_sim.set_faults({"write_budget": {"capacity": 2, "refill_per_second": 0}})
    url = "https://management.azure.com/subscriptions/x/resourcegroups/y?api-version=2022-09-01"
    with requests.Session() as session:
        answers = [session.put(url, json={"location": "koreacentral"}, timeout=10) for attempt in range(3)]
        read = session.get(url, timeout=10)
    assert [a.headers.get("x-ms-ratelimit-remaining-subscription-writes") for a in answers] == ["1", "0", "0"]
    assert answers[2].status_code == 429
    assert answers[2].json()["error"]["code"] == "TooManyRequests"
    assert read.status_code != 429  # reads are not writes
    assert [r["fault"] for r in azure_sim.requests() if r["method"] == "PUT"] == [None, None, "write_budget"]


def test_invalid_fault_sets_are_refused(azure_sim):
    for body in ({"rules": [{"kind": "explode"}]}, {"rules": [{"kind": "drop", "colour": "red"}]}, {"latency": 5},
                 {"rules": [{"kind": "drop", "path": "("}]}):
        response = requests.post(f"{azure_sim.admin_url}/faults", json=body, timeout=10)
        assert response.status_code == 400, body
        assert response.json()["error"]
