"""GetActivities 1.0 (clinicalprocess:activity:actions): activities and procedures (åtgärder), as coded.

Not PatientSummary-shaped: the request is IIType-based with a required interaction agreement, and the
answer is `activityGroup*` (patient, performer, source system, ...; then `activity+`), with no header,
body or result. One record per activity: the group says who and where, the activity what and when.
"""

from __future__ import annotations

import functools

from lxml import etree

from npo_core import HSA_ID_OID, InformationView, PatientId, Query, Record, hookimpl, parse_timestamp, riv
from npo_core.riv import II, PERIOD, views

RESPONDER = "urn:riv:clinicalprocess:activity:actions:GetActivitiesResponder:1"
CV = tuple(f for f in riv.CV if f[0] != "originalText")  # this domain's CVType has no originalText


def words(*names: str) -> tuple:
    return tuple((n, n, "str") for n in names)


PARTIAL = words("format", "value")  # PartialTimeStampType: "2024", "202403", ... with its format
PERSON = (("id", "id", II), ("name", "name", "str"))
DEVICE = (("id", "id", II), ("type", "type", CV), ("model", "model", (("code", "code", CV), ("value", "value", "str"))))
LOCATION = (("id", "id", II), ("name", "name", "str"),
            ("address", "address", [(("use", "use", "str"), ("part", "part", [words("value", "type")]))]),
            ("electronicAddress", "electronic_address", [words("use", "value")]))
GROUP = (  # ActivityGroupType but its activities: detail["group"] of each of them
    ("patient", "patient", (("id", "id", II), ("dateOfBirth", "date_of_birth", "str"), ("gender", "gender", CV))),
    ("performerRole", "performer_role", (("id", "id", II), ("code", "code", CV), ("person", "person", PERSON), (
        "careUnit", "care_unit", (("id", "id", II), ("name", "name", "str"), ("careGiver", "care_giver", PERSON))))),
    ("legalAuthenticator", "legal_authenticator", (("id", "id", II), ("time", "time", PARTIAL),
                                                   ("name", "name", "str"))),
    ("additionalParticipant", "additional_participant", [(
        ("id", "id", II), ("type", "type", CV), ("role", "role", CV), ("time", "time", PERIOD),
        ("person", "person", PERSON), ("organisation", "organisation", PERSON), ("device", "device", DEVICE),
        ("location", "location", LOCATION))]),
    ("sourceSystem", "source_system", (("id", "id", II),)), ("device", "device", [DEVICE]),
    ("location", "location", LOCATION), ("careProcessId", "care_process_id", "str"))
RELATION = (("code", "code", CV), ("referredInformation", "referred_information", (
    ("id", "id", II), ("time", "time", PARTIAL), ("type", "type", "str"),
    ("informationOwner", "information_owner", (("id", "id", II),)))))
REQUEST = tuple((f"{{{RESPONDER}}}{element}", key, kind) for element, key, kind in (
    ("patientId", "patient", II), ("time", "time", PERIOD), ("activityCode", "activity_code", [CV]),
    ("activityId", "activity_id", [II]), ("careGiverId", "care_giver", II), ("careUnitId", "care_unit", II),
    ("interactionAgreementId", "interaction_agreement_id", "str"), ("sourceSystemId", "source_system", II),
    ("relation", "relation", [(("id", "id", II), ("typeCode", "type_code", CV),
                               ("referredInformationType", "referred_information_type", "str"))])))
OWNER = {"patient_id": "patient.id.extension", "care_unit_id": "performer_role.care_unit.id.extension",
         "care_unit_name": "performer_role.care_unit.name", "author": "performer_role.person.name",
         "care_provider_id": "performer_role.care_unit.care_giver.id.extension",
         "source_system": "source_system.id.extension"}


def partial_time(value: str | None):
    """A PartialTimeStamp's value as a time: a year or a month reads as its first day; unreadable as None."""
    digits = (value or "").strip()
    digits = digits + "0101"[len(digits) - 4:] if len(digits) in (4, 6) else digits[:8] if len(digits) == 10 else digits
    try:
        return parse_timestamp(digits)
    except ValueError:
        return None


