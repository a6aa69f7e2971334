"""The clinician web view: server-rendered pages in Swedish; script only for convenience.

Every page gets its data from `core.access`, the core's single access path: each view is
decided and logged anew, on the answers fetched for this look at the patient (kept for a few
minutes; "Hämta igen" asks the producers again). The page is the patient: every page with
patient data has the patient in its URL, and every form carries the patient it was shown for,
so two tabs with two patients in one session never act on each other's patient. Producer text
is escaped by the templates.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import functools
import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from npo_core import (REASON_TEXT, SWEDEN, BadRequest, NotFound, NpoError, PatientNotOpen, ReadResult, Unauthenticated,
                      hookimpl, parse_patient_id, wants_json)

STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 50
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]
STATUS_TEXT = {"ok": "Svarade", "info": "Svarade med information",
               "warning": "Svarade, men delar av svaret kunde inte läsas", "cut": "Avkortat", "error": "Fel",
               "timeout": "Svarade inte i tid", "invalid": "Ogiltigt svar"}
MISSING_TEXT = {"warning": "svarade, men delar av svaret kunde inte läsas", "cut": "skickade bara en del av svaret",
                "error": "svarade med fel", "timeout": "svarade inte i tid", "invalid": "gav ett ogiltigt svar"}
BASIS_TEXT = {"PatientsConsent": "med patientens samtycke", "Emergency": "i en nödsituation"}
ERROR_TITLES = {400: "Felaktig uppgift", 403: "Åtkomst nekas", 404: "Hittades inte", 409: "Det gick inte",
                503: "Tjänsten är inte tillgänglig just nu"}
PERSONAL_NUMBER = re.compile(r"\b(19|20)?\d{6}[-+ ]?\d{4}\b")
ASCII_NUMBER = re.compile(r"[0-9]{1,4}")  # str.isdigit() and int() also take '²', '٣' and other digits
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
NO_DATE, ALL_YEARS = "utan", "alla"  # the timeline's "year" of events without a date, and of every year
STREAM = "<!--npo:the overview's parts-->"  # where the frame of the streamed overview opens for its parts
SAFE_PATH = re.compile(r"/patient/([0-9]{12})(?:/[!-~]*)?")  # printable ASCII: a raw, percent-encoded path


def segment(value) -> str:
    """One path segment: a producer's id like '../../api/x' stays inside its own segment."""
    return quote(str(value), safe="")


def _number(value, what: str, low: int, high: int) -> int:
    text = str(value).strip()
    if not ASCII_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        raise BadRequest(f"{what} ska vara ett heltal {low}–{high}, skrivet med siffrorna 0–9.", code="bad_number")
    return int(text)


def _when(iso: str | None, with_time: bool = True) -> str:
    """An ISO time from the core as the clinician reads it, in Swedish time."""
    if not iso:
        return ""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(SWEDEN)
    return moment.strftime("%Y-%m-%d kl. %H:%M" if with_time else "%Y-%m-%d")


def source_groups(statuses) -> list[dict]:
    """Failing sources as the clinician reads them: one line per source and outcome, not per contract."""
    groups: dict[tuple, dict] = {}
    for s in statuses:
        key = (s.logical_address, s.source_name, s.care_provider_name, s.status, s.message)
        group = groups.setdefault(key, {"source": s, "contracts": [], "unread": []})
        group["contracts"].append(s.contract)
        group["unread"].extend(s.unread)
    return list(groups.values())


def missing_from(statuses) -> list[tuple[str, str]]:
    """(source as named, what it did) once per source and outcome: 'TakeCare (Region Stockholm)', 'svarade med fel'."""
    seen: dict[tuple, None] = {}
    for s in statuses:
        name = s.source_name or s.logical_address
        seen[(f"{name} ({s.care_provider_name})" if s.care_provider_name else name,
              MISSING_TEXT.get(s.status, s.status))] = None
    return list(seen)


def _views(core):
    return sorted(core.reg.views.values(), key=lambda v: (v.order, v.title))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise BadRequest(f"Ogiltigt datum: {value}") from None


