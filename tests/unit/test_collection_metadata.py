"""The collection's metadata stays true: the action group lists every module, galaxy.yml is what we promise."""

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def module_names():
    folder = os.path.join(ROOT, "plugins", "modules")
    return sorted(os.path.splitext(f)[0] for f in os.listdir(folder) if f.endswith((".py", ".ps1")) and not f.startswith("_"))


def takes_azure_auth(name):
    """A module belongs in the action group when it takes the Azure auth options (the azure doc fragment)."""
    with open(os.path.join(ROOT, "plugins", "modules", f"{name}.py"), encoding="utf-8") as handle:
        return "- azure_cvm.backup.azure\n" in handle.read()


def test_action_group_equals_the_modules_that_take_azure_auth():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        runtime = yaml.safe_load(handle)
    azure_modules = [m for m in module_names() if takes_azure_auth(m)]
    assert len(azure_modules) >= len(module_names()) - 3  # only the controller-side Azure Local helpers stay out
    assert sorted(runtime["action_groups"]["azure"]) == azure_modules
    assert runtime["requires_ansible"] == ">=2.16.0"


def test_galaxy_identity():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert (galaxy["namespace"], galaxy["name"], galaxy["license"]) == ("azure_cvm", "backup", ["GPL-3.0-or-later"])
    assert {".venv", ".build", "collections"} <= set(galaxy["build_ignore"])


def test_requirements_use_lower_bounds_only():
    for name in ("requirements.txt", os.path.join("tests", "requirements.txt")):
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
        assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+>=[0-9][0-9.]*", line) for line in lines), lines


def test_readme_lists_every_module_and_role():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for name in module_names():
        assert f"azure_cvm.backup.{name}" in readme, f"README does not list module {name}"
    roles = os.path.join(ROOT, "roles")
    for role in sorted(os.listdir(roles)) if os.path.isdir(roles) else []:
        assert f"azure_cvm.backup.{role}" in readme, f"README does not list role {role}"


def test_every_module_and_doc_fragment_documentation_is_valid_yaml():
    import ast
    import importlib

    for name in module_names():
        with open(os.path.join(ROOT, "plugins", "modules", f"{name}.py"), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        docs = {n.targets[0].id: n.value.value for n in tree.body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) in ("DOCUMENTATION", "EXAMPLES", "RETURN")}
        assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, name
        for key, text in docs.items():
            assert yaml.safe_load(text) is not None, f"{name}.{key}"
    fragment = importlib.import_module("ansible_collections.azure_cvm.backup.plugins.doc_fragments.azure").ModuleDocFragment
    for attr in [a for a in dir(fragment) if a.isupper()]:
        assert "options" in yaml.safe_load(getattr(fragment, attr)) or attr == "INFO_MODULE", attr
