"""A demo service platform (tjänsteplattform): real RIV-TA SOAP endpoints on the wire.

It routes every request on its LogicalAddress header to a demo producer, which answers
with records the contract plugin invents for the demo patients (`Contract.demo_records`)
and serialises with the plugin's own `render_response`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from aiohttp import web

from .. import soap
from ..contract import Contract
from ..errors import ContractError, NpoError
from .. import engagement
from ..registry import NATIONAL_EI
from . import PROVIDERS, demo_source, provider_of

log = logging.getLogger("npo.demo")


class DemoProducers:
    def __init__(self, contracts: dict[str, Contract], today: dt.date | None = None):
        self.by_path = {c.service_path: c for c in contracts.values()}
        self.today = today

    @functools.lru_cache(maxsize=512)
    def records(self, contract_id: str, logical_address: str, patient_id: str):
        contract = next(c for c in self.by_path.values() if c.id == contract_id)
        source = demo_source(patient_id, logical_address, contract_id, self.today)
        return tuple(contract.demo_records(source)) if source else ()

    def answer(self, contract: Contract, body: bytes) -> bytes:
        payload, address = soap.unwrap(soap.parse_xml(body))
        if payload.tag != contract.q(contract.name):
            raise ContractError(f"Expected {contract.name} in the body, got {payload.tag}.", code="wrong_request")
        if not address:
            raise ContractError("VP002 The LogicalAddress header is missing.", code="no_logical_address")
        if provider_of(address) is None:
            raise ContractError(f"VP004 No receiver is registered for logical address {address}.",
                                code="unknown_address")
        query = contract.parse_request(payload)
        records = list(self.records(contract.id, address, query.patient.id))
        response = contract.render_response(records, query)
        return soap.envelope(response)


    def find_content(self, body: bytes) -> bytes:
        """The demo engagement index: one engagement per source system and categorization with data."""
        payload, address = soap.unwrap(soap.parse_xml(body))
        if address != NATIONAL_EI:
            raise ContractError(f"VP004 No engagement index at logical address {address}.", code="unknown_address")
        patient_id, domain, categorization = engagement.parse_find_content_request(payload)
        found = set()
        for contract in self.by_path.values():
            if engagement.domain_uri(contract) != domain:
                continue
            for provider in PROVIDERS:
                address = provider[4][0]
                for record in self.records(contract.id, address, patient_id):
                    if categorization in (None, record.information_type):
                        found.add((record.information_type, address, provider[0]))
        return soap.envelope(engagement.find_content_response([
            engagement.Engagement(patient_id, domain, cat, address, address, owner.split("-")[0][2:], owner)
            for cat, address, owner in sorted(found)]))


def make_platform(contracts: dict[str, Contract], today: dt.date | None = None) -> web.Application:
    producers = DemoProducers(contracts, today)

    async def handle(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        contract = producers.by_path.get(path)
        if contract is None and path != engagement.SERVICE_PATH:
            return web.Response(status=404, text="No such service on the demo platform.")
        try:
            body = await request.read()
            xml = producers.answer(contract, body) if contract else producers.find_content(body)
        except (ContractError, NpoError) as e:
            return web.Response(status=500, body=soap.fault_envelope(e.message), content_type="text/xml",
                                charset="utf-8")
        return web.Response(body=xml, content_type="text/xml", charset="utf-8")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/vp/{path:.+}", handle)
    return app
