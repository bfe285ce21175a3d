"""Benchmark: the play's hosts task (playbooks/tasks/targets.yml, "Find the play's hosts that are VMs of the inventory
plugin") over N inventory hosts, without Azure.

    python -m bench.hosts_task [--hosts 250,1000,5000] [--before REV] [--before-cap-s 300]

A static inventory (YAML, written once per size) with N hosts carrying the host variables the confidential_vms plugin
sets (about 25 of them, values as in the fleet scenario) and its keyed groups (region, verdict, key kind,
subscription, over 10 subscriptions). A play over `all` runs, once on
the controller, targets.yml between two time stamps; the row is the wall time between them and the CPU time of the
whole ansible-playbook process tree (wait4) less that of the same play without targets.yml (inventory parsing and
start-up). `--before REV` also runs targets.yml as it was at git revision REV (e.g. main), stopped after
`--before-cap-s` seconds (then shown as "> cap"). Benchmarks measure, they do not pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from tests.sim_helpers import REPO_ROOT, link_working_tree

BIN = os.path.dirname(sys.executable)
TARGETS = os.path.join(REPO_ROOT, "playbooks", "tasks", "targets.yml")
PLAY = """- name: The hosts task alone
  hosts: all
  connection: local
  gather_facts: false
  vars:
    cvm_subscription_id: ""
    cvm_subscriptions: []
    cvm_resource_groups: []
    cvm_vms: []
  tasks:
    - name: Once, on the controller
      run_once: true
      delegate_to: localhost
      block:
        - name: Start
          ansible.builtin.set_fact:
            bench_t0: "{{ now().timestamp() }}"
        - name: The hosts task
          ansible.builtin.include_tasks: TASKS
          when: bench_tasks
        - name: Stop
          ansible.builtin.debug:
            msg: "BENCH {{ now().timestamp() - bench_t0 | float }} {{ (cvm_runs | default([]) | map(attribute='vms') | map('length') | sum) }}"
"""


def inventory(count: int, subscriptions: int = 10) -> dict:
    hosts, groups = {}, {}
    for index in range(count):
        sub = f"{index % subscriptions:08d}-0000-4000-8000-000000000000"
        rg, region = f"rg-cvm-{index % 5}", ("koreacentral", "uaenorth")[index % 2]
        name = f"cvm-{index:05d}"
        vm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        cmk = index % 10 == 0
        hosts[name] = {
            "id": vm_id, "vm_name": name, "subscription_id": sub, "subscription_name": f"sub {index % subscriptions}",
            "resource_group": rg, "region": region, "size": "Standard_DC2as_v5", "security_type": "ConfidentialVM",
            "vm_tags": {"environment": "production", "owner": "team-a"}, "key_kind": "cmk_managed_hsm" if cmk else "pmk",
            "key_id": f"https://hsm-{region}.managedhsm.azure.net/keys/cvm/0123456789abcdef" if cmk else None,
            "key": None, "disk_encryption_set": None, "verdict": "ready", "ready": True, "blockers": [],
            "warnings": ["The VM has no backup policy yet."], "checks": None, "protected": False,
            "protection_state": "NotProtected", "vault": None, "policy": None, "last_backup_time": None,
            "last_backup_status": None}
        for group in (f"region_{region}", "verdict_ready", "key_cmk_managed_hsm" if cmk else "key_pmk", f"subscription_{sub}"):
            groups.setdefault(group, {"hosts": {}})["hosts"][name] = None
    return {"all": {"hosts": hosts, "children": groups}}


def run(inventory_path: str, play_path: str, with_task: bool, cap: float) -> dict:
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory_path, play_path, "-e", json.dumps({"bench_tasks": with_task})]
    started = time.perf_counter()
    with subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": link_working_tree()},
                          start_new_session=True) as proc:
        deadline = started + cap
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its forked workers
                pid, status, usage = os.wait4(proc.pid, 0)
                return {"capped": True, "wall_s": round(time.perf_counter() - started, 1),
                        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}
            time.sleep(0.2)
        output = proc.stdout.read()
    line = next((ln for ln in output.splitlines() if "BENCH " in ln), "")
    words = line.split("BENCH ", 1)[-1].strip('" ').split()
    return {"rc": os.waitstatus_to_exitcode(status), "task_wall_s": round(float(words[0]), 1) if words else None,
            "targets": int(words[1]) if len(words) > 1 else None, "wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "tail": "" if line else output[-1500:]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="250,1000,5000")
    parser.add_argument("--before", default="", help="git revision whose targets.yml is measured too")
    parser.add_argument("--before-cap-s", type=float, default=300)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hosts-") as tmp:
        variants = [("now", TARGETS)]
        if args.before:
            old = os.path.join(tmp, "targets-before.yml")
            with open(old, "w", encoding="utf-8") as handle:
                handle.write(subprocess.run(["git", "show", f"{args.before}:playbooks/tasks/targets.yml"], cwd=REPO_ROOT,
                                            check=True, capture_output=True, text=True).stdout)
            variants.append((args.before, old))
        for count in [int(c) for c in args.hosts.split(",")]:
            inv = os.path.join(tmp, f"hosts-{count}.yml")
            with open(inv, "w", encoding="utf-8") as handle:
                json.dump(inventory(count), handle)
            base_play = os.path.join(tmp, "play-base.yml")
            with open(base_play, "w", encoding="utf-8") as handle:
                handle.write(PLAY.replace("TASKS", TARGETS))
            base = run(inv, base_play, False, 3600)
            for label, tasks in variants:
                play = os.path.join(tmp, f"play-{label}.yml")
                with open(play, "w", encoding="utf-8") as handle:
                    handle.write(PLAY.replace("TASKS", tasks))
                res = run(inv, play, True, args.before_cap_s if label != "now" else 3600)
                row = {"hosts": count, "targets.yml": label, **res, "baseline_cpu_s": base["cpu_s"],
                       "task_cpu_s": round(res["cpu_s"] - base["cpu_s"], 1)}
                rows.append(row)
                shown = f"> {row['wall_s']} (stopped)" if res.get("capped") else row.get("task_wall_s")
                print(f"| {count} | {label} | {shown} | {row['task_cpu_s']}{' (so far)' if res.get('capped') else ''} | "
                      f"{row.get('targets', '-')} | {row['cpu_s']} / {base['cpu_s']} | {os.getloadavg()[0]:.1f} |", flush=True)
                if row.get("tail"):
                    print(row["tail"], file=sys.stderr)
    return {"benchmark": "the hosts task of playbooks/tasks/targets.yml", "rows": rows}


if __name__ == "__main__":
    print("| hosts | targets.yml | task wall s | task CPU s | targets | play CPU s / without the task | load |")
    print("|---|---|---|---|---|---|---|")
    print(json.dumps(main(), indent=2))
