"""Template tags of the upload control (templates/files/_upload.html)."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def upload_multipart_threshold() -> int:
    """Files above this many bytes go to S3 as resumable multipart uploads."""
    return settings.UPLOAD_MULTIPART_THRESHOLD_BYTES
