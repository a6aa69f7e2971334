"""What an authentication plugin provides. The core owns sessions; methods only prove identity."""

from __future__ import annotations

from typing import ClassVar


class AuthMethod:
    """Base class for `register_auth_methods`.

    `routes(core)` returns aiohttp route definitions for the login flow; on success the
    method creates the session with `core.sessions.create(clinician, assignments, self.name)`
    (always a fresh id) and sets its cookie with `core.set_session_cookie(request, response, session)`.
    `only_environments`, when set, is where the method may run at all: elsewhere the
    server refuses to start with it enabled.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    only_environments: ClassVar[tuple[str, ...] | None] = None
    login_path: ClassVar[str] = "/login"
    plugin: str = "?"

    def routes(self, core) -> list:
        return []
