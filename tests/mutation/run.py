"""Mutation testing: `python -m tests.mutation.run full|fast [--threshold N]` (make mutation / the `mutation` stage).
A long run splits: `--only FILE..` (rules files), `--functions FILE.FUNCTION..`, `--guards FILE..`, `--no-guards`,
`--no-rules`; `--tests FILE..` adds test files to sets.UNIT. The output: the mutants not killed, file by file, each as
`function: ...context[original => mutant]context...`, then one score line per file and one for all; guard outcomes are
printed as they come.

1. mutmut 3 over the rules (sets.py), in .build/mutation/<set>: the checkout is copied to
   src/ansible_collections/azure_cvm/backup there, so the module name mutmut derives from a path (it strips `src.`) is
   the collection's import path, and the copy's conftest links its own .build/pytest to itself.
2. the check-mode guards (guards.py), in a copy of the tree; for `fast`, then the review's mistakes as written
   (sets.FAST_MISTAKES). A narrowed run (`fast`, --functions) marks the other functions `# pragma: no mutate` in
   its copy, so mutmut generates the mutants it runs only.
The score counts every mutant except those that only reword prose (a string literal with a space in it, changed into
another string: error and check messages, which the tests check by their key words, not letter by letter); they are
counted apart. A mutant with no test that reaches it counts as surviving; one that timed out counts as killed (as in
mutmut's own score: its tests ran 30 times their CPU time), shown apart. Exit 1 under the threshold or when a
check-mode guard or a mistake survives.
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
import time

from tests.mutation import guards, sets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLED = (1, 3, 37)  # mutmut's exit codes: killed by a test (1, 3) or by the type check (37)
SURVIVED, NO_TESTS = (0,), (5, 33)
# mutmut's timeouts (its tests used 30 times their CPU time): killed, as mutmut's own score counts them, shown apart
TIMEOUT = (-24, 24, 36, 152, 255)
NOT_RUN = "could not find any test case for any mutant"  # mutmut stops early: every mutant is reached by no test


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
    """The mutant's change as `...context[old => new]context...` (only the part of the statement that differs)."""
    def body(node):
        return [line for stmt in node.body for line in ast.unparse(stmt).splitlines()]

    before, after = body(orig), body(mutant)
    shown = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        old, new = " ".join(x.strip() for x in before[i1:i2]), " ".join(x.strip() for x in after[j1:j2])
        start = len(os.path.commonprefix([old, new]))
        end = len(os.path.commonprefix([old[start:][::-1], new[start:][::-1]]))
        left = old[max(0, start - 40):start]
        right = old[len(old) - end:len(old) - end + 30] if end else ""
        shown.append(f"{'...' if start > 40 else ''}{left}[{old[start:len(old) - end]} => {new[start:len(new) - end]}]{right}"
                     f"{'...' if end > 30 else ''}")
    return " | ".join(shown)[:400]


def new_counts() -> dict:
    return {"killed": 0, "survived": [], "no_tests": [], "other": [], "prose": 0, "not_run": 0, "timeout": 0}


def load_meta(path: str) -> dict:
    """mutmut's meta file; a run still going rewrites it, so a half-written one is read again. A run stopped while
    writing leaves it cut off: its first part, exit_code_by_key, is then read alone (it is written first)."""
    for _attempt in range(6):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            time.sleep(0.5)
    start = text.find("{", text.find('"exit_code_by_key"'))
    end = text.find("}", start)
    if start < 0 or end < 0:
        raise SystemExit(f"{path}: not JSON and no whole exit_code_by_key in it")
    return {"exit_code_by_key": json.loads(text[start:end + 1])}


def metas(stage: str) -> dict:
    """{meta file path relative to the stage: mutmut's meta} of a stage."""
    out = {}
    for meta in glob.glob(os.path.join(stage, "mutants", "**", "*.py.meta"), recursive=True):
        out[os.path.relpath(meta, stage)] = load_meta(meta)
    return out


def only_these(source: str, wanted: set[str]) -> str:
    """The source with every function and class not in `wanted` (names as "f" or "Class.method"; a class holding a
    wanted method is entered) between `# pragma: no mutate start` and `end` lines: mutmut makes no mutant of them. The
    mutants of a narrowed run are then generated for the functions it runs only (mutmut generates every function of a
    file and runs those its arguments name: for the fast set, seven times as many as it runs)."""
    lines = source.splitlines(keepends=True)
    spans = []  # (first line, last line, indent) of each run of consecutive siblings that are not wanted

    def walk(body, prefix: str):
        run = []
        for node in body + [None]:
            named = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            name = f"{prefix}{node.name}" if named else None
            inner = named and isinstance(node, ast.ClassDef) and any(w.startswith(name + ".") for w in wanted)
            if named and name not in wanted and not inner:
                run.append(node)
                continue
            if run:
                first = min([run[0].lineno] + [d.lineno for d in run[0].decorator_list])
                spans.append((first, run[-1].end_lineno, " " * run[0].col_offset))
                run = []
            if inner:
                walk(node.body, name + ".")

    walk(ast.parse(source).body, "")
    for first, last, indent in sorted(spans, reverse=True):
        lines.insert(last, f"{indent}# pragma: no mutate end\n")
        lines.insert(first - 1, f"{indent}# pragma: no mutate start\n")
    return "".join(lines)


