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
from types import SimpleNamespace
from urllib.parse import quote

from aiohttp import web

from npo_core import (REASON_TEXT, SWEDEN, BadRequest, NotFound, NpoError, PatientNotOpen, ReadResult, Unauthenticated,
                      error_reference, hookimpl, parse_patient_id, wants_json)

from .alerts import current as current_alerts
from .alerts import grouped as group_alerts

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
                413: "För mycket för att tas emot", 500: "Internt fel", 503: "Tjänsten är inte tillgänglig just nu"}
CODE_TITLES = {"tgp_refused": "Patienten är inte tillgänglig", "invalid_patient_id": "Ogiltigt nummer",
               "csrf": "Formuläret har gått ut", "reason_required": "Skäl saknas"}
TRY_LATER = "Försök igen om en stund. Kvarstår felet, kontakta supporten och ange referensen nedan."
# What to do next: the "Gör så här" line of an error, by its code, else by its status.
ADVICE = {
    "invalid_patient_id": "Kontrollera numret och skriv det med 12 siffror, ÅÅÅÅMMDD-NNNN, eller med 10 siffror "
                          "och plustecken (ÅÅMMDD+NNNN) för den som fyllt 100 år.",
    "tgp_refused": "Kontrollera numret och att du har valt rätt medarbetaruppdrag. Ska patienten vara tillgänglig "
                   "för din vårdenhet, kontakta din lokala support och ange referensen nedan.",
    "reason_required": "Skriv skälet till nödöppningen i fältet Skäl och försök igen.",
    "basis_required": "Välj om du har patientens samtycke eller om det är en nödsituation, och försök igen.",
    "consent_required": "Registrera patientens samtycke först, eller välj nödöppning om det är en nödsituation.",
    "reveal_first": "Visa först var spärrad information finns, och öppna sedan spärren.",
    "no_block": "Gå tillbaka och välj Hämta igen: spärren kan ha ändrats under tiden.",
    "not_your_consent": "Ett samtycke som registrerats hos en annan vårdgivare avslutas där.",
    "csrf": "Gå tillbaka, ladda om sidan och gör om det du försökte.",
    "no_assignment": "Välj medarbetaruppdrag på startsidan.",
    "assignment_changed": "Sök patienten igen.",
    "request_too_large": "Gå tillbaka med webbläsarens bakåtknapp (det du skrev finns oftast kvar), korta texten "
                         "och skicka igen.",
    400: "Rätta uppgiften och försök igen.",
    403: "Behöver du åtkomsten, kontakta din lokala support och ange referensen nedan.",
    404: "Kontrollera adressen, eller gå tillbaka till sidan du kom från.",
    409: "Försök igen.",
}
PERSONAL_NUMBER = re.compile(r"\b(19|20)?\d{6}[-+ ]?\d{4}\b")
ASCII_NUMBER = re.compile(r"[0-9]{1,4}")  # str.isdigit() and int() also take '²', '٣' and other digits
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
NO_DATE, ALL_YEARS = "utan", "alla"  # the timeline's "year" of events without a date, and of every year
PLANNED = "planerade"  # the timeline's "year" of planned events: booked, not yet happened
STREAM = "<!--npo:the overview's parts-->"  # where the frame of the streamed overview opens for its parts
NOTICE_KEY = web.RequestKey("npo_ui_notice", object)  # this request's confirmation, once taken
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


def _percent(rate: float | None) -> str:
    """A share as Swedish writes it: 0.025 -> '2,5 %', 1.0 -> '100 %'; no calls -> '–'."""
    if rate is None:
        return "–"
    return f"{rate * 100:.1f}".removesuffix(".0").replace(".", ",") + " %"


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


def _sources(n: int) -> str:
    return f"{n} {'källa' if n == 1 else 'källor'}"


