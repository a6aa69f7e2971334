"""The access log's group commit: appends that arrive together share one transaction, each keeps
its own outcome, and the hash chain stays whole (a real SQLite file, the real writer thread)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import uuid

import pytest

from npo_core.errors import GuardUnavailable
from npo_core.guards import GuardStore, LogEntry
from npo_core.registry import Registry


class CountingStore(GuardStore):
    """The real store, counting its transactions."""

    transactions = 0

    def _commit(self, batches):
        self.transactions += 1
        return super()._commit(batches)


@pytest.fixture
def store(tmp_path):
    Registry(tmp_path / "registry.db").close()  # migrations create the tables
    guards = CountingStore(tmp_path / "registry.db")
    yield guards
    guards.close()


@contextlib.asynccontextmanager
async def writer_busy(store: GuardStore):
    """Holds the writer thread until the block ends, so every append made inside queues up."""
    gate = threading.Event()
    store._writer.submit(gate.wait)
    try:
        yield
        await asyncio.sleep(0.05)  # the appends reach their queue
    finally:
        gate.set()


def entries(request_id: str, n: int = 3) -> list[LogEntry]:
    return [LogEntry(request_id=request_id, user_id="SE2321000016-A1B2", assignment_id="U1", assignment_name="Läkare",
                     user_care_unit_id="SE2321000016-9RKT", user_care_provider_id="SE2321000016-F0VB",
                     patient_id="191212121212", activity="Läsa", action="read", contract="GetDiagnosis:2",
                     record_count=i + 1) for i in range(n)]


async def test_queued_appends_share_one_transaction_and_the_chain_verifies(store):
    ids = [str(uuid.uuid4()) for _ in range(40)]
    async with writer_busy(store):
        waiting = asyncio.gather(*(store.append(entries(r)) for r in ids))
    seqs = await waiting
    assert store.transactions == 1
    assert sorted(x for s in seqs for x in s) == list(range(1, 121))
    for request_id, own in zip(ids, seqs):  # each caller got its own rows back, in its own order
        rows = store.log_rows("request_id = ?", [request_id])
        assert [r["seq"] for r in rows] == own and [r["record_count"] for r in rows] == [1, 2, 3]
    assert store.verify() == (True, 120, None)


async def test_a_failing_guard_change_takes_back_only_its_own_entries(store):
    good = [str(uuid.uuid4()) for _ in range(10)]
    bad = str(uuid.uuid4())
    broken = [("insert into no_such_table values (1)", [])]
    async with writer_busy(store):  # all eleven in one transaction: the failure is undone by its savepoint
        waiting = asyncio.gather(*(store.append(entries(r)) for r in good[:5]), store.append(entries(bad), broken),
                                 *(store.append(entries(r)) for r in good[5:]), return_exceptions=True)
    outcomes = await waiting
    assert store.transactions == 1
    failed = outcomes[5]
    assert isinstance(failed, GuardUnavailable) and failed.code == "log_unavailable"
    assert isinstance(failed.__cause__, sqlite3.OperationalError)
    assert all(isinstance(o, list) and len(o) == 3 for i, o in enumerate(outcomes) if i != 5)
    assert store.log_rows("request_id = ?", [bad]) == []
    assert store.verify() == (True, 30, None)


async def test_an_unwritable_log_fails_every_waiting_caller(store):
    await store.append(entries("first"))
    store._write_db().conn.execute("PRAGMA query_only = ON")  # every write now fails inside SQLite
    outcomes = await asyncio.gather(*(store.append(entries(str(i))) for i in range(5)), return_exceptions=True)
    assert all(isinstance(o, GuardUnavailable) for o in outcomes)
    store._write_db().conn.execute("PRAGMA query_only = OFF")
    assert store.verify() == (True, 3, None)


async def test_a_caller_that_goes_away_is_still_logged(store):
    task = asyncio.ensure_future(store.append(entries("gone")))
    await asyncio.sleep(0)
    task.cancel()
    await store.append(entries("after"))  # the writer is FIFO: once this is committed, so is "gone"
    assert len(store.log_rows("request_id = ?", ["gone"])) == 3
    assert store.verify() == (True, 6, None)
