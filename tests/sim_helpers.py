"""Helpers for tests that run the collection against the local Azure (see tests/conftest.py for the fixtures).

    result = run_module(azure_sim, "feature", {"name": "...", "state": "registered"}, check=True)
    assert not writes(azure_sim.requests())
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib
import io
import json
import locale
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The working tree as a collections path: .build/pytest/ansible_collections/azure_cvm/backup is a symlink to this
# checkout, so unit tests (imports) and module tests (ansible-playbook) run the code as edited, without `make install`.
COLLECTIONS_PATH = os.path.join(REPO_ROOT, ".build", "pytest")
TREE_LINK = os.path.join(COLLECTIONS_PATH, "ansible_collections", "azure_cvm", "backup")
TREE_LINK_TARGET = os.path.join("..", "..", "..", "..")  # relative: a copied checkout links to itself, not the original


def link_working_tree() -> str:
    """Make (or re-point) TREE_LINK to this checkout; the collections path. Safe when xdist workers race."""
    if not (os.path.islink(TREE_LINK) and os.readlink(TREE_LINK) == TREE_LINK_TARGET):
        os.makedirs(os.path.dirname(TREE_LINK), exist_ok=True)
        temporary = f"{TREE_LINK}.{os.getpid()}"
        os.symlink(TREE_LINK_TARGET, temporary)
        os.replace(temporary, TREE_LINK)  # atomic: a worker never sees the link missing
    return COLLECTIONS_PATH


link_working_tree()
COLLECTION = "azure_cvm.backup"
WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")
SIGN_IN_HOST = "login.microsoftonline.com"

# A stdout callback that prints one JSON document with every task result (ansible-core ships no json callback since
# it moved to ansible.posix; this one keeps `diff`, which the built-in ones strip from their output).
_CALLBACK = '''
import json
from ansible.plugins.callback import CallbackBase
from ansible.module_utils.common.json import AnsibleJSONEncoder


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "sim_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = []

    def _add(self, result, status):
        data = getattr(result, "result", None)
        data = result._result if data is None else data
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        clean = {k: v for k, v in dict(data).items() if not k.startswith("_ansible")}
        clean["failed"] = status in ("failed", "unreachable")  # ansible-core 2.19 leaves it out of failed results
        self.results.append({"task": task.get_name(), "action": task.action, "host": host.get_name(), "status": status,
                             "result": clean})

    def v2_runner_on_ok(self, result, **kwargs):
        self._add(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._add(result, "failed")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._add(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._add(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._display.display(json.dumps({"results": self.results}, cls=AnsibleJSONEncoder))
'''
_CALLBACK_DIR: str | None = None


def _callback_dir() -> str:
    """A directory holding the sim_json callback, written once per process."""
    global _CALLBACK_DIR
    if _CALLBACK_DIR is None or not os.path.exists(os.path.join(_CALLBACK_DIR, "sim_json.py")):
        path = tempfile.mkdtemp(prefix="sim-callback-")
        atexit.register(shutil.rmtree, path, True)
        with open(os.path.join(path, "sim_json.py"), "w", encoding="utf-8") as handle:
            handle.write(_CALLBACK)
        _CALLBACK_DIR = path
    return _CALLBACK_DIR


def token_claims(token: str) -> dict:
    """The claims of a bearer token (no signature check: for asserting what the local Azure issued)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def writes(requests: list[dict]) -> list[dict]:
    """The log entries that are writes to Azure (ARM, Graph, data plane); sign-in and discovery calls are not."""
    return [r for r in requests if r["method"] in WRITE_METHODS and r["host"] != SIGN_IN_HOST]


