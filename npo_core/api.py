"""The JSON API under /api/: every clinician step, with the same rules as the pages.

The route table below is also the source of the OpenAPI document at /api/openapi.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson
from aiohttp import web

from .errors import BadRequest, NotFound
from .sessions import Session


async def body_json(request: web.Request) -> dict:
    """A JSON object body, or a clear 400."""
    try:
        data = await request.json()
        # Lone surrogates parse but cannot be stored: refuse them here, not in the database.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):  # bad JSON, huge numbers, surrogates, deep nesting
        raise BadRequest("Förfrågan är inte giltig JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("Förfrågan ska vara ett JSON-objekt.")
    return data


def session_json(session: Session) -> dict:
    a = session.assignment
    return {
        "clinician": {"hsa_id": session.clinician.hsa_id, "name": session.clinician.name},
        "assignment": a.__dict__ if a else None,
        "assignments": [x.__dict__ for x in session.usable_assignments],
        "patients": list(session.patients),
        "csrf_token": session.csrf_token,
    }


def _str(data: dict, key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{key} ska vara en text.")
    return value


def _int(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadRequest(f"{key} ska vara ett heltal.")
    return value


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: object
    summary: str
    body: dict | None = None  # JSON Schema properties of the request body
    required: tuple[str, ...] = ()
    status: int = 200  # the success status
    query: tuple[tuple[str, bool], ...] = ()  # (query parameter, required)


PATIENT = (("patient_id", True),)  # every patient-scoped GET names its patient


def endpoints(core) -> list[Endpoint]:
    async def get_session(request):
        return web.json_response(session_json(core.session_of(request)))

    async def choose_assignment(request):
        session = core.session_of(request)
        session.choose_assignment(_str(await body_json(request), "assignment_id"))
        return web.json_response(session_json(session))

    async def open_patient(request):
        session = core.session_of(request)
        ctx = await core.access.open_patient(session, _str(await body_json(request), "patient_id"))
        return web.json_response({"patient": ctx.patient.id, "kind": ctx.patient.kind, "name": ctx.name})

    async def attest_relation(request):
        data = await body_json(request)
        await core.access.attest_relation(core.session_of(request), data.get("patient_id"))
        return web.json_response({"relation_attested": True})

    async def register_consent(request):
        session = core.session_of(request)
        data = await body_json(request)
        whole_unit = data.get("whole_unit", True)
        if not isinstance(whole_unit, bool):
            raise BadRequest("whole_unit ska vara true eller false.")
        cid, existing = await core.access.register_consent(
            session, data.get("patient_id"), emergency=False, whole_unit=whole_unit, days=_int(data, "days"),
            represented_by=_str(data, "represented_by", required=False))
        return web.json_response({"consent_id": cid, "existing": existing}, status=200 if existing else 201)

    async def list_consents(request):
        rows = await core.access.consents(core.session_of(request), request.query.get("patient_id"))
        return web.json_response(rows)

    async def end_consent(request):
        how = request.match_info["how"]
        if how not in ("cancel", "annul"):
            raise NotFound("Okänd åtgärd.")
        data = await body_json(request)
        await core.access.end_consent(core.session_of(request), data.get("patient_id"), request.match_info["id"], how)
        return web.json_response({"ended": how})

    async def emergency(request):
        data = await body_json(request)
        cid, existing = await core.access.register_consent(
            core.session_of(request), data.get("patient_id"), emergency=True, whole_unit=False, days=None,
            reason=_str(data, "reason", required=False))
        return web.json_response({"consent_id": cid, "existing": existing}, status=200 if existing else 201)

    async def reveal_blocked(request):
        data = await body_json(request)
        await core.access.reveal_blocked(core.session_of(request), data.get("patient_id"), _str(data, "basis"),
                                         _str(data, "reason", required=False))
        return web.json_response({"revealed": True})

    async def open_blocked(request):
        data = await body_json(request)
        days = data.get("days", 1)
        if not isinstance(days, (int, float)) or isinstance(days, bool):
            raise BadRequest("days ska vara ett tal.")
        ids = await core.access.open_blocked(
            core.session_of(request), data.get("patient_id"), _str(data, "care_provider_id"),
            _str(data, "care_unit_id", required=False), _str(data, "basis"), _str(data, "reason", required=False), days)
        return web.json_response({"opened_blocks": ids})

    async def records(request):
        session = core.session_of(request)
        wanted = request.query.get("set")
        categorizations = None
        if wanted:
            view = core.reg.views.get(wanted)
            if view is None:
                raise NotFound(f"Okänd informationsmängd: {wanted}")
            categorizations = set(view.categorizations)
        fresh = request.query.get("fresh") == "1"  # ask the producers again, not the answers kept for this look
        detail = request.query.get("detail") == "1"  # each record's contract fields: read only when asked for
        result = await core.access.read(session, request.query.get("patient_id"), categorizations, fresh=fresh)
        # Tens of MB for a heavy patient: serialised in the worker, with orjson.
        body = await core.off_loop(lambda: orjson.dumps(result.to_json(detail=detail),
                                                        option=orjson.OPT_NON_STR_KEYS))
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def sets(request):
        core.access.context(core.session_of(request), request.query.get("patient_id"))
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
        core.session_of(request)
        return web.json_response({"environment": core.env_name, "sources": core.monitor.summary()})

    text = {"type": "string"}
    return [
        Endpoint("GET", "/api/session", get_session, "The clinician, assignments and CSRF token"),
        Endpoint("POST", "/api/assignment", choose_assignment, "Choose a medarbetaruppdrag (ends the patient context)",
                 {"assignment_id": text}, ("assignment_id",)),
        Endpoint("POST", "/api/patient", open_patient, "Open a patient: id validated, TGP asked, search logged",
                 {"patient_id": text}, ("patient_id",)),
        Endpoint("POST", "/api/relation", attest_relation, "Attest a current care relation (logged)",
                 {"patient_id": text}, ("patient_id",)),
        Endpoint("POST", "/api/consent", register_consent,
                 "Register the patient's consent (logged); a valid one is reused (200, existing: true)",
                 {"patient_id": text, "whole_unit": {"type": "boolean"},
                  "days": {"type": "integer", "minimum": 1, "maximum": 365}, "represented_by": text},
                 ("patient_id",), status=201),
        Endpoint("GET", "/api/consents", list_consents, "Consents for the patient at your care provider (logged)",
                 query=PATIENT),
        Endpoint("POST", "/api/consents/{id}/{how}", end_consent, "Cancel or annul a consent (how: cancel|annul)",
                 {"patient_id": text}, ("patient_id",)),
        Endpoint("POST", "/api/emergency", emergency, "Emergency access with a mandatory reason (logged)",
                 {"patient_id": text, "reason": text}, ("patient_id", "reason"), status=201),
        Endpoint("POST", "/api/blocked/reveal", reveal_blocked, "Active choice 1: show where blocked information is",
                 {"patient_id": text, "basis": {"type": "string", "enum": ["PatientsConsent", "Emergency"]},
                  "reason": text}, ("patient_id", "basis")),
        Endpoint("POST", "/api/blocked/open", open_blocked, "Active choice 2: open blocked information at one place",
                 {"patient_id": text, "care_provider_id": text, "care_unit_id": text,
                  "basis": {"type": "string", "enum": ["PatientsConsent", "Emergency"]}, "reason": text,
                  "days": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 7}},
                 ("patient_id", "care_provider_id", "basis")),
        Endpoint("GET", "/api/records", records,
                 "Records shown, withheld counts with reasons, completeness per set, per-source status; "
                 "each record's contract fields (detail) only with detail=1",
                 query=PATIENT + (("set", False), ("fresh", False), ("detail", False))),
        Endpoint("GET", "/api/sets", sets, "Information sets and whether each is enabled here", query=PATIENT),
        Endpoint("GET", "/api/status", status, "Operational status per source system and contract"),
        Endpoint("POST", "/api/logout", logout, "End the session"),
    ]


def openapi(core, eps: list[Endpoint]) -> dict:
    paths: dict = {}
    for ep in eps:
        op = {"summary": ep.summary, "responses": {
            str(ep.status): {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}
                                                                                   if ep.method == "POST" else {}}}},
            "4XX": {"description": "A clear error: {error, message}",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "503": {"description": "A guard (consent, block, access log) is unavailable: nothing is shown",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        if ep.status == 201:  # consent and emergency: a valid one already registered is reused
            op["responses"]["200"] = {"description": "An existing valid one was reused",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}
        params = [p.strip("{}") for p in ep.path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
        if ep.query:
            op["parameters"] = [{"name": name, "in": "query", "required": required, "schema": {"type": "string"}}
                                for name, required in ep.query]
        if ep.method == "POST":
            op["parameters"] = op.get("parameters", []) + [
                {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}]
            op["requestBody"] = {"required": bool(ep.required), "content": {"application/json": {"schema": {
                "type": "object", "properties": ep.body or {}, "required": list(ep.required)} if ep.required else
                {"type": "object", "properties": ep.body or {}}}}}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "npo clinician API", "version": "1",
                 "description": "Every clinician step under the rules of shared records (PDL/SVOD)."},
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "reference": {"type": "object", "description": "For support: when, and the request's id (no patient data)",
                              "properties": {"time": {"type": "string"}, "request_id": {"type": "string"}}}}}},
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "npo_session"}}},
        "security": [{"session": []}],
    }


def routes(core) -> list:
    eps = endpoints(core)
    document = openapi(core, eps)

    async def spec(request):
        return web.json_response(document)

    return [web.route(ep.method, ep.path, ep.handler) for ep in eps] + [web.get("/api/openapi.json", spec)]
