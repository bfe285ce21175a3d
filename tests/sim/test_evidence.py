"""The evidence register (tests/azure_sim/evidence.yml -> EVIDENCE.md): complete, consistent with the code, and no
module decision on an UNVERIFIED behaviour without a fallback whose test exists."""

from __future__ import annotations

import ast
import os
import re

import pytest

from tests.azure_sim import evidence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRIES = evidence.load()
# An error code a module matches: `code == "X"`, `error_code(exc) != "X"`, `code in ("X", ...)`.
CODE_MATCH = re.compile(r"code\w*(?:\([^)]*\))?\s*(?:==|!=)\s*\"([A-Za-z_]+)\"")


def functions_of(path: str) -> set[str]:
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_evidence_md_is_what_the_register_renders_to():
    with open(evidence.RENDERED, encoding="utf-8") as handle:
        assert handle.read() == evidence.render(ENTRIES), "run: python -m tests.azure_sim.evidence"


def test_entries_are_complete_and_unique():
    ids = [e["id"] for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for entry in ENTRIES:
        assert {"id", "behaviour", "kind", "decided_by", "source", "simulator"} <= set(entry), entry["id"]
        assert entry["kind"] in ("field", "error", "state", "header"), entry["id"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_named_module_functions_and_simulator_handlers_exist(entry):
    for ref in entry["decided_by"] + [entry["simulator"]]:
        path, name = ref.split(":")
        assert name in functions_of(path), f"{entry['id']}: {ref} does not exist"


def fallback_tests_exist(entry) -> list[str]:
    missing = []
    for ref in entry.get("fallback_tests") or []:
        path, name = ref.split("::")
        if not os.path.exists(os.path.join(ROOT, path)) or name not in functions_of(path):
            missing.append(ref)
    return missing


VERIFIED_OR_FALLBACK = [e for e in ENTRIES if not evidence.unverified(e) or not e.get("issue")]
OPEN = [e for e in ENTRIES if evidence.unverified(e) and e.get("issue")]


def fallback_problems(entry) -> list[str]:
    """Why an entry fails the rule "no decision on an UNVERIFIED behaviour without a tested fallback" ([] if it passes)."""
    if not evidence.unverified(entry):
        return [f"{entry['id']}: evidenced entries carry no fallback or issue"] if entry.get("fallback_tests") or entry.get("issue") else []
    if not entry.get("fallback"):
        return [f"{entry['id']}: UNVERIFIED without a fallback"]
    if not entry.get("fallback_tests"):
        return [f"{entry['id']}: the fallback has no test"]
    return [f"{entry['id']}: missing test {ref}" for ref in fallback_tests_exist(entry)]


@pytest.mark.parametrize("entry", VERIFIED_OR_FALLBACK, ids=[e["id"] for e in VERIFIED_OR_FALLBACK])
def test_unverified_behaviours_have_a_tested_fallback(entry):
    assert fallback_problems(entry) == []


def test_the_rule_catches_a_missing_fallback_or_a_missing_test():
    base = {"id": "x", "source": "UNVERIFIED - nobody knows", "decided_by": [], "simulator": ""}
    assert fallback_problems(base) == ["x: UNVERIFIED without a fallback"]
    assert fallback_problems({**base, "fallback": "asks"}) == ["x: the fallback has no test"]
    ghost = "tests/sim/test_evidence.py::test_that_does_not_exist"
    assert fallback_problems({**base, "fallback": "asks", "fallback_tests": [ghost]}) == [f"x: missing test {ghost}"]
    real = "tests/sim/test_evidence.py::test_entries_are_complete_and_unique"
    assert fallback_problems({**base, "fallback": "asks", "fallback_tests": [real]}) == []


@pytest.mark.parametrize("entry", [pytest.param(e, marks=pytest.mark.xfail(
    strict=True, reason=f"issue #{e['issue']}: a module decides on this UNVERIFIED behaviour without a safe fallback"))
    for e in OPEN], ids=[e["id"] for e in OPEN])
def test_open_unverified_decisions_still_lack_a_fallback(entry):
    """Fails (as expected) while the issue is open; when a fallback with a test is registered, remove `issue`."""
    assert fallback_problems({k: v for k, v in entry.items() if k != "issue"}) == []


def test_every_error_code_a_module_matches_is_registered():
    registered = {c for e in ENTRIES for c in e.get("codes") or []}
    found = {}
    for folder in ("plugins/modules", "plugins/module_utils"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py"):
                with open(os.path.join(ROOT, folder, name), encoding="utf-8") as handle:
                    for code in CODE_MATCH.findall(handle.read()):
                        found.setdefault(code, f"{folder}/{name}")
    assert found, "the scan found no error-code match at all: the pattern is broken"
    missing = {c: where for c, where in found.items() if c not in registered}
    assert not missing, f"error codes matched by modules but not in evidence.yml: {missing}"
