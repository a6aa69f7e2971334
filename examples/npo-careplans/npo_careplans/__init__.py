"""Vårdplaner for npo: the GetCarePlans 2.0 contract and its view.

npo finds this module through the entry point `careplans` in the group `npo`
(see pyproject.toml) and calls the two hooks below once at start-up.
"""

from __future__ import annotations

from npo_core import InformationView, Record, hookimpl

from .contract import PLAN_TYPES, GetCarePlans

__all__ = ["GetCarePlans", "register_contracts", "register_views"]


@hookimpl
def register_contracts(register):
    register(GetCarePlans())


def _date(record: Record) -> str:
    return record.time.strftime("%Y-%m-%d") if record.time else "–"


def _type(record: Record) -> str:
    return PLAN_TYPES.get(record.detail.get("type") or "", "Uppgift saknas")


def _plan_text(record: Record) -> str:
    """The plan's text, or where the document is when it is not text."""
    parts = []
    for item in record.detail.get("content", []):
        if item.get("text"):
            parts.append(item["text"])
        elif item.get("reference"):
            parts.append(f"Dokument ({item.get('media_type') or 'okänd typ'}): {item['reference']}")
        elif item.get("value"):
            parts.append(f"Bifogat dokument ({item.get('media_type') or 'okänd typ'}) som inte kan visas här.")
    return "\n\n".join(parts) or "Planen har inget innehåll i svaret."


def _signed(record: Record) -> str:
    signature = record.detail.get("header", {}).get("signature")
    if not signature:
        return "Ej signerad"
    when = signature.get("time") or ""
    day = f"{when[:4]}-{when[4:6]}-{when[6:8]}" if len(when) >= 8 else when
    return f"{signature.get('name') or signature.get('hsa_id') or 'Okänd'}, {day}".strip(", ")


def _details(record: Record) -> list[tuple[str, str]]:
    participants = record.detail.get("participants") or []
    return [
        ("Typ av plan", _type(record)),
        ("Plan", _plan_text(record)),
        ("Deltagande enheter", ", ".join(participants) or "Uppgift saknas"),
        ("Ansvarig", record.author or "–"),
        ("Signerad", _signed(record)),
    ]


@hookimpl
def register_views(register):
    register(InformationView(
        slug="vardplaner", title="Vårdplaner", categorizations=("cll-cp",), order=75,
        columns=(("Datum", _date),
                 ("Vårdplan", lambda r: r.title),
                 ("Typ", _type),
                 ("Vårdenhet", lambda r: r.care_unit_name or r.care_unit_id or "Okänd"),
                 ("Vårdgivare", lambda r: r.care_provider_name or r.care_provider_id or "Okänd")),
        details=_details,
        help="Vårdplaner som vårdgivare har dokumenterat för patienten: samordnade individuella planer (SIP), "
             "rehabiliteringsplaner, planer vid utskrivning och andra vårdplaner.",
    ))
