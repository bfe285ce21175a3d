"""Run a module's transition through the local Azure in one ansible-playbook: the tasks that set up the state
(`given`), then each transition of a chain three times: in check mode with diff, for real with diff, and again. Each
task's result carries the requests the local Azure logged while it ran (read from the admin API by the callback after
the task ended), so a test can say which task wrote what. Used by tests/modules/test_transitions.py.

One playbook per chain instead of one per run is what keeps a table of ~60 transitions affordable on a small machine.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from tests.sim_helpers import _CALLBACK as SIM_JSON_CALLBACK
from tests.sim_helpers import COLLECTION, REPO_ROOT, _ansible_playbook, _parse_results, ansible_env, writes

# sim_helpers' sim_json callback, extended with the requests each task made (`requests`, beside the module's
# result): tasks run one after the other on one host, and the local Azure logs a request before it answers, so every
# request a task made is in the log when the task's result reaches the callback. One file: a callback plugin is
# loaded by path, so it cannot import its sibling.
_CALLBACK = SIM_JSON_CALLBACK + '''
import os
import urllib.request

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SimJson = CallbackModule


class CallbackModule(_SimJson):
    CALLBACK_NAME = "sim_steps"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seq = int(os.environ["SIM_LOG_SEQ"])

    def _requests(self):
        url = os.environ["SIM_ADMIN_URL"].rstrip("/") + "/requests?since=%d" % self.seq
        with _NO_PROXY.open(url, timeout=30) as answer:
            entries = json.load(answer)
        if entries:
            self.seq = entries[-1]["seq"]
        return entries

    def _add(self, result, status):
        super()._add(result, status)
        self.results[-1]["requests"] = self._requests()
'''


def _task(name: str, module: str, args: dict, **keywords) -> dict:
    fqcn = module if "." in module else f"{COLLECTION}.{module}"
    return {"name": name, fqcn: args, **keywords}


def last_seq(server) -> int:
    entries = server.requests()
    return entries[-1]["seq"] if entries else 0


def _merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def chain_args(steps: list[dict]) -> list[dict]:
    """The full module arguments of each step of a chain: a step's `args` replace, its `set` is merged into the
    previous step's arguments (dicts key by key), its `unset` (option names) removed."""
    out, previous = [], {}
    for step in steps:
        args = dict(step["args"]) if "args" in step else _merge(previous, step.get("set") or {})
        for name in step.get("unset") or []:
            args.pop(name, None)
        out.append(args)
        previous = args
    return out


