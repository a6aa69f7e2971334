"""What plugins and API clients build on: plugins import only `npo_core` (and the RIV-TA codec
`npo_core.riv`), never a module below it, so the core may move its insides; importing `npo_core` stays
cheap; errors are answered through the `handle_exception` hook, with the core's own answer when no plugin
gives one; and the JSON API gives a record's contract fields only when asked for them.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from aiohttp import web

import npo_core
from npo_core import BadRequest, hookimpl
from npo_core.app import Core
from npo_core.plugins import make_plugin_manager
from npo_core.web import make_app

from .conftest import REPO, login

FIONA = "199701062383"
ALLOWED = {"npo_core", "npo_core.riv"}
FILES = sorted(p for folder in ("plugins", "examples") for p in (REPO / folder).rglob("*.py")
               if ".venv" not in p.parts and "build" not in p.parts)


def deep_imports(source: str) -> list[str]:
    """Each import of the core other than through `npo_core` and `npo_core.riv`, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.startswith("npo_core.") and a.name not in ALLOWED]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("npo_core.") and node.module not in ALLOWED:
                found.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
            elif node.module == "npo_core":  # a module below it, or a name it does not export
                found += [f"from npo_core import {a.name}" for a in node.names
                          if a.name != "*" and a.name not in npo_core.__all__]
    return found


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_a_plugin_imports_only_what_npo_core_exports(path):
    assert not deep_imports(path.read_text()), deep_imports(path.read_text())


def test_the_check_sees_every_kind_of_deep_import():
    source = ("import npo_core.web\nfrom npo_core.access import ReadResult\nfrom npo_core import soap, Record\n"
              "from npo_core.riv import views\nfrom npo_core.riv.declared import Detail\nimport npo_core\n")
    assert deep_imports(source) == ["import npo_core.web", "from npo_core.access import ReadResult",
                                    "from npo_core import soap", "from npo_core.riv.declared import Detail"]


def test_every_exported_name_is_there():
    missing = [name for name in npo_core.__all__ if not hasattr(npo_core, name)]
    assert not missing


def test_importing_npo_core_pulls_in_neither_aiohttp_nor_the_database():
    code = ("import sys, npo_core; print(sorted(m for m in ('aiohttp', 'sqlite3', 'npo_core.access', 'npo_core.web')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_api_does_not_import_the_web_app():
    """npo_core.web mounts the API; the API needs nothing of the app (they imported each other)."""
    tree = ast.parse((REPO / "npo_core" / "api.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "web" not in modules and "npo_core.web" not in modules


async def test_records_carry_their_detail_only_when_asked(demo):
    anna = await login(demo, patient=FIONA, relation=True)
    plain, full = await anna.records("diagnoser", detail=False), await anna.records("diagnoser")
    assert plain["records"] and not any("detail" in r for r in plain["records"])
    assert [r["id"] for r in full["records"]] == [r["id"] for r in plain["records"]]
    assert all(r["detail"] for r in full["records"])
    assert [{k: v for k, v in r.items() if k != "detail"} for r in full["records"]] == plain["records"]


class PrintPages:
    """Pages that fail on purpose, and an error hook that answers some of their failures itself."""

    @hookimpl
    def register_routes(self):
        async def fail(request):
            raise BadRequest("Etiketten saknas.") if request.match_info["how"] == "npo" else RuntimeError("a bug")

        return [web.get("/utskrift/{how}", fail), web.get("/-/utskrift/{how}", fail)]

    @hookimpl
    def handle_exception(self, request, exception):
        if "egen" in request.query:
            return web.Response(status=418, text="Utskriftens eget fel")
        if "trasig" in request.query:
            raise RuntimeError("the error page itself fails")
        return None


@pytest.fixture
async def printing(aiohttp_client, registry):
    core = Core(registry, "demo", make_plugin_manager(extra=(PrintPages(),)))
    yield await aiohttp_client(make_app(core))
    core.guards.close()


@pytest.mark.parametrize("path, status, says, html", [
    ("/utskrift/npo", 400, "Etiketten saknas.", True),  # the web view's page, inside its layout
    ("/utskrift/bug", 500, "Felet är loggat.", True),  # a bug: logged, never shown
    ("/utskrift/npo?egen", 418, "Utskriftens eget fel", False),  # a plugin before the web view
    ("/utskrift/npo?trasig", 400, "Etiketten saknas.", False),  # a failing hook: the core's own answer
    ("/-/utskrift/npo", 400, '"error": "bad_request"', False),  # JSON paths: the core's JSON
    ("/-/utskrift/bug", 500, '"error": "internal"', False),
])
async def test_errors_are_answered_by_the_first_plugin_that_answers_else_by_the_core(printing, path, status, says,
                                                                                      html):
    resp = await printing.get(path, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status and says in text, text
    assert ('<header class="top">' in text) is html and "a bug" not in text and "Traceback" not in text
