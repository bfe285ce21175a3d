"""Benchmark: protect_cvm.yml over the inventory plugin's hosts, in job slices (issue 19 item 4).

    python -m bench.protect_slices [--vms 5000] [--subscriptions 10] [--slices 4] [--latency-ms 80] [--lro-seconds 3]

The local Azure's fleet scenario over several subscriptions (as bench/inventory.py), each request delayed by
`latency_ms`. First the slices one after the other, each as AWX runs a slice (every N-th host of the inventory, here
through --limit), so each slice's requests can be counted apart; then a second run of all slices at once (nothing
left to protect: 0 writes expected). Per slice: hosts, wall time, requests to Azure by method, writes; and the peak
memory of each run. Benchmarks measure, they do not pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench.fleet import FLEET_VARS, TreeSampler
from bench.inventory import CONFIG
from tests.azure_sim.server import SimServer
from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
BIN = os.path.dirname(sys.executable)


def inventory_hosts(server: SimServer, config: str) -> list[str]:
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", config, "--list"], capture_output=True, text=True,
                          env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd=REPO_ROOT, check=True, timeout=900)
    return sorted(json.loads(proc.stdout)["_meta"]["hostvars"])


def start_slice(server: SimServer, config: str, limit_file: str) -> subprocess.Popen:
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", config, PLAYBOOK, "-e", FLEET_VARS, "-e", "cvm_hosts=all",
           "-e", "cvm_console=summary", "--limit", "@" + limit_file]
    return subprocess.Popen(cmd, env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd=REPO_ROOT,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def figures(log: list) -> dict:
    azure = [r for r in log if r["host"] != SIGN_IN_HOST]
    return {"requests": len(azure), "by_method": dict(sorted(Counter(r["method"] for r in azure).items())),
            "writes": len(writes(log))}


def run_slices(server: SimServer, config: str, limits: list[str], at_once: bool) -> list[dict]:
    rows = []
    procs = []
    for index, limit in enumerate(limits):
        seen = server.requests()
        since = seen[-1]["seq"] if seen else 0
        started = time.perf_counter()
        proc = start_slice(server, config, limit)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        procs.append((index, proc, sampler, started, since))
        if not at_once:
            rows.append(finish(server, *procs.pop(), per_slice=True))
    rows.extend(finish(server, *p, per_slice=False) for p in procs)
    return rows


def finish(server, index, proc, sampler, started, since, per_slice: bool) -> dict:
    output = proc.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - started
    sampler.stopped.set()
    row = {"slice": index + 1, "rc": proc.returncode, "wall_s": round(wall, 1), "peak_tree_mb": round(sampler.peak_kb / 1024)}
    if per_slice:
        row.update(figures(server.requests(since)))
    if proc.returncode:
        row["output_tail"] = output[-3000:]
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--lro-seconds", type=float, default=3.0)
    parser.add_argument("--cmk-every", type=int, default=10, help="every N-th VM uses a CMK in a Managed HSM (0: none)")
    args = parser.parse_args(argv)
    params = {"vms": args.vms, "subscriptions": args.subscriptions, "cmk_every": args.cmk_every, "lro_seconds": args.lro_seconds}
    scenario = {**params, "slices": args.slices, "latency_ms": args.latency_ms, "cpus": os.cpu_count()}
    print(f"protect_cvm.yml over the confidential_vms inventory in job slices, fleet scenario: {scenario}", flush=True)
    result = {"benchmark": "protect_cvm.yml over inventory hosts in job slices", "scenario": scenario}
    with tempfile.TemporaryDirectory(prefix="bench-slices-") as tmp, SimServer("fleet", params) as server:
        config = os.path.join(tmp, "bench.confidential_vms.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(CONFIG)
        server.set_faults({"latency_ms": args.latency_ms})
        hosts = inventory_hosts(server, config)
        limits = []
        for index in range(args.slices):  # AWX job slicing: slice i gets every N-th host
            path = os.path.join(tmp, f"slice-{index + 1}.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(hosts[index::args.slices]) + "\n")
            limits.append(path)
        server.clear_requests()
        first = run_slices(server, config, limits, at_once=False)
        seen = server.requests()
        since = seen[-1]["seq"] if seen else 0
        started = time.perf_counter()
        second = run_slices(server, config, limits, at_once=True)
        second_total = {"wall_s": round(time.perf_counter() - started, 1), **figures(server.requests(since))}
    print(f"{len(hosts)} hosts in {args.slices} slices")
    print("| run | slice | rc | wall s | requests | GET | PUT | POST | writes | peak MB (tree) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in first:
        m = row["by_method"]
        print(f"| first, one after the other | {row['slice']} | {row['rc']} | {row['wall_s']} | {row['requests']} | {m.get('GET', 0)} | "
              f"{m.get('PUT', 0)} | {m.get('POST', 0)} | {row['writes']} | {row['peak_tree_mb']} |")
    for row in second:
        print(f"| second, all at once | {row['slice']} | {row['rc']} | {row['wall_s']} | - | - | - | - | - | {row['peak_tree_mb']} |")
    m = second_total["by_method"]
    print(f"| second, all at once | total | - | {second_total['wall_s']} | {second_total['requests']} | {m.get('GET', 0)} | "
          f"{m.get('PUT', 0)} | {m.get('POST', 0)} | {second_total['writes']} | - |  (target: 0 writes)")
    for row in first + second:
        if row["rc"]:
            print(f"slice {row['slice']} failed (exit {row['rc']}):\n{row['output_tail']}", file=sys.stderr)
    result.update({"hosts": len(hosts), "first": first, "second": second, "second_total": second_total})
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
