"""Storage of the core's guards: consents, blocks and the tamper-evident access log.

The access log has its own connection and one writer thread: entries are chained by
hash in write order, and each request's entries commit in one durable transaction
(WAL, synchronous=FULL) before any data leaves the server.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import sys
import threading
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .contract import SWEDEN
from .errors import BadRequest, GuardsChanged, GuardUnavailable, NotFound, NpoError, StartupError
from .identity import normalise_hsa_id
from .pdl import Block, Consent, TemporaryRevoke
from .registry import connect

log = logging.getLogger("npo.guards")

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
    environment: str | None = None  # where the read was served (prod, qa, ...); None for local administration


class GuardStore:
    """Consents, blocks and the access log, over SQLite. Any failure raises GuardUnavailable."""

    def __init__(self, path: Path, *, key_file: str | os.PathLike | None = None,
                 checkpoint_file: str | os.PathLike | None = None):
        self.path = Path(path)
        self._read = connect(self.path)  # registry migrations already created the tables
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="npo-log")
        self._wdb = None
        self._queue: list[tuple[list[LogEntry], list, tuple | None, asyncio.Future]] = []
        self._queue_lock = threading.Lock()
        # The access log's seal (see "the access log's seal" below): key, checkpoint file, checkpointer.
        self.key = load_key(self.path, self._read.conn, key_file)
        self.checkpoint_file = checkpoints_path(self.path, checkpoint_file)
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: tuple[asyncio.Task, asyncio.Event] | None = None

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
                            digest = chain_hash(last, values, self.key.hmac_key)
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

    # -- the access log's seal: verify, checkpoints -----------------------------------------------------
    def verify(self, checkpoint_file: str | os.PathLike | None = None) -> VerifyResult:
        """Walk the chain and hold it against every signed checkpoint: those in the checkpoint file (or in
        `checkpoint_file`, a shipped copy) and those in the database.

        A VerifyResult: (intact, entries checked, first bad seq), with `problem` (truncated, deleted,
        rechained, forged_checkpoint, checkpoints_missing) and `message`, one line saying what was found."""
        db = connect(self.path)  # its own connection and snapshot: safe from any thread
        conn = db.conn
        try:
            conn.execute("BEGIN")  # entries, checkpoints and the legacy boundary from one snapshot
            try:
                legacy_until = _legacy_until(conn)
                checkpoints, problem = self._all_checkpoints(conn, checkpoint_file)
                if problem:
                    return problem
                walk = _walk(conn, self.key.hmac_key, legacy_until, marks={cp.seq for cp in checkpoints})
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise GuardUnavailable(f"Åtkomstloggen kan inte läsas ({e}).", code="log_unavailable") from e
        finally:
            db.close()
        return _judge(walk, checkpoints, legacy_until)

    def _all_checkpoints(self, conn, checkpoint_file) -> tuple[list[Checkpoint], VerifyResult | None]:
        """Every checkpoint of the database and the file, each signed by this log's key; or what is wrong."""
        external = Path(checkpoint_file) if checkpoint_file else self.checkpoint_file
        found = []
        for row in conn.execute(f"select id, {', '.join(_CHECKPOINT_FIELDS)}, signature from log_checkpoints "
                                "order by id"):
            cp = Checkpoint.parse(dict(zip(("id", *_CHECKPOINT_FIELDS, "signature"), row)),
                                  f"checkpoint {row[0]} in the database")
            if cp is None:
                return [], _failed("forged_checkpoint", 0, None, f"checkpoint {row[0]} in the database is malformed")
            found.append(cp)
        try:
            from_file, bad_line = read_checkpoint_file(external)
        except FileNotFoundError:
            if checkpoint_file or found:
                more = (f", but the database holds {len(found)} checkpoints: restore it, or verify against a "
                        f"shipped copy (--checkpoints FILE)" if found and not checkpoint_file else "")
                return [], _failed("checkpoints_missing", 0, None, f"{external} does not exist{more}")
            from_file, bad_line = [], None
        except OSError as e:
            return [], _failed("checkpoints_missing", 0, None, f"{external} cannot be read ({e})")
        if bad_line:
            return [], _failed("forged_checkpoint", 0, None, bad_line)
        good: set[tuple[bytes, str]] = set()  # the database and the file hold the same ones: check each once
        for cp in found + from_file:
            if cp.key_id != self.key.key_id:
                return [], _failed("forged_checkpoint", 0, None, f"{cp.where} is signed by key {cp.key_id}, not by "
                                   f"this log's key {self.key.key_id} (forged, or this is not the log's key)")
            signed = (cp.signed_bytes(), cp.signature)
            if signed not in good and not self.key.signed(*signed):
                return [], _failed("forged_checkpoint", 0, None, f"{cp.where} does not carry a valid signature")
            good.add(signed)
        return found + from_file, None

    def checkpoint(self, *, only_if_new: bool = False) -> Checkpoint | None:
        """Sign (last seq, entry count, chain head, time) now: store it in the database, then append it to
        the checkpoint file. The entries since the last stored checkpoint are checked first (gap-free, keyed,
        chained from its head): no checkpoint is signed over a broken log (LogTampered instead).

        `only_if_new`: nothing (None) when no entry was logged since the last checkpoint."""
        with self._checkpoint_lock:
            db = connect(self.path)
            conn = db.conn
            try:
                conn.execute("BEGIN")  # the walk reads a snapshot and holds no lock: appends go on meanwhile
                try:
                    legacy_until = _legacy_until(conn)
                    base = self._last_stored_checkpoint(conn)
                    walk = self._walk_since(conn, base, legacy_until)
                finally:
                    conn.execute("COMMIT")
                if only_if_new and base is not None and walk.last == base.seq:
                    return None
                unsigned = Checkpoint(walk.last, walk.count, walk.head, _ts(now()), legacy_until, self.key.key_id, "")
                cp = Checkpoint(**{k: getattr(unsigned, k) for k in _CHECKPOINT_FIELDS},
                                signature=self.key.sign(unsigned.signed_bytes()))
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("select hash from access_log where seq = ?", [cp.seq]).fetchone()
                    if cp.seq and (row is None or row[0] != cp.head):
                        raise LogTampered(f"Entry {cp.seq} changed while its checkpoint was being signed.")
                    cur = conn.execute(f"insert into log_checkpoints ({', '.join(_CHECKPOINT_FIELDS)}, signature) "
                                       "values (?, ?, ?, ?, ?, ?, ?)",
                                       [getattr(cp, k) for k in _CHECKPOINT_FIELDS] + [cp.signature])
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise GuardUnavailable(f"The access log's checkpoint cannot be written ({e}).",
                                       code="log_unavailable") from e
            finally:
                db.close()
            try:
                _append_line(self.checkpoint_file, cp.line())
            except OSError as e:
                raise GuardUnavailable(f"The checkpoint up to entry {cp.seq} is in the database, but it cannot be "
                                       f"appended to {self.checkpoint_file} ({e}).", code="log_unavailable") from e
            return Checkpoint(**{k: getattr(cp, k) for k in _CHECKPOINT_FIELDS}, signature=cp.signature,
                              where=f"checkpoint {cur.lastrowid} in the database")

    def _last_stored_checkpoint(self, conn) -> Checkpoint | None:
        row = conn.execute(f"select id, {', '.join(_CHECKPOINT_FIELDS)}, signature from log_checkpoints "
                           "order by seq desc, id desc limit 1").fetchone()
        if row is None:
            return None
        cp = Checkpoint.parse(dict(zip(("id", *_CHECKPOINT_FIELDS, "signature"), row)), f"checkpoint {row[0]}")
        if cp is None or cp.key_id != self.key.key_id or not self.key.signed(cp.signed_bytes(), cp.signature):
            raise LogTampered(f"Access log checkpoint forged: the last checkpoint in the database (id {row[0]}) is "
                              f"not signed by this log's key; no checkpoint is signed after it. "
                              f"Run `npo log verify`.", code="forged_checkpoint")
        return cp

    def _walk_since(self, conn, base: Checkpoint | None, legacy_until: int) -> _Walk:
        """The entries after the last checkpoint, which must still hold the entry it signed."""
        if base is None:
            walk = _walk(conn, self.key.hmac_key, legacy_until)
        else:  # the entry it signed must still be there, unchanged
            row = conn.execute("select " + ", ".join(LOG_FIELDS) + ", prev_hash, hash from access_log where seq = ?",
                               [base.seq]).fetchone()
            if base.seq and (row is None or row[-1] != base.head or chain_hash(
                    row[-2], dict(zip(LOG_FIELDS, row)), self.key.hmac_key if base.seq > legacy_until else None)
                    != base.head):
                raise LogTampered(f"Access log tampered with: entry {base.seq}, which the checkpoint of {base.time} "
                                  f"signed, is {'gone' if row is None else 'not the one it signed'}; no checkpoint "
                                  f"is signed over it. Run `npo log verify`.", code="rechained")
            walk = _walk(conn, self.key.hmac_key, legacy_until, after=base.seq, count=base.entries, head=base.head)
        if walk.problem:
            kind, _, what = walk.problem
            raise LogTampered(f"Access log {_KIND_TITLE[kind]}: {what}; no checkpoint is signed over it.", code=kind)
        return walk

    def start_checkpoints(self, interval: float | None = None) -> None:
        """While the event loop runs: a checkpoint now, then every `interval` seconds (CHECKPOINT_SECONDS)
        when entries were logged since the last. The web app starts it; stop_checkpoints ends it."""
        stop = asyncio.Event()
        self._checkpointer = (asyncio.create_task(self._checkpoint_loop(interval or CHECKPOINT_SECONDS, stop)), stop)

    async def stop_checkpoints(self) -> None:
        """At a clean shutdown: end the periodic checkpoints, let queued entries commit, sign a last one."""
        if self._checkpointer is not None:
            (task, stop), self._checkpointer = self._checkpointer, None
            stop.set()
            await task  # a checkpoint under way is finished, not abandoned
        try:
            cp = await asyncio.to_thread(self._checkpoint_at_shutdown)
            log.info("access log: checkpoint at shutdown up to entry %s", cp.seq)
        except NpoError as e:
            log.error("access log: no checkpoint at shutdown: %s", e.message)

    def _checkpoint_at_shutdown(self) -> Checkpoint:
        try:
            self._writer.submit(lambda: None).result()  # FIFO: every append queued before it has committed
        except RuntimeError:  # the store is closed: nothing is queued
            pass
        return self.checkpoint()

    async def _checkpoint_loop(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.checkpoint, only_if_new=True)
            except NpoError as e:
                log.error("access log: no checkpoint: %s", e.message)
            except Exception:
                log.exception("access log: the checkpoint failed")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass

    def log_rows(self, where: str = "1=1", args: list | None = None) -> list[dict]:
        try:
            return list(self._read.query(f"select * from access_log where {where} order by seq", args or []))
        except sqlite3.Error as e:
            raise GuardUnavailable(f"Åtkomstloggen kan inte läsas ({e}).", code="log_unavailable") from e

    def usage(self, start: dt.date | None = None, end: dt.date | None = None, *, per_day: bool = True) -> list[dict]:
        """Usage statistics per environment and day (Swedish time), or per environment over the whole period;
        counts only, never a patient: reads (one per page or API read, however many sources it logged),
        patients searched, distinct clinicians and reading care units, consents registered and emergency
        accesses (nödöppning)."""
        where, args = time_bounds(start, end)
        where.append("environment is not null")
        sql = ("select environment, " + ("substr(time, 1, 10)" if per_day else "null") + " as day,"
               " count(distinct case when action = 'read' then request_id end) as reads,"
               " sum(action = 'search') as searches,"
               " count(distinct user_id) as clinicians,"
               " count(distinct user_care_unit_id) as care_units,"
               " sum(action = 'register_consent') as consents,"
               " count(distinct case when activity = 'Nödöppning' and action != 'read' then request_id end)"
               " as emergency_accesses"
               f" from access_log where {' and '.join(where)} group by environment{', day' if per_day else ''}"
               " order by environment, day")
        try:  # a connection of its own: this runs in the worker, and may scan the whole log
            db = connect(self.path)
            try:
                return list(db.query(sql, args))
            finally:
                db.close()
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
              "resource_care_provider_id", "resource_care_unit_id", "contract", "record_count", "detail",
              "environment")


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


