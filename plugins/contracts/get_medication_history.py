"""GetMedicationHistory 2.2 (clinicalprocess:activityprescription:actoutcome): drug ordinations.

2.0 and 2.2 share major 2 and one namespace, so one contract serves both: 2.2 only adds (the
`relation` extension at the end of a prescription) or is more lenient (`nullifiedReason` text,
`drug/nplId` optional), and an answer valid by the 2.0 schema is accepted as it is. Each record is one
ordination, with its prescription (förskrivning) or administrations; the body keeps the schema's names.
"""

from __future__ import annotations

import dataclasses

from npo_core import InformationView, Query, hookimpl, parse_timestamp, riv
from npo_core.riv import CV, II, INTERVAL_PQ, ORG_UNIT, PERIOD, PQ, codes, views

EXT = "urn:riv:clinicalprocess:activityprescription:actoutcome:2.1"  # the 2.2 `relation` extension
S, T, N, B = "str", "ts", "num", "bool"


def named(*fields) -> tuple:
    """(element, kind) pairs as a spec keyed by the schema's element names ("{ns}name" keyed by name)."""
    return tuple((element, element.rpartition("}")[2], kind) for element, kind in fields)


ext = lambda local: f"{{{EXT}}}{local}"  # noqa: E731
HP = named(("authorTime", T), ("healthcareProfessionalHSAId", S), ("healthcareProfessionalName", S),
           ("healthcareProfessionalRoleCode", CV), ("healthcareProfessionalOrgUnit", ORG_UNIT),
           ("healthcareProfessionalCareUnitHSAId", S), ("healthcareProfessionalCareGiverHSAId", S))
REASON, SINGLE = named(("reason", CV), ("otherReason", S)), named(("dose", INTERVAL_PQ), ("time", T))
OCCASION = named(("period", PQ),
                 ("administration", [named(("dose", INTERVAL_PQ), ("time", S), ("dayOfPeriod", "int"))]))
ENDPOINT = named(("frequencyDosage", named(("dose", INTERVAL_PQ), ("frequency", PQ))),
                 ("periodDosage", named(("dose", INTERVAL_PQ), ("period", PQ))), ("occasionDosage", OCCASION),
                 ("singleDose", SINGLE), ("unstructuredDosageInformation", named(("text", S))))
RAMP = named(("doseStep", PQ), ("timeStep", PQ), ("rampStart", ENDPOINT), ("rampEnd", ENDPOINT))
DOSES = ENDPOINT[:3] + named(("rampedDosage", RAMP)) + ENDPOINT[3:]
DOSAGE = named(("lengthOfTreatment", named(("treatmentInterval", INTERVAL_PQ), ("isMaximumTreatmentTime", B))),
               ("dosageInstruction", S), ("unitDose", CV), ("shortNotation", S), ("setDosage", DOSES),
               ("maximumDosage", DOSES), ("conditionalDosage", named(("conditionDescription", S)) + DOSES))
DRUG = named(("comment", S), ("unstructuredDrugInformation", named(("unstructuredInformation", S))),
             ("merchandise", named(("articleNumber", CV))), ("drugArticle", named(("nplPackId", CV))),
             ("drug", named(("nplId", CV), ("atcCode", CV), ("routeOfAdministration", CV), ("pharmaceuticalForm", S),
                            ("strength", N), ("strengthUnit", S))),
             ("generics", named(("substance", S), ("strength", PQ), ("form", S))), ("dosage", [DOSAGE]))
