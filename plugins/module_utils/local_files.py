# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on the controller for the modules that keep secrets there (azure_local_tvm_store, azure_local_tvm_wrapping_key):
read one if it exists, write one atomically and readable by its owner only."""

from __future__ import annotations

import os
import tempfile


def read_or_none(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_private_file(path: str, data: bytes, prefix: str = ".tmp-"):
    """Write `data` to `path` atomically (a temporary file `prefix`* beside it, then a rename), readable by the owner
    only (0600) from the first byte on; the folder is made 0700 when missing. The temporary file is removed on error."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)  # mkstemp creates the file with mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
