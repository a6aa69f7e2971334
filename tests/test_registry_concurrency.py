"""The operator's CLI writes registry.db while a running server reads (and logs) on the same file.

The server is the real `npo demo` process; clinicians read through the JSON API in a loop the whole time.
The CLI runs as the operator would run it (`python -m npo_core --registry FILE ...`), one command at a time:
contracts disable/enable, producers remove/add, consents add. Each change must be visible to the running
server without a restart, and neither side may see an error.

Then another process holds the database with BEGIN EXCLUSIVE (in WAL mode readers still read, writers wait
for the lock): the CLI fails with one clear line, the server refuses reads with a clear 503 and shows
nothing (a read that cannot be logged is not served), and both work again once the lock is released.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from .api_clinician import ApiClinician

HOST = "127.0.0.1"
FIONA = "199701062383"
VGR = "SE2321000131-E000000000001"
MLM1 = "SE2321000131-MLM1"  # Västra Götalandsregionen's source system
VISIBLE_WITHIN = 10.0  # seconds for a CLI change to show in the running server
READERS = [("SE2321000016-1001", "SE2321000016-1001-U1"), ("SE2321000131-2002", "SE2321000131-2002-U1"),
           ("SE2120003005-3003", "SE2120003005-3003-U1")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """`npo demo` on a registry file in tmp_path; (base URL, registry path, output file)."""
    registry = tmp_path / "registry.db"
    port, platform_port = free_port(), free_port()
    while platform_port == port:
        platform_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NPO_LOAD_PLUGINS", "NPO_TRACE_PLUGINS", "NPO_REGISTRY")}
    output = tmp_path / "server.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(registry), "demo", "--host", HOST,
                                 "--port", str(port), "--platform-port", str(platform_port)],
                                cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"npo demo exited at start:\n{output.read_text()}")
            try:
                socket.create_connection((HOST, port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"npo demo did not answer within 20 s:\n{output.read_text()}")
                time.sleep(0.1)
        yield f"http://{HOST}:{port}", registry, output
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def cli(registry: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NPO_LOAD_PLUGINS", "NPO_TRACE_PLUGINS", "NPO_REGISTRY")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "npo_core", "--registry", str(registry), *args, cwd=registry.parent, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def clinician(base: str, who: str, assignment: str, patient: str = FIONA) -> ApiClinician:
    """Logged in, with the patient open and the care relation attested."""
    c = ApiClinician(base)
    await c.login(who, assignment)
    for path, data in (("/api/patient", {"patient_id": patient}), ("/api/relation", {})):
        status, body = await c.post(path, data)
        assert status == 200, (path, body)
    return c


async def read_loop(base: str, who: tuple[str, str], stop: asyncio.Event, seen: list) -> None:
    """A clinician reading all along: every answer must be a 200."""
    reader = await clinician(base, *who)
    try:
        while not stop.is_set():
            for path in ("/api/records?set=diagnoser", "/api/sets", "/api/consents", "/api/status"):
                try:
                    status, body = await reader.get(path)
                    seen.append((who[1], path, status, None if status == 200 else body))
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                    seen.append((who[1], path, None, f"{type(e).__name__}: {e}"))
    finally:
        await reader.close()


async def eventually(what: str, probe) -> None:
    """Poll the running server until `probe()` is true."""
    deadline = time.monotonic() + VISIBLE_WITHIN
    while True:
        if await probe():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not visible in the running server within {VISIBLE_WITHIN} s: {what}")
        await asyncio.sleep(0.1)


CHANGES = [
    ("contracts", "disable", "GetDiagnosis:2", "--env", "demo"),
    ("contracts", "enable", "GetDiagnosis", "--env", "demo"),
    ("producers", "remove", "--env", "demo", MLM1),
    ("producers", "add", "--env", "demo", "--provider", VGR, "--logical-address", MLM1, "--system-name", "Millennium",
     "--contract", "GetDiagnosis:2"),
    ("consents", "add", "--patient", FIONA, "--provider", "SE2321000016-F0VB", "--unit", "SE2321000016-9RKT",
     "--days", "1", "--by", "SE2321000016-ADM1"),
]


def test_each_cli_change_reaches_the_running_server_without_a_restart(server):
    base, registry, output = server
    asyncio.run(_each_change_is_visible(base, registry))
    assert "unhandled error" not in output.read_text(errors="replace"), output.read_text(errors="replace")[-3000:]


async def _each_change_is_visible(base: str, registry: Path) -> None:
    observer = await clinician(base, "SE2321000016-1001", "SE2321000016-1001-U1")  # Anna, no consent yet

    async def diagnoses() -> dict:
        status, body = await observer.get("/api/records?set=diagnoser")
        assert status == 200, body
        return body

    async def diagnoser_enabled() -> bool:
        status, sets = await observer.get("/api/sets")
        assert status == 200, sets
        return next(s["enabled"] for s in sets if s["slug"] == "diagnoser")

    async def disabled():
        body = await diagnoses()
        return not await diagnoser_enabled() and body["records"] == [] and "Diagnoser" in body["not_enabled"]

    async def enabled():
        return await diagnoser_enabled() and bool((await diagnoses())["records"])

    def asked(body) -> tuple[int, int]:
        """(sources asked, sources failed): another provider's sources are only counted before consent."""
        hidden = body["hidden_sources"] or {"count": 0, "failed": 0}
        return (len(body["sources"]) + hidden["count"],
                sum(not s["complete"] for s in body["sources"]) + hidden["failed"])

    async def removed():  # the engagement index still lists it: not asked, and counted as a failed source
        body = await diagnoses()
        return MLM1 not in {s["logical_address"] for s in body["sources"]} and asked(body) == (5, 1)

    async def added():
        return asked(await diagnoses()) == (5, 0)

    async def consented():
        return VGR in {r["care_provider_id"] for r in (await diagnoses())["records"]}

    try:
        assert await enabled()
        before = await diagnoses()
        assert VGR not in {r["care_provider_id"] for r in before["records"]}, "no consent yet"
        assert any(w["reason"] == "no_consent" for w in before["withheld"])
        for args, (what, visible) in zip(CHANGES, [("GetDiagnosis disabled", disabled),
                                                   ("GetDiagnosis enabled again", enabled),
                                                   (f"{MLM1} removed", removed), (f"{MLM1} added back", added),
                                                   ("the consent registered by the CLI", consented)]):
            code, out, err = await cli(registry, *args)
            assert code == 0 and not err.strip(), f"npo {' '.join(args)} -> {code}\n{out}{err}"
            await eventually(what, visible)
    finally:
        await observer.close()


