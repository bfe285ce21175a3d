"""azure_local_tvm_wrapping_key through its main(), in this process (sim_helpers.run_module_in_process, no local Azure:
the module runs on the controller): check mode reaches the export as well as the key (the guard that hands
module.check_mode to export_plain survived every test that calls the functions directly)."""

from __future__ import annotations

import os

from tests.sim_helpers import run_module_in_process

MODULE = "azure_local_tvm_wrapping_key"


def test_export_in_check_mode_writes_no_plain_key_and_the_real_run_does(tmp_path):
    key = str(tmp_path / "keys" / "private.pem")
    made = run_module_in_process(None, MODULE, {"path": key, "passphrase": "correct horse"})
    assert made.get("failed") is not True and made["created"], made.get("msg")
    target = str(tmp_path / "tmp" / "plain.pem")
    args = {"path": key, "passphrase": "correct horse", "state": "exported", "export_path": target}
    planned = run_module_in_process(None, MODULE, args, check=True)
    assert planned.get("failed") is not True, planned.get("msg")
    assert not os.path.exists(target), "check mode decrypts and writes nothing"
    exported = run_module_in_process(None, MODULE, args)
    assert exported["changed"] is True and os.path.exists(target) and "PRIVATE KEY" not in str(exported)
