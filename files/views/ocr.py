"""The "Recognised text" panel of the file page: OCR text with the searched words marked, and
their boxes over the preview picture.

The page loads the panel with htmx (`portal-file-ocr`) when the file's OCR summary says there
is text, as it loads its other panels: the page itself makes the same queries with or without
OCR. The panel's answer also fills the overlay's place in the preview (an out-of-band swap).

Arriving from a search (`?q=`), the words asked for are marked where the recognised text has
them. The text is escaped; only <mark> is markup (as in search highlights). Matching is by
word, case and accents aside, a word matching also as the start of a longer one
("warehouse" marks "warehouses"), which is close to what the search's stemming found.
"""

from __future__ import annotations

import re
import unicodedata

from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.portal import tenant_page
from files import selectors
from files.models import File
from files.services.files import searchable_pdf_url

WORD = re.compile(r"\w+")
# Pages shown on the file page; the API (`files/{id}/ocr/`) has them all.
PAGES_SHOWN = 10
# Shorter search words would mark half the page.
MIN_TERM = 2


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def search_terms(query: str) -> list[str]:
    """The words of a search query worth marking (not its `-excluded` ones)."""
    terms = []
    for token in query.split():
        if token.startswith("-"):
            continue
        terms += [_fold(word) for word in WORD.findall(token) if len(word) >= MIN_TERM]
    return terms


def _matches(word: str, terms: list[str]) -> bool:
    folded = _fold(word)
    return any(folded.startswith(term) or (len(folded) >= 4 and term.startswith(folded)) for term in terms)


def marked(text: str, terms: list[str]) -> SafeString:
    """`text` escaped, with the words that match `terms` in <mark>."""
    out, last = [], 0
    for match in WORD.finditer(text):
        if terms and _matches(match.group(), terms):
            out += [escape(text[last : match.start()]), "<mark>", escape(match.group()), "</mark>"]
            last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece of text above is escaped


def _overlay(page, terms: list[str]) -> dict:
    """The SVG over the picture, in the page's pixels: each line as transparent text (so it can
    be selected on the picture) and a box for each matching word."""
    lines, boxes = [], []
    for line in page.lines:
        xs, ys = [x for x, _y in line["box"]], [y for _x, y in line["box"]]
        left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
        height = (bottom - top) * page.height
        lines.append(
            {
                "text": line["text"],
                "x": round(left * page.width, 1),
                "y": round(bottom * page.height - height * 0.2, 1),
                "length": round((right - left) * page.width, 1),
                "size": round(height * 0.8, 1),
            }
        )
        for word in line.get("words") or ():
            if terms and _matches(word["text"], terms):
                x0, y0, x1, y1 = word["box"]
                boxes.append(
                    {
                        "x": round(x0 * page.width, 1),
                        "y": round(y0 * page.height, 1),
                        "width": round((x1 - x0) * page.width, 1),
                        "height": round((y1 - y0) * page.height, 1),
                    }
                )
    return {"width": page.width, "height": page.height, "lines": lines, "boxes": boxes}


def has_ocr_text(file: File) -> bool:
    """Whether OCR read text in the current version, from its summary (no query)."""
    summary = (file.metadata or {}).get("ocr")
    return file.status == "completed" and isinstance(summary, dict) and bool(summary.get("pages"))


@require_GET
@tenant_page
def file_ocr_panel(request, membership, file_id):
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    panel = ocr_panel(file, request.GET.get("q", "")[:200])
    if panel is not None and file.content_type == "application/pdf":
        panel["searchable_pdf"] = searchable_pdf_url(file=file)
    context = {"membership": membership, "file": file, "ocr": panel}
    return render(request, "files/file/_ocr.html", context)


def ocr_panel(file: File, query: str = "") -> dict | None:
    """What the panel shows, or None when OCR read no text in the file's current version."""
    if not has_ocr_text(file):
        return None
    summary = file.metadata["ocr"]
    pages = selectors.ocr_pages(file=file, limit=PAGES_SHOWN)
    if not pages:
        return None
    terms = search_terms(query)
    shown = [{"number": page.number, "lines": [marked(line["text"], terms) for line in page.lines]} for page in pages]
    return {
        "pages": shown,
        "multi_page": len(pages) > 1 or pages[0].number != 1,
        "more": summary.get("pages", len(pages)) > len(pages),
        "matches": sum("<mark>" in line for page in shown for line in page["lines"]),
        "query": query,
        "confidence": summary.get("confidence"),
        "engine": pages[0].engine,
        # The preview picture is the first page (a picture, a PDF's page 1).
        "overlay": _overlay(pages[0], terms) if pages[0].number == 1 else None,
    }
