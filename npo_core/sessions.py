"""Who is asking: a clinician acting under one assignment (medarbetaruppdrag), in a session."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import Forbidden, Unauthenticated
from .identity import PatientId

CARE_PURPOSE = "Vård och behandling"
ADMIN_PURPOSE = "Administration"  # an assignment for administration: usage statistics, no patients
SCOPES = ("VE", "VG", "SJF")  # own care unit, own care provider, shared records
MAX_OPEN_PATIENTS = 20  # tabs a clinician may keep open at once; bounded so a session stays small
IDLE_SECONDS = 30 * 60
IDLE_ENV = "NPO_SESSION_IDLE_SECONDS"  # the idle limit's one setting: shorter to see the warning in tests


def idle_limit() -> float:
    """Seconds without a request before a session ends: NPO_SESSION_IDLE_SECONDS, else 30 minutes."""
    text = os.environ.get(IDLE_ENV, "").strip()
    if not text:
        return IDLE_SECONDS
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 24 * 3600:
        raise ValueError(f"{IDLE_ENV} is {text!r}: give whole seconds, 1 to 86400.")
    return int(text)


@dataclass(frozen=True)
class Assignment:
    """A medarbetaruppdrag: where the clinician works, why, and how far their rights reach."""

    id: str
    name: str
    care_unit_id: str
    care_unit_name: str
    care_provider_id: str
    care_provider_name: str
    purpose: str = CARE_PURPOSE
    scope: str = "SJF"

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"unknown assignment scope {self.scope!r}")


@dataclass(frozen=True)
class Clinician:
    hsa_id: str
    name: str
    title: str | None = None


@dataclass
class PatientContext:
    """The patient in front of the clinician, and the active choices made for them."""

    patient: PatientId
    name: str | None = None
    relation_attested: bool = False
    reveal_blocked: bool = False  # step one: show where blocked information is
    search_id: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class Session:
    id: str
    clinician: Clinician
    assignments: tuple[Assignment, ...]
    auth_method: str
    created: float
    last_seen: float
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    assignment: Assignment | None = None
    # The patients open in this session, oldest first: each tab names its patient, none borrows another's.
    patients: dict[str, PatientContext] = field(default_factory=dict)
    # Told (session id, patient id) when a patient is closed, so what was kept for it goes with it.
    on_close: Callable[[str, str], None] | None = field(default=None, repr=False, compare=False)
    # Per patient, the confirmation of what the clinician just did (consent, reveal, open), shown once on the
    # page the browser is sent back to: keyed by patient, so it never shows on another patient's page.
    notices: dict[str, str] = field(default_factory=dict, repr=False)

    def notify(self, patient_id: str, text: str) -> None:
        self.notices[patient_id] = text

    def take_notice(self, patient_id: str) -> str | None:
        return self.notices.pop(patient_id, None)

    def _closed(self, patient_id: str) -> None:
        self.notices.pop(patient_id, None)
        if self.on_close is not None:
            self.on_close(self.id, patient_id)

    def choose_assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                if a.purpose != CARE_PURPOSE:
                    raise Forbidden("Uppdraget har inte syftet Vård och behandling.", code="wrong_purpose")
                self.assignment = a
                for patient_id in list(self.patients):  # a new assignment closes every open patient
                    del self.patients[patient_id]
                    self._closed(patient_id)
                return a
        raise Forbidden("Ej behörig: uppdraget finns inte för dig.", code="no_assignment")

    def open_patient(self, context: PatientContext) -> PatientContext:
        """Open (or reopen) a patient; the oldest is closed beyond MAX_OPEN_PATIENTS."""
        if self.patients.pop(context.patient.id, context) is not context:
            self._closed(context.patient.id)  # opened anew: a new look at the patient
        self.patients[context.patient.id] = context
        while len(self.patients) > MAX_OPEN_PATIENTS:
            oldest = next(iter(self.patients))
            del self.patients[oldest]
            self._closed(oldest)
        return context

    @property
    def usable_assignments(self) -> tuple[Assignment, ...]:
        return tuple(a for a in self.assignments if a.purpose == CARE_PURPOSE)

    @property
    def administers(self) -> bool:
        """Holds an assignment with the purpose Administration: may see usage statistics (never a patient)."""
        return any(a.purpose == ADMIN_PURPOSE for a in self.assignments)


class SessionStore:
    """Server-side sessions in memory: the cookie carries only a random id.

    Sessions end after `idle` seconds without a request and after `absolute` seconds in all.
    `on_close(session id, patient id or None)` is told of every patient closed and every session ended.
    """

    def __init__(self, *, idle: float | None = None, absolute: float = 10 * 3600, clock=time.monotonic,
                 on_close: Callable[[str, str | None], None] | None = None):
        self.idle = idle_limit() if idle is None else idle
        self.absolute, self.clock, self.on_close = absolute, clock, on_close
        self._sessions: dict[str, Session] = {}

    def create(self, clinician: Clinician, assignments, auth_method: str) -> Session:
        """Always a fresh id at login, so a planted session id is worthless."""
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), clinician, tuple(assignments), auth_method, now, now,
                          on_close=self.on_close)
        usable = session.usable_assignments
        if len(usable) == 1:
            session.assignment = usable[0]
        self._sessions[session.id] = session
        self._expire(now)
        return session

    def get(self, session_id: str | None, *, touch: bool = True) -> Session:
        """The live session; a request counts as activity (`touch`) unless it only asks how long is left."""
        now = self.clock()
        session = self._sessions.get(session_id or "")
        if session is None:
            raise Unauthenticated("Du är inte inloggad.")
        if now - session.last_seen > self.idle or now - session.created > self.absolute:
            self.end(session.id)
            raise Unauthenticated("Sessionen har gått ut. Logga in igen.", code="session_expired")
        if touch:
            session.last_seen = now
        return session

    def remaining(self, session: Session) -> dict:
        """How long the session has left, for the page's warning: `seconds_left` unless a request comes first,
        and whether a request can extend it (not when the absolute limit comes first)."""
        now = self.clock()
        idle_end, absolute_end = session.last_seen + self.idle, session.created + self.absolute
        return {"seconds_left": max(0, int(min(idle_end, absolute_end) - now)), "idle_seconds": int(self.idle),
                "can_extend": idle_end < absolute_end}

    def end(self, session_id: str | None) -> None:
        if self._sessions.pop(session_id or "", None) is not None and self.on_close is not None:
            self.on_close(session_id, None)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values()
                    if now - s.last_seen > self.idle or now - s.created > self.absolute]:
            self.end(sid)
