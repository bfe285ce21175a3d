"""How many requests per second the local Azure answers through its proxy with zero latency (keep-alive sessions).

    python -m bench.sim_throughput [--requests 3000] [--sessions 1,2,4]

A 500-VM fleet run must not be bound by the local Azure: the aim is at least 300 requests per second.
Every request is a real HTTPS GET through the proxy (TLS, routing, auth, the request log), on a few
`requests.Session`s that keep their connection alive, as the SDKs do.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import requests

from tests.azure_sim.server import SimServer

TARGET_RPS = 300
URLS = {
    "graph": "https://graph.microsoft.com/v1.0/servicePrincipals(appId='262044b1-e2ce-469f-a196-69ab7ada62d3')",
    "arm": "https://management.azure.com/subscriptions/{sub}/resourceGroups?api-version=2022-09-01",
}


def token(server: SimServer, scope: str) -> str:
    env = server.env
    data = {"grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"], "client_secret": env["AZURE_SECRET"],
            "scope": scope}
    response = requests.post(f"https://login.microsoftonline.com/{env['AZURE_TENANT']}/oauth2/v2.0/token", data=data, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def hammer(url: str, headers: dict, count: int, statuses: list):
    with requests.Session() as session:
        for attempt in range(count):
            statuses.append(session.get(url, headers=headers, timeout=30).status_code)


def measure(url: str, headers: dict, total: int, sessions: int) -> tuple[float, dict]:
    statuses: list[int] = []
    per = max(1, total // sessions)
    threads = [threading.Thread(target=hammer, args=(url, headers, per, statuses)) for session in range(sessions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    counts: dict = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return len(statuses) / elapsed, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="GETs per row (bounded: at most 20000)")
    parser.add_argument("--sessions", default="1,2,4", help="comma list of concurrent keep-alive sessions")
    args = parser.parse_args(argv)
    total = max(1, min(args.requests, 20000))
    with SimServer("demo") as server:
        os.environ.update(server.env)
        sub = server.env["AZURE_SUBSCRIPTION_ID"]
        auth = {"graph": token(server, "https://graph.microsoft.com/.default"),
                "arm": token(server, "https://management.azure.com/.default")}
        print(f"local Azure throughput, zero latency, {total} GETs per row (aim: >= {TARGET_RPS} req/s)")
        print(f"{'endpoint':<8} {'sessions':>8} {'req/s':>9}  statuses")
        slowest = float("inf")
        for name, url in URLS.items():
            headers = {"Authorization": f"Bearer {auth[name]}"}
            for sessions in (int(s) for s in args.sessions.split(",") if s.strip()):
                rps, counts = measure(url.format(sub=sub), headers, total, sessions)
                print(f"{name:<8} {sessions:>8} {rps:>9.0f}  {counts}")
                slowest = min(slowest, rps)
        print(f"slowest row: {slowest:.0f} req/s — {'meets' if slowest >= TARGET_RPS else 'BELOW'} the aim of {TARGET_RPS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
