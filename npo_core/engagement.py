"""Finding producers: the engagement index (EI) FindContent 1.0, or the registry's own index.

Either way only source systems present in the registry for the environment are called,
so a producer an operator removed is never asked, whatever an index says.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from lxml import etree

from . import soap
from .errors import ContractError
from .identity import PatientId, normalise_hsa_id

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


class EngagementIndex:
    """Per read: one FindContent per service domain, asked in parallel, then matched to contracts."""

    def __init__(self, core):
        self.core = core

    async def lookup(self, env, producers: dict, patient: PatientId, contracts,
                     request_id: str) -> tuple[dict, list, list]:
        """({contract id: [SourceSystem]}, [(service domain, error message)], [(contract id, Engagement)]).

        `producers`: the registry's source systems by contract (`Registry.sources_by_contract`). The third
        list holds what the index lists but the registry does not know for the contract: those producers
        are not called, and the read says so instead of leaving their records silently out."""
        registered = {c.id: {s.logical_address: s for s in producers.get(c.id, [])} for c in contracts}
        if not env.engagement_index:  # the registry's own index: every registered producer of the contract
            return {cid: list(sources.values()) for cid, sources in registered.items()}, [], []
        domains = sorted({domain_uri(c) for c in contracts})
        answers = await asyncio.gather(*(self._find(env, patient, d, request_id) for d in domains),
                                       return_exceptions=True)
        found: dict[str, list[Engagement]] = {}
        failures = []
        for domain, answer in zip(domains, answers):
            if isinstance(answer, ContractError):
                failures.append((domain, answer.message))
                continue
            if isinstance(answer, BaseException):
                raise answer
            found[domain] = [e for e in answer if e.patient_id == patient.id]
        result, unknown = {}, []
        for contract in contracts:
            hits = [e for e in found.get(domain_uri(contract), []) if e.categorization in contract.categorizations]
            controllers: dict[str, set[str]] = {}
            for e in hits:
                controllers.setdefault(e.logical_address, set()).update(
                    c for c in (normalise_hsa_id(e.data_controller),) if c)
            known = registered[contract.id]
            result[contract.id] = [replace(known[a], data_controllers=tuple(sorted(cs)))
                                   for a, cs in controllers.items() if a in known]
            unknown.extend((contract.id, e) for e in {e.logical_address: e for e in hits}.values()
                           if e.logical_address not in known)
        return result, failures, unknown

    async def _find(self, env, patient: PatientId, domain: str, request_id: str) -> list[Engagement]:
        if not env.base_url:
            raise ContractError("Miljön saknar adress till tjänsteplattformen.", code="no_platform")
        data = await soap.call(self.core.http, f"{env.base_url.rstrip('/')}/{SERVICE_PATH}", soap_action=SOAP_ACTION,
                               logical_address=env.engagement_index, payload=find_content_request(patient, domain),
                               consumer_hsa_id=env.npo_hsa_id,
                               timeouts=soap.Timeouts(env.connect_timeout, env.read_timeout),
                               correlation_id=request_id)
        return parse_find_content_response(soap.unwrap(soap.parse_xml(data))[0])
