"""A PatientSummary-family contract as a declaration: namespaces, elements, field specs, request tags.

From the declaration the core derives the whole wire side: the request and how a producer reads
it, the answer and how a producer writes it, and the records. A plugin overrides a method only for
what is truly its own (a DocBook note, two body forms, a code that nullifies a record).

Records are decided on their header alone. `read_header` takes the PDL decision's fields in one
pass; the title, time and block time come from a few declared body paths. Everything else, the
record's `detail`, is read from the element the first time a page or the JSON API asks for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import ClassVar

from lxml import etree

from ..contract import Answer, Contract, Query, Record
from ..errors import ContractError
from . import coverage
from . import header as hdr
from .spec import element_path, parse, render, sub


# what reading a body may raise on odd data (as npo_core.decoding treats a plugin's errors)
UNREADABLE = (ContractError, AttributeError, KeyError, TypeError, ValueError, IndexError)


class Detail(Mapping):
    """A record's contract fields, read from its answer the first time they are asked for.

    Holds its elements until then (and so the answer's tree, shared by the answer's records)."""

    __slots__ = ("_read", "_parts", "_data")

    def __init__(self, read, *parts):
        self._read, self._parts, self._data = read, parts, None

    def _load(self) -> dict:
        if self._data is None:
            try:
                self._data = self._read(*self._parts)
            except UNREADABLE as e:  # the record was decided and shown by its header: say what is missing
                self._data = {"unreadable": f"Postens innehåll kunde inte läsas ({type(e).__name__})."}
            self._parts = ()
        return self._data

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Detail({self._load()!r})"


def parts(record: etree._Element, header_tag: str, body_tag: str):
    """A record element's first header and first body (None where absent), in one pass over its children."""
    header = body = None
    for part in record:
        if part.tag == header_tag:
            header = part if header is None else header
        elif part.tag == body_tag:
            body = part if body is None else body
    return header, body


class Peek:
    """A body's declared values without reading the body: `peek("code.displayName")`."""

    __slots__ = ("body", "paths")

    def __init__(self, body: etree._Element | None, paths: dict[str, str]):
        self.body, self.paths = body, paths

    def __call__(self, key_path: str) -> str | None:
        if self.body is None:
            return None
        return hdr.text(self.body.find(self.paths[key_path])) or None

    def first(self, key_paths) -> str | None:
        for key_path in key_paths:
            if (value := self(key_path)) is not None:
                return value
        return None


