"""Every `npo` command against hostile arguments and files: a clear error and a non-zero exit, never a traceback.

The walk introspects `npo_core.cli.cli`, so a command added later (by npo or a plugin) is walked too.
Each command runs in-process through click's CliRunner with catch_exceptions=False, against its own copy
of a real registry file, first with arguments that work (the baseline), then with one argument at a time
replaced by a hostile value. What a parameter may legitimately accept (a care provider may be called
"inf") is listed per kind; every other hostile value must be refused. A few tests run the real entry point
(`python -m npo_core`) in a subprocess, for what only a process shows: undecodable argv bytes, a closed
pipe, a port in use, the last-resort handler.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from lxml import etree

from npo_core import cli as cli_module
from npo_core.cli import cli
from npo_core.errors import BadRequest
from npo_core.plugins import collect, make_plugin_manager
from npo_core.registry import Registry

from .conftest import DEMO_TODAY, find_bundle

HARRY = "194602226559"  # the demo patient with blocks
PROVIDER, UNIT, EMPLOYEE, BY = "SE2321000016-F0VB", "SE2321000016-9RKT", "SE2321000016-1001", "SE2321000016-ADM1"
SCHEMA = "clinicalprocess_healthcond_basic/interactions/GetObservationsInteraction/GetObservationsResponder_1.1.xsd"
BUNDLE = find_bundle()

HOSTILE = {
    "empty": "",
    "control": "x\x1b[2J\x1b]0;owned\x07\x08\rnext",
    "binary-ish": "\x01\x02\x7f\x80\x9b\xfe\xff",
    "undecodable": "caf\udce9",  # what Python makes of the non-UTF-8 byte 0xE9 in argv
    "bidi": "evil\u202etxt.exe",
    "long": "A" * 100_000,
    "dotdot": "../../../npo-outside/x",
    "missing": "/nonexistent/npo/x",
    "directory": "{directory}",
    "env": "nosuch",
    "9999-12-31": "9999-12-31",
    "0000-01-01": "0000-01-01",
    "2026-02-30": "2026-02-30",
    "inf": "inf",
    "nan": "nan",
    "-1": "-1",
    "0": "0",
    "superscript": "²",
    "arabic-indic": "٣",
}
NEVER = {"empty", "control", "binary-ish", "undecodable", "bidi", "long"}  # no parameter takes these
PRINTABLE = set(HOSTILE) - NEVER

# What each kind of parameter may accept among the hostile values; anything else must be an error.
ACCEPTS = {
    "strict": set(),  # environments, HSA-ids, patients, contracts, numbers, URLs, ids, files, choices
    "date": {"9999-12-31"},
    "exclude": {"empty"},
    "text": PRINTABLE,  # names and free text: any printable, non-empty, not too long
    "host": {"env", "9999-12-31", "0000-01-01", "2026-02-30", "inf", "nan", "0"},  # host names, syntactically
    "logical address": {"env", "9999-12-31", "0000-01-01", "2026-02-30", "inf", "nan", "0"},  # TAK codes (VS-1)
    "existing directory": {"directory"},
    "seconds from 0": {"0"},
    "new file": PRINTABLE - {"missing", "directory"},  # a relative name is a new registry in the current folder
    "unknown": set(HOSTILE),  # a parameter this test does not know: only "no traceback, one clear line"
}
KIND = {  # (command, parameter) or parameter alone
    "text": ["provider_name", "system_name", "reason_text", "represented_by"],
    "date": ["start", "end", "today"],
    "exclude": ["exclude"],
    "host": ["host"],
    "logical address": ["logical_address"],
    "existing directory": [("contracts new", "into")],
    "seconds from 0": ["latency"],
    "new file": ["registry_path"],  # (--log-key and --log-checkpoints belong to the access log's own work)
    "strict": ["env_name", "provider_id", "provider", "unit", "units", "employee", "by", "user",
               "contract_names", "endpoint", "patient_raw", "block_type", "reason", "days", "port", "platform_port", "parent_pid",
               "faults", "block_id", "consent_id", "file", "bundle", "schema", "directory",
               ("env show", "name"), ("env set", "name"), ("env set", "key"), ("env set", "value"),
               ("contracts enable", "name"), ("contracts disable", "name"), ("contracts validate", "name"),
               ("contracts check", "name"), ("contracts new", "name"), ("contracts decode", "name"),
               ("contracts coverage", "name")],
}


def kind_of(command: str, param: str) -> str:
    for kind, names in KIND.items():
        if (command, param) in names:
            return kind
    for kind, names in KIND.items():
        if param in names:
            return kind
    return "unknown"


def commands(group: click.Group = cli, prefix: tuple = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, prefix + (name,))
        else:
            yield " ".join(prefix + (name,)), command


def _plugin_commands():
    pm = make_plugin_manager()
    pm.hook.register_commands(cli=cli)  # what main() does: plugin commands are walked too
    return pm


PM = _plugin_commands()
COMMANDS = dict(commands())


def diagnosis_response(records: int = 2) -> bytes:
    """A GetDiagnosis answer as a producer sends it, pretty-printed so elements have lines of their own."""
    from npo_core import soap
    from npo_core.contract import Query
    from npo_core.demo import demo_source
    from npo_core.identity import parse_patient_id

    contract = collect(PM).contracts["GetDiagnosis:2"]
    source = demo_source(HARRY, "SE2321000016-TKC1", contract.id, DEMO_TODAY)
    payload = contract.render_response(contract.demo_records(source)[:records], Query(parse_patient_id(HARRY)))
    return etree.tostring(etree.fromstring(soap.envelope(payload)), pretty_print=True, xml_declaration=True,
                          encoding="UTF-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    """A registry with the demo producers, Harry's blocks, a consent and feedback; copied for every test."""
    from npo_core.app import Core
    from npo_core.demo import seed_blocks, seed_registry
    from npo_core.guards import now

    folder = tmp_path_factory.mktemp("template")
    path = folder / "registry.db"
    registry = Registry(path)
    registry.sync_contracts(collect(PM).contracts.values())
    seed_registry(registry, [r["id"] for r in registry.contract_rows("demo")])
    core = Core(registry, "demo", PM)
    seed_blocks(core.guards)
    guards = core.guards
    consents = []
    for _ in range(2):
        start = now()
        cid, sql = guards.consent_insert_sql(
            assertion_type="Consent", patient_id=HARRY, care_provider_id=PROVIDER, care_unit_id=UNIT,
            employee_id=None, start=start, end=start + dt.timedelta(days=30), registered_by=BY, assignment_id="t")
        guards.admin_change(BY, "register_consent", HARRY, [sql], consent_id=cid)
        consents.append(cid)
    blocks = [r["id"] for r in guards.block_rows(HARRY)]
    registry.add_feedback(time="2026-11-01T10:00:00+01:00", user_id=EMPLOYEE, care_unit_id=UNIT, page="/",
                          did="Sökte", expected="Listan", happened="Inget")
    guards.close()
    registry.close()
    (folder / "response.xml").write_bytes(diagnosis_response())
    return {"folder": folder, "blocks": blocks, "consents": consents}


