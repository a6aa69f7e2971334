"""The clinician web view: server-rendered pages in Swedish; script only for convenience.

Every page gets its data from `core.access`, the core's single access path: each view is
a fresh, logged read. Producer text is escaped by the templates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path

from aiohttp import web

from npo_core import BadRequest, NotFound, hookimpl
from npo_core.contract import SWEDEN
from npo_core.pdl import REASON_TEXT

STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 50
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]
STATUS_TEXT = {"ok": "Svarade", "info": "Svarade med information", "error": "Fel", "timeout": "Svarade inte i tid",
               "invalid": "Ogiltigt svar"}
PERSONAL_NUMBER = re.compile(r"\b(19|20)?\d{6}[-+ ]?\d{4}\b")


def _views(core):
    return sorted(core.reg.views.values(), key=lambda v: (v.order, v.title))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise BadRequest(f"Ogiltigt datum: {value}") from None


def _filtered(request, records):
    """Filter by period, care unit, care provider and type; sort; one page. Returns (rows, state)."""
    q = request.query
    start, end = _date(q.get("from")), _date(q.get("to"))
    unit, provider, kind = q.get("unit") or None, q.get("provider") or None, q.get("type") or None
    rows = [r for r in records
            if (not start or (r.time and r.time.date() >= start)) and (not end or (r.time and r.time.date() <= end))
            and (not unit or r.care_unit_id == unit) and (not provider or r.care_provider_id == provider)
            and (not kind or r.information_type == kind)]
    order = q.get("sort", "time_desc")
    if order == "time_asc":
        rows.sort(key=lambda r: (r.time is None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)))
    elif order == "title":
        rows.sort(key=lambda r: r.title.lower())
    else:
        order = "time_desc"
        rows.sort(key=lambda r: (r.time is not None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)), reverse=True)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    try:
        page = min(max(1, int(q.get("page", "1"))), pages)
    except ValueError:
        page = 1
    state = {
        "from": q.get("from", ""), "to": q.get("to", ""), "unit": unit or "", "provider": provider or "",
        "type": kind or "", "sort": order, "page": page, "pages": pages, "total": len(rows),
        "units": sorted({(r.care_unit_id, r.care_unit_name or r.care_unit_id) for r in records if r.care_unit_id},
                        key=lambda u: u[1]),
        "providers": sorted({(r.care_provider_id, r.care_provider_name or r.care_provider_id) for r in records
                             if r.care_provider_id}, key=lambda p: p[1]),
        "types": sorted({r.information_type for r in records}),
    }
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], state


def _page_context(core) -> dict:
    views = _views(core)
    view_by_type: dict = {}
    for view in views:  # the first view (in page order) that shows a type is the record's view
        for categorization in view.categorizations:
            view_by_type.setdefault(categorization, view)
    return {"views": views, "reasons": REASON_TEXT, "status_text": STATUS_TEXT,
            "view_of": lambda r: view_by_type.get(r.information_type)}


def _by_set_and_alerts(views, records):
    """The overview's records per information set, and the current alerts that go first."""
    by_set = {v.slug: [r for r in records if r.information_type in v.categorizations] for v in views}
    alerts = [r for r in records if any(v.prominent and r.information_type in v.categorizations and v.prominent(r)
                                        for v in views)]
    return by_set, alerts


