"""The JSON API under /api/: every clinician step, with the same rules as the pages."""

from __future__ import annotations

from aiohttp import web

from .errors import BadRequest, NotFound
from .sessions import Session


def session_json(session: Session) -> dict:
    a = session.assignment
    return {
        "clinician": {"hsa_id": session.clinician.hsa_id, "name": session.clinician.name},
        "assignment": a.__dict__ if a else None,
        "assignments": [x.__dict__ for x in session.usable_assignments],
        "patient": session.patient.patient.id if session.patient else None,
        "csrf_token": session.csrf_token,
    }


def routes(core) -> list:
    from .web import body_json

    async def get_session(request):
        return web.json_response(session_json(core.session_of(request)))

    async def choose_assignment(request):
        session = core.session_of(request)
        session.choose_assignment(str((await body_json(request)).get("assignment_id", "")))
        return web.json_response(session_json(session))

    async def open_patient(request):
        session = core.session_of(request)
        ctx = await core.access.open_patient(session, str((await body_json(request)).get("patient_id", "")))
        return web.json_response({"patient": ctx.patient.id, "kind": ctx.patient.kind})

    async def attest_relation(request):
        await core.access.attest_relation(core.session_of(request))
        return web.json_response({"relation_attested": True})

    async def register_consent(request):
        session = core.session_of(request)
        data = await body_json(request)
        days = data.get("days")
        if days is not None and not isinstance(days, int):
            raise BadRequest("days ska vara ett heltal.")
        cid = await core.access.register_consent(
            session, emergency=False, whole_unit=bool(data.get("whole_unit", True)), days=days,
            represented_by=data.get("represented_by") or None)
        return web.json_response({"consent_id": cid}, status=201)

    async def emergency(request):
        session = core.session_of(request)
        data = await body_json(request)
        cid = await core.access.register_consent(session, emergency=True, whole_unit=False, days=None,
                                                 reason=str(data.get("reason") or ""))
        return web.json_response({"consent_id": cid}, status=201)

    async def records(request):
        session = core.session_of(request)
        wanted = request.query.get("set")
        categorizations = None
        if wanted:
            view = core.reg.views.get(wanted)
            if view is None:
                raise NotFound(f"Okänd informationsmängd: {wanted}")
            categorizations = set(view.categorizations)
        result = await core.access.read(session, categorizations)
        return web.json_response(result.to_json())

    async def sets(request):
        core.session_of(request)
        enabled = core.registry.enabled_contracts(core.env_name)
        return web.json_response([
            {"slug": v.slug, "title": v.title, "categorizations": list(v.categorizations),
             "enabled": any(c.id in enabled for c in core.contracts.values()
                            if set(c.categorizations) & set(v.categorizations))}
            for v in sorted(core.reg.views.values(), key=lambda v: (v.order, v.title))])

    async def logout(request):
        core.sessions.end(request.cookies.get("npo_session"))
        response = web.json_response({"logged_out": True})
        response.del_cookie("npo_session", path="/")
        return response

    async def status(request):
        return web.json_response({"environment": core.env_name, "sources": core.monitor.summary()})

    return [
        web.get("/api/session", get_session),
        web.post("/api/assignment", choose_assignment),
        web.post("/api/patient", open_patient),
        web.post("/api/relation", attest_relation),
        web.post("/api/consent", register_consent),
        web.post("/api/emergency", emergency),
        web.get("/api/records", records),
        web.get("/api/sets", sets),
        web.post("/api/logout", logout),
        web.get("/api/status", status),
    ]
