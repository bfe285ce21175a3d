"""Benchmark: the issue 19 estate (5,000 CVMs over 10 subscriptions) through the inventory plugin and protect_cvm.yml.

    python -m bench.estate [--vms 5000] [--subscriptions 10] [--slices 4] [--latency-ms 80] [--lro-seconds 3]

The local Azure's fleet scenario over several subscriptions (5 resource groups over 2 regions in each, a vault per
region, every `cmk_every`-th VM with a customer-managed key in its region's Managed HSM), each request delayed by
`latency_ms` (fault rule `latency_ms`, applied to every request, sign-in included) and each long operation and backup
job lasting `lro_seconds` (config `lro_seconds`). Rows:

1. inventory build: `ansible-inventory --list` with azure_cvm.backup.confidential_vms over every subscription the
   credential sees; it fills the plugin's cache (jsonfile), as an AWX inventory sync stores the inventory;
2. first, second and check run of protect_cvm.yml over all the inventory's hosts (`-e cvm_hosts=all`), one job, on the
   cached inventory (as an AWX job runs on its synced inventory; host variables id and subscription_id are all the
   play takes from it, the state it acts on is read again);
3. the same first run in `slices` AWX job slices (slice i: every N-th host, through --limit) started at once, on a
   fresh local Azure with the same estate; afterwards: protected items per VM and HSM role assignments per key.

Per row: wall time, CPU time of the process tree (user + system, from wait4: on a shared machine the wall time
stretches with the load, the CPU time much less), requests to Azure by method (sign-in counted apart), writes, 429s, peak memory (the largest
process, from wait4, and the process tree summed, sampled from /proc). Benchmarks measure, they do not pass or fail:
the targets are printed next to the figures.
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

from bench.fleet import FLEET_VARS, REGIONS, tree_rss_kb
from bench.inventory import CONFIG, call_of
from tests.azure_sim import keyvault
from tests.azure_sim.server import SimServer
from tests.sim_helpers import REPO_ROOT, SIGN_IN_HOST, ansible_env, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
BIN = os.path.dirname(sys.executable)
BACKUP_MANAGEMENT_SERVICE = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"  # its object id in the fleet scenario
ITEM_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
TARGETS = {"inventory": "<= 60 s", "first": "<= 300 s", "second": "<= 90 s, 0 writes", "check": "0 writes"}
TARGET_PEAK_MB = 400
CACHE = """cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {path}
cache_timeout: 86400
"""


class Job:
    """One ansible-* process: output to a file (so several can run at once), peak memory from wait4 and /proc."""

    def __init__(self, server: SimServer, cmd: list[str], out_path: str):
        self.out_path = out_path
        self.handle = open(out_path, "wb")  # pylint: disable=consider-using-with
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=ansible_env(server, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd=REPO_ROOT,  # pylint: disable=consider-using-with
                                     stdout=self.handle, stderr=subprocess.STDOUT)
        self.peak_tree_kb = 0
        self.result: dict = {}

    def sample(self):
        if not self.result:
            self.peak_tree_kb = max(self.peak_tree_kb, tree_rss_kb(self.proc.pid))

    def poll(self) -> bool:
        """Reaps the process when it has ended (wait4: the largest RSS of it and of every descendant it waited for)."""
        if self.result:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.handle.close()
        with open(self.out_path, "rb") as handle:
            output = handle.read().decode(errors="replace")
        self.result = {"rc": self.proc.returncode, "wall_s": round(time.perf_counter() - self.started, 1),
                       "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_process_mb": round(usage.ru_maxrss / 1024),
                       "peak_tree_mb": round(self.peak_tree_kb / 1024), "output": output}
        return True


def run_jobs(jobs: list[Job], interval: float = 0.25) -> int:
    """Waits for every job, sampling memory; returns the largest summed RSS of all the jobs' trees at one time (kB)."""
    peak_all = 0
    while not all(job.poll() for job in jobs):
        total = 0
        for job in jobs:
            job.sample()
            total += tree_rss_kb(job.proc.pid) if not job.result else 0
        peak_all = max(peak_all, total)
        time.sleep(interval)
    return peak_all


def figures(log: list) -> dict:
    azure = [r for r in log if r["host"] != SIGN_IN_HOST]
    return {"requests": len(azure), "sign_ins": len(log) - len(azure),
            "by_method": dict(sorted(Counter(r["method"] for r in azure).items())), "writes": len(writes(log)),
            "throttled": sum(1 for r in log if r["status"] == 429),
            "by_call": dict(Counter(f"{r['method']} {call_of(r['path'])}" for r in azure).most_common())}


