from django.apps import AppConfig

from mediaportal.events import domain_event


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from analytics.services.webhooks import webhooks_on_event  # it imports models, so not before now

        domain_event.connect(webhooks_on_event, dispatch_uid="analytics.webhooks")
