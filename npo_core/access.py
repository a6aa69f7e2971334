"""The one access path: fetch → decide per record → log durably → return.

Views and API handlers get records only from here. Nothing is returned before the
access-log entries for it are committed; if a guard cannot be consulted, nothing
protected is returned at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace

from . import pdl
from .contract import Contract, Query, Record
from .errors import ContractError, Forbidden, GuardUnavailable, BadRequest
from .guards import LogEntry, now
from .identity import PatientId, parse_patient_id
from .registry import SourceSystem
from .sessions import PatientContext, Session

MAX_FOLLOW_UPS = 10  # hasMore chains are bounded: a producer cannot keep us forever


@dataclass
class SourceStatus:
    """What one producer did for one contract: shown to the clinician, always."""

    logical_address: str
    source_name: str
    care_provider_name: str
    contract: str
    status: str  # ok | info | error | timeout | invalid
    message: str | None = None
    seconds: float | None = None
    records: int = 0  # records shown from this source (not fetched: that could reveal blocked ones)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ReadResult:
    patient: PatientId
    records: list[Record]
    withheld: dict[str, int]
    sources: list[SourceStatus]
    not_enabled: list[str]
    blocked_where: list[dict] = field(default_factory=list)
    emergency: bool = False
    request_id: str = ""
    patient_name: str | None = None

    def to_json(self) -> dict:
        return {
            "patient": self.patient.id, "patient_name": self.patient_name, "request_id": self.request_id, "emergency": self.emergency,
            "records": [r.to_json() for r in self.records],
            "withheld": [{"reason": k, "count": v, "text": pdl.REASON_TEXT.get(k, k)} for k, v in self.withheld.items()],
            "blocked_where": self.blocked_where,
            "sources": [s.to_json() for s in self.sources],
            "not_enabled": self.not_enabled,
        }


class AccessService:
    def __init__(self, core):
        self.core = core

    # -- who and which patient -------------------------------------------------
    def _actor(self, session: Session):
        if session.assignment is None:
            raise Forbidden("Välj ett medarbetaruppdrag först.", code="no_assignment")
        return session.assignment

    def _entry(self, session: Session, request_id: str, action: str, *, activity: str = "Läsa",
               patient: PatientId | None = None, **kw) -> LogEntry:
        a = self._actor(session)
        return LogEntry(request_id=request_id, user_id=session.clinician.hsa_id, assignment_id=a.id,
                        assignment_name=a.name, user_care_unit_id=a.care_unit_id,
                        user_care_provider_id=a.care_provider_id,
                        patient_id=(patient or (session.patient.patient if session.patient else None)).id
                        if (patient or session.patient) else None,
                        activity=activity, action=action, **kw)

    async def open_patient(self, session: Session, raw_patient_id: str) -> PatientContext:
        """Validate the id, ask TGP, log the search, and set the patient context."""
        assignment = self._actor(session)
        patient = parse_patient_id(raw_patient_id)
        available = await self.core.patient_available(assignment, patient)
        request_id = str(uuid.uuid4())
        await self.core.guards.append([self._entry(session, request_id, "search", patient=patient,
                                                   detail={"tgp": available})])
        if not available:
            raise Forbidden("Patienten är inte tillgänglig för din vårdenhet enligt Tillgänglig patient (TGP).",
                            code="tgp_refused")
        session.patient = PatientContext(patient, name=await self.core.patient_name(patient))
        return session.patient

    def _patient(self, session: Session) -> PatientContext:
        if session.patient is None:
            raise BadRequest("Ingen patient är vald.", code="no_patient")
        return session.patient

    async def attest_relation(self, session: Session) -> None:
        ctx = self._patient(session)
        await self.core.guards.append([self._entry(session, str(uuid.uuid4()), "attest_relation")])
        ctx.relation_attested = True

    async def register_consent(self, session: Session, *, emergency: bool, whole_unit: bool,
                               days: int | None, reason: str | None = None,
                               represented_by: str | None = None) -> str:
        """Consent (samtycke) or emergency access (nödöppning), stored and logged in one commit."""
        a = self._actor(session)
        ctx = self._patient(session)
        if emergency and not (reason or "").strip():
            raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
        if days is not None and not 1 <= days <= 365:
            raise BadRequest("Giltighetstiden ska vara 1–365 dagar.", code="bad_duration")
        start = now()
        end = start + dt.timedelta(days=days) if days else None
        if emergency and end is None:
            end = start + dt.timedelta(hours=self.core.emergency_hours)
        cid, sql = self.core.guards.consent_insert_sql(
            assertion_type="Emergency" if emergency else "Consent", patient_id=ctx.patient.id,
            care_provider_id=a.care_provider_id, care_unit_id=a.care_unit_id,
            employee_id=None if (whole_unit and not emergency) else session.clinician.hsa_id,
            start=start, end=end, registered_by=session.clinician.hsa_id, assignment_id=a.id,
            represented_by=represented_by, reason=reason)
        entry = self._entry(session, str(uuid.uuid4()), "emergency" if emergency else "register_consent",
                            activity="Nödöppning" if emergency else "Skriva",
                            detail={"consent_id": cid, "whole_unit": whole_unit, "end": end.isoformat() if end else None,
                                    "reason": reason, "represented_by": represented_by})
        await self.core.guards.append([entry], [sql])
        return cid

    async def end_consent(self, session: Session, consent_id: str, how: str) -> None:
        """Cancel or annul a consent registered at the clinician's own care provider."""
        a = self._actor(session)
        ctx = self._patient(session)
        mine = [c for c in self.core.guards.consent_rows(ctx.patient.id)
                if c["id"] == consent_id and c["care_provider_id"] == a.care_provider_id]
        if not mine:
            raise Forbidden("Samtycket finns inte hos din vårdgivare.", code="not_your_consent")
        sql = self.core.guards.consent_end_sql(consent_id, how, session.clinician.hsa_id)
        await self.core.guards.append([self._entry(session, str(uuid.uuid4()), f"{how}_consent", activity="Skriva",
                                                   detail={"consent_id": consent_id})], [sql])

    async def reveal_blocked(self, session: Session, basis: str, reason: str | None = None) -> None:
        """Active choice one: show where blocked information is (never its content)."""
        ctx = self._patient(session)
        basis = _block_basis(basis, reason)
        await self.core.guards.append([self._entry(
            session, str(uuid.uuid4()), "reveal_blocked", activity="Nödöppning" if basis == "Emergency" else "Läsa",
            detail={"basis": basis, "reason": reason})])
        ctx.reveal_blocked = True

    async def open_blocked(self, session: Session, care_provider_id: str, care_unit_id: str | None,
                           basis: str, reason: str | None = None, days: float = 1) -> list[str]:
        """Active choice two: lift the blocks at one place for this clinician (temporary revoke, at most 7 days).

        With basis Emergency and no valid consent, an emergency assertion is registered in the same commit,
        since the information belongs to another care provider.
        """
        a = self._actor(session)
        ctx = self._patient(session)
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
                block_id=b.id, care_unit_id=a.care_unit_id, employee_id=session.clinician.hsa_id, reason=basis,
                reason_text=reason, days=days, registered_by=session.clinician.hsa_id)
            sql.append(statement)
        moment = now()
        if basis == "Emergency" and care_provider_id != a.care_provider_id and \
                self._valid_consent(session, ctx.patient, moment) is None:
            _, statement = self.core.guards.consent_insert_sql(
                assertion_type="Emergency", patient_id=ctx.patient.id, care_provider_id=a.care_provider_id,
                care_unit_id=a.care_unit_id, employee_id=session.clinician.hsa_id, start=moment,
                end=moment + dt.timedelta(hours=self.core.emergency_hours), registered_by=session.clinician.hsa_id,
                assignment_id=a.id, reason=reason)
            sql.append(statement)
        await self.core.guards.append([self._entry(
            session, str(uuid.uuid4()), "open_blocked", activity="Nödöppning" if basis == "Emergency" else "Skriva",
            resource_care_provider_id=care_provider_id, resource_care_unit_id=care_unit_id,
            detail={"basis": basis, "reason": reason, "blocks": [b.id for b in blocks], "days": days})], sql)
        return [b.id for b in blocks]

    # -- reading -----------------------------------------------------------------
    async def read(self, session: Session, categorizations: set[str] | None = None) -> ReadResult:
        self._actor(session)  # no assignment, nothing read
        ctx = self._patient(session)
        patient = ctx.patient
        request_id = str(uuid.uuid4())
        moment = now()
        # Guards first: if they cannot be read, nothing is fetched or shown.
        consent = self._valid_consent(session, patient, moment)
        blocks = self.core.guards.blocks_for(patient.id)

        contracts, not_enabled = self.core.contracts_in_use(categorizations)
        fetched = await self._fan_out(patient, contracts, request_id)
        statuses = [s for s, _ in fetched]
        # Dedupe, decide and sort grow with the answers: the worker does them, not the event loop.
        shown, withheld, blocked_where = await self.core.off_loop(
            self._decide, [r for _, recs in fetched for r in recs], session, ctx, consent, blocks, moment)

        # A source's count is what it showed: a count of blocked records would say where they are.
        shown_ids = {id(r) for r, _ in shown}
        for status, recs in fetched:
            status.records = sum(1 for r in recs if id(r) in shown_ids)
        await self.core.guards.append(self._read_entries(session, request_id, shown, withheld))
        return ReadResult(
            patient=patient, records=[r for r, _ in shown], withheld=dict(withheld), sources=statuses,
            not_enabled=not_enabled,
            blocked_where=[{"care_provider_id": p, "care_provider_name": pn, "care_unit_id": u, "care_unit_name": un,
                            "count": n} for (p, pn, u, un), n in sorted(blocked_where.items(), key=str)]
            if ctx.reveal_blocked else [],
            emergency=any(d.emergency for _, d in shown), request_id=request_id, patient_name=ctx.name)

    def _decide(self, records: list[Record], session: Session, ctx, consent, blocks, moment):
        """The PDL decision for every record, newest first; what is withheld is counted, never returned."""
        shown: list[tuple[Record, pdl.Decision]] = []
        withheld: Counter[str] = Counter()
        blocked_where: Counter[tuple] = Counter()
        for record in self._dedupe(records, ctx.patient):
            decision = pdl.decide(record, assignment=session.assignment, employee_id=session.clinician.hsa_id,
                                  consent=consent, relation_attested=ctx.relation_attested, blocks=blocks,
                                  now=moment, block_type_of_record=self.core.block_type_of(record))
            if decision.shown:
                shown.append((record, decision))
            else:
                withheld[decision.reason] += 1
                if decision.reason == pdl.BLOCKED:
                    blocked_where[(record.care_provider_id, record.care_provider_name,
                                   record.care_unit_id, record.care_unit_name)] += 1
        shown.sort(key=lambda rd: (rd[0].time is None, rd[0].time), reverse=True)
        return shown, withheld, blocked_where

    def _valid_consent(self, session: Session, patient: PatientId, moment) -> pdl.Consent | None:
        a = session.assignment
        valid = [c for c in self.core.guards.consents_for(patient.id, a.care_provider_id)
                 if c.valid_for(a, session.clinician.hsa_id, patient.id, moment)]
        # With an attested relation the patient's consent outranks an emergency assertion; without one,
        # only an emergency assertion can open anything. The latest wins among equals.
        preferred = "Consent" if session.patient and session.patient.relation_attested else "Emergency"
        valid.sort(key=lambda c: (c.assertion_type == preferred, c.start))
        return valid[-1] if valid else None

    def _read_entries(self, session, request_id, shown, withheld) -> list[LogEntry]:
        """One entry per owner (care provider, care unit), contract and legal basis of what was shown."""
        a = session.assignment
        groups: Counter[tuple] = Counter(
            (r.care_provider_id or a.care_provider_id,  # only own-unit records may lack it: the owner is known
             r.care_unit_id, r.contract, d.emergency) for r, d in shown)
        entries = [
            self._entry(session, request_id, "read", activity="Nödöppning" if emergency else "Läsa",
                        resource_care_provider_id=provider, resource_care_unit_id=unit, contract=contract,
                        record_count=count)
            for (provider, unit, contract, emergency), count in sorted(groups.items(),
                                                                       key=lambda kv: tuple(map(str, kv[0])))
        ]
        if not entries:  # the attempt itself is a read of the patient's overview
            entries.append(self._entry(session, request_id, "read", detail={"withheld": dict(withheld)}))
        return entries

    def _dedupe(self, records: list[Record], patient: PatientId) -> list[Record]:
        """Same record through two major versions of a contract is shown once."""
        seen: dict[tuple, Record] = {}
        for n, r in enumerate(records):
            if r.patient_id and r.patient_id != patient.id:
                continue  # a producer answered about someone else: never shown
            key = (r.information_type, r.source_system, r.id or f"#{n}")  # no id: nothing to match it by
            if key not in seen or _major(r.contract) > _major(seen[key].contract):  # the newest major wins
                seen[key] = r
        return list(seen.values())

    async def _fan_out(self, patient: PatientId, contracts: list[Contract], request_id: str):
        env = self.core.env  # read once per request: the registry is not asked again per producer
        names = self.core.names()
        deadline = env.total_deadline
        started = time.perf_counter()
        results = []
        try:
            sources, failures = await asyncio.wait_for(self.core.index.lookup(env, patient, contracts, request_id),
                                                       timeout=deadline)
        except asyncio.TimeoutError:
            sources, failures = {}, [(c.service_domain, "Engagemangsindex svarade inte i tid.") for c in contracts]
        for domain, message in failures:  # without an index answer those producers are unknown: say so
            results.append((SourceStatus(env.engagement_index or "", "Engagemangsindex", "", domain, "error",
                                         message), []))
        jobs = [(contract, source) for contract in contracts for source in sources.get(contract.id, [])]
        tasks = [asyncio.ensure_future(self._fetch_one(env, names, c, s, patient, request_id)) for c, s in jobs]
        if not tasks:
            return results
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - (time.perf_counter() - started)))
        for t in pending:
            t.cancel()
        for (contract, source), task in zip(jobs, tasks):
            if task in done:
                results.append(task.result())
            else:
                results.append((SourceStatus(source.logical_address, source.name, source.care_provider_name,
                                             contract.id, "timeout",
                                             "Svaret kom inte inom den totala tidsgränsen.", deadline), []))
        return results

    async def _fetch_one(self, env, names, contract: Contract, source: SourceSystem, patient: PatientId,
                         request_id: str):
        status = SourceStatus(source.logical_address, source.name, source.care_provider_name, contract.id, "ok")
        started = time.perf_counter()
        records: list[Record] = []
        query = Query(patient=patient)
        address = source.logical_address
        try:
            for _ in range(MAX_FOLLOW_UPS + 1):
                data = await self.core.call(env, contract, source, address, query, request_id)
                answer = await self.core.decode(env, names, contract, data, source)
                records.extend(answer.records)
                if answer.result_code not in ("OK", "INFO"):  # ERROR, or a code no contract has
                    status.status = "error"
                    status.message = answer.message or f"Producenten svarade {answer.result_code}."
                    records = []
                    break
                if answer.result_code == "INFO":
                    status.status, status.message = "info", answer.message
                if not answer.has_more:
                    break
                address, ref = answer.has_more[0]
                query = replace(query, has_more_reference=ref)  # the first call's filters, as the TKB says
            else:
                status.status = "info"
                status.message = f"Producenten har mer information än npo hämtar ({MAX_FOLLOW_UPS} uppföljningar)."
        except ContractError as e:
            status.status = "timeout" if e.code == "timeout" else ("invalid" if e.code == "schema_invalid" else "error")
            status.message = e.message
            records = []
        except (GuardUnavailable, Forbidden):
            raise
        except Exception as e:  # a plugin bug must not sink the whole overview
            status.status, status.message = "error", f"Svaret kunde inte tolkas ({type(e).__name__})."
            records = []
        status.seconds = round(time.perf_counter() - started, 4)
        status.records = len(records)
        self.core.monitor.record(status)
        return status, records


def _block_basis(basis: str, reason: str | None) -> str:
    if basis not in ("PatientsConsent", "Emergency"):
        raise BadRequest("Ange patientens samtycke eller nödsituation.", code="basis_required")
    if basis == "Emergency" and not (reason or "").strip():
        raise BadRequest("Ange skäl för nödöppning.", code="reason_required")
    return basis


def _major(contract_id: str) -> int:
    return int(contract_id.rsplit(":", 1)[1])
