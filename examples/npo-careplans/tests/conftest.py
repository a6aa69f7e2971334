"""Shared fixtures: the official RIV-TA bundle, npo's command line, and its demo service platform.

The plugin imports only `npo_core` and `npo_core.riv`, and so do its tests: what npo does with the
plugin (the conformance checks, the demo producers) they reach as an operator does, through `npo`.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TODAY = dt.date(2026, 11, 1)  # the demo platform dates its content relative to this day


def find_bundle() -> Path | None:
    """NPO_RIVTA_SCHEMAS, else the bundle beside an npo checkout (../shared/rivta, as npo's CI has it)."""
    here = Path(__file__).resolve()
    candidates = [os.environ.get("NPO_RIVTA_SCHEMAS")] + [str(p / "shared" / "rivta") for p in here.parents]
    for candidate in candidates:
        if candidate and any(Path(candidate).glob("*/interactions")):
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def bundle() -> Path:
    """Skipped where there is no bundle, but never silently under CI."""
    path = find_bundle()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no RIV-TA schema bundle: set NPO_RIVTA_SCHEMAS")
        pytest.skip("no RIV-TA schema bundle (set NPO_RIVTA_SCHEMAS)")
    return path


@pytest.fixture(scope="session")
def installed() -> None:
    """npo finds the plugin by its entry point, which exists once the package is installed."""
    try:
        importlib.metadata.distribution("npo-careplans")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("not installed: pip install -e . to test the plugin through npo")


@pytest.fixture
def npo(installed, tmp_path):
    """`npo ARGS...` in a subprocess, as CI runs it; the registry is the test's own."""
    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(tmp_path / "registry.db"), *args],
                              capture_output=True, text=True, env={**os.environ, **env})
    return run


@pytest.fixture(scope="session")
def platform_url(installed, tmp_path_factory):
    """`npo demo-platform`, the demo service platform `npo demo` runs, serving this plugin's contract alone."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("platform") / "platform.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "npo_core", "--registry", str(log.with_name("registry.db")), "demo-platform",
             "--port", str(port), "--today", TODAY.isoformat(), "--parent-pid", str(os.getpid())],
            env={**os.environ, "NPO_LOAD_PLUGINS": "careplans"}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "npo demo platform on " not in log.read_text():  # the line it prints once it listens
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"npo demo-platform did not start: {log.read_text()}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/vp"
    finally:
        proc.terminate()
        proc.wait(10)
