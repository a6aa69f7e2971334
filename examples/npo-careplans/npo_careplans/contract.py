"""GetCarePlans 2.0 (clinicalprocess:logistics:logistics): vårdplaner, e.g. SIP and rehabiliteringsplaner.

A declaration on npo's RIV-TA codec (npo_core.riv): from the names, elements and the body's field
spec below the core derives the request, the answer, the records and the demo producer's side.
The responder schema is GetCarePlansResponder_2.0.xsd in the official RIV-TA bundle; its types come
from the logistics core schema version 3.
"""

from __future__ import annotations

from npo_core import riv

# typeOfCarePlanEnum, with the names the enumeration's documentation gives them.
PLAN_TYPES = {
    "SIP": "Samordnad individuell plan",
    "SPLPTLRV": "Samordnad plan enligt LPT och LRV",
    "SPU": "Samordnad plan vid utskrivning",
    "VP": "Vårdplan",
    "HP": "Habiliteringsplan",
    "RP": "Rehabiliteringsplan",
    "GP": "Genomförandeplan",
    "SVP": "Standardiserad vårdplan",
}


class GetCarePlans(riv.PatientSummaryContract):
    name = "GetCarePlans"
    version = "2.0"
    service_domain = "clinicalprocess:logistics:logistics"
    categorization = "cll-cp"
    title = "Vårdplaner"
    # the responder's types come from the logistics core 3, not from the core of its own major (2)
    core_namespace = "urn:riv:clinicalprocess:logistics:logistics:3"
    # the official WSDL's SOAPAction leaves out the second "logistics"; producers expect the WSDL's
    soap_action = "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans"
    record_element, header_element, body_element = "carePlan", "carePlanHeader", "carePlanBody"
    period_tag = "datePeriod"
    body = (("content", "content", [riv.MULTIMEDIA]),
            ("participatingCareUnitHSAId", "participants", [riv.II]),
            ("typeOfCarePlanEnum", "type", "str"))
    title_from = ("type",)  # peeked for every record: title_of names an untitled plan by it
    untitled = "Vårdplan"
    demo_content = "npo_careplans.demo:records"

    def title_of(self, peek: riv.Peek) -> str | None:
        """The header's documentTitle, as for every record; a plan without one is named by its type."""
        title = f"{self.c(self.header_element)}/{self.c('documentTitle')}"
        if peek.body is not None and riv.text(peek.body.getparent().find(title)):
            return None  # the core takes the header's
        return PLAN_TYPES.get(peek("type") or "")

    def render_response(self, records, query):
        """This domain's header has careContactId after nullified and nullifiedReason, last."""
        answer = super().render_response(records, query)
        for contact in answer.findall(f"*/{self.c(self.header_element)}/{self.c('careContactId')}"):
            contact.getparent().append(contact)
        return answer
