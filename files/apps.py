from django.apps import AppConfig
from django.core.signals import setting_changed

from files import storage


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from files import checks  # noqa: F401 - registers the system checks; they import models, so not before now

        setting_changed.connect(storage.storages_reset, dispatch_uid="files.storages_reset")
