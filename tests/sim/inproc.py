"""Call the local Azure in-process (no proxy, no TLS): for family tests and the conformance tests.

    sim = new_sim("demo")
    resp = call(sim, "GET", "https://management.azure.com/subscriptions/.../virtualMachines/x?api-version=2025-04-01")
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import yaml

from tests.azure_sim.framework import Request, Response, Sim

SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "azure_sim", "scenarios")
# The public Azure REST API spec examples the conformance tests replay (copied unmodified into the repository).
SPEC_EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "azure_sim", "spec_examples")
AUDIENCE = {
    "management.azure.com": "https://management.azure.com",
    "graph.microsoft.com": "https://graph.microsoft.com",
}


def load_scenario(name: str) -> dict:
    with open(os.path.join(SCENARIOS, f"{name}.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def new_sim(name: str = "demo", **params) -> Sim:
    return Sim(load_scenario(name), params)


def token_for(sim: Sim, host: str, principal: dict | None = None) -> str:
    """A bearer token the local Azure accepts, for the scenario's default principal unless one is given."""
    principal = principal or sim.default_principal
    if host.endswith(".vault.azure.net"):
        aud = "https://vault.azure.net"
    elif host.endswith(".managedhsm.azure.net"):
        aud = "https://managedhsm.azure.net"
    else:
        aud = AUDIENCE.get(host, f"https://{host}")
    claims = {"aud": aud, "tid": sim.tenant_id, "oid": principal["object_id"], "appid": principal["app_id"],
              "sub": principal["object_id"], "idtyp": "app"}
    if host == "graph.microsoft.com" and principal.get("graph_permissions"):
        claims["roles"] = list(principal["graph_permissions"])  # as the token endpoint issues them (entra.py)
    return sim.tokens.issue(claims)


def call(sim: Sim, method: str, url: str, body=None, principal: dict | None = None, headers: dict | None = None,
         auth: bool = True) -> Response:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    hdrs = dict(headers or {})
    if auth and not parts.hostname.startswith("login."):
        hdrs.setdefault("Authorization", f"Bearer {token_for(sim, parts.hostname, principal)}")
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    if raw:
        hdrs.setdefault("Content-Type", "application/json")
    return sim.handle(Request(method, parts.hostname, target, hdrs, raw))


def structure_diff(expected, actual, path: str = "$") -> list[str]:
    """Keys of `expected` (a spec example body) missing from `actual`, recursively; lists compare their first item.
    Values are not compared: only the JSON key structure and the container types."""
    problems = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(structure_diff(value, actual[key], f"{path}.{key}"))
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        if expected and actual:
            problems.extend(structure_diff(expected[0], actual[0], f"{path}[0]"))
    return problems
