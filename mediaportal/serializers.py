"""The base of every input serializer: JSON values must be what the schema says they are.

DRF coerces for convenience: 0 becomes "0" for a string field, "5" becomes 5 for an integer,
5 becomes a UUID, "yes" becomes true; and it measures a string's length after trimming it. The
OpenAPI document promises clients exact types and lengths, and an API that takes what it
documents as invalid hides their bugs; so JSON bodies get types and lengths checked first.
Form bodies (uploads, the browsable API) carry only strings and keep DRF's parsing.
"""

from __future__ import annotations

from rest_framework import serializers

# The JSON types each field takes, most specific field first (BooleanField is not an
# IntegerField, but bool is an int in Python, hence the explicit check below).
_JSON_TYPES: list[tuple[type[serializers.Field], tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "Must be a valid boolean."),
    (serializers.IntegerField, (int,), "A valid integer is required."),
    (serializers.FloatField, (int, float), "A valid number is required."),
    (serializers.ChoiceField, (str,), "Not a valid choice."),
    (serializers.CharField, (str,), "Not a valid string."),  # also e-mail and regex fields
    (serializers.UUIDField, (str,), "Must be a valid UUID."),
    (serializers.DateTimeField, (str,), "Datetime has wrong format."),
    (serializers.ListField, (list,), "Expected a list of items."),
]


def _json_error(field: serializers.Field, value) -> str | list | None:
    """The messages for a JSON value of the wrong type or length for `field`, or None."""
    if value is None:
        return None  # the field's own allow_null decides
    for kind, types, message in _JSON_TYPES:
        if isinstance(field, kind):
            wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            if wrong:
                return [message]
            if isinstance(field, serializers.ListField):
                items = {str(i): error for i, item in enumerate(value) if (error := _json_error(field.child, item))}
                return items or None
            if isinstance(field, serializers.CharField) and field.max_length and len(value) > field.max_length:
                # Measured as sent, as the schema's maxLength is, not after DRF trims it.
                return [f"Ensure this field has no more than {field.max_length} characters."]
            return None
    return None


class Input(serializers.Serializer):
    # An input serializer whose JSON values are type-checked before DRF converts them.
    # (A comment: the schema would show a docstring on every input that inherits it.)

    def to_internal_value(self, data):
        if isinstance(data, dict) and not hasattr(data, "getlist"):  # JSON; forms arrive as a QueryDict
            errors = {
                name: error
                for name, field in self.fields.items()
                if not field.read_only and name in data and (error := _json_error(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors, code="invalid")
        return super().to_internal_value(data)
