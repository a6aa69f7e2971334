"""Tillgänglig patient per environment: `all` (with a warning), a patient list per care unit that the operator
maintains, or a plugin; an environment with none refuses to start in one line instead of refusing every
patient at run time. Through the real CLI process and the real web app on a real registry file."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from npo_core import Assignment, parse_patient_id
from npo_core.app import Core

from .conftest import login
from .test_browser import free_port

FIONA, EGON, MOHAMED = "199701062383", "193601286499", "199008199391"
GUBBANGEN = "SE2321000016-9RKT"  # Anna's unit in the demo
UNIT = Assignment("SE2321000016-1001-U1", "Läkare", GUBBANGEN, "Gubbängens vårdcentral", "SE2321000016-F0VB",
                  "Region Stockholm")
OTHER_UNIT = Assignment("SE2321000016-1001-U2", "Jourläkare", "SE2321000016-A1SD", "Medicinkliniken",
                        "SE2321000016-F0VB", "Region Stockholm")


def npo(registry, *args, ok=True):
    done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(registry), *args],
                          capture_output=True, text=True, env={**os.environ, "NPO_REGISTRY": ""}, timeout=60)
    assert (done.returncode == 0) == ok, done.stderr
    return done


def test_an_environment_without_tgp_does_not_start(tmp_path):
    registry = tmp_path / "registry.db"
    done = npo(registry, "serve", "--env", "qa", "--port", str(free_port()), ok=False)
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if x.startswith("Error:")]
    assert "no Tillgänglig patient (TGP) configured" in line and "npo env set qa tgp all" in line


def test_all_patients_is_said_at_start_up(tmp_path):
    registry = tmp_path / "registry.db"
    npo(registry, "env", "set", "demo", "tgp", "all")  # the demo: it logs in without SITHS
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(registry), "serve", "--env", "demo",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NPO_REGISTRY": ""})
    try:
        deadline = time.monotonic() + 20
        banner = ""
        while time.monotonic() < deadline and "npo serving" not in banner:
            banner += proc.stdout.readline()
        assert f"npo serving demo on http://127.0.0.1:{port}/" in banner
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "warning: demo serves every patient to every care unit (tgp all)" in err


@pytest.mark.parametrize("content, message", [
    ("SE2321000016-9RKT;199701062383\n", "line 1: give care unit HSA-id,personnummer"),
    ("SE2321000016-9RKT,199701062384\n", "line 1: Kontrollsiffran stämmer inte"),
    ("# ok\nSE2321000016 9RKT,199701062383\n", "line 2: Not a valid HSA-id"),
])
def test_a_bad_patient_list_is_refused_when_set_with_its_line(tmp_path, content, message):
    patients = tmp_path / "tgp.csv"
    patients.write_text(content)
    done = npo(tmp_path / "registry.db", "env", "set", "qa", "tgp", f"list:{patients}", ok=False)
    assert message in done.stderr, done.stderr
    assert npo(tmp_path / "registry.db", "env", "set", "qa", "tgp", "sometimes", ok=False).returncode == 1


async def test_the_patient_list_decides_and_is_read_again_when_it_changes(registry, tmp_path):
    patients = tmp_path / "tgp.csv"
    patients.write_text(f"# vårdenhet,personnummer\n{GUBBANGEN},{FIONA}\n{GUBBANGEN},19360128-6499\n")
    registry.set_environment("qa", tgp=f"list:{patients}")
    core = Core(registry, "qa")
    try:
        assert core.startup_problem() is None
        fiona, egon, mohamed = (parse_patient_id(p) for p in (FIONA, EGON, MOHAMED))
        assert await core.patient_available(UNIT, fiona) and await core.patient_available(UNIT, egon)
        assert not await core.patient_available(UNIT, mohamed)
        assert not await core.patient_available(OTHER_UNIT, fiona)  # per care unit
        patients.write_text(f"{GUBBANGEN},{MOHAMED}\n")
        assert await core.patient_available(UNIT, mohamed) and not await core.patient_available(UNIT, fiona)
        patients.write_text("not a list\n")  # broken while npo runs: every patient refused, and logged
        assert not await core.patient_available(UNIT, mohamed)
        patients.unlink()
        assert not await core.patient_available(UNIT, mohamed)
        assert "cannot be read" in core.startup_problem()
    finally:
        core.guards.close()


async def test_plugin_mode_with_no_answer_refuses(registry):
    registry.set_environment("qa", tgp="plugin")  # the demo's plugin has no opinion outside the demo
    core = Core(registry, "qa")
    try:
        assert core.startup_problem() is None
        assert not await core.patient_available(UNIT, parse_patient_id(FIONA))
        registry.set_environment("qa", tgp=None)
        assert not await core.patient_available(UNIT, parse_patient_id(FIONA))  # nothing configured: no
        assert "no Tillgänglig patient (TGP) configured" in core.startup_problem()
    finally:
        core.guards.close()


async def test_the_mode_decides_an_opening_in_the_web_app(demo, registry, tmp_path):
    anna = await login(demo)
    assert (await anna.post("/api/patient", {"patient_id": MOHAMED}, expect=403))["error"] == "tgp_refused"
    registry.set_environment("demo", tgp="all")  # applies without a restart; the demo plugin is not asked
    await anna.post("/api/patient", {"patient_id": MOHAMED})
    status = await (await demo.get("/status")).text()
    assert 'class="tgp alert" data-tgp="all"' in status and "Alla patienter är tillgängliga" in status
    patients = tmp_path / "tgp.csv"
    patients.write_text(f"{GUBBANGEN},{EGON}\n")
    registry.set_environment("demo", tgp=f"list:{patients}")
    await anna.post("/api/patient", {"patient_id": EGON})
    assert (await anna.post("/api/patient", {"patient_id": FIONA}, expect=403))["error"] == "tgp_refused"
