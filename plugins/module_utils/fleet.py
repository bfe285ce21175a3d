# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet helpers: run calls with bounded concurrency, and pace writes by the remaining-writes budget Azure reports.
(Waiting for many operations at once, in rounds, is waiting.poll_in_rounds.)"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

MAX_CONCURRENCY = 64
REMAINING_WRITES = "x-ms-ratelimit-remaining-subscription-writes"
# Below LOW_WRITES writes left in the subscription's budget, writes slow down; at PAUSE_WRITES or fewer they pause.
LOW_WRITES = 100
PAUSE_WRITES = 5
PAUSE_SECONDS = (1.0, 10.0)  # the first pause, the longest one (each pause in a row doubles)


def write_pace(remaining: int | None, concurrency: int, pauses_in_a_row: int = 0) -> tuple[int, float]:
    """(writes allowed at once, seconds to wait before the next write) for the writes Azure says are left.

    Full speed while the budget is unknown or plenty; then concurrency shrinks in proportion, so the budget lasts
    until it refills; near zero one write at a time after a pause, instead of a 429 from Azure."""
    if remaining is None or remaining >= LOW_WRITES:
        return concurrency, 0.0
    if remaining <= PAUSE_WRITES:
        return 1, min(PAUSE_SECONDS[0] * 2 ** pauses_in_a_row, PAUSE_SECONDS[1])
    return max(1, concurrency * remaining // LOW_WRITES), 0.0


class WriteGovernor:
    """Paces concurrent writes by the remaining-writes header of their answers (see write_pace).

    Workers call acquire() before a write and release(headers) after it. `info()` says what the pacing did."""

    def __init__(self, concurrency: int, sleep=time.sleep):
        self.concurrency = concurrency
        self.sleep = sleep
        self.cond = threading.Condition()
        self.active = 0
        self.remaining = None
        self.lowest_remaining = None
        self.lowest_concurrency = concurrency
        self.pauses = 0
        self.paused_seconds = 0.0
        self.in_a_row = 0

    def acquire(self):
        with self.cond:
            while True:
                allowed, pause = write_pace(self.remaining, self.concurrency, self.in_a_row)
                if self.active < allowed:
                    break
                self.cond.wait(0.2)
            self.active += 1
            self.lowest_concurrency = min(self.lowest_concurrency, allowed)
            if pause:
                self.pauses += 1
                self.paused_seconds += pause
                self.in_a_row += 1
            else:
                self.in_a_row = 0
        if pause:  # allowed is 1 then: the other workers wait for this one
            self.sleep(pause)

    def release(self, headers: dict | None = None):
        value = str(next((v for k, v in (headers or {}).items() if k.lower() == REMAINING_WRITES), ""))
        with self.cond:
            if value.isdigit():
                self.remaining = int(value)
                self.lowest_remaining = int(value) if self.lowest_remaining is None else min(self.lowest_remaining, int(value))
            self.active -= 1
            self.cond.notify_all()

    def info(self) -> dict | None:
        """What the pacing saw and did; None when Azure sent no remaining-writes header."""
        if self.lowest_remaining is None:
            return None
        return {"min_remaining_writes": self.lowest_remaining, "concurrency": self.concurrency,
                "lowest_concurrency": self.lowest_concurrency, "pauses": self.pauses,
                "paused_seconds": round(self.paused_seconds, 1)}


def bounded_map(fn, items: list, concurrency: int, governor: WriteGovernor | None = None) -> list:
    """[(result, exception)] of fn(item) for each item, in order, at most `concurrency` at a time.

    Exceptions are returned, not raised, so one failing item does not hide what happened to the others.
    With a governor, fn(item) returns the write's response headers and the governor paces the writes by them."""
    def call(item):
        if governor is not None:
            governor.acquire()
        headers = None
        try:
            result = headers = fn(item)
            return result, None
        except Exception as exc:  # pylint: disable=broad-except  # reported per item by the caller
            headers = getattr(getattr(exc, "response", None), "headers", None)  # a 429's header says 0 left
            return None, exc
        finally:
            if governor is not None:
                governor.release(dict(headers) if hasattr(headers, "items") else None)

    if not items:
        return []
    workers = max(1, min(concurrency, MAX_CONCURRENCY, len(items)))
    if workers == 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, items))


class Progress:
    """How far a fleet call is, written to a file (JSON: step, done, total) that a play running the module with
    async reads between its polls (roles/protect/tasks/progress.yml); nothing is written without a path. Each write
    replaces the whole file, so a reader never sees half of one. Thread-safe: workers call tick()."""

    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.Lock()
        self.step, self.done, self.total = "", 0, 0

    def report(self, step: str, done: int, total: int):
        with self.lock:
            self.step, self.done, self.total = step, done, total
            self._write()

    def tick(self):
        with self.lock:
            self.done += 1
            self._write()

    def _write(self):
        if not self.path:
            return
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"step": self.step, "done": self.done, "total": self.total}, handle)
        os.replace(tmp, self.path)