@hookimpl
def register_routes(core):
    def page(template, request, **context):
        return core.render(template, request=request, **_page_context(core), **context)

    async def overview_page(template, request, **context):
        """A page of an overview: as long as the patient is heavy, so the worker renders it."""
        return await core.render_in_worker(template, request=request, **_page_context(core), **context)

    async def start(request):
        session = core.session_of(request)
        return page("assignment.html" if session.assignment is None else "start.html", request)

    async def choose_assignment(request):
        core.session_of(request).choose_assignment(str((await request.post()).get("assignment_id", "")))
        raise web.HTTPSeeOther("/")

    async def search(request):
        session = core.session_of(request)
        await core.access.open_patient(session, str((await request.post()).get("patient_id", "")))
        raise web.HTTPSeeOther("/patient")

    async def overview(request):
        result = await core.access.read(core.session_of(request))
        by_set, alerts = await core.off_loop(_by_set_and_alerts, _views(core), result.records)
        return await overview_page("patient.html", request, result=result, by_set=by_set, alerts=alerts)

    async def information_set(request):
        view = core.reg.views.get(request.match_info["slug"])
        if view is None:
            raise NotFound("Det finns ingen sådan informationsmängd.")
        result = await core.access.read(core.session_of(request), set(view.categorizations))
        rows, state = await core.off_loop(_filtered, request, result.records)
        return await overview_page("set.html", request, result=result, view=view, rows=rows, state=state)

    async def record(request):
        view = core.reg.views.get(request.match_info["slug"])
        if view is None:
            raise NotFound("Det finns ingen sådan informationsmängd.")
        result = await core.access.read(core.session_of(request), set(view.categorizations))
        found = [r for r in result.records if r.id == request.match_info["record_id"]]
        if not found:  # not this patient's, not shown to you, or gone: the same answer for all three
            raise NotFound("Posten finns inte bland den information du kan se för patienten.")
        return await overview_page("record.html", request, result=result, view=view, record=found[0])

    async def timeline(request):
        result = await core.access.read(core.session_of(request))
        rows, state = await core.off_loop(_filtered, request, result.records)
        return await overview_page("timeline.html", request, result=result, rows=rows, state=state)

    async def month_calendar(request):
        result = await core.access.read(core.session_of(request))
        today = dt.datetime.now(SWEDEN).date()
        try:
            year, month = map(int, request.query.get("month", today.strftime("%Y-%m")).split("-"))
            first = dt.date(year, month, 1)
        except ValueError:
            raise BadRequest("Ange månad som ÅÅÅÅ-MM.") from None
        days: dict[int, list] = {}
        for r in result.records:
            if r.time and (r.time.year, r.time.month) == (year, month):
                days.setdefault(r.time.day, []).append(r)
        prev_month = (first - dt.timedelta(days=1)).strftime("%Y-%m")
        next_month = (first + dt.timedelta(days=32)).strftime("%Y-%m")
        return await overview_page("calendar.html", request, result=result, weeks=calendar.Calendar().monthdayscalendar(year, month),
                    days=days, title=f"{MONTHS[month - 1]} {year}", prev_month=prev_month, next_month=next_month,
                    month=first.strftime("%Y-%m"))

    async def consent(request):
        session = core.session_of(request)
        form = await request.post()
        emergency = form.get("kind") == "emergency"
        days = str(form.get("days") or "")
        await core.access.register_consent(
            session, emergency=emergency, whole_unit=form.get("scope") != "personal",
            days=int(days) if days.isdigit() and not emergency else None,
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

    async def status(request):
        core.session_of(request)
        return page("status.html", request, sources=core.monitor.summary(),
                    contracts=core.registry.contract_rows(core.env_name))

    async def feedback_form(request):
        core.session_of(request)
        return page("feedback.html", request, sent=request.query.get("tack") == "1")

    async def feedback(request):
        session = core.session_of(request)
        form = await request.post()
        fields = {k: str(form.get(k) or "").strip()[:2000] for k in ("did", "expected", "happened")}
        if not any(fields.values()):
            raise BadRequest("Skriv något i minst ett av fälten.")
        if any(PERSONAL_NUMBER.search(v) for v in fields.values()):
            raise BadRequest("Synpunkter får inte innehålla personnummer eller andra patientuppgifter.")
        core.registry.add_feedback(time=dt.datetime.now(SWEDEN).isoformat(timespec="seconds"),
                                   user_id=session.clinician.hsa_id,
                                   care_unit_id=session.assignment.care_unit_id if session.assignment else None,
                                   page=str(form.get("page") or "")[:200], **fields)
        raise web.HTTPSeeOther("/synpunkter?tack=1")

    async def help_page(request):
        core.session_of(request)
        return page("help.html", request)

    async def logout(request):
        core.sessions.end(request.cookies.get("npo_session"))
        response = web.HTTPSeeOther(core.auth_methods[0].login_path if core.auth_methods else "/")
        response.del_cookie("npo_session", path="/")
        raise response

    return [
        web.get("/", start),
        web.post("/assignment", choose_assignment),
        web.post("/patient", search),
        web.get("/patient", overview),
        web.get("/patient/tidslinje", timeline),
        web.get("/patient/kalender", month_calendar),
        web.get("/patient/{slug}", information_set),
        web.get("/patient/{slug}/{record_id:.+}", record),
        web.post("/consent", consent),
        web.post("/blocked/reveal", reveal_blocked),
        web.post("/blocked/open", open_blocked),
        web.get("/status", status),
        web.get("/synpunkter", feedback_form),
        web.post("/synpunkter", feedback),
        web.get("/hjalp", help_page),
        web.post("/logout", logout),
        web.static("/static", STATIC),
    ]
