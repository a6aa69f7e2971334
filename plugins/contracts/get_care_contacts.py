"""GetCareContacts 2.0 and 3.0 (clinicalprocess:logistics:logistics): visits, phone contacts, inpatient stays.

The two majors differ in codes: 2.0 carries the NPÖ RIV 2.2 integer enums for contact type and
status, 3.0 carries CVs (KV Kontakttyp, SNOMED CT-SE statuses) and expresses a nullified contact
as the status "makulerad" (its TKB forbids `nullified` in the header). One demo generator
describes each contact neutrally; each major renders it in its own codes, with the same id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from lxml import etree

from npo_core import Answer, Contract, InformationView, Query, Record, hookimpl
from npo_core.contract import Children, format_timestamp, parse_timestamp, shown_timestamp
from npo_core.demo import PROVIDERS

from . import patientsummary as ps

DOMAIN = "urn:riv:clinicalprocess:logistics:logistics"
KV_KONTAKTTYP = "1.2.752.129.2.2.2.25"
SNOMED_CT_SE = "1.2.752.116.2.1.1"
KV_KON = "1.2.752.129.2.2.1.1"
CV_KEYS = ("code", "codeSystem", "codeSystemName", "codeSystemVersion", "displayName", "originalText")
ORG_KEYS = ("orgUnitHSAId", "orgUnitName", "orgUnitTelecom", "orgUnitEmail", "orgUnitAddress", "orgUnitLocation")

# 2.0: CareContactCodeEnum / CareContactStatusEnum ("NPÖ RIV-spec 2.2" codes)
TYPE_ENUM = {"1": "Besök", "2": "Telefon", "3": "Vårdtillfälle", "4": "Dagsjukvård", "5": "Annan"}
STATUS_ENUM = {"1": "Ej påbörjad", "2": "Inställd", "3": "Pågående", "4": "Avbruten", "5": "Avslutad"}
MAKULERAD = "53691000052102"  # SNOMED CT-SE "makulerad vårdkontakt"

# neutral kind -> (2.0 enum code, 3.0 CV); KV Kontakttyp codes 1, 2 and 4 as the SLL mappings use them;
# phone and day care go as originalText rather than a guessed code
KINDS = {
    "besok": ("1", {"code": "2", "codeSystem": KV_KONTAKTTYP, "displayName": "Öppenvårdskontakt"}),
    "telefon": ("2", {"originalText": "Telefonkontakt"}),
    "slutenvard": ("3", {"code": "1", "codeSystem": KV_KONTAKTTYP, "displayName": "Slutenvårdstillfälle"}),
    "dagsjukvard": ("4", {"originalText": "Dagsjukvård"}),
    "hemsjukvard": ("5", {"code": "4", "codeSystem": KV_KONTAKTTYP, "displayName": "Hemsjukvårdskontakt"}),
}
# neutral state -> (2.0 enum code, SNOMED CT-SE code and term); a nullified contact has no 2.0 status
STATES = {
    "avslutad": ("5", "53671000052101", "avslutad vårdkontakt"),
    "pagaende": ("3", "53651000052107", "pågående vårdkontakt"),
    "tidbokad": ("1", "53631000052103", "tidbokad vårdkontakt"),
    "installd": ("2", "53641000052109", "inställd vårdkontakt"),
    "avbruten": ("4", "53661000052105", "avbruten vårdkontakt"),
    "makulerad": (None, MAKULERAD, "makulerad vårdkontakt"),
}

# the reasons patients give, per kind of contact
REASONS = {
    "besok": ["Hosta och feber sedan en vecka", "Uppföljning av diabetes, HbA1c-kontroll", "Blodtryckskontroll",
              "Ont i vänster knä efter fall på isen", "Sveda vid miktion och täta urinträngningar",
              "Nedstämdhet och sömnsvårigheter", "Återbesök efter gipsning av handled", "Hudutslag på armarna",
              "Bröstsmärta vid ansträngning", "Yrsel och ostadighet"],
    "telefon": ["Provsvar, lipidstatus", "Förnyelse av recept", "Frågor om biverkningar av ny medicin",
                "Rådgivning vid feber hos barn", "Uppföljning av Waran-dosering"],
    "slutenvard": ["Förmaksflimmer med snabb kammarfrekvens", "Samhällsförvärvad pneumoni",
                   "Höftfraktur efter fall i hemmet", "Hjärtsvikt, ökad andfåddhet och bensvullnad",
                   "Akut buksmärta, misstänkt gallsten"],
    "dagsjukvard": ["Järninfusion", "Blodtransfusion", "Planerad elkonvertering"],
    "hemsjukvard": ["Omläggning av bensår", "Läkemedelsgenomgång i hemmet", "Insulininjektion morgon",
                    "Provtagning i hemmet, PK/INR"],
}


def _write(parent: etree._Element, tag: str, keys: tuple, value: dict | None, c) -> None:
    if value is not None:
        el = ps.sub(parent, tag)
        for k in keys:
            ps.opt(el, c(k), value.get(k))


class _GetCareContacts(Contract):
    """What both majors share; subclasses set the version and what differs in the wire format."""

    name = "GetCareContacts"
    service_domain = "clinicalprocess:logistics:logistics"
    categorization = "vko"
    record_element = "careContact"
    title = "Vårdkontakter"
    period_tag: str

    @property
    def core(self) -> str:
        return f"{DOMAIN}:{self.major}"

    def c(self, local: str) -> str:
        return f"{{{self.core}}}{local}"

    # consumer side --------------------------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core})
        for unit in query.care_units:
            ps.sub(req, self.q("careUnitHSAId"), unit)
        if self.major >= 3:
            for provider in query.care_providers:
                ps.sub(req, self.q("careGiverHSAId"), provider)
        ps.patient_id(req, self.q("patientId"), self.core, query.patient)
        ps.period(req, self.q(self.period_tag), self.core, query.period)
        if query.source_system:
            ps.sub(req, self.q("sourceSystemHSAId"), query.source_system)
        return req

    def parse_response(self, payload: etree._Element) -> Answer:
        c = self.c
        records = []
        for el in payload.iterfind(self.q("careContact")):
            children = Children(el)
            body = children.under(c("careContactBody"))
            period = body.under(c("careContactTimePeriod"))
            detail = {
                "type": self._parse_code(body, "careContactCode", TYPE_ENUM),
                "reason": body.text(c("careContactReason")),
                "unit": ps.present(body.first(c("careContactOrgUnit")), self.core, ORG_KEYS),
                "start": period.text(c("start")),
                "end": period.text(c("end")),
                "status": self._parse_code(body, "careContactStatus", STATUS_ENUM),
                "patient": self._parse_patient(body),
            }
            record = ps.parse_header(children.first(c("careContactHeader")), self.core, contract=self.id,
                                     information_type=self.categorization, title=_type_text(detail),
                                     time=detail["start"] or detail["end"],
                                     nullified=(detail["status"] or {}).get("code") == MAKULERAD)
            record.detail.update(detail)
            records.append(record)
        return ps.answer(records, payload, self.responder_namespace, self.core)

    # producer side (demo) -------------------------------------------------------
    def parse_request(self, payload: etree._Element) -> Query:
        query = ps.read_query(payload, self.responder_namespace, self.core, period_tag=self.period_tag)
        return dataclasses.replace(query, care_providers=tuple(
            e.text.strip() for e in payload.iterfind(self.q("careGiverHSAId")) if e.text))

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        c = self.c
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": self.core})
        for r in records:
            if not _matches(r, query):
                continue
            d = r.detail
            el = ps.sub(resp, self.q("careContact"))
            # 3.0 says a nullified contact through its status, never in the header
            ps.render_header(el, c("careContactHeader"), self.core,
                             r if self.major == 2 else dataclasses.replace(r, nullified=False), query.patient)
            body = ps.sub(el, c("careContactBody"))
            self._render_code(body, "careContactCode", d.get("type"))
            ps.opt(body, c("careContactReason"), d.get("reason"))
            _write(body, c("careContactOrgUnit"), ORG_KEYS, d.get("unit"), c)
            if d.get("start") or d.get("end"):
                period = ps.sub(body, c("careContactTimePeriod"))
                ps.opt(period, c("start"), d.get("start"))
                ps.opt(period, c("end"), d.get("end"))
            self._render_code(body, "careContactStatus", d.get("status"))
            self._render_patient(body, d.get("patient"))
        if self.major >= 3:
            ps.render_result(resp, self.responder_namespace, self.core)
        return resp

    def demo_records(self, demo) -> list[Record]:
        return [self.fit(r) for r in demo_contacts(demo, self.id)]

    # Each major provides what differs: _parse_code/_render_code (enum or CV), _parse_patient/
    # _render_patient, and fit(record), the neutral demo contact (detail kind/state) in its codes.


class GetCareContacts2(_GetCareContacts):
    version = "2.0"
    period_tag = "timePeriod"
    schema = ("clinicalprocess_logistics_logistics/interactions/GetCareContactsInteraction/"
              "GetCareContactsResponder_2.0.xsd")
    wsdl = ("clinicalprocess_logistics_logistics/interactions/GetCareContactsInteraction/"
            "GetCareContactsInteraction_2.0_RIVTABP21.wsdl")

    @property
    def soap_action(self) -> str:
        return "urn:riv:ehr:patientsummary:GetCareContactsResponder:2:GetCareContacts"  # as the official WSDL says

    def _parse_code(self, body: Children, local, enum):
        code = body.text(self.c(local))
        return None if code is None else {"code": code, **({"displayName": enum[code]} if code in enum else {})}

    def _render_code(self, body, local, value):
        if value and value.get("code"):
            ps.sub(body, self.c(local), value["code"])

    def _parse_patient(self, body):
        return None  # 2.0 has no additionalPatientInformation

    def _render_patient(self, body, value):
        pass

    def fit(self, record):
        d = dict(record.detail)
        kind, state = d.pop("kind"), d.pop("state")
        d["type"] = {"code": KINDS[kind][0], "displayName": TYPE_ENUM[KINDS[kind][0]]} if kind else None
        code = STATES[state][0] if state else None
        d["status"] = {"code": code, "displayName": STATUS_ENUM[code]} if code else None
        if state == "makulerad":
            d["header"] = {**d["header"], "nullified_reason": "Felregistrerad, avsåg annan patient"}
        d["patient"] = None
        return dataclasses.replace(record, detail=d, nullified=state == "makulerad", title=_type_text(d))


class GetCareContacts3(_GetCareContacts):
    version = "3.0"
    period_tag = "datePeriod"
    schema = ("clinicalprocess_logistics_logistics/interactions/GetCareContactsInteraction/"
              "GetCareContactsResponder_3.0.xsd")
    wsdl = ("clinicalprocess_logistics_logistics/interactions/GetCareContactsInteraction/"
            "GetCareContactsInteraction_3.0_RIVTABP21.wsdl")

    def _parse_code(self, body: Children, local, enum):
        return ps.present(body.first(self.c(local)), self.core, CV_KEYS)

    def _render_code(self, body, local, value):
        _write(body, self.c(local), CV_KEYS, value, self.c)

    def _parse_patient(self, body: Children):
        if (info := body.first(self.c("additionalPatientInformation"))) is None:
            return None
        patient = Children(info)
        return {"birth": ps.texts(patient.first(self.c("dateOfBirth")), self.core, ("format", "value")),
                "gender": ps.present(patient.first(self.c("gender")), self.core, CV_KEYS)}

    def _render_patient(self, body, value):
        if value:
            info = ps.sub(body, self.c("additionalPatientInformation"))
            if value.get("birth"):
                birth = ps.sub(info, self.c("dateOfBirth"))
                ps.sub(birth, self.c("format"), value["birth"]["format"])
                ps.sub(birth, self.c("value"), value["birth"]["value"])
            _write(info, self.c("gender"), CV_KEYS, value.get("gender"), self.c)

    def fit(self, record):
        d = dict(record.detail)
        kind, state = d.pop("kind"), d.pop("state")
        d["type"] = dict(KINDS[kind][1]) if kind else None
        d["status"] = {"code": STATES[state][1], "codeSystem": SNOMED_CT_SE,
                       "displayName": STATES[state][2]} if state else None
        return dataclasses.replace(record, detail=d, nullified=state == "makulerad", title=_type_text(d))


# -- demo content: one generator for both majors --------------------------------------------


def _kinds(unit_name: str) -> list[str]:
    """The kinds of contact a care unit has, judged by its name."""
    name = unit_name.lower()
    if "hemsjukvård" in name:
        return ["hemsjukvard"]
    if "vårdcentral" in name:
        return ["besok", "besok", "telefon"]
    if "akut" in name:
        return ["besok", "besok", "slutenvard"]
    return ["besok", "telefon", "slutenvard", "dagsjukvard"]


def demo_contacts(demo, contract_id: str) -> list[Record]:
    """The patient's contacts at one source system, described neutrally (detail kind/state)."""
    plan = {"rich": [None] * demo.rng.randint(4, 8), "variants": list(range(7)), "blocked": [None] * 4,
            "heavy": [None] * (2000 if demo.logical_address == PROVIDERS[0][4][0] else 300),
            "not_in_tgp": [None] * 2}.get(demo.profile, [])
    out = []
    for i, variant in enumerate(plan):
        state = "avslutad"
        if demo.profile == "blocked":  # a year each, cycling through the units
            unit, start = demo.units[i % len(demo.units)], demo.when(365 * (i + 1), 365 * i)
        else:
            unit, start, roll = demo.rng.choice(demo.units), demo.when(), demo.rng.random()
            state = "installd" if roll < 0.05 else "avbruten" if roll < 0.08 else "avslutad"
        if variant == 2:  # ongoing: an inpatient stay (or home care) with no end yet
            unit = next((u for u in demo.units if "slutenvard" in _kinds(u[1])), unit)
            start = dt.datetime.combine(demo.today - dt.timedelta(days=2), start.timetz())
        kind = "slutenvard" if variant == 2 and "slutenvard" in _kinds(unit[1]) else demo.rng.choice(_kinds(unit[1]))
        reason = demo.rng.choice(REASONS[kind])
        # a visit ends when it starts (TKB); a stay or a day-care session has a length
        end = start + {"slutenvard": dt.timedelta(days=demo.rng.randint(1, 9), hours=demo.rng.randint(1, 5)),
                       "dagsjukvard": dt.timedelta(hours=4)}.get(kind, dt.timedelta(0))
        registered, extra = start, {}
        if variant == 1:  # planned, in the future, booked weeks ago
            state = "tidbokad"
            start = dt.datetime.combine(demo.today + dt.timedelta(days=demo.rng.randint(3, 40)), start.timetz())
            registered, end = start - dt.timedelta(days=demo.rng.randint(10, 60)), None
        elif variant == 2:
            state, end = "pagaende", None
        elif variant == 3:
            state = "makulerad"
        elif variant == 4:  # type, status and reason absent; not approved for the patient
            kind, state, reason = None, None, None
        elif variant == 5:  # full unit contact details and patient information outside PU
            extra = {"unit": {"orgUnitTelecom": "010-00 00 00", "orgUnitEmail": "mottagning@example.se",
                              "orgUnitAddress": "Vårdvägen 1, 111 11 Stockholm", "orgUnitLocation": "Stockholm"},
                     "patient": {"birth": {"format": "YYYYMMDD", "value": demo.patient.id[:8]},
                                 "gender": {"code": "1", "codeSystem": KV_KON, "displayName": "Man"}}}
        if demo.profile == "heavy" and i % 250 == 7:  # producer text is data, never markup
            reason = " ".join(['<b>Akut</b> & "brådskande": patienten uppger <script>alert(1)</script> smärta'] * 3)
        record = demo.record(contract=contract_id, information_type="vko", key=f"vko-{i}", title="Vårdkontakt",
                             time=start, unit=unit, detail={}, signed=False, approved=variant != 4,
                             without_owner=variant == 6)
        header = {**record.detail["header"], "document_time": None, "document_title": None,
                  "author_time": format_timestamp(registered)}
        if variant == 6:  # the producer names the author's unit but not the PDL care unit / care provider
            unit = (f"{demo.logical_address}-MOTT", "Mottagning 3")
            header["org_unit"] = {k: None for k in ORG_KEYS} | {"orgUnitHSAId": unit[0], "orgUnitName": unit[1]}
        detail = {"header": header, "kind": kind, "state": state, "reason": reason,
                  "unit": {"orgUnitHSAId": unit[0], "orgUnitName": unit[1], **extra.get("unit", {})},
                  "start": format_timestamp(start), "end": format_timestamp(end), "patient": extra.get("patient")}
        out.append(dataclasses.replace(record, detail=detail, block_time=registered))
    return out