def time_bounds(start: dt.date | None, end: dt.date | None) -> tuple[list[str], list[str]]:
    """Conditions on access-log time for the days start..end (both included, either open): (sql, args)."""
    where, args = [], []
    if start:
        where.append("time >= ?")
        args.append(start.isoformat())
    if end:
        where.append("time < ?")
        args.append((end + dt.timedelta(days=1)).isoformat())
    return where, args


def chain_hash(prev: str, values: dict, key: bytes | None = None) -> str:
    """An entry's link in the chain: HMAC-SHA256 under the log's key; without a key, the plain SHA-256
    of the entries written before the log had one (the legacy prefix, which anyone can recompute)."""
    # `environment` came later (m008): entries without one hash as they always did.
    chained = [values[k] for k in LOG_FIELDS if k != "environment" or values.get(k) is not None]
    message = (prev + json.dumps(chained, ensure_ascii=False, separators=(",", ":"))).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# -- the access log's seal: the key, signed checkpoints, and walking the chain ---------------------------------
#
# One secret of 32 random bytes in a file OUTSIDE registry.db (mode 0600). HKDF-SHA256 derives from it the
# entries' HMAC key and the Ed25519 key that signs checkpoints; the public key can be exported
# (`npo log public-key`). A checkpoint signs (last seq, entry count, chain head, time) and is stored in the
# database and appended to a checkpoint file (JSON lines) that the operator ships elsewhere. Without the key
# nobody can recompute the chain; without a shipped checkpoint even the key holder cannot shorten it unseen.

