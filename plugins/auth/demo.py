"""Demo identity: pick a demo clinician (no login); the demo's TGP answer and patient names.

Refuses to run outside the demo environment: it trusts whoever clicks.
"""

from __future__ import annotations

import json
import secrets

from aiohttp import web

from npo_core import (DEMO_CLINICIANS, AuthMethod, BadRequest, Forbidden, body_json, csrf_exempt, demo_patient_name,
                      demo_profile, hookimpl, session_json)

LOGIN_CSRF_COOKIE = "npo_login_csrf"


class DemoLogin(AuthMethod):
    name = "demo"
    title = "Demoinloggning"
    only_environments = ("demo",)
    login_path = "/login"

    def routes(self, core) -> list:
        def login_page(request, error=None, status=200):
            """The form carries a token that must match a cookie only this site can set (double submit):
            another site cannot log a browser in as a clinician of its choosing (login CSRF)."""
            token = secrets.token_urlsafe(32)
            response = core.render("login_demo.html", request=request, clinicians=DEMO_CLINICIANS, error=error,
                                   login_token=token, status=status)
            response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                                secure=request.secure)
            return response

        async def page(request):
            return login_page(request)

        @csrf_exempt  # no session yet: the form checks its own token, the API takes JSON only
        async def login(request):
            if request.path.startswith("/api/"):
                if request.content_type != "application/json":  # a cross-site form cannot send JSON
                    raise BadRequest("Inloggningen tar emot JSON (Content-Type: application/json).")
                form = await body_json(request)
            else:
                form = await request.post()
                cookie, sent = request.cookies.get(LOGIN_CSRF_COOKIE, ""), str(form.get("login_token", ""))
                if not cookie or not secrets.compare_digest(cookie, sent):
                    raise Forbidden("Inloggningsformuläret har gått ut eller kom inte från npo (CSRF). "
                                    "Ladda om sidan.", code="csrf")
            wanted = str(form.get("clinician", ""))
            for clinician, assignments in DEMO_CLINICIANS:
                if clinician.hsa_id == wanted:
                    if not request.path.startswith("/api/"):
                        redirect = web.HTTPSeeOther("/")
                        core.login(request, redirect, clinician, assignments, self.name)
                        raise redirect
                    response = web.json_response({})
                    session = core.login(request, response, clinician, assignments, self.name)
                    response.text = json.dumps(session_json(session))
                    return response
            if request.path.startswith("/api/"):
                raise BadRequest("Okänd demoanvändare.", code="unknown_clinician")
            return login_page(request, error="Välj en demoanvändare.", status=400)

        return [web.get("/login", page), web.post("/login", login), web.post("/api/login/demo", login)]


@hookimpl
def register_auth_methods(register):
    register(DemoLogin())


@hookimpl
def patient_available(core, patient):
    """The demo's TGP: every demo patient but Mohamed Al Samed is available everywhere."""
    if core.env_name != "demo":
        return None
    return demo_profile(patient.id) not in ("not_in_tgp",)


@hookimpl
def patient_details(core, patient):
    """The demo's stand-in for the population register."""
    name = demo_patient_name(patient.id) if core.env_name == "demo" else None
    return {"name": name} if name else None
