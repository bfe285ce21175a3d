"""What users and AWX get: the collection tarball (the execution environment: tests/packaging/test_ee.py)."""

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
