"""The text OCR recognised in a file: `files/{id}/ocr/`, page by page."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from files import selectors
from files.api import serializers as s
from files.services.files import searchable_pdf_url
from mediaportal.exceptions import ValidationFailed
from mediaportal.openapi import errors as _errors


def _after(value: str | None) -> int:
    if value in (None, ""):
        return 0
    if not value.isdigit() or len(value) > 9:
        raise ValidationFailed("`after` is a page number: a whole number, 0 or more.", code="invalid_after")
    return int(value)


class FileOcrView(TenantScopedMixin, APIView):
    # A scanned page carries up to a few hundred lines with their words' boxes.
    page_size = 10

    @extend_schema(
        tags=["files"],
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0},
                description="Only pages after this page number (`next` carries it); from 0.",
            ),
        ],
        responses={200: s.FileOcrOutput, **_errors(400, 401, 404)},
        description=(
            "The text OCR recognised in the current version: its pages (those with text), each with its lines, "
            "their boxes and confidence, and the words' boxes; at most 10 pages an answer, `next` for more. "
            "Empty `results` when OCR found no text or did not run (the file's `ocr` says which). "
            "For a scanned PDF, `searchable_pdf` links to a copy with the text as an invisible layer."
        ),
    )
    def get(self, request, tenant_slug, file_id):
        after = _after(request.query_params.get("after"))
        file = selectors.file_get_for_actor(membership=self.membership, file_id=file_id, renditions=False)
        pages = selectors.ocr_pages(file=file, after=after, limit=self.page_size + 1)
        more, pages = len(pages) > self.page_size, pages[: self.page_size]
        next_url = None
        if more:
            next_url = request.build_absolute_uri(request.path) + "?" + urlencode({"after": pages[-1].number})
        body = {
            "file": file.pk,
            "version": file.current_version.number if file.current_version else 0,
            "engine": pages[0].engine if pages else (file.metadata or {}).get("ocr", {}).get("engine", ""),
            "page_count": selectors.ocr_page_count(file=file),
            "results": [
                {
                    "number": page.number,
                    "width": page.width,
                    "height": page.height,
                    "text": page.text,
                    "confidence": page.confidence,
                    "lines": page.lines,
                }
                for page in pages
            ],
            "next": next_url,
            "searchable_pdf": searchable_pdf_url(file=file),
        }
        return Response(s.FileOcrOutput(body).data)
