"""The execution environment: ee/execution-environment.yml makes a build context that holds this collection, and
ansible-builder's dependency introspection finds the collection's Python and system requirements in it.

The image itself is built by tests/ee_build.sh (needs podman; not part of `make test`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _run(*cmd, cwd=None, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _requirement_names(path: str) -> list[str]:
    """The distribution names of a pip or bindep requirements file (comments and blank lines dropped)."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.split("#", 1)[0].strip() for line in handle]
    return [re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() for line in lines if line]


@pytest.fixture(scope="module")
def ee_dir(tmp_path_factory):
    """ee/ copied into a scratch tree with the collection tarball where the definition expects it
    (../.build/ee/azure_cvm-backup.tar.gz), as tests/ee_build.sh lays it out."""
    top = tmp_path_factory.mktemp("ee")
    shutil.copytree(os.path.join(ROOT, "ee"), top / "ee")
    out = top / ".build" / "ee"
    out.mkdir(parents=True)
    _run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT)
    (built,) = out.glob("azure_cvm-backup-*.tar.gz")
    built.rename(out / "azure_cvm-backup.tar.gz")
    return top / "ee"


def test_base_image_is_pinned_to_an_ansible_core_of_at_least_2_16():
    with open(os.path.join(ROOT, "ee", "execution-environment.yml"), encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 3
    image = definition["images"]["base_image"]["name"]
    # community-ee-minimal tags are "<ansible-core version>-<revision>" (ansible-community/images)
    match = re.fullmatch(r"ghcr\.io/ansible-community/community-ee-minimal:(\d+)\.(\d+)\.(\d+)-\d+", image)
    assert match, image
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        required = yaml.safe_load(handle)["requires_ansible"]
    minimum = tuple(int(part) for part in re.fullmatch(r">=(\d+)\.(\d+)\.\d+", required).groups())
    assert (int(match[1]), int(match[2])) >= minimum == (2, 16)


def test_collection_metadata_names_requirements_inside_the_collection():
    """ansible-builder's introspection resolves these paths from the installed collection's root."""
    with open(os.path.join(ROOT, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        deps = yaml.safe_load(handle)["dependencies"]
    assert deps == {"python": "requirements.txt", "system": "bindep.txt"}


def test_create_makes_a_context_with_the_collection_and_introspection_finds_its_requirements(ee_dir, tmp_path):
    context = tmp_path / "context"
    # the Containerfile podman builds from (tests/ee_build.sh): without the name ansible-builder writes a Dockerfile
    # when it finds a docker CLI on PATH
    _run(os.path.join(BIN, "ansible-builder"), "create", "-f", str(ee_dir / "execution-environment.yml"),
         "--context", str(context), "--output-filename", "Containerfile")
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="ghcr.io/ansible-community/community-ee-minimal:' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile

    # the collection is in the context, as the tarball the galaxy stage installs
    tarball = context / "_build" / "collection" / "azure_cvm-backup.tar.gz"
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
        names = archive.getnames()
    assert (manifest["namespace"], manifest["name"]) == ("azure_cvm", "backup")
    assert {"requirements.txt", "bindep.txt", "meta/execution-environment.yml"} <= set(names)

    # what the galaxy stage runs (in /build = the context's _build), then what the builder stage runs on the result
    collections = tmp_path / "usr_share_ansible_collections"
    _run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
         "--collections-path", str(collections), cwd=context / "_build",
         env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)})  # not "already installed" elsewhere
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    report = _run(os.path.join(BIN, "ansible-builder"), "introspect", str(collections),
                  "--write-pip", str(pip_out), "--write-bindep", str(bindep_out))
    assert "azure_cvm.backup" in report and "Expected requirements file not present" not in report

    wanted_pip = set(_requirement_names(os.path.join(ROOT, "requirements.txt")))
    assert "azure-mgmt-recoveryservicesbackup" in wanted_pip
    assert wanted_pip <= set(_requirement_names(pip_out))
    assert set(_requirement_names(os.path.join(ROOT, "bindep.txt"))) <= set(_requirement_names(bindep_out))
