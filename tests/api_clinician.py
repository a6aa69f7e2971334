"""A clinician's browser over the JSON API of an npo server running in another process."""

from __future__ import annotations

import aiohttp

from .conftest import PATIENT_SCOPED, named


class ApiClinician:
    """Its own cookie jar (one that accepts 127.0.0.1) and CSRF token; answers are (status, body)."""

    def __init__(self, base: str, timeout: float = 30):
        self.http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=timeout))
        self.csrf = ""
        self.patient: str | None = None  # the patient opened last: named on every patient-scoped call

    async def close(self) -> None:
        await self.http.close()

    async def post(self, path: str, data: dict | None = None) -> tuple[int, dict]:
        data = dict(data or {})
        if self.patient and path.startswith(PATIENT_SCOPED):
            data.setdefault("patient_id", self.patient)
        async with self.http.post(path, json=data, headers={"X-CSRF-Token": self.csrf}) as r:
            status, body = r.status, await r.json()
        if path == "/api/patient" and status == 200:
            self.patient = body["patient"]
        return status, body

    async def get(self, path: str) -> tuple[int, dict]:
        async with self.http.get(named(path, self.patient)) as r:
            return r.status, await r.json()

    async def login(self, clinician: str, assignment: str) -> None:
        """The demo login, then the assignment (medarbetaruppdrag); both must succeed."""
        status, body = await self.post("/api/login/demo", {"clinician": clinician})
        assert status == 200, body
        self.csrf = body["csrf_token"]
        status, body = await self.post("/api/assignment", {"assignment_id": assignment})
        assert status == 200, body
