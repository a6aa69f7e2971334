"""GetObservations 1.1 (clinicalprocess:healthcond:basic): structured observations (blood pressure, weight, ...).

Not PatientSummary-shaped: the request is IIType-based with a required interaction agreement, and the
answer is `observationGroup*` (patient, performer role, signer, participants, source system; then
`observation+`), with no header, body or result. One record per observation, so that each is dated and
compared with blocks on its own: the group says who and where, the observation what and when.
"""

from __future__ import annotations

import functools

from lxml import etree

from npo_core import HSA_ID_OID, InformationView, Query, Record, hookimpl, parse_patient_id, parse_timestamp, riv
from npo_core.riv import II, PERIOD, PQ, views

RESPONDER = "urn:riv:clinicalprocess:healthcond:basic:GetObservationsResponder:1"
CV = tuple(f for f in riv.CV if f[0] != "originalText")  # this domain's CVType has no originalText
PARTIAL = (("format", "format", "str"), ("value", "value", "str"))  # "2024", "202403", ... with its format
PARTIAL_PERIOD = (("start", "start", PARTIAL), ("end", "end", PARTIAL))
NAMED = (("id", "id", II), ("name", "name", "str"))  # PersonType, OrganisationType, CareGiverType
DEVICE = (("id", "id", II), ("type", "type", CV), ("model", "model", (("code", "code", CV), ("value", "value", "str"))))
LOCATION = (("id", "id", II), ("name", "name", "str"),
            ("address", "address", [(("use", "use", "str"), ("part", "part", [(("value", "value", "str"),
                                                                                ("type", "type", "str"))]))]),
            ("electronicAddress", "electronic_address", [(("use", "use", "str"), ("value", "value", "str"))]))
GROUP = (  # ObservationGroupType but its observations: detail["group"] of each of them
    ("patient", "patient", (("id", "id", II), ("name", "name", "str"), ("dateOfBirth", "date_of_birth", "str"),
                            ("gender", "gender", CV))),
    ("performerRole", "performer_role", (("id", "id", II), ("code", "code", CV), ("person", "person", NAMED),
                                         ("careUnit", "care_unit", (*NAMED, ("careGiver", "care_giver", NAMED))))),
    ("legalAuthenticator", "legal_authenticator", (("id", "id", II), ("time", "time", PARTIAL),
                                                   ("name", "name", "str"))),
    ("additionalParticipant", "additional_participant", [(
        ("id", "id", II), ("type", "type", CV), ("role", "role", CV), ("time", "time", PERIOD),
        ("person", "person", NAMED), ("organisation", "organisation", NAMED), ("device", "device", DEVICE),
        ("location", "location", LOCATION))]),
    ("sourceSystem", "source_system", (("id", "id", II),)))
RELATION = (("code", "code", CV), ("referredInformation", "referred_information", (
    ("id", "id", II), ("time", "time", PARTIAL), ("type", "type", "str"),
    ("informationOwner", "information_owner", (("id", "id", II),)))))
REQUEST = tuple((f"{{{RESPONDER}}}{element}", key, kind) for element, key, kind in (
    ("patientId", "patient", II), ("time", "time", PERIOD), ("observationType", "observation_type", [CV]),
    ("observationId", "observation_id", [II]), ("careGiverId", "care_giver", II), ("careUnitId", "care_unit", II),
    ("interactionAgreementId", "interaction_agreement_id", "str"), ("sourceSystemHSAId", "source_system", "str"),
    ("relation", "relation", [(("id", "id", II), ("typeCode", "type_code", CV),
                               ("referredInformationType", "referred_information_type", "str"))])))
OWNER = {"patient_id": "patient.id.extension", "care_unit_id": "performer_role.care_unit.id.extension",
         "care_unit_name": "performer_role.care_unit.name", "author": "performer_role.person.name",
         "care_provider_id": "performer_role.care_unit.care_giver.id.extension",
         "care_provider_name": "performer_role.care_unit.care_giver.name",
         "source_system": "source_system.id.extension"}


def partial_time(value: str | None):
    """A PartialTimeStamp's value as a time: a year or a month reads as its first day; unreadable as None."""
    digits = (value or "").strip()
    digits = digits + "0101"[len(digits) - 4:] if len(digits) in (4, 6) else digits[:8] if len(digits) == 10 else digits
    try:
        return parse_timestamp(digits)
    except ValueError:
        return None


