"""Asking the producers for one read: the engagement index, one major per producer, follow-ups, caps, decoding.

A `FanOut` names everything it needs (the environment, the producers, the patient, the contracts, the request
id, the HTTP session, the worker, the schemas, the monitor, the limits), so nothing here reaches back into the
core. Nothing here decides access either: it returns what each source said, and `access.read` decides on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from array import array
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Callable

from lxml import etree

from . import engagement, soap
from .contract import SWEDEN, Answer, Contract, Query, Record
from .decoding import decode_payload
from .errors import ContractError, Forbidden, GuardUnavailable, NpoError
from .identity import PatientId, normalise_hsa_id
from .registry import Environment, SourceSystem
from .schemas import SchemaInvalid, SchemaSet

COMPLETE = ("ok", "info")
SCHEMA_ERRORS_KEPT = 5  # of a schema-invalid answer's problems, the first few: enough to find the cause
log = logging.getLogger("npo.fetch")


@dataclass
class SourceStatus:
    """What one producer did for one contract: shown to the clinician when they may know of it."""

    logical_address: str
    source_name: str
    care_provider_name: str
    contract: str
    status: str  # ok | info | warning | cut | error | timeout | invalid
    message: str | None = None
    seconds: float | None = None
    records: int = 0  # records shown from this source (not fetched: that could reveal blocked ones)
    care_provider_id: str | None = None
    unread: list[dict] = field(default_factory=list)  # [{"element", "reason", "count"}]
    error_code: str | None = None
    log_id: str | None = None
    covers: tuple[str, ...] = ()  # the contracts this status speaks for (an index failure covers several)
    owners: frozenset[str] = frozenset()  # care providers whose records it may carry (not sent)
    unsupported: bool = False  # the platform refused this major as not supported here (VP004, VP007)
    schema_errors: list[str] = field(default_factory=list)  # path and rule of each, for driftsstatus and the log

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("covers", "owners", "unsupported", "schema_errors")}
        out["complete"] = self.complete
        return out


@dataclass(frozen=True)
class Limits:
    """What one read may bring in: follow-ups per contract, and bytes and records per contract at one source
    (over its follow-ups), per source (over all its contracts) and per read."""

    follow_ups: int
    contract_bytes: int
    contract_records: int
    source_bytes: int
    source_records: int
    read_bytes: int
    read_records: int


class _Outcomes:
    """One source system and contract at driftsstatus: totals since start, the latest latencies, and calls and
    errors per minute in a ring of a day's minutes (fixed size, ~17 KB, however many calls there are)."""

    __slots__ = ("names", "calls", "errors", "last_success", "last_problem", "latencies", "stamps", "per_minute")

    def __init__(self, keep: int, minutes: int):
        self.names: tuple[str, str, str | None] = ("", "", None)  # source system, care provider, its HSA-id
        self.calls = self.errors = 0
        self.last_success: float | None = None
        self.last_problem: dict | None = None
        self.latencies: deque = deque(maxlen=keep)
        self.stamps = array("i", [-1]) * minutes  # the minute (since the epoch) each slot counts
        self.per_minute = (array("I", [0]) * minutes, array("I", [0]) * minutes)  # calls, errors

    def count(self, minute: int, failed: bool) -> None:
        slot = minute % len(self.stamps)
        calls, errors = self.per_minute
        if self.stamps[slot] != minute:  # a day old, or never used: start the minute afresh
            self.stamps[slot], calls[slot], errors[slot] = minute, 0, 0
        calls[slot] += 1
        errors[slot] += failed

    def window(self, minute: int, minutes: int) -> dict:
        """Calls and errors in the `minutes` up to and including `minute`."""
        first, calls, errors = minute - minutes, 0, 0
        for stamp, n, failed in zip(self.stamps, *self.per_minute):
            if first < stamp <= minute:
                calls, errors = calls + n, errors + failed
        return {"calls": calls, "errors": errors, "error_rate": _rate(errors, calls)}


def _rate(errors: int, calls: int) -> float | None:
    return round(errors / calls, 4) if calls else None


def _iso(moment: float | None) -> str | None:
    return dt.datetime.fromtimestamp(moment, SWEDEN).isoformat(timespec="seconds") if moment is not None else None


