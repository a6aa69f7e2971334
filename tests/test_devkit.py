"""The contract plugin developer kit: the scaffold, and the tutorial's finished package, installed for real.

Packages are pip-installed from copies into private target directories and used through
PYTHONPATH, exactly as a third party's plugin would be; nothing is installed into the
environment running these tests, and the tree stays clean.
"""

from __future__ import annotations

import ast
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from npo_core.scaffold import ScaffoldError, plan, scaffold

from .conftest import REPO

EXAMPLE = REPO / "examples" / "npo-careplans"
OBSERVATIONS = ("GetObservations", "clinicalprocess_healthcond_basic/interactions/GetObservationsInteraction/"
                                   "GetObservationsResponder_1.1.xsd")
FIONA = "199701062383"


def pip_install(source: Path, target: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def run_tests(package: Path, site: Path, bundle: Path) -> subprocess.CompletedProcess:
    """The package's own test suite, against the installed copy (-P: the source folder is not on sys.path)."""
    env = {**os.environ, "PYTHONPATH": str(site), "NPO_RIVTA_SCHEMAS": str(bundle),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the packages' tests need no pytest plugins: start faster
    env.pop("NPO_LOAD_PLUGINS", None)
    return subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
                          cwd=package, env=env, capture_output=True, text=True)


def npo(*args: str, site: Path, registry: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(registry), *args],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)})


# -- the scaffold ------------------------------------------------------------------------------


def test_a_scaffolded_contract_package_passes_its_own_tests_once_installed(tmp_path, bundle):
    package = scaffold(*OBSERVATIONS, bundle, tmp_path / "src")
    assert package == tmp_path / "src" / "npo-get-observations-1"
    module = (package / "npo_get_observations_1" / "__init__.py").read_text()
    assert 'version = "1.1"' in module and "INTERACTION_AGREEMENT_ID" in module and "TODO" in module
    assert '[project.entry-points.npo]\nnpo_get_observations_1 = "npo_get_observations_1"' in (
        package / "pyproject.toml").read_text()
    pip_install(package, tmp_path / "site")
    done = run_tests(package, tmp_path / "site", bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout and "failed" not in done.stdout


# One of each family the scaffold meets in the bundle: IIType requests with an agreement id and
# no result, the newer accessControlHeader, a legacy release, and a header whose care unit is required.
FAMILIES = [
    ("GetActivities", "clinicalprocess_activity_actions/interactions/GetActivitiesInteraction/"
                      "GetActivitiesResponder_1.0.xsd"),
    ("GetCareDocumentation", "clinicalprocess_healthcond_description/interactions/GetCareDocumentationInteraction/"
                             "GetCareDocumentationResponder_3.0.xsd"),
    ("GetLaboratoryOrderOutcome", "clinicalprocess_healthcond_actoutcome/interactions/"
                                  "GetLaboratoryOrderOutcomeInteraction/GetLaboratoryOrderOutcomeResponder_4.2.xsd"),
    ("GetDiagnosis", "legacy/npoadapter/clinicalprocess_healthcond_description/interactions/"
                     "GetDiagnosisInteraction/GetDiagnosisResponder_2.0.xsd"),
    ("GetMaternityMedicalHistory", "clinicalprocess_healthcond_actoutcome/interactions/"
                                   "GetMaternityMedicalHistoryInteraction/GetMaternityMedicalHistoryResponder_2.0.xsd"),
]


@pytest.mark.parametrize("name,schema", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_scaffolded_contracts_of_every_family_conform(name, schema, bundle, tmp_path, monkeypatch):
    """In-process, without installing: the generated module passes every conformance check as written."""
    import importlib

    from npo_core import conformance
    from npo_core.plugins import collect, make_plugin_manager

    from .conftest import DEMO_TODAY

    package = scaffold(name, schema, bundle, tmp_path)
    module_name = next(p.name for p in package.iterdir() if p.name.startswith("npo_"))
    monkeypatch.syspath_prepend(str(package))
    try:
        module = importlib.import_module(module_name)
        reg = collect(make_plugin_manager(load_entrypoints=False, extra=(module,)))
        [contract] = reg.contracts.values()
        for check in conformance.checks(contract, bundle, reg.views, DEMO_TODAY):
            check.run()
    finally:
        for loaded in [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]:
            del sys.modules[loaded]


def newest_clinical_schemas(bundle: Path) -> list[tuple[str, str]]:
    """(name, schema) of every clinical responder schema in the bundle, each major at its newest minor."""
    newest: dict = {}
    for path in sorted(bundle.glob("clinicalprocess_*/interactions/*/*Responder_*.xsd")):
        name, major, minor = re.fullmatch(r"(\w+)Responder_(\d+)\.(\d+)\.xsd", path.name).groups()
        if newest.get((name, major), (-1,))[0] < int(minor):
            newest[(name, major)] = (int(minor), path.relative_to(bundle).as_posix())
    return sorted((name, schema) for (name, _major), (_minor, schema) in newest.items())


# Answers without a PatientSummary header: groups of activities or observations, the IIType-based header.
NOT_PATIENT_SUMMARY = {("GetActivities", "1"), ("GetObservations", "1"), ("GetCareDocumentation", "3"),
                       ("GetLaboratoryOrderOutcome", "4")}


def test_every_clinical_responder_schema_scaffolds_a_declaration_whose_own_tests_pass(bundle, tmp_path):
    """Each clinical contract of the bundle (majors apart, newest minor): a PatientSummaryContract subclass that
    imports only npo_core, and whose package's tests pass, all run by one pytest."""
    schemas = newest_clinical_schemas(bundle)
    assert len(schemas) >= 17 and ("GetActivities", "clinicalprocess_activity_actions/interactions/"
                                   "GetActivitiesInteraction/GetActivitiesResponder_1.0.xsd") in schemas
    packages = []
    for i, (name, schema) in enumerate(schemas):
        package = scaffold(name, schema, bundle, tmp_path / str(i))
        source = next(package.glob("npo_*/__init__.py")).read_text()
        tree = ast.parse(source)
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imported <= {"__future__", "functools", "lxml", "npo_core", "npo_core.riv"}, (schema, imported)
        [declared] = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert [ast.unparse(b) for b in declared.bases] == ["riv.PatientSummaryContract"], schema
        assert "    body = (" in source and not list(package.glob("npo_*/xmltree.py")), schema
        major = re.search(r"Responder_(\d+)", schema).group(1)
        said = "# TODO: The answer is not PatientSummary-shaped" in source
        assert said == ((name, major) in NOT_PATIENT_SUMMARY), schema
        packages.append(package)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, packages)), "NPO_RIVTA_SCHEMAS": str(bundle),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("NPO_LOAD_PLUGINS", None)
    done = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "--import-mode=importlib", *[str(p / "tests") for p in packages]],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed" not in done.stdout and " error" not in done.stdout
    # Five conformance checks, the request round trip and Egon's variants each; only the installed-package
    # check waits for a pip install (the test above does one).
    assert re.search(r"\b(\d+) passed", done.stdout).group(1) == str(7 * len(packages)), done.stdout[-2000:]
    assert f"{len(packages)} skipped" in done.stdout