def test_cli_writes_while_clinicians_read_fail_on_neither_side(server):
    """Every CLI command while three clinicians read in a loop (each read commits its access-log entry)."""
    base, registry, output = server
    asyncio.run(_changes_under_load(base, registry))
    assert "unhandled error" not in output.read_text(errors="replace"), output.read_text(errors="replace")[-3000:]


async def _changes_under_load(base: str, registry: Path) -> None:
    stop, seen = asyncio.Event(), []
    readers = [asyncio.create_task(read_loop(base, who, stop, seen)) for who in READERS]
    failed_commands = []
    try:
        await asyncio.sleep(0.5)  # the readers are reading
        for _ in range(2):
            for args in CHANGES:
                code, out, err = await cli(registry, *args)
                if code != 0 or err.strip():
                    failed_commands.append(f"npo {' '.join(args[:3])} ... -> {code}: {err.strip()}")
    finally:
        stop.set()
        await asyncio.gather(*readers, return_exceptions=True)
    for task in readers:
        assert task.exception() is None, task.exception()
    failed_reads = [s for s in seen if s[2] != 200]
    assert len(seen) > 20, f"the readers hardly read: {len(seen)} answers"
    # (A command that failed can make a later one fail too, e.g. `producers remove` of a producer whose
    # `producers add` was refused: the first failure is the one to read.)
    assert not failed_commands and not failed_reads, (
        f"{len(failed_commands)} of {2 * len(CHANGES)} CLI commands failed while clinicians read:\n"
        + "\n".join(failed_commands)
        + f"\n{len(failed_reads)} of {len(seen)} reads failed while the CLI wrote: {failed_reads[:5]}")
    code, out, err = await cli(registry, "log", "verify")
    assert code == 0 and "intact" in out, out + err


def test_a_locked_database_fails_clearly_on_both_sides_and_both_recover(server):
    base, registry, output = server
    asyncio.run(_locked(base, registry))


async def _locked(base: str, registry: Path) -> None:
    anna = await clinician(base, "SE2321000016-1001", "SE2321000016-1001-U1")
    try:
        status, body = await anna.get("/api/records?set=diagnoser")
        assert status == 200 and body["records"], body
        consents_before = _consent_count(registry)

        blocker = sqlite3.connect(str(registry), timeout=0, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            (code, out, err), (read_status, read_body), (consent_status, consent_body), (sets_status, _) = \
                await asyncio.gather(cli(registry, "contracts", "disable", "GetDiagnosis:2", "--env", "demo"),
                                     anna.get("/api/records?set=diagnoser"), anna.post("/api/consent", {"days": 1}),
                                     anna.get("/api/sets"))
            elapsed = time.monotonic() - started
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        # The CLI: one line, non-zero, says what is wrong.
        assert code != 0 and out == "", (code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "locked" in lines[0], err
        # The server: reads that cannot be logged are refused with a reason and without data (fail closed).
        assert read_status == 503 and read_body["error"] in ("log_unavailable", "guard_unavailable"), read_body
        assert "records" not in read_body and read_body["message"], read_body
        assert consent_status == 503 and "consent_id" not in consent_body, consent_body
        assert sets_status == 200, "in WAL mode plain registry reads go on while a writer holds the lock"
        assert elapsed < 20, f"the refusals took {elapsed:.1f} s"

        # Both recover.
        status, body = await anna.get("/api/records?set=diagnoser")
        assert status == 200 and body["records"], body
        assert _consent_count(registry) == consents_before, "the refused consent was not stored"
        code, out, err = await cli(registry, "contracts", "disable", "GetDiagnosis:2", "--env", "demo")
        assert code == 0 and "disabled" in out, (code, out, err)
        status, body = await anna.get("/api/records?set=diagnoser")
        assert status == 200 and body["records"] == [] and "Diagnoser" in body["not_enabled"], body
        code, out, err = await cli(registry, "log", "verify")
        assert code == 0 and "intact" in out, out + err
    finally:
        await anna.close()


def _consent_count(registry: Path) -> int:
    conn = sqlite3.connect(str(registry), timeout=10)
    try:
        return conn.execute("select count(*) from consents").fetchone()[0]
    finally:
        conn.close()
