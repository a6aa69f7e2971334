"""The aiohttp application: security middlewares, the JSON API, and plugin routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import secrets
import sys
import uuid

from aiohttp import web

from . import soap
from .api import routes as api_routes
from .app import Core, await_me_maybe
from .contract import SWEDEN
from .errors import Forbidden, NotFound, NpoError, Unauthenticated

log = logging.getLogger("npo.web")

CORE_KEY = web.AppKey("npo_core", Core)
MAX_REQUEST_BYTES = 64 * 1024

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def wants_json(request: web.Request) -> bool:
    """The API and plugin JSON (`/-/`) answer errors in JSON; pages answer them as pages."""
    return request.path.startswith("/api/") or request.path.startswith("/-/")


class RequestTooLarge(NpoError):
    status = 413
    code = "request_too_large"


REQUEST_ID = web.RequestKey("npo_request_id", str)  # in the answer's X-Request-Id, on error pages, in the log
REQUEST_TIME = web.RequestKey("npo_request_time", dt.datetime)


def reference(request: web.Request) -> dict:
    """What a clinician quotes to support for an error: when (Swedish time) and the request's id, no patient."""
    return {"time": request[REQUEST_TIME].isoformat(timespec="seconds"), "request_id": request[REQUEST_ID]}


def _route(request: web.Request) -> str:
    """The route as declared ('/patient/{pid}'): the log line names the page, never the patient in its path."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "(no route)"


@web.middleware
async def request_ids(request: web.Request, handler):
    """Every request gets an id: sent back as X-Request-Id, shown on error pages and logged with every error,
    so support finds the server's log line from the reference a clinician quotes."""
    request[REQUEST_ID], request[REQUEST_TIME] = str(uuid.uuid4()), dt.datetime.now(SWEDEN)
    try:
        response = await handler(request)
    except web.HTTPException as e:
        _log_error(request, e.status)
        raise
    _log_error(request, response.status)
    return response


def _log_error(request: web.Request, status: int) -> None:
    if status >= 400:  # a warning: npo configures no logging, and Python shows warnings and above by default
        log.warning("request %s: %s %s answered %s", request[REQUEST_ID], request.method, _route(request), status)


# aiohttp's own refusals (plain English text) that reach a clinician: answered as npo's errors instead.
HTTP_ERRORS = {
    web.HTTPRequestEntityTooLarge: lambda: RequestTooLarge(
        f"Det du skickade är för stort: högst {MAX_REQUEST_BYTES // 1024} kB tas emot."),
    web.HTTPNotFound: lambda: NotFound("Sidan finns inte.", code="no_such_page"),
}


@web.middleware
async def errors(request: web.Request, handler):
    """Expected failures become a clear answer; unexpected ones are logged, never shown. A plugin may render
    the answer (`handle_exception`, the web view's error pages); else the core's own JSON or plain text."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        make = HTTP_ERRORS.get(type(e))
        if make is None or request.path.startswith("/static/"):  # a missing style sheet is no clinician's page
            raise
        error = make()
    except Exception as e:
        if not isinstance(e, NpoError):
            log.exception("request %s: unhandled error on %s %s", request.get(REQUEST_ID), request.method,
                          _route(request))
        error = e
    answer = await _plugin_answer(request, error)
    return _core_answer(request, error) if answer is None else answer


async def _plugin_answer(request: web.Request, exception: Exception) -> web.StreamResponse | None:
    core = request.app[CORE_KEY]
    try:
        return await await_me_maybe(core.pm.hook.handle_exception(core=core, request=request, exception=exception))
    except web.HTTPException:
        raise
    except Exception:  # a broken error page must not hide the error: the core's own answer instead
        log.exception("handle_exception failed on %s %s", request.method, request.path)
        return None


def _core_answer(request: web.Request, e: Exception) -> web.Response:
    """When no plugin answers: JSON for the API, plain text for a page, and the login for a page without a
    session."""
    if isinstance(e, Unauthenticated) and not wants_json(request):
        core = request.app[CORE_KEY]
        raise web.HTTPSeeOther(core.auth_methods[0].login_path if core.auth_methods else "/")
    ref = reference(request)
    if not isinstance(e, NpoError):
        if wants_json(request):
            return web.json_response({"error": "internal", "message": "Internt fel.", "reference": ref}, status=500)
        return web.Response(status=500, text=f"Internt fel: något gick fel i npo. Felet är loggat. "
                                             f"Referens: {ref['time']}, {ref['request_id']}")
    if wants_json(request):
        return web.json_response({"error": e.code, "message": e.message, "reference": ref}, status=e.status)
    return web.Response(status=e.status, text=f"{e.message} Referens: {ref['time']}, {ref['request_id']}")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set as every answer's headers are sent (aiohttp's on_response_prepare): error pages, refusals,
    redirects and pages streamed in chunks carry the same headers as every other answer."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if REQUEST_ID in request:
        response.headers["X-Request-Id"] = request[REQUEST_ID]
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # patient data never lands in a cache


class HeadDeadlines:
    """A connection must send a complete request head within `seconds`, or it is closed.

    aiohttp has no header-read timeout: 150 connections trickling a header byte at a time stayed open
    for 45 s. The deadline is armed when a connection opens and again after each answer (for the next
    request on a kept-alive connection), and disarmed when a request reaches the app."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._armed: dict[int, asyncio.TimerHandle] = {}

    def arm(self, protocol):
        self.disarm(protocol)
        self._armed[id(protocol)] = asyncio.get_running_loop().call_later(self.seconds, self._expire, protocol)
        return protocol

    def disarm(self, protocol) -> None:
        timer = self._armed.pop(id(protocol), None)
        if timer is not None:
            timer.cancel()

    def _expire(self, protocol) -> None:
        self._armed.pop(id(protocol), None)
        protocol.force_close()