KEY_FILE_ENV = "NPO_LOG_KEY_FILE"
CHECKPOINTS_ENV = "NPO_LOG_CHECKPOINTS"
CHECKPOINT_SECONDS = 60.0  # while the server runs: a checkpoint this often when entries were written since
LEGACY_SETTING = "log_legacy_until"  # settings row (migration m006): entries up to it are unkeyed
_HMAC_INFO = b"npo access log: entry HMAC-SHA256 v1"
_SIGNING_INFO = b"npo access log: checkpoint Ed25519 v1"
_CHECKPOINT_DOMAIN = b"npo access log checkpoint v1\n"
_CHECKPOINT_FIELDS = {"seq": int, "entries": int, "head": str, "time": str, "legacy_until": int, "key_id": str}
_warned: set[str] = set()


class LogTampered(NpoError):
    """The access log or its checkpoints do not hold together; no checkpoint is signed over such a log."""

    code = "log_tampered"


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(secret)


class LogKey:
    """The operator's access-log key: entries' HMAC key and the checkpoints' Ed25519 key, from one secret."""

    def __init__(self, secret: bytes, path: Path | None = None):
        self.path = path
        self.hmac_key = _derive(secret, _HMAC_INFO)
        self._signing = Ed25519PrivateKey.from_private_bytes(_derive(secret, _SIGNING_INFO))
        self.public_key = self._signing.public_key()
        self.key_id = hashlib.sha256(self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]

    def public_pem(self) -> str:
        return self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._signing.sign(message)).decode()

    def signed(self, message: bytes, signature: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature, validate=True), message)
            return True
        except (InvalidSignature, ValueError):
            return False

    @classmethod
    def read(cls, path: Path) -> "LogKey":
        text = path.read_text(encoding="ascii", errors="replace").strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise StartupError(f"{path} is not an npo access-log key (64 hexadecimal digits).")
        if path.stat().st_mode & 0o077 and str(path) not in _warned:
            _warned.add(str(path))
            sys.stderr.write(f"npo: warning: the access-log key {path} can be read by others; chmod 600 it.\n")
        return cls(secret, path)

    @classmethod
    def create(cls, path: Path) -> "LogKey":
        """A new random key at `path`, unless another process made one first (then that one)."""
        secret = (secrets.token_bytes(32).hex() + "\n").encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        _write_new(tmp, secret)
        try:
            os.link(tmp, path)  # atomic and never over an existing key: a reader sees all of it or nothing
            created = True
        except FileExistsError:
            created = False
        except OSError:  # no hard links on this file system: create it in place, still never over a key
            try:
                _write_new(path, secret)
                created = True
            except FileExistsError:
                created = False
        finally:
            os.unlink(tmp)
        _fsync_dir(path.parent)
        if created:
            sys.stderr.write(f"npo: created the access-log key {path} (mode 0600). It seals the access log: keep "
                             f"it, and a copy, outside the database and its backups (or set {KEY_FILE_ENV}).\n")
        return cls.read(path)