def sources_summary(result) -> dict:
    """The sources table folded into one exact line, so that it need not fill every page: how many answered
    and, said as failures, how many did what else. {"parts": [(text, failed)], "failed": bool}."""
    said = {**MISSING_TEXT, "warning": "svarade med delar som inte kunde läsas"}  # no comma inside a part
    order = {status: i for i, status in enumerate(said)}
    failing = Counter(s.status for s in result.sources if not s.complete)
    counts = [(len(result.sources) - failing.total(), "svarade", False)] + [
        (n, said.get(status, status), True)
        for status, n in sorted(failing.items(), key=lambda item: order.get(item[0], len(order)))]
    parts: list[tuple[str, bool]] = []
    for n, text, failed in counts:
        if n:  # the first number says what is counted: "63 källor svarade, 2 svarade med fel"
            parts.append((f"{n if parts else _sources(n)} {text}", failed))
    hidden = result.hidden_sources or {}
    count, lost = hidden.get("count", 0), hidden.get("failed", 0)
    where = "hos en annan vårdgivare" if count == 1 else "hos andra vårdgivare"
    if count and not lost:
        parts.append((f"{_sources(count)} {where} svarade", False))
    elif count:  # they cannot be named before a basis, but their failure is said
        parts.append((f"{_sources(count)} {where} svarade inte fullständigt" if lost == count == 1
                      else f"{_sources(count)} {where}, varav {lost} svarade inte fullständigt", True))
    return {"parts": parts, "failed": any(failed for _, failed in parts)}


def _views(core):
    return sorted(core.reg.views.values(), key=lambda v: (v.order, v.title))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise BadRequest(f"Ogiltigt datum: {value}") from None


def is_planned(record, now: dt.datetime) -> bool:
    """Planned (booked, not yet happened): its time is after now."""
    return record.time is not None and record.time > now


def _period(record, now: dt.datetime) -> str:
    """The timeline's period of an event: planned, its year (Swedish time), or without a date."""
    if record.time is None:
        return NO_DATE
    return PLANNED if is_planned(record, now) else str(record.time.astimezone(SWEDEN).year)


def _filtered(request, records, *, by_year: bool = False):
    """Filter by period, care unit, care provider and type; sort; one page. Returns (rows, state).

    `by_year` (the timeline): one year at a time, the latest with events that have happened unless another
    is asked for (`ar=YYYY`, `ar=utan` for events without a date, `ar=planerade` for planned ones, `ar=alla`),
    with each year's count to jump by, and within a year one month (`man=MM`) with each month's count.
    Planned events (after now: booked, not yet happened) are a period of their own, never the latest year,
    and always listed first, soonest first."""
    q = request.query
    start, end = _date(q.get("from")), _date(q.get("to"))
    unit, provider, kind = q.get("unit") or None, q.get("provider") or None, q.get("type") or None
    rows = [r for r in records
            if (not start or (r.time and r.time.date() >= start)) and (not end or (r.time and r.time.date() <= end))
            and (not unit or r.care_unit_id == unit) and (not provider or r.care_provider_id == provider)
            and (not kind or r.information_type == kind)]
    years: list[tuple[str, int]] = []
    months: list[tuple[str, int]] = []
    year = month = latest = None
    now = dt.datetime.now(SWEDEN)
    planned_rows = [r for r in rows if is_planned(r, now)]
    if by_year:
        counts = Counter(_period(r, now) for r in rows)
        years = sorted(counts.items(), key=lambda kv: (kv[0] != NO_DATE, kv[0] == PLANNED, kv[0]), reverse=True)
        asked = q.get("ar", "")
        latest = next((y for y, _ in years if y != PLANNED), None)  # "utan" sorts last: the latest there is
        year = asked if asked in counts or asked == ALL_YEARS else (latest or (years[0][0] if years else ALL_YEARS))
        if year != ALL_YEARS:
            rows = [r for r in rows if _period(r, now) == year]
        if year.isdigit():  # a year of events that have happened: its months, to jump by
            by_month = Counter(f"{r.time.astimezone(SWEDEN).month:02d}" for r in rows)
            months = sorted(by_month.items())
            month = q.get("man") if q.get("man") in by_month else None
            if month:
                rows = [r for r in rows if f"{r.time.astimezone(SWEDEN).month:02d}" == month]
    order = q.get("sort", "time_desc")
    if order == "time_asc":
        rows.sort(key=lambda r: (r.time is None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)))
    elif order == "title":
        rows.sort(key=lambda r: r.title.lower())
    else:
        order = "time_desc"
        rows.sort(key=lambda r: (r.time is not None, r.time or dt.datetime.min.replace(tzinfo=SWEDEN)), reverse=True)
    if by_year:  # planned first, soonest first: apart from the past, never taken for the latest
        planned = sorted((r for r in rows if is_planned(r, now)), key=lambda r: r.time)
        rows = planned + [r for r in rows if not is_planned(r, now)]
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
        "years": years, "year": year, "months": months, "month": month, "now": now, "latest": latest,
        "planned": sorted(planned_rows, key=lambda r: r.time),
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
            "source_groups": source_groups, "missing_from": missing_from, "sources_summary": sources_summary,
            "contract_title": lambda cid: getattr(core.contracts.get(cid), "title", None) or cid}


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
            "notice": _notice(core, request, result.patient.id),
            "failed_count": len(incomplete) + ((result.hidden_sources or {}).get("failed") or 0),
            "source_count": len(result.sources) + ((result.hidden_sources or {}).get("count") or 0),
            "read_complete": not incomplete}


