"""Benchmark: playbooks/protect_cvm.yml on fleets of confidential VMs (first run, second run, check-mode run).

    python -m bench.fleet [--sizes 10,100,500] [--latency-ms 80] [--lro-seconds 3] [--cmk-every 10]

The local Azure's fleet scenario: N CVMs over 5 resource groups and 2 regions (a vault per region, seeded), every
`cmk_every`-th VM with a customer-managed key in a Managed HSM (so key_access grants HSM roles), each request delayed
by `latency_ms` and each long operation lasting `lro_seconds`. Per run: wall time, requests to Azure by method (the
sign-in host counted apart), writes, 429s, and peak memory of the ansible-playbook process tree (the largest process,
exact, from wait4; and the sum over the tree, sampled from /proc). Benchmarks measure, they do not pass or fail: the
targets are printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter

from tests.azure_sim.server import SimServer
from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
FLEET_VARS = "@" + os.path.join(REPO_ROOT, "playbooks", "vars", "fleet.yml")
SIZES = (10, 100, 500)
RUNS = (("first", []), ("second", []), ("check", ["--check"]))
REGIONS = 2
# The targets for 500 CVMs on this machine (wall seconds; None: no time target).
TARGET_SECONDS = {"first": 90, "second": 20, "check": None}


# ------------------------------------------------------------------------------------------------ memory


def _children() -> dict:
    """{pid: [child pids]} of every process, from /proc (empty where /proc is missing)."""
    tree: dict = {}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return tree
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(parent, []).append(pid)
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            line = next((x for x in handle if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        return int(line.split()[1])
    except (OSError, ValueError):
        return 0


def tree_rss_kb(root: int) -> int:
    """The resident memory of a process and all its descendants, now."""
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(tree.get(pid, []))
    return total


class TreeSampler(threading.Thread):
    """Samples the tree's summed RSS every `interval` seconds; `peak_kb` is the largest sample."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.interval):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))


# ------------------------------------------------------------------------------------------------ runs


def run_playbook(server: SimServer, args: list[str]) -> dict:
    """One ansible-playbook run: wall time, exit code, peak memory, and what reached the local Azure."""
    seen = server.requests()
    since = seen[-1]["seq"] if seen else 0
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", PLAYBOOK,
           "-e", FLEET_VARS, *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ansible_env(server), cwd=REPO_ROOT, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                            stderr=subprocess.STDOUT)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    output = proc.stdout.read().decode(errors="replace")
    # wait4 gives the largest RSS of the process and of every descendant it waited for
    dummy, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    sampler.stopped.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    log = server.requests(since)
    azure = [r for r in log if r["host"] != SIGN_IN_HOST]
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "requests": len(azure), "sign_ins": len(log) - len(azure),
            "by_method": dict(sorted(Counter(r["method"] for r in azure).items())), "writes": len(writes(log)),
            "throttled": sum(1 for r in log if r["status"] == 429), "peak_process_mb": round(usage.ru_maxrss / 1024),
            "peak_tree_mb": round(sampler.peak_kb / 1024), "output_tail": output[-3000:] if proc.returncode else ""}


def measure(size: int, latency_ms: int, lro_seconds: float, cmk_every: int) -> list[dict]:
    params = {"vms": size, "lro_seconds": lro_seconds, "cmk_every": cmk_every}
    rows = []
    with SimServer("fleet", params) as server:
        server.set_faults({"latency_ms": latency_ms})
        for run, args in RUNS:
            figures = run_playbook(server, args)
            rows.append({"vms": size, "run": run, **figures})
            if figures["rc"]:
                print(f"{size} VMs, {run} run failed (exit {figures['rc']}):\n{figures['output_tail']}", file=sys.stderr)
    return rows


def expected_first_writes(size: int, cmk_every: int) -> int:
    """One PUT per VM plus the shared objects: per vault its policy and one container refresh, one HSM role
    assignment per key (at most one key per region in the fleet scenario)."""
    keys = min(REGIONS, size // cmk_every) if cmk_every else 0
    return size + 2 * REGIONS + keys


def target(row: dict, cmk_every: int) -> str:
    """The issue's targets for this row, as text (time targets are for 500 VMs)."""
    parts = []
    seconds = TARGET_SECONDS[row["run"]]
    if seconds and row["vms"] == 500:
        parts.append(f"<= {seconds} s")
    if row["run"] == "first":
        parts.append(f"writes <= {expected_first_writes(row['vms'], cmk_every)}")
    else:
        parts.append("0 writes")
    return ", ".join(parts)


def table(rows: list[dict], cmk_every: int) -> str:
    head = ("VMs", "run", "wall s", "requests", "GET", "PUT", "POST", "DELETE", "writes", "429", "sign-ins", "peak MB (proc/tree)",
            "target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["by_method"]
        cells = (r["vms"], r["run"] + ("" if r["rc"] == 0 else f" (exit {r['rc']})"), r["wall_s"], r["requests"], m.get("GET", 0),
                 m.get("PUT", 0), m.get("POST", 0), m.get("DELETE", 0), r["writes"], r["throttled"], r["sign_ins"],
                 f"{r['peak_process_mb']} / {r['peak_tree_mb']}", target(r, cmk_every))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="fleet sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--lro-seconds", type=float, default=3.0)
    parser.add_argument("--cmk-every", type=int, default=10, help="every N-th VM uses a CMK in a Managed HSM (0: none)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    scenario = {"resource_groups": 5, "regions": REGIONS, "latency_ms": args.latency_ms, "lro_seconds": args.lro_seconds,
                "cmk_every": args.cmk_every, "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(f"protect_cvm.yml on the fleet scenario: {scenario}", flush=True)
    rows = []
    for size in sizes:
        rows += measure(size, args.latency_ms, args.lro_seconds, args.cmk_every)
        print(table([r for r in rows if r["vms"] == size], args.cmk_every).split("\n", 2)[-1], flush=True)
    print("\n" + table(rows, args.cmk_every))
    return {"benchmark": "protect_cvm.yml on the fleet scenario", "scenario": scenario,
            "runs": [{k: v for k, v in r.items() if k != "output_tail"} for r in rows]}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
