"""Make this checkout importable as `ansible_collections.azure_cvm.backup` for unit tests (a symlink under .build)."""

import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
LINK_PARENT = os.path.join(ROOT, ".build", "pytest", "ansible_collections", "azure_cvm")
LINK = os.path.join(LINK_PARENT, "backup")

if not os.path.islink(LINK):
    os.makedirs(LINK_PARENT, exist_ok=True)
    try:
        os.symlink(ROOT, LINK)
    except FileExistsError:  # another xdist worker made it first
        pass
sys.path.insert(0, os.path.join(ROOT, ".build", "pytest"))
