"""The demo's records, apart from the contracts: one module per information set.

A contract names its content with `demo_content = "module:function"` (an out-of-tree package
points at its own module); a built-in contract's is this package's module of its name
(GetCareContacts: `get_care_contacts.records`). A declared contract with no
content gets records generated from its body spec, so that every contract has a demo.
"""

from __future__ import annotations

import importlib
import importlib.util
import re

from ...contract import Record, format_timestamp


# records per source system by demo profile, for contracts with no content of their own
GENERATED = {"rich": 3, "variants": 3, "blocked": 2, "heavy": 40, "not_in_tgp": 2}


def records(contract, demo) -> list[Record]:
    if demo is None:
        return []
    target = contract.demo_content or _built_in(contract.name)
    if target is None:
        return generated(contract, demo)
    module, _, function = target.partition(":")
    return list(getattr(importlib.import_module(module), function or "records")(contract, demo))


def _built_in(name: str) -> str | None:
    """GetCareContacts -> this package's get_care_contacts module, where there is one."""
    module = f"{__name__}.{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}"
    return f"{module}:records" if importlib.util.find_spec(module) else None


def generated(contract, demo) -> list[Record]:
    """Records whose every body field has a value its kind accepts: a demo for a declaration alone."""
    spec = getattr(contract, "body", None)
    if not spec:
        return []
    out = []
    for i in range(GENERATED.get(demo.profile, 0)):
        when = demo.when()
        detail = _values(spec, when, i)
        title = f"{contract.title} {i + 1}"
        out.append(demo.record(contract=contract.id, information_type=contract.categorization, key=f"gen-{i}",
                               title=title, time=when, detail=detail,
                               without_owner=demo.profile == "variants" and i == 2))
    return out


def _values(spec: tuple, when, i: int) -> dict:
    text = lambda key: f"Exempel {key} {i + 1}"  # noqa: E731
    made = {"str": text, "required": text, "ts": lambda key: format_timestamp(when),
            "int": lambda key: i + 1, "num": lambda key: float(i + 1), "bool": lambda key: i % 2 == 0}
    out = {}
    for _element, key, kind in spec:
        many = isinstance(kind, list)
        kind = kind[0] if many else kind
        value = _values(kind, when, i) if isinstance(kind, tuple) else made[kind](key)
        out[key] = [value] if many else value
    return out
