"""The access log's seal: keyed entries (HMAC-SHA256), gap-free seq, signed checkpoints (Ed25519).

An attacker with write access to registry.db, but not to the key file next to it (or wherever the operator
keeps it) and not to a shipped copy of the checkpoint file, must not be able to shorten or rewrite the log
unseen. Every attack here runs on a real SQLite file with plain sqlite3, and `npo log verify` runs as the
operator would run it, in a subprocess: it must fail (exit 1) with one line saying what it found.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from npo_core import guards as guards_module
from npo_core.app import Core
from npo_core.guards import GENESIS, LOG_FIELDS, Checkpoint, GuardStore, LogEntry, LogTampered, chain_hash
from npo_core.migrations import migrations
from npo_core.registry import Registry, connect
from npo_core.web import make_app

PATIENTS = ["191212121212", "199701062383", "200001012384"]
TARGET = PATIENTS[0]
SEAL_ENV = ("NPO_LOG_KEY_FILE", "NPO_LOG_CHECKPOINTS", "NPO_REGISTRY", "NPO_LOAD_PLUGINS", "NPO_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def _no_configured_key(monkeypatch):
    monkeypatch.delenv("NPO_LOG_KEY_FILE", raising=False)
    monkeypatch.delenv("NPO_LOG_CHECKPOINTS", raising=False)


@pytest.fixture
def path(tmp_path) -> Path:
    Registry(tmp_path / "registry.db").close()  # migrated, no key yet
    return tmp_path / "registry.db"


def entry(patient: str, n: int = 0) -> LogEntry:
    return LogEntry(request_id=str(uuid.uuid4()), user_id="SE2321000016-1001", assignment_id="SE2321000016-1001-U1",
                    assignment_name="Läkare", user_care_unit_id="SE2321000016-9RKT",
                    user_care_provider_id="SE2321000016-F0VB", patient_id=patient, activity="Läsa", action="read",
                    contract="GetDiagnosis:2", record_count=n)


def log_entries(path: Path, target: int = 261, others: int = 139) -> None:
    """`target` entries of TARGET interleaved with `others` of two other patients, a few per transaction."""
    sequence = [TARGET] * target + [PATIENTS[1 + i % 2] for i in range(others)]
    random.Random(target * 1000 + others).shuffle(sequence)
    store = GuardStore(path)
    try:
        for i in range(0, len(sequence), 5):
            store.append_sync([entry(p, i) for p in sequence[i:i + 5]])
    finally:
        store.close()


def npo(path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SEAL_ENV}
    return subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(path), *args], capture_output=True,
                          text=True, timeout=120, cwd=path.parent, env={**base, **(env or {})})


def refused(path: Path, *args: str, env: dict | None = None) -> str:
    """`npo log verify` fails with exit 1 and one line; that line."""
    done = npo(path, "log", "verify", *args, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and done.stdout == "" and len(lines) == 1, (done.returncode, done.stdout, done.stderr)
    assert lines[0].startswith("Error: Access log ") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def intact(path: Path, *args: str) -> str:
    done = npo(path, "log", "verify", *args)
    assert done.returncode == 0 and "Access log intact:" in done.stdout, done.stdout + done.stderr
    return done.stdout


def sql(path: Path, *statements: tuple[str, list]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement, args in statements:
            conn.execute(statement, args)
        conn.execute("COMMIT")
    finally:
        conn.close()


def rechain(path: Path, key: bytes | None) -> None:
    """What an attacker does after deleting rows: renumber seq 1..n and recompute every hash, with
    npo's own chain_hash, under `key` (None: plain SHA-256, the function anyone could call before)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        rows = conn.execute(f"select seq, {', '.join(LOG_FIELDS)} from access_log order by seq").fetchall()
        conn.execute("update access_log set seq = -seq")
        prev = GENESIS
        for new_seq, row in enumerate(rows, 1):
            digest = chain_hash(prev, dict(zip(LOG_FIELDS, row[1:])), key)
            conn.execute("update access_log set seq = ?, prev_hash = ?, hash = ? where seq = ?",
                         [new_seq, prev, digest, -row[0]])
            prev = digest
        conn.execute("COMMIT")
    finally:
        conn.close()


def checkpoint_lines(path: Path) -> list[dict]:
    file = Path(f"{path}.checkpoints")
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


