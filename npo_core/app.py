"""The running core: registry, plugins, guards, sessions, kept answers, the worker and the templates."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import itertools
import logging
import math
import queue
import threading
from pathlib import Path

import jinja2
from aiohttp import web

from . import tgp
from .access import AccessService
from .contract import Contract
from .errors import NpoError, StartupError
from .fetch import Monitor
from .kept import KeptAnswers
from .labels import Labels
from .plugins import collect, make_plugin_manager
from .registry import Registry
from .schemas import SchemaSet, default_bundle
from .sessions import SessionStore

log = logging.getLogger("npo")

SESSION_COOKIE = "npo_session"


async def await_me_maybe(value):
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


class RankedWorker(concurrent.futures.Executor):
    """One worker thread that runs the lowest-ranked job first (FIFO among equals); the standard
    ThreadPoolExecutor only knows arrival order."""

    def __init__(self, name: str = "npo-worker"):
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        return self.submit_ranked((0,), functools.partial(fn, *args, **kwargs))

    def submit_ranked(self, rank: tuple, call) -> concurrent.futures.Future:
        if self._stopped:
            raise RuntimeError("the core's worker has been shut down")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((rank, next(self._order), future, call))
        return future

    def _work(self) -> None:
        while True:
            _, _, future, call = self._jobs.get()
            if future is None:
                return
            if future.set_running_or_notify_cancel():  # a read that gave up on it cancelled it: skipped
                try:
                    future.set_result(call())
                except BaseException as e:
                    future.set_exception(e)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._stopped = True
        if cancel_futures:
            while not self._jobs.empty():
                _, _, future, _ = self._jobs.get_nowait()
                if future is not None:
                    future.cancel()
        self._jobs.put(((math.inf,), next(self._order), None, None))
        if wait:
            self._thread.join()


class Core:
    """Everything a request needs, built once per process and handed to plugins explicitly."""

    def __init__(self, registry: Registry, env_name: str, pm=None, *, schema_bundle: Path | None = None,
                 emergency_hours: int = 4, session_idle: float | None = None, session_absolute: float = 10 * 3600):
        self.registry = registry
        self.env_name = env_name
        registry.environment(env_name)  # fails clearly for an unknown environment
        self.pm = pm or make_plugin_manager()
        self.reg = collect(self.pm)
        registry.sync_contracts(self.reg.contracts.values())
        from .guards import GuardStore  # the guards share registry.db

        self.guards = GuardStore(registry.path)
        self.kept = KeptAnswers()  # producers' answers per session and open patient, in memory only
        self.sessions = SessionStore(idle=session_idle, absolute=session_absolute, on_close=self.kept.drop)
        self.access = AccessService(self)
        self.monitor = Monitor()  # what the producers did, for the operational status
        self.tgp = tgp.Tgp()  # the environment's patient list, cached until its file changes
        self.emergency_hours = emergency_hours
        self.schemas = SchemaSet(schema_bundle or default_bundle(registry.setting("schema_bundle")))
        self.http = None
        self.worker = None  # both made by the web app's start-up (web.make_app)
        self.auth_methods = self._enabled_auth_methods()

    @staticmethod
    def make_worker() -> "RankedWorker":
        """One thread for work that grows with a patient's answers (parse, validate, normalise, decide,
        serialise), so the event loop stays responsive. One, because that work holds the GIL: more
        threads time-slice it, finish every answer late, and make the loop wait longer for the GIL."""
        return RankedWorker()

    async def off_loop(self, fn, *args, rank: tuple = (0,), **kwargs):
        """Run CPU-bound work in the core's worker thread: the lowest rank first, in arrival order among
        equals. A page waiting for its decisions or its HTML goes before answers still to be decoded."""
        call = functools.partial(fn, *args, **kwargs)
        if isinstance(self.worker, RankedWorker):
            return await asyncio.wrap_future(self.worker.submit_ranked(rank, call))
        return await asyncio.get_running_loop().run_in_executor(self.worker, call)

    @functools.cached_property
    def page_rank(self) -> dict[str, int]:
        """Each contract's place on the overview (its first information set), so answers are decoded in the
        order the clinician reads them: the alerts first, the sets below the first screen last."""
        views = sorted(self.reg.views.values(), key=lambda v: (v.order, v.title))
        return {c.id: next((n for n, v in enumerate(views) if set(v.categorizations) & set(c.categorizations)),
                           len(views)) for c in self.contracts.values()}

    @property
    def env(self):
        """Read on every use: an operator's change applies without a restart."""
        return self.registry.environment(self.env_name)

    @property
    def contracts(self) -> dict[str, Contract]:
        return self.reg.contracts

    def _enabled_auth_methods(self) -> list:
        env = self.env
        methods = []
        for name in env.auth_methods:
            method = self.reg.auth_methods.get(name)
            if method is None:
                raise StartupError(f"Environment {env.name} enables auth method {name!r}, but no plugin provides it.")
            if method.only_environments and env.name not in method.only_environments:
                raise StartupError(f"Auth method {name!r} may only run in {', '.join(method.only_environments)}, "
                                   f"not in {env.name}.")
            methods.append(method)
        return methods

    def contracts_in_use(self, categorizations: set[str] | None = None) -> tuple[list[Contract], list[str]]:
        """Enabled contracts (optionally of some information sets), and titles of those not enabled."""
        enabled = self.registry.enabled_contracts(self.env_name)
        chosen = [c for c in self.contracts.values()
                  if categorizations is None or set(c.categorizations) & categorizations]
        in_use = [c for c in chosen if c.id in enabled]
        titles_in_use = {c.title for c in in_use}
        not_enabled = sorted({c.title for c in chosen if c.id not in enabled} - titles_in_use)
        return in_use, not_enabled

    def fan_out_width(self) -> int:
        """Connection pool size: one opening must never wait for its own earlier requests."""
        return max(100, 2 * len(self.registry.produced_contracts(self.env_name)))

    async def patient_available(self, assignment, patient) -> bool:
        """Tillgänglig patient, as the environment's mode says (npo_core.tgp). A plugin: every plugin's answer
        counts, and no answer at all means no. Anything else, or nothing configured, means no (fail closed)."""
        mode = self.env.tgp
        if mode == tgp.ALL:
            return True
        if mode and mode.startswith(tgp.LIST):
            return self.tgp.listed(mode, assignment.care_unit_id, patient.id)
        if mode != tgp.PLUGIN:
            return False
        answers = [await await_me_maybe(r) for r in
                   self.pm.hook.patient_available(core=self, assignment=assignment, patient=patient)]
        answers = [a for a in answers if a is not None]
        return bool(answers) and all(answers)

    def tgp_status(self) -> tuple[str, bool]:
        """How TGP is answered here, in Swedish for driftsstatus, and whether that deserves a warning."""
        mode = self.env.tgp
        return tgp.describe(mode), mode in (None, tgp.ALL)

    def startup_problem(self) -> str | None:
        """What keeps this environment from starting (one line), or None."""
        return tgp.startup_problem(self.env, bool(self.pm.hook.patient_available.get_hookimpls()))

    async def patient_name(self, patient) -> str | None:
        for result in self.pm.hook.patient_details(core=self, patient=patient):
            details = await await_me_maybe(result)
            if details:
                return details.get("name")
        return None

    async def assignments_for(self, clinician) -> list:
        found = []
        for result in self.pm.hook.assignments_for(core=self, clinician=clinician):
            found.extend(await await_me_maybe(result) or [])
        return found

    def plugin_settings(self, plugin: str) -> dict[str, str]:
        """A plugin's settings in this environment; read each time, so changes apply without restart."""
        return self.registry.plugin_settings(self.env_name, plugin)

    def names(self):
        """The directory's care provider and care unit names, for headers that carry only HSA-ids."""
        return self.registry.care_provider_names(), self.registry.care_unit_names()

    # -- sessions --------------------------------------------------------------------
    def session_of(self, request: web.Request, *, touch: bool = True):
        """The request's session; the request is activity that keeps it alive unless `touch` is False."""
        return self.sessions.get(request.cookies.get(SESSION_COOKIE), touch=touch)

    def login(self, request: web.Request, response: web.StreamResponse, clinician, assignments, method: str):
        """End this browser's old session, start a new one (fresh id) and set its cookie on `response`."""
        self.sessions.end(request.cookies.get(SESSION_COOKIE))
        session = self.sessions.create(clinician, assignments, method)
        self.set_session_cookie(request, response, session)
        return session

    def set_session_cookie(self, request: web.Request, response: web.StreamResponse, session) -> None:
        """HttpOnly, SameSite=Strict, and Secure everywhere but plain-HTTP demo."""
        secure = request.secure or self.env_name != "demo"
        response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="Strict", secure=secure, path="/")

    def render(self, template: str, *, request: web.Request | None = None, status: int = 200, **context):
        """Render a plugin template (autoescaped: producer text is data, never markup)."""
        body = self._template_renderer(template, request, context)()
        return web.Response(text=body, status=status, content_type="text/html")

    async def render_in_worker(self, template: str, *, request: web.Request | None = None, status: int = 200,
                               **context):
        """The same for a page built from an overview: a heavy patient's page takes the loop too long."""
        body = await self.render_text(template, request=request, **context)
        return web.Response(text=body, status=status, content_type="text/html")

    async def render_text(self, template: str, *, request: web.Request | None = None, **context) -> str:
        """A template (or a part of a page streamed in parts) rendered in the worker."""
        return await self.off_loop(self._template_renderer(template, request, context))

    def _template_renderer(self, template: str, request: web.Request | None, context: dict):
        """The session is looked up here, on the loop; what is returned only renders."""
        session = None
        if request is not None:
            try:
                session = self.session_of(request)
            except NpoError:
                session = None
        return functools.partial(self.templates.get_template(template).render, core=self, session=session,
                                 request=request, **context)

    @functools.cached_property
    def templates(self) -> jinja2.Environment:
        """Templates from every plugin package's templates/ folder, in plugin order."""
        dirs = []
        for _, plugin in self.pm.list_name_plugin():
            folder = Path(getattr(plugin, "__file__", "") or ".").parent / "templates"
            if getattr(plugin, "__file__", None) and folder.is_dir() and folder not in dirs:
                dirs.append(folder)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), autoescape=True,
                                 undefined=jinja2.StrictUndefined)
        env.globals["label"] = self.labels.label  # every code a page shows goes through the one table
        return env

    @functools.cached_property
    def labels(self) -> Labels:
        """The Swedish names of codes: the core's, extended by each view's declarations."""
        return Labels(self.reg.views.values())

