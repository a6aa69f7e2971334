"""Conformance checks for one contract plugin, against an official RIV-TA bundle.

Used by npo's own test suite and by `npo contracts check NAME`, so a third party's CI
runs exactly the checks npo runs on its bundled contracts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lxml import etree

from . import soap
from .contract import Contract, InformationView, Query
from .demo import PATIENTS, PROVIDERS, demo_source
from .identity import parse_patient_id
from .schemas import SchemaSet

ADDRESSES = [p[4][0] for p in PROVIDERS]
VARIANTS_PATIENT = "193601286499"  # Egon Johansson


def queries() -> list[Query]:
    return [
        Query(parse_patient_id("199701062383")),
        Query(parse_patient_id("196812732391"), period=(dt.date(2020, 1, 1), dt.date(2026, 12, 31)),
              care_units=("SE2321000016-9RKT",), source_system="SE2321000016-TKC1"),
    ]


class ConformanceError(AssertionError):
    pass


def _ensure(condition, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def official_files(contract: Contract, bundle: Path) -> None:
    """The plugin names its official schema and WSDL, and its SOAPAction is the WSDL's."""
    _ensure(contract.schema and (bundle / contract.schema).is_file(), f"schema {contract.schema!r} not in bundle")
    _ensure(contract.wsdl and (bundle / contract.wsdl).is_file(), f"WSDL {contract.wsdl!r} not in bundle")
    actions = etree.parse(str(bundle / contract.wsdl)).xpath("//*[local-name()='operation']/@soapAction")
    _ensure(contract.soap_action in actions, f"SOAPAction {contract.soap_action} is not the WSDL's {actions}")


def requests_validate(contract: Contract, schemas: SchemaSet) -> None:
    """Every request the consumer builds validates, and reads back to the same patient."""
    for query in queries():
        element = contract.build_request(query)
        problems = schemas.issues(contract, element)
        _ensure(not problems, f"request for {query.patient.id} is invalid: {'; '.join(map(str, problems[:3]))}")
        _ensure(contract.parse_request(element).patient == query.patient, "parse_request lost the patient")


def demo_responses_round_trip(contract: Contract, schemas: SchemaSet, today: dt.date | None = None) -> int:
    """Every demo answer validates, and decoding it gives back exactly the records it was made from."""
    total = 0
    for pid in PATIENTS:
        for address in ADDRESSES:
            records = contract.demo_records(demo_source(pid, address, contract.id, today))
            response = contract.render_response(records, Query(parse_patient_id(pid)))
            problems = schemas.issues(contract, response)
            _ensure(not problems, f"demo answer for {pid} at {address} is invalid: "
                                  f"{'; '.join(map(str, problems[:3]))}")
            decoded = contract.parse_response(soap.unwrap(soap.parse_xml(soap.envelope(response)))[0])
            _ensure(decoded.result_code in ("OK", "INFO"), f"demo answer says {decoded.result_code}")
            _ensure([r.to_json() for r in decoded.records] == [r.to_json() for r in records],
                    f"decoding the demo answer for {pid} at {address} does not give the same records")
            _ensure(all(r.contract == contract.id and r.patient_id in (None, pid) for r in decoded.records),
                    "records must carry the contract id and the requested patient")
            total += len(records)
    return total


def variants_lack_an_owner(contract: Contract, today: dt.date | None = None) -> None:
    """Egon Johansson has at least one record without care provider or care unit."""
    records = [r for address in ADDRESSES
               for r in contract.demo_records(demo_source(VARIANTS_PATIENT, address, contract.id, today))]
    _ensure(any(not r.has_owner for r in records), "Egon needs one record lacking care provider / care unit")


def view_renders(contract: Contract, views: dict[str, InformationView], today: dt.date | None = None) -> None:
    """A view covers the contract's information, and its columns and details work on every demo record."""
    mine = [v for v in views.values() if set(v.categorizations) & set(contract.categorizations)]
    _ensure(mine, f"no view shows the categorizations {contract.categorizations}")
    for pid in PATIENTS:
        for record in contract.demo_records(demo_source(pid, ADDRESSES[0], contract.id, today)):
            for view in mine:
                for heading, cell in view.columns:
                    _ensure(isinstance(cell(record), str), f"column {heading!r} must give text")
                for label, value in (view.details(record) if view.details else []):
                    _ensure(isinstance(value, str), f"detail {label!r} must give text (or Markup)")


@dataclass
class Check:
    name: str
    run: Callable[[], object]


def checks(contract: Contract, bundle: Path, views: dict[str, InformationView],
           today: dt.date | None = None) -> list[Check]:
    schemas = SchemaSet(bundle)
    return [
        Check("official schema and WSDL", lambda: official_files(contract, bundle)),
        Check("requests validate", lambda: requests_validate(contract, schemas)),
        Check("demo answers validate and round-trip", lambda: demo_responses_round_trip(contract, schemas, today)),
        Check("a variant record lacks an owner", lambda: variants_lack_an_owner(contract, today)),
        Check("its view renders", lambda: view_renders(contract, views, today)),
    ]
