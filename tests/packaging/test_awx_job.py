"""docs/awx.md's job, run as AWX runs it: a private data dir for ansible-runner (the `# file:` blocks of the doc), the
project synced the way AWX syncs it (collections/requirements.yml installed from the project's root), the environment
of AWX's "Microsoft Azure Resource Manager" credential, survey-style extra vars; against the local Azure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import yaml

from tests.sim_helpers import REPO_ROOT, run_module, writes

BIN = os.path.dirname(sys.executable)
DOC = os.path.join(REPO_ROOT, "docs", "awx.md")
# awx/main/models/credential/injectors.py, azure_rm(): what a credential with a client and a tenant injects
AWX_AZURE_RM_ENV = {"AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT"}


def doc_files() -> dict[str, str]:
    """The fenced blocks of docs/awx.md whose first line is `# file: <path>`, by path."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    return {m["path"]: m["body"] for m in re.finditer(r"```\w*\n# file: (?P<path>\S+)\n(?P<body>.*?)```", text, re.S)}


def sync_project(dest: str) -> None:
    """The repository as a project sync gets it: the tracked files (and new ones git does not ignore)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = os.path.join(REPO_ROOT, name)
        if os.path.isfile(source):
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, os.path.join(dest, name))


def test_doc_recipe_is_complete():
    files = doc_files()
    assert set(files) == {"env/envvars", "env/extravars", "env/settings", "inventory/hosts",
                          "project/cvm_readiness_job.yml"}
    assert set(yaml.safe_load(files["env/envvars"])) == AWX_AZURE_RM_ENV


def test_readiness_job_through_ansible_runner_has_set_stats_artifacts(azure_sim, tmp_path):
    pdd = tmp_path / "pdd"
    files = doc_files()
    for path, body in files.items():
        (pdd / path).parent.mkdir(parents=True, exist_ok=True)
        (pdd / path).write_text(body, encoding="utf-8")
    # AWX writes env/envvars from the credential: the doc's names, the local Azure's service principal
    credential = {name: azure_sim.env[name] for name in AWX_AZURE_RM_ENV}
    (pdd / "env" / "envvars").write_text(json.dumps(credential), encoding="utf-8")
    sync_project(str(pdd / "project"))

    # project sync: AWX's `ansible-galaxy collection install -r collections/requirements.yml` in the project's root,
    # with the collections path set to its cache only (awx/playbooks/project_update.yml)
    collections = pdd / "requirements_collections"
    sync = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r",
                           "collections/requirements.yml", "--collections-path", str(collections)],
                          cwd=pdd / "project", env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)},
                          capture_output=True, text=True, check=False)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert (collections / "ansible_collections" / "azure_cvm" / "backup" / "roles" / "prerequisites").is_dir()

    # the job's process: no AZURE_* of ours; the proxy and CA as AWX's "Extra Environment Variables"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update({k: azure_sim.env[k] for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
                                              "REQUESTS_CA_BUNDLE")})
    env.update({"PATH": BIN + os.pathsep + env.get("PATH", ""), "ANSIBLE_COLLECTIONS_PATH": str(collections),
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"})
    job = subprocess.run([os.path.join(BIN, "ansible-runner"), "run", str(pdd), "-p", "cvm_readiness_job.yml",
                          "--ident", "job1"], env=env, capture_output=True, text=True, timeout=600, check=False)
    artifacts = pdd / "artifacts" / "job1"
    stdout = (artifacts / "stdout").read_text(encoding="utf-8")
    assert job.returncode == 0 and (artifacts / "status").read_text() == "successful", stdout + job.stderr
    assert writes(azure_sim.requests()) == []
    assert credential["AZURE_SECRET"] not in stdout

    events = [json.loads((artifacts / "job_events" / name).read_text())
              for name in os.listdir(artifacts / "job_events")]
    (stats,) = [e for e in events if e["event"] == "playbook_on_stats"]
    published = stats["event_data"]["artifact_data"]
    # one entry per subscription of the run (the combined report's per_subscription): here the survey's one
    per_subscription = published["cvm_readiness"].pop("subscriptions")
    assert [entry["subscription_id"] for entry in per_subscription] == [azure_sim.env["AZURE_SUBSCRIPTION_ID"]]

    # what the readiness module itself says about the survey's two resource groups
    truth = run_module(azure_sim, "cvm_readiness_info", {"resource_groups": ["rg-cvm-kc", "rg-cvm-uae"]})["vms"]
    assert truth and {vm["resource_group"] for vm in truth} == {"rg-cvm-kc", "rg-cvm-uae"}
    assert published == {"cvm_readiness": {
        "summary": {k: sum(1 for vm in truth if vm["verdict"] == k) for k in
                    ("ready", "ready_with_warnings", "not_ready", "not_applicable", "ready_after_prerequisites")} | {"total": len(truth)},
        "ready": [f"{vm['resource_group']}/{vm['name']}" for vm in truth if vm["ready"]],
        "not_ready": [f"{vm['resource_group']}/{vm['name']}" for vm in truth if not vm["ready"] and vm["verdict"] != "not_applicable"],
        "prerequisites": ["restore_point_feature"],
    }}