PRESCRIPTION = named(
    ("prescriptionId", II), ("typeOfPrescription", S), ("prescriptionStatus", S), ("prescriptionNote", S),
    ("principalPrescriptionReason", [REASON]), ("additionalPrescriptionReason", [REASON]), ("evaluationTime", T),
    ("treatmentPurpose", S), ("prescriptionChainId", II), ("precedingPrescriptionId", II),
    ("succeedingPrescriptionId", II), ("prescriber", HP), ("evaluator", HP), ("startOfFirstTreatment", T),
    ("startOfTreatment", T), ("endOfTreatment", T), ("endOfTreatmentReason", CV), ("selfMedication", B), ("drug", DRUG),
    ("dispensationAuthorization", named(
        ("dispensationAuthorizationId", II), ("validUntil", S), ("receivingPharmacy", II),
        ("minimumDispensationInterval", PQ), ("totalAmount", N), ("packageUnit", S), ("distributionMethod", S),
        ("dispensationAuthorizer", HP), ("dispensationAuthorizerComment", S), ("firstDispensationBefore", S),
        ("prescriptionSignatura", S), ("nonReplaceable", S), ("drug", DRUG))),
    ("administration", [named(("administrationId", II), ("administrationTime", PERIOD), ("administrationComment", S),
                              ("routeOfAdministration", CV), ("administeringHealthcareProfessional", HP),
                              ("drug", DRUG))]),
    (ext("relation"), [named((ext("code"), CV), (ext("referredInformation"), [named(  # core types: core children
        (ext("id"), II), (ext("type"), CV), (ext("informationOwner"), named(("id", II))))]))]))
# what a title is made of, below prescription.drug: a name alone, else a product's or a generic's parts
NAMES = ("unstructuredDrugInformation.unstructuredInformation", "drugArticle.nplPackId.displayName",
         "merchandise.articleNumber.displayName")
PRODUCT = ("drug.nplId.displayName", "drug.atcCode.displayName", "drug.strength", "drug.strengthUnit",
           "drug.pharmaceuticalForm")
GENERIC = ("generics.substance", "generics.strength.value", "generics.strength.unit", "generics.form")


class GetMedicationHistory(riv.PatientSummaryContract):
    name, version, title = "GetMedicationHistory", "2.2", "Läkemedel"
    service_domain = "clinicalprocess:activityprescription:actoutcome"
    categorization, block_information_type = "caa-gmh", "lak"
    minor_schemas = ("clinicalprocess_activityprescription_actoutcome/interactions/GetMedicationHistoryInteraction/"
                     "GetMedicationHistoryResponder_2.0.xsd",)
    record_element = "medicationMedicalRecord"
    header_element, body_element = "medicationMedicalRecordHeader", "medicationMedicalRecordBody"
    body = (("medicationPrescription", "prescription", PRESCRIPTION),
            ("additionalPatientInformation", "patient", named(("dateOfBirth", S), ("gender", CV))))
    giver_tag, period_tag = "careGiverHSAId", "datePeriod"
    time_from = ("prescription.prescriber.authorTime", "prescription.startOfTreatment")  # ordination, else start
    untitled = "Läkemedelsordination"

    @property
    def peeked(self) -> set[str]:
        return super().peeked | {f"prescription.drug.{path}" for path in NAMES + PRODUCT + GENERIC}

    def title_of(self, peek: riv.Peek) -> str | None:
        """What was ordinated, whichever drug choice the producer used: a few values, not the large body."""
        at = lambda path: peek(f"prescription.drug.{path}")  # noqa: E731
        if name := next(filter(None, map(at, NAMES)), None):
            return name
        npl, atc, strength, unit, form = map(at, PRODUCT)
        name = npl or atc or ""
        parts = (name[:1].upper() + name[1:], strength, unit, form)
        name, strength, unit, form = parts if any(parts) else map(at, GENERIC)
        return " ".join(filter(None, (name, _number(strength), unit, (form or "").lower()))) or None

    def render_response(self, records, query: Query):
        """A period selects the ordinations whose treatment overlaps it: [ordination, end], open while ongoing."""
        if query.period:
            records = [r for r in records if _overlaps(r, *query.period)]
        return super().render_response(records, dataclasses.replace(query, period=None))


def _overlaps(record, start, end) -> bool:
    stop = parse_timestamp(_rx(record).get("endOfTreatment"))
    return not record.time or (record.time.date() <= end and not (stop and stop.date() < start))


_rx = lambda record: record.detail.get("prescription") or {}  # noqa: E731
_day = lambda stamp: views.date_text(stamp) if stamp else None  # noqa: E731


