"""The hints of the roles and playbooks name variables that exist (issue 17 item 7): every role-prefixed word in a
task message (msg, fail_msg, success_msg) and in the collection's own sentences that name role variables is a
variable some role or playbook defines (defaults, argument specs, vars, register, set_fact, a set_stats artifact, or an
input a play asserts `is defined`), a module or a role."""

from __future__ import annotations

import glob
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIXED = re.compile(r"\b(?:azure_local_tvm|prerequisites|protect|key_access|restore|cvm)_[a-z0-9_]*[a-z0-9]\b")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
MESSAGE_KEYS = {"msg", "fail_msg", "success_msg"}


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _walk(node, found_defined: set, found_messages: list, path: str):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("register", "loop_var") and isinstance(value, str):
                found_defined.add(value)
            if key in ("set_fact", "ansible.builtin.set_fact", "vars") and isinstance(value, dict):
                found_defined.update(value)
            if key in ("set_stats", "ansible.builtin.set_stats") and isinstance(value, dict):
                found_defined.update(value.get("data") or {})  # a job artifact's key (AWX) is a name a hint may give
            if key == "hosts" and isinstance(value, str):  # a play's target variable (-e cvm_hosts=all) is an input
                found_defined.update(re.findall(r"\{\{\s*(\w+)", value))
            if key == "that":  # the variables a play asks for (`x is defined`) are its inputs
                found_defined.update(re.findall(r"(\w+) is defined", str(value)))
            if key in MESSAGE_KEYS and isinstance(value, str):
                found_messages.append((path, value))
            _walk(value, found_defined, found_messages, path)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found_defined, found_messages, path)


def defined_and_messages():
    defined = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))}
    defined |= {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "roles", "*"))}
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "main.yml")):
        defined.update(_load(path) or {})
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for spec in (_load(path) or {}).get("argument_specs", {}).values():
            defined.update(spec.get("options") or {})
    messages = []
    files = glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")) + glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    files += glob.glob(os.path.join(ROOT, "playbooks", "tasks", "*.yml"))
    for path in files:
        _walk(_load(path), defined, messages, os.path.relpath(path, ROOT))
    return defined, messages


def test_every_variable_a_hint_names_exists():
    defined, messages = defined_and_messages()
    assert messages, "no task message was found: the scan is broken"
    unknown = set()
    for path, text in messages:
        for word in PREFIXED.findall(JINJA.sub(" ", text)):
            if word not in defined:
                unknown.add((path, word))
    assert not unknown, sorted(unknown)


def test_the_graph_hint_names_the_playbook_and_role_variables():
    """The sentence the key modules give when Graph is denied names principal_id and the variables that carry it."""
    defined, _messages = defined_and_messages()
    with open(os.path.join(ROOT, "plugins", "module_utils", "key_access.py"), encoding="utf-8") as handle:
        source = handle.read()
    named = set(re.findall(r"\b(?:key_access|cvm_key)_[a-z_]+\b", source))
    assert {"key_access_principal_id", "cvm_key_principal_id"} <= named
    assert named <= defined, named - defined