def _notice(core, request, patient_id: str) -> str | None:
    """The confirmation of what the clinician just did for this patient: taken from the session once per
    request (the streamed overview asks for its context part by part), so it shows on one page only."""
    if NOTICE_KEY not in request:
        request[NOTICE_KEY] = core.session_of(request, touch=False).take_notice(patient_id)
    return request[NOTICE_KEY]


def _next(form, patient_id: str) -> str:
    """Back to the page the form was on, when that is a page of the same patient; else the overview."""
    wanted = str(form.get("next") or "")
    m = SAFE_PATH.fullmatch(wanted) if len(wanted) <= 2000 else None
    if m and m.group(1) == patient_id and "//" not in wanted and "\\" not in wanted and "/.." not in wanted:
        return wanted
    return f"/patient/{patient_id}"


def _page(core, template, request, status=200, **context):
    return core.render(template, request=request, status=status, help_page=template, **_page_context(core),
                       **context)


def _error_page(core, request, status: int, message: str, *, code: str = "", title: str | None = None,
                template: str = "error.html", **context):
    """An error in the normal layout: what happened, what to do next, and the reference for support."""
    moment = dt.datetime.fromisoformat(error_reference(request)["time"])
    error = {"status": status, "title": title or CODE_TITLES.get(code) or ERROR_TITLES.get(status, "Det gick inte"),
             "message": message, "advice": ADVICE.get(code) or ADVICE.get(status) or TRY_LATER,
             "time": moment.strftime("%Y-%m-%d kl. %H:%M:%S"), "request_id": error_reference(request)["request_id"]}
    return _page(core, template, request, status=status, title=error["title"], error=error, **context)


@hookimpl(trylast=True)  # every page's fallback: a plugin answering its own pages' errors goes first
def handle_exception(core, request, exception):
    """The core's error pages, inside the layout; JSON answers and the login redirect stay the core's."""
    if wants_json(request) or isinstance(exception, Unauthenticated):
        return None
    if isinstance(exception, PatientNotOpen):
        return _not_open(core, request)
    return _error_answer(core, request, exception)


async def _error_answer(core, request, exception):
    """Where the clinician was: a search refused is the search page again with its number; an error at an
    open patient is shown under that patient's header with the way back to the page the form was on."""
    if isinstance(exception, NpoError):
        status, code, message = exception.status, exception.code, exception.message
    else:
        status, code, message = 500, "internal", "Något gick fel i npo. Felet är loggat."
    form = await _form(request, status)
    session = _session(core, request)
    if request.method == "POST" and request.path == "/patient" and status in (400, 403) and session \
            and session.assignment:
        return _error_page(core, request, status, message, code=code, template="start.html",
                           typed=str(form.get("patient_id") or "")[:40],
                           open_patients=list(reversed(session.patients.values())))
    return _error_page(core, request, status, message, code=code, **_where(request, session, form))


async def _form(request, status: int):
    """The form an error came with, when there is one that can be read (never a body over the limit)."""
    if request.method != "POST" or status == 413:
        return {}
    try:
        return await request.post()
    except (web.HTTPException, ValueError):
        return {}


def _session(core, request):
    try:
        return core.session_of(request)
    except NpoError:
        return None


def _where(request, session, form) -> dict:
    """The open patient an error happened at, for its header, and the page to go back to. A patient this
    session has not opened gets no header: an error never shows more than the clinician already saw."""
    raw = request.match_info.get("pid") or form.get("patient_id")
    try:
        ctx = session.patients.get(parse_patient_id(str(raw)).id) if session and raw else None
    except NpoError:
        ctx = None
    if ctx is None:
        return {}
    base = f"/patient/{ctx.patient.id}"
    back = _next(form, ctx.patient.id) if request.method == "POST" else base
    return {"result": SimpleNamespace(patient=ctx.patient, patient_name=ctx.name, fetched_at=None), "base": base,
            "here": back, "back": back,
            "back_text": "Försök igen" if back == request.path else
            "Tillbaka till sidan du var på" if request.method == "POST" else "Till patientens översikt"}


