from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the sign-in audit receivers; models are not ready when this module is imported.
        from accounts import receivers  # noqa: F401
