"""Shared by contract plugins: a body codec driven by the schema's element order, and demo helpers.

A spec is a tuple of (element, key, kind); kind is "str", "int", "num", "bool", "pq" (value + unit)
or a nested spec, and a list around the kind ([kind]) makes the element repeat. Elements are in the
namespace passed along unless written "{namespace}name".
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from lxml import etree

from npo_core import Record
from npo_core.contract import Children, shown_timestamp
from npo_core.demo import ROLES

from . import patientsummary as ps

KV_BEFATTNING = "1.2.752.129.2.2.1.4"

CONVERT = {"str": str, "int": int, "num": float, "bool": lambda s: s.lower() in ("true", "1")}

CV = (("code", "code", "str"), ("codeSystem", "code_system", "str"), ("codeSystemName", "code_system_name", "str"),
      ("codeSystemVersion", "code_system_version", "str"), ("displayName", "display_name", "str"),
      ("originalText", "original_text", "str"))
ORG = (("orgUnitHSAId", "id", "str"), ("orgUnitName", "name", "str"), ("orgUnitTelecom", "telecom", "str"),
       ("orgUnitEmail", "email", "str"), ("orgUnitAddress", "address", "str"), ("orgUnitLocation", "location", "str"))


def _tag(ns: str, element: str) -> str:
    return element if element.startswith("{") else f"{{{ns}}}{element}"


def render_fields(parent: etree._Element, ns: str, spec: tuple, data: dict) -> None:
    """Write `data` in the spec's (the schema's) order: absent keys write nothing, {} an empty element."""
    for element, key, kind in spec:
        value = data.get(key)
        many = isinstance(kind, list)
        kind = kind[0] if many else kind
        for item in (value or []) if many else ([] if value is None else [value]):
            if isinstance(kind, tuple):
                render_fields(ps.sub(parent, _tag(ns, element)), ns, kind, item)
            elif kind == "pq":
                pq = ps.sub(parent, _tag(ns, element))
                ps.sub(pq, _tag(ns, "value"), item["value"])
                ps.sub(pq, _tag(ns, "unit"), item["unit"])
            else:
                ps.sub(parent, _tag(ns, element), item)


def parse_fields(el: etree._Element | None, ns: str, spec: tuple) -> dict:
    """The inverse of render_fields. Absent or unreadable values are left out, never raised."""
    data: dict = {}
    if el is None:
        return data
    children = Children(el)
    for element, key, kind in spec:
        many = isinstance(kind, list)
        kind = kind[0] if many else kind
        values = [v for v in (_value(found, ns, kind) for found in children.all(_tag(ns, element))) if v is not None]
        if values:
            data[key] = values if many else values[0]
    return data


def _value(el: etree._Element, ns: str, kind):
    if isinstance(kind, tuple):
        return parse_fields(el, ns, kind)
    if kind == "pq":
        pq = Children(el)
        value = _scalar(pq.first(_tag(ns, "value")), "num")
        return None if value is None else {"value": value, "unit": _scalar(pq.first(_tag(ns, "unit")), "str")}
    return _scalar(el, kind)


def _scalar(el: etree._Element | None, kind: str):
    text = (el.text or "").strip() if el is not None else ""
    try:
        return CONVERT[kind](text) if text else None
    except ValueError:
        return None


def compact(data: dict) -> dict:
    """Drop absent values (None, []) so that a generated detail equals its parsed-back self."""
    return {k: v for k, v in data.items() if v is not None and v != []}


def profession(name: str) -> dict:
    """A header role: KV befattning where the demo knows the profession's code, else the name alone."""
    code = next((c for c, n in ROLES if n == name), None)
    return {"code": code, "codeSystem": KV_BEFATTNING if code else None, "displayName": name}


def with_role(record: Record, name: str) -> Record:
    """The demo picks a random profession; the clinical content decides who writes it."""
    header = {**record.detail["header"], "author_role": profession(name)}
    return dataclasses.replace(record, detail={**record.detail, "header": header})


def day(value: str | None) -> dt.date | None:
    found = shown_timestamp(value)
    return found.date() if found else None


def date_text(value: str | None) -> str:
    """A RIV-TA date or time stamp as YYYY-MM-DD for the view."""
    found = day(value)
    return found.isoformat() if found else "–"
