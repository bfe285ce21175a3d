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
    """(file, "" = every check_mode read, pytest arguments) for every file of sets.GUARD_TESTS (or those named)."""
    return [(rel, "", args) for rel, args in sets.GUARD_TESTS.items() if not files or rel in files]


def run(root: str, guards: list[tuple[str, str, list]], copy_tree, work_name: str = "guards") -> tuple[list[str], int]:
    """Mutate each guard (file, a text its line must contain or "", pytest arguments); return (survivors, count).
    Each guard's outcome is printed as it is known (a long run can be read while it goes)."""
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
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                   "-n", "0", *args]
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
            shown = f"{rel}:{span[0]}: {original.splitlines()[span[0] - 1].strip()}"
            if proc.returncode == 0:
                survivors.append(shown)
            elif proc.returncode != 1:  # 2-5: interrupted, internal error, usage, nothing collected: not a kill
                survivors.append(f"{shown} (pytest exit {proc.returncode}: {proc.stdout[-300:]})")
            print(f"  guard {'killed  ' if proc.returncode == 1 else 'SURVIVED'} {shown}", flush=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(original)
    return survivors, checked
