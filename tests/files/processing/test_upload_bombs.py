"""Containers checked at upload, in the web process: a few KiB read whatever they declare.

Each check runs under tracemalloc, which counts every allocation Python makes, the buffers
zlib, bz2 and lzma inflate into included.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from files.models import File
from files.services.processing import upload_sniff
from mediaportal.exceptions import UnsupportedMediaType
from tests.files.conftest import tenant_objects, upload
from tests.files.processing import hostile

pytestmark = pytest.mark.django_db

# What checking one upload may allocate: the 64 KiB head, the end of a ZIP, a few entries.
SNIFF_PEAK_BYTES = 1024**2
# Bombs of 16 MiB of zeros (a few KiB each, 370 bytes in bzip2): enough that reading one whole
# passes the bound many times over (the old check peaked at 40 MB on each).
ZEROS = 16 * hostile.MB


def _sniffed(path: Path) -> tuple[str, int]:
    """The type the upload check finds in the file (or "refused: ..."), and its peak allocation."""
    with path.open("rb") as file:
        upload_sniff(file=io.BytesIO(b"warm-up text"), name="w.txt")
        tracemalloc.start()
        try:
            outcome = upload_sniff(file=file, name=path.name).content_type
        except UnsupportedMediaType as exc:
            outcome = f"refused: {exc.detail}"
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return outcome, peak


@pytest.mark.parametrize("method", hostile.ZIP_METHODS)
def test_an_opendocument_mimetype_bomb_is_refused_reading_a_few_kib(tmp_path, method):
    # The ODF check reads the `mimetype` member: it must not inflate it, whatever the method.
    zeros = 2 * hostile.MB if method in ("stored", "unknown") else ZEROS
    outcome, peak = _sniffed(hostile.odf_bomb(tmp_path / "bomb.odt", method, zeros=zeros))
    assert peak < SNIFF_PEAK_BYTES, f"{peak:,} bytes allocated"
    assert outcome.startswith("refused: "), outcome
    expected = "not a document type" if method in ("stored", "deflate") else "compressed with a method"
    assert expected in outcome


@pytest.mark.parametrize("method", hostile.ZIP_METHODS)
def test_an_office_bomb_is_judged_by_its_directory_alone(tmp_path, method):
    outcome, peak = _sniffed(hostile.docx_bomb(tmp_path / "bomb.docx", method, zeros=ZEROS))
    assert peak < SNIFF_PEAK_BYTES, f"{peak:,} bytes allocated"
    if method in ("stored", "deflate"):
        # Nothing is inflated at upload; the worker reads the member within its budget (and
        # refuses this one as a bomb: test_hostile_uploads).
        assert outcome == hostile.DOCX
    else:
        assert outcome == "refused: Member [Content_Types].xml is compressed with a method documents never use."


def test_a_zip_directory_of_many_entries_is_refused_without_loading_it(tmp_path):
    # It declares 19,464 (the count wraps at 65,536): the entries are counted as they are walked.
    outcome, peak = _sniffed(hostile.zip_with_many_members(tmp_path / "many.docx", 85_000))
    assert peak < SNIFF_PEAK_BYTES, f"{peak:,} bytes allocated"
    assert outcome == "refused: The archive holds more than 20,000 members, more than any document has."


def test_an_ole_directory_is_walked_not_loaded(tmp_path):
    # 10 MiB of directory: olefile read it whole to answer which streams are at the top.
    outcome, peak = _sniffed(hostile.ole_with_huge_directory(tmp_path / "huge.doc", 2500))
    assert peak < SNIFF_PEAK_BYTES, f"{peak:,} bytes allocated"
    assert outcome == "application/msword"


@pytest.mark.parametrize("method", [0, 8], ids=["stored", "deflate"])
def test_a_real_opendocument_is_still_recognised(editor, tenant, tmp_path, method):
    path = hostile.odf(tmp_path / "minutes.odt", method=method)
    response = upload(editor, tenant, "minutes.odt", path.read_bytes())
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == hostile.ODT


@pytest.mark.parametrize("method", hostile.ZIP_METHODS)
def test_an_archive_bomb_upload_is_a_clear_415(editor, tenant, tmp_path, method):
    zeros = 64 * 1024 if method in ("stored", "unknown") else ZEROS
    data = hostile.odf_bomb(tmp_path / "bomb.odt", method, zeros=zeros).read_bytes()
    response = upload(editor, tenant, "bomb.odt", data)
    assert response.status_code == 415, response.content
    body = response.json()
    assert body["code"] == "unsupported_media_type" and body["detail"].endswith(".")
    assert not File.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []
