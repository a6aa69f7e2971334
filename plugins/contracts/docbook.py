"""Note text that may be DocBook 5 (GetCareDocumentation), rendered as safe HTML.

Producers may send `clinicalDocumentNoteText` as entity-encoded DocBook. Once the SOAP parser has
decoded it, it is untrusted XML: it is parsed here with no DTD, no entities and no network, and
rendered element by element from a short whitelist with every text node escaped. Unknown elements
give their text only; anything that is not well-formed DocBook is shown as escaped plain text.
"""

from __future__ import annotations

import re

from lxml import etree
from markupsafe import Markup, escape

DOCBOOK = "http://docbook.org/ns/docbook"
MAX_DEPTH = 40  # deeper nesting is shown as text: no recursion on a producer's say-so
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_BLOCKS = {"article": "div", "info": "div", "section": "section", "para": "p", "itemizedlist": "ul",
           "orderedlist": "ol", "listitem": "li"}


def to_html(text: str | None) -> Markup:
    """Markup for a note text: whitelisted DocBook, else escaped plain text with its line breaks."""
    if not text or not text.strip():
        return Markup("")
    source = _DECLARATION.sub("", text, count=1).lstrip()
    if source.startswith("<"):
        root = _parse(source)
        if root is not None:
            out: list[str] = []
            _element(root, out, depth=0, level=0)
            return Markup('<div class="docbook">') + Markup("".join(out)) + Markup("</div>")
    return _plain(text)


def _parse(source: str) -> etree._Element | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False)
    try:
        root = etree.fromstring(source, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    docinfo = root.getroottree().docinfo
    return None if docinfo.doctype or docinfo.internalDTD is not None else root  # entity tricks need a DTD


def _name(el) -> str | None:
    """Local name of a DocBook element (namespace-less DocBook accepted), None for anything else."""
    if not isinstance(el.tag, str):
        return None
    qname = etree.QName(el)
    return qname.localname if qname.namespace in (None, DOCBOOK) else None


def _children(el, out: list[str], depth: int, level: int) -> None:
    out.append(escape(el.text or ""))
    for child in el:
        if isinstance(child.tag, str):
            _element(child, out, depth + 1, level)
        out.append(escape(child.tail or ""))


def _element(el, out: list[str], depth: int, level: int) -> None:
    name = _name(el)
    if name == "title" and depth <= MAX_DEPTH:
        tag = f"h{min(4 + level, 6)}"
        out += [f"<{tag}>", escape("".join(el.itertext())), f"</{tag}>"]
    elif name == "emphasis" and depth <= MAX_DEPTH:
        tag = "strong" if (el.get("role") or "").lower() in ("bold", "strong") else "em"
        out.append(f"<{tag}>")
        _children(el, out, depth, level)
        out.append(f"</{tag}>")
    elif name == "bibliography":
        words = " ".join(t.strip() for t in el.itertext() if t.strip())
        out += ['<p class="bibliography">', escape(words), "</p>"]
    elif name in _BLOCKS and depth <= MAX_DEPTH:
        tag = _BLOCKS[name]
        out.append(f"<{tag}>")
        _children(el, out, depth, level + (name == "section"))
        out.append(f"</{tag}>")
    else:  # unknown, foreign or too deep: its text and nothing else
        out.append(escape("".join(el.itertext())))


def _plain(text: str) -> Markup:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip().replace("\r\n", "\n")) if p.strip()]
    return Markup("").join(Markup("<p>") + Markup("<br>").join(escape(line) for line in p.split("\n"))
                           + Markup("</p>") for p in paragraphs)