def _matches(record: Record, query: Query) -> bool:
    """Producer-side filters; the period overlaps the contact, an open end meaning still going on."""
    if query.period:
        start = record.time.date() if record.time else None
        end = parse_timestamp(record.detail.get("end"))
        if start and (start > query.period[1] or (end is not None and end.date() < query.period[0])):
            return False
    return ((not query.care_units or record.care_unit_id in query.care_units)
            and (not query.care_providers or record.care_provider_id in query.care_providers)
            and (not query.source_system or record.source_system == query.source_system))


# -- the view -----------------------------------------------------------------------------


def _label(cv: dict | None) -> str | None:
    if not cv:
        return None
    text = cv.get("displayName") or cv.get("originalText") or cv.get("code")
    return text[:1].upper() + text[1:] if text else None


def _type_text(detail: dict) -> str:
    return _label(detail.get("type")) or "Vårdkontakt"


def _when(record: Record) -> str:
    start, end = (shown_timestamp(record.detail.get(k)) for k in ("start", "end"))
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M")  # noqa: E731
    if start and end and end != start:
        return f"{fmt(start)} – {fmt(end) if end.date() != start.date() else end.strftime('%H:%M')}"
    if start:
        return fmt(start) if end else f"från {fmt(start)}"
    return f"till {fmt(end)}" if end else "–"