def narrow_sources(stage: str, wanted_by_file: dict) -> None:
    """Mark, in the stage's copy, the functions of each rules file (module name: wanted names) that are not wanted."""
    for module, wanted in wanted_by_file.items():
        path = os.path.join(stage, sets.COLLECTION, "plugins", "module_utils", module + ".py")
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(only_these(source, set(wanted)))


def run_mutmut(name: str, only: list[str] | None = None, functions: list[str] | None = None,
               tests: list[str] | None = None, retry: str | None = None) -> dict:
    """{rules file name: counts} for the set (narrowed to the files `only` names, to the functions named; with `retry`
    (an earlier stage of the same files and source), only the mutants it did not kill run again and the rest keep its
    results)."""
    label = "-".join(f[:-3] for f in only or []) + ("-functions" if functions else "") + ("-retry" if retry else "")
    stage = os.path.join(ROOT, ".build", "mutation", name + (f"-{label}" if label else ""))
    shutil.rmtree(stage, ignore_errors=True)
    copy_tree(os.path.join(stage, sets.COLLECTION))
    with open(os.path.join(stage, "pyproject.toml"), "w", encoding="utf-8") as handle:
        handle.write(sets.pyproject(name, only, tests))
    env = dict(os.environ, PY_COLORS="0")
    globs = sets.mutant_globs(name, functions)
    if functions or name == "fast":
        narrow_sources(stage, sets.wanted_functions(name, functions))
    earlier = metas(os.path.join(ROOT, ".build", "mutation", retry)) if retry else {}
    if retry:
        globs = sorted(k for m in earlier.values() for k, c in m["exit_code_by_key"].items()
                       if c is not None and c not in KILLED + TIMEOUT)
        if not globs:
            raise SystemExit(f"{retry}: no mutant to run again")
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", os.environ.get("MUTATION_JOBS", "2"), *globs]
    proc = subprocess.run(cmd, cwd=stage, env=env, capture_output=True, text=True, check=False)
    with open(os.path.join(stage, "mutmut.log"), "w", encoding="utf-8") as handle:
        handle.write(proc.stdout + proc.stderr)
    for rel, meta in earlier.items():  # the earlier results of the mutants not run again
        path = os.path.join(stage, rel)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                now = json.load(handle)
            for key, code in meta["exit_code_by_key"].items():
                if key not in globs:
                    now["exit_code_by_key"][key] = code
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(now, handle)
    globs = [] if retry else globs
    by_file = collect(stage, globs, proc.stdout + proc.stderr)
    if proc.returncode != 0 and not any(c["killed"] for c in by_file.values()) and NOT_RUN not in proc.stdout + proc.stderr:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"mutmut failed (exit {proc.returncode}); log: {stage}/mutmut.log")
    return by_file


def collect(stage: str, globs: list[str], log: str) -> dict:
    """{rules file name: counts} from mutmut's results in the stage (log: mutmut's output)."""
    by_file = {}
    none_code = NO_TESTS[0] if NOT_RUN in log else None
    for meta in sorted(glob.glob(os.path.join(stage, "mutants", "**", "*.py.meta"), recursive=True)):
        source = meta[:-len(".meta")]
        funcs = functions(source)
        module = os.path.relpath(source, os.path.join(stage, "mutants", "src"))[:-3].replace(os.sep, ".")
        counts = by_file.setdefault(os.path.basename(source), new_counts())
        for key, code in load_meta(meta)["exit_code_by_key"].items():
            code = none_code if code is None else code
            if globs and not any(fnmatch.fnmatch(key, g) for g in globs):
                continue
            local = key.rpartition(".")[2] if key.startswith(module + ".") else key
            mangled = local.partition("__mutmut_")[0]
            orig, mutant = funcs.get(mangled + "__mutmut_orig"), funcs.get(local)
            if code in KILLED + TIMEOUT:
                counts["killed"] += 1
                counts["timeout"] += code in TIMEOUT
                continue
            if code is None:  # a run stopped before it came to this mutant: neither killed nor counted
                counts["not_run"] += 1
                continue
            if orig is not None and mutant is not None and only_prose(orig, mutant):
                counts["prose"] += 1
                continue
            where = mangled[2:].replace("ǁ", ".")
            shown = change(orig, mutant) if orig is not None and mutant is not None else ""
            bucket = "survived" if code in SURVIVED else "no_tests" if code in NO_TESTS else "other"
            counts[bucket].append(f"{where}: {shown}" + ("" if bucket != "other" else f" (exit {code})"))
    return by_file


