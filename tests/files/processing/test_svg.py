"""SVG is accepted only when it is passive, whatever namespace prefixes or character
references its markup hides behind."""

from __future__ import annotations

import io

import pytest

from files.models import File
from files.services.processing import upload_sniff
from mediaportal.exceptions import UnsupportedMediaType
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
XHTML = "http://www.w3.org/1999/xhtml"


def svg(body: str, *, namespaces: str = "") -> bytes:
    return f'<svg xmlns="{SVG}" xmlns:xlink="{XLINK}" {namespaces}>{body}</svg>'.encode()


ACTIVE = {
    "svg: prefix on script": f'<svg:svg xmlns:svg="{SVG}"><svg:script>alert(1)</svg:script></svg:svg>'.encode(),
    "any prefix bound to SVG": svg("<x:script>alert(1)</x:script>", namespaces=f'xmlns:x="{SVG}"'),
    "XHTML script": svg("<html:script>alert(1)</html:script>", namespaces=f'xmlns:html="{XHTML}"'),
    "XHTML iframe": svg('<h:iframe src="/x"/>', namespaces=f'xmlns:h="{XHTML}"'),
    "XHTML element of any name": svg("<h:div>hi</h:div>", namespaces=f'xmlns:h="{XHTML}"'),
    "prefixed foreignObject": svg("<s:foreignObject/>", namespaces=f'xmlns:s="{SVG}"'),
    "script in a foreign namespace": svg("<f:script>alert(1)</f:script>", namespaces='xmlns:f="urn:x"'),
    "SVG Tiny handler": svg('<handler type="application/ecmascript">alert(1)</handler>'),
    "javascript link": svg('<a xlink:href="javascript:alert(1)"><rect width="1" height="1"/></a>'),
    "javascript link as a reference": svg('<a xlink:href="&#106;avascript:alert(1)"><rect/></a>'),
    "javascript link with a tab": svg('<a href="java&#9;script:alert(1)"><rect/></a>'),
    "animated javascript link": svg('<a><set attributeName="href" to="&#106;avascript:alert(1)"/><rect/></a>'),
    "event handler with a prefix": svg('<rect x:onclick="alert(1)" width="1"/>', namespaces='xmlns:x="urn:x"'),
    "XSLT style sheet": b'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="#s"?>' + svg("<rect/>"),
    "prefixed use bomb": svg(
        '<s:rect id="a" width="1"/>' + '<s:use xlink:href="#a"/>' * 40, namespaces=f'xmlns:s="{SVG}"'
    ),
    "not well-formed": svg("<rect><circle></rect>"),
}

PASSIVE = {
    "prefixed elements": f'<s:svg xmlns:s="{SVG}"><s:rect width="1" height="1"/></s:svg>'.encode(),
    "doctype without a subset": (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + svg('<rect id="r"/><use xlink:href="#r"/>')
    ),
    "text with a character reference": svg("<text>caf&#233; &amp; more</text>"),
    "declared encoding": (
        b'<?xml version="1.0" encoding="windows-1252"?>'
        + f'<svg xmlns="{SVG}"><text>caf\xe9</text></svg>'.encode("cp1252")
    ),
}


@pytest.mark.parametrize("data", ACTIVE.values(), ids=ACTIVE.keys())
def test_active_svg_is_refused(editor, tenant, data):
    with pytest.raises(UnsupportedMediaType):
        upload_sniff(file=io.BytesIO(data), name="logo.svg")
    response = upload(editor, tenant, "logo.svg", data)
    assert response.status_code == 415, response.content
    assert response.json()["code"] == "unsupported_media_type"
    assert not File.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize("data", PASSIVE.values(), ids=PASSIVE.keys())
def test_passive_svg_is_accepted(data):
    assert upload_sniff(file=io.BytesIO(data), name="logo.svg").content_type == "image/svg+xml"
