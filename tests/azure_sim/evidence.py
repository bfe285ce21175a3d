"""Render the evidence register (evidence.yml) to EVIDENCE.md: `python -m tests.azure_sim.evidence` writes it,
`--check` exits 1 when EVIDENCE.md is not what evidence.yml renders to."""

from __future__ import annotations

import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REGISTER = os.path.join(HERE, "evidence.yml")
RENDERED = os.path.join(HERE, "EVIDENCE.md")


def load(path: str = REGISTER) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def unverified(entry: dict) -> bool:
    return str(entry.get("source", "")).startswith("UNVERIFIED") or "UNVERIFIED" in str(entry.get("source", ""))


def render(entries: list[dict]) -> str:
    lines = ["# Evidence register of the local Azure", "",
             "Generated from `tests/azure_sim/evidence.yml` by `python -m tests.azure_sim.evidence` - edit the YAML, not "
             "this file. Each behaviour of the local Azure that a module decides on, with its public source or "
             "UNVERIFIED; an UNVERIFIED one names the fallback that degrades safely and the test that proves it, or the "
             "issue that still has to bring one (`tests/sim/test_evidence.py`).", "",
             "| status | count |", "| --- | --- |",
             f"| evidenced | {sum(1 for e in entries if not unverified(e))} |",
             f"| UNVERIFIED, tested fallback | {sum(1 for e in entries if unverified(e) and e.get('fallback_tests'))} |",
             f"| UNVERIFIED, no fallback yet (open issue) | {sum(1 for e in entries if unverified(e) and e.get('issue'))} |",
             ""]
    for entry in entries:
        lines += [f"## {entry['id']}", "", f"- **Behaviour** ({entry['kind']}): {entry['behaviour']}",
                  "- **Decided by**: " + ", ".join(f"`{d}`" for d in entry["decided_by"])]
        if entry.get("codes"):
            lines.append("- **Error codes matched**: " + ", ".join(f"`{c}`" for c in entry["codes"]))
        lines.append(f"- **Source**: {entry['source']}")
        if entry.get("fallback"):
            lines.append(f"- **Fallback**: {entry['fallback']}")
            lines.append("- **Fallback tests**: " + ", ".join(f"`{t}`" for t in entry["fallback_tests"]))
        if entry.get("issue"):
            lines.append(f"- **Open**: issue #{entry['issue']}" + (f" - {entry['note']}" if entry.get("note") else ""))
        lines += [f"- **Local Azure**: `{entry['simulator']}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render(load())
    if "--check" in argv:
        with open(RENDERED, encoding="utf-8") as handle:
            return 0 if handle.read() == text else 1
    with open(RENDERED, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
