"""`make demo`: the main job against the bundled local Azure (demo scenario).

Runs playbooks/protect_cvm.yml three times — check mode (the plan, no write), apply, apply again (no change) — and
after each run says how many requests and writes reached "Azure" (from the local Azure's request log). Each run prints
the readiness table of the demo estate (the unsupported VMs with their reasons) and the protection per region.
Then playbooks/posture_report.yml reads (no write) the backup posture of both demo subscriptions: the one just
protected, and the estate protected before the demo, which holds one VM per verdict (healthy, at_risk, failing,
unprotected); its summary is printed and its JSON, Markdown and HTML reports go to .build/demo-posture/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.azure_sim.server import SimServer
from tests.sim_helpers import COLLECTIONS_PATH, REPO_ROOT, writes

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "protect_cvm.yml")
POSTURE_PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "posture_report.yml")
# The demo's subscription (AZURE_SUBSCRIPTION_ID, protected by the runs above) and the estate protected before the demo.
DEMO_SUBSCRIPTIONS = ("3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b", "6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817")
POSTURE_DIR = os.path.join(REPO_ROOT, ".build", "demo-posture")
DEMO_VARS = "@" + os.path.join(REPO_ROOT, "playbooks", "vars", "demo.yml")  # the demo's vaults, a short propagation wait
RUNS = (
    ("1/3 check mode: the plan, nothing is written", ["--check", "--diff"]),
    ("2/3 apply", []),
    ("3/3 apply again: nothing left to change", []),
)


def banner(text: str):
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def run_playbook(server: SimServer, args: list[str], playbook: str = PLAYBOOK) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(server.env)
    env.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH, "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0"})
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook, *args]
    return subprocess.run(cmd, env=env, cwd=REPO_ROOT, check=False).returncode


def main() -> int:
    if not os.path.exists(PLAYBOOK):
        print("playbooks/protect_cvm.yml does not exist yet: nothing to demonstrate.", file=sys.stderr)
        return 1
    with SimServer("demo") as server:
        banner(f"The local Azure is serving the 'demo' scenario through the proxy {server.env['HTTPS_PROXY']}\n"
               "(management.azure.com, login.microsoftonline.com, graph.microsoft.com, *.vault.azure.net, "
               "*.managedhsm.azure.net). Nothing here talks to real Azure.")
        failures = 0
        for label, args in RUNS:
            banner(f"Run {label}: ansible-playbook playbooks/protect_cvm.yml {' '.join(args)}")
            seen = len(server.requests())
            rc = run_playbook(server, ["-e", DEMO_VARS, *args])
            log = server.requests()[seen:]
            print(f"\n>>> {label}: exit code {rc}; {len(log)} requests to the local Azure, {len(writes(log))} of them writes.")
            if label.startswith(("1/3", "3/3")) and writes(log):
                print(f">>> UNEXPECTED: this run should not write, but it made {len(writes(log))} write(s).")
                failures += 1
            failures += rc != 0
        banner("The backup posture of both demo subscriptions: ansible-playbook playbooks/posture_report.yml (reads only)")
        seen = len(server.requests())
        posture_vars = json.dumps({"posture_subscriptions": list(DEMO_SUBSCRIPTIONS), "posture_report_dir": POSTURE_DIR,
                                   "posture_fail_when": "never"})
        rc = run_playbook(server, ["-e", posture_vars], POSTURE_PLAYBOOK)
        log = server.requests()[seen:]
        print(f"\n>>> posture report: exit code {rc}; {len(log)} requests, {len(writes(log))} writes; reports in {POSTURE_DIR}")
        failures += rc != 0 or bool(writes(log))
        banner("Demo finished: " + ("all three runs and the posture report succeeded." if not failures else f"{failures} problem(s), see above."))
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
