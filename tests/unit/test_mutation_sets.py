"""What `make mutation` mutates (tests/mutation/sets.py) keeps up with the tree: every rules file, every writing module."""

from __future__ import annotations

import glob
import os

from tests.mutation import guards, sets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_rules_file_and_readiness_are_mutated():
    found = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "plugins", "module_utils", "*rules*.py"))}
    assert found | {"readiness.py"} == set(sets.RULES)


def test_every_test_file_named_exists():
    named = sets.UNIT + sets.FAST_UNIT + [a for args in sets.GUARD_TESTS.values() for a in args if a.startswith("tests/")]
    named += [a for args in sets.GUARD_FIRST.values() for a in args] + [a for g in sets.FAST_GUARDS for a in g[2]]
    named += [a for m in sets.FAST_MISTAKES for a in m[4]]
    missing = [t for t in named if not os.path.isfile(os.path.join(ROOT, t.partition("::")[0]))]
    assert not missing


def test_every_fast_guard_and_mistake_is_still_in_its_file():
    """A guard's line and a mistake's text must still be there (the stage would report them as survivors otherwise)."""
    for rel, needle, _args in sets.FAST_GUARDS:
        source = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        assert [s for s in guards.guard_spans(source) if needle in source.splitlines()[s[0] - 1]], (rel, needle)
    for name, rel, text, replacement, _args in sets.FAST_MISTAKES:
        assert open(os.path.join(ROOT, rel), encoding="utf-8").read().count(text) == 1 and text != replacement, name


def test_every_file_that_reads_check_mode_to_decide_a_write_has_its_guards_mutated():
    readers = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "module*", "*.py")):
        rel = os.path.relpath(path, ROOT)
        if guards.guard_spans(open(path, encoding="utf-8").read()) and not rel.endswith("_info.py"):
            readers.add(rel)
    assert readers - set(sets.GUARD_TESTS) == set()
    assert all(guards.guard_spans(open(os.path.join(ROOT, rel), encoding="utf-8").read()) for rel in sets.GUARD_TESTS)


def test_every_equivalent_guard_is_still_in_its_file():
    for (rel, text), why in sets.GUARD_EQUIVALENT.items():
        lines = [line.strip() for line in open(os.path.join(ROOT, rel), encoding="utf-8").read().splitlines()]
        assert text in lines and why.strip(), (rel, text)


def test_the_tests_written_for_survivors_are_run_against_the_mutants():
    written = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "tests", "unit", "test_mutation_kills*.py"))}
    assert written - set(sets.UNIT) == set()
