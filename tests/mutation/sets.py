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
        "tests/unit/test_selection_rules.py", "tests/unit/test_feature_rules.py",
        "tests/unit/test_mutation_kills_posture.py", "tests/unit/test_mutation_kills_vault.py",
        "tests/unit/test_mutation_kills_azure_local.py", "tests/unit/test_mutation_kills_readiness.py",
        "tests/unit/test_mutation_kills_cvm.py"]
# every plugins/module_utils/*rules*.py (tests/unit/test_mutation_sets.py holds the list to the directory) and readiness.py
RULES = ["cvm_rules.py", "protection_rules.py", "restore_rules.py", "azure_local_rules.py", "readiness.py",
         "posture_rules.py", "vault_rules.py", "drill_rules.py", "selection_rules.py",
         "feature_rules.py"]

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
    "plugins/modules/azure_local_tvm_wrapping_key.py": ["tests/unit/test_azure_local_tvm.py",
                                                        "tests/unit/test_azure_local_tvm_wrapping_key_module.py"],
    "plugins/modules/drill_resources.py": TRANSITIONS + ["-k", "drill_resources"],
    # every module's check_mode is read here first: any chain catches it
    "plugins/module_utils/base.py": TRANSITIONS + ["-k", "preview_feature"],
}
# The in-process module tests each guard of a file is run against first (seconds, where a chain takes minutes); only a
# guard they do not kill goes on to the file's GUARD_TESTS. Killed is killed, whichever test does it.
GUARD_FIRST = {
    "plugins/modules/recovery_vault.py": ["tests/modules/test_recovery_vault.py"],
    "plugins/modules/backup_policy.py": ["tests/modules/test_backup_policy.py"],
    "plugins/module_utils/protection_runner.py": ["tests/modules/test_cvm_protection.py"],
    "plugins/modules/keyvault_backup_access.py": ["tests/modules/test_keyvault_backup_access.py"],
    "plugins/modules/mhsm_role_assignment.py": ["tests/modules/test_mhsm_role_assignment.py"],
    "plugins/modules/mhsm_role_definition.py": ["tests/modules/test_mhsm_role_definition.py"],
    "plugins/modules/preview_feature.py": ["tests/modules/test_preview_feature.py"],
    "plugins/modules/azure_local_vm.py": ["tests/modules/test_azure_local_vm.py"],
    "plugins/module_utils/base.py": ["tests/modules/test_preview_feature.py"],
}
# Guards whose mutant cannot change what the module does (equivalent mutants), by file and line text, with why: they
# are listed, not run. Keep this short; a guard that matters belongs in a test.
GUARD_EQUIVALENT = {
    ("plugins/modules/keyvault_backup_access.py", 'if result["changed"] and not m.check_mode:'):
        "it guards only waiting.settle(settle_seconds), a sleep (default 0) with no request and nothing in the result: "
        "in check mode the mutant pauses for nothing, a delay that no test may assert (no timing in tests)",
    ("plugins/modules/azure_local_tvm_wrapping_key.py", "if created and not check_mode:"):
        "reached only with a key in hand, and a created key is only made outside check mode (key = None if created and "
        "check_mode), so check_mode is False on this line whenever created is true",
}
# The fast subset's guards, each with one in-process module test that must catch it (a chain of the transition table
# would catch them too, but runs ansible-playbook for every step: minutes per guard). The review's M5 (recovery_vault
# sends its update in check mode), M9 (backup_policy deletes in check mode), M6 (cvm_protection's backup_now ignores
# check mode), and the policy update and the protection writes in check mode.
FAST_GUARDS = [
    ("plugins/modules/recovery_vault.py", "if plan[\"changes\"] and not m.check_mode:",
     ["tests/modules/test_recovery_vault.py::test_hardening_settings_check_mode_apply_and_rerun"]),
    ("plugins/modules/backup_policy.py", "if current and not m.check_mode:",
     ["tests/modules/test_backup_policy.py::test_check_mode_shows_a_time_zone_change_and_a_delete_and_sends_neither"]),
    ("plugins/modules/backup_policy.py", "if changes and not m.check_mode:",
     ["tests/modules/test_backup_policy.py::test_check_mode_shows_a_time_zone_change_and_a_delete_and_sends_neither"]),
    ("plugins/module_utils/protection_runner.py", "if m.check_mode:",
     ["tests/modules/test_cvm_protection.py::test_backup_now_in_check_mode_plans_the_first_backup_and_sends_nothing"]),
    ("plugins/module_utils/protection_runner.py", "if not writes or m.check_mode:",
     ["tests/modules/test_cvm_protection.py::test_check_mode_sends_no_write_and_reports_what_would_change"]),
]
# The review's mistakes that are not check-mode guards, applied as written there (one at a time, in the guards' copy of
# the tree): (name, file, text, its replacement, pytest arguments). mutmut does not make them (it mutates no module
# constant, and leaves no key out of a comprehension), or makes them among hundreds where one survivor stays above the
# threshold; here each one that survives fails the run.
REVIEW = "/work/shared/reviews/tests-2026-12.md"
FAST_MISTAKES = [
    ("M1 ECedsv6 dropped from the v6 families", "plugins/module_utils/cvm_rules.py", '"ECesv6", "ECedsv6")', '"ECesv6")',
     ["tests/unit/test_support_matrix.py::test_the_default_family_lists_are_the_documented_ones",
      "tests/unit/test_support_matrix.py::test_every_size_of_every_supported_v6_family_passes"]),
    ("M4 the DES snapshot boundary > turned into >=", "plugins/module_utils/cvm_rules.py", "    if disks > threshold:",
     "    if disks >= threshold:", ["tests/unit/test_support_matrix.py::test_des_threshold_both_sides_of_each_boundary"]),
    ("M10 time_zone left out of policy_changes", "plugins/module_utils/protection_rules.py",
     "for k in desired if _canon(desired[k])", "for k in desired if k != \"time_zone\" and _canon(desired[k])",
     ["tests/unit/test_mutation_kills.py::test_every_policy_setting_changed_alone_is_a_change"]),
]
# The fast subset's mutmut tests: the unit files of its three rules files (mutmut runs, per mutant, only the tests that
# reach it; a smaller selection makes its stats run and every mutant's collection cheaper)
FAST_UNIT = ["tests/unit/test_cvm_rules.py", "tests/unit/test_support_matrix.py", "tests/unit/test_protection_rules.py",
             "tests/unit/test_restore_rules.py", "tests/unit/test_mutation_kills.py"]