def run_play(server, name: str, tasks: list[dict], timeout: int) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """The tasks as one ansible-playbook against the local Azure, each result with the requests it made (the sim_steps
    callback splits the request log per task): (the process, per task {task, status, result, requests})."""
    play = [{"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    tmp = tempfile.mkdtemp(prefix=f"sim-{name.replace(' ', '-')}-")
    try:
        with open(os.path.join(tmp, "sim_steps.py"), "w", encoding="utf-8") as handle:
            handle.write(_CALLBACK)
        path = os.path.join(tmp, "play.yml")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(play, handle)
        env = ansible_env(server, ANSIBLE_STDOUT_CALLBACK="sim_steps", ANSIBLE_CALLBACK_PLUGINS=tmp,
                          SIM_ADMIN_URL=server.admin_url, SIM_LOG_SEQ=str(last_seq(server)))
        proc = subprocess.run([_ansible_playbook(), "-i", "localhost,", path], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return proc, _parse_results(proc.stdout)


def run_chain(server, module: str, steps: list[dict], given: list | None = None, timeout: int = 900) -> dict:
    """In one ansible-playbook: each `given` ({module: args}) for real, then for each step of the chain its arguments
    (chain_args) in check mode with diff, for real with diff and again with diff. A failing task does not stop the
    play (ignore_errors), so every step is seen. Returns {"given": [entry...], "steps": [{"check": entry, "apply":
    entry, "again": entry}...]}; an entry is {"task", "status", "result": the module's result, "requests": the log
    entries made while it ran}."""
    tasks = []
    for index, step in enumerate(given or []):
        [(given_module, given_args)] = step.items()
        tasks.append(_task(f"given {index}", given_module, given_args))
    for index, args in enumerate(chain_args(steps)):
        tasks += [_task(f"{index} check", module, args, check_mode=True, diff=True, ignore_errors=True),
                  _task(f"{index} apply", module, args, diff=True, ignore_errors=True),
                  _task(f"{index} again", module, args, diff=True, ignore_errors=True)]
    proc, results = run_play(server, "transitions", tasks, timeout)
    if not results:
        raise AssertionError(f"ansible-playbook ran no task (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    out = {"given": [], "steps": [{} for _step in steps]}
    for entry in results:
        label, _sep, phase = entry["task"].partition(" ")
        if label == "given":
            assert not entry["result"]["failed"], f"the arrangement {entry['task']} failed: {entry['result'].get('msg')}"
            out["given"].append(entry)
        else:
            out["steps"][int(label)][phase] = entry
    return out


def write_calls(entries: list[dict]) -> list[tuple[str, str, str]]:
    """(method, host, path) of each write in `entries`."""
    return [(r["method"], r["host"], r["path"]) for r in writes(entries)]


def match_writes(entries: list[dict], expected: list[list[str]]) -> str | None:
    """None when the writes in `entries` are exactly `expected` ([method, path regex], each matching one write; in
    any order, since cvm_protection writes its VMs concurrently), else why not."""
    made = write_calls(entries)
    if len(made) != len(expected):
        return f"expected {len(expected)} write(s) {expected}, made {len(made)}: {made}"
    left = list(made)
    for want_method, want_path in expected:
        hit = next((w for w in left if w[0] == want_method and re.search(want_path, w[2], re.IGNORECASE)), None)
        if hit is None:
            return f"expected {want_method} {want_path} among the writes, made {made}"
        left.remove(hit)
    return None


def contains(actual, expected, where: str = "") -> str | None:
    """None when `actual` holds `expected`: dicts key by key (extra keys in actual allowed, but an expected {} means
    exactly empty), anything else equal. Else the first place where it does not."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where or 'value'}: expected a dict, got {actual!r}"
        if expected == {} and actual != {}:
            return f"{where or 'value'}: expected {{}}, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing (have {sorted(actual)})"
            why = contains(actual[key], value, f"{where}.{key}")
            if why:
                return why
        return None
    return None if actual == expected else f"{where or 'value'}: expected {expected!r}, got {actual!r}"


# ------------------------------------------------------------------------------------------------ the option inventory


def _constants(path: str) -> dict:
    """The module-level string constants of a Python file (DOCUMENTATION etc.), read without importing it."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant):
            found[node.targets[0].id] = node.value.value
    return found


def module_options(module: str) -> dict:
    """The module's options as documented: its DOCUMENTATION plus the collection's doc fragments it extends."""
    doc = yaml.safe_load(_constants(os.path.join(REPO_ROOT, "plugins", "modules", f"{module}.py"))["DOCUMENTATION"])
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        parts = fragment.split(".")
        assert parts[:2] == COLLECTION.split("."), f"a doc fragment from outside the collection: {fragment}"
        constants = _constants(os.path.join(REPO_ROOT, "plugins", "doc_fragments", f"{parts[2]}.py"))
        options.update(yaml.safe_load(constants[parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"]).get("options") or {})
    return options


def option_paths(options: dict, prefix: str = "") -> dict:
    """{dotted path: its documentation} for every option and suboption."""
    paths = {}
    for name, spec in options.items():
        path = f"{prefix}{name}"
        paths[path] = spec
        if spec.get("suboptions"):
            paths.update(option_paths(spec["suboptions"], path + "."))
    return paths


def _leaves(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _with_defaults(args: dict, specs: dict) -> dict:
    """The leaf values of `args`, with the documented default for a top-level option that is not given."""
    leaves = _leaves(args)
    for path, spec in specs.items():
        if "." not in path and path not in args and spec.get("default") is not None:
            leaves.update(_leaves({path: spec["default"]}))
    return leaves


def exercised(options: dict, steps: list[dict]) -> set[str]:
    """The option paths a chain's steps exercise. A step with full `args` (the first one: a create, or a run against
    the arranged state, or another object) exercises every option it sets to other than its default. A step that
    `set`s changes on the step before exercises the option paths that contain every leaf it changes: a step that
    changes one thing is a test of that thing's comparison. A step that must change several things together names
    them in `exercises` (each must be among its changes)."""
    specs = option_paths(options)
    seen = set()
    previous = None
    for step, args in zip(steps, chain_args(steps)):
        current = _with_defaults(args, specs)
        if previous is None or "args" in step:
            changed = {leaf for leaf, value in current.items() if value != (specs.get(leaf) or {}).get("default")}
            seen |= {path for path in specs if any(leaf == path or leaf.startswith(path + ".") for leaf in changed)}
        else:
            changed = {leaf for leaf in set(current) | set(previous) if current.get(leaf, _MISSING) != previous.get(leaf, _MISSING)}
            for path in step.get("exercises") or []:
                assert any(leaf == path or leaf.startswith(path + ".") for leaf in changed), \
                    f"step {step['name']} names {path} in exercises but does not change it"
                seen.add(path)
            if changed:
                seen |= {path for path in specs if all(leaf == path or leaf.startswith(path + ".") for leaf in changed)}
        previous = current
    return seen


_MISSING = object()
