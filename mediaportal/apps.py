from __future__ import annotations

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class MediaPortalConfig(AppConfig):
    name = "mediaportal"

    def ready(self) -> None:
        from mediaportal.schedules import install_after_migrate  # it imports models: not before the registry is ready

        # Sent once per migrate for the app whose tables hold the schedules (this package has no models,
        # and Django sends post_migrate only for apps that have them).
        post_migrate.connect(
            install_after_migrate,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="mediaportal.schedules.install_after_migrate",
        )
