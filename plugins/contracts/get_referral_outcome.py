"""GetReferralOutcome 3.1 and 3.2 (clinicalprocess:healthcond:actoutcome): remissvar and consultation answers.

3.1 and 3.2 share the namespace urn:riv:clinicalprocess:healthcond:actoutcome:3: npo asks by 3.1,
the release NPÖ producers were first connected with, and accepts an answer valid by either. For
the referral outcome 3.2 adds no element; it only lets the title out (referralOutcomeTitle 0..1).
"""

from __future__ import annotations

from npo_core import InformationView, hookimpl, riv
from npo_core.riv import CV, ORG_UNIT, codes, views

EXT = "urn:riv:clinicalprocess:healthcond:actoutcome:3.1"
TYPES = {"SS": "Slutsvar", "SR": "Svar"}

ACT_CODE = (("code", "code", "str"), ("codeSystem", "codeSystem", "str"))
MULTIMEDIA = (("id", "id", "str"), ("mediaType", "mediaType", "str"), ("value", "value", "str"),
              ("reference", "reference", "str"))
PROFESSIONAL = (
    ("authorTime", "authorTime", "ts"), ("healthcareProfessionalHSAId", "healthcareProfessionalHSAId", "str"),
    ("healthcareProfessionalName", "healthcareProfessionalName", "str"),
    ("healthcareProfessionalRoleCode", "healthcareProfessionalRoleCode", CV),
    ("healthcareProfessionalOrgUnit", "healthcareProfessionalOrgUnit", ORG_UNIT),
    ("healthcareProfessionalCareUnitHSAId", "healthcareProfessionalCareUnitHSAId", "str"),
    ("healthcareProfessionalCareGiverHSAId", "healthcareProfessionalCareGiverHSAId", "str"))


class GetReferralOutcome(riv.PatientSummaryContract):
    name = "GetReferralOutcome"
    version = "3.1"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-kon-ure"
    title = "Remissvar och konsultationer"
    minor_schemas = ("clinicalprocess_healthcond_actoutcome/interactions/GetReferralOutcomeInteraction/"
                     "GetReferralOutcomeResponder_3.2.xsd",)
    record_element, header_element, body_element = "referralOutcome", "referralOutcomeHeader", "referralOutcomeBody"
    unit_tag, period_tag = "careUnitHSAid", "datePeriod"
    body = (
        ("referralOutcomeTypeCode", "type", "str"), ("referralOutcomeTitle", "title", "str"),
        ("referralOutcomeText", "text", "str"),
        ("clinicalInformation", "clinical_information",
         [(("clinicalInformationCode", "code", ACT_CODE), ("clinicalInformationText", "text", "str"))]),
        ("act", "acts", [(("actId", "id", "str"), ("actCode", "code", ACT_CODE), ("actText", "text", "str"),
                          ("actTime", "time", "ts"), ("actResult", "results", [MULTIMEDIA]))]),
        ("referral", "referral", (("referralId", "id", "str"), ("referralReason", "reason", "str"),
                                  ("referralTime", "time", "ts"), ("referralAuthor", "author", PROFESSIONAL),
                                  ("careContactId", "care_contact_id", "str"))),
        (f"{{{EXT}}}attested", "attested", ((f"{{{EXT}}}attestedTime", "time", "ts"),
                                             (f"{{{EXT}}}attesterHSAId", "hsa_id", "str"),
                                             (f"{{{EXT}}}attesterName", "name", "str"))))
    title_from = ("title",)
    untitled = "Remissvar"


# -- the web view -----------------------------------------------------------------------------


def _referrer(record) -> str:
    author = (record.detail.get("referral") or {}).get("author") or {}
    unit = ((author.get("healthcareProfessionalOrgUnit") or {}).get("orgUnitName")
            or author.get("healthcareProfessionalCareUnitHSAId"))
    return ", ".join(x for x in (author.get("healthcareProfessionalName"), unit) if x) or "–"


def _coded(found: dict) -> str:
    """A code with its code system, then its text: "R00.2 (ICD-10-SE) Hjärtklappning"."""
    code = codes.coded(found.get("code")) if (found.get("code") or {}).get("code") else None
    return " ".join(x for x in (code, found.get("text")) if x) or "–"


def _act(act: dict) -> str:
    return f"{_coded(act)} ({views.date_text(act['time'])})" if act.get("time") else _coded(act)


def _result(result: dict) -> str:
    return " ".join(x for x in (result.get("mediaType"), result.get("reference") or (
        "(bifogat)" if result.get("value") else None), f"[{result['id']}]" if result.get("id") else None) if x)


def _details(record) -> list[tuple[str, str]]:
    d = record.detail
    referral = d.get("referral") or {}
    rows = [("Svar", d.get("text") or "–"), ("Remissorsak", referral.get("reason") or "–"),
            ("Remiss", f"{referral.get('id') or '–'}, skickad {views.date_text(referral.get('time'))}"),
            ("Remittent", _referrer(record))]
    if referral.get("care_contact_id"):
        rows.append(("Vårdkontakt", referral["care_contact_id"]))
    if d.get("clinical_information"):
        rows.append(("Diagnoser", "; ".join(map(_coded, d["clinical_information"]))))
    if d.get("acts"):
        rows.append(("Åtgärder", "; ".join(map(_act, d["acts"]))))
    results = [r for act in d.get("acts") or () for r in act.get("results") or ()]
    if results:
        rows.append(("Resultat", "; ".join(map(_result, results))))
    attested = d.get("attested")
    by = attested and (attested.get("name") or attested.get("hsa_id") or "–")
    rows.append(("Vidimerad", f"{by}, {views.date_text(attested.get('time'))}" if attested else "Nej"))
    if record.nullified:
        rows.insert(0, ("Makulerad", (d.get("header") or {}).get("nullified_reason") or "Ja"))
    return rows + [("Ansvarig", views.author(record))]


@hookimpl
def register_contracts(register):
    register(GetReferralOutcome())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="remissvar", title="Remissvar och konsultationer", categorizations=("und-kon-ure",), order=60,
        columns=(("Datum", views.date), ("Remissvar", lambda r: r.title + (" (makulerat)" if r.nullified else "")),
                 ("Typ", lambda r: TYPES.get(r.detail.get("type"), r.detail.get("type") or "–")),
                 ("Remittent", _referrer), ("Svarande enhet", views.unit), ("Vårdgivare", views.provider)),
        details=_details,
        help="Svar på remisser och konsultationer från andra vårdenheter, med den remiss de besvarar. En remiss "
             "som ännu inte är besvarad visas inte här.",
    ))