def count(path: Path, table: str = "access_log") -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        conn.close()


# -- the clean case --------------------------------------------------------------------------------------

def test_the_clean_log_verifies_against_its_checkpoints(path):
    log_entries(path)
    created = npo(path, "log", "checkpoint")
    assert created.returncode == 0 and "Checkpoint signed: entry 400 (400 entries)" in created.stdout, created
    log_entries(path, 3, 2)  # after the checkpoint: sealed by their HMAC until the next
    out = intact(path)
    assert "Access log intact: 405 entries" in out and "up to entry 400 (5 entries after it" in out, out
    assert (path.parent / "registry.db.logkey").stat().st_mode & 0o777 == 0o600
    [line] = checkpoint_lines(path)
    assert (line["seq"], line["entries"]) == (400, 400) and count(path, "log_checkpoints") == 1
    result = GuardStore(path).verify()
    assert result == (True, 405, None) and result.problem is None and result.checkpoint.seq == 400


def test_the_key_is_made_once_next_to_the_registry_and_said_so_once(tmp_path):
    registry = tmp_path / "registry.db"
    first = npo(registry, "log", "verify")
    assert first.returncode == 0 and first.stderr.count("created the access-log key") == 1, first.stderr
    assert "registry.db.logkey (mode 0600)" in first.stderr, first.stderr
    again = npo(registry, "log", "verify")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    key = (tmp_path / "registry.db.logkey").read_text()
    assert len(bytes.fromhex(key.strip())) == 32 and (tmp_path / "registry.db.logkey").stat().st_mode & 0o777 == 0o600
    public = npo(registry, "log", "public-key")
    assert public.returncode == 0 and public.stdout.startswith("-----BEGIN PUBLIC KEY-----"), public


def test_a_configured_key_lives_where_the_operator_says_and_a_missing_one_is_never_replaced(path, tmp_path):
    elsewhere = tmp_path / "vault" / "npo.logkey"
    elsewhere.parent.mkdir()
    missing = npo(path, "--log-key", str(elsewhere), "log", "verify")
    assert missing.returncode == 1 and "does not exist" in missing.stderr and not elsewhere.exists(), missing.stderr
    shutil.copy(_make_key(tmp_path / "k"), elsewhere)
    env = {"NPO_LOG_KEY_FILE": str(elsewhere), "NPO_LOG_CHECKPOINTS": str(tmp_path / "vault" / "cp.jsonl")}
    assert npo(path, "log", "checkpoint", env=env).returncode == 0
    assert (tmp_path / "vault" / "cp.jsonl").exists() and not Path(f"{path}.logkey").exists()
    assert npo(path, "log", "verify", env=env).returncode == 0
    # The log is keyed now: without its key npo refuses, and makes no new key over it.
    lost = npo(path, "log", "verify")
    assert lost.returncode == 1 and "is keyed but its key" in lost.stderr and not Path(f"{path}.logkey").exists()


def _make_key(where: Path) -> Path:
    where.write_text(os.urandom(32).hex() + "\n")
    where.chmod(0o600)
    return where


# -- truncation, deletion, re-chaining ----------------------------------------------------------------------

def test_deleting_the_last_20_entries_after_a_checkpoint_is_truncation(path):
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    sql(path, ("delete from access_log where seq > 380", []))
    line = refused(path)
    assert line.startswith("Error: Access log truncated: it ends at entry 380") and "entries 381-400 are gone" in line
    result = GuardStore(path).verify()
    assert result[:1] == (False,) and result.problem == "truncated" and result.bad == 381
    # No checkpoint is signed over the shortened log.
    refusal = npo(path, "log", "checkpoint")
    assert refusal.returncode == 1 and "no checkpoint is signed over it" in refusal.stderr, refusal.stderr


def test_truncating_and_writing_on_is_caught_by_the_checkpoint_head(path):
    """SQLite reuses the deleted seqs: the new entries chain cleanly, but not through what was signed."""
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    sql(path, ("delete from access_log where seq > 380", []))
    log_entries(path, 30, 0)  # the server writes on: seq 381-410, a valid HMAC chain from entry 380
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: entry 400 does not match"), line


