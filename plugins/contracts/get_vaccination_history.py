"""GetVaccinationHistory 2.0 (clinicalprocess:activityprescription:actoutcome): given vaccinations.

A registration (who registered it, where, risk groups) and its administrations (the vaccine, as the
producer codes it, its dose, batch and who gave it); a registration may also say that none was given."""

from __future__ import annotations

from npo_core import InformationView, hookimpl, riv
from npo_core.riv import CV, II, ORG_UNIT, PQ, codes, views

ACTOR = (("hsaid", "hsa_id", "str"), ("personName", "name", "str"), ("personEmail", "email", "str"),
         ("personTelecom", "telecom", "str"), ("personAddress", "address", "str"))
REGISTRATION = (
    ("careGiverOrg", "care_giver_org", ORG_UNIT), ("careGiverContact", "care_giver_contact", ACTOR),
    ("sourceSystemName", "source_system_name", "str"), ("sourceSystemProductName", "product_name", "str"),
    ("sourceSystemProductVersion", "product_version", "str"), ("sourceSystemContact", "source_system_contact", ACTOR),
    ("careUnitSmiId", "smi_id", "str"), ("date", "date", "str"), ("patientPostalCode", "postal_code", "str"),
    ("vaccinationUnstructuredNote", "note", "str"), ("riskCategory", "risk_categories", [CV]),
    ("patientAdverseEffect", "adverse_effects", [CV]))
ADMINISTRATION = (
    ("vaccinationProgramName", "program", CV), ("prescriberOrg", "prescriber_org", ORG_UNIT),
    ("prescriberPerson", "prescriber", ACTOR), ("performerOrg", "performer_org", ORG_UNIT),
    ("performer", "performer", ACTOR), ("anatomicalSite", "site", CV), ("route", "route", CV),
    ("dose", "dose", (("quantity", "quantity", PQ), ("displayName", "display_name", "str"))),
    ("isDoseComplete", "dose_complete", "bool"), ("doseOrdinalNumber", "dose_number", "int"),
    ("numberOfPrescribedDoses", "doses_prescribed", "int"), ("sourceDescription", "source", "str"),
    ("commentPrescription", "comment_prescription", "str"), ("commentAdministration", "comment", "str"),
    ("patientAdverseEffect", "adverse_effects", [CV]), ("typeOfVaccine", "vaccine_type", CV),
    ("vaccineName", "vaccine_name", CV), ("vaccineBatchId", "batch", "str"),
    ("vaccineManufacturer", "manufacturer", "str"), ("vaccineTargetDisease", "target_diseases", [CV]),
    ("vaccinationUniqueReference", "reference", II))
CORE = "urn:riv:clinicalprocess:activityprescription:actoutcome:2"
NAME = {path: riv.element_path(CORE, ADMINISTRATION, path) for path in (  # an administration's vaccine, by its
    f"{cv}.{words}" for cv in ("vaccine_name", "vaccine_type") for words in ("displayName", "originalText", "code"))}


class GetVaccinationHistory(riv.PatientSummaryContract):
    name = "GetVaccinationHistory"
    version = "2.0"
    service_domain = "clinicalprocess:activityprescription:actoutcome"
    categorization = "caa-gvh"
    title = "Vaccinationer"
    record_element = "vaccinationMedicalRecord"
    header_element, body_element = "vaccinationMedicalRecordHeader", "vaccinationMedicalRecordBody"
    body = (("registrationRecord", "registration", REGISTRATION),
            ("administrationRecord", "administrations", [ADMINISTRATION]),
            ("additionalPatientInformation", "patient", (("dateOfBirth", "birth_date", "str"),
                                                         ("gender", "gender", CV))))
    unit_tag, source_tag = "careUnitHSAid", "sourceSystemHSAid"

    def title_of(self, peek: riv.Peek) -> str:
        """The vaccines given, by name (or type); a registration may also record that none was."""
        given = [] if peek.body is None else list(peek.body.iterfind(self.c("administrationRecord")))
        names = filter(None, (riv.Peek(a, NAME).first(NAME) for a in given))  # name, else type
        return (" + ".join(names) or "Vaccination") if given else "Vaccination ej given"


