"""Shared fixtures: the official RIV-TA bundle, and the demo service platform on a real port."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from pathlib import Path

import pytest

TODAY = dt.date(2026, 11, 1)  # demo content is dated relative to this day


@pytest.fixture
def today() -> dt.date:
    return TODAY


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


@pytest.fixture
def platform_url():
    """npo's demo service platform, serving this plugin's contract, in a background thread.

    A plain thread and event loop, so the tests need no async test plugin.
    """
    from aiohttp import web

    from npo_core.demo.platform import make_platform
    from npo_core.plugins import collect, make_plugin_manager

    import npo_careplans

    contracts = collect(make_plugin_manager(load_entrypoints=False, extra=(npo_careplans,))).contracts
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_platform(contracts, today=TODAY))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/vp"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
