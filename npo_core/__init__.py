"""npo: an open National Patient Overview. What plugins import comes from here.

A contract plugin needs no module below npo_core: what one needs is exported here (and the RIV-TA
codec as `npo_core.riv`), so the core may move its insides without breaking plugins."""

from pluggy import HookimplMarker

from .auth import AuthMethod
from .contract import (SWEDEN, Answer, Children, Contract, InformationView, Query, Record, format_date,
                       format_timestamp, parse_timestamp, shown_timestamp)
from .errors import BadRequest, ContractError, Forbidden, NotFound, NpoError, StartupError
from .identity import HSA_ID_OID, PatientId, parse_patient_id

hookimpl = HookimplMarker("npo")

from . import riv  # noqa: E402  (riv builds on the names above)

__all__ = [
    "hookimpl", "Contract", "Record", "Query", "Answer", "InformationView", "AuthMethod",
    "NpoError", "StartupError", "ContractError", "BadRequest", "Forbidden", "NotFound",
    "Children", "SWEDEN", "parse_timestamp", "shown_timestamp", "format_timestamp", "format_date",
    "PatientId", "parse_patient_id", "HSA_ID_OID", "riv",
]
