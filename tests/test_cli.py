"""The operator CLI, run as an operator would: a real process against a real registry file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def npo(tmp_path):
    def run(*args, ok=True):
        done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(tmp_path / "registry.db"), *args],
                              capture_output=True, text=True, env={**os.environ, "NPO_REGISTRY": ""})
        if ok:
            assert done.returncode == 0, done.stderr
        return done
    return run


def test_init_creates_the_registry(npo, tmp_path):
    assert "Registry ready" in npo("init").stdout
    assert (tmp_path / "registry.db").is_file()


def test_contracts_list_and_toggle_per_environment(npo):
    rows = json.loads(npo("contracts", "list", "--env", "demo", "--json").stdout)
    assert {"id": "GetDiagnosis:2", "version": "2.0", "categorization": "dia", "enabled": True} == {
        k: v for k, v in next(r for r in rows if r["id"] == "GetDiagnosis:2").items()
        if k in ("id", "version", "categorization", "enabled")}
    assert "GetDiagnosis:2 disabled in demo" in npo("contracts", "disable", "GetDiagnosis", "--env", "demo").stdout
    assert "GetDiagnosis:2 enabled in prod" in npo("contracts", "enable", "GetDiagnosis:2", "--env", "prod").stdout
    demo = {r["id"]: r["enabled"] for r in json.loads(npo("contracts", "list", "--env", "demo", "--json").stdout)}
    prod = {r["id"]: r["enabled"] for r in json.loads(npo("contracts", "list", "--env", "prod", "--json").stdout)}
    assert demo["GetDiagnosis:2"] is False and prod["GetDiagnosis:2"] is True
    table = npo("contracts", "list", "--env", "prod").stdout
    assert table.splitlines()[0].split()[:3] == ["id", "version", "categorization"]


def test_env_show_and_set(npo):
    npo("env", "set", "qa", "base_url", "https://vp.example/vp")
    npo("env", "set", "qa", "read_timeout", "12.5")
    npo("env", "set", "qa", "validate_responses", "yes")
    qa = json.loads(npo("env", "show", "qa", "--json").stdout)
    assert qa["base_url"] == "https://vp.example/vp" and qa["read_timeout"] == 12.5 and qa["validate_responses"]
    assert qa["npo_hsa_id"] == "T_SERVICES_SE165565594230-10KD"
    names = [e["name"] for e in json.loads(npo("env", "list", "--json").stdout)]
    assert names == ["demo", "prod", "qa", "sit"]


def test_producers_add_list_remove_and_available(npo):
    npo("producers", "add", "--env", "qa", "--provider", "SE2321000016-F0VB", "--provider-name", "Region Stockholm",
        "--unit", "SE2321000016-9RKT=Gubbängens vårdcentral", "--logical-address", "SE2321000016-TKC1",
        "--system-name", "TakeCare", "--contract", "GetDiagnosis")
    [row] = json.loads(npo("producers", "list", "--env", "qa", "--json").stdout)
    assert row["logical_address"] == "SE2321000016-TKC1" and row["contracts"] == ["GetDiagnosis:2"]
    # Not enabled in qa yet: not available there.
    assert json.loads(npo("available", "--env", "qa", "--json").stdout) == {}
    npo("contracts", "enable", "GetDiagnosis", "--env", "qa")
    assert json.loads(npo("available", "--env", "qa", "--json").stdout) == {"Region Stockholm": ["Diagnoser"]}
    assert "Region Stockholm" in npo("available", "--env", "qa").stdout
    npo("producers", "remove", "--env", "qa", "SE2321000016-TKC1")
    assert json.loads(npo("producers", "list", "--env", "qa", "--json").stdout) == []


@pytest.mark.parametrize("args, message", [
    (["contracts", "list", "--env", "staging"], "No environment named 'staging'"),
    (["contracts", "enable", "GetNothing", "--env", "demo"], "No contract 'GetNothing'"),
    (["producers", "remove", "--env", "qa", "SE1-X"], "No source system"),
    (["producers", "add", "--env", "qa", "--provider", "SE2321000016-F0VB", "--logical-address", "not an id",
      "--system-name", "x", "--contract", "GetDiagnosis"], "Not a valid logical address: it holds white space"),
    (["env", "set", "qa", "read_timeout", "soon"], "read_timeout is a number"),
    (["schemas", "use", "/nonexistent"], "does not look like a RIV-TA schema bundle"),
    (["contracts", "decode", "GetDiagnosis", "/etc/hostname"], "not well-formed XML"),
])
def test_errors_are_one_clear_line_and_a_nonzero_exit(npo, args, message):
    done = npo(*args, ok=False)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_help_is_everywhere(npo):
    for args in ([], ["contracts"], ["contracts", "validate"], ["producers", "add"], ["env", "set"], ["demo"]):
        done = npo(*args, "--help")
        assert done.returncode == 0 and "Usage:" in done.stdout


def test_schemas_use_points_validate_at_the_bundle(npo, bundle, tmp_path):
    npo("schemas", "use", str(bundle))
    from npo_core import soap
    from npo_core.contract import Query
    from npo_core.identity import parse_patient_id
    from npo_plugins.contracts.get_diagnosis import GetDiagnosis

    request = tmp_path / "request.xml"
    request.write_bytes(soap.envelope(GetDiagnosis().build_request(Query(parse_patient_id("199701062383"))),
                                      "SE2321000016-TKC1"))
    assert "is valid GetDiagnosis 2.0" in npo("contracts", "validate", "GetDiagnosis", str(request)).stdout


def test_contracts_check_runs_the_conformance_suite(npo, bundle):
    done = npo("contracts", "check", "GetDiagnosis", "--schemas", str(bundle))
    assert done.stdout.count("ok    ") == 5 and "conforms to GetDiagnosis 2.0" in done.stdout


def test_contracts_new_writes_a_package_and_says_what_next(npo, bundle, tmp_path):
    schema = "clinicalprocess_healthcond_basic/interactions/GetObservationsInteraction/GetObservationsResponder_1.1.xsd"
    done = npo("contracts", "new", "GetObservations", "--schema", schema, "--bundle", str(bundle),
               "--into", str(tmp_path))
    written = done.stdout.splitlines()[0].removeprefix("Wrote ")
    assert (tmp_path / written.split("/")[-1] / "pyproject.toml").is_file()
    assert "npo contracts check GetObservations" in done.stdout
    again = npo("contracts", "new", "GetObservations", "--schema", schema, "--bundle", str(bundle),
                "--into", str(tmp_path), ok=False)
    assert again.returncode == 1 and "Traceback" not in again.stderr