def test_the_scaffold_derives_the_contract_from_the_bundle(bundle):
    p = plan("GetCarePlans", "clinicalprocess_logistics_logistics/interactions/GetCarePlansInteraction/"
                             "GetCarePlansResponder_2.0.xsd", bundle)
    assert (p.version, p.major, p.service_domain) == ("2.0", 2, "clinicalprocess:logistics:logistics")
    assert p.wsdl.endswith("GetCarePlansInteraction_2.0_RIVTABP21.wsdl")
    assert not p.standard_soap_action  # the WSDL's own, non-standard SOAPAction is kept
    assert p.soap_action == "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans"
    assert [(f.local, f.kind) for f in p.request][:4] == [
        ("careUnitHSAId", "units"), ("patientId", "patient_person"), ("datePeriod", "period"),
        ("sourceSystemHSAId", "source")]
    assert p.record_tag == "carePlan" and p.roles["care_unit_id"].endswith("healthcareProfessionalCareUnitHSAId")


def test_the_scaffold_refuses_what_it_cannot_do_in_one_line(bundle, tmp_path):
    with pytest.raises(ScaffoldError, match="no patientId"):
        plan("GetSupportedServiceContracts", "infrastructure_itintegration_registry/interactions/"
             "GetSupportedServiceContractsInteraction/GetSupportedServiceContractsResponder_2.0.xsd", bundle)
    with pytest.raises(ScaffoldError, match="not GetDiagnosis's responder schema"):
        plan("GetDiagnosis", OBSERVATIONS[1], bundle)
    with pytest.raises(ScaffoldError, match="not in the bundle"):
        plan("GetObservations", "nowhere/GetObservationsResponder_1.1.xsd", bundle)
    (tmp_path / "npo-get-observations-1").mkdir()
    (tmp_path / "npo-get-observations-1" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="exists and is not empty"):
        scaffold(*OBSERVATIONS, bundle, tmp_path)


