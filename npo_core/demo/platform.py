"""A demo service platform (tjänsteplattform): real RIV-TA SOAP endpoints on the wire.

It routes every request on its LogicalAddress header to a demo producer, which answers
with records the contract plugin invents for the demo patients (`Contract.demo_records`)
and serialises with the plugin's own `render_response`. `npo demo` serves it in a process of
its own (`npo demo-platform`), so what the demo measures is npo, not the producers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import threading
from collections import OrderedDict

from aiohttp import web
from lxml import etree

from .. import soap
from ..contract import Contract
from ..errors import ContractError, NpoError
from .. import engagement
from ..registry import NATIONAL_EI
from . import PATIENTS, PROVIDERS, ROUTED_MAJORS, demo_source, provider_of

log = logging.getLogger("npo.demo")


ANSWER_CACHE_BYTES = 512 * 1024 * 1024  # serialised answers kept, in all


class AnswerCache:
    """Serialised answers, bounded in bytes, the least recently used dropped first.

    A remote producer answers a repeated request at the cost of I/O; so does the demo, instead of
    generating and serialising a heavy patient's answer again. An answer larger than a quarter of the
    bound is not kept (it would push out everything else). Thread-safe: answers are made in workers."""

    def __init__(self, limit: int = ANSWER_CACHE_BYTES):
        self.limit, self.largest = limit, limit // 4
        self.size = 0
        self._answers: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key, answer: bytes) -> None:
        if len(answer) > self.largest:
            return
        with self._lock:
            old = self._answers.pop(key, None)
            self.size += len(answer) - (len(old) if old is not None else 0)
            self._answers[key] = answer
            while self.size > self.limit:
                _, dropped = self._answers.popitem(last=False)
                self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._answers)


def _hashable(key) -> bool:
    """A plugin's own Query subclass may hold a list: its answers are simply not cached."""
    try:
        hash(key)
    except TypeError:
        return False
    return True


class DemoProducers:
    def __init__(self, contracts: dict[str, Contract], today: dt.date | None = None,
                 cache_bytes: int = ANSWER_CACHE_BYTES, routed: dict = ROUTED_MAJORS):
        self.by_path = {c.service_path: c for c in contracts.values()}
        self.today = today
        self.routed = routed  # (address, contract name) -> the majors routed there, where not every one
        self.answers = AnswerCache(cache_bytes)

    def _cached(self, key, make) -> bytes:
        """The answer for `key`, made once (errors are raised, never kept)."""
        if not _hashable(key):
            return make()
        answer = self.answers.get(key)
        if answer is None:
            answer = make()
            self.answers.put(key, answer)
        return answer

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
        if contract.major not in self.routed.get((address, contract.name), (contract.major,)):
            raise ContractError(f"VP007 Authorization missing for {contract.name} {contract.major} at {address}.",
                                code="unsupported")
        query = contract.parse_request(payload)

        def make() -> bytes:
            records = list(self.records(contract.id, address, query.patient.id))
            return soap.envelope(contract.render_response(records, query))

        return self._cached((contract.id, address, query), make)

    def warm(self) -> None:
        """Every demo patient's answers and index entries made once, before the first clinician asks: the
        index lists what every contract holds, so its first answer for Linda would otherwise generate all
        her records while npo waits (longer than the demo's read timeout on a loaded machine)."""
        from ..contract import Query
        from ..identity import parse_patient_id

        for pid in PATIENTS:
            patient = parse_patient_id(pid)
            for contract in self.by_path.values():
                for provider in PROVIDERS:
                    address = provider[4][0]
                    if contract.major in self.routed.get((address, contract.name), (contract.major,)):
                        self.answer(contract, soap.envelope(contract.build_request(Query(patient)), address))
            for domain in sorted({engagement.domain_uri(c) for c in self.by_path.values()}):
                self.find_content(soap.envelope(engagement.find_content_request(patient, domain), NATIONAL_EI))

    def find_content(self, body: bytes) -> bytes:
        """The demo engagement index: one engagement per source system and categorization with data."""
        payload, address = soap.unwrap(soap.parse_xml(body))
        if address != NATIONAL_EI:
            raise ContractError(f"VP004 No engagement index at logical address {address}.", code="unknown_address")
        request = engagement.parse_find_content_request(payload)
        return self._cached((engagement.SERVICE_PATH, address, request), lambda: self._find_content(*request))

    def _find_content(self, patient_id: str, domain: str, categorization: str | None) -> bytes:
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
            engagement.Engagement(patient_id, domain, cat, address, address, owner, owner)  # the care provider
            for cat, address, owner in sorted(found)]))


FAULTS = ("slow", "reset", "http500", "soap_fault", "malformed", "wrong_namespace", "schema_invalid",
          "oversize", "entities", "redirect", "result_error", "foreign_elements")

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;'
                  b'&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>')


