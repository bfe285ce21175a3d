"""Every module's EXAMPLES really run: each module's examples, as one playbook in check mode, against the demo estate.

Check mode keeps the examples from depending on each other's writes; the modules still sign in, read and validate
everything for real. A module whose examples need state the pristine demo does not have arranges it in PREPARE.
"""

from __future__ import annotations

import ast
import os

import pytest
import yaml

from tests.sim_helpers import REPO_ROOT, run_playbook, writes

MODULES_DIR = os.path.join(REPO_ROOT, "plugins", "modules")
FEATURE = ("Microsoft.Compute", "RestorePointSupportForConfidentialVMV2")


def module_examples() -> dict[str, list]:
    out = {}
    for filename in sorted(os.listdir(MODULES_DIR)):
        if not filename.endswith(".py"):
            continue
        with open(os.path.join(MODULES_DIR, filename), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES":
                out[filename[:-3]] = yaml.safe_load(node.value.value)
    return out


EXAMPLES = module_examples()


def register_feature(sim):
    """The demo's feature is NotRegistered; examples that act on ready VMs assume it is registered."""
    from tests.sim.inproc import call  # pylint: disable=import-outside-toplevel

    sub = sim.scenario["subscriptions"][0]["id"]
    ns, name = FEATURE
    call(sim.sim, "POST", f"https://management.azure.com/subscriptions/{sub}/providers/Microsoft.Features/providers/"
                          f"{ns}/features/{name}/register?api-version=2021-07-01")
    sim.sim.config["feature_registration_seconds"] = 0


def test_every_module_has_examples():
    names = {f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py")}
    assert set(EXAMPLES) == names
    assert all(isinstance(tasks, list) and tasks for tasks in EXAMPLES.values())


@pytest.mark.parametrize("module", sorted(EXAMPLES))
def test_examples_run_in_check_mode(azure_sim, tmp_path, module):
    register_feature(azure_sim)
    seen = len(azure_sim.requests())
    play = [{"name": f"EXAMPLES of {module}", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
             "tasks": EXAMPLES[module]}]
    path = tmp_path / "examples.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    rc, out = run_playbook(azure_sim, str(path), check=True)
    assert rc == 0, out[-4000:]
    assert writes(azure_sim.requests()[seen:]) == [], "check mode wrote to Azure"