class GetObservations(riv.PatientSummaryContract):
    name = "GetObservations"
    version = "1.1"
    service_domain = "clinicalprocess:healthcond:basic"
    categorization = "chb-o"  # as SKLTP's aggregating GetAggregatedObservations asks the engagement index
    title = "Observationer"
    record_element, body_element = "observationGroup", "observation"
    body = (("id", "id", II), ("type", "type", CV), ("status", "status", CV), ("time", "time", PARTIAL_PERIOD),
            ("method", "method", CV), ("value", "value", (("pq", "pq", PQ), ("ts", "ts", PARTIAL),
                                                          ("ivl_ts", "ivl_ts", PARTIAL_PERIOD), ("cv", "cv", CV))),
            ("targetSite", "target_site", CV), ("valueNegation", "value_negation", "bool"),
            ("description", "description", "str"), ("approvedForPatient", "approved_for_patient", "bool"),
            ("registrationTime", "registration_time", "ts"), ("relation", "relation", [RELATION]))
    group = GROUP
    title_from = ("type.displayName", "type.code")
    untitled = "Observation"
    has_result = False
    # The interaction agreement (samverkansavtal) npo's reads are made under; a deployment's own in a subclass.
    interaction_agreement_id = "0b7e9c2d-4f1a-4c8e-b356-9d2a7e1f4c60"

    @functools.cached_property
    def _paths(self) -> tuple[dict, dict]:
        core = self.core_namespace
        peeked = {*self.title_from, "id.extension", "id.root", "approved_for_patient", "registration_time",
                  "time.start.value"}
        return ({p: riv.element_path(core, self.body, p) for p in peeked},
                {key: riv.element_path(core, self.group, p) for key, p in OWNER.items()})

    def build_request(self, query: Query) -> etree._Element:
        one = lambda ids: {"root": HSA_ID_OID, "extension": ids[0]} if len(ids) == 1 else None  # noqa: E731
        period = query.period and {"start": f"{query.period[0]:%Y%m%d}000000", "end": f"{query.period[1]:%Y%m%d}235959"}
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core_namespace})
        riv.render(req, self.core_namespace, REQUEST, {
            "patient": {"root": query.patient.root, "extension": query.patient.id}, "time": period,
            "care_giver": one(query.care_providers), "care_unit": one(query.care_units),
            "interaction_agreement_id": self.interaction_agreement_id, "source_system": query.source_system})
        return req

    def parse_request(self, payload: etree._Element) -> Query:
        found = riv.parse(payload, self.core_namespace, REQUEST)
        ext = lambda key: (found.get(key) or {}).get("extension")  # noqa: E731
        start, end = (partial_time((found.get("time") or {}).get(k)) for k in ("start", "end"))
        return Query(patient=parse_patient_id(ext("patient") or ""), period=(start.date(), end.date()) if start and end
                     else None, care_units=tuple(filter(None, [ext("care_unit")])),
                     care_providers=tuple(filter(None, [ext("care_giver")])), source_system=found.get("source_system"))

    def records_in(self, group: etree._Element) -> int:
        """Its distinct observations (a repeated one is one record), at least one."""
        ids = lambda m: tuple(riv.text(m.find(f"{self.c('id')}/{self.c(k)}")) for k in ("root", "extension"))  # noqa: E731
        return max(1, len({ids(m) for m in group.iterchildren(self.c(self.body_element))}))

    def parse_response(self, payload: etree._Element):
        paths, owner_paths = self._paths
        records = []
        for group in payload.iterchildren(self.q(self.record_element)):
            owner = riv.Peek(group, owner_paths)
            who, seen = {key: owner(key) for key in OWNER}, set()
            for observation in group.iterchildren(self.c(self.body_element)):
                peek = riv.Peek(observation, paths)
                key = (peek("id.root"), peek("id.extension"))
                if key in seen:  # an observation repeated in its group is the same observation: one record
                    continue
                seen.add(key)
                registered = parse_timestamp(peek("registration_time"))
                when = partial_time(peek("time.start.value")) or registered
                records.append(Record(
                    id=peek("id.extension") or "", contract=self.id, information_type=self.categorization, time=when,
                    block_time=registered or when, title=self.title_of(peek) or self.untitled,
                    approved_for_patient=bool(riv.boolean(peek("approved_for_patient"))),
                    detail=riv.Detail(self.read_detail, group, observation), **who))
        return riv.header.answer(records, payload, self.responder_namespace, self.core_namespace)

    def read_detail(self, group: etree._Element, observation: etree._Element) -> dict:
        return {**self.read_body(observation), "group": riv.parse(group, self.core_namespace, self.group)}

    def mapped_elements(self) -> dict:
        group = riv.coverage.tree(self.core_namespace, self.group)
        return {self.q(self.record_element): {**group, self.c(self.body_element): riv.coverage.tree(
            self.core_namespace, self.body)}}

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace,
                                                                     "core": self.core_namespace})
        for r in records:  # one group per observation: what a group shares, each of its records carries
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