# Module tests (in-process module runs through the local Azure) that the full set runs besides UNIT for a file: the
# Reader's reads and refused reads in readiness.py are only reached through the modules that use it.
MODULE_TESTS = {
    "readiness.py": ["tests/modules/test_cvm_readiness_info.py", "tests/modules/test_backup_posture_info.py"],
}


def pyproject(name: str, only: list[str] | None = None, tests: list[str] | None = None) -> str:
    """mutmut's configuration for the set; `only` (file names of RULES) narrows the full set to those files; `tests`
    are test files run besides UNIT and the MODULE_TESTS of the files mutated."""
    files = only or RULES
    selected = UNIT + [t for f in files for t in MODULE_TESTS.get(f, []) if t not in (tests or [])] + (tests or [])
    cfg = {
        "source_paths": [f"{COLLECTION}/plugins/module_utils/{f}" for f in files],
        "also_copy": ["src"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"],
        "pytest_add_cli_args_test_selection": [f"{COLLECTION}/{t}" for t in selected],
    }
    if name == "fast":
        cfg["source_paths"] = [f"{COLLECTION}/plugins/module_utils/{f}.py" for f in FAST_FUNCTIONS]
        cfg["pytest_add_cli_args_test_selection"] = [f"{COLLECTION}/{t}" for t in FAST_UNIT + (tests or [])]
    return "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in cfg.items())


def wanted_functions(name: str, functions: list[str] | None = None) -> dict:
    """{rules module: the function names ("f", "Class.method") the set runs} for a narrowed run (fast, --functions)."""
    out: dict = {}
    if functions:
        for spec in functions:
            file, _sep, local = spec.partition(".")
            out.setdefault(file, []).append(local)
        return out
    return {mod: list(fns) for mod, fns in FAST_FUNCTIONS.items()} if name == "fast" else {}


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