def key_path(registry: Path, configured: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The key file and whether it is the default one next to the registry (which npo may create)."""
    chosen = configured or os.environ.get(KEY_FILE_ENV)
    return (Path(chosen), False) if chosen else (Path(f"{registry}.logkey"), True)


def checkpoints_path(registry: Path, configured: str | os.PathLike | None = None) -> Path:
    return Path(configured or os.environ.get(CHECKPOINTS_ENV) or f"{registry}.checkpoints")


def load_key(registry: Path, conn: sqlite3.Connection, configured: str | os.PathLike | None = None) -> LogKey:
    """The configured key; for a registry with none configured, `<registry>.logkey`, made on first use.

    A new key is never made for a log that is already keyed: its entries could not be verified again."""
    path, default = key_path(registry, configured)
    try:
        return LogKey.read(path)
    except FileNotFoundError:
        if not default:
            raise StartupError(f"The access-log key file {path} does not exist ({KEY_FILE_ENV} or --log-key).") \
                from None
    except OSError as e:
        raise StartupError(f"The access-log key {path} cannot be read ({e}).") from e
    try:
        keyed = conn.execute("select exists(select 1 from log_checkpoints) or "
                             "exists(select 1 from access_log where seq > ?)", [_legacy_until(conn)]).fetchone()[0]
    except sqlite3.Error as e:
        raise StartupError(f"The access log cannot be read ({e}).") from e
    if keyed:
        raise StartupError(f"The access log is keyed but its key {path} is missing: restore it, or point "
                           f"{KEY_FILE_ENV} at it. npo makes no new key for a keyed log.")
    try:
        return LogKey.create(path)
    except OSError as e:
        raise StartupError(f"The access-log key {path} cannot be created ({e}).") from e


def _legacy_until(conn: sqlite3.Connection) -> int:
    """The last entry chained without a key. Missing (removed), it is 0: every entry must then be keyed."""
    row = conn.execute("select value from settings where key = ?", [LEGACY_SETTING]).fetchone()
    try:
        return int(row[0]) if row else 0
    except (TypeError, ValueError):
        return 0


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Checkpoint:
    """(last seq, entry count, chain head, time), signed; `where` says where it was read."""

    seq: int
    entries: int
    head: str
    time: str
    legacy_until: int
    key_id: str
    signature: str
    where: str = ""

    def signed_bytes(self) -> bytes:
        return _CHECKPOINT_DOMAIN + json.dumps({k: getattr(self, k) for k in _CHECKPOINT_FIELDS}, sort_keys=True,
                                               separators=(",", ":")).encode()

    def line(self) -> str:
        record = {k: getattr(self, k) for k in _CHECKPOINT_FIELDS} | {"signature": self.signature}
        return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, record, where: str) -> "Checkpoint | None":
        """A checkpoint from a file line or a table row; None if it is not one."""
        if not isinstance(record, dict) or not isinstance(record.get("signature"), str):
            return None
        for name, kind in _CHECKPOINT_FIELDS.items():
            if type(record.get(name)) is not kind:  # exactly: True is no seq, "5" is no count
                return None
        return cls(**{k: record[k] for k in _CHECKPOINT_FIELDS}, signature=record["signature"], where=where)


def read_checkpoint_file(path: Path) -> tuple[list[Checkpoint], str | None]:
    """The checkpoints of a file, and the first line that is not one (a torn last line is skipped)."""
    checkpoints = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            cp = Checkpoint.parse(json.loads(raw), f"{path} line {number}")
        except ValueError:
            cp = None
        if cp is None:
            if number == len(lines):  # no newline after it: a write cut short (power loss), not a claim
                continue
            return checkpoints, f"{path} line {number} is not a checkpoint"
        checkpoints.append(cp)
    return checkpoints, None


def _append_line(path: Path, line: str) -> None:
    """Append and fsync; one write(2) with O_APPEND, so concurrent writers never interleave a line."""
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        _fsync_dir(path.parent)


@dataclass
class _Walk:
    """Where a walk of the chain got to: the last good entry, the count, the head; or the problem it met."""

    last: int = 0
    count: int = 0
    head: str = GENESIS
    legacy: int = 0
    problem: tuple[str, int, str] | None = None  # (kind, first bad seq, what)
    heads: dict = field(default_factory=dict)  # seq -> hash, for the seqs asked for


def _walk(conn: sqlite3.Connection, key: bytes, legacy_until: int, *, after: int = 0, count: int = 0,
          head: str = GENESIS, marks=frozenset()) -> _Walk:
    """Check the entries after `after` (whose hash is `head`): gap-free seq, each following the one before,
    each hash right (plain SHA-256 up to `legacy_until`, HMAC after). Stops at the first problem."""
    w = _Walk(after, count, head)
    cur = conn.execute("select seq, " + ", ".join(LOG_FIELDS) + ", prev_hash, hash from access_log "
                       "where seq > ? order by seq", [after])
    for row in cur:
        seq, values, prev_hash, digest = row[0], dict(zip(LOG_FIELDS, row[1:-2])), row[-2], row[-1]
        expected, keyed = w.last + 1, seq > legacy_until
        own = key if keyed else None
        if seq != expected:
            gap = f"entries {expected}-{seq - 1} are" if seq - 1 > expected else f"entry {expected} is"
            w.problem = ("deleted", expected, f"{gap} missing (the seq has a gap)")
        elif prev_hash != w.head:
            if chain_hash(prev_hash, values, own) == digest:
                w.problem = ("deleted", seq, f"entry {seq} is intact but does not follow entry {seq - 1}: entries "
                                             f"before it were removed and the rest renumbered")
            else:
                w.problem = ("rechained", seq, f"entry {seq} does not follow entry {seq - 1} and does not match "
                                               f"its own hash: entries were changed")
        elif chain_hash(w.head, values, own) != digest:
            if keyed and chain_hash(w.head, values) == digest:
                what = (f"entry {seq} is chained with plain SHA-256, but every entry after {legacy_until} carries "
                        f"an HMAC: the chain was recomputed without the key")
            elif keyed:
                what = (f"entry {seq} does not match its HMAC: it was changed, or the chain recomputed with another "
                        f"key (or this is not the log's key)")
            else:
                what = f"entry {seq}, written before the log had a key, does not match its SHA-256 hash"
            w.problem = ("rechained", seq, what)
        if w.problem:
            return w
        w.last, w.count, w.head = seq, w.count + 1, digest
        w.legacy += not keyed
        if seq in marks:
            w.heads[seq] = digest
    return w


class VerifyResult(tuple):
    """(intact, entries checked, first bad seq), as `GuardStore.verify` always returned, with what was found:
    `problem` (None, truncated, deleted, rechained, forged_checkpoint or checkpoints_missing) and `message`,
    one line that says it; `checkpoint` is the last checkpoint the log was checked against."""

    def __new__(cls, ok: bool, count: int, bad: int | None, *, problem: str | None = None, message: str = "",
                checkpoint: Checkpoint | None = None, checkpoints: int = 0, legacy: int = 0):
        self = super().__new__(cls, (ok, count, bad))
        self.problem, self.message, self.checkpoint = problem, message, checkpoint
        self.checkpoints, self.legacy = checkpoints, legacy
        return self

    ok = property(lambda self: self[0])
    count = property(lambda self: self[1])
    bad = property(lambda self: self[2])


_KIND_TITLE = {"truncated": "truncated", "deleted": "entries deleted", "rechained": "re-chained",
               "forged_checkpoint": "checkpoint forged", "checkpoints_missing": "checkpoints missing"}


def _failed(kind: str, count: int, bad: int | None, what: str, **extra) -> VerifyResult:
    return VerifyResult(False, count, bad, problem=kind, message=f"Access log {_KIND_TITLE[kind]}: {what}.", **extra)


def _judge(walk: _Walk, checkpoints: list[Checkpoint], legacy_until: int) -> VerifyResult:
    """The walk's verdict against the checkpoints: the first problem in seq order, or intact."""
    stop = walk.problem[1] if walk.problem else None
    for cp in sorted(checkpoints, key=lambda c: (c.seq, c.time)):
        if stop is not None and cp.seq >= stop:
            break
        if cp.legacy_until != legacy_until:
            return _failed("rechained", walk.count, None, f"the database says entries up to {legacy_until} are "
                           f"unkeyed, but {cp.where} (checkpoint of {cp.time}) says {cp.legacy_until}")
        if cp.seq > walk.last:
            return _failed("truncated", walk.count, walk.last + 1,
                           f"it ends at entry {walk.last}, but {cp.where} (checkpoint of {cp.time}) covers "
                           f"{cp.entries} entries up to entry {cp.seq}: entries {walk.last + 1}-{cp.seq} are gone")
        head = walk.heads.get(cp.seq, GENESIS if cp.seq == 0 else None)
        if head != cp.head:
            return _failed("rechained", walk.count, cp.seq, f"entry {cp.seq} does not match {cp.where} (checkpoint "
                           f"of {cp.time}): the log up to it was rewritten and its chain recomputed")
        if cp.entries != cp.seq:  # a walk from entry 1 without gaps has counted `seq` entries by then
            return _failed("deleted", walk.count, cp.seq, f"{cp.where} (checkpoint of {cp.time}) counts "
                           f"{cp.entries} entries up to entry {cp.seq}, the log has {cp.seq}")
    if walk.problem:
        kind, bad, what = walk.problem
        return _failed(kind, walk.count, bad, what)
    last = max(checkpoints, key=lambda c: (c.seq, c.time), default=None)
    legacy = f", {walk.legacy} of them from before the log had a key" if walk.legacy else ""
    distinct = len({cp.signature for cp in checkpoints})  # the database and the file hold the same ones
    if last is None:
        sealed = "no checkpoint yet (`npo log checkpoint` signs one)"
    else:
        after = walk.last - last.seq
        sealed = (f"{distinct} signed checkpoint{'s' if distinct > 1 else ''} match, the last of {last.time} up to "
                  f"entry {last.seq}" + (f" ({after} entries after it are sealed by their HMAC only)" if after else ""))
    return VerifyResult(True, walk.count, None, message=f"Access log intact: {walk.count} entries{legacy}; {sealed}.",
                        checkpoint=last, checkpoints=distinct, legacy=walk.legacy)
