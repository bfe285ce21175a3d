"""The modules against the evidenced behaviours of the local Azure (issue 15 item 3): where a module decides on a
behaviour, it does so safely. The fallbacks the evidence register (tests/azure_sim/evidence.yml) names are proved here
or in the module tests."""

from __future__ import annotations

import pytest

from tests.modules.test_cvm_protection import KC, KC_VID, add_policy, args, failed, item_of, last_seq, register_feature
from tests.sim_helpers import run_module, writes

MODULE = "cvm_protection"


@pytest.fixture
def demo(azure_sim):
    """The demo estate with the preview feature registered and policy cvm-daily in the Korea Central vault."""
    register_feature(azure_sim.sim)
    add_policy(azure_sim.sim, KC_VID, "cvm-daily", time="21:00")
    return azure_sim


def test_a_soft_deleted_item_is_refused_before_any_write_until_undeleted(demo):
    assert not failed(run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"])))
    removed = run_module(demo, MODULE, {"vault": KC, "vms": ["rg-cvm-kc/cvm-pmk-01"], "state": "absent",
                                        "confirm_delete_backup_data": True})
    assert not failed(removed), removed.get("msg")
    assert item_of(demo.sim, KC_VID, "rg-cvm-kc", "cvm-pmk-01")["properties"]["isScheduledForDeferredDelete"] is True
    seq = last_seq(demo)
    again = run_module(demo, MODULE, args(["rg-cvm-kc/cvm-pmk-01"]))
    assert failed(again) and "soft-deleted" in again["msg"] and "undelete" in again["msg"]
    assert writes(demo.requests(seq)) == []
