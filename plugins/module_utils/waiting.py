# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection waits: every loop that sleeps until Azure is done is here.

- wait_for: poll one thing until a condition holds; WaitTimeout (a ModuleFailure) when the time is up. The module
  base uses it for state polls that are not ARM long operations (m.wait: jobs, feature and provider states).
- wait_poller: an azure-core LROPoller with a timeout that raises WaitTimeout: the SDK's own `begin_*` pollers, and
  the raw ARM calls' long operations (m.arm_lro / m.arm_wait build an LROPoller with azure-mgmt-core's ARMPolling,
  which follows Azure-AsyncOperation, then Location, and honours Retry-After).
- settle: a fixed pause for what Azure does not report (permission propagation).
- poll_in_rounds: many pending things at once, one check per round (a fleet of VMs: one list call answers for
  every pending item). Why rounds and not one SDK poller per item: ARMPolling follows Retry-After (Azure Backup
  sends 60 s for protected items) and polls each operation separately.
"""

from __future__ import annotations

import time

from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


class WaitTimeout(ModuleFailure):
    def __init__(self, what: str, timeout: float, last=None):
        super().__init__(f"Timed out after {timeout:g}s waiting for {what}; it may still complete in Azure: run again "
                         "(the module picks up where Azure is) or raise the timeout.", waited_for=what, last_state=last)
        self.last = last


def wait_for(what: str, poll, done, timeout: float, interval: float = 2.0, max_interval: float = 15.0,
             sleep=time.sleep, clock=time.monotonic):
    """Call poll() until done(value) is true; return that value. The interval grows by half up to max_interval.

    Raises WaitTimeout(what) with the last value when `timeout` seconds pass first.
    """
    deadline = clock() + timeout
    value = poll()
    while not done(value):
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, value)
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
        value = poll()
    return value


def settle(seconds: float, sleep=time.sleep):
    """A fixed pause after a change whose propagation Azure does not report (RBAC, access policies)."""
    if seconds > 0:
        sleep(seconds)


def wait_poller(poller, what: str, timeout: float):
    """A long-running operation (azure-core LROPoller) within `timeout` seconds: its result, or WaitTimeout
    (LROPoller.result(timeout) alone returns None without an error when the time is up, which reads as success).
    An operation that ended in error raises the poller's own exception (HttpResponseError)."""
    poller.wait(timeout=timeout)
    if not poller.done():
        raise WaitTimeout(what, timeout, poller.status())
    return poller.result()


def poll_in_rounds(check, pending, timeout: float, interval: float = 1.0, max_interval: float = 10.0,
                   sleep=time.sleep, clock=time.monotonic) -> set:
    """Call check(frozenset of pending keys) -> keys now done, until nothing is pending or `timeout` seconds pass.

    The first round runs at once; the pause between rounds grows by half up to max_interval. Returns the keys
    still pending (empty when everything finished)."""
    deadline = clock() + timeout
    pending = set(pending)
    while pending:
        pending -= set(check(frozenset(pending)))
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
    return pending
