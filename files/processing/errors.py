from __future__ import annotations


class ProcessingError(Exception):
    """A file that cannot be processed, with a stable code and a reason a person can read.

    Raised for broken or hostile input; the caller marks the file `failed` and does not retry.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ContentRefused(Exception):
    """Bytes of a kind that is not accepted at all (a program, a web page, an unsafe SVG, a
    type off the allowed list), with a reason a person can read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LabelsUnavailable(Exception):
    """The label classifier cannot be loaded or built; the message says why."""


class OcrUnavailable(Exception):
    """The OCR engine cannot be loaded; the message says why. Like labels, OCR is an extra:
    a file is never failed for it."""
