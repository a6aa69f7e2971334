"""The running core: registry, plugins, guards, sessions, the SOAP client and the web app."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import inspect
import itertools
import logging
import math
import queue
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

import jinja2
from lxml import etree
from aiohttp import web

from . import soap
from .access import AccessService
from .contract import SWEDEN, Answer, Contract, Query, Record
from .decoding import decode_payload
from .engagement import EngagementIndex
from .errors import ContractError, NpoError, StartupError
from .identity import normalise_hsa_id
from .kept import KeptAnswers
from .plugins import collect, make_plugin_manager
from .registry import Registry, SourceSystem
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


class Monitor:
    """Operational status (driftsstatus): recent outcomes per source system and contract."""

    def __init__(self, keep: int = 200):
        self._events: dict[tuple[str, str], deque] = defaultdict(lambda: deque(maxlen=keep))
        self._last_problem: dict[tuple[str, str], dict] = {}
        self._owner_mismatches: dict[tuple[str, str], int] = defaultdict(int)

    def owner_mismatch(self, logical_address: str, contract: str, count: int) -> None:
        """Records a source sent under a care provider it is neither registered nor indexed for."""
        self._owner_mismatches[(logical_address, contract)] += count

    def record(self, status) -> None:
        self._events[(status.logical_address, status.contract)].append((time.time(), status.status, status.seconds))
        if status.status not in ("ok", "info"):  # what support needs: the producer's own codes
            self._last_problem[(status.logical_address, status.contract)] = {
                "time": dt.datetime.now(SWEDEN).isoformat(timespec="seconds"), "status": status.status,
                "message": status.message, "error_code": status.error_code, "log_id": status.log_id,
                "unread": status.unread}

    def summary(self) -> list[dict]:
        out = []
        for (address, contract), events in sorted(self._events.items()):
            ok = [e for e in events if e[1] in ("ok", "info")]
            latencies = sorted(e[2] for e in events if e[2] is not None)
            out.append({
                "logical_address": address, "contract": contract, "calls": len(events),
                "error_rate": round(1 - len(ok) / len(events), 3) if events else 0.0,
                "last_success": dt.datetime.fromtimestamp(max(e[0] for e in ok), SWEDEN).isoformat(timespec="seconds")
                if ok else None,
                "median_seconds": latencies[len(latencies) // 2] if latencies else None,
                "last_problem": self._last_problem.get((address, contract)),
                "owner_mismatches": self._owner_mismatches.get((address, contract), 0),
            })
        return out


class Core:
    """Everything a request needs, built once per process and handed to plugins explicitly."""

    def __init__(self, registry: Registry, env_name: str, pm=None, *, schema_bundle: Path | None = None,
                 emergency_hours: int = 4, session_idle: float = 30 * 60, session_absolute: float = 10 * 3600):
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
        self.index = EngagementIndex(self)
        self.monitor = Monitor()
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

    def block_type_of(self, record: Record) -> str | None:
        contract = self.contracts.get(record.contract)
        return contract.block_information_type if contract else None

    async def patient_available(self, assignment, patient) -> bool:
        """Tillgänglig patient: every plugin's answer counts; no answer at all means no (fail closed)."""
        answers = [await await_me_maybe(r) for r in
                   self.pm.hook.patient_available(core=self, assignment=assignment, patient=patient)]
        answers = [a for a in answers if a is not None]
        return bool(answers) and all(answers)

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

    # -- talking to producers --------------------------------------------------------
    async def call(self, env, contract: Contract, source: SourceSystem, address: str, query: Query,
                   request_id: str, budgets: tuple = ()) -> bytes:
        if not (source.endpoint or env.base_url):
            raise NpoError(f"Environment {env.name} has no service platform URL (npo env set {env.name} base_url ...).")
        url = source.endpoint or f"{env.base_url.rstrip('/')}/{contract.service_path}"
        return await soap.call(
            self.http, url, soap_action=contract.soap_action, logical_address=address,
            payload=contract.build_request(query), consumer_hsa_id=env.npo_hsa_id,
            timeouts=soap.Timeouts(env.connect_timeout, env.read_timeout), correlation_id=request_id,
            budgets=budgets)

    async def decode(self, env, names, contract: Contract, data: bytes, source: SourceSystem) -> Answer:
        """Parse, validate where the environment is strict, normalise: in the worker, off the loop."""
        strict = env.validate_responses

        def work(data: bytes) -> Answer:
            element, _ = soap.unwrap(soap.parse_xml(data))
            if element.tag != contract.q(f"{contract.name}Response"):
                raise ContractError(f"Svaret är inte ett {contract.name}-svar av version {contract.major} "
                                    f"({etree.QName(element).namespace}).", code="wrong_response")
            if strict:
                self.schemas.validate(contract, element)
            answer = decode_payload(contract, element)
            answer.records = [_named(r, source, names) for r in answer.records]
            return answer

        return await self.off_loop(work, data, rank=(1, self.page_rank.get(contract.id, 0), len(data)))

    def names(self):
        """The directory's care provider and care unit names, for headers that carry only HSA-ids."""
        return self.registry.care_provider_names(), self.registry.care_unit_names()

    # -- sessions --------------------------------------------------------------------
    def session_of(self, request: web.Request):
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

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
        return jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), autoescape=True,
                                  undefined=jinja2.StrictUndefined)


def _named(record: Record, source: SourceSystem, names) -> Record:
    """At the edge, once: owner ids in their canonical form (or marked unreadable), the address npo really
    called, and names the header does not carry, from the registry's directory."""
    providers, units = names
    sent = [v if v and v.strip() else None for v in (record.care_provider_id, record.care_unit_id)]
    provider_id, unit_id = (normalise_hsa_id(v) for v in sent)
    readable = all(v is None or n is not None for v, n in zip(sent, (provider_id, unit_id)))
    from dataclasses import replace
    return replace(
        record,
        care_provider_id=provider_id, care_unit_id=unit_id, owner_readable=readable,
        care_provider_name=record.care_provider_name or providers.get(provider_id or ""),
        care_unit_name=record.care_unit_name or units.get(unit_id or ""),
        # the source system id in the same canonical form where it is an HSA-id (a logical address may not be)
        source_system=normalise_hsa_id(record.source_system) or record.source_system or source.logical_address,
        source_address=source.logical_address,
    )
