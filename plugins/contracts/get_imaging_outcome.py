"""GetImagingOutcome 1.0 (clinicalprocess:healthcond:actoutcome): radiology reports.

The report text (producer text: data, never markup), the examinations with their times, modality,
DICOM objects and image references, the radiation dose, and the referral. A reference is a link only
where it is http(s); anything else is shown as text."""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import Markup

from npo_core import InformationView, hookimpl, riv
from npo_core.riv import CV, II, ORG_UNIT, PERIOD, PQ, codes, views

PROFESSIONAL = (("authorTime", "author_time", "ts"), ("healthcareProfessionalHSAId", "hsa_id", "str"),
                ("healthcareProfessionalName", "name", "str"), ("healthcareProfessionalRoleCode", "role", CV),
                ("healthcareProfessionalOrgUnit", "org_unit", ORG_UNIT),
                ("healthcareProfessionalCareUnitHSAId", "care_unit_id", "str"),
                ("healthcareProfessionalCareGiverHSAId", "care_giver_id", "str"))
SIGNATURE = (("signatureTime", "time", "ts"), ("legalAuthenticatorHSAId", "hsa_id", "str"),
             ("legalAuthenticatorName", "name", "str"), ("legalAuthenticatorRoleCode", "role", CV))
MODALITY = (("typeOfModality", "type", "str"), ("manufacturer", "manufacturer", "str"), ("modelName", "model", "str"),
            ("equipmentId", "equipment_id", "str"), ("softwareVersion", "software_version", "str"),
            ("lineFilter", "line_filter", PQ))
DICOM = (("dicomSOP", "sop", "str"), ("dicomValue", "value", "str"), ("dicomReference", "reference", "str"))
IMAGE = (("mediaType", "media_type", "str"), ("value", "value", "str"), ("reference", "reference", "str"),
         ("burnedInaAnnotations", "burned_in_annotations", "bool"))
STRUCTURED = (("aperture", "aperture", PQ), ("exposureTime", "exposure_time", PQ),
              ("imageCreationTime", "created", "ts"), ("bodyPartExamined", "body_part", CV),
              ("contrastAgentUsed", "contrast_agent", "str"), ("magneticFieldStrength", "field_strength", PQ),
              ("copyright", "copyright", "str"), ("imageData", "image", IMAGE))
RECORDING = (("recordingId", "id", II), ("examinationActivity", "activity", CV),
             ("examinationTimePeriod", "period", PERIOD), ("examinationStatus", "status", "str"),
             ("examinationUnit", "unit", "str"), ("accountableHealthcareProfessional", "professional", PROFESSIONAL),
             ("numberOfImages", "images", "int"), ("modalityData", "modality", MODALITY),
             ("imageDicomData", "dicom", [DICOM]), ("imageStructuredData", "structured", [STRUCTURED]))
REFERRAL = (("referralId", "id", "str"), ("referralReason", "reason", "str"), ("anamnesis", "anamnesis", "str"),
            ("careContactId", "care_contact_id", "str"),
            ("accountableHealthcareProfessional", "requester", PROFESSIONAL), ("attested", "attested", SIGNATURE))
CORE = "urn:riv:clinicalprocess:healthcond:actoutcome:3"
NAME = {p: riv.element_path(CORE, RECORDING, p) for p in ("activity.displayName", "activity.originalText")}
RESULT_TYPES = {"DEF": "Definitivt svar", "PREL": "Preliminärt svar", "TILL": "Tilläggssvar"}


class GetImagingOutcome(riv.PatientSummaryContract):
    name = "GetImagingOutcome"
    version = "1.0"
    service_domain = "clinicalprocess:healthcond:actoutcome"
    categorization = "und-bdi-ure"
    title = "Bilddiagnostik"
    core_namespace = CORE
    record_element, header_element, body_element = "imagingOutcome", "imagingOutcomeHeader", "imagingOutcomeBody"
    body = (("examinationSpeciality", "speciality", CV), ("typeOfResult", "result_type", "str"),
            ("resultTime", "result_time", "ts"), ("resultReport", "report", "str"), ("resultComment", "comment", "str"),
            ("radiationDose", "doses", [PQ]),
            ("patientData", "patient", (("patientWeight", "weight", PQ), ("patientLength", "length", PQ))),
            ("imageRecording", "examinations", [RECORDING]), ("referral", "referral", REFERRAL))
    period_tag = "datePeriod"
    untitled = "Bilddiagnostik"

    def title_of(self, peek: riv.Peek) -> str | None:
        """The examinations by name, in the answer's order."""
        recordings = () if peek.body is None else peek.body.iterfind(self.c("imageRecording"))
        return " + ".join(filter(None, (riv.Peek(r, NAME).first(NAME) for r in recordings))) or None