@pytest.fixture
def world(template, tmp_path, monkeypatch) -> dict:
    """This test's own copy of the template registry, a working folder three levels down, and no servers."""
    for file in template["folder"].iterdir():
        shutil.copy(file, tmp_path / file.name)
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    (tmp_path / "into").mkdir()
    (tmp_path / "empty-dir").mkdir()
    monkeypatch.chdir(work)
    served = []
    monkeypatch.setattr(cli_module, "_run", lambda apps, banner: served.append(banner))
    return {"registry": tmp_path / "registry.db", "response": tmp_path / "response.xml", "tmp": tmp_path,
            "blocks": template["blocks"], "consents": template["consents"], "served": served}


def invoke(world: dict, args: list[str]):
    """One npo command in-process, as main() runs it; the group's own options come first."""
    runner = CliRunner(env={"NPO_LOG_KEY_FILE": None, "NPO_LOG_CHECKPOINTS": None, "NPO_REGISTRY": None})
    if not any(a == "--registry" for a in args):
        args = ["--registry", str(world["registry"]), *args]
    return runner.invoke(cli, args, obj=PM, catch_exceptions=False)


def baseline(world: dict) -> dict[str, dict]:
    """Arguments that work, per command (parameter name -> value)."""
    b, c = world["blocks"], world["consents"]
    bundle = {"bundle": str(BUNDLE)} if BUNDLE else {}
    return {
        "serve": {"env_name": "demo"},
        "env show": {"name": "qa"},
        "env set": {"name": "qa", "key": "read_timeout", "value": "12.5"},
        "contracts list": {"env_name": "demo"},
        "contracts enable": {"name": "GetDiagnosis", "env_name": "qa"},
        "contracts disable": {"name": "GetDiagnosis", "env_name": "qa"},
        "contracts validate": {"name": "GetDiagnosis", "file": str(world["response"]), **bundle},
        "contracts check": {"name": "GetDiagnosis", **bundle},
        "contracts new": {"name": "GetObservations", "schema": SCHEMA, **bundle, "into": str(world["tmp"] / "into")},
        "contracts decode": {"name": "GetDiagnosis", "file": str(world["response"])},
        "contracts coverage": {"name": "GetDiagnosis", "file": str(world["response"])},
        "producers list": {"env_name": "qa"},
        "producers add": {"env_name": "qa", "provider_id": PROVIDER, "provider_name": "Region Stockholm",
                          "units": f"{UNIT}=Gubbängens vårdcentral", "logical_address": "SE2321000016-TKC1",
                          "system_name": "TakeCare", "contract_names": "GetDiagnosis",
                          "endpoint": "https://producer.example/diag"},
        "producers remove": {"env_name": "demo", "logical_address": "SE2321000016-TKC1"},
        "available": {"env_name": "demo"},
        "schemas use": {"directory": str(BUNDLE or world["tmp"] / "empty-dir")},
        "blocks list": {"patient_raw": HARRY},
        "blocks add": {"patient_raw": HARRY, "block_type": "inner", "provider": PROVIDER, "unit": UNIT,
                       "start": "2020-01-01", "end": "2024-12-31", "exclude": "lak", "by": BY},
        "blocks revoke": {"block_id": b[0], "unit": UNIT, "employee": EMPLOYEE, "reason": "Emergency",
                          "reason_text": "Akut", "days": "2", "by": BY},
        "blocks cancel": {"block_id": b[1], "by": BY},
        "consents list": {"patient_raw": HARRY},
        "consents add": {"patient_raw": HARRY, "provider": PROVIDER, "unit": UNIT, "employee": EMPLOYEE,
                         "days": "30", "represented_by": "Förälder", "by": BY},
        "consents cancel": {"consent_id": c[0], "by": BY},
        "consents annul": {"consent_id": c[1], "by": BY},
        "log report": {"patient_raw": HARRY, "user": EMPLOYEE, "unit": UNIT, "start": "2020-01-01",
                       "end": "2030-12-31"},
        "log extract": {"patient_raw": HARRY},
    }