def _status(record: Record) -> str:
    return "Makulerad" if record.nullified else _label(record.detail.get("status")) or "–"


def _details(record: Record) -> list[tuple[str, str]]:
    d, hd = record.detail, record.detail.get("header", {})
    unit = d.get("unit") or {}
    out = [("Tid", _when(record)), ("Ansvarig", record.author or "–"),
           ("Registrerad", record.block_time.strftime("%Y-%m-%d %H:%M") if record.block_time else "–")]
    contact = ", ".join(v for v in (unit.get("orgUnitAddress"), unit.get("orgUnitTelecom"),
                                    unit.get("orgUnitEmail")) if v)
    if contact:
        out.append(("Kontaktuppgifter till enheten", contact))
    if record.nullified:
        out.append(("Makulerad", hd.get("nullified_reason") or "Ja"))
    patient = d.get("patient") or {}
    if patient.get("birth") or patient.get("gender"):
        out.append(("Patientuppgifter från vårdgivaren", ", ".join(v for v in (
            (patient.get("birth") or {}).get("value"), _label(patient.get("gender"))) if v)))
    return out


@hookimpl
def register_contracts(register):
    register(GetCareContacts2())
    register(GetCareContacts3())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="kontakter", title="Vårdkontakter", categorizations=("vko",), order=70,
        columns=(("Tid", _when),
                 ("Kontakttyp", lambda r: r.title),
                 ("Orsak", lambda r: r.detail.get("reason") or "–"),
                 ("Status", _status),
                 ("Enhet", lambda r: (r.detail.get("unit") or {}).get("orgUnitName") or "–"),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Besök, telefonkontakter, vårdtillfällen och andra vårdkontakter hos vårdgivare i sammanhållen "
             "journalföring, med den orsak patienten angav.",
    ))
