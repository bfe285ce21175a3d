"""Check-mode guards: every read of `check_mode` in the writing modules (and the runners they use) replaced by `False`
(the write goes ahead in check mode, or the check-mode branch is skipped), one mutant at a time, in a copy of the
tree, against the module's own tests (sets.GUARD_TESTS). A surviving guard fails the run.

mutmut cannot do this part: a module runs inside AnsiballZ as `__main__`, and mutmut's trampoline only switches on a
mutant whose function's `__module__` equals the module name derived from the file's path.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

from tests.mutation import sets


def guard_spans(source: str) -> list[tuple[int, int, int]]:
    """(line, start col, end col) of every `x.check_mode` / `check_mode` read outside a function's parameters."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "check_mode" and isinstance(node.ctx, ast.Load):
            spans.append((node.lineno, node.col_offset, node.end_col_offset))
        elif isinstance(node, ast.Name) and node.id == "check_mode" and isinstance(node.ctx, ast.Load):
            spans.append((node.lineno, node.col_offset, node.end_col_offset))
    return sorted(set(spans))


def mutate(source: str, span: tuple[int, int, int]) -> str:
    lines = source.splitlines(keepends=True)
    line, start, end = span
    text = lines[line - 1]
    lines[line - 1] = text[:start] + "False" + text[end:]
    return "".join(lines)


def all_guards(files: list[str] | None = None) -> list[tuple[str, str, list]]:
    """(file, "" = every check_mode read, pytest arguments) for every file of sets.GUARD_TESTS (or those named); the
    pytest arguments are a list of alternatives, tried in turn until one kills (sets.GUARD_FIRST, then GUARD_TESTS)."""
    return [(rel, "", [sets.GUARD_FIRST[rel], args] if rel in sets.GUARD_FIRST else [args])
            for rel, args in sets.GUARD_TESTS.items() if not files or rel in files]


PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0"]


def _killed(work: str, args: list) -> tuple[bool, str]:
    """(killed, why not) for the tree in `work` as it now is, against the pytest arguments."""
    proc = subprocess.run([sys.executable, *PYTEST, *args], cwd=work, capture_output=True, text=True, check=False)
    if proc.returncode == 1:
        return True, ""
    # 0: every test passed; 2-5: interrupted, internal error, usage, nothing collected: not a kill
    return False, "" if proc.returncode == 0 else f" (pytest exit {proc.returncode}: {proc.stdout[-300:]})"


def run(root: str, guards: list[tuple[str, str, list]], copy_tree, work_name: str = "guards",
        mistakes: list[tuple[str, str, str, str, list]] = ()) -> tuple[list[str], int]:
    """Mutate each guard (file, a text its line must contain or "", pytest arguments), then apply each mistake (name,
    file, text, replacement, pytest arguments); return (survivors, count). Each outcome is printed as it is known (a
    long run can be read while it goes)."""
    work = os.path.join(root, ".build", "mutation", work_name)
    shutil.rmtree(work, ignore_errors=True)
    copy_tree(work)
    survivors, checked = [], 0
    for rel, needle, args in guards:
        path = os.path.join(work, rel)
        original = open(path, encoding="utf-8").read()
        spans = [s for s in guard_spans(original) if needle in original.splitlines()[s[0] - 1]]
        if not spans:
            survivors.append(f"{rel}: no check_mode read on a line with {needle!r} (sets.py is out of date)")
        for span in spans:
            text = original.splitlines()[span[0] - 1].strip()
            why = sets.GUARD_EQUIVALENT.get((rel, text))
            if why:
                print(f"  guard equivalent (not run) {rel}:{span[0]}: {text}: {why}", flush=True)
                continue
            checked += 1
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(mutate(original, span))
            for alternative in args if args and isinstance(args[0], list) else [args]:
                killed, note = _killed(work, alternative)
                if killed:
                    break
            shown = f"{rel}:{span[0]}: {text}"
            if not killed:
                survivors.append(shown + note)
            by = f" (by {' '.join(a for a in alternative if a.startswith('tests/'))})" if killed else ""
            print(f"  guard {'killed  ' if killed else 'SURVIVED'} {shown}{by}", flush=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(original)
    for name, rel, text, replacement, args in mistakes:
        path = os.path.join(work, rel)
        original = open(path, encoding="utf-8").read()
        checked += 1
        if original.count(text) != 1:
            survivors.append(f"{name}: {rel} holds {original.count(text)} copies of {text!r}, not one (sets.py is out of date)")
            continue
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(original.replace(text, replacement))
        killed, note = _killed(work, args)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(original)
        if not killed:
            survivors.append(f"{name} ({rel}: {text!r} => {replacement!r}){note}")
        print(f"  mistake {'killed  ' if killed else 'SURVIVED'} {name}", flush=True)
    return survivors, checked
