"""Vårdplaner for npo: the GetCarePlans 2.0 contract and its view.

npo finds this module through the entry point `careplans` in the group `npo`
(see pyproject.toml) and calls the two hooks below once at start-up.
"""

from __future__ import annotations

import base64
import binascii

from npo_core import InformationView, Record, hookimpl
from npo_core.riv import views

from .contract import PLAN_TYPES, GetCarePlans

__all__ = ["GetCarePlans", "register_contracts", "register_views"]


@hookimpl
def register_contracts(register):
    register(GetCarePlans())


def _type(record: Record) -> str:
    return PLAN_TYPES.get(record.detail.get("type") or "", "Uppgift saknas")


def _content(item: dict) -> str:
    """One part of the plan (a MultimediaType): its text, or where the document is when it is not text."""
    media_type, value = item.get("mediaType") or "okänd typ", item.get("value")
    if value and media_type.startswith("text/"):
        try:
            return base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass  # not what it claims to be: never guess
    if item.get("reference"):
        return f"Dokument ({media_type}): {item['reference']}"
    return f"Bifogat dokument ({media_type}) som inte kan visas här." if value else ""


def _signed(record: Record) -> str:
    signature = (record.detail.get("header") or {}).get("signature")
    if not signature:
        return "Ej signerad"
    return f"{signature.get('name') or signature.get('hsa_id') or 'Okänd'}, {views.date_text(signature.get('time'))}"


def _details(record: Record) -> list[tuple[str, str]]:
    plan = "\n\n".join(filter(None, map(_content, record.detail.get("content") or [])))
    units = [unit["extension"] for unit in record.detail.get("participants") or [] if unit.get("extension")]
    return [
        ("Typ av plan", _type(record)),
        ("Plan", plan or "Planen har inget innehåll i svaret."),
        ("Deltagande enheter", ", ".join(units) or "Uppgift saknas"),
        ("Ansvarig", views.author(record)),
        ("Signerad", _signed(record)),
    ]


@hookimpl
def register_views(register):
    register(InformationView(
        slug="vardplaner", title="Vårdplaner", categorizations=("cll-cp",), order=75,
        columns=(("Datum", views.date), ("Vårdplan", views.title), ("Typ", _type), *views.OWNER),
        details=_details,
        help="Vårdplaner som vårdgivare har dokumenterat för patienten: samordnade individuella planer (SIP), "
             "rehabiliteringsplaner, planer vid utskrivning och andra vårdplaner.",
    ))
