from django.apps import AppConfig
from django.core.signals import setting_changed


def _reset_s3_clients(*, setting: str, **kwargs) -> None:
    if setting.startswith("S3_"):
        from files.storage import s3_client

        s3_client.cache_clear()


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from files import checks  # noqa: F401 - registers the system checks

        # Clients are cached per process; a changed endpoint (tests, reconfiguration) needs new ones.
        setting_changed.connect(_reset_s3_clients, dispatch_uid="files.reset_s3_clients")
