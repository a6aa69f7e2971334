"""A grouped-record contract as a declaration: answers of groups, one record per member of a group.

GetObservations and GetActivities (the clinicalprocess information model with partial time stamps) are not
PatientSummary-shaped. Their answer is `observationGroup*` / `activityGroup*`: each group the patient and
the owner (performer role, care unit, care giver, signer, participants, source system), then repeated
members (`observation+` / `activity+`). No header, body or result. The request is IIType-based, with a
required interaction agreement.

The declaration keeps the names the core and `PatientSummaryContract` read: `record_element` is the group
(the answer's record-level child, in the responder namespace: what the core accounts for), `body_element`
and `body` are the member and its spec (so `read_body`, `render_body` and `title_from` work on a member),
and `group` is the group's spec without its members. `owner` maps Record fields to key paths into `group`,
the `member_*` names key paths into `body`. `request` is the request's spec, its elements in the responder
namespace; the keys `patient`, `time`, `care_giver`, `care_unit`, `interaction_agreement_id` and
`source_system` (text or IIType) are the ones filled from and read into a Query.

Records are decided on the group's owner (read once per group) and a few peeked member paths; the member's
fields, with the group's under detail["group"], are read the first time a page asks for them (`Detail`).
A member repeated in its group (the same id) is one record.

Below the class: the shapes these domains' core schemas share, and the view cells their records share.
"""

from __future__ import annotations

import functools
from typing import ClassVar

from lxml import etree

from ..contract import Query, Record, parse_timestamp
from ..identity import HSA_ID_OID, parse_patient_id
from . import codes, coverage
from . import header as hdr
from .declared import Detail, PatientSummaryContract, Peek
from .spec import CV as _CV
from .spec import II, PERIOD, element_path, parse, render, sub
from .views import DASH