# -- the view ----------------------------------------------------------------------------------


def _answer(r) -> str:
    kind = r.detail.get("result_type")
    return "Makulerat" if r.nullified else RESULT_TYPES.get(kind, kind or "–")


def _excerpt(text: str | None, length: int = 90) -> str:
    """The conclusion if the report states one, else the report's beginning."""
    if not text:
        return "–"
    text = text.rsplit("Bedömning:", 1)[-1].strip() if "Bedömning:" in text else " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def link(url: str | None) -> Markup | None:
    """An http(s) reference as a link, built here from escaped text; None for any other (javascript:, data:,
    a relative path), which the view shows as text, escaped like every value."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url) if url.isprintable() else None
    except ValueError:  # an unreadable host: text
        return None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url)


def _referring(text: str, url: str | None) -> str:
    """`text: reference`, the reference a link where it may be one."""
    if not url:
        return text
    found = link(url)
    return Markup("{}: {}").format(text, found) if found else f"{text}: {url}"


def _dicom(x: dict) -> str:
    return _referring(" ".join(filter(None, ("DICOM-objekt", x.get("sop"), x.get("value") and "(inbäddat)"))),
                      x.get("reference"))


def _image(x: dict) -> str:
    image = x.get("image") or {}
    facts = (codes.term(x.get("body_part"), ""), x.get("contrast_agent") and f"kontrast: {x['contrast_agent']}",
             x.get("created") and views.date_text(x["created"]), image.get("media_type"),
             image.get("value") and "inbäddad", x.get("copyright") and f"© {x['copyright']}")
    return _referring(", ".join(filter(None, facts)) or "Bild", image.get("reference"))


def _details(r) -> list[tuple[str, str]]:
    d, header = r.detail, r.detail.get("header") or {}
    referral = d.get("referral") or {}
    rows = [("Utlåtande", d.get("report")), ("Kommentar", d.get("comment")),
            ("Makuleringsorsak", header.get("nullified_reason") if r.nullified else None),
            ("Frågeställning", referral.get("reason")), ("Anamnes", referral.get("anamnesis")),
            ("Remittent", (referral.get("requester") or {}).get("name"))]
    for e in d.get("examinations") or []:
        activity, name = e.get("activity") or {}, codes.term(e.get("activity"), "Undersökning")
        facts = (activity.get("code") and codes.coded(activity), (e.get("modality") or {}).get("type"), e.get("unit"),
                 e.get("images") and f"{e['images']} bilder", e.get("status"))
        rows += [(name, ", ".join(filter(None, facts)) or "–"),
                 *((f"{name}, DICOM", _dicom(x)) for x in e.get("dicom", [])),
                 *((f"{name}, bild", _image(x)) for x in e.get("structured", []))]
    doses = [f"{dose['value']:g} {dose.get('unit') or ''}".replace(".", ",").strip()
             for dose in d.get("doses") or [] if dose.get("value") is not None]
    rows += [("Stråldos", ", ".join(doses)), ("Specialitet", codes.term(d.get("speciality"), "")),
             ("Signerat av", (header.get("signature") or {}).get("name"))]
    return [(label, value) for label, value in rows if value]


@hookimpl
def register_contracts(register):
    register(GetImagingOutcome())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="bilddiagnostik", title="Bilddiagnostik", categorizations=("und-bdi-ure",), order=50,
        columns=(("Datum", views.date), ("Undersökning", views.title), ("Svar", _answer),
                 ("Bedömning", lambda r: _excerpt(r.detail.get("report"))), *views.OWNER),
        details=_details,
        help="Röntgen-, DT-, MR- och ultraljudssvar från röntgenavdelningarnas system, med radiologens utlåtande. "
             "Bilderna visas inte här. Ett preliminärt svar kan ersättas av ett definitivt svar eller ett "
             "tilläggssvar.",
    ))
