"""What a declaration leaves unread: every element of an answer that no field maps.

`npo contracts coverage NAME FILE` prints it; the tests assert it is empty for the demo
producers' answers and for answers generated from the official schemas with every element.
An element in another namespace (a schema's `xs:any ##other` extension point) counts too:
it is something a producer sent that npo does not show.
"""

from __future__ import annotations

from collections import Counter

from lxml import etree

from .spec import tag

WHOLE = "*"  # a subtree read as a whole (the result, a hasMore reference)


def tree(ns: str, spec: tuple) -> dict:
    """A spec as {qualified tag: subtree, or None for a leaf}."""
    out: dict = {}
    for element, _key, kind in spec:
        kind = kind[0] if isinstance(kind, list) else kind
        out[tag(ns, element)] = tree(ns, kind) if isinstance(kind, tuple) else None
    return out


def unmapped(contract, payload: etree._Element) -> Counter:
    """{"diagnosis/diagnosisBody/x": count} for every element of the answer no field maps."""
    mapped = contract.mapped_elements()
    found: Counter = Counter()
    _walk(payload, mapped, (), found)
    return found


def _walk(el: etree._Element, mapped, path: tuple, found: Counter) -> None:
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if mapped is not None and mapped != WHOLE and child.tag not in mapped:
            found["/".join(path + (name,))] += 1
            continue
        below = WHOLE if mapped == WHOLE else mapped[child.tag] if mapped is not None else None
        if below is None and len(child):  # a leaf that has children: they are unread
            for grandchild in child:
                if isinstance(grandchild.tag, str):
                    found["/".join(path + (name, etree.QName(grandchild).localname))] += 1
        elif below not in (None, WHOLE):
            _walk(child, below, path + (name,), found)
