"""Mutation testing: `python -m tests.mutation.run full|fast [--threshold N]` (make mutation / the `mutation` stage).

1. mutmut 3 over the rules (sets.py), in .build/mutation/<set>: the checkout is copied to
   src/ansible_collections/azure_cvm/backup there, so the module name mutmut derives from a path (it strips `src.`) is
   the collection's import path, and the copy's conftest links its own .build/pytest to itself.
2. the check-mode guards (guards.py), in a copy of the tree.
The score counts every mutant except those that only reword prose (a string literal with a space in it, changed into
another string: error and check messages, which the tests check by their key words, not letter by letter); they are
counted and listed apart. A mutant with no test that reaches it counts as surviving. Exit 1 under the threshold or when
a check-mode guard survives.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys

from tests.mutation import guards, sets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLED = (1, 3, 37)  # mutmut's exit codes: killed by a test (1, 3) or by the type check (37)
SURVIVED, NO_TESTS = (0,), (5, 33)


def tree_files(root: str = ROOT) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and os.path.isfile(os.path.join(root, f))]


def copy_tree(dest: str) -> None:
    for rel in tree_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)


def functions(path: str) -> dict:
    found = {}
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
    return found


def only_prose(orig, mutant) -> bool:
    """True when the two functions differ only in prose string literals (changed into other strings)."""
    a, b = list(ast.walk(orig))[1:], list(ast.walk(mutant))[1:]
    if len(a) != len(b):
        return False
    differs = False
    for x, y in zip(a, b):
        if type(x) is not type(y):
            return False
        if isinstance(x, ast.Constant) and x.value != y.value:
            if not (isinstance(x.value, str) and isinstance(y.value, str) and " " in x.value.strip()):
                return False
            differs = True
    return differs


def change(orig, mutant) -> str:
    def body(node):
        return [line for stmt in node.body for line in ast.unparse(stmt).splitlines()]

    lines = difflib.unified_diff(body(orig), body(mutant), lineterm="", n=0)
    return " | ".join(line.strip() for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---"))[:300]


def run_mutmut(name: str) -> dict:
    stage = os.path.join(ROOT, ".build", "mutation", name)
    shutil.rmtree(stage, ignore_errors=True)
    copy_tree(os.path.join(stage, sets.COLLECTION))
    with open(os.path.join(stage, "pyproject.toml"), "w", encoding="utf-8") as handle:
        handle.write(sets.pyproject(name))
    env = dict(os.environ, PY_COLORS="0")
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", os.environ.get("MUTATION_JOBS", "2"),
           *sets.mutant_globs(name)]
    proc = subprocess.run(cmd, cwd=stage, env=env, capture_output=True, text=True, check=False)
    with open(os.path.join(stage, "mutmut.log"), "w", encoding="utf-8") as handle:
        handle.write(proc.stdout + proc.stderr)
    counts = {"killed": 0, "survived": [], "no_tests": [], "other": [], "prose": 0}
    globs = sets.mutant_globs(name)
    for meta in glob.glob(os.path.join(stage, "mutants", "**", "*.py.meta"), recursive=True):
        source = meta[:-len(".meta")]
        funcs = functions(source)
        module = os.path.relpath(source, os.path.join(stage, "mutants", "src"))[:-3].replace(os.sep, ".")
        for key, code in json.load(open(meta, encoding="utf-8"))["exit_code_by_key"].items():
            if globs and not any(fnmatch.fnmatch(key, g) for g in globs):
                continue
            local = key.rpartition(".")[2] if key.startswith(module + ".") else key
            mangled = local.partition("__mutmut_")[0]
            orig, mutant = funcs.get(mangled + "__mutmut_orig"), funcs.get(local)
            if code in KILLED:
                counts["killed"] += 1
                continue
            if orig is not None and mutant is not None and only_prose(orig, mutant):
                counts["prose"] += 1
                continue
            where = f"{module.rpartition('.')[2]}.{mangled[2:].replace('ǁ', '.')}"
            shown = change(orig, mutant) if orig is not None and mutant is not None else ""
            bucket = "survived" if code in SURVIVED else "no_tests" if code in NO_TESTS else "other"
            counts[bucket].append(f"{where}: {shown}" + ("" if bucket != "other" else f" (exit {code})"))
    if proc.returncode != 0 and not counts["killed"]:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"mutmut failed (exit {proc.returncode}); log: {stage}/mutmut.log")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("set", choices=["full", "fast"])
    parser.add_argument("--threshold", type=float, default=85.0, help="minimum %% of counted rule mutants killed")
    parser.add_argument("--no-guards", action="store_true")
    args = parser.parse_args()
    counts = run_mutmut(args.set)
    alive = counts["survived"] + counts["no_tests"] + counts["other"]
    total = counts["killed"] + len(alive)
    score = 100.0 * counts["killed"] / total if total else 0.0
    for label in ("survived", "no_tests", "other"):
        for line in sorted(counts[label]):
            print(f"{label}: {line}")
    print(f"rules: {counts['killed']} of {total} mutants killed ({score:.1f}%), {len(counts['survived'])} survived, "
          f"{len(counts['no_tests'])} reached by no test; {counts['prose']} prose-only mutants not counted")
    failed = score < args.threshold
    if failed:
        print(f"rules: FAILED, under the threshold of {args.threshold:.1f}%")
    if not args.no_guards:
        chosen = sets.FAST_GUARDS if args.set == "fast" else guards.all_guards()
        survivors, checked = guards.run(ROOT, chosen, copy_tree)
        print(f"check-mode guards: {checked - len(survivors)} of {checked} killed")
        for line in survivors:
            print(f"guard survived: {line}")
        failed = failed or bool(survivors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
