"""Benchmark: wall time of one ad-hoc module call against the local Azure (issue target: median <= 1.5 s here).

    python -m bench.adhoc_module [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from tests.azure_sim.server import SimServer
from tests.sim_helpers import REPO_ROOT, ansible_env

FEATURE = "RestorePointSupportForConfidentialVMV2"


def measure(runs: int) -> dict:
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    with SimServer("demo") as server:
        env = ansible_env(server)
        times = []
        for _run in range(runs):
            started = time.perf_counter()
            proc = subprocess.run([ansible, "localhost", "-m", "azure_cvm.backup.preview_feature_info",
                                   "-a", f"names={FEATURE} provider_namespace=Microsoft.Compute"],
                                  env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if proc.returncode != 0:
                raise SystemExit(f"ad-hoc call failed:\n{proc.stdout}\n{proc.stderr}")
    return {"benchmark": "ad-hoc module call (ansible localhost -m preview_feature_info)", "runs": runs,
            "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3),
            "target_median_s": 1.5}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    print(f"{figures['benchmark']}: median {figures['median_s']} s (min {figures['min_s']}, max {figures['max_s']}, "
          f"{figures['runs']} runs; target median <= {figures['target_median_s']} s)")
    return figures


if __name__ == "__main__":
    print(json.dumps(main()))
