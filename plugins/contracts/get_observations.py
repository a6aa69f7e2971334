"""GetObservations 1.1 (clinicalprocess:healthcond:basic): structured observations (blood pressure, weight, ...).

A grouped contract (npo_core.riv.grouped): `observationGroup*`, each the patient, performer role, signer,
participants and source system, then `observation+`. One record per observation, so that each is dated and
compared with blocks on its own: the group says who and where, the observation what and when.
"""

from __future__ import annotations

from npo_core import InformationView, Record, hookimpl, riv, status_words
from npo_core.riv import II, PQ, grouped, views

CV, PARTIAL, PARTIAL_PERIOD = grouped.CV, grouped.PARTIAL, grouped.PARTIAL_PERIOD
RESPONDER = "urn:riv:clinicalprocess:healthcond:basic:GetObservationsResponder:1"
VALUE = (("pq", "pq", PQ), ("ts", "ts", PARTIAL), ("ivl_ts", "ivl_ts", PARTIAL_PERIOD), ("cv", "cv", CV))


class GetObservations(riv.GroupedContract):
    name, version, service_domain = "GetObservations", "1.1", "clinicalprocess:healthcond:basic"
    categorization = "chb-o"  # as SKLTP's aggregating GetAggregatedObservations asks the engagement index
    title = "Observationer"
    record_element, body_element = "observationGroup", "observation"
    group = (("patient", "patient", (("id", "id", II), ("name", "name", "str"), ("dateOfBirth", "date_of_birth", "str"),
                                     ("gender", "gender", CV))),
             grouped.PERFORMER_ROLE, grouped.LEGAL_AUTHENTICATOR, grouped.PARTICIPANTS, grouped.SOURCE_SYSTEM)
    body = (grouped.MEMBER_ID, ("type", "type", CV), ("status", "status", CV), grouped.TIME, ("method", "method", CV),
            ("value", "value", VALUE), ("targetSite", "target_site", CV), ("valueNegation", "value_negation", "bool"),
            ("description", "description", "str"), grouped.APPROVED, grouped.REGISTERED, grouped.RELATIONS)
    request = (("patientId", "patient", II), ("time", "time", riv.PERIOD),
               ("observationType", "observation_type", [CV]), ("observationId", "observation_id", [II]),
               ("careGiverId", "care_giver", II), ("careUnitId", "care_unit", II),
               ("interactionAgreementId", "interaction_agreement_id", "str"),
               ("sourceSystemHSAId", "source_system", "str"), grouped.REQUEST_RELATION)
    owner = {**riv.GroupedContract.owner, "care_provider_name": "performer_role.care_unit.care_giver.name"}
    title_from = ("type.displayName", "type.code")
    untitled = "Observation"


def value_text(r: Record) -> str:
    """The observed value as measured: "132 mm[Hg]", a coded finding, a time or a period; negated ones say so."""
    v = r.detail.get("value") or {}
    pq, period, partial = v.get("pq") or {}, v.get("ivl_ts") or {}, grouped.partial_text
    text = (f"{pq['value']:g}".replace(".", ",") + f" {pq.get('unit') or ''}".rstrip() if "value" in pq
            else riv.codes.term(v["cv"]) if v.get("cv") else partial(v["ts"]) if v.get("ts")
            else f"{partial(period.get('start'))} – {partial(period.get('end'))}" if period else "")
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
    rows = [("Tid", grouped.when(r)), ("Värde", value_text(r)), ("Status", status_words(r.detail.get("status"))),
            ("Metod", coded("method")(r)), ("Lokalisation", coded("target_site")(r)),
            ("Beskrivning", views.field("description")(r)), ("Utförd av", grouped.performed_by(r)),
            ("Registrerad", views.date_text(r.detail.get("registration_time"))), ("Signerad", grouped.signed(r)),
            ("Kan visas för patienten", views.yes_no(r.detail.get("approved_for_patient")))]
    for p in (r.detail.get("group") or {}).get("additional_participant") or []:
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
        labels={"type": {"chb-o": "Observationer"}},
        columns=(("Datum", views.date), ("Observation", views.title), ("Värde", value_text),
                 ("Kod", views.code("type")), *views.OWNER),
        details=_details,
        help="Mätvärden och andra observationer som vårdgivare har registrerat, till exempel blodtryck, vikt och puls, "
             "med det kodverk (till exempel SNOMED CT) som vårdgivaren angett. Värden som patienten mätt själv "
             "hemma finns med bara om en vårdgivare har registrerat dem.",
    ))