def ansible_env(sim, **extra) -> dict:
    """The environment for ansible-playbook: ours without other AZURE_* settings, plus the local Azure's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(sim.env)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PYTHONDONTWRITEBYTECODE": "1",
        # the module over stdin: no temporary file, chmod and clean-up commands per task (time; local connection only)
        "ANSIBLE_PIPELINING": "1",
    })
    env.update(extra)
    return env


def _ansible_playbook() -> str:
    local = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return local if os.path.exists(local) else "ansible-playbook"


def _flags(check: bool, diff: bool) -> list[str]:
    return (["--check"] if check else []) + (["--diff"] if diff else [])


def run_module(sim, module_name: str, args: dict, check: bool = False, diff: bool = False, timeout: int = 300) -> dict:
    """Run one module of the collection against `sim` (a SimServer); its result dict (changed, failed, msg, diff, ...).

    A module of this collection runs in this process: its real main(), argument spec, check mode and diff flags and the
    real SDKs over HTTP to the local Azure, with the environment ansible-playbook would give it, but without the 2-3 s
    of starting ansible-playbook and importing the SDKs again for every call (most of `make test`'s time). What that
    leaves out (the controller, task keywords, AnsiballZ) is covered by the playbook, example and role tests, and
    AZURE_CVM_TEST_VIA_PLAYBOOK=1 runs every call through ansible-playbook as before. Other collections' modules always
    go through ansible-playbook."""
    fqcn = module_name if "." in module_name else f"{COLLECTION}.{module_name}"
    if fqcn.startswith(COLLECTION + ".") and os.environ.get("AZURE_CVM_TEST_VIA_PLAYBOOK") != "1":
        return run_module_in_process(sim, fqcn.rsplit(".", 1)[1], args, check=check, diff=diff)
    return run_module_via_playbook(sim, fqcn, args, check=check, diff=diff, timeout=timeout)


def run_module_in_process(sim, module: str, args: dict, check: bool = False, diff: bool = False) -> dict:
    """The module's main() here, in the environment ansible_env(sim) gives ansible-playbook (sim None: this process's
    environment, for the controller-only modules); the result as the controller reports it (a crash becomes MODULE
    FAILURE with the traceback in module_stderr, as there). `args` may set _ansible_check_mode itself."""
    # imported here: the unit tests that import this file need no controller modules
    from ansible.module_utils import _internal as module_utils_internal  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.common import warnings as module_warnings  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel

    code = importlib.import_module(f"ansible_collections.azure_cvm.backup.plugins.modules.{module}")
    out = io.StringIO()
    # AnsibleModule sets the process's locale from the module's environment (C here): put back after, or this
    # process would read and decode text as ASCII from then on
    saved_env, saved_locale, was_controller = dict(os.environ), locale.setlocale(locale.LC_ALL), module_utils_internal.is_controller
    if sim is not None:
        os.environ.clear()
        os.environ.update(ansible_env(sim))
    # a module's warnings go into its result only outside a controller context (another test may have loaded one)
    module_utils_internal.is_controller = False
    # one module per process under ansible-playbook: no warnings left over from an earlier call
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    module_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    try:
        with patch_module_args({"_ansible_check_mode": check, "_ansible_diff": diff, **args}), contextlib.redirect_stdout(out):
            try:
                code.main()
            except SystemExit:
                pass
            except Exception:  # pylint: disable=broad-except  # what ansible-playbook reports for a crashed module
                return {"failed": True, "msg": "MODULE FAILURE: See stdout/stderr for the exact error", "rc": 1,
                        "module_stdout": out.getvalue(), "module_stderr": traceback.format_exc()}
    finally:
        locale.setlocale(locale.LC_ALL, saved_locale)
        module_utils_internal.is_controller = was_controller
        os.environ.clear()
        os.environ.update(saved_env)
    text = out.getvalue().strip()
    try:
        result = json.loads(text.splitlines()[-1] if text else "")
    except ValueError:
        return {"failed": True, "msg": "MODULE FAILURE: See stdout/stderr for the exact error", "module_stdout": text}
    # as the controller hands them on: warnings as their text, deprecations as msg/version/date/collection_name
    if "warnings" in result:
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    if "deprecations" in result:
        result["deprecations"] = [{"msg": d["event"]["msg"], "version": d.get("version"), "date": d.get("date"),
                                   "collection_name": (d.get("deprecator") or {}).get("resolved_name")}
                                  if isinstance(d, dict) and "event" in d else d for d in result["deprecations"]]
    return result


def run_module_via_playbook(sim, fqcn: str, args: dict, check: bool = False, diff: bool = False, timeout: int = 300) -> dict:
    """One module through ansible-playbook: the controller, AnsiballZ and a new process, as a user runs it. A playbook
    that could not run at all raises AssertionError with its output."""
    play = [{"name": "module under test", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": fqcn, fqcn: args}]}]
    with tempfile.TemporaryDirectory(prefix="sim-module-") as tmp:
        path = os.path.join(tmp, "play.yml")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(play, handle)  # JSON is YAML
        env = ansible_env(sim, ANSIBLE_STDOUT_CALLBACK="sim_json", ANSIBLE_CALLBACK_PLUGINS=_callback_dir())
        proc = subprocess.run([_ansible_playbook(), "-i", "localhost,", path, *_flags(check, diff)], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    results = _parse_results(proc.stdout)
    if not results:
        raise AssertionError(f"ansible-playbook ran no task (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return results[-1]["result"]


def _parse_results(stdout: str) -> list[dict]:
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"results"'):
            return json.loads(line)["results"]
    return []


def run_playbook(sim, path: str, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
                 timeout: int = 600) -> tuple[int, str]:
    """Run a playbook against `sim` with the default output; (exit code, stdout and stderr together)."""
    cmd = [_ansible_playbook(), "-i", "localhost,", os.path.join(REPO_ROOT, path) if not os.path.isabs(path) else path]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(cmd + _flags(check, diff), env=ansible_env(sim), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout
