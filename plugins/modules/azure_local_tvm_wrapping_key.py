#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_local_tvm_wrapping_key
short_description: Make or export the RSA-2048 wrapping key for Trusted launch Azure Local VM key backups
version_added: 0.1.0
description:
  - The wrapping key of the Azure Local 2505+ guest state protection key backup (C(Backup-TVMKeys) of
    C(TvmBackupUtils.psm1)), made where the private key stays; run it on the controller (C(delegate_to=localhost)).
  - V(present) makes an RSA-2048 key pair when the private key file does not exist yet, like the documented
    PowerShell 7 steps C([System.Security.Cryptography.RSA]::Create(2048)), C(ExportPkcs8PrivateKeyPem()) and
    C(ExportRSAPublicKeyPem()). The private key is a PKCS#8 PEM file with mode 0600, encrypted with O(passphrase)
    when given; the public key is a PKCS#1 PEM (C(BEGIN RSA PUBLIC KEY)), the file copied to the Azure Local host.
    An existing private key is never replaced; a missing or different public key file is written again from it.
  - V(exported) writes the private key unencrypted to O(export_path) (mode 0600, in a folder only the owner can
    open), for a restore, where C(Import-TvmWrappingKeyFromPem) needs the plain PKCS#8 PEM on the Azure Local host.
    The key is never part of the result, only the path of the file is. Delete the file when the restore is done
    (the role C(azure_cvm.backup.azure_local_tvm) does, in an C(always) block, and deletes the host copy in a
    C(finally)). In check mode the key is decrypted to check the passphrase, and nothing is written.
  - The key can instead be protected with C(ansible-vault encrypt); this module then cannot read it, so use O(passphrase)
    or keep it unencrypted on an encrypted disk.
author:
  - azure_cvm.backup contributors (@azure-cvm)