def _filtered(request, records, *, by_year: bool = False):
    """Filter by period, care unit, care provider and type; sort; one page. Returns (rows, state).

    `by_year` (the timeline): one year at a time, the latest with events unless another is asked for
    (`ar=YYYY`, `ar=utan` for events without a date, `ar=alla`), with each year's count to jump by."""
    q = request.query
    start, end = _date(q.get("from")), _date(q.get("to"))
    unit, provider, kind = q.get("unit") or None, q.get("provider") or None, q.get("type") or None
    rows = [r for r in records
            if (not start or (r.time and r.time.date() >= start)) and (not end or (r.time and r.time.date() <= end))
            and (not unit or r.care_unit_id == unit) and (not provider or r.care_provider_id == provider)
            and (not kind or r.information_type == kind)]
    years: list[tuple[str, int]] = []
    year = None
    if by_year:
        counts = Counter(str(r.time.astimezone(SWEDEN).year) if r.time else NO_DATE for r in rows)
        years = sorted(counts.items(), key=lambda kv: (kv[0] != NO_DATE, kv[0]), reverse=True)
        asked = q.get("ar", "")
        year = asked if asked in counts or asked == ALL_YEARS else (years[0][0] if years else ALL_YEARS)
        if year != ALL_YEARS:
            rows = [r for r in rows if (str(r.time.astimezone(SWEDEN).year) if r.time else NO_DATE) == year]
    order = q.get("sort", "time_desc")
    if order == "time_asc":
        rows.sort(key=lambda r: (r.time is None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)))
    elif order == "title":
        rows.sort(key=lambda r: r.title.lower())
    else:
        order = "time_desc"
        rows.sort(key=lambda r: (r.time is not None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)), reverse=True)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page_text = q.get("page", "1")
    page = min(max(1, int(page_text)), pages) if ASCII_NUMBER.fullmatch(page_text) else 1
    state = {
        "from": q.get("from", ""), "to": q.get("to", ""), "unit": unit or "", "provider": provider or "",
        "type": kind or "", "sort": order, "page": page, "pages": pages, "total": len(rows),
        "units": sorted({(r.care_unit_id, r.care_unit_name or r.care_unit_id) for r in records if r.care_unit_id},
                        key=lambda u: u[1]),
        "providers": sorted({(r.care_provider_id, r.care_provider_name or r.care_provider_id) for r in records
                             if r.care_provider_id}, key=lambda p: p[1]),
        "types": sorted({r.information_type for r in records}),
        "years": years, "year": year,
    }
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], state


def _view_by_type(views) -> dict:
    view_by_type: dict = {}
    for view in views:  # the first view (in page order) that shows a type is the record's view
        for categorization in view.categorizations:
            view_by_type.setdefault(categorization, view)
    return view_by_type


def _page_context(core) -> dict:
    views = _views(core)
    view_by_type = _view_by_type(views)
    return {"views": views, "reasons": REASON_TEXT, "status_text": STATUS_TEXT, "basis_text": BASIS_TEXT,
            "view_of": lambda r: view_by_type.get(r.information_type), "when": _when, "segment": segment,
            "source_groups": source_groups, "missing_from": missing_from}


def _patient_context(core, request, ctx, result) -> dict:
    """What every patient page needs: its own patient's base path, links and choices, nothing of another's."""
    base = f"/patient/{result.patient.id}"
    view_by_type = _view_by_type(_views(core))

    def record_url(record, view=None):
        """The record's page, naming the source that sent it: ids are the producers', and two sources
        may send the same one, so the id alone could open another source's record."""
        view = view or view_by_type.get(record.information_type)
        source = f"?kalla={segment(record.source_address)}" if record.source_address else ""
        return f"{base}/{view.slug}/{segment(record.id)}{source}" if view else None

    incomplete = result.incomplete
    return {"result": result, "ctx": ctx, "base": base, "record_url": record_url, "here": request.raw_path,
            "failed_count": len(incomplete) + ((result.hidden_sources or {}).get("failed") or 0),
            "source_count": len(result.sources) + ((result.hidden_sources or {}).get("count") or 0),
            "read_complete": not incomplete}


