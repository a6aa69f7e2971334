"""GetDiagnosis 2.0 (clinicalprocess:healthcond:description): diagnoses, coded as the producer codes them."""

from __future__ import annotations

from npo_core import InformationView, hookimpl, riv
from npo_core.riv import CV, views


class GetDiagnosis(riv.PatientSummaryContract):
    name = "GetDiagnosis"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = "dia"
    title = "Diagnoser"
    record_element, header_element, body_element = "diagnosis", "diagnosisHeader", "diagnosisBody"
    body = (("typeOfDiagnosis", "type", "str"), ("chronicDiagnosis", "chronic", "bool"),
            ("diagnosisTime", "time", "ts"), ("diagnosisCode", "code", CV),
            ("relatedDiagnosis", "related", [(("documentId", "document_id", "str"),)]))
    title_from = ("code.displayName", "code.originalText", "code.code")
    untitled = "Diagnos"


@hookimpl
def register_contracts(register):
    register(GetDiagnosis())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="diagnoser", title="Diagnoser", categorizations=("dia",), order=30,
        columns=(("Datum", views.date), ("Diagnos", views.title), ("Kod", views.code("code")),
                 ("Typ", views.field("type")), *views.OWNER),
        details=lambda r: [("Kronisk", views.yes_no(r.detail.get("chronic"))), ("Ansvarig", views.author(r))],
        help="Diagnoser som vårdgivare i sammanhållen journalföring har registrerat, oftast i regionernas "
             "journalsystem och i primärvården, med det kodverk (till exempel ICD-10-SE eller KSH97-P) som vårdgivaren "
             "angett. En diagnos som bara står i fritext i en anteckning saknas här.",
    ))
