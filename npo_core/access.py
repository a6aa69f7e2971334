"""The one access path: guards → fetch → guards again → decide per record → log durably → return.

Views and API handlers get records only from here. Nothing is returned before the
access-log entries for it are committed; if a guard cannot be consulted, nothing
protected is returned at all. Every call names its patient, and a read is decided and
logged under the clinician, assignment and patient it started with, whatever the same
session does meanwhile in another tab.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace

from . import pdl
from .contract import SWEDEN, Contract, Query, Record
from .errors import BadRequest, ContractError, Forbidden, GuardsChanged, GuardUnavailable, NpoError
from .guards import GuardSnapshot, LogEntry, now
from .identity import PatientId, normalise_hsa_id, parse_patient_id
from .registry import SourceSystem
from .sessions import Assignment, Clinician, PatientContext, Session
from .soap import ByteBudget

MAX_FOLLOW_UPS = 10  # hasMore chains are bounded: a producer cannot keep us forever
# What one source may bring in for one contract (over its follow-ups) and over all contracts, and what
# one read may. Linda, the heaviest demo patient: 70 MiB, ~24,000 records in all, 40 MiB and 14,500 of
# them at TakeCare. A read peaks at about five times its bytes in memory (bench/memory.py --hostile).
MAX_CONTRACT_BYTES = 32 * 1024 * 1024
MAX_CONTRACT_RECORDS = 20_000
MAX_SOURCE_BYTES = 64 * 1024 * 1024
MAX_SOURCE_RECORDS = 40_000
MAX_READ_BYTES = 128 * 1024 * 1024
MAX_READ_RECORDS = 100_000
DECIDE_ATTEMPTS = 3  # guards changing under a read: decide again, then give up (fail closed)
COMPLETE = ("ok", "info")
BLOCKED_WHERE = ("care_provider_id", "care_provider_name", "care_unit_id", "care_unit_name")  # where blocks hide


class PatientNotOpen(NpoError):
    status = 409
    code = "patient_not_open"


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

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("covers", "owners", "unsupported")}
        out["complete"] = self.complete
        return out


@dataclass(frozen=True)
class SetStatus:
    complete: bool
    incomplete: list[SourceStatus]


@dataclass
class ReadResult:
    patient: PatientId
    records: list[Record]
    withheld: dict[str, int]
    sources: list[SourceStatus]  # those the clinician may know of; the rest are counted in hidden_sources
    not_enabled: list[str]
    blocked_where: list[dict] = field(default_factory=list)
    emergency: bool = False
    request_id: str = ""
    patient_name: str | None = None
    fetched_at: dt.datetime | None = None  # when the producers were asked
    kept: bool = False  # the answers were those of an earlier page of this look at the patient
    complete: bool = True
    hidden_sources: dict | None = None  # {"count", "failed"}: other providers' sources, before a basis
    consent: dict | None = None
    opened: list[dict] = field(default_factory=list)
    opened_ids: set[int] = field(default_factory=set)  # id() of records shown through an opened block
    contract_sets: dict = field(default_factory=dict)  # view slug -> contract ids of that set

    @property
    def incomplete(self) -> list[SourceStatus]:
        return [s for s in self.sources if not s.complete]

    @classmethod
    def merged(cls, parts: list["ReadResult"]) -> "ReadResult":
        """What reads of one patient's information sets, each decided and logged on its own (an overview
        streamed set by set), say together."""
        first = parts[0]
        withheld: Counter[str] = Counter()
        where: Counter[tuple] = Counter()
        hidden: Counter[str] = Counter()
        for p in parts:
            withheld.update(p.withheld)
            where.update({tuple(b[k] for k in BLOCKED_WHERE): b["count"] for b in p.blocked_where})
            hidden.update(p.hidden_sources or {})
        return replace(
            first, records=[r for p in parts for r in p.records], withheld=dict(withheld),
            sources=[s for p in parts for s in p.sources],
            not_enabled=sorted({t for p in parts for t in p.not_enabled}),
            blocked_where=[dict(zip(BLOCKED_WHERE, k), count=n) for k, n in sorted(where.items(), key=str)],
            emergency=any(p.emergency for p in parts), fetched_at=min(p.fetched_at for p in parts),
            kept=all(p.kept for p in parts), complete=all(p.complete for p in parts),
            hidden_sources=dict(hidden) or None, opened_ids=set().union(*(p.opened_ids for p in parts)))

    def set_status(self, view) -> SetStatus:
        failing = self._failing(view.slug)
        return SetStatus(not failing, failing)

    def _failing(self, slug: str) -> list[SourceStatus]:
        """The visible sources that left this information set incomplete."""
        contracts = self.contract_sets.get(slug, set())
        return [s for s in self.incomplete if set(s.covers) & contracts]

    def opened_block(self, record: Record) -> bool:
        return id(record) in self.opened_ids

    def to_json(self) -> dict:
        return {
            "patient": self.patient.id, "patient_name": self.patient_name, "request_id": self.request_id,
            "emergency": self.emergency,
            "fetched_at": self.fetched_at.isoformat(timespec="seconds") if self.fetched_at else None,
            "kept": self.kept,
            "complete": self.complete,
            "incomplete": [s.to_json() for s in self.incomplete],
            "sets": {slug: {"complete": not failing, "incomplete": [s.logical_address for s in failing]}
                     for slug, failing in ((slug, self._failing(slug)) for slug in self.contract_sets)},
            "records": [{**r.to_json(), "opened_block": id(r) in self.opened_ids} for r in self.records],
            "withheld": [{"reason": k, "count": v, "text": pdl.REASON_TEXT.get(k, k)} for k, v in self.withheld.items()],
            "blocked_where": self.blocked_where,
            "sources": [s.to_json() for s in self.sources],
            "hidden_sources": self.hidden_sources,
            "not_enabled": self.not_enabled,
            "consent": self.consent,
            "opened": self.opened,
        }


@dataclass(frozen=True)
class Actor:
    """Who acts, fixed when a request starts: a later assignment change does not reach back into it."""

    clinician: Clinician
    assignment: Assignment


class AccessService:
    def __init__(self, core):
        self.core = core

    # -- who and which patient -------------------------------------------------
    def _actor(self, session: Session) -> Actor:
        if session.assignment is None:
            raise Forbidden("Välj ett medarbetaruppdrag först.", code="no_assignment")
        return Actor(session.clinician, session.assignment)

    def _entry(self, actor: Actor, patient: PatientId | None, request_id: str, action: str, *,
               activity: str = "Läsa", **kw) -> LogEntry:
        a = actor.assignment
        return LogEntry(request_id=request_id, user_id=actor.clinician.hsa_id, assignment_id=a.id,
                        assignment_name=a.name, user_care_unit_id=a.care_unit_id,
                        user_care_provider_id=a.care_provider_id, patient_id=patient.id if patient else None,
                        activity=activity, action=action, **kw)

    async def open_patient(self, session: Session, raw_patient_id: str) -> PatientContext:
        """Validate the id, ask TGP, log the search, and open the patient in the session."""
        actor = self._actor(session)
        patient = parse_patient_id(raw_patient_id)
        available = await self.core.patient_available(actor.assignment, patient)
        await self.core.guards.append([self._entry(actor, patient, str(uuid.uuid4()), "search",
                                                   detail={"tgp": available})])
        if not available:
            raise Forbidden("Patienten är inte tillgänglig för din vårdenhet enligt Tillgänglig patient (TGP).",
                            code="tgp_refused")
        if session.assignment != actor.assignment:  # another tab chose another assignment meanwhile
            raise Forbidden("Medarbetaruppdraget byttes medan patienten öppnades. Sök patienten igen.",
                            code="assignment_changed")
        existing = session.patients.get(patient.id)
        self.core.kept.drop(session.id, patient.id)  # a search is a new look: its first page asks the producers
        return session.open_patient(existing or PatientContext(patient, name=await self.core.patient_name(patient)))

    def context(self, session: Session, raw_patient_id) -> PatientContext:
        """The open patient a request names; never another one."""
        if raw_patient_id is None or (isinstance(raw_patient_id, str) and not raw_patient_id.strip()):
            raise BadRequest("Ange vilken patient åtgärden gäller (patient_id).", code="patient_required")
        if not isinstance(raw_patient_id, str):
            raise BadRequest("patient_id ska vara en text.", code="patient_required")
        patient = parse_patient_id(raw_patient_id)
        ctx = session.patients.get(patient.id)
        if ctx is None:
            raise PatientNotOpen("Patienten är inte öppen i den här sessionen. Sök patienten igen.")
        return ctx

    async def attest_relation(self, session: Session, patient_id: str) -> None:
        actor, ctx = self._actor(session), self.context(session, patient_id)
        await self.core.guards.append([self._entry(actor, ctx.patient, str(uuid.uuid4()), "attest_relation")])
        ctx.relation_attested = True

    async def register_consent(self, session: Session, patient_id: str, *, emergency: bool, whole_unit: bool,
                               days: int | None, reason: str | None = None,
                               represented_by: str | None = None) -> tuple[str, bool]:
        """Consent (samtycke) or emergency access (nödöppning), stored and logged in one commit.

        A valid one of the same kind that already covers this clinician is reused: (its id, True)."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        a = actor.assignment
        if emergency and not (reason or "").strip():
            raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
        if days is not None and not 1 <= days <= 365:
            raise BadRequest("Giltighetstiden ska vara 1–365 dagar.", code="bad_duration")
        kind = "Emergency" if emergency else "Consent"
        start = now()
        existing = [c for c in self.core.guards.consents_for(ctx.patient.id, a.care_provider_id)
                    if c.assertion_type == kind and c.valid_for(a, actor.clinician.hsa_id, ctx.patient.id, start)
                    and (c.employee_id is None or not whole_unit or emergency)]
        if existing:
            return existing[-1].id, True
        end = start + dt.timedelta(days=days) if days else None
        if emergency and end is None:
            end = start + dt.timedelta(hours=self.core.emergency_hours)
        cid, sql = self.core.guards.consent_insert_sql(
            assertion_type=kind, patient_id=ctx.patient.id,
            care_provider_id=a.care_provider_id, care_unit_id=a.care_unit_id,
            employee_id=None if (whole_unit and not emergency) else actor.clinician.hsa_id,
            start=start, end=end, registered_by=actor.clinician.hsa_id, assignment_id=a.id,
            represented_by=represented_by, reason=reason)
        entry = self._entry(actor, ctx.patient, str(uuid.uuid4()), "emergency" if emergency else "register_consent",
                            activity="Nödöppning" if emergency else "Skriva",
                            detail={"consent_id": cid, "whole_unit": whole_unit, "end": end.isoformat() if end else None,
                                    "reason": reason, "represented_by": represented_by})
        await self.core.guards.append([entry], [sql])
        return cid, False

    async def consents(self, session: Session, patient_id: str) -> list[dict]:
        """The patient's consents at the clinician's care provider: a read of patient data, so logged."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        rows = [c for c in self.core.guards.consent_rows(ctx.patient.id)
                if c["care_provider_id"] == actor.assignment.care_provider_id]
        await self.core.guards.append([self._entry(actor, ctx.patient, str(uuid.uuid4()), "list_consents",
                                                   record_count=len(rows))])
        return rows

    async def end_consent(self, session: Session, patient_id: str, consent_id: str, how: str) -> None:
        """Cancel or annul a consent registered at the clinician's own care provider."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        mine = [c for c in self.core.guards.consent_rows(ctx.patient.id)
                if c["id"] == consent_id and c["care_provider_id"] == actor.assignment.care_provider_id]
        if not mine:
            raise Forbidden("Samtycket finns inte hos din vårdgivare.", code="not_your_consent")
        sql = self.core.guards.consent_end_sql(consent_id, how, actor.clinician.hsa_id)
        await self.core.guards.append([self._entry(actor, ctx.patient, str(uuid.uuid4()), f"{how}_consent",
                                                   activity="Skriva", detail={"consent_id": consent_id})], [sql])

    async def reveal_blocked(self, session: Session, patient_id: str, basis: str, reason: str | None = None) -> None:
        """Active choice one: show where blocked information is (never its content)."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        basis = _block_basis(basis, reason)
        if basis == "PatientsConsent" and not self._has_consent(actor, ctx.patient):
            raise Forbidden("Registrera patientens samtycke först; steg 1 med samtycke kräver ett registrerat "
                            "samtycke.", code="consent_required")
        await self.core.guards.append([self._entry(
            actor, ctx.patient, str(uuid.uuid4()), "reveal_blocked",
            activity="Nödöppning" if basis == "Emergency" else "Läsa", detail={"basis": basis, "reason": reason})])
        ctx.reveal_blocked = True

    def _has_consent(self, actor: Actor, patient: PatientId) -> bool:
        a, moment = actor.assignment, now()
        return any(c.assertion_type == "Consent" and c.valid_for(a, actor.clinician.hsa_id, patient.id, moment)
                   for c in self.core.guards.consents_for(patient.id, a.care_provider_id))

    async def open_blocked(self, session: Session, patient_id: str, care_provider_id: str,
                           care_unit_id: str | None, basis: str, reason: str | None = None,
                           days: float = 1) -> list[str]:
        """Active choice two: lift the blocks at one place for this clinician (temporary revoke, at most 7 days).

        With basis Emergency and no valid consent, an emergency assertion is registered in the same commit,
        since the information belongs to another care provider.
        """
        actor, ctx = self._actor(session), self.context(session, patient_id)
        a = actor.assignment
        basis = _block_basis(basis, reason)
        if not ctx.reveal_blocked:
            raise BadRequest("Visa först var spärrad information finns.", code="reveal_first")
        blocks = [b for b in self.core.guards.blocks_for(ctx.patient.id)
                  if (b.block_type == "Outer" and b.care_provider_id == care_provider_id)
                  or (b.block_type == "Inner" and care_unit_id and b.care_unit_id == care_unit_id)]
        if not blocks:
            raise BadRequest("Det finns ingen spärr där.", code="no_block")
        sql = []
        for b in blocks:
            _, statement = self.core.guards.revoke_insert_sql(
                block_id=b.id, care_unit_id=a.care_unit_id, employee_id=actor.clinician.hsa_id, reason=basis,
                reason_text=reason, days=days, registered_by=actor.clinician.hsa_id)
            sql.append(statement)
        moment = now()
        if basis == "Emergency" and care_provider_id != a.care_provider_id and self._valid_consent(
                actor, ctx, self.core.guards.consents_for(ctx.patient.id, a.care_provider_id), moment) is None:
            _, statement = self.core.guards.consent_insert_sql(
                assertion_type="Emergency", patient_id=ctx.patient.id, care_provider_id=a.care_provider_id,
                care_unit_id=a.care_unit_id, employee_id=actor.clinician.hsa_id, start=moment,
                end=moment + dt.timedelta(hours=self.core.emergency_hours), registered_by=actor.clinician.hsa_id,
                assignment_id=a.id, reason=reason)
            sql.append(statement)
        await self.core.guards.append([self._entry(
            actor, ctx.patient, str(uuid.uuid4()), "open_blocked",
            activity="Nödöppning" if basis == "Emergency" else "Skriva",
            resource_care_provider_id=care_provider_id, resource_care_unit_id=care_unit_id,
            detail={"basis": basis, "reason": reason, "blocks": [b.id for b in blocks], "days": days})], sql)
        return [b.id for b in blocks]

    # -- reading -----------------------------------------------------------------
    async def read(self, session: Session, patient_id: str, categorizations: set[str] | None = None, *,
                   fresh: bool = False) -> ReadResult:
        """Decided and logged now, on the answers of this look at the patient: kept from an earlier page of
        the same session and patient when there are any (`fresh`: ask the producers again)."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        patient = ctx.patient
        request_id = str(uuid.uuid4())
        self._snapshot(actor, patient)  # first: if the guards cannot be read, nothing is fetched or shown

        contracts, not_enabled = self.core.contracts_in_use(categorizations)
        ids = frozenset(c.id for c in contracts)
        env = self.core.env  # read once per request: the registry is not asked again per producer
        producers = self.core.registry.sources_by_contract(env.name)
        # Kept answers serve only while the environment and its producers are what they were fetched under:
        # an operator's change (a producer removed, another index) applies at the next page, as it did.
        setup = (env, tuple(sorted((cid, tuple(sources)) for cid, sources in producers.items())))
        got, kept = await self.core.kept.fetch(
            session.id, ctx, ids, setup, env.keep_answers,
            lambda: self._fan_out(env, producers, patient, contracts, request_id), fresh=fresh)
        # Each page gets its own copies of the statuses (it sets their counts); the records are shared, immutable.
        fetched = [(replace(s), recs) for s, recs in got.results if set(s.covers) & ids]
        records = [r for _, recs in fetched for r in recs]
        owners = {id(r): s.owners for s, recs in fetched for r in recs}
        for _ in range(DECIDE_ATTEMPTS):
            # Again, after the producers answered: a consent ended or a block added meanwhile counts. The log
            # transaction checks the guards' epoch once more, so nothing can change between here and the commit.
            guards = self._snapshot(actor, patient)
            moment = now()
            consent = self._valid_consent(actor, ctx, guards.consents, moment)
            # Dedupe, decide and sort grow with the answers: the worker does them, not the event loop.
            shown, withheld, blocked_where, forged = await self.core.off_loop(
                self._decide, records, owners, actor, ctx, consent, guards.blocks, moment)
            try:
                await self.core.guards.append(self._read_entries(actor, patient, request_id, shown, withheld),
                                              decided_on=guards)
                break
            except GuardsChanged:
                continue
        else:
            raise GuardUnavailable("Samtycken eller spärrar för patienten ändras just nu. Försök igen om en stund.",
                                   code="guards_changing")
        if not kept:
            for (address, contract), n in forged.items():  # driftsstatus: a source writing owners it cannot carry
                self.core.monitor.owner_mismatch(address, contract, n)
        result = self._result(actor, ctx, request_id, fetched, shown, withheld, blocked_where, consent, guards,
                              not_enabled, moment)
        result.fetched_at, result.kept = got.fetched_at.astimezone(SWEDEN), kept
        return result

    def forget(self, session: Session, patient_id: str) -> None:
        """Fetch again: the next page of this patient asks the producers, not the answers kept so far."""
        self.core.kept.drop(session.id, self.context(session, patient_id).patient.id)

    def _snapshot(self, actor: Actor, patient: PatientId) -> GuardSnapshot:
        return self.core.guards.snapshot(patient.id, actor.assignment.care_provider_id)

    def _result(self, actor, ctx, request_id, fetched, shown, withheld, blocked_where, consent, guards,
                not_enabled, moment) -> ReadResult:
        # A source's count is what it showed: a count of blocked records would say where they are.
        shown_ids = {id(r) for r, _ in shown}
        for status, recs in fetched:
            status.records = sum(1 for r in recs if id(r) in shown_ids)
        known = [(s, self._may_know_of(s, actor, ctx, consent, guards.blocks, moment)) for s, _ in fetched]
        visible = [s for s, ok in known if ok]
        hidden = [s for s, ok in known if not ok]
        views = self.core.reg.views.values()
        return ReadResult(
            patient=ctx.patient, records=[r for r, _ in shown], withheld=dict(withheld), sources=visible,
            not_enabled=not_enabled,
            blocked_where=[dict(zip(BLOCKED_WHERE, k), count=n) for k, n in sorted(blocked_where.items(), key=str)]
            if ctx.reveal_blocked else [],
            emergency=any(d.emergency for _, d in shown), request_id=request_id, patient_name=ctx.name,
            complete=all(s.complete for s, _ in fetched),
            hidden_sources={"count": len(hidden), "failed": sum(1 for s in hidden if not s.complete)}
            if hidden else None,
            consent=self._consent_json(actor, consent),
            opened=self._opened(actor, guards, moment, _has_basis(actor, ctx, consent)),
            opened_ids={id(r) for r, d in shown if d.opened},
            contract_sets={v.slug: {c.id for c in self.core.contracts.values()
                                    if set(c.categorizations) & set(v.categorizations)} for v in views})

    @staticmethod
    def _may_know_of(status: SourceStatus, actor: Actor, ctx: PatientContext, consent, blocks, moment) -> bool:
        """Reveal by basis: before a basis for another care provider, its sources are only counted, since a
        source asked for a set says that this provider holds that set for the patient."""
        a = actor.assignment
        if not status.owners or a.care_provider_id in status.owners:
            return True  # the engagement index, or the clinician's own care provider
        if not _has_basis(actor, ctx, consent):
            return False
        if ctx.reveal_blocked:
            return True
        outer = {b.care_provider_id for b in blocks if b.block_type == "Outer"
                 and not any(r.care_unit_id == a.care_unit_id and r.employee_id in (None, actor.clinician.hsa_id)
                             and moment < r.end for r in b.revokes)}
        return not (status.owners & outer)  # a blocked provider's sources would say where blocked data is

    @staticmethod
    def _consent_json(actor: Actor, consent: pdl.Consent | None) -> dict | None:
        if consent is None:
            return None
        return {"id": consent.id, "kind": consent.assertion_type, "whole_unit": consent.employee_id is None,
                "registered_by": consent.registered_by,
                "registered_by_me": consent.registered_by == actor.clinician.hsa_id,
                "start": consent.start.isoformat(timespec="minutes"),
                "end": consent.end.isoformat(timespec="minutes") if consent.end else None,
                "can_end": consent.assertion_type == "Consent"}

    def _opened(self, actor: Actor, guards: GuardSnapshot, moment: dt.datetime, basis: bool) -> list[dict]:
        """Blocked information this clinician has opened and may still read; another provider's only with a
        basis for it, since the list says where blocked information is."""
        out = []
        providers, units = self.core.names() if guards.revokes else ({}, {})  # one registry read, when needed
        for r in guards.revokes:
            end = dt.datetime.fromisoformat(r["end"]) if r["end"] else None
            if r["care_unit_id"] != actor.assignment.care_unit_id or r["employee_id"] not in (
                    None, actor.clinician.hsa_id) or end is None or end <= moment:
                continue
            if r["block_care_provider_id"] != actor.assignment.care_provider_id and not basis:
                continue
            out.append({"care_provider_id": r["block_care_provider_id"],
                        "care_provider_name": providers.get(r["block_care_provider_id"] or ""),
                        "care_unit_id": r["block_care_unit_id"],
                        "care_unit_name": units.get(r["block_care_unit_id"] or ""),
                        "basis": r["reason"], "end": end.astimezone(SWEDEN).isoformat(timespec="minutes")})
        return out

    def _decide(self, records: list[Record], owners: dict[int, frozenset], actor: Actor, ctx: PatientContext,
                consent, blocks, moment):
        """The PDL decision for every record, newest first; what is withheld is counted, never returned."""
        shown: list[tuple[Record, pdl.Decision]] = []
        withheld: Counter[str] = Counter()
        blocked_where: Counter[tuple] = Counter()
        forged: Counter[tuple] = Counter()
        for record in _dedupe(records):
            decision = pdl.decide(record, assignment=actor.assignment, employee_id=actor.clinician.hsa_id,
                                  consent=consent, relation_attested=ctx.relation_attested, blocks=blocks,
                                  now=moment, block_type_of_record=self.core.block_type_of(record),
                                  patient_id=ctx.patient.id, source_owners=owners.get(id(record), frozenset()))
            if decision.shown:
                shown.append((record, decision))
            else:
                withheld[decision.reason] += 1
                if decision.reason == pdl.BLOCKED:
                    blocked_where[(record.care_provider_id, record.care_provider_name,
                                   record.care_unit_id, record.care_unit_name)] += 1
                elif decision.reason == pdl.OWNER_MISMATCH:
                    forged[(record.source_address, record.contract)] += 1
        shown.sort(key=lambda rd: (rd[0].time is None, rd[0].time), reverse=True)
        return shown, withheld, blocked_where, forged

    @staticmethod
    def _valid_consent(actor: Actor, ctx: PatientContext, consents, moment) -> pdl.Consent | None:
        a = actor.assignment
        valid = [c for c in consents if c.valid_for(a, actor.clinician.hsa_id, ctx.patient.id, moment)]
        # With an attested relation the patient's consent outranks an emergency assertion; without one,
        # only an emergency assertion can open anything. The latest wins among equals.
        preferred = "Consent" if ctx.relation_attested else "Emergency"
        valid.sort(key=lambda c: (c.assertion_type == preferred, c.start))
        return valid[-1] if valid else None

    def _read_entries(self, actor: Actor, patient: PatientId, request_id, shown, withheld) -> list[LogEntry]:
        """One entry per owner (care provider, care unit), contract and legal basis of what was shown."""
        a = actor.assignment
        groups: Counter[tuple] = Counter(
            (r.care_provider_id or a.care_provider_id,  # only own-unit records may lack it: the owner is known
             r.care_unit_id, r.contract, d.emergency) for r, d in shown)
        entries = [
            self._entry(actor, patient, request_id, "read", activity="Nödöppning" if emergency else "Läsa",
                        resource_care_provider_id=provider, resource_care_unit_id=unit, contract=contract,
                        record_count=count)
            for (provider, unit, contract, emergency), count in sorted(groups.items(),
                                                                       key=lambda kv: tuple(map(str, kv[0])))
        ]
        if not entries:  # the attempt itself is a read of the patient's overview
            entries.append(self._entry(actor, patient, request_id, "read", detail={"withheld": dict(withheld)}))
        return entries

    async def _fan_out(self, env, producers: dict, patient: PatientId, contracts: list[Contract], request_id: str):
        names = self.core.names()
        deadline = env.total_deadline
        started = time.perf_counter()
        results = []
        try:
            sources, failures, unknown = await asyncio.wait_for(
                self.core.index.lookup(env, producers, patient, contracts, request_id), timeout=deadline)
        except asyncio.TimeoutError:
            sources, unknown = {}, []
            failures = [(d, "Engagemangsindex svarade inte i tid.") for d in sorted({c.service_domain for c in contracts})]
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
        read_budget = _Budget(MAX_READ_BYTES, MAX_READ_RECORDS, "läsningen")
        source_budgets = {s.logical_address: _Budget(MAX_SOURCE_BYTES, MAX_SOURCE_RECORDS, "källan")
                          for job in jobs for _, s in job}
        tasks = [asyncio.ensure_future(self._fetch_newest(env, names, job, patient, request_id,
                                                          (source_budgets[job[0][1].logical_address], read_budget)))
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

    async def _fetch_newest(self, env, names, job: list[tuple[Contract, SourceSystem]], patient: PatientId,
                            request_id: str, shared: tuple["_Budget", ...]):
        """One contract family at one source: its newest major, then older ones while each is refused as not
        supported. The status speaks for every major of the family there, and says which one answered."""
        refused = []
        for contract, source in job:
            status, records = await self._fetch_one(env, names, contract, source, patient, request_id, shared)
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

    async def _fetch_one(self, env, names, contract: Contract, source: SourceSystem, patient: PatientId,
                         request_id: str, shared: tuple["_Budget", ...]):
        """One contract at one source, over its follow-ups; `shared`: the budgets of the source over all
        its contracts and of the whole read, which this answer counts against too."""
        status = _status(source, contract, "ok")
        started = time.perf_counter()
        records: list[Record] = []
        query = Query(patient=patient)
        address = source.logical_address
        budgets = (_Budget(MAX_CONTRACT_BYTES, MAX_CONTRACT_RECORDS, "kontraktet hos källan"), *shared)
        unread: Counter = Counter()
        try:
            for _ in range(MAX_FOLLOW_UPS + 1):
                data = await self.core.call(env, contract, source, address, query, request_id,
                                            budgets=tuple(b.bytes for b in budgets))
                answer = await self.core.decode(env, names, contract, data, source)
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
                status.message = f"Producenten har mer information än npo hämtar ({MAX_FOLLOW_UPS} uppföljningar)."
        except ContractError as e:
            if e.code == "cut":  # a byte cap: what came before it is kept, and the rest is said to be missing
                status.status, status.message = "cut", e.message
            else:
                status.unsupported = e.code == "unsupported"
                status.status = {"timeout": "timeout", "schema_invalid": "invalid"}.get(e.code, "error")
                status.message = e.message
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
        self.core.monitor.record(status)
        return status, records


def _has_basis(actor: Actor, ctx: PatientContext, consent) -> bool:
    """A basis for other care providers' information: scope SJF and consent with a relation, or emergency."""
    return (actor.assignment.scope == "SJF" and consent is not None
            and (ctx.relation_attested or consent.assertion_type == "Emergency"))


class _Budget:
    """Bytes and records one source or one read may still bring in."""

    def __init__(self, max_bytes: int, max_records: int, what: str):
        self.what = what
        self.bytes = ByteBudget(max_bytes, f"Svaren översteg npo:s gräns för {what} ({max_bytes // 2**20} MiB); "
                                           "resten av informationen saknas.")
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


def _dedupe(records: list[Record]) -> list[Record]:
    """The same record through two major versions of a contract, from the same source, is shown once.

    Keyed by the address npo called, not by what the record claims: one source can never replace
    another's record, whatever source system id or contract version it writes."""
    seen: dict[tuple, Record] = {}
    for n, r in enumerate(records):
        key = (r.source_address, r.patient_id, r.information_type, r.source_system, r.id or f"#{n}")  # no id: no match
        if key not in seen or _major(r.contract) > _major(seen[key].contract):  # the newest major wins
            seen[key] = r
    return list(seen.values())


def _block_basis(basis: str, reason: str | None) -> str:
    if basis not in ("PatientsConsent", "Emergency"):
        raise BadRequest("Ange patientens samtycke eller nödsituation.", code="basis_required")
    if basis == "Emergency" and not (reason or "").strip():
        raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
    return basis


def _major(contract_id: str) -> int:
    return int(contract_id.rsplit(":", 1)[1])
