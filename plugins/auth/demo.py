"""Demo identity: pick a demo clinician (no login); the demo's TGP answer and patient names.

Refuses to run outside the demo environment: it trusts whoever clicks.
"""

from __future__ import annotations

import json

from aiohttp import web

from npo_core import AuthMethod, hookimpl
from npo_core.api import session_json
from npo_core.demo import CLINICIANS, patient_name, profile
from npo_core.web import csrf_exempt


class DemoLogin(AuthMethod):
    name = "demo"
    title = "Demoinloggning"
    only_environments = ("demo",)
    login_path = "/login"

    def routes(self, core) -> list:
        async def page(request):
            return core.render("login_demo.html", request=request, clinicians=CLINICIANS, error=None)

        @csrf_exempt
        async def login(request):
            form = await request.post() if request.content_type != "application/json" else await request.json()
            wanted = str(form.get("clinician", ""))
            for clinician, assignments in CLINICIANS:
                if clinician.hsa_id == wanted:
                    if not request.path.startswith("/api/"):
                        redirect = web.HTTPSeeOther("/")
                        core.login(request, redirect, clinician, assignments, self.name)
                        raise redirect
                    response = web.json_response({})
                    session = core.login(request, response, clinician, assignments, self.name)
                    response.text = json.dumps(session_json(session))
                    return response
            return core.render("login_demo.html", request=request, clinicians=CLINICIANS,
                               error="Välj en demoanvändare.", status=400)

        return [web.get("/login", page), web.post("/login", login), web.post("/api/login/demo", login)]


@hookimpl
def register_auth_methods(register):
    register(DemoLogin())


@hookimpl
def patient_available(core, patient):
    """The demo's TGP: every demo patient but Mohamed Al Samed is available everywhere."""
    if core.env_name != "demo":
        return None
    return profile(patient.id) not in ("not_in_tgp",)


@hookimpl
def patient_details(core, patient):
    """The demo's stand-in for the population register."""
    name = patient_name(patient.id) if core.env_name == "demo" else None
    return {"name": name} if name else None