def last_seq(server: SimServer) -> int:
    seen = server.requests()
    return seen[-1]["seq"] if seen else 0


def playbook_cmd(config: str, *extra: str) -> list[str]:
    return [os.path.join(BIN, "ansible-playbook"), "-i", config, PLAYBOOK, "-e", FLEET_VARS, "-e", "cvm_hosts=all",
            "-e", "cvm_console=summary", *extra]


def one_job(server: SimServer, cmd: list[str], out_path: str) -> dict:
    since = last_seq(server)
    job = Job(server, cmd, out_path)
    run_jobs([job])
    return {**job.result, **figures(server.requests(since))}


def protection_check(server: SimServer, log: list) -> dict:
    """After the sliced run: protected items per VM (state), successful protect PUTs per VM (log), and the Backup
    Management Service's role assignments per Managed HSM (one key per HSM in the fleet scenario)."""
    items = server.sim.store.find(lambda r: r.get("type") == ITEM_TYPE)
    per_vm = Counter(str(i["properties"].get("sourceResourceId", "")).lower() for i in items)
    puts = Counter(r["path"].split("?")[0].lower() for r in log
                   if r["method"] == "PUT" and "/protecteditems/" in r["path"].lower() and (r["status"] or 0) < 300)
    hsms = keyvault.state(server.sim)["hsms"]
    grants = {name: sum(1 for a in holder.get("role_assignments", {}).values()
                        if a["properties"].get("principalId") == BACKUP_MANAGEMENT_SERVICE) for name, holder in hsms.items()}
    return {"protected_vms": len(per_vm), "vms_with_two_items": sum(1 for n in per_vm.values() if n > 1),
            "protect_puts_max_per_vm": max(puts.values(), default=0),
            "vms_protected_by_two_puts": sum(1 for n in puts.values() if n > 1),
            "hsm_grants_per_key": sorted(set(grants.values())), "hsms": len(grants)}


