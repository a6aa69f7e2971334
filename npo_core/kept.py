"""Answers kept for one look at a patient: fetched once, read by every page of that look.

A clinician's overview, set pages, record pages, timeline and calendar all show the same answers;
asking every producer again for each page made a heavy patient's every click cost the whole
fan-out. What is kept here is the producers' answers only (records and source statuses), in memory,
for one session and one open patient. Nothing here decides access: every page still decides every
record against the guards as they are then, and logs what it shows before it is sent.

Kept answers are dropped when they are older than the environment's `keep_answers` seconds, when the
session ends or logs out, when the patient is closed (a patient opened again is a new look), and
oldest first where the bounds per session or per process would be passed. Nothing is written to disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_SESSION_RECORDS = 100_000  # about four of Linda, the heaviest demo patient, per session
MAX_KEPT_RECORDS = 400_000  # per process: at about 4 KB a record in memory, under 2 GB in all

_FREEING = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="npo-free")


@dataclass(frozen=True)
class Fetch:
    """One fan-out's answers: what it asked (contract ids), what came back, and when."""

    contracts: frozenset[str]
    setup: object  # the environment and producers it was fetched under
    results: tuple  # ((SourceStatus, [Record]), ...), read-only for those who share it
    fetched_at: dt.datetime
    records: int


class KeptAnswers:
    """Fetches per (session, open patient); a look is the PatientContext object the session holds."""

    def __init__(self, *, max_session_records: int = MAX_SESSION_RECORDS,
                 max_records: int = MAX_KEPT_RECORDS, clock=time.monotonic):
        self.max_session_records, self.max_records, self.clock = max_session_records, max_records, clock
        # (session id, patient id) -> (the look's PatientContext, [(expires, Fetch)]), least recently used first
        self._kept: OrderedDict[tuple[str, str], tuple[object, list]] = OrderedDict()
        self._pending: dict[tuple[str, str], list[tuple[object, frozenset, asyncio.Future]]] = {}

    async def fetch(self, session_id: str, look, contract_ids: frozenset[str], setup, keep_seconds: float,
                    fan_out, *, fresh: bool = False) -> tuple[Fetch, bool]:
        """(the answers for these contracts, whether they were kept from before). `fan_out()` asks the
        producers when nothing kept or in flight for this look, under the same `setup`, covers them;
        `fresh` always asks."""
        key = (session_id, look.patient.id)
        if not fresh and keep_seconds > 0:
            kept = self._get(key, look, contract_ids, setup)
            if kept is not None:
                return kept, True
            for other, ids, same, future in list(self._pending.get(key, [])):
                if other is look and contract_ids <= ids and same == setup:  # another tab of this look fetches it
                    try:
                        return await asyncio.shield(future), True
                    except asyncio.CancelledError:
                        if not future.cancelled():
                            raise  # this request itself was cancelled
                        break  # the tab that was fetching went away (closed): this one asks itself
        future = asyncio.get_running_loop().create_future()
        entry = (look, contract_ids, setup, future)
        self._pending.setdefault(key, []).append(entry)
        try:
            results = await fan_out()
            got = Fetch(contract_ids, setup, tuple(results), dt.datetime.now(dt.timezone.utc),
                        sum(len(records) for _, records in results))
            future.set_result(got)
        except asyncio.CancelledError:
            future.cancel()  # those waiting for it fetch for themselves
            raise
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: a waiter that left must not log "never retrieved"
            raise
        finally:
            waiting = self._pending.get(key, [])
            waiting.remove(entry)
            if not waiting:
                self._pending.pop(key, None)
        if keep_seconds > 0:
            self._put(key, look, got, keep_seconds)
        return got, False

    def drop(self, session_id: str, patient_id: str | None = None) -> None:
        """Logout, session end (patient_id None), or the patient closed or fetched again."""
        dropped = [self._kept.pop(k) for k in [k for k in self._kept if k[0] == session_id and patient_id in (None, k[1])]]
        if dropped:  # freeing a heavy patient's answers (their trees too) took 200 ms of the event loop
            _FREEING.submit(dropped.clear)

    def keep_only(self, session_id: str, open_patients: dict) -> None:
        """Drop what belongs to patients the session no longer has open (closed, or reopened anew)."""
        for key in [k for k in self._kept if k[0] == session_id]:
            if open_patients.get(key[1]) is not self._kept[key][0]:
                del self._kept[key]

    @property
    def records(self) -> int:
        return sum(f.records for _, fetches in self._kept.values() for _, f in fetches)

    def records_of(self, session_id: str) -> int:
        return sum(f.records for k, (_, fetches) in self._kept.items() if k[0] == session_id for _, f in fetches)

    def _get(self, key, look, contract_ids: frozenset[str], setup) -> Fetch | None:
        found = self._kept.get(key)
        if found is None or found[0] is not look:
            return None
        now = self.clock()
        fetches = [(expires, f) for expires, f in found[1] if expires > now]
        found[1][:] = fetches
        self._kept.move_to_end(key)
        fetches = [f for _, f in reversed(fetches) if f.setup == setup]  # newest first
        # A fetch serves a contract family only if it asked the same majors of it as this read does: the majors
        # decide which one each producer was asked, so a major disabled since (or enabled) means asking anew.
        # The newest fetch that serves a family serves it; an overview fetches each information set apart.
        asked, parts = _families(contract_ids), []
        for f in fetches:
            mine = [family for family, ids in _families(f.contracts).items() if asked.get(family) == ids]
            if mine:
                parts.append((f, frozenset().union(*(asked.pop(family) for family in mine))))
        if asked or not parts:  # (no contract asked at all: nothing to serve it from)
            return None
        if len(parts) == 1 and parts[0][0].contracts == contract_ids:
            return parts[0][0]
        results = tuple(r for f, mine in parts for r in f.results if set(r[0].covers) & mine)
        return Fetch(contract_ids, setup, results, min(f.fetched_at for f, _ in parts),
                     sum(len(records) for _, records in results))

    def _put(self, key, look, got: Fetch, keep_seconds: float) -> None:
        if got.records > self.max_session_records:
            return  # larger than a session may keep: every page asks again, as before
        found = self._kept.get(key)
        fetches = found[1] if found is not None and found[0] is look else []
        # A wider or equal fetch replaces those it covers; the new one is the newest.
        fetches = [(e, f) for e, f in fetches if not f.contracts <= got.contracts and f.setup == got.setup]
        fetches.append((self.clock() + keep_seconds, got))
        self._kept[key] = (look, fetches)
        self._kept.move_to_end(key)
        self._bound(key[0])

    def _bound(self, session_id: str) -> None:
        """Oldest first: first within the session over its bound, then over the process's."""
        def total(keys):
            return sum(f.records for k in keys for _, f in self._kept[k][1])

        mine = [k for k in self._kept if k[0] == session_id]
        while len(mine) > 1 and total(mine) > self.max_session_records:
            del self._kept[mine.pop(0)]
        while len(self._kept) > 1 and self.records > self.max_records:
            self._kept.popitem(last=False)


def _families(contract_ids) -> dict[str, frozenset[str]]:
    """Contract ids (`Contract.id`: NAME:MAJOR) by contract family (NAME)."""
    out: dict[str, set[str]] = {}
    for cid in contract_ids:
        out.setdefault(cid.rsplit(":", 1)[0], set()).add(cid)
    return {family: frozenset(ids) for family, ids in out.items()}