def test_deleting_a_patients_entries_and_rechaining_with_plain_sha256_fails(path):
    log_entries(path)
    assert count(path) == 400
    sql(path, ("delete from access_log where patient_id = ?", [TARGET]))
    assert count(path) == 139
    line = refused(path)  # not even re-chained yet: the seq has gaps
    assert line.startswith("Error: Access log entries deleted: ") and "missing (the seq has a gap)" in line, line
    rechain(path, None)  # the attack that used to pass: npo's own hash, plain SHA-256
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: entry 1 is chained with plain SHA-256"), line


def test_moving_the_legacy_boundary_to_pass_off_a_plain_chain_fails_against_the_checkpoint(path):
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    sql(path, ("delete from access_log where patient_id = ?", [TARGET]))
    rechain(path, None)
    sql(path, ("update settings set value = '999999' where key = 'log_legacy_until'", []))  # "all legacy"
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: the database says entries up to 999999 are unkeyed"), line


def test_rechaining_with_a_wrong_key_fails(path):
    log_entries(path)
    sql(path, ("delete from access_log where patient_id = ?", [TARGET]))
    rechain(path, os.urandom(32))
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: entry 1 does not match its HMAC"), line


def test_verifying_with_another_key_fails(path, tmp_path):
    log_entries(path, 10, 10)
    assert npo(path, "log", "checkpoint").returncode == 0
    other = {"NPO_LOG_KEY_FILE": str(_make_key(tmp_path / "other.key"))}
    line = refused(path, env=other)
    assert line.startswith("Error: Access log checkpoint forged: ") and "not by this log's key" in line, line
    sql(path, ("delete from log_checkpoints", []))
    Path(f"{path}.checkpoints").unlink()
    line = refused(path, env=other)
    assert line.startswith("Error: Access log re-chained: entry 1 does not match its HMAC"), line


def test_a_gap_in_seq_fails_with_the_first_missing_number(path):
    log_entries(path, 30, 20)
    sql(path, ("delete from access_log where seq in (17, 18, 19, 33)", []))
    line = refused(path)
    assert line == "Error: Access log entries deleted: entries 17-19 are missing (the seq has a gap).", line
    assert GuardStore(path).verify()[:3] == (False, 16, 17)


def test_removing_an_entry_and_renumbering_without_rechaining_is_deletion(path):
    log_entries(path, 30, 20)
    sql(path, ("delete from access_log where seq = 17", []), ("update access_log set seq = seq - 1 where seq > 17", []))
    line = refused(path)
    assert line.startswith("Error: Access log entries deleted: entry 17 is intact but does not follow entry 16"), line


def test_a_changed_entry_fails(path):
    log_entries(path, 30, 20)
    sql(path, ("update access_log set user_id = 'SE2321000016-9999' where seq = 25", []))
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: entry 25 does not match its HMAC"), line


def test_fewer_entries_than_a_checkpoint_counts_fails(path):
    """The key holder rewrites and re-signs nothing, but renumbers and re-chains after deleting: the shipped
    checkpoint still counts the entries that were there."""
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    store = GuardStore(path)
    key = store.key.hmac_key
    store.close()
    sql(path, ("delete from access_log where patient_id = ?", [TARGET]))
    rechain(path, key)  # with the key itself: every entry's HMAC is right again
    line = refused(path)
    assert line.startswith("Error: Access log truncated: it ends at entry 139") and "covers 400 entries" in line, line


# -- checkpoints -------------------------------------------------------------------------------------------

def test_a_forged_checkpoint_signature_fails(path):
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    file = Path(f"{path}.checkpoints")
    original = file.read_text()
    # The attacker removed the last 20 entries and edits the checkpoint to match; its signature no longer does.
    sql(path, ("delete from access_log where seq > 380", []))
    store = GuardStore(path)
    head = store.log_rows("seq = 380")[0]["hash"]
    store.close()
    record = json.loads(original) | {"seq": 380, "entries": 380, "head": head}
    file.write_text(json.dumps(record) + "\n")
    line = refused(path)
    assert line.startswith("Error: Access log checkpoint forged: ") and "does not carry a valid signature" in line
    # A signature by another Ed25519 key, under this log's key id, is no better.
    forger = Ed25519PrivateKey.generate()
    cp = Checkpoint.parse(record, "forged")
    file.write_text(json.dumps(record | {"signature": base64.b64encode(forger.sign(cp.signed_bytes())).decode()})
                    + "\n")
    assert "does not carry a valid signature" in refused(path)
    # In the database as well.
    file.write_text(original)
    sql(path, ("update log_checkpoints set seq = 380, entries = 380, head = ?", [head]))
    line = refused(path)
    assert line.startswith("Error: Access log checkpoint forged: checkpoint 1 in the database"), line


