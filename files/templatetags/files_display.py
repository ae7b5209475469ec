"""How a file without a picture is shown: its kind as a short label (PDF, TXT, DOCX), text
that every font has, where an emoji needs one the system may lack."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def file_kind(name: str) -> str:
    stem, dot, extension = (name or "").rpartition(".")
    if not dot or not stem or not extension.isalnum() or len(extension) > 5:
        return "FILE"
    return extension.upper()
