#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_local_tvm_store
short_description: Keep the guest state protection key backups of Trusted launch Azure Local VMs on the controller
version_added: 0.1.0
description:
  - Writes the files of a key backup folder (C(Backup-TVMKeys) output, or C(<VM ID>.json) files of C(Export-MocKey))
    byte for byte into a folder of the controller's backup store, and reads them back for a restore. The host
    scripts of the role C(azure_cvm.backup.azure_local_tvm) carry the files as base64 in their JSON output, so no
    Windows collection is needed to move them.
  - Folders are made with mode 0700 and files with mode 0600. A C(SHA256SUMS) file is kept next to the files and is
    checked when the folder is read; a changed backup folder fails ("Don't modify the backup folder").
  - Run it on the controller (C(delegate_to=localhost)).
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  path:
    description:
      - The backup folder. With O(state=read) and O(latest), the folder whose newest C(yyyyMMddHHmmss) sub-folder is read.
    type: path
    required: true
  state:
    description: V(present) writes O(files); V(read) returns the files of the folder.
    type: str
    choices: [present, read]
    default: present
  files:
    description: Relative file paths (for example V(AES/<name>_256.json)) and their content in base64.
    type: dict
  latest:
    description: With O(state=read), read the newest timestamped sub-folder of O(path).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; reports what it would write.
  diff_mode:
    support: none
    description: No diff is shown.
"""

EXAMPLES = r"""
- name: Keep a key backup folder
  azure_cvm.backup.azure_local_tvm_store:
    path: /backup/tvm/node1/keys/20250722192116
    files: "{{ key_backup.files }}"
  delegate_to: localhost

- name: Read the newest one back
  azure_cvm.backup.azure_local_tvm_store:
    path: /backup/tvm/node1/keys
    state: read
    latest: true
  delegate_to: localhost
  register: key_folder
"""

RETURN = r"""
path:
  description: The folder written or read.
  returned: always
  type: str
folder:
  description: The folder's name (the timestamp of a C(Backup-TVMKeys) backup).
  returned: always
  type: str
  sample: "20250722192116"
files:
  description: The relative paths and their content in base64. Only with O(state=read).
  returned: when O(state=read)
  type: dict
sha256:
  description: The relative paths and the SHA-256 of their content.
  returned: always
  type: dict
"""

import base64
import binascii
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.azure_cvm.backup.plugins.module_utils.azure_local_tvm import latest_backup_folder
from ansible_collections.azure_cvm.backup.plugins.module_utils.local_files import read_or_none, write_private_file

SUMS = "SHA256SUMS"


class StoreError(Exception):
    pass


def safe_relpath(rel: str) -> str:
    """A relative path inside the folder, with '/' separators; refuses absolute paths and '..'."""
    parts = [p for p in str(rel).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or str(rel).startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or parts == [SUMS]:
        raise StoreError(f"Refusing file path {rel!r}: it must be a relative path inside the backup folder.")
    return "/".join(parts)


def decode_files(files: dict) -> dict:
    out = {}
    for rel, content in (files or {}).items():
        try:
            out[safe_relpath(rel)] = base64.b64decode(str(content), validate=True)
        except binascii.Error as exc:
            raise StoreError(f"The content of {rel} is not base64: {exc}") from exc
    return out


def sums_text(data: dict) -> bytes:
    return "".join(f"{hashlib.sha256(data[rel]).hexdigest()}  {rel}\n" for rel in sorted(data)).encode()


def store(path: str, files: dict, check_mode: bool) -> dict:
    data = decode_files(files)
    if not data:
        raise StoreError("No files to store: the key backup came back empty.")
    wanted = dict(data)
    wanted[SUMS] = sums_text(data)
    changed = [rel for rel, content in wanted.items() if read_or_none(os.path.join(path, *rel.split("/"))) != content]
    if changed and not check_mode:
        for rel in changed:
            write_private_file(os.path.join(path, *rel.split("/")), wanted[rel], ".tvm-store-")
    return {"changed": bool(changed), "path": path, "folder": os.path.basename(path.rstrip("/")),
            "sha256": {rel: hashlib.sha256(content).hexdigest() for rel, content in data.items()}}


def load(path: str, latest: bool) -> dict:
    if latest:
        names = os.listdir(path) if os.path.isdir(path) else []
        newest = latest_backup_folder(n for n in names if os.path.isdir(os.path.join(path, n)))
        if not newest:
            raise StoreError(f"There is no timestamped key backup folder under {path}.")
        path = os.path.join(path, newest)
    sums = read_or_none(os.path.join(path, SUMS))
    if sums is None:
        raise StoreError(f"{path} is not a key backup folder of this collection (no {SUMS}).")
    data = {}
    for line in sums.decode().splitlines():
        digest, rel = line.partition("  ")[::2]
        content = read_or_none(os.path.join(path, *safe_relpath(rel).split("/")))
        if content is None or hashlib.sha256(content).hexdigest() != digest:
            raise StoreError(f"{rel} in {path} is missing or was modified since the backup; the backup folder must "
                             "not be modified.")
        data[rel] = content
    return {"changed": False, "path": path, "folder": os.path.basename(path.rstrip("/")),
            "files": {rel: base64.b64encode(content).decode() for rel, content in data.items()},
            "sha256": {rel: hashlib.sha256(content).hexdigest() for rel, content in data.items()}}


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "read"], "default": "present"},
            "files": {"type": "dict"},
            "latest": {"type": "bool", "default": False},
        },
        required_if=[("state", "present", ("files",))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = store(p["path"], p["files"], module.check_mode) if p["state"] == "present" else load(p["path"], p["latest"])
    except (StoreError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
