"""Replay a recording (AZURE_CVM_BACKUP_RECORD_DIR) against the local Azure and report each difference in status code
and body structure (keys and JSON types, not values).

    python tests/replay_recording.py RECORD_DIR [--scenario demo] [--param k=v ...]

Starts a fresh local Azure with the scenario, signs in as the scenario's default principal and sends the recorded
requests in order. Ids the service makes up (operation ids, job ids, recovery point names) are learned from each pair
of answers and substituted into later requests. Polls are compared by phase: a recorded "still running" answer is
skipped, a recorded final answer is polled for until the local Azure is final too, and any read is repeated while
it shows more still running than the recording did. Exit code 1 when there are
differences. See tests/azure_sim/README.md, "Comparing with your Azure subscription".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from urllib.parse import urlsplit

RUNNING = {"inprogress", "accepted", "running", "registering", "unregistering", "deleting", "cancelling", "updating",
           "creating", "notstarted"}
POLL_PATH = re.compile(r"/(operationResults|operationStatus(es)?|operationsStatus|operations|backupOperations|"
                       r"backupOperationResults)/[^/]+$", re.I)
TOKENS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b\d{9,}\b", re.I)
SCOPES = {"management.azure.com": "https://management.azure.com/.default", "graph.microsoft.com": "https://graph.microsoft.com/.default"}


def load(folder: str) -> list[dict]:
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    out = []
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            record = json.load(handle)
        record["file"] = name
        out.append(record)
    return out


def jtype(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


def structure_diff(recorded, replayed, path: str = "$") -> list[str]:
    """Differences in keys and JSON types. Lists compare the union of their items' keys when both have items; null
    against a value is not a difference (Azure leaves optional fields null or out)."""
    if recorded is None or replayed is None:
        return []
    if jtype(recorded) != jtype(replayed):
        return [f"{path}: {jtype(recorded)} recorded, {jtype(replayed)} replayed"]
    problems = []
    if isinstance(recorded, dict):
        for key in sorted(set(recorded) | set(replayed)):
            if key not in replayed:
                problems.append(f"{path}.{key}: missing in the replay")
            elif key not in recorded:
                problems.append(f"{path}.{key}: only in the replay")
            else:
                problems.extend(structure_diff(recorded[key], replayed[key], f"{path}.{key}"))
    elif isinstance(recorded, list) and recorded and replayed:
        problems.extend(structure_diff(merged(recorded), merged(replayed), f"{path}[]"))
    return problems


def merged(items: list):
    """One representative of a list: the union of its objects' keys (first value wins), else its first item."""
    if not all(isinstance(i, dict) for i in items):
        return items[0]
    out: dict = {}
    for item in items:
        for key, value in item.items():
            if out.get(key) is None:
                out[key] = value
    return out


def running(status: int, body) -> bool:
    if status == 202:
        return True
    if isinstance(body, dict):
        for holder in (body, body.get("properties") or {}):
            if str(holder.get("status", "")).lower() in RUNNING or str(holder.get("state", "")).lower() in RUNNING:
                return True
    return False


def running_count(body) -> int:
    """How many things an answer shows still running (statuses anywhere in it, e.g. the jobs of a list)."""
    if isinstance(body, dict):
        own = sum(1 for key in ("status", "state") if str(body.get(key, "")).lower() in RUNNING)
        return own + sum(running_count(v) for v in body.values() if isinstance(v, (dict, list)))
    if isinstance(body, list):
        return sum(running_count(v) for v in body)
    return 0


