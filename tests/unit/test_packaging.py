"""What users and AWX get: the collection tarball and the execution-environment build context."""

import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
LOCAL_ARTEFACTS = (".venv/", ".build/", "collections/", ".pytest_cache/", "__pycache__/", ".sim/", "tests/output/", ".git/")


def test_collection_tarball_has_no_local_artefacts(tmp_path):
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), ROOT],
                   check=True, capture_output=True, text=True)
    (tarball,) = tmp_path.glob("azure_cvm-backup-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/cvm_protection.py" in names and "roles/protect/tasks/main.yml" in names
    leaked = [n for n in names if any(f"/{part}" in f"/{n}/" or n.startswith(part) for part in LOCAL_ARTEFACTS)]
    assert leaked == []


def test_execution_environment_context_is_created(tmp_path):
    proc = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", os.path.join(ROOT, "meta", "execution-environment.yml"),
                           "--context", str(tmp_path / "context")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any((tmp_path / "context" / name).exists() for name in ("Containerfile", "Dockerfile"))
    with open(tmp_path / "context" / "_build" / "requirements.txt", encoding="utf-8") as handle:
        assert "azure-mgmt-recoveryservicesbackup" in handle.read()