def as_args(command: click.Command, values: dict) -> list[str]:
    args, positional = [], []
    for param in command.params:
        if param.name not in values:
            continue
        if isinstance(param, click.Argument):
            positional.append(values[param.name])
        else:
            args += [param.opts[0], values[param.name]]
    return args + (["--", *positional] if positional and any(p.startswith("-") for p in positional) else positional)


def value_params(command: click.Command):
    return [p for p in command.params if not (isinstance(p, click.Option) and (p.is_flag or p.count))
            and p.name not in ("help",)]


RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def problems_of(result, must_fail: bool) -> str | None:
    """None when the run is acceptable; otherwise what is wrong with it."""
    out, err = result.stdout, result.stderr
    if "Traceback" in out + err:
        return "printed a traceback"
    raw = RAW.search(out + err)
    if raw:
        return f"wrote the raw character U+{ord(raw.group()):04X} to the terminal"
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    if result.exit_code == 0:
        return "exited 0 on input that is wrong" if must_fail else None
    if len(errors) != 1 or len(errors[0]) < 15:
        return f"exit {result.exit_code} with {len(errors)} 'Error:' lines: {err[-300:]!r}"
    if any(line.startswith("Error:") for line in out.splitlines()):
        return f"an error on stdout: {out[-200:]!r}"
    return None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_command_gives_a_traceback_on_hostile_arguments(name, world):
    command = COMMANDS[name]
    path = name.split()
    values = baseline(world).get(name, {})
    failures = []
    needs_bundle = name in ("contracts validate", "contracts check", "contracts new", "schemas use")
    knows_baseline = name in baseline(world) or not any(p.required for p in command.params)
    if knows_baseline and (BUNDLE or not needs_bundle):  # the baseline works, so a refusal is the hostile value's
        done = invoke(world, [*path, *as_args(command, values)])
        if done.exit_code != 0 or "Traceback" in done.output:
            failures.append(f"baseline {as_args(command, values)} failed: {done.output[-400:]!r}")
    group_params = [("registry_path", "--registry")] + [
        (p.name, p.opts[0]) for p in cli.params if isinstance(p, click.Option) and p.name not in
        ("registry_path", "version", "help") and not p.is_flag]
    targets = [(p.name, p) for p in value_params(command)]
    if name in ("env list", "blocks list"):  # the group's own options, with one cheap command each
        targets += [(n, opt) for n, opt in group_params]
    for param_name, param in targets:
        kind = kind_of(name, param_name)
        for label, hostile in HOSTILE.items():
            hostile = hostile.replace("{directory}", str(world["tmp"] / "empty-dir"))
            if isinstance(param, str):  # a group option
                args = [param, hostile, *path, *as_args(command, values)]
            else:
                args = [*path, *as_args(command, {**values, param_name: hostile})]
                if param_name not in values and isinstance(param, click.Option):
                    args = [*path, *as_args(command, values), param.opts[0], hostile]
            try:
                result = invoke(world, args)
            except Exception as e:  # noqa: BLE001 - exactly what this test looks for
                failures.append(f"{param_name}={label}: {type(e).__name__}: {str(e)[:200]}")
                continue
            problem = problems_of(result, must_fail=label not in ACCEPTS[kind])
            if problem:
                failures.append(f"{param_name}={label} ({kind}): {problem}")
    assert not failures, f"npo {name}:\n  " + "\n  ".join(failures)


