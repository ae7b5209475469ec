"""Whether an SVG is passive: no script, no event handler, no external reference, no expansion.

Two passes over the text. Patterns on the raw text catch what a parser never shows (entity
declarations) and what a browser's lenient reading might find. The parse then sees what a
browser sees: names whatever their namespace prefix (`<svg:script>`, `<x:script>` bound to
the SVG namespace, XHTML's `<html:script>`), and attribute values with character references
decoded (`&#106;avascript:`).
"""

from __future__ import annotations

import io
import re

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from files.processing.errors import ContentRefused
from files.processing.limits import Limits

SVG_SCRIPT = re.compile(r"<\s*script|\bon[a-z]+\s*=|javascript\s*:|<\s*foreignObject", re.I)
SVG_ENTITY = re.compile(r"<!ENTITY|<!DOCTYPE[^>]*\[", re.I)
SVG_EXTERNAL = re.compile(r"""(?:xlink:)?href\s*=\s*["']\s*(?!#)[^"']+["']|url\(\s*["']?\s*(?!#)[a-z]+:""", re.I)
SVG_USE = re.compile(r"<\s*use\b", re.I)
# An XSLT style sheet can write any markup, script included, into the document it styles.
STYLESHEET = re.compile(r"<\?\s*xml-stylesheet", re.I)

XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"
# Elements that run script or embed active content, in whatever namespace: browsers run
# XHTML's script inside SVG, and SVG Tiny's handler and XML Events' listener bind code.
ACTIVE_ELEMENTS = frozenset({"script", "foreignobject", "handler", "listener", "iframe", "embed", "object"})
# URL schemes that run code; browsers drop whitespace and control characters inside a URL.
ACTIVE_URL = re.compile(r"(?:java|vb)script:|data:text/html")
URL_NOISE = re.compile(r"[\x00-\x20]")


def _refuse(message: str) -> ContentRefused:
    return ContentRefused(message)


def check_svg(raw_text: str, parse_text: str, limits: Limits) -> None:
    """Raise ContentRefused unless the SVG is passive.

    `raw_text` is the file as the patterns read it; `parse_text` the same file decoded for
    the parser (a byte-order mark removed).
    """
    if SVG_SCRIPT.search(raw_text):
        raise _refuse("SVG with scripts or event handlers is not accepted.")
    if SVG_ENTITY.search(raw_text):
        raise _refuse("SVG with entity declarations is not accepted (entity expansion).")
    if SVG_EXTERNAL.search(raw_text):
        raise _refuse("SVG that references external resources is not accepted.")
    if STYLESHEET.search(raw_text):
        raise _refuse("SVG with a style sheet processing instruction is not accepted.")
    # <use> that clones <use> multiplies like an entity bomb ("billion laughs" with xlink).
    if len(SVG_USE.findall(raw_text)) > limits.max_svg_uses:
        raise _refuse("SVG with this many <use> references is not accepted (reference expansion).")
    _check_parsed(parse_text, limits)


def _local(name: str) -> str:
    return name.rpartition("}")[2].lower()


def _check_parsed(text: str, limits: Limits) -> None:
    uses = 0
    parents: list = []
    try:
        # A text source: the parser takes it as it is and ignores the encoding it declares.
        for event, element in iterparse(io.StringIO(text), events=("start", "end", "pi"), forbid_dtd=False):
            if event == "pi":
                if element.text and element.text.lstrip().lower().startswith("xml-stylesheet"):
                    raise _refuse("SVG with a style sheet processing instruction is not accepted.")
                continue
            if event == "end":
                parents.pop()
                if parents:
                    parents[-1].remove(element)  # checked: only the open elements are kept
                continue
            parents.append(element)
            _check_element(element)
            uses += _local(element.tag) == "use"
            if uses > limits.max_svg_uses:
                raise _refuse("SVG with this many <use> references is not accepted (reference expansion).")
    except DefusedXmlException:
        raise _refuse("SVG with entity declarations is not accepted (entity expansion).") from None
    except SyntaxError:  # ParseError
        raise _refuse("This SVG is not well-formed XML, so it cannot be checked.") from None


def _check_element(element) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if _local(tag) in ACTIVE_ELEMENTS:
        raise _refuse("SVG with scripts or embedded content is not accepted.")
    if tag.startswith("{" + XHTML_NAMESPACE + "}"):
        raise _refuse("SVG with HTML elements in it is not accepted; they could run scripts in a browser.")
    for name, value in element.attrib.items():
        local = _local(name)
        if local.startswith("on"):
            raise _refuse("SVG with scripts or event handlers is not accepted.")
        url = URL_NOISE.sub("", value).lower()
        if ACTIVE_URL.search(url):
            raise _refuse("SVG with scripts or event handlers is not accepted.")
        if local == "href" and not url.startswith("#"):
            raise _refuse("SVG that references external resources is not accepted.")