HEAD_SECONDS = 10.0
HEAD_DEADLINES = web.AppKey("npo_head_deadlines", HeadDeadlines)


@web.middleware
async def head_deadline(request: web.Request, handler):
    deadlines = request.app[HEAD_DEADLINES]
    deadlines.disarm(request.protocol)
    try:
        return await handler(request)
    finally:
        deadlines.arm(request.protocol)


class Site(web.TCPSite):
    """A TCP site whose connections are held to the app's request-head deadline."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server, deadlines = self._runner.server, self._runner.app.get(HEAD_DEADLINES)
        factory = server if deadlines is None else (lambda: deadlines.arm(server()))
        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


@web.middleware
async def csrf(request: web.Request, handler):
    """Every state change carries the session's CSRF token (form field or X-CSRF-Token)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not getattr(
            request.match_info.handler, "csrf_exempt", False):
        core = request.app[CORE_KEY]
        session = core.session_of(request, touch=False)  # a refused request keeps no session alive
        token = request.headers.get("X-CSRF-Token")
        if token is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            token = (await request.post()).get("csrf_token")
        if not token or not secrets.compare_digest(str(token), session.csrf_token):
            raise Forbidden("Formuläret har gått ut eller kom inte från npo (CSRF). Ladda om sidan.", code="csrf")
    return await handler(request)


def csrf_exempt(handler):
    """For login endpoints, which have no session yet."""
    handler.csrf_exempt = True
    return handler


def make_app(core: Core) -> web.Application:
    app = web.Application(middlewares=[request_ids, head_deadline, errors, csrf], client_max_size=MAX_REQUEST_BYTES)
    app.on_response_prepare.append(security_headers)
    app[CORE_KEY] = core
    app[HEAD_DEADLINES] = HeadDeadlines(HEAD_SECONDS)

    async def http_client_and_worker(app):
        env = core.env
        core.http = soap.make_session(pool_size=core.fan_out_width(), ssl_context=soap.client_ssl_context(
            env.client_cert, env.client_key, env.ca_bundle))
        core.worker = core.make_worker()
        # The worker holds the GIL for long stretches; the loop, back from each socket call, waits for
        # it. Asking for it back after 1 ms instead of 5: loop lag p99 52.8 -> 29.6 ms (BENCHMARKS.md).
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, 0.001))
        # Answers kept per look make the heap large, and a full collection then stopped every third page of a
        # heavy patient for ~300 ms. Rarer young collections promote fewer of a page's passing objects, and
        # full ones come a tenth as often: no such pauses in 18 timeline and calendar pages of Linda.
        thresholds = gc.get_threshold()
        gc.set_threshold(50_000, 20, 100)
        # The access log's seal: while the app runs, a signed checkpoint every minute in which entries were
        # logged, and one at every clean shutdown (guards.GuardStore.start_checkpoints / stop_checkpoints).
        core.guards.start_checkpoints()
        try:
            for result in core.pm.hook.startup(core=core):
                await await_me_maybe(result)
            yield
        finally:
            await core.http.close()
            core.worker.shutdown(wait=False, cancel_futures=True)
            sys.setswitchinterval(switch_interval)
            gc.set_threshold(*thresholds)
            await core.guards.stop_checkpoints()  # the access log's seal, last: after the last request

    app.cleanup_ctx.append(http_client_and_worker)
    app.add_routes(api_routes(core))
    for method in core.auth_methods:
        app.add_routes(method.routes(core))
    for routes in core.pm.hook.register_routes(core=core):
        app.add_routes(routes or [])
    return app