class PatientSummaryContract(Contract):
    """The declaration. A subclass sets the class attributes; most need no method at all."""

    record_element: ClassVar[str]  # the answer's record, in the responder namespace: "diagnosis"
    header_element: ClassVar[str]  # in the core namespace: "diagnosisHeader"
    body_element: ClassVar[str]  # in the core namespace: "diagnosisBody"
    body: ClassVar[tuple] = ()  # the body's field spec (npo_core.riv.spec)
    # the request's tags, where a contract spells them its own way; giver_tag None: no care giver filter
    unit_tag: ClassVar[str] = "careUnitHSAId"
    giver_tag: ClassVar[str | None] = None
    period_tag: ClassVar[str] = "timePeriod"
    source_tag: ClassVar[str] = "sourceSystemHSAId"
    header_source_tag: ClassVar[str] = "sourceSystemHSAId"
    # what the record shows, as key paths into the body spec: the first present wins
    title_from: ClassVar[tuple[str, ...]] = ()
    untitled: ClassVar[str] = ""
    time_from: ClassVar[tuple[str, ...]] = ()
    block_time_from: ClassVar[tuple[str, ...]] = ()
    has_result: ClassVar[bool] = True  # whether the answer carries a result
    header_nullifies: ClassVar[bool] = True  # False where the TKB keeps `nullified` out of the header

    @property
    def core_namespace(self) -> str:
        """The domain's core schema namespace; a contract whose core is versioned apart sets it."""
        return f"urn:riv:{self.service_domain}:{self.major}"

    def c(self, local: str) -> str:
        """Qualified name in the core namespace."""
        return f"{{{self.core_namespace}}}{local}"

    @functools.cached_property
    def _reading(self):
        paths = {p: element_path(self.core_namespace, self.body, p) for p in self.peeked}
        return (hdr.HeaderReader(self.core_namespace, self.header_source_tag), self.q(self.record_element),
                self.c(self.header_element), self.c(self.body_element), paths)

    @property
    def peeked(self) -> set[str]:
        """The body paths read for every record (a subclass adds what its own derivations peek)."""
        return set(self.title_from) | set(self.time_from) | set(self.block_time_from)

    # consumer side ---------------------------------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        core = self.core_namespace
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": core})
        for unit in query.care_units:
            sub(req, self.q(self.unit_tag), unit)
        for provider in query.care_providers if self.giver_tag else ():
            sub(req, self.q(self.giver_tag), provider)
        hdr.patient_id(req, self.q("patientId"), core, query.patient)
        hdr.period(req, self.q(self.period_tag), core, query.period)
        if query.source_system:
            sub(req, self.q(self.source_tag), query.source_system)
        return req

    def parse_response(self, payload: etree._Element) -> Answer:
        reader, record_tag, header_tag, body_tag, paths = self._reading
        records = []
        for el in payload.iterchildren(record_tag):
            header, body = parts(el, header_tag, body_tag)
            peek = Peek(body, paths)
            records.append(hdr.record(
                reader(header), reader, contract=self.id, information_type=self.information_type_of(peek),
                title=self.title_of(peek), untitled=self.untitled, time=peek.first(self.time_from),
                block_time=peek.first(self.block_time_from), nullified=self.nullified_of(peek),
                detail=Detail(self.read_detail, header, body)))
        return hdr.answer(records, payload, self.responder_namespace, self.core_namespace)

    def title_of(self, peek: Peek) -> str | None:
        return peek.first(self.title_from)

    def information_type_of(self, peek: Peek) -> str:
        return self.categorization

    def nullified_of(self, peek: Peek) -> bool:
        """True where the body says the record is nullified (the header's flag counts anyway)."""
        return False

    def read_detail(self, header: etree._Element, body: etree._Element | None) -> dict:
        return {**self.read_body(body), "header": hdr.header_detail(header, self.core_namespace)}

    def read_body(self, body: etree._Element | None) -> dict:
        return parse(body, self.core_namespace, self.body)

    def mapped_elements(self) -> dict:
        """Every element of an answer this declaration reads, as nested {qualified tag: ...}
        (npo_core.riv.coverage). A contract that reads more than its spec says extends it."""
        record = {self.c(self.header_element): coverage.tree(self.core_namespace, hdr.HEADER),
                  self.c(self.body_element): coverage.tree(self.core_namespace, self.body)}
        return {self.q(self.record_element): record,
                **{self.q(local): coverage.WHOLE for local in self.envelope_elements}}

    # producer side (demo producers, conformance tests) -----------------------------------
    def parse_request(self, payload: etree._Element) -> Query:
        return hdr.read_query(payload, self.responder_namespace, self.core_namespace, unit_tag=self.unit_tag,
                              giver_tag=self.giver_tag, period_tag=self.period_tag, source_tag=self.source_tag)

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        core = self.core_namespace
        resp = etree.Element(self.q(f"{self.name}Response"), nsmap={None: self.responder_namespace, "core": core})
        for r in records:
            if hdr.matches(r, query):
                el = sub(resp, self.q(self.record_element))
                hdr.render_header(el, self.c(self.header_element), core, r, query.patient,
                                  source_tag=self.header_source_tag, nullified=self.header_nullifies)
                self.render_body(sub(el, self.c(self.body_element)), r)
        if self.has_result:
            hdr.render_result(resp, self.responder_namespace, core)
        return resp

    def render_body(self, body: etree._Element, record: Record) -> None:
        render(body, self.core_namespace, self.body, record.detail)