def _mangle(xml: bytes, contract: Contract, fault: str) -> bytes:
    if fault == "malformed":
        return xml[: len(xml) // 2]
    if fault == "wrong_namespace":
        return xml.replace(contract.responder_namespace.encode(), b"urn:riv:wrong:namespace:1")
    if fault == "schema_invalid":  # an element the schema does not allow, first in the response
        payload, _ = soap.unwrap(soap.parse_xml(xml))
        payload.insert(0, etree.Element(contract.q("unexpectedElement")))
        return soap.envelope(payload)
    if fault == "result_error":  # ERROR with the producer's own errorCode, logId and text
        payload, _ = soap.unwrap(soap.parse_xml(xml))
        result = payload.find(contract.q("result"))
        if result is not None:
            core = etree.QName(result[0]).namespace if len(result) else contract.responder_namespace
            for child in list(result):
                result.remove(child)
            for tag, text in (("resultCode", "ERROR"), ("errorCode", "APPLICATION_ERROR"),
                              ("logId", "9f0c2a6e-0d1b-4c55-9a43-demo00000001"),
                              ("message", "Journalsystemet är under underhåll. Försök igen senare.")):
                etree.SubElement(result, f"{{{core}}}{tag}").text = text
        return soap.envelope(payload)
    if fault == "foreign_elements":  # what real producers send through the schema's xs:any ##other
        payload, _ = soap.unwrap(soap.parse_xml(xml))
        records = [c for c in payload if etree.QName(c).localname == contract.record_element]
        if records:  # the first record in another namespace, and an element no version of the contract has
            records[0].tag = f"{{urn:riv:producer:extension:1}}{contract.record_element}"
        payload.insert(0, etree.Element("{urn:riv:producer:extension:1}producerStatistics"))
        return soap.envelope(payload)
    return xml


def make_platform(contracts: dict[str, Contract], today: dt.date | None = None, *, latency: float = 0.0,
                  faults: dict[str, str] | None = None, warm: bool = False) -> web.Application:
    """The platform; `latency` delays every answer, `faults` maps a logical address to a misbehaviour,
    `warm` makes every demo answer in the background as soon as it serves (`npo demo-platform` does)."""
    producers = DemoProducers(contracts, today)
    faults = dict(faults or {})
    unknown = set(faults.values()) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {', '.join(FAULTS)}")

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        contract = producers.by_path.get(path)
        if contract is None and path != engagement.SERVICE_PATH:
            return web.Response(status=404, text="No such service on the demo platform.")
        body = await request.read()
        if latency:
            await asyncio.sleep(latency)
        fault = faults.get(_address(body)) if contract and faults else None
        if fault:
            early = await _misbehave(request, fault)
            if early is not None:
                return early
        try:  # generating a heavy patient's answer is real work: keep the platform's loop free
            work = functools.partial(producers.answer, contract, body) if contract else \
                functools.partial(producers.find_content, body)
            xml = await asyncio.get_running_loop().run_in_executor(None, work)
        except (ContractError, NpoError) as e:
            return web.Response(status=500, body=soap.fault_envelope(e.message), content_type="text/xml",
                                charset="utf-8")
        return web.Response(body=_mangle(xml, contract, fault) if fault else xml, content_type="text/xml",
                            charset="utf-8")

    async def warm_up(app: web.Application) -> None:  # it serves meanwhile, and a stop does not wait for it
        threading.Thread(target=producers.warm, name="demo-warm-up", daemon=True).start()

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/vp/{path:.+}", handle)
    if warm:
        app.on_startup.append(warm_up)
    return app


def _address(body: bytes) -> str | None:
    try:
        return soap.unwrap(soap.parse_xml(body))[1]
    except ContractError:
        return None


async def _misbehave(request: web.Request, fault: str) -> web.StreamResponse | None:
    """Faults that replace the answer; None for those that mangle a real one."""
    if fault == "slow":
        await asyncio.sleep(3600)
    if fault == "http500":
        return web.Response(status=500, text="<html><body>Internal Server Error</body></html>",
                            content_type="text/html")
    if fault == "soap_fault":
        return web.Response(status=500, body=soap.fault_envelope("Producer failure: Invalid Id"),
                            content_type="text/xml")
    if fault == "entities":
        return web.Response(body=BILLION_LAUGHS, content_type="text/xml")
    if fault == "redirect":  # a consumer that followed it would re-send the patient and its headers elsewhere
        raise web.HTTPTemporaryRedirect("http://127.0.0.1:9/elsewhere")
    if fault in ("reset", "oversize"):
        resp = web.StreamResponse(headers={"Content-Type": "text/xml"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">')
        if fault == "reset":
            request.transport.close()
            return resp
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(soap.MAX_BODY_BYTES // len(chunk) + 2):
                await resp.write(chunk)
            await resp.write_eof()
        except ConnectionError:  # the consumer stopped reading at its limit, as it should
            pass
        return resp
    return None
