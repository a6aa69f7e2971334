"""docs/robustness.md is kept true by the tests: every test its tables name must exist.

The tables have the columns Case | What happens | Test; the last column names one or more tests as
`tests/file.py::test_name` (or `tests/file.py::TestClass::test_name`). Test names are collected from the
files with `ast`, not from pytest, so a renamed or deleted test fails here whatever pytest selects.
The suite's own robustness files must also be described: a test added there without a row fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import REPO

DOC = REPO / "docs" / "robustness.md"
HEADER = ["Case", "What happens", "Test"]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
DESCRIBED_IN_FULL = ["tests/test_fuzz.py", "tests/test_web_security.py", "tests/test_api_schemathesis.py",
                     "tests/test_registry_concurrency.py"]


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of the document, as rows of cells (header row first, separator row dropped)."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def defined_tests(path: Path) -> set[str]:
    """`test_x` for module-level tests, `TestClass::test_x` for methods, as pytest names them."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {f"{node.name}::{item.name}" for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")}
    return names


def rows() -> list[list[str]]:
    return [row for table in tables(DOC.read_text()) for row in table[1:]]


def references() -> list[tuple[str, str]]:
    return [ref for row in rows() for ref in REFERENCE.findall(row[-1])]


def test_the_document_has_tables_of_case_what_happens_and_test():
    found = tables(DOC.read_text())
    assert found, "docs/robustness.md has no table"
    for table in found:
        assert table[0] == HEADER, f"a table's columns must be {HEADER}, not {table[0]}"
        for row in table[1:]:
            assert len(row) == len(HEADER), f"a row with {len(row)} cells: {row}"
            assert all(row[:2]), f"a row without a case or without what happens: {row}"


def test_every_row_names_at_least_one_test():
    unproven = [row[0] for row in rows() if not REFERENCE.search(row[-1])]
    assert not unproven, f"rows that name no test as `tests/file.py::test_name`: {unproven}"


@pytest.mark.parametrize("path, name", sorted(set(references())), ids=lambda v: str(v))
def test_every_named_test_exists(path, name):
    file = REPO / path
    assert file.is_file(), f"docs/robustness.md names {path}, which does not exist"
    assert name in defined_tests(file), f"docs/robustness.md names {path}::{name}, which {path} does not define"


@pytest.mark.parametrize("path", DESCRIBED_IN_FULL)
def test_every_test_of_the_robustness_files_has_a_row(path):
    named = {name for file, name in references() if file == path}
    missing = sorted(defined_tests(REPO / path) - named)
    assert not missing, f"docs/robustness.md has no row for {path}: {missing}"


def test_the_checker_catches_a_missing_test(tmp_path):
    """The parser and the collector themselves: a made-up name is not found, a real one is."""
    fake = tmp_path / "test_x.py"
    fake.write_text("def test_real():\n    pass\n\nclass TestGroup:\n    async def test_method(self):\n        pass\n")
    assert defined_tests(fake) == {"test_real", "TestGroup::test_method"}
    doc = "| Case | What happens | Test |\n|---|---|---|\n| a | b | `tests/test_x.py::test_real` |\n\ntext\n"
    assert tables(doc) == [[HEADER, ["a", "b", "`tests/test_x.py::test_real`"]]]