def test_the_walk_knows_every_parameter_of_npo_itself():
    """A parameter of npo's own commands without a kind would only be checked for tracebacks: say what it takes."""
    own = {"init", "plugins", "serve", "demo", "demo-platform"} | {n for n in COMMANDS if n.split()[0] in (
        "env", "contracts", "producers", "available", "schemas", "feedback", "blocks", "consents")}
    own |= {"log report", "log extract"}
    unknown = [f"{n}: {p.name}" for n in sorted(own & set(COMMANDS)) for p in value_params(COMMANDS[n])
               if kind_of(n, p.name) == "unknown"]
    assert not unknown


# -- message files: contracts decode and validate ------------------------------------------------------


def with_question_mark(answer: bytes) -> bytes:
    """The first record's documentTime is '?', as a producer (or a hand-edited test file) may send it."""
    return re.sub(rb"<core:documentTime>[^<]*</core:documentTime>", b"<core:documentTime>?</core:documentTime>",
                  answer, count=1)


def _variants(tmp_path: Path) -> dict[str, Path]:
    good = diagnosis_response()
    files = {
        "?": with_question_mark(good),
        "${patientId}": good.replace(HARRY.encode(), b"${patientId}"),
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "binary": bytes(range(256)) * 8,
        "binary without NUL": bytes(range(1, 256)) * 8,
        "DTD": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        "not an answer": b"<GetNothingResponse xmlns='urn:x'/>",
    }
    paths = {}
    for label, data in files.items():
        path = tmp_path / f"{re.sub(r'[^a-z]', '_', label)}.xml"
        path.write_bytes(data)
        paths[label] = path
    paths["directory"] = tmp_path / "a-directory"
    paths["directory"].mkdir()
    big = tmp_path / "big.xml"
    with open(big, "wb") as f:
        f.truncate(16 * 1024 * 1024)  # sparse: over the limit without writing 16 MB
    paths["too large"] = big
    return paths


DECODE_EXPECTED = {
    "?": ["line ", "documentTime", "'?'"],
    "${patientId}": ["line ", "placeholder", "${patientId}"],
    "truncated": ["line ", "column ", "not well-formed XML"],
    "empty": ["empty"],
    "binary": ["binary"],
    "binary without NUL": ["line 1", "not well-formed XML"],
    "DTD": ["DTD"],
    "not an answer": ["line 1", "GetNothingResponse", "not a GetDiagnosisResponse"],
    "directory": ["directory"],
    "too large": ["bytes"],
}


@pytest.mark.parametrize("command", ["decode", "validate"])
@pytest.mark.parametrize("label", sorted(DECODE_EXPECTED))
def test_a_file_npo_cannot_read_is_one_line_naming_the_problem_and_its_place(world, command, label):
    if command == "validate" and label in ("?", "not an answer"):
        if BUNDLE is None:
            pytest.skip("needs the RIV-TA bundle")
        expected = ["line ", "documentTime" if label == "?" else "GetNothingResponse"]
    else:
        expected = DECODE_EXPECTED[label]
    path = _variants(world["tmp"])[label]
    extra = ["--schemas", str(BUNDLE)] if command == "validate" and BUNDLE else []
    result = invoke(world, ["contracts", command, "GetDiagnosis", str(path), *extra])
    assert problems_of(result, must_fail=True) is None, result.output
    line = [x for x in result.stderr.splitlines() if x.startswith("Error:")][0]
    assert str(path) in result.stderr or path.name in result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    if command == "decode" and label != "?":
        assert result.stdout == "", "nothing is decoded from a file that is no answer"
    assert "Svaret" not in line or label == "?", "the operator's CLI speaks English, not the clinicians' Swedish"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_without_reading_it(world):
    for command in ("decode", "validate"):
        result = invoke(world, ["contracts", command, "GetDiagnosis", "/dev/zero"])
        assert problems_of(result, must_fail=True) is None and "not a regular file" in result.stderr