class GroupedContract(PatientSummaryContract):
    """The declaration. A subclass sets the names, `group`, `body` and `request`; the rest has defaults."""

    group: ClassVar[tuple] = ()  # the group's spec without its members: detail["group"] of each member
    request: ClassVar[tuple] = ()  # the request's spec (elements in the responder namespace)
    # Record field: key path into `group`. A contract whose group names more (a care giver's name) adds it.
    owner: ClassVar[dict[str, str]] = {
        "patient_id": "patient.id.extension", "care_unit_id": "performer_role.care_unit.id.extension",
        "care_unit_name": "performer_role.care_unit.name", "author": "performer_role.person.name",
        "care_provider_id": "performer_role.care_unit.care_giver.id.extension",
        "source_system": "source_system.id.extension"}
    member_id: ClassVar[str] = "id"  # an IIType: root and extension tell members apart, the extension is the id
    member_time: ClassVar[str] = "time.start.value"  # a PartialTimeStamp's value: the record's time
    member_registered: ClassVar[str] = "registration_time"  # a time stamp: the time blocks compare
    member_approved: ClassVar[str] = "approved_for_patient"
    has_result = False
    # The interaction agreement (samverkansavtal) npo's reads are made under: the schemas require one in
    # every request. This default is npo's own placeholder (a version 4 UUID); a deployment that has signed
    # an agreement sets its id in a subclass.
    interaction_agreement_id: ClassVar[str] = "0b7e9c2d-4f1a-4c8e-b356-9d2a7e1f4c60"

    @property
    def peeked(self) -> set[str]:
        return {*self.title_from, f"{self.member_id}.root", f"{self.member_id}.extension", self.member_time,
                self.member_registered, self.member_approved}

    @functools.cached_property
    def _grouped(self) -> tuple[dict, dict, tuple]:
        core = self.core_namespace
        request = tuple((self.q(element), key, kind) for element, key, kind in self.request)
        return ({p: element_path(core, self.body, p) for p in self.peeked},
                {key: element_path(core, self.group, p) for key, p in self.owner.items()}, request)

    def _members(self, group: etree._Element):
        """(member, its peek) for each distinct member of a group (by id), in order."""
        paths, seen = self._grouped[0], set()
        for member in group.iterchildren(self.c(self.body_element)):
            peek = Peek(member, paths)
            key = (peek(f"{self.member_id}.root"), peek(f"{self.member_id}.extension"))
            if key not in seen:
                seen.add(key)
                yield member, peek

    # consumer side ---------------------------------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        one = lambda ids: {"root": HSA_ID_OID, "extension": ids[0]} if len(ids) == 1 else None  # noqa: E731
        request = self._grouped[2]
        source = query.source_system
        if source and isinstance(next((k for _e, key, k in request if key == "source_system"), None), tuple):
            source = {"root": HSA_ID_OID, "extension": source}
        period = query.period and {"start": f"{query.period[0]:%Y%m%d}000000", "end": f"{query.period[1]:%Y%m%d}235959"}
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core_namespace})
        render(req, self.core_namespace, request, {
            "patient": {"root": query.patient.root, "extension": query.patient.id}, "time": period,
            "care_giver": one(query.care_providers), "care_unit": one(query.care_units),
            "interaction_agreement_id": self.interaction_agreement_id, "source_system": source})
        return req

    def records_in(self, group: etree._Element) -> int:
        """Its distinct members (a repeated one is one record), at least one."""
        return max(1, sum(1 for _ in self._members(group)))

    def parse_response(self, payload: etree._Element):
        owner_paths, records = self._grouped[1], []
        for group in payload.iterchildren(self.q(self.record_element)):
            owner = Peek(group, owner_paths)
            who = {key: owner(key) for key in self.owner}
            for member, peek in self._members(group):
                registered = parse_timestamp(peek(self.member_registered))
                when = partial_time(peek(self.member_time)) or registered
                records.append(Record(
                    id=peek(f"{self.member_id}.extension") or "", contract=self.id,
                    information_type=self.categorization, time=when,
                    block_time=registered or when,
                    title=self.title_of(peek) or self.untitled,
                    approved_for_patient=bool(hdr.boolean(peek(self.member_approved))),
                    detail=Detail(self.read_detail, group, member), **who))
        return hdr.answer(records, payload, self.responder_namespace, self.core_namespace)

    def read_detail(self, group: etree._Element, member: etree._Element) -> dict:
        return {**self.read_body(member), "group": parse(group, self.core_namespace, self.group)}

    def mapped_elements(self) -> dict:
        members = {self.c(self.body_element): coverage.tree(self.core_namespace, self.body)}
        return {self.q(self.record_element): {**coverage.tree(self.core_namespace, self.group), **members}}

    # producer side (demo producers, conformance tests) -----------------------------------
    def parse_request(self, payload: etree._Element) -> Query:
        found = parse(payload, self.core_namespace, self._grouped[2])
        ext = lambda key: v.get("extension") if isinstance(v := found.get(key), dict) else v  # noqa: E731
        start, end = (partial_time((found.get("time") or {}).get(k)) for k in ("start", "end"))
        return Query(patient=parse_patient_id(ext("patient") or ""), period=(start.date(), end.date()) if start and end
                     else None, care_units=tuple(filter(None, [ext("care_unit")])),
                     care_providers=tuple(filter(None, [ext("care_giver")])), source_system=ext("source_system"))

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        core = self.core_namespace
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": core})
        for r in records:  # one group per member: what a group shares, each of its records carries
            if hdr.matches(r, query):
                group = sub(resp, self.q(self.record_element))
                render(group, core, self.group, r.detail.get("group") or {})
                self.render_body(sub(group, self.c(self.body_element)), r)
        return resp


# -- partial time stamps ----------------------------------------------------------------


def partial_time(value: str | None):
    """A PartialTimeStamp's value as a time: a year or a month reads as its first day; unreadable as None."""
    digits = (value or "").strip()
    digits = digits + "0101"[len(digits) - 4:] if len(digits) in (4, 6) else digits[:8] if len(digits) == 10 else digits
    try:
        return parse_timestamp(digits)
    except ValueError:
        return None


