"""The dashboard's date range form: the same `from`, `to` and `interval` as `analytics/usage/`."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

DEFAULT_DAYS = 30
INTERVALS = [("day", "Day"), ("week", "Week")]


class UsageRangeForm(forms.Form):
    """`from` is a keyword, so the fields are declared by name rather than as attributes."""

    def __init__(self, data=None) -> None:
        start, end, interval = _default_period()
        super().__init__(data, initial={"from": start, "to": end, "interval": interval})
        date_input = forms.DateInput(attrs={"type": "date"})
        self.fields["from"] = forms.DateField(label="From", required=False, widget=date_input)
        self.fields["to"] = forms.DateField(label="To", required=False, widget=date_input)
        self.fields["interval"] = forms.ChoiceField(label="Interval", choices=INTERVALS, required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            self.add_error("to", "The end comes before the start.")
        return cleaned

    def period(self) -> tuple[date, date, str]:
        """The range asked for; the last 30 days by day when nothing (or nothing valid) was."""
        if not (self.is_bound and self.is_valid()):
            return _default_period()
        cleaned = self.cleaned_data
        end = cleaned.get("to") or timezone.localdate()
        start = cleaned.get("from") or end - timedelta(days=DEFAULT_DAYS - 1)
        return start, end, cleaned.get("interval") or "day"

    def query(self) -> str:
        """The range as the API's query string, for the CSV link."""
        start, end, interval = self.period()
        return f"from={start.isoformat()}&to={end.isoformat()}&interval={interval}"


def _default_period() -> tuple[date, date, str]:
    today = timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today, "day"