def test_a_removed_checkpoint_file_fails_while_the_database_holds_checkpoints(path):
    log_entries(path, 10, 10)
    assert npo(path, "log", "checkpoint").returncode == 0
    Path(f"{path}.checkpoints").unlink()
    line = refused(path)
    assert line.startswith("Error: Access log checkpoints missing: ") and "--checkpoints FILE" in line, line


def test_a_shipped_copy_catches_what_local_copies_no_longer_show(path, tmp_path):
    """The attacker cut the log and removed every local trace of the checkpoints: the copy the operator
    shipped elsewhere still tells."""
    log_entries(path)
    assert npo(path, "log", "checkpoint").returncode == 0
    shipped = tmp_path / "shipped.jsonl"
    shutil.copy(f"{path}.checkpoints", shipped)
    sql(path, ("delete from access_log where seq > 380", []), ("delete from log_checkpoints", []))
    Path(f"{path}.checkpoints").unlink()
    intact(path)  # locally nothing is left to compare with (as on a fresh install)
    line = refused(path, "--checkpoints", str(shipped))
    assert line.startswith("Error: Access log truncated: it ends at entry 380") and str(shipped) in line, line


def test_a_torn_last_line_is_no_checkpoint_and_no_failure(path):
    log_entries(path, 10, 10)
    assert npo(path, "log", "checkpoint").returncode == 0
    with open(f"{path}.checkpoints", "a") as f:
        f.write('{"entries":20,"head":"ab')  # power lost in the middle of a write
    intact(path)
    with open(f"{path}.checkpoints", "a") as f:
        f.write("\n")  # ... but a complete line that is not a checkpoint is a claim that fails
    assert "is not a checkpoint" in refused(path)


def test_checkpoints_are_incremental_and_cover_only_a_sound_log(path):
    store = GuardStore(path)
    try:
        first = store.checkpoint()
        assert (first.seq, first.entries, first.head) == (0, 0, GENESIS)
        assert store.checkpoint(only_if_new=True) is None  # nothing logged since
        store.append_sync([entry(TARGET, i) for i in range(7)])
        second = store.checkpoint(only_if_new=True)
        assert (second.seq, second.entries) == (7, 7) and second.head == store.log_rows("seq = 7")[0]["hash"]
        sql(path, ("update access_log set record_count = 99 where seq = 3", []))  # before the last checkpoint
        store.append_sync([entry(TARGET)])
        assert store.checkpoint().seq == 8  # signs on from the last checkpoint, whose entry is unchanged ...
        assert store.verify().problem == "rechained"  # ... while verify walks it all and finds entry 3
        sql(path, ("update access_log set record_count = 99 where seq = 8", []))  # the entry last signed
        with pytest.raises(LogTampered, match="entry 8, which the checkpoint .* signed, is not the one it signed"):
            store.checkpoint()
        sql(path, ("delete from access_log where seq = 8", []))
        with pytest.raises(LogTampered, match="entry 8, which the checkpoint .* signed, is gone"):
            store.checkpoint()
    finally:
        store.close()


# -- the legacy prefix -------------------------------------------------------------------------------------

def legacy_registry(path: Path, n: int) -> None:
    """A registry from before the seal, with `n` entries chained by the old code (plain SHA-256)."""
    db = connect(path)
    migrations.apply(db, stop_before="m006_log_seal")
    prev = GENESIS
    fields = [k for k in LOG_FIELDS if k != "environment"]  # the columns before m008
    insert = f"insert into access_log ({', '.join(fields)}, prev_hash, hash) values ({', '.join('?' * (len(fields) + 2))})"
    for i in range(n):
        e = entry(PATIENTS[i % 3], i)
        values = {k: getattr(e, k) for k in fields if k not in ("time", "detail")}
        values |= {"time": "2026-10-01T12:00:00+02:00", "detail": "{}"}
        digest = chain_hash(prev, values)
        db.conn.execute(insert, [values[k] for k in fields] + [prev, digest])
        prev = digest
    db.close()
    Registry(path).close()  # upgrading marks them as the legacy prefix
    GuardStore(path).close()  # the key is made (and said so) here, not in the first `npo log verify`


