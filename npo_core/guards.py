"""Storage of the core's guards: consents, blocks and the tamper-evident access log.

The access log has its own connection and one writer thread: entries are chained by
hash in write order, and each request's entries commit in one durable transaction
(WAL, synchronous=FULL) before any data leaves the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from .contract import SWEDEN
from .errors import BadRequest, GuardsChanged, GuardUnavailable, NotFound, NpoError, StartupError
from .identity import normalise_hsa_id
from .pdl import Block, Consent, TemporaryRevoke
from .registry import connect

GENESIS = "0" * 64
PURPOSE = "Vård och behandling"
MAX_REVOKE_DAYS = 7


def now() -> dt.datetime:
    return dt.datetime.now(SWEDEN)


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(SWEDEN).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class LogEntry:
    """One access-log row, with the fields of the national StoreLog."""

    request_id: str
    user_id: str
    assignment_id: str
    assignment_name: str
    user_care_unit_id: str
    user_care_provider_id: str
    patient_id: str | None
    activity: str  # Läsa | Skriva | Nödöppning | ...
    action: str  # read | search | register_consent | emergency | reveal_blocked | open_blocked | ...
    resource_care_provider_id: str | None = None
    resource_care_unit_id: str | None = None
    contract: str | None = None
    record_count: int = 0
    detail: dict = field(default_factory=dict)
    purpose: str = PURPOSE


class GuardStore:
    """Consents, blocks and the access log, over SQLite. Any failure raises GuardUnavailable."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._read = connect(self.path)  # registry migrations already created the tables
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="npo-log")
        self._wdb = None
        self._queue: list[tuple[list[LogEntry], list, tuple | None, asyncio.Future]] = []
        self._queue_lock = threading.Lock()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._read.close()

    # -- the access log ------------------------------------------------------
    def _write_db(self):
        if self._wdb is None:
            self._wdb = connect(self.path)
        return self._wdb

    def append_sync(self, entries: list[LogEntry], extra_sql: list[tuple[str, list]] = ()) -> list[int]:
        """Append entries (and any guard change they record) in one durable transaction."""
        [outcome] = self._commit([(entries, list(extra_sql), None)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def append(self, entries: list[LogEntry], extra_sql: list[tuple[str, list]] = (),
                     decided_on: "GuardSnapshot | None" = None) -> list[int]:
        """Durably log before returning data; runs on the single writer thread.

        `decided_on`: the guards a read decided on. If the patient's guards changed since, nothing
        is written and GuardsChanged is raised, so the read decides again on the guards as they are.

        Group commit: appends that arrive while the writer is busy share its next transaction (one
        fsync for all), each in a savepoint of its own so that one caller's failing guard change
        takes back only its own entries. Every caller is answered after the shared COMMIT."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with self._queue_lock:
            self._queue.append((entries, list(extra_sql), decided_on and (decided_on.patient_id, decided_on.epoch),
                                done))
        self._writer.submit(self._drain, loop)
        return await done

    def _drain(self, loop) -> None:
        with self._queue_lock:
            batch, self._queue = self._queue, []
        if not batch:  # an earlier drain took these appends along
            return
        try:
            outcomes = self._commit([(entries, sql, expect) for entries, sql, expect, _ in batch])
        except BaseException as e:  # never leave a caller waiting: it would wait with the data in hand
            outcomes = [e] * len(batch)
        for (_, _, _, done), outcome in zip(batch, outcomes):
            loop.call_soon_threadsafe(_settle, done, outcome)

    def _commit(self, batches: list[tuple[list[LogEntry], list, tuple | None]]) -> list:
        """One transaction for all batches, a savepoint each; per batch its row ids or its exception.

        A batch's expectation (patient id, guard epoch) is checked inside the transaction, after the
        batches before it: no guard change can slip between that check and the entries' commit."""
        conn = self._write_db().conn
        outcomes: list = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("select hash from access_log order by seq desc limit 1").fetchone()
                prev = row[0] if row else GENESIS
                stamp = _ts(now())
                for entries, extra_sql, expect in batches:
                    conn.execute("SAVEPOINT batch")
                    try:
                        if expect is not None and _epoch(conn, expect[0]) != expect[1]:
                            raise GuardsChanged("Samtycken eller spärrar ändrades under läsningen.")
                        for sql, args in extra_sql:
                            conn.execute(sql, args)
                        seqs, last = [], prev
                        for e in entries:
                            values = {k: getattr(e, k) for k in ENTRY_FIELDS}
                            values["time"] = stamp
                            values["detail"] = json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
                            digest = chain_hash(last, values)
                            seqs.append(conn.execute(INSERT_LOG, [values[k] for k in LOG_FIELDS] + [last, digest])
                                        .lastrowid)
                            last = digest
                    except Exception as e:  # this batch only: its guard change or its entries failed
                        conn.execute("ROLLBACK TO batch")
                        conn.execute("RELEASE batch")
                        outcomes.append(_unavailable(e) if isinstance(e, sqlite3.Error) else e)
                        continue
                    conn.execute("RELEASE batch")
                    outcomes.append(seqs)
                    prev = last
                conn.execute("COMMIT")
                return outcomes
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            return [_unavailable(e)] * len(batches)

    def admin_change(self, by: str, action: str, patient_id: str | None, sql: list, **detail) -> None:
        """Local administration (CLI, demo seed) is logged like a clinician's action, in the same commit."""
        self.append_sync([LogEntry(request_id=str(uuid.uuid4()), user_id=by, assignment_id="admin",
                                   assignment_name="Lokal administration", user_care_unit_id="",
                                   user_care_provider_id="", patient_id=patient_id, activity="Skriva",
                                   action=action, detail=detail)], sql)

    def verify(self) -> tuple[bool, int, int | None]:
        """Walk the hash chain: (intact, entries checked, first bad seq)."""
        prev, count = GENESIS, 0
        try:
            cur = self._read.conn.execute(
                "select seq, " + ", ".join(LOG_FIELDS) + ", prev_hash, hash from access_log order by seq")
            for row in cur:
                seq, values, prev_hash, digest = row[0], dict(zip(LOG_FIELDS, row[1:-2])), row[-2], row[-1]
                if prev_hash != prev or chain_hash(prev, values) != digest:
                    return False, count, seq
                prev, count = digest, count + 1
        except sqlite3.Error as e:
            raise GuardUnavailable(f"Åtkomstloggen kan inte läsas ({e}).", code="log_unavailable") from e
        return True, count, None

    def log_rows(self, where: str = "1=1", args: list | None = None) -> list[dict]:
        try:
            return list(self._read.query(f"select * from access_log where {where} order by seq", args or []))
        except sqlite3.Error as e:
            raise GuardUnavailable(f"Åtkomstloggen kan inte läsas ({e}).", code="log_unavailable") from e

    # -- what a read decides on -------------------------------------------------
    def snapshot(self, patient_id: str, care_provider_id: str) -> "GuardSnapshot":
        """The patient's consents at one care provider and all their blocks, read in one transaction
        together with the guard epoch that the log transaction checks again."""
        conn = self._read.conn
        try:
            conn.execute("BEGIN")
            try:
                epoch = _epoch(conn, patient_id)
                return GuardSnapshot(patient_id, epoch, self.consents_for(patient_id, care_provider_id),
                                     self.blocks_for(patient_id), self.revoke_rows(patient_id))
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise GuardUnavailable(f"Spärrar och samtycken kan inte läsas ({e}). Ingen skyddad information visas.",
                                   code="guard_unavailable") from e

    def revoke_rows(self, patient_id: str) -> list[dict]:
        """The patient's temporary revokes with their block's owner: what has been opened, by whom, until when."""
        return self._rows(
            "select r.*, b.block_type, b.care_provider_id as block_care_provider_id, "
            "b.care_unit_id as block_care_unit_id from temporary_revokes r join blocks b on b.id = r.block_id "
            "where b.patient_id = ? and b.cancelled_at is null order by r.registered_at", [patient_id], "Spärrarna")

    # -- consents --------------------------------------------------------------
    def consents_for(self, patient_id: str, care_provider_id: str) -> list[Consent]:
        try:
            rows = self._read.query(
                "select * from consents where patient_id = ? and care_provider_id = ?", [patient_id, care_provider_id])
            return [Consent(r["id"], r["assertion_type"], r["patient_id"], r["care_provider_id"], r["care_unit_id"],
                            r["employee_id"], _dt(r["start"]), _dt(r["end"]), bool(r["cancelled_at"]),
                            bool(r["annulled_at"]), r["registered_by"]) for r in rows]
        except (sqlite3.Error, ValueError) as e:  # an unreadable consent is as bad as none readable
            raise GuardUnavailable(f"Samtyckena kan inte läsas ({e}). Ingen information från andra vårdgivare visas.",
                                   code="consent_unavailable") from e

    def consent_insert_sql(self, *, assertion_type: str, patient_id: str, care_provider_id: str,
                           care_unit_id: str, employee_id: str | None, start: dt.datetime,
                           end: dt.datetime | None, registered_by: str, assignment_id: str,
                           represented_by: str | None = None, reason: str | None = None) -> tuple[str, tuple[str, list]]:
        """The SQL that registers a consent, to commit together with its log entry."""
        if end is not None and end <= start:
            raise BadRequest("Slutdatum måste ligga efter startdatum.")
        cid = str(uuid.uuid4())
        return cid, ("insert into consents (id, assertion_type, patient_id, care_provider_id, care_unit_id, "
                     "employee_id, start, end, represented_by, reason, registered_by, assignment_id, registered_at) "
                     "values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     [cid, assertion_type, patient_id, care_provider_id, care_unit_id, employee_id, _ts(start),
                      _ts(end), represented_by, reason, registered_by, assignment_id, _ts(now())])

    def consent_end_sql(self, consent_id: str, how: str, by: str) -> tuple[str, list]:
        """Cancel (avsluta: kept for history) or annul (makulera: registered by mistake)."""
        column = {"cancel": "cancelled", "annul": "annulled"}[how]
        rows = self._rows("select * from consents where id = ?", [consent_id], "Samtyckena")
        if not rows:
            raise NotFound(f"No consent {consent_id}.")
        if rows[0]["cancelled_at"] or rows[0]["annulled_at"]:
            raise BadRequest(f"Consent {consent_id} has already ended.")
        return (f"update consents set {column}_at = ?, {column}_by = ? where id = ?", [_ts(now()), by, consent_id])

    def consent_rows(self, patient_id: str | None = None) -> list[dict]:
        where, args = ("where patient_id = ?", [patient_id]) if patient_id else ("", [])
        return self._rows(f"select * from consents {where} order by registered_at", args, "Samtyckena")

    def _rows(self, sql: str, args: list, what: str) -> list[dict]:
        try:
            return list(self._read.query(sql, args))
        except sqlite3.Error as e:
            raise GuardUnavailable(f"{what} kan inte läsas ({e}).", code="guard_unavailable") from e

    # -- blocks ----------------------------------------------------------------
    def block_insert_sql(self, *, block_type: str, patient_id: str, care_provider_id: str,
                         care_unit_id: str | None, info_start: dt.date | None, info_end: dt.date | None,
                         excluded_types: list[str], registered_by: str) -> tuple[str, tuple[str, list]]:
        if block_type not in ("Inner", "Outer"):
            raise BadRequest("A block is Inner (on a care unit) or Outer (on a care provider).")
        if (block_type == "Inner") != bool(care_unit_id):
            raise BadRequest("An inner block names a care unit; an outer block does not.")
        if set(excluded_types) - {"lak", "upp"}:
            raise BadRequest("Only the information types lak and upp can be excluded from a block.")
        if info_start and info_end and info_end < info_start:
            raise BadRequest("The block's interval ends before it starts.")
        bid = str(uuid.uuid4())
        return bid, ("insert into blocks (id, block_type, patient_id, care_provider_id, care_unit_id, info_start, "
                     "info_end, excluded_types, registered_at, registered_by) values (?,?,?,?,?,?,?,?,?,?)",
                     [bid, block_type, patient_id, care_provider_id, care_unit_id,
                      info_start.isoformat() if info_start else None, info_end.isoformat() if info_end else None,
                      json.dumps(sorted(set(excluded_types))), _ts(now()), registered_by])

    def block_cancel_sql(self, block_id: str) -> tuple[str, list]:
        if not self._rows("select id from blocks where id = ? and cancelled_at is null", [block_id], "Spärrarna"):
            raise NotFound(f"No active block {block_id}.")
        return "update blocks set cancelled_at = ? where id = ?", [_ts(now()), block_id]

    def revoke_insert_sql(self, *, block_id: str, care_unit_id: str, employee_id: str | None, reason: str,
                          reason_text: str | None, days: float, registered_by: str) -> tuple[str, tuple[str, list]]:
        """A temporary revoke (tillfällig hävning) of one block, at most seven days."""
        if reason not in ("PatientsConsent", "Emergency"):
            raise BadRequest("A temporary revoke's reason is PatientsConsent or Emergency.")
        if not 0 < days <= MAX_REVOKE_DAYS:
            raise BadRequest(f"A temporary revoke lasts at most {MAX_REVOKE_DAYS} days.")
        rid = str(uuid.uuid4())
        return rid, ("insert into temporary_revokes (id, block_id, care_unit_id, employee_id, reason, reason_text, "
                     "end, registered_at, registered_by) values (?,?,?,?,?,?,?,?,?)",
                     [rid, block_id, care_unit_id, employee_id, reason, reason_text,
                      _ts(now() + dt.timedelta(days=days)), _ts(now()), registered_by])

    def block_rows(self, patient_id: str | None = None) -> list[dict]:
        where, args = ("where b.patient_id = ?", [patient_id]) if patient_id else ("", [])
        return self._rows(
            "select b.*, (select count(*) from temporary_revokes r where r.block_id = b.id) as revokes "
            f"from blocks b {where} order by b.registered_at", args, "Spärrarna")

    def blocks_for(self, patient_id: str) -> list[Block]:
        try:
            rows = list(self._read.query(
                "select * from blocks where patient_id = ? and cancelled_at is null", [patient_id]))
            revokes: dict[str, list[TemporaryRevoke]] = {}
            if rows:
                ids = [r["id"] for r in rows]
                for r in self._read.query(
                        f"select * from temporary_revokes where block_id in ({','.join('?' * len(ids))})", ids):
                    revokes.setdefault(r["block_id"], []).append(
                        TemporaryRevoke(r["care_unit_id"], r["employee_id"], _dt(r["end"]), r["reason"]))
            # Compared with records' ids in the same canonical form (identity.normalise_hsa_id).
            return [Block(r["id"], r["block_type"], r["patient_id"], _canonical(r["care_provider_id"]),
                          _canonical(r["care_unit_id"]),
                          dt.date.fromisoformat(r["info_start"]) if r["info_start"] else None,
                          dt.date.fromisoformat(r["info_end"]) if r["info_end"] else None,
                          frozenset(json.loads(r["excluded_types"] or "[]")),
                          tuple(revokes.get(r["id"], ()))) for r in rows]
        except (sqlite3.Error, ValueError) as e:
            raise GuardUnavailable(f"Spärrarna kan inte läsas ({e}). Ingen skyddad information visas.",
                                   code="block_unavailable") from e


LOG_FIELDS = ("request_id", "time", "user_id", "assignment_id", "assignment_name", "user_care_unit_id",
              "user_care_provider_id", "patient_id", "activity", "action", "purpose",
              "resource_care_provider_id", "resource_care_unit_id", "contract", "record_count", "detail")


ENTRY_FIELDS = tuple(f.name for f in fields(LogEntry))
INSERT_LOG = (f"insert into access_log ({', '.join(LOG_FIELDS)}, prev_hash, hash) "
              f"values ({', '.join('?' * (len(LOG_FIELDS) + 2))})")


def _canonical(hsa_id: str | None) -> str | None:
    return normalise_hsa_id(hsa_id) or hsa_id


@dataclass(frozen=True)
class GuardSnapshot:
    """The guards one read decided on, and the epoch they had."""

    patient_id: str
    epoch: int
    consents: list[Consent]
    blocks: list[Block]
    revokes: list[dict]


def _epoch(conn: sqlite3.Connection, patient_id: str) -> int:
    row = conn.execute("select n from guard_epoch where patient_id = ?", [patient_id]).fetchone()
    return row[0] if row else 0


def _unavailable(error: sqlite3.Error) -> GuardUnavailable:
    failure = GuardUnavailable(f"Åtkomstloggen kan inte skrivas ({error}). Ingen information visas.",
                               code="log_unavailable")
    failure.__cause__ = error
    return failure


def _settle(done: asyncio.Future, outcome) -> None:
    if done.cancelled():  # the caller went away; the entries are written all the same
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def chain_hash(prev: str, values: dict) -> str:
    canonical = json.dumps([values[k] for k in LOG_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + canonical).encode()).hexdigest()
