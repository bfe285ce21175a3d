"""CHANGELOG.rst is what antsibull-changelog generates from changelogs/changelog.yaml (never edited by hand).

A release: `antsibull-changelog release --version X.Y.Z` (keep_fragments: fragments of earlier releases stay in
changelogs/fragments/ and are not taken again); then commit CHANGELOG.rst and changelogs/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    # a copy, so that generating never rewrites the checkout (plugin cache, CHANGELOG.rst)
    for name in ("changelogs", "plugins", "meta"):
        shutil.copytree(os.path.join(ROOT, name), tmp_path / name)
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), tmp_path)
    proc = subprocess.run([os.path.join(BIN, "antsibull-changelog"), "generate", "--output", str(tmp_path / "out.rst"),
                           "--output-format", "rst"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(ROOT, "CHANGELOG.rst"), encoding="utf-8") as handle:
        assert (tmp_path / "out.rst").read_text(encoding="utf-8") == handle.read(), \
            "CHANGELOG.rst is stale: run antsibull-changelog generate"


def test_the_collection_version_is_released_in_the_changelog_or_is_the_next_one():
    """galaxy.yml's version is the newest release of changelogs/changelog.yaml, or newer (fragments pending)."""
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        released = list(yaml.safe_load(handle)["releases"])
    newest = max(released, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert tuple(int(p) for p in version.split(".")) >= tuple(int(p) for p in newest.split("."))
