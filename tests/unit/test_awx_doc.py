"""docs/awx.md's restore survey names every variable restore_cvm.yml takes (a survey question that is missing is an
option an AWX user cannot reach, e.g. the confirmation that original_location needs)."""

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def restore_survey() -> str:
    with open(os.path.join(ROOT, "docs", "awx.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split('## Job template "Restore a confidential VM"', 1)[1]
    return section.split("\n## ", 1)[0]


def test_the_restore_survey_lists_every_variable_of_the_restore_playbook():
    with open(os.path.join(ROOT, "playbooks", "restore_cvm.yml"), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    wanted = {name for name in play["vars"] if name.startswith(("cvm_restore_", "cvm_staging_"))}
    listed = set(re.findall(r"^\|[^|]*\| `(cvm_\w+)` \|", restore_survey(), re.M))
    assert "cvm_restore_confirm_overwrite" in wanted
    assert wanted - listed == set()