# -- the tutorial's package: examples/npo-careplans -------------------------------------------------


@pytest.fixture(scope="module")
def careplans(tmp_path_factory):
    """(source copy, site directory) of the example, installed for real."""
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / "npo-careplans",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    site = tmp_path_factory.mktemp("site")
    pip_install(source, site)
    return source, site


def test_the_example_passes_its_own_tests_once_installed(careplans, bundle):
    source, site = careplans
    done = run_tests(source, site, bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout and "failed" not in done.stdout


def test_the_installed_example_is_a_plugin_npo_lists_enables_and_checks(careplans, bundle, tmp_path):
    _, site = careplans
    registry = tmp_path / "registry.db"
    plugins = {p["name"]: p for p in json.loads(npo("plugins", "--json", site=site, registry=registry).stdout)}
    assert plugins["careplans"]["distribution"] == "npo-careplans" and plugins["careplans"]["version"] == "1.0.0"
    assert plugins["careplans"]["hooks"] == ["register_contracts", "register_views"]
    assert plugins["careplans"]["registered"] == {"contracts": ["GetCarePlans:2"], "views": ["vardplaner"]}
    rows = json.loads(npo("contracts", "list", "--env", "demo", "--json", site=site, registry=registry).stdout)
    row = next(r for r in rows if r["id"] == "GetCarePlans:2")
    assert (row["enabled"], row["plugin"], row["categorization"], row["title"]) == (True, "careplans", "cll-cp",
                                                                                     "Vårdplaner")
    done = npo("contracts", "check", "GetCarePlans", "--schemas", str(bundle), site=site, registry=registry)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GetCarePlans:2 (careplans) conforms to GetCarePlans 2.0." in done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A clinician's browser against a real server: a cookie jar and the CSRF token."""

    def __init__(self, base: str):
        self.base, self.csrf = base, None
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request(self.base + path, method=method, headers=headers,
                                     data=json.dumps(data or {}).encode() if method == "POST" else None)
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, path: str, data: dict | None = None, expect: tuple = (200, 201)) -> dict:
        status, body = self.request("POST", path, data)
        assert status in expect, (path, status, body)
        return json.loads(body)


@pytest.fixture
def demo_server(careplans, tmp_path):
    """`npo demo` in a subprocess with the example on PYTHONPATH: the whole product, as an operator runs it."""
    _, site = careplans
    port, platform_port = free_port(), free_port()
    log = tmp_path / "npo-demo.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "npo_core", "--registry", str(tmp_path / "registry.db"), "demo",
             "--port", str(port), "--platform-port", str(platform_port)],
            env={**os.environ, "PYTHONPATH": str(site)}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"npo demo exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("npo demo did not start listening within 20 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_example_view_is_served_in_the_demo_environment(demo_server):
    browser = Browser(demo_server)
    browser.csrf = browser.post("/api/login/demo", {"clinician": "SE2321000016-1001"})["csrf_token"]
    browser.post("/api/assignment", {"assignment_id": "SE2321000016-1001-U1"})
    browser.post("/api/patient", {"patient_id": FIONA})
    browser.post("/api/relation", {"patient_id": FIONA})
    browser.post("/api/consent", {"patient_id": FIONA, "whole_unit": True, "days": 7})

    status, body = browser.request("GET", f"/api/records?patient_id={FIONA}&set=vardplaner")
    assert status == 200, body
    result = json.loads(body)
    plans = result["records"]
    assert plans and {p["contract"] for p in plans} == {"GetCarePlans:2"}
    assert len({p["care_provider_id"] for p in plans}) >= 2, "with consent, other care providers' plans show"
    assert {s["status"] for s in result["sources"] if s["contract"] == "GetCarePlans:2"} == {"ok"}

    status, page = browser.request("GET", f"/patient/{FIONA}/vardplaner")
    assert status == 200, page
    assert "Vårdplaner" in page and "Fiona Andersdotter" in page
    for p in plans:
        assert p["title"] in page and p["care_unit_name"] in page and p["care_provider_name"] in page
    assert "Samordnad individuell plan" in page or "Rehabiliteringsplan" in page