def score_line(label: str, counts: dict) -> tuple[str, float]:
    alive = len(counts["survived"]) + len(counts["no_tests"]) + len(counts["other"])
    total = counts["killed"] + alive
    score = 100.0 * counts["killed"] / total if total else 100.0
    return (f"  {label:<22} {counts['killed']:>5} of {total:<5} killed {score:5.1f}%"
            + (f" ({counts['timeout']} by a timeout)" if counts["timeout"] else "") + "   "
            f"{len(counts['survived'])} survived, {len(counts['no_tests'])} reached by no test, "
            f"{len(counts['other'])} other; {counts['prose']} prose-only not counted"
            + (f"; {counts['not_run']} not run (a run still going, stopped, or narrowed to some functions)" if counts["not_run"] else "")), score


def report(by_file: dict) -> float:
    """Print the survivors file by file, then the score of each file and of all; return the overall score."""
    labels = {"survived": "survived", "no_tests": "no test ", "other": "other   "}
    for file, counts in sorted(by_file.items()):
        lines = [f"    {labels[b]} {line}" for b in labels for line in sorted(counts[b])]
        if lines:
            print(f"{file}: mutants not killed (function: ...context[original => mutant]context...)")
            print("\n".join(lines))
    total = new_counts()
    print("rules, file by file:")
    for file, counts in sorted(by_file.items()):
        print(score_line(file, counts)[0])
        total["killed"] += counts["killed"]
        total["prose"] += counts["prose"]
        total["not_run"] += counts["not_run"]
        total["timeout"] += counts["timeout"]
        for bucket in ("survived", "no_tests", "other"):
            total[bucket] += counts[bucket]
    line, score = score_line("all", total)
    print(line)
    return score


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("set", choices=["full", "fast"])
    parser.add_argument("--threshold", type=float, default=85.0, help="minimum %% of counted rule mutants killed")
    parser.add_argument("--only", nargs="+", metavar="FILE", choices=sets.RULES,
                        help="mutate only these rules files (the full run split file by file)")
    parser.add_argument("--functions", nargs="+", metavar="FILE.FUNCTION",
                        help="mutate only these functions (cvm_rules.check_size, readiness.Reader.des); with --only")
    parser.add_argument("--tests", nargs="+", metavar="TEST_FILE", default=[], help="test files run besides sets.UNIT")
    parser.add_argument("--retry", metavar="STAGE", help="run again only the mutants that an earlier run (.build/mutation/"
                        "STAGE, the same files and source) did not kill, keeping its other results")
    parser.add_argument("--report", metavar="STAGE", help="print the results a run left in .build/mutation/STAGE (one "
                        "still going or stopped) without running anything")
    parser.add_argument("--no-guards", action="store_true", help="the rules only")
    parser.add_argument("--no-rules", action="store_true", help="the check-mode guards only")
    parser.add_argument("--guards", nargs="+", metavar="FILE", choices=sorted(sets.GUARD_TESTS),
                        help="mutate only the check-mode guards of these files (full set; in a copy of their own)")
    args = parser.parse_args()
    if args.report:
        stage = os.path.join(ROOT, ".build", "mutation", args.report)
        log = os.path.join(stage, "mutmut.log")
        report(collect(stage, [], open(log, encoding="utf-8").read() if os.path.exists(log) else ""))
        return 0
    failed = False
    if not args.no_rules:
        score = report(run_mutmut(args.set, args.only, args.functions, args.tests, args.retry))
        failed = score < args.threshold
        if failed:
            print(f"rules: FAILED, under the threshold of {args.threshold:.1f}%")
    if not args.no_guards:
        chosen = sets.FAST_GUARDS if args.set == "fast" else guards.all_guards(args.guards)
        work = "guards" + ("-" + "-".join(os.path.basename(f)[:-3] for f in args.guards) if args.guards else "")
        mistakes = sets.FAST_MISTAKES if args.set == "fast" else []
        survivors, checked = guards.run(ROOT, chosen, copy_tree, work[:120], mistakes)
        what = "check-mode guards and the review's mistakes" if mistakes else "check-mode guards"
        print(f"{what}: {checked - len(survivors)} of {checked} killed")
        for line in survivors:
            print(f"survived: {line}")
        failed = failed or bool(survivors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
