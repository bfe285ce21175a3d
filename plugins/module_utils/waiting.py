# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting as data: poll something until a condition holds or the time is up. Used by every long operation."""

from __future__ import annotations

import time

from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure


class WaitTimeout(ModuleFailure):
    def __init__(self, what: str, timeout: float, last=None):
        super().__init__(f"Timed out after {timeout:g}s waiting for {what}. It may still complete in Azure: run again "
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