def learn(recorded, replayed, ids: dict):
    """Pair the made-up ids (GUIDs, long numbers) of two answers at the same places."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in recorded.keys() & replayed.keys():
            learn(recorded[key], replayed[key], ids)
    elif isinstance(recorded, list) and isinstance(replayed, list):
        for old, new in zip(recorded, replayed):
            learn(old, new, ids)
    elif isinstance(recorded, str) and isinstance(replayed, str) and recorded != replayed:
        old, new = TOKENS.findall(recorded), TOKENS.findall(replayed)
        if len(old) == len(new):
            for a, b in zip(old, new):
                if a != b and not a.startswith("0000"):
                    ids[a.lower()] = b


def substitute(text: str, ids: dict) -> str:
    return TOKENS.sub(lambda m: ids.get(m.group(0).lower(), m.group(0)), text) if ids else text


class Replayer:
    def __init__(self, env: dict):
        import requests  # pylint: disable=import-outside-toplevel
        from azure.identity import ClientSecretCredential  # pylint: disable=import-outside-toplevel

        self.session = requests.Session()
        self.session.proxies = {"https": env["HTTPS_PROXY"]}
        self.session.verify = env["REQUESTS_CA_BUNDLE"]
        os.environ.update(env)
        self.credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"])
        self.tokens: dict = {}

    def token(self, host: str) -> str:
        scope = SCOPES.get(host) or ("https://managedhsm.azure.net/.default" if host.endswith(".managedhsm.azure.net")
                                     else "https://vault.azure.net/.default")
        if scope not in self.tokens:
            self.tokens[scope] = self.credential.get_token(scope).token
        return self.tokens[scope]

    def send(self, record: dict, ids: dict):
        url = substitute(record["url"], ids)
        headers = {"Content-Type": "application/json"}
        if any(k.lower() == "authorization" for k in record["request"]["headers"]):
            headers["Authorization"] = f"Bearer {self.token(urlsplit(url).hostname)}"
        body = record["request"]["body"]
        data = substitute(json.dumps(body), ids).encode() if body is not None else None
        answer = self.session.request(record["method"], url, data=data, headers=headers, timeout=60)
        try:
            parsed = answer.json() if answer.content else None
        except ValueError:
            parsed = answer.text
        return answer.status_code, parsed, dict(answer.headers)


def replay(records: list[dict], replayer: Replayer, wait: float = 60.0) -> list[str]:
    ids: dict = {}
    differences = []
    for number, record in enumerate(records, 1):
        want = record["response"]
        is_poll = record["method"] == "GET" and (POLL_PATH.search(urlsplit(record["url"]).path) or want["status"] == 202
                                                 or running(want["status"], want["body"]))
        if is_poll and running(want["status"], want["body"]):
            continue  # a "still running" answer: its count depends on timing
        deadline = time.monotonic() + wait
        while True:  # a read is repeated until the local Azure is as far as Azure was (timing is not compared)
            status, body, headers = replayer.send(record, ids)
            behind = (is_poll and running(status, body)) or (
                record["method"] == "GET" and running_count(body) > running_count(want["body"]))
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        where = f"{number:04d} {record['method']} {urlsplit(record['url']).path}"
        if status != want["status"]:
            differences.append(f"{where}: status {want['status']} recorded, {status} replayed")
            continue
        for problem in structure_diff(want["body"], body):
            differences.append(f"{where}: {problem}")
        for name in ("Location", "Azure-AsyncOperation"):
            old = next((v for k, v in want["headers"].items() if k.lower() == name.lower()), None)
            new = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
            if (old is None) != (new is None):
                differences.append(f"{where}: header {name} {'recorded only' if old else 'replayed only'}")
            elif old and new:
                learn(old, new, ids)
        learn(want["body"], body, ids)
    return differences


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("folder")
    parser.add_argument("--scenario", default="demo")
    parser.add_argument("--param", action="append", default=[], help="k=v, as for python -m tests.azure_sim")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.azure_sim.server import SimServer  # pylint: disable=import-outside-toplevel

    params = dict(p.split("=", 1) for p in args.param)
    records = load(args.folder)
    with SimServer(args.scenario, params=params) as server:
        differences = replay(records, Replayer(server.env))
    for line in differences:
        print(line)
    print(f"{len(records)} recorded exchanges, {len(differences)} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
