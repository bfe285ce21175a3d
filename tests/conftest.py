"""Fixtures for tests that talk to the local Azure over the wire (helpers for them: tests/sim_helpers.py).

- `sim_server`: one SimServer on the demo scenario per test session (per xdist worker).
- `azure_sim`: that server reset for one test (state back to the scenario, log and faults cleared), with its
  environment (HTTPS_PROXY, REQUESTS_CA_BUNDLE, AZURE_*) set in os.environ for in-process SDK calls.
- `sim_server_factory(scenario, **params)`: a server per distinct (scenario, params), started once per session and
  reset on every call; e.g. `sim_server_factory("fleet", vms=50)`.
The server modules are imported inside the fixtures so that tests which do not use them never load them.
"""

from __future__ import annotations

import pytest


def _start(scenario: str, params: dict | None = None):
    from tests.azure_sim.server import SimServer
    return SimServer(scenario, params).start()


@pytest.fixture(scope="session")
def sim_server():
    server = _start("demo")
    yield server
    server.stop()


def _use(server, monkeypatch):
    server.reset()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    return server


def _no_violations(servers):
    """A response the local Azure sent that broke its SDK model (framework.strict_response) fails the test."""
    found = []
    for server in servers:
        found.extend(server.sim.violations)
        server.sim.violations.clear()  # reported once, by the test that caused it
    if found:
        pytest.fail("the local Azure answered outside its SDK models: " + " | ".join(found[:5]), pytrace=False)


@pytest.fixture
def azure_sim(sim_server, monkeypatch):
    yield _use(sim_server, monkeypatch)
    _no_violations([sim_server])


@pytest.fixture(scope="session")
def _sim_servers():
    servers: dict = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def sim_server_factory(_sim_servers, monkeypatch):
    def factory(scenario: str = "demo", **params):
        key = (scenario, tuple(sorted((k, str(v)) for k, v in params.items())))
        if key not in _sim_servers:
            _sim_servers[key] = _start(scenario, {k: str(v) for k, v in params.items()})
        return _use(_sim_servers[key], monkeypatch)
    yield factory
    _no_violations(_sim_servers.values())


def _cpu_seconds() -> float:
    import resource
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """AZURE_CVM_TEST_CPU_LOG=<file>: one line per test with the CPU seconds it cost (this process, the local Azure's
    threads in it, and the ansible-playbook children it waited for) and its wall seconds; to find what makes `make test`
    slow on 2 cores, where CPU, not waiting, is the limit."""
    import os
    import time
    path = os.environ.get("AZURE_CVM_TEST_CPU_LOG")
    if not path:
        yield
        return
    cpu, wall = _cpu_seconds(), time.monotonic()
    yield
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{_cpu_seconds() - cpu:8.2f} {time.monotonic() - wall:8.2f} {item.nodeid}\n")
