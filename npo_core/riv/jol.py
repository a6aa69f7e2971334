"""The JoL header variant: records whose header is the newer domain schemas' HeaderType (IIType ids),
not a PatientSummaryHeaderType. GetLaboratoryOrderOutcome 4 and GetCareDocumentation 3 declare it.

HeaderType is accessControlHeader (owner, patient, block comparison time, approved for patient; the
elements as each domain names them), sourceSystemId, record (id, time), author and signature.
`header_spec` builds a domain's spec of it from its access control header: one spec reads, renders and
maps it.

Records are decided on the header and a few peeked body paths, as a PatientSummaryContract's: `deciding`
names each decision field's key paths into `header` (or "body.…" into the body), the first present
wins, and an IIType's is its id (`identifier`). The header's paths are read in one pass over it; the
body is read, with the whole header, the first time a page asks (`Detail`). The request is IIType-based;
`has_more` contracts answer in parts (hasMoreReference, hasMore), a demo producer PAGE_SIZE at a time.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import json
from typing import ClassVar

from lxml import etree

from ..contract import Answer, Query, Record, format_date, parse_timestamp
from ..errors import ContractError
from ..identity import HSA_ID_OID, parse_patient_id
from . import coverage
from . import header as hdr
from .declared import Detail, PatientSummaryContract, Peek, parts
from .spec import CV, II, PERIOD, element_path, parse, render, sub, tag

RESULT = (("resultCode", "code", "str"), ("resultText", "text", "str"))
HAS_MORE = (("logicalAddress", "address", "str"), ("reference", "reference", "str"))  # responder namespace
PAGE_SIZE = 500  # records per answer from a demo producer; the rest follows on hasMore
BAD_REFERENCE = "Referensen som skickats i hasMoreReference är ogiltig"


def header_spec(access: tuple, *, author: tuple = (), signature: tuple = (), ii: tuple = II) -> tuple:
    """A domain's HeaderType: its access control header's spec, what its author and signer carry beyond
    id, name, time and role (an org unit), and its IIType (where the extension is required)."""
    signed = (("id", "id", ii), ("name", "name", "str"), ("timestamp", "time", "ts"), ("byRole", "role", CV))
    return (("accessControlHeader", "access", access), ("sourceSystemId", "source_system", ii),
            ("record", "record", (("id", "id", ii), ("timestamp", "time", "ts"))),
            ("author", "author", signed + author), ("signature", "signature", signed + signature))


def identifier(ii: dict | None, root: bool = True) -> str | None:
    """An IIType's id: its extension within root's namespace, else (`root`) the root itself."""
    return (ii.get("extension") or (ii.get("root") if root else None)) if ii else None


@dataclasses.dataclass(frozen=True)
class PagedQuery(Query):
    """A request as a producer received it (parse_request): its answer comes in pages.

    Rendering a plain Query answers in one piece, which is what tests and the CLI want."""

    page_size: int = PAGE_SIZE


class Deciding:
    """The decision fields of a record by key paths: the header's read in one pass over it, the body's peeked."""

    def __init__(self, ns: str, header_type: tuple, body_type: tuple, deciding: dict, root_identifies: bool):
        self.tree: dict = {}  # {tag: subtree, or the index of a leaf's value}
        self.body: list[tuple[int, str]] = []  # (index, element path) of the body's leaves
        self.fields: dict[str, tuple[int, ...]] = {}  # field: its leaves' indexes, the first present wins
        leaves: dict[tuple, int] = {}
        for name, key_paths in deciding.items():
            mine = []
            for key_path in key_paths:
                in_body = key_path.startswith("body.")
                steps, kind = _steps(ns, body_type if in_body else header_type, key_path.removeprefix("body."))
                paths = [steps]
                if isinstance(kind, tuple):  # an IIType: its extension, else its root
                    if not {k for _e, k, _k in kind} >= {"root", "extension"}:
                        raise KeyError(f"{key_path!r} names neither a value nor an IIType")
                    ids = ("extension", "root") if root_identifies else ("extension",)
                    paths = [steps + (tag(ns, leaf),) for leaf in ids]
                for path in paths:
                    if (in_body, path) not in leaves:
                        leaves[in_body, path] = index = len(leaves)
                        if in_body:
                            self.body.append((index, "/".join(path)))
                        else:
                            node = self.tree
                            for step in path[:-1]:
                                node = node.setdefault(step, {})
                            node[path[-1]] = index
                    mine.append(leaves[in_body, path])
            self.fields[name] = tuple(mine)

    def __call__(self, header: etree._Element | None, body: etree._Element | None) -> dict:
        """{field: text or None}."""
        if header is None:
            raise ContractError("En post i svaret saknar sitt huvud (header).", code="missing_header")
        found: dict[int, str | None] = {}
        _walk(header, self.tree, found)
        if body is not None:
            for index, path in self.body:
                found[index] = hdr.text(body.find(path)) or None
        return {name: next((v for i in leaves if (v := found.get(i)) is not None), None)
                for name, leaves in self.fields.items()}


def _steps(ns: str, spec: tuple, key_path: str) -> tuple[tuple[str, ...], object]:
    """The qualified tags of a key path through a spec, and the kind it ends on."""
    steps, kind = [], spec
    for key in key_path.split("."):
        found = next(((e, k) for e, name, k in (kind if isinstance(kind, tuple) else ()) if name == key), None)
        if found is None:
            raise KeyError(f"{key_path!r}: no field {key!r} in the spec")
        steps.append(tag(ns, found[0]))
        kind = found[1][0] if isinstance(found[1], list) else found[1]
    return tuple(steps), kind


def _walk(el: etree._Element, tree: dict, found: dict) -> None:
    """The first element along each path, in document order (as ElementPath's find takes it)."""
    for child in el:
        node = tree.get(child.tag)
        if node.__class__ is int:
            if node not in found:
                found[node] = hdr.text(child) or None
        elif node is not None:
            _walk(child, node, found)


class JolContract(PatientSummaryContract):
    """The declaration: a PatientSummaryContract's, with `header` the domain's HeaderType (`header_spec`)."""

    header: ClassVar[tuple]
    header_element, body_element = "header", "body"
    # the request's IIType filters as the schema spells them (giver_tag None: none)
    unit_tag, giver_tag, period_tag, source_tag = "careUnitHSAId", "careGiverHSAId", "datePeriod", "sourceSystemHSAId"
    has_more: ClassVar[bool] = False  # answers in parts: the request's hasMoreReference, the answer's hasMore
    root_identifies: ClassVar[bool] = True  # False where an empty extension says "not known" (the root is no id)
    # Record field: key paths into `header` ("body.…": into the body), the first present wins.
    deciding: ClassVar[dict[str, tuple[str, ...]]] = {
        "id": ("record.id",), "patient_id": ("access.patient_id",), "care_provider_id": ("access.care_provider",),
        "care_unit_id": ("access.care_unit",), "source_system": ("source_system",), "author": ("author.name",),
        "time": ("record.time", "author.time"), "block_time": ("access.block_time", "record.time", "author.time"),
        "approved_for_patient": ("access.approved_for_patient",),
        # the care unit's name: the name of this org unit where it is the care unit
        "unit_id": ("author.org_unit.orgUnitHSAId",), "unit_name": ("author.org_unit.orgUnitName",)}

    def identifier(self, ii: dict | None) -> str | None:
        return identifier(ii, self.root_identifies)

    @functools.cached_property
    def _reading(self):
        if self.time_from or self.block_time_from:
            raise TypeError(f"{type(self).__name__}: a JolContract's times are its `deciding` paths")
        paths = {p: element_path(self.core_namespace, self.body, p) for p in self.peeked}
        return (Deciding(self.core_namespace, self.header, self.body, self.deciding, self.root_identifies),
                self.q(self.record_element), self.c(self.header_element), self.c(self.body_element), paths)

    @functools.cached_property
    def _request(self) -> tuple:
        return tuple((self.q(t), key, kind) for t, key, kind in (
            (self.unit_tag, "care_units", [II]), (self.giver_tag, "care_providers", [II]), ("patientId", "patient", II),
            (self.period_tag, "period", PERIOD), (self.source_tag, "source_system", II),
            ("hasMoreReference" if self.has_more else None, "has_more_reference", "str")) if t)

    # consumer side ---------------------------------------------------------------------
    def build_request(self, query: Query) -> etree._Element:
        req = etree.Element(self.q(self.name), nsmap={None: self.responder_namespace, "core": self.core_namespace})
        hsa = lambda value: {"root": HSA_ID_OID, "extension": value}  # noqa: E731
        render(req, self.core_namespace, self._request, {
            "care_units": [hsa(u) for u in query.care_units], "care_providers": [hsa(p) for p in query.care_providers],
            "patient": {"root": query.patient.root, "extension": query.patient.id},
            "period": query.period and {"start": format_date(query.period[0]), "end": format_date(query.period[1])},
            "source_system": hsa(query.source_system) if query.source_system else None,
            "has_more_reference": query.has_more_reference})
        return req

    def parse_response(self, payload: etree._Element) -> Answer:
        decide, record_tag, header_tag, body_tag, paths = self._reading
        records = []
        for el in payload.iterchildren(record_tag):
            header, body = parts(el, header_tag, body_tag)
            found, peek = decide(header, body), Peek(body, paths)
            unit = found["care_unit_id"]
            records.append(Record(
                id=found["id"] or "", contract=self.id, information_type=self.information_type_of(peek),
                time=parse_timestamp(found["time"]), care_provider_id=found["care_provider_id"], care_unit_id=unit,
                care_unit_name=found["unit_name"] if unit and found["unit_id"] == unit else None,
                source_system=found["source_system"], title=self.title_of(peek) or self.untitled,
                author=found["author"], block_time=parse_timestamp(found["block_time"]),
                approved_for_patient=bool(hdr.boolean(found["approved_for_patient"])),
                nullified=self.nullified_of(peek), patient_id=found["patient_id"],
                detail=Detail(self.read_detail, header, body)))
        if not self.has_result:
            return Answer(records=records)
        result = parse(payload.find(self.q("result")), self.core_namespace, RESULT)
        more = [parse(m, self.responder_namespace, HAS_MORE) for m in payload.iterfind(self.q("hasMore"))]
        return Answer(records=records, result_code=result.get("code") or "ERROR", message=result.get("text"),
                      has_more=[(m["address"], m["reference"]) for m in more if len(m) == 2] if self.has_more else [])

    def read_detail(self, header: etree._Element, body: etree._Element | None) -> dict:
        return {**self.read_body(body), "header": parse(header, self.core_namespace, self.header)}

    def mapped_elements(self) -> dict:
        mapped = super().mapped_elements()
        record = mapped[self.q(self.record_element)]
        record[self.c(self.header_element)] = coverage.tree(self.core_namespace, self.header)
        return mapped

    # producer side (demo producers, conformance tests) -----------------------------------
    def parse_request(self, payload: etree._Element) -> Query:
        asked = parse(payload, self.core_namespace, self._request)
        ids = lambda key: tuple(filter(None, map(self.identifier, asked.get(key, []))))  # noqa: E731
        span = None
        if (period := asked.get("period")) is not None:  # an open end reads as the earliest or latest date
            start, end = (parse_timestamp(period.get(k)) for k in ("start", "end"))
            span = (start.date() if start else dt.date.min, end.date() if end else dt.date.max)
        return (PagedQuery if self.has_more else Query)(
            patient=parse_patient_id(self.identifier(asked.get("patient")) or ""), period=span,
            care_units=ids("care_units"), care_providers=ids("care_providers"),
            source_system=self.identifier(asked.get("source_system")),
            has_more_reference=asked.get("has_more_reference"))

    def render_response(self, records: list[Record], query: Query) -> etree._Element:
        core = self.core_namespace
        resp = etree.Element(self.q(f"{self.name}Response"),
                             nsmap={None: self.responder_namespace, "core": core, **self._prefixes})
        page, more, error = self.page([r for r in records if hdr.matches(r, query)], query)
        for r in page:
            el = sub(resp, self.q(self.record_element))
            render(sub(el, self.c(self.header_element)), core, self.header, r.detail["header"])
            self.render_body(sub(el, self.c(self.body_element)), r)
        if more:
            render(sub(resp, self.q("hasMore")), self.responder_namespace, HAS_MORE,
                   {"address": more[0], "reference": more[1]})
        if self.has_result:
            render(sub(resp, self.q("result")), core, RESULT, {"code": "ERROR" if error else "OK", "text": error})
        return resp

    @functools.cached_property
    def _prefixes(self) -> dict[str, str]:
        """A prefix for each other namespace the specs write in (a minor's extensions): "ext", "ext2", ..."""
        found: set[str] = set()
        _namespaces(self.header + self.body, found, set())
        return {f"ext{i + 1 if i else ''}": ns for i, ns in enumerate(sorted(found - {self.core_namespace}))}

    def page(self, matching: list[Record], query: Query) -> tuple[list[Record], tuple[str, str] | None, str | None]:
        """Partial answers (TKB): newest first, the query's page size at a time, an opaque reference to the rest."""
        size = getattr(query, "page_size", None) if self.has_more else None
        if not size:
            return matching, None, None
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(query.has_more_reference))["offset"]) \
                if query.has_more_reference else 0
        except (ValueError, KeyError, TypeError, binascii.Error):
            return [], None, BAD_REFERENCE
        if offset < 0:
            return [], None, BAD_REFERENCE
        ordered = sorted(matching, key=lambda r: (r.time is not None, r.time), reverse=True)
        page = ordered[offset:offset + size]
        if offset + size >= len(ordered):
            return page, None, None
        reference = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
        return page, (page[0].source_system, reference), None


def _namespaces(spec: tuple, found: set[str], seen: set[int]) -> None:
    if id(spec) in seen:
        return
    seen.add(id(spec))
    for element, _key, kind in spec:
        if element.startswith("{"):
            found.add(element[1:element.index("}")])
        kind = kind[0] if isinstance(kind, list) else kind
        if isinstance(kind, tuple):
            _namespaces(kind, found, seen)
