"""Benchmark: the inventory plugin azure_cvm.backup.confidential_vms on a large estate.

    python -m bench.inventory [--vms 5000] [--subscriptions 10] [--latency-ms 80] [--cmk-every 10]

The local Azure's fleet scenario spread over several subscriptions (5 resource groups and 2 regions each, a vault per
region, every `cmk_every`-th VM with a customer-managed key in its region's Managed HSM), each request delayed by
`latency_ms`. One `ansible-inventory --list` over every subscription the credential sees (Subscriptions List): wall
time, requests to Azure by method (sign-in apart), hosts, and peak memory of the process (wait4) and of its tree
(sampled). Benchmarks measure, they do not pass or fail: the target is printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench.fleet import TreeSampler
from tests.azure_sim.server import SimServer
from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env

TARGET_SECONDS = 60
CONFIG = """plugin: azure_cvm.backup.confidential_vms
keyed_groups:
  - {key: region, prefix: region}
  - {key: verdict, prefix: verdict}
  - {key: key_kind, prefix: key}
  - {key: subscription_id, prefix: subscription}
"""


def run_inventory(server: SimServer) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-inventory-") as tmp:
        path = os.path.join(tmp, "bench.confidential_vms.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(CONFIG)
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", path, "--list"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd=REPO_ROOT,  # pylint: disable=consider-using-with
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        output, errors = proc.communicate()
        wall = time.perf_counter() - started
        sampler.stopped.set()
    # the largest resident size of a waited-for child of this process (ansible-inventory: the only one)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    log = server.requests()
    azure = [r for r in log if r["host"] != SIGN_IN_HOST]
    hosts = len(json.loads(output)["_meta"]["hostvars"]) if proc.returncode == 0 else 0
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "hosts": hosts, "requests": len(azure),
            "sign_ins": len(log) - len(azure), "by_method": dict(sorted(Counter(r["method"] for r in azure).items())),
            "by_call": dict(Counter(call_of(r["path"]) for r in azure).most_common()),
            "peak_process_mb": round(peak_kb / 1024), "peak_tree_mb": round(sampler.peak_kb / 1024),
            "error": errors.decode(errors="replace")[-2000:] if proc.returncode else ""}


def call_of(path: str) -> str:
    """The listed type of a request path, without ids: Microsoft.Compute/virtualMachines, .../backupProtectedItems."""
    tail = path.split("?")[0].rsplit("/providers/", 1)[-1] if "/providers/" in path else path.split("?")[0]
    parts = tail.split("/")
    return parts[-1] if len(parts) > 2 else tail


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--cmk-every", type=int, default=10, help="every N-th VM uses a CMK in a Managed HSM (0: none)")
    args = parser.parse_args(argv)
    params = {"vms": args.vms, "subscriptions": args.subscriptions, "cmk_every": args.cmk_every, "data_disks": 0}
    scenario = {**params, "resource_groups": 5, "regions": 2, "latency_ms": args.latency_ms, "cpus": os.cpu_count(),
                "python": sys.version.split()[0]}
    print(f"ansible-inventory --list (azure_cvm.backup.confidential_vms) on the fleet scenario: {scenario}", flush=True)
    with SimServer("fleet", params) as server:
        server.set_faults({"latency_ms": args.latency_ms})
        server.clear_requests()
        row = run_inventory(server)
    if row["rc"]:
        print(f"ansible-inventory failed (exit {row['rc']}):\n{row['error']}", file=sys.stderr)
    m = row["by_method"]
    print("| VMs | subscriptions | wall s | hosts | requests | GET | POST | sign-ins | peak MB (proc/tree) | target |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.vms} | {args.subscriptions} | {row['wall_s']} | {row['hosts']} | {row['requests']} | {m.get('GET', 0)} | "
          f"{m.get('POST', 0)} | {row['sign_ins']} | {row['peak_process_mb']} / {row['peak_tree_mb']} | <= {TARGET_SECONDS} s |")
    print("requests per call: " + ", ".join(f"{k} {v}" for k, v in row["by_call"].items()))
    return {"benchmark": "inventory plugin on the fleet scenario", "scenario": scenario,
            "run": {k: v for k, v in row.items() if k != "error"}}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
