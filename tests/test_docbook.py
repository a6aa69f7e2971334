"""DocBook note text to HTML: the whitelist renders, and hostile content always comes out inert."""

from __future__ import annotations

import jinja2
import lxml.html
import pytest
from markupsafe import Markup

from npo_plugins.contracts.docbook import to_html

DB = 'xmlns="http://docbook.org/ns/docbook" version="5.0"'
ALLOWED = {"div", "section", "h4", "h5", "h6", "p", "ul", "ol", "li", "em", "strong", "br"}


def assert_inert(html: str) -> None:
    """Only whitelisted tags, no attribute but our own class, nothing a browser would run."""
    assert "<script" not in html.lower() and "<!doctype" not in html.lower()
    for el in lxml.html.fragment_fromstring(html or "<div></div>", create_parent="div").iterdescendants():
        assert el.tag in ALLOWED, (el.tag, html)
        assert set(el.attrib) <= {"class"}, (el.attrib, html)
        assert el.get("class") in (None, "docbook", "bibliography")


def test_the_whitelist_renders_structure():
    text = (f'<article {DB}><info><title>Epikris</title></info>'
            '<section><title>Förlopp</title><para>Feber <emphasis role="bold">39,2</emphasis> och '
            '<emphasis>frossa</emphasis>.</para>'
            '<section><title>Läkemedel</title><itemizedlist><listitem><para>Apixaban</para></listitem>'
            '</itemizedlist><orderedlist><listitem><para>Kontroll</para></listitem></orderedlist></section></section>'
            '<bibliography><bibliomixed>Socialstyrelsen. <title>Riktlinjer</title> 2017.</bibliomixed></bibliography>'
            '</article>')
    html = str(to_html(text))
    assert html == ('<div class="docbook"><div><div><h4>Epikris</h4></div><section><h5>Förlopp</h5><p>Feber '
                    '<strong>39,2</strong> och <em>frossa</em>.</p><section><h6>Läkemedel</h6><ul><li><p>Apixaban'
                    '</p></li></ul><ol><li><p>Kontroll</p></li></ol></section></section>'
                    '<p class="bibliography">Socialstyrelsen. Riktlinjer 2017.</p></div></div>')
    assert_inert(html)


def test_an_xml_declaration_and_namespace_less_docbook_are_accepted():
    html = str(to_html('<?xml version="1.0" encoding="ISO-8859-1"?>\n<para>Åter om <emphasis>två</emphasis> veckor'
                       '</para>'))
    assert html == '<div class="docbook"><p>Åter om <em>två</em> veckor</p></div>'


def test_unknown_elements_give_their_text_only():
    html = str(to_html(f'<article {DB}><para>Se <link xmlns:xl="http://www.w3.org/1999/xlink" '
                       'xl:href="https://example.org">riktlinjen</link>.</para><informaltable><tr><td>Hb 128</td></tr>'
                       '</informaltable></article>'))
    assert html == '<div class="docbook"><div><p>Se riktlinjen.</p>Hb 128</div></div>'


def test_plain_text_keeps_its_paragraphs_and_line_breaks():
    html = str(to_html("Aktuellt: hosta.\nStatus: opåverkad.\n\nPlanering: åter vid behov & <b>ev.</b> röntgen"))
    assert html == ("<p>Aktuellt: hosta.<br>Status: opåverkad.</p>"
                    "<p>Planering: åter vid behov &amp; &lt;b&gt;ev.&lt;/b&gt; röntgen</p>")


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_nothing_gives_nothing(text):
    assert to_html(text) == Markup("")


HOSTILE = {
    "script in docbook": f'<article {DB}><para>Hej</para><script>alert(1)</script></article>',
    "script without namespace": "<para>x<script>alert(1)</script></para>",
    "xhtml document": ('<html xmlns="http://www.w3.org/1999/xhtml"><body onload="alert(1)"><script>alert(1)</script>'
                       '<img src="x" onerror="alert(1)"/></body></html>'),
    "event handler attributes": f'<article {DB}><para onclick="alert(1)" style="x:expression(alert(1))">p</para>'
                                '<emphasis onmouseover="alert(1)" role="bold">b</emphasis></article>',
    "javascript link": (f'<article {DB} xmlns:xl="http://www.w3.org/1999/xlink"><para><link '
                        'xl:href="javascript:alert(1)">klicka</link><ulink url="javascript:alert(1)">här</ulink>'
                        '</para></article>'),
    "html inside docbook": (f'<article {DB}><para><a xmlns="http://www.w3.org/1999/xhtml" href="javascript:alert(1)">'
                            'a</a><iframe src="https://evil.example"/><b onclick="alert(1)">b</b></para></article>'),
    "escaped markup in text": f'<article {DB}><para>&lt;script&gt;alert(1)&lt;/script&gt;</para></article>',
    "double-encoded markup": f'<article {DB}><para>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;</para>'
                             '</article>',
    "cdata": f'<article {DB}><para><![CDATA[<script>alert(1)</script>]]></para></article>',
    "internal entity": ('<!DOCTYPE article [<!ENTITY x "<script>alert(1)</script>">]>'
                        f'<article {DB}><para>&x;</para></article>'),
    "external entity": ('<!DOCTYPE article [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                        f'<article {DB}><para>&xxe;</para></article>'),
    "external dtd": f'<!DOCTYPE article SYSTEM "http://evil.example/x.dtd"><article {DB}><para>x</para></article>',
    "billion laughs": ('<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                       '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><para>&c;&c;&c;</para>'),
    "undefined entity": f'<article {DB}><para>&nbsp;<script>alert(1)</script></para></article>',
    "processing instruction and comment": (f'<?xml-stylesheet href="javascript:alert(1)"?><article {DB}>'
                                           '<!-- <script>alert(1)</script> --><para>p</para></article>'),
    "malformed": f'<article {DB}><para>Hej<para><script>alert(1)</script></article>',
    "plain text with tags": 'Svar: <img src=x onerror=alert(1)> och <script>alert(1)</script>',
    "nesting libxml2 refuses": f'<article {DB}>{"<section>" * 3000}<para>x</para>{"</section>" * 3000}</article>',
    "nesting past our limit": f'<article {DB}>{"<section>" * 100}<para>x</para>{"</section>" * 100}</article>',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_content_comes_out_inert(name):
    html = str(to_html(HOSTILE[name]))
    assert_inert(html)
    assert "root:" not in html  # no file was read
    assert "aaaaaaaaaa" * 10 not in html  # no entity was expanded


def test_nesting_past_the_limit_still_shows_the_text():
    html = str(to_html(HOSTILE["nesting past our limit"].replace("<para>x", "<para>djupt")))
    assert "djupt" in html and html.count("<section>") <= 40


def test_rejected_docbook_is_shown_as_escaped_text():
    html = str(to_html(HOSTILE["internal entity"]))
    assert html.startswith("<p>&lt;!DOCTYPE article") and "&lt;script&gt;" in html


def test_the_markup_survives_an_autoescaping_template_and_producer_text_does_not():
    template = jinja2.Environment(autoescape=True).from_string("<dd>{{ note }}</dd><dd>{{ raw }}</dd>")
    text = f'<article {DB}><para>Åter <emphasis role="bold">1 vecka</emphasis></para></article>'
    out = template.render(note=to_html(text), raw=text)
    assert "<strong>1 vecka</strong>" in out and "&lt;article" in out
