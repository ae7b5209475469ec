from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A wrong OIDC_GROUP_ROLES stops every process at start (ImproperlyConfigured) rather
        # than hand out or take away team rights at the next sign-in; the sign-in audit
        # receivers connect. Models are not ready when this module is imported.
        from accounts import receivers  # noqa: F401, PLC0415
        from accounts.services.sso import group_roles  # noqa: PLC0415

        group_roles()