async def _not_open(core, request):
    """A patient this session has not opened: offer to open it (a logged search), never open it unasked."""
    raw = request.match_info.get("pid")
    if raw is None and request.method == "POST":
        raw = (await request.post()).get("patient_id")
    try:
        patient = parse_patient_id(str(raw or ""))
    except NpoError as e:
        return _error_page(core, request, e.status, e.message, code=e.code)
    here = request.raw_path if request.method == "GET" else f"/patient/{patient.id}"
    return _page(core, "not_open.html", request, status=409, patient=patient, next=here)


@hookimpl
def register_routes(core):
    def page(template, request, status=200, **context):
        return _page(core, template, request, status=status, **context)

    async def overview_page(template, request, **context):
        """A page of an overview: as long as the patient is heavy, so the worker renders it."""
        return await core.render_in_worker(template, request=request, help_page=template, **_page_context(core),
                                           **context)

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

    async def prominent_reads(views, reads):
        """(view, its read or None, why not) of each prominent set: the overview's alerts are all of theirs."""
        out = []
        for view, task in zip(views, reads):
            if view.prominent:
                try:
                    out.append((view, await task, None))
                except NpoError as e:
                    out.append((view, None, e.message))
        return out

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
            frame = await core.render_text("patient.html", request=request, stream=STREAM, help_page="patient.html",
                                           **_page_context(core),
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
                alerts, alert_gaps, opened = [], [], None
                if n == 0:  # the alerts open the page: those of every prominent set, grouped in the worker
                    shown = await prominent_reads(views, reads)
                    alerts, alert_gaps = current_alerts(shown)
                    opened = ReadResult.merged([r for _, r, _ in shown if r] or [first]).opened_block
                await response.write((await core.render_text(
                    "_overview_set.html", request=request, v=view, rows=rows, alerts=alerts, first=n == 0,
                    failed=message, alert_gaps=alert_gaps, group_alerts=group_alerts, opened=opened,
                    **_page_context(core),
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

    async def alert_list(request):
        """"Visa alla" from the overview: every current alert of the prominent sets, grouped as there, each line
        with all its registrations."""
        prominent = [v for v in _views(core) if v.prominent]
        ctx, result = await read(request, {c for v in prominent for c in v.categorizations})
        alerts, alert_gaps = current_alerts([(v, result, None) for v in prominent])
        return await overview_page("alerts.html", request, alerts=alerts, alert_gaps=alert_gaps,
                                   group_alerts=group_alerts, **_patient_context(core, request, ctx, result))

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
        return await overview_page("timeline.html", request, rows=rows, state=state, month_names=MONTHS,
                                   is_planned=is_planned,
                                   **_patient_context(core, request, ctx, result))

    async def month_calendar(request):
        session, ctx = patient_of(request)
        result = await core.access.read(session, ctx.patient.id)
        now = dt.datetime.now(SWEDEN)
        times = sorted(r.time.astimezone(SWEDEN) for r in result.records if r.time)
        # Without a month asked for: the latest month with events that have happened (the current one is often
        # empty, and a visit booked months ahead would open on a month with nothing else); only planned: the first.
        past = [t for t in times if t <= now]
        opening = past[-1] if past else times[0] if times else now
        m = MONTH.fullmatch(request.query.get("month", opening.strftime("%Y-%m")))
        year, month = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if not (1 <= year <= 9999 and 1 <= month <= 12):
            raise BadRequest("Ange månad som ÅÅÅÅ-MM, med år 0001–9999 och månad 01–12.", code="bad_month")
        per_month = Counter((t.year, t.month) for t in times)
        per_year = Counter(t.year for t in times)
        # Each year with events opens on its latest month with events; the shown year's months with their counts.
        years = [(y, n, f"{y:04d}-{max(mm for yy, mm in per_month if yy == y):02d}")
                 for y, n in sorted(per_year.items(), reverse=True)]
        months = [(f"{year:04d}-{mm:02d}", MONTHS[mm - 1], per_month.get((year, mm), 0)) for mm in range(1, 13)]
        days: dict[int, list] = {}
        for r in sorted((r for r in result.records if r.time), key=lambda r: r.time):
            t = r.time.astimezone(SWEDEN)
            if (t.year, t.month) == (year, month):
                days.setdefault(t.day, []).append(r)
        # The first and last months there are have no month before or after them.
        prev_month = f"{year - (month == 1):04d}-{12 if month == 1 else month - 1:02d}" \
            if (year, month) != (1, 1) else None
        next_month = f"{year + (month == 12):04d}-{1 if month == 12 else month + 1:02d}" \
            if (year, month) != (9999, 12) else None
        return await overview_page("calendar.html", request, weeks=calendar.Calendar().monthdayscalendar(year, month),
                                   days=days, title=f"{MONTHS[month - 1]} {year}", prev_month=prev_month,
                                   next_month=next_month, month=f"{year:04d}-{month:02d}", year=year,
                                   years=years, months=months, now=now, is_planned=is_planned,
                                   **_patient_context(core, request, ctx, result))

    def patient_form(action):
        """A form posted from a patient's page: `action(session, form, ctx)` acts on the open patient the form
        names (never the patient of another tab), then the browser goes back to that patient's page. What the
        action returns is the confirmation that page shows (and a screen reader hears) once."""
        @functools.wraps(action)
        async def handler(request):
            session = core.session_of(request)
            form = await request.post()
            ctx = core.access.context(session, form.get("patient_id"))
            notice = await action(session, form, ctx)
            if notice:
                session.notify(ctx.patient.id, notice)
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
        consent_id, reused = await core.access.register_consent(
            session, ctx.patient.id, emergency=emergency, whole_unit=scope != "personal", days=days,
            reason=str(form.get("reason") or "") or None)
        if not emergency and form.get("relation") == "yes":
            await core.access.attest_relation(session, ctx.patient.id)
        given = next(c for c in core.guards.consents_for(ctx.patient.id, session.assignment.care_provider_id)
                     if c.id == consent_id)  # a reused one may reach further or longer than what was asked
        until = f"till {_when(given.end.isoformat())}" if given.end else "tills vidare"
        if emergency:
            return f"Nödöppning registrerad, giltig {until}. Åtkomsten loggas."
        what = "Samtycket fanns redan" if reused else "Samtycke registrerat"
        return f"{what} för {'hela vårdenheten' if given.employee_id is None else 'dig'}, giltigt {until}."

    @patient_form
    async def relation(session, form, ctx):
        await core.access.attest_relation(session, ctx.patient.id)
        return "Patientrelation intygad. Information från andra vårdenheter hos din vårdgivare visas nu."

    @patient_form
    async def end_consent(session, form, ctx):
        how = str(form.get("how") or "cancel")
        if how not in ("cancel", "annul"):
            raise BadRequest("Välj att avsluta eller makulera samtycket.", code="bad_how")
        consent_id = str(form.get("consent_id") or "")
        if not consent_id:
            raise BadRequest("Ange vilket samtycke som ska avslutas.", code="consent_required")
        await core.access.end_consent(session, ctx.patient.id, consent_id, how)
        return "Samtycket är avslutat." if how == "cancel" else "Samtycket är makulerat."

    @patient_form
    async def reveal_blocked(session, form, ctx):
        await core.access.reveal_blocked(session, ctx.patient.id, str(form.get("basis", "")),
                                         str(form.get("reason") or "") or None)
        return "Var spärrad information finns visas nu under Spärrad information finns, steg 2."

    @patient_form
    async def open_blocked(session, form, ctx):
        days = _number(form.get("days") or "1", "Giltighetstiden (dagar)", 1, 7)
        await core.access.open_blocked(session, ctx.patient.id, str(form.get("care_provider_id", "")),
                                       str(form.get("care_unit_id") or "") or None, str(form.get("basis", "")),
                                       str(form.get("reason") or "") or None, days=days)
        return (f"Spärrad information öppnad i {days} {'dag' if days == 1 else 'dagar'}. Den visas nu, märkt "
                "Öppnad spärr; var den öppnades står under Öppnad spärrad information.")

    @patient_form
    async def fetch_again(session, form, ctx):
        core.access.forget(session, ctx.patient.id)
        return "Informationen är hämtad på nytt från källorna."

    async def status(request):
        core.session_of(request)
        contracts = core.registry.contract_rows(core.env_name)
        return page("status.html", request, sources=core.monitor.summary(), contracts=contracts,
                    titles={c["id"]: c["title"] for c in contracts}, percent=_percent)

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

    async def session_time(request):
        """How long the session has left (session.js warns before it ends); asking is not activity."""
        return web.json_response(core.sessions.remaining(core.session_of(request, touch=False)))

    async def extend_session(request):
        """"Fortsätt arbeta": the request itself is the activity that extends the session (CSRF-checked)."""
        return web.json_response(core.sessions.remaining(core.session_of(request)))

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
        web.get("/patient/{pid}/att-uppmarksamma", alert_list),
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
        web.get("/-/session", session_time),
        web.post("/-/session", extend_session),
        web.static("/static", STATIC),
    ]
