"""`make bench`: every benchmark of the collection. Each prints its figures; all of them go to bench/results/latest.json.

Benchmarks measure, they do not pass or fail: the targets are printed next to the figures.
"""

from __future__ import annotations

import json
import os
import platform
import sys

from bench import adhoc_module, estate, fleet, hosts_task, sim_throughput

BENCHMARKS = [("local Azure throughput", sim_throughput.main), ("ad-hoc module call", adhoc_module.main),
              ("protect_cvm.yml on a fleet", fleet.main),
              ("the play's hosts task over 250-5,000 inventory hosts (python -m bench.hosts_task)", hosts_task.main),
              ("5,000 CVMs over 10 subscriptions: inventory, protect runs, 4 job slices (python -m bench.estate)", estate.main)]


def main() -> int:
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}}
    for title, run in BENCHMARKS:
        print(f"\n=== benchmark: {title}", flush=True)
        results[title] = run([])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, default=str)
    print(f"\nfigures written to {os.path.join(out, 'latest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