def _next(form, patient_id: str) -> str:
    """Back to the page the form was on, when that is a page of the same patient; else the overview."""
    wanted = str(form.get("next") or "")
    m = SAFE_PATH.fullmatch(wanted) if len(wanted) <= 2000 else None
    if m and m.group(1) == patient_id and "//" not in wanted and "\\" not in wanted and "/.." not in wanted:
        return wanted
    return f"/patient/{patient_id}"


def _page(core, template, request, status=200, **context):
    return core.render(template, request=request, status=status, **_page_context(core), **context)


def _error_page(core, request, status: int, message: str, title: str | None = None):
    return _page(core, "error.html", request, status=status, title=title or ERROR_TITLES.get(status, "Det gick inte"),
                 message=message)


@hookimpl(trylast=True)  # every page's fallback: a plugin answering its own pages' errors goes first
def handle_exception(core, request, exception):
    """The core's error pages, inside the layout; JSON answers and the login redirect stay the core's."""
    if wants_json(request) or isinstance(exception, Unauthenticated):
        return None
    if isinstance(exception, PatientNotOpen):
        return _not_open(core, request)
    if isinstance(exception, NpoError):
        return _error_page(core, request, exception.status, exception.message)
    return _error_page(core, request, 500, "Något gick fel i npo. Felet är loggat.", title="Internt fel")


async def _not_open(core, request):
    """A patient this session has not opened: offer to open it (a logged search), never open it unasked."""
    raw = request.match_info.get("pid")
    if raw is None and request.method == "POST":
        raw = (await request.post()).get("patient_id")
    try:
        patient = parse_patient_id(str(raw or ""))
    except NpoError as e:
        return _error_page(core, request, e.status, e.message)
    here = request.raw_path if request.method == "GET" else f"/patient/{patient.id}"
    return _page(core, "not_open.html", request, status=409, patient=patient, next=here)