# -- the view -----------------------------------------------------------------------------


def _each(record, text) -> str:
    return " + ".join(text(a) or "–" for a in record.detail.get("administrations", [])) or "–"


def _dose(adm: dict) -> str:
    number, total = adm.get("dose_number"), adm.get("doses_prescribed")
    return f"{number} av {total}" if number and total else f"dos {number}" if number else ""


def _terms(cvs) -> str:
    return ", ".join(codes.term(cv, "") for cv in cvs or ())


def _details(record) -> list[tuple[str, str]]:
    d = record.detail
    reg = d.get("registration", {})
    rows = [] if not record.nullified else [("Makulerad", d.get("header", {}).get("nullified_reason") or "Ja")]
    for n, adm in enumerate(d.get("administrations", []), 1):
        prefix = f"{n}. " if len(d["administrations"]) > 1 else ""
        vaccine, dose = adm.get("vaccine_type", {}), adm.get("dose", {})
        rows += [(f"{prefix}Vaccin", " ".join(filter(None, (codes.term(adm.get("vaccine_name"), ""),
                                                            vaccine.get("code") and codes.coded(vaccine)))) or "–"),
                 (f"{prefix}Skyddar mot", _terms(adm.get("target_diseases")) or "–"),
                 (f"{prefix}Givet", ", ".join(filter(None, (dose.get("display_name"), codes.term(adm.get("route"), ""),
                                                             codes.term(adm.get("site"), "")))) or "–"),
                 (f"{prefix}Tillverkare, batch", ", ".join(filter(None, (adm.get("manufacturer"), adm.get("batch"))))
                  or "–")]
        if adm.get("dose_complete") is False:
            rows.append((f"{prefix}Dos", "Ofullständig dos"))
        optional = (("Vaccinationsprogram", codes.term(adm.get("program"), "")),
                    ("Ordinerad av", (adm.get("prescriber") or {}).get("name")),
                    ("Vaccinerad av", (adm.get("performer") or {}).get("name")), ("Källa", adm.get("source")),
                    ("Kommentar", adm.get("comment")), ("Biverkningar", _terms(adm.get("adverse_effects"))))
        rows += [(prefix + label, value) for label, value in optional if value]
    rows += [(label, value) for label, value in (
        ("Riskgrupp", _terms(reg.get("risk_categories"))),
        ("Biverkningar enligt patienten", _terms(reg.get("adverse_effects"))), ("Anteckning", reg.get("note")))
        if value]
    return rows + [("Registrerad", f"{views.date_text(reg.get('date'))} av {record.author or '–'}")]


def _performers(r) -> str:
    given = r.detail.get("administrations", [])
    if any(a.get("performer_org") for a in given):
        return _each(r, lambda a: (a.get("performer_org") or {}).get("orgUnitName"))
    return views.unit(r)


@hookimpl
def register_contracts(register):
    register(GetVaccinationHistory())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="vaccinationer", title="Vaccinationer", categorizations=("caa-gvh",), order=80,
        columns=(("Datum", views.date), ("Vaccin", lambda r: r.title + (" (makulerad)" if r.nullified else "")),
                 ("Skyddar mot", lambda r: _each(r, lambda a: _terms(a.get("target_diseases")))),
                 ("Dos", lambda r: _each(r, _dose)), ("Batch", lambda r: _each(r, lambda a: a.get("batch"))),
                 ("Vaccinerande enhet", _performers), ("Vårdgivare", views.provider)),
        details=_details,
        help="Givna vaccinationer med vaccin, dos, batchnummer och vaccinerande enhet, kodade som vårdgivaren "
             "angett (vaccintyp oftast enligt ATC). Vaccinationer som getts utanför hälso- och sjukvården i "
             "sammanhållen journalföring, till exempel i elevhälsan eller utomlands, kan saknas.",
    ))
