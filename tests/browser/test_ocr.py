"""OCR in a browser: a picture with text is found by a word in it, and its file page shows the
recognised text with that word marked, in the text and as a box over the picture."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_file_page import PROCESSED, _csp_errors, _owner_with
from tests.files.test_ocr import encoded, rendered


def test_search_finds_text_in_a_picture_and_the_file_page_marks_it(page, shot, tmp_path):
    picture = tmp_path / "invoice.png"
    picture.write_bytes(encoded(rendered(), "PNG"))
    tenant, (file,) = _owner_with(picture)
    csp = _csp_errors(page)
    log_in(page, "frida")
    page.goto(f"/t/{tenant.slug}/files/{file.pk}/")
    # Processed by the stack's worker; the page reloads when it is done.
    expect(page.get_by_role("heading", name="Text in the image")).to_be_visible(timeout=PROCESSED)

    page.goto(f"/t/{tenant.slug}/search/?q=Nordwind")
    result = page.locator("li.result").filter(has_text="invoice.png")
    expect(result.locator(".badge.ocr")).to_have_text("in the image")
    expect(result.locator("mark")).to_have_text("Nordwind")
    shot(page, "search")
    result.get_by_role("link", name="invoice.png").click()
    expect(page).to_have_url(re.compile(r"\?q=Nordwind$"))

    panel = page.get_by_role("region", name="Text in the image")
    expect(panel.locator("mark")).to_have_text("Nordwind")
    expect(panel).to_contain_text("The quick brown fox jumps over the lazy dog.")
    expect(panel).to_contain_text("1 line with “Nordwind”")
    box = page.locator("#ocr-overlay rect.ocr-match")
    expect(box).to_have_count(1)
    # The box sits over the word's place on the shown picture: left part, first line.
    image = page.get_by_role("img", name="Preview of invoice.png").bounding_box()
    mark = box.bounding_box()
    assert image["x"] < mark["x"] < image["x"] + image["width"] * 0.4
    assert image["y"] < mark["y"] < image["y"] + image["height"] * 0.3
    shot(page, "file-page")
    assert csp == []
