"""Portal pages of accounts: the home page (your teams); login and logout are Django's own views."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.selectors import membership_list_for_user


@login_required
def home(request):
    memberships = membership_list_for_user(user=request.user)
    return render(request, "home.html", {"memberships": memberships})
