"""Answers generated from an official schema with every element it defines: the coverage check's input.

`maximal(xsd, element)` gives instances of a global element in which every optional element
is present once. A choice takes one alternative per instance, so the instances together show
every alternative. Simple values are picked from candidates the element's type accepts.
Recursive types stop at a depth (their required elements still written). Extension points (`xs:any`) stay empty: they are not schema
elements.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xmlschema
from lxml import etree

MAX_DEPTH = 14
CANDIDATES = ("20240105101500", "20240105", "true", "1", "1.5", "SE2321000016-9RKT", "191212121212",
              "1.2.752.129.2.1.3.1", "2024-01-05", "2024-01-05T10:15:00", "A", "Exempel", "PT1H", "P1D",
              "http://example.org/ref", "ZXhlbXBlbA==", "5f0c3b1e-8a2d-4c6f-9b7e-1d2a3c4b5e6f")


def maximal(xsd: Path, element: str) -> list[etree._Element]:
    schema = xmlschema.XMLSchema(str(xsd))
    root = next(e for name, e in schema.elements.items() if etree.QName(name).localname == element)
    out, choice = [], 0
    while True:
        seen: list[int] = []
        el = etree.Element(root.name)
        _fill(el, root.type, choice, seen, 0)
        out.append(el)
        choice += 1
        if not seen or choice >= max(seen):  # every alternative of the widest choice has been taken
            return out


def _fill(el: etree._Element, xsd_type, choice: int, seen: list[int], depth: int) -> None:
    if xsd_type.is_simple() or xsd_type.has_simple_content():
        el.text = _value(xsd_type if xsd_type.is_simple() else xsd_type.content, el)
        return
    _group(el, xsd_type.content, choice, seen, depth)


def _group(el, group, choice: int, seen: list[int], depth: int) -> None:
    particles = [p for p in group if not isinstance(p, xmlschema.validators.XsdAnyElement)]
    if group.model == "choice" and particles:
        seen.append(len(particles))
        particles = [particles[choice % len(particles)]]
    for p in particles:
        if isinstance(p, xmlschema.validators.XsdGroup):
            _group(el, p, choice, seen, depth)
        elif depth < MAX_DEPTH or p.min_occurs:  # below the depth, only what the schema requires
            child = etree.SubElement(el, p.name)
            _fill(child, p.type, choice, seen, depth + 1)


def _value(simple, el) -> str:
    enum = getattr(simple, "enumeration", None)
    if enum:
        return str(enum[0])
    for candidate in CANDIDATES:
        try:
            if simple.is_valid(candidate):
                return candidate
        except (xmlschema.XMLSchemaException, ValueError, TypeError):
            continue
    raise ValueError(f"no candidate value is valid for {etree.QName(el).localname} ({simple.name})")


