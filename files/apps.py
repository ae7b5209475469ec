from django.apps import AppConfig
from django.core.signals import setting_changed

from files import storage
from files.storage import failover


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from files import checks  # noqa: F401 - registers the system checks; they import models, so not before now

        setting_changed.connect(storage.storages_reset, dispatch_uid="files.storages_reset")
        setting_changed.connect(failover.failover_reset, dispatch_uid="files.failover_reset")