options:
  path:
    description: The private key file on the controller.
    type: path
    required: true
  public_key_path:
    description: The public key file. Defaults to O(path) with C(.pub.pem) in place of its extension.
    type: path
  passphrase:
    description: Encrypts the private key (PKCS#8, best available encryption), and decrypts it for V(exported).
    type: str
  export_path:
    description: With O(state=exported), the file that receives the unencrypted private key. Required there.
    type: path
  state:
    description: V(present) makes sure the key pair exists; V(exported) writes the private key unencrypted to O(export_path).
    type: str
    choices: [present, exported]
    default: present
attributes:
  check_mode:
    support: full
    description: Reads only; reports what it would write.
  diff_mode:
    support: full
    description: Shows whether the key files exist and the public key fingerprint before and after.
requirements:
  - cryptography >= 41.0.0
notes:
  - The key size is 2048 bits, as the documented procedure asks.
"""

EXAMPLES = r"""
- name: Make the wrapping key on the controller
  azure_cvm.backup.azure_local_tvm_wrapping_key:
    path: /secure/tvm/wrapping/private.pem
    passphrase: "{{ vault_tvm_wrapping_key_passphrase }}"
  delegate_to: localhost
  register: wrapping_key

- name: The private key for a restore, into a private temporary folder (delete it afterwards)
  azure_cvm.backup.azure_local_tvm_wrapping_key:
    path: /secure/tvm/wrapping/private.pem
    passphrase: "{{ vault_tvm_wrapping_key_passphrase }}"
    state: exported
    export_path: "{{ private_tmp.path }}/private.pem"
  delegate_to: localhost
  register: wrapping_private
"""

RETURN = r"""
path:
  description: The private key file.
  returned: always
  type: str
public_key_path:
  description: The public key file.
  returned: always
  type: str
public_key_pem:
  description: The public key (PKCS#1 PEM). Null in check mode when the key does not exist yet.
  returned: always
  type: str
public_key_sha256:
  description: SHA-256 of the public key's DER form, to tell keys apart. Null in check mode when the key does not exist yet.
  returned: always
  type: str
created:
  description: Whether a new key pair was made (or would be, in check mode).
  returned: always
  type: bool
export_path:
  description: The file holding the unencrypted private key (PKCS#8 PEM, mode 0600). The key itself is never returned.
  returned: when O(state=exported)
  type: str
"""

import errno
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.azure_cvm.backup.plugins.module_utils.local_files import read_or_none, write_private_file

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

KEY_SIZE = 2048
PUBLIC_EXPONENT = 65537


class KeyError_(Exception):
    """A key file problem a person can fix."""


def new_private_key():
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_SIZE)


def private_pem(key, passphrase: str | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_pem(key) -> bytes:
    """PKCS#1 'RSA PUBLIC KEY' PEM, what PowerShell's ExportRSAPublicKeyPem() writes."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def fingerprint(key) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return hashlib.sha256(der).hexdigest()


def load_private(path: str, passphrase: str | None):
    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"$ANSIBLE_VAULT"):
        raise KeyError_(f"{path} is encrypted with ansible-vault; this module cannot read it. Decrypt it first or use passphrase.")
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and not passphrase:
        raise KeyError_(f"{path} is encrypted: give its passphrase.")
    if passphrase and not encrypted:
        raise KeyError_(f"{path} is not encrypted but a passphrase was given; the module never rewrites an existing "
                        "private key. Encrypt it yourself or drop the passphrase.")
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"{path} could not be read as a PEM private key (wrong passphrase?): {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_SIZE:
        raise KeyError_(f"{path} is not an RSA-{KEY_SIZE} private key, which the documented procedure needs.")
    return key


def default_public_path(path: str) -> str:
    return os.path.splitext(path)[0] + ".pub.pem"


def ensure_present(params: dict, check_mode: bool) -> dict:
    path, pub_path, passphrase = params["path"], params["public_key_path"], params["passphrase"]
    created = not os.path.exists(path)
    key = None if created and check_mode else (new_private_key() if created else load_private(path, passphrase))
    changed = created
    if key is not None:
        pub = public_pem(key)
        if read_or_none(pub_path) != pub:
            changed = True
            if not check_mode:
                write_private_file(pub_path, pub, ".tvm-key-")
                os.chmod(pub_path, 0o644)  # the public key is not a secret
        if created and not check_mode:
            write_private_file(path, private_pem(key, passphrase), ".tvm-key-")
        elif not created and os.stat(path).st_mode & 0o077:
            changed = True  # check mode says so too
            if not check_mode:
                os.chmod(path, 0o600)
    return {"changed": changed, "created": created, "path": path, "public_key_path": pub_path,
            "public_key_pem": public_pem(key).decode() if key is not None else None,
            "public_key_sha256": fingerprint(key) if key is not None else None}


def export_plain(params: dict, check_mode: bool) -> dict:
    """Decrypt the private key into export_path (0600); the result holds only the path (issue 17: never the key)."""
    path, target = params["path"], params["export_path"]
    if not os.path.exists(path):
        raise KeyError_(f"The wrapping key {path} does not exist: the key backup was made with another key, or the path is wrong.")
    key = load_private(path, params["passphrase"])
    if not check_mode:
        write_private_file(target, private_pem(key, None), ".tvm-key-")
    # changed in check mode too: the real run writes the file every time (an export is an action, not a state)
    return {"changed": True, "created": False, "path": path, "public_key_path": params["public_key_path"],
            "public_key_pem": public_pem(key).decode(), "public_key_sha256": fingerprint(key), "export_path": target}


HINTS = {errno.EISDIR: "give a file path, not a folder", errno.ENOENT: "its folder does not exist and could not be made",
         errno.EACCES: "this user may not write there: choose a folder it owns", errno.EROFS: "the file system is read-only"}


def file_problem(exc: OSError) -> str:
    """One sentence for a file error, never the bare '[Errno N] ...' text."""
    reason = (exc.strerror or type(exc).__name__).lower()
    hint = HINTS.get(exc.errno, "check path, public_key_path and export_path")
    return f"Could not use the key file {exc.filename or ''} ({reason}): {hint}."


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "public_key_path": {"type": "path"},
            "passphrase": {"type": "str", "no_log": True},
            "export_path": {"type": "path"},
            "state": {"type": "str", "choices": ["present", "exported"], "default": "present"},
        },
        required_if=[("state", "exported", ("export_path",))],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    params = dict(module.params)
    params["public_key_path"] = params["public_key_path"] or default_public_path(params["path"])
    before = {"private_key": os.path.exists(params["path"]), "public_key": os.path.exists(params["public_key_path"])}
    try:
        if params["state"] == "present":
            result = ensure_present(params, module.check_mode)
        else:
            result = export_plain(params, module.check_mode)
    except KeyError_ as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=file_problem(exc))
    if module._diff:
        after = {"private_key": True, "public_key": True, "public_key_sha256": result["public_key_sha256"]}
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
