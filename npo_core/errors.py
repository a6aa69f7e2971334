"""The few exceptions npo raises on purpose; everything else is a bug."""


class NpoError(Exception):
    """Base class: an expected failure with a message fit for an operator or clinician."""

    status = 500
    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class StartupError(NpoError):
    """Plugins or configuration prevent npo from starting."""


class RegistryError(NpoError):
    """The registry database cannot be read, written or understood."""

    status = 503
    code = "registry_unavailable"


class BadRequest(NpoError):
    status = 400
    code = "bad_request"


class InvalidPatientId(BadRequest):
    code = "invalid_patient_id"


class NotFound(NpoError):
    status = 404
    code = "not_found"


class Unauthenticated(NpoError):
    status = 401
    code = "not_logged_in"


class Forbidden(NpoError):
    """Access refused by a rule; `code` names the rule (tgp, no_assignment, ...)."""

    status = 403
    code = "forbidden"


class GuardUnavailable(NpoError):
    """Consent, block or access-log storage cannot be consulted: fail closed."""

    status = 503
    code = "guard_unavailable"


class ContractError(NpoError):
    """A producer's answer cannot be used (fault, bad XML, schema error)."""

    status = 502
    code = "contract_error"


class GuardsChanged(NpoError):
    """A consent, block or revoke of the patient changed after a read decided: decide again."""

    status = 409
    code = "guards_changed"
