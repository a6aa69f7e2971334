"""GetFunctionalStatus 2.0 (clinicalprocess:healthcond:description): funktionstillstånd and PADL.

One contract, two engagement-index categorizations: "fun-fun" (a disability assessment, ICF coded)
and "pad-pad" (a PADL assessment). Each record's `information_type` is its body's assessmentCategory.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from npo_core import InformationView, Record, hookimpl, riv
from npo_core.riv import CV, codes, views

FUN, PAD = "fun-fun", "pad-pad"
CATEGORY_NAMES = {FUN: "Funktionsnedsättning", PAD: "PADL"}


class GetFunctionalStatus(riv.PatientSummaryContract):
    name = "GetFunctionalStatus"
    version = "2.0"
    service_domain = "clinicalprocess:healthcond:description"
    categorization = FUN
    title = "Funktionstillstånd och ADL"
    record_element, header_element, body_element = ("functionalStatusAssessment", "functionalStatusAssessmentHeader",
                                                    "functionalStatusAssessmentBody")
    body = (("assessmentCategory", "category", "str"), ("comment", "comment", "str"),
            ("padl", "padl", [(("typeOfAssessment", "type", CV), ("assessment", "assessment", "str"))]),
            ("disability", "disability", (("disabilityAssessment", "assessment", CV), ("comment", "comment", "str"))))
    period_tag = "datePeriod"
    title_from = tuple(f"disability.assessment.{w}" for w in ("displayName", "originalText", "code"))
    untitled = "Funktionsnedsättning"

    @property
    def categorizations(self) -> tuple[str, ...]:
        return (FUN, PAD)

    @property
    def peeked(self) -> set[str]:
        return super().peeked | {"category"}

    def information_type_of(self, peek: riv.Peek) -> str:
        """The two forms: a PADL assessment, or (anything else) a disability assessment."""
        return PAD if peek("category") == PAD else FUN

    def title_of(self, peek: riv.Peek) -> str | None:
        return "PADL-bedömning" if self.information_type_of(peek) == PAD else super().title_of(peek)


def _details(r: Record) -> list[tuple[str, object]]:
    d = r.detail
    rows: list[tuple[str, object]] = []
    if d.get("padl"):
        rows.append(("Bedömning", Markup("<br>").join(
            escape(f"{codes.term(p.get('type')).capitalize()}: {p.get('assessment') or '–'}") for p in d["padl"])))
    if disability := d.get("disability"):
        assessment = disability.get("assessment") or {}
        rows += [("Nedsatt funktion", codes.term(assessment)),
                 ("Kod", codes.coded(assessment) if assessment.get("code") else "–"),
                 ("Beskrivning", disability.get("comment") or "–")]
    if d.get("comment"):
        rows.append(("Kommentar", d["comment"]))
    signature = (d.get("header") or {}).get("signature")
    rows.append(("Signerad", "Ja" if signature else "Nej, osignerad"))
    return rows


@hookimpl
def register_contracts(register):
    register(GetFunctionalStatus())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="funktionstillstand", title="Funktionstillstånd och ADL", categorizations=(FUN, PAD), order=60,
        columns=(("Datum", views.date), ("Kategori", lambda r: CATEGORY_NAMES.get(r.information_type, "–")),
                 ("Bedömning", views.title), *views.OWNER),
        details=_details,
        help="Bedömningar av funktionsnedsättning och av personlig ADL (PADL), med det kodverk (oftast ICF) som "
             "vårdgivaren angett, till exempel från rehabilitering och kommunal hälso- och sjukvård. Bedömningar som "
             "bara står i fritext i en anteckning saknas här.",
    ))
