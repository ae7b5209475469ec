"""What the account pages share: a service's refusal shown next to the control it is about."""

from __future__ import annotations

from django import forms

from mediaportal.exceptions import ApplicationError


def refusal(form: forms.Form, exc: ApplicationError, fields: dict[str, str]) -> int:
    """Put the service's message on the form field its code is about (or on the whole form)
    and return the status the page answers with: the API's status for the same refusal."""
    form.add_error(fields.get(exc.code), exc.detail)
    return exc.status_code