def test_decode_prints_the_records_it_read_and_an_unread_list(world):
    good = invoke(world, ["contracts", "decode", "GetDiagnosis", str(world["response"])])
    assert good.exit_code == 0, good.output
    answer = json.loads(good.stdout)
    assert len(answer["records"]) == 2 and answer["unread"] == []

    broken = with_question_mark(diagnosis_response())
    unknown = b"<surprise xmlns='urn:x'>1</surprise>"
    broken = broken.replace(b"</diagnosis>\n", b"</diagnosis>\n" + unknown, 1)
    path = world["tmp"] / "broken.xml"
    path.write_bytes(broken)
    result = invoke(world, ["contracts", "decode", "GetDiagnosis", str(path)])
    assert result.exit_code == 1 and problems_of(result, must_fail=True) is None, result.output
    answer = json.loads(result.stdout)
    assert len(answer["records"]) == 1, "one unreadable record costs that record, not the answer"
    unread = {u["element"]: u for u in answer["unread"]}
    assert set(unread) == {"diagnosis", "surprise"} and unread["diagnosis"]["count"] == 1
    assert "not a RIV-TA time stamp" in unread["diagnosis"]["reason"]
    line_of_time = next(i for i, text in enumerate(broken.decode().splitlines(), 1) if ">?<" in text)
    assert f"line {line_of_time}, <GetDiagnosisResponse/diagnosis[1]/diagnosisHeader/documentTime>" in result.stderr


# -- environments --------------------------------------------------------------------------------------


ENV_COMMANDS = sorted(n for n, c in COMMANDS.items() if any(p.name == "env_name" for p in c.params))


@pytest.mark.parametrize("name", ENV_COMMANDS)
def test_every_env_option_refuses_an_unknown_environment_and_names_the_known(world, name):
    values = {**baseline(world).get(name, {}), "env_name": "nosuch"}
    result = invoke(world, [*name.split(), *as_args(COMMANDS[name], values)])
    assert result.exit_code == 2 and problems_of(result, must_fail=True) is None, result.output
    assert "No environment named 'nosuch' (known: demo, prod, qa, sit)" in result.stderr
    assert result.stdout == "", "no empty table"
    assert "available" in ENV_COMMANDS and "serve" in ENV_COMMANDS


REFUSED_SETTINGS = [
    ("base_url", "javascript:alert(1)", "http:// or https://"),
    ("base_url", "file:///etc/passwd", "http:// or https://"),
    ("base_url", "ftp://vp.example/vp", "http:// or https://"),
    ("base_url", "https://", "must name a host"),
    ("base_url", "https:///vp", "must name a host"),
    ("base_url", "https://vp.example:99999/vp", "invalid host or port"),
    ("base_url", "https://user:secret@vp.example/vp", "user name or password"),
    ("base_url", "https://vp.example/vp?x=1", "no ?query"),
    ("base_url", "https://vp exempel/vp", "without spaces"),
    ("base_url", "https://vä.example/vp", "xn--"),
    ("read_timeout", "inf", "read_timeout is a number of seconds"),
    ("read_timeout", "nan", "read_timeout is a number"),
    ("read_timeout", "-1", "read_timeout is a number"),
    ("read_timeout", "0", "read_timeout is a number"),
    ("connect_timeout", "1e9", "connect_timeout is a number"),
    ("connect_timeout", "٣", "connect_timeout is a number"),
    ("total_deadline", "²", "total_deadline is a number"),
    ("total_deadline", "3601", "at most 3600"),
    ("total_deadline", "5", "must be at least read_timeout"),
    ("validate_responses", "maybe", "validate_responses is yes or no"),
    ("validate_responses", "yes please", "validate_responses is yes or no"),
    ("validate_responses", "", "validate_responses is yes or no"),
    ("auth_methods", "nosuch", "no plugin provides 'nosuch'"),
    ("auth_methods", "", "auth_methods names one or more"),
    ("engagement_index", "not an id", "Not a valid engagement_index: it holds white space"),
    ("engagement_index", "SE2321000016-/x", "Not a valid engagement_index: 'SE2321000016-/x'; a logical address"),
    ("npo_hsa_id", "SE2321000016 A2NF", "Not a valid npo_hsa_id: it holds white space"),
    ("npo_hsa_id", "5565594230", "Not a valid npo_hsa_id: '5565594230'; a consumer id is an HSA-id"),
    ("client_cert", "{directory}", "is a directory"),
    ("ca_bundle", "/nonexistent/ca.pem", "does not exist"),
    ("password", "x", "Unknown environment setting 'password'"),
    (".x", "1", "PLUGIN.KEY"),
    ("x.", "1", "PLUGIN.KEY"),
    ("siths.", "1", "PLUGIN.KEY"),
    ("a.b.c", "1", "PLUGIN.KEY"),
    ("1a.b", "1", "PLUGIN.KEY"),
    ("sithé.ca_bundle", "1", "PLUGIN.KEY"),
    ("saml.base_url", "javascript:alert(1)", "saml.base_url must be an http:// or https://"),
    ("saml.idp_url", "data:text/html,x", "saml.idp_url must be an http:// or https://"),
    ("siths.ca_bundle", "{directory}", "is a directory"),
    ("directory.file", "/nonexistent/uppdrag.csv", "does not exist"),
]


