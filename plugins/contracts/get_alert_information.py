"""GetAlertInformation 2.0 (clinicalprocess:healthcond:description): uppmärksamhetsinformation. Hypersensitivity,
serious disease or treatment, communicable disease, restriction of care and unstructured historic warnings.
Blocks may exclude this information type ("upp"). The period selects alerts by validity, not registration (TKB)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from npo_core import InformationView, hookimpl, parse_timestamp, riv, shown_timestamp
from npo_core.riv import CV, PERIOD, codes, views

PHARMACEUTICAL = (("atcSubstance", "atc", CV), ("nonATCSubstance", "non_atc", "str"),
                  ("nonATCSubstanceComment", "non_atc_comment", "str"), ("pharmaceuticalProductId", "products", [CV]))
HYPERSENSITIVITY = (("typeOfHypersensitivity", "type", CV), ("degreeOfSeverity", "severity", CV),
                    ("degreeOfCertainty", "certainty", CV),
                    ("pharmaceuticalHypersensitivity", "pharmaceutical", PHARMACEUTICAL),
                    ("otherHypersensitivity", "other", (("hypersensitivityAgent", "agent", "str"),
                                                        ("hypersensitivityAgentCode", "agent_code", CV))))
TREATMENT = (("treatmentDescription", "description", "str"), ("treatmentCode", "code", CV),
             ("pharmaceuticalTreatment", "pharmaceuticals", [CV]))
COMMUNICABLE = (("communicableDiseaseCode", "code", CV), ("routeOfTransmission", "route", CV))
UNSTRUCTURED = (("unstructuredAlertInformationHeading", "heading", "str"),
                ("unstructuredAlertInformationContent", "content", "str"))
RELATED = (("typeOfAlertInformationRelationship", "type", CV), ("relationComment", "comment", "str"),
           ("documentId", "document_ids", ["str"]))


def _words(cv: str) -> tuple[str, ...]:
    return tuple(f"{cv}.{w}" for w in ("displayName", "originalText", "code"))


# The title names the first part of the body there is (in the schema's order): (key paths whose first value names
# it, form). A hypersensitivity without an agent is "Överkänslighet", an alert without any part its type.
TITLES = (((*_words("hypersensitivity.pharmaceutical.atc"), "hypersensitivity.pharmaceutical.non_atc",
            "hypersensitivity.other.agent", *_words("hypersensitivity.other.agent_code"),
            *_words("hypersensitivity.type")), "Överkänslighet: {}"),
          ((*_words("hypersensitivity.severity"), *_words("hypersensitivity.certainty")), "Överkänslighet"),
          (_words("serious_disease.disease"), "{}"), (("treatment.description",), "{}"),
          (_words("communicable_disease.code"), "Smitta: {}"), (_words("communicable_disease.route"), "Smitta: –"),
          (("restriction_of_care.comment",), "Vårdbegränsning"), (("unstructured.heading",), "{}"),
          (_words("type"), "{}"))


class GetAlertInformation(riv.PatientSummaryContract):
    name = "GetAlertInformation"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "upp"
    title = "Uppmärksamhetsinformation"
    block_information_type = "upp"
    record_element, header_element, body_element = "alertInformation", "alertInformationHeader", "alertInformationBody"
    body = (("typeOfAlertInformation", "type", CV), ("ascertainedDate", "ascertained_date", "str"),
            ("verifiedTime", "verified_time", "ts"), ("validityTimePeriod", "validity", PERIOD),
            ("alertInformationComment", "comment", "str"), ("obsoleteTime", "obsolete_time", "ts"),
            ("obsoleteComment", "obsolete_comment", "str"), ("hypersensitivity", "hypersensitivity", HYPERSENSITIVITY),
            ("seriousDisease", "serious_disease", (("disease", "disease", CV),)), ("treatment", "treatment", TREATMENT),
            ("communicableDisease", "communicable_disease", COMMUNICABLE),
            ("restrictionOfCare", "restriction_of_care", (("restrictionOfCareComment", "comment", "str"),)),
            ("unstructuredAlertInformation", "unstructured", UNSTRUCTURED),
            ("relatedAlertInformation", "related", [RELATED]))
    untitled = "Uppmärksamhetsinformation"
    peeked = {path for paths, _form in TITLES for path in paths}

    def title_of(self, peek: riv.Peek) -> str | None:
        return next((form.format(found) for paths, form in TITLES if (found := peek.first(paths))), None)

    def render_response(self, records, query):
        """TKB: the period selects alerts whose validity (until obsolete, else open) overlaps it."""
        return super().render_response([r for r in records if not query.period or _valid_in(r, *query.period)],
                                       dataclasses.replace(query, period=None))


def _valid_in(record, first: dt.date, last: dt.date) -> bool:
    start = parse_timestamp((record.detail.get("validity") or {}).get("start")) or record.time
    end = parse_timestamp(record.detail.get("obsolete_time") or (record.detail.get("validity") or {}).get("end"))
    return (start is None or start.date() <= last) and (end is None or end.date() >= first)


# -- the view ----------------------------------------------------------------------------------


def _status(r) -> str:
    end = shown_timestamp((r.detail.get("validity") or {}).get("end"))
    return ("Inaktuell" if r.detail.get("obsolete_time") else
            "Ej längre giltig" if end and end.date() < dt.date.today() else "Aktuell")


def _named(cv: dict | None) -> str:
    """"J01C (ATC) Penicilliner": the code with the code system the record carries, and its words."""
    cv = cv or {}
    return " ".join(x for x in (cv.get("code") and codes.coded(cv), cv.get("displayName") or cv.get("originalText"))
                    if x) or "–"


def _terms(cvs) -> str:
    return ", ".join(map(codes.term, cvs or ()))


def _hypersensitivity(h: dict) -> list:
    ph, other, term = h.get("pharmaceutical") or {}, h.get("other"), codes.term
    why = ph.get("non_atc_comment")
    return [("Typ av överkänslighet", term(h.get("type"))),
            ("Allvarlighetsgrad", term(h.get("severity"), "Uppgift saknas")),
            ("Visshetsgrad", term(h.get("certainty"), "Uppgift saknas")),
            ("Substans", ph.get("atc") and _named(ph["atc"])),
            ("Substans utan ATC-kod", ph.get("non_atc") and (f"{ph['non_atc']} ({why})" if why else ph["non_atc"])),
            ("Läkemedelsprodukter", _terms(ph.get("products"))),
            ("Agens", other is not None and (other.get("agent") or _named(other.get("agent_code"))))]


PART_ROWS = {  # the rows of each part of the body the alert has, in the schema's order
    "hypersensitivity": _hypersensitivity,
    "serious_disease": lambda p: [("Sjukdom", _named(p.get("disease")))],
    "treatment": lambda p: [("Behandling", p.get("description") or "–"),
                            ("Behandlingskod", p.get("code") and _named(p["code"])),
                            ("Läkemedel", _terms(p.get("pharmaceuticals")))],
    "communicable_disease": lambda p: [("Smittsam sjukdom", _named(p.get("code"))),
                                       ("Smittväg", codes.term(p.get("route")))],
    "restriction_of_care": lambda p: [("Vårdbegränsning", p.get("comment") or "–")],
    "unstructured": lambda p: [(p.get("heading") or "Varning", p.get("content") or "–")],
}


def _details(r) -> list[tuple[str, str]]:
    d, date = r.detail, views.date_text
    validity, signed = d.get("validity") or {}, (d.get("header") or {}).get("signature")
    until = date(validity["end"]) if validity.get("end") else "tills vidare"
    obsolete = d.get("obsolete_time") and f"{date(d['obsolete_time'])}: {d.get('obsolete_comment') or '–'}"
    rows = [("Typ", codes.term(d.get("type"))), ("Kommentar", d.get("comment") or "–"),
            *(row for part, rows_of in PART_ROWS.items() if part in d for row in rows_of(d[part])),
            ("Konstaterad", date(d.get("ascertained_date"))), ("Verifierad", date(d.get("verified_time"))),
            ("Giltig", f"{date(validity.get('start'))} – {until}"), ("Inaktuell sedan", obsolete),
            *((f"Samband: {codes.term(rel.get('type'))}",
               " ".join([", ".join(rel.get("document_ids") or []), rel.get("comment") or ""]).strip())
              for rel in d.get("related") or []),
            ("Signerad", f"{date(signed.get('time'))} av {signed.get('name') or signed.get('hsa_id') or 'okänd'}"
             if signed else "Nej, osignerad")]
    return [(label, value) for label, value in rows if value]  # a part's rows for what it has


def prominent(r) -> bool:
    """Current alerts head the overview: neither obsolete nor nullified (one field of the lazy detail)."""
    return not r.nullified and not r.detail.get("obsolete_time")


@hookimpl
def register_contracts(register):
    register(GetAlertInformation())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="uppmarksamhet", title="Uppmärksamhetsinformation", categorizations=("upp",), order=10,
        columns=(("Registrerad", views.date), ("Typ", views.words("type")), ("Uppmärksamhet", views.title),
                 ("Allvarlighetsgrad", lambda r: codes.term((r.detail.get("hypersensitivity") or {}).get("severity"))),
                 ("Status", _status), *views.OWNER),
        details=_details, prominent=prominent,
        help="Överkänslighet, allvarlig sjukdom eller behandling, smitta och vårdbegränsningar som vårdgivare har "
             "registrerat som uppmärksamhetsinformation, oftast i regionernas journalsystem; den aktuella står "
             "först på översikten. Uppmärksamhetsinformation kan vara undantagen från patientens spärr och visas då "
             "ändå. Att inget visas betyder inte att patienten saknar överkänslighet: det som bara står i en "
             "anteckning, eller finns hos en vårdgivare som inte är ansluten, saknas här.",
    ))