def _number(value) -> str:
    """A schema double as a Swede writes it: 2.5 -> 2,5 and 500.0 -> 500."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value or ""
    return (f"{number:.0f}" if number.is_integer() else f"{number:g}").replace(".", ",")


def _code(record) -> str:
    """The drug's code as the record carries it: ATC, else the product's or package's NPL id, else the article's."""
    choice = _rx(record).get("drug") or {}
    product, package, article = (choice.get(k) or {} for k in ("drug", "drugArticle", "merchandise"))
    return codes.coded(product.get("atcCode") or product.get("nplId") or package.get("nplPackId")
                       or article.get("articleNumber"))


def _dosage(record) -> str:
    rx = _rx(record)
    given = [d.get("dosageInstruction") or d.get("shortNotation") for d in (rx.get("drug") or {}).get("dosage", [])]
    return next(filter(None, given), None) or (rx.get("dispensationAuthorization") or {}).get(
        "prescriptionSignatura") or "–"


def _status(record) -> str:
    rx = _rx(record)
    status = {"Active": "Aktiv", "Inactive": "Inaktiv"}.get(rx.get("prescriptionStatus"), "–")
    return f"{status}, utsättning" if rx.get("typeOfPrescription") == "U" else status


def _person(hp: dict | None) -> str | None:
    if not hp:
        return None
    role, unit = codes.term(hp.get("healthcareProfessionalRoleCode"), None), hp.get("healthcareProfessionalOrgUnit")
    who = ", ".join(filter(None, (hp.get("healthcareProfessionalName"), role, (unit or {}).get("orgUnitName"))))
    return f"{who or 'Okänd'} ({_day(hp.get('authorTime'))})"


def _details(record) -> list[tuple[str, str]]:
    rx = _rx(record)
    reasons = (r.get("otherReason") or codes.term(r.get("reason"), None)
               for r in rx.get("principalPrescriptionReason", []) + rx.get("additionalPrescriptionReason", []))
    out = [("Behandlingsändamål", rx.get("treatmentPurpose")), ("Ordinationsorsak", ", ".join(filter(None, reasons))),
           ("Insättning", _day(rx.get("startOfTreatment"))), ("Utsättning", _day(rx.get("endOfTreatment"))),
           ("Utsättningsorsak", codes.term(rx.get("endOfTreatmentReason"), None)),
           ("Ordinatör", "Egenmedicinering" if rx.get("selfMedication") else _person(rx.get("prescriber"))),
           ("Utvärdering", _person(rx.get("evaluator")) or _day(rx.get("evaluationTime"))),
           ("Notat", rx.get("prescriptionNote")), ("Registrerad av", record.author)]
    if d := rx.get("dispensationAuthorization"):
        amount = " ".join(filter(None, (_number(d.get("totalAmount")), d.get("packageUnit"))))
        out.append(("Förskrivning", "; ".join(filter(None, (
            d.get("prescriptionSignatura"), amount, d.get("validUntil") and f"giltig t.o.m. {_day(d['validUntil'])}",
            d.get("distributionMethod"), d.get("nonReplaceable") and "får ej bytas ut")))))
    if given := rx.get("administration"):
        last = max(given, key=lambda a: (a.get("administrationTime") or {}).get("start") or "")
        out.append(("Administreringar", f"{len(given)} st; senast "
                                        f"{_person(last.get('administeringHealthcareProfessional')) or 'okänd'}"))
    chain = rx.get("prescriptionChainId") or {}
    out.append(("Ordinationskedja", chain.get("extension") or chain.get("root")))
    return [(label, value) for label, value in out if value]


@hookimpl
def register_contracts(register):
    register(GetMedicationHistory())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="lakemedel", title="Läkemedel", categorizations=("caa-gmh",), order=20,
        columns=(("Ordinerad", views.date), ("Läkemedel", views.title), ("Kod", _code), ("Dosering", _dosage),
                 ("Status", _status), *views.OWNER),
        details=_details,
        help="Läkemedelsordinationer, förskrivningar och administreringar hos vårdgivare i sammanhållen "
             "journalföring, med läkemedlets kod (till exempel ATC eller NPL-id) som vårdgivaren angett. Varje "
             "ändring i en ordinationskedja är en egen rad; den aktiva är den senaste. Läkemedel kan vara undantagna "
             "från patientens spärr och visas då ändå. Uttag på apotek (Läkemedelsförteckningen) och egenvård "
             "ingår inte.",
    ))
