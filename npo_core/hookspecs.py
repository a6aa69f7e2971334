"""Every hook npo calls. Plugins implement them with `from npo_core import hookimpl`.

Implementations may accept any subset of a hook's arguments. Collection hooks pass a
`register` callback: the core owns it, rejects duplicates and records which plugin
registered what.
"""

from pluggy import HookspecMarker

hookspec = HookspecMarker("npo")


# -- what plugins contribute ---------------------------------------------------


@hookspec
def register_contracts(register):
    """Called once at start-up to collect service contracts.

    Call ``register(contract)`` once per :class:`npo_core.Contract` instance. Two plugins
    registering the same contract id (name and major version) stop start-up.
    """


@hookspec
def register_views(register):
    """Called once at start-up to collect information-set views for the web view.

    Call ``register(view)`` with an :class:`npo_core.InformationView`. Slugs are unique.
    """


@hookspec
def register_auth_methods(register):
    """Called once at start-up to collect authentication methods.

    Call ``register(method)`` with an :class:`npo_core.AuthMethod`. A method is
    offered only in the environments whose ``auth_methods`` name it.
    """


@hookspec
def register_routes(core):
    """Called while the web application is built (before it starts).

    ``core`` is the running :class:`npo_core.app.Core`. Return a list of aiohttp route
    definitions (``web.get(...)``, ``web.post(...)``). Handlers reach data only through
    ``core.access``, which enforces consent, blocks and the access log.
    """


@hookspec
def register_commands(cli):
    """Called when the CLI is built. ``cli`` is the top-level click group: add commands to it."""


@hookspec
def server_ssl_context(core):
    """TLS for the web server, e.g. mutual TLS for SITHS cards.

    Called once by ``npo serve``. Return an ``ssl.SSLContext`` or None; more than one
    context is an error. The request's peer certificate then reaches auth methods through
    ``request.transport.get_extra_info("ssl_object")``.
    """


@hookspec
def assignments_for(core, clinician):
    """Where a clinician's assignments (medarbetaruppdrag) come from, when the login method
    does not carry them (SITHS carries only the employee HSA-id).

    ``clinician`` is an :class:`npo_core.Clinician`. Return a list of
    :class:`npo_core.Assignment` (an awaitable is awaited), or None for no answer.
    The answers of all plugins are combined.
    """


# -- decisions -----------------------------------------------------------------


@hookspec
def patient_available(core, assignment, patient):
    """Tillgänglig patient (TGP): may this care unit open this patient at all?

    Called each time a clinician opens a patient. Return True, False, or None for no
    opinion (an awaitable is awaited). Any False refuses; when no plugin answers, the
    patient is refused: TGP is mandatory and npo fails closed.
    """


@hookspec
def patient_details(core, patient):
    """Who the patient is, for the page header: a dict with at least ``name``, or None.

    Called when a patient is opened (an awaitable is awaited); the first non-None answer
    is used. Production deployments answer from the population register (PU-tjänsten).
    """


@hookspec(firstresult=True)
def handle_exception(core, request, exception):
    """How an error of a request is answered: an expected ``npo_core.NpoError`` (``.status``, ``.code``,
    ``.message``) or an unexpected exception, which the core has already logged.

    Return an aiohttp response (or an awaitable giving one) to answer it, or None to let another plugin or
    the core answer: its JSON under ``/api/`` and ``/-/`` (``npo_core.wants_json(request)``), plain text
    elsewhere, and for a page without a session the login. The first plugin to return something wins.
    """


# -- lifecycle -------------------------------------------------------------------


@hookspec
def startup(core):
    """Called once when the web application starts, after the registry is open.

    May return an awaitable, which the core awaits. Use it to warm caches or check
    configuration; raising :class:`npo_core.StartupError` stops start-up.
    """