def value_text(r: Record) -> str:
    """The observed value as measured: "132 mm[Hg]", a coded finding, a time or a period; negated ones say so."""
    v = r.detail.get("value") or {}
    pq, period = v.get("pq") or {}, v.get("ivl_ts") or {}
    text = (f"{pq['value']:g}".replace(".", ",") + f" {pq.get('unit') or ''}".rstrip() if "value" in pq
            else riv.codes.term(v["cv"]) if v.get("cv") else _partial(v["ts"]) if v.get("ts")
            else f"{_partial(period.get('start'))} – {_partial(period.get('end'))}" if period else "")
    if r.detail.get("value_negation"):
        return f"Ej {text}" if text else "Ej förekommande"
    return text or views.DASH


def coded(key: str):
    """A CV field in words with its code and code system: "Underben (30021000, SNOMED CT)"."""
    def cell(r: Record) -> str:
        cv = r.detail.get(key) or {}
        words, code = cv.get("displayName"), cv.get("code")
        return f"{words} ({code}, {riv.codes.system_name(cv)})" if words and code else riv.codes.coded(cv)
    return cell


def _details(r: Record) -> list[tuple[str, str]]:
    group, span = r.detail.get("group") or {}, r.detail.get("time") or {}
    start, end = _partial(span.get("start")), _partial(span.get("end"))
    role, signer = (group.get("performer_role") or {}).get("code"), group.get("legal_authenticator")
    rows = [("Tid", start if end in (views.DASH, start) else f"{start} – {end}"), ("Värde", value_text(r)),
            ("Status", coded("status")(r)), ("Metod", coded("method")(r)), ("Lokalisation", coded("target_site")(r)),
            ("Beskrivning", views.field("description")(r)),
            ("Utförd av", ", ".join(filter(None, [r.author, riv.codes.term(role, "")])) or views.DASH),
            ("Registrerad", views.date_text(r.detail.get("registration_time"))),
            ("Signerad", f"{signer.get('name') or (signer.get('id') or {}).get('extension') or 'Okänd'}, "
                         f"{_partial(signer.get('time'))}" if signer else "Ej signerad"),
            ("Kan visas för patienten", views.yes_no(r.detail.get("approved_for_patient")))]
    for p in group.get("additional_participant") or []:
        who = (p.get("person") or p.get("organisation") or p.get("location") or {}).get("name")
        device = " ".join(filter(None, [riv.codes.term((p.get("device") or {}).get("type"), ""),
                                        ((p.get("device") or {}).get("model") or {}).get("value")]))
        rows.append(("Medverkande", f"{riv.codes.term(p.get('role'))}: {who or device or views.DASH}"))
    for rel in r.detail.get("relation") or []:
        referred = rel.get("referred_information") or {}
        rows.append(("Relaterad information", f"{riv.codes.term(rel.get('code'))}: {referred.get('type') or '–'} "
                                              f"{(referred.get('id') or {}).get('extension') or ''}".strip()))
    return rows


@hookimpl
def register_contracts(register):
    register(GetObservations())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="observationer", title="Observationer", categorizations=("chb-o",), order=75,
        columns=(("Datum", views.date), ("Observation", views.title), ("Värde", value_text),
                 ("Kod", views.code("type")), *views.OWNER),
        details=_details,
        help="Mätvärden och andra observationer som vårdgivare har registrerat, till exempel blodtryck, vikt och "
             "puls, med det kodverk (till exempel SNOMED CT) som vårdgivaren angett.",
    ))