@pytest.mark.parametrize("key, value, message", REFUSED_SETTINGS)
def test_env_set_refuses_what_would_break_a_read_or_a_login(world, key, value, message):
    before = json.loads(invoke(world, ["env", "show", "qa", "--json"]).stdout)
    value = value.replace("{directory}", str(world["tmp"] / "empty-dir"))
    result = invoke(world, ["env", "set", "qa", "--", key, value])  # "--": so that -1 is a value, not an option
    assert result.exit_code != 0 and problems_of(result, must_fail=True) is None, result.output
    assert message in result.stderr, result.stderr
    assert json.loads(invoke(world, ["env", "show", "qa", "--json"]).stdout) == before, "nothing was stored"


@pytest.mark.parametrize("word, stored", [(w, True) for w in ("yes", "YES", "true", "on", "1", "ja", "Ja")]
                         + [(w, False) for w in ("no", "false", "Off", "0", "nej")])
def test_env_set_takes_the_documented_boolean_spellings(world, word, stored):
    invoke(world, ["env", "set", "qa", "validate_responses", "no" if stored else "yes"])
    result = invoke(world, ["env", "set", "qa", "validate_responses", word])
    assert result.exit_code == 0, result.output
    assert json.loads(invoke(world, ["env", "show", "qa", "--json"]).stdout)["validate_responses"] is stored


def test_env_set_takes_good_values_and_clears_with_an_empty_one(world):
    cert = world["tmp"] / "qa-cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    for key, value in [("base_url", "https://vp.example:8443/vp"), ("read_timeout", "12.5"),
                       ("total_deadline", "13"), ("connect_timeout", ".5"), ("auth_methods", "siths, saml"),
                       ("npo_hsa_id", "T_SERVICES_SE165565594230-10KD"), ("client_cert", str(cert)),
                       ("saml.base_url", "https://npo-qa.example.se"), ("siths.ca_bundle", str(cert)),
                       ("description", "QA – acceptanstest")]:
        result = invoke(world, ["env", "set", "qa", key, value])
        assert result.exit_code == 0, (key, result.output)
    qa = json.loads(invoke(world, ["env", "show", "qa", "--json"]).stdout)
    assert qa["read_timeout"] == 12.5 and qa["connect_timeout"] == 0.5 and qa["auth_methods"] == ["siths", "saml"]
    assert qa["client_cert"] == str(cert) and qa["siths.ca_bundle"] == str(cert)
    assert invoke(world, ["env", "set", "qa", "client_cert", ""]).exit_code == 0
    assert json.loads(invoke(world, ["env", "show", "qa", "--json"]).stdout)["client_cert"] is None


def test_the_registry_refuses_the_same_values_from_code(world):
    registry = Registry(world["registry"])
    try:
        for values in ({"base_url": "javascript:alert(1)"}, {"read_timeout": float("inf")},
                       {"read_timeout": float("nan")}, {"connect_timeout": -1}, {"total_deadline": 0},
                       {"validate_responses": 2}, {"auth_methods": "siths"}, {"engagement_index": "x y"},
                       {"description": "a\x1b[2Jb"}, {"read_timeout": True}):
            with pytest.raises(BadRequest):
                registry.set_environment("qa", **values)
        for plugin, key, value in (("", "x", "1"), ("saml", "", "1"), ("a.b", "c", "1"),
                                   ("saml", "base_url", "file:/x")):
            with pytest.raises(BadRequest):
                registry.set_plugin_setting("qa", plugin, key, value)
        with pytest.raises(BadRequest):
            registry.add_source_system("qa", "SE2321000016-TKC1", PROVIDER, "TakeCare", ["GetDiagnosis:2"],
                                       endpoint="file:///etc/passwd")
        assert registry.environment("qa").base_url is None
    finally:
        registry.close()


