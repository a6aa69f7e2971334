"""GetCareContacts 2.0 and 3.0 (clinicalprocess:logistics:logistics): visits, phone contacts, inpatient stays.

The two majors differ in codes: 2.0 carries the NPÖ RIV 2.2 integer enums for contact type and
status, 3.0 carries CVs (KV Kontakttyp, SNOMED CT-SE statuses) and expresses a nullified contact
as the status "makulerad" (its TKB forbids `nullified` in the header).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from npo_core import InformationView, hookimpl, riv, shown_timestamp
from npo_core.riv import CV, ORG_UNIT, codes, views

# 2.0: CareContactCodeEnum / CareContactStatusEnum ("NPÖ RIV-spec 2.2" codes)
TYPE_ENUM = {"1": "Besök", "2": "Telefon", "3": "Vårdtillfälle", "4": "Dagsjukvård", "5": "Annan"}
STATUS_ENUM = {"1": "Ej påbörjad", "2": "Inställd", "3": "Pågående", "4": "Avbruten", "5": "Avslutad"}
MAKULERAD = "53691000052102"  # SNOMED CT-SE "makulerad vårdkontakt"
PERIOD = (("start", "start", "ts"), ("end", "end", "ts"))
PATIENT = (("dateOfBirth", "birth", (("format", "format", "str"), ("value", "value", "str"))),
           ("gender", "gender", CV))


def _body(code) -> tuple:
    """Either major's body; `code` is how it codes the contact's type and status."""
    return (("careContactCode", "type", code), ("careContactReason", "reason", "str"),
            ("careContactOrgUnit", "unit", ORG_UNIT), ("careContactTimePeriod", "period", PERIOD),
            ("careContactStatus", "status", code))


class _GetCareContacts(riv.PatientSummaryContract):
    name = "GetCareContacts"
    service_domain = "clinicalprocess:logistics:logistics"
    categorization = "vko"
    title = "Vårdkontakter"
    record_element, header_element, body_element = "careContact", "careContactHeader", "careContactBody"
    time_from = ("period.start", "period.end")
    untitled = "Vårdkontakt"
    labels: ClassVar[dict[str, str]] = {}  # the texts of an enum-coded type

    def title_of(self, peek: riv.Peek) -> str | None:
        return _label(peek.first(self.title_from), self.labels)

    def render_response(self, records, query):
        """A contact is in the period where it overlaps it (an open end: still going on)."""
        kept = [r for r in records if _overlaps(r, query.period)]
        return super().render_response(kept, dataclasses.replace(query, period=None))


class GetCareContacts2(_GetCareContacts):
    version = "2.0"
    has_result = False
    body = _body("str")
    title_from, labels = ("type",), TYPE_ENUM

    @property
    def soap_action(self) -> str:
        return "urn:riv:ehr:patientsummary:GetCareContactsResponder:2:GetCareContacts"  # as the official WSDL says


class GetCareContacts3(_GetCareContacts):
    version = "3.0"
    giver_tag, period_tag = "careGiverHSAId", "datePeriod"
    header_nullifies = False
    body = _body(CV) + (("additionalPatientInformation", "patient", PATIENT),)
    title_from = ("type.displayName", "type.originalText", "type.code")

    @property
    def peeked(self) -> set[str]:
        return super().peeked | {"status.code"}

    def nullified_of(self, peek: riv.Peek) -> bool:
        return peek("status.code") == MAKULERAD


def _overlaps(record, period) -> bool:
    if not period or record.time is None:
        return True
    end = shown_timestamp((record.detail.get("period") or {}).get("end"))
    return record.time.date() <= period[1] and (end is None or end.date() >= period[0])


# -- the view -----------------------------------------------------------------------------


def _label(value, enum: dict) -> str | None:
    """An enum code's text or a CV's words, capitalised as a heading."""
    text = enum.get(value, value) if isinstance(value, str) or value is None else codes.term(value, None)
    return text[:1].upper() + text[1:] if text else None


def _when(record) -> str:
    period = record.detail.get("period") or {}
    start, end = (shown_timestamp(period.get(k)) for k in ("start", "end"))
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M")  # noqa: E731
    if start and end and end != start:
        return f"{fmt(start)} – {fmt(end) if end.date() != start.date() else end.strftime('%H:%M')}"
    if start:
        return fmt(start) if end else f"från {fmt(start)}"
    return f"till {fmt(end)}" if end else "–"


def _status(record) -> str:
    return "Makulerad" if record.nullified else _label(record.detail.get("status"), STATUS_ENUM) or "–"


def _details(record) -> list[tuple[str, str]]:
    d = record.detail
    unit, patient = d.get("unit") or {}, d.get("patient") or {}
    out = [("Tid", _when(record)), ("Ansvarig", views.author(record)),
           ("Registrerad", record.block_time.strftime("%Y-%m-%d %H:%M") if record.block_time else "–")]
    out += [(label, codes.coded(d[key])) for label, key in (("Kod för kontakttyp", "type"),
                                                             ("Kod för status", "status"))
            if isinstance(d.get(key), dict) and d[key].get("code")]  # a 3.0 CV: with its code system
    contact = ", ".join(v for v in (unit.get("orgUnitAddress"), unit.get("orgUnitTelecom"), unit.get("orgUnitEmail"))
                        if v)
    if contact:
        out.append(("Kontaktuppgifter till enheten", contact))
    if record.nullified:
        out.append(("Makulerad", (d.get("header") or {}).get("nullified_reason") or "Ja"))
    if patient.get("birth") or patient.get("gender"):
        out.append(("Patientuppgifter från vårdgivaren", ", ".join(v for v in (
            (patient.get("birth") or {}).get("value"), _label(patient.get("gender"), {})) if v)))
    return out


@hookimpl
def register_contracts(register):
    register(GetCareContacts2())
    register(GetCareContacts3())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="kontakter", title="Vårdkontakter", categorizations=("vko",), order=70,
        columns=(("Tid", _when), ("Kontakttyp", views.title), ("Orsak", views.field("reason")),
                 ("Status", _status), ("Enhet", lambda r: (r.detail.get("unit") or {}).get("orgUnitName") or "–"),
                 *views.OWNER),
        details=_details,
        help="Besök, telefonkontakter, vårdtillfällen och andra vårdkontakter hos vårdgivare i sammanhållen "
             "journalföring, med den orsak patienten angav, från vårdgivarnas patientadministrativa system. Bokade "
             "kontakter som ännu inte har ägt rum finns med bara om källan skickar dem.",
    ))
