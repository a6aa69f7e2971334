"""Schemathesis against the JSON API, from the OpenAPI document the running app serves.

The app is the real `npo demo` process on 127.0.0.1 (registry, demo producers, access log: all real).
Every generated request runs in a logged-in session (cookie + the session's X-CSRF-Token) with a patient
open, so operations reach their handlers instead of stopping at 401/403. The checks:

- no 5xx on any operation (a guard's 503 is documented, but the demo's guards are healthy: none is expected);
- every status code is one the document declares for the operation;
- the content type and the body conform to the document (JSON; errors as {error, message}).

Positive cases for every operation, negative cases (schema-violating bodies and parameters) for every
operation that has a body or a parameter to break. The run is bounded: MAX_EXAMPLES per operation and
mode, no shrinking, no example database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

HOST = "127.0.0.1"
FIONA = "199701062383"
MAX_EXAMPLES = 12  # per operation and generation mode: 25 runs, about 300 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`npo demo` as a real process on free ports; its output is kept next to its registry."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    port, platform_port = free_port(), free_port()
    while platform_port == port:
        platform_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NPO_LOAD_PLUGINS", "NPO_TRACE_PLUGINS")}
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(workdir / "registry.db"), "demo",
                             "--host", HOST, "--port", str(port), "--platform-port", str(platform_port)],
                            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"npo demo did not start:\n{(workdir / 'server.log').read_text()}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("npo demo did not answer within 20 s")
            time.sleep(0.1)
    yield base, workdir / "server.log"
    proc.kill()
    proc.wait()
    log.close()


@pytest.fixture(scope="module")
def api_schema(server):
    base, _ = server
    return schemathesis.openapi.from_url(f"{base}/api/openapi.json", timeout=10)


class Clinician:
    """A logged-in browser: Anna Lindqvist at Gubbängens vårdcentral with Fiona open."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def fresh(self) -> "Clinician":
        self.http.cookies.clear()
        resp = self.http.post(f"{self.base}/api/login/demo", json={"clinician": "SE2321000016-1001"}, timeout=10)
        assert resp.status_code == 200, resp.text
        self.csrf = resp.json()["csrf_token"]
        for path, body in (("/api/assignment", {"assignment_id": "SE2321000016-1001-U1"}),
                           ("/api/patient", {"patient_id": FIONA})):
            resp = self.http.post(self.base + path, json=body, headers={"X-CSRF-Token": self.csrf}, timeout=10)
            assert resp.status_code == 200, resp.text
        return self


@pytest.fixture(scope="module")
def clinician(server):
    base, _ = server
    anna = Clinician(base)
    yield anna
    anna.http.close()


def document() -> dict:
    from npo_core.api import endpoints, openapi

    return openapi(None, endpoints(None))


def negatable(method: str, path: str) -> bool:
    """Negative cases need an input to break besides the fixed cookie and CSRF header: a body or a parameter."""
    op = document()["paths"][path][method.lower()]
    return bool(op.get("requestBody") or [p for p in op.get("parameters", []) if p["name"] != "X-CSRF-Token"])


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the document describes, from the same code the app serves it with.

    Only to name the tests at collection time; what is generated comes from the served document, and
    test_the_served_document_lists_these_operations keeps the two the same.
    """
    return sorted((method.upper(), path) for path, ops in document()["paths"].items() for method in ops)


OPERATIONS = operations()
CASES = [pytest.param(GenerationMode.POSITIVE, method, path, id=f"positive-{method} {path}")
         for method, path in OPERATIONS] + [
        pytest.param(GenerationMode.NEGATIVE, method, path, id=f"negative-{method} {path}")
        for method, path in OPERATIONS if negatable(method, path)]


def test_the_served_document_lists_these_operations(api_schema):
    served = sorted((method.upper(), path) for path, ops in api_schema.raw_schema["paths"].items() for method in ops)
    assert served == OPERATIONS


@pytest.mark.parametrize("mode, method, path", CASES)
def test_the_api_conforms_to_its_openapi_document(api_schema, clinician, mode, method, path):
    operation = api_schema[path][method]
    refusals: list[str | None] = []  # the API's error code of each 4xx
    # The session's cookie and CSRF token are fixed (and filled in per case): generated or left-out values
    # would stop every request at 401/403 before the handler, which tests/test_web_security.py covers.
    fixed = {"cookies": {"npo_session": "per-case"}}
    if method == "POST":
        fixed["headers"] = {"X-CSRF-Token": "per-case"}
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        anna = clinician.fresh()  # a logout or an assignment change must not leak into the next case
        headers = {"X-CSRF-Token": anna.csrf}
        cookies = {"npo_session": anna.http.cookies["npo_session"]}
        response = case.call(session=anna.http, headers=headers, cookies=cookies, timeout=30)
        try:
            refusals.append(response.json().get("error") if response.status_code >= 400 else None)
        except (ValueError, AttributeError):
            refusals.append(None)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
    assert refusals, "no case ran"
    harness = {"csrf", "not_logged_in", "session_expired"} & set(refusals)
    assert not harness, f"the harness failed: cases stopped at {harness} before reaching the handler"


def test_the_server_logged_no_unhandled_error(server):
    """Runs after the operations (file order): a 500 hidden behind a retry or a 4xx would show here."""
    _, log = server
    text = log.read_text(errors="replace")
    assert "unhandled error" not in text and "Traceback" not in text, text[-3000:]
