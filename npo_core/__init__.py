"""npo: an open National Patient Overview. What plugins import comes from here.

A contract plugin needs no module below npo_core: what one needs is exported here (and the RIV-TA
codec as `npo_core.riv`), so the core may move its insides without breaking plugins."""

import importlib

from pluggy import HookimplMarker

from .auth import AuthMethod
from .contract import (SWEDEN, Answer, Children, Contract, InformationView, Query, Record, format_date,
                       format_timestamp, parse_timestamp, shown_timestamp)
from .errors import BadRequest, ContractError, Forbidden, NotFound, NpoError, StartupError, Unauthenticated
from .identity import HSA_ID_OID, PatientId, parse_patient_id
from .pdl import REASON_TEXT
from .sessions import SCOPES, Assignment, Clinician

hookimpl = HookimplMarker("npo")

from . import riv  # noqa: E402  (riv builds on the names above)
from .labels import status_words  # noqa: E402  (a coded status in Swedish words, for a view's columns)

# Names from modules that pull in aiohttp, the database or the demo: imported when first asked for, so that
# importing npo_core (which everything does) stays cheap.
_LAZY = {
    "ReadResult": ("access", "ReadResult"), "PatientNotOpen": ("access", "PatientNotOpen"),
    "session_json": ("api", "session_json"), "body_json": ("api", "body_json"),
    "csrf_exempt": ("web", "csrf_exempt"), "wants_json": ("web", "wants_json"),
    "error_reference": ("web", "reference"),
    "SchemaSet": ("schemas", "SchemaSet"),
    "DEMO_CLINICIANS": ("demo", "CLINICIANS"), "demo_patient_name": ("demo", "patient_name"),
    "demo_profile": ("demo", "profile"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    return value


__all__ = [
    "hookimpl", "Contract", "Record", "Query", "Answer", "InformationView", "AuthMethod",
    "NpoError", "StartupError", "ContractError", "BadRequest", "Forbidden", "NotFound",
    "Children", "SWEDEN", "parse_timestamp", "shown_timestamp", "format_timestamp", "format_date",
    "PatientId", "parse_patient_id", "HSA_ID_OID", "riv", "status_words",
    "Unauthenticated", "REASON_TEXT", "SCOPES", "Assignment", "Clinician", *_LAZY,
]
