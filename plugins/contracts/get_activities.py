"""GetActivities 1.0 (clinicalprocess:activity:actions): activities and procedures (åtgärder), as coded.

A grouped contract (npo_core.riv.grouped): `activityGroup*`, each the patient, performer, signer,
participants, source system, devices and location, then `activity+`. One record per activity: the group
says who and where, the activity what and when.
"""

from __future__ import annotations

from npo_core import InformationView, Record, hookimpl, riv, status_words
from npo_core.riv import II, grouped, views

CV = grouped.CV  # this domain's CVType has no originalText
RESPONDER = "urn:riv:clinicalprocess:activity:actions:GetActivitiesResponder:1"


class GetActivities(riv.GroupedContract):
    name, version, service_domain = "GetActivities", "1.0", "clinicalprocess:activity:actions"
    categorization = "caa-ga"  # the domain's TKB: first letters of the domain and of the contract's name
    title = "Åtgärder"
    record_element, body_element = "activityGroup", "activity"
    group = (("patient", "patient", (("id", "id", II), ("dateOfBirth", "date_of_birth", "str"),
                                     ("gender", "gender", CV))),
             grouped.PERFORMER_ROLE, grouped.LEGAL_AUTHENTICATOR, grouped.PARTICIPANTS,
             grouped.SOURCE_SYSTEM, ("device", "device", [grouped.DEVICE]),
             ("location", "location", grouped.LOCATION), ("careProcessId", "care_process_id", "str"))
    body = (grouped.MEMBER_ID, ("status", "status", CV), ("code", "code", CV), ("targetSite", "target_site", CV),
            grouped.TIME, ("method", "method", CV), ("description", "description", "str"),
            grouped.APPROVED, grouped.REGISTERED, grouped.RELATIONS)
    request = (("patientId", "patient", II), ("time", "time", riv.PERIOD), ("activityCode", "activity_code", [CV]),
               ("activityId", "activity_id", [II]), ("careGiverId", "care_giver", II), ("careUnitId", "care_unit", II),
               ("interactionAgreementId", "interaction_agreement_id", "str"), ("sourceSystemId", "source_system", II),
               grouped.REQUEST_RELATION)
    title_from = ("code.displayName", "code.code")
    untitled = "Åtgärd"


def _details(record: Record) -> list[tuple[str, str]]:
    group = record.detail.get("group") or {}
    return [("Tid", grouped.when(record)), ("Metod", views.code("method")(record)),
            ("Beskrivning", views.field("description")(record)), ("Utförd av", grouped.performed_by(record)),
            ("Plats", (group.get("location") or {}).get("name") or views.DASH),
            ("Registrerad", views.date_text(record.detail.get("registration_time"))),
            ("Signerad", grouped.signed(record)),
            ("Kan visas för patienten", views.yes_no(record.detail.get("approved_for_patient")))]


@hookimpl
def register_contracts(register):
    register(GetActivities())


@hookimpl
def register_views(register):
    register(InformationView(
        slug="atgarder", title="Åtgärder", categorizations=("caa-ga",), order=72,
        labels={"type": {"caa-ga": "Åtgärder"}},
        columns=(("Datum", views.date), ("Åtgärd", views.title), ("Kod", views.code("code")),
                 ("Status", lambda r: status_words(r.detail.get("status"))), ("Lokalisation", views.words("target_site")), *views.OWNER),
        details=_details,
        help="Aktiviteter och åtgärder som vårdgivare har dokumenterat, till exempel undersökningar, provtagningar "
             "och behandlingar, med det kodverk (till exempel KVÅ eller SNOMED CT) som vårdgivaren angett. Resultatet "
             "av en undersökning står i svaret, till exempel bland laboratorie- eller röntgensvaren.",
    ))
