"""The HTTP edge of npo's own server: a request head must arrive in time, and every answer, error pages
and redirects included, carries the security headers."""

from __future__ import annotations

import asyncio
import socket
import time

from aiohttp import web

from npo_core import web as npo_web
from npo_core.app import Core
from npo_core.web import Site, make_app

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
           "Cache-Control")


async def serve(registry, pm):
    runner = web.AppRunner(make_app(Core(registry, "demo", pm)), access_log=None)
    await runner.setup()
    site = Site(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


async def test_a_connection_that_trickles_its_request_head_is_closed(registry, pm, monkeypatch):
    monkeypatch.setattr(npo_web, "HEAD_SECONDS", 0.5)
    runner, port = await serve(registry, pm)
    loop = asyncio.get_running_loop()
    try:
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for s in slow:
            s.setblocking(False)
            await loop.sock_sendall(s, b"GET /api/session HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        closed = await asyncio.wait_for(asyncio.gather(*(loop.sock_recv(s, 100) for s in slow)), 5)
        assert closed == [b""] * 20 and time.monotonic() - started < 3, "each slow connection was closed"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # an honest client is served
        writer.write(b"GET /api/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 401")
        writer.close()
        for s in slow:
            s.close()
    finally:
        await runner.cleanup()


async def test_error_pages_and_redirects_carry_the_security_headers(demo):
    for path, status in (("/no/such/page", 404), ("/patient/199701062383", 303), ("/api/records", 401)):
        resp = await demo.get(path, allow_redirects=False)
        assert resp.status == status, path
        assert all(h in resp.headers for h in HEADERS), (path, dict(resp.headers))
    resp = await demo.post("/api/login/demo", data=b"x" * (70 * 1024), headers={"Content-Type": "application/json"})
    assert resp.status == 413 and all(h in resp.headers for h in HEADERS)