def partial_text(stamp: dict | None) -> str:
    """A partial time stamp ({"format", "value"}) as precise as it was given: "2024", "2024-03", "2024-03-05"."""
    value = partial_time((stamp or {}).get("value"))
    digits = len(((stamp or {}).get("value") or "").strip())
    return value.strftime({4: "%Y", 6: "%Y-%m"}.get(digits, "%Y-%m-%d")) if value else DASH


# -- the shapes the grouped contracts' core schemas share ---------------------------------

CV = tuple(f for f in _CV if f[0] != "originalText")  # these domains' CVType has no originalText
PARTIAL = (("format", "format", "str"), ("value", "value", "str"))  # "2024", "202403", ... with its format
PARTIAL_PERIOD = (("start", "start", PARTIAL), ("end", "end", PARTIAL))
NAMED = (("id", "id", II), ("name", "name", "str"))  # PersonType, OrganisationType, CareGiverType
DEVICE = (("id", "id", II), ("type", "type", CV), ("model", "model", (("code", "code", CV), ("value", "value", "str"))))
LOCATION = (("id", "id", II), ("name", "name", "str"),
            ("address", "address", [(("use", "use", "str"), ("part", "part", [(("value", "value", "str"),
                                                                                ("type", "type", "str"))]))]),
            ("electronicAddress", "electronic_address", [(("use", "use", "str"), ("value", "value", "str"))]))
RELATION = (("code", "code", CV), ("referredInformation", "referred_information", (
    ("id", "id", II), ("time", "time", PARTIAL), ("type", "type", "str"),
    ("informationOwner", "information_owner", (("id", "id", II),)))))
# group fields, as (element, key, kind): what follows the group's patient
PERFORMER_ROLE = ("performerRole", "performer_role", (
    ("id", "id", II), ("code", "code", CV), ("person", "person", NAMED),
    ("careUnit", "care_unit", (*NAMED, ("careGiver", "care_giver", NAMED)))))
LEGAL_AUTHENTICATOR = ("legalAuthenticator", "legal_authenticator", (("id", "id", II), ("time", "time", PARTIAL),
                                                                     ("name", "name", "str")))
PARTICIPANTS = ("additionalParticipant", "additional_participant", [(
    ("id", "id", II), ("type", "type", CV), ("role", "role", CV), ("time", "time", PERIOD), ("person", "person", NAMED),
    ("organisation", "organisation", NAMED), ("device", "device", DEVICE), ("location", "location", LOCATION))])
SOURCE_SYSTEM = ("sourceSystem", "source_system", (("id", "id", II),))
# member fields
MEMBER_ID = ("id", "id", II)
TIME = ("time", "time", PARTIAL_PERIOD)
APPROVED = ("approvedForPatient", "approved_for_patient", "bool")
REGISTERED = ("registrationTime", "registration_time", "ts")
RELATIONS = ("relation", "relation", [RELATION])
# the request's relation filter
REQUEST_RELATION = ("relation", "relation", [(("id", "id", II), ("typeCode", "type_code", CV),
                                              ("referredInformationType", "referred_information_type", "str"))])


# -- view cells ----------------------------------------------------------------------------


def when(record: Record) -> str:
    """The member's time as precisely as it was given; a span where it ends apart from its start."""
    span = record.detail.get("time") or {}
    start, end = partial_text(span.get("start")), partial_text(span.get("end"))
    return start if end in (DASH, start) else f"{start} – {end}"


def performed_by(record: Record) -> str:
    """The performer and their role: "Sara Lund, Sjuksköterska"."""
    role = ((record.detail.get("group") or {}).get("performer_role") or {}).get("code")
    return ", ".join(filter(None, [record.author, codes.term(role, "")])) or DASH


def signed(record: Record) -> str:
    """Who signed the group, and when: "Sara Lund, 2024-03-20"; or that nobody has."""
    signer = (record.detail.get("group") or {}).get("legal_authenticator")
    if not signer:
        return "Ej signerad"
    return (f"{signer.get('name') or (signer.get('id') or {}).get('extension') or 'Okänd'}, "
            f"{partial_text(signer.get('time'))}")
