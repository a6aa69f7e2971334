"""Användningsstatistik: how npo is used, per environment and day, from the access log; counts only.

For a clinician who holds an assignment with the purpose Administration (the national service publishes
its usage the same way). It shows no patient and no clinician by name, so reading it is not a read of
patient data and is not logged as one."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from npo_core import SWEDEN, BadRequest, Forbidden, hookimpl

DAYS_SHOWN = 30
COLUMNS = [("reads", "Läsningar"), ("searches", "Sökta patienter"), ("clinicians", "Användare"),
           ("care_units", "Vårdenheter"), ("consents", "Samtycken"), ("emergency_accesses", "Nödöppningar")]


def _day(value: str | None, default: dt.date) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"Ange datum som ÅÅÅÅ-MM-DD, inte {value[:20]!r}.", code="bad_date") from None


def by_environment(days: list[dict], totals: list[dict]) -> dict[str, dict]:
    """Per environment: its days and its period total (distinct users and care units over the whole period,
    which the days' counts do not add up to)."""
    envs = {t["environment"]: {"days": [], "total": t} for t in totals}
    for row in days:
        envs[row["environment"]]["days"].append(row)
    return envs


@hookimpl
def register_routes(core):
    async def statistics(request):
        session = core.session_of(request)
        if not session.administers:
            raise Forbidden("Användningsstatistiken visas bara för uppdrag med syftet Administration.",
                            code="not_admin")
        today = dt.datetime.now(SWEDEN).date()
        end = _day(request.query.get("to"), today)
        start = _day(request.query.get("from"), end - dt.timedelta(days=DAYS_SHOWN - 1))
        if end < start:
            raise BadRequest("Slutdatumet ligger före startdatumet.", code="bad_period")
        days = await core.off_loop(core.guards.usage, start, end)
        totals = await core.off_loop(core.guards.usage, start, end, per_day=False)
        return core.render("statistics.html", request=request, help_page="statistics.html",
                           envs=by_environment(days, totals), columns=COLUMNS,
                           start=start, end=end)

    return [web.get("/statistik", statistics)]
