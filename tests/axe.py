"""axe-core (npm, pinned in package-lock.json) run inside the Chromium tests' pages.

Playwright's `add_script_tag` inserts an inline <script>, which the page's Content-Security-Policy rightly
blocks; evaluating axe's source through the DevTools protocol is not subject to the page's CSP, so the
pages are checked exactly as served, CSP on.
"""

from __future__ import annotations

import os
import warnings

import pytest

from .conftest import REPO

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
MISSING = f"axe-core is not installed ({AXE} is missing): run `npm ci` at the repository root"


def available() -> bool:
    """Whether axe-core is there; under CI=true its absence fails the run, as .ci/run installs it."""
    if AXE.exists():
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {MISSING}")
    return False


def require():
    """For tests whose point is accessibility: skip with the reason when axe-core is missing locally."""
    if not available():
        pytest.skip(MISSING)


def violations(page) -> list[dict]:
    """axe's violations (WCAG 2.1 A/AA and best practice) on the page as it is now."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    return page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
                         ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                         " nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html}))})))", TAGS)


def report(found: list[dict], where: str) -> str:
    """One line per rule, then each offending element (the first five), for a readable failure."""
    lines = [f"axe-core: {len(found)} violation(s) on {where}:"]
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{len(v['nodes'])} element(s)]")
        lines += [f"    {n['target']}: {n['html'][:160]}" for n in v["nodes"][:5]]
    return "\n".join(lines)


def check(page, where: str = ""):
    """Fail with the readable list when axe finds anything; warn (once per call) when axe is missing."""
    if not available():
        warnings.warn(MISSING)
        return
    found = violations(page)
    assert not found, report(found, f"{where} {page.url}".strip())
