"""Make this checkout importable as `ansible_collections.azure_cvm.backup` (a symlink under .build/pytest, made by
tests/sim_helpers.py); module tests run ansible-playbook with the same path, so every test runs the working tree."""

import sys

from tests.sim_helpers import link_working_tree

sys.path.insert(0, link_working_tree())
