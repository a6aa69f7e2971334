"""npo: an open National Patient Overview. What plugins import comes from here."""

from pluggy import HookimplMarker

from .auth import AuthMethod
from .contract import Answer, Contract, InformationView, Query, Record
from .errors import BadRequest, ContractError, Forbidden, NotFound, NpoError, StartupError

hookimpl = HookimplMarker("npo")

__all__ = [
    "hookimpl", "Contract", "Record", "Query", "Answer", "InformationView", "AuthMethod",
    "NpoError", "StartupError", "ContractError", "BadRequest", "Forbidden", "NotFound",
]
