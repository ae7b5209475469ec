"""Request checks that apply to every view, before any of them runs."""

from __future__ import annotations

from django.http import JsonResponse

from mediaportal.views import bad_request, wants_json


class RejectNulMiddleware:
    """Refuses (400) a path or query string holding a NUL character.

    PostgreSQL text cannot store NUL, so a filter, search or cursor value holding one made the
    database driver raise (a 500) wherever a view passed it on, and no name, tag or id contains
    one. Bodies are checked where they are parsed: DRF's string fields refuse NUL.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            if not wants_json(request):
                return bad_request(request)
            # The code DRF gives a body string holding NUL.
            body = {"detail": "Text may not contain NUL characters.", "code": "null_characters_not_allowed"}
            return JsonResponse(body, status=400)
        return self.get_response(request)