class GetActivities(riv.PatientSummaryContract):
    name = "GetActivities"
    version = "1.0"
    service_domain = "clinicalprocess:activity:actions"
    categorization = "caa-ga"  # the domain's TKB: first letters of the domain and of the contract's name
    title = "Åtgärder"
    record_element, body_element = "activityGroup", "activity"
    body = (("id", "id", II), ("status", "status", CV), ("code", "code", CV), ("targetSite", "target_site", CV),
            ("time", "time", (("start", "start", PARTIAL), ("end", "end", PARTIAL))), ("method", "method", CV),
            ("description", "description", "str"),
            ("approvedForPatient", "approved_for_patient", "bool"), ("registrationTime", "registration_time", "ts"),
            ("relation", "relation", [RELATION]))
    group = GROUP
    title_from = ("code.displayName", "code.code")
    untitled = "Åtgärd"
    has_result = False
    # The interaction agreement (samverkansavtal) npo's reads are made under; a deployment's own in a subclass.
    interaction_agreement_id = "5d8b6f0e-3c2a-4e7b-9a41-0c6f2d8e7b13"

    @functools.cached_property
    def _paths(self) -> tuple[dict, dict]:
        core = self.core_namespace
        peeked = {*self.title_from, "id.extension", "approved_for_patient", "registration_time", "time.start.value"}
        return ({p: riv.element_path(core, self.body, p) for p in peeked},
                {key: riv.element_path(core, self.group, p) for key, p in OWNER.items()})

    def build_request(self, query: Query) -> etree._Element:
        one = lambda ids: {"root": HSA_ID_OID, "extension": ids[0]} if len(ids) == 1 else None  # noqa: E731
        period = query.period and {"start": f"{query.period[0]:%Y%m%d}000000", "end": f"{query.period[1]:%Y%m%d}235959"}
        values = {"patient": {"root": query.patient.root, "extension": query.patient.id}, "time": period,
                  "care_giver": one(query.care_providers), "care_unit": one(query.care_units),
                  "interaction_agreement_id": self.interaction_agreement_id,
                  "source_system": query.source_system and {"root": HSA_ID_OID, "extension": query.source_system}}
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core_namespace})
        riv.render(req, self.core_namespace, REQUEST, values)
        return req

    def parse_request(self, payload: etree._Element) -> Query:
        found = riv.parse(payload, self.core_namespace, REQUEST)
        ext = lambda key: (found.get(key) or {}).get("extension")  # noqa: E731
        span = found.get("time") or {}
        start, end = (partial_time(span.get(k)) for k in ("start", "end"))
        return Query(patient=PatientId(ext("patient") or "", (found.get("patient") or {}).get("root") or ""),
                     period=(start.date(), end.date()) if start and end else None,
                     care_units=tuple(filter(None, [ext("care_unit")])),
                     care_providers=tuple(filter(None, [ext("care_giver")])), source_system=ext("source_system"))

    def records_in(self, group: etree._Element) -> int:
        """Its activities, at least one."""
        return max(1, sum(1 for _ in group.iterchildren(self.c(self.body_element))))

    def parse_response(self, payload: etree._Element):
        paths, owner_paths = self._paths
        records = []
        for group in payload.iterchildren(self.q(self.record_element)):
            owner = riv.Peek(group, owner_paths)
            who = {key: owner(key) for key in OWNER}
            for activity in group.iterchildren(self.c(self.body_element)):
                peek = riv.Peek(activity, paths)
                registered = parse_timestamp(peek("registration_time"))
                records.append(Record(
                    id=peek("id.extension") or "", contract=self.id, information_type=self.categorization,
                    time=partial_time(peek("time.start.value")) or registered, block_time=registered,
                    title=self.title_of(peek) or self.untitled,
                    approved_for_patient=bool(riv.boolean(peek("approved_for_patient"))),
                    detail=riv.Detail(self.read_detail, group, activity), **who))
        return riv.header.answer(records, payload, self.responder_namespace, self.core_namespace)

    def read_detail(self, group: etree._Element, activity: etree._Element) -> dict:
        return {**self.read_body(activity), "group": riv.parse(group, self.core_namespace, self.group)}

    def mapped_elements(self) -> dict:
        activity = {self.c(self.body_element): riv.coverage.tree(self.core_namespace, self.body)}
        return {self.q(self.record_element): {**riv.coverage.tree(self.core_namespace, self.group), **activity}}

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace,
                                                                     "core": self.core_namespace})
        for r in records:  # one group per activity: what a group shares, each of its records carries
            if riv.header.matches(r, query):
                group = riv.sub(resp, self.q(self.record_element))
                riv.render(group, self.core_namespace, self.group, r.detail.get("group") or {})
                self.render_body(riv.sub(group, self.c(self.body_element)), r)
        return resp


def _partial(stamp: dict | None) -> str:
    """A partial time stamp as precise as it was given: "2024", "2024-03", "2024-03-05"."""
    value = partial_time((stamp or {}).get("value"))
    digits = len(((stamp or {}).get("value") or "").strip())
    return value.strftime({4: "%Y", 6: "%Y-%m"}.get(digits, "%Y-%m-%d")) if value else views.DASH


def _when(record: Record) -> str:
    span = record.detail.get("time") or {}
    start, end = _partial(span.get("start")), _partial(span.get("end"))
    return start if end in (views.DASH, start) else f"{start} – {end}"


def _details(record: Record) -> list[tuple[str, str]]:
    group = record.detail.get("group") or {}
    role, signer = (group.get("performer_role") or {}).get("code"), group.get("legal_authenticator")
    signed = signer and f"{signer.get('name') or (signer.get('id') or {}).get('extension') or 'Okänd'}, " \
                        f"{_partial(signer.get('time'))}"
    return [("Tid", _when(record)), ("Metod", views.code("method")(record)),
            ("Beskrivning", views.field("description")(record)),
            ("Utförd av", ", ".join(filter(None, [record.author, riv.codes.term(role, "")])) or views.DASH),
            ("Plats", (group.get("location") or {}).get("name") or views.DASH),
            ("Registrerad", views.date_text(record.detail.get("registration_time"))),
            ("Signerad", signed or "Ej signerad"),
            ("Kan visas för patienten", views.yes_no(record.detail.get("approved_for_patient")))]


@hookimpl
def register_contracts(register):
    register(GetActivities())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="atgarder", title="Åtgärder", categorizations=("caa-ga",), order=72,
        columns=(("Datum", views.date), ("Åtgärd", views.title), ("Kod", views.code("code")),
                 ("Status", views.words("status")), ("Lokalisation", views.words("target_site")), *views.OWNER),
        details=_details,
        help="Aktiviteter och åtgärder som vårdgivare har dokumenterat, till exempel undersökningar, provtagningar "
             "och behandlingar, med det kodverk (till exempel KVÅ eller SNOMED CT) som vårdgivaren angett.",
    ))
