"""What `make mutation` (set `full`) and the `mutation` stage of `make test` (set `fast`) mutate, and against which tests.

mutmut 3 (PyPI) mutates the pure rules in plugins/module_utils: they are imported in-process by the unit tests, so
mutmut's per-test stats and its forked runs work. The modules' check-mode guards run inside ansible-playbook's
AnsiballZ as `__main__` (mutmut's trampoline matches a mutant by `func.__module__`, which is `__main__` there, so no
mutant of a module file is ever switched on), and mutmut's stats cannot see code run in a child process either: those
guards are mutated by tests/mutation/guards.py, which edits a copy of the tree and runs the module's own tests there.
"""

from __future__ import annotations

import json
import sys

COLLECTION = "src/ansible_collections/azure_cvm/backup"
MODULE = "ansible_collections.azure_cvm.backup.plugins.module_utils"
TRANSITIONS = ["tests/modules/test_transitions.py::test_transition_chain"]
UNIT = ["tests/unit/test_cvm_rules.py", "tests/unit/test_support_matrix.py", "tests/unit/test_protection_rules.py",
        "tests/unit/test_restore_rules.py", "tests/unit/test_azure_local_rules.py", "tests/unit/test_mutation_kills.py",
        "tests/unit/test_posture_rules.py", "tests/unit/test_vault_rules.py", "tests/unit/test_drill_rules.py",
        "tests/unit/test_selection_rules.py",
        "tests/unit/test_mutation_kills_posture.py", "tests/unit/test_mutation_kills_vault.py"]
# every plugins/module_utils/*rules*.py (tests/unit/test_mutation_sets.py holds the list to the directory) and readiness.py
RULES = ["cvm_rules.py", "protection_rules.py", "restore_rules.py", "azure_local_rules.py", "readiness.py",
         "posture_rules.py", "vault_rules.py", "drill_rules.py", "selection_rules.py"]

# The fast subset (make test): fixed functions of the rules that decide what is written or refused; mutmut's names
# are MODULE.<file>.x_<function>__mutmut_<n>, so a glob per function.
FAST_FUNCTIONS = {
    "cvm_rules": ["check_size", "check_region", "check_des_threshold", "check_security_type", "is_v6_cvm_family"],
    "protection_rules": ["protection_action", "action_done", "policy_changes", "vault_changes", "vault_errors"],
    "restore_rules": ["tier_decision", "choose_point"],
}

# Check-mode guards (guards.py): the files whose `check_mode` reads are mutated, and the pytest arguments of the tests
# that must catch it (the module's chains of the transition table, which run every step in check mode first).
GUARD_TESTS = {
    "plugins/modules/recovery_vault.py": TRANSITIONS + ["-k", "recovery_vault"],
    "plugins/modules/backup_policy.py": TRANSITIONS + ["-k", "backup_policy"],
    "plugins/module_utils/protection_runner.py": TRANSITIONS + ["-k", "cvm_protection"],
    "plugins/module_utils/restore_runner.py": [
        "tests/modules/test_cvm_restore.py::test_original_location_needs_confirm_overwrite_and_check_mode_shows_the_plan_without_it"]
    + TRANSITIONS + ["-k", "cvm_restore"],
    "plugins/modules/keyvault_backup_access.py": TRANSITIONS + ["-k", "keyvault_backup_access"],
    "plugins/modules/mhsm_role_assignment.py": TRANSITIONS + ["-k", "mhsm_role_assignment"],
    "plugins/modules/mhsm_role_definition.py": TRANSITIONS + ["-k", "mhsm_role_definition"],
    "plugins/modules/preview_feature.py": TRANSITIONS + ["-k", "preview_feature"],
    "plugins/modules/azure_local_vm.py": TRANSITIONS + ["-k", "azure_local_vm"],
    "plugins/modules/azure_local_tvm_store.py": ["tests/unit/test_azure_local_tvm.py"],
    "plugins/modules/azure_local_tvm_wrapping_key.py": ["tests/unit/test_azure_local_tvm.py"],
    "plugins/modules/drill_resources.py": TRANSITIONS + ["-k", "drill_resources"],
    # every module's check_mode is read here first: any chain catches it
    "plugins/module_utils/base.py": TRANSITIONS + ["-k", "preview_feature"],
}
# Guards whose mutant cannot change what the module does (equivalent mutants), by file and line text, with why: they
# are listed, not run. Keep this short; a guard that matters belongs in a test.
GUARD_EQUIVALENT = {
    ("plugins/modules/azure_local_tvm_wrapping_key.py", "if created and not check_mode:"):
        "reached only with a key in hand, and a created key is only made outside check mode (key = None if created and "
        "check_mode), so check_mode is False on this line whenever created is true",
}
# The fast subset's guards, each with the one chain that must catch it: the review's M5 (recovery_vault sends its
# update in check mode), M9 (backup_policy deletes in check mode) and M6 (cvm_protection writes in check mode).
FAST_GUARDS = [
    ("plugins/modules/recovery_vault.py", "if plan[\"changes\"] and not m.check_mode:",
     TRANSITIONS + ["-k", "recovery_vault and update"]),
    ("plugins/modules/backup_policy.py", "if current and not m.check_mode:",
     TRANSITIONS + ["-k", "backup_policy and enhanced"]),
    ("plugins/module_utils/protection_runner.py", "if not writes or m.check_mode:",
     TRANSITIONS + ["-k", "cvm_protection and straight"]),
]


def pyproject(name: str, only: list[str] | None = None, tests: list[str] | None = None) -> str:
    """mutmut's configuration for the set; `only` (file names of RULES) narrows the full set to those files; `tests`
    are test files run besides UNIT."""
    cfg = {
        "source_paths": [f"{COLLECTION}/plugins/module_utils/{f}" for f in (only or RULES)],
        "also_copy": ["src"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"],
        "pytest_add_cli_args_test_selection": [f"{COLLECTION}/{t}" for t in UNIT + (tests or [])],
    }
    if name == "fast":
        cfg["source_paths"] = [f"{COLLECTION}/plugins/module_utils/{f}.py" for f in FAST_FUNCTIONS]
    return "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in cfg.items())


def mutant_globs(name: str, functions: list[str] | None = None) -> list[str]:
    """mutmut's mutant names for the set; `functions` ("file.function" or "file.Class.method") narrows it to those."""
    if functions:
        out = []
        for spec in functions:
            file, *cls, fn = spec.split(".")
            local = f"xǁ{cls[0]}ǁ{fn}" if cls else f"x_{fn}"
            out.append(f"{MODULE}.{file}.{local}__mutmut_*")
        return out
    if name != "fast":
        return []
    return [f"{MODULE}.{mod}.x_{fn}__mutmut_*" for mod, fns in FAST_FUNCTIONS.items() for fn in fns]


if __name__ == "__main__":
    print(pyproject(sys.argv[1]), end="")