def expected_first_writes(vms: int, subscriptions: int, cmk_every: int) -> int:
    """One PUT per VM plus per vault its policy and one container refresh, plus per Managed HSM (one key each in the
    fleet scenario) the custom role definition and one role assignment."""
    keys = subscriptions * min(REGIONS, vms // max(1, subscriptions) // cmk_every) if cmk_every else 0
    return vms + 2 * REGIONS * subscriptions + 2 * keys


def row_line(name: str, row: dict, target: str) -> str:
    m = row.get("by_method", {})
    mem = f"{row.get('peak_process_mb', '-')} / {row.get('peak_tree_mb', '-')}"
    cells = (name + ("" if row.get("rc", 0) == 0 else f" (exit {row['rc']})"), row.get("hosts", "-"), row["wall_s"], row.get("cpu_s", "-"),
             row.get("requests", "-"), m.get("GET", 0), m.get("PUT", 0), m.get("POST", 0), m.get("PATCH", 0) + m.get("DELETE", 0),
             row.get("writes", "-"), row.get("throttled", "-"), row.get("sign_ins", "-"), mem, target)
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--slices", type=int, default=4, help="AWX job slices run at once (0: leave that row out)")
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--lro-seconds", type=float, default=3.0)
    parser.add_argument("--cmk-every", type=int, default=10, help="every N-th VM uses a CMK in a Managed HSM (0: none)")
    args = parser.parse_args(argv)
    params = {"vms": args.vms, "subscriptions": args.subscriptions, "cmk_every": args.cmk_every, "lro_seconds": args.lro_seconds,
              "data_disks": 0}
    scenario = {**params, "resource_groups": 5, "regions": REGIONS, "vaults": REGIONS * args.subscriptions, "slices": args.slices,
                "latency_ms": args.latency_ms, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}
    print(f"estate benchmark (inventory plugin + protect_cvm.yml), fleet scenario: {scenario}", flush=True)
    rows: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-estate-") as tmp:
        config = os.path.join(tmp, "bench.confidential_vms.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(CONFIG + CACHE.format(path=os.path.join(tmp, "cache")))
        with SimServer("fleet", params) as server:
            server.set_faults({"latency_ms": args.latency_ms})
            server.clear_requests()
            inv = one_job(server, [os.path.join(BIN, "ansible-inventory"), "-i", config, "--list", "--output",
                                   os.path.join(tmp, "inventory.json")], os.path.join(tmp, "inventory.out"))
            hosts = []
            if inv["rc"] == 0:
                with open(os.path.join(tmp, "inventory.json"), encoding="utf-8") as handle:
                    hosts = sorted(json.load(handle)["_meta"]["hostvars"])
            rows["inventory"] = {**inv, "hosts": len(hosts)}
            print(row_line("inventory build", rows["inventory"], TARGETS["inventory"]), flush=True)
            for run, extra in (("first", ()), ("second", ()), ("check", ("--check",))):
                rows[run] = {**one_job(server, playbook_cmd(config, *extra), os.path.join(tmp, f"{run}.out")), "hosts": len(hosts)}
                print(row_line(f"{run} run", rows[run], TARGETS[run]), flush=True)
        if not args.slices:  # --slices 0: the one-job rows only
            return finish(args, rows, hosts, scenario)
        limits = []
        for index in range(args.slices):  # AWX job slicing: slice i gets every N-th host
            path = os.path.join(tmp, f"slice-{index + 1}.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(hosts[index::args.slices]) + "\n")
            limits.append(path)
        with SimServer("fleet", params) as server:  # the same estate, nothing protected yet
            server.set_faults({"latency_ms": args.latency_ms})
            server.clear_requests()
            started = time.perf_counter()
            jobs = [Job(server, playbook_cmd(config, "--limit", "@" + limit), os.path.join(tmp, f"slice-{i + 1}.out"))
                    for i, limit in enumerate(limits)]
            peak_all_kb = run_jobs(jobs)
            log = server.requests()
            rows["slices"] = {"wall_s": round(time.perf_counter() - started, 1), "rc": max(j.result["rc"] for j in jobs),
                              "cpu_s": round(sum(j.result["cpu_s"] for j in jobs), 1),
                              "hosts": len(hosts), **figures(log), "peak_process_mb": max(j.result["peak_process_mb"] for j in jobs),
                              "peak_tree_mb": round(peak_all_kb / 1024),
                              "per_slice": [{k: v for k, v in j.result.items() if k != "output"} for j in jobs],
                              "check": protection_check(server, log)}
    return finish(args, rows, hosts, scenario, jobs)


def finish(args, rows: dict, hosts: list, scenario: dict, jobs: tuple = ()) -> dict:
    """Prints the table (and the failures) and returns the figures."""
    first_writes = expected_first_writes(args.vms, args.subscriptions, args.cmk_every)
    print(f"\n{len(hosts)} inventory hosts; {args.subscriptions} subscriptions, {5 * args.subscriptions} VM resource groups, "
          f"{REGIONS * args.subscriptions} vaults; 80 ms per request = {args.latency_ms} ms, long operations {args.lro_seconds} s")
    head = ("run", "hosts", "wall s", "CPU s", "requests", "GET", "PUT", "POST", "PATCH+DELETE", "writes", "429", "sign-ins",
            "peak MB (largest process / tree)", "target")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    print(row_line("inventory build", rows["inventory"], f"{TARGETS['inventory']}, <= {TARGET_PEAK_MB} MB"))
    print(row_line("first run", rows["first"], f"{TARGETS['first']}, writes <= {first_writes}"))
    print(row_line("second run", rows["second"], TARGETS["second"]))
    print(row_line("check run", rows["check"], TARGETS["check"]))
    if "slices" in rows:
        print(row_line(f"first run in {args.slices} slices at once", rows["slices"], f"writes <= {first_writes}, each VM once"))
        for j, res in enumerate(rows["slices"]["per_slice"]):
            print(f"  slice {j + 1}: exit {res['rc']}, {res['wall_s']} s, peak {res['peak_process_mb']} / {res['peak_tree_mb']} MB")
        print(f"  after the slices: {rows['slices']['check']}")
    for run in ("inventory", "first", "second"):
        calls = rows[run]["by_call"]
        print(f"requests per call, {run}: " + ", ".join(f"{k} {v}" for k, v in calls.items()))
    print(f"load average at the end: {[round(x, 1) for x in os.getloadavg()]}")
    for name, row in [*rows.items(), *((f"slice {i + 1}", r) for i, r in enumerate(jobs))]:
        res = row.result if isinstance(row, Job) else row
        if res.get("rc"):
            fatal = [line for line in res.get("output", "").splitlines() if line.startswith(("fatal:", "failed:", "[ERROR]"))]
            print(f"{name} failed (exit {res['rc']}):\n" + "\n".join(line[:600] for line in fatal[:20])
                  + f"\n{res.get('output', '')[-3000:]}", file=sys.stderr)
    for row in rows.values():
        row.pop("output", None)
    return {"benchmark": "estate: inventory plugin and protect_cvm.yml over inventory hosts, one job and job slices",
            "scenario": {**scenario, "load_average_at_end": [round(x, 1) for x in os.getloadavg()]}, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