def test_entries_from_before_the_key_verify_as_a_legacy_prefix(tmp_path):
    path = tmp_path / "registry.db"
    legacy_registry(path, 50)
    log_entries(path, 10, 10)
    out = intact(path)
    assert "Access log intact: 70 entries, 50 of them from before the log had a key" in out, out
    # Once keyed entries began, a plain SHA-256 entry after them is a failure, wherever the chain is recomputed.
    conn = sqlite3.connect(path)
    rows = conn.execute(f"select seq, {', '.join(LOG_FIELDS)}, prev_hash from access_log where seq = 51").fetchone()
    conn.close()
    sql(path, ("update access_log set hash = ? where seq = 51", [chain_hash(rows[-1], dict(zip(LOG_FIELDS, rows[1:-1])))]))
    line = refused(path)
    assert line.startswith("Error: Access log re-chained: entry 51 is chained with plain SHA-256, but every entry "
                           "after 50 carries an HMAC"), line


def test_a_changed_legacy_entry_still_fails(tmp_path):
    path = tmp_path / "registry.db"
    legacy_registry(path, 50)
    sql(path, ("update access_log set user_id = 'SE2321000016-9999' where seq = 20", []))
    assert refused(path).startswith("Error: Access log re-chained: entry 20, written before the log had a key")


# -- the running server -----------------------------------------------------------------------------------

async def test_the_web_app_signs_checkpoints_while_it_runs_and_at_clean_shutdown(aiohttp_client, registry, pm,
                                                                                monkeypatch):
    monkeypatch.setattr(guards_module, "CHECKPOINT_SECONDS", 0.05)
    core = Core(registry, "demo", pm)
    path = Path(registry.path)
    client = await aiohttp_client(make_app(core))
    await core.guards.append([entry(TARGET, i) for i in range(5)])
    for _ in range(200):  # a checkpoint within the (shortened) minute
        if any(c["seq"] == 5 for c in checkpoint_lines(path)):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("no periodic checkpoint covered the entries")
    before = count(path, "log_checkpoints")
    await client.close()  # a clean shutdown: one more, whatever the interval
    lines = checkpoint_lines(path)
    assert len(lines) == count(path, "log_checkpoints") == before + 1 and lines[-1]["seq"] == 5, lines
    assert core.guards.verify() == (True, 5, None)
    core.guards.close()


async def test_the_shutdown_checkpoint_covers_entries_logged_just_before(aiohttp_client, registry, pm):
    core = Core(registry, "demo", pm)  # the default minute: only the start and the shutdown sign here
    client = await aiohttp_client(make_app(core))
    for _ in range(500):  # the start-up checkpoint (empty log)
        if checkpoint_lines(Path(registry.path)):
            break
        await asyncio.sleep(0.01)
    await core.guards.append([entry(TARGET, i) for i in range(3)])
    await client.close()
    lines = checkpoint_lines(Path(registry.path))
    assert [(c["seq"], c["entries"]) for c in lines] == [(0, 0), (3, 3)], lines
    core.guards.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_npo_demo_signs_a_checkpoint_when_stopped(tmp_path, how):
    path = tmp_path / "registry.db"
    port, platform_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in SEAL_ENV}
    with open(tmp_path / "server.out", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(path), "demo", "--port",
                                 str(port), "--platform-port", str(platform_port)], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{path}.checkpoints").exists():  # the start-up checkpoint
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.out").read_text()
            time.sleep(0.1)
        added = npo(path, "consents", "add", "--patient", PATIENTS[1], "--provider", "SE2321000016-F0VB", "--unit",
                    "SE2321000016-9RKT", "--days", "1", "--by", "SE2321000016-ADM1")
        assert added.returncode == 0 and added.stderr == "", added.stderr  # the key exists: nothing said
        proc.send_signal(how)
        assert proc.wait(30) == 0, (tmp_path / "server.out").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    total = count(path)
    lines = checkpoint_lines(path)
    assert len(lines) == 2 and lines[0]["seq"] == total - 1 and lines[-1]["seq"] == total, lines
    assert "created the access-log key" in (tmp_path / "server.out").read_text()
    assert "Access log intact: " in intact(path)
