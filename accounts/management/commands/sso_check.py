"""`manage.py sso_check`: is single sign-on configured so that people can sign in?"""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services.sso import oidc_check


class Command(BaseCommand):
    help = (
        "Check the single sign-on providers configured by the environment: that the OpenID Connect "
        "provider answers, that the browser may be sent to it, and that the group mapping's teams exist."
    )

    def handle(self, *args, **options) -> None:
        providers = settings.SOCIALACCOUNT_PROVIDERS
        if not providers:
            self.stdout.write("No single sign-on provider is configured (OIDC_SERVER_URL, GITHUB_CLIENT_ID).")
            return
        failed = False
        form_action = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"]
        with get_adapter().get_requests_session() as session:
            for app in providers.get("openid_connect", {}).get("APPS", []):
                report = oidc_check(app=app, session=session, form_action=form_action)
                failed |= not report.ok
                self.stdout.write(f"{report.name}: {'ok' if report.ok else 'NOT OK'}")
                for line in report.notes:
                    self.stdout.write(f"  {line}")
                for line in report.problems:
                    self.stdout.write(self.style.ERROR(f"  {line}"))
        for app in providers.get("github", {}).get("APPS", []):
            github_ok = bool(app.get("client_id") and app.get("secret"))
            failed |= not github_ok
            self.stdout.write(f"GitHub: {'ok' if github_ok else 'NOT OK: GITHUB_CLIENT_SECRET is empty'}")
        if failed:
            raise CommandError("Single sign-on is not ready.")