@pytest.mark.parametrize("endpoint", ["not a url", "javascript:alert(1)", "file:///etc/passwd", "https://",
                                      "ftp://producer.example/x", "//producer.example/x", "producer.example"])
def test_producers_add_refuses_an_endpoint_that_is_not_an_http_url_with_a_host(world, endpoint):
    values = {**baseline(world)["producers add"], "endpoint": endpoint, "logical_address": "SE2321000016-NEW1"}
    result = invoke(world, ["producers", "add", *as_args(COMMANDS["producers add"], values)])
    assert result.exit_code == 2 and problems_of(result, must_fail=True) is None, result.output
    assert "--endpoint" in result.stderr
    listed = json.loads(invoke(world, ["producers", "list", "--env", "qa", "--json"]).stdout)
    assert listed == [], "nothing was written"


# -- HSA-ids for consents and blocks -------------------------------------------------------------------

NOT_HSA_IDS = ["x", "SE2321000016", "SE2321000016-", "SE2321000016-9RKT ", " SE2321000016-9RKT", "se2321000016-9RKT",
               "SE2321000016-9RKT-ÅÄÖ", "SE٢٣٢١٠٠٠٠١٦-9RKT", "SE2321000016-9RKT;drop",
               "SE2321000016-" + "A" * 40]


@pytest.mark.parametrize("command, option", [
    ("consents add", "provider"), ("consents add", "unit"), ("consents add", "employee"), ("consents add", "by"),
    ("blocks add", "provider"), ("blocks add", "unit"), ("blocks add", "by"),
    ("blocks revoke", "unit"), ("blocks revoke", "employee"), ("blocks revoke", "by"),
    ("blocks cancel", "by"), ("consents cancel", "by"), ("consents annul", "by"),
    ("log report", "user"), ("log report", "unit"),
])
def test_consents_and_blocks_refuse_what_is_not_an_hsa_id(world, command, option):
    from npo_core.guards import GuardStore

    def state():
        guards = GuardStore(world["registry"])
        try:
            return guards.consent_rows(), guards.block_rows(), len(guards.log_rows())
        finally:
            guards.close()

    before = state()
    for bad in NOT_HSA_IDS:
        values = {**baseline(world)[command], option: bad}
        result = invoke(world, [*command.split(), *as_args(COMMANDS[command], values)])
        assert result.exit_code == 2 and problems_of(result, must_fail=True) is None, (bad, result.output)
        assert "HSA-id" in result.stderr, result.stderr
    assert state() == before, "nothing was registered, revoked, ended or logged"


# -- output the operator reads -------------------------------------------------------------------------

CLINICIAN_TEXT = "Sidan\x1b[2J\x1b]0;owned\x07 blev\x08\x08 tom\rOK \x9b31m röd\x7f \u202eTXT.exe\nrad två"


def test_feedback_list_shows_clinician_text_escaped_never_interpreted(world):
    registry = Registry(world["registry"])
    registry.add_feedback(time="2026-11-01T11:00:00+01:00", user_id=EMPLOYEE, care_unit_id=UNIT, page="/x\x1b[1m",
                          did=CLINICIAN_TEXT, expected="\x1bP+q\x1b\\", happened="\x07" * 3)
    registry.close()
    table = invoke(world, ["feedback", "list"])
    assert table.exit_code == 0 and problems_of(table, must_fail=False) is None, table.output
    assert "\\x1b[2J" in table.stdout and "\\x07" in table.stdout and "\\r" not in table.stdout
    assert "\\x0d" in table.stdout and "\\x9b31m" in table.stdout and "\\u202e" in table.stdout
    assert len(table.stdout.splitlines()) == 3, "one line per row: a newline in the text is shown as \\x0a"
    as_json = invoke(world, ["feedback", "list", "--json"])
    assert as_json.exit_code == 0 and problems_of(as_json, must_fail=False) is None, as_json.output
    rows = json.loads(as_json.stdout)
    assert rows[0]["did"] == CLINICIAN_TEXT and rows[0]["happened"] == "\x07" * 3, "the same text, only escaped"


