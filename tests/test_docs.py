"""Docs that tests keep honest: every hook documented by its exact signature, every snippet a working plugin.

docs/plugin_hooks.md has one section per hook headed `## name(arg, ...)`, exactly as the
specification in npo_core/hookspecs.py reads; a hook without its section, or a section for a
hook that no longer exists (or whose arguments changed), fails here. Code the tutorial and the
testing guide quote from the finished example package must stay a verbatim excerpt of it.
"""

from __future__ import annotations

import inspect
import re
import types

import pytest

from npo_core import hookspecs
from npo_core.plugins import collect, make_plugin_manager

from .conftest import REPO

DOCS = REPO / "docs"
HOOKS_DOC = DOCS / "plugin_hooks.md"
TUTORIAL = DOCS / "writing_contract_plugins.md"
TESTING = DOCS / "testing_plugins.md"
EXAMPLE = REPO / "examples" / "npo-careplans"
HEADING = re.compile(r"^## (\w+)\((.*)\)\s*$", re.MULTILINE)
PYTHON = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def hookspec_signatures() -> dict[str, str]:
    """{name: "name(arg, ...)"} for every hook npo calls."""
    specs = {}
    for name, fn in vars(hookspecs).items():
        if inspect.isfunction(fn) and hasattr(fn, "npo_spec"):
            specs[name] = f"{name}({', '.join(inspect.signature(fn).parameters)})"
    return specs


def documented() -> dict[str, str]:
    """{name: "name(arg, ...)"} for every hook-like section heading of plugin_hooks.md."""
    return {m.group(1): f"{m.group(1)}({m.group(2)})" for m in HEADING.finditer(HOOKS_DOC.read_text())}


SPECS = hookspec_signatures()


def test_the_hookspecs_are_found():
    assert {"register_contracts", "register_views", "patient_available", "startup"} <= SPECS.keys()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_section_headed_by_its_exact_signature(name):
    sections = documented()
    assert name in sections, f"docs/plugin_hooks.md has no section '## {SPECS[name]}'"
    assert sections[name] == SPECS[name], (
        f"docs/plugin_hooks.md documents '{sections[name]}', but the hook is '{SPECS[name]}'")


def test_every_documented_hook_exists():
    gone = sorted(set(documented()) - set(SPECS))
    assert not gone, f"docs/plugin_hooks.md documents hooks npo no longer has: {gone}"


def sections() -> list[tuple[str, str]]:
    """(hook name or "intro", text) of every part of plugin_hooks.md."""
    text = HOOKS_DOC.read_text()
    marks = [(m.start(), m.group(1)) for m in HEADING.finditer(text)]
    parts = [("intro", text[: marks[0][0] if marks else len(text)])]
    for (start, name), nxt in zip(marks, marks[1:] + [(len(text), None)]):
        parts.append((name, text[start:nxt[0]]))
    return parts


SNIPPETS = [(name, i, code) for name, body in sections() for i, code in enumerate(PYTHON.findall(body))]


@pytest.mark.parametrize("section,index,code", SNIPPETS, ids=[f"{s}-{i}" for s, i, _ in SNIPPETS])
def test_every_snippet_is_a_plugin_npo_accepts(section, index, code):
    """Each snippet runs as a module; npo registers it (hook names and arguments checked) and collects it."""
    module = types.ModuleType(f"snippet_{section}_{index}")
    exec(compile(code, f"docs/plugin_hooks.md ({section} #{index + 1})", "exec"), module.__dict__)
    pm = make_plugin_manager(load_entrypoints=False, extra=(module,))
    implemented = {impl.name for impl in pm.get_hookcallers(module) or []}
    assert implemented, "the snippet implements no hook"
    if section != "intro":
        assert section in implemented, f"the snippet in '## {SPECS[section]}' does not implement it"
    reg = collect(pm)  # what the core does at start-up: collection hooks must register something
    collected = {"register_contracts": reg.contracts, "register_views": reg.views,
                 "register_auth_methods": reg.auth_methods}
    if section in collected:
        assert collected[section], f"the snippet in '## {SPECS[section]}' registers nothing"


def quoted_blocks() -> list[tuple[str, str, str]]:
    """(doc, file in the example package, code) for each block marked `<!-- from: FILE -->`."""
    pattern = re.compile(r"<!-- from: (\S+) -->\s*\n```\w*\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [(doc.name, path, code) for doc in (TUTORIAL, TESTING) for path, code in pattern.findall(doc.read_text())]


QUOTES = quoted_blocks()


def test_the_tutorial_builds_the_example_step_by_step():
    assert sum(1 for doc, _, _ in QUOTES if doc == TUTORIAL.name) >= 8


@pytest.mark.parametrize("doc,path,code", QUOTES, ids=[f"{d}:{p}-{i}" for i, (d, p, _) in enumerate(QUOTES)])
def test_each_quoted_block_is_a_verbatim_excerpt_of_the_example(doc, path, code):
    source = (EXAMPLE / path).read_text()
    assert code.strip("\n") in source, f"{doc} quotes {path}, but the block is not (or no longer) in it"
