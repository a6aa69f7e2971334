"""The clinician web view: server-rendered pages in Swedish, no script needed.

Every page gets its data from `core.access`, the core's single access path.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from npo_core import hookimpl
from npo_core.errors import NotFound
from npo_core.pdl import REASON_TEXT

STATIC = Path(__file__).parent / "static"

STATUS_TEXT = {"ok": "Svarade", "info": "Svarade med information", "error": "Fel", "timeout": "Svarade inte i tid",
               "invalid": "Ogiltigt svar"}


def _views(core):
    return sorted(core.reg.views.values(), key=lambda v: (v.order, v.title))


@hookimpl
def register_routes(core):
    async def start(request):
        session = core.session_of(request)
        if session.assignment is None:
            return core.render("assignment.html", request=request)
        return core.render("start.html", request=request)

    async def choose_assignment(request):
        session = core.session_of(request)
        session.choose_assignment(str((await request.post()).get("assignment_id", "")))
        raise web.HTTPSeeOther("/")

    async def search(request):
        session = core.session_of(request)
        pid = str((await request.post()).get("patient_id", ""))
        await core.access.open_patient(session, pid)
        raise web.HTTPSeeOther("/patient")

    async def overview(request):
        session = core.session_of(request)
        result = await core.access.read(session)
        by_set = {v.slug: [r for r in result.records if r.information_type in v.categorizations]
                  for v in _views(core)}
        return core.render("patient.html", request=request, result=result, views=_views(core), by_set=by_set,
                           reasons=REASON_TEXT, status_text=STATUS_TEXT)

    async def information_set(request):
        session = core.session_of(request)
        view = core.reg.views.get(request.match_info["slug"])
        if view is None:
            raise NotFound("Det finns ingen sådan informationsmängd.")
        result = await core.access.read(session, set(view.categorizations))
        return core.render("set.html", request=request, result=result, view=view, views=_views(core),
                           reasons=REASON_TEXT, status_text=STATUS_TEXT)

    async def consent(request):
        session = core.session_of(request)
        form = await request.post()
        emergency = form.get("kind") == "emergency"
        days = form.get("days")
        await core.access.register_consent(
            session, emergency=emergency, whole_unit=form.get("scope") != "personal",
            days=int(days) if days and str(days).isdigit() and not emergency else None,
            reason=str(form.get("reason") or "") or None)
        if not emergency and form.get("relation") == "yes":
            await core.access.attest_relation(session)
        raise web.HTTPSeeOther("/patient")

    async def reveal_blocked(request):
        form = await request.post()
        await core.access.reveal_blocked(core.session_of(request), str(form.get("basis", "")),
                                         str(form.get("reason") or "") or None)
        raise web.HTTPSeeOther("/patient")

    async def open_blocked(request):
        form = await request.post()
        await core.access.open_blocked(core.session_of(request), str(form.get("care_provider_id", "")),
                                       str(form.get("care_unit_id") or "") or None, str(form.get("basis", "")),
                                       str(form.get("reason") or "") or None)
        raise web.HTTPSeeOther("/patient")

    async def logout(request):
        core.sessions.end(request.cookies.get("npo_session"))
        response = web.HTTPSeeOther("/login" if core.auth_methods else "/")
        response.del_cookie("npo_session", path="/")
        raise response

    return [
        web.get("/", start),
        web.post("/assignment", choose_assignment),
        web.post("/patient", search),
        web.get("/patient", overview),
        web.get("/patient/{slug}", information_set),
        web.post("/consent", consent),
        web.post("/blocked/reveal", reveal_blocked),
        web.post("/blocked/open", open_blocked),
        web.post("/logout", logout),
        web.static("/static", STATIC),
    ]
