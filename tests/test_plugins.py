"""Plugin discovery: entry points for built-ins and third parties alike, and clear start-up errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from npo_core import Contract, StartupError, hookimpl
from npo_core.plugins import collect, make_plugin_manager

from .conftest import REPO

BUILT_IN_CONTRACT_PLUGINS = {"get_diagnosis"}


def npo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "npo_core", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_builtins_are_discovered_through_entry_points(pm):
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"demo_auth", "web_view"} | BUILT_IN_CONTRACT_PLUGINS <= names
    dists = {dist.project_name for _, dist in pm.list_plugin_distinfo()}
    assert dists == {"npo"}, "every built-in came from the npo distribution's entry points"


def test_npo_plugins_lists_name_version_hooks_and_registrations(tmp_path):
    done = npo("--registry", str(tmp_path / "r.db"), "plugins", "--json")
    assert done.returncode == 0, done.stderr
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    diag = plugins["get_diagnosis"]
    assert diag["version"] == "0.1.0" and diag["distribution"] == "npo"
    assert diag["hooks"] == ["register_contracts", "register_views"]
    assert diag["registered"] == {"contracts": ["GetDiagnosis:2"], "views": ["diagnoser"]}


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory):
    """Install the fixture plugin package for real (pip, into a private site directory)."""
    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(REPO / "tests" / "fixtures" / "npo-hello", tmp_path_factory.mktemp("src") / "npo-hello")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return target


def test_an_installed_third_party_plugin_adds_its_contract_without_core_changes(hello_site, tmp_path):
    env = {"PYTHONPATH": str(hello_site)}
    registry = str(tmp_path / "r.db")
    plugins = {p["name"]: p for p in json.loads(npo("--registry", registry, "plugins", "--json", env=env).stdout)}
    assert plugins["hello"]["version"] == "1.2.3" and plugins["hello"]["distribution"] == "npo-hello"
    assert plugins["hello"]["registered"] == {"contracts": ["GetHello:1"], "views": ["halsningar"]}
    rows = json.loads(npo("--registry", registry, "contracts", "list", "--env", "demo", "--json", env=env).stdout)
    assert {"id": "GetHello:1", "enabled": True} == {k: v for k, v in
                                                     next(r for r in rows if r["id"] == "GetHello:1").items()
                                                     if k in ("id", "enabled")}
    # Without the package the same registry still starts; the contract is simply not served.
    assert "GetHello" not in npo("--registry", registry, "plugins").stdout


def test_the_allow_list_limits_which_plugins_load(tmp_path):
    done = npo("--registry", str(tmp_path / "r.db"), "plugins", "--json", env={"NPO_LOAD_PLUGINS": "get_diagnosis"})
    assert [p["name"] for p in json.loads(done.stdout)] == ["get_diagnosis"]


def test_a_misspelt_hook_stops_startup_with_one_clear_message():
    class Typo:
        __name__ = "typo"

        @hookimpl
        def register_contract(self, register):  # the hook is register_contracts
            pass

    with pytest.raises(StartupError, match="register_contract"):
        make_plugin_manager(load_entrypoints=False, extra=(Typo(),))


def test_two_plugins_registering_the_same_contract_stop_startup():
    class Twin(Contract):
        name, version, service_domain, categorization, title = "GetTwin", "1.0", "x:y", "twn", "Tvilling"

    def plugin(name):
        class P:
            __name__ = name

            @hookimpl
            def register_contracts(self, register):
                register(Twin())
        return P()

    pm = make_plugin_manager(load_entrypoints=False, extra=(plugin("first"), plugin("second")))
    with pytest.raises(StartupError, match="same contract 'GetTwin:1'.*first.*second|second.*first"):
        collect(pm)


def test_the_cli_reports_a_startup_error_in_one_line(hello_site, tmp_path):
    """Two installed distributions registering one contract: the CLI says so, no traceback."""
    dup = tmp_path / "dup"
    (dup / "npo_dup").mkdir(parents=True)
    (dup / "npo_dup" / "__init__.py").write_text(
        "from npo_core import hookimpl\nfrom npo_plugins.contracts.get_diagnosis import GetDiagnosis\n"
        "@hookimpl\ndef register_contracts(register):\n    register(GetDiagnosis())\n")
    (dup / "npo_dup-0.1.dist-info").mkdir()
    (dup / "npo_dup-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: npo-dup\nVersion: 0.1\n")
    (dup / "npo_dup-0.1.dist-info" / "entry_points.txt").write_text("[npo]\ndup = npo_dup\n")
    done = npo("--registry", str(tmp_path / "r.db"), "plugins", env={"PYTHONPATH": str(dup)})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "same contract 'GetDiagnosis:2'" in done.stderr


def test_contracts_check_fails_a_plugin_that_does_not_conform(hello_site, tmp_path, bundle):
    done = npo("--registry", str(tmp_path / "r.db"), "contracts", "check", "GetHello", "--schemas", str(bundle),
               env={"PYTHONPATH": str(hello_site)})
    assert done.returncode == 1 and "FAIL  official schema and WSDL" in done.stdout
    assert "conformance check(s) failed" in done.stderr and "Traceback" not in done.stderr
