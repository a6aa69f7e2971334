"""The engagement index (EI) FindContent 1.0: its request and answer, for npo asking it (`fetch.py`) and for
the demo platform answering it."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .errors import ContractError
from .identity import PatientId

NS = "urn:riv:itintegration:engagementindex:FindContentResponder:1"
CORE = "urn:riv:itintegration:engagementindex:1"
SOAP_ACTION = f"{NS}:FindContent"
SERVICE_PATH = "itintegration/engagementindex/FindContent/1/rivtabp21"
SCHEMA = "itintegration_engagementindex/interactions/FindContentInteraction/FindContentResponder_1.0.xsd"
WSDL = "itintegration_engagementindex/interactions/FindContentInteraction/FindContentInteraction_1.0_RIVTABP21.wsdl"


@dataclass(frozen=True)
class Engagement:
    patient_id: str
    service_domain: str
    categorization: str
    logical_address: str
    source_system: str
    data_controller: str
    owner: str | None = None
    most_recent_content: str | None = None


def find_content_request(patient: PatientId, service_domain: str, categorization: str | None = None) -> etree._Element:
    req = etree.Element(f"{{{NS}}}FindContent", nsmap={None: NS})
    etree.SubElement(req, f"{{{NS}}}registeredResidentIdentification").text = patient.id
    etree.SubElement(req, f"{{{NS}}}serviceDomain").text = service_domain
    if categorization:
        etree.SubElement(req, f"{{{NS}}}categorization").text = categorization
    return req


def parse_find_content_request(payload: etree._Element) -> tuple[str, str, str | None]:
    return (payload.findtext(f"{{{NS}}}registeredResidentIdentification", "").strip(),
            payload.findtext(f"{{{NS}}}serviceDomain", "").strip(),
            (payload.findtext(f"{{{NS}}}categorization") or "").strip() or None)


def find_content_response(engagements: list[Engagement]) -> etree._Element:
    resp = etree.Element(f"{{{NS}}}FindContentResponse", nsmap={None: NS, "ei": CORE})
    for e in engagements:
        el = etree.SubElement(resp, f"{{{NS}}}engagement")
        for tag, value in (("registeredResidentIdentification", e.patient_id), ("serviceDomain", e.service_domain),
                           ("categorization", e.categorization), ("logicalAddress", e.logical_address),
                           ("businessObjectInstanceIdentifier", "NA"), ("clinicalProcessInterestId", "NA"),
                           ("mostRecentContent", e.most_recent_content), ("sourceSystem", e.source_system),
                           ("dataController", e.data_controller), ("owner", e.owner)):
            if value is not None:
                etree.SubElement(el, f"{{{CORE}}}{tag}").text = value
    return resp


def parse_find_content_response(payload: etree._Element) -> list[Engagement]:
    if payload.tag != f"{{{NS}}}FindContentResponse":
        raise ContractError(f"The engagement index answered with {payload.tag}.", code="wrong_response")
    out = []
    for el in payload.iterfind(f"{{{NS}}}engagement"):
        get = lambda tag: (el.findtext(f"{{{CORE}}}{tag}") or "").strip() or None  # noqa: E731
        out.append(Engagement(get("registeredResidentIdentification") or "", get("serviceDomain") or "",
                              get("categorization") or "", get("logicalAddress") or "", get("sourceSystem") or "",
                              get("dataController") or "", get("owner"), get("mostRecentContent")))
    return out


def domain_uri(contract) -> str:
    return f"riv:{contract.service_domain}"
