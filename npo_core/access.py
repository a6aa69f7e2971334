"""The one access path: guards → fetch → guards again → `pdl` decides every record → log durably → answer.

Views and API handlers get records only from here. Nothing is returned before the
access-log entries for it are committed; if a guard cannot be consulted, nothing
protected is returned at all. Every call names its patient, and a read is decided and
logged under the clinician, assignment and patient it started with, whatever the same
session does meanwhile in another tab. The rules are `pdl.py` and asking the producers
is `fetch.py`; this module reads and writes the guards and the log around them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from . import fetch, pdl
from .contract import SWEDEN, Record
from .errors import BadRequest, Forbidden, GuardsChanged, GuardUnavailable, NpoError
from .fetch import SourceStatus
from .guards import GuardSnapshot, LogEntry, now
from .identity import PatientId, parse_patient_id
from .sessions import Assignment, Clinician, PatientContext, Session

# What one read may bring in (`fetch.Limits`), read at every read. Linda, the heaviest demo patient: 70 MiB,
# ~24,000 records in all, 40 MiB and 14,500 of them at TakeCare. A read peaks at about five times its bytes in
# memory (bench/memory.py --hostile).
MAX_FOLLOW_UPS = 10  # hasMore chains are bounded: a producer cannot keep us forever
MAX_CONTRACT_BYTES = 32 * 1024 * 1024  # one contract at one source, over its follow-ups
MAX_CONTRACT_RECORDS = 20_000
MAX_SOURCE_BYTES = 64 * 1024 * 1024  # one source, over all its contracts
MAX_SOURCE_RECORDS = 40_000
MAX_READ_BYTES = 128 * 1024 * 1024
MAX_READ_RECORDS = 100_000
DECIDE_ATTEMPTS = 3  # guards changing under a read: decide again, then give up (fail closed)
BLOCKED_WHERE = ("care_provider_id", "care_provider_name", "care_unit_id", "care_unit_name")  # where blocks hide


class PatientNotOpen(NpoError):
    status = 409
    code = "patient_not_open"


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

    def to_json(self, detail: bool = True) -> dict:
        """For the JSON API; `detail=False` leaves out each record's contract fields (read lazily)."""
        return {
            "patient": self.patient.id, "patient_name": self.patient_name, "request_id": self.request_id,
            "emergency": self.emergency,
            "fetched_at": self.fetched_at.isoformat(timespec="seconds") if self.fetched_at else None,
            "kept": self.kept,
            "complete": self.complete,
            "incomplete": [s.to_json() for s in self.incomplete],
            "sets": {slug: {"complete": not failing, "incomplete": [s.logical_address for s in failing]}
                     for slug, failing in ((slug, self._failing(slug)) for slug in self.contract_sets)},
            "records": [{**r.to_json(detail=detail), "opened_block": id(r) in self.opened_ids} for r in self.records],
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
                        activity=activity, action=action, environment=self.core.env_name, **kw)

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
        a, me = actor.assignment, actor.clinician.hsa_id
        terms = pdl.consent_terms(emergency=emergency, whole_unit=whole_unit, days=days, reason=reason,
                                  employee_id=me, start=now(), emergency_hours=self.core.emergency_hours)
        existing = pdl.covering_consent(self.core.guards.consents_for(ctx.patient.id, a.care_provider_id), terms,
                                        a, me, ctx.patient.id)
        if existing:
            return existing.id, True
        cid, sql = self._consent_sql(actor, ctx.patient, terms, reason, represented_by)
        end = terms.end.isoformat() if terms.end else None
        entry = self._entry(actor, ctx.patient, str(uuid.uuid4()), "emergency" if emergency else "register_consent",
                            activity="Nödöppning" if emergency else "Skriva",
                            detail={"consent_id": cid, "whole_unit": whole_unit, "end": end, "reason": reason,
                                    "represented_by": represented_by})
        await self.core.guards.append([entry], [sql])
        return cid, False

    def _consent_sql(self, actor: Actor, patient: PatientId, terms: pdl.ConsentTerms, reason: str | None,
                     represented_by: str | None = None) -> tuple[str, tuple[str, list]]:
        a = actor.assignment
        return self.core.guards.consent_insert_sql(
            assertion_type=terms.assertion_type, patient_id=patient.id, care_provider_id=a.care_provider_id,
            care_unit_id=a.care_unit_id, employee_id=terms.employee_id, start=terms.start, end=terms.end,
            registered_by=actor.clinician.hsa_id, assignment_id=a.id, represented_by=represented_by, reason=reason)

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
        a = actor.assignment
        basis = pdl.block_basis(basis, reason)
        if not pdl.may_reveal(basis, self.core.guards.consents_for(ctx.patient.id, a.care_provider_id), a,
                              actor.clinician.hsa_id, ctx.patient.id, now()):
            raise Forbidden("Registrera patientens samtycke först; steg 1 med samtycke kräver ett registrerat "
                            "samtycke.", code="consent_required")
        await self.core.guards.append([self._entry(
            actor, ctx.patient, str(uuid.uuid4()), "reveal_blocked",
            activity="Nödöppning" if basis == "Emergency" else "Läsa", detail={"basis": basis, "reason": reason})])
        ctx.reveal_blocked = True

    async def open_blocked(self, session: Session, patient_id: str, care_provider_id: str,
                           care_unit_id: str | None, basis: str, reason: str | None = None,
                           days: float = 1) -> list[str]:
        """Active choice two: lift the blocks at one place for this clinician (temporary revoke, at most 7 days),
        with an emergency assertion in the same commit where `pdl.opening_needs_emergency` says so."""
        actor, ctx = self._actor(session), self.context(session, patient_id)
        a, me = actor.assignment, actor.clinician.hsa_id
        basis = pdl.block_basis(basis, reason)
        if not ctx.reveal_blocked:
            raise BadRequest("Visa först var spärrad information finns.", code="reveal_first")
        blocks = pdl.blocks_at(self.core.guards.blocks_for(ctx.patient.id), care_provider_id, care_unit_id)
        if not blocks:
            raise BadRequest("Det finns ingen spärr där.", code="no_block")
        sql = []
        for b in blocks:
            _, statement = self.core.guards.revoke_insert_sql(
                block_id=b.id, care_unit_id=a.care_unit_id, employee_id=me, reason=basis,
                reason_text=reason, days=days, registered_by=me)
            sql.append(statement)
        moment = now()
        consent = pdl.valid_consent(self.core.guards.consents_for(ctx.patient.id, a.care_provider_id), a, me,
                                    ctx.patient.id, ctx.relation_attested, moment)
        if pdl.opening_needs_emergency(basis, care_provider_id, a, consent):
            terms = pdl.consent_terms(emergency=True, whole_unit=False, days=None, reason=reason, employee_id=me,
                                      start=moment, emergency_hours=self.core.emergency_hours)
            sql.append(self._consent_sql(actor, ctx.patient, terms, reason)[1])
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
        a, me, patient = actor.assignment, actor.clinician.hsa_id, ctx.patient
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
            consent = pdl.valid_consent(guards.consents, a, me, patient.id, ctx.relation_attested, moment)
            # Dedupe, decide and sort grow with the answers: the worker does them, not the event loop.
            decided = await self.core.off_loop(self._decide, records, owners, actor, ctx, consent, guards.blocks,
                                               moment)
            entries = [self._entry(actor, patient, request_id, "read", **asdict(line))
                       for line in pdl.read_log(decided.shown, decided.withheld, a.care_provider_id)]
            try:
                await self.core.guards.append(entries, decided_on=guards)
                break
            except GuardsChanged:
                continue
        else:
            raise GuardUnavailable("Samtycken eller spärrar för patienten ändras just nu. Försök igen om en stund.",
                                   code="guards_changing")
        if not kept:
            # driftsstatus: a source writing owners it cannot carry
            for (address, contract), n in decided.forged.items():
                self.core.monitor.owner_mismatch(address, contract, n)
        result = self._result(actor, ctx, request_id, fetched, decided, consent, guards, not_enabled, moment)
        result.fetched_at, result.kept = got.fetched_at.astimezone(SWEDEN), kept
        return result

    def forget(self, session: Session, patient_id: str) -> None:
        """Fetch again: the next page of this patient asks the producers, not the answers kept so far."""
        self.core.kept.drop(session.id, self.context(session, patient_id).patient.id)

    def _snapshot(self, actor: Actor, patient: PatientId) -> GuardSnapshot:
        return self.core.guards.snapshot(patient.id, actor.assignment.care_provider_id)

    async def _fan_out(self, env, producers: dict, patient: PatientId, contracts: list, request_id: str):
        """The producers' answers (`fetch.FanOut`), asked with what the core holds now."""
        core = self.core
        return await fetch.FanOut(
            env, producers, patient, contracts, request_id, http=core.http, off_loop=core.off_loop,
            schemas=core.schemas, monitor=core.monitor, names=core.names(), rank=core.page_rank,
            limits=fetch.Limits(MAX_FOLLOW_UPS, MAX_CONTRACT_BYTES, MAX_CONTRACT_RECORDS, MAX_SOURCE_BYTES,
                                MAX_SOURCE_RECORDS, MAX_READ_BYTES, MAX_READ_RECORDS))()

    def _decide(self, records: list[Record], owners: dict[int, frozenset], actor: Actor, ctx: PatientContext,
                consent, blocks, moment) -> pdl.Decided:
        """In the worker: each record once (`_dedupe`), then `pdl.decide_all`."""
        return pdl.decide_all(
            [(r, owners.get(id(r), frozenset())) for r in _dedupe(records)], assignment=actor.assignment,
            employee_id=actor.clinician.hsa_id, consent=consent, relation_attested=ctx.relation_attested,
            blocks=blocks, now=moment, patient_id=ctx.patient.id,
            block_types={cid: c.block_information_type for cid, c in self.core.contracts.items()})

    def _result(self, actor: Actor, ctx: PatientContext, request_id: str, fetched, decided: pdl.Decided,
                consent: pdl.Consent | None, guards: GuardSnapshot, not_enabled: list[str],
                moment: dt.datetime) -> ReadResult:
        a, me = actor.assignment, actor.clinician.hsa_id
        shown = decided.shown
        # A source's count is what it showed: a count of blocked records would say where they are.
        shown_ids = {id(r) for r, _ in shown}
        for status, recs in fetched:
            status.records = sum(1 for r in recs if id(r) in shown_ids)
        basis = pdl.has_basis(a, consent, ctx.relation_attested)
        known = [(s, pdl.may_know_of(s.owners, assignment=a, employee_id=me, basis=basis,
                                     reveal_blocked=ctx.reveal_blocked, blocks=guards.blocks, now=moment))
                 for s, _ in fetched]
        visible = [s for s, ok in known if ok]
        hidden = [s for s, ok in known if not ok]
        views = self.core.reg.views.values()
        return ReadResult(
            patient=ctx.patient, records=[r for r, _ in shown], withheld=dict(decided.withheld), sources=visible,
            not_enabled=not_enabled,
            blocked_where=[dict(zip(BLOCKED_WHERE, k), count=n)
                           for k, n in sorted(decided.blocked_where.items(), key=str)] if ctx.reveal_blocked else [],
            emergency=any(d.emergency for _, d in shown), request_id=request_id, patient_name=ctx.name,
            complete=all(s.complete for s, _ in fetched),
            hidden_sources={"count": len(hidden), "failed": sum(1 for s in hidden if not s.complete)}
            if hidden else None,
            consent=self._consent_json(actor, consent),
            opened=self._opened(actor, guards, moment, basis),
            opened_ids={id(r) for r, d in shown if d.opened},
            contract_sets={v.slug: {c.id for c in self.core.contracts.values()
                                    if set(c.categorizations) & set(v.categorizations)} for v in views})

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
        """`pdl.opened`, with the directory's names."""
        providers, units = self.core.names() if guards.revokes else ({}, {})  # one registry read, when needed
        return [{"care_provider_id": r["block_care_provider_id"],
                 "care_provider_name": providers.get(r["block_care_provider_id"] or ""),
                 "care_unit_id": r["block_care_unit_id"], "care_unit_name": units.get(r["block_care_unit_id"] or ""),
                 "basis": r["reason"], "end": end.astimezone(SWEDEN).isoformat(timespec="minutes")}
                for r, end in pdl.opened(guards.revokes, assignment=actor.assignment,
                                         employee_id=actor.clinician.hsa_id, now=moment, basis=basis)]


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


def _major(contract_id: str) -> int:
    return int(contract_id.rsplit(":", 1)[1])