class Monitor:
    """Operational status (driftsstatus) per source system and contract: outcomes since start, and error rates
    over the last hour and day. The fan-out records every answer, so recording is a few O(1) steps; the
    clock is a parameter so that tests can say when each outcome happened."""

    DAY = 24 * 60  # minutes kept per source system and contract

    def __init__(self, keep: int = 200, clock: Callable[[], float] = time.time):
        self._keep, self._clock = keep, clock
        self._pairs: dict[tuple[str, str], _Outcomes] = {}
        self._owner_mismatches: dict[tuple[str, str], int] = defaultdict(int)

    def owner_mismatch(self, logical_address: str, contract: str, count: int) -> None:
        """Records a source sent under a care provider it is neither registered nor indexed for."""
        self._owner_mismatches[(logical_address, contract)] += count

    def record(self, status: SourceStatus) -> None:
        now = self._clock()
        key = (status.logical_address, status.contract)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = _Outcomes(self._keep, self.DAY)
        pair.names = (status.source_name, status.care_provider_name, status.care_provider_id)
        pair.calls += 1
        if status.seconds is not None:
            pair.latencies.append(status.seconds)
        failed = status.status not in COMPLETE
        pair.count(int(now // 60), failed)
        if not failed:
            pair.last_success = now
            return
        pair.errors += 1
        pair.last_problem = {  # what support needs: the producer's own codes
            "time": now, "status": status.status, "message": status.message, "error_code": status.error_code,
            "log_id": status.log_id, "unread": status.unread, "schema_errors": status.schema_errors}

    def summary(self, now: float | None = None) -> list[dict]:
        """Per source system and contract, named as the registry names them (else by id); times in ISO 8601."""
        minute = int((self._clock() if now is None else now) // 60)
        out = []
        for (address, contract), pair in sorted(self._pairs.items()):
            source_name, provider_name, provider_id = pair.names
            latencies = sorted(pair.latencies)
            problem = pair.last_problem
            out.append({
                "logical_address": address, "source_name": source_name or address,
                "care_provider_id": provider_id, "care_provider_name": provider_name or provider_id or "",
                "contract": contract, "calls": pair.calls, "errors": pair.errors,
                "error_rate": _rate(pair.errors, pair.calls) or 0.0,
                "last_hour": pair.window(minute, 60), "last_day": pair.window(minute, self.DAY),
                "last_success": _iso(pair.last_success),
                "median_seconds": latencies[len(latencies) // 2] if latencies else None,
                "last_problem": {**problem, "time": _iso(problem["time"])} if problem else None,
                "owner_mismatches": self._owner_mismatches.get((address, contract), 0),
            })
        return out


Results = list[tuple[SourceStatus, list[Record]]]


@dataclass(frozen=True)
class FanOut:
    """One read's questions to the producers; `await fan_out()` gives (status, records) per source and contract
    family, and per engagement-index failure."""

    env: Environment  # read once for the read
    producers: dict[str, list[SourceSystem]]  # by contract id (Registry.sources_by_contract)
    patient: PatientId
    contracts: list[Contract]
    request_id: str
    http: object  # the one aiohttp ClientSession
    off_loop: Callable  # the core's worker: `await off_loop(fn, *args, rank=...)` runs CPU work off the event loop
    schemas: SchemaSet | None  # for environments that validate answers
    monitor: Monitor
    limits: Limits
    names: tuple[dict, dict] = ({}, {})  # the directory's care provider and care unit names, by HSA-id
    rank: dict = field(default_factory=dict)  # contract id -> its place on the overview: decode order

    async def __call__(self) -> Results:
        env, contracts = self.env, self.contracts
        deadline = env.total_deadline
        started = time.perf_counter()
        results: Results = []
        try:
            sources, failures, unknown = await asyncio.wait_for(self._lookup(), timeout=deadline)
        except asyncio.TimeoutError:
            sources, unknown = {}, []
            failures = [(d, "Engagemangsindex svarade inte i tid.")
                        for d in sorted({c.service_domain for c in contracts})]
        for domain, message in failures:  # without an index answer those producers are unknown: say so
            covered = tuple(c.id for c in contracts if domain.endswith(c.service_domain))
            results.append((SourceStatus(env.engagement_index or "", "Engagemangsindex", "", domain, "error",
                                         message, covers=covered), []))
        for contract_id, e in unknown:  # listed by the index, unknown to the registry: not asked, and said so
            controller = normalise_hsa_id(e.data_controller)  # decides who may know of it: never taken raw
            results.append((SourceStatus(
                e.logical_address, e.source_system or e.logical_address, "", contract_id, "error",
                "Källan finns i engagemangsindex men är inte registrerad i npo och tillfrågades inte.",
                care_provider_id=controller, covers=(contract_id,),
                owners=frozenset([controller or "?"])), []))  # an unreadable controller: another provider's
        # One major per producer: the newest a source is registered (or indexed) for, an older one only where
        # the newest is refused as not supported. Asking every major fetched the same records twice.
        families: dict[tuple[str, str], list[tuple[Contract, SourceSystem]]] = {}
        for contract in sorted(contracts, key=lambda c: c.major, reverse=True):
            for source in sources.get(contract.id, []):
                families.setdefault((contract.name, source.logical_address), []).append((contract, source))
        jobs = list(families.values())
        lim = self.limits
        read_budget = _Budget(lim.read_bytes, lim.read_records, "läsningen")
        source_budgets = {s.logical_address: _Budget(lim.source_bytes, lim.source_records, "källan")
                          for job in jobs for _, s in job}
        tasks = [asyncio.ensure_future(self._newest(job, (source_budgets[job[0][1].logical_address], read_budget)))
                 for job in jobs]
        if not tasks:
            return results
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - (time.perf_counter() - started)))
        for t in pending:
            t.cancel()
        for job, task in zip(jobs, tasks):
            if task in done:
                results.append(task.result())
            else:
                contract, source = job[0]
                results.append((_status(source, contract, "timeout", "Svaret kom inte inom den totala tidsgränsen.",
                                        seconds=deadline, covers=tuple(c.id for c, _ in job)), []))
        return results

    # -- finding producers ----------------------------------------------------------------------------
    async def _lookup(self) -> tuple[dict, list, list]:
        """({contract id: [SourceSystem]}, [(service domain, error message)], [(contract id, Engagement)]).

        The engagement index (FindContent 1.0, one call per service domain, in parallel) or the registry's own
        index. Only source systems in the registry are called, whatever an index says; the third list holds
        what the index lists but the registry does not know for the contract, so the read says so instead of
        leaving their records silently out."""
        env, patient = self.env, self.patient
        registered = {c.id: {s.logical_address: s for s in self.producers.get(c.id, [])} for c in self.contracts}
        if not env.engagement_index:  # the registry's own index: every registered producer of the contract
            return {cid: list(sources.values()) for cid, sources in registered.items()}, [], []
        domains = sorted({engagement.domain_uri(c) for c in self.contracts})
        answers = await asyncio.gather(*(self._find(d) for d in domains), return_exceptions=True)
        found: dict[str, list[engagement.Engagement]] = {}
        failures = []
        for domain, answer in zip(domains, answers):
            if isinstance(answer, ContractError):
                failures.append((domain, answer.message))
                continue
            if isinstance(answer, BaseException):
                raise answer
            found[domain] = [e for e in answer if e.patient_id == patient.id]
        result, unknown = {}, []
        for contract in self.contracts:
            hits = [e for e in found.get(engagement.domain_uri(contract), [])
                    if e.categorization in contract.categorizations]
            controllers: dict[str, set[str]] = {}
            for e in hits:
                controllers.setdefault(e.logical_address, set()).update(
                    c for c in (normalise_hsa_id(e.data_controller),) if c)
            known = registered[contract.id]
            result[contract.id] = [replace(known[a], data_controllers=tuple(sorted(cs)))
                                   for a, cs in controllers.items() if a in known]
            unknown.extend((contract.id, e) for e in {e.logical_address: e for e in hits}.values()
                           if e.logical_address not in known)
        return result, failures, unknown

    async def _find(self, domain: str) -> list[engagement.Engagement]:
        env = self.env
        if not env.base_url:
            raise ContractError("Miljön saknar adress till tjänsteplattformen.", code="no_platform")
        data = await soap.call(self.http, f"{env.base_url.rstrip('/')}/{engagement.SERVICE_PATH}",
                               soap_action=engagement.SOAP_ACTION, logical_address=env.engagement_index,
                               payload=engagement.find_content_request(self.patient, domain),
                               consumer_hsa_id=env.npo_hsa_id,
                               timeouts=soap.Timeouts(env.connect_timeout, env.read_timeout),
                               correlation_id=self.request_id)
        return engagement.parse_find_content_response(soap.unwrap(soap.parse_xml(data))[0])

    # -- asking one producer --------------------------------------------------------------------------
    async def _newest(self, job: list[tuple[Contract, SourceSystem]], shared: tuple["_Budget", ...]):
        """One contract family at one source: its newest major, then older ones while each is refused as not
        supported. The status speaks for every major of the family there, and says which one answered."""
        refused = []
        for contract, source in job:
            status, records = await self._one(contract, source, shared)
            if not status.unsupported or (contract, source) == job[-1]:
                break
            refused.append(contract)
        status.covers = tuple(c.id for c, _ in job)
        if refused:
            majors = ", ".join(str(c.major) for c in refused)
            said = (f"Källan stöder inte {contract.name} version {majors}; informationen hämtades med version "
                    f"{contract.major}." if not status.unsupported
                    else f"Källan stöder ingen av versionerna {majors}, {contract.major} av {contract.name}.")
            status.message = f"{said} {status.message}" if status.message else said
        return status, records

    async def _one(self, contract: Contract, source: SourceSystem, shared: tuple["_Budget", ...]):
        """One contract at one source, over its follow-ups; `shared`: the budgets of the source over all
        its contracts and of the whole read, which this answer counts against too."""
        status = _status(source, contract, "ok")
        started = time.perf_counter()
        records: list[Record] = []
        query = Query(patient=self.patient)
        lim = self.limits
        budgets = (_Budget(lim.contract_bytes, lim.contract_records, "kontraktet hos källan"), *shared)
        unread: Counter = Counter()
        try:
            for _ in range(lim.follow_ups + 1):
                data = await self._call(contract, source, query, budgets=tuple(b.bytes for b in budgets))
                answer = await self._decode(contract, data, source)
                for u in answer.unread:
                    unread[(u["element"], u["reason"])] += u["count"]
                status.error_code = answer.error_code or status.error_code
                status.log_id = answer.log_id or status.log_id
                if answer.result_code not in ("OK", "INFO"):  # ERROR, or a code no contract has
                    status.status = "error"
                    status.message = answer.message or f"Producenten svarade {answer.result_code}."
                    records = []
                    break
                kept = min(len(answer.records), *(b.records_left() for b in budgets))
                records.extend(answer.records[:kept])
                for b in budgets:
                    b.count(kept)
                if kept < len(answer.records):
                    spent = next(b for b in budgets if not b.records_left())
                    status.status = "cut"
                    status.message = (f"npo visar de första {len(records)} posterna från källan; "
                                      f"gränsen för {spent.what} nåddes.")
                    break
                if answer.result_code == "INFO":
                    status.status, status.message = "info", answer.message
                if not answer.has_more:
                    break
                next_address, ref = answer.has_more[0]
                if next_address != source.logical_address:  # follow-ups only where the source itself answers
                    status.status = "cut"
                    status.message = (f"Producenten hänvisade till en annan adress ({next_address[:64]}); "
                                      "npo följer den inte och resten av informationen saknas.")
                    break
                query = replace(query, has_more_reference=ref)  # the first call's filters, as the TKB says
            else:
                status.status = "cut"
                status.message = f"Producenten har mer information än npo hämtar ({lim.follow_ups} uppföljningar)."
        except ContractError as e:
            if e.code == "cut":  # a byte cap: what came before it is kept, and the rest is said to be missing
                status.status, status.message = "cut", e.message
            else:
                status.unsupported = e.code == "unsupported"
                status.status = {"timeout": "timeout", "schema_invalid": "invalid"}.get(e.code, "error")
                status.message = e.message
                if isinstance(e, SchemaInvalid):  # the clinician reads a sentence; support gets the paths
                    status.message = f"Svaret från {status.source_name} följde inte kontraktet och visas inte."
                    status.schema_errors = [str(issue) for issue in e.issues[:SCHEMA_ERRORS_KEPT]]
                    log.warning("answer from %s for %s refused by the schema: %s", source.logical_address,
                                status.contract, "; ".join(status.schema_errors))
                records = []
        except (GuardUnavailable, Forbidden):
            raise
        except Exception as e:  # a plugin bug must not sink the whole overview
            status.status, status.message = "error", f"Svaret kunde inte tolkas ({type(e).__name__})."
            records = []
        status.unread = [{"element": el, "reason": reason, "count": n} for (el, reason), n in unread.items()]
        if status.unread and status.status in COMPLETE:
            n = sum(unread.values())
            status.status = "warning"
            status.message = f"{n} element i svaret kunde inte läsas och visas inte."
        status.seconds = round(time.perf_counter() - started, 4)
        status.records = len(records)
        self.monitor.record(status)
        return status, records

    async def _call(self, contract: Contract, source: SourceSystem, query: Query, budgets: tuple = ()) -> bytes:
        env = self.env
        if not (source.endpoint or env.base_url):
            raise NpoError(f"Environment {env.name} has no service platform URL (npo env set {env.name} base_url ...).")
        url = source.endpoint or f"{env.base_url.rstrip('/')}/{contract.service_path}"
        return await soap.call(
            self.http, url, soap_action=contract.soap_action, logical_address=source.logical_address,
            payload=contract.build_request(query), consumer_hsa_id=env.npo_hsa_id,
            timeouts=soap.Timeouts(env.connect_timeout, env.read_timeout), correlation_id=self.request_id,
            budgets=budgets)

    async def _decode(self, contract: Contract, data: bytes, source: SourceSystem) -> Answer:
        """Parse, validate where the environment is strict, normalise: in the worker, off the loop, the sets the
        clinician reads first before the others."""
        strict, names = self.env.validate_responses, self.names

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

        return await self.off_loop(work, data, rank=(1, self.rank.get(contract.id, 0), len(data)))


class _Budget:
    """Bytes and records one source or one read may still bring in."""

    def __init__(self, max_bytes: int, max_records: int, what: str):
        self.what = what
        self.bytes = soap.ByteBudget(max_bytes, f"Svaren översteg npo:s gräns för {what} ({max_bytes // 2**20} "
                                                "MiB); resten av informationen saknas.")
        self._records = max_records

    def records_left(self) -> int:
        return max(0, self._records)

    def count(self, n: int) -> None:
        self._records -= n


def _status(source: SourceSystem, contract: Contract, status: str, message: str | None = None,
            seconds: float | None = None, covers: tuple[str, ...] | None = None) -> SourceStatus:
    return SourceStatus(source.logical_address, source.name, source.care_provider_name, contract.id, status,
                        message, seconds, care_provider_id=source.care_provider_id, covers=covers or (contract.id,),
                        owners=source.owners)


def _named(record: Record, source: SourceSystem, names: tuple[dict, dict]) -> Record:
    """At the edge, once: owner ids in their canonical form (or marked unreadable), the address npo really
    called, and names: the registry's directory first (a producer does not rename a unit the operator named),
    else the org-unit names the answer carries; a page shows the bare id only when neither has one."""
    providers, units = names
    sent = [v if v and v.strip() else None for v in (record.care_provider_id, record.care_unit_id)]
    provider_id, unit_id = (normalise_hsa_id(v) for v in sent)
    readable = all(v is None or n is not None for v, n in zip(sent, (provider_id, unit_id)))
    return record.changed(
        care_provider_id=provider_id, care_unit_id=unit_id, owner_readable=readable,
        care_provider_name=providers.get(provider_id or "") or record.care_provider_name,
        care_unit_name=units.get(unit_id or "") or record.care_unit_name,
        # the source system id in the same canonical form where it is an HSA-id (a logical address may not be)
        source_system=normalise_hsa_id(record.source_system) or record.source_system or source.logical_address,
        source_address=source.logical_address,
    )