@hookimpl
def register_routes(core):
    def page(template, request, status=200, **context):
        return _page(core, template, request, status=status, **context)

    async def overview_page(template, request, **context):
        """A page of an overview: as long as the patient is heavy, so the worker renders it."""
        return await core.render_in_worker(template, request=request, **_page_context(core), **context)

    def patient_of(request):
        """The open patient this page names (409 page if not open, 400 if the id is invalid)."""
        session = core.session_of(request)
        if session.assignment is None:
            raise web.HTTPSeeOther("/")
        return session, core.access.context(session, request.match_info["pid"])

    async def read(request, categorizations=None):
        session, ctx = patient_of(request)
        result = await core.access.read(session, ctx.patient.id, categorizations)
        return ctx, result

    def view_of_request(request):
        view = core.reg.views.get(request.match_info["slug"])
        if view is None:
            raise NotFound("Det finns ingen sådan informationsmängd.")
        return view

    async def start(request):
        session = core.session_of(request)
        if session.assignment is None:
            return page("assignment.html", request)
        return page("start.html", request, open_patients=list(reversed(session.patients.values())))

    async def choose_assignment(request):
        core.session_of(request).choose_assignment(str((await request.post()).get("assignment_id", "")))
        raise web.HTTPSeeOther("/")

    async def search(request):
        session = core.session_of(request)
        form = await request.post()
        ctx = await core.access.open_patient(session, str(form.get("patient_id", "")))
        raise web.HTTPSeeOther(_next(form, ctx.patient.id))

    async def patients(request):
        core.session_of(request)
        raise web.HTTPSeeOther("/")  # the start page lists the open patients

    async def overview(request):
        """Streamed set by set: each information set is read (decided and logged) on its own, all at once,
        and sent in page order as soon as it is ready, so a heavy patient's first screen comes first. A
        browser without script shows each part as it arrives; nothing is sent before its log entry."""
        session, ctx = patient_of(request)
        views = _views(core)
        reads = [asyncio.ensure_future(core.access.read(session, ctx.patient.id, set(v.categorizations)))
                 for v in views] or [asyncio.ensure_future(core.access.read(session, ctx.patient.id, set()))]
        response = None
        try:
            first = await reads[0]  # a refusal or an unreadable guard here is the normal error page
            prominent = [v for v in views if v.prominent]
            frame = await core.render_text("patient.html", request=request, stream=STREAM, **_page_context(core),
                                           **_patient_context(core, request, ctx, first))
            top, bottom = frame.split(STREAM)
            response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
            await response.prepare(request)
            await response.write(top.encode())
            parts, failed = [], []
            for n, (view, task) in enumerate(zip(views, reads)):
                try:
                    part = await task
                except NpoError as e:  # this set only: said in its place, and nothing of it shown
                    part, message = None, e.message
                    failed.append(view.title)
                else:
                    parts.append(part)
                    message = None
                rows = [r for r in part.records if r.information_type in view.categorizations] if part else []
                alerts = [r for r in rows if view.prominent and view.prominent(r)] if n == 0 else []
                await response.write((await core.render_text(
                    "_overview_set.html", request=request, v=view, rows=rows, alerts=alerts, first=n == 0,
                    failed=message, prominent=prominent, **_page_context(core),
                    **_patient_context(core, request, ctx, part or first))).encode())
            whole = ReadResult.merged(parts or [first])  # no information set at all: the read of none
            await response.write((await core.render_text(
                "_overview_end.html", request=request, failed_sets=failed, sets_open=bool(views),
                **_page_context(core),
                **_patient_context(core, request, ctx, whole))).encode() + bottom.encode())
            await response.write_eof()
            return response
        except ConnectionError:  # the clinician went elsewhere: what was sent was logged, the rest not read
            return response
        finally:
            for task in reads:
                task.cancel()

    async def information_set(request):
        view = view_of_request(request)
        ctx, result = await read(request, set(view.categorizations))
        rows, state = await core.off_loop(_filtered, request, result.records)
        return await overview_page("set.html", request, view=view, rows=rows, state=state,
                                   set_status=result.set_status(view), **_patient_context(core, request, ctx, result))

    async def record(request):
        view = view_of_request(request)
        ctx, result = await read(request, set(view.categorizations))
        source = request.query.get("kalla")
        found = [r for r in result.records if r.id == request.match_info["record_id"]
                 and (source is None or r.source_address == source)]
        if len(found) != 1:  # not this patient's, not shown to you, gone, or (without ?kalla=) not one source's
            raise NotFound("Posten finns inte bland den information du kan se för patienten.")
        return await overview_page("record.html", request, view=view, record=found[0],
                                   **_patient_context(core, request, ctx, result))

    async def timeline(request):
        ctx, result = await read(request)
        rows, state = await core.off_loop(_filtered, request, result.records, by_year=True)
        return await overview_page("timeline.html", request, rows=rows, state=state,
                                   **_patient_context(core, request, ctx, result))

    async def month_calendar(request):
        session, ctx = patient_of(request)
        result = await core.access.read(session, ctx.patient.id)
        # Without a month asked for: the latest month with events (the current one is often empty).
        latest = max((r.time for r in result.records if r.time), default=dt.datetime.now(SWEDEN)).astimezone(SWEDEN)
        m = MONTH.fullmatch(request.query.get("month", latest.strftime("%Y-%m")))
        year, month = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if not (1 <= year <= 9999 and 1 <= month <= 12):
            raise BadRequest("Ange månad som ÅÅÅÅ-MM, med år 0001–9999 och månad 01–12.", code="bad_month")
        days: dict[int, list] = {}
        for r in result.records:
            if r.time and (r.time.year, r.time.month) == (year, month):
                days.setdefault(r.time.day, []).append(r)
        # The first and last months there are have no month before or after them.
        prev_month = f"{year - (month == 1):04d}-{12 if month == 1 else month - 1:02d}" \
            if (year, month) != (1, 1) else None
        next_month = f"{year + (month == 12):04d}-{1 if month == 12 else month + 1:02d}" \
            if (year, month) != (9999, 12) else None
        return await overview_page("calendar.html", request, weeks=calendar.Calendar().monthdayscalendar(year, month),
                                   days=days, title=f"{MONTHS[month - 1]} {year}", prev_month=prev_month,
                                   next_month=next_month, month=f"{year:04d}-{month:02d}",
                                   **_patient_context(core, request, ctx, result))

    def patient_form(action):
        """A form posted from a patient's page: `action(session, form, ctx)` acts on the open patient the form
        names (never the patient of another tab), then the browser goes back to that patient's page."""
        @functools.wraps(action)
        async def handler(request):
            session = core.session_of(request)
            form = await request.post()
            ctx = core.access.context(session, form.get("patient_id"))
            await action(session, form, ctx)
            raise web.HTTPSeeOther(_next(form, ctx.patient.id))
        return handler

    @patient_form
    async def consent(session, form, ctx):
        kind = str(form.get("kind") or "consent")
        if kind not in ("consent", "emergency"):
            raise BadRequest("Välj samtycke eller nödöppning.", code="bad_kind")
        scope = str(form.get("scope") or "unit")
        if scope not in ("unit", "personal"):
            raise BadRequest("Välj om samtycket gäller hela vårdenheten eller bara dig.", code="bad_scope")
        emergency = kind == "emergency"
        days_text = str(form.get("days") or "").strip()
        days = _number(days_text, "Giltighetstiden (dagar)", 1, 365) if days_text and not emergency else None
        await core.access.register_consent(
            session, ctx.patient.id, emergency=emergency, whole_unit=scope != "personal", days=days,
            reason=str(form.get("reason") or "") or None)
        if not emergency and form.get("relation") == "yes":
            await core.access.attest_relation(session, ctx.patient.id)

    @patient_form
    async def relation(session, form, ctx):
        await core.access.attest_relation(session, ctx.patient.id)

    @patient_form
    async def end_consent(session, form, ctx):
        how = str(form.get("how") or "cancel")
        if how not in ("cancel", "annul"):
            raise BadRequest("Välj att avsluta eller makulera samtycket.", code="bad_how")
        consent_id = str(form.get("consent_id") or "")
        if not consent_id:
            raise BadRequest("Ange vilket samtycke som ska avslutas.", code="consent_required")
        await core.access.end_consent(session, ctx.patient.id, consent_id, how)

    @patient_form
    async def reveal_blocked(session, form, ctx):
        await core.access.reveal_blocked(session, ctx.patient.id, str(form.get("basis", "")),
                                         str(form.get("reason") or "") or None)

    @patient_form
    async def open_blocked(session, form, ctx):
        days = _number(form.get("days") or "1", "Giltighetstiden (dagar)", 1, 7)
        await core.access.open_blocked(session, ctx.patient.id, str(form.get("care_provider_id", "")),
                                       str(form.get("care_unit_id") or "") or None, str(form.get("basis", "")),
                                       str(form.get("reason") or "") or None, days=days)

    @patient_form
    async def fetch_again(session, form, ctx):
        core.access.forget(session, ctx.patient.id)

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
        web.get("/patient", patients),
        web.get("/patient/{pid}", overview),
        web.get("/patient/{pid}/tidslinje", timeline),
        web.get("/patient/{pid}/kalender", month_calendar),
        web.get("/patient/{pid}/{slug}", information_set),
        web.get("/patient/{pid}/{slug}/{record_id}", record),  # one segment: an id is never a path
        web.post("/consent", consent),
        web.post("/consent/end", end_consent),
        web.post("/relation", relation),
        web.post("/blocked/reveal", reveal_blocked),
        web.post("/blocked/open", open_blocked),
        web.post("/hamta-igen", fetch_again),
        web.get("/status", status),
        web.get("/synpunkter", feedback_form),
        web.post("/synpunkter", feedback),
        web.get("/hjalp", help_page),
        web.post("/logout", logout),
        web.static("/static", STATIC),
    ]