def test_log_report_takes_extreme_dates_or_says_why_not(world):
    done = invoke(world, ["log", "report", "--patient", HARRY, "--to", "9999-12-31", "--json"])
    assert done.exit_code == 0, done.output
    every = json.loads(done.stdout)
    assert every, "the seeded blocks and consents are in the log"
    assert json.loads(invoke(world, ["log", "report", "--patient", HARRY, "--from", "0001-01-01",
                                     "--to", "9999-12-31", "--json"]).stdout) == every
    assert json.loads(invoke(world, ["log", "report", "--patient", HARRY, "--from", "9999-12-31",
                                     "--json"]).stdout) == []
    csv = invoke(world, ["log", "report", "--patient", HARRY, "--to", "9999-12-31", "--csv"])
    assert csv.exit_code == 0 and csv.stdout.startswith("time,activity")
    for args, message in ((["--to", "0000-01-01"], "not a date"), (["--from", "2026-02-30"], "not a date"),
                          (["--to", "2026-13-01"], "not a date"), (["--to", "٢٠٢٦-01-01"], "not a date"),
                          (["--to", "+2026-01-01"], "not a date"), (["--to", "2026-1-1"], "not a date"),
                          (["--from", "2026-02-01", "--to", "2026-01-01"], "is before --from")):
        result = invoke(world, ["log", "report", "--patient", HARRY, *args])
        assert result.exit_code == 2 and problems_of(result, must_fail=True) is None, (args, result.output)
        assert message in result.stderr


# -- the real entry point --------------------------------------------------------------------------------


def npo_process(world: dict, *args: str | bytes, **kw):
    env = {**os.environ, "NPO_REGISTRY": "", "NPO_LOG_KEY_FILE": "", "NPO_LOG_CHECKPOINTS": ""}
    argv = [sys.executable.encode(), b"-m", b"npo_core", b"--registry", str(world["registry"]).encode()]
    argv += [a.encode() if isinstance(a, str) else a for a in args]
    return subprocess.run(argv, capture_output=True, env=env, timeout=60, **kw)


def test_the_real_entry_point_gives_one_line_for_undecodable_bytes_and_extreme_dates(world):
    for args, message in (([b"contracts", b"list", b"--env", b"d\xe9mo"], b"not UTF-8"),
                          ([b"env", b"set", b"qa", b"description", b"\xff\xfe"], b"not UTF-8"),
                          (["log", "report", "--unit", UNIT, "--to", "0000-01-01"], b"not a date"),
                          (["available", "--env", "nosuch"], b"known: demo, prod, qa, sit")):
        done = npo_process(world, *args)
        assert done.returncode == 2, done.stderr
        assert b"Traceback" not in done.stderr + done.stdout and message in done.stderr
        assert [line for line in done.stderr.splitlines() if line.startswith(b"Error:")].__len__() == 1
    done = npo_process(world, "log", "report", "--unit", UNIT, "--to", "9999-12-31")
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr


def test_a_reader_that_leaves_early_is_not_a_traceback(world):
    """`npo log report ... | head -1`: the pipe closes while npo still writes."""
    env = {**os.environ, "NPO_REGISTRY": "", "NPO_LOG_KEY_FILE": "", "NPO_LOG_CHECKPOINTS": ""}
    registry = Registry(world["registry"])
    for i in range(3000):
        registry.add_feedback(time=f"2026-11-01T11:{i % 60:02d}:00+01:00", user_id=EMPLOYEE, care_unit_id=UNIT,
                              page="/", did="x" * 200, expected="y", happened="z")
    registry.close()
    npo = subprocess.Popen([sys.executable, "-m", "npo_core", "--registry", str(world["registry"]), "feedback",
                            "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    npo.stdout.readline()
    npo.stdout.close()
    with npo.stderr:
        err = npo.stderr.read()
    npo.wait(timeout=60)
    assert b"Traceback" not in err and npo.returncode != 0, err


def test_a_port_in_use_is_one_line_not_a_traceback(world):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = npo_process(world, "serve", "--env", "demo", "--port", str(port))
    finally:
        taken.close()
    assert done.returncode == 1 and b"Traceback" not in done.stderr, done.stderr
    assert f"Cannot listen on 127.0.0.1:{port}".encode() in done.stderr


def test_a_bug_still_ends_in_one_line_and_exit_70(world, monkeypatch, capsys):
    """The last line of defence in main(): an unexpected exception is one line (NPO_DEBUG=1 shows the traceback)."""
    def broken(self):
        raise RuntimeError("boom\x1b[2J")

    monkeypatch.setattr(Registry, "environments", broken)
    monkeypatch.setattr(sys, "argv", ["npo", "--registry", str(world["registry"]), "env", "list"])
    monkeypatch.delenv("NPO_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli_module.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 70 and err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: boom\\x1b[2J" in err
    monkeypatch.setenv("NPO_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli_module.main()
