"""`manage.py bootstrap`: on an empty installation, create the first admin and tenant."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from accounts.services.tenants import bootstrap_first_admin


class Command(BaseCommand):
    help = "Create the first admin user ('admin') and a first tenant when no user exists yet."

    def handle(self, *args, **options) -> None:
        given = os.environ.get("MEDIAPORTAL_ADMIN_PASSWORD") or None
        created = bootstrap_first_admin(password=given)
        if created is None:
            self.stdout.write(
                "  First login: admin (the password printed at the first start, or MEDIAPORTAL_ADMIN_PASSWORD)."
            )
            return
        user, tenant, password = created
        self.stdout.write(f"  Created user '{user.username}' and tenant '{tenant.slug}'.")
        if given:
            self.stdout.write("  First login: admin / the password in MEDIAPORTAL_ADMIN_PASSWORD")
        else:
            self.stdout.write(self.style.WARNING(f"  First login: admin / {password}   (shown only this once)"))
