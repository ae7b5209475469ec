"""The test's way to set up users at the provider, as an administrator would in its console."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_application_model

from tests.oidc_provider.models import Profile


def _allowed(request) -> bool:
    return request.headers.get("Authorization") == f"Bearer {settings.IDP_CONTROL_TOKEN}"


@csrf_exempt
def user_set(request):
    """POST {"username", "password", "email", "email_verified", "groups"}: create or update."""
    if request.method != "POST" or not _allowed(request):
        return HttpResponse(status=403)
    data = json.loads(request.body)
    user, _ = User.objects.get_or_create(username=data["username"])
    user.email = data.get("email", "")
    user.set_password(data["password"])
    user.save()
    Profile.objects.update_or_create(user=user, defaults={"email_verified": bool(data.get("email_verified"))})
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in data.get("groups", [])])
    return JsonResponse({"sub": str(user.pk)})


@csrf_exempt
def redirect_uri_add(request):
    """POST {"uri"}: let the client return to one more address (a browser test's portal)."""
    if request.method != "POST" or not _allowed(request):
        return HttpResponse(status=403)
    app = get_application_model().objects.get()
    uris = app.redirect_uris.split()
    uris.append(json.loads(request.body)["uri"])
    app.redirect_uris = " ".join(dict.fromkeys(uris))
    app.save(update_fields=["redirect_uris"])
    return JsonResponse({"redirect_uris": app.redirect_uris.split()})
